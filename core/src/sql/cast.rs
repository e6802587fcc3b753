//! Conversions between types as PostgreSQL performs them: the input functions
//! that read text (`'42'::integer`, an untyped literal meeting a column), the
//! casts between numeric types with their range checks, and the coercion of a
//! value into a column (where `varchar(n)` checks its length).
//!
//! Messages and SQLSTATEs are PostgreSQL 15's, checked against it:
//! `invalid input syntax for type integer: "x"` (22P02), `value "x" is out of
//! range for type integer` and `integer out of range` (22003), `value too long
//! for type character varying(3)` (22001).

use super::datetime::{self, parse as datetime_parse, TimeZone, TimestampTz};
use super::error::{SqlError, SqlResult, SqlState};
use super::types::{DataType, Value};
use super::{bytea, character, jsonb, uuid};
use crate::numeric::Numeric;

fn invalid_input(data_type: DataType, text: &str) -> SqlError {
    SqlError::new(
        SqlState::INVALID_TEXT_REPRESENTATION,
        format!("invalid input syntax for type {}: \"{text}\"", data_type.input_name()),
    )
}

/// 22003 as the integer operators word it: `integer out of range`.
pub fn integer_out_of_range(data_type: DataType) -> SqlError {
    let name = match data_type {
        DataType::Int2 => "smallint",
        DataType::Int4 => "integer",
        _ => "bigint",
    };
    SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, format!("{name} out of range"))
}

/// Whether converting `from` to `to` reads the session's time zone (a
/// timestamptz meeting text or local time): such a cast is left for
/// evaluation, where the zone is known, rather than folded at bind time.
pub fn needs_time_zone(from: DataType, to: DataType) -> bool {
    let local = |data_type: DataType| {
        data_type.is_string()
            || matches!(data_type, DataType::Unknown | DataType::Char(_) | DataType::Date | DataType::Timestamp)
    };
    (to == DataType::TimestampTz && local(from)) || (from == DataType::TimestampTz && local(to))
}

fn zone_needed(zone: Option<TimeZone>) -> SqlResult<TimeZone> {
    zone.ok_or_else(|| SqlError::internal("a time zone conversion without the session's time zone"))
}

/// Reads `text` as a value of `data_type`, as PostgreSQL's input function does.
pub fn parse_text(text: &str, data_type: DataType) -> SqlResult<Value> {
    parse_text_in(text, data_type, None)
}

/// [`parse_text`] with the session's time zone, which timestamptz input needs.
pub fn parse_text_in(text: &str, data_type: DataType, zone: Option<TimeZone>) -> SqlResult<Value> {
    match data_type {
        // Padded, never cut: storing refuses what is too long (22001), an explicit cast cuts.
        DataType::Char(length) if text.chars().count() < length.unwrap_or(0) as usize => {
            Ok(Value::Char(character::padded(text, length)))
        }
        DataType::Char(_) => Ok(Value::Char(text.to_string())),
        DataType::Bytea => bytea::parse(text).map(Value::Bytea),
        DataType::Uuid => uuid::parse(text).map(Value::Uuid),
        DataType::Date => datetime_parse::parse_date(text).map(Value::Date),
        DataType::Timestamp => datetime_parse::parse_timestamp(text).map(Value::Timestamp),
        DataType::TimestampTz => {
            let zone = zone_needed(zone)?;
            let micros = datetime_parse::parse_timestamptz(text, zone)?;
            Ok(Value::TimestampTz(TimestampTz { micros, shown_in: zone }))
        }
        DataType::Interval => datetime::interval::parse(text).map(Value::Interval),
        DataType::Jsonb => jsonb::parse(text).map(|json| Value::Jsonb(Box::new(json))),
        DataType::Bool => parse_bool(text).map(Value::Bool).ok_or_else(|| invalid_input(data_type, text)),
        DataType::Int2 | DataType::Int4 | DataType::Int8 => parse_integer(text, data_type),
        DataType::Float4 | DataType::Float8 => parse_float(text, data_type),
        DataType::Numeric(typmod) => with_typmod(text.parse::<Numeric>()?, typmod),
        DataType::Text | DataType::Varchar(_) | DataType::Unknown => Ok(Value::Text(text.to_string())),
    }
}

