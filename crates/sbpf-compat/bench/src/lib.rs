//! What the API benchmarks (`benches/api.rs`, `benches/probe.rs`) and their profiling
//! example (`examples/api_profile.rs`) share: the context each API's VM runs with, a VM
//! made once over the executable and a gapped stack, and the three-instruction program (the
//! fixed cost of one call) on bpfvm's own API. The benchmarks themselves live in `benches/`.

use std::sync::Arc;

/// The three-instruction program (r0 = 1 + 2), as the 0.26 API's columns assemble it.
pub const THREE_INSTRUCTIONS: &str = "mov64 r0, 1\nadd64 r0, 2\nexit";

/// [`THREE_INSTRUCTIONS`], encoded.
const THREE_INSTRUCTIONS_TEXT: [u8; 24] = [
    0xb7, 0, 0, 0, 1, 0, 0, 0, 0x07, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0,
];

/// [`THREE_INSTRUCTIONS`] on bpfvm's own API, as the bpfvm columns run it: a V0 program under
/// Agave's settings (`Preset::Sbpf26`, the aligned mapping, as the API columns'), verified,
/// and compiled when it is to run on `backend` = `Jit`.
///
/// # Panics
///
/// When bpfvm refuses the program (it does not: the bench's fixed bytes).
#[allow(clippy::unwrap_used, reason = "fixed input of a benchmark")]
pub fn three_instructions_on_bpfvm(
    backend: bpfvm::Backend,
) -> bpfvm::VerifiedProgram<bpfvm::TestContext> {
    let version = bpfvm::SbpfVersion::V0;
    let loader = Arc::new(bpfvm::Loader::<bpfvm::TestContext>::new(
        bpfvm::Preset::Sbpf26(version).config(),
    ));
    let executable = bpfvm::Executable::from_text_bytes(
        &THREE_INSTRUCTIONS_TEXT,
        loader,
        bpfvm::Dialect::Sbpf26(version),
        bpfvm::FunctionRegistry::new(),
    )
    .unwrap();
    let mut program = bpfvm::verify(executable).unwrap();
    if backend == bpfvm::Backend::Jit {
        program.jit_compile().unwrap();
    }
    program
}

/// Declares `$name`, a context for the VM of the crate `$krate` (the drop-in `solana_sbpf` or
/// the real `sbpf_real`): an instruction budget, the host's memory mapping, and the lines the
/// program logged (see [`solana_builtins!`]).
#[macro_export]
macro_rules! context {
    ($name:ident, $krate:ident) => {
        struct $name {
            remaining: u64,
            mapping: $krate::memory_region::MemoryMapping,
            #[allow(dead_code)]
            logs: Vec<String>,
        }
        impl $krate::vm::ContextObject for $name {
            fn consume(&mut self, amount: u64) {
                self.remaining = self.remaining.saturating_sub(amount);
            }
            fn get_remaining(&self) -> u64 {
                self.remaining
            }
            fn active_mapping_ptr(
                &mut self,
            ) -> ::core::ptr::NonNull<$krate::memory_region::MemoryMapping> {
                ::core::ptr::NonNull::from(&mut self.mapping)
            }
        }
    };
}

