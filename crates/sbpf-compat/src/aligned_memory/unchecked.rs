//! The real API's unchecked writes. They are `unsafe fn` because the real crate skips the
//! capacity check; here the check is kept (a write past the capacity panics instead of
//! corrupting memory), so the functions are safe in fact and only unsafe in name.
#![allow(unsafe_code)]

use super::{AlignedMemory, Pod};
use crate::memory_region::{HostBuffer, HostMemoryObject};

impl<const ALIGN: usize> AlignedMemory<ALIGN> {
    /// Appends the bytes of `value`.
    ///
    /// # Safety
    ///
    /// There must be room for `size_of::<T>()` bytes (the real crate does not check; this one
    /// panics when there is none).
    #[allow(clippy::expect_used, reason = "the caller promised the room")]
    pub unsafe fn write_unchecked<T: Pod>(&mut self, value: T) {
        let size = size_of::<T>();
        let bytes = self
            .next_bytes(size)
            .expect("AlignedMemory::write_unchecked past the capacity");
        // SAFETY: `bytes` is exactly `size_of::<T>()` writable bytes; the write is unaligned.
        unsafe { std::ptr::write_unaligned(bytes.as_mut_ptr().cast::<T>(), value) };
    }

    /// Appends `value`.
    ///
    /// # Safety
    ///
    /// There must be room for `value.len()` bytes (checked here: a panic when there is none).
    #[allow(clippy::expect_used, reason = "the caller promised the room")]
    pub unsafe fn write_all_unchecked(&mut self, value: &[u8]) {
        self.next_bytes(value.len())
            .expect("AlignedMemory::write_all_unchecked past the capacity")
            .copy_from_slice(value);
    }
}

// SAFETY: the buffer is the memory's written bytes, which live as long as it does.
unsafe impl<const A: usize> HostMemoryObject for &AlignedMemory<A> {
    fn host(self) -> HostBuffer {
        HostBuffer::Immutable(std::ptr::from_ref(self.as_slice()))
    }
}

// SAFETY: as for the shared reference, writable.
unsafe impl<const A: usize> HostMemoryObject for &mut AlignedMemory<A> {
    fn host(self) -> HostBuffer {
        HostBuffer::Mutable(std::ptr::from_mut(self.as_slice_mut()))
    }
}
