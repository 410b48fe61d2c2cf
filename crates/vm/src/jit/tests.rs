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

/// Whether [`histogram`]'s loop body holds a forward `ja` (over a `mov` that never runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Detour {
    No,
    Ja,
}

/// `counts[data[i]]++` for i in 0..32 (counts: 256 words at the input's start, data: bytes
/// after them), then returns counts[7]: a loop the JIT versions (`hoist`). With
/// [`Detour::Ja`], `ja +1; mov64 r0, 99` sits before the back edge.
fn histogram(detour: Detour) -> Vec<Insn> {
    let mut insns = histogram_straight();
    if detour == Detour::Ja {
        let skipped = alu(AluOp::Mov, 0, Source::Imm(99));
        insns.splice(14..14, [Insn::Ja { off: 1 }, skipped]);
        if let Some(Insn::Branch { off, .. }) = insns.get_mut(16) {
            *off -= 2;
        }
    }
    insns
}

/// [`histogram`] without a detour.
fn histogram_straight() -> Vec<Insn> {
    use Source::{Imm, Reg as R};
    vec![
        alu(AluOp::Mov, 2, R(r(1))),
        alu(AluOp::Mov, 3, R(r(1))),
        alu(AluOp::Add, 3, Imm(1024)),
        alu(AluOp::Mov, 4, Imm(0)),
        // The loop's head (slot 4).
        alu(AluOp::Mov, 5, R(r(3))),
        alu(AluOp::Add, 5, R(r(4))),
        load(MemSize::B, 5, 5, 0),
        alu(AluOp::Lsh, 5, Imm(2)),
        alu(AluOp::Mov, 0, R(r(2))),
        alu(AluOp::Add, 0, R(r(5))),
        load(MemSize::W, 6, 0, 0),
        alu(AluOp::Add, 6, Imm(1)),
        store(MemSize::W, 0, 0, R(r(6))),
        alu(AluOp::Add, 4, Imm(1)),
        Insn::Branch {
            width: Width::W64,
            cond: Cond::Lt,
            dst: r(4),
            src: Imm(32),
            off: -11,
        },
        load(MemSize::W, 0, 2, 28),
        Insn::Exit,
    ]
}

/// Runs [`histogram`] with `budget` instructions: the result, the input after the run, the
/// instruction count, and the loops the JIT versioned.
fn run_histogram(
    config: Config,
    backend: Backend,
    budget: u64,
    detour: Detour,
) -> (
    Result<u64, crate::RuntimeError>,
    Vec<u8>,
    u64,
    Vec<super::VersionedLoop>,
) {
    let bytes = sbpf_bytes(&histogram(detour));
    let loader = Arc::new(Loader::with_syscalls(config, SyscallRegistry::new()));
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    let mut program = verify(executable).unwrap();
    program.jit_compile().unwrap();
    let versioned = program.jit_program().unwrap().versioned_loops().to_vec();
    let mut input = vec![0u8; 1024];
    input.extend((0..32u8).map(|i| (i * 7) % 16));
    let mut context = TestContext::new(budget);
    let mut heap = Vec::new();
    let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
    let (result, count) = {
        let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
        let run = vm.run(backend);
        (run.result, run.instruction_count)
    };
    (result, input, count, versioned)
}

#[test]
fn loops_are_versioned_and_their_second_copy_runs() {
    let aligned = [Config::default(), Config::legacy()];
    let cases = aligned
        .into_iter()
        .flat_map(|config| [(config, Detour::No), (config, Detour::Ja)]);
    for (config, detour) in cases {
        let what = format!("{detour:?} {config:?}");
        let expected = run_histogram(config, Backend::Interpreter, 100_000, detour);
        // data[i] = 7i mod 16 is 7 for i = 1 and 17.
        assert_eq!(expected.0, Ok(2), "{what}");
        let got = run_histogram(config, Backend::Jit, 100_000, detour);
        assert_eq!(got.0, expected.0, "{what}");
        assert_eq!((&got.1, got.2), (&expected.1, expected.2), "{what}");
        assert_eq!(last_exit(), Some(ExitKind::Exit), "{what}");
        let [versioned] = got.3.as_slice() else {
            panic!("one versioned loop expected: {:?}", got.3);
        };
        let latch = match detour {
            Detour::No => 14,
            Detour::Ja => 16,
        };
        assert_eq!((versioned.head, versioned.latch), (4, latch), "{what}");
        // A budget that ends inside the loop: the run stops at the meter check of a run of
        // the second copy, so that copy is the one running (its guard passed, and a jump
        // inside the body stays in it).
        let per_iteration = (latch - 4) as u64;
        let budget = 4 + per_iteration * 5 + 3;
        let expected = run_histogram(config, Backend::Interpreter, budget, detour);
        let got = run_histogram(config, Backend::Jit, budget, detour);
        assert_eq!(
            (&got.0, &got.1, got.2),
            (&expected.0, &expected.1, expected.2)
        );
        let site = super::run::last_site().expect("a bail-out site") as usize;
        assert!(
            versioned.code.contains(&site),
            "{site:#x} in {versioned:?}, {what}"
        );
    }
    // The unaligned mapping has no table for a guard to read: nothing is versioned.
    let unaligned = Config {
        aligned_memory_mapping: false,
        ..Config::default()
    };
    let run = run_histogram(unaligned, Backend::Jit, 100_000, Detour::No);
    assert!(run.3.is_empty());
}

