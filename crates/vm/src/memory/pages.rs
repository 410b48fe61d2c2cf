//! Reusable zeroed memory for a VM's stack and heap: [`VmMemory`], which a host keeps from
//! one VM to the next so that an invocation does not zero (or allocate) a fresh 256 KiB stack.
//!
//! Every time a [`VmMemory`] lends a stack and a heap they are all zero, whatever earlier
//! borrowers wrote. It holds a few slots of stack and heap ([`SLOTS`]) in one block and lends
//! them in turn; when no slot is clean, it makes all of them zero again at once. How it does
//! that cheaply:
//!
//! * **Linux** (glibc or musl): the block is one private anonymous mapping (`mmap`), whose
//!   pages read as zero until first touched. It is locked *on fault* (`mlock2` with
//!   `MLOCK_ONFAULT`), so a page that was ever touched stays resident and is never swapped
//!   out, and a page that is not resident holds nothing but zeros; huge pages are declined
//!   (`MADV_NOHUGEPAGE`), so that no page becomes resident without being touched. A reset
//!   clears the resident pages with `memset` and leaves the rest alone. Which pages are
//!   resident, `mincore` says; and a page only becomes resident through a page fault, which
//!   the process's fault count (`getrusage`, all threads, faults the kernel takes to
//!   populate pages included) records. So while that count has not moved since the last
//!   `mincore`, the last answer still holds and the reset costs one cheap system call per
//!   [`SLOTS`] lends plus the `memset` of the few pages short runs touch. Pages never fault
//!   again after their first touch (which `madvise(MADV_DONTNEED)` would cause on every
//!   run, and a fault costs more than zeroing its page). When any of this cannot be trusted
//!   (the lock or a call failed, a `RLIMIT_MEMLOCK` too small, a kernel or an emulator
//!   without the calls, or a fork's child, which inherits the mapping but not its lock) the
//!   reset clears every byte lent, which is always correct. In a process whose other
//!   threads take page faults all the time, most resets ask `mincore` again. (Another
//!   process writing into this memory, as a debugger can, is outside what any of this sees.)
//! * **Every other host**: one zeroed heap allocation, reset by clearing every byte lent.
//!
//! Invariants, relied on by every `unsafe` block and by the exactness of every run:
//! 1. A [`Block`]'s `ptr` is valid for reads and writes of `len` bytes until the block is
//!    dropped, and nothing but the block names those bytes (they come from a fresh `mmap` or
//!    allocation whose address only the block holds; slices handed out borrow the
//!    [`VmMemory`] mutably, so at most one lent stack and heap is alive at a time).
//! 2. Every byte of a slot at or past its `dirty` mark is zero: a clean slot is all zero.
//!    Bytes only change through lent slices, which cover a slot's first `dirty` bytes.

#![allow(unsafe_code)]

use core::ptr::NonNull;

/// Where each lent part starts within the block: parts are page-aligned on common hosts, so
/// that the stack and the heap never share a page and the alignment covers `HOST_ALIGN`.
const PART_ALIGN: usize = 4096;

/// How many stack-and-heap slots one [`VmMemory`] holds. Lends go round the slots; when
/// none is clean, all are cleared at once, so that one residency query (a system call whose
/// fixed cost is most of a short invocation's reset) serves this many invocations.
const SLOTS: usize = 4;

/// A stack and a heap that a host keeps from one VM to the next (see the module
/// documentation): each [`VmMemory::lend`] gives all-zero bytes, clearing only what earlier
/// borrowers could have touched. Made empty; the memory is mapped on the first `lend` and
/// mapped again, larger, when a later one asks for more.
#[derive(Debug, Default)]
pub struct VmMemory {
    block: Option<Block>,
    /// The size of one slot (a multiple of [`PART_ALIGN`]); the block holds [`SLOTS`].
    slot: usize,
    /// How many bytes from the start of each slot were lent since it was last cleared (0
    /// for a clean slot); every byte of a slot past its mark is zero.
    dirty: [usize; SLOTS],
    /// The next slot to lend ([`SLOTS`] when every slot has been lent this round).
    next: usize,
    /// Whether the block's residency, asked at the start of this round, says which pages of
    /// the slots can hold data (otherwise a slot is cleared up to its mark).
    residency: Residency,
}

