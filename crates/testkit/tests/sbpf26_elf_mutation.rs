//! Hostile ELFs for today's versions: deterministic mutations of the successor's test ELFs
//! (`shared/corpus/sbpf_elfs`: V0 files and V3 files with the strict program-header layout),
//! loaded, verified and run as `--config auto` does (the version their `e_flags` name).
//!
//! bpfvm must never panic, and must give what solana-sbpf 0.26's JIT gives: the same result or
//! the same error with its fields, pc, instruction count and memory, on both of its backends.
//! A mutant that makes 0.26 itself panic is counted and left out of the comparison.
//!
//! `BPFVM_SBPF26_MUTANTS=N` sets the mutants per file (a bounded slice by default).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod reference26;

use bpfvm_testkit::corpus::corpus_dir;
use bpfvm_testkit::harness::BACKENDS;
use bpfvm_testkit::sbpf26::ours::{self, compare, Case, Loader26, Program26};
use bpfvm_testkit::sbpf26::{Engine, VersionedOutcome};
use bpfvm_testkit::syscalls::SyscallSet;
use reference26::{Case26, LoaderMode};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Mutants per file by default: a slice CI runs in well under a minute.
const DEFAULT_MUTANTS: usize = 60;

/// Interesting values for overwritten fields: zero, one, alignments, the old SBFv2 flag, the
/// V3 region addresses, and the extremes.
const VALUES: [u64; 10] = [
    0,
    1,
    3,
    8,
    0x20,
    0x1_0000_0000,
    0x2_0000_0000,
    0xffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One mutation, mostly in the ELF header, the program headers (where the strict V3 loader
/// decides) and the section headers; sometimes anywhere, including the text.
fn mutate(bytes: &mut [u8], rng: &mut Rng) {
    let len = bytes.len();
    let at = match rng.below(4) {
        0 => rng.below(len),
        1 => rng.below(len.min(0x40)),
        2 => read_u64(bytes, 0x28).map_or(0, |shoff| shoff as usize) + rng.below(0x200),
        _ => rng.below(len.min(0x200)),
    }
    .min(len - 1);
    match rng.below(4) {
        0 => bytes[at] = rng.next() as u8,
        1 => bytes[at] ^= 1 << rng.below(8),
        _ => {
            let width = [1, 2, 4, 8][rng.below(4)];
            let value = VALUES[rng.below(VALUES.len())].to_le_bytes();
            let end = (at + width).min(len);
            bytes[at..end].copy_from_slice(&value[..end - at]);
        }
    }
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let field = bytes.get(at..at + 8)?;
    Some(u64::from_le_bytes(field.try_into().ok()?))
}

/// Every ELF of the successor's corpus.
fn corpus_files() -> Vec<PathBuf> {
    let dir = corpus_dir()
        .unwrap_or_else(|error| panic!("{error}"))
        .join("sbpf_elfs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "so"))
        .collect();
    files.sort();
    files
}

/// What the mutants of all files gave.
#[derive(Default)]
struct Tally {
    mutants: usize,
    compared: usize,
    reference_panics: usize,
    kinds: BTreeMap<String, usize>,
    mismatches: Vec<String>,
}

/// 0.26's JIT on a mutant, or `None` when 0.26 panics on it.
fn theirs(bytes: &[u8]) -> Option<VersionedOutcome> {
    let case = Case26 {
        loader: LoaderMode::Execute,
        syscalls: SyscallSet::Logging,
        input: &[0u8; 64],
        budget: 10_000,
        ..Case26::new(reference26::Program26::Elf(bytes))
    };
    catch_unwind(AssertUnwindSafe(|| reference26::run(&case, Engine::Jit))).ok()
}

/// Writes a mutant that bpfvm and 0.26 disagree on beside the test's other scratch files, for
/// `bpfvm run --config auto` to replay; returns where, or why it could not.
fn save_mutant(name: &str, round: usize, bytes: &[u8]) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sbpf26_mutants");
    let path = dir.join(format!("{name}.{round}.so"));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, bytes)) {
        Ok(()) => format!("saved as {}", path.display()),
        Err(error) => format!("not saved: {error}"),
    }
}

