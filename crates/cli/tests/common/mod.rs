//! Helpers of the CLI tests: paths, scratch files, and running the binary.

#![allow(dead_code, reason = "each test file uses some of the helpers")]

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A path inside the repository.
pub fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

/// A path inside the shared corpus beside the repository.
pub fn corpus(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(path);
    assert!(
        full.exists(),
        "the shared corpus is missing: expected {} (../shared/corpus beside the repository)",
        full.display()
    );
    full.to_string_lossy().into_owned()
}

/// A scratch directory of this test process, tagged by the test file.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bpfvm-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a scratch file and returns its path.
pub fn scratch(tag: &str, name: &str, contents: &[u8]) -> String {
    let path = scratch_dir(tag).join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs the binary.
pub fn bpfvm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfvm"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs the binary with `stdin` on its standard input.
pub fn bpfvm_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bpfvm"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command may refuse its arguments before it reads anything: a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Standard output as exactly one line holding one JSON document, and the exit code.
pub fn document(output: &Output) -> (Value, i32) {
    let text = stdout(output);
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text}");
    assert!(text.ends_with('\n'));
    let value: Value = serde_json::from_str(&text).unwrap();
    assert!(value["ok"].is_boolean(), "{value}");
    (value, output.status.code().unwrap())
}

/// Runs the binary and parses its one JSON document.
pub fn json(args: &[&str]) -> (Value, i32) {
    document(&bpfvm(args))
}
