//! The JSON schema: one document type per command, and the failure document every command
//! shares. README.md ("JSON output") describes each one; this module is its definition.
//!
//! Every document is one line, an object that opens with `"ok"` and `"command"`:
//! `"ok"` is false only when the program raised an error (exit code 1) or the command failed
//! (exit code 2). A failure reads `{"ok":false,"command":...,"stage":...,"error":{"kind":...,
//! fields...},"message":...}`, where `stage` is `usage`, `io`, `assemble`, `load`, `verify`,
//! `compile`, `setup` or `tool`, and `kind` names the error (the reference's name for loader,
//! verifier and runtime errors) with its fields by name. A program's runtime error has the
//! same shape with stage `run`, inside the run's document. Guest addresses are hex strings,
//! other numbers are numbers.
//!
//! The text form of each document is its [`Report::text`], written beside the command.
//! `elf.rs` holds the documents of `bpfvm info`.

mod elf;

pub use elf::{
    ElfFunction, ElfHeader, ElfImport, ElfRelocation, ElfSection, ElfSegment, InfoReport,
};

use crate::failure::{jit_error_parts, Failure};
use bpfvm::{ErrorField, RuntimeError};
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

/// What a command produced, printable as text or as one JSON document.
pub trait Report: Serialize {
    /// False when the program raised an error (exit code 1).
    fn ok(&self) -> bool {
        true
    }
    /// The text form, for people.
    fn text(&self) -> String;
    /// Warnings for people, printed on stderr with the text form (the JSON document carries
    /// them as fields).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The warning for each import no syscall serves.
pub fn unresolved_warnings(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|name| format!("warning: unresolved import {name} (no syscall serves it)"))
        .collect()
}

/// The common opening of every document.
#[derive(Serialize)]
struct Envelope<'a, R> {
    ok: bool,
    command: &'a str,
    #[serde(flatten)]
    body: &'a R,
}

/// The one-line JSON document of a report.
pub fn document<R: Report>(command: &str, report: &R) -> String {
    let envelope = Envelope {
        ok: report.ok(),
        command,
        body: report,
    };
    serde_json::to_string(&envelope).unwrap_or_else(|e| {
        json!({"ok": false, "command": command, "stage": "io", "error": {"kind": "Json"},
               "message": e.to_string()})
        .to_string()
    })
}

/// The one-line JSON document of a failure (`command` is null when the command line names
/// none).
pub fn failure_document(command: Option<&str>, failure: &Failure) -> String {
    let mut document = Map::new();
    document.insert("ok".to_owned(), Value::Bool(false));
    document.insert("command".to_owned(), Value::from(command));
    document.insert("stage".to_owned(), Value::from(failure.stage()));
    document.insert("error".to_owned(), Value::Object(failure_error(failure)));
    document.insert("message".to_owned(), Value::from(failure.to_string()));
    let program = match failure {
        Failure::Load { program, .. } => program.as_deref(),
        Failure::Verify { program, .. } => Some(&**program),
        _ => None,
    };
    if let Some(Ok(program)) = program.map(serde_json::to_value) {
        document.insert("program".to_owned(), program);
    }
    Value::Object(document).to_string()
}

/// The `error` object of a failure: kind and fields.
fn failure_error(failure: &Failure) -> Map<String, Value> {
    use ErrorField::{Number, Text};
    let text = |s: &str| Text(s.to_owned());
    let (kind, fields): (&str, Vec<(&str, ErrorField)>) = match failure {
        Failure::Usage { kind, option, .. } => {
            (kind, option.iter().map(|o| ("option", text(o))).collect())
        }
        Failure::Io { action, path, .. } => {
            ("Io", vec![("action", text(action)), ("path", text(path))])
        }
        Failure::Assemble { error } => (
            "Syntax",
            vec![
                ("line", Number(error.line as u64)),
                ("column", Number(error.column as u64)),
                ("reason", text(&error.message)),
            ],
        ),
        Failure::Load { error, .. } => (error.kind(), error.fields()),
        Failure::Verify { error, .. } => (error.kind(), error.fields()),
        Failure::Compile { error } => jit_error_parts(error),
        Failure::Setup { error } => (error.kind(), error.fields()),
        Failure::Tool { tool, .. } => ("Tool", vec![("tool", text(tool))]),
    };
    error_object(kind, fields)
}

