//! `bpfvm disasm`, `bpfvm cfg` and the profile outputs of `bpfvm run`, end to end on
//! examples/asm/sum_calls.s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/asm/sum_calls.s")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bpfvm-cli-analysis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn bpfvm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfvm"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

const LISTING: &str = "entrypoint:
    mov64 r6, 0
    mov64 r7, 0
    mov64 r8, r1
lbb_3:
    mov64 r1, r8
    add64 r1, r7
    call function_load
    add64 r6, r0
    add64 r7, 1
    jlt r7, 8, lbb_3
    mov64 r1, r6
    mov64 r2, 0
    mov64 r3, 0
    mov64 r4, 0
    mov64 r5, 0
    syscall log_64
    mov64 r0, r6
    exit

function_load:
    ldxb r0, [r1+0x0]
    mov64 r6, 99
    exit
";

#[test]
fn disasm_prints_the_labelled_listing() {
    let out = bpfvm(&["disasm", "--format", "listing", example().to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), LISTING);
}

#[test]
fn cfg_writes_one_cluster_per_function() {
    let dot = scratch("sum_calls.dot");
    let out = bpfvm(&[
        "cfg",
        example().to_str().unwrap(),
        "-o",
        dot.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("(2 functions, 5 blocks)"));
    let dot = std::fs::read_to_string(&dot).unwrap();
    let clusters: Vec<&str> = dot
        .lines()
        .filter_map(|l| l.trim().strip_prefix("subgraph "))
        .collect();
    assert_eq!(clusters, ["cluster_0 {", "cluster_17 {"]);
    for edge in [
        "  lbb_0 -> lbb_3;",
        "  lbb_3 -> lbb_6;",
        "  lbb_6 -> lbb_9;",
        "  lbb_6 -> lbb_3;",
        "  lbb_9 -> lbb_6 [style=dotted; arrowhead=none];",
    ] {
        assert!(dot.lines().any(|l| l == edge), "{edge} missing:\n{dot}");
    }
}

#[test]
fn cfg_svg_needs_dot() {
    let dot = scratch("svg.dot");
    let example = example();
    let args = [
        "cfg",
        example.to_str().unwrap(),
        "-o",
        dot.to_str().unwrap(),
        "--svg",
    ];
    // Without `dot` on the PATH, a clear usage error (and the DOT file is still written).
    let out = Command::new(env!("CARGO_BIN_EXE_bpfvm"))
        .args(args)
        .env("PATH", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Graphviz's `dot`, which is not installed"));
    assert!(dot.exists());
    if Command::new("dot").arg("-V").output().is_ok() {
        let out = bpfvm(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let svg = std::fs::read_to_string(dot.with_extension("svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("function_load"));
    }
}

#[test]
fn run_writes_profiles_and_prints_the_table() {
    let (dot, folded) = (scratch("profile.dot"), scratch("profile.folded"));
    let out = bpfvm(&[
        "run",
        example().to_str().unwrap(),
        "--input-hex",
        "0102030405060708",
        "--syscalls",
        "demo",
        "--profile",
        dot.to_str().unwrap(),
        "--profile-folded",
        folded.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("instructions: 83\n"));
    assert!(stdout.contains(
        "profile: 83 instructions traced
        self   self%        total    calls  function
          59   71.1%           83        1  entrypoint
          24   28.9%           24        8  function_load
"
    ));
    assert_eq!(
        std::fs::read_to_string(&folded).unwrap(),
        "entrypoint 59\nentrypoint;function_load 24\n"
    );
    let dot = std::fs::read_to_string(&dot).unwrap();
    for edge in [
        "  lbb_6 -> lbb_3 [label=\"7\"; color=\"0.958 1.000 1.000\"];",
        "  lbb_3 -> lbb_6 [label=\"8\"; color=\"1.000 1.000 1.000\"];",
        "  lbb_3 -> alias_0_lbb_17 [label=\"8\"; color=\"1.000 1.000 1.000\"];",
        "  lbb_17 -> alias_17_lbb_6 [label=\"8\"; color=\"1.000 1.000 1.000\"];",
    ] {
        assert!(dot.lines().any(|l| l == edge), "{edge} missing:\n{dot}");
    }
}

#[test]
fn json_stays_one_line_with_a_profile() {
    let folded = scratch("json.folded");
    let out = bpfvm(&[
        "run",
        example().to_str().unwrap(),
        "--input-hex",
        "0102030405060708",
        "--syscalls",
        "demo",
        "--json",
        "--profile-folded",
        folded.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.starts_with("{\"ok\":true"));
    assert!(text(&out.stderr).contains("24   28.9%           24        8  function_load"));
}
