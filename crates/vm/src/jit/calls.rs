//! Lowering of the ops that leave straight-line code: syscalls, BPF-to-BPF calls (`call`,
//! sBPF `callx`) and `exit`, plus the stack-pointer update they share with `add r11`.

use super::env::{
    DEPTH, FRAMES, FRAME_POINTER, FRAME_RETURN_PC, FRAME_SAVED, FRAME_SHIFT, LEFT, STACK_POINTER,
};
use super::lower::{At, Lowered, Program, MAX_INLINE_CALL_DEPTH};
use super::masm::{env, imm_pc, Arg, Masm, MeterMode, GUEST};
use super::JitError;
use crate::interpreter::exec::FrameMode;
use bpfvm_x86::{
    AluKind, Cond, Gpr, Mem, Operand as X86, RegMem, Scale, ShiftAmount, ShiftKind, Size,
};

/// `add qword [mem], value` for any 64-bit value.
pub(super) fn add_to(m: &mut Masm, mem: Mem, value: u64) -> Lowered {
    match i32::try_from(value as i64) {
        Ok(imm) => m
            .asm
            .alu(AluKind::Add, Size::S64, RegMem::Mem(mem), X86::Imm(imm))?,
        Err(_) => {
            m.asm.mov_imm64(Gpr::Rax, value);
            m.asm.alu(
                AluKind::Add,
                Size::S64,
                RegMem::Mem(mem),
                X86::Reg(Gpr::Rax),
            )?;
        }
    }
    Ok(())
}

/// A syscall through the shim: a nonzero status means the shim stored how the run ends.
/// With metering on, a syscall that leaves no budget trips the check right after it.
pub(super) fn syscall(m: &mut Masm, p: &Program, index: u32, pc: usize) -> Lowered {
    m.call_rust(
        p.syscall_helper,
        Arg::Imm(u64::from(index)),
        Arg::Imm(pc as u64),
    )?;
    m.asm
        .test(Size::S64, RegMem::Reg(Gpr::Rax), X86::Reg(Gpr::Rax))?;
    let exit = m.exit_stub();
    m.asm.jcc(Cond::Ne, exit)?;
    if m.meter == MeterMode::On {
        let exceeded = m.exceeded(pc + 1);
        m.asm.cmp(Size::S64, RegMem::Mem(env(LEFT)), X86::Imm(0))?;
        m.asm.jcc(Cond::E, exceeded)?;
    }
    Ok(())
}

pub(super) enum CallTarget {
    Slot(usize),
    Register(Gpr),
}

/// rcx = the frame record at depth rax.
fn frame_record(m: &mut Masm) -> Lowered {
    m.asm.lea(
        Size::S64,
        Gpr::Rcx,
        Mem::indexed(Gpr::Rax, Gpr::Rax, Scale::Two, 0),
    )?;
    m.asm.shift(
        ShiftKind::Shl,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        ShiftAmount::Imm(FRAME_SHIFT),
    )?;
    m.asm.alu(
        AluKind::Add,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        X86::Mem(env(FRAMES)),
    )?;
    Ok(())
}

