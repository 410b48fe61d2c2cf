//! Operand combinations x86 cannot encode: each is an error value, and a failed instruction
//! leaves the buffer exactly as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_x86::{
    AluKind, Assembler, Cond, EncodeError, Gpr, Lock, Mem, Operand, RegMem, Scale, ShiftAmount,
    ShiftKind, Size,
};

type Case = (
    &'static str,
    fn(&mut Assembler) -> Result<(), EncodeError>,
    EncodeError,
);

const RSP_INDEX: Mem = Mem {
    base: Gpr::Rax,
    index: Some((Gpr::Rsp, Scale::Two)),
    disp: 8,
};
const M: Mem = Mem {
    base: Gpr::Rdi,
    index: None,
    disp: 0,
};

fn imm_error(mnemonic: &'static str, size: Size, imm: i64) -> EncodeError {
    EncodeError::ImmediateOutOfRange {
        mnemonic,
        size,
        imm,
    }
}

const CASES: &[Case] = &[
    (
        "rsp index: load",
        |a| a.load(Size::S64, Gpr::Rax, RSP_INDEX),
        EncodeError::RspAsIndex,
    ),
    (
        "rsp index: lea",
        |a| a.lea(Size::S64, Gpr::Rax, RSP_INDEX),
        EncodeError::RspAsIndex,
    ),
    (
        "rsp index: alu",
        |a| a.alu(AluKind::Add, Size::S32, RSP_INDEX.into(), Operand::Imm(1)),
        EncodeError::RspAsIndex,
    ),
    (
        "rsp index: jmp",
        |a| a.jmp_indirect(RSP_INDEX.into()),
        EncodeError::RspAsIndex,
    ),
    (
        "rsp index: shift",
        |a| a.shift(ShiftKind::Shl, Size::S8, RSP_INDEX.into(), ShiftAmount::Cl),
        EncodeError::RspAsIndex,
    ),
    (
        "two mems: alu",
        |a| a.alu(AluKind::Or, Size::S64, M.into(), M.into()),
        EncodeError::TwoMemoryOperands { mnemonic: "or" },
    ),
    (
        "two mems: test",
        |a| a.test(Size::S64, M.into(), M.into()),
        EncodeError::TwoMemoryOperands { mnemonic: "test" },
    ),
    (
        "imm8 too big",
        |a| a.alu(AluKind::Add, Size::S8, Gpr::Rax.into(), Operand::Imm(256)),
        EncodeError::ImmediateOutOfRange {
            mnemonic: "add",
            size: Size::S8,
            imm: 256,
        },
    ),
    (
        "imm8 too small",
        |a| a.mov_imm(Size::S8, Gpr::Rax, -129),
        EncodeError::ImmediateOutOfRange {
            mnemonic: "mov",
            size: Size::S8,
            imm: -129,
        },
    ),
    (
        "imm16 too big",
        |a| a.store_imm(Size::S16, M, 65536),
        EncodeError::ImmediateOutOfRange {
            mnemonic: "mov",
            size: Size::S16,
            imm: 65536,
        },
    ),
    (
        "imm16 too small",
        |a| a.test(Size::S16, Gpr::Rcx.into(), Operand::Imm(-32769)),
        EncodeError::ImmediateOutOfRange {
            mnemonic: "test",
            size: Size::S16,
            imm: -32769,
        },
    ),
    (
        "imul imm16",
        |a| a.imul_imm(Size::S16, Gpr::Rax, Gpr::Rcx.into(), 70000),
        EncodeError::ImmediateOutOfRange {
            mnemonic: "imul",
            size: Size::S16,
            imm: 70000,
        },
    ),
    (
        "imul bytes",
        |a| a.imul(Size::S8, Gpr::Rax, Gpr::Rcx.into()),
        EncodeError::UnsupportedSize {
            mnemonic: "imul",
            size: Size::S8,
        },
    ),
    (
        "cmov bytes",
        |a| a.cmov(Cond::E, Size::S8, Gpr::Rax, Gpr::Rcx.into()),
        EncodeError::UnsupportedSize {
            mnemonic: "cmov",
            size: Size::S8,
        },
    ),
    (
        "bswap words",
        |a| a.bswap(Size::S16, Gpr::Rax),
        EncodeError::UnsupportedSize {
            mnemonic: "bswap",
            size: Size::S16,
        },
    ),
    (
        "lea bytes",
        |a| a.lea(Size::S8, Gpr::Rax, M),
        EncodeError::UnsupportedSize {
            mnemonic: "lea",
            size: Size::S8,
        },
    ),
    (
        "movzx same width",
        |a| a.movzx(Size::S16, Size::S16, Gpr::Rax, Gpr::Rcx.into()),
        EncodeError::InvalidExtension {
            mnemonic: "movzx",
            from: Size::S16,
            to: Size::S16,
        },
    ),
    (
        "movzx from 32",
        |a| a.movzx(Size::S32, Size::S64, Gpr::Rax, Gpr::Rcx.into()),
        EncodeError::InvalidExtension {
            mnemonic: "movzx",
            from: Size::S32,
            to: Size::S64,
        },
    ),
    (
        "movsx narrowing",
        |a| a.movsx(Size::S64, Size::S32, Gpr::Rax, RegMem::Mem(M)),
        EncodeError::InvalidExtension {
            mnemonic: "movsx",
            from: Size::S64,
            to: Size::S32,
        },
    ),
    (
        "lock cmp",
        |a| a.alu_locked(AluKind::Cmp, Size::S64, M, Operand::Imm(0)),
        EncodeError::LockNotAllowed { mnemonic: "cmp" },
    ),
    (
        "lock xadd rsp index",
        |a| a.xadd(Lock::Locked, Size::S64, RSP_INDEX, Gpr::Rax),
        EncodeError::RspAsIndex,
    ),
];

#[test]
fn unencodable_operands_are_errors_and_write_nothing() {
    for (name, emit, want) in CASES {
        let mut asm = Assembler::new();
        asm.ret();
        assert_eq!(emit(&mut asm), Err(*want), "{name}");
        assert_eq!(asm.code(), [0xC3], "{name} left bytes behind");
        assert!(!want.to_string().is_empty());
    }
    assert_eq!(
        imm_error("add", Size::S8, 256).to_string(),
        "immediate 256 does not fit the 8-bit operand of `add`"
    );
}
