//! The VM thread's side of a debugging session: the step hook that decides where to stop,
//! the loop that answers the client while the VM is stopped, and the end of the run.
//!
//! The interpreter calls [`Session::before_instruction`] before every instruction. The
//! session stops there when the client asked for a single step, when the instruction's
//! address holds a breakpoint, or when the client interrupted; the very first instruction is
//! the initial stop the client finds on connecting. While stopped, the hook blocks answering
//! requests (registers, memory, breakpoints) until the client resumes, detaches or kills.
//!
//! When the run ends, [`Session::finish`] reports it: a returned program exits (`W` with
//! r0's low byte); an error becomes a stop with a signal ([`signal_for`]) at the faulting
//! instruction, still inspectable (registers as they were before it, memory as it is), and
//! resuming from it terminates the program (`X`). A detached session never stops again; a
//! killed one stops the interpreter.

use crate::link::{BreakpointChange, EndKind, Event, Reply, Request, ResumeMode, Snapshot};
use crate::{CodeLayout, SessionEnd};
use bpfvm::{MemoryMapping, RuntimeError, StepControl, StepHook, StepState};
use gdbstub::common::Signal;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

/// Where the session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Stopped before the first instruction, as the client finds it on connecting.
    Initial,
    /// Resumed by the client.
    Running(ResumeMode),
    /// The client detached: never stop again.
    Detached,
    /// The client killed the program.
    Killed,
}

/// How a stop ended.
enum Served {
    Resume(ResumeMode),
    End(EndKind),
}

/// The VM thread's end of the link, and the session's state.
pub struct Session {
    requests: Receiver<Request>,
    replies: Sender<Reply>,
    events: Sender<Event>,
    interrupt: Arc<AtomicBool>,
    layout: CodeLayout,
    breakpoints: BTreeSet<u64>,
    mode: Mode,
    /// The state before the latest instruction: what the client sees after the run.
    last: Snapshot,
}

impl Session {
    /// A session over the VM thread's link ends.
    pub fn new(
        requests: Receiver<Request>,
        replies: Sender<Reply>,
        events: Sender<Event>,
        interrupt: Arc<AtomicBool>,
        layout: CodeLayout,
    ) -> Self {
        Session {
            requests,
            replies,
            events,
            interrupt,
            last: Snapshot {
                pc: layout.address(layout.entry_pc),
                ..Snapshot::default()
            },
            layout,
            breakpoints: BTreeSet::new(),
            mode: Mode::Initial,
        }
    }

    /// Reports the end of the run to the client and, after an error, keeps answering it
    /// until it resumes, detaches or kills. `memory` is the VM's mapping after the run.
    pub fn finish(
        &mut self,
        result: &Result<u64, RuntimeError>,
        memory: &mut MemoryMapping<'_>,
    ) -> SessionEnd {
        match self.mode {
            Mode::Detached => return SessionEnd::Detached,
            Mode::Killed => return SessionEnd::Killed,
            // The run ended before its first instruction: the client still sees the initial
            // stop and must resume before it learns the outcome.
            Mode::Initial => {
                if let Served::End(kind) = self.serve_after_run(memory) {
                    return end_of(kind);
                }
            }
            Mode::Running(_) => {}
        }
        let signal = match result {
            Ok(r0) => {
                let code = (*r0 & 0xff) as u8;
                return match self.events.send(Event::Exited(code)) {
                    Ok(()) => SessionEnd::Exited(code),
                    Err(_) => SessionEnd::Detached,
                };
            }
            Err(error) => signal_for(error),
        };
        if self.events.send(Event::Faulted(signal)).is_err() {
            return SessionEnd::Detached;
        }
        match self.serve_after_run(memory) {
            Served::Resume(_) => match self.events.send(Event::Terminated(signal)) {
                Ok(()) => SessionEnd::Terminated(signal),
                Err(_) => SessionEnd::Detached,
            },
            Served::End(kind) => end_of(kind),
        }
    }

    /// Serves a stop after the run, on the last registers seen (writes go nowhere).
    fn serve_after_run(&mut self, memory: &mut MemoryMapping<'_>) -> Served {
        let mut gpr = self.last.gpr;
        let (pc, remaining) = (self.last.pc, self.last.remaining);
        self.serve(&mut gpr, pc, remaining, memory)
    }

    /// Why the VM must stop before the instruction at `address`, if it must.
    fn stop_event(&mut self, address: u64) -> Option<Event> {
        match self.mode {
            Mode::Running(ResumeMode::Step) => Some(Event::DoneStep),
            Mode::Running(ResumeMode::Continue) if self.breakpoints.contains(&address) => {
                Some(Event::Breakpoint)
            }
            Mode::Running(ResumeMode::Continue) if self.interrupt.swap(false, Ordering::SeqCst) => {
                Some(Event::Interrupted)
            }
            Mode::Running(ResumeMode::Continue) | Mode::Initial | Mode::Detached | Mode::Killed => {
                None
            }
        }
    }

