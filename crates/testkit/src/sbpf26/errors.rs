//! solana-sbpf 0.26's errors as [`ErrorDesc`] values.
//!
//! The oracle adapter turns every 0.26 error into its `Debug` text (`UnknownOpCode(121, 0)`,
//! `AccessViolation(Store, 17179869184, 8, "input")`) and [`describe_debug`] parses that text:
//! the kind is 0.26's variant name, the fields are its positional fields in order, numbers in
//! decimal, strings without quotes, and the fields that are program counters become
//! [`Field::Pc`]. 0.26 reports slots as they are (no "+29"), so nothing is subtracted; a bpfvm
//! profile for V0-V4 describes its errors the same way and the two compare field by field.
//!
//! Where 0.26 names or shapes an error differently from 0.2.38 (whose naming
//! [`ErrorDesc::from_reference`] follows):
//!
//! | 0.2.38 | 0.26 |
//! |---|---|
//! | runtime errors carry the pc as their first field | no runtime error carries a pc: the faulting pc is [`VersionedOutcome::pc`](super::VersionedOutcome::pc) (register 11) |
//! | `AccessViolation(pc, access, addr, len, region)` | `AccessViolation(access, addr, len, region)`; region `"unallocated"` when no region holds the address, `"allocated"` for an index without a name (V3 rodata at 0) |
//! | `StackAccessViolation(pc, access, addr, len, frame)` | `StackAccessViolation(access, addr, len, frame)`, only for V0, V3 and V4 |
//! | `CallDepthExceeded(pc, depth)`, `CallOutsideTextSegment(pc, target)`, `ExceededMaxInstructions(pc, budget)` | `CallDepthExceeded`, `CallOutsideTextSegment`, `ExceededMaxInstructions` (no fields) |
//! | `UserError(message)` for a failing syscall | `SyscallError(inner)`: the inner error's own description when it is a 0.26 error (`AccessViolation(...)`), else its `Display` text |
//! | loader errors `UnsupportedExecutableCapabilities`, ... | new `UnsupportedSBPFVersion` (e_flags not enabled or reserved), `InvalidProgramHeader` from the strict loader, `FailedToParse(text)` with the strict parser's texts |
//! | verifier | new `UnalignedImmediate(pc)` (V1/V2 `add64 r10`), `InvalidFunction(pc)`, `InvalidSyscall(key)` |

use crate::outcome::{ErrorDesc, Field, Stage};

/// Which positional fields of a 0.26 error are program counters (slot indices).
fn pc_positions(stage: Stage, kind: &str) -> &'static [usize] {
    match (stage, kind) {
        (Stage::Verify, "UnknownOpCode" | "JumpOutOfCode" | "JumpToMiddleOfLDDW") => &[1],
        (Stage::Verify, "ShiftWithOverflow") => &[2],
        (
            Stage::Verify,
            "DivisionByZero"
            | "UnsupportedLEBEArgument"
            | "IncompleteLDDW"
            | "InfiniteLoop"
            | "InvalidSourceRegister"
            | "CannotWriteR10"
            | "InvalidDestinationRegister"
            | "InvalidRegister"
            | "InvalidFunction"
            | "UnalignedImmediate",
        ) => &[0],
        (Stage::Load, "RelativeJumpOutOfBounds") => &[0],
        (Stage::Load, "UnresolvedSymbol") => &[1],
        _ => &[],
    }
}

/// Splits `Kind(a, b, "c, d")` into the kind and its top-level fields (quotes and nested
/// parentheses respected, one level of quotes removed). Text without parentheses is a kind
/// without fields.
pub fn split_call(text: &str) -> (&str, Vec<String>) {
    let text = text.trim();
    let Some(open) = text.find('(') else {
        return (text, Vec::new());
    };
    let inner = text[open + 1..]
        .strip_suffix(')')
        .unwrap_or(&text[open + 1..]);
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => current.push(unescape(&mut chars)),
            '"' => quoted = !quoted,
            '(' | '[' if !quoted => {
                depth += 1;
                current.push(c);
            }
            ')' | ']' if !quoted => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            ',' if !quoted && depth == 0 => {
                fields.push(current.trim().to_owned());
                current.clear();
            }
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() || !fields.is_empty() {
        fields.push(current.trim().to_owned());
    }
    (&text[..open], fields)
}

/// The character a `Debug` escape stands for, the backslash already read: `\n`, `\t`,
/// `\r`, `\0`, `\u{..}` and an escaped quote or backslash. A malformed escape gives the
/// replacement character, which no error text of 0.26 contains.
fn unescape(chars: &mut std::str::Chars<'_>) -> char {
    match chars.next() {
        Some('n') => '\n',
        Some('t') => '\t',
        Some('r') => '\r',
        Some('0') => '\0',
        Some('u') => {
            let code: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
            u32::from_str_radix(&code, 16)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or(char::REPLACEMENT_CHARACTER)
        }
        Some(other) => other,
        None => char::REPLACEMENT_CHARACTER,
    }
}

/// Describes a 0.26 error from its `Debug` text at the given stage. A wrapper naming the
/// stage (`ElfError(..)`, `VerifierError(..)`) is removed first.
pub fn describe_debug(stage: Stage, text: &str) -> ErrorDesc {
    let text = text.trim();
    let inner = ["ElfError(", "VerifierError("]
        .iter()
        .find_map(|wrapper| text.strip_prefix(wrapper)?.strip_suffix(')'))
        .unwrap_or(text);
    let (kind, fields) = split_call(inner);
    let pcs = pc_positions(stage, kind);
    let fields = fields
        .into_iter()
        .enumerate()
        .map(|(index, text)| match text.parse::<usize>() {
            Ok(pc) if pcs.contains(&index) => Field::Pc(pc),
            _ => Field::Value(text),
        })
        .collect();
    ErrorDesc {
        stage,
        kind: kind.to_owned(),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_pcs_and_quoted_fields() {
        let error = describe_debug(Stage::Verify, "VerifierError(UnknownOpCode(121, 0))");
        assert_eq!(error.to_string(), "verifier UnknownOpCode(121, pc 0)");
        let error = describe_debug(Stage::Load, r#"ElfError(UnresolvedSymbol("log", 39, 312))"#);
        assert_eq!(error.fields[1], Field::Pc(39));
        assert_eq!(error.to_string(), "load UnresolvedSymbol(log, pc 39, 312)");
        let error = describe_debug(
            Stage::Runtime,
            r#"AccessViolation(Store, 17179869184, 8, "input")"#,
        );
        assert_eq!(error.kind, "AccessViolation");
        assert_eq!(error.fields.len(), 4);
        let error = describe_debug(Stage::Load, r#"FailedToParse("a\u{3}\"\\b\n.")"#);
        assert_eq!(
            error.fields,
            vec![Field::Value("a\u{3}\"\\b\n.".to_owned())]
        );
        let error = describe_debug(Stage::Load, r#"FailedToParse("a, (b")"#);
        assert_eq!(error.fields, vec![Field::Value("a, (b".to_owned())]);
        assert_eq!(
            describe_debug(Stage::Runtime, "CallDepthExceeded").fields,
            Vec::new()
        );
        assert_eq!(split_call("K()").1, Vec::<String>::new());
    }
}
