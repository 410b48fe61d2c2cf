//! Conditions of the eBPF JMP32 compares, and the value of an operand.

use crate::code::Operand;
use bpfvm_isa::Cond;

/// Whether `cond` holds between the low 32 bits of `a` and `b` (eBPF JMP32).
#[inline]
pub(super) fn holds32(cond: Cond, a: u64, b: u64) -> bool {
    let (a, b) = (a as u32, b as u32);
    match cond {
        Cond::Eq => a == b,
        Cond::Ne => a != b,
        Cond::Gt => a > b,
        Cond::Ge => a >= b,
        Cond::Lt => a < b,
        Cond::Le => a <= b,
        Cond::Set => a & b != 0,
        Cond::Sgt => (a as i32) > (b as i32),
        Cond::Sge => (a as i32) >= (b as i32),
        Cond::Slt => (a as i32) < (b as i32),
        Cond::Sle => (a as i32) <= (b as i32),
    }
}

/// The value of an operand: a register or the sign-extended immediate.
#[inline]
pub(super) fn operand_value(regs: &[u64; 16], operand: Operand) -> u64 {
    match operand {
        Operand::Reg(reg) => regs[reg.index()],
        Operand::Imm(imm) => imm as i64 as u64,
    }
}
