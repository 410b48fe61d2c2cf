//! What the suite of the real crate does not reach: the seam between the API and bpfvm's
//! engine, on both backends. A builtin's own error type survives (hosts downcast it); a
//! builtin sees the running program's memory through its context's mapping and may replace a
//! region, which the program then sees; the access violation handler makes a read-only
//! region writable for a program's store (the copy-on-write Solana runtimes rely on);
//! `PreferJit` runs what is compiled and reports it; a program a host's verifier accepted
//! but bpfvm's refuses is not run; builtins' compute charges count; every run starts from the
//! registers the host set in the VM; a failed run leaves the VM and its mapping ready; a
//! builtin that runs a program over the running program's mapping again is refused, and the
//! mapping runs again once the outer run has ended.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    unsafe_code,
    reason = "the API builds mappings over raw host memory; each block says why it holds"
)]

use solana_sbpf::{
    aligned_memory::AlignedMemory,
    declare_builtin_function, ebpf,
    elf::Executable,
    error::{EbpfError, ProgramResult},
    memory_region::{AccessType, MemoryMapping, MemoryRegion},
    program::{BuiltinFunctionDefinition, BuiltinProgram, FunctionRegistry, SBPFVersion},
    verifier::{RequisiteVerifier, Verifier, VerifierError},
    vm::{Config, ContextObject, EbpfVm, ExecutionMode},
};
use std::ptr::NonNull;
use std::sync::Arc;

/// A context: a budget and the mapping.
struct Context {
    remaining: u64,
    mapping: MemoryMapping,
}

