//! `interval`: months, days and microseconds, kept apart as PostgreSQL keeps
//! them (a month is not a fixed number of days, nor a day of hours across a
//! zone change), with PostgreSQL 15's input, output and arithmetic.
//!
//! Comparison treats a month as 30 days and a day as 24 hours, as
//! PostgreSQL's `interval_cmp` does, so `'1 mon' = '30 days'`; two such
//! intervals still print as they were written.
//!
//! Input: `[@] quantity unit [quantity unit ...] [[+-]h:mm[:ss[.f]]] [ago]`,
//! units from microseconds to millennia with PostgreSQL's abbreviations, a
//! bare number meaning seconds, and fractions spilling into the smaller
//! fields (`1.5 days` is `1 day 12:00:00`, `1.5 months` `1 mon 15 days`).
//! Not supported: ISO 8601's `P1Y2M` and the SQL standard's `1-2` forms.
//! Output is the `postgres` IntervalStyle: `1 year 2 mons 3 days 04:05:06`.

use std::cmp::Ordering;
use std::fmt;

use super::calendar::*;
use crate::sql::error::{SqlError, SqlResult, SqlState};

#[derive(Clone, Copy, Debug, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

pub fn out_of_range() -> SqlError {
    SqlError::new(SqlState::DATETIME_FIELD_OVERFLOW, "interval out of range")
}

impl Interval {
    /// The interval's length with a month of 30 days, for comparison and keys.
    pub fn span_micros(self) -> i128 {
        (i128::from(self.months) * i128::from(DAYS_PER_MONTH) + i128::from(self.days)) * i128::from(MICROS_PER_DAY)
            + i128::from(self.micros)
    }

    pub fn checked_add(self, other: Interval) -> SqlResult<Interval> {
        Ok(Interval {
            months: self.months.checked_add(other.months).ok_or_else(out_of_range)?,
            days: self.days.checked_add(other.days).ok_or_else(out_of_range)?,
            micros: self.micros.checked_add(other.micros).ok_or_else(out_of_range)?,
        })
    }

    pub fn checked_negate(self) -> SqlResult<Interval> {
        Ok(Interval {
            months: self.months.checked_neg().ok_or_else(out_of_range)?,
            days: self.days.checked_neg().ok_or_else(out_of_range)?,
            micros: self.micros.checked_neg().ok_or_else(out_of_range)?,
        })
    }

    pub fn checked_subtract(self, other: Interval) -> SqlResult<Interval> {
        self.checked_add(other.checked_negate()?)
    }

    /// `interval * factor` (and `/ divisor` as its inverse), PostgreSQL's
    /// `interval_mul`: each field scaled, the fractions of months and days
    /// cascading down as days (30 a month) and seconds, rounded to the microsecond.
    pub fn scaled(self, factor: f64, divide: bool) -> SqlResult<Interval> {
        if divide && factor == 0.0 {
            return Err(SqlError::new(SqlState::DIVISION_BY_ZERO, "division by zero"));
        }
        let scale = |value: f64| if divide { value / factor } else { value * factor };
        let to_i32 = |value: f64| -> SqlResult<i32> {
            if value.is_nan() || value < f64::from(i32::MIN) || value > f64::from(i32::MAX) {
                return Err(out_of_range());
            }
            Ok(value as i32)
        };
        let microsecond_round = |value: f64| (value * 1e6).round_ties_even() / 1e6;
        let months_exact = scale(f64::from(self.months));
        let days_exact = scale(f64::from(self.days));
        let mut months = to_i32(months_exact)?;
        let mut days = to_i32(days_exact)?;
        let month_remainder_days = microsecond_round((months_exact - f64::from(months)) * DAYS_PER_MONTH as f64);
        let mut second_remainder = microsecond_round(
            (days_exact - f64::from(days) + month_remainder_days - month_remainder_days.trunc()) * 86_400.0,
        );
        if second_remainder.abs() >= 86_400.0 {
            let whole_days = (second_remainder / 86_400.0).trunc();
            days = days.checked_add(to_i32(whole_days)?).ok_or_else(out_of_range)?;
            second_remainder -= whole_days * 86_400.0;
        }
        days = days.checked_add(month_remainder_days.trunc() as i32).ok_or_else(out_of_range)?;
        let micros = (scale(self.micros as f64) + second_remainder * 1e6).round_ties_even();
        if micros.is_nan() || micros < i64::MIN as f64 || micros >= i64::MAX as f64 {
            return Err(out_of_range());
        }
        if months_exact.is_nan() {
            months = 0;
        }
        Ok(Interval { months, days, micros: micros as i64 })
    }

