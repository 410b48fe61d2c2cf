//! Links a clang BPF object from the command line:
//! `cargo run -p bpfvm-link --example link -- OBJECT OUTPUT v0|v3`.
//!
//! For example, after `clang -O2 -target bpf -mcpu=v2 -c prog.c -o prog.o`,
//! `cargo run -p bpfvm-link --example link -- prog.o prog.so v3` writes a V3 program that
//! solana-sbpf 0.26 (and Agave) load.

use bpfvm_link::{link, Target};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [object, output, target] = args.as_slice() else {
        eprintln!("usage: link OBJECT OUTPUT v0|v3");
        return ExitCode::from(2);
    };
    let target = match target.as_str() {
        "v0" => Target::V0,
        "v3" => Target::V3,
        other => {
            eprintln!("unknown target {other:?}: v0 or v3");
            return ExitCode::from(2);
        }
    };
    let linked = std::fs::read(object)
        .map_err(|error| format!("cannot read {object}: {error}"))
        .and_then(|bytes| link(&bytes, target).map_err(|error| format!("{object}: {error}")))
        .and_then(|file| {
            std::fs::write(output, file).map_err(|error| format!("cannot write {output}: {error}"))
        });
    match linked {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
