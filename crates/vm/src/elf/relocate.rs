//! Relocation of a shared object, in place on a copy of the file (reference §8.4).
//!
//! Three steps, in this order, because the errors of the earlier ones win:
//! 1. relative `call`s in `.text` become function keys ([`fixup_relative_calls`]);
//! 2. every `.rel.dyn` entry is applied: `R_BPF_64_64` (an lddw of a symbol's address),
//!    `R_BPF_64_RELATIVE` (an address already in the file, moved into the program region; in
//!    `.text` it is an lddw pair, outside it a u64, where legacy files keep only the low half
//!    in the upper four bytes) and `R_BPF_64_32` (a call: to a function defined in the text,
//!    which is registered, or to a syscall, whose Murmur3 key is written);
//! 3. with labels on, every FUNC symbol of `.symtab` is registered under its name.
//!
//! Every read and write is bounds-checked against the file; offsets saturate as the
//! reference's do, and an out-of-file access is `ValueOutOfBounds`.

use super::load::Lenient;
use super::parse::{file_range, segment_range, vm_range, Elf64, Phdr, Rel, Shdr};
use crate::load_error::LoadError;
use crate::program::{fixup_relative_calls, FunctionRegistry, Loader};
use bpfvm_isa::{hash_symbol_name, Dialect};
use object::LittleEndian as LE;
use std::collections::BTreeMap;

