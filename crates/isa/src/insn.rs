//! The typed instruction: what a slot (or an `lddw` pair) means once decoded.
//!
//! Every field here is a meaning, not a bit pattern. Register fields keep their raw 4-bit value
//! ([`Reg`] can hold r0 to r15) because judging them is the verifier's job, and the verifier
//! must report a bad register only after it has judged the opcode, as the reference does.

use crate::version::{CallxField, SbpfVersion};
use core::fmt;

/// Which instruction set a program is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// sBPF of 2022, as solana_rbpf 0.2.38 implements it: `callx` names its register in the
    /// immediate, the offset field of ALU instructions is ignored, 0xe4/0xec/0xe7/0xef are
    /// signed division, and add32/sub32/mul32/sdiv32 sign-extend their result.
    Sbpf,
    /// sBPF as solana-sbpf 0.26 runs one of the SBPF versions V0 to V4 (spec
    /// `sbpf-0.26.md`): the version's feature table ([`SbpfVersion::has`]) decides which
    /// opcodes exist and what they mean. The ALU offset field is ignored, as in [`Dialect::Sbpf`].
    Sbpf26(SbpfVersion),
    /// Standard eBPF (RFC 9669): JMP32, atomics, signed division and modulo by offset 1,
    /// `movsx`, sign-extending loads, `bswap`, `callx` with the register in `dst`.
    Ebpf,
}

impl Dialect {
    /// Every dialect: the 2022 sBPF, eBPF, then each SBPF version in order.
    pub const ALL: [Dialect; 7] = [
        Dialect::Sbpf,
        Dialect::Ebpf,
        Dialect::Sbpf26(SbpfVersion::V0),
        Dialect::Sbpf26(SbpfVersion::V1),
        Dialect::Sbpf26(SbpfVersion::V2),
        Dialect::Sbpf26(SbpfVersion::V3),
        Dialect::Sbpf26(SbpfVersion::V4),
    ];

    /// The SBPF version of a [`Dialect::Sbpf26`] dialect.
    pub const fn version(self) -> Option<SbpfVersion> {
        match self {
            Dialect::Sbpf26(version) => Some(version),
            Dialect::Sbpf | Dialect::Ebpf => None,
        }
    }

    /// Whether the dialect is one of sBPF's (2022 or a versioned one), not eBPF.
    pub const fn is_sbpf(self) -> bool {
        match self {
            Dialect::Sbpf | Dialect::Sbpf26(_) => true,
            Dialect::Ebpf => false,
        }
    }

    /// Where `callx` names its register.
    pub const fn callx_field(self) -> CallxField {
        match self {
            Dialect::Sbpf => CallxField::Imm,
            Dialect::Sbpf26(version) => version.callx_field(),
            Dialect::Ebpf => CallxField::Dst,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dialect::Sbpf => f.write_str("sBPF (solana_rbpf 0.2.38)"),
            Dialect::Sbpf26(version) => write!(f, "SBPF {version} (solana-sbpf 0.26)"),
            Dialect::Ebpf => f.write_str("eBPF (RFC 9669)"),
        }
    }
}

/// A register field: r0 to r10 are the guest registers, r11 is sBPF's hidden stack pointer,
/// and r12 to r15 can be encoded but never pass the verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(u8);

impl Reg {
    /// The return-value register.
    pub const R0: Reg = Reg(0);
    /// The first argument register; holds the input address at entry.
    pub const R1: Reg = Reg(1);
    /// The read-only frame pointer.
    pub const R10: Reg = Reg(10);
    /// sBPF's stack pointer, writable only by `add64`/`sub64` with an immediate.
    pub const SP: Reg = Reg(11);

    /// A register from its 4-bit field value; `None` above 15.
    pub const fn new(number: u8) -> Option<Reg> {
        if number < 16 {
            Some(Reg(number))
        } else {
            None
        }
    }

    /// The register number, 0 to 15.
    pub const fn number(self) -> u8 {
        self.0
    }

    /// The register number as an index, always below 16.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Operand width of an ALU or compare operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit: only the low halves of the operands take part.
    W32,
    /// 64-bit.
    W64,
}

impl Width {
    /// The width in bits.
    pub const fn bits(self) -> u32 {
        match self {
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }
}

/// The second operand of an ALU, compare or store: a register or the immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// The value of a register.
    Reg(Reg),
    /// The 32-bit immediate (sign-extended to 64 bits where the operation is 64-bit).
    Imm(i32),
}

/// Binary ALU operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// Wrapping addition.
    Add,
    /// Wrapping subtraction.
    Sub,
    /// Wrapping multiplication.
    Mul,
    /// Unsigned division.
    Div,
    /// Signed division: sBPF's 0xe4..0xef family, or eBPF's div with offset 1.
    SDiv,
    /// Unsigned remainder.
    Mod,
    /// Signed remainder (eBPF only: mod with offset 1).
    SMod,
    /// Bitwise or.
    Or,
    /// Bitwise and.
    And,
    /// Left shift.
    Lsh,
    /// Logical right shift.
    Rsh,
    /// Arithmetic right shift.
    Arsh,
    /// Bitwise exclusive or.
    Xor,
    /// Copy.
    Mov,
    /// Copy with sign extension from the low 8, 16 or 32 bits (eBPF `movsx`, offset 8/16/32).
    MovSx(MemSize),
}

