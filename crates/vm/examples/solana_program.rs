//! Running a C program compiled by stock clang with the Solana syscall set: load the ELF
//! object, serialize a Solana input, run on every backend of the build and read the program's logs.
//!
//! Run: `cargo run -p bpfvm --example solana_program`

use bpfvm::elf::preset_for;
use bpfvm::syscalls::{register_solana_syscalls, SolanaContext};
use bpfvm::{
    verify, Backend, Executable, Loader, MemoryRegion, SyscallRegistry, Vm, MM_INPUT_START,
};
use std::sync::Arc;

/// What one backend produced: r0, the instruction count and the log lines.
pub type Observed = (Backend, u64, u64, Vec<String>);

/// Runs examples/c/hello.o with the text "world" on both backends.
pub fn run_example() -> Result<Vec<Observed>, Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/c/hello.o");
    let bytes = std::fs::read(path)?;
    let preset = preset_for(&bytes)?;
    let mut syscalls = SyscallRegistry::new();
    register_solana_syscalls(&mut syscalls)?;
    let loader = Arc::new(Loader::with_syscalls(preset.config(), syscalls));
    let mut program = verify(Executable::from_elf(&bytes, loader)?)?;
    // The JIT exists on x86-64 builds with the `jit` feature; elsewhere only the interpreter.
    if Backend::AVAILABLE.contains(&Backend::Jit) {
        program.jit_compile()?;
    }

    // hello.o reads a u64 length and then that many bytes of text from its input.
    let mut input = 5u64.to_le_bytes().to_vec();
    input.extend_from_slice(b"world");
    let mut observed = Vec::new();
    for &backend in Backend::AVAILABLE {
        let heap_size = 32 * 1024;
        let mut heap = vec![0u8; heap_size];
        let mut context = SolanaContext::new(100_000, heap_size as u64);
        let mut memory = input.clone();
        let run = {
            let regions = vec![MemoryRegion::writable(&mut memory, MM_INPUT_START)];
            let mut vm = Vm::new(&program, &mut context, &mut heap, regions)?;
            vm.run(backend)
        };
        observed.push((
            backend,
            run.result?,
            run.instruction_count,
            context.logs.clone(),
        ));
    }
    Ok(observed)
}

#[allow(
    dead_code,
    reason = "the entry point when run as an example; tests call run_example"
)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (backend, r0, count, logs) in run_example()? {
        println!("{backend:?}: r0 = {r0}, {count} instructions, logs: {logs:?}");
    }
    Ok(())
}
