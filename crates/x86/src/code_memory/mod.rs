//! Code memory: pages that are writable or executable, never both, and the types say which.
//!
//! This is the only module of the crate with `unsafe`; it wraps `mmap`, `mprotect` and
//! `munmap` and the raw-pointer views of the mapped pages, and (`buffer.rs`) the
//! [`CodeBuffer`] an assembler emits into, on the heap or straight in code memory.
//!
//! # The W^X state machine
//!
//! * [`WritableCode`] owns a private anonymous mapping whose first pages (all of a fresh
//!   mapping, the pages asked for of a recycled one) are read-write. Code is appended
//!   with [`WritableCode::append`] and may be patched through [`WritableCode::written_mut`].
//! * [`WritableCode::make_executable`] consumes it. It fills the rest of the last used page
//!   with `int3` (0xCC), makes the used pages read-execute and any further pages inaccessible
//!   (`PROT_NONE`), and returns an [`ExecutableCode`]. No value can reach the pages for
//!   writing afterwards, and no page is ever mapped read-write-execute.
//! * Dropping either value releases the mapping: it is unmapped, or parked in its pool.
//!
//! # The pool and its reuse invariant
//!
//! A [`CodePool`] keeps released mappings by size class (a power-of-two number of pages) so
//! that compiling many small programs does not `mmap` each time. **Invariant:** a parked
//! mapping is never writable: released sealed code is parked as it is (read-execute pages,
//! then inaccessible ones; no `mprotect` on release), a released writable mapping is made
//! inaccessible first; and a parked mapping is made read-write, never read-write-execute,
//! before it is handed out again (any further pages still open from its last use become
//! inaccessible then). A mapping whose protection cannot be changed is unmapped instead of
//! parked. A pool keeps at most a fixed number of idle mappings per class and unmaps the
//! rest. Pools are shared between threads (`Clone` shares).

#![allow(unsafe_code)]

mod buffer;

pub use buffer::CodeBuffer;

use std::collections::BTreeMap;
use std::fmt;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};

/// The `int3` opcode that fills unused code memory.
const FILL: u8 = crate::opcodes::INT3;

/// How many idle mappings a pool keeps per size class unless told otherwise.
const DEFAULT_IDLE_PER_CLASS: usize = 8;

/// The libc call that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibcCall {
    /// `mmap`.
    Mmap,
    /// `mprotect`.
    Mprotect,
    /// `sysconf(_SC_PAGESIZE)`.
    Sysconf,
}

impl fmt::Display for LibcCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LibcCall::Mmap => "mmap",
            LibcCall::Mprotect => "mprotect",
            LibcCall::Sysconf => "sysconf(_SC_PAGESIZE)",
        })
    }
}

/// Why code memory could not be mapped, protected or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeMemoryError {
    /// A libc call failed.
    Libc {
        /// The call.
        call: LibcCall,
        /// The `errno` it left.
        errno: i32,
    },
    /// The requested size overflows when rounded up to pages.
    TooLarge {
        /// The requested number of bytes.
        requested: usize,
    },
    /// An append would run past the end of the mapping.
    OutOfSpace {
        /// The mapping's capacity in bytes.
        capacity: usize,
        /// The length the append needed.
        needed: usize,
    },
}

impl fmt::Display for CodeMemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeMemoryError::Libc { call, errno } => write!(
                f,
                "{call} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            CodeMemoryError::TooLarge { requested } => {
                write!(f, "{requested} bytes of code memory cannot be mapped")
            }
            CodeMemoryError::OutOfSpace { capacity, needed } => {
                write!(
                    f,
                    "code needs {needed} bytes but the mapping holds {capacity}"
                )
            }
        }
    }
}

impl std::error::Error for CodeMemoryError {}

fn last_error(call: LibcCall) -> CodeMemoryError {
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    CodeMemoryError::Libc { call, errno }
}

fn page_size() -> Result<usize, CodeMemoryError> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|size| size.is_power_of_two())
        .ok_or_else(|| last_error(LibcCall::Sysconf))
}

