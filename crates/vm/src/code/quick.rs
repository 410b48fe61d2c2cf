//! The quick lowering: the op of a common slot from one table read and its raw fields.
//!
//! Most slots of a real program are ALU operations, loads, stores, jumps and exits whose op
//! depends only on the opcode byte and the dialect, with the slot's register, offset and
//! immediate fields copied in. For those, decoding into an [`Insn`](bpfvm_isa::Insn) and
//! matching it again in [`super::lower`] is two matches over two enums to learn what the
//! opcode alone already says. So each dialect has a table of 256 [`Quick`] entries, one per
//! opcode byte, and [`Lowering::quick`] builds the op with a single match on the entry.
//!
//! The tables are derived at compile time from the isa crate's opcode table
//! ([`opcode_shape`], the typed decoder's own classification) by an exhaustive match on
//! [`OpcodeShape`], with the dialect's arithmetic rules taken from the same functions the
//! full lowering asks ([`ext32_of`], [`swapped_sub_of`], [`sign_extending_mov32_of`]); this
//! module never looks at opcode bits. Whatever the table cannot decide alone is
//! [`Quick::Full`] and goes through the full lowering: `lddw`, calls (registry lookups),
//! byte order (the width is in the immediate), V2's PQR class, signed division, eBPF's ALU
//! instructions (their offset is a field that must be canonical or changes the operation),
//! atomics and whatever does not decode. A slot whose register fields are not both r0 to r10
//! (the 2022 stack-pointer moves on r11, or text the verifier did not accept) also goes
//! there, as does a division by an immediate zero.
//!
//! The contract, checked by the tests over every opcode of every dialect with many field
//! values and on every corpus program: when [`Lowering::quick`] gives an op, it is the op
//! the full lowering gives for the same slot.

use super::lower::{ext32_of, jump_target, sign_extending_mov32_of, swapped_sub_of};
use super::{Ext32, GuestReg, Op, Operand};
use bpfvm_isa::{
    opcode_shape, AluOp, Cond, Dialect, Extend, MemSize, OpcodeShape, SbpfVersion, Slot,
    SourceKind, Width,
};

/// How a slot of one opcode becomes its op, when the opcode alone decides which op it is.
/// The names are the ops built; `Imm` and `Reg` say which field the operand comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quick {
    /// Only the full lowering decides (see the module doc).
    Full,
    Mov64Imm,
    Mov64Reg,
    Add64Imm,
    Add64Reg,
    Sub64Imm,
    RevSub64Imm,
    Sub64Reg,
    Mul64Imm,
    Mul64Reg,
    Or64Imm,
    Or64Reg,
    And64Imm,
    And64Reg,
    Xor64Imm,
    Xor64Reg,
    Lsh64Imm,
    Lsh64Reg,
    Rsh64Imm,
    Rsh64Reg,
    Arsh64Imm,
    Arsh64Reg,
    Neg64,
    Hor64,
    Mov32Imm,
    Mov32Reg,
    /// V2's `mov32 dst, src`: `movsx` from 32 bits.
    MovSx32Reg,
    /// The 32-bit add, sub and mul widen their result by the dialect's rule ([`ext32_of`]).
    Add32Imm,
    Add32Reg,
    Sub32Imm,
    RevSub32Imm,
    Sub32Reg,
    Mul32Imm,
    Mul32Reg,
    Or32Imm,
    Or32Reg,
    And32Imm,
    And32Reg,
    Xor32Imm,
    Xor32Reg,
    Lsh32Imm,
    Lsh32Reg,
    Rsh32Imm,
    Rsh32Reg,
    Arsh32Imm,
    Arsh32Reg,
    Neg32,
    /// Unsigned division or remainder by a register, or by a non-zero immediate (an
    /// immediate zero takes the full path).
    Div64Imm,
    Div64Reg,
    Mod64Imm,
    Mod64Reg,
    Div32Imm,
    Div32Reg,
    Mod32Imm,
    Mod32Reg,
    Ldx8,
    Ldx16,
    Ldx32,
    Ldx64,
    St8,
    St16,
    St32,
    St64,
    Stx8,
    Stx16,
    Stx32,
    Stx64,
    Ja,
    JeqImm,
    JeqReg,
    JneImm,
    JneReg,
    JgtImm,
    JgtReg,
    JgeImm,
    JgeReg,
    JltImm,
    JltReg,
    JleImm,
    JleReg,
    JsetImm,
    JsetReg,
    JsgtImm,
    JsgtReg,
    JsgeImm,
    JsgeReg,
    JsltImm,
    JsltReg,
    JsleImm,
    JsleReg,
    Exit,
}

