//! A strict ELF-64 reader (solana-sbpf 0.26's `elf_parser` module): [`Elf64`] and its
//! [`ElfParserError`], the record [`types`] and [`consts`].
//!
//! Programs are loaded by bpfvm's own reader (see `crate::bridge::load`); this one serves the
//! API's inspection functions ([`Elf64::parse`], `Executable::validate`,
//! `Executable::parse_ro_sections`) with the same rules: headers that agree with ELF-64,
//! tables that do not overlap each other or any section, sections in file order and inside
//! the file, section 0 of type `SHT_NULL`, loadable segments in ascending address order,
//! section names of at most [`SECTION_NAME_LENGTH_MAXIMUM`] bytes. Records are read field by
//! field and kept by value, so the input need not be aligned. The real crate's generic
//! `slice_from_*` casts are not offered.

pub mod consts;
mod records;
mod ro_sections;
pub mod types;

pub(crate) use ro_sections::{parse_ro_sections, validate};

use consts::*;
use records::{table, Record};
use std::ops::Range;
use types::{Elf64Dyn, Elf64Ehdr, Elf64Phdr, Elf64Rel, Elf64Shdr, Elf64Sym, Elf64Word};

/// The longest section name, in bytes.
pub const SECTION_NAME_LENGTH_MAXIMUM: usize = 16;
/// The longest symbol name relocations resolve, in bytes.
pub const SYMBOL_NAME_LENGTH_MAXIMUM: usize = 64;
/// The longest name of a debug symbol (`.symtab`), in bytes.
pub const DEBUG_SYMBOL_NAME_LENGTH_MAXIMUM: usize = u8::MAX as usize;

/// Why an ELF file does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElfParserError {
    /// The file header is inconsistent or unsupported.
    #[error("invalid file header")]
    InvalidFileHeader,
    /// A program header is inconsistent or unsupported.
    #[error("invalid program header")]
    InvalidProgramHeader,
    /// A section header is inconsistent or unsupported.
    #[error("invalid section header")]
    InvalidSectionHeader,
    /// A name is not valid.
    #[error("invalid string")]
    InvalidString,
    /// A name is longer than allowed: the name's first bytes and the limit.
    #[error("Section or symbol name `{0}` is longer than `{1}` bytes")]
    StringTooLong(String, usize),
    /// An index or range is out of bounds.
    #[error("value out of bounds")]
    OutOfBounds,
    /// A table's size is not a whole number of records.
    #[error("invalid size")]
    InvalidSize,
    /// Headers, tables or sections overlap.
    #[error("values overlap")]
    Overlap,
    /// Sections are not in ascending file order.
    #[error("sections not in ascending order")]
    SectionNotInOrder,
    /// There is no section name string table.
    #[error("no section name string table found")]
    NoSectionNameStringTable,
    /// The dynamic table is invalid.
    #[error("invalid dynamic section table")]
    InvalidDynamicSectionTable,
    /// The relocation table is invalid.
    #[error("invalid relocation table")]
    InvalidRelocationTable,
    /// A table is misaligned.
    #[error("invalid alignment")]
    InvalidAlignment,
    /// There is no string table.
    #[error("no string table")]
    NoStringTable,
    /// There is no dynamic string table.
    #[error("no dynamic string table")]
    NoDynamicStringTable,
}

impl Elf64Phdr {
    /// The bytes of a loadable segment in the file.
    pub fn file_range(&self) -> Option<Range<usize>> {
        (self.p_type == PT_LOAD).then(|| {
            let start = self.p_offset as usize;
            start..start.saturating_add(self.p_filesz as usize)
        })
    }

    /// The segment's guest addresses.
    pub fn vm_range(&self) -> Range<u64> {
        self.p_vaddr..self.p_vaddr.saturating_add(self.p_memsz)
    }
}

impl Elf64Shdr {
    /// Whether the section is allocated and writable.
    pub fn is_writable(&self) -> bool {
        self.sh_flags & (SHF_ALLOC | SHF_WRITE) == SHF_ALLOC | SHF_WRITE
    }

    /// The section's bytes in the file (none for `SHT_NOBITS`).
    pub fn file_range(&self) -> Option<Range<usize>> {
        (self.sh_type != SHT_NOBITS).then(|| {
            let start = self.sh_offset as usize;
            start..start.saturating_add(self.sh_size as usize)
        })
    }

