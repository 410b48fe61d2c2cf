//! Control flow and the stack: jumps and calls to labels or through registers/memory,
//! conditional jumps, `push`/`pop`, `ret`, and padding and trap instructions.
//!
//! Branches to labels come in two explicit reaches: the near form (rel32, always valid in a
//! buffer under 2 GiB) and the short form (rel8), which fails with
//! [`EncodeError::BranchOutOfRange`] if the target turns out to be more than 127 bytes away.
//!
//! Besides labels, branches can name a plain code offset: a target already emitted (the
//! short form is picked when it reaches), or a target resolved later through the [`Rel32`]
//! handle of the field (a compiler that keeps its own table of block offsets needs no label
//! per block: it records `(field, block)` pairs and patches them in one pass at the end).

use crate::arith::cc_opcode;
use crate::assembler::rm_field;
use crate::encode::{ByteRegs, Imm, OpSize, RegField, RmInsn};
use crate::error::{EncodeError, Reach};
use crate::label::Label;
use crate::opcodes::{
    CALL_REL32, GROUP5, GROUP5_CALL, GROUP5_JMP, INT3, JCC_REL32, JCC_REL8, JMP_REL32, JMP_REL8,
    NOPS, POP_R, PUSH_IMM32, PUSH_IMM8, PUSH_R, RET, UD2,
};
use crate::operand::{Cond, Gpr, Lock, RegMem};
use crate::Assembler;

/// The 32-bit displacement field of a branch or call whose target is written later by
/// [`Assembler::patch_rel32`]. The field ends its instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rel32 {
    at: usize,
}

impl Rel32 {
    /// The offset of the field's first byte.
    #[inline]
    pub fn offset(self) -> usize {
        self.at
    }

    /// The field whose first byte is at code offset `at` (a field kept compactly by its
    /// [`Rel32::offset`]; [`Assembler::patch_rel32`] checks it lies in the code).
    #[inline]
    pub fn at_offset(at: usize) -> Rel32 {
        Rel32 { at }
    }

    /// The same field in a copy of the code placed `by` bytes further (for sequences encoded
    /// once and appended again elsewhere with [`Assembler::data`]).
    #[inline]
    pub fn moved_by(self, by: usize) -> Rel32 {
        Rel32 { at: self.at + by }
    }
}

impl Assembler {
    /// `jmp label` with a 32-bit displacement.
    #[inline]
    pub fn jmp(&mut self, label: Label) -> Result<(), EncodeError> {
        self.branch(JMP_REL32, label, Reach::Rel32)
    }

    /// `jmp label` with an 8-bit displacement (2 bytes); the target must be within -128..=127
    /// bytes of the instruction's end.
    #[inline]
    pub fn jmp_short(&mut self, label: Label) -> Result<(), EncodeError> {
        self.branch(JMP_REL8, label, Reach::Rel8)
    }

    /// `jcc label` with a 32-bit displacement.
    #[inline]
    pub fn jcc(&mut self, cond: Cond, label: Label) -> Result<(), EncodeError> {
        self.branch(&cc_opcode(JCC_REL32, cond), label, Reach::Rel32)
    }

    /// `jcc label` with an 8-bit displacement.
    #[inline]
    pub fn jcc_short(&mut self, cond: Cond, label: Label) -> Result<(), EncodeError> {
        self.branch(&[JCC_REL8 + cond.code()], label, Reach::Rel8)
    }

    /// `call label` with a 32-bit displacement.
    #[inline]
    pub fn call(&mut self, label: Label) -> Result<(), EncodeError> {
        self.branch(CALL_REL32, label, Reach::Rel32)
    }

    /// `jmp` to the code offset `target`, which is already emitted: the short form when it
    /// reaches, else the near form.
    #[inline]
    pub fn jmp_to(&mut self, target: usize) -> Result<(), EncodeError> {
        match rel8_to(self.offset() + 2, target) {
            Some(disp) => self.no_operands(OpSize::Default, &[JMP_REL8[0], disp as u8]),
            None => self.rel32_insn_to(JMP_REL32, target)?,
        }
        Ok(())
    }

    /// `jcc` to the code offset `target`, which is already emitted (short form when it
    /// reaches).
    #[inline]
    pub fn jcc_to(&mut self, cond: Cond, target: usize) -> Result<(), EncodeError> {
        match rel8_to(self.offset() + 2, target) {
            Some(disp) => self.no_operands(OpSize::Default, &[JCC_REL8 + cond.code(), disp as u8]),
            None => self.rel32_insn_to(&cc_opcode(JCC_REL32, cond), target)?,
        }
        Ok(())
    }

