//! Reading a relocatable BPF object into one text, one read-only data blob and the
//! relocations against them.
//!
//! Executable allocated sections (`SHF_ALLOC | SHF_EXECINSTR`) are concatenated, in header
//! order, into the text; every other allocated section into the data, each at its own
//! alignment (up to 8). Sections that are not allocated (symbols, strings, debug info, BTF)
//! are ignored, and so are the relocations that patch them. Writable data (`.data`, `.bss`)
//! is refused, except `.data.rel.ro*`, which is read-only once relocated.

use crate::LinkError;
use object::elf::{
    EM_BPF, ET_REL, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHN_UNDEF, SHT_NOBITS, SHT_RELA,
    SHT_SYMTAB, STT_FUNC,
};
use object::read::elf::{FileHeader, Rel, SectionHeader, SectionTable, Sym, SymbolTable};
use object::{elf::FileHeader64, LittleEndian as LE};

/// Where merged bytes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    /// The instructions.
    Text,
    /// The read-only data.
    Data,
}

/// A place in the merged output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    pub segment: Segment,
    pub offset: u64,
}

/// What a relocation refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Referent {
    /// A place in the text or data (a symbol's value, or a section's start).
    Defined(Place),
    /// An undefined symbol: an import, which in sBPF is a syscall.
    Import(String),
}

/// The relocation types the linker applies (the rest of the BPF types are refused, except
/// `R_BPF_NONE`, which is skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `R_BPF_64_64` (1): the 64-bit immediate of an `lddw`.
    Lddw,
    /// `R_BPF_64_ABS64` (2): a 64-bit address in data.
    Abs64,
    /// `R_BPF_64_ABS32` (3): a 32-bit address in data.
    Abs32,
    /// `R_BPF_64_32` (10): the target of a `call`.
    Call,
}

impl Kind {
    /// The ELF relocation type number.
    pub fn number(self) -> u32 {
        match self {
            Kind::Lddw => 1,
            Kind::Abs64 => 2,
            Kind::Abs32 => 3,
            Kind::Call => 10,
        }
    }
}

/// One relocation: patch `at` with the address of `referent` (plus the implicit addend
/// stored in the patched bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Relocation {
    pub at: Place,
    pub kind: Kind,
    pub referent: Referent,
}

/// The object, merged.
#[derive(Clone, Debug, Default)]
pub(crate) struct Object {
    pub text: Vec<u8>,
    pub data: Vec<u8>,
    pub relocations: Vec<Relocation>,
    /// Function symbols of the text: name and text offset.
    pub functions: Vec<(String, u64)>,
    /// The text offset of `entrypoint`.
    pub entry: u64,
}

/// The largest text or data a region holds.
const REGION_LIMIT: u64 = 1 << 32;

fn align(value: u64, alignment: u64) -> u64 {
    let alignment = alignment.clamp(1, 8);
    value.div_ceil(alignment) * alignment
}

/// Reads and merges a relocatable BPF object.
pub(crate) fn read(bytes: &[u8]) -> Result<Object, LinkError> {
    let header = FileHeader64::<LE>::parse(bytes)?;
    let endian = header.endian()?;
    if header.e_type(endian) != ET_REL {
        return Err(LinkError::NotRelocatable {
            e_type: header.e_type(endian),
        });
    }
    if header.e_machine(endian) != EM_BPF {
        return Err(LinkError::WrongMachine {
            machine: header.e_machine(endian),
        });
    }
    let sections = header.sections(endian, bytes)?;
    let mut object = Object::default();
    let places = place_sections(&sections, bytes, &mut object)?;
    let symbols = sections.symbols(endian, bytes, SHT_SYMTAB)?;
    collect_relocations(&sections, &symbols, &places, bytes, &mut object)?;
    collect_functions(&symbols, &places, &mut object)?;
    Ok(object)
}

