//! The rows of `jit_hoist.rs`: tight loops in assembly text with their input, and what the
//! interpreter must do with each under the default configuration.
//!
//! Most rows are a counted loop over a 32-byte index stream at the start of the input
//! (`counted`), with a region after it; the picks place the interesting index in the middle
//! of the loop. The expected fault is the instruction marked `#!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

/// What the interpreter must do with the row under the default configuration, writable
/// input and a generous budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Returns (any value).
    Ok,
    /// Returns this value.
    Value(u64),
    /// An access violation at the instruction marked `#!` in the source.
    Fault,
}

/// One row: a program, its input and heap, what must happen.
pub struct Row {
    pub name: String,
    pub source: String,
    pub input: Vec<u8>,
    pub heap: usize,
    pub want: Want,
}

/// The bytes of the index stream: 32 bytes, `picks` placed at the given positions over a
/// background of small values.
fn data(picks: &[(usize, u8)]) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..32u8).map(|i| (i * 7 + 3) % 29).collect();
    for &(at, value) in picks {
        bytes[at] = value;
    }
    bytes
}

/// The input: the 32-byte index stream, then a region of `len` bytes holding `i * 3 + 1`.
fn input(stream: Vec<u8>, len: usize) -> Vec<u8> {
    let mut bytes = stream;
    bytes.extend((0..len).map(|i| (i * 3 + 1) as u8));
    bytes
}

/// A counted loop over the index stream: `setup` (which sets r0 and the bases), then `n`
/// times `body` with r2 pointing at the current stream byte and r7 counting down, then
/// `tail` and exit. r3, r4, r5, r8 and r9 are the body's scratch registers.
fn counted(setup: &str, body: &str, tail: &str, n: u32) -> String {
    format!(
        "mov64 r0, 0\n{setup}\nmov64 r2, r1\nmov64 r7, {n}\nhead:\n{body}\nadd64 r2, 1\n\
         sub64 r7, 1\njne r7, 0, head\n{tail}\nexit\n"
    )
}

fn row(name: &str, source: String, input: Vec<u8>, want: Want) -> Row {
    Row {
        name: name.to_owned(),
        source,
        input,
        heap: 64,
        want,
    }
}

/// `counts[data[i]]++` with byte counters at r6 = r1 + 32 + `shift`.
fn histogram_rows() -> Vec<Row> {
    let body = "ldxb r3, [r2+0]\nadd64 r3, r6\nldxb r4, [r3+0] #!\nadd64 r4, 1\nstxb [r3+0], r4";
    let setup = |shift: i32| format!("mov64 r6, r1\nadd64 r6, {}", 32 + shift);
    let with_255 = data(&[(1, 255), (6, 255), (9, 0), (10, 128)]);
    let without = data(&[(9, 0), (10, 128)]);
    vec![
        row(
            "histogram in the input, counts fit",
            counted(&setup(0), body, "ldxb r0, [r6+255]", 16),
            input(with_255.clone(), 256),
            Want::Value(u64::from(((255 * 3 + 1) as u8).wrapping_add(2))),
        ),
        row(
            "histogram in the input, 255 counts past the end",
            counted(&setup(0), body, "ldxb r0, [r6+3]", 16),
            input(with_255.clone(), 255),
            Want::Fault,
        ),
        row(
            "histogram in the input, counts one short but 255 unused",
            counted(&setup(0), body, "ldxb r0, [r6+3]", 16),
            input(without, 255),
            Want::Ok,
        ),
        row(
            "histogram in the input, base one in",
            counted(&setup(1), body, "ldxb r0, [r6+3]", 16),
            input(with_255.clone(), 256),
            Want::Fault,
        ),
        row(
            "histogram of word counters on the stack",
            counted(
                "mov64 r6, r10\nsub64 r6, 1024",
                "ldxb r3, [r2+0]\nlsh64 r3, 2\nadd64 r3, r6\nldxw r4, [r3+0]\nadd64 r4, 1\n\
                 stxw [r3+0], r4",
                "ldxw r0, [r6+1020]",
                16,
            ),
            input(with_255.clone(), 0),
            Want::Value(2),
        ),
        row(
            "histogram of word counters on the stack, 255 past the frame",
            counted(
                "mov64 r6, r10\nsub64 r6, 1020",
                "ldxb r3, [r2+0]\nlsh64 r3, 2\nadd64 r3, r6\nldxw r4, [r3+0] #!\nadd64 r4, 1\n\
                 stxw [r3+0], r4",
                "",
                16,
            ),
            input(with_255.clone(), 0),
            Want::Fault,
        ),
        row(
            "histogram through r10 itself",
            counted(
                "",
                "ldxb r3, [r2+0]\nadd64 r3, r10\nldxb r4, [r3-256]\nadd64 r4, 1\n\
                 stxb [r3-256], r4",
                "ldxb r0, [r10-1]",
                16,
            ),
            input(with_255.clone(), 0),
            Want::Value(2),
        ),
        row(
            "histogram through r10, 255 reaches the frame pointer",
            counted(
                "",
                "ldxb r3, [r2+0]\nadd64 r3, r10\nldxb r4, [r3-255] #!\nadd64 r4, 1\n\
                 stxb [r3-255], r4",
                "",
                16,
            ),
            input(with_255, 0),
            Want::Fault,
        ),
    ]
}

