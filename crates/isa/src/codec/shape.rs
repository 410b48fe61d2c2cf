//! The opcode table: what each of the 256 opcode bytes means in each dialect, before the other
//! fields of the slot are read.
//!
//! [`opcode_shape`] is a lookup in a table built at compile time from the field tables of
//! [`super`]; [`super::decode_slot`] is that lookup plus field extraction. The table is public
//! so that scans which must not build an [`Insn`](crate::Insn) per slot (the verifier's fast
//! path) can still learn what an opcode is without looking at its bits: they derive their own
//! per-opcode tables from this one, at compile time, by matching on [`OpcodeShape`].
//!
//! Each SBPF version of solana-sbpf 0.26 ([`Dialect::Sbpf26`]) has a table of its own, built
//! by the same classifier asking the version's feature table: V2 moves the memory classes
//! into free ALU opcodes and has the PQR class and `hor64` instead of mul/div/mod, `lddw`,
//! `le` and `neg`; V3 and V4 have JMP32; no version has the 2022 signed division.
//!
//! The contract, checked over every opcode and every dialect by the tests: when the shape is
//! [`OpcodeShape::Unknown`] the slot never decodes; otherwise it decodes to the instruction the
//! shape names whatever its register, offset and immediate fields hold, except for the field
//! rules the shape's documentation lists (an `lddw`'s second slot, the sBPF `callx` register in
//! the immediate, and the eBPF rules on canonical offsets and atomic operations).

use super::{
    moved_memory_of, pqr_of, size_of, MovedMemory, ALU_BY_HIGH_NIBBLE, ALU_DIV, ALU_END, ALU_HOR,
    ALU_MOD, ALU_MUL, ALU_NEG, ALU_SBPF_SDIV, CLASS_ALU32, CLASS_ALU64, CLASS_JMP, CLASS_JMP32,
    CLASS_LD, CLASS_LDX, CLASS_ST, CLASS_STX, COND_BY_HIGH_NIBBLE, JMP_CALL, JMP_EXIT, JMP_JA,
    MODE_ABS, MODE_ATOMIC, MODE_IMM, MODE_IND, MODE_MEM, MODE_MEMSX, SRC_X,
};
use crate::insn::{AluOp, Cond, Dialect, EndianOp, Extend, MemSize, PacketMode, PqrOp, Width};
use crate::version::{Feature, SbpfVersion};

/// Which operand of a binary operation or branch the opcode selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// The immediate field.
    Imm,
    /// The register named by the source field.
    Reg,
}

/// What an opcode byte means in one dialect. Each variant names the [`Insn`](crate::Insn) a
/// slot with this opcode decodes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpcodeShape {
    /// The opcode means nothing in this dialect: the slot never decodes.
    Unknown,
    /// `lddw`: decodes only when a next slot with opcode 0 follows (eBPF also wants source 0).
    Lddw,
    /// A legacy packet load.
    PacketLoad(PacketMode, MemSize),
    /// A load from memory.
    Load(MemSize, Extend),
    /// A store to memory, of the immediate or of a register.
    Store(MemSize, SourceKind),
    /// An atomic operation; the immediate must name one (otherwise eBPF and sBPF both refuse).
    Atomic(MemSize),
    /// `neg` (eBPF wants offset 0).
    Neg(Width),
    /// An operation of SBPF V2's PQR class.
    Pqr(Width, PqrOp, SourceKind),
    /// SBPF V2's `hor64`.
    Hor64,
    /// A byte-order operation; the immediate is the width in bits (eBPF wants offset 0).
    Endian(EndianOp),
    /// A binary ALU operation. In eBPF a non-zero offset turns div and mod into their signed
    /// forms and mov into `movsx`, and is refused elsewhere; sBPF ignores the offset.
    Alu(Width, AluOp, SourceKind),
    /// A conditional jump by the offset.
    Branch(Width, Cond, SourceKind),
    /// `ja` by the offset.
    Ja,
    /// `ja` by the immediate (eBPF `gotol`).
    JaLong,
    /// `call` with the immediate as key, helper number or relative target.
    Call,
    /// `callx`; the 2022 sBPF, V0 and V1 name the register in the immediate (0..=15, else it
    /// does not decode), V2 in the source field, V3, V4 and eBPF in the destination field.
    CallReg,
    /// `exit`.
    Exit,
}

