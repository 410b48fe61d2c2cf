//! Lowering verified instructions to [`Op`]s, once per program.
//!
//! Everything that depends only on the program and its registries is decided here: jump
//! targets become absolute slot indices; `call imm` becomes a syscall index, a function pc,
//! or an op that raises `UnsupportedInstruction` (reference §4.4: with static syscalls, src 0
//! is a syscall and anything else a function; without, a syscall first and then a function;
//! eBPF: src 0 a helper by number, src 1 a pc-relative local call; SBPF V0 to V2 as the
//! 2022 dialect without static syscalls; V3 and V4: src 0 a syscall, src 1 a pc-relative
//! call inside the text, anything else unresolved); the dialect's arithmetic rules become op
//! variants or fields (an SBPF version's through its features: V2's sign rules, swapped
//! `sub` immediate and PQR class, whose operations become the plain rows that compute the
//! same thing where one does). Lowering never fails: an instruction that cannot run becomes
//! an op that raises the reference's error when executed.
//!
//! Two reference behaviours hinge on the raw `dst` field rather than the instruction: with
//! dynamic stack frames, any slot whose `dst` is 11 runs as "move the stack pointer" if it is
//! `add64/sub64 imm` and as a no-op otherwise (the verifier leaves only the second slot of an
//! `lddw` able to reach that no-op). The second slot of an `lddw`, when executed, is
//! `UnsupportedInstruction`.
//!
//! Registers become [`GuestReg`]s here, once: the verifier accepted only r0 to r10 in every
//! register field an op keeps (r11 only as the stack-pointer ops above), so the conversion
//! cannot fail on verified text; were it to, the slot becomes the op that raises
//! `UnsupportedInstruction` (and a debug build stops there, as it is a broken invariant).

use super::{Ext32, GuestReg, Op, Operand, Trap};
use bpfvm_isa::{
    AluOp, Cond, Dialect, EndianOp, Extend, Insn, MemSize, PqrOp, Reg, Slot, Source, Width,
};

/// What lowering needs to know besides the instruction.
pub(super) struct Lowering<'c> {
    pub dialect: Dialect,
    pub dynamic_stack_frames: bool,
    pub static_syscalls: bool,
    pub slot_count: usize,
    /// Registered syscall keys, sorted; an op names a syscall by its index here.
    pub syscall_keys: &'c [u32],
    /// The function registry: key -> entry pc.
    pub function_pc: &'c dyn Fn(u32) -> Option<usize>,
}

/// The guest register a verified register field names (see the module doc).
fn r(reg: Reg) -> Option<GuestReg> {
    GuestReg::from_reg(reg)
}

fn operand(src: Source) -> Option<Operand> {
    Some(match src {
        Source::Reg(reg) => Operand::Reg(r(reg)?),
        Source::Imm(imm) => Operand::Imm(imm),
    })
}

/// The op that always raises `UnsupportedInstruction`.
const UNSUPPORTED: Op = Op::Trap {
    trap: Trap::Unsupported,
};

