//! `bpfvm disasm --jit`: each BPF instruction followed by the x86-64 machine code the JIT
//! emits for it (its inline part; shared out-of-line stubs are not listed), disassembled with
//! iced-x86 in Intel syntax, with offsets into the compiled code; then the second copy of
//! each versioned loop (whose hoisted accesses the guard before the loop checked).

use crate::program_file;
use crate::{LoadOptions, Outcome};
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use std::fmt::Write;
use std::path::Path;

/// Machine code as Intel-syntax lines, each with its offset in the compiled code.
fn machine_code(bytes: &[u8], offset: usize) -> Vec<String> {
    let mut decoder = Decoder::with_ip(64, bytes, offset as u64, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    let mut lines = Vec::new();
    while decoder.can_decode() {
        let instruction = decoder.decode();
        let mut text = String::new();
        formatter.format(&instruction, &mut text);
        lines.push(format!("{:>8x}:  {text}", instruction.ip()));
    }
    lines
}

fn listing(path: &Path, options: &LoadOptions) -> Result<String, String> {
    let mut loaded = program_file::load(path, options, |_| {})?;
    loaded
        .program
        .jit_compile()
        .map_err(|e| format!("JIT compilation failed: {e}"))?;
    let program = &loaded.program;
    let jit = program.jit_program().ok_or("the JIT produced no code")?;
    let symbols = bpfvm_analysis::symbol_table(program.executable());
    let mut text = String::new();
    for (pc, insn) in program.decoded().iter().enumerate() {
        let Some(insn) = insn else { continue };
        let bpf = bpfvm_asm::format_insn(insn, pc, program.dialect(), &symbols);
        let _ = writeln!(text, "{pc:>6}: {bpf}");
        let offset = jit.pc_offsets().get(pc).copied().flatten().unwrap_or(0);
        for line in machine_code(jit.slot_code(pc).unwrap_or(&[]), offset) {
            let _ = writeln!(text, "        {line}");
        }
    }
    for versioned in jit.versioned_loops() {
        let (head, latch) = (versioned.head, versioned.latch);
        let _ = writeln!(
            text,
            "; slots {head}..={latch} again: the versioned loop's copy without the checks its guard (before slot {head}) made"
        );
        let bytes = jit.code().get(versioned.code.clone()).unwrap_or(&[]);
        for line in machine_code(bytes, versioned.code.start) {
            let _ = writeln!(text, "        {line}");
        }
    }
    let _ = writeln!(text, "; {} bytes of machine code in all", jit.code().len());
    Ok(text)
}

/// Runs `bpfvm disasm --jit`.
pub fn disasm_jit(path: &Path, options: &LoadOptions) -> Outcome {
    match listing(path, options) {
        Ok(text) => {
            crate::write_stdout(&text);
            Outcome::Success
        }
        Err(message) => Outcome::Unusable(message),
    }
}
