//! Arithmetic with PostgreSQL 15's result scales and special values.
//!
//! Each finite operation turns its operands into integers ([`Magnitude`]) at a common
//! scale, computes exactly, and rounds once, so results are correctly rounded
//! (half away from zero), as PostgreSQL's are.
//!
//! Division's scale is PostgreSQL's select_div_scale: estimate the quotient's weight
//! from the operands' leading base-10000 groups (`weight1 - weight2`, one less when
//! the dividend's leading group is not above the divisor's), and pick the scale giving
//! 16 significant digits, `16 - 4 * weight`, raised to either operand's scale and kept
//! within 0..=1000. The groups are PostgreSQL's, so the rule gives its scales exactly:
//! `1 / 3` has 20 digits after the point, `10 / 3.000` has 16 (its weight is 0).

use super::magnitude::Magnitude;
use super::{FiniteNumeric, Numeric, NumericError, EXPONENT_MAX, PRECISION_MAX, SCALE_MAX};

/// Significant digits a quotient has at least (PostgreSQL's NUMERIC_MIN_SIG_DIGITS).
const DIVISION_SIGNIFICANT_DIGITS: i64 = 16;
/// The largest scale division gives (NUMERIC_MAX_DISPLAY_SCALE).
const DIVISION_SCALE_MAX: i64 = 1000;
/// The bound on the scales `round` and `trunc` take (NUMERIC_MAX_RESULT_SCALE).
const ROUNDING_SCALE_BOUND: i32 = 2 * PRECISION_MAX;

impl Numeric {
    pub fn add(&self, other: &Numeric) -> Result<Numeric, NumericError> {
        use Numeric::*;
        match (self, other) {
            (NaN, _) | (_, NaN) | (Infinity, NegativeInfinity) | (NegativeInfinity, Infinity) => Ok(NaN),
            (Infinity, _) | (_, Infinity) => Ok(Infinity),
            (NegativeInfinity, _) | (_, NegativeInfinity) => Ok(NegativeInfinity),
            (Finite(left), Finite(right)) => signed_sum(left, right, false).map(Finite),
        }
    }

    pub fn subtract(&self, other: &Numeric) -> Result<Numeric, NumericError> {
        use Numeric::*;
        match (self, other) {
            (NaN, _) | (_, NaN) | (Infinity, Infinity) | (NegativeInfinity, NegativeInfinity) => Ok(NaN),
            (Infinity, _) | (_, NegativeInfinity) => Ok(Infinity),
            (NegativeInfinity, _) | (_, Infinity) => Ok(NegativeInfinity),
            (Finite(left), Finite(right)) => signed_sum(left, right, true).map(Finite),
        }
    }

    pub fn multiply(&self, other: &Numeric) -> Result<Numeric, NumericError> {
        use Numeric::*;
        match (self, other) {
            (NaN, _) | (_, NaN) => Ok(NaN),
            (Finite(left), Finite(right)) => product(left, right).map(Finite),
            // An infinity times a finite value or another infinity: NaN for zero,
            // else an infinity with the sign of the product.
            _ => Ok(match self.sign() * other.sign() {
                0 => NaN,
                1 => Infinity,
                _ => NegativeInfinity,
            }),
        }
    }

    /// `self / other` at PostgreSQL's division scale; dividing by zero is an error.
    pub fn divide(&self, other: &Numeric) -> Result<Numeric, NumericError> {
        use Numeric::*;
        match (self, other) {
            (NaN, _) | (_, NaN) => Ok(NaN),
            (Infinity | NegativeInfinity, Infinity | NegativeInfinity) => Ok(NaN),
            (Infinity | NegativeInfinity, Finite(divisor)) => match self.sign() * divisor.signum() {
                0 => Err(NumericError::division_by_zero()),
                1 => Ok(Infinity),
                _ => Ok(NegativeInfinity),
            },
            (Finite(_), Infinity | NegativeInfinity) => Ok(Numeric::zero(0)),
            (Finite(dividend), Finite(divisor)) => quotient(dividend, divisor).map(Finite),
        }
    }

    /// The remainder of truncating division, with the dividend's sign and the larger scale.
    pub fn modulo(&self, other: &Numeric) -> Result<Numeric, NumericError> {
        use Numeric::*;
        match (self, other) {
            (NaN, _) | (_, NaN) => Ok(NaN),
            (Infinity | NegativeInfinity, _) if other.sign() == 0 => Err(NumericError::division_by_zero()),
            (Infinity | NegativeInfinity, _) => Ok(NaN),
            (Finite(_), Infinity | NegativeInfinity) => Ok(self.clone()),
            (Finite(dividend), Finite(divisor)) => remainder(dividend, divisor).map(Finite),
        }
    }