impl Lowering<'_> {
    /// The op for the slot at `pc`: `insn` is its decoded instruction (`None` for the second
    /// slot of an `lddw`), `slot` its raw fields. Inlined into the one loop that lowers a
    /// whole text, where the call's register saves cost about as much as the lowering.
    #[inline(always)]
    pub fn lower(&self, pc: usize, insn: Option<Insn>, slot: Slot) -> Op {
        let stack_pointer_dialect = self.dialect == Dialect::Sbpf;
        if stack_pointer_dialect && self.dynamic_stack_frames && slot.dst == Reg::SP.number() {
            return self.stack_pointer_op(insn);
        }
        let Some(insn) = insn else {
            return UNSUPPORTED;
        };
        self.lower_insn(pc, insn).unwrap_or_else(|| {
            debug_assert!(false, "a register above r10 in verified text at pc {pc}");
            UNSUPPORTED
        })
    }

    /// The op of the second slot of an `lddw` (`slot`), which no instruction starts at: the
    /// same as [`Lowering::lower`] gives it without an instruction.
    pub fn second_half(&self, slot: Slot) -> Op {
        let stack_pointer_dialect = self.dialect == Dialect::Sbpf;
        if stack_pointer_dialect && self.dynamic_stack_frames && slot.dst == Reg::SP.number() {
            return Op::Nop;
        }
        UNSUPPORTED
    }

    /// The op of `insn` at `pc`; `None` only when a register field is not a guest register.
    #[inline(always)]
    fn lower_insn(&self, pc: usize, insn: Insn) -> Option<Op> {
        Some(match insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => self.alu(width, op, r(dst)?, src)?,
            Insn::Pqr {
                width,
                op,
                dst,
                src,
            } => self.pqr(width, op, r(dst)?, src)?,
            Insn::Hor64 { dst, imm } => Op::Hor64 {
                dst: r(dst)?,
                imm: imm as u32,
            },
            Insn::Neg { width, dst } => match width {
                Width::W64 => Op::Neg64 { dst: r(dst)? },
                Width::W32 => Op::Neg32 { dst: r(dst)? },
            },
            Insn::Endian { op, dst, bits } => endian(op, r(dst)?, bits),
            Insn::LoadImm64 { dst, imm } => Op::LoadImm64 { dst: r(dst)?, imm },
            Insn::Load {
                size,
                extend,
                dst,
                base,
                off,
            } => load(size, extend, r(dst)?, r(base)?, off),
            Insn::Store {
                size,
                base,
                off,
                src,
            } => store(size, r(base)?, off, src)?,
            Insn::Atomic {
                size,
                op,
                base,
                off,
                src,
            } => Op::Atomic {
                size,
                op,
                base: r(base)?,
                src: r(src)?,
                off,
            },
            Insn::PacketLoad { .. } => UNSUPPORTED,
            Insn::Ja { off } => Op::Ja {
                target: self.jump_target(pc, i64::from(off)),
            },
            Insn::JaLong { off } => Op::Ja {
                target: self.jump_target(pc, i64::from(off)),
            },
            Insn::Branch {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let target = self.jump_target(pc, i64::from(off));
                match width {
                    Width::W64 => branch64(cond, r(dst)?, src, target)?,
                    Width::W32 => Op::Branch32 {
                        cond,
                        dst: r(dst)?,
                        src: operand(src)?,
                        target,
                    },
                }
            }
            Insn::Call { src, imm } => self.call(pc, src, imm),
            Insn::CallReg { reg } => match self.dialect {
                Dialect::Sbpf | Dialect::Sbpf26(_) => Op::CallReg { reg: r(reg)? },
                Dialect::Ebpf => Op::CallRegOrHelper { reg: r(reg)? },
            },
            Insn::Exit => Op::Exit,
        })
    }

    /// The op of a slot whose `dst` is r11 under dynamic stack frames: `add64 imm` and
    /// `sub64 imm` move the stack pointer, anything else is a no-op (see the module doc).
    fn stack_pointer_op(&self, insn: Option<Insn>) -> Op {
        let Some(Insn::Alu {
            width: Width::W64,
            op,
            src: Source::Imm(imm),
            ..
        }) = insn
        else {
            return Op::Nop;
        };
        let delta = i64::from(imm);
        match op {
            AluOp::Add => Op::MoveStackPointer { delta },
            AluOp::Sub => Op::MoveStackPointer { delta: -delta },
            AluOp::Mul
            | AluOp::Div
            | AluOp::SDiv
            | AluOp::Mod
            | AluOp::SMod
            | AluOp::Or
            | AluOp::And
            | AluOp::Lsh
            | AluOp::Rsh
            | AluOp::Arsh
            | AluOp::Xor
            | AluOp::Mov
            | AluOp::MovSx(_) => Op::Nop,
        }
    }

    /// `pc + 1 + off`, or the overrun sentinel (slot count) when out of range ([`jump_target`]).
    #[inline(always)]
    fn jump_target(&self, pc: usize, off: i64) -> u32 {
        jump_target(pc, off, self.slot_count)
    }

    fn syscall(&self, key: u32) -> Option<Op> {
        let index = self.syscall_keys.binary_search(&key).ok()?;
        Some(Op::Syscall {
            index: u32::try_from(index).ok()?,
        })
    }

    fn function(&self, key: u32) -> Option<Op> {
        (self.function_pc)(key).map(|target| Op::Call { target })
    }

    fn call(&self, pc: usize, src: u8, imm: i32) -> Op {
        let key = imm as u32;
        let resolved = match self.dialect {
            Dialect::Ebpf => match src {
                0 => self.syscall(key),
                1 => {
                    let target = (pc as i64).saturating_add(1).saturating_add(i64::from(imm));
                    Some(Op::Call {
                        target: usize::try_from(target).unwrap_or(usize::MAX),
                    })
                }
                _ => None,
            },
            Dialect::Sbpf if self.static_syscalls => match src {
                0 => self.syscall(key),
                _ => self.function(key),
            },
            Dialect::Sbpf => self.syscall(key).or_else(|| self.function(key)),
            Dialect::Sbpf26(version) if version.static_syscalls() => match src {
                0 => self.syscall(key),
                1 => self.relative_call_inside(pc, imm),
                _ => None,
            },
            Dialect::Sbpf26(_) => self.syscall(key).or_else(|| self.function(key)),
        };
        resolved.unwrap_or(UNSUPPORTED)
    }

    /// A pc-relative call of V3/V4: a call when `pc + 1 + imm` is a slot of the text, else
    /// unresolved (raised as `UnsupportedInstruction` before any frame is pushed).
    fn relative_call_inside(&self, pc: usize, imm: i32) -> Option<Op> {
        let target = (pc as i64).saturating_add(1).saturating_add(i64::from(imm));
        usize::try_from(target)
            .ok()
            .filter(|&target| target < self.slot_count)
            .map(|target| Op::Call { target })
    }

    /// How add32/sub32/mul32 widen their result ([`ext32_of`]).
    fn ext32(&self) -> Ext32 {
        ext32_of(self.dialect)
    }

    /// Whether `sub dst, imm` computes `imm - dst` ([`swapped_sub_of`]).
    fn swapped_sub(&self) -> bool {
        swapped_sub_of(self.dialect)
    }

    /// A V2 PQR operation: the plain row that computes the same where there is one (the low
    /// product is mul with a zero-extended 32-bit result; unsigned division and remainder
    /// are sBPF's, with a non-negative immediate; the 64-bit signed quotient is sBPF's
    /// `sdiv64`), else the PQR row.
    fn pqr(&self, width: Width, op: PqrOp, dst: GuestReg, src: Source) -> Option<Op> {
        use Source::{Imm, Reg as R};
        let src_op = operand(src)?;
        let dialect = self.dialect;
        if op.divides() && src == Imm(0) {
            return Some(Op::Trap {
                trap: Trap::DivideByZero,
            });
        }
        // A 64-bit unsigned divisor given as a negative immediate is zero-extended: no
        // plain row takes it (their immediates are sign-extended).
        let plain_divisor = !matches!(src, Imm(imm) if imm < 0);
        let divide = |width| Op::Div {
            width,
            dst,
            src: src_op,
            dialect,
        };
        let remainder = |width| Op::Mod {
            width,
            dst,
            src: src_op,
            dialect,
        };
        Some(match (op, width, src) {
            (PqrOp::Lmul, Width::W32, Imm(imm)) => Op::Mul32Imm {
                dst,
                imm,
                ext: Ext32::Zero,
            },
            (PqrOp::Lmul, Width::W32, R(s)) => Op::Mul32Reg {
                dst,
                src: r(s)?,
                ext: Ext32::Zero,
            },
            (PqrOp::Lmul, Width::W64, Imm(imm)) => Op::Mul64Imm { dst, imm },
            (PqrOp::Lmul, Width::W64, R(s)) => Op::Mul64Reg { dst, src: r(s)? },
            (PqrOp::Udiv, Width::W32, _) => divide(Width::W32),
            (PqrOp::Urem, Width::W32, _) => remainder(Width::W32),
            (PqrOp::Udiv, Width::W64, _) if plain_divisor => divide(Width::W64),
            (PqrOp::Urem, Width::W64, _) if plain_divisor => remainder(Width::W64),
            (PqrOp::Sdiv, Width::W64, _) => Op::SDiv {
                width,
                dst,
                src: src_op,
                dialect,
            },
            (PqrOp::Udiv | PqrOp::Urem | PqrOp::Uhmul | PqrOp::Shmul | PqrOp::Srem, _, _)
            | (PqrOp::Sdiv, Width::W32, _) => Op::Pqr {
                op,
                width,
                dst,
                src: src_op,
            },
        })
    }

    #[inline(always)]
    fn alu(&self, width: Width, op: AluOp, dst: GuestReg, src: Source) -> Option<Op> {
        match width {
            Width::W64 => self.alu64(op, dst, src),
            Width::W32 => self.alu32(op, dst, src),
        }
    }

    #[inline(always)]
    fn alu64(&self, op: AluOp, dst: GuestReg, src: Source) -> Option<Op> {
        use Source::{Imm, Reg as R};
        Some(match (op, src) {
            (AluOp::Mov, Imm(imm)) => Op::Mov64Imm { dst, imm },
            (AluOp::Mov, R(s)) => Op::Mov64Reg { dst, src: r(s)? },
            (AluOp::Add, Imm(imm)) => Op::Add64Imm { dst, imm },
            (AluOp::Add, R(s)) => Op::Add64Reg { dst, src: r(s)? },
            (AluOp::Sub, Imm(imm)) if self.swapped_sub() => Op::RevSub64Imm { dst, imm },
            (AluOp::Sub, Imm(imm)) => Op::Sub64Imm { dst, imm },
            (AluOp::Sub, R(s)) => Op::Sub64Reg { dst, src: r(s)? },
            (AluOp::Mul, Imm(imm)) => Op::Mul64Imm { dst, imm },
            (AluOp::Mul, R(s)) => Op::Mul64Reg { dst, src: r(s)? },
            (AluOp::Or, Imm(imm)) => Op::Or64Imm { dst, imm },
            (AluOp::Or, R(s)) => Op::Or64Reg { dst, src: r(s)? },
            (AluOp::And, Imm(imm)) => Op::And64Imm { dst, imm },
            (AluOp::And, R(s)) => Op::And64Reg { dst, src: r(s)? },
            (AluOp::Xor, Imm(imm)) => Op::Xor64Imm { dst, imm },
            (AluOp::Xor, R(s)) => Op::Xor64Reg { dst, src: r(s)? },
            (AluOp::Lsh, Imm(imm)) => Op::Lsh64Imm { dst, imm },
            (AluOp::Lsh, R(s)) => Op::Lsh64Reg { dst, src: r(s)? },
            (AluOp::Rsh, Imm(imm)) => Op::Rsh64Imm { dst, imm },
            (AluOp::Rsh, R(s)) => Op::Rsh64Reg { dst, src: r(s)? },
            (AluOp::Arsh, Imm(imm)) => Op::Arsh64Imm { dst, imm },
            (AluOp::Arsh, R(s)) => Op::Arsh64Reg { dst, src: r(s)? },
            (AluOp::MovSx(size), R(s)) => Op::MovSx {
                dst,
                src: r(s)?,
                size,
                width: Width::W64,
            },
            (AluOp::MovSx(size), Imm(imm)) => Op::SetConst {
                dst,
                value: size.sign_extend(imm as i64 as u64),
            },
            (AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod, _) => {
                self.division(Width::W64, op, dst, src)?
            }
        })
    }

    fn alu32(&self, op: AluOp, dst: GuestReg, src: Source) -> Option<Op> {
        use Source::{Imm, Reg as R};
        let ext = self.ext32();
        let src_op = operand(src)?;
        let sign_extending_mov = sign_extending_mov32_of(self.dialect);
        Some(match (op, src) {
            (AluOp::Mov, Imm(imm)) => Op::Mov32Imm { dst, imm },
            // V2's `mov32 dst, src` sign-extends the low half: eBPF's `movsx` from 32 bits.
            (AluOp::Mov, R(s)) if sign_extending_mov => Op::MovSx {
                dst,
                src: r(s)?,
                size: MemSize::W,
                width: Width::W64,
            },
            (AluOp::Mov, R(s)) => Op::Mov32Reg { dst, src: r(s)? },
            (AluOp::Add, Imm(imm)) => Op::Add32Imm { dst, imm, ext },
            (AluOp::Add, R(s)) => Op::Add32Reg {
                dst,
                src: r(s)?,
                ext,
            },
            (AluOp::Sub, Imm(imm)) if self.swapped_sub() => Op::RevSub32Imm { dst, imm },
            (AluOp::Sub, Imm(imm)) => Op::Sub32Imm { dst, imm, ext },
            (AluOp::Sub, R(s)) => Op::Sub32Reg {
                dst,
                src: r(s)?,
                ext,
            },
            (AluOp::Mul, Imm(imm)) => Op::Mul32Imm { dst, imm, ext },
            (AluOp::Mul, R(s)) => Op::Mul32Reg {
                dst,
                src: r(s)?,
                ext,
            },
            (AluOp::Or, _) => Op::Or32 { dst, src: src_op },
            (AluOp::And, _) => Op::And32 { dst, src: src_op },
            (AluOp::Xor, _) => Op::Xor32 { dst, src: src_op },
            (AluOp::Lsh, _) => Op::Lsh32 { dst, src: src_op },
            (AluOp::Rsh, _) => Op::Rsh32 { dst, src: src_op },
            (AluOp::Arsh, _) => Op::Arsh32 { dst, src: src_op },
            (AluOp::MovSx(size), R(s)) => Op::MovSx {
                dst,
                src: r(s)?,
                size,
                width: Width::W32,
            },
            (AluOp::MovSx(size), Imm(imm)) => Op::SetConst {
                dst,
                value: size.sign_extend(imm as i64 as u64) & u64::from(u32::MAX),
            },
            (AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod, _) => {
                self.division(Width::W32, op, dst, src)?
            }
        })
    }

    /// Division and remainder. An immediate zero divisor is decided here: sBPF raises
    /// `DivideByZero` (the verifier normally rejects it first), eBPF gives 0 for division and
    /// leaves dst for remainder (the 32-bit form still clears the upper half). `None` for an
    /// op that is not a division (the callers pass only the four).
    fn division(&self, width: Width, op: AluOp, dst: GuestReg, src: Source) -> Option<Op> {
        let dialect = self.dialect;
        let src_op = operand(src)?;
        let kind = Division::of(op)?;
        if let Source::Imm(0) = src {
            return Some(match (dialect, kind, width) {
                (Dialect::Sbpf | Dialect::Sbpf26(_), _, _) => Op::Trap {
                    trap: Trap::DivideByZero,
                },
                (Dialect::Ebpf, Division::Mod | Division::SMod, Width::W64) => Op::Nop,
                (Dialect::Ebpf, Division::Mod | Division::SMod, Width::W32) => {
                    Op::Mov32Reg { dst, src: dst }
                }
                (Dialect::Ebpf, Division::Div | Division::SDiv, _) => {
                    Op::SetConst { dst, value: 0 }
                }
            });
        }
        Some(match kind {
            Division::Div => Op::Div {
                width,
                dst,
                src: src_op,
                dialect,
            },
            Division::Mod => Op::Mod {
                width,
                dst,
                src: src_op,
                dialect,
            },
            Division::SDiv => Op::SDiv {
                width,
                dst,
                src: src_op,
                dialect,
            },
            Division::SMod => Op::SMod {
                width,
                dst,
                src: src_op,
                dialect,
            },
        })
    }
}

