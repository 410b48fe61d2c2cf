//! One SPL Token Transfer (spl_token-3.5.0, a V0 program as deployed; 1,000 tokens held,
//! 400 moved, the owner signing) through each API, side by side: the real crate, the drop-in
//! and bpfvm directly, each with the same Solana syscalls at the runtime's costs (the API
//! columns' builtins are `solana_builtins!`) and Agave's memory: the
//! serialized input, a 32 KiB heap and the stack (bpfvm's column runs the same syscall
//! bodies, written for its API: `direct_syscalls`). A VM is made once per column; every
//! iteration is one invocation as a host makes it: the input bytes copied back in, the
//! heap's allocator word cleared, the registers and the budget set, the run, the result and
//! the count checked (both equal on every column).

use super::{CompatContext, RealContext};
use bpfvm_solana::instruction::InstructionAccounts;
use bpfvm_solana::serialization::{serialize, Loader as InputLayout};
use bpfvm_solana::{Account, AccountMeta, KeyedAccount, Pubkey};
use criterion::Criterion;
use std::sync::Arc;

sbpf_compat_bench::solana_builtins!(real_builtins, sbpf_real, RealContext);
sbpf_compat_bench::solana_builtins!(compat_builtins, solana_sbpf, CompatContext);

/// A Solana instruction's budget.
const BUDGET: u64 = 200_000;
/// Agave's default heap.
const HEAP: usize = 32 * 1024;

/// The program and its serialized input.
pub struct Transfer {
    elf: Vec<u8>,
    input: Vec<u8>,
}

const MINT: Pubkey = Pubkey([1; 32]);
const ALICE: Pubkey = Pubkey([2; 32]);
const BOB: Pubkey = Pubkey([3; 32]);
const AUTHORITY: Pubkey = Pubkey([4; 32]);

/// An initialized token account of `MINT` owned by `AUTHORITY` holding `amount`.
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

/// The Transfer: the program and its input, serialized as Agave's aligned loader does.
pub fn transfer() -> Transfer {
    let elf = super::spl_token();
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
    let metas = vec![
        meta(ALICE, false, true),
        meta(BOB, false, true),
        meta(AUTHORITY, true, false),
    ];
    let accounts = InstructionAccounts::resolve(&metas, &states);
    let input = serialize(InputLayout::default(), &accounts, &data, &program_id)
        .unwrap()
        .bytes;
    Transfer { elf, input }
}

/// Criterion's group for the Transfer on one backend.
pub fn group_name(jit: bool) -> String {
    format!(
        "execute spl_token Transfer ({})",
        if jit { "jit" } else { "interpreter" }
    )
}

/// The Transfer through one crate's 0.26 API (the drop-in or the real crate) as column
/// `$column`; returns the units one invocation used.
macro_rules! transfer_through_api {
    ($name:ident, $krate:ident, $context:ident, $builtins:ident, $config:path, $column:literal) => {
        pub fn $name(c: &mut Criterion, case: &Transfer, jit: bool) -> u64 {
            use $krate::{
                aligned_memory::AlignedMemory,
                ebpf,
                error::ProgramResult,
                memory_region::{MemoryMapping, MemoryRegion},
                vm::{EbpfVm, ExecutionMode},
            };
            let mut loader = $krate::program::BuiltinProgram::<$context>::new_loader($config());
            $builtins::register(&mut loader);
            let executable =
                $krate::elf::Executable::from_elf(&case.elf, Arc::new(loader)).unwrap();
            executable
                .verify::<$krate::verifier::RequisiteVerifier>()
                .unwrap();
            if jit {
                executable.jit_compile().unwrap();
            }
            let config = executable.get_config();
            let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(config.stack_size());
            let mut heap = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(HEAP);
            let mut input = AlignedMemory::<{ ebpf::HOST_ALIGN }>::from_slice(&case.input);
            let stack_len = stack.len();
            let regions = vec![
                executable.get_ro_region(),
                MemoryRegion::new_gapped(
                    &mut stack,
                    ebpf::MM_STACK_START,
                    config.stack_frame_size as u64,
                ),
                MemoryRegion::new(&mut heap, ebpf::MM_HEAP_START),
                MemoryRegion::new(&mut input, ebpf::MM_INPUT_START),
            ];
            let version = executable.get_sbpf_version();
            // SAFETY: the regions are the executable's bytes, `stack`, `heap` and `input`, all
            // alive and unmoved until the end of this function, which outlives every run.
            let mapping = unsafe { MemoryMapping::new(regions, config, version) }.unwrap();
            let mut context = $context {
                remaining: 0,
                mapping,
                logs: Vec::new(),
            };
            let mut vm = EbpfVm::new(
                executable.get_loader().clone(),
                version,
                &mut context,
                stack_len,
            );
            vm.registers[1] = ebpf::MM_INPUT_START;
            let registers = vm.registers;
            let mut frames = vec![$krate::vm::CallFrame::default(); config.max_call_depth];
            let mut units = 0;
            let mut invoke = |units: &mut u64| {
                input.as_slice_mut().copy_from_slice(&case.input);
                heap.as_slice_mut()[..8].fill(0);
                vm.registers = registers;
                vm.context().remaining = BUDGET;
                vm.context().logs.clear();
                let mut mode = if jit {
                    ExecutionMode::Jit
                } else {
                    ExecutionMode::Interpreted
                };
                let (used, result) = vm.execute_program(&executable, &mut mode, &mut frames);
                assert!(matches!(result, ProgramResult::Ok(0)), "{result:?}");
                assert_eq!(vm.context().logs, ["Program log: Instruction: Transfer"]);
                *units = used;
            };
            invoke(&mut units);
            let mut group = c.benchmark_group(group_name(jit));
            group.bench_function($column, |b| b.iter(|| invoke(&mut units)));
            group.finish();
            units
        }
    };
}

