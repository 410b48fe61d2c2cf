//! The second copy of a versioned loop (see `jit::hoist`): setting the loop's slots aside
//! while the copy is emitted and giving them back after, and the accesses the loop's
//! guard checked, which translate with no check of their own.

use super::{env, At, Masm, Target, NONE};
use crate::jit::env::HOISTED;
use crate::jit::hoist::Plan;
use crate::jit::masm::Access;
use crate::jit::JitError;
use bpfvm_x86::{Gpr, Mem, Scale, Size};

/// What [`Masm::begin_copy`] set aside: the offsets and entry stubs of the loop's first
/// copy, and where the copy's fixups start.
pub(crate) struct CopyMark {
    offsets: Vec<u32>,
    stubs: Vec<u32>,
    fixups: usize,
}

impl Masm {
    /// Whether the second copy of a versioned loop is being emitted (its accesses then
    /// go through [`Masm::translate_in_copy`]).
    #[inline(always)]
    pub fn copying(&self) -> bool {
        self.hoist.is_some()
    }

    /// [`Masm::translate`] inside the second copy of a versioned loop: an access the plan
    /// hoists (both accesses of a pair, or neither) needs no check; its host operand is
    /// then [`Masm::hoisted_host`].
    #[inline(never)]
    pub fn translate_in_copy(
        &mut self,
        base: Gpr,
        off: i16,
        size: u8,
        access: Access,
        at: At,
    ) -> Result<(), JitError> {
        match self.pair {
            Some(pair) if pair.store as usize == at.pc => {
                self.host_index = self.pair_index;
                self.translate(base, off, size, access, at)
            }
            Some(pair) if pair.load as usize == at.pc => {
                let second = self.hoisted(pair.store as usize);
                match self.hoisted(at.pc).filter(|group| Some(*group) == second) {
                    Some(group) => {
                        self.hoisted_access(base, pair.start, group)?;
                        self.pair_disp = self.host_disp;
                        self.pair_index = self.host_index;
                        self.host_disp += i32::from(off) - i32::from(pair.start);
                        Ok(())
                    }
                    None => {
                        (self.host_index, self.pair_index) = (None, None);
                        self.translate(base, off, size, access, at)
                    }
                }
            }
            _ => match self.hoisted(at.pc) {
                Some(group) => self.hoisted_access(base, off, group),
                None => {
                    self.host_index = None;
                    self.translate(base, off, size, access, at)
                }
            },
        }
    }

    /// The group of the access at `pc` in the versioned loop being copied, if hoisted.
    #[inline(always)]
    fn hoisted(&self, pc: usize) -> Option<u8> {
        self.hoist.as_ref()?.group_of(pc)
    }

    /// The translation of an access whose span the loop's guard checked (see `hoist`):
    /// `host = vaddr + delta`, with the delta of the guard's row in `Env::hoisted`: rax
    /// holds the delta, and the access reads `[rax + base + off]`.
    #[inline(never)]
    fn hoisted_access(&mut self, base: Gpr, off: i16, group: u8) -> Result<(), JitError> {
        let delta = env(HOISTED + 8 * i32::from(group));
        self.asm.load(Size::S64, Gpr::Rax, delta)?;
        self.host_index = Some(base);
        self.host_disp = i32::from(off);
        Ok(())
    }

    /// Starts the second copy of the versioned loop of `plan`: its slots get new offsets
    /// (jumps inside the copy stay inside it), and its hoisted accesses no check.
    pub fn begin_copy(&mut self, plan: Plan) -> CopyMark {
        let range = plan.head..plan.latch + 1;
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
        let stubs = self.stubs.get_mut(range).map_or(Vec::new(), |slots| {
            let saved = slots.to_vec();
            slots.fill(NONE);
            saved
        });
        self.hoist = Some(Box::new(plan));
        self.pair = None;
        CopyMark {
            offsets,
            stubs,
            fixups: self.fixups.len(),
        }
    }

    /// Ends the copy [`Masm::begin_copy`] started: patches the copy's jumps to its own
    /// slots, and gives the slots back their first copy's offsets (every other jump, entry
    /// and `callx` goes to the first copy).
    pub fn end_copy(&mut self, mark: CopyMark) -> Result<(), JitError> {
        let Some(plan) = self.hoist.take() else {
            return Ok(());
        };
        self.pair = None;
        let mut index = mark.fixups;
        while let Some((field, target)) = self.fixups.get(index).copied() {
            let inside = match target {
                Target::Slot(pc) if plan.contains(pc as usize) => self.entry_offset(pc as usize),
                _ => None,
            };
            match inside {
                Some(offset) => {
                    self.asm.patch_rel32(field, offset as usize)?;
                    self.fixups.swap_remove(index);
                }
                None => index += 1,
            }
        }
        let range = plan.head..plan.latch + 1;
        if let Some(offsets) = self.offsets.get_mut(range.clone()) {
            if offsets.len() == mark.offsets.len() {
                offsets.copy_from_slice(&mark.offsets);
            }
        }
        if let Some(stubs) = self.stubs.get_mut(range) {
            if stubs.len() == mark.stubs.len() {
                stubs.copy_from_slice(&mark.stubs);
            }
        }
        Ok(())
    }

    /// The host operand of the access [`Masm::translate`] translated last when it is a
    /// hoisted one (`[rax + base + off]`; [`Masm::host`] otherwise), which the lowering
    /// asks for out of its hot path (a `Mem` of one fixed shape keeps the encoder's common
    /// case inlined).
    #[inline(always)]
    pub fn hoisted_host(&self) -> Option<Mem> {
        let index = self.host_index?;
        Some(Mem::indexed(Gpr::Rax, index, Scale::One, self.host_disp))
    }
}
