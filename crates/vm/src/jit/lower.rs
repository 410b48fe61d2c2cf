//! Per-instruction lowering: one small function per kind of the interpreter's pre-decoded
//! [`Op`], matched exhaustively.
//!
//! Every lowering keeps one rule: **a bail-out leaves the guest state exactly as it was
//! before the instruction** (registers, memory, depth, stack pointer), so the interpreter can
//! run the instruction again and produce the exact error or the exact edge-case result.
//! Checks therefore come first and guest registers are written last.

use super::calls::{add_to, call, exit, syscall, CallTarget};
use super::env::STACK_POINTER;
use super::masm::{env, guest, load_meter, save_meter, Access, Masm, GUEST};
use super::JitError;
use crate::code::{Ext32, Op, Operand, Trap};
use crate::memory::{FrameMode, GappedFrames};
use bpfvm_isa::{AtomicOp, Cond as BpfCond, Dialect, MemSize, Width};
use bpfvm_x86::{AluKind, Cond, Gpr, Mem, Operand as X86, RegMem, ShiftAmount, ShiftKind, Size};

/// Calls deeper than this never use the inline sequence (the host stack holds one return
/// address per level); they bail out to the interpreter instead.
pub(crate) const MAX_INLINE_CALL_DEPTH: usize = 1 << 16;

/// What the lowering of one program needs to know besides the op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Program {
    pub slot_count: usize,
    pub frames: FrameMode,
    pub max_call_depth: usize,
    pub text_vaddr: u64,
    /// Whether some call sits in the last slot (then `exit` must check the return pc).
    pub call_in_last_slot: bool,
    /// The gapped stack the r10 fast path and the inline stack check are compiled for.
    pub stack: Option<GappedFrames>,
    /// The region-table row of the stack (the gapped routines read its row).
    pub stack_row: usize,
}

/// The instruction being lowered.
#[derive(Clone, Copy, Debug)]
pub(crate) struct At {
    pub pc: usize,
    /// Instructions the block entry charged that have not run before this one.
    pub refund: u64,
}

pub(super) type Lowered = Result<(), JitError>;

