//! Short runs: the cost of one invocation of a production program, bpfvm against
//! solana-sbpf 0.26, side by side in one criterion run. One invocation is what a validator
//! pays per instruction once the program is loaded and compiled: fresh memory (the input
//! copied in, a zeroed 32 KiB heap, the stack the VM needs), the memory mapping, the VM, the
//! run, the result. Both VMs get the same input bytes and equivalent syscalls, run with
//! Agave's call depth (64 frames of 4 KiB), and every invocation asserts r0, the units
//! charged and the log lines.
//!
//! - **SPL Token Transfer** on spl_token-3.5.0 (alice sends 400 of her 1,000 tokens to bob,
//!   the authority signs): the input is laid out by bpfvm-solana's serializer (aligned, three
//!   accounts with their realloc room); bpfvm runs bpfvm-solana's whole syscall set with the
//!   runtime's costs, 0.26 `reference26::solana`'s equivalent (`SolanaSet::Runtime`). The
//!   line `bpfvm_invoke` adds, for information, bpfvm-solana's whole `invoke` (the input laid
//!   out, the accounts read back, the log framed).
//! - **The 18 production vectors** of `vm-vectors.tsv` (130 to 13,495 instructions) in their
//!   recording harness (stub syscalls, nothing charged: `REFERENCE_VECTORS` on bpfvm,
//!   `SolanaSet::Vectors` on 0.26), each with the recorded r0, count and logs.
//!
//! Ratio lines give 0.26/bpfvm per invocation and engine, and the geometric mean over the
//! vectors.
//!
//! Run: `cargo bench -p bpfvm-testkit --bench short_runs -- --warm-up-time 1 --measurement-time 2`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/reference26/mod.rs"]
mod reference26;

use bpfvm::syscalls::{register_solana_syscalls_with, SolanaContext, SolanaSyscallOptions};
use bpfvm::{
    verify, Backend, Config, Executable, Loader, MemoryRegion, SyscallRegistry, VerifiedProgram,
    Vm, MM_INPUT_START,
};
use bpfvm_solana::instruction::InstructionAccounts;
use bpfvm_solana::serialization::{serialize, Loader as InputLayout};
use bpfvm_solana::{
    invoke, Account, AccountMeta, Instruction, InvokeOptions, KeyedAccount, Pubkey,
};
use bpfvm_testkit::corpus::corpus_dir;
use bpfvm_testkit::sbpf26::Engine as Engine26;
use criterion::{criterion_group, criterion_main, Criterion};
use reference26::run::{map_memory, Memory};
use reference26::solana::{register, SolanaSet};
use reference26::{agave_config, Context26, LoaderMode};
use solana_sbpf::ebpf::MM_INPUT_START as INPUT_26;
use solana_sbpf::elf::Executable as Executable26;
use solana_sbpf::error::ProgramResult;
use solana_sbpf::program::BuiltinProgram;
use solana_sbpf::verifier::RequisiteVerifier;
use solana_sbpf::vm::{CallFrame, EbpfVm, ExecutionMode};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The heap every invocation gets (the runtime's default).
const HEAP: usize = 32 * 1024;

/// Agave's call depth: both VMs get a stack of 64 frames.
const DEPTH: usize = 64;

/// What an invocation must give: r0, units charged (instructions plus syscall costs), logs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Expected {
    r0: u64,
    units: u64,
    logs: Vec<String>,
}

/// One program and input, loaded and compiled on both VMs.
struct Case {
    name: String,
    ours: VerifiedProgram<SolanaContext>,
    theirs: Executable26<Context26>,
    input: Vec<u8>,
    budget: u64,
    /// Whether syscalls charge the runtime's costs (the vectors were recorded without).
    charged: bool,
    program_id: [u8; 32],
}

/// bpfvm's legacy configuration with Agave's call depth.
fn our_config() -> Config {
    Config {
        max_call_depth: DEPTH,
        ..Config::legacy()
    }
}

