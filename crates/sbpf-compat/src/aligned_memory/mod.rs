//! Byte buffers whose start is aligned to `ALIGN` (solana-sbpf 0.26's `aligned_memory`
//! module): hosts build the stack, heap and serialized input in them and map them.
//!
//! The storage is a `Vec<u8>` allocated once with `ALIGN - 1` spare bytes and never grown,
//! so the aligned window inside it stays put when the value moves. It is always zeroed when
//! allocated (the real crate may leave `with_capacity` memory uninitialized; nothing can
//! observe the difference but speed). Writes past the capacity are refused, never grown into.

mod unchecked;

use std::io;

/// Plain data types that may be read from and written to guest memory as raw bytes.
pub trait Pod: Copy {}

impl Pod for u8 {}
impl Pod for u16 {}
impl Pod for u32 {}
impl Pod for u64 {}
impl Pod for i8 {}
impl Pod for i16 {}
impl Pod for i32 {}
impl Pod for i64 {}

/// A byte buffer aligned to `ALIGN`, with a fixed capacity and a length that grows by
/// writes.
pub struct AlignedMemory<const ALIGN: usize> {
    storage: Vec<u8>,
    /// Where the aligned window starts in `storage`.
    start: usize,
    /// The capacity of the window.
    capacity: usize,
    /// The bytes written so far.
    len: usize,
}

/// Whether `ptr` is a multiple of `align` (which must be a power of two; 0 and 1 align
/// everything).
pub fn is_memory_aligned(ptr: usize, align: usize) -> bool {
    align.checked_sub(1).is_none_or(|mask| ptr & mask == 0)
}

impl<const ALIGN: usize> AlignedMemory<ALIGN> {
    /// An empty buffer with room for `capacity` bytes.
    fn allocate(capacity: usize) -> Self {
        let spare = ALIGN.saturating_sub(1);
        let storage = vec![0u8; capacity.saturating_add(spare)];
        let address = storage.as_ptr() as usize;
        let start = match ALIGN {
            0 | 1 => 0,
            align => address.next_multiple_of(align) - address,
        };
        AlignedMemory {
            storage,
            start,
            capacity,
            len: 0,
        }
    }

    /// A copy of `data`.
    pub fn from_slice(data: &[u8]) -> Self {
        let mut memory = Self::allocate(data.len());
        memory.window_mut()[..data.len()].copy_from_slice(data);
        memory.len = data.len();
        memory
    }

    /// An empty buffer with room for `max_len` bytes.
    pub fn with_capacity(max_len: usize) -> Self {
        Self::allocate(max_len)
    }

    /// An empty buffer with room for `max_len` zeroed bytes.
    pub fn with_capacity_zeroed(max_len: usize) -> Self {
        Self::allocate(max_len)
    }

    /// `max_len` zero bytes.
    pub fn zero_filled(max_len: usize) -> Self {
        let mut memory = Self::allocate(max_len);
        memory.len = max_len;
        memory
    }

    /// The memory held, in bytes (the allocation and this value).
    pub fn mem_size(&self) -> usize {
        self.storage
            .capacity()
            .saturating_add(std::mem::size_of::<Self>())
    }

    /// The bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the next write goes (the length).
    pub fn write_index(&self) -> usize {
        self.len
    }

    /// The written bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The written bytes, mutably.
    pub fn as_slice_mut(&mut self) -> &mut [u8] {
        let range = self.start..self.start + self.len;
        &mut self.storage[range]
    }

    /// The whole aligned window (capacity bytes).
    fn window_mut(&mut self) -> &mut [u8] {
        let range = self.start..self.start + self.capacity;
        &mut self.storage[range]
    }

    /// The window of the next `count` bytes, or `None` past the capacity.
    fn next_bytes(&mut self, count: usize) -> Option<&mut [u8]> {
        let end = self.len.checked_add(count)?;
        if end > self.capacity {
            return None;
        }
        let start = self.len;
        self.len = end;
        self.window_mut().get_mut(start..end)
    }

    /// Appends `value` `num` times; an error past the capacity.
    pub fn fill_write(&mut self, num: usize, value: u8) -> io::Result<()> {
        let bytes = self.next_bytes(num).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "aligned memory fill_write failed",
            )
        })?;
        bytes.fill(value);
        Ok(())
    }
}

impl<const ALIGN: usize> std::fmt::Debug for AlignedMemory<ALIGN> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedMemory")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<const ALIGN: usize> PartialEq for AlignedMemory<ALIGN> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice() && self.capacity == other.capacity
    }
}

impl<const ALIGN: usize> Eq for AlignedMemory<ALIGN> {}

impl<const ALIGN: usize> Clone for AlignedMemory<ALIGN> {
    fn clone(&self) -> Self {
        let mut copy = Self::allocate(self.capacity);
        copy.window_mut()[..self.len].copy_from_slice(self.as_slice());
        copy.len = self.len;
        copy
    }
}

impl<const ALIGN: usize> io::Write for AlignedMemory<ALIGN> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bytes = self.next_bytes(buf.len()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "aligned memory write failed")
        })?;
        bytes.copy_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<const ALIGN: usize, T: AsRef<[u8]>> From<T> for AlignedMemory<ALIGN> {
    fn from(bytes: T) -> Self {
        AlignedMemory::from_slice(bytes.as_ref())
    }
}
