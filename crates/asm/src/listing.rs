//! Symbols and the labelled program listing.
//!
//! A listing is the program decoded with [`bpfvm_isa::decode_program`], one instruction per
//! line indented by four spaces, with a `name:` line before every labelled instruction. An
//! instruction gets a label when it starts a function (named by the [`SymbolTable`]), is the
//! target of a jump or of an eBPF local call (`lbb_<pc>`), or follows an instruction that never
//! falls through (`exit`, `ja`), the way the reference labels a basic block that is not entered
//! from the block above. A blank line precedes every function label except on the first line.
//! A slot that does not decode prints as `unknown opcode=0x..`, so a listing never fails.

use crate::format::{format_insn, target_pc};
use crate::{Assembled, Symbols};
use bpfvm_isa::{decode_program, hash_symbol_name, Decoded, Dialect, Insn, Slot};
use std::collections::{BTreeMap, BTreeSet};

/// A plain symbol table: syscall names by key and function names by pc.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolTable {
    /// Syscall names by their key (the Murmur3 hash of the name).
    pub syscalls: BTreeMap<u32, String>,
    /// Function names by entry pc.
    pub functions: BTreeMap<usize, String>,
    /// Function entry pcs by registry key, where keys are not pcs (hashed keys). Keys missing
    /// here are taken as pcs.
    pub function_keys: BTreeMap<u32, usize>,
}

impl SymbolTable {
    /// The function entries an assembler run produced, without syscalls.
    pub fn from_assembled(assembled: &Assembled) -> Self {
        SymbolTable {
            syscalls: BTreeMap::new(),
            function_keys: BTreeMap::new(),
            functions: assembled
                .functions
                .iter()
                .map(|f| (f.pc, f.name.clone()))
                .collect(),
        }
    }

    /// Adds syscalls by name, keyed by their hash.
    pub fn with_syscalls<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        for name in names {
            self.syscalls
                .insert(hash_symbol_name(name.as_bytes()), name.to_string());
        }
        self
    }
}

impl Symbols for SymbolTable {
    fn syscall_name(&self, key: u32) -> Option<&str> {
        self.syscalls.get(&key).map(String::as_str)
    }

    /// A function's name, or `lbb_<pc>` for any other pc.
    fn label_at(&self, pc: usize) -> Option<String> {
        Some(
            self.functions
                .get(&pc)
                .cloned()
                .unwrap_or_else(|| format!("lbb_{pc}")),
        )
    }

    fn function_pc(&self, key: u32) -> Option<usize> {
        match self.function_keys.get(&key) {
            Some(&pc) => Some(pc),
            None => usize::try_from(key).ok(),
        }
    }
}

/// The labels of one listing: only instruction starts that get a label line resolve.
struct ListingSymbols<'a> {
    table: &'a SymbolTable,
    /// Function starts: the table's, plus `function_<pc>` for code nothing enters.
    functions: BTreeMap<usize, String>,
    /// Other labelled starts, printed `lbb_<pc>`.
    blocks: BTreeSet<usize>,
}

impl Symbols for ListingSymbols<'_> {
    fn syscall_name(&self, key: u32) -> Option<&str> {
        self.table.syscall_name(key)
    }

    fn function_pc(&self, key: u32) -> Option<usize> {
        self.table.function_pc(key)
    }

    fn label_at(&self, pc: usize) -> Option<String> {
        match self.functions.get(&pc) {
            Some(name) => Some(name.clone()),
            None => self.blocks.contains(&pc).then(|| format!("lbb_{pc}")),
        }
    }
}

