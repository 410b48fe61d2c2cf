//! The [`Assembler`]: a code buffer, its labels, and the data-movement instructions.
//!
//! The arithmetic instructions live in `arith.rs` and the control-flow ones in `control.rs`;
//! all three are `impl Assembler` blocks over the byte layout in `encode.rs`. Methods whose
//! operands x86 can always encode return `()`; methods that take a memory operand, an
//! immediate, a label or a width that some forms lack return `Result<(), EncodeError>` and
//! write nothing when they fail.

use crate::code_memory::{CodeBuffer, CodeMemoryError, CodePool};
use crate::encode::{
    emit_imm, emit_plain, emit_plus_r, emit_rm, emit_simple, ByteRegs, Bytes, Imm, OpSize,
    RegField, RmField, RmInsn, SimpleRm, SimpleSize,
};
use crate::error::{EncodeError, Reach};
use crate::label::{Fixup, Label, Labels};
use crate::opcodes::{
    LEA, MOVSXD_R_RM32, MOVSX_R_RM16, MOVSX_R_RM8, MOVZX_R_RM16, MOVZX_R_RM8, MOV_RM_IMM,
    MOV_RM_IMM_8, MOV_RM_R, MOV_RM_R_8, MOV_R_IMM, MOV_R_IMM_8, MOV_R_RM, MOV_R_RM_8,
};
use crate::operand::{Gpr, Lock, Mem, RegMem, Size};

/// An x86-64 code buffer with typed instruction methods, labels and fixups.
#[derive(Clone, Debug, Default)]
pub struct Assembler {
    code: CodeBuffer,
    labels: Labels,
}

impl Assembler {
    /// An empty assembler.
    #[inline]
    pub fn new() -> Assembler {
        Assembler::default()
    }

    /// An empty assembler whose buffer has room for `capacity` bytes.
    #[inline]
    pub fn with_capacity(capacity: usize) -> Assembler {
        Assembler {
            code: CodeBuffer::from_vec(Vec::with_capacity(capacity)),
            labels: Labels::default(),
        }
    }

    /// An empty assembler with room for `capacity` bytes, `labels` labels and `fixups`
    /// pending uses of labels not bound yet, so that emitting up to that much never
    /// reallocates.
    #[inline]
    pub fn with_capacities(capacity: usize, labels: usize, fixups: usize) -> Assembler {
        Assembler {
            code: CodeBuffer::from_vec(Vec::with_capacity(capacity)),
            labels: Labels::with_capacity(labels, fixups),
        }
    }

    /// An empty assembler that emits into `buffer` (cleared first), so that a caller can
    /// reuse one allocation across many assemblies ([`Assembler::finish`] hands it back).
    #[inline]
    pub fn with_buffer(buffer: Vec<u8>, labels: usize, fixups: usize) -> Assembler {
        Assembler {
            code: CodeBuffer::from_vec(buffer),
            labels: Labels::with_capacity(labels, fixups),
        }
    }

    /// An empty assembler that emits straight into read-write code memory from `pool`, with
    /// room for `capacity` bytes before it first moves to a larger mapping
    /// ([`Assembler::finish_buffer`], then [`CodeBuffer::into_writable`], hands the code over
    /// where it was written).
    #[inline]
    pub fn in_code_memory(
        pool: &CodePool,
        capacity: usize,
        labels: usize,
        fixups: usize,
    ) -> Result<Assembler, CodeMemoryError> {
        Ok(Assembler {
            code: CodeBuffer::in_code_memory(pool, capacity)?,
            labels: Labels::with_capacity(labels, fixups),
        })
    }

    /// The offset the next instruction will be emitted at.
    #[inline]
    pub fn offset(&self) -> usize {
        self.code.len()
    }

    /// The bytes emitted so far (fixups of unbound labels still hold zeros).
    #[inline]
    pub fn code(&self) -> &[u8] {
        &self.code
    }

    /// The code buffer, for the encoders of other instruction families.
    #[inline(always)]
    pub(crate) fn code_vec(&mut self) -> &mut CodeBuffer {
        &mut self.code
    }

