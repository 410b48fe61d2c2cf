//! The control-flow graph: basic blocks and their edges, strongly connected components in a
//! topological order (Tarjan's algorithm, iteratively) with a virtual root that reaches every
//! component nothing else enters, and the dominator tree (Cooper, Harvey and Kennedy's
//! iterative algorithm over that order).

use super::{Analysis, CfgNode, TopologicalIndex};
use crate::{ebpf, program::SBPFVersion};
use std::collections::BTreeMap;

/// The conditional jumps of every version.
const JUMPS64: [u8; 22] = [
    ebpf::JEQ64_IMM,
    ebpf::JGT64_IMM,
    ebpf::JGE64_IMM,
    ebpf::JLT64_IMM,
    ebpf::JLE64_IMM,
    ebpf::JSET64_IMM,
    ebpf::JNE64_IMM,
    ebpf::JSGT64_IMM,
    ebpf::JSGE64_IMM,
    ebpf::JSLT64_IMM,
    ebpf::JSLE64_IMM,
    ebpf::JEQ64_REG,
    ebpf::JGT64_REG,
    ebpf::JGE64_REG,
    ebpf::JLT64_REG,
    ebpf::JLE64_REG,
    ebpf::JSET64_REG,
    ebpf::JNE64_REG,
    ebpf::JSGT64_REG,
    ebpf::JSGE64_REG,
    ebpf::JSLT64_REG,
    ebpf::JSLE64_REG,
];

/// The 32-bit conditional jumps (V3 and V4).
pub(super) const JUMPS32: [u8; 22] = [
    ebpf::JEQ32_IMM,
    ebpf::JGT32_IMM,
    ebpf::JGE32_IMM,
    ebpf::JLT32_IMM,
    ebpf::JLE32_IMM,
    ebpf::JSET32_IMM,
    ebpf::JNE32_IMM,
    ebpf::JSGT32_IMM,
    ebpf::JSGE32_IMM,
    ebpf::JSLT32_IMM,
    ebpf::JSLE32_IMM,
    ebpf::JEQ32_REG,
    ebpf::JGT32_REG,
    ebpf::JGE32_REG,
    ebpf::JLT32_REG,
    ebpf::JLE32_REG,
    ebpf::JSET32_REG,
    ebpf::JNE32_REG,
    ebpf::JSGT32_REG,
    ebpf::JSGE32_REG,
    ebpf::JSLT32_REG,
    ebpf::JSLE32_REG,
];

/// Whether `opc` is a conditional jump in `version`.
pub(super) fn is_conditional_jump(opc: u8, version: SBPFVersion) -> bool {
    JUMPS64.contains(&opc) || (version.enable_jmp32() && JUMPS32.contains(&opc))
}

/// Tarjan's per-block state.
struct Visit {
    start: usize,
    discovery: usize,
    lowlink: usize,
    scc_id: usize,
    on_stack: bool,
}