/// `r0 += table[data[i]]` with a word table at r1 + 32.
fn table_rows() -> Vec<Row> {
    let body = "ldxb r3, [r2+0]\nlsh64 r3, 2\nadd64 r3, r6\nldxw r4, [r3+0] #!\nadd64 r0, r4";
    let setup = "mov64 r6, r1\nadd64 r6, 32";
    let with_255 = data(&[(3, 255), (4, 254), (12, 0)]);
    let without = data(&[(4, 254), (12, 0)]);
    let mut rows = vec![
        row(
            "table lookup, table fits",
            counted(setup, body, "", 16),
            input(with_255.clone(), 1024),
            Want::Ok,
        ),
        row(
            "table lookup, last word one byte short",
            counted(setup, body, "", 16),
            input(with_255.clone(), 1023),
            Want::Fault,
        ),
        row(
            "table lookup, short table, 255 unused",
            counted(setup, body, "", 16),
            input(without, 1020),
            Want::Ok,
        ),
    ];
    // The same with the base copied and the index added to the copy, and with the add in
    // the other order.
    let copies = [
        (
            "table lookup through a copy of the base",
            "ldxb r3, [r2+0]\nlsh64 r3, 2\nmov64 r4, r6\nadd64 r4, r3\nldxw r5, [r4+0] #!\n\
             add64 r0, r5",
        ),
        (
            "table lookup through a copy of the index",
            "ldxb r3, [r2+0]\nlsh64 r3, 2\nmov64 r4, r3\nadd64 r4, r6\nldxw r5, [r4+0] #!\n\
             add64 r0, r5",
        ),
    ];
    for (name, body) in copies {
        rows.push(row(
            name,
            counted(setup, body, "", 16),
            input(with_255.clone(), 1023),
            Want::Fault,
        ));
    }
    rows
}

/// Plain loads and stores at `r6 + data[i] + off` near a region's ends.
fn edge_rows() -> Vec<Row> {
    let picks = data(&[(5, 255), (7, 0), (8, 128)]);
    let load = "ldxb r3, [r2+0]\nadd64 r3, r6\nldxb r4, [r3+0] #!\nadd64 r0, r4";
    let store = "ldxb r3, [r2+0]\nadd64 r3, r6\nstxb [r3+0], r7 #!";
    let base = |shift: u32| format!("mov64 r6, r1\nadd64 r6, {}", 32 + shift);
    let mut rows = Vec::new();
    for (kind, body) in [("load", load), ("store", store)] {
        for (shift, want) in [(44, Want::Ok), (45, Want::Fault)] {
            rows.push(row(
                &format!("{kind}: index 255 at byte {} of 300", shift + 255),
                counted(&base(shift), body, "", 16),
                input(picks.clone(), 300),
                want,
            ));
        }
    }
    // The base is r1 + 32 + shift.
    let offsets = [
        (
            "negative offset, within",
            1,
            "ldxb r4, [r3-1] #!\nstxb [r3-1], r0",
            Want::Ok,
        ),
        (
            "negative offset below the input",
            0,
            "ldxb r4, [r3-33] #!",
            Want::Fault,
        ),
        (
            "negative offset down to the first byte",
            0,
            "ldxb r4, [r3-32] #!",
            Want::Ok,
        ),
        (
            "halfword read-modify-write at +254, fits",
            0,
            "ldxh r4, [r3+254] #!\nadd64 r4, 1\nstxh [r3+254], r4",
            Want::Ok,
        ),
        (
            "word at +253, one past",
            1,
            "ldxw r4, [r3+253] #!\nstxw [r3+253], r4",
            Want::Fault,
        ),
    ];
    for (name, shift, access, want) in offsets {
        let body = format!("ldxb r3, [r2+0]\nadd64 r3, r6\n{access}\nadd64 r0, r4");
        rows.push(row(
            name,
            counted(&base(shift), &body, "", 16),
            input(picks.clone(), 511),
            want,
        ));
    }
    rows
}

