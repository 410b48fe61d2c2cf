//! Shared harness for the interpreter tables: instruction builders, a `Case` row, and
//! `run_table`, which loads, verifies and runs every row and checks result and count.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use bpfvm::memory::ViolationHandler;
use bpfvm::{
    verify, Backend, Config, ContextObject, Executable, Loader, MemoryRegion, RuntimeError,
    SyscallFn, SyscallRegistry, TestContext, Vm, MM_INPUT_START,
};
use bpfvm_isa::{encode, AluOp, Cond, Dialect, Extend, Insn, MemSize, Reg, Source, Width};
use std::sync::Arc;

pub fn r(n: u8) -> Reg {
    Reg::new(n).unwrap()
}
pub fn reg(n: u8) -> Source {
    Source::Reg(r(n))
}
pub fn k(imm: i32) -> Source {
    Source::Imm(imm)
}
pub fn mov(dst: u8, imm: i32) -> Insn {
    alu(Width::W64, AluOp::Mov, dst, k(imm))
}
pub fn alu(width: Width, op: AluOp, dst: u8, src: Source) -> Insn {
    Insn::Alu {
        width,
        op,
        dst: r(dst),
        src,
    }
}
pub fn neg(width: Width, dst: u8) -> Insn {
    Insn::Neg { width, dst: r(dst) }
}
pub fn lddw(dst: u8, imm: u64) -> Insn {
    Insn::LoadImm64 { dst: r(dst), imm }
}
pub fn ldx(size: MemSize, dst: u8, base: u8, off: i16) -> Insn {
    Insn::Load {
        size,
        extend: Extend::Zero,
        dst: r(dst),
        base: r(base),
        off,
    }
}
pub fn ldxs(size: MemSize, dst: u8, base: u8, off: i16) -> Insn {
    Insn::Load {
        size,
        extend: Extend::Sign,
        dst: r(dst),
        base: r(base),
        off,
    }
}
pub fn st(size: MemSize, base: u8, off: i16, imm: i32) -> Insn {
    Insn::Store {
        size,
        base: r(base),
        off,
        src: k(imm),
    }
}
pub fn stx(size: MemSize, base: u8, off: i16, src: u8) -> Insn {
    Insn::Store {
        size,
        base: r(base),
        off,
        src: reg(src),
    }
}
pub fn branch(width: Width, cond: Cond, dst: u8, src: Source, off: i16) -> Insn {
    Insn::Branch {
        width,
        cond,
        dst: r(dst),
        src,
        off,
    }
}
pub fn exit() -> Insn {
    Insn::Exit
}
pub fn call(src: u8, imm: i32) -> Insn {
    Insn::Call { src, imm }
}
pub fn callx(n: u8) -> Insn {
    Insn::CallReg { reg: r(n) }
}

pub fn assemble(program: &[Insn], dialect: Dialect) -> Vec<u8> {
    program
        .iter()
        .flat_map(|insn| encode(insn, dialect).unwrap())
        .flat_map(|slot| slot.to_bytes())
        .collect()
}

/// `r0 = f(n) + 1000`, where `f(k) = 2k + f(k - 1)` (f(0) = 0) keeps `k` in its own frame
/// (`[r10 - 8]`) and in r6 across its recursive call, so both the frames and the restored
/// registers show in the result: `n (n + 1) + 1000` with fixed frames, `10 n + 9`
/// instructions.
pub fn recursion_with_stack(n: i32) -> Vec<Insn> {
    vec![
        mov(1, n),
        mov(6, 1000),
        call(1, 2),
        alu(Width::W64, AluOp::Add, 0, reg(6)),
        exit(),
        // f:
        stx(MemSize::DW, 10, -8, 1),
        mov(0, 0),
        branch(Width::W64, Cond::Eq, 1, k(0), 6),
        alu(Width::W64, AluOp::Mov, 6, reg(1)),
        alu(Width::W64, AluOp::Sub, 1, k(1)),
        call(1, -6),
        ldx(MemSize::DW, 2, 10, -8),
        alu(Width::W64, AluOp::Add, 0, reg(2)),
        alu(Width::W64, AluOp::Add, 0, reg(6)),
        exit(),
    ]
}

pub fn fixed_frames(config: Config) -> Config {
    Config {
        dynamic_stack_frames: false,
        ..config
    }
}
pub fn legacy(_: Config) -> Config {
    Config::legacy()
}

/// A context with a budget, a trace log and a record of syscall arguments.
#[derive(Default)]
pub struct Ctx {
    pub inner: TestContext,
    pub calls: Vec<[u64; 5]>,
}

impl ContextObject for Ctx {
    fn trace(&mut self, state: [u64; 12]) {
        self.inner.trace(state);
    }
    fn consume(&mut self, amount: u64) {
        self.inner.consume(amount);
    }
    fn remaining(&self) -> u64 {
        self.inner.remaining()
    }
}

