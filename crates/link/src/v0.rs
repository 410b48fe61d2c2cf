//! The V0 shared object, laid out like the Solana toolchain's (`ld.lld -z notext -shared`).
//!
//! ```text
//! 0x00   file header      ET_DYN, e_machine 247, e_flags 0, e_entry = linked entry address
//! 0x40   program headers  PT_LOAD R+X text, [PT_LOAD R data], PT_LOAD R dynamic, PT_DYNAMIC
//!        .text            (8-aligned; with 3 or 4 program headers at 0xe8 or 0x120)
//!        .rodata          (when there is data)
//!        .dynamic .dynsym .dynstr [.rel.dyn]
//!        .symtab .strtab .shstrtab, section headers
//! ```
//!
//! Every loaded section is linked at its file offset (`sh_addr == sh_offset`), which the
//! lenient loader wants for its read-only image and `reject_broken_elfs` requires. Addresses
//! in the code and data are these linked addresses, each with an `R_BPF_64_RELATIVE` that
//! the loader turns into `1 << 32` plus the address; syscalls are `R_BPF_64_32` against
//! undefined dynamic symbols. `entrypoint` is exported in `.dynsym`, as the toolchain does.

use crate::input::{Object, Segment};
use crate::out::{
    align8, file_header, section_header, segment, symbol, Buffer, FileHeader, Section, Strings,
    FILE_HEADER_SIZE, PROGRAM_HEADER_SIZE, SYMBOL_SIZE,
};
use crate::resolve::{Dynamic, DynamicSymbol, Image, V0Addresses};
use object::elf::{
    Dyn64, Rel64, DF_TEXTREL, DT_FLAGS, DT_NULL, DT_REL, DT_RELENT, DT_RELSZ, DT_STRSZ, DT_STRTAB,
    DT_SYMENT, DT_SYMTAB, DT_TEXTREL, PF_R, PF_X, PT_DYNAMIC, PT_LOAD, SHF_ALLOC, SHF_EXECINSTR,
    SHF_WRITE, SHN_UNDEF, SHT_DYNAMIC, SHT_DYNSYM, SHT_PROGBITS, SHT_REL, SHT_STRTAB, SHT_SYMTAB,
    STB_GLOBAL, STT_FUNC, STT_NOTYPE,
};
use object::{LittleEndian as LE, U64};

/// `R_BPF_64_RELATIVE`.
const R_BPF_64_RELATIVE: u64 = 8;
/// `R_BPF_64_32`.
const R_BPF_64_32: u64 = 10;
/// The size of one `Elf64_Dyn` and one `Elf64_Rel`.
const DYN_SIZE: u64 = 16;
const REL_SIZE: u64 = 16;

/// Where the text and data of a V0 file go; fixed before the relocations are resolved,
/// because the code holds these addresses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    program_headers: u64,
    text: u64,
    text_size: u64,
    data: u64,
    data_size: u64,
}

impl Layout {
    pub fn new(object: &Object) -> Layout {
        let data_size = align8(object.data.len() as u64);
        let program_headers = if data_size > 0 { 4 } else { 3 };
        let text = align8(FILE_HEADER_SIZE + PROGRAM_HEADER_SIZE * program_headers);
        let text_size = object.text.len() as u64;
        Layout {
            program_headers,
            text,
            text_size,
            data: align8(text + text_size),
            data_size,
        }
    }

    pub fn addresses(&self) -> V0Addresses {
        V0Addresses {
            text: self.text,
            data: self.data,
        }
    }

    fn data_end(&self) -> u64 {
        if self.data_size > 0 {
            self.data + self.data_size
        } else {
            align8(self.text + self.text_size)
        }
    }
}

/// The dynamic symbols and relocation records of an image.
struct DynamicTables {
    names: Strings,
    symbols: Vec<object::elf::Sym64<LE>>,
    relocations: Vec<Rel64<LE>>,
    text_relocations: bool,
}

