//! Linking a relocatable object (ET_REL from `clang -target bpf -c`) into one program image.
//!
//! The reference cannot load these (it wants ET_DYN, and Debian's lld cannot link BPF
//! relocations), so this is our own small static linker, run in memory:
//!
//! 1. **Layout.** Executable sections (`SHF_ALLOC | SHF_EXECINSTR`) first, in header order,
//!    each 8-aligned: together they are the text. Then every other allocated section
//!    (`.rodata*`, `.data*`, `.bss`, ...), 8-aligned; NOBITS sections become zeroes. The image
//!    is mapped read-only at `MM_PROGRAM_START`, so writable data is readable but not
//!    writable. Non-allocated sections (debug info, BTF, symbols) are ignored, and so are their
//!    relocations.
//! 2. **Relocations** of allocated sections (`.rel*`, implicit addends):
//!    - `R_BPF_64_64` on an lddw: the pair receives `MM_PROGRAM_START + S + A`, where S is the
//!      symbol's image address and A the first slot's immediate;
//!    - `R_BPF_64_32` on a call: to a defined symbol it becomes a pc-relative call (src 1) to
//!      `S + (imm + 1) * 8`; to an undefined symbol it is a syscall whose key is Murmur3 of
//!      the name, written as a static-syscall call (src 0) after step 3;
//!    - `R_BPF_64_ABS64` / `R_BPF_64_ABS32` in data: `MM_PROGRAM_START + S + A` as a u64 / the
//!      low 32 bits; `R_BPF_NONE` is skipped; anything else is `UnknownRelocation`.
//! 3. **Functions.** Every FUNC symbol of the text is registered, then relative calls are
//!    fixed up exactly as for shared objects, so keys follow the configuration (pcs with
//!    static syscalls, hashes otherwise).
//! 4. **Entry:** the symbol `entrypoint` if present, else the lowest-addressed function.
//!
//! Memory is bounded: the image may not exceed [`image_limit`] of the file size.

use super::load::check_capabilities;
use super::parse::{file_range, Elf64, Shdr, Sym};
use super::relocate::{R_BPF_64_32, R_BPF_64_64};
use crate::load_error::LoadError;
use crate::program::{
    fixup_relative_calls, Executable, ExecutableParts, FunctionRegistry, Loader, ENTRYPOINT,
    MM_PROGRAM_START,
};
use bpfvm_isa::{decode, hash_symbol_name, Dialect, Insn, Slot, SLOT_SIZE};
use object::elf::{SHF_ALLOC, SHF_EXECINSTR, SHN_ABS, SHN_UNDEF, SHT_NOBITS, SHT_REL, STT_FUNC};
use object::LittleEndian as LE;
use std::sync::Arc;

/// `R_BPF_NONE`.
const R_BPF_NONE: u32 = 0;
/// `R_BPF_64_ABS64`: a u64 address in data.
const R_BPF_64_ABS64: u32 = 2;
/// `R_BPF_64_ABS32`: a u32 address in data.
const R_BPF_64_ABS32: u32 = 3;

/// The largest image a file of `file_len` bytes may link into: eight times the file, and at
/// least 1 MiB (for `.bss`, which takes no file space).
pub(crate) fn image_limit(file_len: usize) -> u64 {
    (file_len as u64).saturating_mul(8).max(1 << 20)
}

/// Where each section landed in the image.
struct Layout {
    /// Image offset of each section, by section index (`None`: not loaded).
    placed: Vec<Option<u64>>,
    /// The image: text first, then data.
    image: Vec<u8>,
    /// Bytes of text at the start of the image.
    text_len: usize,
}

fn section_flags(section: &Shdr) -> u64 {
    section.sh_flags.get(LE)
}

fn is_loaded(section: &Shdr) -> bool {
    section_flags(section) & u64::from(SHF_ALLOC) != 0
}

fn is_text(section: &Shdr) -> bool {
    let both = u64::from(SHF_ALLOC | SHF_EXECINSTR);
    section_flags(section) & both == both
}

fn align8(value: u64) -> u64 {
    value.saturating_add(7) & !7
}

