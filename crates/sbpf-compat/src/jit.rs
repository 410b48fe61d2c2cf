//! The JIT's public limits (solana-sbpf 0.26's `jit` module). Compilation itself is
//! `Executable::jit_compile`, which runs bpfvm's x86-64 JIT; [`JitCompiler`] is the API's
//! handle for builtin code generators, which bpfvm never calls (see
//! [`crate::program::JitCompiler`]).

pub use crate::program::JitCompiler;

/// The most machine code a program without instructions may take, in bytes.
pub const MAX_EMPTY_PROGRAM_MACHINE_CODE_LENGTH: usize = 4096;
/// The most machine code one instruction may take, in bytes.
pub const MAX_MACHINE_CODE_LENGTH_PER_INSTRUCTION: usize = 110;
/// The most machine code one meter checkpoint may take, in bytes.
pub const MACHINE_CODE_PER_INSTRUCTION_METER_CHECKPOINT: usize = 24;
/// The most random padding before a program's code, in bytes.
pub const MAX_START_PADDING_LENGTH: usize = 256;
