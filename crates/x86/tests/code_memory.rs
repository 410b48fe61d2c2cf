//! Code memory protections as the kernel reports them in /proc/self/maps: read-write while
//! writable, read-execute after sealing, never writable while parked in a pool (sealed code
//! is parked as it is, unsealed memory inaccessible); never both writable and executable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_x86::{Assembler, CodeMemoryError, CodePool, Gpr, Size, WritableCode};

/// The permission string ("rw-p", "r-xp", "---p") of the mapping that contains `address`.
fn perms(address: *const u8) -> String {
    let address = address as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let range = fields.next().unwrap();
        let perms = fields.next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let start = usize::from_str_radix(start, 16).unwrap();
        let end = usize::from_str_radix(end, 16).unwrap();
        if (start..end).contains(&address) {
            return perms.to_string();
        }
    }
    panic!("{address:#x} is not mapped");
}

fn program() -> Vec<u8> {
    let mut asm = Assembler::new();
    asm.mov_imm(Size::S32, Gpr::Rax, 42).unwrap();
    asm.ret();
    asm.finish().unwrap()
}

#[test]
fn writable_then_executable_never_both() {
    let mut code = WritableCode::new(3 * 4096).unwrap();
    code.append(&program()).unwrap();
    let start = code.as_ptr();
    assert_eq!(perms(start), "rw-p");
    let code = code.make_executable().unwrap();
    assert_eq!(code.as_ptr(), start);
    assert_eq!(perms(start), "r-xp");
    // Pages past the code are inaccessible, not writable.
    assert_eq!(perms(start.wrapping_add(4096)), "---p");
    assert_eq!(code.as_slice(), program());
    assert_eq!(code.len(), 6);
}

#[test]
fn appends_past_capacity_fail() {
    let mut code = WritableCode::new(1).unwrap();
    let capacity = code.capacity();
    assert!(capacity >= 1);
    code.append(&vec![0x90; capacity]).unwrap();
    assert_eq!(
        code.append(&[0xC3]),
        Err(CodeMemoryError::OutOfSpace {
            capacity,
            needed: capacity + 1
        })
    );
    assert_eq!(code.len(), capacity);
}

#[test]
fn patching_in_place_before_sealing() {
    let mut code = WritableCode::new(16).unwrap();
    code.append(&program()).unwrap();
    code.written_mut()[1] = 7; // the imm32 of `mov eax, 42`
    assert_eq!(code.written()[..2], [0xB8, 7]);
}

#[test]
fn pool_parks_regions_unwritable_and_reuses_them_read_write() {
    let pool = CodePool::with_idle_limit(1);
    let mut first = pool.allocate(100).unwrap();
    first.append(&program()).unwrap();
    let first = first.make_executable().unwrap();
    let address = first.as_ptr();
    drop(first);
    assert_eq!(pool.idle(), 1);
    assert_eq!(perms(address), "r-xp", "sealed code is parked as it is");
    let again = pool.allocate(4000).unwrap();
    assert_eq!(
        again.as_ptr(),
        address,
        "same size class reuses the mapping"
    );
    assert_eq!(
        perms(address),
        "rw-p",
        "made read-write, not read-write-execute"
    );
    // A second region of the class is not kept beyond the idle limit.
    let other = pool.allocate(10).unwrap();
    drop(again);
    assert_eq!(
        perms(address),
        "---p",
        "unsealed memory is parked PROT_NONE"
    );
    drop(other);
    assert_eq!(pool.idle(), 1);
    // A different class gets a different mapping.
    let big = pool.allocate(3 * 4096).unwrap();
    assert_eq!(big.capacity(), 4 * 4096);
}

#[test]
fn pool_is_shared_across_threads() {
    let pool = CodePool::new();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let pool = pool.clone();
            scope.spawn(move || {
                for _ in 0..50 {
                    let mut code = pool.allocate(64).unwrap();
                    code.append(&program()).unwrap();
                    let code = code.make_executable().unwrap();
                    assert_eq!(code.as_slice(), program());
                }
            });
        }
    });
    assert!(pool.idle() <= 8);
}

#[test]
fn sealed_code_and_pools_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<bpfvm_x86::ExecutableCode>();
    send_sync::<CodePool>();
    send_sync::<WritableCode>();
    send_sync::<Assembler>();
    let error = CodeMemoryError::Libc {
        call: bpfvm_x86::LibcCall::Mprotect,
        errno: libc_enomem(),
    };
    assert!(
        error.to_string().starts_with("mprotect failed: "),
        "{error}"
    );
}

/// ENOMEM on Linux.
fn libc_enomem() -> i32 {
    12
}

/// A pre-encoded block appends exactly its first `len` bytes, in code memory and on the
/// heap, across the buffer's growth; the spare bytes it also stores are overwritten by the
/// next write.
#[test]
fn data_blocks_append_their_length_only() {
    let pool = CodePool::default();
    let mut block = [0u8; 32];
    for (index, byte) in block.iter_mut().enumerate() {
        *byte = index as u8 + 1;
    }
    for mut asm in [
        Assembler::in_code_memory(&pool, 16, 0, 0).unwrap(),
        Assembler::with_capacity(16),
    ] {
        let mut expected = Vec::new();
        for len in [0, 1, 7, 8, 13, 31, 32, 40, 5] {
            asm.data_block(&block, len);
            expected.extend_from_slice(&block[..len.min(32)]);
            asm.data(&[0xee]);
            expected.push(0xee);
            assert_eq!(asm.code(), &expected[..], "after a block of {len}");
        }
    }
}
