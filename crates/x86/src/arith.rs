//! Arithmetic, logic, comparison, shift, multiply/divide, byte swap, exchange and atomic
//! read-modify-write instructions, and the condition-code consumers `setcc` and `cmovcc`.

use crate::assembler::{
    digit_rm, op_size, pick, reg_rm, rm_field, short_imm, simple_mem, simple_size, sized_imm,
    Assembler,
};
use crate::encode::{emit_simple, ByteRegs, Imm, OpSize, RmField, RmInsn, SimpleRm};
use crate::error::EncodeError;
use crate::opcodes::{
    Group3, ALU_RM_IMM, ALU_RM_IMM8, ALU_RM_IMM_8, ALU_RM_R, ALU_RM_R_8, ALU_R_RM, ALU_R_RM_8,
    BSWAP_R, CDQ_CQO, CMOVCC_R_RM, CMPXCHG_RM_R, CMPXCHG_RM_R_8, GROUP3, GROUP3_8, IMUL_R_RM,
    IMUL_R_RM_IMM, IMUL_R_RM_IMM8, SETCC_RM8, SHIFT_RM_1, SHIFT_RM_1_8, SHIFT_RM_CL, SHIFT_RM_CL_8,
    SHIFT_RM_IMM, SHIFT_RM_IMM_8, TEST_RM_R, TEST_RM_R_8, XADD_RM_R, XADD_RM_R_8, XCHG_RM_R,
    XCHG_RM_R_8,
};
use crate::operand::{
    AluKind, Cond, Gpr, Lock, Mem, Operand, RegMem, ShiftAmount, ShiftKind, Size,
};

impl Assembler {
    /// `kind dst, src` for the group-1 operations (`add`, `or`, `adc`, `sbb`, `and`, `sub`,
    /// `xor`, `cmp`). Immediates that fit in 8 bits use the short sign-extended form.
    #[inline(always)]
    pub fn alu(
        &mut self,
        kind: AluKind,
        size: Size,
        dst: RegMem,
        src: Operand,
    ) -> Result<(), EncodeError> {
        // The frequent forms are laid out here, inlined where the operand kinds are known.
        if size != Size::S8 {
            if let Some(done) = self.alu_simple(size, kind, &dst, src) {
                return done;
            }
        }
        self.alu_with(Lock::Plain, kind, size, &dst, src)
    }

    /// `lock kind [dst], src`: an atomic read-modify-write on memory (every kind but `cmp`).
    #[inline]
    pub fn alu_locked(
        &mut self,
        kind: AluKind,
        size: Size,
        dst: Mem,
        src: Operand,
    ) -> Result<(), EncodeError> {
        if kind == AluKind::Cmp {
            return Err(EncodeError::LockNotAllowed { mnemonic: "cmp" });
        }
        self.alu_with(Lock::Locked, kind, size, &RegMem::Mem(dst), src)
    }

    /// `cmp a, b`: sets flags from `a - b`.
    #[inline(always)]
    pub fn cmp(&mut self, size: Size, a: RegMem, b: Operand) -> Result<(), EncodeError> {
        self.alu(AluKind::Cmp, size, a, b)
    }

    #[inline(never)]
    fn alu_with(
        &mut self,
        lock: Lock,
        kind: AluKind,
        size: Size,
        dst: &RegMem,
        src: Operand,
    ) -> Result<(), EncodeError> {
        let row = kind.digit() << 3;
        match (dst, src) {
            (_, Operand::Reg(src)) => {
                let opcode = [row
                    + if size == Size::S8 {
                        ALU_RM_R_8
                    } else {
                        ALU_RM_R
                    }];
                self.rm_insn(RmInsn {
                    lock,
                    ..reg_rm(size, &opcode, src, rm_field(dst)?)
                });
            }
            (RegMem::Reg(dst), Operand::Mem(mem)) => {
                let opcode = [row
                    + if size == Size::S8 {
                        ALU_R_RM_8
                    } else {
                        ALU_R_RM
                    }];
                let rm = RmField::mem(&mem)?;
                self.rm_insn(RmInsn {
                    lock,
                    ..reg_rm(size, &opcode, *dst, rm)
                });
            }
            (RegMem::Mem(_), Operand::Mem(_)) => {
                return Err(EncodeError::TwoMemoryOperands {
                    mnemonic: kind.mnemonic(),
                });
            }
            (_, Operand::Imm(imm)) => {
                let value = sized_imm(kind.mnemonic(), size, imm)?;
                let (opcode, imm) = match (size, short_imm(value)) {
                    (Size::S8, _) => (ALU_RM_IMM_8, value),
                    (_, Some(short)) => (ALU_RM_IMM8, Imm::i8(short)),
                    (_, None) => (ALU_RM_IMM, value),
                };
                let insn = digit_rm(size, opcode, kind.digit(), rm_field(dst)?);
                self.rm_insn(RmInsn { lock, imm, ..insn });
            }
        }
        Ok(())
    }

