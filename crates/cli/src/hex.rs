//! Hex text for byte strings: inputs on the command line, input dumps and raw bytes in
//! reports.

/// Hex of a byte string, two lowercase digits per byte.
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex (whitespace and a `0x` prefix are allowed).
pub fn parse(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if let Some(position) = digits.find(|c: char| !c.is_ascii_hexdigit()) {
        return Err(format!("invalid hex digit at position {position}"));
    }
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
    fn hex_round_trip() {
        assert_eq!(parse("0x0a ff"), Ok(vec![0x0a, 0xff]));
        assert_eq!(encode(&[0x0a, 0xff]), "0aff");
        assert!(parse("abc").is_err());
        assert!(parse("zz").is_err());
        assert!(parse("+1").is_err(), "a sign is not a digit");
    }
}
