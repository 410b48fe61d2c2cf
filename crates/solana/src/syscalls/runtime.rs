//! The syscalls that read the runtime around the program: the sysvar getters,
//! `sol_log_data`, `sol_remaining_compute_units` and `sol_get_stack_height`.
//!
//! - `sol_get_clock_sysvar(out)`, `sol_get_rent_sysvar(out)`,
//!   `sol_get_epoch_schedule_sysvar(out)`: 100 units plus the sysvar's size, then the
//!   8-aligned, writable `out` receives its in-memory form (40, 24 and 40 bytes) from
//!   [`SolanaState::sysvars`](bpfvm::syscalls::SolanaState::sysvars); returns 0.
//! - `sol_log_data(slices, count)`: 100 units, the slice table is read, 100 units per slice,
//!   then units equal to the total length; logs `"Program data: "` and each slice in base64,
//!   separated by spaces, stopping early once the line no longer fits under the log cap (the
//!   cap then truncates it, as the runtime's `program_data` does).
//! - `sol_remaining_compute_units()`: 100 units, then returns what remains.
//! - `sol_get_stack_height()`: 100 units, then returns the instruction stack height
//!   (1 for a transaction's own instruction).

use super::slices::read_table;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bpfvm::syscalls::{charge, cost, guest, SolanaHost};
use bpfvm::{MemoryMapping, RuntimeError};

/// The sysvars a getter can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SysvarKind {
    Clock,
    Rent,
    EpochSchedule,
}

fn get_sysvar<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    kind: SysvarKind,
    out: u64,
) -> Result<u64, RuntimeError> {
    let sysvars = context.solana().sysvars;
    let bytes = match kind {
        SysvarKind::Clock => sysvars.clock.to_bytes(),
        SysvarKind::Rent => sysvars.rent.to_bytes(),
        SysvarKind::EpochSchedule => sysvars.epoch_schedule.to_bytes(),
    };
    charge(context, cost::sysvar(bytes.len() as u64))?;
    guest::check_writable(mapping, out, bytes.len() as u64)?;
    guest::check_aligned(out, 8)?;
    guest::write(mapping, out, &bytes)?;
    Ok(0)
}

/// `sol_get_clock_sysvar(out)`.
pub fn sol_get_clock_sysvar<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [out, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    get_sysvar(context, mapping, SysvarKind::Clock, out)
}

/// `sol_get_rent_sysvar(out)`.
pub fn sol_get_rent_sysvar<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [out, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    get_sysvar(context, mapping, SysvarKind::Rent, out)
}

/// `sol_get_epoch_schedule_sysvar(out)`.
pub fn sol_get_epoch_schedule_sysvar<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [out, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    get_sysvar(context, mapping, SysvarKind::EpochSchedule, out)
}

/// `sol_log_data(slices, count)`.
pub fn sol_log_data<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [slices_addr, count, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::SYSCALL_BASE)?;
    let table = read_table(mapping, slices_addr, count)?;
    charge(
        context,
        cost::SYSCALL_BASE.saturating_mul(table.len() as u64),
    )?;
    let total = table
        .iter()
        .fold(0u64, |sum, slice| sum.saturating_add(slice.len));
    charge(context, total)?;
    let available = context.log_bytes_available();
    let mut line = String::from("Program data: ");
    for (index, slice) in table.iter().enumerate() {
        if available <= line.len() {
            break;
        }
        if index > 0 {
            line.push(' ');
        }
        STANDARD.encode_string(guest::read(mapping, slice.addr, slice.len)?, &mut line);
    }
    context.log_line(line);
    Ok(0)
}

/// `sol_remaining_compute_units()`.
pub fn sol_remaining_compute_units<C: SolanaHost>(
    context: &mut C,
    _: &mut MemoryMapping<'_>,
    _: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::GET_REMAINING_COMPUTE_UNITS)?;
    Ok(context.remaining())
}

/// `sol_get_stack_height()`.
pub fn sol_get_stack_height<C: SolanaHost>(
    context: &mut C,
    _: &mut MemoryMapping<'_>,
    _: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::SYSCALL_BASE)?;
    Ok(context.solana().stack_height)
}
