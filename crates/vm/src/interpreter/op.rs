//! The interpreter's operations: a small `Copy` enum, one value per instruction slot.
//!
//! Each [`Op`] is an instruction with every decision that does not depend on register
//! values already taken: the dialect's extension rule, absolute jump targets, the resolved
//! call kind, the constant results of division by an immediate zero in eBPF. Register
//! fields are raw 4-bit numbers; the executor masks them with 15 to index a 16-entry register
//! file, so no bounds check is needed. An `Op` is 16 bytes.

use bpfvm_isa::{AtomicOp, Cond, Dialect, MemSize, Width};

/// How a 32-bit add/sub/mul result widens (sBPF sign-extends, eBPF zero-extends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ext32 {
    /// Sign-extend bit 31 (sBPF, reference Appendix A.1).
    Sign,
    /// Zero-extend (eBPF, and every other 32-bit op in both dialects).
    Zero,
}

/// A register or an immediate, for the rarer ops that take either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    /// A register number.
    Reg(u8),
    /// The sign-extended immediate.
    Imm(i32),
}

/// A run-time error an op always raises (a decoded instruction the engine cannot run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// `UnsupportedInstruction` at this pc: the second slot of an `lddw`, a legacy packet
    /// load, an unresolved call.
    Unsupported,
    /// `InvalidInstruction` at this pc: an endian op with a width other than 16/32/64.
    Invalid,
    /// `DivideByZero` at this pc: an sBPF division by an immediate zero.
    DivideByZero,
}