fn layout(elf: &Elf64<'_>) -> Result<Layout, LoadError> {
    let sections = elf.section_headers();
    let limit = image_limit(elf.bytes().len());
    let mut placed = vec![None; sections.len()];
    let mut size = 0u64;
    let mut text_len = 0u64;
    for pass_text in [true, false] {
        for (index, section) in sections.iter().enumerate() {
            if !is_loaded(section) || is_text(section) != pass_text {
                continue;
            }
            let start = align8(size);
            size = start.saturating_add(section.sh_size.get(LE));
            if size > limit {
                return Err(LoadError::ImageTooLarge { size, limit });
            }
            placed[index] = Some(start);
        }
        if pass_text {
            text_len = align8(size);
            size = text_len;
        }
    }
    if text_len == 0 {
        return Err(LoadError::NotOneTextSection);
    }
    let mut image = vec![0u8; size as usize];
    for (section, start) in sections.iter().zip(&placed) {
        let Some(start) = *start else { continue };
        if section.sh_type.get(LE) == SHT_NOBITS {
            continue;
        }
        let data = elf
            .slice(file_range(section))
            .ok_or(LoadError::ValueOutOfBounds)?;
        let start = start as usize;
        image
            .get_mut(start..start.saturating_add(data.len()))
            .ok_or(LoadError::ValueOutOfBounds)?
            .copy_from_slice(data);
    }
    Ok(Layout {
        placed,
        image,
        text_len: text_len as usize,
    })
}

/// A call to an undefined function: patched to a syscall after the fix-up.
struct SyscallSite {
    at: usize,
    name: String,
}

/// One relocation being applied: where, and in which section (for errors).
struct Site<'a> {
    section: &'a str,
    offset: u64,
    at: usize,
}

impl Site<'_> {
    fn error(&self, reason: impl Into<String>) -> LoadError {
        LoadError::InvalidRelocation {
            section: self.section.to_owned(),
            offset: self.offset,
            reason: reason.into(),
        }
    }
}

struct Linker<'e> {
    elf: &'e Elf64<'e>,
    symbols: &'e [Sym],
    layout: Layout,
    syscalls: Vec<SyscallSite>,
}

