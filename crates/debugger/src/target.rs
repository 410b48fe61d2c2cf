//! The protocol thread's view of the VM: a gdbstub [`Target`] that forwards every operation
//! over the link to the VM thread, and the blocking event loop that waits for either the
//! client's next byte or the VM's next stop.
//!
//! Nothing here touches guest memory or registers directly; it only translates between
//! gdbstub's calls and the link's messages. A VM that has gone away is the one fatal error.

use crate::arch::{le_u64, Bpf, BpfRegId, BpfRegisters, PC_REGNUM, REMAINING_REGNUM};
use crate::link::{BreakpointChange, EndKind, Event, Reply, Request, ResumeMode, Snapshot};
use gdbstub::common::Signal;
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event as LoopEvent, WaitForStopReasonError};
use gdbstub::stub::SingleThreadStopReason;
use gdbstub::target::ext::base::single_register_access::{
    SingleRegisterAccess, SingleRegisterAccessOps,
};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, SwBreakpoint, SwBreakpointOps,
};
use gdbstub::target::{Target, TargetError, TargetResult};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

/// How often the event loop looks at the connection while the VM runs.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// The GDB error number sent for an address that cannot be read or written (EFAULT).
const EFAULT: u8 = 14;

/// The only fatal error: the VM thread stopped answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmGone;

impl std::fmt::Display for VmGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the VM stopped answering")
    }
}

/// The gdbstub target that forwards to the VM thread.
pub struct Proxy {
    requests: Sender<Request>,
    replies: Receiver<Reply>,
    events: Receiver<Event>,
    interrupt: Arc<AtomicBool>,
}

impl Proxy {
    /// A proxy over the given link ends.
    pub fn new(
        requests: Sender<Request>,
        replies: Receiver<Reply>,
        events: Receiver<Event>,
        interrupt: Arc<AtomicBool>,
    ) -> Self {
        Proxy {
            requests,
            replies,
            events,
            interrupt,
        }
    }

    /// Tells the VM that the session is over. A VM that has already gone is fine.
    pub fn end(&self, kind: EndKind) {
        let _ = self.requests.send(Request::End(kind));
    }

    fn ask(&mut self, request: Request) -> Result<Reply, TargetError<VmGone>> {
        self.requests
            .send(request)
            .map_err(|_| TargetError::Fatal(VmGone))?;
        self.replies.recv().map_err(|_| TargetError::Fatal(VmGone))
    }

    fn snapshot(&mut self) -> Result<Snapshot, TargetError<VmGone>> {
        match self.ask(Request::ReadRegisters)? {
            Reply::Registers(snapshot) => Ok(snapshot),
            Reply::Memory(_) | Reply::Done | Reply::Refused => Err(TargetError::NonFatal),
        }
    }

    fn command(&mut self, request: Request) -> Result<(), TargetError<VmGone>> {
        match self.ask(request)? {
            Reply::Done => Ok(()),
            Reply::Registers(_) | Reply::Memory(_) | Reply::Refused => {
                Err(TargetError::Errno(EFAULT))
            }
        }
    }

    fn resume_with(&mut self, mode: ResumeMode) -> Result<(), VmGone> {
        // Cleared before the VM runs, so an interrupt that arrives while it runs is kept.
        self.interrupt.store(false, Ordering::SeqCst);
        self.requests
            .send(Request::Resume(mode))
            .map_err(|_| VmGone)
    }

    fn breakpoint(&mut self, vaddr: u64, change: BreakpointChange) -> TargetResult<bool, Self> {
        match self.ask(Request::Breakpoint { vaddr, change })? {
            Reply::Done => Ok(true),
            Reply::Registers(_) | Reply::Memory(_) | Reply::Refused => Ok(false),
        }
    }
}

impl Target for Proxy {
    type Arch = Bpf;
    type Error = VmGone;

    fn base_ops(&mut self) -> BaseOps<'_, Bpf, VmGone> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    // Breakpoints are native (checked before every instruction), never written into memory.
    fn guard_rail_implicit_sw_breakpoints(&self) -> bool {
        true
    }
}

impl SingleThreadBase for Proxy {
    fn read_registers(&mut self, regs: &mut BpfRegisters) -> TargetResult<(), Self> {
        let snapshot = self.snapshot()?;
        regs.gpr = snapshot.gpr;
        regs.pc = snapshot.pc;
        Ok(())
    }

