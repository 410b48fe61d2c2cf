//! Host bytes behind a memory region: the only place that touches host memory through raw
//! pointers.
//!
//! A [`HostBytes`] is a pointer, a length, and how the bytes may be used: borrowed read-only
//! (`&'a [u8]`), borrowed writable (`&'a mut [u8]`), or owned (a zeroed, 16-byte-aligned
//! allocation this value frees on drop, used for the VM's stack). Every other file reads and
//! writes guest memory through the checked methods here, which turn an `(offset, len)` pair
//! into a slice only after checking `offset + len <= self.len` without overflow.
//!
//! Invariants, established by the constructors and relied on by every `unsafe` block:
//! 1. `ptr` is non-null and valid for reads of `len` bytes for as long as this value lives:
//!    borrowed bytes are held by the `'a` borrow (the `PhantomData`), owned bytes by the
//!    allocation that only `Drop` frees, raw bytes by the promise of the caller of the unsafe
//!    [`HostBytes::from_raw_parts`].
//! 2. When `access` is [`HostAccess::ReadWrite`], `ptr` is also valid for writes and nothing
//!    else reads or writes those bytes while a slice handed out by this value lives (it came
//!    from a `&'a mut [u8]`, from an allocation nobody else can name, or from a caller of
//!    `from_raw_parts` who promised it).
//! 3. Read-only bytes are never written: the mutable accessors refuse them.
//!
//! Slices handed out borrow `self` (shared or mutable), so Rust's borrow rules keep them
//! from outliving the bytes or aliasing a mutable slice.
#![allow(unsafe_code)]

use super::region::MemoryRegion;
use bpfvm_isa::MemSize;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::alloc::{alloc_zeroed, dealloc, Layout};

/// The alignment of owned allocations (the reference's `HOST_ALIGN`).
pub const HOST_ALIGN: usize = 16;

/// Whether the host bytes may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostAccess {
    /// Loads only.
    ReadOnly,
    /// Loads and stores.
    ReadWrite,
}

/// Who keeps the bytes alive.
#[derive(Debug)]
enum Backing {
    /// A borrow of lifetime `'a` (carried by the `PhantomData` of [`HostBytes`]).
    Borrowed,
    /// An allocation made with this layout; freed on drop.
    Owned(Layout),
}

