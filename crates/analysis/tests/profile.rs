//! Profiles of real interpreter runs (folded stacks, the function table, edge counts) and the
//! structure of the DOT output.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::{verify, Backend, Config, Executable, FunctionRegistry, Loader, TestContext, Vm};
use bpfvm_analysis::{Analysis, Profile, ProfileBuilder, MAX_EDGES, MAX_STACKS, OTHER_STACKS};
use bpfvm_asm::{assemble, Dialect};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Assembles `source` (default config: keys are pcs), runs it with tracing on and returns the
/// analysis, the trace and the instruction count.
fn run(source: &str) -> (Analysis, Vec<[u64; 12]>, u64) {
    let assembled = assemble(source, Dialect::Sbpf).unwrap();
    let config = Config {
        enable_instruction_tracing: true,
        enable_symbol_and_section_labels: true,
        ..Config::default()
    };
    let loader = Arc::new(Loader::<TestContext>::new(config));
    let mut functions = FunctionRegistry::new();
    for f in &assembled.functions {
        functions
            .register(&loader, Dialect::Sbpf, f.pc, &f.name)
            .unwrap();
    }
    let executable =
        Executable::from_text_bytes(&assembled.bytes, loader, Dialect::Sbpf, functions).unwrap();
    let analysis = Analysis::new(&executable);
    let program = verify(executable).unwrap();
    let mut context = TestContext::new(1_000_000);
    let mut heap = vec![0u8; 0];
    let run = Vm::new(&program, &mut context, &mut heap, Vec::new())
        .unwrap()
        .run(Backend::Interpreter);
    assert!(run.result.is_ok(), "{:?}", run.result);
    (analysis, context.trace_log, run.instruction_count)
}

const NESTED: &str = "
entrypoint:
    mov64 r6, 0
    call function_a
    call function_a
    exit
function_a:
    mov64 r0, 1
    call function_b
    exit
function_b:
    mov64 r0, 2
    add64 r0, 1
    exit";

const LOOP: &str = "
entrypoint:
    mov r0, 0
loop:
    add r0, 1
    jlt r0, 5, loop
    exit";

#[test]
fn nested_calls_fold_into_stacks() {
    let (analysis, trace, count) = run(NESTED);
    assert_eq!(count, 16);
    let profile = Profile::from_trace(&analysis, &trace);
    assert_eq!(profile.instructions(), 16);
    assert_eq!(
        profile.folded(),
        "entrypoint 4\nentrypoint;function_a 6\nentrypoint;function_a;function_b 6\n"
    );
    let stats: Vec<(usize, u64, u64, u64)> = profile
        .functions()
        .iter()
        .map(|(pc, s)| (*pc, s.calls, s.self_instructions, s.total_instructions))
        .collect();
    assert_eq!(stats, [(0, 1, 4, 16), (4, 2, 6, 12), (7, 2, 6, 6)]);
    assert_eq!(
        profile.function_table(),
        "        self   self%        total    calls  function
           6   37.5%           12        2  function_a
           6   37.5%            6        2  function_b
           4   25.0%           16        1  entrypoint
"
    );
    let edges: Vec<(usize, usize, u64)> = profile
        .edges()
        .iter()
        .flat_map(|(from, to)| to.iter().map(move |(to, n)| (*from, *to, *n)))
        .collect();
    assert_eq!(
        edges,
        [
            (0, 4, 1),
            (2, 4, 1),
            (4, 7, 2),
            (6, 2, 1),
            (6, 3, 1),
            (7, 6, 2)
        ]
    );
    assert_eq!(profile.max_edge_count(), 2);
    let returns: Vec<(usize, usize, u64)> = profile
        .returns()
        .iter()
        .flat_map(|(from, to)| to.iter().map(move |(to, n)| (*from, *to, *n)))
        .collect();
    assert_eq!(returns, [(0, 2, 1), (2, 3, 1), (4, 6, 2)]);
    let dot = analysis.to_dot(Some(&profile));
    assert!(dot.contains("  lbb_4 -> lbb_6 [label=\"2\"; color=\"1.000 1.000 1.000\"];\n"));
}

#[test]
fn recursion_counts_total_once() {
    // function_r calls itself while r1 > 0: three frames deep.
    let source = "
entrypoint:
    mov64 r1, 2
    call function_r
    exit
function_r:
    jeq r1, 0, done
    sub64 r1, 1
    call function_r
done:
    exit";
    let (analysis, trace, _) = run(source);
    let profile = Profile::from_trace(&analysis, &trace);
    assert_eq!(
        profile.folded(),
        "entrypoint 3\nentrypoint;function_r 4\nentrypoint;function_r;function_r 4\n\
         entrypoint;function_r;function_r;function_r 2\n"
    );
    let r = profile.functions()[&3];
    assert_eq!(
        (r.calls, r.self_instructions, r.total_instructions),
        (3, 10, 10)
    );
}

