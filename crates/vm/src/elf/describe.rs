//! A readelf for sBPF: what an ELF file contains, as data ([`ElfInfo`]) and as text
//! (its `Display`, which `bpfvm info` prints).
//!
//! It reads the file with the same strict reader as the loader, so a file it cannot describe
//! gives the loader's parse error. It does not load or relocate anything.

use super::parse::{Elf64, Rel, Sym};
use super::relocate::{EF_SBF_V2, R_BPF_64_32, R_BPF_64_64, R_BPF_64_RELATIVE};
use crate::load_error::LoadError;
use bpfvm_isa::{hash_symbol_name, SbpfVersion};
use core::fmt;
use object::elf::{SHN_UNDEF, SHT_REL, STB_GLOBAL, STB_LOCAL, STB_WEAK, STT_FUNC};
use object::LittleEndian as LE;
use std::collections::{BTreeMap, BTreeSet};

/// One section header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    /// Its index in the header table.
    pub index: usize,
    /// Its name ("?" when unreadable).
    pub name: String,
    /// `sh_type`.
    pub kind: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_addr`.
    pub addr: u64,
    /// `sh_offset`.
    pub offset: u64,
    /// `sh_size`.
    pub size: u64,
}

/// One program header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// `p_type`.
    pub kind: u32,
    /// `p_flags`.
    pub flags: u32,
    /// `p_offset`.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_filesz`.
    pub file_size: u64,
    /// `p_memsz`.
    pub mem_size: u64,
}

/// One relocation entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelocationInfo {
    /// The relocation table it comes from (`.rel.dyn`, `.rel.text`, ...).
    pub table: String,
    /// `r_offset`.
    pub offset: u64,
    /// The relocation type.
    pub kind: u32,
    /// The symbol's name (empty for none).
    pub symbol: String,
}

/// One function symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionInfo {
    /// Its name.
    pub name: String,
    /// `st_value`.
    pub address: u64,
    /// `st_size`.
    pub size: u64,
    /// LOCAL, GLOBAL or WEAK.
    pub binding: &'static str,
}

/// What an ELF file contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    /// `e_type`.
    pub file_type: u16,
    /// `e_machine`.
    pub machine: u16,
    /// `e_flags`.
    pub flags: u32,
    /// `e_entry`.
    pub entry: u64,
    /// The file size.
    pub size: usize,
    /// The section headers.
    pub sections: Vec<SectionInfo>,
    /// The program headers.
    pub segments: Vec<SegmentInfo>,
    /// Every relocation: the dynamic ones, then those of REL sections.
    pub relocations: Vec<RelocationInfo>,
    /// Function symbols (`.symtab`, or `.dynsym` when there is no `.symtab`).
    pub functions: Vec<FunctionInfo>,
    /// Undefined symbols, i.e. imported syscalls, with their Murmur3 keys.
    pub syscalls: Vec<(String, u32)>,
}