/// Bases in other regions, across a slot boundary, nowhere.
fn base_rows() -> Vec<Row> {
    let load = |mask: &str| {
        format!("ldxb r3, [r2+0]\n{mask}\nadd64 r3, r6\nldxb r4, [r3+0] #!\nadd64 r0, r4")
    };
    let store = |mask: &str| format!("ldxb r3, [r2+0]\n{mask}\nadd64 r3, r6\nstxb [r3+0], r7 #!");
    let high = data(&[(0, 16), (1, 200), (2, 255), (4, 100), (5, 40), (6, 17)])
        .iter()
        .map(|b| b.max(&16).to_owned())
        .collect::<Vec<u8>>();
    let mut low = high.clone();
    low[4] = 5;
    let plain = data(&[(3, 255), (6, 64), (9, 63)]);
    vec![
        row(
            "base 16 below the input slot, indexes reach the input",
            counted("lddw r6, 0x3fffffff0", &load(""), "", 16),
            input(high, 256),
            Want::Ok,
        ),
        row(
            "base 16 below the input slot, one index stays below",
            counted("lddw r6, 0x3fffffff0", &load(""), "", 16),
            input(low, 256),
            Want::Fault,
        ),
        row(
            "base at the end of the input slot",
            counted("lddw r6, 0x4fffffff0", &load(""), "", 16),
            input(plain.clone(), 0),
            Want::Fault,
        ),
        row(
            "heap base, masked index",
            counted("lddw r6, 0x300000000", &load("and64 r3, 63"), "", 16),
            input(plain.clone(), 0),
            Want::Ok,
        ),
        row(
            "heap store, masked index",
            counted("lddw r6, 0x300000000", &store("and64 r3, 63"), "", 16),
            input(plain.clone(), 0),
            Want::Ok,
        ),
        row(
            "heap base, index past the heap",
            counted("lddw r6, 0x300000000", &load(""), "", 16),
            input(plain.clone(), 0),
            Want::Fault,
        ),
        row(
            "heap base in the middle, mask reaches past",
            counted("lddw r6, 0x300000020", &store("and64 r3, 63"), "", 16),
            input(plain.clone(), 0),
            Want::Fault,
        ),
        row(
            "stack bottom as a constant",
            counted("lddw r6, 0x200000000", &store(""), "ldxb r0, [r6+255]", 16),
            input(plain.clone(), 0),
            Want::Value(13),
        ),
        row(
            "stack constant near frame 0's top",
            counted("lddw r6, 0x200000f80", &store(""), "", 16),
            input(plain.clone(), 0),
            Want::Ok,
        ),
        row(
            "program text, loads",
            counted("lddw r6, 0x100000000", &load("and64 r3, 31"), "", 16),
            input(plain.clone(), 0),
            Want::Ok,
        ),
        row(
            "program text, stores",
            counted("lddw r6, 0x100000000", &store("and64 r3, 31"), "", 16),
            input(plain.clone(), 0),
            Want::Fault,
        ),
        row(
            "base zero",
            counted("mov64 r6, 0", &load(""), "", 16),
            input(plain.clone(), 0),
            Want::Fault,
        ),
        row(
            "base in an empty slot",
            counted("lddw r6, 0x600000000", &store("and64 r3, 7"), "", 16),
            input(plain, 0),
            Want::Fault,
        ),
    ]
}

