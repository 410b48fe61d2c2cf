//! The interpreter's instruction stream: the ops of [`Code`](super::Code), one per slot, with
//! common adjacent pairs fused into one instruction (superinstructions).
//!
//! An interpreter pays for every instruction it dispatches (fetch, a jump through the
//! dispatch table, the jump's prediction), so two ops that compilers emit side by side
//! all the time cost less as one. The pairs fused here are the three shapes that dominate
//! compiled sBPF code:
//!
//! - a register copy followed by an operation on the copy, `mov64 d, a; op64 d, b`, which
//!   is how a two-address instruction set writes a three-address operation (`d = a + b`,
//!   `d = a & imm`): address arithmetic, bit tests and scaled indices;
//! - a load followed by an operation on the loaded value, `ldx d, [b + off]; op64 d, x`
//!   (sums, hashes, scaled table indices);
//! - a counter step followed by the loop's compare and branch, `add64 d, imm; jcc ...`,
//!   which closes almost every counted loop a compiler rotates, and a copy followed by an
//!   unsigned test against an immediate, `mov64 d, a; jgt x, imm` (the head of a
//!   `while (x > 1)` loop that keeps the old value).
//!
//! Beside them, a few shapes the kernels' dynamic pair counts showed (PERFORMANCE.md, phase
//! G): two copies back to back, `mov64; mov64` (the shuffles around a loop's compare); a bit
//! test of a copy, the triple `mov64 d, a; and64 d, imm; jeq d, cmp` (flag and parity
//! tests); the branchless select of a bitwise CRC, `neg64 d; and64 d, x`; and a counter
//! stepped in memory, the triple `ldx; add64 imm; stx` (whose store may fail after the
//! first two ops ran: its error names the store's slot, and the meter charges the slots
//! before it). A triple's second and third slots keep their ops, as a pair's second does.
//!
//! A fused instruction sits in the slot of the pair's first op and does what the two ops
//! do, in order; the second slot keeps its own op, so a jump to it, a hand-over from the JIT
//! at it and an exact step there all see the plain op. Fusing never crosses what a run of
//! the meter cannot: both ops of a pair lie in one straight-line run (the first never ends
//! one), and only a first op can fail (a load), before the second runs, so a fused
//! instruction's errors name its own slot as the plain op's would, and the meter's refund of
//! the rest of the run stays exact. The stepping loop (tracing, the step hook) and the
//! meter's exact steps run the plain ops.

use super::{Ext32, GuestReg, Op, Operand, Trap};
use bpfvm_isa::{AtomicOp, Cond, Dialect, MemSize, PqrOp, Width};

/// The type of an op's field in its [`Inst`]: the op's own type, except that a jump's target
/// (`ja` and the conditional jumps with their condition in the kind) is a [`Target`], which
/// carries the run lengths the chain charges where the jump goes. `Branch32` keeps its `u32`
/// (its variant has no room for the lengths: an `Inst` is as small as an `Op`), and so does
/// `Call`'s `usize` (a call may name a slot outside the program).
macro_rules! field_type {
    (Branch32 $field:ident $ty:ty) => {
        $ty
    };
    (Call $field:ident $ty:ty) => {
        $ty
    };
    ($name:ident target $ty:ty) => {
        Target
    };
    ($name:ident $field:ident $ty:ty) => {
        $ty
    };
}

