//! `bpfvm cfg`: the control-flow graph as Graphviz DOT, optionally rendered to SVG.
//!
//! The program is loaded as `disasm` loads it (labels on, not verified), analysed by
//! `bpfvm_analysis`, and written with one cluster per function. `--svg` pipes the DOT text
//! through Graphviz's `dot -Tsvg` into the output path with the extension `.svg`; when `dot`
//! is not installed that is a usage error naming the missing tool (the DOT file is written
//! first, so it is never lost).

use crate::program_file::{self, ProgramFile};
use crate::{LoadOptions, Outcome};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Graphs with more blocks than this take Graphviz minutes to lay out.
const LARGE: usize = 2000;

/// Runs `bpfvm cfg`.
pub fn cfg(path: &Path, options: &LoadOptions, output: &Path, svg: bool) -> Outcome {
    match write(path, options, output, svg) {
        Ok(message) => {
            println!("{message}");
            Outcome::Success
        }
        Err(message) => Outcome::Unusable(message),
    }
}

fn write(path: &Path, options: &LoadOptions, output: &Path, svg: bool) -> Result<String, String> {
    let file = ProgramFile::read(path)?;
    let (loader, dialect) = program_file::loader_for(&file, options, |config| {
        config.enable_symbol_and_section_labels = true;
    })?;
    let executable = program_file::executable(&file, loader, dialect)?;
    let analysis = bpfvm_analysis::Analysis::new(&executable);
    let dot = analysis.to_dot(None);
    std::fs::write(output, &dot).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    let mut message = format!(
        "wrote {} ({} functions, {} blocks)",
        output.display(),
        analysis.functions().len(),
        analysis.blocks().len()
    );
    if svg {
        let svg_path = output.with_extension("svg");
        if analysis.blocks().len() > LARGE {
            eprintln!(
                "bpfvm: rendering {} blocks with dot; large graphs take minutes",
                analysis.blocks().len()
            );
        }
        render_svg(&dot, &svg_path)?;
        message.push_str(&format!(" and {}", svg_path.display()));
    }
    Ok(message)
}

/// Renders DOT text to an SVG file with Graphviz's `dot`.
pub fn render_svg(dot: &str, svg_path: &Path) -> Result<(), String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .arg("-o")
        .arg(svg_path)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "--svg needs Graphviz's `dot`, which is not installed \
                 (e.g. `apt install graphviz`); the DOT file was written"
                .to_owned(),
            _ => format!("cannot run dot: {e}"),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(dot.as_bytes())
            .map_err(|e| format!("cannot feed dot: {e}"))?;
    }
    let finished = child
        .wait_with_output()
        .map_err(|e| format!("dot failed: {e}"))?;
    if !finished.status.success() {
        return Err(format!(
            "dot failed: {}",
            String::from_utf8_lossy(&finished.stderr).trim()
        ));
    }
    Ok(())
}
