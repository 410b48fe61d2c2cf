//! Loading a shared object (ET_DYN): validation, text placement, relocation, the entrypoint
//! and the read-only image, in the reference's order (§8.2 to §8.6).
//!
//! The order matters because the first failing check names the error: header fields, the
//! SBFv2 gating, program-header overflow, `.text` count, writable sections, section bounds,
//! the entry range; then the text placement; then relocation; then the entry alignment; then
//! the read-only sections.
//!
//! The same path is solana-sbpf 0.26's lenient loader for V0 to V2 ([`Lenient::sbpf26`]):
//! 0.26 removed the options that let 0.2.38 honour ELF virtual addresses, check the end of
//! read-only sections against the stack and key calls by pc, so its loader is 0.2.38's
//! legacy path with those fixed, plus three changes of its own: the version gating replaces
//! the SBFv2 gating (done before parsing, by the caller), a text starting *at* the stack is
//! refused too, and relocation symbol names are read through a 64-byte window.

use super::parse::{file_range, vm_range, Elf64, Shdr, SYMBOL_NAME_MAX};
use super::relocate::{Relocator, EF_SBF_V2};
use super::rodata::{hits_stack, ro_image, section_vaddr};
use crate::config::Config;
use crate::load_error::LoadError;
use crate::memory::AddressMap;
use crate::program::{
    Executable, ExecutableParts, FunctionRegistry, Loader, ProgramRegion, TextPlacement, ENTRYPOINT,
};
use bpfvm_isa::{hash_symbol_name, Dialect, SbpfVersion, SLOT_SIZE};
use object::elf::{ELFCLASS64, ELFDATA2LSB, EM_BPF, EM_SBF, ET_DYN, SHF_ALLOC, SHF_WRITE};
use object::LittleEndian as LE;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The identification checks shared by shared objects and relocatable objects (§8.2 steps
/// 1-4).
pub(crate) fn check_ident(elf: &Elf64<'_>) -> Result<(), LoadError> {
    let header = elf.header();
    if header.e_ident.class != ELFCLASS64 {
        return Err(LoadError::WrongClass);
    }
    if header.e_ident.data != ELFDATA2LSB {
        return Err(LoadError::WrongEndianess);
    }
    if header.e_ident.os_abi != 0 {
        return Err(LoadError::WrongAbi);
    }
    let machine = header.e_machine.get(LE);
    if machine != EM_BPF && machine != EM_SBF {
        return Err(LoadError::WrongMachine);
    }
    Ok(())
}

/// Which loader's rules the shared-object path follows (see the module doc).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lenient {
    /// The configuration the checks read (for 0.26, with the removed options fixed).
    pub(crate) config: Config,
    /// The dialect functions are registered in.
    pub(crate) dialect: Dialect,
}

impl Lenient {
    /// solana_rbpf 0.2.38's loader, configured by `config`.
    pub(crate) fn reference(config: Config) -> Lenient {
        Lenient {
            config,
            dialect: Dialect::Sbpf,
        }
    }

    /// solana-sbpf 0.26's lenient loader for `version` (V0 to V2).
    pub(crate) fn sbpf26(config: Config, version: SbpfVersion) -> Lenient {
        Lenient {
            config: Config {
                enable_elf_vaddr: false,
                reject_rodata_stack_overlap: false,
                static_syscalls: false,
                dynamic_stack_frames: false,
                external_internal_function_hash_collision: true,
                ..config
            },
            dialect: Dialect::Sbpf26(version),
        }
    }

    /// How many bytes of a relocation's symbol name are read (NUL included).
    pub(crate) fn symbol_name_window(&self) -> usize {
        match self.dialect {
            Dialect::Sbpf26(_) => SBPF26_SYMBOL_NAME_MAX,
            Dialect::Sbpf | Dialect::Ebpf => SYMBOL_NAME_MAX,
        }
    }

    /// Whether a text at `addr` of `size` bytes runs into the stack: 0.26 refuses a text
    /// that starts at the stack as well.
    fn text_hits_stack(&self, map: &AddressMap, addr: u64, size: u64) -> bool {
        match self.dialect {
            Dialect::Sbpf26(_) => section_vaddr(&self.config, map, addr) >= map.stack,
            Dialect::Sbpf | Dialect::Ebpf => hits_stack(&self.config, map, addr, size),
        }
    }
}

/// 0.26 reads relocation symbol names through a 64-byte window ("consensus relevant").
const SBPF26_SYMBOL_NAME_MAX: usize = 64;

/// The SBFv2 gating of §3: SBFv2 files need dynamic frames, and the default configuration
/// refuses every other file.
pub(crate) fn check_capabilities(config: &Config, e_flags: u32) -> Result<(), LoadError> {
    let refused = if e_flags == EF_SBF_V2 {
        !config.dynamic_stack_frames
    } else {
        config.dynamic_stack_frames
            && config.enable_elf_vaddr
            && config.reject_rodata_stack_overlap
            && config.static_syscalls
    };
    if refused {
        Err(LoadError::UnsupportedExecutableCapabilities)
    } else {
        Ok(())
    }
}

fn is_writable(section: &Shdr) -> bool {
    let flags = section.sh_flags.get(LE);
    let both = u64::from(SHF_ALLOC | SHF_WRITE);
    flags & both == both
}

