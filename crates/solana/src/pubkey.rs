//! Account addresses: 32 bytes shown in base58, and program-derived addresses.
//!
//! A program-derived address is SHA-256 of the seeds, the program id and the marker
//! `"ProgramDerivedAddress"`, accepted only when those 32 bytes are *not* a point on the
//! ed25519 curve (so no private key can exist for it; `curve25519-dalek` decides). At most 16
//! seeds of at most 32 bytes each.

use core::fmt;
use core::str::FromStr;
use curve25519_dalek::edwards::CompressedEdwardsY;
use sha2::{Digest, Sha256};

/// The most seeds of a program address.
pub const MAX_SEEDS: usize = 16;
/// The longest seed.
pub const MAX_SEED_LEN: usize = 32;
/// The marker hashed after the seeds and the program id.
const PDA_MARKER: &[u8] = b"ProgramDerivedAddress";

/// An account address.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pubkey(pub [u8; 32]);

impl Pubkey {
    /// The bytes.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }
}

impl fmt::Display for Pubkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).into_string())
    }
}

impl fmt::Debug for Pubkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsePubkeyError {
    /// The text.
    pub text: String,
}

impl fmt::Display for ParsePubkeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a base58 address of 32 bytes", self.text)
    }
}

impl std::error::Error for ParsePubkeyError {}

impl FromStr for Pubkey {
    type Err = ParsePubkeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParsePubkeyError {
            text: text.to_owned(),
        };
        // A 32-byte key is at most 44 base58 characters; refuse longer text before decoding.
        if text.len() > 44 {
            return Err(error());
        }
        let bytes = bs58::decode(text).into_vec().map_err(|_| error())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| error())?;
        Ok(Pubkey(bytes))
    }
}

/// Why a program address could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdaError {
    /// Too many seeds, or a seed too long.
    MaxSeedLengthExceeded,
    /// The hash is on the curve: these seeds give no program address.
    InvalidSeeds,
}

/// Whether 32 bytes are the compressed form of a point on the ed25519 curve.
pub fn is_on_curve(bytes: &[u8; 32]) -> bool {
    CompressedEdwardsY(*bytes).decompress().is_some()
}

/// The program address of `seeds` under `program_id`.
pub fn create_program_address(seeds: &[&[u8]], program_id: &Pubkey) -> Result<Pubkey, PdaError> {
    if seeds.len() > MAX_SEEDS || seeds.iter().any(|seed| seed.len() > MAX_SEED_LEN) {
        return Err(PdaError::MaxSeedLengthExceeded);
    }
    let mut hasher = Sha256::new();
    for seed in seeds {
        hasher.update(seed);
    }
    hasher.update(program_id.0);
    hasher.update(PDA_MARKER);
    let hash: [u8; 32] = hasher.finalize().into();
    if is_on_curve(&hash) {
        return Err(PdaError::InvalidSeeds);
    }
    Ok(Pubkey(hash))
}

/// The first program address of `seeds` plus one bump byte, trying 255 down to 1, with the
/// bump; `None` when none of them works.
pub fn find_program_address(seeds: &[&[u8]], program_id: &Pubkey) -> Option<(Pubkey, u8)> {
    (1..=u8::MAX).rev().find_map(|bump| {
        let bump_seed = [bump];
        let mut with_bump = seeds.to_vec();
        with_bump.push(&bump_seed);
        create_program_address(&with_bump, program_id)
            .ok()
            .map(|address| (address, bump))
    })
}