fn mutate_file(path: &PathBuf, mutants: usize, tally: &mut Tally) {
    let original = std::fs::read(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let seed = name.bytes().fold(0x5eed_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut rng = Rng(seed | 1);
    for round in 0..mutants {
        let mut bytes = original.clone();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut bytes, &mut rng);
        }
        tally.mutants += 1;
        let Some(expected) = theirs(&bytes) else {
            tally.reference_panics += 1;
            continue;
        };
        *tally.kinds.entry(expected.kind()).or_default() += 1;
        let case = Case {
            program: Program26::Elf(&bytes),
            loader: Loader26::Execute,
            syscalls: SyscallSet::Logging,
            input: &[0u8; 64],
            heap_size: reference26::AGAVE_HEAP_SIZE,
            budget: 10_000,
        };
        for &backend in BACKENDS {
            let actual = ours::run(&case, backend);
            tally.compared += 1;
            let differences = compare(&actual, &expected);
            if !differences.is_empty() && tally.mismatches.len() < 10 {
                let saved = save_mutant(&name, round, &bytes);
                tally.mismatches.push(format!(
                    "{name} mutant {round} on {backend:?} ({saved}): bpfvm {actual}, 0.26 {expected}: {differences:?}"
                ));
            }
        }
    }
}

#[test]
fn mutated_successor_elfs_never_panic_and_match_the_0_26_jit() {
    let mutants = std::env::var("BPFVM_SBPF26_MUTANTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_MUTANTS);
    let files = corpus_files();
    assert!(files.len() >= 20, "{} ELFs in sbpf_elfs", files.len());
    let mut tally = Tally::default();
    for file in &files {
        mutate_file(file, mutants, &mut tally);
    }
    println!(
        "{} mutants of {} files, {} comparisons, {} panics inside 0.26",
        tally.mutants,
        files.len(),
        tally.compared,
        tally.reference_panics
    );
    println!("0.26 JIT outcomes: {:?}", tally.kinds);
    // The mutations reach past the header checks: several error kinds, and mutants that
    // still load and run.
    assert!(tally.kinds.len() >= 5, "{:?}", tally.kinds);
    assert!(
        tally
            .kinds
            .iter()
            .any(|(kind, &n)| !kind.starts_with("load") && n > 0),
        "no mutant ran: {:?}",
        tally.kinds
    );
    assert!(
        tally.mismatches.is_empty(),
        "mismatches:\n{}",
        tally.mismatches.join("\n")
    );
}

/// Patches `bytes` at `at` after checking the bytes there are `was`.
fn patch(bytes: &mut [u8], at: usize, was: &[u8], now: &[u8]) {
    assert_eq!(&bytes[at..at + was.len()], was, "the corpus file changed");
    bytes[at..at + now.len()].copy_from_slice(now);
}

/// Two mutants the campaign found: section names that are not UTF-8 are compared as bytes
/// (a `.text` name running into `\xff` bytes is no `.text`; `.data\xdarel.ro` is writable
/// `.data`, named with the replacement character).
#[test]
fn section_names_that_are_not_utf8_are_compared_as_bytes() {
    let dir = corpus_dir().unwrap().join("sbpf_elfs");
    let mut no_text = std::fs::read(dir.join("reloc_64_relative_data_sbpfv0.so")).unwrap();
    patch(&mut no_text, 902, b"\0.ro", &[0xff; 4]);
    let mut data = std::fs::read(dir.join("long_symbol_name_sbpfv0.so")).unwrap();
    patch(&mut data, 1100, b".", &[0xda]);
    let expected = [
        "load NotOneTextSection",
        "load WritableSectionNotSupported(.data\u{fffd}rel.ro)",
    ];
    for (bytes, expected) in [no_text, data].iter().zip(expected) {
        let theirs = theirs(bytes).unwrap();
        assert!(theirs.to_string().contains(expected), "0.26 gave {theirs}");
        let case = Case {
            program: Program26::Elf(bytes),
            loader: Loader26::Execute,
            syscalls: SyscallSet::Logging,
            input: &[0u8; 64],
            heap_size: reference26::AGAVE_HEAP_SIZE,
            budget: 10_000,
        };
        for &backend in BACKENDS {
            let ours = ours::run(&case, backend);
            assert_eq!(compare(&ours, &theirs), Vec::<String>::new(), "{expected}");
        }
    }
}
