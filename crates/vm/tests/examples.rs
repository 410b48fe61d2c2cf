//! Runs the library examples (crates/vm/examples) and checks what they print, so CI exercises
//! them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../examples/ebpf_helper.rs"]
mod ebpf_helper;
#[path = "../examples/embed.rs"]
mod embed;
#[path = "../examples/solana_program.rs"]
mod solana_program;

use bpfvm::Backend;

#[test]
fn embed_example_squares_the_input_on_both_backends() {
    let results = embed::run_example().unwrap();
    let expected: Vec<_> = Backend::AVAILABLE
        .iter()
        .map(|&backend| (backend, 144, 16))
        .collect();
    assert_eq!(results, expected);
}

#[test]
fn solana_example_logs_on_both_backends() {
    let observed = solana_program::run_example().unwrap();
    assert_eq!(observed.len(), Backend::AVAILABLE.len());
    assert_eq!(observed[0].1, 5);
    assert_eq!(
        observed[0].3[..2],
        [
            "Program log: hello from C".to_owned(),
            "Program log: world".to_owned()
        ]
    );
    let (_, r0, count, logs) = &observed[0];
    for (_, other_r0, other_count, other_logs) in &observed[1..] {
        assert_eq!((r0, count, logs), (other_r0, other_count, other_logs));
    }
}

#[test]
fn ebpf_helper_example_calls_helpers_by_number_on_both_backends() {
    // sqrti(5 + 37) = 6.
    let results = ebpf_helper::run_example().unwrap();
    let expected: Vec<_> = Backend::AVAILABLE
        .iter()
        .map(|&backend| (backend, 6))
        .collect();
    assert_eq!(results, expected);
}