    /// The section's addresses.
    pub fn vm_range(&self) -> Range<u64> {
        self.sh_addr..self.sh_addr.saturating_add(self.sh_size)
    }
}

impl Elf64Sym {
    /// Whether the symbol is a function.
    pub fn is_function(&self) -> bool {
        self.st_info & 0xF == STT_FUNC
    }
}

impl Elf64Rel {
    /// The relocation type (the low 32 bits of `r_info`).
    pub fn r_type(&self) -> Elf64Word {
        self.r_info as Elf64Word
    }

    /// The symbol index (the high 32 bits of `r_info`).
    pub fn r_sym(&self) -> Elf64Word {
        (self.r_info >> 32) as Elf64Word
    }
}

/// `Overlap` unless the ranges are disjoint.
fn disjoint(a: &Range<usize>, b: &Range<usize>) -> Result<(), ElfParserError> {
    match a.end <= b.start || b.end <= a.start {
        true => Ok(()),
        false => Err(ElfParserError::Overlap),
    }
}

/// `start .. start + count * size`, or `OutOfBounds` on overflow.
fn table_range(start: u64, count: usize, size: usize) -> Result<Range<usize>, ElfParserError> {
    let start = usize::try_from(start).map_err(|_| ElfParserError::OutOfBounds)?;
    let end = count
        .checked_mul(size)
        .and_then(|len| len.checked_add(start))
        .ok_or(ElfParserError::OutOfBounds)?;
    Ok(start..end)
}

/// A parsed ELF file: its headers and tables, read out of the bytes.
#[derive(Debug)]
pub struct Elf64<'a> {
    elf_bytes: &'a [u8],
    file_header: Elf64Ehdr,
    program_header_table: Vec<Elf64Phdr>,
    section_header_table: Vec<Elf64Shdr>,
    section_names: Option<Elf64Shdr>,
    symbol_section: Option<Elf64Shdr>,
    symbol_names: Option<Elf64Shdr>,
    dynamic_symbol_names: Option<Elf64Shdr>,
    dynamic_relocations_table: Option<Vec<Elf64Rel>>,
    dynamic_symbol_table: Option<Vec<Elf64Sym>>,
}

impl<'a> Elf64<'a> {
    /// Parses `elf_bytes` (see the module doc for the rules).
    pub fn parse(elf_bytes: &'a [u8]) -> Result<Self, ElfParserError> {
        let (header_range, file_header) = Self::parse_file_header(elf_bytes)?;
        check_file_header(&file_header)?;
        let (program_range, program_header_table) =
            Self::parse_program_header_table(elf_bytes, header_range.clone(), &file_header)?;
        let (section_range, section_header_table) = Self::parse_section_header_table(
            elf_bytes,
            header_range.clone(),
            &file_header,
            program_range.clone(),
        )?;
        section_header_table
            .first()
            .filter(|header| header.sh_type == SHT_NULL)
            .ok_or(ElfParserError::InvalidSectionHeader)?;
        check_segments(elf_bytes, &program_header_table)?;
        let tables = [header_range, program_range, section_range];
        check_sections(elf_bytes, &section_header_table, &tables)?;
        let section_names = match file_header.e_shstrndx {
            SHN_UNDEF => None,
            index => Some(
                *section_header_table
                    .get(index as usize)
                    .ok_or(ElfParserError::OutOfBounds)?,
            ),
        };
        let mut elf = Elf64 {
            elf_bytes,
            file_header,
            program_header_table,
            section_header_table,
            section_names,
            symbol_section: None,
            symbol_names: None,
            dynamic_symbol_names: None,
            dynamic_relocations_table: None,
            dynamic_symbol_table: None,
        };
        elf.find_named_sections()?;
        elf.parse_dynamic()?;
        Ok(elf)
    }

    /// The file header.
    pub fn file_header(&self) -> &Elf64Ehdr {
        &self.file_header
    }

    /// The program headers.
    pub fn program_header_table(&self) -> &[Elf64Phdr] {
        &self.program_header_table
    }

    /// The section headers.
    pub fn section_header_table(&self) -> &[Elf64Shdr] {
        &self.section_header_table
    }

