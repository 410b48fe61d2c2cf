//! The solana-sbpf 0.26 oracle adapter: runs a program on 0.26's interpreter and on its JIT,
//! per SBPF version, and reduces each run to a [`VersionedOutcome`].
//!
//! Settings are those Agave executes programs with (spec `sbpf-0.26.md` §1.10, and the
//! baseline of `shared/corpus/sbpf_elfs/README.md` §5.1): call depth 64, 4 KiB frames, gaps on
//! (they apply to V0 only), metering on with checkpoints every 10000 slots, `optimize_rodata`
//! off, the aligned memory mapping, `reject_broken_elfs` off ([`LoaderMode::Execute`]; on
//! for [`LoaderMode::Deploy`]), and versions V0..=V4 enabled for testing. Memory is mapped as
//! Agave's `create_vm` does: the executable's read-only region, a zeroed stack of 64 frames at
//! `0x2_0000_0000` (gapped for V0), a zeroed heap at `0x3_0000_0000` and the input, writable,
//! at `0x4_0000_0000`; r1 points to the input and `EbpfVm::new` sets r10 by version.
//!
//! A program is loaded, verified and JIT-compiled once; each engine then runs it in a fresh VM
//! on fresh memory ([`run`]: the memory, the mapping and a reusable VM). Errors become
//! [`ErrorDesc`]s through their `Debug` text ([`describe_debug`]); the pc is register 11
//! after the run.
//!
//! Shared by the tests and benches through `#[path]`; each user takes what it needs.

#![allow(dead_code, reason = "each test and bench uses part of the adapter")]

pub mod run;
pub mod solana;
mod syscalls;

use bpfvm_testkit::outcome::{ErrorDesc, Stage};
use bpfvm_testkit::sbpf26::rawgen::RawProgram;
use bpfvm_testkit::sbpf26::{describe_debug, Engine, Version, VersionedOutcome};
use bpfvm_testkit::syscalls::SyscallSet;
use solana_sbpf::elf::Executable;
use solana_sbpf::error::EbpfError;
use solana_sbpf::memory_region::MemoryMapping;
use solana_sbpf::program::{BuiltinProgram, FunctionRegistry, SBPFVersion};
use solana_sbpf::verifier::RequisiteVerifier;
use solana_sbpf::vm::{Config, ContextObject};
use std::ptr::NonNull;
use std::sync::Arc;

pub use run::execute;
pub use syscalls::Context26;

/// Agave's heap size for a program (32 KiB).
pub const AGAVE_HEAP_SIZE: usize = 32 * 1024;

/// Whether the loader runs with Agave's execution or deployment setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoaderMode {
    /// `reject_broken_elfs` off: how deployed programs are loaded for execution.
    Execute,
    /// `reject_broken_elfs` on: how Agave checks a program at deployment.
    Deploy,
}

/// The program of a case.
#[derive(Clone, Copy, Debug)]
pub enum Program26<'a> {
    /// Raw text bytes of the given version (`Executable::from_text_bytes`); the listed pcs
    /// are registered as internal functions under the keys the version's calls use.
    Text {
        /// The text.
        bytes: &'a [u8],
        /// Its version.
        version: Version,
        /// Internal function start pcs.
        functions: &'a [usize],
    },
    /// An ELF file; its `e_flags` select the version.
    Elf(&'a [u8]),
}

/// Everything one oracle run needs.
#[derive(Clone, Copy, Debug)]
pub struct Case26<'a> {
    /// The program.
    pub program: Program26<'a>,
    /// Execution or deployment loader setting.
    pub loader: LoaderMode,
    /// The syscalls registered (by name: their keys are Murmur3-32 of the names).
    pub syscalls: SyscallSet,
    /// The input region's bytes.
    pub input: &'a [u8],
    /// The heap size.
    pub heap_size: usize,
    /// The instruction budget.
    pub budget: u64,
}