/// Generates [`Inst`] from the rows of the op table: one variant per op, with the op's
/// fields, followed by the fused pairs; and the conversion from an op.
macro_rules! define_insts {
    ($(
        $(#[$attr:meta])*
        $name:ident $({ $($field:ident : $ty:ty),* $(,)? })? => $facts:expr
    ),* $(,)?) => {
        /// One slot of the interpreter's stream: an op of the table (the same variant, the
        /// same fields), or a fused pair that starts there (see the module doc). One flat
        /// enum, so that the interpreter dispatches once per entry through one table.
        ///
        /// The tag is a byte in declaration order (`repr(u8)`), so [`Inst::kind`] is a load
        /// of that byte: the threaded interpreter indexes its handler table with it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(missing_docs, reason = "fields are named after the instructions' operands")]
        #[repr(u8)]
        pub(crate) enum Inst {
            $(
                $(#[$attr])*
                $name $({ $($field: field_type!($name $field $ty)),* })?,
            )*
            /// `mov64 dst, a; add64 dst, b`: `dst = a + b` (`b` already reads `a` where the
            /// second op read `dst`).
            MovAddReg { dst: GuestReg, a: GuestReg, b: GuestReg },
            /// `mov64 dst, a; add64 dst, imm`: `dst = a + imm` (also `mov64 dst, a; sub64
            /// dst, k` with `imm = -k`).
            MovAddImm { dst: GuestReg, a: GuestReg, imm: i32 },
            /// `mov64 dst, a; and64 dst, imm`: `dst = a & imm`.
            MovAndImm { dst: GuestReg, a: GuestReg, imm: i32 },
            /// `mov64 dst, a; lsh64 dst, imm`: `dst = a << imm`.
            MovLshImm { dst: GuestReg, a: GuestReg, imm: i32 },
            /// `mov64 dst, a; rsh64 dst, imm`: `dst = a >> imm` (logical).
            MovRshImm { dst: GuestReg, a: GuestReg, imm: i32 },
            /// `mov64 dst, a; mov64 to, from`: two copies (`from` already reads `a` where the
            /// second copy named `dst`; `to` may be `dst`, and the second copy wins).
            MovMov { dst: GuestReg, a: GuestReg, to: GuestReg, from: GuestReg },
            /// `mov64 dst, a; and64 dst, imm; jeq dst, cmp, target`: a bit test of a copy
            /// (`(a & imm) == cmp`, the copy kept). A fused triple; its branch is the third
            /// slot's. The comparand is a byte (sign-extended as the branch's `i32` is), so
            /// that the [`Target`] fits beside the mask in 16 bytes: a triple whose comparand
            /// needs more is left to the pair `mov64; and64` and the plain branch.
            MovAndJeqImm { dst: GuestReg, a: GuestReg, cmp: i8, imm: i32, target: Target },
            /// `neg64 dst; and64 dst, src` (`src` not `dst`): `dst = -dst & src`, the
            /// branchless select of a bitwise CRC.
            NegAndReg { dst: GuestReg, src: GuestReg },
            /// `mov64 dst, a; jgt x, cmp, target` (`x` already reads `a` where the branch
            /// named `dst`): the copy before a `while (x > 1)` test.
            MovJgtImm { dst: GuestReg, a: GuestReg, x: GuestReg, cmp: i32, target: Target },
            /// `ldx dst, [base + off]; add64 dst, imm`, a load of 1 byte (zero-extended) and
            /// then an operation on the loaded value. Each fused memory form has one kind per
            /// size (8, 16, 32 and 64 bits), so that its handler knows the size without
            /// reading it (phase J).
            Ldx8AddImm(LoadImm),
            Ldx16AddImm(LoadImm),
            Ldx32AddImm(LoadImm),
            Ldx64AddImm(LoadImm),
            /// `ldx dst, [base + off]; add64 dst, src` (`src` may name `dst`: the loaded value).
            Ldx8AddReg(LoadReg),
            Ldx16AddReg(LoadReg),
            Ldx32AddReg(LoadReg),
            Ldx64AddReg(LoadReg),
            /// `ldx dst, [base + off]; xor64 dst, src`.
            Ldx8XorReg(LoadReg),
            Ldx16XorReg(LoadReg),
            Ldx32XorReg(LoadReg),
            Ldx64XorReg(LoadReg),
            /// `ldx dst, [base + off]; and64 dst, imm`.
            Ldx8AndImm(LoadImm),
            Ldx16AndImm(LoadImm),
            Ldx32AndImm(LoadImm),
            Ldx64AndImm(LoadImm),
            /// `ldx dst, [base + off]; lsh64 dst, imm`.
            Ldx8LshImm(LoadImm),
            Ldx16LshImm(LoadImm),
            Ldx32LshImm(LoadImm),
            Ldx64LshImm(LoadImm),
            /// `ldx dst, [base + off]; add64 dst, imm; stx [base + off], dst` (one size, `dst`
            /// not `base`): a counter in memory stepped in place. A fused triple; the
            /// store can fail after the first two ops ran, and its error names its own slot.
            Ldx8AddStx(LoadImm),
            Ldx16AddStx(LoadImm),
            Ldx32AddStx(LoadImm),
            Ldx64AddStx(LoadImm),
            /// `add64 dst, imm; jlt x, y, target` (the branch reads the sum where it names
            /// `dst`).
            AddJltReg { dst: GuestReg, x: GuestReg, y: GuestReg, imm: i32, target: Target },
            /// `add64 dst, imm; jne x, y, target`.
            AddJneReg { dst: GuestReg, x: GuestReg, y: GuestReg, imm: i32, target: Target },
            /// `add64 dst, imm; jeq x, cmp, target`. The step is a byte (sign-extended as the
            /// add's `i32` is), so that the [`Target`] fits beside the comparand in 16 bytes:
            /// a step that needs more leaves the two ops apart (the three forms alike).
            AddJeqImm { dst: GuestReg, x: GuestReg, imm: i8, cmp: i32, target: Target },
            /// `add64 dst, imm; jne x, cmp, target`.
            AddJneImm { dst: GuestReg, x: GuestReg, imm: i8, cmp: i32, target: Target },
            /// `add64 dst, imm; jlt x, cmp, target`.
            AddJltImm { dst: GuestReg, x: GuestReg, imm: i8, cmp: i32, target: Target },
        }

        /// The kind of an [`Inst`], without its fields: one value per variant, in the
        /// variants' order, numbered from 0 (the index of the kind's handler in the
        /// threaded interpreter's table).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(missing_docs, reason = "each kind is named after its `Inst` variant")]
        #[repr(u8)]
        pub(crate) enum InstKind {
            $($name,)*
            MovAddReg,
            MovAddImm,
            MovAndImm,
            MovLshImm,
            MovRshImm,
            MovMov,
            MovAndJeqImm,
            NegAndReg,
            MovJgtImm,
            Ldx8AddImm,
            Ldx16AddImm,
            Ldx32AddImm,
            Ldx64AddImm,
            Ldx8AddReg,
            Ldx16AddReg,
            Ldx32AddReg,
            Ldx64AddReg,
            Ldx8XorReg,
            Ldx16XorReg,
            Ldx32XorReg,
            Ldx64XorReg,
            Ldx8AndImm,
            Ldx16AndImm,
            Ldx32AndImm,
            Ldx64AndImm,
            Ldx8LshImm,
            Ldx16LshImm,
            Ldx32LshImm,
            Ldx64LshImm,
            Ldx8AddStx,
            Ldx16AddStx,
            Ldx32AddStx,
            Ldx64AddStx,
            AddJltReg,
            AddJneReg,
            AddJeqImm,
            AddJneImm,
            AddJltImm,
        }

        impl InstKind {
            /// The number of kinds.
            pub(crate) const COUNT: usize = InstKind::AddJltImm as usize + 1;
        }

        impl Inst {
            /// The instruction's kind.
            #[inline(always)]
            pub(crate) fn kind(&self) -> InstKind {
                match self {
                    $(Inst::$name { .. } => InstKind::$name,)*
                    Inst::MovAddReg { .. } => InstKind::MovAddReg,
                    Inst::MovAddImm { .. } => InstKind::MovAddImm,
                    Inst::MovAndImm { .. } => InstKind::MovAndImm,
                    Inst::MovLshImm { .. } => InstKind::MovLshImm,
                    Inst::MovRshImm { .. } => InstKind::MovRshImm,
                    Inst::MovMov { .. } => InstKind::MovMov,
                    Inst::MovAndJeqImm { .. } => InstKind::MovAndJeqImm,
                    Inst::NegAndReg { .. } => InstKind::NegAndReg,
                    Inst::MovJgtImm { .. } => InstKind::MovJgtImm,
                    Inst::Ldx8AddImm { .. } => InstKind::Ldx8AddImm,
                    Inst::Ldx16AddImm { .. } => InstKind::Ldx16AddImm,
                    Inst::Ldx32AddImm { .. } => InstKind::Ldx32AddImm,
                    Inst::Ldx64AddImm { .. } => InstKind::Ldx64AddImm,
                    Inst::Ldx8AddReg { .. } => InstKind::Ldx8AddReg,
                    Inst::Ldx16AddReg { .. } => InstKind::Ldx16AddReg,
                    Inst::Ldx32AddReg { .. } => InstKind::Ldx32AddReg,
                    Inst::Ldx64AddReg { .. } => InstKind::Ldx64AddReg,
                    Inst::Ldx8XorReg { .. } => InstKind::Ldx8XorReg,
                    Inst::Ldx16XorReg { .. } => InstKind::Ldx16XorReg,
                    Inst::Ldx32XorReg { .. } => InstKind::Ldx32XorReg,
                    Inst::Ldx64XorReg { .. } => InstKind::Ldx64XorReg,
                    Inst::Ldx8AndImm { .. } => InstKind::Ldx8AndImm,
                    Inst::Ldx16AndImm { .. } => InstKind::Ldx16AndImm,
                    Inst::Ldx32AndImm { .. } => InstKind::Ldx32AndImm,
                    Inst::Ldx64AndImm { .. } => InstKind::Ldx64AndImm,
                    Inst::Ldx8LshImm { .. } => InstKind::Ldx8LshImm,
                    Inst::Ldx16LshImm { .. } => InstKind::Ldx16LshImm,
                    Inst::Ldx32LshImm { .. } => InstKind::Ldx32LshImm,
                    Inst::Ldx64LshImm { .. } => InstKind::Ldx64LshImm,
                    Inst::Ldx8AddStx { .. } => InstKind::Ldx8AddStx,
                    Inst::Ldx16AddStx { .. } => InstKind::Ldx16AddStx,
                    Inst::Ldx32AddStx { .. } => InstKind::Ldx32AddStx,
                    Inst::Ldx64AddStx { .. } => InstKind::Ldx64AddStx,
                    Inst::AddJltReg { .. } => InstKind::AddJltReg,
                    Inst::AddJneReg { .. } => InstKind::AddJneReg,
                    Inst::AddJeqImm { .. } => InstKind::AddJeqImm,
                    Inst::AddJneImm { .. } => InstKind::AddJneImm,
                    Inst::AddJltImm { .. } => InstKind::AddJltImm,
                }
            }
        }

        impl From<Op> for Inst {
            /// The op's own variant (never a fused pair).
            #[inline]
            fn from(op: Op) -> Inst {
                match op {
                    $(Op::$name $({ $($field),* })? => Inst::$name $({ $($field: op_field($field)),* })?,)*
                }
            }
        }
    };
}

bpfvm_isa::for_each_op!(define_insts);

/// A jump's target in the stream, with the meter's run lengths where the jump goes: the
/// target's run (`taken`) and the run after the jump (`fallthrough`: the slot after the
/// jump's own, which for a fused pair is the slot after its second). The threaded
/// interpreter charges a run head from these instead of looking its length up.
///
/// A length is [`Target::UNKNOWN`] when it is not known: in an `Inst` made from an op (the
/// stepping loop's, which never reads it), for a run too long for 16 bits, and for a slot
/// outside the program. **Invariant** (of a [`Stream`], relied on by the threaded dispatch's
/// unchecked fetch, `interpreter::thread`): in a stream, a length below `UNKNOWN` is the run
/// length of its slot, and that slot lies inside the program (below the stream's sentinel
/// entry, so inside the stream). [`fuse`], the only maker of a `Stream`, establishes it, and
/// a stream is never changed once made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The three in one word, so that a handler reads them with one load into one register:
    /// the slot in the low 32 bits, `taken` in the next 16 and `fallthrough` in the top 16.
    packed: u64,
}

impl Target {
    /// A length not known. Larger than any run a chain of handlers enters (at most
    /// `interpreter::thread::CHAIN` instructions), so a chain never enters a run by it.
    pub(crate) const UNKNOWN: u16 = u16::MAX;

    /// The target `slot` with the run lengths `taken` (of `slot`) and `fallthrough` (of the
    /// slot after the jump).
    const fn new(slot: u32, taken: u16, fallthrough: u16) -> Target {
        Target {
            packed: slot as u64 | (taken as u64) << 32 | (fallthrough as u64) << 48,
        }
    }

    /// The slot the jump goes to when it is taken.
    #[inline(always)]
    pub(crate) const fn slot(self) -> u32 {
        self.packed as u32
    }

    /// The run length of [`Target::slot`], or `UNKNOWN`.
    #[inline(always)]
    pub(crate) const fn taken(self) -> u16 {
        (self.packed >> 32) as u16
    }

    /// The run length of the slot after the jump, or `UNKNOWN`.
    #[inline(always)]
    pub(crate) const fn fallthrough(self) -> u16 {
        (self.packed >> 48) as u16
    }
}

impl From<u32> for Target {
    /// The target `slot`, with its lengths not known (see [`Target::UNKNOWN`]).
    fn from(slot: u32) -> Target {
        Target::new(slot, Target::UNKNOWN, Target::UNKNOWN)
    }
}

/// An op's field as its [`Inst`]'s (the same value, or a jump's [`Target`]).
#[inline(always)]
fn op_field<T, U: From<T>>(value: T) -> U {
    U::from(value)
}

/// The operands of a fused load whose second op takes an immediate: `ldx dst, [base + off];
/// op dst, imm` (and the counter step's `add64 dst, imm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LoadImm {
    pub(crate) dst: GuestReg,
    pub(crate) base: GuestReg,
    pub(crate) off: i16,
    pub(crate) imm: i32,
}

