//! The one-line JSON report of `bpfvm run --json`.
//!
//! Shape: `{"ok":true,"r0":"0x2a","instructions":12,"run_ns":850,...}` or
//! `{"ok":false,"error":{"kind":"DivideByZero","pc":3},"instructions":4,...}`. `kind` is the
//! reference's variant name; the variant's other fields follow by name (addresses as hex
//! strings, other numbers as numbers).

use bpfvm::{ErrorField, RuntimeError};
use serde_json::{json, Map, Value};

/// The error object: kind plus named fields.
pub fn error(error: &RuntimeError) -> Value {
    let mut object = Map::new();
    object.insert("kind".to_owned(), Value::from(error.kind()));
    for (name, field) in error.fields() {
        object.insert(name.to_owned(), field_value(&field));
    }
    Value::Object(object)
}

fn field_value(field: &ErrorField) -> Value {
    match field {
        ErrorField::Number(n) => json!(n),
        ErrorField::Signed(n) => json!(n),
        ErrorField::Address(a) => json!(format!("{a:#x}")),
        ErrorField::Text(t) => json!(t),
    }
}

/// Hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex (whitespace and a `0x` prefix are allowed).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if digits.len() % 2 != 0 {
        return Err("hex input has an odd number of digits".to_owned());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            digits
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("invalid hex digits at position {i}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_kind_and_fields() {
        let value = error(&RuntimeError::AccessViolation {
            pc: 3,
            access: bpfvm::AccessType::Store,
            vaddr: 0x1_0000_0000,
            len: 8,
            region: "program",
        });
        assert_eq!(
            value.to_string(),
            r#"{"kind":"AccessViolation","pc":3,"access":"store","vaddr":"0x100000000","len":8,"region":"program"}"#
        );
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(parse_hex("0x0a ff").unwrap(), vec![0x0a, 0xff]);
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
    }
}
