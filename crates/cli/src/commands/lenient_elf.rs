//! A lenient ELF reader for `bpfvm info`: any ELF file, 32- or 64-bit, either byte order, any
//! machine, described as far as it can be read.
//!
//! The library's `elf::describe` uses the loader's strict reader, which refuses what the
//! loader refuses (a section name past its 16-byte limit, a foreign machine, ...). `info`
//! tries it first and falls back to this reader, built on the `object` crate's ELF records:
//! each part (program headers, section headers, each symbol table, each relocation table) is
//! read on its own, and a part that cannot be read is left empty with a note saying why, so a
//! damaged or unusual part never hides the rest. Nothing here loads or relocates anything.

use bpfvm::elf::{ElfInfo, FunctionInfo, RelocationInfo, SectionInfo, SegmentInfo};
use bpfvm_isa::hash_symbol_name;
use object::elf::{
    FileHeader32, FileHeader64, SHN_UNDEF, SHT_DYNSYM, SHT_REL, SHT_RELA, SHT_SYMTAB, STB_GLOBAL,
    STB_LOCAL, STB_WEAK, STT_FUNC,
};
use object::read::elf::{FileHeader, ProgramHeader, Rel, Rela, SectionHeader, SectionTable};
use object::read::elf::{Sym, SymbolTable};
use object::Endianness;
use std::collections::BTreeSet;

/// A description and the notes on the parts that could not be read.
pub struct Lenient {
    /// What could be read.
    pub info: ElfInfo,
    /// One line per part that could not be read.
    pub notes: Vec<String>,
}

/// Describes any ELF file; fails only when even its header cannot be read.
pub fn describe(data: &[u8]) -> Result<Lenient, String> {
    match data.get(4) {
        Some(1) => read::<FileHeader32<Endianness>>(data),
        Some(2) => read::<FileHeader64<Endianness>>(data),
        _ => Err("not an ELF file of class 32 or 64".to_owned()),
    }
}

/// The parts of one file being read.
struct Reader<'data, Elf: FileHeader<Endian = Endianness>> {
    data: &'data [u8],
    endian: Endianness,
    sections: SectionTable<'data, Elf>,
    symtab: SymbolTable<'data, Elf>,
    dynsym: SymbolTable<'data, Elf>,
    notes: Vec<String>,
}

fn read<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<Lenient, String> {
    let header = Elf::parse(data).map_err(|e| e.to_string())?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    let mut notes = Vec::new();
    let mut note = |part: &str, error: object::read::Error| notes.push(format!("{part}: {error}"));
    let segments = header.program_headers(endian, data).unwrap_or_else(|e| {
        note("program headers", e);
        &[]
    });
    let sections = header.sections(endian, data).unwrap_or_else(|e| {
        note("section headers", e);
        SectionTable::default()
    });
    let mut symbols = |kind: u32, part: &str| {
        sections.symbols(endian, data, kind).unwrap_or_else(|e| {
            note(part, e);
            SymbolTable::default()
        })
    };
    let symtab = symbols(SHT_SYMTAB, ".symtab");
    let dynsym = symbols(SHT_DYNSYM, ".dynsym");
    let mut reader = Reader {
        data,
        endian,
        sections,
        symtab,
        dynsym,
        notes,
    };
    let relocations = reader.relocations();
    let info = ElfInfo {
        file_type: header.e_type(endian),
        machine: header.e_machine(endian),
        flags: header.e_flags(endian),
        entry: header.e_entry(endian).into(),
        size: data.len(),
        sections: reader.section_infos(),
        segments: segments
            .iter()
            .map(|segment| SegmentInfo {
                kind: segment.p_type(endian),
                flags: segment.p_flags(endian),
                offset: segment.p_offset(endian).into(),
                vaddr: segment.p_vaddr(endian).into(),
                file_size: segment.p_filesz(endian).into(),
                mem_size: segment.p_memsz(endian).into(),
            })
            .collect(),
        relocations,
        functions: reader.functions(),
        syscalls: reader.imports(),
    };
    Ok(Lenient {
        info,
        notes: reader.notes,
    })
}

