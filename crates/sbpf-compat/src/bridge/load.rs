//! Loading through bpfvm: ELF files by version (lenient or strict), raw text, and the parts an
//! executable's engine program is made (and made again) from.

use super::{engine_version, errors, EngineProgram};
use crate::{
    aligned_memory::AlignedMemory,
    ebpf,
    elf::{get_sbpf_version, raw_text_ro_vaddr, ElfError, Executable, LoadedParts, Section},
    elf_parser::ElfParserError,
    program::{BuiltinProgram, FunctionRegistry, SBPFVersion},
    vm::ContextObject,
};
use bpfvm::{Dialect, ExecutableParts, Function, ProgramRegion, SbpfVersion, TextPlacement};
use std::sync::Arc;

/// The ELF type of relocatable objects, which 0.26 does not load (bpfvm links them).
const ET_REL: u16 = 1;

/// What the engine's executable is made from: the text where it runs, the entry and the
/// functions, under a version.
pub(crate) struct EngineParts {
    /// Shared with the executable's text.
    text: Arc<[u8]>,
    text_vaddr: u64,
    entry_pc: usize,
    functions: bpfvm::FunctionRegistry,
    version: SbpfVersion,
}

/// The engine's executable of `parts` (the text alone: hosts map the read-only data).
pub(crate) fn rebuild<C: ContextObject>(
    parts: &EngineParts,
    loader: &BuiltinProgram<C>,
) -> Result<bpfvm::Executable<super::Bridge<C>>, ElfError> {
    bpfvm::Executable::from_parts(
        loader.engine_loader().loader.clone(),
        Dialect::Sbpf26(parts.version),
        ExecutableParts {
            ro_data: parts.text.to_vec(),
            ro_start: 0,
            ro_vaddr: 0,
            text_offset: 0,
            text_len: parts.text.len(),
            entry_pc: parts.entry_pc,
            functions: parts.functions.clone(),
            program_region: ProgramRegion::ReadOnly,
            text_placement: TextPlacement::Apart {
                ro_len: 0,
                text_vaddr: parts.text_vaddr,
            },
        },
    )
    .map_err(errors::load_error)
}

impl EngineParts {
    /// The real crate's registry of the functions.
    pub(crate) fn function_registry(&self) -> FunctionRegistry<usize> {
        registry_of(&self.functions)
    }
}

/// The real crate's registry of an engine executable's functions.
fn registry_of(functions: &bpfvm::FunctionRegistry) -> FunctionRegistry<usize> {
    let mut registry = FunctionRegistry::default();
    for (key, function) in functions.iter() {
        // Keys are unique in the engine's registry, so this cannot collide.
        let _ = registry.register_function(key, function.name.as_bytes(), function.pc);
    }
    registry
}

/// An executable of an engine executable the engine's loader made from `bytes`.
fn from_engine<C: ContextObject>(
    bytes: &[u8],
    loader: Arc<BuiltinProgram<C>>,
    version: SBPFVersion,
    engine: bpfvm::Executable<super::Bridge<C>>,
) -> Executable<C> {
    let parts = EngineParts {
        text: Arc::from(engine.text()),
        text_vaddr: engine.text_vaddr(),
        entry_pc: engine.entry_pc(),
        functions: engine.functions().clone(),
        version: engine_version(version),
    };
    Executable::from_loaded(LoadedParts {
        elf_bytes: AlignedMemory::from_slice(bytes),
        sbpf_version: version,
        ro_section: Section::Owned(engine.ro_vaddr() as usize, engine.ro_data().to_vec()),
        text_section_vaddr: parts.text_vaddr,
        text: parts.text.clone(),
        entry_pc: parts.entry_pc,
        function_registry: None,
        loader,
        engine: EngineProgram::new(engine, parts),
    })
}

