//! Soak: long runs of syscall-heavy and log-heavy programs on both backends, each the shape of
//! a reproducer of issue 16 (str_cmp over 16 MiB, sol_memmove_ over 16 MiB, sol_log_ of 64 KiB
//! and of short lines) under a Solana-sized budget. Every run must end with the named budget
//! error having spent exactly its budget, both backends must agree, the work done (syscall
//! units) must be proportional to the budget (checked on counts, not on clocks), the kept log
//! must stay under the cap, and the process's peak memory (VmHWM) must stay under a fixed
//! bound. This file holds one test, so the peak is this test's own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::syscalls::{
    register_demo_syscalls, LogCap, SolanaContext, SyscallError, LOG_BYTES_LIMIT,
};
use bpfvm::{
    verify, Backend, Config, Executable, Loader, MemoryRegion, SyscallRegistry, Vm, MM_INPUT_START,
};
use bpfvm_isa::Dialect;
use bpfvm_solana::syscalls::register_syscalls;
use std::sync::Arc;

const MIB: usize = 1 << 20;
/// The peak memory the whole soak may reach: the inputs are 16 MiB, so a few copies of them
/// and the program fit; an unbounded log or a per-call leak would not.
const PEAK_LIMIT_KIB: u64 = 128 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Set {
    Demo,
    Solana,
}

struct Soak {
    name: &'static str,
    source: &'static str,
    set: Set,
    input: fn() -> Vec<u8>,
    /// The units one syscall of the loop costs.
    per_call: u64,
}

fn soaks() -> Vec<Soak> {
    vec![
        Soak {
            name: "str_cmp over 16 MiB",
            source: "mov64 r6, r1\nloop:\nmov64 r1, r6\nmov64 r2, r6\nsyscall str_cmp\nja loop\n",
            set: Set::Demo,
            input: || {
                let mut input = vec![b'a'; 16 * MIB];
                input[16 * MIB - 1] = 0;
                input
            },
            // 16 Mi positions, two bytes each, 250 bytes per unit.
            per_call: (2 * 16 * MIB as u64) / 250,
        },
        Soak {
            name: "sol_memmove_ over 16 MiB",
            source: "mov64 r6, r1\nloop:\nmov64 r1, r6\nmov64 r2, r6\nadd64 r2, 8\nmov64 r3, 16777208\nsyscall sol_memmove_\nja loop\n",
            set: Set::Solana,
            input: || vec![7u8; 16 * MIB],
            per_call: (16 * MIB as u64 - 8) / 250,
        },
        Soak {
            name: "sol_log_ of 64 KiB",
            source: "mov64 r6, r1\nloop:\nmov64 r1, r6\nmov64 r2, 65536\nsyscall sol_log_\nja loop\n",
            set: Set::Solana,
            input: || vec![b'x'; 64 * 1024],
            per_call: 65_536,
        },
        Soak {
            name: "sol_log_ of 100 bytes",
            source: "mov64 r6, r1\nloop:\nmov64 r1, r6\nmov64 r2, 100\nsyscall sol_log_\nja loop\n",
            set: Set::Solana,
            input: || vec![b'y'; 64 * 1024],
            per_call: 100,
        },
    ]
}

struct Finished {
    error: Option<SyscallError>,
    count: u64,
    syscall_units: u64,
    remaining: u64,
    logs: Vec<String>,
}

fn run(soak: &Soak, backend: Backend, budget: u64) -> Finished {
    let mut registry = SyscallRegistry::new();
    match soak.set {
        Set::Demo => register_demo_syscalls(&mut registry).unwrap(),
        Set::Solana => register_syscalls(&mut registry).unwrap(),
    }
    let assembled = bpfvm_asm::assemble(soak.source, Dialect::Sbpf).unwrap();
    let loader = Arc::new(Loader::with_syscalls(Config::default(), registry));
    let executable = Executable::from_raw_program(&assembled.bytes, loader, Dialect::Sbpf).unwrap();
    let mut program = verify(executable).unwrap();
    if backend == Backend::Jit {
        program.jit_compile().unwrap();
    }
    let mut context = SolanaContext::new(budget, 0);
    context.log_cap = LogCap::default();
    let mut input = (soak.input)();
    let run = {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let mut vm = Vm::new(&program, &mut context, &mut [], regions).unwrap();
        vm.run(backend)
    };
    assert!(
        run.result.is_err(),
        "{}: the loop must end with an error",
        soak.name
    );
    Finished {
        error: context.state.failure.clone(),
        count: run.instruction_count,
        syscall_units: context.state.syscall_units,
        remaining: context.remaining,
        logs: context.logs,
    }
}

fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn syscall_and_log_heavy_loops_stay_within_budget_and_memory() {
    const BUDGET: u64 = 1_400_000;
    for soak in soaks() {
        let mut per_backend = Vec::new();
        for backend in [Backend::Interpreter, Backend::Jit] {
            let small = run(&soak, backend, BUDGET);
            let large = run(&soak, backend, 4 * BUDGET);
            for (finished, budget) in [(&small, BUDGET), (&large, 4 * BUDGET)] {
                let context = format!("{} {backend:?} budget {budget}", soak.name);
                // The named budget error, with the whole budget spent.
                assert!(
                    matches!(
                        finished.error,
                        Some(SyscallError::ComputeBudgetExceeded { .. })
                    ),
                    "{context}: {:?}",
                    finished.error
                );
                assert_eq!(
                    (finished.remaining, finished.count),
                    (0, budget),
                    "{context}"
                );
                // The budget went to the syscalls' work, less the loop's few instructions (at
                // most 8 per call) and one partly paid call.
                let paid = budget * soak.per_call / (soak.per_call + 8) - soak.per_call;
                assert!(finished.syscall_units >= paid, "{context}");
                let kept: usize = finished.logs.iter().map(String::len).sum();
                assert!(
                    kept <= LOG_BYTES_LIMIT + "Log truncated".len(),
                    "{context}: {kept}"
                );
            }
            // Four times the budget buys four times the work, within one call.
            let (one, four) = (small.syscall_units, large.syscall_units);
            assert!(
                four.abs_diff(4 * one) <= 4 * soak.per_call,
                "{}: {one} vs {four}",
                soak.name
            );
            per_backend.push((small.error, small.count, small.syscall_units, small.logs));
        }
        assert!(
            per_backend[0] == per_backend[1],
            "{}: backends differ",
            soak.name
        );
    }
    let peak = peak_kib();
    eprintln!("soak: peak memory {peak} KiB (limit {PEAK_LIMIT_KIB} KiB)");
    assert!(peak < PEAK_LIMIT_KIB, "peak memory {peak} KiB");
}