/// `R_BPF_64_64`: an lddw of a symbol's address.
pub(crate) const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_RELATIVE`: an address in the file, moved into the program region.
pub(crate) const R_BPF_64_RELATIVE: u32 = 8;
/// `R_BPF_64_32`: a call to a function or a syscall.
pub(crate) const R_BPF_64_32: u32 = 10;
/// The flag value of SBFv2 files.
pub(crate) const EF_SBF_V2: u32 = 0x20;
/// `STT_FUNC`.
const STT_FUNC: u8 = 2;
/// Where the immediate lies in an instruction slot.
const IMM_OFFSET: usize = 4;
/// The size of an instruction slot.
const SLOT: usize = 8;

// The byte helpers are inlined by request: left to the heuristics they stayed calls whose
// cost moved with unrelated changes (one elsewhere in the crate, which moved code between
// codegen units, made spl_token's load 83,000 host instructions dearer; callgrind, phase K).
#[inline]
fn read_u32(bytes: &[u8], at: usize) -> Result<u32, LoadError> {
    let end = at.checked_add(4).ok_or(LoadError::ValueOutOfBounds)?;
    let window = bytes.get(at..end).ok_or(LoadError::ValueOutOfBounds)?;
    let mut buf = [0u8; 4];
    buf.copy_from_slice(window);
    Ok(u32::from_le_bytes(buf))
}

#[inline]
fn read_u64(bytes: &[u8], at: usize) -> Result<u64, LoadError> {
    let end = at.checked_add(8).ok_or(LoadError::ValueOutOfBounds)?;
    let window = bytes.get(at..end).ok_or(LoadError::ValueOutOfBounds)?;
    let mut buf = [0u8; 8];
    buf.copy_from_slice(window);
    Ok(u64::from_le_bytes(buf))
}

#[inline]
fn write(bytes: &mut [u8], at: usize, value: &[u8]) -> Result<(), LoadError> {
    let end = at
        .checked_add(value.len())
        .ok_or(LoadError::ValueOutOfBounds)?;
    bytes
        .get_mut(at..end)
        .ok_or(LoadError::ValueOutOfBounds)?
        .copy_from_slice(value);
    Ok(())
}

/// Moves an address below the program region (starting at `program`) into it.
fn into_program(program: u64, addr: u64) -> u64 {
    if addr < program {
        addr.saturating_add(program)
    } else {
        addr
    }
}

/// Writes a 64-bit address into the immediates of an lddw pair whose first slot starts at
/// `slot`.
#[inline]
fn write_lddw(bytes: &mut [u8], slot: usize, addr: u64) -> Result<(), LoadError> {
    let low = slot.saturating_add(IMM_OFFSET);
    write(bytes, low, &(addr as u32).to_le_bytes())?;
    let high = slot.saturating_add(SLOT).saturating_add(IMM_OFFSET);
    write(bytes, high, &((addr >> 32) as u32).to_le_bytes())
}

/// The state shared by the relocation steps.
pub(crate) struct Relocator<'e, 'l, C> {
    pub(crate) elf: &'e Elf64<'e>,
    pub(crate) loader: &'l Loader<C>,
    /// The rules of the loader (the 2022 one or 0.26's lenient one).
    pub(crate) rules: Lenient,
    pub(crate) text: &'e Shdr,
    pub(crate) functions: FunctionRegistry,
    /// The key each `R_BPF_64_32` symbol resolved to, by symbol index: a symbol that resolved
    /// once resolves to the same key again (the registry only grows and the syscalls are
    /// fixed), so its name is looked up and hashed only once.
    pub(crate) symbol_keys: BTreeMap<u32, u32>,
}

impl<'e, C> Relocator<'e, '_, C> {
    /// Runs the three steps over `bytes`, the file's copy.
    pub(crate) fn relocate(&mut self, bytes: &mut [u8]) -> Result<(), LoadError> {
        let range = file_range(self.text);
        let text = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| bytes.get_mut(start..end))
            .ok_or(LoadError::ValueOutOfBounds)?;
        fixup_relative_calls(text, &mut self.functions, self.loader, self.rules.dialect)?;
        let mut segment: Option<&'e Phdr> = None;
        for relocation in self.elf.dynamic_relocations() {
            self.apply(relocation, &mut segment, bytes)?;
        }
        if self.rules.config.enable_symbol_and_section_labels {
            self.register_symbols()?;
        }
        Ok(())
    }

    /// The file offset a relocation's `r_offset` designates, translated through the program
    /// headers when ELF virtual addresses are on (the last matching segment is reused).
    fn file_offset(&self, r_offset: u64, cached: &mut Option<&'e Phdr>) -> Result<u64, LoadError> {
        if !self.rules.config.enable_elf_vaddr {
            return Ok(r_offset);
        }
        if !cached.is_some_and(|segment| segment_range(segment).contains(&r_offset)) {
            *cached = self
                .elf
                .program_headers()
                .iter()
                .find(|segment| segment_range(segment).contains(&r_offset));
        }
        let segment = cached.ok_or(LoadError::ValueOutOfBounds)?;
        Ok(r_offset
            .saturating_sub(segment.p_vaddr.get(LE))
            .saturating_add(segment.p_offset.get(LE)))
    }

    fn apply(
        &mut self,
        relocation: &Rel,
        segment: &mut Option<&'e Phdr>,
        bytes: &mut [u8],
    ) -> Result<(), LoadError> {
        let offset = self.file_offset(relocation.r_offset.get(LE), segment)?;
        let offset = usize::try_from(offset).map_err(|_| LoadError::ValueOutOfBounds)?;
        match relocation.r_type(LE) {
            R_BPF_64_64 => self.apply_64_64(relocation.r_sym(LE), offset, bytes),
            R_BPF_64_RELATIVE => self.apply_relative(offset, bytes),
            R_BPF_64_32 => self.apply_64_32(relocation.r_sym(LE), offset, bytes),
            kind => Err(LoadError::UnknownRelocation { kind }),
        }
    }

    fn apply_64_64(&self, sym: u32, offset: usize, bytes: &mut [u8]) -> Result<(), LoadError> {
        let addend = read_u32(bytes, offset.saturating_add(IMM_OFFSET))?;
        let symbol = self
            .elf
            .dynamic_symbol(sym)
            .ok_or(LoadError::UnknownSymbol {
                index: sym as usize,
            })?;
        let program = self.loader.layout(self.rules.dialect).map.program;
        let addr = into_program(
            program,
            symbol.st_value.get(LE).saturating_add(u64::from(addend)),
        );
        write_lddw(bytes, offset, addr)
    }

    fn apply_relative(&self, offset: usize, bytes: &mut [u8]) -> Result<(), LoadError> {
        let program = self.loader.layout(self.rules.dialect).map.program;
        if file_range(self.text).contains(&(offset as u64)) {
            let low = read_u32(bytes, offset.saturating_add(IMM_OFFSET))?;
            let high_at = offset.saturating_add(SLOT).saturating_add(IMM_OFFSET);
            let high = read_u32(bytes, high_at)?;
            let addr = (u64::from(high) << 32) | u64::from(low);
            if addr == 0 {
                return Err(LoadError::InvalidVirtualAddress { address: 0 });
            }
            return write_lddw(bytes, offset, into_program(program, addr));
        }
        let addr = if self.elf.header().e_flags.get(LE) == EF_SBF_V2 {
            into_program(program, read_u64(bytes, offset)?)
        } else {
            // Legacy toolchains stored only the low 32 bits, in the upper half of the u64.
            let low = read_u32(bytes, offset.saturating_add(IMM_OFFSET))?;
            program.saturating_add(u64::from(low))
        };
        write(bytes, offset, &addr.to_le_bytes())
    }

    fn apply_64_32(&mut self, sym: u32, offset: usize, bytes: &mut [u8]) -> Result<(), LoadError> {
        let key = match self.symbol_keys.get(&sym) {
            Some(&key) => key,
            None => {
                let key = self.resolve_64_32(sym, offset)?;
                self.symbol_keys.insert(sym, key);
                key
            }
        };
        write(bytes, offset.saturating_add(IMM_OFFSET), &key.to_le_bytes())
    }

    /// The key a call to symbol `sym` (at file offset `offset`) is rewritten to.
    fn resolve_64_32(&mut self, sym: u32, offset: usize) -> Result<u32, LoadError> {
        let symbol = self
            .elf
            .dynamic_symbol(sym)
            .ok_or(LoadError::UnknownSymbol {
                index: sym as usize,
            })?;
        let st_name = symbol.st_name.get(LE);
        let name = self.symbol_name_bytes(st_name)?;
        let value = symbol.st_value.get(LE);
        let key = if symbol.st_info & 0xf == STT_FUNC && value != 0 {
            let pc = self.text_pc(value)?;
            let name = core::str::from_utf8(name).map_err(|_| LoadError::UnknownSymbol {
                index: st_name as usize,
            })?;
            self.functions
                .register(self.loader, self.rules.dialect, pc, name)?
        } else {
            // A syscall's key is the hash of the name's bytes, UTF-8 or not.
            let key = hash_symbol_name(name);
            if self.rules.config.reject_broken_elfs && !self.loader.syscalls.contains(key) {
                return Err(LoadError::UnresolvedSymbol {
                    name: String::from_utf8_lossy(name).into_owned(),
                    pc: offset / SLOT,
                    offset: offset as u64,
                });
            }
            key
        };
        Ok(key)
    }

    /// A dynamic symbol's name as bytes. Under the 2022 rules a name that is not UTF-8 is
    /// unreadable, as the reference parsed it; 0.26 reads bytes.
    fn symbol_name_bytes(&self, st_name: u32) -> Result<&'e [u8], LoadError> {
        let window = self.rules.symbol_name_window();
        let name = match self.rules.dialect {
            Dialect::Sbpf26(_) => self.elf.dynamic_symbol_name_bytes(st_name, window),
            Dialect::Sbpf | Dialect::Ebpf => self
                .elf
                .dynamic_symbol_name(st_name, window)
                .map(str::as_bytes),
        };
        name.ok_or(LoadError::UnknownSymbol {
            index: st_name as usize,
        })
    }

    /// The slot of a text address, which must lie inside `.text`.
    fn text_pc(&self, addr: u64) -> Result<usize, LoadError> {
        if !vm_range(self.text).contains(&addr) {
            return Err(LoadError::ValueOutOfBounds);
        }
        usize::try_from((addr - self.text.sh_addr.get(LE)) / SLOT as u64)
            .map_err(|_| LoadError::ValueOutOfBounds)
    }

    fn register_symbols(&mut self) -> Result<(), LoadError> {
        for symbol in self.elf.symbols() {
            // FUNC with LOCAL or GLOBAL binding (WEAK is excluded by the mask).
            if symbol.st_info & 0xef != STT_FUNC {
                continue;
            }
            let pc = self.text_pc(symbol.st_value.get(LE))?;
            let st_name = symbol.st_name.get(LE);
            let name = match (self.elf.symbol_name(st_name), self.rules.dialect) {
                (Some(name), _) => name,
                // 0.26: a label whose name cannot be read is only a label missing.
                (None, Dialect::Sbpf26(_)) => continue,
                (None, Dialect::Sbpf | Dialect::Ebpf) => {
                    return Err(LoadError::UnknownSymbol {
                        index: st_name as usize,
                    })
                }
            };
            self.functions
                .register(self.loader, self.rules.dialect, pc, name)?;
        }
        Ok(())
    }
}
