//! Static analysis of a program's text (solana-sbpf 0.26's `static_analysis` module): basic
//! blocks and the control-flow graph ([`cfg`]: blocks, strongly connected components in a
//! topological order, dominators), the data-flow graph ([`dfg`]: which instruction, or which
//! block's entry, each read and write of a register or of memory depends on), labelled
//! disassembly and a Graphviz rendering ([`dot`]).
//!
//! The analysis reads raw instruction fields (the API hands out [`ebpf::Insn`]s); what each
//! opcode reads and writes follows the program's SBPF version.

mod cfg;
mod dfg;
mod dot;

use crate::{
    disassembler::disassemble_instruction,
    ebpf,
    elf::Executable,
    error::EbpfError,
    program::{BuiltinProgram, FunctionRegistry, SBPFVersion},
    vm::ContextObject,
};
use std::collections::{BTreeMap, BTreeSet};

/// The registers (r0..r10) and the pc (entry 11) before one traced instruction.
pub type RegisterTraceEntry = [u64; 12];

/// A block's place in the topological order: its strongly connected component, then its
/// discovery order inside that component.
#[derive(PartialEq, Eq, Debug)]
pub struct TopologicalIndex {
    /// The component.
    pub scc_id: usize,
    /// The discovery order inside the component.
    pub discovery: usize,
}

impl Default for TopologicalIndex {
    fn default() -> Self {
        Self {
            scc_id: usize::MAX,
            discovery: usize::MAX,
        }
    }
}

impl Ord for TopologicalIndex {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.scc_id, self.discovery).cmp(&(other.scc_id, other.discovery))
    }
}

impl PartialOrd for TopologicalIndex {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A basic block of the control-flow graph.
#[derive(Debug)]
pub struct CfgNode {
    /// Its name (a function's, demangled, or `lbb_<pc>`).
    pub label: String,
    /// The blocks that continue into this one.
    pub sources: Vec<usize>,
    /// The blocks this one continues into.
    pub destinations: Vec<usize>,
    /// Its instructions, as indices into [`Analysis::instructions`].
    pub instructions: std::ops::Range<usize>,
    /// Its topological index.
    pub topo_index: TopologicalIndex,
    /// Its immediate dominator.
    pub dominator_parent: usize,
    /// The blocks it immediately dominates.
    pub dominated_children: Vec<usize>,
}

impl Default for CfgNode {
    fn default() -> Self {
        Self {
            label: String::new(),
            sources: Vec::new(),
            destinations: Vec::new(),
            instructions: 0..0,
            topo_index: TopologicalIndex::default(),
            dominator_parent: usize::MAX,
            dominated_children: Vec::new(),
        }
    }
}

/// A node of the data-flow graph: an instruction, or the entry (Φ node) of a block with
/// several predecessors.
#[derive(PartialOrd, Ord, PartialEq, Eq, Hash, Clone, Debug)]
pub enum DfgNode {
    /// The instruction at this slot.
    InstructionNode(usize),
    /// The entry of the block at this slot.
    PhiNode(usize),
}

/// What a data-flow edge carries.
#[derive(PartialOrd, Ord, PartialEq, Eq, Hash, Clone, Debug)]
pub enum DataResource {
    /// A register.
    Register(u8),
    /// Memory (one resource for all of it).
    Memory,
}

/// Whether an edge carries data.
#[derive(PartialOrd, Ord, PartialEq, Eq, Hash, Clone, Debug)]
pub enum DfgEdgeKind {
    /// The destination reads what the source wrote.
    Filled,
    /// The destination overwrites what the source wrote.
    Empty,
}

/// A data-flow edge.
#[derive(PartialOrd, Ord, PartialEq, Eq, Hash, Clone, Debug)]
pub struct DfgEdge {
    /// The writer (or a block entry).
    pub source: DfgNode,
    /// The reader or overwriter.
    pub destination: DfgNode,
    /// Read or overwrite.
    pub kind: DfgEdgeKind,
    /// What flows.
    pub resource: DataResource,
}

/// What the analysis keeps of the executable: enough to name calls and print instructions.
struct Program<'a, C: ContextObject> {
    function_registry: &'a FunctionRegistry<usize>,
    loader: &'a BuiltinProgram<C>,
    sbpf_version: SBPFVersion,
}

