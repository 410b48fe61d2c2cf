//! `bpfvm` on stock clang objects in the eBPF dialect: the four failures a user reported
//! (`--config ebpf` refused every ELF, `-mcpu=v3` objects ran in neither dialect, `-g` objects
//! did not load, no helper could be called by number), each run through the binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

fn objects(name: &str) -> String {
    repo(&format!("crates/testkit/tests/ebpf_objects/{name}"))
}

fn bpfvm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpfvm"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let output = bpfvm(args);
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn config_ebpf_loads_an_elf_object() {
    for backend in ["interpreter", "jit"] {
        let fib = repo("examples/c/fib.o");
        let args = [
            "run",
            &fib,
            "--config",
            "ebpf",
            "--input-hex",
            "0a00000000000000",
            "--backend",
            backend,
        ];
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("ok: r0 = 0x37 (55)"), "{out}");
    }
}

#[test]
fn auto_runs_a_v3_object_in_ebpf() {
    let object = objects("alu32.v3.o");
    let input = "0102030405060708";
    let (code, out, err) = run(&["run", &object, "--input-hex", input]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok: r0 = 0xf04e37659f42e "), "{out}");
    // Named legacy, the ALU32/JMP32 object does not verify in sBPF.
    let (code, _, err) = run(&["run", &object, "--config", "legacy", "--input-hex", input]);
    assert_eq!(code, 2);
    assert!(err.contains("verification failed"), "{err}");
}

#[test]
fn objects_with_debug_info_load() {
    for (object, config) in [("calls.v2.g.o", "legacy"), ("calls.v3.g.o", "ebpf")] {
        let object = objects(object);
        for args in [
            vec!["run", &object, "--input-hex", "01020304"],
            vec![
                "run",
                &object,
                "--config",
                config,
                "--input-hex",
                "01020304",
            ],
        ] {
            let (code, out, err) = run(&args);
            assert_eq!(code, 0, "{args:?}: {err}");
            assert!(out.starts_with("ok: r0 = 0x49f2 (18930)"), "{out}");
        }
        let (code, out, err) = run(&["info", &object]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(".debug_str_offsets"), "{out}");
    }
}

#[test]
fn helpers_are_called_by_number() {
    let object = objects("helpers.v2.o");
    let (code, out, err) = run(&[
        "run",
        &object,
        "--input-hex",
        "0102030405060708",
        "--dump-input",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok: r0 = 0xdcf8f9faa156d1f8"), "{out}");
    assert!(
        out.contains("2b28292e05060708"),
        "memfrob wrote the input: {out}"
    );
    // Without the helpers the first helper call is unsupported.
    let (code, out, _) = run(&[
        "run",
        &object,
        "--syscalls",
        "none",
        "--input-hex",
        "0102030405060708",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("UnsupportedInstruction"), "{out}");
}

#[test]
fn writable_globals_run_in_ebpf_and_are_refused_in_sbpf() {
    let object = objects("globals.v1.o");
    let (code, out, err) = run(&["run", &object, "--input-hex", "ff807f"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok: r0 = 0x661b12ce100fb8 "), "{out}");
    let (code, _, err) = run(&[
        "run",
        &object,
        "--config",
        "legacy",
        "--input-hex",
        "ff807f",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("writable section .data is not supported"),
        "{err}"
    );
}
