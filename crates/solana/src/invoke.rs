//! Running one instruction as the runtime runs a transaction's instruction: lay out the
//! input, run the program under the instruction's compute budget, read the accounts back,
//! decode the result and frame the log.
//!
//! The log reads as a validator's (Agave's `stable_log` and bpf_loader):
//!
//! ```text
//! Program <id> invoke [1]
//! Program log: ...                      (what the program logged)
//! Program <id> consumed N of M compute units
//! Program return: <id> <base64>         (when return data was set)
//! Program <id> success | Program <id> failed: <error>
//! ```
//!
//! all under one log cap. The result: a nonzero r0 decodes into an [`InstructionError`]
//! (`Custom(1)`, `InvalidInstructionData`, ...); a syscall's budget overrun or an exhausted
//! meter is `ComputationalBudgetExceeded`; any other VM failure (a fault, `abort`, a panic)
//! is `ProgramFailedToComplete`, and its failure line names the VM's error. Accounts are read
//! back only after success, as the runtime does. Compute units are the instructions executed
//! plus the syscalls' costs ([`bpfvm::syscalls::cost`]), plus the heap's cost when the heap
//! is larger than 32 KiB; the default budget is the runtime's 200,000 units per
//! instruction.

use crate::account::{Account, KeyedAccount};
use crate::error::InstructionError;
use crate::instruction::{Instruction, InstructionAccounts};
use crate::pubkey::Pubkey;
use crate::serialization::{deserialize, serialize, Loader, SerializeError, SerializedInput};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bpfvm::syscalls::{cost, LogCap, LogSink, SolanaContext, SyscallError, Sysvars};
use bpfvm::{
    Backend, MemoryRegion, Run, RuntimeError, VerifiedProgram, Vm, VmMemory, MM_INPUT_START,
};

/// What to run an instruction with, besides the instruction and its accounts.
#[derive(Clone, Debug, PartialEq)]
pub struct InvokeOptions {
    /// The loader that owns the program (decides the input layout).
    pub loader: Loader,
    /// The compute budget ([`cost::DEFAULT_INSTRUCTION_UNITS`] by default).
    pub budget: u64,
    /// The heap size in bytes (32 KiB by default, at most [`MAX_HEAP_SIZE`]).
    pub heap_size: usize,
    /// The sysvars the getters serve.
    pub sysvars: Sysvars,
    /// The log cap (the runtime's 10,000 bytes by default).
    pub log_cap: LogCap,
    /// The backend.
    pub backend: Backend,
}

impl Default for InvokeOptions {
    fn default() -> Self {
        InvokeOptions {
            loader: Loader::default(),
            budget: cost::DEFAULT_INSTRUCTION_UNITS,
            heap_size: 32 * 1024,
            sysvars: Sysvars::default(),
            log_cap: LogCap::default(),
            backend: Backend::Interpreter,
        }
    }
}

/// One distinct account before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountOutcome {
    /// The address.
    pub pubkey: Pubkey,
    /// The state before the instruction.
    pub before: Account,
    /// The state after it (equal to `before` when the instruction failed).
    pub after: Account,
}

/// What running an instruction gave.
#[derive(Clone, Debug, PartialEq)]
pub struct InvokeOutcome {
    /// Success, or the instruction's error.
    pub result: Result<(), InstructionError>,
    /// The VM's own error, when the program did not return normally.
    pub vm_error: Option<RuntimeError>,
    /// The program's r0 when it returned.
    pub return_value: Option<u64>,
    /// Compute units consumed (instructions, syscall costs and the heap's cost).
    pub compute_units: u64,
    /// The instructions executed.
    pub instructions: u64,
    /// The budget the instruction had.
    pub budget: u64,
    /// The return data and the program that set it, when any was set.
    pub return_data: Option<(Pubkey, Vec<u8>)>,
    /// The framed log.
    pub logs: Vec<String>,
    /// Every distinct account, in the order the instruction first names it.
    pub accounts: Vec<AccountOutcome>,
}