/// Concatenates the allocated sections; returns where each section index landed.
fn place_sections(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    bytes: &[u8],
    object: &mut Object,
) -> Result<Vec<Option<Place>>, LinkError> {
    let endian = LE;
    let mut places = Vec::with_capacity(sections.len());
    for section in sections.iter() {
        let flags = section.sh_flags(endian);
        if flags & u64::from(SHF_ALLOC) == 0 {
            places.push(None);
            continue;
        }
        let name = String::from_utf8_lossy(sections.section_name(endian, section)?).into_owned();
        let size = section.sh_size(endian);
        let writable = flags & u64::from(SHF_WRITE) != 0 || section.sh_type(endian) == SHT_NOBITS;
        if writable && size > 0 && !name.starts_with(".data.rel.ro") {
            return Err(LinkError::WritableSection { name });
        }
        let contents = section.data(endian, bytes)?;
        let place = if flags & u64::from(SHF_EXECINSTR) != 0 {
            if size % 8 != 0 {
                return Err(LinkError::UnalignedText { name, size });
            }
            let offset = object.text.len() as u64;
            object.text.extend_from_slice(contents);
            Place {
                segment: Segment::Text,
                offset,
            }
        } else {
            let offset = align(object.data.len() as u64, section.sh_addralign(endian));
            object.data.resize(offset as usize, 0);
            object.data.extend_from_slice(contents);
            Place {
                segment: Segment::Data,
                offset,
            }
        };
        for merged in [object.text.len(), object.data.len()] {
            if merged as u64 >= REGION_LIMIT {
                return Err(LinkError::TooLarge {
                    size: merged as u64,
                });
            }
        }
        places.push(Some(place));
    }
    Ok(places)
}

/// What a symbol stands for, when relocations may refer to it.
fn referent(
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    places: &[Option<Place>],
    index: usize,
) -> Result<Referent, LinkError> {
    let endian = LE;
    let symbol = symbols.symbol(object::SymbolIndex(index))?;
    let name = String::from_utf8_lossy(symbol.name(endian, symbols.strings())?).into_owned();
    let shndx = symbol.st_shndx(endian);
    if shndx == SHN_UNDEF {
        return if name.is_empty() {
            Err(LinkError::UnsupportedSymbol { name })
        } else {
            Ok(Referent::Import(name))
        };
    }
    let Some(Some(base)) = places.get(usize::from(shndx)) else {
        return Err(LinkError::UnsupportedSymbol { name });
    };
    Ok(Referent::Defined(Place {
        segment: base.segment,
        offset: base.offset.saturating_add(symbol.st_value(endian)),
    }))
}

fn relocation_kind(number: u32) -> Result<Option<Kind>, LinkError> {
    Ok(Some(match number {
        0 => return Ok(None),
        1 => Kind::Lddw,
        2 => Kind::Abs64,
        3 => Kind::Abs32,
        10 => Kind::Call,
        kind => return Err(LinkError::UnknownRelocation { kind }),
    }))
}

/// Collects the relocations of every loaded section.
fn collect_relocations(
    sections: &SectionTable<'_, FileHeader64<LE>>,
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    places: &[Option<Place>],
    bytes: &[u8],
    object: &mut Object,
) -> Result<(), LinkError> {
    let endian = LE;
    for section in sections.iter() {
        let target = section.sh_info(endian) as usize;
        let Some(Some(base)) = places.get(target) else {
            continue;
        };
        if section.sh_type(endian) == SHT_RELA {
            return Err(LinkError::UnknownRelocation { kind: 0 });
        }
        let Some((relocations, _)) = section.rel(endian, bytes)? else {
            continue;
        };
        for relocation in relocations {
            let Some(kind) = relocation_kind(relocation.r_type(endian))? else {
                continue;
            };
            let offset = base.offset.saturating_add(relocation.r_offset(endian));
            object.relocations.push(Relocation {
                at: Place {
                    segment: base.segment,
                    offset,
                },
                kind,
                referent: referent(symbols, places, relocation.r_sym(endian) as usize)?,
            });
        }
    }
    Ok(())
}

/// Records the text's function symbols and finds `entrypoint`.
fn collect_functions(
    symbols: &SymbolTable<'_, FileHeader64<LE>>,
    places: &[Option<Place>],
    object: &mut Object,
) -> Result<(), LinkError> {
    let endian = LE;
    let mut entry = None;
    for (index, symbol) in symbols.iter().enumerate() {
        if symbol.st_type() != STT_FUNC {
            continue;
        }
        let Ok(Referent::Defined(place)) = referent(symbols, places, index) else {
            continue;
        };
        if place.segment != Segment::Text || place.offset % 8 != 0 {
            continue;
        }
        let name = String::from_utf8_lossy(symbol.name(endian, symbols.strings())?).into_owned();
        if name == "entrypoint" {
            entry = Some(place.offset);
        }
        object.functions.push((name, place.offset));
    }
    object.entry = entry.ok_or(LinkError::NoEntrypoint)?;
    Ok(())
}
