//! Load, verify, JIT compile and execute through the solana-sbpf 0.26 API, side by side:
//! the real crate (`sbpf-0.26`), the drop-in on bpfvm (`drop-in`), and bpfvm's own API on the
//! same bytes (`bpfvm`). The drop-in's cost over `bpfvm` is what the drop-in adds.
//!
//! Loading, verifying and compiling use SPL Token 3.5.0 (a V0 program, as deployed). Execution
//! runs two V0 loops (arithmetic, and loads and stores on the stack; about 300,000
//! instructions each) and a three-instruction program (the fixed cost of one call), each VM
//! made once and run repeatedly, as the real crate's own benchmarks do; and one SPL Token
//! Transfer per iteration, a real program's invocation with its syscalls (`transfer`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, unsafe_code)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::sync::Arc;

fn spl_token() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../../shared/corpus/solana_programs/spl_token-3.5.0.so"),
    )
    .expect("the corpus's SPL Token program")
}

sbpf_compat_bench::context!(RealContext, sbpf_real);
sbpf_compat_bench::context!(CompatContext, solana_sbpf);

/// bpfvm's own context.
type Direct = bpfvm::TestContext;

/// Agave's settings for the real crate: versions V0 to V3, rodata as linked, and the aligned
/// mapping (0.26's default is the unaligned one; Agave maps aligned until the feature that
/// maps account data directly is active). bpfvm's `Preset::Sbpf26` profiles are the same.
fn agave_config_real() -> sbpf_real::vm::Config {
    sbpf_real::vm::Config {
        enabled_sbpf_versions: sbpf_real::program::SBPFVersion::V0
            ..=sbpf_real::program::SBPFVersion::V3,
        optimize_rodata: false,
        aligned_memory_mapping: true,
        ..sbpf_real::vm::Config::default()
    }
}

fn agave_config_compat() -> solana_sbpf::vm::Config {
    solana_sbpf::vm::Config {
        enabled_sbpf_versions: solana_sbpf::program::SBPFVersion::V0
            ..=solana_sbpf::program::SBPFVersion::V3,
        optimize_rodata: false,
        aligned_memory_mapping: true,
        ..solana_sbpf::vm::Config::default()
    }
}

fn direct_loader() -> Arc<bpfvm::Loader<Direct>> {
    let mut config = bpfvm::Preset::Sbpf26(bpfvm::SbpfVersion::V0).config();
    config.optimize_rodata = false;
    Arc::new(bpfvm::Loader::new(config))
}

/// Loads SPL Token (its imports unregistered: `reject_broken_elfs` is off, as in Agave's
/// execution environment).
fn loading(c: &mut Criterion) {
    let elf = spl_token();
    let mut group = c.benchmark_group("load spl_token");
    let real = Arc::new(
        sbpf_real::program::BuiltinProgram::<RealContext>::new_loader(agave_config_real()),
    );
    group.bench_function("sbpf-0.26", |b| {
        b.iter(|| sbpf_real::elf::Executable::from_elf(&elf, real.clone()).unwrap())
    });
    let compat = Arc::new(
        solana_sbpf::program::BuiltinProgram::<CompatContext>::new_loader(agave_config_compat()),
    );
    group.bench_function("drop-in", |b| {
        b.iter(|| solana_sbpf::elf::Executable::from_elf(&elf, compat.clone()).unwrap())
    });
    let direct = direct_loader();
    let dialect = bpfvm::Dialect::Sbpf26(bpfvm::SbpfVersion::V0);
    group.bench_function("bpfvm", |b| {
        b.iter(|| bpfvm::elf::load_in(&elf, direct.clone(), dialect).unwrap())
    });
    group.finish();
}

