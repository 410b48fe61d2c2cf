//! The C benchmark kernels of `examples/c/kernels`, shared by `benches/native.rs` and
//! `tests/kernels.rs`: each kernel's committed BPF object (its raw, relocation-free `.text`,
//! with its pc-relative calls keyed as the 2022 loader keys them), its native build from the
//! same source (compiled by `build.rs`, called through FFI), its benchmark input, and loaders
//! for bpfvm, the reference and solana-sbpf 0.26 that run the very same bytes.

#![allow(
    dead_code,
    reason = "the bench and the test each use part of this module"
)]

use bpfvm::{
    verify, Executable, Function, FunctionRegistry, Loader, MemoryRegion, SbpfVersion, TestContext,
    VerifiedProgram, MM_INPUT_START,
};
use bpfvm_isa::Dialect;
use bpfvm_link::{link, Target};
use solana_rbpf::verifier::RequisiteVerifier;
use solana_rbpf::vm::{BuiltInProgram, Config, TestContextObject, VerifiedExecutable};
use std::sync::Arc;
use std::time::Duration;

/// The instruction budget of every run: far above what any kernel needs.
pub const BUDGET: u64 = 1 << 40;

// Each kernel is its own static library (build.rs), linked here by name.
#[link(name = "bpfvm_kernel_histogram", kind = "static")]
extern "C" {
    fn bpfvm_kernel_histogram(input: *mut u8) -> u64;
}
#[link(name = "bpfvm_kernel_checksum", kind = "static")]
extern "C" {
    fn bpfvm_kernel_checksum(input: *mut u8) -> u64;
}
#[link(name = "bpfvm_kernel_crc32", kind = "static")]
extern "C" {
    fn bpfvm_kernel_crc32(input: *mut u8) -> u64;
}
#[link(name = "bpfvm_kernel_sort", kind = "static")]
extern "C" {
    fn bpfvm_kernel_sort(input: *mut u8) -> u64;
}
#[link(name = "bpfvm_kernel_fib", kind = "static")]
extern "C" {
    fn bpfvm_kernel_fib(input: *mut u8) -> u64;
}
#[link(name = "bpfvm_kernel_collatz", kind = "static")]
extern "C" {
    fn bpfvm_kernel_collatz(input: *mut u8) -> u64;
}

/// The compiler `build.rs` built the native kernels with (`clang`, or the `cc` crate's
/// default when clang is missing).
pub const NATIVE_COMPILER: &str = env!("BPFVM_KERNEL_CC");

/// One kernel: its object, its native entry and its input layout.
pub struct Kernel {
    /// The kernel's name (its source is `examples/c/kernels/<name>.c`).
    pub name: &'static str,
    /// The committed BPF object.
    pub object: &'static [u8],
    /// The native build of the same source.
    native: unsafe extern "C" fn(*mut u8) -> u64,
    /// How many input bytes the kernel touches, from its header (None if that overflows).
    required_len: fn(&[u8]) -> Option<usize>,
    /// The benchmark input.
    pub input: fn() -> Vec<u8>,
}

fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at + 8)?;
    Some(u64::from_le_bytes(slice.try_into().ok()?))
}

fn len_at(bytes: &[u8], at: usize) -> Option<usize> {
    usize::try_from(word(bytes, at)?).ok()
}

