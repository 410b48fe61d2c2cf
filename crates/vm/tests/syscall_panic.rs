//! A host syscall that panics: on both backends the panic reaches the host (which may catch
//! it) with its own payload, rather than aborting the process; generated code is never
//! unwound through. The VM stays usable for the next run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::{
    verify, Backend, Config, Executable, Loader, MemoryMapping, MemoryRegion, RuntimeError,
    SyscallRegistry, TestContext, VerifiedProgram, Vm, MM_INPUT_START,
};
use bpfvm_isa::{encode, hash_symbol_name, Dialect, Extend, Insn, MemSize, Reg};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Panics on an argument of 7, else returns it doubled.
fn fragile(
    _context: &mut TestContext,
    _memory: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    if args[0] == 7 {
        panic!("fragile syscall refused 7");
    }
    Ok(args[0] * 2)
}

/// `ldxdw r1, [r1]; call fragile; exit`.
fn program() -> VerifiedProgram<TestContext> {
    let insns = [
        Insn::Load {
            size: MemSize::DW,
            extend: Extend::Zero,
            dst: Reg::R1,
            base: Reg::R1,
            off: 0,
        },
        Insn::Call {
            src: 0,
            imm: hash_symbol_name(b"fragile") as i32,
        },
        Insn::Exit,
    ];
    let bytes: Vec<u8> = insns
        .iter()
        .flat_map(|insn| encode(insn, Dialect::Sbpf).unwrap())
        .flat_map(|slot| slot.to_bytes())
        .collect();
    let mut syscalls = SyscallRegistry::new();
    syscalls.register("fragile", fragile).unwrap();
    let loader = Arc::new(Loader::with_syscalls(Config::default(), syscalls));
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    let mut verified = verify(executable).unwrap();
    if Backend::AVAILABLE.contains(&Backend::Jit) {
        verified.jit_compile().unwrap();
    }
    verified
}

#[test]
fn a_panicking_syscall_unwinds_to_the_host_on_both_backends() {
    let verified = program();
    for &backend in Backend::AVAILABLE {
        let mut input = 7u64.to_le_bytes().to_vec();
        let mut context = TestContext::new(1_000);
        let mut heap = Vec::new();
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let mut vm = Vm::new(&verified, &mut context, &mut heap, regions).unwrap();
        let caught = catch_unwind(AssertUnwindSafe(|| vm.run(backend)));
        let payload = caught.expect_err("the syscall's panic reaches the host");
        let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
        assert_eq!(message, "fragile syscall refused 7", "{backend:?}");

        // The same VM runs again normally once the input no longer triggers the panic.
        vm.mapping_mut()
            .write_bytes(MM_INPUT_START, &21u64.to_le_bytes())
            .expect("the input region is writable");
        let run = vm.run(backend);
        assert_eq!(run.result, Ok(42), "{backend:?}");
        assert_eq!(run.instruction_count, 3, "{backend:?}");
    }
}
