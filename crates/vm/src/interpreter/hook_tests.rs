//! Tests of the step hook, and of the run-at-a-time meter against the exact stepping loop:
//! for every program in a table and every budget from 0 past its length, `run` (the fast
//! loop) and `run_with_hook` (exact steps) must agree on result and count, and the hook must
//! be called once per charged instruction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{StepControl, StepHook, StepState};
use crate::memory::MemoryMapping;
use crate::program::{
    Executable, Loader, SyscallRegistry, MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START,
};
use crate::test_insns::{alu, load as ldx, r, sbpf_bytes, store};
use crate::{verify, Backend, Config, ContextObject, MemoryRegion, RuntimeError, TestContext, Vm};
use bpfvm_isa::{AluOp, Cond, Dialect, Insn, MemSize, Source, Width};
use std::sync::Arc;

fn mov(dst: u8, imm: i32) -> Insn {
    alu(AluOp::Mov, dst, Source::Imm(imm))
}
fn add(dst: u8, imm: i32) -> Insn {
    alu(AluOp::Add, dst, Source::Imm(imm))
}
fn jlt(dst: u8, imm: i32, off: i16) -> Insn {
    Insn::Branch {
        width: Width::W64,
        cond: Cond::Lt,
        dst: r(dst),
        src: Source::Imm(imm),
        off,
    }
}
fn ldxb(dst: u8, base: u8, off: i16) -> Insn {
    ldx(MemSize::B, dst, base, off)
}
fn stw(base: u8, off: i16, imm: i32) -> Insn {
    store(MemSize::W, base, off, Source::Imm(imm))
}
fn call(imm: i32) -> Insn {
    Insn::Call { src: 1, imm }
}
fn exit() -> Insn {
    Insn::Exit
}

/// Returns 7 and charges 3 instructions of its own.
fn costly_syscall(
    context: &mut TestContext,
    _: &mut MemoryMapping<'_>,
    _: [u64; 5],
) -> Result<u64, RuntimeError> {
    context.consume(3);
    Ok(7)
}

const SYSCALL_KEY: u32 = 0x1234;

/// The programs of the tables (sBPF).
fn programs() -> Vec<(&'static str, Vec<Insn>)> {
    vec![
        ("straight", vec![mov(0, 1), add(0, 2), add(0, 3), exit()]),
        (
            "loop",
            vec![mov(1, 0), add(1, 1), add(0, 2), jlt(1, 5, -3), exit()],
        ),
        (
            "lddw in a run",
            vec![
                mov(0, 1),
                Insn::LoadImm64 {
                    dst: r(2),
                    imm: 0x1_0000_0000,
                },
                add(0, 1),
                exit(),
            ],
        ),
        (
            "fault mid-run",
            vec![mov(0, 1), add(0, 1), ldxb(3, 0, 0), add(0, 1), exit()],
        ),
        (
            "stack and loads",
            vec![stw(10, -4, 9), ldxb(0, 10, -4), add(0, 1), exit()],
        ),
        (
            "calls",
            vec![
                mov(6, 0),
                add(6, 1),
                call(2),
                jlt(6, 3, -3),
                exit(),
                add(0, 1),
                exit(),
            ],
        ),
        (
            "syscall",
            vec![
                mov(0, 1),
                Insn::Call {
                    src: 0,
                    imm: SYSCALL_KEY as i32,
                },
                add(0, 1),
                add(0, 1),
                exit(),
            ],
        ),
        ("overrun", vec![mov(0, 1), add(0, 1)]),
        (
            // pc 4 is no function: with static syscalls, one more instruction is charged.
            "callx unregistered",
            vec![
                Insn::LoadImm64 {
                    dst: r(2),
                    imm: MM_PROGRAM_START + 4 * 8,
                },
                add(0, 1),
                Insn::CallReg { reg: r(2) },
                exit(),
                add(0, 1),
                exit(),
            ],
        ),
    ]
}

/// What each program of the table gives with an ample budget.
fn outcome(name: &str) -> &'static str {
    match name {
        "straight" => "Ok(6)",
        "loop" => "Ok(10)",
        "lddw in a run" => "Ok(2)",
        "fault mid-run" => {
            r#"Err(AccessViolation { pc: 2, access: Load, vaddr: 2, len: 1, region: "unknown" })"#
        }
        "stack and loads" => "Ok(10)",
        "calls" => "Ok(3)",
        "syscall" => "Ok(9)",
        "overrun" => "Err(ExecutionOverrun { pc: 2 })",
        "callx unregistered" => "Err(UnsupportedInstruction { pc: 4 })",
        _ => "unknown program",
    }
}

