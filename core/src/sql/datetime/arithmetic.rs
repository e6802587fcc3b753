//! The date and time operators PostgreSQL has and users reach for:
//! `date ± integer`, `date - date` (days, an integer), `timestamp ±
//! interval`, `timestamp - timestamp` (an interval of days and time),
//! the same for timestamptz, `interval ± interval`, `interval * number` and
//! `interval / number`. The binder has brought the operands to these types
//! (`date + interval` is `timestamp + interval`).
//!
//! Adding months keeps the day of the month, clamped to the month's length
//! (`2024-01-31 + 1 mon` is `2024-02-29`); a timestamptz does its calendar
//! arithmetic in the session's zone, as PostgreSQL does. Infinite dates and
//! timestamps stay infinite; subtracting them is an error.

use super::calendar::*;
use super::interval::{self, Interval};
use super::{checked_date, checked_timestamp, instant_to_local, local_to_instant, TimeZone, TimestampTz};
use crate::sql::cast;
use crate::sql::error::{SqlError, SqlResult, SqlState};
use crate::sql::expression::BinaryOperator;
use crate::sql::types::Value;

/// `left operator right` when it is one of these operators; None otherwise.
pub fn binary(operator: BinaryOperator, left: &Value, right: &Value, zone: TimeZone) -> Option<SqlResult<Value>> {
    use BinaryOperator::*;
    use Value::*;
    Some(match (operator, left, right) {
        (Add, Date(days), Int4(count)) | (Add, Int4(count), Date(days)) => add_days(*days, i64::from(*count)).map(Date),
        (Subtract, Date(days), Int4(count)) => add_days(*days, -i64::from(*count)).map(Date),
        (Subtract, Date(left), Date(right)) => subtract_dates(*left, *right),
        (Add, Timestamp(micros), Interval(span)) | (Add, Interval(span), Timestamp(micros)) => {
            add_interval(*micros, *span).map(Timestamp)
        }
        (Subtract, Timestamp(micros), Interval(span)) => {
            negated(*span, |span| add_interval(*micros, span).map(Timestamp))
        }
        (Add, TimestampTz(instant), Interval(span)) | (Add, Interval(span), TimestampTz(instant)) => {
            add_zoned(*instant, *span, zone)
        }
        (Subtract, TimestampTz(instant), Interval(span)) => negated(*span, |span| add_zoned(*instant, span, zone)),
        (Subtract, Timestamp(left), Timestamp(right)) => difference(*left, *right),
        (Subtract, TimestampTz(left), TimestampTz(right)) => difference(left.micros, right.micros),
        (Add, Interval(left), Interval(right)) => left.checked_add(*right).map(Interval),
        (Subtract, Interval(left), Interval(right)) => left.checked_subtract(*right).map(Interval),
        (Multiply, Interval(span), Float8(factor)) | (Multiply, Float8(factor), Interval(span)) => {
            span.scaled(*factor, false).map(Interval)
        }
        (Divide, Interval(span), Float8(divisor)) => span.scaled(*divisor, true).map(Interval),
        _ => return None,
    })
}

/// `-interval`.
pub fn negate(span: Interval) -> SqlResult<Value> {
    span.checked_negate().map(Value::Interval)
}

fn negated(span: Interval, then: impl FnOnce(Interval) -> SqlResult<Value>) -> SqlResult<Value> {
    then(span.checked_negate()?)
}

fn add_days(days: i32, count: i64) -> SqlResult<i32> {
    if days == DATE_INFINITY || days == DATE_NEGATIVE_INFINITY {
        return Ok(days);
    }
    checked_date(i64::from(days) + count)
}

fn subtract_dates(left: i32, right: i32) -> SqlResult<Value> {
    let infinite = |days: i32| days == DATE_INFINITY || days == DATE_NEGATIVE_INFINITY;
    if infinite(left) || infinite(right) {
        return Err(SqlError::new(SqlState::DATETIME_FIELD_OVERFLOW, "cannot subtract infinite dates"));
    }
    let days = i128::from(left) - i128::from(right);
    cast::integer_value(days, crate::sql::types::DataType::Int4)
        .ok_or_else(|| cast::integer_out_of_range(crate::sql::types::DataType::Int4))
}

/// A timestamp plus an interval: months on the calendar (day clamped), then
/// days on the calendar, then the time.
pub fn add_interval(micros: i64, span: Interval) -> SqlResult<i64> {
    if micros == TIMESTAMP_INFINITY || micros == TIMESTAMP_NEGATIVE_INFINITY {
        return Ok(micros);
    }
    let mut days = micros.div_euclid(MICROS_PER_DAY);
    let time = micros.rem_euclid(MICROS_PER_DAY);
    if span.months != 0 {
        let (year, month, day) = civil_from_days(days);
        let month_index = year * 12 + i64::from(month) - 1 + i64::from(span.months);
        let (year, month) = (month_index.div_euclid(12), month_index.rem_euclid(12) as u32 + 1);
        days = days_from_civil(year, month, day.min(days_in_month(year, month)));
    }
    days += i64::from(span.days);
    let local = days
        .checked_mul(MICROS_PER_DAY)
        .and_then(|micros| micros.checked_add(time))
        .and_then(|micros| micros.checked_add(span.micros))
        .ok_or_else(|| SqlError::new(SqlState::DATETIME_FIELD_OVERFLOW, "timestamp out of range"))?;
    checked_timestamp(local)
}

