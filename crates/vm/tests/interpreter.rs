#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The interpreter against tables of (program, memory, budget) -> (result, instruction count),
//! in both dialects. Programs are built from typed instructions with `bpfvm_isa::encode`.

mod interp_common;

use bpfvm::{AccessType, Config, RuntimeError, MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START};
use bpfvm_isa::{AluOp, Cond, Dialect, EndianOp, Insn, MemSize, Source, Width};
use interp_common::*;
use RuntimeError as E;

/// An sBPF case with the default config, budget 1000.
fn sbpf(name: &'static str, program: Vec<Insn>, expect: Result<u64, E>, count: u64) -> Case {
    Case::new(name, Dialect::Sbpf, program, expect, count)
}

/// An eBPF case with the default config, budget 1000.
fn ebpf(name: &'static str, program: Vec<Insn>, expect: Result<u64, E>, count: u64) -> Case {
    Case::new(name, Dialect::Ebpf, program, expect, count)
}

/// Both dialects agree.
fn both(name: &'static str, program: Vec<Insn>, expect: Result<u64, E>, count: u64) -> [Case; 2] {
    [
        sbpf(name, program.clone(), expect.clone(), count),
        ebpf(name, program, expect, count),
    ]
}

fn alu64_cases() -> Vec<Case> {
    let bin =
        |op, a: i32, b: i32| vec![mov(0, a), mov(1, b), alu(Width::W64, op, 0, reg(1)), exit()];
    let imm = |op, a: i32, b: i32| vec![mov(0, a), alu(Width::W64, op, 0, k(b)), exit()];
    let mut cases = Vec::new();
    let rows: &[(&str, AluOp, i32, i32, u64)] = &[
        ("add64", AluOp::Add, 7, -9, -2i64 as u64),
        ("sub64", AluOp::Sub, 7, 9, -2i64 as u64),
        ("mul64", AluOp::Mul, -3, 5, -15i64 as u64),
        ("div64", AluOp::Div, 100, 7, 14),
        ("div64 negative divisor", AluOp::Div, 100, -1, 0),
        ("mod64", AluOp::Mod, 100, 7, 2),
        ("or64", AluOp::Or, 0x0f, 0x30, 0x3f),
        ("and64", AluOp::And, 0x3c, 0x0f, 0x0c),
        ("xor64", AluOp::Xor, 0x3c, 0x0f, 0x33),
        ("lsh64", AluOp::Lsh, 1, 63, 1 << 63),
        ("rsh64", AluOp::Rsh, -1, 60, 0xf),
        ("arsh64", AluOp::Arsh, -16, 2, -4i64 as u64),
        ("mov64", AluOp::Mov, 1, -1, u64::MAX),
    ];
    for &(name, op, a, b, want) in rows {
        cases.extend(both(name, bin(op, a, b), Ok(want), 4));
        cases.extend(both(name, imm(op, a, b), Ok(want), 3));
    }
    // Register shift amounts are masked to the width in both dialects.
    cases.extend(both("lsh64 reg masked", bin(AluOp::Lsh, 1, 65), Ok(2), 4));
    cases.extend(both(
        "neg64",
        vec![mov(0, 5), neg(Width::W64, 0), exit()],
        Ok(-5i64 as u64),
        3,
    ));
    cases
}

