//! `bpfvm disasm`: a loaded (not necessarily verifiable) program's instructions.
//!
//! The default layout follows `llvm-objdump -d -r`: a function opens with its guest address
//! and `<name>:`, other blocks entered from elsewhere get the listing's `lbb_<pc>:` line, and
//! each instruction shows its slot, guest address and raw bytes (16 for an `lddw`) before
//! the instruction; a relocation the ELF file applies to an instruction follows it on a line
//! of its own, with its type and symbol. Imports are named from the ELF file's symbols even
//! when no registered syscall serves them. `--format listing` prints the reference's labelled
//! listing instead, which the assembler reads back.

use crate::args::{ListingFormat, LoadOptions};
use crate::failure::Failure;
use crate::hex;
use crate::program_file::{self, ProgramFile, ProgramKind};
use crate::schema::{
    DisasmLine, DisasmReport, FunctionEntry, Hex, InstructionRelocation, ProgramDescription, Report,
};
use bpfvm::elf::{self, ElfInfo};
use bpfvm_analysis::Analysis;
use bpfvm_isa::SLOT_SIZE;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Runs `bpfvm disasm`.
pub fn disasm(
    path: &Path,
    options: &LoadOptions,
    format: ListingFormat,
) -> Result<DisasmReport, Failure> {
    let file = ProgramFile::read(path)?;
    let setup = program_file::loader_for(&file, options, |config| {
        config.enable_symbol_and_section_labels = true;
    })?;
    let executable = program_file::executable(&file, &setup)?;
    let elf_info = match file.kind {
        ProgramKind::Elf => elf::describe(&file.bytes).ok(),
        ProgramKind::Raw | ProgramKind::Assembly => None,
    };
    let mut symbols = bpfvm_analysis::symbol_table(&executable);
    for (key, name) in crate::commands::instruction::import_names(&file.bytes) {
        symbols.syscalls.entry(key).or_insert(name);
    }
    let analysis = Analysis::from_text(
        executable.text(),
        executable.dialect(),
        symbols,
        executable.entry_pc(),
    );
    let mut relocations = elf_info.as_ref().map(relocations_by_pc).unwrap_or_default();
    let text_address = executable.text_vaddr();
    let instructions = lines(&analysis, executable.text(), text_address, &mut relocations);
    Ok(DisasmReport {
        program: setup.description,
        text_address: Hex(text_address),
        entry_pc: executable.entry_pc(),
        functions: analysis
            .functions()
            .values()
            .map(|f| FunctionEntry {
                pc: f.pc,
                name: f.label.clone(),
            })
            .collect(),
        instructions,
        listing: match format {
            ListingFormat::Listing => Some(analysis.disassemble()),
            ListingFormat::Objdump => None,
        },
    })
}

fn lines(
    analysis: &Analysis,
    text: &[u8],
    text_address: u64,
    relocations: &mut BTreeMap<usize, Vec<InstructionRelocation>>,
) -> Vec<DisasmLine> {
    let labels = analysis.label_lines();
    let decoded = analysis.instructions();
    let slots = text.len() / SLOT_SIZE;
    decoded
        .iter()
        .enumerate()
        .map(|(index, instruction)| {
            let pc = instruction.pc;
            let end = decoded.get(index + 1).map_or(slots, |next| next.pc);
            DisasmLine {
                pc,
                address: Hex(text_address.wrapping_add((pc * SLOT_SIZE) as u64)),
                bytes: hex::encode(text.get(pc * SLOT_SIZE..end * SLOT_SIZE).unwrap_or(&[])),
                label: labels.get(&pc).map(|label| (*label).to_owned()),
                function: analysis.functions().contains_key(&pc),
                text: analysis.format_instruction(instruction),
                relocations: (pc..end)
                    .flat_map(|slot| relocations.remove(&slot).unwrap_or_default())
                    .collect(),
            }
        })
        .collect()
}

/// The relocations an ELF file applies to its text, by slot: `.rel.dyn` entries hold
/// addresses inside `.text` (as `sh_addr` counts them), a relocatable object's `.rel.text`
/// entries offsets from its start. Other sections' relocations do not touch the text.
fn relocations_by_pc(info: &ElfInfo) -> BTreeMap<usize, Vec<InstructionRelocation>> {
    let mut by_pc: BTreeMap<usize, Vec<InstructionRelocation>> = BTreeMap::new();
    let Some(text) = info.sections.iter().find(|s| s.name == ".text") else {
        return by_pc;
    };
    for relocation in &info.relocations {
        let offset = match relocation.table.as_str() {
            ".rel.dyn" => relocation.offset.checked_sub(text.addr),
            ".rel.text" => Some(relocation.offset),
            _ => None,
        };
        let Some(offset) = offset.filter(|offset| *offset < text.size) else {
            continue;
        };
        let Ok(pc) = usize::try_from(offset / SLOT_SIZE as u64) else {
            continue;
        };
        by_pc.entry(pc).or_default().push(InstructionRelocation {
            offset: relocation.offset,
            kind: elf::relocation_name(relocation.kind),
            symbol: relocation.symbol.clone(),
        });
    }
    by_pc
}

fn header(program: &ProgramDescription) -> String {
    format!(
        "\n{}:\tfile format {} ({}; config {}; syscalls {})\n\nDisassembly of section .text:\n",
        program.path, program.kind, program.dialect, program.config, program.syscalls
    )
}

impl Report for DisasmReport {
    fn text(&self) -> String {
        if let Some(listing) = &self.listing {
            return listing.clone();
        }
        let mut text = header(&self.program);
        for line in &self.instructions {
            match (&line.label, line.function) {
                (Some(label), true) => {
                    let _ = write!(text, "\n{:016x} <{label}>:\n", line.address.0);
                }
                (Some(label), false) => {
                    let _ = writeln!(text, "{label}:");
                }
                (None, _) => {}
            }
            let bytes = hex_pairs(&line.bytes);
            let _ = writeln!(
                text,
                "{:>8} {:>9x}:  {bytes:<23}  {}",
                line.pc, line.address.0, line.text
            );
            for relocation in &line.relocations {
                let _ = writeln!(
                    text,
                    "\t\t\t{:016x}:  {}\t{}",
                    relocation.offset, relocation.kind, relocation.symbol
                );
            }
        }
        text
    }
}

/// `b7060000` as `b7 06 00 00`.
fn hex_pairs(digits: &str) -> String {
    let pairs: Vec<&str> = (0..digits.len() / 2)
        .filter_map(|i| digits.get(2 * i..2 * i + 2))
        .collect();
    pairs.join(" ")
}
