//! The lenient loader's identification checks and its read-only section rule, as the API
//! exposes them (`Executable::validate` and `Executable::parse_ro_sections`).

use super::consts::{ELFCLASS64, ELFDATA2LSB, ELFOSABI_NONE, EM_BPF, EM_SBPF, ET_DYN};
use super::types::Elf64Shdr;
use super::Elf64;
use crate::{
    ebpf,
    elf::{ElfError, Section},
    vm::Config,
};

/// The names of the sections the lenient loader maps read-only.
const RO_SECTIONS: [&[u8]; 4] = [b".text", b".rodata", b".data.rel.ro", b".eh_frame"];

/// Class, data, OS ABI, machine and type; one `.text`; no writable data; every section in the
/// file; the entry in `.text`.
pub(crate) fn validate(elf: &Elf64, elf_bytes: &[u8]) -> Result<(), ElfError> {
    let header = elf.file_header();
    if header.e_ident.ei_class != ELFCLASS64 {
        return Err(ElfError::WrongClass);
    }
    if header.e_ident.ei_data != ELFDATA2LSB {
        return Err(ElfError::WrongEndianess);
    }
    if header.e_ident.ei_osabi != ELFOSABI_NONE {
        return Err(ElfError::WrongAbi);
    }
    if header.e_machine != EM_BPF && header.e_machine != EM_SBPF {
        return Err(ElfError::WrongMachine);
    }
    if header.e_type != ET_DYN {
        return Err(ElfError::WrongType);
    }
    let texts: Vec<&Elf64Shdr> = elf
        .section_header_table()
        .iter()
        .filter(|section| elf.section_name(section.sh_name).ok() == Some(&b".text"[..]))
        .collect();
    if texts.len() != 1 {
        return Err(ElfError::NotOneTextSection);
    }
    for section in elf.section_header_table() {
        if let Ok(name) = elf.section_name(section.sh_name) {
            let data = name.starts_with(b".data") && !name.starts_with(b".data.rel");
            if name.starts_with(b".bss") || (section.is_writable() && data) {
                return Err(ElfError::WritableSectionNotSupported(
                    String::from_utf8_lossy(name).into_owned(),
                ));
            }
        }
    }
    for section in elf.section_header_table() {
        let end = section
            .sh_offset
            .checked_add(section.sh_size)
            .ok_or(ElfError::ValueOutOfBounds)?;
        elf_bytes
            .get(section.sh_offset as usize..end as usize)
            .ok_or(ElfError::ValueOutOfBounds)?;
    }
    let text = texts
        .first()
        .ok_or_else(|| ElfError::SectionNotFound(".text".to_owned()))?;
    if !text.vm_range().contains(&header.e_entry) {
        return Err(ElfError::EntrypointOutOfBounds);
    }
    Ok(())
}

/// One read-only section: its index among all sections, address and bytes.
struct RoSection<'a> {
    index: usize,
    addr: usize,
    data: &'a [u8],
}

/// The read-only section the lenient loader builds (see `Executable::parse_ro_sections`).
pub(crate) fn parse_ro_sections<'a, S: IntoIterator<Item = (Option<&'a [u8]>, &'a Elf64Shdr)>>(
    config: &Config,
    sections: S,
    elf_bytes: &[u8],
) -> Result<Section, ElfError> {
    let mut found = Vec::new();
    let mut misplaced = false;
    for (index, (name, header)) in sections.into_iter().enumerate() {
        if !name.is_some_and(|name| RO_SECTIONS.contains(&name)) {
            continue;
        }
        misplaced |= header.sh_addr != header.sh_offset;
        let beyond = header.sh_addr.saturating_add(ebpf::MM_REGION_SIZE) > ebpf::MM_STACK_START;
        if (config.reject_broken_elfs && misplaced) || beyond {
            return Err(ElfError::ValueOutOfBounds);
        }
        let data = elf_bytes
            .get(header.file_range().unwrap_or_default())
            .ok_or(ElfError::ValueOutOfBounds)?;
        found.push(RoSection {
            index,
            addr: header.sh_addr as usize,
            data,
        });
    }
    let lowest = found.iter().map(|s| s.addr).min().unwrap_or(usize::MAX);
    let highest = found
        .iter()
        .map(|s| s.addr.saturating_add(s.data.len()))
        .max()
        .unwrap_or(0);
    let filled: usize = found.iter().map(|s| s.data.len()).sum();
    if config.reject_broken_elfs && lowest.saturating_add(filled) > highest {
        return Err(ElfError::ValueOutOfBounds);
    }
    let contiguous = match (found.first(), found.last()) {
        (Some(first), Some(last)) => last.index + 1 - first.index == found.len(),
        _ => false,
    };
    let to_region = |addr: usize| match addr >= ebpf::MM_REGION_SIZE as usize {
        true => addr,
        false => addr.saturating_add(ebpf::MM_REGION_SIZE as usize),
    };
    if config.optimize_rodata && !misplaced && contiguous {
        return Ok(Section::Borrowed(to_region(lowest), lowest..highest));
    }
    // Copy the sections at their offsets; with `optimize_rodata` the copy starts at the
    // lowest section, else at address 0 (the whole span from the region start is mappable).
    let base = match config.optimize_rodata {
        true => lowest,
        false => 0,
    };
    let len = highest.saturating_sub(base);
    if len > elf_bytes.len() {
        return Err(ElfError::ValueOutOfBounds);
    }
    let mut image = vec![0u8; len];
    for section in found.iter().filter(|s| !s.data.is_empty()) {
        let start = section.addr.saturating_sub(base);
        if let Some(target) = image.get_mut(start..start + section.data.len()) {
            target.copy_from_slice(section.data);
        }
    }
    Ok(Section::Owned(to_region(base), image))
}
