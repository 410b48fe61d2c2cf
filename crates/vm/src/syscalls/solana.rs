//! The Solana syscall set: the functions deployed programs import, with the runtime's rules.
//!
//! Each syscall receives r1..r5 as `[u64; 5]` and follows the Solana runtime (bpf_loader):
//! - `sol_log_(addr, len)` logs the string up to its first NUL (UTF-8 or an error);
//!   `sol_log_64_` logs five values as `0x..` hex; `sol_log_pubkey(addr)` logs 32 bytes in
//!   base58; all three as the runtime frames them, `"Program log: <text>"`.
//!   `sol_log_compute_units_` logs "Program consumption: N units remaining".
//! - `sol_memcpy_(dst, src, n)` fails with `CopyOverlapping` when the guest ranges overlap
//!   (checked before any translation); `sol_memmove_` allows overlap; `sol_memset_(s, c, n)`
//!   fills with the low byte of `c`; `sol_memcmp_(a, b, n, out)` stores the i32 difference of
//!   the first differing bytes (0 if none) at the 4-byte aligned `out`. Destinations are
//!   checked before sources, as the runtime translates them.
//! - `abort` and `sol_panic_(file, len, line, column)` end the run with a `UserError` whose
//!   message names the reason ([`SyscallError`]).
//! - `sol_alloc_free_(size, free)` bump-allocates 8-byte aligned heap memory when `free` is 0
//!   and returns 0 when it does not fit; freeing does nothing and returns 0.
//! - `sol_set_return_data(addr, len)` (at most [`SolanaState::max_return_data`] bytes, 1,024 by
//!   default) and
//!   `sol_get_return_data(dst, len, program_id_out)`, which copies min(len, size) bytes and the
//!   owner's id, and returns the full size.
//! - Everything else programs of the corpus import ([`UNSUPPORTED_SYSCALLS`]) fails with
//!   `"unsupported syscall <name>"`, or returns 0 with [`Unsupported::ReturnZero`].
//!
//! Costs follow [`super::cost`] and are charged before the work; failures with a reason of
//! their own are recorded in [`SolanaState::failure`].
//!
//! [`Implemented::Stubs`] reproduces the harness the reference vectors were recorded with:
//! `sol_log_` logs, `abort` and `sol_panic_` fail, every other syscall returns 0 untouched.

use super::base58;
use super::cost;
use super::error::SyscallError;
use super::guest;
#[cfg(doc)]
use super::host::SolanaState;
use super::host::{charge, fail, SolanaHost, ALLOC_ALIGN};
use crate::error::RuntimeError;
use crate::load_error::LoadError;
use crate::memory::MemoryMapping;
use crate::program::{SyscallFn, SyscallRegistry};
use bpfvm_isa::hash_symbol_name;

/// What the unsupported syscalls do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unsupported {
    /// Fail with `"unsupported syscall <name>"`.
    #[default]
    Error,
    /// Return 0 and do nothing (the reference vectors' stubs).
    ReturnZero,
}

/// What the implemented syscalls do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Implemented {
    /// The runtime's semantics.
    #[default]
    Real,
    /// The recording harness of the reference vectors: `sol_log_` logs, `abort` and
    /// `sol_panic_` fail, the others return 0 and do nothing.
    Stubs,
}

/// How [`register_solana_syscalls_with`] registers the set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SolanaSyscallOptions {
    /// The implemented syscalls' behaviour.
    pub implemented: Implemented,
    /// The unsupported syscalls' behaviour.
    pub unsupported: Unsupported,
}

impl SolanaSyscallOptions {
    /// The harness the reference vectors were recorded with (corpus README §3.4).
    pub const REFERENCE_VECTORS: SolanaSyscallOptions = SolanaSyscallOptions {
        implemented: Implemented::Stubs,
        unsupported: Unsupported::ReturnZero,
    };
}

/// The names of the implemented syscalls, in registration order.
pub const SOLANA_SYSCALLS: [&str; 13] = [
    "abort",
    "sol_panic_",
    "sol_log_",
    "sol_log_64_",
    "sol_log_pubkey",
    "sol_log_compute_units_",
    "sol_memcpy_",
    "sol_memmove_",
    "sol_memset_",
    "sol_memcmp_",
    "sol_alloc_free_",
    "sol_set_return_data",
    "sol_get_return_data",
];

/// Syscalls the production programs import that this VM does not implement.
pub const UNSUPPORTED_SYSCALLS: [&str; 6] = [
    "sol_get_rent_sysvar",
    "sol_get_clock_sysvar",
    "sol_invoke_signed_rust",
    "sol_try_find_program_address",
    "sol_get_processed_sibling_instruction",
    "sol_get_stack_height",
];

