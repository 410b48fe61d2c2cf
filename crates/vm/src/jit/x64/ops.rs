//! Instruction selection on x86-64: what machine code each operation of the
//! [`MacroAssembler`](crate::jit::masm::MacroAssembler) becomes. Checks come first and
//! guest registers are written last, so a bail-out leaves the guest state as it was; rcx is
//! the only scratch register register arithmetic uses (pairs keep their span in rax).
//! Divisions and high products, which need rax and rdx, are in `wide`.

use super::flags::{FlagConds, Flags};
use super::labels::Miss;
use super::masm::{Callx, Masm};
use super::regs::{guest, GUEST};
use crate::code::{Ext32, GuestReg, Operand};
use crate::jit::access::Access;
use crate::jit::hints::BaseHint;
use crate::jit::masm::{AluWidth, Arith, At, ByteOp, Lowered, Shift, Value};
use crate::jit::JitError;
use bpfvm_isa::{AtomicOp, Cond as BpfCond, Extend, MemSize, Width};
use bpfvm_x86::{AluKind, Cond, Gpr, Mem, Operand as X86, RegMem, ShiftAmount, ShiftKind, Size};

/// The x86 operand of a guest operand.
pub(super) fn operand(src: Operand) -> X86 {
    match src {
        Operand::Reg(reg) => X86::Reg(guest(reg)),
        Operand::Imm(imm) => X86::Imm(imm),
    }
}

/// The operand size of a width.
pub(super) fn size_of(width: Width) -> Size {
    match width {
        Width::W32 => Size::S32,
        Width::W64 => Size::S64,
    }
}

/// The x86 form of an ALU operation.
pub(super) fn alu_kind(op: Arith) -> AluKind {
    match op {
        Arith::Add => AluKind::Add,
        Arith::Sub => AluKind::Sub,
        Arith::Or => AluKind::Or,
        Arith::And => AluKind::And,
        Arith::Xor => AluKind::Xor,
    }
}

/// The access width in the encoder's terms.
pub(super) fn access_size(size: MemSize) -> Size {
    match size {
        MemSize::B => Size::S8,
        MemSize::H => Size::S16,
        MemSize::W => Size::S32,
        MemSize::DW => Size::S64,
    }
}

impl Masm {
    /// Constant blinding: an immediate the program chose becomes rcx, loaded blinded, when
    /// `sanitize_user_provided_values` asks for it; anything else passes through. (Inline:
    /// the check is all that runs without hardening.)
    #[inline(always)]
    fn blind(&mut self, src: X86) -> Result<X86, JitError> {
        match src {
            X86::Imm(imm) if self.hardening.blinds(imm as i64 as u64) => {
                self.blinded_const(Gpr::Rcx, imm as i64 as u64)?;
                Ok(X86::Reg(Gpr::Rcx))
            }
            other => Ok(other),
        }
    }

    /// `dst = value`, blinded when constant blinding applies to it.
    #[inline(always)]
    pub(super) fn mov_const(&mut self, dst: Gpr, value: u64) -> Lowered {
        match self.hardening.blinds(value) {
            true => self.blinded_const(dst, value),
            false => {
                self.asm.mov_imm64(dst, value);
                Ok(())
            }
        }
    }

    /// `dst = value` as `value - key` plus a fresh random `key` (out of line: hardening
    /// only).
    #[inline(never)]
    fn blinded_const(&mut self, dst: Gpr, value: u64) -> Lowered {
        match self.hardening.blinding_key(value) {
            Some(key) => {
                self.asm
                    .mov_imm64(dst, value.wrapping_sub(key as i64 as u64));
                self.asm
                    .alu(AluKind::Add, Size::S64, RegMem::Reg(dst), X86::Imm(key))?;
            }
            None => self.asm.mov_imm64(dst, value),
        }
        Ok(())
    }

    /// `dst = src`.
    #[inline(always)]
    pub(super) fn mov_reg(&mut self, width: Width, dst: GuestReg, src: GuestReg) -> Lowered {
        self.asm.mov(size_of(width), guest(dst), guest(src));
        Ok(())
    }

