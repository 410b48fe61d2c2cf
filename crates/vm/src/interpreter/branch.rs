//! Conditional jumps: lowering 64-bit compares to flat ops, and evaluating any condition.

use super::op::{Op, Operand};
use bpfvm_isa::{Cond, Source};

/// The flat op for a 64-bit conditional jump to `target`.
pub(super) fn lower64(cond: Cond, dst: u8, src: Source, target: u32) -> Op {
    match src {
        Source::Imm(imm) => match cond {
            Cond::Eq => Op::JeqImm { dst, imm, target },
            Cond::Ne => Op::JneImm { dst, imm, target },
            Cond::Gt => Op::JgtImm { dst, imm, target },
            Cond::Ge => Op::JgeImm { dst, imm, target },
            Cond::Lt => Op::JltImm { dst, imm, target },
            Cond::Le => Op::JleImm { dst, imm, target },
            Cond::Set => Op::JsetImm { dst, imm, target },
            Cond::Sgt => Op::JsgtImm { dst, imm, target },
            Cond::Sge => Op::JsgeImm { dst, imm, target },
            Cond::Slt => Op::JsltImm { dst, imm, target },
            Cond::Sle => Op::JsleImm { dst, imm, target },
        },
        Source::Reg(reg) => {
            let src = reg.number();
            match cond {
                Cond::Eq => Op::JeqReg { dst, src, target },
                Cond::Ne => Op::JneReg { dst, src, target },
                Cond::Gt => Op::JgtReg { dst, src, target },
                Cond::Ge => Op::JgeReg { dst, src, target },
                Cond::Lt => Op::JltReg { dst, src, target },
                Cond::Le => Op::JleReg { dst, src, target },
                Cond::Set => Op::JsetReg { dst, src, target },
                Cond::Sgt => Op::JsgtReg { dst, src, target },
                Cond::Sge => Op::JsgeReg { dst, src, target },
                Cond::Slt => Op::JsltReg { dst, src, target },
                Cond::Sle => Op::JsleReg { dst, src, target },
            }
        }
    }
}

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
        Operand::Reg(reg) => regs[usize::from(reg & 15)],
        Operand::Imm(imm) => imm as i64 as u64,
    }
}
