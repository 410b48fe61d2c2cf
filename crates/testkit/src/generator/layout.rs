//! The second pass of the generator: placing items at pcs and resolving placeholders.
//!
//! Every item is one instruction with a known slot count, so item number `i` starts at
//! `starts[i]`. Jump targets are item indices turned into slot offsets, which makes every
//! target an instruction start. Internal calls get the key the loader will register the
//! target under, and text addresses for `callx` are computed from the final slot positions.

use super::pick::Shape;
use super::{Item, JumpTarget, TextTarget};
use bpfvm::program::hash_internal_function;
use bpfvm::MM_PROGRAM_START;
use bpfvm_isa::{encode, AluOp, Dialect, Insn, Width, SLOT_SIZE};

/// The finished program.
pub(crate) struct LaidOut {
    /// The instructions.
    pub insns: Vec<Insn>,
    /// The encoded text.
    pub text: Vec<u8>,
    /// Start pcs of the functions after the entry.
    pub function_pcs: Vec<usize>,
    /// Instructions the encoder refused.
    pub encode_failures: usize,
}

/// The name a non-entry function is registered under.
pub fn function_name(pc: usize) -> String {
    format!("function_{pc}")
}

struct Positions {
    starts: Vec<usize>,
    function_pcs: Vec<usize>,
    slot_count: usize,
}

fn positions(functions: &[Vec<Item>]) -> Positions {
    let mut starts = Vec::new();
    let mut function_pcs = Vec::new();
    let mut pc = 0;
    for function in functions {
        function_pcs.push(pc);
        for item in function {
            starts.push(pc);
            pc += item.slot_count();
        }
    }
    Positions {
        starts,
        function_pcs,
        slot_count: pc,
    }
}

/// SBPF V2's encoding of an instruction it lacks, in as many slots: `lddw` as `mov32` +
/// `hor64`, mul/div/mod as the PQR class's `lmul`/`udiv`/`urem`, `neg` as `lmul` by -1.
/// `None` in any other dialect, or for an instruction with no such twin (`le`).
fn v2_equivalent(insn: &Insn, dialect: Dialect) -> Option<Vec<bpfvm_isa::Slot>> {
    use bpfvm_isa::{PqrOp, Source};
    if !dialect.version().is_some_and(|v| v.enable_pqr()) {
        return None;
    }
    let pqr = |width, op, dst, src| Insn::Pqr {
        width,
        op,
        dst,
        src,
    };
    let twins = match *insn {
        Insn::LoadImm64 { dst, imm } => vec![
            Insn::Alu {
                width: Width::W32,
                op: AluOp::Mov,
                dst,
                src: Source::Imm(imm as u32 as i32),
            },
            Insn::Hor64 {
                dst,
                imm: (imm >> 32) as u32 as i32,
            },
        ],
        Insn::Alu {
            width,
            op: op @ (AluOp::Mul | AluOp::Div | AluOp::Mod),
            dst,
            src,
        } => {
            let op = match op {
                AluOp::Mul => PqrOp::Lmul,
                AluOp::Div => PqrOp::Udiv,
                _ => PqrOp::Urem,
            };
            vec![pqr(width, op, dst, src)]
        }
        Insn::Neg { width, dst } => vec![pqr(width, PqrOp::Lmul, dst, Source::Imm(-1))],
        _ => return None,
    };
    let mut slots = Vec::new();
    for twin in &twins {
        slots.extend(encode(twin, dialect).ok()?);
    }
    Some(slots)
}