    /// `dst = dst op src`, 64-bit or 32-bit (which zero-extends, then widens by `ext`).
    #[inline(always)]
    pub(super) fn alu(
        &mut self,
        op: Arith,
        width: AluWidth,
        dst: GuestReg,
        src: Operand,
    ) -> Lowered {
        let dst = guest(dst);
        let src = self.blind(operand(src))?;
        match width {
            AluWidth::Full => {
                self.asm
                    .alu(alu_kind(op), Size::S64, RegMem::Reg(dst), src)?;
                let answers = match op {
                    Arith::And | Arith::Or | Arith::Xor => FlagConds::All,
                    Arith::Add | Arith::Sub => FlagConds::Zero,
                };
                self.flags = Some(Flags {
                    reg: dst,
                    end: self.asm.offset(),
                    answers,
                });
            }
            AluWidth::Low(ext) => {
                self.asm
                    .alu(alu_kind(op), Size::S32, RegMem::Reg(dst), src)?;
                self.extend32(dst, ext)?;
            }
        }
        Ok(())
    }

    /// `dst *= src` (the low `size` bits), with an immediate blinded when asked.
    pub(super) fn mul(&mut self, width: AluWidth, dst: GuestReg, src: Operand) -> Lowered {
        let dst = guest(dst);
        let size = match width {
            AluWidth::Full => Size::S64,
            AluWidth::Low(_) => Size::S32,
        };
        match src {
            Operand::Reg(src) => self.asm.imul(size, dst, RegMem::Reg(guest(src)))?,
            Operand::Imm(imm) => match self.blind(X86::Imm(imm))? {
                X86::Reg(reg) => self.asm.imul(size, dst, RegMem::Reg(reg))?,
                X86::Imm(_) | X86::Mem(_) => self.asm.imul_imm(size, dst, RegMem::Reg(dst), imm)?,
            },
        }
        if let AluWidth::Low(ext) = width {
            self.extend32(dst, ext)?;
        }
        Ok(())
    }

    /// The dialect's widening of a 32-bit result (the operation zero-extended it).
    fn extend32(&mut self, dst: Gpr, ext: Ext32) -> Lowered {
        match ext {
            Ext32::Sign => self.asm.movsxd(dst, RegMem::Reg(dst))?,
            Ext32::Zero => {}
        }
        Ok(())
    }

    /// Shifts mask the count like the interpreter's `wrapping_sh*` (x86 masks the same way);
    /// 32-bit forms re-zero the upper half explicitly, whatever the count.
    pub(super) fn shift(
        &mut self,
        op: Shift,
        width: Width,
        dst: GuestReg,
        src: Operand,
    ) -> Lowered {
        let (dst, size) = (guest(dst), size_of(width));
        let kind = match op {
            Shift::Left => ShiftKind::Shl,
            Shift::Right => ShiftKind::Shr,
            Shift::Arithmetic => ShiftKind::Sar,
        };
        let mask = size.bits() - 1;
        let amount = match src {
            Operand::Imm(imm) => ShiftAmount::Imm((imm as u32 & mask) as u8),
            Operand::Reg(reg) => {
                self.asm.mov(Size::S64, Gpr::Rcx, guest(reg));
                ShiftAmount::Cl
            }
        };
        self.asm.shift(kind, size, RegMem::Reg(dst), amount)?;
        if size == Size::S32 {
            self.asm.mov(Size::S32, dst, dst);
        }
        Ok(())
    }

    /// `dst = -dst`.
    pub(super) fn negate(&mut self, width: Width, dst: GuestReg) -> Lowered {
        self.asm.neg(size_of(width), RegMem::Reg(guest(dst)))?;
        Ok(())
    }

    /// `movsx`: sign-extend from `size`, then (32-bit form) clear the upper half.
    pub(super) fn sign_extend(
        &mut self,
        dst: GuestReg,
        src: GuestReg,
        size: MemSize,
        width: Width,
    ) -> Lowered {
        let (dst, src) = (guest(dst), guest(src));
        match size {
            MemSize::B => self.asm.movsx(Size::S8, Size::S64, dst, RegMem::Reg(src))?,
            MemSize::H => self
                .asm
                .movsx(Size::S16, Size::S64, dst, RegMem::Reg(src))?,
            MemSize::W => self.asm.movsxd(dst, RegMem::Reg(src))?,
            MemSize::DW => self.asm.mov(Size::S64, dst, src),
        }
        if width == Width::W32 {
            self.asm.mov(Size::S32, dst, dst);
        }
        Ok(())
    }

