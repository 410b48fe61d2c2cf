//! One module per command; `verify`, the smallest, lives here.

pub mod asm;
pub mod bench;
pub mod cfg;
pub mod debug;
pub mod disasm;
pub mod info;
pub mod instruction;
pub mod jit_listing;
mod lenient_elf;
pub mod profile;
pub mod run;

use crate::args::LoadOptions;
use crate::failure::Failure;
use crate::program_file;
use crate::schema::{Report, VerifyReport};
use std::path::Path;

/// `bpfvm verify`: load and verify, report a one-line verdict.
pub fn verify(path: &Path, options: &LoadOptions) -> Result<VerifyReport, Failure> {
    let loaded = program_file::load(path, options, |_| {})?;
    let executable = loaded.program.executable();
    Ok(VerifyReport {
        instructions: loaded.program.decoded().iter().flatten().count(),
        functions: executable.functions().len(),
        unresolved_imports: loaded.unresolved.clone(),
        entry_pc: executable.entry_pc(),
        load_ns: u64::try_from(loaded.load_ns).unwrap_or(u64::MAX),
        program: loaded.description,
    })
}

impl Report for VerifyReport {
    fn warnings(&self) -> Vec<String> {
        crate::schema::unresolved_warnings(&self.unresolved_imports)
    }

    fn text(&self) -> String {
        format!(
            "ok: {} instructions, {} functions, entry at pc {}\n",
            self.instructions, self.functions, self.entry_pc
        )
    }
}