impl DynamicTables {
    fn new(image: &Image, layout: &Layout, text_index: u16) -> DynamicTables {
        let mut tables = DynamicTables {
            names: Strings::new(),
            symbols: vec![symbol(0, 0, 0, 0)],
            relocations: Vec::new(),
            text_relocations: false,
        };
        let entry = tables.names.add("entrypoint");
        let function = (STB_GLOBAL << 4) | STT_FUNC;
        tables.symbols.push(symbol(
            entry,
            function,
            text_index,
            layout.text + image.entry,
        ));
        let mut imports: Vec<(String, u64)> = Vec::new();
        for dynamic in &image.dynamic {
            let (offset, info) = match dynamic {
                Dynamic::Relative(place) => {
                    let base = match place.segment {
                        Segment::Text => layout.text,
                        Segment::Data => layout.data,
                    };
                    (base + place.offset, R_BPF_64_RELATIVE)
                }
                Dynamic::Call { at, symbol: target } => {
                    let index = tables.symbol_index(&mut imports, target, layout, text_index);
                    (layout.text + at, (index << 32) | R_BPF_64_32)
                }
            };
            tables.text_relocations |= offset < layout.text + layout.text_size;
            tables.relocations.push(Rel64 {
                r_offset: U64::new(LE, offset),
                r_info: U64::new(LE, info),
            });
        }
        tables
    }

    /// The index of the dynamic symbol a call relocation names, added on first use.
    fn symbol_index(
        &mut self,
        seen: &mut Vec<(String, u64)>,
        target: &DynamicSymbol,
        layout: &Layout,
        text_index: u16,
    ) -> u64 {
        let key = match target {
            DynamicSymbol::Import(name) => (name.clone(), u64::MAX),
            DynamicSymbol::Function(offset) => (format!("function_{offset}"), *offset),
        };
        if let Some(position) = seen.iter().position(|known| *known == key) {
            return position as u64 + 2;
        }
        let name = self.names.add(&key.0);
        let record = match target {
            DynamicSymbol::Import(_) => symbol(name, (STB_GLOBAL << 4) | STT_NOTYPE, SHN_UNDEF, 0),
            DynamicSymbol::Function(offset) => symbol(
                name,
                (STB_GLOBAL << 4) | STT_FUNC,
                text_index,
                layout.text + offset,
            ),
        };
        self.symbols.push(record);
        seen.push(key);
        seen.len() as u64 + 1
    }

    fn entries(&self, symtab: u64, strtab: u64, rel: u64) -> Vec<Dyn64<LE>> {
        let entry = |tag: u32, value: u64| Dyn64 {
            d_tag: U64::new(LE, u64::from(tag)),
            d_val: U64::new(LE, value),
        };
        let mut entries = Vec::new();
        if self.text_relocations {
            entries.push(entry(DT_FLAGS, u64::from(DF_TEXTREL)));
        }
        if !self.relocations.is_empty() {
            entries.push(entry(DT_REL, rel));
            entries.push(entry(DT_RELSZ, REL_SIZE * self.relocations.len() as u64));
            entries.push(entry(DT_RELENT, REL_SIZE));
        }
        entries.push(entry(DT_SYMTAB, symtab));
        entries.push(entry(DT_SYMENT, SYMBOL_SIZE));
        entries.push(entry(DT_STRTAB, strtab));
        entries.push(entry(DT_STRSZ, self.names.len()));
        if self.text_relocations {
            entries.push(entry(DT_TEXTREL, 0));
        }
        entries.push(entry(DT_NULL, 0));
        entries
    }

    /// How many `Elf64_Dyn` entries [`DynamicTables::entries`] writes.
    fn entry_count(&self) -> u64 {
        let relocations = if self.relocations.is_empty() { 0 } else { 3 };
        let text = if self.text_relocations { 2 } else { 0 };
        5 + relocations + text
    }
}

