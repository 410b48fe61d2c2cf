//! Turning source text into statements: labels and instructions with their operands.
//!
//! The grammar is line-based. A line holds any number of `name:` labels, then at most one
//! instruction: a mnemonic and comma-separated operands. Two multi-word mnemonics of the
//! conformance syntax are joined here into one name (`lock [fetch] op`, `call local`), so the
//! tables see a single string. Operands stay untyped ([`Operand`]); which shapes an
//! instruction accepts is decided by the assembler.

use crate::lexer::{tokenize, IntLit, Token, TokenKind};
use crate::AsmError;
use bpfvm_isa::Dialect;

/// Where something was written: 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// An error at this position.
    pub(crate) fn error(self, message: impl Into<String>) -> AsmError {
        AsmError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

/// One operand as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Operand {
    /// `r3` or `%r3` (the number is range-checked later).
    Reg(u64),
    /// An integer literal.
    Int(IntLit),
    /// `[rB+off]`.
    Mem { base: u64, off: IntLit },
    /// A name: a label or a syscall.
    Name(String),
}

/// One statement of the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Statement {
    /// `name:`
    Label { name: String, pos: Pos },
    /// An instruction with its operands.
    Instruction {
        mnemonic: String,
        pos: Pos,
        operands: Vec<(Operand, Pos)>,
    },
}

/// Parses the whole source.
pub(crate) fn parse(source: &str, dialect: Dialect) -> Result<Vec<Statement>, AsmError> {
    let mut statements = Vec::new();
    for (index, text) in source.lines().enumerate() {
        let line = index + 1;
        let tokens = tokenize(text, line)?;
        parse_line(&tokens, line, dialect, &mut statements)?;
    }
    Ok(statements)
}

fn parse_line(
    tokens: &[Token],
    line: usize,
    dialect: Dialect,
    out: &mut Vec<Statement>,
) -> Result<(), AsmError> {
    let pos = |token: &Token| Pos {
        line,
        column: token.column,
    };
    let mut rest = tokens;
    while let [first @ Token {
        kind: TokenKind::Ident(name),
        ..
    }, Token {
        kind: TokenKind::Colon,
        ..
    }, tail @ ..] = rest
    {
        out.push(Statement::Label {
            name: name.clone(),
            pos: pos(first),
        });
        rest = tail;
    }
    let Some((first, tail)) = rest.split_first() else {
        return Ok(());
    };
    let TokenKind::Ident(word) = &first.kind else {
        return Err(pos(first).error("expected a label or a mnemonic"));
    };
    let (mnemonic, tail) = join_words(word.clone(), tail, dialect);
    let operands = parse_operands(tail, line)?;
    out.push(Statement::Instruction {
        mnemonic,
        pos: pos(first),
        operands,
    });
    Ok(())
}

/// Whether the conformance syntax continues mnemonic `head` with the word `next`.
fn joins(head: &str, next: &str) -> bool {
    match head {
        "lock" => true,
        "lock fetch" => next != "fetch",
        "call" => next == "local",
        _ => false,
    }
}

fn join_words(mut mnemonic: String, mut tail: &[Token], dialect: Dialect) -> (String, &[Token]) {
    if dialect != Dialect::Ebpf {
        return (mnemonic, tail);
    }
    while let [Token {
        kind: TokenKind::Ident(next),
        ..
    }, rest @ ..] = tail
    {
        if !joins(&mnemonic, next) {
            break;
        }
        mnemonic = format!("{mnemonic} {next}");
        tail = rest;
    }
    (mnemonic, tail)
}

fn parse_operands(tokens: &[Token], line: usize) -> Result<Vec<(Operand, Pos)>, AsmError> {
    let mut operands = Vec::new();
    let mut rest = tokens;
    while let Some((token, tail)) = rest.split_first() {
        let pos = Pos {
            line,
            column: token.column,
        };
        let operand = match &token.kind {
            TokenKind::Reg(n) => Operand::Reg(*n),
            TokenKind::Int(lit) => Operand::Int(*lit),
            TokenKind::Mem { base, off } => Operand::Mem {
                base: *base,
                off: *off,
            },
            TokenKind::Ident(name) => Operand::Name(name.clone()),
            TokenKind::Comma | TokenKind::Colon => {
                return Err(pos.error("expected an operand"));
            }
        };
        operands.push((operand, pos));
        rest = match tail.split_first() {
            None => tail,
            Some((
                Token {
                    kind: TokenKind::Comma,
                    column,
                },
                after,
            )) => {
                if after.is_empty() {
                    return Err(Pos {
                        line,
                        column: *column,
                    }
                    .error("expected an operand after ','"));
                }
                after
            }
            Some((next, _)) => {
                return Err(Pos {
                    line,
                    column: next.column,
                }
                .error("expected ',' between operands"));
            }
        };
    }
    Ok(operands)
}
