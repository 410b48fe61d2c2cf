//! The profile outputs of `bpfvm run`, and progress on a terminal.
//!
//! `--profile FILE.dot` and `--profile-folded FILE` turn instruction tracing on (and symbol
//! labels, so functions keep their names). The run's context feeds every traced pc to a
//! [`ProfileBuilder`] as the program goes (`context.rs`), so no trace is kept; after the run
//! the [`Profile`] gives the CFG with edge hit counts as Graphviz DOT, the folded stacks for
//! inferno or flamegraph.pl, and a per-function table of instruction counts. The table is part
//! of the run's report (text and JSON); with `--json` it also goes to stderr as text.
//!
//! Progress: when stderr is a terminal, a run that lasts over a second shows its elapsed time
//! on stderr (a ticker thread that never touches the VM). Nothing is shown when stderr is
//! redirected.

use crate::args::RunOptions;
use crate::failure::Failure;
use crate::program_file::Loaded;
use crate::schema::{ProfileSummary, ProfiledFunction};
use bpfvm_analysis::{Analysis, Profile, ProfileBuilder, OTHER_STACKS};
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

/// The analysis and the empty profile a profiled run starts with.
pub fn start(loaded: &Loaded) -> (Analysis, ProfileBuilder) {
    (
        Analysis::new(loaded.program.executable()),
        ProfileBuilder::new(),
    )
}

/// Writes the profile files of a finished run and summarises the profile.
pub fn finish(
    options: &RunOptions,
    profile: Option<(Analysis, ProfileBuilder)>,
) -> Result<Option<ProfileSummary>, Failure> {
    let Some((analysis, builder)) = profile else {
        return Ok(None);
    };
    let profile = builder.finish(&analysis);
    let mut files = Vec::new();
    if let Some(path) = &options.profile {
        write(path, &analysis.to_dot(Some(&profile)))?;
        files.push(path.display().to_string());
    }
    if let Some(path) = &options.profile_folded {
        write(path, &profile.folded())?;
        files.push(path.display().to_string());
    }
    Ok(Some(summary(&analysis, &profile, files)))
}

fn summary(analysis: &Analysis, profile: &Profile, files: Vec<String>) -> ProfileSummary {
    let mut functions: Vec<ProfiledFunction> = profile
        .functions()
        .into_iter()
        .map(|(pc, stats)| ProfiledFunction {
            pc,
            name: analysis
                .functions()
                .get(&pc)
                .map_or_else(|| OTHER_STACKS.to_owned(), |f| f.label.clone()),
            calls: stats.calls,
            self_instructions: stats.self_instructions,
            total_instructions: stats.total_instructions,
        })
        .collect();
    functions.sort_by(|a, b| (b.self_instructions, a.pc).cmp(&(a.self_instructions, b.pc)));
    let mut table = format!(
        "profile: {} instructions traced\n{}",
        profile.instructions(),
        profile.function_table()
    );
    if profile.untracked_transitions() > 0 {
        table.push_str(&format!(
            "note: {} transitions over edges past the first {} were not drawn\n",
            profile.untracked_transitions(),
            bpfvm_analysis::MAX_EDGES
        ));
    }
    ProfileSummary {
        instructions: profile.instructions(),
        files,
        functions,
        table,
    }
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text).map_err(|e| Failure::write(path, &e))
}
