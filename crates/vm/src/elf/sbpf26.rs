//! Loading an ELF file under one of the SBPF versions of solana-sbpf 0.26 (spec
//! `sbpf-0.26.md` §1.1 and §1.7).
//!
//! The version comes first, before the file is parsed: `e_flags` (the u32 at byte 48; a file
//! shorter than that is `ValueOutOfBounds`) must name a version (0 to 4; anything else,
//! among them the SBFv2 flag 0x20 of 2022, is `UnsupportedSBPFVersion`), the configuration
//! must enable it (the same error), and it must be the version of the profile that loads the
//! file (`SbpfVersionMismatch`, ours: 0.26 has no profile per version). Then V0 to V2 take
//! the lenient section-based loader, which is 0.2.38's legacy path with 0.26's changes
//! ([`Lenient::sbpf26`]), and V3 and V4 the strict program-header loader of SIMD-0189
//! ([`super::strict`]). A relocatable object (bpfvm's extension) is linked as the 2022
//! dialect links it, keyed as the version keys calls.

use super::load::{check_ident, load_shared, Lenient};
use super::parse::{Elf64, ParserRules, Reading};
use super::{rel, strict};
use crate::config::Config;
use crate::load_error::LoadError;
use crate::program::{Executable, Loader};
use bpfvm_isa::{Dialect, SbpfVersion};
use std::sync::Arc;

/// Where `e_flags` lies in the file header.
const E_FLAGS_OFFSET: usize = 48;

/// The `e_flags` of a file, or `ValueOutOfBounds` when it is too short to hold them.
pub(crate) fn e_flags(bytes: &[u8]) -> Result<u32, LoadError> {
    let field = bytes
        .get(E_FLAGS_OFFSET..E_FLAGS_OFFSET + 4)
        .ok_or(LoadError::ValueOutOfBounds)?;
    let mut word = [0u8; 4];
    word.copy_from_slice(field);
    Ok(u32::from_le_bytes(word))
}

/// The version `e_flags` name, if the configuration enables it.
pub(crate) fn enabled_version(config: &Config, e_flags: u32) -> Result<SbpfVersion, LoadError> {
    let enabled = config.enabled_sbpf_versions;
    SbpfVersion::from_e_flags(e_flags)
        .filter(|version| enabled.contains(*version))
        .ok_or(LoadError::UnsupportedSBPFVersion { e_flags, enabled })
}

/// Checks that a file's `e_flags` name `version` and that the configuration enables it.
pub(crate) fn check_version(
    config: &Config,
    version: SbpfVersion,
    e_flags: u32,
) -> Result<(), LoadError> {
    let found = enabled_version(config, e_flags)?;
    if found != version {
        return Err(LoadError::SbpfVersionMismatch {
            expected: version,
            found,
        });
    }
    Ok(())
}

/// Loads an ELF file of `version` (see the module doc).
pub(crate) fn load<C>(
    bytes: &[u8],
    loader: Arc<Loader<C>>,
    version: SbpfVersion,
) -> Result<Executable<C>, LoadError> {
    check_version(&loader.config, version, e_flags(bytes)?)?;
    if version.enable_stricter_elf_headers() {
        return strict::load(bytes, loader, version);
    }
    let elf = Elf64::parse_with(bytes, ParserRules::Sbpf26)
        .map_err(|error| error.into_load_error_26(bytes))?;
    check_ident(&elf)?;
    match elf.reading() {
        Reading::Object => rel::load_relocatable(&elf, loader, Dialect::Sbpf26(version)),
        Reading::Reference => {
            let rules = Lenient::sbpf26(loader.config, version);
            load_shared(&elf, loader, rules)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VersionRange;

    #[test]
    fn versions_come_from_e_flags_and_the_enabled_range() {
        let agave = Config::agave();
        assert_eq!(enabled_version(&agave, 3), Ok(SbpfVersion::V3));
        for refused in [4, 5, 0x20, u32::MAX] {
            assert_eq!(
                enabled_version(&agave, refused),
                Err(LoadError::UnsupportedSBPFVersion {
                    e_flags: refused,
                    enabled: VersionRange::AGAVE
                })
            );
        }
        assert_eq!(
            check_version(&agave, SbpfVersion::V0, 2),
            Err(LoadError::SbpfVersionMismatch {
                expected: SbpfVersion::V0,
                found: SbpfVersion::V2
            })
        );
        assert_eq!(e_flags(&[0; 51]), Err(LoadError::ValueOutOfBounds));
        let mut header = [0u8; 52];
        header[48] = 2;
        assert_eq!(e_flags(&header), Ok(2));
        let message = LoadError::UnsupportedSBPFVersion {
            e_flags: 0x20,
            enabled: VersionRange::AGAVE,
        }
        .to_string();
        assert!(message.contains("--config default"), "{message}");
    }
}
