//! The data-flow graph. Inside a block, every read of a resource (a register, or memory as a
//! whole) gets an edge from the block's last writer of it, or from the block's entry (its
//! Φ node) when nothing in the block wrote it yet; every write gets an "empty" edge the same
//! way. Between blocks, the edges from a block's entry are moved to the writers its
//! predecessors leave (or their entries), until nothing changes; entries of blocks with one
//! predecessor disappear, those of joins remain.

use super::cfg::JUMPS32;
use super::{Analysis, DataResource, DfgEdge, DfgEdgeKind, DfgNode};
use crate::{ebpf, ebpf::Insn, program::SBPFVersion};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What an instruction reads and writes: registers and memory.
#[derive(Default)]
struct Effects {
    /// Read first, in this order.
    reads: Vec<DataResource>,
    /// Then written, in this order.
    writes: Vec<DataResource>,
}

impl Effects {
    fn read(mut self, resource: DataResource) -> Self {
        self.reads.push(resource);
        self
    }
    fn write(mut self, resource: DataResource) -> Self {
        self.writes.push(resource);
        self
    }
}

/// The registers calls and exits read (r0..r5 and r10), which calls also write.
fn call_registers() -> impl Iterator<Item = DataResource> {
    (0..ebpf::FIRST_SCRATCH_REG as u8)
        .chain([ebpf::FRAME_PTR_REG as u8])
        .map(DataResource::Register)
}

/// The (immediate, register) arithmetic opcodes that read and write dst (and src).
const ALU_READ_WRITE: [(u8, u8); 16] = [
    (ebpf::ADD32_IMM, ebpf::ADD32_REG),
    (ebpf::SUB32_IMM, ebpf::SUB32_REG),
    (ebpf::OR32_IMM, ebpf::OR32_REG),
    (ebpf::AND32_IMM, ebpf::AND32_REG),
    (ebpf::LSH32_IMM, ebpf::LSH32_REG),
    (ebpf::RSH32_IMM, ebpf::RSH32_REG),
    (ebpf::XOR32_IMM, ebpf::XOR32_REG),
    (ebpf::ARSH32_IMM, ebpf::ARSH32_REG),
    (ebpf::ADD64_IMM, ebpf::ADD64_REG),
    (ebpf::SUB64_IMM, ebpf::SUB64_REG),
    (ebpf::OR64_IMM, ebpf::OR64_REG),
    (ebpf::AND64_IMM, ebpf::AND64_REG),
    (ebpf::LSH64_IMM, ebpf::LSH64_REG),
    (ebpf::RSH64_IMM, ebpf::RSH64_REG),
    (ebpf::XOR64_IMM, ebpf::XOR64_REG),
    (ebpf::ARSH64_IMM, ebpf::ARSH64_REG),
];

/// Multiplication, division, remainder before V2.
const MULDIV: [(u8, u8); 6] = [
    (ebpf::MUL32_IMM, ebpf::MUL32_REG),
    (ebpf::DIV32_IMM, ebpf::DIV32_REG),
    (ebpf::MOD32_IMM, ebpf::MOD32_REG),
    (ebpf::MUL64_IMM, ebpf::MUL64_REG),
    (ebpf::DIV64_IMM, ebpf::DIV64_REG),
    (ebpf::MOD64_IMM, ebpf::MOD64_REG),
];

/// V2's product, quotient and remainder class.
const PQR: [(u8, u8); 12] = [
    (ebpf::LMUL32_IMM, ebpf::LMUL32_REG),
    (ebpf::LMUL64_IMM, ebpf::LMUL64_REG),
    (ebpf::UHMUL64_IMM, ebpf::UHMUL64_REG),
    (ebpf::SHMUL64_IMM, ebpf::SHMUL64_REG),
    (ebpf::UDIV32_IMM, ebpf::UDIV32_REG),
    (ebpf::UDIV64_IMM, ebpf::UDIV64_REG),
    (ebpf::SDIV32_IMM, ebpf::SDIV32_REG),
    (ebpf::SDIV64_IMM, ebpf::SDIV64_REG),
    (ebpf::UREM32_IMM, ebpf::UREM32_REG),
    (ebpf::UREM64_IMM, ebpf::UREM64_REG),
    (ebpf::SREM32_IMM, ebpf::SREM32_REG),
    (ebpf::SREM64_IMM, ebpf::SREM64_REG),
];

