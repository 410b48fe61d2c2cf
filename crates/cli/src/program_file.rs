//! Turning a program file into a verified program: reading (a path or `-` for stdin), kind
//! detection, preset and syscall choice, loading and verification, timed.
//!
//! Files are told apart by content first (ELF magic) and extension second: `.s`/`.asm` are
//! assembly, anything else is raw bytecode loaded as an ELF `.text` with its entry at slot 0.
//! Standard input has no extension: there, text without NUL bytes is assembly (bytecode of a
//! real program always holds a zero byte: every `exit` does).

use crate::args::{ConfigChoice, LoadOptions, SyscallChoice};
use crate::context::CliContext;
use crate::failure::Failure;
use crate::schema::ProgramDescription;
use crate::validate::{self, HeapRules};
use bpfvm::limits::{DEFAULT_INSTRUCTION_BUDGET, SOLANA_MAX_COMPUTE_UNITS};
use bpfvm::syscalls::{register_conformance_helpers, register_demo_syscalls};
use bpfvm::{
    elf, fixup_relative_calls, verify, Config, Executable, FunctionRegistry, Loader, Preset,
    SyscallRegistry, VerifiedProgram,
};
use bpfvm_isa::{decode, encode, Dialect, Insn, Slot, SLOT_SIZE};
use bpfvm_solana::syscalls::register_syscalls as register_solana_syscalls;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// A program loaded for the CLI.
pub type CliProgram = VerifiedProgram<CliContext>;

/// What a program file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramKind {
    /// Raw bytecode.
    Raw,
    /// Assembly text.
    Assembly,
    /// An ELF object or shared object.
    Elf,
}

impl ProgramKind {
    fn name(self) -> &'static str {
        match self {
            ProgramKind::Raw => "raw",
            ProgramKind::Assembly => "assembly",
            ProgramKind::Elf => "elf",
        }
    }
}

/// A program file, read and classified.
pub struct ProgramFile {
    /// The path as given.
    pub path: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its kind.
    pub kind: ProgramKind,
}

/// What the program is run as: which runtime's limits and defaults apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// An sBPF program with the Solana syscalls: Solana's heap frames and compute budget.
    Solana,
    /// Anything else (eBPF, the reference's demo programs, no syscalls).
    Unmetered,
}

impl Runtime {
    /// The heap rules of this runtime.
    pub fn heap_rules(self) -> HeapRules {
        match self {
            Runtime::Solana => HeapRules::Solana,
            Runtime::Unmetered => HeapRules::Other,
        }
    }

    /// The budget when `--budget` is not given.
    pub fn default_budget(self) -> u64 {
        match self {
            Runtime::Solana => SOLANA_MAX_COMPUTE_UNITS,
            Runtime::Unmetered => DEFAULT_INSTRUCTION_BUDGET,
        }
    }
}

impl ProgramFile {
    /// Reads and classifies a file (`-`: standard input).
    pub fn read(path: &Path) -> Result<Self, Failure> {
        let bytes = validate::read_limited(path, validate::MAX_PROGRAM, "the program")?;
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let from_stdin = path.as_os_str() == "-";
        let looks_like_text = || !bytes.contains(&0) && std::str::from_utf8(&bytes).is_ok();
        let kind = if bytes.starts_with(b"\x7fELF") {
            ProgramKind::Elf
        } else if matches!(extension, "s" | "asm") || (from_stdin && looks_like_text()) {
            ProgramKind::Assembly
        } else {
            ProgramKind::Raw
        };
        Ok(ProgramFile {
            path: path.display().to_string(),
            bytes,
            kind,
        })
    }

    /// The preset `choice` means for this file.
    pub fn preset(&self, choice: ConfigChoice) -> Result<Preset, Failure> {
        Ok(match choice {
            ConfigChoice::Auto if self.kind == ProgramKind::Elf => elf::preset_for(&self.bytes)
                .map_err(|error| Failure::Load {
                    error,
                    program: None,
                })?,
            ConfigChoice::Auto => Preset::Default,
            named => named.named().unwrap_or(Preset::Default),
        })
    }

    /// The syscalls `choice` means for this file.
    pub fn syscalls(&self, choice: Option<SyscallChoice>, dialect: Dialect) -> SyscallChoice {
        match (choice, self.kind, dialect) {
            (Some(choice), _, _) => choice,
            (None, _, Dialect::Ebpf) => SyscallChoice::Helpers,
            (None, ProgramKind::Elf, Dialect::Sbpf | Dialect::Sbpf26(_)) => SyscallChoice::Solana,
            (
                None,
                ProgramKind::Raw | ProgramKind::Assembly,
                Dialect::Sbpf | Dialect::Sbpf26(_),
            ) => SyscallChoice::Demo,
        }
    }

