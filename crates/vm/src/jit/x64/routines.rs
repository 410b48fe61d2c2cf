//! The shared out-of-line routines: the exits and the bail-out by site (right after the
//! prologue), and, emitted when first needed ([`emit_pending`]), the translation of a
//! memory access that missed the inline table (per access kind and size) and the syscall
//! shim call.
//!
//! [`Routine`] names them. None of them has per-pc state: a fault or a bail-out reads its
//! site's return address from the host stack and leaves the rest to the program's site
//! table.

use super::labels::Routine;
use super::masm::Masm;
use super::regs::{
    delta_field, env, load_meter, row, save_meter, EXIT_KIND, EXIT_PC, GAP_LOAD_LEN, GAP_SHIFT,
    GAP_STORE_LEN, GUEST, HOST_ADDR, HOST_STACK, REGS, SAVED, VM_ADDR,
};
use super::sequences::{
    derived_r10, derived_r10_fixup, end_compare, frame_top_update, host_records_copy, slot_compare,
    table_compare,
};
use crate::jit::access::{Access, SpanRule};
use crate::jit::env::ExitKind;
use crate::jit::masm::Translation;
use crate::jit::run::{REQUEST_EVERY_BYTE, REQUEST_STORE};
use crate::jit::JitError;
use crate::memory::GappedFrames;
use bpfvm_x86::{
    AluKind, Assembler, Cond, Gpr, Label, Mem, Operand, RegMem, ShiftAmount, ShiftKind, Size,
};

/// Emits the exits and the bail-out routine, which every program needs, right after the
/// prologue.
pub(super) fn emit_exits(m: &mut Masm) -> Result<(), JitError> {
    m.start_routine(Routine::ExitStub);
    save_meter(&mut m.asm)?;
    if m.program.inline_calls() {
        host_records_copy(&mut m.asm, &m.program)?;
    }
    if let Some(bump) = derived_r10(&m.program) {
        derived_r10_fixup(&mut m.asm, bump)?;
    }
    for (index, reg) in GUEST.iter().enumerate() {
        m.asm.store(Size::S64, env(REGS + 8 * index as i32), *reg)?;
    }
    m.asm.load(Size::S64, Gpr::Rsp, env(HOST_STACK))?;
    for reg in SAVED.iter().rev() {
        m.asm.pop(*reg);
    }
    m.asm.ret();
    m.start_routine(Routine::RootExit);
    root_exit(m)?;
    m.start_routine(Routine::BailSite);
    m.asm.load(Size::S64, Gpr::Rax, Mem::base(Gpr::Rsp))?;
    m.asm.store(Size::S64, env(EXIT_PC), Gpr::Rax)?;
    exit_with(m, ExitKind::Site)
}

/// Emits the waiting out-of-line stubs and the pending routines here, where execution
/// cannot fall through (after an unconditional jump, an `exit`, a bail-out, or the body).
pub(super) fn emit_pending(m: &mut Masm) -> Result<(), JitError> {
    m.emit_stubs()?;
    while let Some(routine) = m.next_pending_routine()? {
        m.start_routine(routine);
        emit_routine(m, routine)?;
    }
    Ok(())
}

/// Emits `routine` here (execution cannot fall through into it; see [`emit_pending`]).
fn emit_routine(m: &mut Masm, routine: Routine) -> Result<(), JitError> {
    match routine {
        Routine::Access(access, log) => {
            access_routine(m, access, 1 << log.min(3), SpanRule::FirstByte)
        }
        Routine::Span(access, log) => {
            access_routine(m, access, 1 << log.min(3), SpanRule::EveryByte)
        }
        Routine::Syscall => {
            let helper = m.syscall_helper;
            save_meter(&mut m.asm)?;
            m.call_rust(helper, Gpr::Rcx, Gpr::Rax)?;
            m.asm
                .test(Size::S64, RegMem::Reg(Gpr::Rax), Operand::Reg(Gpr::Rax))?;
            m.jump_routine(Some(Cond::Ne), Routine::ExitStub)?;
            if let Some(frame) = m.program.frame {
                // The syscall may have replaced the stack (the shim checked the new one).
                frame_top_update(&mut m.asm, frame.gaps)?;
            }
            m.asm.ret();
            Ok(())
        }
        Routine::BailSite | Routine::RootExit | Routine::ExitStub => Err(JitError::Internal {
            message: format!("routine {routine:?} is not emitted on demand"),
        }),
    }
}

