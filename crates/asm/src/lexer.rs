//! Splitting one source line into tokens, each with its 1-based column.
//!
//! The lexer knows the shapes both dialects share: identifiers (`[A-Za-z0-9_]+`, starting
//! with a letter or `_`), registers (`r7` or `%r7`), integers (an optional sign, then decimal
//! or `0x` hex), memory operands (`[r1]`, `[r1+8]`, `[%r10-0x10]`), commas and colons. A `#`
//! starts a comment that runs to the end of the line. It never decides what a token means in
//! an instruction; that is the parser's and the assembler's job. Every malformed character
//! sequence becomes an [`AsmError`], never a panic.

use crate::AsmError;

/// An integer literal as written: its sign and magnitude. Each use site decides the range
/// (a 32-bit immediate, a 16-bit offset, a 64-bit `lddw` value) and how the dialect wraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntLit {
    /// A leading `-`.
    pub negative: bool,
    /// The absolute value.
    pub magnitude: u64,
    /// Written in decimal (the reference reads decimal as i64, hex as u64).
    pub radix: Radix,
}

/// How an integer literal was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Radix {
    /// Decimal digits.
    Dec,
    /// `0x` followed by hex digits.
    Hex,
}

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A name: a mnemonic, a label or a keyword.
    Ident(String),
    /// A register number as written (range-checked later).
    Reg(u64),
    /// An integer literal.
    Int(IntLit),
    /// `[base]` or `[base+off]`; the offset is zero when absent.
    Mem { base: u64, off: IntLit },
    /// `,`
    Comma,
    /// `:`
    Colon,
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// 1-based column of its first character.
    pub column: usize,
}

/// A cursor over the characters of one line.
struct Cursor {
    chars: Vec<char>,
    at: usize,
    line: usize,
}

impl Cursor {
    fn new(source: &str, line: usize) -> Self {
        Cursor {
            chars: source.chars().collect(),
            at: 0,
            line,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn column(&self) -> usize {
        self.at + 1
    }

    fn error(&self, column: usize, message: impl Into<String>) -> AsmError {
        AsmError {
            line: self.line,
            column,
            message: message.into(),
        }
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn take_while(&mut self, wanted: impl Fn(char) -> bool) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek().filter(|c| wanted(*c)) {
            text.push(c);
            self.at += 1;
        }
        text
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Tokenizes one line (without its newline). Comments are dropped.
pub(crate) fn tokenize(source: &str, line: usize) -> Result<Vec<Token>, AsmError> {
    let mut cursor = Cursor::new(source, line);
    let mut tokens = Vec::new();
    loop {
        cursor.skip_blanks();
        let column = cursor.column();
        let Some(c) = cursor.peek() else { break };
        let kind = match c {
            '#' => break,
            ',' => {
                cursor.at += 1;
                TokenKind::Comma
            }
            ':' => {
                cursor.at += 1;
                TokenKind::Colon
            }
            '[' => memory(&mut cursor)?,
            '%' => TokenKind::Reg(register(&mut cursor)?),
            '+' | '-' | '0'..='9' => TokenKind::Int(integer(&mut cursor)?),
            c if c.is_ascii_alphabetic() || c == '_' => word(&mut cursor),
            other => return Err(cursor.error(column, format!("unexpected character {other:?}"))),
        };
        tokens.push(Token { kind, column });
    }
    Ok(tokens)
}

/// An identifier, or a register when it is `r` followed only by digits.
fn word(cursor: &mut Cursor) -> TokenKind {
    let text = cursor.take_while(is_ident_char);
    match text.strip_prefix('r') {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            // Too many digits for a u64 still names no register; report it as r<max>.
            TokenKind::Reg(digits.parse().unwrap_or(u64::MAX))
        }
        _ => TokenKind::Ident(text),
    }
}

/// `r7` or `%r7`.
fn register(cursor: &mut Cursor) -> Result<u64, AsmError> {
    let column = cursor.column();
    if cursor.peek() == Some('%') {
        cursor.at += 1;
    }
    if cursor.peek() != Some('r') {
        return Err(cursor.error(column, "expected a register such as r1 or %r1"));
    }
    cursor.at += 1;
    let digits = cursor.take_while(|c| c.is_ascii_digit());
    if digits.is_empty() || cursor.peek().is_some_and(is_ident_char) {
        return Err(cursor.error(column, "expected a register such as r1 or %r1"));
    }
    Ok(digits.parse().unwrap_or(u64::MAX))
}

/// `[+-]? (0x hex | decimal)`.
fn integer(cursor: &mut Cursor) -> Result<IntLit, AsmError> {
    let column = cursor.column();
    let negative = match cursor.peek() {
        Some('-') => {
            cursor.at += 1;
            true
        }
        Some('+') => {
            cursor.at += 1;
            false
        }
        _ => false,
    };
    let hex = cursor.peek() == Some('0') && matches!(cursor.peek_at(1), Some('x' | 'X'));
    let (radix, digits) = if hex {
        cursor.at += 2;
        (Radix::Hex, cursor.take_while(|c| c.is_ascii_hexdigit()))
    } else {
        (Radix::Dec, cursor.take_while(|c| c.is_ascii_digit()))
    };
    if digits.is_empty() || cursor.peek().is_some_and(is_ident_char) {
        return Err(cursor.error(column, "malformed integer"));
    }
    let base = match radix {
        Radix::Dec => 10,
        Radix::Hex => 16,
    };
    let magnitude = u64::from_str_radix(&digits, base)
        .map_err(|_| cursor.error(column, "integer does not fit in 64 bits"))?;
    Ok(IntLit {
        negative,
        magnitude,
        radix,
    })
}

/// `[reg]`, `[reg+int]` or `[reg-int]`, with optional blanks inside the brackets.
fn memory(cursor: &mut Cursor) -> Result<TokenKind, AsmError> {
    let column = cursor.column();
    cursor.at += 1;
    cursor.skip_blanks();
    let base = match cursor.peek() {
        Some('%' | 'r') => register(cursor)?,
        _ => return Err(cursor.error(cursor.column(), "expected a base register after '['")),
    };
    cursor.skip_blanks();
    let mut off = IntLit {
        negative: false,
        magnitude: 0,
        radix: Radix::Dec,
    };
    if matches!(cursor.peek(), Some('+' | '-')) {
        off = integer(cursor)?;
        cursor.skip_blanks();
    }
    if cursor.peek() != Some(']') {
        return Err(cursor.error(column, "expected ']' to close the memory operand"));
    }
    cursor.at += 1;
    Ok(TokenKind::Mem { base, off })
}
