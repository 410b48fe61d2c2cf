//! The data generated code shares with Rust: the [`Env`] of one run, its call-frame records
//! and its region table, all `#[repr(C)]` with their field offsets as constants.
//!
//! Generated code addresses every field as `[r15 + OFFSET]` (r15 holds the `Env` pointer for
//! the whole run); the offsets come from `core::mem::offset_of!`, so the layout and the code
//! cannot drift apart. A layout test pins the sizes the lowering multiplies by.

use core::ffi::c_void;
use core::mem::offset_of;

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

/// One row of the aligned mapping's region table (index = vaddr >> 32).
///
/// The lengths are 0 when generated code must not translate inline: a gapped region (the
/// stack with gaps; it has its own fields for the gapped path), and for stores a read-only
/// region. An access the table rejects goes to
/// the out-of-line slow path, which asks the mapping itself.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RegionEntry {
    /// Host address of the region's first byte.
    pub host: u64,
    /// Guest address of the region's first byte.
    pub vm_addr: u64,
    /// Bytes loads may touch inline.
    pub load_len: u64,
    /// Bytes stores may touch inline.
    pub store_len: u64,
    /// A gapped region: log2 of the gap size (0: no gaps).
    pub gap_shift: u64,
    /// A gapped region: the host bytes loads may touch through the gapped inline path.
    pub gap_load_len: u64,
    /// A gapped region: the host bytes stores may touch through the gapped inline path.
    pub gap_store_len: u64,
    /// Padding to a power-of-two row size.
    pub reserved: u64,
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
    /// `ExceededMaxInstructions` at `exit_pc`.
    Exceeded = 3,
}

impl ExitKind {
    /// The kind generated code stored, as a value.
    pub fn from_raw(raw: u64) -> Option<ExitKind> {
        [
            ExitKind::Exit,
            ExitKind::Error,
            ExitKind::Bail,
            ExitKind::Exceeded,
        ]
        .into_iter()
        .find(|kind| *kind as u64 == raw)
    }
}

/// The state of one run shared with generated code.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Env {
    /// Guest r0..r10 whenever generated code is not running (entry, helper calls, exits).
    pub regs: [u64; 11],
    /// Metering on: `base - due`, the instructions that may still run before the check fails.
    pub left: u64,
    /// The call depth (number of frame records in use).
    pub depth: u64,
    /// sBPF's r11.
    pub stack_pointer: u64,
    /// `frame_capacity` frame records.
    pub frames: *mut FrameRecord,
    /// The aligned mapping's region table.
    pub regions: *const RegionEntry,
    /// Rows in `regions`.
    pub region_count: u64,
    /// The host stack pointer at entry, restored by every exit.
    pub host_rsp: u64,
    /// An [`ExitKind`] as a number.
    pub exit_kind: u64,
    /// The pc of a bail-out or of `ExceededMaxInstructions`.
    pub exit_pc: u64,
    /// The guest memory (`*mut MemoryMapping`).
    pub mapping: *mut c_void,
    /// The typed host state of the syscall shim (`*mut Host<C>`).
    pub host: *mut c_void,
}

/// `[r15 + REGS + 8 * i]` is guest register i.
pub(crate) const REGS: i32 = offset_of!(Env, regs) as i32;
/// Offset of [`Env::left`].
pub(crate) const LEFT: i32 = offset_of!(Env, left) as i32;
/// Offset of [`Env::depth`].
pub(crate) const DEPTH: i32 = offset_of!(Env, depth) as i32;
/// Offset of [`Env::stack_pointer`].
pub(crate) const STACK_POINTER: i32 = offset_of!(Env, stack_pointer) as i32;
/// Offset of [`Env::frames`].
pub(crate) const FRAMES: i32 = offset_of!(Env, frames) as i32;
/// Offset of [`Env::regions`].
pub(crate) const REGIONS: i32 = offset_of!(Env, regions) as i32;
/// Offset of [`Env::region_count`].
pub(crate) const REGION_COUNT: i32 = offset_of!(Env, region_count) as i32;
/// Offset of [`Env::host_rsp`].
pub(crate) const HOST_RSP: i32 = offset_of!(Env, host_rsp) as i32;
/// Offset of [`Env::exit_kind`].
pub(crate) const EXIT_KIND: i32 = offset_of!(Env, exit_kind) as i32;
/// Offset of [`Env::exit_pc`].
pub(crate) const EXIT_PC: i32 = offset_of!(Env, exit_pc) as i32;

/// Offsets inside a [`FrameRecord`].
pub(crate) const FRAME_SAVED: i32 = offset_of!(FrameRecord, saved) as i32;
/// Offset of [`FrameRecord::frame_pointer`].
pub(crate) const FRAME_POINTER: i32 = offset_of!(FrameRecord, frame_pointer) as i32;
/// Offset of [`FrameRecord::return_pc`].
pub(crate) const FRAME_RETURN_PC: i32 = offset_of!(FrameRecord, return_pc) as i32;
/// `size_of::<FrameRecord>() == 3 << FRAME_SHIFT` (the lowering computes `depth * 48`).
pub(crate) const FRAME_SHIFT: u8 = 4;

/// Offsets inside a [`RegionEntry`].
pub(crate) const REGION_HOST: i32 = offset_of!(RegionEntry, host) as i32;
/// Offset of [`RegionEntry::vm_addr`].
pub(crate) const REGION_VM_ADDR: i32 = offset_of!(RegionEntry, vm_addr) as i32;
/// Offset of [`RegionEntry::load_len`].
pub(crate) const REGION_LOAD_LEN: i32 = offset_of!(RegionEntry, load_len) as i32;
/// Offset of [`RegionEntry::store_len`].
pub(crate) const REGION_STORE_LEN: i32 = offset_of!(RegionEntry, store_len) as i32;
/// Offset of [`RegionEntry::gap_shift`].
pub(crate) const REGION_GAP_SHIFT: i32 = offset_of!(RegionEntry, gap_shift) as i32;
/// Offset of [`RegionEntry::gap_load_len`].
pub(crate) const REGION_GAP_LOAD_LEN: i32 = offset_of!(RegionEntry, gap_load_len) as i32;
/// Offset of [`RegionEntry::gap_store_len`].
pub(crate) const REGION_GAP_STORE_LEN: i32 = offset_of!(RegionEntry, gap_store_len) as i32;
/// `size_of::<RegionEntry>() == 1 << REGION_SHIFT`.
pub(crate) const REGION_SHIFT: u8 = 6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_lowering() {
        assert_eq!(core::mem::size_of::<FrameRecord>(), 3 << FRAME_SHIFT);
        assert_eq!(core::mem::size_of::<RegionEntry>(), 1 << REGION_SHIFT);
        assert_eq!(REGS, 0);
        assert_eq!(LEFT, 88);
        assert_eq!(FRAME_POINTER, 32);
        assert_eq!(FRAME_RETURN_PC, 40);
        assert_eq!(FRAME_SAVED, 0);
        assert_eq!(REGION_STORE_LEN, 24);
        for kind in [
            ExitKind::Exit,
            ExitKind::Error,
            ExitKind::Bail,
            ExitKind::Exceeded,
        ] {
            assert_eq!(ExitKind::from_raw(kind as u64), Some(kind));
        }
        assert_eq!(ExitKind::from_raw(9), None);
    }
}
