//! The read-only image of a shared object: which sections are mapped and where (reference §8.6).
//!
//! Only `.text`, `.rodata`, `.data.rel.ro` and `.eh_frame` are mapped, at their section
//! addresses relative to the program region's start. The reference has two representations of the
//! result: "borrowed" (a byte range of the relocated file, used when the sections are adjacent
//! in the header table and translated by one constant from their file offsets) and "owned" (a
//! zeroed buffer with each section copied to its address). Both produce the same guest-visible
//! bytes, so we always build the bytes; what differs between the two, and what we reproduce,
//! is the mapped span: borrowed maps the file bytes between the lowest and highest section
//! (including whatever lies between them in the file), owned maps zeroes there, and owned
//! without `optimize_rodata` also maps zeroes from the program region's start up to the first section.
//!
//! The buffer is never longer than the file (an owned span longer than the file is
//! `ValueOutOfBounds`, as in the reference), so memory stays bounded by the input size.

use super::parse::{file_range, Shdr};
use crate::config::Config;
use crate::load_error::LoadError;
use crate::memory::AddressMap;
use object::LittleEndian as LE;

/// The sections the loader maps.
const RO_SECTIONS: [&str; 4] = [".text", ".rodata", ".data.rel.ro", ".eh_frame"];

/// The mapped read-only bytes and where they start, as an offset from the program region's start.
pub(crate) struct RoImage {
    /// Offset of `bytes[start]` from the program region's start.
    pub(crate) offset: u64,
    /// The mapped bytes are `bytes[start..]`.
    pub(crate) bytes: Vec<u8>,
    /// How many leading bytes of `bytes` are not mapped.
    pub(crate) start: usize,
}

/// What the section scan learned.
struct Scan<'a> {
    lowest: u64,
    highest: u64,
    fill: u64,
    invalid_offsets: bool,
    addr_minus_offset: Option<u64>,
    contiguous: bool,
    slices: Vec<(u64, &'a [u8])>,
}

/// The guest address a section at `addr` lands on, and the end of it that the stack check
/// uses.
pub(crate) fn section_vaddr(config: &Config, map: &AddressMap, addr: u64) -> u64 {
    if config.enable_elf_vaddr && addr >= map.program {
        addr
    } else {
        addr.saturating_add(map.program)
    }
}

/// Whether a section placed at `addr` with `size` bytes runs into the stack region.
pub(crate) fn hits_stack(config: &Config, map: &AddressMap, addr: u64, size: u64) -> bool {
    let start = section_vaddr(config, map, addr);
    let end = if config.reject_rodata_stack_overlap {
        start.saturating_add(size)
    } else {
        start
    };
    end > map.stack
}

fn scan<'a>(
    config: &Config,
    map: &AddressMap,
    sections: &[(Option<&str>, &Shdr)],
    bytes: &'a [u8],
) -> Result<Scan<'a>, LoadError> {
    let mut scan = Scan {
        lowest: u64::MAX,
        highest: 0,
        fill: 0,
        invalid_offsets: false,
        addr_minus_offset: None,
        contiguous: true,
        slices: Vec::new(),
    };
    let mut first = None;
    let mut last = 0usize;
    for (index, (name, section)) in sections.iter().enumerate() {
        if !name.is_some_and(|name| RO_SECTIONS.contains(&name)) {
            continue;
        }
        first.get_or_insert(index);
        last = index;
        let addr = section.sh_addr.get(LE);
        let offset = section.sh_offset.get(LE);
        if !scan.invalid_offsets {
            scan.invalid_offsets = if config.enable_elf_vaddr {
                addr < offset
                    || *scan.addr_minus_offset.get_or_insert(addr - offset) != addr - offset
            } else {
                addr != offset
            };
        }
        if (config.reject_broken_elfs && scan.invalid_offsets)
            || hits_stack(config, map, addr, section.sh_size.get(LE))
        {
            return Err(LoadError::ValueOutOfBounds);
        }
        let range = file_range(section);
        let data = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| bytes.get(start..end))
            .ok_or(LoadError::ValueOutOfBounds)?;
        scan.lowest = scan.lowest.min(addr);
        scan.highest = scan.highest.max(addr.saturating_add(data.len() as u64));
        scan.fill = scan.fill.saturating_add(data.len() as u64);
        scan.slices.push((addr, data));
    }
    let selected = scan.slices.len();
    scan.contiguous = first.is_none_or(|first| last + 1 - first == selected);
    Ok(scan)
}

/// Builds the read-only image from the (already relocated) file bytes. A borrowed span stays
/// in `bytes` (cut at its end, skipped at its start), so the file is not copied a second time.
pub(crate) fn ro_image(
    config: &Config,
    map: &AddressMap,
    sections: &[(Option<&str>, &Shdr)],
    mut bytes: Vec<u8>,
) -> Result<RoImage, LoadError> {
    let scan = scan(config, map, sections, &bytes)?;
    if config.reject_broken_elfs && scan.lowest.saturating_add(scan.fill) > scan.highest {
        return Err(LoadError::ValueOutOfBounds);
    }
    let relative = |addr: u64| {
        if addr >= map.program {
            addr - map.program
        } else {
            addr
        }
    };
    let scan_lowest = scan.lowest;
    if config.optimize_rodata && !scan.invalid_offsets && scan.contiguous {
        let shift = scan.addr_minus_offset.unwrap_or(0);
        let start = scan.lowest.saturating_sub(shift);
        let end = scan.highest.saturating_sub(shift);
        let (start, end) = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .filter(|&(start, end)| start <= end && end <= bytes.len())
            .ok_or(LoadError::ValueOutOfBounds)?;
        drop(scan);
        bytes.truncate(end);
        return Ok(RoImage {
            offset: relative(scan_lowest),
            bytes,
            start,
        });
    }
    let lowest = if config.optimize_rodata {
        scan.lowest
    } else {
        0
    };
    let len = scan.highest.saturating_sub(lowest);
    if len > bytes.len() as u64 {
        return Err(LoadError::ValueOutOfBounds);
    }
    let mut image = vec![0u8; len as usize];
    for (addr, data) in &scan.slices {
        let start = addr.saturating_sub(lowest) as usize;
        let target = start
            .checked_add(data.len())
            .and_then(|end| image.get_mut(start..end))
            .ok_or(LoadError::ValueOutOfBounds)?;
        target.copy_from_slice(data);
    }
    Ok(RoImage {
        offset: relative(lowest),
        bytes: image,
        start: 0,
    })
}