    /// Answers requests while stopped at `pc` until the client resumes or ends the session.
    fn serve(
        &mut self,
        gpr: &mut [u64; 11],
        pc: u64,
        remaining: u64,
        memory: &mut MemoryMapping<'_>,
    ) -> Served {
        loop {
            // A protocol thread that has gone is a detach: the program runs on.
            let Ok(request) = self.requests.recv() else {
                return Served::End(EndKind::Detach);
            };
            let reply = match request {
                Request::ReadRegisters => Reply::Registers(Snapshot {
                    gpr: *gpr,
                    pc,
                    remaining,
                }),
                Request::WriteRegisters {
                    gpr: new,
                    pc: new_pc,
                } => match new_pc == pc {
                    true => {
                        *gpr = new;
                        Reply::Done
                    }
                    false => Reply::Refused,
                },
                Request::WriteRegister { regnum, value } => {
                    write_register(gpr, regnum, value, [pc, remaining])
                }
                Request::ReadMemory { vaddr, len } => {
                    Reply::Memory(read_prefix(memory, vaddr, len))
                }
                Request::WriteMemory { vaddr, bytes } => match memory.write_bytes(vaddr, &bytes) {
                    Ok(()) => Reply::Done,
                    Err(_) => Reply::Refused,
                },
                Request::Breakpoint { vaddr, change } => self.change_breakpoint(vaddr, change),
                Request::Resume(mode) => return Served::Resume(mode),
                Request::End(kind) => return Served::End(kind),
            };
            if self.replies.send(reply).is_err() {
                return Served::End(EndKind::Detach);
            }
        }
    }

    fn change_breakpoint(&mut self, vaddr: u64, change: BreakpointChange) -> Reply {
        if self.layout.slot(vaddr).is_none() {
            return Reply::Refused;
        }
        match change {
            BreakpointChange::Insert => self.breakpoints.insert(vaddr),
            BreakpointChange::Remove => self.breakpoints.remove(&vaddr),
        };
        Reply::Done
    }
}

impl StepHook for Session {
    fn before_instruction(
        &mut self,
        state: StepState<'_>,
        memory: &mut MemoryMapping<'_>,
    ) -> StepControl {
        let address = self.layout.address(state.pc);
        self.last = Snapshot {
            gpr: *state.registers,
            pc: address,
            remaining: state.remaining,
        };
        match self.mode {
            Mode::Detached => return StepControl::Continue,
            Mode::Killed => return StepControl::Stop,
            Mode::Initial | Mode::Running(_) => {}
        }
        let event = self.stop_event(address);
        if event.is_none() && self.mode != Mode::Initial {
            return StepControl::Continue;
        }
        if let Some(event) = event {
            if self.events.send(event).is_err() {
                self.mode = Mode::Detached;
                return StepControl::Continue;
            }
        }
        let served = self.serve(state.registers, address, state.remaining, memory);
        self.last.gpr = *state.registers;
        match served {
            Served::Resume(mode) => {
                self.mode = Mode::Running(mode);
                StepControl::Continue
            }
            Served::End(EndKind::Detach) => {
                self.mode = Mode::Detached;
                StepControl::Continue
            }
            Served::End(EndKind::Kill) => {
                self.mode = Mode::Killed;
                StepControl::Stop
            }
        }
    }
}

/// How the session ends when the client ends it.
fn end_of(kind: EndKind) -> SessionEnd {
    match kind {
        EndKind::Detach => SessionEnd::Detached,
        EndKind::Kill => SessionEnd::Killed,
    }
}

/// Writes register `regnum`: r0 to r10 take any value; the pc and the remaining budget are
/// read-only (`fixed` holds their values), so only writing the same value succeeds.
fn write_register(gpr: &mut [u64; 11], regnum: usize, value: u64, fixed: [u64; 2]) -> Reply {
    if let Some(register) = gpr.get_mut(regnum) {
        *register = value;
        return Reply::Done;
    }
    let index = regnum.wrapping_sub(gpr.len());
    match fixed.get(index) {
        Some(current) if *current == value => Reply::Done,
        Some(_) | None => Reply::Refused,
    }
}

/// Reads as many bytes from `vaddr` as are mapped, up to `len`: the whole range when it is
/// mapped, otherwise byte by byte up to the first unmapped one.
fn read_prefix(memory: &MemoryMapping<'_>, vaddr: u64, len: usize) -> Vec<u8> {
    if let Ok(bytes) = memory.read_bytes(vaddr, len as u64) {
        return bytes;
    }
    let mut bytes = Vec::new();
    for offset in 0..len as u64 {
        let Some(address) = vaddr.checked_add(offset) else {
            break;
        };
        match memory.read_bytes(address, 1) {
            Ok(byte) => bytes.extend_from_slice(&byte),
            Err(_) => break,
        }
    }
    bytes
}

/// The signal a run error is reported with, as a POSIX program would get it.
pub fn signal_for(error: &RuntimeError) -> Signal {
    match error {
        RuntimeError::DivideByZero { .. } | RuntimeError::DivideOverflow { .. } => Signal::SIGFPE,
        RuntimeError::AccessViolation { .. }
        | RuntimeError::StackAccessViolation { .. }
        | RuntimeError::CallDepthExceeded { .. }
        | RuntimeError::CallOutsideTextSegment { .. }
        | RuntimeError::InvalidMemoryRegion { .. } => Signal::SIGSEGV,
        RuntimeError::ExecutionOverrun { .. }
        | RuntimeError::InvalidInstruction { .. }
        | RuntimeError::UnsupportedInstruction { .. } => Signal::SIGILL,
        RuntimeError::ExceededMaxInstructions { .. } => Signal::SIGXCPU,
        RuntimeError::UserError { .. }
        | RuntimeError::SyscallError { .. }
        | RuntimeError::JitNotCompiled
        | RuntimeError::JitFailure { .. } => Signal::SIGABRT,
    }
}
