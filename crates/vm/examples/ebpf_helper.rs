//! Hosting eBPF programs with helpers by number: register the bpf_conformance set and a
//! helper of the host's own, load a program in the eBPF dialect, run it on both backends.
//!
//! The program calls helper 7, the host's `host_add`, with r1 = 5 and r2 = 37, and then the
//! conformance set's helper 3 (`sqrti`) on the result. A clang object would declare the host's
//! helper as `static u64 (*host_add)(u64, u64) = (void *)7;` (a call by number), or as
//! `extern u64 host_add(u64, u64);`, which the object linker resolves to the helper registered
//! under that name; load it with `Executable::from_elf_in(bytes, loader, Dialect::Ebpf)`.
//!
//! Run: `cargo run -p bpfvm --example ebpf_helper`

use bpfvm::syscalls::register_conformance_helpers;
use bpfvm::{
    verify, Backend, Executable, Loader, MemoryMapping, Preset, RuntimeError, SyscallRegistry,
    TestContext, Vm,
};
use bpfvm_isa::{encode, AluOp, Dialect, Insn, Reg, Source, Width};
use std::sync::Arc;

/// The host's helper number 7: r0 = r1 + r2.
fn host_add(
    _context: &mut TestContext,
    _memory: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    Ok(args[0].wrapping_add(args[1]))
}

fn mov(dst: u8, src: Source) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: Reg::new(dst).unwrap_or(Reg::R0),
        src,
    }
}

/// mov r1, 5; mov r2, 37; call 7; mov r1, r0; call 3; exit
fn program() -> Vec<u8> {
    let insns = [
        mov(1, Source::Imm(5)),
        mov(2, Source::Imm(37)),
        Insn::Call { src: 0, imm: 7 },
        mov(1, Source::Reg(Reg::R0)),
        Insn::Call { src: 0, imm: 3 },
        Insn::Exit,
    ];
    insns
        .iter()
        .flat_map(|insn| encode(insn, Dialect::Ebpf).unwrap_or_default())
        .flat_map(|slot| slot.to_bytes())
        .collect()
}

/// Loads, verifies, compiles and runs the program on every backend of the build:
/// (backend, r0).
pub fn run_example() -> Result<Vec<(Backend, u64)>, Box<dyn std::error::Error>> {
    let mut helpers = SyscallRegistry::new();
    register_conformance_helpers(&mut helpers)?;
    helpers.register_key(7, "host_add", host_add)?;
    let loader = Arc::new(Loader::with_syscalls(Preset::Ebpf.config(), helpers));
    let executable = Executable::from_raw_program(&program(), loader, Dialect::Ebpf)?;
    let mut verified = verify(executable)?;
    // The JIT exists on x86-64 builds with the `jit` feature; elsewhere only the interpreter.
    if Backend::AVAILABLE.contains(&Backend::Jit) {
        verified.jit_compile()?;
    }
    let mut results = Vec::new();
    for &backend in Backend::AVAILABLE {
        let mut context = TestContext::new(1_000);
        let mut vm = Vm::new(&verified, &mut context, &mut [], Vec::new())?;
        results.push((backend, vm.run(backend).result?));
    }
    Ok(results)
}

#[allow(
    dead_code,
    reason = "the entry point when run as an example; tests call run_example"
)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (backend, r0) in run_example()? {
        println!("{backend:?}: sqrti(host_add(5, 37)) = {r0}");
    }
    Ok(())
}
