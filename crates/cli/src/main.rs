//! `bpfvm`: run, verify, disassemble, assemble and inspect BPF programs from the command line.
//!
//! This file owns the command-line interface (its flags are a fixed contract: other tools call
//! them) and the mapping from outcomes to exit codes: 0 when the program returned `Ok`, 1
//! when it raised an error, 2 for bad usage or a program that does not load or verify (with a
//! one-line message on stderr). The work of each command lives in its own module.

mod commands;
mod json;
mod program_file;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// A virtual machine for sBPF and eBPF programs.
#[derive(Parser)]
#[command(name = "bpfvm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which preset to load a program with.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ConfigChoice {
    /// From the file: a clang object (ET_REL, EM_BPF, e_flags 0) that needs eBPF (an
    /// instruction sBPF reads or computes differently, such as JMP32 or ALU32 from
    /// -mcpu=v3; a helper call by number; writable .data/.bss) selects `ebpf`; other ELFs
    /// select `default` when e_flags is 0x20 and `legacy` otherwise; raw and assembly
    /// programs use `default`.
    Auto,
    /// The reference's default configuration (sBPF, SBFv2 ELFs).
    Default,
    /// The configuration of the deployed sBPF v1 programs.
    Legacy,
    /// Standard eBPF (RFC 9669).
    Ebpf,
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

/// Options of `bpfvm run`.
#[derive(clap::Args, Clone, Debug)]
pub struct RunOptions {
    /// The program: `.bin` (raw bytecode), `.s`/`.asm` (assembly), `.so`/`.o` (ELF).
    pub program: PathBuf,
    /// How to load it.
    #[command(flatten)]
    pub load: LoadOptions,
    /// A file whose bytes are mapped writable at the input address (0x4_0000_0000).
    #[arg(long, conflicts_with_all = ["input_hex", "instruction_data"])]
    pub input: Option<PathBuf>,
    /// The input bytes as hex.
    #[arg(long, conflicts_with = "instruction_data")]
    pub input_hex: Option<String>,
    /// Solana instruction data as hex: the input becomes the loader's serialization of it
    /// with no accounts and a zero program id.
    #[arg(long)]
    pub instruction_data: Option<String>,
    /// Heap size in bytes.
    #[arg(long, default_value_t = 32 * 1024)]
    pub heap: usize,
    /// Compute-unit budget: instructions plus syscall costs.
    #[arg(long, default_value_t = i64::MAX as u64)]
    pub budget: u64,
    /// The backend.
    #[arg(long, value_enum, default_value = "interpreter")]
    pub backend: BackendChoice,
    /// Print every executed instruction with the registers.
    #[arg(long)]
    pub trace: bool,
    /// Run the program this many times and report the median run time.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Print one line of JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Add the input region's bytes after the run to the output.
    #[arg(long)]
    pub dump_input: bool,
    /// Whether syscalls charge the Solana runtime's compute costs (`free` reproduces the
    /// reference's recorded runs, whose syscalls charged nothing).
    #[arg(long, value_enum, default_value = "solana")]
    pub syscall_costs: CostsChoice,
    /// Write the CFG with edge hit counts (Graphviz DOT) to this file and print the
    /// per-function instruction table (turns tracing on).
    #[arg(long, value_name = "FILE.dot")]
    pub profile: Option<PathBuf>,
    /// Write the stacks of BPF functions weighted by instructions, in the folded format of
    /// inferno and flamegraph.pl, to this file (turns tracing on).
    #[arg(long, value_name = "FILE")]
    pub profile_folded: Option<PathBuf>,
    /// A Solana instruction with accounts (see `commands::instruction`).
    #[command(flatten, next_help_heading = "Solana instruction")]
    pub instruction: commands::instruction::InstructionOptions,
}

#[derive(Subcommand)]
enum Command {
    /// Load, verify and run a program.
    Run(RunOptions),
    /// Run a program under a GDB remote-serial-protocol server on 127.0.0.1.
    Debug {
        /// The program and its run options, as for `run`.
        #[command(flatten)]
        run: RunOptions,
        /// The TCP port to listen on (0 picks a free one).
        #[arg(long)]
        port: u16,
    },
    /// Load and verify a program.
    Verify {
        /// The program file.
        program: PathBuf,
        #[command(flatten)]
        load: LoadOptions,
    },
    /// Print a program's instructions.
    Disasm {
        /// The program file.
        program: PathBuf,
        #[command(flatten)]
        load: LoadOptions,
        /// Show the x86-64 machine code the JIT emits beside each instruction.
        #[arg(long)]
        jit: bool,
    },
    /// Write a program's control-flow graph as Graphviz DOT: one cluster per function.
    Cfg {
        /// The program file.
        program: PathBuf,
        #[command(flatten)]
        load: LoadOptions,
        /// Where to write the DOT text.
        #[arg(short, long, default_value = "cfg.dot")]
        output: PathBuf,
        /// Also render it to SVG (the output path with `.svg`) with Graphviz's `dot`.
        #[arg(long)]
        svg: bool,
    },
    /// Assemble a source file into raw bytecode.
    Asm {
        /// The assembly source.
        source: PathBuf,
        /// Where to write the bytecode.
        #[arg(short, long)]
        output: PathBuf,
        /// `ebpf` selects the bpf_conformance syntax; anything else the reference's.
        #[arg(long, value_enum, default_value = "default")]
        config: ConfigChoice,
    },
    /// Run the benchmark programs on the interpreter and the JIT and print a table.
    Bench {
        /// Runs per program and backend; the table shows the median.
        #[arg(long, default_value_t = 11)]
        iterations: u32,
    },
    /// Describe an ELF file: sections, segments, relocations, functions, syscalls.
    Info {
        /// The ELF file.
        file: PathBuf,
    },
}

/// Writes to standard output, stopping quietly when the reader has gone away (`| head`).
pub fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// How a command ended, mapped onto the exit code.
pub enum Outcome {
    /// The program returned `Ok` (or the command succeeded).
    Success,
    /// The program raised an error.
    ProgramError,
    /// Bad usage, or a program that does not load or verify.
    Unusable(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(options) => commands::run::run(&options),
        Command::Debug { run, port } => commands::debug::debug(&run, port),
        Command::Verify { program, load } => commands::verify(&program, &load),
        Command::Disasm { program, load, jit } => match jit {
            true => commands::jit_listing::disasm_jit(&program, &load),
            false => commands::disasm(&program, &load),
        },
        Command::Cfg {
            program,
            load,
            output,
            svg,
        } => commands::cfg::cfg(&program, &load, &output, svg),
        Command::Asm {
            source,
            output,
            config,
        } => commands::assemble(&source, &output, config),
        Command::Bench { iterations } => commands::bench::bench(iterations),
        Command::Info { file } => commands::info(&file),
    };
    match outcome {
        Outcome::Success => ExitCode::SUCCESS,
        Outcome::ProgramError => ExitCode::from(1),
        Outcome::Unusable(message) => {
            eprintln!("bpfvm: {message}");
            ExitCode::from(2)
        }
    }
}