/// What is known, at the start of a round of lends, about which pages can hold data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Residency {
    /// Only the pages the block's residency marks (Linux, see the module documentation).
    Known,
    /// Any byte lent since the slot was last cleared.
    #[default]
    Unknown,
}

impl VmMemory {
    /// Empty memory (nothing is mapped until the first [`VmMemory::lend`]).
    pub const fn new() -> Self {
        VmMemory {
            block: None,
            slot: 0,
            dirty: [0; SLOTS],
            next: 0,
            residency: Residency::Unknown,
        }
    }

    /// All-zero bytes for a stack of `stack_len` bytes and a heap of `heap_len` bytes, each
    /// 16-byte aligned (at least), valid until the next `lend`. `None` when the sizes are not
    /// representable or the host cannot map the memory (the previous memory is kept then).
    pub fn lend(&mut self, stack_len: usize, heap_len: usize) -> Option<(&mut [u8], &mut [u8])> {
        let heap_start = round_up(stack_len)?;
        let slot = heap_start.checked_add(round_up(heap_len)?)?.max(PART_ALIGN);
        let block_len = slot.checked_mul(SLOTS)?;
        let lent = heap_start + heap_len;
        let block = match self.block.take() {
            Some(mut block) if self.slot >= slot => {
                if self.next == SLOTS {
                    self.residency = block.refresh_residency();
                    self.next = 0;
                }
                block
            }
            old => match Block::zeroed(block_len) {
                Some(block) => {
                    self.slot = slot;
                    self.dirty = [0; SLOTS];
                    self.next = 0;
                    block
                }
                None => {
                    self.block = old;
                    return None;
                }
            },
        };
        let index = self.next;
        let start = index * self.slot;
        let block = self.block.insert(block);
        if let Some(mark) = self.dirty.get_mut(index) {
            block.clear(start..start + self.slot, *mark, self.residency);
            *mark = lent;
        }
        self.next += 1;
        let bytes = block.bytes_mut();
        let (stack, rest) = bytes.get_mut(start..)?.split_at_mut_checked(heap_start)?;
        let stack = stack.get_mut(..stack_len)?;
        let heap = rest.get_mut(..heap_len)?;
        Some((stack, heap))
    }

    /// The number of bytes mapped (0 before the first [`VmMemory::lend`]).
    pub fn capacity(&self) -> usize {
        self.block.as_ref().map_or(0, |block| block.len)
    }
}

/// `len` rounded up to [`PART_ALIGN`], or `None` on overflow.
fn round_up(len: usize) -> Option<usize> {
    Some(len.checked_add(PART_ALIGN - 1)? & !(PART_ALIGN - 1))
}

/// One zeroed host allocation (see the module documentation for its two forms).
#[derive(Debug)]
struct Block {
    ptr: NonNull<u8>,
    len: usize,
    /// What frees the bytes and how they are reset.
    kind: os::Kind,
}

// SAFETY: a `Block` owns its bytes outright (nothing else names them, see the module
// invariant), so moving it to another thread moves sole access with it; it has no
// thread-affine state (a mapping and its lock belong to the process, not the thread).
unsafe impl Send for Block {}

impl Block {
    /// A fresh block of at least `len` zero bytes (`len` > 0), or `None` when the host
    /// refuses it.
    fn zeroed(len: usize) -> Option<Block> {
        os::zeroed(len)
    }

    /// All the bytes.
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the module invariant: `ptr` is valid for reads and writes of `len` bytes
        // while the block lives and nothing else names them; the slice borrows `self`
        // mutably, so it is the only live view.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Asks which pages can hold data, at the start of a round of lends: each slot is then
    /// cleared by that answer when it is lent (no page of a slot can become resident before,
    /// since nothing touches a slot that is not lent).
    fn refresh_residency(&mut self) -> Residency {
        match os::refresh_residency(self) {
            true => Residency::Known,
            false => Residency::Unknown,
        }
    }

