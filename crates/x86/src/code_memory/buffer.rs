//! [`CodeBuffer`]: the growable byte buffer an [`Assembler`](crate::Assembler) emits into,
//! either on the heap (a `Vec`'s allocation) or straight in read-write code memory, so that a
//! JIT writes its code once, where it will run, instead of into a vector first and then
//! copying it into a fresh mapping.
//!
//! The buffer is a pointer, a length and a capacity, whatever holds the bytes: every write
//! is the same bounds check and copy as a `Vec`'s, and only growing (rare, out of line)
//! looks at the backing. Growing code memory takes a mapping twice the size from the same
//! pool and copies the bytes over; the old mapping goes back to the pool (made inaccessible
//! first, as every released writable mapping).

use super::{CodeMemoryError, CodePool, WritableCode};
use std::fmt;
use std::ptr::NonNull;

/// A growable code buffer (see the module doc). Dereferences to the bytes written so far.
pub struct CodeBuffer {
    /// The first byte of the backing's memory (dangling while the capacity is 0).
    ptr: NonNull<u8>,
    /// The bytes written: `[0, len)` is initialised.
    len: usize,
    /// The bytes the backing holds from `ptr` (all writable).
    cap: usize,
    backing: Backing,
}

/// What holds a [`CodeBuffer`]'s bytes.
enum Backing {
    /// A vector's allocation; the vector's own length stays 0 (the buffer's `len` counts).
    Heap(Vec<u8>),
    /// The read-write prefix of code memory from `pool`; its `used` stays 0 until
    /// [`CodeBuffer::into_writable`].
    Mapped { code: WritableCode, pool: CodePool },
}

// SAFETY: a `CodeBuffer` is the sole owner of the memory `ptr` points into (its `Backing`:
// a vector or a mapping, both `Send` and `Sync` themselves; `ptr` is never shared with
// another value), so moving it to another thread moves that ownership.
unsafe impl Send for CodeBuffer {}
// SAFETY: as above; `&CodeBuffer` only reads `[0, len)`, and every write takes `&mut self`.
unsafe impl Sync for CodeBuffer {}

impl CodeBuffer {
    /// A buffer over `vec`'s allocation (its contents are dropped: the buffer starts empty).
    pub fn from_vec(mut vec: Vec<u8>) -> CodeBuffer {
        vec.clear();
        let cap = vec.capacity();
        let ptr = NonNull::new(vec.as_mut_ptr()).unwrap_or(NonNull::dangling());
        CodeBuffer {
            ptr,
            len: 0,
            cap,
            backing: Backing::Heap(vec),
        }
    }

    /// A buffer straight in code memory from `pool`, with room for at least `capacity` bytes
    /// before it first grows.
    pub fn in_code_memory(pool: &CodePool, capacity: usize) -> Result<CodeBuffer, CodeMemoryError> {
        let mut code = pool.allocate(capacity)?;
        let cap = code.capacity();
        let ptr = NonNull::new(code.map.ptr.as_ptr()).unwrap_or(NonNull::dangling());
        code.used = 0;
        Ok(CodeBuffer {
            ptr,
            len: 0,
            cap,
            backing: Backing::Mapped {
                code,
                pool: pool.clone(),
            },
        })
    }

    /// The number of bytes written.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is written.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the bytes are in code memory (no copy is needed to run them).
    pub fn is_code_memory(&self) -> bool {
        matches!(self.backing, Backing::Mapped { .. })
    }

