//! `date`, `timestamp`, `timestamp with time zone` and `interval`, kept as
//! PostgreSQL keeps them: a date is days since 2000-01-01 (an `i32`), a
//! timestamp microseconds since 2000-01-01 00:00 (an `i64`), a timestamptz
//! the same count for the instant in UTC, and an interval its months, days
//! and microseconds apart ([`Interval`]). The infinities are the extreme
//! values, so they order and key as PostgreSQL orders them.
//!
//! Text is PostgreSQL 15's with `DateStyle = ISO` and `IntervalStyle =
//! postgres`: `2024-01-02`, `2024-01-02 03:04:05.5`, `2024-01-02
//! 03:04:05+02`, `0001-12-31 BC`, `1 year 2 mons 3 days 04:05:06`.
//! A timestamptz is shown in the session's `TimeZone` ([`zone`], fixed
//! offsets only); the value carries the zone it is to be shown in, which the
//! session sets as results leave it, and which comparison, keys and the
//! binary format ignore.
//!
//! Input ([`parse`]) takes the ISO forms (`2024-01-02`, `20240102`,
//! `2024-01-02 03:04:05.123456`, a `T` between, an offset or a zone after,
//! `BC`), and `epoch`, `infinity`, `-infinity`. Not supported: month names,
//! `MM/DD/YYYY` (DateStyle orders), `now`, `today` and the like (the core
//! reads no clock; they answer 0A000).

pub mod arithmetic;
pub mod calendar;
pub mod interval;
pub mod parse;
pub mod zone;

pub use interval::Interval;
pub use zone::TimeZone;

use calendar::*;

use super::error::{SqlError, SqlResult, SqlState};

/// A `timestamp with time zone`: an instant, and the zone it is shown in.
#[derive(Clone, Copy, Debug)]
pub struct TimestampTz {
    /// Microseconds since 2000-01-01 00:00 UTC.
    pub micros: i64,
    pub shown_in: TimeZone,
}

impl TimestampTz {
    pub fn utc(micros: i64) -> TimestampTz {
        TimestampTz { micros, shown_in: TimeZone::UTC }
    }

    pub fn to_text(self) -> String {
        timestamptz_text(self.micros, self.shown_in)
    }
}

fn out_of_range(what: &str) -> SqlError {
    SqlError::new(SqlState::DATETIME_FIELD_OVERFLOW, format!("{what} out of range"))
}

fn date_part_text(days: i64) -> (String, bool) {
    let (year, month, day) = civil_from_days(days);
    let before_christ = year <= 0;
    let year = if before_christ { 1 - year } else { year };
    (format!("{year:04}-{month:02}-{day:02}"), before_christ)
}

/// A date as `YYYY-MM-DD`, with ` BC` before year 1.
pub fn date_text(days: i32) -> String {
    match days {
        DATE_INFINITY => "infinity".into(),
        DATE_NEGATIVE_INFINITY => "-infinity".into(),
        days => {
            let (text, before_christ) = date_part_text(i64::from(days));
            if before_christ {
                format!("{text} BC")
            } else {
                text
            }
        }
    }
}

/// `HH:MM:SS` and the fraction without its trailing zeros.
fn time_text(micros_of_day: i64) -> String {
    let seconds = micros_of_day / MICROS_PER_SECOND;
    let fraction = micros_of_day % MICROS_PER_SECOND;
    let mut text = format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    if fraction != 0 {
        text.push_str(format!(".{fraction:06}").trim_end_matches('0'));
    }
    text
}

fn local_text(micros: i64, zone: Option<TimeZone>) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let (date, before_christ) = date_part_text(days);
    let time = time_text(micros.rem_euclid(MICROS_PER_DAY));
    let zone = zone.map(|zone| zone.to_string()).unwrap_or_default();
    let era = if before_christ { " BC" } else { "" };
    format!("{date} {time}{zone}{era}")
}

/// A timestamp as `YYYY-MM-DD HH:MM:SS[.ffffff]`.
pub fn timestamp_text(micros: i64) -> String {
    match micros {
        TIMESTAMP_INFINITY => "infinity".into(),
        TIMESTAMP_NEGATIVE_INFINITY => "-infinity".into(),
        micros => local_text(micros, None),
    }
}

/// An instant shown in `zone`, its offset after the time.
pub fn timestamptz_text(micros: i64, zone: TimeZone) -> String {
    match micros {
        TIMESTAMP_INFINITY | TIMESTAMP_NEGATIVE_INFINITY => timestamp_text(micros),
        micros => local_text(micros.saturating_add(i64::from(zone.utc_offset_seconds) * MICROS_PER_SECOND), Some(zone)),
    }
}

fn is_infinite_timestamp(micros: i64) -> bool {
    micros == TIMESTAMP_INFINITY || micros == TIMESTAMP_NEGATIVE_INFINITY
}