    /// The dynamic symbols, if the file has a dynamic table naming them.
    pub fn dynamic_symbol_table(&self) -> Option<&[Elf64Sym]> {
        self.dynamic_symbol_table.as_deref()
    }

    /// The dynamic relocations, if the file has a dynamic table naming them.
    pub fn dynamic_relocations_table(&self) -> Option<&[Elf64Rel]> {
        self.dynamic_relocations_table.as_deref()
    }

    /// Reads the file header; `OutOfBounds` when the file is shorter than one.
    pub fn parse_file_header(
        elf_bytes: &'a [u8],
    ) -> Result<(Range<usize>, Elf64Ehdr), ElfParserError> {
        let range = 0..Elf64Ehdr::SIZE;
        let bytes = elf_bytes
            .get(range.clone())
            .ok_or(ElfParserError::OutOfBounds)?;
        Ok((range, Elf64Ehdr::read(bytes)))
    }

    /// Reads the program header table, which must not overlap the file header.
    pub fn parse_program_header_table(
        elf_bytes: &'a [u8],
        file_header_range: Range<usize>,
        file_header: &Elf64Ehdr,
    ) -> Result<(Range<usize>, Vec<Elf64Phdr>), ElfParserError> {
        let range = table_range(
            file_header.e_phoff,
            file_header.e_phnum as usize,
            Elf64Phdr::SIZE,
        )?;
        disjoint(&file_header_range, &range)?;
        Ok((range.clone(), table(elf_bytes, range)?))
    }

    /// Reads the section header table, which must not overlap the other headers.
    pub fn parse_section_header_table(
        elf_bytes: &'a [u8],
        file_header_range: Range<usize>,
        file_header: &Elf64Ehdr,
        program_header_table_range: Range<usize>,
    ) -> Result<(Range<usize>, Vec<Elf64Shdr>), ElfParserError> {
        let range = table_range(
            file_header.e_shoff,
            file_header.e_shnum as usize,
            Elf64Shdr::SIZE,
        )?;
        disjoint(&file_header_range, &range)?;
        disjoint(&program_header_table_range, &range)?;
        Ok((range.clone(), table(elf_bytes, range)?))
    }

    /// Finds `.symtab`, `.strtab` and `.dynstr` (each at most once) by name.
    fn find_named_sections(&mut self) -> Result<(), ElfParserError> {
        let names = self
            .section_names
            .ok_or(ElfParserError::NoSectionNameStringTable)?;
        for header in &self.section_header_table {
            let name = Self::get_string_in_section(
                self.elf_bytes,
                &names,
                header.sh_name,
                SECTION_NAME_LENGTH_MAXIMUM,
            )?;
            let slot = match name {
                b".symtab" => &mut self.symbol_section,
                b".strtab" => &mut self.symbol_names,
                b".dynstr" => &mut self.dynamic_symbol_names,
                _ => continue,
            };
            if slot.replace(*header).is_some() {
                return Err(ElfParserError::InvalidSectionHeader);
            }
        }
        Ok(())
    }

    /// Reads the dynamic table (the `PT_DYNAMIC` segment, else the `SHT_DYNAMIC` section)
    /// and the relocations and symbols it names.
    fn parse_dynamic(&mut self) -> Result<(), ElfParserError> {
        let from_segment = self
            .program_header_table
            .iter()
            .find(|header| header.p_type == PT_DYNAMIC)
            .and_then(|header| {
                let range = (header.p_offset as usize)
                    ..(header.p_offset as usize).checked_add(header.p_filesz as usize)?;
                table::<Elf64Dyn>(self.elf_bytes, range).ok()
            });
        let entries = match from_segment {
            Some(entries) => entries,
            None => match self
                .section_header_table
                .iter()
                .find(|header| header.sh_type == SHT_DYNAMIC)
            {
                Some(header) => section_table::<Elf64Dyn>(self.elf_bytes, header)
                    .map_err(|_| ElfParserError::InvalidDynamicSectionTable)?,
                None => return Ok(()),
            },
        };
        let mut dynamic = [0u64; DT_NUM];
        for entry in entries {
            if entry.d_tag == DT_NULL {
                break;
            }
            if let Some(slot) = dynamic.get_mut(entry.d_tag as usize) {
                *slot = entry.d_val;
            }
        }
        self.dynamic_relocations_table = self.dynamic_relocations(&dynamic)?;
        self.dynamic_symbol_table = self.dynamic_symbols(&dynamic)?;
        Ok(())
    }