/// `len` rounded up to a multiple of `page`.
fn round_up(len: usize, page: usize) -> Option<usize> {
    len.checked_add(page - 1).map(|sum| sum & !(page - 1))
}

/// Page protections this module uses; there is deliberately no read-write-execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protection {
    None,
    ReadWrite,
    ReadExecute,
}

impl Protection {
    fn flags(self) -> libc::c_int {
        match self {
            Protection::None => libc::PROT_NONE,
            Protection::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
            Protection::ReadExecute => libc::PROT_READ | libc::PROT_EXEC,
        }
    }
}

/// One anonymous mapping, owned: unmapped (or parked in `home`) on drop.
///
/// Only the first `accessible` bytes may be anything but `PROT_NONE` (so that protecting a
/// recycled mapping touches only the pages in use, not the whole size class); they have the
/// protection `open`.
#[derive(Debug)]
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    accessible: usize,
    open: Protection,
    home: Option<Arc<PoolShared>>,
}

// SAFETY: a `Mapping` is the sole owner of its pages (it came from mmap and is never
// cloned); moving it to another thread moves that ownership, and `&Mapping` only exposes
// reads of pages that `&self` methods treat as immutable.
unsafe impl Send for Mapping {}
// SAFETY: as above; shared references never write through the pointer.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// A fresh read-write mapping of `len` bytes (`len` a non-zero multiple of the page size).
    fn new(len: usize, home: Option<Arc<PoolShared>>) -> Result<Mapping, CodeMemoryError> {
        // SAFETY: an anonymous private mapping at an address the kernel chooses aliases no
        // existing memory; the arguments are valid flags and fd -1 as MAP_ANONYMOUS requires.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                Protection::ReadWrite.flags(),
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(last_error(LibcCall::Mmap));
        }
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or_else(|| last_error(LibcCall::Mmap))?;
        Ok(Mapping {
            ptr,
            len,
            accessible: len,
            open: Protection::ReadWrite,
            home,
        })
    }

    /// Sets the protection of `[offset, offset + len)`; both are page multiples within the
    /// mapping (checked by the callers, which compute them from `self.len`).
    fn protect(
        &self,
        offset: usize,
        len: usize,
        protection: Protection,
    ) -> Result<(), CodeMemoryError> {
        if len == 0 {
            return Ok(());
        }
        // SAFETY: `offset + len <= self.len` (callers), so the range lies inside this mapping,
        // which we own; changing its protection cannot affect memory Rust references point to
        // because every view of the pages borrows the owning `WritableCode`/`ExecutableCode`.
        let result = unsafe {
            libc::mprotect(
                self.ptr.as_ptr().add(offset).cast(),
                len,
                protection.flags(),
            )
        };
        if result == 0 {
            Ok(())
        } else {
            Err(last_error(LibcCall::Mprotect))
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            // Park only a mapping that is not writable (the pool's reuse invariant; the pages
            // past `accessible` are inaccessible already, sealed code stays as it is).
            let closed = match self.open {
                Protection::ReadWrite => self.protect(0, self.accessible, Protection::None),
                Protection::None | Protection::ReadExecute => Ok(()),
            };
            if closed.is_ok() {
                // The pages now belong to `parked`; if the pool refuses it, dropping the
                // returned value (whose home is `None`) unmaps them.
                let (accessible, open) = match self.open {
                    Protection::ReadWrite => (0, Protection::None),
                    other => (self.accessible, other),
                };
                let parked = Mapping {
                    ptr: self.ptr,
                    len: self.len,
                    accessible,
                    open,
                    home: None,
                };
                drop(home.park(parked));
                return;
            }
        }
        // SAFETY: the mapping came from mmap with exactly this pointer and length and is
        // owned by `self` alone; nothing borrows it once its owner is being dropped.
        // A failing munmap leaks the pages, which is safe; there is nobody to report to.
        let _ = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Read-write code memory being filled. Never executable.
#[derive(Debug)]
pub struct WritableCode {
    map: Mapping,
    used: usize,
}

impl WritableCode {
    /// A fresh mapping with room for at least `min_len` bytes (rounded up to pages).
    pub fn new(min_len: usize) -> Result<WritableCode, CodeMemoryError> {
        let page = page_size()?;
        let len = round_up(min_len.max(1), page)
            .ok_or(CodeMemoryError::TooLarge { requested: min_len })?;
        Ok(WritableCode {
            map: Mapping::new(len, None)?,
            used: 0,
        })
    }

    /// The number of bytes written so far.
    pub fn len(&self) -> usize {
        self.used
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// The number of bytes that can be written (the read-write prefix of the mapping).
    pub fn capacity(&self) -> usize {
        self.map.accessible
    }

    /// The address of the first byte (for diagnostics; writing goes through `&mut self`).
    pub fn as_ptr(&self) -> *const u8 {
        self.map.ptr.as_ptr()
    }

    /// Appends `bytes` after what was written so far.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), CodeMemoryError> {
        let needed = self.used.checked_add(bytes.len());
        let end = needed.filter(|end| *end <= self.map.accessible).ok_or(
            CodeMemoryError::OutOfSpace {
                capacity: self.map.accessible,
                needed: needed.unwrap_or(usize::MAX),
            },
        )?;
        // SAFETY: `end <= self.map.accessible`, so the destination lies in the read-write
        // prefix of our mapping (a `WritableCode`'s first `accessible` bytes are read-write
        // from construction or `CodePool::allocate` to `make_executable`); the source is a
        // Rust slice, which cannot overlap pages only this value can reach.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.ptr.as_ptr().add(self.used),
                bytes.len(),
            );
        }
        self.used = end;
        Ok(())
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        // SAFETY: `[0, used)` is inside the read-write mapping and was initialised by
        // `append` (or by mmap's zero fill); `&self` prevents concurrent writes.
        unsafe { std::slice::from_raw_parts(self.map.ptr.as_ptr(), self.used) }
    }

    /// The bytes written so far, for patching in place.
    pub fn written_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `written`, and `&mut self` makes this the only view of the pages.
        unsafe { std::slice::from_raw_parts_mut(self.map.ptr.as_ptr(), self.used) }
    }

    /// Seals the code: fills the rest of the last used page with `int3`, makes the used
    /// pages read-execute and the remaining pages inaccessible. Consumes the writable value.
    pub fn make_executable(self) -> Result<ExecutableCode, CodeMemoryError> {
        let page = page_size()?;
        let code_end = round_up(self.used, page)
            .filter(|end| *end <= self.map.accessible)
            .ok_or(CodeMemoryError::TooLarge {
                requested: self.used,
            })?;
        // SAFETY: `[used, code_end)` lies inside the still read-write prefix (`accessible` is
        // a page multiple and `used <= accessible`, kept by `append`).
        unsafe {
            std::ptr::write_bytes(
                self.map.ptr.as_ptr().add(self.used),
                FILL,
                code_end - self.used,
            );
        }
        let mut map = self.map;
        map.protect(0, code_end, Protection::ReadExecute)?;
        if map.accessible > code_end {
            map.protect(code_end, map.accessible - code_end, Protection::None)?;
        }
        map.accessible = code_end;
        map.open = Protection::ReadExecute;
        Ok(ExecutableCode {
            map,
            len: self.used,
        })
    }
}