/// Loads an ELF on 0.26 with a Solana syscall set (Agave's execution settings), verified and
/// compiled.
fn load_26(elf: &[u8], set: SolanaSet) -> Executable26<Context26> {
    let mut loader = BuiltinProgram::new_loader(agave_config(LoaderMode::Execute));
    register(&mut loader, set);
    let executable = Executable26::from_elf(elf, Arc::new(loader)).unwrap();
    executable.verify::<RequisiteVerifier>().unwrap();
    executable.jit_compile().unwrap();
    executable
}

/// Loads an ELF on bpfvm with a syscall registry, verified and compiled.
fn load_ours(
    elf: &[u8],
    registry: SyscallRegistry<SolanaContext>,
) -> VerifiedProgram<SolanaContext> {
    let loader = Arc::new(Loader::with_syscalls(our_config(), registry));
    let mut program = verify(Executable::from_elf(elf, loader).unwrap()).unwrap();
    program.jit_compile().unwrap();
    program
}

/// One invocation on bpfvm: (r0, units, logs).
fn invoke_ours(case: &Case, backend: Backend) -> Expected {
    let mut input = case.input.clone();
    let mut heap = vec![0u8; HEAP];
    let mut context = SolanaContext::new(case.budget, HEAP as u64);
    if !case.charged {
        context = context.free();
    }
    context.state.program_id = case.program_id;
    let run = {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let mut vm = Vm::new(&case.ours, &mut context, &mut heap, regions).unwrap();
        vm.run(backend)
    };
    Expected {
        r0: run.result.unwrap(),
        units: case.budget - context.remaining,
        logs: context.logs,
    }
}

/// One invocation on 0.26: (r0, units, logs).
fn invoke_26(case: &Case, engine: Engine26) -> Expected {
    let executable = &case.theirs;
    let config = executable.get_config();
    let mut memory = Memory::new(config, HEAP, &case.input);
    let mapping = map_memory(executable, &mut memory).unwrap();
    let mut context = Context26::new(case.budget, mapping);
    let mut frames = vec![CallFrame::default(); config.max_call_depth];
    let (units, result) = {
        let mut vm = EbpfVm::new(
            Arc::clone(executable.get_loader()),
            executable.get_sbpf_version(),
            &mut context,
            config.stack_size(),
        );
        vm.registers[1] = INPUT_26;
        let mut mode = match engine {
            Engine26::Interpreter => ExecutionMode::Interpreted,
            Engine26::Jit => ExecutionMode::Jit,
        };
        vm.execute_program(executable, &mut mode, &mut frames)
    };
    let r0 = match result {
        ProgramResult::Ok(r0) => r0,
        ProgramResult::Err(error) => panic!("{}: {error:?}", case.name),
    };
    Expected {
        r0,
        units,
        logs: context.logs,
    }
}

/// The median time of one call, over 31 batches of about 2 ms each.
fn time<F: FnMut()>(mut run: F) -> Duration {
    let start = Instant::now();
    run();
    let once = start.elapsed().max(Duration::from_nanos(100));
    let batch = u32::try_from(2_000_000 / once.as_nanos()).map_or(u32::MAX, |n| n.max(1));
    let mut samples: Vec<Duration> = (0..31)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                run();
            }
            start.elapsed() / batch
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// The direct timings of one case: bpfvm JIT, bpfvm interpreter, 0.26 JIT, 0.26 interpreter.
type Times = [Duration; 4];

