//! The assembly syntax: one statement after another, separated by whitespace. A statement is
//! a label (`name:`), a directive (`.name operands`) or an instruction (`mnemonic operands`);
//! operands are separated by commas and are registers (`r3`), integers (`-8`, `0x10`, decimal
//! or hex with an optional sign; a value beyond 64 bits reads as 0), memory references
//! (`[r1]`, `[r1+8]`, `[r1-0x8]`) or label names (letters, digits and `_`).

/// An operand as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Operand {
    /// `rN`.
    Register(i64),
    /// A number.
    Integer(i64),
    /// `[rN+off]`: the register and the offset.
    Memory(i64, i64),
    /// A name.
    Label(String),
}

/// A statement.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Statement {
    /// `name:`.
    Label { name: String },
    /// `.name operands`.
    Directive {
        name: String,
        operands: Vec<Operand>,
    },
    /// `mnemonic operands`.
    Instruction {
        name: String,
        operands: Vec<Operand>,
    },
}

/// A cursor over the source with its line and column.
struct Cursor<'s> {
    rest: &'s str,
    line: usize,
    column: usize,
}

impl<'s> Cursor<'s> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = &self.rest[c.len_utf8()..];
        match c {
            '\n' => {
                self.line += 1;
                self.column = 1;
            }
            _ => self.column += 1,
        }
        Some(c)
    }

    fn eat(&mut self, expected: char) -> bool {
        let found = self.peek() == Some(expected);
        if found {
            self.bump();
        }
        found
    }

    /// Consumes characters while `keep` holds; the consumed text.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'s str {
        let start = self.rest;
        let mut len = 0;
        while let Some(c) = self.peek().filter(|c| keep(*c)) {
            len += c.len_utf8();
            self.bump();
        }
        &start[..len]
    }

    fn skip_blanks(&mut self) {
        self.take_while(|c| c == ' ');
    }

    fn skip_whitespace(&mut self) {
        self.take_while(char::is_whitespace);
    }

    fn error(&self, what: &str) -> String {
        format!(
            "Parse error at line {} column {}: {what}",
            self.line, self.column
        )
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// An integer with an optional sign (blanks may follow the sign).
fn integer(cursor: &mut Cursor) -> Option<i64> {
    let mut probe = Cursor { ..*cursor };
    let sign: i64 = match probe.peek() {
        Some('-') => {
            probe.bump();
            probe.skip_blanks();
            -1
        }
        Some('+') => {
            probe.bump();
            probe.skip_blanks();
            1
        }
        _ => 1,
    };
    let value = if probe.rest.starts_with("0x")
        && probe.rest[2..].starts_with(|c: char| c.is_ascii_hexdigit())
    {
        probe.bump();
        probe.bump();
        let digits = probe.take_while(|c| c.is_ascii_hexdigit());
        u64::from_str_radix(digits, 16).unwrap_or(0) as i64
    } else {
        let digits = probe.take_while(|c| c.is_ascii_digit());
        if digits.is_empty() {
            return None;
        }
        digits.parse::<i64>().unwrap_or(0)
    };
    *cursor = probe;
    Some(sign.wrapping_mul(value))
}

/// `rN`.
fn register(cursor: &mut Cursor) -> Option<i64> {
    let mut probe = Cursor { ..*cursor };
    if !probe.eat('r') {
        return None;
    }
    let digits = probe.take_while(|c| c.is_ascii_digit());
    if digits.is_empty() || probe.peek().is_some_and(is_ident) {
        return None;
    }
    *cursor = probe;
    Some(digits.parse::<i64>().unwrap_or(0))
}

/// One operand.
fn operand(cursor: &mut Cursor) -> Result<Operand, String> {
    if let Some(register) = register(cursor) {
        return Ok(Operand::Register(register));
    }
    if let Some(value) = integer(cursor) {
        return Ok(Operand::Integer(value));
    }
    if cursor.eat('[') {
        let base = register(cursor).ok_or_else(|| cursor.error("expected a register"))?;
        cursor.skip_blanks();
        let offset = integer(cursor).unwrap_or(0);
        if !cursor.eat(']') {
            return Err(cursor.error("expected `]`"));
        }
        return Ok(Operand::Memory(base, offset));
    }
    let name = cursor.take_while(is_ident);
    if name.is_empty() {
        return Err(cursor.error("expected an operand"));
    }
    Ok(Operand::Label(name.to_owned()))
}

/// Operands separated by commas (blanks may follow a comma), up to the end of the line.
fn operands(cursor: &mut Cursor) -> Result<Vec<Operand>, String> {
    let mut list = Vec::new();
    if cursor.peek().is_none_or(char::is_whitespace) {
        return Ok(list);
    }
    loop {
        list.push(operand(cursor)?);
        if !cursor.eat(',') {
            return Ok(list);
        }
        cursor.skip_blanks();
    }
}

/// Parses `source` into statements (see the module doc).
pub(super) fn parse(source: &str) -> Result<Vec<Statement>, String> {
    let mut cursor = Cursor {
        rest: source,
        line: 1,
        column: 1,
    };
    let mut statements = Vec::new();
    cursor.skip_whitespace();
    while cursor.peek().is_some() {
        let statement = if cursor.eat('.') {
            let name = cursor.take_while(|c| c.is_ascii_alphanumeric()).to_owned();
            cursor.skip_blanks();
            Statement::Directive {
                name,
                operands: operands(&mut cursor)?,
            }
        } else {
            let word = cursor.take_while(is_ident).to_owned();
            if word.is_empty() {
                return Err(cursor.error("unexpected character"));
            }
            if cursor.eat(':') {
                Statement::Label { name: word }
            } else if !word.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(cursor.error("expected `:` after a label"));
            } else {
                cursor.skip_blanks();
                Statement::Instruction {
                    name: word,
                    operands: operands(&mut cursor)?,
                }
            }
        };
        statements.push(statement);
        if cursor.peek().is_some_and(|c| !c.is_whitespace()) {
            return Err(cursor.error("unexpected text after a statement"));
        }
        cursor.skip_whitespace();
    }
    Ok(statements)
}