/// Read-execute code memory. Never writable.
#[derive(Debug)]
pub struct ExecutableCode {
    map: Mapping,
    len: usize,
}

impl ExecutableCode {
    /// The address of the first byte of code. Calling it is the JIT's (unsafe) business.
    pub fn as_ptr(&self) -> *const u8 {
        self.map.ptr.as_ptr()
    }

    /// The number of code bytes (the `int3` fill after them is not counted).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no code.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The code bytes, readable for disassembly and snapshots.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `[0, len)` is inside the read-execute part of the mapping, initialised
        // before sealing, and never written again.
        unsafe { std::slice::from_raw_parts(self.map.ptr.as_ptr(), self.len) }
    }
}

/// Shared state of a [`CodePool`]: idle mappings by size in bytes.
#[derive(Debug)]
struct PoolShared {
    idle: Mutex<BTreeMap<usize, Vec<Mapping>>>,
    idle_per_class: usize,
}

impl PoolShared {
    /// Keeps `mapping` for reuse, or hands it back when its class is full.
    fn park(&self, mapping: Mapping) -> Result<(), Mapping> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let class = idle.entry(mapping.len).or_default();
        if class.len() < self.idle_per_class {
            class.push(mapping);
            Ok(())
        } else {
            Err(mapping)
        }
    }

    fn take(&self, len: usize) -> Option<Mapping> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.get_mut(&len).and_then(Vec::pop)
    }
}

