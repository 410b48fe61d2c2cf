//! One invocation of a production program on bpfvm and on solana-sbpf 0.26, shared by
//! `benches/short_runs.rs` and `examples/short_profile.rs`: the cases (SPL Token's Transfer,
//! the 18 production vectors), each loaded and compiled on both VMs, and the invocation
//! itself (the input copied in, a zeroed 32 KiB heap and the stack, the mapping, the VM, the
//! run, the result).
//!
//! Where the stack and heap come from is each host's own way, as a validator does it. On
//! 0.26 they are `AlignedMemory::zero_filled` per invocation, which is what Agave pays: its
//! bpf_loader keeps a per-thread pool of stacks and heaps and clears each one whole
//! (`fill(0)`) when it goes back to the pool, the same zeroing of the same bytes. On bpfvm
//! the case keeps a `VmMemory` and every invocation makes its VM with `Vm::new_in`, which
//! lends the stack and heap all-zero again and clears only the pages earlier runs touched,
//! and hands the VM the call-frame storage the last one left (`CallStacks`; 0.26's harness
//! allocates its call frames per invocation, as Agave's VM does) ([`invoke_ours`]); [`invoke_ours_fresh`] is the plain
//! `Vm::new` over freshly zeroed memory with new call-frame storage, for comparison.

#![allow(
    dead_code,
    reason = "the bench and the example each use part of this module"
)]

use crate::reference26::run::{map_memory, Memory};
use crate::reference26::solana::{register, SolanaSet};
use crate::reference26::{agave_config, Context26, LoaderMode};
use bpfvm::syscalls::{register_solana_syscalls_with, SolanaContext, SolanaSyscallOptions};
use bpfvm::{
    verify, Backend, CallStacks, Config, Executable, Loader, MemoryRegion, SyscallRegistry,
    TestContext, VerifiedProgram, Vm, VmMemory, MM_INPUT_START,
};
use bpfvm_isa::Dialect;
use bpfvm_solana::instruction::InstructionAccounts;
use bpfvm_solana::serialization::{serialize, Loader as InputLayout};
use bpfvm_solana::{Account, AccountMeta, Instruction, KeyedAccount, Pubkey};
use bpfvm_testkit::sbpf26::Engine as Engine26;
use solana_sbpf::ebpf::MM_INPUT_START as INPUT_26;
use solana_sbpf::elf::Executable as Executable26;
use solana_sbpf::error::ProgramResult;
use solana_sbpf::program::BuiltinProgram;
use solana_sbpf::verifier::RequisiteVerifier;
use solana_sbpf::vm::{CallFrame, EbpfVm, ExecutionMode};
use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

/// The heap every invocation gets (the runtime's default).
pub const HEAP: usize = 32 * 1024;

/// Agave's call depth: both VMs get a stack of 64 frames.
pub const DEPTH: usize = 64;

/// What an invocation must give: r0, units charged (instructions plus syscall costs), logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub r0: u64,
    pub units: u64,
    pub logs: Vec<String>,
}

/// One program and input, loaded and compiled on both VMs.
pub struct Case {
    pub name: String,
    pub ours: VerifiedProgram<SolanaContext>,
    pub theirs: Executable26<Context26>,
    pub input: Vec<u8>,
    pub budget: u64,
    /// Whether syscalls charge the runtime's costs (the vectors were recorded without).
    pub charged: bool,
    pub program_id: [u8; 32],
    /// The stack and heap bpfvm's invocations reuse (see the module documentation).
    pub memory: RefCell<VmMemory>,
    /// The call-frame storage bpfvm's invocations reuse.
    pub stacks: RefCell<CallStacks>,
}

/// bpfvm's legacy configuration with Agave's call depth.
pub fn our_config() -> Config {
    Config {
        max_call_depth: DEPTH,
        ..Config::legacy()
    }
}

/// Loads an ELF on 0.26 with a Solana syscall set (Agave's execution settings), verified and
/// compiled.
pub fn load_26(elf: &[u8], set: SolanaSet) -> Executable26<Context26> {
    let mut loader = BuiltinProgram::new_loader(agave_config(LoaderMode::Execute));
    register(&mut loader, set);
    let executable = Executable26::from_elf(elf, Arc::new(loader)).unwrap();
    executable.verify::<RequisiteVerifier>().unwrap();
    executable.jit_compile().unwrap();
    executable
}

/// Loads an ELF on bpfvm with a syscall registry, verified and compiled.
pub fn load_ours(
    elf: &[u8],
    registry: SyscallRegistry<SolanaContext>,
) -> VerifiedProgram<SolanaContext> {
    let loader = Arc::new(Loader::with_syscalls(our_config(), registry));
    let mut program = verify(Executable::from_elf(elf, loader).unwrap()).unwrap();
    program.jit_compile().unwrap();
    program
}

/// The context of one invocation of `case` on bpfvm.
fn our_context(case: &Case) -> SolanaContext {
    let mut context = SolanaContext::new(case.budget, HEAP as u64);
    if !case.charged {
        context = context.free();
    }
    context.state.program_id = case.program_id;
    context
}

