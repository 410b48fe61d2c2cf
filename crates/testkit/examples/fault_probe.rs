//! What a fresh page costs on this machine, and what avoids the cost: a probe for the cold
//! compile's page faults (issue 14 target 3). It owns no engine code and asserts nothing; it
//! prints, per way of getting N writable pages, the wall time per page (median of the
//! rounds) and the minor faults the process took.
//!
//! The ways, each on a fresh anonymous private mapping of N pages unless said otherwise:
//! - `fault`: `mmap`, then one byte written per page (a minor fault per page);
//! - `populate`: `mmap` with `MAP_POPULATE`, then the same writes;
//! - `populate_write`: `mmap`, `madvise(MADV_POPULATE_WRITE)` (Linux 5.14+), the writes;
//! - `reuse`: the writes to a mapping touched before (no fault: the floor);
//! - `vec`: a `Vec<u8>` of N pages from the allocator, filled by `resize` (what a table
//!   built with `Vec` pays; large blocks come from `mmap`, so this faults too);
//! - `fault_full`: `mmap`, then every byte written (a fault plus the page's write);
//! - `huge`: a 2 MiB-aligned part of a mapping advised `MADV_HUGEPAGE`, then the writes
//!   (where transparent huge pages are on for `madvise`, one fault maps and clears 2 MiB).
//!
//! Run: `cargo run --release -p bpfvm-testkit --example fault_probe -- [ROUNDS]`
//! (Linux; elsewhere it says so and exits).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[cfg(target_os = "linux")]
#[allow(
    unsafe_code,
    reason = "mapping, populating and unmapping pages through libc"
)]
mod probe {
    use std::time::{Duration, Instant};

    const PAGE: usize = 4096;
    /// `MADV_POPULATE_WRITE` (Linux 5.14); the libc crate may not name it on older targets.
    const MADV_POPULATE_WRITE: libc::c_int = 23;

    #[derive(Clone, Copy, Debug)]
    pub enum Way {
        Fault,
        Populate,
        PopulateWrite,
        Reuse,
        Vec,
        FaultFull,
        Huge,
    }

    pub const WAYS: [Way; 7] = [
        Way::Fault,
        Way::Populate,
        Way::PopulateWrite,
        Way::Reuse,
        Way::Vec,
        Way::FaultFull,
        Way::Huge,
    ];

    fn minor_faults() -> i64 {
        // SAFETY: `usage` is a valid, writable rusage for getrusage to fill.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; RUSAGE_SELF is a valid `who`.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
        usage.ru_minflt
    }

    /// A fresh anonymous read-write mapping of `len` bytes, with `flags` added.
    fn map(len: usize, flags: libc::c_int) -> *mut u8 {
        // SAFETY: an anonymous private mapping at an address the kernel chooses aliases
        // nothing; fd -1 and offset 0 as MAP_ANONYMOUS requires.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
                -1,
                0,
            )
        };
        assert_ne!(raw, libc::MAP_FAILED, "mmap");
        raw.cast()
    }

    fn unmap(ptr: *mut u8, len: usize) {
        // SAFETY: `ptr` and `len` are one whole mapping made by `map` and no longer used.
        unsafe { libc::munmap(ptr.cast(), len) };
    }

    /// One write per page of `[ptr, ptr + len)`.
    fn touch(ptr: *mut u8, len: usize) {
        for offset in (0..len).step_by(PAGE) {
            // SAFETY: `offset < len`, inside the read-write mapping `ptr` starts.
            unsafe { ptr.add(offset).write_volatile(1) };
        }
    }

    /// Every byte of `[ptr, ptr + len)` written.
    fn fill(ptr: *mut u8, len: usize) {
        // SAFETY: the range is the read-write mapping `ptr` starts.
        unsafe { std::ptr::write_bytes(ptr, 0x5a, len) };
        std::hint::black_box(ptr);
    }

    /// A fresh mapping of `len` bytes made with `flags`, written by `write`, then unmapped:
    /// the time since `since.0` to the end of the writes, and the faults since `since.1`.
    fn fresh(
        len: usize,
        flags: libc::c_int,
        since: (Instant, i64),
        write: impl FnOnce(*mut u8),
    ) -> (Duration, i64) {
        let ptr = map(len, flags);
        write(ptr);
        let took = since.0.elapsed();
        unmap(ptr, len);
        (took, minor_faults() - since.1)
    }

    /// One round of `way` over `pages` pages: the time from asking for the memory to having
    /// written it, and the faults taken.
    pub fn round(way: Way, pages: usize, warm: *mut u8) -> (Duration, i64) {
        let len = pages * PAGE;
        let faults = minor_faults();
        let start = Instant::now();
        match way {
            Way::Fault => return fresh(len, 0, (start, faults), |ptr| touch(ptr, len)),
            Way::Populate => {
                return fresh(len, libc::MAP_POPULATE, (start, faults), |ptr| {
                    touch(ptr, len)
                })
            }
            Way::PopulateWrite => {
                return fresh(len, 0, (start, faults), |ptr| {
                    // SAFETY: the range is one whole mapping we own; the advice only faults
                    // it in. Where it fails, the writes fault page by page.
                    unsafe { libc::madvise(ptr.cast(), len, MADV_POPULATE_WRITE) };
                    touch(ptr, len);
                });
            }
            Way::Reuse => touch(warm, len),
            Way::Vec => {
                let mut table: Vec<u8> = Vec::with_capacity(len);
                table.resize(len, 1);
                std::hint::black_box(&table);
                let took = start.elapsed();
                drop(table);
                return (took, minor_faults() - faults);
            }
            Way::Huge => {
                const HUGE: usize = 2 << 20;
                let span = len.div_ceil(HUGE) * HUGE + HUGE;
                let ptr = map(span, 0);
                let aligned = ptr.wrapping_add(ptr.align_offset(HUGE));
                // SAFETY: `[aligned, aligned + span - HUGE)` lies inside the mapping; the
                // advice changes only how its pages are backed.
                unsafe { libc::madvise(aligned.cast(), span - HUGE, libc::MADV_HUGEPAGE) };
                touch(aligned, len);
                let took = start.elapsed();
                unmap(ptr, span);
                return (took, minor_faults() - faults);
            }
            Way::FaultFull => return fresh(len, 0, (start, faults), |ptr| fill(ptr, len)),
        }
        (start.elapsed(), minor_faults() - faults)
    }

    pub fn run(rounds: usize) {
        let largest = 1024;
        let warm = map(largest * PAGE, 0);
        fill(warm, largest * PAGE);
        println!("way            pages  ns/page(median)  ns/page(min)  faults/round");
        for pages in [16, 64, 256, 1024] {
            for way in WAYS {
                let mut times: Vec<Duration> = Vec::with_capacity(rounds);
                let mut faults = 0;
                for _ in 0..rounds {
                    let (took, taken) = round(way, pages, warm);
                    times.push(took);
                    faults = taken;
                }
                times.sort();
                let per_page = |t: Duration| t.as_nanos() as f64 / pages as f64;
                println!(
                    "{:<14} {pages:>5}  {:>15.0}  {:>12.0}  {faults:>12}",
                    format!("{way:?}"),
                    per_page(times[rounds / 2]),
                    per_page(times[0]),
                );
            }
        }
        unmap(warm, largest * PAGE);
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(51, |n| n.parse().expect("a round count"));
    #[cfg(target_os = "linux")]
    probe::run(rounds.max(1));
    #[cfg(not(target_os = "linux"))]
    {
        let _ = rounds;
        println!("fault_probe measures Linux page faults; nothing to do here");
    }
}
