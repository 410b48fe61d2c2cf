//! The vocabulary of the op table: the operand types an [`Op`](super::Op) carries and the
//! facts each row states about it (what it reads and writes, where control goes, which
//! memory it touches).

use crate::insn::{AtomicOp, MemSize, Reg};
use core::fmt;

/// A guest register, r0 to r10: every register an [`Op`](super::Op) names is one (the
/// verifier guarantees it before ops are built), so consumers index with it directly and
/// never check it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[allow(missing_docs, reason = "each variant is the register of its name")]
pub enum GuestReg {
    R0 = 0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
}

impl GuestReg {
    /// Every guest register, in number order.
    pub const ALL: [GuestReg; 11] = [
        GuestReg::R0,
        GuestReg::R1,
        GuestReg::R2,
        GuestReg::R3,
        GuestReg::R4,
        GuestReg::R5,
        GuestReg::R6,
        GuestReg::R7,
        GuestReg::R8,
        GuestReg::R9,
        GuestReg::R10,
    ];

    /// The guest register numbered `number`, if it is one (0 to 10).
    pub const fn new(number: u8) -> Option<GuestReg> {
        if (number as usize) < GuestReg::ALL.len() {
            Some(GuestReg::ALL[number as usize])
        } else {
            None
        }
    }

    /// The guest register a decoded register field names, if it is one.
    pub const fn from_reg(reg: Reg) -> Option<GuestReg> {
        GuestReg::new(reg.number())
    }

    /// The register number, 0 to 10.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The register number as an index, always below 11.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for GuestReg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.number())
    }
}

/// A set of guest registers (bit `r` for register `r`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Regs(u16);

impl Regs {
    /// No register.
    pub const NONE: Regs = Regs(0);
    /// r0 to r5: what a call may change (the callee's result and its scratch registers).
    pub const CALL_CLOBBERED: Regs = Regs(0x3f);
    /// r1 to r5: a call's arguments.
    pub const ARGUMENTS: Regs = Regs(0x3e);
    /// r6 to r10: what `exit` restores in the caller.
    pub const CALLEE_SAVED: Regs = Regs(0x7c0);

    /// The set of `regs`.
    pub const fn of<const N: usize>(regs: [GuestReg; N]) -> Regs {
        let mut bits = 0u16;
        let mut index = 0;
        while index < N {
            bits |= 1 << regs[index].number();
            index += 1;
        }
        Regs(bits)
    }

    /// This set plus `reg`.
    pub const fn with(self, reg: GuestReg) -> Regs {
        Regs(self.0 | 1 << reg.number())
    }

    /// This set plus the register of `operand`, if it is one.
    pub const fn with_operand(self, operand: Operand) -> Regs {
        match operand {
            Operand::Reg(reg) => self.with(reg),
            Operand::Imm(_) => self,
        }
    }

    /// Both sets.
    pub const fn union(self, other: Regs) -> Regs {
        Regs(self.0 | other.0)
    }

    /// Whether `reg` is in the set.
    pub const fn contains(self, reg: GuestReg) -> bool {
        self.0 & (1 << reg.number()) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set as bits (bit `r` for register `r`).
    pub const fn bits(self) -> u16 {
        self.0
    }
}

/// A register or an immediate, for the ops that take either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A register.
    Reg(GuestReg),
    /// The sign-extended immediate.
    Imm(i32),
}

/// How a 32-bit add, sub or mul result widens (sBPF sign-extends, eBPF zero-extends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ext32 {
    /// Sign-extend bit 31 (sBPF, reference Appendix A.1).
    Sign,
    /// Zero-extend (eBPF, and every other 32-bit op in both dialects).
    Zero,
}

/// A run-time error an op always raises (a decoded instruction the engine cannot run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trap {
    /// `UnsupportedInstruction` at this pc: the second slot of an `lddw`, a legacy packet
    /// load, an unresolved call.
    Unsupported,
    /// `InvalidInstruction` at this pc: an endian op with a width other than 16/32/64.
    Invalid,
    /// `DivideByZero` at this pc: an sBPF division by an immediate zero.
    DivideByZero,
}

/// Where control goes after an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// To the next instruction.
    Next,
    /// To the slot, or to the next instruction (a conditional jump).
    Branch(usize),
    /// To the slot, always (`ja`).
    Jump(usize),
    /// Into the function at the slot (which may lie outside the text), and back to the next
    /// instruction when it returns.
    Call(usize),
    /// Into the function at the address in a register (sBPF `callx`).
    CallReg,
    /// To the helper a register names, or else to the function at its address (eBPF
    /// `callx`).
    CallRegOrHelper,
    /// Into a host function and back to the next instruction; it talks to the meter.
    Syscall,
    /// Back to the caller, or out of the program at the root frame.
    Exit,
    /// Nowhere: the op always raises an error (a trap, or the slot past the last).
    Fault,
}