#[test]
fn loop_edges_are_counted() {
    let (analysis, trace, count) = run(LOOP);
    assert_eq!(count, 12);
    let profile = Profile::from_trace(&analysis, &trace);
    assert_eq!(profile.edge_count(0, 1), 1);
    assert_eq!(profile.edge_count(1, 1), 4);
    assert_eq!(profile.edge_count(1, 3), 1);
    assert_eq!(profile.max_edge_count(), 4);
    let dot = analysis.to_dot(Some(&profile));
    for line in [
        "  lbb_0 -> lbb_1 [label=\"1\"; color=\"0.750 1.000 1.000\"];",
        "  lbb_1 -> lbb_1 [label=\"4\"; color=\"1.000 1.000 1.000\"];",
        "  lbb_1 -> lbb_3 [label=\"1\"; color=\"0.750 1.000 1.000\"];",
        "  lbb_1 -> lbb_0 [style=dotted; arrowhead=none];",
        "  lbb_3 -> lbb_1 [style=dotted; arrowhead=none];",
    ] {
        assert!(dot.lines().any(|l| l == line), "{line} missing from\n{dot}");
    }
    let mut calls = Vec::new();
    let mut progress = |done: usize, total: usize| calls.push((done, total));
    Profile::from_trace_with_progress(&analysis, &trace, &mut progress);
    assert!(calls.is_empty(), "12 entries stay below the reporting step");
}

/// A minimal DOT reader: clusters, declared nodes and edges, with the braces balanced.
struct Dot {
    clusters: Vec<String>,
    nodes: BTreeSet<String>,
    edges: Vec<(String, String, String)>,
}

fn parse(dot: &str) -> Dot {
    assert!(dot.starts_with("digraph cfg {\n") && dot.ends_with("}\n"));
    let mut depth = 0i32;
    let mut parsed = Dot {
        clusters: Vec::new(),
        nodes: BTreeSet::new(),
        edges: Vec::new(),
    };
    for line in dot.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("subgraph ") {
            parsed
                .clusters
                .push(name.trim_end_matches(" {").to_string());
        }
        if let Some((from, rest)) = line.split_once(" -> ") {
            let (to, attributes) = rest.split_once(' ').unwrap_or((rest, ""));
            parsed.edges.push((
                from.to_string(),
                to.trim_end_matches(';').to_string(),
                attributes.to_string(),
            ));
            assert!(line.ends_with(';'), "{line}");
        } else if line.starts_with("lbb_") || line.starts_with("alias_") {
            parsed
                .nodes
                .insert(line.split(' ').next().unwrap().to_string());
            assert!(line.ends_with("];"), "{line}");
        }
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        assert!(depth >= 0);
    }
    assert_eq!(depth, 0);
    parsed
}

#[test]
fn dot_has_clusters_nodes_and_edges() {
    let (analysis, trace, _) = run(NESTED);
    let dot = parse(&analysis.to_dot(None));
    assert_eq!(dot.clusters, ["cluster_0", "cluster_4", "cluster_7"]);
    let expected_nodes: BTreeSet<String> = [0, 2, 3, 4, 6, 7]
        .iter()
        .map(|pc| format!("lbb_{pc}"))
        .collect();
    assert_eq!(dot.nodes, expected_nodes);
    let edges: Vec<(&str, &str, &str)> = dot
        .edges
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        edges,
        [
            ("lbb_0", "lbb_2", ""),
            ("lbb_2", "lbb_0", "[style=dotted; arrowhead=none];"),
            ("lbb_2", "lbb_3", ""),
            ("lbb_3", "lbb_2", "[style=dotted; arrowhead=none];"),
            ("lbb_4", "lbb_6", ""),
            ("lbb_6", "lbb_4", "[style=dotted; arrowhead=none];"),
        ]
    );
    // With the profile, calls and returns end at alias nodes inside the caller's cluster.
    let profile = Profile::from_trace(&analysis, &trace);
    let profiled = parse(&analysis.to_dot(Some(&profile)));
    for (from, to) in [
        ("lbb_0", "alias_0_lbb_4"),
        ("lbb_2", "alias_0_lbb_4"),
        ("lbb_4", "alias_4_lbb_7"),
        ("lbb_6", "alias_4_lbb_2"),
        ("lbb_7", "alias_7_lbb_6"),
    ] {
        assert!(profiled.nodes.contains(to), "{to}");
        assert!(
            profiled.edges.iter().any(|(a, b, _)| a == from && b == to),
            "{from} -> {to}"
        );
    }
    for (from, to, _) in &profiled.edges {
        assert!(profiled.nodes.contains(from) && profiled.nodes.contains(to));
    }
}

