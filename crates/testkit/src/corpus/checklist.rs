//! `sbpf_elfs/checklist.tsv`: what solana-sbpf 0.26 does with each of the successor's test
//! ELFs under Agave's execution settings (`shared/corpus/sbpf_elfs/README.md` §5).
//!
//! One [`ChecklistRow`] per line: the file, its `e_flags` and the version 0.26 makes of them,
//! the setup's deviations from the baseline ([`Deviation`]), the input, the expected outcome
//! ([`Expected`]: `ok <r0>`, or a stage and 0.26's error with the faulting slot for run
//! errors), the instruction count, and the free-text columns. Errors are parsed with
//! [`describe_debug`], so they compare field by field with a run's [`VersionedOutcome`].

use super::{corpus_dir, decode_hex, malformed, read, CorpusError};
use crate::outcome::{show_result, ErrorDesc, Stage};
use crate::sbpf26::{describe_debug, Version, VersionedOutcome};
use std::path::{Path, PathBuf};

/// A way a row's setup deviates from the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Deviation {
    /// No syscalls registered (the baseline registers the logging set).
    NoSyscalls,
    /// `reject_broken_elfs` on (Agave's deployment setting).
    RejectBrokenElfs,
}

/// What 0.26 gives for a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// The program returned this r0.
    Ok(u64),
    /// A stage failed with this error; `slot` is the faulting pc of a run error.
    Error {
        /// The error (its stage is where it came from).
        error: ErrorDesc,
        /// The faulting slot (run errors only).
        slot: Option<u64>,
    },
}

/// One line of the checklist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChecklistRow {
    /// The 1-based line in the file.
    pub line: usize,
    /// The ELF, relative to `sbpf_elfs/`.
    pub file: String,
    /// The file's `e_flags`.
    pub e_flags: u32,
    /// The version 0.26 makes of them (`None`: Reserved).
    pub version: Option<Version>,
    /// Deviations from the baseline.
    pub setup: Vec<Deviation>,
    /// The input bytes.
    pub input: Vec<u8>,
    /// The expected outcome.
    pub expected: Expected,
    /// The instructions charged, when the program ran.
    pub instructions: Option<u64>,
    /// `agree` when 0.26's interpreter and JIT matched in everything.
    pub interp_jit: String,
    /// What the upstream test suite expects.
    pub upstream_expectation: String,
    /// What the row shows.
    pub note: String,
}

impl ChecklistRow {
    /// The row's file in the corpus.
    pub fn path(&self) -> Result<PathBuf, CorpusError> {
        Ok(corpus_dir()?.join("sbpf_elfs").join(&self.file))
    }

    /// Whether the setup has `deviation`.
    pub fn deviates(&self, deviation: Deviation) -> bool {
        self.setup.contains(&deviation)
    }

    /// Every way `outcome` differs from the row: the result, the faulting slot of a run
    /// error, the instruction count. Empty when it matches.
    pub fn differences(&self, outcome: &VersionedOutcome) -> Vec<String> {
        let mut out = Vec::new();
        let (result, slot) = match &self.expected {
            Expected::Ok(r0) => (Ok(*r0), None),
            Expected::Error { error, slot } => (Err(error.clone()), *slot),
        };
        if outcome.result != result {
            out.push(format!(
                "result: got {}, expected {}",
                show_result(&outcome.result),
                show_result(&result)
            ));
        }
        if slot.is_some() && outcome.pc != slot {
            out.push(format!("slot: got {:?}, expected {slot:?}", outcome.pc));
        }
        let count = self.instructions.unwrap_or(0);
        if outcome.instruction_count != count {
            out.push(format!(
                "instructions: got {}, expected {count}",
                outcome.instruction_count
            ));
        }
        out
    }
}

/// Reads the checklist of the corpus.
pub fn load_checklist() -> Result<Vec<ChecklistRow>, CorpusError> {
    let path = corpus_dir()?.join("sbpf_elfs").join("checklist.tsv");
    parse_checklist(&path, &read(&path)?)
}