/// The quick form of a 64-bit ALU operation.
const fn alu64(op: AluOp, source: SourceKind, dialect: Dialect) -> Quick {
    use SourceKind::{Imm, Reg};
    match (op, source) {
        (AluOp::Mov, Imm) => Quick::Mov64Imm,
        (AluOp::Mov, Reg) => Quick::Mov64Reg,
        (AluOp::Add, Imm) => Quick::Add64Imm,
        (AluOp::Add, Reg) => Quick::Add64Reg,
        (AluOp::Sub, Imm) if swapped_sub_of(dialect) => Quick::RevSub64Imm,
        (AluOp::Sub, Imm) => Quick::Sub64Imm,
        (AluOp::Sub, Reg) => Quick::Sub64Reg,
        (AluOp::Mul, Imm) => Quick::Mul64Imm,
        (AluOp::Mul, Reg) => Quick::Mul64Reg,
        (AluOp::Or, Imm) => Quick::Or64Imm,
        (AluOp::Or, Reg) => Quick::Or64Reg,
        (AluOp::And, Imm) => Quick::And64Imm,
        (AluOp::And, Reg) => Quick::And64Reg,
        (AluOp::Xor, Imm) => Quick::Xor64Imm,
        (AluOp::Xor, Reg) => Quick::Xor64Reg,
        (AluOp::Lsh, Imm) => Quick::Lsh64Imm,
        (AluOp::Lsh, Reg) => Quick::Lsh64Reg,
        (AluOp::Rsh, Imm) => Quick::Rsh64Imm,
        (AluOp::Rsh, Reg) => Quick::Rsh64Reg,
        (AluOp::Arsh, Imm) => Quick::Arsh64Imm,
        (AluOp::Arsh, Reg) => Quick::Arsh64Reg,
        (AluOp::Div, Imm) => Quick::Div64Imm,
        (AluOp::Div, Reg) => Quick::Div64Reg,
        (AluOp::Mod, Imm) => Quick::Mod64Imm,
        (AluOp::Mod, Reg) => Quick::Mod64Reg,
        (AluOp::SDiv | AluOp::SMod | AluOp::MovSx(_), _) => Quick::Full,
    }
}

