//! Applying a relocatable object's relocations to its image.
//!
//! Only relocations of loaded sections are applied (those of debug info, BTF and other
//! sections that are not loaded are skipped, whatever their type). Addends are implicit, and
//! `P` is where the program region starts (`MM_PROGRAM_START` in the standard address map):
//! - `R_BPF_64_64` on an lddw: the pair receives `P + S + A`, where S is the symbol's image
//!   offset and A the first slot's immediate;
//! - `R_BPF_64_32` on a call: to a defined symbol it becomes a pc-relative call (src 1) to
//!   `S + (imm + 1) * 8`; to an undefined symbol it is an [`Import`], resolved by the dialect
//!   afterwards (its immediate is set to -1 meanwhile, which the sBPF call fix-up skips);
//! - `R_BPF_64_ABS64`, and `R_BPF_64_ABS32` or `R_BPF_64_NODYLD32` in data:
//!   `P + S + A` as a u64 or its low 32 bits;
//! - `R_BPF_NONE` is skipped; any other type is `UnknownRelocation`.

use super::super::parse::{Elf64, Sym};
use super::super::relocate::{R_BPF_64_32, R_BPF_64_64};
use super::layout::Layout;
use crate::load_error::LoadError;
use bpfvm_isa::{decode, Dialect, Insn, Slot, SLOT_SIZE};
use object::elf::{SHN_ABS, SHN_UNDEF, SHT_REL, STT_FUNC};
use object::LittleEndian as LE;

/// `R_BPF_NONE`.
const R_BPF_NONE: u32 = 0;
/// `R_BPF_64_ABS64`: a u64 address in data.
const R_BPF_64_ABS64: u32 = 2;
/// `R_BPF_64_ABS32`: a u32 address in data.
const R_BPF_64_ABS32: u32 = 3;
/// `R_BPF_64_NODYLD32`: a u32 address that dynamic loaders leave alone (BTF and debug
/// sections use it); in loaded data it is applied as `R_BPF_64_ABS32`.
const R_BPF_64_NODYLD32: u32 = 4;

/// A call to an undefined function, resolved by the dialect after relocation.
pub(super) struct Import {
    /// The call's byte offset in the image.
    pub at: usize,
    /// The symbol's name.
    pub name: String,
}

/// One text function: its slot and name.
pub(super) struct FunctionSymbol {
    /// The first slot.
    pub pc: usize,
    /// The symbol's name.
    pub name: String,
    /// The index of the section that holds it.
    pub section: usize,
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

/// The state of linking one object.
pub(super) struct Linker<'e> {
    elf: &'e Elf64<'e>,
    symbols: &'e [Sym],
    dialect: Dialect,
    /// The image being relocated.
    pub layout: Layout,
    /// Where the program region starts in guest memory.
    program: u64,
    /// Calls to undefined functions, in relocation order.
    pub imports: Vec<Import>,
}

impl<'e> Linker<'e> {
    /// A linker over a laid-out object.
    pub fn new(elf: &'e Elf64<'e>, layout: Layout, dialect: Dialect, program: u64) -> Self {
        Linker {
            elf,
            symbols: elf.symbols(),
            dialect,
            layout,
            program,
            imports: Vec::new(),
        }
    }

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

    /// The image offset of a symbol, or `None` when it is undefined.
    fn resolve(&self, symbol: &Sym) -> Result<Option<u64>, &'static str> {
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
                    .ok_or("symbol in a section that is not loaded")?;
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
        let target = self.resolve(symbol).map_err(|reason| site.error(reason))?;
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
                    decode(&[first, second], 0, self.dialect),
                    Ok(Insn::LoadImm64 { .. })
                ) {
                    return Err(site.error("R_BPF_64_64 not on an lddw"));
                }
                let addr = self
                    .program
                    .saturating_add(defined(self)?)
                    .saturating_add(u64::from(first.imm as u32));
                self.put(site.at + 4, &(addr as u32).to_le_bytes(), site)?;
                self.put(site.at + 12, &((addr >> 32) as u32).to_le_bytes(), site)
            }
            R_BPF_64_32 => self.apply_call(symbol, target, site),
            R_BPF_64_ABS64 | R_BPF_64_ABS32 | R_BPF_64_NODYLD32 => {
                let len = if kind == R_BPF_64_ABS64 { 8 } else { 4 };
                let addend = self.read(site.at, len, site)?;
                let addr = self
                    .program
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
        if !matches!(decode(&[slot], 0, self.dialect), Ok(Insn::Call { .. })) {
            return Err(site.error("R_BPF_64_32 not on a call"));
        }
        let Some(target) = target else {
            let name = self.symbol_name(symbol)?;
            self.imports.push(Import { at: site.at, name });
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

    /// Applies the relocations of every loaded section.
    pub fn relocate_all(&mut self) -> Result<(), LoadError> {
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

    /// The text's functions (defined FUNC symbols), in symbol-table order.
    pub fn functions(&self) -> Result<Vec<FunctionSymbol>, LoadError> {
        let mut functions = Vec::new();
        for symbol in self.symbols {
            if symbol.st_type() != STT_FUNC || symbol.st_shndx.get(LE) == SHN_UNDEF {
                continue;
            }
            let symtab = Site {
                section: "symtab",
                offset: 0,
                at: 0,
            };
            let Some(addr) = self
                .resolve(symbol)
                .map_err(|reason| symtab.error(reason))?
            else {
                continue;
            };
            if addr >= self.layout.text_len as u64 || addr % SLOT_SIZE as u64 != 0 {
                return Err(LoadError::InvalidEntrypoint);
            }
            functions.push(FunctionSymbol {
                pc: (addr / SLOT_SIZE as u64) as usize,
                name: self.symbol_name(symbol)?,
                section: usize::from(symbol.st_shndx.get(LE)),
            });
        }
        Ok(functions)
    }
}
