//! Splitting a decoded program into basic blocks and linking the CFG edges.
//!
//! Each instruction is first classified by how control leaves it ([`Flow`]); the split
//! points and the edges follow from the flows alone (the rules are in the crate docs). This
//! module never looks at opcode bytes: it matches on [`Insn`] exhaustively.

use crate::{Block, Dominator};
use bpfvm_asm::{SymbolTable, Symbols};
use bpfvm_isa::{Decoded, Dialect, Insn};
use std::collections::{BTreeMap, BTreeSet};

/// The name of the syscall that ends its block like `exit`.
pub(crate) const ABORT: &str = "abort";

/// How control leaves one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// On to the next instruction (also a syscall other than "abort", an unresolved call and
    /// a slot that does not decode).
    Next,
    /// `ja`: to the target only (`None` when the target is not a slot index).
    Jump(Option<usize>),
    /// A conditional jump: to the next instruction or the target.
    Branch(Option<usize>),
    /// A call to the internal function at this pc, returning to the next instruction.
    Call(usize),
    /// `callx`: a call to an unknown function, returning to the next instruction.
    CallIndirect,
    /// `exit`, or a call to the syscall "abort".
    Stop,
}

/// `pc + 1 + off`, when that is a slot index.
fn target(pc: usize, off: i64) -> Option<usize> {
    let target = i128::try_from(pc).ok()? + 1 + i128::from(off);
    usize::try_from(target).ok()
}

/// A call to a syscall (by key): "abort" stops, anything else goes on.
fn syscall_flow(name: &str) -> Flow {
    if name == ABORT {
        Flow::Stop
    } else {
        Flow::Next
    }
}

/// How an sBPF `call imm` resolves: a syscall key first (whatever the source field), then a
/// function key, as the reference's analysis does.
fn sbpf_call(imm: i32, symbols: &SymbolTable) -> Flow {
    let key = imm as u32;
    if let Some(name) = symbols.syscall_name(key) {
        return syscall_flow(name);
    }
    let pc = match symbols.function_keys.get(&key) {
        Some(pc) => Some(*pc),
        None => usize::try_from(key)
            .ok()
            .filter(|pc| symbols.functions.contains_key(pc)),
    };
    pc.map_or(Flow::Next, Flow::Call)
}

/// An eBPF (or SBPF V3/V4) call: src 0 is a helper or syscall by key, src 1 a pc-relative
/// local call.
fn ebpf_call(pc: usize, src: u8, imm: i32, symbols: &SymbolTable) -> Flow {
    match src {
        0 => symbols
            .syscall_name(imm as u32)
            .map_or(Flow::Next, syscall_flow),
        1 => target(pc, i64::from(imm)).map_or(Flow::Next, Flow::Call),
        _ => Flow::Next,
    }
}

/// How control leaves `decoded`.
pub(crate) fn flow(decoded: &Decoded, dialect: Dialect, symbols: &SymbolTable) -> Flow {
    let Ok(insn) = decoded.insn else {
        return Flow::Next;
    };
    let pc = decoded.pc;
    match insn {
        Insn::Ja { off } => Flow::Jump(target(pc, i64::from(off))),
        Insn::JaLong { off } => Flow::Jump(target(pc, i64::from(off))),
        Insn::Branch { off, .. } => Flow::Branch(target(pc, i64::from(off))),
        Insn::Call { src, imm } => match dialect {
            // V3 and V4 call as eBPF does: src 0 by key, src 1 pc-relative.
            Dialect::Sbpf26(version) if version.static_syscalls() => {
                ebpf_call(pc, src, imm, symbols)
            }
            Dialect::Sbpf | Dialect::Sbpf26(_) => sbpf_call(imm, symbols),
            Dialect::Ebpf => ebpf_call(pc, src, imm, symbols),
        },
        Insn::CallReg { .. } => Flow::CallIndirect,
        Insn::Exit => Flow::Stop,
        Insn::Alu { .. }
        | Insn::Pqr { .. }
        | Insn::Hor64 { .. }
        | Insn::Neg { .. }
        | Insn::Endian { .. }
        | Insn::LoadImm64 { .. }
        | Insn::Load { .. }
        | Insn::Store { .. }
        | Insn::Atomic { .. }
        | Insn::PacketLoad { .. } => Flow::Next,
    }
}