    /// Appends `bytes`.
    #[inline(always)]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if self.cap - self.len < bytes.len() {
            self.grow(bytes.len());
        }
        // SAFETY: `cap - len >= bytes.len()` (checked, or established by `grow`, which
        // asserts it), so the destination lies in the backing's writable memory; the source
        // is a Rust slice, which cannot overlap memory only this buffer reaches.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.as_ptr().add(self.len),
                bytes.len(),
            );
        }
        self.len += bytes.len();
    }

    /// Appends the `head_len` low bytes of `head` and then the `tail_len` low bytes of
    /// `tail` (little-endian; each length at most 8, longer is cut to 8): one instruction's
    /// bytes, laid out in two words, with one capacity check and two fixed-size stores.
    /// The stores write all 16 bytes; those past the new length are spare capacity, which
    /// the next write overwrites.
    #[inline(always)]
    pub fn append_words(&mut self, head: u64, head_len: usize, tail: u64, tail_len: usize) {
        const WORDS: usize = 2 * core::mem::size_of::<u64>();
        if self.cap - self.len < WORDS {
            self.grow(WORDS);
        }
        let head_len = head_len.min(8);
        // SAFETY: `cap - len >= 16` (checked, or established by `grow`, which asserts it),
        // so the 8 bytes at `len` and the 8 at `len + head_len <= len + 8` lie in the
        // backing's writable memory; unaligned stores have no alignment requirement.
        unsafe {
            let at = self.ptr.as_ptr().add(self.len);
            at.cast::<u64>().write_unaligned(head.to_le());
            at.add(head_len).cast::<u64>().write_unaligned(tail.to_le());
        }
        self.len += head_len + tail_len.min(8);
    }

    /// Appends the first `len` bytes of `block` (`len` at most 32, longer is cut to 32): a
    /// short pre-encoded sequence, with one capacity check and one fixed-size copy of all
    /// 32 bytes (those past the new length are spare capacity, which the next write
    /// overwrites), cheaper than a copy of variable length.
    #[inline(always)]
    pub fn append_block(&mut self, block: &[u8; 32], len: usize) {
        if self.cap - self.len < block.len() {
            self.grow(block.len());
        }
        // SAFETY: `cap - len >= 32` (checked, or established by `grow`, which asserts it),
        // so the 32 bytes at `len` lie in the backing's writable memory; the source is a
        // Rust array, which cannot overlap memory only this buffer reaches.
        unsafe {
            std::ptr::copy_nonoverlapping(block.as_ptr(), self.ptr.as_ptr().add(self.len), 32);
        }
        self.len += len.min(block.len());
    }

    /// Appends one byte.
    #[inline(always)]
    pub fn push(&mut self, byte: u8) {
        self.extend_from_slice(&[byte]);
    }

    /// Keeps the first `len` bytes (no effect if that is not shorter).
    #[inline(always)]
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Drops every byte.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Grows or shrinks to `len` bytes, new bytes set to `value`.
    pub fn resize(&mut self, len: usize, value: u8) {
        if len <= self.len {
            self.len = len;
            return;
        }
        let extra = len - self.len;
        if self.cap - self.len < extra {
            self.grow(extra);
        }
        // SAFETY: `cap - self.len >= extra` (checked, or established by `grow`), so
        // `[self.len, len)` is writable memory of the backing.
        unsafe {
            std::ptr::write_bytes(self.ptr.as_ptr().add(self.len), value, extra);
        }
        self.len = len;
    }

    /// Makes room for `additional` more bytes, out of line: the vector grows as vectors do;
    /// code memory moves to a mapping of the pool at least twice the size. If the pool
    /// cannot give one, the buffer moves to the heap (the code is copied into code memory
    /// when it is finished, as without this buffer). Afterwards `cap - len >= additional`
    /// (the writes rely on it; a vector that cannot grow aborts, as vectors do).
    #[inline(never)]
    #[cold]
    fn grow(&mut self, additional: usize) {
        let needed = self.len.saturating_add(additional);
        let wanted = needed.max(self.cap.saturating_mul(2)).max(64);
        let moved = match &mut self.backing {
            Backing::Heap(vec) => {
                // SAFETY: `[0, len)` of the vector's allocation is initialised (written
                // through `ptr` by this buffer) and `len <= capacity`.
                unsafe { vec.set_len(self.len) };
                vec.reserve(wanted - self.len);
                let cap = vec.capacity();
                let ptr = NonNull::new(vec.as_mut_ptr()).unwrap_or(NonNull::dangling());
                // SAFETY: 0 is always a valid length; the bytes stay in the allocation.
                unsafe { vec.set_len(0) };
                (ptr, cap, None)
            }
            Backing::Mapped { pool, .. } => {
                let backing = match pool.allocate(wanted) {
                    Ok(mut code) => {
                        let cap = code.capacity();
                        let ptr =
                            NonNull::new(code.map.ptr.as_ptr()).unwrap_or(NonNull::dangling());
                        code.used = 0;
                        (
                            ptr,
                            cap,
                            Backing::Mapped {
                                code,
                                pool: pool.clone(),
                            },
                        )
                    }
                    Err(_) => {
                        let mut vec = Vec::with_capacity(wanted);
                        let ptr = NonNull::new(vec.as_mut_ptr()).unwrap_or(NonNull::dangling());
                        (ptr, vec.capacity(), Backing::Heap(vec))
                    }
                };
                let (ptr, cap, backing) = backing;
                // SAFETY: the old memory's `[0, len)` is initialised and readable (its
                // mapping is still read-write: it is released below); the new memory is
                // writable for `cap >= wanted >= len` bytes and is another allocation, so
                // the two do not overlap.
                unsafe {
                    std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), ptr.as_ptr(), self.len);
                }
                (ptr, cap, Some(backing))
            }
        };
        let (ptr, cap, backing) = moved;
        self.ptr = ptr;
        self.cap = cap;
        if let Some(backing) = backing {
            // The old mapping is released here (parked in its pool, inaccessible).
            self.backing = backing;
        }
        assert!(
            self.cap - self.len >= additional,
            "a code buffer grew short of what it was asked for"
        );
    }

    /// The bytes as a vector (a copy when they are in code memory).
    pub fn into_vec(self) -> Vec<u8> {
        let CodeBuffer { len, backing, .. } = self;
        match backing {
            Backing::Heap(mut vec) => {
                // SAFETY: `[0, len)` of the vector's allocation is initialised (written
                // through `ptr` by this buffer) and `len <= capacity`.
                unsafe { vec.set_len(len) };
                vec
            }
            Backing::Mapped { mut code, .. } => {
                code.used = len;
                code.written().to_vec()
            }
        }
    }

    /// The bytes as writable code memory: where they are when the buffer is in code memory
    /// (no copy), else copied into memory from `pool`.
    pub fn into_writable(self, pool: &CodePool) -> Result<WritableCode, CodeMemoryError> {
        let CodeBuffer { len, backing, .. } = self;
        match backing {
            Backing::Mapped { mut code, .. } => {
                code.used = len;
                Ok(code)
            }
            Backing::Heap(mut vec) => {
                // SAFETY: as in `into_vec`.
                unsafe { vec.set_len(len) };
                let mut code = pool.allocate(len)?;
                code.append(&vec)?;
                Ok(code)
            }
        }
    }
}