    /// Makes the slot `range` zero again, just before it is lent (so that the bytes the run
    /// will touch are in the cache): the resident pages, or its first `mark` bytes (all that
    /// its last borrower could write).
    fn clear(&mut self, range: core::ops::Range<usize>, mark: usize, residency: Residency) {
        if mark == 0 {
            return;
        }
        match residency {
            Residency::Known => os::clear_resident(self, range),
            Residency::Unknown => {
                let end = range.start.saturating_add(mark).min(range.end);
                if let Some(bytes) = self.bytes_mut().get_mut(range.start..end) {
                    bytes.fill(0);
                }
            }
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        os::release(self);
    }
}

/// The Linux form: an anonymous mapping locked on fault, cleared by residency.
#[cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
mod os {
    use super::Block;
    use core::ptr::NonNull;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    /// How many times this process is a fork's child of the process that started it (bumped
    /// in the child by a `pthread_atfork` handler). A child inherits the mapping but not its
    /// lock, so residency says nothing there about which pages hold data.
    static FORKS: AtomicU64 = AtomicU64::new(0);

    /// Whether the fork handler is registered (once per process).
    static WATCHING_FORKS: OnceLock<bool> = OnceLock::new();

    extern "C" fn forked() {
        FORKS.fetch_add(1, Ordering::Relaxed);
    }

    /// The fork count, or `None` when forks cannot be watched.
    fn fork_generation() -> Option<u64> {
        let watching = *WATCHING_FORKS.get_or_init(|| {
            // SAFETY: registers a handler that only bumps an atomic (async-signal-safe, as a
            // fork handler must be); no pointers are passed.
            unsafe { libc::pthread_atfork(None, None, Some(forked)) == 0 }
        });
        watching.then(|| FORKS.load(Ordering::Relaxed))
    }

    /// Page faults the process has taken so far (all its threads, the ones the kernel takes
    /// on its behalf to populate pages included), or `None` when the kernel will not say.
    fn process_faults() -> Option<u64> {
        let mut usage = core::mem::MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: `usage` is valid for writes of one `rusage`, which getrusage fills on
        // success (checked before it is read).
        let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if status != 0 {
            return None;
        }
        // SAFETY: getrusage succeeded, so it initialized `usage`.
        let usage = unsafe { usage.assume_init() };
        let minor = u64::try_from(usage.ru_minflt).ok()?;
        let major = u64::try_from(usage.ru_majflt).ok()?;
        minor.checked_add(major)
    }

    /// How a block was made, and what is known of its pages.
    #[derive(Debug)]
    pub(super) struct Kind {
        /// The host's page size.
        page: usize,
        /// The fork generation the block was locked in; `None` when it is not locked (then
        /// residency proves nothing and every reset clears all lent bytes).
        locked_in: Option<u64>,
        /// A byte per page, bit 0 set for a page that was resident at the last `mincore`.
        residency: Vec<u8>,
        /// The process's fault count taken just before that `mincore` (`None` when there
        /// was none to trust). While the count has not moved, no page anywhere has become
        /// resident since, so the residency still covers every page that can hold data.
        faults_before: Option<u64>,
    }

    /// The page size, or `None` when the host will not say.
    fn page_size() -> Option<usize> {
        // SAFETY: sysconf has no memory-safety preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size)
            .ok()
            .filter(|size| size.is_power_of_two())
    }

    /// A fresh private anonymous mapping of `len` bytes (rounded up to pages), locked on
    /// fault when the host allows it.
    pub(super) fn zeroed(len: usize) -> Option<Block> {
        let page = page_size()?;
        let len = len.checked_add(page - 1)? & !(page - 1);
        // SAFETY: a new anonymous mapping at an address of the kernel's choosing aliases
        // nothing; the arguments are plain values.
        let raw = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let ptr = NonNull::new(raw.cast::<u8>())?;
        let generation = fork_generation();
        // SAFETY: `[raw, raw + len)` is the mapping made above. Huge pages would make pages
        // resident that were never touched (khugepaged fills holes), so they are declined;
        // without that promise residency is not trusted.
        let small_pages = unsafe { libc::madvise(raw, len, libc::MADV_NOHUGEPAGE) } == 0;
        // SAFETY: as above; locking changes no contents (a failure leaves it unlocked).
        let locked = unsafe { libc::mlock2(raw, len, libc::MLOCK_ONFAULT) } == 0;
        Some(Block {
            ptr,
            len,
            kind: Kind {
                page,
                locked_in: generation.filter(|_| small_pages && locked),
                residency: vec![0; len / page],
                faults_before: None,
            },
        })
    }