/// The slot after `decoded`.
fn next_pc(decoded: &Decoded) -> usize {
    decoded.pc + decoded.insn.map_or(1, |insn| insn.slot_count())
}

/// Where blocks start: pc 0, function entries, and what each flow adds (crate docs), kept
/// only where an instruction starts.
fn block_starts(
    instructions: &[Decoded],
    flows: &[Flow],
    functions: &BTreeSet<usize>,
) -> BTreeSet<usize> {
    let mut starts: BTreeSet<usize> = functions.clone();
    starts.insert(0);
    for (decoded, flow) in instructions.iter().zip(flows) {
        let next = next_pc(decoded);
        match *flow {
            Flow::Next => {}
            Flow::Stop | Flow::CallIndirect => {
                starts.insert(next);
            }
            Flow::Jump(to) | Flow::Branch(to) => {
                starts.insert(next);
                starts.extend(to);
            }
            Flow::Call(to) => {
                starts.insert(next);
                starts.insert(to);
            }
        }
    }
    starts.retain(|pc| instructions.binary_search_by_key(pc, |d| d.pc).is_ok());
    starts
}

/// The successors of a block ending with `flow`, given the start of the next block.
fn successors(
    flow: Flow,
    next: Option<usize>,
    starts: &BTreeSet<usize>,
    functions: &BTreeSet<usize>,
) -> Vec<usize> {
    let fall = next.filter(|pc| !functions.contains(pc));
    let jump = |to: Option<usize>| to.filter(|pc| starts.contains(pc));
    match flow {
        Flow::Stop => Vec::new(),
        Flow::Jump(to) => jump(to).into_iter().collect(),
        Flow::Branch(to) => fall.into_iter().chain(jump(to)).collect(),
        Flow::Next | Flow::Call(_) | Flow::CallIndirect => fall.into_iter().collect(),
    }
}

/// Splits the program into blocks and links the edges. Labels and dominators are filled in
/// later; `functions` are the registered entries (all instruction starts).
pub(crate) fn split(
    instructions: &[Decoded],
    flows: &[Flow],
    functions: &BTreeSet<usize>,
) -> BTreeMap<usize, Block> {
    let starts = block_starts(instructions, flows, functions);
    let mut blocks = BTreeMap::new();
    let mut first = 0;
    let mut iter = starts.iter().peekable();
    while let Some(&start) = iter.next() {
        let next = iter.peek().map(|pc| **pc);
        let end_pc = next.unwrap_or_else(|| instructions.last().map_or(0, next_pc));
        let last = instructions
            .iter()
            .skip(first)
            .take_while(|d| d.pc < end_pc)
            .count();
        let range = first..first + last;
        first = range.end;
        let flow = range
            .end
            .checked_sub(1)
            .and_then(|i| flows.get(i))
            .copied()
            .unwrap_or(Flow::Next);
        blocks.insert(
            start,
            Block {
                start,
                end: end_pc,
                instructions: range,
                successors: successors(flow, next, &starts, functions),
                predecessors: Vec::new(),
                dominator: Dominator::SuperRoot,
                dominated: Vec::new(),
                label: String::new(),
            },
        );
    }
    let edges: Vec<(usize, usize)> = blocks
        .values()
        .flat_map(|block| block.successors.iter().map(|to| (block.start, *to)))
        .collect();
    for (from, to) in edges {
        if let Some(block) = blocks.get_mut(&to) {
            block.predecessors.push(from);
        }
    }
    blocks
}
