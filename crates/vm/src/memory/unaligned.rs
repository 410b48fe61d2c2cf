//! The unaligned mapping (reference §5.3): regions anywhere, found by search.
//!
//! Construction sorts the regions by guest address (stably) and rejects overlap judged by
//! *host* length: `prev.vm_addr + prev.len > next.vm_addr` is `InvalidMemoryRegion` with the
//! sorted index of `next`. The regions are then stored in Eytzinger order (the implicit
//! binary-search tree of a sorted array laid out breadth first: node `k` has children `2k`
//! and `2k + 1`, counting from 1), which keeps a search's memory accesses close together.
//! [`UnalignedMapping::regions`] and `replace_region` use this stored order, as the reference
//! does.
//!
//! A lookup finds the region with the largest start `<= vaddr`. Walking down the tree, we go
//! right whenever the node's start is `<= vaddr`; the answer is the last node where we went
//! right, recovered from the final position by dropping its trailing left turns (zero bits)
//! and that last right turn (one bit). Position 0 means we never went right: no region.
//!
//! In front of the search sits a cache of the 4 most recently found regions as
//! `[start, start + host_len)` ranges, newest first. A hit returns the same region the search
//! would (regions do not overlap by host length), so the cache changes speed, never results.
//! It lives in `Cell`s so lookups take `&self`; `replace_region` flushes it.

use super::region::MemoryRegion;
use crate::error::{AccessType, RuntimeError};
use core::cell::Cell;

/// The number of cached lookups.
pub const CACHE_SIZE: usize = 4;

/// One cached lookup: a guest range and the stored index of its region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct CacheEntry {
    start: u64,
    end: u64,
    index: usize,
}

/// A small most-recently-inserted cache of region lookups.
#[derive(Debug, Default)]
struct Cache {
    entries: [Cell<CacheEntry>; CACHE_SIZE],
    /// The slot of the newest entry; older entries follow it cyclically.
    head: Cell<usize>,
}

impl Cache {
    fn find(&self, vaddr: u64) -> Option<usize> {
        let head = self.head.get();
        (0..CACHE_SIZE).find_map(|i| {
            let entry = self.entries.get((head + i) % CACHE_SIZE)?.get();
            (entry.start <= vaddr && vaddr < entry.end).then_some(entry.index)
        })
    }

    fn insert(&self, start: u64, end: u64, index: usize) {
        let head = (self.head.get() + CACHE_SIZE - 1) % CACHE_SIZE;
        self.head.set(head);
        if let Some(slot) = self.entries.get(head) {
            slot.set(CacheEntry { start, end, index });
        }
    }

    fn flush(&self) {
        for entry in &self.entries {
            entry.set(CacheEntry::default());
        }
        self.head.set(0);
    }
}

/// Regions found by an Eytzinger search with a lookup cache.
#[derive(Debug)]
pub struct UnalignedMapping<'a> {
    /// The regions in Eytzinger order.
    regions: Vec<MemoryRegion<'a>>,
    /// Their start addresses, in the same order, for a dense search.
    starts: Vec<u64>,
    cache: Cache,
}

impl<'a> UnalignedMapping<'a> {
    /// Validates the regions and arranges them for search.
    pub fn new(mut sorted: Vec<MemoryRegion<'a>>) -> Result<Self, RuntimeError> {
        sorted.sort_by_key(MemoryRegion::vm_addr);
        for (index, pair) in sorted.windows(2).enumerate() {
            if let [prev, next] = pair {
                if prev.vm_addr().saturating_add(prev.len()) > next.vm_addr() {
                    return Err(RuntimeError::InvalidMemoryRegion { index: index + 1 });
                }
            }
        }
        let order = eytzinger_order(sorted.len());
        let mut slots: Vec<Option<MemoryRegion<'a>>> = sorted.into_iter().map(Some).collect();
        let regions: Vec<MemoryRegion<'a>> = order
            .iter()
            .filter_map(|&sorted_index| slots.get_mut(sorted_index).and_then(Option::take))
            .collect();
        let starts = regions.iter().map(MemoryRegion::vm_addr).collect();
        Ok(UnalignedMapping {
            regions,
            starts,
            cache: Cache::default(),
        })
    }

    /// The stored index of the region with the largest start `<= vaddr`.
    fn search(&self, vaddr: u64) -> Option<usize> {
        let mut position = 1usize;
        while let Some(&start) = self.starts.get(position - 1) {
            position = 2 * position + usize::from(start <= vaddr);
        }
        let answer = position
            .checked_shr(position.trailing_zeros() + 1)
            .unwrap_or(0);
        answer.checked_sub(1)
    }

    /// The stored index and host offset of an access, or `None` for a violation.
    #[inline]
    pub fn find(&self, access: AccessType, vaddr: u64, len: u64) -> Option<(usize, u64)> {
        let (index, hit) = match self.cache.find(vaddr) {
            Some(index) => (index, true),
            None => (self.search(vaddr)?, false),
        };
        let region = self.regions.get(index)?;
        if access == AccessType::Store && !region.is_writable() {
            return None;
        }
        let offset = region.vm_to_host(vaddr, len)?;
        if !hit {
            let start = region.vm_addr();
            self.cache
                .insert(start, start.saturating_add(region.len()), index);
        }
        Some((index, offset))
    }

    /// The regions in stored (Eytzinger) order.
    pub fn regions(&self) -> &[MemoryRegion<'a>] {
        &self.regions
    }

    /// The region at stored `index`, mutably (for host access).
    pub fn region_mut(&mut self, index: usize) -> Option<&mut MemoryRegion<'a>> {
        self.regions.get_mut(index)
    }

    /// Replaces the region at stored `index`; its guest address must stay the same. The
    /// cache is flushed. (As in the reference, the new length is not checked for overlap.)
    pub fn replace_region(
        &mut self,
        index: usize,
        region: MemoryRegion<'a>,
    ) -> Result<(), RuntimeError> {
        match self.regions.get_mut(index) {
            Some(slot) if slot.vm_addr() == region.vm_addr() => {
                *slot = region;
                self.cache.flush();
                Ok(())
            }
            _ => Err(RuntimeError::InvalidMemoryRegion { index }),
        }
    }

    /// How many cache entries cover `vaddr` (0 or 1); for tests of the cache.
    #[cfg(test)]
    pub fn is_cached(&self, vaddr: u64) -> bool {
        self.cache.find(vaddr).is_some()
    }
}

/// For each Eytzinger position 0..n, the sorted index stored there (an in-order walk of the
/// implicit tree hands out sorted indices in order).
fn eytzinger_order(n: usize) -> Vec<usize> {
    let mut order = vec![0; n];
    let mut next = 0;
    // Iterative in-order traversal over positions (0-based: children 2p+1 and 2p+2).
    let mut stack = Vec::new();
    let mut position = 0;
    loop {
        while position < n {
            stack.push(position);
            position = 2 * position + 1;
        }
        let Some(top) = stack.pop() else { break };
        if let Some(slot) = order.get_mut(top) {
            *slot = next;
        }
        next += 1;
        position = 2 * top + 2;
    }
    order
}
