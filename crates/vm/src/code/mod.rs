//! The backend-neutral form of a verified program: one [`Op`] per slot, decoded once, and
//! what both backends need to run them (the syscall table, the callable slots, the meter's
//! runs). It is owned by neither backend: the interpreter executes it as it is, the JIT
//! compiles from it, and the JIT hands a run back to the interpreter over the same form.
//!
//! [`Code::new`] lowers every slot of a verified program to an [`Op`] (the common slots by one
//! table read, see [`quick`], the rest by decoding them in full, see [`lower`]):
//! absolute jump targets, merged `lddw`, calls resolved against the registries (fixed at load
//! time), the dialect's rules baked in. What an op does to registers, memory and control
//! comes from the op table of the isa crate ([`Op::facts`]); [`runs`] derives the meter's
//! straight-line runs and the tight loops from those facts, for the interpreter here and for
//! the JIT when it compiles. Nothing in this module belongs to one backend: the JIT's own
//! analyses (its longer runs, loop heads, pointer guesses) are computed by the JIT, only
//! when it compiles.

pub(crate) mod fuse;
pub(crate) mod lower;
mod quick;
pub(crate) mod runs;

pub use bpfvm_isa::op::{
    AccessKind, AddressFlow, Ext32, Facts, Flow, GuestReg, MemAccess, Op, OpKind, Operand, Regs,
    Trap,
};

pub(crate) use fuse::{Inst, InstKind, LoadImm, LoadReg, Stream, Target};

use crate::memory::Layout;
use crate::program::Executable;
use bpfvm_isa::{decode_slot, Dialect, Slot, SLOT_SIZE};
use lower::Lowering;
use quick::QuickLowering;
use std::sync::OnceLock;

/// The backend-neutral form of a verified program (see the module doc).
#[derive(Debug)]
pub struct Code {
    /// One op per slot, plus the overrun sentinel at index `slot_count`.
    ops: Vec<Op>,
    /// Per slot (and the sentinel): the instructions from that slot up to and including the
    /// op that ends its straight-line run (the meter's block length; see the interpreter's
    /// meter). Computed when the interpreter first runs the program ([`Code::run_lengths`]):
    /// a program the JIT runs needs them only when it hands a run over.
    run_lengths: OnceLock<Vec<u64>>,
    /// The interpreter's stream: the ops with common pairs fused ([`fuse`]) and the jumps'
    /// run lengths in place, built when the interpreter first runs the program, after the
    /// run lengths.
    insts: OnceLock<Stream>,
    /// Registered syscall keys, sorted; `Op::Syscall { index }` indexes this.
    syscall_keys: Vec<u32>,
    /// The index of the unwind helper in `syscall_keys`, if one is set.
    unwind_index: Option<u32>,
    /// Per slot, one bit: whether a function is registered under the slot's pc (the
    /// static-syscalls `callx` check). Bits rather than a `bool` per slot: a table of a byte
    /// per slot is pages that fault in on a program's first use (4 on spl_token) for a
    /// handful of set entries.
    callable: Vec<u64>,
    /// The slots where `callable` is set, in order.
    callable_pcs: Vec<usize>,
    text_vaddr: u64,
    entry_pc: usize,
    /// The memory layout the program runs in.
    layout: Layout,
    /// Whether `callx` may only land on a registered function (2022 static syscalls).
    callx_needs_function: bool,
    /// Whose run-time rules apply.
    semantics: Semantics,
}

/// Whose run-time rules a program follows where solana-sbpf 0.26 changed 0.2.38's
/// (spec `sbpf-0.26.md` §1.9 and §1.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Semantics {
    /// solana_rbpf 0.2.38 (the 2022 dialects and eBPF): the meter is checked after each
    /// instruction and a run that stops there names the fall-through pc; a return to the
    /// slot past the last is `CallOutsideTextSegment`.
    Reference2022,
    /// solana-sbpf 0.26 (the SBPF versions): the meter is checked before each instruction,
    /// so a budget of N runs exactly N and a run that stops names the pc that did not run
    /// (a jump's target, a callee's entry); a return to the slot past the last is not an
    /// error until that slot is fetched (`ExecutionOverrun`).
    Sbpf26,
}

