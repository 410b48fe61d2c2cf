//! The one place that lays out an instruction's bytes: prefixes, REX, opcode, ModRM, SIB,
//! displacement and immediate.
//!
//! An x86-64 instruction with a register/memory operand is
//!
//! ```text
//! [F0 lock] [66 operand size] [REX 0100WRXB] opcode... ModRM [SIB] [disp8|disp32] [imm]
//! ```
//!
//! * REX.W selects 64-bit operands; REX.R, REX.X and REX.B carry bit 3 of the ModRM `reg`,
//!   the SIB index and the ModRM `rm` (or SIB base, or `+r` opcode) register. A REX byte
//!   with no bits set is still needed when an 8-bit operand names SPL, BPL, SIL or DIL.
//! * ModRM is `mod(2) reg(3) rm(3)`. `mod = 11` is a register; otherwise `rm` is a base with
//!   no displacement (`00`), disp8 (`01`) or disp32 (`10`).
//! * Two `rm` values are escapes: `100` means a SIB byte follows (so RSP and R12 as a base
//!   always need a SIB), and `101` with `mod = 00` means RIP-relative disp32 (so RBP and R13
//!   as a base always need a displacement, a zero disp8 if nothing else).
//! * SIB is `scale(2) index(3) base(3)`; index `100` means "no index", which is why RSP
//!   cannot be an index.
//!
//! Layout cannot fail: memory operands are checked when they become a [`CheckedMem`], and
//! callers check immediates and widths before they build an [`RmInsn`], so a failed
//! instruction never leaves a partial encoding in the buffer.

use crate::error::EncodeError;
use crate::opcodes::{PREFIX_LOCK, PREFIX_OPERAND_SIZE, REX, REX_B, REX_R, REX_W, REX_X};
use crate::operand::{Gpr, Lock, Mem};

/// The operand-size prefix an instruction carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpSize {
    /// No prefix: 8-bit or 32-bit operands, or instructions that default to 64 bits.
    Default,
    /// The 0x66 prefix: 16-bit operands.
    Word,
    /// REX.W: 64-bit operands.
    Quad,
}

/// Which register operands name low bytes (and so need REX to reach SPL..DIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ByteRegs {
    /// Neither operand is an 8-bit register.
    None,
    /// Only the r/m operand is an 8-bit register (`movzx r32, r/m8`, `setcc`).
    Rm,
    /// Both register operands are 8-bit.
    Both,
}

/// The ModRM `reg` field: a register operand or an opcode extension digit.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RegField {
    /// A register operand.
    Reg(Gpr),
    /// An opcode extension `/n`.
    Digit(u8),
}

/// The ModRM `rm` operand.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RmField<'m> {
    /// A register (`mod = 11`).
    Reg(Gpr),
    /// A memory operand that x86 can express.
    Mem(CheckedMem<'m>),
    /// `[rip + disp32]`, the displacement filled in later by a label fixup.
    Rip,
}

impl<'m> RmField<'m> {
    /// A memory operand, rejected here if x86 cannot express it.
    pub(crate) fn mem(mem: &'m Mem) -> Result<RmField<'m>, EncodeError> {
        CheckedMem::new(mem).map(RmField::Mem)
    }
}

/// A memory operand whose index is not RSP; the only way into [`RmField::Mem`], so the byte
/// layout below cannot fail.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CheckedMem<'m>(&'m Mem);

impl<'m> CheckedMem<'m> {
    /// Checks `mem`.
    pub(crate) fn new(mem: &'m Mem) -> Result<CheckedMem<'m>, EncodeError> {
        match mem.index {
            Some((Gpr::Rsp, _)) => Err(EncodeError::RspAsIndex),
            Some(_) | None => Ok(CheckedMem(mem)),
        }
    }
}

/// A trailing immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Imm {
    /// No immediate.
    None,
    /// `ib`.
    I8(i8),
    /// `iw`.
    I16(i16),
    /// `id`.
    I32(i32),
}

/// An instruction with a ModRM byte.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RmInsn<'m> {
    pub lock: Lock,
    pub size: OpSize,
    pub bytes: ByteRegs,
    pub opcode: &'m [u8],
    pub reg: RegField,
    pub rm: RmField<'m>,
    pub imm: Imm,
}