/// The quick form of a 32-bit ALU operation.
const fn alu32(op: AluOp, source: SourceKind, dialect: Dialect) -> Quick {
    use SourceKind::{Imm, Reg};
    match (op, source) {
        (AluOp::Mov, Imm) => Quick::Mov32Imm,
        (AluOp::Mov, Reg) if sign_extending_mov32_of(dialect) => Quick::MovSx32Reg,
        (AluOp::Mov, Reg) => Quick::Mov32Reg,
        (AluOp::Add, Imm) => Quick::Add32Imm,
        (AluOp::Add, Reg) => Quick::Add32Reg,
        (AluOp::Sub, Imm) if swapped_sub_of(dialect) => Quick::RevSub32Imm,
        (AluOp::Sub, Imm) => Quick::Sub32Imm,
        (AluOp::Sub, Reg) => Quick::Sub32Reg,
        (AluOp::Mul, Imm) => Quick::Mul32Imm,
        (AluOp::Mul, Reg) => Quick::Mul32Reg,
        (AluOp::Or, Imm) => Quick::Or32Imm,
        (AluOp::Or, Reg) => Quick::Or32Reg,
        (AluOp::And, Imm) => Quick::And32Imm,
        (AluOp::And, Reg) => Quick::And32Reg,
        (AluOp::Xor, Imm) => Quick::Xor32Imm,
        (AluOp::Xor, Reg) => Quick::Xor32Reg,
        (AluOp::Lsh, Imm) => Quick::Lsh32Imm,
        (AluOp::Lsh, Reg) => Quick::Lsh32Reg,
        (AluOp::Rsh, Imm) => Quick::Rsh32Imm,
        (AluOp::Rsh, Reg) => Quick::Rsh32Reg,
        (AluOp::Arsh, Imm) => Quick::Arsh32Imm,
        (AluOp::Arsh, Reg) => Quick::Arsh32Reg,
        (AluOp::Div, Imm) => Quick::Div32Imm,
        (AluOp::Div, Reg) => Quick::Div32Reg,
        (AluOp::Mod, Imm) => Quick::Mod32Imm,
        (AluOp::Mod, Reg) => Quick::Mod32Reg,
        (AluOp::SDiv | AluOp::SMod | AluOp::MovSx(_), _) => Quick::Full,
    }
}

/// The quick form of a 64-bit conditional jump.
const fn branch64(cond: Cond, source: SourceKind) -> Quick {
    use SourceKind::{Imm, Reg};
    match (cond, source) {
        (Cond::Eq, Imm) => Quick::JeqImm,
        (Cond::Eq, Reg) => Quick::JeqReg,
        (Cond::Ne, Imm) => Quick::JneImm,
        (Cond::Ne, Reg) => Quick::JneReg,
        (Cond::Gt, Imm) => Quick::JgtImm,
        (Cond::Gt, Reg) => Quick::JgtReg,
        (Cond::Ge, Imm) => Quick::JgeImm,
        (Cond::Ge, Reg) => Quick::JgeReg,
        (Cond::Lt, Imm) => Quick::JltImm,
        (Cond::Lt, Reg) => Quick::JltReg,
        (Cond::Le, Imm) => Quick::JleImm,
        (Cond::Le, Reg) => Quick::JleReg,
        (Cond::Set, Imm) => Quick::JsetImm,
        (Cond::Set, Reg) => Quick::JsetReg,
        (Cond::Sgt, Imm) => Quick::JsgtImm,
        (Cond::Sgt, Reg) => Quick::JsgtReg,
        (Cond::Sge, Imm) => Quick::JsgeImm,
        (Cond::Sge, Reg) => Quick::JsgeReg,
        (Cond::Slt, Imm) => Quick::JsltImm,
        (Cond::Slt, Reg) => Quick::JsltReg,
        (Cond::Sle, Imm) => Quick::JsleImm,
        (Cond::Sle, Reg) => Quick::JsleReg,
    }
}

/// The load, immediate store and register store forms of one access size.
const fn by_size(size: MemSize) -> [Quick; 3] {
    match size {
        MemSize::B => [Quick::Ldx8, Quick::St8, Quick::Stx8],
        MemSize::H => [Quick::Ldx16, Quick::St16, Quick::Stx16],
        MemSize::W => [Quick::Ldx32, Quick::St32, Quick::Stx32],
        MemSize::DW => [Quick::Ldx64, Quick::St64, Quick::Stx64],
    }
}

