//! SQL types and values with PostgreSQL's names, OIDs and output formats.
//!
//! A [`Value`] carries its own type: PostgreSQL resolves operators by the
//! types of their operands (`int4 + int4` is `int4` and overflows at 2^31), so
//! `smallint`, `integer` and `bigint` stay distinct rather than one `i64`.
//! `varchar(n)` values are `Text`: the length limit is the column's, checked
//! when a value is stored ([`DataType::coerce_for_column`] in `cast`).
//!
//! Text output is PostgreSQL's: booleans as `t`/`f`, floats in the shortest
//! form that reads back exactly (PostgreSQL 12+ with `extra_float_digits`
//! at its default of 1), switching to exponent notation as PostgreSQL does.

use std::cmp::Ordering;
use std::fmt;

use super::datetime::{self, Interval, TimestampTz};
use super::jsonb::Jsonb;
use super::{bytea, character, uuid};
use crate::numeric::Numeric;

/// A column's or an expression's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(precision, scale)`, or `numeric` of any precision and scale.
    Numeric(Option<(u16, i16)>),
    Text,
    /// `varchar(n)`; `None` for `varchar` without a limit.
    Varchar(Option<u32>),
    /// `character(n)`, blank-padded to n; `None` for `bpchar` without a length.
    Char(Option<u32>),
    Bytea,
    Uuid,
    Date,
    /// `timestamp without time zone`.
    Timestamp,
    /// `timestamp with time zone`.
    TimestampTz,
    Interval,
    Jsonb,
    /// A literal whose type the context decides (`'abc'`, an untyped parameter).
    Unknown,
}

impl DataType {
    /// PostgreSQL's type OID, as RowDescription and ParameterDescription carry it.
    pub fn oid(self) -> u32 {
        match self {
            DataType::Bool => 16,
            DataType::Int2 => 21,
            DataType::Int4 => 23,
            DataType::Int8 => 20,
            DataType::Float4 => 700,
            DataType::Float8 => 701,
            DataType::Numeric(_) => 1700,
            DataType::Text => 25,
            DataType::Varchar(_) => 1043,
            DataType::Char(_) => 1042,
            DataType::Bytea => 17,
            DataType::Uuid => 2950,
            DataType::Date => 1082,
            DataType::Timestamp => 1114,
            DataType::TimestampTz => 1184,
            DataType::Interval => 1186,
            DataType::Jsonb => 3802,
            DataType::Unknown => 705,
        }
    }

    /// The type modifier RowDescription carries: -1 unless a length is set
    /// (`varchar(n)` stores n + 4, counting the length word, as PostgreSQL does).
    pub fn type_modifier(self) -> i32 {
        match self {
            DataType::Varchar(Some(length)) | DataType::Char(Some(length)) => length as i32 + 4,
            DataType::Numeric(Some((precision, scale))) => {
                ((i32::from(precision) << 16) | (i32::from(scale) & 0xffff)) + 4
            }
            _ => -1,
        }
    }

    /// The size RowDescription reports: the width of fixed-size types, -1 otherwise.
    pub fn wire_size(self) -> i16 {
        match self {
            DataType::Bool => 1,
            DataType::Int2 => 2,
            DataType::Int4 | DataType::Float4 | DataType::Date => 4,
            DataType::Int8 | DataType::Float8 | DataType::Timestamp | DataType::TimestampTz => 8,
            DataType::Uuid | DataType::Interval => 16,
            DataType::Numeric(_)
            | DataType::Text
            | DataType::Varchar(_)
            | DataType::Char(_)
            | DataType::Bytea
            | DataType::Jsonb => -1,
            DataType::Unknown => -2,
        }
    }

    /// The type's name as `format_type` prints it.
    pub fn name(self) -> String {
        match self {
            DataType::Bool => "boolean".into(),
            DataType::Int2 => "smallint".into(),
            DataType::Int4 => "integer".into(),
            DataType::Int8 => "bigint".into(),
            DataType::Float4 => "real".into(),
            DataType::Float8 => "double precision".into(),
            DataType::Numeric(None) => "numeric".into(),
            DataType::Numeric(Some((precision, scale))) => format!("numeric({precision},{scale})"),
            DataType::Text => "text".into(),
            DataType::Varchar(None) => "character varying".into(),
            DataType::Varchar(Some(length)) => format!("character varying({length})"),
            DataType::Char(None) => "bpchar".into(),
            DataType::Char(Some(length)) => format!("character({length})"),
            DataType::Unknown => "unknown".into(),
            other => other.input_name().into(),
        }
    }

