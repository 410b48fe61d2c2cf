//! Loading a program (solana-sbpf 0.26's `elf` module): [`Executable`], its [`ElfError`],
//! the read-only [`Section`] and the version an ELF file names.
//!
//! An [`Executable`] is made by bpfvm's loader (the lenient section loader for V0 to V2, the
//! strict program-header loader for V3 and V4, as 0.26 chooses by `e_flags`) and keeps what
//! the API exposes: the read-only section the host maps, the text, the entry and the function
//! registry, as views of the engine executable's bytes (shared, not copied). Verifying it
//! builds bpfvm's verified program once and `jit_compile` compiles it with bpfvm's JIT, both
//! in place; the first run publishes it, and runs read it without a lock (see
//! `crate::bridge::EngineProgram`).

use crate::{
    bridge::{self, EngineProgram},
    ebpf,
    elf_parser::{types::Elf64Shdr, Elf64, ElfParserError},
    error::EbpfError,
    memory_region::MemoryRegion,
    program::{BuiltinProgram, FunctionRegistry, JitProgram, SBPFVersion},
    verifier::Verifier,
    vm::{Config, ContextObject},
};
use std::{
    ops::Range,
    sync::{Arc, Mutex, OnceLock},
};

/// Why an ELF file could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    /// The file is malformed.
    #[error("Failed to parse ELF file: {0}")]
    FailedToParse(String),
    /// The entry point lies outside the text.
    #[error("Entrypoint out of bounds")]
    EntrypointOutOfBounds,
    /// The entry point is not on an instruction.
    #[error("Invalid entrypoint")]
    InvalidEntrypoint,
    /// A section could not be read.
    #[error("Failed to get section {0}")]
    FailedToGetSection(String),
    /// A relocation names an unregistered syscall: its name, slot and file offset.
    #[error("Unresolved symbol ({0}) at instruction #{1:?} (ELF file offset {2:#x})")]
    UnresolvedSymbol(String, usize, usize),
    /// A section is missing.
    #[error("Section not found: {0}")]
    SectionNotFound(String),
    /// A relative call leaves the text (the calling slot).
    #[error("Relative jump out of bounds at instruction #{0}")]
    RelativeJumpOutOfBounds(usize),
    /// Two functions (or a function and a syscall) share a key.
    #[error("Symbol hash collision {0:#x}")]
    SymbolHashCollision(u32),
    /// The file is not little-endian.
    #[error("Incompatible ELF: wrong endianess")]
    WrongEndianess,
    /// The OS ABI is not 0.
    #[error("Incompatible ELF: wrong ABI")]
    WrongAbi,
    /// The machine is not BPF.
    #[error("Incompatible ELF: wrong machine")]
    WrongMachine,
    /// The file is not 64-bit.
    #[error("Incompatible ELF: wrong class")]
    WrongClass,
    /// There is not exactly one `.text` section.
    #[error("Multiple or no text sections, consider removing llc option: -function-sections")]
    NotOneTextSection,
    /// A writable section (named).
    #[error("Found writable section ({0}) in ELF, read-write data not supported")]
    WritableSectionNotSupported(String),
    /// A relocation outside every loadable section.
    #[error("Relocation failed, no loadable section contains virtual address {0:#x}")]
    AddressOutsideLoadableSection(u64),
    /// A relocation's target address is invalid.
    #[error("Relocation failed, invalid referenced virtual address {0:#x}")]
    InvalidVirtualAddress(u64),
    /// A relocation of unknown type.
    #[error("Relocation failed, unknown type {0:?}")]
    UnknownRelocation(u32),
    /// Relocation data could not be read.
    #[error("Failed to read relocation info")]
    FailedToReadRelocationInfo,
    /// The file type is not a shared object.
    #[error("Incompatible ELF: wrong type")]
    WrongType,
    /// A symbol that cannot be read (its index).
    #[error("Unknown symbol with index {0}")]
    UnknownSymbol(usize),
    /// An offset or value is out of bounds.
    #[error("Offset or value is out of bounds")]
    ValueOutOfBounds,
    /// The file's version is not enabled.
    #[error("Detected sbpf_version required by the executable which are not enabled")]
    UnsupportedSBPFVersion,
    /// A program header is invalid.
    #[error("Invalid ELF program header")]
    InvalidProgramHeader,
}

