//! Versioned loops on x86-64 (see `jit::hoist` for what is hoisted and why it is exact, and
//! the driver for when): the guard emitted where execution falls into a loop's head; the
//! second copy of the loop, emitted after the body, has hoisted accesses with no check (its
//! slot bookkeeping is `copy`, its accesses `translate`).
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
//! The table's limits never pass their row's 4 GiB (memory's `table`), so a span inside a
//! row holds only addresses of that row: each access of the group would have hit the inline
//! table check, with this host address.

use super::masm::Masm;
use super::regs::{delta_field, env, guest, limit_field, HOISTED, ROWS_IMM};
use crate::jit::hoist::Plan;
use crate::jit::JitError;
use bpfvm_x86::{AluKind, Cond, Gpr, Mem, Operand, RegMem, Rel32, ShiftAmount, ShiftKind, Size};

/// A versioned loop's guard, waiting for the loop's second copy.
pub(crate) struct Guard {
    /// The guard's jump to the copy.
    pub jump: Rel32,
}

/// Emits the guard of `plan` (at the end of the code before the loop's head) and returns
/// its jump to the copy, which waits for the end of the body.
pub(crate) fn guard(m: &mut Masm, plan: &Plan) -> Result<Guard, JitError> {
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
        let index = i32::try_from(index).map_err(|_| JitError::Internal {
            message: format!("hoisted group {index}"),
        })?;
        let slot = HOISTED + 8 * index;
        m.asm.store(Size::S64, env(slot), Gpr::Rax)?;
    }
    let jump = m.asm.jmp_pending();
    let ordinary = m.asm.offset();
    for miss in misses {
        m.asm.patch_rel32(miss, ordinary)?;
    }
    Ok(Guard { jump })
}

/// `value` as an immediate and, when constant blinding applies to it
/// (`sanitize_user_provided_values`; the span comes from the program's immediates), a key
/// to add after it: `value - key` and `key`, neither of them `value`. The key is random
/// below 2^30 in size, with `value`'s sign, so both fit 32 bits and their sign-extended sum
/// is `value` exactly.
fn blinded_parts(m: &mut Masm, value: i32) -> (i32, Option<i32>) {
    let Some(key) = m.hardening.blinding_key(value as i64 as u64) else {
        return (value, None);
    };
    let key = (key & 0x3fff_ffff) | 1;
    let key = if value < 0 { -key } else { key };
    (value - key, Some(key))
}
