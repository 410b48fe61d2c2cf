#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The threaded interpreter's chains of handlers, as tables run on every backend: a
//! straight run longer than one chain may be (it runs through the `match`), loops whose
//! thousands of run heads use up many chains' fuel, budgets and errors that end a run deep
//! inside a chain, accesses of the unaligned mapping, which every handler hands back to
//! the general path, and budgets that run out at every instruction of loops closed by each
//! kind of jump that carries its run lengths (`Target`).

mod interp_common;

use bpfvm::{Config, ContextObject, MemoryMapping, RuntimeError, MM_PROGRAM_START};
use bpfvm_isa::{AluOp, Cond, Dialect, Insn, MemSize, SbpfVersion, Width};
use interp_common::*;
use RuntimeError as E;

/// Both 2022 dialects agree.
fn both(name: &'static str, program: Vec<Insn>, expect: Result<u64, E>, count: u64) -> [Case; 2] {
    [
        Case::new(name, Dialect::Sbpf, program.clone(), expect.clone(), count),
        Case::new(name, Dialect::Ebpf, program, expect, count),
    ]
}

/// `r0 += 1`, `length` times, then `exit`: one straight run of `length + 1`.
fn straight(length: usize) -> Vec<Insn> {
    let mut program = vec![alu(Width::W64, AluOp::Add, 0, k(1)); length];
    program.push(exit());
    program
}

/// `r0 = 0; r6 = turns; loop { r0 += 1; r6 -= 1; if r6 != 0 continue }` and then `tail`.
/// The loop's body is at slots 2-4; `r0` counts the turns.
fn counted_loop(turns: i32, tail: Vec<Insn>) -> Vec<Insn> {
    let mut program = vec![
        mov(0, 0),
        mov(6, turns),
        alu(Width::W64, AluOp::Add, 0, k(1)),
        alu(Width::W64, AluOp::Add, 6, k(-1)),
        branch(Width::W64, Cond::Ne, 6, k(0), -3),
    ];
    program.extend(tail);
    program
}

fn chain_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // 5000 is longer than a chain's fuel (4096 instructions).
    for case in both("a straight run of 5001", straight(5000), Ok(5000), 5001) {
        cases.push(case.budget(10_000));
    }
    // The 0.2.38 rule: the budget runs out after the 150th `add`, at slot 149, and the error
    // names the fall-through.
    let stop = Err(E::ExceededMaxInstructions {
        pc: 150,
        budget: 150,
    });
    for case in both(
        "a straight run of 301, budget 150",
        straight(300),
        stop,
        150,
    ) {
        cases.push(case.budget(150));
    }
    // 1000 turns: 1000 run heads, many chains.
    for case in both(
        "a loop of 1000 turns",
        counted_loop(1000, vec![exit()]),
        Ok(1000),
        2 + 3 * 1000 + 1,
    ) {
        cases.push(case.budget(10_000));
    }
    // A budget of 1000 ends in the 333rd turn: 2 + 3 * 332 = 998 instructions before it,
    // then the `add r0` and the `add r6` (slot 3); the fall-through is slot 4.
    let stop = Err(E::ExceededMaxInstructions {
        pc: 4,
        budget: 1000,
    });
    cases.extend(both(
        "a loop of 1000 turns, budget 1000",
        counted_loop(1000, vec![exit()]),
        stop,
        1000,
    ));
    // An error after 100 turns, deep in a chain: the division at slot 6 (sBPF; eBPF divides
    // by zero to 0).
    let divide = vec![mov(2, 0), alu(Width::W64, AluOp::Div, 0, reg(2)), exit()];
    cases.push(Case::new(
        "a division by zero after 100 turns",
        Dialect::Sbpf,
        counted_loop(100, divide),
        Err(E::DivideByZero { pc: 6 }),
        2 + 3 * 100 + 2,
    ));
    cases
}