    /// `call` to the code offset `target` (rel32).
    #[inline]
    pub fn call_to(&mut self, target: usize) -> Result<(), EncodeError> {
        self.rel32_insn_to(CALL_REL32, target)
    }

    /// `jmp rel32` whose target is written later with [`Assembler::patch_rel32`].
    #[inline]
    pub fn jmp_pending(&mut self) -> Rel32 {
        self.rel32_insn(JMP_REL32)
    }

    /// `jcc rel32` whose target is written later with [`Assembler::patch_rel32`].
    #[inline]
    pub fn jcc_pending(&mut self, cond: Cond) -> Rel32 {
        self.rel32_insn(&cc_opcode(JCC_REL32, cond))
    }

    /// `call rel32` whose target is written later with [`Assembler::patch_rel32`].
    #[inline]
    pub fn call_pending(&mut self) -> Rel32 {
        self.rel32_insn(CALL_REL32)
    }

    /// `jcc` over the next `len` bytes (a short forward jump whose target is known by its
    /// distance, e.g. over a 5-byte `call`).
    #[inline]
    pub fn jcc_over(&mut self, cond: Cond, len: u8) -> Result<(), EncodeError> {
        let disp = i8::try_from(len).map_err(|_| EncodeError::OffsetOutOfRange {
            at: self.offset() + 1,
            target: self.offset() + 2 + usize::from(len),
            reach: Reach::Rel8,
        })?;
        self.no_operands(OpSize::Default, &[JCC_REL8 + cond.code(), disp as u8]);
        Ok(())
    }

    /// Points the field `field` at the code offset `target`.
    #[inline]
    pub fn patch_rel32(&mut self, field: Rel32, target: usize) -> Result<(), EncodeError> {
        let end = field.at + 4;
        let out_of_range = || EncodeError::OffsetOutOfRange {
            at: field.at,
            target,
            reach: Reach::Rel32,
        };
        let disp = i64::try_from(target).unwrap_or(i64::MAX) - i64::try_from(end).unwrap_or(0);
        let disp = i32::try_from(disp).map_err(|_| out_of_range())?;
        let slot = self
            .code_vec()
            .get_mut(field.at..end)
            .ok_or_else(out_of_range)?;
        slot.copy_from_slice(&disp.to_le_bytes());
        Ok(())
    }

    /// Points the earlier field `field` here and emits `call target` (rel32, `target`
    /// already emitted): the out-of-line stub a conditional jump lands in, in one
    /// bounds-checked 4-byte write and one append. Fails, writing nothing, when an offset
    /// is out of rel32 reach.
    #[inline]
    pub fn land_and_call(&mut self, field: Rel32, target: usize) -> Result<(), EncodeError> {
        let here = self.offset();
        let out_of_range = |at, target| EncodeError::OffsetOutOfRange {
            at,
            target,
            reach: Reach::Rel32,
        };
        // Every offset below 2 GiB - 5 (the end of the call): any difference of two fits.
        let limit = i32::MAX as usize - 5;
        if here > limit || target > limit || field.at > here {
            return Err(out_of_range(field.at, here));
        }
        let landing = here.wrapping_sub(field.at + 4) as i32;
        let call = target.wrapping_sub(here + 5) as i32;
        let slot = self
            .code_vec()
            .get_mut(field.at..field.at + 4)
            .ok_or_else(|| out_of_range(field.at, here))?;
        slot.copy_from_slice(&landing.to_le_bytes());
        self.opcode_rel32(CALL_REL32, call);
        Ok(())
    }

    /// Emits `opcode` (one or two bytes, no prefix) and the rel32 field that reaches the
    /// code offset `target`, in one append (the field is known, so nothing is patched later).
    /// Fails, writing nothing, when the target is out of rel32 reach.
    #[inline]
    fn rel32_insn_to(&mut self, opcode: &[u8], target: usize) -> Result<(), EncodeError> {
        let at = self.offset() + opcode.len();
        let end = at + 4;
        let disp = i64::try_from(target).unwrap_or(i64::MAX) - i64::try_from(end).unwrap_or(0);
        let disp = i32::try_from(disp).map_err(|_| EncodeError::OffsetOutOfRange {
            at,
            target,
            reach: Reach::Rel32,
        })?;
        self.opcode_rel32(opcode, disp);
        Ok(())
    }

    /// Emits `opcode` and a zero rel32 field.
    #[inline]
    fn rel32_insn(&mut self, opcode: &[u8]) -> Rel32 {
        let at = self.offset() + opcode.len();
        self.opcode_rel32(opcode, 0);
        Rel32 { at }
    }

