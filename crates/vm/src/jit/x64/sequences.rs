//! The fixed x86-64 sequences the backend replays as templates (see `templates`) or emits
//! where they are shared: the inline table check of a memory access and the compares of the
//! miss routines, the meter charge at a run's start, the frame push of `call` and the frame
//! pop of `exit` (frame records on the host stack), the exit routine's copy of those
//! records, and the current-frame update they share.
//!
//! The inline check of a memory access (the end `vaddr + size` in rax; the host address
//! plus `size` in rax after it, so the access adds `-size`; rdx holds the meter and is left
//! alone):
//!
//! ```text
//!     lea rcx, [rax - size]          ; the vaddr
//!     shr rcx, 32                    ; the region slot
//!     cmp ecx, ROWS
//!     jae miss
//!     cmp rax, [r15 + rcx*8 + LIMIT] ; load or store limit of the slot (0: never inline)
//!     jbe hit
//! miss:
//!     sub rax, size                  ; the vaddr
//!     call routine                   ; returns the host address in rax and rcx = 0
//!     add rax, size
//! hit:
//!     add rax, [r15 + rcx*8 + DELTA] ; host minus guest address of the slot (0 for row 0)
//! ```
//!
//! # Frame records live on the host stack
//!
//! A `call` pushes its frame record (r6..r9, r10 unless it is derived, the return pc) on
//! the host stack right before the x86 `call`, which pushes the return address below it;
//! the `exit` reads the caller's registers back through rsp and returns with a plain
//! `ret`, and the return site releases the rest of the record. So the call depth is the
//! host stack's distance from `Env::host_stack` in records: the depth check compares rsp
//! with `Env::frame_floor` (set by the prologue), the root `exit` is the one that finds rsp
//! at `Env::host_stack`, and neither reads nor writes a cursor in memory. Every way out of
//! generated code passes the exit routine, which copies the records into `Env::frames`
//! (the interpreter's frames) and sets `Env::frame_cursor` ([`host_records_copy`]), so the
//! hand-over and the errors see the exact guest call stack.
//!
//! # Fixed frames: r10 is the stack pointer
//!
//! With fixed frames r10 cannot be written by any instruction (the verifier rejects it), a
//! `call` adds the bump to the stack pointer and sets r10 to it, and an `exit` restores the
//! caller's r10 and takes the bump off the stack pointer. So r10 equals the stack pointer
//! whenever generated code runs, as long as it did at entry, which the run checks before it
//! enters (`jit::run`). The frame push therefore moves r10 in its register only, the `exit`
//! restores it from the frame record, and neither writes `Env::stack_pointer`: the run reads
//! the stack pointer from r10 when it hands a run to the interpreter.
//!
//! # Fixed frames in a program that never reads r10: r10 is derived
//!
//! When no op reads r10 (calls and exits only move it; `Program::r10`), r10 is a function
//! of the call depth alone: the root's r10 plus the depth times the bump. Such a program's
//! `call` then neither saves r10 in the frame record nor bumps it, and its `exit` does not
//! restore it: r10's register keeps the root's value for the whole run, three instructions
//! fewer per call and return (one of them a store, one a load). Whatever leaves generated
//! code goes through the exit routine, which derives the real r10 and the frame records'
//! saved r10 from the depth before it stores the registers ([`derived_r10_fixup`]), so the
//! hand-over to the interpreter, the errors and the final registers see exactly what the
//! full sequences would have left.

use super::labels::{Miss, Routine, Shape, Width};
use super::regs::{
    delta_field, env, imm_pc, limit_field, FRAMES, FRAME_CURSOR, FRAME_FLOOR, FRAME_HOST,
    FRAME_LIMIT, FRAME_POINTER, FRAME_RECORD, FRAME_RETURN_PC, FRAME_SAVED, FRAME_TOP, GUEST,
    HOST_STACK, METER, ROWS_IMM, STACK_POINTER,
};
use super::templates::Builder;
use crate::jit::access::Access;
use crate::jit::masm::{Lowered, Program, R10Use};
use crate::jit::JitError;
use crate::memory::{FrameMode, Gaps};
use bpfvm_x86::{
    AluKind, Assembler, Cond, Gpr, Label, Mem, Operand, RegMem, ShiftAmount, ShiftKind, Size,
};