/// An error as `{"kind": ..., fields...}`.
pub fn error_object(kind: &str, fields: Vec<(&str, ErrorField)>) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("kind".to_owned(), Value::from(kind));
    for (name, field) in fields {
        object.insert(name.to_owned(), field_value(&field));
    }
    object
}

fn field_value(field: &ErrorField) -> Value {
    match field {
        ErrorField::Number(n) => json!(n),
        ErrorField::Signed(n) => json!(n),
        ErrorField::Address(a) => json!(format!("{a:#x}")),
        ErrorField::Text(t) => json!(t),
    }
}

/// A number shown in hex (`"0x2a"`): registers and guest addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex(pub u64);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{:#x}", self.0))
    }
}

/// How a program was loaded: what the file is and the configuration chosen for it.
#[derive(Clone, Debug, Serialize)]
pub struct ProgramDescription {
    /// The path as given (`-` for standard input).
    pub path: String,
    /// `elf`, `raw` or `assembly`.
    pub kind: &'static str,
    /// The profile: `default`, `legacy`, `ebpf` or `v0` to `v4`.
    pub config: &'static str,
    /// `sbpf` (2022), `sbpf-v0` to `sbpf-v4`, or `ebpf`.
    pub dialect: &'static str,
    /// `solana`, `demo` or `none`.
    pub syscalls: &'static str,
}

/// A program's result: `{"r0": ...}`, or its runtime error as a failure of stage `run`
/// (with `syscall`, the import a failing call named when no syscall serves it).
#[derive(Clone, Debug)]
pub struct ProgramResult {
    /// r0 or the error.
    pub result: Result<u64, RuntimeError>,
    /// The import the failing call named, when it names one nothing serves.
    pub syscall: Option<String>,
}

impl ProgramResult {
    /// The error's message: `unsupported syscall NAME at pc N` for a call to an import
    /// nothing serves, the error's own text otherwise.
    fn message(error: &RuntimeError, syscall: Option<&str>) -> String {
        match (error, syscall) {
            (RuntimeError::UnsupportedInstruction { pc }, Some(name)) => {
                format!("unsupported syscall {name} at pc {pc}")
            }
            _ => error.to_string(),
        }
    }

    /// The result line of the text form.
    pub fn text(&self) -> String {
        match &self.result {
            Ok(r0) => format!("ok: r0 = {r0:#x} ({r0})\n"),
            Err(error) => format!(
                "error: {} ({})\n",
                error.kind(),
                Self::message(error, self.syscall.as_deref())
            ),
        }
    }
}

impl Serialize for ProgramResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match &self.result {
            Ok(r0) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("r0", &Hex(*r0))?;
                map.end()
            }
            Err(error) => {
                let mut object = error_object(error.kind(), error.fields());
                if let Some(name) = &self.syscall {
                    object.insert("syscall".to_owned(), Value::from(name.as_str()));
                }
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("stage", "run")?;
                map.serialize_entry("error", &object)?;
                map.serialize_entry("message", &Self::message(error, self.syscall.as_deref()))?;
                map.end()
            }
        }
    }
}

/// One row of a profile's function table.
#[derive(Clone, Debug, Serialize)]
pub struct ProfiledFunction {
    /// The entry pc.
    pub pc: usize,
    /// The demangled name.
    pub name: String,
    /// Times entered.
    pub calls: u64,
    /// Instructions executed in the function itself.
    #[serde(rename = "self")]
    pub self_instructions: u64,
    /// Instructions executed while it was on the stack.
    #[serde(rename = "total")]
    pub total_instructions: u64,
}

