//! The topological order of the CFG and its roots, by an iterative Tarjan SCC pass.
//!
//! Tarjan's algorithm completes strongly connected components in reverse topological order,
//! so the order is the list of components reversed, each component's blocks in the order the
//! depth-first search discovered them (its entry first). The search starts at the first
//! block (pc 0) and restarts at every block not yet discovered, in pc order; successors are
//! visited in edge order. Recursion is replaced by an explicit stack, so deep CFGs cannot
//! overflow the host stack.
//!
//! The roots are the entries of the components no block outside them enters: the successors
//! of the synthetic super-root that the dominator pass starts from.

use crate::Block;
use std::collections::BTreeMap;

/// The outcome of the ordering.
pub(crate) struct Ordering {
    /// Block starts in topological order.
    pub topological: Vec<usize>,
    /// Root block starts, in topological order.
    pub roots: Vec<usize>,
}

/// Per-block state of the search, by dense index.
struct Search {
    discovery: Vec<Option<usize>>,
    lowlink: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    discovered: usize,
    /// Completed components, each in discovery order.
    components: Vec<Vec<usize>>,
}

impl Search {
    fn discover(&mut self, v: usize) {
        self.discovery[v] = Some(self.discovered);
        self.lowlink[v] = self.discovered;
        self.discovered += 1;
        self.on_stack[v] = true;
        self.stack.push(v);
    }

    /// Pops the component whose entry is `v` (its discovery equals its lowlink).
    fn complete(&mut self, v: usize) {
        let mut component = Vec::new();
        while let Some(w) = self.stack.pop() {
            self.on_stack[w] = false;
            component.push(w);
            if w == v {
                break;
            }
        }
        component.reverse();
        self.components.push(component);
    }

    fn run_from(&mut self, start: usize, successors: &[Vec<usize>]) {
        self.discover(start);
        let mut frames = vec![(start, 0usize)];
        while let Some(&(v, edge)) = frames.last() {
            if let Some(&w) = successors.get(v).and_then(|s| s.get(edge)) {
                if let Some(frame) = frames.last_mut() {
                    frame.1 += 1;
                }
                match self.discovery[w] {
                    None => {
                        self.discover(w);
                        frames.push((w, 0));
                    }
                    Some(d) if self.on_stack[w] => self.lowlink[v] = self.lowlink[v].min(d),
                    Some(_) => {}
                }
                continue;
            }
            frames.pop();
            if Some(self.lowlink[v]) == self.discovery[v] {
                self.complete(v);
            }
            if let Some(&(parent, _)) = frames.last() {
                self.lowlink[parent] = self.lowlink[parent].min(self.lowlink[v]);
            }
        }
    }
}

/// Orders the blocks and finds the roots.
pub(crate) fn order(blocks: &BTreeMap<usize, Block>) -> Ordering {
    let starts: Vec<usize> = blocks.keys().copied().collect();
    let index = |pc: &usize| starts.binary_search(pc).ok();
    let successors: Vec<Vec<usize>> = blocks
        .values()
        .map(|block| block.successors.iter().filter_map(index).collect())
        .collect();
    let predecessors: Vec<Vec<usize>> = blocks
        .values()
        .map(|block| block.predecessors.iter().filter_map(index).collect())
        .collect();
    let n = starts.len();
    let mut search = Search {
        discovery: vec![None; n],
        lowlink: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        discovered: 0,
        components: Vec::new(),
    };
    for v in 0..n {
        if search.discovery[v].is_none() {
            search.run_from(v, &successors);
        }
    }
    let mut component_of = vec![0; n];
    for (id, component) in search.components.iter().enumerate() {
        for v in component {
            component_of[*v] = id;
        }
    }
    let mut topological = Vec::with_capacity(n);
    let mut roots = Vec::new();
    for (id, component) in search.components.iter().enumerate().rev() {
        let entered = component.iter().any(|v| {
            predecessors
                .get(*v)
                .is_some_and(|ps| ps.iter().any(|p| component_of[*p] != id))
        });
        if !entered {
            roots.extend(component.first().map(|v| starts[*v]));
        }
        topological.extend(component.iter().map(|v| starts[*v]));
    }
    Ordering { topological, roots }
}
