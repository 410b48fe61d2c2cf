//! `bpfvm debug`: load a program as `run` does, wait for a GDB remote-serial-protocol client on
//! 127.0.0.1, run the program on the interpreter under its control, then report the result as
//! `run` does, with how the debugging session ended.
//!
//! The session itself (protocol, breakpoints, the pc convention) belongs to bpfvm-debugger;
//! this module only wires options to it and prints. Options that make no sense under a
//! debugger (`--backend jit`, `--repeat`, `--trace`, `--profile*`) are refused rather than
//! ignored.

use crate::commands::run::input_bytes;
use crate::json;
use crate::program_file::{self, CliContext};
use crate::{BackendChoice, Outcome, RunOptions};
use bpfvm::{MemoryRegion, Run, Vm, MM_INPUT_START};
use bpfvm_debugger::{CodeLayout, Debugged, Server, SessionEnd};
use serde_json::json;

/// Runs `bpfvm debug`.
pub fn debug(options: &RunOptions, port: u16) -> Outcome {
    match session(options, port) {
        Ok((debugged, context, input)) => report(options, &debugged, &context, &input),
        Err(message) => Outcome::Unusable(message),
    }
}

fn refuse_options(options: &RunOptions) -> Result<(), String> {
    if options.profile.is_some() || options.profile_folded.is_some() {
        return Err("profiling is not available with debug".to_owned());
    }
    match (options.backend, options.repeat, options.trace) {
        (BackendChoice::Jit, _, _) => Err("debug runs on the interpreter only".to_owned()),
        (_, repeat, _) if repeat != 1 => Err("debug runs the program once".to_owned()),
        (_, _, true) => Err("--trace is not available with debug".to_owned()),
        (BackendChoice::Interpreter, _, false) => Ok(()),
    }
}

fn session(options: &RunOptions, port: u16) -> Result<(Debugged, CliContext, Vec<u8>), String> {
    refuse_options(options)?;
    let loaded = program_file::load(&options.program, &options.load, |_| {})?;
    let mut input = input_bytes(options)?;
    let layout = CodeLayout::of(loaded.program.executable());
    let server =
        Server::bind(port).map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = server
        .port()
        .map_err(|e| format!("cannot read the port: {e}"))?;
    eprintln!(
        "bpfvm: waiting for a debugger on 127.0.0.1:{port} (gdb: target remote 127.0.0.1:{port})"
    );
    let mut heap = vec![0u8; options.heap];
    let mut context = CliContext::new(options.budget, options.heap as u64);
    let debugged = {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let mut vm = Vm::new(&loaded.program, &mut context, &mut heap, regions)
            .map_err(|e| format!("cannot set up the VM: {e}"))?;
        server.serve(&mut vm, layout).map_err(|e| e.to_string())?
    };
    Ok((debugged, context, input))
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

fn report(
    options: &RunOptions,
    debugged: &Debugged,
    context: &CliContext,
    input: &[u8],
) -> Outcome {
    let Run {
        instruction_count,
        result,
    } = &debugged.run;
    if options.json {
        let mut report = match result {
            Ok(r0) => json!({ "ok": true, "r0": format!("{r0:#x}") }),
            Err(error) => json!({ "ok": false, "error": json::error(error) }),
        };
        if let Some(object) = report.as_object_mut() {
            object.insert("instructions".to_owned(), json!(instruction_count));
            object.insert("logs".to_owned(), json!(context.logs));
            object.insert("session".to_owned(), json!(session_text(debugged)));
            if options.dump_input {
                object.insert("input_after".to_owned(), json!(json::hex(input)));
            }
        }
        crate::write_stdout(&format!("{report}\n"));
    } else {
        let mut text = String::new();
        for line in &context.logs {
            text.push_str(&format!("{line}\n"));
        }
        match result {
            Ok(r0) => text.push_str(&format!("ok: r0 = {r0:#x} ({r0})\n")),
            Err(error) => text.push_str(&format!("error: {} ({error})\n", error.kind())),
        }
        text.push_str(&format!("instructions: {instruction_count}\n"));
        text.push_str(&format!("debugger: {}\n", session_text(debugged)));
        if options.dump_input {
            text.push_str(&format!("input after: {}\n", json::hex(input)));
        }
        crate::write_stdout(&text);
    }
    match result {
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::ProgramError,
    }
}
