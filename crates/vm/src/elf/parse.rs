//! The strict ELF64 reader: headers, tables, names and the dynamic section, bounds-checked.
//!
//! The record layouts (`FileHeader64`, `SectionHeader64`, ...) are the `object` crate's
//! plain-old-data ELF types with unaligned little-endian fields, read with `object::pod`, so
//! this file needs no `unsafe` and no host alignment. Everything on top of those types is ours:
//! the checks of reference §8.1, in the reference's order, each failure one [`ParseError`].
//!
//! The reference reads the file through pointer casts on a 16-byte aligned copy, so a table
//! whose *file offset* is not a multiple of 8 fails with `InvalidAlignment`; we check the file
//! offset instead of a pointer and get the same answer for every input.
//!
//! Relocatable objects (ET_REL without program headers, which the reference never loads) are
//! read as their own linker reads them ([`Reading::Object`]): names of any length, and the
//! symbol table found by type with its strings through `sh_link`, so debug sections such as
//! `.debug_str_offsets` and writers that keep symbol names in `.shstrtab` are fine. Every
//! other file is read exactly as the reference reads it ([`Reading::Reference`]).
//!
//! Nothing here allocates or loops beyond the tables the file declares, and every table lies
//! inside the file, so work is linear in the input size.

use core::fmt;
use core::ops::Range;
use object::elf::{
    Dyn64, FileHeader64, ProgramHeader64, Rel64, SectionHeader64, Sym64, ELFCLASS64, ELFDATA2LSB,
    ELFMAG, ET_REL, EV_CURRENT, PT_DYNAMIC, PT_LOAD, SHT_DYNAMIC, SHT_DYNSYM, SHT_NOBITS,
    SHT_STRTAB, SHT_SYMTAB,
};
use object::pod::{slice_from_bytes, Pod};
use object::LittleEndian as LE;

use crate::load_error::LoadError;

/// File header.
pub(crate) type Ehdr = FileHeader64<LE>;
/// Program header.
pub(crate) type Phdr = ProgramHeader64<LE>;
/// Section header.
pub(crate) type Shdr = SectionHeader64<LE>;
/// Symbol.
pub(crate) type Sym = Sym64<LE>;
/// Relocation without addend.
pub(crate) type Rel = Rel64<LE>;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const SHDR_SIZE: usize = 64;
/// The reference's alignment requirement for every table (the natural alignment of u64).
const TABLE_ALIGN: usize = 8;
/// Section names are read through a 16-byte window (15 characters and the NUL).
pub(crate) const SECTION_NAME_MAX: usize = 16;
/// Symbol names are read through a 1024-byte window.
pub(crate) const SYMBOL_NAME_MAX: usize = 1024;
/// Whose parser the checks follow where solana-sbpf 0.26 changed 0.2.38's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParserRules {
    /// solana_rbpf 0.2.38.
    Reference2022,
    /// solana-sbpf 0.26: section header 0 must be `SHT_NULL`; a name without its NUL inside
    /// the window is `StringTooLong` (its text in the message), a name that is not UTF-8 is
    /// read as bytes where 0.26 compares prefixes or hashes it; static symbol names are read
    /// through a 255-byte window.
    Sbpf26,
}

/// 0.26 reads static symbol names (debug labels only) through a 255-byte window.
const SBPF26_DEBUG_SYMBOL_NAME_MAX: usize = 255;

/// How names and the symbol table of a file are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// As the reference reads every file: section names through a 16-byte window, symbol
    /// names through a 1024-byte window, `.symtab` and `.strtab` found by name.
    Reference,
    /// As a relocatable object's linker reads it: names up to the end of their string table,
    /// the symbol table found by type and its strings through its `sh_link`.
    Object,
}

impl Reading {
    /// The reading a file gets from its header: [`Reading::Object`] for ET_REL without
    /// program headers.
    fn of(header: &Ehdr) -> Reading {
        match header.e_type.get(LE) == ET_REL && header.e_phnum.get(LE) == 0 {
            true => Reading::Object,
            false => Reading::Reference,
        }
    }

