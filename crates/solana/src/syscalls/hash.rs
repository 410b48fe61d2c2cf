//! `sol_sha256`, `sol_keccak256` and `sol_blake3`: hash a table of slices into 32 bytes.
//!
//! `(slices_addr, count, result_addr)`. The rules of Agave's generic hash syscall: more than
//! 20,000 slices fail before anything is charged (`TooManySlices`); then 85 units; the
//! 32-byte result must be writable; then each slice costs max(10, len / 2) units. bpfvm
//! charges each slice before it reads it (Agave reads, then charges: only the order of two
//! errors when both apply differs), so a slice the budget cannot pay for is never read.

use super::slices::read_table;
use bpfvm::syscalls::{charge, cost, fail, guest, SolanaHost, SyscallError};
use bpfvm::{MemoryMapping, RuntimeError};
use sha2::Digest;

/// A hash function behind one of the syscalls.
trait Hasher: Default {
    fn update(&mut self, bytes: &[u8]);
    fn finish(self) -> [u8; 32];
}

#[derive(Default)]
struct Sha256(sha2::Sha256);

impl Hasher for Sha256 {
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

#[derive(Default)]
struct Keccak256(sha3::Keccak256);

impl Hasher for Keccak256 {
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

#[derive(Default)]
struct Blake3(blake3::Hasher);

impl Hasher for Blake3 {
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(self) -> [u8; 32] {
        *self.0.finalize().as_bytes()
    }
}

/// `sol_sha256(slices, count, result)`.
pub fn sol_sha256<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    hash::<C, Sha256>(context, mapping, args)
}

/// `sol_keccak256(slices, count, result)`.
pub fn sol_keccak256<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    hash::<C, Keccak256>(context, mapping, args)
}

/// `sol_blake3(slices, count, result)`.
pub fn sol_blake3<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    hash::<C, Blake3>(context, mapping, args)
}

fn hash<C: SolanaHost, H: Hasher>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [slices_addr, count, result_addr, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    if count > cost::HASH_MAX_SLICES {
        let max = cost::HASH_MAX_SLICES;
        return Err(fail(context, SyscallError::TooManySlices { count, max }));
    }
    charge(context, cost::HASH_BASE)?;
    guest::check_writable(mapping, result_addr, 32)?;
    let mut hasher = H::default();
    for slice in read_table(mapping, slices_addr, count)? {
        charge(context, cost::hash_slice(slice.len))?;
        hasher.update(&guest::read(mapping, slice.addr, slice.len)?);
    }
    guest::write(mapping, result_addr, &hasher.finish())?;
    Ok(0)
}