impl ElfError {
    /// The variant's index.
    pub fn discriminant(&self) -> u64 {
        match self {
            ElfError::FailedToParse(_) => 0,
            ElfError::EntrypointOutOfBounds => 1,
            ElfError::InvalidEntrypoint => 2,
            ElfError::FailedToGetSection(_) => 3,
            ElfError::UnresolvedSymbol(..) => 4,
            ElfError::SectionNotFound(_) => 5,
            ElfError::RelativeJumpOutOfBounds(_) => 6,
            ElfError::SymbolHashCollision(_) => 7,
            ElfError::WrongEndianess => 8,
            ElfError::WrongAbi => 9,
            ElfError::WrongMachine => 10,
            ElfError::WrongClass => 11,
            ElfError::NotOneTextSection => 12,
            ElfError::WritableSectionNotSupported(_) => 13,
            ElfError::AddressOutsideLoadableSection(_) => 14,
            ElfError::InvalidVirtualAddress(_) => 15,
            ElfError::UnknownRelocation(_) => 16,
            ElfError::FailedToReadRelocationInfo => 17,
            ElfError::WrongType => 18,
            ElfError::UnknownSymbol(_) => 19,
            ElfError::ValueOutOfBounds => 20,
            ElfError::UnsupportedSBPFVersion => 21,
            ElfError::InvalidProgramHeader => 22,
        }
    }
}

impl From<ElfParserError> for ElfError {
    fn from(error: ElfParserError) -> Self {
        match error {
            ElfParserError::OutOfBounds => ElfError::ValueOutOfBounds,
            ElfParserError::InvalidProgramHeader => ElfError::InvalidProgramHeader,
            other => ElfError::FailedToParse(other.to_string()),
        }
    }
}

/// The read-only bytes a program maps: its guest address and the bytes, owned or as a range
/// of the file.
#[derive(Debug, PartialEq)]
pub enum Section {
    /// The guest address and the bytes.
    Owned(usize, Vec<u8>),
    /// The guest address and where the bytes lie in the file.
    Borrowed(usize, Range<usize>),
}

/// A loaded program.
pub struct Executable<C: ContextObject> {
    /// The engine executable's bytes (the relocated file, or the read-only image bpfvm's
    /// loader built; the raw text for `from_text_bytes`), shared with it, not copied.
    bytes: Arc<Vec<u8>>,
    sbpf_version: SBPFVersion,
    /// The guest address of the read-only section, and where it lies in `bytes`.
    ro_vaddr: u64,
    ro_range: Range<usize>,
    text_section_vaddr: u64,
    /// Where the text lies in `bytes`.
    text_range: Range<usize>,
    /// Where the text lies in the file.
    #[cfg(feature = "debugger")]
    text_section_offset: u64,
    entry_pc: usize,
    /// Made from the engine's functions on the first call of `get_function_registry` when
    /// the load did not give it.
    function_registry: OnceLock<FunctionRegistry<usize>>,
    loader: Arc<BuiltinProgram<C>>,
    /// bpfvm's program: loaded, verified, compiled.
    pub(crate) engine: EngineProgram<C>,
    compiled_program: Mutex<Option<Arc<JitProgram>>>,
}

impl<C: ContextObject> std::fmt::Debug for Executable<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executable")
            .field("sbpf_version", &self.sbpf_version)
            .field("text_section_vaddr", &self.text_section_vaddr)
            .field("entry_pc", &self.entry_pc)
            .field("function_registry", self.get_function_registry())
            .finish()
    }
}

/// Two executables are equal when they hold the same bytes (the real crate compares the
/// relocated files; the drop-in compares what bpfvm's loader kept of them, which for two
/// loads of one file under one loader is the same), sections, entry, functions and loader.
impl<C: PartialEq + ContextObject> PartialEq for Executable<C> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
            && self.sbpf_version == other.sbpf_version
            && self.ro_vaddr == other.ro_vaddr
            && self.get_ro_section() == other.get_ro_section()
            && self.text_section_vaddr == other.text_section_vaddr
            && self.get_text_bytes() == other.get_text_bytes()
            && self.entry_pc == other.entry_pc
            && self.get_function_registry() == other.get_function_registry()
            && *self.loader == *other.loader
    }
}