/// Encodes the sequence of `shape` for `p`.
pub(crate) fn build(shape: Shape, b: &mut Builder, p: &Program) -> Result<(), JitError> {
    match shape {
        Shape::Access(access, size, miss) => access_check(b, size, access, miss),
        Shape::Meter(width) => meter_charge(b, width),
        Shape::FramePush => frame_push(b, p),
        Shape::Exit => exit_sequence(b, p, false),
        Shape::CheckedExit => exit_sequence(b, p, true),
    }
}

/// The inline check of a `size`-byte `access` (see the module doc).
pub(crate) fn access_check(
    b: &mut Builder,
    size: u8,
    access: Access,
    miss_by: Miss,
) -> Result<(), JitError> {
    let log = size.trailing_zeros().min(3) as u8;
    let miss = b.asm.new_label();
    let hit = b.asm.new_label();
    let rax = RegMem::Reg(Gpr::Rax);
    let size = i32::from(size);
    b.asm
        .lea(Size::S64, Gpr::Rcx, Mem::base_disp(Gpr::Rax, -size))?;
    b.asm.shift(
        ShiftKind::Shr,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        ShiftAmount::Imm(32),
    )?;
    b.asm
        .cmp(Size::S32, RegMem::Reg(Gpr::Rcx), Operand::Imm(ROWS_IMM))?;
    b.asm.jcc_short(Cond::Ae, miss)?;
    b.asm.alu(
        AluKind::Cmp,
        Size::S64,
        rax,
        Operand::Mem(limit_field(Gpr::Rcx, access)),
    )?;
    b.asm.jcc_short(Cond::Be, hit)?;
    b.asm.bind(miss)?;
    b.asm
        .alu(AluKind::Sub, Size::S64, rax, Operand::Imm(size))?;
    b.call(miss_by.routine(access, log))?;
    b.asm
        .alu(AluKind::Add, Size::S64, rax, Operand::Imm(size))?;
    b.asm.bind(hit)?;
    b.asm.alu(
        AluKind::Add,
        Size::S64,
        rax,
        Operand::Mem(delta_field(Gpr::Rcx)),
    )?;
    Ok(())
}

/// The region-table lookup of a `size`-byte `access` (vaddr in rax) in the miss routines
/// (which saved the meter: rdx is free there), up to the compare of its end with the row's
/// limit (the caller's jump decides on "below or equal"); a slot beyond the table jumps to
/// `miss` (short):
///
/// ```text
///     mov rdx, rax
///     shr rdx, 32
///     cmp edx, ROWS
///     jae miss
///     lea rcx, [rax + size]
///     cmp rcx, [r15 + rdx*8 + LIMIT]
/// ```
pub(crate) fn table_compare(
    a: &mut Assembler,
    size: u8,
    access: Access,
    miss: Label,
) -> Result<(), JitError> {
    slot_compare(a)?;
    a.jcc_short(Cond::Ae, miss)?;
    end_compare(a, size, limit_field(Gpr::Rdx, access))
}

/// `mov rdx, rax; shr rdx, 32; cmp edx, ROWS`: the region slot of the vaddr in rax, compared
/// with the number of table rows.
pub(crate) fn slot_compare(a: &mut Assembler) -> Result<(), JitError> {
    a.mov(Size::S64, Gpr::Rdx, Gpr::Rax);
    a.shift(
        ShiftKind::Shr,
        Size::S64,
        RegMem::Reg(Gpr::Rdx),
        ShiftAmount::Imm(32),
    )?;
    a.cmp(Size::S32, RegMem::Reg(Gpr::Rdx), Operand::Imm(ROWS_IMM))?;
    Ok(())
}

