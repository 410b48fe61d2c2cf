//! The error a failed translation becomes (reference §5.4), in one place for both mappings.
//!
//! With fixed stack frames, an address whose frame number
//! `(vaddr as i64 - MM_STACK_START) / stack_frame_size` (division truncating toward zero)
//! lies in `[-1, max_call_depth]` is a `StackAccessViolation` carrying that frame. Because of
//! the truncation, addresses up to one frame below the stack classify as frame 0 or -1
//! (`0x1_FFFF_FFFF` gives frame 0). Everything else is an `AccessViolation` naming the
//! region slot of the address's upper 32 bits: program, stack, heap, input, or unknown.

use crate::config::Config;
use crate::error::{AccessType, RuntimeError};
use crate::program::{MM_HEAP_START, MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START};

/// The configuration fields the classification depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViolationPolicy {
    dynamic_stack_frames: bool,
    stack_frame_size: usize,
    max_call_depth: usize,
}

impl ViolationPolicy {
    /// Takes the relevant fields of `config`.
    pub fn new(config: &Config) -> Self {
        ViolationPolicy {
            dynamic_stack_frames: config.dynamic_stack_frames,
            stack_frame_size: config.stack_frame_size,
            max_call_depth: config.max_call_depth,
        }
    }

    /// The error for a failed `access` of `len` bytes at `vaddr` by the instruction at `pc`.
    #[cold]
    pub fn error(&self, access: AccessType, vaddr: u64, len: u64, pc: usize) -> RuntimeError {
        // The reference computes in i64 with these exact conversions; a frame size that does
        // not fit (or is 0) gives frame 0.
        let frame = (vaddr as i64)
            .saturating_sub(MM_STACK_START as i64)
            .checked_div(self.stack_frame_size as i64)
            .unwrap_or(0);
        let frame_end = (self.max_call_depth as i64).saturating_add(1);
        if !self.dynamic_stack_frames && (-1..frame_end).contains(&frame) {
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
            region: region_name(vaddr),
        }
    }
}

/// The name of the region slot holding `vaddr`.
pub fn region_name(vaddr: u64) -> &'static str {
    match vaddr & !(MM_PROGRAM_START - 1) {
        MM_PROGRAM_START => "program",
        MM_STACK_START => "stack",
        MM_HEAP_START => "heap",
        MM_INPUT_START => "input",
        _ => "unknown",
    }
}