/// `pc + 1 + off`, or the overrun sentinel (`slot_count`) when out of range; the verifier
/// guarantees the range, so the sentinel is only a safe fallback.
#[inline(always)]
pub(super) fn jump_target(pc: usize, off: i64, slot_count: usize) -> u32 {
    let target = (pc as i64).saturating_add(1).saturating_add(off);
    usize::try_from(target)
        .ok()
        .filter(|&target| target < slot_count)
        .unwrap_or(slot_count)
        .try_into()
        .unwrap_or(u32::MAX)
}

/// How add32/sub32/mul32 widen their result in `dialect`: sBPF and SBPF versions before V2
/// sign-extend, V2 and eBPF zero-extend. Shared by the lowering and the quick table
/// ([`super::quick`]), so the rule is stated once.
pub(super) const fn ext32_of(dialect: Dialect) -> Ext32 {
    match dialect {
        Dialect::Sbpf => Ext32::Sign,
        Dialect::Sbpf26(version) if version.explicit_sign_extension_of_results() => Ext32::Zero,
        Dialect::Sbpf26(_) => Ext32::Sign,
        Dialect::Ebpf => Ext32::Zero,
    }
}

/// Whether `sub dst, imm` computes `imm - dst` in `dialect` (V2).
pub(super) const fn swapped_sub_of(dialect: Dialect) -> bool {
    match dialect {
        Dialect::Sbpf26(version) => version.swap_sub_reg_imm_operands(),
        Dialect::Sbpf | Dialect::Ebpf => false,
    }
}