/// The bytes of one instruction, laid out on the stack and appended to the buffer at once
/// (an x86 instruction has at most 15 bytes; the layout below never exceeds 16, and the
/// index is masked so that a longer one could only wrap, never panic).
pub(crate) struct Bytes {
    bytes: [u8; 16],
    len: usize,
}

impl Bytes {
    #[inline(always)]
    pub(crate) fn new() -> Bytes {
        Bytes {
            bytes: [0; 16],
            len: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, byte: u8) {
        self.bytes[self.len & 15] = byte;
        self.len += 1;
    }

    #[inline(always)]
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.push(*byte);
        }
    }

    #[inline(always)]
    fn imm(&mut self, imm: Imm) {
        match imm {
            Imm::None => {}
            Imm::I8(value) => self.push(value as u8),
            Imm::I16(value) => self.extend(&value.to_le_bytes()),
            Imm::I32(value) => self.extend(&value.to_le_bytes()),
        }
    }

    /// The number of bytes laid out.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len.min(16)
    }

    /// Appends the laid-out bytes to `buf` (a fixed 16-byte copy, then the length cut back,
    /// which is cheaper than a copy of variable length).
    #[inline(always)]
    pub(crate) fn append_to(&self, buf: &mut Vec<u8>) {
        let end = buf.len() + self.len();
        buf.extend_from_slice(&self.bytes);
        buf.truncate(end);
    }
}

/// Emits `insn`. Returns the offset of the displacement field when `rm` is [`RmField::Rip`].
#[inline]
pub(crate) fn emit_rm(buf: &mut Vec<u8>, insn: &RmInsn<'_>) -> Option<usize> {
    let mut out = Bytes::new();
    if insn.lock == Lock::Locked {
        out.push(PREFIX_LOCK);
    }
    if insn.size == OpSize::Word {
        out.push(PREFIX_OPERAND_SIZE);
    }
    let rex = rex_bits(insn);
    if rex != 0 || needs_byte_rex(insn) {
        out.push(REX | rex);
    }
    out.extend(insn.opcode);
    let reg = match insn.reg {
        RegField::Reg(reg) => reg.low3(),
        RegField::Digit(digit) => digit & 7,
    };
    let rip_field = match insn.rm {
        RmField::Reg(rm) => {
            out.push(modrm(0b11, reg, rm.low3()));
            None
        }
        RmField::Mem(CheckedMem(mem)) => {
            emit_mem(&mut out, reg, mem);
            None
        }
        RmField::Rip => {
            out.push(modrm(0b00, reg, 0b101));
            let at = buf.len() + out.len();
            out.extend(&[0; 4]);
            Some(at)
        }
    };
    out.imm(insn.imm);
    out.append_to(buf);
    rip_field
}

/// Emits an instruction whose register is added to the last opcode byte (`+r`), with no
/// ModRM: `push`, `pop`, `bswap`, `mov r, imm`.
#[inline]
pub(crate) fn emit_plus_r(
    buf: &mut Vec<u8>,
    size: OpSize,
    bytes: ByteRegs,
    opcode: &[u8],
    reg: Gpr,
) {
    let mut out = Bytes::new();
    if size == OpSize::Word {
        out.push(PREFIX_OPERAND_SIZE);
    }
    let mut rex = if size == OpSize::Quad { REX_W } else { 0 };
    if reg.is_extended() {
        rex |= REX_B;
    }
    if rex != 0 || (bytes != ByteRegs::None && reg.byte_needs_rex()) {
        out.push(REX | rex);
    }
    if let Some((last, head)) = opcode.split_last() {
        out.extend(head);
        out.push(last | reg.low3());
    }
    out.append_to(buf);
}