/// Deterministic pseudo-random bytes (xorshift64).
pub fn noise(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// Histogram input: len, 256 zeroed u32 counters, `len` bytes.
pub fn histogram_input(len: usize) -> Vec<u8> {
    let mut input = (len as u64).to_le_bytes().to_vec();
    input.extend_from_slice(&[0u8; 1024]);
    input.extend(noise(len, 0x1234_5678_9abc_def1));
    input
}

/// Checksum input: word count, `words` source words, `words` zeroed destination words.
pub fn checksum_input(words: usize) -> Vec<u8> {
    let mut input = (words as u64).to_le_bytes().to_vec();
    input.extend(noise(words * 8, 0x0fed_cba9_8765_4321));
    input.extend(vec![0u8; words * 8]);
    input
}

/// CRC-32 input: len, then the bytes.
pub fn crc32_input(data: &[u8]) -> Vec<u8> {
    let mut input = (data.len() as u64).to_le_bytes().to_vec();
    input.extend_from_slice(data);
    input
}

/// Sort input: rounds, n, n u32 values.
pub fn sort_input(rounds: u64, n: usize) -> Vec<u8> {
    let mut input = rounds.to_le_bytes().to_vec();
    input.extend((n as u64).to_le_bytes());
    input.extend(noise(n * 4, 0x5555_aaaa_3333_cccc));
    input
}

/// Fib input: rounds, n.
pub fn fib_input(rounds: u64, n: u64) -> Vec<u8> {
    let mut input = rounds.to_le_bytes().to_vec();
    input.extend(n.to_le_bytes());
    input
}

/// Collatz input: the first start value, the number of start values.
pub fn collatz_input(start: u64, count: u64) -> Vec<u8> {
    let mut input = start.to_le_bytes().to_vec();
    input.extend(count.to_le_bytes());
    input
}

/// The kernels with their benchmark inputs: the memory-heavy ones, then the arithmetic and
/// branchy ones, then calls.
pub fn kernels() -> [Kernel; 6] {
    [
        Kernel {
            name: "histogram",
            object: include_bytes!("../../../../examples/c/kernels/histogram.o"),
            native: bpfvm_kernel_histogram,
            required_len: |b| len_at(b, 0)?.checked_add(8 + 1024),
            input: || histogram_input(64 * 1024),
        },
        Kernel {
            name: "checksum",
            object: include_bytes!("../../../../examples/c/kernels/checksum.o"),
            native: bpfvm_kernel_checksum,
            required_len: |b| len_at(b, 0)?.checked_mul(16)?.checked_add(8),
            input: || checksum_input(8 * 1024),
        },
        Kernel {
            name: "crc32",
            object: include_bytes!("../../../../examples/c/kernels/crc32.o"),
            native: bpfvm_kernel_crc32,
            required_len: |b| len_at(b, 0)?.checked_add(8),
            input: || crc32_input(&noise(16 * 1024, 0x0123_4567_89ab_cdef)),
        },
        Kernel {
            name: "sort",
            object: include_bytes!("../../../../examples/c/kernels/sort.o"),
            native: bpfvm_kernel_sort,
            required_len: |b| Some(16 + 4 * len_at(b, 8)?.min(96)),
            input: || sort_input(16, 96),
        },
        Kernel {
            name: "collatz",
            object: include_bytes!("../../../../examples/c/kernels/collatz.o"),
            native: bpfvm_kernel_collatz,
            required_len: |_| Some(16),
            input: || collatz_input(1, 3000),
        },
        Kernel {
            name: "fib",
            object: include_bytes!("../../../../examples/c/kernels/fib.o"),
            native: bpfvm_kernel_fib,
            required_len: |_| Some(16),
            input: || fib_input(64, 16),
        },
    ]
}

/// A kernel's text as the 2022 loader would have it: pc-relative calls rewritten to the keys
/// of their targets, which are registered with the entrypoint.
pub struct KeyedText {
    /// The text bytes.
    pub bytes: Vec<u8>,
    /// (key, name, pc) of every function, the entrypoint (pc 0) among them.
    pub functions: Vec<(u32, String, usize)>,
}

/// A kernel's input for its native build: 8-byte aligned words, checked against the kernel's
/// header once, so that runs cost only the call.
pub struct NativeInput {
    kernel: &'static str,
    words: Vec<u64>,
}

impl Kernel {
    /// `bytes` copied into aligned words (zero-padded) for this kernel.
    ///
    /// Panics if the input is shorter than its header says: the kernels trust their input.
    pub fn native_input(&self, bytes: &[u8]) -> NativeInput {
        let needed = (self.required_len)(bytes).expect("input header overflows");
        assert!(needed <= bytes.len(), "{} input too short", self.name);
        let words = bytes
            .chunks(8)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                u64::from_le_bytes(word)
            })
            .collect();
        NativeInput {
            kernel: self.name,
            words,
        }
    }

    /// Runs the native build on an input made by [`Kernel::native_input`] of this kernel.
    #[allow(unsafe_code, reason = "calling the C kernel through FFI")]
    pub fn run_native(&self, input: &mut NativeInput) -> u64 {
        assert_eq!(input.kernel, self.name, "input made for another kernel");
        // SAFETY: the kernel touches only the `required_len` bytes its header describes, in
        // aligned words; `native_input` checked this exclusively borrowed, aligned buffer
        // holds them, for this kernel (assert above); kernels keep no state between calls.
        unsafe { (self.native)(input.words.as_mut_ptr().cast::<u8>()) }
    }

    /// The object's `.text` bytes; panics if the object has relocations.
    pub fn text(&self) -> Vec<u8> {
        let info = bpfvm::elf::describe(self.object).unwrap();
        assert!(info.relocations.is_empty(), "{} has relocations", self.name);
        let text = info.sections.iter().find(|s| s.name == ".text").unwrap();
        let start = usize::try_from(text.offset).unwrap();
        let end = start + usize::try_from(text.size).unwrap();
        self.object[start..end].to_vec()
    }

    /// The `.text` with its calls keyed (bpfvm's loader does the fix-up, as the ELF loaders
    /// of 0.2.38 and 0.26 do for V0), so that every VM runs the very same bytes.
    pub fn keyed_text(&self) -> KeyedText {
        let program = self.ours();
        let executable = program.executable();
        KeyedText {
            bytes: executable.text().to_vec(),
            functions: executable
                .functions()
                .iter()
                .map(|(key, function)| (key, function.name.clone(), function.pc))
                .collect(),
        }
    }

    /// bpfvm's program: the raw `.text` with its relative calls fixed up, legacy
    /// configuration (what `preset_for` gives clang's objects: metering and the default
    /// checks on), entry at pc 0.
    pub fn ours(&self) -> VerifiedProgram<TestContext> {
        let loader = Arc::new(Loader::new(bpfvm::Config::legacy()));
        let executable = Executable::from_raw_program(&self.text(), loader, Dialect::Sbpf).unwrap();
        verify(executable).unwrap()
    }

    /// The V3 build of the kernel: its object linked by bpfvm-link into a strict-format
    /// file (SIMD-0189).
    pub fn v3_elf(&self) -> Vec<u8> {
        link(self.object, Target::V3).unwrap()
    }

    /// bpfvm's program under an SBPF version profile with Agave's settings
    /// (`Config::agave()`: metering on, call depth 64, constant blinding): V0 runs the raw
    /// keyed `.text` ([`Kernel::keyed_text`], the bytes 0.26 runs), V3 the linked strict file.
    /// Other versions have no build of the kernels.
    pub fn ours_sbpf(&self, version: SbpfVersion) -> VerifiedProgram<TestContext> {
        let loader = Arc::new(Loader::new(bpfvm::Config::agave()));
        let dialect = Dialect::Sbpf26(version);
        let executable = match version {
            SbpfVersion::V0 => {
                let keyed = self.keyed_text();
                let mut functions = FunctionRegistry::new();
                for (key, name, pc) in keyed.functions {
                    functions.insert(key, Function { pc, name }).unwrap();
                }
                Executable::from_text_bytes(&keyed.bytes, loader, dialect, functions)
            }
            SbpfVersion::V3 => Executable::from_elf_in(&self.v3_elf(), loader, dialect),
            SbpfVersion::V1 | SbpfVersion::V2 | SbpfVersion::V4 => {
                panic!("no {version:?} build of the kernels")
            }
        };
        verify(executable.unwrap()).unwrap()
    }

    /// bpfvm's program loaded from the object itself (ET_REL linking).
    pub fn ours_from_elf(&self) -> VerifiedProgram<TestContext> {
        let loader = Arc::new(Loader::new(bpfvm::Config::legacy()));
        verify(Executable::from_elf(self.object, loader).unwrap()).unwrap()
    }

    /// The reference's program: the same keyed `.text` bytes and functions, the reference's
    /// legacy settings.
    pub fn reference(&self) -> VerifiedExecutable<RequisiteVerifier, TestContextObject> {
        let config = Config {
            dynamic_stack_frames: false,
            enable_sdiv: false,
            static_syscalls: false,
            reject_callx_r10: false,
            ..Config::default()
        };
        let loader = Arc::new(BuiltInProgram::new_loader(config));
        let keyed = self.keyed_text();
        let functions = keyed
            .functions
            .into_iter()
            .map(|(key, name, pc)| (key, (pc, name)))
            .collect();
        let executable =
            solana_rbpf::elf::Executable::from_text_bytes(&keyed.bytes, loader, functions).unwrap();
        VerifiedExecutable::from_executable(executable).unwrap()
    }
}