    fn write_registers(&mut self, regs: &BpfRegisters) -> TargetResult<(), Self> {
        self.command(Request::WriteRegisters {
            gpr: regs.gpr,
            pc: regs.pc,
        })
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, (), Self>> {
        Some(self)
    }

    fn read_addrs(&mut self, start_addr: u64, data: &mut [u8]) -> TargetResult<usize, Self> {
        let request = Request::ReadMemory {
            vaddr: start_addr,
            len: data.len(),
        };
        match self.ask(request)? {
            Reply::Memory(bytes) if !bytes.is_empty() => {
                let len = bytes.len().min(data.len());
                data.get_mut(..len)
                    .ok_or(TargetError::NonFatal)?
                    .copy_from_slice(bytes.get(..len).ok_or(TargetError::NonFatal)?);
                Ok(len)
            }
            Reply::Memory(_) | Reply::Registers(_) | Reply::Done | Reply::Refused => {
                Err(TargetError::Errno(EFAULT))
            }
        }
    }

    fn write_addrs(&mut self, start_addr: u64, data: &[u8]) -> TargetResult<(), Self> {
        self.command(Request::WriteMemory {
            vaddr: start_addr,
            bytes: data.to_vec(),
        })
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleRegisterAccess<()> for Proxy {
    fn read_register(
        &mut self,
        _tid: (),
        reg_id: BpfRegId,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let snapshot = self.snapshot()?;
        let value = match reg_id {
            BpfRegId::Gpr(index) => *snapshot
                .gpr
                .get(usize::from(index))
                .ok_or(TargetError::NonFatal)?,
            BpfRegId::Pc => snapshot.pc,
            BpfRegId::Remaining => snapshot.remaining,
        };
        let bytes = value.to_le_bytes();
        buf.get_mut(..bytes.len())
            .ok_or(TargetError::NonFatal)?
            .copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    fn write_register(&mut self, _tid: (), reg_id: BpfRegId, val: &[u8]) -> TargetResult<(), Self> {
        let value = le_u64(val).ok_or(TargetError::NonFatal)?;
        let regnum = match reg_id {
            BpfRegId::Gpr(index) => usize::from(index),
            BpfRegId::Pc => PC_REGNUM,
            BpfRegId::Remaining => REMAINING_REGNUM,
        };
        self.command(Request::WriteRegister { regnum, value })
    }
}

impl SingleThreadResume for Proxy {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), VmGone> {
        self.resume_with(ResumeMode::Continue)
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for Proxy {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), VmGone> {
        self.resume_with(ResumeMode::Step)
    }
}

impl Breakpoints for Proxy {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for Proxy {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.breakpoint(addr, BreakpointChange::Insert)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.breakpoint(addr, BreakpointChange::Remove)
    }
}

/// The stop reason gdbstub reports for a VM event.
fn stop_reason(event: Event) -> SingleThreadStopReason<u64> {
    match event {
        Event::DoneStep => SingleThreadStopReason::DoneStep,
        Event::Breakpoint => SingleThreadStopReason::SwBreak(()),
        Event::Interrupted => SingleThreadStopReason::Signal(Signal::SIGINT),
        Event::Faulted(signal) => SingleThreadStopReason::Signal(signal),
        Event::Exited(code) => SingleThreadStopReason::Exited(code),
        Event::Terminated(signal) => SingleThreadStopReason::Terminated(signal),
    }
}

/// The event loop: while the VM runs, wait for its next event or the client's next byte.
pub enum ProxyLoop {}

/// What waiting can fail with.
type WaitError = WaitForStopReasonError<VmGone, std::io::Error>;

impl BlockingEventLoop for ProxyLoop {
    type Target = Proxy;
    type Connection = TcpStream;
    type StopReason = SingleThreadStopReason<u64>;

    fn wait_for_stop_reason(
        target: &mut Proxy,
        conn: &mut TcpStream,
    ) -> Result<LoopEvent<Self::StopReason>, WaitError> {
        loop {
            let incoming = ConnectionExt::peek(conn).map_err(WaitForStopReasonError::Connection)?;
            if incoming.is_some() {
                let byte = ConnectionExt::read(conn).map_err(WaitForStopReasonError::Connection)?;
                return Ok(LoopEvent::IncomingData(byte));
            }
            match target.events.recv_timeout(POLL_INTERVAL) {
                Ok(event) => return Ok(LoopEvent::TargetStopped(stop_reason(event))),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(WaitForStopReasonError::Target(VmGone))
                }
            }
        }
    }

    /// Asks the VM to stop; it reports `Interrupted` before its next instruction.
    fn on_interrupt(target: &mut Proxy) -> Result<Option<Self::StopReason>, VmGone> {
        target.interrupt.store(true, Ordering::SeqCst);
        Ok(None)
    }
}
