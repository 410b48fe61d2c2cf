//! Lowering of the ops that leave straight-line code: syscalls, BPF-to-BPF calls (`call`,
//! sBPF `callx`) and `exit`, plus the stack-pointer update they share with `add r11`.

use super::env::{
    CALLX_TABLE, CALLX_TARGET, DEPTH, FRAMES, FRAME_POINTER, FRAME_RETURN_PC, FRAME_SAVED,
    FRAME_SHIFT, STACK_POINTER,
};
use super::lower::{At, Lowered, Program, MAX_INLINE_CALL_DEPTH};
use super::masm::{env, imm_pc, Callx, Masm, Routine, Shape, GUEST};
use super::template::{frame_top_update, Builder, Width};
use super::JitError;
use crate::memory::FrameMode;
use bpfvm_x86::{
    AluKind, Assembler, Cond, Gpr, Mem, Operand as X86, RegMem, Scale, ShiftAmount, ShiftKind, Size,
};

/// `add qword [mem], value` for any 64-bit value (rax is clobbered for a large one).
pub(super) fn add_to(a: &mut Assembler, mem: Mem, value: u64) -> Lowered {
    match i32::try_from(value as i64) {
        Ok(imm) => a.alu(AluKind::Add, Size::S64, RegMem::Mem(mem), X86::Imm(imm))?,
        Err(_) => {
            a.mov_imm64(Gpr::Rax, value);
            a.alu(
                AluKind::Add,
                Size::S64,
                RegMem::Mem(mem),
                X86::Reg(Gpr::Rax),
            )?;
        }
    }
    Ok(())
}

/// A syscall: `mov ecx, index; mov eax, pc; call` the shared routine, which calls the shim
/// and ends the run when the shim says so (an error, the unwind helper, or no budget left
/// after the syscall: `ExceededMaxInstructions` at pc + 1).
pub(super) fn syscall(m: &mut Masm, index: u32, pc: usize) -> Lowered {
    m.asm.mov_imm64(Gpr::Rcx, u64::from(index));
    m.asm.mov_imm64(Gpr::Rax, pc as u64);
    m.call_routine(Routine::Syscall)?;
    Ok(())
}

pub(super) enum CallTarget {
    Slot(usize),
    Register(Gpr),
}