    /// How far a section name is read.
    fn section_names(self) -> Window {
        match self {
            Reading::Reference => Window::Bytes(SECTION_NAME_MAX),
            Reading::Object => Window::Table,
        }
    }

    /// How far a symbol name is read.
    fn symbol_names(self) -> Window {
        match self {
            Reading::Reference => Window::Bytes(SYMBOL_NAME_MAX),
            Reading::Object => Window::Table,
        }
    }
}

/// How far a string is read in its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Window {
    /// At most this many bytes, NUL included (a longer string is `InvalidString`).
    Bytes(usize),
    /// Up to the end of the table.
    Table,
}

/// Dynamic tags at or above this are ignored.
const DT_NUM: usize = 35;
const DT_SYMTAB: usize = 6;
const DT_REL: usize = 17;
const DT_RELSZ: usize = 18;
const DT_RELENT: usize = 19;
const REL_SIZE: u64 = 16;

/// Why the reader rejected a file: the reference's `ElfParserError` kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    InvalidFileHeader,
    InvalidProgramHeader,
    InvalidSectionHeader,
    InvalidString,
    /// 0.26: no NUL inside the window of `max` bytes at `[start, end)` of the file.
    StringTooLong {
        start: u64,
        end: u64,
        max: usize,
    },
    OutOfBounds,
    InvalidSize,
    Overlap,
    SectionNotInOrder,
    NoSectionNameStringTable,
    InvalidDynamicSectionTable,
    InvalidAlignment,
    NoStringTable,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::InvalidFileHeader => "invalid file header",
            ParseError::InvalidProgramHeader => "invalid program header",
            ParseError::InvalidSectionHeader => "invalid section header",
            ParseError::InvalidString | ParseError::StringTooLong { .. } => "invalid string",
            ParseError::OutOfBounds => "value out of bounds",
            ParseError::InvalidSize => "invalid size",
            ParseError::Overlap => "values overlap",
            ParseError::SectionNotInOrder => "sections not in ascending order",
            ParseError::NoSectionNameStringTable => "no section name string table found",
            ParseError::InvalidDynamicSectionTable => "invalid dynamic section table",
            ParseError::InvalidAlignment => "invalid alignment",
            ParseError::NoStringTable => "no string table",
        })
    }
}

impl From<ParseError> for LoadError {
    /// The reference's mapping (§6.4): two kinds keep their own error, the rest are
    /// `FailedToParse` with the parser's message.
    fn from(error: ParseError) -> LoadError {
        match error {
            ParseError::InvalidProgramHeader => LoadError::InvalidProgramHeader,
            ParseError::OutOfBounds => LoadError::ValueOutOfBounds,
            other => LoadError::FailedToParse {
                reason: other.to_string(),
            },
        }
    }
}

impl ParseError {
    /// The load error solana-sbpf 0.26 reports: as 0.2.38's, except that a name too long for
    /// its window is named with its text, read from `bytes`.
    pub(crate) fn into_load_error_26(self, bytes: &[u8]) -> LoadError {
        match self {
            ParseError::StringTooLong { start, end, max } => {
                let text = usize::try_from(start)
                    .ok()
                    .zip(usize::try_from(end).ok())
                    .and_then(|(start, end)| bytes.get(start..end))
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                LoadError::FailedToParse {
                    reason: format!("Section or symbol name `{text}` is longer than `{max}` bytes"),
                }
            }
            other => other.into(),
        }
    }
}

type Parsed<T> = Result<T, ParseError>;

fn add(a: u64, b: u64) -> Parsed<u64> {
    a.checked_add(b).ok_or(ParseError::OutOfBounds)
}

fn overlaps(a: &Range<u64>, b: &Range<u64>) -> bool {
    !(a.end <= b.start || b.end <= a.start)
}

fn no_overlap(a: &Range<u64>, b: &Range<u64>) -> Parsed<()> {
    if overlaps(a, b) {
        Err(ParseError::Overlap)
    } else {
        Ok(())
    }
}

