//! `bpfvm info`: a readelf for sBPF that reads any ELF file.
//!
//! The library's strict reader (`elf::describe`, the loader's view) describes the files the
//! loader reads; any other ELF file (a clang object with debug sections whose names the strict
//! reader refuses, a host binary, a damaged file) is described by the lenient reader
//! (`lenient_elf.rs`), with a line saying why the strict one refused it. Only a file whose ELF
//! header cannot be read at all fails.

use crate::commands::lenient_elf;
use crate::failure::Failure;
use crate::schema::{
    ElfFunction, ElfHeader, ElfImport, ElfRelocation, ElfSection, ElfSegment, Hex, InfoReport,
    Report,
};
use crate::validate;
use bpfvm::elf::{self, ElfInfo};
use std::path::Path;

/// Runs `bpfvm info`.
pub fn info(path: &Path) -> Result<InfoReport, Failure> {
    let bytes = validate::read_limited(path, validate::MAX_PROGRAM, "the file")?;
    if !bytes.starts_with(b"\x7fELF") {
        return Err(Failure::invalid_value(
            "FILE",
            format!("{} is not an ELF file", path.display()),
        ));
    }
    let (info, strict_error, notes) = match elf::describe(&bytes) {
        Ok(info) => (info, None, Vec::new()),
        Err(strict) => {
            // When even the lenient reader fails, the header is unreadable: the strict
            // reader's error names why.
            let lenient = lenient_elf::describe(&bytes).map_err(|_| Failure::Load {
                error: strict.clone(),
                program: None,
            })?;
            (lenient.info, Some(strict.to_string()), lenient.notes)
        }
    };
    let mut text = String::new();
    if let Some(error) = &strict_error {
        text.push_str(&format!(
            "note: the loader would refuse this file ({error}); described by the lenient reader\n"
        ));
    }
    for note in &notes {
        text.push_str(&format!("note: could not read {note}\n"));
    }
    text.push_str(&info.to_string());
    Ok(report(&info, strict_error, text))
}

fn report(info: &ElfInfo, strict_reader_error: Option<String>, text: String) -> InfoReport {
    InfoReport {
        header: ElfHeader {
            file_type: info.file_type,
            machine: info.machine,
            flags: info.flags,
            sbpf_version: info.sbpf_version().map(|version| version.to_string()),
            entry: Hex(info.entry),
            size: info.size,
        },
        sections: info
            .sections
            .iter()
            .map(|s| ElfSection {
                index: s.index,
                name: s.name.clone(),
                kind: s.kind,
                flags: s.flags,
                address: Hex(s.addr),
                offset: s.offset,
                size: s.size,
            })
            .collect(),
        segments: info
            .segments
            .iter()
            .map(|p| ElfSegment {
                kind: p.kind,
                flags: p.flags,
                offset: p.offset,
                vaddr: Hex(p.vaddr),
                file_size: p.file_size,
                mem_size: p.mem_size,
            })
            .collect(),
        relocations: info
            .relocations
            .iter()
            .map(|r| ElfRelocation {
                table: r.table.clone(),
                offset: r.offset,
                kind: elf::relocation_name(r.kind),
                symbol: r.symbol.clone(),
            })
            .collect(),
        functions: info
            .functions
            .iter()
            .map(|f| ElfFunction {
                name: f.name.clone(),
                address: Hex(f.address),
                size: f.size,
                binding: f.binding,
            })
            .collect(),
        imports: info
            .syscalls
            .iter()
            .map(|(name, key)| ElfImport {
                name: name.clone(),
                key: Hex(u64::from(*key)),
            })
            .collect(),
        strict_reader_error,
        text,
    }
}

impl Report for InfoReport {
    fn text(&self) -> String {
        self.text.clone()
    }
}
