//! Shared helpers of the ELF tests: the corpus, loaders for bpfvm and for the reference, and
//! outcome summaries that compare by error kind.

#![allow(dead_code)]

use bpfvm::{Config, Executable, LoadError, Loader, MemoryMapping, RuntimeError, SyscallRegistry};
use std::path::PathBuf;
use std::sync::Arc;

/// `<repo>/../shared/corpus`, or a panic that says where it was looked for.
pub fn corpus() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(
        dir.is_dir(),
        "the test corpus is missing: expected it at {} (the shared/ folder beside the repository)",
        dir.display()
    );
    dir
}

/// The bytes of a corpus file.
pub fn read(relative: &str) -> Vec<u8> {
    let path = corpus().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The 23 reference ELFs (sorted).
pub fn rbpf_elfs() -> Vec<String> {
    list("rbpf_elfs")
}

/// The production programs and the loader test ELFs (sorted).
pub fn production_elfs() -> Vec<String> {
    let mut all = list("solana_programs");
    all.extend(list("solana_programs/bpf_loader_test_elfs"));
    all
}

fn list(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus().join(dir))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".so"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    names.sort();
    names
}

/// A syscall that does nothing and returns 0.
pub fn nop(_: &mut (), _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, RuntimeError> {
    Ok(0)
}

/// A bpfvm loader with `config` and the named no-op syscalls.
pub fn loader(config: Config, syscalls: &[&str]) -> Arc<Loader<()>> {
    let mut registry = SyscallRegistry::new();
    for name in syscalls {
        registry.register(name, nop).unwrap();
    }
    Arc::new(Loader::with_syscalls(config, registry))
}

/// Loads with bpfvm.
pub fn load(bytes: &[u8], config: Config, syscalls: &[&str]) -> Result<Executable<()>, LoadError> {
    Executable::from_elf(bytes, loader(config, syscalls))
}

/// The reference's configuration equal to ours.
pub fn reference_config(config: &Config) -> solana_rbpf::vm::Config {
    solana_rbpf::vm::Config {
        max_call_depth: config.max_call_depth,
        stack_frame_size: config.stack_frame_size,
        enable_stack_frame_gaps: config.enable_stack_frame_gaps,
        instruction_meter_checkpoint_distance: config.instruction_meter_checkpoint_distance,
        enable_instruction_meter: config.enable_instruction_meter,
        enable_instruction_tracing: config.enable_instruction_tracing,
        enable_symbol_and_section_labels: config.enable_symbol_and_section_labels,
        reject_broken_elfs: config.reject_broken_elfs,
        noop_instruction_rate: config.noop_instruction_rate,
        sanitize_user_provided_values: config.sanitize_user_provided_values,
        runtime_environment_key: config.runtime_environment_key,
        external_internal_function_hash_collision: config.external_internal_function_hash_collision,
        reject_callx_r10: config.reject_callx_r10,
        dynamic_stack_frames: config.dynamic_stack_frames,
        enable_sdiv: config.enable_sdiv,
        optimize_rodata: config.optimize_rodata,
        static_syscalls: config.static_syscalls,
        enable_elf_vaddr: config.enable_elf_vaddr,
        new_elf_parser: true,
        reject_rodata_stack_overlap: config.reject_rodata_stack_overlap,
        aligned_memory_mapping: config.aligned_memory_mapping,
    }
}

/// What a load produced, in a form both implementations can give: the layout on success, the
/// error kind on failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Loaded.
    Loaded(Layout),
    /// Failed with this error kind.
    Failed(String),
    /// The reference panicked (only the reference can).
    Panicked,
}

/// The guest-visible result of a load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub entry_pc: usize,
    pub text_vaddr: u64,
    pub text: Vec<u8>,
    pub ro_vaddr: u64,
    pub ro: Vec<u8>,
    /// (key, pc, name) of every function.
    pub functions: Vec<(u32, usize, String)>,
}

/// bpfvm's outcome.
pub fn ours(bytes: &[u8], config: Config, syscalls: &[&str]) -> Outcome {
    match load(bytes, config, syscalls) {
        Ok(exe) => Outcome::Loaded(Layout {
            entry_pc: exe.entry_pc(),
            text_vaddr: exe.text_vaddr(),
            text: exe.text().to_vec(),
            ro_vaddr: exe.ro_vaddr(),
            ro: exe.ro_data().to_vec(),
            functions: exe
                .functions()
                .iter()
                .map(|(key, f)| (key, f.pc, f.name.clone()))
                .collect(),
        }),
        Err(error) => Outcome::Failed(error.kind().to_owned()),
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "the reference's syscall signature"
)]
fn reference_syscall(
    _: &mut solana_rbpf::vm::TestContextObject,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: &mut solana_rbpf::memory_region::MemoryMapping,
    result: &mut solana_rbpf::vm::ProgramResult,
) {
    *result = solana_rbpf::vm::ProgramResult::Ok(0);
}

/// The reference's outcome (a panic inside it is reported, not propagated).
pub fn reference(bytes: &[u8], config: Config, syscalls: &[&str]) -> Outcome {
    use solana_rbpf::elf::Executable as RefExecutable;
    use solana_rbpf::vm::{BuiltInProgram, TestContextObject};
    let mut loader = BuiltInProgram::new_loader(reference_config(&config));
    for name in syscalls {
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        loader
            .register_function_by_name(name, reference_syscall)
            .unwrap();
    }
    let loader = Arc::new(loader);
    let bytes = bytes.to_vec();
    let result =
        std::panic::catch_unwind(move || {
            match RefExecutable::<TestContextObject>::from_elf(&bytes, loader) {
                Ok(exe) => {
                    let (text_vaddr, text) = exe.get_text_bytes();
                    let region = exe.get_ro_region();
                    Outcome::Loaded(Layout {
                        entry_pc: exe.get_entrypoint_instruction_offset(),
                        text_vaddr,
                        text: text.to_vec(),
                        ro_vaddr: region.vm_addr,
                        ro: exe.get_ro_section().to_vec(),
                        functions: exe
                            .get_function_registry()
                            .iter()
                            .map(|(key, (pc, name))| (*key, *pc, name.clone()))
                            .collect(),
                    })
                }
                Err(solana_rbpf::error::EbpfError::ElfError(error)) => {
                    Outcome::Failed(variant_name(&format!("{error:?}")))
                }
                Err(other) => Outcome::Failed(variant_name(&format!("{other:?}"))),
            }
        });
    result.unwrap_or(Outcome::Panicked)
}

/// The variant name of a Debug rendering ("Foo(1, 2)" -> "Foo").
pub fn variant_name(debug: &str) -> String {
    debug.split(['(', ' ', '{']).next().unwrap_or("").to_owned()
}