fn alu32_cases() -> Vec<Case> {
    let bin =
        |op, a: i32, b: i32| vec![mov(0, a), mov(1, b), alu(Width::W32, op, 0, reg(1)), exit()];
    let imm = |op, a: i32, b: i32| vec![mov(0, a), alu(Width::W32, op, 0, k(b)), exit()];
    let mut cases = Vec::new();
    // (name, op, a, b, sBPF result, eBPF result)
    let rows: &[(&str, AluOp, i32, i32, u64, u64)] = &[
        // Appendix A.1: add32/sub32/mul32 sign-extend in sBPF only.
        (
            "quirk add32 sign-extends",
            AluOp::Add,
            0x7fff_ffff,
            1,
            0xffff_ffff_8000_0000,
            0x8000_0000,
        ),
        (
            "quirk sub32 sign-extends",
            AluOp::Sub,
            0,
            1,
            u64::MAX,
            0xffff_ffff,
        ),
        (
            "quirk mul32 sign-extends",
            AluOp::Mul,
            2,
            -3,
            -6i64 as u64,
            0xffff_fffa,
        ),
        ("div32", AluOp::Div, -1, 2, 0x7fff_ffff, 0x7fff_ffff),
        ("mod32", AluOp::Mod, -1, 16, 15, 15),
        ("or32", AluOp::Or, -16, 1, 0xffff_fff1, 0xffff_fff1),
        ("and32", AluOp::And, -1, -1, 0xffff_ffff, 0xffff_ffff),
        ("xor32", AluOp::Xor, -1, 1, 0xffff_fffe, 0xffff_fffe),
        ("lsh32", AluOp::Lsh, 1, 31, 0x8000_0000, 0x8000_0000),
        ("rsh32", AluOp::Rsh, -1, 28, 0xf, 0xf),
        (
            "arsh32 zero-extends",
            AluOp::Arsh,
            -16,
            2,
            0xffff_fffc,
            0xffff_fffc,
        ),
        ("mov32", AluOp::Mov, 0, -1, 0xffff_ffff, 0xffff_ffff),
    ];
    for &(name, op, a, b, want_sbpf, want_ebpf) in rows {
        cases.push(sbpf(name, bin(op, a, b), Ok(want_sbpf), 4));
        cases.push(ebpf(name, bin(op, a, b), Ok(want_ebpf), 4));
        cases.push(sbpf(name, imm(op, a, b), Ok(want_sbpf), 3));
        cases.push(ebpf(name, imm(op, a, b), Ok(want_ebpf), 3));
    }
    let neg32 = vec![mov(0, 1), neg(Width::W32, 0), exit()];
    cases.extend(both("neg32 zero-extends", neg32, Ok(0xffff_ffff), 3));
    // arsh32 by a register uses the low 5 bits: r1 = 0x1_0000_0001 shifts by 1.
    let arsh = vec![
        mov(0, -4),
        lddw(1, 0x1_0000_0001),
        alu(Width::W32, AluOp::Arsh, 0, reg(1)),
        exit(),
    ];
    cases.extend(both("arsh32 reg masked", arsh, Ok(0xffff_fffe), 4));
    cases
}