/// The operands of a fused load whose second op takes a register: `ldx dst, [base + off];
/// op dst, src`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LoadReg {
    pub(crate) dst: GuestReg,
    pub(crate) base: GuestReg,
    pub(crate) off: i16,
    pub(crate) src: GuestReg,
}

/// A fused memory form's four kinds (their constructors), by the access's size: 1, 2, 4 and
/// 8 bytes.
type BySize<F> = [fn(F) -> Inst; 4];

/// The kind of `size` among a fused memory form's four, with its operands.
fn by_size<F>(size: MemSize, kinds: BySize<F>, operands: F) -> Inst {
    let [b, h, w, dw] = kinds;
    match size {
        MemSize::B => b(operands),
        MemSize::H => h(operands),
        MemSize::W => w(operands),
        MemSize::DW => dw(operands),
    }
}

const LDX_ADD_IMM: BySize<LoadImm> = [
    Inst::Ldx8AddImm,
    Inst::Ldx16AddImm,
    Inst::Ldx32AddImm,
    Inst::Ldx64AddImm,
];
const LDX_ADD_REG: BySize<LoadReg> = [
    Inst::Ldx8AddReg,
    Inst::Ldx16AddReg,
    Inst::Ldx32AddReg,
    Inst::Ldx64AddReg,
];
const LDX_XOR_REG: BySize<LoadReg> = [
    Inst::Ldx8XorReg,
    Inst::Ldx16XorReg,
    Inst::Ldx32XorReg,
    Inst::Ldx64XorReg,
];
const LDX_AND_IMM: BySize<LoadImm> = [
    Inst::Ldx8AndImm,
    Inst::Ldx16AndImm,
    Inst::Ldx32AndImm,
    Inst::Ldx64AndImm,
];
const LDX_LSH_IMM: BySize<LoadImm> = [
    Inst::Ldx8LshImm,
    Inst::Ldx16LshImm,
    Inst::Ldx32LshImm,
    Inst::Ldx64LshImm,
];
const LDX_ADD_STX: BySize<LoadImm> = [
    Inst::Ldx8AddStx,
    Inst::Ldx16AddStx,
    Inst::Ldx32AddStx,
    Inst::Ldx64AddStx,
];

