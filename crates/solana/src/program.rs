//! Loading a Solana program: the preset its ELF header asks for, the whole syscall set
//! ([`crate::syscalls::register_syscalls`]) and verification, with the imports no syscall
//! serves listed beside the program.

use crate::imports::{unresolved_imports, Import};
use crate::syscalls::register_syscalls;
use bpfvm::syscalls::SolanaContext;
use bpfvm::{
    elf, verify, Executable, LoadError, Loader, SyscallRegistry, VerifiedProgram, VerifyError,
};
use core::fmt;
use std::sync::Arc;

/// Why a program could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgramError {
    /// The ELF loader refused it.
    Load(LoadError),
    /// The verifier refused it.
    Verify(VerifyError),
}

impl fmt::Display for ProgramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProgramError::Load(error) => write!(f, "cannot load: {error}"),
            ProgramError::Verify(error) => write!(f, "verification failed: {error}"),
        }
    }
}

impl std::error::Error for ProgramError {}

/// A loaded program and the imports nothing serves (empty under `reject_broken_elfs`, where
/// an unserved import is the loader's `UnresolvedSymbol` error).
pub struct SolanaProgram {
    /// The verified program.
    pub program: VerifiedProgram<SolanaContext>,
    /// Imports no syscall serves; a call to one fails at run time.
    pub unresolved: Vec<Import>,
}

/// Loads and verifies an ELF file with the preset its header asks for and the whole
/// Solana syscall set.
pub fn load_program(elf_bytes: &[u8]) -> Result<SolanaProgram, ProgramError> {
    let preset = elf::preset_for(elf_bytes).map_err(ProgramError::Load)?;
    let mut registry = SyscallRegistry::new();
    register_syscalls(&mut registry).map_err(ProgramError::Load)?;
    let unresolved = unresolved_imports(elf_bytes, &registry).map_err(ProgramError::Load)?;
    let loader = Arc::new(Loader::with_syscalls(preset.config(), registry));
    let executable =
        Executable::from_elf_in(elf_bytes, loader, preset.dialect()).map_err(ProgramError::Load)?;
    let program = verify(executable).map_err(ProgramError::Verify)?;
    Ok(SolanaProgram {
        program,
        unresolved,
    })
}