/// Makes, in the caller's block, a VM of the crate `$krate` (the drop-in `solana_sbpf` or
/// the real `sbpf_real`) for `$executable` (verified, and compiled when the caller runs the
/// JIT), over its read-only region and a gapped stack, with a `$context` (made by
/// [`context!`]) whose budget is 0: binds `$vm`, the entry registers `$registers` a host
/// resets before each run, and the call frames `$frames` that `execute_program` takes. The
/// stack, the mapping and the context live in the caller's block, as long as the VM.
#[macro_export]
macro_rules! vm_over_a_gapped_stack {
    ($krate:ident, $context:ident, $executable:ident => $vm:ident, $registers:ident, $frames:ident) => {
        let config = $executable.get_config();
        let mut stack =
            $krate::aligned_memory::AlignedMemory::<{ $krate::ebpf::HOST_ALIGN }>::zero_filled(
                config.stack_size(),
            );
        let stack_len = stack.len();
        let regions = vec![
            $executable.get_ro_region(),
            $krate::memory_region::MemoryRegion::new_gapped(
                &mut stack,
                $krate::ebpf::MM_STACK_START,
                config.stack_frame_size as u64,
            ),
        ];
        let version = $executable.get_sbpf_version();
        // SAFETY: the regions are the executable's read-only bytes and `stack`, both alive
        // and unmoved until the end of the caller's block, which outlives every run of the VM.
        #[allow(unsafe_code)]
        let mapping =
            unsafe { $krate::memory_region::MemoryMapping::new(regions, config, version) }.unwrap();
        let mut context = $context {
            remaining: 0,
            mapping,
            logs: Vec::new(),
        };
        let mut $vm = $krate::vm::EbpfVm::new(
            $executable.get_loader().clone(),
            version,
            &mut context,
            stack_len,
        );
        let $registers = $vm.registers;
        let mut $frames = vec![$krate::vm::CallFrame::default(); config.max_call_depth];
    };
}

