//! One memory region: host bytes placed at a guest address, optionally spread out with gaps.
//!
//! A gapped region (the fixed-frame stack) slices its host bytes into frames of `gap` bytes
//! (a power of two) and places them in guest space with an unmapped gap of the same size
//! after each frame:
//!
//! ```text
//! guest: | frame 0 | gap | frame 1 | gap | frame 2 | gap | ...
//! host:  | frame 0 | frame 1 | frame 2 | ...
//! ```
//!
//! Translation (reference §5.2) tests only the *first* byte of an access for gap
//! membership: an access that starts near the end of a frame and runs into the gap is allowed
//! and reads the next frame's host bytes. That is the reference's "straddle" quirk and we copy
//! it. A zero-length access succeeds anywhere in `[start, start + host_len]`.

use super::host::{HostAccess, HostBytes};

/// The gap shift that means "no gaps": bit 63 of an offset is never inside a real region.
const NO_GAP_SHIFT: u32 = 63;

/// The gap bit that means "no gaps" (the bit of [`NO_GAP_SHIFT`]).
const NO_GAP_BIT: u64 = 1 << NO_GAP_SHIFT;

/// One contiguous range of host memory mapped at a guest address.
#[derive(Debug)]
pub struct MemoryRegion<'a> {
    pub(super) host: HostBytes<'a>,
    vm_addr: u64,
    /// The bit of a region offset that says "in a gap": the gap size, a power of two
    /// ([`NO_GAP_BIT`] for a contiguous region). Kept as masks rather than a shift so that a
    /// translation needs no variable shift.
    gap_bit: u64,
    /// The offset bits below `gap_bit` (the offset within a frame).
    low_mask: u64,
}

impl<'a> MemoryRegion<'a> {
    /// A read-only region over `bytes` at guest address `vm_addr`.
    pub fn readonly(bytes: &'a [u8], vm_addr: u64) -> Self {
        Self::from_host(HostBytes::borrowed(bytes), vm_addr, 0)
    }

    /// A writable region over `bytes` at guest address `vm_addr`.
    pub fn writable(bytes: &'a mut [u8], vm_addr: u64) -> Self {
        Self::from_host(HostBytes::borrowed_mut(bytes), vm_addr, 0)
    }

    /// A writable region whose guest view has a gap of `gap_size` bytes after every
    /// `gap_size` bytes of host memory. `gap_size` should be a power of two (a larger value
    /// is rounded down to one); 0 means no gaps.
    pub fn writable_gapped(bytes: &'a mut [u8], vm_addr: u64, gap_size: u64) -> Self {
        Self::from_host(HostBytes::borrowed_mut(bytes), vm_addr, gap_size)
    }

    /// A writable region over `len` zeroed bytes that the region owns (16-byte aligned),
    /// gapped like [`MemoryRegion::writable_gapped`]. `None` when the allocation fails.
    pub fn owned_zeroed(len: usize, vm_addr: u64, gap_size: u64) -> Option<MemoryRegion<'static>> {
        let host = HostBytes::owned_zeroed(len)?;
        Some(MemoryRegion::from_host(host, vm_addr, gap_size))
    }

    /// A writable region over a copy of `bytes` that the region owns (16-byte aligned).
    /// `None` when the allocation fails.
    pub fn owned_copy(bytes: &[u8], vm_addr: u64) -> Option<MemoryRegion<'static>> {
        let mut host = HostBytes::owned_zeroed(bytes.len())?;
        if let Some(target) = host.slice_mut(0, bytes.len() as u64) {
            target.copy_from_slice(bytes);
        }
        Some(MemoryRegion::from_host(host, vm_addr, 0))
    }

    pub(super) fn from_host(host: HostBytes<'a>, vm_addr: u64, gap_size: u64) -> Self {
        let gap_shift = if gap_size == 0 {
            NO_GAP_SHIFT
        } else {
            // floor(log2(gap_size)); exact for powers of two.
            NO_GAP_SHIFT - gap_size.leading_zeros()
        };
        let gap_bit = 1u64 << gap_shift;
        MemoryRegion {
            host,
            vm_addr,
            gap_bit,
            low_mask: gap_bit - 1,
        }
    }

    /// The guest start address.
    pub fn vm_addr(&self) -> u64 {
        self.vm_addr
    }

    /// The host length in bytes.
    pub fn len(&self) -> u64 {
        self.host.len() as u64
    }

    /// Whether `vaddr` lies in the region's guest range, gaps included (a gapped region spans
    /// twice its host length).
    pub fn contains(&self, vaddr: u64) -> bool {
        let span = match self.gap_size() {
            Some(_) => self.len().saturating_mul(2),
            None => self.len(),
        };
        (self.vm_addr..self.vm_addr.saturating_add(span)).contains(&vaddr)
    }

    /// Whether the region has no bytes.
    pub fn is_empty(&self) -> bool {
        self.host.len() == 0
    }

    /// Whether stores are allowed.
    pub fn is_writable(&self) -> bool {
        self.host.access() == HostAccess::ReadWrite
    }

    /// The bit of a region offset that says "in a gap" (the "no gaps" bit, 1 << 63, for a
    /// contiguous region): what the direct rows translate with.
    pub(super) fn gap_bit(&self) -> u64 {
        self.gap_bit
    }

    /// The gap size in bytes, or `None` for a contiguous region.
    pub fn gap_size(&self) -> Option<u64> {
        (self.gap_bit != NO_GAP_BIT).then_some(self.gap_bit)
    }

    /// The host address of the region's first byte (for the region table, and for hosts
    /// that hand out raw pointers into guest memory).
    pub fn host_addr(&self) -> usize {
        self.host.host_addr()
    }

    /// Translates `[vaddr, vaddr + len)` to an offset into the host bytes (reference §5.2),
    /// or `None` when the access starts below the region, starts in a gap, or ends past the
    /// host bytes.
    #[inline]
    pub fn vm_to_host(&self, vaddr: u64, len: u64) -> Option<u64> {
        let offset = vaddr.checked_sub(self.vm_addr)?;
        let in_gap = offset & self.gap_bit != 0;
        // Outside a gap the gap bit is clear, so shifting the frame number down over it
        // removes the gaps: frame `k` starts at host offset `k * gap`.
        let host_offset = ((offset >> 1) & !self.low_mask) | (offset & self.low_mask);
        let end = host_offset.checked_add(len)?;
        (end <= self.len() && !in_gap).then_some(host_offset)
    }
}