/// The root `exit`, on its own path rather than through the exit stub: the host stack is
/// where the prologue left it (`exit_sequence` jumps here only then), so no frame record is
/// in use and none is copied, and of the guest state only r0 (the result) and the meter
/// are read after an `Exit` (`run::execute`; the hand-over, which reads the rest, follows
/// only a bail-out).
///
/// ```text
///     mov qword [r15 + EXIT_KIND], Exit
///     mov [r15 + LEFT], rdx
///     mov [r15 + REGS], r0
///     mov rsp, [r15 + HOST_STACK]
///     pop r15 ... rbx
///     ret
/// ```
fn root_exit(m: &mut Masm) -> Result<(), JitError> {
    m.asm
        .store_imm(Size::S64, env(EXIT_KIND), ExitKind::Exit as i32)?;
    save_meter(&mut m.asm)?;
    m.asm.store(Size::S64, env(REGS), GUEST[0])?;
    m.asm.load(Size::S64, Gpr::Rsp, env(HOST_STACK))?;
    for reg in SAVED.iter().rev() {
        m.asm.pop(*reg);
    }
    m.asm.ret();
    Ok(())
}

fn exit_with(m: &mut Masm, kind: ExitKind) -> Result<(), JitError> {
    m.asm.store_imm(Size::S64, env(EXIT_KIND), kind as i32)?;
    m.jump_routine(None, Routine::ExitStub)?;
    Ok(())
}

/// A miss of a `size`-byte `access` (vaddr in rax): the gapped-stack path when the stack has
/// gaps, else the mapping through the `extern "sysv64"` shim. Returns the host address in rax
/// and 0 in rcx (the meter in rdx, which the paths use meanwhile); a fault bails out at the
/// caller's site.
fn access_routine(m: &mut Masm, access: Access, size: u8, rule: SpanRule) -> Result<(), JitError> {
    // The paths below use rdx; every way out reloads the meter.
    save_meter(&mut m.asm)?;
    let slow = m.asm.new_label();
    // The generic gapped path knows only the first-byte rule; spans take the shim.
    let gapped = match (m.program.translation, m.program.gap_shift, rule) {
        (Translation::InlineTable, Some(shift), SpanRule::FirstByte) if shift < 31 => Some(shift),
        (
            Translation::InlineTable | Translation::Call,
            _,
            SpanRule::FirstByte | SpanRule::EveryByte,
        ) => None,
    };
    if let Some(frames) = m.program.stack {
        let row = m.program.stack_row;
        stack_path(m, access, size, frames, row, rule)?;
    }
    if m.program.translation == Translation::InlineTable {
        table_path(m, access, size)?;
    }
    if let Some(shift) = gapped {
        gapped_path(m, access, size, shift, slow)?;
    }
    m.asm.bind(slow)?;
    let request = u64::from(size)
        | match access {
            Access::Load => 0,
            Access::Store => REQUEST_STORE,
        }
        | match rule {
            SpanRule::FirstByte => 0,
            SpanRule::EveryByte => REQUEST_EVERY_BYTE,
        };
    // The vaddr (in rax) is the first argument, the request the second.
    m.asm.mov_imm64(Gpr::Rcx, request);
    let helper = m.translate_helper;
    m.call_rust(helper, Gpr::Rax, Gpr::Rcx)?;
    m.asm
        .test(Size::S64, RegMem::Reg(Gpr::Rax), Operand::Reg(Gpr::Rax))?;
    m.jump_routine(Some(Cond::E), Routine::BailSite)?;
    return_hit(&mut m.asm)
}

/// How far a jump of [`gap_offset`] must reach.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Within a short (8-bit) displacement.
    Short,
    /// Anywhere (32-bit displacement).
    Near,
}

