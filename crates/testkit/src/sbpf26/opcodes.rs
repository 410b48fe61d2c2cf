//! The opcode tables of SBPF V0-V4 as solana-sbpf 0.26 accepts them (spec `sbpf-0.26.md`
//! §1.2-§1.4), as data.
//!
//! Each accepted opcode byte has one [`Kind`] saying what it does, enough to build valid
//! operands for it. The tables are written out literally from the spec, group by group; the
//! version rules then pick groups ([`table`]). A test checks the spec's counts (V0 91, V1 91,
//! V2 100, V3 113, V4 113) here, and the oracle test `sbpf26_oracle` checks every byte
//! 0..=255 against 0.26's verifier for each version.
//!
//! bpfvm's typed instruction set (`bpfvm_isa`) cannot express V2 and V3 yet; these tables
//! serve the raw generator ([`super::rawgen`]) until it can.

use super::Version;

/// An ALU operation with the same meaning in every version that has it (V2 changes `sub`
/// with an immediate and the sign extension of `add32`/`sub32`/`mov32`; the opcode stays).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `dst += src`.
    Add,
    /// `dst -= src` (V2 with an immediate: `dst = imm - dst`).
    Sub,
    /// `dst *= src` (not in V2).
    Mul,
    /// Unsigned `dst /= src` (not in V2).
    Div,
    /// `dst |= src`.
    Or,
    /// `dst &= src`.
    And,
    /// `dst <<= src`.
    Lsh,
    /// Logical `dst >>= src`.
    Rsh,
    /// Unsigned `dst %= src` (not in V2).
    Mod,
    /// `dst ^= src`.
    Xor,
    /// `dst = src`.
    Mov,
    /// Arithmetic `dst >>= src`.
    Arsh,
}

impl AluOp {
    /// Whether an immediate of 0 is a verifier error.
    pub fn divides(self) -> bool {
        matches!(self, AluOp::Div | AluOp::Mod)
    }

    /// Whether the immediate must be below the width (the verifier's shift check).
    pub fn shifts(self) -> bool {
        matches!(self, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh)
    }
}

/// A V2 product/quotient/remainder operation (SIMD-0174).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PqrOp {
    /// High 64 bits of the unsigned 128-bit product (immediate zero-extended).
    Uhmul64,
    /// Unsigned 32-bit quotient.
    Udiv32,
    /// Unsigned 64-bit quotient (immediate zero-extended).
    Udiv64,
    /// Unsigned 32-bit remainder.
    Urem32,
    /// Unsigned 64-bit remainder (immediate zero-extended).
    Urem64,
    /// Low 32 bits of the product.
    Lmul32,
    /// Low 64 bits of the product.
    Lmul64,
    /// High 64 bits of the signed 128-bit product.
    Shmul64,
    /// Signed 32-bit quotient.
    Sdiv32,
    /// Signed 64-bit quotient.
    Sdiv64,
    /// Signed 32-bit remainder.
    Srem32,
    /// Signed 64-bit remainder.
    Srem64,
}

impl PqrOp {
    /// Whether the operation divides (an immediate of 0 is a verifier error).
    pub fn divides(self) -> bool {
        !matches!(
            self,
            PqrOp::Uhmul64 | PqrOp::Lmul32 | PqrOp::Lmul64 | PqrOp::Shmul64
        )
    }

    /// Whether the operation is signed division (type minimum by -1 overflows).
    pub fn signed_division(self) -> bool {
        matches!(
            self,
            PqrOp::Sdiv32 | PqrOp::Sdiv64 | PqrOp::Srem32 | PqrOp::Srem64
        )
    }

    /// The operand width.
    pub fn width(self) -> Width {
        match self {
            PqrOp::Udiv32 | PqrOp::Urem32 | PqrOp::Lmul32 | PqrOp::Sdiv32 | PqrOp::Srem32 => {
                Width::W32
            }
            PqrOp::Uhmul64
            | PqrOp::Udiv64
            | PqrOp::Urem64
            | PqrOp::Lmul64
            | PqrOp::Shmul64
            | PqrOp::Sdiv64
            | PqrOp::Srem64 => Width::W64,
        }
    }
}

/// A jump condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    /// `==`.
    Eq,
    /// Unsigned `>`.
    Gt,
    /// Unsigned `>=`.
    Ge,
    /// `dst & src != 0`.
    Set,
    /// `!=`.
    Ne,
    /// Signed `>`.
    Sgt,
    /// Signed `>=`.
    Sge,
    /// Unsigned `<`.
    Lt,
    /// Unsigned `<=`.
    Le,
    /// Signed `<`.
    Slt,
    /// Signed `<=`.
    Sle,
}

/// An operand width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// The low 32 bits.
    W32,
    /// All 64 bits.
    W64,
}

impl Width {
    /// The width in bits.
    pub fn bits(self) -> i64 {
        match self {
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }
}

/// Where the second operand comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// The immediate field.
    Imm,
    /// The src register.
    Reg,
}

/// A memory access size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// One byte.
    B1,
    /// Two bytes.
    B2,
    /// Four bytes.
    B4,
    /// Eight bytes.
    B8,
}

