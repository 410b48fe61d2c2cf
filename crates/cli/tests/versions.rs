//! The SBPF version profiles through the binary: `--config v0`..`v4` for assembly, raw
//! bytecode and ELF files, `--config auto` by `e_flags` (and its refusal of the SBFv2 flag,
//! naming `--config default`), the versions' mnemonics in `asm` and `disasm`, `verify`,
//! `info`'s version, and tracing, on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{bpfvm, corpus, json, scratch, stdout};

#[test]
fn each_version_runs_its_own_assembly_on_both_backends() {
    let programs: &[(&str, &str, &str)] = &[
        ("v2", "mov64 r0, -1\nuhmul64 r0, -1\nexit\n", "0xfffffffe"),
        ("v2", "mov32 r0, 5\nhor64 r0, 1\nexit\n", "0x100000005"),
        ("v1", "add64 r10, -64\nmov64 r0, r10\nexit\n", "0x20003ffc0"),
        (
            "v3",
            "mov32 r1, -1\njsgt32 r1, 0, +1\nmov64 r0, 7\nexit\n",
            "0x7",
        ),
        (
            "v0",
            "mov64 r0, 3\nsub64 r0, 10\nexit\n",
            "0xfffffffffffffff9",
        ),
        ("v4", "lddw r0, 0x100000001\nexit\n", "0x100000001"),
    ];
    for (index, (config, source, r0)) in programs.iter().enumerate() {
        let path = scratch("versions", &format!("p{index}.s"), source.as_bytes());
        for backend in ["interpreter", "jit"] {
            let (report, code) = json(&[
                "run",
                &path,
                "--config",
                config,
                "--backend",
                backend,
                "--json",
            ]);
            assert_eq!(code, 0, "{config} {source}: {report}");
            assert_eq!(report["r0"], *r0, "{config} {source}");
            assert_eq!(report["program"]["config"], *config);
            assert_eq!(report["program"]["dialect"], format!("sbpf-{config}"));
        }
    }
}

#[test]
fn errors_name_the_faulting_pc_under_0_26s_meter() {
    let path = scratch("versions", "meter.s", b"ja +1\nmov64 r0, 1\nexit\n");
    let (report, code) = json(&["run", &path, "--config", "v0", "--budget", "1", "--json"]);
    assert_eq!(code, 1, "{report}");
    // 0.26 stops before the jump's target, the 2022 rule at the fall-through.
    assert_eq!(report["error"]["kind"], "ExceededMaxInstructions");
    assert_eq!(report["error"]["pc"], 2, "{report}");
    let (legacy, _) = json(&[
        "run", &path, "--config", "legacy", "--budget", "1", "--json",
    ]);
    assert_eq!(legacy["error"]["pc"], 1, "{legacy}");
}

#[test]
fn auto_picks_the_version_from_e_flags_and_refuses_0x20() {
    let v3 = corpus("sbpf_elfs/rodata_section.so");
    let (report, code) = json(&["run", &v3, "--syscalls", "none", "--json"]);
    assert_eq!((code, report["r0"].as_str()), (0, Some("0x2a")), "{report}");
    assert_eq!(report["program"]["config"], "v3");
    let v0 = corpus("sbpf_elfs/rodata_section_sbpfv0.so");
    let (report, _) = json(&["run", &v0, "--syscalls", "none", "--json"]);
    assert_eq!(report["program"]["config"], "v0");
    // The SBFv2 flag of 2022: refused by auto, run by `default`.
    let sbfv2 = corpus("sbpf_elfs/firedancer/hello_solana_program_old_sbpf_v2.so");
    let output = bpfvm(&["run", &sbfv2]);
    assert_eq!(output.status.code(), Some(2));
    let message = common::stderr(&output);
    assert!(
        message.contains("UnsupportedSBPFVersion") || message.contains("unsupported SBPF version"),
        "{message}"
    );
    assert!(message.contains("--config default"), "{message}");
    let (report, _) = json(&["info", &v3, "--json"]);
    assert_eq!(report["header"]["sbpf_version"], "V3", "{report}");
    let text = stdout(&bpfvm(&["info", &v3]));
    assert!(text.contains("SBPF V3"), "{text}");
}

#[test]
fn asm_disasm_verify_and_trace_know_every_version() {
    let source = "mov64 r1, 6\nlmul64 r1, 7\nsrem32 r1, 5\nhor64 r1, 2\nmov64 r0, r1\nexit\n";
    let path = scratch("versions", "pqr.s", source.as_bytes());
    let out = scratch("versions", "pqr.bin", b"");
    let output = bpfvm(&["asm", &path, "-o", &out, "--config", "v2"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let listing = stdout(&bpfvm(&[
        "disasm", &out, "--config", "v2", "--format", "listing",
    ]));
    for mnemonic in ["lmul64 r1, 7", "srem32 r1, 5", "hor64 r1, 2"] {
        assert!(listing.contains(mnemonic), "{listing}");
    }
    let (report, code) = json(&["verify", &out, "--config", "v2", "--json"]);
    assert_eq!(code, 0, "{report}");
    // The same bytes are other instructions in V0: 0x96 and 0xe6 are unknown there.
    let (report, code) = json(&["verify", &out, "--config", "v0", "--json"]);
    assert_eq!(code, 2, "{report}");
    assert_eq!(report["error"]["kind"], "UnknownOpCode", "{report}");
    // A traced run prints one line per instruction.
    let output = bpfvm(&["run", &out, "--config", "v2", "--trace"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let trace = common::stderr(&output) + &stdout(&output);
    assert!(trace.lines().count() >= 6, "{trace}");
}