impl ContextObject for Context {
    fn consume(&mut self, amount: u64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }
    fn get_remaining(&self) -> u64 {
        self.remaining
    }
    fn active_mapping_ptr(&mut self) -> NonNull<MemoryMapping> {
        NonNull::from(&mut self.mapping)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the host's own error {0}")]
struct HostError(u64);

declare_builtin_function!(
    /// Fails with the host's own error type, carrying r1.
    Fail,
    fn rust(
        _context: &mut Context,
        a: u64,
        _b: u64,
        _c: u64,
        _d: u64,
        _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        Err(Box::new(HostError(a)))
    }
);

declare_builtin_function!(
    /// The byte at guest address r1, read through the context's mapping, plus 100 compute
    /// units charged.
    PeekByte,
    fn rust(
        context: &mut Context,
        address: u64,
        _b: u64,
        _c: u64,
        _d: u64,
        _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        context.consume(100);
        let buffer: Result<_, EbpfError> = context.mapping.map(AccessType::Load, address, 1).into();
        let buffer = buffer?;
        // SAFETY: the mapping translated one readable byte.
        Ok(u64::from(unsafe { *buffer.ptr().cast::<u8>() }))
    }
);

/// The second input buffer `Redirect` points the input region at.
static SECOND_INPUT: [u8; 4] = [7, 7, 7, 7];

declare_builtin_function!(
    /// Points the input region at `SECOND_INPUT`.
    Redirect,
    fn rust(
        context: &mut Context,
        _a: u64,
        _b: u64,
        _c: u64,
        _d: u64,
        _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        let (index, _) = context
            .mapping
            .find_region(ebpf::MM_INPUT_START)
            .ok_or("no input region")?;
        let region = MemoryRegion::new(std::ptr::from_ref(&SECOND_INPUT), ebpf::MM_INPUT_START);
        // SAFETY: SECOND_INPUT is static and read-only.
        unsafe { context.mapping.replace_region(index, region) }?;
        Ok(0)
    }
);

thread_local! {
    /// The program `RunAgain` runs (set by the test that registers it).
    static NESTED: std::cell::RefCell<Option<Executable<Context>>> =
        const { std::cell::RefCell::new(None) };
}

declare_builtin_function!(
    /// Runs `NESTED` in a new VM over the same context, so over the mapping the calling
    /// program runs in: 1 when that run is refused as the bridge refuses it (nothing run,
    /// `InvalidMemoryRegion(0)`), else 2.
    RunAgain,
    fn rust(
        context: &mut Context,
        _a: u64,
        _b: u64,
        _c: u64,
        _d: u64,
        _e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        NESTED.with(|nested| {
            let nested = nested.borrow();
            let executable = nested.as_ref().ok_or("no nested program")?;
            let stack_len = executable.get_config().stack_size();
            let mut vm = EbpfVm::new(
                executable.get_loader().clone(),
                executable.get_sbpf_version(),
                context,
                stack_len,
            );
            let mut mode = ExecutionMode::Interpreted;
            match vm.execute_program(executable, &mut mode, &mut []) {
                (0, ProgramResult::Err(EbpfError::InvalidMemoryRegion(0))) => Ok(1),
                _ => Ok(2),
            }
        })
    }
);

fn loader() -> Arc<BuiltinProgram<Context>> {
    let mut loader = BuiltinProgram::new_loader(Config {
        enabled_sbpf_versions: SBPFVersion::V0..=SBPFVersion::V3,
        ..Config::default()
    });
    Fail::register(&mut loader, "fail").unwrap();
    PeekByte::register(&mut loader, "peek").unwrap();
    Redirect::register(&mut loader, "redirect").unwrap();
    RunAgain::register(&mut loader, "run_again").unwrap();
    Arc::new(loader)
}

fn assemble(source: &str) -> Executable<Context> {
    let executable = solana_sbpf::assembler::assemble(source, loader()).unwrap();
    executable.verify::<RequisiteVerifier>().unwrap();
    executable.jit_compile().unwrap();
    executable
}

/// Runs `executable` over `input` (writable unless `payload` marks it read-only with a
/// handler that copies it into `copy`) with `mode`: the count, the result and the mode that
/// ran.
fn run(
    executable: &Executable<Context>,
    input: &mut [u8],
    mut mode: ExecutionMode,
) -> (u64, ProgramResult, bool) {
    let config = executable.get_config();
    let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(config.stack_size());
    let stack_len = stack.len();
    let regions = vec![
        executable.get_ro_region(),
        MemoryRegion::new_gapped(
            &mut stack,
            ebpf::MM_STACK_START,
            config.stack_frame_size as u64,
        ),
        MemoryRegion::new(std::ptr::from_mut(input), ebpf::MM_INPUT_START),
    ];
    let version = executable.get_sbpf_version();
    // SAFETY: the stack and the input outlive the mapping (both live until this returns).
    let mapping = unsafe { MemoryMapping::new(regions, config, version) }.unwrap();
    let mut context = Context {
        remaining: 10_000,
        mapping,
    };
    let mut vm = EbpfVm::new(
        executable.get_loader().clone(),
        version,
        &mut context,
        stack_len,
    );
    vm.registers[1] = ebpf::MM_INPUT_START;
    let (count, result) = vm.execute_program(executable, &mut mode, &mut []);
    (count, result, matches!(mode, ExecutionMode::Jit))
}

const MODES: [fn() -> ExecutionMode; 2] = [|| ExecutionMode::Interpreted, || ExecutionMode::Jit];

#[test]
fn a_builtins_error_keeps_its_type() {
    let executable = assemble("mov64 r1, 42\nsyscall fail\nexit");
    for mode in MODES {
        let (_, result, _) = run(&executable, &mut [0; 4], mode());
        let ProgramResult::Err(EbpfError::SyscallError(error)) = result else {
            panic!("expected the builtin's error, got {result:?}");
        };
        assert_eq!(error.downcast_ref::<HostError>().map(|e| e.0), Some(42));
    }
}

#[test]
fn builtins_read_the_running_programs_memory_and_their_charges_count() {
    // r1 = the input's address; peek reads input[2].
    let executable = assemble("add64 r1, 2\nsyscall peek\nexit");
    for mode in MODES {
        let (count, result, _) = run(&executable, &mut [1, 2, 3, 4], mode());
        assert_eq!(result.unwrap(), 3);
        // Three instructions and the builtin's 100 units.
        assert_eq!(count, 103);
    }
}

#[test]
fn a_region_a_builtin_replaces_is_what_the_program_sees_next() {
    let executable = assemble("mov64 r6, r1\nsyscall redirect\nldxb r0, [r6+1]\nexit");
    for mode in MODES {
        let (_, result, _) = run(&executable, &mut [1, 2, 3, 4], mode());
        assert_eq!(result.unwrap(), 7);
    }
}

#[test]
fn the_access_violation_handler_makes_a_store_succeed() {
    let executable = assemble("stb [r1+1], 9\nldxb r0, [r1+1]\nexit");
    for mode in MODES {
        let original = [1u8, 2, 3, 4];
        let mut copy = Box::new([0u8; 4]);
        let copy_ptr = std::ptr::from_mut(&mut *copy);
        let config = executable.get_config();
        let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(config.stack_size());
        let stack_len = stack.len();
        let mut input = MemoryRegion::new(std::ptr::from_ref(&original), ebpf::MM_INPUT_START);
        input.access_violation_handler_payload = Some(1);
        let regions = vec![
            executable.get_ro_region(),
            MemoryRegion::new_gapped(
                &mut stack,
                ebpf::MM_STACK_START,
                config.stack_frame_size as u64,
            ),
            input,
        ];
        // Copy-on-write: a store into the marked region copies it into `copy` and redirects.
        let handler = Box::new(
            move |region: &mut MemoryRegion,
                  _max: u64,
                  access: AccessType,
                  _addr: u64,
                  _len: u64| {
                if access == AccessType::Store && region.access_violation_handler_payload == Some(1)
                {
                    // SAFETY: both buffers are 4 bytes and outlive the mapping.
                    unsafe {
                        (*copy_ptr).copy_from_slice(&*region.host_buffer().ptr().cast::<[u8; 4]>());
                        region.redirect(copy_ptr);
                    }
                    region.access_violation_handler_payload = None;
                }
            },
        );
        let version = executable.get_sbpf_version();
        // SAFETY: stack, input and copy outlive the mapping; the handler keeps regions valid.
        let mapping = unsafe {
            MemoryMapping::new_with_access_violation_handler(regions, config, version, handler)
        }
        .unwrap();
        let mut context = Context {
            remaining: 10_000,
            mapping,
        };
        let mut vm = EbpfVm::new(
            executable.get_loader().clone(),
            version,
            &mut context,
            stack_len,
        );
        vm.registers[1] = ebpf::MM_INPUT_START;
        let (_, result) = vm.execute_program(&executable, &mut mode(), &mut []);
        assert_eq!(result.unwrap(), 9);
        assert_eq!(*copy, [1, 9, 3, 4]);
        assert_eq!(original, [1, 2, 3, 4]);
    }
}

#[test]
fn prefer_jit_runs_what_is_compiled() {
    let executable = solana_sbpf::assembler::assemble("mov64 r0, 5\nexit", loader()).unwrap();
    executable.verify::<RequisiteVerifier>().unwrap();
    let (_, result, jit) = run(&executable, &mut [0; 4], ExecutionMode::PreferJit);
    assert_eq!((result.unwrap(), jit), (5, false));
    let (_, result, _) = run(&executable, &mut [0; 4], ExecutionMode::Jit);
    assert!(matches!(
        result,
        ProgramResult::Err(EbpfError::JitNotCompiled)
    ));
    executable.jit_compile().unwrap();
    assert!(
        executable
            .get_compiled_program()
            .unwrap()
            .machine_code_length()
            > 0
    );
    let (_, result, jit) = run(&executable, &mut [0; 4], ExecutionMode::PreferJit);
    assert_eq!((result.unwrap(), jit), (5, cfg!(target_arch = "x86_64")));
    assert!(executable.take_compiled_program().is_some());
    let (_, result, jit) = run(&executable, &mut [0; 4], ExecutionMode::PreferJit);
    assert_eq!((result.unwrap(), jit), (5, false));
}

#[test]
fn an_executable_moved_after_its_first_run_runs_from_its_new_place() {
    // The first run publishes the program; later runs reach it through pointers the
    // executable keeps. Moving the executable (here: its vector grows into a new allocation,
    // and the old one is freed and written over) must not leave them behind.
    let executable = solana_sbpf::assembler::assemble("mov64 r0, 5\nexit", loader()).unwrap();
    executable.verify::<RequisiteVerifier>().unwrap();
    executable.jit_compile().unwrap();
    let mut holder = Vec::with_capacity(1);
    holder.push(executable);
    let jit = cfg!(target_arch = "x86_64");
    let expect: [(fn() -> ExecutionMode, bool); 3] = [
        (|| ExecutionMode::Interpreted, false),
        (|| ExecutionMode::Jit, jit),
        (|| ExecutionMode::PreferJit, jit),
    ];
    let runs = |holder: &Vec<Executable<Context>>| {
        for (mode, used_jit) in expect {
            let (count, result, ran_jit) = run(&holder[0], &mut [0; 4], mode());
            assert_eq!((count, result.unwrap(), ran_jit), (2, 5, used_jit));
        }
    };
    runs(&holder);
    holder.reserve(64);
    let scribble = vec![0xa5u8; 1 << 16];
    runs(&holder);
    let moved = holder.pop().unwrap();
    let holder = vec![moved];
    runs(&holder);
    drop(scribble);
}

/// Accepts everything.
struct Lenient;

impl Verifier for Lenient {
    fn verify<T: Copy + PartialEq>(
        _prog: &[u8],
        _version: SBPFVersion,
        _registry: &FunctionRegistry<T>,
    ) -> Result<(), VerifierError> {
        Ok(())
    }
}

#[test]
fn what_bpfvms_verifier_refuses_is_not_run() {
    // A jump out of the program.
    let text = [0x05, 0, 0x10, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let executable = Executable::<Context>::from_text_bytes(
        &text,
        loader(),
        SBPFVersion::V3,
        FunctionRegistry::default(),
    )
    .unwrap();
    executable.verify::<Lenient>().unwrap();
    let (count, result, _) = run(&executable, &mut [0; 4], ExecutionMode::Interpreted);
    assert_eq!(count, 0);
    assert!(
        matches!(
            result,
            ProgramResult::Err(EbpfError::VerifierError(VerifierError::JumpOutOfCode(
                17, 0
            )))
        ),
        "{result:?}"
    );
}

#[test]
#[should_panic(expected = "enable_address_translation = false is not supported")]
fn turning_address_translation_off_is_refused_by_name() {
    let loader = Arc::new(BuiltinProgram::<Context>::new_loader(Config {
        enable_address_translation: false,
        ..Config::default()
    }));
    let executable = solana_sbpf::assembler::assemble("exit", loader).unwrap();
    run(&executable, &mut [0; 4], ExecutionMode::Interpreted);
}

/// Compiling after runs (a new program for the runs to come), taking the code away and
/// compiling again give every mode the same result, on the backend each mode names.
#[test]
fn compiling_after_runs_and_taking_the_code_keep_every_mode_exact() {
    let executable =
        solana_sbpf::assembler::assemble("mov64 r0, 5\nadd64 r0, 3\nexit", loader()).unwrap();
    executable.verify::<RequisiteVerifier>().unwrap();
    let jit_here = cfg!(target_arch = "x86_64");
    let expect = |mode: ExecutionMode, jit: bool| {
        let (count, result, ran_jit) = run(&executable, &mut [0; 4], mode);
        assert_eq!((count, result.unwrap(), ran_jit), (3, 8, jit));
    };
    expect(ExecutionMode::Interpreted, false);
    expect(ExecutionMode::PreferJit, false);
    for _ in 0..2 {
        executable.jit_compile().unwrap();
        expect(ExecutionMode::PreferJit, jit_here);
        expect(ExecutionMode::Interpreted, false);
        if jit_here {
            expect(ExecutionMode::Jit, true);
        }
        assert!(executable.take_compiled_program().is_some());
        expect(ExecutionMode::PreferJit, false);
        let (_, result, _) = run(&executable, &mut [0; 4], ExecutionMode::Jit);
        assert!(matches!(
            result,
            ProgramResult::Err(EbpfError::JitNotCompiled)
        ));
    }
}

/// A program compiled before its first run is published with its machine code; taking the
/// code, compiling again and taking it again each change what the next run uses, whichever
/// mode asks (the route a run reads without a lock follows every change).
#[test]
fn compiling_before_the_first_run_then_taking_and_compiling_keep_every_mode_exact() {
    let executable =
        solana_sbpf::assembler::assemble("mov64 r0, 2\nmul64 r0, 21\nexit", loader()).unwrap();
    executable.verify::<RequisiteVerifier>().unwrap();
    let jit_here = cfg!(target_arch = "x86_64");
    let expect = |mode: ExecutionMode, jit: bool| {
        let (count, result, ran_jit) = run(&executable, &mut [0; 4], mode);
        assert_eq!((count, result.unwrap(), ran_jit), (3, 42, jit));
    };
    let jit_refused = || {
        let (count, result, _) = run(&executable, &mut [0; 4], ExecutionMode::Jit);
        assert_eq!(count, 0);
        assert!(matches!(
            result,
            ProgramResult::Err(EbpfError::JitNotCompiled)
        ));
    };
    if jit_here {
        executable.jit_compile().unwrap();
        expect(ExecutionMode::Jit, true);
        expect(ExecutionMode::PreferJit, true);
        expect(ExecutionMode::Interpreted, false);
    }
    assert_eq!(executable.take_compiled_program().is_some(), jit_here);
    expect(ExecutionMode::PreferJit, false);
    jit_refused();
    if jit_here {
        executable.jit_compile().unwrap();
        expect(ExecutionMode::PreferJit, true);
        expect(ExecutionMode::Jit, true);
        assert!(executable.take_compiled_program().is_some());
    }
    expect(ExecutionMode::PreferJit, false);
    expect(ExecutionMode::Interpreted, false);
    jit_refused();
}

/// A raw text's read-only section is its text (one view of the bytes the engine runs), and
/// the region a host maps covers exactly that section.
#[test]
fn a_raw_texts_read_only_section_is_its_text() {
    let executable = assemble("mov64 r0, 0\nexit");
    let (_, text) = executable.get_text_bytes();
    let exit = [0x95, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(text.len(), 16);
    assert_eq!(&text[8..], exit);
    assert_eq!(executable.get_ro_section(), text);
    let range = executable.get_ro_region().vm_addr_range();
    assert_eq!(range.end - range.start, 16);
    assert!(executable.mem_size() >= text.len());
}

/// A VM made over `context` for `executable`, with r1 the input's address.
fn vm_for<'a>(
    executable: &Executable<Context>,
    context: &'a mut Context,
    stack_len: usize,
) -> EbpfVm<'a, Context> {
    let mut vm = EbpfVm::new(
        executable.get_loader().clone(),
        executable.get_sbpf_version(),
        context,
        stack_len,
    );
    vm.registers[1] = ebpf::MM_INPUT_START;
    vm
}

/// The mapping of `run`, over `stack` and `input`.
fn mapping_for(
    executable: &Executable<Context>,
    stack: &mut AlignedMemory<{ ebpf::HOST_ALIGN }>,
    input: &mut [u8],
) -> MemoryMapping {
    let config = executable.get_config();
    let regions = vec![
        executable.get_ro_region(),
        MemoryRegion::new_gapped(stack, ebpf::MM_STACK_START, config.stack_frame_size as u64),
        MemoryRegion::new(std::ptr::from_mut(input), ebpf::MM_INPUT_START),
    ];
    // SAFETY: the stack and the input outlive the mapping (the callers keep both alive
    // until the mapping is dropped).
    unsafe { MemoryMapping::new(regions, config, executable.get_sbpf_version()) }.unwrap()
}

/// A run reads its entry registers where the VM keeps them, at the start of every run: the
/// host changes them between runs of one VM and each run starts from what it set.
#[test]
fn every_run_starts_from_the_registers_the_host_set() {
    let executable = assemble("mov64 r0, r2\nadd64 r0, r3\nexit");
    let config = executable.get_config();
    for mode in MODES {
        let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(config.stack_size());
        let stack_len = stack.len();
        let mut input = [0u8; 4];
        let mut context = Context {
            remaining: 10_000,
            mapping: mapping_for(&executable, &mut stack, &mut input),
        };
        let mut vm = vm_for(&executable, &mut context, stack_len);
        for (r2, r3) in [(5, 7), (1, 7), (40, 2)] {
            vm.registers[2] = r2;
            vm.registers[3] = r3;
            let (count, result) = vm.execute_program(&executable, &mut mode(), &mut []);
            assert_eq!((count, result.unwrap()), (3, r2 + r3));
        }
    }
}

/// A run that a builtin's error ended leaves the VM as the real crate does (`program_result`
/// back to `Ok(0)`, the faulting pc in entry 11) and the mapping ready: the next run over it,
/// of another program, runs and sees the memory.
#[test]
fn a_failed_run_leaves_the_vm_and_its_mapping_ready_for_the_next() {
    let loader = loader();
    let in_loader = |source: &str| {
        let executable = solana_sbpf::assembler::assemble(source, loader.clone()).unwrap();
        executable.verify::<RequisiteVerifier>().unwrap();
        executable.jit_compile().unwrap();
        executable
    };
    let failing = in_loader("mov64 r1, 9\nsyscall fail\nexit");
    let peeking = in_loader("add64 r1, 3\nsyscall peek\nexit");
    let config = failing.get_config();
    for mode in MODES {
        let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(config.stack_size());
        let stack_len = stack.len();
        let mut input = [1u8, 2, 3, 4];
        let mut context = Context {
            remaining: 10_000,
            mapping: mapping_for(&failing, &mut stack, &mut input),
        };
        let mut vm = vm_for(&failing, &mut context, stack_len);
        let registers = vm.registers;
        let (_, result) = vm.execute_program(&failing, &mut mode(), &mut []);
        assert!(matches!(
            result,
            ProgramResult::Err(EbpfError::SyscallError(_))
        ));
        assert!(matches!(vm.program_result, ProgramResult::Ok(0)));
        assert_eq!(vm.registers[11], 1, "the pc of the failing call");
        vm.registers = registers;
        let (count, result) = vm.execute_program(&peeking, &mut mode(), &mut []);
        assert_eq!((count, result.unwrap()), (103, 4));
        // The host's mapping translates again once the run is over.
        let mapped: Result<_, EbpfError> = vm
            .context()
            .mapping
            .map(AccessType::Load, ebpf::MM_INPUT_START, 4)
            .into();
        assert_eq!(mapped.unwrap().len(), 4);
    }
}

#[test]
fn a_builtin_running_the_same_mapping_again_is_refused() {
    let nested = assemble("mov64 r0, 5\nexit");
    let executable = assemble("syscall run_again\nexit");
    NESTED.with(|slot| *slot.borrow_mut() = Some(nested));
    for mode in MODES {
        let config = executable.get_config();
        let mut stack = AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(config.stack_size());
        let stack_len = stack.len();
        let regions = vec![
            executable.get_ro_region(),
            MemoryRegion::new_gapped(
                &mut stack,
                ebpf::MM_STACK_START,
                config.stack_frame_size as u64,
            ),
        ];
        let version = executable.get_sbpf_version();
        // SAFETY: the stack outlives the mapping (both live until the end of the iteration).
        let mapping = unsafe { MemoryMapping::new(regions, config, version) }.unwrap();
        let mut context = Context {
            remaining: 10_000,
            mapping,
        };
        let mut vm = EbpfVm::new(
            executable.get_loader().clone(),
            version,
            &mut context,
            stack_len,
        );
        let registers = vm.registers;
        // The nested run was refused while this one ran over the mapping.
        let (_, result) = vm.execute_program(&executable, &mut mode(), &mut []);
        assert_eq!(result.unwrap(), 1);
        // The outer run has ended: the mapping runs again (here the nested program itself).
        vm.registers = registers;
        let nested = NESTED.with(|slot| slot.borrow_mut().take()).unwrap();
        let (count, result) = vm.execute_program(&nested, &mut mode(), &mut []);
        assert_eq!((count, result.unwrap()), (2, 5));
        NESTED.with(|slot| *slot.borrow_mut() = Some(nested));
    }
}
