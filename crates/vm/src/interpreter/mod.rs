//! The interpreter backend: a pre-decoded program ([`Code`]) and the loop that runs it.
//!
//! [`Code::compile`] runs once per program (the verifier calls it): it lowers every slot to
//! a 16-byte [`Op`](op::Op) with absolute jump targets, merged `lddw`, calls resolved against
//! the registries (fixed at load time) and the dialect's rules baked in ([`compile`]). The
//! executor ([`exec`]) then runs one flat `match` per instruction over a `[u64; 16]`
//! register file indexed by masked nibbles, with no allocation per step. The meter's rules
//! live in [`meter`], the arithmetic in [`alu`], compares in [`branch`].
//!
//! **Architecture invariant:** the interpreter is the executable specification of both
//! dialects (spec README §2); the JIT is checked against it, never the other way round.

mod alu;
mod branch;
mod calls;
mod compile;
pub(crate) mod exec;
pub(crate) mod meter;
pub mod op;

use crate::program::Executable;
use bpfvm_isa::{Insn, Slot};
use compile::Lowering;
use op::Op;

/// The interpreter's pre-decoded form of a program.
#[derive(Debug, Default)]
pub struct Code {
    /// One op per slot, plus the overrun sentinel at index `slot_count`.
    ops: Vec<Op>,
    /// Registered syscall keys, sorted; `Op::Syscall { index }` indexes this.
    syscall_keys: Vec<u32>,
    /// The index of the unwind helper in `syscall_keys`, if one is set.
    unwind_index: Option<u32>,
    /// Per slot: whether a function is registered under the slot's pc (the static-syscalls
    /// `callx` check).
    callable: Vec<bool>,
    text_vaddr: u64,
    entry_pc: usize,
}

impl Code {
    /// Pre-decodes a verified program: `decoded` has one entry per slot of the text.
    pub fn compile<C>(executable: &Executable<C>, decoded: &[Option<Insn>]) -> Code {
        let config = executable.config();
        let slots = Slot::slots_of(executable.text());
        let registry = &executable.loader().syscalls;
        let syscall_keys: Vec<u32> = registry.iter().map(|(key, _)| key).collect();
        let functions = executable.functions();
        let function_pc = |key: u32| functions.get(key).map(|function| function.pc);
        let lowering = Lowering {
            dialect: executable.dialect(),
            dynamic_stack_frames: config.dynamic_stack_frames,
            static_syscalls: config.static_syscalls,
            slot_count: decoded.len(),
            syscall_keys: &syscall_keys,
            function_pc: &function_pc,
        };
        let mut ops: Vec<Op> = decoded
            .iter()
            .zip(slots.iter())
            .enumerate()
            .map(|(pc, (insn, slot))| lowering.lower(pc, *insn, *slot))
            .collect();
        ops.push(Op::Overrun);
        let callable = (0..decoded.len())
            .map(|pc| u32::try_from(pc).is_ok_and(|key| functions.get(key).is_some()))
            .collect();
        let unwind_index = registry
            .unwind_key()
            .and_then(|key| syscall_keys.binary_search(&key).ok())
            .and_then(|index| u32::try_from(index).ok());
        Code {
            ops,
            syscall_keys,
            unwind_index,
            callable,
            text_vaddr: executable.text_vaddr(),
            entry_pc: executable.entry_pc(),
        }
    }

    /// The number of slots.
    pub fn slot_count(&self) -> usize {
        self.ops.len().saturating_sub(1)
    }

    /// The ops, one per slot, followed by the overrun sentinel.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The slot execution starts at.
    pub fn entry_pc(&self) -> usize {
        self.entry_pc
    }

    /// The registered syscall keys in the order `Op::Syscall` indexes them.
    pub fn syscall_keys(&self) -> &[u32] {
        &self.syscall_keys
    }
}
