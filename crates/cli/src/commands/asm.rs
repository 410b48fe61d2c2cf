//! `bpfvm asm`: assemble a source file into raw bytecode loadable by `run`.
//!
//! The source may come from standard input (`-`) and the bytecode may go to standard output
//! (`-o -`); with `--json` the bytes then travel as hex in the document, since stdout holds
//! the JSON. In sBPF, local calls are stored pc-relative as in an ELF `.text`.

use crate::args::{ConfigChoice, Format};
use crate::failure::Failure;
use crate::schema::{AsmReport, FunctionEntry, Report};
use crate::{hex, program_file, validate};
use bpfvm_isa::Dialect;
use std::io::Write;
use std::path::Path;

/// Runs `bpfvm asm`.
pub fn assemble(
    source: &Path,
    output: &Path,
    config: ConfigChoice,
    format: Format,
) -> Result<AsmReport, Failure> {
    let dialect = config
        .named()
        .map_or(Dialect::Sbpf, |preset| preset.dialect());
    let text = validate::read_limited(source, validate::MAX_PROGRAM, "the source")?;
    let assembled = program_file::assemble(&text, dialect)?;
    let mut bytes = assembled.bytes;
    if program_file::calls_are_absolute(dialect) {
        program_file::relative_calls(&mut bytes);
    }
    let mut report = AsmReport {
        dialect: program_file::dialect_name(dialect),
        slots: bytes.len() / bpfvm_isa::SLOT_SIZE,
        output: None,
        bytes: None,
        functions: assembled
            .functions
            .iter()
            .map(|f| FunctionEntry {
                pc: f.pc,
                name: f.name.clone(),
            })
            .collect(),
    };
    match (output.as_os_str() == "-", format) {
        (true, Format::Json) => report.bytes = Some(hex::encode(&bytes)),
        (true, Format::Text) => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&bytes)
                .and_then(|()| stdout.flush())
                .map_err(|e| Failure::write(output, &e))?;
        }
        (false, _) => {
            std::fs::write(output, &bytes).map_err(|e| Failure::write(output, &e))?;
            report.output = Some(output.display().to_string());
        }
    }
    Ok(report)
}

impl Report for AsmReport {
    fn text(&self) -> String {
        match &self.output {
            Some(output) => format!("wrote {} slots to {output}\n", self.slots),
            // The bytecode went to stdout: nothing may follow it there.
            None => String::new(),
        }
    }
}