/// The [`Inst::Overrun`] slots the stream has after its entry for the sentinel: the most
/// slots an instruction falls through by (the fused triple's three). Whatever the ops, an
/// instruction that falls through (every one but `Overrun` may) sits before this tail, so
/// the slot it falls through to is inside the stream; the threaded dispatch
/// (`interpreter::thread`) fetches that slot without a bound check. No pc ever reaches the
/// tail: the sentinel before it stops every run that gets that far.
pub(crate) const TAIL: usize = 3;

/// The interpreter's stream of `ops` (one entry per op, the sentinel included), followed by
/// [`TAIL`] `Overrun`s: each slot whose op and the next two form a fused triple holds it,
/// each other slot whose op and the next one form a fused pair holds the pair, every other
/// slot its op; each jump's [`Target`] carries the run lengths of `runs` (one per op) where
/// it goes.
pub(crate) fn fuse(ops: &[Op], runs: &[u64]) -> Stream {
    let fused = ops.iter().enumerate().map(|(pc, op)| {
        let second = ops.get(pc + 1);
        let third = ops.get(pc + 2);
        let mut inst = second
            .zip(third)
            .and_then(|(second, third)| triple(op, second, third))
            .or_else(|| second.and_then(|second| pair(op, second)))
            .unwrap_or(Inst::from(*op));
        if let Some((target, skipped)) = inst.target_mut() {
            // Only a slot of the program gets a known length: the invariant of `Target`.
            let length = |slot: usize| match runs.get(slot) {
                Some(&length) if slot < ops.len() => {
                    u16::try_from(length).unwrap_or(Target::UNKNOWN)
                }
                _ => Target::UNKNOWN,
            };
            let slot = target.slot();
            *target = Target::new(slot, length(slot as usize), length(pc + skipped));
        }
        inst
    });
    Stream {
        insts: fused
            .chain(core::iter::repeat_n(Inst::Overrun, TAIL))
            .collect(),
    }
}

/// The interpreter's stream of a program, as [`fuse`] made it: the one way to have one, so
/// that the invariant of its [`Target`]s holds in every stream (nothing changes a stream
/// once made: it is only lent shared).
#[derive(Debug)]
pub(crate) struct Stream {
    insts: Vec<Inst>,
}

impl Stream {
    /// The stream's instructions: one per slot, the sentinel's, then [`TAIL`] `Overrun`s.
    pub(crate) fn insts(&self) -> &[Inst] {
        &self.insts
    }
}

impl Inst {
    /// The instruction's jump target when it is a [`Target`], with the number of slots the
    /// instruction covers up to and including its jump (its fall-through is that many slots
    /// on).
    fn target_mut(&mut self) -> Option<(&mut Target, usize)> {
        match self {
            Inst::Ja { target }
            | Inst::JeqImm { target, .. }
            | Inst::JeqReg { target, .. }
            | Inst::JneImm { target, .. }
            | Inst::JneReg { target, .. }
            | Inst::JgtImm { target, .. }
            | Inst::JgtReg { target, .. }
            | Inst::JgeImm { target, .. }
            | Inst::JgeReg { target, .. }
            | Inst::JltImm { target, .. }
            | Inst::JltReg { target, .. }
            | Inst::JleImm { target, .. }
            | Inst::JleReg { target, .. }
            | Inst::JsetImm { target, .. }
            | Inst::JsetReg { target, .. }
            | Inst::JsgtImm { target, .. }
            | Inst::JsgtReg { target, .. }
            | Inst::JsgeImm { target, .. }
            | Inst::JsgeReg { target, .. }
            | Inst::JsltImm { target, .. }
            | Inst::JsltReg { target, .. }
            | Inst::JsleImm { target, .. }
            | Inst::JsleReg { target, .. } => Some((target, 1)),
            Inst::MovJgtImm { target, .. }
            | Inst::AddJltReg { target, .. }
            | Inst::AddJneReg { target, .. }
            | Inst::AddJeqImm { target, .. }
            | Inst::AddJneImm { target, .. }
            | Inst::AddJltImm { target, .. } => Some((target, 2)),
            Inst::MovAndJeqImm { target, .. } => Some((target, 3)),
            _ => None,
        }
    }
}