impl Analysis<'_> {
    /// The slot a jump at `insn` goes to.
    fn jump_target(insn: &ebpf::Insn) -> usize {
        (insn.ptr as isize + insn.off as isize + 1) as usize
    }

    /// Where a `call imm` goes, if it is an internal call: relative with static syscalls
    /// (src 1), else the function its key names.
    fn call_target(&self, insn: &ebpf::Insn, version: SBPFVersion) -> Option<usize> {
        let key = version.calculate_call_imm_target_pc(insn.ptr, insn.imm);
        match version.static_syscalls() {
            true => (insn.src == 1).then_some(key as usize),
            false => self.program.function_pc(key),
        }
    }

    /// The block ends and the edges leaving them, by the pc of the ending instruction.
    fn block_ends(
        &mut self,
        flatten_call_graph: bool,
        version: SBPFVersion,
    ) -> BTreeMap<usize, Vec<usize>> {
        let mut edges = BTreeMap::new();
        let mut starts = Vec::new();
        for insn in &self.instructions {
            let next = insn.ptr + 1;
            let destinations = match insn.opc {
                ebpf::CALL_IMM => match self.call_target(insn, version) {
                    Some(target) => {
                        starts.extend([next, target]);
                        match flatten_call_graph {
                            true => vec![next, target],
                            false => vec![next],
                        }
                    }
                    None => continue,
                },
                ebpf::CALL_REG => {
                    starts.push(next);
                    match flatten_call_graph {
                        true => vec![next, self.super_root],
                        false => vec![next],
                    }
                }
                ebpf::EXIT => {
                    starts.push(next);
                    Vec::new()
                }
                ebpf::JA => {
                    let target = Self::jump_target(insn);
                    starts.extend([next, target]);
                    vec![target]
                }
                opc if is_conditional_jump(opc, version) => {
                    let target = Self::jump_target(insn);
                    starts.extend([next, target]);
                    vec![next, target]
                }
                _ => continue,
            };
            edges.insert(insn.ptr, destinations);
        }
        for start in starts {
            self.cfg_nodes.entry(start).or_default();
        }
        edges
    }

    /// Splits the instructions into basic blocks and links the edges between them (with
    /// `flatten_call_graph`, calls also lead to their targets and returns back).
    pub fn split_into_basic_blocks(&mut self, flatten_call_graph: bool, sbpf_version: SBPFVersion) {
        self.cfg_nodes.insert(0, CfgNode::default());
        for pc in self.functions.keys() {
            self.cfg_nodes.entry(*pc).or_default();
        }
        let mut edges = self.block_ends(flatten_call_graph, sbpf_version);
        // Blocks start only on instructions.
        let is_instruction = |pc: &usize| {
            self.instructions
                .binary_search_by(|insn| insn.ptr.cmp(pc))
                .is_ok()
        };
        let nodes = std::mem::take(&mut self.cfg_nodes);
        self.cfg_nodes = nodes
            .into_iter()
            .filter(|(pc, _)| is_instruction(pc))
            .collect();
        for destinations in edges.values_mut() {
            destinations.retain(|pc| self.cfg_nodes.contains_key(pc));
        }
        let nodes = &self.cfg_nodes;
        self.functions.retain(|pc, _| nodes.contains_key(pc));
        self.assign_instructions(&edges);
        let links: Vec<(usize, Vec<usize>)> = self
            .cfg_nodes
            .iter()
            .map(|(pc, node)| (*pc, node.destinations.clone()))
            .collect();
        self.link_sources(links);
        if flatten_call_graph {
            self.link_returns();
        }
    }

    /// Gives every block its instructions and its destinations: the edges of its last
    /// instruction, or else the next block (unless the block starts a function).
    fn assign_instructions(&mut self, edges: &BTreeMap<usize, Vec<usize>>) {
        let starts: Vec<usize> = self.cfg_nodes.keys().copied().collect();
        let last_pc = self.instructions.last().map_or(0, |insn| insn.ptr);
        let mut index = 0;
        let mut edge_iter = edges.iter().peekable();
        for (position, start) in starts.iter().enumerate() {
            let next = starts.get(position + 1).copied();
            let end = next.map_or(last_pc, |next| next - 1);
            let first = index;
            while self
                .instructions
                .get(index)
                .is_some_and(|insn| insn.ptr <= end)
            {
                index += 1;
            }
            let is_function = self.functions.contains_key(start);
            let Some(node) = self.cfg_nodes.get_mut(start) else {
                continue;
            };
            node.instructions = first..index;
            if let Some((&source, destinations)) = edge_iter.peek() {
                if source <= end {
                    node.destinations.clone_from(destinations);
                    edge_iter.next();
                    continue;
                }
            }
            if let Some(next) = next {
                if !is_function {
                    node.destinations.push(next);
                }
            }
        }
    }

    /// Records every edge at its destination too; with `replace`, sets the sources'
    /// destinations first.
    fn link_edges(&mut self, links: Vec<(usize, Vec<usize>)>, replace: bool) {
        for (source, destinations) in links {
            if replace {
                if let Some(node) = self.cfg_nodes.get_mut(&source) {
                    node.destinations.clone_from(&destinations);
                }
            }
            for destination in destinations {
                if let Some(node) = self.cfg_nodes.get_mut(&destination) {
                    node.sources.push(source);
                }
            }
        }
    }

    fn link_sources(&mut self, links: Vec<(usize, Vec<usize>)>) {
        self.link_edges(links, false);
    }

    /// With a flattened call graph: a function's returns lead back to after its calls.
    fn link_returns(&mut self) {
        let mut returns = Vec::new();
        let mut after_calls = Vec::new();
        for (start, node) in &self.cfg_nodes {
            if self.functions.contains_key(start) {
                after_calls = node
                    .sources
                    .iter()
                    .filter_map(|caller| self.cfg_nodes.get(caller))
                    .filter_map(|caller| self.instructions.get(caller.instructions.end))
                    .map(|insn| insn.ptr)
                    .collect();
            }
            let ends_in_exit = node
                .instructions
                .end
                .checked_sub(1)
                .and_then(|last| self.instructions.get(last))
                .is_some_and(|insn| insn.opc == ebpf::EXIT);
            if node.destinations.is_empty() && ends_in_exit {
                returns.push((*start, after_calls.clone()));
            }
        }
        self.link_edges(returns, true);
    }

    /// Finds the strongly connected components, orders the blocks topologically, and adds
    /// the virtual root above every component no other component enters.
    pub fn control_flow_graph_tarjan(&mut self) {
        if self.cfg_nodes.is_empty() {
            return;
        }
        let mut visits = self.tarjan();
        for visit in visits.drain(..) {
            if let Some(node) = self.cfg_nodes.get_mut(&visit.start) {
                node.topo_index = TopologicalIndex {
                    scc_id: visit.scc_id,
                    discovery: visit.discovery,
                };
            }
        }
        let mut order: Vec<usize> = self.cfg_nodes.keys().copied().collect();
        order.sort_by(|a, b| {
            self.cfg_nodes[b]
                .topo_index
                .cmp(&self.cfg_nodes[a].topo_index)
        });
        self.topological_order = order;
        self.add_super_root();
    }

    /// Tarjan's algorithm without recursion; blocks are numbered in address order and the
    /// search starts at block 0, then at the next unvisited block.
    fn tarjan(&self) -> Vec<Visit> {
        let index_of: BTreeMap<usize, usize> = self
            .cfg_nodes
            .keys()
            .enumerate()
            .map(|(index, start)| (*start, index))
            .collect();
        let mut visits: Vec<Visit> = self
            .cfg_nodes
            .keys()
            .map(|start| Visit {
                start: *start,
                discovery: usize::MAX,
                lowlink: usize::MAX,
                scc_id: usize::MAX,
                on_stack: false,
            })
            .collect();
        let successors: Vec<Vec<usize>> = self
            .cfg_nodes
            .values()
            .map(|node| {
                node.destinations
                    .iter()
                    .filter_map(|d| index_of.get(d).copied())
                    .collect()
            })
            .collect();
        let mut next_scc = 0;
        let mut scc_stack = Vec::new();
        let mut discovered = 0;
        let mut next_root = 1;
        let mut calls = vec![(0usize, 0usize)];
        'search: while let Some((v, first_edge)) = calls.pop() {
            if first_edge == 0 {
                visits[v].discovery = discovered;
                visits[v].lowlink = discovered;
                visits[v].on_stack = true;
                scc_stack.push(v);
                discovered += 1;
            }
            for (edge, &w) in successors[v].iter().enumerate().skip(first_edge) {
                if visits[w].discovery == usize::MAX {
                    calls.push((v, edge + 1));
                    calls.push((w, 0));
                    continue 'search;
                } else if visits[w].on_stack {
                    visits[v].lowlink = visits[v].lowlink.min(visits[w].discovery);
                }
            }
            if visits[v].discovery == visits[v].lowlink {
                let mut position = 0;
                while let Some(w) = scc_stack.pop() {
                    visits[w].on_stack = false;
                    visits[w].scc_id = next_scc;
                    visits[w].discovery = position;
                    position += 1;
                    if w == v {
                        break;
                    }
                }
                next_scc += 1;
            }
            match calls.last() {
                Some(&(parent, _)) => {
                    visits[parent].lowlink = visits[parent].lowlink.min(visits[v].lowlink);
                }
                None => {
                    while next_root < visits.len() && visits[next_root].discovery != usize::MAX {
                        next_root += 1;
                    }
                    if next_root == visits.len() {
                        break 'search;
                    }
                    calls.push((next_root, 0));
                    next_root += 1;
                }
            }
        }
        visits
    }

    /// Adds the virtual root, leading to the first block (in topological order) of every
    /// component without a source outside itself; those blocks become functions.
    fn add_super_root(&mut self) {
        let mut root = CfgNode {
            instructions: self.instructions.len()..self.instructions.len(),
            ..CfgNode::default()
        };
        let mut first = self.topological_order.first().copied();
        let mut entered = false;
        for (position, v) in self.topological_order.iter().enumerate() {
            let node = &self.cfg_nodes[v];
            let scc = node.topo_index.scc_id;
            entered |= node
                .sources
                .iter()
                .any(|source| self.cfg_nodes[source].topo_index.scc_id != scc);
            let component_ends = self
                .topological_order
                .get(position + 1)
                .is_none_or(|next| self.cfg_nodes[next].topo_index.scc_id != scc);
            if component_ends {
                if let Some(first) = first.filter(|first| !entered && *first != self.super_root) {
                    root.destinations.push(first);
                }
                first = self.topological_order.get(position + 1).copied();
                entered = false;
            }
        }
        for v in &root.destinations {
            if let Some(node) = self.cfg_nodes.get_mut(v) {
                node.sources.push(self.super_root);
            }
            self.functions.entry(*v).or_insert_with(|| {
                let name = format!("function_{v}");
                (ebpf::hash_symbol_name(name.as_bytes()), name)
            });
        }
        self.cfg_nodes.insert(self.super_root, root);
    }

    /// The nearest common dominator of `a` and `b`.
    fn intersect(&self, mut a: usize, mut b: usize) -> usize {
        while a != b {
            match self.cfg_nodes[&a]
                .topo_index
                .cmp(&self.cfg_nodes[&b].topo_index)
            {
                std::cmp::Ordering::Greater => b = self.cfg_nodes[&b].dominator_parent,
                std::cmp::Ordering::Less => a = self.cfg_nodes[&a].dominator_parent,
                std::cmp::Ordering::Equal => break,
            }
        }
        b
    }

    /// Finds every block's immediate dominator (the virtual root dominates itself) and the
    /// dominator tree's children.
    pub fn control_flow_graph_dominance_hierarchy(&mut self) {
        if self.cfg_nodes.is_empty() {
            return;
        }
        if let Some(root) = self.cfg_nodes.get_mut(&self.super_root) {
            root.dominator_parent = self.super_root;
        }
        let order = self.topological_order.clone();
        loop {
            let mut changed = false;
            for b in &order {
                let mut dominator = usize::MAX;
                for p in &self.cfg_nodes[b].sources {
                    if self.cfg_nodes[p].dominator_parent == usize::MAX {
                        continue;
                    }
                    dominator = match dominator {
                        usize::MAX => *p,
                        current => self.intersect(*p, current),
                    };
                }
                if let Some(node) = self.cfg_nodes.get_mut(b) {
                    if node.dominator_parent != dominator {
                        node.dominator_parent = dominator;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        for b in &order {
            let parent = self.cfg_nodes[b].dominator_parent;
            if parent == *b || parent == usize::MAX {
                continue;
            }
            if let Some(node) = self.cfg_nodes.get_mut(&parent) {
                node.dominated_children.push(*b);
            }
        }
    }
}
