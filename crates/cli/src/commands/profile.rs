//! The profile outputs of `bpfvm run`, and progress on a terminal.
//!
//! `--profile FILE.dot` and `--profile-folded FILE` turn instruction tracing on (and symbol
//! labels, so functions keep their names); after the run the trace is turned into a
//! [`Profile`]: the CFG with edge hit counts as Graphviz DOT, the folded stacks for inferno or
//! flamegraph.pl, and a per-function table of instruction counts. The table goes to stdout in
//! text mode and to stderr with `--json`, so that stdout stays one line of JSON.
//!
//! Progress: when stderr is a terminal, a run that lasts over a second shows its elapsed time
//! on stderr (a ticker thread that never touches the VM), and building a profile shows how
//! much of the trace is done. Nothing is shown when stderr is redirected.

use crate::program_file::{CliContext, Loaded};
use crate::RunOptions;
use bpfvm_analysis::{Analysis, Profile};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long a run goes before the ticker shows up, and how often it redraws.
const TICK: Duration = Duration::from_millis(250);
const QUIET_FOR: Duration = Duration::from_secs(1);

/// Whether the options ask for a profile.
pub fn wanted(options: &RunOptions) -> bool {
    options.profile.is_some() || options.profile_folded.is_some()
}

/// Runs `work`, showing the elapsed time on stderr while it lasts over a second, when stderr
/// is a terminal.
pub fn while_running<T>(work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let (done, ticks) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || ticker(&ticks));
        let result = work();
        drop(done);
        result
    })
}

fn ticker(ticks: &mpsc::Receiver<()>) {
    let start = Instant::now();
    let mut shown = false;
    while let Err(RecvTimeoutError::Timeout) = ticks.recv_timeout(TICK) {
        let elapsed = start.elapsed();
        if elapsed >= QUIET_FOR {
            eprint!("\rbpfvm: running... {} s", elapsed.as_secs());
            shown = true;
        }
    }
    if shown {
        eprint!("\r\x1b[K");
    }
}

/// Writes the profile files and prints the function table, when a profile was asked for.
pub fn report(options: &RunOptions, loaded: &Loaded, context: &CliContext) -> Result<(), String> {
    if !wanted(options) {
        return Ok(());
    }
    let analysis = Analysis::new(loaded.program.executable());
    let terminal = std::io::stderr().is_terminal();
    let mut progress = |done: usize, total: usize| {
        if terminal {
            eprint!("\rbpfvm: profiling {}%", done * 100 / total.max(1));
        }
    };
    let profile = Profile::from_trace_with_progress(&analysis, &context.trace_log, &mut progress);
    if terminal && context.trace_log.len() >= 1 << 20 {
        eprint!("\r\x1b[K");
    }
    if let Some(path) = &options.profile {
        write(path, &analysis.to_dot(Some(&profile)))?;
    }
    if let Some(path) = &options.profile_folded {
        write(path, &profile.folded())?;
    }
    let table = format!(
        "profile: {} instructions traced\n{}",
        profile.instructions(),
        profile.function_table()
    );
    if options.json {
        eprint!("{table}");
    } else {
        crate::write_stdout(&table);
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
