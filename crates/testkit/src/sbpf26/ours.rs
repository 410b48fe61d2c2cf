//! bpfvm's side of the comparison with solana-sbpf 0.26: a case run under an SBPF version
//! profile, reduced to the same [`VersionedOutcome`] the oracle adapter gives.
//!
//! The settings mirror the adapter's (`tests/reference26/mod.rs`): [`Config::agave`] with
//! versions V0 to V4 enabled (the adapter enables V4 for testing), `reject_broken_elfs` on
//! only for [`Loader26::Deploy`], the case's syscalls registered by name, the input writable at
//! `0x4_0000_0000`, a zeroed heap of the case's size and the VM's own stack. Errors are
//! described as 0.26 names them ([`describe_runtime`], [`describe_load`]) and the faulting pc
//! is the error's own ([`RuntimeError::pc`]), which under the SBPF versions' semantics is what
//! 0.26 leaves in register 11. A successful run reports no pc: bpfvm does not keep the slot
//! of the final `exit` ([`compare`] leaves it out).

use super::rawgen::RawProgram;
use super::{Version, VersionedOutcome, WritableMemory};
use crate::generator::function_name;
use crate::outcome::{ErrorDesc, Field, Stage};
use crate::syscalls::{registry, SyscallSet};
use bpfvm::{
    verify, Backend, Config, Executable, FunctionRegistry, LoadError, Loader, MemoryRegion,
    RuntimeError, Sbpf26Field, SbpfVersion, TestContext, VerifiedProgram, VersionRange, Vm,
    MM_INPUT_START, MM_STACK_START,
};
use bpfvm_isa::Dialect;
use std::sync::Arc;

/// Whether the loader runs with Agave's execution or deployment setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader26 {
    /// `reject_broken_elfs` off.
    Execute,
    /// `reject_broken_elfs` on.
    Deploy,
}

/// The program of a case.
#[derive(Clone, Copy, Debug)]
pub enum Program26<'a> {
    /// Raw text of a version, with internal functions at these pcs.
    Text {
        /// The text.
        bytes: &'a [u8],
        /// Its version.
        version: Version,
        /// Internal function start pcs.
        functions: &'a [usize],
    },
    /// An ELF file; its `e_flags` name the version.
    Elf(&'a [u8]),
}

/// Everything one run needs (the adapter's `Case26`, in neutral types).
#[derive(Clone, Copy, Debug)]
pub struct Case<'a> {
    /// The program.
    pub program: Program26<'a>,
    /// The loader setting.
    pub loader: Loader26,
    /// The syscalls registered.
    pub syscalls: SyscallSet,
    /// The input region's bytes.
    pub input: &'a [u8],
    /// The heap size.
    pub heap_size: usize,
    /// The budget.
    pub budget: u64,
}