/// Why an instruction could not be set up to run at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvokeError {
    /// The input could not be laid out.
    Serialize(SerializeError),
    /// The VM could not be set up, or the JIT backend was asked for without compiled code.
    Vm(RuntimeError),
    /// A heap above the runtime's 256 KiB maximum.
    HeapTooLarge {
        /// The size asked for.
        size: usize,
    },
}

/// The largest heap the runtime grants a program (`MAX_HEAP_FRAME_BYTES`).
pub const MAX_HEAP_SIZE: usize = 256 * 1024;

impl core::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InvokeError::Serialize(error) => error.fmt(f),
            InvokeError::Vm(error) => write!(f, "cannot run the program: {error}"),
            InvokeError::HeapTooLarge { size } => write!(
                f,
                "a heap of {size} bytes is above the runtime's maximum of {MAX_HEAP_SIZE}"
            ),
        }
    }
}

impl std::error::Error for InvokeError {}

/// Runs `instruction` with the account states `states` (keys the instruction names but
/// `states` lacks are accounts that do not exist yet), over a fresh stack and heap.
pub fn invoke(
    program: &VerifiedProgram<SolanaContext>,
    instruction: &Instruction,
    states: &[KeyedAccount],
    options: &InvokeOptions,
) -> Result<InvokeOutcome, InvokeError> {
    invoke_with(program, instruction, states, options, None)
}

/// As [`invoke`], with the stack and heap lent by `memory`, which the host keeps from one
/// instruction to the next (as a validator keeps its pool of stacks and heaps): the same
/// outcome, without zeroing a whole stack and heap per instruction (see [`VmMemory`]).
pub fn invoke_in(
    program: &VerifiedProgram<SolanaContext>,
    instruction: &Instruction,
    states: &[KeyedAccount],
    options: &InvokeOptions,
    memory: &mut VmMemory,
) -> Result<InvokeOutcome, InvokeError> {
    invoke_with(program, instruction, states, options, Some(memory))
}

/// [`invoke`] over fresh memory, or [`invoke_in`] over `memory`.
fn invoke_with(
    program: &VerifiedProgram<SolanaContext>,
    instruction: &Instruction,
    states: &[KeyedAccount],
    options: &InvokeOptions,
    memory: Option<&mut VmMemory>,
) -> Result<InvokeOutcome, InvokeError> {
    if options.heap_size > MAX_HEAP_SIZE {
        let size = options.heap_size;
        return Err(InvokeError::HeapTooLarge { size });
    }
    let accounts = InstructionAccounts::resolve(&instruction.accounts, states);
    let program_id = instruction.program_id;
    let input = serialize(options.loader, &accounts, &instruction.data, &program_id)
        .map_err(InvokeError::Serialize)?;
    let mut context = SolanaContext::new(options.budget, options.heap_size as u64);
    context.state.program_id = program_id.0;
    context.state.sysvars = options.sysvars;
    context.log_cap = options.log_cap;
    context.log_line(format!("Program {program_id} invoke [1]"));
    let heap_units = cost::heap_cost(options.heap_size as u64);
    let (run, bytes) = execute(program, &mut context, &input, options, heap_units, memory)?;
    let compute_units = options.budget - context.remaining;
    context.log_line(format!(
        "Program {program_id} consumed {compute_units} of {} compute units",
        options.budget
    ));
    let return_data = (!context.state.return_data.data.is_empty()).then(|| {
        (
            Pubkey(context.state.return_data.program_id),
            context.state.return_data.data.clone(),
        )
    });
    if let Some((owner, data)) = &return_data {
        context.log_line(format!("Program return: {owner} {}", STANDARD.encode(data)));
    }
    let verdict = Verdict::of(run.as_ref(), context.state.failure.as_ref());
    let (result, after, failure_text) = match verdict.result {
        Ok(()) => match deserialize(&input, &bytes, &accounts, &program_id) {
            Ok(after) => (Ok(()), after, verdict.text),
            Err(error) => {
                let text = error.to_string();
                (Err(error), unchanged(&accounts), text)
            }
        },
        Err(error) => (Err(error), unchanged(&accounts), verdict.text),
    };
    match &result {
        Ok(()) => context.log_line(format!("Program {program_id} success")),
        Err(_) => context.log_line(format!("Program {program_id} failed: {failure_text}")),
    }
    let instructions = match run {
        Some(_) => compute_units
            .saturating_sub(context.state.syscall_units)
            .saturating_sub(heap_units.min(compute_units)),
        None => 0,
    };
    Ok(InvokeOutcome {
        result,
        vm_error: verdict.vm_error,
        return_value: verdict.return_value,
        compute_units,
        instructions,
        budget: options.budget,
        return_data,
        logs: context.logs,
        accounts: accounts
            .unique
            .iter()
            .zip(after)
            .map(|(entry, after)| AccountOutcome {
                pubkey: entry.keyed.pubkey,
                before: entry.keyed.account.clone(),
                after,
            })
            .collect(),
    })
}

