//! Graphviz DOT output of the CFG, plain or annotated with a [`Profile`].
//!
//! The graph has one cluster per function (`cluster_<entry pc>`, labelled with the function's
//! name) holding the blocks in the function's pc range. A block is a node `lbb_<pc>` whose
//! label is an HTML table: a first row with the block's label as the listing prints it
//! (`lbb_3:`, or the function's name), then one row per instruction: the mnemonic, then the
//! operands cut to 15 characters. Dominator edges are dotted and headless, from a block to its immediate
//! dominator (roots, dominated by the super-root, have none). CFG edges are solid.
//!
//! With a profile, every edge is drawn with its count as label, plus the recorded transitions
//! that are not CFG edges (calls and returns); the edge from a calling block to the block
//! after the call counts the returns of the call. Colours run from blue (rarely taken) to red
//! (the most-taken edge), in Graphviz's HSV notation: hue 2/3 + count / (3 * max), computed in
//! integer thousandths; an edge never taken is black. A recorded edge that leaves the
//! function's range ends at an alias node inside the cluster, named after the destination, so
//! calls and returns do not tangle the clusters.

use crate::{Analysis, Block, Dominator, Profile};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Operands longer than this are cut, as the reference does.
const MAX_CELL: usize = 15;

const HEADER: &str = r#"digraph cfg {
  graph [rankdir=LR; concentrate=true; style=filled; color=lightgrey; fontname="Courier New"];
  node [shape=rect; style=filled; fillcolor=white; fontname="Courier New"];
  edge [fontname="Courier New"];
"#;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One table row: the mnemonic and the (possibly cut) operands.
fn row(text: &str) -> String {
    let cell = |s: &str| format!("<td align=\"left\">{}</td>", escape(s));
    match text.split_once(' ') {
        Some((mnemonic, operands)) => {
            let operands = if operands.chars().count() > MAX_CELL + 1 {
                let cut: String = operands.chars().take(MAX_CELL).collect();
                format!("{cut}…")
            } else {
                operands.to_owned()
            };
            format!("<tr>{}{}</tr>", cell(mnemonic), cell(&operands))
        }
        None => format!("<tr>{}</tr>", cell(text)),
    }
}

/// Graphviz's "H S V" colour of an edge taken `count` times out of a maximum `max`.
fn colour(count: u64, max: u64) -> String {
    if count == 0 || max == 0 {
        return "0.667 1.000 0.000".to_owned();
    }
    let thousandths = (2 * u128::from(max) + u128::from(count)) * 1000 / (3 * u128::from(max));
    format!(
        "{}.{:03} 1.000 1.000",
        thousandths / 1000,
        thousandths % 1000
    )
}

impl Analysis {
    /// The CFG as Graphviz DOT, with edge counts when `profile` is given (module docs).
    pub fn to_dot(&self, profile: Option<&Profile>) -> String {
        let mut out = HEADER.to_owned();
        for function in self.functions().values() {
            let range = self.function_range(function.pc);
            let _ = writeln!(out, "  subgraph cluster_{} {{", function.pc);
            let _ = writeln!(out, "    label=\"{}\";", escape(&function.label));
            let _ = writeln!(out, "    tooltip=\"lbb_{}\";", function.pc);
            let mut aliases = BTreeSet::new();
            for block in self.blocks().range(range.clone()).map(|(_, b)| b) {
                let _ = writeln!(out, "    {}", self.node(block));
                if let Some(profile) = profile {
                    let recorded = profile.edges().get(&block.start);
                    let targets = recorded.into_iter().flat_map(|edges| edges.keys());
                    aliases.extend(
                        targets
                            .chain(&block.successors)
                            .filter(|to| !range.contains(to)),
                    );
                }
            }
            for to in aliases {
                let label = self
                    .blocks()
                    .get(&to)
                    .map_or_else(|| format!("lbb_{to}"), |b| b.label.clone());
                let _ = writeln!(
                    out,
                    "    alias_{}_lbb_{to} [label=\"{}\"; tooltip=\"lbb_{to}\"; style=dashed];",
                    function.pc,
                    escape(&label)
                );
            }
            out.push_str("  }\n");
        }
        for function in self.functions().values() {
            let range = self.function_range(function.pc);
            for block in self.blocks().range(range.clone()).map(|(_, b)| b) {
                if let Dominator::Block(parent) = block.dominator {
                    let _ = writeln!(
                        out,
                        "  lbb_{} -> lbb_{parent} [style=dotted; arrowhead=none];",
                        block.start
                    );
                }
                match profile {
                    None => self.plain_edges(&mut out, block),
                    Some(profile) => self.counted_edges(&mut out, block, profile, &range),
                }
            }
        }
        out.push_str("}\n");
        out
    }

    fn node(&self, block: &Block) -> String {
        let title = format!(
            "<tr><td align=\"left\" colspan=\"2\">{}:</td></tr>",
            escape(&block.label)
        );
        let rows: String = self
            .instructions()
            .get(block.instructions.clone())
            .unwrap_or(&[])
            .iter()
            .map(|decoded| row(&self.format_instruction(decoded)))
            .collect();
        format!(
            "lbb_{} [label=<<table border=\"0\" cellborder=\"0\" cellpadding=\"3\">{title}{rows}</table>>; tooltip=\"{}\"];",
            block.start,
            escape(&block.label)
        )
    }

    fn plain_edges(&self, out: &mut String, block: &Block) {
        for to in &block.successors {
            let _ = writeln!(out, "  lbb_{} -> lbb_{to};", block.start);
        }
    }

    fn counted_edges(
        &self,
        out: &mut String,
        block: &Block,
        profile: &Profile,
        range: &std::ops::Range<usize>,
    ) {
        let mut edges: BTreeMap<usize, u64> = block.successors.iter().map(|to| (*to, 0)).collect();
        let recorded = profile.edges().get(&block.start).into_iter();
        let returned = profile.returns().get(&block.start).into_iter();
        for (to, count) in recorded.chain(returned).flatten() {
            *edges.entry(*to).or_insert(0) += count;
        }
        for (to, count) in edges {
            let target = if range.contains(&to) {
                format!("lbb_{to}")
            } else {
                format!("alias_{}_lbb_{to}", range.start)
            };
            let _ = writeln!(
                out,
                "  lbb_{} -> {target} [label=\"{count}\"; color=\"{}\"];",
                block.start,
                colour(count, profile.max_edge_count())
            );
        }
    }
}
