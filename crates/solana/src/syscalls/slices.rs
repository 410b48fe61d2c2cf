//! Reading the slice tables several syscalls take: `count` pairs of (address u64, length u64)
//! at an 8-byte aligned guest address, as Rust's `&[&[u8]]` lays them out.

use bpfvm::syscalls::guest;
use bpfvm::{MemoryMapping, RuntimeError};

/// The bytes of one table entry.
const ENTRY: u64 = 16;

/// One slice of a table: where it is and how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestSlice {
    /// Its guest address.
    pub addr: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// Reads the table of `count` slices at `addr` (checked for alignment and mapping; the table
/// itself is `16 * count` bytes, so its size is bounded by the mapped memory).
pub fn read_table(
    mapping: &MemoryMapping<'_>,
    addr: u64,
    count: u64,
) -> Result<Vec<GuestSlice>, RuntimeError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    guest::check_aligned(addr, 8)?;
    let bytes = guest::read(mapping, addr, count.saturating_mul(ENTRY))?;
    Ok(bytes
        .chunks_exact(ENTRY as usize)
        .map(|entry| {
            let mut addr = [0u8; 8];
            let mut len = [0u8; 8];
            addr.copy_from_slice(&entry[..8]);
            len.copy_from_slice(&entry[8..]);
            GuestSlice {
                addr: u64::from_le_bytes(addr),
                len: u64::from_le_bytes(len),
            }
        })
        .collect())
}
