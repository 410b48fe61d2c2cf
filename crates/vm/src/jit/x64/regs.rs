//! The x86-64 register map and how generated code addresses the run's `Env`.
//!
//! | guest | host | | guest | host |
//! |---|---|---|---|---|
//! | r0 | rsi | | r6 | rbx |
//! | r1 | rdi | | r7 | r12 |
//! | r2 | r8  | | r8 | r13 |
//! | r3 | r9  | | r9 | r14 |
//! | r4 | r10 | | r10 | rbp |
//! | r5 | r11 | | env | r15 |
//!
//! rax, rcx and rdx are scratch (division, shift counts, translation); while generated code
//! runs rdx holds the meter ([`METER`]). r0..r5 live in caller-saved registers, so every
//! call into Rust spills them to `Env::regs` first and reloads them after (a syscall's result
//! arrives in `Env::regs[0]` that way). r15 holds the `Env` address plus [`BIAS`], chosen so
//! that the region table and the meter's `left` take one-byte displacements.

use crate::code::GuestReg;
use crate::jit::access::Access;
use crate::jit::env::{offset, ROWS};
use crate::jit::JitError;
use bpfvm_x86::{Assembler, Gpr, Mem, Scale, Size};

/// The host register of guest register `reg` (the register map above).
pub(crate) const fn guest(reg: GuestReg) -> Gpr {
    match reg {
        GuestReg::R0 => Gpr::Rsi,
        GuestReg::R1 => Gpr::Rdi,
        GuestReg::R2 => Gpr::R8,
        GuestReg::R3 => Gpr::R9,
        GuestReg::R4 => Gpr::R10,
        GuestReg::R5 => Gpr::R11,
        GuestReg::R6 => Gpr::Rbx,
        GuestReg::R7 => Gpr::R12,
        GuestReg::R8 => Gpr::R13,
        GuestReg::R9 => Gpr::R14,
        GuestReg::R10 => Gpr::Rbp,
    }
}

/// The host register of each guest register r0..r10, in order.
pub(crate) const GUEST: [Gpr; 11] = {
    let mut regs = [Gpr::Rax; 11];
    let mut index = 0;
    while index < regs.len() {
        regs[index] = guest(GuestReg::ALL[index]);
        index += 1;
    }
    regs
};

/// The register holding the `Env` pointer (plus [`BIAS`]).
pub(crate) const ENV: Gpr = Gpr::R15;

/// The register holding the meter (`Env::left`) while generated code runs. The entry
/// loads it; the exit stub and the root exit store it back, and so does everything that
/// calls into Rust or clobbers it (a call into Rust, a division, a miss routine), reloading
/// it after. Every path into the exit stub arrives with the meter in it.
pub(crate) const METER: Gpr = Gpr::Rdx;

/// Callee-saved registers the entry sequence saves, in push order.
pub(crate) const SAVED: [Gpr; 6] = [Gpr::Rbx, Gpr::Rbp, Gpr::R12, Gpr::R13, Gpr::R14, Gpr::R15];

/// Guest registers that a call into Rust may clobber (r0..r5).
pub(crate) const CALLER_SAVED_GUESTS: usize = 6;

/// What r15 holds minus the `Env` address.
pub(crate) const BIAS: i32 = 128;

/// The displacement from r15 of the `Env` field at `offset`.
const fn disp(offset: usize) -> i32 {
    offset as i32 - BIAS
}

/// `[r15 + DELTA + slot * 8]`.
pub(crate) const DELTA: i32 = disp(offset::DELTA);
/// `[r15 + LOAD_LIMIT + slot * 8]`.
pub(crate) const LOAD_LIMIT: i32 = disp(offset::LOAD_LIMIT);
/// `[r15 + STORE_LIMIT + slot * 8]`.
pub(crate) const STORE_LIMIT: i32 = disp(offset::STORE_LIMIT);
/// `[r15 + REGS + 8 * i]` is guest register i.
pub(crate) const REGS: i32 = disp(offset::REGS);
/// `Env::left`.
pub(crate) const LEFT: i32 = disp(offset::LEFT);
/// `Env::frame_host`.
pub(crate) const FRAME_HOST: i32 = disp(offset::FRAME_HOST);
/// `Env::frame_top`.
pub(crate) const FRAME_TOP: i32 = disp(offset::FRAME_TOP);
/// The input row's guest address.
pub(crate) const INPUT_VM: i32 = disp(offset::INPUT_VM);
/// The input row's host address.
pub(crate) const INPUT_HOST: i32 = disp(offset::INPUT_HOST);
/// `[r15 + INPUT_LIMIT + 8 * (kind * 4 + log)]`.
pub(crate) const INPUT_LIMIT: i32 = disp(offset::INPUT_LIMIT);
/// `[r15 + HOISTED + 8 * group]`.
pub(crate) const HOISTED: i32 = disp(offset::HOISTED);
/// `Env::callx_target`.
pub(crate) const CALLX_TARGET: i32 = disp(offset::CALLX_TARGET);
/// `Env::callx_table`.
pub(crate) const CALLX_TABLE: i32 = disp(offset::CALLX_TABLE);
/// `Env::frame_cursor`.
pub(crate) const FRAME_CURSOR: i32 = disp(offset::FRAME_CURSOR);
/// `Env::frame_limit`.
pub(crate) const FRAME_LIMIT: i32 = disp(offset::FRAME_LIMIT);
/// `Env::stack_pointer`.
pub(crate) const STACK_POINTER: i32 = disp(offset::STACK_POINTER);
/// `Env::frames`.
pub(crate) const FRAMES: i32 = disp(offset::FRAMES);
/// `Env::host_stack`.
pub(crate) const HOST_STACK: i32 = disp(offset::HOST_STACK);
/// `Env::frame_floor`.
pub(crate) const FRAME_FLOOR: i32 = disp(offset::FRAME_FLOOR);
/// `Env::exit_kind`.
pub(crate) const EXIT_KIND: i32 = disp(offset::EXIT_KIND);
/// `Env::exit_pc`.
pub(crate) const EXIT_PC: i32 = disp(offset::EXIT_PC);
/// `[r15 + VM_ADDR + slot * 8]`.
pub(crate) const VM_ADDR: i32 = disp(offset::VM_ADDR);
/// `[r15 + HOST_ADDR + slot * 8]`.
pub(crate) const HOST_ADDR: i32 = disp(offset::HOST_ADDR);
/// `[r15 + GAP_SHIFT + slot * 8]`.
pub(crate) const GAP_SHIFT: i32 = disp(offset::GAP_SHIFT);
/// `[r15 + GAP_LOAD_LEN + slot * 8]`.
pub(crate) const GAP_LOAD_LEN: i32 = disp(offset::GAP_LOAD_LEN);
/// `[r15 + GAP_STORE_LEN + slot * 8]`.
pub(crate) const GAP_STORE_LEN: i32 = disp(offset::GAP_STORE_LEN);

