//! Imports no registered syscall serves are named: listed at load time, a `LoadError` naming
//! the symbol under `reject_broken_elfs`, and at run time the failing call is described as
//! `unsupported syscall <name> at pc <pc>` while the engine keeps the reference's
//! `UnsupportedInstruction` error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::syscalls::{solana, SolanaContext};
use bpfvm::{
    verify, Backend, Config, Executable, LoadError, Loader, MemoryRegion, RuntimeError, SyscallFn,
    SyscallRegistry, Vm, MM_INPUT_START,
};
use bpfvm_solana::imports::{describe_error, imports, unresolved_imports};
use bpfvm_solana::instruction::InstructionAccounts;
use bpfvm_solana::serialization::{serialize, Loader as InputLoader};
use bpfvm_solana::{Account, AccountMeta, KeyedAccount, Pubkey};
use std::path::PathBuf;
use std::sync::Arc;

fn spl_token() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/solana_programs/spl_token-3.5.0.so");
    std::fs::read(path).unwrap()
}

/// The base set without the rent getter.
fn partial_registry() -> SyscallRegistry<SolanaContext> {
    let mut registry = SyscallRegistry::new();
    let table: [(&str, SyscallFn<SolanaContext>); 7] = [
        ("abort", solana::abort),
        ("sol_log_", solana::sol_log),
        ("sol_memcmp_", solana::sol_memcmp),
        ("sol_memcpy_", solana::sol_memcpy),
        ("sol_memmove_", solana::sol_memmove),
        ("sol_memset_", solana::sol_memset),
        ("sol_set_return_data", solana::sol_set_return_data),
    ];
    for (name, function) in table {
        registry.register(name, function).unwrap();
    }
    registry
}

#[test]
fn unserved_imports_are_listed_and_strict_loading_names_them() {
    let elf = spl_token();
    let unresolved = unresolved_imports(&elf, &partial_registry()).unwrap();
    let names: Vec<&str> = unresolved.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["sol_get_rent_sysvar"]);
    assert_eq!(unresolved[0].key, 0xbf71_88f6);
    let mut config = Config::legacy();
    config.reject_broken_elfs = true;
    let loader = Arc::new(Loader::with_syscalls(config, partial_registry()));
    match Executable::from_elf(&elf, loader) {
        Err(LoadError::UnresolvedSymbol { name, .. }) => assert_eq!(name, "sol_get_rent_sysvar"),
        other => panic!("expected UnresolvedSymbol, got {:?}", other.err()),
    }
}

#[test]
fn a_call_to_an_unserved_import_is_named_at_run_time() {
    let elf = spl_token();
    let loader = Arc::new(Loader::with_syscalls(Config::legacy(), partial_registry()));
    let mut program = verify(Executable::from_elf(&elf, loader).unwrap()).unwrap();
    program.jit_compile().unwrap();
    let token: Pubkey = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
        .parse()
        .unwrap();
    let mint = KeyedAccount {
        pubkey: Pubkey([1; 32]),
        account: Account {
            lamports: 1_461_600,
            data: vec![0; 82],
            owner: token,
            executable: false,
            rent_epoch: 0,
        },
    };
    let metas = [AccountMeta {
        pubkey: mint.pubkey,
        is_signer: false,
        is_writable: true,
    }];
    let accounts = InstructionAccounts::resolve(&metas, &[mint]);
    // InitializeMint2 reads the rent through sol_get_rent_sysvar.
    let mut data = vec![20, 6];
    data.extend_from_slice(&[4; 32]);
    data.push(0);
    let names = imports(&elf).unwrap();
    for backend in [Backend::Interpreter, Backend::Jit] {
        let mut input = serialize(InputLoader::V2, &accounts, &data, &token)
            .unwrap()
            .bytes;
        let mut context = SolanaContext::new(200_000, 32 * 1024);
        let mut heap = vec![0u8; 32 * 1024];
        let run = {
            let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
            let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
            vm.run(backend)
        };
        let error = run.result.unwrap_err();
        let RuntimeError::UnsupportedInstruction { pc } = error else {
            panic!("{backend:?}: {error:?}");
        };
        assert_eq!(
            describe_error(&error, program.executable(), &names),
            format!("unsupported syscall sol_get_rent_sysvar at pc {pc}")
        );
    }
}
