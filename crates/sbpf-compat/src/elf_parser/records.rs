//! Reading ELF records out of bytes, field by field, little-endian (no casts of the input:
//! any byte slice, aligned or not, can be read).

use super::types::{Elf64Dyn, Elf64Ehdr, Elf64Phdr, Elf64Rel, Elf64Shdr, Elf64Sym, ElfIdent};
use super::ElfParserError;

/// A cursor over one record's bytes.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(field) = self.bytes.get(self.at..self.at + N) {
            out.copy_from_slice(field);
        }
        self.at += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

/// A record type with a fixed size in the file.
pub(crate) trait Record: Sized {
    /// The record's size in bytes.
    const SIZE: usize;
    /// Reads the record from exactly `SIZE` bytes.
    fn read(bytes: &[u8]) -> Self;
}

/// The records at `range` of `bytes`: `InvalidSize` when the range is not a whole number of
/// records, `OutOfBounds` when it is not inside the bytes.
pub(crate) fn table<T: Record>(
    bytes: &[u8],
    range: std::ops::Range<usize>,
) -> Result<Vec<T>, ElfParserError> {
    let len = range
        .end
        .checked_sub(range.start)
        .ok_or(ElfParserError::OutOfBounds)?;
    if len % T::SIZE != 0 {
        return Err(ElfParserError::InvalidSize);
    }
    let bytes = bytes.get(range).ok_or(ElfParserError::OutOfBounds)?;
    Ok(bytes.chunks_exact(T::SIZE).map(T::read).collect())
}

impl Record for Elf64Ehdr {
    const SIZE: usize = 64;
    fn read(bytes: &[u8]) -> Self {
        let mut f = Fields { bytes, at: 0 };
        Elf64Ehdr {
            e_ident: ElfIdent {
                ei_mag: f.take(),
                ei_class: f.u8(),
                ei_data: f.u8(),
                ei_version: f.u8(),
                ei_osabi: f.u8(),
                ei_abiversion: f.u8(),
                ei_pad: f.take(),
            },
            e_type: f.u16(),
            e_machine: f.u16(),
            e_version: f.u32(),
            e_entry: f.u64(),
            e_phoff: f.u64(),
            e_shoff: f.u64(),
            e_flags: f.u32(),
            e_ehsize: f.u16(),
            e_phentsize: f.u16(),
            e_phnum: f.u16(),
            e_shentsize: f.u16(),
            e_shnum: f.u16(),
            e_shstrndx: f.u16(),
        }
    }
}

impl Record for Elf64Phdr {
    const SIZE: usize = 56;
    fn read(bytes: &[u8]) -> Self {
        let mut f = Fields { bytes, at: 0 };
        Elf64Phdr {
            p_type: f.u32(),
            p_flags: f.u32(),
            p_offset: f.u64(),
            p_vaddr: f.u64(),
            p_paddr: f.u64(),
            p_filesz: f.u64(),
            p_memsz: f.u64(),
            p_align: f.u64(),
        }
    }
}

impl Record for Elf64Shdr {
    const SIZE: usize = 64;
    fn read(bytes: &[u8]) -> Self {
        let mut f = Fields { bytes, at: 0 };
        Elf64Shdr {
            sh_name: f.u32(),
            sh_type: f.u32(),
            sh_flags: f.u64(),
            sh_addr: f.u64(),
            sh_offset: f.u64(),
            sh_size: f.u64(),
            sh_link: f.u32(),
            sh_info: f.u32(),
            sh_addralign: f.u64(),
            sh_entsize: f.u64(),
        }
    }
}

impl Record for Elf64Sym {
    const SIZE: usize = 24;
    fn read(bytes: &[u8]) -> Self {
        let mut f = Fields { bytes, at: 0 };
        Elf64Sym {
            st_name: f.u32(),
            st_info: f.u8(),
            st_other: f.u8(),
            st_shndx: f.u16(),
            st_value: f.u64(),
            st_size: f.u64(),
        }
    }
}

impl Record for Elf64Dyn {
    const SIZE: usize = 16;
    fn read(bytes: &[u8]) -> Self {
        let mut f = Fields { bytes, at: 0 };
        Elf64Dyn {
            d_tag: f.u64(),
            d_val: f.u64(),
        }
    }
}

impl Record for Elf64Rel {
    const SIZE: usize = 16;
    fn read(bytes: &[u8]) -> Self {
        let mut f = Fields { bytes, at: 0 };
        Elf64Rel {
            r_offset: f.u64(),
            r_info: f.u64(),
        }
    }
}
