//! The Solana syscalls beyond the engine's base set, and the registration of the whole set.
//!
//! [`register_syscalls`] registers these first and then the engine's base set
//! ([`bpfvm::syscalls::register_solana_syscalls`]: logging, memory operations, the allocator,
//! return data, abort and panic), so a program sees one set. Costs and failures follow the
//! engine's conventions: every charge is made before the work it pays for
//! ([`bpfvm::syscalls::cost`] has the table and its sources), guest memory is reached only
//! through the checked helpers of [`bpfvm::syscalls::guest`], and a failure with a reason of
//! its own is recorded in the context's state.

pub mod hash;
pub mod pda;
pub mod runtime;
pub mod secp256k1;
pub mod slices;

use bpfvm::syscalls::{register_solana_syscalls, SolanaHost};
use bpfvm::{LoadError, SyscallFn, SyscallRegistry};

/// The names this crate implements, in registration order.
pub const EXTENDED_SYSCALLS: [&str; 12] = [
    "sol_sha256",
    "sol_keccak256",
    "sol_blake3",
    "sol_secp256k1_recover",
    "sol_create_program_address",
    "sol_try_find_program_address",
    "sol_get_clock_sysvar",
    "sol_get_rent_sysvar",
    "sol_get_epoch_schedule_sysvar",
    "sol_log_data",
    "sol_remaining_compute_units",
    "sol_get_stack_height",
];

/// Registers the extended set and then the engine's base set.
pub fn register_syscalls<C: SolanaHost>(
    registry: &mut SyscallRegistry<C>,
) -> Result<(), LoadError> {
    let functions: [SyscallFn<C>; 12] = [
        hash::sol_sha256::<C>,
        hash::sol_keccak256::<C>,
        hash::sol_blake3::<C>,
        secp256k1::sol_secp256k1_recover::<C>,
        pda::sol_create_program_address::<C>,
        pda::sol_try_find_program_address::<C>,
        runtime::sol_get_clock_sysvar::<C>,
        runtime::sol_get_rent_sysvar::<C>,
        runtime::sol_get_epoch_schedule_sysvar::<C>,
        runtime::sol_log_data::<C>,
        runtime::sol_remaining_compute_units::<C>,
        runtime::sol_get_stack_height::<C>,
    ];
    for (name, function) in EXTENDED_SYSCALLS.iter().zip(functions) {
        registry.register(name, function)?;
    }
    register_solana_syscalls(registry)
}