    /// The name PostgreSQL uses in input-syntax errors (`invalid input syntax for type integer`).
    pub fn input_name(self) -> &'static str {
        match self {
            DataType::Bool => "boolean",
            DataType::Int2 => "smallint",
            DataType::Int4 => "integer",
            DataType::Int8 => "bigint",
            DataType::Float4 => "real",
            DataType::Float8 => "double precision",
            DataType::Numeric(_) => "numeric",
            DataType::Text | DataType::Varchar(_) | DataType::Unknown => "text",
            DataType::Char(_) => "character",
            DataType::Bytea => "bytea",
            DataType::Uuid => "uuid",
            DataType::Date => "date",
            DataType::Timestamp => "timestamp without time zone",
            DataType::TimestampTz => "timestamp with time zone",
            DataType::Interval => "interval",
            DataType::Jsonb => "jsonb",
        }
    }

    pub fn is_integer(self) -> bool {
        matches!(self, DataType::Int2 | DataType::Int4 | DataType::Int8)
    }

    pub fn is_float(self) -> bool {
        matches!(self, DataType::Float4 | DataType::Float8)
    }

    pub fn is_numeric(self) -> bool {
        self.is_integer() || self.is_float() || matches!(self, DataType::Numeric(_))
    }

    /// Text or varchar: `character(n)` is apart, its trailing blanks insignificant.
    pub fn is_string(self) -> bool {
        matches!(self, DataType::Text | DataType::Varchar(_))
    }

    pub fn is_datetime(self) -> bool {
        matches!(self, DataType::Date | DataType::Timestamp | DataType::TimestampTz)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.name())
    }
}

/// One SQL value.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Numeric(Numeric),
    Text(String),
    /// A `character(n)` value as stored, blank-padded to its column's length.
    Char(String),
    Bytea(Vec<u8>),
    Uuid([u8; 16]),
    /// Days since 2000-01-01; `i32::MIN` and `i32::MAX` are -infinity and infinity.
    Date(i32),
    /// Microseconds since 2000-01-01 00:00; `i64::MIN` and `i64::MAX` are the infinities.
    Timestamp(i64),
    TimestampTz(TimestampTz),
    Interval(Interval),
    Jsonb(Box<Jsonb>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value's type; `Unknown` for NULL, whose type is the context's.
    pub fn data_type(&self) -> DataType {
        match self {
            Value::Null => DataType::Unknown,
            Value::Bool(_) => DataType::Bool,
            Value::Int2(_) => DataType::Int2,
            Value::Int4(_) => DataType::Int4,
            Value::Int8(_) => DataType::Int8,
            Value::Float4(_) => DataType::Float4,
            Value::Float8(_) => DataType::Float8,
            Value::Numeric(_) => DataType::Numeric(None),
            Value::Text(_) => DataType::Text,
            Value::Char(_) => DataType::Char(None),
            Value::Bytea(_) => DataType::Bytea,
            Value::Uuid(_) => DataType::Uuid,
            Value::Date(_) => DataType::Date,
            Value::Timestamp(_) => DataType::Timestamp,
            Value::TimestampTz(_) => DataType::TimestampTz,
            Value::Interval(_) => DataType::Interval,
            Value::Jsonb(_) => DataType::Jsonb,
        }
    }

    /// PostgreSQL's text output; None for NULL.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(value) => if *value { "t" } else { "f" }.to_string(),
            Value::Int2(value) => value.to_string(),
            Value::Int4(value) => value.to_string(),
            Value::Int8(value) => value.to_string(),
            Value::Float4(value) => float_text(f64::from(*value), format!("{value:e}"), 6),
            Value::Float8(value) => float_text(*value, format!("{value:e}"), 15),
            Value::Numeric(value) => value.to_string(),
            Value::Text(value) | Value::Char(value) => value.clone(),
            Value::Bytea(bytes) => bytea::to_text(bytes),
            Value::Uuid(bytes) => uuid::to_text(bytes),
            Value::Date(days) => datetime::date_text(*days),
            Value::Timestamp(micros) => datetime::timestamp_text(*micros),
            Value::TimestampTz(value) => value.to_text(),
            Value::Interval(interval) => interval.to_string(),
            Value::Jsonb(json) => json.to_string(),
        })
    }

    /// SQL comparison of two non-null values of one type; None when either is
    /// NULL or the types differ (the binder casts operands to one type first).
    /// Floats order as PostgreSQL orders them: NaN above everything, -0 = 0.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        Some(match (self, other) {
            (Value::Bool(left), Value::Bool(right)) => left.cmp(right),
            (Value::Int2(left), Value::Int2(right)) => left.cmp(right),
            (Value::Int4(left), Value::Int4(right)) => left.cmp(right),
            (Value::Int8(left), Value::Int8(right)) => left.cmp(right),
            (Value::Float4(left), Value::Float4(right)) => float_order(f64::from(*left), f64::from(*right)),
            (Value::Float8(left), Value::Float8(right)) => float_order(*left, *right),
            (Value::Numeric(left), Value::Numeric(right)) => left.cmp(right),
            (Value::Text(left), Value::Text(right)) => left.as_bytes().cmp(right.as_bytes()),
            (Value::Char(left), Value::Char(right)) => character::trimmed(left).cmp(character::trimmed(right)),
            (Value::Bytea(left), Value::Bytea(right)) => left.cmp(right),
            (Value::Uuid(left), Value::Uuid(right)) => left.cmp(right),
            (Value::Date(left), Value::Date(right)) => left.cmp(right),
            (Value::Timestamp(left), Value::Timestamp(right)) => left.cmp(right),
            (Value::TimestampTz(left), Value::TimestampTz(right)) => left.micros.cmp(&right.micros),
            (Value::Interval(left), Value::Interval(right)) => left.cmp(right),
            (Value::Jsonb(left), Value::Jsonb(right)) => left.cmp(right),
            _ => return None,
        })
    }

    /// The order of ORDER BY and of grouping: NULLs after every value (the
    /// caller flips it for NULLS FIRST), values of one type by [`Value::compare`].
    pub fn sort_order(&self, other: &Value) -> Ordering {
        match (self.is_null(), other.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                self.compare(other).unwrap_or_else(|| self.data_type().oid().cmp(&other.data_type().oid()))
            }
        }
    }
}

