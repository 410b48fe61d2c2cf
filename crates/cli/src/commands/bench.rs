//! `bpfvm bench`: runs a fixed set of benchmark programs on the interpreter and the JIT and
//! prints a table: instructions per run, time per run (median), instructions per second,
//! load and compile time.
//!
//! The programs are the reference's own benchmarks (reference §16, as assembly under
//! `examples/bench/`) plus the prime sieve of `examples/c/primes.o`. Every run's instruction
//! count and result are checked to be the same on both backends, so the table never compares
//! unequal work. For side-by-side comparisons with the reference, use `cargo bench`.

use crate::context::CliContext;
use crate::failure::Failure;
use crate::program_file::{self, CliProgram, ProgramFile, ProgramKind, Runtime, Setup};
use crate::schema::{BenchReport, BenchRow, ProgramDescription, Report};
use crate::validate;
use bpfvm::{
    verify, Backend, Config, Loader, MemoryRegion, Run, SyscallRegistry, Vm, MM_INPUT_START,
};
use bpfvm_isa::Dialect;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

/// How a benchmark program lays out its stack.
#[derive(Clone, Copy)]
enum Frames {
    Dynamic,
    Fixed,
}

struct Program {
    name: &'static str,
    kind: ProgramKind,
    bytes: &'static [u8],
    frames: Frames,
    input: fn() -> Vec<u8>,
}

fn no_input() -> Vec<u8> {
    Vec::new()
}

fn translation_input() -> Vec<u8> {
    vec![0; 0x20000]
}

fn primes_input() -> Vec<u8> {
    2048u64.to_le_bytes().to_vec()
}

const PROGRAMS: [Program; 7] = [
    Program {
        name: "empty_for_loop",
        kind: ProgramKind::Assembly,
        bytes: include_bytes!("../../../../examples/bench/empty_for_loop.s"),
        frames: Frames::Dynamic,
        input: no_input,
    },
    Program {
        name: "address_translation",
        kind: ProgramKind::Assembly,
        bytes: include_bytes!("../../../../examples/bench/address_translation.s"),
        frames: Frames::Dynamic,
        input: translation_input,
    },
    Program {
        name: "stack_translation_fixed",
        kind: ProgramKind::Assembly,
        bytes: include_bytes!("../../../../examples/bench/stack_translation.s"),
        frames: Frames::Fixed,
        input: no_input,
    },
    Program {
        name: "stack_translation_dynamic",
        kind: ProgramKind::Assembly,
        bytes: include_bytes!("../../../../examples/bench/stack_translation.s"),
        frames: Frames::Dynamic,
        input: no_input,
    },
    Program {
        name: "call_depth_fixed",
        kind: ProgramKind::Assembly,
        bytes: include_bytes!("../../../../examples/bench/call_depth_fixed.s"),
        frames: Frames::Fixed,
        input: no_input,
    },
    Program {
        name: "call_depth_dynamic",
        kind: ProgramKind::Assembly,
        bytes: include_bytes!("../../../../examples/bench/call_depth_dynamic.s"),
        frames: Frames::Dynamic,
        input: no_input,
    },
    Program {
        name: "primes_c (2048)",
        kind: ProgramKind::Elf,
        bytes: include_bytes!("../../../../examples/c/primes.o"),
        frames: Frames::Fixed,
        input: primes_input,
    },
];

/// One backend's measurements of one program.
struct Measured {
    run: Run,
    median_ns: u128,
}

/// A benchmark failure: the benchmarks are built in, so any failure is a bug, reported as a
/// failed tool.
fn broken(message: String) -> Failure {
    Failure::Tool {
        tool: "bench",
        message,
    }
}

fn load(program: &Program) -> Result<(CliProgram, u128, u128), Failure> {
    let config = Config {
        dynamic_stack_frames: matches!(program.frames, Frames::Dynamic),
        ..match program.kind {
            ProgramKind::Elf => Config::legacy(),
            ProgramKind::Assembly | ProgramKind::Raw => Config::default(),
        }
    };
    let file = ProgramFile {
        path: program.name.to_owned(),
        bytes: program.bytes.to_vec(),
        kind: program.kind,
    };
    let setup = Setup {
        loader: Arc::new(Loader::with_syscalls(config, SyscallRegistry::new())),
        dialect: Dialect::Sbpf,
        description: ProgramDescription {
            path: program.name.to_owned(),
            kind: "builtin",
            config: "custom",
            dialect: "sbpf",
            syscalls: "none",
        },
        runtime: Runtime::Unmetered,
    };
    let start = Instant::now();
    let executable = program_file::executable(&file, &setup)?;
    let mut verified = verify(executable).map_err(|error| Failure::Verify {
        error,
        program: Box::new(setup.description.clone()),
    })?;
    let load_ns = start.elapsed().as_nanos();
    let start = Instant::now();
    verified
        .jit_compile()
        .map_err(|error| Failure::Compile { error })?;
    Ok((verified, load_ns, start.elapsed().as_nanos()))
}

