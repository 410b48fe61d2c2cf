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
//! [`emit_rm`] lays out any such instruction from an [`RmInsn`]. The most frequent forms
//! (no lock, no index, a register or `[base + disp]`) also have [`emit_simple`], which the
//! typed methods inline so that the operand kinds are resolved at compile time; both give
//! the same bytes, and the round-trip tests check both against the disassembler.
//!
//! Layout cannot fail: memory operands are checked when they become a [`CheckedMem`], and
//! callers check immediates and widths before they build an [`RmInsn`], so a failed
//! instruction never leaves a partial encoding in the buffer.

use crate::code_memory::CodeBuffer;
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
pub(crate) struct Imm {
    /// The value's bytes, little-endian in the low `width` bytes.
    bits: u32,
    /// 0 (no immediate), 1 (`ib`), 2 (`iw`) or 4 (`id`).
    width: u32,
}

impl Imm {
    /// No immediate.
    pub(crate) const NONE: Imm = Imm { bits: 0, width: 0 };

    /// `ib`.
    #[inline(always)]
    pub(crate) fn i8(value: i8) -> Imm {
        Imm {
            bits: u32::from(value as u8),
            width: 1,
        }
    }

    /// `iw`.
    #[inline(always)]
    pub(crate) fn i16(value: i16) -> Imm {
        Imm {
            bits: u32::from(value as u16),
            width: 2,
        }
    }

    /// `id`.
    #[inline(always)]
    pub(crate) fn i32(value: i32) -> Imm {
        Imm {
            bits: value as u32,
            width: 4,
        }
    }

    /// The value sign-extended from its width, or `None` without an immediate.
    #[inline(always)]
    pub(crate) fn value(self) -> Option<i32> {
        match self.width {
            0 => None,
            1 => Some(i32::from(self.bits as u8 as i8)),
            2 => Some(i32::from(self.bits as u16 as i16)),
            _ => Some(self.bits as i32),
        }
    }
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

/// The bytes of one instruction, accumulated in two register-sized words and appended to
/// the buffer at once: the *head* (prefixes, REX, opcode, ModRM, SIB: at most 8 bytes) and
/// the *tail* (displacement and immediate: at most 8 bytes). Shifts are masked so that a
/// longer sequence could only wrap, never panic. Keeping the bytes in registers rather than
/// a stack array avoids many narrow stores followed by one wide load, which the CPU cannot
/// forward, and 64-bit shifts are single instructions.
pub(crate) struct Bytes {
    head: u64,
    head_len: u32,
    tail: u64,
    tail_len: u32,
}

impl Bytes {
    #[inline(always)]
    pub(crate) fn new() -> Bytes {
        Bytes {
            head: 0,
            head_len: 0,
            tail: 0,
            tail_len: 0,
        }
    }

    /// Appends a byte to the head (to the tail once the head is full: only the 9-byte NOP
    /// is that long, and it has no tail of its own).
    #[inline(always)]
    pub(crate) fn push(&mut self, byte: u8) {
        if self.head_len < 8 {
            self.head |= u64::from(byte) << (self.head_len * 8);
            self.head_len += 1;
        } else {
            self.push_le(u32::from(byte), 1);
        }
    }

    /// Appends bytes to the head.
    #[inline(always)]
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.push(*byte);
        }
    }

    /// Appends the `width` (0, 1, 2 or 4) low bytes of `value` to the tail, little-endian.
    #[inline(always)]
    pub(crate) fn push_le(&mut self, value: u32, width: u32) {
        let mask = (1u64 << (8 * (width & 7))) - 1;
        self.tail |= (u64::from(value) & mask) << ((self.tail_len & 7) * 8);
        self.tail_len += width;
    }

    #[inline(always)]
    fn imm(&mut self, imm: Imm) {
        self.push_le(imm.bits, imm.width);
    }

    /// The number of bytes laid out.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        (self.head_len.min(8) + self.tail_len.min(8)) as usize
    }

    /// Appends the laid-out bytes to `buf` (two fixed 8-byte stores behind one capacity
    /// check, which is cheaper than copies of variable length).
    #[inline(always)]
    pub(crate) fn append_to(&self, buf: &mut CodeBuffer) {
        buf.append_words(
            self.head,
            self.head_len.min(8) as usize,
            self.tail,
            self.tail_len.min(8) as usize,
        );
    }
}

/// The `rm` operand of [`emit_simple`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum SimpleRm {
    /// A register.
    Reg(Gpr),
    /// `[base + disp]`, no index.
    Mem(Gpr, i32),
}