/// `lea rcx, [rax + size]; cmp rcx, limit`: the end of a `size`-byte access at the address
/// in rax against `limit`.
pub(crate) fn end_compare(a: &mut Assembler, size: u8, limit: Mem) -> Result<(), JitError> {
    a.lea(
        Size::S64,
        Gpr::Rcx,
        Mem::base_disp(Gpr::Rax, i32::from(size)),
    )?;
    a.alu(
        AluKind::Cmp,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        Operand::Mem(limit),
    )?;
    Ok(())
}

/// `frame_top = r10 / 2 + frame_host` for gapped frames, `r10 + frame_host` for contiguous
/// ones (see `Env::frame_top`); clobbers rax.
pub(crate) fn frame_top_update(a: &mut Assembler, gaps: Gaps) -> Result<(), JitError> {
    a.mov(Size::S64, Gpr::Rax, GUEST[10]);
    match gaps {
        Gaps::On => a.shift(
            ShiftKind::Shr,
            Size::S64,
            RegMem::Reg(Gpr::Rax),
            ShiftAmount::Imm(1),
        )?,
        Gaps::Off => {}
    }
    a.alu(
        AluKind::Add,
        Size::S64,
        RegMem::Reg(Gpr::Rax),
        Operand::Mem(env(FRAME_HOST)),
    )?;
    a.store(Size::S64, env(FRAME_TOP), Gpr::Rax)?;
    Ok(())
}

/// The meter charge at a run's start: `rdx -= charge` (the meter, an immediate of
/// `width`), and a bail-out unless that leaves more than 0.
pub(crate) fn meter_charge(b: &mut Builder, width: Width) -> Result<(), JitError> {
    let placeholder = match width {
        Width::Byte => 1,
        Width::Dword => 0x100,
    };
    b.asm.alu(
        AluKind::Sub,
        Size::S64,
        RegMem::Reg(METER),
        Operand::Imm(placeholder),
    )?;
    b.imm_here(width);
    b.bail_if(Cond::Be)
}

/// The bytes of one frame record on the host stack (see [`frame_push`]): the return
/// address, the return pc, r10 unless it is derived (see the module doc), r9..r6.
pub(super) fn host_record(p: &Program) -> i32 {
    match derived_r10(p) {
        Some(_) => 48,
        None => 56,
    }
}

/// Where saved register r`6 + index` sits in a host frame record of `record` bytes (r6
/// was pushed first, so it is the record's last word).
fn saved_slot(record: i32, index: usize) -> i32 {
    record - 8 - 8 * index as i32
}

/// Where the caller's r10 sits in a host frame record that holds it.
const SAVED_R10: i32 = 16;

/// Where the return pc sits in a host frame record.
const RETURN_PC: i32 = 8;

/// The frame push of `call` / `callx` (a template; the return pc is its immediate; rdx, the
/// meter, is preserved): the depth check, bailing out with the state untouched, then the
/// frame record pushed on the host stack (the `call` that follows pushes its return address
/// below it), and r10. The depth is the host stack's distance from `Env::host_stack` in
/// records, so the check compares the stack pointer with the floor the prologue computed:
///
/// ```text
///     cmp rsp, [r15 + FRAME_FLOOR]
///     jbe bail                       ; the interpreter raises the depth error at this pc
///     push rbx; push r12; push r13; push r14
///     push rbp                       ; unless r10 is derived
///     push return_pc
///     add rbp, bump                  ; fixed frames whose r10 is not derived
///     add qword [r15 + FRAME_TOP], bump / 2
/// ```
pub(super) fn frame_push(b: &mut Builder, p: &Program) -> Lowered {
    b.asm.alu(
        AluKind::Cmp,
        Size::S64,
        RegMem::Reg(Gpr::Rsp),
        Operand::Mem(env(FRAME_FLOOR)),
    )?;
    b.bail_if(Cond::Be)?;
    for reg in &GUEST[6..10] {
        b.asm.push(*reg);
    }
    if derived_r10(p).is_none() {
        b.asm.push(GUEST[10]);
    }
    // A placeholder that takes the 32-bit form; the replay writes the return pc.
    b.asm.push_imm(i32::MAX);
    b.imm_here(Width::Dword);
    match p.frames {
        // Derived (see the module doc): the exit routine computes r10 from the depth.
        FrameMode::Fixed { .. } if derived_r10(p).is_some() => {}
        // r10 is the stack pointer with fixed frames (see the module doc): it moves by the
        // bump in its register, and `Env::stack_pointer` is left alone (the run reads r10).
        FrameMode::Fixed { bump } => add_reg(&mut b.asm, GUEST[10], bump)?,
        FrameMode::Dynamic => b.asm.load(Size::S64, GUEST[10], env(STACK_POINTER))?,
        // SBPF V1, V2: the callee inherits the caller's r10.
        FrameMode::Manual => {}
    }
    frame_top_move(&mut b.asm, p, Direction::Down)
}