/// Registers that look invariant or bounded and are not.
fn model_rows() -> Vec<Row> {
    let stream = data(&[(4, 7), (6, 255), (11, 7)]);
    let mut rows = vec![
        row(
            "base written on one path",
            counted(
                "mov64 r6, r1\nadd64 r6, 32",
                "ldxb r4, [r2+0]\njne r4, 7, skip\nadd64 r6, 240\nskip:\nldxb r3, [r2+1]\n\
                 and64 r3, 15\nadd64 r3, r6\nldxb r5, [r3+0] #!\nadd64 r0, r5",
                "",
                16,
            ),
            input(stream.clone(), 64),
            Want::Fault,
        ),
        row(
            "base written on one path, still in range",
            counted(
                "mov64 r6, r1\nadd64 r6, 32",
                "ldxb r4, [r2+0]\njne r4, 7, skip\nadd64 r6, 16\nskip:\nldxb r3, [r2+1]\n\
                 and64 r3, 15\nadd64 r3, r6\nldxb r5, [r3+0]\nstxb [r3+0], r4\nadd64 r0, r5",
                "",
                16,
            ),
            input(stream.clone(), 64),
            Want::Ok,
        ),
        row(
            "base loaded from memory in the body",
            counted(
                "mov64 r6, r1\nadd64 r6, 32",
                "ldxb r3, [r2+0]\nand64 r3, 7\nadd64 r3, r6\nldxb r6, [r3+0] #!\nadd64 r0, r6",
                "",
                16,
            ),
            input(stream.clone(), 64),
            Want::Fault,
        ),
        row(
            "index widened by ldxh after ldxb",
            counted(
                "mov64 r6, r1\nadd64 r6, 32",
                "ldxb r3, [r2+0]\nldxh r3, [r2+0]\nrsh64 r3, 7\nadd64 r3, r6\n\
                 ldxb r4, [r3+0] #!\nadd64 r0, r4",
                "",
                16,
            ),
            // At byte 6 the halfword is 0x9600: index 300, past the 264-byte region.
            input(
                {
                    let mut bytes = vec![0u8; 32];
                    bytes[7] = 0x96;
                    bytes[3] = 0x40;
                    bytes
                },
                264,
            ),
            Want::Fault,
        ),
        row(
            "index overwritten by an invariant copy",
            counted(
                "mov64 r6, r1\nadd64 r6, 32\nmov64 r8, 256",
                "ldxb r3, [r2+0]\nmov64 r3, r8\nadd64 r3, r6\nldxb r4, [r3+0] #!\nadd64 r0, r4",
                "",
                16,
            ),
            input(stream.clone(), 256),
            Want::Fault,
        ),
        row(
            "index overwritten after the add",
            counted(
                "mov64 r6, r1\nadd64 r6, 32",
                "ldxb r3, [r2+0]\nadd64 r3, r6\nldxb r3, [r2+1]\nadd64 r3, r6\nadd64 r3, 200\n\
                 ldxb r4, [r3+0] #!\nadd64 r0, r4",
                "",
                16,
            ),
            input(stream.clone(), 300),
            Want::Fault,
        ),
        row(
            "index bounded on one path only (forward branch joins)",
            counted(
                "mov64 r6, r1\nadd64 r6, 32",
                "ldxdw r3, [r2+0]\njeq r7, 12, join\nand64 r3, 255\njoin:\nadd64 r3, r6\n\
                 ldxb r4, [r3+0] #!\nadd64 r0, r4",
                "",
                16,
            ),
            input(stream.clone(), 256),
            Want::Fault,
        ),
        row(
            "access skipped by a forward branch",
            counted(
                "mov64 r6, r1\nadd64 r6, 32",
                "ldxb r3, [r2+0]\njgt r3, 200, skip\nadd64 r3, r6\nldxb r4, [r3+0]\n\
                 stxb [r3+1], r4\nadd64 r0, r4\nskip:",
                "",
                16,
            ),
            input(stream.clone(), 202),
            Want::Ok,
        ),
        row(
            "difference of two bounded bytes",
            counted(
                "mov64 r6, r1\nadd64 r6, 287",
                "ldxb r3, [r2+0]\nldxb r4, [r2+1]\nsub64 r3, r4\nadd64 r3, r6\n\
                 ldxb r5, [r3+0] #!\nadd64 r0, r5",
                "",
                16,
            ),
            input(data(&[(6, 200), (7, 10)]), 400),
            Want::Fault,
        ),
        row(
            // The span is -255..=255 around r1 + 20: the first 20 bytes cover a negative
            // difference of at most 20; -190 reaches below the input.
            "difference of two bounded bytes, below the start",
            counted(
                "mov64 r6, r1\nadd64 r6, 20",
                "ldxb r3, [r2+0]\nldxb r4, [r2+1]\nsub64 r3, r4\nadd64 r3, r6\n\
                 ldxb r5, [r3+0] #!\nadd64 r0, r5",
                "",
                16,
            ),
            input(data(&[(6, 10), (7, 200)]), 511),
            Want::Fault,
        ),
        row(
            "difference of two bounded bytes, fits",
            counted(
                "mov64 r6, r1\nadd64 r6, 287",
                "ldxb r3, [r2+0]\nldxb r4, [r2+1]\nsub64 r3, r4\nadd64 r3, r6\n\
                 ldxb r5, [r3+0]\nadd64 r0, r5",
                "",
                16,
            ),
            input(data(&[(6, 200), (7, 10), (9, 0), (10, 255)]), 511),
            Want::Ok,
        ),
        row(
            "pointer chase: the load's destination is its address register",
            counted(
                "mov64 r6, r1\nadd64 r6, 32\nmov64 r3, 0",
                "and64 r3, 255\nadd64 r3, r6\nldxb r3, [r3+0] #!\nadd64 r0, r3",
                "",
                16,
            ),
            {
                let mut bytes = input(vec![0; 32], 200);
                bytes[32] = 9;
                bytes[32 + 9] = 150;
                bytes[32 + 150] = 13;
                bytes[32 + 13] = 250;
                bytes
            },
            Want::Fault,
        ),
    ];
    rows.extend(width_rows(&stream));
    rows
}

