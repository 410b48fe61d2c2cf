//! Decides, once, whether this build of `bpfvm` has the JIT: `cfg(bpfvm_jit)` is set exactly
//! when the `jit` feature is on and the target is x86-64. Every JIT item of the crate (and
//! every test that needs one) is gated on that one name, so a build without the feature on
//! an x86-64 host compiles the very code an aarch64 build would: CI's
//! `cargo build -p bpfvm --no-default-features` is the proof that the crate builds on every
//! 64-bit host.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(bpfvm_jit)");
    println!("cargo::rerun-if-changed=build.rs");
    let feature = std::env::var_os("CARGO_FEATURE_JIT").is_some();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if feature && arch == "x86_64" {
        println!("cargo::rustc-cfg=bpfvm_jit");
    }
}