/// The `exit` template, with the return-pc check when `checked`: the root frame (the host
/// stack where the prologue left it) ends the run; otherwise the record above the return
/// address holds the caller's registers, and `ret` returns to the instruction after the
/// `call`, which releases the rest of the record ([`frame_release`]):
///
/// ```text
///     cmp rsp, [r15 + HOST_STACK]
///     je root_exit
///     cmp qword [rsp + 8], slot_count  ; checked only: the return pc
///     jae bail
///     mov r14, [rsp + 16 or 24] ... rbx, [rsp + 40 or 48]
///     mov rbp, [rsp + 16]              ; unless r10 is derived
///     add qword [r15 + FRAME_TOP], -bump / 2
///     ret
/// ```
pub(super) fn exit_sequence(b: &mut Builder, p: &Program, checked: bool) -> Lowered {
    let record = host_record(p);
    b.asm.alu(
        AluKind::Cmp,
        Size::S64,
        RegMem::Reg(Gpr::Rsp),
        Operand::Mem(env(HOST_STACK)),
    )?;
    b.jcc(Cond::E, Routine::RootExit)?;
    if checked {
        b.asm.cmp(
            Size::S64,
            RegMem::Mem(Mem::base_disp(Gpr::Rsp, RETURN_PC)),
            Operand::Imm(imm_pc(p.slot_count)),
        )?;
        b.bail_if(Cond::Ae)?;
    }
    for (index, reg) in GUEST[6..10].iter().enumerate().rev() {
        b.asm.load(
            Size::S64,
            *reg,
            Mem::base_disp(Gpr::Rsp, saved_slot(record, index)),
        )?;
    }
    if derived_r10(p).is_none() {
        b.asm
            .load(Size::S64, GUEST[10], Mem::base_disp(Gpr::Rsp, SAVED_R10))?;
    }
    frame_top_move(&mut b.asm, p, Direction::Up)?;
    b.asm.ret();
    Ok(())
}

/// Right after the `call` of `call` / `callx`, where its `exit` returns: releases the rest
/// of the frame record (the return address is gone already) without touching the flags.
/// (`ret imm16` would release it in the `exit`, but on the AMD host measured here it is
/// not predicted like a plain `ret`: fib ran 1.45x slower with it.)
///
/// ```text
///     lea rsp, [rsp + 40 or 48]
/// ```
pub(super) fn frame_release(a: &mut Assembler, p: &Program) -> Lowered {
    a.lea(
        Size::S64,
        Gpr::Rsp,
        Mem::base_disp(Gpr::Rsp, host_record(p) - 8),
    )?;
    Ok(())
}

/// The prologue's part for a program with inline calls: `Env::frame_floor`, the host stack
/// pointer at which a `call` bails out, `max_call_depth - 1` records below the entry's.
/// Clobbers rax.
///
/// ```text
///     lea rax, [rsp - (max_call_depth - 1) * record]
///     mov [r15 + FRAME_FLOOR], rax
/// ```
pub(super) fn frame_floor(a: &mut Assembler, p: &Program) -> Lowered {
    let records = p.max_call_depth.saturating_sub(1);
    let bytes = i32::try_from(records)
        .ok()
        .and_then(|records| records.checked_mul(host_record(p)))
        .ok_or_else(|| JitError::Internal {
            message: format!("{records} frame records on the host stack"),
        })?;
    a.lea(Size::S64, Gpr::Rax, Mem::base_disp(Gpr::Rsp, -bytes))?;
    a.store(Size::S64, env(FRAME_FLOOR), Gpr::Rax)?;
    Ok(())
}