/// Recycles code mappings by power-of-two size class. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct CodePool {
    shared: Arc<PoolShared>,
}

impl Default for CodePool {
    fn default() -> CodePool {
        CodePool::with_idle_limit(DEFAULT_IDLE_PER_CLASS)
    }
}

impl CodePool {
    /// A pool that keeps up to 8 idle mappings per size class.
    pub fn new() -> CodePool {
        CodePool::default()
    }

    /// A pool that keeps up to `idle_per_class` idle mappings per size class.
    pub fn with_idle_limit(idle_per_class: usize) -> CodePool {
        let shared = PoolShared {
            idle: Mutex::new(BTreeMap::new()),
            idle_per_class,
        };
        CodePool {
            shared: Arc::new(shared),
        }
    }

    /// Writable memory for at least `min_len` bytes: an idle mapping of the size class made
    /// read-write again, or a fresh one. Either returns here when its owner is dropped.
    pub fn allocate(&self, min_len: usize) -> Result<WritableCode, CodeMemoryError> {
        let page = page_size()?;
        let len = round_up(min_len.max(1), page)
            .and_then(usize::checked_next_power_of_two)
            .ok_or(CodeMemoryError::TooLarge { requested: min_len })?;
        let home = Some(Arc::clone(&self.shared));
        let map = match self.shared.take(len) {
            Some(mut parked) => {
                // Only the pages asked for become writable; the rest is (made) inaccessible.
                // A failure drops `parked` (home `None`, not writable), which unmaps it.
                let needed = round_up(min_len.max(1), page)
                    .filter(|needed| *needed <= len)
                    .unwrap_or(len);
                if parked.accessible > needed {
                    let rest = parked.accessible - needed;
                    parked.protect(needed, rest, Protection::None)?;
                    parked.accessible = needed;
                }
                parked.protect(0, needed, Protection::ReadWrite)?;
                parked.accessible = needed;
                parked.open = Protection::ReadWrite;
                parked.home = home;
                parked
            }
            None => Mapping::new(len, home)?,
        };
        Ok(WritableCode { map, used: 0 })
    }

