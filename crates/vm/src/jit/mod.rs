//! The x86-64 JIT backend: compiles a verified program's pre-decoded ops to machine code
//! that gives exactly the interpreter's results.
//!
//! # Design
//!
//! - **Lowering** ([`lower`]): one function per kind of the interpreter's [`Op`], matched
//!   exhaustively, over a BPF-level macro-assembler ([`masm`]) over the typed encoder of
//!   `bpfvm-x86`. One pass; labels and fixups resolve jumps and calls.
//! - **Registers**: all eleven guest registers stay pinned in host registers (table in
//!   [`masm`]); r15 points at the run's [`env::Env`].
//! - **Exactness by bail-out.** Every edge case is handed to the interpreter, which is the
//!   specification: generated code jumps to a *bail-out* stub with the guest state exactly as
//!   before the instruction at `pc` (registers, memory, call depth and frames, stack pointer,
//!   meter), and the run continues in the interpreter from `pc` to its end. Bail-outs cover
//!   every error that is not a syscall's (memory faults, division by zero, call depth,
//!   call targets, traps, overrun) and the rare results (eBPF division by zero or by -1,
//!   eBPF `callx`), so every error kind and field, the instruction count and the memory
//!   are the interpreter's by construction. They cost nothing on the fast path.
//! - **Meter**: charged per basic block. At a block entry of `n` instructions the code
//!   subtracts `n` from `Env::left` (= `base - due`); unless the budget covers every check
//!   inside the block (`left > n`), it restores `left` and bails out at the block's first
//!   instruction, so the interpreter runs the last few instructions and stops at the exact
//!   pc. A bail-out inside a block refunds what the block charged for instructions not yet
//!   run. After a syscall (which ends its block) the check is done inline
//!   (`ExceededMaxInstructions` at pc + 1 when the syscall left no budget). With metering
//!   off no meter code is emitted.
//! - **Memory**: with the aligned mapping, translation is inline (region = vaddr >> 32, a
//!   table row {host, vm start, load length, store length}, bounds and permission checks).
//!   With fixed frames and gaps, an access based on r10 that misses the plain row check tries
//!   the gapped-stack translation out of line (the gap size is a compile-time constant,
//!   checked against the row). Anything else that misses (read-only store, out of bounds,
//!   other gapped accesses) calls one shared routine that asks the mapping through an
//!   `extern "sysv64"` shim, which returns the host address or 0 for a fault, which bails
//!   out. The unaligned mapping always calls the routine.
//! - **Calls** use real x86 `call`/`ret` (the return-stack buffer stays balanced) and record
//!   r6-r9, r10 and the return pc in `Env::frames` exactly like the interpreter's frames, so
//!   a bail-out at any depth hands over a faithful call stack. Call depths above
//!   [`lower::MAX_INLINE_CALL_DEPTH`] always bail out (the host stack is bounded).
//! - **Syscalls** go through a shim that charges the meter, calls the host function with
//!   `(&mut C, &mut MemoryMapping, [r1..r5])`, stores r0, handles the unwind key and
//!   refreshes the region table (a syscall may replace regions).
//! - **Tracing**: with `enable_instruction_tracing` the run is delegated to the interpreter
//!   from its first instruction (the same state a bail-out at the entry hands over), so the
//!   trace is the interpreter's.
//! - **Hardening** (machine code only, never behaviour): about one random 1-byte `nop` per
//!   `noop_instruction_rate` BPF instructions, and with `sanitize_user_provided_values`
//!   constant blinding of program-supplied immediates that are not small (mov/lddw
//!   constants, ALU, multiply and divide immediates, branch immediates): the value is
//!   emitted as `value - key` plus an add of a fresh random key. Memory offsets and the value
//!   of `st` are emitted in the clear (the reference does not blind the latter either). The
//!   generator is seeded per compile; `runtime_environment_key` only feeds that seed (the
//!   `Env` is not displaced).
//!
//! - **Compile speed**: the sequences that recur per memory access (inline translation, its
//!   out-of-line slow path, the gapped-path call), the meter charge at block entries and the
//!   bail-out stubs are encoded once per compile by the typed encoder and then replayed with
//!   patched offsets and labels ([`template`]), byte for byte the same code. Labels queue
//!   their fixups in one shared arena, and the buffers are pre-sized from the slot count.
//!
//! `unsafe` lives only in [`entry`] (calling generated code and the shims it calls back).

