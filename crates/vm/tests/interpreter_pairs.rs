#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The fused forms added in phase G (`code::fuse`: two copies, a bit test of a copy, the
//! CRC's negate-and-mask), as tables run on every backend: each form's operands read and
//! written in the plain ops' order, a jump into its second slot (the
//! plain op alone), budgets that end inside it and after it (exact steps over the plain ops),
//! and a loop of many turns, whose chains run the form through its threaded handler. And
//! the fused memory forms of each size (phase J: one kind, so one handler, per size): the
//! loaded value and the second op at the input's last byte, a load one byte past it, and a
//! budget that ends between the load and its op.

mod interp_common;

use bpfvm::{AccessType, RuntimeError, MM_INPUT_START};
use bpfvm_isa::{AluOp, Cond, Dialect, Insn, MemSize, Source, Width};
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

/// `mov64; and64 imm; jeq imm` (a bit test of a copy): taken and not, the copy kept,
/// jumps into its second and third slots, budgets that end inside it.
fn bit_test_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // The set bits of 11 (0b1011), one bit test a turn: both ways of the branch.
    let program = vec![
        mov(0, 0),
        mov(2, 11),
        copy(3, 2),
        alu(Width::W64, AluOp::And, 3, k(1)),
        branch(Width::W64, Cond::Eq, 3, k(0), 1),
        alu(Width::W64, AluOp::Add, 0, k(1)),
        alu(Width::W64, AluOp::Rsh, 2, k(1)),
        branch(Width::W64, Cond::Ne, 2, k(0), -6),
        exit(),
    ];
    cases.extend(both(
        "mov+and+jeq counting bits",
        program,
        Ok(3),
        2 + 6 + 6 + 5 + 6 + 1,
    ));
    // r3 = r2 & 3 with r2 = 6: 2; taken when compared with 2 (r0 = r3 + r2 * 10 = 62), not
    // with 1 (r0 = 99); the copy and the mask stay in r3.
    let tested = |cmp| {
        vec![
            mov(2, 6),
            copy(3, 2),
            alu(Width::W64, AluOp::And, 3, k(3)),
            branch(Width::W64, Cond::Eq, 3, k(cmp), 2),
            mov(0, 99),
            exit(),
            alu(Width::W64, AluOp::Mul, 2, k(10)),
            alu(Width::W64, AluOp::Add, 2, reg(3)),
            copy(0, 2),
            exit(),
        ]
    };
    cases.extend(both("mov+and+jeq taken", tested(2), Ok(62), 8));
    cases.extend(both("mov+and+jeq not taken", tested(1), Ok(99), 6));
    // Budgets of 2, 3 and 4 end after the copy, after the mask and after the branch (the
    // fall-through pc each time, 0.2.38's rule).
    for (budget, pc) in [(2u64, 2usize), (3, 3), (4, 4)] {
        let stop = Err(E::ExceededMaxInstructions { pc, budget });
        for case in both("budget ends at a mov+and+jeq", tested(2), stop, budget) {
            cases.push(case.budget(budget));
        }
    }
    // Jumps into the second slot (the mask of r3 = 7 alone: 7 & 3 = 3, not 2) and the third
    // (r3 = 7, not 2).
    for (skip, want) in [(1i16, 99u64), (2, 99)] {
        let mut program = vec![mov(2, 6), mov(3, 7), Insn::Ja { off: skip }];
        program.extend(tested(2).into_iter().skip(1));
        let count = 3 + (3 - skip as u64) + 2;
        cases.extend(both("jump into a mov+and+jeq", program, Ok(want), count));
    }
    cases
}

/// The bitwise CRC step of one bit, `r0 = r0 >> 1 ^ (-(r0 & 1) & poly)`, over `turns`
/// turns: the reference value, computed here.
fn crc_bits(mut crc: u64, poly: u64, turns: u32) -> u64 {
    for _ in 0..turns {
        crc = (crc >> 1) ^ ((crc & 1).wrapping_neg() & poly);
    }
    crc
}

/// `neg64; and64 reg` (the CRC's select): in the CRC step, on both values of the low bit,
/// and budgets that end inside it.
fn select_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // r0 = start; r4 = poly; eight turns of r5 = r0; r5 &= 1; r5 = -r5; r5 &= r4; r0 >>= 1;
    // r0 ^= r5.
    let crc = |start: i32| {
        vec![
            mov(0, start),
            mov(4, 0x3b6e_20c8),
            mov(6, 8),
            copy(5, 0),
            alu(Width::W64, AluOp::And, 5, k(1)),
            Insn::Neg {
                width: Width::W64,
                dst: r(5),
            },
            alu(Width::W64, AluOp::And, 5, reg(4)),
            alu(Width::W64, AluOp::Rsh, 0, k(1)),
            alu(Width::W64, AluOp::Xor, 0, reg(5)),
            alu(Width::W64, AluOp::Add, 6, k(-1)),
            branch(Width::W64, Cond::Ne, 6, k(0), -8),
            exit(),
        ]
    };
    for start in [0x5a, 0xa5, 0x7fff_ffff] {
        let want = crc_bits(start as u64, 0x3b6e_20c8, 8);
        cases.extend(both(
            "neg+and in a CRC",
            crc(start),
            Ok(want),
            3 + 8 * 8 + 1,
        ));
    }
    // A budget of 6 ends after the first negation, inside the pair; 7 after it.
    for (budget, pc) in [(6u64, 6usize), (7, 7)] {
        let stop = Err(E::ExceededMaxInstructions { pc, budget });
        for case in both("budget ends at a neg+and", crc(1), stop, budget) {
            cases.push(case.budget(budget));
        }
    }
    cases
}

