//! The shared test corpus: where it lives and how its files read.
//!
//! Three files matter here (see `shared/corpus/README.md`): the bpf_conformance `.data`
//! vectors (parsed exactly as bpf_conformance's `bpf_test_parser.cc` does, §1.1 of that README),
//! `assembled.jsonl` (the bytecode bpf_conformance's own assembler produced for each vector) and
//! `rbpf-0.2.38-results.tsv` (what the reference did with each vector in sBPF).
//!
//! [`checklist`] reads the fourth: `sbpf_elfs/checklist.tsv`, solana-sbpf 0.26's outcome for
//! each of the successor's test ELFs.
//!
//! A missing corpus is an error that says where it looked, never an empty list: a test that
//! silently ran nothing would pass for the wrong reason.
//!
//! The reference reports program counters as slot + 29; [`RecordedOutcome`] holds them as
//! slot indices, converted here once with [`bpfvm::REFERENCE_PC_OFFSET`].

pub mod checklist;

use crate::outcome::{ErrorDesc, Stage};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable that overrides the corpus location.
pub const CORPUS_ENV: &str = "BPFVM_CORPUS";

/// Why the corpus could not be read.
#[derive(Debug)]
pub enum CorpusError {
    /// No corpus directory at the expected place.
    NotFound {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A file's content does not have the expected format.
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorpusError::NotFound { path } => write!(
                f,
                "test corpus not found at {} (set {CORPUS_ENV} to the shared/corpus directory)",
                path.display()
            ),
            CorpusError::Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            CorpusError::Malformed { path, line, reason } => {
                write!(f, "{}:{line}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for CorpusError {}

/// The corpus root: `$BPFVM_CORPUS`, else `<repo>/../shared/corpus`.
pub fn corpus_dir() -> Result<PathBuf, CorpusError> {
    let path = match std::env::var_os(CORPUS_ENV) {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    };
    if path.join("bpf_conformance").is_dir() {
        Ok(path)
    } else {
        Err(CorpusError::NotFound { path })
    }
}

/// The bpf_conformance directory of the corpus.
pub fn conformance_dir() -> Result<PathBuf, CorpusError> {
    Ok(corpus_dir()?.join("bpf_conformance"))
}

pub(crate) fn read(path: &Path) -> Result<String, CorpusError> {
    std::fs::read_to_string(path).map_err(|error| CorpusError::Io {
        path: path.to_owned(),
        error,
    })
}

/// One parsed `.data` vector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataFile {
    /// The `-- asm` lines, comments removed, empty lines dropped.
    pub asm: Vec<String>,
    /// The `-- raw` slots, when present (they replace the assembled asm).
    pub raw: Option<Vec<u64>>,
    /// The `-- mem` bytes.
    pub mem: Vec<u8>,
    /// The expected r0 (`-- result`), when present.
    pub result: Option<u64>,
    /// The expected error text (`-- error`), when present.
    pub error: Option<String>,
}

impl DataFile {
    /// The assembly text, one instruction or label per line.
    pub fn asm_text(&self) -> String {
        let mut text = self.asm.join("\n");
        text.push('\n');
        text
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Asm,
    Result,
    Mem,
    Raw,
    Ignored,
    Error,
}

/// Parses a `.data` file as bpf_conformance does. `None` means the parser would skip the
/// file (an unknown directive, or neither a result nor an error section).
pub fn parse_data_file(text: &str) -> Option<DataFile> {
    let mut file = DataFile::default();
    let mut section = Section::None;
    let mut results: Vec<String> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for raw_line in text.split('\n') {
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let line = match line.find('#') {
            Some(at) => &line[..at],
            None => line,
        };
        if line.contains("--") {
            section = directive(line)?;
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        match section {
            Section::Asm => file.asm.push(line.trim().to_owned()),
            Section::Result => results.push(line.trim().to_owned()),
            Section::Mem => file.mem.extend(line.split_whitespace().map(parse_hex_byte)),
            Section::Raw => {
                let raw = file.raw.get_or_insert_with(Vec::new);
                raw.extend(line.split_whitespace().map(parse_number));
            }
            Section::Error => errors.push(line.trim().to_owned()),
            Section::None | Section::Ignored => {}
        }
    }
    file.result = results.last().map(|text| parse_number(text));
    file.error = (!errors.is_empty()).then(|| errors.join("\n"));
    (file.result.is_some() || file.error.is_some()).then_some(file)
}

fn directive(line: &str) -> Option<Section> {
    let checks = [
        ("asm", Section::Asm),
        ("result", Section::Result),
        ("mem", Section::Mem),
        ("raw", Section::Raw),
        ("no register offset", Section::Ignored),
        (" c", Section::Ignored),
        ("error", Section::Error),
    ];
    checks
        .iter()
        .find(|(needle, _)| line.contains(needle))
        .map(|&(_, section)| section)
}

/// A number as the parser reads it: hex when it contains `0x`, else decimal. Unparsable text
/// reads as 0, like a failed stream extraction.
fn parse_number(text: &str) -> u64 {
    let text = text.trim();
    match text.find("0x") {
        Some(at) => u64::from_str_radix(hex_prefix(&text[at + 2..]), 16).unwrap_or(0),
        None => {
            let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().unwrap_or(0)
        }
    }
}

fn hex_prefix(text: &str) -> &str {
    let end = text
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(text.len());
    &text[..end]
}

/// A `-- mem` token: hex with or without `0x`, truncated to a byte.
fn parse_hex_byte(token: &str) -> u8 {
    let digits = token.strip_prefix("0x").unwrap_or(token);
    u64::from_str_radix(hex_prefix(digits), 16).unwrap_or(0) as u8
}

/// One conformance vector with everything the corpus records about it.
#[derive(Clone, Debug)]
pub struct Vector {
    /// The file name, e.g. `add.data`.
    pub name: String,
    /// The parsed `.data` file.
    pub data: DataFile,
    /// The bytecode from `assembled.jsonl`.
    pub code: Vec<u8>,
    /// The reference's sBPF outcome from `rbpf-0.2.38-results.tsv`.
    pub reference: RecordedOutcome,
}

/// Loads every vector: the `.data` files joined with `assembled.jsonl` and the results TSV.
/// A vector missing from either derived file is an error.
pub fn load_vectors() -> Result<Vec<Vector>, CorpusError> {
    let dir = conformance_dir()?;
    let assembled = read_assembled(&dir.join("assembled.jsonl"))?;
    let results = read_results(&dir.join("rbpf-0.2.38-results.tsv"))?;
    let tests_dir = dir.join("tests");
    let entries = std::fs::read_dir(&tests_dir).map_err(|error| CorpusError::Io {
        path: tests_dir.clone(),
        error,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".data"))
        .collect();
    names.sort();
    let mut vectors = Vec::with_capacity(names.len());
    for name in names {
        let path = tests_dir.join(&name);
        let data = parse_data_file(&read(&path)?).ok_or_else(|| malformed(&path, 0, "skipped"))?;
        let entry = assembled
            .get(&name)
            .ok_or_else(|| malformed(&path, 0, "missing from assembled.jsonl"))?;
        let reference = results
            .get(&name)
            .cloned()
            .ok_or_else(|| malformed(&path, 0, "missing from the results TSV"))?;
        vectors.push(Vector {
            name,
            data,
            code: entry.code.clone(),
            reference,
        });
    }
    Ok(vectors)
}

pub(crate) fn malformed(path: &Path, line: usize, reason: &str) -> CorpusError {
    CorpusError::Malformed {
        path: path.to_owned(),
        line,
        reason: reason.to_owned(),
    }
}

/// One line of `assembled.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assembled {
    /// The expected r0.
    pub expected_r0: u64,
    /// The input memory.
    pub mem: Vec<u8>,
    /// The bytecode.
    pub code: Vec<u8>,
}

/// Reads `assembled.jsonl` into a map by test file name.
pub fn read_assembled(path: &Path) -> Result<BTreeMap<String, Assembled>, CorpusError> {
    let text = read(path)?;
    let mut map = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let field = |key: &str| {
            json_string_field(line, key)
                .ok_or_else(|| malformed(path, index + 1, &format!("no string field {key}")))
        };
        let bad_hex = |_| malformed(path, index + 1, "bad hex");
        let entry = Assembled {
            expected_r0: parse_number(&field("expected_r0")?),
            mem: decode_hex(&field("mem_hex")?).map_err(bad_hex)?,
            code: decode_hex(&field("code_hex")?).map_err(bad_hex)?,
        };
        map.insert(field("test")?, entry);
    }
    Ok(map)
}

/// The value of `"key": "value"` in a flat JSON object without escapes.
fn json_string_field(line: &str, key: &str) -> Option<String> {
    let pattern = format!("\"{key}\"");
    let rest = &line[line.find(&pattern)? + pattern.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// Decodes a hex string (no separators).
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 {
        return Err(format!("odd-length hex string {text:?}"));
    }
    (0..text.len())
        .step_by(2)
        .map(|at| {
            text.get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("bad hex at {at} in {text:?}"))
        })
        .collect()
}

/// Encodes bytes as lowercase hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What the reference did with a vector in sBPF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedOutcome {
    /// The reference's verdict.
    pub verdict: Verdict,
    /// The metered instruction count (absent when the verifier rejected).
    pub instruction_count: Option<u64>,
}

/// The reference's verdict on a vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// r0 equalled the expected value.
    Pass,
    /// The program returned this different r0.
    Diff {
        /// The r0 it returned.
        got: u64,
    },
    /// The verifier or the run failed with this error (pcs as slot indices).
    Error(ErrorDesc),
}

/// Reads the results TSV into a map by test file name.
pub fn read_results(path: &Path) -> Result<BTreeMap<String, RecordedOutcome>, CorpusError> {
    let text = read(path)?;
    let mut map = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.starts_with("test\t") || line.trim().is_empty() {
            continue;
        }
        let columns: Vec<&str> = line.split('\t').collect();
        let (Some(name), Some(outcome)) = (columns.first(), columns.get(2)) else {
            return Err(malformed(path, index + 1, "fewer than 3 columns"));
        };
        let verdict =
            parse_verdict(outcome).map_err(|reason| malformed(path, index + 1, &reason))?;
        let instruction_count = match columns.get(3).map(|text| text.trim()) {
            None | Some("") => None,
            Some(count) => Some(
                count
                    .parse()
                    .map_err(|_| malformed(path, index + 1, "bad instruction count"))?,
            ),
        };
        map.insert(
            (*name).to_owned(),
            RecordedOutcome {
                verdict,
                instruction_count,
            },
        );
    }
    Ok(map)
}