    fn dynamic_relocations(
        &self,
        dynamic: &[u64; DT_NUM],
    ) -> Result<Option<Vec<Elf64Rel>>, ElfParserError> {
        let vaddr = dynamic[DT_REL as usize];
        if vaddr == 0 {
            return Ok(None);
        }
        if dynamic[DT_RELENT as usize] as usize != Elf64Rel::SIZE {
            return Err(ElfParserError::InvalidDynamicSectionTable);
        }
        let size = dynamic[DT_RELSZ as usize] as usize;
        if size == 0 {
            return Err(ElfParserError::InvalidDynamicSectionTable);
        }
        let segment = self
            .program_header_table
            .iter()
            .find(|header| header.p_type == PT_LOAD && header.vm_range().contains(&vaddr));
        let offset = match segment {
            Some(header) => vaddr
                .checked_sub(header.p_vaddr)
                .and_then(|delta| delta.checked_add(header.p_offset))
                .ok_or(ElfParserError::OutOfBounds)?,
            None => {
                self.section_header_table
                    .iter()
                    .find(|header| header.sh_addr == vaddr)
                    .ok_or(ElfParserError::InvalidDynamicSectionTable)?
                    .sh_offset
            }
        } as usize;
        let end = offset
            .checked_add(size)
            .ok_or(ElfParserError::OutOfBounds)?;
        table(self.elf_bytes, offset..end)
            .map(Some)
            .map_err(|_| ElfParserError::InvalidDynamicSectionTable)
    }

    fn dynamic_symbols(
        &self,
        dynamic: &[u64; DT_NUM],
    ) -> Result<Option<Vec<Elf64Sym>>, ElfParserError> {
        let vaddr = dynamic[DT_SYMTAB as usize];
        if vaddr == 0 {
            return Ok(None);
        }
        let header = self
            .section_header_table
            .iter()
            .find(|header| header.sh_addr == vaddr)
            .ok_or(ElfParserError::InvalidDynamicSectionTable)?;
        self.get_symbol_table_of_section(header).map(Some)
    }

    /// The string at `offset_in_section` of a string table section, at most
    /// `maximum_length` bytes before its terminating zero (`StringTooLong` otherwise).
    pub fn get_string_in_section(
        elf_bytes: &'a [u8],
        section_header: &Elf64Shdr,
        offset_in_section: Elf64Word,
        maximum_length: usize,
    ) -> Result<&'a [u8], ElfParserError> {
        if section_header.sh_type != SHT_STRTAB {
            return Err(ElfParserError::InvalidSectionHeader);
        }
        let section_start = section_header.sh_offset as usize;
        let start = section_start
            .checked_add(offset_in_section as usize)
            .ok_or(ElfParserError::OutOfBounds)?;
        let section_end = section_start
            .checked_add(section_header.sh_size as usize)
            .ok_or(ElfParserError::OutOfBounds)?;
        let limit = start
            .checked_add(maximum_length)
            .ok_or(ElfParserError::OutOfBounds)?;
        let window = elf_bytes
            .get(start..section_end.min(limit))
            .ok_or(ElfParserError::OutOfBounds)?;
        match window.iter().position(|byte| *byte == 0) {
            Some(length) => Ok(&window[..length]),
            None => Err(ElfParserError::StringTooLong(
                String::from_utf8_lossy(window).into_owned(),
                maximum_length,
            )),
        }
    }

    /// The name of a section.
    pub fn section_name(&self, sh_name: Elf64Word) -> Result<&'a [u8], ElfParserError> {
        let names = self
            .section_names
            .as_ref()
            .ok_or(ElfParserError::NoSectionNameStringTable)?;
        Self::get_string_in_section(self.elf_bytes, names, sh_name, SECTION_NAME_LENGTH_MAXIMUM)
    }

    /// The name of a `.symtab` symbol (debug labels: up to 255 bytes).
    pub fn symbol_name(&self, st_name: Elf64Word) -> Result<&'a [u8], ElfParserError> {
        let names = self
            .symbol_names
            .as_ref()
            .ok_or(ElfParserError::NoStringTable)?;
        Self::get_string_in_section(
            self.elf_bytes,
            names,
            st_name,
            DEBUG_SYMBOL_NAME_LENGTH_MAXIMUM,
        )
    }

    /// The `.symtab` symbols, if there is a `.symtab`.
    pub fn symbol_table(&self) -> Result<Option<Vec<Elf64Sym>>, ElfParserError> {
        self.symbol_section
            .as_ref()
            .map(|header| self.get_symbol_table_of_section(header))
            .transpose()
    }

    /// The name of a dynamic symbol (up to 64 bytes: relocations resolve by it).
    pub fn dynamic_symbol_name(&self, st_name: Elf64Word) -> Result<&'a [u8], ElfParserError> {
        let names = self
            .dynamic_symbol_names
            .as_ref()
            .ok_or(ElfParserError::NoDynamicStringTable)?;
        Self::get_string_in_section(self.elf_bytes, names, st_name, SYMBOL_NAME_LENGTH_MAXIMUM)
    }

    /// The symbols of a `SHT_SYMTAB` or `SHT_DYNSYM` section.
    pub fn get_symbol_table_of_section(
        &self,
        section_header: &Elf64Shdr,
    ) -> Result<Vec<Elf64Sym>, ElfParserError> {
        if section_header.sh_type != SHT_SYMTAB && section_header.sh_type != SHT_DYNSYM {
            return Err(ElfParserError::InvalidSectionHeader);
        }
        section_table(self.elf_bytes, section_header)
    }
}

