//! Control flow and the stack: jumps and calls to labels or through registers/memory,
//! conditional jumps, `push`/`pop`, `ret`, and padding and trap instructions.
//!
//! Branches to labels come in two explicit reaches: the near form (rel32, always valid in a
//! buffer under 2 GiB) and the short form (rel8), which fails with
//! [`EncodeError::BranchOutOfRange`] if the target turns out to be more than 127 bytes away.

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
            Ok(short) => self.with_imm(PUSH_IMM8, Imm::I8(short)),
            Err(_) => self.with_imm(PUSH_IMM32, Imm::I32(imm)),
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
                self.no_operands(OpSize::Default, bytes);
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
            imm: Imm::None,
        });
        Ok(())
    }
}
