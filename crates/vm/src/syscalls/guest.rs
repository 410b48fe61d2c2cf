//! Checked access to guest memory for syscalls, with the conventions of Solana's runtime
//! (public so that syscall sets in other crates follow the same conventions).
//!
//! A zero-length slice is never translated (any address is fine), as the runtime's
//! `translate_slice` does. Typed pointers are checked for alignment on the guest address;
//! every region starts at a multiple of 2^32, so this equals the runtime's host-pointer check
//! whenever the host buffers are aligned, and unlike it does not depend on the host allocator.

use super::error::SyscallError;
use crate::error::{AccessType, RuntimeError};
use crate::memory::MemoryMapping;

/// The bytes `[vaddr, vaddr + len)`, or an access violation (pc 0).
pub fn read(mapping: &MemoryMapping<'_>, vaddr: u64, len: u64) -> Result<Vec<u8>, RuntimeError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    mapping.read_bytes(vaddr, len)
}

/// Checks that `[vaddr, vaddr + len)` may be read, without copying it.
pub fn check_readable(
    mapping: &MemoryMapping<'_>,
    vaddr: u64,
    len: u64,
) -> Result<(), RuntimeError> {
    if len == 0 {
        return Ok(());
    }
    mapping.map(AccessType::Load, vaddr, len, 0).map(|_| ())
}

/// Checks that `[vaddr, vaddr + len)` may be written, without writing.
pub fn check_writable(
    mapping: &MemoryMapping<'_>,
    vaddr: u64,
    len: u64,
) -> Result<(), RuntimeError> {
    if len == 0 {
        return Ok(());
    }
    mapping.map(AccessType::Store, vaddr, len, 0).map(|_| ())
}

/// Writes `bytes` at `vaddr`.
pub fn write(
    mapping: &mut MemoryMapping<'_>,
    vaddr: u64,
    bytes: &[u8],
) -> Result<(), RuntimeError> {
    if bytes.is_empty() {
        return Ok(());
    }
    mapping.write_bytes(vaddr, bytes)
}

/// Fails unless `vaddr` is a multiple of `align`.
pub fn check_aligned(vaddr: u64, align: u64) -> Result<(), RuntimeError> {
    if align > 1 && vaddr % align != 0 {
        return Err(SyscallError::UnalignedPointer { vaddr, align }.into());
    }
    Ok(())
}

/// The string at `[vaddr, vaddr + len)`, cut at its first NUL byte, as UTF-8.
pub fn read_str(mapping: &MemoryMapping<'_>, vaddr: u64, len: u64) -> Result<String, RuntimeError> {
    let mut bytes = read(mapping, vaddr, len)?;
    if let Some(nul) = bytes.iter().position(|&byte| byte == 0) {
        bytes.truncate(nul);
    }
    String::from_utf8(bytes).map_err(|error| {
        SyscallError::InvalidString {
            bytes: error.into_bytes(),
        }
        .into()
    })
}

/// Whether `[a, a + len_a)` and `[b, b + len_b)` share no byte, computed without overflow.
pub fn disjoint(a: u64, len_a: u64, b: u64, len_b: u64) -> bool {
    if a > b {
        a - b >= len_b
    } else {
        b - a >= len_a
    }
}
