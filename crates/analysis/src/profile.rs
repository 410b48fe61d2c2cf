//! Profiles built from an instruction trace: block edge counts, call stacks and per-function
//! instruction counts.
//!
//! A trace is what the interpreter gives a context with tracing on: one `[r0..r10, pc]` per
//! executed instruction, before it executes. Two things are read from it in one pass:
//!
//! * **Edge counts**, as the reference's `DynamicAnalysis`: each time the traced pc is a block
//!   start, the transition from the previous block start seen to this one is counted. Calls
//!   and returns show up as edges between functions. Besides, the return of a call is
//!   counted on the CFG edge from the calling block to the block after the call (the
//!   "returns"), so that edge shows how often the call came back.
//! * **Call stacks.** The stack starts with the function holding the first traced pc. After a
//!   `call` that resolves to an internal function, or a `callx`, the next traced pc is the
//!   callee's, and the function holding it is pushed; an `exit` pops, unless it is the last
//!   frame's. Every instruction is charged to the stack current when it executes (the call to
//!   the caller, the callee's `exit` to the callee). Stacks are interned in a tree of frames, so
//!   the pass costs O(1) per instruction plus a map look-up per call.
//!
//! From the stacks come the folded output (`entrypoint;function_a;function_b 123`, the format
//! inferno and flamegraph.pl read) and the per-function table: calls, instructions executed in
//! the function itself, and instructions executed while it was on the stack.

use crate::{Analysis, Flow};
use std::collections::BTreeMap;

/// How many trace entries pass between two progress reports.
const PROGRESS_STEP: usize = 1 << 20;

/// Instruction counts of one function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionStats {
    /// How many times it was entered (the first function counts once).
    pub calls: u64,
    /// Instructions executed in its own frames.
    pub self_instructions: u64,
    /// Instructions executed while it was anywhere on the stack (recursion counts once).
    pub total_instructions: u64,
}

/// One node of the call-stack tree.
#[derive(Clone, Debug)]
struct Frame {
    parent: Option<usize>,
    function: usize,
    instructions: u64,
}

/// The profile of one run (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Profile {
    edges: BTreeMap<usize, BTreeMap<usize, u64>>,
    returns: BTreeMap<usize, BTreeMap<usize, u64>>,
    max_edge: u64,
    frames: Vec<Frame>,
    calls: BTreeMap<usize, u64>,
    names: BTreeMap<usize, String>,
    instructions: u64,
}

/// The pass over the trace.
struct Builder<'a> {
    analysis: &'a Analysis,
    profile: Profile,
    children: BTreeMap<(Option<usize>, usize), usize>,
    current: Option<usize>,
    last_block: Option<usize>,
    /// The calling block of every frame above the first.
    call_sites: Vec<Option<usize>>,
    /// The calling block of the frame an `exit` just left.
    returning_to: Option<usize>,
}

impl Builder<'_> {
    /// The frame for `function` called from the current frame, made on first use.
    fn enter(&mut self, function: usize) {
        let key = (self.current, function);
        let frames = &mut self.profile.frames;
        let id = *self.children.entry(key).or_insert_with(|| {
            frames.push(Frame {
                parent: key.0,
                function,
                instructions: 0,
            });
            frames.len() - 1
        });
        *self.profile.calls.entry(function).or_insert(0) += 1;
        self.current = Some(id);
    }

    fn function_of(&self, pc: usize) -> usize {
        self.analysis.function_containing(pc).map_or(0, |f| f.pc)
    }

    fn count_edge(&mut self, pc: usize) {
        let site = self.returning_to.take();
        if !self.analysis.blocks().contains_key(&pc) {
            return;
        }
        if let Some(site) = site {
            let counter = self
                .profile
                .returns
                .entry(site)
                .or_default()
                .entry(pc)
                .or_insert(0);
            *counter += 1;
            self.profile.max_edge = self.profile.max_edge.max(*counter);
        }
        if let Some(from) = self.last_block {
            let counter = self
                .profile
                .edges
                .entry(from)
                .or_default()
                .entry(pc)
                .or_insert(0);
            *counter += 1;
            self.profile.max_edge = self.profile.max_edge.max(*counter);
        }
        self.last_block = Some(pc);
    }

    fn step(&mut self, pc: usize, next: Option<usize>) {
        self.count_edge(pc);
        if self.current.is_none() {
            self.enter(self.function_of(pc));
        }
        if let Some(frame) = self.current.and_then(|id| self.profile.frames.get_mut(id)) {
            frame.instructions += 1;
        }
        self.profile.instructions += 1;
        let flow = self
            .analysis
            .instruction_index(pc)
            .and_then(|index| self.analysis.flows().get(index));
        match (flow, next) {
            (Some(Flow::Call(_) | Flow::CallIndirect), Some(next)) => {
                self.call_sites.push(self.last_block);
                self.enter(self.function_of(next));
            }
            (Some(Flow::Stop), _) => {
                let parent = self
                    .current
                    .and_then(|id| self.profile.frames.get(id))
                    .and_then(|frame| frame.parent);
                if parent.is_some() {
                    self.current = parent;
                    self.returning_to = self.call_sites.pop().flatten();
                }
            }
            _ => {}
        }
    }
}

