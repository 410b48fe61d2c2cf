//! The data generated code shares with Rust: the [`Env`] of one run, its call-frame records
//! and the region table (memory's rows, embedded: their meaning and rules are memory's, see
//! `memory::table`), all `#[repr(C)]` with their field offsets as constants.
//!
//! Generated code addresses every field at a fixed displacement from a register holding the
//! `Env`'s address (a backend may add a bias, as x64 does so that the hot fields take
//! one-byte displacements); the offsets come from `core::mem::offset_of!` ([`offset`]), so
//! the layout and the code cannot drift apart. The layout is target-neutral: what a field
//! means is the same for every backend.

pub(crate) use crate::memory::table::ROWS;

use crate::memory::table::{GapRows, InlineRows, InputRow};
use core::ffi::c_void;

/// One BPF-to-BPF call as generated code records it: what the interpreter's `Frame` holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FrameRecord {
    /// r6..r9 of the caller.
    pub saved: [u64; 4],
    /// r10 of the caller.
    pub frame_pointer: u64,
    /// The slot the matching `exit` returns to.
    pub return_pc: u64,
}

/// How generated code ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum ExitKind {
    /// The root `exit` (or the unwind helper): the result is r0.
    Exit = 0,
    /// A syscall failed; the error is in the host state.
    Error = 1,
    /// Hand the run to the interpreter at `exit_pc` (state as before that instruction).
    Bail = 2,
    /// Hand the run to the interpreter at the bail-out site whose return address is in
    /// `exit_pc` (the program's site table gives the pc and the meter refund).
    Site = 4,
}

impl ExitKind {
    /// The kind generated code stored, as a value.
    #[inline]
    pub fn from_raw(raw: u64) -> Option<ExitKind> {
        const EXIT: u64 = ExitKind::Exit as u64;
        const ERROR: u64 = ExitKind::Error as u64;
        const BAIL: u64 = ExitKind::Bail as u64;
        const SITE: u64 = ExitKind::Site as u64;
        match raw {
            EXIT => Some(ExitKind::Exit),
            ERROR => Some(ExitKind::Error),
            BAIL => Some(ExitKind::Bail),
            SITE => Some(ExitKind::Site),
            _ => None,
        }
    }
}

