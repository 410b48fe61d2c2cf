//! The loader's error: why bytes did not become an [`crate::Executable`].
//!
//! Variant names are the reference's `ElfError` names (plus `FunctionAlreadyRegistered` from
//! its `EbpfError`), with named fields. Variants the reference declares but never produces are
//! left out.

use crate::error::ErrorField;
use core::fmt;

/// Why a program could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The ELF structure is malformed.
    FailedToParse {
        /// What is wrong.
        reason: String,
    },
    /// `e_entry` lies outside `.text`.
    EntrypointOutOfBounds,
    /// `e_entry` is not on an instruction boundary.
    InvalidEntrypoint,
    /// A relocation names a syscall that is not registered (with `reject_broken_elfs`).
    UnresolvedSymbol {
        /// The symbol.
        name: String,
        /// The relocated slot as the reference counts it: the file offset divided by 8.
        pc: usize,
        /// The relocation's file offset.
        offset: u64,
    },
    /// A section the loader needs is missing.
    SectionNotFound {
        /// The section's name.
        name: String,
    },
    /// A relative call whose target lies outside the text.
    RelativeJumpOutOfBounds {
        /// The calling slot.
        pc: usize,
    },
    /// Two functions, or a function and a syscall, share a key.
    SymbolHashCollision {
        /// The key.
        key: u32,
    },
    /// The file is not little-endian.
    WrongEndianess,
    /// `ei_osabi` is not 0.
    WrongAbi,
    /// `e_machine` is neither EM_BPF (247) nor EM_SBF (263).
    WrongMachine,
    /// The file is not ELFCLASS64.
    WrongClass,
    /// There is not exactly one section named `.text`.
    NotOneTextSection,
    /// A writable data section (`.data`, `.bss`).
    WritableSectionNotSupported {
        /// The section's name.
        name: String,
    },
    /// A relative relocation in the text whose stored address is invalid.
    InvalidVirtualAddress {
        /// The address.
        address: u64,
    },
    /// A relocation type the loader does not know.
    UnknownRelocation {
        /// The type.
        kind: u32,
    },
    /// `e_type` is not what the loader accepts.
    WrongType,
    /// A symbol index or name that cannot be read.
    UnknownSymbol {
        /// The symbol index.
        index: usize,
    },
    /// A range or an address computation is out of bounds or overflows.
    ValueOutOfBounds,
    /// The file's flags and the configuration do not go together.
    UnsupportedExecutableCapabilities,
    /// A program header is invalid (overflowing or unordered segments).
    InvalidProgramHeader,
    /// A syscall name was registered twice (or two names share a key).
    FunctionAlreadyRegistered {
        /// The key.
        key: u32,
    },
    /// A relocation of a relocatable object (ET_REL) cannot be applied. Not a reference error:
    /// the reference does not load relocatable objects.
    InvalidRelocation {
        /// The section the relocation patches.
        section: String,
        /// The patched offset inside that section.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// solana-sbpf 0.26: the file's `e_flags` name no SBPF version (0x20, the SBFv2 flag of
    /// 2022, among them), or one outside the configuration's enabled range.
    UnsupportedSBPFVersion {
        /// The file's `e_flags`.
        e_flags: u32,
        /// The versions the configuration enables.
        enabled: crate::config::VersionRange,
    },
    /// The file's `e_flags` name another SBPF version than the profile that loads it (not a
    /// 0.26 error: 0.26 has no profile per version).
    SbpfVersionMismatch {
        /// The version the profile runs.
        expected: bpfvm_isa::SbpfVersion,
        /// The version the file names.
        found: bpfvm_isa::SbpfVersion,
    },
    /// The linked image of a relocatable object would exceed the loader's memory bound
    /// (a multiple of the file size). Not a reference error.
    ImageTooLarge {
        /// The image size in bytes.
        size: u64,
        /// The bound.
        limit: u64,
    },
}

