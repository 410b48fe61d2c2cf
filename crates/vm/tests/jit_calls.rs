#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The JIT's call and exit sequences and its branches on flags, as tables run on both
//! backends: recursion that keeps values in its own stack frame and in the callee-saved
//! registers (whose frame records the JIT pushes on the host stack and copies into its
//! `Env` on the way out), with and without any r10 access (a program that never reads r10
//! keeps no current-frame pointer), over every kind of frame; the depth limit; every budget
//! of a recursive program, so that the meter bails out inside callees at every depth and the
//! interpreter resumes from the frame records; syscalls and faults in miss routines at every
//! depth; an `exit` returning past the last slot; and a branch against 0 right after an ALU
//! operation on the same register, whose flags the JIT reuses only where they answer the
//! condition as the compare would.

mod interp_common;

use bpfvm::{Config, MemoryMapping, RuntimeError, SyscallFn};
use bpfvm_isa::{AluOp, Cond, Dialect, Insn, MemSize, Width};
use interp_common::*;
use RuntimeError as E;

fn sbpf(name: &'static str, program: Vec<Insn>, expect: Result<u64, E>, count: u64) -> Case {
    Case::new(name, Dialect::Sbpf, program, expect, count)
}

fn contiguous_fixed(config: Config) -> Config {
    Config {
        dynamic_stack_frames: false,
        enable_stack_frame_gaps: false,
        ..config
    }
}

/// Without the hardening options, so that no random `nop` stands between an ALU operation
/// and the branch after it.
fn plain(config: Config) -> Config {
    Config {
        noop_instruction_rate: 0,
        sanitize_user_provided_values: false,
        ..config
    }
}

fn depth_five(config: Config) -> Config {
    Config {
        max_call_depth: 5,
        ..fixed_frames(config)
    }
}

/// The same function without any access to the stack (no op reads r10): `n (n + 1) +
/// 1000` in `8 n + 8` instructions.
fn recursion_in_registers(n: i32) -> Vec<Insn> {
    vec![
        mov(1, n),
        mov(6, 1000),
        call(1, 2),
        alu(Width::W64, AluOp::Add, 0, reg(6)),
        exit(),
        // f:
        mov(0, 0),
        branch(Width::W64, Cond::Eq, 1, k(0), 5),
        alu(Width::W64, AluOp::Mov, 6, reg(1)),
        alu(Width::W64, AluOp::Sub, 1, k(1)),
        call(1, -5),
        alu(Width::W64, AluOp::Add, 0, reg(6)),
        alu(Width::W64, AluOp::Add, 0, reg(6)),
        exit(),
    ]
}

#[test]
fn recursion_keeps_frames_and_registers_on_every_kind_of_frame() {
    type Frames = fn(Config) -> Config;
    // Dynamic frames do not move r10 at a call: every level stores into the same slot and
    // reads back the 0 the innermost one left, so f(6) sums only the saved r6 (21).
    let frames: [(&str, Frames, u64); 3] = [
        ("dynamic frames", |c| c, 1021),
        ("fixed gapped frames", fixed_frames, 1042),
        ("fixed contiguous frames", contiguous_fixed, 1042),
    ];
    let mut cases = Vec::new();
    for (name, config, with_stack) in frames {
        cases.push(
            sbpf(name, recursion_with_stack(6), Ok(with_stack), 69)
                .config(config)
                .budget(1000),
        );
        cases.push(
            sbpf(name, recursion_in_registers(6), Ok(1042), 56)
                .config(config)
                .budget(1000),
        );
    }
    // Depth 5: main and four nested calls fit (f(3) calls down to f(0)), a fifth does not.
    cases.push(sbpf("depth limit, fits", recursion_with_stack(3), Ok(1012), 39).config(depth_five));
    cases.push(
        sbpf(
            "depth limit, exceeded at the innermost call",
            recursion_with_stack(4),
            Err(E::CallDepthExceeded { pc: 10, depth: 5 }),
            27,
        )
        .config(depth_five),
    );
    cases.push(
        sbpf(
            "depth limit without stack accesses",
            recursion_in_registers(4),
            Err(E::CallDepthExceeded { pc: 9, depth: 5 }),
            23,
        )
        .config(depth_five),
    );
    run_table(&cases);
}

/// A row running `program` under `config` with `budget`, expecting what the interpreter
/// alone gives (the row then runs on every backend through `run_table`).
fn budget_case(program: &[Insn], config: fn(Config) -> Config, budget: u64) -> Case {
    budget_case_with(program, config, budget, None)
}