/// Equality for grouping, DISTINCT and tests: NULL equals NULL here (as in
/// GROUP BY), unlike SQL's `=`.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.sort_order(other) == Ordering::Equal && self.data_type() == other.data_type()
    }
}

impl Eq for Value {}

fn float_order(left: f64, right: f64) -> Ordering {
    match (left.is_nan(), right.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => left.partial_cmp(&right).expect("neither is NaN"),
    }
}

/// PostgreSQL's float output from the shortest round-trip digits (`scientific`,
/// Rust's `{:e}` form such as `1.5e-7`): plain notation when the decimal exponent
/// is in `-4..digits_max`, otherwise `d.ddde+XX` with at least two exponent digits.
fn float_text(value: f64, scientific: String, digits_max: i32) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} output has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponents are integers");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if exponent < -4 || exponent >= digits_max {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{point}e{exponent_sign}{:02}", exponent.abs());
    }
    let point_after = exponent + 1;
    let text = if point_after <= 0 {
        format!("0.{}{digits}", "0".repeat((-point_after) as usize))
    } else if point_after as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point_after as usize - digits.len()))
    } else {
        let (whole, fraction) = digits.split_at(point_after as usize);
        format!("{whole}.{fraction}")
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_postgresql_prints_them() {
        // Each pair checked against PostgreSQL 15: `select <value>::float8`.
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (0.1, "0.1"),
            (100.0, "100"),
            (123456789012345.0, "123456789012345"),
            (1e15, "1e+15"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (1e100, "1e+100"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (-0.0, "-0"),
            (1.0 / 3.0, "0.3333333333333333"),
        ];
        for (value, text) in cases {
            assert_eq!(Value::Float8(*value).to_text().as_deref(), Some(*text), "{value:e}");
        }
        let cases: &[(f32, &str)] = &[(1.1, "1.1"), (123456.0, "123456"), (1e6, "1e+06"), (0.3, "0.3")];
        for (value, text) in cases {
            assert_eq!(Value::Float4(*value).to_text().as_deref(), Some(*text), "{value:e}");
        }
    }

    #[test]
    fn nulls_sort_last_and_nan_above_infinity() {
        let mut values = [Value::Null, Value::Float8(f64::NAN), Value::Float8(f64::INFINITY), Value::Float8(-1.0)];
        values.sort_by(Value::sort_order);
        let texts: Vec<_> = values.iter().map(Value::to_text).collect();
        assert_eq!(texts, [Some("-1".into()), Some("Infinity".into()), Some("NaN".into()), None]);
        assert_eq!(Value::Float8(-0.0).compare(&Value::Float8(0.0)), Some(Ordering::Equal));
        assert_eq!(Value::Int4(1).compare(&Value::Int8(1)), None, "the binder casts first");
    }
}
