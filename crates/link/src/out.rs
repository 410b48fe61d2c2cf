//! ELF records for the writers: typed headers (the `object` crate's record types, written
//! as their bytes), string tables and an output buffer that keeps 8-byte alignment.

use object::elf::{
    FileHeader64, Ident, ProgramHeader64, SectionHeader64, Sym64, ELFCLASS64, ELFDATA2LSB, ELFMAG,
    ELFOSABI_NONE, EM_BPF, ET_DYN, EV_CURRENT,
};
use object::pod::{bytes_of, Pod};
use object::{LittleEndian as LE, U16, U32, U64};

/// The size of the ELF file header.
pub(crate) const FILE_HEADER_SIZE: u64 = 64;
/// The size of one program header.
pub(crate) const PROGRAM_HEADER_SIZE: u64 = 56;
/// The size of one section header.
pub(crate) const SECTION_HEADER_SIZE: u64 = 64;
/// The size of one symbol.
pub(crate) const SYMBOL_SIZE: u64 = 24;

/// `value` rounded up to a multiple of 8.
pub(crate) fn align8(value: u64) -> u64 {
    value.div_ceil(8) * 8
}

/// The bytes being written.
#[derive(Default)]
pub(crate) struct Buffer {
    bytes: Vec<u8>,
}

impl Buffer {
    /// Appends a record.
    pub fn push<T: Pod>(&mut self, record: &T) {
        self.bytes.extend_from_slice(bytes_of(record));
    }

    /// Appends bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// Pads with zeros up to `offset`, which the layout computed in advance.
    pub fn pad_to(&mut self, offset: u64) {
        debug_assert!(
            self.bytes.len() as u64 <= offset,
            "layout and output disagree"
        );
        self.bytes.resize(offset as usize, 0);
    }

    /// The file.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// A string table under construction (starts with the empty name).
pub(crate) struct Strings {
    bytes: Vec<u8>,
}

impl Strings {
    pub fn new() -> Strings {
        Strings { bytes: vec![0] }
    }

    /// Adds a name; returns its offset.
    pub fn add(&mut self, name: &str) -> u32 {
        let offset = self.bytes.len() as u32;
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        offset
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// The fields of a file header that differ between outputs.
pub(crate) struct FileHeader {
    pub flags: u32,
    pub entry: u64,
    pub program_headers: u16,
    pub section_headers_at: u64,
    pub section_headers: u16,
    pub section_names_index: u16,
}

/// An `ET_DYN`, `EM_BPF`, 64-bit little-endian file header with program headers right after.
pub(crate) fn file_header(fields: &FileHeader) -> FileHeader64<LE> {
    let ident = Ident {
        magic: ELFMAG,
        class: ELFCLASS64,
        data: ELFDATA2LSB,
        version: EV_CURRENT,
        os_abi: ELFOSABI_NONE,
        abi_version: 0,
        padding: [0; 7],
    };
    FileHeader64 {
        e_ident: ident,
        e_type: U16::new(LE, ET_DYN),
        e_machine: U16::new(LE, EM_BPF),
        e_version: U32::new(LE, u32::from(EV_CURRENT)),
        e_entry: U64::new(LE, fields.entry),
        e_phoff: U64::new(LE, FILE_HEADER_SIZE),
        e_shoff: U64::new(LE, fields.section_headers_at),
        e_flags: U32::new(LE, fields.flags),
        e_ehsize: U16::new(LE, FILE_HEADER_SIZE as u16),
        e_phentsize: U16::new(LE, PROGRAM_HEADER_SIZE as u16),
        e_phnum: U16::new(LE, fields.program_headers),
        e_shentsize: U16::new(LE, SECTION_HEADER_SIZE as u16),
        e_shnum: U16::new(LE, fields.section_headers),
        e_shstrndx: U16::new(LE, fields.section_names_index),
    }
}

/// A program header whose file range is its memory range (`p_filesz == p_memsz`,
/// `p_paddr == p_vaddr`), aligned to 8.
pub(crate) fn segment(
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    size: u64,
) -> ProgramHeader64<LE> {
    ProgramHeader64 {
        p_type: U32::new(LE, p_type),
        p_flags: U32::new(LE, flags),
        p_offset: U64::new(LE, offset),
        p_vaddr: U64::new(LE, vaddr),
        p_paddr: U64::new(LE, vaddr),
        p_filesz: U64::new(LE, size),
        p_memsz: U64::new(LE, size),
        p_align: U64::new(LE, 8),
    }
}

/// One section of an output, described before its header is written.
#[derive(Clone, Copy, Default)]
pub(crate) struct Section {
    pub name: u32,
    pub kind: u32,
    pub flags: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
    pub align: u64,
    pub entry_size: u64,
}

pub(crate) fn section_header(section: &Section) -> SectionHeader64<LE> {
    SectionHeader64 {
        sh_name: U32::new(LE, section.name),
        sh_type: U32::new(LE, section.kind),
        sh_flags: U64::new(LE, section.flags),
        sh_addr: U64::new(LE, section.addr),
        sh_offset: U64::new(LE, section.offset),
        sh_size: U64::new(LE, section.size),
        sh_link: U32::new(LE, section.link),
        sh_info: U32::new(LE, section.info),
        sh_addralign: U64::new(LE, section.align),
        sh_entsize: U64::new(LE, section.entry_size),
    }
}

/// A symbol.
pub(crate) fn symbol(name: u32, info: u8, section: u16, value: u64) -> Sym64<LE> {
    Sym64 {
        st_name: U32::new(LE, name),
        st_info: info,
        st_other: 0,
        st_shndx: U16::new(LE, section),
        st_value: U64::new(LE, value),
        st_size: U64::new(LE, 0),
    }
}