/// Emits an instruction with no operand fields (`cdq`, `cqo`, `ret`, ...); `OpSize::Quad`
/// adds REX.W.
#[inline]
pub(crate) fn emit_plain(buf: &mut Vec<u8>, size: OpSize, opcode: &[u8]) {
    let mut out = Bytes::new();
    if size == OpSize::Word {
        out.push(PREFIX_OPERAND_SIZE);
    }
    if size == OpSize::Quad {
        out.push(REX | REX_W);
    }
    out.extend(opcode);
    out.append_to(buf);
}

/// Emits the trailing immediate.
#[inline]
pub(crate) fn emit_imm(buf: &mut Vec<u8>, imm: Imm) {
    match imm {
        Imm::None => {}
        Imm::I8(value) => buf.extend_from_slice(&value.to_le_bytes()),
        Imm::I16(value) => buf.extend_from_slice(&value.to_le_bytes()),
        Imm::I32(value) => buf.extend_from_slice(&value.to_le_bytes()),
    }
}

#[inline(always)]
fn rex_bits(insn: &RmInsn<'_>) -> u8 {
    let mut rex = if insn.size == OpSize::Quad { REX_W } else { 0 };
    if let RegField::Reg(reg) = insn.reg {
        if reg.is_extended() {
            rex |= REX_R;
        }
    }
    match insn.rm {
        RmField::Reg(rm) if rm.is_extended() => rex |= REX_B,
        RmField::Mem(CheckedMem(mem)) => {
            if mem.base.is_extended() {
                rex |= REX_B;
            }
            if matches!(mem.index, Some((index, _)) if index.is_extended()) {
                rex |= REX_X;
            }
        }
        RmField::Reg(_) | RmField::Rip => {}
    }
    rex
}

/// Whether an empty REX is needed to name SPL, BPL, SIL or DIL instead of AH..BH.
#[inline(always)]
fn needs_byte_rex(insn: &RmInsn<'_>) -> bool {
    let reg_is_byte = insn.bytes == ByteRegs::Both;
    let rm_is_byte = insn.bytes != ByteRegs::None;
    let reg_needs = matches!(insn.reg, RegField::Reg(r) if reg_is_byte && r.byte_needs_rex());
    let rm_needs = matches!(insn.rm, RmField::Reg(r) if rm_is_byte && r.byte_needs_rex());
    reg_needs || rm_needs
}

/// Emits ModRM, SIB and displacement for a memory operand.
#[inline(always)]
fn emit_mem(out: &mut Bytes, reg: u8, mem: &Mem) {
    let base = mem.base.low3();
    let disp8 = i8::try_from(mem.disp).ok();
    // RBP/R13 (`101`) with mod 00 would mean RIP-relative, so they always carry a disp8.
    let (mode, disp) = match disp8 {
        Some(0) if base != 0b101 => (0b00, Imm::None),
        Some(small) => (0b01, Imm::I8(small)),
        None => (0b10, Imm::I32(mem.disp)),
    };
    match mem.index {
        Some((index, scale)) => {
            out.push(modrm(mode, reg, 0b100));
            out.push(sib(scale.bits(), index.low3(), base));
        }
        // RSP/R12 (`100`) as rm means "SIB follows": encode them as a base with no index.
        None if base == 0b100 => {
            out.push(modrm(mode, reg, 0b100));
            out.push(sib(0, 0b100, base));
        }
        None => out.push(modrm(mode, reg, base)),
    }
    out.imm(disp);
}

#[inline(always)]
fn modrm(mode: u8, reg: u8, rm: u8) -> u8 {
    (mode << 6) | ((reg & 7) << 3) | (rm & 7)
}

#[inline(always)]
fn sib(scale: u8, index: u8, base: u8) -> u8 {
    (scale << 6) | ((index & 7) << 3) | (base & 7)
}