fn load(program: &[Insn], config: Config) -> crate::VerifiedProgram<TestContext> {
    let mut registry = SyscallRegistry::new();
    registry
        .register_key(SYSCALL_KEY, "costly", costly_syscall)
        .unwrap();
    let loader = Arc::new(Loader::with_syscalls(config, registry));
    let bytes = sbpf_bytes(program);
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    verify(executable).unwrap()
}

/// Runs `program` with `budget`, either with `run` or with `hook`.
fn run(
    program: &crate::VerifiedProgram<TestContext>,
    budget: u64,
    hook: Option<&mut dyn StepHook>,
) -> (crate::Run, TestContext) {
    let mut context = TestContext::new(budget);
    let mut heap = Vec::new();
    let mut input = vec![0u8; 16];
    let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
    let outcome = {
        let mut vm = Vm::new(program, &mut context, &mut heap, regions).unwrap();
        match hook {
            None => vm.run(Backend::Interpreter),
            Some(hook) => vm.run_with_hook(hook),
        }
    };
    (outcome, context)
}

/// Records every call; optionally stops or rewrites at a pc.
#[derive(Default)]
struct Recorder {
    pcs: Vec<usize>,
    remaining: Vec<u64>,
    stop_at: Option<usize>,
    set_r0_at: Option<(usize, u64)>,
}

impl StepHook for Recorder {
    fn before_instruction(
        &mut self,
        state: StepState<'_>,
        _memory: &mut MemoryMapping<'_>,
    ) -> StepControl {
        self.pcs.push(state.pc);
        self.remaining.push(state.remaining);
        if let Some((pc, value)) = self.set_r0_at {
            if pc == state.pc {
                state.registers[0] = value;
            }
        }
        match self.stop_at {
            Some(pc) if pc == state.pc => StepControl::Stop,
            _ => StepControl::Continue,
        }
    }
}

#[test]
fn fast_loop_and_hooked_steps_agree_at_every_budget() {
    let configs = [
        Config::default(),
        Config {
            dynamic_stack_frames: false,
            ..Config::default()
        },
    ];
    for (name, program) in programs() {
        for config in &configs {
            let verified = load(&program, *config);
            let (full, _) = run(&verified, 1000, None);
            assert_eq!(format!("{:?}", full.result), outcome(name), "{name}");
            for budget in 0..40 {
                let (fast, _) = run(&verified, budget, None);
                let mut recorder = Recorder::default();
                let (slow, _) = run(&verified, budget, Some(&mut recorder));
                assert_eq!(fast, slow, "{name}, budget {budget}");
                // The syscall charges 3 of its own, running off the end charges the
                // phantom overrun slot and the unregistered `callx` target one more; every
                // other charge is one hook call. The context
                // saturates, so the count never exceeds the budget.
                let syscall = match recorder.pcs.contains(&1) && name == "syscall" {
                    true => 3,
                    false => 0,
                };
                let extra = match slow.result {
                    Err(RuntimeError::ExecutionOverrun { .. }) => 1,
                    Err(RuntimeError::UnsupportedInstruction { pc: 4 }) => 1,
                    _ => 0,
                };
                let charged = recorder.pcs.len() as u64 + syscall + extra;
                assert_eq!(
                    slow.instruction_count,
                    charged.min(budget),
                    "{name} {budget}"
                );
            }
        }
    }
}

#[test]
fn hook_sees_pcs_and_budget_before_each_instruction() {
    let program = load(
        &[mov(1, 0), add(1, 1), jlt(1, 2, -2), exit()],
        Config::default(),
    );
    let mut recorder = Recorder::default();
    let (outcome, _) = run(&program, 100, Some(&mut recorder));
    assert_eq!(outcome.result, Ok(0));
    assert_eq!(outcome.instruction_count, 6);
    assert_eq!(recorder.pcs, vec![0, 1, 2, 1, 2, 3]);
    assert_eq!(recorder.remaining, vec![100, 99, 98, 97, 96, 95]);
}

