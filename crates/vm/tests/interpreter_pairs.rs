#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The fused forms added in phase G (`code::fuse`), as tables run on every backend: each
//! form's operands read and written in the plain ops' order, a jump into its second slot (the
//! plain op alone), budgets that end inside it and after it (exact steps over the plain ops),
//! and a loop of many turns, whose chains run the form through its threaded handler.

mod interp_common;

use bpfvm::RuntimeError;
use bpfvm_isa::{AluOp, Cond, Dialect, Insn, Width};
use interp_common::*;
use RuntimeError as E;

/// Both 2022 dialects agree.
fn both(name: &'static str, program: Vec<Insn>, expect: Result<u64, E>, count: u64) -> [Case; 2] {
    [
        Case::new(name, Dialect::Sbpf, program.clone(), expect.clone(), count),
        Case::new(name, Dialect::Ebpf, program, expect, count),
    ]
}

fn copy(dst: u8, src: u8) -> Insn {
    alu(Width::W64, AluOp::Mov, dst, reg(src))
}

/// `mov64; mov64`: two copies.
fn copy_pair_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // r3 = r1; r4 = r2; r0 = r3 * 100 + r4: each copy lands in its own register.
    let program = vec![
        mov(1, 3),
        mov(2, 40),
        copy(3, 1),
        copy(4, 2),
        alu(Width::W64, AluOp::Mul, 3, k(100)),
        alu(Width::W64, AluOp::Add, 3, reg(4)),
        copy(0, 3),
        exit(),
    ];
    cases.extend(both("mov+mov of two registers", program, Ok(340), 8));
    // r2 = r1; r3 = r2: the second copy reads the first's result (5), not r2's old 9.
    let program = vec![
        mov(1, 5),
        mov(2, 9),
        copy(2, 1),
        copy(3, 2),
        copy(0, 3),
        exit(),
    ];
    cases.extend(both("mov+mov reading the first copy", program, Ok(5), 6));
    // r3 = r1; r3 = r2: the second write wins.
    let program = vec![
        mov(1, 5),
        mov(2, 9),
        copy(3, 1),
        copy(3, 2),
        copy(0, 3),
        exit(),
    ];
    cases.extend(both("mov+mov into one register", program, Ok(9), 6));
    // r3 = r1; r1 = r3: r1 keeps its value, r3 holds it too: 5 * 10 + 5.
    let program = vec![
        mov(1, 5),
        mov(3, 7),
        copy(3, 1),
        copy(1, 3),
        alu(Width::W64, AluOp::Mul, 3, k(10)),
        alu(Width::W64, AluOp::Add, 3, reg(1)),
        copy(0, 3),
        exit(),
    ];
    cases.extend(both("mov+mov back", program, Ok(55), 8));
    // A jump to the second copy runs it alone: r0 = r3 = 7, the first copy skipped.
    let program = vec![
        mov(1, 5),
        mov(3, 7),
        Insn::Ja { off: 1 },
        copy(3, 1),
        copy(0, 3),
        exit(),
    ];
    cases.extend(both("jump into a mov+mov's second slot", program, Ok(7), 5));
    // A budget of 3 ends after the first copy, inside the pair; 4 after the pair (the
    // fall-through pc either way, 0.2.38's rule).
    let pair = vec![mov(1, 5), mov(2, 9), copy(3, 1), copy(4, 3), exit()];
    for (budget, pc) in [(3u64, 3usize), (4, 4)] {
        let stop = Err(E::ExceededMaxInstructions { pc, budget });
        for case in both("budget ends at a mov+mov", pair.clone(), stop, budget) {
            cases.push(case.budget(budget));
        }
    }
    // A thousand turns of `r7 = r6; r0 = r7; r6 -= 1`: r0 ends as the last turn's r6, 1.
    let program = vec![
        mov(0, 0),
        mov(6, 1000),
        copy(7, 6),
        copy(0, 7),
        alu(Width::W64, AluOp::Add, 6, k(-1)),
        branch(Width::W64, Cond::Ne, 6, k(0), -4),
        exit(),
    ];
    for case in both("mov+mov in a loop", program, Ok(1), 2 + 4 * 1000 + 1) {
        cases.push(case.budget(10_000));
    }
    cases
}

#[test]
fn copy_pair_table() {
    run_table(&copy_pair_cases());
}
