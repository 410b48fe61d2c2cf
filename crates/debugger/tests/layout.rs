//! The pieces of the debugger that need no connection, as tables: the pc convention, the
//! register packet, the signals errors are reported with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::{AccessType, RuntimeError};
use bpfvm_debugger::arch::{BpfRegId, BpfRegisters};
use bpfvm_debugger::session::signal_for;
use bpfvm_debugger::{CodeLayout, Signal};
use gdbstub::arch::{RegId, Registers};

const LAYOUT: CodeLayout = CodeLayout {
    text_vaddr: 0x1_0000_0120,
    slots: 4,
    entry_pc: 1,
};

#[test]
fn addresses_and_slots() {
    let table: [(u64, Option<usize>); 8] = [
        (0x1_0000_0120, Some(0)),
        (0x1_0000_0128, Some(1)),
        (0x1_0000_0138, Some(3)),
        (0x1_0000_0140, None), // one past the text
        (0x1_0000_0121, None), // inside a slot
        (0x1_0000_0118, None), // before the text
        (0, None),
        (u64::MAX, None),
    ];
    for (vaddr, slot) in table {
        assert_eq!(LAYOUT.slot(vaddr), slot, "{vaddr:#x}");
        if let Some(slot) = slot {
            assert_eq!(LAYOUT.address(slot), vaddr);
        }
    }
}

#[test]
fn register_packet_round_trips_and_rejects_bad_lengths() {
    let mut regs = BpfRegisters::default();
    for (i, value) in regs.gpr.iter_mut().enumerate() {
        *value = 0x1111 * (i as u64 + 1);
    }
    regs.pc = 0x1_0000_0128;
    let mut bytes = Vec::new();
    regs.gdb_serialize(|byte| bytes.push(byte.unwrap()));
    assert_eq!(bytes.len(), 12 * 8);
    assert_eq!(bytes[11 * 8..], 0x1_0000_0128u64.to_le_bytes());
    let mut back = BpfRegisters::default();
    back.gdb_deserialize(&bytes).unwrap();
    assert_eq!(back, regs);
    // With `remaining` appended: accepted, the extra value ignored.
    let mut longer = bytes.clone();
    longer.extend_from_slice(&7u64.to_le_bytes());
    back.gdb_deserialize(&longer).unwrap();
    assert_eq!(back, regs);
    for len in [0, 8, 11 * 8, 12 * 8 - 1, 12 * 8 + 3] {
        let mut target = BpfRegisters::default();
        let bytes = vec![0u8; len];
        assert_eq!(target.gdb_deserialize(&bytes), Err(()), "length {len}");
    }
}

#[test]
fn register_numbers() {
    let table = [
        (0, Some(BpfRegId::Gpr(0))),
        (10, Some(BpfRegId::Gpr(10))),
        (11, Some(BpfRegId::Pc)),
        (12, Some(BpfRegId::Remaining)),
        (13, None),
        (usize::MAX, None),
    ];
    for (raw, expected) in table {
        let found = BpfRegId::from_raw_id(raw).map(|(id, size)| {
            assert_eq!(size.map(|s| s.get()), Some(8));
            assert_eq!(id.to_raw_id(), Some(raw));
            id
        });
        assert_eq!(found, expected, "register {raw}");
    }
}

#[test]
fn signals_for_errors() {
    let table = [
        (RuntimeError::DivideByZero { pc: 1 }, Signal::SIGFPE),
        (RuntimeError::DivideOverflow { pc: 1 }, Signal::SIGFPE),
        (
            RuntimeError::AccessViolation {
                pc: 1,
                access: AccessType::Load,
                vaddr: 0,
                len: 8,
                region: "unknown",
            },
            Signal::SIGSEGV,
        ),
        (
            RuntimeError::CallDepthExceeded { pc: 1, depth: 64 },
            Signal::SIGSEGV,
        ),
        (RuntimeError::InvalidInstruction { pc: 1 }, Signal::SIGILL),
        (RuntimeError::ExecutionOverrun { pc: 4 }, Signal::SIGILL),
        (
            RuntimeError::ExceededMaxInstructions { pc: 1, budget: 3 },
            Signal::SIGXCPU,
        ),
        (
            RuntimeError::UserError {
                message: "x".into(),
            },
            Signal::SIGABRT,
        ),
    ];
    for (error, signal) in table {
        assert_eq!(signal_for(&error), signal, "{error:?}");
    }
}
