//! The aligned mapping (reference §5.3): the upper 32 bits of an address pick the region.
//!
//! Construction puts an empty read-only region at address 0 (index 0), sorts by guest
//! address (stably), and then requires region `i` to start in 4 GiB slot `i` for every `i`:
//! regions fill consecutive slots from 1 upward, one per slot, without holes. Any other
//! layout is `InvalidMemoryRegion(i)` for the first offending index. A lookup is then one
//! shift and one index; slot 0 is never mapped.
//!
//! Under 0.26's rules ([`MemoryRules::Sbpf26`]) construction sorts the regions and fills
//! every empty slot below the highest region with an empty region instead, so holes are
//! allowed and slot 0 may hold a region (V3's read-only data); two regions in one slot are
//! `InvalidMemoryRegion` with the slot of the second.

use super::layout::MemoryRules;
use super::region::MemoryRegion;
use crate::error::{AccessType, RuntimeError};

/// Each region owns one slot of this many address bits.
const SLOT_BITS: u32 = 32;

fn slot_of(vaddr: u64) -> u64 {
    vaddr >> SLOT_BITS
}

/// Regions indexed by the upper half of the address.
#[derive(Debug)]
pub struct AlignedMapping<'a> {
    regions: Vec<MemoryRegion<'a>>,
    /// Whether slot 0 may be mapped (0.26's rules).
    slot_zero_mapped: bool,
}

impl<'a> AlignedMapping<'a> {
    /// Validates and stores the regions by `rules` (see the module doc).
    pub fn new(
        mut regions: Vec<MemoryRegion<'a>>,
        rules: MemoryRules,
    ) -> Result<Self, RuntimeError> {
        match rules {
            MemoryRules::Reference2022 => {
                regions.insert(0, MemoryRegion::readonly(&[], 0));
                regions.sort_by_key(MemoryRegion::vm_addr);
                for (index, region) in regions.iter().enumerate() {
                    if slot_of(region.vm_addr()) != index as u64 {
                        return Err(RuntimeError::InvalidMemoryRegion { index });
                    }
                }
            }
            MemoryRules::Sbpf26 => regions = fill_holes(regions)?,
        }
        Ok(AlignedMapping {
            regions,
            slot_zero_mapped: rules == MemoryRules::Sbpf26,
        })
    }

    /// The region index and host offset of an access, or `None` for a violation.
    #[inline]
    pub fn find(&self, access: AccessType, vaddr: u64, len: u64) -> Option<(usize, u64)> {
        let index = usize::try_from(slot_of(vaddr)).ok()?;
        if index == 0 && !self.slot_zero_mapped {
            return None;
        }
        let region = self.regions.get(index)?;
        if access == AccessType::Store && !region.is_writable() {
            return None;
        }
        region.vm_to_host(vaddr, len).map(|offset| (index, offset))
    }

    /// The regions, index 0 being the empty region at address 0.
    pub fn regions(&self) -> &[MemoryRegion<'a>] {
        &self.regions
    }

    /// The region at `index`, mutably (for host access).
    pub fn region_mut(&mut self, index: usize) -> Option<&mut MemoryRegion<'a>> {
        self.regions.get_mut(index)
    }

    /// Replaces region `index`; the new region's first and last byte must lie in slot
    /// `index` (judged by its host length).
    pub fn replace_region(
        &mut self,
        index: usize,
        region: MemoryRegion<'a>,
    ) -> Result<(), RuntimeError> {
        let invalid = RuntimeError::InvalidMemoryRegion { index };
        let begin = slot_of(region.vm_addr());
        let end = slot_of(
            region
                .vm_addr()
                .saturating_add(region.len().saturating_sub(1)),
        );
        let slot = self.regions.get_mut(index).ok_or(invalid.clone())?;
        if begin != index as u64 || end != index as u64 {
            return Err(invalid);
        }
        *slot = region;
        Ok(())
    }
}

/// 0.26's construction: the regions sorted by address, one per slot from slot 0 up, with an
/// empty region in every slot none of them starts in. The number of filler regions is at
/// most the highest region's slot, which a region's address bounds; the caller's regions
/// come from host memory, so a slot beyond what a `Vec` can index is refused.
fn fill_holes(mut regions: Vec<MemoryRegion<'_>>) -> Result<Vec<MemoryRegion<'_>>, RuntimeError> {
    regions.sort_by_key(MemoryRegion::vm_addr);
    let highest = regions.last().map_or(0, |region| slot_of(region.vm_addr()));
    // Guest addresses of real regions are small (the input slots follow the heap); refuse a
    // mapping that would need more filler regions than any host would map.
    const MAX_SLOTS: u64 = 1 << 16;
    if highest >= MAX_SLOTS {
        return Err(RuntimeError::InvalidMemoryRegion {
            index: regions.len().saturating_sub(1),
        });
    }
    let mut filled = Vec::with_capacity(highest as usize + 1);
    for region in regions {
        let slot = slot_of(region.vm_addr());
        while (filled.len() as u64) < slot {
            let empty_at = (filled.len() as u64) << SLOT_BITS;
            filled.push(MemoryRegion::readonly(&[], empty_at));
        }
        if (filled.len() as u64) > slot {
            return Err(RuntimeError::InvalidMemoryRegion {
                index: slot as usize,
            });
        }
        filled.push(region);
    }
    Ok(filled)
}