    /// A difference of two timestamps in microseconds, as PostgreSQL's
    /// `timestamp_mi` gives it: whole days apart from the time, both of one sign.
    pub fn from_difference_micros(micros: i64) -> Interval {
        let mut days = micros / MICROS_PER_DAY;
        let mut micros = micros - days * MICROS_PER_DAY;
        if days > 0 && micros < 0 {
            micros += MICROS_PER_DAY;
            days -= 1;
        } else if days < 0 && micros > 0 {
            micros -= MICROS_PER_DAY;
            days += 1;
        }
        Interval { months: 0, days: days as i32, micros }
    }
}

impl PartialEq for Interval {
    fn eq(&self, other: &Interval) -> bool {
        self.span_micros() == other.span_micros()
    }
}

impl Eq for Interval {}

impl PartialOrd for Interval {
    fn partial_cmp(&self, other: &Interval) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Interval {
    fn cmp(&self, other: &Interval) -> Ordering {
        self.span_micros().cmp(&other.span_micros())
    }
}

/// The `postgres` IntervalStyle.
impl fmt::Display for Interval {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        let mut before_negative = false;
        let years = self.months / 12;
        let months = self.months % 12;
        for (value, unit) in [(i64::from(years), "year"), (i64::from(months), "mon"), (i64::from(self.days), "day")] {
            if value == 0 {
                continue;
            }
            let space = if text.is_empty() { "" } else { " " };
            let plus = if before_negative && value > 0 { "+" } else { "" };
            let plural = if value != 1 { "s" } else { "" };
            text.push_str(&format!("{space}{plus}{value} {unit}{plural}"));
            before_negative = value < 0;
        }
        if text.is_empty() || self.micros != 0 {
            let space = if text.is_empty() { "" } else { " " };
            let sign = if self.micros < 0 {
                "-"
            } else if before_negative {
                "+"
            } else {
                ""
            };
            let magnitude = self.micros.unsigned_abs();
            let seconds = magnitude / 1_000_000;
            let fraction = magnitude % 1_000_000;
            text.push_str(&format!("{space}{sign}{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60));
            if fraction != 0 {
                text.push_str(format!(".{fraction:06}").trim_end_matches('0'));
            }
        }
        formatter.write_str(&text)
    }
}

/// One unit of interval input: how many months, days or microseconds it is.
#[derive(Clone, Copy)]
enum Unit {
    Months(f64),
    Days(f64),
    Micros(f64),
}

fn unit_of(word: &str) -> Option<Unit> {
    Some(match word {
        "microsecond" | "microseconds" | "us" | "usec" | "usecs" | "useconds" => Unit::Micros(1.0),
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "mseconds" => Unit::Micros(1e3),
        "second" | "seconds" | "s" | "sec" | "secs" => Unit::Micros(1e6),
        "minute" | "minutes" | "m" | "min" | "mins" => Unit::Micros(6e7),
        "hour" | "hours" | "h" | "hr" | "hrs" => Unit::Micros(3.6e9),
        "day" | "days" | "d" => Unit::Days(1.0),
        "week" | "weeks" | "w" => Unit::Days(7.0),
        "month" | "months" | "mon" | "mons" => Unit::Months(1.0),
        "year" | "years" | "y" | "yr" | "yrs" => Unit::Months(12.0),
        "decade" | "decades" | "dec" | "decs" => Unit::Months(120.0),
        "century" | "centuries" | "c" | "cent" => Unit::Months(1200.0),
        "millennium" | "millennia" | "mil" | "mils" => Unit::Months(12_000.0),
        _ => return None,
    })
}

/// The sums of a text's fields, before they are checked into an interval.
#[derive(Default)]
struct Fields {
    months: f64,
    days: f64,
    micros: f64,
}

impl Fields {
    /// Adds `quantity` of `unit`, its fraction spilling into the smaller fields.
    fn add(&mut self, quantity: f64, unit: Unit) {
        match unit {
            Unit::Months(months) => {
                let total = quantity * months;
                self.months += total.trunc();
                let days = total.fract() * DAYS_PER_MONTH as f64;
                self.days += days.trunc();
                self.micros += (days.fract() * MICROS_PER_DAY as f64).round();
            }
            Unit::Days(days) => {
                let total = quantity * days;
                self.days += total.trunc();
                self.micros += (total.fract() * MICROS_PER_DAY as f64).round();
            }
            Unit::Micros(micros) => self.micros += (quantity * micros).round(),
        }
    }
}

/// Reads an interval's text.
pub fn parse(text: &str) -> SqlResult<Interval> {
    let invalid = || {
        SqlError::new(SqlState::INVALID_DATETIME_FORMAT, format!("invalid input syntax for type interval: \"{text}\""))
    };
    let lower = text.to_ascii_lowercase();
    let mut words: Vec<&str> = lower.split_ascii_whitespace().collect();
    if words.first() == Some(&"@") {
        words.remove(0);
    }
    let ago = words.last() == Some(&"ago");
    if ago {
        words.pop();
    }
    if words.is_empty() {
        return Err(invalid());
    }
    let mut fields = Fields::default();
    let mut index = 0;
    while index < words.len() {
        let word = words[index];
        if word.contains(':') {
            fields.micros += time_micros(word).ok_or_else(invalid)?;
            index += 1;
            continue;
        }
        let number_length = word
            .bytes()
            .enumerate()
            .take_while(|(position, byte)| {
                byte.is_ascii_digit() || *byte == b'.' || (*position == 0 && b"+-".contains(byte))
            })
            .count();
        let (number, attached_unit) = word.split_at(number_length);
        let quantity: f64 = number.parse().map_err(|_| invalid())?;
        let unit_word = if !attached_unit.is_empty() {
            attached_unit
        } else if let Some(next) = words.get(index + 1).filter(|next| unit_of(next).is_some()) {
            index += 1;
            next
        } else if words.len() == 1 {
            "seconds"
        } else {
            return Err(invalid());
        };
        fields.add(quantity, unit_of(unit_word).ok_or_else(invalid)?);
        index += 1;
    }
    let sign = if ago { -1.0 } else { 1.0 };
    let within = |value: f64, low: f64, high: f64| value.is_finite() && value >= low && value <= high;
    let (months, days, micros) = (fields.months * sign, fields.days * sign, fields.micros * sign);
    if !within(months, f64::from(i32::MIN), f64::from(i32::MAX))
        || !within(days, f64::from(i32::MIN), f64::from(i32::MAX))
        || !within(micros, i64::MIN as f64, i64::MAX as f64)
    {
        return Err(out_of_range());
    }
    Ok(Interval { months: months as i32, days: days as i32, micros: micros as i64 })
}

/// `[+-]h:mm[:ss[.f]]` as signed microseconds.
fn time_micros(word: &str) -> Option<f64> {
    let (negative, unsigned) = match word.as_bytes().first()? {
        b'-' => (true, &word[1..]),
        b'+' => (false, &word[1..]),
        _ => (false, word),
    };
    let parts: Vec<&str> = unsigned.split(':').collect();
    let integer = |part: &str| -> Option<f64> {
        (!part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit())).then(|| part.parse().ok()).flatten()
    };
    let (hours, minutes, seconds) = match parts.as_slice() {
        [hours, minutes] => (integer(hours)?, integer(minutes)?, 0.0),
        [hours, minutes, seconds] => {
            let valid = !seconds.is_empty() && seconds.bytes().all(|byte| byte.is_ascii_digit() || byte == b'.');
            (integer(hours)?, integer(minutes)?, if valid { seconds.parse().ok()? } else { return None })
        }
        _ => return None,
    };
    if minutes > 59.0 || seconds >= 60.0 {
        return None;
    }
    let seconds: f64 = seconds;
    let micros = (hours * 3600.0 + minutes * 60.0) * 1e6 + (seconds * 1e6).round();
    Some(if negative { -micros } else { micros })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(input: &str) -> String {
        parse(input).unwrap().to_string()
    }