impl<'a> Case26<'a> {
    /// A case with Agave's execution settings, no syscalls, no input, Agave's heap and a
    /// budget of 10^6.
    pub fn new(program: Program26<'a>) -> Case26<'a> {
        Case26 {
            program,
            loader: LoaderMode::Execute,
            syscalls: SyscallSet::None,
            input: &[],
            heap_size: AGAVE_HEAP_SIZE,
            budget: 1_000_000,
        }
    }
}

impl<'a> Case26<'a> {
    /// The case of a generated program: its text, functions, syscalls, input, heap and
    /// budget, with Agave's execution settings.
    pub fn generated(program: &'a RawProgram) -> Case26<'a> {
        Case26 {
            program: Program26::Text {
                bytes: &program.text,
                version: program.version,
                functions: &program.functions,
            },
            loader: LoaderMode::Execute,
            syscalls: program.syscalls,
            input: &program.input,
            heap_size: program.heap_size,
            budget: program.budget,
        }
    }
}

/// 0.26's version value for ours.
pub fn sbpf_version(version: Version) -> SBPFVersion {
    match version {
        Version::V0 => SBPFVersion::V0,
        Version::V1 => SBPFVersion::V1,
        Version::V2 => SBPFVersion::V2,
        Version::V3 => SBPFVersion::V3,
        Version::V4 => SBPFVersion::V4,
    }
}

/// The configuration Agave executes programs with, versions V0..=V4 enabled.
pub fn agave_config(loader: LoaderMode) -> Config {
    Config {
        max_call_depth: 64,
        stack_frame_size: 4096,
        enable_address_translation: true,
        enable_stack_frame_gaps: true,
        instruction_meter_checkpoint_distance: 10_000,
        enable_instruction_meter: true,
        enable_symbol_and_section_labels: false,
        reject_broken_elfs: loader == LoaderMode::Deploy,
        noop_instruction_rate: 256,
        sanitize_user_provided_values: true,
        optimize_rodata: false,
        aligned_memory_mapping: true,
        enabled_sbpf_versions: SBPFVersion::V0..=SBPFVersion::V4,
    }
}

/// The loader (configuration and syscalls) of a case.
pub fn loader(case: &Case26<'_>) -> Arc<BuiltinProgram<Context26>> {
    let mut loader = BuiltinProgram::new_loader(agave_config(case.loader));
    syscalls::register(&mut loader, case.syscalls);
    Arc::new(loader)
}

/// The key a call of `version` uses for the internal function at `pc`: Murmur3 of the pc's
/// eight little-endian bytes before V3, the pc itself from V3 on (where the registry only
/// carries labels).
pub fn function_key(version: Version, pc: usize) -> u32 {
    if version.strict_elf() {
        pc as u32
    } else {
        bpfvm_isa::hash_symbol_name(&(pc as u64).to_le_bytes())
    }
}

/// A 0.26 error as an [`ErrorDesc`].
pub fn describe(error: &EbpfError) -> ErrorDesc {
    match error {
        EbpfError::ElfError(inner) => describe_debug(Stage::Load, &format!("{inner:?}")),
        EbpfError::VerifierError(inner) => describe_debug(Stage::Verify, &format!("{inner:?}")),
        EbpfError::SyscallError(inner) => {
            let text = match inner.downcast_ref::<EbpfError>() {
                Some(inner) => describe(inner).to_string(),
                None => inner.to_string(),
            };
            ErrorDesc {
                stage: Stage::Runtime,
                kind: "SyscallError".to_owned(),
                fields: vec![bpfvm_testkit::Field::Value(text)],
            }
        }
        other => describe_debug(Stage::Runtime, &format!("{other:?}")),
    }
}

/// Loads a case's program (no verification).
pub fn load(case: &Case26<'_>) -> Result<Executable<Context26>, ErrorDesc> {
    let loader = loader(case);
    match case.program {
        Program26::Text {
            bytes,
            version,
            functions,
        } => text_executable(loader, bytes, version, functions, 0),
        Program26::Elf(bytes) => {
            Executable::from_elf(bytes, loader).map_err(|error| describe(&error))
        }
    }
}

/// An executable from raw text of `version`, with `functions` registered under the keys
/// the version's calls use and, when `entry` is not 0, `entrypoint` registered at `entry`.
pub fn text_executable(
    loader: Arc<BuiltinProgram<Context26>>,
    bytes: &[u8],
    version: Version,
    functions: &[usize],
    entry: usize,
) -> Result<Executable<Context26>, ErrorDesc> {
    let mut keyed: Vec<(u32, String, usize)> = functions
        .iter()
        .map(|&pc| (function_key(version, pc), format!("function_{pc}"), pc))
        .collect();
    if entry != 0 {
        let key = if version.strict_elf() {
            entry as u32
        } else {
            bpfvm_isa::hash_symbol_name(b"entrypoint")
        };
        keyed.push((key, "entrypoint".to_owned(), entry));
    }
    keyed_text_executable(loader, bytes, version, &keyed)
}

/// An executable from raw text of `version` with the functions registered exactly as given
/// (key, name, pc): for text whose calls use another VM's keys (the benches run bytes
/// assembled by 0.2.38's assembler). A function named `entrypoint` is the entry.
pub fn keyed_text_executable(
    loader: Arc<BuiltinProgram<Context26>>,
    bytes: &[u8],
    version: Version,
    functions: &[(u32, String, usize)],
) -> Result<Executable<Context26>, ErrorDesc> {
    let mut registry = FunctionRegistry::default();
    for (key, name, pc) in functions {
        registry
            .register_function(*key, name.as_bytes(), *pc)
            .map_err(|error| describe(&EbpfError::ElfError(error)))?;
    }
    Executable::from_text_bytes(bytes, loader, sbpf_version(version), registry)
        .map_err(|error| describe(&error))
}

/// Loads and verifies a case's program.
pub fn load_verified(case: &Case26<'_>) -> Result<Executable<Context26>, ErrorDesc> {
    let executable = load(case)?;
    executable
        .verify::<RequisiteVerifier>()
        .map_err(|error| describe(&error))?;
    Ok(executable)
}

/// The verifier's verdict on raw text of a version.
pub fn verify(text: &[u8], version: Version) -> Result<(), ErrorDesc> {
    let program = Program26::Text {
        bytes: text,
        version,
        functions: &[],
    };
    load_verified(&Case26::new(program)).map(|_| ())
}

/// Runs a case on both engines: (interpreter, JIT). A program that does not load, verify or
/// compile gives the same not-run outcome twice.
pub fn run_both(case: &Case26<'_>) -> (VersionedOutcome, VersionedOutcome) {
    let executable = match prepare(case) {
        Ok(executable) => executable,
        Err(error) => {
            let outcome = VersionedOutcome::not_run(error, case.input);
            return (outcome.clone(), outcome);
        }
    };
    (
        execute(&executable, case, Engine::Interpreter),
        execute(&executable, case, Engine::Jit),
    )
}

/// Runs a case on one engine.
pub fn run(case: &Case26<'_>, engine: Engine) -> VersionedOutcome {
    match prepare(case) {
        Ok(executable) => execute(&executable, case, engine),
        Err(error) => VersionedOutcome::not_run(error, case.input),
    }
}

/// Loads, verifies and JIT-compiles.
pub fn prepare(case: &Case26<'_>) -> Result<Executable<Context26>, ErrorDesc> {
    let executable = load_verified(case)?;
    executable.jit_compile().map_err(|error| ErrorDesc {
        stage: Stage::Load,
        kind: "JitCompileError".to_owned(),
        fields: vec![bpfvm_testkit::Field::Value(format!("{error:?}"))],
    })?;
    Ok(executable)
}

impl ContextObject for Context26 {
    fn consume(&mut self, amount: u64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }

    fn get_remaining(&self) -> u64 {
        self.remaining
    }

    fn active_mapping_ptr(&mut self) -> NonNull<MemoryMapping> {
        NonNull::from(&mut self.mapping)
    }
}
