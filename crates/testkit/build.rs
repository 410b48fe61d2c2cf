//! Builds the benchmark kernels of `examples/c/kernels` natively, from the same C source the
//! committed BPF objects were built from, at -O2 (the BPF side's level) with clang (the BPF
//! side's compiler, so both builds share one optimizer; the `cc` crate's default compiler
//! when clang is missing, named by `BPFVM_KERNEL_CC` for the benchmark to print). Each
//! kernel's `entrypoint` is renamed `bpfvm_kernel_<name>` so they link side by side, as
//! static libraries `bpfvm_kernel_<name>` that `benches/native.rs` and `tests/kernels.rs`
//! link by name and call through FFI.

const KERNELS: [&str; 6] = ["histogram", "checksum", "crc32", "sort", "collatz", "fib"];

/// Whether `clang --version` runs.
fn clang_available() -> bool {
    std::process::Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

fn main() {
    let dir = std::path::Path::new("../../examples/c/kernels");
    println!("cargo:rerun-if-changed={}", dir.join("kernel.h").display());
    println!("cargo:rerun-if-env-changed=PATH");
    // The libraries link into the bench and the test that name them (`#[link]`), not into
    // the testkit library.
    if let Some(out) = std::env::var_os("OUT_DIR") {
        println!("cargo:rustc-link-search=native={}", out.to_string_lossy());
    }
    let clang = clang_available();
    let compiler = if clang {
        "clang -O2"
    } else {
        "the default C compiler (clang is missing) -O2"
    };
    println!("cargo:rustc-env=BPFVM_KERNEL_CC={compiler}");
    for name in KERNELS {
        let source = dir.join(format!("{name}.c"));
        println!("cargo:rerun-if-changed={}", source.display());
        let mut build = cc::Build::new();
        if clang {
            build.compiler("clang");
        }
        build
            .file(&source)
            .include(dir)
            .opt_level(2)
            .define("entrypoint", format!("bpfvm_kernel_{name}").as_str())
            .warnings(true)
            .cargo_metadata(false)
            .compile(&format!("bpfvm_kernel_{name}"));
    }
}
