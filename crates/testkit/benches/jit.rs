//! bpfvm's JIT against the reference's JIT (solana_rbpf 0.2.38 `jit_compile` +
//! `execute_program(false)`), side by side, on the same programs as `benches/interpreter.rs`
//! (reference §16): the empty for loop, address translation of the input and of the stack
//! (fixed and dynamic frames), and the call-depth chains (fixed and dynamic frames). Both
//! engines run the very same bytes and function registry; each run asserts the instruction
//! count of §16. After criterion's measurements, a direct timing prints the ratio reference
//! JIT time / bpfvm JIT time per program, and the compile time of each JIT. solana-sbpf 0.26's
//! JIT is the third column (`sbpf26`) of every program and compile time.
//!
//! Run: `cargo bench -p bpfvm-testkit --bench jit -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;
#[path = "../tests/reference26/mod.rs"]
mod reference26;

use bpfvm::jit::JitEngine;
use bpfvm::{verify, Backend, Executable as OurExecutable, Loader, TestContext, Vm};
use common::{bench_program, our_program, programs, reference_program, time, Engine};
use criterion::{criterion_group, criterion_main, Criterion};
use reference26::{load_verified, Case26, Program26};
use solana_rbpf::verifier::RequisiteVerifier;
use solana_rbpf::vm::{BuiltInProgram, Config, TestContextObject, VerifiedExecutable};
use std::sync::Arc;
use std::time::Instant;

/// Runs per second of one shared compiled program on 1, 2 and 4 threads (one VM each).
fn thread_scaling() {
    let programs = programs();
    let program = &programs[0];
    let reference = reference_program(program);
    let mut ours = our_program(program, &reference);
    ours.jit_compile().unwrap();
    let runs_per_thread = 2_000;
    for threads in [1, 2, 4] {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let ours = &ours;
                scope.spawn(move || {
                    let mut context = TestContext::default();
                    let mut heap: Vec<u8> = Vec::new();
                    let mut vm = Vm::new(ours, &mut context, &mut heap, Vec::new()).unwrap();
                    for _ in 0..runs_per_thread {
                        vm.context().remaining = program.instructions;
                        let run = vm.run(Backend::Jit);
                        assert_eq!(run.instruction_count, program.instructions);
                    }
                });
            }
        });
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "threads {threads}: {:.0} runs/s of {}",
            f64::from(threads * runs_per_thread) / elapsed,
            program.name
        );
    }
}

/// JIT compile time of ELF programs from the corpus: `jit_compile` alone, on every side,
/// after loading and verifying once (legacy configuration for both spl_token programs,
/// default for the reference's own test ELF; bpfvm's compiles share one `JitEngine`, as a
/// host's would); warm: each figure is the median of 15 compiles of the same program in
/// one process.
fn compile_elfs() {
    let Ok(corpus) = bpfvm_testkit::corpus::corpus_dir() else {
        println!("compile: corpus not found, skipped");
        return;
    };
    let legacy_reference = Config {
        dynamic_stack_frames: false,
        enable_sdiv: false,
        static_syscalls: false,
        reject_callx_r10: false,
        ..Config::default()
    };
    let files = [
        (
            corpus.join("solana_programs/spl_token-3.5.0.so"),
            legacy_reference,
            bpfvm::Config::legacy(),
        ),
        (
            corpus.join("solana_programs/spl_token_2022-1.0.0.so"),
            legacy_reference,
            bpfvm::Config::legacy(),
        ),
        (
            corpus.join("rbpf_elfs/pass_stack_reference.so"),
            Config::default(),
            bpfvm::Config::default(),
        ),
    ];
    for (path, reference_config, our_config) in files {
        let Ok(bytes) = std::fs::read(&path) else {
            println!("compile: cannot read {}", path.display());
            continue;
        };
        let loader = Arc::new(BuiltInProgram::new_loader(reference_config));
        let reference = solana_rbpf::elf::Executable::from_elf(&bytes, loader)
            .map_err(|e| format!("{e:?}"))
            .and_then(|executable| {
                VerifiedExecutable::<RequisiteVerifier, TestContextObject>::from_executable(
                    executable,
                )
                .map_err(|e| format!("{e:?}"))
            });
        let ours =
            OurExecutable::from_elf(&bytes, Arc::new(Loader::<TestContext>::new(our_config)))
                .map_err(|e| e.to_string())
                .and_then(|executable| verify(executable).map_err(|e| e.to_string()));
        let (Ok(mut reference), Ok(mut ours)) = (reference, ours) else {
            println!("compile: {} does not load on both sides", path.display());
            continue;
        };
        let reference_time = time(|| reference.jit_compile().unwrap());
        let engine = JitEngine::new();
        let our_time = time(|| ours.jit_compile_with(&engine).unwrap());
        let slots = ours.decoded().len() as f64;
        println!(
            "compile {}: {} slots, reference jit_compile {:?} ({:.1} ns/slot), bpfvm jit_compile {:?} ({:.1} ns/slot), ratio {:.2}x",
            path.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned()),
            slots,
            reference_time,
            reference_time.as_nanos() as f64 / slots,
            our_time,
            our_time.as_nanos() as f64 / slots,
            reference_time.as_secs_f64() / our_time.as_secs_f64()
        );
        compile_on_sbpf26(&path, &bytes, our_time, slots);
    }
}

/// The same ELF's `jit_compile` on solana-sbpf 0.26 (Agave's settings), after loading and
/// verifying once; 0.26 refuses the 0.2.38 test ELF (`e_flags` 0x20 is no version).
fn compile_on_sbpf26(
    path: &std::path::Path,
    bytes: &[u8],
    our_time: std::time::Duration,
    slots: f64,
) {
    let case = Case26::new(Program26::Elf(bytes));
    let name = path
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    match load_verified(&case) {
        Ok(executable) => {
            let sbpf26_time = time(|| executable.jit_compile().unwrap());
            println!(
                "compile {name} (0.26): sbpf26 jit_compile {sbpf26_time:?} ({:.1} ns/slot), sbpf26/bpfvm = {:.2}x",
                sbpf26_time.as_nanos() as f64 / slots,
                sbpf26_time.as_secs_f64() / our_time.as_secs_f64()
            );
        }
        Err(error) => println!("compile {name} (0.26): not loaded by 0.26: {error}"),
    }
}

fn jits(c: &mut Criterion) {
    compile_elfs();
    for program in &programs() {
        bench_program(c, program, Engine::Jit);
    }
    thread_scaling();
}

criterion_group!(benches, jits);
criterion_main!(benches);
