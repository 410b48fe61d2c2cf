//! The budgets and sizes a host gives a program when nobody says otherwise, named once so
//! that every host (the CLI, the debugger, the Solana instruction runner) agrees.
//!
//! The Solana figures are the runtime's (Agave's compute-budget program): a transaction may
//! ask for at most 1.4 million compute units, an instruction gets 200,000 when the
//! transaction does not ask, and a program's heap is 32 KiB unless the transaction requests a
//! larger frame, at most 256 KiB, in steps of 1 KiB. Programs that no runtime meters (eBPF,
//! raw bytecode, assembly) get [`DEFAULT_INSTRUCTION_BUDGET`]: finite, so that a program that
//! never ends still ends, and large enough for any test program to finish well inside it.
//!
//! This module holds figures only (the compute-unit ones are the cost table's,
//! [`crate::syscalls::cost`], named here beside the heap limits); a host checks its own
//! arguments against them.

/// The most compute units a Solana transaction may ask for (`MAX_COMPUTE_UNIT_LIMIT`): the
/// budget of a Solana program run on its own.
pub const SOLANA_MAX_COMPUTE_UNITS: u64 = crate::syscalls::cost::MAX_TRANSACTION_UNITS;

/// The compute units one instruction gets when its transaction does not set a limit
/// (`DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT`): the budget of an instruction run with
/// accounts.
pub const SOLANA_DEFAULT_INSTRUCTION_COMPUTE_UNITS: u64 =
    crate::syscalls::cost::DEFAULT_INSTRUCTION_UNITS;

/// The heap a Solana program gets by default (`MIN_HEAP_FRAME_BYTES`), also the smallest
/// frame a transaction may request.
pub const SOLANA_MIN_HEAP_SIZE: u64 = crate::syscalls::host::DEFAULT_HEAP_SIZE;

/// The largest heap frame a transaction may request (`MAX_HEAP_FRAME_BYTES`).
pub const SOLANA_MAX_HEAP_SIZE: u64 = 256 * 1024;

/// A requested heap frame is a multiple of this many bytes.
pub const SOLANA_HEAP_GRANULE: u64 = 1024;

/// The instruction budget of programs no runtime meters (eBPF, raw bytecode, assembly): one
/// hundred million instructions, under a second on either backend.
pub const DEFAULT_INSTRUCTION_BUDGET: u64 = 100_000_000;

/// The most bytes one memory region can span: regions start 4 GiB apart
/// ([`MM_HEAP_START`](crate::MM_HEAP_START), [`MM_INPUT_START`](crate::MM_INPUT_START), ...).
pub const MAX_REGION_SIZE: u64 = 1 << 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_holds_the_largest_heap() {
        assert_eq!(
            crate::MM_INPUT_START - crate::MM_HEAP_START,
            MAX_REGION_SIZE,
            "the heap region ends where the input region starts"
        );
    }
}