#[test]
fn the_guard_blinds_the_programs_constants() {
    // The span of the access through r6 starts 0x41424344 bytes past r6, an immediate of
    // the program: with constant blinding its bytes appear nowhere in the code.
    use Source::{Imm, Reg as R};
    let program = [
        alu(AluOp::Mov, 0, Imm(0)),
        alu(AluOp::Mov, 6, R(r(1))),
        alu(AluOp::Mov, 2, R(r(1))),
        alu(AluOp::Mov, 7, Imm(4)),
        // The loop's head (slot 4).
        load(MemSize::B, 3, 2, 0),
        alu(AluOp::Add, 3, Imm(0x4142_4344)),
        alu(AluOp::Add, 3, R(r(6))),
        load(MemSize::B, 4, 3, 0),
        alu(AluOp::Add, 2, Imm(1)),
        alu(AluOp::Sub, 7, Imm(1)),
        Insn::Branch {
            width: Width::W64,
            cond: Cond::Ne,
            dst: r(7),
            src: Imm(0),
            off: -7,
        },
        Insn::Exit,
    ];
    let secret = 0x4142_4344u32.to_le_bytes();
    for blind in [false, true] {
        let config = Config {
            sanitize_user_provided_values: blind,
            ..Config::legacy()
        };
        let bytes = sbpf_bytes(&program);
        let loader = Arc::new(Loader::with_syscalls(config, SyscallRegistry::new()));
        let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
        let mut verified: crate::VerifiedProgram<TestContext> = verify(executable).unwrap();
        verified.jit_compile().unwrap();
        let jit = verified.jit_program().unwrap();
        assert_eq!(jit.versioned_loops().len(), 1, "blinding {blind}");
        let shown = jit.code().windows(4).any(|window| window == secret);
        // Without blinding the constant is there (so the search can find it).
        assert_eq!(shown, !blind, "blinding {blind}");
    }
}

/// A program's second compile looks up the pairs and loop plans its first compile's pass
/// found (`kept`) instead of searching, and gives the same machine code: without hardening
/// the code depends on nothing else. The histogram has both a versioned loop and a
/// read-modify-write pair, [`program`] pairs outside loops.
#[test]
fn a_second_compile_reuses_what_the_first_found_and_emits_the_same_code() {
    let config = Config {
        noop_instruction_rate: 0,
        sanitize_user_provided_values: false,
        ..Config::legacy()
    };
    for insns in [histogram(Detour::No), histogram(Detour::Ja), program()] {
        let bytes = sbpf_bytes(&insns);
        let loader = Arc::new(Loader::with_syscalls(config, SyscallRegistry::new()));
        let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
        let mut verified: crate::VerifiedProgram<TestContext> = verify(executable).unwrap();
        let engine = super::JitEngine::new();
        assert_eq!(verified.jit_artifacts().kept().found(), None);
        verified.jit_compile_with(&engine).unwrap();
        let found = verified.jit_artifacts().kept().found();
        let (pairs, _plans) = found.expect("the first compile keeps what it found");
        assert!(pairs > 0, "{insns:?}");
        let first = verified.jit_program().unwrap();
        let (code, loops) = (first.code().to_vec(), first.versioned_loops().to_vec());
        verified.jit_compile_with(&engine).unwrap();
        let second = verified.jit_program().unwrap();
        assert_eq!(second.code(), &code[..]);
        assert_eq!(second.versioned_loops(), &loops[..]);
        assert_eq!(verified.jit_artifacts().kept().found(), found);
    }
    // The histogram's loop is versioned and its plan kept.
    let bytes = sbpf_bytes(&histogram(Detour::No));
    let loader = Arc::new(Loader::with_syscalls(config, SyscallRegistry::new()));
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    let mut verified: crate::VerifiedProgram<TestContext> = verify(executable).unwrap();
    verified.jit_compile().unwrap();
    assert_eq!(
        verified.jit_artifacts().kept().found().map(|f| f.1),
        Some(1)
    );
}