    /// Drops everything after the first `len` bytes (for a caller that appended a fixed-size
    /// block with [`Assembler::data`] and keeps only its start). No effect if `len` is not
    /// shorter than the code.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        self.code.truncate(len);
    }

    /// Appends `len` zero data bytes and returns them for the caller to fill (a table inside
    /// the code).
    #[inline]
    pub fn data_zeroed(&mut self, len: usize) -> &mut [u8] {
        let start = self.code.len();
        self.code.resize(start + len, 0);
        let end = self.code.len();
        self.code.get_mut(start..end).unwrap_or_default()
    }

    /// Overwrites bytes at `at` (a field of code appended with [`Assembler::data`], e.g. an
    /// immediate of a pre-encoded sequence). Fails, writing nothing, when they lie outside
    /// the code.
    #[inline]
    pub fn write_data(&mut self, at: usize, bytes: &[u8]) -> Result<(), EncodeError> {
        let out_of_range = EncodeError::PatchOutOfRange {
            at,
            len: bytes.len(),
            bytes: self.code.len(),
        };
        let end = at.checked_add(bytes.len()).ok_or(out_of_range)?;
        self.code
            .get_mut(at..end)
            .ok_or(out_of_range)?
            .copy_from_slice(bytes);
        Ok(())
    }

    /// The code from offset `start` on (empty when `start` is past the end), for writing
    /// the fields of a pre-encoded sequence just appended with [`Assembler::data`].
    #[inline]
    pub fn code_from_mut(&mut self, start: usize) -> &mut [u8] {
        self.code.get_mut(start..).unwrap_or_default()
    }

    /// A new, unbound label.
    #[inline]
    pub fn new_label(&mut self) -> Label {
        self.labels.new_label()
    }

    /// Binds `label` to the current offset and patches every earlier use of it.
    #[inline]
    pub fn bind(&mut self, label: Label) -> Result<(), EncodeError> {
        let offset = self.code.len();
        self.labels.bind(label, offset, &mut self.code)
    }

    /// The offset `label` is bound to, or `None` while it is unbound.
    #[inline]
    pub fn label_offset(&self, label: Label) -> Option<usize> {
        self.labels.offset(label)
    }

    /// The finished code; fails if a used label was never bound.
    #[inline]
    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        self.labels.check_all_bound()?;
        Ok(self.code.into_vec())
    }

    /// The finished code in the buffer it was written in (code memory for an assembler made
    /// by [`Assembler::in_code_memory`]); fails if a used label was never bound.
    #[inline]
    pub fn finish_buffer(self) -> Result<CodeBuffer, EncodeError> {
        self.labels.check_all_bound()?;
        Ok(self.code)
    }

    /// Appends the first `len` bytes (at most 32) of `block`, pre-encoded code, with one
    /// fixed-size copy (see [`CodeBuffer::append_block`]).
    #[inline(always)]
    pub fn data_block(&mut self, block: &[u8; 32], len: usize) {
        self.code.append_block(block, len);
    }

    /// Appends raw data bytes (a constant or a table inside the code), not instructions.
    #[inline]
    pub fn data(&mut self, bytes: &[u8]) {
        self.code.extend_from_slice(bytes);
    }

    /// Appends the `head_len` low bytes of `head`, then the `tail_len` low bytes of `tail`
    /// (little-endian, each length at most 8): up to 16 bytes of pre-encoded code in two
    /// fixed-size stores (see [`CodeBuffer::append_words`]).
    #[inline(always)]
    pub fn data_words(&mut self, head: u64, head_len: usize, tail: u64, tail_len: usize) {
        self.code.append_words(head, head_len, tail, tail_len);
    }

    /// Emits one ModRM instruction.
    #[inline]
    pub(crate) fn rm_insn(&mut self, insn: RmInsn<'_>) {
        // Only RIP-relative operands report a field, and they go through `rip_insn`.
        let _rip_field = emit_rm(&mut self.code, &insn);
    }

    /// Emits an instruction with a `+r` opcode.
    #[inline]
    pub(crate) fn plus_r(&mut self, size: OpSize, bytes: ByteRegs, opcode: &[u8], reg: Gpr) {
        emit_plus_r(&mut self.code, size, bytes, opcode, reg, Imm::NONE);
    }

    /// Emits an instruction without ModRM followed by an immediate.
    #[inline]
    pub(crate) fn with_imm(&mut self, opcode: &[u8], imm: Imm) {
        emit_plain(&mut self.code, OpSize::Default, opcode);
        emit_imm(&mut self.code, imm);
    }

    /// Emits an instruction without ModRM or immediate.
    #[inline]
    pub(crate) fn no_operands(&mut self, size: OpSize, opcode: &[u8]) {
        emit_plain(&mut self.code, size, opcode);
    }

    /// Emits `opcode` followed by a zeroed displacement field of `reach` (the instruction
    /// ends right after it), and records the field as a use of `label`. Writes nothing when
    /// the use fails.
    #[inline]
    pub(crate) fn label_insn(
        &mut self,
        opcode: &[u8],
        label: Label,
        reach: Reach,
    ) -> Result<(), EncodeError> {
        let start = self.code.len();
        let mut out = Bytes::new();
        out.extend(opcode);
        let at = start + out.len();
        let width = match reach {
            Reach::Rel8 => 1,
            Reach::Rel32 => 4,
        };
        out.push_le(0, width as u32);
        out.append_to(&mut self.code);
        let fixup = Fixup {
            at,
            end: at + width,
            reach,
        };
        self.labels
            .use_label(label, fixup, &mut self.code)
            .inspect_err(|_| self.code.truncate(start))
    }

    /// Emits `insn` with a RIP-relative operand that points at `label`.
    #[inline]
    pub(crate) fn rip_insn(&mut self, label: Label, insn: RmInsn<'_>) -> Result<(), EncodeError> {
        let start = self.code.len();
        let field = emit_rm(
            &mut self.code,
            &RmInsn {
                rm: RmField::Rip,
                ..insn
            },
        );
        let end = self.code.len();
        match field {
            Some(at) => {
                let fixup = Fixup {
                    at,
                    end,
                    reach: Reach::Rel32,
                };
                self.labels
                    .use_label(label, fixup, &mut self.code)
                    .inspect_err(|_| {
                        self.code.truncate(start);
                    })
            }
            None => Ok(()),
        }
    }

    // ---- Data movement ----------------------------------------------------------------------

    /// `mov dst, src` between registers.
    #[inline(always)]
    pub fn mov(&mut self, size: Size, dst: Gpr, src: Gpr) {
        let opcode = pick(size, MOV_RM_R_8, MOV_RM_R);
        let regs = size == Size::S8 && (src.byte_needs_rex() || dst.byte_needs_rex());
        let size = simple_size(size, regs);
        emit_simple(
            &mut self.code,
            size,
            opcode,
            src.number(),
            SimpleRm::Reg(dst),
            Imm::NONE,
        );
    }

    /// `mov dst, imm`: 8/16/32-bit immediates of that width, or for [`Size::S64`] a 32-bit
    /// immediate sign-extended to 64 bits (`mov r/m64, imm32`).
    #[inline]
    pub fn mov_imm(&mut self, size: Size, dst: Gpr, imm: i32) -> Result<(), EncodeError> {
        let value = sized_imm("mov", size, imm)?;
        match size {
            Size::S8 => self.plus_r(OpSize::Default, ByteRegs::Both, MOV_R_IMM_8, dst),
            Size::S16 | Size::S32 => self.plus_r(op_size(size), ByteRegs::None, MOV_R_IMM, dst),
            Size::S64 => {
                self.mov_r64_imm32(dst, value);
                return Ok(());
            }
        }
        emit_imm(&mut self.code, value);
        Ok(())
    }

    /// `mov r/m64, imm32` (sign-extended) with a register destination, through the inlined
    /// layout (`emit_simple`) rather than the general encoder.
    #[inline(always)]
    fn mov_r64_imm32(&mut self, dst: Gpr, imm: Imm) {
        let size = simple_size(Size::S64, false);
        emit_simple(&mut self.code, size, MOV_RM_IMM, 0, SimpleRm::Reg(dst), imm);
    }

    /// `movabs dst, imm64`: always the 10-byte form.
    #[inline]
    pub fn movabs(&mut self, dst: Gpr, imm: u64) {
        self.plus_r(OpSize::Quad, ByteRegs::None, MOV_R_IMM, dst);
        self.code.extend_from_slice(&imm.to_le_bytes());
    }

    /// Loads the 64-bit constant `value` into `dst` with the shortest `mov`: a 32-bit move
    /// (which zero-extends) when it fits in `u32`, the sign-extended imm32 form when it fits in
    /// `i32`, else `movabs`. Flags are untouched.
    #[inline(always)]
    pub fn mov_imm64(&mut self, dst: Gpr, value: u64) {
        if let Ok(low) = u32::try_from(value) {
            let imm = Imm::i32(low as i32);
            emit_plus_r(
                &mut self.code,
                OpSize::Default,
                ByteRegs::None,
                MOV_R_IMM,
                dst,
                imm,
            );
        } else if let Ok(signed) = i32::try_from(value as i64) {
            // A blinded constant is this form about half the time.
            self.mov_r64_imm32(dst, Imm::i32(signed));
        } else {
            self.movabs(dst, value);
        }
    }

    /// `mov dst, [src]`: a load of `size` bits. 8- and 16-bit loads leave the rest of `dst`
    /// unchanged; use [`Assembler::movzx`] to zero-extend. A 32-bit load zeroes the upper half.
    #[inline]
    pub fn load(&mut self, size: Size, dst: Gpr, src: Mem) -> Result<(), EncodeError> {
        self.mov_reg_mem(size, pick(size, MOV_R_RM_8, MOV_R_RM), dst, src)
    }

    /// `mov [dst], src`: a store of the low `size` bits of `src`.
    #[inline]
    pub fn store(&mut self, size: Size, dst: Mem, src: Gpr) -> Result<(), EncodeError> {
        self.mov_reg_mem(size, pick(size, MOV_RM_R_8, MOV_RM_R), src, dst)
    }

    /// A move between `reg` and `[mem]` (direction by `opcode`), through the short layout
    /// when the operand allows it.
    #[inline(always)]
    fn mov_reg_mem(
        &mut self,
        size: Size,
        opcode: &[u8],
        reg: Gpr,
        mem: Mem,
    ) -> Result<(), EncodeError> {
        if let Some(rm) = simple_mem(&mem) {
            let byte_rex = size == Size::S8 && reg.byte_needs_rex();
            let size = simple_size(size, byte_rex);
            emit_simple(&mut self.code, size, opcode, reg.number(), rm, Imm::NONE);
            return Ok(());
        }
        self.rm_insn(reg_rm(size, opcode, reg, RmField::mem(&mem)?));
        Ok(())
    }

    /// `mov [dst], imm`: a store of an immediate (sign-extended from 32 bits for `S64`).
    #[inline]
    pub fn store_imm(&mut self, size: Size, dst: Mem, imm: i32) -> Result<(), EncodeError> {
        let value = sized_imm("mov", size, imm)?;
        let opcode = pick(size, MOV_RM_IMM_8, MOV_RM_IMM);
        if let Some(rm) = simple_mem(&dst) {
            emit_simple(
                &mut self.code,
                simple_size(size, false),
                opcode,
                0,
                rm,
                value,
            );
            return Ok(());
        }
        let insn = digit_rm(size, opcode, 0, RmField::mem(&dst)?);
        self.rm_insn(RmInsn { imm: value, ..insn });
        Ok(())
    }

    /// `movzx dst, src`: zero-extends an 8- or 16-bit `src` into a `to`-bit `dst`.
    #[inline(always)]
    pub fn movzx(
        &mut self,
        from: Size,
        to: Size,
        dst: Gpr,
        src: RegMem,
    ) -> Result<(), EncodeError> {
        let opcode = match (from, to) {
            (Size::S8, Size::S16 | Size::S32 | Size::S64) => MOVZX_R_RM8,
            (Size::S16, Size::S32 | Size::S64) => MOVZX_R_RM16,
            _ => {
                return Err(EncodeError::InvalidExtension {
                    mnemonic: "movzx",
                    from,
                    to,
                })
            }
        };
        self.extend(from, to, opcode, dst, &src)
    }

    /// `movsx dst, src` (`movsxd` from 32 bits): sign-extends `src` into a `to`-bit `dst`.
    #[inline(always)]
    pub fn movsx(
        &mut self,
        from: Size,
        to: Size,
        dst: Gpr,
        src: RegMem,
    ) -> Result<(), EncodeError> {
        let opcode = match (from, to) {
            (Size::S8, Size::S16 | Size::S32 | Size::S64) => MOVSX_R_RM8,
            (Size::S16, Size::S32 | Size::S64) => MOVSX_R_RM16,
            (Size::S32, Size::S64) => MOVSXD_R_RM32,
            _ => {
                return Err(EncodeError::InvalidExtension {
                    mnemonic: "movsx",
                    from,
                    to,
                })
            }
        };
        self.extend(from, to, opcode, dst, &src)
    }

    /// `movsxd dst, src`: sign-extends 32 bits into 64.
    #[inline]
    pub fn movsxd(&mut self, dst: Gpr, src: RegMem) -> Result<(), EncodeError> {
        self.movsx(Size::S32, Size::S64, dst, src)
    }

    #[inline(always)]
    fn extend(
        &mut self,
        from: Size,
        to: Size,
        opcode: &[u8],
        dst: Gpr,
        src: &RegMem,
    ) -> Result<(), EncodeError> {
        let bytes = if from == Size::S8 {
            ByteRegs::Rm
        } else {
            ByteRegs::None
        };
        let rm = match src {
            RegMem::Reg(reg) => Some((
                SimpleRm::Reg(*reg),
                from == Size::S8 && reg.byte_needs_rex(),
            )),
            RegMem::Mem(mem) => simple_mem(mem).map(|rm| (rm, false)),
        };
        if let Some((rm, byte_rex)) = rm {
            let size = simple_size(to, byte_rex);
            emit_simple(&mut self.code, size, opcode, dst.number(), rm, Imm::NONE);
            return Ok(());
        }
        let insn = reg_rm(to, opcode, dst, rm_field(src)?);
        self.rm_insn(RmInsn { bytes, ..insn });
        Ok(())
    }

    /// `lea dst, [src]`: the address computation without a memory access (16/32/64 bits).
    #[inline(always)]
    pub fn lea(&mut self, size: Size, dst: Gpr, src: Mem) -> Result<(), EncodeError> {
        if size == Size::S8 {
            return Err(EncodeError::UnsupportedSize {
                mnemonic: "lea",
                size,
            });
        }
        if let Some(rm) = simple_mem(&src) {
            emit_simple(
                &mut self.code,
                simple_size(size, false),
                LEA,
                dst.number(),
                rm,
                Imm::NONE,
            );
            return Ok(());
        }
        self.rm_insn(reg_rm(size, LEA, dst, RmField::mem(&src)?));
        Ok(())
    }

    /// `lea dst, [rip + label]`: the absolute address of `label` at run time, for pc tables
    /// and constants placed in the code.
    #[inline]
    pub fn lea_label(&mut self, dst: Gpr, label: Label) -> Result<(), EncodeError> {
        self.rip_insn(label, reg_rm(Size::S64, LEA, dst, RmField::Rip))
    }

    /// `lea dst, [rip + disp32]` whose target offset is written later with
    /// [`Assembler::patch_rel32`] (the displacement field ends the instruction).
    #[inline]
    pub fn lea_pending(&mut self, dst: Gpr) -> crate::Rel32 {
        let at = emit_rm(&mut self.code, &reg_rm(Size::S64, LEA, dst, RmField::Rip));
        crate::control::rel32_at(at.unwrap_or(self.code.len().saturating_sub(4)))
    }

    /// `mov dst, [rip + label]`: loads `size` bits stored at `label`.
    #[inline]
    pub fn load_label(&mut self, size: Size, dst: Gpr, label: Label) -> Result<(), EncodeError> {
        let opcode = pick(size, MOV_R_RM_8, MOV_R_RM);
        self.rip_insn(label, reg_rm(size, opcode, dst, RmField::Rip))
    }
}