/// The exit routine's copy of the host stack's frame records into `Env::frames`, the first
/// (the root's call, right below `Env::host_stack`) first, up to the stack pointer (which
/// may sit one or two return addresses below the last record, when a routine was called),
/// and never past `Env::frame_limit`; `Env::frame_cursor` then names the depth. Clobbers
/// rax, rcx and rdx (free on the way out: the meter was saved).
///
/// ```text
///     mov rcx, [r15 + FRAMES]
///     mov rax, [r15 + HOST_STACK]
/// next:
///     sub rax, record
///     cmp rax, rsp
///     jb done
///     cmp rcx, [r15 + FRAME_LIMIT]
///     jae done
///     mov rdx, [rax + saved r6..r9]; mov [rcx + 0..24], rdx
///     mov rdx, [rax + 16]; mov [rcx + FRAME_POINTER], rdx     ; unless r10 is derived
///     mov rdx, [rax + 8]; mov [rcx + FRAME_RETURN_PC], rdx
///     add rcx, 48
///     jmp next
/// done:
///     mov [r15 + FRAME_CURSOR], rcx
/// ```
pub(super) fn host_records_copy(a: &mut Assembler, p: &Program) -> Lowered {
    let record = host_record(p);
    let next = a.new_label();
    let done = a.new_label();
    a.load(Size::S64, Gpr::Rcx, env(FRAMES))?;
    a.load(Size::S64, Gpr::Rax, env(HOST_STACK))?;
    a.bind(next)?;
    a.alu(
        AluKind::Sub,
        Size::S64,
        RegMem::Reg(Gpr::Rax),
        Operand::Imm(record),
    )?;
    a.cmp(Size::S64, RegMem::Reg(Gpr::Rax), Operand::Reg(Gpr::Rsp))?;
    a.jcc(Cond::B, done)?;
    a.alu(
        AluKind::Cmp,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        Operand::Mem(env(FRAME_LIMIT)),
    )?;
    a.jcc(Cond::Ae, done)?;
    let mut words: Vec<(i32, i32)> = (0..4)
        .map(|index| (saved_slot(record, index), FRAME_SAVED + 8 * index as i32))
        .collect();
    if derived_r10(p).is_none() {
        words.push((SAVED_R10, FRAME_POINTER));
    }
    words.push((RETURN_PC, FRAME_RETURN_PC));
    for (from, to) in words {
        a.load(Size::S64, Gpr::Rdx, Mem::base_disp(Gpr::Rax, from))?;
        a.store(Size::S64, Mem::base_disp(Gpr::Rcx, to), Gpr::Rdx)?;
    }
    a.alu(
        AluKind::Add,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        Operand::Imm(FRAME_RECORD),
    )?;
    a.jmp(next)?;
    a.bind(done)?;
    a.store(Size::S64, env(FRAME_CURSOR), Gpr::Rcx)?;
    Ok(())
}

/// The bump of a `call` when r10 is derived from the call depth rather than kept in its
/// register (fixed frames, and no op reads r10; see the module doc).
pub(super) fn derived_r10(p: &Program) -> Option<u64> {
    match (p.frames, p.r10) {
        (FrameMode::Fixed { bump }, R10Use::Unread) => Some(bump),
        (FrameMode::Fixed { .. }, R10Use::Read) | (FrameMode::Dynamic | FrameMode::Manual, _) => {
            None
        }
    }
}