fn division_cases() -> Vec<Case> {
    let by_reg = |w, op, a: i64, b: i64| {
        vec![
            lddw(0, a as u64),
            lddw(1, b as u64),
            alu(w, op, 0, reg(1)),
            exit(),
        ]
    };
    let mut cases = Vec::new();
    let zero = |pc| Err(E::DivideByZero { pc });
    let overflow = |pc| Err(E::DivideOverflow { pc });
    // (name, width, op, a, b, sBPF, eBPF)
    type Row = (&'static str, Width, AluOp, i64, i64, Result<u64, E>, u64);
    let rows: Vec<Row> = vec![
        ("div64 by zero", Width::W64, AluOp::Div, 9, 0, zero(4), 0),
        ("mod64 by zero", Width::W64, AluOp::Mod, 9, 0, zero(4), 9),
        (
            "div32 by zero low half",
            Width::W32,
            AluOp::Div,
            9,
            1 << 32,
            zero(4),
            0,
        ),
        (
            "mod32 by zero clears upper",
            Width::W32,
            AluOp::Mod,
            -1,
            0,
            zero(4),
            0xffff_ffff,
        ),
        (
            "sdiv64",
            Width::W64,
            AluOp::SDiv,
            -9,
            2,
            Ok(-4i64 as u64),
            -4i64 as u64,
        ),
        ("sdiv64 by zero", Width::W64, AluOp::SDiv, -9, 0, zero(4), 0),
        (
            "sdiv64 overflow",
            Width::W64,
            AluOp::SDiv,
            i64::MIN,
            -1,
            overflow(4),
            i64::MIN as u64,
        ),
        (
            "quirk sdiv32 sign-extends",
            Width::W32,
            AluOp::SDiv,
            -9,
            2,
            Ok(-4i64 as u64),
            0xffff_fffc,
        ),
        (
            "sdiv32 overflow",
            Width::W32,
            AluOp::SDiv,
            i32::MIN as i64,
            -1,
            overflow(4),
            0x8000_0000,
        ),
        (
            "sdiv32 by zero",
            Width::W32,
            AluOp::SDiv,
            5,
            1 << 32,
            zero(4),
            0,
        ),
    ];
    for (name, width, op, a, b, want_sbpf, want_ebpf) in rows {
        let count = if want_sbpf.is_ok() { 4 } else { 3 };
        cases.push(sbpf(name, by_reg(width, op, a, b), want_sbpf, count));
        cases.push(ebpf(name, by_reg(width, op, a, b), Ok(want_ebpf), 4));
    }
    // eBPF only: signed remainder, and division by an immediate zero.
    let smod_rows: &[(&str, Width, i64, i64, u64)] = &[
        ("smod64", Width::W64, -7, 2, -1i64 as u64),
        ("smod64 by zero", Width::W64, -7, 0, -7i64 as u64),
        ("smod64 MIN by -1", Width::W64, i64::MIN, -1, 0),
        ("smod32", Width::W32, -7, 2, 0xffff_ffff),
        ("smod32 by zero", Width::W32, -7, 0, 0xffff_fff9),
        ("smod32 MIN by -1", Width::W32, i32::MIN as i64, -1, 0),
    ];
    for &(name, width, a, b, want) in smod_rows {
        cases.push(ebpf(name, by_reg(width, AluOp::SMod, a, b), Ok(want), 4));
    }
    let imm0 = |w, op| vec![mov(0, -7), alu(w, op, 0, k(0)), exit()];
    cases.push(ebpf("div64 imm 0", imm0(Width::W64, AluOp::Div), Ok(0), 3));
    cases.push(ebpf(
        "mod64 imm 0",
        imm0(Width::W64, AluOp::Mod),
        Ok(-7i64 as u64),
        3,
    ));
    cases.push(ebpf(
        "mod32 imm 0",
        imm0(Width::W32, AluOp::Mod),
        Ok(0xffff_fff9),
        3,
    ));
    cases.push(ebpf(
        "sdiv32 imm 0",
        imm0(Width::W32, AluOp::SDiv),
        Ok(0),
        3,
    ));
    cases.push(ebpf(
        "smod64 imm 0",
        imm0(Width::W64, AluOp::SMod),
        Ok(-7i64 as u64),
        3,
    ));
    // sBPF sdiv by imm -1 of MIN overflows too.
    let sdiv_imm = vec![
        lddw(0, i64::MIN as u64),
        alu(Width::W64, AluOp::SDiv, 0, k(-1)),
        exit(),
    ];
    cases.push(sbpf("sdiv64 imm overflow", sdiv_imm, overflow(2), 2));
    cases
}

fn endian_movsx_cases() -> Vec<Case> {
    let value = 0x0102_0304_0506_0708u64;
    let endian = |op, bits| {
        vec![
            lddw(0, value),
            Insn::Endian {
                op,
                dst: r(0),
                bits,
            },
            exit(),
        ]
    };
    let mut cases = Vec::new();
    let rows: &[(EndianOp, i32, u64)] = &[
        (EndianOp::ToLe, 16, 0x0708),
        (EndianOp::ToLe, 32, 0x0506_0708),
        (EndianOp::ToLe, 64, value),
        (EndianOp::ToBe, 16, 0x0807),
        (EndianOp::ToBe, 32, 0x0807_0605),
        (EndianOp::ToBe, 64, 0x0807_0605_0403_0201),
    ];
    for &(op, bits, want) in rows {
        cases.extend(both("le/be", endian(op, bits), Ok(want), 3));
        if op == EndianOp::ToBe {
            cases.push(ebpf("bswap", endian(EndianOp::Swap, bits), Ok(want), 3));
        }
    }
    let movsx = |w, size, v: i32| vec![mov(1, v), alu(w, AluOp::MovSx(size), 0, reg(1)), exit()];
    cases.push(ebpf(
        "movsx8 64",
        movsx(Width::W64, MemSize::B, 0x80),
        Ok(-128i64 as u64),
        3,
    ));
    cases.push(ebpf(
        "movsx16 32",
        movsx(Width::W32, MemSize::H, 0x8000),
        Ok(0xffff_8000),
        3,
    ));
    cases.push(ebpf(
        "movsx32 64",
        movsx(Width::W64, MemSize::W, -2),
        Ok(-2i64 as u64),
        3,
    ));
    cases
}

fn memory_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mem = vec![0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    for (size, want) in [
        (MemSize::B, 0x22),
        (MemSize::H, 0x3322),
        (MemSize::W, 0x5544_3322),
    ] {
        let program = vec![ldx(size, 0, 1, 1), exit()];
        for case in both("ldx", program, Ok(want), 2) {
            cases.push(case.mem(mem.clone()));
        }
    }
    cases.extend(
        both(
            "ldxdw",
            vec![ldx(MemSize::DW, 0, 1, 0), exit()],
            Ok(0x8877_6655_4433_2211),
            2,
        )
        .map(|c| c.mem(mem.clone())),
    );
    let sign = vec![ldxs(MemSize::B, 0, 1, 7), exit()];
    cases.push(ebpf("ldxsb", sign, Ok(-120i64 as u64), 2).mem(mem.clone()));
    let sign = vec![ldxs(MemSize::W, 0, 1, 4), exit()];
    cases.push(ebpf("ldxsw", sign, Ok(0xffff_ffff_8877_6655), 2).mem(mem.clone()));
    // Stores: st imm (stdw sign-extends), stx, then load back.
    let program = vec![st(MemSize::DW, 1, 0, -2), ldx(MemSize::DW, 0, 1, 0), exit()];
    cases
        .extend(both("stdw sign-extends", program, Ok(u64::MAX - 1), 3).map(|c| c.mem(vec![0; 8])));
    let program = vec![st(MemSize::H, 1, 2, -1), ldx(MemSize::DW, 0, 1, 0), exit()];
    cases.extend(both("sth", program, Ok(0xffff_0000), 3).map(|c| c.mem(vec![0; 8])));
    let stx = vec![
        lddw(2, 0xaabb_ccdd_eeff_0011),
        stx(MemSize::W, 1, 4, 2),
        ldx(MemSize::DW, 0, 1, 0),
        exit(),
    ];
    cases.extend(both("stxw", stx, Ok(0xeeff_0011_0000_0000), 4).map(|c| c.mem(vec![0; 8])));
    // Faults carry the instruction's pc.
    let oob = vec![mov(0, 0), ldx(MemSize::W, 0, 1, 6), exit()];
    let err = E::AccessViolation {
        pc: 1,
        access: AccessType::Load,
        vaddr: MM_INPUT_START + 6,
        len: 4,
        region: "input",
    };
    cases.extend(both("ldxw out of bounds", oob, Err(err), 2).map(|c| c.mem(mem.clone())));
    let to_program = vec![lddw(1, MM_PROGRAM_START), st(MemSize::B, 1, 0, 1), exit()];
    let err = E::AccessViolation {
        pc: 2,
        access: AccessType::Store,
        vaddr: MM_PROGRAM_START,
        len: 1,
        region: "program",
    };
    cases.extend(both("store to program region", to_program, Err(err), 2));
    // The program can read its own text.
    let text = vec![lddw(1, MM_PROGRAM_START), ldx(MemSize::B, 0, 1, 0), exit()];
    cases.extend(both("read own text", text, Ok(0x18), 3));
    let heap = vec![lddw(1, 0x3_0000_0000), ldx(MemSize::B, 0, 1, 0), exit()];
    let err = E::AccessViolation {
        pc: 2,
        access: AccessType::Load,
        vaddr: 0x3_0000_0000,
        len: 1,
        region: "heap",
    };
    cases.extend(both("empty heap", heap, Err(err), 2));
    cases
}

fn atomic_cases() -> Vec<Case> {
    use bpfvm_isa::AtomicOp as A;
    let mut cases = Vec::new();
    // memory holds 0x10 (64-bit) at r1; r2 = operand; result = (memory << 32) | fetched r2 or r0
    let rows: &[(&str, MemSize, A, u64, u64, u64)] = &[
        ("lock add", MemSize::DW, A::Add, 3, 0x13, 3),
        ("lock or", MemSize::DW, A::Or, 1, 0x11, 1),
        ("lock and", MemSize::DW, A::And, 0x30, 0x10, 0x30),
        ("lock xor", MemSize::DW, A::Xor, 0x11, 0x01, 0x11),
        ("lock fetch add", MemSize::DW, A::FetchAdd, 3, 0x13, 0x10),
        ("lock fetch or", MemSize::W, A::FetchOr, 1, 0x11, 0x10),
        ("lock fetch and", MemSize::W, A::FetchAnd, 0x30, 0x10, 0x10),
        ("lock fetch xor", MemSize::DW, A::FetchXor, 0x11, 0x01, 0x10),
        ("lock xchg", MemSize::DW, A::Xchg, 0x99, 0x99, 0x10),
        // 32-bit fetch results zero-extend
        (
            "lock fetch add32 zero-extends",
            MemSize::W,
            A::FetchAdd,
            0xffff_ffff_0000_0000,
            0x10,
            0x10,
        ),
    ];
    for &(name, size, op, operand, memory_after, r2_after) in rows {
        let program = vec![
            lddw(2, operand),
            Insn::Atomic {
                size,
                op,
                base: r(1),
                off: 0,
                src: r(2),
            },
            ldx(MemSize::DW, 0, 1, 0),
            alu(Width::W64, AluOp::Sub, 0, k(memory_after as i32)),
            alu(Width::W64, AluOp::Sub, 2, k(r2_after as i32)),
            alu(Width::W64, AluOp::Or, 0, reg(2)),
            exit(),
        ];
        cases.push(ebpf(name, program, Ok(0), 7).mem(vec![0x10, 0, 0, 0, 0, 0, 0, 0]));
    }
    // cmpxchg: r0 is compared with memory; the old value goes to r0.
    for (r0, memory_after) in [(0x10u64, 0x77u64), (0x11, 0x10)] {
        let program = vec![
            mov(0, r0 as i32),
            mov(2, 0x77),
            Insn::Atomic {
                size: MemSize::DW,
                op: A::CmpXchg,
                base: r(1),
                off: 0,
                src: r(2),
            },
            ldx(MemSize::DW, 3, 1, 0),
            alu(Width::W64, AluOp::Lsh, 3, k(8)),
            alu(Width::W64, AluOp::Or, 0, reg(3)),
            exit(),
        ];
        let want = (memory_after << 8) | 0x10;
        cases.push(ebpf("lock cmpxchg", program, Ok(want), 7).mem(vec![0x10, 0, 0, 0, 0, 0, 0, 0]));
    }
    cases
}

fn branch_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // r1 = a, then `if cond(r1, b) goto +1; mov r0 1 (not taken); exit` -> r0 0 when taken.
    let rows: &[(Cond, i64, i64, bool)] = &[
        (Cond::Eq, 5, 5, true),
        (Cond::Eq, 5, 6, false),
        (Cond::Ne, 5, 6, true),
        (Cond::Gt, -1, 1, true),
        (Cond::Ge, 1, 1, true),
        (Cond::Lt, 1, -1, true),
        (Cond::Le, 2, 1, false),
        (Cond::Set, 6, 4, true),
        (Cond::Set, 6, 1, false),
        (Cond::Sgt, -1, 1, false),
        (Cond::Sge, -1, -1, true),
        (Cond::Slt, -1, 1, true),
        (Cond::Sle, 1, -1, false),
    ];
    for &(cond, a, b, taken) in rows {
        let want = if taken { 0 } else { 1 };
        let count = if taken { 5 } else { 6 };
        for src in [k(b as i32), reg(2)] {
            let program = vec![
                lddw(1, a as u64),
                mov(2, b as i32),
                mov(0, 0),
                branch(Width::W64, cond, 1, src, 1),
                mov(0, 1),
                exit(),
            ];
            cases.extend(both("branch", program, Ok(want), count));
        }
        // JMP32 compares the low halves only: put garbage in the upper halves.
        let program = vec![
            lddw(1, (a as u64 & 0xffff_ffff) | 0x1234_5678_0000_0000),
            lddw(2, b as u64),
            mov(0, 0),
            branch(Width::W32, cond, 1, reg(2), 1),
            mov(0, 1),
            exit(),
        ];
        cases.push(ebpf("jmp32", program, Ok(want), count));
    }
    cases.extend(both(
        "ja",
        vec![mov(0, 1), Insn::Ja { off: 1 }, mov(0, 2), exit()],
        Ok(1),
        3,
    ));
    cases.push(ebpf(
        "ja32",
        vec![mov(0, 1), Insn::JaLong { off: 1 }, mov(0, 2), exit()],
        Ok(1),
        3,
    ));
    cases
}

