//! The command line's conventions: `-` for standard input and output, an objdump-like
//! `disasm`, CFG nodes labelled like the listing, `info` on any ELF file, and a finite default
//! budget for every kind of program, stated in `--help`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{bpfvm, bpfvm_with_stdin, corpus, json, repo, scratch, scratch_dir, stdout};

#[test]
fn programs_and_inputs_come_from_stdin() {
    // Assembly on stdin is told apart from bytecode by content.
    let output = bpfvm_with_stdin(
        &["run", "-", "--input-hex", "2a", "--json"],
        b"ldxb r0, [r1+0]\nexit\n",
    );
    let (report, code) = common::document(&output);
    assert_eq!((code, report["r0"].as_str()), (0, Some("0x2a")));
    assert_eq!(report["program"]["path"], "-");
    assert_eq!(report["program"]["kind"], "assembly");
    // An ELF on stdin.
    let fib = std::fs::read(repo("examples/c/fib.o")).unwrap();
    let output = bpfvm_with_stdin(
        &["run", "-", "--input-hex", "0a00000000000000", "--json"],
        &fib,
    );
    let (report, _) = common::document(&output);
    assert_eq!(report["r0"], "0x37");
    assert_eq!(report["program"]["kind"], "elf");
    // The input on stdin.
    let output = bpfvm_with_stdin(
        &["run", &repo("examples/c/fib.o"), "--input", "-", "--json"],
        &10u64.to_le_bytes(),
    );
    assert_eq!(common::document(&output).0["r0"], "0x37");
    // Not both.
    let output = bpfvm_with_stdin(&["run", "-", "--input", "-"], b"exit\n");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn dash_output_writes_to_stdout() {
    let source = repo("examples/asm/sum_calls.s");
    let file = scratch_dir("conventions").join("sum.bin");
    assert!(bpfvm(&["asm", &source, "-o", file.to_str().unwrap()])
        .status
        .success());
    let output = bpfvm(&["asm", &source, "-o", "-"]);
    assert!(output.status.success());
    assert_eq!(output.stdout, std::fs::read(&file).unwrap());
    // The assembled bytes run when piped back in.
    let output = bpfvm_with_stdin(
        &["run", "-", "--input-hex", "0102030405060708", "--json"],
        &output.stdout,
    );
    assert_eq!(common::document(&output).0["r0"], "0x24");
    let output = bpfvm(&["cfg", &source, "-o", "-"]);
    assert!(output.status.success());
    assert!(stdout(&output).starts_with("digraph cfg {\n"));
    assert!(stdout(&output).ends_with("}\n"));
}

#[test]
fn disasm_looks_like_objdump() {
    let output = bpfvm(&["disasm", &repo("examples/c/hello.o")]);
    assert!(output.status.success());
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"Disassembly of section .text:"), "{text}");
    for expected in [
        "0000000100000000 <entrypoint>:",
        "       0 100000000:  bf 17 00 00 00 00 00 00  mov64 r7, r1",
        "       2 100000010:  18 01 00 00 18 01 00 00 00 00 00 00 01 00 00 00  lddw r1, 0x100000118",
        "       5 100000028:  85 00 00 00 bd 59 75 20  syscall sol_log_",
        "\t\t\t0000000000000028:  R_BPF_64_32\tsol_log_",
        "lbb_8:",
    ] {
        assert!(lines.contains(&expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn disasm_names_imports_no_syscall_serves() {
    // Without registered syscalls the names come from the ELF's symbols.
    let output = bpfvm(&[
        "disasm",
        &corpus("solana_programs/spl_memo-3.0.0.so"),
        "--syscalls",
        "none",
    ]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("syscall sol_log_\n"), "{text}");
    assert!(text.contains("R_BPF_64_32\tsol_log_\n"));
}

#[test]
fn cfg_nodes_are_labelled_like_the_listing() {
    let output = bpfvm(&["cfg", &repo("examples/asm/sum_calls.s"), "-o", "-"]);
    let dot = stdout(&output);
    for label in ["entrypoint:", "lbb_3:", "function_load:"] {
        assert!(
            dot.contains(&format!("<td align=\"left\" colspan=\"2\">{label}</td>")),
            "{label} missing:\n{dot}"
        );
    }
}

/// fib.o with the name of its last section (`.symtab`) pointing past the string table: the
/// strict reader refuses it; info still describes it.
fn damaged_object() -> String {
    let mut bytes = std::fs::read(repo("examples/c/fib.o")).unwrap();
    let field = |bytes: &[u8], at: usize, len: usize| -> usize {
        let mut value = 0usize;
        for (i, byte) in bytes[at..at + len].iter().enumerate() {
            value |= usize::from(*byte) << (8 * i);
        }
        value
    };
    let section_headers = field(&bytes, 0x28, 8);
    let entry_size = field(&bytes, 0x3a, 2);
    let count = field(&bytes, 0x3c, 2);
    let last = section_headers + (count - 1) * entry_size;
    bytes[last..last + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    scratch("conventions", "damaged.o", &bytes)
}

#[test]
fn info_reads_elf_files_the_loader_refuses() {
    let damaged = damaged_object();
    assert_eq!(bpfvm(&["run", &damaged]).status.code(), Some(2));
    let output = bpfvm(&["info", &damaged]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(
        text.starts_with("note: the loader would refuse this file"),
        "{text}"
    );
    assert!(
        text.contains(".text") && text.contains("GLOBAL fib"),
        "{text}"
    );
    let (report, code) = json(&["info", &damaged, "--json"]);
    assert_eq!(code, 0);
    assert!(report["strict_reader_error"].is_string());
    let functions = report["functions"].as_array().unwrap();
    assert!(functions.iter().any(|f| f["name"] == "entrypoint"));
    // A host executable (this test's binary under test, an ELF file on Linux).
    let host = env!("CARGO_BIN_EXE_bpfvm");
    if std::fs::read(host).unwrap().starts_with(b"\x7fELF") {
        let (report, code) = json(&["info", host, "--json"]);
        assert_eq!(code, 0, "{report}");
        assert_ne!(report["header"]["machine"], 247);
        assert!(report["sections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == ".text"));
    }
}

#[test]
fn every_program_kind_has_a_finite_default_budget() {
    let help = stdout(&bpfvm(&["run", "--help"]));
    assert!(help.contains("1,400,000 for Solana programs"), "{help}");
    assert!(help.contains("100,000,000 for eBPF, raw"), "{help}");
    let endless = scratch("conventions", "endless.s", b"ja -1\nexit\n");
    for (args, budget) in [
        (vec!["--syscalls", "solana"], 1_400_000u64),
        (vec!["--backend", "jit"], 100_000_000),
        (vec!["--config", "ebpf", "--backend", "jit"], 100_000_000),
    ] {
        let mut command = vec!["run", endless.as_str(), "--json"];
        command.extend(&args);
        let (report, code) = json(&command);
        assert_eq!(code, 1, "{args:?}: {report}");
        assert_eq!(report["error"]["kind"], "ExceededMaxInstructions");
        assert_eq!(report["error"]["budget"], budget, "{args:?}");
        assert_eq!(report["budget"], budget);
    }
}

#[test]
fn the_readme_example_runs() {
    // The README's first command, as `bpfvm` on the PATH runs it.
    let output = bpfvm(&[
        "run",
        &repo("examples/c/fib.o"),
        "--input-hex",
        "0a00000000000000",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("ok: r0 = 0x37 (55)\n"));
}
