//! Loading through bpfvm: ELF files by version (lenient or strict) and raw text. The
//! executable's read-only section and text are views of the engine executable's bytes
//! (`bpfvm::Executable::shared_bytes`), so a load copies the file once, as bpfvm's own does.

use super::{engine_version, errors, EngineProgram, Translation};
use crate::{
    ebpf,
    elf::{get_sbpf_version, raw_text_ro_vaddr, ElfError, Executable, LoadedParts},
    elf_parser::ElfParserError,
    program::{BuiltinProgram, FunctionRegistry, SBPFVersion},
    vm::ContextObject,
};
use bpfvm::{Dialect, ExecutableParts, Function, ProgramRegion, TextPlacement};
use std::sync::Arc;

/// The ELF type of relocatable objects, which 0.26 does not load (bpfvm links them).
const ET_REL: u16 = 1;

/// The real crate's registry of an engine executable's functions.
pub(crate) fn registry_of(functions: &bpfvm::FunctionRegistry) -> FunctionRegistry<usize> {
    let mut registry = FunctionRegistry::default();
    for (key, function) in functions.iter() {
        // Keys are unique in the engine's registry, so this cannot collide.
        let _ = registry.register_function(key, function.name.as_bytes(), function.pc);
    }
    registry
}

/// An executable of an engine executable the engine's loader made from `bytes`: the
/// read-only section and the text are views of the engine's bytes, which both share (`bytes`,
/// the file, only tells the debugger where the text lies in it).
#[cfg_attr(
    not(feature = "debugger"),
    allow(
        unused_variables,
        reason = "the file is read only with the debugger feature"
    )
)]
fn from_engine<C: ContextObject>(
    bytes: &[u8],
    loader: Arc<BuiltinProgram<C>>,
    version: SBPFVersion,
    engine: bpfvm::Executable<super::Bridge<C>>,
) -> Executable<C> {
    let translation = Translation::of(&loader);
    Executable::from_loaded(LoadedParts {
        bytes: engine.shared_bytes().clone(),
        sbpf_version: version,
        ro_vaddr: engine.ro_vaddr(),
        ro_range: engine.ro_range(),
        text_section_vaddr: engine.text_vaddr(),
        text_range: engine.text_range(),
        #[cfg(feature = "debugger")]
        text_section_offset: text_offset_in(bytes, engine.text()),
        entry_pc: engine.entry_pc(),
        function_registry: None,
        loader,
        engine: EngineProgram::new(engine, translation),
    })
}

/// Where `text` first lies in `file` (0 when it does not).
#[cfg(feature = "debugger")]
fn text_offset_in(file: &[u8], text: &[u8]) -> u64 {
    file.windows(text.len().max(1))
        .position(|window| window == text)
        .unwrap_or(0) as u64
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
    let engine = bpfvm::Executable::from_parts(
        loader.engine_loader().loader.clone(),
        Dialect::Sbpf26(engine_version),
        ExecutableParts {
            ro_data: text.to_vec(),
            ro_start: 0,
            ro_vaddr: 0,
            text_offset: 0,
            text_len: text.len(),
            entry_pc,
            functions,
            program_region: ProgramRegion::ReadOnly,
            // Hosts map the read-only copy themselves (`get_ro_region`).
            text_placement: TextPlacement::Apart {
                ro_len: 0,
                text_vaddr: ebpf::MM_BYTECODE_START,
            },
        },
    )
    .map_err(errors::load_error)?;
    let translation = Translation::of(&loader);
    Ok(Executable::from_loaded(LoadedParts {
        bytes: engine.shared_bytes().clone(),
        sbpf_version: version,
        ro_vaddr: raw_text_ro_vaddr(version),
        ro_range: 0..text.len(),
        text_section_vaddr: ebpf::MM_BYTECODE_START,
        text_range: engine.text_range(),
        #[cfg(feature = "debugger")]
        text_section_offset: 0,
        entry_pc,
        function_registry: Some(registry),
        loader,
        engine: EngineProgram::new(engine, translation),
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