/// The executable's parts the analysis needs, without its context type.
trait ProgramView {
    fn disassemble(
        &self,
        insn: &ebpf::Insn,
        pc: usize,
        cfg_nodes: &BTreeMap<usize, CfgNode>,
    ) -> String;
    fn function_pc(&self, key: u32) -> Option<usize>;
}

impl<C: ContextObject> ProgramView for Program<'_, C> {
    fn disassemble(
        &self,
        insn: &ebpf::Insn,
        pc: usize,
        cfg_nodes: &BTreeMap<usize, CfgNode>,
    ) -> String {
        disassemble_instruction(
            insn,
            pc,
            cfg_nodes,
            self.function_registry,
            self.loader,
            self.sbpf_version,
        )
    }

    fn function_pc(&self, key: u32) -> Option<usize> {
        self.function_registry.lookup_by_key(key).map(|(_, pc)| pc)
    }
}

/// The analysis of one executable.
pub struct Analysis<'a> {
    program: Box<dyn ProgramView + 'a>,
    /// The instructions in text order (an `lddw` is one entry with its 64-bit immediate).
    pub instructions: Vec<ebpf::Insn>,
    /// The functions by entry pc: their key and name.
    pub functions: BTreeMap<usize, (u32, String)>,
    /// The basic blocks by first pc.
    pub cfg_nodes: BTreeMap<usize, CfgNode>,
    /// The blocks in topological order.
    pub topological_order: Vec<usize>,
    /// The block execution starts in.
    pub entrypoint: usize,
    /// A virtual block (past the last slot) that leads to every block nothing else reaches.
    pub super_root: usize,
    /// Data-flow edges by source.
    pub dfg_forward_edges: BTreeMap<DfgNode, BTreeSet<DfgEdge>>,
    /// Data-flow edges by destination.
    pub dfg_reverse_edges: BTreeMap<DfgNode, BTreeSet<DfgEdge>>,
}

/// The text's instructions, an `lddw` joined with its second slot (a trailing half `lddw`
/// is dropped), and the number of slots read.
fn instructions_of(text: &[u8]) -> (Vec<ebpf::Insn>, usize) {
    let mut instructions = Vec::with_capacity(text.len() / ebpf::INSN_SIZE);
    let mut pc = 0;
    while ebpf::is_pc_in_program(text, pc) {
        let mut insn = ebpf::get_insn_unchecked(text, pc);
        if insn.opc == ebpf::LD_DW_IMM {
            pc += 1;
            if !ebpf::is_pc_in_program(text, pc) {
                break;
            }
            ebpf::augment_lddw_unchecked(text, &mut insn);
        }
        instructions.push(insn);
        pc += 1;
    }
    (instructions, pc)
}

impl<'a> Analysis<'a> {
    /// Analyses `executable`: blocks, graph, order, dominators, labels, data flow.
    pub fn from_executable<C: ContextObject>(
        executable: &'a Executable<C>,
    ) -> Result<Self, EbpfError> {
        let (_, text) = executable.get_text_bytes();
        let (instructions, super_root) = instructions_of(text);
        let functions = executable
            .get_function_registry()
            .iter()
            .map(|(key, (name, pc))| (pc, (key, String::from_utf8_lossy(name).into_owned())))
            .collect();
        let sbpf_version = executable.get_sbpf_version();
        let mut analysis = Analysis {
            program: Box::new(Program {
                function_registry: executable.get_function_registry(),
                loader: executable.get_loader(),
                sbpf_version,
            }),
            instructions,
            functions,
            cfg_nodes: BTreeMap::new(),
            topological_order: Vec::new(),
            entrypoint: executable.get_entrypoint_instruction_offset(),
            super_root,
            dfg_forward_edges: BTreeMap::new(),
            dfg_reverse_edges: BTreeMap::new(),
        };
        analysis.split_into_basic_blocks(false, sbpf_version);
        analysis.control_flow_graph_tarjan();
        analysis.control_flow_graph_dominance_hierarchy();
        analysis.label_basic_blocks();
        let outputs = analysis.intra_basic_block_data_flow(sbpf_version);
        analysis.inter_basic_block_data_flow(outputs);
        Ok(analysis)
    }