/// The state of one run shared with generated code.
///
/// The first fields are the aligned mapping's region table, struct-of-arrays, indexed by the region
/// slot (`vaddr >> 32`) as `[env + slot * 8 + FIELD]`, followed by the meter's `left`: the fields
/// the fast path reads are together at the start. The inline check of a `size`-byte access is
/// `vaddr + size <= limit` (and the host address `vaddr + delta`); a limit of 0 sends every access
/// of that row to the out-of-line path (slot 0, gapped regions, stores into read-only regions, a
/// region not starting at its slot's first address, the unaligned mapping).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Env {
    /// The region table's inline rows (memory's [`InlineRows`]; `delta` is 0 for slot 0,
    /// which the out-of-line path also relies on: it returns with the row index 0).
    pub inline: InlineRows,
    /// Metering on: `base - due`, the instructions that may still run before the check fails.
    /// While generated code runs the meter lives in a host register (rdx on x86-64); this
    /// field holds it whenever Rust may look (at entry, in calls into Rust, at the exit).
    pub left: u64,
    /// With the standard stack of fixed frames ([`CurrentFrame`](crate::memory::CurrentFrame)):
    /// the host address of an access `[r10 + off]` inside the current frame is
    /// `(r10 + 2 * off) / 2 + frame_host` with gaps (r10 = stack start + F + 2F * depth) and
    /// `r10 + off + frame_host` without (r10 = stack start + F + F * depth), so that is the
    /// frame's host bytes; see memory's `table::frame_host`.
    pub frame_host: u64,
    /// With the standard stack of fixed frames: `r10 / 2 + frame_host` with gaps,
    /// `r10 + frame_host` without, the host address of the current frame's top
    /// (`[r10 + off]` is host byte `frame_top + off`). Generated code
    /// sets it at entry, at every `call` and `exit` and after every syscall (the only places
    /// r10 or `frame_host` change), from r10 itself.
    pub frame_top: u64,
    /// The region table's input row (memory's [`InputRow`]), for accesses through registers
    /// that probably hold input addresses (`hints`).
    pub input: InputRow,
    /// The versioned loop running now (`hoist`): per hoisted group, the delta (host minus
    /// guest address) of the row its guard found the group's span in.
    pub hoisted: [u64; super::hoist::MAX_GROUPS],
    /// Guest r0..r10 whenever generated code is not running (entry, helper calls, exits
    /// other than the root `exit`, which stores only r0: the run reads nothing else of an
    /// `Exit`).
    pub regs: [u64; 11],
    /// `callx`: the code offset of the slot being called, while the frame is pushed.
    pub callx_target: u64,
    /// `callx`: per slot, the code offset where a call may land, or 0
    /// ([`super::JitProgram`]'s table; null when the program has no `callx`).
    pub callx_table: *const u32,
    /// The next free frame record when generated code has ended: the call depth is its
    /// distance from [`Env::frames`] in records. While generated code runs, the records of
    /// its calls live on the host stack (see `x64::sequences`); every exit but the root
    /// `exit` (no call in use, and the run reads no record of an `Exit`) copies them here.
    pub frame_cursor: *mut FrameRecord,
    /// The end of the records the exit may fill (`max_call_depth - 1` records above
    /// [`Env::frames`], never past the last record).
    pub frame_limit: *const FrameRecord,
    /// sBPF's r11. With fixed frames generated code leaves it alone: it equals r10 there
    /// (see `x64::sequences`), and the run reads it from r10 at a bail-out.
    pub stack_pointer: u64,
    /// The first frame record (the cursor at depth 0).
    pub frames: *mut FrameRecord,
    /// The host stack pointer at entry, restored by every exit.
    pub host_stack: u64,
    /// The host stack pointer at or below which a `call` bails out (the depth limit, set by
    /// the prologue: `host_stack` minus the bytes of `max_call_depth - 1` frame records).
    pub frame_floor: u64,
    /// An [`ExitKind`] as a number.
    pub exit_kind: u64,
    /// The pc of a bail-out, or a bail-out site's address.
    pub exit_pc: u64,
    /// The guest memory (`*mut MemoryMapping`).
    pub mapping: *mut c_void,
    /// The typed host state of the syscall shim (`*mut Host<C, B>`, see `run::Host`).
    pub host: *mut c_void,
    /// The region table's gapped rows (memory's [`GapRows`]), for the gapped path.
    pub gaps: GapRows,
}

/// The offsets of the `Env` fields and of the [`FrameRecord`] fields generated code reads,
/// from `offset_of!` (a backend adds its own bias; see `x64::regs`).
pub(crate) mod offset {
    use super::{Env, FrameRecord};
    use core::mem::offset_of;

