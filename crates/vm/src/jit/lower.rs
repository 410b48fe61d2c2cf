//! The target-neutral lowering: one arm per [`Op`], matched exhaustively, each one call of
//! the [`MacroAssembler`] with explicit operands. What is decided here rather than in a
//! backend: which ops bail out to the interpreter whatever their operands (traps, the
//! overrun sentinel, eBPF `callx`, calls too deep for inline calls or out of the text,
//! divisions by an immediate 0, atomics narrower than 32 bits), how each immediate widens
//! (SBPF V2's `udiv64`, `urem64` and `uhmul64` zero-extend theirs), how the ops no machine
//! form expresses directly decompose (V2's swapped `sub` immediate, `hor64`), which `exit`
//! checks its return pc, and what a taken branch inside a run gives back to the meter.
//! No op of SBPF V0-V4 bails out whatever its operands (a unit test compiles each
//! version's every opcode and checks).
//!
//! Every lowering keeps one rule: **a bail-out leaves the guest state exactly as it was
//! before the instruction**, so the interpreter can run the instruction again and produce
//! the exact error or the exact edge-case result.

use super::masm::{
    AccessForm, AluWidth, Arith, At, ByteOp, Division, MacroAssembler, MeterMode, Product, Program,
    ReturnCheck, Shift, Value, Wide,
};
use super::JitError;
use crate::code::{Ext32, GuestReg, Op, Operand, Trap};
use bpfvm_isa::{Cond, Dialect, Extend, MemSize, PqrOp, Width};

/// What lowering an op emitted.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lowering<S> {
    /// Machine code for the op; the first access of a pair gives the span it leaves for
    /// the second.
    Native(Option<S>),
    /// Only a bail-out: the interpreter runs this op whatever its operands.
    Interpreted,
}

