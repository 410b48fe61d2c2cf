//! What a run shares between the backends: the meter and its rules ([`meter`]), the call
//! frames, the settings, and the syscall path ([`syscall`]). Both backends follow these
//! rules: the interpreter directly, the JIT through its shims and by handing runs to the
//! interpreter. Nothing here belongs to one backend.

pub(crate) mod meter;
pub(crate) mod syscall;

pub(crate) use meter::{Meter, Metering};

use crate::memory::FrameMode;

/// What a call saves: r6-r9, r10 and where to return.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Frame {
    /// r6..r9 of the caller.
    pub saved: [u64; 4],
    /// r10 of the caller.
    pub frame_pointer: u64,
    /// The slot the matching `exit` returns to.
    pub return_pc: usize,
}

/// Whether `ContextObject::trace` is called before every instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tracing {
    /// Trace every instruction (the run takes exact steps).
    On,
    /// No tracing.
    Off,
}

/// The configuration a run consults (made once per program: `VerifiedProgram::settings`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// How calls move the stack.
    pub frames: FrameMode,
    /// Reaching this call depth is `CallDepthExceeded`.
    pub max_call_depth: usize,
    /// With static syscalls, `callx` may only land on registered functions.
    pub static_syscalls: bool,
    /// Whether every instruction is traced.
    pub tracing: Tracing,
}

impl Settings {
    /// How runs of `program` behave: frames, call depth, `callx` rule, tracing.
    pub(crate) fn of<C>(program: &crate::VerifiedProgram<C>) -> Settings {
        let config = program.config();
        Settings {
            frames: program.layout().stack.frame_mode(),
            max_call_depth: config.max_call_depth,
            static_syscalls: program.code().callx_needs_function(),
            tracing: match config.enable_instruction_tracing {
                true => Tracing::On,
                false => Tracing::Off,
            },
        }
    }
}