impl Size {
    /// The size in bytes.
    pub fn bytes(self) -> i64 {
        match self {
            Size::B1 => 1,
            Size::B2 => 2,
            Size::B4 => 4,
            Size::B8 => 8,
        }
    }
}

/// A byte-order conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endian {
    /// To little-endian (a truncation on this host); not in V2.
    Le,
    /// To big-endian (a byte swap).
    Be,
}

/// What an accepted opcode does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An ALU operation.
    Alu(AluOp, Width, Operand),
    /// `dst = -dst` (not in V2).
    Neg(Width),
    /// A byte-order conversion of the low 16, 32 or 64 bits (the immediate).
    Endian(Endian),
    /// The two-slot 64-bit immediate load (not in V2).
    Lddw,
    /// OR the immediate into the upper half of dst (V2 only).
    Hor64,
    /// A PQR operation (V2 only).
    Pqr(PqrOp, Operand),
    /// `dst = *(src + off)`.
    Load(Size),
    /// `*(dst + off) = imm`.
    StoreImm(Size),
    /// `*(dst + off) = src`.
    StoreReg(Size),
    /// The unconditional jump.
    Ja,
    /// A conditional jump on 64 bits or (JMP32, V3+) on the low 32 bits.
    Jump(Cond, Width, Operand),
    /// `call imm`: a syscall or an internal call.
    Call,
    /// `callx reg`: an internal call to a text address held in a register.
    Callx,
    /// Return.
    Exit,
}

const ALU_OPS: [(AluOp, u8, u8, u8, u8); 12] = [
    // op, alu32 imm, alu32 reg, alu64 imm, alu64 reg
    (AluOp::Add, 0x04, 0x0c, 0x07, 0x0f),
    (AluOp::Sub, 0x14, 0x1c, 0x17, 0x1f),
    (AluOp::Mul, 0x24, 0x2c, 0x27, 0x2f),
    (AluOp::Div, 0x34, 0x3c, 0x37, 0x3f),
    (AluOp::Or, 0x44, 0x4c, 0x47, 0x4f),
    (AluOp::And, 0x54, 0x5c, 0x57, 0x5f),
    (AluOp::Lsh, 0x64, 0x6c, 0x67, 0x6f),
    (AluOp::Rsh, 0x74, 0x7c, 0x77, 0x7f),
    (AluOp::Mod, 0x94, 0x9c, 0x97, 0x9f),
    (AluOp::Xor, 0xa4, 0xac, 0xa7, 0xaf),
    (AluOp::Mov, 0xb4, 0xbc, 0xb7, 0xbf),
    (AluOp::Arsh, 0xc4, 0xcc, 0xc7, 0xcf),
];

const PQR_OPS: [(PqrOp, u8, u8); 12] = [
    (PqrOp::Uhmul64, 0x36, 0x3e),
    (PqrOp::Udiv32, 0x46, 0x4e),
    (PqrOp::Udiv64, 0x56, 0x5e),
    (PqrOp::Urem32, 0x66, 0x6e),
    (PqrOp::Urem64, 0x76, 0x7e),
    (PqrOp::Lmul32, 0x86, 0x8e),
    (PqrOp::Lmul64, 0x96, 0x9e),
    (PqrOp::Shmul64, 0xb6, 0xbe),
    (PqrOp::Sdiv32, 0xc6, 0xce),
    (PqrOp::Sdiv64, 0xd6, 0xde),
    (PqrOp::Srem32, 0xe6, 0xee),
    (PqrOp::Srem64, 0xf6, 0xfe),
];

const CONDITIONS: [(Cond, u8, u8, u8, u8); 11] = [
    // condition, jmp64 imm, jmp64 reg, jmp32 imm, jmp32 reg
    (Cond::Eq, 0x15, 0x1d, 0x16, 0x1e),
    (Cond::Gt, 0x25, 0x2d, 0x26, 0x2e),
    (Cond::Ge, 0x35, 0x3d, 0x36, 0x3e),
    (Cond::Set, 0x45, 0x4d, 0x46, 0x4e),
    (Cond::Ne, 0x55, 0x5d, 0x56, 0x5e),
    (Cond::Sgt, 0x65, 0x6d, 0x66, 0x6e),
    (Cond::Sge, 0x75, 0x7d, 0x76, 0x7e),
    (Cond::Lt, 0xa5, 0xad, 0xa6, 0xae),
    (Cond::Le, 0xb5, 0xbd, 0xb6, 0xbe),
    (Cond::Slt, 0xc5, 0xcd, 0xc6, 0xce),
    (Cond::Sle, 0xd5, 0xdd, 0xd6, 0xde),
];

/// Memory opcodes: (size, load, store imm, store reg) in V0's classes and in V2's.
const MEMORY_V0: [(Size, u8, u8, u8); 4] = [
    (Size::B1, 0x71, 0x72, 0x73),
    (Size::B2, 0x69, 0x6a, 0x6b),
    (Size::B4, 0x61, 0x62, 0x63),
    (Size::B8, 0x79, 0x7a, 0x7b),
];
const MEMORY_V2: [(Size, u8, u8, u8); 4] = [
    (Size::B1, 0x2c, 0x27, 0x2f),
    (Size::B2, 0x3c, 0x37, 0x3f),
    (Size::B4, 0x8c, 0x87, 0x8f),
    (Size::B8, 0x9c, 0x97, 0x9f),
];

