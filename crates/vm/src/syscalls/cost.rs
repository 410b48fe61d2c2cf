//! The Solana runtime's compute costs: what each syscall charges, written down with its source.
//!
//! Every number here is a default of Agave (anza-xyz/agave): the struct
//! `SVMTransactionExecutionCost` and the budget constants of `solana-program-runtime`
//! (`program-runtime/src/execution_budget.rs`, re-exported by `solana-compute-budget` as
//! `ComputeBudget`), and each syscall's charge in `agave-syscalls` (formerly the syscalls
//! module of `solana-bpf-loader-program`): `syscalls/src/lib.rs`, `logging.rs`, `mem_ops.rs`
//! and `sysvar.rs`; the log cap is `log-collector/src/lib.rs`. They were read at these
//! anza-xyz/agave commits: `execution_budget.rs` 0eca9c3e, `syscalls/src/lib.rs` 0049c372,
//! `logging.rs` 29973aed, `mem_ops.rs` c2ab1244, `sysvar.rs` 17f186ef, `log-collector`
//! 0ae689e8 (the defaults are those of Agave's 2.x and 3.x releases). The rules, per syscall
//! (n = bytes):
//!
//! | syscall | units | charged |
//! |---|---|---|
//! | `sol_log_` | max(100, n) | before the string is read |
//! | `sol_log_64_` | 100 | first |
//! | `sol_log_pubkey` | 100 | first |
//! | `sol_log_compute_units_` | 100 | first (the line shows what remains after it) |
//! | `sol_log_data` | 100, then 100 per slice, then the total slice length | before the slice table, before the slices |
//! | `sol_memcpy_`, `sol_memmove_`, `sol_memset_`, `sol_memcmp_` | max(10, n / 250) | first |
//! | `sol_panic_` | n (the file name's length) | first |
//! | `sol_set_return_data` | 100 + n / 250 | first (then the 1,024-byte cap) |
//! | `sol_get_return_data` | 100, then (copied + 32) / 250 when something is copied | first, before the copy |
//! | `sol_sha256`, `sol_keccak256`, `sol_blake3` | 85, then max(10, n / 2) per slice; at most 20,000 slices | first, before each slice |
//! | `sol_secp256k1_recover` | 25,000 | first |
//! | `sol_create_program_address` | 1,500 | first |
//! | `sol_try_find_program_address` | 1,500 per bump tried | first, then before each further bump |
//! | `sol_get_clock_sysvar`, `sol_get_rent_sysvar`, `sol_get_epoch_schedule_sysvar` | 100 + the sysvar's size (40, 24, 40) | first |
//! | `sol_remaining_compute_units` | 100 | first (returns what remains after it) |
//! | `sol_get_stack_height` | 100 | first |
//! | `sol_alloc_free_`, `abort` | nothing | |
//!
//! A heap larger than the default 32 KiB costs 8 units per further 32 KiB page, charged once
//! before the program starts ([`heap_cost`]). An instruction's default budget is 200,000
//! units; a transaction's maximum is 1,400,000.
//!
//! A charge that exceeds what remains drains the budget and fails the syscall before its work
//! is done, as the runtime's `consume_checked` does (`ComputationalBudgetExceeded`).
//!
//! The reference's demonstration syscalls have no runtime price; bpfvm charges them by the
//! same rules so that their work is bounded by the budget too: `log` as `sol_log_`, `log_64`
//! and `trace_printf` as `sol_log_64_`, `gather_bytes` the base cost, `mem_frob` as a memory
//! operation over its length, and `str_cmp` as a memory operation over the bytes it reads
//! (two per position compared), checked as it goes so it never reads more than the budget
//! pays for.

