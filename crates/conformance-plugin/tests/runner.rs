//! The plugin under the real bpf_conformance runner (../shared/tools/bpf_conformance), built
//! here with its build.sh into the target directory: every test of the corpus at
//! `--cpu_version v4`, raw and with `--elf true` (the runner's own ELF objects), on the
//! interpreter and on the JIT, must pass. If the runner cannot be built this fails and says
//! why; it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The tests the runner runs at v4 with its default groups: all 313 but `callx.data`, which
/// is in the `callx` group.
const DEFAULT_GROUPS: usize = 312;
/// All of them, with the `callx` and `packet` groups included.
const ALL: usize = 313;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The runner, built once per test process.
fn runner() -> &'static Path {
    static RUNNER: OnceLock<PathBuf> = OnceLock::new();
    RUNNER.get_or_init(|| {
        let script = shared().join("tools/bpf_conformance/build.sh");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bpf_conformance");
        let built = Command::new("bash").arg(&script).arg(&out).output();
        let failure = match &built {
            Ok(output) if output.status.success() => None,
            Ok(output) => Some(format!(
                "{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )),
            Err(error) => Some(error.to_string()),
        };
        if let Some(failure) = failure {
            panic!(
                "cannot build the bpf_conformance runner with {} (it needs cmake, a C++ \
                 compiler, boost's program_options and filesystem, and libelf; .ci/run \
                 installs them): {failure}",
                script.display()
            );
        }
        out.join("bin/bpf_conformance_runner")
    })
}

/// Runs the whole corpus; returns the runner's last line and its whole output.
fn run_corpus(extra: &[&str]) -> (String, String) {
    let output = Command::new(runner())
        .arg("--test_file_directory")
        .arg(shared().join("corpus/bpf_conformance/tests"))
        .arg("--plugin_path")
        .arg(env!("CARGO_BIN_EXE_bpfvm-conformance-plugin"))
        .args(["--cpu_version", "v4"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    assert!(
        output.status.success(),
        "runner {extra:?} failed: {last}\n{}",
        failures(&stdout)
    );
    (last, stdout)
}

fn failures(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|line| line.starts_with("FAIL") || line.starts_with("ERROR"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn passes_all(extra: &[&str], expected: usize) {
    let (last, stdout) = run_corpus(extra);
    assert_eq!(
        last,
        format!("Passed {expected} out of {expected} tests."),
        "{extra:?}\n{}",
        failures(&stdout)
    );
}

#[test]
fn raw_programs_pass_at_v4() {
    passes_all(&["--elf", "false"], DEFAULT_GROUPS);
    passes_all(
        &["--elf", "false", "--plugin_options", "--backend jit"],
        DEFAULT_GROUPS,
    );
}

#[test]
fn elf_objects_pass_at_v4() {
    passes_all(&["--elf", "true"], DEFAULT_GROUPS);
    passes_all(
        &["--elf", "true", "--plugin_options", "--backend jit"],
        DEFAULT_GROUPS,
    );
}

#[test]
fn every_group_passes_at_v4() {
    passes_all(&["--include_groups", "callx", "packet"], ALL);
    passes_all(
        &["--elf", "true", "--include_groups", "callx", "packet"],
        ALL,
    );
}
