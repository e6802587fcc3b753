//! The text forms: PostgreSQL 15's numeric_in and numeric_out.
//!
//! Input: optional whitespace, then `NaN`, `Infinity` or `inf` (either infinity
//! signed), case-insensitive, or a sign, digits with at most one point (at least
//! one digit, before or after it) and an exponent `e`/`E` with an optional sign;
//! then optional whitespace. The scale is the number of digits typed after the point
//! less the exponent, at least 0 (`1.5E-3` has scale 4, `1.50e1` scale 1). As in
//! PostgreSQL (whose exponent is read by C's strtol), whitespace may follow the `e`.
//! Output: the digits with exactly the scale's count after the point, never an
//! exponent.

use super::{FiniteNumeric, Numeric, NumericError};
use std::fmt;
use std::str::FromStr;

/// Exponents this large are refused before anything is computed from them, as
/// PostgreSQL refuses exponents reaching `INT_MAX / 2`.
const TEXT_EXPONENT_BOUND: i64 = i32::MAX as i64 / 2;

/// The spellings of the special values, in the order PostgreSQL tries them.
const SPECIAL_NAMES: [(&str, Numeric); 7] = [
    ("nan", Numeric::NaN),
    ("infinity", Numeric::Infinity),
    ("+infinity", Numeric::Infinity),
    ("-infinity", Numeric::NegativeInfinity),
    ("inf", Numeric::Infinity),
    ("+inf", Numeric::Infinity),
    ("-inf", Numeric::NegativeInfinity),
];

/// C's isspace in the C locale, which PostgreSQL uses: ASCII whitespace and vertical tab.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// What the start of a text spells, before the limits are applied.
enum Parsed {
    Special(Numeric),
    /// Digits as typed (leading zeros included), the exponent of the first and the scale.
    Finite {
        negative: bool,
        digits: Vec<u8>,
        exponent: i64,
        scale: i64,
    },
    /// An exponent beyond [`TEXT_EXPONENT_BOUND`], refused before the rest is read.
    ExponentOverflow,
}

impl FromStr for Numeric {
    type Err = NumericError;

    fn from_str(text: &str) -> Result<Numeric, NumericError> {
        let bytes = text.as_bytes();
        let start = bytes.iter().take_while(|&&byte| is_space(byte)).count();
        let body = &bytes[start..];
        let (parsed, used) =
            special(body).or_else(|| finite(body)).ok_or_else(|| NumericError::invalid_syntax(text))?;
        let trailing_junk = !body[used..].iter().all(|&byte| is_space(byte));
        match parsed {
            // PostgreSQL refuses such an exponent while reading it, before the rest.
            Parsed::ExponentOverflow => Err(NumericError::overflow()),
            _ if trailing_junk => Err(NumericError::invalid_syntax(text)),
            Parsed::Special(value) => Ok(value),
            // The limits apply once the syntax is known good, as in PostgreSQL.
            Parsed::Finite { negative, digits, exponent, scale } => {
                FiniteNumeric::normalize(negative, digits, exponent, scale).map(Numeric::Finite)
            }
        }
    }
}

/// A special value's name at the start of `body`, and its length.
fn special(body: &[u8]) -> Option<(Parsed, usize)> {
    SPECIAL_NAMES.iter().find_map(|(name, value)| {
        let prefix = body.get(..name.len())?;
        prefix.eq_ignore_ascii_case(name.as_bytes()).then(|| (Parsed::Special(value.clone()), name.len()))
    })
}

/// The finite number at the start of `body` and its length, or `None` when there is none.
fn finite(body: &[u8]) -> Option<(Parsed, usize)> {
    let negative = body.first() == Some(&b'-');
    let mut position = usize::from(matches!(body.first(), Some(b'-' | b'+')));
    let (mut digits, mut integer_digits, mut fraction_digits, mut seen_point) = (Vec::new(), 0i64, 0i64, false);
    while let Some(&byte) = body.get(position) {
        match byte {
            b'0'..=b'9' => {
                digits.push(byte - b'0');
                *(if seen_point { &mut fraction_digits } else { &mut integer_digits }) += 1;
            }
            b'.' if !seen_point => seen_point = true,
            b'.' => return None,
            _ => break,
        }
        position += 1;
    }
    if digits.is_empty() {
        return None;
    }
    let mut exponent = 0i64;
    if let Some(b'e' | b'E') = body.get(position) {
        let (value, used) = exponent_suffix(&body[position + 1..])?;
        if value.abs() >= TEXT_EXPONENT_BOUND {
            return Some((Parsed::ExponentOverflow, body.len()));
        }
        exponent = value;
        position += 1 + used;
    }
    let scale = (fraction_digits - exponent).max(0);
    Some((Parsed::Finite { negative, digits, exponent: integer_digits - 1 + exponent, scale }, position))
}

/// The exponent after an `e`, read as C's strtol reads it (whitespace, a sign,
/// digits), saturating; `None` without digits.
fn exponent_suffix(text: &[u8]) -> Option<(i64, usize)> {
    let mut position = text.iter().take_while(|&&byte| is_space(byte)).count();
    let negative = text.get(position) == Some(&b'-');
    position += usize::from(matches!(text.get(position), Some(b'-' | b'+')));
    let digits_start = position;
    let mut value = 0i64;
    while let Some(&byte @ b'0'..=b'9') = text.get(position) {
        value = value.saturating_mul(10).saturating_add(i64::from(byte - b'0'));
        position += 1;
    }
    (position > digits_start).then_some((if negative { -value } else { value }, position))
}

impl fmt::Display for Numeric {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Numeric::NaN => formatter.write_str("NaN"),
            Numeric::Infinity => formatter.write_str("Infinity"),
            Numeric::NegativeInfinity => formatter.write_str("-Infinity"),
            Numeric::Finite(finite) => formatter.write_str(&finite_text(finite)),
        }
    }
}

/// numeric_out of a finite value: sign, integer digits (at least "0"), and exactly
/// `scale` digits after the point.
fn finite_text(value: &FiniteNumeric) -> String {
    let digit_at = |exponent: i64| -> char {
        let index = i64::from(value.exponent) - exponent;
        let digit = usize::try_from(index).ok().and_then(|index| value.digits.get(index)).copied().unwrap_or(0);
        char::from(b'0' + digit)
    };
    let mut text = String::with_capacity(value.digits.len() + usize::from(value.scale) + 3);
    if value.negative {
        text.push('-');
    }
    let integer_exponent = if value.is_zero() { 0 } else { i64::from(value.exponent).max(0) };
    text.extend((0..=integer_exponent).rev().map(digit_at));
    if value.scale > 0 {
        text.push('.');
        text.extend((1..=i64::from(value.scale)).map(|place| digit_at(-place)));
    }
    text
}