/// Loads, stores of immediates and stores of registers, in the classes before V2 and in V2's.
const MEMORY: [[[u8; 4]; 3]; 2] = [
    [
        [
            ebpf::LD_B_REG,
            ebpf::LD_H_REG,
            ebpf::LD_W_REG,
            ebpf::LD_DW_REG,
        ],
        [
            ebpf::ST_B_IMM,
            ebpf::ST_H_IMM,
            ebpf::ST_W_IMM,
            ebpf::ST_DW_IMM,
        ],
        [
            ebpf::ST_B_REG,
            ebpf::ST_H_REG,
            ebpf::ST_W_REG,
            ebpf::ST_DW_REG,
        ],
    ],
    [
        [
            ebpf::LD_1B_REG,
            ebpf::LD_2B_REG,
            ebpf::LD_4B_REG,
            ebpf::LD_8B_REG,
        ],
        [
            ebpf::ST_1B_IMM,
            ebpf::ST_2B_IMM,
            ebpf::ST_4B_IMM,
            ebpf::ST_8B_IMM,
        ],
        [
            ebpf::ST_1B_REG,
            ebpf::ST_2B_REG,
            ebpf::ST_4B_REG,
            ebpf::ST_8B_REG,
        ],
    ],
];

/// Whether `opc` is the immediate (`Some(false)`) or register (`Some(true)`) form of a pair.
fn in_pairs(pairs: &[(u8, u8)], opc: u8) -> Option<bool> {
    pairs.iter().find_map(|&(imm, reg)| match opc {
        _ if opc == imm => Some(false),
        _ if opc == reg => Some(true),
        _ => None,
    })
}

/// What `insn` reads and writes in `version`.
fn effects(insn: &Insn, version: SBPFVersion) -> Effects {
    use DataResource::{Memory, Register};
    let (dst, src) = (Register(insn.dst), Register(insn.src));
    let none = Effects::default();
    let [loads, store_imms, store_regs] =
        MEMORY[usize::from(version.move_memory_instruction_classes())];
    let opc = insn.opc;
    if loads.contains(&opc) {
        return none.read(Memory).read(src).write(dst);
    }
    if store_imms.contains(&opc) {
        return none.read(dst).write(Memory);
    }
    if store_regs.contains(&opc) {
        return none.read(src).read(dst).write(Memory);
    }
    let arithmetic = |register: Option<bool>| match register {
        Some(true) => Some(
            Effects::default()
                .read(src.clone())
                .read(dst.clone())
                .write(dst.clone()),
        ),
        Some(false) => Some(Effects::default().read(dst.clone()).write(dst.clone())),
        None => None,
    };
    if version.enable_pqr() {
        if let Some(found) = arithmetic(in_pairs(&PQR, opc)) {
            return found;
        }
    } else if let Some(found) = arithmetic(in_pairs(&MULDIV, opc)) {
        return found;
    }
    if let Some(found) = arithmetic(in_pairs(&ALU_READ_WRITE, opc)) {
        return found;
    }
    let jump = |register: bool| match register {
        true => Effects::default().read(src.clone()).read(dst.clone()),
        false => Effects::default().read(dst.clone()),
    };
    if version.enable_jmp32() && JUMPS32.contains(&opc) {
        return jump(opc & ebpf::BPF_X != 0);
    }
    match opc {
        ebpf::JEQ64_IMM
        | ebpf::JGT64_IMM
        | ebpf::JGE64_IMM
        | ebpf::JLT64_IMM
        | ebpf::JLE64_IMM
        | ebpf::JSET64_IMM
        | ebpf::JNE64_IMM
        | ebpf::JSGT64_IMM
        | ebpf::JSGE64_IMM
        | ebpf::JSLT64_IMM
        | ebpf::JSLE64_IMM => jump(false),
        ebpf::JEQ64_REG
        | ebpf::JGT64_REG
        | ebpf::JGE64_REG
        | ebpf::JLT64_REG
        | ebpf::JLE64_REG
        | ebpf::JSET64_REG
        | ebpf::JNE64_REG
        | ebpf::JSGT64_REG
        | ebpf::JSGE64_REG
        | ebpf::JSLT64_REG
        | ebpf::JSLE64_REG => jump(true),
        ebpf::CALL_REG | ebpf::CALL_IMM => {
            let mut effects = none;
            if opc == ebpf::CALL_REG {
                let target = if version.callx_uses_src_reg() {
                    insn.src
                } else if version.callx_uses_dst_reg() {
                    insn.dst
                } else {
                    insn.imm as u8
                };
                effects = effects.read(Register(target));
            }
            effects.reads.push(Memory);
            effects.writes.push(Memory);
            for register in call_registers() {
                effects.reads.push(register.clone());
                effects.writes.push(register);
            }
            effects
        }
        ebpf::EXIT => {
            let mut effects = none.read(Memory);
            effects.reads.extend(call_registers());
            effects
        }
        ebpf::LD_DW_IMM if !version.disable_lddw() => none.write(dst),
        ebpf::BE => none.read(dst.clone()).write(dst),
        ebpf::NEG32 | ebpf::NEG64 if !version.disable_neg() => none.read(dst.clone()).write(dst),
        ebpf::LE if !version.disable_le() => none.read(dst.clone()).write(dst),
        ebpf::HOR64_IMM if version.disable_lddw() => none.read(dst.clone()).write(dst),
        ebpf::MOV32_IMM | ebpf::MOV64_IMM => none.write(dst),
        ebpf::MOV32_REG | ebpf::MOV64_REG => none.read(src).write(dst),
        _ => none,
    }
}