fn control_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(both("exit", vec![mov(0, 3), exit()], Ok(3), 2));
    let overrun = vec![mov(0, 3)];
    cases.extend(both(
        "execution overrun counts the phantom slot",
        overrun,
        Err(E::ExecutionOverrun { pc: 1 }),
        2,
    ));
    // The fused stream's widest fall-throughs, into the sentinel (the threaded dispatch
    // fetches them unchecked): a pair, an `lddw` and a counter-step triple as the last
    // instructions.
    cases.extend(both(
        "a fused pair runs into the phantom slot",
        vec![mov(1, 3), alu(Width::W64, AluOp::Add, 1, k(1))],
        Err(E::ExecutionOverrun { pc: 2 }),
        3,
    ));
    cases.extend(both(
        "an lddw runs into the phantom slot",
        vec![lddw(0, 7)],
        Err(E::ExecutionOverrun { pc: 2 }),
        2,
    ));
    let triple = vec![
        ldx(MemSize::W, 3, 1, 0),
        alu(Width::W64, AluOp::Add, 3, k(1)),
        stx(MemSize::W, 1, 0, 3),
    ];
    for case in both(
        "a counter step runs into the phantom slot",
        triple,
        Err(E::ExecutionOverrun { pc: 3 }),
        4,
    ) {
        cases.push(case.mem(vec![0; 4]));
    }
    cases.extend(both(
        "lddw counts once",
        vec![lddw(0, 0x1_0000_0002), exit()],
        Ok(0x1_0000_0002),
        2,
    ));
    // r1 = input address, r10 = stack pointer at entry.
    let entry = vec![
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: r(0),
            src: reg(1),
        },
        exit(),
    ];
    cases.extend(both("r1 at entry", entry, Ok(MM_INPUT_START), 2));
    let fp = vec![
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: r(0),
            src: reg(10),
        },
        exit(),
    ];
    cases.extend(both(
        "r10 dynamic",
        fp.clone(),
        Ok(MM_STACK_START + 81920),
        2,
    ));
    cases.push(sbpf("r10 fixed", fp, Ok(MM_STACK_START + 4096), 2).config(fixed_frames));
    // eBPF: r2 = length of the first host region.
    let r2 = vec![
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: r(0),
            src: reg(2),
        },
        exit(),
    ];
    cases.push(ebpf("r2 = mem length", r2.clone(), Ok(5), 2).mem(vec![0; 5]));
    cases.push(sbpf("r2 = 0 in sBPF", r2, Ok(0), 2).mem(vec![0; 5]));
    cases
}