    pub fn negate(&self) -> Numeric {
        match self {
            Numeric::NaN => Numeric::NaN,
            Numeric::Infinity => Numeric::NegativeInfinity,
            Numeric::NegativeInfinity => Numeric::Infinity,
            Numeric::Finite(value) => {
                Numeric::Finite(FiniteNumeric { negative: !value.negative && !value.is_zero(), ..value.clone() })
            }
        }
    }

    pub fn abs(&self) -> Numeric {
        match self {
            Numeric::NegativeInfinity => Numeric::Infinity,
            Numeric::Finite(value) => Numeric::Finite(FiniteNumeric { negative: false, ..value.clone() }),
            other => other.clone(),
        }
    }

    /// -1, 0 or 1 by the sign (an infinity counts as its sign; NaN as 0).
    pub fn sign(&self) -> i32 {
        match self {
            Numeric::NaN => 0,
            Numeric::Infinity => 1,
            Numeric::NegativeInfinity => -1,
            Numeric::Finite(value) => value.signum(),
        }
    }

    /// Rounds half away from zero to `scale` digits after the point (a negative scale
    /// rounds left of it); the result shows `max(scale, 0)` digits. Scales beyond ±2000
    /// are taken as ±2000, as in PostgreSQL. NaN and the infinities stay as they are.
    pub fn round(&self, scale: i32) -> Result<Numeric, NumericError> {
        self.rescaled(scale, true)
    }

    /// Like [`Numeric::round`], dropping the digits instead.
    pub fn trunc(&self, scale: i32) -> Result<Numeric, NumericError> {
        self.rescaled(scale, false)
    }

    fn rescaled(&self, scale: i32, rounding: bool) -> Result<Numeric, NumericError> {
        match self {
            Numeric::Finite(value) => {
                let scale = scale.clamp(-ROUNDING_SCALE_BOUND, ROUNDING_SCALE_BOUND);
                rescale(value, i64::from(scale), rounding).map(Numeric::Finite)
            }
            special => Ok(special.clone()),
        }
    }
}

/// `left + right`, or `left - right` when `subtract`, at the larger of their scales.
fn signed_sum(left: &FiniteNumeric, right: &FiniteNumeric, subtract: bool) -> Result<FiniteNumeric, NumericError> {
    let scale = i64::from(left.scale.max(right.scale));
    let (left_magnitude, right_magnitude) = (scaled(left, scale), scaled(right, scale));
    let right_negative = right.negative != subtract;
    let (negative, magnitude) = if left.negative == right_negative {
        (left.negative, left_magnitude.add(&right_magnitude))
    } else if left_magnitude >= right_magnitude {
        (left.negative, left_magnitude.subtract(&right_magnitude))
    } else {
        (right_negative, right_magnitude.subtract(&left_magnitude))
    };
    from_scaled(negative, &magnitude, scale, scale)
}

/// The exact product, rounded only when its scale exceeds the largest one.
fn product(left: &FiniteNumeric, right: &FiniteNumeric) -> Result<FiniteNumeric, NumericError> {
    // The product's first digit lies at the sum of the exponents or one above:
    // refuse what must overflow before multiplying huge digit strings.
    if i64::from(left.exponent) + i64::from(right.exponent) > i64::from(EXPONENT_MAX) {
        return Err(NumericError::overflow());
    }
    let negative = left.negative != right.negative;
    let digits =
        Magnitude::from_digits(&left.digits, 0).multiply(&Magnitude::from_digits(&right.digits, 0)).to_digits();
    let exponent = digits.len() as i64 - 1 + left.last_exponent() + right.last_exponent();
    let exact_scale = i64::from(left.scale) + i64::from(right.scale);
    if exact_scale > i64::from(SCALE_MAX) {
        rescale_digits(negative, &digits, exponent, i64::from(SCALE_MAX), true)
    } else {
        FiniteNumeric::normalize(negative, digits, exponent, exact_scale)
    }
}

/// The quotient at PostgreSQL's division scale, rounded half away from zero.
fn quotient(dividend: &FiniteNumeric, divisor: &FiniteNumeric) -> Result<FiniteNumeric, NumericError> {
    if divisor.is_zero() {
        return Err(NumericError::division_by_zero());
    }
    let scale = division_scale(dividend, divisor);
    if dividend.is_zero() {
        return Ok(FiniteNumeric::zero(scale as u16));
    }
    // The quotient's first digit lies at the exponents' difference or one below.
    if i64::from(dividend.exponent) - i64::from(divisor.exponent) - 1 > i64::from(EXPONENT_MAX) {
        return Err(NumericError::overflow());
    }
    // dividend / divisor * 10^scale = dividend digits / divisor digits * 10^shift.
    let shift = dividend.last_exponent() - divisor.last_exponent() + scale;
    let numerator = Magnitude::from_digits(&dividend.digits, shift.max(0) as usize);
    let denominator = Magnitude::from_digits(&divisor.digits, (-shift).max(0) as usize);
    let (mut whole, rest) = numerator.divide(&denominator).ok_or_else(NumericError::division_by_zero)?;
    // Half away from zero: up when the remainder is at least half the divisor.
    if rest.add(&rest) >= denominator {
        whole = whole.add(&Magnitude::from_digits(&[1], 0));
    }
    from_scaled(dividend.negative != divisor.negative, &whole, scale, scale)
}