/// The base cost of a syscall that does no measurable work (`syscall_base_cost`).
pub const SYSCALL_BASE: u64 = 100;
/// `sol_log_64_` (`log_64_units`).
pub const LOG_64: u64 = 100;
/// `sol_log_pubkey` (`log_pubkey_units`).
pub const LOG_PUBKEY: u64 = 100;
/// The minimum cost of a memory operation (`mem_op_base_cost`).
pub const MEM_OP_BASE: u64 = 10;
/// Bytes per unit for memory operations and return data (`cpi_bytes_per_unit`).
pub const CPI_BYTES_PER_UNIT: u64 = 250;
/// The base cost of a hash syscall (`sha256_base_cost`, also used for keccak256 and blake3).
pub const HASH_BASE: u64 = 85;
/// Units per two hashed bytes (`sha256_byte_cost`).
pub const HASH_BYTE: u64 = 1;
/// The most slices one hash syscall takes (`sha256_max_slices`).
pub const HASH_MAX_SLICES: u64 = 20_000;
/// `sol_secp256k1_recover` (`secp256k1_recover_cost`).
pub const SECP256K1_RECOVER: u64 = 25_000;
/// `sol_create_program_address`, and each bump of `sol_try_find_program_address`
/// (`create_program_address_units`).
pub const CREATE_PROGRAM_ADDRESS: u64 = 1_500;
/// The base cost of a sysvar getter (`sysvar_base_cost`); the sysvar's size is added.
pub const SYSVAR_BASE: u64 = 100;
/// `sol_remaining_compute_units` (`get_remaining_compute_units_cost`).
pub const GET_REMAINING_COMPUTE_UNITS: u64 = 100;
/// Units per 32 KiB heap page beyond the first (`heap_cost`).
pub const HEAP_PAGE: u64 = 8;
/// The heap page the heap cost counts in.
pub const HEAP_PAGE_BYTES: u64 = 32 * 1024;
/// An instruction's budget unless a transaction asks for another
/// (`DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT`).
pub const DEFAULT_INSTRUCTION_UNITS: u64 = 200_000;
/// The most units a transaction may ask for (`MAX_COMPUTE_UNIT_LIMIT`).
pub const MAX_TRANSACTION_UNITS: u64 = 1_400_000;

/// The cost of a memory operation over `n` bytes: max(10, n / 250).
pub fn mem_op(n: u64) -> u64 {
    MEM_OP_BASE.max(n / CPI_BYTES_PER_UNIT)
}

/// The cost of logging a string of `len` bytes: max(100, len).
pub fn log(len: u64) -> u64 {
    SYSCALL_BASE.max(len)
}

/// The cost of hashing one slice of `len` bytes: max(10, len / 2).
pub fn hash_slice(len: u64) -> u64 {
    MEM_OP_BASE.max(HASH_BYTE.saturating_mul(len / 2))
}

/// The cost of `sol_set_return_data` with `len` bytes: 100 + len / 250.
pub fn set_return_data(len: u64) -> u64 {
    SYSCALL_BASE.saturating_add(len / CPI_BYTES_PER_UNIT)
}

/// The cost of a sysvar getter for a sysvar of `size` bytes: 100 + size.
pub fn sysvar(size: u64) -> u64 {
    SYSVAR_BASE.saturating_add(size)
}

/// The one-time cost of a heap of `heap_size` bytes: 8 units per 32 KiB page after the first.
pub fn heap_cost(heap_size: u64) -> u64 {
    let pages = heap_size.div_ceil(HEAP_PAGE_BYTES);
    pages.saturating_sub(1).saturating_mul(HEAP_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_match_the_runtime_rules() {
        assert_eq!(mem_op(0), 10);
        assert_eq!(mem_op(2_499), 10);
        assert_eq!(mem_op(2_750), 11);
        assert_eq!(log(5), 100);
        assert_eq!(log(1_000), 1_000);
        assert_eq!(hash_slice(3), 10);
        assert_eq!(hash_slice(100), 50);
        assert_eq!(set_return_data(1_024), 104);
        assert_eq!(sysvar(40), 140);
        assert_eq!(heap_cost(32 * 1024), 0);
        assert_eq!(heap_cost(32 * 1024 + 1), 8);
        assert_eq!(heap_cost(256 * 1024), 56);
    }
}
