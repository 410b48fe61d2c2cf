//! A mapping lent to one interpreter run, with a copy of its direct rows beside the borrow.
//!
//! The interpreter's loads and stores go through the aligned mapping's direct rows
//! (`host::DirectRows`: per 4 GiB slot, the region's host pointer, gap bit and lengths).
//! Read through the mapping, a handler first loads the mapping's address from the machine
//! and then adds the rows' offset in the mapping to the row's index, two steps on the chain
//! from the guest address to the host access; with the rows copied into the machine, the
//! row is one load at the machine's own address plus the index (PERFORMANCE.md, phase K).
//!
//! The copy is only sound while it describes the regions the mapping holds: a row's host
//! pointer is read and written without a check. This type keeps that, and owns what it
//! needs to: it holds the run's only borrow of the mapping (private), so nothing reaches
//! the mapping but through it; it lends the mapping mutably only to a closure
//! ([`RunMapping::with_mut`]: syscalls and debugger hooks, code that may do anything a
//! `&mut MemoryMapping` allows, including replacing it whole) and copies the rows again
//! when the closure returns; the general paths of a load and a store, whose only change to
//! the regions is a violation handler's replacement (`MemoryMapping::replace_region`,
//! which counts it), copy them again when the count moved; and the plain store of the
//! atomic ops ([`RunMapping::store`]) asks no handler, so it changes bytes, never a region.
//! Shared borrows ([`RunMapping::get`]) change no region. The copy is therefore the
//! mapping's rows whenever a load or a store reads it: the invariant of `DirectRows`, for
//! the copy. Tests that fail when a refresh is missing: `interpreter_memory.rs`
//! (`replaced_region_table`: syscalls; `handler_replaced_table`: the general paths) and
//! the hook's, `a_region_replaced_by_the_hook_is_seen_by_the_next_load`.

use super::host::DirectRows;
use super::MemoryMapping;
use crate::error::RuntimeError;
use bpfvm_isa::MemSize;

/// A mapping borrowed for a run, and its direct rows (see the module doc).
///
/// Invariant, relied on by the `unsafe` blocks of `DirectRows` through
/// [`RunMapping::load_aligned`], [`RunMapping::store_aligned`] and
/// [`RunMapping::modify_aligned`]: `rows` equals `mapping`'s rows. Kept by every method
/// that lends `mapping` mutably (they refresh `rows` before they return); the fields are
/// private to this module. The rows first (`repr(C)`), so that a machine that puts this
/// right after its registers reaches a row at a fixed small offset.
#[repr(C)]
pub(crate) struct RunMapping<'r, 'a> {
    rows: DirectRows,
    /// The mapping's count of replaced regions when `rows` was copied.
    replacements: u64,
    mapping: &'r mut MemoryMapping<'a>,
}

impl<'r, 'a> RunMapping<'r, 'a> {
    /// Borrows `mapping` for a run and copies its rows.
    pub(crate) fn new(mapping: &'r mut MemoryMapping<'a>) -> Self {
        RunMapping {
            rows: mapping.direct.clone(),
            replacements: mapping.replacements,
            mapping,
        }
    }

    /// The mapping, shared: nothing a shared borrow allows changes a region.
    pub(crate) fn get(&self) -> &MemoryMapping<'a> {
        self.mapping
    }

    /// Lends the mapping mutably to `f` (a syscall, a debugger hook, an atomic op), then
    /// copies its rows again: `f` may have replaced any region, or the mapping whole.
    pub(crate) fn with_mut<R>(&mut self, f: impl FnOnce(&mut MemoryMapping<'a>) -> R) -> R {
        let result = f(self.mapping);
        self.refresh();
        result
    }

    /// Copies the mapping's rows again.
    #[cold]
    #[inline(never)]
    fn refresh(&mut self) {
        self.rows = self.mapping.direct.clone();
        self.replacements = self.mapping.replacements;
    }

    /// Copies the rows again when the mapping replaced a region since they were copied.
    #[inline(always)]
    fn refresh_if_replaced(&mut self) {
        if self.replacements != self.mapping.replacements {
            self.refresh();
        }
    }

    /// [`MemoryMapping::store`]: the plain store asks no violation handler, so it changes
    /// bytes, never a region, and the copy stays current (the atomic ops' store).
    pub(crate) fn store(
        &mut self,
        size: MemSize,
        vaddr: u64,
        value: u64,
        pc: usize,
    ) -> Result<(), RuntimeError> {
        self.mapping.store(size, vaddr, value, pc)
    }

    /// The aligned mapping's inlined lookup alone (the direct rows): the value of a valid
    /// aligned load of a region that starts at its slot's first address, below slot 8, or
    /// `None` for anything [`MemoryMapping::load_inline`] hands to its general path
    /// ([`RunMapping::load_general`]).
    #[inline(always)]
    pub(crate) fn load_aligned(&self, size: MemSize, vaddr: u64) -> Option<u64> {
        self.rows.load(size, vaddr)
    }

    /// The aligned mapping's inlined lookup alone (the direct rows): `Some` when a valid
    /// aligned store was made, `None` for anything [`MemoryMapping::store_inline`] hands to
    /// its general path ([`RunMapping::store_general`]).
    #[inline(always)]
    pub(crate) fn store_aligned(&mut self, size: MemSize, vaddr: u64, value: u64) -> Option<()> {
        self.rows.store(size, vaddr, value)
    }

    /// The inlined lookup alone for a load and a store of the same `size` bytes at `vaddr`:
    /// `Some(step(loaded))` when both were made (the store writing its low bytes), `None`,
    /// with neither made, for a store [`RunMapping::store_aligned`] would not make (its load
    /// is then the caller's to make, as it would be alone).
    #[inline(always)]
    pub(crate) fn modify_aligned(
        &mut self,
        size: MemSize,
        vaddr: u64,
        step: impl FnOnce(u64) -> u64,
    ) -> Option<u64> {
        self.rows.modify(size, vaddr, step)
    }

    /// [`MemoryMapping::load_general`]: a violation handler may replace a region.
    #[inline(always)]
    pub(crate) fn load_general(
        &mut self,
        size: MemSize,
        vaddr: u64,
        pc: usize,
    ) -> Result<u64, RuntimeError> {
        let result = self.mapping.load_general(size, vaddr, pc);
        self.refresh_if_replaced();
        result
    }

    /// [`MemoryMapping::store_general`]: a violation handler may replace a region.
    #[inline(always)]
    pub(crate) fn store_general(
        &mut self,
        size: MemSize,
        vaddr: u64,
        value: u64,
        pc: usize,
    ) -> Result<(), RuntimeError> {
        let result = self.mapping.store_general(size, vaddr, value, pc);
        self.refresh_if_replaced();
        result
    }
}
