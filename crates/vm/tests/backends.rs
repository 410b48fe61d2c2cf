//! Which backends a build has: both on x86-64 with the `jit` feature; elsewhere the
//! interpreter alone, with the same API, where compiling for the JIT is a named error and a
//! JIT run says nothing was compiled. CI runs this file in both kinds of build.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod interp_common;

use bpfvm::{
    verify, Backend, Config, Executable, Loader, RuntimeError, SyscallRegistry, TestContext,
    VerifiedProgram, Vm,
};
use bpfvm_isa::Dialect;
use interp_common::{assemble, exit, mov};
use std::sync::Arc;

fn program() -> VerifiedProgram<TestContext> {
    let loader = Arc::new(Loader::with_syscalls(
        Config::default(),
        SyscallRegistry::new(),
    ));
    let bytes = assemble(&[mov(0, 7), exit()], Dialect::Sbpf);
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    verify(executable).unwrap()
}

fn run(program: &VerifiedProgram<TestContext>, backend: Backend) -> Result<u64, RuntimeError> {
    let mut context = TestContext::new(100);
    let mut heap = Vec::new();
    let mut vm = Vm::new(program, &mut context, &mut heap, Vec::new()).unwrap();
    vm.run(backend).result
}

#[test]
#[cfg(bpfvm_jit)]
fn a_jit_build_has_both_backends() {
    assert_eq!(Backend::AVAILABLE, [Backend::Interpreter, Backend::Jit]);
    const { assert!(bpfvm::jit::AVAILABLE) };
    let mut program = program();
    program.jit_compile().unwrap();
    assert_eq!(run(&program, Backend::Jit), Ok(7));
}

#[test]
#[cfg(not(bpfvm_jit))]
fn a_build_without_the_jit_names_why_and_still_interprets() {
    assert_eq!(Backend::AVAILABLE, [Backend::Interpreter]);
    const { assert!(!bpfvm::jit::AVAILABLE) };
    let mut program = program();
    let error = program.jit_compile().unwrap_err();
    let expected = match cfg!(target_arch = "x86_64") {
        true => bpfvm::jit::JitError::FeatureDisabled,
        false => bpfvm::jit::JitError::UnsupportedTarget {
            arch: std::env::consts::ARCH,
        },
    };
    assert_eq!(error, expected);
    assert!(error.to_string().contains("interpreter"), "{error}");
    assert!(program.jit_program().is_none());
    assert_eq!(
        run(&program, Backend::Jit),
        Err(RuntimeError::JitNotCompiled)
    );
    assert_eq!(run(&program, Backend::Interpreter), Ok(7));
}
