//! Builds the benchmark kernels of `examples/c/kernels` natively, from the same C source the
//! committed BPF objects were built from, with the system C compiler at -O2 (the BPF side's
//! level). Each kernel's `entrypoint` is renamed `bpfvm_kernel_<name>` so the four link side
//! by side, as static libraries `bpfvm_kernel_<name>` that `benches/native.rs` and
//! `tests/kernels.rs` link by name and call through FFI.

const KERNELS: [&str; 4] = ["histogram", "checksum", "crc32", "sort"];

fn main() {
    let dir = std::path::Path::new("../../examples/c/kernels");
    println!("cargo:rerun-if-changed={}", dir.join("kernel.h").display());
    // The libraries link into the bench and the test that name them (`#[link]`), not into
    // the testkit library.
    if let Some(out) = std::env::var_os("OUT_DIR") {
        println!("cargo:rustc-link-search=native={}", out.to_string_lossy());
    }
    for name in KERNELS {
        let source = dir.join(format!("{name}.c"));
        println!("cargo:rerun-if-changed={}", source.display());
        cc::Build::new()
            .file(&source)
            .include(dir)
            .opt_level(2)
            .define("entrypoint", format!("bpfvm_kernel_{name}").as_str())
            .warnings(true)
            .cargo_metadata(false)
            .compile(&format!("bpfvm_kernel_{name}"));
    }
}
