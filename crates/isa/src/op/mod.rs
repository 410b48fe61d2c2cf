//! The engine's pre-decoded operations, defined once: one table
//! ([`for_each_op!`](crate::for_each_op!)) from which the [`Op`] enum and every fact about an op
//! are generated.
//!
//! An [`Op`] is an instruction with every decision that does not depend on register values
//! already taken: the dialect's extension rule, absolute jump targets, the resolved call
//! kind, the constant results of division by an immediate zero in eBPF, the SBPF version's
//! arithmetic (a V2 PQR operation becomes the plain ALU or division row that computes the
//! same thing where there is one, and a row of its own otherwise). Registers are
//! [`GuestReg`]s (r0 to r10, which the verifier guarantees), so no consumer checks them
//! again. An `Op` is 16 bytes.
//!
//! Each row of the table is a variant, its fields, and one expression of the variant's
//! fields giving its [`Facts`]: how many slots it takes, where control goes ([`Flow`]), the
//! registers it reads and writes ([`Regs`]), the memory it touches ([`MemAccess`]), its
//! [`OpKind`] and its [`AddressFlow`]. The analyses of the engine (the meter's runs, tight
//! loops, the JIT's pointer guesses, pairs of accesses and hoisted checks) read these facts
//! and nothing else, so a new op is one row here plus its meaning in each backend, and every
//! match over ops is exhaustive: an op added here breaks the build wherever it must be
//! handled.
//!
//! The model is wasmi's `for_each_op!` and PolkaVM's `define_all_instructions!`: the table
//! is a macro that hands every row to a callback macro, so other code can generate per-op
//! items from the same list (this module generates [`Op`] and its fact methods that way).

mod facts;

pub use facts::{
    atomic_defs, atomic_uses, AccessKind, AddressFlow, Ext32, Flow, GuestReg, MemAccess, OpKind,
    Operand, Regs, Trap,
};

use crate::insn::{AtomicOp, Cond, Dialect, MemSize, PqrOp, Width};

/// Everything the table says about one op (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Facts {
    /// The slots the instruction occupies: 2 for `lddw`, else 1.
    pub slots: usize,
    /// Where control goes.
    pub flow: Flow,
    /// The registers it reads.
    pub uses: Regs,
    /// The registers it writes.
    pub defs: Regs,
    /// The memory it touches, if any.
    pub access: Option<MemAccess>,
    /// Its broad kind.
    pub kind: OpKind,
    /// How what it writes relates to the addresses its operands held.
    pub address: AddressFlow,
}