    /// `[env + DELTA + slot * 8]`.
    pub(crate) const DELTA: usize = offset_of!(Env, inline.delta);
    /// `[env + LOAD_LIMIT + slot * 8]`.
    pub(crate) const LOAD_LIMIT: usize = offset_of!(Env, inline.load_limit);
    /// `[env + STORE_LIMIT + slot * 8]`.
    pub(crate) const STORE_LIMIT: usize = offset_of!(Env, inline.store_limit);
    /// `[env + REGS + 8 * i]` is guest register i.
    pub(crate) const REGS: usize = offset_of!(Env, regs);
    /// Offset of [`Env::left`].
    pub(crate) const LEFT: usize = offset_of!(Env, left);
    /// Offset of [`Env::frame_host`].
    pub(crate) const FRAME_HOST: usize = offset_of!(Env, frame_host);
    /// Offset of [`Env::frame_top`].
    pub(crate) const FRAME_TOP: usize = offset_of!(Env, frame_top);
    /// Offset of the input row's guest address.
    pub(crate) const INPUT_VM: usize = offset_of!(Env, input.vm);
    /// Offset of the input row's host address.
    pub(crate) const INPUT_HOST: usize = offset_of!(Env, input.host);
    /// `[env + INPUT_LIMIT + 8 * (kind * 4 + log)]`.
    pub(crate) const INPUT_LIMIT: usize = offset_of!(Env, input.limit);
    /// `[env + HOISTED + 8 * group]`.
    pub(crate) const HOISTED: usize = offset_of!(Env, hoisted);
    /// Offset of [`Env::callx_target`].
    pub(crate) const CALLX_TARGET: usize = offset_of!(Env, callx_target);
    /// Offset of [`Env::callx_table`].
    pub(crate) const CALLX_TABLE: usize = offset_of!(Env, callx_table);
    /// Offset of [`Env::frame_cursor`].
    pub(crate) const FRAME_CURSOR: usize = offset_of!(Env, frame_cursor);
    /// Offset of [`Env::frame_limit`].
    pub(crate) const FRAME_LIMIT: usize = offset_of!(Env, frame_limit);
    /// Offset of [`Env::stack_pointer`].
    pub(crate) const STACK_POINTER: usize = offset_of!(Env, stack_pointer);
    /// Offset of [`Env::frames`].
    pub(crate) const FRAMES: usize = offset_of!(Env, frames);
    /// Offset of [`Env::host_stack`].
    pub(crate) const HOST_STACK: usize = offset_of!(Env, host_stack);
    /// Offset of [`Env::frame_floor`].
    pub(crate) const FRAME_FLOOR: usize = offset_of!(Env, frame_floor);
    /// Offset of [`Env::exit_kind`].
    pub(crate) const EXIT_KIND: usize = offset_of!(Env, exit_kind);
    /// Offset of [`Env::exit_pc`].
    pub(crate) const EXIT_PC: usize = offset_of!(Env, exit_pc);
    /// `[env + VM_ADDR + slot * 8]`.
    pub(crate) const VM_ADDR: usize = offset_of!(Env, gaps.vm_addr);
    /// `[env + HOST_ADDR + slot * 8]`.
    pub(crate) const HOST_ADDR: usize = offset_of!(Env, gaps.host_addr);
    /// `[env + GAP_SHIFT + slot * 8]`.
    pub(crate) const GAP_SHIFT: usize = offset_of!(Env, gaps.gap_shift);
    /// `[env + GAP_LOAD_LEN + slot * 8]`.
    pub(crate) const GAP_LOAD_LEN: usize = offset_of!(Env, gaps.load_len);
    /// `[env + GAP_STORE_LEN + slot * 8]`.
    pub(crate) const GAP_STORE_LEN: usize = offset_of!(Env, gaps.store_len);
    /// Offsets inside a [`FrameRecord`].
    pub(crate) const FRAME_SAVED: usize = offset_of!(FrameRecord, saved);
    /// Offset of [`FrameRecord::frame_pointer`].
    pub(crate) const FRAME_POINTER: usize = offset_of!(FrameRecord, frame_pointer);
    /// Offset of [`FrameRecord::return_pc`].
    pub(crate) const FRAME_RETURN_PC: usize = offset_of!(FrameRecord, return_pc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_kinds_round_trip_and_records_are_48_bytes() {
        for kind in [
            ExitKind::Exit,
            ExitKind::Error,
            ExitKind::Bail,
            ExitKind::Site,
        ] {
            assert_eq!(ExitKind::from_raw(kind as u64), Some(kind));
        }
        assert_eq!(ExitKind::from_raw(3), None);
        assert_eq!(ExitKind::from_raw(9), None);
        assert_eq!(core::mem::size_of::<FrameRecord>(), 48);
        assert_eq!(offset::FRAME_SAVED, 0);
        assert_eq!(offset::FRAME_POINTER, 32);
        assert_eq!(offset::FRAME_RETURN_PC, 40);
    }
}
