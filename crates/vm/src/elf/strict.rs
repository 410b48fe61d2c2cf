//! The strict loader of SBPF V3 and V4 (SIMD-0189; spec `sbpf-0.26.md` §1.7): the file is
//! read through its program headers alone, never relocated, and used in place.
//!
//! The file header must be exactly the expected one (magic, 64-bit, little-endian, ident
//! version 1, OS ABI 0, ABI version 0, zero padding, `e_machine` 247, version 1, program
//! headers right after the 64-byte header with 56-byte entries, at least one, inside the
//! file); the type and every section-header field are ignored. Any difference is the
//! parser's `InvalidFileHeader` (`FailedToParse("invalid file header")`).
//!
//! The program headers: when the first one's flags are exactly `PF_R`, it is the read-only
//! data at address 0 and a second one must follow (else `InvalidFileHeader`), the bytecode,
//! flags exactly `PF_X`, at `1 << 32`; otherwise the first one is the bytecode and there is
//! no read-only data. Each expected header is `PT_LOAD` with the exact flags, starts where
//! the previous one ended (the first right after the header table), strictly inside the
//! file, at a multiple of 8, at the expected physical and virtual address, with equal file
//! and memory sizes that are multiples of 8, fit the file and stay below 4 GiB. Further
//! headers are ignored. Any difference is `InvalidProgramHeader`.
//!
//! The entry must be a multiple of 8 whose slot lies inside the bytecode (else
//! `InvalidFileHeader`). With labels on, function symbols of `.symtab` become labels; any
//! failure there leaves the program without labels, never fails the load.

use super::parse::{Ehdr, Elf64, Phdr};
use crate::load_error::LoadError;
use crate::memory::AddressMap;
use crate::program::{
    Executable, ExecutableParts, FunctionRegistry, Loader, ProgramRegion, TextPlacement, ENTRYPOINT,
};
use bpfvm_isa::{Dialect, SbpfVersion, SLOT_SIZE};
use object::elf::{ELFCLASS64, ELFDATA2LSB, ELFMAG, EM_BPF, EV_CURRENT, PF_R, PF_X, PT_LOAD};
use object::pod::{from_bytes, slice_from_bytes};
use object::LittleEndian as LE;
use std::sync::Arc;

/// The file header's size.
const EHDR_SIZE: u64 = 64;
/// A program header's size.
const PHDR_SIZE: u64 = 56;
/// Segments stay below one region.
const REGION_SIZE: u64 = 1 << 32;
/// The slot size, as the alignment the offsets and sizes need.
const SLOT: u64 = SLOT_SIZE as u64;

/// The parser's `InvalidFileHeader`, as 0.26 reports it.
fn invalid_file_header() -> LoadError {
    LoadError::FailedToParse {
        reason: "invalid file header".to_owned(),
    }
}

/// The file header, checked (see the module doc), and the end of the program header table.
fn file_header(bytes: &[u8]) -> Result<(&Ehdr, u64), LoadError> {
    let (header, _) = from_bytes::<Ehdr>(bytes).map_err(|()| LoadError::ValueOutOfBounds)?;
    let ident = &header.e_ident;
    let phnum = u64::from(header.e_phnum.get(LE));
    let table_end = EHDR_SIZE.saturating_add(PHDR_SIZE.saturating_mul(phnum));
    let valid = ident.magic == ELFMAG
        && ident.class == ELFCLASS64
        && ident.data == ELFDATA2LSB
        && ident.version == EV_CURRENT
        && ident.os_abi == 0
        && ident.abi_version == 0
        && ident.padding == [0; 7]
        && header.e_machine.get(LE) == EM_BPF
        && header.e_version.get(LE) == u32::from(EV_CURRENT)
        && header.e_phoff.get(LE) == EHDR_SIZE
        && u64::from(header.e_ehsize.get(LE)) == EHDR_SIZE
        && u64::from(header.e_phentsize.get(LE)) == PHDR_SIZE
        && phnum != 0
        && table_end <= bytes.len() as u64;
    if !valid {
        return Err(invalid_file_header());
    }
    Ok((header, table_end))
}

/// Whether `header` is the expected segment with `flags` at `vaddr`, starting at `offset`.
fn segment_is(header: &Phdr, flags: u32, vaddr: u64, offset: u64, file_len: u64) -> bool {
    let p_offset = header.p_offset.get(LE);
    let p_filesz = header.p_filesz.get(LE);
    let p_memsz = header.p_memsz.get(LE);
    header.p_type.get(LE) == PT_LOAD
        && header.p_flags.get(LE) == flags
        && p_offset == offset
        && p_offset < file_len
        && p_offset % SLOT == 0
        && header.p_vaddr.get(LE) == vaddr
        && header.p_paddr.get(LE) == vaddr
        && p_filesz == p_memsz
        && p_filesz <= file_len.saturating_sub(p_offset)
        && p_filesz % SLOT == 0
        && p_memsz < REGION_SIZE
}