impl Semantics {
    /// The rules of `dialect`.
    pub fn of(dialect: Dialect) -> Semantics {
        match dialect {
            Dialect::Sbpf | Dialect::Ebpf => Semantics::Reference2022,
            Dialect::Sbpf26(_) => Semantics::Sbpf26,
        }
    }
}

impl Code {
    /// The neutral form of a verified program, built straight from its text: the quick walk
    /// lowers the common slots from their opcode's table entry, then the full lowering
    /// decodes the others in order (the second slot of an `lddw` lowers as the slot no
    /// instruction starts at), so no decoded copy of the program is made on the way.
    /// The text must be one the verifier accepted (see the module doc of
    /// [`crate::verifier`]).
    pub fn new<C>(executable: &Executable<C>) -> Code {
        Code::lowered_by(executable, lower_text)
    }

    /// The neutral form of `executable` with its ops made by `lower` from the text (the
    /// tests compare the quick walk with the full lowering this way).
    fn lowered_by<C>(executable: &Executable<C>, lower: LowerText) -> Code {
        let config = executable.config();
        let text = executable.text();
        let slot_count = text.len() / SLOT_SIZE;
        let registry = &executable.loader().syscalls;
        let syscall_keys: Vec<u32> = registry.iter().map(|(key, _)| key).collect();
        // The function registry as (key, pc) pairs in key order (the registry iterates in
        // key order): a binary search of a flat list is a third of a tree lookup's cost,
        // and the lowering looks up every `call` whose key is not a syscall.
        let functions: Vec<(u32, usize)> = executable
            .functions()
            .iter()
            .map(|(key, function)| (key, function.pc))
            .collect();
        debug_assert!(functions.windows(2).all(|pair| pair[0].0 < pair[1].0));
        let function_pc = |key: u32| {
            functions
                .binary_search_by_key(&key, |&(key, _)| key)
                .ok()
                .and_then(|index| functions.get(index))
                .map(|&(_, pc)| pc)
        };
        let dialect = executable.dialect();
        let lowering = Lowering {
            dialect,
            dynamic_stack_frames: config.dynamic_stack_frames,
            static_syscalls: config.static_syscalls,
            slot_count,
            syscall_keys: &syscall_keys,
            function_pc: &function_pc,
        };
        let ops = lower(text, dialect, &lowering);
        // A pc is callable by `callx` under static syscalls when it is a registry key.
        let mut callable_pcs: Vec<usize> = functions
            .iter()
            .filter_map(|&(key, _)| usize::try_from(key).ok())
            .filter(|&pc| pc < slot_count)
            .collect();
        callable_pcs.sort_unstable();
        callable_pcs.dedup();
        let mut callable = vec![0u64; slot_count.div_ceil(64)];
        for &pc in &callable_pcs {
            if let Some(word) = callable.get_mut(pc / 64) {
                *word |= 1 << (pc % 64);
            }
        }
        let unwind_index = registry
            .unwind_key()
            .and_then(|key| syscall_keys.binary_search(&key).ok())
            .and_then(|index| u32::try_from(index).ok());
        Code {
            ops,
            run_lengths: OnceLock::new(),
            insts: OnceLock::new(),
            syscall_keys,
            unwind_index,
            callable,
            callable_pcs,
            text_vaddr: executable.text_vaddr(),
            entry_pc: executable.entry_pc(),
            layout: executable.layout(),
            callx_needs_function: dialect == Dialect::Sbpf && config.static_syscalls,
            semantics: Semantics::of(dialect),
        }
    }

    /// The memory layout the program runs in.
    #[inline(always)]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Whether `callx` may only land on a registered function (the 2022 dialect with static
    /// syscalls; otherwise any slot of the text).
    #[inline(always)]
    pub fn callx_needs_function(&self) -> bool {
        self.callx_needs_function
    }

    /// Whose run-time rules apply.
    #[inline(always)]
    pub fn semantics(&self) -> Semantics {
        self.semantics
    }

    /// The number of slots.
    #[inline(always)]
    pub fn slot_count(&self) -> usize {
        self.ops.len().saturating_sub(1)
    }

    /// The ops, one per slot, followed by the overrun sentinel.
    #[inline(always)]
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The slot execution starts at.
    pub fn entry_pc(&self) -> usize {
        self.entry_pc
    }

