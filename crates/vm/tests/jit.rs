//! JIT-specific tests: machine-code snapshots (disassembled with iced-x86), one compiled
//! program run from several threads at once, every budget of a looping program (the block
//! meter against the interpreter's exact rule), and `JitNotCompiled`.
//!
//! Behaviour tables run on both backends through `interp_common::run_table`.

// These tests need the JIT: builds without it (`cfg(bpfvm_jit)` unset) compile them out.
#![cfg(bpfvm_jit)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod interp_common;

use bpfvm::jit::JitEngine;
use bpfvm::{
    verify, Backend, Config, Executable, Loader, MemoryRegion, RuntimeError, SyscallRegistry,
    TestContext, VerifiedProgram, Vm, MM_INPUT_START,
};
use bpfvm_isa::{AluOp, Cond, Dialect, Insn, MemSize, Width};
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
use interp_common::{alu, assemble, branch, call, exit, k, lddw, ldx, mov, reg, stx};
use std::sync::Arc;

fn compile(program: &[Insn], dialect: Dialect, config: Config) -> VerifiedProgram<TestContext> {
    compile_with(program, dialect, config, &JitEngine::new())
}

fn compile_with(
    program: &[Insn],
    dialect: Dialect,
    config: Config,
    engine: &JitEngine,
) -> VerifiedProgram<TestContext> {
    let loader = Arc::new(Loader::with_syscalls(config, SyscallRegistry::new()));
    let bytes = assemble(program, dialect);
    let executable = Executable::from_raw_program(&bytes, loader, dialect).unwrap();
    let mut program = verify(executable).unwrap();
    program.jit_compile_with(engine).unwrap();
    program
}

fn run(
    program: &VerifiedProgram<TestContext>,
    backend: Backend,
    budget: u64,
    input: &mut [u8],
) -> (Result<u64, RuntimeError>, u64) {
    let mut context = TestContext::new(budget);
    let mut heap = Vec::new();
    let regions = vec![MemoryRegion::writable(input, MM_INPUT_START)];
    let mut vm = Vm::new(program, &mut context, &mut heap, regions).unwrap();
    let run = vm.run(backend);
    (run.result, run.instruction_count)
}

/// Runs `program` with `budget` and no input on both backends and asserts they agree
/// (result, error and count); `what` names the case.
fn assert_backends_agree(program: &VerifiedProgram<TestContext>, budget: u64, what: &str) {
    let expected = run(program, Backend::Interpreter, budget, &mut []);
    let got = run(program, Backend::Jit, budget, &mut []);
    assert_eq!(got, expected, "{what}");
}

/// r0 = sum of 0..r1 with r1 read from the input: a loop with a load and a store.
fn sum_loop() -> Vec<Insn> {
    vec![
        ldx(MemSize::DW, 2, 1, 0),
        mov(0, 0),
        mov(3, 0),
        branch(Width::W64, Cond::Ge, 3, reg(2), 3),
        alu(Width::W64, AluOp::Add, 0, reg(3)),
        alu(Width::W64, AluOp::Add, 3, k(1)),
        Insn::Ja { off: -4 },
        stx(MemSize::DW, 1, 8, 0),
        exit(),
    ]
}

fn input(n: u64) -> Vec<u8> {
    let mut bytes = n.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0; 8]);
    bytes
}

#[test]
fn every_budget_gives_the_interpreters_count_and_error() {
    // Whatever the checkpoint distance: each run is charged before it is entered, so the
    // JIT never runs past the budget and stops exactly where the interpreter does.
    for distance in [0, 1, 3, 10_000] {
        let config = Config {
            instruction_meter_checkpoint_distance: distance,
            ..Config::default()
        };
        for dialect in [Dialect::Sbpf, Dialect::Ebpf] {
            let program = compile(&sum_loop(), dialect, config);
            for budget in 0..60 {
                let mut a = input(10);
                let mut b = input(10);
                let expected = run(&program, Backend::Interpreter, budget, &mut a);
                let got = run(&program, Backend::Jit, budget, &mut b);
                let at = format!("{dialect:?} budget {budget} distance {distance}");
                assert_eq!(got, expected, "{at}");
                assert_eq!(a, b, "{at}: memory");
            }
        }
    }
}