/// What `opcode` means in `dialect`: one lookup in a table built at compile time.
#[inline(always)]
pub const fn opcode_shape(opcode: u8, dialect: Dialect) -> OpcodeShape {
    match dialect {
        Dialect::Sbpf => SBPF_SHAPES[opcode as usize],
        Dialect::Sbpf26(version) => VERSION_SHAPES[version as usize][opcode as usize],
        Dialect::Ebpf => EBPF_SHAPES[opcode as usize],
    }
}

/// Whether `dialect` is an SBPF version with `feature`.
const fn version_has(dialect: Dialect, feature: Feature) -> bool {
    match dialect {
        Dialect::Sbpf26(version) => version.has(feature),
        Dialect::Sbpf | Dialect::Ebpf => false,
    }
}

const fn source_kind_of(opcode: u8) -> SourceKind {
    if opcode & SRC_X != 0 {
        SourceKind::Reg
    } else {
        SourceKind::Imm
    }
}

const fn classify_ld(opcode: u8, dialect: Dialect) -> OpcodeShape {
    let size = size_of(opcode);
    let no_lddw = version_has(dialect, Feature::DisableLddw);
    match opcode & 0xe0 {
        MODE_IMM if matches!(size, MemSize::DW) && !no_lddw => OpcodeShape::Lddw,
        MODE_ABS => OpcodeShape::PacketLoad(PacketMode::Abs, size),
        MODE_IND => OpcodeShape::PacketLoad(PacketMode::Ind, size),
        _ => OpcodeShape::Unknown,
    }
}

const fn classify_mem(opcode: u8, dialect: Dialect) -> OpcodeShape {
    let size = size_of(opcode);
    let ebpf = matches!(dialect, Dialect::Ebpf);
    let word_or_double = matches!(size, MemSize::W | MemSize::DW);
    match (opcode & 0x07, opcode & 0xe0) {
        (CLASS_LDX, MODE_MEM) => OpcodeShape::Load(size, Extend::Zero),
        (CLASS_LDX, MODE_MEMSX) if ebpf && !matches!(size, MemSize::DW) => {
            OpcodeShape::Load(size, Extend::Sign)
        }
        (CLASS_ST, MODE_MEM) => OpcodeShape::Store(size, SourceKind::Imm),
        (CLASS_STX, MODE_MEM) => OpcodeShape::Store(size, SourceKind::Reg),
        (CLASS_STX, MODE_ATOMIC) if word_or_double => OpcodeShape::Atomic(size),
        _ => OpcodeShape::Unknown,
    }
}

const fn classify_alu(opcode: u8, width: Width, dialect: Dialect) -> OpcodeShape {
    let op_bits = opcode & 0xf0;
    let has_x = opcode & SRC_X != 0;
    let ebpf = matches!(dialect, Dialect::Ebpf);
    let versioned = matches!(dialect, Dialect::Sbpf26(_));
    let pqr = version_has(dialect, Feature::Pqr);
    match op_bits {
        ALU_NEG if !has_x && version_has(dialect, Feature::DisableNeg) => OpcodeShape::Unknown,
        ALU_NEG if !has_x => OpcodeShape::Neg(width),
        ALU_END => match (width, has_x) {
            (Width::W32, false) if version_has(dialect, Feature::DisableLe) => OpcodeShape::Unknown,
            (Width::W32, false) => OpcodeShape::Endian(EndianOp::ToLe),
            (Width::W32, true) => OpcodeShape::Endian(EndianOp::ToBe),
            (Width::W64, false) if ebpf => OpcodeShape::Endian(EndianOp::Swap),
            _ => OpcodeShape::Unknown,
        },
        ALU_HOR if matches!(width, Width::W64) && !has_x => {
            if version_has(dialect, Feature::DisableLddw) {
                OpcodeShape::Hor64
            } else {
                OpcodeShape::Unknown
            }
        }
        ALU_SBPF_SDIV if ebpf || versioned => OpcodeShape::Unknown,
        ALU_MUL | ALU_DIV | ALU_MOD if pqr => OpcodeShape::Unknown,
        _ => match ALU_BY_HIGH_NIBBLE[(op_bits >> 4) as usize] {
            Some(op) => OpcodeShape::Alu(width, op, source_kind_of(opcode)),
            None => OpcodeShape::Unknown,
        },
    }
}

