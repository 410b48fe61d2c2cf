//! Unit tests on hand-built objects: the shapes clang rarely writes (a call to itself, helper
//! calls, writable data, no entry point, relocations in odd places) and hostile bytes.

use crate::out::{align8, section_header, symbol, Buffer, Section, Strings, SYMBOL_SIZE};
use crate::{link, LinkError, Target};
use bpfvm_isa::{encode, Dialect, Insn, Reg, Slot};
use object::elf::{
    SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_PROGBITS, SHT_REL, SHT_STRTAB, SHT_SYMTAB, STB_GLOBAL,
    STT_FUNC, STT_NOTYPE,
};

/// A symbol of a hand-built object: name, section index (0: undefined), value, type.
struct Symbol(&'static str, u16, u64, u8);

/// A minimal relocatable object: `.text`, optionally one data section, one `.rel.text`.
struct Builder {
    text: Vec<u8>,
    data: Option<(&'static str, u32, Vec<u8>)>,
    symbols: Vec<Symbol>,
    /// (text offset, symbol index, type)
    relocations: Vec<(u64, u64, u64)>,
}

fn code(insns: &[Insn]) -> Vec<u8> {
    insns
        .iter()
        .flat_map(|insn| encode(insn, Dialect::Sbpf).unwrap_or_default())
        .flat_map(Slot::to_bytes)
        .collect()
}

impl Builder {
    fn new(insns: &[Insn]) -> Builder {
        Builder {
            text: code(insns),
            data: None,
            symbols: vec![Symbol("entrypoint", 1, 0, STT_FUNC)],
            relocations: Vec::new(),
        }
    }

    fn build(&self) -> Vec<u8> {
        let mut names = Strings::new();
        let mut symbol_names = Strings::new();
        let mut sections = vec![Section::default()];
        let mut at = 64;
        let mut place =
            |name, kind, flags: u32, size: u64, align: u64, sections: &mut Vec<Section>| {
                at = align8(at);
                sections.push(Section {
                    name,
                    kind,
                    flags: u64::from(flags),
                    offset: at,
                    size,
                    align,
                    ..Section::default()
                });
                at += size;
            };
        let text_name = names.add(".text");
        place(
            text_name,
            SHT_PROGBITS,
            SHF_ALLOC | SHF_EXECINSTR,
            self.text.len() as u64,
            8,
            &mut sections,
        );
        if let Some((name, flags, bytes)) = &self.data {
            let name = names.add(name);
            place(
                name,
                SHT_PROGBITS,
                *flags,
                bytes.len() as u64,
                8,
                &mut sections,
            );
        }
        let symbols_index = sections.len() as u32 + u32::from(!self.relocations.is_empty());
        if !self.relocations.is_empty() {
            let name = names.add(".rel.text");
            place(
                name,
                SHT_REL,
                0,
                16 * self.relocations.len() as u64,
                8,
                &mut sections,
            );
            if let Some(section) = sections.last_mut() {
                section.link = symbols_index;
                section.info = 1;
                section.entry_size = 16;
            }
        }
        let mut records = vec![symbol(0, 0, 0, 0)];
        for Symbol(name, section, value, kind) in &self.symbols {
            records.push(symbol(
                symbol_names.add(name),
                (STB_GLOBAL << 4) | kind,
                *section,
                *value,
            ));
        }
        let name = names.add(".symtab");
        place(
            name,
            SHT_SYMTAB,
            0,
            SYMBOL_SIZE * records.len() as u64,
            8,
            &mut sections,
        );
        if let Some(section) = sections.last_mut() {
            section.link = symbols_index + 1;
            section.info = 1;
            section.entry_size = SYMBOL_SIZE;
        }
        let name = names.add(".strtab");
        place(name, SHT_STRTAB, 0, symbol_names.len(), 1, &mut sections);
        let name = names.add(".shstrtab");
        place(name, SHT_STRTAB, 0, names.len(), 1, &mut sections);
        let headers_at = align8(at);

        let mut out = Buffer::default();
        out.push(&crate::out::file_header(&crate::out::FileHeader {
            flags: 0,
            entry: 0,
            program_headers: 0,
            section_headers_at: headers_at,
            section_headers: sections.len() as u16,
            section_names_index: sections.len() as u16 - 1,
        }));
        let contents: Vec<Vec<u8>> = {
            let mut contents = vec![Vec::new(), self.text.clone()];
            if let Some((_, _, bytes)) = &self.data {
                contents.push(bytes.clone());
            }
            if !self.relocations.is_empty() {
                contents.push(
                    self.relocations
                        .iter()
                        .flat_map(|&(offset, sym, kind)| {
                            [offset.to_le_bytes(), ((sym << 32) | kind).to_le_bytes()].concat()
                        })
                        .collect(),
                );
            }
            let mut table = Buffer::default();
            for record in &records {
                table.push(record);
            }
            contents.push(table.finish());
            contents.push(symbol_names.bytes().to_vec());
            contents.push(names.bytes().to_vec());
            contents
        };
        for (section, bytes) in sections.iter().zip(&contents).skip(1) {
            out.pad_to(section.offset);
            out.extend(bytes);
        }
        out.pad_to(headers_at);
        for section in &sections {
            out.push(&section_header(section));
        }
        let mut bytes = out.finish();
        // ET_REL, no program headers.
        bytes[16..18].copy_from_slice(&1u16.to_le_bytes());
        bytes[32..40].copy_from_slice(&0u64.to_le_bytes());
        bytes
    }
}

fn exit() -> Insn {
    Insn::Exit
}

fn call(src: u8, imm: i32) -> Insn {
    Insn::Call { src, imm }
}

fn slot(bytes: &[u8], at: usize) -> Slot {
    Slot::at(bytes, at).unwrap_or_default()
}

#[test]
fn a_call_to_itself_gets_a_dynamic_relocation_in_v0() {
    // entrypoint: call entrypoint (pc-relative -1); exit
    let object = Builder::new(&[call(1, -1), exit()]).build();
    let v0 = link(&object, Target::V0).unwrap_or_default();
    // The text is at 0xe8 (three program headers); its call keeps imm -1, and a dynamic
    // R_BPF_64_32 names a defined function at the call's own address.
    assert_eq!(
        slot(&v0[0xe8..], 0),
        Slot {
            opcode: 0x85,
            dst: 0,
            src: 1,
            off: 0,
            imm: -1
        }
    );
    let needle = [0xe8u64.to_le_bytes(), ((2u64 << 32) | 10).to_le_bytes()].concat();
    assert!(
        v0.windows(16).any(|window| window == needle),
        "no R_BPF_64_32 for the self-call"
    );
    let v3 = link(&object, Target::V3).unwrap_or_default();
    assert_eq!(slot(&v3[120..], 0).imm, -1);
}

#[test]
fn helper_calls_and_bad_call_targets_are_refused() {
    let object = Builder::new(&[call(0, 5), exit()]).build();
    assert_eq!(
        link(&object, Target::V3),
        Err(LinkError::HelperCall { pc: 0, imm: 5 })
    );
    let object = Builder::new(&[call(1, 7), exit()]).build();
    assert_eq!(
        link(&object, Target::V0),
        Err(LinkError::CallOutsideText { pc: 0 })
    );
    let object = Builder::new(&[call(3, 0), exit()]).build();
    assert!(matches!(
        link(&object, Target::V3),
        Err(LinkError::UnsupportedInstruction { pc: 0, .. })
    ));
}

#[test]
fn writable_data_and_a_missing_entry_are_refused() {
    let mut builder = Builder::new(&[exit()]);
    builder.data = Some((".data", SHF_ALLOC | SHF_WRITE, vec![1; 8]));
    assert_eq!(
        link(&builder.build(), Target::V3),
        Err(LinkError::WritableSection {
            name: ".data".to_owned()
        })
    );
    builder.data = Some((".data.rel.ro", SHF_ALLOC | SHF_WRITE, vec![1; 8]));
    assert!(link(&builder.build(), Target::V3).is_ok());
    let mut builder = Builder::new(&[exit()]);
    builder.symbols = vec![Symbol("main", 1, 0, STT_FUNC)];
    assert_eq!(
        link(&builder.build(), Target::V0),
        Err(LinkError::NoEntrypoint)
    );
}

#[test]
fn relocations_where_they_cannot_apply_are_refused() {
    let lddw = Insn::LoadImm64 {
        dst: Reg::R1,
        imm: 0,
    };
    // R_BPF_64_32 (a call relocation) on an lddw.
    let mut builder = Builder::new(&[lddw, exit()]);
    builder.symbols.push(Symbol("sol_log_", 0, 0, STT_NOTYPE));
    builder.relocations.push((0, 2, 10));
    assert_eq!(
        link(&builder.build(), Target::V3),
        Err(LinkError::MisplacedRelocation {
            kind: 10,
            offset: 0
        })
    );
    // R_BPF_64_64 against an import, on the second slot, and of an unknown type.
    builder.relocations = vec![(0, 2, 1)];
    assert!(matches!(
        link(&builder.build(), Target::V0),
        Err(LinkError::MisplacedRelocation { .. })
    ));
    builder.relocations = vec![(8, 1, 1)];
    assert!(matches!(
        link(&builder.build(), Target::V3),
        Err(LinkError::MisplacedRelocation { offset: 8, .. })
    ));
    builder.relocations = vec![(0, 1, 7)];
    assert_eq!(
        link(&builder.build(), Target::V3),
        Err(LinkError::UnknownRelocation { kind: 7 })
    );
    builder.relocations = vec![(0, 9, 1)];
    assert!(matches!(
        link(&builder.build(), Target::V3),
        Err(LinkError::Parse { .. })
    ));
}

#[test]
fn imports_are_hashed_for_v3_and_relocated_for_v0() {
    let mut builder = Builder::new(&[call(1, -1), exit()]);
    builder.symbols.push(Symbol("sol_log_", 0, 0, STT_NOTYPE));
    builder.relocations.push((0, 2, 10));
    let object = builder.build();
    let v3 = link(&object, Target::V3).unwrap_or_default();
    let key = bpfvm_isa::hash_symbol_name(b"sol_log_") as i32;
    assert_eq!(
        slot(&v3[120..], 0),
        Slot {
            opcode: 0x85,
            dst: 0,
            src: 0,
            off: 0,
            imm: key
        }
    );
    let v0 = link(&object, Target::V0).unwrap_or_default();
    assert!(v0.windows(9).any(|window| window == b"sol_log_\0"));
}

#[test]
fn hostile_bytes_give_errors_not_panics() {
    let mut builder = Builder::new(&[
        call(1, -1),
        Insn::LoadImm64 {
            dst: Reg::R1,
            imm: 8,
        },
        exit(),
    ]);
    builder.data = Some((".rodata", SHF_ALLOC, vec![7; 24]));
    builder.symbols.push(Symbol("sol_log_", 0, 0, STT_NOTYPE));
    builder.relocations = vec![(0, 2, 10), (8, 1, 1)];
    let object = builder.build();
    assert!(link(&object, Target::V3).is_ok());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut outcomes = [0usize; 2];
    for _ in 0..20_000 {
        let mut bytes = object.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
        }
        if next() % 8 == 0 {
            bytes.truncate((next() % bytes.len() as u64) as usize);
        }
        for target in [Target::V0, Target::V3] {
            outcomes[usize::from(link(&bytes, target).is_ok())] += 1;
        }
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}
