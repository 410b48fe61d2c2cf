//! Phase H's experiments on the fixed cost of one call: the three-instruction program through
//! the drop-in, the real crate and bpfvm directly, each with small variants of the host's
//! loop, in one criterion run (so that the variants share the machine's load). `cargo bench
//! --bench probe -- --warm-up-time 1 --measurement-time 3`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, unsafe_code)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;

sbpf_compat_bench::context!(RealContext, sbpf_real);
sbpf_compat_bench::context!(CompatContext, solana_sbpf);

const BUDGET: u64 = 1_000_000;

/// The host's loop through one crate's 0.26 API, in its variants.
macro_rules! api_rows {
    ($name:ident, $krate:ident, $context:ident, $label:literal) => {
        fn $name(c: &mut Criterion) {
            use $krate::{error::ProgramResult, vm::ExecutionMode};
            let config = $krate::vm::Config {
                enabled_sbpf_versions: $krate::program::SBPFVersion::V0
                    ..=$krate::program::SBPFVersion::V0,
                optimize_rodata: false,
                aligned_memory_mapping: true,
                ..$krate::vm::Config::default()
            };
            let loader = Arc::new($krate::program::BuiltinProgram::<$context>::new_loader(config));
            let executable = $krate::assembler::assemble(sbpf_compat_bench::THREE_INSTRUCTIONS, loader).unwrap();
            executable
                .verify::<$krate::verifier::RequisiteVerifier>()
                .unwrap();
            executable.jit_compile().unwrap();
            sbpf_compat_bench::vm_over_a_gapped_stack!($krate, $context, executable => vm, registers, frames);
            let mut group = c.benchmark_group("probe three instructions (jit)");
            // The API bench's loop.
            group.bench_function(concat!($label, "/api loop"), |b| {
                b.iter(|| {
                    vm.registers = registers;
                    vm.context().remaining = BUDGET;
                    let mut mode = ExecutionMode::Jit;
                    let (used, result) = vm.execute_program(&executable, &mut mode, &mut frames);
                    assert!(result.is_ok(), "{result:?}");
                    assert_eq!(used, 3);
                })
            });
            // Without the host's reset of the registers (the run does not change them).
            group.bench_function(concat!($label, "/no register reset"), |b| {
                b.iter(|| {
                    vm.context().remaining = BUDGET;
                    let mut mode = ExecutionMode::Jit;
                    let (used, result) = vm.execute_program(&executable, &mut mode, &mut frames);
                    assert!(result.is_ok(), "{result:?}");
                    assert_eq!(used, 3);
                })
            });
            // The result checked where it was returned, never moved as a whole.
            group.bench_function(concat!($label, "/result matched"), |b| {
                b.iter(|| {
                    vm.registers = registers;
                    vm.context().remaining = BUDGET;
                    let mut mode = ExecutionMode::Jit;
                    let outcome = vm.execute_program(&executable, &mut mode, &mut frames);
                    assert!(matches!(outcome, (3, ProgramResult::Ok(3))));
                })
            });
            group.finish();
        }
    };
}
api_rows!(drop_in, solana_sbpf, CompatContext, "drop-in");
api_rows!(real, sbpf_real, RealContext, "sbpf-0.26");

/// bpfvm's own call, with and without the host setting the entry registers each time.
fn direct(c: &mut Criterion) {
    let program = sbpf_compat_bench::three_instructions_on_bpfvm(bpfvm::Backend::Jit);
    let mut context = bpfvm::TestContext::new(0);
    let mut heap = [0u8; 0];
    let mut vm = bpfvm::Vm::new(&program, &mut context, &mut heap, Vec::new()).unwrap();
    let registers = vm.entry_registers();
    let mut group = c.benchmark_group("probe three instructions (jit)");
    group.bench_function("bpfvm/api loop", |b| {
        b.iter(|| {
            vm.context().remaining = BUDGET;
            let run = vm.run(bpfvm::Backend::Jit);
            assert!(run.result.is_ok(), "{:?}", run.result);
            assert_eq!(run.instruction_count, 3);
        })
    });
    group.bench_function("bpfvm/registers set", |b| {
        b.iter(|| {
            vm.set_entry_registers(std::hint::black_box(registers));
            vm.context().remaining = BUDGET;
            let run = vm.run(bpfvm::Backend::Jit);
            assert!(run.result.is_ok(), "{:?}", run.result);
            assert_eq!(run.instruction_count, 3);
        })
    });
    group.finish();
}

/// bpfvm's API doing the 0.26 host's job: the host keeps the parts a run uses (the context,
/// the mapping, the call-frame storage, the entry registers), names the program each call
/// (`bpfvm::run_lent`, what the drop-in's `execute_program` calls) and resets the
/// registers before each run, as the drop-in's and the real crate's rows do. The drop-in's
/// own cost is its row minus this one. A second column resolves the program's run inputs
/// once (`bpfvm::run_prepared`), as a `Vm` does when it is made.
fn lent(c: &mut Criterion) {
    let program = sbpf_compat_bench::three_instructions_on_bpfvm(bpfvm::Backend::Jit);
    // A VM made once only to build the mapping the host then keeps.
    let mut scratch = bpfvm::TestContext::new(0);
    let mut heap = [0u8; 0];
    let vm = bpfvm::Vm::new(&program, &mut scratch, &mut heap, Vec::new()).unwrap();
    let template = vm.entry_registers();
    let mut mapping = vm.into_mapping();
    let mut stacks = bpfvm::CallStacks::new();
    let mut context = bpfvm::TestContext::new(0);
    let mut registers = template;
    let mut group = c.benchmark_group("probe three instructions (jit)");
    group.bench_function("bpfvm/run_lent, registers reset", |b| {
        b.iter(|| {
            registers = std::hint::black_box(template);
            context.remaining = BUDGET;
            let lent = bpfvm::Lent {
                context: &mut context,
                mapping: &mut mapping,
                stacks: &mut stacks,
                registers: &registers,
            };
            let run = bpfvm::run_lent(&program, lent, bpfvm::Backend::Jit);
            assert!(run.result.is_ok(), "{:?}", run.result);
            assert_eq!(run.instruction_count, 3);
        })
    });
    // The same host with the program's run inputs resolved once (`VerifiedProgram::prepared`)
    // instead of on every call.
    let prepared = program.prepared();
    group.bench_function("bpfvm/run_prepared, registers reset", |b| {
        b.iter(|| {
            registers = std::hint::black_box(template);
            context.remaining = BUDGET;
            let lent = bpfvm::Lent {
                context: &mut context,
                mapping: &mut mapping,
                stacks: &mut stacks,
                registers: &registers,
            };
            let run = bpfvm::run_prepared(&prepared, lent, bpfvm::Backend::Jit);
            assert!(run.result.is_ok(), "{:?}", run.result);
            assert_eq!(run.instruction_count, 3);
        })
    });
    group.finish();
}

criterion_group!(benches, drop_in, real, direct, lent);
criterion_main!(benches);