/// A timestamp in range, or 22008 `timestamp out of range`.
pub fn checked_timestamp(micros: i64) -> SqlResult<i64> {
    if (TIMESTAMP_MIN_MICROS..TIMESTAMP_END_MICROS).contains(&micros) {
        Ok(micros)
    } else {
        Err(out_of_range("timestamp"))
    }
}

/// A date in range, or 22008 `date out of range`.
pub fn checked_date(days: i64) -> SqlResult<i32> {
    if (DATE_MIN_DAYS..=DATE_MAX_DAYS).contains(&days) {
        Ok(days as i32)
    } else {
        Err(out_of_range("date"))
    }
}

/// `date::timestamp`: midnight of the day.
pub fn date_to_timestamp(days: i32) -> SqlResult<i64> {
    match days {
        DATE_INFINITY => Ok(TIMESTAMP_INFINITY),
        DATE_NEGATIVE_INFINITY => Ok(TIMESTAMP_NEGATIVE_INFINITY),
        days => {
            let micros = i64::from(days).checked_mul(MICROS_PER_DAY).ok_or_else(|| out_of_range("date"))?;
            checked_timestamp(micros).map_err(|_| out_of_range("date"))
        }
    }
}

/// `timestamp::date`: the day it falls in.
pub fn timestamp_to_date(micros: i64) -> i32 {
    match micros {
        TIMESTAMP_INFINITY => DATE_INFINITY,
        TIMESTAMP_NEGATIVE_INFINITY => DATE_NEGATIVE_INFINITY,
        micros => micros.div_euclid(MICROS_PER_DAY) as i32,
    }
}

/// A local time in `zone` as the instant it names (`timestamp::timestamptz`).
pub fn local_to_instant(micros: i64, zone: TimeZone) -> SqlResult<i64> {
    if is_infinite_timestamp(micros) {
        return Ok(micros);
    }
    checked_timestamp(micros - i64::from(zone.utc_offset_seconds) * MICROS_PER_SECOND)
}

/// An instant as the local time of `zone` (`timestamptz::timestamp`).
pub fn instant_to_local(micros: i64, zone: TimeZone) -> SqlResult<i64> {
    if is_infinite_timestamp(micros) {
        return Ok(micros);
    }
    checked_timestamp(micros + i64::from(zone.utc_offset_seconds) * MICROS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_as_postgresql_15_prints_it() {
        let day = |year, month, day| days_from_civil(year, month, day) as i32;
        assert_eq!(date_text(day(2024, 1, 2)), "2024-01-02");
        assert_eq!(date_text(day(0, 1, 1)), "0001-01-01 BC");
        assert_eq!(date_text(day(1, 1, 1) - 1), "0001-12-31 BC");
        assert_eq!(date_text(day(10000, 1, 1)), "10000-01-01");
        assert_eq!(date_text(DATE_NEGATIVE_INFINITY), "-infinity");
        let micros =
            i64::from(day(2024, 1, 2)) * MICROS_PER_DAY + 3 * MICROS_PER_HOUR + 4 * MICROS_PER_MINUTE + 5_500_000;
        assert_eq!(timestamp_text(micros), "2024-01-02 03:04:05.5");
        assert_eq!(timestamp_text(micros - 500_000 + 123_456), "2024-01-02 03:04:05.123456");
        assert_eq!(timestamptz_text(micros, TimeZone { utc_offset_seconds: 19_800 }), "2024-01-02 08:34:05.5+05:30");
        // `set timezone = '-05:30'; select '0001-01-01 00:00:00+00 BC'::timestamptz`
        let ancient = i64::from(day(0, 1, 1)) * MICROS_PER_DAY;
        assert_eq!(timestamptz_text(ancient, TimeZone { utc_offset_seconds: 19_800 }), "0001-01-01 05:30:00+05:30 BC");
        assert_eq!(timestamp_text(TIMESTAMP_INFINITY), "infinity");
    }

    #[test]
    fn conversions_keep_infinities_and_check_ranges() {
        assert_eq!(date_to_timestamp(DATE_INFINITY).unwrap(), TIMESTAMP_INFINITY);
        assert_eq!(timestamp_to_date(-1), -1, "the day before 2000-01-01");
        let error = date_to_timestamp(DATE_MAX_DAYS as i32).unwrap_err();
        assert_eq!((error.state, error.message.as_str()), (SqlState::DATETIME_FIELD_OVERFLOW, "date out of range"));
        let plus_two = TimeZone { utc_offset_seconds: 7200 };
        assert_eq!(local_to_instant(10 * MICROS_PER_HOUR, plus_two).unwrap(), 8 * MICROS_PER_HOUR);
        assert_eq!(instant_to_local(8 * MICROS_PER_HOUR, plus_two).unwrap(), 10 * MICROS_PER_HOUR);
    }
}