    /// The 16/32/64-bit register and immediate forms of [`Assembler::alu`] through the
    /// inlined layout, or `None` for the others.
    #[inline(always)]
    fn alu_simple(
        &mut self,
        size: Size,
        kind: AluKind,
        dst: &RegMem,
        src: Operand,
    ) -> Option<Result<(), EncodeError>> {
        let row = kind.digit() << 3;
        let rm = match dst {
            RegMem::Reg(reg) => SimpleRm::Reg(*reg),
            RegMem::Mem(mem) => simple_mem(mem)?,
        };
        let simple = simple_size(size, false);
        match src {
            Operand::Reg(src) => {
                let opcode = [row + ALU_RM_R];
                emit_simple(
                    self.code_vec(),
                    simple,
                    &opcode,
                    src.number(),
                    rm,
                    Imm::NONE,
                );
            }
            Operand::Imm(imm) => {
                let value = match sized_imm(kind.mnemonic(), size, imm) {
                    Ok(value) => value,
                    Err(error) => return Some(Err(error)),
                };
                let (opcode, imm) = match short_imm(value) {
                    Some(short) => (ALU_RM_IMM8, Imm::i8(short)),
                    None => (ALU_RM_IMM, value),
                };
                emit_simple(self.code_vec(), simple, opcode, kind.digit(), rm, imm);
            }
            // `kind reg, [base + disp]` (a register destination, no index).
            Operand::Mem(mem) => {
                let (SimpleRm::Reg(dst), Some(src)) = (rm, simple_mem(&mem)) else {
                    return None;
                };
                let opcode = [row + ALU_R_RM];
                emit_simple(
                    self.code_vec(),
                    simple,
                    &opcode,
                    dst.number(),
                    src,
                    Imm::NONE,
                );
            }
        }
        Some(Ok(()))
    }

    /// `test a, b`: sets flags from `a & b`. `test` is symmetric, so a register `a` with a
    /// memory `b` is emitted as `test b, a`.
    #[inline]
    pub fn test(&mut self, size: Size, a: RegMem, b: Operand) -> Result<(), EncodeError> {
        let opcode = pick(size, TEST_RM_R_8, TEST_RM_R);
        if let (RegMem::Reg(a), Operand::Reg(b), false) = (&a, &b, size == Size::S8) {
            let size = simple_size(size, false);
            emit_simple(
                self.code_vec(),
                size,
                opcode,
                b.number(),
                SimpleRm::Reg(*a),
                Imm::NONE,
            );
            return Ok(());
        }
        let insn = match (&a, &b) {
            (_, Operand::Reg(reg)) => reg_rm(size, opcode, *reg, rm_field(&a)?),
            (RegMem::Reg(reg), Operand::Mem(mem)) => reg_rm(size, opcode, *reg, RmField::mem(mem)?),
            (RegMem::Mem(_), Operand::Mem(_)) => {
                return Err(EncodeError::TwoMemoryOperands { mnemonic: "test" })
            }
            (_, Operand::Imm(imm)) => {
                let imm = sized_imm("test", size, *imm)?;
                let opcode = pick(size, GROUP3_8, GROUP3);
                RmInsn {
                    imm,
                    ..digit_rm(size, opcode, Group3::Test.digit(), rm_field(&a)?)
                }
            }
        };
        self.rm_insn(insn);
        Ok(())
    }

