//! Turning a program file into a verified program: kind detection, preset and syscall
//! choice, loading and verification, timed.
//!
//! Files are told apart by content first (ELF magic) and extension second: `.s`/`.asm` are
//! assembly, anything else is raw bytecode loaded as an ELF `.text` with its entry at slot 0.

use crate::{ConfigChoice, LoadOptions, SyscallChoice};
use bpfvm::syscalls::{register_conformance_helpers, register_demo_syscalls, SolanaContext};
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

/// The context every CLI run uses: a meter, logs, return data and a heap allocator.
pub type CliContext = SolanaContext;

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

/// A program file, read and classified.
pub struct ProgramFile {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its kind.
    pub kind: ProgramKind,
}

impl ProgramFile {
    /// Reads and classifies a file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let kind = if bytes.starts_with(b"\x7fELF") {
            ProgramKind::Elf
        } else if matches!(extension, "s" | "asm") {
            ProgramKind::Assembly
        } else {
            ProgramKind::Raw
        };
        Ok(ProgramFile { bytes, kind })
    }

    /// The preset `choice` means for this file.
    pub fn preset(&self, choice: ConfigChoice) -> Result<Preset, String> {
        Ok(match choice {
            ConfigChoice::Auto if self.kind == ProgramKind::Elf => {
                elf::preset_for(&self.bytes).map_err(|e| format!("cannot load: {e}"))?
            }
            ConfigChoice::Auto | ConfigChoice::Default => Preset::Default,
            ConfigChoice::Legacy => Preset::Legacy,
            ConfigChoice::Ebpf => Preset::Ebpf,
        })
    }

    /// The syscalls `choice` means for this file.
    pub fn syscalls(&self, choice: Option<SyscallChoice>, dialect: Dialect) -> SyscallChoice {
        match (choice, self.kind, dialect) {
            (Some(choice), _, _) => choice,
            (None, _, Dialect::Ebpf) => SyscallChoice::Helpers,
            (None, ProgramKind::Elf, Dialect::Sbpf) => SyscallChoice::Solana,
            (None, ProgramKind::Raw | ProgramKind::Assembly, Dialect::Sbpf) => SyscallChoice::Demo,
        }
    }
}

/// A loaded and verified program with the time loading and verification took.
pub struct Loaded {
    /// The program.
    pub program: VerifiedProgram<CliContext>,
    /// Nanoseconds spent loading and verifying.
    pub load_ns: u128,
    /// Nanoseconds spent in the JIT compiler, when it ran.
    pub compile_ns: Option<u128>,
    /// The names of an ELF file's imports by key (to name an unsupported syscall).
    pub imports: BTreeMap<u32, String>,
}

fn registry(choice: SyscallChoice) -> Result<SyscallRegistry<CliContext>, String> {
    let mut registry = SyscallRegistry::new();
    match choice {
        SyscallChoice::Solana => register_solana_syscalls(&mut registry),
        SyscallChoice::Demo => register_demo_syscalls(&mut registry),
        SyscallChoice::Helpers => register_conformance_helpers(&mut registry),
        SyscallChoice::None => Ok(()),
    }
    .map_err(|e| format!("cannot register syscalls: {e}"))?;
    Ok(registry)
}

/// The loader and dialect `options` select for `file`. `adjust` may change the
/// configuration (tracing).
pub fn loader_for(
    file: &ProgramFile,
    options: &LoadOptions,
    adjust: impl FnOnce(&mut Config),
) -> Result<(Arc<Loader<CliContext>>, Dialect), String> {
    let preset = file.preset(options.config)?;
    let dialect = preset.dialect();
    let mut config = preset.config();
    adjust(&mut config);
    let syscalls = registry(file.syscalls(options.syscalls, dialect))?;
    Ok((Arc::new(Loader::with_syscalls(config, syscalls)), dialect))
}

/// Reads, loads and verifies a program. `adjust` may change the configuration (tracing).
pub fn load(
    path: &Path,
    options: &LoadOptions,
    adjust: impl FnOnce(&mut Config),
) -> Result<Loaded, String> {
    let file = ProgramFile::read(path)?;
    let (loader, dialect) = loader_for(&file, options, adjust)?;
    crate::commands::instruction::warn_unresolved(&file.bytes, &loader.syscalls);
    let start = Instant::now();
    let executable = executable(&file, loader, dialect)?;
    let program = verify(executable).map_err(|e| format!("verification failed: {e}"))?;
    Ok(Loaded {
        program,
        load_ns: start.elapsed().as_nanos(),
        compile_ns: None,
        imports: crate::commands::instruction::import_names(&file.bytes),
    })
}

/// Loads a file into an (unverified) executable.
pub fn executable(
    file: &ProgramFile,
    loader: Arc<Loader<CliContext>>,
    dialect: Dialect,
) -> Result<Executable<CliContext>, String> {
    let loaded = match file.kind {
        ProgramKind::Elf => Executable::from_elf_in(&file.bytes, loader, dialect),
        ProgramKind::Raw => Executable::from_raw_program(&file.bytes, loader, dialect),
        ProgramKind::Assembly => return from_assembly(&file.bytes, loader, dialect),
    };
    loaded.map_err(|e| format!("cannot load: {e}"))
}

/// Assembles text and loads it as the ELF loader treats a `.text`: function labels are
/// registered and (in sBPF) relative calls are fixed up, so both configurations work.
fn from_assembly(
    source: &[u8],
    loader: Arc<Loader<CliContext>>,
    dialect: Dialect,
) -> Result<Executable<CliContext>, String> {
    let source = std::str::from_utf8(source).map_err(|_| "assembly is not UTF-8".to_owned())?;
    let assembled = bpfvm_asm::assemble(source, dialect).map_err(|e| format!("assembly: {e}"))?;
    let mut text = assembled.bytes;
    let mut functions = FunctionRegistry::new();
    let fail = |e: bpfvm::LoadError| format!("cannot load: {e}");
    if dialect == Dialect::Sbpf {
        relative_calls(&mut text);
        for label in &assembled.functions {
            functions
                .register(&loader, dialect, label.pc, &label.name)
                .map_err(fail)?;
        }
        fixup_relative_calls(&mut text, &mut functions, &loader).map_err(fail)?;
    }
    Executable::from_text_bytes(&text, loader, dialect, functions).map_err(fail)
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
