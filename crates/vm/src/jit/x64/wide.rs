//! Instruction selection on x86-64 for the operations whose machine forms work in rdx:rax:
//! divisions and remainders (the plain rows and SBPF V2's PQR class) and the high half of a
//! 128-bit product (`uhmul64`, `shmul64`). The meter waits in the `Env` while rdx is in
//! use; every check comes before it and the guest register is written last, so a bail-out
//! leaves the guest state as it was. These ops never sit inside a pair (their facts say
//! `OpKind::Divide`), so rax is free.

use super::masm::Masm;
use super::ops::{alu_kind, size_of};
use super::regs::{guest, load_meter, save_meter};
use crate::code::{Ext32, GuestReg};
use crate::jit::masm::{Arith, At, Division, Lowered, Product, Wide};
use bpfvm_isa::Width;
use bpfvm_x86::{AluKind, Cond, Gpr, Operand as X86, RegMem, Size};

impl Masm {
    /// `dst = dst op value` on 64 bits, the constant in rcx (blinded when asked).
    pub(super) fn alu_wide(&mut self, op: Arith, dst: GuestReg, value: u64) -> Lowered {
        self.mov_const(Gpr::Rcx, value)?;
        self.asm.alu(
            alu_kind(op),
            Size::S64,
            RegMem::Reg(guest(dst)),
            X86::Reg(Gpr::Rcx),
        )?;
        Ok(())
    }

    /// The register holding `src`: its guest register, or rcx loaded with the constant.
    fn wide_operand(&mut self, src: Wide) -> Result<Gpr, crate::jit::JitError> {
        match src {
            Wide::Reg(reg) => Ok(guest(reg)),
            Wide::Const(value) => {
                self.mov_const(Gpr::Rcx, value)?;
                Ok(Gpr::Rcx)
            }
        }
    }

    /// `dst` = the high 64 bits of `dst * src` (one-operand `mul`/`imul`: rdx:rax). Never
    /// fails, so nothing is checked.
    pub(super) fn multiply_high(&mut self, product: Product, dst: GuestReg, src: Wide) -> Lowered {
        let dst = guest(dst);
        let factor = self.wide_operand(src)?;
        save_meter(&mut self.asm)?;
        self.asm.mov(Size::S64, Gpr::Rax, dst);
        match product {
            Product::Unsigned => self.asm.mul(Size::S64, RegMem::Reg(factor))?,
            Product::Signed => self.asm.imul_wide(Size::S64, RegMem::Reg(factor))?,
        }
        self.asm.mov(Size::S64, dst, Gpr::Rdx);
        load_meter(&mut self.asm)
    }

    /// Divisions run inline for the common case; a zero register divisor bails out, and so
    /// does, for the signed forms, a register divisor of -1 or a constant -1 with the type's
    /// minimum as the dividend (the interpreter then applies the dialect's rule or raises
    /// the error). A constant divisor is never 0 (the lowering bailed out for those).
    pub(super) fn division(
        &mut self,
        op: Division,
        width: Width,
        dst: GuestReg,
        src: Wide,
        quotient32: Ext32,
        at: At,
    ) -> Lowered {
        let (dst, size) = (guest(dst), size_of(width));
        let signed = op.signed();
        match src {
            Wide::Const(value) if signed && is_minus_one(value, width) => {
                self.bail_if_minimum(dst, width, at)?;
            }
            Wide::Const(_) => {}
            Wide::Reg(reg) => {
                let divisor = guest(reg);
                self.asm
                    .test(size, RegMem::Reg(divisor), X86::Reg(divisor))?;
                self.bail_if(Cond::E, at)?;
                if signed {
                    self.asm.cmp(size, RegMem::Reg(divisor), X86::Imm(-1))?;
                    self.bail_if(Cond::E, at)?;
                }
            }
        }
        let divisor = self.wide_operand(src)?;
        // x86 divides rdx:rax: the meter waits in the `Env` meanwhile.
        save_meter(&mut self.asm)?;
        self.asm.mov(size, Gpr::Rax, dst);
        if signed {
            match size {
                Size::S64 => self.asm.cqo(),
                Size::S8 | Size::S16 | Size::S32 => self.asm.cdq(),
            }
            self.asm.idiv(size, RegMem::Reg(divisor))?;
        } else {
            self.asm.alu(
                AluKind::Xor,
                Size::S32,
                RegMem::Reg(Gpr::Rdx),
                X86::Reg(Gpr::Rdx),
            )?;
            self.asm.div(size, RegMem::Reg(divisor))?;
        }
        let result = match op {
            Division::Div | Division::SDiv => Gpr::Rax,
            Division::Mod | Division::SMod => Gpr::Rdx,
        };
        match (width, op, quotient32) {
            (Width::W32, Division::SDiv, Ext32::Sign) => {
                self.asm.movsxd(dst, RegMem::Reg(result))?
            }
            _ => self.asm.mov(size, dst, result),
        }
        load_meter(&mut self.asm)
    }

    /// Bails out at `at` when `dst` (its low half for `W32`) is the signed minimum, the
    /// one dividend a divisor of -1 cannot divide on x86.
    fn bail_if_minimum(&mut self, dst: Gpr, width: Width, at: At) -> Lowered {
        match width {
            Width::W32 => self
                .asm
                .cmp(Size::S32, RegMem::Reg(dst), X86::Imm(i32::MIN))?,
            Width::W64 => {
                self.asm.mov_imm64(Gpr::Rax, i64::MIN as u64);
                self.asm
                    .cmp(Size::S64, RegMem::Reg(dst), X86::Reg(Gpr::Rax))?;
            }
        }
        self.bail_if(Cond::E, at)
    }
}

/// Whether `value` is -1 in `width`.
fn is_minus_one(value: u64, width: Width) -> bool {
    match width {
        Width::W32 => value as u32 == u32::MAX,
        Width::W64 => value == u64::MAX,
    }
}
