//! The instruction trace, written while the program runs.
//!
//! One line per executed instruction, before it executes: a running index, the slot, the
//! instruction (formatted once per slot when the writer is made), and r0..r10:
//! `     3    17: ldxb r0, [r1+0x0]                 r0=0x0 r1=0x400000000 ...`. The text is the
//! same on both backends (a traced JIT run is interpreted). Lines go through a buffered
//! writer to stderr, a file or stdout, and nothing is kept per instruction. A write error
//! stops the trace; the run goes on, and the error is reported when it ends.

use crate::program_file::CliProgram;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Where the trace goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceTarget {
    /// Standard error.
    Stderr,
    /// Standard output (`--trace-file -`, text output only).
    Stdout,
    /// A file.
    File(std::path::PathBuf),
}

impl TraceTarget {
    /// The target's name in reports: the path, or `-` for a standard stream.
    pub fn name(&self) -> String {
        match self {
            TraceTarget::Stderr | TraceTarget::Stdout => "-".to_owned(),
            TraceTarget::File(path) => path.display().to_string(),
        }
    }
}

/// Writes the trace of one run.
pub struct TraceWriter {
    /// The text of the instruction starting at each slot (empty elsewhere).
    texts: Vec<String>,
    out: BufWriter<Box<dyn Write>>,
    target: TraceTarget,
    lines: u64,
    error: Option<io::Error>,
    /// The line being built, reused.
    line: Vec<u8>,
}

/// The instruction column's width.
const TEXT_WIDTH: usize = 32;

/// What precedes each register's value.
const REGISTERS: [&[u8]; 11] = [
    b" r0=", b" r1=", b" r2=", b" r3=", b" r4=", b" r5=", b" r6=", b" r7=", b" r8=", b" r9=",
    b" r10=",
];

/// Appends `value` in decimal, right-aligned in `width` columns (as `{value:>width$}`).
fn push_right_aligned(line: &mut Vec<u8>, value: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let len = digits.len() - start;
    line.resize(line.len() + width.saturating_sub(len), b' ');
    line.extend_from_slice(&digits[start..]);
}

/// Appends `value` as `{value:#x}` does.
fn push_hex(line: &mut Vec<u8>, value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    line.extend_from_slice(b"0x");
    let significant = (64 - value.leading_zeros()).max(1).div_ceil(4);
    for nibble in (0..significant).rev() {
        line.push(DIGITS[(value >> (4 * nibble) & 0xf) as usize]);
    }
}

impl TraceWriter {
    /// A writer to `target` for `program`.
    pub fn create(program: &CliProgram, target: TraceTarget) -> io::Result<Self> {
        let sink: Box<dyn Write> = match &target {
            TraceTarget::Stderr => Box::new(io::stderr()),
            TraceTarget::Stdout => Box::new(io::stdout()),
            TraceTarget::File(path) => Box::new(File::create(path)?),
        };
        let symbols = bpfvm_analysis::symbol_table(program.executable());
        let dialect = program.dialect();
        let texts = program
            .decoded()
            .iter()
            .enumerate()
            .map(|(pc, insn)| {
                insn.map(|insn| bpfvm_asm::format_insn(&insn, pc, dialect, &symbols))
                    .unwrap_or_default()
            })
            .collect();
        Ok(TraceWriter {
            texts,
            out: BufWriter::with_capacity(1 << 16, sink),
            target,
            lines: 0,
            error: None,
            line: Vec::with_capacity(256),
        })
    }

    /// Writes the line of one traced state (`[r0..r10, pc]`).
    pub fn line(&mut self, state: &[u64; 12]) {
        if self.error.is_some() {
            return;
        }
        let index = self.lines;
        self.lines += 1;
        if let Err(error) = self.write_line(index, state) {
            self.error = Some(error);
        }
    }

    fn write_line(&mut self, index: u64, state: &[u64; 12]) -> io::Result<()> {
        let pc = state[11];
        let text = usize::try_from(pc)
            .ok()
            .and_then(|pc| self.texts.get(pc))
            .map_or("", String::as_str);
        let line = &mut self.line;
        line.clear();
        push_right_aligned(line, index, 6);
        line.push(b' ');
        push_right_aligned(line, pc, 5);
        line.extend_from_slice(b": ");
        line.extend_from_slice(text.as_bytes());
        let width = text.chars().count();
        line.resize(line.len() + TEXT_WIDTH.saturating_sub(width), b' ');
        for (register, value) in state[..11].iter().enumerate() {
            line.extend_from_slice(REGISTERS[register]);
            push_hex(line, *value);
        }
        line.push(b'\n');
        self.out.write_all(line)
    }

    /// Flushes the trace; returns the lines written, or the first write error.
    pub fn finish(mut self) -> Result<(TraceTarget, u64), (TraceTarget, io::Error)> {
        let flushed = match self.error.take() {
            Some(error) => Err(error),
            None => self.out.flush(),
        };
        match flushed {
            Ok(()) => Ok((self.target, self.lines)),
            Err(error) => Err((self.target, error)),
        }
    }
}

/// The target the options select: the file (`-` is stdout), else stderr.
pub fn target(file: Option<&Path>) -> TraceTarget {
    match file {
        Some(path) if path.as_os_str() == "-" => TraceTarget::Stdout,
        Some(path) => TraceTarget::File(path.to_path_buf()),
        None => TraceTarget::Stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_as_the_standard_formatter_does() {
        for value in [
            0,
            1,
            9,
            10,
            0xf,
            0x10,
            12345,
            999_999,
            1_000_000,
            u64::MAX >> 1,
            u64::MAX,
        ] {
            let mut line = Vec::new();
            push_hex(&mut line, value);
            push_right_aligned(&mut line, value, 6);
            push_right_aligned(&mut line, value, 5);
            assert_eq!(
                String::from_utf8(line).ok(),
                Some(format!("{value:#x}{value:>6}{value:>5}"))
            );
        }
    }
}
