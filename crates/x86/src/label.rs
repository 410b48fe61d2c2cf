//! Labels and fixups: how a branch can name code that has not been emitted yet.
//!
//! # The problem
//!
//! A single-pass compiler emits a forward branch before it knows where the target will be. x86
//! branches and RIP-relative operands hold a *displacement*, `target - end`, where `end` is the
//! offset of the first byte after the instruction (the CPU's RIP when it executes it). So the
//! encoder emits the instruction with a placeholder displacement and remembers where to write
//! the real one.
//!
//! # The scheme
//!
//! * A [`Label`] is a small handle created by `Assembler::new_label` before the target exists.
//!   It is either *unbound* (the target is unknown) or *bound* to one code offset, once and
//!   for all; binding twice is an error, never a silent move.
//! * Every use of a label records a [`Fixup`]: the offset `at` of the displacement field, the
//!   offset `end` that the displacement is relative to, and the field's [`Reach`] (8 or 32
//!   bits). The placeholder bytes are zero.
//! * A use of a label that is already bound (a backward branch) is patched at once. A use of
//!   an unbound label is queued on that label (a chain through one arena shared by all
//!   labels, so no allocation per label), so binding costs time proportional to the
//!   label's own uses, not to all pending fixups.
//! * `bind` records the offset and patches every queued fixup. A displacement that does not fit
//!   its field (a short jump more than 127 bytes away) is an [`EncodeError::BranchOutOfRange`];
//!   the caller then uses the 32-bit form.
//! * `finish` refuses a buffer in which a label is used but unbound, so a placeholder can never
//!   escape as a branch to the instruction's own end.
//!
//! Unlike Cranelift's `MachBuffer`, there is no branch relaxation or jump threading: the caller
//! picks the short or near form explicitly, which keeps offsets predictable for a JIT that
//! estimates code size before it emits. Label offsets stay readable after binding
//! (`Assembler::label_offset`), which is how a JIT builds its pc-to-address table.

use crate::error::{EncodeError, Reach};

/// A position in the code, possibly not emitted yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(usize);

impl Label {
    /// The label's number within its assembler, in creation order.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A displacement field that must be written once its label is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fixup {
    /// Offset of the displacement field.
    pub at: usize,
    /// Offset the displacement is relative to (the end of the instruction).
    pub end: usize,
    /// The width of the field.
    pub reach: Reach,
}

/// No fixup (the end of a chain).
const NO_FIXUP: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
enum LabelState {
    /// Not bound yet; its queued uses form a chain through [`Labels::fixups`] from `head` to
    /// `tail` (both [`NO_FIXUP`] while it has none), in order of use.
    Unbound {
        head: u32,
        tail: u32,
    },
    Bound {
        offset: usize,
    },
}

/// A queued use of an unbound label and the next use of the same label.
#[derive(Clone, Copy, Debug)]
struct Queued {
    fixup: Fixup,
    next: u32,
}

/// The labels of one assembler and their pending fixups.
///
/// Every label's queued uses live in one shared arena, chained per label in order of use,
/// so neither a new label nor a use allocates on its own (both tables grow by doubling and
/// can be pre-sized). A bound label's chain stays in the arena, unreachable, until the
/// assembler is dropped.
#[derive(Clone, Debug, Default)]
pub(crate) struct Labels {
    states: Vec<LabelState>,
    fixups: Vec<Queued>,
}

impl Labels {
    /// Room for `labels` labels and `fixups` queued uses without reallocating.
    pub fn with_capacity(labels: usize, fixups: usize) -> Labels {
        Labels {
            states: Vec::with_capacity(labels),
            fixups: Vec::with_capacity(fixups),
        }
    }

    /// Creates a new unbound label.
    #[inline]
    pub fn new_label(&mut self) -> Label {
        self.states.push(LabelState::Unbound {
            head: NO_FIXUP,
            tail: NO_FIXUP,
        });
        Label(self.states.len() - 1)
    }

    /// Records a use of `label` whose field is already emitted (as zeros) in `code`.
    #[inline]
    pub fn use_label(
        &mut self,
        label: Label,
        fixup: Fixup,
        code: &mut [u8],
    ) -> Result<(), EncodeError> {
        match self.states.get_mut(label.0) {
            None => Err(EncodeError::UnknownLabel { label }),
            Some(LabelState::Bound { offset }) => patch(code, fixup, *offset, label),
            Some(LabelState::Unbound { head, tail }) => {
                let index = u32::try_from(self.fixups.len())
                    .ok()
                    .filter(|index| *index != NO_FIXUP)
                    .ok_or(EncodeError::UnknownLabel { label })?;
                match self.fixups.get_mut(*tail as usize) {
                    Some(last) => last.next = index,
                    None => *head = index,
                }
                *tail = index;
                self.fixups.push(Queued {
                    fixup,
                    next: NO_FIXUP,
                });
                Ok(())
            }
        }
    }

    /// Binds `label` to `offset` and patches every queued use.
    pub fn bind(
        &mut self,
        label: Label,
        offset: usize,
        code: &mut [u8],
    ) -> Result<(), EncodeError> {
        let state = self
            .states
            .get_mut(label.0)
            .ok_or(EncodeError::UnknownLabel { label })?;
        match std::mem::replace(state, LabelState::Bound { offset }) {
            LabelState::Bound { offset: first } => {
                *state = LabelState::Bound { offset: first };
                Err(EncodeError::LabelBoundTwice { label })
            }
            LabelState::Unbound { head, .. } => {
                let mut next = head;
                while let Some(queued) = self.fixups.get(next as usize) {
                    patch(code, queued.fixup, offset, label)?;
                    next = queued.next;
                }
                Ok(())
            }
        }
    }

    /// The offset `label` is bound to, if it is bound.
    #[inline]
    pub fn offset(&self, label: Label) -> Option<usize> {
        match self.states.get(label.0) {
            Some(LabelState::Bound { offset }) => Some(*offset),
            Some(LabelState::Unbound { .. }) | None => None,
        }
    }

    /// Fails on the first label that has uses but no binding.
    pub fn check_all_bound(&self) -> Result<(), EncodeError> {
        for (index, state) in self.states.iter().enumerate() {
            if let LabelState::Unbound { head, .. } = state {
                if *head != NO_FIXUP {
                    return Err(EncodeError::UnboundLabel {
                        label: Label(index),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Writes the displacement `target - fixup.end` into the fixup's field.
fn patch(code: &mut [u8], fixup: Fixup, target: usize, label: Label) -> Result<(), EncodeError> {
    let distance = offset_i64(target) - offset_i64(fixup.end);
    let out_of_range = EncodeError::BranchOutOfRange {
        label,
        reach: fixup.reach,
        distance,
    };
    match fixup.reach {
        Reach::Rel8 => {
            let value = i8::try_from(distance).map_err(|_| out_of_range)?;
            write_field(code, fixup.at, &value.to_le_bytes())
        }
        Reach::Rel32 => {
            let value = i32::try_from(distance).map_err(|_| out_of_range)?;
            write_field(code, fixup.at, &value.to_le_bytes())
        }
    }
    .ok_or(out_of_range)
}

fn write_field(code: &mut [u8], at: usize, bytes: &[u8]) -> Option<()> {
    code.get_mut(at..at.checked_add(bytes.len())?)?
        .copy_from_slice(bytes);
    Some(())
}

/// Code offsets are bounded by the buffer's length, which never exceeds `isize::MAX`.
fn offset_i64(offset: usize) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}