/// `Executable::load`.
pub(crate) fn from_elf<C: ContextObject>(
    bytes: &[u8],
    loader: Arc<BuiltinProgram<C>>,
) -> Result<Executable<C>, ElfError> {
    let version = get_sbpf_version(bytes)?;
    if !loader.get_config().enabled_sbpf_versions.contains(&version) {
        return Err(ElfError::UnsupportedSBPFVersion);
    }
    let Some(engine_version) = version.engine() else {
        return Err(ElfError::UnsupportedSBPFVersion);
    };
    let engine_loader = loader.engine_loader().loader.clone();
    let engine = bpfvm::elf::load_in(bytes, engine_loader, Dialect::Sbpf26(engine_version))
        .map_err(errors::load_error)?;
    if !version.enable_stricter_elf_headers() && e_type(bytes) == Some(ET_REL) {
        return Err(ElfError::WrongType);
    }
    Ok(from_engine(bytes, loader, version, engine))
}

/// `Executable::load_with_strict_parser`: the strict loader whatever `e_flags` say (the
/// version recorded is the file's if it is V3 or V4, else V3).
pub(crate) fn strict<C: ContextObject>(
    bytes: &[u8],
    loader: Arc<BuiltinProgram<C>>,
) -> Result<Executable<C>, ElfParserError> {
    let version = match get_sbpf_version(bytes) {
        Ok(version @ (SBPFVersion::V3 | SBPFVersion::V4)) => version,
        _ => SBPFVersion::V3,
    };
    let engine_loader = loader.engine_loader().loader.clone();
    let engine = bpfvm::elf::load_strict(bytes, engine_loader, engine_version(version)).map_err(
        |error| match error {
            bpfvm::LoadError::InvalidProgramHeader => ElfParserError::InvalidProgramHeader,
            bpfvm::LoadError::ValueOutOfBounds => ElfParserError::OutOfBounds,
            bpfvm::LoadError::FailedToParse { .. } => ElfParserError::InvalidFileHeader,
            _ => ElfParserError::InvalidFileHeader,
        },
    )?;
    Ok(from_engine(bytes, loader, version, engine))
}

/// The ELF type field, if the file holds one.
fn e_type(bytes: &[u8]) -> Option<u16> {
    let field = bytes.get(16..18)?;
    Some(u16::from_le_bytes([field[0], field[1]]))
}

/// `Executable::new_from_text_bytes`.
pub(crate) fn from_text_bytes<C: ContextObject>(
    text: &[u8],
    loader: Arc<BuiltinProgram<C>>,
    version: SBPFVersion,
    mut registry: FunctionRegistry<usize>,
) -> Result<Executable<C>, ElfError> {
    let Some(engine_version) = version.engine() else {
        return Err(ElfError::UnsupportedSBPFVersion);
    };
    let entry_pc = match registry.lookup_by_name(b"entrypoint") {
        Some((_, pc)) => pc,
        None => {
            let key = entrypoint_key(&loader, version)?;
            registry.register_function(key, *b"entrypoint", 0)?;
            0
        }
    };
    let mut functions = bpfvm::FunctionRegistry::new();
    for (key, (name, pc)) in registry.iter() {
        let function = Function {
            pc,
            name: String::from_utf8_lossy(name).into_owned(),
        };
        functions
            .insert(key, function)
            .map_err(errors::load_error)?;
    }
    let parts = EngineParts {
        text: Arc::from(text),
        text_vaddr: ebpf::MM_BYTECODE_START,
        entry_pc,
        functions,
        version: engine_version,
    };
    let engine = rebuild(&parts, &loader)?;
    Ok(Executable::from_loaded(LoadedParts {
        elf_bytes: AlignedMemory::from_slice(text),
        sbpf_version: version,
        ro_section: Section::Borrowed(raw_text_ro_vaddr(version) as usize, 0..text.len()),
        text_section_vaddr: ebpf::MM_BYTECODE_START,
        text: parts.text.clone(),
        entry_pc,
        function_registry: Some(registry),
        loader,
        engine: EngineProgram::new(engine, parts),
    }))
}

/// The key the default entrypoint registers under: its pc (0) with static syscalls, else
/// the hash of "entrypoint", which must not be a builtin's.
fn entrypoint_key<C: ContextObject>(
    loader: &BuiltinProgram<C>,
    version: SBPFVersion,
) -> Result<u32, ElfError> {
    if version.static_syscalls() {
        return Ok(0);
    }
    let key = ebpf::hash_symbol_name(b"entrypoint");
    match loader.get_function_registry().lookup_by_key(key) {
        Some(_) => Err(ElfError::SymbolHashCollision(key)),
        None => Ok(key),
    }
}
