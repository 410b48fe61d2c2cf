//! Applying the object's relocations for a target, and re-encoding what the target reads
//! differently.
//!
//! The text is decoded instruction by instruction (`bpfvm_isa`, sBPF as clang 14 writes it:
//! `callx` with its register in the immediate), so every rewrite is a typed instruction
//! encoded back, never a patched byte:
//!
//! | what | V0 | V3 |
//! |---|---|---|
//! | `lddw` of an address (`R_BPF_64_64`) | the linked address, plus an `R_BPF_64_RELATIVE` the loader applies | the final address: data 0-based, code `1 << 32`-based |
//! | `call` of a defined function (`R_BPF_64_32`, or already pc-relative) | src 1, pc-relative (the loader hashes it); a call to itself (imm -1, which the loader would skip) gets an `R_BPF_64_32` against a defined symbol instead | src 1, pc-relative |
//! | `call` of an import (`R_BPF_64_32`) | imm -1 plus an `R_BPF_64_32` against the imported name | src 0, imm = Murmur3-32 of the name |
//! | `callx` | unchanged (register in the immediate) | register moved to dst |
//! | 64-bit address in data (`R_BPF_64_ABS64`) | the linked address in the upper half, plus an `R_BPF_64_RELATIVE` (the loader's legacy reading of data relocations) | the final address |
//! | 32-bit address in data (`R_BPF_64_ABS32`) | refused (no loader applies it) | the final address when it fits (data only) |
//!
//! A `call` by helper number (src 0 without a relocation) is refused: sBPF calls syscalls by
//! name.

use crate::input::{Kind, Object, Place, Referent, Relocation, Segment};
use crate::{LinkError, BYTECODE_START};
use bpfvm_isa::{
    decode_program, encode, hash_symbol_name, Decoded, Dialect, Insn, Slot, SLOT_SIZE,
};
use std::collections::BTreeMap;

/// Where the target puts the text and the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Addressing {
    /// V0: the linked (file) addresses of the text and the data; the loader adds `1 << 32`.
    V0(V0Addresses),
    /// V3: data at 0, text at `1 << 32`.
    V3,
}

/// The linked addresses of a V0 file's text and data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct V0Addresses {
    pub text: u64,
    pub data: u64,
}

/// What a dynamic `R_BPF_64_32` of a V0 file refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DynamicSymbol {
    /// An imported name (a syscall).
    Import(String),
    /// A function of the text, at this offset.
    Function(u64),
}

/// A relocation a V0 file leaves for the loader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dynamic {
    /// `R_BPF_64_RELATIVE` at this place.
    Relative(Place),
    /// `R_BPF_64_32` on the call at this text offset.
    Call { at: u64, symbol: DynamicSymbol },
}

/// The linked program.
#[derive(Clone, Debug)]
pub(crate) struct Image {
    pub text: Vec<u8>,
    pub data: Vec<u8>,
    /// The entry's text offset.
    pub entry: u64,
    /// Function symbols: name and text offset.
    pub functions: Vec<(String, u64)>,
    /// What the V0 loader must still apply (empty for V3).
    pub dynamic: Vec<Dynamic>,
}

fn address(addressing: Addressing, place: Place) -> u64 {
    let base = match (addressing, place.segment) {
        (Addressing::V3, Segment::Text) => BYTECODE_START,
        (Addressing::V3, Segment::Data) => 0,
        (Addressing::V0(addresses), Segment::Text) => addresses.text,
        (Addressing::V0(addresses), Segment::Data) => addresses.data,
    };
    base.wrapping_add(place.offset)
}

