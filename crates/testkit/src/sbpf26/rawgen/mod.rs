//! Random programs for SBPF V0-V4, generated at the slot level from the version's opcode
//! table ([`super::opcodes`]), deterministic from a seed.
//!
//! bpfvm's typed generator ([`crate::generator`]) cannot emit V2 or V3 instructions yet; this
//! one writes raw 8-byte slots, so it needs nothing from bpfvm. It aims at the places where
//! versions, and 0.26's two engines, differ: PQR with edge operands (type minimum by -1, zero
//! divisors, values whose low 32 bits are zero), `hor64`, JMP32 on values that differ only in
//! the upper half, `add64 r10` (V1, V2), every form of `call` and `callx` (registered and
//! unregistered keys, pc-relative targets in and out of range, the register in imm, src or
//! dst, unaligned and out-of-text targets), syscalls, and loads and stores into the stack,
//! heap, input, read-only data and unmapped memory around their edges.
//!
//! Two passes, as in the typed generator: [`pick`] chooses each function's [`Item`]s (whose
//! slot counts are known), then [`generate`] lays the functions out and resolves jump targets,
//! internal call keys and the text addresses `callx` uses. Programs are not guaranteed to pass
//! the verifier: a small share are meant not to, so verdicts are compared too. Every program
//! runs with the meter on, so loops and recursion end (by the budget or the call depth).

mod pick;

use super::opcodes::{kind_of, Kind};
use super::Version;
use crate::generator::Rng;
use crate::syscalls::SyscallSet;
use bpfvm_isa::hash_symbol_name;

/// `MM_BYTECODE_START`: where the text is for `callx` (and, before V3, the read-only data).
pub const BYTECODE_START: u64 = 1 << 32;
/// `MM_STACK_START`.
pub const STACK_START: u64 = 2 << 32;
/// `MM_HEAP_START`.
pub const HEAP_START: u64 = 3 << 32;
/// `MM_INPUT_START`.
pub const INPUT_START: u64 = 4 << 32;
/// Agave's stack frame size.
pub const FRAME_SIZE: i64 = 4096;
/// Agave's heap size.
pub const HEAP_SIZE: usize = 32 * 1024;

/// One raw instruction slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSlot {
    /// The opcode byte.
    pub opcode: u8,
    /// The destination register field (4 bits).
    pub dst: u8,
    /// The source register field (4 bits).
    pub src: u8,
    /// The offset.
    pub off: i16,
    /// The immediate.
    pub imm: i32,
}

