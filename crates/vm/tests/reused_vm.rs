//! A VM over a mapping the host keeps (borrowed, as solana-sbpf 0.26's hosts keep theirs)
//! runs exactly like one that owns it, on both backends; a region replaced between runs is
//! what the next run sees (the region table the JIT reads is made again); the host has its
//! mapping back when the VM ends; call-frame storage carried from one VM to the next
//! changes no result; a run over lent parts (`run_lent`) is a `Vm`'s run, and so is one of a
//! program prepared once (`run_prepared`); and an executable's clones share its bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bpfvm::{
    run_lent, run_prepared, verify, Backend, CallStacks, Config, Executable, Lent, Loader,
    MemoryRegion, RuntimeError, TestContext, VerifiedProgram, Vm, MM_INPUT_START,
};
use bpfvm_isa::{encode, Dialect, Extend, Insn, MemSize, Reg};
use std::sync::Arc;

/// `ldxdw r0, [r1]; exit`: the first input word.
fn program() -> VerifiedProgram<TestContext> {
    program_in(Config::default(), Compile::WhereAvailable)
}

/// Whether a test program gets machine code.
#[derive(Clone, Copy, PartialEq)]
enum Compile {
    WhereAvailable,
    Never,
}

/// `ldxdw r0, [r1]; exit` loaded under `config`.
fn program_in(config: Config, compile: Compile) -> VerifiedProgram<TestContext> {
    let insns = [
        Insn::Load {
            size: MemSize::DW,
            extend: Extend::Zero,
            dst: Reg::R0,
            base: Reg::R1,
            off: 0,
        },
        Insn::Exit,
    ];
    let bytes: Vec<u8> = insns
        .iter()
        .flat_map(|insn| encode(insn, Dialect::Sbpf).unwrap())
        .flat_map(|slot| slot.to_bytes())
        .collect();
    let loader = Arc::new(Loader::new(config));
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    let mut verified = verify(executable).unwrap();
    if compile == Compile::WhereAvailable && Backend::AVAILABLE.contains(&Backend::Jit) {
        verified.jit_compile().unwrap();
    }
    verified
}

/// r0 of one run, which must succeed and charge the program's two instructions.
fn r0<'g, M: std::borrow::BorrowMut<bpfvm::MemoryMapping<'g>>>(
    vm: &mut Vm<'_, TestContext, M>,
    backend: Backend,
) -> u64 {
    vm.context().remaining = 1_000;
    let run = vm.run(backend);
    assert_eq!(run.instruction_count, 2, "{backend:?}");
    run.result.unwrap()
}

/// A VM of `program` whose input region holds the word 7 (leaked, so the mapping it gives
/// back outlives the VM) and whose heap is 64 zero bytes.
fn vm_over_seven<'a>(
    program: &'a VerifiedProgram<TestContext>,
    context: &'a mut TestContext,
) -> Vm<'a, TestContext> {
    let input: &'static mut [u8] = Box::leak(7u64.to_le_bytes().to_vec().into_boxed_slice());
    let heap: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
    let regions = vec![MemoryRegion::writable(input, MM_INPUT_START)];
    Vm::new(program, context, heap, regions).unwrap()
}

#[test]
fn a_borrowed_mapping_runs_like_an_owned_one_and_sees_replaced_regions() {
    let program = program();
    for &backend in Backend::AVAILABLE {
        let first: &'static mut [u8] = Box::leak(5u64.to_le_bytes().to_vec().into_boxed_slice());
        let second: &'static mut [u8] = Box::leak(9u64.to_le_bytes().to_vec().into_boxed_slice());
        let heap: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
        let mut context = TestContext::new(0);
        let regions = vec![MemoryRegion::writable(first, MM_INPUT_START)];
        let mut owned = Vm::new(&program, &mut context, heap, regions).unwrap();
        assert_eq!(r0(&mut owned, backend), 5);
        assert_eq!(r0(&mut owned, backend), 5);
        let stacks = owned.take_call_stacks();
        let mut mapping = owned.into_mapping();

        let mut context = TestContext::new(0);
        let mut borrowed =
            Vm::with_mapping(&program, &mut context, &mut mapping).with_call_stacks(stacks);
        assert_eq!(r0(&mut borrowed, backend), 5);
        borrowed
            .mapping_mut()
            .replace_region_at(MemoryRegion::writable(second, MM_INPUT_START))
            .unwrap();
        assert_eq!(r0(&mut borrowed, backend), 9, "{backend:?}: the new region");
        let stacks = borrowed.take_call_stacks();
        drop(borrowed);

        // The host has its mapping back, with the replacement in place.
        assert_eq!(
            mapping.read_bytes(MM_INPUT_START, 8).unwrap(),
            9u64.to_le_bytes()
        );
        let mut context = TestContext::new(0);
        let mut again =
            Vm::with_mapping(&program, &mut context, &mut mapping).with_call_stacks(stacks);
        assert_eq!(r0(&mut again, backend), 9);
        let mut fresh = Vm::with_mapping(&program, &mut context, &mut mapping)
            .with_call_stacks(CallStacks::new());
        assert_eq!(r0(&mut fresh, backend), 9);
    }
}

