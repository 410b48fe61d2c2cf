//! The JIT against the interpreter on generated programs, in both dialects.
//!
//! Every program of the testkit generator runs on both backends with the same memory,
//! budget and syscalls; the outcome (r0 or the error with every field, the instruction count,
//! the input bytes afterwards) must be equal. Tracing is switched off (a traced JIT run is
//! the interpreter's by construction), so the JIT's own code is what runs.
//!
//! `BPFVM_JIT_FUZZ=N` sets programs per dialect (default below), `BPFVM_JIT_FUZZ_SEED=S` the
//! first seed; the ignored test `jit_fuzz_millions` runs 1,000,000 per dialect by default.

// Needs the JIT: an x86-64 build with the `jit` feature.
#![cfg(all(feature = "jit", target_arch = "x86_64"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::jit::JitEngine;
use bpfvm::Backend;
use bpfvm_isa::Dialect;
use bpfvm_testkit::generator::generate;
use bpfvm_testkit::harness::{load_verified, run_verified};

/// Programs per dialect by default.
const DEFAULT_PROGRAMS: u64 = 10_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Runs `count` programs per dialect from `first`; returns (compared, failures).
fn fuzz(first: u64, count: u64) -> (u64, Vec<String>) {
    let mut failures = Vec::new();
    let mut compared = 0;
    // One engine for every compile, as a host compiling many programs keeps one.
    let engine = JitEngine::new();
    for dialect in [Dialect::Sbpf, Dialect::Ebpf] {
        for seed in first..first + count {
            let mut generated = generate(seed, dialect);
            generated.config.enable_instruction_tracing = false;
            let case = generated.case();
            let Ok(mut program) = load_verified(&case) else {
                continue;
            };
            if let Err(error) = program.jit_compile_with(&engine) {
                failures.push(format!("{dialect:?} seed {seed}: jit_compile: {error}"));
                continue;
            }
            let expected = run_verified(&program, &case, Backend::Interpreter);
            let jit = run_verified(&program, &case, Backend::Jit);
            compared += 1;
            let differences = jit.differences(&expected);
            if !differences.is_empty() && failures.len() < 20 {
                failures.push(format!(
                    "{dialect:?} seed {seed}: {}",
                    differences.join("; ")
                ));
            }
        }
    }
    (compared, failures)
}

fn check(first: u64, count: u64) {
    let (compared, failures) = fuzz(first, count);
    println!("jit fuzz: {compared} programs compared");
    assert!(compared > count, "too few programs verified: {compared}");
    assert!(
        failures.is_empty(),
        "JIT differs from the interpreter:\n{}",
        failures.join("\n")
    );
}

#[test]
fn jit_matches_interpreter_on_generated_programs() {
    let count = env_u64("BPFVM_JIT_FUZZ", DEFAULT_PROGRAMS);
    let first = env_u64("BPFVM_JIT_FUZZ_SEED", 0);
    check(first, count);
}

#[test]
#[ignore = "long: run with --ignored (and BPFVM_JIT_FUZZ=N)"]
fn jit_fuzz_millions() {
    let count = env_u64("BPFVM_JIT_FUZZ", 1_000_000);
    let first = env_u64("BPFVM_JIT_FUZZ_SEED", 1_000_000_000);
    check(first, count);
}