/// What an invocation on bpfvm gave, from its run and context.
fn our_outcome(case: &Case, run: bpfvm::Run, context: SolanaContext) -> Expected {
    Expected {
        r0: run.result.unwrap(),
        units: case.budget - context.remaining,
        logs: context.logs,
    }
}

/// One invocation on bpfvm, its stack and heap lent by the case's `VmMemory`:
/// (r0, units, logs).
pub fn invoke_ours(case: &Case, backend: Backend) -> Expected {
    let mut input = case.input.clone();
    let mut context = our_context(case);
    let mut memory = case.memory.borrow_mut();
    let mut stacks = case.stacks.borrow_mut();
    let run = {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let mut vm = Vm::new_in(&case.ours, &mut context, &mut memory, HEAP, regions)
            .unwrap()
            .with_call_stacks(core::mem::take(&mut *stacks));
        let run = vm.run(backend);
        *stacks = vm.take_call_stacks();
        run
    };
    our_outcome(case, run, context)
}

/// One invocation on bpfvm over freshly zeroed memory (`Vm::new` allocates the stack, the
/// heap is a new zeroed vector): (r0, units, logs).
pub fn invoke_ours_fresh(case: &Case, backend: Backend) -> Expected {
    let mut input = case.input.clone();
    let mut heap = vec![0u8; HEAP];
    let mut context = our_context(case);
    let run = {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let mut vm = Vm::new(&case.ours, &mut context, &mut heap, regions).unwrap();
        vm.run(backend)
    };
    our_outcome(case, run, context)
}

/// One invocation on 0.26: (r0, units, logs).
pub fn invoke_26(case: &Case, engine: Engine26) -> Expected {
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

pub const ALICE: Pubkey = Pubkey([2; 32]);
pub const BOB: Pubkey = Pubkey([3; 32]);
pub const MINT: Pubkey = Pubkey([1; 32]);
pub const AUTHORITY: Pubkey = Pubkey([4; 32]);

/// An initialized SPL Token account of `MINT` owned by `AUTHORITY` holding `amount`.
pub fn token_account(amount: u64, program_id: Pubkey) -> Account {
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
pub fn transfer(dir: &Path) -> (Case, Instruction, Vec<KeyedAccount>) {
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
        memory: RefCell::new(VmMemory::new()),
        stacks: RefCell::new(CallStacks::new()),
    };
    (case, instruction, states)
}

/// One row of `vm-vectors.tsv`.
pub struct Vector {
    pub program: String,
    pub input: Vec<u8>,
    pub expected: Expected,
}

pub fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

pub fn vectors(dir: &Path) -> Vec<Vector> {
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

/// The case of vector `index` (its recording harness on both VMs).
pub fn vector_case(dir: &Path, index: usize, vector: &Vector) -> Case {
    let elf = std::fs::read(dir.join(&vector.program)).unwrap();
    let mut registry = SyscallRegistry::new();
    register_solana_syscalls_with(&mut registry, SolanaSyscallOptions::REFERENCE_VECTORS).unwrap();
    Case {
        name: format!("{} #{index}", vector.program.trim_end_matches(".so")),
        ours: load_ours(&elf, registry),
        theirs: load_26(&elf, SolanaSet::Vectors),
        input: vector.input.clone(),
        budget: 1_000_000,
        charged: false,
        program_id: [0; 32],
        memory: RefCell::new(VmMemory::new()),
        stacks: RefCell::new(CallStacks::new()),
    }
}

/// Stores a word in every 4 KiB page of the 64 gapped stack frames and the 32 KiB heap.
const WHOLE_STACK: &str = "
    lddw r6, 0x200000000
    mov64 r7, 1
frame:
    stxdw [r6+0], r7
    add64 r6, 8192
    add64 r7, 1
    jle r7, 64, frame
    lddw r6, 0x300000000
    mov64 r7, 1
heap:
    stxdw [r6+0], r7
    add64 r6, 4096
    add64 r7, 1
    jle r7, 8, heap
    mov64 r0, 0
    exit";

/// The whole-stack program under the legacy profile with Agave's depth, compiled.
pub fn whole_stack_program() -> VerifiedProgram<TestContext> {
    let assembled = bpfvm_asm::assemble(WHOLE_STACK, Dialect::Sbpf).unwrap();
    let config = Config {
        max_call_depth: DEPTH,
        ..Config::legacy()
    };
    let loader = Arc::new(Loader::with_syscalls(config, SyscallRegistry::new()));
    let executable = Executable::from_raw_program(&assembled.bytes, loader, Dialect::Sbpf).unwrap();
    let mut program = verify(executable).unwrap();
    program.jit_compile().unwrap();
    program
}

/// One invocation of the whole-stack program: reused memory, or fresh memory when `memory`
/// is `None`.
pub fn whole_stack_once(
    program: &VerifiedProgram<TestContext>,
    memory: Option<&mut VmMemory>,
    backend: Backend,
) {
    let mut input = [0u8; 8];
    let mut context = TestContext::new(1_000);
    let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
    let mut heap;
    let mut vm = match memory {
        Some(memory) => Vm::new_in(program, &mut context, memory, HEAP, regions),
        None => {
            heap = vec![0u8; HEAP];
            Vm::new(program, &mut context, &mut heap, regions)
        }
    }
    .unwrap();
    assert_eq!(vm.run(backend).result, Ok(0));
}