    #[test]
    fn input_and_output_as_postgresql_15() {
        for (input, output) in [
            ("1 year 2 mons 3 days 04:05:06", "1 year 2 mons 3 days 04:05:06"),
            ("1.5 days", "1 day 12:00:00"),
            ("1.5 months", "1 mon 15 days"),
            ("-1 week", "-7 days"),
            ("3 hours", "03:00:00"),
            ("@ 1 day ago", "-1 days"),
            ("04:05:06.5", "04:05:06.5"),
            ("-04:05", "-04:05:00"),
            ("1 day -02:00", "1 day -02:00:00"),
            ("-1 year +2 mons", "-10 mons"),
            ("1 year -1 day", "1 year -1 days"),
            ("25:00", "25:00:00"),
            ("90 minutes", "01:30:00"),
            ("1.5", "00:00:01.5"),
            ("0", "00:00:00"),
            ("-1 days -02:00:00", "-1 days -02:00:00"),
            ("1 mon 1 day 1 second 1 millisecond 1 microsecond", "1 mon 1 day 00:00:01.001001"),
            ("2 decades 1 century", "120 years"),
            ("0.5 year", "6 mons"),
            ("1 d 2 h 3 m 4 s", "1 day 02:03:04"),
            ("100000 years", "100000 years"),
        ] {
            assert_eq!(text(input), output, "{input}");
        }
        let error = parse("1 yearx").unwrap_err();
        assert_eq!(
            (error.state, error.message.as_str()),
            (SqlState::INVALID_DATETIME_FORMAT, "invalid input syntax for type interval: \"1 yearx\"")
        );
        let error = parse("178956971 years").unwrap_err();
        assert_eq!((error.state, error.message.as_str()), (SqlState::DATETIME_FIELD_OVERFLOW, "interval out of range"));
        assert!(parse("").is_err() && parse("x").is_err() && parse("1 day day").is_err());
    }