impl RawSlot {
    /// A slot with the given fields.
    pub fn new(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawSlot {
        RawSlot {
            opcode,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The slot's eight bytes (little-endian fields, dst in the low nibble).
    pub fn bytes(self) -> [u8; 8] {
        let mut bytes = [0u8; 8];
        bytes[0] = self.opcode;
        bytes[1] = (self.dst & 0xf) | (self.src << 4);
        bytes[2..4].copy_from_slice(&self.off.to_le_bytes());
        bytes[4..8].copy_from_slice(&self.imm.to_le_bytes());
        bytes
    }

    /// Reads a slot from eight bytes.
    pub fn from_bytes(bytes: [u8; 8]) -> RawSlot {
        RawSlot {
            opcode: bytes[0],
            dst: bytes[1] & 0xf,
            src: bytes[1] >> 4,
            off: i16::from_le_bytes([bytes[2], bytes[3]]),
            imm: i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }
}

/// Where a jump goes, chosen before the layout is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An instruction start after the jump in the same function (or the slot just past it).
    Forward,
    /// An instruction start at or before the jump in the same function (a loop).
    Backward,
    /// A fixed relative offset (possibly out of the text, for the verifier).
    Relative(i16),
}

/// The part of a program `pick` chooses before layout; each has a known slot count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// One finished slot.
    Slot(RawSlot),
    /// A 64-bit constant: `lddw`, or in V2 `mov32` plus `hor64` (two slots either way).
    Const64 {
        /// The register.
        dst: u8,
        /// The value.
        value: u64,
    },
    /// A jump slot (any jump opcode) whose offset is resolved at layout.
    Jump {
        /// The jump slot with offset 0.
        slot: RawSlot,
        /// Where it goes.
        target: Target,
    },
    /// An internal call to function `function` (the key or offset resolved at layout).
    Call {
        /// The callee's index.
        function: usize,
    },
    /// Loads `BYTECODE_START + 8 * start(function) + delta` into `dst` (two slots), the
    /// target a `callx` uses.
    TextAddress {
        /// The register.
        dst: u8,
        /// The function.
        function: usize,
        /// Bytes added to its start.
        delta: i64,
    },
}

impl Item {
    fn slot_count(&self) -> usize {
        match self {
            Item::Slot(_) | Item::Jump { .. } | Item::Call { .. } => 1,
            Item::Const64 { .. } | Item::TextAddress { .. } => 2,
        }
    }
}

/// A generated program with everything needed to run it.
#[derive(Clone, Debug)]
pub struct RawProgram {
    /// The seed it came from.
    pub seed: u64,
    /// Its version.
    pub version: Version,
    /// The text bytes.
    pub text: Vec<u8>,
    /// Start pcs of its functions, the entry (pc 0) first; the oracle registers them.
    pub functions: Vec<usize>,
    /// The input bytes.
    pub input: Vec<u8>,
    /// The heap size.
    pub heap_size: usize,
    /// The instruction budget.
    pub budget: u64,
    /// The syscalls it may call.
    pub syscalls: SyscallSet,
}

impl RawProgram {
    /// One line per slot: pc, the five fields and the opcode's kind in this version.
    pub fn listing(&self) -> Vec<String> {
        self.text
            .chunks_exact(8)
            .enumerate()
            .map(|(pc, chunk)| {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(chunk);
                let slot = RawSlot::from_bytes(bytes);
                let kind = kind_of(self.version, slot.opcode)
                    .map_or_else(|| "?".to_owned(), |kind| format!("{kind:?}"));
                format!(
                    "{pc:4}: {:02x} dst {} src {} off {} imm {} ({kind})",
                    slot.opcode, slot.dst, slot.src, slot.off, slot.imm
                )
            })
            .collect()
    }
}

/// The key a call uses for the function at `pc` before V3: Murmur3 of its eight bytes.
pub fn hashed_function_key(pc: usize) -> u32 {
    hash_symbol_name(&(pc as u64).to_le_bytes())
}

/// Generates the program of `seed` for `version`.
pub fn generate(seed: u64, version: Version) -> RawProgram {
    let mut rng = Rng::new(seed ^ (u64::from(version.e_flags()) << 56));
    let input_len = match rng.below(8) {
        0 => 0,
        1 => 4096,
        _ => rng.range(1, 96) as usize,
    };
    let input: Vec<u8> = (0..input_len).map(|_| rng.next_u64() as u8).collect();
    let heap_size = if rng.chance(1, 2) { HEAP_SIZE } else { 0 };
    // Mostly enough to finish, a tenth run out early. Budgets near `u64::MAX` (where the
    // JIT's meter wraps, see `disagreements`) are left to the witnesses: with loops or
    // recursion the interpreter would run for ever.
    let budget = match rng.below(10) {
        0 => rng.range(1, 40),
        1 => rng.range(40, 400),
        _ => 20_000,
    };
    let function_count = rng.range(1, 4) as usize;
    let context = pick::Context {
        version,
        function_count,
        input_len,
        heap_size,
    };
    let bodies: Vec<Vec<Item>> = (0..function_count)
        .map(|index| pick::function(&mut rng, &context, index))
        .collect();
    let (text, functions) = lay_out(&mut rng, version, &bodies);
    RawProgram {
        seed,
        version,
        text,
        functions,
        input,
        heap_size,
        budget,
        syscalls: SyscallSet::Standard,
    }
}

/// Places the functions one after the other and resolves every item into slots.
fn lay_out(rng: &mut Rng, version: Version, bodies: &[Vec<Item>]) -> (Vec<u8>, Vec<usize>) {
    let mut starts = Vec::with_capacity(bodies.len());
    let mut pc = 0;
    for body in bodies {
        starts.push(pc);
        pc += body.iter().map(Item::slot_count).sum::<usize>();
    }
    let total = pc;
    let mut text = Vec::with_capacity(pc * 8);
    for (index, body) in bodies.iter().enumerate() {
        let begin = starts[index];
        let mut item_pcs = Vec::with_capacity(body.len());
        let mut at = begin;
        for item in body {
            item_pcs.push(at);
            at += item.slot_count();
        }
        // A jump may go to the slot just past the function (the next function's start), but
        // not past the end of the text.
        let end = if at < total { at } else { at - 1 };
        for (item, &at) in body.iter().zip(&item_pcs) {
            let slots = resolve(rng, version, *item, at, &starts, &item_pcs, end);
            for slot in slots {
                text.extend_from_slice(&slot.bytes());
            }
        }
    }
    (text, starts)
}

/// The slots of one item at `pc`.
fn resolve(
    rng: &mut Rng,
    version: Version,
    item: Item,
    pc: usize,
    starts: &[usize],
    item_pcs: &[usize],
    end: usize,
) -> Vec<RawSlot> {
    match item {
        Item::Slot(slot) => vec![slot],
        Item::Const64 { dst, value } => const64(version, dst, value).to_vec(),
        Item::Jump { mut slot, target } => {
            let destination = match target {
                Target::Forward => {
                    let later: Vec<usize> = item_pcs
                        .iter()
                        .copied()
                        .filter(|&p| p > pc)
                        .chain([end])
                        .collect();
                    rng.pick(&later).unwrap_or(end) as i64
                }
                Target::Backward => {
                    let earlier: Vec<usize> =
                        item_pcs.iter().copied().filter(|&p| p <= pc).collect();
                    rng.pick(&earlier).unwrap_or(pc) as i64
                }
                Target::Relative(offset) => pc as i64 + 1 + i64::from(offset),
            };
            slot.off = (destination - pc as i64 - 1) as i16;
            vec![slot]
        }
        Item::Call { function } => {
            let target = starts.get(function).copied().unwrap_or(0);
            vec![internal_call(version, pc, target)]
        }
        Item::TextAddress {
            dst,
            function,
            delta,
        } => {
            let target = starts.get(function).copied().unwrap_or(0) as i64;
            let address = (BYTECODE_START as i64 + target * 8 + delta) as u64;
            const64(version, dst, address).to_vec()
        }
    }
}

/// The two slots that put `value` in `dst`: `lddw`, or `mov32` + `hor64` in V2.
pub fn const64(version: Version, dst: u8, value: u64) -> [RawSlot; 2] {
    let low = value as u32 as i32;
    let high = (value >> 32) as u32 as i32;
    if version == Version::V2 {
        [
            RawSlot::new(0xb4, dst, 0, 0, low),
            RawSlot::new(0xf7, dst, 0, 0, high),
        ]
    } else {
        [
            RawSlot::new(0x18, dst, 0, 0, low),
            RawSlot::new(0, 0, 0, 0, high),
        ]
    }
}

/// A `call` to the function at `target` from `pc`: by hashed key before V3, pc-relative
/// with src 1 from V3 on.
pub fn internal_call(version: Version, pc: usize, target: usize) -> RawSlot {
    if version.strict_elf() {
        RawSlot::new(0x85, 0, 1, 0, (target as i64 - pc as i64 - 1) as i32)
    } else {
        RawSlot::new(0x85, 0, 0, 0, hashed_function_key(target) as i32)
    }
}

/// The opcode of `kind` in `version`, if the version has it.
pub fn opcode_of(version: Version, kind: Kind) -> Option<u8> {
    super::opcodes::table(version)
        .into_iter()
        .find_map(|(opcode, candidate)| (candidate == kind).then_some(opcode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_trip_and_programs_are_deterministic() {
        let slot = RawSlot::new(0x8d, 3, 10, -2, -77);
        assert_eq!(RawSlot::from_bytes(slot.bytes()), slot);
        for version in Version::ALL {
            for seed in 0..200 {
                let a = generate(seed, version);
                let b = generate(seed, version);
                assert_eq!(a.text, b.text);
                assert_eq!(a.text.len() % 8, 0);
                assert!(!a.text.is_empty());
                assert_eq!(a.functions[0], 0);
                assert_eq!(a.listing().len(), a.text.len() / 8);
            }
        }
    }

    #[test]
    fn every_opcode_of_each_version_is_generated() {
        for version in Version::ALL {
            let mut seen = std::collections::BTreeSet::new();
            for seed in 0..3_000 {
                for chunk in generate(seed, version).text.chunks_exact(8) {
                    seen.insert(chunk[0]);
                }
            }
            let missing: Vec<String> = super::super::opcodes::table(version)
                .into_iter()
                .filter(|(opcode, _)| !seen.contains(opcode))
                .map(|(opcode, kind)| format!("{opcode:#04x} {kind:?}"))
                .collect();
            assert!(
                missing.is_empty(),
                "{version}: never generated: {missing:?}"
            );
        }
    }

    #[test]
    fn each_version_uses_its_own_opcodes() {
        for version in Version::ALL {
            let mut unknown = 0;
            let mut total = 0;
            for seed in 0..300 {
                let program = generate(seed, version);
                for chunk in program.text.chunks_exact(8) {
                    let opcode = chunk[0];
                    total += 1;
                    // Opcode 0 is the second slot of lddw.
                    if opcode != 0 && kind_of(version, opcode).is_none() {
                        unknown += 1;
                    }
                }
            }
            // Only the rare deliberately invalid slots fall outside the table.
            assert!(unknown * 200 < total, "{version}: {unknown} of {total}");
        }
    }
}