/// A profile, as `run` reports it besides writing its files.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileSummary {
    /// Instructions profiled.
    pub instructions: u64,
    /// The files written.
    pub files: Vec<String>,
    /// The function table, most instructions first.
    pub functions: Vec<ProfiledFunction>,
    /// The text table (not in the JSON).
    #[serde(skip)]
    pub table: String,
}

/// Where a trace went.
#[derive(Clone, Debug, Serialize)]
pub struct TraceSummary {
    /// The trace file, or `-` for stderr.
    pub file: String,
    /// Lines written.
    pub lines: u64,
}

/// `bpfvm run`.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// r0, or the runtime error.
    #[serde(flatten)]
    pub result: ProgramResult,
    /// Instructions executed (the compute units less what syscalls charged).
    pub instructions: u64,
    /// Compute units consumed: instructions plus syscall costs.
    pub compute_units: u64,
    /// The median run time over `--repeat` runs.
    pub run_ns: u64,
    /// Loading and verification time.
    pub load_ns: u64,
    /// JIT compilation time, with `--backend jit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile_ns: Option<u64>,
    /// The lines the program logged.
    pub logs: Vec<String>,
    /// The input region after the run, as hex, with `--dump-input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_after: Option<String>,
    /// How the program was loaded.
    pub program: ProgramDescription,
    /// `interpreter` or `jit`.
    pub backend: &'static str,
    /// `solana` or `free`: whether syscalls charged compute units.
    pub syscall_costs: &'static str,
    /// The budget the run started with.
    pub budget: u64,
    /// The heap size.
    pub heap: u64,
    /// How many runs the median is over.
    pub repeat: u64,
    /// Imports no syscall serves (a call to one fails).
    pub unresolved_imports: Vec<String>,
    /// The trace, with `--trace`/`--trace-file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceSummary>,
    /// The profile, with `--profile`/`--profile-folded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileSummary>,
    /// The process's peak resident memory (VmHWM), where /proc tells it.
    pub peak_rss_bytes: Option<u64>,
}

/// `bpfvm run` with a Solana instruction and accounts. The fields are those of
/// `bpfvm_solana`'s outcome: `result` is `{"ok":true}` or `{"ok":false,"error":NAME,
/// "message":...,"custom":N}`, each account carries its changes and its state after.
#[derive(Clone, Debug, Serialize)]
pub struct InstructionReport {
    /// The instruction's result as the runtime decodes it.
    pub result: Value,
    /// r0, when the program returned.
    pub r0: Option<Hex>,
    /// The VM's own error, when the program did not return.
    pub vm_error: Option<Map<String, Value>>,
    /// Compute units consumed (instructions, syscall costs, heap cost).
    pub compute_units: u64,
    /// The instruction's budget.
    pub budget: u64,
    /// Instructions executed.
    pub instructions: u64,
    /// `{"program_id","hex"}` when return data was set.
    pub return_data: Option<Value>,
    /// The log as the runtime frames it.
    pub logs: Vec<String>,
    /// Every account the instruction names, with its changes.
    pub accounts: Vec<Value>,
    /// How the program was loaded.
    pub program: ProgramDescription,
    /// Imports no syscall serves (a call to one fails).
    pub unresolved_imports: Vec<String>,
    /// Whether the instruction succeeded (the document's `ok`).
    #[serde(skip)]
    pub succeeded: bool,
    /// The text form (not in the JSON).
    #[serde(skip)]
    pub text: String,
}

/// `bpfvm debug`.
#[derive(Clone, Debug, Serialize)]
pub struct DebugReport {
    /// r0, or the runtime error.
    #[serde(flatten)]
    pub result: ProgramResult,
    /// Instructions executed (the compute units less what syscalls charged).
    pub instructions: u64,
    /// Compute units consumed: instructions plus syscall costs.
    pub compute_units: u64,
    /// The lines the program logged.
    pub logs: Vec<String>,
    /// How the debugging session ended.
    pub session: String,
    /// The input region after the run, with `--dump-input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_after: Option<String>,
    /// How the program was loaded.
    pub program: ProgramDescription,
    /// The budget the run started with.
    pub budget: u64,
    /// The heap size.
    pub heap: u64,
}

