//! Repeats one operation of the API bench N times, for callgrind: loading, verifying or
//! JIT-compiling SPL Token, or one `execute_program` of the three-instruction program, through
//! the drop-in or bpfvm directly. Compare two N to take the set-up out:
//! `valgrind --tool=callgrind target/release/examples/api_profile WHAT N` with WHAT one of
//! `load-drop-in`, `load-bpfvm`, `verify-drop-in`, `verify-bpfvm`, `compile-drop-in`,
//! `compile-bpfvm`, `run-drop-in-jit`, `run-drop-in-interpreter`, `run-bpfvm-jit`,
//! `run-bpfvm-interpreter`, and `run-real-jit`, `run-real-interpreter` (the same run on
//! solana-sbpf 0.26.0 itself). A verify repeats load and verify (subtract the load's count);
//! a compile compiles one verified program again and again, as the criterion bench does.
//!
//! `api_profile time WHAT N` (WHAT one of the `run-*` or `compile-*`) times the calls instead,
//! for a loaded machine: N batches of 1,000 runs (or 10 compiles), each timed by the wall
//! clock, and prints the fastest batch and the median one per call (a batch that ran without
//! being preempted shows what a call costs; run the `run-*` or `compile-*` one after
//! another, in rounds, to compare them).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

sbpf_compat_bench::context!(CompatContext, solana_sbpf);
sbpf_compat_bench::context!(RealContext, sbpf_real);

/// A budget far above the three instructions (a Solana instruction gets 200,000 units).
const BUDGET: u64 = 1_000_000;

/// Calls per timed batch (`time`) of a run.
const BATCH: usize = 1_000;

/// Compiles per timed batch (`time`) of a compile (one takes about half a millisecond).
const COMPILES: usize = 10;

/// Whether the runs are counted (callgrind) or timed.
#[derive(Clone, Copy, PartialEq)]
enum Measure {
    Count,
    Time,
}

/// Calls `call` `n` times (`Count`), or `n` batches of `batch` calls, each timed, and prints
/// the fastest and the median batch per call (`Time`).
fn repeat(n: usize, measure: Measure, batch: usize, mut call: impl FnMut()) {
    if measure == Measure::Count {
        for _ in 0..n {
            call();
        }
        return;
    }
    let mut batches: Vec<f64> = (0..n)
        .map(|_| {
            let start = std::time::Instant::now();
            for _ in 0..batch {
                call();
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    println!(
        "fastest {:.2} ns, median {:.2} ns per call ({n} batches of {batch})",
        batches[0],
        batches[batches.len() / 2]
    );
}

fn compat_config() -> solana_sbpf::vm::Config {
    solana_sbpf::vm::Config {
        enabled_sbpf_versions: solana_sbpf::program::SBPFVersion::V0
            ..=solana_sbpf::program::SBPFVersion::V0,
        optimize_rodata: false,
        aligned_memory_mapping: true,
        ..solana_sbpf::vm::Config::default()
    }
}

fn real_config() -> sbpf_real::vm::Config {
    sbpf_real::vm::Config {
        enabled_sbpf_versions: sbpf_real::program::SBPFVersion::V0
            ..=sbpf_real::program::SBPFVersion::V0,
        optimize_rodata: false,
        aligned_memory_mapping: true,
        ..sbpf_real::vm::Config::default()
    }
}

fn spl_token() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../../shared/corpus/solana_programs/spl_token-3.5.0.so"),
    )
    .expect("the corpus's SPL Token program")
}

/// What the operation does after loading.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    Nothing,
    Verify,
}

fn drop_in_loader() -> Arc<solana_sbpf::program::BuiltinProgram<CompatContext>> {
    let mut config = compat_config();
    config.enabled_sbpf_versions =
        solana_sbpf::program::SBPFVersion::V0..=solana_sbpf::program::SBPFVersion::V3;
    Arc::new(solana_sbpf::program::BuiltinProgram::<CompatContext>::new_loader(config))
}

fn bpfvm_loader() -> Arc<bpfvm::Loader<bpfvm::TestContext>> {
    let mut config = bpfvm::Preset::Sbpf26(bpfvm::SbpfVersion::V0).config();
    config.optimize_rodata = false;
    Arc::new(bpfvm::Loader::<bpfvm::TestContext>::new(config))
}

const DIALECT: bpfvm::Dialect = bpfvm::Dialect::Sbpf26(bpfvm::SbpfVersion::V0);

fn load_drop_in(n: usize, then: Then) {
    let elf = spl_token();
    let loader = drop_in_loader();
    for _ in 0..n {
        let executable = solana_sbpf::elf::Executable::from_elf(&elf, loader.clone()).unwrap();
        if then == Then::Verify {
            executable
                .verify::<solana_sbpf::verifier::RequisiteVerifier>()
                .unwrap();
        }
        std::hint::black_box(executable);
    }
}

