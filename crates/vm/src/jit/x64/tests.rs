//! The x86-64 backend's own tables: the routines and the templates are indexed by hand-kept
//! functions, which must be bijections onto their tables; the engine's stock of scratch
//! buffers stays bounded; a waiting stub stays small.

use super::labels::{Routine, Shape, ROUTINES, SHAPES};
use super::masm::Scratch;
use super::State;

#[test]
fn routine_indices_are_a_bijection() {
    let mut seen = [false; ROUTINES];
    for (index, routine) in Routine::ALL.iter().enumerate() {
        assert_eq!(routine.index(), index, "{routine:?}");
        assert!(!seen[index]);
        seen[index] = true;
    }
    assert!(seen.iter().all(|seen| *seen));
    // Every routine fits the pending-routine bitmask below its stubs bit.
    const { assert!(ROUTINES < 31) };
}

#[test]
fn shape_indices_are_a_bijection() {
    let mut seen = [false; SHAPES];
    for (index, shape) in Shape::ALL.iter().enumerate() {
        assert_eq!(shape.index(), index, "{shape:?}");
        assert!(!seen[index], "{shape:?} twice");
        seen[index] = true;
    }
    assert!(seen.iter().all(|seen| *seen));
}

#[test]
fn scratch_buffers_come_back_bounded() {
    let state = State::default();
    let mut first = state.take_scratch();
    first.stubs.reserve(4096);
    state.give_scratch(first);
    assert!(state.take_scratch().stubs.capacity() >= 4096);
    for _ in 0..super::SCRATCH_MAX + 2 {
        state.give_scratch(Scratch::default());
    }
    assert_eq!(super::lock(&state.scratch).len(), super::SCRATCH_MAX);
}

/// A waiting stub is 16 bytes (one at nearly every run start is pushed and read back).
#[test]
fn a_waiting_stub_is_16_bytes() {
    assert_eq!(core::mem::size_of::<super::masm::Stub>(), 16);
}