/// The size, destination, base and offset of a zero-extending load.
fn load_parts(op: &Op) -> Option<(MemSize, GuestReg, GuestReg, i16)> {
    if let Op::Ldx8 { dst, base, off } = *op {
        Some((MemSize::B, dst, base, off))
    } else if let Op::Ldx16 { dst, base, off } = *op {
        Some((MemSize::H, dst, base, off))
    } else if let Op::Ldx32 { dst, base, off } = *op {
        Some((MemSize::W, dst, base, off))
    } else if let Op::Ldx64 { dst, base, off } = *op {
        Some((MemSize::DW, dst, base, off))
    } else {
        None
    }
}

/// The size, base, source and offset of a register store.
fn store_parts(op: &Op) -> Option<(MemSize, GuestReg, GuestReg, i16)> {
    if let Op::Stx8 { base, src, off } = *op {
        Some((MemSize::B, base, src, off))
    } else if let Op::Stx16 { base, src, off } = *op {
        Some((MemSize::H, base, src, off))
    } else if let Op::Stx32 { base, src, off } = *op {
        Some((MemSize::W, base, src, off))
    } else if let Op::Stx64 { base, src, off } = *op {
        Some((MemSize::DW, base, src, off))
    } else {
        None
    }
}

/// The fused triple of `first`, `second` and `third`, if they form one.
fn triple(first: &Op, second: &Op, third: &Op) -> Option<Inst> {
    counter_step(first, second, third).or_else(|| bit_test(first, second, third))
}

/// `ldx dst, [base + off]; add64 dst, imm; stx [base + off], dst`, one size, `dst` not
/// `base` (so the store writes where the load read, and running the triple again after its
/// store was retried reads the same bytes).
fn counter_step(first: &Op, second: &Op, third: &Op) -> Option<Inst> {
    let (size, dst, base, off) = load_parts(first)?;
    let Op::Add64Imm { dst: stepped, imm } = *second else {
        return None;
    };
    let stored = store_parts(third)?;
    let operands = LoadImm {
        dst,
        base,
        off,
        imm,
    };
    (stepped == dst && dst != base && stored == (size, base, dst, off))
        .then(|| by_size(size, LDX_ADD_STX, operands))
}

/// `mov64 dst, a; and64 dst, imm; jeq dst, cmp, target`: none of the three can fail, and
/// only the branch ends the run.
fn bit_test(first: &Op, second: &Op, third: &Op) -> Option<Inst> {
    let Op::Mov64Reg { dst, src: a } = *first else {
        return None;
    };
    let Op::And64Imm { dst: masked, imm } = *second else {
        return None;
    };
    let Op::JeqImm {
        dst: tested,
        imm: cmp,
        target,
    } = *third
    else {
        return None;
    };
    let cmp = i8::try_from(cmp).ok()?;
    (masked == dst && tested == dst).then_some(Inst::MovAndJeqImm {
        dst,
        a,
        cmp,
        imm,
        target: target.into(),
    })
}

/// The fused instruction of `first` followed by `second` in the next slot, if they form one.
/// Any other op stays as it is, so a new op is never fused by accident (the pairs are
/// matched with `if let`, not a wildcard arm over the op kinds).
fn pair(first: &Op, second: &Op) -> Option<Inst> {
    if let Op::Mov64Reg { dst, src } = *first {
        return copy_then(dst, src, second);
    }
    if let Op::Add64Imm { dst, imm } = *first {
        return step_then(dst, imm, second);
    }
    if let Op::Neg64 { dst } = *first {
        let Op::And64Reg { dst: masked, src } = *second else {
            return None;
        };
        return (masked == dst && src != dst).then_some(Inst::NegAndReg { dst, src });
    }
    let (size, dst, base, off) = load_parts(first)?;
    load_then(size, dst, base, off, second)
}

/// `mov64 dst, a` followed by `second`, when `second` operates on `dst` in place, is another
/// copy or is an unsigned greater-than test against an immediate.
fn copy_then(dst: GuestReg, a: GuestReg, second: &Op) -> Option<Inst> {
    // After the copy `dst` holds `a`: a second operand naming `dst` reads `a`.
    let read = |reg: GuestReg| if reg == dst { a } else { reg };
    if let Op::JgtImm {
        dst: x,
        imm: cmp,
        target,
    } = *second
    {
        let x = read(x);
        return Some(Inst::MovJgtImm {
            dst,
            a,
            x,
            cmp,
            target: target.into(),
        });
    }
    if let Op::Mov64Reg { dst: to, src } = *second {
        let from = read(src);
        return Some(Inst::MovMov { dst, a, to, from });
    }
    let (target, fused) = if let Op::Add64Reg { dst: d, src } = *second {
        let b = read(src);
        (d, Inst::MovAddReg { dst, a, b })
    } else if let Op::Add64Imm { dst: d, imm } = *second {
        (d, Inst::MovAddImm { dst, a, imm })
    } else if let Op::Sub64Imm { dst: d, imm } = *second {
        // `a - imm` is `a + (-imm)`; `-i32::MIN` has no `i32`, so that one stays apart.
        (
            d,
            Inst::MovAddImm {
                dst,
                a,
                imm: imm.checked_neg()?,
            },
        )
    } else if let Op::And64Imm { dst: d, imm } = *second {
        (d, Inst::MovAndImm { dst, a, imm })
    } else if let Op::Lsh64Imm { dst: d, imm } = *second {
        (d, Inst::MovLshImm { dst, a, imm })
    } else if let Op::Rsh64Imm { dst: d, imm } = *second {
        (d, Inst::MovRshImm { dst, a, imm })
    } else {
        return None;
    };
    (target == dst).then_some(fused)
}