/// A table of `T` records at a file range: size, bounds and alignment, in the reference's order.
fn table<T: Pod>(bytes: &[u8], range: Range<u64>) -> Parsed<&[T]> {
    let record = core::mem::size_of::<T>() as u64;
    let len = range.end.saturating_sub(range.start);
    if len % record != 0 {
        return Err(ParseError::InvalidSize);
    }
    let start = usize::try_from(range.start).map_err(|_| ParseError::OutOfBounds)?;
    let end = usize::try_from(range.end).map_err(|_| ParseError::OutOfBounds)?;
    let data = bytes.get(start..end).ok_or(ParseError::OutOfBounds)?;
    if start % TABLE_ALIGN != 0 {
        return Err(ParseError::InvalidAlignment);
    }
    let count = usize::try_from(len / record).map_err(|_| ParseError::OutOfBounds)?;
    slice_from_bytes::<T>(data, count)
        .map(|(records, _)| records)
        .map_err(|()| ParseError::OutOfBounds)
}

/// A section's data range in the file (empty for NOBITS), saturating as the reference does.
pub(crate) fn file_range(section: &Shdr) -> Range<u64> {
    if section.sh_type.get(LE) == SHT_NOBITS {
        return 0..0;
    }
    let offset = section.sh_offset.get(LE);
    offset..offset.saturating_add(section.sh_size.get(LE))
}

/// A section's address range, saturating.
pub(crate) fn vm_range(section: &Shdr) -> Range<u64> {
    let addr = section.sh_addr.get(LE);
    addr..addr.saturating_add(section.sh_size.get(LE))
}

/// A segment's address range, saturating.
pub(crate) fn segment_range(segment: &Phdr) -> Range<u64> {
    let addr = segment.p_vaddr.get(LE);
    addr..addr.saturating_add(segment.p_memsz.get(LE))
}

/// A parsed ELF64 file that borrows from its bytes.
pub(crate) struct Elf64<'a> {
    bytes: &'a [u8],
    reading: Reading,
    rules: ParserRules,
    header: &'a Ehdr,
    program_headers: &'a [Phdr],
    section_headers: &'a [Shdr],
    shstrtab: Option<&'a Shdr>,
    symtab: Option<&'a Shdr>,
    strtab: Option<&'a Shdr>,
    dynstr: Option<&'a Shdr>,
    dynamic: [u64; DT_NUM],
    dynamic_relocations: Option<&'a [Rel]>,
    dynamic_symbols: Option<&'a [Sym]>,
}

impl<'a> Elf64<'a> {
    /// Parses and checks `bytes` (reference §8.1).
    pub(crate) fn parse(bytes: &'a [u8]) -> Parsed<Self> {
        Elf64::parse_with(bytes, ParserRules::Reference2022)
    }

