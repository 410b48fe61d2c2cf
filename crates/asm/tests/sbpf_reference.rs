//! The sBPF syntax against the reference (solana_rbpf 0.2.38) as an oracle.
//!
//! * The sources of the reference's own assembler tests must assemble to the reference's
//!   bytes; a few encodings are also pinned here by hand, so they hold without the oracle.
//! * The listings of the reference's disassembler tests must survive assemble + disassemble.
//! * Malformed sources must fail with a positioned error (and the reference rejects them too).
//! * Random programs must assemble to the reference's bytes and function registry, and
//!   disassemble to the reference's listing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_asm::{assemble, disassemble, Dialect, SymbolTable};
use solana_rbpf::{
    assembler::assemble as reference_assemble,
    static_analysis::Analysis,
    syscalls::bpf_syscall_string,
    vm::{BuiltInProgram, Config, TestContextObject},
};
use std::collections::BTreeMap;
use std::sync::Arc;

const SYSCALL: &str = "sol_log_";

/// What the reference makes of a source: its text bytes, its function registry (pc -> name)
/// and its disassembly listing.
struct Reference {
    bytes: Vec<u8>,
    functions: BTreeMap<usize, String>,
    listing: String,
}

fn reference(source: &str) -> Result<Reference, String> {
    let mut loader = BuiltInProgram::new_loader(Config {
        enable_symbol_and_section_labels: true,
        ..Config::default()
    });
    loader
        .register_function_by_name(SYSCALL, bpf_syscall_string)
        .unwrap();
    let executable = reference_assemble::<TestContextObject>(source, Arc::new(loader))?;
    let bytes = executable.get_text_bytes().1.to_vec();
    let functions = executable
        .get_function_registry()
        .values()
        .map(|(pc, name)| (*pc, name.clone()))
        .collect();
    let analysis = Analysis::from_executable(&executable).unwrap();
    let mut listing = Vec::new();
    analysis.disassemble(&mut listing).unwrap();
    Ok(Reference {
        bytes,
        functions,
        listing: String::from_utf8(listing).unwrap(),
    })
}

