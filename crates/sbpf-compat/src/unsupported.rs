//! The parts of the real API that bpfvm cannot honour fail here, loudly and by name (the
//! crate docs list them).

/// `Config::enable_address_translation == false` asks the VM to treat guest addresses as
/// host pointers; bpfvm always translates and checks guest addresses.
#[allow(
    clippy::panic,
    reason = "the documented refusal of an API bpfvm cannot honour"
)]
pub(crate) fn address_translation_off() -> ! {
    panic!(
        "solana-sbpf on bpfvm: Config::enable_address_translation = false is not supported \
         (bpfvm translates and checks every guest address)"
    )
}