    /// Appends `opcode` (one or two bytes in every caller) and the field `disp`, laid out
    /// in one word and appended with one store.
    #[inline(always)]
    fn opcode_rel32(&mut self, opcode: &[u8], disp: i32) {
        let disp = u64::from(disp as u32);
        match *opcode {
            [op] => self
                .code_vec()
                .append_words(u64::from(op) | disp << 8, 5, 0, 0),
            [escape, op] => self.code_vec().append_words(
                u64::from(escape) | u64::from(op) << 8 | disp << 16,
                6,
                0,
                0,
            ),
            _ => {
                self.data(opcode);
                self.data(&(disp as u32).to_le_bytes());
            }
        }
    }

    /// `jmp target`: an indirect jump through a register or a memory slot (jump tables).
    #[inline]
    pub fn jmp_indirect(&mut self, target: RegMem) -> Result<(), EncodeError> {
        self.group5(GROUP5_JMP, &target)
    }

    /// `call target`: an indirect call through a register or a memory slot.
    #[inline]
    pub fn call_indirect(&mut self, target: RegMem) -> Result<(), EncodeError> {
        self.group5(GROUP5_CALL, &target)
    }

    /// `ret`.
    #[inline]
    pub fn ret(&mut self) {
        self.no_operands(OpSize::Default, RET);
    }

    /// `push reg` (64 bits).
    #[inline]
    pub fn push(&mut self, reg: Gpr) {
        self.plus_r(OpSize::Default, ByteRegs::None, PUSH_R, reg);
    }

    /// `pop reg` (64 bits).
    #[inline]
    pub fn pop(&mut self, reg: Gpr) {
        self.plus_r(OpSize::Default, ByteRegs::None, POP_R, reg);
    }

    /// `push imm`: pushes the immediate sign-extended to 64 bits.
    #[inline]
    pub fn push_imm(&mut self, imm: i32) {
        match i8::try_from(imm) {
            Ok(short) => self.with_imm(PUSH_IMM8, Imm::i8(short)),
            Err(_) => self.with_imm(PUSH_IMM32, Imm::i32(imm)),
        }
    }

    /// `int3`: a breakpoint trap, also the filler of unused code memory.
    #[inline]
    pub fn int3(&mut self) {
        self.no_operands(OpSize::Default, &[INT3]);
    }

    /// `ud2`: a guaranteed invalid-opcode trap.
    #[inline]
    pub fn ud2(&mut self) {
        self.no_operands(OpSize::Default, UD2);
    }

    /// `len` bytes of no-operation, as few instructions as possible (the recommended
    /// multi-byte NOPs, at most 9 bytes each).
    #[inline]
    pub fn nop(&mut self, len: usize) {
        let mut left = len;
        while left > 0 {
            let chunk = left.min(NOPS.len());
            if let Some(bytes) = NOPS.get(chunk - 1) {
                // No prefixes to choose: the bytes as they are.
                self.data(bytes);
            }
            left -= chunk;
        }
    }

    /// Pads with NOPs until the offset is a multiple of `alignment` (no-op for 0 or 1).
    #[inline]
    pub fn align_with_nops(&mut self, alignment: usize) {
        if alignment > 1 {
            let misalignment = self.offset() % alignment;
            if misalignment != 0 {
                self.nop(alignment - misalignment);
            }
        }
    }

    #[inline]
    fn branch(&mut self, opcode: &[u8], label: Label, reach: Reach) -> Result<(), EncodeError> {
        self.label_insn(opcode, label, reach)
    }

    #[inline]
    fn group5(&mut self, digit: u8, target: &RegMem) -> Result<(), EncodeError> {
        // Near indirect calls and jumps default to 64-bit operands: no REX.W.
        self.rm_insn(RmInsn {
            lock: Lock::Plain,
            size: OpSize::Default,
            bytes: ByteRegs::None,
            opcode: GROUP5,
            reg: RegField::Digit(digit),
            rm: rm_field(target)?,
            imm: Imm::NONE,
        });
        Ok(())
    }
}

/// The field handle of a rel32 field at `at` (for the encoders of other instruction families).
#[inline]
pub(crate) fn rel32_at(at: usize) -> Rel32 {
    Rel32 { at }
}

/// The rel8 displacement from `end` to `target`, if it fits.
#[inline]
fn rel8_to(end: usize, target: usize) -> Option<i8> {
    let disp = i64::try_from(target).ok()? - i64::try_from(end).ok()?;
    i8::try_from(disp).ok()
}