/// `bpfvm verify`.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// How the program was loaded.
    pub program: ProgramDescription,
    /// Instructions (an `lddw` counts once).
    pub instructions: usize,
    /// Registered functions.
    pub functions: usize,
    /// Imports no syscall serves (a call to one fails at run time).
    pub unresolved_imports: Vec<String>,
    /// The entry slot.
    pub entry_pc: usize,
    /// Loading and verification time.
    pub load_ns: u64,
}

/// A function: entry slot and name.
#[derive(Clone, Debug, Serialize)]
pub struct FunctionEntry {
    /// The entry slot.
    pub pc: usize,
    /// The (demangled) name.
    pub name: String,
}

/// A relocation applied to an instruction, as the ELF file lists it.
#[derive(Clone, Debug, Serialize)]
pub struct InstructionRelocation {
    /// `r_offset`, as the file lists it.
    pub offset: u64,
    /// The relocation type's name (`R_BPF_64_32`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The symbol it names (empty for none).
    pub symbol: String,
}

/// One instruction of `disasm`.
#[derive(Clone, Debug, Serialize)]
pub struct DisasmLine {
    /// The slot.
    pub pc: usize,
    /// The guest address.
    pub address: Hex,
    /// The raw bytes as hex (16 for an `lddw`).
    pub bytes: String,
    /// The label of the block it starts, if it gets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Whether that label is a function's.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub function: bool,
    /// The instruction in the assembler's syntax.
    pub text: String,
    /// The relocations the ELF file applies to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relocations: Vec<InstructionRelocation>,
}

/// `bpfvm disasm`.
#[derive(Clone, Debug, Serialize)]
pub struct DisasmReport {
    /// How the program was loaded.
    pub program: ProgramDescription,
    /// The guest address of slot 0.
    pub text_address: Hex,
    /// The entry slot.
    pub entry_pc: usize,
    /// The functions, by entry.
    pub functions: Vec<FunctionEntry>,
    /// Every instruction.
    pub instructions: Vec<DisasmLine>,
    /// The reference's labelled listing, for `--format listing` (not in the JSON).
    #[serde(skip)]
    pub listing: Option<String>,
}

/// One x86-64 instruction of `disasm --jit`.
#[derive(Clone, Debug, Serialize)]
pub struct MachineInstruction {
    /// The offset in the compiled code.
    pub offset: usize,
    /// Intel syntax.
    pub text: String,
}

/// One BPF instruction of `disasm --jit` with the machine code emitted for it.
#[derive(Clone, Debug, Serialize)]
pub struct JitLine {
    /// The slot.
    pub pc: usize,
    /// The BPF instruction.
    pub text: String,
    /// Its inline machine code.
    pub x86: Vec<MachineInstruction>,
}

/// The second copy of a versioned loop in `disasm --jit`.
#[derive(Clone, Debug, Serialize)]
pub struct VersionedLoop {
    /// The loop head's slot.
    pub head: usize,
    /// The slot of its backward jump.
    pub latch: usize,
    /// The copy's machine code.
    pub x86: Vec<MachineInstruction>,
}

/// `bpfvm disasm --jit`.
#[derive(Clone, Debug, Serialize)]
pub struct JitListingReport {
    /// How the program was loaded.
    pub program: ProgramDescription,
    /// Every instruction with its machine code.
    pub instructions: Vec<JitLine>,
    /// The loops compiled twice.
    pub versioned_loops: Vec<VersionedLoop>,
    /// The size of all machine code.
    pub code_bytes: usize,
}

/// One basic block of `bpfvm cfg`.
#[derive(Clone, Debug, Serialize)]
pub struct CfgBlock {
    /// The first slot.
    pub start: usize,
    /// One past the last slot.
    pub end: usize,
    /// Its label in the listing (and in the graph).
    pub label: String,
    /// The entry of the function holding it.
    pub function: usize,
    /// Successor block starts, one per edge.
    pub successors: Vec<usize>,
    /// The immediate dominator's start (none for a root).
    pub dominator: Option<usize>,
}

