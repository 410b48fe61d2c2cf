//! The ops that leave straight-line code on x86-64: syscalls, BPF-to-BPF calls (`call`,
//! sBPF `callx`) and `exit` (their frame sequences are in `sequences`).

use super::labels::{Routine, Shape};
use super::masm::Masm;
use super::regs::{env, imm_pc, CALLX_TABLE, CALLX_TARGET};
use super::sequences::frame_release;
use crate::jit::masm::{At, Lowered, ReturnCheck};
use bpfvm_x86::{
    AluKind, Cond, Gpr, Mem, Operand as X86, RegMem, Scale, ShiftAmount, ShiftKind, Size,
};

/// A syscall: `mov ecx, index; mov eax, pc; call` the shared routine, which calls the shim
/// and ends the run when the shim says so (an error, the unwind helper, or no budget left
/// after the syscall: the syscall rule of `runtime::syscall`).
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

/// `call` / `callx`: every check first (bailing out with the state untouched), then the
/// frame record on the host stack, the stack pointer and r10, then a real x86 `call` so
/// returns stay predicted, and where the `exit` returns, the record's release. (The lowering bailed out already for depths too large for inline calls
/// and for a slot outside the text.)
pub(super) fn call(m: &mut Masm, target: CallTarget, at: At) -> Lowered {
    let p = m.program;
    match target {
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
            m.needs_callx_table();
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
    frame_release(&mut m.asm, &m.program)
}

/// `exit`: the root frame ends the run; a nested one restores the caller's frame and
/// returns with `ret` to the instruction after its `call`. With `ReturnCheck::ReturnPc` the
/// return pc is checked first (returning past the end bails out at the `exit`).
pub(super) fn exit(m: &mut Masm, check: ReturnCheck, at: At) -> Lowered {
    let shape = match check {
        ReturnCheck::ReturnPc => Shape::CheckedExit,
        ReturnCheck::None => Shape::Exit,
    };
    m.replay(shape, 0, at)
}