fn load_bpfvm(n: usize, then: Then) {
    let elf = spl_token();
    let loader = bpfvm_loader();
    for _ in 0..n {
        let executable = bpfvm::elf::load_in(&elf, loader.clone(), DIALECT).unwrap();
        if then == Then::Verify {
            std::hint::black_box(bpfvm::verify(executable).unwrap());
        } else {
            std::hint::black_box(executable);
        }
    }
}

fn compile_drop_in(n: usize, measure: Measure) {
    let executable =
        solana_sbpf::elf::Executable::from_elf(&spl_token(), drop_in_loader()).unwrap();
    executable
        .verify::<solana_sbpf::verifier::RequisiteVerifier>()
        .unwrap();
    repeat(n, measure, COMPILES, || executable.jit_compile().unwrap());
}

fn compile_bpfvm(n: usize, measure: Measure) {
    let executable = bpfvm::elf::load_in(&spl_token(), bpfvm_loader(), DIALECT).unwrap();
    let mut program = bpfvm::verify(executable).unwrap();
    let engine = bpfvm::jit::JitEngine::new();
    repeat(n, measure, COMPILES, || {
        program.jit_compile_with(&engine).unwrap()
    });
}

/// `execute_program` through one crate's 0.26 API (the drop-in or the real crate): a VM
/// made once, the registers and the budget reset before each run, as a host does.
macro_rules! run_through_api {
    ($name:ident, $krate:ident, $context:ident, $config:ident) => {
        fn $name(n: usize, jit: bool, measure: Measure) {
            use $krate::vm::ExecutionMode;
            let loader = Arc::new($krate::program::BuiltinProgram::<$context>::new_loader(
                $config(),
            ));
            let executable =
                $krate::assembler::assemble(sbpf_compat_bench::THREE_INSTRUCTIONS, loader).unwrap();
            executable
                .verify::<$krate::verifier::RequisiteVerifier>()
                .unwrap();
            if jit {
                executable.jit_compile().unwrap();
            }
            sbpf_compat_bench::vm_over_a_gapped_stack!($krate, $context, executable => vm, registers, frames);
            repeat(n, measure, BATCH, || {
                vm.registers = registers;
                vm.context().remaining = BUDGET;
                let mut mode = if jit {
                    ExecutionMode::Jit
                } else {
                    ExecutionMode::Interpreted
                };
                let (used, result) = vm.execute_program(&executable, &mut mode, &mut frames);
                assert!(result.is_ok() && used == 3);
            });
        }
    };
}
run_through_api!(run_drop_in, solana_sbpf, CompatContext, compat_config);
run_through_api!(run_real, sbpf_real, RealContext, real_config);

fn run_bpfvm(n: usize, jit: bool, measure: Measure) {
    let backend = if jit {
        bpfvm::Backend::Jit
    } else {
        bpfvm::Backend::Interpreter
    };
    let program = sbpf_compat_bench::three_instructions_on_bpfvm(backend);
    let mut context = bpfvm::TestContext::new(0);
    let mut heap = [0u8; 0];
    let mut vm = bpfvm::Vm::new(&program, &mut context, &mut heap, Vec::new()).unwrap();
    repeat(n, measure, BATCH, || {
        vm.context().remaining = BUDGET;
        let run = vm.run(backend);
        assert!(run.result.is_ok() && run.instruction_count == 3);
    });
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let measure = match args.next_if(|arg| arg == "time") {
        Some(_) => Measure::Time,
        None => Measure::Count,
    };
    let what = args.next().expect("what to repeat");
    let n: usize = args.next().map_or(1000, |n| n.parse().expect("a count"));
    match what.as_str() {
        "load-drop-in" => load_drop_in(n, Then::Nothing),
        "load-bpfvm" => load_bpfvm(n, Then::Nothing),
        "verify-drop-in" => load_drop_in(n, Then::Verify),
        "verify-bpfvm" => load_bpfvm(n, Then::Verify),
        "compile-drop-in" => compile_drop_in(n, measure),
        "compile-bpfvm" => compile_bpfvm(n, measure),
        "run-drop-in-jit" => run_drop_in(n, true, measure),
        "run-drop-in-interpreter" => run_drop_in(n, false, measure),
        "run-real-jit" => run_real(n, true, measure),
        "run-real-interpreter" => run_real(n, false, measure),
        "run-bpfvm-jit" => run_bpfvm(n, true, measure),
        "run-bpfvm-interpreter" => run_bpfvm(n, false, measure),
        other => panic!("unknown {other}"),
    }
}
