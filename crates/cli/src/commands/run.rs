//! `bpfvm run`: load, verify and run a program, then report the result as text or JSON.
//!
//! Every size and count is checked first ([`Plan::new`], `validate.rs`), so nothing is
//! allocated for an argument out of range. Loading and verification are timed once
//! (`load_ns`); the run itself is repeated `--repeat` times on fresh memory and the median is
//! reported (`run_ns`). The result, the logs, the input bytes, the trace and the profile are
//! those of the last run; every run is identical, since nothing on the execution path depends
//! on time. The trace and the profile are made while that run goes (`context.rs`).

use crate::args::{BackendChoice, CostsChoice, Format, RunOptions};
use crate::commands::profile;
use crate::context::{CliContext, Observer};
use crate::failure::Failure;
use crate::program_file::{self, Loaded, ProgramFile};
use crate::schema::{ProgramResult, Report, RunReport, TraceSummary};
use crate::trace::{self, TraceTarget, TraceWriter};
use crate::{hex, validate};
use bpfvm::syscalls::ComputeCosts;
use bpfvm::{Backend, MemoryRegion, Run, RuntimeError, Vm, MM_INPUT_START};
use std::time::Instant;

/// One finished run and what it left behind.
pub struct Finished {
    /// The run.
    pub run: Run,
    /// The context after it.
    pub context: CliContext,
    /// The input region after it.
    pub input: Vec<u8>,
    /// How long it took.
    pub run_ns: u128,
}

/// The checked sizes and counts of a run.
pub struct Plan {
    /// The heap size.
    pub heap: usize,
    /// The budget.
    pub budget: u64,
    /// How many runs.
    pub repeat: usize,
    /// The input bytes.
    pub input: Vec<u8>,
    /// Where the trace goes, when there is one.
    pub trace: Option<TraceTarget>,
    /// Whether syscalls charge compute units.
    pub costs: ComputeCosts,
}

impl Plan {
    /// Checks the options against their limits for this program and reads the input.
    pub fn new(options: &RunOptions, loaded: &Loaded, format: Format) -> Result<Self, Failure> {
        let heap = validate::heap(options.heap, loaded.runtime.heap_rules())?;
        let repeat = validate::count("--repeat", options.repeat, validate::MAX_REPEAT)?;
        let trace = tracing(options).then(|| trace::target(options.trace_file.as_deref()));
        if trace == Some(TraceTarget::Stdout) && format == Format::Json {
            return Err(Failure::conflict(
                "--trace-file",
                "--trace-file - writes to stdout, which holds the JSON document; name a file",
            ));
        }
        let input = input_bytes(options)?;
        let both = (heap as u64).saturating_add(input.len() as u64);
        validate::fits_in_memory("--input", "the heap and the input", both)?;
        Ok(Plan {
            heap,
            budget: options.budget.unwrap_or(loaded.runtime.default_budget()),
            repeat,
            input,
            trace,
            costs: match options.syscall_costs {
                CostsChoice::Solana => ComputeCosts::Solana,
                CostsChoice::Free => ComputeCosts::Free,
            },
        })
    }
}

/// Whether the options ask for a trace.
fn tracing(options: &RunOptions) -> bool {
    options.trace || options.trace_file.is_some()
}

/// Runs `bpfvm run`.
pub fn run(options: &RunOptions, format: Format) -> Result<RunReport, Failure> {
    one_reader_of_stdin(options)?;
    let file = ProgramFile::read(&options.program)?;
    let profiling = profile::wanted(options);
    let observed = tracing(options) || profiling;
    let mut loaded = program_file::load_file(&file, &options.load, |config| {
        config.enable_instruction_tracing = observed;
        config.enable_symbol_and_section_labels |= profiling;
    })?;
    let plan = Plan::new(options, &loaded, format)?;
    if let BackendChoice::Jit = options.backend {
        let start = Instant::now();
        loaded
            .program
            .jit_compile()
            .map_err(|error| Failure::Compile { error })?;
        loaded.compile_ns = Some(start.elapsed().as_nanos());
    }
    let mut times = Vec::with_capacity(plan.repeat);
    let mut last = None;
    for round in 1..=plan.repeat {
        let observer = match round == plan.repeat && observed {
            true => Some(observer(options, &loaded, &plan)?),
            false => None,
        };
        let finished = run_once(&loaded, &plan, backend(options.backend), observer)?;
        times.push(finished.run_ns);
        last = Some(finished);
    }
    times.sort_unstable();
    let mut finished = last.ok_or_else(|| Failure::out_of_range("--repeat", "no run"))?;
    finished.run_ns = times.get(times.len() / 2).copied().unwrap_or(0);
    report(options, &loaded, &plan, finished, format)
}

/// Refuses a program and an input that both come from standard input.
pub fn one_reader_of_stdin(options: &RunOptions) -> Result<(), Failure> {
    let stdin = |path: &std::path::Path| path.as_os_str() == "-";
    match (
        stdin(&options.program),
        options.input.as_deref().is_some_and(stdin),
    ) {
        (true, true) => Err(Failure::conflict(
            "--input",
            "the program and the input cannot both come from standard input",
        )),
        _ => Ok(()),
    }
}