#[test]
fn unmetered_runs_match_and_count_zero() {
    let config = Config {
        enable_instruction_meter: false,
        ..Config::default()
    };
    let program = compile(&sum_loop(), Dialect::Sbpf, config);
    let mut bytes = input(1000);
    assert_eq!(run(&program, Backend::Jit, 0, &mut bytes), (Ok(499_500), 0));
    assert_eq!(bytes[8..16], 499_500u64.to_le_bytes());
}

#[test]
fn jit_not_compiled_is_an_error() {
    let loader = Arc::new(Loader::with_syscalls(
        Config::default(),
        SyscallRegistry::new(),
    ));
    let bytes = assemble(&[mov(0, 1), exit()], Dialect::Sbpf);
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    let program = verify(executable).unwrap();
    let mut memory = Vec::new();
    assert_eq!(
        run(&program, Backend::Jit, 10, &mut memory),
        (Err(RuntimeError::JitNotCompiled), 0)
    );
}

#[test]
fn one_compiled_program_runs_on_many_threads() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let program = compile(&sum_loop(), Dialect::Sbpf, Config::default());
    assert_send_sync(&program);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u64)
            .map(|thread| {
                let program = &program;
                scope.spawn(move || {
                    for round in 0..200u64 {
                        let n = thread * 100 + round;
                        let mut bytes = input(n);
                        let (result, count) = run(program, Backend::Jit, 1_000_000, &mut bytes);
                        assert_eq!(result, Ok(n * n.saturating_sub(1) / 2));
                        assert_eq!(count, 4 * n + 6);
                        assert_eq!(bytes[8..16], (n * n.saturating_sub(1) / 2).to_le_bytes());
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    });
}

#[test]
fn deep_recursion_matches_the_interpreter() {
    // f(r1): if r1 == 0 return 0; else return f(r1 - 1) + 1, with a call depth limit.
    let program = vec![
        mov(1, 100),
        call(1, 1),
        exit(),
        branch(Width::W64, Cond::Eq, 1, k(0), 4),
        alu(Width::W64, AluOp::Sub, 1, k(1)),
        call(1, -4),
        alu(Width::W64, AluOp::Add, 0, k(1)),
        exit(),
        mov(0, 0),
        exit(),
    ];
    for depth in [5, 64, 200] {
        let config = Config {
            max_call_depth: depth,
            ..Config::default()
        };
        let program = compile(&program, Dialect::Sbpf, config);
        let expected = run(&program, Backend::Interpreter, 100_000, &mut []);
        let got = run(&program, Backend::Jit, 100_000, &mut []);
        assert_eq!(got, expected, "max_call_depth {depth}");
    }
}

fn disassemble(program: &VerifiedProgram<TestContext>) -> String {
    let jit = program.jit_program().unwrap();
    let code = jit.code();
    let mut decoder = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    let mut out = String::new();
    let mut text = String::new();
    let starts: Vec<(usize, usize)> = jit
        .pc_offsets()
        .iter()
        .enumerate()
        .filter_map(|(pc, offset)| offset.map(|offset| (offset, pc)))
        .collect();
    while decoder.can_decode() {
        let offset = decoder.position();
        let instruction = decoder.decode();
        for (_, pc) in starts.iter().filter(|(start, _)| *start == offset) {
            out.push_str(&format!("pc {pc}:\n"));
        }
        text.clear();
        formatter.format(&instruction, &mut text);
        out.push_str(&format!("  {offset:04x} {text}\n"));
    }
    out
}

/// The default configuration without the hardening options (deterministic machine code).
fn plain() -> Config {
    Config {
        noop_instruction_rate: 0,
        sanitize_user_provided_values: false,
        ..Config::default()
    }
}

#[test]
fn machine_code_snapshot_of_a_small_program() {
    let program = compile(
        &[mov(0, 7), alu(Width::W64, AluOp::Add, 0, k(35)), exit()],
        Dialect::Sbpf,
        plain(),
    );
    let listing = disassemble(&program);
    let body: Vec<&str> = listing
        .lines()
        .skip_while(|line| !line.starts_with("pc 0"))
        .take(7)
        .collect();
    // The meter charge's bail-out is a stub out of line: the common path falls through.
    let expected = [
        "pc 0:",
        "  018A sub rdx,3",
        "  018E jbe 00000000000001C4h",
        "  0194 mov esi,7",
        "pc 1:",
        "  0199 add rsi,23h",
        "pc 2:",
    ];
    let body: Vec<String> = body.iter().map(|line| line.to_lowercase()).collect();
    let expected: Vec<String> = expected.iter().map(|line| line.to_lowercase()).collect();
    assert_eq!(body, expected, "full listing:\n{listing}");
}

#[test]
fn unmetered_code_has_no_meter_check() {
    let config = Config {
        enable_instruction_meter: false,
        ..plain()
    };
    let program = compile(&sum_loop(), Dialect::Sbpf, config);
    // The meter lives in rdx: a metered run start subtracts from it.
    let listing = disassemble(&program);
    assert!(!listing.contains("sub rdx,"), "{listing}");
    let metered = disassemble(&compile(&sum_loop(), Dialect::Sbpf, plain()));
    assert!(metered.contains("sub rdx,"), "{metered}");
}

#[test]
fn hardening_changes_machine_code_not_behaviour() {
    let program = vec![
        alu(Width::W64, AluOp::Mov, 0, k(0x1234_5678)),
        alu(Width::W64, AluOp::Xor, 0, k(0x0BAD_F00D)),
        branch(Width::W64, Cond::Eq, 0, k(0x1999_A675), 1),
        mov(0, 1),
        exit(),
    ];
    let plain_code = compile(&program, Dialect::Sbpf, plain());
    let listing = disassemble(&plain_code);
    assert!(listing.contains("12345678h"), "{listing}");
    let hardened = Config {
        noop_instruction_rate: 1,
        ..Config::default()
    };
    // Successive compiles on one engine draw different nops and keys.
    let engine = JitEngine::new();
    let a = compile_with(&program, Dialect::Sbpf, hardened, &engine);
    let b = compile_with(&program, Dialect::Sbpf, hardened, &engine);
    let listing = disassemble(&a);
    assert!(
        !listing.contains("12345678h"),
        "blinded constant in the clear:\n{listing}"
    );
    assert!(listing.contains("nop"), "{listing}");
    assert_ne!(
        a.jit_program().unwrap().code(),
        b.jit_program().unwrap().code()
    );
    for compiled in [&plain_code, &a, &b] {
        assert_eq!(
            run(compiled, Backend::Jit, 100, &mut []),
            run(compiled, Backend::Interpreter, 100, &mut [])
        );
        assert_eq!(
            run(compiled, Backend::Jit, 100, &mut []),
            (Ok(0x1999_A675), 4)
        );
    }
}

#[test]
fn an_engines_history_alone_decides_the_hardened_code() {
    // No state outside the engine: fresh engines compile a program to the same bytes, an
    // engine's second compile differs from its first, and so does an engine with another
    // seed. Behaviour is the same throughout.
    let program = vec![
        alu(Width::W64, AluOp::Mov, 0, k(0x1234_5678)),
        alu(Width::W64, AluOp::Add, 0, k(0x0765_4321)),
        exit(),
    ];
    let hardened = Config {
        noop_instruction_rate: 1,
        ..Config::default()
    };
    let code = |engine: &JitEngine| {
        let compiled = compile_with(&program, Dialect::Sbpf, hardened, engine);
        assert_eq!(
            run(&compiled, Backend::Jit, 100, &mut []),
            (Ok(0x1999_9999), 3)
        );
        compiled.jit_program().unwrap().code().to_vec()
    };
    let engine = JitEngine::new();
    let first = code(&engine);
    assert_eq!(engine.compiles(), 1);
    assert_eq!(code(&JitEngine::new()), first, "a fresh engine");
    assert_ne!(code(&engine), first, "the same engine's second compile");
    assert_eq!(engine.compiles(), 2);
    assert_ne!(code(&JitEngine::with_seed(7)), first, "another seed");
    assert_eq!(
        code(&JitEngine::with_seed(7)),
        code(&JitEngine::with_seed(7))
    );
}

#[test]
fn one_engine_compiles_on_many_threads() {
    // Clones share the engine; compiles on several threads at once each get their own
    // buffers, and every program runs correctly.
    let engine = JitEngine::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u64)
            .map(|_| {
                let engine = engine.clone();
                scope.spawn(move || {
                    for n in 0..20u64 {
                        let program = compile_with(&sum_loop(), Dialect::Sbpf, plain(), &engine);
                        let mut bytes = input(n);
                        let (result, _) = run(&program, Backend::Jit, 1_000_000, &mut bytes);
                        assert_eq!(result, Ok(n * n.saturating_sub(1) / 2));
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    });
    assert_eq!(engine.compiles(), 80);
}

#[test]
fn gapped_stack_accesses_match_the_interpreter() {
    let config = Config {
        dynamic_stack_frames: false,
        enable_stack_frame_gaps: true,
        ..Config::default()
    };
    let mut checked = 0;
    for base in [-8192i32, -4096, 0, 4096, 8192] {
        for delta in -9..=9 {
            let off = (base + delta) as i16;
            for size in [MemSize::B, MemSize::H, MemSize::W, MemSize::DW] {
                for (call_first, base) in [(false, 10), (true, 10), (false, 2), (true, 2)] {
                    // Optionally move into frame 1 first (r10 jumps over a gap); address
                    // through r10 itself or a copy of it.
                    let mut program = Vec::new();
                    if call_first {
                        program.extend([call(1, 1), exit()]);
                    }
                    program.extend([
                        alu(Width::W64, AluOp::Mov, 2, reg(10)),
                        mov(1, 0x55),
                        stx(size, base, off, 1),
                        ldx(size, 0, base, off),
                        exit(),
                    ]);
                    let compiled = compile(&program, Dialect::Sbpf, config);
                    let what = format!("off {off} size {size:?} call {call_first} base r{base}");
                    assert_backends_agree(&compiled, 100, &what);
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 5 * 19 * 4 * 4);
}

#[test]
fn stack_pointers_in_loops_match_the_interpreter() {
    // In a function with a loop, a register derived from r10 gets the inline current-frame
    // check (`hints`); addresses in the current frame hit it, anything else (the frame
    // below, a gap, below the stack, the first bytes past the frame's top) takes the
    // routine. Every edge, size and frame depth against the interpreter.
    let config = Config {
        dynamic_stack_frames: false,
        enable_stack_frame_gaps: true,
        ..plain()
    };
    let mut checked = 0;
    for shift in [0i32, -4096, -8192, -12288] {
        for off in [-4097i16, -4096, -4095, -4089, -8, -7, -4, -2, -1, 0, 1] {
            for size in [MemSize::B, MemSize::H, MemSize::W, MemSize::DW] {
                for call_first in [false, true] {
                    let mut program = Vec::new();
                    if call_first {
                        program.extend([call(1, 1), exit()]);
                    }
                    // r2 = r10 + shift; twice: [r2 + off] = 0x55 + r3; r0 = [r2 + off]
                    program.extend([
                        alu(Width::W64, AluOp::Mov, 2, reg(10)),
                        alu(Width::W64, AluOp::Add, 2, k(shift)),
                        mov(3, 2),
                        mov(1, 0x55),
                        alu(Width::W64, AluOp::Add, 1, reg(3)),
                        stx(size, 2, off, 1),
                        ldx(size, 0, 2, off),
                        alu(Width::W64, AluOp::Sub, 3, k(1)),
                        branch(Width::W64, Cond::Ne, 3, k(0), -5),
                        exit(),
                    ]);
                    let compiled = compile(&program, Dialect::Sbpf, config);
                    let what = format!("shift {shift} off {off} size {size:?} call {call_first}");
                    assert_backends_agree(&compiled, 100, &what);
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 4 * 11 * 4 * 2);

    // The store's code is the current-frame check: `sub rax, rbp` and `frame_top`, no table
    // lookup (`shr rdx, 32`).
    let program = [
        alu(Width::W64, AluOp::Mov, 2, reg(10)),
        mov(3, 2),
        stx(MemSize::W, 2, -8, 3),
        alu(Width::W64, AluOp::Sub, 3, k(1)),
        branch(Width::W64, Cond::Ne, 3, k(0), -3),
        exit(),
    ];
    let text = disassemble(&compile(&program, Dialect::Sbpf, config));
    let store = text
        .split("pc 2:\n")
        .nth(1)
        .and_then(|rest| rest.split("pc 3:\n").next())
        .expect("the store's code");
    assert!(store.contains("sub rax,rbp"), "{store}");
    assert!(store.contains("add rax,[r15+50h]"), "{store}");
    assert!(!store.contains("shr rdx,20h"), "{store}");
}

#[test]
fn neighbouring_accesses_share_one_check() {
    // Two accesses of one run through the same base whose bytes span 1, 2, 4 or 8 share one
    // check (the span's, with the stricter permission), also across a forward branch. The
    // 16-byte input puts some spans across its end (the first access alone in bounds), and
    // read-only input makes the stricter permission fail: the interpreter must take over
    // exactly. Every budget, both permissions, two configurations.
    let bodies: [(&str, Vec<Insn>); 6] = [
        (
            "load below, store above",
            vec![ldx(MemSize::W, 2, 1, 8), stx(MemSize::W, 1, 12, 2)],
        ),
        (
            "store then load, overlapping",
            vec![stx(MemSize::H, 1, 6, 3), ldx(MemSize::W, 0, 1, 4)],
        ),
        (
            "two loads, the second past the end",
            vec![ldx(MemSize::W, 2, 1, 8), ldx(MemSize::W, 0, 1, 12)],
        ),
        (
            "loads across the end",
            vec![ldx(MemSize::W, 2, 1, 12), ldx(MemSize::W, 0, 1, 16)],
        ),
        (
            "a forward branch between",
            vec![
                ldx(MemSize::W, 2, 1, 4),
                branch(Width::W64, Cond::Eq, 3, k(1), 1),
                stx(MemSize::W, 1, 0, 3),
            ],
        ),
        (
            "load then store past the end",
            vec![ldx(MemSize::DW, 2, 1, 8), stx(MemSize::B, 1, 16, 3)],
        ),
    ];
    let configs = [
        plain(),
        Config {
            dynamic_stack_frames: false,
            enable_stack_frame_gaps: true,
            ..plain()
        },
    ];
    let mut compared = 0;
    for (name, body) in &bodies {
        // Twice through the body (r3 = 2, then 1), then r0 += the input's first word.
        let mut program = vec![mov(3, 2), mov(0, 0)];
        program.extend(body.iter().copied());
        let back = -(body.len() as i16) - 2;
        program.extend([
            alu(Width::W64, AluOp::Sub, 3, k(1)),
            branch(Width::W64, Cond::Ne, 3, k(0), back),
            ldx(MemSize::DW, 4, 1, 0),
            alu(Width::W64, AluOp::Add, 0, reg(4)),
            exit(),
        ]);
        for config in &configs {
            let compiled = compile(&program, Dialect::Sbpf, *config);
            compared += assert_backends_agree_on_input(&compiled, 0..30, name);
        }
    }
    assert_eq!(compared, 6 * 2 * 2 * 30);

    // In a loop the neighbours of the first body share the load's check: the store is one
    // `mov`. Outside loops only a load and a store of the same bytes pair up.
    let looped = [
        mov(3, 2),
        bodies[0].1[0],
        bodies[0].1[1],
        alu(Width::W64, AluOp::Sub, 3, k(1)),
        branch(Width::W64, Cond::Ne, 3, k(0), -4),
        exit(),
    ];
    let compiled = compile(&looped, Dialect::Sbpf, plain());
    let store = compiled.jit_program().unwrap().slot_code(2).unwrap().len();
    assert!(store <= 4, "the paired store is {store} bytes");
    let straight = [bodies[0].1[0], bodies[0].1[1], exit()];
    let compiled = compile(&straight, Dialect::Sbpf, plain());
    let store = compiled.jit_program().unwrap().slot_code(1).unwrap().len();
    assert!(
        store > 4,
        "outside a loop the store checks for itself ({store} bytes)"
    );
}

#[test]
fn neighbouring_stack_accesses_at_a_frames_end_match_the_interpreter() {
    // A pair's span may cover a frame's last bytes and the gap after it. A single access
    // starting inside the frame may run on into the gap (the reference's gapped regions
    // test only the first byte), one starting in the gap faults; a span standing in for two
    // accesses must therefore keep out of the gap (else the interpreter takes over). Found
    // by the fuzzer: `ldxh [r1 + 1]` then `stxw [r1 - 5]` with r1 = r10.
    let gapped = Config {
        dynamic_stack_frames: false,
        enable_stack_frame_gaps: true,
        ..plain()
    };
    let unaligned = Config {
        aligned_memory_mapping: false,
        ..gapped
    };
    let pairs: [(i16, MemSize, i16, MemSize); 6] = [
        (1, MemSize::H, -5, MemSize::W),
        (-5, MemSize::W, 1, MemSize::H),
        (-2, MemSize::H, -6, MemSize::W),
        (-4, MemSize::W, -8, MemSize::W),
        (-1, MemSize::B, -4, MemSize::W),
        (-4096, MemSize::W, -4100, MemSize::W),
    ];
    let mut checked = 0;
    for (first_off, first_size, second_off, second_size) in pairs {
        for (call_first, config) in [(false, gapped), (true, gapped), (true, unaligned)] {
            for looping in [false, true] {
                let mut program = Vec::new();
                if call_first {
                    program.extend([call(1, 1), exit()]);
                }
                // r2 = r10; r3 = 1 or 2 rounds of: r0 = [r2 + first]; [r2 + second] = r3
                program.extend([
                    alu(Width::W64, AluOp::Mov, 2, reg(10)),
                    mov(3, if looping { 2 } else { 1 }),
                    ldx(first_size, 0, 2, first_off),
                    stx(second_size, 2, second_off, 3),
                    alu(Width::W64, AluOp::Sub, 3, k(1)),
                ]);
                if looping {
                    program.push(branch(Width::W64, Cond::Ne, 3, k(0), -4));
                }
                program.push(exit());
                let compiled = compile(&program, Dialect::Sbpf, config);
                for budget in [3, 5, 100] {
                    let what = format!(
                        "[r2{first_off:+}] then [r2{second_off:+}], call {call_first}, \
                         loop {looping}, aligned {}, budget {budget}",
                        config.aligned_memory_mapping
                    );
                    assert_backends_agree(&compiled, budget, &what);
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 6 * 3 * 2 * 3);
}

#[test]
fn input_pointers_in_loops_match_the_interpreter() {
    // In the entry function, with a loop, a register derived from r1 gets the inline
    // input-region check (`hints`); addresses inside the input hit it, anything else (past
    // its end, below it, another region, another slot, wrapping around) takes the routine.
    // Every edge, size and permission against the interpreter.
    let deltas: [i64; 10] = [0, 8, 12, 15, 16, -1, -8, -(2 << 32), 1 << 32, i64::MIN];
    // The loop's body: a store then a load, a load alone, a load and a store (a pair).
    let bodies: [fn(MemSize, i16) -> Vec<Insn>; 3] = [
        |size, off| vec![stx(size, 2, off, 3), ldx(size, 0, 2, off)],
        |size, off| vec![ldx(size, 0, 2, off), mov(0, 0)],
        |size, off| vec![ldx(size, 0, 2, off), stx(size, 2, off, 3)],
    ];
    let mut checked = 0;
    for delta in deltas {
        for off in [0i16, 1, 4, -4] {
            for size in [MemSize::B, MemSize::H, MemSize::W, MemSize::DW] {
                for body in bodies {
                    // r2 = r1 + delta; twice: the body with r3 = 2, then 1.
                    let mut program = vec![
                        alu(Width::W64, AluOp::Mov, 2, reg(1)),
                        lddw(4, delta as u64),
                        alu(Width::W64, AluOp::Add, 2, reg(4)),
                        mov(3, 2),
                    ];
                    program.extend(body(size, off));
                    program.extend([
                        alu(Width::W64, AluOp::Sub, 3, k(1)),
                        branch(Width::W64, Cond::Ne, 3, k(0), -4),
                        exit(),
                    ]);
                    let compiled = compile(&program, Dialect::Sbpf, plain());
                    let what = format!("delta {delta} off {off} size {size:?}");
                    checked += assert_backends_agree_on_input(&compiled, [100], &what);
                }
            }
        }
    }
    assert_eq!(checked, 10 * 4 * 4 * 3 * 2);

    // The load's code is the input check (no table lookup, `shr rcx, 32`), its miss out of
    // line: the hit falls through to the load.
    let program = [
        alu(Width::W64, AluOp::Mov, 2, reg(1)),
        ldx(MemSize::W, 0, 2, 4),
        branch(Width::W64, Cond::Ne, 0, k(5), -2),
        exit(),
    ];
    let text = disassemble(&compile(&program, Dialect::Sbpf, plain()));
    let load = text
        .split("pc 1:\n")
        .nth(1)
        .and_then(|rest| rest.split("pc 2:\n").next())
        .expect("the load's code");
    // After the run's meter charge (sub, jbe to its bail-out stub): lea, sub, cmp, jae (to
    // the miss stub), add, the load.
    let lines: Vec<&str> = load
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 8, "{load}");
    assert!(lines[1].contains("jbe "), "{load}");
    assert!(lines[5].contains("jae "), "{load}");
    assert!(lines[7].contains("mov esi,[rax]"), "{load}");
    assert!(!load.contains("shr rcx,20h"), "{load}");
}

#[test]
fn machine_code_snapshot_of_a_frame_access() {
    // With fixed frames and gaps, `[r10 + off]` inside the current frame is translated with
    // no check and no call: host = Env::frame_top + off (frame_top = r10 / 2 + frame_host,
    // kept by entry, call, exit and the syscalls).
    let config = Config {
        dynamic_stack_frames: false,
        enable_stack_frame_gaps: true,
        ..plain()
    };
    let program = compile(
        &[ldx(MemSize::DW, 0, 10, -8), exit()],
        Dialect::Sbpf,
        config,
    );
    let listing = disassemble(&program);
    let body: Vec<String> = listing
        .lines()
        .skip_while(|line| !line.starts_with("pc 0"))
        .skip(3)
        .take_while(|line| !line.starts_with("pc 1"))
        .map(|line| line.trim().to_lowercase())
        .map(|line| {
            line.split_once(' ')
                .map_or(line.clone(), |(_, rest)| rest.to_string())
        })
        .collect();
    let expected = ["mov rax,[r15+50h]", "mov rsi,[rax-8]"];
    assert_eq!(body, expected, "full listing:\n{listing}");
}

#[test]
fn machine_code_snapshot_of_a_load() {
    // The shared miss routine of 8-byte loads goes after the `exit`; the second load (pc 1)
    // shows the inline region-table check as every load has it.
    let program = compile(
        &[
            ldx(MemSize::DW, 0, 1, 8),
            ldx(MemSize::DW, 0, 1, 16),
            exit(),
        ],
        Dialect::Sbpf,
        plain(),
    );
    let listing = disassemble(&program);
    let body: Vec<String> = listing
        .lines()
        .skip_while(|line| !line.starts_with("pc 1"))
        .take(13)
        .map(|line| line.trim().to_lowercase())
        .map(|line| {
            line.split_once(' ')
                .map_or(line.clone(), |(_, rest)| rest.to_string())
        })
        .collect();
    let expected = [
        "1:",
        "lea rax,[rdi+18h]",
        "lea rcx,[rax-8]",
        "shr rcx,20h",
        "cmp ecx,8",
        "jae short 0000000000000000h",
        "cmp rax,[r15+rcx*8-40h]",
        "jbe short 0000000000000000h",
        "sub rax,8",
        "call 0000000000000000h",
        "add rax,8",
        "add rax,[r15+rcx*8-80h]",
        "mov rsi,[rax-8]",
    ];
    let body: Vec<String> = body
        .iter()
        .map(|line| match line.rsplit_once(' ') {
            // Branch targets depend on the layout; compare the mnemonics and operands.
            Some((head, target)) if target.ends_with('h') && head.starts_with('j') => {
                format!("{head} 0000000000000000h")
            }
            Some((head, target)) if target.ends_with('h') && head == "call" => {
                format!("{head} 0000000000000000h")
            }
            _ => line.clone(),
        })
        .collect();
    assert_eq!(body, expected, "full listing:\n{listing}");
}

#[test]
fn slot_code_covers_each_instruction() {
    let program = compile(&sum_loop(), Dialect::Sbpf, plain());
    let jit = program.jit_program().unwrap();
    let total: usize = (0..sum_loop().len())
        .map(|pc| jit.slot_code(pc).unwrap().len())
        .sum();
    let first = jit.pc_offsets()[0].unwrap();
    assert!(total > 0 && first + total <= jit.code().len());
    // pc 4 is `add r0, r3`: one instruction, `add rsi, r9` (preceded by the block's meter check).
    assert!(jit.slot_code(4).unwrap().ends_with(&[0x4c, 0x01, 0xce]));
    assert_eq!(jit.slot_code(99), None);
}

/// Runs `program` on `backend` with a 16-byte input holding 5 that is writable or not;
/// the result, the count and the input afterwards.
fn run_on_input(
    program: &VerifiedProgram<TestContext>,
    backend: Backend,
    budget: u64,
    writable: bool,
) -> (Result<u64, RuntimeError>, u64, Vec<u8>) {
    let mut input = input(5);
    let mut context = TestContext::new(budget);
    let mut heap = Vec::new();
    let region = match writable {
        true => MemoryRegion::writable(&mut input, MM_INPUT_START),
        false => MemoryRegion::readonly(&input, MM_INPUT_START),
    };
    let mut vm = Vm::new(program, &mut context, &mut heap, vec![region]).unwrap();
    let run = vm.run(backend);
    let after = vm.mapping_mut().read_bytes(MM_INPUT_START, 16).unwrap();
    (run.result, run.instruction_count, after)
}

/// Runs `program` on both backends with each of `budgets`, over writable and read-only
/// input, and asserts they agree (result, count, input afterwards); returns how many runs
/// were compared. `what` names the case.
fn assert_backends_agree_on_input(
    program: &VerifiedProgram<TestContext>,
    budgets: impl IntoIterator<Item = u64> + Clone,
    what: &str,
) -> usize {
    let mut compared = 0;
    for writable in [true, false] {
        for budget in budgets.clone() {
            let expected = run_on_input(program, Backend::Interpreter, budget, writable);
            let got = run_on_input(program, Backend::Jit, budget, writable);
            assert_eq!(
                got, expected,
                "{what}, budget {budget}, writable {writable}"
            );
            compared += 1;
        }
    }
    compared
}

#[test]
fn load_store_pairs_match_the_interpreter() {
    // A load and a store to the same address in one run share one check (the store's). A
    // jump target between them ends the run, so no pair forms there (and nothing can enter
    // a pair after its load).
    let programs: [(&str, Vec<Insn>); 5] = [
        (
            "increment",
            vec![
                ldx(MemSize::DW, 2, 1, 0),
                alu(Width::W64, AluOp::Add, 2, k(1)),
                stx(MemSize::DW, 1, 0, 2),
                ldx(MemSize::DW, 0, 1, 0),
                exit(),
            ],
        ),
        (
            "jump target between load and store",
            vec![
                mov(3, 3),
                ldx(MemSize::W, 2, 1, 4),
                alu(Width::W64, AluOp::Add, 2, k(1)),
                alu(Width::W64, AluOp::Add, 2, reg(3)),
                stx(MemSize::W, 1, 4, 2),
                alu(Width::W64, AluOp::Sub, 3, k(1)),
                // Another translation, so rax holds another address at the jump.
                ldx(MemSize::DW, 5, 1, 8),
                branch(Width::W64, Cond::Ne, 3, k(0), -5),
                ldx(MemSize::DW, 0, 1, 0),
                exit(),
            ],
        ),
        (
            "lddw between load and store",
            vec![
                mov(3, 2),
                ldx(MemSize::DW, 2, 1, 8),
                lddw(4, 0x1_0000_0001),
                stx(MemSize::DW, 1, 8, 4),
                alu(Width::W64, AluOp::Sub, 3, k(1)),
                ldx(MemSize::DW, 5, 1, 0),
                // Back to the lddw, between the load and the store.
                branch(Width::W64, Cond::Ne, 3, k(0), -6),
                ldx(MemSize::DW, 0, 1, 8),
                exit(),
            ],
        ),
        (
            "lddw in the pair",
            vec![
                ldx(MemSize::DW, 2, 1, 8),
                lddw(2, 0x1_0000_0001),
                stx(MemSize::DW, 1, 8, 2),
                ldx(MemSize::DW, 0, 1, 8),
                exit(),
            ],
        ),
        (
            "out of bounds",
            vec![
                ldx(MemSize::DW, 2, 1, 12),
                alu(Width::W64, AluOp::Add, 2, k(1)),
                stx(MemSize::DW, 1, 12, 2),
                exit(),
            ],
        ),
    ];
    let configs = [
        plain(),
        Config {
            enable_instruction_meter: false,
            ..plain()
        },
        Config {
            aligned_memory_mapping: false,
            ..plain()
        },
        Config {
            dynamic_stack_frames: false,
            enable_stack_frame_gaps: true,
            ..plain()
        },
    ];
    let mut compared = 0;
    for (name, program) in &programs {
        for config in &configs {
            let compiled = compile(program, Dialect::Sbpf, *config);
            compared += assert_backends_agree_on_input(&compiled, 0..40, name);
        }
    }
    assert_eq!(compared, 5 * 4 * 2 * 40);

    // The store of a pair emits no translation of its own: it is one `mov`; with a jump
    // target between, the store checks for itself.
    let compiled = compile(&programs[0].1, Dialect::Sbpf, plain());
    let store = compiled.jit_program().unwrap().slot_code(2).unwrap().len();
    assert!(store <= 4, "the paired store is {store} bytes");
    let compiled = compile(&programs[1].1, Dialect::Sbpf, plain());
    let store = compiled.jit_program().unwrap().slot_code(4).unwrap().len();
    assert!(store > 20, "the unpaired store is {store} bytes");
    let compiled = compile(&programs[3].1, Dialect::Sbpf, plain());
    let store = compiled.jit_program().unwrap().slot_code(3).unwrap().len();
    assert!(store <= 4, "the store paired over an lddw is {store} bytes");
}