/// Whether `mov32 dst, src` sign-extends the low half in `dialect` (V2: eBPF's `movsx` from
/// 32 bits).
pub(super) const fn sign_extending_mov32_of(dialect: Dialect) -> bool {
    match dialect {
        Dialect::Sbpf26(version) => version.explicit_sign_extension_of_results(),
        Dialect::Sbpf | Dialect::Ebpf => false,
    }
}

/// The four division and remainder ops of [`AluOp`], named so that every match over them is
/// exhaustive.
#[derive(Clone, Copy)]
enum Division {
    Div,
    Mod,
    SDiv,
    SMod,
}

impl Division {
    /// The division `op` is, if it is one. Exhaustive over [`AluOp`]: a new op must say here
    /// whether it divides.
    fn of(op: AluOp) -> Option<Division> {
        match op {
            AluOp::Div => Some(Division::Div),
            AluOp::Mod => Some(Division::Mod),
            AluOp::SDiv => Some(Division::SDiv),
            AluOp::SMod => Some(Division::SMod),
            AluOp::Add
            | AluOp::Sub
            | AluOp::Mul
            | AluOp::Or
            | AluOp::And
            | AluOp::Lsh
            | AluOp::Rsh
            | AluOp::Arsh
            | AluOp::Xor
            | AluOp::Mov
            | AluOp::MovSx(_) => None,
        }
    }
}

