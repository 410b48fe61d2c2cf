#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Calls, syscalls, stack frames, the meter's edge cases and tracing, as tables.

mod interp_common;

use bpfvm::{
    AccessType, ContextObject, MemoryMapping, RuntimeError, MM_INPUT_START, MM_PROGRAM_START,
    MM_STACK_START,
};
use bpfvm_isa::{AluOp, Dialect, Insn, MemSize, Width};
use interp_common::*;
use RuntimeError as E;

fn sbpf(name: &'static str, program: Vec<Insn>, expect: Result<u64, E>, count: u64) -> Case {
    Case::new(name, Dialect::Sbpf, program, expect, count)
}
fn ebpf(name: &'static str, program: Vec<Insn>, expect: Result<u64, E>, count: u64) -> Case {
    Case::new(name, Dialect::Ebpf, program, expect, count)
}
fn mov_reg(dst: u8, src: u8) -> Insn {
    alu(Width::W64, AluOp::Mov, dst, reg(src))
}
fn exceeded(pc: usize, budget: u64) -> Result<u64, E> {
    Err(E::ExceededMaxInstructions { pc, budget })
}

/// Records its arguments and returns their sum.
fn record(ctx: &mut Ctx, _: &mut MemoryMapping<'_>, args: [u64; 5]) -> Result<u64, E> {
    ctx.calls.push(args);
    Ok(args.iter().sum())
}
/// Drains the whole budget.
fn drain(ctx: &mut Ctx, _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, E> {
    let all = ctx.remaining();
    ctx.consume(all);
    Ok(42)
}
/// Charges 10 instructions.
fn charge10(ctx: &mut Ctx, _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, E> {
    ctx.consume(10);
    Ok(0)
}
fn fail(_: &mut Ctx, _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, E> {
    Err(E::UserError {
        message: "no".into(),
    })
}
/// ubpf's helper 5: returns its first argument.
fn unwind(_: &mut Ctx, _: &mut MemoryMapping<'_>, args: [u64; 5]) -> Result<u64, E> {
    Ok(args[0])
}
/// Writes r1 bytes of 0xab at r2 through the mapping (syscall accesses report pc 0).
fn fill(_: &mut Ctx, memory: &mut MemoryMapping<'_>, args: [u64; 5]) -> Result<u64, E> {
    memory.write_bytes(args[1], &vec![0xab; args[0] as usize])?;
    Ok(0)
}

fn meter_cases() -> Vec<Case> {
    let three = vec![mov(0, 1), mov(0, 2), exit()];
    let lddw_exit = vec![lddw(0, 1), exit()];
    let spin = vec![Insn::Ja { off: -1 }];
    vec![
        sbpf("budget N, exit is the N-th", three.clone(), Ok(2), 3).budget(3),
        sbpf(
            "budget N-1 trips at the N-1-th",
            three.clone(),
            exceeded(2, 2),
            2,
        )
        .budget(2),
        sbpf("budget 0 still runs one", three.clone(), exceeded(1, 0), 0).budget(0),
        ebpf("budget 0 still runs one", three, exceeded(1, 0), 0).budget(0),
        sbpf("lddw trips at pc + 2", lddw_exit, exceeded(2, 1), 1).budget(1),
        sbpf(
            "jumps report the fall-through",
            spin.clone(),
            exceeded(1, 5),
            5,
        )
        .budget(5),
        ebpf("jumps report the fall-through", spin, exceeded(1, 7), 7).budget(7),
        sbpf("metering off", vec![mov(0, 1), exit()], Ok(1), 0)
            .budget(0)
            .config(|c| bpfvm::Config {
                enable_instruction_meter: false,
                ..c
            }),
        sbpf(
            "syscall draining the budget",
            vec![call(0, 1), mov(0, 1), exit()],
            exceeded(1, 50),
            50,
        )
        .budget(50)
        .syscall(1, drain),
        sbpf(
            "syscall charging its own compute",
            vec![call(0, 1), mov(0, 1), exit()],
            Ok(1),
            13,
        )
        .syscall(1, charge10),
        sbpf(
            "syscall error keeps the true count",
            vec![mov(0, 1), call(0, 1), exit()],
            Err(E::UserError {
                message: "no".into(),
            }),
            2,
        )
        .syscall(1, fail),
    ]
}

fn call_cases() -> Vec<Case> {
    // r6 is restored by the VM even though the callee clobbers it.
    let local = |dialect| {
        let program = vec![
            mov(6, 7),
            call(1, 2),
            alu(Width::W64, AluOp::Add, 0, reg(6)),
            exit(),
            mov(6, 100),
            mov(0, 1),
            exit(),
        ];
        Case::new("local call restores r6-r9", dialect, program, Ok(8), 7)
    };
    let callee_r10 = vec![call(1, 1), exit(), mov_reg(0, 10), exit()];
    let recursion = vec![mov(0, 0), call(1, -2)];
    let last_call = vec![Insn::Ja { off: 1 }, exit(), call(1, -2)];
    let syscall_args = vec![
        mov(1, 1),
        mov(2, 2),
        mov(3, 3),
        mov(4, 4),
        mov(5, 5),
        call(0, 7),
        exit(),
    ];
    let r11 = vec![
        alu(Width::W64, AluOp::Sub, 11, k(64)),
        call(1, 1),
        exit(),
        mov_reg(0, 10),
        exit(),
    ];
    // The caller's stack slot survives a callee that writes the same offset from its r10.
    let own_frame = vec![
        mov(1, 7),
        stx(MemSize::DW, 10, -8, 1),
        call(1, 2),
        ldx(MemSize::DW, 0, 10, -8),
        exit(),
        mov(1, 99),
        stx(MemSize::DW, 10, -8, 1),
        exit(),
    ];
    vec![
        local(Dialect::Sbpf),
        local(Dialect::Ebpf),
        ebpf(
            "the eBPF preset gives each call a frame",
            own_frame.clone(),
            Ok(7),
            8,
        )
        .config(|_| bpfvm::Preset::Ebpf.config()),
        ebpf(
            "dynamic frames without r11 share the caller's frame",
            own_frame,
            Ok(99),
            8,
        ),
        sbpf(
            "callee r10 with fixed gapped frames",
            callee_r10.clone(),
            Ok(MM_STACK_START + 0x3000),
            4,
        )
        .config(fixed_frames),
        sbpf(
            "callee r10 with fixed frames, no gaps",
            callee_r10.clone(),
            Ok(MM_STACK_START + 0x2000),
            4,
        )
        .config(|c| bpfvm::Config {
            dynamic_stack_frames: false,
            enable_stack_frame_gaps: false,
            ..c
        }),
        sbpf(
            "callee r10 with dynamic frames",
            callee_r10,
            Ok(MM_STACK_START + 0x14000),
            4,
        ),
        sbpf(
            "r11 moves the stack pointer",
            r11,
            Ok(MM_STACK_START + 0x14000 - 64),
            5,
        ),
        sbpf(
            "call depth exceeded",
            recursion.clone(),
            Err(E::CallDepthExceeded { pc: 1, depth: 20 }),
            40,
        ),
        ebpf(
            "call depth exceeded",
            recursion,
            Err(E::CallDepthExceeded { pc: 1, depth: 20 }),
            40,
        ),
        sbpf(
            "return past the text",
            last_call,
            Err(E::CallOutsideTextSegment {
                pc: 1,
                target: MM_PROGRAM_START + 24,
            }),
            3,
        ),
        sbpf(
            "unresolved syscall",
            vec![call(0, 99), exit()],
            Err(E::UnsupportedInstruction { pc: 0 }),
            1,
        ),
        ebpf(
            "unresolved helper",
            vec![call(0, 99), exit()],
            Err(E::UnsupportedInstruction { pc: 0 }),
            1,
        ),
        sbpf(
            "syscall gets r1-r5, r0 = result",
            syscall_args.clone(),
            Ok(15),
            7,
        )
        .syscall(7, record),
        ebpf("helper gets r1-r5, r0 = result", syscall_args, Ok(15), 7).syscall(7, record),
    ]
}

fn callx_cases() -> Vec<Case> {
    let to = |target: u64| vec![lddw(2, target), callx(2), exit(), mov(0, 9), exit()];
    let entry = MM_PROGRAM_START;
    vec![
        // The conformance `callx`: sBPF reads the register from imm (r0 = 0 here).
        sbpf(
            "conformance callx in sBPF",
            vec![mov(1, -1), mov(2, 5), callx(0), mov(0, 2), exit()],
            Err(E::CallOutsideTextSegment { pc: 2, target: 0 }),
            3,
        ),
        ebpf(
            "conformance callx in eBPF",
            vec![mov(1, -1), mov(2, 5), callx(2), mov(0, 2), exit()],
            Ok(2),
            5,
        )
        .syscall(5, unwind)
        .unwind(5),
        sbpf(
            "callx below the text rounds down",
            to(0x1003),
            Err(E::CallOutsideTextSegment {
                pc: 2,
                target: 0x1000,
            }),
            2,
        ),
        sbpf(
            "callx past the text",
            to(entry + 8 * 100 + 3),
            Err(E::CallOutsideTextSegment {
                pc: 2,
                target: entry + 800,
            }),
            2,
        ),
        sbpf(
            "callx to an unregistered pc charges one more",
            to(entry + 32),
            Err(E::UnsupportedInstruction { pc: 4 }),
            3,
        ),
        sbpf("callx to a function", to(entry), exceeded(3, 10), 10).budget(10),
        sbpf(
            "callx anywhere without static syscalls",
            to(entry + 32),
            Ok(9),
            5,
        )
        .config(legacy),
        sbpf(
            "callx into an lddw's second slot",
            to(entry + 8),
            Err(E::UnsupportedInstruction { pc: 1 }),
            3,
        )
        .config(legacy),
    ]
}

fn unwind_cases() -> Vec<Case> {
    let program = |arg: i32| vec![mov(1, arg), call(0, 5), mov(0, 2), exit()];
    vec![
        ebpf("unwind with 0 stops at once", program(0), Ok(0), 2)
            .syscall(5, unwind)
            .unwind(5),
        ebpf("unwind with non-zero continues", program(-1), Ok(2), 4)
            .syscall(5, unwind)
            .unwind(5),
        ebpf("no unwind key: a plain helper", program(0), Ok(2), 4).syscall(5, unwind),
    ]
}

fn stack_cases() -> Vec<Case> {
    let straddle = vec![
        stx(MemSize::DW, 10, -4, 1),
        ldx(MemSize::DW, 0, 10, -4),
        exit(),
    ];
    let gap = vec![stx(MemSize::B, 10, 0, 1), exit()];
    let below = vec![lddw(1, MM_STACK_START - 1), st(MemSize::B, 1, 0, 0), exit()];
    vec![
        sbpf(
            "quirk: 8-byte store at r10-4 straddles the gap",
            straddle,
            Ok(MM_INPUT_START),
            3,
        )
        .config(fixed_frames),
        sbpf(
            "store into the gap",
            gap,
            Err(E::StackAccessViolation {
                pc: 0,
                access: AccessType::Store,
                vaddr: MM_STACK_START + 0x1000,
                len: 1,
                frame: 1,
            }),
            1,
        )
        .config(fixed_frames),
        sbpf(
            "dynamic: below the stack is program",
            below,
            Err(E::AccessViolation {
                pc: 2,
                access: AccessType::Store,
                vaddr: MM_STACK_START - 1,
                len: 1,
                region: "program",
            }),
            2,
        ),
    ]
}

#[test]
fn meter_table() {
    run_table(&meter_cases());
}

#[test]
fn call_table() {
    run_table(&call_cases());
}

#[test]
fn callx_table() {
    run_table(&callx_cases());
}

#[test]
fn unwind_table() {
    run_table(&unwind_cases());
}

#[test]
fn stack_table() {
    run_table(&stack_cases());
}

#[test]
fn syscalls_see_arguments_and_memory() {
    // r6 = input; fill(3 bytes at input); r0 = the first word of the input.
    let program = vec![
        mov_reg(6, 1),
        mov(1, 3),
        mov_reg(2, 6),
        call(0, 8),
        ldx(MemSize::W, 0, 6, 0),
        exit(),
    ];
    let case = sbpf("fill", program, Ok(0x00ab_abab), 6)
        .mem(vec![0; 4])
        .syscall(8, fill);
    let outcome = run_case(&case);
    assert_eq!(outcome.result, case.expect);
    assert_eq!(outcome.count, 6);
    assert_eq!(outcome.mem, vec![0xab, 0xab, 0xab, 0]);
    // A syscall's bad pointer reports pc 0.
    let bad = sbpf(
        "fill bad",
        vec![mov(1, 2), mov(2, 0), call(0, 8), exit()],
        Ok(0),
        3,
    )
    .syscall(8, fill);
    let outcome = run_case(&bad);
    assert_eq!(
        outcome.result,
        Err(E::AccessViolation {
            pc: 0,
            access: AccessType::Store,
            vaddr: 0,
            len: 2,
            region: "unknown"
        })
    );
}

#[test]
fn tracing_logs_every_instruction_before_it_runs() {
    let program = vec![
        mov(0, 5),
        Insn::Ja { off: 1 },
        mov(0, 6),
        alu(Width::W64, AluOp::Add, 0, k(1)),
        exit(),
    ];
    let case = sbpf("trace", program, Ok(6), 4).config(|c| bpfvm::Config {
        enable_instruction_tracing: true,
        ..c
    });
    let outcome = run_case(&case);
    assert_eq!(outcome.result, Ok(6));
    let log = &outcome.ctx.inner.trace_log;
    let pcs: Vec<u64> = log.iter().map(|state| state[11]).collect();
    assert_eq!(pcs, vec![0, 1, 3, 4]);
    assert_eq!(log[0][0], 0);
    assert_eq!(log[1][0], 5); // r0 before pc 1 ran
    assert_eq!(log[3][0], 6);
    assert_eq!(log[0][1], MM_INPUT_START);
}
