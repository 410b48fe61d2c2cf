//! Tidy checks over the engine's own source, run as ordinary tests: structural rules the
//! compiler cannot state.
//!
//! - Builds everywhere: no x86 item is named outside the x86-64 backend (`jit/x64/`), and
//!   every JIT module but the public surface is declared behind `cfg(bpfvm_jit)` (so a
//!   build without the JIT, which CI makes with `--no-default-features`, compiles exactly
//!   what an aarch64 build would).
//! - The JIT's layers: its imports (`use`, and paths through `crate::jit::`, `super::` and
//!   `self::`) form no cycle, and no target-neutral module imports the backend.
//! - `unsafe` appears only in the modules allowed to use it.

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
const ALWAYS_COMPILED: [&str; 4] = [
    "jit/mod.rs",
    "jit/error.rs",
    "jit/loops.rs",
    "jit/unavailable.rs",
];

/// The x86-64 backend: the only place an x86 item may be named.
const X64: &str = "jit/x64/";

/// The files allowed `unsafe` (each block with its `// SAFETY:` comment): calling generated
/// code and the shims it calls back, the host memory accessors, reusable zeroed memory, and
/// the interpreter's threaded dispatch, which fetches without a bound check (the stream's
/// `Overrun` tail), and its handlers, which read the instruction it fetched without
/// checking it again.
const UNSAFE_ALLOWED: [&str; 4] = [
    "jit/x64/entry.rs",
    "interpreter/thread.rs",
    "memory/host.rs",
    "memory/pages.rs",
];

/// Lines of `text` that are code (not comments).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.starts_with("//"))
}

