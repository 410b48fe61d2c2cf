//! What the API benchmark (`benches/api.rs`) and its profiling example
//! (`examples/api_profile.rs`) share: the context each API's VM runs with. The benchmarks
//! themselves live in `benches/`.

/// Declares `$name`, a context for the VM of the crate `$krate` (the drop-in `solana_sbpf` or
/// the real `sbpf_real`): an instruction budget and the host's memory mapping.
#[macro_export]
macro_rules! context {
    ($name:ident, $krate:ident) => {
        struct $name {
            remaining: u64,
            mapping: $krate::memory_region::MemoryMapping,
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
