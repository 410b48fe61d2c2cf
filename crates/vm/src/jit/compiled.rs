//! A compiled program of one backend: its machine code, the tables beside it (see
//! [`super::tables`]) and what the code was compiled for. Target-neutral: the code's type
//! is the backend's.

use super::engine::Recycler;
use super::loops::VersionedLoop;
use super::masm::Backend;
use super::tables::{slot_offset, SiteTarget, Tables};
use crate::memory::{AddressMap, CurrentFrame};
use std::sync::OnceLock;

/// A compiled program of backend `B`: its machine code, its tables, and what the code was
/// compiled for.
#[derive(Debug)]
pub(crate) struct Compiled<B: Backend> {
    pub(super) code: B::Code,
    pub(super) tables: Tables,
    /// Where the tables go when the program is dropped (its engine's stock).
    pub(super) recycler: Recycler,
    /// [`Compiled::pc_offsets`], built on first use.
    pub(super) pc_offsets: OnceLock<Vec<Option<usize>>>,
    /// Where the code of the last instruction ends (the out-of-line routines follow).
    pub(super) body_end: usize,
    /// The frames the r10 fast path was compiled for, if it is used.
    pub(super) frame: Option<CurrentFrame>,
    /// The address map the code was compiled for (its region-table rows name slots of it).
    pub(super) map: AddressMap,
    /// Names this compile among all in the process (`memory::table::next_stamp`): a run's
    /// kept region table filled for it is known by it (`jit::seat`).
    pub(super) stamp: u64,
    /// The loops compiled twice, with their checks hoisted in the second copy.
    pub(super) versioned: Vec<VersionedLoop>,
    /// The slots whose code is nothing but a bail-out, in order.
    pub(super) interpreted: Vec<usize>,
}

impl<B: Backend> Compiled<B> {
    /// The machine code.
    pub fn code(&self) -> &[u8] {
        B::bytes(&self.code)
    }

    /// The executable code memory.
    pub fn executable(&self) -> &B::Code {
        &self.code
    }

    /// Per slot: the offset in the code where its machine code starts (`None` for the
    /// second slot of an `lddw`).
    pub fn pc_offsets(&self) -> &[Option<usize>] {
        self.pc_offsets.get_or_init(|| {
            self.tables
                .offsets
                .iter()
                .map(|offset| slot_offset(*offset))
                .collect()
        })
    }

    /// The machine code of the instruction at slot `pc` (its inline part, and any shared
    /// routine emitted right after it when it cannot fall through). `None` for the second
    /// slot of an `lddw` or a pc out of range.
    pub fn slot_code(&self, pc: usize) -> Option<&[u8]> {
        let start = slot_offset(*self.tables.offsets.get(pc)?)?;
        let end = self
            .tables
            .offsets
            .iter()
            .skip(pc + 1)
            .find_map(|offset| slot_offset(*offset))
            .unwrap_or(self.body_end);
        self.code().get(start..end)
    }

    /// The loops compiled a second time with their hoisted checks, in slot order.
    pub fn versioned_loops(&self) -> &[VersionedLoop] {
        &self.versioned
    }

    /// The slots whose code is nothing but a bail-out: the interpreter runs them whatever
    /// their operands (traps, eBPF's `callx`, ...), in order.
    pub fn interpreted_slots(&self) -> &[usize] {
        &self.interpreted
    }

    /// The `callx` table's address for `Env::callx_table` (null when there is none).
    pub fn callx_table(&self) -> *const u32 {
        match self.tables.callx_table.is_empty() {
            true => std::ptr::null(),
            false => self.tables.callx_table.as_ptr(),
        }
    }

    /// The address map the code was compiled for.
    pub fn map(&self) -> &AddressMap {
        &self.map
    }

    /// The bail-out site whose return address is at code offset `ret`.
    pub fn site(&self, ret: u64) -> Option<SiteTarget> {
        self.tables.sites.find(ret)
    }
}

impl<B: Backend> Drop for Compiled<B> {
    fn drop(&mut self) {
        self.recycler.recycle(core::mem::take(&mut self.tables));
    }
}