/// rcx = the frame record at depth rax.
fn frame_record(a: &mut Assembler) -> Lowered {
    a.lea(
        Size::S64,
        Gpr::Rcx,
        Mem::indexed(Gpr::Rax, Gpr::Rax, Scale::Two, 0),
    )?;
    a.shift(
        ShiftKind::Shl,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        ShiftAmount::Imm(FRAME_SHIFT),
    )?;
    a.alu(
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
    if p.max_call_depth < 2 || p.max_call_depth > MAX_INLINE_CALL_DEPTH {
        m.bail_now(at)?;
        return Ok(());
    }
    match target {
        CallTarget::Slot(slot) if slot >= p.slot_count => {
            m.bail_now(at)?;
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
            m.bail_if(Cond::B, at)?;
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
            m.bail_if(Cond::Ae, at)?;
            m.asm.load(Size::S64, Gpr::Rcx, env(CALLX_TABLE))?;
            m.callx = Callx::Table;
            m.asm.load(
                Size::S32,
                Gpr::Rax,
                Mem::indexed(Gpr::Rcx, Gpr::Rax, Scale::Four, 0),
            )?;
            m.asm
                .test(Size::S32, RegMem::Reg(Gpr::Rax), X86::Reg(Gpr::Rax))?;
            m.bail_if(Cond::E, at)?;
            // The frame push needs rax and rcx (and may bail out, with the meter in rdx):
            // the entry's offset waits in the `Env`.
            m.asm.store(Size::S64, env(CALLX_TARGET), Gpr::Rax)?;
        }
    }
    m.replay(Shape::FramePush, imm_pc(at.pc + 1), at)?;
    match target {
        CallTarget::Slot(slot) => m.call_slot(slot)?,
        CallTarget::Register(_) => {
            let start = m.asm.lea_pending(Gpr::Rax);
            m.asm.patch_rel32(start, 0)?;
            m.asm.alu(
                AluKind::Add,
                Size::S64,
                RegMem::Reg(Gpr::Rax),
                X86::Mem(env(CALLX_TARGET)),
            )?;
            m.asm.call_indirect(RegMem::Reg(Gpr::Rax))?;
        }
    }
    Ok(())
}

/// The frame push of `call` / `callx` (a template; the return pc is its immediate; rdx, the
/// meter, is preserved): the depth check, bailing out with the state untouched, then the frame
/// record, the depth, the stack pointer and r10.
pub(super) fn frame_push(b: &mut Builder, p: &Program) -> Lowered {
    let limit = i32::try_from(p.max_call_depth.saturating_sub(1)).map_err(|_| {
        JitError::ProgramTooLarge {
            slots: p.slot_count,
        }
    })?;
    b.asm.load(Size::S64, Gpr::Rax, env(DEPTH))?;
    b.asm
        .cmp(Size::S64, RegMem::Reg(Gpr::Rax), X86::Imm(limit))?;
    b.bail_if(Cond::Ae)?;
    frame_record(&mut b.asm)?;
    for (index, reg) in GUEST[6..10].iter().enumerate() {
        b.asm.store(
            Size::S64,
            Mem::base_disp(Gpr::Rcx, FRAME_SAVED + 8 * index as i32),
            *reg,
        )?;
    }
    b.asm.store(
        Size::S64,
        Mem::base_disp(Gpr::Rcx, FRAME_POINTER),
        GUEST[10],
    )?;
    // A placeholder that takes the 32-bit form; the replay writes the return pc.
    b.asm.store_imm(
        Size::S64,
        Mem::base_disp(Gpr::Rcx, FRAME_RETURN_PC),
        i32::MAX,
    )?;
    b.imm_here(Width::Dword);
    b.asm
        .alu(AluKind::Add, Size::S64, RegMem::Reg(Gpr::Rax), X86::Imm(1))?;
    b.asm.store(Size::S64, env(DEPTH), Gpr::Rax)?;
    match p.frames {
        FrameMode::Fixed { bump } => {
            add_to(&mut b.asm, env(STACK_POINTER), bump)?;
            b.asm.load(Size::S64, GUEST[10], env(STACK_POINTER))?;
        }
        FrameMode::Dynamic => b.asm.load(Size::S64, GUEST[10], env(STACK_POINTER))?,
        // SBPF V1, V2: the callee inherits the caller's r10.
        FrameMode::Manual => {}
    }
    if p.stack.is_some() {
        frame_top_update(&mut b.asm)?;
    }
    Ok(())
}

/// `exit`: the root frame ends the run; a nested one restores the caller's frame and
/// returns with `ret` to the instruction after its `call`. When a call sits in the last
/// slot, the return pc is checked first (returning past the end bails out at the `exit`).
pub(super) fn exit(m: &mut Masm, p: &Program, at: At) -> Lowered {
    let shape = match p.call_in_last_slot {
        true => Shape::CheckedExit,
        false => Shape::Exit,
    };
    m.replay(shape, 0, at)
}

/// The `exit` template, with the return-pc check when `checked`.
pub(super) fn exit_sequence(b: &mut Builder, p: &Program, checked: bool) -> Lowered {
    b.asm.load(Size::S64, Gpr::Rax, env(DEPTH))?;
    b.asm
        .test(Size::S64, RegMem::Reg(Gpr::Rax), X86::Reg(Gpr::Rax))?;
    b.jcc(Cond::E, Routine::RootExit)?;
    b.asm
        .alu(AluKind::Sub, Size::S64, RegMem::Reg(Gpr::Rax), X86::Imm(1))?;
    frame_record(&mut b.asm)?;
    if checked {
        b.asm.cmp(
            Size::S64,
            RegMem::Mem(Mem::base_disp(Gpr::Rcx, FRAME_RETURN_PC)),
            X86::Imm(imm_pc(p.slot_count)),
        )?;
        b.bail_if(Cond::Ae)?;
    }
    b.asm.store(Size::S64, env(DEPTH), Gpr::Rax)?;
    for (index, reg) in GUEST[6..10].iter().enumerate() {
        b.asm.load(
            Size::S64,
            *reg,
            Mem::base_disp(Gpr::Rcx, FRAME_SAVED + 8 * index as i32),
        )?;
    }
    b.asm.load(
        Size::S64,
        GUEST[10],
        Mem::base_disp(Gpr::Rcx, FRAME_POINTER),
    )?;
    if let FrameMode::Fixed { bump } = p.frames {
        add_to(&mut b.asm, env(STACK_POINTER), bump.wrapping_neg())?;
    }
    if p.stack.is_some() {
        frame_top_update(&mut b.asm)?;
    }
    b.asm.ret();
    Ok(())
}