#[test]
fn register_writes_take_effect() {
    let program = load(&[mov(0, 1), add(0, 1), exit()], Config::default());
    let mut recorder = Recorder {
        set_r0_at: Some((1, 40)),
        ..Recorder::default()
    };
    let (outcome, _) = run(&program, 100, Some(&mut recorder));
    assert_eq!(outcome.result, Ok(41));
    assert_eq!(outcome.instruction_count, 3);
}

/// A hook that changes the memory once, before the instruction at `pc` runs.
struct MemoryAt<F: FnMut(&mut MemoryMapping<'_>)> {
    pc: usize,
    change: F,
}

impl<F: FnMut(&mut MemoryMapping<'_>)> StepHook for MemoryAt<F> {
    fn before_instruction(
        &mut self,
        state: StepState<'_>,
        memory: &mut MemoryMapping<'_>,
    ) -> StepControl {
        if state.pc == self.pc {
            (self.change)(memory);
        }
        StepControl::Continue
    }
}

#[test]
fn memory_writes_take_effect() {
    let mut poke = MemoryAt {
        pc: 1,
        change: |memory: &mut MemoryMapping<'_>| {
            memory
                .store(MemSize::B, MM_INPUT_START + 3, 0x5a, 0)
                .unwrap();
        },
    };
    // r1 = MM_INPUT_START at entry.
    let program = load(&[mov(0, 0), ldxb(0, 1, 3), exit()], Config::default());
    let (outcome, _) = run(&program, 100, Some(&mut poke));
    assert_eq!(outcome.result, Ok(0x5a));
}

/// A hook that replaces the input region: the instructions after it must see the new one
/// (an interpreter that kept a copy of the direct rows across the hook would not), not the
/// caller's bytes, which still hold 0 (and whose row would still give the load).
#[test]
fn a_region_replaced_by_the_hook_is_seen_by_the_next_load() {
    let mut replace = MemoryAt {
        pc: 1,
        change: |memory: &mut MemoryMapping<'_>| {
            let region = MemoryRegion::owned_copy(&[0x77; 16], MM_INPUT_START).unwrap();
            memory.replace_region_at(region).unwrap();
        },
    };
    // r1 = MM_INPUT_START at entry; the load at pc 0 reads the caller's 0, the one at pc 2
    // the replacement's 0x77.
    let program = load(
        &[ldxb(2, 1, 3), mov(0, 0), ldxb(0, 1, 3), exit()],
        Config::default(),
    );
    let (outcome, _) = run(&program, 100, Some(&mut replace));
    assert_eq!(outcome.result, Ok(0x77));
    assert_eq!(outcome.instruction_count, 4);
}

#[test]
fn stop_ends_the_run_with_the_debugger_error() {
    let program = load(
        &[mov(0, 1), add(0, 1), add(0, 1), exit()],
        Config::default(),
    );
    let mut recorder = Recorder {
        stop_at: Some(2),
        ..Recorder::default()
    };
    let (outcome, context) = run(&program, 100, Some(&mut recorder));
    assert_eq!(
        outcome.result,
        Err(RuntimeError::UserError {
            message: "stopped by the debugger".into()
        })
    );
    assert_eq!(outcome.instruction_count, 2);
    assert_eq!(context.remaining, 98);
    assert_eq!(recorder.pcs, vec![0, 1, 2]);
}

#[test]
fn hook_and_tracing_see_the_same_steps() {
    let config = Config {
        enable_instruction_tracing: true,
        ..Config::default()
    };
    let program = load(
        &[
            mov(6, 0),
            add(6, 1),
            call(2),
            jlt(6, 3, -3),
            exit(),
            add(0, 1),
            exit(),
        ],
        config,
    );
    let mut recorder = Recorder::default();
    let (hooked, hooked_context) = run(&program, 1000, Some(&mut recorder));
    let (plain, plain_context) = run(&program, 1000, None);
    assert_eq!(hooked, plain);
    assert_eq!(hooked_context.trace_log, plain_context.trace_log);
    let traced: Vec<usize> = plain_context
        .trace_log
        .iter()
        .map(|state| state[11] as usize)
        .collect();
    assert_eq!(recorder.pcs, traced);
    assert_eq!(
        plain_context.trace_log.first().map(|state| state[10]),
        Some(MM_STACK_START + Config::default().stack_size() as u64)
    );
}
