//! What the flags say after an ALU operation the backend just emitted, so that a compare
//! with 0 right after it can be left out (`Masm::flags`, set by the ALU lowering in `ops`,
//! read by its conditional jumps, forgotten at every run start).

use bpfvm_x86::Gpr;

/// What the flags say after a 64-bit ALU operation on a guest register: the code that
/// follows it directly (at `end`, in the same run) may branch on them instead of comparing
/// the register with 0 again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Flags {
    /// The register the operation wrote.
    pub reg: Gpr,
    /// The code offset right after the operation.
    pub end: usize,
    /// Which conditions the flags answer as `cmp reg, 0` would.
    pub answers: FlagConds,
}

/// Which conditions the flags of an ALU operation answer as a compare of its result with 0
/// would: a logical operation clears CF and OF and sets ZF and SF from the result, as the
/// compare does, so every condition agrees; an add or subtract sets CF and OF its own way,
/// so only ZF (equal, not equal) agrees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FlagConds {
    /// Every condition (`and`, `or`, `xor`).
    All,
    /// Equal and not equal only (`add`, `sub`).
    Zero,
}
