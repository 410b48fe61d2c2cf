//! The command line's grammar: every command, option and default, as clap parses them.
//!
//! The flags are a fixed contract (scripts call them): options are added, never renamed.
//! Limits that depend on the program (the heap of a Solana program, the default budget) are
//! stated in the help texts here and checked by `validate.rs` once the program is known.
//! `--json` is global: it may come anywhere on the line, and it turns every outcome, usage
//! errors included, into one JSON document on stdout.

use crate::commands::instruction::InstructionOptions;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// A virtual machine for sBPF and eBPF programs.
#[derive(Parser)]
#[command(name = "bpfvm", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Print one JSON document on stdout for every outcome, errors and bad usage included
    /// (schemas in the README).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The exit codes, as `--help` states them.
const EXIT_CODES: &str = "Exit codes: 0 success (the program returned Ok), 1 the program raised \
an error, 2 bad usage, a file that cannot be read or written, or a program that does not \
assemble, load or verify.";

/// How outcomes are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Text for people.
    Text,
    /// One JSON document on stdout.
    Json,
}

impl Cli {
    /// The output format the flags select.
    pub fn format(&self) -> Format {
        match self.json {
            true => Format::Json,
            false => Format::Text,
        }
    }
}

/// Which preset to load a program with.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ConfigChoice {
    /// From the file: a clang object (ET_REL, EM_BPF, e_flags 0) that needs eBPF (an
    /// instruction sBPF reads or computes differently, such as JMP32 or ALU32 from
    /// -mcpu=v3; a helper call by number; writable .data/.bss) selects `ebpf`; other ELFs
    /// select the SBPF version their e_flags name (0-4: v0-v4; any other value is refused
    /// as solana-sbpf 0.26 refuses it); raw and assembly programs use `default`.
    Auto,
    /// The reference's default configuration of 2022 (solana_rbpf 0.2.38; SBFv2 ELFs).
    Default,
    /// The configuration of the sBPF v1 programs deployed in 2022 (solana_rbpf 0.2.38).
    Legacy,
    /// Standard eBPF (RFC 9669).
    Ebpf,
    /// SBPF V0 as solana-sbpf 0.26 runs it, with Agave's settings.
    V0,
    /// SBPF V1 (dynamic stack frames) as solana-sbpf 0.26 runs it.
    V1,
    /// SBPF V2 (PQR, moved memory classes, hor64) as solana-sbpf 0.26 runs it.
    V2,
    /// SBPF V3 (JMP32, static syscalls, strict ELF) as solana-sbpf 0.26 runs it.
    V3,
    /// SBPF V4 (V3 with the aligned mapping; enabled on no cluster) as solana-sbpf 0.26 runs
    /// it.
    V4,
}

impl ConfigChoice {
    /// The profile this choice names, or `None` for `auto` (which reads the file).
    pub fn named(self) -> Option<bpfvm::Preset> {
        use bpfvm::{Preset, SbpfVersion};
        Some(match self {
            ConfigChoice::Auto => return None,
            ConfigChoice::Default => Preset::Default,
            ConfigChoice::Legacy => Preset::Legacy,
            ConfigChoice::Ebpf => Preset::Ebpf,
            ConfigChoice::V0 => Preset::Sbpf26(SbpfVersion::V0),
            ConfigChoice::V1 => Preset::Sbpf26(SbpfVersion::V1),
            ConfigChoice::V2 => Preset::Sbpf26(SbpfVersion::V2),
            ConfigChoice::V3 => Preset::Sbpf26(SbpfVersion::V3),
            ConfigChoice::V4 => Preset::Sbpf26(SbpfVersion::V4),
        })
    }
}

/// Which syscalls to register.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SyscallChoice {
    /// The Solana set (the default for ELF files).
    Solana,
    /// The reference's demonstration syscalls (log, log_64, gather_bytes, ...).
    Demo,
    /// eBPF helpers by number, the set of bpf_conformance plugins: 0 gather_bytes,
    /// 1 memfrob, 2 no_op, 3 sqrti, 4 strcmp_ext, 5 unwind (the default for eBPF).
    Helpers,
    /// No syscalls.
    None,
}