/// The exit routine's part when r10 is derived: r10's register still holds the root's r10,
/// so walking the frame records from the first to the cursor, each record gets the r10 of
/// its depth as the caller's saved r10 and r10 moves up by the bump, ending at the current
/// depth's r10. Clobbers rax and rcx (free on the way out).
///
/// ```text
///     mov rcx, [r15 + FRAMES]
/// next:
///     cmp rcx, [r15 + FRAME_CURSOR]
///     je done
///     mov [rcx + FRAME_POINTER], rbp
///     add rbp, bump
///     add rcx, 48
///     jmp next
/// done:
/// ```
pub(super) fn derived_r10_fixup(a: &mut Assembler, bump: u64) -> Lowered {
    let next = a.new_label();
    let done = a.new_label();
    a.load(Size::S64, Gpr::Rcx, env(FRAMES))?;
    a.bind(next)?;
    a.alu(
        AluKind::Cmp,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        Operand::Mem(env(FRAME_CURSOR)),
    )?;
    a.jcc(Cond::E, done)?;
    a.store(
        Size::S64,
        Mem::base_disp(Gpr::Rcx, FRAME_POINTER),
        GUEST[10],
    )?;
    add_reg(a, GUEST[10], bump)?;
    a.alu(
        AluKind::Add,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        Operand::Imm(FRAME_RECORD),
    )?;
    a.jmp(next)?;
    a.bind(done)?;
    Ok(())
}

/// Which way a frame move goes: a `call` goes down into a new frame, an `exit` back up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Down,
    Up,
}

/// `Env::frame_top` after a `call` or `exit` moved r10 (with the gapped stack; nothing
/// otherwise). With fixed frames r10 moved by exactly the bump, so `frame_top = r10 / 2 +
/// frame_host` moves by half of it (r10 stays far below 2^63, and the bump of gapped frames
/// is even): one `add` to memory instead of deriving it from r10 again. (The module doc says
/// why r10 moved by the bump.)
fn frame_top_move(a: &mut Assembler, p: &Program, direction: Direction) -> Lowered {
    let Some(frame) = p.frame else {
        return Ok(());
    };
    // With fixed frames r10 moves by the bump, so the frame's host address moves by the
    // bump (contiguous frames) or half of it (gapped frames, whose host stack has no gaps).
    let step = match (p.frames, frame.gaps) {
        (FrameMode::Fixed { bump }, Gaps::On) if bump % 2 == 0 => Some(bump / 2),
        (FrameMode::Fixed { bump }, Gaps::Off) => Some(bump),
        (FrameMode::Fixed { .. } | FrameMode::Dynamic | FrameMode::Manual, _) => None,
    };
    match step {
        Some(step) => {
            let delta = match direction {
                Direction::Down => step,
                Direction::Up => step.wrapping_neg(),
            };
            add_to(a, env(FRAME_TOP), delta)
        }
        None => frame_top_update(a, frame.gaps),
    }
}

/// `add reg, value` for any 64-bit value (rax is clobbered for a large one).
fn add_reg(a: &mut Assembler, reg: Gpr, value: u64) -> Lowered {
    match i32::try_from(value as i64) {
        Ok(imm) => a.alu(AluKind::Add, Size::S64, RegMem::Reg(reg), Operand::Imm(imm))?,
        Err(_) => {
            a.mov_imm64(Gpr::Rax, value);
            a.alu(
                AluKind::Add,
                Size::S64,
                RegMem::Reg(reg),
                Operand::Reg(Gpr::Rax),
            )?;
        }
    }
    Ok(())
}

/// `add qword [mem], value` for any 64-bit value (rax is clobbered for a large one).
pub(super) fn add_to(a: &mut Assembler, mem: Mem, value: u64) -> Lowered {
    match i32::try_from(value as i64) {
        Ok(imm) => a.alu(AluKind::Add, Size::S64, RegMem::Mem(mem), Operand::Imm(imm))?,
        Err(_) => {
            a.mov_imm64(Gpr::Rax, value);
            a.alu(
                AluKind::Add,
                Size::S64,
                RegMem::Mem(mem),
                Operand::Reg(Gpr::Rax),
            )?;
        }
    }
    Ok(())
}
