//! Versioned loops (see [`super::hoist`] for what is hoisted and why it is exact): the guard
//! emitted where execution falls into a loop's head, and the second copy of the loop,
//! emitted after the body, whose hoisted accesses have no check.
//!
//! ```text
//!     ; for each group: its span base + lo .. base + lo + len inside one table row
//!     ; (lo and len, which come from the program's immediates, are blinded like any
//!     ; immediate when hardening asks for it: an immediate, then an add of a key)
//!     lea rax, [base + lo]
//!     mov rcx, rax
//!     shr rcx, 32                       ; the row
//!     cmp rcx, ROWS
//!     jae ordinary
//!     add rax, len                      ; the span's end
//!     cmp rax, [r15 + rcx * 8 + LIMIT]  ; the row's load or store limit (0: no inline row)
//!     ja ordinary
//!     mov rax, [r15 + rcx * 8 + DELTA]
//!     mov [r15 + HOISTED + 8 * group], rax
//!     jmp copy                          ; every group passed
//! ordinary:
//!     ...the loop as usual...
//! copy:
//!     ...the loop again, a hoisted access being `mov rax, [r15 + HOISTED + 8 * group]`
//!     and the access at [rax + base + off]; jumps to the loop's own slots stay in the
//!     copy, every other jump goes to the ordinary code...
//!     jmp after_loop
//! ```
//!
//! The table's limits never pass their row's 4 GiB (`run::fill_rows`), so a span inside a
//! row holds only addresses of that row: each access of the group would have hit the inline
//! table check, with this host address.

use super::hints::BaseHint;
use super::hoist::{Plan, MAX_BODY};
use super::lower::Program;
use super::masm::RunPosition;
use super::masm::{delta_field, env, guest, limit_field, Masm, ROWS_IMM};
use super::view::CodeView;
use super::{JitError, VersionedLoop};
use crate::jit::env::HOISTED;
use bpfvm_x86::{AluKind, Cond, Gpr, Mem, Operand, RegMem, Rel32, ShiftAmount, ShiftKind, Size};

/// A loop whose guard is emitted and whose copy waits for the end of the body.
pub(crate) struct Version {
    pub plan: Plan,
    /// The guard's jump to the copy.
    pub jump: Rel32,
    /// The guesses of the body's slots (the hints scan runs once, in slot order).
    pub hints: [BaseHint; MAX_BODY],
}

/// Emits the guard of `plan` (at the end of the code before the loop's head) and returns
/// the loop waiting for its copy.
pub(crate) fn guard(m: &mut Masm, plan: Plan) -> Result<Version, JitError> {
    let mut misses = Vec::with_capacity(2 * plan.groups.len());
    for (index, group) in plan.groups.iter().enumerate() {
        let base = guest(group.base);
        let rax = RegMem::Reg(Gpr::Rax);
        let rcx = RegMem::Reg(Gpr::Rcx);
        let (lo, lo_key) = blinded_parts(m, group.lo);
        m.asm.lea(Size::S64, Gpr::Rax, Mem::base_disp(base, lo))?;
        if let Some(key) = lo_key {
            m.asm.alu(AluKind::Add, Size::S64, rax, Operand::Imm(key))?;
        }
        m.asm.mov(Size::S64, Gpr::Rcx, Gpr::Rax);
        m.asm
            .shift(ShiftKind::Shr, Size::S64, rcx, ShiftAmount::Imm(32))?;
        m.asm.cmp(Size::S64, rcx, Operand::Imm(ROWS_IMM))?;
        misses.push(m.asm.jcc_pending(Cond::Ae));
        let (len, len_key) = blinded_parts(m, group.len);
        m.asm.alu(AluKind::Add, Size::S64, rax, Operand::Imm(len))?;
        if let Some(key) = len_key {
            m.asm.alu(AluKind::Add, Size::S64, rax, Operand::Imm(key))?;
        }
        let limit = limit_field(Gpr::Rcx, group.access);
        m.asm.cmp(Size::S64, rax, Operand::Mem(limit))?;
        misses.push(m.asm.jcc_pending(Cond::A));
        m.asm.load(Size::S64, Gpr::Rax, delta_field(Gpr::Rcx))?;
        let slot = HOISTED + 8 * i32::try_from(index).unwrap_or(0);
        m.asm.store(Size::S64, env(slot), Gpr::Rax)?;
    }
    let jump = m.asm.jmp_pending();
    let ordinary = m.asm.offset();
    for miss in misses {
        m.asm.patch_rel32(miss, ordinary)?;
    }
    Ok(Version {
        plan,
        jump,
        hints: [BaseHint::Unknown; MAX_BODY],
    })
}

/// Records the guess for slot `pc` of the newest loop waiting for its copy.
#[inline(never)]
pub(crate) fn record_hint(versions: &mut [Version], pc: usize, hint: BaseHint) {
    if let Some(version) = versions.last_mut() {
        let index = pc.wrapping_sub(version.plan.head);
        if let Some(slot) = version.hints.get_mut(index) {
            *slot = hint;
        }
    }
}

/// `value` as an immediate and, when constant blinding applies to it
/// (`sanitize_user_provided_values`; the span comes from the program's immediates), a key
/// to add after it: `value - key` and `key`, neither of them `value`. The key is random
/// below 2^30 in size, with `value`'s sign, so both fit 32 bits and their sign-extended sum
/// is `value` exactly.
fn blinded_parts(m: &mut Masm, value: i32) -> (i32, Option<i32>) {
    let Some(key) = m.blinding_key(value as i64 as u64) else {
        return (value, None);
    };
    let key = (key & 0x3fff_ffff) | 1;
    let key = if value < 0 { -key } else { key };
    (value - key, Some(key))
}

/// Emits the second copy of `version`'s loop (after the body, where execution cannot fall
/// through), points the guard's jump at it and says where it went.
pub(crate) fn copy(
    m: &mut Masm,
    code: &CodeView<'_>,
    program: &Program,
    version: Version,
) -> Result<VersionedLoop, JitError> {
    let Version { plan, jump, hints } = version;
    let (head, latch) = (plan.head, plan.latch);
    let mark = m.begin_copy(plan);
    let mut position = RunPosition::Start;
    let mut pc = head;
    let mut last = None;
    while pc <= latch {
        let Some(op) = code.ops().get(pc) else { break };
        let hint = hints.get(pc - head).copied().unwrap_or(BaseHint::Unknown);
        let starts = match pc == head {
            true => super::LoopHead::Yes,
            false => super::LoopHead::No,
        };
        position = super::emit_slot(m, code, program, op, pc, position, starts, hint)?;
        last = Some(op);
        pc += op.width();
    }
    if last.is_some_and(super::falls_through) {
        m.jump_to_slot(None, latch + 1)?;
    }
    let end = m.asm.offset();
    m.emit_pending()?;
    let start = m.entry_offset(head).ok_or_else(|| JitError::Encode {
        message: format!("the copy of the loop at {head} has no entry"),
    })? as usize;
    m.asm.patch_rel32(jump, start)?;
    m.end_copy(mark)?;
    Ok(VersionedLoop {
        head,
        latch,
        code: start..end,
    })
}