impl<Elf: FileHeader<Endian = Endianness>> Reader<'_, Elf> {
    fn section_name(&self, section: &Elf::SectionHeader) -> String {
        self.sections
            .section_name(self.endian, section)
            .map_or_else(
                |_| "?".to_owned(),
                |n| String::from_utf8_lossy(n).into_owned(),
            )
    }

    fn section_infos(&self) -> Vec<SectionInfo> {
        let endian = self.endian;
        self.sections
            .iter()
            .enumerate()
            .map(|(index, section)| SectionInfo {
                index,
                name: self.section_name(section),
                kind: section.sh_type(endian),
                flags: section.sh_flags(endian).into(),
                addr: section.sh_addr(endian).into(),
                offset: section.sh_offset(endian).into(),
                size: section.sh_size(endian).into(),
            })
            .collect()
    }

    /// The name of symbol `index` in the symbol table at section `link`.
    fn symbol_name(&self, link: u32, index: u32) -> String {
        if index == 0 {
            return String::new();
        }
        let table = match link as usize {
            link if link == self.symtab.section().0 => &self.symtab,
            link if link == self.dynsym.section().0 => &self.dynsym,
            _ => return format!("#{index}"),
        };
        table
            .symbol(object::SymbolIndex(index as usize))
            .and_then(|symbol| table.symbol_name(self.endian, symbol))
            .map_or_else(
                |_| format!("#{index}"),
                |name| String::from_utf8_lossy(name).into_owned(),
            )
    }

    fn relocations(&mut self) -> Vec<RelocationInfo> {
        let (endian, data) = (self.endian, self.data);
        let mut relocations = Vec::new();
        for section in self.sections.iter() {
            let kind = section.sh_type(endian);
            if kind != SHT_REL && kind != SHT_RELA {
                continue;
            }
            let table = self.section_name(section);
            let link = section.sh_link(endian);
            let entries: Vec<(u64, u32, u32)> = match kind {
                SHT_REL => match section.rel(endian, data) {
                    Ok(rels) => rels.map_or_else(Vec::new, |(rels, _)| {
                        rels.iter()
                            .map(|r| (r.r_offset(endian).into(), r.r_type(endian), r.r_sym(endian)))
                            .collect()
                    }),
                    Err(e) => {
                        self.notes.push(format!("{table}: {e}"));
                        continue;
                    }
                },
                _ => match section.rela(endian, data) {
                    Ok(relas) => relas.map_or_else(Vec::new, |(relas, _)| {
                        relas
                            .iter()
                            .map(|r| {
                                let offset = r.r_offset(endian).into();
                                (offset, r.r_type(endian, false), r.r_sym(endian, false))
                            })
                            .collect()
                    }),
                    Err(e) => {
                        self.notes.push(format!("{table}: {e}"));
                        continue;
                    }
                },
            };
            for (offset, kind, symbol) in entries {
                relocations.push(RelocationInfo {
                    table: table.clone(),
                    offset,
                    kind,
                    symbol: self.symbol_name(link, symbol),
                });
            }
        }
        relocations
    }

    fn name_in(&self, table: &SymbolTable<'_, Elf>, symbol: &Elf::Sym) -> String {
        table.symbol_name(self.endian, symbol).map_or_else(
            |_| "?".to_owned(),
            |n| String::from_utf8_lossy(n).into_owned(),
        )
    }

    /// Function symbols of `.symtab`, or of `.dynsym` when there is no `.symtab`.
    fn functions(&self) -> Vec<FunctionInfo> {
        let endian = self.endian;
        let table = match self.symtab.is_empty() {
            true => &self.dynsym,
            false => &self.symtab,
        };
        table
            .iter()
            .filter(|symbol| symbol.st_type() == STT_FUNC && symbol.st_shndx(endian) != SHN_UNDEF)
            .map(|symbol| FunctionInfo {
                name: self.name_in(table, symbol),
                address: symbol.st_value(endian).into(),
                size: symbol.st_size(endian).into(),
                binding: match symbol.st_bind() {
                    STB_LOCAL => "LOCAL",
                    STB_GLOBAL => "GLOBAL",
                    STB_WEAK => "WEAK",
                    _ => "OTHER",
                },
            })
            .collect()
    }

    /// Named undefined symbols of both tables, with their Murmur3 keys.
    fn imports(&self) -> Vec<(String, u32)> {
        let mut names = BTreeSet::new();
        for table in [&self.dynsym, &self.symtab] {
            for symbol in table.iter() {
                if symbol.st_shndx(self.endian) == SHN_UNDEF && symbol.st_name(self.endian) != 0 {
                    names.insert(self.name_in(table, symbol));
                }
            }
        }
        names
            .into_iter()
            .map(|name| {
                let key = hash_symbol_name(name.as_bytes());
                (name, key)
            })
            .collect()
    }
}