/// r6..r9 in a frame record.
pub(crate) const FRAME_SAVED: i32 = offset::FRAME_SAVED as i32;
/// The caller's r10 in a frame record.
pub(crate) const FRAME_POINTER: i32 = offset::FRAME_POINTER as i32;
/// The return pc in a frame record.
pub(crate) const FRAME_RETURN_PC: i32 = offset::FRAME_RETURN_PC as i32;
/// The size of a frame record, the step of `Env::frame_cursor`.
pub(crate) const FRAME_RECORD: i32 = core::mem::size_of::<crate::jit::env::FrameRecord>() as i32;

/// The number of table rows as an immediate.
pub(crate) const ROWS_IMM: i32 = ROWS as i32;

/// The `Env` field at displacement `offset` from r15.
pub(crate) fn env(offset: i32) -> Mem {
    Mem::base_disp(ENV, offset)
}

/// `[r15 + rdx * 8 + offset]`: the region-table row of the slot in rdx (in the miss
/// routines, which save the meter first).
pub(crate) fn row(offset: i32) -> Mem {
    row_at(Gpr::Rdx, offset)
}

/// `[r15 + index * 8 + offset]`: the region-table row of the slot in `index`.
pub(crate) fn row_at(index: Gpr, offset: i32) -> Mem {
    Mem::indexed(ENV, index, Scale::Eight, offset)
}

/// `[r15 + index * 8 + field]`: the limit of `access` in the row of the slot in `index`.
pub(crate) fn limit_field(index: Gpr, access: Access) -> Mem {
    row_at(
        index,
        match access {
            Access::Load => LOAD_LIMIT,
            Access::Store => STORE_LIMIT,
        },
    )
}

/// `[r15 + index * 8 + DELTA]`.
pub(crate) fn delta_field(index: Gpr) -> Mem {
    row_at(index, DELTA)
}

/// The `Env::regs` slot of guest register `index`.
pub(crate) fn reg_slot(index: usize) -> Mem {
    env(REGS + 8 * index as i32)
}

/// `mov [r15 + LEFT], rdx`: the meter back into the `Env`.
pub(crate) fn save_meter(a: &mut Assembler) -> Result<(), JitError> {
    a.store(Size::S64, env(LEFT), METER)?;
    Ok(())
}

/// `mov rdx, [r15 + LEFT]`: the meter from the `Env`.
pub(crate) fn load_meter(a: &mut Assembler) -> Result<(), JitError> {
    a.load(Size::S64, METER, env(LEFT))?;
    Ok(())
}

/// A pc as an immediate; the compiler rejects programs too large for that up front.
pub(crate) fn imm_pc(pc: usize) -> i32 {
    i32::try_from(pc).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jit::env::FrameRecord;

    #[test]
    fn the_env_layout_fits_the_encodings() {
        assert_eq!(core::mem::size_of::<FrameRecord>(), FRAME_RECORD as usize);
        assert_eq!(DELTA, -128);
        assert_eq!(LOAD_LIMIT, -64);
        assert_eq!(STORE_LIMIT, 0);
        assert_eq!(LEFT, 64);
        // The fast path's fields take one-byte displacements from r15.
        let fast = [
            DELTA,
            LOAD_LIMIT,
            STORE_LIMIT + 8 * (ROWS as i32 - 1),
            LEFT,
            FRAME_HOST,
            FRAME_TOP,
        ];
        for offset in fast {
            assert!(i8::try_from(offset).is_ok(), "{offset}");
        }
    }

    #[test]
    fn every_guest_register_has_its_own_host_register() {
        for (index, reg) in GuestReg::ALL.iter().enumerate() {
            assert_eq!(GUEST[index], guest(*reg));
            assert!(!matches!(
                guest(*reg),
                Gpr::Rax | Gpr::Rcx | Gpr::Rdx | Gpr::R15 | Gpr::Rsp
            ));
        }
        let mut sorted: Vec<_> = GUEST.iter().map(|reg| format!("{reg:?}")).collect();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), GUEST.len());
    }
}