const NEG32: u8 = 0x84;
const NEG64: u8 = 0x87;
const LE: u8 = 0xd4;
const BE: u8 = 0xdc;
const LDDW: u8 = 0x18;
const HOR64: u8 = 0xf7;
const JA: u8 = 0x05;
const CALL: u8 = 0x85;
const CALLX: u8 = 0x8d;
const EXIT: u8 = 0x95;

/// Every opcode `version` accepts, with its kind, in opcode order.
pub fn table(version: Version) -> Vec<(u8, Kind)> {
    let pqr = version == Version::V2;
    let mut table = Vec::new();
    for (op, imm32, reg32, imm64, reg64) in ALU_OPS {
        if pqr && matches!(op, AluOp::Mul | AluOp::Div | AluOp::Mod) {
            continue;
        }
        table.push((imm32, Kind::Alu(op, Width::W32, Operand::Imm)));
        table.push((reg32, Kind::Alu(op, Width::W32, Operand::Reg)));
        table.push((imm64, Kind::Alu(op, Width::W64, Operand::Imm)));
        table.push((reg64, Kind::Alu(op, Width::W64, Operand::Reg)));
    }
    table.push((BE, Kind::Endian(Endian::Be)));
    if pqr {
        table.push((HOR64, Kind::Hor64));
        for (op, imm, reg) in PQR_OPS {
            table.push((imm, Kind::Pqr(op, Operand::Imm)));
            table.push((reg, Kind::Pqr(op, Operand::Reg)));
        }
    } else {
        table.push((NEG32, Kind::Neg(Width::W32)));
        table.push((NEG64, Kind::Neg(Width::W64)));
        table.push((LE, Kind::Endian(Endian::Le)));
        table.push((LDDW, Kind::Lddw));
    }
    let memory = if pqr { MEMORY_V2 } else { MEMORY_V0 };
    for (size, load, store_imm, store_reg) in memory {
        table.push((load, Kind::Load(size)));
        table.push((store_imm, Kind::StoreImm(size)));
        table.push((store_reg, Kind::StoreReg(size)));
    }
    table.push((JA, Kind::Ja));
    let jmp32 = matches!(version, Version::V3 | Version::V4);
    for (cond, imm64, reg64, imm32, reg32) in CONDITIONS {
        table.push((imm64, Kind::Jump(cond, Width::W64, Operand::Imm)));
        table.push((reg64, Kind::Jump(cond, Width::W64, Operand::Reg)));
        if jmp32 {
            table.push((imm32, Kind::Jump(cond, Width::W32, Operand::Imm)));
            table.push((reg32, Kind::Jump(cond, Width::W32, Operand::Reg)));
        }
    }
    table.push((CALL, Kind::Call));
    table.push((CALLX, Kind::Callx));
    table.push((EXIT, Kind::Exit));
    table.sort_by_key(|&(opcode, _)| opcode);
    table
}

/// The kind of `opcode` in `version`, or `None` when the version does not accept it.
pub fn kind_of(version: Version, opcode: u8) -> Option<Kind> {
    table(version)
        .into_iter()
        .find_map(|(candidate, kind)| (candidate == opcode).then_some(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_the_spec_and_opcodes_are_unique() {
        let expected = [91, 91, 100, 113, 113];
        for (version, count) in Version::ALL.into_iter().zip(expected) {
            let table = table(version);
            assert_eq!(table.len(), count, "{version}");
            let mut opcodes: Vec<u8> = table.iter().map(|&(opcode, _)| opcode).collect();
            opcodes.dedup();
            assert_eq!(opcodes.len(), count, "{version}: duplicate opcodes");
        }
    }

    #[test]
    fn v2_reuses_bytes_with_new_meanings() {
        assert_eq!(
            kind_of(Version::V0, 0x2c),
            Some(Kind::Alu(AluOp::Mul, Width::W32, Operand::Reg))
        );
        assert_eq!(kind_of(Version::V2, 0x2c), Some(Kind::Load(Size::B1)));
        assert_eq!(kind_of(Version::V2, 0x87), Some(Kind::StoreImm(Size::B4)));
        assert_eq!(kind_of(Version::V0, 0x87), Some(Kind::Neg(Width::W64)));
        assert_eq!(kind_of(Version::V2, 0x18), None);
        assert_eq!(
            kind_of(Version::V3, 0x36),
            Some(Kind::Jump(Cond::Ge, Width::W32, Operand::Imm))
        );
        assert_eq!(
            kind_of(Version::V2, 0x36),
            Some(Kind::Pqr(PqrOp::Uhmul64, Operand::Imm))
        );
        assert_eq!(kind_of(Version::V3, 0x06), None);
        assert_eq!(kind_of(Version::V1, 0xe7), None);
    }
}
