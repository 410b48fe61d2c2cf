//! The ELF loader: sBPF shared objects as the reference loads them, and relocatable objects
//! straight from stock clang.
//!
//! - [`parse`] is the strict reader (the `object` crate's record types under our checks).
//! - [`load`] validates and loads a shared object (ET_DYN) exactly as the reference does
//!   (reference §8), with [`relocate`] and [`rodata`] doing relocation and the read-only image.
//! - [`rel`] links a relocatable object (ET_REL without program headers, what
//!   `clang -target bpf -c` writes) into one program image: an extension the reference lacks.
//! - [`describe`] is a readelf for sBPF ([`ElfInfo`]).
//!
//! Every input gives `Ok` or a named [`LoadError`]; no input panics, and memory is bounded by
//! a small multiple of the file size. ELF programs are always [`Dialect::Sbpf`].

mod describe;
mod load;
mod parse;
mod rel;
mod relocate;
mod rodata;

pub use describe::{
    describe, relocation_name, ElfInfo, FunctionInfo, RelocationInfo, SectionInfo, SegmentInfo,
};

use crate::config::Preset;
use crate::load_error::LoadError;
use crate::program::{Executable, Loader};
use bpfvm_isa::Dialect;
use object::elf::ET_REL;
use object::LittleEndian as LE;
use parse::Elf64;
use std::sync::Arc;

/// The `e_flags` value of SBFv2 files.
pub const EF_SBF_V2: u32 = relocate::EF_SBF_V2;

/// Loads an ELF file: a shared object as the reference does, or a relocatable object by
/// linking it first.
pub fn load<C>(bytes: &[u8], loader: Arc<Loader<C>>) -> Result<Executable<C>, LoadError> {
    let elf = Elf64::parse(bytes)?;
    load::check_ident(&elf)?;
    if is_relocatable_object(&elf) {
        return rel::load_relocatable(&elf, loader);
    }
    load::load_shared(&elf, loader)
}

/// A relocatable object is ET_REL without program headers; anything else that is not ET_DYN
/// keeps the reference's `WrongType`.
fn is_relocatable_object(elf: &Elf64<'_>) -> bool {
    elf.header().e_type.get(LE) == ET_REL && elf.program_headers().is_empty()
}

impl<C> Executable<C> {
    /// Loads an ELF file (see [`load`]). The dialect is sBPF.
    pub fn from_elf(bytes: &[u8], loader: Arc<Loader<C>>) -> Result<Self, LoadError> {
        load(bytes, loader)
    }
}

/// The preset an ELF file asks for: [`Preset::Default`] for SBFv2 files (`e_flags == 0x20`),
/// [`Preset::Legacy`] for every other ELF (the CLI's `--config auto`).
pub fn preset_for(bytes: &[u8]) -> Result<Preset, LoadError> {
    let elf = Elf64::parse(bytes)?;
    Ok(if elf.header().e_flags.get(LE) == EF_SBF_V2 {
        Preset::Default
    } else {
        Preset::Legacy
    })
}

/// Loads `bytes` under both sBPF presets and describes them, discarding the results: the
/// body of the fuzz target and of the mutation tests. It must return for every input.
pub fn exercise_loader(bytes: &[u8]) {
    for preset in [Preset::Default, Preset::Legacy] {
        let loader = Arc::new(Loader::<()>::new(preset.config()));
        if let Ok(executable) = load(bytes, loader) {
            debug_assert_eq!(executable.dialect(), Dialect::Sbpf);
            let _ = crate::verify(executable);
        }
    }
    if let Ok(info) = describe(bytes) {
        let _ = info.to_string();
    }
}