/// 32-bit operations, shifts, masks.
fn width_rows(stream: &[u8]) -> Vec<Row> {
    let zero_at_5 = {
        let mut bytes = stream.to_vec();
        for byte in &mut bytes {
            *byte = (*byte).max(1);
        }
        bytes[5] = 0;
        bytes
    };
    let cases: [(&str, &str, usize, Want); 11] = [
        // sBPF sign-extends add32 (-1), eBPF zero-extends it (2^32 - 1): both leave the input.
        ("add32 of -1 wraps a zero index", "ldxb r3, [r2+0]\nadd32 r3, -1\nadd64 r3, r6\nldxb r4, [r3-32] #!", 256, Want::Fault),
        // The same one byte higher: sBPF reads r1 + x, eBPF reads 4 GiB past a zero index.
        ("add32 of -1 on a zero index, in range in sBPF only", "ldxb r3, [r2+0]\nadd32 r3, -1\nadd64 r3, r6\nldxb r4, [r3-31]", 256, Want::Ok),
        ("sub64 then mov32 wraps a zero index", "ldxb r3, [r2+0]\nsub64 r3, 1\nmov32 r3, r3\nadd64 r3, r6\nldxb r4, [r3+0] #!", 256, Want::Fault),
        ("add32 of the base truncates the address", "ldxb r3, [r2+0]\nadd32 r3, r6\nldxb r4, [r3+0] #!", 256, Want::Fault),
        ("lsh32 of a byte", "ldxb r3, [r2+0]\nlsh32 r3, 1\nadd64 r3, r6\nldxb r4, [r3+0]\nstxb [r3+0], r4", 511, Want::Ok),
        ("and64 with a negative mask", "ldxb r3, [r2+0]\nand64 r3, -2\nadd64 r3, r6\nldxb r4, [r3+0]", 255, Want::Ok),
        ("rsh64 of a halfword", "ldxh r3, [r2+0]\nrsh64 r3, 8\nadd64 r3, r6\nldxb r4, [r3+0] #!", 255, Want::Fault),
        ("mask and lsh to doublewords, fits", "ldxb r3, [r2+0]\nand64 r3, 63\nlsh64 r3, 3\nadd64 r3, r6\nldxdw r4, [r3+0]\nadd64 r4, r7\nstxdw [r3+0], r4", 512, Want::Ok),
        ("mask and lsh to doublewords, one short", "ldxb r3, [r2+0]\nand64 r3, 63\nlsh64 r3, 3\nadd64 r3, r6\nldxdw r4, [r3+0] #!\nstxdw [r3+0], r4", 511, Want::Fault),
        ("ldxw index, small values", "ldxw r3, [r2+0]\nand64 r3, 0xff\nadd64 r3, r6\nldxb r4, [r3+0]", 256, Want::Ok),
        ("add of an immediate to the index", "ldxb r3, [r2+0]\nadd64 r3, 1\nadd64 r3, r6\nldxb r4, [r3+0] #!", 256, Want::Fault),
    ];
    let mut rows = Vec::new();
    for (name, body, len, want) in cases {
        let body = format!("{body}\nadd64 r0, r4");
        let stream = match name.contains("zero") {
            true => zero_at_5.clone(),
            false => data(&[(5, 255), (6, 255), (9, 0x3f)]),
        };
        rows.push(row(
            name,
            counted("mov64 r6, r1\nadd64 r6, 32", &body, "", 16),
            input(stream, len),
            want,
        ));
    }
    rows
}

