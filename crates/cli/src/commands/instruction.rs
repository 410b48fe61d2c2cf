//! `bpfvm run PROGRAM.so` with an instruction: the options that name the program id, the
//! account metas, the account states and the data; running it with `bpfvm_solana::invoke`;
//! and printing what it did (the framed log, the decoded result, compute units, return data
//! and each account's changes) as text or JSON. Also the import names and the unserved
//! imports the other commands report for ELF files.
//!
//! Instruction mode starts when any of `--program-id`, `--meta`, `--account`, `--data-hex`,
//! `--data-base58` or `--data-base64` is given. Sysvar accounts the metas name but no
//! `--account` file supplies (rent, clock, epoch schedule) are made from the sysvar values.
//! The heap follows the runtime's frames, account files the input's size limit, and the
//! budget is `--compute-unit-limit` (the runtime's 200,000 by default); options of a plain
//! run that would not apply (`--budget`, `--repeat`, traces, profiles, inputs) are refused.

use crate::args::{BackendChoice, RunOptions};
use crate::failure::Failure;
use crate::program_file::{ProgramFile, ProgramKind};
use crate::schema::{Hex, InstructionReport, ProgramDescription, Report};
use crate::validate::{self, HeapRules};
use bpfvm::syscalls::{cost, Sysvars};
use bpfvm::{Backend, Preset};
use bpfvm_solana::account::{account_to_json, accounts_from_json};
use bpfvm_solana::instruction::InstructionData;
use bpfvm_solana::invoke::{AccountOutcome, InvokeError, InvokeOutcome};
use bpfvm_solana::program::ProgramError;
use bpfvm_solana::{
    changes, imports, invoke, load_program, Account, AccountMeta, Instruction, InvokeOptions,
    KeyedAccount, Loader, Pubkey,
};
use clap::ValueEnum;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The loader that owns the program.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LoaderChoice {
    /// The upgradeable loader (aligned input).
    Upgradeable,
    /// BPF Loader 2 (aligned input).
    V2,
    /// The deprecated loader (unaligned input).
    Deprecated,
}

/// Options that run a Solana instruction with accounts.
#[derive(clap::Args, Clone, Debug)]
pub struct InstructionOptions {
    /// The program's address (base58; default 11111111111111111111111111111111).
    #[arg(long, value_name = "PUBKEY")]
    pub program_id: Option<String>,
    /// An account the instruction names, in order: `PUBKEY[:signer,writable]` (repeat).
    #[arg(long = "meta", value_name = "PUBKEY:FLAGS")]
    pub metas: Vec<String>,
    /// A JSON file of account states as `solana account ADDRESS --output json` writes them,
    /// one object or an array (repeat).
    #[arg(long = "account", visible_alias = "accounts", value_name = "FILE.json")]
    pub accounts: Vec<PathBuf>,
    /// Instruction data as hex.
    #[arg(long, conflicts_with_all = ["data_base58", "data_base64"])]
    pub data_hex: Option<String>,
    /// Instruction data as base58.
    #[arg(long, conflicts_with = "data_base64")]
    pub data_base58: Option<String>,
    /// Instruction data as base64.
    #[arg(long)]
    pub data_base64: Option<String>,
    /// The loader that owns the program (decides the input layout).
    #[arg(long, value_enum, default_value = "upgradeable")]
    pub loader: LoaderChoice,
    /// The instruction's compute budget (instruction mode uses it instead of --budget).
    #[arg(long, default_value_t = cost::DEFAULT_INSTRUCTION_UNITS, allow_negative_numbers = true)]
    pub compute_unit_limit: u64,
    /// The Clock sysvar's slot.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub slot: u64,
    /// The Clock sysvar's epoch.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub epoch: u64,
    /// The Clock sysvar's Unix timestamp.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub unix_timestamp: i64,
    /// The Rent sysvar's lamports per byte-year.
    #[arg(long, default_value_t = 3_480, allow_negative_numbers = true)]
    pub lamports_per_byte_year: u64,
}

