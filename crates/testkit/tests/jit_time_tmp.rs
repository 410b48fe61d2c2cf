#![allow(clippy::unwrap_used, missing_docs)]
use bpfvm::{verify, Executable, Loader, TestContext};
use std::sync::Arc;
#[test]
fn t() {
    let bytes = std::fs::read("/work/shared/corpus/solana_programs/spl_token-3.5.0.so").unwrap();
    let e = Executable::from_elf(&bytes, Arc::new(Loader::<TestContext>::new(bpfvm::Config::legacy()))).unwrap();
    let mut p = verify(e).unwrap();
    for _ in 0..200 { let s = std::time::Instant::now(); p.jit_compile().unwrap(); eprintln!("TOTAL {:?}", s.elapsed()); }
}