fn add_zoned(instant: TimestampTz, span: Interval, zone: TimeZone) -> SqlResult<Value> {
    let local = instant_to_local(instant.micros, zone)?;
    let micros = local_to_instant(add_interval(local, span)?, zone)?;
    Ok(Value::TimestampTz(TimestampTz { micros, shown_in: zone }))
}

fn difference(left: i64, right: i64) -> SqlResult<Value> {
    let infinite = |micros: i64| micros == TIMESTAMP_INFINITY || micros == TIMESTAMP_NEGATIVE_INFINITY;
    if infinite(left) || infinite(right) {
        return Err(SqlError::new(SqlState::DATETIME_FIELD_OVERFLOW, "cannot subtract infinite timestamps"));
    }
    let micros = left.checked_sub(right).ok_or_else(interval::out_of_range)?;
    Ok(Value::Interval(Interval::from_difference_micros(micros)))
}

#[cfg(test)]
mod tests {
    use super::super::parse::{parse_date, parse_timestamp, parse_timestamptz};
    use super::*;

    fn run(operator: BinaryOperator, left: Value, right: Value) -> SqlResult<String> {
        binary(operator, &left, &right, TimeZone::UTC).expect("an operator here").map(|value| value.to_text().unwrap())
    }

    #[test]
    fn operators_answer_as_postgresql_15() {
        use BinaryOperator::*;
        let date = |text| Value::Date(parse_date(text).unwrap());
        let timestamp = |text| Value::Timestamp(parse_timestamp(text).unwrap());
        let interval = |text| Value::Interval(super::super::interval::parse(text).unwrap());
        assert_eq!(run(Add, timestamp("2024-01-31 10:00"), interval("1 mon")).unwrap(), "2024-02-29 10:00:00");
        assert_eq!(run(Subtract, timestamp("2024-03-01"), timestamp("2024-01-01 12:00")).unwrap(), "59 days 12:00:00");
        assert_eq!(
            run(Subtract, timestamp("2024-01-01"), timestamp("2024-03-01 12:00")).unwrap(),
            "-60 days -12:00:00"
        );
        assert_eq!(run(Subtract, date("2024-03-01"), date("2024-01-01")).unwrap(), "60");
        assert_eq!(run(Add, date("2024-01-01"), Value::Int4(30)).unwrap(), "2024-01-31");
        assert_eq!(run(Subtract, date("2024-01-01"), Value::Int4(1)).unwrap(), "2023-12-31");
        assert_eq!(run(Add, Value::Int4(5), date("2024-01-01")).unwrap(), "2024-01-06");
        assert_eq!(run(Multiply, interval("2 hours"), Value::Float8(2.0)).unwrap(), "04:00:00");
        assert_eq!(run(Subtract, timestamp("2024-03-31"), interval("1 mon 1 day")).unwrap(), "2024-02-28 00:00:00");
        let error = run(Subtract, date("infinity"), date("2024-01-01")).unwrap_err();
        assert_eq!(
            (error.state, error.message.as_str()),
            (SqlState::DATETIME_FIELD_OVERFLOW, "cannot subtract infinite dates")
        );
        let error = run(Add, date("5874897-12-31"), Value::Int4(1)).unwrap_err();
        assert_eq!((error.state, error.message.as_str()), (SqlState::DATETIME_FIELD_OVERFLOW, "date out of range"));
        assert_eq!(run(Add, timestamp("infinity"), interval("1 day")).unwrap(), "infinity");
        assert_eq!(
            run(Add, timestamp("294276-12-31"), interval("1 day")).unwrap_err().message,
            "timestamp out of range"
        );
    }

    #[test]
    fn timestamptz_months_move_on_the_sessions_calendar() {
        // `set timezone = 'Etc/GMT-2'; select '2024-01-30 23:00+00'::timestamptz + interval '1 mon'`
        // is 2024-02-29 01:00:00+02: the local day, the 31st, is clamped to the 29th.
        let zone = TimeZone { utc_offset_seconds: 7200 };
        let instant = TimestampTz::utc(parse_timestamptz("2024-01-30 23:00+00", zone).unwrap());
        let span = super::super::interval::parse("1 mon").unwrap();
        let value =
            binary(BinaryOperator::Add, &Value::TimestampTz(instant), &Value::Interval(span), zone).unwrap().unwrap();
        assert_eq!(value.to_text().unwrap(), "2024-02-29 01:00:00+02");
    }
}