    /// The number of idle mappings the pool holds.
    pub fn idle(&self) -> usize {
        let idle = self
            .shared
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        idle.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::{Assembler, Gpr, Size};

    fn returning(value: i32) -> Vec<u8> {
        let mut asm = Assembler::new();
        asm.mov_imm(Size::S32, Gpr::Rax, value).unwrap();
        asm.ret();
        asm.finish().unwrap()
    }

    fn call(code: &ExecutableCode) -> u64 {
        // SAFETY: `code` holds a complete `mov eax, imm32; ret` sequence emitted by the
        // Assembler, sealed read-execute by `make_executable`; it takes no arguments, touches
        // only RAX and follows the System V return convention, and `code` outlives the call.
        unsafe {
            let entry: extern "sysv64" fn() -> u64 = std::mem::transmute(code.as_ptr());
            entry()
        }
    }

    #[test]
    fn runs_generated_code() {
        let mut writable = WritableCode::new(64).unwrap();
        writable.append(&returning(42)).unwrap();
        let code = writable.make_executable().unwrap();
        assert_eq!(call(&code), 42);
        assert_eq!(code.len(), 6);
    }

    #[test]
    fn pool_reuses_and_rewrites_a_mapping() {
        let pool = CodePool::new();
        let mut first = pool.allocate(100).unwrap();
        first.append(&returning(42)).unwrap();
        let first = first.make_executable().unwrap();
        let address = first.as_ptr();
        assert_eq!(call(&first), 42);
        drop(first);
        assert_eq!(pool.idle(), 1);
        let mut second = pool.allocate(200).unwrap();
        assert_eq!(second.as_ptr(), address);
        assert_eq!(pool.idle(), 0);
        second.append(&returning(7)).unwrap();
        let second = second.make_executable().unwrap();
        assert_eq!(call(&second), 7);
        assert_eq!(second.as_slice().len(), 6);
    }

    #[test]
    fn recycled_mapping_opens_only_the_pages_asked_for() {
        let pool = CodePool::new();
        let page = page_size().unwrap();
        let mut first = pool.allocate(4 * page).unwrap();
        assert_eq!(first.capacity(), 4 * page);
        first.append(&returning(3)).unwrap();
        let first = first.make_executable().unwrap();
        let address = first.as_ptr();
        drop(first);
        let mut second = pool.allocate(3 * page).unwrap();
        assert_eq!(second.as_ptr(), address);
        assert_eq!(second.capacity(), 3 * page);
        second.append(&vec![0x90; 3 * page - 5]).unwrap();
        assert!(matches!(
            second.append(&returning(5)),
            Err(CodeMemoryError::OutOfSpace { .. })
        ));
        let second = second.make_executable().unwrap();
        assert_eq!(second.len(), 3 * page - 5);
    }

    /// The permissions (`rwxp` column of `/proc/self/maps`) of the page at `address`.
    fn permissions(address: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let range = fields.next().unwrap();
            let (start, end) = range.split_once('-').unwrap();
            let start = usize::from_str_radix(start, 16).unwrap();
            let end = usize::from_str_radix(end, 16).unwrap();
            if (start..end).contains(&address) {
                return fields.next().unwrap()[..3].to_string();
            }
        }
        panic!("{address:#x} is not mapped");
    }

    #[test]
    fn parked_mappings_are_never_writable() {
        let pool = CodePool::new();
        let page = page_size().unwrap();
        let mut first = pool.allocate(4 * page).unwrap();
        let base = first.as_ptr() as usize;
        let pages = |perms: &[&str]| {
            for (index, expected) in perms.iter().enumerate() {
                assert_eq!(permissions(base + index * page), *expected, "page {index}");
            }
        };
        first.append(&vec![0x90; 3 * page + 1]).unwrap();
        pages(&["rw-", "rw-", "rw-", "rw-"]);
        let first = first.make_executable().unwrap();
        pages(&["r-x", "r-x", "r-x", "r-x"]);
        // Sealed code is parked as it is: executable, not writable.
        drop(first);
        pages(&["r-x", "r-x", "r-x", "r-x"]);
        // Reused (same size class) for less: the pages asked for are writable, the rest
        // inaccessible.
        let mut second = pool.allocate(3 * page).unwrap();
        assert_eq!(second.as_ptr() as usize, base);
        pages(&["rw-", "rw-", "rw-", "---"]);
        second.append(&returning(9)).unwrap();
        let second = second.make_executable().unwrap();
        assert_eq!(call(&second), 9);
        pages(&["r-x", "---", "---", "---"]);
        drop(second);
        // A writable mapping released unsealed is parked inaccessible.
        let third = pool.allocate(3 * page).unwrap();
        assert_eq!(third.as_ptr() as usize, base);
        pages(&["rw-", "rw-", "rw-", "---"]);
        drop(third);
        pages(&["---", "---", "---", "---"]);
    }

    #[test]
    fn tail_of_last_page_is_int3_even_after_reuse() {
        let pool = CodePool::new();
        let mut first = pool.allocate(4096).unwrap();
        first.append(&[0x90; 300]).unwrap();
        drop(first.make_executable().unwrap());
        let mut second = pool.allocate(4096).unwrap();
        second.append(&returning(1)).unwrap();
        let second = second.make_executable().unwrap();
        let page = page_size().unwrap();
        // SAFETY: the first page of the mapping is read-execute (sealed by make_executable,
        // which covers `[0, round_up(len, page))`) and `second` is alive for the read.
        let sealed = unsafe { std::slice::from_raw_parts(second.as_ptr(), page) };
        assert_eq!(&sealed[..6], returning(1).as_slice());
        assert!(sealed[6..].iter().all(|byte| *byte == FILL));
    }
}
