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
//!
//! The pass is incremental ([`ProfileBuilder::step`] takes one pc at a time), so a host can
//! build the profile while the program runs instead of keeping the trace: its memory is then
//! bounded by the program, never by the length of the run. For hostile programs the bound is
//! explicit: at most [`MAX_STACKS`] distinct stacks (further new stacks share one frame,
//! [`OTHER_STACKS`]), [`MAX_EDGES`] distinct edges and returns (transitions over further new
//! edges are only counted), and calls followed [`MAX_DEPTH`] deep.

use crate::{Analysis, Flow};
use std::collections::BTreeMap;

/// How many trace entries pass between two progress reports.
const PROGRESS_STEP: usize = 1 << 20;

/// The most distinct call stacks a profile keeps apart; later new stacks share one frame,
/// named [`OTHER_STACKS`].
pub const MAX_STACKS: usize = 1 << 16;

/// The most distinct edges (and returns) a profile counts; transitions over further new edges
/// are counted in [`Profile::untracked_transitions`] only.
pub const MAX_EDGES: usize = 1 << 18;

/// The deepest call stack a profile follows; calls below it are charged to the frame at this
/// depth (the VM's own limit is far lower).
pub const MAX_DEPTH: usize = 1 << 12;

/// The name of the shared frame of the stacks beyond [`MAX_STACKS`].
pub const OTHER_STACKS: &str = "[other stacks]";

/// The function "pc" of the shared frame of the stacks beyond [`MAX_STACKS`].
const OTHER: usize = usize::MAX;

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
    distinct_edges: usize,
    untracked: u64,
    max_edge: u64,
    frames: Vec<Frame>,
    calls: BTreeMap<usize, u64>,
    names: BTreeMap<usize, String>,
    instructions: u64,
}

/// A frame on the live call stack.
#[derive(Clone, Copy, Debug)]
struct Live {
    frame: usize,
    /// The calling block (none for the first frame).
    call_site: Option<usize>,
}

/// Builds a [`Profile`] one traced pc at a time, in memory bounded by the program (and by
/// [`MAX_STACKS`], [`MAX_EDGES`] and [`MAX_DEPTH`]), never by the length of the run: the
/// streaming form of [`Profile::from_trace`] for hosts that do not keep the trace.
#[derive(Clone, Debug, Default)]
pub struct ProfileBuilder {
    profile: Profile,
    children: BTreeMap<(Option<usize>, usize), usize>,
    stack: Vec<Live>,
    /// Calls followed below [`MAX_DEPTH`], not on `stack`.
    hidden_depth: usize,
    last_block: Option<usize>,
    /// The calling block of the frame an `exit` just left.
    returning_to: Option<usize>,
    /// The previous instruction was a call: the next pc is the callee's.
    pending_call: bool,
}

/// Adds one to `map[from][to]` when the edge is counted already or there is room for it.
fn count(
    map: &mut BTreeMap<usize, BTreeMap<usize, u64>>,
    distinct: &mut usize,
    from: usize,
    to: usize,
) -> Option<u64> {
    let targets = map.entry(from).or_default();
    if let Some(counter) = targets.get_mut(&to) {
        *counter += 1;
        return Some(*counter);
    }
    if *distinct >= MAX_EDGES {
        if targets.is_empty() {
            map.remove(&from);
        }
        return None;
    }
    *distinct += 1;
    targets.insert(to, 1);
    Some(1)
}

impl ProfileBuilder {
    /// An empty profile.
    pub fn new() -> Self {
        Self::default()
    }

    /// The frame for `function` called from the current frame, made on first use (or the
    /// shared frame of other stacks, once [`MAX_STACKS`] exist).
    fn frame_for(&mut self, function: usize) -> usize {
        let parent = self.stack.last().map(|live| live.frame);
        if let Some(&id) = self.children.get(&(parent, function)) {
            return id;
        }
        let frames = &mut self.profile.frames;
        if frames.len() >= MAX_STACKS {
            return self.other_frame();
        }
        frames.push(Frame {
            parent,
            function,
            instructions: 0,
        });
        let id = frames.len() - 1;
        self.children.insert((parent, function), id);
        id
    }

