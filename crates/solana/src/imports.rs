//! Naming what a program imports: which imports no registered syscall serves (a warning at
//! load time, or the loader's `UnresolvedSymbol` error under `reject_broken_elfs`), and which
//! import a failing `call` named (`unsupported syscall sol_sha256 at pc 12` instead of a bare
//! `UnsupportedInstruction`).
//!
//! The names come from the ELF's undefined symbols ([`bpfvm::elf::describe`]); a call names
//! an import by the Murmur3 key in its immediate. The engine's error stays the reference's
//! `UnsupportedInstruction { pc }` (exact for the 2022 profiles); these functions add the
//! name beside it.

use bpfvm::elf::describe;
use bpfvm::{Executable, LoadError, RuntimeError, SyscallRegistry};
use bpfvm_isa::{decode, Insn, Slot};
use std::collections::BTreeMap;

/// One imported symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// Its name.
    pub name: String,
    /// The Murmur3 key a call to it carries.
    pub key: u32,
}

/// Every import of an ELF file, by key (an object or shared object; other files have none).
pub fn imports(elf: &[u8]) -> Result<BTreeMap<u32, String>, LoadError> {
    Ok(describe(elf)?
        .syscalls
        .into_iter()
        .map(|(name, key)| (key, name))
        .collect())
}

/// The imports of an ELF file that `registry` does not serve, in key order.
pub fn unresolved_imports<C>(
    elf: &[u8],
    registry: &SyscallRegistry<C>,
) -> Result<Vec<Import>, LoadError> {
    Ok(imports(elf)?
        .into_iter()
        .filter(|(key, _)| !registry.contains(*key))
        .map(|(key, name)| Import { name, key })
        .collect())
}

/// The name of the import the `call` at `pc` names, if there is one.
pub fn import_called_at<C>(
    executable: &Executable<C>,
    pc: usize,
    imports: &BTreeMap<u32, String>,
) -> Option<String> {
    let slots = Slot::slots_of(executable.text());
    match decode(&slots, pc, executable.dialect()) {
        Ok(Insn::Call { imm, .. }) => imports.get(&(imm as u32)).cloned(),
        _ => None,
    }
}

/// The error as a sentence naming the unsupported import when the run stopped at a call to
/// one (`unsupported syscall sol_sha256 at pc 12`); otherwise the error's own text.
pub fn describe_error<C>(
    error: &RuntimeError,
    executable: &Executable<C>,
    imports: &BTreeMap<u32, String>,
) -> String {
    if let RuntimeError::UnsupportedInstruction { pc } = error {
        if let Some(name) = import_called_at(executable, *pc, imports) {
            return format!("unsupported syscall {name} at pc {pc}");
        }
    }
    error.to_string()
}
