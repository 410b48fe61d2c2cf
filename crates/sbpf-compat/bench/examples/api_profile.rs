//! Repeats one operation of the API bench N times, for callgrind: loading SPL Token or one
//! `execute_program` of the three-instruction program, through the drop-in or bpfvm directly.
//! Compare two N to take the set-up out:
//! `valgrind --tool=callgrind target/release/examples/api_profile WHAT N` with WHAT one of
//! `load-drop-in`, `load-bpfvm`, `run-drop-in-jit`, `run-drop-in-interpreter`, `run-bpfvm-jit`,
//! `run-bpfvm-interpreter`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ptr::NonNull;
use std::sync::Arc;

struct CompatContext {
    remaining: u64,
    mapping: solana_sbpf::memory_region::MemoryMapping,
}

impl solana_sbpf::vm::ContextObject for CompatContext {
    fn consume(&mut self, amount: u64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }
    fn get_remaining(&self) -> u64 {
        self.remaining
    }
    fn active_mapping_ptr(&mut self) -> NonNull<solana_sbpf::memory_region::MemoryMapping> {
        NonNull::from(&mut self.mapping)
    }
}

/// A budget far above the three instructions (a Solana instruction gets 200,000 units).
const BUDGET: u64 = 1_000_000;

const SOURCE: &str = "mov64 r0, 1\nadd64 r0, 2\nexit";

fn compat_config() -> solana_sbpf::vm::Config {
    solana_sbpf::vm::Config {
        enabled_sbpf_versions: solana_sbpf::program::SBPFVersion::V0
            ..=solana_sbpf::program::SBPFVersion::V0,
        optimize_rodata: false,
        aligned_memory_mapping: true,
        ..solana_sbpf::vm::Config::default()
    }
}

fn spl_token() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../../shared/corpus/solana_programs/spl_token-3.5.0.so"),
    )
    .expect("the corpus's SPL Token program")
}

fn load_drop_in(n: usize) {
    let elf = spl_token();
    let mut config = compat_config();
    config.enabled_sbpf_versions =
        solana_sbpf::program::SBPFVersion::V0..=solana_sbpf::program::SBPFVersion::V3;
    let loader =
        Arc::new(solana_sbpf::program::BuiltinProgram::<CompatContext>::new_loader(config));
    for _ in 0..n {
        let executable = solana_sbpf::elf::Executable::from_elf(&elf, loader.clone()).unwrap();
        std::hint::black_box(executable);
    }
}

fn load_bpfvm(n: usize) {
    let elf = spl_token();
    let mut config = bpfvm::Preset::Sbpf26(bpfvm::SbpfVersion::V0).config();
    config.optimize_rodata = false;
    let loader = Arc::new(bpfvm::Loader::<bpfvm::TestContext>::new(config));
    let dialect = bpfvm::Dialect::Sbpf26(bpfvm::SbpfVersion::V0);
    for _ in 0..n {
        std::hint::black_box(bpfvm::elf::load_in(&elf, loader.clone(), dialect).unwrap());
    }
}

fn run_drop_in(n: usize, jit: bool) {
    use solana_sbpf::{
        ebpf,
        memory_region::{MemoryMapping, MemoryRegion},
        vm::{EbpfVm, ExecutionMode},
    };
    let loader = Arc::new(
        solana_sbpf::program::BuiltinProgram::<CompatContext>::new_loader(compat_config()),
    );
    let executable = solana_sbpf::assembler::assemble(SOURCE, loader).unwrap();
    executable
        .verify::<solana_sbpf::verifier::RequisiteVerifier>()
        .unwrap();
    if jit {
        executable.jit_compile().unwrap();
    }
    let config = executable.get_config();
    let mut stack = solana_sbpf::aligned_memory::AlignedMemory::<{ ebpf::HOST_ALIGN }>::zero_filled(
        config.stack_size(),
    );
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
    // SAFETY: the regions are the executable's bytes and `stack`, alive until the end.
    #[allow(unsafe_code)]
    let mapping = unsafe { MemoryMapping::new(regions, config, version) }.unwrap();
    let mut context = CompatContext {
        remaining: 0,
        mapping,
    };
    let mut vm = EbpfVm::new(
        executable.get_loader().clone(),
        version,
        &mut context,
        stack_len,
    );
    let registers = vm.registers;
    let mut frames = vec![solana_sbpf::vm::CallFrame::default(); config.max_call_depth];
    for _ in 0..n {
        vm.registers = registers;
        vm.context().remaining = BUDGET;
        let mut mode = if jit {
            ExecutionMode::Jit
        } else {
            ExecutionMode::Interpreted
        };
        let (used, result) = vm.execute_program(&executable, &mut mode, &mut frames);
        assert!(result.is_ok() && used == 3);
    }
}

fn run_bpfvm(n: usize, jit: bool) {
    let dialect = bpfvm::Dialect::Sbpf26(bpfvm::SbpfVersion::V0);
    let loader = Arc::new(bpfvm::Loader::<bpfvm::TestContext>::new(
        bpfvm::Preset::Sbpf26(bpfvm::SbpfVersion::V0).config(),
    ));
    // The three instructions of `SOURCE`, encoded.
    let text = [
        0xb7, 0, 0, 0, 1, 0, 0, 0, 0x07, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0,
    ];
    let executable =
        bpfvm::Executable::from_text_bytes(&text, loader, dialect, bpfvm::FunctionRegistry::new())
            .unwrap();
    let mut program = bpfvm::verify(executable).unwrap();
    let backend = if jit {
        program.jit_compile().unwrap();
        bpfvm::Backend::Jit
    } else {
        bpfvm::Backend::Interpreter
    };
    let mut context = bpfvm::TestContext::new(0);
    let mut heap = [0u8; 0];
    let mut vm = bpfvm::Vm::new(&program, &mut context, &mut heap, Vec::new()).unwrap();
    for _ in 0..n {
        vm.context().remaining = BUDGET;
        let run = vm.run(backend);
        assert!(run.result.is_ok() && run.instruction_count == 3);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().expect("what to repeat");
    let n: usize = args.next().map_or(1000, |n| n.parse().expect("a count"));
    match what.as_str() {
        "load-drop-in" => load_drop_in(n),
        "load-bpfvm" => load_bpfvm(n),
        "run-drop-in-jit" => run_drop_in(n, true),
        "run-drop-in-interpreter" => run_drop_in(n, false),
        "run-bpfvm-jit" => run_bpfvm(n, true),
        "run-bpfvm-interpreter" => run_bpfvm(n, false),
        other => panic!("unknown {other}"),
    }
}
