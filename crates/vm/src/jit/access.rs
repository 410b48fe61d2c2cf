//! The JIT's words for a memory access, shared by every layer (the analyses, the neutral
//! lowering and the backends): whether it reads or writes, and which bytes of a checked span
//! the gapped stack's test looks at.

/// Whether an access reads or writes guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// A load.
    Load,
    /// A store (or an atomic read-modify-write).
    Store,
}

/// Which bytes of a checked span must be addressable in a gapped region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpanRule {
    /// The first byte only: the reference's rule for one access (an access that starts
    /// inside a frame may run on past its end into the gap).
    FirstByte,
    /// Every byte: the span of two different accesses, which may stand in for each of them
    /// only if no byte of it lies in a gap.
    EveryByte,
}
