//! The loop analysis of [`super`] on loops written as ops: which accesses it hoists, the
//! spans it asks the guard to check, and the loops and accesses it must leave alone.

use super::*;
use crate::code::GuestReg::{R0, R1, R10, R2, R3, R4, R5, R6, R7, R8, R9};

const HEAD: usize = 1;

/// Ops of a program whose loop starts at slot [`HEAD`] (slot 0 sets up nothing).
fn program(body: &[Op]) -> Vec<Op> {
    let mut ops = vec![Op::Mov64Imm { dst: R9, imm: 0 }];
    ops.extend_from_slice(body);
    ops.push(Op::Exit);
    ops
}

fn back_edge() -> Op {
    Op::JltReg {
        dst: R4,
        src: R3,
        target: HEAD as u32,
    }
}

/// The histogram's loop: `counts[data[i]]++` with data = r1, counts = r2, i = r4 < r3.
fn histogram() -> Vec<Op> {
    vec![
        Op::Mov64Reg { dst: R5, src: R1 },
        Op::Add64Reg { dst: R5, src: R4 },
        Op::Ldx8 {
            dst: R5,
            base: R5,
            off: 0,
        },
        Op::Lsh64Imm { dst: R5, imm: 2 },
        Op::Mov64Reg { dst: R0, src: R2 },
        Op::Add64Reg { dst: R0, src: R5 },
        Op::Ldx32 {
            dst: R5,
            base: R0,
            off: 0,
        },
        Op::Add64Imm { dst: R5, imm: 1 },
        Op::Stx32 {
            base: R0,
            src: R5,
            off: 0,
        },
        Op::Add64Imm { dst: R4, imm: 1 },
        back_edge(),
    ]
}

fn plan_for(body: &[Op]) -> Option<Plan> {
    let ops = program(body);
    let last = ops.len() - 2;
    plan(
        &ops,
        HEAD,
        |pc| pc == HEAD,
        |pc| (HEAD..=last).contains(&pc),
    )
}

/// A table lookup `r0 += table[(x >> shift) & mask]` through base r2, with `op` between
/// the index and the access.
fn lookup(index: Op, scale: i32, off: i16) -> Vec<Op> {
    vec![
        Op::Ldx8 {
            dst: R5,
            base: R1,
            off: 0,
        },
        index,
        Op::Lsh64Imm {
            dst: R5,
            imm: scale,
        },
        Op::Add64Reg { dst: R5, src: R2 },
        Op::Ldx64 {
            dst: R6,
            base: R5,
            off,
        },
        Op::Add64Reg { dst: R0, src: R6 },
        Op::Add64Imm { dst: R1, imm: 1 },
        Op::Add64Imm { dst: R4, imm: 1 },
        back_edge(),
    ]
}

#[test]
fn the_histogram_loop_hoists_the_counter_accesses() {
    let plan = plan_for(&histogram()).expect("a plan");
    assert_eq!((plan.head, plan.latch), (HEAD, HEAD + 10));
    assert_eq!(
        plan.groups,
        vec![Group {
            base: R2,
            lo: 0,
            len: 1024,
            access: Access::Store,
        }]
    );
    // The byte load goes through r1 + r4, and r4 changes in the loop: not hoisted.
    let hoisted: Vec<usize> = (HEAD..=HEAD + 10)
        .filter(|pc| plan.group_of(*pc).is_some())
        .collect();
    assert_eq!(hoisted, vec![HEAD + 6, HEAD + 8]);
}

/// A case of [`spans_follow_masks_shifts_and_offsets`]: the op between the byte load and
/// the shift, the shift, the offset, and the span `(lo, len)` expected (none: no plan).
type SpanCase = (Op, i32, i16, Option<(i32, i32)>);

