//! `uuid`: 16 bytes, compared and keyed as bytes (PostgreSQL's `memcmp`).
//!
//! Output is the standard lower-case form with hyphens. Input is
//! PostgreSQL's: 32 hex digits of either case, optionally in braces, with a
//! hyphen allowed after any group of four digits; anything else, blanks
//! around included, is `invalid input syntax for type uuid` (22P02).

use super::error::{SqlError, SqlResult, SqlState};

/// The standard form, `a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11`.
pub fn to_text(bytes: &[u8; 16]) -> String {
    let mut text = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// Reads PostgreSQL's uuid input forms.
pub fn parse(text: &str) -> SqlResult<[u8; 16]> {
    let invalid = || {
        SqlError::new(SqlState::INVALID_TEXT_REPRESENTATION, format!("invalid input syntax for type uuid: \"{text}\""))
    };
    let inner = match text.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}').ok_or_else(invalid)?,
        None => text,
    };
    let input = inner.as_bytes();
    let mut bytes = [0u8; 16];
    let mut position = 0;
    for (index, byte) in bytes.iter_mut().enumerate() {
        let pair = input.get(position..position + 2).ok_or_else(invalid)?;
        let digit = |character: u8| (character as char).to_digit(16).ok_or_else(invalid);
        *byte = (digit(pair[0])? << 4 | digit(pair[1])?) as u8;
        position += 2;
        if index % 2 == 1 && index < 15 && input.get(position) == Some(&b'-') {
            position += 1;
        }
    }
    if position != input.len() {
        return Err(invalid());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_forms_as_postgresql_15_reads_them() {
        let standard = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        for text in [
            standard,
            "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "a0eebc99-9c0b4ef8-bb6d6bb9bd380a11",
        ] {
            assert_eq!(to_text(&parse(text).unwrap()), standard, "{text}");
        }
        for text in [
            " a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11 ",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a1-1",
            "a0eebc999c0b4ef8bb6d6bb9bd380a1",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11-",
            "abc",
        ] {
            let error = parse(text).unwrap_err();
            assert_eq!(error.state, SqlState::INVALID_TEXT_REPRESENTATION, "{text}");
            assert_eq!(error.message, format!("invalid input syntax for type uuid: \"{text}\""));
        }
    }
}