    /// Per slot (and the sentinel): the number of instructions from the slot to the end of
    /// its straight-line run, inclusive. Computed on the first call.
    pub fn run_lengths(&self) -> &[u64] {
        self.run_lengths
            .get_or_init(|| runs::run_lengths(&self.ops, runs::RunSplit::AtRunEnds))
    }

    /// The interpreter's stream, one entry per slot and the sentinel and then
    /// [`fuse::TAIL`] more sentinels: the ops with common adjacent pairs fused ([`fuse`]),
    /// each jump's [`Target`] with the run lengths where it goes. Computed on the first call.
    pub(crate) fn insts(&self) -> &Stream {
        self.insts
            .get_or_init(|| fuse::fuse(&self.ops, self.run_lengths()))
    }

    /// The index (into [`Code::syscall_keys`]) of the unwind helper, if one is set.
    #[inline(always)]
    pub fn unwind_index(&self) -> Option<u32> {
        self.unwind_index
    }

    /// The guest address of slot 0.
    #[inline(always)]
    pub fn text_vaddr(&self) -> u64 {
        self.text_vaddr
    }

    /// Whether a function is registered at slot `pc` (the static-syscalls `callx` rule).
    #[inline(always)]
    pub fn is_callable(&self, pc: usize) -> bool {
        self.callable
            .get(pc / 64)
            .is_some_and(|word| word >> (pc % 64) & 1 != 0)
    }

    /// The slots at which a function is registered ([`Code::is_callable`]), in order.
    #[inline(always)]
    pub fn callable_pcs(&self) -> &[usize] {
        &self.callable_pcs
    }

    /// The registered syscall keys in the order `Op::Syscall` indexes them.
    #[inline(always)]
    pub fn syscall_keys(&self) -> &[u32] {
        &self.syscall_keys
    }
}