fn measure(
    verified: &CliProgram,
    input: &[u8],
    backend: Backend,
    iterations: usize,
) -> Result<Measured, Failure> {
    let mut times = Vec::with_capacity(iterations);
    let mut last = None;
    for _ in 0..iterations {
        let mut memory = input.to_vec();
        let mut heap = Vec::new();
        let mut context = CliContext::new(u64::MAX >> 1, 0);
        let regions = vec![MemoryRegion::writable(&mut memory, MM_INPUT_START)];
        let mut vm = Vm::new(verified, &mut context, &mut heap, regions)
            .map_err(|error| Failure::Setup { error })?;
        let start = Instant::now();
        let run = vm.run(backend);
        times.push(start.elapsed().as_nanos());
        last = Some(run);
    }
    times.sort_unstable();
    let run = last.ok_or_else(|| broken("no iterations".to_owned()))?;
    Ok(Measured {
        run,
        median_ns: times.get(times.len() / 2).copied().unwrap_or(0),
    })
}

fn progress(step: usize, total: usize, name: &str) {
    if std::io::stderr().is_terminal() {
        let width = 30;
        let done = width * step / total.max(1);
        eprint!(
            "\r[{}{}] {step}/{total} {name:<28}",
            "#".repeat(done),
            " ".repeat(width - done)
        );
    }
}

fn per_second(instructions: u64, nanos: u64) -> f64 {
    // Display only: the figure never feeds back into execution.
    instructions as f64 * 1e3 / nanos.max(1) as f64
}

fn table(rows: &[BenchRow]) -> String {
    let mut text = format!(
        "{:<26} {:>9} {:>12} {:>10} {:>12} {:>10} {:>8} {:>9} {:>10}\n",
        "program",
        "insns",
        "interp us",
        "interp M/s",
        "jit us",
        "jit M/s",
        "jit x",
        "load us",
        "compile us"
    );
    for row in rows {
        let count = row.instructions;
        text.push_str(&format!(
            "{:<26} {:>9} {:>12.1} {:>10.0} {:>12.1} {:>10.0} {:>8.2} {:>9.1} {:>10.1}\n",
            row.name,
            count,
            row.interpreter_ns as f64 / 1e3,
            per_second(count, row.interpreter_ns),
            row.jit_ns as f64 / 1e3,
            per_second(count, row.jit_ns),
            row.interpreter_ns as f64 / row.jit_ns.max(1) as f64,
            row.load_ns as f64 / 1e3,
            row.compile_ns as f64 / 1e3,
        ));
    }
    text
}

fn nanos(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

fn bench_one(program: &Program, iterations: usize) -> Result<BenchRow, Failure> {
    let (verified, load_ns, compile_ns) = load(program)?;
    let input = (program.input)();
    let interpreter = measure(&verified, &input, Backend::Interpreter, iterations)?;
    let jit = measure(&verified, &input, Backend::Jit, iterations)?;
    if interpreter.run.result != jit.run.result
        || interpreter.run.instruction_count != jit.run.instruction_count
    {
        return Err(broken(format!(
            "{}: the backends disagree ({:?} / {:?})",
            program.name, interpreter.run.result, jit.run.result
        )));
    }
    if let Err(error) = &interpreter.run.result {
        return Err(broken(format!(
            "{}: the program failed: {error}",
            program.name
        )));
    }
    Ok(BenchRow {
        name: program.name,
        instructions: interpreter.run.instruction_count,
        interpreter_ns: nanos(interpreter.median_ns),
        jit_ns: nanos(jit.median_ns),
        load_ns: nanos(load_ns),
        compile_ns: nanos(compile_ns),
    })
}

/// Runs `bpfvm bench`.
pub fn bench(iterations: u64) -> Result<BenchReport, Failure> {
    let runs = validate::count("--iterations", iterations, validate::MAX_ITERATIONS)?;
    let mut rows = Vec::new();
    for (index, program) in PROGRAMS.iter().enumerate() {
        progress(index, PROGRAMS.len(), program.name);
        rows.push(bench_one(program, runs)?);
    }
    progress(PROGRAMS.len(), PROGRAMS.len(), "done");
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    Ok(BenchReport {
        iterations,
        programs: rows,
    })
}

impl Report for BenchReport {
    fn text(&self) -> String {
        table(&self.programs)
    }
}