/// Benchmarks one case on both engines of both VMs (after checking they agree with
/// `expected`) and returns the direct timings.
fn bench_case(c: &mut Criterion, case: &Case, expected: &Expected) -> Times {
    let columns: [(&str, &dyn Fn() -> Expected); 4] = [
        ("bpfvm_jit", &|| invoke_ours(case, Backend::Jit)),
        ("bpfvm_interpreter", &|| {
            invoke_ours(case, Backend::Interpreter)
        }),
        ("sbpf26_jit", &|| invoke_26(case, Engine26::Jit)),
        ("sbpf26_interpreter", &|| {
            invoke_26(case, Engine26::Interpreter)
        }),
    ];
    for (column, run) in columns {
        assert_eq!(&run(), expected, "{} {column}", case.name);
    }
    let mut group = c.benchmark_group(format!("short/{}", case.name));
    for (column, run) in columns {
        group.bench_function(column, |b| b.iter(|| black_box(run())));
    }
    group.finish();
    columns.map(|(_, run)| {
        time(|| {
            black_box(run());
        })
    })
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn print_ratio(name: &str, units: u64, times: &Times) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "short {name}: {units} units; bpfvm jit {:.2} us, interpreter {:.2} us; 0.26 jit {:.2} us, interpreter {:.2} us; 0.26/bpfvm = {:.2}x (jit), {:.2}x (interpreter)",
        us(times[0]),
        us(times[1]),
        us(times[2]),
        us(times[3]),
        ratio(times[2], times[0]),
        ratio(times[3], times[1]),
    );
}

const ALICE: Pubkey = Pubkey([2; 32]);
const BOB: Pubkey = Pubkey([3; 32]);
const MINT: Pubkey = Pubkey([1; 32]);
const AUTHORITY: Pubkey = Pubkey([4; 32]);

/// An initialized SPL Token account of `MINT` owned by `AUTHORITY` holding `amount`.
fn token_account(amount: u64, program_id: Pubkey) -> Account {
    let mut data = MINT.0.to_vec();
    data.extend_from_slice(&AUTHORITY.0);
    data.extend_from_slice(&amount.to_le_bytes());
    data.extend_from_slice(&[0; 36]); // no delegate
    data.push(1); // initialized
    data.extend_from_slice(&[0; 12]); // not native
    data.extend_from_slice(&[0; 8]); // nothing delegated
    data.extend_from_slice(&[0; 36]); // no close authority
    assert_eq!(data.len(), 165);
    Account {
        lamports: 2_039_280,
        data,
        owner: program_id,
        executable: false,
        rent_epoch: 0,
    }
}

/// The Transfer case: its instruction, the account states, and the case with its input.
fn transfer(dir: &Path) -> (Case, Instruction, Vec<KeyedAccount>) {
    let elf = std::fs::read(dir.join("spl_token-3.5.0.so")).unwrap();
    let program_id: Pubkey = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
        .parse()
        .unwrap();
    let states = vec![
        KeyedAccount {
            pubkey: ALICE,
            account: token_account(1_000, program_id),
        },
        KeyedAccount {
            pubkey: BOB,
            account: token_account(0, program_id),
        },
    ];
    let mut data = vec![3];
    data.extend_from_slice(&400u64.to_le_bytes());
    let meta = |pubkey, is_signer, is_writable| AccountMeta {
        pubkey,
        is_signer,
        is_writable,
    };
    let instruction = Instruction {
        program_id,
        accounts: vec![
            meta(ALICE, false, true),
            meta(BOB, false, true),
            meta(AUTHORITY, true, false),
        ],
        data,
    };
    let accounts = InstructionAccounts::resolve(&instruction.accounts, &states);
    let input = serialize(
        InputLayout::default(),
        &accounts,
        &instruction.data,
        &program_id,
    )
    .unwrap()
    .bytes;
    let mut registry = SyscallRegistry::new();
    bpfvm_solana::syscalls::register_syscalls(&mut registry).unwrap();
    let case = Case {
        name: "spl_token-3.5.0 Transfer".to_owned(),
        ours: load_ours(&elf, registry),
        theirs: load_26(&elf, SolanaSet::Runtime),
        input,
        budget: 200_000,
        charged: true,
        program_id: program_id.0,
    };
    (case, instruction, states)
}

