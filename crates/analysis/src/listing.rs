//! The labelled listing: the reference's `Analysis::disassemble` format (reference §12).
//!
//! One instruction per line, indented by four spaces. A block gets a `label:` line when it
//! starts a function (preceded by a blank line, except at the top) or when it can be entered
//! other than by falling from the block just above: its predecessors are not exactly that
//! block, or that block ends in `ja`. Jump and call operands print as block labels, or
//! `[invalid]` for a target that starts no block. A `call` finds its target through the
//! function keys; the reference reads the immediate as a pc, so for programs with hashed keys
//! (the deployed ones) it prints `call [invalid]` where this listing names the function. A slot that does not decode prints as
//! `unknown opcode=0x..`, so a listing never fails.

use crate::{Analysis, Flow};
use bpfvm_asm::{format_insn, Symbols};
use bpfvm_isa::Decoded;
use std::collections::BTreeMap;

/// The analysis as the disassembler's symbol source: every block start has a label.
struct Labels<'a>(&'a Analysis);

impl Symbols for Labels<'_> {
    fn syscall_name(&self, key: u32) -> Option<&str> {
        self.0.symbols().syscall_name(key)
    }

    fn label_at(&self, pc: usize) -> Option<String> {
        self.0.blocks().get(&pc).map(|block| block.label.clone())
    }

    fn function_pc(&self, key: u32) -> Option<usize> {
        self.0.symbols().function_pc(key)
    }
}

impl Analysis {
    /// One instruction as text, with block labels for its targets.
    pub fn format_instruction(&self, decoded: &Decoded) -> String {
        match &decoded.insn {
            Ok(insn) => format_insn(insn, decoded.pc, self.dialect(), &Labels(self)),
            Err(_) => format!("unknown opcode={:#x}", decoded.slot.opcode),
        }
    }

    /// The text of the instruction starting at `pc`, if one does.
    pub fn format_pc(&self, pc: usize) -> Option<String> {
        let index = self.instruction_index(pc)?;
        self.instructions()
            .get(index)
            .map(|decoded| self.format_instruction(decoded))
    }

    /// The pcs that get a `label:` line in the listing (see the module docs), with the label.
    pub fn label_lines(&self) -> BTreeMap<usize, &str> {
        let mut labels = BTreeMap::new();
        // The block above, when control can fall from it into the next one.
        let mut above: Option<usize> = None;
        for decoded in self.instructions() {
            let Some(block) = self.blocks().get(&decoded.pc) else {
                continue;
            };
            let is_function = self.functions().contains_key(&decoded.pc);
            let only_from_above = above.is_some_and(|pc| block.predecessors == [pc]);
            if is_function || !only_from_above {
                labels.insert(decoded.pc, block.label.as_str());
            }
            let ends_in_jump = block
                .instructions
                .end
                .checked_sub(1)
                .and_then(|last| self.flows().get(last))
                .is_some_and(|flow| matches!(flow, Flow::Jump(_)));
            above = (!ends_in_jump).then_some(decoded.pc);
        }
        labels
    }

    /// The labelled listing of the whole program (see the module docs).
    pub fn disassemble(&self) -> String {
        let labels = self.label_lines();
        let mut out = String::new();
        for (index, decoded) in self.instructions().iter().enumerate() {
            if let Some(label) = labels.get(&decoded.pc) {
                if index != 0 && self.functions().contains_key(&decoded.pc) {
                    out.push('\n');
                }
                out.push_str(label);
                out.push_str(":\n");
            }
            out.push_str("    ");
            out.push_str(&self.format_instruction(decoded));
            out.push('\n');
        }
        out
    }
}
