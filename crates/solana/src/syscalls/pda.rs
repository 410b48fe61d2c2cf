//! `sol_create_program_address` and `sol_try_find_program_address`.
//!
//! `(seeds_addr, seeds_count, program_id_addr, address_out[, bump_out])`. The runtime's
//! rules: 1,500 units first; the seed table is read, then more than 16 seeds or a seed longer
//! than 32 bytes aborts the program (`MaxSeedLengthExceeded`); then the seeds and the 32-byte
//! program id are read. `create` returns 1 when the seeds give no address (the hash is on the
//! curve) and otherwise writes 32 bytes and returns 0. `try_find` tries bumps 255 down to 1,
//! charging 1,500 more units after each failed try, writes the bump byte and the address
//! (which must not overlap) and returns 0, or 1 when no bump works.

use super::slices::read_table;
use crate::pubkey::{create_program_address, PdaError, Pubkey, MAX_SEEDS, MAX_SEED_LEN};
use bpfvm::syscalls::{charge, cost, fail, guest, SolanaHost, SyscallError};
use bpfvm::{MemoryMapping, RuntimeError};

/// The seeds and the program id a call names.
fn inputs<C: SolanaHost>(
    context: &mut C,
    mapping: &MemoryMapping<'_>,
    seeds_addr: u64,
    count: u64,
    program_id_addr: u64,
) -> Result<(Vec<Vec<u8>>, Pubkey), RuntimeError> {
    let table = read_table(mapping, seeds_addr, count)?;
    if table.len() > MAX_SEEDS {
        return Err(fail(context, SyscallError::MaxSeedLengthExceeded));
    }
    let mut seeds = Vec::with_capacity(table.len());
    for slice in table {
        if slice.len > MAX_SEED_LEN as u64 {
            return Err(fail(context, SyscallError::MaxSeedLengthExceeded));
        }
        seeds.push(guest::read(mapping, slice.addr, slice.len)?);
    }
    let mut program_id = [0u8; 32];
    program_id.copy_from_slice(&guest::read(mapping, program_id_addr, 32)?);
    Ok((seeds, Pubkey(program_id)))
}

/// `sol_create_program_address(seeds, count, program_id, address_out)`.
pub fn sol_create_program_address<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [seeds_addr, count, program_id_addr, address_addr, _]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::CREATE_PROGRAM_ADDRESS)?;
    let (seeds, program_id) = inputs(context, mapping, seeds_addr, count, program_id_addr)?;
    let seeds: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
    match create_program_address(&seeds, &program_id) {
        Ok(address) => {
            guest::check_writable(mapping, address_addr, 32)?;
            guest::write(mapping, address_addr, &address.0)?;
            Ok(0)
        }
        Err(PdaError::InvalidSeeds | PdaError::MaxSeedLengthExceeded) => Ok(1),
    }
}

/// `sol_try_find_program_address(seeds, count, program_id, address_out, bump_out)`.
pub fn sol_try_find_program_address<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [seeds_addr, count, program_id_addr, address_addr, bump_addr]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::CREATE_PROGRAM_ADDRESS)?;
    let (seeds, program_id) = inputs(context, mapping, seeds_addr, count, program_id_addr)?;
    let mut bump = u8::MAX;
    // 255 tries (bumps 255 down to 1), each failed try charged again, as the runtime loops.
    for _ in 0..u8::MAX {
        let bump_seed = [bump];
        let mut with_bump: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
        with_bump.push(&bump_seed);
        if let Ok(address) = create_program_address(&with_bump, &program_id) {
            guest::check_writable(mapping, bump_addr, 1)?;
            guest::check_writable(mapping, address_addr, 32)?;
            if !guest::disjoint(bump_addr, 1, address_addr, 32) {
                return Err(fail(context, SyscallError::CopyOverlapping));
            }
            guest::write(mapping, bump_addr, &[bump])?;
            guest::write(mapping, address_addr, &address.0)?;
            return Ok(0);
        }
        bump = bump.saturating_sub(1);
        charge(context, cost::CREATE_PROGRAM_ADDRESS)?;
    }
    Ok(1)
}