/// Declares, in module `$module`, the part of the Solana runtime's syscalls SPL Token's
/// instructions call, as builtins of the crate `$krate` (the drop-in `solana_sbpf` or the
/// real `sbpf_real`) over the context `$context` (made by [`context!`]): the same work and
/// the same compute costs as bpfvm's own (`bpfvm::syscalls::cost`, charged before the
/// work), the log lines framed and kept as bpfvm's `SolanaContext` keeps them, memory
/// reached through the crate's `MemoryMapping` (one `map` per range, then the bytes through
/// the host address it gave). `register` adds them to a loader; every other name the
/// program imports fails.
#[macro_export]
macro_rules! solana_builtins {
    ($module:ident, $krate:ident, $context:ident) => {
        mod $module {
            use super::$context;
            use bpfvm::syscalls::cost;
            use $krate::declare_builtin_function;
            use $krate::memory_region::{AccessType, HostBuffer};
            use $krate::program::{BuiltinFunctionDefinition, BuiltinProgram};

            type Outcome = Result<u64, Box<dyn std::error::Error>>;

            /// A builtin's failure.
            #[derive(Debug)]
            struct Failed(&'static str);

            impl std::fmt::Display for Failed {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(self.0)
                }
            }

            impl std::error::Error for Failed {}

            /// Charges `units` before the work: more than remains drains the budget and fails.
            fn charge(context: &mut $context, units: u64) -> Result<(), Box<dyn std::error::Error>> {
                if units > context.remaining {
                    context.remaining = 0;
                    return Err(Box::new(Failed("compute budget exceeded")));
                }
                context.remaining -= units;
                Ok(())
            }

            /// The host address of `len` bytes at `vaddr` for `access`.
            fn host(
                context: &mut $context,
                access: AccessType,
                vaddr: u64,
                len: u64,
            ) -> Result<*mut u8, Box<dyn std::error::Error>> {
                let mapped: Result<HostBuffer, _> = context.mapping.map(access, vaddr, len).into();
                match mapped.map_err(|error| Box::new(error) as Box<dyn std::error::Error>)? {
                    HostBuffer::Immutable(bytes) => Ok(bytes as *const u8 as *mut u8),
                    HostBuffer::Mutable(bytes) => Ok(bytes as *mut u8),
                }
            }

            /// The `len` bytes at `vaddr`, copied out.
            fn read(context: &mut $context, vaddr: u64, len: u64) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
                let address = host(context, AccessType::Load, vaddr, len)?;
                // SAFETY: `map` vouched for `len` readable bytes at `address`, in a region
                // the bench keeps alive for the VM's life.
                Ok(unsafe { std::slice::from_raw_parts(address, len as usize) }.to_vec())
            }

            /// Writes `bytes` at `vaddr`.
            fn write(context: &mut $context, vaddr: u64, bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
                let address = host(context, AccessType::Store, vaddr, bytes.len() as u64)?;
                // SAFETY: `map` vouched for that many writable bytes at `address`.
                unsafe { std::ptr::copy(bytes.as_ptr(), address, bytes.len()) };
                Ok(())
            }

            declare_builtin_function!(
                /// `sol_log_(addr, len)`.
                SolLog,
                fn rust(context: &mut $context, addr: u64, len: u64, _c: u64, _d: u64, _e: u64,) -> Result<u64, Box<dyn std::error::Error>> {
                    charge(context, cost::log(len))?;
                    let bytes = read(context, addr, len)?;
                    let line = format!("Program log: {}", String::from_utf8_lossy(&bytes));
                    context.logs.push(line);
                    Ok(0)
                }
            );

            declare_builtin_function!(
                /// `sol_memcpy_(dst, src, n)` and `sol_memmove_`.
                SolMemcpy,
                fn rust(context: &mut $context, dst: u64, src: u64, n: u64, _d: u64, _e: u64,) -> Result<u64, Box<dyn std::error::Error>> {
                    charge(context, cost::mem_op(n))?;
                    let bytes = read(context, src, n)?;
                    write(context, dst, &bytes)?;
                    Ok(0)
                }
            );

            declare_builtin_function!(
                /// `sol_memset_(s, c, n)`.
                SolMemset,
                fn rust(context: &mut $context, s: u64, c: u64, n: u64, _d: u64, _e: u64,) -> Result<u64, Box<dyn std::error::Error>> {
                    charge(context, cost::mem_op(n))?;
                    write(context, s, &vec![c as u8; usize::try_from(n)?])?;
                    Ok(0)
                }
            );

            declare_builtin_function!(
                /// `sol_memcmp_(a, b, n, out)`.
                SolMemcmp,
                fn rust(context: &mut $context, a: u64, b: u64, n: u64, out: u64, _e: u64,) -> Result<u64, Box<dyn std::error::Error>> {
                    charge(context, cost::mem_op(n))?;
                    let left = read(context, a, n)?;
                    let right = read(context, b, n)?;
                    let difference = left
                        .iter()
                        .zip(&right)
                        .find(|(x, y)| x != y)
                        .map_or(0, |(x, y)| i32::from(*x) - i32::from(*y));
                    write(context, out, &difference.to_le_bytes())?;
                    Ok(0)
                }
            );

            declare_builtin_function!(
                /// Every other import: fails.
                Unsupported,
                fn rust(_context: &mut $context, _a: u64, _b: u64, _c: u64, _d: u64, _e: u64,) -> Result<u64, Box<dyn std::error::Error>> {
                    Outcome::Err(Box::new(Failed("unsupported syscall")))
                }
            );

            fn add<S: BuiltinFunctionDefinition<$context>>(loader: &mut BuiltinProgram<$context>, name: &str) {
                S::register(loader, name).expect("a new name");
            }

            /// Registers the builtins under the names SPL Token imports.
            pub fn register(loader: &mut BuiltinProgram<$context>) {
                for name in bpfvm::syscalls::solana::SOLANA_SYSCALLS
                    .iter()
                    .chain(&bpfvm::syscalls::solana::UNSUPPORTED_SYSCALLS)
                {
                    match *name {
                        "sol_log_" => add::<SolLog>(loader, name),
                        "sol_memcpy_" | "sol_memmove_" => add::<SolMemcpy>(loader, name),
                        "sol_memset_" => add::<SolMemset>(loader, name),
                        "sol_memcmp_" => add::<SolMemcmp>(loader, name),
                        _ => add::<Unsupported>(loader, name),
                    }
                }
            }
        }
    };
}