/// The operations of SBPF V2's product/quotient/remainder class (SIMD-0174).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PqrOp {
    /// The low half of the product (`lmul32`, `lmul64`).
    Lmul,
    /// The upper 64 bits of the unsigned 128-bit product (`uhmul64`).
    Uhmul,
    /// The upper 64 bits of the signed 128-bit product (`shmul64`).
    Shmul,
    /// Unsigned quotient (`udiv32`, `udiv64`).
    Udiv,
    /// Unsigned remainder (`urem32`, `urem64`).
    Urem,
    /// Signed quotient, truncating (`sdiv32`, `sdiv64`).
    Sdiv,
    /// Signed remainder, with the dividend's sign (`srem32`, `srem64`).
    Srem,
}

impl PqrOp {
    /// Every operation.
    pub const ALL: [PqrOp; 7] = [
        PqrOp::Lmul,
        PqrOp::Uhmul,
        PqrOp::Shmul,
        PqrOp::Udiv,
        PqrOp::Urem,
        PqrOp::Sdiv,
        PqrOp::Srem,
    ];

    /// Whether the operation divides (a zero immediate is a verifier error, a zero register
    /// a run-time one).
    pub const fn divides(self) -> bool {
        match self {
            PqrOp::Udiv | PqrOp::Urem | PqrOp::Sdiv | PqrOp::Srem => true,
            PqrOp::Lmul | PqrOp::Uhmul | PqrOp::Shmul => false,
        }
    }
}

/// Byte-order conversions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndianOp {
    /// To little-endian (0xd4): on a little-endian machine, truncation to the width.
    ToLe,
    /// To big-endian (0xdc): a byte swap of the low bits.
    ToBe,
    /// Unconditional byte swap (eBPF 0xd7, `bswap`).
    Swap,
}

/// The width of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemSize {
    /// One byte.
    B,
    /// Two bytes.
    H,
    /// Four bytes.
    W,
    /// Eight bytes.
    DW,
}

impl MemSize {
    /// The access length in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            MemSize::B => 1,
            MemSize::H => 2,
            MemSize::W => 4,
            MemSize::DW => 8,
        }
    }

    /// `value` with its low `self` bytes sign-extended to 64 bits.
    pub const fn sign_extend(self, value: u64) -> u64 {
        match self {
            MemSize::B => value as i8 as i64 as u64,
            MemSize::H => value as i16 as i64 as u64,
            MemSize::W => value as i32 as i64 as u64,
            MemSize::DW => value,
        }
    }
}

/// How a load widens its value to 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extend {
    /// Zero-extend (`ldx*`).
    Zero,
    /// Sign-extend (eBPF `ldxs*`, mode 0x80).
    Sign,
}

/// The legacy packet-access modes (defined in both dialects, accepted by neither verifier).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketMode {
    /// `ldabs*`: absolute offset in the immediate.
    Abs,
    /// `ldind*`: offset is a register plus the immediate.
    Ind,
}

/// Atomic read-modify-write operations (the immediate of 0xc3/0xdb).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `lock *(dst + off) += src`.
    Add,
    /// `lock *(dst + off) |= src`.
    Or,
    /// `lock *(dst + off) &= src`.
    And,
    /// `lock *(dst + off) ^= src`.
    Xor,
    /// Add, and load the old value into `src`.
    FetchAdd,
    /// Or, and load the old value into `src`.
    FetchOr,
    /// And, and load the old value into `src`.
    FetchAnd,
    /// Xor, and load the old value into `src`.
    FetchXor,
    /// Exchange `src` with memory.
    Xchg,
    /// Compare memory with r0 and store `src` when equal; the old value goes to r0.
    CmpXchg,
}

/// Branch conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    /// `==`
    Eq,
    /// `>` unsigned.
    Gt,
    /// `>=` unsigned.
    Ge,
    /// `dst & src != 0`.
    Set,
    /// `!=`
    Ne,
    /// `>` signed.
    Sgt,
    /// `>=` signed.
    Sge,
    /// `<` unsigned.
    Lt,
    /// `<=` unsigned.
    Le,
    /// `<` signed.
    Slt,
    /// `<=` signed.
    Sle,
}

impl Cond {
    /// Every condition, in opcode order.
    pub const ALL: [Cond; 11] = [
        Cond::Eq,
        Cond::Gt,
        Cond::Ge,
        Cond::Set,
        Cond::Ne,
        Cond::Sgt,
        Cond::Sge,
        Cond::Lt,
        Cond::Le,
        Cond::Slt,
        Cond::Sle,
    ];
}