/// §8.2 steps 5-11, after the identification checks; returns `.text`.
fn validate<'a>(rules: &Lenient, elf: &Elf64<'a>) -> Result<&'a Shdr, LoadError> {
    let config = &rules.config;
    let header = elf.header();
    if header.e_type.get(LE) != ET_DYN {
        return Err(LoadError::WrongType);
    }
    if rules.dialect == Dialect::Sbpf {
        check_capabilities(config, header.e_flags.get(LE))?;
    }
    if config.enable_elf_vaddr
        && elf.program_headers().iter().any(|segment| {
            segment
                .p_vaddr
                .get(LE)
                .checked_add(segment.p_memsz.get(LE))
                .is_none()
        })
    {
        return Err(LoadError::InvalidProgramHeader);
    }
    // Names as bytes: 0.26 counts and compares prefixes of bytes, UTF-8 or not (the 2022
    // parser refused names that are not UTF-8 before this point).
    let names: Vec<Option<&[u8]>> = elf
        .section_headers()
        .iter()
        .map(|section| elf.section_name_bytes(section))
        .collect();
    if names.iter().filter(|name| **name == Some(b".text")).count() != 1 {
        return Err(LoadError::NotOneTextSection);
    }
    for (name, section) in names.iter().zip(elf.section_headers()) {
        let Some(name) = name else { continue };
        let writable_data =
            is_writable(section) && name.starts_with(b".data") && !name.starts_with(b".data.rel");
        if name.starts_with(b".bss") || writable_data {
            return Err(LoadError::WritableSectionNotSupported {
                name: String::from_utf8_lossy(name).into_owned(),
            });
        }
    }
    for section in elf.section_headers() {
        let start = section.sh_offset.get(LE);
        let end = start
            .checked_add(section.sh_size.get(LE))
            .ok_or(LoadError::ValueOutOfBounds)?;
        elf.slice(start..end).ok_or(LoadError::ValueOutOfBounds)?;
    }
    let text = elf.section(".text").ok_or(LoadError::SectionNotFound {
        name: ".text".to_owned(),
    })?;
    if !vm_range(text).contains(&header.e_entry.get(LE)) {
        return Err(LoadError::EntrypointOutOfBounds);
    }
    Ok(text)
}

/// §8.3: the text's guest address, checked against the stack and (for broken files) its
/// file offset.
fn place_text(rules: &Lenient, map: &AddressMap, text: &Shdr) -> Result<u64, LoadError> {
    let config = &rules.config;
    let addr = text.sh_addr.get(LE);
    let broken =
        config.reject_broken_elfs && !config.enable_elf_vaddr && addr != text.sh_offset.get(LE);
    if broken || rules.text_hits_stack(map, addr, text.sh_size.get(LE)) {
        return Err(LoadError::ValueOutOfBounds);
    }
    Ok(section_vaddr(config, map, addr))
}

/// Registers the entrypoint (§8.5) and returns its slot.
fn register_entry<C>(
    loader: &Loader<C>,
    rules: &Lenient,
    functions: &mut FunctionRegistry,
    e_entry: u64,
    text: &Shdr,
) -> Result<usize, LoadError> {
    let offset = e_entry.saturating_sub(text.sh_addr.get(LE));
    if offset % SLOT_SIZE as u64 != 0 {
        return Err(LoadError::InvalidEntrypoint);
    }
    let pc =
        usize::try_from(offset / SLOT_SIZE as u64).map_err(|_| LoadError::InvalidEntrypoint)?;
    if !rules.config.static_syscalls {
        functions.remove(hash_symbol_name(ENTRYPOINT.as_bytes()));
    }
    functions.register(loader, rules.dialect, pc, ENTRYPOINT)?;
    Ok(pc)
}

/// Loads a parsed shared object whose identification was checked.
pub(crate) fn load_shared<C>(
    elf: &Elf64<'_>,
    loader: Arc<Loader<C>>,
    rules: Lenient,
) -> Result<Executable<C>, LoadError> {
    let config = rules.config;
    let map = loader.layout(rules.dialect).map;
    let text = validate(&rules, elf)?;
    let text_vaddr = place_text(&rules, &map, text)?;
    let mut bytes = elf.bytes().to_vec();
    let mut relocator = Relocator {
        elf,
        loader: &loader,
        rules,
        text,
        functions: FunctionRegistry::new(),
        symbol_keys: BTreeMap::new(),
    };
    relocator.relocate(&mut bytes)?;
    let mut functions = relocator.functions;
    let e_entry = elf.header().e_entry.get(LE);
    let entry_pc = register_entry(&loader, &rules, &mut functions, e_entry, text)?;
    let sections: Vec<_> = elf
        .section_headers()
        .iter()
        .map(|section| (elf.section_name(section), section))
        .collect();
    let image = ro_image(&config, &map, &sections, bytes)?;
    let text_range = file_range(text);
    let text_len = usize::try_from(text_range.end - text_range.start)
        .map_err(|_| LoadError::ValueOutOfBounds)?;
    let text_offset = text_vaddr
        .saturating_sub(map.program)
        .saturating_sub(image.offset);
    let parts = ExecutableParts {
        text_placement: TextPlacement::Mapped,
        ro_vaddr: map.program.saturating_add(image.offset),
        ro_data: image.bytes,
        ro_start: image.start,
        text_offset: usize::try_from(text_offset).map_err(|_| LoadError::ValueOutOfBounds)?,
        text_len,
        entry_pc,
        functions,
        program_region: ProgramRegion::ReadOnly,
    };
    Executable::from_parts(loader, rules.dialect, parts)
}
