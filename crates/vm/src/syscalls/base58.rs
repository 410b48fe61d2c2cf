//! Base58 (Bitcoin alphabet), the text form of Solana public keys that `sol_log_pubkey` logs.
//!
//! The classic algorithm: treat the bytes as a big-endian number, divide by 58 repeatedly,
//! and write one `1` for every leading zero byte. Inputs here are 32 bytes, so the quadratic
//! cost does not matter.

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// The base58 text of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|&&byte| byte == 0).count();
    // Little-endian base-58 digits of the number the bytes spell.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &byte in &bytes[zeros..] {
        let mut carry = u32::from(byte);
        for digit in digits.iter_mut() {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut text = String::with_capacity(zeros + digits.len());
    text.extend(std::iter::repeat_n('1', zeros));
    text.extend(
        digits
            .iter()
            .rev()
            .map(|&digit| char::from(ALPHABET[usize::from(digit)])),
    );
    text
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn known_values() {
        let cases: &[(&[u8], &str)] = &[
            (&[], ""),
            (&[0], "1"),
            (&[0, 0, 1], "112"),
            (&[57], "z"),
            (&[58], "21"),
            (b"hello world", "StV1DL6CwTryKyV"),
            (&[0; 32], "11111111111111111111111111111111"),
            (&[0xff; 32], "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG"),
        ];
        for (bytes, text) in cases {
            assert_eq!(encode(bytes), *text, "{bytes:?}");
        }
    }
}