/// Lowers `op` at `at`, its memory access (if any) translated as `form` says.
#[inline(always)]
pub(crate) fn lower<M: MacroAssembler>(
    m: &mut M,
    p: &Program,
    op: &Op,
    at: At,
    form: AccessForm<M::Span>,
) -> Result<Lowering<M::Span>, JitError> {
    use Operand::{Imm, Reg};
    let full = AluWidth::Full;
    match *op {
        Op::Mov64Imm { dst, imm } => m.mov_imm(dst, imm as i64 as u64)?,
        Op::Mov64Reg { dst, src } => m.mov(Width::W64, dst, src)?,
        Op::Add64Imm { dst, imm } => m.arith(Arith::Add, full, dst, Imm(imm))?,
        Op::Add64Reg { dst, src } => m.arith(Arith::Add, full, dst, Reg(src))?,
        Op::Sub64Imm { dst, imm } => m.arith(Arith::Sub, full, dst, Imm(imm))?,
        Op::Sub64Reg { dst, src } => m.arith(Arith::Sub, full, dst, Reg(src))?,
        Op::Mul64Imm { dst, imm } => m.mul(full, dst, Imm(imm))?,
        Op::Mul64Reg { dst, src } => m.mul(full, dst, Reg(src))?,
        Op::Or64Imm { dst, imm } => m.arith(Arith::Or, full, dst, Imm(imm))?,
        Op::Or64Reg { dst, src } => m.arith(Arith::Or, full, dst, Reg(src))?,
        Op::And64Imm { dst, imm } => m.arith(Arith::And, full, dst, Imm(imm))?,
        Op::And64Reg { dst, src } => m.arith(Arith::And, full, dst, Reg(src))?,
        Op::Xor64Imm { dst, imm } => m.arith(Arith::Xor, full, dst, Imm(imm))?,
        Op::Xor64Reg { dst, src } => m.arith(Arith::Xor, full, dst, Reg(src))?,
        Op::Lsh64Imm { dst, imm } => m.shift(Shift::Left, Width::W64, dst, Imm(imm))?,
        Op::Lsh64Reg { dst, src } => m.shift(Shift::Left, Width::W64, dst, Reg(src))?,
        Op::Rsh64Imm { dst, imm } => m.shift(Shift::Right, Width::W64, dst, Imm(imm))?,
        Op::Rsh64Reg { dst, src } => m.shift(Shift::Right, Width::W64, dst, Reg(src))?,
        Op::Arsh64Imm { dst, imm } => m.shift(Shift::Arithmetic, Width::W64, dst, Imm(imm))?,
        Op::Arsh64Reg { dst, src } => m.shift(Shift::Arithmetic, Width::W64, dst, Reg(src))?,
        Op::Neg64 { dst } => m.neg(Width::W64, dst)?,
        Op::Mov32Imm { dst, imm } => m.mov_imm(dst, u64::from(imm as u32))?,
        Op::Mov32Reg { dst, src } => m.mov(Width::W32, dst, src)?,
        Op::Add32Imm { dst, imm, ext } => m.arith(Arith::Add, AluWidth::Low(ext), dst, Imm(imm))?,
        Op::Add32Reg { dst, src, ext } => m.arith(Arith::Add, AluWidth::Low(ext), dst, Reg(src))?,
        Op::Sub32Imm { dst, imm, ext } => m.arith(Arith::Sub, AluWidth::Low(ext), dst, Imm(imm))?,
        Op::Sub32Reg { dst, src, ext } => m.arith(Arith::Sub, AluWidth::Low(ext), dst, Reg(src))?,
        Op::Mul32Imm { dst, imm, ext } => m.mul(AluWidth::Low(ext), dst, Imm(imm))?,
        Op::Mul32Reg { dst, src, ext } => m.mul(AluWidth::Low(ext), dst, Reg(src))?,
        Op::Or32 { dst, src } => m.arith(Arith::Or, low(), dst, src)?,
        Op::And32 { dst, src } => m.arith(Arith::And, low(), dst, src)?,
        Op::Xor32 { dst, src } => m.arith(Arith::Xor, low(), dst, src)?,
        Op::Lsh32 { dst, src } => m.shift(Shift::Left, Width::W32, dst, src)?,
        Op::Rsh32 { dst, src } => m.shift(Shift::Right, Width::W32, dst, src)?,
        Op::Arsh32 { dst, src } => m.shift(Shift::Arithmetic, Width::W32, dst, src)?,
        Op::Neg32 { dst } => m.neg(Width::W32, dst)?,
        Op::SetConst { dst, value } => m.mov_imm(dst, value)?,
        Op::MovSx {
            dst,
            src,
            size,
            width,
        } => m.mov_sx(dst, src, size, width)?,
        Op::Div {
            width,
            dst,
            src,
            dialect,
        } => return divide(m, Division::Div, width, dst, src, dialect, at),
        Op::Mod {
            width,
            dst,
            src,
            dialect,
        } => return divide(m, Division::Mod, width, dst, src, dialect, at),
        Op::SDiv {
            width,
            dst,
            src,
            dialect,
        } => return divide(m, Division::SDiv, width, dst, src, dialect, at),
        Op::SMod {
            width,
            dst,
            src,
            dialect,
        } => return divide(m, Division::SMod, width, dst, src, dialect, at),
        Op::Trunc16 { dst } => m.byte_op(ByteOp::Trunc16, dst)?,
        // A 32-bit move zero-extends: the truncation itself.
        Op::Trunc32 { dst } => m.mov(Width::W32, dst, dst)?,
        Op::Swap16 { dst } => m.byte_op(ByteOp::Swap16, dst)?,
        Op::Swap32 { dst } => m.byte_op(ByteOp::Swap32, dst)?,
        Op::Swap64 { dst } => m.byte_op(ByteOp::Swap64, dst)?,
        Op::LoadImm64 { dst, imm } => m.mov_imm(dst, imm)?,
        Op::Ldx8 { dst, base, off } => {
            return load(m, dst, base, off, MemSize::B, form, at).map(Lowering::Native)
        }
        Op::Ldx16 { dst, base, off } => {
            return load(m, dst, base, off, MemSize::H, form, at).map(Lowering::Native)
        }
        Op::Ldx32 { dst, base, off } => {
            return load(m, dst, base, off, MemSize::W, form, at).map(Lowering::Native)
        }
        Op::Ldx64 { dst, base, off } => {
            return load(m, dst, base, off, MemSize::DW, form, at).map(Lowering::Native)
        }
        Op::LdxSigned {
            dst,
            base,
            off,
            size,
        } => {
            return m
                .load(dst, base, off, size, Extend::Sign, form, at)
                .map(Lowering::Native)
        }
        Op::St8 { base, off, imm } => {
            return store(m, base, off, MemSize::B, Value::Imm(imm), form, at)
        }
        Op::St16 { base, off, imm } => {
            return store(m, base, off, MemSize::H, Value::Imm(imm), form, at)
        }
        Op::St32 { base, off, imm } => {
            return store(m, base, off, MemSize::W, Value::Imm(imm), form, at)
        }
        Op::St64 { base, off, imm } => {
            return store(m, base, off, MemSize::DW, Value::Imm(imm), form, at)
        }
        Op::Stx8 { base, src, off } => {
            return store(m, base, off, MemSize::B, Value::Reg(src), form, at)
        }
        Op::Stx16 { base, src, off } => {
            return store(m, base, off, MemSize::H, Value::Reg(src), form, at)
        }
        Op::Stx32 { base, src, off } => {
            return store(m, base, off, MemSize::W, Value::Reg(src), form, at)
        }
        Op::Stx64 { base, src, off } => {
            return store(m, base, off, MemSize::DW, Value::Reg(src), form, at)
        }
        Op::Atomic {
            size,
            op,
            base,
            src,
            off,
        } => match size {
            MemSize::W => m.atomic(Width::W32, op, base, src, off, form, at)?,
            MemSize::DW => m.atomic(Width::W64, op, base, src, off, form, at)?,
            MemSize::B | MemSize::H => return interpret(m, at),
        },
        Op::Ja { target } => m.jump(target as usize)?,
        Op::JeqImm { dst, imm, target } => {
            branch(m, p, Cond::Eq, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JeqReg { dst, src, target } => {
            branch(m, p, Cond::Eq, Width::W64, dst, Reg(src), target, at)?
        }
        Op::JneImm { dst, imm, target } => {
            branch(m, p, Cond::Ne, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JneReg { dst, src, target } => {
            branch(m, p, Cond::Ne, Width::W64, dst, Reg(src), target, at)?
        }
        Op::JgtImm { dst, imm, target } => {
            branch(m, p, Cond::Gt, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JgtReg { dst, src, target } => {
            branch(m, p, Cond::Gt, Width::W64, dst, Reg(src), target, at)?
        }
        Op::JgeImm { dst, imm, target } => {
            branch(m, p, Cond::Ge, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JgeReg { dst, src, target } => {
            branch(m, p, Cond::Ge, Width::W64, dst, Reg(src), target, at)?
        }
        Op::JltImm { dst, imm, target } => {
            branch(m, p, Cond::Lt, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JltReg { dst, src, target } => {
            branch(m, p, Cond::Lt, Width::W64, dst, Reg(src), target, at)?
        }
        Op::JleImm { dst, imm, target } => {
            branch(m, p, Cond::Le, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JleReg { dst, src, target } => {
            branch(m, p, Cond::Le, Width::W64, dst, Reg(src), target, at)?
        }
        Op::JsetImm { dst, imm, target } => {
            branch(m, p, Cond::Set, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JsetReg { dst, src, target } => {
            branch(m, p, Cond::Set, Width::W64, dst, Reg(src), target, at)?
        }
        Op::JsgtImm { dst, imm, target } => {
            branch(m, p, Cond::Sgt, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JsgtReg { dst, src, target } => {
            branch(m, p, Cond::Sgt, Width::W64, dst, Reg(src), target, at)?
        }
        Op::JsgeImm { dst, imm, target } => {
            branch(m, p, Cond::Sge, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JsgeReg { dst, src, target } => {
            branch(m, p, Cond::Sge, Width::W64, dst, Reg(src), target, at)?
        }
        Op::JsltImm { dst, imm, target } => {
            branch(m, p, Cond::Slt, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JsltReg { dst, src, target } => {
            branch(m, p, Cond::Slt, Width::W64, dst, Reg(src), target, at)?
        }
        Op::JsleImm { dst, imm, target } => {
            branch(m, p, Cond::Sle, Width::W64, dst, Imm(imm), target, at)?
        }
        Op::JsleReg { dst, src, target } => {
            branch(m, p, Cond::Sle, Width::W64, dst, Reg(src), target, at)?
        }
        Op::Branch32 {
            cond,
            dst,
            src,
            target,
        } => branch(m, p, cond, Width::W32, dst, src, target, at)?,
        Op::Syscall { index } => m.syscall(index, at.pc)?,
        Op::Call { target } => match p.inline_calls() && target < p.slot_count {
            true => m.call(target, at)?,
            false => return interpret(m, at),
        },
        Op::CallReg { reg } => match p.inline_calls() {
            true => m.call_reg(reg, at)?,
            false => return interpret(m, at),
        },
        // A helper or a function: the interpreter decides.
        Op::CallRegOrHelper { .. } => return interpret(m, at),
        Op::Hor64 { dst, imm } => m.arith_wide(Arith::Or, dst, u64::from(imm) << 32)?,
        // `imm - dst` is `-dst + imm`, in 64 bits or in the low 32 (both zero-extend).
        Op::RevSub64Imm { dst, imm } => {
            m.neg(Width::W64, dst)?;
            m.arith(Arith::Add, full, dst, Imm(imm))?
        }
        Op::RevSub32Imm { dst, imm } => {
            m.neg(Width::W32, dst)?;
            m.arith(Arith::Add, low(), dst, Imm(imm))?
        }
        Op::Pqr {
            op,
            width,
            dst,
            src,
        } => return pqr(m, op, width, dst, src, at),
        Op::Exit => match p.call_in_last_slot {
            true => m.exit(ReturnCheck::ReturnPc, at)?,
            false => m.exit(ReturnCheck::None, at)?,
        },
        Op::MoveStackPointer { delta } => m.move_stack_pointer(delta)?,
        Op::Nop => {}
        Op::Trap {
            trap: Trap::Unsupported | Trap::Invalid | Trap::DivideByZero,
        }
        | Op::Overrun => return interpret(m, at),
    }
    Ok(Lowering::Native(None))
}

/// Only a bail-out: the interpreter runs the op.
fn interpret<M: MacroAssembler>(m: &mut M, at: At) -> Result<Lowering<M::Span>, JitError> {
    m.bail(at)?;
    Ok(Lowering::Interpreted)
}

/// The 32-bit width of the bitwise ops, which zero-extend in both dialects.
fn low() -> AluWidth {
    AluWidth::Low(Ext32::Zero)
}

/// A zero-extending load.
#[inline(always)]
#[allow(clippy::too_many_arguments, reason = "one access's operands")]
fn load<M: MacroAssembler>(
    m: &mut M,
    dst: GuestReg,
    base: GuestReg,
    off: i16,
    size: MemSize,
    form: AccessForm<M::Span>,
    at: At,
) -> Result<Option<M::Span>, JitError> {
    m.load(dst, base, off, size, Extend::Zero, form, at)
}

/// A store of `value`, the counterpart of [`load`]: the masm's store, natively lowered.
fn store<M: MacroAssembler>(
    m: &mut M,
    base: GuestReg,
    off: i16,
    size: MemSize,
    value: Value,
    form: AccessForm<M::Span>,
    at: At,
) -> Result<Lowering<M::Span>, JitError> {
    m.store(base, off, size, value, form, at)
        .map(Lowering::Native)
}

/// A division of the plain rows: an immediate 0 always bails out (the interpreter applies
/// the dialect's rule or raises the error); the immediate is sign-extended in 64 bits, and
/// sBPF alone sign-extends a 32-bit signed quotient.
#[allow(clippy::too_many_arguments, reason = "one division's operands")]
fn divide<M: MacroAssembler>(
    m: &mut M,
    op: Division,
    width: Width,
    dst: GuestReg,
    src: Operand,
    dialect: Dialect,
    at: At,
) -> Result<Lowering<M::Span>, JitError> {
    let quotient32 = match dialect {
        Dialect::Sbpf => Ext32::Sign,
        Dialect::Sbpf26(_) | Dialect::Ebpf => Ext32::Zero,
    };
    match src {
        Operand::Imm(0) => interpret(m, at),
        Operand::Imm(_) | Operand::Reg(_) => {
            m.divide(op, width, dst, wide(src, Extend::Sign), quotient32, at)?;
            Ok(Lowering::Native(None))
        }
    }
}

/// An SBPF V2 PQR row (spec `sbpf-0.26.md` §1.4): `uhmul64`, `udiv64` and `urem64` widen
/// their immediate with zeros, the others with its sign; every 32-bit result is
/// zero-extended. (Lowering turned an immediate 0 divisor into a trap, so none reaches
/// here; were one to, it bails out like the plain rows'.)
fn pqr<M: MacroAssembler>(
    m: &mut M,
    op: PqrOp,
    width: Width,
    dst: GuestReg,
    src: Operand,
    at: At,
) -> Result<Lowering<M::Span>, JitError> {
    let unsigned = wide(src, Extend::Zero);
    let signed = wide(src, Extend::Sign);
    let zero = Ext32::Zero;
    match (op, src) {
        (PqrOp::Udiv | PqrOp::Urem | PqrOp::Sdiv | PqrOp::Srem, Operand::Imm(0)) => {
            return interpret(m, at)
        }
        (PqrOp::Lmul, _) => match width {
            Width::W64 => m.mul(AluWidth::Full, dst, src),
            Width::W32 => m.mul(AluWidth::Low(zero), dst, src),
        },
        (PqrOp::Uhmul, _) => m.high_product(Product::Unsigned, dst, unsigned),
        (PqrOp::Shmul, _) => m.high_product(Product::Signed, dst, signed),
        (PqrOp::Udiv, _) => m.divide(Division::Div, width, dst, unsigned, zero, at),
        (PqrOp::Urem, _) => m.divide(Division::Mod, width, dst, unsigned, zero, at),
        (PqrOp::Sdiv, _) => m.divide(Division::SDiv, width, dst, signed, zero, at),
        (PqrOp::Srem, _) => m.divide(Division::SMod, width, dst, signed, zero, at),
    }?;
    Ok(Lowering::Native(None))
}

/// `src` as a 64-bit operand, an immediate widened as `extend` says.
fn wide(src: Operand, extend: Extend) -> Wide {
    match (src, extend) {
        (Operand::Reg(reg), _) => Wide::Reg(reg),
        (Operand::Imm(imm), Extend::Sign) => Wide::Const(imm as i64 as u64),
        (Operand::Imm(imm), Extend::Zero) => Wide::Const(u64::from(imm as u32)),
    }
}

/// A conditional jump: a branch that does not end its run (inside a tight loop, see
/// `CodeView::jit_run_length`) was charged the rest of its run, which a taken branch gives
/// back.
#[inline(always)]
#[allow(clippy::too_many_arguments, reason = "one branch's operands")]
fn branch<M: MacroAssembler>(
    m: &mut M,
    p: &Program,
    cond: Cond,
    width: Width,
    dst: GuestReg,
    src: Operand,
    target: u32,
    at: At,
) -> Result<(), JitError> {
    let refund = match (p.meter, at.refund) {
        (MeterMode::On, 2..) => Some(at.refund - 1),
        (MeterMode::On, _) | (MeterMode::Off, _) => None,
    };
    m.branch(cond, width, dst, src, target as usize, refund)
}
