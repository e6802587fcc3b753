//! PostgreSQL's NUMERIC as a value type: arbitrary precision decimals with a display
//! scale, plus NaN and the two infinities, with PostgreSQL 15's text forms, order,
//! arithmetic, result scales, typmods, conversions and binary wire format.
//!
//! # Representation
//! A [`Numeric`] is `NaN`, `Infinity`, `NegativeInfinity` or `Finite`. A
//! [`FiniteNumeric`] is a sign, its significant decimal digits (no leading or
//! trailing zeros, so zero has none), the decimal exponent of the first digit
//! (`123.45` is digits 12345, exponent 2; `0.05` is digits 5, exponent -2) and the
//! display scale: how many digits after the point the text form shows (PostgreSQL's
//! dscale: `1.50` has scale 2). Every digit the value has after the point lies within
//! its scale. Zero is never negative. One value has one representation, scale aside,
//! so equality, order and hashing compare the sign, exponent and digits and ignore the
//! scale, as PostgreSQL does (`1.0 = 1.00`).
//!
//! Decimal digits rather than PostgreSQL's base-10000 groups, because text, keys and
//! rounding all work digit by digit; the base-10000 form is derived where it is
//! specified (the wire format, and the division scale rule below). Arithmetic scales
//! both operands' digits to integers and computes on those (module `magnitude`, base 10^9).
//!
//! # Limits
//! As PostgreSQL stores them: the first digit's base-10000 group may be at most 32767
//! (so below 10^131072) and the scale at most 16383; a result beyond either is the
//! error "value overflows numeric format" (22003). Division results carry at most
//! 1000 digits after the point; `round` and `trunc` take scales within ±2000.
//!
//! # Order
//! `-Infinity` < every finite value < `Infinity` < `NaN`, and `NaN` equals `NaN`, as
//! PostgreSQL sorts them (so that NUMERIC has a total order for indexes).
//!
//! # Result scales (PostgreSQL's)
//! - `+`, `-`, `%`: the larger of the operands' scales.
//! - `*`: the sum of the scales (exact), rounded when that exceeds 16383.
//! - `/`: at least 16 significant digits and no less than either operand's scale,
//!   at most 1000 (module `arithmetic` carries the rule), rounded half away from zero.
//! - `round(x, s)` and `trunc(x, s)`: `s` when positive, else 0; rounding is half
//!   away from zero, and so are the conversions to integers.
//!
//! # Special values (PostgreSQL 15)
//! NaN wins over everything; `Infinity - Infinity`, `Infinity * 0` and
//! `Infinity / Infinity` are NaN; dividing by zero is an error (22012) even for
//! `0 / 0` and `Infinity / 0`; a finite value divided by an infinity is 0; an
//! infinity modulo anything nonzero is NaN, and `x % Infinity` is `x`.
//!
//! # Encodings
//! Module `encoding` holds the compact storage encoding, which keeps the scale, and
//! PostgreSQL's binary wire format. The order-preserving key encoding lives in the
//! keys module, one layer down, which builds on this one.
//!
//! Nothing here panics on input: text, stored bytes and wire bytes that do not make a
//! value are a [`NumericError`] with PostgreSQL's SQLSTATE and message.

mod arithmetic;
mod convert;
mod encoding;
mod magnitude;
mod text;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The largest display scale a value may have (PostgreSQL's NUMERIC_DSCALE_MAX).
pub const SCALE_MAX: u16 = 0x3fff;
/// The largest decimal exponent of a value's first digit: its base-10000 group, the
/// exponent divided by 4, must fit PostgreSQL's int16 weight.
pub const EXPONENT_MAX: i32 = 4 * 32767 + 3;
/// The largest precision of a NUMERIC(precision, scale) column, and the bound of its scale.
pub const PRECISION_MAX: i32 = 1000;

/// A PostgreSQL NUMERIC value; see the module doc.
#[derive(Clone)]
pub enum Numeric {
    NaN,
    Infinity,
    NegativeInfinity,
    Finite(FiniteNumeric),
}

/// A finite NUMERIC: sign, significant digits, exponent and display scale, kept
/// canonical by its constructors (the fields are private for that).
#[derive(Clone, Debug)]
pub struct FiniteNumeric {
    negative: bool,
    digits: Vec<u8>,
    exponent: i32,
    scale: u16,
}

/// A failure PostgreSQL reports as an error, with its SQLSTATE and wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumericError {
    /// The five-character SQLSTATE PostgreSQL uses for the same failure.
    pub sqlstate: &'static str,
    pub message: String,
    /// PostgreSQL's DETAIL line, when it gives one.
    pub detail: Option<String>,
}

impl NumericError {
    fn new(sqlstate: &'static str, message: impl Into<String>) -> NumericError {
        NumericError { sqlstate, message: message.into(), detail: None }
    }

    fn invalid_syntax(text: &str) -> NumericError {
        NumericError::new("22P02", format!("invalid input syntax for type numeric: \"{text}\""))
    }

    fn overflow() -> NumericError {
        NumericError::new("22003", "value overflows numeric format")
    }

    fn division_by_zero() -> NumericError {
        NumericError::new("22012", "division by zero")
    }

    fn field_overflow(detail: String) -> NumericError {
        NumericError { detail: Some(detail), ..NumericError::new("22003", "numeric field overflow") }
    }

    /// Bytes that are not a value this module wrote: storage corruption.
    fn corrupt(what: &str) -> NumericError {
        NumericError::new("XX001", format!("invalid stored numeric value: {what}"))
    }
}

