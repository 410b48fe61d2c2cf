//! The vocabulary of the encoder: registers, operand widths, memory operands, condition codes
//! and the kinds of the instruction families.
//!
//! Everything here is a plain value type. Hardware numbers (a register's 4-bit index, a
//! condition's 4-bit code, a kind's ModRM digit) are private to the crate and reached only
//! through the methods the encoder uses; callers name things, they never pass numbers.

/// A 64-bit general-purpose register. The same enum names every width of the register; the
/// [`Size`] of an instruction picks `eax`, `ax` or `al` (with a REX prefix the low bytes of
/// RSP, RBP, RSI and RDI are `spl`, `bpl`, `sil`, `dil`; this encoder never produces `ah`..`bh`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(
    missing_docs,
    reason = "the variants are the architectural register names"
)]
pub enum Gpr {
    Rax,
    Rcx,
    Rdx,
    Rbx,
    Rsp,
    Rbp,
    Rsi,
    Rdi,
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
}

impl Gpr {
    /// All sixteen registers in hardware order.
    pub const ALL: [Gpr; 16] = [
        Gpr::Rax,
        Gpr::Rcx,
        Gpr::Rdx,
        Gpr::Rbx,
        Gpr::Rsp,
        Gpr::Rbp,
        Gpr::Rsi,
        Gpr::Rdi,
        Gpr::R8,
        Gpr::R9,
        Gpr::R10,
        Gpr::R11,
        Gpr::R12,
        Gpr::R13,
        Gpr::R14,
        Gpr::R15,
    ];

    /// The 4-bit hardware number (REX extension bit and the 3 ModRM bits).
    pub(crate) fn number(self) -> u8 {
        self as u8
    }

    /// The low three bits that go into ModRM, SIB or the opcode byte.
    pub(crate) fn low3(self) -> u8 {
        self.number() & 7
    }

    /// Whether the register needs a REX extension bit (R8..R15).
    pub(crate) fn is_extended(self) -> bool {
        self.number() >= 8
    }

    /// Whether naming this register's low byte requires a REX prefix (SPL, BPL, SIL, DIL;
    /// without REX these encodings mean AH, CH, DH, BH).
    pub(crate) fn byte_needs_rex(self) -> bool {
        matches!(self, Gpr::Rsp | Gpr::Rbp | Gpr::Rsi | Gpr::Rdi)
    }
}

/// The width of an operation's operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Size {
    /// 8 bits (`byte`).
    S8,
    /// 16 bits (`word`, operand-size prefix 0x66).
    S16,
    /// 32 bits (`dword`; writing a 32-bit register zeroes the upper half).
    S32,
    /// 64 bits (`qword`, REX.W).
    S64,
}

impl Size {
    /// The width in bits.
    pub fn bits(self) -> u32 {
        match self {
            Size::S8 => 8,
            Size::S16 => 16,
            Size::S32 => 32,
            Size::S64 => 64,
        }
    }
}

/// The scale factor of a memory operand's index register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scale {
    /// index * 1
    One,
    /// index * 2
    Two,
    /// index * 4
    Four,
    /// index * 8
    Eight,
}

impl Scale {
    /// The two SIB scale bits.
    pub(crate) fn bits(self) -> u8 {
        match self {
            Scale::One => 0,
            Scale::Two => 1,
            Scale::Four => 2,
            Scale::Eight => 3,
        }
    }

    /// The multiplier.
    pub fn factor(self) -> u32 {
        1 << self.bits()
    }
}

/// A memory operand `[base + index * scale + disp]`.
///
/// RSP cannot be an index (its SIB encoding means "no index"); the encoder returns
/// [`EncodeError::RspAsIndex`](crate::EncodeError::RspAsIndex) for it. Every base register
/// works: the RSP/R12 and RBP/R13 quirks (SIB byte, forced displacement) are handled inside.
/// RIP-relative addressing is reached through labels ([`Assembler::lea_label`](crate::Assembler::lea_label)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mem {
    /// The base register.
    pub base: Gpr,
    /// An optional scaled index register.
    pub index: Option<(Gpr, Scale)>,
    /// The signed displacement.
    pub disp: i32,
}

impl Mem {
    /// `[base]`.
    pub fn base(base: Gpr) -> Mem {
        Mem {
            base,
            index: None,
            disp: 0,
        }
    }

    /// `[base + disp]`.
    pub fn base_disp(base: Gpr, disp: i32) -> Mem {
        Mem {
            base,
            index: None,
            disp,
        }
    }

    /// `[base + index * scale + disp]`.
    pub fn indexed(base: Gpr, index: Gpr, scale: Scale, disp: i32) -> Mem {
        Mem {
            base,
            index: Some((index, scale)),
            disp,
        }
    }
}

/// A register or a memory location: the `r/m` operand of the Intel manual.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegMem {
    /// A register.
    Reg(Gpr),
    /// A memory location.
    Mem(Mem),
}

impl From<Gpr> for RegMem {
    fn from(reg: Gpr) -> RegMem {
        RegMem::Reg(reg)
    }
}

impl From<Mem> for RegMem {
    fn from(mem: Mem) -> RegMem {
        RegMem::Mem(mem)
    }
}

/// A source operand: register, immediate or memory.
///
/// Immediates are signed 32-bit values; a 64-bit operation sign-extends them. For 8- and 16-bit
/// operations the value must fit the width, as a signed or an unsigned number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A register.
    Reg(Gpr),
    /// An immediate.
    Imm(i32),
    /// A memory location.
    Mem(Mem),
}

impl From<Gpr> for Operand {
    fn from(reg: Gpr) -> Operand {
        Operand::Reg(reg)
    }
}

