//! bpfvm-debugger: a GDB remote-serial-protocol server over the bpfvm interpreter.
//!
//! [`Server::bind`] listens on 127.0.0.1 (never another interface); [`Server::serve`] waits
//! for one client, then runs the program in the interpreter under the client's control and
//! returns the run with how the session ended.
//!
//! Two threads share the work. The calling thread runs the VM: the interpreter calls the
//! session's step hook before every instruction, and the hook blocks whenever the VM is
//! stopped, answering the client's requests from the live registers and memory. A protocol
//! thread owns the connection and gdbstub's packet handling; its gdbstub target forwards
//! every operation to the VM thread over channels ([`link`]). The VM never leaves the
//! calling thread, and nothing on the execution path depends on the protocol thread's
//! timing: the run is the same as without a debugger unless the client changes registers or
//! memory.
//!
//! **The pc convention.** Every program counter the client sees (the `pc` register,
//! breakpoint addresses, stop addresses) is the *guest address* of the instruction: the text's
//! guest address plus eight times the slot number ([`CodeLayout::address`]). Those addresses
//! are mapped, so reading memory at the pc shows the instruction's bytes. (The reference
//! showed slot × 8 plus the text's file offset, which is not an address the program can see.)
//! Memory addresses are guest addresses too, read and written through the VM's mapping.
//!
//! Supported: `g`/`G`, `p`/`P` (register 12 is the remaining instruction budget,
//! read-only, as is the pc), `m`/`M`, `Z0`/`z0`, `c`, `s`, Ctrl-C, `?`, `D`, `k`/`vKill`,
//! `qXfer:features:read:target.xml`, LLDB's `qRegisterInfo`. See the README.

pub mod arch;
pub mod link;
pub mod session;
pub mod target;

use crate::link::EndKind;
use crate::session::Session;
use crate::target::{Proxy, ProxyLoop};
use bpfvm::{ContextObject, Executable, Run, Vm};
use gdbstub::stub::{DisconnectReason, GdbStub};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

pub use gdbstub::common::Signal;

/// Where a program's instructions are in guest memory: the pc convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeLayout {
    /// The guest address of slot 0.
    pub text_vaddr: u64,
    /// The number of slots in the text.
    pub slots: usize,
    /// The entry slot.
    pub entry_pc: usize,
}

impl CodeLayout {
    /// The layout of a loaded program.
    pub fn of<C>(executable: &Executable<C>) -> Self {
        CodeLayout {
            text_vaddr: executable.text_vaddr(),
            slots: executable.text().len() / bpfvm_isa::SLOT_SIZE,
            entry_pc: executable.entry_pc(),
        }
    }

    /// The guest address of slot `pc` (what the client sees as the pc).
    pub fn address(&self, pc: usize) -> u64 {
        self.text_vaddr
            .wrapping_add((pc as u64).wrapping_mul(bpfvm_isa::SLOT_SIZE as u64))
    }

    /// The slot at guest address `vaddr`, if it is the start of a slot in the text.
    pub fn slot(&self, vaddr: u64) -> Option<usize> {
        let offset = vaddr.checked_sub(self.text_vaddr)?;
        let size = bpfvm_isa::SLOT_SIZE as u64;
        let slot = usize::try_from(offset / size).ok()?;
        (offset % size == 0 && slot < self.slots).then_some(slot)
    }
}

/// How a debugging session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// The program returned; the client got `W` with this low byte of r0.
    Exited(u8),
    /// The run raised an error, the client saw it as a stop with this signal, and resumed:
    /// it got `X` with the signal.
    Terminated(Signal),
    /// The client killed the program; the run stopped where it was.
    Killed,
    /// The client detached (or the connection was lost): the program ran on to its end.
    Detached,
}

/// What a session gives back.
#[derive(Debug)]
pub struct Debugged {
    /// The run, as [`Vm::run`] reports it. A killed run ends with the error the step hook's
    /// `Stop` gives (`UserError`, "stopped by the debugger").
    pub run: Run,
    /// How the session ended.
    pub end: SessionEnd,
    /// A protocol failure that ended the session early (a malformed packet, a lost
    /// connection), as text.
    pub protocol_error: Option<String>,
}

/// Why a session could not take place.
#[derive(Debug)]
pub enum DebugError {
    /// Accepting the client's connection failed.
    Accept {
        /// The underlying error.
        source: std::io::Error,
    },
    /// The protocol thread could not be started.
    Spawn {
        /// The underlying error.
        source: std::io::Error,
    },
}

impl std::fmt::Display for DebugError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DebugError::Accept { source } => write!(f, "cannot accept a debugger: {source}"),
            DebugError::Spawn { source } => write!(f, "cannot start the protocol thread: {source}"),
        }
    }
}

impl std::error::Error for DebugError {}

/// A listening socket on 127.0.0.1, waiting for one debugger.
pub struct Server {
    listener: TcpListener,
}

impl Server {
    /// Listens on 127.0.0.1:`port` (0 picks a free port; see [`Server::port`]).
    pub fn bind(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
        Ok(Server { listener })
    }

    /// The port listened on.
    pub fn port(&self) -> std::io::Result<u16> {
        Ok(self.listener.local_addr()?.port())
    }

    /// Waits for a client, then runs `vm` under its control until the session ends.
    pub fn serve<C: ContextObject>(
        self,
        vm: &mut Vm<'_, C>,
        layout: CodeLayout,
    ) -> Result<Debugged, DebugError> {
        let (connection, _) = self
            .listener
            .accept()
            .map_err(|source| DebugError::Accept { source })?;
        let (request_tx, request_rx) = mpsc::channel();
        let (reply_tx, reply_rx) = mpsc::channel();
        let (event_tx, event_rx) = mpsc::channel();
        let interrupt = Arc::new(AtomicBool::new(false));
        let proxy = Proxy::new(request_tx, reply_rx, event_rx, Arc::clone(&interrupt));
        let protocol = std::thread::Builder::new()
            .name("gdb-rsp".to_owned())
            .spawn(move || speak(connection, proxy))
            .map_err(|source| DebugError::Spawn { source })?;
        let mut session = Session::new(request_rx, reply_tx, event_tx, interrupt, layout);
        let run = vm.run_with_hook(&mut session);
        let end = session.finish(&run.result, vm.mapping_mut());
        // Dropping the session closes the link, so a protocol thread still waiting ends.
        drop(session);
        let protocol_error = join(protocol);
        Ok(Debugged {
            run,
            end,
            protocol_error,
        })
    }
}

/// The protocol thread: gdbstub over the connection until the session ends. Returns the
/// protocol failure, if one ended it.
fn speak(connection: TcpStream, mut proxy: Proxy) -> Option<String> {
    let stub = GdbStub::new(connection);
    match stub.run_blocking::<ProxyLoop>(&mut proxy) {
        Ok(DisconnectReason::Kill) => {
            proxy.end(EndKind::Kill);
            None
        }
        Ok(DisconnectReason::Disconnect) => {
            proxy.end(EndKind::Detach);
            None
        }
        Ok(DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_)) => None,
        Err(error) => {
            proxy.end(EndKind::Detach);
            Some(error.to_string())
        }
    }
}

fn join(protocol: JoinHandle<Option<String>>) -> Option<String> {
    match protocol.join() {
        Ok(error) => error,
        Err(_) => Some("the protocol thread panicked".to_owned()),
    }
}