/// `run_lent` over a host's parts gives what a `Vm` over the same parts gives (result, count,
/// memory seen), run after run, with the storage reused, on both backends; and a meter with
/// too little left ends it as it ends a `Vm`'s.
#[test]
fn a_lent_run_runs_like_a_vm() {
    let program = program();
    for &backend in Backend::AVAILABLE {
        let mut context = TestContext::new(0);
        let mut vm = vm_over_seven(&program, &mut context);
        assert_eq!(r0(&mut vm, backend), 7);
        let registers = vm.entry_registers();
        let mut stacks = vm.take_call_stacks();
        let mut mapping = vm.into_mapping();
        let mut context = TestContext::new(0);
        for _ in 0..3 {
            context.remaining = 1_000;
            let lent = Lent {
                context: &mut context,
                mapping: &mut mapping,
                stacks: &mut stacks,
                registers: &registers,
            };
            let run = run_lent(&program, lent, backend);
            assert_eq!(
                (run.result, run.instruction_count),
                (Ok(7), 2),
                "{backend:?}"
            );
            assert_eq!(context.remaining, 998);
        }
        // Entry registers may be lent as any `Borrow` of them (here by value): the same run.
        context.remaining = 1_000;
        let lent = Lent {
            context: &mut context,
            mapping: &mut mapping,
            stacks: &mut stacks,
            registers,
        };
        assert_eq!(
            run_lent(&program, lent, backend).result,
            Ok(7),
            "{backend:?}"
        );
        // Entry registers are the host's: r1 pointing past the input reads nothing.
        let mut moved = registers;
        moved[1] = MM_INPUT_START + 4;
        context.remaining = 1_000;
        let lent = Lent {
            context: &mut context,
            mapping: &mut mapping,
            stacks: &mut stacks,
            registers: &moved,
        };
        assert!(
            run_lent(&program, lent, backend).result.is_err(),
            "{backend:?}"
        );
        // A budget too small ends both the same way.
        context.remaining = 1;
        let lent = Lent {
            context: &mut context,
            mapping: &mut mapping,
            stacks: &mut stacks,
            registers: &registers,
        };
        let lent_run = run_lent(&program, lent, backend);
        let mut context = TestContext::new(1);
        let mut vm = Vm::with_mapping(&program, &mut context, &mut mapping);
        vm.set_entry_registers(registers);
        let vm_run = vm.run(backend);
        assert!(lent_run.result.is_err(), "{backend:?}");
        assert_eq!(lent_run, vm_run, "{backend:?}");
    }
}

/// A program prepared once (`VerifiedProgram::prepared`) runs with `run_prepared` as it runs
/// with `run_lent` (result, count, budget charged), run after run, on both backends: metered
/// or not, with machine code or without it (a JIT run then fails as `run_lent`'s does).
#[test]
fn a_prepared_run_runs_like_a_lent_one() {
    let unmetered = Config {
        enable_instruction_meter: false,
        ..Config::default()
    };
    let programs = [
        (program(), 998),
        (program_in(unmetered, Compile::WhereAvailable), 1_000),
        (program_in(Config::default(), Compile::Never), 998),
    ];
    for (program, remaining_after) in &programs {
        let prepared = program.prepared();
        for &backend in Backend::AVAILABLE {
            let mut context = TestContext::new(0);
            let vm = vm_over_seven(program, &mut context);
            let registers = vm.entry_registers();
            let mut mapping = vm.into_mapping();
            let mut stacks = CallStacks::new();
            let mut context = TestContext::new(0);
            for _ in 0..3 {
                context.remaining = 1_000;
                let lent = Lent {
                    context: &mut context,
                    mapping: &mut mapping,
                    stacks: &mut stacks,
                    registers: &registers,
                };
                let prepared_run = run_prepared(&prepared, lent, backend);
                let prepared_remaining = context.remaining;
                context.remaining = 1_000;
                let lent = Lent {
                    context: &mut context,
                    mapping: &mut mapping,
                    stacks: &mut stacks,
                    registers: &registers,
                };
                let lent_run = run_lent(program, lent, backend);
                assert_eq!(prepared_run, lent_run, "{backend:?}");
                assert_eq!(prepared_remaining, context.remaining, "{backend:?}");
                match program.jit_program() {
                    None if backend == Backend::Jit => {
                        assert_eq!(prepared_run.result, Err(RuntimeError::JitNotCompiled));
                    }
                    _ => {
                        assert_eq!(prepared_run.result, Ok(7), "{backend:?}");
                        assert_eq!(context.remaining, *remaining_after, "{backend:?}");
                    }
                }
            }
        }
    }
}

/// A clone of an executable shares its bytes (no copy), and the ranges name its text and
/// mapped bytes inside them.
#[test]
fn an_executables_clone_shares_its_bytes() {
    let program = program();
    let executable = program.executable();
    let clone = executable.clone();
    assert!(Arc::ptr_eq(executable.shared_bytes(), clone.shared_bytes()));
    let bytes = executable.shared_bytes();
    assert_eq!(&bytes[executable.text_range()], executable.text());
    assert_eq!(&bytes[executable.ro_range()], executable.ro_data());
    assert_eq!(clone.text(), executable.text());
    assert_eq!(clone.functions(), executable.functions());
    assert_eq!(clone.entry_pc(), executable.entry_pc());
}
