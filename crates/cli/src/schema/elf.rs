//! The documents of `bpfvm info`: an ELF file's header, sections, segments, relocations,
//! functions and imports.

use super::Hex;
use serde::Serialize;

/// The ELF header in `bpfvm info`.
#[derive(Clone, Debug, Serialize)]
pub struct ElfHeader {
    /// `e_type`.
    #[serde(rename = "type")]
    pub file_type: u16,
    /// `e_machine`.
    pub machine: u16,
    /// `e_flags`.
    pub flags: u32,
    /// The SBPF version `e_flags` name (`V0` to `V4`), or null.
    pub sbpf_version: Option<String>,
    /// `e_entry`.
    pub entry: Hex,
    /// The file size.
    pub size: usize,
}

/// A section in `bpfvm info`.
#[derive(Clone, Debug, Serialize)]
pub struct ElfSection {
    /// Index in the header table.
    pub index: usize,
    /// Name (`?` when unreadable).
    pub name: String,
    /// `sh_type`.
    #[serde(rename = "type")]
    pub kind: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_addr`.
    pub address: Hex,
    /// `sh_offset`.
    pub offset: u64,
    /// `sh_size`.
    pub size: u64,
}

/// A segment in `bpfvm info`.
#[derive(Clone, Debug, Serialize)]
pub struct ElfSegment {
    /// `p_type`.
    #[serde(rename = "type")]
    pub kind: u32,
    /// `p_flags`.
    pub flags: u32,
    /// `p_offset`.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: Hex,
    /// `p_filesz`.
    pub file_size: u64,
    /// `p_memsz`.
    pub mem_size: u64,
}

/// A relocation in `bpfvm info`.
#[derive(Clone, Debug, Serialize)]
pub struct ElfRelocation {
    /// The table it is in.
    pub table: String,
    /// `r_offset`.
    pub offset: u64,
    /// The type's name.
    #[serde(rename = "type")]
    pub kind: String,
    /// The symbol (empty for none).
    pub symbol: String,
}

/// A function symbol in `bpfvm info`.
#[derive(Clone, Debug, Serialize)]
pub struct ElfFunction {
    /// The name.
    pub name: String,
    /// `st_value`.
    pub address: Hex,
    /// `st_size`.
    pub size: u64,
    /// `LOCAL`, `GLOBAL` or `WEAK`.
    pub binding: &'static str,
}

/// An imported symbol in `bpfvm info`.
#[derive(Clone, Debug, Serialize)]
pub struct ElfImport {
    /// The name.
    pub name: String,
    /// Its Murmur3 key.
    pub key: Hex,
}

/// `bpfvm info`.
#[derive(Clone, Debug, Serialize)]
pub struct InfoReport {
    /// The ELF header.
    pub header: ElfHeader,
    /// The section headers.
    pub sections: Vec<ElfSection>,
    /// The program headers.
    pub segments: Vec<ElfSegment>,
    /// The relocations.
    pub relocations: Vec<ElfRelocation>,
    /// The function symbols.
    pub functions: Vec<ElfFunction>,
    /// The imported symbols (syscalls).
    pub imports: Vec<ElfImport>,
    /// Why the loader's strict reader refuses the file (the description then comes from a
    /// lenient reader), if it does.
    pub strict_reader_error: Option<String>,
    /// The text form (not in the JSON).
    #[serde(skip)]
    pub text: String,
}
