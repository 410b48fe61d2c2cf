//! Loop versioning with hoisted memory checks, against the interpreter.
//!
//! Every row is a tight loop written in assembly text whose accesses go through a register
//! that may or may not stay invariant, plus an index that may or may not stay bounded: the
//! shapes the JIT's loop guard reasons about, and the ones it must refuse (a base written on
//! one path, an index overwritten, reset at a jump target or widened by a 32-bit op, a loop
//! entered by a jump). The data puts the interesting index (255, the one that crosses a
//! region's end, a zero that reaches below a region) in the middle of the loop, so a fault
//! happens inside it.
//!
//! Each row runs on both backends under several configurations (the default with dynamic
//! frames, the same without hardening, the legacy sBPF preset with gapped fixed frames, the
//! unaligned mapping, metering off), over writable and read-only input, with a generous
//! budget and every budget that stops inside the loop. The backends must agree on the result
//! or the error with every field, the instruction count, and the input, heap and stack bytes
//! afterwards. A row also states what the interpreter must do under the default
//! configuration (`Ok`, or an access violation at the instruction marked `#!`), so that a
//! row cannot silently stop testing what it names.

// These tests need the JIT: builds without it (`cfg(bpfvm_jit)` unset) compile them out.
#![cfg(bpfvm_jit)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod hoist_rows;

use bpfvm::{
    verify, Backend, Config, Executable, Loader, MemoryRegion, RuntimeError, SyscallRegistry,
    TestContext, VerifiedProgram, Vm, MM_INPUT_START, MM_STACK_START,
};
use bpfvm_isa::Dialect;
use hoist_rows::{all_rows, Row, Want};
use std::sync::Arc;

/// The configurations a row runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    /// `Config::default()`: dynamic frames, aligned mapping, hardening on.
    Default,
    /// The default without constant blinding and no-op insertion.
    Plain,
    /// `Config::legacy()`: fixed frames with gaps.
    Legacy,
    /// The default with the unaligned (search) mapping.
    Unaligned,
    /// The default with metering off.
    MeterOff,
}

const SETUPS: [Setup; 5] = [
    Setup::Default,
    Setup::Plain,
    Setup::Legacy,
    Setup::Unaligned,
    Setup::MeterOff,
];

impl Setup {
    fn config(self) -> Config {
        let default = Config::default();
        match self {
            Setup::Default => default,
            Setup::Plain => Config {
                noop_instruction_rate: 0,
                sanitize_user_provided_values: false,
                ..default
            },
            Setup::Legacy => Config::legacy(),
            Setup::Unaligned => Config {
                aligned_memory_mapping: false,
                ..default
            },
            Setup::MeterOff => Config {
                enable_instruction_meter: false,
                ..default
            },
        }
    }

    /// Whether every budget up to the full count is tried (the others get a sample).
    fn sweeps_budgets(self) -> bool {
        matches!(self, Setup::Default | Setup::Legacy | Setup::Plain)
    }
}

/// How the input region is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Writable,
    ReadOnly,
}

/// The pc of the instruction marked `#!` (an `lddw` counts two slots).
fn marked_pc(source: &str) -> Option<usize> {
    let mut pc = 0;
    for line in source.lines() {
        let code = line.split('#').next().unwrap_or("").trim();
        let code = code.rsplit_once(':').map_or(code, |(_, rest)| rest.trim());
        if code.is_empty() {
            continue;
        }
        if line.contains("#!") {
            return Some(pc);
        }
        pc += if code.starts_with("lddw") { 2 } else { 1 };
    }
    None
}

fn compile(row: &Row, dialect: Dialect, config: Config) -> VerifiedProgram<TestContext> {
    let assembled = bpfvm_asm::assemble(&row.source, dialect)
        .unwrap_or_else(|e| panic!("{}: {e:?}\n{}", row.name, row.source));
    let loader = Arc::new(Loader::with_syscalls(config, SyscallRegistry::new()));
    let executable = Executable::from_raw_program(&assembled.bytes, loader, dialect).unwrap();
    let mut program = verify(executable).unwrap_or_else(|e| panic!("{}: {e}", row.name));
    program
        .jit_compile()
        .unwrap_or_else(|e| panic!("{}: {e}", row.name));
    program
}

/// Everything a run leaves behind.
#[derive(Debug, PartialEq)]
struct Outcome {
    result: Result<u64, RuntimeError>,
    count: u64,
    input: Vec<u8>,
    heap: Vec<u8>,
    /// The lowest and the highest 4 KiB of the stack (frame 0 with fixed frames, the
    /// frame pointer's neighbourhood with dynamic ones), when mapped.
    stack: [Option<Vec<u8>>; 2],
}