/// A way of lowering a whole text: one op per slot and the overrun sentinel.
type LowerText = fn(&[u8], Dialect, &Lowering<'_>) -> Vec<Op>;

/// One op per slot of `text` and the overrun sentinel: each instruction decoded where it
/// starts and lowered at once, the second slot of an `lddw` lowered on its own (as the slot
/// no instruction starts at). The same ops as decoding the whole text first
/// ([`VerifiedProgram::decoded`](crate::VerifiedProgram::decoded)) and lowering each entry.
///
/// Most slots take the quick lowering ([`quick`]): one table read and a match that copies the
/// slot's fields into the op. The rest (calls, `lddw`, the rare forms) take the full
/// lowering, kept out of this loop so that the loop's state stays in registers.
fn lower_text(text: &[u8], dialect: Dialect, lowering: &Lowering<'_>) -> Vec<Op> {
    let quick = QuickLowering::new(dialect, lowering.slot_count);
    // Reserved for one slot in four (real programs leave about one in eight to the full
    // lowering: calls, both slots of an `lddw`): the list then never grows by copying, and
    // the reserve it does not use costs no page faults.
    let mut full = Vec::with_capacity(lowering.slot_count / 4);
    let mut ops = lower_quick(text, quick, &mut full);
    // In order, so that an `lddw` decides its second slot before that slot is reached (the
    // second slot is never quick: its opcode is 0, which no dialect's quick table lowers).
    let mut second_half = None;
    for &pc in &full {
        if second_half == Some(pc) {
            continue;
        }
        let (op, second) = lower_full(text, pc, lowering);
        if let Some(entry) = ops.get_mut(pc) {
            *entry = op;
        }
        second_half = None;
        if let Some(second) = second {
            if let Some(entry) = ops.get_mut(pc.wrapping_add(1)) {
                *entry = second;
                second_half = Some(pc.wrapping_add(1));
            }
        }
    }
    ops.push(Op::Overrun);
    ops
}

/// The quick lowering of every slot of `text`, with [`Op::Overrun`] where the full lowering
/// must decide; those slots are listed in `full`, in order. Room for one more op (the
/// sentinel) is reserved. Its own function, so that the walk's state stays in registers.
#[inline(never)]
fn lower_quick(text: &[u8], quick: QuickLowering, full: &mut Vec<usize>) -> Vec<Op> {
    let mut ops = Vec::with_capacity(text.len() / SLOT_SIZE + 1);
    let mut rest = text;
    while let Some((bytes, tail)) = rest.split_first_chunk::<SLOT_SIZE>() {
        let pc = ops.len();
        let slot = Slot::from_u64(u64::from_le_bytes(*bytes));
        ops.push(quick.lower(pc, slot).unwrap_or_else(|| {
            full.push(pc);
            Op::Overrun
        }));
        rest = tail;
    }
    ops
}

/// The op of the instruction at `pc` by decoding it in full, and for an `lddw` the op of its
/// second slot.
#[inline(never)]
fn lower_full(text: &[u8], pc: usize, lowering: &Lowering<'_>) -> (Op, Option<Op>) {
    let Some(slot) = Slot::at(text, pc) else {
        return (Op::Overrun, None);
    };
    let insn = decode_slot(
        slot,
        || Slot::at(text, pc.wrapping_add(1)),
        lowering.dialect,
    )
    .ok();
    let op = lowering.lower(pc, insn, slot);
    let second = insn
        .filter(|insn| insn.slot_count() == 2)
        .and_then(|_| Slot::at(text, pc.wrapping_add(1)))
        .map(|second| lowering.second_half(second));
    (op, second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::decode_verified;
    use bpfvm_isa::SbpfVersion;

    /// The lowering before the quick walk: every slot decoded and lowered in full, in order
    /// (in the lowering's dialect, which is the one passed).
    fn lower_text_full(text: &[u8], _: Dialect, lowering: &Lowering<'_>) -> Vec<Op> {
        let mut ops = Vec::new();
        let mut pc = 0;
        while pc < text.len() / SLOT_SIZE {
            let (op, second) = lower_full(text, pc, lowering);
            ops.push(op);
            pc += 1;
            if let Some(second) = second {
                ops.push(second);
                pc += 1;
            }
        }
        ops.push(Op::Overrun);
        ops
    }

    /// Every opcode of every dialect, with register fields 0 to 15, offsets and immediates
    /// at their edges (zero, one, minus one, the extremes, far jumps in both directions)
    /// and every configuration the lowering reads: the quick walk gives, slot by slot, the
    /// ops of the full lowering. Each text puts the slot between others, after an `lddw`
    /// whose second slot it may be, and before an `lddw` half, so that jumps, second slots
    /// and the last slot are all met.
    #[test]
    fn quick_lowering_agrees_with_the_full_lowering_on_every_opcode() {
        let syscall_keys = [0u32, 1, 3, 17, 0x7fff_0000];
        let function_pc = |key: u32| (key % 3 == 0).then_some(key as usize % 7);
        let offsets = [0i16, 1, -1, 2, -3, 5, 100, i16::MIN, i16::MAX];
        let immediates = [0i32, 1, -1, 2, 8, 16, 31, 32, 63, 64, i32::MIN, i32::MAX];
        let mut compared = 0usize;
        for dialect in Dialect::ALL {
            for (dynamic_stack_frames, static_syscalls) in
                [(false, false), (true, false), (false, true), (true, true)]
            {
                for opcode in 0..=255u8 {
                    for registers in 0..=255u8 {
                        let off = offsets[usize::from(registers) % offsets.len()];
                        let imm = immediates[usize::from(registers / 3) % immediates.len()];
                        let under_test = Slot {
                            opcode,
                            dst: registers & 15,
                            src: registers >> 4,
                            off,
                            imm,
                        };
                        let exit = Slot {
                            opcode: 0x95,
                            ..Slot::default()
                        };
                        let lddw = Slot {
                            opcode: 0x18,
                            dst: 1,
                            ..Slot::default()
                        };
                        let slots = [exit, lddw, under_test, exit, under_test, Slot::default()];
                        let text: Vec<u8> = slots.iter().flat_map(|slot| slot.to_bytes()).collect();
                        let lowering = Lowering {
                            dialect,
                            dynamic_stack_frames,
                            static_syscalls,
                            slot_count: slots.len(),
                            syscall_keys: &syscall_keys,
                            function_pc: &function_pc,
                        };
                        assert_eq!(
                            lower_text(&text, dialect, &lowering),
                            lower_text_full(&text, dialect, &lowering),
                            "{dialect:?} {under_test:?} frames {dynamic_stack_frames} static {static_syscalls}"
                        );
                        compared += 1;
                    }
                }
            }
        }
        assert_eq!(compared, 7 * 4 * 256 * 256);
    }

    /// No dialect lowers opcode 0 quickly: the second slot of an `lddw` must reach the full
    /// lowering, which decides it with its `lddw`.
    #[test]
    fn opcode_zero_is_never_quick() {
        for dialect in Dialect::ALL {
            let quick = QuickLowering::new(dialect, 4);
            for dst in 0..=10 {
                let slot = Slot {
                    dst,
                    ..Slot::default()
                };
                assert_eq!(quick.lower(0, slot), None, "{dialect:?}");
            }
        }
    }

    /// On every program of the corpus, loaded in both 2022 configurations in every dialect
    /// that loads it, the neutral form's ops are the full lowering's.
    #[test]
    fn corpus_programs_lower_alike_both_ways() {
        use crate::{Config, Loader, TestContext};
        use std::sync::Arc;
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
        let mut programs = 0;
        for dir in [
            "solana_programs",
            "solana_programs/bpf_loader_test_elfs",
            "rbpf_elfs",
            "sbpf_elfs",
        ] {
            let Ok(entries) = std::fs::read_dir(corpus.join(dir)) else {
                continue;
            };
            let mut paths: Vec<_> = entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .collect();
            paths.sort();
            for path in paths
                .iter()
                .filter(|path| path.extension().is_some_and(|e| e == "so"))
            {
                let Ok(bytes) = std::fs::read(path) else {
                    continue;
                };
                let loads = [Config::legacy(), Config::default()]
                    .into_iter()
                    .flat_map(|config| {
                        Dialect::ALL
                            .into_iter()
                            .map(move |dialect| (config, dialect))
                    });
                for (config, dialect) in loads {
                    let loader = Arc::new(Loader::<TestContext>::new(config));
                    let Ok(executable) = crate::elf::load_in(&bytes, loader, dialect) else {
                        continue;
                    };
                    let quick = Code::new(&executable);
                    let full = Code::lowered_by(&executable, lower_text_full);
                    assert_eq!(quick.ops(), full.ops(), "{} {dialect:?}", path.display());
                    programs += 1;
                }
            }
        }
        assert!(programs >= 60, "only {programs} corpus loads");
    }

    /// On random texts (any bytes, with many `lddw`s, calls, jumps and r11 destinations),
    /// lowering in one pass gives, slot by slot, the ops of decoding the whole text first and
    /// lowering each entry, in every dialect and with and without dynamic stack frames.
    #[test]
    fn one_pass_lowering_agrees_with_decoding_first() {
        let mut next = crate::test_insns::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let opcodes = [
            0x18, 0x00, 0x07, 0x17, 0x85, 0x8d, 0x95, 0x05, 0x15, 0x79, 0x7b,
        ];
        let dialects = [
            Dialect::Sbpf,
            Dialect::Ebpf,
            Dialect::Sbpf26(SbpfVersion::V0),
            Dialect::Sbpf26(SbpfVersion::V2),
            Dialect::Sbpf26(SbpfVersion::V3),
        ];
        let syscall_keys = [3u32, 17, 0x7fff_0000];
        let function_pc = |key: u32| (key % 3 == 0).then_some(key as usize % 50);
        for round in 0..400 {
            let slots = 1 + (next() % 60) as usize;
            let text: Vec<u8> = (0..slots)
                .flat_map(|_| {
                    let word = next();
                    let mut bytes = word.to_le_bytes();
                    if word % 3 != 0 {
                        bytes[0] = opcodes[(word >> 40) as usize % opcodes.len()];
                    }
                    if word % 7 == 0 {
                        bytes[1] = bytes[1] & 0xf0 | 11;
                    }
                    bytes
                })
                .collect();
            let dialect = dialects[round % dialects.len()];
            for dynamic_stack_frames in [false, true] {
                let lowering = Lowering {
                    dialect,
                    dynamic_stack_frames,
                    static_syscalls: round % 2 == 0,
                    slot_count: slots,
                    syscall_keys: &syscall_keys,
                    function_pc: &function_pc,
                };
                let mut expected: Vec<Op> = decode_verified(&text, dialect)
                    .into_iter()
                    .zip(Slot::slots_of(&text))
                    .enumerate()
                    .map(|(pc, (insn, slot))| lowering.lower(pc, insn, slot))
                    .collect();
                expected.push(Op::Overrun);
                assert_eq!(
                    lower_text(&text, dialect, &lowering),
                    expected,
                    "{text:02x?}"
                );
            }
        }
    }
}
