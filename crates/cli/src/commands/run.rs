//! `bpfvm run`: load, verify and run a program, then report the result as text or JSON.
//!
//! Loading and verification are timed once (`load_ns`); the run itself is repeated
//! `--repeat` times on fresh memory and the median is reported (`run_ns`). The result, the
//! logs and the input bytes shown are those of the last run; every run is identical, since
//! nothing on the execution path depends on time.

use crate::json;
use crate::program_file::{self, CliContext, Loaded};
use crate::{BackendChoice, Outcome, RunOptions};
use bpfvm::{Backend, MemoryRegion, Run, Vm, MM_INPUT_START};
use bpfvm_isa::Dialect;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Instant;

/// One finished run and what it left behind.
struct Finished {
    run: Run,
    context: CliContext,
    input: Vec<u8>,
    run_ns: u128,
}

/// Runs `bpfvm run`.
pub fn run(options: &RunOptions) -> Outcome {
    if options.instruction.wanted() {
        return crate::commands::instruction::run(options);
    }
    match execute(options) {
        Ok((loaded, finished)) => report(options, &loaded, &finished),
        Err(message) => Outcome::Unusable(message),
    }
}

/// The input bytes the options select (none by default).
pub(crate) fn input_bytes(options: &RunOptions) -> Result<Vec<u8>, String> {
    if let Some(path) = &options.input {
        return std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    }
    if let Some(hex) = &options.input_hex {
        return json::parse_hex(hex);
    }
    if let Some(hex) = &options.instruction_data {
        let data = json::parse_hex(hex)?;
        return Ok(bpfvm::solana_input::serialize_instruction_only(
            &data, &[0u8; 32],
        ));
    }
    Ok(Vec::new())
}

fn backend(choice: BackendChoice) -> Backend {
    match choice {
        BackendChoice::Interpreter => Backend::Interpreter,
        BackendChoice::Jit => Backend::Jit,
    }
}

fn execute(options: &RunOptions) -> Result<(Loaded, Finished), String> {
    if options.repeat == 0 {
        return Err("--repeat must be at least 1".to_owned());
    }
    let profiling = crate::commands::profile::wanted(options);
    let trace = options.trace || profiling;
    let mut loaded = program_file::load(&options.program, &options.load, |config| {
        config.enable_instruction_tracing = trace;
        config.enable_symbol_and_section_labels |= profiling;
    })?;
    if let BackendChoice::Jit = options.backend {
        let start = Instant::now();
        loaded
            .program
            .jit_compile()
            .map_err(|e| format!("JIT compilation failed: {e}"))?;
        loaded.compile_ns = Some(start.elapsed().as_nanos());
    }
    let input = input_bytes(options)?;
    let mut times = Vec::with_capacity(options.repeat as usize);
    let mut last = None;
    for _ in 0..options.repeat {
        let finished = run_once(&loaded, options, input.clone())?;
        times.push(finished.run_ns);
        last = Some(finished);
    }
    times.sort_unstable();
    let mut finished = last.ok_or("no run")?;
    finished.run_ns = times[times.len() / 2];
    Ok((loaded, finished))
}

fn run_once(loaded: &Loaded, options: &RunOptions, mut input: Vec<u8>) -> Result<Finished, String> {
    let mut heap = vec![0u8; options.heap];
    let mut context = CliContext::new(options.budget, options.heap as u64);
    context.state.costs = match options.syscall_costs {
        crate::CostsChoice::Solana => bpfvm::syscalls::ComputeCosts::Solana,
        crate::CostsChoice::Free => bpfvm::syscalls::ComputeCosts::Free,
    };
    let (run, run_ns) = crate::commands::profile::while_running(|| {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let mut vm = Vm::new(&loaded.program, &mut context, &mut heap, regions)
            .map_err(|e| format!("cannot set up the VM: {e}"))?;
        let start = Instant::now();
        let run = vm.run(backend(options.backend));
        Ok::<_, String>((run, start.elapsed().as_nanos()))
    })?;
    if let Err(bpfvm::RuntimeError::JitNotCompiled) = run.result {
        return Err("the JIT backend is not available yet".to_owned());
    }
    Ok(Finished {
        run,
        context,
        input,
        run_ns,
    })
}