/// One pre-decoded instruction.
#[allow(
    missing_docs,
    reason = "variants are named after the instruction they run"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    // 64-bit ALU.
    Mov64Imm {
        dst: u8,
        imm: i32,
    },
    Mov64Reg {
        dst: u8,
        src: u8,
    },
    Add64Imm {
        dst: u8,
        imm: i32,
    },
    Add64Reg {
        dst: u8,
        src: u8,
    },
    Sub64Imm {
        dst: u8,
        imm: i32,
    },
    Sub64Reg {
        dst: u8,
        src: u8,
    },
    Mul64Imm {
        dst: u8,
        imm: i32,
    },
    Mul64Reg {
        dst: u8,
        src: u8,
    },
    Or64Imm {
        dst: u8,
        imm: i32,
    },
    Or64Reg {
        dst: u8,
        src: u8,
    },
    And64Imm {
        dst: u8,
        imm: i32,
    },
    And64Reg {
        dst: u8,
        src: u8,
    },
    Xor64Imm {
        dst: u8,
        imm: i32,
    },
    Xor64Reg {
        dst: u8,
        src: u8,
    },
    Lsh64Imm {
        dst: u8,
        imm: i32,
    },
    Lsh64Reg {
        dst: u8,
        src: u8,
    },
    Rsh64Imm {
        dst: u8,
        imm: i32,
    },
    Rsh64Reg {
        dst: u8,
        src: u8,
    },
    Arsh64Imm {
        dst: u8,
        imm: i32,
    },
    Arsh64Reg {
        dst: u8,
        src: u8,
    },
    Neg64 {
        dst: u8,
    },
    // 32-bit ALU.
    Mov32Imm {
        dst: u8,
        imm: i32,
    },
    Mov32Reg {
        dst: u8,
        src: u8,
    },
    Add32Imm {
        dst: u8,
        imm: i32,
        ext: Ext32,
    },
    Add32Reg {
        dst: u8,
        src: u8,
        ext: Ext32,
    },
    Sub32Imm {
        dst: u8,
        imm: i32,
        ext: Ext32,
    },
    Sub32Reg {
        dst: u8,
        src: u8,
        ext: Ext32,
    },
    Mul32Imm {
        dst: u8,
        imm: i32,
        ext: Ext32,
    },
    Mul32Reg {
        dst: u8,
        src: u8,
        ext: Ext32,
    },
    Or32 {
        dst: u8,
        src: Operand,
    },
    And32 {
        dst: u8,
        src: Operand,
    },
    Xor32 {
        dst: u8,
        src: Operand,
    },
    Lsh32 {
        dst: u8,
        src: Operand,
    },
    Rsh32 {
        dst: u8,
        src: Operand,
    },
    Arsh32 {
        dst: u8,
        src: Operand,
    },
    Neg32 {
        dst: u8,
    },
    /// `dst = value` for constants known at compile time (width 1, unlike `LoadImm64`).
    SetConst {
        dst: u8,
        value: u64,
    },
    /// Sign-extend the low `size` bits of `src` (eBPF `movsx`).
    MovSx {
        dst: u8,
        src: u8,
        size: MemSize,
        width: Width,
    },
    // Division family: the dialect decides what a zero divisor and MIN / -1 do.
    Div {
        width: Width,
        dst: u8,
        src: Operand,
        dialect: Dialect,
    },
    Mod {
        width: Width,
        dst: u8,
        src: Operand,
        dialect: Dialect,
    },
    SDiv {
        width: Width,
        dst: u8,
        src: Operand,
        dialect: Dialect,
    },
    SMod {
        width: Width,
        dst: u8,
        src: Operand,
        dialect: Dialect,
    },
    // Byte order.
    Trunc16 {
        dst: u8,
    },
    Trunc32 {
        dst: u8,
    },
    Swap16 {
        dst: u8,
    },
    Swap32 {
        dst: u8,
    },
    Swap64 {
        dst: u8,
    },
    /// `lddw`: two slots, one instruction.
    LoadImm64 {
        dst: u8,
        imm: u64,
    },
    // Memory.
    Ldx8 {
        dst: u8,
        base: u8,
        off: i16,
    },
    Ldx16 {
        dst: u8,
        base: u8,
        off: i16,
    },
    Ldx32 {
        dst: u8,
        base: u8,
        off: i16,
    },
    Ldx64 {
        dst: u8,
        base: u8,
        off: i16,
    },
    LdxSigned {
        dst: u8,
        base: u8,
        off: i16,
        size: MemSize,
    },
    St8 {
        base: u8,
        off: i16,
        imm: i32,
    },
    St16 {
        base: u8,
        off: i16,
        imm: i32,
    },
    St32 {
        base: u8,
        off: i16,
        imm: i32,
    },
    St64 {
        base: u8,
        off: i16,
        imm: i32,
    },
    Stx8 {
        base: u8,
        src: u8,
        off: i16,
    },
    Stx16 {
        base: u8,
        src: u8,
        off: i16,
    },
    Stx32 {
        base: u8,
        src: u8,
        off: i16,
    },
    Stx64 {
        base: u8,
        src: u8,
        off: i16,
    },
    Atomic {
        size: MemSize,
        op: AtomicOp,
        base: u8,
        src: u8,
        off: i16,
    },
    // Control flow; targets are absolute slot indices.
    Ja {
        target: u32,
    },
    JeqImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JeqReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JneImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JneReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JgtImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JgtReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JgeImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JgeReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JltImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JltReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JleImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JleReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JsetImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JsetReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JsgtImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JsgtReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JsgeImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JsgeReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JsltImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JsltReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    JsleImm {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JsleReg {
        dst: u8,
        src: u8,
        target: u32,
    },
    /// eBPF JMP32: compares the low 32 bits.
    Branch32 {
        cond: Cond,
        dst: u8,
        src: Operand,
        target: u32,
    },
    /// A syscall or helper, by index into the program's syscall table.
    Syscall {
        index: u32,
    },
    /// A call to a function starting at slot `target` (may be out of range).
    Call {
        target: usize,
    },
    /// sBPF `callx`: call the address in `reg`.
    CallReg {
        reg: u8,
    },
    /// eBPF `callx`: a helper if the value is a registered helper key, else an address.
    CallRegOrHelper {
        reg: u8,
    },
    /// Return, or end the program at the root frame.
    Exit,
    /// sBPF dynamic frames: `add64/sub64 r11, imm` move the stack pointer by `delta`.
    MoveStackPointer {
        delta: i64,
    },
    /// Does nothing (`le64`, and slots the reference runs as no-ops).
    Nop,
    /// Always raises this error.
    Trap(Trap),
    /// The slot after the last: running into it is `ExecutionOverrun`.
    Overrun,
}