impl Profile {
    /// Builds the profile of a trace (entries `[r0..r10, pc]`).
    pub fn from_trace(analysis: &Analysis, trace: &[[u64; 12]]) -> Self {
        Self::from_trace_with_progress(analysis, trace, &mut |_, _| {})
    }

    /// As [`Profile::from_trace`], calling `progress(done, total)` every 2^20 entries.
    pub fn from_trace_with_progress(
        analysis: &Analysis,
        trace: &[[u64; 12]],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Self {
        let mut builder = Builder {
            analysis,
            profile: Profile::default(),
            children: BTreeMap::new(),
            current: None,
            last_block: None,
            call_sites: Vec::new(),
            returning_to: None,
        };
        let pc_of = |entry: &[u64; 12]| usize::try_from(entry[11]).unwrap_or(usize::MAX);
        for (index, entry) in trace.iter().enumerate() {
            if index % PROGRESS_STEP == 0 && index > 0 {
                progress(index, trace.len());
            }
            let next = trace.get(index + 1).map(pc_of);
            builder.step(pc_of(entry), next);
        }
        let mut profile = builder.profile;
        profile.names = analysis
            .functions()
            .values()
            .map(|f| (f.pc, f.label.clone()))
            .collect();
        profile
    }

    /// Edge counts: source block start, then destination block start.
    pub fn edges(&self) -> &BTreeMap<usize, BTreeMap<usize, u64>> {
        &self.edges
    }

    /// Returns: calling block, then the block control came back to, with counts.
    pub fn returns(&self) -> &BTreeMap<usize, BTreeMap<usize, u64>> {
        &self.returns
    }

    /// How often control went from block `from` to block `to`.
    pub fn edge_count(&self, from: usize, to: usize) -> u64 {
        self.edges
            .get(&from)
            .and_then(|targets| targets.get(&to))
            .copied()
            .unwrap_or(0)
    }

    /// The largest count of an edge or a return.
    pub fn max_edge_count(&self) -> u64 {
        self.max_edge
    }

    /// The number of traced instructions.
    pub fn instructions(&self) -> u64 {
        self.instructions
    }

    /// The path of function entry pcs from the outermost frame to `frame`.
    fn path(&self, frame: usize) -> Vec<usize> {
        let mut path = Vec::new();
        let mut current = Some(frame);
        while let Some(frame) = current.and_then(|id| self.frames.get(id)) {
            path.push(frame.function);
            current = frame.parent;
        }
        path.reverse();
        path
    }

    /// Instructions by call stack (function entry pcs, outermost first), counting only the
    /// instructions of the innermost function.
    pub fn stacks(&self) -> BTreeMap<Vec<usize>, u64> {
        let mut stacks = BTreeMap::new();
        for (id, frame) in self.frames.iter().enumerate() {
            if frame.instructions > 0 {
                *stacks.entry(self.path(id)).or_insert(0) += frame.instructions;
            }
        }
        stacks
    }

    /// Counts by function entry pc.
    pub fn functions(&self) -> BTreeMap<usize, FunctionStats> {
        let mut stats: BTreeMap<usize, FunctionStats> = BTreeMap::new();
        for (pc, calls) in &self.calls {
            stats.entry(*pc).or_default().calls = *calls;
        }
        for (path, count) in self.stacks() {
            if let Some(innermost) = path.last() {
                stats.entry(*innermost).or_default().self_instructions += count;
            }
            let mut seen: Vec<usize> = Vec::new();
            for pc in path {
                if !seen.contains(&pc) {
                    seen.push(pc);
                    stats.entry(pc).or_default().total_instructions += count;
                }
            }
        }
        stats
    }

    /// A function's name in the outputs: its demangled label with `;` (the folded format's
    /// separator) written as `,`.
    fn name(&self, pc: usize) -> String {
        match self.names.get(&pc) {
            Some(name) => name.replace(';', ","),
            None => format!("function_{pc}"),
        }
    }

    /// The folded stacks, one `outer;inner count` line per distinct stack, sorted.
    pub fn folded(&self) -> String {
        let mut lines: BTreeMap<String, u64> = BTreeMap::new();
        for (path, count) in self.stacks() {
            let names: Vec<String> = path.iter().map(|pc| self.name(*pc)).collect();
            *lines.entry(names.join(";")).or_insert(0) += count;
        }
        lines
            .iter()
            .map(|(stack, count)| format!("{stack} {count}\n"))
            .collect()
    }

    /// The per-function table, most instructions (self) first.
    pub fn function_table(&self) -> String {
        let mut rows: Vec<(usize, FunctionStats)> = self.functions().into_iter().collect();
        rows.sort_by(|a, b| (b.1.self_instructions, a.0).cmp(&(a.1.self_instructions, b.0)));
        let mut out = format!(
            "{:>12} {:>7} {:>12} {:>8}  function\n",
            "self", "self%", "total", "calls"
        );
        for (pc, stats) in rows {
            out.push_str(&format!(
                "{:>12} {:>7} {:>12} {:>8}  {}\n",
                stats.self_instructions,
                percent(stats.self_instructions, self.instructions),
                stats.total_instructions,
                stats.calls,
                self.name(pc)
            ));
        }
        out
    }
}

/// `part / whole` as a percentage with one decimal, in integer arithmetic.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    let tenths = (u128::from(part) * 1000 + u128::from(whole) / 2) / u128::from(whole);
    format!("{}.{}%", tenths / 10, tenths % 10)
}