/// The input region bpfvm maps for a kernel.
pub fn our_region(input: &mut [u8]) -> MemoryRegion<'_> {
    MemoryRegion::writable(input, MM_INPUT_START)
}

/// The time of one run: the median of 15 samples, each of enough back-to-back runs to last
/// about 2 ms (so that timer resolution and one-off stalls of short kernels wash out), timed
/// by the thread's CPU time ([`thread_time`]) so that time spent descheduled on a loaded
/// machine does not count.
pub fn time<F: FnMut()>(mut run: F) -> Duration {
    let start = thread_time();
    run();
    let once = (thread_time() - start).max(Duration::from_nanos(100));
    let batch = u32::try_from(2_000_000 / once.as_nanos()).map_or(u32::MAX, |n| n.max(1));
    let mut samples: Vec<Duration> = (0..15)
        .map(|_| {
            let start = thread_time();
            for _ in 0..batch {
                run();
            }
            (thread_time() - start) / batch
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// One engine's run of one kernel, as a timed column: its name and a closure that owns (or
/// borrows for its whole life) everything the run needs, and checks the run's outcome.
pub struct Column<'a> {
    /// The column's name (its criterion id).
    pub name: String,
    /// One checked run.
    pub run: Box<dyn FnMut() + 'a>,
}

/// The number of interleaved rounds [`time_columns`] takes; each column's time is the median
/// of its batches over the rounds.
pub const ROUNDS: usize = 21;

/// The CPU time the calling thread has used so far: unlike wall time, it does not count the
/// time the thread waits while other processes hold the (shared, 2-core) machine.
#[cfg(unix)]
#[allow(unsafe_code, reason = "reading the thread's CPU clock through libc")]
pub fn thread_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the whole call, and the clock id is
    // one every Unix libc defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "the thread's CPU clock is unreadable");
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(now.tv_nsec).unwrap_or(0);
    Duration::new(seconds, nanos)
}

/// Without a per-thread CPU clock: the time since the first call.
#[cfg(not(unix))]
pub fn thread_time() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// The time of one run of every column, measured so that the machine's drift hits all
/// columns alike: each column's batch is sized to about 2 ms (from one warm run), then
/// [`ROUNDS`] rounds each time one batch of every column, round robin, starting each round
/// at the next column; a batch is timed by the thread's CPU time ([`thread_time`]), and a
/// column's time is the median of its rounds' per-run times.
pub fn time_columns(columns: &mut [Column<'_>]) -> Vec<Duration> {
    let batches: Vec<u32> = columns
        .iter_mut()
        .map(|column| {
            (column.run)();
            let start = thread_time();
            (column.run)();
            let once = (thread_time() - start).max(Duration::from_nanos(100));
            u32::try_from(2_000_000 / once.as_nanos()).map_or(u32::MAX, |n| n.max(1))
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(ROUNDS); columns.len()];
    for round in 0..ROUNDS {
        for offset in 0..columns.len() {
            let index = (round + offset) % columns.len();
            let batch = batches[index];
            let run = &mut columns[index].run;
            let start = thread_time();
            for _ in 0..batch {
                run();
            }
            samples[index].push((thread_time() - start) / batch);
        }
    }
    samples
        .into_iter()
        .map(|mut times| {
            times.sort();
            times[times.len() / 2]
        })
        .collect()
}
