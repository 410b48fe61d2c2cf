//! The `bpfvm` command end to end: the fixed interface of `run` (text and JSON output, exit
//! codes, input options, both backends), `verify`, `asm`, `info` and `bench`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

fn corpus(path: &str) -> String {
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

fn scratch(name: &str, contents: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("bpfvm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_string_lossy().into_owned()
}

fn bpfvm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfvm"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn json(args: &[&str]) -> (Value, i32) {
    let output = bpfvm(args);
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text}");
    (
        serde_json::from_str(&text).unwrap(),
        output.status.code().unwrap(),
    )
}

#[test]
fn run_prints_the_result_and_exits_zero() {
    let output = bpfvm(&[
        "run",
        &repo("examples/asm/fibonacci.s"),
        "--input-hex",
        "0a",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(text.contains("ok: r0 = 0x37 (55)"), "{text}");
    assert!(text.contains("instructions: 65"), "{text}");
}

#[test]
fn json_reports_errors_with_kind_and_fields_and_exit_one() {
    // mov64 r1, 0; div64 r0, r1; exit
    let source = scratch("div.s", b"mov64 r1, 0\ndiv64 r0, r1\nexit\n");
    let (report, code) = json(&["run", &source, "--json"]);
    assert_eq!(code, 1);
    assert_eq!(report["ok"], false);
    assert_eq!(report["error"]["kind"], "DivideByZero");
    assert_eq!(report["error"]["pc"], 1);
    assert_eq!(report["instructions"], 2);
    assert!(report["run_ns"].is_u64() && report["load_ns"].is_u64());
}

#[test]
// Needs the JIT: an x86-64 build with the `jit` feature.
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
fn both_backends_agree_on_a_c_example() {
    let fib = repo("examples/c/fib.o");
    let args = ["run", &fib, "--input-hex", "0a00000000000000", "--json"];
    let (interpreted, code) = json(&args);
    assert_eq!(code, 0);
    assert_eq!(interpreted["r0"], "0x37");
    let mut jit_args = args.to_vec();
    jit_args.extend(["--backend", "jit", "--repeat", "3"]);
    let (compiled, code) = json(&jit_args);
    assert_eq!(code, 0);
    assert_eq!(compiled["r0"], interpreted["r0"]);
    assert_eq!(compiled["instructions"], interpreted["instructions"]);
    assert!(compiled["compile_ns"].is_u64(), "{compiled}");
}

#[test]
fn bad_programs_and_usage_exit_two_with_one_line() {
    for args in [
        vec!["run".to_owned(), "/nonexistent/program.bin".to_owned()],
        vec!["run".to_owned(), scratch("odd.bin", &[0x95, 0, 0])],
        vec![
            "verify".to_owned(),
            scratch("bad.s", b"div64 r0, 0\nexit\n"),
        ],
        vec![
            "run".to_owned(),
            repo("examples/asm/fibonacci.s"),
            "--input-hex".to_owned(),
            "zz".to_owned(),
        ],
        vec!["info".to_owned(), repo("examples/asm/fibonacci.s")],
        vec!["run".to_owned(), scratch("garbage.so", b"\x7fELF garbage")],
    ] {
        let output = bpfvm(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let error = String::from_utf8(output.stderr).unwrap();
        assert_eq!(error.lines().count(), 1, "{args:?}: {error}");
        assert!(error.starts_with("bpfvm: "), "{error}");
    }
}

#[test]
fn verify_reports_the_verifier_error() {
    let output = bpfvm(&["verify", &scratch("shift.s", b"lsh64 r0, 64\nexit\n")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("shift by 64"));
    let output = bpfvm(&["verify", &repo("examples/asm/sum_calls.s")]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("ok: 20 instructions, 2 functions, entry at pc 0"));
}

#[test]
fn asm_output_runs_like_its_source() {
    let binary = std::env::temp_dir().join(format!("bpfvm-cli-{}-sum.bin", std::process::id()));
    let binary = binary.to_string_lossy().into_owned();
    let source = repo("examples/asm/sum_calls.s");
    let output = bpfvm(&["asm", &source, "-o", &binary]);
    assert_eq!(output.status.code(), Some(0));
    let input = ["--input-hex", "0102030405060708", "--json"];
    let (from_source, _) = json(&[&["run", source.as_str()][..], &input].concat());
    let (from_binary, _) = json(&[&["run", binary.as_str()][..], &input].concat());
    assert_eq!(from_source["r0"], "0x24");
    assert_eq!(from_binary["r0"], from_source["r0"]);
    assert_eq!(from_binary["instructions"], from_source["instructions"]);
    assert_eq!(from_binary["logs"], from_source["logs"]);
}

#[test]
fn input_is_mapped_writable_and_dumped() {
    // stb [r1+1], 0x7f; exit
    let source = scratch("store.s", b"stb [r1+1], 0x7f\nexit\n");
    let input = scratch("input.bin", &[1, 2, 3]);
    let (report, code) = json(&["run", &source, "--input", &input, "--dump-input", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(report["input_after"], "017f03");
}

#[test]
fn production_program_runs_from_instruction_data() {
    let memo = corpus("solana_programs/spl_memo-3.0.0.so");
    let (report, code) = json(&["run", &memo, "--instruction-data", "", "--json"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["r0"], "0x0");
    // The recorded 1,282 instructions, plus 100 units for its one sol_log_ call.
    assert_eq!(report["instructions"], 1282);
    assert_eq!(report["compute_units"], 1382);
    assert_eq!(report["logs"][0], "Program log: Memo (len 0): \"\"");
    // Free syscalls reproduce the reference's recorded count exactly.
    let (report, _) = json(&[
        "run",
        &memo,
        "--instruction-data",
        "",
        "--syscall-costs",
        "free",
        "--json",
    ]);
    assert_eq!(report["compute_units"], 1282);
}

#[test]
fn info_describes_relocations_and_imports() {
    let output = bpfvm(&["info", &corpus("solana_programs/spl_token-3.5.0.so")]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for needle in [
        "R_BPF_64_RELATIVE",
        "464",
        "sol_log_",
        "0x207559bd",
        "entrypoint",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[test]
fn bench_prints_a_row_per_program() {
    let output = bpfvm(&["bench", "--iterations", "1"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for program in [
        "empty_for_loop",
        "address_translation",
        "call_depth_dynamic",
        "primes_c",
    ] {
        assert!(text.contains(program), "{program} missing from:\n{text}");
    }
    assert!(text.contains("262145") && text.contains("655361"), "{text}");
}

#[test]
// Needs the JIT: an x86-64 build with the `jit` feature.
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
fn disasm_jit_shows_machine_code_beside_each_instruction() {
    let output = bpfvm(&["disasm", "--jit", &repo("examples/asm/fibonacci.s")]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    let load = lines
        .iter()
        .position(|l| l.ends_with("0: ldxb r2, [r1+0x0]"))
        .unwrap();
    // The byte load is translated inline and ends in a zero-extending byte move.
    let next = lines
        .iter()
        .skip(load + 1)
        .position(|l| l.contains("1: mov64 r0, 0"))
        .unwrap();
    assert!(
        lines[load + 1..load + 1 + next]
            .iter()
            .any(|l| l.contains("movzx")),
        "{text}"
    );
    assert!(lines.last().unwrap().contains("bytes of machine code"));
}