impl Default for CodeBuffer {
    fn default() -> CodeBuffer {
        CodeBuffer::from_vec(Vec::new())
    }
}

impl Clone for CodeBuffer {
    /// A copy of the bytes, on the heap.
    fn clone(&self) -> CodeBuffer {
        let mut copy = CodeBuffer::from_vec(Vec::with_capacity(self.len));
        copy.extend_from_slice(self);
        copy
    }
}

impl fmt::Debug for CodeBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeBuffer")
            .field("len", &self.len)
            .field("cap", &self.cap)
            .field("code_memory", &self.is_code_memory())
            .finish()
    }
}

impl std::ops::Deref for CodeBuffer {
    type Target = [u8];

    #[inline(always)]
    fn deref(&self) -> &[u8] {
        // SAFETY: `[0, len)` is initialised (every length increase wrote its bytes first) and
        // lies in the backing's readable memory; `&self` keeps writes out meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for CodeBuffer {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes this the only view of the bytes.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::{Assembler, Gpr, Size};

    /// The same writes on a `Vec` and on a buffer of either backing.
    fn exercise(buffer: &mut CodeBuffer, reference: &mut Vec<u8>) {
        for round in 0..3000u32 {
            let bytes = round.to_le_bytes();
            buffer.extend_from_slice(&bytes[..(round % 4) as usize + 1]);
            reference.extend_from_slice(&bytes[..(round % 4) as usize + 1]);
            if round % 7 == 0 {
                buffer.push(0xAB);
                reference.push(0xAB);
            }
            if round % 11 == 0 {
                let len = reference.len() - 2;
                buffer.truncate(len);
                reference.truncate(len);
            }
            if round % 13 == 0 {
                let len = reference.len() + 5;
                buffer.resize(len, 0x90);
                reference.resize(len, 0x90);
            }
            if round % 5 == 0 {
                // Two words, each cut to its length (lengths past 8 count as 8).
                let (head, tail) = (u64::from(round) * 0x0101_0101, !u64::from(round));
                let (head_len, tail_len) = ((round % 10) as usize, (round % 9) as usize);
                buffer.append_words(head, head_len, tail, tail_len);
                reference.extend_from_slice(&head.to_le_bytes()[..head_len.min(8)]);
                reference.extend_from_slice(&tail.to_le_bytes()[..tail_len.min(8)]);
            }
            if let Some(byte) = buffer.get_mut(round as usize / 2) {
                *byte ^= 1;
                reference[round as usize / 2] ^= 1;
            }
        }
        assert_eq!(&buffer[..], &reference[..]);
    }

    #[test]
    fn heap_buffer_writes_as_a_vector_does() {
        let mut buffer = CodeBuffer::from_vec(vec![1, 2, 3]);
        assert!(buffer.is_empty() && !buffer.is_code_memory());
        let mut reference = Vec::new();
        exercise(&mut buffer, &mut reference);
        assert_eq!(buffer.clone().into_vec(), reference);
        assert_eq!(buffer.into_vec(), reference);
    }

    /// A buffer in code memory that starts with one page grows into larger mappings of its
    /// pool, keeps every byte, stays in code memory, and hands over the mapping it ended in.
    #[test]
    fn code_memory_buffer_grows_in_code_memory() {
        let pool = CodePool::new();
        let mut buffer = CodeBuffer::in_code_memory(&pool, 1).unwrap();
        let first = buffer.ptr;
        let mut reference = Vec::new();
        exercise(&mut buffer, &mut reference);
        assert!(
            reference.len() > 2 * 4096,
            "the test must outgrow the first page"
        );
        assert!(buffer.is_code_memory() && buffer.ptr != first);
        let end = buffer.ptr;
        let writable = buffer.into_writable(&pool).unwrap();
        assert_eq!(writable.as_ptr(), end.as_ptr().cast_const());
        assert_eq!(writable.written(), &reference[..]);
    }

    /// An assembler in code memory writes the bytes a heap assembler writes, and they run
    /// where they were written.
    #[test]
    fn assembler_in_code_memory_runs_in_place() {
        let pool = CodePool::new();
        let mut heap = Assembler::new();
        let mut mapped = Assembler::in_code_memory(&pool, 16, 0, 0).unwrap();
        for asm in [&mut heap, &mut mapped] {
            for _ in 0..2000 {
                asm.mov_imm(Size::S32, Gpr::Rcx, 7).unwrap();
            }
            asm.mov_imm(Size::S32, Gpr::Rax, 42).unwrap();
            asm.ret();
        }
        let heap = heap.finish().unwrap();
        let buffer = mapped.finish_buffer().unwrap();
        assert!(buffer.is_code_memory());
        let at = buffer.as_ptr();
        let code = buffer
            .into_writable(&pool)
            .unwrap()
            .make_executable()
            .unwrap();
        assert_eq!(code.as_ptr(), at);
        assert_eq!(code.as_slice(), &heap[..]);
        // SAFETY: `code` is 2000 `mov ecx, 7`, then `mov eax, 42; ret`, sealed read-execute;
        // it takes no arguments, touches only RAX and RCX (caller-saved) and follows the
        // System V return convention, and `code` outlives the call.
        let result = unsafe {
            let entry: extern "sysv64" fn() -> u64 = std::mem::transmute(code.as_ptr());
            entry()
        };
        assert_eq!(result, 42);
    }
}