fn endian(op: EndianOp, dst: GuestReg, bits: i32) -> Op {
    match (op, bits) {
        (EndianOp::ToLe, 16) => Op::Trunc16 { dst },
        (EndianOp::ToLe, 32) => Op::Trunc32 { dst },
        (EndianOp::ToLe, 64) => Op::Nop,
        (EndianOp::ToBe | EndianOp::Swap, 16) => Op::Swap16 { dst },
        (EndianOp::ToBe | EndianOp::Swap, 32) => Op::Swap32 { dst },
        (EndianOp::ToBe | EndianOp::Swap, 64) => Op::Swap64 { dst },
        (EndianOp::ToLe | EndianOp::ToBe | EndianOp::Swap, _) => Op::Trap {
            trap: Trap::Invalid,
        },
    }
}

fn load(size: MemSize, extend: Extend, dst: GuestReg, base: GuestReg, off: i16) -> Op {
    match (extend, size) {
        (Extend::Zero, MemSize::B) => Op::Ldx8 { dst, base, off },
        (Extend::Zero, MemSize::H) => Op::Ldx16 { dst, base, off },
        (Extend::Zero, MemSize::W) => Op::Ldx32 { dst, base, off },
        (Extend::Zero, MemSize::DW) | (Extend::Sign, MemSize::DW) => Op::Ldx64 { dst, base, off },
        (Extend::Sign, size) => Op::LdxSigned {
            dst,
            base,
            off,
            size,
        },
    }
}