mod calls;
mod entry;
pub(crate) mod env;
mod lower;
pub(crate) mod masm;
pub(crate) mod run;
mod shapes;
mod template;

use crate::config::Config;
use crate::context::ContextObject;
use crate::interpreter::exec::FrameMode;
use crate::interpreter::op::Op;
use crate::interpreter::Code;
use bpfvm_x86::{CodeMemoryError, CodePool, EncodeError, ExecutableCode};
use lower::{At, Program};
use masm::{Hardening, Masm, MeterMode, Translation};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Why a program could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JitError {
    /// The encoder rejected an instruction (a bug in the lowering).
    Encode {
        /// The encoder's message.
        message: String,
    },
    /// Code memory could not be allocated or protected.
    CodeMemory {
        /// The system's message.
        message: String,
    },
    /// A register number the verifier should have rejected.
    UnsupportedRegister {
        /// The instruction.
        pc: usize,
        /// The register number.
        reg: u8,
    },
    /// The program has more slots than generated code can address.
    ProgramTooLarge {
        /// The slot count (or the offending pc).
        slots: usize,
    },
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::Encode { message } => write!(f, "x86 encoding failed: {message}"),
            JitError::CodeMemory { message } => write!(f, "code memory: {message}"),
            JitError::UnsupportedRegister { pc, reg } => {
                write!(f, "unsupported register r{reg} at pc {pc}")
            }
            JitError::ProgramTooLarge { slots } => {
                write!(f, "program too large for the JIT ({slots} slots)")
            }
        }
    }
}

impl std::error::Error for JitError {}

impl From<EncodeError> for JitError {
    fn from(error: EncodeError) -> Self {
        JitError::Encode {
            message: error.to_string(),
        }
    }
}

impl From<CodeMemoryError> for JitError {
    fn from(error: CodeMemoryError) -> Self {
        JitError::CodeMemory {
            message: error.to_string(),
        }
    }
}

/// A compiled program: read-execute machine code and where each slot's code starts.
#[derive(Debug)]
pub struct JitProgram {
    code: ExecutableCode,
    pc_offsets: Vec<Option<usize>>,
    /// Where the code of the last instruction ends (the out-of-line stubs follow).
    body_end: usize,
}

impl JitProgram {
    /// The machine code (for disassembly).
    pub fn code(&self) -> &[u8] {
        self.code.as_slice()
    }

    /// Per slot: the offset in [`JitProgram::code`] where its machine code starts (`None`
    /// for the second slot of an `lddw`).
    pub fn pc_offsets(&self) -> &[Option<usize>] {
        &self.pc_offsets
    }

    /// The machine code of the instruction at slot `pc` (its inline part; out-of-line stubs
    /// are not included), for `bpfvm disasm --jit`. `None` for the second slot of an `lddw`
    /// or a pc out of range.
    pub fn slot_code(&self, pc: usize) -> Option<&[u8]> {
        let start = (*self.pc_offsets.get(pc)?)?;
        let end = self
            .pc_offsets
            .iter()
            .skip(pc + 1)
            .find_map(|offset| *offset)
            .unwrap_or(self.body_end);
        self.code().get(start..end)
    }

    pub(crate) fn executable(&self) -> &ExecutableCode {
        &self.code
    }
}

/// The process-wide pool code memory comes from.
fn pool() -> &'static CodePool {
    static POOL: OnceLock<CodePool> = OnceLock::new();
    POOL.get_or_init(CodePool::new)
}