/// What a loaded program consists of, as the bridge hands it over.
pub(crate) struct LoadedParts<C: ContextObject> {
    pub bytes: Arc<Vec<u8>>,
    pub sbpf_version: SBPFVersion,
    pub ro_vaddr: u64,
    pub ro_range: Range<usize>,
    pub text_section_vaddr: u64,
    pub text_range: Range<usize>,
    #[cfg(feature = "debugger")]
    pub text_section_offset: u64,
    pub entry_pc: usize,
    /// The real crate's registry, or `None` to make it from the engine's functions when it
    /// is first asked for.
    pub function_registry: Option<FunctionRegistry<usize>>,
    pub loader: Arc<BuiltinProgram<C>>,
    pub engine: EngineProgram<C>,
}

impl<C: ContextObject> Executable<C> {
    pub(crate) fn from_loaded(parts: LoadedParts<C>) -> Self {
        Executable {
            bytes: parts.bytes,
            sbpf_version: parts.sbpf_version,
            ro_vaddr: parts.ro_vaddr,
            ro_range: parts.ro_range,
            text_section_vaddr: parts.text_section_vaddr,
            text_range: parts.text_range,
            #[cfg(feature = "debugger")]
            text_section_offset: parts.text_section_offset,
            entry_pc: parts.entry_pc,
            function_registry: match parts.function_registry {
                Some(registry) => OnceLock::from(registry),
                None => OnceLock::new(),
            },
            loader: parts.loader,
            engine: parts.engine,
            compiled_program: Mutex::new(None),
        }
    }

    /// The loader's configuration.
    pub fn get_config(&self) -> &Config {
        self.loader.get_config()
    }

    /// The program's SBPF version.
    pub fn get_sbpf_version(&self) -> SBPFVersion {
        self.sbpf_version
    }

    /// The text's guest address and bytes.
    pub fn get_text_bytes(&self) -> (u64, &[u8]) {
        (self.text_section_vaddr, self.text())
    }

    /// The read-only bytes the program maps (the text included, for V0 to V2).
    pub fn get_ro_section(&self) -> &[u8] {
        self.bytes.get(self.ro_range.clone()).unwrap_or(&[])
    }

    /// The read-only region to map (it borrows this executable's bytes).
    pub fn get_ro_region(&self) -> MemoryRegion {
        MemoryRegion::new(std::ptr::from_ref(self.get_ro_section()), self.ro_vaddr)
    }

    /// The entry slot.
    pub fn get_entrypoint_instruction_offset(&self) -> usize {
        self.entry_pc
    }

    /// The text's offset in the file (the real crate offers it with the debugger feature).
    #[cfg(feature = "debugger")]
    pub fn get_text_section_offset(&self) -> u64 {
        self.text_section_offset
    }

    /// The text's guest address.
    #[cfg(feature = "debugger")]
    pub fn get_text_section_vaddr(&self) -> u64 {
        self.text_section_vaddr
    }

    /// The loader.
    pub fn get_loader(&self) -> &Arc<BuiltinProgram<C>> {
        &self.loader
    }

