//! Where each allocated section of a relocatable object lands in the program image.
//!
//! The image is built in three passes over the section headers, each in header order and each
//! section 8-aligned: executable sections (the text), then read-only data, then writable data.
//! NOBITS sections (`.bss`) become zeroes; sections without `SHF_ALLOC` (debug info, BTF,
//! symbol and string tables, `.llvm_addrsig`, whatever their names) are not loaded.
//!
//! Writable data (`SHF_ALLOC | SHF_WRITE`) follows the dialect's [`WritableData`] policy:
//! sBPF refuses it, as Solana's toolchain does, except sections named `.data.rel*` (constants
//! that hold addresses, read-only once linked) and empty ones; eBPF maps it, last, so that the
//! writable part of the image is one suffix.

use super::super::parse::{file_range, Elf64, Shdr};
use crate::load_error::LoadError;
use object::elf::{SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS};
use object::LittleEndian as LE;

/// What a dialect does with writable data sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WritableData {
    /// A named error (sBPF).
    Refused,
    /// Mapped in a writable program region (eBPF).
    Mapped,
}

/// The role of a section in the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Text,
    ReadOnly,
    Writable,
    NotLoaded,
}

/// The passes, in image order.
const PASSES: [Role; 3] = [Role::Text, Role::ReadOnly, Role::Writable];

/// The largest image a file of `file_len` bytes may link into: eight times the file, and at
/// least 1 MiB (for `.bss`, which takes no file space).
pub(super) fn image_limit(file_len: usize) -> u64 {
    (file_len as u64).saturating_mul(8).max(1 << 20)
}

/// Where each section landed in the image.
pub(super) struct Layout {
    /// Image offset of each section, by section index (`None`: not loaded).
    pub placed: Vec<Option<u64>>,
    /// The image: text first, then read-only data, then writable data.
    pub image: Vec<u8>,
    /// Bytes of text at the start of the image.
    pub text_len: usize,
    /// Whether writable data was mapped (some writable section is not empty).
    pub has_writable_data: bool,
}

fn flags(section: &Shdr) -> u64 {
    section.sh_flags.get(LE)
}

fn has(section: &Shdr, flag: u32) -> bool {
    flags(section) & u64::from(flag) != 0
}

/// The role of `section` under `policy`, or the sBPF error for writable data.
fn role(elf: &Elf64<'_>, section: &Shdr, policy: WritableData) -> Result<Role, LoadError> {
    if !has(section, SHF_ALLOC) {
        return Ok(Role::NotLoaded);
    }
    if has(section, SHF_EXECINSTR) {
        return Ok(Role::Text);
    }
    if !has(section, SHF_WRITE) {
        return Ok(Role::ReadOnly);
    }
    match policy {
        WritableData::Mapped => Ok(Role::Writable),
        WritableData::Refused => {
            let name = elf.section_name(section).unwrap_or("?");
            if section.sh_size.get(LE) == 0 || name.starts_with(".data.rel") {
                Ok(Role::ReadOnly)
            } else {
                Err(LoadError::WritableSectionNotSupported {
                    name: name.to_owned(),
                })
            }
        }
    }
}

fn align8(value: u64) -> u64 {
    value.saturating_add(7) & !7
}

/// Places every allocated section and copies its bytes into a new image.
pub(super) fn lay_out(elf: &Elf64<'_>, policy: WritableData) -> Result<Layout, LoadError> {
    let sections = elf.section_headers();
    let roles = sections
        .iter()
        .map(|section| role(elf, section, policy))
        .collect::<Result<Vec<_>, _>>()?;
    let limit = image_limit(elf.bytes().len());
    let mut placed = vec![None; sections.len()];
    let mut size = 0u64;
    let mut text_len = 0u64;
    let mut has_writable_data = false;
    for pass in PASSES {
        for (index, section) in sections.iter().enumerate() {
            if roles.get(index) != Some(&pass) {
                continue;
            }
            let start = align8(size);
            let len = section.sh_size.get(LE);
            size = start.saturating_add(len);
            if size > limit {
                return Err(LoadError::ImageTooLarge { size, limit });
            }
            placed[index] = Some(start);
            has_writable_data |= pass == Role::Writable && len > 0;
        }
        if pass == Role::Text {
            text_len = align8(size);
            size = text_len;
        }
    }
    if text_len == 0 {
        return Err(LoadError::NotOneTextSection);
    }
    let image = fill(elf, &placed, size)?;
    Ok(Layout {
        placed,
        image,
        text_len: text_len as usize,
        has_writable_data,
    })
}

/// The image of `size` bytes with every placed section's file bytes copied in.
fn fill(elf: &Elf64<'_>, placed: &[Option<u64>], size: u64) -> Result<Vec<u8>, LoadError> {
    let size = usize::try_from(size).map_err(|_| LoadError::ValueOutOfBounds)?;
    let mut image = vec![0u8; size];
    for (section, start) in elf.section_headers().iter().zip(placed) {
        let Some(start) = *start else { continue };
        if section.sh_type.get(LE) == SHT_NOBITS {
            continue;
        }
        let data = elf
            .slice(file_range(section))
            .ok_or(LoadError::ValueOutOfBounds)?;
        let start = usize::try_from(start).map_err(|_| LoadError::ValueOutOfBounds)?;
        image
            .get_mut(start..start.saturating_add(data.len()))
            .ok_or(LoadError::ValueOutOfBounds)?
            .copy_from_slice(data);
    }
    Ok(image)
}
