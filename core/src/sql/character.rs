//! `character(n)` (`bpchar`): strings blank-padded to their length, whose
//! trailing blanks are insignificant.
//!
//! A value is kept as PostgreSQL keeps it, padded (`'ab'::char(4)` is `ab  `,
//! and prints so). Comparison, keys and grouping read it without its trailing
//! blanks, so `'ab'::char(2) = 'ab  '::char(4)`; a cast to text drops them
//! (`'ab'::char(4) || '|'` is `ab|`). Storing into `character(n)` refuses what
//! is longer than n unless the excess is blanks (22001), while an explicit
//! cast cuts silently, as for varchar.

use super::error::{SqlError, SqlResult, SqlState};
use super::types::DataType;

/// The longest length PostgreSQL accepts for `character(n)` and `varchar(n)`.
pub const LENGTH_MAX: u32 = 10_485_760;

/// `text` without its trailing blanks: what comparison and keys see.
pub fn trimmed(text: &str) -> &str {
    text.trim_end_matches(' ')
}

/// `text` padded with blanks to `length` characters, or cut to it (an explicit cast).
pub fn padded(text: &str, length: Option<u32>) -> String {
    let Some(length) = length else { return text.to_string() };
    let length = length as usize;
    let count = text.chars().count();
    if count >= length {
        return text.chars().take(length).collect();
    }
    let mut padded = String::with_capacity(text.len() + length - count);
    padded.push_str(text);
    padded.extend(std::iter::repeat_n(' ', length - count));
    padded
}

/// `text` stored in a `character(length)` column: padded, or 22001 when it is
/// longer than the column and the excess is not all blanks.
pub fn assigned(text: &str, length: Option<u32>) -> SqlResult<String> {
    if let Some(limit) = length {
        let fits = text.chars().skip(limit as usize).all(|character| character == ' ');
        if !fits {
            let message = format!("value too long for type {}", DataType::Char(length));
            return Err(SqlError::new(SqlState::STRING_DATA_RIGHT_TRUNCATION, message));
        }
    }
    Ok(padded(text, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_cutting_and_assignment_as_postgresql_does() {
        assert_eq!(padded("ab", Some(4)), "ab  ");
        assert_eq!(padded("abcdef", Some(3)), "abc");
        assert_eq!(padded("ab  ", None), "ab  ", "bpchar keeps what it is given");
        assert_eq!(assigned("ab   ", Some(3)).unwrap(), "ab ");
        let error = assigned("abcd", Some(3)).unwrap_err();
        assert_eq!(
            (error.state, error.message.as_str()),
            (SqlState::STRING_DATA_RIGHT_TRUNCATION, "value too long for type character(3)")
        );
        assert_eq!(trimmed("ab  "), "ab");
        assert_eq!(padded("é", Some(2)), "é ", "lengths count characters");
    }
}