/// Whether syscalls charge compute units.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CostsChoice {
    /// The Solana runtime's costs (bpfvm::syscalls::cost).
    Solana,
    /// Nothing beyond the call instruction.
    Free,
}

/// Which backend executes the program.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BackendChoice {
    /// The interpreter.
    Interpreter,
    /// The x86-64 JIT compiler.
    Jit,
}

/// How `disasm` prints a program.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ListingFormat {
    /// As `llvm-objdump -d`: slot, guest address and raw bytes before each instruction,
    /// function and block labels, relocations and import names below their instruction.
    Objdump,
    /// The reference's labelled listing, which the assembler reads back.
    Listing,
}

/// Options shared by every command that loads a program.
#[derive(clap::Args, Clone, Debug)]
pub struct LoadOptions {
    /// The configuration preset.
    #[arg(long, value_enum, default_value = "auto")]
    pub config: ConfigChoice,
    /// The syscalls to register (default: helpers in eBPF; solana for sBPF ELF files, demo
    /// otherwise).
    #[arg(long, value_enum)]
    pub syscalls: Option<SyscallChoice>,
}

/// Options of `bpfvm run` (and `bpfvm debug`).
#[derive(clap::Args, Clone, Debug)]
pub struct RunOptions {
    /// The program: `.bin` (raw bytecode), `.s`/`.asm` (assembly), `.so`/`.o` (ELF), at
    /// most 64 MiB; `-` reads it from standard input (told apart by content).
    pub program: PathBuf,
    /// How to load it.
    #[command(flatten)]
    pub load: LoadOptions,
    /// A file whose bytes are mapped writable at the input address (0x4_0000_0000), at most
    /// 1 GiB and the memory available; `-` reads standard input.
    #[arg(long, conflicts_with_all = ["input_hex", "instruction_data"])]
    pub input: Option<PathBuf>,
    /// The input bytes as hex.
    #[arg(long, conflicts_with = "instruction_data")]
    pub input_hex: Option<String>,
    /// Solana instruction data as hex: the input becomes the loader's serialization of it
    /// with no accounts and a zero program id.
    #[arg(long)]
    pub instruction_data: Option<String>,
    /// Heap size in bytes. Solana programs: 32768 to 262144 (256 KiB), a multiple of 1024,
    /// as the runtime's heap frames; other programs: at most 1 GiB and the memory available.
    #[arg(long, value_name = "BYTES", default_value_t = 32 * 1024, allow_negative_numbers = true)]
    pub heap: u64,
    /// Compute-unit budget: instructions plus syscall costs (0 to 2^64-1). Default:
    /// 1,400,000 for Solana programs (the transaction maximum; an instruction with accounts
    /// gets --compute-unit-limit, the runtime's 200,000), 100,000,000 for eBPF, raw and
    /// assembly programs.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub budget: Option<u64>,
    /// The backend.
    #[arg(long, value_enum, default_value = "interpreter")]
    pub backend: BackendChoice,
    /// Print every executed instruction with the registers to stderr, as it runs.
    #[arg(long)]
    pub trace: bool,
    /// Write the trace to this file instead of stderr (turns tracing on).
    #[arg(long, value_name = "FILE")]
    pub trace_file: Option<PathBuf>,
    /// Run the program this many times (1 to 100,000) and report the median run time.
    #[arg(
        long,
        value_name = "K",
        default_value_t = 1,
        allow_negative_numbers = true
    )]
    pub repeat: u64,
    /// Add the input region's bytes after the run to the output.
    #[arg(long)]
    pub dump_input: bool,
    /// Whether syscalls charge the Solana runtime's compute costs (`free` reproduces the
    /// reference's recorded runs, whose syscalls charged nothing).
    #[arg(long, value_enum, default_value = "solana")]
    pub syscall_costs: CostsChoice,
    /// Write the CFG with edge hit counts (Graphviz DOT) to this file and print the
    /// per-function instruction table (profiles while the program runs).
    #[arg(long, value_name = "FILE.dot")]
    pub profile: Option<PathBuf>,
    /// Write the stacks of BPF functions weighted by instructions, in the folded format of
    /// inferno and flamegraph.pl, to this file (profiles while the program runs).
    #[arg(long, value_name = "FILE")]
    pub profile_folded: Option<PathBuf>,
    /// A Solana instruction with accounts (see `commands::instruction`).
    #[command(flatten, next_help_heading = "Solana instruction")]
    pub instruction: InstructionOptions,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Load, verify and run a program.
    Run(RunOptions),
    /// Run a program under a GDB remote-serial-protocol server on 127.0.0.1.
    Debug {
        /// The program and its run options, as for `run`.
        #[command(flatten)]
        run: RunOptions,
        /// The TCP port to listen on (0 to 65535; 0 picks a free one).
        #[arg(long, allow_negative_numbers = true)]
        port: u16,
    },
    /// Load and verify a program.
    Verify {
        /// The program file (`-`: standard input).
        program: PathBuf,
        /// How to load it.
        #[command(flatten)]
        load: LoadOptions,
    },
    /// Print a program's instructions.
    Disasm {
        /// The program file (`-`: standard input).
        program: PathBuf,
        /// How to load it.
        #[command(flatten)]
        load: LoadOptions,
        /// The layout of the listing.
        #[arg(long, value_enum, default_value = "objdump", conflicts_with = "jit")]
        format: ListingFormat,
        /// Show the x86-64 machine code the JIT emits beside each instruction.
        #[arg(long)]
        jit: bool,
    },
    /// Write a program's control-flow graph as Graphviz DOT: one cluster per function.
    Cfg {
        /// The program file (`-`: standard input).
        program: PathBuf,
        /// How to load it.
        #[command(flatten)]
        load: LoadOptions,
        /// Where to write the DOT text (`-`: standard output).
        #[arg(short, long, default_value = "cfg.dot")]
        output: PathBuf,
        /// Also render it to SVG (the output path with `.svg`) with Graphviz's `dot`.
        #[arg(long)]
        svg: bool,
    },
    /// Assemble a source file into raw bytecode.
    Asm {
        /// The assembly source (`-`: standard input).
        source: PathBuf,
        /// Where to write the bytecode (`-`: standard output).
        #[arg(short, long)]
        output: PathBuf,
        /// `ebpf` selects the bpf_conformance syntax; anything else the reference's.
        #[arg(long, value_enum, default_value = "default")]
        config: ConfigChoice,
    },
    /// Run the benchmark programs on the interpreter and the JIT and print a table.
    Bench {
        /// Runs per program and backend (1 to 10,000); the table shows the median.
        #[arg(long, default_value_t = 11, allow_negative_numbers = true)]
        iterations: u64,
    },
    /// Describe an ELF file: sections, segments, relocations, functions, syscalls.
    Info {
        /// The ELF file (`-`: standard input).
        file: PathBuf,
    },
}

/// Every command's name, as typed.
pub const COMMAND_NAMES: [&str; 8] = [
    "run", "debug", "verify", "disasm", "cfg", "asm", "bench", "info",
];

impl Command {
    /// The command's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Run(_) => "run",
            Command::Debug { .. } => "debug",
            Command::Verify { .. } => "verify",
            Command::Disasm { .. } => "disasm",
            Command::Cfg { .. } => "cfg",
            Command::Asm { .. } => "asm",
            Command::Bench { .. } => "bench",
            Command::Info { .. } => "info",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_is_named() {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|command| command.get_name().to_owned())
            .collect();
        assert_eq!(names, COMMAND_NAMES);
    }
}
