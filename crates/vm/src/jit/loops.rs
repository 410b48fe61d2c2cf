//! What a compile reports about the loops it versioned (see the `hoist` module), in every
//! build: [`VersionedLoop`] is part of the public surface whether or not the JIT is there.

/// A loop compiled twice (see the `hoist` module): its slots, and where the code of its
/// second copy (the one whose hoisted accesses have no check) lies in the program's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedLoop {
    /// The loop's head.
    pub head: usize,
    /// The last slot of the copied body (a jump back to the head).
    pub latch: usize,
    /// The second copy's code with the out-of-line stubs emitted after it (offsets into
    /// [`JitProgram::code`](super::JitProgram::code)).
    pub code: core::ops::Range<usize>,
}