    /// Learns which pages of the block can hold data: the resident ones (the rest read as
    /// zero). Residency comes from `mincore`, or from the last `mincore` when the process
    /// has taken no page fault since. `false` when residency cannot be trusted or asked (an
    /// unlocked block, a fork's child, a failed call).
    pub(super) fn refresh_residency(block: &mut Block) -> bool {
        if block.kind.locked_in.is_none() || block.kind.locked_in != fork_generation() {
            return false;
        }
        let faults = process_faults();
        if faults.is_none() || faults != block.kind.faults_before {
            block.kind.faults_before = None;
            let vec = block.kind.residency.as_mut_ptr();
            // SAFETY: `[ptr, ptr + len)` is the block's mapping and `vec` has room for one
            // byte per page of it (`len` is a whole number of pages).
            let status = unsafe { libc::mincore(block.ptr.as_ptr().cast(), block.len, vec) };
            if status != 0 {
                return false;
            }
        }
        block.kind.faults_before = faults;
        true
    }

    /// Zeroes the bytes of `range` that lie in pages resident at the last
    /// [`refresh_residency`].
    pub(super) fn clear_resident(block: &mut Block, range: core::ops::Range<usize>) {
        let page = block.kind.page;
        let residency = core::mem::take(&mut block.kind.residency);
        let resident = |index: usize| residency.get(index).is_some_and(|byte| byte & 1 != 0);
        let last = range.end.div_ceil(page).min(residency.len());
        let mut first = range.start / page;
        while first < last {
            if !resident(first) {
                first += 1;
                continue;
            }
            let mut end = first + 1;
            while end < last && resident(end) {
                end += 1;
            }
            let from = (first * page).max(range.start);
            let to = (end * page).min(range.end);
            if let Some(bytes) = block.bytes_mut().get_mut(from..to) {
                bytes.fill(0);
            }
            first = end;
        }
        block.kind.residency = residency;
    }

    /// Unmaps the block.
    pub(super) fn release(block: &mut Block) {
        // SAFETY: `[ptr, ptr + len)` is the mapping `zeroed` made, unmapped only here, once
        // (the block is being dropped); no slice of it outlives the block.
        unsafe { libc::munmap(block.ptr.as_ptr().cast(), block.len) };
    }
}

/// Every other host: a zeroed heap allocation, cleared in full.
#[cfg(not(all(target_os = "linux", any(target_env = "gnu", target_env = "musl"))))]
mod os {
    use super::{Block, PART_ALIGN};
    use core::ptr::NonNull;
    use std::alloc::{alloc_zeroed, dealloc, Layout};

    /// How a block was made: its layout.
    #[derive(Debug)]
    pub(super) struct Kind(Layout);

    /// A zeroed allocation of `len` bytes.
    pub(super) fn zeroed(len: usize) -> Option<Block> {
        let layout = Layout::from_size_align(len.max(1), PART_ALIGN).ok()?;
        // SAFETY: `layout` has a non-zero size, as `alloc_zeroed` requires.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        Some(Block {
            ptr,
            len,
            kind: Kind(layout),
        })
    }

    /// Residency is not known here: the caller clears every lent byte.
    pub(super) fn refresh_residency(_block: &mut Block) -> bool {
        false
    }

    /// Never asked for here (residency is never known); clears the whole range.
    pub(super) fn clear_resident(block: &mut Block, range: core::ops::Range<usize>) {
        if let Some(bytes) = block.bytes_mut().get_mut(range) {
            bytes.fill(0);
        }
    }

    /// Frees the allocation.
    pub(super) fn release(block: &mut Block) {
        // SAFETY: `ptr` came from `alloc_zeroed(layout)` with this layout and is freed only
        // here, once (the block is being dropped).
        unsafe { dealloc(block.ptr.as_ptr(), block.kind.0) };
    }
}