/// [`budget_case`] with syscall 1 registered as `syscall`.
fn budget_case_with(
    program: &[Insn],
    config: fn(Config) -> Config,
    budget: u64,
    syscall: Option<SyscallFn<Ctx>>,
) -> Case {
    let with_syscall = |case: Case| match syscall {
        Some(function) => case.syscall(1, function),
        None => case,
    };
    let probe = sbpf("budget", program.to_vec(), Ok(0), 0)
        .config(config)
        .budget(budget);
    let interpreted = run_case(&with_syscall(probe));
    let case = sbpf(
        "budget",
        program.to_vec(),
        interpreted.result,
        interpreted.count,
    )
    .config(config)
    .budget(budget);
    with_syscall(case)
}

#[test]
fn every_budget_of_a_recursion_matches_the_interpreter() {
    // Each budget runs out at another instruction, inside callees at every depth: the JIT
    // bails out there and the interpreter finishes from the frame records it left.
    type Frames = fn(Config) -> Config;
    let frames: [Frames; 3] = [|c| c, fixed_frames, contiguous_fixed];
    for config in frames {
        for program in [recursion_with_stack(6), recursion_in_registers(6)] {
            let cases: Vec<Case> = (0..=70)
                .map(|budget| budget_case(&program, config, budget))
                .collect();
            assert!(cases.iter().any(|case| case.expect.is_ok()));
            assert!(cases.iter().any(
                |case| matches!(case.expect, Err(E::ExceededMaxInstructions { pc, .. }) if pc > 5)
            ));
            run_table(&cases);
        }
    }
}

/// `r1 = a; r1 = r1 op b; if r1 cond 0 { r0 = 1 }`: 6 instructions when the branch is taken,
/// 5 when not.
fn op_then_branch(a: u64, op: AluOp, b: i32, cond: Cond) -> Vec<Insn> {
    vec![
        mov(0, 0),
        lddw(1, a),
        alu(Width::W64, op, 1, k(b)),
        branch(Width::W64, cond, 1, k(0), 1),
        exit(),
        mov(0, 1),
        exit(),
    ]
}

#[test]
fn branches_against_zero_after_alu_operations() {
    let minus_one = u64::MAX;
    // (a, op, b, cond, taken): the adds and subtracts that carry or borrow would take an
    // unsigned branch on their own flags, where the compare with 0 does not.
    let rows: [(u64, AluOp, i32, Cond, bool); 20] = [
        (2, AluOp::And, 1, Cond::Eq, true),
        (3, AluOp::And, 1, Cond::Eq, false),
        (3, AluOp::And, 1, Cond::Ne, true),
        (2, AluOp::And, 1, Cond::Sgt, false),
        (1, AluOp::Xor, -1, Cond::Slt, true),
        (1, AluOp::Xor, -1, Cond::Sgt, false),
        (1, AluOp::Xor, -1, Cond::Gt, true),
        (1, AluOp::Xor, -1, Cond::Le, false),
        (0, AluOp::Or, 0, Cond::Sge, true),
        (0, AluOp::Or, 0, Cond::Lt, false),
        (0, AluOp::Or, 4, Cond::Ge, true),
        (2, AluOp::Add, -1, Cond::Gt, true),
        (2, AluOp::Add, -1, Cond::Eq, false),
        (minus_one, AluOp::Add, 1, Cond::Lt, false),
        (minus_one, AluOp::Add, 1, Cond::Eq, true),
        (minus_one, AluOp::Add, 1, Cond::Le, true),
        (0, AluOp::Sub, 1, Cond::Lt, false),
        (0, AluOp::Sub, 1, Cond::Slt, true),
        (1, AluOp::Sub, 1, Cond::Ge, true),
        (1, AluOp::Sub, 1, Cond::Ne, false),
    ];
    type Hardening = fn(Config) -> Config;
    let hardening: [Hardening; 2] = [plain, |c| c];
    let cases: Vec<Case> = hardening
        .iter()
        .flat_map(|config| rows.iter().map(move |row| (*config, *row)))
        .map(|(config, (a, op, b, cond, taken))| {
            let (result, count) = match taken {
                true => (1, 6),
                false => (0, 5),
            };
            sbpf(
                "op then branch",
                op_then_branch(a, op, b, cond),
                Ok(result),
                count,
            )
            .config(config)
        })
        .collect();
    run_table(&cases);
}

/// The recursion in registers ending in a division by zero at the innermost call instead
/// of returning ([`recursion_around`] with a division as its deepest op): the run ends at
/// depth `n + 1` (pc 7), after `5 n + 6` instructions.
fn recursion_ending_in_an_error(n: i32) -> Vec<Insn> {
    recursion_around(n, alu(Width::W64, AluOp::Div, 0, reg(1)))
}