/// PostgreSQL's select_div_scale (see the module doc).
fn division_scale(dividend: &FiniteNumeric, divisor: &FiniteNumeric) -> i64 {
    let (dividend_weight, dividend_group) = leading_group(dividend);
    let (divisor_weight, divisor_group) = leading_group(divisor);
    let mut quotient_weight = dividend_weight - divisor_weight;
    if dividend_group <= divisor_group {
        quotient_weight -= 1;
    }
    (DIVISION_SIGNIFICANT_DIGITS - 4 * quotient_weight)
        .max(i64::from(dividend.scale))
        .max(i64::from(divisor.scale))
        .clamp(0, DIVISION_SCALE_MAX)
}

/// The weight and value of the first nonzero base-10000 group (groups are aligned at
/// the point: group `w` holds the digits of 10^(4w) to 10^(4w + 3)); (0, 0) for zero.
pub(super) fn leading_group(value: &FiniteNumeric) -> (i64, u32) {
    if value.is_zero() {
        return (0, 0);
    }
    let weight = i64::from(value.exponent).div_euclid(4);
    let in_group = value.exponent.rem_euclid(4) as usize + 1;
    let group =
        (0..in_group).fold(0u32, |group, index| group * 10 + u32::from(value.digits.get(index).copied().unwrap_or(0)));
    (weight, group)
}

/// The remainder of truncating division at the larger scale, with the dividend's sign.
fn remainder(dividend: &FiniteNumeric, divisor: &FiniteNumeric) -> Result<FiniteNumeric, NumericError> {
    let scale = i64::from(dividend.scale.max(divisor.scale));
    let (_, rest) =
        scaled(dividend, scale).divide(&scaled(divisor, scale)).ok_or_else(NumericError::division_by_zero)?;
    from_scaled(dividend.negative, &rest, scale, scale)
}

/// The value's digits as the integer `value * 10^scale`; `scale` is at least the
/// value's own, so nothing is lost.
fn scaled(value: &FiniteNumeric, scale: i64) -> Magnitude {
    let zeros = value.last_exponent() + scale;
    debug_assert!(zeros >= 0 || value.is_zero());
    Magnitude::from_digits(&value.digits, zeros.max(0) as usize)
}

/// The value `magnitude * 10^-point`, shown with `scale` digits after the point.
fn from_scaled(negative: bool, magnitude: &Magnitude, point: i64, scale: i64) -> Result<FiniteNumeric, NumericError> {
    let digits = magnitude.to_digits();
    let exponent = digits.len() as i64 - 1 - point;
    FiniteNumeric::normalize(negative, digits, exponent, scale)
}

/// Keeps the digits down to 10^-scale, rounding the rest half away from zero when
/// `rounding`, else dropping it; shows `max(scale, 0)` digits after the point.
fn rescale(value: &FiniteNumeric, scale: i64, rounding: bool) -> Result<FiniteNumeric, NumericError> {
    rescale_digits(value.negative, &value.digits, i64::from(value.exponent), scale, rounding)
}

/// [`rescale`] of the value whose digits (the first nonzero, or none) start at `exponent`.
fn rescale_digits(
    negative: bool,
    digits: &[u8],
    exponent: i64,
    scale: i64,
    rounding: bool,
) -> Result<FiniteNumeric, NumericError> {
    // How many leading digits lie at or above 10^-scale, and the one after them.
    let kept = (exponent + scale + 1).clamp(-1, digits.len() as i64);
    let next = usize::try_from(kept).ok().and_then(|kept| digits.get(kept)).copied().unwrap_or(0);
    let mut result: Vec<u8> = digits[..kept.max(0) as usize].to_vec();
    let mut result_exponent = exponent;
    if rounding && next >= 5 {
        // Carry from the last kept digit; when all are nines (or none is kept, the
        // value lying just below 10^-scale) the result is a one a place higher.
        while result.last() == Some(&9) {
            result.pop();
        }
        match result.last_mut() {
            Some(last) => *last += 1,
            None => {
                result.push(1);
                result_exponent = exponent + 1;
            }
        }
    }
    FiniteNumeric::normalize(negative, result, result_exponent, scale)
}
