//! Embedding bpfvm in a host: register a syscall, load a program, map an input region and
//! run it on every backend of the build.
//!
//! The program is raw sBPF bytecode built in place: it reads a u64 from the input, calls the
//! host's `host_square` syscall on it, stores the result back into the input and returns it.
//!
//! Run: `cargo run -p bpfvm --example embed`

use bpfvm::{
    verify, Backend, Config, ContextObject, Executable, Loader, MemoryMapping, MemoryRegion,
    RuntimeError, SyscallRegistry, TestContext, Vm, MM_INPUT_START,
};
use bpfvm_isa::{encode, hash_symbol_name, Dialect, Insn, MemSize, Reg, Source};
use std::sync::Arc;

/// The host function: r0 = r1 * r1, charging 10 extra instructions of budget.
fn host_square(
    context: &mut TestContext,
    _memory: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    context.consume(10);
    Ok(args[0].wrapping_mul(args[0]))
}

fn reg(number: u8) -> Reg {
    Reg::new(number).unwrap_or(Reg::R0)
}

/// ldxdw r6, [r1]; mov r7, r1; mov r1, r6; syscall host_square; stxdw [r7], r0; exit
fn program() -> Vec<u8> {
    let key = hash_symbol_name(b"host_square") as i32;
    let insns = [
        Insn::Load {
            size: MemSize::DW,
            extend: bpfvm_isa::Extend::Zero,
            dst: reg(6),
            base: reg(1),
            off: 0,
        },
        Insn::Alu {
            width: bpfvm_isa::Width::W64,
            op: bpfvm_isa::AluOp::Mov,
            dst: reg(7),
            src: Source::Reg(reg(1)),
        },
        Insn::Alu {
            width: bpfvm_isa::Width::W64,
            op: bpfvm_isa::AluOp::Mov,
            dst: reg(1),
            src: Source::Reg(reg(6)),
        },
        Insn::Call { src: 0, imm: key },
        Insn::Store {
            size: MemSize::DW,
            base: reg(7),
            off: 0,
            src: Source::Reg(Reg::R0),
        },
        Insn::Exit,
    ];
    insns
        .iter()
        .flat_map(|insn| encode(insn, Dialect::Sbpf).unwrap_or_default())
        .flat_map(|slot| slot.to_bytes())
        .collect()
}

/// What one backend produced: r0 and the instruction count.
pub type Observed = (Backend, u64, u64);

/// Loads, verifies, compiles and runs the program on both backends.
pub fn run_example() -> Result<Vec<Observed>, Box<dyn std::error::Error>> {
    let mut syscalls = SyscallRegistry::new();
    syscalls.register("host_square", host_square)?;
    let loader = Arc::new(Loader::with_syscalls(Config::default(), syscalls));
    let executable = Executable::from_raw_program(&program(), loader, Dialect::Sbpf)?;
    let mut verified = verify(executable)?;
    // The JIT exists on x86-64 builds with the `jit` feature; elsewhere only the interpreter.
    if Backend::AVAILABLE.contains(&Backend::Jit) {
        verified.jit_compile()?;
    }

    let mut results = Vec::new();
    for &backend in Backend::AVAILABLE {
        let mut input = 12u64.to_le_bytes().to_vec();
        let mut context = TestContext::new(1_000);
        let mut heap = Vec::new();
        let run = {
            let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
            let mut vm = Vm::new(&verified, &mut context, &mut heap, regions)?;
            vm.run(backend)
        };
        let r0 = run.result?;
        assert_eq!(input, r0.to_le_bytes(), "the program stored its result");
        results.push((backend, r0, run.instruction_count));
    }
    Ok(results)
}

#[allow(
    dead_code,
    reason = "the entry point when run as an example; tests call run_example"
)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (backend, r0, count) in run_example()? {
        println!(
            "{backend:?}: r0 = {r0}, {count} instructions (10 of them charged by the syscall)"
        );
    }
    Ok(())
}