/// Verifies SPL Token, each iteration on a freshly loaded executable.
fn verifying(c: &mut Criterion) {
    let elf = spl_token();
    let mut group = c.benchmark_group("verify spl_token");
    let real = Arc::new(
        sbpf_real::program::BuiltinProgram::<RealContext>::new_loader(agave_config_real()),
    );
    group.bench_function("sbpf-0.26", |b| {
        b.iter_batched(
            || sbpf_real::elf::Executable::from_elf(&elf, real.clone()).unwrap(),
            |executable| {
                executable
                    .verify::<sbpf_real::verifier::RequisiteVerifier>()
                    .unwrap();
                executable
            },
            BatchSize::SmallInput,
        )
    });
    let compat = Arc::new(
        solana_sbpf::program::BuiltinProgram::<CompatContext>::new_loader(agave_config_compat()),
    );
    group.bench_function("drop-in", |b| {
        b.iter_batched(
            || solana_sbpf::elf::Executable::from_elf(&elf, compat.clone()).unwrap(),
            |executable| {
                executable
                    .verify::<solana_sbpf::verifier::RequisiteVerifier>()
                    .unwrap();
                executable
            },
            BatchSize::SmallInput,
        )
    });
    let direct = direct_loader();
    let dialect = bpfvm::Dialect::Sbpf26(bpfvm::SbpfVersion::V0);
    group.bench_function("bpfvm", |b| {
        b.iter_batched(
            || bpfvm::elf::load_in(&elf, direct.clone(), dialect).unwrap(),
            |executable| bpfvm::verify(executable).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// JIT-compiles SPL Token (verified once, compiled every iteration).
fn compiling(c: &mut Criterion) {
    let elf = spl_token();
    let mut group = c.benchmark_group("jit_compile spl_token");
    let real = Arc::new(
        sbpf_real::program::BuiltinProgram::<RealContext>::new_loader(agave_config_real()),
    );
    let executable = sbpf_real::elf::Executable::from_elf(&elf, real).unwrap();
    executable
        .verify::<sbpf_real::verifier::RequisiteVerifier>()
        .unwrap();
    group.bench_function("sbpf-0.26", |b| {
        b.iter(|| executable.jit_compile().unwrap())
    });
    let compat = Arc::new(
        solana_sbpf::program::BuiltinProgram::<CompatContext>::new_loader(agave_config_compat()),
    );
    let executable = solana_sbpf::elf::Executable::from_elf(&elf, compat).unwrap();
    executable
        .verify::<solana_sbpf::verifier::RequisiteVerifier>()
        .unwrap();
    group.bench_function("drop-in", |b| b.iter(|| executable.jit_compile().unwrap()));
    let dialect = bpfvm::Dialect::Sbpf26(bpfvm::SbpfVersion::V0);
    let mut program =
        bpfvm::verify(bpfvm::elf::load_in(&elf, direct_loader(), dialect).unwrap()).unwrap();
    let engine = bpfvm::jit::JitEngine::new();
    group.bench_function("bpfvm", |b| {
        b.iter(|| program.jit_compile_with(&engine).unwrap())
    });
    group.finish();
}

/// The budget of every run: far above each program's count, as a Solana instruction's
/// budget (200,000 units) is above most programs' (a budget of exactly the count makes
/// bpfvm's JIT hand the last run of instructions to the interpreter, which is exact but
/// measures that hand-over instead of the run).
const BUDGET: u64 = 1_000_000;

/// The execution programs: name, source, instruction count.
const PROGRAMS: [(&str, &str, u64); 3] = [
    (
        "arithmetic loop",
        "mov64 r1, 100000\nmov64 r0, 0\nloop:\nadd64 r0, r1\nxor64 r0, 7\nsub64 r1, 1\njne r1, 0, loop\nexit",
        400_003,
    ),
    (
        "stack loop",
        "mov64 r1, 60000\nloop:\nstxdw [r10-8], r1\nldxdw r2, [r10-8]\nadd64 r0, r2\nsub64 r1, 1\njne r1, 0, loop\nexit",
        300_002,
    ),
    ("three instructions", sbpf_compat_bench::THREE_INSTRUCTIONS, 3),
];

fn execute_real(c: &mut Criterion, group: &str, source: &str, count: u64, jit: bool) {
    use sbpf_real::vm::ExecutionMode;
    // `assemble` builds for the newest enabled version: V0 only, as the stack region is
    // gapped and the direct column runs V0.
    let config = sbpf_real::vm::Config {
        enabled_sbpf_versions: sbpf_real::program::SBPFVersion::V0
            ..=sbpf_real::program::SBPFVersion::V0,
        ..agave_config_real()
    };
    let loader = Arc::new(sbpf_real::program::BuiltinProgram::<RealContext>::new_loader(config));
    let executable = sbpf_real::assembler::assemble(source, loader).unwrap();
    assert_eq!(
        executable.get_sbpf_version(),
        sbpf_real::program::SBPFVersion::V0
    );
    executable
        .verify::<sbpf_real::verifier::RequisiteVerifier>()
        .unwrap();
    if jit {
        executable.jit_compile().unwrap();
    }
    sbpf_compat_bench::vm_over_a_gapped_stack!(sbpf_real, RealContext, executable => vm, registers, frames);
    let mut group = c.benchmark_group(group);
    group.bench_function("sbpf-0.26", |b| {
        b.iter(|| {
            vm.registers = registers;
            vm.context().remaining = BUDGET;
            let mut mode = if jit {
                ExecutionMode::Jit
            } else {
                ExecutionMode::Interpreted
            };
            let (used, result) = vm.execute_program(&executable, &mut mode, &mut frames);
            assert!(result.is_ok(), "{result:?}");
            assert_eq!(used, count);
        })
    });
    group.finish();
}

fn execute_compat(c: &mut Criterion, group: &str, source: &str, count: u64, jit: bool) -> Vec<u8> {
    use solana_sbpf::vm::ExecutionMode;
    // `assemble` builds for the newest enabled version: V0 only, as the stack region is
    // gapped and the direct column runs V0.
    let config = solana_sbpf::vm::Config {
        enabled_sbpf_versions: solana_sbpf::program::SBPFVersion::V0
            ..=solana_sbpf::program::SBPFVersion::V0,
        ..agave_config_compat()
    };
    let loader =
        Arc::new(solana_sbpf::program::BuiltinProgram::<CompatContext>::new_loader(config));
    let executable = solana_sbpf::assembler::assemble(source, loader).unwrap();
    assert_eq!(
        executable.get_sbpf_version(),
        solana_sbpf::program::SBPFVersion::V0
    );
    executable
        .verify::<solana_sbpf::verifier::RequisiteVerifier>()
        .unwrap();
    if jit {
        executable.jit_compile().unwrap();
    }
    sbpf_compat_bench::vm_over_a_gapped_stack!(solana_sbpf, CompatContext, executable => vm, registers, frames);
    let mut group = c.benchmark_group(group);
    group.bench_function("drop-in", |b| {
        b.iter(|| {
            vm.registers = registers;
            vm.context().remaining = BUDGET;
            let mut mode = if jit {
                ExecutionMode::Jit
            } else {
                ExecutionMode::Interpreted
            };
            let (used, result) = vm.execute_program(&executable, &mut mode, &mut frames);
            assert!(result.is_ok(), "{result:?}");
            assert_eq!(used, count);
        })
    });
    group.finish();
    executable.get_text_bytes().1.to_vec()
}

fn execute_direct(c: &mut Criterion, group: &str, text: &[u8], count: u64, jit: bool) {
    let dialect = bpfvm::Dialect::Sbpf26(bpfvm::SbpfVersion::V0);
    // The same settings as the other two columns (Agave's, with the aligned mapping).
    let loader = Arc::new(bpfvm::Loader::<Direct>::new(
        bpfvm::Preset::Sbpf26(bpfvm::SbpfVersion::V0).config(),
    ));
    let executable =
        bpfvm::Executable::from_text_bytes(text, loader, dialect, bpfvm::FunctionRegistry::new())
            .unwrap();
    let mut program = bpfvm::verify(executable).unwrap();
    let backend = if jit {
        program.jit_compile().unwrap();
        bpfvm::Backend::Jit
    } else {
        bpfvm::Backend::Interpreter
    };
    let mut context = Direct::new(0);
    let mut heap = [0u8; 0];
    let mut vm = bpfvm::Vm::new(&program, &mut context, &mut heap, Vec::new()).unwrap();
    let mut group = c.benchmark_group(group);
    group.bench_function("bpfvm", |b| {
        b.iter(|| {
            vm.context().remaining = BUDGET;
            let run = vm.run(backend);
            assert!(run.result.is_ok(), "{:?}", run.result);
            assert_eq!(run.instruction_count, count);
        })
    });
    group.finish();
}

#[path = "api/transfer.rs"]
mod transfer;

/// SPL Token's Transfer on each column (see `transfer`); the three use the same units.
fn executing_transfer(c: &mut Criterion) {
    let case = transfer::transfer();
    for jit in [false, true] {
        let real = transfer::real(c, &case, jit);
        let compat = transfer::compat(c, &case, jit);
        let direct = transfer::direct(c, &case, jit);
        assert_eq!((compat, direct), (real, real), "units");
    }
}

fn executing(c: &mut Criterion) {
    for (name, source, count) in PROGRAMS {
        for jit in [false, true] {
            let group = format!(
                "execute {name} ({})",
                if jit { "jit" } else { "interpreter" }
            );
            execute_real(c, &group, source, count, jit);
            let text = execute_compat(c, &group, source, count, jit);
            execute_direct(c, &group, &text, count, jit);
        }
    }
}

criterion_group!(
    benches,
    loading,
    verifying,
    compiling,
    executing,
    executing_transfer
);
criterion_main!(benches);