    /// Truncations and byte swaps in place.
    pub(super) fn byte_order(&mut self, op: ByteOp, dst: GuestReg) -> Lowered {
        let d = guest(dst);
        match op {
            ByteOp::Trunc16 => self.asm.movzx(Size::S16, Size::S32, d, RegMem::Reg(d))?,
            ByteOp::Swap16 => {
                self.asm.shift(
                    ShiftKind::Rol,
                    Size::S16,
                    RegMem::Reg(d),
                    ShiftAmount::Imm(8),
                )?;
                self.asm.movzx(Size::S16, Size::S32, d, RegMem::Reg(d))?;
            }
            ByteOp::Swap32 => self.asm.bswap(Size::S32, d)?,
            ByteOp::Swap64 => self.asm.bswap(Size::S64, d)?,
        }
        Ok(())
    }

    /// The load of `size` bytes at the host operand `mem` into `dst`.
    #[inline(always)]
    pub(super) fn load_from(
        &mut self,
        dst: GuestReg,
        mem: Mem,
        size: MemSize,
        extend: Extend,
    ) -> Lowered {
        let dst = guest(dst);
        let host = RegMem::Mem(mem);
        match (size, extend) {
            (MemSize::B, Extend::Zero) => self.asm.movzx(Size::S8, Size::S32, dst, host)?,
            (MemSize::H, Extend::Zero) => self.asm.movzx(Size::S16, Size::S32, dst, host)?,
            (MemSize::W, Extend::Zero) => self.asm.load(Size::S32, dst, mem)?,
            (MemSize::B, Extend::Sign) => self.asm.movsx(Size::S8, Size::S64, dst, host)?,
            (MemSize::H, Extend::Sign) => self.asm.movsx(Size::S16, Size::S64, dst, host)?,
            (MemSize::W, Extend::Sign) => self.asm.movsxd(dst, host)?,
            (MemSize::DW, Extend::Zero | Extend::Sign) => self.asm.load(Size::S64, dst, mem)?,
        }
        Ok(())
    }

    /// The store of `value` (`size` bytes) at the host operand `host`.
    #[inline(always)]
    pub(super) fn store_to(&mut self, host: Mem, size: MemSize, value: Value) -> Lowered {
        let width = access_size(size);
        match value {
            Value::Reg(reg) => self.asm.store(width, host, guest(reg))?,
            Value::Imm(imm) => {
                let imm = match size {
                    MemSize::B => i32::from(imm as i8),
                    MemSize::H => i32::from(imm as i16),
                    MemSize::W | MemSize::DW => imm,
                };
                self.asm.store_imm(width, host, imm)?
            }
        }
        Ok(())
    }

    /// eBPF atomics on 32 or 64 bits (a single VM runs on one thread, so no `lock` is
    /// needed); always the checked translation (loops with atomics are never versioned).
    #[allow(clippy::too_many_arguments, reason = "one access's operands")]
    pub(super) fn atomic_op(
        &mut self,
        width: Width,
        op: AtomicOp,
        base: GuestReg,
        src: GuestReg,
        off: i16,
        hint: BaseHint,
        at: At,
    ) -> Lowered {
        let (size, bytes) = match width {
            Width::W32 => (Size::S32, 4),
            Width::W64 => (Size::S64, 8),
        };
        let (base, src) = (guest(base), guest(src));
        let host = self.checked(base, off, bytes, Access::Store, Miss::Translate, hint, at)?;
        let kind = match op {
            AtomicOp::Add | AtomicOp::FetchAdd => AluKind::Add,
            AtomicOp::Or | AtomicOp::FetchOr => AluKind::Or,
            AtomicOp::And | AtomicOp::FetchAnd => AluKind::And,
            AtomicOp::Xor | AtomicOp::FetchXor => AluKind::Xor,
            AtomicOp::Xchg | AtomicOp::CmpXchg => AluKind::Cmp,
        };
        match op {
            AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor => {
                self.asm.alu(kind, size, RegMem::Mem(host), X86::Reg(src))?;
            }
            AtomicOp::FetchAdd | AtomicOp::FetchOr | AtomicOp::FetchAnd | AtomicOp::FetchXor => {
                self.asm.load(size, Gpr::Rcx, host)?;
                self.asm.alu(kind, size, RegMem::Mem(host), X86::Reg(src))?;
                self.asm.mov(size, src, Gpr::Rcx);
            }
            AtomicOp::Xchg => {
                self.asm.load(size, Gpr::Rcx, host)?;
                self.asm.store(size, host, src)?;
                self.asm.mov(size, src, Gpr::Rcx);
            }
            AtomicOp::CmpXchg => {
                let r0 = GUEST[0];
                let skip = self.asm.new_label();
                self.asm.load(size, Gpr::Rcx, host)?;
                self.asm.cmp(size, RegMem::Reg(Gpr::Rcx), X86::Reg(r0))?;
                self.asm.jcc(Cond::Ne, skip)?;
                self.asm.store(size, host, src)?;
                self.asm.bind(skip)?;
                self.asm.mov(size, r0, Gpr::Rcx);
            }
        }
        Ok(())
    }