/// The input bytes the options select (none by default), within the stated limit. Hex on
/// the command line is bounded by the system's argument length already.
pub fn input_bytes(options: &RunOptions) -> Result<Vec<u8>, Failure> {
    if let Some(path) = &options.input {
        return validate::read_limited(path, validate::MAX_INPUT, "--input");
    }
    if let Some(text) = &options.input_hex {
        return hex::parse(text).map_err(|message| Failure::invalid_value("--input-hex", message));
    }
    if let Some(text) = &options.instruction_data {
        let data = hex::parse(text)
            .map_err(|message| Failure::invalid_value("--instruction-data", message))?;
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

fn backend_name(choice: BackendChoice) -> &'static str {
    match choice {
        BackendChoice::Interpreter => "interpreter",
        BackendChoice::Jit => "jit",
    }
}

/// What watches the observed run: its trace writer and its profile.
fn observer(options: &RunOptions, loaded: &Loaded, plan: &Plan) -> Result<Observer, Failure> {
    let trace = match &plan.trace {
        Some(target) => Some(
            TraceWriter::create(&loaded.program, target.clone())
                .map_err(|error| Failure::write(std::path::Path::new(&target.name()), &error))?,
        ),
        None => None,
    };
    Ok(Observer {
        trace,
        profile: profile::wanted(options).then(|| profile::start(loaded)),
    })
}

fn run_once(
    loaded: &Loaded,
    plan: &Plan,
    backend: Backend,
    observer: Option<Observer>,
) -> Result<Finished, Failure> {
    let mut input = plan.input.clone();
    let mut heap = vec![0u8; plan.heap];
    let heap_size = plan.heap as u64;
    let mut context = match observer {
        Some(observer) => CliContext::observed(plan.budget, heap_size, observer),
        None => CliContext::new(plan.budget, heap_size),
    };
    context.state.costs = plan.costs;
    let (run, run_ns) = profile::while_running(|| {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let mut vm = Vm::new(&loaded.program, &mut context, &mut heap, regions)
            .map_err(|error| Failure::Setup { error })?;
        let start = Instant::now();
        let run = vm.run(backend);
        Ok::<_, Failure>((run, start.elapsed().as_nanos()))
    })?;
    Ok(Finished {
        run,
        context,
        input,
        run_ns,
    })
}

fn report(
    options: &RunOptions,
    loaded: &Loaded,
    plan: &Plan,
    mut finished: Finished,
    format: Format,
) -> Result<RunReport, Failure> {
    let observer = finished.context.observer.take();
    let (trace, profile) = match observer {
        Some(observer) => (
            finish_trace(observer.trace)?,
            profile::finish(options, observer.profile)?,
        ),
        None => (None, None),
    };
    if let (Some(profile), Format::Json) = (&profile, format) {
        eprint!("{}", profile.table);
    }
    let compute_units = finished.run.instruction_count;
    Ok(RunReport {
        result: program_result(loaded, &finished.run),
        instructions: compute_units.saturating_sub(finished.context.state.syscall_units),
        compute_units,
        run_ns: nanos(finished.run_ns),
        load_ns: nanos(loaded.load_ns),
        compile_ns: loaded.compile_ns.map(nanos),
        logs: finished.context.logs.clone(),
        input_after: options.dump_input.then(|| hex::encode(&finished.input)),
        program: loaded.description.clone(),
        backend: backend_name(options.backend),
        syscall_costs: match plan.costs {
            ComputeCosts::Solana => "solana",
            ComputeCosts::Free => "free",
        },
        budget: plan.budget,
        heap: plan.heap as u64,
        repeat: plan.repeat as u64,
        unresolved_imports: loaded.unresolved.clone(),
        trace,
        profile,
        peak_rss_bytes: peak_rss_bytes(),
    })
}

/// The run's result, naming the import a failing call named when nothing serves it.
pub fn program_result(loaded: &Loaded, run: &Run) -> ProgramResult {
    let syscall = match &run.result {
        Err(RuntimeError::UnsupportedInstruction { pc }) => {
            let executable = loaded.program.executable();
            bpfvm_solana::imports::import_called_at(executable, *pc, &loaded.imports)
        }
        _ => None,
    };
    ProgramResult {
        result: run.result.clone(),
        syscall,
    }
}

fn finish_trace(writer: Option<TraceWriter>) -> Result<Option<TraceSummary>, Failure> {
    let Some(writer) = writer else {
        return Ok(None);
    };
    match writer.finish() {
        Ok((target, lines)) => Ok(Some(TraceSummary {
            file: target.name(),
            lines,
        })),
        Err((target, error)) => Err(Failure::write(std::path::Path::new(&target.name()), &error)),
    }
}

fn nanos(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// The peak resident memory of this process (`VmHWM` in /proc/self/status), where known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

impl Report for RunReport {
    fn ok(&self) -> bool {
        self.result.result.is_ok()
    }

    fn warnings(&self) -> Vec<String> {
        crate::schema::unresolved_warnings(&self.unresolved_imports)
    }

    fn text(&self) -> String {
        let mut text = String::new();
        for line in &self.logs {
            text.push_str(&format!("{line}\n"));
        }
        text.push_str(&self.result.text());
        text.push_str(&format!(
            "instructions: {}\ncompute units: {}\ntime: load {} us, run {} us (median of {})\n",
            self.instructions,
            self.compute_units,
            self.load_ns / 1000,
            self.run_ns / 1000,
            self.repeat
        ));
        if let Some(input) = &self.input_after {
            text.push_str(&format!("input after: {input}\n"));
        }
        if let Some(profile) = &self.profile {
            text.push_str(&profile.table);
        }
        text
    }
}