    /// How this file is loaded under `preset` with `syscalls`.
    pub fn describe(&self, preset: Preset, syscalls: SyscallChoice) -> ProgramDescription {
        ProgramDescription {
            path: self.path.clone(),
            kind: self.kind.name(),
            config: preset.name(),
            dialect: dialect_name(preset.dialect()),
            syscalls: match syscalls {
                SyscallChoice::Solana => "solana",
                SyscallChoice::Demo => "demo",
                SyscallChoice::Helpers => "helpers",
                SyscallChoice::None => "none",
            },
        }
    }
}

/// A dialect's name in reports.
pub fn dialect_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sbpf => "sbpf",
        Dialect::Sbpf26(version) => match version {
            bpfvm::SbpfVersion::V0 => "sbpf-v0",
            bpfvm::SbpfVersion::V1 => "sbpf-v1",
            bpfvm::SbpfVersion::V2 => "sbpf-v2",
            bpfvm::SbpfVersion::V3 => "sbpf-v3",
            bpfvm::SbpfVersion::V4 => "sbpf-v4",
        },
        Dialect::Ebpf => "ebpf",
    }
}

/// The loader the options select for a file, with what it means.
pub struct Setup {
    /// The loader.
    pub loader: Arc<Loader<CliContext>>,
    /// The dialect.
    pub dialect: Dialect,
    /// How the file is loaded, for reports.
    pub description: ProgramDescription,
    /// Which runtime's limits apply.
    pub runtime: Runtime,
}

/// A loaded and verified program with the time loading and verification took.
pub struct Loaded {
    /// The program.
    pub program: CliProgram,
    /// How it was loaded.
    pub description: ProgramDescription,
    /// Which runtime's limits apply.
    pub runtime: Runtime,
    /// Nanoseconds spent loading and verifying.
    pub load_ns: u128,
    /// Nanoseconds spent in the JIT compiler, when it ran.
    pub compile_ns: Option<u128>,
    /// The names of an ELF file's imports by key (to name an unsupported syscall).
    pub imports: BTreeMap<u32, String>,
    /// The imports no registered syscall serves.
    pub unresolved: Vec<String>,
}

fn registry(choice: SyscallChoice) -> Result<SyscallRegistry<CliContext>, bpfvm::LoadError> {
    let mut registry = SyscallRegistry::new();
    match choice {
        SyscallChoice::Solana => register_solana_syscalls(&mut registry)?,
        SyscallChoice::Demo => register_demo_syscalls(&mut registry)?,
        SyscallChoice::Helpers => register_conformance_helpers(&mut registry)?,
        SyscallChoice::None => {}
    }
    Ok(registry)
}

/// The loader and dialect `options` select for `file`. `adjust` may change the
/// configuration (tracing, labels).
pub fn loader_for(
    file: &ProgramFile,
    options: &LoadOptions,
    adjust: impl FnOnce(&mut Config),
) -> Result<Setup, Failure> {
    let preset = file.preset(options.config)?;
    let dialect = preset.dialect();
    let mut config = preset.config();
    adjust(&mut config);
    let syscalls = file.syscalls(options.syscalls, dialect);
    let runtime = match (dialect, syscalls) {
        (Dialect::Sbpf | Dialect::Sbpf26(_), SyscallChoice::Solana) => Runtime::Solana,
        (
            Dialect::Sbpf | Dialect::Sbpf26(_),
            SyscallChoice::Demo | SyscallChoice::Helpers | SyscallChoice::None,
        )
        | (Dialect::Ebpf, _) => Runtime::Unmetered,
    };
    let description = file.describe(preset, syscalls);
    let registry = registry(syscalls).map_err(|error| Failure::Load {
        error,
        program: Some(Box::new(description.clone())),
    })?;
    Ok(Setup {
        loader: Arc::new(Loader::with_syscalls(config, registry)),
        dialect,
        description,
        runtime,
    })
}

/// Loads and verifies a program file already read.
pub fn load_file(
    file: &ProgramFile,
    options: &LoadOptions,
    adjust: impl FnOnce(&mut Config),
) -> Result<Loaded, Failure> {
    let setup = loader_for(file, options, adjust)?;
    let unresolved = crate::commands::instruction::unresolved(&file.bytes, &setup.loader.syscalls);
    let start = Instant::now();
    let executable = executable(file, &setup)?;
    let program = verify(executable).map_err(|error| Failure::Verify {
        error,
        program: Box::new(setup.description.clone()),
    })?;
    Ok(Loaded {
        program,
        description: setup.description,
        runtime: setup.runtime,
        load_ns: start.elapsed().as_nanos(),
        compile_ns: None,
        imports: crate::commands::instruction::import_names(&file.bytes),
        unresolved,
    })
}