transfer_through_api!(
    real,
    sbpf_real,
    RealContext,
    real_builtins,
    super::agave_config_real,
    "sbpf-0.26"
);
transfer_through_api!(
    compat,
    solana_sbpf,
    CompatContext,
    compat_builtins,
    super::agave_config_compat,
    "drop-in"
);

/// bpfvm's context for the Transfer: the budget and the log lines, as the API columns'.
struct Direct {
    remaining: u64,
    logs: Vec<String>,
}

impl bpfvm::ContextObject for Direct {
    fn trace(&mut self, _state: [u64; 12]) {}

    fn consume(&mut self, amount: u64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }

    fn remaining(&self) -> u64 {
        self.remaining
    }
}

/// The API columns' builtins (`solana_builtins!`) as bpfvm syscalls: the same bodies (the
/// same costs charged first, the same copies through the mapping), so that the three
/// columns do the same work and the difference is the API's.
mod direct_syscalls {
    use super::Direct;
    use bpfvm::syscalls::cost;
    use bpfvm::{AccessType, MemoryMapping, RuntimeError};

    type Outcome = Result<u64, RuntimeError>;

    fn failed(message: &str) -> RuntimeError {
        RuntimeError::UserError {
            message: message.to_owned(),
        }
    }

    fn charge(context: &mut Direct, units: u64) -> Result<(), RuntimeError> {
        if units > context.remaining {
            context.remaining = 0;
            return Err(failed("compute budget exceeded"));
        }
        context.remaining -= units;
        Ok(())
    }

    fn read(mapping: &MemoryMapping<'_>, vaddr: u64, len: u64) -> Result<Vec<u8>, RuntimeError> {
        let range = mapping.map(AccessType::Load, vaddr, len, 0)?;
        Ok(mapping
            .slice(range)
            .ok_or_else(|| failed("unmapped"))?
            .to_vec())
    }

    fn write(
        mapping: &mut MemoryMapping<'_>,
        vaddr: u64,
        bytes: &[u8],
    ) -> Result<(), RuntimeError> {
        let range = mapping.map(AccessType::Store, vaddr, bytes.len() as u64, 0)?;
        mapping
            .slice_mut(range)
            .ok_or_else(|| failed("read-only"))?
            .copy_from_slice(bytes);
        Ok(())
    }

    pub fn sol_log(
        context: &mut Direct,
        mapping: &mut MemoryMapping<'_>,
        [addr, len, ..]: [u64; 5],
    ) -> Outcome {
        charge(context, cost::log(len))?;
        let bytes = read(mapping, addr, len)?;
        context
            .logs
            .push(format!("Program log: {}", String::from_utf8_lossy(&bytes)));
        Ok(0)
    }