    #[test]
    fn arithmetic_and_comparison_as_postgresql_15() {
        let interval = |input: &str| parse(input).unwrap();
        assert_eq!(interval("1 day").scaled(1.5, false).unwrap().to_string(), "1 day 12:00:00");
        assert_eq!(interval("1 mon").scaled(7.0, true).unwrap().to_string(), "4 days 06:51:25.6896");
        assert_eq!(interval("1 mon").scaled(0.3, false).unwrap().to_string(), "9 days");
        assert_eq!(interval("-1 day 3 hours").scaled(-1.5, false).unwrap().to_string(), "1 day 07:30:00");
        assert_eq!(interval("1 day").checked_subtract(interval("1 hour")).unwrap().to_string(), "1 day -01:00:00");
        assert_eq!(interval("1 day 2 hours").checked_negate().unwrap().to_string(), "-1 days -02:00:00");
        assert_eq!(interval("1 mon"), interval("30 days"));
        assert!(interval("1 day") > interval("23 hours"));
        assert_eq!(interval("1 day").scaled(0.0, true).unwrap_err().state, SqlState::DIVISION_BY_ZERO);
        assert_eq!(
            Interval::from_difference_micros(59 * MICROS_PER_DAY + 12 * MICROS_PER_HOUR).to_string(),
            "59 days 12:00:00"
        );
        assert_eq!(
            Interval::from_difference_micros(-(60 * MICROS_PER_DAY + 12 * MICROS_PER_HOUR)).to_string(),
            "-60 days -12:00:00"
        );
    }
}
