//! Call stacks keep the JIT's run environment (its region table filled) from one run to the
//! next, so what changed between two runs must still be seen by the second, on both
//! backends: another mapping (another VM's, one made anew, one whose region was replaced
//! or whose bytes were written), another program over the same stacks (other frames, another
//! call depth), and another context or budget. Every run is checked against the same run on
//! fresh call stacks.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod interp_common;

use bpfvm::{
    run_lent, verify, Backend, CallStacks, Config, Executable, Lent, Loader, MemoryRegion,
    RuntimeError, TestContext, VerifiedProgram, Vm, MM_INPUT_START,
};
use bpfvm_isa::{Dialect, Insn, MemSize};
use interp_common::{assemble, exit, ldx, recursion_with_stack};
use std::sync::Arc;

/// `program` verified under `config`, compiled when the JIT is available.
fn verified(program: &[Insn], config: Config) -> VerifiedProgram<TestContext> {
    let bytes = assemble(program, Dialect::Sbpf);
    let loader = Arc::new(Loader::new(config));
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    let mut program = verify(executable).unwrap();
    if Backend::AVAILABLE.contains(&Backend::Jit) {
        program.jit_compile().unwrap();
    }
    program
}

/// `r0 = [r1]`: the first input word.
fn reader() -> VerifiedProgram<TestContext> {
    verified(&[ldx(MemSize::DW, 0, 1, 0), exit()], Config::default())
}

/// `n + 1` nested calls that keep a value in their own stack frame (`[r10 - 8]`) and in r6,
/// under `config` (10 n + 9 instructions): `r0 = n (n + 1) + 1000` with fixed frames,
/// `n (n + 1) / 2 + 1000` with dynamic ones (the calls share one frame).
fn recursion(n: i32, config: Config) -> VerifiedProgram<TestContext> {
    verified(&recursion_with_stack(n), config)
}

/// One run of `vm` with `budget`, as (result, count).
fn run<'g, M: std::borrow::BorrowMut<bpfvm::MemoryMapping<'g>>>(
    vm: &mut Vm<'_, TestContext, M>,
    backend: Backend,
    budget: u64,
) -> (Result<u64, RuntimeError>, u64) {
    vm.context().remaining = budget;
    let run = vm.run(backend);
    (run.result, run.instruction_count)
}

/// A leaked input region holding `value` (leaked so that mappings can outlive the loop).
fn input(value: u64) -> MemoryRegion<'static> {
    let bytes: &'static mut [u8] = Box::leak(value.to_le_bytes().to_vec().into_boxed_slice());
    MemoryRegion::writable(bytes, MM_INPUT_START)
}

/// A leaked empty heap.
fn heap() -> &'static mut [u8] {
    Box::leak(Vec::new().into_boxed_slice())
}

#[test]
fn the_kept_table_follows_the_mapping() {
    let program = reader();
    for &backend in Backend::AVAILABLE {
        let (mut first_context, mut second_context) = (TestContext::new(0), TestContext::new(0));
        let mut first = Vm::new(&program, &mut first_context, heap(), vec![input(5)]).unwrap();
        let mut second = Vm::new(&program, &mut second_context, heap(), vec![input(9)]).unwrap();
        // One call-stack storage handed from one VM to the other, run after run.
        let mut stacks = CallStacks::new();
        for _ in 0..3 {
            first = first.with_call_stacks(stacks);
            assert_eq!(run(&mut first, backend, 100), (Ok(5), 2), "{backend:?}");
            stacks = first.take_call_stacks();
            second = second.with_call_stacks(stacks);
            assert_eq!(run(&mut second, backend, 100), (Ok(9), 2), "{backend:?}");
            stacks = second.take_call_stacks();
        }
        // Bytes written, then the region replaced, between two runs of one VM.
        first
            .mapping_mut()
            .write_bytes(MM_INPUT_START, &[6])
            .unwrap();
        assert_eq!(run(&mut first, backend, 100), (Ok(6), 2), "{backend:?}");
        first.mapping_mut().replace_region_at(input(11)).unwrap();
        assert_eq!(run(&mut first, backend, 100), (Ok(11), 2), "{backend:?}");
        // A region that takes no inline access (too short for the load): the kept rows of
        // the longer region must not let the load through.
        let short: &'static mut [u8] = Box::leak(vec![1u8; 4].into_boxed_slice());
        first
            .mapping_mut()
            .replace_region_at(MemoryRegion::writable(short, MM_INPUT_START))
            .unwrap();
        let (result, _) = run(&mut first, backend, 100);
        assert!(
            matches!(result, Err(RuntimeError::AccessViolation { .. })),
            "{backend:?}: {result:?}"
        );
        // Mappings made anew, one after the other, over the same storage.
        for value in 20..30 {
            let mut context = TestContext::new(0);
            let mut vm = Vm::new(&program, &mut context, heap(), vec![input(value)])
                .unwrap()
                .with_call_stacks(stacks);
            assert_eq!(run(&mut vm, backend, 100), (Ok(value), 2), "{backend:?}");
            stacks = vm.take_call_stacks();
        }
    }
}