/// Lowers `op` at `at`.
pub(crate) fn lower(m: &mut Masm, p: &Program, op: &Op, at: At) -> Lowered {
    let pc = at.pc;
    let r = guest;
    match *op {
        Op::Mov64Imm { dst, imm } => mov_const(m, r(dst), imm as i64 as u64)?,
        Op::Mov64Reg { dst, src } => m.asm.mov(Size::S64, r(dst), r(src)),
        Op::Add64Imm { dst, imm } => alu_imm(m, AluKind::Add, Size::S64, r(dst), imm)?,
        Op::Add64Reg { dst, src } => alu_reg(m, AluKind::Add, Size::S64, r(dst), r(src))?,
        Op::Sub64Imm { dst, imm } => alu_imm(m, AluKind::Sub, Size::S64, r(dst), imm)?,
        Op::Sub64Reg { dst, src } => alu_reg(m, AluKind::Sub, Size::S64, r(dst), r(src))?,
        Op::Mul64Imm { dst, imm } => mul_imm(m, Size::S64, r(dst), imm)?,
        Op::Mul64Reg { dst, src } => m.asm.imul(Size::S64, r(dst), RegMem::Reg(r(src)))?,
        Op::Or64Imm { dst, imm } => alu_imm(m, AluKind::Or, Size::S64, r(dst), imm)?,
        Op::Or64Reg { dst, src } => alu_reg(m, AluKind::Or, Size::S64, r(dst), r(src))?,
        Op::And64Imm { dst, imm } => alu_imm(m, AluKind::And, Size::S64, r(dst), imm)?,
        Op::And64Reg { dst, src } => alu_reg(m, AluKind::And, Size::S64, r(dst), r(src))?,
        Op::Xor64Imm { dst, imm } => alu_imm(m, AluKind::Xor, Size::S64, r(dst), imm)?,
        Op::Xor64Reg { dst, src } => alu_reg(m, AluKind::Xor, Size::S64, r(dst), r(src))?,
        Op::Lsh64Imm { dst, imm } => {
            shift(m, ShiftKind::Shl, Size::S64, r(dst), Operand::Imm(imm))?
        }
        Op::Lsh64Reg { dst, src } => {
            shift(m, ShiftKind::Shl, Size::S64, r(dst), Operand::Reg(src))?
        }
        Op::Rsh64Imm { dst, imm } => {
            shift(m, ShiftKind::Shr, Size::S64, r(dst), Operand::Imm(imm))?
        }
        Op::Rsh64Reg { dst, src } => {
            shift(m, ShiftKind::Shr, Size::S64, r(dst), Operand::Reg(src))?
        }
        Op::Arsh64Imm { dst, imm } => {
            shift(m, ShiftKind::Sar, Size::S64, r(dst), Operand::Imm(imm))?
        }
        Op::Arsh64Reg { dst, src } => {
            shift(m, ShiftKind::Sar, Size::S64, r(dst), Operand::Reg(src))?
        }
        Op::Neg64 { dst } => m.asm.neg(Size::S64, RegMem::Reg(r(dst)))?,
        Op::Mov32Imm { dst, imm } => mov_const(m, r(dst), u64::from(imm as u32))?,
        Op::Mov32Reg { dst, src } => m.asm.mov(Size::S32, r(dst), r(src)),
        Op::Add32Imm { dst, imm, ext } => alu32(m, AluKind::Add, r(dst), X86::Imm(imm), ext)?,
        Op::Add32Reg { dst, src, ext } => alu32(m, AluKind::Add, r(dst), X86::Reg(r(src)), ext)?,
        Op::Sub32Imm { dst, imm, ext } => alu32(m, AluKind::Sub, r(dst), X86::Imm(imm), ext)?,
        Op::Sub32Reg { dst, src, ext } => alu32(m, AluKind::Sub, r(dst), X86::Reg(r(src)), ext)?,
        Op::Mul32Imm { dst, imm, ext } => {
            let d = r(dst);
            mul_imm(m, Size::S32, d, imm)?;
            extend32(m, d, ext)?;
        }
        Op::Mul32Reg { dst, src, ext } => {
            let d = r(dst);
            m.asm.imul(Size::S32, d, RegMem::Reg(r(src)))?;
            extend32(m, d, ext)?;
        }
        Op::Or32 { dst, src } => alu32(m, AluKind::Or, r(dst), operand(src), Ext32::Zero)?,
        Op::And32 { dst, src } => alu32(m, AluKind::And, r(dst), operand(src), Ext32::Zero)?,
        Op::Xor32 { dst, src } => alu32(m, AluKind::Xor, r(dst), operand(src), Ext32::Zero)?,
        Op::Lsh32 { dst, src } => shift(m, ShiftKind::Shl, Size::S32, r(dst), src)?,
        Op::Rsh32 { dst, src } => shift(m, ShiftKind::Shr, Size::S32, r(dst), src)?,
        Op::Arsh32 { dst, src } => shift(m, ShiftKind::Sar, Size::S32, r(dst), src)?,
        Op::Neg32 { dst } => m.asm.neg(Size::S32, RegMem::Reg(r(dst)))?,
        Op::SetConst { dst, value } => mov_const(m, r(dst), value)?,
        Op::MovSx {
            dst,
            src,
            size,
            width,
        } => mov_sx(m, r(dst), r(src), size, width)?,
        Op::Div {
            width,
            dst,
            src,
            dialect,
        } => divide(m, Division::Div, width, r(dst), src, dialect, at)?,
        Op::Mod {
            width,
            dst,
            src,
            dialect,
        } => divide(m, Division::Mod, width, r(dst), src, dialect, at)?,
        Op::SDiv {
            width,
            dst,
            src,
            dialect,
        } => divide(m, Division::SDiv, width, r(dst), src, dialect, at)?,
        Op::SMod {
            width,
            dst,
            src,
            dialect,
        } => divide(m, Division::SMod, width, r(dst), src, dialect, at)?,
        Op::Trunc16 { dst } => m
            .asm
            .movzx(Size::S16, Size::S32, r(dst), RegMem::Reg(r(dst)))?,
        Op::Trunc32 { dst } => m.asm.mov(Size::S32, r(dst), r(dst)),
        Op::Swap16 { dst } => {
            let d = r(dst);
            m.asm.shift(
                ShiftKind::Rol,
                Size::S16,
                RegMem::Reg(d),
                ShiftAmount::Imm(8),
            )?;
            m.asm.movzx(Size::S16, Size::S32, d, RegMem::Reg(d))?;
        }
        Op::Swap32 { dst } => m.asm.bswap(Size::S32, r(dst))?,
        Op::Swap64 { dst } => m.asm.bswap(Size::S64, r(dst))?,
        Op::LoadImm64 { dst, imm } => mov_const(m, r(dst), imm)?,
        Op::Ldx8 { dst, base, off } => load(m, r(dst), r(base), off, MemSize::B, Signed::No, at)?,
        Op::Ldx16 { dst, base, off } => load(m, r(dst), r(base), off, MemSize::H, Signed::No, at)?,
        Op::Ldx32 { dst, base, off } => load(m, r(dst), r(base), off, MemSize::W, Signed::No, at)?,
        Op::Ldx64 { dst, base, off } => load(m, r(dst), r(base), off, MemSize::DW, Signed::No, at)?,
        Op::LdxSigned {
            dst,
            base,
            off,
            size,
        } => load(m, r(dst), r(base), off, size, Signed::Yes, at)?,
        Op::St8 { base, off, imm } => store(m, r(base), off, MemSize::B, Value::Imm(imm), at)?,
        Op::St16 { base, off, imm } => store(m, r(base), off, MemSize::H, Value::Imm(imm), at)?,
        Op::St32 { base, off, imm } => store(m, r(base), off, MemSize::W, Value::Imm(imm), at)?,
        Op::St64 { base, off, imm } => store(m, r(base), off, MemSize::DW, Value::Imm(imm), at)?,
        Op::Stx8 { base, src, off } => store(m, r(base), off, MemSize::B, Value::Reg(r(src)), at)?,
        Op::Stx16 { base, src, off } => store(m, r(base), off, MemSize::H, Value::Reg(r(src)), at)?,
        Op::Stx32 { base, src, off } => store(m, r(base), off, MemSize::W, Value::Reg(r(src)), at)?,
        Op::Stx64 { base, src, off } => {
            store(m, r(base), off, MemSize::DW, Value::Reg(r(src)), at)?
        }
        Op::Atomic {
            size,
            op,
            base,
            src,
            off,
        } => atomic(m, size, op, r(base), r(src), off, at)?,
        Op::Ja { target } => m.jump_to_slot(None, target as usize)?,
        Op::JeqImm { dst, imm, target } => {
            branch(m, BpfCond::Eq, Size::S64, r(dst), X86::Imm(imm), target, at)?
        }
        Op::JeqReg { dst, src, target } => branch(
            m,
            BpfCond::Eq,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::JneImm { dst, imm, target } => {
            branch(m, BpfCond::Ne, Size::S64, r(dst), X86::Imm(imm), target, at)?
        }
        Op::JneReg { dst, src, target } => branch(
            m,
            BpfCond::Ne,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::JgtImm { dst, imm, target } => {
            branch(m, BpfCond::Gt, Size::S64, r(dst), X86::Imm(imm), target, at)?
        }
        Op::JgtReg { dst, src, target } => branch(
            m,
            BpfCond::Gt,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::JgeImm { dst, imm, target } => {
            branch(m, BpfCond::Ge, Size::S64, r(dst), X86::Imm(imm), target, at)?
        }
        Op::JgeReg { dst, src, target } => branch(
            m,
            BpfCond::Ge,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::JltImm { dst, imm, target } => {
            branch(m, BpfCond::Lt, Size::S64, r(dst), X86::Imm(imm), target, at)?
        }
        Op::JltReg { dst, src, target } => branch(
            m,
            BpfCond::Lt,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::JleImm { dst, imm, target } => {
            branch(m, BpfCond::Le, Size::S64, r(dst), X86::Imm(imm), target, at)?
        }
        Op::JleReg { dst, src, target } => branch(
            m,
            BpfCond::Le,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::JsetImm { dst, imm, target } => branch(
            m,
            BpfCond::Set,
            Size::S64,
            r(dst),
            X86::Imm(imm),
            target,
            at,
        )?,
        Op::JsetReg { dst, src, target } => branch(
            m,
            BpfCond::Set,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::JsgtImm { dst, imm, target } => branch(
            m,
            BpfCond::Sgt,
            Size::S64,
            r(dst),
            X86::Imm(imm),
            target,
            at,
        )?,
        Op::JsgtReg { dst, src, target } => branch(
            m,
            BpfCond::Sgt,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::JsgeImm { dst, imm, target } => branch(
            m,
            BpfCond::Sge,
            Size::S64,
            r(dst),
            X86::Imm(imm),
            target,
            at,
        )?,
        Op::JsgeReg { dst, src, target } => branch(
            m,
            BpfCond::Sge,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::JsltImm { dst, imm, target } => branch(
            m,
            BpfCond::Slt,
            Size::S64,
            r(dst),
            X86::Imm(imm),
            target,
            at,
        )?,
        Op::JsltReg { dst, src, target } => branch(
            m,
            BpfCond::Slt,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::JsleImm { dst, imm, target } => branch(
            m,
            BpfCond::Sle,
            Size::S64,
            r(dst),
            X86::Imm(imm),
            target,
            at,
        )?,
        Op::JsleReg { dst, src, target } => branch(
            m,
            BpfCond::Sle,
            Size::S64,
            r(dst),
            X86::Reg(r(src)),
            target,
            at,
        )?,
        Op::Branch32 {
            cond,
            dst,
            src,
            target,
        } => branch(m, cond, Size::S32, r(dst), operand(src), target, at)?,
        Op::Syscall { index } => syscall(m, index, pc)?,
        Op::Call { target } => call(m, p, CallTarget::Slot(target), at)?,
        Op::CallReg { reg } => call(m, p, CallTarget::Register(r(reg)), at)?,
        Op::CallRegOrHelper { .. } => m.bail_now(at)?,
        // SBPF V2's own rows have no inline lowering yet: the interpreter runs them, exact by
        // construction (each is one arm to replace by a lowering of its own).
        Op::Hor64 { .. } | Op::RevSub64Imm { .. } | Op::RevSub32Imm { .. } | Op::Pqr { .. } => {
            m.bail_now(at)?
        }
        Op::Exit => exit(m, p, at)?,
        Op::MoveStackPointer { delta } => add_to(&mut m.asm, env(STACK_POINTER), delta as u64)?,
        Op::Nop => {}
        Op::Trap {
            trap: Trap::Unsupported | Trap::Invalid | Trap::DivideByZero,
        }
        | Op::Overrun => m.bail_now(at)?,
    }
    Ok(())
}

fn alu_imm(m: &mut Masm, kind: AluKind, size: Size, dst: Gpr, imm: i32) -> Lowered {
    let src = blind(m, X86::Imm(imm))?;
    m.asm.alu(kind, size, RegMem::Reg(dst), src)?;
    Ok(())
}

/// Constant blinding: an immediate the program chose becomes rcx, loaded blinded, when
/// `sanitize_user_provided_values` asks for it; anything else passes through. (Inline: the
/// check is all that runs without hardening.)
#[inline(always)]
fn blind(m: &mut Masm, src: X86) -> Result<X86, JitError> {
    match src {
        X86::Imm(imm) if m.blinds(imm as i64 as u64) => {
            blinded_const(m, Gpr::Rcx, imm as i64 as u64)?;
            Ok(X86::Reg(Gpr::Rcx))
        }
        other => Ok(other),
    }
}

/// `dst = value`, blinded when constant blinding applies to it.
#[inline(always)]
fn mov_const(m: &mut Masm, dst: Gpr, value: u64) -> Lowered {
    match m.blinds(value) {
        true => blinded_const(m, dst, value),
        false => {
            m.asm.mov_imm64(dst, value);
            Ok(())
        }
    }
}

/// `dst = value` as `value - key` plus a fresh random `key` (out of line: hardening only).
#[inline(never)]
fn blinded_const(m: &mut Masm, dst: Gpr, value: u64) -> Lowered {
    match m.blinding_key(value) {
        Some(key) => {
            m.asm.mov_imm64(dst, value.wrapping_sub(key as i64 as u64));
            m.asm
                .alu(AluKind::Add, Size::S64, RegMem::Reg(dst), X86::Imm(key))?;
        }
        None => m.asm.mov_imm64(dst, value),
    }
    Ok(())
}

/// `dst *= imm` (the low `size` bits), with the immediate blinded when asked.
fn mul_imm(m: &mut Masm, size: Size, dst: Gpr, imm: i32) -> Lowered {
    match blind(m, X86::Imm(imm))? {
        X86::Reg(reg) => m.asm.imul(size, dst, RegMem::Reg(reg))?,
        _ => m.asm.imul_imm(size, dst, RegMem::Reg(dst), imm)?,
    }
    Ok(())
}

fn alu_reg(m: &mut Masm, kind: AluKind, size: Size, dst: Gpr, src: Gpr) -> Lowered {
    m.asm.alu(kind, size, RegMem::Reg(dst), X86::Reg(src))?;
    Ok(())
}

/// A 32-bit operation (which zero-extends), then the dialect's widening.
fn alu32(m: &mut Masm, kind: AluKind, dst: Gpr, src: X86, ext: Ext32) -> Lowered {
    let src = blind(m, src)?;
    m.asm.alu(kind, Size::S32, RegMem::Reg(dst), src)?;
    extend32(m, dst, ext)
}

fn extend32(m: &mut Masm, dst: Gpr, ext: Ext32) -> Lowered {
    if ext == Ext32::Sign {
        m.asm.movsxd(dst, RegMem::Reg(dst))?;
    }
    Ok(())
}

fn operand(src: Operand) -> X86 {
    match src {
        Operand::Reg(reg) => X86::Reg(guest(reg)),
        Operand::Imm(imm) => X86::Imm(imm),
    }
}

/// Shifts mask the count like the interpreter's `wrapping_sh*` (x86 masks the same way);
/// 32-bit forms re-zero the upper half explicitly, whatever the count.
fn shift(m: &mut Masm, kind: ShiftKind, size: Size, dst: Gpr, src: Operand) -> Lowered {
    let mask = size.bits() - 1;
    let amount = match src {
        Operand::Imm(imm) => ShiftAmount::Imm((imm as u32 & mask) as u8),
        Operand::Reg(reg) => {
            m.asm.mov(Size::S64, Gpr::Rcx, guest(reg));
            ShiftAmount::Cl
        }
    };
    m.asm.shift(kind, size, RegMem::Reg(dst), amount)?;
    if size == Size::S32 {
        m.asm.mov(Size::S32, dst, dst);
    }
    Ok(())
}

fn mov_sx(m: &mut Masm, dst: Gpr, src: Gpr, size: MemSize, width: Width) -> Lowered {
    match size {
        MemSize::B => m.asm.movsx(Size::S8, Size::S64, dst, RegMem::Reg(src))?,
        MemSize::H => m.asm.movsx(Size::S16, Size::S64, dst, RegMem::Reg(src))?,
        MemSize::W => m.asm.movsxd(dst, RegMem::Reg(src))?,
        MemSize::DW => m.asm.mov(Size::S64, dst, src),
    }
    if width == Width::W32 {
        m.asm.mov(Size::S32, dst, dst);
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Division {
    Div,
    Mod,
    SDiv,
    SMod,
}

/// Divisions run inline for the common case; a zero divisor, and -1 for the signed forms,
/// bail out (the interpreter then applies the dialect's rule or raises the error).
fn divide(
    m: &mut Masm,
    kind: Division,
    width: Width,
    dst: Gpr,
    src: Operand,
    dialect: Dialect,
    at: At,
) -> Lowered {
    let size = match width {
        Width::W32 => Size::S32,
        Width::W64 => Size::S64,
    };
    let signed = matches!(kind, Division::SDiv | Division::SMod);
    let divisor = match src {
        Operand::Imm(imm) => {
            if imm == 0 || (signed && imm == -1) {
                m.bail_now(at)?;
                return Ok(());
            }
            let value = match width {
                Width::W32 => u64::from(imm as u32),
                Width::W64 => imm as i64 as u64,
            };
            mov_const(m, Gpr::Rcx, value)?;
            Gpr::Rcx
        }
        Operand::Reg(reg) => {
            let divisor = guest(reg);
            m.asm.test(size, RegMem::Reg(divisor), X86::Reg(divisor))?;
            m.bail_if(Cond::E, at)?;
            if signed {
                m.asm.cmp(size, RegMem::Reg(divisor), X86::Imm(-1))?;
                m.bail_if(Cond::E, at)?;
            }
            divisor
        }
    };
    // x86 divides rdx:rax: the meter waits in the `Env` meanwhile.
    save_meter(&mut m.asm)?;
    m.asm.mov(size, Gpr::Rax, dst);
    if signed {
        match size {
            Size::S64 => m.asm.cqo(),
            _ => m.asm.cdq(),
        }
        m.asm.idiv(size, RegMem::Reg(divisor))?;
    } else {
        m.asm.alu(
            AluKind::Xor,
            Size::S32,
            RegMem::Reg(Gpr::Rdx),
            X86::Reg(Gpr::Rdx),
        )?;
        m.asm.div(size, RegMem::Reg(divisor))?;
    }
    let result = match kind {
        Division::Div | Division::SDiv => Gpr::Rax,
        Division::Mod | Division::SMod => Gpr::Rdx,
    };
    match (width, kind, dialect) {
        (Width::W32, Division::SDiv, Dialect::Sbpf) => m.asm.movsxd(dst, RegMem::Reg(result))?,
        _ => m.asm.mov(size, dst, result),
    }
    load_meter(&mut m.asm)
}

fn access_size(size: MemSize) -> Size {
    match size {
        MemSize::B => Size::S8,
        MemSize::H => Size::S16,
        MemSize::W => Size::S32,
        MemSize::DW => Size::S64,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signed {
    No,
    Yes,
}

#[inline(always)]
fn load(
    m: &mut Masm,
    dst: Gpr,
    base: Gpr,
    off: i16,
    size: MemSize,
    signed: Signed,
    at: At,
) -> Lowered {
    let mem = translate(m, base, off, size, Access::Load, at)?;
    load_from(m, dst, mem, size, signed)
}

/// The host operand of the `size`-byte `access` at `base + off` by the instruction at `at`:
/// checked, or (in the second copy of a versioned loop, see `hoist`) through the delta its
/// loop's guard checked.
#[inline(always)]
fn translate(
    m: &mut Masm,
    base: Gpr,
    off: i16,
    size: MemSize,
    access: Access,
    at: At,
) -> Result<Mem, JitError> {
    let size = size.bytes() as u8;
    if m.copying() {
        return translate_in_copy(m, base, off, size, access, at);
    }
    m.translate(base, off, size, access, at)?;
    Ok(m.host())
}

/// [`translate`] in the second copy of a versioned loop (out of line: the copies are few).
#[inline(never)]
fn translate_in_copy(
    m: &mut Masm,
    base: Gpr,
    off: i16,
    size: u8,
    access: Access,
    at: At,
) -> Result<Mem, JitError> {
    m.translate_in_copy(base, off, size, access, at)?;
    Ok(m.hoisted_host().unwrap_or_else(|| m.host()))
}

/// The load of `size` bytes at the host operand `mem` into `dst`.
#[inline(always)]
fn load_from(m: &mut Masm, dst: Gpr, mem: Mem, size: MemSize, signed: Signed) -> Lowered {
    let host = RegMem::Mem(mem);
    match (size, signed) {
        (MemSize::B, Signed::No) => m.asm.movzx(Size::S8, Size::S32, dst, host)?,
        (MemSize::H, Signed::No) => m.asm.movzx(Size::S16, Size::S32, dst, host)?,
        (MemSize::W, Signed::No) => m.asm.load(Size::S32, dst, mem)?,
        (MemSize::B, Signed::Yes) => m.asm.movsx(Size::S8, Size::S64, dst, host)?,
        (MemSize::H, Signed::Yes) => m.asm.movsx(Size::S16, Size::S64, dst, host)?,
        (MemSize::W, Signed::Yes) => m.asm.movsxd(dst, host)?,
        (MemSize::DW, _) => m.asm.load(Size::S64, dst, mem)?,
    }
    Ok(())
}

enum Value {
    Reg(Gpr),
    Imm(i32),
}

#[inline(always)]
fn store(m: &mut Masm, base: Gpr, off: i16, size: MemSize, value: Value, at: At) -> Lowered {
    let mem = translate(m, base, off, size, Access::Store, at)?;
    store_to(m, mem, size, value)
}

/// The store of `value` (`size` bytes) at the host operand `host`.
#[inline(always)]
fn store_to(m: &mut Masm, host: Mem, size: MemSize, value: Value) -> Lowered {
    let width = access_size(size);
    match value {
        Value::Reg(reg) => m.asm.store(width, host, reg)?,
        Value::Imm(imm) => {
            let imm = match size {
                MemSize::B => i32::from(imm as i8),
                MemSize::H => i32::from(imm as i16),
                MemSize::W | MemSize::DW => imm,
            };
            m.asm.store_imm(width, host, imm)?
        }
    }
    Ok(())
}

/// eBPF atomics on 32 or 64 bits (a single VM runs on one thread, so no `lock` is needed).
fn atomic(
    m: &mut Masm,
    size: MemSize,
    op: AtomicOp,
    base: Gpr,
    src: Gpr,
    off: i16,
    at: At,
) -> Lowered {
    let width = match size {
        MemSize::W => Size::S32,
        MemSize::DW => Size::S64,
        MemSize::B | MemSize::H => {
            m.bail_now(at)?;
            return Ok(());
        }
    };
    // Always the checked translation (loops with atomics are never versioned).
    m.translate(base, off, size.bytes() as u8, Access::Store, at)?;
    let host = m.host();
    let kind = match op {
        AtomicOp::Add | AtomicOp::FetchAdd => AluKind::Add,
        AtomicOp::Or | AtomicOp::FetchOr => AluKind::Or,
        AtomicOp::And | AtomicOp::FetchAnd => AluKind::And,
        AtomicOp::Xor | AtomicOp::FetchXor => AluKind::Xor,
        AtomicOp::Xchg | AtomicOp::CmpXchg => AluKind::Cmp,
    };
    match op {
        AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor => {
            m.asm.alu(kind, width, RegMem::Mem(host), X86::Reg(src))?;
        }
        AtomicOp::FetchAdd | AtomicOp::FetchOr | AtomicOp::FetchAnd | AtomicOp::FetchXor => {
            m.asm.load(width, Gpr::Rcx, host)?;
            m.asm.alu(kind, width, RegMem::Mem(host), X86::Reg(src))?;
            m.asm.mov(width, src, Gpr::Rcx);
        }
        AtomicOp::Xchg => {
            m.asm.load(width, Gpr::Rcx, host)?;
            m.asm.store(width, host, src)?;
            m.asm.mov(width, src, Gpr::Rcx);
        }
        AtomicOp::CmpXchg => {
            let r0 = GUEST[0];
            let skip = m.asm.new_label();
            m.asm.load(width, Gpr::Rcx, host)?;
            m.asm.cmp(width, RegMem::Reg(Gpr::Rcx), X86::Reg(r0))?;
            m.asm.jcc(Cond::Ne, skip)?;
            m.asm.store(width, host, src)?;
            m.asm.bind(skip)?;
            m.asm.mov(width, r0, Gpr::Rcx);
        }
    }
    Ok(())
}

#[inline(always)]
fn branch(
    m: &mut Masm,
    cond: BpfCond,
    size: Size,
    dst: Gpr,
    src: X86,
    target: u32,
    at: At,
) -> Lowered {
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
    let src = blind(m, src)?;
    match cond {
        BpfCond::Set => m.asm.test(size, RegMem::Reg(dst), src)?,
        _ => m.asm.cmp(size, RegMem::Reg(dst), src)?,
    }
    m.branch_to_slot(x86, target as usize, at)
}