/// Writes the V0 shared object of a linked image.
pub(crate) fn write(image: &Image, layout: &Layout) -> Vec<u8> {
    let has_data = layout.data_size > 0;
    let text_index: u16 = 1;
    let tables = DynamicTables::new(image, layout, text_index);

    let dynamic_at = align8(layout.data_end());
    let dynamic_size = DYN_SIZE * tables.entry_count();
    let dynsym_at = dynamic_at + dynamic_size;
    let dynsym_size = SYMBOL_SIZE * tables.symbols.len() as u64;
    let dynstr_at = dynsym_at + dynsym_size;
    let rel_at = align8(dynstr_at + tables.names.len());
    let rel_size = REL_SIZE * tables.relocations.len() as u64;
    let dynamic_end = rel_at + rel_size;

    let mut symbol_names = Strings::new();
    let mut symbols = vec![symbol(0, 0, 0, 0)];
    for (name, offset) in &image.functions {
        let name = symbol_names.add(name);
        let info = (STB_GLOBAL << 4) | STT_FUNC;
        symbols.push(symbol(name, info, text_index, layout.text + offset));
    }
    let symtab_at = align8(dynamic_end);
    let symtab_size = SYMBOL_SIZE * symbols.len() as u64;
    let strtab_at = symtab_at + symtab_size;

    let mut names = Strings::new();
    let mut sections = vec![Section::default()];
    let loaded = |name, kind, flags: u32, at, size| Section {
        name,
        kind,
        flags: u64::from(flags),
        addr: at,
        offset: at,
        size,
        align: 8,
        ..Section::default()
    };
    sections.push(loaded(
        names.add(".text"),
        SHT_PROGBITS,
        SHF_ALLOC | SHF_EXECINSTR,
        layout.text,
        layout.text_size,
    ));
    if has_data {
        sections.push(loaded(
            names.add(".rodata"),
            SHT_PROGBITS,
            SHF_ALLOC,
            layout.data,
            layout.data_size,
        ));
    }
    let dynamic_index = sections.len() as u32;
    let dynsym_index = dynamic_index + 1;
    let dynstr_index = dynamic_index + 2;
    sections.push(Section {
        link: dynstr_index,
        entry_size: DYN_SIZE,
        ..loaded(
            names.add(".dynamic"),
            SHT_DYNAMIC,
            SHF_ALLOC | SHF_WRITE,
            dynamic_at,
            dynamic_size,
        )
    });
    sections.push(Section {
        link: dynstr_index,
        info: 1,
        entry_size: SYMBOL_SIZE,
        ..loaded(
            names.add(".dynsym"),
            SHT_DYNSYM,
            SHF_ALLOC,
            dynsym_at,
            dynsym_size,
        )
    });
    sections.push(Section {
        align: 1,
        ..loaded(
            names.add(".dynstr"),
            SHT_STRTAB,
            SHF_ALLOC,
            dynstr_at,
            tables.names.len(),
        )
    });
    if rel_size > 0 {
        sections.push(Section {
            link: dynsym_index,
            entry_size: REL_SIZE,
            ..loaded(names.add(".rel.dyn"), SHT_REL, SHF_ALLOC, rel_at, rel_size)
        });
    }
    let symtab_index = sections.len() as u32;
    sections.push(Section {
        name: names.add(".symtab"),
        kind: SHT_SYMTAB,
        offset: symtab_at,
        size: symtab_size,
        link: symtab_index + 1,
        info: 1,
        align: 8,
        entry_size: SYMBOL_SIZE,
        ..Section::default()
    });
    sections.push(Section {
        name: names.add(".strtab"),
        kind: SHT_STRTAB,
        offset: strtab_at,
        size: symbol_names.len(),
        align: 1,
        ..Section::default()
    });
    let shstrtab_name = names.add(".shstrtab");
    let shstrtab_at = strtab_at + symbol_names.len();
    sections.push(Section {
        name: shstrtab_name,
        kind: SHT_STRTAB,
        offset: shstrtab_at,
        size: names.len(),
        align: 1,
        ..Section::default()
    });
    let headers_at = align8(shstrtab_at + names.len());

    let mut out = Buffer::default();
    out.push(&file_header(&FileHeader {
        flags: 0,
        entry: layout.text + image.entry,
        program_headers: layout.program_headers as u16,
        section_headers_at: headers_at,
        section_headers: sections.len() as u16,
        section_names_index: sections.len() as u16 - 1,
    }));
    out.push(&segment(
        PT_LOAD,
        PF_R | PF_X,
        layout.text,
        layout.text,
        layout.text_size,
    ));
    if has_data {
        out.push(&segment(
            PT_LOAD,
            PF_R,
            layout.data,
            layout.data,
            layout.data_size,
        ));
    }
    let dynamic_span = dynamic_end - dynamic_at;
    out.push(&segment(
        PT_LOAD,
        PF_R,
        dynamic_at,
        dynamic_at,
        dynamic_span,
    ));
    out.push(&segment(
        PT_DYNAMIC,
        PF_R,
        dynamic_at,
        dynamic_at,
        dynamic_size,
    ));
    out.pad_to(layout.text);
    out.extend(&image.text);
    if has_data {
        out.pad_to(layout.data);
        out.extend(&image.data);
    }
    out.pad_to(dynamic_at);
    for entry in tables.entries(dynsym_at, dynstr_at, rel_at) {
        out.push(&entry);
    }
    for entry in &tables.symbols {
        out.push(entry);
    }
    out.extend(tables.names.bytes());
    out.pad_to(rel_at);
    for relocation in &tables.relocations {
        out.push(relocation);
    }
    out.pad_to(symtab_at);
    for entry in &symbols {
        out.push(entry);
    }
    out.extend(symbol_names.bytes());
    out.extend(names.bytes());
    out.pad_to(headers_at);
    for section in &sections {
        out.push(&section_header(section));
    }
    out.finish()
}
