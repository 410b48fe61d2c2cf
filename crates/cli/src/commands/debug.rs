//! `bpfvm debug`: load a program as `run` does, wait for a GDB remote-serial-protocol client on
//! 127.0.0.1, run the program on the interpreter under its control, then report the result as
//! `run` does, with how the debugging session ended.
//!
//! The session itself (protocol, breakpoints, the pc convention) belongs to bpfvm-debugger;
//! this module only wires options to it and prints. Sizes and counts are checked as `run`
//! checks them, before the port is opened. Options that make no sense under a debugger
//! (`--backend jit`, `--repeat`, `--trace`, `--profile*`) are refused rather than ignored.

use crate::args::{BackendChoice, Format, RunOptions};
use crate::commands::run::{self, Plan};
use crate::context::CliContext;
use crate::failure::Failure;
use crate::hex;
use crate::program_file;
use crate::schema::{DebugReport, Report};
use bpfvm::{MemoryRegion, Vm, MM_INPUT_START};
use bpfvm_debugger::{CodeLayout, Debugged, Server, SessionEnd};

/// Runs `bpfvm debug`.
pub fn debug(options: &RunOptions, port: u16, format: Format) -> Result<DebugReport, Failure> {
    refuse_options(options)?;
    run::one_reader_of_stdin(options)?;
    let loaded = program_file::load(&options.program, &options.load, |_| {})?;
    let plan = Plan::new(options, &loaded, format)?;
    let mut input = plan.input.clone();
    let layout = CodeLayout::of(loaded.program.executable());
    let network = |error: std::io::Error| Failure::Io {
        action: "listen on",
        path: format!("127.0.0.1:{port}"),
        message: error.to_string(),
    };
    let server = Server::bind(port).map_err(network)?;
    let port = server.port().map_err(network)?;
    eprintln!(
        "bpfvm: waiting for a debugger on 127.0.0.1:{port} (gdb: target remote 127.0.0.1:{port})"
    );
    let mut heap = vec![0u8; plan.heap];
    let mut context = CliContext::new(plan.budget, plan.heap as u64);
    context.state.costs = plan.costs;
    let debugged = {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let mut vm = Vm::new(&loaded.program, &mut context, &mut heap, regions)
            .map_err(|error| Failure::Setup { error })?;
        server.serve(&mut vm, layout).map_err(|e| Failure::Tool {
            tool: "debugger",
            message: e.to_string(),
        })?
    };
    let compute_units = debugged.run.instruction_count;
    Ok(DebugReport {
        result: run::program_result(&loaded, &debugged.run),
        instructions: compute_units.saturating_sub(context.state.syscall_units),
        compute_units,
        logs: context.logs.clone(),
        session: session_text(&debugged),
        input_after: options.dump_input.then(|| hex::encode(&input)),
        program: loaded.description,
        budget: plan.budget,
        heap: plan.heap as u64,
    })
}

fn refuse_options(options: &RunOptions) -> Result<(), Failure> {
    if options.profile.is_some() || options.profile_folded.is_some() {
        return Err(Failure::conflict(
            "--profile",
            "--profile and --profile-folded are not available with debug",
        ));
    }
    if options.trace || options.trace_file.is_some() {
        return Err(Failure::conflict(
            "--trace",
            "--trace is not available with debug",
        ));
    }
    if options.repeat != 1 {
        return Err(Failure::conflict(
            "--repeat",
            "--repeat is not available with debug: debug runs the program once",
        ));
    }
    match options.backend {
        BackendChoice::Jit => Err(Failure::conflict(
            "--backend",
            "--backend jit is not available with debug: debug runs on the interpreter",
        )),
        BackendChoice::Interpreter => Ok(()),
    }
}

/// How the session ended, in words.
fn session_text(debugged: &Debugged) -> String {
    let end = match debugged.end {
        SessionEnd::Exited(code) => format!("exited with code {code}"),
        SessionEnd::Terminated(signal) => format!("terminated by {signal}"),
        SessionEnd::Killed => "killed by the debugger".to_owned(),
        SessionEnd::Detached => "detached".to_owned(),
    };
    match &debugged.protocol_error {
        Some(error) => format!("{end} (protocol error: {error})"),
        None => end,
    }
}

impl Report for DebugReport {
    fn ok(&self) -> bool {
        self.result.result.is_ok()
    }

    fn text(&self) -> String {
        let mut text = String::new();
        for line in &self.logs {
            text.push_str(&format!("{line}\n"));
        }
        text.push_str(&self.result.text());
        text.push_str(&format!(
            "instructions: {}\ncompute units: {}\n",
            self.instructions, self.compute_units
        ));
        text.push_str(&format!("debugger: {}\n", self.session));
        if let Some(input) = &self.input_after {
            text.push_str(&format!("input after: {input}\n"));
        }
        text
    }
}