/// Halfword indexes over a 64 KiB table.
fn halfword_rows() -> Vec<Row> {
    let mut stream = data(&[]);
    stream[9] = 0xff;
    stream[10] = 0xff;
    let body = "ldxh r3, [r2+0]\nadd64 r3, r6\nldxb r4, [r3+0] #!\nadd64 r0, r4";
    let setup = "mov64 r6, r1\nadd64 r6, 32";
    vec![
        row(
            "halfword index, 64 KiB table fits",
            counted(setup, body, "", 16),
            input(stream.clone(), 65536),
            Want::Ok,
        ),
        row(
            "halfword index, table one byte short",
            counted(setup, body, "", 16),
            input(stream, 65535),
            Want::Fault,
        ),
    ]
}

/// Loop entries: by fall-through with the guard, by a jump that skips it, re-entry.
fn entry_rows() -> Vec<Row> {
    let body = "ldxb r3, [r2+0]\nadd64 r3, r6\nldxb r4, [r3+0] #!\nadd64 r0, r4\nstxb [r3+0], r0";
    let loop_text = |before: &str| {
        format!(
            "mov64 r0, 0\nmov64 r2, r1\nmov64 r7, 16\nmov64 r6, r1\nadd64 r6, 260\n\
             ldxb r8, [r1+31]\n{before}\nhead:\n{body}\nadd64 r2, 1\nsub64 r7, 1\n\
             jne r7, 0, head\nexit\n"
        )
    };
    let conditional = loop_text("jne r8, 0, head\nmov64 r6, r1\nadd64 r6, 32");
    let unconditional = loop_text("ja head\nmov64 r6, r1\nadd64 r6, 32");
    let stream = |last: u8| data(&[(2, 200), (31, last)]);
    let mut rows = vec![
        row(
            "entered by a taken jump with a bad base",
            conditional.clone(),
            input(stream(1), 256),
            Want::Fault,
        ),
        row(
            "entered by fall-through with a good base",
            conditional,
            input(stream(0), 256),
            Want::Ok,
        ),
        row(
            "entered by ja over dead code",
            unconditional,
            input(stream(0), 256),
            Want::Fault,
        ),
    ];
    // A second entry by a jump from after the loop, with the base moved out of range.
    let reentry = format!(
        "mov64 r0, 0\nmov64 r9, 0\nmov64 r6, r1\nadd64 r6, 32\nstart:\nmov64 r2, r1\n\
         mov64 r7, 16\nhead:\n{body}\nadd64 r2, 1\nsub64 r7, 1\njne r7, 0, head\n\
         jne r9, 0, out\nmov64 r9, 1\nadd64 r6, 60\nmov64 r2, r1\nmov64 r7, 16\nja head\n\
         out:\nexit\n"
    );
    rows.push(row(
        "re-entered by a jump after the base moved",
        reentry,
        input(stream(0), 256),
        Want::Fault,
    ));
    // A loop whose latch is `ja` and whose exit test is at the head.
    rows.push(row(
        "latch is ja, exit test at the head",
        format!(
            "mov64 r0, 0\nmov64 r2, r1\nmov64 r7, 16\nmov64 r6, r1\nadd64 r6, 32\nhead:\n\
             jeq r7, 0, done\n{body}\nadd64 r2, 1\nsub64 r7, 1\nja head\ndone:\nexit\n"
        ),
        input(data(&[(3, 255), (7, 254)]), 255),
        Want::Fault,
    ));
    rows.push(row(
        "latch is ja, all in range",
        format!(
            "mov64 r0, 0\nmov64 r2, r1\nmov64 r7, 16\nmov64 r6, r1\nadd64 r6, 32\nhead:\n\
             jeq r7, 0, done\n{body}\nadd64 r2, 1\nsub64 r7, 1\nja head\ndone:\nexit\n"
        ),
        input(data(&[(3, 255), (7, 254)]), 256),
        Want::Ok,
    ));
    rows.push(row(
        "two bases: input table, stack counts",
        counted(
            "mov64 r6, r1\nadd64 r6, 32\nmov64 r8, r10\nsub64 r8, 512",
            "ldxb r3, [r2+0]\nmov64 r4, r3\nadd64 r3, r6\nldxb r5, [r3+0]\nlsh64 r4, 1\n\
             add64 r4, r8\nldxh r9, [r4+0]\nadd64 r9, r5\nstxh [r4+0], r9\nadd64 r0, r9",
            "",
            16,
        ),
        input(data(&[(3, 255)]), 256),
        Want::Ok,
    ));
    rows
}