/// The start of every gapped translation (region §5.2), vaddr in rax: rcx = vaddr minus the
/// region's guest address `vm_addr`, then to `miss` (rax unchanged) when that borrows (below
/// the region) or when the offset's `gap` bit is set (the first byte in a gap; `gap` is the
/// frame size, a power of two below 2^31).
fn gap_offset(
    a: &mut Assembler,
    vm_addr: Operand,
    gap: i32,
    miss: Label,
    reach: Reach,
) -> Result<(), JitError> {
    let jump = |a: &mut Assembler, cond| match reach {
        Reach::Short => a.jcc_short(cond, miss),
        Reach::Near => a.jcc(cond, miss),
    };
    a.mov(Size::S64, Gpr::Rcx, Gpr::Rax);
    a.alu(AluKind::Sub, Size::S64, RegMem::Reg(Gpr::Rcx), vm_addr)?;
    jump(a, Cond::B)?;
    a.test(Size::S32, RegMem::Reg(Gpr::Rcx), Operand::Imm(gap))?;
    jump(a, Cond::Ne)?;
    Ok(())
}

/// The gapped stack of `layout` first (the table never holds it, and most misses are
/// stack accesses through registers other than r10): [`stack_translation`], returning on a
/// hit, else going on with rax unchanged.
fn stack_path(
    m: &mut Masm,
    access: Access,
    size: u8,
    frames: GappedFrames,
    row: usize,
    rule: SpanRule,
) -> Result<(), JitError> {
    let next = m.asm.new_label();
    let stack = StackRow { frames, row };
    stack_translation(&mut m.asm, access, size, stack, rule, next)?;
    return_hit(&mut m.asm)?;
    m.asm.bind(next)?;
    Ok(())
}

/// The gapped stack of [`GappedFrames`] in region-table row `row`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StackRow {
    pub frames: GappedFrames,
    pub row: usize,
}

/// The gapped-stack translation (region §5.2 for the stack's row, the frame size F known
/// from `stack`; every run checks that the stack's row holds that stack, see memory's
/// `table::frame_host`), vaddr in rax, host address in rax after it; anything else jumps to
/// `miss` (short) with rax unchanged:
///
/// ```text
///     mov rcx, rax
///     sub rcx, [stack vm_addr]      ; the offset o into the stack
///     jb miss
///     test ecx, F                   ; the first byte in a gap
///     jnz miss
///     (for a span: lea rdx, [rcx + size - 1]; test edx, F; jnz miss: the last byte)
///     mov edx, ecx
///     and edx, F - 1
///     add rcx, rdx
///     shr rcx, 1                    ; host offset (o + (o & (F-1))) / 2
///     lea rdx, [rcx + size]
///     cmp rdx, [stack load or store length]
///     ja miss
///     add rcx, [stack host_addr]
///     mov rax, rcx
/// ```
pub(crate) fn stack_translation(
    a: &mut Assembler,
    access: Access,
    size: u8,
    stack: StackRow,
    rule: SpanRule,
    miss: Label,
) -> Result<(), JitError> {
    let frame = i32::try_from(stack.frames.frame).map_err(|_| JitError::Internal {
        message: format!("frame size {} in the stack check", stack.frames.frame),
    })?;
    let slot = i32::try_from(stack.row).map_err(|_| JitError::Internal {
        message: format!("stack row {} in the stack check", stack.row),
    })?;
    let row = |field: i32| Operand::Mem(env(field + 8 * slot));
    let reg = RegMem::Reg;
    gap_offset(a, row(VM_ADDR), frame, miss, Reach::Short)?;
    if rule == SpanRule::EveryByte {
        // The last byte in the gap too: `test edx, F` on `o + size - 1`.
        a.lea(
            Size::S64,
            Gpr::Rdx,
            Mem::base_disp(Gpr::Rcx, i32::from(size) - 1),
        )?;
        a.test(Size::S32, reg(Gpr::Rdx), Operand::Imm(frame))?;
        a.jcc_short(Cond::Ne, miss)?;
    }
    a.mov(Size::S32, Gpr::Rdx, Gpr::Rcx);
    a.alu(
        AluKind::And,
        Size::S32,
        reg(Gpr::Rdx),
        Operand::Imm(frame - 1),
    )?;
    a.alu(
        AluKind::Add,
        Size::S64,
        reg(Gpr::Rcx),
        Operand::Reg(Gpr::Rdx),
    )?;
    a.shift(
        ShiftKind::Shr,
        Size::S64,
        reg(Gpr::Rcx),
        ShiftAmount::Imm(1),
    )?;
    a.lea(
        Size::S64,
        Gpr::Rdx,
        Mem::base_disp(Gpr::Rcx, i32::from(size)),
    )?;
    let len = match access {
        Access::Load => GAP_LOAD_LEN,
        Access::Store => GAP_STORE_LEN,
    };
    a.alu(AluKind::Cmp, Size::S64, reg(Gpr::Rdx), row(len))?;
    a.jcc_short(Cond::A, miss)?;
    a.alu(AluKind::Add, Size::S64, reg(Gpr::Rcx), row(HOST_ADDR))?;
    a.mov(Size::S64, Gpr::Rax, Gpr::Rcx);
    Ok(())
}