    /// Parses and checks `bytes` by `rules`.
    pub(crate) fn parse_with(bytes: &'a [u8], rules: ParserRules) -> Parsed<Self> {
        let header_bytes = bytes.get(..EHDR_SIZE).ok_or(ParseError::OutOfBounds)?;
        let header: &Ehdr = object::pod::from_bytes(header_bytes)
            .map(|(header, _)| header)
            .map_err(|()| ParseError::OutOfBounds)?;
        check_file_header(header)?;
        let header_range = 0..EHDR_SIZE as u64;
        let phoff = header.e_phoff.get(LE);
        let ph_range = phoff..add(PHDR_SIZE as u64 * u64::from(header.e_phnum.get(LE)), phoff)?;
        no_overlap(&header_range, &ph_range)?;
        let program_headers = table::<Phdr>(bytes, ph_range.clone())?;
        let shoff = header.e_shoff.get(LE);
        let sh_range = shoff..add(SHDR_SIZE as u64 * u64::from(header.e_shnum.get(LE)), shoff)?;
        no_overlap(&header_range, &sh_range)?;
        no_overlap(&ph_range, &sh_range)?;
        let section_headers = table::<Shdr>(bytes, sh_range.clone())?;
        // 0.2.38 computes whether header 0 is SHT_NULL but does not enforce it; 0.26 does.
        let first_is_null = section_headers
            .first()
            .is_some_and(|first| first.sh_type.get(LE) == object::elf::SHT_NULL);
        if section_headers.is_empty() || (rules == ParserRules::Sbpf26 && !first_is_null) {
            return Err(ParseError::InvalidSectionHeader);
        }
        check_load_segments(program_headers, bytes.len())?;
        // clang writes an object's .strtab after the data, so objects skip the order rule.
        let order = if is_bare_object(header) {
            SectionOrder::Any
        } else {
            SectionOrder::Ascending
        };
        check_section_ranges(
            section_headers,
            [&header_range, &ph_range, &sh_range],
            bytes,
            order,
        )?;
        let shstrndx = usize::from(header.e_shstrndx.get(LE));
        let shstrtab = match shstrndx {
            0 => None,
            index => Some(section_headers.get(index).ok_or(ParseError::OutOfBounds)?),
        };
        let mut elf = Elf64 {
            bytes,
            reading: Reading::of(header),
            rules,
            header,
            program_headers,
            section_headers,
            shstrtab,
            symtab: None,
            strtab: None,
            dynstr: None,
            dynamic: [0; DT_NUM],
            dynamic_relocations: None,
            dynamic_symbols: None,
        };
        elf.find_named_tables()?;
        if elf.reading == Reading::Object {
            elf.find_object_symbols();
        }
        elf.parse_dynamic()?;
        Ok(elf)
    }

    /// How this file's names and symbols are read.
    pub(crate) fn reading(&self) -> Reading {
        self.reading
    }