    /// Names the blocks: functions by their demangled name, the rest `lbb_<pc>`, the virtual
    /// root `super_root`.
    pub fn label_basic_blocks(&mut self) {
        for (pc, node) in self.cfg_nodes.iter_mut() {
            node.label = match self.functions.get(pc) {
                Some((_, name)) => rustc_demangle::demangle(name).to_string(),
                None => format!("lbb_{pc}"),
            };
        }
        if let Some(root) = self.cfg_nodes.get_mut(&self.super_root) {
            root.label = "super_root".to_owned();
        }
    }

    /// Writes the label line of the block at `pc`, if one is needed: functions always (after
    /// a blank line unless `suppress_extra_newlines`), other blocks unless their only
    /// predecessor is the block just written (`last_basic_block`).
    pub fn disassemble_label<W: std::io::Write>(
        &self,
        output: &mut W,
        suppress_extra_newlines: bool,
        pc: usize,
        last_basic_block: &mut usize,
    ) -> std::io::Result<()> {
        let Some(node) = self.cfg_nodes.get(&pc) else {
            return Ok(());
        };
        let is_function = self.functions.contains_key(&pc);
        if is_function || node.sources != [*last_basic_block] {
            if is_function && !suppress_extra_newlines {
                writeln!(output)?;
            }
            writeln!(output, "{}:", node.label)?;
        }
        let ends_in_jump = node
            .instructions
            .end
            .checked_sub(1)
            .and_then(|last| self.instructions.get(last))
            .is_some_and(|insn| insn.opc == ebpf::JA);
        *last_basic_block = match ends_in_jump {
            true => usize::MAX,
            false => pc,
        };
        Ok(())
    }

    /// One instruction as text, jump targets by label.
    pub fn disassemble_instruction(&self, insn: &ebpf::Insn, pc: usize) -> String {
        self.program.disassemble(insn, pc, &self.cfg_nodes)
    }

    /// The whole program as assembly, with labels.
    pub fn disassemble<W: std::io::Write>(&self, output: &mut W) -> std::io::Result<()> {
        let mut last_basic_block = usize::MAX;
        for (index, insn) in self.instructions.iter().enumerate() {
            self.disassemble_label(output, index == 0, insn.ptr, &mut last_basic_block)?;
            writeln!(
                output,
                "    {}",
                self.disassemble_instruction(insn, insn.ptr)
            )?;
        }
        Ok(())
    }

    /// A register trace, one line per entry: index, r0..r10, pc and the instruction.
    pub fn disassemble_register_trace<W: std::io::Write>(
        &self,
        output: &mut W,
        register_trace: &[RegisterTraceEntry],
    ) -> Result<(), std::io::Error> {
        let slots = self.instructions.last().map_or(0, |insn| insn.ptr + 2);
        let mut insn_at = vec![0usize; slots];
        for (index, insn) in self.instructions.iter().enumerate() {
            for pc in [insn.ptr, insn.ptr + 1] {
                if let Some(slot) = insn_at.get_mut(pc) {
                    *slot = index;
                }
            }
        }
        for (index, entry) in register_trace.iter().enumerate() {
            let pc = entry[11] as usize;
            let text = insn_at
                .get(pc)
                .and_then(|&index| self.instructions.get(index))
                .map_or_else(String::new, |insn| self.disassemble_instruction(insn, pc));
            writeln!(
                output,
                "{:5?} {:016X?} {:5?}: {}",
                index,
                &entry[0..11],
                pc,
                text
            )?;
        }
        Ok(())
    }

    /// The blocks with the pc range of the function each belongs to.
    pub fn iter_cfg_by_function(
        &self,
    ) -> impl Iterator<Item = (std::ops::Range<usize>, usize, &CfgNode)> + '_ {
        let starts: Vec<usize> = self.functions.keys().copied().collect();
        let end_of_text = self.instructions.last().map_or(0, |insn| insn.ptr + 1);
        self.cfg_nodes.iter().map(move |(start, node)| {
            let index = starts.partition_point(|function| function <= start);
            let function_start = index
                .checked_sub(1)
                .and_then(|index| starts.get(index))
                .copied()
                .unwrap_or(0);
            let function_end = starts.get(index).copied().unwrap_or(end_of_text);
            (function_start..function_end, *start, node)
        })
    }
}
