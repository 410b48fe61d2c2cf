#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! bpfvm's loader against the reference (solana_rbpf 0.2.38) on the corpus ELFs: the same
//! outcome (the same layout, or the same error kind) under several configurations.

mod elf_common;

use bpfvm::Config;
use elf_common::*;

/// The configurations compared: the two presets and the flags the loader reacts to.
fn configs() -> Vec<(&'static str, Config)> {
    let legacy = Config::legacy();
    vec![
        ("default", Config::default()),
        ("legacy", legacy),
        (
            "default, no optimize_rodata",
            Config {
                optimize_rodata: false,
                ..Config::default()
            },
        ),
        (
            "legacy, no optimize_rodata",
            Config {
                optimize_rodata: false,
                ..legacy
            },
        ),
        (
            "default, broken rejected",
            Config {
                reject_broken_elfs: true,
                ..Config::default()
            },
        ),
        (
            "legacy, broken rejected",
            Config {
                reject_broken_elfs: true,
                ..legacy
            },
        ),
        (
            "default, labels",
            Config {
                enable_symbol_and_section_labels: true,
                ..Config::default()
            },
        ),
        (
            "legacy, labels",
            Config {
                enable_symbol_and_section_labels: true,
                ..legacy
            },
        ),
        (
            "legacy, no vaddr",
            Config {
                enable_elf_vaddr: false,
                ..legacy
            },
        ),
        (
            "default, static syscalls off",
            Config {
                static_syscalls: false,
                ..Config::default()
            },
        ),
        (
            "legacy, no stack-overlap check",
            Config {
                reject_rodata_stack_overlap: false,
                ..legacy
            },
        ),
    ]
}

const SYSCALLS: [&str; 2] = ["log", "log_64"];

#[test]
fn corpus_loads_like_the_reference() {
    let mut files = rbpf_elfs();
    files.extend(production_elfs());
    let mut compared = 0;
    for file in &files {
        let bytes = read(file);
        for (label, config) in configs() {
            let expected = reference(&bytes, config, &SYSCALLS);
            let actual = ours(&bytes, config, &SYSCALLS);
            assert_eq!(actual, expected, "{file} under {label}");
            compared += 1;
        }
    }
    assert_eq!(compared, files.len() * configs().len());
    assert_eq!(files.len(), 23 + 9);
}
