//! `bpfvm run PROGRAM.so` with a Solana instruction, end to end through the binary: SPL
//! Token instructions with accounts read from `solana account --output json` files, on both
//! backends (framed log, decoded result, compute units, account changes, JSON, exit codes),
//! bad arguments (exit 2), and the naming of imports no syscall serves (load warning, run
//! error, disassembly).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};

const TOKEN: &str = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
const RENT: &str = "SysvarRent111111111111111111111111111111111";

fn corpus(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/solana_programs")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn scratch(name: &str, contents: &str) -> String {
    let dir = std::env::temp_dir().join(format!("bpfvm-ix-{}", std::process::id()));
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn base58(bytes: &[u8]) -> String {
    bs58::encode(bytes).into_string()
}

/// An account file as `solana account --output json` writes it.
fn account_file(name: &str, pubkey: &str, lamports: u64, data: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let value = json!({
        "pubkey": pubkey,
        "account": {
            "lamports": lamports,
            "data": [encoded, "base64"],
            "owner": TOKEN,
            "executable": false,
            "rentEpoch": u64::MAX,
            "space": data.len(),
        }
    });
    scratch(name, &value.to_string())
}

/// Mint data after InitializeMint with authority `authority` and 6 decimals.
fn initialized_mint(authority: &[u8; 32], supply: u64) -> Vec<u8> {
    let mut out = 1u32.to_le_bytes().to_vec();
    out.extend_from_slice(authority);
    out.extend_from_slice(&supply.to_le_bytes());
    out.extend_from_slice(&[6, 1]);
    out.extend_from_slice(&[0; 36]);
    out
}

/// Token account data for `mint`/`owner` holding `amount`.
fn token_account(mint: &[u8; 32], owner: &[u8; 32], amount: u64) -> Vec<u8> {
    let mut out = mint.to_vec();
    out.extend_from_slice(owner);
    out.extend_from_slice(&amount.to_le_bytes());
    out.extend_from_slice(&[0; 36]);
    out.push(1);
    out.extend_from_slice(&[0; 12 + 8 + 36]);
    out
}

#[test]
fn initialize_mint_prints_the_framed_log_and_the_change() {
    let mint = base58(&[1; 32]);
    let file = account_file("mint.json", &mint, 1_461_600, &[0; 82]);
    let data = format!("0006{}00", "04".repeat(32));
    for backend in ["interpreter", "jit"] {
        let out = bpfvm(&[
            "run",
            &corpus("spl_token-3.5.0.so"),
            "--backend",
            backend,
            "--program-id",
            TOKEN,
            "--account",
            &file,
            "--meta",
            &format!("{mint}:writable"),
            "--meta",
            RENT,
            "--data-hex",
            &data,
        ]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], format!("Program {TOKEN} invoke [1]"));
        assert_eq!(lines[1], "Program log: Instruction: InitializeMint");
        assert!(
            lines[2].starts_with(&format!("Program {TOKEN} consumed ")),
            "{stdout}"
        );
        assert!(lines[2].ends_with(" of 200000 compute units"), "{stdout}");
        assert_eq!(lines[3], format!("Program {TOKEN} success"));
        assert!(stdout.contains("result: success\n"));
        assert!(stdout.contains(&format!("account {mint}\n")));
        // COption tag 1 and the authority, then decimals 6 and initialized.
        assert!(
            stdout.contains(&format!(
                "  data[0..36]: {} -> 01000000{}\n",
                "00".repeat(36),
                "04".repeat(32)
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains("  data[44..46]: 0000 -> 0601\n"),
            "{stdout}"
        );
        assert!(stdout.contains(&format!("account {RENT}\n  unchanged\n")));
    }
}

#[test]
fn transfers_report_json_and_a_failing_transfer_exits_one() {
    let (mint, alice, bob, owner) = ([1u8; 32], [2u8; 32], [3u8; 32], [4u8; 32]);
    let files = [
        account_file(
            "m.json",
            &base58(&mint),
            1_461_600,
            &initialized_mint(&owner, 1_000),
        ),
        account_file(
            "a.json",
            &base58(&alice),
            2_039_280,
            &token_account(&mint, &owner, 1_000),
        ),
        account_file(
            "b.json",
            &base58(&bob),
            2_039_280,
            &token_account(&mint, &owner, 0),
        ),
    ];
    let transfer = |amount: u64| {
        let mut data = vec![3u8];
        data.extend_from_slice(&amount.to_le_bytes());
        bs58::encode(data).into_string()
    };
    let program = corpus("spl_token-3.5.0.so");
    let mut reports = Vec::new();
    for backend in ["interpreter", "jit"] {
        let run = |amount: u64| {
            let data = transfer(amount);
            let metas = [
                format!("{}:w", base58(&alice)),
                format!("{}:writable", base58(&bob)),
                format!("{}:signer", base58(&owner)),
            ];
            let mut args = vec![
                "run",
                &program[..],
                "--backend",
                backend,
                "--json",
                "--program-id",
                TOKEN,
                "--data-base58",
                &data,
            ];
            for file in &files {
                args.extend(["--account", file]);
            }
            for meta in &metas {
                args.extend(["--meta", meta]);
            }
            let out = bpfvm(&args);
            let report: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
            (report, out.status.code())
        };
        let (report, code) = run(400);
        assert_eq!(code, Some(0), "{report}");
        assert_eq!(report["result"]["ok"], true);
        assert_eq!(
            report["accounts"][0]["data_after"],
            hex(&token_account(&mint, &owner, 600))
        );
        assert_eq!(
            report["accounts"][1]["data_after"],
            hex(&token_account(&mint, &owner, 400))
        );
        assert_eq!(report["accounts"][2]["changed"], false);
        assert_eq!(report["logs"][1], "Program log: Instruction: Transfer");
        let (failed, code) = run(5_000);
        assert_eq!(code, Some(1), "{failed}");
        assert_eq!(
            failed["result"],
            json!({"ok": false, "error": "Custom", "custom": 1, "message": "custom program error: 0x1"})
        );
        assert_eq!(failed["r0"], "0x1");
        assert_eq!(failed["accounts"][0]["changed"], false);
        let last = failed["logs"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            last,
            format!("Program {TOKEN} failed: custom program error: 0x1")
        );
        let units = failed["compute_units"].as_u64().unwrap();
        assert!(units > failed["instructions"].as_u64().unwrap() && units < 200_000);
        reports.push((report, failed));
    }
    assert_eq!(reports[0], reports[1], "both backends report the same");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn bad_instruction_arguments_exit_two() {
    let program = corpus("spl_token-3.5.0.so");
    let cases: [&[&str]; 4] = [
        &["--program-id", "not-a-key"],
        &["--meta", "11111111111111111111111111111111:owner"],
        &["--data-hex", "abc"],
        &["--account", "/nonexistent/account.json"],
    ];
    for case in cases {
        let mut args = vec!["run", &program[..]];
        args.extend_from_slice(case);
        let out = bpfvm(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{case:?}: {}",
            text(&out.stdout)
        );
        assert!(text(&out.stderr).starts_with("bpfvm: "), "{case:?}");
    }
}

#[test]
fn unserved_imports_are_named_at_load_run_and_disassembly() {
    let memo = corpus("spl_memo-3.0.0.so");
    let out = bpfvm(&["run", &memo, "--syscalls", "none", "--instruction-data", ""]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: unresolved import sol_log_"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: unresolved import abort"),
        "{stderr}"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("error: UnsupportedInstruction (unsupported syscall sol_log_ at pc "),
        "{stdout}"
    );
    let out = bpfvm(&[
        "run",
        &memo,
        "--syscalls",
        "none",
        "--instruction-data",
        "",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(report["error"]["kind"], "UnsupportedInstruction");
    assert_eq!(report["error"]["syscall"], "sol_log_");
    let listing = text(&bpfvm(&["disasm", &memo, "--syscalls", "none"]).stdout);
    assert!(listing.contains("sol_log_"), "the listing names the import");
}