    /// The shared frame of the stacks beyond [`MAX_STACKS`] (one more frame than the cap).
    fn other_frame(&mut self) -> usize {
        if let Some(&id) = self.children.get(&(None, OTHER)) {
            return id;
        }
        self.profile.frames.push(Frame {
            parent: None,
            function: OTHER,
            instructions: 0,
        });
        let id = self.profile.frames.len() - 1;
        self.children.insert((None, OTHER), id);
        id
    }

    /// Enters `function`, called from `call_site`.
    fn enter(&mut self, function: usize, call_site: Option<usize>) {
        *self.profile.calls.entry(function).or_insert(0) += 1;
        if self.stack.len() >= MAX_DEPTH {
            self.hidden_depth += 1;
            return;
        }
        let frame = self.frame_for(function);
        self.stack.push(Live { frame, call_site });
    }

    /// Leaves the current frame, unless it is the first.
    fn leave(&mut self) {
        if self.hidden_depth > 0 {
            self.hidden_depth -= 1;
            return;
        }
        if self.stack.len() > 1 {
            self.returning_to = self.stack.pop().and_then(|live| live.call_site);
        }
    }

    fn count_edge(&mut self, analysis: &Analysis, pc: usize) {
        let site = self.returning_to.take();
        if !analysis.blocks().contains_key(&pc) {
            return;
        }
        let profile = &mut self.profile;
        let transitions = [
            site.map(|site| (&mut profile.returns, site)),
            self.last_block.map(|from| (&mut profile.edges, from)),
        ];
        for (map, from) in transitions.into_iter().flatten() {
            match count(map, &mut profile.distinct_edges, from, pc) {
                Some(counter) => profile.max_edge = profile.max_edge.max(counter),
                None => profile.untracked += 1,
            }
        }
        self.last_block = Some(pc);
    }

    /// Records the instruction at `pc`, the next one the run executed.
    pub fn step(&mut self, analysis: &Analysis, pc: usize) {
        let function_of = |pc: usize| analysis.function_containing(pc).map_or(0, |f| f.pc);
        if std::mem::take(&mut self.pending_call) {
            self.enter(function_of(pc), self.last_block);
        }
        self.count_edge(analysis, pc);
        if self.stack.is_empty() {
            self.enter(function_of(pc), None);
        }
        if let Some(frame) = self
            .stack
            .last()
            .and_then(|live| self.profile.frames.get_mut(live.frame))
        {
            frame.instructions += 1;
        }
        self.profile.instructions += 1;
        let flow = analysis
            .instruction_index(pc)
            .and_then(|index| analysis.flows().get(index));
        match flow {
            Some(Flow::Call(_) | Flow::CallIndirect) => self.pending_call = true,
            Some(Flow::Stop) => self.leave(),
            Some(Flow::Next | Flow::Jump(_) | Flow::Branch(_)) | None => {}
        }
    }

    /// The profile of the pcs recorded so far, with the analysis's function names.
    pub fn finish(self, analysis: &Analysis) -> Profile {
        let mut profile = self.profile;
        profile.names = analysis
            .functions()
            .values()
            .map(|f| (f.pc, f.label.clone()))
            .collect();
        profile
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
        let mut builder = ProfileBuilder::new();
        for (index, entry) in trace.iter().enumerate() {
            if index % PROGRESS_STEP == 0 && index > 0 {
                progress(index, trace.len());
            }
            builder.step(analysis, usize::try_from(entry[11]).unwrap_or(usize::MAX));
        }
        builder.finish(analysis)
    }

    /// Transitions not counted because [`MAX_EDGES`] distinct edges and returns were counted
    /// already (0 for any program of ordinary size).
    pub fn untracked_transitions(&self) -> u64 {
        self.untracked
    }

    /// Instructions charged to the shared frame of the stacks beyond [`MAX_STACKS`].
    pub fn other_stack_instructions(&self) -> u64 {
        self.frames
            .iter()
            .filter(|frame| frame.function == OTHER)
            .map(|frame| frame.instructions)
            .sum()
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
            None if pc == OTHER => OTHER_STACKS.to_owned(),
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
