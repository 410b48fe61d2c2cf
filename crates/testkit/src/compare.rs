//! Comparing bpfvm's outcome for a generated program with an expected outcome.
//!
//! The expected outcome usually comes from the reference (the differential test) or from the
//! other backend (JIT fuzzing). A [`Mismatch`] carries everything needed to reproduce and
//! understand the difference without rerunning: seed, profile, configuration, program bytes,
//! the decoded instructions with their pcs, both outcomes and the list of differences.

use crate::corpus::encode_hex;
use crate::generator::{GeneratedProgram, Profile};
use crate::harness::run;
use crate::outcome::{show_result, Outcome};
use bpfvm::{Backend, Config};
use bpfvm_isa::Dialect;
use std::fmt;

/// How one generated program's outcome differs from the expected one.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// The generator seed.
    pub seed: u64,
    /// The configuration family.
    pub profile: Profile,
    /// The dialect.
    pub dialect: Dialect,
    /// The configuration.
    pub config: Config,
    /// The budget.
    pub budget: u64,
    /// The input bytes, hex.
    pub input_hex: String,
    /// The program text, hex.
    pub program_hex: String,
    /// One line per instruction: `pc: instruction`.
    pub listing: Vec<String>,
    /// bpfvm's outcome.
    pub ours: Outcome,
    /// The expected outcome.
    pub expected: Outcome,
    /// One sentence per difference.
    pub differences: Vec<String>,
}

impl Mismatch {
    /// A short key that groups mismatches with the same cause: both results' kinds.
    pub fn signature(&self) -> String {
        let kind = |outcome: &Outcome| match &outcome.result {
            Ok(_) => "Ok".to_owned(),
            Err(error) => error.kind.clone(),
        };
        let mut parts = Vec::new();
        if self.ours.result != self.expected.result {
            parts.push(format!("{} vs {}", kind(&self.ours), kind(&self.expected)));
        }
        if self.ours.instruction_count != self.expected.instruction_count {
            parts.push("count".to_owned());
        }
        if self.ours.memory_after != self.expected.memory_after {
            parts.push("memory".to_owned());
        }
        if self.ours.trace != self.expected.trace {
            parts.push("trace".to_owned());
        }
        format!(
            "{:?}/{:?}: {}",
            self.dialect,
            self.profile,
            parts.join(", ")
        )
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} ({:?}, {:?}), budget {}",
            self.seed, self.profile, self.dialect, self.budget
        )?;
        writeln!(f, "  config: {:?}", self.config)?;
        writeln!(f, "  input: {}", self.input_hex)?;
        writeln!(f, "  text: {}", self.program_hex)?;
        for line in &self.listing {
            writeln!(f, "    {line}")?;
        }
        writeln!(
            f,
            "  bpfvm:    {} after {} insns",
            show_result(&self.ours.result),
            self.ours.instruction_count
        )?;
        writeln!(
            f,
            "  expected: {} after {} insns",
            show_result(&self.expected.result),
            self.expected.instruction_count
        )?;
        for difference in &self.differences {
            writeln!(f, "  - {difference}")?;
        }
        Ok(())
    }
}

/// The `pc: instruction` listing of a generated program.
pub fn listing(program: &GeneratedProgram) -> Vec<String> {
    let mut pc = 0;
    program
        .insns
        .iter()
        .map(|insn| {
            let line = format!("{pc:4}: {insn:?}");
            pc += insn.slot_count();
            line
        })
        .collect()
}

/// Compares an outcome of `program` with the expected one.
pub fn compare_outcomes(
    program: &GeneratedProgram,
    ours: Outcome,
    expected: &Outcome,
) -> Result<(), Box<Mismatch>> {
    let differences = ours.differences(expected);
    if differences.is_empty() {
        return Ok(());
    }
    Err(Box::new(Mismatch {
        seed: program.seed,
        profile: program.profile,
        dialect: program.dialect,
        config: program.config,
        budget: program.budget,
        input_hex: encode_hex(&program.input),
        program_hex: encode_hex(&program.text),
        listing: listing(program),
        ours,
        expected: expected.clone(),
        differences,
    }))
}

/// Runs `program` on bpfvm's `backend` and compares with the expected outcome.
pub fn compare(
    program: &GeneratedProgram,
    backend: Backend,
    expected: &Outcome,
) -> Result<(), Box<Mismatch>> {
    compare_outcomes(program, run(&program.case(), backend), expected)
}
