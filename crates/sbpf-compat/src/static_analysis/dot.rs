//! The control-flow graph as Graphviz DOT: one cluster per function holding its blocks (in
//! dominator-tree order, each a table of its instructions), dotted edges to each block's
//! dominator, and the control-flow edges, weighted by a recorded trace when one is given.

use super::Analysis;
use crate::vm::DynamicAnalysis;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// The longest operand text shown in a cell before it is cut.
const MAX_CELL_CONTENT_LENGTH: usize = 15;

/// `text` with the characters HTML gives meaning escaped.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One instruction as a table row: the mnemonic and the (possibly cut) operands.
fn row(text: &str) -> String {
    match text.split_once(' ') {
        Some((mnemonic, operands)) => {
            let mut operands = operands.to_owned();
            if operands.len() > MAX_CELL_CONTENT_LENGTH + 1 {
                let mut cut = MAX_CELL_CONTENT_LENGTH;
                while !operands.is_char_boundary(cut) {
                    cut -= 1;
                }
                operands.truncate(cut);
                operands.push('…');
            }
            format!(
                "<tr><td align=\"left\">{}</td><td align=\"left\">{}</td></tr>",
                html_escape(mnemonic),
                html_escape(&operands)
            )
        }
        None => format!("<tr><td align=\"left\">{}</td></tr>", html_escape(text)),
    }
}

const HEADER: &str = "digraph {
  graph [
    rankdir=LR;
    concentrate=True;
    style=filled;
    color=lightgrey;
  ];
  node [
    shape=rect;
    style=filled;
    fillcolor=white;
    fontname=\"Courier New\";
  ];
  edge [
    fontname=\"Courier New\";
  ];";

impl Analysis<'_> {
    /// Writes the block at `start` and the blocks it dominates; records trace edges that leave
    /// the function as aliases to draw.
    fn write_block<W: Write>(
        &self,
        output: &mut W,
        dynamic: Option<&DynamicAnalysis>,
        function: &std::ops::Range<usize>,
        aliases: &mut BTreeSet<usize>,
        start: usize,
    ) -> std::io::Result<()> {
        let Some(node) = self.cfg_nodes.get(&start) else {
            return Ok(());
        };
        let rows: String = self
            .instructions
            .get(node.instructions.clone())
            .unwrap_or(&[])
            .iter()
            .map(|insn| row(&self.disassemble_instruction(insn, insn.ptr)))
            .collect();
        writeln!(
            output,
            "    lbb_{start} [label=<<table border=\"0\" cellborder=\"0\" cellpadding=\"3\">{rows}</table>>];"
        )?;
        if let Some(recorded) = dynamic.and_then(|dynamic| dynamic.edges.get(&start)) {
            aliases.extend(recorded.keys().filter(|d| !function.contains(d)));
        }
        for child in &node.dominated_children {
            self.write_block(output, dynamic, function, aliases, *child)?;
        }
        Ok(())
    }

    /// Writes the graph as DOT, with edge counts from `dynamic_analysis` when given.
    pub fn visualize_graphically<W: Write>(
        &self,
        output: &mut W,
        dynamic_analysis: Option<&DynamicAnalysis>,
    ) -> std::io::Result<()> {
        writeln!(output, "{HEADER}")?;
        let starts: Vec<usize> = self.functions.keys().copied().collect();
        let end_of_text = self.instructions.last().map_or(0, |insn| insn.ptr + 1);
        for (position, start) in starts.iter().enumerate() {
            let end = starts.get(position + 1).copied().unwrap_or(end_of_text);
            let mut aliases = BTreeSet::new();
            writeln!(output, "  subgraph cluster_{start} {{")?;
            let label = self
                .cfg_nodes
                .get(start)
                .map_or("", |node| node.label.as_str());
            writeln!(output, "    label={:?};", html_escape(label))?;
            writeln!(output, "    tooltip=lbb_{start};")?;
            self.write_block(
                output,
                dynamic_analysis,
                &(*start..end),
                &mut aliases,
                *start,
            )?;
            for alias in &aliases {
                writeln!(output, "    alias_{start}_lbb_{alias} [")?;
                writeln!(output, "        label=lbb_{alias};")?;
                writeln!(output, "        tooltip=lbb_{alias};")?;
                writeln!(output, "        URL=\"#lbb_{alias}\";")?;
                writeln!(output, "    ];")?;
            }
            writeln!(output, "  }}")?;
        }
        for (function, start, node) in self.iter_cfg_by_function() {
            if start != node.dominator_parent {
                writeln!(
                    output,
                    "  lbb_{start} -> lbb_{} [style=dotted; arrowhead=none];",
                    node.dominator_parent
                )?;
            }
            let mut edges: BTreeMap<usize, usize> =
                node.destinations.iter().map(|d| (*d, 0)).collect();
            if let Some(recorded) = dynamic_analysis.and_then(|dynamic| dynamic.edges.get(&start)) {
                for (destination, count) in recorded {
                    edges.insert(*destination, *count);
                }
            }
            let total: usize = edges.values().sum();
            if total == 0 && !edges.is_empty() {
                let targets: Vec<String> = edges.keys().map(|d| format!("lbb_{d}")).collect();
                writeln!(output, "  lbb_{start} -> {{{}}};", targets.join(" "))?;
            } else if let Some(dynamic) = dynamic_analysis {
                for (destination, count) in edges {
                    write!(output, "  lbb_{start} -> ")?;
                    match function.contains(&destination) {
                        true => write!(output, "lbb_{destination}")?,
                        false => write!(output, "alias_{}_lbb_{destination}", function.start)?,
                    }
                    // The hue runs from 2/3 (never taken) toward 1 (the most taken edge).
                    let hue = count as f32 / (dynamic.edge_counter_max as f32 * 3.0) + 2.0 / 3.0;
                    writeln!(
                        output,
                        " [label=\"{count}\";color=\"{hue} 1.0 {}.0\"];",
                        i32::from(count != 0)
                    )?;
                }
            }
        }
        writeln!(output, "}}")?;
        Ok(())
    }
}