impl LoadError {
    /// The reference's name for this error (the variant name).
    pub fn kind(&self) -> &'static str {
        match self {
            LoadError::FailedToParse { .. } => "FailedToParse",
            LoadError::EntrypointOutOfBounds => "EntrypointOutOfBounds",
            LoadError::InvalidEntrypoint => "InvalidEntrypoint",
            LoadError::UnresolvedSymbol { .. } => "UnresolvedSymbol",
            LoadError::SectionNotFound { .. } => "SectionNotFound",
            LoadError::RelativeJumpOutOfBounds { .. } => "RelativeJumpOutOfBounds",
            LoadError::SymbolHashCollision { .. } => "SymbolHashCollision",
            LoadError::WrongEndianess => "WrongEndianess",
            LoadError::WrongAbi => "WrongAbi",
            LoadError::WrongMachine => "WrongMachine",
            LoadError::WrongClass => "WrongClass",
            LoadError::NotOneTextSection => "NotOneTextSection",
            LoadError::WritableSectionNotSupported { .. } => "WritableSectionNotSupported",
            LoadError::InvalidVirtualAddress { .. } => "InvalidVirtualAddress",
            LoadError::UnknownRelocation { .. } => "UnknownRelocation",
            LoadError::WrongType => "WrongType",
            LoadError::UnknownSymbol { .. } => "UnknownSymbol",
            LoadError::ValueOutOfBounds => "ValueOutOfBounds",
            LoadError::UnsupportedExecutableCapabilities => "UnsupportedExecutableCapabilities",
            LoadError::InvalidProgramHeader => "InvalidProgramHeader",
            LoadError::FunctionAlreadyRegistered { .. } => "FunctionAlreadyRegistered",
            LoadError::InvalidRelocation { .. } => "InvalidRelocation",
            LoadError::ImageTooLarge { .. } => "ImageTooLarge",
            LoadError::UnsupportedSBPFVersion { .. } => "UnsupportedSBPFVersion",
            LoadError::SbpfVersionMismatch { .. } => "SbpfVersionMismatch",
        }
    }
    /// The variant's fields by name, in declaration order (as [`RuntimeError::fields`]).
    ///
    /// [`RuntimeError::fields`]: crate::RuntimeError::fields
    pub fn fields(&self) -> Vec<(&'static str, ErrorField)> {
        use ErrorField::{Address, Number, Text};
        let n = |value: usize| Number(value as u64);
        match self {
            LoadError::FailedToParse { reason } => vec![("reason", Text(reason.clone()))],
            LoadError::UnresolvedSymbol { name, pc, offset } => vec![
                ("name", Text(name.clone())),
                ("pc", n(*pc)),
                ("offset", Number(*offset)),
            ],
            LoadError::SectionNotFound { name }
            | LoadError::WritableSectionNotSupported { name } => {
                vec![("name", Text(name.clone()))]
            }
            LoadError::RelativeJumpOutOfBounds { pc } => vec![("pc", n(*pc))],
            LoadError::SymbolHashCollision { key }
            | LoadError::FunctionAlreadyRegistered { key } => {
                vec![("key", Number(u64::from(*key)))]
            }
            LoadError::InvalidVirtualAddress { address } => vec![("address", Address(*address))],
            LoadError::UnknownRelocation { kind } => vec![("kind", Number(u64::from(*kind)))],
            LoadError::UnknownSymbol { index } => vec![("index", n(*index))],
            LoadError::InvalidRelocation {
                section,
                offset,
                reason,
            } => vec![
                ("section", Text(section.clone())),
                ("offset", Number(*offset)),
                ("reason", Text(reason.clone())),
            ],
            LoadError::ImageTooLarge { size, limit } => {
                vec![("size", Number(*size)), ("limit", Number(*limit))]
            }
            LoadError::UnsupportedSBPFVersion { e_flags, enabled } => vec![
                ("e_flags", Number(u64::from(*e_flags))),
                ("enabled", Text(enabled.to_string())),
            ],
            LoadError::SbpfVersionMismatch { expected, found } => vec![
                ("expected", Text(expected.to_string())),
                ("found", Text(found.to_string())),
            ],
            LoadError::EntrypointOutOfBounds
            | LoadError::InvalidEntrypoint
            | LoadError::WrongEndianess
            | LoadError::WrongAbi
            | LoadError::WrongMachine
            | LoadError::WrongClass
            | LoadError::NotOneTextSection
            | LoadError::WrongType
            | LoadError::ValueOutOfBounds
            | LoadError::UnsupportedExecutableCapabilities
            | LoadError::InvalidProgramHeader => Vec::new(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::FailedToParse { reason } => write!(f, "malformed ELF: {reason}"),
            LoadError::EntrypointOutOfBounds => write!(f, "the entrypoint lies outside .text"),
            LoadError::InvalidEntrypoint => {
                write!(f, "the entrypoint is not on an instruction boundary")
            }
            LoadError::UnresolvedSymbol { name, offset, .. } => {
                write!(f, "unresolved symbol {name} at file offset {offset:#x}")
            }
            LoadError::SectionNotFound { name } => write!(f, "section {name} not found"),
            LoadError::RelativeJumpOutOfBounds { pc } => {
                write!(f, "relative call at pc {pc} leaves the program")
            }
            LoadError::SymbolHashCollision { key } => write!(f, "symbol key {key:#x} collides"),
            LoadError::WrongEndianess => write!(f, "the ELF is not little-endian"),
            LoadError::WrongAbi => write!(f, "the ELF OS ABI is not 0"),
            LoadError::WrongMachine => write!(f, "the ELF machine is not BPF or SBF"),
            LoadError::WrongClass => write!(f, "the ELF is not 64-bit"),
            LoadError::NotOneTextSection => write!(f, "the ELF does not have exactly one .text"),
            LoadError::WritableSectionNotSupported { name } => {
                write!(f, "writable section {name} is not supported")
            }
            LoadError::InvalidVirtualAddress { address } => {
                write!(f, "invalid virtual address {address:#x}")
            }
            LoadError::UnknownRelocation { kind } => write!(f, "unknown relocation type {kind}"),
            LoadError::WrongType => write!(f, "the ELF type is not supported"),
            LoadError::UnknownSymbol { index } => write!(f, "unknown symbol {index}"),
            LoadError::ValueOutOfBounds => write!(f, "a value in the ELF is out of bounds"),
            LoadError::UnsupportedExecutableCapabilities => {
                write!(f, "the ELF flags do not match the configuration")
            }
            LoadError::InvalidProgramHeader => write!(f, "invalid program header"),
            LoadError::FunctionAlreadyRegistered { key } => {
                write!(f, "a syscall with key {key:#x} is already registered")
            }
            LoadError::InvalidRelocation {
                section,
                offset,
                reason,
            } => write!(f, "cannot relocate {section}+{offset:#x}: {reason}"),
            LoadError::UnsupportedSBPFVersion { e_flags: 0x20, .. } => write!(
                f,
                "unsupported SBPF version: e_flags 0x20 is the SBFv2 flag of 2022, which \
                 solana-sbpf 0.26 refuses; `--config default` runs it with the 2022 semantics"
            ),
            LoadError::UnsupportedSBPFVersion { e_flags, enabled } => {
                match bpfvm_isa::SbpfVersion::from_e_flags(*e_flags) {
                    Some(version) => write!(
                        f,
                        "unsupported SBPF version: the file is {version} (e_flags {e_flags:#x}), \
                     the configuration enables {enabled}"
                    ),
                    None => write!(
                    f,
                    "unsupported SBPF version: e_flags {e_flags:#x} names no version (V0 to V4 \
                     are 0 to 4)"
                ),
                }
            }
            LoadError::SbpfVersionMismatch { expected, found } => write!(
                f,
                "the file is SBPF {found} but the profile runs {expected}"
            ),
            LoadError::ImageTooLarge { size, limit } => {
                write!(
                    f,
                    "the linked image needs {size} bytes, more than the limit {limit}"
                )
            }
        }
    }
}

impl std::error::Error for LoadError {}