#[test]
fn x86_items_are_named_only_in_the_x64_backend() {
    let mut offenders = Vec::new();
    for (file, text) in sources() {
        if file.starts_with(X64) {
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
        "x86 items outside the x86-64 backend:\n{}",
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

#[test]
fn unsafe_appears_only_where_it_is_allowed() {
    let mut offenders = Vec::new();
    for (file, text) in sources() {
        let allowed = UNSAFE_ALLOWED.contains(&file.as_str());
        let found = tokens(&text).contains(&Token::Ident("unsafe".to_owned()));
        if found && !allowed {
            offenders.push(file);
        }
    }
    assert!(offenders.is_empty(), "`unsafe` in {offenders:?}");
    for file in UNSAFE_ALLOWED {
        let sources = sources();
        let (_, text) = sources.iter().find(|(name, _)| name == file).unwrap();
        assert!(
            text.contains("#![allow(unsafe_code)]") && text.contains("// SAFETY:"),
            "{file} no longer opts in to `unsafe` with its SAFETY comments"
        );
    }
}

#[test]
fn the_jit_imports_run_one_way_and_neutral_modules_never_name_the_backend() {
    let sources = sources();
    let graph = ModuleGraph::of(&sources, "jit/mod.rs", &["jit"]);
    println!("{graph}");
    assert!(
        graph.nodes.len() >= 25,
        "the module tree of jit/ was not found: {graph}"
    );
    // The parser sees what it must: a few edges known to exist.
    for (from, to) in [
        ("jit::compile", "jit::masm"),
        ("jit::x64", "jit::masm"),
        ("jit::x64::ops", "jit::x64::masm"),
        ("jit::api", "jit::x64"),
        ("jit::hoist::tests", "jit::hoist"),
    ] {
        assert!(
            graph.has_edge(from, to),
            "{from} -> {to} not found: {graph}"
        );
    }
    // Every file under jit/ is a module of the tree.
    for (file, _) in &sources {
        if file.starts_with("jit/") {
            assert!(
                graph.nodes.iter().any(|node| &node.file == file),
                "{file} is not declared"
            );
        }
    }
    if let Some(cycle) = graph.cycle() {
        panic!("an import cycle inside jit/: {}", cycle.join(" -> "));
    }
    let offenders = graph.neutral_modules_naming_the_backend();
    assert!(
        offenders.is_empty(),
        "target-neutral modules import the x86-64 backend: {offenders:?}"
    );
}

#[test]
fn the_import_parser_reads_groups_nested_modules_and_finds_cycles() {
    let files = |b_text: &str, c_text: &str| {
        let root =
            "mod a;\nmod b;\n#[cfg(test)]\n#[path = \"c_tests.rs\"]\nmod c;\npub use a::Item;\n";
        let a = "use super::{b::{self, X}, b::Y as Z};\n// use super::c; (a comment)\n\
                 const S: &str = \"super::c::Y\";\npub struct Item;\n";
        vec![
            ("m/mod.rs".to_owned(), root.to_owned()),
            ("m/a.rs".to_owned(), a.to_owned()),
            ("m/b.rs".to_owned(), b_text.to_owned()),
            ("m/c_tests.rs".to_owned(), c_text.to_owned()),
        ]
    };
    let cyclic = files(
        "fn f() { crate::m::c::g(); }\nmod tests {\n    use super::super::a;\n}\n",
        "use super::*;\n",
    );
    let graph = ModuleGraph::of(&cyclic, "m/mod.rs", &["m"]);
    assert!(graph.has_edge("m::a", "m::b"), "{graph}");
    assert!(graph.has_edge("m::b", "m::c"), "{graph}");
    assert!(
        graph.has_edge("m::b", "m::a"),
        "a nested module's `super`: {graph}"
    );
    assert!(
        !graph.has_edge("m::a", "m::c"),
        "comments and strings: {graph}"
    );
    assert!(graph.has_edge("m", "m::a"), "a re-export: {graph}");
    assert!(graph.has_edge("m::c", "m"), "a glob: {graph}");
    assert!(graph.cycle().is_some(), "a -> b -> a is a cycle");
    let one_way = files(
        "pub struct X;\npub struct Y;\n",
        "fn g() -> crate::m::Item {}\n",
    );
    let graph = ModuleGraph::of(&one_way, "m/mod.rs", &["m"]);
    assert!(
        graph.has_edge("m::c", "m::a"),
        "through the re-export: {graph}"
    );
    assert!(!graph.has_edge("m::c", "m"), "{graph}");
    assert_eq!(graph.cycle(), None, "{graph}");
}

/// A token of Rust source, comments and literals removed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// The tokens of `text` that matter to paths: identifiers, `::` and punctuation (comments,
/// string and character literals and lifetimes are dropped).
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while chars.get(i).is_some_and(|c| *c != '\n') {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            '"' => {
                i += 1;
                while let Some(&c) = chars.get(i) {
                    i += if c == '\\' { 2 } else { 1 };
                    if c == '"' {
                        break;
                    }
                }
            }
            '\'' => {
                // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
                let literal = next == Some('\\') || chars.get(i + 2) == Some(&'\'');
                i += 1;
                if literal {
                    while let Some(&c) = chars.get(i) {
                        i += if c == '\\' { 2 } else { 1 };
                        if c == '\'' {
                            break;
                        }
                    }
                }
            }
            ':' if next == Some(':') => {
                out.push(Token::Path);
                i += 2;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_')
                {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            c if c.is_whitespace() || c.is_numeric() => i += 1,
            c => {
                out.push(Token::Punct(c));
                i += 1;
            }
        }
    }
    out
}

/// The path starting after `tokens[i]` (a `::`), with `prefix` before it: every full path
/// it names (a group `{a, b::c}` names several); returns the index after it.
fn path_tail(
    tokens: &[Token],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    while tokens.get(i) == Some(&Token::Path) {
        i += 1;
        match tokens.get(i) {
            Some(Token::Punct('{')) => {
                i += 1;
                loop {
                    match tokens.get(i) {
                        None => return i,
                        Some(Token::Punct('}')) => return i + 1,
                        Some(Token::Punct('*')) => {
                            out.push(prefix.clone());
                            i += 1;
                        }
                        Some(Token::Ident(name)) => {
                            let mut path = prefix.clone();
                            if name != "self" {
                                path.push(name.clone());
                            }
                            i = path_tail(tokens, i + 1, path, out);
                            if tokens.get(i) == Some(&Token::Ident("as".to_owned())) {
                                i += 2;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            Some(Token::Punct('*')) => {
                out.push(prefix);
                return i + 1;
            }
            Some(Token::Ident(name)) => {
                prefix.push(name.clone());
                i += 1;
            }
            _ => break,
        }
    }
    out.push(prefix);
    i
}

/// A module of the tree: its path (`jit::x64::ops`) and its file.
#[derive(Debug)]
struct Node {
    path: Vec<String>,
    file: String,
}

/// The modules of a tree (from a root file) and which import which.
struct ModuleGraph {
    nodes: Vec<Node>,
    /// Per node, the nodes it imports (indices, sorted, without itself).
    edges: Vec<Vec<usize>>,
}

impl ModuleGraph {
    /// The tree declared from `root` (a `mod.rs`, module path `root_path`) in `sources`, and
    /// its import edges.
    fn of(sources: &[(String, String)], root: &str, root_path: &[&str]) -> ModuleGraph {
        let text = |file: &str| {
            sources
                .iter()
                .find(|(name, _)| name == file)
                .map(|(_, text)| text.as_str())
        };
        let mut nodes = Vec::new();
        let mut queue = vec![(
            root_path.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            root.to_owned(),
        )];
        while let Some((path, file)) = queue.pop() {
            let Some(body) = text(&file) else {
                panic!("{file} (module {}) not found", path.join("::"));
            };
            for (name, child) in declared_modules(&file, body) {
                let mut child_path = path.clone();
                child_path.push(name);
                queue.push((child_path, child));
            }
            nodes.push(Node { path, file });
        }
        nodes.sort_by(|a, b| a.path.cmp(&b.path));
        let mut graph = ModuleGraph {
            edges: vec![Vec::new(); nodes.len()],
            nodes,
        };
        for index in 0..graph.nodes.len() {
            let body = text(&graph.nodes[index].file).unwrap_or_default();
            let mut targets: Vec<usize> = graph
                .references(index, body)
                .iter()
                .flat_map(|path| graph.resolve(sources, path, 0))
                .filter(|target| *target != index)
                .collect();
            targets.sort_unstable();
            targets.dedup();
            graph.edges[index] = targets;
        }
        graph
    }

    /// The absolute paths (crate-relative, without `crate`) that `body`, the text of node
    /// `index`, names through `crate::`, `super::`, `self::` or a child module.
    fn references(&self, index: usize, body: &str) -> Vec<Vec<String>> {
        let own = &self.nodes[index].path;
        let children: Vec<&String> = self
            .nodes
            .iter()
            .filter(|node| node.path.len() == own.len() + 1 && node.path.starts_with(own))
            .filter_map(|node| node.path.last())
            .collect();
        let tokens = tokens(body);
        let mut current = own.clone();
        let mut inline: Vec<usize> = Vec::new();
        let mut depth = 0usize;
        let mut found = Vec::new();
        let mut i = 0;
        while let Some(token) = tokens.get(i) {
            let previous = i.checked_sub(1).and_then(|p| tokens.get(p));
            let followed = tokens.get(i + 1) == Some(&Token::Path);
            let starts = previous != Some(&Token::Path) && previous != Some(&Token::Punct('.'));
            let base = match token {
                Token::Ident(word) if followed && starts => match word.as_str() {
                    "crate" => Some(Vec::new()),
                    "self" => Some(current.clone()),
                    "super" => Some(current[..current.len().saturating_sub(1)].to_vec()),
                    name if inline.is_empty() && children.iter().any(|c| *c == name) => {
                        Some(current.clone()).map(|mut path| {
                            path.push(name.to_owned());
                            path
                        })
                    }
                    _ => None,
                },
                Token::Ident(word) if word == "mod" => {
                    if let (Some(Token::Ident(name)), Some(Token::Punct('{'))) =
                        (tokens.get(i + 1), tokens.get(i + 2))
                    {
                        current.push(name.clone());
                        inline.push(depth);
                        depth += 1;
                        i += 3;
                        continue;
                    }
                    None
                }
                Token::Punct('{') => {
                    depth += 1;
                    None
                }
                Token::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    if inline.last() == Some(&depth) {
                        inline.pop();
                        current.pop();
                    }
                    None
                }
                _ => None,
            };
            let Some(base) = base else {
                i += 1;
                continue;
            };
            let mut tails = Vec::new();
            i = path_tail(&tokens, i + 1, Vec::new(), &mut tails);
            for tail in tails {
                let mut path = base.clone();
                let mut rest = tail.as_slice();
                while let Some((first, more)) = rest.split_first() {
                    if first != "super" {
                        break;
                    }
                    path.pop();
                    rest = more;
                }
                path.extend(rest.iter().cloned());
                found.push(path);
            }
        }
        found
    }

    /// The nodes an absolute path names: the module with the longest matching path, or,
    /// for an item a module re-exports, the modules it comes from. Paths outside the tree
    /// name none.
    fn resolve(&self, sources: &[(String, String)], path: &[String], hops: usize) -> Vec<usize> {
        let Some((index, node)) = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| path.starts_with(&node.path))
            .max_by_key(|(_, node)| node.path.len())
        else {
            return Vec::new();
        };
        let item = path.get(node.path.len());
        let body = sources
            .iter()
            .find(|(name, _)| *name == node.file)
            .map(|(_, text)| text.as_str())
            .unwrap_or_default();
        let origins: Vec<usize> = match item {
            Some(item) if hops < 4 => reexports(body)
                .into_iter()
                .filter(|reexport| reexport.last() == Some(item))
                .flat_map(|reexport| {
                    let mut absolute = node.path.clone();
                    let mut rest = reexport.as_slice();
                    if rest.first().map(String::as_str) == Some("super") {
                        absolute.pop();
                        rest = &rest[1..];
                    }
                    absolute.extend(rest.iter().cloned());
                    self.resolve(sources, &absolute, hops + 1)
                })
                .collect(),
            _ => Vec::new(),
        };
        match origins.is_empty() {
            true => vec![index],
            false => origins,
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|node| node.path.join("::") == name)
    }

    fn has_edge(&self, from: &str, to: &str) -> bool {
        match (self.index(from), self.index(to)) {
            (Some(from), Some(to)) => self.edges[from].contains(&to),
            _ => false,
        }
    }

    /// A cycle of imports, as module names, if there is one.
    fn cycle(&self) -> Option<Vec<String>> {
        // 0: not visited, 1: on the current path, 2: done.
        let mut state = vec![0u8; self.nodes.len()];
        let mut path = Vec::new();
        for start in 0..self.nodes.len() {
            if let Some(cycle) = self.visit(start, &mut state, &mut path) {
                return Some(cycle);
            }
        }
        None
    }

    fn visit(&self, node: usize, state: &mut [u8], path: &mut Vec<usize>) -> Option<Vec<String>> {
        match state[node] {
            2 => return None,
            1 => {
                let from = path.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..]
                    .iter()
                    .map(|n| self.nodes[*n].path.join("::"))
                    .collect();
                cycle.push(self.nodes[node].path.join("::"));
                return Some(cycle);
            }
            _ => {}
        }
        state[node] = 1;
        path.push(node);
        for next in &self.edges[node] {
            if let Some(cycle) = self.visit(*next, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state[node] = 2;
        None
    }

    /// Target-neutral modules (all but the backend and the surface that picks it, `api`)
    /// that import a module of the backend.
    fn neutral_modules_naming_the_backend(&self) -> Vec<String> {
        let backend = |path: &[String]| path.get(1).is_some_and(|name| name == "x64");
        let mut offenders = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            let surface = node.path.len() == 2 && node.path[1] == "api";
            if backend(&node.path) || surface {
                continue;
            }
            for target in &self.edges[index] {
                if backend(&self.nodes[*target].path) {
                    offenders.push(format!(
                        "{} -> {}",
                        node.path.join("::"),
                        self.nodes[*target].path.join("::")
                    ));
                }
            }
        }
        offenders
    }
}

impl std::fmt::Display for ModuleGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (node, edges) in self.nodes.iter().zip(&self.edges) {
            let targets: Vec<String> = edges
                .iter()
                .map(|target| self.nodes[*target].path.join("::"))
                .collect();
            writeln!(f, "{} -> {}", node.path.join("::"), targets.join(", "))?;
        }
        Ok(())
    }
}

/// The modules `file` declares with `mod name;` and their files (a `#[path]` attribute
/// before the declaration names the file, relative to `file`'s directory).
fn declared_modules(file: &str, body: &str) -> Vec<(String, String)> {
    let dir = file.rsplit_once('/').map_or("", |(dir, _)| dir);
    let stem = file
        .rsplit('/')
        .next()
        .unwrap_or(file)
        .trim_end_matches(".rs");
    let own_dir = match stem {
        "mod" => dir.to_owned(),
        stem => format!("{dir}/{stem}"),
    };
    let mut attribute_path = None;
    let mut declared = Vec::new();
    for (_, line) in code_lines(body) {
        if let Some(path) = line
            .strip_prefix("#[path = \"")
            .and_then(|rest| rest.strip_suffix("\"]"))
        {
            attribute_path = Some(format!("{dir}/{path}"));
            continue;
        }
        if line.starts_with("#[") {
            continue;
        }
        if let Some(name) = module_declared(line) {
            let child = attribute_path.take().unwrap_or_else(|| {
                let flat = format!("{own_dir}/{name}.rs");
                let nested = format!("{own_dir}/{name}/mod.rs");
                if Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("src")
                    .join(&nested)
                    .exists()
                {
                    nested
                } else {
                    flat
                }
            });
            declared.push((name.to_owned(), child));
        }
        attribute_path = None;
    }
    declared
}

/// The paths `body` re-exports (`pub use`, `pub(crate) use`, `pub(super) use`), relative to
/// its module.
fn reexports(body: &str) -> Vec<Vec<String>> {
    let tokens = tokens(body);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        let public = *token == Token::Ident("pub".to_owned());
        let mut next = i + 1;
        if public && tokens.get(next) == Some(&Token::Punct('(')) {
            next += 3;
        }
        if public && tokens.get(next) == Some(&Token::Ident("use".to_owned())) {
            if let Some(Token::Ident(first)) = tokens.get(next + 1) {
                i = path_tail(&tokens, next + 2, vec![first.clone()], &mut out);
                continue;
            }
        }
        i += 1;
    }
    out
}