/// The sizes of the loads, each a kind of its own in every fused memory form.
const SIZES: [MemSize; 4] = [MemSize::B, MemSize::H, MemSize::W, MemSize::DW];

/// The input of the sized cases: 16 bytes 0x81, 0x82, .. 0x90 (high bits set, so a
/// sign-extended or wrongly sized load shows in the result).
fn input() -> Vec<u8> {
    (0x81..=0x90).collect()
}

/// The little-endian value of the last `size` bytes of [`input`], zero-extended.
fn last_value(size: MemSize) -> u64 {
    let bytes = input();
    let len = size.bytes() as usize;
    bytes[16 - len..]
        .iter()
        .rev()
        .fold(0, |value, &byte| value << 8 | u64::from(byte))
}

/// `r2 = -0x12345678; r0 = load(size) [r1 + 16 - size]; r0 OP= x; exit` for each fused load
/// form and size: the load reads the input's last bytes, the op reads the loaded value.
fn sized_load_cases() -> Vec<Case> {
    let r2 = -0x1234_5678i64 as u64;
    type Row = (&'static str, AluOp, Source, fn(u64, u64) -> u64);
    let rows: [Row; 6] = [
        ("ldx+add imm", AluOp::Add, k(-3), |v, _| v.wrapping_sub(3)),
        ("ldx+add reg", AluOp::Add, reg(2), |v, r2| {
            v.wrapping_add(r2)
        }),
        ("ldx+add reg naming the load", AluOp::Add, reg(0), |v, _| {
            v.wrapping_add(v)
        }),
        ("ldx+xor reg", AluOp::Xor, reg(2), |v, r2| v ^ r2),
        ("ldx+and imm", AluOp::And, k(-2), |v, _| v & !1),
        ("ldx+lsh imm", AluOp::Lsh, k(7), |v, _| v << 7),
    ];
    let mut cases = Vec::new();
    for size in SIZES {
        let last = 16 - size.bytes() as i16;
        for &(name, op, src, want) in &rows {
            let program = |off| {
                vec![
                    mov(2, r2 as i32),
                    ldx(size, 0, 1, off),
                    alu(Width::W64, op, 0, src),
                    exit(),
                ]
            };
            let value = want(last_value(size), r2);
            let ok = both(name, program(last), Ok(value), 4);
            cases.extend(ok.map(|case| case.mem(input())));
            // One byte further: the load fails at its own slot, the op never runs.
            let error = E::AccessViolation {
                pc: 1,
                access: AccessType::Load,
                vaddr: MM_INPUT_START + last as u64 + 1,
                len: size.bytes(),
                region: "input",
            };
            let past = both(name, program(last + 1), Err(error), 2);
            cases.extend(past.map(|case| case.mem(input())));
            // A budget of 2 ends after the load, inside the pair: the op is not run.
            let stop = Err(E::ExceededMaxInstructions { pc: 2, budget: 2 });
            let short = both(name, program(last), stop, 2);
            cases.extend(short.map(|case| case.mem(input()).budget(2)));
        }
    }
    cases
}

/// A fused load in a loop of many turns (its threaded handler in a chain): the sum of
/// `load(size) [r1 + i]` over `i` in 0..16 - size.
fn sized_load_loop_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for size in SIZES {
        let turns = 17 - size.bytes() as i32;
        // r0 = 0; r6 = r1; r7 = turns; loop { r3 = [r6]; r3 += r0; r0 = r3; r6 += 1;
        // r7 -= 1; if r7 != 0 continue }.
        let program = vec![
            mov(0, 0),
            alu(Width::W64, AluOp::Mov, 6, reg(1)),
            mov(7, turns),
            ldx(size, 3, 6, 0),
            alu(Width::W64, AluOp::Add, 3, reg(0)),
            alu(Width::W64, AluOp::Mov, 0, reg(3)),
            alu(Width::W64, AluOp::Add, 6, k(1)),
            alu(Width::W64, AluOp::Add, 7, k(-1)),
            branch(Width::W64, Cond::Ne, 7, k(0), -6),
            exit(),
        ];
        let bytes = input();
        let len = size.bytes() as usize;
        let want = (0..turns as usize)
            .map(|i| {
                bytes[i..i + len]
                    .iter()
                    .rev()
                    .fold(0u64, |value, &byte| value << 8 | u64::from(byte))
            })
            .fold(0u64, u64::wrapping_add);
        let count = 3 + 6 * turns as u64 + 1;
        let sum = both("a fused load in a loop", program, Ok(want), count);
        cases.extend(sum.map(|case| case.mem(input())));
    }
    cases
}

#[test]
fn sized_load_table() {
    run_table(&sized_load_cases());
}

#[test]
fn sized_load_loop_table() {
    run_table(&sized_load_loop_cases());
}

#[test]
fn bit_test_table() {
    run_table(&bit_test_cases());
}

#[test]
fn select_table() {
    run_table(&select_cases());
}

#[test]
fn copy_pair_table() {
    run_table(&copy_pair_cases());
}
