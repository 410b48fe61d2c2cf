//! `--json` end to end: every command prints exactly one JSON document on stdout for every
//! outcome (success, runtime error, assembler, load, verifier, usage and I/O failures), with
//! the fields the README's schemas promise, and traces never reach stdout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{bpfvm, corpus, document, json, repo, scratch, scratch_dir, stderr, stdout};

fn file(name: &str, contents: &[u8]) -> String {
    scratch("json", name, contents)
}

#[test]
fn run_success_names_the_program_and_its_configuration() {
    let (report, code) = json(&[
        "run",
        &repo("examples/c/hello.o"),
        "--input-hex",
        "0500000000000000776f726c64",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(report["ok"], true);
    assert_eq!(report["command"], "run");
    assert_eq!(report["r0"], "0x5");
    assert_eq!(report["instructions"], 33);
    // Three sol_log_ calls at the runtime's cost: 33 + 3 x max(100, len) + the memcpy's 10.
    assert_eq!(report["compute_units"], 343);
    assert_eq!(report["syscall_costs"], "solana");
    assert_eq!(report["logs"][0], "Program log: hello from C");
    assert_eq!(report["unresolved_imports"], serde_json::json!([]));
    let program = &report["program"];
    assert_eq!(program["kind"], "elf");
    assert_eq!(program["config"], "v0");
    assert_eq!(program["dialect"], "sbpf-v0");
    assert_eq!(program["syscalls"], "solana");
    assert_eq!(report["backend"], "interpreter");
    assert_eq!(report["budget"], 1_400_000, "a Solana program's default");
    assert_eq!(report["heap"], 32768);
    assert!(report["run_ns"].is_u64() && report["load_ns"].is_u64());
    assert!(report.get("error").is_none() && report.get("stage").is_none());
}

#[test]
fn run_errors_carry_the_stage_kind_and_fields() {
    let source = file("div.s", b"mov64 r1, 0\ndiv64 r0, r1\nexit\n");
    let (report, code) = json(&["--json", "run", &source, "--backend", "jit"]);
    assert_eq!(code, 1);
    assert_eq!(report["ok"], false);
    assert_eq!(report["stage"], "run");
    assert_eq!(report["error"]["kind"], "DivideByZero");
    assert_eq!(report["error"]["pc"], 1);
    assert!(report["message"].as_str().unwrap().contains("pc 1"));
    assert_eq!(report["instructions"], 2);
    assert_eq!(report["backend"], "jit");
    assert!(report["compile_ns"].is_u64());
    assert!(report.get("r0").is_none());
}

#[test]
fn failures_of_every_stage_are_documents() {
    let assembler = file("bad.s", b"mov64 r0, 1\nbogus r1\nexit\n");
    let verifier = file("shift.s", b"lsh64 r0, 64\nexit\n");
    let loader = file("garbage.so", b"\x7fELF garbage");
    let wrong_flags = corpus("solana_programs/spl_token-3.5.0.so");
    let valid = repo("examples/asm/fibonacci.s");
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["run", &assembler], "assemble", "Syntax"),
        (vec!["verify", &verifier], "verify", "ShiftWithOverflow"),
        (vec!["run", &loader], "load", "ValueOutOfBounds"),
        (
            vec!["verify", &wrong_flags, "--config", "default"],
            "load",
            "UnsupportedExecutableCapabilities",
        ),
        (vec!["run", "/nonexistent/p.bin"], "io", "Io"),
        (
            vec!["run", "--bogus", &assembler],
            "usage",
            "UnknownArgument",
        ),
        (vec!["run"], "usage", "MissingRequiredArgument"),
        (
            vec!["run", &assembler, "--heap", "x"],
            "usage",
            "ValueValidation",
        ),
        (vec!["bench", "--iterations", "0"], "usage", "OutOfRange"),
        (
            vec!["run", &valid, "--input-hex", "zz"],
            "usage",
            "InvalidValue",
        ),
    ];
    for (mut args, stage, kind) in cases {
        args.push("--json");
        let output = bpfvm(&args);
        let (report, code) = document(&output);
        assert_eq!(code, 2, "{args:?}: {report}");
        assert_eq!(report["ok"], false, "{args:?}");
        assert_eq!(report["stage"], stage, "{args:?}: {report}");
        assert_eq!(report["error"]["kind"], kind, "{args:?}: {report}");
        assert!(!report["message"].as_str().unwrap().is_empty());
        assert!(stderr(&output).is_empty(), "{args:?}: nothing on stderr");
    }
    let (report, _) = json(&["run", &assembler, "--json"]);
    assert_eq!(report["error"]["line"], 2);
    assert_eq!(report["error"]["column"], 1);
    let (report, _) = json(&["verify", &verifier, "--json"]);
    assert_eq!(report["error"]["pc"], 0);
    assert_eq!(report["program"]["config"], "default");
    let (report, _) = json(&["verify", &wrong_flags, "--config", "default", "--json"]);
    assert_eq!(report["program"]["config"], "default");
    let (report, _) = json(&["run", "--bogus", &assembler, "--json"]);
    assert_eq!(report["command"], "run");
    assert_eq!(report["error"]["option"], "--bogus");
    let (report, _) = json(&["--json"]);
    assert!(report["command"].is_null());
}