    /// The whole file.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The file header.
    pub(crate) fn header(&self) -> &'a Ehdr {
        self.header
    }

    /// The program headers.
    pub(crate) fn program_headers(&self) -> &'a [Phdr] {
        self.program_headers
    }

    /// The section headers.
    pub(crate) fn section_headers(&self) -> &'a [Shdr] {
        self.section_headers
    }

    fn find_named_tables(&mut self) -> Parsed<()> {
        let names = self.shstrtab.ok_or(ParseError::NoSectionNameStringTable)?;
        let window = self.reading.section_names();
        for section in self.section_headers {
            let offset = section.sh_name.get(LE);
            let name = match self.rules {
                ParserRules::Reference2022 => self.string_in(names, offset, window)?.as_bytes(),
                ParserRules::Sbpf26 => self.string_bytes(names, offset, window)?,
            };
            let slot = match name {
                b".symtab" => &mut self.symtab,
                b".strtab" => &mut self.strtab,
                b".dynstr" => &mut self.dynstr,
                _ => continue,
            };
            if slot.is_some() {
                return Err(ParseError::InvalidSectionHeader);
            }
            *slot = Some(section);
        }
        Ok(())
    }

    /// An object's symbol table is its SHT_SYMTAB section, whatever its name, and the names
    /// are in the string table its `sh_link` names (none when that is not a string table).
    fn find_object_symbols(&mut self) {
        let symtab = self
            .section_headers
            .iter()
            .find(|section| section.sh_type.get(LE) == SHT_SYMTAB);
        if let Some(symtab) = symtab {
            self.symtab = Some(symtab);
            self.strtab = usize::try_from(symtab.sh_link.get(LE))
                .ok()
                .and_then(|index| self.section_headers.get(index))
                .filter(|section| section.sh_type.get(LE) == SHT_STRTAB);
        }
    }

    fn parse_dynamic(&mut self) -> Parsed<()> {
        let from_segment = self
            .program_headers
            .iter()
            .find(|segment| segment.p_type.get(LE) == PT_DYNAMIC)
            .and_then(|segment| {
                let offset = segment.p_offset.get(LE);
                let end = offset.checked_add(segment.p_filesz.get(LE))?;
                table::<Dyn64<LE>>(self.bytes, offset..end).ok()
            });
        let entries = match from_segment {
            Some(entries) => Some(entries),
            None => match self
                .section_headers
                .iter()
                .find(|section| section.sh_type.get(LE) == SHT_DYNAMIC)
            {
                Some(section) => Some(
                    self.section_table::<Dyn64<LE>>(section)
                        .map_err(|_| ParseError::InvalidDynamicSectionTable)?,
                ),
                None => None,
            },
        };
        let Some(entries) = entries else {
            return Ok(());
        };
        for entry in entries {
            let tag = entry.d_tag.get(LE);
            if tag == 0 {
                break;
            }
            if let Some(value) = usize::try_from(tag)
                .ok()
                .and_then(|tag| self.dynamic.get_mut(tag))
            {
                *value = entry.d_val.get(LE);
            }
        }
        self.dynamic_relocations = self.parse_dynamic_relocations()?;
        self.dynamic_symbols = self.parse_dynamic_symbols()?;
        Ok(())
    }

    fn parse_dynamic_relocations(&self) -> Parsed<Option<&'a [Rel]>> {
        let vaddr = self.dynamic[DT_REL];
        if vaddr == 0 {
            return Ok(None);
        }
        if self.dynamic[DT_RELENT] != REL_SIZE {
            return Err(ParseError::InvalidDynamicSectionTable);
        }
        let size = self.dynamic[DT_RELSZ];
        if size == 0 {
            return Err(ParseError::InvalidDynamicSectionTable);
        }
        let offset = match self.segment_containing(vaddr)? {
            Some(segment) => add(vaddr - segment.p_vaddr.get(LE), segment.p_offset.get(LE))?,
            // Old toolchains put DT_REL outside every segment; fall back to the section there.
            None => self
                .section_headers
                .iter()
                .find(|section| section.sh_addr.get(LE) == vaddr)
                .ok_or(ParseError::InvalidDynamicSectionTable)?
                .sh_offset
                .get(LE),
        };
        let end = add(offset, size)?;
        table::<Rel>(self.bytes, offset..end)
            .map(Some)
            .map_err(|_| ParseError::InvalidDynamicSectionTable)
    }

    fn parse_dynamic_symbols(&self) -> Parsed<Option<&'a [Sym]>> {
        let vaddr = self.dynamic[DT_SYMTAB];
        if vaddr == 0 {
            return Ok(None);
        }
        let section = self
            .section_headers
            .iter()
            .find(|section| section.sh_addr.get(LE) == vaddr)
            .ok_or(ParseError::InvalidDynamicSectionTable)?;
        self.symbol_table_of(section).map(Some)
    }

    /// The first segment (of any type) whose address range contains `vaddr`; a segment whose
    /// range overflows is an error, as in the reference.
    fn segment_containing(&self, vaddr: u64) -> Parsed<Option<&'a Phdr>> {
        for segment in self.program_headers {
            let start = segment.p_vaddr.get(LE);
            let end = add(start, segment.p_memsz.get(LE))?;
            if (start..end).contains(&vaddr) {
                return Ok(Some(segment));
            }
        }
        Ok(None)
    }

    fn section_table<T: Pod>(&self, section: &Shdr) -> Parsed<&'a [T]> {
        let offset = section.sh_offset.get(LE);
        let end = add(offset, section.sh_size.get(LE))?;
        table::<T>(self.bytes, offset..end)
    }

    /// The symbols of a SYMTAB or DYNSYM section.
    pub(crate) fn symbol_table_of(&self, section: &Shdr) -> Parsed<&'a [Sym]> {
        let kind = section.sh_type.get(LE);
        if kind != SHT_SYMTAB && kind != SHT_DYNSYM {
            return Err(ParseError::InvalidSectionHeader);
        }
        self.section_table::<Sym>(section)
    }

    /// The relocations of a REL section (for relocatable objects).
    pub(crate) fn rel_table_of(&self, section: &Shdr) -> Parsed<&'a [Rel]> {
        self.section_table::<Rel>(section)
    }

    /// The NUL-terminated string at `offset` in a string table, as bytes, read through
    /// `window` and never past the table's end.
    pub(crate) fn string_bytes(
        &self,
        section: &Shdr,
        offset: u32,
        window: Window,
    ) -> Parsed<&'a [u8]> {
        if section.sh_type.get(LE) != SHT_STRTAB {
            return Err(ParseError::InvalidSectionHeader);
        }
        let base = section.sh_offset.get(LE);
        let start = add(base, u64::from(offset))?;
        let window_end = match window {
            Window::Bytes(max) => add(start, max as u64)?,
            Window::Table => u64::MAX,
        };
        let end = add(base, section.sh_size.get(LE))?.min(window_end);
        let window = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(start, end)| self.bytes.get(start..end))
            .ok_or(ParseError::OutOfBounds)?;
        let too_long = match self.rules {
            ParserRules::Sbpf26 => ParseError::StringTooLong {
                start,
                end,
                max: usize::try_from(window_end.saturating_sub(start)).unwrap_or(usize::MAX),
            },
            ParserRules::Reference2022 => ParseError::InvalidString,
        };
        let len = window.iter().position(|&byte| byte == 0).ok_or(too_long)?;
        Ok(&window[..len])
    }

    /// The string at `offset` in a string table as text ([`Elf64::string_bytes`]); a string
    /// that is not UTF-8 is `InvalidString` (such a name never equals a name bpfvm looks
    /// for; where 0.26 compares prefixes or hashes bytes, the callers read the bytes).
    pub(crate) fn string_in(&self, section: &Shdr, offset: u32, window: Window) -> Parsed<&'a str> {
        let bytes = self.string_bytes(section, offset, window)?;
        core::str::from_utf8(bytes).map_err(|_| ParseError::InvalidString)
    }

    /// A section's name as bytes, or `None` when it cannot be read.
    pub(crate) fn section_name_bytes(&self, section: &Shdr) -> Option<&'a [u8]> {
        let names = self.shstrtab?;
        self.string_bytes(names, section.sh_name.get(LE), self.reading.section_names())
            .ok()
    }

    /// A section's name, or `None` when it cannot be read.
    pub(crate) fn section_name(&self, section: &Shdr) -> Option<&'a str> {
        let names = self.shstrtab?;
        self.string_in(names, section.sh_name.get(LE), self.reading.section_names())
            .ok()
    }

    /// The first section with this name.
    pub(crate) fn section(&self, name: &str) -> Option<&'a Shdr> {
        self.section_headers
            .iter()
            .find(|section| self.section_name(section) == Some(name))
    }

    /// The `.symtab` symbols (empty when missing or unreadable, as in the reference).
    pub(crate) fn symbols(&self) -> &'a [Sym] {
        self.symtab
            .and_then(|section| self.symbol_table_of(section).ok())
            .unwrap_or(&[])
    }

    /// A `.symtab` symbol's name.
    pub(crate) fn symbol_name(&self, st_name: u32) -> Option<&'a str> {
        self.symbol_name_checked(st_name).ok()
    }

    /// Why `symbol_name` failed (for the relocatable-object linker's error messages).
    pub(crate) fn symbol_name_checked(&self, st_name: u32) -> Parsed<&'a str> {
        let strtab = self.strtab.ok_or(ParseError::NoStringTable)?;
        let window = match (self.rules, self.reading) {
            (ParserRules::Sbpf26, Reading::Reference) => {
                Window::Bytes(SBPF26_DEBUG_SYMBOL_NAME_MAX)
            }
            (ParserRules::Sbpf26 | ParserRules::Reference2022, reading) => reading.symbol_names(),
        };
        self.string_in(strtab, st_name, window)
    }

    /// The dynamic symbol at `index`.
    pub(crate) fn dynamic_symbol(&self, index: u32) -> Option<&'a Sym> {
        self.dynamic_symbols?.get(usize::try_from(index).ok()?)
    }

    /// A dynamic symbol's name, read through a window of `window` bytes (NUL included).
    pub(crate) fn dynamic_symbol_name(&self, st_name: u32, window: usize) -> Option<&'a str> {
        self.string_in(self.dynstr?, st_name, Window::Bytes(window))
            .ok()
    }

    /// A dynamic symbol's name as bytes (what a syscall key is hashed from).
    pub(crate) fn dynamic_symbol_name_bytes(
        &self,
        st_name: u32,
        window: usize,
    ) -> Option<&'a [u8]> {
        self.string_bytes(self.dynstr?, st_name, Window::Bytes(window))
            .ok()
    }

    /// The dynamic relocations (empty when there are none).
    pub(crate) fn dynamic_relocations(&self) -> &'a [Rel] {
        self.dynamic_relocations.unwrap_or(&[])
    }

    /// The dynamic symbols (empty when there are none).
    pub(crate) fn dynamic_symbols(&self) -> &'a [Sym] {
        self.dynamic_symbols.unwrap_or(&[])
    }

    /// A byte range of the file, if it lies inside.
    pub(crate) fn slice(&self, range: Range<u64>) -> Option<&'a [u8]> {
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        self.bytes.get(start..end)
    }
}