impl InstructionOptions {
    /// Whether the options ask for instruction mode.
    pub fn wanted(&self) -> bool {
        self.program_id.is_some()
            || !self.metas.is_empty()
            || !self.accounts.is_empty()
            || self.data_hex.is_some()
            || self.data_base58.is_some()
            || self.data_base64.is_some()
    }

    fn data(&self) -> Result<Vec<u8>, Failure> {
        let (option, decoded) = match (&self.data_hex, &self.data_base58, &self.data_base64) {
            (Some(text), _, _) => ("--data-hex", InstructionData::Hex.decode(text)),
            (_, Some(text), _) => ("--data-base58", InstructionData::Base58.decode(text)),
            (_, _, Some(text)) => ("--data-base64", InstructionData::Base64.decode(text)),
            (None, None, None) => return Ok(Vec::new()),
        };
        decoded.map_err(|e| Failure::invalid_value(option, format!("{option}: {e}")))
    }

    fn sysvars(&self) -> Sysvars {
        let mut sysvars = Sysvars::default();
        sysvars.clock.slot = self.slot;
        sysvars.clock.epoch = self.epoch;
        sysvars.clock.leader_schedule_epoch = self.epoch;
        sysvars.clock.unix_timestamp = self.unix_timestamp;
        sysvars.rent.lamports_per_byte_year = self.lamports_per_byte_year;
        sysvars
    }

    fn loader(&self) -> Loader {
        match self.loader {
            LoaderChoice::Upgradeable => Loader::Upgradeable,
            LoaderChoice::V2 => Loader::V2,
            LoaderChoice::Deprecated => Loader::Deprecated,
        }
    }
}

/// Runs the instruction the options describe and reports it.
pub fn run(options: &RunOptions) -> Result<InstructionReport, Failure> {
    refuse_options(options)?;
    let heap = validate::heap(options.heap, HeapRules::Solana)?;
    let ix = &options.instruction;
    let instruction = Instruction {
        program_id: program_id(ix)?,
        accounts: metas(ix)?,
        data: ix.data()?,
    };
    let mut states = account_states(ix)?;
    let sysvars = ix.sysvars();
    states.extend(sysvar_accounts(&instruction.accounts, &states, &sysvars));
    let file = ProgramFile::read(&options.program)?;
    let description = describe(&file);
    let mut loaded = load_program(&file.bytes).map_err(|error| match error {
        ProgramError::Load(error) => Failure::Load {
            error,
            program: Some(Box::new(description.clone())),
        },
        ProgramError::Verify(error) => Failure::Verify {
            error,
            program: Box::new(description.clone()),
        },
    })?;
    let unresolved: Vec<String> = loaded.unresolved.iter().map(|i| i.name.clone()).collect();
    let backend = match options.backend {
        BackendChoice::Interpreter => Backend::Interpreter,
        BackendChoice::Jit => {
            loaded
                .program
                .jit_compile()
                .map_err(|error| Failure::Compile { error })?;
            Backend::Jit
        }
    };
    let invoke_options = InvokeOptions {
        loader: ix.loader(),
        budget: ix.compute_unit_limit,
        heap_size: heap,
        sysvars,
        backend,
        ..InvokeOptions::default()
    };
    let mut outcome =
        invoke(&loaded.program, &instruction, &states, &invoke_options).map_err(invoke_failure)?;
    name_the_failed_import(
        &mut outcome,
        &file.bytes,
        &loaded.program,
        &instruction.program_id,
    );
    Ok(report(&outcome, description, unresolved))
}

