//! `invoke`'s result decoding and accounting on spl_memo-3.0.0: a budget too small is
//! `ComputationalBudgetExceeded`, a VM fault `ProgramFailedToComplete` with the fault in the
//! failure line, a heap above 32 KiB costs 8 units per extra 32 KiB page, and an error code
//! returned by the program decodes as the runtime decodes it; both backends agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::Backend;
use bpfvm_solana::invoke::InvokeError;
use bpfvm_solana::{invoke, load_program, Instruction, InstructionError, InvokeOptions, Pubkey};
use std::path::PathBuf;

fn memo() -> bpfvm_solana::SolanaProgram {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/solana_programs/spl_memo-3.0.0.so");
    let mut loaded = load_program(&std::fs::read(path).unwrap()).unwrap();
    loaded.program.jit_compile().unwrap();
    loaded
}

#[test]
fn results_and_units_decode_as_the_runtime_does() {
    let loaded = memo();
    let program_id: Pubkey = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
        .parse()
        .unwrap();
    let instruction = |data: &[u8]| Instruction {
        program_id,
        accounts: vec![],
        data: data.to_vec(),
    };
    for backend in [Backend::Interpreter, Backend::Jit] {
        let options = |budget, heap_size| InvokeOptions {
            budget,
            heap_size,
            backend,
            ..InvokeOptions::default()
        };
        let run = |data: &[u8], budget, heap| {
            invoke(
                &loaded.program,
                &instruction(data),
                &[],
                &options(budget, heap),
            )
            .unwrap()
        };
        // Success: units are instructions plus the one sol_log_ call's 100.
        let ok = run(b"hello memo", 200_000, 32 * 1024);
        assert_eq!(ok.result, Ok(()));
        assert_eq!(ok.compute_units, ok.instructions + 100);
        assert_eq!(ok.logs[1], "Program log: Memo (len 10): \"hello memo\"");
        // A 96 KiB heap costs 16 more units and changes nothing else.
        let big_heap = run(b"hello memo", 200_000, 96 * 1024);
        assert_eq!(big_heap.compute_units, ok.compute_units + 16);
        assert_eq!(big_heap.instructions, ok.instructions);
        // Above the runtime's 256 KiB heap: refused before anything runs.
        let error = invoke(
            &loaded.program,
            &instruction(b""),
            &[],
            &options(1_000, 256 * 1024 + 1),
        );
        assert_eq!(
            error,
            Err(InvokeError::HeapTooLarge {
                size: 256 * 1024 + 1
            })
        );
        // Invalid UTF-8: the program returns InvalidInstructionData (0x3_0000_0000).
        let invalid = run(&[0xff, 0xfe], 200_000, 32 * 1024);
        assert_eq!(
            invalid.result,
            Err(InstructionError::InvalidInstructionData)
        );
        assert_eq!(invalid.return_value, Some(0x3_0000_0000));
        assert!(invalid
            .logs
            .last()
            .unwrap()
            .ends_with("failed: invalid instruction data"));
        // Out of budget.
        let starved = run(b"hello memo", 500, 32 * 1024);
        assert_eq!(
            starved.result,
            Err(InstructionError::ComputationalBudgetExceeded)
        );
        assert_eq!(starved.compute_units, 500);
        assert!(starved
            .logs
            .last()
            .unwrap()
            .ends_with("failed: Computational budget exceeded"));
        // No heap: the allocator's first load faults.
        let faulted = run(b"hello memo", 200_000, 0);
        assert_eq!(
            faulted.result,
            Err(InstructionError::ProgramFailedToComplete)
        );
        assert!(faulted.vm_error.is_some());
        let last = faulted.logs.last().unwrap();
        // Under V0 (solana-sbpf 0.26) an address no region holds is "unallocated".
        assert!(
            last.contains("failed: access violation in unallocated region"),
            "{last}"
        );
    }
}