#[test]
fn dot_cells_are_escaped_and_cut() {
    let (analysis, _, _) = run("entrypoint:\nlddw r1, 0x1122334455667788\nexit");
    let dot = analysis.to_dot(None);
    assert!(dot
        .contains("<tr><td align=\"left\">lddw</td><td align=\"left\">r1, 0x112233445…</td></tr>"));
    let labels: BTreeMap<usize, String> = analysis
        .blocks()
        .iter()
        .map(|(pc, b)| (*pc, b.label.clone()))
        .collect();
    assert_eq!(labels[&0], "entrypoint");
    assert!(dot.contains("label=\"entrypoint\";"));
    // Each node opens with its label as the listing prints it.
    assert!(dot.contains(
        "<table border=\"0\" cellborder=\"0\" cellpadding=\"3\"><tr><td align=\"left\" colspan=\"2\">entrypoint:</td></tr><tr><td align=\"left\">lddw</td>"
    ));
}

/// When Graphviz is installed, `dot` accepts every output.
#[test]
fn graphviz_accepts_the_output() {
    let Ok(status) = std::process::Command::new("dot").arg("-V").output() else {
        eprintln!("dot is not installed; skipped");
        return;
    };
    assert!(status.status.success());
    for source in [NESTED, LOOP] {
        let (analysis, trace, _) = run(source);
        let profile = Profile::from_trace(&analysis, &trace);
        for text in [analysis.to_dot(None), analysis.to_dot(Some(&profile))] {
            let mut child = std::process::Command::new("dot")
                .arg("-Tsvg")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stderr.is_empty(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
        }
    }
}

/// The analysis of assembled source, without running it.
fn analysed(source: &str) -> Analysis {
    let assembled = assemble(source, Dialect::Sbpf).unwrap();
    let symbols = bpfvm_asm::SymbolTable::from_assembled(&assembled);
    Analysis::from_text(&assembled.bytes, Dialect::Sbpf, symbols, 0)
}

#[test]
fn streamed_pcs_give_the_profile_of_the_trace() {
    let (analysis, trace, _) = run(NESTED);
    let mut builder = ProfileBuilder::new();
    for entry in &trace {
        builder.step(&analysis, entry[11] as usize);
    }
    let streamed = builder.finish(&analysis);
    let whole = Profile::from_trace(&analysis, &trace);
    assert_eq!(streamed.folded(), whole.folded());
    assert_eq!(streamed.edges(), whole.edges());
    assert_eq!(streamed.returns(), whole.returns());
    assert_eq!(streamed.function_table(), whole.function_table());
}

#[test]
fn distinct_stacks_beyond_the_cap_share_one_frame() {
    // Two functions whose entries call; a "trace" that walks every path of 16 calls choosing
    // function_a or function_b at each level: 2^17 - 2 distinct stacks, twice the cap.
    let analysis = analysed(
        "entrypoint:\n call function_a\n exit\n\
         function_a:\n call function_a\n exit\n\
         function_b:\n call function_a\n exit\n",
    );
    let depth = 16;
    let mut builder = ProfileBuilder::new();
    let mut steps = 0u64;
    for leaf in 0u32..1 << depth {
        let choice = |level: u32| leaf >> level & 1 == 1;
        let mut step = |pc: usize| {
            builder.step(&analysis, pc);
            steps += 1;
        };
        step(0);
        for level in 0..depth - 1 {
            step(if choice(level) { 4 } else { 2 });
        }
        // The innermost callee exits at once; then every frame returns.
        for level in (0..depth).rev() {
            step(if choice(level) { 5 } else { 3 });
        }
        step(1);
    }
    let profile = builder.finish(&analysis);
    assert_eq!(profile.instructions(), steps);
    assert!(profile.stacks().len() <= MAX_STACKS + 1);
    let other = profile.other_stack_instructions();
    assert!(other > 0);
    let folded = profile.folded();
    let line = format!("{OTHER_STACKS} {other}");
    assert!(folded.lines().any(|l| l == line), "{line}");
    let total: u64 = folded
        .lines()
        .map(|line| line.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, steps, "every instruction is charged to some stack");
    let functions = profile.functions();
    let callees = functions[&2].calls + functions[&4].calls;
    assert_eq!(
        callees,
        u64::from(depth) << depth,
        "calls are counted past the cap"
    );
}

#[test]
fn distinct_edges_beyond_the_cap_are_counted_only() {
    // 600 blocks of one `ja +0`: a "trace" visiting every ordered pair of blocks.
    let analysis = analysed(&format!("{}exit\n", "ja +0\n".repeat(600)));
    let mut builder = ProfileBuilder::new();
    let mut steps = 0u64;
    for from in 0..600 {
        for to in 0..600 {
            builder.step(&analysis, from);
            builder.step(&analysis, to);
            steps += 2;
        }
    }
    let profile = builder.finish(&analysis);
    let counted: usize = profile.edges().values().map(|targets| targets.len()).sum();
    assert_eq!(counted, MAX_EDGES);
    let sum: u64 = profile.edges().values().flat_map(|t| t.values()).sum();
    assert!(profile.untracked_transitions() > 0);
    assert_eq!(sum + profile.untracked_transitions(), steps - 1);
}