/// Resolves every placeholder and encodes the program.
pub(crate) fn resolve(shape: &Shape, functions: &[Vec<Item>]) -> LaidOut {
    let at = positions(functions);
    let items: Vec<Item> = functions.iter().flatten().copied().collect();
    let mut insns = Vec::with_capacity(items.len());
    let mut text = Vec::new();
    let mut encode_failures = 0;
    for (index, item) in items.iter().enumerate() {
        let insn = resolve_item(*item, index, shape, &at).unwrap_or(Insn::Exit);
        let encoded = encode(&insn, shape.dialect)
            .or_else(|error| v2_equivalent(&insn, shape.dialect).ok_or(error))
            .or_else(|_| {
                encode_failures += 1;
                encode(&Insn::Exit, shape.dialect)
            });
        let slots = encoded.unwrap_or_default();
        if slots.len() != insn.slot_count() {
            encode_failures += 1;
        }
        for slot in slots {
            text.extend_from_slice(&slot.to_bytes());
        }
        insns.push(insn);
    }
    debug_assert_eq!(text.len(), at.slot_count * SLOT_SIZE);
    LaidOut {
        insns,
        text,
        function_pcs: at.function_pcs.iter().copied().skip(1).collect(),
        encode_failures,
    }
}

fn resolve_item(item: Item, index: usize, shape: &Shape, at: &Positions) -> Option<Insn> {
    let pc = *at.starts.get(index)?;
    match item {
        Item::Fixed(insn) => Some(insn),
        Item::Jump { template, target } => {
            let target_pc = *at.starts.get(jump_index(target, index, at.starts.len()))?;
            let off = target_pc as i64 - pc as i64 - 1;
            with_offset(template, off)
        }
        Item::CallFunction { function } => {
            let target = *at.function_pcs.get(function)?;
            Some(call(shape, pc, target))
        }
        Item::TextAddress { dst, target } => {
            let imm = text_address(target, at)?;
            Some(Insn::LoadImm64 { dst, imm })
        }
    }
}

fn jump_index(target: JumpTarget, index: usize, count: usize) -> usize {
    let last = count.saturating_sub(1);
    match target {
        JumpTarget::Forward(ahead) => (index + 1 + ahead).min(last),
        JumpTarget::Backward(back) => index.saturating_sub(back),
        JumpTarget::Anywhere(any) => any % count.max(1),
    }
}

fn with_offset(template: Insn, off: i64) -> Option<Insn> {
    let short = i16::try_from(off).ok();
    match template {
        Insn::Ja { .. } => Some(Insn::Ja { off: short? }),
        Insn::JaLong { .. } => Some(Insn::JaLong {
            off: i32::try_from(off).ok()?,
        }),
        Insn::Branch {
            width,
            cond,
            dst,
            src,
            ..
        } => Some(Insn::Branch {
            width,
            cond,
            dst,
            src,
            off: short?,
        }),
        other => Some(other),
    }
}

/// The call instruction that reaches `target` from `pc` under this dialect and configuration.
fn call(shape: &Shape, pc: usize, target: usize) -> Insn {
    match shape.dialect {
        Dialect::Ebpf => Insn::Call {
            src: 1,
            imm: (target as i64 - pc as i64 - 1) as i32,
        },
        Dialect::Sbpf26(version) if version.static_syscalls() => Insn::Call {
            src: 1,
            imm: (target as i64 - pc as i64 - 1) as i32,
        },
        Dialect::Sbpf if shape.config.static_syscalls => Insn::Call {
            src: 1,
            imm: target as i32,
        },
        Dialect::Sbpf | Dialect::Sbpf26(_) => {
            let name = if target == 0 {
                "entrypoint".to_owned()
            } else {
                function_name(target)
            };
            Insn::Call {
                src: 0,
                imm: hash_internal_function(target, &name) as i32,
            }
        }
    }
}

fn text_address(target: TextTarget, at: &Positions) -> Option<u64> {
    let slot_address = |pc: usize| MM_PROGRAM_START + (pc * SLOT_SIZE) as u64;
    Some(match target {
        TextTarget::Function(function) => slot_address(*at.function_pcs.get(function)?),
        TextTarget::Misaligned(function, bytes) => {
            slot_address(*at.function_pcs.get(function)?) + bytes
        }
        TextTarget::AnyInsn(any) => slot_address(*at.starts.get(any % at.starts.len().max(1))?),
        TextTarget::PastEnd(extra) => slot_address(at.slot_count) + extra * SLOT_SIZE as u64,
        TextTarget::Below(slots) => MM_PROGRAM_START.wrapping_sub(slots * SLOT_SIZE as u64),
    })
}
