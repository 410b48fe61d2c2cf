//! bpfvm's JIT against the reference's JIT (solana_rbpf 0.2.38 `jit_compile` +
//! `execute_program(false)`), side by side, on the same programs as `benches/interpreter.rs`
//! (reference §16): the empty for loop, address translation of the input and of the stack
//! (fixed and dynamic frames), and the call-depth chains (fixed and dynamic frames). Both
//! engines run the very same bytes and function registry; each run asserts the instruction
//! count of §16. After criterion's measurements, a direct timing prints the ratio reference
//! JIT time / bpfvm JIT time per program, and the compile time of each JIT. solana-sbpf 0.26's
//! JIT is the third column (`sbpf26`) of every program and compile time. The `pqr_v2` group
//! runs an SBPF V2 loop of `uhmul64` and `udiv64` (register and immediate forms) on bpfvm's
//! JIT and interpreter and on 0.26's JIT: the PQR class runs inline in bpfvm's JIT (before,
//! its first PQR instruction handed the run to the interpreter).
//!
//! Run: `cargo bench -p bpfvm-testkit --bench jit -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;
#[path = "../tests/reference26/mod.rs"]
mod reference26;

use bpfvm::jit::JitEngine;
use bpfvm::{
    verify, Backend, Dialect, Executable as OurExecutable, FunctionRegistry, Loader, SbpfVersion,
    TestContext, Vm,
};
use bpfvm_testkit::sbpf26::rawgen::RawSlot;
use bpfvm_testkit::sbpf26::{Engine as Engine26, Version};
use common::{bench_program, our_program, programs, reference_program, time, Engine};
use criterion::{criterion_group, criterion_main, Criterion};
use reference26::run::Session;
use reference26::{keyed_text_executable, load_verified, loader, Case26, Program26};
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

/// Iterations of the PQR loop.
const PQR_ITERATIONS: i32 = 10_000;

/// The SBPF V2 text of the PQR loop: per iteration `uhmul64` by a register and by an
/// immediate (zero-extended), `udiv64` by an immediate and by a register, and five plain
/// instructions; r0 folds the results.
fn pqr_loop() -> Vec<u8> {
    let slots = [
        RawSlot::new(0xb7, 1, 0, 0, 0),
        RawSlot::new(0xb4, 6, 0, 0, 0x9e37_79b9_u32 as i32),
        RawSlot::new(0xf7, 6, 0, 0, 0x7f4a_7c15),
        RawSlot::new(0xb7, 0, 0, 0, 1),
        RawSlot::new(0xb7, 7, 0, 0, PQR_ITERATIONS),
        RawSlot::new(0xb7, 8, 0, 0, 3),
        // The loop: r2 = hi(hi(r0 * r6) * 0xffff_fff9); r0 += r2; r0 ^= r0 / 7 / r8; r0 += i.
        RawSlot::new(0xbf, 2, 0, 0, 0),
        RawSlot::new(0x3e, 2, 6, 0, 0),
        RawSlot::new(0x36, 2, 0, 0, -7),
        RawSlot::new(0x0f, 0, 2, 0, 0),
        RawSlot::new(0xbf, 3, 0, 0, 0),
        RawSlot::new(0x56, 3, 0, 0, 7),
        RawSlot::new(0x5e, 3, 8, 0, 0),
        RawSlot::new(0xaf, 0, 3, 0, 0),
        RawSlot::new(0x0f, 0, 1, 0, 0),
        RawSlot::new(0x07, 1, 0, 0, 1),
        RawSlot::new(0xad, 1, 7, -11, 0),
        RawSlot::new(0x95, 0, 0, 0, 0),
    ];
    slots.iter().flat_map(|slot| slot.bytes()).collect()
}

/// The PQR loop on bpfvm's JIT and interpreter (V2 profile, Agave's settings) and on 0.26's
/// JIT, every run checking r0 and the instruction count against bpfvm's interpreter.
fn pqr_v2(c: &mut Criterion) {
    let text = pqr_loop();
    let our_loader = Arc::new(Loader::new(bpfvm::Config::agave()));
    let dialect = Dialect::Sbpf26(SbpfVersion::V2);
    let executable =
        OurExecutable::from_text_bytes(&text, our_loader, dialect, FunctionRegistry::new())
            .unwrap();
    let mut ours = verify(executable).unwrap();
    ours.jit_compile().unwrap();
    assert!(ours.jit_program().unwrap().interpreted_slots().is_empty());
    let mut context = TestContext::default();
    let mut heap: Vec<u8> = Vec::new();
    let mut vm = Vm::new(&ours, &mut context, &mut heap, Vec::new()).unwrap();
    let budget = 1 << 40;
    vm.context().remaining = budget;
    let first = vm.run(Backend::Interpreter);
    let expected = (first.result.clone().unwrap(), first.instruction_count);
    let mut run_ours = |backend| {
        vm.context().remaining = budget;
        let run = vm.run(backend);
        assert_eq!((run.result.unwrap(), run.instruction_count), expected);
    };
    let settings = loader(&Case26::new(Program26::Elf(&[])));
    let theirs = keyed_text_executable(settings, &text, Version::V2, &[]).unwrap();
    theirs
        .verify::<solana_sbpf::verifier::RequisiteVerifier>()
        .unwrap();
    theirs.jit_compile().unwrap();
    let mut session = Session::new(&theirs, 0, &[]).unwrap();
    let mut runner = session.runner(&theirs);
    let mut run_theirs = || {
        let (count, result, _) = runner.run(Engine26::Jit, budget);
        assert!(
            matches!(result, solana_sbpf::error::ProgramResult::Ok(r0) if r0 == expected.0),
            "{result:?}"
        );
        assert_eq!(count, expected.1);
    };
    let mut group = c.benchmark_group("pqr_v2");
    group.bench_function("bpfvm_jit", |b| b.iter(|| run_ours(Backend::Jit)));
    group.bench_function("bpfvm_interpreter", |b| {
        b.iter(|| run_ours(Backend::Interpreter))
    });
    group.bench_function("sbpf26_jit", |b| b.iter(&mut run_theirs));
    group.finish();
    let jit = time(|| run_ours(Backend::Jit));
    let interpreter = time(|| run_ours(Backend::Interpreter));
    let sbpf26 = time(&mut run_theirs);
    println!(
        "pqr_v2: {} instructions; bpfvm jit {jit:?}, bpfvm interpreter {interpreter:?}, sbpf26 jit {sbpf26:?}; interpreter/jit = {:.2}x, sbpf26-jit/bpfvm-jit = {:.2}x",
        expected.1,
        interpreter.as_secs_f64() / jit.as_secs_f64(),
        sbpf26.as_secs_f64() / jit.as_secs_f64()
    );
}

fn jits(c: &mut Criterion) {
    pqr_v2(c);
    compile_elfs();
    for program in &programs() {
        bench_program(c, program, Engine::Jit);
    }
    thread_scaling();
}

criterion_group!(benches, jits);
criterion_main!(benches);