/// Registers the Solana set with real semantics and an error for unsupported syscalls.
pub fn register_solana_syscalls<C: SolanaHost>(
    registry: &mut SyscallRegistry<C>,
) -> Result<(), LoadError> {
    register_solana_syscalls_with(registry, SolanaSyscallOptions::default())
}

/// Registers the Solana set as `options` say. An unsupported name that is already registered
/// keeps its registration, so a richer set can register its implementations first.
pub fn register_solana_syscalls_with<C: SolanaHost>(
    registry: &mut SyscallRegistry<C>,
    options: SolanaSyscallOptions,
) -> Result<(), LoadError> {
    registry.register("abort", abort::<C>)?;
    registry.register("sol_panic_", sol_panic::<C>)?;
    registry.register("sol_log_", sol_log::<C>)?;
    let real: [(&str, SyscallFn<C>); 10] = [
        ("sol_log_64_", sol_log_64::<C>),
        ("sol_log_pubkey", sol_log_pubkey::<C>),
        ("sol_log_compute_units_", sol_log_compute_units::<C>),
        ("sol_memcpy_", sol_memcpy::<C>),
        ("sol_memmove_", sol_memmove::<C>),
        ("sol_memset_", sol_memset::<C>),
        ("sol_memcmp_", sol_memcmp::<C>),
        ("sol_alloc_free_", sol_alloc_free::<C>),
        ("sol_set_return_data", sol_set_return_data::<C>),
        ("sol_get_return_data", sol_get_return_data::<C>),
    ];
    for (name, function) in real {
        let function = match options.implemented {
            Implemented::Real => function,
            Implemented::Stubs => return_zero::<C>,
        };
        registry.register(name, function)?;
    }
    let unsupported: [SyscallFn<C>; 6] = match options.unsupported {
        Unsupported::Error => [
            unsupported::<C, 0>,
            unsupported::<C, 1>,
            unsupported::<C, 2>,
            unsupported::<C, 3>,
            unsupported::<C, 4>,
            unsupported::<C, 5>,
        ],
        Unsupported::ReturnZero => [return_zero::<C>; 6],
    };
    for (name, function) in UNSUPPORTED_SYSCALLS.iter().zip(unsupported) {
        // A richer set (bpfvm-solana) registers its implementations first.
        if registry.contains(hash_symbol_name(name.as_bytes())) {
            continue;
        }
        registry.register(name, function)?;
    }
    Ok(())
}

/// A stub: returns 0 and does nothing.
fn return_zero<C>(_: &mut C, _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, RuntimeError> {
    Ok(0)
}

/// Fails with `"unsupported syscall <name>"` for `UNSUPPORTED_SYSCALLS[I]`.
fn unsupported<C, const I: usize>(
    _: &mut C,
    _: &mut MemoryMapping<'_>,
    _: [u64; 5],
) -> Result<u64, RuntimeError> {
    let name = UNSUPPORTED_SYSCALLS.get(I).copied().unwrap_or("<unknown>");
    Err(SyscallError::Unsupported { name }.into())
}

/// `abort()`: ends the run.
pub fn abort<C: SolanaHost>(
    context: &mut C,
    _: &mut MemoryMapping<'_>,
    _: [u64; 5],
) -> Result<u64, RuntimeError> {
    Err(fail(context, SyscallError::Abort))
}

/// `sol_panic_(file, len, line, column)`: ends the run with the panic location.
pub fn sol_panic<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [file, len, line, column, _]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, len)?;
    let file = guest::read_str(mapping, file, len)?;
    Err(fail(context, SyscallError::Panic { file, line, column }))
}

/// `sol_log_(addr, len)`: logs a string.
pub fn sol_log<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [addr, len, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::log(len))?;
    let message = guest::read_str(mapping, addr, len)?;
    context.log_line(format!("Program log: {message}"));
    Ok(0)
}

/// `sol_log_64_(a, b, c, d, e)`: logs five values in hex.
pub fn sol_log_64<C: SolanaHost>(
    context: &mut C,
    _: &mut MemoryMapping<'_>,
    [a, b, c, d, e]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::LOG_64)?;
    context.log_line(format!(
        "Program log: {a:#x}, {b:#x}, {c:#x}, {d:#x}, {e:#x}"
    ));
    Ok(0)
}

/// `sol_log_pubkey(addr)`: logs 32 bytes in base58.
pub fn sol_log_pubkey<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [addr, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::LOG_PUBKEY)?;
    let key = guest::read(mapping, addr, 32)?;
    context.log_line(format!("Program log: {}", base58::encode(&key)));
    Ok(0)
}

/// `sol_log_compute_units_()`: logs the remaining budget.
pub fn sol_log_compute_units<C: SolanaHost>(
    context: &mut C,
    _: &mut MemoryMapping<'_>,
    _: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::SYSCALL_BASE)?;
    let remaining = context.remaining();
    context.log_line(format!("Program consumption: {remaining} units remaining"));
    Ok(0)
}