/// Disassembles a text section into a labelled listing (see the module docs). A trailing
/// partial slot is ignored.
pub fn disassemble(text: &[u8], dialect: Dialect, symbols: &SymbolTable) -> String {
    let slots = Slot::slots_of(text);
    let listing = decode_program(&slots, dialect);
    let labels = label_listing(&listing, dialect, symbols);
    let mut out = String::new();
    for entry in &listing {
        if let Some(label) = labels.label_at(entry.pc) {
            if labels.functions.contains_key(&entry.pc) && !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&label);
            out.push_str(":\n");
        }
        let line = match &entry.insn {
            Ok(insn) => format_insn(insn, entry.pc, dialect, &labels),
            Err(_) => format!("unknown opcode={:#x}", entry.slot.opcode),
        };
        out.push_str("    ");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Decides which instruction starts get a label line, as the reference's basic-block
/// analysis does in the common cases: function starts keep their names; jump targets become
/// `lbb_<pc>`; a start that nothing jumps to and the instruction above does not fall into
/// (the first instruction, or code after `exit`/`ja`) is an entry of its own, `function_<pc>`,
/// and code after `exit`/`ja` that is jumped to is labelled `lbb_<pc>`.
fn label_listing<'a>(
    listing: &[Decoded],
    dialect: Dialect,
    table: &'a SymbolTable,
) -> ListingSymbols<'a> {
    let starts: BTreeSet<usize> = listing.iter().map(|entry| entry.pc).collect();
    let mut targets = BTreeSet::new();
    for entry in listing {
        if let Some(target) = entry
            .insn
            .ok()
            .and_then(|insn| branch_target(&insn, entry.pc, dialect))
        {
            targets.insert(target);
        }
    }
    let mut functions: BTreeMap<usize, String> = table
        .functions
        .iter()
        .filter(|(pc, _)| starts.contains(pc))
        .map(|(pc, name)| (*pc, name.clone()))
        .collect();
    // In V3 and V4 a call names its target pc-relatively: the target is a function.
    for entry in listing {
        if let Some(target) = entry
            .insn
            .ok()
            .and_then(|insn| static_call_target(&insn, entry.pc, dialect))
            .filter(|target| starts.contains(target))
        {
            functions
                .entry(target)
                .or_insert_with(|| format!("function_{target}"));
        }
    }
    let mut blocks: BTreeSet<usize> = targets.intersection(&starts).copied().collect();
    let mut falls_through = false;
    for entry in listing {
        if !falls_through && !targets.contains(&entry.pc) {
            functions
                .entry(entry.pc)
                .or_insert_with(|| format!("function_{}", entry.pc));
        } else if !falls_through {
            blocks.insert(entry.pc);
        }
        falls_through = !matches!(
            entry.insn,
            Ok(Insn::Exit | Insn::Ja { .. } | Insn::JaLong { .. })
        );
    }
    ListingSymbols {
        table,
        functions,
        blocks,
    }
}

/// The target of a pc-relative `call` (src 1) in a version with static syscalls.
fn static_call_target(insn: &Insn, pc: usize, dialect: Dialect) -> Option<usize> {
    let Insn::Call { src: 1, imm } = insn else {
        return None;
    };
    dialect
        .version()?
        .static_syscalls()
        .then(|| target_pc(pc, i64::from(*imm)))?
}

/// Where a jump (or an eBPF local call) goes.
fn branch_target(insn: &Insn, pc: usize, dialect: Dialect) -> Option<usize> {
    match (insn, dialect) {
        (Insn::Ja { off }, _) | (Insn::Branch { off, .. }, _) => target_pc(pc, i64::from(*off)),
        (Insn::JaLong { off }, _) | (Insn::Call { src: 1, imm: off }, Dialect::Ebpf) => {
            target_pc(pc, i64::from(*off))
        }
        (
            Insn::Alu { .. }
            | Insn::Pqr { .. }
            | Insn::Hor64 { .. }
            | Insn::Neg { .. }
            | Insn::Endian { .. }
            | Insn::LoadImm64 { .. }
            | Insn::Load { .. }
            | Insn::Store { .. }
            | Insn::Atomic { .. }
            | Insn::PacketLoad { .. }
            | Insn::Call { .. }
            | Insn::CallReg { .. }
            | Insn::Exit,
            _,
        ) => None,
    }
}