fn report(options: &RunOptions, loaded: &Loaded, finished: &Finished) -> Outcome {
    if options.trace {
        print_trace(loaded, &finished.context);
    }
    if options.json {
        crate::write_stdout(&format!("{}\n", json_report(options, loaded, finished)));
    } else {
        print_text(options, loaded, finished);
    }
    if let Err(message) = crate::commands::profile::report(options, loaded, &finished.context) {
        return Outcome::Unusable(message);
    }
    match finished.run.result {
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::ProgramError,
    }
}

fn json_report(options: &RunOptions, loaded: &Loaded, finished: &Finished) -> Value {
    let mut report = match &finished.run.result {
        Ok(r0) => json!({ "ok": true, "r0": format!("{r0:#x}") }),
        Err(error) => {
            let mut described = json::error(error);
            // A call to an import nothing serves names it beside the reference's error kind.
            if let bpfvm::RuntimeError::UnsupportedInstruction { pc } = error {
                let executable = loaded.program.executable();
                let name =
                    bpfvm_solana::imports::import_called_at(executable, *pc, &loaded.imports);
                if let (Some(name), Value::Object(object)) = (name, &mut described) {
                    object.insert("syscall".to_owned(), json!(name));
                }
            }
            json!({ "ok": false, "error": described })
        }
    };
    let fields = [
        ("instructions", json!(instructions(finished))),
        ("compute_units", json!(finished.run.instruction_count)),
        ("run_ns", json!(finished.run_ns as u64)),
        ("load_ns", json!(loaded.load_ns as u64)),
        ("logs", json!(finished.context.logs)),
    ];
    if let Value::Object(object) = &mut report {
        for (name, value) in fields {
            object.insert(name.to_owned(), value);
        }
        if let Some(compile_ns) = loaded.compile_ns {
            object.insert("compile_ns".to_owned(), json!(compile_ns as u64));
        }
        if options.dump_input {
            object.insert("input_after".to_owned(), json!(json::hex(&finished.input)));
        }
    }
    report
}

fn print_text(options: &RunOptions, loaded: &Loaded, finished: &Finished) {
    let mut text = String::new();
    for line in &finished.context.logs {
        text.push_str(&format!("{line}\n"));
    }
    match &finished.run.result {
        Ok(r0) => text.push_str(&format!("ok: r0 = {r0:#x} ({r0})\n")),
        Err(error) => {
            let text_of = bpfvm_solana::imports::describe_error(
                error,
                loaded.program.executable(),
                &loaded.imports,
            );
            text.push_str(&format!("error: {} ({text_of})\n", error.kind()));
        }
    }
    text.push_str(&format!(
        "instructions: {}\ncompute units: {}\ntime: load {} us, run {} us (median of {})\n",
        instructions(finished),
        finished.run.instruction_count,
        loaded.load_ns / 1000,
        finished.run_ns / 1000,
        options.repeat
    ));
    if options.dump_input {
        text.push_str(&format!("input after: {}\n", json::hex(&finished.input)));
    }
    crate::write_stdout(&text);
}

/// The instructions executed: the units the run consumed less those its syscalls charged.
fn instructions(finished: &Finished) -> u64 {
    let syscall_units = finished.context.state.syscall_units;
    finished.run.instruction_count.saturating_sub(syscall_units)
}

fn print_trace(loaded: &Loaded, context: &CliContext) {
    let program = &loaded.program;
    let symbols = bpfvm_analysis::symbol_table(program.executable());
    let dialect: Dialect = program.dialect();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (index, state) in context.trace_log.iter().enumerate() {
        let pc = state[11] as usize;
        let text = program
            .decoded()
            .get(pc)
            .copied()
            .flatten()
            .map(|insn| bpfvm_asm::format_insn(&insn, pc, dialect, &symbols))
            .unwrap_or_default();
        let registers: Vec<String> = state[..11]
            .iter()
            .enumerate()
            .map(|(r, value)| format!("r{r}={value:#x}"))
            .collect();
        let line = format!("{index:>6} {pc:>5}: {text:<32} {}", registers.join(" "));
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}