/// `sol_memcpy_(dst, src, n)`: copies between non-overlapping ranges.
pub fn sol_memcpy<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [dst, src, n, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::mem_op(n))?;
    if !guest::disjoint(src, n, dst, n) {
        return Err(fail(context, SyscallError::CopyOverlapping));
    }
    copy(mapping, dst, src, n)
}

/// `sol_memmove_(dst, src, n)`: copies between possibly overlapping ranges.
pub fn sol_memmove<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [dst, src, n, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::mem_op(n))?;
    copy(mapping, dst, src, n)
}

/// Checks the destination, reads the source whole, then writes: correct under overlap.
fn copy(mapping: &mut MemoryMapping<'_>, dst: u64, src: u64, n: u64) -> Result<u64, RuntimeError> {
    guest::check_writable(mapping, dst, n)?;
    let bytes = guest::read(mapping, src, n)?;
    guest::write(mapping, dst, &bytes)?;
    Ok(0)
}

/// `sol_memset_(s, c, n)`: fills with the low byte of `c`.
pub fn sol_memset<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [s, c, n, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::mem_op(n))?;
    guest::check_writable(mapping, s, n)?;
    let fill = vec![c as u8; usize::try_from(n).unwrap_or(0)];
    guest::write(mapping, s, &fill)?;
    Ok(0)
}

/// `sol_memcmp_(a, b, n, out)`: stores the signed difference of the first differing bytes.
pub fn sol_memcmp<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [a, b, n, out, _]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::mem_op(n))?;
    guest::check_readable(mapping, a, n)?;
    guest::check_readable(mapping, b, n)?;
    guest::check_writable(mapping, out, 4)?;
    guest::check_aligned(out, 4)?;
    let difference =
        first_difference(mapping, a, b, n)?.map_or(0, |(x, y)| i32::from(x) - i32::from(y));
    guest::write(mapping, out, &difference.to_le_bytes())?;
    Ok(0)
}

/// The first pair of differing bytes of two mapped ranges, compared 4 KiB at a time (a slice
/// compare, which is a vectorised `memcmp`) without copying either range whole.
fn first_difference(
    mapping: &MemoryMapping<'_>,
    a: u64,
    b: u64,
    n: u64,
) -> Result<Option<(u8, u8)>, RuntimeError> {
    const BLOCK: u64 = 4096;
    let mut offset = 0;
    while offset < n {
        let len = BLOCK.min(n - offset);
        let left = guest::read(mapping, a + offset, len)?;
        let right = guest::read(mapping, b + offset, len)?;
        if left != right {
            let pair = left.iter().zip(&right).find(|(x, y)| x != y);
            return Ok(pair.map(|(&x, &y)| (x, y)));
        }
        offset += len;
    }
    Ok(None)
}

/// `sol_alloc_free_(size, free)`: bump allocation from the heap; freeing is a no-op.
pub fn sol_alloc_free<C: SolanaHost>(
    context: &mut C,
    _: &mut MemoryMapping<'_>,
    [size, free, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    if free != 0 {
        return Ok(0);
    }
    Ok(context
        .solana()
        .allocator
        .alloc(size, ALLOC_ALIGN)
        .unwrap_or(0))
}

/// `sol_set_return_data(addr, len)`: replaces the return data (at most 1024 bytes).
pub fn sol_set_return_data<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [addr, len, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::set_return_data(len))?;
    let max = context.solana().max_return_data;
    if len > max {
        return Err(fail(context, SyscallError::ReturnDataTooLarge { len, max }));
    }
    let data = guest::read(mapping, addr, len)?;
    let state = context.solana();
    state.return_data.program_id = state.program_id;
    state.return_data.data = data;
    Ok(0)
}

/// `sol_get_return_data(dst, len, program_id_out)`: copies the return data and its owner;
/// returns the data's full size.
pub fn sol_get_return_data<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [dst, len, program_id_out, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::SYSCALL_BASE)?;
    let return_data = context.solana().return_data.clone();
    let size = return_data.data.len() as u64;
    let length = len.min(size);
    if length != 0 {
        charge(
            context,
            length.saturating_add(32) / cost::CPI_BYTES_PER_UNIT,
        )?;
        guest::check_writable(mapping, dst, length)?;
        guest::check_writable(mapping, program_id_out, 32)?;
        if !guest::disjoint(dst, length, program_id_out, 32) {
            return Err(fail(context, SyscallError::CopyOverlapping));
        }
        let copied = return_data.data.get(..length as usize).unwrap_or_default();
        guest::write(mapping, dst, copied)?;
        guest::write(mapping, program_id_out, &return_data.program_id)?;
    }
    Ok(size)
}
