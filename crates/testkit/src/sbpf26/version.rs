//! The SBPF versions of solana-sbpf 0.26 and how an ELF file names them.

use std::fmt;

/// An SBPF version as solana-sbpf 0.26 defines it (spec `sbpf-0.26.md` §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// The original instruction set, with 0.26's V0 semantics (spec §1.11).
    V0,
    /// V0 plus dynamic stack frames (SIMD-0166): `add64 r10, imm` moves the frame pointer.
    V1,
    /// V1 plus PQR, moved memory classes, `hor64`, no `lddw`/`le`/`neg`, callx in src.
    V2,
    /// The V0 instruction set plus JMP32, callx in dst, static syscalls and the strict ELF.
    V3,
    /// V3 with the aligned memory mapping forced.
    V4,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 5] = [
        Version::V0,
        Version::V1,
        Version::V2,
        Version::V3,
        Version::V4,
    ];

    /// The `e_flags` value an ELF file of this version carries.
    pub fn e_flags(self) -> u32 {
        match self {
            Version::V0 => 0,
            Version::V1 => 1,
            Version::V2 => 2,
            Version::V3 => 3,
            Version::V4 => 4,
        }
    }

    /// The version an ELF file's `e_flags` selects; `None` for the values 0.26 calls
    /// `Reserved` (anything above 4, among them the old SBFv2 flag 0x20).
    pub fn from_e_flags(e_flags: u32) -> Option<Version> {
        Version::ALL
            .into_iter()
            .find(|version| version.e_flags() == e_flags)
    }

    /// Whether the version loads ELF files with the strict program-header loader (SIMD-0189).
    pub fn strict_elf(self) -> bool {
        matches!(self, Version::V3 | Version::V4)
    }

    /// Whether calls leave r10 alone and the program moves it with `add64 r10, imm`.
    pub fn manual_frames(self) -> bool {
        matches!(self, Version::V1 | Version::V2)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "V{}", self.e_flags())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_flags_round_trip_and_reserved_values() {
        for version in Version::ALL {
            assert_eq!(Version::from_e_flags(version.e_flags()), Some(version));
        }
        for reserved in [5, 0x20, u32::MAX] {
            assert_eq!(Version::from_e_flags(reserved), None);
        }
        assert_eq!(Version::V3.to_string(), "V3");
    }
}