impl Flow {
    /// The slot a jump or call may go to (other than the next), if there is one.
    pub const fn target(self) -> Option<usize> {
        match self {
            Flow::Branch(target) | Flow::Jump(target) | Flow::Call(target) => Some(target),
            Flow::Next
            | Flow::CallReg
            | Flow::CallRegOrHelper
            | Flow::Syscall
            | Flow::Exit
            | Flow::Fault => None,
        }
    }

    /// Whether the op ends a straight-line run of the meter (see the interpreter's meter):
    /// everything but [`Flow::Next`] may go elsewhere than the next slot, talk to the meter
    /// or fail.
    pub const fn ends_run(self) -> bool {
        !matches!(self, Flow::Next)
    }

    /// Whether execution may go on at the next slot after the op (directly, or when a call
    /// returns).
    pub const fn falls_through(self) -> bool {
        match self {
            Flow::Next
            | Flow::Branch(_)
            | Flow::Call(_)
            | Flow::CallReg
            | Flow::CallRegOrHelper
            | Flow::Syscall => true,
            Flow::Jump(_) | Flow::Exit | Flow::Fault => false,
        }
    }

    /// Whether the op enters a function or a host function.
    pub const fn is_call(self) -> bool {
        match self {
            Flow::Call(_) | Flow::CallReg | Flow::CallRegOrHelper | Flow::Syscall => true,
            Flow::Next | Flow::Branch(_) | Flow::Jump(_) | Flow::Exit | Flow::Fault => false,
        }
    }
}

/// What a memory access does with its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// Reads them.
    Load,
    /// Writes them.
    Store,
    /// Reads and writes them (an atomic read-modify-write).
    Update,
}

/// The memory an op touches: `size` bytes at `base + off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemAccess {
    /// The register holding the base address.
    pub base: GuestReg,
    /// The signed offset added to it.
    pub off: i16,
    /// How many bytes.
    pub size: MemSize,
    /// Whether it reads, writes or both.
    pub kind: AccessKind,
    /// The register the access loads into or stores from (`None`: a store of an immediate).
    pub value: Option<GuestReg>,
}

/// The broad kind of an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// Arithmetic on registers alone (moves, ALU, byte swaps, constants).
    Alu,
    /// Division or remainder (whose divisor may be zero, and whose machine forms often need
    /// particular registers), and the high half of a 128-bit product (SBPF V2's `uhmul64`
    /// and `shmul64`, whose machine forms need the same registers).
    Divide,
    /// A load, store or atomic operation.
    Memory,
    /// A jump, call, syscall or `exit`.
    Control,
    /// sBPF's move of the hidden stack pointer (`add64 r11, imm`).
    StackPointer,
    /// Nothing at all.
    Nop,
    /// An op that always fails.
    Fault,
}

/// How the value an op writes relates to the addresses its operands held (for analyses
/// that follow pointers through registers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressFlow {
    /// No register is written with a computed value (or the write is described elsewhere:
    /// a load's by its [`MemAccess`], a call's by [`Flow`]).
    Untouched,
    /// `dst` gets a value unrelated to any address the operands held.
    Fresh {
        /// The register written.
        dst: GuestReg,
    },
    /// `dst` moves within what it pointed into (plus or minus an immediate, minus a
    /// register).
    Keep {
        /// The register written.
        dst: GuestReg,
    },
    /// `dst` becomes a copy of `src`.
    Copy {
        /// The register written.
        dst: GuestReg,
        /// The register copied.
        src: GuestReg,
    },
    /// `dst` becomes `dst + src`: either may be the address.
    Add {
        /// The register written.
        dst: GuestReg,
        /// The register added.
        src: GuestReg,
    },
}

/// The registers an atomic operation reads: the base, the operand and, for a compare and
/// exchange, r0.
pub const fn atomic_uses(op: AtomicOp, base: GuestReg, src: GuestReg) -> Regs {
    let regs = Regs::of([base, src]);
    match op {
        AtomicOp::CmpXchg => regs.with(GuestReg::R0),
        AtomicOp::Add
        | AtomicOp::Or
        | AtomicOp::And
        | AtomicOp::Xor
        | AtomicOp::FetchAdd
        | AtomicOp::FetchOr
        | AtomicOp::FetchAnd
        | AtomicOp::FetchXor
        | AtomicOp::Xchg => regs,
    }
}

/// The registers an atomic operation writes: the operand for a fetch or exchange, r0 for a
/// compare and exchange, none otherwise.
pub const fn atomic_defs(op: AtomicOp, src: GuestReg) -> Regs {
    match op {
        AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor => Regs::NONE,
        AtomicOp::FetchAdd
        | AtomicOp::FetchOr
        | AtomicOp::FetchAnd
        | AtomicOp::FetchXor
        | AtomicOp::Xchg => Regs::of([src]),
        AtomicOp::CmpXchg => Regs::of([GuestReg::R0]),
    }
}
