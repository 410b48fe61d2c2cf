//! What the JIT keeps from one run to the next in a VM's call stacks: the run's [`Env`] with
//! its region table already filled, and the frame records generated code writes. A run
//! refills the table only when what it was filled from changed (the mapping's regions, the
//! program's address map and stack, the call depth), so a run over the same memory as the
//! one before writes only the few fields that start a run.
//!
//! Whether the mapping changed is read off the stamp of its region table rows
//! (`MemoryMapping::table_stamp`): a mapping makes its rows once and makes them again, with
//! a new stamp, after any region is replaced, and no two sets of rows share a stamp. The
//! code is known by its compile's stamp, which names the address map and stack it was
//! compiled for.

use super::env::{Env, FrameRecord};
use super::masm::MAX_INLINE_CALL_DEPTH;
use crate::memory::table::{frame_host, GapRows, InlineRows, InputRow};
use crate::memory::{AddressMap, CurrentFrame, MemoryMapping};

/// The JIT's part of a VM's call stacks (see the module doc). Empty until the first run.
#[derive(Debug, Default)]
pub(crate) struct Seat {
    kept: Option<Box<Kept>>,
}

/// What a run of generated code is entered with, kept between runs.
#[derive(Debug)]
pub(crate) struct Kept {
    /// The environment; its region table, `frame_host`, `frames` and `frame_limit` are those
    /// `key` names, its other fields are set by each run.
    pub env: Env,
    /// The frame records (`Env::frames` points at the first).
    pub records: Vec<FrameRecord>,
    /// Whether the mapping has the stack the code's r10 fast path relies on (see
    /// [`fill_table`]).
    pub standard: bool,
    /// What the table was filled from (`None`: not filled yet).
    key: Option<Key>,
}

/// What the kept table and frame records were made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    /// The stamp of the mapping's region table rows.
    rows: u64,
    /// The stamp of the compiled code (which names its address map and its stack).
    code: u64,
    /// The configured call depth.
    max_call_depth: usize,
}

/// What a run's code was compiled for, as the seat needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CodeKey<'r> {
    /// The compile's stamp.
    pub stamp: u64,
    /// The address map the code was compiled for.
    pub map: &'r AddressMap,
    /// The stack the code's r10 fast path relies on.
    pub frame: &'r Option<CurrentFrame>,
}

impl Seat {
    /// The kept environment, ready for a run of the code `code` names over `mapping` with
    /// `max_call_depth`: refilled first when any of them changed since the last run (the
    /// rest of the `Env` is the caller's to set).
    #[inline]
    pub(crate) fn prepare(
        &mut self,
        code: CodeKey<'_>,
        mapping: &mut MemoryMapping<'_>,
        max_call_depth: usize,
    ) -> &mut Kept {
        let fresh = match (&self.kept, mapping.table_stamp()) {
            (Some(kept), Some(rows)) => {
                kept.key
                    == Some(Key {
                        rows,
                        code: code.stamp,
                        max_call_depth,
                    })
            }
            _ => false,
        };
        if !fresh {
            self.refill(code, mapping, max_call_depth);
        }
        // `refill` leaves a `Kept`, so this makes none.
        self.kept.get_or_insert_with(Kept::new)
    }

    /// Refills the table and the frame records (the slow half of [`Seat::prepare`]).
    #[cold]
    #[inline(never)]
    fn refill(
        &mut self,
        code: CodeKey<'_>,
        mapping: &mut MemoryMapping<'_>,
        max_call_depth: usize,
    ) {
        let kept = self.kept.get_or_insert_with(Kept::new);
        // Generated code writes a record before it reads it, and the hand-over reads only
        // the records of the frames in use, so records left by an earlier run are never read.
        let capacity = max_call_depth.clamp(1, MAX_INLINE_CALL_DEPTH);
        if kept.records.len() < capacity {
            kept.records.resize(capacity, FrameRecord::default());
        }
        kept.env.frames = kept.records.as_mut_ptr();
        kept.env.frame_limit = frame_limit(&kept.records, max_call_depth);
        kept.standard = fill_table(&mut kept.env, mapping, code.map, *code.frame);
        kept.key = mapping.table_stamp().map(|rows| Key {
            rows,
            code: code.stamp,
            max_call_depth,
        });
    }
}

impl Kept {
    /// An environment with an empty table and no frame records.
    fn new() -> Box<Kept> {
        Box::new(Kept {
            env: Env {
                inline: InlineRows::default(),
                regs: [0; 11],
                left: 0,
                frame_host: 0,
                frame_top: 0,
                input: InputRow::default(),
                hoisted: [0; super::hoist::MAX_GROUPS],
                callx_target: 0,
                callx_table: core::ptr::null(),
                frame_cursor: core::ptr::null_mut(),
                frame_limit: core::ptr::null(),
                stack_pointer: 0,
                frames: core::ptr::null_mut(),
                host_stack: 0,
                frame_floor: 0,
                exit_kind: 0,
                exit_pc: 0,
                mapping: core::ptr::null_mut(),
                host: core::ptr::null_mut(),
                gaps: GapRows::default(),
            },
            records: Vec::new(),
            standard: false,
            key: None,
        })
    }
}

/// The frame cursor at which a `call` bails out: `max_call_depth - 1` records in (the
/// interpreter raises the depth error there), and never past the last of `records`, so
/// generated code writes no record outside them.
fn frame_limit(records: &[FrameRecord], max_call_depth: usize) -> *const FrameRecord {
    let in_use = max_call_depth.saturating_sub(1).min(records.len());
    records.as_ptr().wrapping_add(in_use)
}

/// Fills the region table of `env` from the mapping (memory's `table`: the rows mean what
/// they mean there) and the r10 fast path's [`Env::frame_host`]. Returns false when the code
/// relies on a stack ([`CurrentFrame`]) that the mapping does not have: generated code must
/// not run then.
pub(crate) fn fill_table(
    env: &mut Env,
    mapping: &MemoryMapping<'_>,
    map: &AddressMap,
    frame: Option<CurrentFrame>,
) -> bool {
    let host = frame.map(|frames| frame_host(mapping, map, frames));
    env.frame_host = host.flatten().unwrap_or(0);
    mapping.fill_region_table(map, &mut env.inline, &mut env.gaps, &mut env.input);
    !matches!(host, Some(None))
}