/// Charges the heap's cost and runs the program over a copy of the input, its stack and heap
/// fresh or lent by `memory`; returns the run (none when the heap's cost alone exceeds the
/// budget) and the input bytes afterwards.
fn execute(
    program: &VerifiedProgram<SolanaContext>,
    context: &mut SolanaContext,
    input: &SerializedInput,
    options: &InvokeOptions,
    heap_units: u64,
    memory: Option<&mut VmMemory>,
) -> Result<(Option<Run>, Vec<u8>), InvokeError> {
    let mut bytes = input.bytes.clone();
    if heap_units > context.remaining {
        context.remaining = 0;
        return Ok((None, bytes));
    }
    context.remaining -= heap_units;
    let mut heap;
    let run = {
        let regions = vec![MemoryRegion::writable(&mut bytes, MM_INPUT_START)];
        let vm = match memory {
            Some(memory) => Vm::new_in(program, context, memory, options.heap_size, regions),
            None => {
                heap = vec![0u8; options.heap_size];
                Vm::new(program, context, &mut heap, regions)
            }
        };
        vm.map_err(InvokeError::Vm)?.run(options.backend)
    };
    if let Err(RuntimeError::JitNotCompiled) = run.result {
        return Err(InvokeError::Vm(RuntimeError::JitNotCompiled));
    }
    Ok((Some(run), bytes))
}

/// What a run means to the runtime, before the accounts are read back.
struct Verdict {
    result: Result<(), InstructionError>,
    vm_error: Option<RuntimeError>,
    return_value: Option<u64>,
    /// The failure line's text (empty on success).
    text: String,
}

impl Verdict {
    fn of(run: Option<&Run>, failure: Option<&SyscallError>) -> Verdict {
        let failed = |error: InstructionError, vm_error, return_value, text| Verdict {
            result: Err(error),
            vm_error,
            return_value,
            text,
        };
        match run.map(|run| &run.result) {
            None => {
                let error = InstructionError::ComputationalBudgetExceeded;
                let text = error.to_string();
                failed(error, None, None, text)
            }
            Some(Ok(r0)) => match InstructionError::from_return_value(*r0) {
                Some(error) => {
                    let text = error.to_string();
                    failed(error, None, Some(*r0), text)
                }
                None => Verdict {
                    result: Ok(()),
                    vm_error: None,
                    return_value: Some(0),
                    text: String::new(),
                },
            },
            Some(Err(error)) => {
                let decoded = vm_failure(error, failure);
                let text = match decoded {
                    InstructionError::ComputationalBudgetExceeded => decoded.to_string(),
                    _ => error.to_string(),
                };
                failed(decoded, Some(error.clone()), None, text)
            }
        }
    }
}

/// The accounts' states when the instruction failed: as they were.
fn unchanged(accounts: &InstructionAccounts) -> Vec<Account> {
    accounts
        .unique
        .iter()
        .map(|entry| entry.keyed.account.clone())
        .collect()
}

/// The instruction error a VM failure means.
fn vm_failure(error: &RuntimeError, failure: Option<&SyscallError>) -> InstructionError {
    match (error, failure) {
        (RuntimeError::ExceededMaxInstructions { .. }, _) => {
            InstructionError::ComputationalBudgetExceeded
        }
        (RuntimeError::UserError { .. }, Some(SyscallError::ComputeBudgetExceeded { .. })) => {
            InstructionError::ComputationalBudgetExceeded
        }
        _ => InstructionError::ProgramFailedToComplete,
    }
}
