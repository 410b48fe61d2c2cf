//! Writes the machine code bpfvm's JIT generates for one C kernel of `examples/c/kernels`
//! (the legacy configuration the kernel benches run) to a file, with the code offset of
//! every slot on standard output, for reading the code with
//! `objdump -D -b binary -mi386:x86-64 FILE`.
//!
//! Run: `cargo run --release -p bpfvm-testkit --example kernel_dump -- KERNEL FILE`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../benches/kernels/mod.rs"]
mod kernels;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: kernel_dump KERNEL FILE";
    let name = args.next().expect(usage);
    let file = args.next().expect(usage);
    let all = kernels::kernels();
    let kernel = all.iter().find(|k| k.name == name).expect("a kernel name");
    let mut program = kernel.ours();
    program.jit_compile().unwrap();
    let jit = program.jit_program().expect("compiled");
    std::fs::write(&file, jit.code()).unwrap();
    for (pc, offset) in jit.pc_offsets().iter().enumerate() {
        if let Some(offset) = offset {
            println!("{pc:5} {offset:#08x}");
        }
    }
}