    pub fn sol_memcpy(
        context: &mut Direct,
        mapping: &mut MemoryMapping<'_>,
        [dst, src, n, ..]: [u64; 5],
    ) -> Outcome {
        charge(context, cost::mem_op(n))?;
        let bytes = read(mapping, src, n)?;
        write(mapping, dst, &bytes)?;
        Ok(0)
    }

    pub fn sol_memset(
        context: &mut Direct,
        mapping: &mut MemoryMapping<'_>,
        [s, c, n, ..]: [u64; 5],
    ) -> Outcome {
        charge(context, cost::mem_op(n))?;
        let len = usize::try_from(n).map_err(|_| failed("too long"))?;
        write(mapping, s, &vec![c as u8; len])?;
        Ok(0)
    }

    pub fn sol_memcmp(
        context: &mut Direct,
        mapping: &mut MemoryMapping<'_>,
        [a, b, n, out, _]: [u64; 5],
    ) -> Outcome {
        charge(context, cost::mem_op(n))?;
        let left = read(mapping, a, n)?;
        let right = read(mapping, b, n)?;
        let difference = left
            .iter()
            .zip(&right)
            .find(|(x, y)| x != y)
            .map_or(0, |(x, y)| i32::from(*x) - i32::from(*y));
        write(mapping, out, &difference.to_le_bytes())?;
        Ok(0)
    }

    pub fn unsupported(
        _context: &mut Direct,
        _mapping: &mut MemoryMapping<'_>,
        _args: [u64; 5],
    ) -> Outcome {
        Err(failed("unsupported syscall"))
    }

    /// The registry the API columns' `register` makes.
    pub fn registry() -> bpfvm::SyscallRegistry<Direct> {
        let mut registry = bpfvm::SyscallRegistry::new();
        for name in bpfvm::syscalls::solana::SOLANA_SYSCALLS
            .iter()
            .chain(&bpfvm::syscalls::solana::UNSUPPORTED_SYSCALLS)
        {
            let function: bpfvm::SyscallFn<Direct> = match *name {
                "sol_log_" => sol_log,
                "sol_memcpy_" | "sol_memmove_" => sol_memcpy,
                "sol_memset_" => sol_memset,
                "sol_memcmp_" => sol_memcmp,
                _ => unsupported,
            };
            registry.register(name, function).unwrap();
        }
        registry
    }
}

/// The Transfer on bpfvm's own API (`Vm::run`, the same syscall bodies as the API
/// columns'); returns the units one invocation used.
pub fn direct(c: &mut Criterion, case: &Transfer, jit: bool) -> u64 {
    let mut config = bpfvm::Preset::Sbpf26(bpfvm::SbpfVersion::V0).config();
    config.optimize_rodata = false;
    let loader = Arc::new(bpfvm::Loader::with_syscalls(
        config,
        direct_syscalls::registry(),
    ));
    let dialect = bpfvm::Dialect::Sbpf26(bpfvm::SbpfVersion::V0);
    let executable = bpfvm::elf::load_in(&case.elf, loader, dialect).unwrap();
    let mut program = bpfvm::verify(executable).unwrap();
    let backend = if jit {
        program.jit_compile().unwrap();
        bpfvm::Backend::Jit
    } else {
        bpfvm::Backend::Interpreter
    };
    let mut context = Direct {
        remaining: BUDGET,
        logs: Vec::new(),
    };
    let mut heap = vec![0u8; HEAP];
    let mut input = case.input.clone();
    let regions = vec![bpfvm::MemoryRegion::writable(
        &mut input,
        bpfvm::MM_INPUT_START,
    )];
    let mut vm = bpfvm::Vm::new(&program, &mut context, &mut heap, regions).unwrap();
    let mut units = 0;
    let mut invoke = |units: &mut u64| {
        let mapping = vm.mapping_mut();
        mapping
            .write_bytes(bpfvm::MM_INPUT_START, &case.input)
            .unwrap();
        mapping.write_bytes(bpfvm::MM_HEAP_START, &[0; 8]).unwrap();
        let context = vm.context();
        context.remaining = BUDGET;
        context.logs.clear();
        let run = vm.run(backend);
        assert_eq!(run.result, Ok(0));
        assert_eq!(vm.context().logs, ["Program log: Instruction: Transfer"]);
        *units = run.instruction_count;
    };
    invoke(&mut units);
    let mut group = c.benchmark_group(group_name(jit));
    group.bench_function("bpfvm", |b| b.iter(|| invoke(&mut units)));
    group.finish();
    units
}