/// Options that do not apply to an instruction: refused rather than ignored.
fn refuse_options(options: &RunOptions) -> Result<(), Failure> {
    let refused = [
        (options.budget.is_some(), "--budget", "--compute-unit-limit"),
        (options.repeat != 1, "--repeat", "one run"),
        (
            options.trace || options.trace_file.is_some(),
            "--trace",
            "no trace",
        ),
        (
            options.profile.is_some() || options.profile_folded.is_some(),
            "--profile",
            "no profile",
        ),
        (
            options.input.is_some()
                || options.input_hex.is_some()
                || options.instruction_data.is_some(),
            "--input",
            "the input the accounts and the data make",
        ),
    ];
    match refused.into_iter().find(|(given, _, _)| *given) {
        Some((_, option, instead)) => Err(Failure::conflict(
            option,
            format!("{option} does not apply to an instruction with accounts (it takes {instead})"),
        )),
        None => Ok(()),
    }
}

fn program_id(ix: &InstructionOptions) -> Result<Pubkey, Failure> {
    match &ix.program_id {
        Some(text) => text
            .parse()
            .map_err(|e| Failure::invalid_value("--program-id", format!("--program-id: {e}"))),
        None => Ok(Pubkey::default()),
    }
}

fn metas(ix: &InstructionOptions) -> Result<Vec<AccountMeta>, Failure> {
    ix.metas
        .iter()
        .map(|text| {
            text.parse::<AccountMeta>()
                .map_err(|e| Failure::invalid_value("--meta", format!("--meta {text}: {e}")))
        })
        .collect()
}

/// The account states of the `--account` files, each at most the input's limit.
fn account_states(ix: &InstructionOptions) -> Result<Vec<KeyedAccount>, Failure> {
    let mut states = Vec::new();
    for path in &ix.accounts {
        let bytes = validate::read_limited(path, validate::MAX_INPUT, "--account")?;
        let invalid = |reason: String| {
            Failure::invalid_value("--account", format!("{}: {reason}", path.display()))
        };
        let text = String::from_utf8(bytes).map_err(|e| invalid(e.to_string()))?;
        states.extend(accounts_from_json(&text).map_err(|e| invalid(e.to_string()))?);
    }
    Ok(states)
}

/// How an instruction's program is loaded: its header's preset, the whole Solana set.
fn describe(file: &ProgramFile) -> ProgramDescription {
    let preset = match file.kind {
        ProgramKind::Elf => {
            bpfvm::elf::preset_for(&file.bytes).unwrap_or(Preset::Sbpf26(bpfvm::SbpfVersion::V0))
        }
        ProgramKind::Raw | ProgramKind::Assembly => Preset::Legacy,
    };
    file.describe(preset, crate::args::SyscallChoice::Solana)
}

fn invoke_failure(error: InvokeError) -> Failure {
    match error {
        InvokeError::Vm(error) => Failure::Setup { error },
        InvokeError::HeapTooLarge { .. } => Failure::out_of_range("--heap", error.to_string()),
        InvokeError::Serialize(_) => Failure::invalid_value("--meta", error.to_string()),
    }
}

/// Names the import a failing call named, in the log's last line.
fn name_the_failed_import(
    outcome: &mut InvokeOutcome,
    bytes: &[u8],
    program: &bpfvm::VerifiedProgram<bpfvm::syscalls::SolanaContext>,
    program_id: &Pubkey,
) {
    let Some(error) = &outcome.vm_error else {
        return;
    };
    let names = imports::imports(bytes).unwrap_or_default();
    let text = imports::describe_error(error, program.executable(), &names);
    if let Some(last) = outcome.logs.last_mut() {
        if last.ends_with(&error.to_string()) {
            *last = format!("Program {program_id} failed: {text}");
        }
    }
}

