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
