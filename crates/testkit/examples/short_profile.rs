//! Runs short invocations of production programs N times per engine, for callgrind and for
//! quick side-by-side timings: SPL Token's Transfer (`transfer`), production vector K (`K`)
//! or all 18 vectors (`vectors`), on bpfvm or solana-sbpf 0.26, as in
//! `benches/short_runs.rs`. Every invocation checks r0, the units and the logs.
//! `whole-stack ENGINES N` times the bench's worst case for reused memory instead (bpfvm's
//! memory, ENGINES `all` or `reused`, `fresh`, or both).
//!
//! Run: `target/release/examples/short_profile transfer|K|vectors ENGINES [N]` with ENGINES
//! `all` or a comma-separated list of `bpfvm-jit`, `bpfvm-interpreter` (the stack and heap
//! reused through a `VmMemory`, as the bench does), `bpfvm-jit-fresh`,
//! `bpfvm-interpreter-fresh` (plain `Vm::new` over freshly zeroed memory), `sbpf26-jit`,
//! `sbpf26-interpreter`; N (100 by default) invocations per engine and case, in 11 rounds
//! of batches that take turns between the engines. It prints the median time of one
//! invocation per engine (and the geometric mean over the cases). Under
//! `valgrind --tool=callgrind` with one engine, compare two N to take the loading out;
//! callgrind does not count the kernel's part, which the timings do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/reference26/mod.rs"]
mod reference26;
#[path = "../benches/short/mod.rs"]
mod short;

use bpfvm::Backend;
use bpfvm::VmMemory;
use bpfvm_testkit::sbpf26::Engine as Engine26;
use short::{
    invoke_26, invoke_ours, invoke_ours_fresh, transfer, vector_case, vectors, whole_stack_once,
    whole_stack_program, Case, Expected,
};

/// The engines, by name.
const ENGINES: [&str; 6] = [
    "bpfvm-jit",
    "bpfvm-interpreter",
    "bpfvm-jit-fresh",
    "bpfvm-interpreter-fresh",
    "sbpf26-jit",
    "sbpf26-interpreter",
];

/// One invocation of `case` on the engine named `engine`.
fn invoke(case: &Case, engine: &str) -> Expected {
    match engine {
        "bpfvm-jit" => invoke_ours(case, Backend::Jit),
        "bpfvm-interpreter" => invoke_ours(case, Backend::Interpreter),
        "bpfvm-jit-fresh" => invoke_ours_fresh(case, Backend::Jit),
        "bpfvm-interpreter-fresh" => invoke_ours_fresh(case, Backend::Interpreter),
        "sbpf26-jit" => invoke_26(case, Engine26::Jit),
        "sbpf26-interpreter" => invoke_26(case, Engine26::Interpreter),
        _ => panic!("unknown engine {engine}"),
    }
}

/// The median time in us of one invocation per engine, over 11 rounds of batches of
/// `runs / 11` invocations that take turns between the engines (so that a change in the
/// machine's load falls on all of them alike).
fn medians(case: &Case, expected: &Expected, engines: &[&str], runs: usize) -> Vec<f64> {
    let batch = (runs / 11).max(1);
    let mut times = vec![Vec::new(); engines.len()];
    for _ in 0..11 {
        for (engine, times) in engines.iter().zip(&mut times) {
            let start = std::time::Instant::now();
            for _ in 0..batch {
                assert_eq!(&invoke(case, engine), expected);
            }
            times.push(start.elapsed().as_secs_f64() * 1e6 / batch as f64);
        }
    }
    times
        .into_iter()
        .map(|mut times| {
            times.sort_by(f64::total_cmp);
            times[times.len() / 2]
        })
        .collect()
}

/// Times the whole-stack program (every stack and heap page written) on bpfvm, reused
/// memory against fresh memory, in alternating rounds.
fn whole_stack(runs: usize, engines: &str) {
    let program = whole_stack_program();
    let batch = (runs / 11).max(1);
    for backend in [Backend::Jit, Backend::Interpreter] {
        let mut memory = VmMemory::new();
        let mut times = [Vec::new(), Vec::new()];
        for _ in 0..11 {
            for (reuse, times) in [true, false].into_iter().zip(&mut times) {
                let name = if reuse { "reused" } else { "fresh" };
                if engines != "all" && !engines.split(',').any(|engine| engine == name) {
                    times.push(0.0);
                    continue;
                }
                let start = std::time::Instant::now();
                for _ in 0..batch {
                    whole_stack_once(&program, reuse.then_some(&mut memory), backend);
                }
                times.push(start.elapsed().as_secs_f64() * 1e6 / batch as f64);
            }
        }
        let [reused, fresh] = times.map(|mut times| {
            times.sort_by(f64::total_cmp);
            times[times.len() / 2]
        });
        println!("whole stack {backend:?}: median us per invocation: reused {reused:.2}, fresh {fresh:.2}");
    }
}

fn main() {
    let usage = "usage: short_profile transfer|K|vectors|whole-stack ENGINE[,ENGINE...]|all [N]";
    let mut args = std::env::args().skip(1);
    let which = args.next().expect(usage);
    let engine = args.next().expect(usage);
    let runs: usize = args.next().map_or(100, |n| n.parse().expect("a count"));
    let engines: Vec<&str> = match engine.as_str() {
        "all" => ENGINES.to_vec(),
        list => list.split(',').collect(),
    };
    if which == "whole-stack" {
        whole_stack(runs, &engine);
        return;
    }
    let dir = bpfvm_testkit::corpus::corpus_dir()
        .expect("the corpus")
        .join("solana_programs");
    let all = vectors(&dir);
    let cases: Vec<(Case, Expected)> = match which.as_str() {
        "transfer" => {
            let case = transfer(&dir).0;
            let expected = invoke_ours(&case, Backend::Interpreter);
            vec![(case, expected)]
        }
        "vectors" => (0..all.len())
            .map(|index| {
                let vector = &all[index];
                (vector_case(&dir, index, vector), vector.expected.clone())
            })
            .collect(),
        index => {
            let index: usize = index.parse().expect(usage);
            vec![(
                vector_case(&dir, index, &all[index]),
                all[index].expected.clone(),
            )]
        }
    };
    let mut logs = vec![0.0; engines.len()];
    for (case, expected) in &cases {
        let times = medians(case, expected, &engines, runs);
        let line: Vec<String> = engines
            .iter()
            .zip(&times)
            .map(|(engine, us)| format!("{engine} {us:.2}"))
            .collect();
        println!(
            "{}: median us per invocation: {}",
            case.name,
            line.join(", ")
        );
        for (log, us) in logs.iter_mut().zip(&times) {
            *log += us.ln();
        }
    }
    if cases.len() > 1 {
        let line: Vec<String> = engines
            .iter()
            .zip(&logs)
            .map(|(engine, log)| format!("{engine} {:.2}", (log / cases.len() as f64).exp()))
            .collect();
        println!(
            "geometric mean over {} cases: {}",
            cases.len(),
            line.join(", ")
        );
    }
}