    /// `kind dst, amount`: shifts and rotates. A constant 1 uses the short `D1` form.
    #[inline]
    pub fn shift(
        &mut self,
        kind: ShiftKind,
        size: Size,
        dst: RegMem,
        amount: ShiftAmount,
    ) -> Result<(), EncodeError> {
        let (opcode, imm) = match amount {
            ShiftAmount::Cl => (pick(size, SHIFT_RM_CL_8, SHIFT_RM_CL), Imm::NONE),
            ShiftAmount::Imm(1) => (pick(size, SHIFT_RM_1_8, SHIFT_RM_1), Imm::NONE),
            ShiftAmount::Imm(count) => (
                pick(size, SHIFT_RM_IMM_8, SHIFT_RM_IMM),
                Imm::i8(count as i8),
            ),
        };
        if let (RegMem::Reg(reg), false) = (&dst, size == Size::S8) {
            let size = simple_size(size, false);
            emit_simple(
                self.code_vec(),
                size,
                opcode,
                kind.digit(),
                SimpleRm::Reg(*reg),
                imm,
            );
            return Ok(());
        }
        self.rm_insn(RmInsn {
            imm,
            ..digit_rm(size, opcode, kind.digit(), rm_field(&dst)?)
        });
        Ok(())
    }

    #[inline]
    fn group3(&mut self, op: Group3, size: Size, rm: &RegMem) -> Result<(), EncodeError> {
        let opcode = pick(size, GROUP3_8, GROUP3);
        self.rm_insn(digit_rm(size, opcode, op.digit(), rm_field(rm)?));
        Ok(())
    }

    /// `not dst`: bitwise complement.
    #[inline]
    pub fn not(&mut self, size: Size, dst: RegMem) -> Result<(), EncodeError> {
        self.group3(Group3::Not, size, &dst)
    }

    /// `neg dst`: two's-complement negation.
    #[inline]
    pub fn neg(&mut self, size: Size, dst: RegMem) -> Result<(), EncodeError> {
        self.group3(Group3::Neg, size, &dst)
    }

    /// `mul src`: unsigned rDX:rAX = rAX * `src`.
    #[inline]
    pub fn mul(&mut self, size: Size, src: RegMem) -> Result<(), EncodeError> {
        self.group3(Group3::Mul, size, &src)
    }

    /// `imul src` (one operand): signed rDX:rAX = rAX * `src`.
    #[inline]
    pub fn imul_wide(&mut self, size: Size, src: RegMem) -> Result<(), EncodeError> {
        self.group3(Group3::Imul, size, &src)
    }

    /// `div src`: unsigned rDX:rAX / `src`; quotient in rAX, remainder in rDX.
    #[inline]
    pub fn div(&mut self, size: Size, src: RegMem) -> Result<(), EncodeError> {
        self.group3(Group3::Div, size, &src)
    }

    /// `idiv src`: signed rDX:rAX / `src`; quotient in rAX, remainder in rDX.
    #[inline]
    pub fn idiv(&mut self, size: Size, src: RegMem) -> Result<(), EncodeError> {
        self.group3(Group3::Idiv, size, &src)
    }

    /// `imul dst, src`: the truncated product (16/32/64 bits).
    #[inline]
    pub fn imul(&mut self, size: Size, dst: Gpr, src: RegMem) -> Result<(), EncodeError> {
        no_bytes("imul", size)?;
        self.rm_insn(reg_rm(size, IMUL_R_RM, dst, rm_field(&src)?));
        Ok(())
    }

    /// `imul dst, src, imm`: the truncated product with a constant (16/32/64 bits).
    #[inline]
    pub fn imul_imm(
        &mut self,
        size: Size,
        dst: Gpr,
        src: RegMem,
        imm: i32,
    ) -> Result<(), EncodeError> {
        no_bytes("imul", size)?;
        let value = sized_imm("imul", size, imm)?;
        let (opcode, imm) = match short_imm(value) {
            Some(short) => (IMUL_R_RM_IMM8, Imm::i8(short)),
            None => (IMUL_R_RM_IMM, value),
        };
        self.rm_insn(RmInsn {
            imm,
            ..reg_rm(size, opcode, dst, rm_field(&src)?)
        });
        Ok(())
    }