/// A range of host memory with a known length and access.
#[derive(Debug)]
pub struct HostBytes<'a> {
    ptr: NonNull<u8>,
    len: usize,
    access: HostAccess,
    backing: Backing,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> HostBytes<'a> {
    /// Read-only bytes borrowed for `'a`.
    pub fn borrowed(bytes: &'a [u8]) -> Self {
        HostBytes {
            // A slice pointer is never null (dangling but aligned when empty).
            ptr: NonNull::from(bytes).cast(),
            len: bytes.len(),
            access: HostAccess::ReadOnly,
            backing: Backing::Borrowed,
            _borrow: PhantomData,
        }
    }

    /// Writable bytes borrowed exclusively for `'a`.
    pub fn borrowed_mut(bytes: &'a mut [u8]) -> Self {
        HostBytes {
            len: bytes.len(),
            ptr: NonNull::from(bytes).cast(),
            access: HostAccess::ReadWrite,
            backing: Backing::Borrowed,
            _borrow: PhantomData,
        }
    }

    /// Bytes the host owns and keeps alive itself, named by a raw pointer (hosts whose API
    /// hands the VM raw memory, as solana-sbpf 0.26's does). Empty when `ptr` is null.
    ///
    /// # Safety
    ///
    /// For as long as the result lives, `ptr` must be valid for reads of `len` bytes, and for
    /// writes too when `access` is [`HostAccess::ReadWrite`]; and no other reference to those
    /// bytes may be used while a slice handed out by the result lives (slices live for one
    /// access: a load, a store, or a syscall's translated argument).
    pub unsafe fn from_raw_parts(
        ptr: *mut u8,
        len: usize,
        access: HostAccess,
    ) -> HostBytes<'static> {
        let Some(ptr) = NonNull::new(ptr) else {
            return HostBytes::borrowed(&[]);
        };
        HostBytes {
            ptr,
            len,
            access,
            backing: Backing::Borrowed,
            _borrow: PhantomData,
        }
    }

    /// `len` zeroed, writable bytes aligned to [`HOST_ALIGN`], owned by the result. `None`
    /// when the size is not representable or the allocator fails.
    pub fn owned_zeroed(len: usize) -> Option<HostBytes<'static>> {
        if len == 0 {
            return Some(HostBytes::borrowed_mut(&mut []));
        }
        let layout = Layout::from_size_align(len, HOST_ALIGN).ok()?;
        // SAFETY: `layout` has a non-zero size (checked above), as `alloc_zeroed` requires.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw)?;
        Some(HostBytes {
            ptr,
            len,
            access: HostAccess::ReadWrite,
            backing: Backing::Owned(layout),
            _borrow: PhantomData,
        })
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether stores are allowed.
    pub fn access(&self) -> HostAccess {
        self.access
    }

    /// The host address of the first byte (for diagnostics, the region table and hosts that
    /// hand out raw pointers).
    pub fn host_addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Checks that `[offset, offset + len)` lies inside the bytes and converts it to `usize`s.
    fn checked_range(&self, offset: u64, len: u64) -> Option<(usize, usize)> {
        let start = usize::try_from(offset).ok()?;
        let len = usize::try_from(len).ok()?;
        let end = start.checked_add(len)?;
        (end <= self.len).then_some((start, len))
    }

    /// The bytes `[offset, offset + len)`, or `None` when they are not all inside.
    #[inline]
    pub fn slice(&self, offset: u64, len: u64) -> Option<&[u8]> {
        let (start, len) = self.checked_range(offset, len)?;
        // SAFETY: `start + len <= self.len` (checked_range), so the range lies inside the
        // `self.len` bytes that invariant 1 makes valid for reads while `self` lives; the
        // result borrows `self`, and no mutable slice can coexist with it because those
        // borrow `self` mutably (invariant 2 rules out writers outside this value).
        Some(unsafe { core::slice::from_raw_parts(self.ptr.as_ptr().add(start), len) })
    }

    /// The writable bytes `[offset, offset + len)`, or `None` when they are not all inside or
    /// the bytes are read-only.
    #[inline]
    pub fn slice_mut(&mut self, offset: u64, len: u64) -> Option<&mut [u8]> {
        if self.access != HostAccess::ReadWrite {
            return None;
        }
        let (start, len) = self.checked_range(offset, len)?;
        // SAFETY: the range lies inside the bytes (checked_range); invariant 2 holds because
        // the access is ReadWrite (checked above), so the bytes are valid for writes and
        // exclusively ours; the result borrows `self` mutably, so it is the only live slice.
        Some(unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr().add(start), len) })
    }

    /// Loads `size` bytes at `offset`, little-endian, zero-extended.
    #[inline]
    pub fn load_le(&self, offset: u64, size: MemSize) -> Option<u64> {
        let bytes = self.slice(offset, size.bytes())?;
        Some(match size {
            MemSize::B => u64::from(*bytes.first()?),
            MemSize::H => u64::from(u16::from_le_bytes(bytes.try_into().ok()?)),
            MemSize::W => u64::from(u32::from_le_bytes(bytes.try_into().ok()?)),
            MemSize::DW => u64::from_le_bytes(bytes.try_into().ok()?),
        })
    }

    /// Stores the low `size` bytes of `value` at `offset`, little-endian.
    #[inline]
    pub fn store_le(&mut self, offset: u64, size: MemSize, value: u64) -> Option<()> {
        let bytes = self.slice_mut(offset, size.bytes())?;
        let le = value.to_le_bytes();
        bytes.copy_from_slice(le.get(..bytes.len())?);
        Some(())
    }
}

impl MemoryRegion<'static> {
    /// A region over host memory named by a raw pointer, which the host keeps alive (see
    /// [`HostBytes::from_raw_parts`]): writable or read-only, gapped like
    /// [`MemoryRegion::writable_gapped`] when `gap_size` is not 0. Empty when `ptr` is null.
    ///
    /// # Safety
    ///
    /// For as long as the region lives, `ptr` must be valid for reads of `len` bytes (and
    /// for writes when `access` is [`HostAccess::ReadWrite`]), and no other reference to
    /// those bytes may be used during an access through the region's mapping.
    pub unsafe fn from_raw_parts(
        ptr: *mut u8,
        len: usize,
        access: HostAccess,
        vm_addr: u64,
        gap_size: u64,
    ) -> MemoryRegion<'static> {
        // SAFETY: the caller's promise is the one `HostBytes::from_raw_parts` asks for.
        let host = unsafe { HostBytes::from_raw_parts(ptr, len, access) };
        MemoryRegion::from_host(host, vm_addr, gap_size)
    }
}

impl Drop for HostBytes<'_> {
    fn drop(&mut self) {
        if let Backing::Owned(layout) = self.backing {
            // SAFETY: `Backing::Owned` is only built by `owned_zeroed`, which got `ptr` from
            // `alloc_zeroed(layout)` with this same layout; it is freed exactly once, here.
            unsafe { dealloc(self.ptr.as_ptr(), layout) };
        }
    }
}