/// Resolves every relocation of `object` for `addressing`.
pub(crate) fn resolve(object: &Object, addressing: Addressing) -> Result<Image, LinkError> {
    let mut text = Text::new(&object.text, addressing);
    let mut data = object.data.clone();
    let mut text_relocations = BTreeMap::new();
    for relocation in &object.relocations {
        match relocation.at.segment {
            Segment::Text => {
                if relocation.at.offset % SLOT_SIZE as u64 != 0 {
                    return Err(misplaced(relocation));
                }
                text_relocations.insert(relocation.at.offset / SLOT_SIZE as u64, relocation);
            }
            Segment::Data => patch_data(&mut data, relocation, addressing, &mut text.dynamic)?,
        }
    }
    for decoded in decode_program(&text.slots.clone(), Dialect::Sbpf) {
        let relocation = text_relocations.remove(&(decoded.pc as u64));
        text.rewrite(&decoded, relocation)?;
    }
    if let Some(relocation) = text_relocations.into_values().next() {
        // A relocation on the second slot of an lddw.
        return Err(misplaced(relocation));
    }
    Ok(Image {
        text: text.slots.iter().flat_map(|slot| slot.to_bytes()).collect(),
        data,
        entry: object.entry,
        functions: object.functions.clone(),
        dynamic: text.dynamic,
    })
}

fn misplaced(relocation: &Relocation) -> LinkError {
    LinkError::MisplacedRelocation {
        kind: relocation.kind.number(),
        offset: relocation.at.offset,
    }
}

/// The text being rewritten.
struct Text {
    slots: Vec<Slot>,
    addressing: Addressing,
    dynamic: Vec<Dynamic>,
}

impl Text {
    fn new(bytes: &[u8], addressing: Addressing) -> Text {
        let slots = bytes
            .chunks_exact(SLOT_SIZE)
            .map(|chunk| {
                let mut slot = [0u8; SLOT_SIZE];
                slot.copy_from_slice(chunk);
                Slot::from_bytes(slot)
            })
            .collect();
        Text {
            slots,
            addressing,
            dynamic: Vec::new(),
        }
    }

    /// Replaces the instruction at `pc` by `insn` encoded in `dialect`.
    fn put(&mut self, pc: usize, insn: Insn, dialect: Dialect) -> Result<(), LinkError> {
        let encoded =
            encode(&insn, dialect).map_err(|error| LinkError::UnsupportedInstruction {
                pc,
                reason: error.to_string(),
            })?;
        for (index, slot) in encoded.into_iter().enumerate() {
            if let Some(target) = self.slots.get_mut(pc + index) {
                *target = slot;
            }
        }
        Ok(())
    }

