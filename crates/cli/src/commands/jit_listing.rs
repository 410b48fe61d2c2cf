//! `bpfvm disasm --jit`: each BPF instruction followed by the x86-64 machine code the JIT
//! emits for it (its inline part; shared out-of-line stubs are not listed), disassembled with
//! iced-x86 in Intel syntax, with offsets into the compiled code; then the second copy of
//! each versioned loop (whose hoisted accesses the guard before the loop checked).

use crate::args::LoadOptions;
use crate::failure::Failure;
use crate::program_file;
use crate::schema::{JitLine, JitListingReport, MachineInstruction, Report, VersionedLoop};
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use std::fmt::Write;
use std::path::Path;

/// Machine code as Intel-syntax instructions, each with its offset in the compiled code.
fn machine_code(bytes: &[u8], offset: usize) -> Vec<MachineInstruction> {
    let mut decoder = Decoder::with_ip(64, bytes, offset as u64, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    let mut lines = Vec::new();
    while decoder.can_decode() {
        let instruction = decoder.decode();
        let mut text = String::new();
        formatter.format(&instruction, &mut text);
        lines.push(MachineInstruction {
            offset: usize::try_from(instruction.ip()).unwrap_or(usize::MAX),
            text,
        });
    }
    lines
}

/// Runs `bpfvm disasm --jit`.
pub fn disasm_jit(path: &Path, options: &LoadOptions) -> Result<JitListingReport, Failure> {
    let mut loaded = program_file::load(path, options, |_| {})?;
    loaded
        .program
        .jit_compile()
        .map_err(|error| Failure::Compile { error })?;
    let program = &loaded.program;
    let Some(jit) = program.jit_program() else {
        return Ok(JitListingReport {
            program: loaded.description.clone(),
            instructions: Vec::new(),
            versioned_loops: Vec::new(),
            code_bytes: 0,
        });
    };
    let symbols = bpfvm_analysis::symbol_table(program.executable());
    let mut instructions = Vec::new();
    for (pc, insn) in program.decoded().iter().enumerate() {
        let Some(insn) = insn else { continue };
        let offset = jit.pc_offsets().get(pc).copied().flatten().unwrap_or(0);
        instructions.push(JitLine {
            pc,
            text: bpfvm_asm::format_insn(insn, pc, program.dialect(), &symbols),
            x86: machine_code(jit.slot_code(pc).unwrap_or(&[]), offset),
        });
    }
    let versioned_loops = jit
        .versioned_loops()
        .iter()
        .map(|versioned| VersionedLoop {
            head: versioned.head,
            latch: versioned.latch,
            x86: machine_code(
                jit.code().get(versioned.code.clone()).unwrap_or(&[]),
                versioned.code.start,
            ),
        })
        .collect();
    Ok(JitListingReport {
        program: loaded.description.clone(),
        instructions,
        versioned_loops,
        code_bytes: jit.code().len(),
    })
}

impl Report for JitListingReport {
    fn text(&self) -> String {
        let mut text = String::new();
        let machine = |text: &mut String, code: &[MachineInstruction]| {
            for line in code {
                let _ = writeln!(text, "        {:>8x}:  {}", line.offset, line.text);
            }
        };
        for line in &self.instructions {
            let _ = writeln!(text, "{:>6}: {}", line.pc, line.text);
            machine(&mut text, &line.x86);
        }
        for versioned in &self.versioned_loops {
            let (head, latch) = (versioned.head, versioned.latch);
            let _ = writeln!(
                text,
                "; slots {head}..={latch} again: the versioned loop's copy without the checks its guard (before slot {head}) made"
            );
            machine(&mut text, &versioned.x86);
        }
        let _ = writeln!(text, "; {} bytes of machine code in all", self.code_bytes);
        text
    }
}