/// One row: a program, its memory, budget and config, and what must happen.
pub struct Case {
    pub name: &'static str,
    pub dialect: Dialect,
    pub program: Vec<Insn>,
    pub mem: Vec<u8>,
    pub budget: u64,
    pub config: fn(Config) -> Config,
    pub syscalls: Vec<(u32, SyscallFn<Ctx>)>,
    pub unwind: Option<u32>,
    /// The violation handler the run's mapping asks before an access fails.
    pub violation: Option<fn() -> Box<dyn ViolationHandler>>,
    pub expect: Result<u64, RuntimeError>,
    pub count: u64,
}

fn same(config: Config) -> Config {
    config
}

impl Case {
    pub fn new(
        name: &'static str,
        dialect: Dialect,
        program: Vec<Insn>,
        expect: Result<u64, RuntimeError>,
        count: u64,
    ) -> Self {
        Case {
            name,
            dialect,
            program,
            mem: Vec::new(),
            budget: 1000,
            config: same,
            syscalls: Vec::new(),
            unwind: None,
            violation: None,
            expect,
            count,
        }
    }
    pub fn mem(self, mem: Vec<u8>) -> Self {
        Case { mem, ..self }
    }
    pub fn budget(self, budget: u64) -> Self {
        Case { budget, ..self }
    }
    pub fn config(self, config: fn(Config) -> Config) -> Self {
        Case { config, ..self }
    }
    pub fn syscall(mut self, key: u32, function: SyscallFn<Ctx>) -> Self {
        self.syscalls.push((key, function));
        self
    }
    pub fn violation(self, handler: fn() -> Box<dyn ViolationHandler>) -> Self {
        Case {
            violation: Some(handler),
            ..self
        }
    }
    pub fn unwind(self, key: u32) -> Self {
        Case {
            unwind: Some(key),
            ..self
        }
    }
}

/// What one run gave.
pub struct Outcome {
    pub result: Result<u64, RuntimeError>,
    pub count: u64,
    pub mem: Vec<u8>,
    pub ctx: Ctx,
}

/// Loads (with relative-call fixup in sBPF), verifies and runs one case on the interpreter.
pub fn run_case(case: &Case) -> Outcome {
    run_case_on(case, Backend::Interpreter)
}

/// Loads, verifies (and for the JIT compiles) and runs one case on `backend`.
pub fn run_case_on(case: &Case, backend: Backend) -> Outcome {
    let config = (case.config)(Config::default());
    let mut registry = SyscallRegistry::new();
    for (key, function) in &case.syscalls {
        registry.register_key(*key, "test", *function).unwrap();
    }
    if let Some(key) = case.unwind {
        registry.set_unwind_key(key);
    }
    let loader = Arc::new(Loader::with_syscalls(config, registry));
    let bytes = assemble(&case.program, case.dialect);
    let executable = Executable::from_raw_program(&bytes, loader, case.dialect).unwrap();
    let mut program = verify(executable).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    if backend == Backend::Jit {
        program
            .jit_compile()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    }
    let mut ctx = Ctx {
        inner: TestContext::new(case.budget),
        calls: Vec::new(),
    };
    let mut mem = case.mem.clone();
    let mut heap = Vec::new();
    let (result, count) = {
        let regions = vec![MemoryRegion::writable(&mut mem, MM_INPUT_START)];
        let mut vm = Vm::new(&program, &mut ctx, &mut heap, regions).unwrap();
        if let Some(handler) = case.violation {
            vm.mapping_mut().set_violation_handler(Some(handler()));
        }
        let run = vm.run(backend);
        (run.result, run.instruction_count)
    };
    Outcome {
        result,
        count,
        mem,
        ctx,
    }
}

/// Runs every row on every backend of this build (`Backend::AVAILABLE`: both, or only the
/// interpreter without the JIT) and reports all mismatches at once; the JIT must also leave
/// the interpreter's memory, syscall sequence and remaining budget.
pub fn run_table(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let interpreted = run_case_on(case, Backend::Interpreter);
        for &backend in Backend::AVAILABLE {
            let outcome = run_case_on(case, backend);
            if outcome.result != case.expect || outcome.count != case.count {
                failures.push(format!(
                    "{} ({:?}, {backend:?}): got {:?} count {}, want {:?} count {}",
                    case.name, case.dialect, outcome.result, outcome.count, case.expect, case.count
                ));
            }
            if outcome.mem != interpreted.mem
                || outcome.ctx.calls != interpreted.ctx.calls
                || outcome.ctx.inner.remaining() != interpreted.ctx.inner.remaining()
            {
                failures.push(format!(
                    "{} ({:?}, {backend:?}): memory, syscalls or budget differ from the interpreter",
                    case.name, case.dialect
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