/// Benchmarks the Transfer, plus bpfvm-solana's whole `invoke` of it.
fn bench_transfer(c: &mut Criterion, dir: &Path) {
    let (case, instruction, states) = transfer(dir);
    let expected = invoke_ours(&case, Backend::Interpreter);
    assert_eq!(expected.r0, 0, "{:?}", expected.logs);
    assert_eq!(expected.logs, ["Program log: Instruction: Transfer"]);
    let times = bench_case(c, &case, &expected);
    print_ratio(&case.name, expected.units, &times);
    let options = InvokeOptions {
        backend: Backend::Jit,
        ..InvokeOptions::default()
    };
    let mut whole = || {
        let outcome = invoke(&case.ours, &instruction, &states, &options).unwrap();
        assert_eq!(outcome.result, Ok(()));
        black_box(outcome);
    };
    c.bench_function("short/spl_token-3.5.0 Transfer/bpfvm_invoke", |b| {
        b.iter(&mut whole)
    });
    println!(
        "short {} (bpfvm-solana invoke, JIT: input laid out, run, accounts read back, log framed): {:.2} us",
        case.name,
        time(whole).as_secs_f64() * 1e6
    );
}

/// One row of `vm-vectors.tsv`.
struct Vector {
    program: String,
    input: Vec<u8>,
    expected: Expected,
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn vectors(dir: &Path) -> Vec<Vector> {
    let table = std::fs::read_to_string(dir.join("vm-vectors.tsv")).unwrap();
    let mut lines = table.lines().filter(|line| !line.starts_with('#'));
    assert_eq!(
        lines.next().unwrap(),
        "program\tinput_hex\tresult\tinsn_count\tlogs"
    );
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let r0 = fields[2]
                .strip_prefix("Ok(0x")
                .unwrap()
                .strip_suffix(')')
                .unwrap();
            let logs = fields.get(4).copied().unwrap_or("");
            Vector {
                program: fields[0].to_owned(),
                input: hex(fields[1]),
                expected: Expected {
                    r0: u64::from_str_radix(r0, 16).unwrap(),
                    units: fields[3].parse().unwrap(),
                    logs: logs
                        .split(" | ")
                        .filter(|line| !line.is_empty())
                        .map(|line| format!("Program log: {line}"))
                        .collect(),
                },
            }
        })
        .collect()
}

/// Benchmarks every vector and prints the geometric means.
fn bench_vectors(c: &mut Criterion, dir: &Path) {
    let vectors = vectors(dir);
    assert_eq!(vectors.len(), 18);
    let mut ratios = Vec::new();
    for (index, vector) in vectors.iter().enumerate() {
        let elf = std::fs::read(dir.join(&vector.program)).unwrap();
        let mut registry = SyscallRegistry::new();
        register_solana_syscalls_with(&mut registry, SolanaSyscallOptions::REFERENCE_VECTORS)
            .unwrap();
        let case = Case {
            name: format!("{} #{index}", vector.program.trim_end_matches(".so")),
            ours: load_ours(&elf, registry),
            theirs: load_26(&elf, SolanaSet::Vectors),
            input: vector.input.clone(),
            budget: 1_000_000,
            charged: false,
            program_id: [0; 32],
        };
        let times = bench_case(c, &case, &vector.expected);
        print_ratio(&case.name, vector.expected.units, &times);
        ratios.push([ratio(times[2], times[0]), ratio(times[3], times[1])]);
    }
    let geomean = |column: usize| {
        let sum: f64 = ratios.iter().map(|r| r[column].ln()).sum();
        (sum / ratios.len() as f64).exp()
    };
    println!(
        "short vectors: geomean 0.26/bpfvm over {} vectors = {:.2}x (jit), {:.2}x (interpreter); lowest {:.2}x (jit)",
        ratios.len(),
        geomean(0),
        geomean(1),
        ratios.iter().map(|r| r[0]).fold(f64::INFINITY, f64::min)
    );
}

fn short_runs(c: &mut Criterion) {
    let dir = corpus_dir()
        .expect("the corpus at ../shared/corpus")
        .join("solana_programs");
    bench_transfer(c, &dir);
    bench_vectors(c, &dir);
}

criterion_group!(benches, short_runs);
criterion_main!(benches);
