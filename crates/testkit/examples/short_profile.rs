//! Runs one short invocation N times on one engine, for callgrind: SPL Token's Transfer
//! (`transfer`) or production vector K (`vector K`), each invocation on fresh memory as in
//! `benches/short_runs.rs`, on bpfvm or solana-sbpf 0.26. Every invocation checks r0, the
//! units and the logs.
//!
//! Run: `valgrind --tool=callgrind target/release/examples/short_profile transfer|K ENGINE [N]`
//! with ENGINE one of `bpfvm-jit`, `bpfvm-interpreter` (the stack and heap reused through a
//! `VmMemory`), `bpfvm-jit-fresh`, `bpfvm-interpreter-fresh` (plain `Vm::new` over fresh
//! zeroed memory), `sbpf26-jit`, `sbpf26-interpreter` (N defaults to 100; compare two N to
//! take the loading out). It prints the median time of one invocation
//! (over batches): run without valgrind, it counts the kernel's part that callgrind does not
//! see.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/reference26/mod.rs"]
mod reference26;
#[path = "../benches/short/mod.rs"]
mod short;

use bpfvm::Backend;
use bpfvm_testkit::sbpf26::Engine as Engine26;
use short::{
    invoke_26, invoke_ours, invoke_ours_fresh, transfer, vector_case, vectors, Case, Expected,
};

fn main() {
    let usage = "usage: short_profile transfer|K bpfvm-jit|bpfvm-interpreter|bpfvm-jit-fresh|bpfvm-interpreter-fresh|sbpf26-jit|sbpf26-interpreter [N]";
    let mut args = std::env::args().skip(1);
    let which = args.next().expect(usage);
    let engine = args.next().expect(usage);
    let runs: usize = args.next().map_or(100, |n| n.parse().expect("a count"));
    let dir = bpfvm_testkit::corpus::corpus_dir()
        .expect("the corpus")
        .join("solana_programs");
    let (case, expected): (Case, Option<Expected>) = if which == "transfer" {
        (transfer(&dir).0, None)
    } else {
        let index: usize = which.parse().expect(usage);
        let all = vectors(&dir);
        let vector = &all[index];
        (
            vector_case(&dir, index, vector),
            Some(vector.expected.clone()),
        )
    };
    let run = || match engine.as_str() {
        "bpfvm-jit" => invoke_ours(&case, Backend::Jit),
        "bpfvm-interpreter" => invoke_ours(&case, Backend::Interpreter),
        "bpfvm-jit-fresh" => invoke_ours_fresh(&case, Backend::Jit),
        "bpfvm-interpreter-fresh" => invoke_ours_fresh(&case, Backend::Interpreter),
        "sbpf26-jit" => invoke_26(&case, Engine26::Jit),
        "sbpf26-interpreter" => invoke_26(&case, Engine26::Interpreter),
        _ => panic!("{usage}"),
    };
    let expected = expected.unwrap_or_else(|| invoke_ours(&case, Backend::Interpreter));
    let batch = (runs / 11).max(1);
    let mut times: Vec<f64> = (0..runs.div_ceil(batch))
        .map(|_| {
            let start = std::time::Instant::now();
            for _ in 0..batch {
                assert_eq!(run(), expected);
            }
            start.elapsed().as_secs_f64() * 1e6 / batch as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{which} {engine}: median {:.2} us per invocation over {} batches of {batch}",
        times[times.len() / 2],
        times.len()
    );
}
