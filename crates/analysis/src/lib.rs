//! Static and dynamic analysis of BPF programs: what a developer reaches for after "it runs".
//!
//! [`Analysis`] decodes a program once and derives, in this order:
//!
//! 1. **Basic blocks** (`blocks.rs`). A block starts at pc 0, at every function entry, at every
//!    jump target, after every jump (its fall-through), after `exit` and `callx`, and after a
//!    `call` that resolves to an internal function or to the syscall named "abort" (which ends
//!    its block like `exit`). Other syscalls do not split a block. Starts that are not
//!    instruction starts (past the end, inside an `lddw`) are dropped.
//! 2. **Edges.** A conditional jump has two successors (fall-through first, then the target),
//!    `ja` one, `exit` and "abort" none; every other block falls through to the next block,
//!    unless that block is a function entry: calls are not edges, so the graph is one
//!    intra-procedural CFG per function. Edges form a multigraph: `jeq r1, 0, +0` gives its
//!    block two edges to the same successor, one per way out.
//! 3. **Topological order** (`order.rs`): the strongly connected components of an iterative
//!    Tarjan pass, started at the block of pc 0 and then at every block not yet seen in pc
//!    order, listed from sources to sinks; inside a component, blocks come in discovery
//!    order. A synthetic **super-root** precedes everything: its successors (the roots) are
//!    the first block of every component that no block outside it enters. A root without a
//!    registered name becomes a function named `function_<pc>`.
//! 4. **Dominators** (`dominators.rs`), by the iterative algorithm of Cooper, Harvey and
//!    Kennedy over the topological order, with the super-root as the start node.
//! 5. **Labels**: a function entry is labelled with its demangled name (rustc-demangle), any
//!    other block `lbb_<pc>`.
//!
//! These follow the reference's `Analysis` (reference §12) with one deliberate difference:
//! the reference decides "falls through unless ..." by whether the block *itself* starts a
//! function, so a function's first block never falls through; its successor (typically a loop
//! head) then has no predecessor and becomes a root named `function_<pc>`. Here a block falls
//! through unless the *next* block starts a function, so the loop head stays `lbb_<pc>`,
//! dominated by the function's first block. The reference also keeps the fall-through edge of
//! a call or a conditional jump into a following function; here it is dropped like any other
//! fall-through into a function. Block starts are the same in both (tests/reference.rs).
//!
//! On top of the analysis: the labelled listing (`listing.rs`), Graphviz output (`dot.rs`) and
//! profiles built from an instruction trace (`profile.rs`). Everything is deterministic: only
//! `BTreeMap`s and `Vec`s, no floats.

mod blocks;
mod dominators;
mod dot;
mod listing;
mod order;
mod profile;

pub use blocks::Flow;
pub use profile::{
    FunctionStats, Profile, ProfileBuilder, MAX_DEPTH, MAX_EDGES, MAX_STACKS, OTHER_STACKS,
};

use bpfvm::Executable;
use bpfvm_asm::SymbolTable;
use bpfvm_isa::{decode_program, Decoded, Dialect, Slot};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

/// One basic block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The first slot.
    pub start: usize,
    /// One past the last slot (an `lddw` at the end counts two).
    pub end: usize,
    /// The block's instructions, as indices into [`Analysis::instructions`].
    pub instructions: Range<usize>,
    /// The start pcs of the successor blocks, one entry per edge.
    pub successors: Vec<usize>,
    /// The start pcs of the predecessor blocks, one entry per edge, in pc order of the
    /// source. The super-root is not listed (see [`Analysis::roots`]).
    pub predecessors: Vec<usize>,
    /// The immediate dominator.
    pub dominator: Dominator,
    /// The blocks this one immediately dominates, in topological order.
    pub dominated: Vec<usize>,
    /// A function's demangled name, or `lbb_<pc>`.
    pub label: String,
}

/// The immediate dominator of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dominator {
    /// The synthetic super-root: the block is a root.
    SuperRoot,
    /// The block starting at this pc.
    Block(usize),
}

/// Where a function's entry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionOrigin {
    /// The program's function registry (or the symbol table given).
    Registered,
    /// A root of the ordering that no registered function starts: code nothing enters.
    Root,
}

/// One function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// The entry pc.
    pub pc: usize,
    /// The name as registered (mangled), or `function_<pc>`.
    pub name: String,
    /// The demangled name.
    pub label: String,
    /// Where the entry came from.
    pub origin: FunctionOrigin,
}

/// The static analysis of one program (see the crate docs).
#[derive(Clone, Debug)]
pub struct Analysis {
    dialect: Dialect,
    symbols: SymbolTable,
    instructions: Vec<Decoded>,
    flows: Vec<Flow>,
    blocks: BTreeMap<usize, Block>,
    functions: BTreeMap<usize, Function>,
    topological_order: Vec<usize>,
    roots: Vec<usize>,
    entry_pc: usize,
}

/// The names an executable gives its functions and syscalls, for the analysis and the
/// disassembler. Functions registered without a name are called `function_<pc>`.
pub fn symbol_table<C>(executable: &Executable<C>) -> SymbolTable {
    let mut table = SymbolTable::default();
    for (key, syscall) in executable.loader().syscalls.iter() {
        table.syscalls.insert(key, syscall.name.clone());
    }
    for (key, function) in executable.functions().iter() {
        table.function_keys.insert(key, function.pc);
        let name = if function.name.is_empty() {
            format!("function_{}", function.pc)
        } else {
            function.name.clone()
        };
        table.functions.insert(function.pc, name);
    }
    table
}