/// PostgreSQL's boolean input: any prefix of true/false/yes/no, on/off, 1/0,
/// case-insensitive, surrounding whitespace ignored.
fn parse_bool(text: &str) -> Option<bool> {
    let word = text.trim().to_ascii_lowercase();
    let prefix_of = |full: &str| !word.is_empty() && full.starts_with(&word);
    match word.as_str() {
        "1" => Some(true),
        "0" => Some(false),
        // "o" alone is ambiguous between on and off.
        "o" => None,
        _ if prefix_of("true") || prefix_of("yes") || (word.len() >= 2 && prefix_of("on")) => Some(true),
        _ if prefix_of("false") || prefix_of("no") || (word.len() >= 2 && prefix_of("off")) => Some(false),
        _ => None,
    }
}

fn parse_integer(text: &str, data_type: DataType) -> SqlResult<Value> {
    let trimmed = text.trim_matches(|character: char| character.is_ascii_whitespace());
    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid_input(data_type, text));
    }
    let out_of_range = || {
        let name = data_type.input_name();
        SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, format!("value \"{text}\" is out of range for type {name}"))
    };
    // i128 holds any digit string of up to 38 digits; longer ones are out of range anyway.
    let value: i128 =
        if digits.len() > 38 { return Err(out_of_range()) } else { trimmed.parse().map_err(|_| out_of_range())? };
    integer_value(value, data_type).ok_or_else(out_of_range)
}

/// `value` as an integer of `data_type`, if it fits.
pub fn integer_value(value: i128, data_type: DataType) -> Option<Value> {
    match data_type {
        DataType::Int2 => i16::try_from(value).ok().map(Value::Int2),
        DataType::Int4 => i32::try_from(value).ok().map(Value::Int4),
        DataType::Int8 => i64::try_from(value).ok().map(Value::Int8),
        _ => unreachable!("only integer types"),
    }
}

fn parse_float(text: &str, data_type: DataType) -> SqlResult<Value> {
    let trimmed = text.trim_matches(|character: char| character.is_ascii_whitespace());
    let lower = trimmed.to_ascii_lowercase();
    let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    let negative = lower.starts_with('-');
    let value = match unsigned {
        "nan" if lower == "nan" => f64::NAN,
        "infinity" | "inf" => {
            if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        }
        _ => {
            let well_formed = !unsigned.is_empty()
                && unsigned.bytes().all(|byte| byte.is_ascii_digit() || matches!(byte, b'.' | b'e' | b'+' | b'-'))
                && unsigned.bytes().any(|byte| byte.is_ascii_digit());
            let value: f64 = match lower.parse() {
                Ok(value) if well_formed => value,
                _ => return Err(invalid_input(data_type, text)),
            };
            let narrow_overflow = data_type == DataType::Float4 && (value as f32).is_infinite();
            if value.is_infinite() || narrow_overflow {
                let name = data_type.input_name();
                let message = format!("\"{trimmed}\" is out of range for type {name}");
                return Err(SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, message));
            }
            value
        }
    };
    Ok(match data_type {
        DataType::Float4 => Value::Float4(value as f32),
        _ => Value::Float8(value),
    })
}

/// Rounds to a `numeric(precision, scale)` column's scale, refusing what overflows it.
fn with_typmod(value: Numeric, typmod: Option<(u16, i16)>) -> SqlResult<Value> {
    Ok(Value::Numeric(match typmod {
        Some((precision, scale)) => value.apply_typmod(i32::from(precision), i32::from(scale))?,
        None => value,
    }))
}

/// Converts `value` to `to`, as an explicit cast (`CAST`, `::`) does.
pub fn cast(value: Value, to: DataType) -> SqlResult<Value> {
    cast_in(value, to, None)
}