/// The 4 GiB slots the direct rows cover ([`DirectRows`]); an access above them takes the
/// mapping's general path.
const DIRECT_SLOTS: usize = 8;

/// The gap bit of a row that gives no access (the "no gaps" bit of `MemoryRegion`: never
/// set in an offset below 4 GiB).
const NO_GAP_BIT: u64 = 1 << 63;

/// One slot's direct row: where its region's host bytes start and how many of them loads
/// and stores may touch.
#[derive(Clone, Copy, Debug)]
struct DirectRow {
    /// The region's first host byte (dangling, never read, when both lengths are 0).
    host: *mut u8,
    /// The bit of an offset into the slot that says "in a gap" (see `MemoryRegion`), the
    /// "no gaps" bit for a contiguous region.
    gap_bit: u64,
    /// The host bytes a load may touch: the region's length, 0 when no access is direct.
    load_len: u64,
    /// The host bytes a store may touch: the region's length when it is writable, else 0.
    store_len: u64,
}

impl DirectRow {
    /// The row that sends every access of its slot to the general path.
    const NONE: DirectRow = DirectRow {
        host: core::ptr::null_mut(),
        gap_bit: NO_GAP_BIT,
        load_len: 0,
        store_len: 0,
    };

    /// The host offset of an access of `len` bytes at `offset` into the slot, when its
    /// first byte is not in a gap and its last lies below `limit` (the region's
    /// translation, reference §5.2, for a region that starts at its slot's first address).
    #[inline(always)]
    fn translate(&self, offset: u64, len: u64, limit: u64) -> Option<usize> {
        // Outside a gap, `offset` is frame `k`'s start `2 k gap` plus less than `gap`, and
        // `(offset >> 1) & -gap` is `k gap`, the gaps before the frame, which the host bytes
        // do not have. (For a contiguous region the gap bit is above every offset: nothing
        // is taken off.)
        let host_offset = offset - ((offset >> 1) & self.gap_bit.wrapping_neg());
        // `offset` is below 4 GiB and `len` at most 8, so the sum does not overflow.
        let fits = offset & self.gap_bit == 0 && host_offset + len <= limit;
        fits.then_some(host_offset as usize)
    }
}

/// The interpreter's direct lookup of the aligned mapping: per 4 GiB slot (the upper 32
/// bits of an address) below [`DIRECT_SLOTS`], the host pointer, gap bit and lengths of the
/// region in it, so that an access costs one index, one translation and one host load or
/// store, with no walk from the mapping to its regions. A row gives no access (both lengths
/// 0) for a slot whose region does not start at the slot's first address, for every slot
/// of the unaligned mapping, and for slots with no region; the general path decides those.
///
/// Invariant, relied on by the `unsafe` blocks of [`DirectRows::load`] and
/// [`DirectRows::store`]: each row was made by [`DirectRows::of`] from the regions the
/// mapping holds now, so its `host` is the pointer of a live [`HostBytes`] of at least
/// `load_len` bytes (invariant 1), writable for `store_len` bytes (`store_len` is 0 unless
/// the bytes are [`HostAccess::ReadWrite`], invariants 2 and 3). `MemoryMapping` keeps
/// this: it makes the rows when it is built and again whenever it replaces a region, the
/// only ways its regions change (`MemoryMapping::with_layout`, `replace_region`), and it
/// owns both, so the rows never outlive the regions. Loads borrow the mapping shared and
/// stores mutably, as its slices do, so no slice it handed out is alive during a store.
#[derive(Debug)]
pub(super) struct DirectRows {
    rows: [DirectRow; DIRECT_SLOTS],
}