/// The sysvar accounts the metas name and no file supplied.
fn sysvar_accounts(
    metas: &[AccountMeta],
    states: &[KeyedAccount],
    sysvars: &Sysvars,
) -> Vec<KeyedAccount> {
    let known: [(&str, Vec<u8>); 3] = [
        (
            "SysvarRent111111111111111111111111111111111",
            sysvars.rent.to_account_data(),
        ),
        (
            "SysvarC1ock11111111111111111111111111111111",
            sysvars.clock.to_bytes(),
        ),
        (
            "SysvarEpochSchedu1e111111111111111111111111",
            sysvars.epoch_schedule.to_account_data(),
        ),
    ];
    let owner: Pubkey = "Sysvar1111111111111111111111111111111111111"
        .parse()
        .unwrap_or_default();
    let mut out: Vec<KeyedAccount> = Vec::new();
    for (address, data) in known {
        let Ok(pubkey) = address.parse::<Pubkey>() else {
            continue;
        };
        let named = metas.iter().any(|m| m.pubkey == pubkey);
        let supplied = states.iter().chain(&out).any(|s| s.pubkey == pubkey);
        if named && !supplied {
            out.push(KeyedAccount {
                pubkey,
                account: Account {
                    lamports: 1,
                    data,
                    owner,
                    executable: false,
                    rent_epoch: 0,
                },
            });
        }
    }
    out
}

fn report(
    outcome: &InvokeOutcome,
    program: ProgramDescription,
    unresolved_imports: Vec<String>,
) -> InstructionReport {
    let result = match &outcome.result {
        Ok(()) => json!({"ok": true}),
        Err(error) => {
            let mut value =
                json!({"ok": false, "error": error.name(), "message": error.to_string()});
            if let bpfvm_solana::InstructionError::Custom(code) = error {
                value["custom"] = json!(code);
            }
            value
        }
    };
    InstructionReport {
        succeeded: outcome.result.is_ok(),
        result,
        r0: outcome.return_value.map(Hex),
        vm_error: outcome
            .vm_error
            .as_ref()
            .map(|error| crate::schema::error_object(error.kind(), error.fields())),
        compute_units: outcome.compute_units,
        budget: outcome.budget,
        instructions: outcome.instructions,
        return_data: outcome.return_data.as_ref().map(|(program, data)| {
            json!({
                "program_id": program.to_string(),
                "hex": crate::hex::encode(data),
            })
        }),
        logs: outcome.logs.clone(),
        accounts: outcome.accounts.iter().map(account_json).collect(),
        program,
        unresolved_imports,
        text: text_report(outcome),
    }
}

fn text_report(outcome: &InvokeOutcome) -> String {
    let mut text = String::new();
    for line in &outcome.logs {
        text.push_str(line);
        text.push('\n');
    }
    match &outcome.result {
        Ok(()) => text.push_str("result: success\n"),
        Err(error) => text.push_str(&format!("result: {error:?} ({error})\n")),
    }
    text.push_str(&format!(
        "compute units: {} of {} ({} instructions)\n",
        outcome.compute_units, outcome.budget, outcome.instructions
    ));
    if let Some((program, data)) = &outcome.return_data {
        text.push_str(&format!(
            "return data: {program} {}\n",
            crate::hex::encode(data)
        ));
    }
    for account in &outcome.accounts {
        for line in changes::describe(account) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

impl Report for InstructionReport {
    fn ok(&self) -> bool {
        self.succeeded
    }

    fn text(&self) -> String {
        self.text.clone()
    }
}

fn account_json(outcome: &AccountOutcome) -> Value {
    let mut value = changes::to_json(outcome);
    value["state_after"] = account_to_json(&KeyedAccount {
        pubkey: outcome.pubkey,
        account: outcome.after.clone(),
    })["account"]
        .clone();
    value
}

/// The import names of an ELF file by key (empty for other files or unreadable ELFs).
pub fn import_names(bytes: &[u8]) -> BTreeMap<u32, String> {
    if bytes.starts_with(b"\x7fELF") {
        imports::imports(bytes).unwrap_or_default()
    } else {
        BTreeMap::new()
    }
}

/// The imports of an ELF file that `registry` does not serve (none for other files).
pub fn unresolved<C>(bytes: &[u8], registry: &bpfvm::SyscallRegistry<C>) -> Vec<String> {
    if !bytes.starts_with(b"\x7fELF") {
        return Vec::new();
    }
    imports::unresolved_imports(bytes, registry)
        .unwrap_or_default()
        .into_iter()
        .map(|import| import.name)
        .collect()
}