/// Sources from the reference's tests/assembler.rs.
const ASSEMBLER_SOURCES: &[&str] = &[
    "",
    "exit",
    "add64 r1, r3",
    "add64 r1, 5",
    "neg64 r1",
    "ldxw r1, [r2+5]",
    "stw [r2+5], 7",
    "stxw [r2+5], r8",
    "ja +8",
    "ja -3",
    "jeq r1, 4, +8",
    "jeq r1, r3, +8",
    "callx r3",
    "call 299",
    "be32 r1",
    "lddw r1, 0x1234abcd5678eeff",
    "lddw r1, 0xff11ee22dd33cc44",
    "ldabsw 1",
    "ldindw r1, 2",
    "ldxdw r1, [r2+3]",
    "sth [r1+2], 3",
    "stxh [r1+2], r3",
    "add r1, r2\n sub r1, r2\n mul r1, r2\n div r1, r2\n or r1, r2\n and r1, r2\n lsh r1, r2\n rsh r1, r2\n mod r1, r2\n xor r1, r2\n mov r1, r2\n arsh r1, r2",
    "add r1, 2\n sub r1, 2\n mul r1, 2\n div r1, 2\n or r1, 2\n and r1, 2\n lsh r1, 2\n rsh r1, 2\n mod r1, 2\n xor r1, 2\n mov r1, 2\n arsh r1, 2",
    "add64 r1, r2\n sub64 r1, r2\n mul64 r1, r2\n div64 r1, r2\n or64 r1, r2\n and64 r1, r2\n lsh64 r1, r2\n rsh64 r1, r2\n mod64 r1, r2\n xor64 r1, r2\n mov64 r1, r2\n arsh64 r1, r2",
    "add32 r1, 2\n sub32 r1, 2\n mul32 r1, 2\n div32 r1, 2\n or32 r1, 2\n and32 r1, 2\n lsh32 r1, 2\n rsh32 r1, 2\n mod32 r1, 2\n xor32 r1, 2\n mov32 r1, 2\n arsh32 r1, 2",
    "neg r1\n neg64 r1\n neg32 r1",
    "ldxw r1, [r2+3]\n ldxh r1, [r2+3]\n ldxb r1, [r2+3]\n ldxdw r1, [r2+3]",
    "stw [r1+2], 3\n sth [r1+2], 3\n stb [r1+2], 3\n stdw [r1+2], 3",
    "stxw [r1+2], r3\n stxh [r1+2], r3\n stxb [r1+2], r3\n stxdw [r1+2], r3",
    "jeq r1, r2, +3\n jgt r1, r2, +3\n jge r1, r2, +3\n jlt r1, r2, +3\n jle r1, r2, +3\n jset r1, r2, +3\n jne r1, r2, +3\n jsgt r1, r2, +3\n jsge r1, r2, +3\n jslt r1, r2, +3\n jsle r1, r2, +3",
    "jeq r1, 2, +3\n jgt r1, 2, +3\n jge r1, 2, +3\n jlt r1, 2, +3\n jle r1, 2, +3\n jset r1, 2, +3\n jne r1, 2, +3\n jsgt r1, 2, +3\n jsge r1, 2, +3\n jslt r1, 2, +3\n jsle r1, 2, +3",
    "be16 r1\n be32 r1\n be64 r1\n le16 r1\n le32 r1\n le64 r1",
    "add64 r1, 2147483647",
    "add64 r1, -2147483648",
    "sdiv r1, r2\n sdiv32 r1, 3\n sdiv64 r1, -3",
    "syscall sol_log_\n syscall abort",
    "entrypoint:\n call function_2\n exit\nfunction_2:\n call 1\n exit\n exit",
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn reference_assembler_sources_give_reference_bytes() {
    for source in ASSEMBLER_SOURCES {
        let ours = assemble(source, Dialect::Sbpf).unwrap_or_else(|e| panic!("{source:?}: {e}"));
        let theirs = reference(source).unwrap();
        assert_eq!(hex(&ours.bytes), hex(&theirs.bytes), "{source:?}");
    }
}

/// Encodings pinned by hand, independent of the oracle.
const PINNED: &[(&str, &[u8])] = &[
    ("exit", &[0x95, 0, 0, 0, 0, 0, 0, 0]),
    ("call 299", &[0x85, 0x10, 0, 0, 0x2c, 0x01, 0, 0]),
    ("callx r3", &[0x8d, 0, 0, 0, 3, 0, 0, 0]),
    ("ldxw r1, [r2-5]", &[0x61, 0x21, 0xfb, 0xff, 0, 0, 0, 0]),
    ("stw [r2+5], 7", &[0x62, 0x02, 5, 0, 7, 0, 0, 0]),
    ("jeq r1, r3, -1", &[0x1d, 0x31, 0xff, 0xff, 0, 0, 0, 0]),
    (
        "lddw r1, -2",
        &[
            0x18, 0x01, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
        ],
    ),
    ("sdiv64 r1, r2", &[0xef, 0x21, 0, 0, 0, 0, 0, 0]),
    ("sdiv32 r1, 3", &[0xe4, 0x01, 0, 0, 3, 0, 0, 0]),
    (
        "add r1, 0xffffffffffffffff",
        &[0x07, 0x01, 0, 0, 0xff, 0xff, 0xff, 0xff],
    ),
    ("mov %r1, %r2 # comment", &[0xbf, 0x21, 0, 0, 0, 0, 0, 0]),
];

#[test]
fn pinned_encodings() {
    for (source, bytes) in PINNED {
        assert_eq!(
            assemble(source, Dialect::Sbpf).unwrap().bytes,
            *bytes,
            "{source}"
        );
    }
    let key = bpfvm_isa::hash_symbol_name(SYSCALL.as_bytes()).to_le_bytes();
    let syscall = assemble("syscall sol_log_", Dialect::Sbpf).unwrap().bytes;
    assert_eq!(syscall, [0x85, 0, 0, 0, key[0], key[1], key[2], key[3]]);
}

#[test]
fn function_labels_follow_the_reference_registry() {
    let source =
        "mov r0, 0\nfunction_a:\ncall 2\nentrypoint:\nfunction_b:\nexit\nlbb_x:\nexit\ncall -5";
    let ours = assemble(source, Dialect::Sbpf).unwrap();
    let listed: Vec<(usize, &str)> = ours
        .functions
        .iter()
        .map(|f| (f.pc, f.name.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            (0, "function_0"),
            (1, "function_a"),
            (2, "entrypoint"),
            (4, "function_4")
        ]
    );
    let theirs = reference(source).unwrap();
    assert_eq!(with_default_entry(&ours), theirs.functions);
}

/// Our function labels plus the loader's default `entrypoint` at pc 0.
fn with_default_entry(assembled: &bpfvm_asm::Assembled) -> BTreeMap<usize, String> {
    let mut functions: BTreeMap<usize, String> = assembled
        .functions
        .iter()
        .map(|f| (f.pc, f.name.clone()))
        .collect();
    if !functions.values().any(|name| name == "entrypoint") {
        functions
            .entry(0)
            .or_insert_with(|| "entrypoint".to_string());
    }
    functions
}

/// Listings from the reference's tests/disassembler.rs.
const LISTINGS: &[&str] = &[
    "",
    "entrypoint:\n    exit\n",
    "entrypoint:\n    add64 r1, r3\n",
    "entrypoint:\n    add64 r1, 5\n",
    "entrypoint:\n    neg64 r1\n",
    "entrypoint:\n    ldxw r1, [r2+0x5]\n",
    "entrypoint:\n    ldxw r1, [r2-0x5]\n",
    "entrypoint:\n    stw [r2+0x5], 7\n",
    "entrypoint:\n    stw [r2-0x5], 7\n",
    "entrypoint:\n    stxw [r2+0x5], r8\n",
    "entrypoint:\n    stxw [r2-0x5], r8\n",
    "entrypoint:\n    ja lbb_1\nlbb_1:\n    exit\n",
    "entrypoint:\n    jeq r1, 4, lbb_1\nlbb_1:\n    exit\n",
    "entrypoint:\n    jeq r1, r3, lbb_1\nlbb_1:\n    exit\n",
    "entrypoint:\n    call function_1\n\nfunction_1:\n    exit\n",
    "entrypoint:\n    be32 r1\n",
    "entrypoint:\n    lddw r1, 0x1234abcd5678eeff\n",
    "entrypoint:\n    lddw r1, 0xff11ee22dd33cc44\n",
    "entrypoint:\n    ldabsw 1\n",
    "entrypoint:\n    ldindw r1, 2\n",
    "entrypoint:\n    ldxdw r1, [r2+0x3]\n",
    "entrypoint:\n    ldxdw r1, [r2-0x3]\n",
    "entrypoint:\n    sth [r1+0x2], 3\n",
    "entrypoint:\n    sth [r1-0x2], 3\n",
    "entrypoint:\n    stxh [r1+0x2], r3\n",
    "entrypoint:\n    stxh [r1-0x2], r3\n",
    "entrypoint:\n    add64 r1, r2\n    sub64 r1, r2\n    mul64 r1, r2\n    div64 r1, r2\n    or64 r1, r2\n    and64 r1, r2\n    lsh64 r1, r2\n    rsh64 r1, r2\n    mod64 r1, r2\n    xor64 r1, r2\n    mov64 r1, r2\n    arsh64 r1, r2\n",
    "entrypoint:\n    add64 r1, 2\n    sub64 r1, 2\n    mul64 r1, 2\n    div64 r1, 2\n    or64 r1, 2\n    and64 r1, 2\n    lsh64 r1, 2\n    rsh64 r1, 2\n    mod64 r1, 2\n    xor64 r1, 2\n    mov64 r1, 2\n    arsh64 r1, 2\n",
    "entrypoint:\n    add32 r1, r2\n    sub32 r1, r2\n    mul32 r1, r2\n    div32 r1, r2\n    or32 r1, r2\n    and32 r1, r2\n    lsh32 r1, r2\n    rsh32 r1, r2\n    mod32 r1, r2\n    xor32 r1, r2\n    mov32 r1, r2\n    arsh32 r1, r2\n",
    "entrypoint:\n    add32 r1, 2\n    sub32 r1, 2\n    mul32 r1, 2\n    div32 r1, 2\n    or32 r1, 2\n    and32 r1, 2\n    lsh32 r1, 2\n    rsh32 r1, 2\n    mod32 r1, 2\n    xor32 r1, 2\n    mov32 r1, 2\n    arsh32 r1, 2\n",
    "entrypoint:\n    neg64 r1\n    neg32 r1\n",
    "entrypoint:\n    ldabsw 1\n    ldabsh 1\n    ldabsb 1\n    ldabsdw 1\n",
    "entrypoint:\n    ldindw r1, 2\n    ldindh r1, 2\n    ldindb r1, 2\n    ldinddw r1, 2\n",
    "entrypoint:\n    ldxw r1, [r2+0x3]\n    ldxh r1, [r2+0x3]\n    ldxb r1, [r2+0x3]\n    ldxdw r1, [r2+0x3]\n",
    "entrypoint:\n    stw [r1+0x2], 3\n    sth [r1+0x2], 3\n    stb [r1+0x2], 3\n    stdw [r1+0x2], 3\n",
    "entrypoint:\n    stxw [r1+0x2], r3\n    stxh [r1+0x2], r3\n    stxb [r1+0x2], r3\n    stxdw [r1+0x2], r3\n",
    "entrypoint:\n    jeq r1, r2, lbb_11\n    jgt r1, r2, lbb_11\n    jge r1, r2, lbb_11\n    jlt r1, r2, lbb_11\n    jle r1, r2, lbb_11\n    jset r1, r2, lbb_11\n    jne r1, r2, lbb_11\n    jsgt r1, r2, lbb_11\n    jsge r1, r2, lbb_11\n    jslt r1, r2, lbb_11\n    jsle r1, r2, lbb_11\nlbb_11:\n    exit\n",
    "entrypoint:\n    jeq r1, 2, lbb_11\n    jgt r1, 2, lbb_11\n    jge r1, 2, lbb_11\n    jlt r1, 2, lbb_11\n    jle r1, 2, lbb_11\n    jset r1, 2, lbb_11\n    jne r1, 2, lbb_11\n    jsgt r1, 2, lbb_11\n    jsge r1, 2, lbb_11\n    jslt r1, 2, lbb_11\n    jsle r1, 2, lbb_11\nlbb_11:\n    exit\n",
    "entrypoint:\n    be16 r1\n    be32 r1\n    be64 r1\n    le16 r1\n    le32 r1\n    le64 r1\n",
    "entrypoint:\n    add64 r1, -1\n",
];

#[test]
fn reference_listings_round_trip() {
    for text in LISTINGS {
        let assembled = assemble(text, Dialect::Sbpf).unwrap();
        let symbols = SymbolTable::from_assembled(&assembled);
        assert_eq!(
            disassemble(&assembled.bytes, Dialect::Sbpf, &symbols),
            *text
        );
        assert_eq!(reference(text).unwrap().listing, *text, "the oracle agrees");
    }
}

/// Malformed sources: (source, line, column, part of the message). The reference rejects
/// each of them as well.
const ERRORS: &[(&str, usize, usize, &str)] = &[
    ("abcd", 1, 1, "unknown mnemonic `abcd`"),
    ("add 1, 2", 1, 1, "`add` expects"),
    ("add r16, r2", 1, 5, "invalid register r16"),
    ("add r1, r16", 1, 9, "invalid register r16"),
    ("ja -32769", 1, 4, "offset -32769"),
    ("ja 32768", 1, 4, "offset 32768"),
    ("add r1, 4294967296", 1, 9, "immediate 4294967296"),
    ("add r1, 2147483648", 1, 9, "immediate 2147483648"),
    ("add r1, -2147483649", 1, 9, "immediate -2147483649"),
    (
        "exit
  ja nowhere",
        2,
        6,
        "unknown label `nowhere`",
    ),
    (
        "exit
  call nowhere",
        2,
        8,
        "unknown label `nowhere`",
    ),
    ("mov r1, 1 2", 1, 11, "expected ','"),
    ("mov r1,", 1, 7, "expected an operand"),
    ("ldxw r1, [r2+5", 1, 10, "']'"),
    ("ldxw r1, [5]", 1, 11, "base register"),
    ("mov r1, 0x", 1, 9, "malformed integer"),
    ("mov r1, 12ab", 1, 9, "malformed integer"),
    ("mov r1, $", 1, 9, "unexpected character"),
    ("exit r1", 1, 1, "`exit` expects no operands"),
    ("jeq32 r1, 1, +1", 1, 1, "unknown mnemonic `jeq32`"),
    ("lock add [r1], r2", 1, 10, "expected ','"),
    ("syscall 5", 1, 1, "`syscall` expects a syscall name"),
    ("ldxw r1, [r2+32768]", 1, 10, "offset 32768"),
];

/// Sources we reject on purpose although the reference accepts them (see the crate docs).
const DELIBERATE_REJECTIONS: &[(&str, &str)] = &[
    ("mov r1, 99999999999999999999", "64 bits"),
    ("a:\nexit\na:\nexit", "defined twice"),
    ("call -2", "call target -1 is out of range"),
];

#[test]
fn malformed_sources_fail_with_positions() {
    for (source, line, column, message) in ERRORS {
        let error = assemble(source, Dialect::Sbpf).unwrap_err();
        assert_eq!(
            (error.line, error.column),
            (*line, *column),
            "{source:?}: {error}"
        );
        assert!(error.message.contains(message), "{source:?}: {error}");
        assert!(error
            .to_string()
            .starts_with(&format!("line {line}, column {column}: ")));
        assert!(
            reference(source).is_err(),
            "the reference accepts {source:?}"
        );
    }
}

#[test]
fn deliberate_rejections() {
    for (source, message) in DELIBERATE_REJECTIONS {
        let error = assemble(source, Dialect::Sbpf).unwrap_err();
        assert!(error.message.contains(message), "{source:?}: {error}");
        assert!(
            reference(source).is_ok(),
            "the reference now rejects {source:?}"
        );
    }
    let error = assemble("a:\nexit\na:\nexit", Dialect::Sbpf).unwrap_err();
    assert_eq!((error.line, error.column), (3, 1));
}