/// Calls `$callback!` with every row of the op table:
/// `$(#[$attr])* Name { field: Type, ... } => facts_expression,` (a variant without fields
/// has no braces). The facts expressions name the items of this module ([`Facts`] and its
/// helpers such as `alu` and `load`, [`Flow`], [`Regs`], ...), and the types those of this
/// crate, so a callback expands them where those names are in scope.
#[macro_export]
macro_rules! for_each_op {
    ($callback:ident) => {
        $callback! {
            // 64-bit ALU.
            /// `dst = imm` (sign-extended).
            Mov64Imm { dst: GuestReg, imm: i32 } => alu(Regs::NONE, dst, fresh(dst)),
            /// `dst = src`.
            Mov64Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([src]), dst, copy(dst, src)),
            /// `dst += imm`.
            Add64Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, within(dst)),
            /// `dst += src`.
            Add64Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([dst, src]), dst, sum(dst, src)),
            /// `dst -= imm`.
            Sub64Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, within(dst)),
            /// `dst -= src`.
            Sub64Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([dst, src]), dst, within(dst)),
            /// `dst *= imm`.
            Mul64Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst *= src`.
            Mul64Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([dst, src]), dst, fresh(dst)),
            /// `dst |= imm`.
            Or64Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst |= src`.
            Or64Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([dst, src]), dst, fresh(dst)),
            /// `dst &= imm`.
            And64Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst &= src`.
            And64Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([dst, src]), dst, fresh(dst)),
            /// `dst ^= imm`.
            Xor64Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst ^= src`.
            Xor64Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([dst, src]), dst, fresh(dst)),
            /// `dst <<= imm`.
            Lsh64Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst <<= src` (the count masked to 6 bits).
            Lsh64Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([dst, src]), dst, fresh(dst)),
            /// `dst >>= imm` (logical).
            Rsh64Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst >>= src` (logical).
            Rsh64Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([dst, src]), dst, fresh(dst)),
            /// `dst >>= imm` (arithmetic).
            Arsh64Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst >>= src` (arithmetic).
            Arsh64Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([dst, src]), dst, fresh(dst)),
            /// `dst = -dst`.
            Neg64 { dst: GuestReg } => alu(Regs::of([dst]), dst, fresh(dst)),
            // SBPF V2 (solana-sbpf 0.26): the operations no other row expresses.
            /// `dst |= imm << 32` (`hor64`).
            Hor64 { dst: GuestReg, imm: u32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst = imm - dst` with the immediate sign-extended (V2 `sub64 dst, imm`).
            RevSub64Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst = (imm - dst) as u32`, zero-extended (V2 `sub32 dst, imm`).
            RevSub32Imm { dst: GuestReg, imm: i32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// A PQR operation no plain ALU or division row expresses: `uhmul64`, `shmul64`,
            /// `sdiv32`, `srem32`, `srem64`, and `udiv64`/`urem64` by a negative immediate
            /// (zero-extended). `uhmul64`, `udiv64` and `urem64` zero-extend the immediate,
            /// the others sign-extend it; a zero divisor is `DivideByZero` and a signed
            /// `MIN / -1` (quotient or remainder) `DivideOverflow`.
            Pqr { op: PqrOp, width: Width, dst: GuestReg, src: Operand } => pqr(op, dst, src),
            // 32-bit ALU: the result is zero-extended unless `ext` says otherwise.
            /// `dst = imm as u32`.
            Mov32Imm { dst: GuestReg, imm: i32 } => alu(Regs::NONE, dst, fresh(dst)),
            /// `dst = src as u32`.
            Mov32Reg { dst: GuestReg, src: GuestReg } => alu(Regs::of([src]), dst, fresh(dst)),
            /// `dst = (dst + imm) as u32`, widened by `ext`.
            Add32Imm { dst: GuestReg, imm: i32, ext: Ext32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst = (dst + src) as u32`, widened by `ext`.
            Add32Reg { dst: GuestReg, src: GuestReg, ext: Ext32 } => alu(Regs::of([dst, src]), dst, fresh(dst)),
            /// `dst = (dst - imm) as u32`, widened by `ext`.
            Sub32Imm { dst: GuestReg, imm: i32, ext: Ext32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst = (dst - src) as u32`, widened by `ext`.
            Sub32Reg { dst: GuestReg, src: GuestReg, ext: Ext32 } => alu(Regs::of([dst, src]), dst, fresh(dst)),
            /// `dst = (dst * imm) as u32`, widened by `ext`.
            Mul32Imm { dst: GuestReg, imm: i32, ext: Ext32 } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst = (dst * src) as u32`, widened by `ext`.
            Mul32Reg { dst: GuestReg, src: GuestReg, ext: Ext32 } => alu(Regs::of([dst, src]), dst, fresh(dst)),
            /// `dst = (dst | src) as u32`.
            Or32 { dst: GuestReg, src: Operand } => alu(binary(dst, src), dst, fresh(dst)),
            /// `dst = (dst & src) as u32`.
            And32 { dst: GuestReg, src: Operand } => alu(binary(dst, src), dst, fresh(dst)),
            /// `dst = (dst ^ src) as u32`.
            Xor32 { dst: GuestReg, src: Operand } => alu(binary(dst, src), dst, fresh(dst)),
            /// `dst = (dst << src) as u32` (the count masked to 5 bits).
            Lsh32 { dst: GuestReg, src: Operand } => alu(binary(dst, src), dst, fresh(dst)),
            /// `dst = (dst >> src) as u32` (logical).
            Rsh32 { dst: GuestReg, src: Operand } => alu(binary(dst, src), dst, fresh(dst)),
            /// `dst = (dst >> src) as u32` (arithmetic on the low half).
            Arsh32 { dst: GuestReg, src: Operand } => alu(binary(dst, src), dst, fresh(dst)),
            /// `dst = -dst as u32`.
            Neg32 { dst: GuestReg } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst = value` for constants known at compile time (width 1, unlike `LoadImm64`).
            SetConst { dst: GuestReg, value: u64 } => alu(Regs::NONE, dst, fresh(dst)),
            /// Sign-extend the low `size` bits of `src` (eBPF `movsx`).
            MovSx { dst: GuestReg, src: GuestReg, size: MemSize, width: Width } => alu(Regs::of([src]), dst, fresh(dst)),
            // Division family: the dialect decides what a zero divisor and MIN / -1 do.
            /// Unsigned division.
            Div { width: Width, dst: GuestReg, src: Operand, dialect: Dialect } => divide(dst, src),
            /// Unsigned remainder.
            Mod { width: Width, dst: GuestReg, src: Operand, dialect: Dialect } => divide(dst, src),
            /// Signed division.
            SDiv { width: Width, dst: GuestReg, src: Operand, dialect: Dialect } => divide(dst, src),
            /// Signed remainder.
            SMod { width: Width, dst: GuestReg, src: Operand, dialect: Dialect } => divide(dst, src),
            // Byte order.
            /// `dst = dst as u16`.
            Trunc16 { dst: GuestReg } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `dst = dst as u32`.
            Trunc32 { dst: GuestReg } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// The low 16 bits byte-swapped, zero-extended.
            Swap16 { dst: GuestReg } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// The low 32 bits byte-swapped, zero-extended.
            Swap32 { dst: GuestReg } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// All 64 bits byte-swapped.
            Swap64 { dst: GuestReg } => alu(Regs::of([dst]), dst, fresh(dst)),
            /// `lddw`: two slots, one instruction.
            LoadImm64 { dst: GuestReg, imm: u64 } => wide(alu(Regs::NONE, dst, fresh(dst))),
            // Memory.
            /// `dst = *(u8 *)(base + off)`.
            Ldx8 { dst: GuestReg, base: GuestReg, off: i16 } => load(dst, base, off, MemSize::B),
            /// `dst = *(u16 *)(base + off)`.
            Ldx16 { dst: GuestReg, base: GuestReg, off: i16 } => load(dst, base, off, MemSize::H),
            /// `dst = *(u32 *)(base + off)`.
            Ldx32 { dst: GuestReg, base: GuestReg, off: i16 } => load(dst, base, off, MemSize::W),
            /// `dst = *(u64 *)(base + off)`.
            Ldx64 { dst: GuestReg, base: GuestReg, off: i16 } => load(dst, base, off, MemSize::DW),
            /// A load of `size` bytes, sign-extended (eBPF `ldxs*`).
            LdxSigned { dst: GuestReg, base: GuestReg, off: i16, size: MemSize } => load(dst, base, off, size),
            /// `*(u8 *)(base + off) = imm`.
            St8 { base: GuestReg, off: i16, imm: i32 } => store(base, off, MemSize::B, None),
            /// `*(u16 *)(base + off) = imm`.
            St16 { base: GuestReg, off: i16, imm: i32 } => store(base, off, MemSize::H, None),
            /// `*(u32 *)(base + off) = imm`.
            St32 { base: GuestReg, off: i16, imm: i32 } => store(base, off, MemSize::W, None),
            /// `*(u64 *)(base + off) = imm` (sign-extended).
            St64 { base: GuestReg, off: i16, imm: i32 } => store(base, off, MemSize::DW, None),
            /// `*(u8 *)(base + off) = src`.
            Stx8 { base: GuestReg, src: GuestReg, off: i16 } => store(base, off, MemSize::B, Some(src)),
            /// `*(u16 *)(base + off) = src`.
            Stx16 { base: GuestReg, src: GuestReg, off: i16 } => store(base, off, MemSize::H, Some(src)),
            /// `*(u32 *)(base + off) = src`.
            Stx32 { base: GuestReg, src: GuestReg, off: i16 } => store(base, off, MemSize::W, Some(src)),
            /// `*(u64 *)(base + off) = src`.
            Stx64 { base: GuestReg, src: GuestReg, off: i16 } => store(base, off, MemSize::DW, Some(src)),
            /// An atomic read-modify-write of `size` bytes at `base + off` (eBPF).
            Atomic { size: MemSize, op: AtomicOp, base: GuestReg, src: GuestReg, off: i16 } => atomic(op, size, base, src, off),
            // Control flow; targets are absolute slot indices.
            /// `goto target`.
            Ja { target: u32 } => jump(target),
            /// `if dst == imm goto target`.
            JeqImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst == src goto target`.
            JeqReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// `if dst != imm goto target`.
            JneImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst != src goto target`.
            JneReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// `if dst > imm goto target` (unsigned).
            JgtImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst > src goto target` (unsigned).
            JgtReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// `if dst >= imm goto target` (unsigned).
            JgeImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst >= src goto target` (unsigned).
            JgeReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// `if dst < imm goto target` (unsigned).
            JltImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst < src goto target` (unsigned).
            JltReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// `if dst <= imm goto target` (unsigned).
            JleImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst <= src goto target` (unsigned).
            JleReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// `if dst & imm != 0 goto target`.
            JsetImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst & src != 0 goto target`.
            JsetReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// `if dst > imm goto target` (signed).
            JsgtImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst > src goto target` (signed).
            JsgtReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// `if dst >= imm goto target` (signed).
            JsgeImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst >= src goto target` (signed).
            JsgeReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// `if dst < imm goto target` (signed).
            JsltImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst < src goto target` (signed).
            JsltReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// `if dst <= imm goto target` (signed).
            JsleImm { dst: GuestReg, imm: i32, target: u32 } => branch(target, Regs::of([dst])),
            /// `if dst <= src goto target` (signed).
            JsleReg { dst: GuestReg, src: GuestReg, target: u32 } => branch(target, Regs::of([dst, src])),
            /// eBPF JMP32: compares the low 32 bits.
            Branch32 { cond: Cond, dst: GuestReg, src: Operand, target: u32 } => branch(target, binary(dst, src)),
            /// A syscall or helper, by index into the program's syscall table.
            Syscall { index: u32 } => control(Flow::Syscall, Regs::ARGUMENTS, Regs::of([GuestReg::R0])),
            /// A call to a function starting at slot `target` (may be out of range).
            Call { target: usize } => control(Flow::Call(target), Regs::ARGUMENTS, Regs::CALL_CLOBBERED),
            /// sBPF `callx`: call the address in `reg`.
            CallReg { reg: GuestReg } => control(Flow::CallReg, Regs::ARGUMENTS.with(reg), Regs::CALL_CLOBBERED),
            /// eBPF `callx`: a helper if the value is a registered helper key, else an address.
            CallRegOrHelper { reg: GuestReg } => control(Flow::CallRegOrHelper, Regs::ARGUMENTS.with(reg), Regs::CALL_CLOBBERED),
            /// Return, or end the program at the root frame.
            Exit => control(Flow::Exit, Regs::of([GuestReg::R0]), Regs::CALLEE_SAVED),
            /// sBPF dynamic frames: `add64/sub64 r11, imm` move the stack pointer by `delta`.
            MoveStackPointer { delta: i64 } => nothing(OpKind::StackPointer),
            /// Does nothing (`le64`, and slots the reference runs as no-ops).
            Nop => nothing(OpKind::Nop),
            /// Always raises this error.
            Trap { trap: Trap } => fault(),
            /// The slot after the last: running into it is `ExecutionOverrun`.
            Overrun => fault(),
        }
    };
}

/// Generates [`Op`] and its fact methods from the rows [`for_each_op!`] hands it.
macro_rules! define_ops {
    ($(
        $(#[$attr:meta])*
        $name:ident $({ $($field:ident : $ty:ty),* $(,)? })? => $facts:expr
    ),* $(,)?) => {
        /// One pre-decoded instruction (see the module doc).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(missing_docs, reason = "fields are named after the instruction's operands")]
        pub enum Op {
            $(
                $(#[$attr])*
                $name $({ $($field: $ty),* })?,
            )*
        }

        impl Op {
            /// Every fact the table states about this op.
            #[inline(always)]
            #[allow(unused_variables, reason = "a row's facts use some of its fields")]
            pub fn facts(&self) -> Facts {
                match *self {
                    $(Op::$name { $($($field),*)? } => $facts,)*
                }
            }

            /// Where control goes after this op.
            #[inline(always)]
            #[allow(unused_variables, reason = "a row's facts use some of its fields")]
            pub fn flow(&self) -> Flow {
                match *self {
                    $(Op::$name { $($($field),*)? } => $facts.flow,)*
                }
            }

            /// Where control goes after this op, its broad kind and the slots it occupies,
            /// in one look at the table (what a compiler's per-slot table reads).
            #[inline(always)]
            #[allow(unused_variables, reason = "a row's facts use some of its fields")]
            pub fn outline(&self) -> (Flow, OpKind, usize) {
                match *self {
                    $(Op::$name { $($($field),*)? } => {
                        let facts = $facts;
                        (facts.flow, facts.kind, facts.slots)
                    })*
                }
            }

            /// The slots the instruction occupies: 2 for `lddw`, else 1.
            #[inline(always)]
            #[allow(unused_variables, reason = "a row's facts use some of its fields")]
            pub fn width(&self) -> usize {
                match *self {
                    $(Op::$name { $($($field),*)? } => $facts.slots,)*
                }
            }

            /// The registers this op reads.
            #[inline(always)]
            #[allow(unused_variables, reason = "a row's facts use some of its fields")]
            pub fn uses(&self) -> Regs {
                match *self {
                    $(Op::$name { $($($field),*)? } => $facts.uses,)*
                }
            }

            /// The registers this op writes.
            #[inline(always)]
            #[allow(unused_variables, reason = "a row's facts use some of its fields")]
            pub fn defs(&self) -> Regs {
                match *self {
                    $(Op::$name { $($($field),*)? } => $facts.defs,)*
                }
            }

            /// The memory this op touches, if any.
            #[inline(always)]
            #[allow(unused_variables, reason = "a row's facts use some of its fields")]
            pub fn access(&self) -> Option<MemAccess> {
                match *self {
                    $(Op::$name { $($($field),*)? } => $facts.access,)*
                }
            }

            /// The broad kind of this op.
            #[inline(always)]
            #[allow(unused_variables, reason = "a row's facts use some of its fields")]
            pub fn kind(&self) -> OpKind {
                match *self {
                    $(Op::$name { $($($field),*)? } => $facts.kind,)*
                }
            }

            /// How what this op writes relates to the addresses its operands held.
            #[inline(always)]
            #[allow(unused_variables, reason = "a row's facts use some of its fields")]
            pub fn address_flow(&self) -> AddressFlow {
                match *self {
                    $(Op::$name { $($($field),*)? } => $facts.address,)*
                }
            }

            /// The variant's name.
            pub fn name(&self) -> &'static str {
                match *self {
                    $(Op::$name { .. } => stringify!($name),)*
                }
            }
        }
    };
}

crate::for_each_op!(define_ops);

impl Op {
    /// The slot a jump or call may go to (other than the next), if the op names one.
    #[inline]
    pub fn target(&self) -> Option<usize> {
        self.flow().target()
    }

    /// Whether the op is a conditional jump (it goes to its target or to the next slot).
    #[inline]
    pub fn is_conditional_jump(&self) -> bool {
        matches!(self.flow(), Flow::Branch(_))
    }

    /// Whether the op ends a straight-line run of the meter ([`Flow::ends_run`]).
    #[inline]
    pub fn ends_run(&self) -> bool {
        self.flow().ends_run()
    }
}

// The constructors of the facts the table's rows use.

/// An op of one slot that goes on to the next.
const fn next(uses: Regs, defs: Regs, kind: OpKind, address: AddressFlow) -> Facts {
    Facts {
        slots: 1,
        flow: Flow::Next,
        uses,
        defs,
        access: None,
        kind,
        address,
    }
}

/// Register arithmetic that reads `uses` and writes `dst`.
const fn alu(uses: Regs, dst: GuestReg, address: AddressFlow) -> Facts {
    next(uses, Regs::of([dst]), OpKind::Alu, address)
}

/// The same facts for an instruction of two slots.
const fn wide(facts: Facts) -> Facts {
    Facts { slots: 2, ..facts }
}

/// `dst` and the operand `src`.
const fn binary(dst: GuestReg, src: Operand) -> Regs {
    Regs::of([dst]).with_operand(src)
}

/// A division of `dst` by `src`.
const fn divide(dst: GuestReg, src: Operand) -> Facts {
    next(
        binary(dst, src),
        Regs::of([dst]),
        OpKind::Divide,
        fresh(dst),
    )
}

/// A PQR operation: the low product is plain arithmetic; the others are of the division
/// kind (a quotient, a remainder or a high product: their machine forms need particular
/// registers).
const fn pqr(op: PqrOp, dst: GuestReg, src: Operand) -> Facts {
    match op {
        PqrOp::Lmul => alu(binary(dst, src), dst, fresh(dst)),
        PqrOp::Uhmul | PqrOp::Udiv | PqrOp::Urem | PqrOp::Shmul | PqrOp::Sdiv | PqrOp::Srem => {
            divide(dst, src)
        }
    }
}

/// A load of `size` bytes at `base + off` into `dst`.
const fn load(dst: GuestReg, base: GuestReg, off: i16, size: MemSize) -> Facts {
    let access = MemAccess {
        base,
        off,
        size,
        kind: AccessKind::Load,
        value: Some(dst),
    };
    Facts {
        access: Some(access),
        ..next(
            Regs::of([base]),
            Regs::of([dst]),
            OpKind::Memory,
            AddressFlow::Untouched,
        )
    }
}

/// A store of `size` bytes at `base + off`, of `value` (a register, or an immediate).
const fn store(base: GuestReg, off: i16, size: MemSize, value: Option<GuestReg>) -> Facts {
    let uses = match value {
        Some(value) => Regs::of([base, value]),
        None => Regs::of([base]),
    };
    let access = MemAccess {
        base,
        off,
        size,
        kind: AccessKind::Store,
        value,
    };
    Facts {
        access: Some(access),
        ..next(uses, Regs::NONE, OpKind::Memory, AddressFlow::Untouched)
    }
}

/// An atomic `op` of `size` bytes at `base + off` with the operand `src`.
const fn atomic(op: AtomicOp, size: MemSize, base: GuestReg, src: GuestReg, off: i16) -> Facts {
    let access = MemAccess {
        base,
        off,
        size,
        kind: AccessKind::Update,
        value: Some(src),
    };
    Facts {
        access: Some(access),
        ..next(
            atomic_uses(op, base, src),
            atomic_defs(op, src),
            OpKind::Memory,
            AddressFlow::Untouched,
        )
    }
}

/// A conditional jump to `target` comparing `uses`.
const fn branch(target: u32, uses: Regs) -> Facts {
    control(Flow::Branch(target as usize), uses, Regs::NONE)
}

/// `ja target`.
const fn jump(target: u32) -> Facts {
    control(Flow::Jump(target as usize), Regs::NONE, Regs::NONE)
}

/// An op that leaves straight-line code: `flow`, reading `uses` and writing `defs`.
const fn control(flow: Flow, uses: Regs, defs: Regs) -> Facts {
    Facts {
        flow,
        ..next(uses, defs, OpKind::Control, AddressFlow::Untouched)
    }
}

/// An op that touches no register.
const fn nothing(kind: OpKind) -> Facts {
    next(Regs::NONE, Regs::NONE, kind, AddressFlow::Untouched)
}

/// An op that always fails.
const fn fault() -> Facts {
    Facts {
        flow: Flow::Fault,
        ..nothing(OpKind::Fault)
    }
}

/// `dst` gets a value unrelated to any address.
const fn fresh(dst: GuestReg) -> AddressFlow {
    AddressFlow::Fresh { dst }
}

/// `dst` stays within what it pointed into.
const fn within(dst: GuestReg) -> AddressFlow {
    AddressFlow::Keep { dst }
}

/// `dst` becomes a copy of `src`.
const fn copy(dst: GuestReg, src: GuestReg) -> AddressFlow {
    AddressFlow::Copy { dst, src }
}

/// `dst` becomes `dst + src`.
const fn sum(dst: GuestReg, src: GuestReg) -> AddressFlow {
    AddressFlow::Add { dst, src }
}

#[cfg(test)]
mod tests;
