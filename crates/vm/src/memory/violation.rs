//! The error a failed translation becomes (reference §5.4), in one place for both mappings.
//!
//! With fixed stack frames, an address whose frame number
//! `(vaddr as i64 - stack start) / stack_frame_size` (division truncating toward zero) lies
//! in `[-1, max_call_depth]` is a `StackAccessViolation` carrying that frame
//! ([`StackLayout::frame_of`](super::StackLayout::frame_of)). Because of the truncation,
//! addresses up to one frame below the stack classify as frame 0 or -1 (`0x1_FFFF_FFFF` gives
//! frame 0). Everything else is an `AccessViolation` naming the region slot of the address's
//! upper 32 bits: program, stack, heap, input, or unknown
//! ([`AddressMap::region_name`](super::AddressMap::region_name)).
//!
//! Under 0.26's rules ([`MemoryRules::Sbpf26`], the SBPF versions) the frame test is the
//! same but only for versions without manual frames (the layout's `frame_of` says `None`
//! for V1 and V2), and the region name is `unallocated` when no mapped region holds the
//! address, else the slot's name (`program`, `stack`, `heap`, `input`) or `allocated` (any
//! other slot, such as V3's read-only data at 0).

use super::layout::{AddressMap, Layout, MemoryRules};
use crate::error::{AccessType, RuntimeError};

/// What the classification depends on: the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViolationPolicy {
    layout: Layout,
}

impl ViolationPolicy {
    /// The layout the classification follows.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The classification of `layout`.
    pub fn new(layout: Layout) -> Self {
        ViolationPolicy { layout }
    }

    /// The error for a failed `access` of `len` bytes at `vaddr` by the instruction at `pc`;
    /// `held` says whether a mapped region holds the address (0.26's naming needs it).
    #[cold]
    pub fn error(
        &self,
        access: AccessType,
        vaddr: u64,
        len: u64,
        pc: usize,
        held: bool,
    ) -> RuntimeError {
        if let Some(frame) = self.layout.stack_frame_of(vaddr) {
            return RuntimeError::StackAccessViolation {
                pc,
                access,
                vaddr,
                len,
                frame,
            };
        }
        RuntimeError::AccessViolation {
            pc,
            access,
            vaddr,
            len,
            region: match self.layout.rules {
                MemoryRules::Reference2022 => self.layout.map.region_name(vaddr),
                MemoryRules::Sbpf26 if !held => "unallocated",
                MemoryRules::Sbpf26 => slot_name_26(vaddr),
            },
        }
    }
}

/// 0.26's name of the 4 GiB slot holding an address some region holds.
fn slot_name_26(vaddr: u64) -> &'static str {
    match vaddr >> 32 {
        1 => "program",
        2 => "stack",
        3 => "heap",
        4 => "input",
        _ => "allocated",
    }
}

/// The name of the region slot holding `vaddr` in the standard address map.
pub fn region_name(vaddr: u64) -> &'static str {
    AddressMap::STANDARD.region_name(vaddr)
}