impl DirectRows {
    /// The rows of an aligned mapping's regions (`regions[i]` in slot `i`), or with
    /// `regions` empty rows that give no access.
    pub(super) fn of(regions: &[MemoryRegion<'_>]) -> Self {
        let mut rows = [DirectRow::NONE; DIRECT_SLOTS];
        for ((slot, row), region) in rows.iter_mut().enumerate().zip(regions) {
            if region.vm_addr() != (slot as u64) << 32 {
                continue;
            }
            let host = &region.host;
            let len = host.len as u64;
            *row = DirectRow {
                host: host.ptr.as_ptr(),
                gap_bit: region.gap_bit(),
                load_len: len,
                store_len: match host.access {
                    HostAccess::ReadWrite => len,
                    HostAccess::ReadOnly => 0,
                },
            };
        }
        DirectRows { rows }
    }

    /// The row of `vaddr`'s slot and the offset into the slot, or `None` above the rows.
    #[inline(always)]
    fn row(&self, vaddr: u64) -> Option<(&DirectRow, u64)> {
        let row = self.rows.get(usize::try_from(vaddr >> 32).ok()?)?;
        Some((row, vaddr & 0xffff_ffff))
    }

    /// Loads `size` bytes at `vaddr`, little-endian and zero-extended, when a row gives the
    /// access; `None` sends it to the general path.
    #[inline(always)]
    pub(super) fn load(&self, size: MemSize, vaddr: u64) -> Option<u64> {
        let (row, offset) = self.row(vaddr)?;
        let at = row.translate(offset, size.bytes(), row.load_len)?;
        // SAFETY: `at + size <= load_len` (translate), and the row's `host` is valid for
        // reads of `load_len` bytes while the mapping holds the rows (the invariant of
        // `DirectRows`, kept by `MemoryMapping`); `&self` keeps every writer out.
        let value = unsafe {
            let ptr = row.host.add(at);
            match size {
                MemSize::B => u64::from(ptr.read()),
                MemSize::H => u64::from(u16::from_le(ptr.cast::<u16>().read_unaligned())),
                MemSize::W => u64::from(u32::from_le(ptr.cast::<u32>().read_unaligned())),
                MemSize::DW => u64::from_le(ptr.cast::<u64>().read_unaligned()),
            }
        };
        Some(value)
    }

    /// Reads `size` bytes at `vaddr` (little-endian, zero-extended), stores the low `size`
    /// bytes of `step` of them back in their place and answers `step`'s value, when a row
    /// gives the store (which it gives only where it gives the load too: a store length is
    /// 0 or the load length); `None`, with nothing read or written, sends it to the general
    /// path. One translation for both accesses of a counter stepped in memory.
    #[inline(always)]
    pub(super) fn modify(
        &mut self,
        size: MemSize,
        vaddr: u64,
        step: impl FnOnce(u64) -> u64,
    ) -> Option<u64> {
        let (row, offset) = self.row(vaddr)?;
        let at = row.translate(offset, size.bytes(), row.store_len)?;
        // A row's `host` is valid for reads and writes of `store_len` bytes (0 unless the
        // region is writable) while the mapping holds the rows: the invariant of
        // `DirectRows`, kept by `MemoryMapping`.
        // SAFETY: `at + size <= store_len` (translate), so by the above both accesses are in
        // bounds; `&mut self` (borrowed from the mapping) keeps other readers and writers out.
        let value = unsafe {
            let ptr = row.host.add(at);
            match size {
                MemSize::B => {
                    let value = step(u64::from(ptr.read()));
                    ptr.write(value as u8);
                    value
                }
                MemSize::H => {
                    let ptr = ptr.cast::<u16>();
                    let value = step(u64::from(u16::from_le(ptr.read_unaligned())));
                    ptr.write_unaligned((value as u16).to_le());
                    value
                }
                MemSize::W => {
                    let ptr = ptr.cast::<u32>();
                    let value = step(u64::from(u32::from_le(ptr.read_unaligned())));
                    ptr.write_unaligned((value as u32).to_le());
                    value
                }
                MemSize::DW => {
                    let ptr = ptr.cast::<u64>();
                    let value = step(u64::from_le(ptr.read_unaligned()));
                    ptr.write_unaligned(value.to_le());
                    value
                }
            }
        };
        Some(value)
    }

    /// Stores the low `size` bytes of `value` at `vaddr`, little-endian, when a row gives the
    /// access (never for a read-only region); `None` sends it to the general path.
    #[inline(always)]
    pub(super) fn store(&mut self, size: MemSize, vaddr: u64, value: u64) -> Option<()> {
        let (row, offset) = self.row(vaddr)?;
        let at = row.translate(offset, size.bytes(), row.store_len)?;
        // SAFETY: `at + size <= store_len` (translate), and a row's `host` is valid for
        // writes of `store_len` bytes, which is 0 unless the region is writable, while the
        // mapping holds the rows (the invariant of `DirectRows`, kept by `MemoryMapping`);
        // `&mut self` (borrowed from the mapping) keeps every other reader and writer out.
        unsafe {
            let ptr = row.host.add(at);
            match size {
                MemSize::B => ptr.write(value as u8),
                MemSize::H => ptr.cast::<u16>().write_unaligned((value as u16).to_le()),
                MemSize::W => ptr.cast::<u32>().write_unaligned((value as u32).to_le()),
                MemSize::DW => ptr.cast::<u64>().write_unaligned(value.to_le()),
            }
        }
        Some(())
    }
}