/// One decoded instruction. `LoadImm64` stands for both slots of an `lddw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    /// `dst = dst op src`.
    Alu {
        /// 32- or 64-bit class.
        width: Width,
        /// The operation.
        op: AluOp,
        /// Destination (and first operand).
        dst: Reg,
        /// Second operand.
        src: Source,
    },
    /// An operation of SBPF V2's product/quotient/remainder class.
    Pqr {
        /// 32- or 64-bit (`uhmul` and `shmul` exist only in 64 bits).
        width: Width,
        /// The operation.
        op: PqrOp,
        /// Destination (and first operand).
        dst: Reg,
        /// Second operand.
        src: Source,
    },
    /// SBPF V2 `hor64`: OR the immediate into the upper 32 bits of `dst`.
    Hor64 {
        /// The register changed in place.
        dst: Reg,
        /// The 32 bits ORed into bits 32 to 63.
        imm: i32,
    },
    /// `dst = -dst`.
    Neg {
        /// 32- or 64-bit class.
        width: Width,
        /// The register negated in place.
        dst: Reg,
    },
    /// Byte-order conversion of the low `bits` bits (16, 32 or 64; any other value is encodable
    /// and rejected by the verifier).
    Endian {
        /// Which conversion.
        op: EndianOp,
        /// The register converted in place.
        dst: Reg,
        /// The immediate: the width in bits.
        bits: i32,
    },
    /// `lddw dst, imm`: two slots, one instruction.
    LoadImm64 {
        /// Destination.
        dst: Reg,
        /// The 64-bit value: low half from the first slot, high half from the second.
        imm: u64,
    },
    /// `dst = *(size *)(base + off)`.
    Load {
        /// Access width.
        size: MemSize,
        /// Zero- or sign-extension.
        extend: Extend,
        /// Destination.
        dst: Reg,
        /// Address base register.
        base: Reg,
        /// Signed offset added to the base.
        off: i16,
    },
    /// `*(size *)(base + off) = src`.
    Store {
        /// Access width.
        size: MemSize,
        /// Address base register (the `dst` field).
        base: Reg,
        /// Signed offset added to the base.
        off: i16,
        /// The stored value: a register (`stx*`) or the immediate (`st*`).
        src: Source,
    },
    /// An atomic read-modify-write on `*(size *)(base + off)` (eBPF).
    Atomic {
        /// Access width: `W` or `DW`.
        size: MemSize,
        /// The operation.
        op: AtomicOp,
        /// Address base register (the `dst` field).
        base: Reg,
        /// Signed offset added to the base.
        off: i16,
        /// The operand register (and the fetch destination).
        src: Reg,
    },
    /// A legacy packet load (`ldabs*`/`ldind*`); no verifier accepts it.
    PacketLoad {
        /// Absolute or indirect.
        mode: PacketMode,
        /// Access width.
        size: MemSize,
        /// The index register of `ldind`.
        src: Reg,
        /// The offset.
        imm: i32,
    },
    /// Unconditional jump to `pc + 1 + off`.
    Ja {
        /// Slot offset.
        off: i16,
    },
    /// eBPF `gotol`/`ja32`: unconditional jump to `pc + 1 + imm`.
    JaLong {
        /// Slot offset.
        off: i32,
    },
    /// Conditional jump to `pc + 1 + off`.
    Branch {
        /// JMP (64-bit) or JMP32 (32-bit, eBPF) comparison.
        width: Width,
        /// The condition.
        cond: Cond,
        /// Left operand.
        dst: Reg,
        /// Right operand.
        src: Source,
        /// Slot offset.
        off: i16,
    },
    /// `call imm`. The `src` field selects the kind: in sBPF with static syscalls 0 is a
    /// syscall and anything else an internal function; in SBPF V3 and V4 0 is a syscall and
    /// 1 a pc-relative call; in eBPF 0 is a helper by number and 1 a pc-relative local call.
    Call {
        /// The raw source field (0 to 15).
        src: u8,
        /// The immediate: a syscall key, helper number, function key or relative offset.
        imm: i32,
    },
    /// `callx reg`: call the address held in a register.
    CallReg {
        /// The register holding the target address.
        reg: Reg,
    },
    /// Return from a function, or end the program at the root frame.
    Exit,
}

impl Insn {
    /// How many slots the instruction occupies: 2 for `lddw`, else 1.
    pub const fn slot_count(&self) -> usize {
        match self {
            Insn::LoadImm64 { .. } => 2,
            Insn::Alu { .. }
            | Insn::Pqr { .. }
            | Insn::Hor64 { .. }
            | Insn::Neg { .. }
            | Insn::Endian { .. }
            | Insn::Load { .. }
            | Insn::Store { .. }
            | Insn::Atomic { .. }
            | Insn::PacketLoad { .. }
            | Insn::Ja { .. }
            | Insn::JaLong { .. }
            | Insn::Branch { .. }
            | Insn::Call { .. }
            | Insn::CallReg { .. }
            | Insn::Exit => 1,
        }
    }
}