/// The [`SimpleSize`] of a `size`-bit instruction; `byte_rex` when it names SPL, BPL, SIL
/// or DIL as a byte register.
#[inline(always)]
pub(crate) fn simple_size(size: Size, byte_rex: bool) -> SimpleSize {
    SimpleSize {
        size: op_size(size),
        byte_rex,
    }
}

/// `[base + disp]` for [`emit_simple`], when `mem` has no index.
#[inline(always)]
pub(crate) fn simple_mem(mem: &Mem) -> Option<SimpleRm> {
    match mem.index {
        None => Some(SimpleRm::Mem(mem.base, mem.disp)),
        Some(_) => None,
    }
}

/// The operand-size prefix for `size`.
#[inline]
pub(crate) fn op_size(size: Size) -> OpSize {
    match size {
        Size::S8 | Size::S32 => OpSize::Default,
        Size::S16 => OpSize::Word,
        Size::S64 => OpSize::Quad,
    }
}

/// The byte-register marking for an instruction whose operands are all `size` bits.
#[inline]
pub(crate) fn byte_regs(size: Size) -> ByteRegs {
    match size {
        Size::S8 => ByteRegs::Both,
        Size::S16 | Size::S32 | Size::S64 => ByteRegs::None,
    }
}

/// The 8-bit or the wider opcode of a family.
#[inline]
pub(crate) fn pick<'a>(size: Size, byte: &'a [u8], wide: &'a [u8]) -> &'a [u8] {
    match size {
        Size::S8 => byte,
        Size::S16 | Size::S32 | Size::S64 => wide,
    }
}