    /// `bswap reg`: reverses the bytes of a 32- or 64-bit register. For 16 bits use
    /// `shift(ShiftKind::Rol, Size::S16, reg, ShiftAmount::Imm(8))`.
    #[inline]
    pub fn bswap(&mut self, size: Size, reg: Gpr) -> Result<(), EncodeError> {
        match size {
            Size::S32 | Size::S64 => {
                self.plus_r(op_size(size), ByteRegs::None, BSWAP_R, reg);
                Ok(())
            }
            Size::S8 | Size::S16 => Err(EncodeError::UnsupportedSize {
                mnemonic: "bswap",
                size,
            }),
        }
    }

    /// `xchg a, b`. With a memory operand the CPU locks the bus implicitly.
    #[inline]
    pub fn xchg(&mut self, size: Size, a: RegMem, b: Gpr) -> Result<(), EncodeError> {
        let opcode = pick(size, XCHG_RM_R_8, XCHG_RM_R);
        self.rm_insn(reg_rm(size, opcode, b, rm_field(&a)?));
        Ok(())
    }

    /// `[lock] xadd [dst], src`: `src` receives the old value, memory the sum.
    #[inline]
    pub fn xadd(&mut self, lock: Lock, size: Size, dst: Mem, src: Gpr) -> Result<(), EncodeError> {
        let opcode = pick(size, XADD_RM_R_8, XADD_RM_R);
        self.rm_insn(RmInsn {
            lock,
            ..reg_rm(size, opcode, src, RmField::mem(&dst)?)
        });
        Ok(())
    }

    /// `[lock] cmpxchg [dst], src`: if rAX equals memory, memory = `src`; else rAX = memory.
    #[inline]
    pub fn cmpxchg(
        &mut self,
        lock: Lock,
        size: Size,
        dst: Mem,
        src: Gpr,
    ) -> Result<(), EncodeError> {
        let opcode = pick(size, CMPXCHG_RM_R_8, CMPXCHG_RM_R);
        self.rm_insn(RmInsn {
            lock,
            ..reg_rm(size, opcode, src, RmField::mem(&dst)?)
        });
        Ok(())
    }

    /// `cmovcc dst, src`: moves when `cond` holds (16/32/64 bits; a 32-bit cmov zeroes the
    /// upper half of `dst` whether or not it moves).
    #[inline]
    pub fn cmov(
        &mut self,
        cond: Cond,
        size: Size,
        dst: Gpr,
        src: RegMem,
    ) -> Result<(), EncodeError> {
        no_bytes("cmov", size)?;
        let opcode = cc_opcode(CMOVCC_R_RM, cond);
        self.rm_insn(reg_rm(size, &opcode, dst, rm_field(&src)?));
        Ok(())
    }

    /// `setcc dst`: writes 1 or 0 to a byte.
    #[inline]
    pub fn setcc(&mut self, cond: Cond, dst: RegMem) -> Result<(), EncodeError> {
        let opcode = cc_opcode(SETCC_RM8, cond);
        self.rm_insn(digit_rm(Size::S8, &opcode, 0, rm_field(&dst)?));
        Ok(())
    }

    /// `cdq`: EDX:EAX = sign-extended EAX (before a 32-bit `idiv`).
    #[inline]
    pub fn cdq(&mut self) {
        self.no_operands(OpSize::Default, CDQ_CQO);
    }

    /// `cqo`: RDX:RAX = sign-extended RAX (before a 64-bit `idiv`).
    #[inline]
    pub fn cqo(&mut self) {
        self.no_operands(OpSize::Quad, CDQ_CQO);
    }
}

/// Rejects the 8-bit width for families that have no byte form.
#[inline]
fn no_bytes(mnemonic: &'static str, size: Size) -> Result<(), EncodeError> {
    match size {
        Size::S8 => Err(EncodeError::UnsupportedSize { mnemonic, size }),
        Size::S16 | Size::S32 | Size::S64 => Ok(()),
    }
}

/// A two-byte `0F xx+cc` opcode with the condition added.
#[inline]
pub(crate) fn cc_opcode(base: [u8; 2], cond: Cond) -> [u8; 2] {
    let [escape, op] = base;
    [escape, op + cond.code()]
}