impl fmt::Display for NumericError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)?;
        match &self.detail {
            Some(detail) => write!(formatter, " ({detail})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for NumericError {}

impl FiniteNumeric {
    /// The value from its canonical parts, as a decoder reads them back; parts that are
    /// not canonical (a leading or trailing zero digit, a digit above 9, a negative or
    /// nonzero-exponent zero, digits beyond the scale) or beyond the limits are refused.
    pub fn new(negative: bool, digits: Vec<u8>, exponent: i32, scale: u16) -> Result<FiniteNumeric, NumericError> {
        let canonical_digits = digits.first().is_none_or(|&first| first != 0)
            && digits.last().is_none_or(|&last| last != 0)
            && digits.iter().all(|&digit| digit <= 9);
        let canonical_zero = !digits.is_empty() || (!negative && exponent == 0);
        let within_scale = fractional_digits(&digits, exponent) <= i64::from(scale);
        if !(canonical_digits && canonical_zero && within_scale) {
            return Err(NumericError::corrupt("not canonical"));
        }
        if exponent > EXPONENT_MAX || scale > SCALE_MAX {
            return Err(NumericError::overflow());
        }
        Ok(FiniteNumeric { negative, digits, exponent, scale })
    }

    /// Normalizes `digits`, whose first is at `exponent` and which may have leading
    /// and trailing zeros, into a value shown with `scale` digits after the point;
    /// the caller keeps every nonzero digit within the scale. Fails as PostgreSQL's
    /// make_result does when the value or scale exceeds the limits.
    fn normalize(
        negative: bool,
        mut digits: Vec<u8>,
        exponent: i64,
        scale: i64,
    ) -> Result<FiniteNumeric, NumericError> {
        let leading = digits.iter().take_while(|&&digit| digit == 0).count();
        let trailing = digits[leading..].iter().rev().take_while(|&&digit| digit == 0).count();
        digits.truncate(digits.len() - trailing);
        digits.drain(..leading);
        let exponent = if digits.is_empty() { 0 } else { exponent - leading as i64 };
        debug_assert!(
            digits.is_empty() || digits.len() as i64 - 1 - exponent <= scale.max(0),
            "digits beyond the scale"
        );
        if exponent > i64::from(EXPONENT_MAX) || scale > i64::from(SCALE_MAX) {
            return Err(NumericError::overflow());
        }
        let negative = negative && !digits.is_empty();
        Ok(FiniteNumeric { negative, digits, exponent: exponent as i32, scale: scale.max(0) as u16 })
    }

    fn zero(scale: u16) -> FiniteNumeric {
        FiniteNumeric { negative: false, digits: Vec::new(), exponent: 0, scale }
    }

    /// Whether the value is below zero (zero never is).
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// The significant decimal digits, 0 to 9 each, most significant first; empty for zero.
    pub fn digits(&self) -> &[u8] {
        &self.digits
    }

    /// The decimal exponent of the first digit (0 for zero).
    pub fn exponent(&self) -> i32 {
        self.exponent
    }

    /// The display scale: digits shown after the point.
    pub fn scale(&self) -> u16 {
        self.scale
    }

    /// The decimal exponent of the last digit (for zero, 0).
    fn last_exponent(&self) -> i64 {
        i64::from(self.exponent) + 1 - self.digits.len() as i64
    }

    /// -1, 0 or 1 as the value is below, at or above zero.
    fn signum(&self) -> i32 {
        match (self.is_zero(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }

    /// Compares magnitudes, ignoring signs and scales.
    fn compare_magnitude(&self, other: &FiniteNumeric) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => self.exponent.cmp(&other.exponent).then_with(|| self.digits.cmp(&other.digits)),
        }
    }
}

/// How many digits `digits` starting at `exponent` have after the point (negative
/// when the last one lies left of it).
fn fractional_digits(digits: &[u8], exponent: i32) -> i64 {
    if digits.is_empty() {
        0
    } else {
        digits.len() as i64 - 1 - i64::from(exponent)
    }
}

impl Numeric {
    /// Zero shown with `scale` digits after the point (at most [`SCALE_MAX`]).
    pub fn zero(scale: u16) -> Numeric {
        Numeric::Finite(FiniteNumeric::zero(scale.min(SCALE_MAX)))
    }

    pub fn is_nan(&self) -> bool {
        matches!(self, Numeric::NaN)
    }

    /// The display scale; 0 for NaN and the infinities.
    pub fn scale(&self) -> u16 {
        match self {
            Numeric::Finite(finite) => finite.scale,
            _ => 0,
        }
    }

    /// The place in the order, before digits count: NaN and the infinities are
    /// classes of their own, finite values are ordered by sign first.
    fn class(&self) -> i32 {
        match self {
            Numeric::NegativeInfinity => -2,
            Numeric::Finite(finite) => finite.signum(),
            Numeric::Infinity => 2,
            Numeric::NaN => 3,
        }
    }
}

impl PartialEq for Numeric {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Numeric {}

impl Ord for Numeric {
    fn cmp(&self, other: &Self) -> Ordering {
        self.class().cmp(&other.class()).then_with(|| match (self, other) {
            (Numeric::Finite(left), Numeric::Finite(right)) if left.negative => right.compare_magnitude(left),
            (Numeric::Finite(left), Numeric::Finite(right)) => left.compare_magnitude(right),
            _ => Ordering::Equal,
        })
    }
}

impl PartialOrd for Numeric {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Hashes what equality compares: the class, and for finite values the digits and
/// exponent, never the scale.
impl Hash for Numeric {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.class().hash(state);
        if let Numeric::Finite(finite) = self {
            finite.digits.hash(state);
            finite.exponent.hash(state);
        }
    }
}

/// Shows the text form, which is what a failing test needs to see.
impl fmt::Debug for Numeric {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Numeric({self})")
    }
}