/// Parses `PASS`, `DIFF got 0x..`, `VERIFY-ERR Kind(a, b)` or `RUNTIME-ERR Kind(a, b)`.
pub fn parse_verdict(text: &str) -> Result<Verdict, String> {
    let text = text.trim();
    if text == "PASS" {
        return Ok(Verdict::Pass);
    }
    if let Some(got) = text.strip_prefix("DIFF got ") {
        return Ok(Verdict::Diff {
            got: parse_number(got),
        });
    }
    let (stage, rest) = if let Some(rest) = text.strip_prefix("VERIFY-ERR ") {
        (Stage::Verify, rest)
    } else if let Some(rest) = text.strip_prefix("RUNTIME-ERR ") {
        (Stage::Runtime, rest)
    } else {
        return Err(format!("unknown outcome {text:?}"));
    };
    let (kind, fields) = match rest.find('(') {
        Some(open) => {
            let inner = rest[open + 1..]
                .strip_suffix(')')
                .ok_or_else(|| format!("unbalanced parentheses in {text:?}"))?;
            let fields = inner.split(',').map(|field| field.trim().to_owned());
            (&rest[..open], fields.collect())
        }
        None => (rest, Vec::new()),
    };
    Ok(Verdict::Error(ErrorDesc::from_reference(
        stage, kind, fields,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_sections() {
        let text =
            "# header\n-- asm\nmov %r0, 1 # one\n\nexit\r\n-- mem\n0x01 ff 2\n-- result\n0x5\n7\n";
        let file = parse_data_file(text).unwrap();
        assert_eq!(file.asm, vec!["mov %r0, 1", "exit"]);
        assert_eq!(file.mem, vec![1, 0xff, 2]);
        assert_eq!(file.result, Some(7));
    }

    #[test]
    fn unknown_directive_or_no_result_skips() {
        assert_eq!(
            parse_data_file("-- asm\nexit\n-- bogus\n-- result\n1\n"),
            None
        );
        assert_eq!(parse_data_file("-- asm\nexit\n"), None);
    }

    #[test]
    fn verdicts() {
        assert_eq!(parse_verdict("PASS").unwrap(), Verdict::Pass);
        assert_eq!(
            parse_verdict("DIFF got 0x89abcdef").unwrap(),
            Verdict::Diff { got: 0x89ab_cdef }
        );
        let Verdict::Error(desc) =
            parse_verdict("VERIFY-ERR ShiftWithOverflow(48, 32, 31)").unwrap()
        else {
            panic!("not an error");
        };
        assert_eq!(desc.to_string(), "verifier ShiftWithOverflow(48, 32, pc 2)");
        let Verdict::Error(desc) =
            parse_verdict("RUNTIME-ERR CallOutsideTextSegment(31, 0)").unwrap()
        else {
            panic!("not an error");
        };
        assert_eq!(desc.to_string(), "runtime CallOutsideTextSegment(pc 2, 0)");
        assert!(parse_verdict("MAYBE").is_err());
    }
}