impl<'a> Case<'a> {
    /// The case of a generated program.
    pub fn generated(program: &'a RawProgram) -> Case<'a> {
        Case {
            program: Program26::Text {
                bytes: &program.text,
                version: program.version,
                functions: &program.functions,
            },
            loader: Loader26::Execute,
            syscalls: program.syscalls,
            input: &program.input,
            heap_size: program.heap_size,
            budget: program.budget,
        }
    }
}

/// bpfvm's version for the testkit's.
pub fn sbpf_version(version: Version) -> SbpfVersion {
    match version {
        Version::V0 => SbpfVersion::V0,
        Version::V1 => SbpfVersion::V1,
        Version::V2 => SbpfVersion::V2,
        Version::V3 => SbpfVersion::V3,
        Version::V4 => SbpfVersion::V4,
    }
}

/// The configuration the comparison runs with.
pub fn config(loader: Loader26) -> Config {
    Config {
        reject_broken_elfs: loader == Loader26::Deploy,
        enabled_sbpf_versions: VersionRange::ALL,
        ..Config::agave()
    }
}

/// A 0.26 field from bpfvm's.
fn field(field: Sbpf26Field) -> Field {
    match field {
        Sbpf26Field::Number(number) => Field::Value(number.to_string()),
        Sbpf26Field::Signed(number) => Field::Value(number.to_string()),
        Sbpf26Field::Name(name) => Field::Value(name.to_owned()),
        Sbpf26Field::Text(text) => Field::Value(text),
        Sbpf26Field::Inner(error) => Field::Value(describe_runtime(&error).to_string()),
    }
}

/// A bpfvm runtime error as 0.26 names it (no pc).
pub fn describe_runtime(error: &RuntimeError) -> ErrorDesc {
    let (kind, fields) = error.sbpf26_parts();
    ErrorDesc {
        stage: Stage::Runtime,
        kind: kind.to_owned(),
        fields: fields.into_iter().map(field).collect(),
    }
}

/// A bpfvm load error as 0.26 names it.
pub fn describe_load(error: &LoadError) -> ErrorDesc {
    let fields = match error {
        LoadError::UnsupportedSBPFVersion { .. } => Vec::new(),
        other => ErrorDesc::from_load_fields(other),
    };
    ErrorDesc {
        stage: Stage::Load,
        kind: error.kind().to_owned(),
        fields,
    }
}

/// Loads a case's program.
pub fn load(case: &Case<'_>) -> Result<Executable<TestContext>, ErrorDesc> {
    let loader = Arc::new(Loader::with_syscalls(
        config(case.loader),
        registry(case.syscalls),
    ));
    let error = |error: LoadError| describe_load(&error);
    match case.program {
        Program26::Text {
            bytes,
            version,
            functions,
        } => {
            let dialect = Dialect::Sbpf26(sbpf_version(version));
            let mut registry = FunctionRegistry::new();
            for &pc in functions {
                registry
                    .register(&loader, dialect, pc, &function_name(pc))
                    .map_err(error)?;
            }
            Executable::from_text_bytes(bytes, loader, dialect, registry).map_err(error)
        }
        Program26::Elf(bytes) => {
            let e_flags = bytes
                .get(48..52)
                .map_or(u32::MAX, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            // The file names its version; a reserved one is refused by any profile.
            let version = SbpfVersion::from_e_flags(e_flags).unwrap_or(SbpfVersion::V0);
            Executable::from_elf_in(bytes, loader, Dialect::Sbpf26(version)).map_err(error)
        }
    }
}

/// Loads and verifies a case's program.
pub fn load_verified(case: &Case<'_>) -> Result<VerifiedProgram<TestContext>, ErrorDesc> {
    verify(load(case)?).map_err(|error| ErrorDesc::from_verify(&error))
}

/// Runs a case on one backend.
pub fn run(case: &Case<'_>, backend: Backend) -> VersionedOutcome {
    let mut program = match load_verified(case) {
        Ok(program) => program,
        Err(error) => return VersionedOutcome::not_run(error, case.input),
    };
    if backend == Backend::Jit && program.jit_program().is_none() {
        if let Err(error) = program.jit_compile() {
            let error = ErrorDesc::load_message("JitCompileError", error);
            return VersionedOutcome::not_run(error, case.input);
        }
    }
    run_verified(&program, case, backend)
}

/// Runs a verified program with the case's memory and budget.
pub fn run_verified(
    program: &VerifiedProgram<TestContext>,
    case: &Case<'_>,
    backend: Backend,
) -> VersionedOutcome {
    let mut context = TestContext::new(case.budget);
    let mut heap = vec![0u8; case.heap_size];
    let mut input = case.input.to_vec();
    let (run, stack) = {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        match Vm::new(program, &mut context, &mut heap, regions) {
            Ok(mut vm) => {
                let run = vm.run(backend);
                let stack = vm
                    .mapping()
                    .region_bytes(MM_STACK_START)
                    .unwrap_or_default();
                (run, stack)
            }
            Err(error) => {
                return VersionedOutcome::not_run(describe_runtime(&error), case.input);
            }
        }
    };
    let pc = match &run.result {
        Ok(_) => None,
        Err(error) => error.pc().map(|pc| pc as u64),
    };
    VersionedOutcome {
        result: run.result.map_err(|error| describe_runtime(&error)),
        pc,
        instruction_count: run.instruction_count,
        memory: WritableMemory { stack, heap, input },
    }
}

/// Every way bpfvm's `ours` differs from the oracle's `theirs` (see
/// [`VersionedOutcome::differences`]), except the pc of a successful run, which bpfvm does not
/// report.
pub fn compare(ours: &VersionedOutcome, theirs: &VersionedOutcome) -> Vec<String> {
    let mut theirs = theirs.clone();
    if theirs.result.is_ok() {
        theirs.pc = ours.pc;
    }
    ours.differences(&theirs)
}
