//! Byte snapshots: a handful of instructions with the exact bytes the encoder must emit
//! (hand-checked against the Intel SDM), so a change in encoding choice is visible in review.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_x86::{
    AluKind, Assembler, Cond, EncodeError, Gpr, Lock, Mem, Operand, RegMem, Scale, ShiftAmount,
    ShiftKind, Size,
};

type Snapshot = (&'static str, fn(&mut Assembler) -> Result<(), EncodeError>);

const SNAPSHOTS: &[Snapshot] = &[
    ("48 01 c8", |a| {
        a.alu(AluKind::Add, Size::S64, Gpr::Rax.into(), Gpr::Rcx.into())
    }),
    ("4d 29 fc", |a| {
        a.alu(AluKind::Sub, Size::S64, Gpr::R12.into(), Gpr::R15.into())
    }),
    ("83 e7 7f", |a| {
        a.alu(AluKind::And, Size::S32, Gpr::Rdi.into(), Operand::Imm(127))
    }),
    ("48 81 ff 80 00 00 00", |a| {
        a.alu(AluKind::Cmp, Size::S64, Gpr::Rdi.into(), Operand::Imm(128))
    }),
    ("40 80 f6 ff", |a| {
        a.alu(AluKind::Xor, Size::S8, Gpr::Rsi.into(), Operand::Imm(255))
    }),
    ("66 41 83 c5 80", |a| {
        a.alu(AluKind::Add, Size::S16, Gpr::R13.into(), Operand::Imm(-128))
    }),
    ("b8 2a 00 00 00", |a| a.mov_imm(Size::S32, Gpr::Rax, 42)),
    ("49 c7 c3 ff ff ff ff", |a| {
        a.mov_imm(Size::S64, Gpr::R11, -1)
    }),
    ("49 ba 88 77 66 55 44 33 22 11", |a| {
        a.movabs(Gpr::R10, 0x1122_3344_5566_7788);
        Ok(())
    }),
    ("41 b9 ff ff ff ff", |a| {
        a.mov_imm64(Gpr::R9, 0xFFFF_FFFF);
        Ok(())
    }),
    ("48 8b 04 24", |a| {
        a.load(Size::S64, Gpr::Rax, Mem::base(Gpr::Rsp))
    }),
    ("49 8b 45 00", |a| {
        a.load(Size::S64, Gpr::Rax, Mem::base(Gpr::R13))
    }),
    ("41 89 4c 24 f8", |a| {
        a.store(Size::S32, Mem::base_disp(Gpr::R12, -8), Gpr::Rcx)
    }),
    ("66 89 8c 9d 00 01 00 00", |a| {
        a.store(
            Size::S16,
            Mem::indexed(Gpr::Rbp, Gpr::Rbx, Scale::Four, 256),
            Gpr::Rcx,
        )
    }),
    ("40 88 3c 07", |a| {
        a.store(
            Size::S8,
            Mem::indexed(Gpr::Rdi, Gpr::Rax, Scale::One, 0),
            Gpr::Rdi,
        )
    }),
    ("48 c7 43 10 00 00 00 80", |a| {
        a.store_imm(Size::S64, Mem::base_disp(Gpr::Rbx, 16), i32::MIN)
    }),
    // RBP as a base always takes a displacement, even with an index.
    ("4a 8d 44 f5 00", |a| {
        a.lea(
            Size::S64,
            Gpr::Rax,
            Mem {
                base: Gpr::Rbp,
                index: Some((Gpr::R14, Scale::Eight)),
                disp: 0,
            },
        )
    }),
    ("0f b6 c3", |a| {
        a.movzx(Size::S8, Size::S32, Gpr::Rax, Gpr::Rbx.into())
    }),
    // SIL needs an empty REX (without it the byte register would be DH).
    ("40 0f b6 c6", |a| {
        a.movzx(Size::S8, Size::S32, Gpr::Rax, RegMem::Reg(Gpr::Rsi))
    }),
    ("0f b7 c6", |a| {
        a.movzx(Size::S16, Size::S32, Gpr::Rax, RegMem::Reg(Gpr::Rsi))
    }),
    ("48 63 c1", |a| a.movsxd(Gpr::Rax, Gpr::Rcx.into())),
    ("48 d3 e0", |a| {
        a.shift(ShiftKind::Shl, Size::S64, Gpr::Rax.into(), ShiftAmount::Cl)
    }),
    ("66 c1 c0 08", |a| {
        a.shift(
            ShiftKind::Rol,
            Size::S16,
            Gpr::Rax.into(),
            ShiftAmount::Imm(8),
        )
    }),
    ("49 d1 f8", |a| {
        a.shift(
            ShiftKind::Sar,
            Size::S64,
            Gpr::R8.into(),
            ShiftAmount::Imm(1),
        )
    }),
    ("48 f7 f1", |a| a.div(Size::S64, Gpr::Rcx.into())),
    ("48 99", |a| {
        a.cqo();
        Ok(())
    }),
    ("4c 0f af c0", |a| {
        a.imul(Size::S64, Gpr::R8, Gpr::Rax.into())
    }),
    ("48 0f c8", |a| a.bswap(Size::S64, Gpr::Rax)),
    ("f0 48 0f c1 07", |a| {
        a.xadd(Lock::Locked, Size::S64, Mem::base(Gpr::Rdi), Gpr::Rax)
    }),
    ("f0 83 07 01", |a| {
        a.alu_locked(
            AluKind::Add,
            Size::S32,
            Mem::base(Gpr::Rdi),
            Operand::Imm(1),
        )
    }),
    ("48 0f 44 c1", |a| {
        a.cmov(Cond::E, Size::S64, Gpr::Rax, Gpr::Rcx.into())
    }),
    ("41 0f 9c c0", |a| a.setcc(Cond::L, Gpr::R8.into())),
    ("41 57", |a| {
        a.push(Gpr::R15);
        Ok(())
    }),
    ("41 ff d3", |a| a.call_indirect(Gpr::R11.into())),
    ("ff 64 c5 00", |a| {
        a.jmp_indirect(Mem::indexed(Gpr::Rbp, Gpr::Rax, Scale::Eight, 0).into())
    }),
    ("c3 cc 0f 0b", |a| {
        a.ret();
        a.int3();
        a.ud2();
        Ok(())
    }),
    ("0f 1f 44 00 00 66 90", |a| {
        a.nop(5);
        a.nop(2);
        Ok(())
    }),
    ("cc 0f 1f 00 c3", |a| {
        a.int3();
        a.align_with_nops(4);
        a.align_with_nops(4);
        a.ret();
        Ok(())
    }),
];

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn encodings_match_snapshots() {
    let mut failures = Vec::new();
    for (want, emit) in SNAPSHOTS {
        let mut asm = Assembler::new();
        emit(&mut asm).unwrap();
        let got = hex(&asm.finish().unwrap());
        if got != *want {
            failures.push(format!("want {want}\n got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn loop_with_labels() {
    // count down rdi to zero: a backward jcc, a forward jmp and its bind.
    let mut a = Assembler::new();
    let (top, done) = (a.new_label(), a.new_label());
    a.bind(top).unwrap();
    a.test(Size::S64, Gpr::Rdi.into(), Gpr::Rdi.into()).unwrap();
    a.jcc_short(Cond::E, done).unwrap();
    a.alu(AluKind::Sub, Size::S64, Gpr::Rdi.into(), Operand::Imm(1))
        .unwrap();
    a.jmp(top).unwrap();
    a.bind(done).unwrap();
    a.ret();
    assert_eq!(
        hex(&a.finish().unwrap()),
        "48 85 ff 74 09 48 83 ef 01 e9 f2 ff ff ff c3"
    );
}