impl Linker<'_> {
    fn symbol(&self, index: u32) -> Result<&Sym, LoadError> {
        self.symbols
            .get(index as usize)
            .ok_or(LoadError::UnknownSymbol {
                index: index as usize,
            })
    }

    fn symbol_name(&self, symbol: &Sym) -> Result<String, LoadError> {
        let st_name = symbol.st_name.get(LE);
        match self.elf.symbol_name_checked(st_name) {
            Ok(name) => Ok(name.to_owned()),
            Err(error) => Err(error.into()),
        }
    }

    /// The image offset of a defined symbol, or `None` when it is undefined.
    fn resolve(&self, symbol: &Sym, site: &Site<'_>) -> Result<Option<u64>, LoadError> {
        let value = symbol.st_value.get(LE);
        match symbol.st_shndx.get(LE) {
            SHN_UNDEF => Ok(None),
            SHN_ABS => Ok(Some(value)),
            index => {
                let base = self
                    .layout
                    .placed
                    .get(usize::from(index))
                    .copied()
                    .flatten()
                    .ok_or_else(|| site.error("symbol in a section that is not loaded"))?;
                Ok(Some(base.saturating_add(value)))
            }
        }
    }

    fn slot(&self, at: usize, site: &Site<'_>) -> Result<Slot, LoadError> {
        let bytes = self
            .layout
            .image
            .get(at..at.saturating_add(SLOT_SIZE))
            .ok_or_else(|| site.error("outside the section"))?;
        let mut buf = [0u8; SLOT_SIZE];
        buf.copy_from_slice(bytes);
        Ok(Slot::from_bytes(buf))
    }

    fn put(&mut self, at: usize, value: &[u8], site: &Site<'_>) -> Result<(), LoadError> {
        self.layout
            .image
            .get_mut(at..at.saturating_add(value.len()))
            .ok_or_else(|| site.error("outside the section"))?
            .copy_from_slice(value);
        Ok(())
    }

    fn read(&self, at: usize, len: usize, site: &Site<'_>) -> Result<u64, LoadError> {
        let bytes = self
            .layout
            .image
            .get(at..at.saturating_add(len))
            .ok_or_else(|| site.error("outside the section"))?;
        let mut buf = [0u8; 8];
        buf[..len].copy_from_slice(bytes);
        Ok(u64::from_le_bytes(buf))
    }

    fn apply(&mut self, kind: u32, symbol: &Sym, site: &Site<'_>) -> Result<(), LoadError> {
        let target = self.resolve(symbol, site)?;
        let defined = |linker: &Self| match target {
            Some(target) => Ok(target),
            None => Err(site.error(format!(
                "undefined symbol {}",
                linker.symbol_name(symbol).unwrap_or_default()
            ))),
        };
        match kind {
            R_BPF_NONE => Ok(()),
            R_BPF_64_64 => {
                let first = self.slot(site.at, site)?;
                let second = self.slot(site.at.saturating_add(SLOT_SIZE), site)?;
                if !matches!(
                    decode(&[first, second], 0, Dialect::Sbpf),
                    Ok(Insn::LoadImm64 { .. })
                ) {
                    return Err(site.error("R_BPF_64_64 not on an lddw"));
                }
                let addr = MM_PROGRAM_START
                    .saturating_add(defined(self)?)
                    .saturating_add(u64::from(first.imm as u32));
                self.put(site.at + 4, &(addr as u32).to_le_bytes(), site)?;
                self.put(site.at + 12, &((addr >> 32) as u32).to_le_bytes(), site)
            }
            R_BPF_64_32 => self.apply_call(symbol, target, site),
            R_BPF_64_ABS64 | R_BPF_64_ABS32 => {
                let len = if kind == R_BPF_64_ABS64 { 8 } else { 4 };
                let addend = self.read(site.at, len, site)?;
                let addr = MM_PROGRAM_START
                    .saturating_add(defined(self)?)
                    .saturating_add(addend);
                self.put(site.at, &addr.to_le_bytes()[..len], site)
            }
            kind => Err(LoadError::UnknownRelocation { kind }),
        }
    }

    fn apply_call(
        &mut self,
        symbol: &Sym,
        target: Option<u64>,
        site: &Site<'_>,
    ) -> Result<(), LoadError> {
        let slot = self.slot(site.at, site)?;
        if !matches!(decode(&[slot], 0, Dialect::Sbpf), Ok(Insn::Call { .. })) {
            return Err(site.error("R_BPF_64_32 not on a call"));
        }
        let Some(target) = target else {
            let name = self.symbol_name(symbol)?;
            self.syscalls.push(SyscallSite { at: site.at, name });
            // Keep imm = -1 so that the relative-call fix-up skips the site.
            let patched = Slot { imm: -1, ..slot };
            return self.put(site.at, &patched.to_bytes(), site);
        };
        let addend = (i64::from(slot.imm) + 1) * SLOT_SIZE as i64;
        let dest = (target as i64).saturating_add(addend);
        if dest < 0 || dest as u64 >= self.layout.text_len as u64 || dest % SLOT_SIZE as i64 != 0 {
            return Err(site.error("call target outside the text"));
        }
        let pc = (site.at / SLOT_SIZE) as i64;
        let imm = i32::try_from(dest / SLOT_SIZE as i64 - pc - 1)
            .map_err(|_| site.error("call too far"))?;
        let patched = Slot {
            src: 1,
            imm,
            ..slot
        };
        self.put(site.at, &patched.to_bytes(), site)
    }

    fn relocate_all(&mut self) -> Result<(), LoadError> {
        let sections = self.elf.section_headers();
        for section in sections.iter().filter(|s| s.sh_type.get(LE) == SHT_REL) {
            let target_index = section.sh_info.get(LE) as usize;
            let Some(base) = self.layout.placed.get(target_index).copied().flatten() else {
                continue;
            };
            let Some(target) = sections.get(target_index) else {
                continue;
            };
            let name = self.elf.section_name(target).unwrap_or("?");
            let table = self.elf.rel_table_of(section).map_err(LoadError::from)?;
            for relocation in table {
                let offset = relocation.r_offset.get(LE);
                let site = Site {
                    section: name,
                    offset,
                    at: 0,
                };
                if offset.saturating_add(4) > target.sh_size.get(LE) {
                    return Err(site.error("outside the section"));
                }
                let at = usize::try_from(base + offset).map_err(|_| site.error("too far"))?;
                let site = Site { at, ..site };
                let symbol = *self.symbol(relocation.r_sym(LE))?;
                self.apply(relocation.r_type(LE), &symbol, &site)?;
            }
        }
        Ok(())
    }

    /// Text functions as (pc, name), in symbol-table order.
    fn functions(&self) -> Result<Vec<(usize, String)>, LoadError> {
        let mut functions = Vec::new();
        for symbol in self.symbols {
            if symbol.st_type() != STT_FUNC || symbol.st_shndx.get(LE) == SHN_UNDEF {
                continue;
            }
            let site = Site {
                section: "symtab",
                offset: 0,
                at: 0,
            };
            let Some(addr) = self.resolve(symbol, &site)? else {
                continue;
            };
            if addr >= self.layout.text_len as u64 || addr % SLOT_SIZE as u64 != 0 {
                return Err(LoadError::InvalidEntrypoint);
            }
            functions.push((
                (addr / SLOT_SIZE as u64) as usize,
                self.symbol_name(symbol)?,
            ));
        }
        Ok(functions)
    }
}

