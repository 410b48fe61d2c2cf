//! The op table's facts against what each op does, for one instance of every variant.

use super::*;
use crate::insn::{AtomicOp, Cond, Dialect, MemSize, Width};

/// The names of every row of the table, from the table itself.
macro_rules! row_names {
    ($($(#[$attr:meta])* $name:ident $({ $($field:ident : $ty:ty),* $(,)? })? => $facts:expr),* $(,)?) => {
        [$(stringify!($name)),*]
    };
}

const ROWS: &[&str] = &crate::for_each_op!(row_names);

use GuestReg::{R0, R1, R10, R2, R3};

/// One op of every variant (the test below checks that none is missing).
fn every_op() -> Vec<Op> {
    let (dst, src, base, imm, off, target) = (R1, R2, R3, 7, -8, 5u32);
    let ext = Ext32::Sign;
    let operand = Operand::Reg(src);
    let dialect = Dialect::Sbpf;
    vec![
        Op::Mov64Imm { dst, imm },
        Op::Mov64Reg { dst, src },
        Op::Add64Imm { dst, imm },
        Op::Add64Reg { dst, src },
        Op::Sub64Imm { dst, imm },
        Op::Sub64Reg { dst, src },
        Op::Mul64Imm { dst, imm },
        Op::Mul64Reg { dst, src },
        Op::Or64Imm { dst, imm },
        Op::Or64Reg { dst, src },
        Op::And64Imm { dst, imm },
        Op::And64Reg { dst, src },
        Op::Xor64Imm { dst, imm },
        Op::Xor64Reg { dst, src },
        Op::Lsh64Imm { dst, imm },
        Op::Lsh64Reg { dst, src },
        Op::Rsh64Imm { dst, imm },
        Op::Rsh64Reg { dst, src },
        Op::Arsh64Imm { dst, imm },
        Op::Arsh64Reg { dst, src },
        Op::Neg64 { dst },
        Op::Hor64 { dst, imm: 3 },
        Op::RevSub64Imm { dst, imm },
        Op::RevSub32Imm { dst, imm },
        Op::Pqr {
            op: crate::insn::PqrOp::Srem,
            width: Width::W32,
            dst,
            src: operand,
        },
        Op::Mov32Imm { dst, imm },
        Op::Mov32Reg { dst, src },
        Op::Add32Imm { dst, imm, ext },
        Op::Add32Reg { dst, src, ext },
        Op::Sub32Imm { dst, imm, ext },
        Op::Sub32Reg { dst, src, ext },
        Op::Mul32Imm { dst, imm, ext },
        Op::Mul32Reg { dst, src, ext },
        Op::Or32 { dst, src: operand },
        Op::And32 { dst, src: operand },
        Op::Xor32 { dst, src: operand },
        Op::Lsh32 { dst, src: operand },
        Op::Rsh32 { dst, src: operand },
        Op::Arsh32 { dst, src: operand },
        Op::Neg32 { dst },
        Op::SetConst { dst, value: 9 },
        Op::MovSx {
            dst,
            src,
            size: MemSize::B,
            width: Width::W64,
        },
        Op::Div {
            width: Width::W64,
            dst,
            src: operand,
            dialect,
        },
        Op::Mod {
            width: Width::W64,
            dst,
            src: operand,
            dialect,
        },
        Op::SDiv {
            width: Width::W32,
            dst,
            src: operand,
            dialect,
        },
        Op::SMod {
            width: Width::W32,
            dst,
            src: operand,
            dialect,
        },
        Op::Trunc16 { dst },
        Op::Trunc32 { dst },
        Op::Swap16 { dst },
        Op::Swap32 { dst },
        Op::Swap64 { dst },
        Op::LoadImm64 { dst, imm: 1 << 40 },
        Op::Ldx8 { dst, base, off },
        Op::Ldx16 { dst, base, off },
        Op::Ldx32 { dst, base, off },
        Op::Ldx64 { dst, base, off },
        Op::LdxSigned {
            dst,
            base,
            off,
            size: MemSize::H,
        },
        Op::St8 { base, off, imm },
        Op::St16 { base, off, imm },
        Op::St32 { base, off, imm },
        Op::St64 { base, off, imm },
        Op::Stx8 { base, src, off },
        Op::Stx16 { base, src, off },
        Op::Stx32 { base, src, off },
        Op::Stx64 { base, src, off },
        Op::Atomic {
            size: MemSize::DW,
            op: AtomicOp::CmpXchg,
            base,
            src,
            off,
        },
        Op::Ja { target },
        Op::JeqImm { dst, imm, target },
        Op::JeqReg { dst, src, target },
        Op::JneImm { dst, imm, target },
        Op::JneReg { dst, src, target },
        Op::JgtImm { dst, imm, target },
        Op::JgtReg { dst, src, target },
        Op::JgeImm { dst, imm, target },
        Op::JgeReg { dst, src, target },
        Op::JltImm { dst, imm, target },
        Op::JltReg { dst, src, target },
        Op::JleImm { dst, imm, target },
        Op::JleReg { dst, src, target },
        Op::JsetImm { dst, imm, target },
        Op::JsetReg { dst, src, target },
        Op::JsgtImm { dst, imm, target },
        Op::JsgtReg { dst, src, target },
        Op::JsgeImm { dst, imm, target },
        Op::JsgeReg { dst, src, target },
        Op::JsltImm { dst, imm, target },
        Op::JsltReg { dst, src, target },
        Op::JsleImm { dst, imm, target },
        Op::JsleReg { dst, src, target },
        Op::Branch32 {
            cond: Cond::Sgt,
            dst,
            src: Operand::Imm(3),
            target,
        },
        Op::Syscall { index: 2 },
        Op::Call { target: 5 },
        Op::CallReg { reg: R2 },
        Op::CallRegOrHelper { reg: R2 },
        Op::Exit,
        Op::MoveStackPointer { delta: -64 },
        Op::Nop,
        Op::Trap {
            trap: Trap::Unsupported,
        },
        Op::Overrun,
    ]
}

#[test]
fn an_op_is_16_bytes() {
    assert_eq!(core::mem::size_of::<Op>(), 16);
}

#[test]
fn every_row_has_an_example_and_the_facts_agree() {
    let ops = every_op();
    let names: Vec<&str> = ops.iter().map(Op::name).collect();
    assert_eq!(names, ROWS, "every_op lists the rows in table order");
    for op in ops {
        let facts = op.facts();
        let name = op.name();
        assert_eq!(facts.flow, op.flow(), "{name}");
        assert_eq!(facts.slots, op.width(), "{name}");
        assert_eq!(facts.uses, op.uses(), "{name}");
        assert_eq!(facts.defs, op.defs(), "{name}");
        assert_eq!(facts.access, op.access(), "{name}");
        assert_eq!(facts.kind, op.kind(), "{name}");
        assert_eq!(facts.address, op.address_flow(), "{name}");
        assert_eq!(
            (facts.flow, facts.kind, facts.slots),
            op.outline(),
            "{name}"
        );
        // Only lddw takes two slots.
        assert_eq!(
            op.width() == 2,
            matches!(op, Op::LoadImm64 { .. }),
            "{name}"
        );
        // A run ends exactly at the ops that do not simply go on.
        assert_eq!(
            op.ends_run(),
            op.kind() != OpKind::Alu
                && op.kind() != OpKind::Divide
                && op.kind() != OpKind::Memory
                && op.kind() != OpKind::StackPointer
                && op.kind() != OpKind::Nop,
            "{name}"
        );
        // Memory ops, and only they, touch memory, through a base they read.
        match op.access() {
            Some(access) => {
                assert_eq!(op.kind(), OpKind::Memory, "{name}");
                assert!(op.uses().contains(access.base), "{name}");
                assert_eq!(access.off, -8, "{name}");
                if access.kind == AccessKind::Load {
                    assert_eq!(op.defs(), Regs::of([R1]), "{name}");
                }
            }
            None => assert_ne!(op.kind(), OpKind::Memory, "{name}"),
        }
        // Register arithmetic writes its destination and nothing else.
        if matches!(op.kind(), OpKind::Alu | OpKind::Divide) {
            assert_eq!(op.defs(), Regs::of([R1]), "{name}");
            assert_eq!(op.flow(), Flow::Next, "{name}");
        }
        // Jumps and calls to a slot name it.
        if let Some(target) = op.target() {
            assert_eq!(target, 5, "{name}");
            assert_eq!(op.kind(), OpKind::Control, "{name}");
        }
    }
}

#[test]
fn pqr_facts_follow_the_operation() {
    use crate::insn::PqrOp;
    for op in PqrOp::ALL {
        let row = Op::Pqr {
            op,
            width: Width::W64,
            dst: R1,
            src: Operand::Reg(R2),
        };
        let kind = match op {
            PqrOp::Lmul => OpKind::Alu,
            _ => OpKind::Divide,
        };
        assert_eq!(row.kind(), kind, "{op:?}");
        assert_eq!(row.uses(), Regs::of([R1, R2]), "{op:?}");
    }
}

#[test]
fn control_facts() {
    assert_eq!(Op::Ja { target: 3 }.flow(), Flow::Jump(3));
    assert!(!Op::Ja { target: 3 }.is_conditional_jump());
    let jeq = Op::JeqImm {
        dst: R0,
        imm: 0,
        target: 9,
    };
    assert_eq!(jeq.flow(), Flow::Branch(9));
    assert!(jeq.is_conditional_jump());
    assert!(Flow::Branch(1).falls_through() && Flow::Syscall.falls_through());
    assert!(!Flow::Jump(1).falls_through() && !Flow::Exit.falls_through());
    assert!(!Flow::Fault.falls_through());
    assert!(Op::Call { target: 1 }.flow().is_call() && !jeq.flow().is_call());
    assert_eq!(Op::Exit.uses(), Regs::of([R0]));
    assert_eq!(Op::Syscall { index: 0 }.defs(), Regs::of([R0]));
    assert_eq!(Op::Call { target: 0 }.defs(), Regs::CALL_CLOBBERED);
}

#[test]
fn address_flow_follows_pointer_arithmetic() {
    let add = Op::Add64Reg { dst: R1, src: R10 };
    assert_eq!(add.address_flow(), AddressFlow::Add { dst: R1, src: R10 });
    let mov = Op::Mov64Reg { dst: R2, src: R10 };
    assert_eq!(mov.address_flow(), AddressFlow::Copy { dst: R2, src: R10 });
    let offset = Op::Sub64Imm { dst: R2, imm: 8 };
    assert_eq!(offset.address_flow(), AddressFlow::Keep { dst: R2 });
    let mul = Op::Mul64Imm { dst: R2, imm: 8 };
    assert_eq!(mul.address_flow(), AddressFlow::Fresh { dst: R2 });
}

#[test]
fn atomics_read_and_write_what_their_operation_says() {
    let atomic = |op| Op::Atomic {
        size: MemSize::W,
        op,
        base: R3,
        src: R2,
        off: 0,
    };
    assert_eq!(atomic(AtomicOp::Add).defs(), Regs::NONE);
    assert_eq!(atomic(AtomicOp::FetchAdd).defs(), Regs::of([R2]));
    assert_eq!(atomic(AtomicOp::Xchg).defs(), Regs::of([R2]));
    assert_eq!(atomic(AtomicOp::CmpXchg).defs(), Regs::of([R0]));
    assert_eq!(atomic(AtomicOp::CmpXchg).uses(), Regs::of([R0, R2, R3]));
    assert_eq!(
        atomic(AtomicOp::Or).access().map(|access| access.kind),
        Some(AccessKind::Update)
    );
}

#[test]
fn guest_registers_are_r0_to_r10() {
    for number in 0..=10 {
        let reg = GuestReg::new(number).unwrap();
        assert_eq!(reg.number(), number);
        assert_eq!(reg.index(), usize::from(number));
        assert_eq!(GuestReg::ALL[reg.index()], reg);
    }
    for number in 11..=255 {
        assert_eq!(GuestReg::new(number), None);
    }
    assert_eq!(GuestReg::from_reg(crate::Reg::SP), None);
    assert_eq!(R10.to_string(), "r10");
    let regs = Regs::of([R1, R3]).with(R10).with_operand(Operand::Imm(1));
    assert_eq!(regs.bits(), 0b100_0000_1010);
    assert!(regs.contains(R3) && !regs.contains(R2));
    assert!(Regs::NONE.is_empty() && !regs.is_empty());
    assert_eq!(Regs::ARGUMENTS.union(Regs::of([R0])), Regs::CALL_CLOBBERED);
}
