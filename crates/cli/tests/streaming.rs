//! Traces and profiles are written while the program runs, in memory that does not grow with
//! the run: the peak resident memory (VmHWM, which `run --json` reports as `peak_rss_bytes`)
//! of a traced and profiled run of N instructions and of 10 N instructions differ by less than
//! a fixed slack. A trace kept per instruction (the 96 bytes each the library's test context
//! keeps) would add 9 N x 96 bytes, over 400 MiB at N = 500,000. The scaling argument: what
//! does not grow from N to 10 N does not grow at 100 million either (the figure, too
//! long for CI; the report quotes its measurement). The trace text is the same on both
//! backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{bpfvm, document, repo, scratch, scratch_dir};
use std::process::{Command, Stdio};

/// An endless loop that calls a function, so the profile has stacks and edges to count.
const LOOP: &[u8] = b"entrypoint:
    add64 r0, 1
    call function_f
    ja entrypoint
function_f:
    add64 r1, 1
    exit
";

/// The peak memory of a traced, profiled run of `budget` instructions.
fn peak(budget: u64, backend: &str, trace: &[&str]) -> u64 {
    let program = scratch("streaming", "loop.s", LOOP);
    let dir = scratch_dir("streaming");
    let dot = dir.join(format!("{backend}-{budget}.dot"));
    let folded = dir.join(format!("{backend}-{budget}.folded"));
    let budget_text = budget.to_string();
    let mut args = vec![
        "run",
        &program,
        "--budget",
        &budget_text,
        "--backend",
        backend,
        "--profile",
        dot.to_str().unwrap(),
        "--profile-folded",
        folded.to_str().unwrap(),
        "--json",
    ];
    args.extend(trace);
    // The trace and the profile table go to stderr when not to a file: discard it.
    let output = Command::new(env!("CARGO_BIN_EXE_bpfvm"))
        .args(&args)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let (report, code) = document(&output);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["error"]["kind"], "ExceededMaxInstructions");
    assert_eq!(report["instructions"], budget);
    assert_eq!(report["profile"]["instructions"], budget);
    // Five instructions a round, three in entrypoint and two in function_f.
    assert_eq!(budget % 5, 0);
    assert_eq!(
        std::fs::read_to_string(&folded).unwrap(),
        format!(
            "entrypoint {}\nentrypoint;function_f {}\n",
            budget / 5 * 3,
            budget / 5 * 2
        )
    );
    report["peak_rss_bytes"]
        .as_u64()
        .expect("peak_rss_bytes needs /proc/self/status (Linux)")
}

/// Peak memory may grow by this much from N to 10 N: allocator noise, nothing per instruction.
const SLACK: u64 = 4 << 20;

const N: u64 = 500_000;

#[test]
fn a_traced_profiled_run_keeps_a_flat_memory_peak() {
    for backend in ["interpreter", "jit"] {
        let small = peak(N, backend, &["--trace-file", "/dev/null"]);
        let large = peak(10 * N, backend, &["--trace-file", "/dev/null"]);
        assert!(
            large < small + SLACK,
            "{backend}: peak {small} bytes at {N} instructions, {large} at {}",
            10 * N
        );
    }
    // The same with the trace on stderr.
    let small = peak(N, "interpreter", &["--trace"]);
    let large = peak(10 * N, "interpreter", &["--trace"]);
    assert!(large < small + SLACK, "{small} -> {large}");
}

#[test]
fn the_trace_is_the_same_on_both_backends() {
    let program = repo("examples/asm/sum_calls.s");
    let dir = scratch_dir("streaming");
    let mut traces = Vec::new();
    for backend in ["interpreter", "jit"] {
        let path = dir.join(format!("sum_calls-{backend}.trace"));
        let output = bpfvm(&[
            "run",
            &program,
            "--input-hex",
            "0102030405060708",
            "--backend",
            backend,
            "--trace-file",
            path.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(0));
        traces.push(std::fs::read_to_string(&path).unwrap());
    }
    assert_eq!(traces[0], traces[1]);
    let lines: Vec<&str> = traces[0].lines().collect();
    assert_eq!(lines.len(), 83);
    assert_eq!(
        lines[5],
        "     5     5: call function_17                 r0=0x0 r1=0x400000000 r2=0x0 r3=0x0 \
         r4=0x0 r5=0x0 r6=0x0 r7=0x0 r8=0x400000000 r9=0x0 r10=0x200014000"
    );
    assert!(
        lines[82].starts_with("    82    16: exit "),
        "{}",
        lines[82]
    );
}