/// The quick form of an opcode of `shape` in `dialect`. eBPF's ALU, `neg` and byte-order
/// instructions carry an offset the decoder checks or reads, so they take the full path.
const fn quick_of(shape: OpcodeShape, dialect: Dialect) -> Quick {
    let ebpf = matches!(dialect, Dialect::Ebpf);
    match shape {
        OpcodeShape::Alu(..) | OpcodeShape::Neg(_) if ebpf => Quick::Full,
        OpcodeShape::Alu(Width::W64, op, source) => alu64(op, source, dialect),
        OpcodeShape::Alu(Width::W32, op, source) => alu32(op, source, dialect),
        OpcodeShape::Neg(Width::W64) => Quick::Neg64,
        OpcodeShape::Neg(Width::W32) => Quick::Neg32,
        OpcodeShape::Hor64 => Quick::Hor64,
        OpcodeShape::Load(size, Extend::Zero) => by_size(size)[0],
        OpcodeShape::Store(size, SourceKind::Imm) => by_size(size)[1],
        OpcodeShape::Store(size, SourceKind::Reg) => by_size(size)[2],
        OpcodeShape::Branch(Width::W64, cond, source) => branch64(cond, source),
        OpcodeShape::Ja => Quick::Ja,
        OpcodeShape::Exit => Quick::Exit,
        OpcodeShape::Unknown
        | OpcodeShape::Lddw
        | OpcodeShape::PacketLoad(..)
        | OpcodeShape::Load(_, Extend::Sign)
        | OpcodeShape::Atomic(_)
        | OpcodeShape::Pqr(..)
        | OpcodeShape::Endian(_)
        | OpcodeShape::Branch(Width::W32, ..)
        | OpcodeShape::JaLong
        | OpcodeShape::Call
        | OpcodeShape::CallReg => Quick::Full,
    }
}

/// The quick table of `dialect`, one entry per opcode byte.
const fn table(dialect: Dialect) -> [Quick; 256] {
    let mut table = [Quick::Full; 256];
    let mut opcode = 0;
    while opcode < 256 {
        table[opcode] = quick_of(opcode_shape(opcode as u8, dialect), dialect);
        opcode += 1;
    }
    table
}

static SBPF_TABLE: [Quick; 256] = table(Dialect::Sbpf);
static EBPF_TABLE: [Quick; 256] = table(Dialect::Ebpf);
static VERSION_TABLES: [[Quick; 256]; 5] = [
    table(Dialect::Sbpf26(SbpfVersion::V0)),
    table(Dialect::Sbpf26(SbpfVersion::V1)),
    table(Dialect::Sbpf26(SbpfVersion::V2)),
    table(Dialect::Sbpf26(SbpfVersion::V3)),
    table(Dialect::Sbpf26(SbpfVersion::V4)),
];

/// The quick table of `dialect`.
fn table_of(dialect: Dialect) -> &'static [Quick; 256] {
    match dialect {
        Dialect::Sbpf => &SBPF_TABLE,
        Dialect::Sbpf26(version) => &VERSION_TABLES[version as usize],
        Dialect::Ebpf => &EBPF_TABLE,
    }
}

/// What the quick lowering of one program needs: the dialect's table and the dialect's
/// rules, fixed before the walk so that a slot costs a table read and a match.
#[derive(Clone, Copy)]
pub(super) struct QuickLowering {
    table: &'static [Quick; 256],
    dialect: Dialect,
    ext: Ext32,
    slot_count: usize,
}

impl QuickLowering {
    /// The quick lowering of a text of `slot_count` slots in `dialect`.
    pub(super) fn new(dialect: Dialect, slot_count: usize) -> QuickLowering {
        QuickLowering {
            table: table_of(dialect),
            dialect,
            ext: ext32_of(dialect),
            slot_count,
        }
    }

