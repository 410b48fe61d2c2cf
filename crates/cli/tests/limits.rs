//! Every size and count the command line takes, at its extremes: 0, 1, the stated maximum,
//! one past it, negative, not a number, u64::MAX and past it. A value out of range ends with
//! exit code 2 and a one-line message naming the option, before anything is allocated (the
//! issue's reproducers `--heap 68719476736`, `--heap 18446744073709551615` and `--repeat
//! 4294967295` aborted or panicked); a value in range runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{bpfvm, repo, scratch_dir, stderr};

const U64_MAX: &str = "18446744073709551615";
const PAST_U64: &str = "18446744073709551616";

/// How a case must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Exit code 0 or 1 (the program ran).
    Runs,
    /// Exit code 2 with a message naming the option.
    Refused,
    /// Runs, or is refused for lack of memory on a small machine.
    RunsIfMemoryAllows,
}

use Expect::{Refused, Runs, RunsIfMemoryAllows};

fn check(args: &[&str], expect: Expect, option: &str) {
    let output = bpfvm(args);
    let code = output.status.code();
    let message = stderr(&output);
    match expect {
        Runs => assert!(
            matches!(code, Some(0 | 1)),
            "{args:?}: expected a run, got {code:?}: {message}"
        ),
        Refused => {
            assert_eq!(code, Some(2), "{args:?}: {message}");
            assert!(message.starts_with("bpfvm: ") || message.starts_with("error: "));
            assert!(
                message.contains(option),
                "{args:?}: the message names {option}: {message}"
            );
        }
        RunsIfMemoryAllows => match code {
            Some(0 | 1) => {}
            Some(2) => assert!(message.contains("memory available"), "{message}"),
            other => panic!("{args:?}: {other:?}: {message}"),
        },
    }
}

/// Runs every `(value, expectation)` of `option` in `base` plus the option.
fn table(base: &[&str], option: &str, cases: &[(&str, Expect)]) {
    for (value, expect) in cases {
        let mut args = base.to_vec();
        args.extend([option, value]);
        check(&args, *expect, option);
    }
}

fn solana_program() -> Vec<String> {
    // A Solana program: an ELF with the Solana syscalls.
    vec![
        "run".to_owned(),
        repo("examples/c/fib.o"),
        "--input-hex".to_owned(),
        "0a00000000000000".to_owned(),
    ]
}

fn strings(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn heap_of_a_solana_program_is_a_runtime_heap_frame() {
    let base = solana_program();
    table(
        &strings(&base),
        "--heap",
        &[
            ("0", Refused),
            ("1", Refused),
            ("31744", Refused),
            ("32768", Runs),
            ("33000", Refused),
            ("262144", Runs),
            ("262145", Refused),
            ("263168", Refused),
            ("68719476736", Refused),
            ("-1", Refused),
            ("lots", Refused),
            (U64_MAX, Refused),
            (PAST_U64, Refused),
        ],
    );
}

#[test]
fn heap_of_other_programs_is_at_most_one_gib() {
    let program = repo("examples/asm/fibonacci.s");
    table(
        &["run", &program, "--input-hex", "0a"],
        "--heap",
        &[
            ("0", Runs),
            ("1", Runs),
            ("1073741824", RunsIfMemoryAllows),
            ("1073741825", Refused),
            ("68719476736", Refused),
            ("-1", Refused),
            ("1e6", Refused),
            (U64_MAX, Refused),
            (PAST_U64, Refused),
        ],
    );
}

#[test]
fn budget_is_any_u64() {
    let base = solana_program();
    table(
        &strings(&base),
        "--budget",
        &[
            ("0", Runs),
            ("1", Runs),
            (U64_MAX, Runs),
            (PAST_U64, Refused),
            ("-1", Refused),
            ("many", Refused),
        ],
    );
}

#[test]
fn repeat_is_one_to_a_hundred_thousand() {
    let base = solana_program();
    table(
        &strings(&base),
        "--repeat",
        &[
            ("0", Refused),
            ("1", Runs),
            ("100000", Runs),
            ("100001", Refused),
            ("4294967295", Refused),
            ("-1", Refused),
            ("twice", Refused),
            (U64_MAX, Refused),
            (PAST_U64, Refused),
        ],
    );
}

#[test]
fn debug_checks_before_it_listens() {
    let mut base = solana_program();
    base[0] = "debug".to_owned();
    base.extend(["--port".to_owned(), "0".to_owned()]);
    let base = strings(&base);
    for (option, value) in [
        ("--heap", "68719476736"),
        ("--heap", U64_MAX),
        ("--heap", "0"),
        ("--repeat", "4294967295"),
        ("--input-hex", "zz"),
    ] {
        let mut args = base.clone();
        args.extend([option, value]);
        check(&args, Refused, option);
    }
    let program = repo("examples/c/fib.o");
    for value in ["65536", "-1", "port", U64_MAX] {
        check(&["debug", &program, "--port", value], Refused, "--port");
    }
}

#[test]
fn bench_iterations_are_one_to_ten_thousand() {
    table(
        &["bench"],
        "--iterations",
        &[
            ("0", Refused),
            ("10001", Refused),
            ("-1", Refused),
            ("x", Refused),
            (U64_MAX, Refused),
            (PAST_U64, Refused),
        ],
    );
}

#[test]
fn files_over_their_limit_are_refused_unread() {
    // Sparse files: their size is over the limit, their blocks are not allocated.
    let dir = scratch_dir("limits");
    let big_input = dir.join("input.bin");
    std::fs::File::create(&big_input)
        .unwrap()
        .set_len((1 << 30) + 1)
        .unwrap();
    let program = repo("examples/asm/fibonacci.s");
    check(
        &["run", &program, "--input", big_input.to_str().unwrap()],
        Refused,
        "--input",
    );
    let big_program = dir.join("program.bin");
    std::fs::File::create(&big_program)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    check(
        &["run", big_program.to_str().unwrap()],
        Refused,
        "the program",
    );
    check(
        &["info", big_program.to_str().unwrap()],
        Refused,
        "the file",
    );
}