    /// A conditional jump: the compare (or test), then the jump to the target slot, through
    /// a stub that first gives back `refund` instructions when there is one.
    #[inline(always)]
    pub(super) fn conditional(
        &mut self,
        cond: BpfCond,
        width: Width,
        dst: GuestReg,
        src: Operand,
        target: usize,
        refund: Option<u64>,
    ) -> Lowered {
        let (dst, size) = (guest(dst), size_of(width));
        let x86 = match cond {
            BpfCond::Eq => Cond::E,
            BpfCond::Ne => Cond::Ne,
            BpfCond::Gt => Cond::A,
            BpfCond::Ge => Cond::Ae,
            BpfCond::Lt => Cond::B,
            BpfCond::Le => Cond::Be,
            BpfCond::Set => Cond::Ne,
            BpfCond::Sgt => Cond::G,
            BpfCond::Sge => Cond::Ge,
            BpfCond::Slt => Cond::L,
            BpfCond::Sle => Cond::Le,
        };
        if self.flags_answer(cond, width, dst, src) {
            return match refund {
                Some(rest) => self.branch_with_refund(x86, target, rest),
                None => self.jump_to_slot(Some(x86), target),
            };
        }
        let src = self.blind(operand(src))?;
        match cond {
            BpfCond::Set => self.asm.test(size, RegMem::Reg(dst), src)?,
            BpfCond::Eq
            | BpfCond::Ne
            | BpfCond::Gt
            | BpfCond::Ge
            | BpfCond::Lt
            | BpfCond::Le
            | BpfCond::Sgt
            | BpfCond::Sge
            | BpfCond::Slt
            | BpfCond::Sle => self.asm.cmp(size, RegMem::Reg(dst), src)?,
        }
        match refund {
            Some(rest) => self.branch_with_refund(x86, target, rest),
            None => self.jump_to_slot(Some(x86), target),
        }
    }

    /// Whether the flags the previous instruction left answer `cond` of `dst` against `src`
    /// as the compare would: a 64-bit compare with 0 right after a 64-bit ALU operation on
    /// `dst` in the same run (nothing emitted between them, and no jump lands between them,
    /// see [`Masm::start_slot`]).
    fn flags_answer(&self, cond: BpfCond, width: Width, dst: Gpr, src: Operand) -> bool {
        let Some(flags) = self.flags else {
            return false;
        };
        let answered = match cond {
            BpfCond::Eq | BpfCond::Ne => true,
            BpfCond::Gt
            | BpfCond::Ge
            | BpfCond::Lt
            | BpfCond::Le
            | BpfCond::Sgt
            | BpfCond::Sge
            | BpfCond::Slt
            | BpfCond::Sle => flags.answers == FlagConds::All,
            BpfCond::Set => false,
        };
        answered
            && width == Width::W64
            && src == Operand::Imm(0)
            && flags.reg == dst
            && flags.end == self.asm.offset()
    }

    /// Marks that some `callx` reads the program's table of entries.
    pub(super) fn needs_callx_table(&mut self) {
        self.callx = Callx::Table;
    }
}