/// A seed for the hardening generator that differs from compile to compile (a process-wide
/// counter mixed with the program size and the environment key, splitmix64-style). It only
/// ever changes machine code.
fn compile_seed(slots: usize, key: i32) -> u64 {
    static COMPILES: AtomicU64 = AtomicU64::new(0);
    let count = COMPILES.fetch_add(1, Ordering::Relaxed);
    let mut z = count
        .wrapping_add(slots as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(key as u32);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 1
}

/// The jump target of a branch op.
fn jump_target(op: &Op) -> Option<usize> {
    match *op {
        Op::Ja { target }
        | Op::JeqImm { target, .. }
        | Op::JeqReg { target, .. }
        | Op::JneImm { target, .. }
        | Op::JneReg { target, .. }
        | Op::JgtImm { target, .. }
        | Op::JgtReg { target, .. }
        | Op::JgeImm { target, .. }
        | Op::JgeReg { target, .. }
        | Op::JltImm { target, .. }
        | Op::JltReg { target, .. }
        | Op::JleImm { target, .. }
        | Op::JleReg { target, .. }
        | Op::JsetImm { target, .. }
        | Op::JsetReg { target, .. }
        | Op::JsgtImm { target, .. }
        | Op::JsgtReg { target, .. }
        | Op::JsgeImm { target, .. }
        | Op::JsgeReg { target, .. }
        | Op::JsltImm { target, .. }
        | Op::JsltReg { target, .. }
        | Op::JsleImm { target, .. }
        | Op::JsleReg { target, .. }
        | Op::Branch32 { target, .. } => Some(target as usize),
        Op::Call { target } => Some(target),
        _ => None,
    }
}

/// Instruction starts (walking by width from slot 0) and block leaders.
struct Blocks {
    starts: Vec<bool>,
    leaders: Vec<bool>,
}

fn find_blocks(code: &Code) -> Blocks {
    let ops = code.ops();
    let slots = code.slot_count();
    let mut starts = vec![false; slots + 1];
    let mut leaders = vec![false; slots + 1];
    let mark = |leaders: &mut Vec<bool>, pc: usize| {
        if let Some(flag) = leaders.get_mut(pc) {
            *flag = true;
        }
    };
    mark(&mut leaders, 0);
    mark(&mut leaders, code.entry_pc());
    mark(&mut leaders, slots);
    let mut pc = 0;
    while pc < slots {
        let Some(op) = ops.get(pc) else { break };
        if let Some(flag) = starts.get_mut(pc) {
            *flag = true;
        }
        if let Some(target) = jump_target(op) {
            mark(&mut leaders, target);
        }
        if op.ends_run() {
            mark(&mut leaders, pc + op.width());
        }
        if code.is_callable(pc) {
            mark(&mut leaders, pc);
        }
        pc += op.width();
    }
    for pc in 0..slots {
        if code.is_callable(pc) {
            mark(&mut leaders, pc);
        }
    }
    Blocks { starts, leaders }
}

/// The number of instructions of the block starting at `leader`.
fn block_len(code: &Code, blocks: &Blocks, leader: usize) -> u64 {
    let ops = code.ops();
    let mut count = 0;
    let mut pc = leader;
    while let Some(op) = ops.get(pc) {
        if pc >= code.slot_count() || (pc != leader && blocks.leaders.get(pc) == Some(&true)) {
            break;
        }
        count += 1;
        if op.ends_run() {
            break;
        }
        pc += op.width();
    }
    count
}

/// Compiles `code` (the interpreter's form of a program loaded with `config`).
pub(crate) fn compile<C: ContextObject>(
    code: &Code,
    config: &Config,
) -> Result<JitProgram, JitError> {
    let slots = code.slot_count();
    if i32::try_from(slots).is_err() {
        return Err(JitError::ProgramTooLarge { slots });
    }
    let meter = match config.enable_instruction_meter {
        true => MeterMode::On,
        false => MeterMode::Off,
    };
    let translation = match config.aligned_memory_mapping {
        true => Translation::InlineTable,
        false => Translation::Call,
    };
    let hardening = Hardening {
        noop_rate: config.noop_instruction_rate,
        blind: config.sanitize_user_provided_values,
        seed: compile_seed(slots, config.runtime_environment_key),
    };
    let mut m = Masm::new(
        slots,
        meter,
        translation,
        hardening,
        entry::translate_shim as *const () as usize as u64,
    );
    if !config.dynamic_stack_frames && config.enable_stack_frame_gaps {
        let frame = config.stack_frame_size as u64;
        m.gap_shift = (frame > 0).then(|| (63 - frame.leading_zeros()) as u8);
    }
    let code_start = m.asm.new_label();
    let callx_table = m.asm.new_label();
    m.asm.bind(code_start)?;
    let entry_label = m.pc_label(code.entry_pc());
    m.prologue(entry_label)?;
    let ops = code.ops();
    let frames = match config.dynamic_stack_frames {
        true => FrameMode::Dynamic,
        false => {
            let frame = config.stack_frame_size as u64;
            FrameMode::Fixed {
                bump: match config.enable_stack_frame_gaps {
                    true => frame.wrapping_mul(2),
                    false => frame,
                },
            }
        }
    };
    let last_is_call = slots > 0
        && matches!(
            ops.get(slots - 1),
            Some(Op::Call { .. } | Op::CallReg { .. } | Op::CallRegOrHelper { .. })
        );
    let program = Program {
        slot_count: slots,
        frames,
        max_call_depth: config.max_call_depth,
        text_vaddr: code.text_vaddr(),
        syscall_helper: entry::syscall_shim::<C> as *const () as usize as u64,
        call_in_last_slot: last_is_call,
        callx_table,
        code_start,
    };
    let blocks = find_blocks(code);
    let mut pc_offsets = vec![None; slots];
    let mut block = (0u64, 0u64);
    for (pc, op) in ops.iter().enumerate().take(slots) {
        if blocks.starts.get(pc) != Some(&true) {
            continue;
        }
        let label = m.pc_label(pc);
        m.asm.bind(label)?;
        if let Some(offset) = pc_offsets.get_mut(pc) {
            *offset = Some(m.asm.offset());
        }
        if blocks.leaders.get(pc) == Some(&true) {
            let count = block_len(code, &blocks, pc);
            m.block_entry(pc, count)?;
            block = (count, 0);
        }
        let at = At {
            pc,
            refund: block.0.saturating_sub(block.1),
        };
        m.maybe_nop();
        lower::lower(&mut m, &program, *op, at)?;
        block.1 += 1;
    }
    let body_end = m.asm.offset();
    // The overrun slot first (the last instruction may fall through into it), then the
    // slots no fall-through reaches (second halves of lddw).
    for pc in core::iter::once(slots).chain(0..slots) {
        if blocks.starts.get(pc) == Some(&true) {
            continue;
        }
        let label = m.pc_label(pc);
        m.asm.bind(label)?;
        let bail = m.bail(pc, 0);
        m.asm.jmp(bail)?;
    }
    m.finish_stubs()?;
    emit_callx_table(&mut m, code, &blocks, config.static_syscalls, callx_table)?;
    let bytes = m.asm.finish()?;
    let mut writable = pool().allocate(bytes.len())?;
    writable.append(&bytes)?;
    let code = writable.make_executable()?;
    Ok(JitProgram {
        code,
        pc_offsets,
        body_end,
    })
}

/// The `callx` table: per slot, the code offset of the block starting there when `callx`
/// may land on it directly, else 0 (the call then bails out).
fn emit_callx_table(
    m: &mut Masm,
    code: &Code,
    blocks: &Blocks,
    static_syscalls: bool,
    table: bpfvm_x86::Label,
) -> Result<(), JitError> {
    m.asm.align_with_nops(4);
    m.asm.bind(table)?;
    let mut bytes = Vec::with_capacity(code.slot_count() * 4);
    for pc in 0..code.slot_count() {
        let target = blocks.leaders.get(pc) == Some(&true)
            && blocks.starts.get(pc) == Some(&true)
            && (!static_syscalls || code.is_callable(pc));
        let offset = match target {
            true => m.asm.label_offset(m.pc_label(pc)).unwrap_or(0),
            false => 0,
        };
        let offset = u32::try_from(offset).map_err(|_| JitError::ProgramTooLarge { slots: pc })?;
        bytes.extend_from_slice(&offset.to_le_bytes());
    }
    m.asm.data(&bytes);
    Ok(())
}
