#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Hostile ELFs: thousands of deterministic mutations of the corpus ELFs. bpfvm must never
//! panic, and must give the reference's outcome (Ok, or the same error kind) wherever the
//! reference itself gives one (a panic inside the reference is counted and skipped).

mod elf_common;

use bpfvm::elf::exercise_loader;
use bpfvm::Config;
use elf_common::*;

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

/// Interesting values for overwritten fields.
const VALUES: [u64; 8] = [0, 1, 8, 0x20, 0xe8, 0xffff_ffff, 0x1_0000_0000, u64::MAX];

/// One mutation: a random byte, a bit flip, or an interesting 2/4/8-byte value, mostly in the
/// headers and tables (where the parser's decisions are), sometimes anywhere.
fn mutate(bytes: &mut [u8], rng: &mut Rng) {
    let len = bytes.len();
    let at = if rng.below(3) == 0 {
        rng.below(len)
    } else {
        rng.below(len.min(0x200))
    };
    match rng.below(4) {
        0 => bytes[at] = rng.next() as u8,
        1 => bytes[at] ^= 1 << rng.below(8),
        _ => {
            let width = [2, 4, 8][rng.below(3)];
            let value = VALUES[rng.below(VALUES.len())].to_le_bytes();
            let end = (at + width).min(len);
            bytes[at..end].copy_from_slice(&value[..end - at]);
        }
    }
}

/// The relocatable objects that bpfvm links and the reference rejects are outside the
/// comparison (ET_REL without program headers).
fn is_bare_object(bytes: &[u8]) -> bool {
    bytes.len() >= 58 && bytes[16..18] == [1, 0] && bytes[56..58] == [0, 0]
}

fn kind_only(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Loaded(_) => Outcome::Loaded(Layout {
            entry_pc: 0,
            text_vaddr: 0,
            text: vec![],
            ro_vaddr: 0,
            ro: vec![],
            functions: vec![],
        }),
        other => other,
    }
}

struct Tally {
    inputs: usize,
    compared: usize,
    reference_panics: usize,
    mismatches: Vec<String>,
    kinds: std::collections::BTreeMap<String, usize>,
}

fn run(files: &[String], per_file: usize, seed: u64, tally: &mut Tally) {
    let configs = [Config::default(), Config::legacy()];
    for (index, file) in files.iter().enumerate() {
        let original = read(file);
        let mut rng = Rng(seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for round in 0..per_file {
            let mut bytes = original.clone();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut bytes, &mut rng);
            }
            exercise_loader(&bytes);
            tally.inputs += 1;
            if is_bare_object(&bytes) {
                continue;
            }
            for config in configs {
                let expected = reference(&bytes, config, &["log", "log_64"]);
                if expected == Outcome::Panicked {
                    tally.reference_panics += 1;
                    continue;
                }
                let actual = ours(&bytes, config, &["log", "log_64"]);
                tally.compared += 1;
                let kind = match &actual {
                    Outcome::Failed(kind) => kind.clone(),
                    _ => "Ok".to_owned(),
                };
                *tally.kinds.entry(kind).or_default() += 1;
                // Layouts are compared in full when both load, kinds otherwise.
                let same = match (&expected, &actual) {
                    (Outcome::Loaded(_), Outcome::Loaded(_)) => expected == actual,
                    _ => kind_only(expected.clone()) == kind_only(actual.clone()),
                };
                if !same && tally.mismatches.len() < 20 {
                    tally.mismatches.push(format!(
                        "{file} round {round}: reference {:?}, bpfvm {:?}",
                        kind_only(expected),
                        kind_only(actual)
                    ));
                }
            }
        }
    }
}

#[test]
fn mutated_corpus_elfs_never_panic_and_match_the_reference() {
    let mut tally = Tally {
        inputs: 0,
        compared: 0,
        reference_panics: 0,
        mismatches: vec![],
        kinds: Default::default(),
    };
    run(&rbpf_elfs(), 150, 0x5eed, &mut tally);
    let small_production: Vec<String> = production_elfs()
        .into_iter()
        .filter(|f| f.contains("bpf_loader_test_elfs") || f.contains("memo-1.0.0"))
        .collect();
    run(&small_production, 100, 0xfeed, &mut tally);
    let large: Vec<String> = production_elfs()
        .into_iter()
        .filter(|f| f.contains("spl_token-3.5.0"))
        .collect();
    run(&large, 10, 0xbeef, &mut tally);
    println!(
        "{} inputs, {} comparisons, {} reference panics",
        tally.inputs, tally.compared, tally.reference_panics
    );
    println!("outcomes: {:?}", tally.kinds);
    assert!(tally.inputs >= 3000, "{} inputs", tally.inputs);
    // The mutations reach deep: many error kinds, and many mutants still load.
    assert!(tally.kinds.len() >= 8, "{:?}", tally.kinds);
    assert!(
        tally.kinds.get("Ok").is_some_and(|&n| n > 500),
        "{:?}",
        tally.kinds
    );
    assert!(
        tally.mismatches.is_empty(),
        "mismatches:\n{}",
        tally.mismatches.join("\n")
    );
}

#[test]
fn truncated_and_tiny_inputs_give_named_errors() {
    let noop = read("rbpf_elfs/noop.so");
    for len in (0..noop.len()).step_by(7) {
        let error = load(&noop[..len], Config::default(), &[]).err();
        assert!(
            error.is_some_and(|e| !e.kind().is_empty()),
            "prefix of {len} bytes"
        );
        exercise_loader(&noop[..len]);
    }
    for bytes in [&b""[..], b"\x7fELF", &[0u8; 64], &[0xffu8; 200]] {
        assert!(load(bytes, Config::default(), &[]).is_err());
    }
}

/// Our own extension (relocatable objects) has no reference: mutants must only never panic and
/// fail with named errors.
#[test]
fn mutated_objects_never_panic() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/elf_rel");
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for (index, name) in ["basic.o", "first_function.o"].iter().enumerate() {
        let original = std::fs::read(dir.join(name)).unwrap();
        let mut rng = Rng(0x0b1ec7 + index as u64);
        for _ in 0..1000 {
            let mut bytes = original.clone();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut bytes, &mut rng);
            }
            exercise_loader(&bytes);
            let kind = match load(&bytes, Config::legacy(), &["sol_log_"]) {
                Ok(_) => "Ok".to_owned(),
                Err(error) => error.kind().to_owned(),
            };
            *kinds.entry(kind).or_default() += 1;
        }
    }
    println!("object mutants: {kinds:?}");
    assert!(kinds.get("Ok").is_some_and(|&n| n > 100), "{kinds:?}");
    assert!(kinds.len() >= 5, "{kinds:?}");
}