fn store(size: MemSize, base: GuestReg, off: i16, src: Source) -> Option<Op> {
    Some(match (src, size) {
        (Source::Imm(imm), MemSize::B) => Op::St8 { base, off, imm },
        (Source::Imm(imm), MemSize::H) => Op::St16 { base, off, imm },
        (Source::Imm(imm), MemSize::W) => Op::St32 { base, off, imm },
        (Source::Imm(imm), MemSize::DW) => Op::St64 { base, off, imm },
        (Source::Reg(src), MemSize::B) => Op::Stx8 {
            base,
            src: r(src)?,
            off,
        },
        (Source::Reg(src), MemSize::H) => Op::Stx16 {
            base,
            src: r(src)?,
            off,
        },
        (Source::Reg(src), MemSize::W) => Op::Stx32 {
            base,
            src: r(src)?,
            off,
        },
        (Source::Reg(src), MemSize::DW) => Op::Stx64 {
            base,
            src: r(src)?,
            off,
        },
    })
}

/// The flat op for a 64-bit conditional jump to `target`.
fn branch64(cond: Cond, dst: GuestReg, src: Source, target: u32) -> Option<Op> {
    Some(match src {
        Source::Imm(imm) => match cond {
            Cond::Eq => Op::JeqImm { dst, imm, target },
            Cond::Ne => Op::JneImm { dst, imm, target },
            Cond::Gt => Op::JgtImm { dst, imm, target },
            Cond::Ge => Op::JgeImm { dst, imm, target },
            Cond::Lt => Op::JltImm { dst, imm, target },
            Cond::Le => Op::JleImm { dst, imm, target },
            Cond::Set => Op::JsetImm { dst, imm, target },
            Cond::Sgt => Op::JsgtImm { dst, imm, target },
            Cond::Sge => Op::JsgeImm { dst, imm, target },
            Cond::Slt => Op::JsltImm { dst, imm, target },
            Cond::Sle => Op::JsleImm { dst, imm, target },
        },
        Source::Reg(reg) => {
            let src = r(reg)?;
            match cond {
                Cond::Eq => Op::JeqReg { dst, src, target },
                Cond::Ne => Op::JneReg { dst, src, target },
                Cond::Gt => Op::JgtReg { dst, src, target },
                Cond::Ge => Op::JgeReg { dst, src, target },
                Cond::Lt => Op::JltReg { dst, src, target },
                Cond::Le => Op::JleReg { dst, src, target },
                Cond::Set => Op::JsetReg { dst, src, target },
                Cond::Sgt => Op::JsgtReg { dst, src, target },
                Cond::Sge => Op::JsgeReg { dst, src, target },
                Cond::Slt => Op::JsltReg { dst, src, target },
                Cond::Sle => Op::JsleReg { dst, src, target },
            }
        }
    })
}