/// `call` / `callx`: every check first (bailing out with the state untouched), then the
/// frame record, the depth, the stack pointer and r10, then a real x86 `call` so returns
/// stay predicted.
pub(super) fn call(m: &mut Masm, p: &Program, target: CallTarget, at: At) -> Lowered {
    let bail = m.bail(at.pc, at.refund);
    if p.max_call_depth < 2 || p.max_call_depth > MAX_INLINE_CALL_DEPTH {
        m.asm.jmp(bail)?;
        return Ok(());
    }
    match target {
        CallTarget::Slot(slot) if slot >= p.slot_count => {
            m.asm.jmp(bail)?;
            return Ok(());
        }
        CallTarget::Slot(_) => {}
        CallTarget::Register(reg) => {
            m.asm.mov(Size::S64, Gpr::Rax, reg);
            m.asm.mov_imm64(Gpr::Rcx, p.text_vaddr);
            m.asm.alu(
                AluKind::Sub,
                Size::S64,
                RegMem::Reg(Gpr::Rax),
                X86::Reg(Gpr::Rcx),
            )?;
            m.asm.jcc(Cond::B, bail)?;
            m.asm.shift(
                ShiftKind::Shr,
                Size::S64,
                RegMem::Reg(Gpr::Rax),
                ShiftAmount::Imm(3),
            )?;
            m.asm.cmp(
                Size::S64,
                RegMem::Reg(Gpr::Rax),
                X86::Imm(imm_pc(p.slot_count)),
            )?;
            m.asm.jcc(Cond::Ae, bail)?;
            m.asm.lea_label(Gpr::Rcx, p.callx_table)?;
            m.asm.load(
                Size::S32,
                Gpr::Rax,
                Mem::indexed(Gpr::Rcx, Gpr::Rax, Scale::Four, 0),
            )?;
            m.asm
                .test(Size::S32, RegMem::Reg(Gpr::Rax), X86::Reg(Gpr::Rax))?;
            m.asm.jcc(Cond::E, bail)?;
            m.asm.lea_label(Gpr::Rdx, p.code_start)?;
            m.asm.alu(
                AluKind::Add,
                Size::S64,
                RegMem::Reg(Gpr::Rdx),
                X86::Reg(Gpr::Rax),
            )?;
        }
    }
    let limit = i32::try_from(p.max_call_depth - 1)
        .map_err(|_| JitError::ProgramTooLarge { slots: at.pc })?;
    m.asm.load(Size::S64, Gpr::Rax, env(DEPTH))?;
    m.asm
        .cmp(Size::S64, RegMem::Reg(Gpr::Rax), X86::Imm(limit))?;
    m.asm.jcc(Cond::Ae, bail)?;
    frame_record(m)?;
    for (index, reg) in GUEST[6..10].iter().enumerate() {
        m.asm.store(
            Size::S64,
            Mem::base_disp(Gpr::Rcx, FRAME_SAVED + 8 * index as i32),
            *reg,
        )?;
    }
    m.asm.store(
        Size::S64,
        Mem::base_disp(Gpr::Rcx, FRAME_POINTER),
        GUEST[10],
    )?;
    m.asm.store_imm(
        Size::S64,
        Mem::base_disp(Gpr::Rcx, FRAME_RETURN_PC),
        imm_pc(at.pc + 1),
    )?;
    m.asm
        .alu(AluKind::Add, Size::S64, RegMem::Reg(Gpr::Rax), X86::Imm(1))?;
    m.asm.store(Size::S64, env(DEPTH), Gpr::Rax)?;
    if let FrameMode::Fixed { bump } = p.frames {
        add_to(m, env(STACK_POINTER), bump)?;
    }
    m.asm.load(Size::S64, GUEST[10], env(STACK_POINTER))?;
    match target {
        CallTarget::Slot(slot) => {
            let label = m.pc_label(slot);
            m.asm.call(label)?;
        }
        CallTarget::Register(_) => m.asm.call_indirect(RegMem::Reg(Gpr::Rdx))?,
    }
    Ok(())
}

/// `exit`: the root frame ends the run; a nested one restores the caller's frame and
/// returns with `ret` to the instruction after its `call`.
pub(super) fn exit(m: &mut Masm, p: &Program, at: At) -> Lowered {
    let root = m.root_exit();
    m.asm.load(Size::S64, Gpr::Rax, env(DEPTH))?;
    m.asm
        .test(Size::S64, RegMem::Reg(Gpr::Rax), X86::Reg(Gpr::Rax))?;
    m.asm.jcc(Cond::E, root)?;
    m.asm
        .alu(AluKind::Sub, Size::S64, RegMem::Reg(Gpr::Rax), X86::Imm(1))?;
    frame_record(m)?;
    if p.call_in_last_slot {
        let bail = m.bail(at.pc, at.refund);
        let slots = imm_pc(p.slot_count);
        m.asm.cmp(
            Size::S64,
            RegMem::Mem(Mem::base_disp(Gpr::Rcx, FRAME_RETURN_PC)),
            X86::Imm(slots),
        )?;
        m.asm.jcc(Cond::Ae, bail)?;
    }
    m.asm.store(Size::S64, env(DEPTH), Gpr::Rax)?;
    for (index, reg) in GUEST[6..10].iter().enumerate() {
        m.asm.load(
            Size::S64,
            *reg,
            Mem::base_disp(Gpr::Rcx, FRAME_SAVED + 8 * index as i32),
        )?;
    }
    m.asm.load(
        Size::S64,
        GUEST[10],
        Mem::base_disp(Gpr::Rcx, FRAME_POINTER),
    )?;
    if let FrameMode::Fixed { bump } = p.frames {
        add_to(m, env(STACK_POINTER), bump.wrapping_neg())?;
    }
    m.asm.ret();
    Ok(())
}