/// `bpfvm cfg`.
#[derive(Clone, Debug, Serialize)]
pub struct CfgReport {
    /// How the program was loaded.
    pub program: ProgramDescription,
    /// The DOT file written (none for `-o -`).
    pub output: Option<String>,
    /// The SVG file written, with `--svg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub svg: Option<String>,
    /// The DOT text itself, for `-o -` with `--json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dot: Option<String>,
    /// The functions.
    pub functions: Vec<FunctionEntry>,
    /// The blocks.
    pub blocks: Vec<CfgBlock>,
}

/// `bpfvm asm`.
#[derive(Clone, Debug, Serialize)]
pub struct AsmReport {
    /// `sbpf` or `ebpf`: the syntax read.
    pub dialect: &'static str,
    /// Slots written.
    pub slots: usize,
    /// The file written (none for `-o -`).
    pub output: Option<String>,
    /// The bytecode as hex, for `-o -` with `--json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
    /// The function entries.
    pub functions: Vec<FunctionEntry>,
}

/// One row of `bpfvm bench`.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// The program.
    pub name: &'static str,
    /// Instructions per run (equal on both backends).
    pub instructions: u64,
    /// Median interpreter run time.
    pub interpreter_ns: u64,
    /// Median JIT run time.
    pub jit_ns: u64,
    /// Loading and verification time.
    pub load_ns: u64,
    /// JIT compilation time.
    pub compile_ns: u64,
}

/// `bpfvm bench`.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Runs per program and backend.
    pub iterations: u64,
    /// One row per program.
    pub programs: Vec<BenchRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_kind_and_fields() {
        let error = RuntimeError::AccessViolation {
            pc: 3,
            access: bpfvm::AccessType::Store,
            vaddr: 0x1_0000_0000,
            len: 8,
            region: "program",
        };
        assert_eq!(
            Value::Object(error_object(error.kind(), error.fields())).to_string(),
            r#"{"kind":"AccessViolation","pc":3,"access":"store","vaddr":"0x100000000","len":8,"region":"program"}"#
        );
    }

    #[test]
    fn a_load_failure_names_the_stage_the_reference_kind_and_the_program() {
        let failure = Failure::Load {
            error: bpfvm::LoadError::UnresolvedSymbol {
                name: "sol_sha256".to_owned(),
                pc: 42,
                offset: 0x1f0,
            },
            program: Some(Box::new(ProgramDescription {
                path: "p.so".to_owned(),
                kind: "elf",
                config: "default",
                dialect: "sbpf",
                syscalls: "solana",
            })),
        };
        assert_eq!(
            failure_document(Some("run"), &failure),
            r#"{"ok":false,"command":"run","stage":"load","error":{"kind":"UnresolvedSymbol","name":"sol_sha256","pc":42,"offset":496},"message":"cannot load: unresolved symbol sol_sha256 at file offset 0x1f0","program":{"path":"p.so","kind":"elf","config":"default","dialect":"sbpf","syscalls":"solana"}}"#
        );
    }

    #[test]
    fn program_results_flatten_into_the_run_document() {
        let result = |result, syscall: Option<&str>| {
            serde_json::to_value(ProgramResult {
                result,
                syscall: syscall.map(str::to_owned),
            })
            .unwrap_or_default()
        };
        assert_eq!(result(Ok(0x37), None).to_string(), r#"{"r0":"0x37"}"#);
        let failed = result(Err(RuntimeError::DivideByZero { pc: 1 }), None);
        assert_eq!(failed["stage"], "run");
        assert_eq!(failed["error"]["kind"], "DivideByZero");
        assert_eq!(failed["error"]["pc"], 1);
        let unserved = result(
            Err(RuntimeError::UnsupportedInstruction { pc: 7 }),
            Some("sol_sha256"),
        );
        assert_eq!(unserved["error"]["syscall"], "sol_sha256");
        assert_eq!(
            unserved["message"],
            "unsupported syscall sol_sha256 at pc 7"
        );
    }
}
