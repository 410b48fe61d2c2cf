//! The second copy of a versioned loop (see `jit::hoist`): setting the loop's slots aside
//! while the copy is emitted and giving them back after. The copy's hoisted accesses are
//! translated by `translate` in the forms the driver passes; nothing here is a mode.

use super::masm::{Masm, Target};
use super::version::Guard;
use crate::jit::hoist::Plan;
use crate::jit::masm::loop_slots;
use crate::jit::tables::NONE;
use crate::jit::JitError;
use core::ops::Range;

/// What [`Masm::begin_copy`] set aside: the loop's slots and their first copy's offsets
/// and entry stubs, and where the copy's fixups start.
pub(crate) struct CopyMark {
    slots: Range<usize>,
    head: usize,
    offsets: Vec<u32>,
    stubs: Vec<u32>,
    fixups: usize,
}

impl Masm {
    /// Starts the second copy of the versioned loop of `plan`: its slots get new offsets
    /// (jumps inside the copy stay inside it).
    pub fn begin_copy(&mut self, plan: &Plan) -> CopyMark {
        let range = loop_slots(plan);
        // Set aside and cleared: a jump to a slot of the body not copied yet is then a
        // fixup, which `end_copy` points at the copy.
        let offsets = self
            .offsets
            .get_mut(range.clone())
            .map_or(Vec::new(), |slots| {
                let saved = slots.to_vec();
                slots.fill(NONE);
                saved
            });
        let stubs = self
            .stubs
            .get_mut(range.clone())
            .map_or(Vec::new(), |slots| {
                let saved = slots.to_vec();
                slots.fill(NONE);
                saved
            });
        CopyMark {
            slots: range,
            head: plan.head,
            offsets,
            stubs,
            fixups: self.fixups.len(),
        }
    }

    /// Ends the copy [`Masm::begin_copy`] started: points `guard`'s jump at the copy's head,
    /// patches the copy's jumps to its own slots, and gives the slots back their first
    /// copy's offsets (every other jump, entry and `callx` goes to the first copy). Returns
    /// where the copy starts.
    pub fn end_copy(&mut self, mark: CopyMark, guard: Guard) -> Result<usize, JitError> {
        let start = self
            .entry_offset(mark.head)
            .ok_or_else(|| JitError::Internal {
                message: format!("the copy of the loop at {} has no entry", mark.head),
            })? as usize;
        self.asm.patch_rel32(guard.jump, start)?;
        let mut index = mark.fixups;
        while let Some((field, target)) = self.fixups.get(index).copied() {
            let inside = match target {
                Target::Slot(pc) if mark.slots.contains(&(pc as usize)) => {
                    self.entry_offset(pc as usize)
                }
                Target::Slot(_) | Target::Routine(_) => None,
            };
            match inside {
                Some(offset) => {
                    self.asm.patch_rel32(field, offset as usize)?;
                    self.fixups.swap_remove(index);
                }
                None => index += 1,
            }
        }
        if let Some(offsets) = self.offsets.get_mut(mark.slots.clone()) {
            debug_assert_eq!(offsets.len(), mark.offsets.len());
            if offsets.len() == mark.offsets.len() {
                offsets.copy_from_slice(&mark.offsets);
            }
        }
        if let Some(stubs) = self.stubs.get_mut(mark.slots) {
            if stubs.len() == mark.stubs.len() {
                stubs.copy_from_slice(&mark.stubs);
            }
        }
        Ok(start)
    }
}