/// The inline table check again (the inline gapped-stack check calls the routine for
/// addresses outside the stack): returns on a hit, else goes on with rax unchanged.
fn table_path(m: &mut Masm, access: Access, size: u8) -> Result<(), JitError> {
    let next = m.asm.new_label();
    table_compare(&mut m.asm, size, access, next)?;
    m.asm.jcc_short(Cond::A, next)?;
    m.asm.alu(
        AluKind::Add,
        Size::S64,
        RegMem::Reg(Gpr::Rax),
        Operand::Mem(delta_field(Gpr::Rdx)),
    )?;
    return_hit(&mut m.asm)?;
    m.asm.bind(next)?;
    Ok(())
}

/// The end of a miss routine that found the host address (in rax): 0 in rcx (the row
/// whose delta is 0, which the inline check adds next), the meter back in rdx, and `ret`.
fn return_hit(a: &mut Assembler) -> Result<(), JitError> {
    a.alu(
        AluKind::Xor,
        Size::S32,
        RegMem::Reg(Gpr::Rcx),
        Operand::Reg(Gpr::Rcx),
    )?;
    load_meter(a)?;
    a.ret();
    Ok(())
}

/// The gapped-stack translation (region §5.2 with the gap size of this configuration) for
/// rows whose gap shift is `shift`; anything unusual (another gap size, the access starting
/// in a gap or below the region, past the end) goes to `slow` with rax unchanged.
fn gapped_path(
    m: &mut Masm,
    access: Access,
    size: u8,
    shift: u8,
    slow: bpfvm_x86::Label,
) -> Result<(), JitError> {
    let a = &mut m.asm;
    let restore = a.new_label();
    let len_field = match access {
        Access::Load => GAP_LOAD_LEN,
        Access::Store => GAP_STORE_LEN,
    };
    let reg = |reg| RegMem::Reg(reg);
    slot_compare(a)?;
    a.jcc(Cond::Ae, slow)?;
    a.cmp(
        Size::S64,
        RegMem::Mem(row(GAP_SHIFT)),
        Operand::Imm(i32::from(shift)),
    )?;
    a.jcc(Cond::Ne, slow)?;
    gap_offset(a, Operand::Mem(row(VM_ADDR)), 1 << shift, slow, Reach::Near)?;
    // rax = ((offset >> (shift + 1)) << shift) | (offset & low). The vaddr is saved meanwhile
    // in the red zone below rsp (this path is a leaf; the System V ABI, which Linux signal
    // delivery honours, leaves the 128 bytes below rsp to it).
    a.store(Size::S64, Mem::base_disp(Gpr::Rsp, -8), Gpr::Rax)?;
    a.mov(Size::S64, Gpr::Rax, Gpr::Rcx);
    a.alu(
        AluKind::And,
        Size::S64,
        reg(Gpr::Rax),
        Operand::Imm((1i32 << shift) - 1),
    )?;
    a.shift(
        ShiftKind::Shr,
        Size::S64,
        reg(Gpr::Rcx),
        ShiftAmount::Imm(shift + 1),
    )?;
    a.shift(
        ShiftKind::Shl,
        Size::S64,
        reg(Gpr::Rcx),
        ShiftAmount::Imm(shift),
    )?;
    a.alu(
        AluKind::Or,
        Size::S64,
        reg(Gpr::Rax),
        Operand::Reg(Gpr::Rcx),
    )?;
    end_compare(a, size, row(len_field))?;
    a.jcc(Cond::A, restore)?;
    a.alu(
        AluKind::Add,
        Size::S64,
        reg(Gpr::Rax),
        Operand::Mem(row(HOST_ADDR)),
    )?;
    return_hit(a)?;
    a.bind(restore)?;
    a.load(Size::S64, Gpr::Rax, Mem::base_disp(Gpr::Rsp, -8))?;
    a.jmp(slow)?;
    Ok(())
}
