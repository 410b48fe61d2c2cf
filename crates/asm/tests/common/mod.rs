//! Helpers shared by the integration tests of bpfvm-asm and bpfvm-analysis (which includes this
//! file by path): a small deterministic random generator and random sBPF programs in the
//! reference's syntax.

#![allow(dead_code)]

/// xorshift64*: deterministic, seedable, good enough to pick test inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ALU: &[&str] = &[
    "add", "sub", "mul", "div", "sdiv", "or", "and", "lsh", "rsh", "mod", "xor", "mov", "arsh",
];
const WIDTHS: &[&str] = &["", "32", "64"];
const SIZES: &[&str] = &["b", "h", "w", "dw"];
const CONDS: &[&str] = &[
    "jeq", "jgt", "jge", "jlt", "jle", "jset", "jne", "jsgt", "jsge", "jslt", "jsle",
];

fn reg(rng: &mut Rng) -> String {
    format!("r{}", rng.below(11))
}

fn imm(rng: &mut Rng) -> String {
    let value = rng.next() as i32 >> rng.below(32);
    match rng.below(3) {
        0 => value.to_string(),
        1 if value >= 0 => format!("{value:#x}"),
        _ => format!("-{:#x}", value.unsigned_abs()),
    }
}

fn mem(rng: &mut Rng) -> String {
    let off = rng.next() as i16 >> rng.below(16);
    match rng.below(3) {
        0 => format!("[{}]", reg(rng)),
        1 => format!("[{}{off:+}]", reg(rng)),
        _ => format!(
            "[{}{}{:#x}]",
            reg(rng),
            if off < 0 { '-' } else { '+' },
            off.unsigned_abs()
        ),
    }
}

/// One instruction whose jump targets are instruction indices, filled in later.
enum Gen {
    Text(String),
    /// `prefix <target>`, the target written as a label or as an offset.
    Jump(String, usize),
    /// `call <relative imm>` to an instruction index.
    CallRel(usize),
}

fn instruction(rng: &mut Rng, count: usize, syscalls: &[&str]) -> Gen {
    let text = match rng.below(14) {
        0..=2 => format!(
            "{}{} {}, {}",
            rng.pick(ALU),
            rng.pick(WIDTHS),
            reg(rng),
            if rng.chance(2) { reg(rng) } else { imm(rng) }
        ),
        3 => format!("neg{} {}", rng.pick(WIDTHS), reg(rng)),
        4 => format!(
            "{}{} {}",
            rng.pick(&["be", "le"]),
            rng.pick(&["16", "32", "64"]),
            reg(rng)
        ),
        5 => format!("lddw {}, {:#x}", reg(rng), rng.next()),
        6 => format!("ldx{} {}, {}", rng.pick(SIZES), reg(rng), mem(rng)),
        7 => format!("st{} {}, {}", rng.pick(SIZES), mem(rng), imm(rng)),
        8 => format!("stx{} {}, {}", rng.pick(SIZES), mem(rng), reg(rng)),
        9 => return Gen::Jump("ja".to_string(), rng.below(count)),
        10 => {
            let src = if rng.chance(2) { reg(rng) } else { imm(rng) };
            return Gen::Jump(
                format!("{} {}, {src},", rng.pick(CONDS), reg(rng)),
                rng.below(count),
            );
        }
        11 => return Gen::CallRel(rng.below(count)),
        12 => match rng.below(syscalls.len() + 1) {
            i if i < syscalls.len() => format!("syscall {}", syscalls[i]),
            _ => format!("callx {}", reg(rng)),
        },
        _ => "exit".to_string(),
    };
    Gen::Text(text)
}

/// A random program and the label names it defines before each instruction.
/// A random sBPF program in the reference's syntax: every instruction kind, labels named
/// `function_N` or `lbb_xN`, relative calls, and `syscall NAME` for each of `syscalls`.
pub fn random_program(rng: &mut Rng, syscalls: &[&str]) -> String {
    let count = 1 + rng.below(24);
    let gens: Vec<Gen> = (0..count)
        .map(|_| instruction(rng, count, syscalls))
        .collect();
    let mut pcs = Vec::new();
    let mut pc = 0;
    for g in &gens {
        pcs.push(pc);
        pc += match g {
            Gen::Text(t) if t.starts_with("lddw") => 2,
            _ => 1,
        };
    }
    let names: Vec<Option<String>> = (0..count)
        .map(|i| match rng.below(6) {
            0 => Some(format!("function_{i}")),
            1 | 2 => Some(format!("lbb_x{i}")),
            _ => None,
        })
        .collect();
    let mut out = String::new();
    for (i, g) in gens.iter().enumerate() {
        if let Some(name) = &names[i] {
            out.push_str(&format!("{name}:\n"));
        }
        let line = match g {
            Gen::Text(t) => t.clone(),
            Gen::Jump(prefix, t) => match &names[*t] {
                Some(name) if rng.chance(2) => format!("{prefix} {name}"),
                _ => format!("{prefix} {:+}", pcs[*t] as i64 - pcs[i] as i64 - 1),
            },
            Gen::CallRel(t) => format!("call {}", pcs[*t] as i64 - pcs[i] as i64 - 1),
        };
        out.push_str(&format!("{}{line}\n", " ".repeat(rng.below(3))));
    }
    out
}
