//! `bpfvm run PROGRAM.so` with an instruction: the options that name the program id, the
//! account metas, the account states and the data; running it with `bpfvm_solana::invoke`;
//! and printing what it did (the framed log, the decoded result, compute units, return data
//! and each account's changes) as text or JSON. Also the import warnings and names the other
//! commands print for ELF files.
//!
//! Instruction mode starts when any of `--program-id`, `--meta`, `--account`, `--data-hex`,
//! `--data-base58` or `--data-base64` is given. Sysvar accounts the metas name but no
//! `--account` file supplies (rent, clock, epoch schedule) are made from the sysvar values.

use crate::{BackendChoice, Outcome, RunOptions};
use bpfvm::syscalls::{cost, Sysvars};
use bpfvm::Backend;
use bpfvm_solana::account::{account_to_json, accounts_from_json};
use bpfvm_solana::instruction::InstructionData;
use bpfvm_solana::invoke::{AccountOutcome, InvokeOutcome};
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
    #[arg(long, default_value_t = cost::DEFAULT_INSTRUCTION_UNITS)]
    pub compute_unit_limit: u64,
    /// The Clock sysvar's slot.
    #[arg(long, default_value_t = 0)]
    pub slot: u64,
    /// The Clock sysvar's epoch.
    #[arg(long, default_value_t = 0)]
    pub epoch: u64,
    /// The Clock sysvar's Unix timestamp.
    #[arg(long, default_value_t = 0)]
    pub unix_timestamp: i64,
    /// The Rent sysvar's lamports per byte-year.
    #[arg(long, default_value_t = 3_480)]
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

    fn data(&self) -> Result<Vec<u8>, String> {
        let decoded = match (&self.data_hex, &self.data_base58, &self.data_base64) {
            (Some(text), _, _) => InstructionData::Hex.decode(text),
            (_, Some(text), _) => InstructionData::Base58.decode(text),
            (_, _, Some(text)) => InstructionData::Base64.decode(text),
            (None, None, None) => Ok(Vec::new()),
        };
        decoded.map_err(|e| e.to_string())
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
pub fn run(options: &RunOptions) -> Outcome {
    match execute(options) {
        Ok(outcome) => report(options, &outcome),
        Err(message) => Outcome::Unusable(message),
    }
}

fn execute(options: &RunOptions) -> Result<InvokeOutcome, String> {
    let ix = &options.instruction;
    let program_id: Pubkey = match &ix.program_id {
        Some(text) => text.parse().map_err(|e| format!("--program-id: {e}"))?,
        None => Pubkey::default(),
    };
    let metas = ix
        .metas
        .iter()
        .map(|text| {
            text.parse::<AccountMeta>()
                .map_err(|e| format!("--meta {text}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut states = Vec::new();
    for path in &ix.accounts {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        states.extend(accounts_from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let sysvars = ix.sysvars();
    states.extend(sysvar_accounts(&metas, &states, &sysvars));
    let bytes = std::fs::read(&options.program)
        .map_err(|e| format!("cannot read {}: {e}", options.program.display()))?;
    let mut loaded = load_program(&bytes).map_err(|e| e.to_string())?;
    for import in &loaded.unresolved {
        eprintln!(
            "warning: unresolved import {} (no syscall serves it)",
            import.name
        );
    }
    let backend = match options.backend {
        BackendChoice::Interpreter => Backend::Interpreter,
        BackendChoice::Jit => {
            loaded
                .program
                .jit_compile()
                .map_err(|e| format!("JIT compilation failed: {e}"))?;
            Backend::Jit
        }
    };
    let instruction = Instruction {
        program_id,
        accounts: metas,
        data: ix.data()?,
    };
    let invoke_options = InvokeOptions {
        loader: ix.loader(),
        budget: ix.compute_unit_limit,
        heap_size: options.heap,
        sysvars,
        backend,
        ..InvokeOptions::default()
    };
    let mut outcome = invoke(&loaded.program, &instruction, &states, &invoke_options)
        .map_err(|e| e.to_string())?;
    if let Some(error) = &outcome.vm_error {
        let names = imports::imports(&bytes).unwrap_or_default();
        let text = imports::describe_error(error, loaded.program.executable(), &names);
        if let Some(last) = outcome.logs.last_mut() {
            if last.ends_with(&error.to_string()) {
                *last = format!("Program {program_id} failed: {text}");
            }
        }
    }
    Ok(outcome)
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

fn report(options: &RunOptions, outcome: &InvokeOutcome) -> Outcome {
    if options.json {
        crate::write_stdout(&format!("{}\n", json_report(outcome)));
    } else {
        crate::write_stdout(&text_report(outcome));
    }
    match outcome.result {
        Ok(()) => Outcome::Success,
        Err(_) => Outcome::ProgramError,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
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
        text.push_str(&format!("return data: {program} {}\n", hex(data)));
    }
    for account in &outcome.accounts {
        for line in changes::describe(account) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

fn json_report(outcome: &InvokeOutcome) -> Value {
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
    let accounts: Vec<Value> = outcome.accounts.iter().map(account_json).collect();
    json!({
        "ok": outcome.result.is_ok(),
        "result": result,
        "r0": outcome.return_value.map(|r0| format!("{r0:#x}")),
        "vm_error": outcome.vm_error.as_ref().map(crate::json::error),
        "compute_units": outcome.compute_units,
        "budget": outcome.budget,
        "instructions": outcome.instructions,
        "return_data": outcome.return_data.as_ref().map(|(program, data)| json!({
            "program_id": program.to_string(),
            "hex": hex(data),
        })),
        "logs": outcome.logs,
        "accounts": accounts,
    })
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

/// Prints a warning for each import of an ELF file that `registry` does not serve.
pub fn warn_unresolved<C>(bytes: &[u8], registry: &bpfvm::SyscallRegistry<C>) {
    if !bytes.starts_with(b"\x7fELF") {
        return;
    }
    for import in imports::unresolved_imports(bytes, registry).unwrap_or_default() {
        eprintln!(
            "warning: unresolved import {} (no syscall serves it)",
            import.name
        );
    }
}