#[test]
fn the_kept_table_follows_the_program() {
    let deep = recursion(
        6,
        Config {
            dynamic_stack_frames: false,
            ..Config::default()
        },
    );
    let dynamic = recursion(6, Config::default());
    let shallow = recursion(
        6,
        Config {
            max_call_depth: 5,
            dynamic_stack_frames: false,
            ..Config::default()
        },
    );
    let legacy = recursion(6, Config::legacy());
    let reader = reader();
    let programs = [&deep, &shallow, &legacy, &reader, &dynamic];
    for &backend in Backend::AVAILABLE {
        // Each program's own run on fresh storage.
        let expected: Vec<_> = programs
            .iter()
            .map(|program| {
                let mut context = TestContext::new(0);
                let mut vm = Vm::new(program, &mut context, heap(), vec![input(3)]).unwrap();
                run(&mut vm, backend, 1_000)
            })
            .collect();
        assert_eq!(expected[0], (Ok(1042), 69), "{backend:?}");
        assert!(
            matches!(expected[1].0, Err(RuntimeError::CallDepthExceeded { .. })),
            "{backend:?}: {:?}",
            expected[1]
        );
        assert_eq!(expected[2], (Ok(1042), 69), "{backend:?}");
        assert_eq!(expected[3], (Ok(3), 2), "{backend:?}");
        assert_eq!(expected[4], (Ok(1021), 69), "{backend:?}");
        // The same runs, in turn, over one storage.
        let mut stacks = CallStacks::new();
        for round in 0..3 {
            for (program, expected) in programs.iter().zip(&expected) {
                let mut context = TestContext::new(0);
                let mut vm = Vm::new(program, &mut context, heap(), vec![input(3)])
                    .unwrap()
                    .with_call_stacks(stacks);
                assert_eq!(
                    &run(&mut vm, backend, 1_000),
                    expected,
                    "{backend:?} {round}"
                );
                stacks = vm.take_call_stacks();
            }
        }
    }
}

#[test]
fn a_context_changed_between_runs_is_seen() {
    let program = recursion(6, Config::default());
    for &backend in Backend::AVAILABLE {
        let mut context = TestContext::new(0);
        let vm = Vm::new(&program, &mut context, heap(), vec![input(0)]).unwrap();
        let registers = vm.entry_registers();
        let mut stacks = CallStacks::new();
        let mut mapping = vm.into_mapping();
        let (mut rich, mut poor) = (TestContext::new(0), TestContext::new(0));
        // Two contexts run in turn over one storage and mapping, each with its own budget.
        let budgets = [(1_000, 10), (69, 68), (1_000, 0), (70, 1_000), (0, 69)];
        for (rich_budget, poor_budget) in budgets {
            for (context, budget) in [(&mut rich, rich_budget), (&mut poor, poor_budget)] {
                context.remaining = budget;
                let lent = Lent {
                    context: &mut *context,
                    mapping: &mut mapping,
                    stacks: &mut stacks,
                    registers: &registers,
                };
                let run = run_lent(&program, lent, backend);
                let left = context.remaining;
                // The same run on fresh storage.
                let mut fresh_context = TestContext::new(budget);
                let lent = Lent {
                    context: &mut fresh_context,
                    mapping: &mut mapping,
                    stacks: &mut CallStacks::new(),
                    registers: &registers,
                };
                let fresh = run_lent(&program, lent, backend);
                assert_eq!(run, fresh, "{backend:?} {budget}");
                assert_eq!(left, fresh_context.remaining, "{backend:?} {budget}");
                match budget >= 69 {
                    true => {
                        assert_eq!((run.result, run.instruction_count), (Ok(1021), 69));
                        assert_eq!(left, budget - 69);
                    }
                    false => assert!(
                        matches!(
                            run.result,
                            Err(RuntimeError::ExceededMaxInstructions { .. })
                        ),
                        "{backend:?} {budget}: {run:?}"
                    ),
                }
            }
        }
    }
}
