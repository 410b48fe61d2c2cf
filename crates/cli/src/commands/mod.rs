//! The commands other than `run`: verify, disasm, asm and info (`cfg`, `debug` and the
//! profile outputs of `run` have modules of their own).

pub mod bench;
pub mod cfg;
pub mod debug;
pub mod instruction;
pub mod jit_listing;
pub mod profile;
pub mod run;

use crate::program_file::{self, ProgramFile, ProgramKind};
use crate::{ConfigChoice, LoadOptions, Outcome};
use bpfvm::elf;
use std::path::Path;

/// `bpfvm verify`: load and verify, print a one-line verdict.
pub fn verify(path: &Path, options: &LoadOptions) -> Outcome {
    match program_file::load(path, options, |_| {}) {
        Ok(loaded) => {
            let executable = loaded.program.executable();
            println!(
                "ok: {} instructions, {} functions, entry at pc {}",
                loaded.program.decoded().iter().flatten().count(),
                executable.functions().len(),
                executable.entry_pc()
            );
            Outcome::Success
        }
        Err(message) => Outcome::Unusable(message),
    }
}

/// `bpfvm disasm`: the labelled listing of a loaded (not necessarily verifiable) program.
pub fn disasm(path: &Path, options: &LoadOptions) -> Outcome {
    let listing = || -> Result<String, String> {
        let file = ProgramFile::read(path)?;
        let (loader, dialect) = program_file::loader_for(&file, options, |config| {
            config.enable_symbol_and_section_labels = true;
        })?;
        let executable = program_file::executable(&file, loader, dialect)?;
        // Imports no registered syscall serves are named too.
        let mut symbols = bpfvm_analysis::symbol_table(&executable);
        for (key, name) in instruction::import_names(&file.bytes) {
            symbols.syscalls.entry(key).or_insert(name);
        }
        let analysis = bpfvm_analysis::Analysis::from_text(
            executable.text(),
            executable.dialect(),
            symbols,
            executable.entry_pc(),
        );
        Ok(analysis.disassemble())
    };
    match listing() {
        Ok(text) => {
            crate::write_stdout(&text);
            Outcome::Success
        }
        Err(message) => Outcome::Unusable(message),
    }
}

/// `bpfvm asm`: assemble a source file into raw bytecode loadable by `run`.
pub fn assemble(source: &Path, output: &Path, config: ConfigChoice) -> Outcome {
    let dialect = match config {
        ConfigChoice::Ebpf => bpfvm_isa::Dialect::Ebpf,
        ConfigChoice::Auto | ConfigChoice::Default | ConfigChoice::Legacy => {
            bpfvm_isa::Dialect::Sbpf
        }
    };
    let result = || -> Result<usize, String> {
        let text = std::fs::read_to_string(source)
            .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        let assembled =
            bpfvm_asm::assemble(&text, dialect).map_err(|e| format!("assembly: {e}"))?;
        let mut bytes = assembled.bytes;
        if dialect == bpfvm_isa::Dialect::Sbpf {
            program_file::relative_calls(&mut bytes);
        }
        std::fs::write(output, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
        Ok(bytes.len() / bpfvm_isa::SLOT_SIZE)
    };
    match result() {
        Ok(slots) => {
            println!("wrote {slots} slots to {}", output.display());
            Outcome::Success
        }
        Err(message) => Outcome::Unusable(message),
    }
}

/// `bpfvm info`: describe an ELF file.
pub fn info(path: &Path) -> Outcome {
    let describe = || -> Result<String, String> {
        let file = ProgramFile::read(path)?;
        if file.kind != ProgramKind::Elf {
            return Err(format!("{} is not an ELF file", path.display()));
        }
        let info = elf::describe(&file.bytes).map_err(|e| format!("cannot read ELF: {e}"))?;
        Ok(info.to_string())
    };
    match describe() {
        Ok(text) => {
            crate::write_stdout(&text);
            Outcome::Success
        }
        Err(message) => Outcome::Unusable(message),
    }
}
