//! Typmods (NUMERIC(precision, scale)) and conversions to and from integers and
//! floats, as PostgreSQL 15 casts them.
//!
//! Integers convert after rounding half away from zero (`2.5::int8` is 3). A float
//! becomes the NUMERIC of its shortest form with 15 significant digits, as
//! PostgreSQL prints it with `%.15g` and parses that back (`0.1::float8::numeric` is
//! 0.1; ties at the fifteenth digit go to even, as printf rounds); a NUMERIC becomes
//! the float nearest to its text, and one outside the float range, or so small it
//! would read as zero, is an error.

use super::{FiniteNumeric, Numeric, NumericError, PRECISION_MAX};

/// The digits a float keeps on its way to NUMERIC (C's DBL_DIG).
const FLOAT_DIGITS: usize = 15;

impl Numeric {
    /// The value as a NUMERIC(precision, scale) column stores it: rounded to `scale`,
    /// and an error when it then needs more than `precision - scale` digits before the
    /// point, or is an infinity (NaN is allowed, as in PostgreSQL). An invalid
    /// precision (1..=1000) or scale (-1000..=1000) is an error of its own.
    pub fn apply_typmod(&self, precision: i32, scale: i32) -> Result<Numeric, NumericError> {
        check_typmod(precision, scale)?;
        match self {
            Numeric::NaN => Ok(Numeric::NaN),
            Numeric::Infinity | Numeric::NegativeInfinity => Err(NumericError::field_overflow(format!(
                "A field with precision {precision}, scale {scale} cannot hold an infinite value."
            ))),
            Numeric::Finite(_) => {
                let rounded = self.round(scale)?;
                let integer_digits_max = precision - scale;
                match &rounded {
                    Numeric::Finite(value) if !value.is_zero() && value.exponent + 1 > integer_digits_max => {
                        // PostgreSQL writes 10^0 as 1.
                        let bound = match integer_digits_max {
                            0 => "1".to_string(),
                            digits => format!("10^{digits}"),
                        };
                        Err(NumericError::field_overflow(format!(
                            "A field with precision {precision}, scale {scale} must round to an absolute value less than {bound}."
                        )))
                    }
                    _ => Ok(rounded),
                }
            }
        }
    }

    /// The value rounded to an integer, when it fits an i64 ("bigint out of range" else).
    pub fn to_i64(&self) -> Result<i64, NumericError> {
        self.to_integer("bigint").and_then(|value| i64::try_from(value).map_err(|_| out_of_range("bigint")))
    }

    pub fn to_i32(&self) -> Result<i32, NumericError> {
        self.to_integer("integer").and_then(|value| i32::try_from(value).map_err(|_| out_of_range("integer")))
    }

    pub fn to_i16(&self) -> Result<i16, NumericError> {
        self.to_integer("smallint").and_then(|value| i16::try_from(value).map_err(|_| out_of_range("smallint")))
    }

    /// Rounded to an integer, as an i128 when it has at most 19 digits (every i64
    /// does), or the out of range error of `type_name`.
    fn to_integer(&self, type_name: &str) -> Result<i128, NumericError> {
        let cannot = |what: &str| NumericError::new("0A000", format!("cannot convert {what} to {type_name}"));
        let rounded = match self {
            Numeric::NaN => return Err(cannot("NaN")),
            Numeric::Infinity | Numeric::NegativeInfinity => return Err(cannot("infinity")),
            Numeric::Finite(_) => self.round(0)?,
        };
        let Numeric::Finite(value) = rounded else { return Err(cannot("NaN")) };
        if value.exponent >= 19 {
            return Err(out_of_range(type_name));
        }
        let digit_at = |index: i32| i128::from(value.digits.get(index as usize).copied().unwrap_or(0));
        let magnitude =
            if value.is_zero() { 0 } else { (0..=value.exponent).fold(0i128, |sum, index| sum * 10 + digit_at(index)) };
        Ok(if value.negative { -magnitude } else { magnitude })
    }

    /// The float nearest to the value; NaN and the infinities map to their own.
    pub fn to_f64(&self) -> Result<f64, NumericError> {
        match self {
            Numeric::NaN => Ok(f64::NAN),
            Numeric::Infinity => Ok(f64::INFINITY),
            Numeric::NegativeInfinity => Ok(f64::NEG_INFINITY),
            Numeric::Finite(value) => {
                let text = self.to_string();
                let float: f64 = text.parse().map_err(|_| float_out_of_range(&text))?;
                // PostgreSQL's float8in refuses what strtod reports as out of range:
                // overflow, and underflow to zero (but not to a subnormal).
                if float.is_infinite() || (float == 0.0 && !value.is_zero()) {
                    return Err(float_out_of_range(&text));
                }
                Ok(float)
            }
        }
    }

    /// The float's 15 significant digits, as PostgreSQL casts float8 to numeric.
    pub fn from_f64(value: f64) -> Numeric {
        if value.is_nan() {
            return Numeric::NaN;
        }
        if value.is_infinite() {
            return if value > 0.0 { Numeric::Infinity } else { Numeric::NegativeInfinity };
        }
        // Rust's exponent formatting rounds the exact binary value correctly, ties to
        // even, as glibc's printf does: "d.dddddddddddddde-x".
        let text = format!("{:.*e}", FLOAT_DIGITS - 1, value.abs());
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).map(|byte| byte - b'0').collect();
        let exponent: i64 = exponent.parse().unwrap_or(0);
        // %.15g drops trailing zeros, so the scale counts the significant digits only.
        let significant = digits.iter().rposition(|&digit| digit != 0).map_or(0, |last| last + 1) as i64;
        let scale = (significant - 1 - exponent).max(0);
        // Finite floats lie far inside the limits, so this cannot fail.
        FiniteNumeric::normalize(value < 0.0, digits, exponent, scale).map_or(Numeric::NaN, Numeric::Finite)
    }
}

impl From<i64> for Numeric {
    fn from(value: i64) -> Numeric {
        let digits: Vec<u8> = value.unsigned_abs().to_string().bytes().map(|byte| byte - b'0').collect();
        let exponent = digits.len() as i64 - 1;
        // At most 20 digits with scale 0: within the limits.
        FiniteNumeric::normalize(value < 0, digits, exponent, 0).map_or(Numeric::NaN, Numeric::Finite)
    }
}

impl From<i32> for Numeric {
    fn from(value: i32) -> Numeric {
        Numeric::from(i64::from(value))
    }
}

fn check_typmod(precision: i32, scale: i32) -> Result<(), NumericError> {
    if !(1..=PRECISION_MAX).contains(&precision) {
        return Err(NumericError::new(
            "22023",
            format!("NUMERIC precision {precision} must be between 1 and {PRECISION_MAX}"),
        ));
    }
    if !(-PRECISION_MAX..=PRECISION_MAX).contains(&scale) {
        return Err(NumericError::new(
            "22023",
            format!("NUMERIC scale {scale} must be between -{PRECISION_MAX} and {PRECISION_MAX}"),
        ));
    }
    Ok(())
}

fn out_of_range(type_name: &str) -> NumericError {
    NumericError::new("22003", format!("{type_name} out of range"))
}

fn float_out_of_range(text: &str) -> NumericError {
    NumericError::new("22003", format!("\"{text}\" is out of range for type double precision"))
}