impl Analysis {
    /// Analyses a loaded executable: its text, function registry and syscall names.
    pub fn new<C>(executable: &Executable<C>) -> Self {
        Self::from_text(
            executable.text(),
            executable.dialect(),
            symbol_table(executable),
            executable.entry_pc(),
        )
    }

    /// Analyses raw text. `symbols.functions` are the function entries (pc to name);
    /// a `call` immediate names a function through `symbols.function_keys`, or is the pc of a
    /// listed function itself (static syscalls, assembler output). A trailing partial slot is
    /// ignored.
    pub fn from_text(text: &[u8], dialect: Dialect, symbols: SymbolTable, entry_pc: usize) -> Self {
        let instructions = decode_program(&Slot::slots_of(text), dialect);
        let flows: Vec<Flow> = instructions
            .iter()
            .map(|decoded| blocks::flow(decoded, dialect, &symbols))
            .collect();
        let starts: BTreeSet<usize> = instructions.iter().map(|d| d.pc).collect();
        let registered: BTreeSet<usize> = symbols
            .functions
            .keys()
            .copied()
            .filter(|pc| starts.contains(pc))
            .collect();
        let mut blocks = blocks::split(&instructions, &flows, &registered);
        let ordering = order::order(&blocks);
        dominators::compute(&mut blocks, &ordering);
        let mut functions = BTreeMap::new();
        for pc in &registered {
            let name = symbols.functions.get(pc).cloned().unwrap_or_default();
            functions.insert(*pc, function(*pc, name, FunctionOrigin::Registered));
        }
        for pc in &ordering.roots {
            functions
                .entry(*pc)
                .or_insert_with(|| function(*pc, format!("function_{pc}"), FunctionOrigin::Root));
        }
        for (pc, block) in blocks.iter_mut() {
            block.label = match functions.get(pc) {
                Some(function) => function.label.clone(),
                None => format!("lbb_{pc}"),
            };
        }
        Analysis {
            dialect,
            symbols,
            instructions,
            flows,
            blocks,
            functions,
            topological_order: ordering.topological,
            roots: ordering.roots,
            entry_pc,
        }
    }

    /// The dialect the program was decoded in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The names the analysis was given.
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Every instruction, in pc order (`lddw` is one entry; a slot that does not decode is an
    /// entry of its own).
    pub fn instructions(&self) -> &[Decoded] {
        &self.instructions
    }

    /// How control leaves each instruction, parallel to [`Analysis::instructions`].
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// The index into [`Analysis::instructions`] of the instruction starting at `pc`.
    pub fn instruction_index(&self, pc: usize) -> Option<usize> {
        self.instructions.binary_search_by_key(&pc, |d| d.pc).ok()
    }

    /// The basic blocks by start pc.
    pub fn blocks(&self) -> &BTreeMap<usize, Block> {
        &self.blocks
    }

    /// The block containing `pc`.
    pub fn block_containing(&self, pc: usize) -> Option<&Block> {
        self.blocks
            .range(..=pc)
            .next_back()
            .map(|(_, block)| block)
            .filter(|block| pc < block.end)
    }

    /// The functions by entry pc: the registered ones that start an instruction, plus the
    /// roots found by the ordering.
    pub fn functions(&self) -> &BTreeMap<usize, Function> {
        &self.functions
    }

    /// The function whose pc range holds `pc`: the one with the greatest entry at or below it
    /// (functions are contiguous ranges, up to the next entry).
    pub fn function_containing(&self, pc: usize) -> Option<&Function> {
        self.functions.range(..=pc).next_back().map(|(_, f)| f)
    }

    /// The pc range of the function entered at `entry`: up to the next function's entry or
    /// the end of the text.
    pub fn function_range(&self, entry: usize) -> Range<usize> {
        let end = self
            .functions
            .range(entry.saturating_add(1)..)
            .next()
            .map_or(self.text_end(), |(pc, _)| *pc);
        entry..end
    }

    /// One past the last slot of the text.
    pub fn text_end(&self) -> usize {
        self.blocks
            .values()
            .next_back()
            .map_or(0, |block| block.end)
    }

    /// Block start pcs in topological order (see the crate docs).
    pub fn topological_order(&self) -> &[usize] {
        &self.topological_order
    }

    /// The super-root's successors, in topological order.
    pub fn roots(&self) -> &[usize] {
        &self.roots
    }

    /// The entry pc of the program.
    pub fn entry_pc(&self) -> usize {
        self.entry_pc
    }

    /// Whether block `a` dominates block `b` (every block dominates itself). False when
    /// either is not a block start.
    pub fn dominates(&self, a: usize, b: usize) -> bool {
        let mut current = b;
        // The chain climbs the topological order, so it is at most one step per block.
        for _ in 0..=self.blocks.len() {
            if current == a {
                return self.blocks.contains_key(&a);
            }
            match self.blocks.get(&current).map(|block| block.dominator) {
                Some(Dominator::Block(parent)) if parent != current => current = parent,
                _ => return false,
            }
        }
        false
    }
}

fn function(pc: usize, name: String, origin: FunctionOrigin) -> Function {
    let label = rustc_demangle::demangle(&name).to_string();
    Function {
        pc,
        name,
        label,
        origin,
    }
}
