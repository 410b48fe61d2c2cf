//! The ELF loader: sBPF shared objects as the reference loads them, and relocatable objects
//! straight from stock clang.
//!
//! - [`parse`] is the strict reader (the `object` crate's record types under our checks).
//! - [`load`] validates and loads a shared object (ET_DYN) exactly as the reference does
//!   (reference §8), with [`relocate`] and [`rodata`] doing relocation and the read-only image.
//! - [`rel`] links a relocatable object (ET_REL without program headers, what
//!   `clang -target bpf -c` writes) into one program image, in either dialect: an extension
//!   the reference lacks.
//! - [`sbpf26`] loads under an SBPF version of solana-sbpf 0.26: the version check first,
//!   then 0.26's lenient loader (the [`load`] path with 0.26's rules) for V0 to V2 or the
//!   strict program-header loader of SIMD-0189 ([`strict`]) for V3 and V4.
//! - [`dialect`] says which preset a file asks for ([`preset_for`], `--config auto`).
//! - [`describe`] is a readelf for sBPF ([`ElfInfo`]).
//!
//! [`load`] loads in the sBPF dialect (shared objects and relocatable objects);
//! [`load_in`] takes the dialect, and in [`Dialect::Ebpf`] loads relocatable objects only
//! (a shared object is `WrongType`); in [`Dialect::Sbpf26`] the file must name the dialect's
//! version in `e_flags`. Every input gives `Ok` or a named [`LoadError`]; no input
//! panics, and memory is bounded by a small multiple of the file size.

mod describe;
mod dialect;
mod load;
mod parse;
mod rel;
mod relocate;
mod rodata;
mod sbpf26;
mod strict;

pub use describe::{
    describe, relocation_name, ElfInfo, FunctionInfo, RelocationInfo, SectionInfo, SegmentInfo,
};
pub use dialect::preset_for;

use crate::config::Preset;
use crate::load_error::LoadError;
use crate::program::{Executable, Loader};
use bpfvm_isa::Dialect;
use parse::{Elf64, Reading};
use std::sync::Arc;

/// The `e_flags` value of SBFv2 files.
pub const EF_SBF_V2: u32 = relocate::EF_SBF_V2;

/// Loads an ELF file in the sBPF dialect: a shared object as the reference does, or a
/// relocatable object by linking it first.
pub fn load<C>(bytes: &[u8], loader: Arc<Loader<C>>) -> Result<Executable<C>, LoadError> {
    load_in(bytes, loader, Dialect::Sbpf)
}

/// Loads an ELF file in `dialect`. sBPF takes shared objects (as the reference does) and
/// relocatable objects; eBPF takes relocatable objects only (`WrongType` otherwise).
pub fn load_in<C>(
    bytes: &[u8],
    loader: Arc<Loader<C>>,
    dialect: Dialect,
) -> Result<Executable<C>, LoadError> {
    if let Dialect::Sbpf26(version) = dialect {
        return sbpf26::load(bytes, loader, version);
    }
    let elf = Elf64::parse(bytes)?;
    load::check_ident(&elf)?;
    match (elf.reading(), dialect) {
        (Reading::Object, dialect) => rel::load_relocatable(&elf, loader, dialect),
        (Reading::Reference, Dialect::Sbpf | Dialect::Sbpf26(_)) => {
            let rules = load::Lenient::reference(loader.config);
            load::load_shared(&elf, loader, rules)
        }
        (Reading::Reference, Dialect::Ebpf) => Err(LoadError::WrongType),
    }
}

impl<C> Executable<C> {
    /// Loads an ELF file in the sBPF dialect (see [`load`]).
    pub fn from_elf(bytes: &[u8], loader: Arc<Loader<C>>) -> Result<Self, LoadError> {
        load(bytes, loader)
    }

    /// Loads an ELF file in `dialect` (see [`load_in`]).
    pub fn from_elf_in(
        bytes: &[u8],
        loader: Arc<Loader<C>>,
        dialect: Dialect,
    ) -> Result<Self, LoadError> {
        load_in(bytes, loader, dialect)
    }
}

/// Loads `bytes` under every preset (both 2022 sBPF presets, eBPF and the five SBPF versions),
/// verifies what loads, picks a preset and describes the file, discarding the results: the
/// body of the fuzz target and of the mutation tests. It must return for every input.
pub fn exercise_loader(bytes: &[u8]) {
    for preset in Preset::ALL {
        let loader = Arc::new(Loader::<()>::new(preset.config()));
        if let Ok(executable) = load_in(bytes, loader, preset.dialect()) {
            debug_assert_eq!(executable.dialect(), preset.dialect());
            let _ = crate::verify(executable);
        }
    }
    let _ = preset_for(bytes);
    if let Ok(info) = describe(bytes) {
        let _ = info.to_string();
    }
}