/// The records of a section.
fn section_table<T: Record>(bytes: &[u8], header: &Elf64Shdr) -> Result<Vec<T>, ElfParserError> {
    let start = header.sh_offset as usize;
    let end = start
        .checked_add(header.sh_size as usize)
        .ok_or(ElfParserError::OutOfBounds)?;
    table(bytes, start..end)
}

/// The file header's identification and sizes.
fn check_file_header(header: &Elf64Ehdr) -> Result<(), ElfParserError> {
    let ident = &header.e_ident;
    let valid = ident.ei_mag == ELFMAG
        && ident.ei_class == ELFCLASS64
        && ident.ei_data == ELFDATA2LSB
        && u32::from(ident.ei_version) == EV_CURRENT
        && header.e_version == EV_CURRENT
        && header.e_ehsize as usize == Elf64Ehdr::SIZE
        && header.e_phentsize as usize == Elf64Phdr::SIZE
        && header.e_shentsize as usize == Elf64Shdr::SIZE
        && header.e_shstrndx < header.e_shnum;
    match valid {
        true => Ok(()),
        false => Err(ElfParserError::InvalidFileHeader),
    }
}

/// Loadable segments ascend by address and lie inside the file.
fn check_segments(bytes: &[u8], headers: &[Elf64Phdr]) -> Result<(), ElfParserError> {
    let mut vaddr = 0;
    for header in headers.iter().filter(|header| header.p_type == PT_LOAD) {
        if header.p_vaddr < vaddr {
            return Err(ElfParserError::InvalidProgramHeader);
        }
        let end = header
            .p_offset
            .checked_add(header.p_filesz)
            .ok_or(ElfParserError::OutOfBounds)?;
        if end > bytes.len() as u64 {
            return Err(ElfParserError::OutOfBounds);
        }
        vaddr = header.p_vaddr;
    }
    Ok(())
}

/// Sections (but `SHT_NOBITS`) avoid the headers, ascend in the file and lie inside it.
fn check_sections(
    bytes: &[u8],
    headers: &[Elf64Shdr],
    tables: &[Range<usize>; 3],
) -> Result<(), ElfParserError> {
    let mut offset = 0usize;
    for header in headers.iter().filter(|header| header.sh_type != SHT_NOBITS) {
        let start = header.sh_offset as usize;
        let end = start
            .checked_add(header.sh_size as usize)
            .ok_or(ElfParserError::OutOfBounds)?;
        let range = start..end;
        for table in tables {
            disjoint(&range, table)?;
        }
        if range.start < offset {
            return Err(ElfParserError::SectionNotInOrder);
        }
        offset = range.end;
        if offset > bytes.len() {
            return Err(ElfParserError::OutOfBounds);
        }
    }
    Ok(())
}