#[test]
fn calls_of_a_program_that_never_reads_r10_end_exactly_at_any_depth() {
    // No op reads r10, so with fixed frames the JIT derives r10 and the frame records'
    // saved r10 from the depth when the code ends (the exit routine): an error, the depth
    // limit and a bail-out for the budget at every depth end as on the interpreter.
    type Frames = fn(Config) -> Config;
    let frames: [Frames; 2] = [fixed_frames, contiguous_fixed];
    for config in frames {
        let mut cases: Vec<Case> = (0..6)
            .map(|n| {
                sbpf(
                    "error at depth n",
                    recursion_ending_in_an_error(n),
                    Err(E::DivideByZero { pc: 7 }),
                    5 * n as u64 + 6,
                )
                .config(config)
            })
            .collect();
        let program = recursion_ending_in_an_error(4);
        cases.extend((0..=28).map(|budget| budget_case(&program, config, budget)));
        run_table(&cases);
    }
}

/// Records its arguments and returns their sum.
fn record(ctx: &mut Ctx, _: &mut MemoryMapping<'_>, args: [u64; 5]) -> Result<u64, E> {
    ctx.calls.push(args);
    Ok(args.iter().sum())
}

fn fail(_: &mut Ctx, _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, E> {
    Err(E::UserError {
        message: "no".into(),
    })
}

/// The recursion in registers whose innermost level (depth `n + 1`) runs `deepest` (pc 7)
/// and returns its r0: every level keeps its `k` in r6 across its call, so the result
/// `r0 + n (n + 1) / 2 + 1000` shows every restored frame. `7 n + 9` instructions when
/// `deepest` returns.
fn recursion_around(n: i32, deepest: Insn) -> Vec<Insn> {
    vec![
        mov(1, n),
        mov(6, 1000),
        call(1, 2),
        alu(Width::W64, AluOp::Add, 0, reg(6)),
        exit(),
        // f:
        mov(0, 1),
        branch(Width::W64, Cond::Ne, 1, k(0), 2),
        deepest,
        exit(),
        alu(Width::W64, AluOp::Mov, 6, reg(1)),
        alu(Width::W64, AluOp::Sub, 1, k(1)),
        call(1, -7),
        alu(Width::W64, AluOp::Add, 0, reg(6)),
        exit(),
    ]
}

#[test]
fn frame_records_on_the_host_stack_survive_every_way_out_at_any_depth() {
    // The JIT keeps the frame records on the host stack, below which a syscall or a miss
    // routine pushes its own return address; every way out (a syscall that continues, one
    // that fails, a fault in a miss routine, the meter at every budget) must leave the
    // interpreter's frames and registers, with r10 saved in the records (dynamic frames,
    // fixed frames whose program reads r10) or derived (fixed frames, r10 never read).
    type Frames = fn(Config) -> Config;
    let frames: [Frames; 3] = [|c| c, fixed_frames, contiguous_fixed];
    let reads_r10 = alu(Width::W64, AluOp::Mov, 0, reg(10));
    for config in frames {
        let mut cases = Vec::new();
        for n in 0..6 {
            let sum = 1000 + (n * (n + 1) / 2) as u64;
            let count = 7 * n as u64 + 9;
            cases.push(
                sbpf("syscall", recursion_around(n, call(0, 1)), Ok(sum), count)
                    .syscall(1, record)
                    .config(config),
            );
            cases.push(
                sbpf(
                    "failing syscall",
                    recursion_around(n, call(0, 1)),
                    Err(E::UserError {
                        message: "no".into(),
                    }),
                    5 * n as u64 + 6,
                )
                .syscall(1, fail)
                .config(config),
            );
            let fault = budget_case(
                &recursion_around(n, ldx(MemSize::DW, 0, 1, 0)),
                config,
                1000,
            );
            assert!(matches!(fault.expect, Err(E::AccessViolation { .. })));
            cases.push(fault);
            let r10 = budget_case(&recursion_around(n, reads_r10), config, 1000);
            assert_eq!(r10.count, count);
            cases.push(r10);
        }
        for deepest in [call(0, 1), reads_r10] {
            let program = recursion_around(4, deepest);
            cases.extend(
                (0..=38).map(|budget| budget_case_with(&program, config, budget, Some(record))),
            );
        }
        run_table(&cases);
    }
}

#[test]
fn an_exit_returning_past_the_last_slot_ends_as_on_the_interpreter() {
    // A `call` in the last slot returns past the end: its `exit` checks the return pc
    // (read from the frame record on the host stack) and bails out.
    let program = vec![
        mov(0, 1),
        branch(Width::W64, Cond::Eq, 0, k(1), 1),
        exit(),
        call(1, -2),
    ];
    let frames: [fn(Config) -> Config; 2] = [|c| c, fixed_frames];
    for config in frames {
        let case = budget_case(&program, config, 1000);
        assert!(case.expect.is_err(), "{:?}", case.expect);
        run_table(&[case]);
    }
}
