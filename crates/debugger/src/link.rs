//! The messages between the protocol thread (gdbstub and the client's connection) and the
//! VM thread (the interpreter, stopped inside its step hook).
//!
//! While the VM is stopped, the protocol thread sends [`Request`]s and waits for one
//! [`Reply`] each; a [`Request::Resume`] gets no reply, and the VM later reports an
//! [`Event`] when it stops again or ends. [`Request::End`] tells the VM that the session is
//! over. Every exchange is synchronous, so the order of messages is the order of packets.
//! This module owns only the vocabulary; it makes no decisions.

use gdbstub::common::Signal;

/// How the VM should resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeMode {
    /// Run to the next breakpoint, interrupt or end.
    Continue,
    /// Run one instruction.
    Step,
}

/// How the client ended the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndKind {
    /// Detach (`D`) or a lost connection: the program runs on without the debugger.
    Detach,
    /// Kill (`k`, `vKill`): the program stops where it is.
    Kill,
}

/// Whether a breakpoint is being added or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakpointChange {
    /// `Z0`.
    Insert,
    /// `z0`.
    Remove,
}

/// The machine state the client sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// r0 to r10.
    pub gpr: [u64; 11],
    /// The guest address of the next instruction.
    pub pc: u64,
    /// The instruction budget left.
    pub remaining: u64,
}

/// A question or command from the protocol thread to the stopped VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Read r0 to r10, the pc and the remaining budget.
    ReadRegisters,
    /// Replace r0 to r10; the pc must be unchanged.
    WriteRegisters {
        /// The new r0 to r10.
        gpr: [u64; 11],
        /// The pc the client believes in.
        pc: u64,
    },
    /// Write one register by its GDB number.
    WriteRegister {
        /// The register number (0 to 12).
        regnum: usize,
        /// The new value.
        value: u64,
    },
    /// Read guest memory.
    ReadMemory {
        /// The guest address.
        vaddr: u64,
        /// How many bytes at most.
        len: usize,
    },
    /// Write guest memory.
    WriteMemory {
        /// The guest address.
        vaddr: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Insert or remove a software breakpoint at a guest address.
    Breakpoint {
        /// The guest address.
        vaddr: u64,
        /// Insert or remove.
        change: BreakpointChange,
    },
    /// Resume execution (no reply; an [`Event`] follows).
    Resume(ResumeMode),
    /// The session is over (no reply).
    End(EndKind),
}

/// The VM's answer to one [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The registers.
    Registers(Snapshot),
    /// The bytes read (a prefix of the range asked for; empty when nothing is mapped).
    Memory(Vec<u8>),
    /// The request was carried out.
    Done,
    /// The request was refused (unmapped or read-only memory, a read-only register, a
    /// breakpoint outside the text).
    Refused,
}

/// What the VM reports after a resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A single step finished.
    DoneStep,
    /// Execution reached a breakpoint.
    Breakpoint,
    /// The client's interrupt (Ctrl-C) was honoured.
    Interrupted,
    /// The run raised an error; the VM stays inspectable until resumed.
    Faulted(Signal),
    /// The program returned; the low byte of r0.
    Exited(u8),
    /// The program was resumed after a fault and is gone.
    Terminated(Signal),
}