    fn rewrite(
        &mut self,
        decoded: &Decoded,
        relocation: Option<&Relocation>,
    ) -> Result<(), LinkError> {
        let pc = decoded.pc;
        let insn = decoded
            .insn
            .map_err(|error| LinkError::UnsupportedInstruction {
                pc,
                reason: error.to_string(),
            })?;
        match (insn, relocation) {
            (Insn::LoadImm64 { dst, imm }, Some(relocation)) if relocation.kind == Kind::Lddw => {
                let Referent::Defined(place) = &relocation.referent else {
                    return Err(misplaced(relocation));
                };
                let value = address(self.addressing, *place).wrapping_add(imm);
                self.put(pc, Insn::LoadImm64 { dst, imm: value }, Dialect::Sbpf)?;
                if let Addressing::V0(_) = self.addressing {
                    self.dynamic.push(Dynamic::Relative(text_place(pc)));
                }
                Ok(())
            }
            (Insn::Call { imm, .. }, Some(relocation)) if relocation.kind == Kind::Call => {
                match &relocation.referent {
                    Referent::Import(name) => self.import_call(pc, name),
                    Referent::Defined(place) if place.segment == Segment::Text => {
                        let target = i64::try_from(place.offset)
                            .ok()
                            .and_then(|offset| offset.checked_add((i64::from(imm) + 1) * 8))
                            .filter(|target| target % 8 == 0)
                            .ok_or(LinkError::CallOutsideText { pc })?;
                        self.internal_call(pc, target / 8)
                    }
                    Referent::Defined(_) => Err(misplaced(relocation)),
                }
            }
            (_, Some(relocation)) => Err(misplaced(relocation)),
            (Insn::Call { src: 1, imm }, None) => {
                self.internal_call(pc, pc as i64 + 1 + i64::from(imm))
            }
            (Insn::Call { src: 0, imm }, None) => Err(LinkError::HelperCall { pc, imm }),
            (Insn::Call { src, .. }, None) => Err(LinkError::UnsupportedInstruction {
                pc,
                reason: format!("call with src {src}"),
            }),
            (Insn::CallReg { reg }, None) => match self.addressing {
                // V3 reads the register from dst, where the eBPF encoding puts it.
                Addressing::V3 => self.put(pc, Insn::CallReg { reg }, Dialect::Ebpf),
                Addressing::V0(_) => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// A call of the function at slot `target`.
    fn internal_call(&mut self, pc: usize, target: i64) -> Result<(), LinkError> {
        if target < 0 || target >= self.slots.len() as i64 {
            return Err(LinkError::CallOutsideText { pc });
        }
        let relative =
            i32::try_from(target - pc as i64 - 1).map_err(|_| LinkError::CallOutsideText { pc })?;
        self.put(
            pc,
            Insn::Call {
                src: 1,
                imm: relative,
            },
            Dialect::Sbpf,
        )?;
        if relative == -1 {
            if let Addressing::V0(_) = self.addressing {
                // The V0 loader leaves imm -1 to a relocation: name the function.
                self.dynamic.push(Dynamic::Call {
                    at: text_place(pc).offset,
                    symbol: DynamicSymbol::Function(target as u64 * SLOT_SIZE as u64),
                });
            }
        }
        Ok(())
    }

    /// A call of the syscall `name`.
    fn import_call(&mut self, pc: usize, name: &str) -> Result<(), LinkError> {
        match self.addressing {
            Addressing::V3 => {
                let imm = hash_symbol_name(name.as_bytes()) as i32;
                self.put(pc, Insn::Call { src: 0, imm }, Dialect::Sbpf)
            }
            Addressing::V0(_) => {
                self.put(pc, Insn::Call { src: 1, imm: -1 }, Dialect::Sbpf)?;
                self.dynamic.push(Dynamic::Call {
                    at: text_place(pc).offset,
                    symbol: DynamicSymbol::Import(name.to_owned()),
                });
                Ok(())
            }
        }
    }
}

fn text_place(pc: usize) -> Place {
    Place {
        segment: Segment::Text,
        offset: pc as u64 * SLOT_SIZE as u64,
    }
}

/// Patches an address into the data.
fn patch_data(
    data: &mut [u8],
    relocation: &Relocation,
    addressing: Addressing,
    dynamic: &mut Vec<Dynamic>,
) -> Result<(), LinkError> {
    let Referent::Defined(place) = &relocation.referent else {
        return Err(misplaced(relocation));
    };
    let at = usize::try_from(relocation.at.offset).map_err(|_| misplaced(relocation))?;
    let width = match relocation.kind {
        Kind::Abs64 => 8,
        Kind::Abs32 => 4,
        Kind::Lddw | Kind::Call => return Err(misplaced(relocation)),
    };
    let field = data
        .get_mut(at..at.saturating_add(width))
        .filter(|field| field.len() == width)
        .ok_or_else(|| misplaced(relocation))?;
    let mut addend = [0u8; 8];
    addend[..width].copy_from_slice(field);
    let value = address(addressing, *place).wrapping_add(u64::from_le_bytes(addend));
    match (relocation.kind, addressing) {
        (Kind::Abs64, Addressing::V3) => field.copy_from_slice(&value.to_le_bytes()),
        (Kind::Abs64, Addressing::V0(_)) => {
            // The loader reads a data relocation's address from the upper half and writes
            // `1 << 32` plus it over all eight bytes.
            field.copy_from_slice(&(value << 32).to_le_bytes());
            dynamic.push(Dynamic::Relative(relocation.at));
        }
        (Kind::Abs32, Addressing::V3) => {
            let value = u32::try_from(value).map_err(|_| misplaced(relocation))?;
            field.copy_from_slice(&value.to_le_bytes());
        }
        _ => return Err(misplaced(relocation)),
    }
    Ok(())
}
