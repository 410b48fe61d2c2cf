//! Immediate dominators by the algorithm of Cooper, Harvey and Kennedy ("A Simple, Fast
//! Dominance Algorithm", 2001).
//!
//! Nodes are the blocks plus the synthetic super-root, whose successors are the roots of the
//! ordering; every block is reachable from it. The algorithm visits the blocks in topological
//! order (where a dominator always precedes the blocks it dominates) and sets each block's
//! dominator to the common ancestor, in the dominator tree built so far, of its predecessors
//! that already have one; it repeats until nothing changes. The common ancestor is found by
//! walking two fingers up the tree, always moving the one later in the order.

use crate::order::Ordering;
use crate::{Block, Dominator};
use std::collections::BTreeMap;

/// Dominator tree state by dense index; the super-root is index `n`.
struct Tree {
    /// Position in the order (the super-root is 0, blocks follow).
    rank: Vec<usize>,
    idom: Vec<Option<usize>>,
}

impl Tree {
    fn intersect(&self, mut a: usize, mut b: usize) -> usize {
        let root = self.rank.len() - 1;
        while a != b {
            while self.rank[a] > self.rank[b] {
                a = self.idom[a].unwrap_or(root);
            }
            while self.rank[b] > self.rank[a] {
                b = self.idom[b].unwrap_or(root);
            }
        }
        a
    }
}

/// Fills in `dominator` and `dominated` of every block.
pub(crate) fn compute(blocks: &mut BTreeMap<usize, Block>, ordering: &Ordering) {
    let starts: Vec<usize> = blocks.keys().copied().collect();
    let n = starts.len();
    let index = |pc: &usize| starts.binary_search(pc).ok();
    let mut predecessors: Vec<Vec<usize>> = blocks
        .values()
        .map(|block| block.predecessors.iter().filter_map(index).collect())
        .collect();
    for root in ordering.roots.iter().filter_map(index) {
        predecessors[root].push(n);
    }
    let order: Vec<usize> = ordering.topological.iter().filter_map(index).collect();
    let mut tree = Tree {
        rank: vec![0; n + 1],
        idom: vec![None; n + 1],
    };
    for (position, v) in order.iter().enumerate() {
        tree.rank[*v] = position + 1;
    }
    tree.idom[n] = Some(n);
    let mut changed = true;
    while changed {
        changed = false;
        for &v in &order {
            let mut new = None;
            for &p in &predecessors[v] {
                if tree.idom[p].is_none() {
                    continue;
                }
                new = Some(match new {
                    None => p,
                    Some(current) => tree.intersect(p, current),
                });
            }
            if tree.idom[v] != new {
                tree.idom[v] = new;
                changed = true;
            }
        }
    }
    let dominator_of = |v: usize| match tree.idom[v] {
        Some(d) if d < n => Dominator::Block(starts[d]),
        _ => Dominator::SuperRoot,
    };
    for &v in &order {
        let dominator = dominator_of(v);
        if let Some(block) = blocks.get_mut(&starts[v]) {
            block.dominator = dominator;
        }
        if let Dominator::Block(parent) = dominator {
            if let Some(parent) = blocks.get_mut(&parent) {
                parent.dominated.push(starts[v]);
            }
        }
    }
}