    /// The compiled program, if `jit_compile` ran.
    pub fn get_compiled_program(&self) -> Option<Arc<JitProgram>> {
        self.compiled_program
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Removes the compiled program (later runs interpret until `jit_compile` runs again).
    pub fn take_compiled_program(&self) -> Option<Arc<JitProgram>> {
        self.engine.drop_compiled();
        self.compiled_program
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Checks the program with `V` (and builds bpfvm's verified program: see
    /// `crate::verifier` for what happens when `V` accepts what bpfvm's verifier refuses).
    pub fn verify<V: Verifier>(&self) -> Result<(), EbpfError> {
        bridge::verify::<C, V>(self)
    }

    /// Compiles the program with bpfvm's JIT (verifying it first if needed).
    pub fn jit_compile(&self) -> Result<(), EbpfError> {
        let length = bridge::jit_compile(self)?;
        *self
            .compiled_program
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(Arc::new(JitProgram::new(length)));
        Ok(())
    }

    /// The program's functions by key.
    pub fn get_function_registry(&self) -> &FunctionRegistry<usize> {
        self.function_registry
            .get_or_init(|| self.engine.function_registry())
    }

    /// Takes `text_bytes` as a program's text (see [`Executable::from_text_bytes`]).
    pub fn new_from_text_bytes(
        text_bytes: &[u8],
        loader: Arc<BuiltinProgram<C>>,
        sbpf_version: SBPFVersion,
        function_registry: FunctionRegistry<usize>,
    ) -> Result<Self, ElfError> {
        bridge::load::from_text_bytes(text_bytes, loader, sbpf_version, function_registry)
    }

    /// Loads an ELF file: the version from `e_flags` (it must be enabled), then the lenient
    /// loader for V0 to V2 or the strict one for V3 and V4.
    pub fn load(bytes: &[u8], loader: Arc<BuiltinProgram<C>>) -> Result<Self, ElfError> {
        bridge::load::from_elf(bytes, loader)
    }

    /// Loads an ELF file with the strict (SIMD-0189) loader, whatever its `e_flags`.
    pub fn load_with_strict_parser(
        bytes: &[u8],
        loader: Arc<BuiltinProgram<C>>,
    ) -> Result<Self, ElfParserError> {
        bridge::load::strict(bytes, loader)
    }

    /// An estimate of the memory the executable holds, in bytes.
    pub fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>()
            .saturating_add(self.bytes.capacity())
            .saturating_add(self.get_function_registry().mem_size())
            .saturating_add(
                self.get_compiled_program()
                    .map_or(0, |program| program.mem_size()),
            )
    }

    /// The file's identification checks of the lenient loader (class, data, OS ABI,
    /// machine, type).
    pub fn validate(elf: &Elf64, elf_bytes: &[u8]) -> Result<(), ElfError> {
        crate::elf_parser::validate(elf, elf_bytes)
    }

    /// The read-only section the lenient loader makes of these sections (names and headers),
    /// by 0.26's rules: `.text`, `.rodata`, `.data.rel.ro` and `.eh_frame` are read-only;
    /// the bytes are borrowed from the file when every such section lies at its file offset
    /// and `optimize_rodata` is on, else copied into one buffer.
    pub fn parse_ro_sections<'a, S: IntoIterator<Item = (Option<&'a [u8]>, &'a Elf64Shdr)>>(
        config: &Config,
        sections: S,
        elf_bytes: &[u8],
    ) -> Result<Section, ElfError> {
        crate::elf_parser::parse_ro_sections(config, sections, elf_bytes)
    }

    /// The text as the engine sees it.
    pub(crate) fn text(&self) -> &[u8] {
        self.bytes.get(self.text_range.clone()).unwrap_or(&[])
    }
}

/// The bytes of a section.
fn section_bytes<'a>(section: &'a Section, elf: &'a [u8]) -> &'a [u8] {
    match section {
        Section::Owned(_, data) => data.as_slice(),
        Section::Borrowed(_, range) => elf.get(range.clone()).unwrap_or(&[]),
    }
}

/// The SBPF version `e_flags` names (0..=4, anything else `Reserved`); `OutOfBounds` when the
/// file is too short to hold the field.
pub fn get_sbpf_version(elf_bytes: &[u8]) -> Result<SBPFVersion, ElfParserError> {
    let field = elf_bytes.get(48..52).ok_or(ElfParserError::OutOfBounds)?;
    let e_flags = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
    Ok(match e_flags {
        0 => SBPFVersion::V0,
        1 => SBPFVersion::V1,
        2 => SBPFVersion::V2,
        3 => SBPFVersion::V3,
        4 => SBPFVersion::V4,
        _ => SBPFVersion::Reserved,
    })
}

/// The read-only region of a section, at the section's guest address. For a borrowed
/// section `elf` must be the file it borrows from.
pub fn get_ro_region(ro_section: &Section, elf: &[u8]) -> MemoryRegion {
    let (vm_addr, bytes) = match ro_section {
        Section::Owned(vm_addr, data) => (*vm_addr, data.as_slice()),
        Section::Borrowed(vm_addr, _) => (*vm_addr, section_bytes(ro_section, elf)),
    };
    MemoryRegion::new(std::ptr::from_ref(bytes), vm_addr as u64)
}

/// Where a raw text's read-only copy lies for `version` (0 for V3 and V4).
pub(crate) fn raw_text_ro_vaddr(version: SBPFVersion) -> u64 {
    match version.enable_lower_rodata_vaddr() {
        true => ebpf::MM_RODATA_START,
        false => ebpf::MM_BYTECODE_START,
    }
}