/// The ModRM `rm` field of a register-or-memory operand.
#[inline]
pub(crate) fn rm_field(rm: &RegMem) -> Result<RmField<'_>, EncodeError> {
    match rm {
        RegMem::Reg(reg) => Ok(RmField::Reg(*reg)),
        RegMem::Mem(mem) => RmField::mem(mem),
    }
}

/// A `size`-bit instruction `opcode /r` with no immediate and no lock.
#[inline]
pub(crate) fn reg_rm<'m>(size: Size, opcode: &'m [u8], reg: Gpr, rm: RmField<'m>) -> RmInsn<'m> {
    RmInsn {
        lock: Lock::Plain,
        size: op_size(size),
        bytes: byte_regs(size),
        opcode,
        reg: RegField::Reg(reg),
        rm,
        imm: Imm::NONE,
    }
}

/// A `size`-bit instruction `opcode /digit` with no immediate and no lock.
#[inline]
pub(crate) fn digit_rm<'m>(size: Size, opcode: &'m [u8], digit: u8, rm: RmField<'m>) -> RmInsn<'m> {
    RmInsn {
        reg: RegField::Digit(digit),
        ..reg_rm(size, opcode, Gpr::Rax, rm)
    }
}

/// `imm` as an immediate of the operand width: 8- and 16-bit operations accept a value that
/// fits as signed or unsigned; 32- and 64-bit operations take any `i32` (64-bit ones
/// sign-extend it).
#[inline]
pub(crate) fn sized_imm(mnemonic: &'static str, size: Size, imm: i32) -> Result<Imm, EncodeError> {
    let out_of_range = EncodeError::ImmediateOutOfRange {
        mnemonic,
        size,
        imm: i64::from(imm),
    };
    match size {
        Size::S8 => i8::try_from(imm)
            .or_else(|_| u8::try_from(imm).map(|byte| byte as i8))
            .map(Imm::i8)
            .map_err(|_| out_of_range),
        Size::S16 => i16::try_from(imm)
            .or_else(|_| u16::try_from(imm).map(|word| word as i16))
            .map(Imm::i16)
            .map_err(|_| out_of_range),
        Size::S32 | Size::S64 => Ok(Imm::i32(imm)),
    }
}

/// The sign-extended 8-bit form of a sized immediate, when it has one.
#[inline]
pub(crate) fn short_imm(imm: Imm) -> Option<i8> {
    imm.value().and_then(|value| i8::try_from(value).ok())
}
