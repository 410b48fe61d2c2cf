//! Tidy checks over the engine's own source, run as ordinary tests: structural rules the
//! compiler cannot state. Builds everywhere: no x86 item is named outside the modules that
//! only exist when `cfg(bpfvm_jit)` holds, and every such module is declared behind that
//! gate (so a build without the JIT, which CI makes with `--no-default-features`, compiles
//! exactly what an aarch64 build would).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, as (path relative to `src/`, text).
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path.strip_prefix(&root).unwrap();
                let name = relative.to_string_lossy().replace('\\', "/");
                files.push((name, fs::read_to_string(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The JIT's files that exist in every build (the public surface and the stand-in of a
/// build without the JIT); every other file under `jit/` is compiled only with
/// `cfg(bpfvm_jit)`.
const ALWAYS_COMPILED: [&str; 3] = ["jit/mod.rs", "jit/error.rs", "jit/unavailable.rs"];

/// Whether `file` is compiled only with `cfg(bpfvm_jit)`.
fn gated(file: &str) -> bool {
    file.starts_with("jit/") && !ALWAYS_COMPILED.contains(&file)
}

/// Lines of `text` that are code (not comments).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.starts_with("//"))
}

#[test]
fn x86_items_are_named_only_in_gated_modules() {
    let mut offenders = Vec::new();
    for (file, text) in sources() {
        if gated(&file) {
            continue;
        }
        for (number, line) in code_lines(&text) {
            // Gating goes through `cfg(bpfvm_jit)` (set by build.rs), never a target test.
            for needle in ["bpfvm_x86", "sysv64", "asm!", "#[cfg(target_arch"] {
                if line.contains(needle) {
                    offenders.push(format!("{file}:{number}: {line}"));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "x86 items outside the gated JIT modules:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn every_jit_implementation_module_is_behind_the_gate() {
    let sources = sources();
    let (_, jit) = sources
        .iter()
        .find(|(file, _)| file == "jit/mod.rs")
        .unwrap();
    let lines: Vec<&str> = code_lines(jit).map(|(_, line)| line).collect();
    let mut declared = 0;
    for (index, line) in lines.iter().enumerate() {
        let Some(name) = module_declared(line) else {
            continue;
        };
        declared += 1;
        let file = format!("jit/{name}.rs");
        let previous = index.checked_sub(1).and_then(|i| lines.get(i)).copied();
        let gate = previous.unwrap_or_default();
        let always = ALWAYS_COMPILED.contains(&file.as_str());
        let ok = match (always, name) {
            (true, "unavailable") => gate == "#[cfg(not(bpfvm_jit))]",
            (true, _) => !gate.contains("cfg("),
            (false, _) => gate.contains("bpfvm_jit") && !gate.contains("not("),
        };
        assert!(ok, "jit/mod.rs: `{line}` is gated wrongly (`{gate}`)");
    }
    assert!(
        declared > 5,
        "found only {declared} module declarations in jit/mod.rs"
    );
}

/// The module a `mod name;` line declares (with any visibility), if it is one.
fn module_declared(line: &str) -> Option<&str> {
    let rest = line.strip_suffix(';')?;
    let rest = rest.rsplit_once("mod ")?.1;
    let before = line.split("mod ").next().unwrap_or_default().trim();
    let visibility = ["", "pub", "pub(crate)", "pub(super)"];
    (visibility.contains(&before) && !rest.contains(' ')).then_some(rest)
}