fn run(
    program: &VerifiedProgram<TestContext>,
    row: &Row,
    backend: Backend,
    access: Access,
    budget: u64,
) -> Outcome {
    let mut bytes = row.input.clone();
    let mut heap = vec![0u8; row.heap];
    let mut context = TestContext::new(budget);
    let stack_size = program.config().stack_size() as u64;
    let (result, count, stack) = {
        let region = match access {
            Access::Writable => MemoryRegion::writable(&mut bytes, MM_INPUT_START),
            Access::ReadOnly => MemoryRegion::readonly(&bytes, MM_INPUT_START),
        };
        let mut vm = Vm::new(program, &mut context, &mut heap, vec![region]).unwrap();
        let run = vm.run(backend);
        let mapping = vm.mapping_mut();
        let stack = [
            mapping.read_bytes(MM_STACK_START, 4096).ok(),
            mapping
                .read_bytes(MM_STACK_START + stack_size - 4096, 4096)
                .ok(),
        ];
        (run.result, run.instruction_count, stack)
    };
    Outcome {
        result,
        count,
        input: bytes,
        heap,
        stack,
    }
}

/// The budgets a row is run with: a generous one, and for the sweeping setups every budget
/// up to one past the full count (or a dense sample of them for long runs).
fn budgets(full_count: u64, setup: Setup) -> Vec<u64> {
    let generous = 1_000_000;
    if !setup.config().enable_instruction_meter {
        return vec![generous];
    }
    if !setup.sweeps_budgets() {
        return vec![1, 2, full_count / 2, full_count, generous];
    }
    let step = (full_count / 300).max(1);
    let mut budgets: Vec<u64> = (0..=full_count + 1).step_by(step as usize).collect();
    // Past a fault the JIT must not run on: budgets that would stop a wrong fast loop.
    budgets.extend([full_count.saturating_sub(1), full_count, generous]);
    budgets.extend([5, 10, 20, 50, 100].map(|extra| full_count + extra));
    budgets
}

/// A short description of an outcome for failure messages.
fn describe(outcome: &Outcome) -> String {
    format!("{:?} count {}", outcome.result, outcome.count)
}

/// Runs one row everywhere; returns the number of runs compared and the failures (at most
/// one per setup and access, the first budget that differs).
fn check_row(row: &Row, dialect: Dialect) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut compared = 0;
    for setup in SETUPS {
        let program = compile(row, dialect, setup.config());
        for access in [Access::Writable, Access::ReadOnly] {
            let full = run(&program, row, Backend::Interpreter, access, 1_000_000);
            if setup == Setup::Default && access == Access::Writable && dialect == Dialect::Sbpf {
                if let Some(failure) = check_want(row, &full) {
                    failures.push(failure);
                }
            }
            for budget in budgets(full.count, setup) {
                let expected = run(&program, row, Backend::Interpreter, access, budget);
                let got = run(&program, row, Backend::Jit, access, budget);
                compared += 1;
                if got != expected {
                    failures.push(format!(
                        "{} ({dialect:?}, {setup:?}, {access:?}, budget {budget}): \
                         interpreter {}, jit {}{}",
                        row.name,
                        describe(&expected),
                        describe(&got),
                        memory_difference(&expected, &got)
                    ));
                    break;
                }
            }
        }
    }
    (compared, failures)
}

fn memory_difference(expected: &Outcome, got: &Outcome) -> String {
    let mut parts = Vec::new();
    if expected.input != got.input {
        let first = expected
            .input
            .iter()
            .zip(&got.input)
            .position(|(a, b)| a != b);
        parts.push(format!("input differs (first at byte {first:?})"));
    }
    if expected.heap != got.heap {
        parts.push("heap differs".to_owned());
    }
    if expected.stack != got.stack {
        parts.push("stack differs".to_owned());
    }
    match parts.is_empty() {
        true => String::new(),
        false => format!("; {}", parts.join(", ")),
    }
}

/// Whether the interpreter's full run matches what the row says it tests.
fn check_want(row: &Row, full: &Outcome) -> Option<String> {
    let fault_pc = marked_pc(&row.source);
    let ok = match (row.want, &full.result) {
        (Want::Ok, Ok(_)) => true,
        (Want::Value(value), Ok(got)) => value == *got,
        (Want::Fault, Err(RuntimeError::AccessViolation { pc, .. }))
        | (Want::Fault, Err(RuntimeError::StackAccessViolation { pc, .. })) => {
            Some(*pc) == fault_pc
        }
        _ => false,
    };
    (!ok).then(|| {
        format!(
            "{}: the interpreter gave {} but the row wants {:?} (marked pc {fault_pc:?})",
            row.name,
            describe(full),
            row.want
        )
    })
}

fn check_rows(rows: &[Row], dialects: &[Dialect]) -> usize {
    let mut failures = Vec::new();
    let mut compared = 0;
    for row in rows {
        for dialect in dialects {
            let (count, row_failures) = check_row(row, *dialect);
            compared += count;
            failures.extend(row_failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures over {} rows:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    compared
}

#[test]
fn hoisted_loops_match_the_interpreter() {
    let rows = all_rows();
    let compared = check_rows(&rows, &[Dialect::Sbpf, Dialect::Ebpf]);
    println!("{} rows, {compared} runs compared", rows.len());
    assert_eq!(rows.len(), 71, "row count");
    assert!(compared > rows.len() * 2 * SETUPS.len() * 2 * 5);
}

#[test]
fn marked_pcs_count_lddw_as_two_slots() {
    let source = "mov64 r0, 0\nlddw r6, 0x1\nhead:\nldxb r3, [r6+0] #!\nexit";
    assert_eq!(marked_pc(source), Some(3));
    assert_eq!(marked_pc("exit"), None);
}