/// Several bases in one loop, and a histogram over its own index stream.
fn group_rows() -> Vec<Row> {
    let five = |last: u32| {
        let mut body = String::from("ldxb r3, [r2+0]\nand64 r3, 15");
        for (base, access) in [
            (4, "ldxb r0, [r1+0]"),
            (5, "stxb [r1+0], r0"),
            (6, "ldxb r0, [r1+1]"),
            (8, "stxb [r1+1], r0"),
            (9, "ldxb r0, [r1+0] #!"),
        ] {
            body.push_str(&format!("\nmov64 r1, r3\nadd64 r1, r{base}\n{access}"));
        }
        let mut setup = String::from("mov64 r6, r1\nadd64 r6, 96");
        for (base, at) in [(4, 32), (5, 48), (8, 64), (9, last)] {
            setup.push_str(&format!("\nmov64 r{base}, r1\nadd64 r{base}, {at}"));
        }
        counted(&setup, &body, "", 16)
    };
    let stream = data(&[(3, 15), (6, 255)]);
    vec![
        row(
            "five bases, all in range",
            five(112),
            input(stream.clone(), 96),
            Want::Ok,
        ),
        row(
            "five bases, the fifth crosses the end",
            five(113),
            input(stream.clone(), 96),
            Want::Fault,
        ),
        row(
            "two bases, one in nowhere",
            counted(
                "mov64 r6, r1\nadd64 r6, 32\nlddw r8, 0x600000000",
                "ldxb r3, [r2+0]\nand64 r3, 31\nmov64 r4, r3\nadd64 r3, r6\nldxb r5, [r3+0]\n\
                 jlt r5, 200, skip\nadd64 r4, r8\nstxb [r4+0], r5 #!\nskip:\nadd64 r0, r5",
                "",
                16,
            ),
            input(stream.clone(), 64),
            Want::Ok,
        ),
        row(
            "histogram over its own index stream",
            counted(
                "mov64 r6, r1",
                "ldxb r3, [r2+0]\nadd64 r3, r6\nldxb r4, [r3+0]\nadd64 r4, 3\nstxb [r3+0], r4\n\
                 add64 r0, r4",
                "",
                16,
            ),
            input(stream, 256),
            Want::Ok,
        ),
    ]
}

pub fn all_rows() -> Vec<Row> {
    let mut rows = histogram_rows();
    rows.extend(table_rows());
    rows.extend(edge_rows());
    rows.extend(base_rows());
    rows.extend(model_rows());
    rows.extend(halfword_rows());
    rows.extend(entry_rows());
    rows.extend(group_rows());
    rows
}