/// A zero-extending load into `dst` followed by `second`, when `second` operates on the
/// loaded value in place. Only the load can fail, and it runs first, so an error names its
/// slot as the plain op's would.
fn load_then(size: MemSize, dst: GuestReg, base: GuestReg, off: i16, second: &Op) -> Option<Inst> {
    let with_imm = |imm| LoadImm {
        dst,
        base,
        off,
        imm,
    };
    let with_reg = |src| LoadReg {
        dst,
        base,
        off,
        src,
    };
    let (target, fused) = if let Op::Add64Imm { dst: d, imm } = *second {
        (d, by_size(size, LDX_ADD_IMM, with_imm(imm)))
    } else if let Op::Add64Reg { dst: d, src } = *second {
        (d, by_size(size, LDX_ADD_REG, with_reg(src)))
    } else if let Op::Xor64Reg { dst: d, src } = *second {
        (d, by_size(size, LDX_XOR_REG, with_reg(src)))
    } else if let Op::And64Imm { dst: d, imm } = *second {
        (d, by_size(size, LDX_AND_IMM, with_imm(imm)))
    } else if let Op::Lsh64Imm { dst: d, imm } = *second {
        (d, by_size(size, LDX_LSH_IMM, with_imm(imm)))
    } else {
        return None;
    };
    (target == dst).then_some(fused)
}

