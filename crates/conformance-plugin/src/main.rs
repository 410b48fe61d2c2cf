//! `bpfvm-conformance-plugin`: the bpf_conformance runner's plugin for bpfvm.
//!
//! It speaks the runner's protocol ([`protocol`]) and runs one test program in the eBPF
//! dialect ([`run`]): r0 in hex on standard output and exit code 0, or a message on standard
//! error and exit code 1 when the program does not load, verify or run to `exit`, and 2 for
//! bad arguments or input. Use it as
//! `bpf_conformance_runner --test_file_directory TESTS --plugin_path bpfvm-conformance-plugin
//! --cpu_version v4 [--elf true] [--plugin_options "--backend jit"]`.

mod protocol;
mod run;

use clap::Parser;
use protocol::{decode_hex, Request};
use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let request = Request::parse();
    let (program, mut memory) = match read_input(&request) {
        Ok(input) => input,
        Err(message) => {
            eprintln!("bpfvm-conformance-plugin: {message}");
            return ExitCode::from(2);
        }
    };
    let test = run::Test {
        program: &program,
        format: request.format(),
        memory: &mut memory,
        backend: request.backend,
        budget: request.budget,
    };
    match run::run(test) {
        Ok(r0) => {
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{r0:x}").and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(2),
            }
        }
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(1)
        }
    }
}

/// The program from standard input and the memory from the first argument, decoded.
fn read_input(request: &Request) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|error| format!("cannot read the program from standard input: {error}"))?;
    let program = decode_hex(&text).map_err(|error| format!("the program is not hex: {error}"))?;
    let memory = match &request.memory {
        Some(memory) => {
            decode_hex(memory).map_err(|error| format!("the memory is not hex: {error}"))?
        }
        None => Vec::new(),
    };
    Ok((program, memory))
}
