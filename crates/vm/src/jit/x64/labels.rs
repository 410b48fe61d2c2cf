//! The names of the x86-64 backend's shared routines ([`Routine`]) and pre-encoded
//! sequences ([`Shape`]), with their indices in the backend's fixed-size tables (which
//! `tests` checks are bijections).

use crate::jit::access::Access;

/// The shared out-of-line routines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Routine {
    /// Translation of a miss: vaddr in rax; returns the host address in rax and 0 in rcx
    /// (the row whose delta is 0), or bails out at the caller's site. By access kind and
    /// log2 of the size.
    Access(Access, u8),
    /// The same for the span of a pair (`jit::pair`) of two different accesses: only
    /// when every byte of the span is addressable and contiguous (a span reaching into a
    /// gap is refused, although a single access starting before the gap is not).
    Span(Access, u8),
    /// The syscall shim: index in rcx, pc in rax.
    Syscall,

    /// Ends the run as a bail-out at the site of its return address.
    BailSite,
    /// Ends the run at the root `exit` with r0 as the result.
    RootExit,
    /// Ends the run with whatever `Env::exit_kind` says.
    ExitStub,
}

/// How many [`Routine`]s there are.
pub(crate) const ROUTINES: usize = 20;

impl Routine {
    /// Every routine, in index order.
    pub const ALL: [Routine; ROUTINES] = [
        Routine::Access(Access::Load, 0),
        Routine::Access(Access::Load, 1),
        Routine::Access(Access::Load, 2),
        Routine::Access(Access::Load, 3),
        Routine::Access(Access::Store, 0),
        Routine::Access(Access::Store, 1),
        Routine::Access(Access::Store, 2),
        Routine::Access(Access::Store, 3),
        Routine::Span(Access::Load, 0),
        Routine::Span(Access::Load, 1),
        Routine::Span(Access::Load, 2),
        Routine::Span(Access::Load, 3),
        Routine::Span(Access::Store, 0),
        Routine::Span(Access::Store, 1),
        Routine::Span(Access::Store, 2),
        Routine::Span(Access::Store, 3),
        Routine::Syscall,
        Routine::BailSite,
        Routine::RootExit,
        Routine::ExitStub,
    ];

    /// The routine's index in [`ROUTINES`]-sized tables.
    #[inline(always)]
    pub fn index(self) -> usize {
        match self {
            Routine::Access(access, size) => {
                usize::from(access == Access::Store) * 4 + usize::from(size.min(3))
            }
            Routine::Span(access, size) => {
                8 + usize::from(access == Access::Store) * 4 + usize::from(size.min(3))
            }
            Routine::Syscall => 16,
            Routine::BailSite => 17,
            Routine::RootExit => 18,
            Routine::ExitStub => 19,
        }
    }
}

/// The pre-encoded sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The inline check of a memory access, by kind, size in bytes and miss routine.
    Access(Access, u8, Miss),
    /// The meter charge at a run's start, by immediate width.
    Meter(Width),
    /// The frame push of `call` / `callx`.
    FramePush,
    /// `exit`.
    Exit,
    /// `exit` with the return-pc check.
    CheckedExit,
}

/// How many [`Shape`]s there are.
pub(crate) const SHAPES: usize = 21;

impl Shape {
    /// Every shape, in index order (the access checks by miss routine, kind and size 1, 2,
    /// 4 and 8 bytes), for the test that [`Shape::index`] is a bijection.
    #[cfg(test)]
    pub const ALL: [Shape; SHAPES] = {
        let mut all = [Shape::Exit; SHAPES];
        let mut index = 0;
        while index < 16 {
            let miss = if index >= 8 {
                Miss::Span
            } else {
                Miss::Translate
            };
            let access = if index % 8 >= 4 {
                Access::Store
            } else {
                Access::Load
            };
            all[index] = Shape::Access(access, 1 << (index % 4), miss);
            index += 1;
        }
        all[16] = Shape::Meter(Width::Byte);
        all[17] = Shape::Meter(Width::Dword);
        all[18] = Shape::FramePush;
        all[19] = Shape::Exit;
        all[20] = Shape::CheckedExit;
        all
    };

    /// The shape's index in [`SHAPES`]-sized tables ([`Shape::ALL`] in reverse).
    #[inline]
    pub fn index(self) -> usize {
        match self {
            Shape::Access(access, size, miss) => access_index(access, size, miss),
            Shape::Meter(Width::Byte) => 16,
            Shape::Meter(Width::Dword) => 17,
            Shape::FramePush => 18,
            Shape::Exit => 19,
            Shape::CheckedExit => 20,
        }
    }
}

/// The index of an access check among the 16 of its shape: miss routine, kind, size.
fn access_index(access: Access, size: u8, miss: Miss) -> usize {
    usize::from(miss == Miss::Span) * 8
        + usize::from(access == Access::Store) * 4
        + size.trailing_zeros().min(3) as usize
}

/// The width of a patched immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    /// 8 bits (sign-extended by the instruction).
    Byte,
    /// 32 bits.
    Dword,
}

/// The routine an inline access check calls when it misses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    /// Translate the access ([`Routine::Access`]).
    Translate,
    /// Translate the span of a pair of different accesses ([`Routine::Span`]).
    Span,
}

impl Miss {
    /// The routine of a miss of a `2^log`-byte `access`.
    pub(crate) fn routine(self, access: Access, log: u8) -> Routine {
        match self {
            Miss::Translate => Routine::Access(access, log),
            Miss::Span => Routine::Span(access, log),
        }
    }
}