/// The read-only data's file range (possibly empty) and the bytecode's header.
fn segments<'a>(
    bytes: &'a [u8],
    header: &Ehdr,
    table_end: u64,
) -> Result<(core::ops::Range<u64>, &'a Phdr), LoadError> {
    let phnum = usize::from(header.e_phnum.get(LE));
    let table = bytes
        .get(EHDR_SIZE as usize..)
        .and_then(|rest| slice_from_bytes::<Phdr>(rest, phnum).ok())
        .map(|(table, _)| table)
        .ok_or_else(invalid_file_header)?;
    let map = AddressMap::LOWER_RODATA;
    let first = table.first().ok_or_else(invalid_file_header)?;
    let with_rodata = first.p_flags.get(LE) == PF_R;
    if with_rodata && table.len() < 2 {
        return Err(invalid_file_header());
    }
    let expected: &[(u32, u64)] = if with_rodata {
        &[(PF_R, map.rodata), (PF_X, map.program)]
    } else {
        &[(PF_X, map.program)]
    };
    let file_len = bytes.len() as u64;
    let mut offset = table_end;
    for (segment, &(flags, vaddr)) in table.iter().zip(expected) {
        if !segment_is(segment, flags, vaddr, offset, file_len) {
            return Err(LoadError::InvalidProgramHeader);
        }
        offset = offset.saturating_add(segment.p_filesz.get(LE));
    }
    let range = |segment: &Phdr| {
        let start = segment.p_offset.get(LE);
        start..start.saturating_add(segment.p_filesz.get(LE))
    };
    Ok(match (with_rodata, table.get(1)) {
        (true, Some(bytecode)) => (range(first), bytecode),
        (true, None) | (false, _) => (table_end..table_end, first),
    })
}

/// The entry slot: `e_entry` must be a multiple of 8 whose slot lies inside the bytecode.
fn entry_pc(e_entry: u64, bytecode: &Phdr) -> Result<usize, LoadError> {
    let start = bytecode.p_vaddr.get(LE);
    let end = start.saturating_add(bytecode.p_memsz.get(LE));
    let last_byte = e_entry.saturating_add(SLOT).saturating_sub(1);
    if !(start..end).contains(&last_byte) || e_entry % SLOT != 0 {
        return Err(invalid_file_header());
    }
    usize::try_from(e_entry.saturating_sub(start) / SLOT).map_err(|_| invalid_file_header())
}

/// Function labels from `.symtab`, keyed by pc (V3 calls are pc-relative, so keys are only
/// names); `None` on any failure.
fn labels<C>(
    bytes: &[u8],
    loader: &Loader<C>,
    version: SbpfVersion,
    bytecode: &Phdr,
    slots: usize,
) -> Option<FunctionRegistry> {
    let elf = Elf64::parse(bytes).ok()?;
    let start = bytecode.p_vaddr.get(LE);
    let mut functions = FunctionRegistry::new();
    for symbol in elf.symbols() {
        if symbol.st_info & 0xf != object::elf::STT_FUNC {
            continue;
        }
        let pc = symbol.st_value.get(LE).checked_sub(start)? / SLOT;
        let pc = usize::try_from(pc).ok().filter(|&pc| pc < slots)?;
        let name = elf.symbol_name(symbol.st_name.get(LE))?;
        functions
            .register(loader, Dialect::Sbpf26(version), pc, name)
            .ok()?;
    }
    Some(functions)
}

/// Loads a V3 or V4 file whose version was checked (see the module doc).
pub(crate) fn load<C>(
    bytes: &[u8],
    loader: Arc<Loader<C>>,
    version: SbpfVersion,
) -> Result<Executable<C>, LoadError> {
    let (header, table_end) = file_header(bytes)?;
    let (rodata, bytecode) = segments(bytes, header, table_end)?;
    let entry_pc = entry_pc(header.e_entry.get(LE), bytecode)?;
    let out_of_bounds =
        |value: u64| usize::try_from(value).map_err(|_| LoadError::ValueOutOfBounds);
    let text_offset = out_of_bounds(bytecode.p_offset.get(LE))?;
    let text_len = out_of_bounds(bytecode.p_filesz.get(LE))?;
    let slots = text_len / SLOT_SIZE;
    let mut functions = match loader.config.enable_symbol_and_section_labels {
        true => labels(bytes, &loader, version, bytecode, slots).unwrap_or_default(),
        false => FunctionRegistry::new(),
    };
    if functions.entrypoint_pc().is_none() {
        functions.register(&loader, Dialect::Sbpf26(version), entry_pc, ENTRYPOINT)?;
    }
    let map = AddressMap::LOWER_RODATA;
    let parts = ExecutableParts {
        ro_data: bytes.to_vec(),
        ro_start: out_of_bounds(rodata.start)?,
        ro_vaddr: map.rodata,
        text_offset,
        text_len,
        entry_pc,
        functions,
        program_region: ProgramRegion::ReadOnly,
        text_placement: TextPlacement::Apart {
            ro_len: out_of_bounds(rodata.end.saturating_sub(rodata.start))?,
            text_vaddr: map.program,
        },
    };
    Executable::from_parts(loader, Dialect::Sbpf26(version), parts)
}