#[test]
fn help_with_json_is_a_document_too() {
    let (report, code) = json(&["run", "--help", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(report["command"], "run");
    assert!(report["help"].as_str().unwrap().contains("--budget"));
}

#[test]
fn traces_never_reach_stdout_before_the_json() {
    let fibonacci = repo("examples/asm/fibonacci.s");
    let output = bpfvm(&["run", &fibonacci, "--input-hex", "03", "--trace", "--json"]);
    let (report, code) = document(&output);
    assert_eq!(code, 0);
    assert_eq!(report["trace"]["file"], "-");
    assert_eq!(report["trace"]["lines"], 23);
    assert_eq!(stderr(&output).lines().count(), 23);
    let trace = scratch_dir("json").join("trace.txt");
    let trace = trace.to_str().unwrap();
    let (report, _) = json(&[
        "run",
        &fibonacci,
        "--input-hex",
        "03",
        "--trace-file",
        trace,
        "--json",
    ]);
    assert_eq!(report["trace"]["file"], trace);
    assert_eq!(std::fs::read_to_string(trace).unwrap().lines().count(), 23);
    // `--trace-file -` would put the trace on stdout: refused with --json.
    let (report, code) = json(&["run", &fibonacci, "--trace-file", "-", "--json"]);
    assert_eq!(
        (code, report["error"]["kind"].as_str()),
        (2, Some("Conflict"))
    );
}

#[test]
fn verify_reports_counts() {
    let (report, code) = json(&["verify", &repo("examples/asm/sum_calls.s"), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(report["command"], "verify");
    assert_eq!(report["instructions"], 20);
    assert_eq!(report["functions"], 2);
    assert_eq!(report["entry_pc"], 0);
    assert_eq!(report["program"]["syscalls"], "demo");
}

#[test]
fn disasm_lists_every_instruction_with_address_and_bytes() {
    let (report, code) = json(&["disasm", &repo("examples/c/hello.o"), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(report["text_address"], "0x100000000");
    let instructions = report["instructions"].as_array().unwrap();
    let first = &instructions[0];
    assert_eq!(first["pc"], 0);
    assert_eq!(first["address"], "0x100000000");
    assert_eq!(first["bytes"], "bf17000000000000");
    assert_eq!(first["label"], "entrypoint");
    assert_eq!(first["function"], true);
    let lddw = &instructions[2];
    assert_eq!(lddw["bytes"].as_str().unwrap().len(), 32, "two slots");
    assert_eq!(instructions[3]["pc"], 4);
    let log = &instructions[4];
    assert_eq!(log["text"], "syscall sol_log_");
    assert_eq!(log["relocations"][0]["type"], "R_BPF_64_32");
    assert_eq!(log["relocations"][0]["symbol"], "sol_log_");
    assert_eq!(report["functions"][0]["name"], "entrypoint");
}

#[test]
fn disasm_jit_lists_machine_code() {
    let (report, code) = json(&[
        "disasm",
        "--jit",
        &repo("examples/asm/fibonacci.s"),
        "--json",
    ]);
    assert_eq!(code, 0);
    let first = &report["instructions"][0];
    assert_eq!(first["text"], "ldxb r2, [r1+0x0]");
    assert!(!first["x86"].as_array().unwrap().is_empty());
    assert!(first["x86"][0]["offset"].is_u64());
    assert!(report["code_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn cfg_reports_blocks_and_writes_or_embeds_the_dot() {
    let example = repo("examples/asm/sum_calls.s");
    let dot = scratch_dir("json").join("cfg.dot");
    let (report, code) = json(&["cfg", &example, "-o", dot.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(report["output"], dot.to_str().unwrap());
    assert!(std::fs::read_to_string(&dot)
        .unwrap()
        .starts_with("digraph"));
    let blocks = report["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 5);
    let loop_head = blocks.iter().find(|b| b["start"] == 3).unwrap();
    assert_eq!(loop_head["label"], "lbb_3");
    assert_eq!(loop_head["dominator"], 0);
    assert_eq!(report["functions"][1]["name"], "function_load");
    let (report, _) = json(&["cfg", &example, "-o", "-", "--json"]);
    assert!(report["output"].is_null());
    assert!(report["dot"].as_str().unwrap().starts_with("digraph cfg {"));
}

#[test]
fn asm_reports_slots_and_embeds_bytes_for_stdout() {
    let example = repo("examples/asm/sum_calls.s");
    let out = scratch_dir("json").join("sum.bin");
    let (report, code) = json(&["asm", &example, "-o", out.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(report["slots"], 20);
    assert_eq!(report["dialect"], "sbpf");
    assert_eq!(report["functions"][1]["name"], "function_load");
    let written = std::fs::read(&out).unwrap();
    let (report, _) = json(&["asm", &example, "-o", "-", "--json"]);
    let hex: String = written.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(report["bytes"], hex);
}

#[test]
fn info_describes_an_elf_as_data() {
    let (report, code) = json(&[
        "info",
        &corpus("solana_programs/spl_token-3.5.0.so"),
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(report["header"]["machine"], 247);
    assert!(report["strict_reader_error"].is_null());
    let relocations = report["relocations"].as_array().unwrap();
    assert!(relocations.iter().any(|r| r["type"] == "R_BPF_64_RELATIVE"));
    let imports = report["imports"].as_array().unwrap();
    let log = imports.iter().find(|i| i["name"] == "sol_log_").unwrap();
    assert_eq!(log["key"], "0x207559bd");
    assert!(report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == ".text"));
}

#[test]
fn bench_reports_a_row_per_program() {
    let (report, code) = json(&["bench", "--iterations", "1", "--json"]);
    assert_eq!(code, 0);
    let programs = report["programs"].as_array().unwrap();
    assert_eq!(programs.len(), 7);
    assert_eq!(programs[0]["name"], "empty_for_loop");
    assert_eq!(programs[0]["instructions"], 262_145);
    assert!(programs[0]["jit_ns"].is_u64());
}

#[test]
fn text_output_is_unchanged_without_json() {
    let output = bpfvm(&["verify", &repo("examples/asm/sum_calls.s")]);
    assert_eq!(
        stdout(&output),
        "ok: 20 instructions, 2 functions, entry at pc 0\n"
    );
}

#[test]
fn debug_reports_the_run_and_the_session() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bpfvm"))
        .args([
            "debug",
            &repo("examples/asm/fibonacci.s"),
            "--input-hex",
            "0a",
            "--port",
            "0",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut waiting = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut waiting)
        .unwrap();
    let port = waiting
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap();
    let mut client = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    // A safety net against a hang, not a timing assertion.
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    // Detach ('D', checksum 0x44): the program runs on to its end.
    client.write_all(b"$D#44").unwrap();
    let mut reply = [0u8; 1];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+");
    let output = child.wait_with_output().unwrap();
    let (report, code) = document(&output);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["command"], "debug");
    assert_eq!(report["r0"], "0x37");
    assert_eq!(report["instructions"], 65);
    assert_eq!(report["session"], "detached");
    assert_eq!(report["program"]["kind"], "assembly");
    assert_eq!(report["budget"], 100_000_000);
}

const MEMO: &str = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr";

#[test]
fn an_instruction_is_a_run_document_with_its_budget() {
    let memo = corpus("solana_programs/spl_memo-3.0.0.so");
    let base = ["run", memo.as_str(), "--program-id", MEMO, "--json"];
    let (report, code) = json(&[&base[..], &["--data-hex", "68656c6c6f"]].concat());
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["command"], "run");
    assert_eq!(report["result"]["ok"], true);
    assert_eq!(
        report["budget"], 200_000,
        "the runtime's default per instruction"
    );
    assert_eq!(report["logs"][1], "Program log: Memo (len 5): \"hello\"");
    assert_eq!(report["program"]["config"], "v0");
    // Options that do not apply to an instruction, and its limits.
    for (extra, kind, option) in [
        (&["--budget", "5"][..], "Conflict", "--budget"),
        (&["--trace"][..], "Conflict", "--trace"),
        (&["--heap", "300000"][..], "OutOfRange", "--heap"),
        (
            &["--data-base58", "0OIl"][..],
            "InvalidValue",
            "--data-base58",
        ),
        (&["--meta", "nokey"][..], "InvalidValue", "--meta"),
    ] {
        let (report, code) = json(&[&base[..], extra].concat());
        assert_eq!(code, 2, "{extra:?}: {report}");
        assert_eq!(report["stage"], "usage", "{extra:?}");
        assert_eq!(report["error"]["kind"], kind, "{extra:?}: {report}");
        assert_eq!(report["error"]["option"], option, "{extra:?}");
    }
}