const fn classify_jmp(opcode: u8, width: Width) -> OpcodeShape {
    let op_bits = opcode & 0xf0;
    let has_x = opcode & SRC_X != 0;
    if let Some(cond) = COND_BY_HIGH_NIBBLE[(op_bits >> 4) as usize] {
        return OpcodeShape::Branch(width, cond, source_kind_of(opcode));
    }
    match (op_bits, has_x, width) {
        (JMP_JA, false, Width::W64) => OpcodeShape::Ja,
        (JMP_JA, false, Width::W32) => OpcodeShape::JaLong,
        (JMP_CALL, false, Width::W64) => OpcodeShape::Call,
        (JMP_CALL, true, Width::W64) => OpcodeShape::CallReg,
        (JMP_EXIT, false, Width::W64) => OpcodeShape::Exit,
        _ => OpcodeShape::Unknown,
    }
}

/// SBPF V3's JMP32 class: the eleven conditions, nothing else (no `ja`, call or exit).
const fn classify_jmp32_conditions(opcode: u8) -> OpcodeShape {
    match COND_BY_HIGH_NIBBLE[(opcode >> 4) as usize] {
        Some(cond) => OpcodeShape::Branch(Width::W32, cond, source_kind_of(opcode)),
        None => OpcodeShape::Unknown,
    }
}

/// SBPF V2's PQR class (class 6).
const fn classify_pqr(opcode: u8) -> OpcodeShape {
    match pqr_of(opcode) {
        Some((op, width)) => OpcodeShape::Pqr(width, op, source_kind_of(opcode)),
        None => OpcodeShape::Unknown,
    }
}

/// SBPF V2's moved loads and stores, which take opcodes of the ALU classes.
const fn classify_moved_memory(opcode: u8) -> Option<OpcodeShape> {
    match moved_memory_of(opcode) {
        Some(MovedMemory::Load(size)) => Some(OpcodeShape::Load(size, Extend::Zero)),
        Some(MovedMemory::StoreImm(size)) => Some(OpcodeShape::Store(size, SourceKind::Imm)),
        Some(MovedMemory::StoreReg(size)) => Some(OpcodeShape::Store(size, SourceKind::Reg)),
        None => None,
    }
}

const fn classify(opcode: u8, dialect: Dialect) -> OpcodeShape {
    let moved = version_has(dialect, Feature::MoveMemoryClasses);
    if moved {
        if let Some(shape) = classify_moved_memory(opcode) {
            return shape;
        }
    }
    match opcode & 0x07 {
        CLASS_LD => classify_ld(opcode, dialect),
        CLASS_LDX | CLASS_ST | CLASS_STX if moved => OpcodeShape::Unknown,
        CLASS_LDX | CLASS_ST | CLASS_STX => classify_mem(opcode, dialect),
        CLASS_ALU32 => classify_alu(opcode, Width::W32, dialect),
        CLASS_ALU64 => classify_alu(opcode, Width::W64, dialect),
        CLASS_JMP => classify_jmp(opcode, Width::W64),
        CLASS_JMP32 => match dialect {
            Dialect::Ebpf => classify_jmp(opcode, Width::W32),
            Dialect::Sbpf26(version) if version.enable_pqr() => classify_pqr(opcode),
            Dialect::Sbpf26(version) if version.enable_jmp32() => classify_jmp32_conditions(opcode),
            Dialect::Sbpf26(_) | Dialect::Sbpf => OpcodeShape::Unknown,
        },
        _ => OpcodeShape::Unknown,
    }
}

const fn shapes(dialect: Dialect) -> [OpcodeShape; 256] {
    let mut table = [OpcodeShape::Unknown; 256];
    let mut opcode = 0;
    while opcode < 256 {
        table[opcode] = classify(opcode as u8, dialect);
        opcode += 1;
    }
    table
}

/// Every opcode classified once, at compile time, per dialect.
const SBPF_SHAPES: [OpcodeShape; 256] = shapes(Dialect::Sbpf);
const EBPF_SHAPES: [OpcodeShape; 256] = shapes(Dialect::Ebpf);
/// One table per SBPF version, indexed by the version's number.
const VERSION_SHAPES: [[OpcodeShape; 256]; 5] = [
    shapes(Dialect::Sbpf26(SbpfVersion::V0)),
    shapes(Dialect::Sbpf26(SbpfVersion::V1)),
    shapes(Dialect::Sbpf26(SbpfVersion::V2)),
    shapes(Dialect::Sbpf26(SbpfVersion::V3)),
    shapes(Dialect::Sbpf26(SbpfVersion::V4)),
];
