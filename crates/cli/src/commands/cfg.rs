//! `bpfvm cfg`: the control-flow graph as Graphviz DOT, optionally rendered to SVG.
//!
//! The program is loaded as `disasm` loads it (labels on, not verified), analysed by
//! `bpfvm_analysis`, and written with one cluster per function; each node opens with its
//! block's label as the listing prints it. `-o -` writes the DOT text to stdout (with
//! `--json`, into the document's `dot` field). `--svg` pipes the DOT text through Graphviz's
//! `dot -Tsvg` into the output path with the extension `.svg`; when `dot` is not installed
//! that is a failure naming the missing tool (the DOT file is written first, so it is never
//! lost).

use crate::args::{Format, LoadOptions};
use crate::failure::Failure;
use crate::program_file::{self, ProgramFile};
use crate::schema::{CfgBlock, CfgReport, FunctionEntry, Report};
use bpfvm_analysis::{Analysis, Dominator};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Graphs with more blocks than this take Graphviz minutes to lay out.
const LARGE: usize = 2000;

/// Runs `bpfvm cfg`.
pub fn cfg(
    path: &Path,
    options: &LoadOptions,
    output: &Path,
    svg: bool,
    format: Format,
) -> Result<CfgReport, Failure> {
    let to_stdout = output.as_os_str() == "-";
    if to_stdout && svg {
        return Err(Failure::conflict(
            "--svg",
            "--svg writes next to the DOT file; give -o a file name",
        ));
    }
    let file = ProgramFile::read(path)?;
    let setup = program_file::loader_for(&file, options, |config| {
        config.enable_symbol_and_section_labels = true;
    })?;
    let executable = program_file::executable(&file, &setup)?;
    let analysis = Analysis::new(&executable);
    let dot = analysis.to_dot(None);
    let mut report = CfgReport {
        program: setup.description,
        output: None,
        svg: None,
        dot: None,
        functions: analysis
            .functions()
            .values()
            .map(|f| FunctionEntry {
                pc: f.pc,
                name: f.label.clone(),
            })
            .collect(),
        blocks: blocks(&analysis),
    };
    if to_stdout {
        match format {
            Format::Json => report.dot = Some(dot),
            Format::Text => crate::write_stdout(&dot),
        }
        return Ok(report);
    }
    std::fs::write(output, &dot).map_err(|e| Failure::write(output, &e))?;
    report.output = Some(output.display().to_string());
    if svg {
        let svg_path = output.with_extension("svg");
        if analysis.blocks().len() > LARGE {
            eprintln!(
                "bpfvm: rendering {} blocks with dot; large graphs take minutes",
                analysis.blocks().len()
            );
        }
        render_svg(&dot, &svg_path)?;
        report.svg = Some(svg_path.display().to_string());
    }
    Ok(report)
}

fn blocks(analysis: &Analysis) -> Vec<CfgBlock> {
    analysis
        .blocks()
        .values()
        .map(|block| CfgBlock {
            start: block.start,
            end: block.end,
            label: block.label.clone(),
            function: analysis
                .function_containing(block.start)
                .map_or(0, |f| f.pc),
            successors: block.successors.clone(),
            dominator: match block.dominator {
                Dominator::SuperRoot => None,
                Dominator::Block(pc) => Some(pc),
            },
        })
        .collect()
}

/// Renders DOT text to an SVG file with Graphviz's `dot`.
pub fn render_svg(dot: &str, svg_path: &Path) -> Result<(), Failure> {
    let fail = |message: String| Failure::Tool {
        tool: "dot",
        message,
    };
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .arg("-o")
        .arg(svg_path)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => fail(
                "--svg needs Graphviz's `dot`, which is not installed \
                 (e.g. `apt install graphviz`); the DOT file was written"
                    .to_owned(),
            ),
            _ => fail(format!("cannot run dot: {e}")),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot.as_bytes())
            .map_err(|e| fail(format!("cannot feed dot: {e}")))?;
    }
    let finished = child
        .wait_with_output()
        .map_err(|e| fail(format!("dot failed: {e}")))?;
    if !finished.status.success() {
        return Err(fail(format!(
            "dot failed: {}",
            String::from_utf8_lossy(&finished.stderr).trim()
        )));
    }
    Ok(())
}

impl Report for CfgReport {
    fn text(&self) -> String {
        let Some(output) = &self.output else {
            return String::new();
        };
        let mut message = format!(
            "wrote {output} ({} functions, {} blocks)",
            self.functions.len(),
            self.blocks.len()
        );
        if let Some(svg) = &self.svg {
            message.push_str(&format!(" and {svg}"));
        }
        message.push('\n');
        message
    }
}
