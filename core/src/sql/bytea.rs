//! `bytea`: byte strings, with PostgreSQL's text forms.
//!
//! Output is the hex form (`bytea_output = hex`, the default): `\x` and two
//! lower-case digits a byte. Input takes the hex form (`\x` then digit pairs,
//! blanks allowed between pairs) and the escape form (bytes as they are,
//! `\\` for a backslash, `\ooo` for any byte in octal). Errors are
//! PostgreSQL 15's: `invalid hexadecimal digit: "z"` and `invalid hexadecimal
//! data: odd number of digits` (22023), `invalid input syntax for type
//! bytea` (22P02) for a stray backslash.

use super::error::{SqlError, SqlResult, SqlState};

/// The hex output form, `\x0a1b`.
pub fn to_text(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 + bytes.len() * 2);
    text.push_str("\\x");
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

/// Reads either text form.
pub fn parse(text: &str) -> SqlResult<Vec<u8>> {
    match text.strip_prefix("\\x").or_else(|| text.strip_prefix("\\X")) {
        Some(digits) => parse_hex(digits),
        None => parse_escaped(text),
    }
}

fn hex_digit(character: char) -> SqlResult<u8> {
    character.to_digit(16).map(|digit| digit as u8).ok_or_else(|| {
        SqlError::new(SqlState::INVALID_PARAMETER_VALUE, format!("invalid hexadecimal digit: \"{character}\""))
    })
}

fn parse_hex(digits: &str) -> SqlResult<Vec<u8>> {
    let mut bytes = Vec::with_capacity(digits.len() / 2);
    let mut characters = digits.chars();
    while let Some(high) = characters.next() {
        if matches!(high, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        let high = hex_digit(high)?;
        let Some(low) = characters.next() else {
            return Err(SqlError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                "invalid hexadecimal data: odd number of digits",
            ));
        };
        bytes.push(high << 4 | hex_digit(low)?);
    }
    Ok(bytes)
}

fn parse_escaped(text: &str) -> SqlResult<Vec<u8>> {
    let invalid = || SqlError::new(SqlState::INVALID_TEXT_REPRESENTATION, "invalid input syntax for type bytea");
    let input = text.as_bytes();
    let mut bytes = Vec::with_capacity(input.len());
    let mut position = 0;
    while position < input.len() {
        if input[position] != b'\\' {
            bytes.push(input[position]);
            position += 1;
        } else if input.get(position + 1) == Some(&b'\\') {
            bytes.push(b'\\');
            position += 2;
        } else {
            let octal = input.get(position + 1..position + 4).ok_or_else(invalid)?;
            let valid = matches!(octal[0], b'0'..=b'3') && octal[1..].iter().all(|digit| matches!(digit, b'0'..=b'7'));
            if !valid {
                return Err(invalid());
            }
            bytes.push(octal.iter().fold(0u8, |value, digit| value << 3 | (digit - b'0')));
            position += 4;
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_input_forms_and_hex_output_as_postgresql_15() {
        // `select '\x6162 63'::bytea, 'a\\b\001c'::bytea, 'abc'::bytea, ''::bytea` in PostgreSQL 15.
        assert_eq!(to_text(&parse("\\x6162 63").unwrap()), "\\x616263");
        assert_eq!(to_text(&parse("a\\\\b\\001c").unwrap()), "\\x615c620163");
        assert_eq!(to_text(&parse("abc").unwrap()), "\\x616263");
        assert_eq!(to_text(&parse("").unwrap()), "\\x");
        assert_eq!(parse("\\xFF").unwrap(), [0xff]);
        let error = |text: &str| {
            let error = parse(text).unwrap_err();
            (error.state, error.message)
        };
        assert_eq!(
            error("\\x616"),
            (SqlState::INVALID_PARAMETER_VALUE, "invalid hexadecimal data: odd number of digits".into())
        );
        assert_eq!(error("\\xzz"), (SqlState::INVALID_PARAMETER_VALUE, "invalid hexadecimal digit: \"z\"".into()));
        assert_eq!(
            error("a\\9"),
            (SqlState::INVALID_TEXT_REPRESENTATION, "invalid input syntax for type bytea".into())
        );
        assert_eq!(error("a\\"), (SqlState::INVALID_TEXT_REPRESENTATION, "invalid input syntax for type bytea".into()));
    }
}