/// Reads, loads and verifies a program.
pub fn load(
    path: &Path,
    options: &LoadOptions,
    adjust: impl FnOnce(&mut Config),
) -> Result<Loaded, Failure> {
    load_file(&ProgramFile::read(path)?, options, adjust)
}

/// Loads a file into an (unverified) executable.
pub fn executable(file: &ProgramFile, setup: &Setup) -> Result<Executable<CliContext>, Failure> {
    let loader = Arc::clone(&setup.loader);
    let loaded = match file.kind {
        ProgramKind::Elf => Executable::from_elf_in(&file.bytes, loader, setup.dialect),
        ProgramKind::Raw => Executable::from_raw_program(&file.bytes, loader, setup.dialect),
        ProgramKind::Assembly => return from_assembly(&file.bytes, loader, setup),
    };
    loaded.map_err(|error| Failure::Load {
        error,
        program: Some(Box::new(setup.description.clone())),
    })
}

/// Assembles text and loads it as the ELF loader treats a `.text`: function labels are
/// registered and (in sBPF) relative calls are fixed up, so both configurations work.
fn from_assembly(
    source: &[u8],
    loader: Arc<Loader<CliContext>>,
    setup: &Setup,
) -> Result<Executable<CliContext>, Failure> {
    let dialect = setup.dialect;
    let assembled = assemble(source, dialect)?;
    let mut text = assembled.bytes;
    let mut functions = FunctionRegistry::new();
    let fail = |error: bpfvm::LoadError| Failure::Load {
        error,
        program: Some(Box::new(setup.description.clone())),
    };
    let absolute = calls_are_absolute(dialect);
    if absolute {
        relative_calls(&mut text);
    }
    if dialect.is_sbpf() {
        for label in &assembled.functions {
            functions
                .register(&loader, dialect, label.pc, &label.name)
                .map_err(fail)?;
        }
    }
    if absolute {
        fixup_relative_calls(&mut text, &mut functions, &loader, dialect).map_err(fail)?;
    }
    Executable::from_text_bytes(&text, loader, dialect, functions).map_err(fail)
}

/// Assembles source bytes (which must be UTF-8).
pub fn assemble(source: &[u8], dialect: Dialect) -> Result<bpfvm_asm::Assembled, Failure> {
    let source = std::str::from_utf8(source).map_err(|e| Failure::Assemble {
        error: bpfvm_asm::AsmError {
            line: 1 + source
                .get(..e.valid_up_to())
                .map_or(0, |valid| valid.iter().filter(|b| **b == b'\n').count()),
            column: 1,
            message: "the source is not UTF-8".to_owned(),
        },
    })?;
    bpfvm_asm::assemble(source, dialect).map_err(|error| Failure::Assemble { error })
}

/// Whether the assembler writes local calls of `dialect` with the absolute target pc (the
/// 2022 reference's convention, kept for SBPF V0 to V2), which [`relative_calls`] turns into
/// the pc-relative form an ELF `.text` has. V3 and V4 write them pc-relative already.
pub fn calls_are_absolute(dialect: Dialect) -> bool {
    match dialect {
        Dialect::Sbpf => true,
        Dialect::Sbpf26(version) => !version.static_syscalls(),
        Dialect::Ebpf => false,
    }
}

/// The assembler writes local calls with the target pc in the immediate (the reference's
/// convention); the loader expects them pc-relative, as in an ELF `.text`.
pub fn relative_calls(text: &mut [u8]) {
    let slots = Slot::slots_of(text);
    for pc in 0..slots.len() {
        let Ok(Insn::Call { src, imm }) = decode(&slots, pc, Dialect::Sbpf) else {
            continue;
        };
        if src == 0 || imm == -1 {
            continue;
        }
        let relative = Insn::Call {
            src,
            imm: imm.wrapping_sub(pc as i32).wrapping_sub(1),
        };
        if let Ok(encoded) = encode(&relative, Dialect::Sbpf) {
            if let Some(first) = encoded.first() {
                text[pc * SLOT_SIZE..(pc + 1) * SLOT_SIZE].copy_from_slice(&first.to_bytes());
            }
        }
    }
}
