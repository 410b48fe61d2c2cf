//! The V3 strict format (SIMD-0189, spec `sbpf-0.26.md` §1.7 and §D).
//!
//! ```text
//! 0x00   file header      e_machine 247, e_flags 3, e_entry = 1 << 32 + 8 * entry pc
//! 0x40   program headers  [PT_LOAD PF_R vaddr 0: data]  PT_LOAD PF_X vaddr 1 << 32: bytecode
//!        data             (only when there is some), padded to a multiple of 8
//!        bytecode
//!        .symtab .strtab .shstrtab, section headers (labels for tools; the loader ignores them)
//! ```
//!
//! Every offset and size the loader checks is a multiple of 8, each segment starts where the
//! one before ends, and the text and data carry their final addresses (nothing is left to
//! relocate).

use crate::out::{
    align8, file_header, section_header, segment, symbol, Buffer, FileHeader, Section, Strings,
    FILE_HEADER_SIZE, PROGRAM_HEADER_SIZE, SYMBOL_SIZE,
};
use crate::resolve::Image;
use crate::BYTECODE_START;
use object::elf::{
    PF_R, PF_X, PT_LOAD, SHF_ALLOC, SHF_EXECINSTR, SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB,
    STB_GLOBAL, STT_FUNC,
};

/// The `e_flags` of V3.
const E_FLAGS: u32 = 3;

/// Writes the strict-format file of a linked image.
pub(crate) fn write(image: &Image) -> Vec<u8> {
    let data_size = align8(image.data.len() as u64);
    let has_data = data_size > 0;
    let program_headers = if has_data { 2 } else { 1 };
    let data_at = FILE_HEADER_SIZE + PROGRAM_HEADER_SIZE * program_headers;
    let text_at = data_at + data_size;
    let text_size = image.text.len() as u64;

    let mut names = Strings::new();
    let mut symbol_names = Strings::new();
    let mut sections = vec![Section::default()];
    if has_data {
        sections.push(Section {
            name: names.add(".rodata"),
            kind: SHT_PROGBITS,
            flags: u64::from(SHF_ALLOC),
            offset: data_at,
            size: data_size,
            align: 8,
            ..Section::default()
        });
    }
    let text_index = sections.len() as u16;
    sections.push(Section {
        name: names.add(".text"),
        kind: SHT_PROGBITS,
        flags: u64::from(SHF_ALLOC | SHF_EXECINSTR),
        addr: BYTECODE_START,
        offset: text_at,
        size: text_size,
        align: 8,
        ..Section::default()
    });
    let mut symbols = vec![symbol(0, 0, 0, 0)];
    for (name, offset) in &image.functions {
        let name = symbol_names.add(name);
        let info = (STB_GLOBAL << 4) | STT_FUNC;
        symbols.push(symbol(name, info, text_index, BYTECODE_START + offset));
    }
    let symtab_at = align8(text_at + text_size);
    let symtab_size = SYMBOL_SIZE * symbols.len() as u64;
    let strtab_at = symtab_at + symtab_size;
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
        flags: E_FLAGS,
        entry: BYTECODE_START + image.entry,
        program_headers: program_headers as u16,
        section_headers_at: headers_at,
        section_headers: sections.len() as u16,
        section_names_index: sections.len() as u16 - 1,
    }));
    if has_data {
        out.push(&segment(PT_LOAD, PF_R, data_at, 0, data_size));
    }
    out.push(&segment(PT_LOAD, PF_X, text_at, BYTECODE_START, text_size));
    out.extend(&image.data);
    out.pad_to(text_at);
    out.extend(&image.text);
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