impl From<Mem> for Operand {
    fn from(mem: Mem) -> Operand {
        Operand::Mem(mem)
    }
}

impl From<i32> for Operand {
    fn from(imm: i32) -> Operand {
        Operand::Imm(imm)
    }
}

impl From<RegMem> for Operand {
    fn from(rm: RegMem) -> Operand {
        match rm {
            RegMem::Reg(reg) => Operand::Reg(reg),
            RegMem::Mem(mem) => Operand::Mem(mem),
        }
    }
}

/// A condition code, as tested by `jcc`, `setcc` and `cmovcc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cond {
    /// Overflow (OF = 1).
    O,
    /// No overflow (OF = 0).
    No,
    /// Below, unsigned less than (CF = 1).
    B,
    /// Above or equal, unsigned (CF = 0).
    Ae,
    /// Equal (ZF = 1).
    E,
    /// Not equal (ZF = 0).
    Ne,
    /// Below or equal, unsigned (CF = 1 or ZF = 1).
    Be,
    /// Above, unsigned greater than (CF = 0 and ZF = 0).
    A,
    /// Sign (SF = 1).
    S,
    /// No sign (SF = 0).
    Ns,
    /// Parity (PF = 1).
    P,
    /// No parity (PF = 0).
    Np,
    /// Less, signed (SF != OF).
    L,
    /// Greater or equal, signed (SF = OF).
    Ge,
    /// Less or equal, signed (ZF = 1 or SF != OF).
    Le,
    /// Greater, signed (ZF = 0 and SF = OF).
    G,
}

impl Cond {
    /// All sixteen conditions in hardware order.
    pub const ALL: [Cond; 16] = [
        Cond::O,
        Cond::No,
        Cond::B,
        Cond::Ae,
        Cond::E,
        Cond::Ne,
        Cond::Be,
        Cond::A,
        Cond::S,
        Cond::Ns,
        Cond::P,
        Cond::Np,
        Cond::L,
        Cond::Ge,
        Cond::Le,
        Cond::G,
    ];

    /// The 4-bit condition code added to the `jcc`/`setcc`/`cmovcc` base opcodes.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// The opposite condition (flipping the low bit of the code).
    pub fn invert(self) -> Cond {
        match self {
            Cond::O => Cond::No,
            Cond::No => Cond::O,
            Cond::B => Cond::Ae,
            Cond::Ae => Cond::B,
            Cond::E => Cond::Ne,
            Cond::Ne => Cond::E,
            Cond::Be => Cond::A,
            Cond::A => Cond::Be,
            Cond::S => Cond::Ns,
            Cond::Ns => Cond::S,
            Cond::P => Cond::Np,
            Cond::Np => Cond::P,
            Cond::L => Cond::Ge,
            Cond::Ge => Cond::L,
            Cond::Le => Cond::G,
            Cond::G => Cond::Le,
        }
    }
}

/// The eight classic two-operand ALU operations (opcodes 00..3F and group 1, 80/81/83).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AluKind {
    /// `add`
    Add,
    /// `or`
    Or,
    /// `adc`, add with carry
    Adc,
    /// `sbb`, subtract with borrow
    Sbb,
    /// `and`
    And,
    /// `sub`
    Sub,
    /// `xor`
    Xor,
    /// `cmp`, a `sub` that only sets flags
    Cmp,
}

impl AluKind {
    /// All eight kinds in hardware order.
    pub const ALL: [AluKind; 8] = [
        AluKind::Add,
        AluKind::Or,
        AluKind::Adc,
        AluKind::Sbb,
        AluKind::And,
        AluKind::Sub,
        AluKind::Xor,
        AluKind::Cmp,
    ];

    /// The assembler mnemonic.
    pub fn mnemonic(self) -> &'static str {
        match self {
            AluKind::Add => "add",
            AluKind::Or => "or",
            AluKind::Adc => "adc",
            AluKind::Sbb => "sbb",
            AluKind::And => "and",
            AluKind::Sub => "sub",
            AluKind::Xor => "xor",
            AluKind::Cmp => "cmp",
        }
    }

    /// The group-1 ModRM digit, which is also the row of the 00..3F opcode block.
    pub(crate) fn digit(self) -> u8 {
        self as u8
    }
}

/// The shift and rotate operations of group 2 (C0/C1/D0/D1/D2/D3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShiftKind {
    /// `rol`, rotate left
    Rol,
    /// `ror`, rotate right
    Ror,
    /// `shl`, shift left
    Shl,
    /// `shr`, logical shift right
    Shr,
    /// `sar`, arithmetic shift right
    Sar,
}

impl ShiftKind {
    /// All five kinds.
    pub const ALL: [ShiftKind; 5] = [
        ShiftKind::Rol,
        ShiftKind::Ror,
        ShiftKind::Shl,
        ShiftKind::Shr,
        ShiftKind::Sar,
    ];

    /// The group-2 ModRM digit.
    pub(crate) fn digit(self) -> u8 {
        match self {
            ShiftKind::Rol => 0,
            ShiftKind::Ror => 1,
            ShiftKind::Shl => 4,
            ShiftKind::Shr => 5,
            ShiftKind::Sar => 7,
        }
    }
}

/// How far a shift moves. The CPU masks the count to 5 bits (6 for 64-bit operations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShiftAmount {
    /// The count in CL.
    Cl,
    /// A constant count.
    Imm(u8),
}

/// Whether a read-modify-write instruction on memory carries the `lock` prefix.
///
/// eBPF atomics run single-threaded per VM, so a JIT may use [`Lock::Plain`]; [`Lock::Locked`]
/// gives the architectural atomicity when memory is shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lock {
    /// No prefix.
    Plain,
    /// The 0xF0 `lock` prefix.
    Locked,
}
