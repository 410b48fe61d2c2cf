//! `bpfvm`: run, verify, disassemble, assemble and inspect BPF programs from the command line.
//!
//! This file owns the mapping from outcomes to output and exit codes. Each command returns a
//! report ([`schema::Report`]) or a [`Failure`]; the report prints as text or, with `--json`,
//! as one JSON document on stdout, and so does a failure (as one `bpfvm: ` line on stderr in
//! text). Exit codes: 0 when the command succeeded and the program returned `Ok`, 1 when the
//! program raised an error, 2 for every failure: bad usage (clap's errors included, which
//! become JSON too when `--json` is on the line), a value outside its limits, a file that
//! cannot be read or written, a program that does not assemble, load or verify.

mod args;
mod commands;
mod context;
mod failure;
mod hex;
mod program_file;
mod schema;
mod trace;
mod validate;

use args::{Cli, Command, Format};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;
use failure::Failure;
use schema::Report;
use std::ffi::OsString;
use std::process::ExitCode;

/// Writes to standard output, stopping quietly when the reader has gone away (`| head`).
pub fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The exit code of failures.
const FAILED: u8 = 2;

fn main() -> ExitCode {
    let arguments: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&arguments) {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error, &arguments),
    };
    let format = cli.format();
    let name = cli.command.name();
    match cli.command {
        Command::Run(options) => match options.instruction.wanted() {
            true => emit(name, format, commands::instruction::run(&options)),
            false => emit(name, format, commands::run::run(&options, format)),
        },
        Command::Debug { run, port } => {
            emit(name, format, commands::debug::debug(&run, port, format))
        }
        Command::Verify { program, load } => emit(name, format, commands::verify(&program, &load)),
        Command::Disasm {
            program,
            load,
            format: listing,
            jit,
        } => match jit {
            true => emit(
                name,
                format,
                commands::jit_listing::disasm_jit(&program, &load),
            ),
            false => emit(
                name,
                format,
                commands::disasm::disasm(&program, &load, listing),
            ),
        },
        Command::Cfg {
            program,
            load,
            output,
            svg,
        } => emit(
            name,
            format,
            commands::cfg::cfg(&program, &load, &output, svg, format),
        ),
        Command::Asm {
            source,
            output,
            config,
        } => emit(
            name,
            format,
            commands::asm::assemble(&source, &output, config, format),
        ),
        Command::Bench { iterations } => emit(name, format, commands::bench::bench(iterations)),
        Command::Info { file } => emit(name, format, commands::info::info(&file)),
    }
}

/// Prints a command's outcome and gives its exit code.
fn emit<R: Report>(command: &str, format: Format, outcome: Result<R, Failure>) -> ExitCode {
    match (outcome, format) {
        (Ok(report), Format::Json) => {
            write_stdout(&format!("{}\n", schema::document(command, &report)));
            exit_code(&report)
        }
        (Ok(report), Format::Text) => {
            for warning in report.warnings() {
                eprintln!("{warning}");
            }
            write_stdout(&report.text());
            exit_code(&report)
        }
        (Err(failure), Format::Json) => {
            write_stdout(&format!(
                "{}\n",
                schema::failure_document(Some(command), &failure)
            ));
            ExitCode::from(FAILED)
        }
        (Err(failure), Format::Text) => {
            eprintln!("bpfvm: {failure}");
            ExitCode::from(FAILED)
        }
    }
}

fn exit_code<R: Report>(report: &R) -> ExitCode {
    match report.ok() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    }
}

/// A command line clap refused (or `--help`/`--version`). Without `--json` clap prints it
/// as usual (exit code 2 for errors, 0 for help); with `--json` it becomes a document.
fn usage_error(error: &clap::Error, arguments: &[OsString]) -> ExitCode {
    if !wants_json(arguments) {
        error.exit();
    }
    let command = command_name(arguments);
    let text = error.render().to_string();
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let document = serde_json::json!({"ok": true, "command": command, "help": text});
        write_stdout(&format!("{document}\n"));
        return ExitCode::SUCCESS;
    }
    let option = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => Some(arg.as_str()),
        Some(ContextValue::Strings(args)) => args.first().map(String::as_str),
        _ => None,
    }
    .map(|arg| arg.split(' ').next().unwrap_or(arg).to_owned());
    // The first paragraph of clap's text, on one line (the rest is usage and hints).
    let paragraph: Vec<&str> = text
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = paragraph.join(" ").trim_start_matches("error: ").to_owned();
    let failure = Failure::Usage {
        kind: format!("{:?}", error.kind()),
        option,
        message,
    };
    write_stdout(&format!(
        "{}\n",
        schema::failure_document(command, &failure)
    ));
    ExitCode::from(FAILED)
}

/// Whether `--json` is on the command line (before a `--`).
fn wants_json(arguments: &[OsString]) -> bool {
    arguments
        .iter()
        .skip(1)
        .take_while(|argument| *argument != "--")
        .any(|argument| argument == "--json")
}

/// The subcommand on a command line clap refused, when there is one.
fn command_name(arguments: &[OsString]) -> Option<&'static str> {
    let first = arguments
        .iter()
        .skip(1)
        .find(|argument| !argument.to_string_lossy().starts_with('-'))?;
    args::COMMAND_NAMES
        .iter()
        .copied()
        .find(|name| first == *name)
}