/// Describes an ELF file.
pub fn describe(bytes: &[u8]) -> Result<ElfInfo, LoadError> {
    let elf = Elf64::parse(bytes)?;
    let header = elf.header();
    let dynsym_name = |symbol: &Sym| {
        elf.dynamic_symbol_name(symbol.st_name.get(LE), super::parse::SYMBOL_NAME_MAX)
            .unwrap_or("?")
            .to_owned()
    };
    let symtab_name = |symbol: &Sym| {
        elf.symbol_name(symbol.st_name.get(LE))
            .unwrap_or("?")
            .to_owned()
    };
    let mut relocations = relocation_list(".rel.dyn", elf.dynamic_relocations(), |index| {
        elf.dynamic_symbol(index).map(dynsym_name)
    });
    // A shared object's `.rel.dyn` is also a REL section: read REL sections only without it.
    let has_dynamic = !elf.dynamic_relocations().is_empty();
    for section in elf.section_headers() {
        if has_dynamic || section.sh_type.get(LE) != SHT_REL {
            continue;
        }
        let Ok(table) = elf.rel_table_of(section) else {
            continue;
        };
        let name = elf.section_name(section).unwrap_or("?");
        relocations.extend(relocation_list(name, table, |index| {
            elf.symbols().get(index as usize).map(symtab_name)
        }));
    }
    let (function_symbols, name_of): (_, &dyn Fn(&Sym) -> String) = if elf.symbols().is_empty() {
        (elf.dynamic_symbols(), &dynsym_name)
    } else {
        (elf.symbols(), &symtab_name)
    };
    let functions = function_symbols
        .iter()
        .filter(|symbol| symbol.st_type() == STT_FUNC && symbol.st_shndx.get(LE) != SHN_UNDEF)
        .map(|symbol| FunctionInfo {
            name: name_of(symbol),
            address: symbol.st_value.get(LE),
            size: symbol.st_size.get(LE),
            binding: binding_name(symbol.st_bind()),
        })
        .collect();
    let mut imported = BTreeSet::new();
    for (symbols, name_of) in [
        (
            elf.dynamic_symbols(),
            &dynsym_name as &dyn Fn(&Sym) -> String,
        ),
        (elf.symbols(), &symtab_name),
    ] {
        for symbol in symbols {
            if symbol.st_shndx.get(LE) == SHN_UNDEF && symbol.st_name.get(LE) != 0 {
                imported.insert(name_of(symbol));
            }
        }
    }
    Ok(ElfInfo {
        file_type: header.e_type.get(LE),
        machine: header.e_machine.get(LE),
        flags: header.e_flags.get(LE),
        entry: header.e_entry.get(LE),
        size: bytes.len(),
        sections: sections_of(&elf),
        segments: segments_of(&elf),
        relocations,
        functions,
        syscalls: imported
            .into_iter()
            .map(|name| {
                let key = hash_symbol_name(name.as_bytes());
                (name, key)
            })
            .collect(),
    })
}

fn sections_of(elf: &Elf64<'_>) -> Vec<SectionInfo> {
    elf.section_headers()
        .iter()
        .enumerate()
        .map(|(index, section)| SectionInfo {
            index,
            name: elf.section_name(section).unwrap_or("?").to_owned(),
            kind: section.sh_type.get(LE),
            flags: section.sh_flags.get(LE),
            addr: section.sh_addr.get(LE),
            offset: section.sh_offset.get(LE),
            size: section.sh_size.get(LE),
        })
        .collect()
}

fn segments_of(elf: &Elf64<'_>) -> Vec<SegmentInfo> {
    elf.program_headers()
        .iter()
        .map(|segment| SegmentInfo {
            kind: segment.p_type.get(LE),
            flags: segment.p_flags.get(LE),
            offset: segment.p_offset.get(LE),
            vaddr: segment.p_vaddr.get(LE),
            file_size: segment.p_filesz.get(LE),
            mem_size: segment.p_memsz.get(LE),
        })
        .collect()
}

fn relocation_list(
    table: &str,
    entries: &[Rel],
    symbol_name: impl Fn(u32) -> Option<String>,
) -> Vec<RelocationInfo> {
    entries
        .iter()
        .map(|relocation| {
            let sym = relocation.r_sym(LE);
            RelocationInfo {
                table: table.to_owned(),
                offset: relocation.r_offset.get(LE),
                kind: relocation.r_type(LE),
                symbol: if sym == 0 {
                    String::new()
                } else {
                    symbol_name(sym).unwrap_or_else(|| format!("#{sym}"))
                },
            }
        })
        .collect()
}

fn binding_name(binding: u8) -> &'static str {
    match binding {
        STB_LOCAL => "LOCAL",
        STB_GLOBAL => "GLOBAL",
        STB_WEAK => "WEAK",
        _ => "OTHER",
    }
}

/// The name of a BPF relocation type.
pub fn relocation_name(kind: u32) -> String {
    match kind {
        0 => "R_BPF_NONE".to_owned(),
        R_BPF_64_64 => "R_BPF_64_64".to_owned(),
        2 => "R_BPF_64_ABS64".to_owned(),
        3 => "R_BPF_64_ABS32".to_owned(),
        4 => "R_BPF_64_NODYLD32".to_owned(),
        R_BPF_64_RELATIVE => "R_BPF_64_RELATIVE".to_owned(),
        R_BPF_64_32 => "R_BPF_64_32".to_owned(),
        other => format!("type {other}"),
    }
}

fn type_name(file_type: u16) -> &'static str {
    match file_type {
        1 => "REL (relocatable object)",
        2 => "EXEC (executable)",
        3 => "DYN (shared object)",
        _ => "other",
    }
}