/// The edges being built, by source, and the last writer of each resource in the block.
struct BlockFlow {
    block: usize,
    edges: BTreeMap<DfgNode, BTreeSet<DfgEdge>>,
    writers: HashMap<DataResource, usize>,
}

impl BlockFlow {
    /// An edge into `insn` for `resource` from its last writer (or the block's entry).
    fn bind(&mut self, insn: &Insn, kind: DfgEdgeKind, resource: DataResource) {
        let source = match self.writers.get(&resource) {
            Some(writer) => DfgNode::InstructionNode(*writer),
            None => DfgNode::PhiNode(self.block),
        };
        if kind == DfgEdgeKind::Empty {
            self.writers.insert(resource.clone(), insn.ptr);
        }
        self.edges
            .entry(source.clone())
            .or_default()
            .insert(DfgEdge {
                source,
                destination: DfgNode::InstructionNode(insn.ptr),
                kind,
                resource,
            });
    }
}

impl Analysis<'_> {
    /// The edges inside every block; returns what each block leaves as last writers.
    pub fn intra_basic_block_data_flow(
        &mut self,
        sbpf_version: SBPFVersion,
    ) -> BTreeMap<usize, HashMap<DataResource, usize>> {
        let mut flow = BlockFlow {
            block: 0,
            edges: BTreeMap::new(),
            writers: HashMap::new(),
        };
        let mut outputs = BTreeMap::new();
        for (start, node) in &self.cfg_nodes {
            flow.block = *start;
            for insn in self
                .instructions
                .get(node.instructions.clone())
                .unwrap_or(&[])
            {
                let Effects { reads, writes } = effects(insn, sbpf_version);
                for resource in reads {
                    flow.bind(insn, DfgEdgeKind::Filled, resource);
                }
                for resource in writes {
                    flow.bind(insn, DfgEdgeKind::Empty, resource);
                }
            }
            outputs.insert(*start, std::mem::take(&mut flow.writers));
        }
        self.dfg_forward_edges = flow.edges;
        outputs
    }

    /// Moves the edges out of block entries to the predecessors' writers until nothing
    /// changes, drops the entries of blocks with one predecessor, and indexes the edges by
    /// destination.
    pub fn inter_basic_block_data_flow(
        &mut self,
        basic_block_outputs: BTreeMap<usize, HashMap<DataResource, usize>>,
    ) {
        let empty = HashMap::new();
        let mut changed = true;
        while changed {
            changed = false;
            for block in self.topological_order.iter().rev() {
                let phi = DfgNode::PhiNode(*block);
                let Some(pending) = self.dfg_forward_edges.get_mut(&phi).map(std::mem::take) else {
                    continue;
                };
                let node = &self.cfg_nodes[block];
                for predecessor in &node.sources {
                    let outputs = basic_block_outputs.get(predecessor).unwrap_or(&empty);
                    for edge in &pending {
                        let (source, from_entry) = match outputs.get(&edge.resource) {
                            Some(writer) => (DfgNode::InstructionNode(*writer), false),
                            None => (DfgNode::PhiNode(*predecessor), true),
                        };
                        let mut edge = edge.clone();
                        if node.sources.len() != 1 {
                            edge.destination = phi.clone();
                        }
                        let inserted = self
                            .dfg_forward_edges
                            .entry(source.clone())
                            .or_default()
                            .insert(edge);
                        if inserted && from_entry && source != phi {
                            changed = true;
                        }
                    }
                }
                let mut pending = pending;
                let reflected = self.dfg_forward_edges.entry(phi).or_default();
                for edge in reflected.iter() {
                    if pending.insert(edge.clone()) {
                        changed = true;
                    }
                }
                std::mem::swap(reflected, &mut pending);
            }
        }
        for (start, node) in &self.cfg_nodes {
            if node.sources.len() == 1 {
                self.dfg_forward_edges.remove(&DfgNode::PhiNode(*start));
            }
        }
        for edges in self.dfg_forward_edges.values() {
            for edge in edges {
                self.dfg_reverse_edges
                    .entry(edge.destination.clone())
                    .or_default()
                    .insert(edge.clone());
            }
        }
    }
}
