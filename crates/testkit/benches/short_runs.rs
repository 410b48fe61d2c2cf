//! Short runs: the cost of one invocation of a production program, bpfvm against
//! solana-sbpf 0.26, side by side in one criterion run. One invocation is what a validator
//! pays per instruction once the program is loaded and compiled: fresh memory (the input
//! copied in, a zeroed 32 KiB heap, the stack the VM needs), the memory mapping, the VM, the
//! run, the result. Both VMs get the same input bytes and equivalent syscalls, run with
//! Agave's call depth (64 frames of 4 KiB), and every invocation asserts r0, the units
//! charged and the log lines.
//!
//! - **SPL Token Transfer** on spl_token-3.5.0 (alice sends 400 of her 1,000 tokens to bob,
//!   the authority signs): the input is laid out by bpfvm-solana's serializer (aligned, three
//!   accounts with their realloc room); bpfvm runs bpfvm-solana's whole syscall set with the
//!   runtime's costs, 0.26 `reference26::solana`'s equivalent (`SolanaSet::Runtime`). The
//!   line `bpfvm_invoke` adds, for information, bpfvm-solana's whole `invoke_in` over a
//!   kept `VmMemory` (the input laid out, the accounts read back, the log framed).
//! - **The 18 production vectors** of `vm-vectors.tsv` (130 to 13,495 instructions) in their
//!   recording harness (stub syscalls, nothing charged: `REFERENCE_VECTORS` on bpfvm,
//!   `SolanaSet::Vectors` on 0.26), each with the recorded r0, count and logs.
//!
//! - **The whole stack touched** (`short/whole stack`, bpfvm only): a program that writes a
//!   word into every 4 KiB page of a 64-frame stack and a 32 KiB heap, so that every page
//!   must be cleared before the next invocation: bpfvm's reused memory (`Vm::new_in`)
//!   against fresh zeroed memory (`Vm::new`), the worst case of the reuse.
//!
//! Where each harness gets its stack and heap (bench `short/mod.rs`): 0.26 zeroes fresh ones
//! per invocation, which costs what Agave's pool costs (it clears a stack and heap whole when
//! they go back); bpfvm's case keeps a `VmMemory` and makes each VM with `Vm::new_in`.
//!
//! Ratio lines give 0.26/bpfvm per invocation and engine, and the geometric mean over the
//! vectors.
//!
//! Run: `cargo bench -p bpfvm-testkit --bench short_runs -- --warm-up-time 1 --measurement-time 2`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/reference26/mod.rs"]
mod reference26;
mod short;

use bpfvm::{Backend, VmMemory};
use bpfvm_solana::{invoke_in, InvokeOptions};
use bpfvm_testkit::corpus::corpus_dir;
use bpfvm_testkit::sbpf26::Engine as Engine26;
use criterion::{criterion_group, criterion_main, Criterion};
use short::{
    invoke_26, invoke_ours, transfer, vector_case, vectors, whole_stack_once, whole_stack_program,
    Case, Expected,
};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// The median time of one call, over 31 batches of about 2 ms each.
fn time<F: FnMut()>(mut run: F) -> Duration {
    let start = Instant::now();
    run();
    let once = start.elapsed().max(Duration::from_nanos(100));
    let batch = u32::try_from(2_000_000 / once.as_nanos()).map_or(u32::MAX, |n| n.max(1));
    let mut samples: Vec<Duration> = (0..31)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                run();
            }
            start.elapsed() / batch
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// The direct timings of one case: bpfvm JIT, bpfvm interpreter, 0.26 JIT, 0.26 interpreter.
type Times = [Duration; 4];

/// Benchmarks one case on both engines of both VMs (after checking they agree with
/// `expected`) and returns the direct timings.
fn bench_case(c: &mut Criterion, case: &Case, expected: &Expected) -> Times {
    let columns: [(&str, &dyn Fn() -> Expected); 4] = [
        ("bpfvm_jit", &|| invoke_ours(case, Backend::Jit)),
        ("bpfvm_interpreter", &|| {
            invoke_ours(case, Backend::Interpreter)
        }),
        ("sbpf26_jit", &|| invoke_26(case, Engine26::Jit)),
        ("sbpf26_interpreter", &|| {
            invoke_26(case, Engine26::Interpreter)
        }),
    ];
    for (column, run) in columns {
        assert_eq!(&run(), expected, "{} {column}", case.name);
    }
    let mut group = c.benchmark_group(format!("short/{}", case.name));
    for (column, run) in columns {
        group.bench_function(column, |b| b.iter(|| black_box(run())));
    }
    group.finish();
    columns.map(|(_, run)| {
        time(|| {
            black_box(run());
        })
    })
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn print_ratio(name: &str, units: u64, times: &Times) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "short {name}: {units} units; bpfvm jit {:.2} us, interpreter {:.2} us; 0.26 jit {:.2} us, interpreter {:.2} us; 0.26/bpfvm = {:.2}x (jit), {:.2}x (interpreter)",
        us(times[0]),
        us(times[1]),
        us(times[2]),
        us(times[3]),
        ratio(times[2], times[0]),
        ratio(times[3], times[1]),
    );
}

