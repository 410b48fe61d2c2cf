//! The bpf_conformance plugin protocol, as data: what the runner passes and what it expects.
//!
//! The runner starts the plugin once per test with the arguments
//! `[MEMORY] [OPTIONS...] [--elf]`: MEMORY is the test's input memory as hex bytes (the runner
//! separates them with spaces; absent when the test has none), the options are whatever the
//! runner's `--plugin_options` held, and `--elf` says that standard input holds an ELF
//! relocatable object (one program section and its function symbol) rather than raw
//! instructions. Standard input is that program as hex bytes, whitespace allowed anywhere
//! between bytes. The plugin prints r0 in hex on standard output and exits 0, or prints a
//! message on standard error and exits non-zero.

use clap::{Parser, ValueEnum};

/// One test, as the runner describes it on the command line.
#[derive(Parser, Debug, PartialEq, Eq)]
#[command(
    name = "bpfvm-conformance-plugin",
    version,
    about = "Runs one bpf_conformance test program on bpfvm (eBPF dialect).",
    long_about = "Runs one bpf_conformance test program on bpfvm in the eBPF dialect: the \
        program (raw instructions, or with --elf an ELF object) as hex on standard input, the \
        input memory as hex in the first argument; prints r0 in hex. r1 holds the memory's \
        address (mapped writable), r2 its length; helpers 0-5 are the bpf_conformance set \
        (5 is unwind)."
)]
pub struct Request {
    /// The input memory as hex bytes (spaces allowed).
    pub memory: Option<String>,
    /// Standard input is an ELF object rather than raw instructions.
    #[arg(long)]
    pub elf: bool,
    /// The backend that runs the program.
    #[arg(long, value_enum, default_value = "interpreter")]
    pub backend: BackendChoice,
    /// The instruction budget.
    #[arg(long, default_value_t = 10_000_000)]
    pub budget: u64,
}

/// The backends a run can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// The interpreter.
    Interpreter,
    /// The x86-64 JIT.
    Jit,
}

/// How the program arrives on standard input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramFormat {
    /// Raw 8-byte instruction slots.
    Raw,
    /// An ELF relocatable object.
    Elf,
}

impl Request {
    /// The format of the program on standard input.
    pub fn format(&self) -> ProgramFormat {
        match self.elf {
            true => ProgramFormat::Elf,
            false => ProgramFormat::Raw,
        }
    }
}

/// Bytes written as hex, whitespace allowed between bytes (`"0a  0b "`, `"0a0b"`).
pub fn decode_hex(text: &str) -> Result<Vec<u8>, hex::FromHexError> {
    let digits: String = text.split_whitespace().collect();
    hex::decode(digits)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(args: &[&str]) -> Result<Request, clap::Error> {
        Request::try_parse_from(std::iter::once("plugin").chain(args.iter().copied()))
    }

    #[test]
    fn arguments_in_the_runner_order() {
        let request = parse(&["00  01  ff  ", "--backend", "jit", "--elf"]).unwrap();
        assert_eq!(request.memory.as_deref(), Some("00  01  ff  "));
        assert_eq!(request.format(), ProgramFormat::Elf);
        assert_eq!(request.backend, BackendChoice::Jit);
        let bare = parse(&[]).unwrap();
        assert_eq!(
            (bare.format(), bare.backend, bare.budget, bare.memory),
            (
                ProgramFormat::Raw,
                BackendChoice::Interpreter,
                10_000_000,
                None
            )
        );
        assert_eq!(parse(&["--elf"]).unwrap().memory, None);
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--backend", "gpu"]).is_err());
    }

    #[test]
    fn hex_with_the_runner_spacing() {
        assert_eq!(decode_hex("b7  00  00 ").unwrap(), [0xb7, 0, 0]);
        assert_eq!(decode_hex("0a0B\n").unwrap(), [0x0a, 0x0b]);
        assert_eq!(decode_hex("").unwrap(), [] as [u8; 0]);
        assert!(decode_hex("0").is_err());
        assert!(decode_hex("zz").is_err());
    }
}