/// [`cast`] with the session's time zone, which casts of timestamptz need.
pub fn cast_in(value: Value, to: DataType, zone: Option<TimeZone>) -> SqlResult<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let value = match value {
        // A character(n) value is text without its trailing blanks to every other type.
        Value::Char(text) if to != DataType::Char(None) => Value::Text(character::trimmed(&text).to_string()),
        value => value,
    };
    if let Some(converted) = cast_datetime(&value, to, zone) {
        return converted;
    }
    Ok(match (value, to) {
        (value, to) if is_new_type(to) && value.data_type() == to => value,
        (Value::Text(text), DataType::Char(length)) => Value::Char(character::padded(&text, length)),
        (Value::Text(text), DataType::Varchar(Some(length))) => {
            Value::Text(text.chars().take(length as usize).collect())
        }
        (Value::Text(text), to) => parse_text_in(&text, to, zone)?,
        (value, DataType::Text | DataType::Varchar(None) | DataType::Unknown) => {
            Value::Text(value.to_text().expect("not null"))
        }
        (value, DataType::Varchar(Some(length))) => {
            Value::Text(value.to_text().expect("not null").chars().take(length as usize).collect())
        }
        (value, DataType::Char(length)) => Value::Char(character::padded(&value.to_text().expect("not null"), length)),
        (Value::Bool(value), DataType::Bool) => Value::Bool(value),
        (Value::Bool(value), DataType::Int4) => Value::Int4(i32::from(value)),
        (Value::Int4(value), DataType::Bool) => Value::Bool(value != 0),
        (Value::Numeric(value), to) if to.is_integer() => match to {
            DataType::Int2 => Value::Int2(value.to_i16()?),
            DataType::Int4 => Value::Int4(value.to_i32()?),
            _ => Value::Int8(value.to_i64()?),
        },
        (Value::Numeric(value), DataType::Numeric(typmod)) => with_typmod(value, typmod)?,
        (Value::Numeric(value), DataType::Float8) => Value::Float8(value.to_f64()?),
        (Value::Numeric(value), DataType::Float4) => {
            let wide = value.to_f64()?;
            if (wide as f32).is_infinite() && wide.is_finite() {
                return Err(SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: overflow"));
            }
            Value::Float4(wide as f32)
        }
        (value, DataType::Numeric(typmod)) => {
            let numeric = match &value {
                Value::Float4(float) => Numeric::from_f64(f64::from(*float)),
                Value::Float8(float) => Numeric::from_f64(*float),
                other => Numeric::from(to_wide_integer(other).ok_or_else(|| cannot_cast(other, to))? as i64),
            };
            with_typmod(numeric, typmod)?
        }
        (value, to) if to.is_integer() => to_integer(&value, to)?,
        (value, DataType::Float8) => Value::Float8(to_float(&value).ok_or_else(|| cannot_cast(&value, to))?),
        (value, DataType::Float4) => {
            let wide = to_float(&value).ok_or_else(|| cannot_cast(&value, to))?;
            let narrow = wide as f32;
            if narrow.is_infinite() && wide.is_finite() {
                return Err(SqlError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: overflow"));
            }
            Value::Float4(narrow)
        }
        (value, to) => return Err(cannot_cast(&value, to)),
    })
}

fn is_new_type(data_type: DataType) -> bool {
    matches!(
        data_type,
        DataType::Bytea
            | DataType::Uuid
            | DataType::Date
            | DataType::Timestamp
            | DataType::TimestampTz
            | DataType::Interval
            | DataType::Jsonb
            | DataType::Char(None)
    )
}

/// Casts among date, timestamp and timestamptz, and from timestamptz to text
/// (in the session's zone); None for every other pair.
fn cast_datetime(value: &Value, to: DataType, zone: Option<TimeZone>) -> Option<SqlResult<Value>> {
    let local_of =
        |instant: &TimestampTz| zone_needed(zone).and_then(|zone| datetime::instant_to_local(instant.micros, zone));
    let instant_of = |local: i64| -> SqlResult<Value> {
        let zone = zone_needed(zone)?;
        Ok(Value::TimestampTz(TimestampTz { micros: datetime::local_to_instant(local, zone)?, shown_in: zone }))
    };
    Some(match (value, to) {
        (Value::Date(days), DataType::Timestamp) => datetime::date_to_timestamp(*days).map(Value::Timestamp),
        (Value::Date(days), DataType::TimestampTz) => datetime::date_to_timestamp(*days).and_then(instant_of),
        (Value::Timestamp(micros), DataType::Date) => Ok(Value::Date(datetime::timestamp_to_date(*micros))),
        (Value::Timestamp(micros), DataType::TimestampTz) => instant_of(*micros),
        (Value::TimestampTz(instant), DataType::Timestamp) => local_of(instant).map(Value::Timestamp),
        (Value::TimestampTz(instant), DataType::Date) => {
            local_of(instant).map(|local| Value::Date(datetime::timestamp_to_date(local)))
        }
        (Value::TimestampTz(instant), to) if to.is_string() || matches!(to, DataType::Char(_) | DataType::Unknown) => {
            let text = match zone_needed(zone) {
                Ok(zone) => datetime::timestamptz_text(instant.micros, zone),
                Err(error) => return Some(Err(error)),
            };
            cast_in(Value::Text(text), to, zone)
        }
        _ => return None,
    })
}

fn cannot_cast(value: &Value, to: DataType) -> SqlError {
    SqlError::new(SqlState::DATATYPE_MISMATCH, format!("cannot cast type {} to {to}", value.data_type()))
}

/// An integer or float as a float8 (exact for every integer up to 2^53).
pub fn to_float(value: &Value) -> Option<f64> {
    Some(match value {
        Value::Int2(value) => f64::from(*value),
        Value::Int4(value) => f64::from(*value),
        Value::Int8(value) => *value as f64,
        Value::Float4(value) => f64::from(*value),
        Value::Float8(value) => *value,
        _ => return None,
    })
}

/// An integer's value, widened.
pub fn to_wide_integer(value: &Value) -> Option<i128> {
    Some(match value {
        Value::Int2(value) => i128::from(*value),
        Value::Int4(value) => i128::from(*value),
        Value::Int8(value) => i128::from(*value),
        _ => return None,
    })
}

fn to_integer(value: &Value, to: DataType) -> SqlResult<Value> {
    let wide = match value {
        Value::Float4(_) | Value::Float8(_) => {
            // PostgreSQL rounds half to even (rint) and refuses NaN and infinities.
            let float = to_float(value).expect("a float");
            let rounded = float.round_ties_even();
            if !rounded.is_finite() || rounded.abs() >= 1.7e38 {
                return Err(integer_out_of_range(to));
            }
            rounded as i128
        }
        value => to_wide_integer(value).ok_or_else(|| cannot_cast(value, to))?,
    };
    integer_value(wide, to).ok_or_else(|| integer_out_of_range(to))
}

/// Stores `value` in a column of `to`: the assignment cast of INSERT and
/// UPDATE. Unlike an explicit cast, an over-long `varchar(n)` is an error
/// unless only spaces are cut.
pub fn assign(value: Value, to: DataType, column: &str, zone: TimeZone) -> SqlResult<Value> {
    match (&value, to) {
        (Value::Text(text) | Value::Char(text), DataType::Char(length)) => {
            Ok(Value::Char(character::assigned(text, length)?))
        }
        (Value::Char(text), to) if to.is_string() => {
            assign(Value::Text(character::trimmed(text).to_string()), to, column, zone)
        }
        (value, to) if assignable(value.data_type(), to) => cast_in(value.clone(), to, Some(zone)),
        (value, to) if is_new_type(to) || is_new_type(value.data_type()) || matches!(to, DataType::Char(_)) => {
            Err(SqlError::new(
                SqlState::DATATYPE_MISMATCH,
                format!("column \"{column}\" is of type {to} but expression is of type {}", value.data_type()),
            )
            .with_hint("You will need to rewrite or cast the expression."))
        }
        (Value::Text(text), DataType::Varchar(Some(length))) => {
            let length = length as usize;
            if text.chars().count() <= length {
                return Ok(value);
            }
            if text.chars().skip(length).all(|character| character == ' ') {
                return Ok(Value::Text(text.chars().take(length).collect()));
            }
            Err(SqlError::new(SqlState::STRING_DATA_RIGHT_TRUNCATION, format!("value too long for type {to}")))
        }
        (Value::Null, _) => Ok(Value::Null),
        (Value::Numeric(_), DataType::Numeric(Some(_))) => cast(value, to),
        (value, to) if value.data_type() == to || (to.is_string() && value.data_type().is_string()) => {
            Ok(value.clone())
        }
        (Value::Bool(_), _) | (_, DataType::Bool) => Err(SqlError::new(
            SqlState::DATATYPE_MISMATCH,
            format!("column \"{column}\" is of type {to} but expression is of type {}", value.data_type()),
        )
        .with_hint("You will need to rewrite or cast the expression.")),
        _ => cast(value, to),
    }
}

/// Whether PostgreSQL converts `from` to `to` on assignment among the types
/// added with the date and time types: one type, date and time types among
/// themselves, and anything to and from text.
fn assignable(from: DataType, to: DataType) -> bool {
    let new = is_new_type(from) || is_new_type(to);
    let stringy = |data_type: DataType| data_type.is_string() || matches!(data_type, DataType::Unknown);
    new && (from == to || (from.is_datetime() && to.is_datetime()) || stringy(from) || stringy(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(result: SqlResult<Value>) -> (SqlState, String) {
        let error = result.unwrap_err();
        (error.state, error.message)
    }

    #[test]
    fn integer_input_matches_postgresql() {
        assert_eq!(parse_text(" -42 ", DataType::Int4).unwrap(), Value::Int4(-42));
        assert_eq!(parse_text("+7", DataType::Int2).unwrap(), Value::Int2(7));
        assert_eq!(
            error_of(parse_text("12a", DataType::Int4)),
            (SqlState::INVALID_TEXT_REPRESENTATION, "invalid input syntax for type integer: \"12a\"".into())
        );
        assert_eq!(
            error_of(parse_text("99999999999", DataType::Int4)),
            (SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "value \"99999999999\" is out of range for type integer".into())
        );
        assert_eq!(parse_text("9223372036854775807", DataType::Int8).unwrap(), Value::Int8(i64::MAX));
        assert!(parse_text("", DataType::Int8).is_err() && parse_text("-", DataType::Int8).is_err());
        assert!(parse_text(&"9".repeat(100), DataType::Int8).is_err());
    }

    #[test]
    fn boolean_input_takes_prefixes_as_postgresql_does() {
        for (text, value) in [
            ("t", true),
            ("TRUE", true),
            (" yes ", true),
            ("on", true),
            ("1", true),
            ("f", false),
            ("of", false),
            ("n", false),
        ] {
            assert_eq!(parse_text(text, DataType::Bool).unwrap(), Value::Bool(value), "{text}");
        }
        for text in ["o", "", "tru e", "2", "yess"] {
            assert!(parse_text(text, DataType::Bool).is_err(), "{text}");
        }
    }

    #[test]
    fn float_input_and_its_range() {
        assert_eq!(parse_text("1.5e3", DataType::Float8).unwrap(), Value::Float8(1500.0));
        assert_eq!(parse_text("-Infinity", DataType::Float8).unwrap(), Value::Float8(f64::NEG_INFINITY));
        assert!(matches!(parse_text("NaN", DataType::Float4).unwrap(), Value::Float4(value) if value.is_nan()));
        assert_eq!(
            error_of(parse_text("1e400", DataType::Float8)),
            (SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "\"1e400\" is out of range for type double precision".into())
        );
        assert_eq!(error_of(parse_text("1e39", DataType::Float4)).0, SqlState::NUMERIC_VALUE_OUT_OF_RANGE);
        assert_eq!(error_of(parse_text("abc", DataType::Float8)).0, SqlState::INVALID_TEXT_REPRESENTATION);
        assert_eq!(error_of(parse_text("infinityx", DataType::Float8)).0, SqlState::INVALID_TEXT_REPRESENTATION);
    }

    #[test]
    fn casts_between_numbers_round_half_to_even_and_check_ranges() {
        assert_eq!(cast(Value::Float8(2.5), DataType::Int4).unwrap(), Value::Int4(2));
        assert_eq!(cast(Value::Float8(3.5), DataType::Int4).unwrap(), Value::Int4(4));
        assert_eq!(
            error_of(cast(Value::Int8(1 << 40), DataType::Int4)),
            (SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range".into())
        );
        assert_eq!(error_of(cast(Value::Float8(f64::NAN), DataType::Int8)).1, "bigint out of range");
        assert_eq!(cast(Value::Int4(7), DataType::Text).unwrap(), Value::Text("7".into()));
        assert_eq!(cast(Value::Text("abcdef".into()), DataType::Varchar(Some(3))).unwrap(), Value::Text("abc".into()));
    }

    #[test]
    fn numeric_casts_keep_postgresqls_rules() {
        let numeric = |text: &str| Value::Numeric(text.parse().unwrap());
        assert_eq!(cast(numeric("2.5"), DataType::Int4).unwrap(), Value::Int4(3), "numeric rounds half away from zero");
        assert_eq!(cast(Value::Int4(7), DataType::Numeric(Some((5, 2)))).unwrap().to_text().unwrap(), "7.00");
        let error = parse_text("1234.567", DataType::Numeric(Some((5, 2)))).unwrap_err();
        assert_eq!(
            (error.state, error.message.as_str()),
            (SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "numeric field overflow")
        );
        assert_eq!(
            error.detail.as_deref(),
            Some("A field with precision 5, scale 2 must round to an absolute value less than 10^3.")
        );
        assert_eq!(
            parse_text("abc", DataType::Numeric(None)).unwrap_err().state,
            SqlState::INVALID_TEXT_REPRESENTATION
        );
        assert_eq!(cast(Value::Float8(0.1), DataType::Numeric(None)).unwrap().to_text().unwrap(), "0.1");
    }

    #[test]
    fn assignment_to_varchar_refuses_what_does_not_fit_but_cuts_spaces() {
        let to = DataType::Varchar(Some(3));
        assert_eq!(assign(Value::Text("ab   ".into()), to, "c", TimeZone::UTC).unwrap(), Value::Text("ab ".into()));
        assert_eq!(
            error_of(assign(Value::Text("abcd".into()), to, "c", TimeZone::UTC)),
            (SqlState::STRING_DATA_RIGHT_TRUNCATION, "value too long for type character varying(3)".into())
        );
        assert_eq!(
            error_of(assign(Value::Bool(true), DataType::Int4, "c", TimeZone::UTC)).0,
            SqlState::DATATYPE_MISMATCH
        );
    }
}