/// Benchmarks the Transfer, plus bpfvm-solana's whole `invoke` of it.
fn bench_transfer(c: &mut Criterion, dir: &Path) {
    let (case, instruction, states) = transfer(dir);
    let expected = invoke_ours(&case, Backend::Interpreter);
    assert_eq!(expected.r0, 0, "{:?}", expected.logs);
    assert_eq!(expected.logs, ["Program log: Instruction: Transfer"]);
    let times = bench_case(c, &case, &expected);
    print_ratio(&case.name, expected.units, &times);
    let options = InvokeOptions {
        backend: Backend::Jit,
        ..InvokeOptions::default()
    };
    let mut memory = VmMemory::new();
    let mut whole = || {
        let outcome = invoke_in(&case.ours, &instruction, &states, &options, &mut memory).unwrap();
        assert_eq!(outcome.result, Ok(()));
        black_box(outcome);
    };
    c.bench_function("short/spl_token-3.5.0 Transfer/bpfvm_invoke", |b| {
        b.iter(&mut whole)
    });
    println!(
        "short {} (bpfvm-solana invoke_in, JIT: input laid out, run, accounts read back, log framed): {:.2} us",
        case.name,
        time(whole).as_secs_f64() * 1e6
    );
}

/// Benchmarks every vector and prints the geometric means.
fn bench_vectors(c: &mut Criterion, dir: &Path) {
    let vectors = vectors(dir);
    assert_eq!(vectors.len(), 18);
    let mut ratios = Vec::new();
    for (index, vector) in vectors.iter().enumerate() {
        let case = vector_case(dir, index, vector);
        let times = bench_case(c, &case, &vector.expected);
        print_ratio(&case.name, vector.expected.units, &times);
        ratios.push([ratio(times[2], times[0]), ratio(times[3], times[1])]);
    }
    let geomean = |column: usize| {
        let sum: f64 = ratios.iter().map(|r| r[column].ln()).sum();
        (sum / ratios.len() as f64).exp()
    };
    println!(
        "short vectors: geomean 0.26/bpfvm over {} vectors = {:.2}x (jit), {:.2}x (interpreter); lowest {:.2}x (jit)",
        ratios.len(),
        geomean(0),
        geomean(1),
        ratios.iter().map(|r| r[0]).fold(f64::INFINITY, f64::min)
    );
}

/// Benchmarks the worst case of reused memory: every page touched.
fn bench_whole_stack(c: &mut Criterion) {
    let program = whole_stack_program();
    let mut group = c.benchmark_group("short/whole stack");
    let mut times = Vec::new();
    for (name, backend) in [("jit", Backend::Jit), ("interpreter", Backend::Interpreter)] {
        let mut memory = VmMemory::new();
        let mut reused = || whole_stack_once(&program, Some(&mut memory), backend);
        group.bench_function(format!("bpfvm_{name}"), |b| b.iter(&mut reused));
        let reused = time(reused);
        let fresh = || whole_stack_once(&program, None, backend);
        group.bench_function(format!("bpfvm_{name}_fresh"), |b| b.iter(fresh));
        times.push((name, reused, time(fresh)));
    }
    group.finish();
    for (name, reused, fresh) in times {
        println!(
            "short whole stack ({name}): reused memory {:.2} us, fresh memory {:.2} us; fresh/reused = {:.2}x",
            reused.as_secs_f64() * 1e6,
            fresh.as_secs_f64() * 1e6,
            ratio(fresh, reused)
        );
    }
}

fn short_runs(c: &mut Criterion) {
    let dir = corpus_dir()
        .expect("the corpus at ../shared/corpus")
        .join("solana_programs");
    bench_transfer(c, &dir);
    bench_vectors(c, &dir);
    bench_whole_stack(c);
}

criterion_group!(benches, short_runs);
criterion_main!(benches);