/// The pairs the interpreter fuses (`code::fuse`): each pair alone, a second operand that
/// names the copy or the loaded value, a fused load that faults, loops closed by a fused step and branch, a jump into a pair's second
/// slot, and budgets that end inside a pair (exact steps over the plain ops).
fn fused_pair_cases() -> Vec<Case> {
    let copy = |dst, src| alu(Width::W64, AluOp::Mov, dst, reg(src));
    let op = |op, dst, src| alu(Width::W64, op, dst, src);
    let mut cases = Vec::new();
    // r2 = 5; r1 = r2; r1 OP= x; r0 = r1; exit.
    let rows: &[(&str, AluOp, Source, u64)] = &[
        ("mov+add reg naming the copy", AluOp::Add, reg(1), 10),
        ("mov+add imm", AluOp::Add, k(-7), -2i64 as u64),
        ("mov+sub imm", AluOp::Sub, k(7), -2i64 as u64),
        (
            "mov+sub imm of i32::MIN",
            AluOp::Sub,
            k(i32::MIN),
            5 + (1u64 << 31),
        ),
        ("mov+and imm", AluOp::And, k(6), 4),
        ("mov+lsh imm", AluOp::Lsh, k(62), 1 << 62),
        ("mov+rsh imm", AluOp::Rsh, k(1), 2),
    ];
    for &(name, alu_op, src, want) in rows {
        let program = vec![
            mov(2, 5),
            copy(1, 2),
            op(alu_op, 1, src),
            copy(0, 1),
            exit(),
        ];
        cases.extend(both(name, program, Ok(want), 5));
    }
    // r1 points at 01 02 .. 08: r0 = load; r0 OP= x; exit (r2 = 0x10, r0's own value
    // for `src` naming it).
    let mem: Vec<u8> = (1..=8).collect();
    let load_rows: &[(&str, MemSize, AluOp, Source, u64)] = &[
        ("ldxb+lsh imm", MemSize::B, AluOp::Lsh, k(2), 4),
        ("ldxh+add imm", MemSize::H, AluOp::Add, k(1), 0x0202),
        ("ldxw+add reg", MemSize::W, AluOp::Add, reg(2), 0x0403_0211),
        (
            "ldxdw+add reg naming the load",
            MemSize::DW,
            AluOp::Add,
            reg(0),
            0x100e_0c0a_0806_0402,
        ),
        ("ldxw+xor reg", MemSize::W, AluOp::Xor, reg(2), 0x0403_0211),
        ("ldxdw+and imm", MemSize::DW, AluOp::And, k(0xff), 1),
    ];
    for &(name, size, alu_op, src, want) in load_rows {
        let program = vec![mov(2, 0x10), ldx(size, 0, 1, 0), op(alu_op, 0, src), exit()];
        cases.extend(both(name, program, Ok(want), 4).map(|c| c.mem(mem.clone())));
    }
    // A fused load that faults names its own slot and charges only itself.
    let program = vec![
        mov(0, 0),
        ldx(MemSize::W, 0, 1, 6),
        op(AluOp::Add, 0, k(1)),
        exit(),
    ];
    let err = E::AccessViolation {
        pc: 1,
        access: AccessType::Load,
        vaddr: MM_INPUT_START + 6,
        len: 4,
        region: "input",
    };
    let fault = both("fused load out of bounds", program, Err(err), 2);
    cases.extend(fault.map(|c| c.mem(mem.clone())));
    // r0 = 0; r1 = 10; loop: r0 += 1; if COND goto loop; exit: ten turns of two.
    let loops: &[(&str, Cond, Source)] = &[
        ("add+jlt reg loop", Cond::Lt, reg(1)),
        ("add+jne reg loop", Cond::Ne, reg(1)),
        ("add+jlt imm loop", Cond::Lt, k(10)),
        ("add+jne imm loop", Cond::Ne, k(10)),
    ];
    for &(name, cond, src) in loops {
        let program = vec![
            mov(0, 0),
            mov(1, 10),
            op(AluOp::Add, 0, k(1)),
            branch(Width::W64, cond, 0, src, -2),
            exit(),
        ];
        cases.extend(both(name, program.clone(), Ok(10), 23));
        // Budget 15: six fused turns charged a run at a time, then exact steps; the add of
        // the seventh turn is the fifteenth instruction.
        let stop = Err(E::ExceededMaxInstructions { pc: 3, budget: 15 });
        for case in both(name, program, stop, 15) {
            cases.push(case.budget(15));
        }
    }
    // The exit test first: loop: r0 += 1; if r0 == 4 goto out; goto loop; out: exit.
    let program = vec![
        mov(0, 0),
        op(AluOp::Add, 0, k(1)),
        branch(Width::W64, Cond::Eq, 0, k(4), 1),
        Insn::Ja { off: -3 },
        exit(),
    ];
    cases.extend(both("add+jeq imm loop", program, Ok(4), 13));
    // A copy then a test of the copy, `while (x > 1) x >>= 1` counting the halvings of 40:
    // the branch reads the copied value.
    let halvings = vec![
        mov(2, 40),
        mov(0, 0),
        copy(3, 2),
        branch(Width::W64, Cond::Gt, 3, k(1), 1),
        exit(),
        op(AluOp::Rsh, 2, k(1)),
        op(AluOp::Add, 0, k(1)),
        Insn::Ja { off: -6 },
    ];
    cases.extend(both("mov+jgt imm loop", halvings.clone(), Ok(5), 30));
    // A budget of 3 ends inside the pair, 4 after it (the fall-through pc either way).
    for (budget, pc) in [(3u64, 3usize), (4, 4)] {
        let stop = Err(E::ExceededMaxInstructions { pc, budget });
        for case in both(
            "budget ends at a mov+jgt pair",
            halvings.clone(),
            stop,
            budget,
        ) {
            cases.push(case.budget(budget));
        }
    }
    // A copy then a test of another register, against a sign-extended immediate: 5 is not
    // above u64::MAX, so the branch falls through and r0 = the copy.
    let program = vec![
        mov(1, 5),
        mov(0, 0),
        copy(2, 1),
        branch(Width::W64, Cond::Gt, 1, k(-1), 2),
        copy(0, 2),
        exit(),
        mov(0, 99),
        exit(),
    ];
    cases.extend(both("mov+jgt imm on another register", program, Ok(5), 6));
    // A jump to the second slot of a pair runs that op alone: r3 = 2 + 10.
    let program = vec![
        mov(0, 1),
        mov(3, 2),
        Insn::Ja { off: 1 },
        copy(3, 0),
        op(AluOp::Add, 3, k(10)),
        copy(0, 3),
        exit(),
    ];
    cases.extend(both("jump into a pair's second slot", program, Ok(12), 6));
    // A budget of 2 ends after the copy, inside the pair; 3 after the pair.
    let pair = vec![
        mov(2, 5),
        copy(1, 2),
        op(AluOp::Add, 1, k(1)),
        copy(0, 1),
        exit(),
    ];
    for (budget, pc) in [(2u64, 2usize), (3, 3)] {
        let stop = Err(E::ExceededMaxInstructions { pc, budget });
        for case in both("budget ends at a pair", pair.clone(), stop, budget) {
            cases.push(case.budget(budget));
        }
    }
    cases
}

#[test]
fn alu64_table() {
    run_table(&alu64_cases());
}

#[test]
fn fused_pair_table() {
    run_table(&fused_pair_cases());
}

#[test]
fn alu32_table() {
    run_table(&alu32_cases());
}

#[test]
fn division_table() {
    run_table(&division_cases());
}

#[test]
fn endian_and_movsx_table() {
    run_table(&endian_movsx_cases());
}

#[test]
fn memory_table() {
    run_table(&memory_cases());
}

#[test]
fn atomic_table() {
    run_table(&atomic_cases());
}

#[test]
fn branch_table() {
    run_table(&branch_cases());
}

#[test]
fn control_table() {
    run_table(&control_cases());
}

#[test]
fn default_config_is_reference_default() {
    assert!(Config::default().dynamic_stack_frames);
}