impl Op {
    /// The number of slots the instruction occupies: 2 for `lddw`, else 1.
    pub fn width(&self) -> usize {
        match self {
            Op::LoadImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// The slot a jump or call may go to (other than the next), if the op names one.
    pub fn target(&self) -> Option<usize> {
        match *self {
            Op::Ja { target }
            | Op::JeqImm { target, .. }
            | Op::JeqReg { target, .. }
            | Op::JneImm { target, .. }
            | Op::JneReg { target, .. }
            | Op::JgtImm { target, .. }
            | Op::JgtReg { target, .. }
            | Op::JgeImm { target, .. }
            | Op::JgeReg { target, .. }
            | Op::JltImm { target, .. }
            | Op::JltReg { target, .. }
            | Op::JleImm { target, .. }
            | Op::JleReg { target, .. }
            | Op::JsetImm { target, .. }
            | Op::JsetReg { target, .. }
            | Op::JsgtImm { target, .. }
            | Op::JsgtReg { target, .. }
            | Op::JsgeImm { target, .. }
            | Op::JsgeReg { target, .. }
            | Op::JsltImm { target, .. }
            | Op::JsltReg { target, .. }
            | Op::JsleImm { target, .. }
            | Op::JsleReg { target, .. }
            | Op::Branch32 { target, .. } => Some(target as usize),
            Op::Call { target } => Some(target),
            _ => None,
        }
    }
}

impl Op {
    /// Whether the op is a conditional jump (it goes to its target or to the next slot):
    /// an op with a [`Op::target`] other than `ja` and `call`.
    pub fn is_conditional_jump(&self) -> bool {
        self.target().is_some() && !matches!(self, Op::Ja { .. } | Op::Call { .. })
    }

    /// Whether the op ends a straight-line run (see the meter's module doc): it may go
    /// anywhere but the next slot (jumps, calls, `exit`), it talks to the meter (syscalls),
    /// or it always fails (traps, the overrun sentinel).
    pub fn ends_run(&self) -> bool {
        match self {
            Op::Ja { .. }
            | Op::JeqImm { .. }
            | Op::JeqReg { .. }
            | Op::JneImm { .. }
            | Op::JneReg { .. }
            | Op::JgtImm { .. }
            | Op::JgtReg { .. }
            | Op::JgeImm { .. }
            | Op::JgeReg { .. }
            | Op::JltImm { .. }
            | Op::JltReg { .. }
            | Op::JleImm { .. }
            | Op::JleReg { .. }
            | Op::JsetImm { .. }
            | Op::JsetReg { .. }
            | Op::JsgtImm { .. }
            | Op::JsgtReg { .. }
            | Op::JsgeImm { .. }
            | Op::JsgeReg { .. }
            | Op::JsltImm { .. }
            | Op::JsltReg { .. }
            | Op::JsleImm { .. }
            | Op::JsleReg { .. }
            | Op::Branch32 { .. }
            | Op::Syscall { .. }
            | Op::Call { .. }
            | Op::CallReg { .. }
            | Op::CallRegOrHelper { .. }
            | Op::Exit
            | Op::Trap(_)
            | Op::Overrun => true,
            Op::Mov64Imm { .. }
            | Op::Mov64Reg { .. }
            | Op::Add64Imm { .. }
            | Op::Add64Reg { .. }
            | Op::Sub64Imm { .. }
            | Op::Sub64Reg { .. }
            | Op::Mul64Imm { .. }
            | Op::Mul64Reg { .. }
            | Op::Or64Imm { .. }
            | Op::Or64Reg { .. }
            | Op::And64Imm { .. }
            | Op::And64Reg { .. }
            | Op::Xor64Imm { .. }
            | Op::Xor64Reg { .. }
            | Op::Lsh64Imm { .. }
            | Op::Lsh64Reg { .. }
            | Op::Rsh64Imm { .. }
            | Op::Rsh64Reg { .. }
            | Op::Arsh64Imm { .. }
            | Op::Arsh64Reg { .. }
            | Op::Neg64 { .. }
            | Op::Mov32Imm { .. }
            | Op::Mov32Reg { .. }
            | Op::Add32Imm { .. }
            | Op::Add32Reg { .. }
            | Op::Sub32Imm { .. }
            | Op::Sub32Reg { .. }
            | Op::Mul32Imm { .. }
            | Op::Mul32Reg { .. }
            | Op::Or32 { .. }
            | Op::And32 { .. }
            | Op::Xor32 { .. }
            | Op::Lsh32 { .. }
            | Op::Rsh32 { .. }
            | Op::Arsh32 { .. }
            | Op::Neg32 { .. }
            | Op::SetConst { .. }
            | Op::MovSx { .. }
            | Op::Div { .. }
            | Op::Mod { .. }
            | Op::SDiv { .. }
            | Op::SMod { .. }
            | Op::Trunc16 { .. }
            | Op::Trunc32 { .. }
            | Op::Swap16 { .. }
            | Op::Swap32 { .. }
            | Op::Swap64 { .. }
            | Op::LoadImm64 { .. }
            | Op::Ldx8 { .. }
            | Op::Ldx16 { .. }
            | Op::Ldx32 { .. }
            | Op::Ldx64 { .. }
            | Op::LdxSigned { .. }
            | Op::St8 { .. }
            | Op::St16 { .. }
            | Op::St32 { .. }
            | Op::St64 { .. }
            | Op::Stx8 { .. }
            | Op::Stx16 { .. }
            | Op::Stx32 { .. }
            | Op::Stx64 { .. }
            | Op::Atomic { .. }
            | Op::MoveStackPointer { .. }
            | Op::Nop => false,
        }
    }
}

#[cfg(test)]
mod size_test {
    #[test]
    fn op_is_16_bytes() {
        assert_eq!(core::mem::size_of::<super::Op>(), 16);
    }
}