/// Links and loads a relocatable object whose identification was checked.
pub(crate) fn load_relocatable<C>(
    elf: &Elf64<'_>,
    loader: Arc<Loader<C>>,
) -> Result<Executable<C>, LoadError> {
    let config = loader.config;
    check_capabilities(&config, elf.header().e_flags.get(LE))?;
    let mut linker = Linker {
        elf,
        symbols: elf.symbols(),
        layout: layout(elf)?,
        syscalls: Vec::new(),
    };
    linker.relocate_all()?;
    let function_list = linker.functions()?;
    let mut functions = FunctionRegistry::new();
    for (pc, name) in &function_list {
        if name != ENTRYPOINT {
            functions.register(&loader, Dialect::Sbpf, *pc, name)?;
        }
    }
    let text_len = linker.layout.text_len;
    let mut image = linker.layout.image;
    let text = image
        .get_mut(..text_len)
        .ok_or(LoadError::ValueOutOfBounds)?;
    fixup_relative_calls(text, &mut functions, &loader)?;
    for site in &linker.syscalls {
        let key = hash_symbol_name(site.name.as_bytes());
        if config.reject_broken_elfs && !loader.syscalls.contains(key) {
            return Err(LoadError::UnresolvedSymbol {
                name: site.name.clone(),
                pc: site.at / SLOT_SIZE,
                offset: site.at as u64,
            });
        }
        let bytes = image
            .get_mut(site.at..site.at.saturating_add(SLOT_SIZE))
            .ok_or(LoadError::ValueOutOfBounds)?;
        let mut buf = [0u8; SLOT_SIZE];
        buf.copy_from_slice(bytes);
        let slot = Slot {
            src: 0,
            imm: key as i32,
            ..Slot::from_bytes(buf)
        };
        bytes.copy_from_slice(&slot.to_bytes());
    }
    let entry_pc = function_list
        .iter()
        .find(|(_, name)| name == ENTRYPOINT)
        .or_else(|| function_list.iter().min_by_key(|(pc, _)| *pc))
        .map_or(0, |(pc, _)| *pc);
    if !config.static_syscalls {
        functions.remove(hash_symbol_name(ENTRYPOINT.as_bytes()));
    }
    functions.register(&loader, Dialect::Sbpf, entry_pc, ENTRYPOINT)?;
    let parts = ExecutableParts {
        ro_data: image,
        ro_start: 0,
        ro_vaddr: MM_PROGRAM_START,
        text_offset: 0,
        text_len,
        entry_pc,
        functions,
    };
    Executable::from_parts(loader, Dialect::Sbpf, parts)
}