fn check_file_header(header: &Ehdr) -> Parsed<()> {
    let ident = &header.e_ident;
    let valid = ident.magic == ELFMAG
        && ident.class == ELFCLASS64
        && ident.data == ELFDATA2LSB
        && ident.version == EV_CURRENT
        && u32::from(EV_CURRENT) == header.e_version.get(LE)
        && usize::from(header.e_ehsize.get(LE)) == EHDR_SIZE
        && (usize::from(header.e_phentsize.get(LE)) == PHDR_SIZE || is_bare_object(header))
        && usize::from(header.e_shentsize.get(LE)) == SHDR_SIZE
        && header.e_shstrndx.get(LE) < header.e_shnum.get(LE);
    if valid {
        Ok(())
    } else {
        Err(ParseError::InvalidFileHeader)
    }
}

/// A relocatable object without program headers may leave `e_phentsize` at 0 (clang does);
/// the reference never accepts ET_REL, so this relaxation cannot change a reference outcome.
pub(crate) fn is_bare_object(header: &Ehdr) -> bool {
    header.e_type.get(LE) == ET_REL
        && header.e_phnum.get(LE) == 0
        && header.e_phentsize.get(LE) == 0
}

fn check_load_segments(segments: &[Phdr], file_len: usize) -> Parsed<()> {
    let mut previous: Option<u64> = None;
    for segment in segments.iter().filter(|s| s.p_type.get(LE) == PT_LOAD) {
        let vaddr = segment.p_vaddr.get(LE);
        if previous.is_some_and(|previous| vaddr < previous) {
            return Err(ParseError::InvalidProgramHeader);
        }
        if add(segment.p_offset.get(LE), segment.p_filesz.get(LE))? > file_len as u64 {
            return Err(ParseError::OutOfBounds);
        }
        previous = Some(vaddr);
    }
    Ok(())
}

/// Whether section data must appear in header order in the file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SectionOrder {
    /// Each section starts at or after the end of the previous one (the reference's rule).
    Ascending,
    /// Any order (relocatable objects).
    Any,
}

fn check_section_ranges(
    sections: &[Shdr],
    tables: [&Range<u64>; 3],
    bytes: &[u8],
    order: SectionOrder,
) -> Parsed<()> {
    let mut offset = 0u64;
    for section in sections.iter().filter(|s| s.sh_type.get(LE) != SHT_NOBITS) {
        let start = section.sh_offset.get(LE);
        let range = start..add(start, section.sh_size.get(LE))?;
        for table in tables {
            no_overlap(&range, table)?;
        }
        if order == SectionOrder::Ascending && range.start < offset {
            return Err(ParseError::SectionNotInOrder);
        }
        if range.end > bytes.len() as u64 {
            return Err(ParseError::OutOfBounds);
        }
        offset = range.end;
    }
    Ok(())
}