#[test]
fn spans_follow_masks_shifts_and_offsets() {
    let cases: [SpanCase; 6] = [
        (Op::Nop, 3, 0, Some((0, 255 * 8 + 8))),
        (
            Op::And64Imm { dst: R5, imm: 15 },
            3,
            0,
            Some((0, 15 * 8 + 8)),
        ),
        (
            Op::Rsh64Imm { dst: R5, imm: 4 },
            3,
            -8,
            Some((-8, 15 * 8 + 8)),
        ),
        // A shift of what may be negative is not modelled.
        (Op::Sub64Imm { dst: R5, imm: 1 }, 0, 0, None),
        // 32-bit arithmetic is not modelled: the index is unknown, nothing is hoisted.
        (
            Op::Add32Imm {
                dst: R5,
                imm: 1,
                ext: crate::code::Ext32::Zero,
            },
            3,
            0,
            None,
        ),
        // A negative mask says nothing about the range.
        (Op::And64Imm { dst: R5, imm: -1 }, 3, 0, None),
    ];
    for (index, scale, off, span) in cases {
        let plan = plan_for(&lookup(index, scale, off));
        let found = plan.map(|plan| {
            let group = plan.groups[0];
            assert_eq!(group.base, R2, "{index:?}");
            assert_eq!(group.access, Access::Load);
            (group.lo, group.len)
        });
        assert_eq!(found, span, "{index:?}");
    }
}

#[test]
fn loops_that_may_change_memory_or_frames_are_not_versioned() {
    for op in [
        Op::Call { target: 0 },
        Op::Syscall { index: 0 },
        Op::CallReg { reg: R1 },
        Op::Exit,
        Op::Atomic {
            size: bpfvm_isa::MemSize::DW,
            op: bpfvm_isa::AtomicOp::Add,
            base: R2,
            src: R3,
            off: 0,
        },
    ] {
        let mut body = histogram();
        body.insert(0, op);
        // Keep the back edge pointing at the head.
        assert_eq!(plan_for(&body), None, "{op:?}");
    }
}

#[test]
fn a_register_written_anywhere_in_the_body_is_no_base() {
    // r2 is written on one path only (after a forward branch): not invariant.
    let mut body = histogram();
    let latch = body.len() - 1;
    body.insert(
        latch,
        Op::JeqImm {
            dst: R4,
            imm: 7,
            target: (HEAD + latch + 2) as u32,
        },
    );
    body.insert(latch + 1, Op::Add64Imm { dst: R2, imm: 4 });
    assert_eq!(plan_for(&body), None);
}

#[test]
fn a_jump_target_inside_the_body_forgets_what_was_computed() {
    // The index is computed before slot HEAD + 2, which a branch also reaches: from there
    // on r5 is unknown, so the second access is not hoisted (the first, through the
    // invariant r1, is).
    let body = vec![
        Op::Ldx8 {
            dst: R5,
            base: R1,
            off: 0,
        },
        Op::JeqImm {
            dst: R4,
            imm: 0,
            target: (HEAD + 2) as u32,
        },
        Op::Add64Reg { dst: R5, src: R2 },
        Op::Ldx8 {
            dst: R6,
            base: R5,
            off: 0,
        },
        Op::Add64Imm { dst: R4, imm: 1 },
        back_edge(),
    ];
    let plan = plan_for(&body).expect("a plan");
    assert_eq!(plan.group_of(HEAD), Some(0));
    assert_eq!(plan.groups[0].base, R1);
    assert_eq!(plan.group_of(HEAD + 3), None);
}

#[test]
fn r10_and_nested_loops_are_left_alone() {
    let through_r10 = vec![
        Op::Ldx64 {
            dst: R5,
            base: R10,
            off: -8,
        },
        Op::Add64Imm { dst: R4, imm: 1 },
        back_edge(),
    ];
    assert_eq!(plan_for(&through_r10), None);
    let ops = program(&histogram());
    // A loop starting inside ends the body before it: no back edge to the head is left.
    let inside = |pc: usize| (HEAD..ops.len() - 1).contains(&pc);
    assert_eq!(
        plan(&ops, HEAD, |pc| pc == HEAD || pc == HEAD + 4, inside),
        None
    );
}

#[test]
fn retain_renumbers_the_groups_it_keeps() {
    // Two bases: r2 (counts) and r6 (a second table read with the same index).
    let mut body = histogram();
    body.insert(4, Op::Mov64Reg { dst: R7, src: R6 });
    body.insert(5, Op::Add64Reg { dst: R7, src: R5 });
    body.insert(
        6,
        Op::Ldx8 {
            dst: R8,
            base: R7,
            off: 3,
        },
    );
    let plan = plan_for(&body).expect("a plan");
    assert_eq!(plan.groups.len(), 2);
    let kept = plan.retain(|group| group.base == R2).expect("r2 kept");
    assert_eq!(kept.groups.len(), 1);
    assert_eq!(kept.group_of(HEAD + 6), None);
    assert!((HEAD..=kept.latch).any(|pc| kept.group_of(pc) == Some(0)));
    assert!(kept.retain(|_| false).is_none());
}