/// Charges 10 instructions of compute.
fn charge10(ctx: &mut Ctx, _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, E> {
    ctx.consume(10);
    Ok(0)
}

/// Syscalls inside a chain: each reads and resets the meter, which a chain otherwise keeps
/// as its fuel, and charges compute of its own, which bounds the fuel after it.
fn syscall_cases() -> Vec<Case> {
    // r0 = 0; r6 = 50; loop { r0 = syscall (0, and 10 of compute); r0 += 1; r6 -= 1 }: 2 +
    // 50 * 4 + 1 instructions and 500 of compute, r0 = 1.
    let program = vec![
        mov(0, 0),
        mov(6, 50),
        call(0, 1),
        alu(Width::W64, AluOp::Add, 0, k(1)),
        alu(Width::W64, AluOp::Add, 6, k(-1)),
        branch(Width::W64, Cond::Ne, 6, k(0), -4),
        exit(),
    ];
    let mut cases = Vec::new();
    for case in both("a syscall in each of 50 turns", program.clone(), Ok(1), 703) {
        cases.push(case.budget(703).syscall(1, charge10));
    }
    // One short: after the last syscall 3 remain, which the last turn's `add`, `add` and
    // `jne` (slot 5) use up; the error names the fall-through.
    let stop = Err(E::ExceededMaxInstructions { pc: 6, budget: 702 });
    for case in both(
        "a syscall in each of 50 turns, one short",
        program,
        stop,
        702,
    ) {
        cases.push(case.budget(702).syscall(1, charge10));
    }
    cases
}

/// The fused triple `ldx r; add r, imm; stx r` (a counter stepped in memory): in a loop, on
/// both mappings (on the unaligned one every access is retried through the general path),
/// and a store that fails after the load and the add ran, in the middle of its run.
fn triple_cases() -> Vec<Case> {
    let unaligned = |config: Config| Config {
        aligned_memory_mapping: false,
        ..config
    };
    // [r1] += 5, 20 times; r0 = [r1]: 1 + 100.
    let program = vec![
        mov(0, 0),
        mov(6, 20),
        ldx(MemSize::W, 3, 1, 0),
        alu(Width::W64, AluOp::Add, 3, k(5)),
        stx(MemSize::W, 1, 0, 3),
        alu(Width::W64, AluOp::Add, 6, k(-1)),
        branch(Width::W64, Cond::Ne, 6, k(0), -5),
        ldx(MemSize::W, 0, 1, 0),
        exit(),
    ];
    let mut cases = Vec::new();
    for case in both(
        "a counter in memory",
        program.clone(),
        Ok(101),
        2 + 5 * 20 + 2,
    ) {
        cases.push(case.mem(vec![1, 0, 0, 0]));
    }
    for case in both(
        "a counter in memory on the unaligned mapping",
        program,
        Ok(101),
        2 + 5 * 20 + 2,
    ) {
        cases.push(case.mem(vec![1, 0, 0, 0]).config(unaligned));
    }
    for size in [MemSize::B, MemSize::H, MemSize::W, MemSize::DW] {
        // The text is read-only: the load and the add run, the store (slot 5) fails, and
        // the two instructions after it in its run are not charged.
        let program = vec![
            lddw(1, MM_PROGRAM_START),
            mov(0, 0),
            ldx(size, 3, 1, 0),
            alu(Width::W64, AluOp::Add, 3, k(1)),
            stx(size, 1, 0, 3),
            mov(0, 1),
            mov(0, 2),
            exit(),
        ];
        let error = E::AccessViolation {
            pc: 5,
            access: bpfvm::AccessType::Store,
            vaddr: MM_PROGRAM_START,
            len: size.bytes(),
            region: "program",
        };
        cases.extend(both(
            "a counter in the read-only text",
            program.clone(),
            Err(error.clone()),
            5,
        ));
        for case in both(
            "a counter in the read-only text on the unaligned mapping",
            program,
            Err(error),
            5,
        ) {
            cases.push(case.config(unaligned));
        }
        cases.extend(counter_edge_cases(size));
    }
    cases
}

/// The counter step of one `size` at the input's edge (16 bytes of 0xff), where the triple
/// loads and stores through one lookup: a counter ending at the last byte, which wraps in
/// memory but not in the register (the add is 64-bit, the store keeps the low bytes); one
/// a byte further, whose load (the triple's first slot) fails; and budgets that run out
/// after the triple's load, after its add and after its store.
fn counter_edge_cases(size: MemSize) -> Vec<Case> {
    let len = size.bytes();
    let last = (16 - len) as i16;
    let input = || vec![0xff; 16];
    // r3 = [r1 + last] + 1, stored; r0 = r3 + [r1 + last] (0 after the wrap): 2^(8 len).
    let program = vec![
        mov(0, 0),
        ldx(size, 3, 1, last),
        alu(Width::W64, AluOp::Add, 3, k(1)),
        stx(size, 1, last, 3),
        ldx(size, 4, 1, last),
        alu(Width::W64, AluOp::Mov, 0, reg(3)),
        alu(Width::W64, AluOp::Add, 0, reg(4)),
        exit(),
    ];
    let wrapped = 1u64.checked_shl(8 * len as u32).unwrap_or(0);
    let mut cases = Vec::new();
    for case in both(
        "a counter at the input's end",
        program.clone(),
        Ok(wrapped),
        8,
    ) {
        cases.push(case.mem(input()));
    }
    for (budget, pc) in [(2, 2), (3, 3), (4, 4)] {
        let stop = Err(E::ExceededMaxInstructions { pc, budget });
        for case in both(
            "a counter at the input's end, budget short",
            program.clone(),
            stop,
            budget,
        ) {
            cases.push(case.mem(input()).budget(budget));
        }
    }
    let over = vec![
        mov(0, 0),
        ldx(size, 3, 1, last + 1),
        alu(Width::W64, AluOp::Add, 3, k(1)),
        stx(size, 1, last + 1, 3),
        exit(),
    ];
    let error = E::AccessViolation {
        pc: 1,
        access: bpfvm::AccessType::Load,
        vaddr: bpfvm::MM_INPUT_START + last as u64 + 1,
        len,
        region: "input",
    };
    for case in both("a counter one byte past the input", over, Err(error), 2) {
        cases.push(case.mem(input()));
    }
    cases
}

/// Loads and stores in a loop on the unaligned mapping: every access misses the aligned
/// lookup, so every memory handler hands its instruction to the general path.
fn unaligned_cases() -> Vec<Case> {
    let unaligned = |config: Config| Config {
        aligned_memory_mapping: false,
        ..config
    };
    let mut cases = Vec::new();
    // r0 = 0; r2 = 100; loop { r3 = [r1 + 1]; r0 += r3; [r1 + 2] = r0; r2 -= 1 } ; r0 +=
    // [r1 + 2] (the last sum, stored): 100 * 7 + 700.
    let program = vec![
        mov(0, 0),
        mov(2, 100),
        ldx(MemSize::B, 3, 1, 1),
        alu(Width::W64, AluOp::Add, 0, reg(3)),
        stx(MemSize::H, 1, 2, 0),
        alu(Width::W64, AluOp::Add, 2, k(-1)),
        branch(Width::W64, Cond::Ne, 2, k(0), -5),
        ldx(MemSize::H, 4, 1, 2),
        alu(Width::W64, AluOp::Add, 0, reg(4)),
        exit(),
    ];
    for case in both(
        "loads and stores on the unaligned mapping",
        program,
        Ok(1400),
        2 + 5 * 100 + 3,
    ) {
        cases.push(case.mem(vec![0, 7, 0, 0]).budget(10_000).config(unaligned));
    }
    // A load past the input on the unaligned mapping, after 50 turns: the error names the
    // load's slot.
    let program = counted_loop(50, vec![ldx(MemSize::W, 3, 1, 2), exit()]);
    let outcome = Err(E::AccessViolation {
        pc: 5,
        access: bpfvm::AccessType::Load,
        vaddr: bpfvm::MM_INPUT_START + 2,
        len: 4,
        region: "input",
    });
    for case in both(
        "a load past the input on the unaligned mapping",
        program,
        outcome,
        2 + 3 * 50 + 1,
    ) {
        cases.push(case.mem(vec![0; 4]).config(unaligned));
    }
    cases
}

/// A loop of `turns` turns closed by `body`'s last instruction (a jump back to slot 4, taken
/// in every turn but the last), with r0 counting the turns: `r0 = 0; r6 = turns; r7 = 0; r8
/// = turns`, then `r0 += 1` at slot 4 and `body`, then `r0 += 100; exit`. Each body runs its
/// slots in order (its jumps inside go to the next slot or are never taken).
struct JumpLoop {
    name: &'static str,
    /// Slots 5 onwards; the last one jumps back to slot 4.
    body: Vec<Insn>,
    /// Whether r6 counts up from 0 to `turns` instead of down to 0.
    up: bool,
}

/// Each jump that carries its run lengths closing a loop, and one that looks them up (the
/// fused `add; jne imm`), for comparison.
fn jump_loops() -> Vec<JumpLoop> {
    let sub1 = alu(Width::W64, AluOp::Sub, 6, k(1));
    let back = |cond: Cond, dst: u8, src, at: i16| branch(Width::W64, cond, dst, src, 4 - at - 1);
    vec![
        JumpLoop {
            name: "jgt reg",
            body: vec![sub1, back(Cond::Gt, 6, reg(7), 6)],
            up: false,
        },
        JumpLoop {
            name: "jgt imm",
            body: vec![sub1, back(Cond::Gt, 6, k(0), 6)],
            up: false,
        },
        JumpLoop {
            name: "ja and a branch never taken",
            body: vec![
                Insn::Ja { off: 0 },
                sub1,
                branch(Width::W64, Cond::Eq, 6, k(1000), 0),
                back(Cond::Ne, 6, k(0), 8),
            ],
            up: false,
        },
        JumpLoop {
            name: "mov; jgt imm (fused)",
            body: vec![
                sub1,
                alu(Width::W64, AluOp::Mov, 9, reg(6)),
                back(Cond::Gt, 9, k(0), 7),
            ],
            up: false,
        },
        JumpLoop {
            name: "add; jlt reg (fused)",
            body: vec![
                alu(Width::W64, AluOp::Add, 6, k(1)),
                back(Cond::Lt, 6, reg(8), 6),
            ],
            up: true,
        },
        JumpLoop {
            name: "add; jne reg (fused)",
            body: vec![
                alu(Width::W64, AluOp::Add, 6, k(-1)),
                back(Cond::Ne, 6, reg(7), 6),
            ],
            up: false,
        },
        JumpLoop {
            name: "add; jne imm (fused)",
            body: vec![
                alu(Width::W64, AluOp::Add, 6, k(-1)),
                back(Cond::Ne, 6, k(0), 6),
            ],
            up: false,
        },
        JumpLoop {
            name: "add; jlt imm (fused)",
            body: vec![
                alu(Width::W64, AluOp::Add, 6, k(1)),
                back(Cond::Lt, 6, k(5), 6),
            ],
            up: true,
        },
        JumpLoop {
            name: "add; jlt imm with a step wider than a byte (apart)",
            body: vec![
                alu(Width::W64, AluOp::Add, 6, k(200)),
                back(Cond::Lt, 6, k(1000), 6),
            ],
            up: true,
        },
        JumpLoop {
            // r9 = (r6 - 1) >> 63 is 0 until r6 reaches 0; the add steps r8 beside it.
            name: "add; jeq imm (fused)",
            body: vec![
                sub1,
                alu(Width::W64, AluOp::Mov, 9, reg(6)),
                alu(Width::W64, AluOp::Add, 9, k(-1)),
                alu(Width::W64, AluOp::Rsh, 9, k(63)),
                alu(Width::W64, AluOp::Add, 8, k(1)),
                back(Cond::Eq, 9, k(0), 10),
            ],
            up: false,
        },
        JumpLoop {
            // r5 = r6 + 7 runs 8, 9, 10, 11, 12: `& 12` is 8 in all turns but the last.
            name: "mov; and; jeq (fused triple)",
            body: vec![
                alu(Width::W64, AluOp::Add, 6, k(1)),
                alu(Width::W64, AluOp::Mov, 5, reg(6)),
                alu(Width::W64, AluOp::Add, 5, k(7)),
                alu(Width::W64, AluOp::Mov, 9, reg(5)),
                alu(Width::W64, AluOp::And, 9, k(12)),
                back(Cond::Eq, 9, k(8), 10),
            ],
            up: true,
        },
        JumpLoop {
            // r5 = r6 + 251 runs 252 to 256: `& 508` is 252 in all turns but the last; the
            // comparand needs more than a byte, so the triple is not fused.
            name: "mov; and; jeq with a wide comparand (pair and branch)",
            body: vec![
                alu(Width::W64, AluOp::Add, 6, k(1)),
                alu(Width::W64, AluOp::Mov, 5, reg(6)),
                alu(Width::W64, AluOp::Add, 5, k(251)),
                alu(Width::W64, AluOp::Mov, 9, reg(5)),
                alu(Width::W64, AluOp::And, 9, k(508)),
                back(Cond::Eq, 9, k(252), 10),
            ],
            up: true,
        },
    ]
}

/// Every budget from 1 to one past the loop's count, on the 2022 dialects (a budget that
/// runs out names the fall-through of the last instruction run, even of a taken jump) and
/// on SBPF V0 under 0.26 (it names where control went: a taken jump's target). The slots run
/// in order: the four before the loop, `turns` times slots 4 to the jump, then the two after.
fn jump_run_cases() -> Vec<Case> {
    const TURNS: i32 = 5;
    let dialects = [
        Dialect::Sbpf,
        Dialect::Ebpf,
        Dialect::Sbpf26(SbpfVersion::V0),
    ];
    let mut cases = Vec::new();
    for JumpLoop { name, body, up } in jump_loops() {
        let start = if up { 0 } else { TURNS };
        let mut program = vec![mov(0, 0), mov(6, start), mov(7, 0), mov(8, TURNS)];
        program.push(alu(Width::W64, AluOp::Add, 0, k(1)));
        program.extend(body);
        let back = program.len() - 1;
        program.push(alu(Width::W64, AluOp::Add, 0, k(100)));
        program.push(exit());
        // (slot, where control went) of each instruction run, in order.
        let mut trace: Vec<(usize, usize)> = (0..4).map(|slot| (slot, slot + 1)).collect();
        for turn in 1..=TURNS {
            trace.extend((4..back).map(|slot| (slot, slot + 1)));
            trace.push((back, if turn < TURNS { 4 } else { back + 1 }));
        }
        trace.extend([(back + 1, back + 2), (back + 2, back + 3)]);
        let count = trace.len() as u64;
        for dialect in dialects {
            for budget in 1..=count + 1 {
                let (expect, ran) = match trace.get(budget as usize - 1) {
                    Some(&(slot, went)) if budget < count => {
                        let pc = match dialect {
                            Dialect::Sbpf26(_) => went,
                            _ => slot + 1,
                        };
                        (Err(E::ExceededMaxInstructions { pc, budget }), budget)
                    }
                    _ => (Ok(TURNS as u64 + 100), count),
                };
                let case = Case::new(name, dialect, program.clone(), expect, ran);
                cases.push(case.budget(budget));
            }
        }
    }
    cases
}

/// A loop that calls a function in every turn, with every budget from 1 to one past the
/// count on the 2022 dialects: a budget that runs out at the call's target, at the callee's
/// `exit`, at the return slot and one instruction either side of each, after a `call` and
/// after a `callx` (eBPF: no static syscalls, so it may land on any slot). Calls and
/// returns look their run lengths up (`Branch32` too): these rows guard the meter there for
/// when they carry them (PERFORMANCE.md, phase M, section 4).
fn call_run_cases() -> Vec<Case> {
    const TURNS: i32 = 4;
    let f = |at: usize| -> Vec<Insn> {
        // `r0 += 10; exit` at `at`, the loop's `if r6 != 0 goto 4` just before it.
        let back = branch(Width::W64, Cond::Ne, 6, k(0), 4 - (at as i16 - 2) - 1);
        vec![back, exit(), alu(Width::W64, AluOp::Add, 0, k(10)), exit()]
    };
    // Slots 0-3 set up (the first program pads with two `r0 = 0`), 4-5 are `r0 += 1` and
    // the call, 6 is `r6 -= 1`, 7 the loop's branch, 8 exits, and `f` is at 9-10.
    let call = {
        let mut program = vec![mov(0, 0), mov(6, TURNS), mov(0, 0), mov(0, 0)];
        program.extend([alu(Width::W64, AluOp::Add, 0, k(1)), call(1, 3)]);
        program.push(alu(Width::W64, AluOp::Add, 6, k(-1)));
        program.extend(f(9));
        program
    };
    let callx = {
        let f_address = MM_PROGRAM_START + 9 * 8;
        let mut program = vec![mov(0, 0), mov(6, TURNS), lddw(5, f_address)];
        program.extend([alu(Width::W64, AluOp::Add, 0, k(1)), callx(5)]);
        program.push(alu(Width::W64, AluOp::Add, 6, k(-1)));
        program.extend(f(9));
        program
    };
    // (slot, the slot after it) of each instruction run, in order.
    let trace = |setup: &[(usize, usize)]| {
        let mut trace = setup.to_vec();
        for _ in 0..TURNS {
            trace.extend([(4, 5), (5, 6), (9, 10), (10, 11), (6, 7), (7, 8)]);
        }
        trace.push((8, 9));
        trace
    };
    let rows = [
        (
            "a call and its return in a loop",
            call.clone(),
            Dialect::Sbpf,
            trace(&[(0, 1), (1, 2), (2, 3), (3, 4)]),
        ),
        (
            "a call and its return in a loop",
            call,
            Dialect::Ebpf,
            trace(&[(0, 1), (1, 2), (2, 3), (3, 4)]),
        ),
        (
            "a callx and its return in a loop",
            callx,
            Dialect::Ebpf,
            trace(&[(0, 1), (1, 2), (2, 4)]),
        ),
    ];
    let mut cases = Vec::new();
    for (name, program, dialect, trace) in rows {
        let count = trace.len() as u64;
        for budget in 1..=count + 1 {
            let (expect, ran) = match trace.get(budget as usize - 1) {
                Some(&(_, after)) if budget < count => (
                    Err(E::ExceededMaxInstructions { pc: after, budget }),
                    budget,
                ),
                _ => (Ok(TURNS as u64 * 11), count),
            };
            let case = Case::new(name, dialect, program.clone(), expect, ran);
            cases.push(case.budget(budget));
        }
    }
    cases
}

/// A jump to a run longer than a `Target` holds (more than 65,534 instructions): its length
/// is not known to the jump, and the budget still runs out exactly.
fn long_target_cases() -> Vec<Case> {
    let mut program = vec![Insn::Ja { off: 0 }];
    program.extend(straight(70_000));
    let mut cases = Vec::new();
    for case in both(
        "a jump to a run of 70,001",
        program.clone(),
        Ok(70_000),
        70_002,
    ) {
        cases.push(case.budget(70_002));
    }
    let stop = Err(E::ExceededMaxInstructions {
        pc: 70_001,
        budget: 70_001,
    });
    for case in both(
        "a jump to a run of 70,001, one short",
        program,
        stop,
        70_001,
    ) {
        cases.push(case.budget(70_001));
    }
    cases
}

#[test]
fn jump_run_table() {
    run_table(&jump_run_cases());
}

#[test]
fn call_run_table() {
    run_table(&call_run_cases());
}

#[test]
fn long_target_table() {
    run_table(&long_target_cases());
}

#[test]
fn chain_table() {
    run_table(&chain_cases());
}

#[test]
fn triple_table() {
    run_table(&triple_cases());
}

#[test]
fn syscall_table() {
    run_table(&syscall_cases());
}

#[test]
fn unaligned_mapping_table() {
    run_table(&unaligned_cases());
}
