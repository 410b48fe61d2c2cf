//! Checks that compiled code really runs natively: every bail-out hands the run to the
//! interpreter, which gives the exact result anyway, so a JIT that bailed out at its first
//! instruction would pass every differential test. Here each program must end at its root
//! `exit` in generated code (the last run's exit kind is recorded per thread in tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::env::ExitKind;
use super::run::last_exit;
use crate::program::{Executable, Loader, SyscallRegistry, MM_INPUT_START};
use crate::test_insns::{alu, load, r, sbpf_bytes, store};
use crate::{verify, Backend, Config, MemoryRegion, TestContext, Vm};
use bpfvm_isa::{AluOp, Cond, Dialect, Insn, MemSize, Source, Width};
use std::sync::Arc;

/// Sums 0..n (n from the input) in a loop, bumps an input word (a read-modify-write), keeps
/// the sum in a stack slot through r10 and through a copy of r10, calls a function that
/// doubles it, stores it back to the input and returns it.
fn program() -> Vec<Insn> {
    use Source::{Imm, Reg as R};
    vec![
        load(MemSize::DW, 2, 1, 0),
        alu(AluOp::Mov, 0, Imm(0)),
        alu(AluOp::Mov, 3, Imm(0)),
        store(MemSize::DW, 10, -8, R(r(0))),
        // Loop head (inside the interpreter's run from slot 0; the JIT starts a run here).
        alu(AluOp::Add, 0, R(r(3))),
        alu(AluOp::Add, 3, Imm(1)),
        Insn::Branch {
            width: Width::W64,
            cond: Cond::Lt,
            dst: r(3),
            src: R(r(2)),
            off: -3,
        },
        // A read-modify-write of the input (one check for the load and the store).
        load(MemSize::DW, 6, 1, 8),
        alu(AluOp::Add, 6, Imm(7)),
        store(MemSize::DW, 1, 8, R(r(6))),
        alu(AluOp::Mov, 4, R(r(10))),
        store(MemSize::DW, 4, -16, R(r(0))),
        load(MemSize::W, 5, 10, -16),
        Insn::Call { src: 1, imm: 3 },
        store(MemSize::DW, 1, 8, R(r(0))),
        Insn::Exit,
        Insn::Exit,
        // The function: r0 = r5 * 2.
        alu(AluOp::Mov, 0, R(r(5))),
        alu(AluOp::Add, 0, R(r(5))),
        Insn::Exit,
    ]
}

fn run(config: Config, backend: Backend) -> (u64, Vec<u8>, u64) {
    let bytes = sbpf_bytes(&program());
    let loader = Arc::new(Loader::with_syscalls(config, SyscallRegistry::new()));
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    let mut program = verify(executable).unwrap();
    program.jit_compile().unwrap();
    let mut input = 100u64.to_le_bytes().to_vec();
    input.extend_from_slice(&[0; 8]);
    let mut context = TestContext::new(100_000);
    let mut heap = Vec::new();
    let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
    let (result, count) = {
        let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
        let run = vm.run(backend);
        (run.result.unwrap(), run.instruction_count)
    };
    (result, input, count)
}

#[test]
fn programs_end_in_generated_code() {
    let configs = [
        Config::default(),
        Config::legacy(),
        Config {
            aligned_memory_mapping: false,
            ..Config::default()
        },
        Config {
            enable_instruction_meter: false,
            ..Config::legacy()
        },
    ];
    for config in configs {
        let expected = run(config, Backend::Interpreter);
        assert_eq!(expected.0, 2 * 4950, "{config:?}");
        let got = run(config, Backend::Jit);
        assert_eq!(got, expected, "{config:?}");
        assert_eq!(last_exit(), Some(ExitKind::Exit), "{config:?}");
    }
}