/// Parses checklist text (a header line, then tab-separated rows).
pub fn parse_checklist(path: &Path, text: &str) -> Result<Vec<ChecklistRow>, CorpusError> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if index == 0 || line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| malformed(path, index + 1, reason);
        let columns: Vec<&str> = line.split('\t').collect();
        let [file, e_flags, version, setup, input, expected, instructions, interp_jit, upstream, note] =
            columns[..]
        else {
            return Err(bad("expected 10 tab-separated columns"));
        };
        let e_flags = e_flags
            .strip_prefix("0x")
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .ok_or_else(|| bad("bad e_flags"))?;
        let version = match version {
            "Reserved" => None,
            name => Some(
                Version::ALL
                    .into_iter()
                    .find(|version| version.to_string() == name)
                    .ok_or_else(|| bad("bad version"))?,
            ),
        };
        rows.push(ChecklistRow {
            line: index + 1,
            file: file.to_owned(),
            e_flags,
            version,
            setup: parse_setup(setup).map_err(|reason| bad(&reason))?,
            input: decode_hex(input).map_err(|reason| bad(&reason))?,
            expected: parse_expected(expected).map_err(|reason| bad(&reason))?,
            instructions: match instructions {
                "-" => None,
                count => Some(count.parse().map_err(|_| bad("bad instruction count"))?),
            },
            interp_jit: interp_jit.to_owned(),
            upstream_expectation: upstream.to_owned(),
            note: note.to_owned(),
        });
    }
    Ok(rows)
}

fn parse_setup(text: &str) -> Result<Vec<Deviation>, String> {
    if text == "-" {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|item| match item.trim() {
            "no_syscalls" => Ok(Deviation::NoSyscalls),
            "reject_broken_elfs" => Ok(Deviation::RejectBrokenElfs),
            other => Err(format!("unknown setup {other:?}")),
        })
        .collect()
}

/// Parses `ok 0x2a`, `load ElfError(..)`, `verify VerifierError(..)` or
/// `run Kind(..) (slot N)`.
pub fn parse_expected(text: &str) -> Result<Expected, String> {
    let text = text.trim();
    if let Some(r0) = text.strip_prefix("ok ") {
        let value = r0
            .strip_prefix("0x")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .ok_or_else(|| format!("bad r0 in {text:?}"))?;
        return Ok(Expected::Ok(value));
    }
    let (stage, rest) = text
        .split_once(' ')
        .ok_or_else(|| format!("no stage in {text:?}"))?;
    let stage = match stage {
        "load" => Stage::Load,
        "verify" => Stage::Verify,
        "run" => Stage::Runtime,
        other => return Err(format!("unknown stage {other:?}")),
    };
    let (error, slot) = match rest.rsplit_once(" (slot ") {
        Some((error, slot)) => {
            let slot = slot
                .strip_suffix(')')
                .and_then(|slot| slot.parse().ok())
                .ok_or_else(|| format!("bad slot in {text:?}"))?;
            (error, Some(slot))
        }
        None => (rest, None),
    };
    Ok(Expected::Error {
        error: describe_debug(stage, error),
        slot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Field;

    #[test]
    fn expected_outcomes_parse() {
        assert_eq!(parse_expected("ok 0x2a"), Ok(Expected::Ok(42)));
        let Ok(Expected::Error { error, slot }) = parse_expected("run CallDepthExceeded (slot 2)")
        else {
            panic!("not an error");
        };
        assert_eq!(
            (error.stage, error.kind.as_str(), slot),
            (Stage::Runtime, "CallDepthExceeded", Some(2))
        );
        let Ok(Expected::Error { error, slot }) =
            parse_expected("verify VerifierError(UnknownOpCode(121, 0))")
        else {
            panic!("not an error");
        };
        assert_eq!(slot, None);
        assert_eq!(
            error.fields,
            vec![Field::Value("121".to_owned()), Field::Pc(0)]
        );
        assert!(parse_expected("maybe 1").is_err());
    }

    #[test]
    fn rows_parse_and_bad_rows_are_errors() {
        let path = Path::new("checklist.tsv");
        let text = "header\na.so\t0x3\tV3\tno_syscalls,reject_broken_elfs\t01\tload ElfError(UnsupportedSBPFVersion)\t-\tagree\t-\tnote\n";
        let rows = parse_checklist(path, text).unwrap_or_default();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].version, Some(Version::V3));
        assert!(rows[0].deviates(Deviation::RejectBrokenElfs));
        assert_eq!(rows[0].input, vec![1]);
        assert!(parse_checklist(path, "header\na.so\t0x3\n").is_err());
        assert!(parse_checklist(path, &text.replace("V3", "V9")).is_err());
    }
}
