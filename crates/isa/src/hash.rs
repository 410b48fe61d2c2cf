//! Murmur3 x86 32-bit, the hash that names syscalls and functions.
//!
//! sBPF keys every syscall by the Murmur3-32 (seed 0) of its name, and without static
//! syscalls also keys internal functions by the hash of their pc. The toolchain writes these
//! keys into `call` immediates, so the hash is part of the instruction encoding.

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

fn scramble(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

/// Murmur3 x86 32-bit of `data` with the given seed.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        h ^= scramble(k);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |acc, &byte| (acc << 8) | u32::from(byte));
        h ^= scramble(k);
    }
    // The length is mixed in modulo 2^32, as the algorithm specifies.
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The key of a syscall or symbol name: Murmur3-32 of its bytes with seed 0.
pub fn hash_symbol_name(name: &[u8]) -> u32 {
    murmur3_32(name, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_keys() {
        for (name, key) in [
            ("log", 0x6bf5_c3fe),
            ("log_64", 0x7044_2b49),
            ("entrypoint", 0x71e3_cf81),
            ("gather_bytes", 0x9102_0cdd),
            ("abort", 0xb6fc_1a11),
            ("sol_log_", 0x2075_59bd),
            ("sol_memcpy_", 0x717c_c4a3),
            ("sol_try_find_program_address", 0x4850_4a38),
            ("sol_get_processed_sibling_instruction", 0xadb8_efc8),
        ] {
            assert_eq!(hash_symbol_name(name.as_bytes()), key, "{name}");
        }
    }

    #[test]
    fn empty_input_with_seed() {
        assert_eq!(murmur3_32(b"", 0), 0);
        assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
    }
}