    /// The op of the slot at `pc` by its quick form, or `None` when the full lowering must
    /// decide (see the module doc).
    #[inline(always)]
    pub(super) fn lower(&self, pc: usize, slot: Slot) -> Option<Op> {
        let quick = self.table[usize::from(slot.opcode)];
        let dst = GuestReg::new(slot.dst)?;
        let src = GuestReg::new(slot.src)?;
        let (imm, off) = (slot.imm, slot.off);
        let target = || jump_target(pc, i64::from(off), self.slot_count);
        let (dialect, ext) = (self.dialect, self.ext);
        let (by_imm, by_reg) = (Operand::Imm(imm), Operand::Reg(src));
        let divide = |width, src| Op::Div {
            width,
            dst,
            src,
            dialect,
        };
        let remainder = |width, src| Op::Mod {
            width,
            dst,
            src,
            dialect,
        };
        Some(match quick {
            Quick::Full => return None,
            Quick::Mov64Imm => Op::Mov64Imm { dst, imm },
            Quick::Mov64Reg => Op::Mov64Reg { dst, src },
            Quick::Add64Imm => Op::Add64Imm { dst, imm },
            Quick::Add64Reg => Op::Add64Reg { dst, src },
            Quick::Sub64Imm => Op::Sub64Imm { dst, imm },
            Quick::RevSub64Imm => Op::RevSub64Imm { dst, imm },
            Quick::Sub64Reg => Op::Sub64Reg { dst, src },
            Quick::Mul64Imm => Op::Mul64Imm { dst, imm },
            Quick::Mul64Reg => Op::Mul64Reg { dst, src },
            Quick::Or64Imm => Op::Or64Imm { dst, imm },
            Quick::Or64Reg => Op::Or64Reg { dst, src },
            Quick::And64Imm => Op::And64Imm { dst, imm },
            Quick::And64Reg => Op::And64Reg { dst, src },
            Quick::Xor64Imm => Op::Xor64Imm { dst, imm },
            Quick::Xor64Reg => Op::Xor64Reg { dst, src },
            Quick::Lsh64Imm => Op::Lsh64Imm { dst, imm },
            Quick::Lsh64Reg => Op::Lsh64Reg { dst, src },
            Quick::Rsh64Imm => Op::Rsh64Imm { dst, imm },
            Quick::Rsh64Reg => Op::Rsh64Reg { dst, src },
            Quick::Arsh64Imm => Op::Arsh64Imm { dst, imm },
            Quick::Arsh64Reg => Op::Arsh64Reg { dst, src },
            Quick::Neg64 => Op::Neg64 { dst },
            Quick::Hor64 => Op::Hor64 {
                dst,
                imm: imm as u32,
            },
            Quick::Mov32Imm => Op::Mov32Imm { dst, imm },
            Quick::Mov32Reg => Op::Mov32Reg { dst, src },
            Quick::MovSx32Reg => Op::MovSx {
                dst,
                src,
                size: MemSize::W,
                width: Width::W64,
            },
            Quick::Add32Imm => Op::Add32Imm { dst, imm, ext },
            Quick::Add32Reg => Op::Add32Reg { dst, src, ext },
            Quick::Sub32Imm => Op::Sub32Imm { dst, imm, ext },
            Quick::RevSub32Imm => Op::RevSub32Imm { dst, imm },
            Quick::Sub32Reg => Op::Sub32Reg { dst, src, ext },
            Quick::Mul32Imm => Op::Mul32Imm { dst, imm, ext },
            Quick::Mul32Reg => Op::Mul32Reg { dst, src, ext },
            Quick::Or32Imm => Op::Or32 { dst, src: by_imm },
            Quick::Or32Reg => Op::Or32 { dst, src: by_reg },
            Quick::And32Imm => Op::And32 { dst, src: by_imm },
            Quick::And32Reg => Op::And32 { dst, src: by_reg },
            Quick::Xor32Imm => Op::Xor32 { dst, src: by_imm },
            Quick::Xor32Reg => Op::Xor32 { dst, src: by_reg },
            Quick::Lsh32Imm => Op::Lsh32 { dst, src: by_imm },
            Quick::Lsh32Reg => Op::Lsh32 { dst, src: by_reg },
            Quick::Rsh32Imm => Op::Rsh32 { dst, src: by_imm },
            Quick::Rsh32Reg => Op::Rsh32 { dst, src: by_reg },
            Quick::Arsh32Imm => Op::Arsh32 { dst, src: by_imm },
            Quick::Arsh32Reg => Op::Arsh32 { dst, src: by_reg },
            Quick::Neg32 => Op::Neg32 { dst },
            Quick::Div64Imm | Quick::Mod64Imm | Quick::Div32Imm | Quick::Mod32Imm if imm == 0 => {
                return None
            }
            Quick::Div64Imm => divide(Width::W64, by_imm),
            Quick::Div64Reg => divide(Width::W64, by_reg),
            Quick::Div32Imm => divide(Width::W32, by_imm),
            Quick::Div32Reg => divide(Width::W32, by_reg),
            Quick::Mod64Imm => remainder(Width::W64, by_imm),
            Quick::Mod64Reg => remainder(Width::W64, by_reg),
            Quick::Mod32Imm => remainder(Width::W32, by_imm),
            Quick::Mod32Reg => remainder(Width::W32, by_reg),
            Quick::Ldx8 => Op::Ldx8 {
                dst,
                base: src,
                off,
            },
            Quick::Ldx16 => Op::Ldx16 {
                dst,
                base: src,
                off,
            },
            Quick::Ldx32 => Op::Ldx32 {
                dst,
                base: src,
                off,
            },
            Quick::Ldx64 => Op::Ldx64 {
                dst,
                base: src,
                off,
            },
            Quick::St8 => Op::St8 {
                base: dst,
                off,
                imm,
            },
            Quick::St16 => Op::St16 {
                base: dst,
                off,
                imm,
            },
            Quick::St32 => Op::St32 {
                base: dst,
                off,
                imm,
            },
            Quick::St64 => Op::St64 {
                base: dst,
                off,
                imm,
            },
            Quick::Stx8 => Op::Stx8 {
                base: dst,
                src,
                off,
            },
            Quick::Stx16 => Op::Stx16 {
                base: dst,
                src,
                off,
            },
            Quick::Stx32 => Op::Stx32 {
                base: dst,
                src,
                off,
            },
            Quick::Stx64 => Op::Stx64 {
                base: dst,
                src,
                off,
            },
            Quick::Ja => Op::Ja { target: target() },
            Quick::JeqImm => Op::JeqImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JeqReg => Op::JeqReg {
                dst,
                src,
                target: target(),
            },
            Quick::JneImm => Op::JneImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JneReg => Op::JneReg {
                dst,
                src,
                target: target(),
            },
            Quick::JgtImm => Op::JgtImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JgtReg => Op::JgtReg {
                dst,
                src,
                target: target(),
            },
            Quick::JgeImm => Op::JgeImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JgeReg => Op::JgeReg {
                dst,
                src,
                target: target(),
            },
            Quick::JltImm => Op::JltImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JltReg => Op::JltReg {
                dst,
                src,
                target: target(),
            },
            Quick::JleImm => Op::JleImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JleReg => Op::JleReg {
                dst,
                src,
                target: target(),
            },
            Quick::JsetImm => Op::JsetImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JsetReg => Op::JsetReg {
                dst,
                src,
                target: target(),
            },
            Quick::JsgtImm => Op::JsgtImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JsgtReg => Op::JsgtReg {
                dst,
                src,
                target: target(),
            },
            Quick::JsgeImm => Op::JsgeImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JsgeReg => Op::JsgeReg {
                dst,
                src,
                target: target(),
            },
            Quick::JsltImm => Op::JsltImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JsltReg => Op::JsltReg {
                dst,
                src,
                target: target(),
            },
            Quick::JsleImm => Op::JsleImm {
                dst,
                imm,
                target: target(),
            },
            Quick::JsleReg => Op::JsleReg {
                dst,
                src,
                target: target(),
            },
            Quick::Exit => Op::Exit,
        })
    }
}