fn section_type_name(kind: u32) -> String {
    let name = match kind {
        0 => "NULL",
        1 => "PROGBITS",
        2 => "SYMTAB",
        3 => "STRTAB",
        4 => "RELA",
        5 => "HASH",
        6 => "DYNAMIC",
        8 => "NOBITS",
        9 => "REL",
        11 => "DYNSYM",
        0x6fff_fff6 => "GNU_HASH",
        other => return format!("{other:#x}"),
    };
    name.to_owned()
}

fn segment_type_name(kind: u32) -> String {
    let name = match kind {
        0 => "NULL",
        1 => "LOAD",
        2 => "DYNAMIC",
        4 => "NOTE",
        0x6474_e551 => "GNU_STACK",
        other => return format!("{other:#x}"),
    };
    name.to_owned()
}

fn flag_letters(flags: u64) -> String {
    [(1, 'W'), (2, 'A'), (4, 'X')]
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, letter)| *letter)
        .collect()
}

impl ElfInfo {
    /// The SBPF version `e_flags` name (0 to 4), if they name one.
    pub fn sbpf_version(&self) -> Option<SbpfVersion> {
        SbpfVersion::from_e_flags(self.flags)
    }
}

impl fmt::Display for ElfInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let machine = match self.machine {
            247 => "EM_BPF (247)".to_owned(),
            263 => "EM_SBF (263)".to_owned(),
            other => other.to_string(),
        };
        let version = match (self.sbpf_version(), self.flags) {
            (Some(version), _) => format!("SBPF {version}"),
            (None, EF_SBF_V2) => {
                "SBFv2 of 2022: refused by solana-sbpf 0.26; --config default runs it".to_owned()
            }
            (None, _) => "reserved: refused by solana-sbpf 0.26".to_owned(),
        };
        writeln!(f, "ELF header:")?;
        writeln!(f, "  type:    {}", type_name(self.file_type))?;
        writeln!(f, "  machine: {machine}")?;
        writeln!(f, "  flags:   {:#x} ({version})", self.flags)?;
        writeln!(f, "  entry:   {:#x}", self.entry)?;
        writeln!(f, "  size:    {} bytes", self.size)?;
        writeln!(f, "\nSections ({}):", self.sections.len())?;
        writeln!(
            f,
            "  [Nr] {:<18} {:<10} {:<3} {:>18} {:>10} {:>10}",
            "name", "type", "flg", "address", "offset", "size"
        )?;
        for s in &self.sections {
            writeln!(
                f,
                "  [{:>2}] {:<18} {:<10} {:<3} {:>#18x} {:>#10x} {:>#10x}",
                s.index,
                s.name,
                section_type_name(s.kind),
                flag_letters(s.flags),
                s.addr,
                s.offset,
                s.size
            )?;
        }
        writeln!(f, "\nSegments ({}):", self.segments.len())?;
        for p in &self.segments {
            writeln!(
                f,
                "  {:<10} offset {:#x} vaddr {:#x} filesz {:#x} memsz {:#x} flags {:#x}",
                segment_type_name(p.kind),
                p.offset,
                p.vaddr,
                p.file_size,
                p.mem_size,
                p.flags
            )?;
        }
        self.fmt_relocations(f)?;
        writeln!(f, "\nFunctions ({}):", self.functions.len())?;
        for function in &self.functions {
            writeln!(
                f,
                "  {:#10x} {:>6} {:<6} {}",
                function.address, function.size, function.binding, function.name
            )?;
        }
        writeln!(f, "\nImported syscalls ({}):", self.syscalls.len())?;
        for (name, key) in &self.syscalls {
            writeln!(f, "  {key:#010x} {name}")?;
        }
        Ok(())
    }
}

impl ElfInfo {
    fn fmt_relocations(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
        for relocation in &self.relocations {
            *counts.entry(relocation.kind).or_default() += 1;
        }
        writeln!(f, "\nRelocations ({}):", self.relocations.len())?;
        for (kind, count) in &counts {
            writeln!(f, "  {:<18} {count}", relocation_name(*kind))?;
        }
        for r in &self.relocations {
            writeln!(
                f,
                "  {:<12} {:#10x} {:<18} {}",
                r.table,
                r.offset,
                relocation_name(r.kind),
                r.symbol
            )?;
        }
        Ok(())
    }
}