/// `add64 dst, imm` followed by `second`, when `second` is one of the fused loop branches.
fn step_then(dst: GuestReg, imm: i32, second: &Op) -> Option<Inst> {
    if let Op::JltReg {
        dst: x,
        src: y,
        target,
    } = *second
    {
        return Some(Inst::AddJltReg {
            dst,
            x,
            y,
            imm,
            target: target.into(),
        });
    }
    if let Op::JneReg {
        dst: x,
        src: y,
        target,
    } = *second
    {
        return Some(Inst::AddJneReg {
            dst,
            x,
            y,
            imm,
            target: target.into(),
        });
    }
    // The three forms against an immediate take the step as a byte.
    let Ok(step) = i8::try_from(imm) else {
        return None;
    };
    if let Op::JeqImm {
        dst: x,
        imm: cmp,
        target,
    } = *second
    {
        return Some(Inst::AddJeqImm {
            dst,
            x,
            imm: step,
            cmp,
            target: target.into(),
        });
    }
    if let Op::JneImm {
        dst: x,
        imm: cmp,
        target,
    } = *second
    {
        return Some(Inst::AddJneImm {
            dst,
            x,
            imm: step,
            cmp,
            target: target.into(),
        });
    }
    if let Op::JltImm {
        dst: x,
        imm: cmp,
        target,
    } = *second
    {
        return Some(Inst::AddJltImm {
            dst,
            x,
            imm: step,
            cmp,
            target: target.into(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream of `ops` with no run lengths known (the structure of the fusion only).
    fn fuse(ops: &[Op]) -> Vec<Inst> {
        super::fuse(ops, &[]).insts().to_vec()
    }

    #[test]
    fn an_inst_is_as_small_as_an_op() {
        assert_eq!(core::mem::size_of::<Inst>(), core::mem::size_of::<Op>());
    }

    #[test]
    fn pairs_fuse_in_the_first_slot_and_the_second_keeps_its_op() {
        let (r1, r2, r3) = (GuestReg::R1, GuestReg::R2, GuestReg::R3);
        let ops = [
            Op::Mov64Reg { dst: r1, src: r2 },
            Op::Add64Reg { dst: r1, src: r1 },
            Op::Add64Imm { dst: r3, imm: 1 },
            Op::JltReg {
                dst: r3,
                src: r2,
                target: 0,
            },
            Op::Exit,
            Op::Overrun,
        ];
        let insts = fuse(&ops);
        assert_eq!(insts.len(), ops.len() + TAIL);
        // `r1 = r2; r1 += r1` is `r1 = r2 + r2`.
        assert_eq!(
            insts[0],
            Inst::MovAddReg {
                dst: r1,
                a: r2,
                b: r2
            }
        );
        assert_eq!(insts[1], Inst::from(ops[1]));
        assert_eq!(
            insts[2],
            Inst::AddJltReg {
                dst: r3,
                x: r3,
                y: r2,
                imm: 1,
                target: Target::from(0)
            }
        );
        assert_eq!(insts[3], Inst::from(ops[3]));
        assert_eq!(insts[5], Inst::Overrun);
        // The tail the threaded dispatch relies on.
        assert!(insts[ops.len()..].iter().all(|inst| *inst == Inst::Overrun));
    }

    #[test]
    fn a_jump_carries_the_run_lengths_where_it_goes_when_they_are_known() {
        let (r1, r2) = (GuestReg::R1, GuestReg::R2);
        let ops = [
            Op::Mov64Imm { dst: r1, imm: 3 },
            Op::Add64Imm { dst: r1, imm: -1 },
            Op::JltReg {
                dst: r1,
                src: r2,
                target: 1,
            },
            Op::Ja { target: 5 },
            Op::JgtImm {
                dst: r1,
                imm: 0,
                target: 9,
            },
            Op::Exit,
            Op::Overrun,
        ];
        // Runs of slots 0-6 (not those of `run_lengths`, so that each is told apart); a
        // 70,000 is too long for a `Target`.
        let runs = [3, 70_000, 2, 4, 5, 6, 0];
        let insts = super::fuse(&ops, &runs);
        let insts = insts.insts();
        let target = |inst: &Inst| match *inst {
            Inst::AddJltReg { target, .. } | Inst::Ja { target } | Inst::JgtImm { target, .. } => {
                (target.slot(), target.taken(), target.fallthrough())
            }
            _ => panic!("not a jump with a `Target`: {inst:?}"),
        };
        // The fused pair's fall-through is after its second slot; the long run is unknown.
        assert_eq!(target(&insts[1]), (1, Target::UNKNOWN, 4));
        // The second slot keeps its op: its fall-through is the slot after it.
        assert_eq!(
            insts[2],
            Inst::JltReg {
                dst: r1,
                src: r2,
                target: Target::new(1, Target::UNKNOWN, 4)
            }
        );
        assert_eq!(target(&insts[3]), (5, 6, 5));
        // A target outside the program has no length.
        assert_eq!(target(&insts[4]), (9, Target::UNKNOWN, 6));
        // Without run lengths nothing is known.
        let unknown = fuse(&ops);
        assert_eq!(target(&unknown[3]), (5, Target::UNKNOWN, Target::UNKNOWN));
    }

    #[test]
    fn a_copy_then_a_greater_than_test_reads_the_copy() {
        let (r1, r2) = (GuestReg::R1, GuestReg::R2);
        let ops = [
            Op::Mov64Reg { dst: r1, src: r2 },
            Op::JgtImm {
                dst: r1,
                imm: 1,
                target: 0,
            },
            Op::Exit,
        ];
        let fused = Inst::MovJgtImm {
            dst: r1,
            a: r2,
            x: r2,
            cmp: 1,
            target: Target::from(0),
        };
        assert_eq!(fuse(&ops)[0], fused);
    }

    #[test]
    fn a_copy_then_a_subtraction_adds_the_negated_immediate_unless_it_has_none() {
        let (r1, r2) = (GuestReg::R1, GuestReg::R2);
        let ops = |imm| {
            [
                Op::Mov64Reg { dst: r1, src: r2 },
                Op::Sub64Imm { dst: r1, imm },
                Op::Exit,
            ]
        };
        let fused = Inst::MovAddImm {
            dst: r1,
            a: r2,
            imm: -5,
        };
        assert_eq!(fuse(&ops(5))[0], fused);
        let apart = ops(i32::MIN);
        assert_eq!(fuse(&apart)[0], Inst::from(apart[0]));
    }

    #[test]
    fn a_counter_stepped_in_memory_is_one_triple_unless_its_parts_differ() {
        let (r1, r2) = (GuestReg::R1, GuestReg::R2);
        let ops = |load_dst, store_off| {
            [
                Op::Ldx32 {
                    dst: load_dst,
                    base: r1,
                    off: 4,
                },
                Op::Add64Imm {
                    dst: load_dst,
                    imm: 1,
                },
                Op::Stx32 {
                    base: r1,
                    src: load_dst,
                    off: store_off,
                },
                Op::Exit,
            ]
        };
        let triple = Inst::Ldx32AddStx(LoadImm {
            dst: r2,
            base: r1,
            off: 4,
            imm: 1,
        });
        let insts = fuse(&ops(r2, 4));
        assert_eq!(insts[0], triple);
        // The second and third slots keep their ops.
        assert_eq!(insts[1], Inst::from(ops(r2, 4)[1]));
        assert_eq!(insts[2], Inst::from(ops(r2, 4)[2]));
        // Another offset, or a load into the base register: the load and the add fuse as
        // a pair, and the store stays apart.
        for apart in [ops(r2, 8), ops(r1, 4)] {
            let insts = fuse(&apart);
            assert!(matches!(insts[0], Inst::Ldx32AddImm(..)));
            assert_eq!(insts[2], Inst::from(apart[2]));
        }
    }

    #[test]
    fn each_size_of_a_fused_memory_form_is_its_own_kind() {
        let (r1, r2, r3) = (GuestReg::R1, GuestReg::R2, GuestReg::R3);
        let sizes = [MemSize::B, MemSize::H, MemSize::W, MemSize::DW];
        let load = |size| match size {
            MemSize::B => Op::Ldx8 {
                dst: r2,
                base: r1,
                off: 4,
            },
            MemSize::H => Op::Ldx16 {
                dst: r2,
                base: r1,
                off: 4,
            },
            MemSize::W => Op::Ldx32 {
                dst: r2,
                base: r1,
                off: 4,
            },
            MemSize::DW => Op::Ldx64 {
                dst: r2,
                base: r1,
                off: 4,
            },
        };
        let store = |size| match size {
            MemSize::B => Op::Stx8 {
                base: r1,
                src: r2,
                off: 4,
            },
            MemSize::H => Op::Stx16 {
                base: r1,
                src: r2,
                off: 4,
            },
            MemSize::W => Op::Stx32 {
                base: r1,
                src: r2,
                off: 4,
            },
            MemSize::DW => Op::Stx64 {
                base: r1,
                src: r2,
                off: 4,
            },
        };
        let imm = |imm| LoadImm {
            dst: r2,
            base: r1,
            off: 4,
            imm,
        };
        let reg = LoadReg {
            dst: r2,
            base: r1,
            off: 4,
            src: r3,
        };
        for (index, size) in sizes.into_iter().enumerate() {
            let fused = |second| fuse(&[load(size), second, Op::Exit])[0];
            let add = Op::Add64Imm { dst: r2, imm: 7 };
            assert_eq!(fused(add), LDX_ADD_IMM[index](imm(7)));
            let add = Op::Add64Reg { dst: r2, src: r3 };
            assert_eq!(fused(add), LDX_ADD_REG[index](reg));
            assert_eq!(
                fused(Op::Xor64Reg { dst: r2, src: r3 }),
                LDX_XOR_REG[index](reg)
            );
            assert_eq!(
                fused(Op::And64Imm { dst: r2, imm: 7 }),
                LDX_AND_IMM[index](imm(7))
            );
            assert_eq!(
                fused(Op::Lsh64Imm { dst: r2, imm: 7 }),
                LDX_LSH_IMM[index](imm(7))
            );
            let step = [
                load(size),
                Op::Add64Imm { dst: r2, imm: 7 },
                store(size),
                Op::Exit,
            ];
            assert_eq!(fuse(&step)[0], LDX_ADD_STX[index](imm(7)));
        }
        // The four kinds of a form are four kinds of handler.
        let kinds = [
            Inst::Ldx8AddImm(imm(0)).kind(),
            Inst::Ldx16AddImm(imm(0)).kind(),
            Inst::Ldx32AddImm(imm(0)).kind(),
            Inst::Ldx64AddImm(imm(0)).kind(),
        ];
        assert!((1..4).all(|i| !kinds[..i].contains(&kinds[i])));
    }

    #[test]
    fn two_copies_fuse_and_the_second_reads_the_first() {
        let (r1, r2, r3) = (GuestReg::R1, GuestReg::R2, GuestReg::R3);
        let ops = |src| {
            [
                Op::Mov64Reg { dst: r1, src: r2 },
                Op::Mov64Reg { dst: r3, src },
                Op::Exit,
            ]
        };
        let fused = |from| Inst::MovMov {
            dst: r1,
            a: r2,
            to: r3,
            from,
        };
        // `r3 = r1` after `r1 = r2` copies r2; a copy of another register reads it.
        assert_eq!(fuse(&ops(r1))[0], fused(r2));
        assert_eq!(fuse(&ops(r3))[0], fused(r3));
        assert_eq!(fuse(&ops(r1))[1], Inst::from(ops(r1)[1]));
    }

    #[test]
    fn a_bit_test_of_a_copy_is_one_triple_unless_it_tests_another_register() {
        let (r1, r2, r3) = (GuestReg::R1, GuestReg::R2, GuestReg::R3);
        let ops = |tested| {
            [
                Op::Mov64Reg { dst: r1, src: r2 },
                Op::And64Imm { dst: r1, imm: 1 },
                Op::JeqImm {
                    dst: tested,
                    imm: 0,
                    target: 0,
                },
                Op::Exit,
            ]
        };
        let triple = Inst::MovAndJeqImm {
            dst: r1,
            a: r2,
            cmp: 0,
            imm: 1,
            target: Target::from(0),
        };
        let insts = fuse(&ops(r1));
        assert_eq!(insts[0], triple);
        assert_eq!(insts[1], Inst::from(ops(r1)[1]));
        assert_eq!(insts[2], Inst::from(ops(r1)[2]));
        // A test of another register: the copy and the mask fuse as a pair.
        let apart = fuse(&ops(r3));
        assert!(matches!(apart[0], Inst::MovAndImm { .. }));
        assert_eq!(apart[2], Inst::from(ops(r3)[2]));
        // A comparand wider than a byte: the pair, and the plain branch.
        let mut wide = ops(r1);
        wide[2] = Op::JeqImm {
            dst: r1,
            imm: 128,
            target: 0,
        };
        let insts = fuse(&wide);
        assert!(matches!(insts[0], Inst::MovAndImm { .. }));
        assert_eq!(insts[2], Inst::from(wide[2]));
        // The widest that fits, sign-extended as the branch's would be.
        wide[2] = Op::JeqImm {
            dst: r1,
            imm: -128,
            target: 0,
        };
        assert!(matches!(
            fuse(&wide)[0],
            Inst::MovAndJeqImm { cmp: -128, .. }
        ));
    }

    #[test]
    fn a_step_then_a_test_against_an_immediate_fuses_when_the_step_is_a_byte() {
        let (r1, r2) = (GuestReg::R1, GuestReg::R2);
        let ops = |imm| {
            [
                Op::Add64Imm { dst: r1, imm },
                Op::JltImm {
                    dst: r2,
                    imm: 1000,
                    target: 0,
                },
                Op::Exit,
            ]
        };
        let fused = |imm| Inst::AddJltImm {
            dst: r1,
            x: r2,
            imm,
            cmp: 1000,
            target: Target::from(0),
        };
        assert_eq!(fuse(&ops(127))[0], fused(127));
        assert_eq!(fuse(&ops(-128))[0], fused(-128));
        for wide in [128, -129] {
            let apart = ops(wide);
            assert_eq!(fuse(&apart)[0], Inst::from(apart[0]));
            assert_eq!(fuse(&apart)[1], Inst::from(apart[1]));
        }
    }

    #[test]
    fn a_negation_then_a_mask_fuse_unless_the_mask_is_the_negated_register() {
        let (r1, r2) = (GuestReg::R1, GuestReg::R2);
        let ops = |src| {
            [
                Op::Neg64 { dst: r1 },
                Op::And64Reg { dst: r1, src },
                Op::Exit,
            ]
        };
        assert_eq!(fuse(&ops(r2))[0], Inst::NegAndReg { dst: r1, src: r2 });
        assert_eq!(fuse(&ops(r2))[1], Inst::from(ops(r2)[1]));
        let apart = ops(r1);
        assert_eq!(fuse(&apart)[0], Inst::from(apart[0]));
    }

    #[test]
    fn a_copy_followed_by_an_op_on_another_register_stays_apart() {
        let (r1, r2) = (GuestReg::R1, GuestReg::R2);
        let ops = [
            Op::Mov64Reg { dst: r1, src: r2 },
            Op::Add64Imm { dst: r2, imm: 1 },
            Op::Exit,
        ];
        assert_eq!(fuse(&ops)[0], Inst::from(ops[0]));
    }
}