/// The operand size and register-naming needs of an [`emit_simple`] instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SimpleSize {
    /// The operand-size prefix (only `Default`, `Word` and `Quad` exist).
    pub size: OpSize,
    /// Whether a REX prefix is needed even without bits (SPL, BPL, SIL, DIL named as bytes).
    pub byte_rex: bool,
}

/// The layout of the most frequent instructions, inlined into each typed method so that
/// the operand kinds are known at compile time: an optional 0x66 prefix, REX, the opcode
/// bytes, a ModRM `reg` field of `reg` (a register number or an opcode digit) and an `rm`
/// register or `[base + disp]`, then `imm`. Byte for byte what [`emit_rm`] lays out for the
/// same instruction without lock or index.
#[inline(always)]
pub(crate) fn emit_simple(
    buf: &mut CodeBuffer,
    size: SimpleSize,
    opcode: &[u8],
    reg: u8,
    rm: SimpleRm,
    imm: Imm,
) {
    let mut out = Bytes::new();
    let (base, mode, disp) = match rm {
        SimpleRm::Reg(rm) => (rm, 0b11, Imm::NONE),
        SimpleRm::Mem(base, disp) => {
            let short = u8::from(i8::try_from(disp).is_ok());
            let none = u8::from(disp == 0 && base.low3() != 0b101);
            let mode = 2 - short - none;
            let disp = Imm {
                bits: disp as u32,
                width: disp_width(mode),
            };
            (base, mode, disp)
        }
    };
    if size.size == OpSize::Word {
        out.push(PREFIX_OPERAND_SIZE);
    }
    let rex = (u8::from(size.size == OpSize::Quad) * REX_W)
        | (u8::from(reg >= 8) * REX_R)
        | (u8::from(base.is_extended()) * REX_B);
    if rex != 0 || size.byte_rex {
        out.push(REX | rex);
    }
    out.extend(opcode);
    out.push(modrm(mode, reg, base.low3()));
    if mode != 0b11 && base.low3() == 0b100 {
        out.push(sib(0, 0b100, 0b100));
    }
    out.imm(disp);
    out.imm(imm);
    out.append_to(buf);
}

/// Emits `insn`. Returns the offset of the displacement field when `rm` is [`RmField::Rip`].
#[inline]
pub(crate) fn emit_rm(buf: &mut CodeBuffer, insn: &RmInsn<'_>) -> Option<usize> {
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
            out.push_le(0, 4);
            Some(at)
        }
    };
    out.imm(insn.imm);
    out.append_to(buf);
    rip_field
}

/// Emits an instruction whose register is added to the last opcode byte (`+r`), with no
/// ModRM: `push`, `pop`, `bswap`, `mov r, imm` (then with `imm`, else [`Imm::NONE`]).
#[inline]
pub(crate) fn emit_plus_r(
    buf: &mut CodeBuffer,
    size: OpSize,
    bytes: ByteRegs,
    opcode: &[u8],
    reg: Gpr,
    imm: Imm,
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
    out.imm(imm);
    out.append_to(buf);
}

/// Emits an instruction with no operand fields (`cdq`, `cqo`, `ret`, ...); `OpSize::Quad`
/// adds REX.W.
#[inline]
pub(crate) fn emit_plain(buf: &mut CodeBuffer, size: OpSize, opcode: &[u8]) {
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
pub(crate) fn emit_imm(buf: &mut CodeBuffer, imm: Imm) {
    let bytes = imm.bits.to_le_bytes();
    buf.extend_from_slice(bytes.get(..imm.width as usize).unwrap_or(&bytes));
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
    // No displacement for 0, except for RBP/R13 (`101`, which with mod 00 would mean
    // RIP-relative), a disp8 when it fits, else a disp32. Computed without branches: the
    // displacements of a program are not predictable.
    let short = u8::from(i8::try_from(mem.disp).is_ok());
    let none = u8::from(mem.disp == 0 && base != 0b101);
    let mode = 2 - short - none;
    let disp = Imm {
        bits: mem.disp as u32,
        width: disp_width(mode),
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

/// The displacement bytes of ModRM `mode` 0, 1 or 2: 0, 1 or 4, which is the mode squared
/// (arithmetic rather than a table lookup, which the compiler would spill to the stack).
#[inline(always)]
fn disp_width(mode: u8) -> u32 {
    let mode = u32::from(mode & 3).min(2);
    mode * mode
}

#[inline(always)]
fn modrm(mode: u8, reg: u8, rm: u8) -> u8 {
    (mode << 6) | ((reg & 7) << 3) | (rm & 7)
}

#[inline(always)]
fn sib(scale: u8, index: u8, base: u8) -> u8 {
    (scale << 6) | ((index & 7) << 3) | (base & 7)
}
