//! `sol_secp256k1_recover(hash, recovery_id, signature, result)`: the public key that signed
//! a 32-byte message hash, as 64 bytes (x and y, without the 0x04 prefix).
//!
//! The runtime's rules: 25,000 units first; the 64-byte result must be writable, then the
//! hash (32 bytes) and the signature (64 bytes, r and s big-endian) are read. Bad input is a
//! return code, not an abort: 2 for a recovery id that is not 0..=3, 3 for a signature that
//! does not parse (r or s not below the group order) or recovers nothing. The arithmetic is
//! `libsecp256k1`, the crate the runtime uses, so edge cases agree.

use bpfvm::syscalls::{charge, cost, guest, SolanaHost};
use bpfvm::{MemoryMapping, RuntimeError};

/// Returned for a recovery id out of range.
pub const INVALID_RECOVERY_ID: u64 = 2;
/// Returned for a signature that does not parse or recover.
pub const INVALID_SIGNATURE: u64 = 3;

/// The recovery itself: the 64-byte key, or the syscall's error code.
pub fn recover(hash: &[u8; 32], recovery_id: u64, signature: &[u8; 64]) -> Result<[u8; 64], u64> {
    let message = libsecp256k1::Message::parse(hash);
    let id = u8::try_from(recovery_id).map_err(|_| INVALID_RECOVERY_ID)?;
    let id = libsecp256k1::RecoveryId::parse(id).map_err(|_| INVALID_RECOVERY_ID)?;
    let signature =
        libsecp256k1::Signature::parse_standard(signature).map_err(|_| INVALID_SIGNATURE)?;
    let key = libsecp256k1::recover(&message, &signature, &id).map_err(|_| INVALID_SIGNATURE)?;
    let serialized = key.serialize();
    let mut out = [0u8; 64];
    out.copy_from_slice(&serialized[1..65]);
    Ok(out)
}

/// `sol_secp256k1_recover(hash, recovery_id, signature, result)`.
pub fn sol_secp256k1_recover<C: SolanaHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [hash_addr, recovery_id, signature_addr, result_addr, _]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::SECP256K1_RECOVER)?;
    guest::check_writable(mapping, result_addr, 64)?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&guest::read(mapping, hash_addr, 32)?);
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&guest::read(mapping, signature_addr, 64)?);
    match recover(&hash, recovery_id, &signature) {
        Ok(key) => {
            guest::write(mapping, result_addr, &key)?;
            Ok(0)
        }
        Err(code) => Ok(code),
    }
}
