//! Text input of dates and timestamps, the ISO forms PostgreSQL reads:
//!
//! ```text
//! [ws] date [ (T | ws+) time [ws* zone] ] [ws+ (BC | AD)] [ws]
//! date = y+-m{1,2}-d{1,2} | yyyymmdd      time = h{1,2}:mm[:ss[.f+]]
//! zone = Z | +hh[[:]mm[[:]ss]] | -... | a name (UTC, Etc/GMT-2, GMT+2)
//! ```
//!
//! and the words `epoch`, `infinity`, `+infinity`, `-infinity`. Errors are
//! PostgreSQL's: text it cannot read is 22007 `invalid input syntax for type
//! date: "x"`; a field out of its range (month 13, February 30, hour 25) is
//! 22008 `date/time field value out of range: "x"`; a value past the type's
//! range is 22008 `date out of range: "x"`; a zone name it does not know is
//! 22023 `time zone "x" not recognized`. A `timestamp` ignores a zone given
//! in its text, as PostgreSQL does; a `date` ignores the time.

use super::calendar::*;
use super::checked_date;
use super::zone::TimeZone;
use crate::sql::error::{SqlError, SqlResult, SqlState};

/// What a text names before its type decides.
enum Reading {
    /// Days since 2000-01-01 and microseconds into the day (up to 24:00:00).
    Moment {
        days: i64,
        micros_of_day: i64,
        zone: Option<TimeZone>,
    },
    Epoch,
    Infinity,
    NegativeInfinity,
}

/// The kinds of failure, worded by the caller with the type's name.
enum Failure {
    Syntax,
    FieldRange { month_overflow: bool },
    Error(SqlError),
}

/// Reads a date.
pub fn parse_date(text: &str) -> SqlResult<i32> {
    let failure = |failure| error(failure, "date", text);
    Ok(match read(text).map_err(failure)? {
        Reading::Moment { days, .. } => checked_date(days).map_err(|_| range_error("date", text))?,
        Reading::Epoch => days_from_civil(1970, 1, 1) as i32,
        Reading::Infinity => DATE_INFINITY,
        Reading::NegativeInfinity => DATE_NEGATIVE_INFINITY,
    })
}

/// Reads a timestamp without time zone.
pub fn parse_timestamp(text: &str) -> SqlResult<i64> {
    let failure = |failure| error(failure, "timestamp without time zone", text);
    Ok(match read(text).map_err(failure)? {
        Reading::Moment { days, micros_of_day, .. } => {
            checked(local_micros(days, micros_of_day)).ok_or_else(|| range_error("timestamp", text))?
        }
        special => special_timestamp(special),
    })
}

/// Reads a timestamp with time zone; one without a zone is local time of `session_zone`.
pub fn parse_timestamptz(text: &str, session_zone: TimeZone) -> SqlResult<i64> {
    let failure = |failure| error(failure, "timestamp with time zone", text);
    Ok(match read(text).map_err(failure)? {
        Reading::Moment { days, micros_of_day, zone } => {
            let offset = i64::from(zone.unwrap_or(session_zone).utc_offset_seconds) * MICROS_PER_SECOND;
            checked(local_micros(days, micros_of_day).saturating_sub(offset))
                .ok_or_else(|| range_error("timestamp", text))?
        }
        special => special_timestamp(special),
    })
}

fn special_timestamp(reading: Reading) -> i64 {
    match reading {
        Reading::Epoch => days_from_civil(1970, 1, 1) * MICROS_PER_DAY,
        Reading::Infinity => TIMESTAMP_INFINITY,
        Reading::NegativeInfinity => TIMESTAMP_NEGATIVE_INFINITY,
        Reading::Moment { .. } => unreachable!("not special"),
    }
}

/// Saturating, so that a day far past the range stays out of it.
fn local_micros(days: i64, micros_of_day: i64) -> i64 {
    days.saturating_mul(MICROS_PER_DAY).saturating_add(micros_of_day)
}

fn checked(micros: i64) -> Option<i64> {
    (TIMESTAMP_MIN_MICROS..TIMESTAMP_END_MICROS).contains(&micros).then_some(micros)
}

fn range_error(what: &str, text: &str) -> SqlError {
    SqlError::new(SqlState::DATETIME_FIELD_OVERFLOW, format!("{what} out of range: \"{text}\""))
}

fn error(failure: Failure, type_name: &str, text: &str) -> SqlError {
    match failure {
        Failure::Syntax => SqlError::new(
            SqlState::INVALID_DATETIME_FORMAT,
            format!("invalid input syntax for type {type_name}: \"{text}\""),
        ),
        Failure::FieldRange { month_overflow } => {
            let error = SqlError::new(
                SqlState::DATETIME_FIELD_OVERFLOW,
                format!("date/time field value out of range: \"{text}\""),
            );
            if month_overflow {
                error.with_hint("Perhaps you need a different \"datestyle\" setting.")
            } else {
                error
            }
        }
        Failure::Error(error) => error,
    }
}

/// A cursor over the text, ASCII-only where it matters.
struct Cursor<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.position..]
    }

    fn digits(&mut self) -> &'a str {
        let length = self.rest().bytes().take_while(u8::is_ascii_digit).count();
        let digits = &self.rest()[..length];
        self.position += length;
        digits
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.rest().as_bytes().first() == Some(&byte);
        if found {
            self.position += 1;
        }
        found
    }

    fn spaces(&mut self) -> usize {
        let length = self.rest().bytes().take_while(u8::is_ascii_whitespace).count();
        self.position += length;
        length
    }

    /// A run of the characters a zone name or era may hold.
    fn word(&mut self) -> &'a str {
        let length =
            self.rest().bytes().take_while(|byte| byte.is_ascii_alphanumeric() || b"/_+-:".contains(byte)).count();
        let word = &self.rest()[..length];
        self.position += length;
        word
    }
}

fn read(text: &str) -> Result<Reading, Failure> {
    let trimmed = text.trim_matches(|character: char| character.is_ascii_whitespace());
    match trimmed.to_ascii_lowercase().as_str() {
        "epoch" => return Ok(Reading::Epoch),
        "infinity" | "+infinity" => return Ok(Reading::Infinity),
        "-infinity" => return Ok(Reading::NegativeInfinity),
        "now" | "today" | "tomorrow" | "yesterday" => {
            return Err(Failure::Error(SqlError::unsupported(format!("the special value \"{trimmed}\""))))
        }
        _ => {}
    }
    let mut cursor = Cursor { text: trimmed, position: 0 };
    let (year, month, day) = read_date(&mut cursor)?;
    let mut micros_of_day = 0;
    let mut zone = None;
    let mut before_christ = false;
    let separated = cursor.eat(b'T') || cursor.eat(b't') || cursor.spaces() > 0;
    if separated && cursor.rest().bytes().next().is_some_and(|byte| byte.is_ascii_digit()) {
        micros_of_day = read_time(&mut cursor)?;
    }
    loop {
        cursor.spaces();
        if cursor.rest().is_empty() {
            break;
        }
        let word = cursor.word();
        match word.to_ascii_lowercase().as_str() {
            "" => return Err(Failure::Syntax),
            "bc" if !before_christ => before_christ = true,
            "ad" => {}
            _ if zone.is_none() => zone = Some(read_zone(word)?),
            _ => return Err(Failure::Syntax),
        }
    }
    if year == 0 {
        return Err(Failure::FieldRange { month_overflow: false });
    }
    let year = if before_christ { 1 - year } else { year };
    if !(1..=days_in_month(year, month)).contains(&day) {
        return Err(Failure::FieldRange { month_overflow: false });
    }
    Ok(Reading::Moment { days: days_from_civil(year, month, day), micros_of_day, zone })
}

fn read_date(cursor: &mut Cursor) -> Result<(i64, u32, u32), Failure> {
    let first = cursor.digits();
    if first.is_empty() {
        return Err(Failure::Syntax);
    }
    let number = |digits: &str| digits.parse::<i64>().map_err(|_| Failure::FieldRange { month_overflow: false });
    let (year, month, day) = if cursor.eat(b'-') {
        let month = cursor.digits();
        if month.is_empty() || month.len() > 2 || !cursor.eat(b'-') {
            return Err(Failure::Syntax);
        }
        let day = cursor.digits();
        if day.is_empty() || day.len() > 2 {
            return Err(Failure::Syntax);
        }
        // PostgreSQL reads a year of fewer than three digits by DateStyle; ISO wants it whole.
        if first.len() < 3 {
            return Err(Failure::FieldRange { month_overflow: false });
        }
        (number(first)?, number(month)?, number(day)?)
    } else if first.len() == 8 {
        (number(&first[..4])?, number(&first[4..6])?, number(&first[6..])?)
    } else {
        return Err(Failure::Syntax);
    };
    if !(1..=12).contains(&month) {
        return Err(Failure::FieldRange { month_overflow: true });
    }
    if year > 10_000_000 {
        return Err(Failure::FieldRange { month_overflow: false });
    }
    Ok((year, month as u32, day as u32))
}

/// `h:mm[:ss[.f]]` as microseconds; 24:00:00 and a 60th second are allowed, as in PostgreSQL.
fn read_time(cursor: &mut Cursor) -> Result<i64, Failure> {
    let field = |digits: &str| -> Result<i64, Failure> {
        if digits.is_empty() || digits.len() > 2 {
            return Err(Failure::Syntax);
        }
        Ok(digits.parse().expect("one or two digits"))
    };
    let hours = field(cursor.digits())?;
    if !cursor.eat(b':') {
        return Err(Failure::Syntax);
    }
    let minutes = field(cursor.digits())?;
    let mut seconds = 0;
    let mut fraction_micros = 0;
    if cursor.eat(b':') {
        seconds = field(cursor.digits())?;
        if cursor.eat(b'.') {
            let digits = cursor.digits();
            // As PostgreSQL does: the fraction read as a double, rounded to the microsecond.
            let fraction: f64 = format!("0.{digits}").parse().map_err(|_| Failure::Syntax)?;
            fraction_micros = (fraction * 1e6).round_ties_even() as i64;
        }
    }
    let out_of_range = minutes > 59
        || seconds > 60
        || hours > 24
        || (hours == 24 && (minutes > 0 || seconds > 0 || fraction_micros > 0));
    if out_of_range {
        return Err(Failure::FieldRange { month_overflow: false });
    }
    Ok(hours * MICROS_PER_HOUR + minutes * MICROS_PER_MINUTE + seconds * MICROS_PER_SECOND + fraction_micros)
}

fn read_zone(word: &str) -> Result<TimeZone, Failure> {
    if word.starts_with(['+', '-']) {
        return TimeZone::from_iso_offset(word).ok_or(Failure::Syntax);
    }
    if let Some(zone) = TimeZone::from_name(word) {
        return Ok(zone);
    }
    if word.contains('/') {
        let message = format!("time zone \"{}\" not recognized", word.to_ascii_lowercase());
        return Err(Failure::Error(SqlError::new(SqlState::INVALID_PARAMETER_VALUE, message)));
    }
    Err(Failure::Syntax)
}

#[cfg(test)]
mod tests {
    use super::super::{date_text, timestamp_text, timestamptz_text};
    use super::*;

    fn failure(result: SqlResult<impl std::fmt::Debug>) -> (SqlState, String) {
        let error = result.unwrap_err();
        (error.state, error.message)
    }

    #[test]
    fn dates_as_postgresql_15_reads_them() {
        for (text, expected) in [
            ("2024-01-02", "2024-01-02"),
            (" 2024-01-02 ", "2024-01-02"),
            ("2024-1-2", "2024-01-02"),
            ("20240102", "2024-01-02"),
            ("2024-01-02 10:11", "2024-01-02"),
            ("0001-01-01 BC", "0001-01-01 BC"),
            ("4714-11-24 BC", "4714-11-24 BC"),
            ("5874897-12-31", "5874897-12-31"),
            ("epoch", "1970-01-01"),
            ("-infinity", "-infinity"),
        ] {
            assert_eq!(date_text(parse_date(text).unwrap()), expected, "{text}");
        }
        let syntax =
            |text: &str| (SqlState::INVALID_DATETIME_FORMAT, format!("invalid input syntax for type date: \"{text}\""));
        let field =
            |text: &str| (SqlState::DATETIME_FIELD_OVERFLOW, format!("date/time field value out of range: \"{text}\""));
        assert_eq!(failure(parse_date("x")), syntax("x"));
        assert_eq!(failure(parse_date("2024-01-02x")), syntax("2024-01-02x"));
        assert_eq!(failure(parse_date("2024-02-30")), field("2024-02-30"));
        assert_eq!(failure(parse_date("2024-13-01")), field("2024-13-01"));
        assert_eq!(
            parse_date("2024-13-01").unwrap_err().hint.as_deref(),
            Some("Perhaps you need a different \"datestyle\" setting.")
        );
        assert_eq!(failure(parse_date("0000-01-01")), field("0000-01-01"));
        assert_eq!(failure(parse_date("99-01-02")), field("99-01-02"));
        assert_eq!(
            failure(parse_date("4714-11-23 BC")),
            (SqlState::DATETIME_FIELD_OVERFLOW, "date out of range: \"4714-11-23 BC\"".into())
        );
        assert_eq!(failure(parse_date("5874898-01-01")).1, "date out of range: \"5874898-01-01\"");
        assert_eq!(failure(parse_date("today")).0, SqlState::FEATURE_NOT_SUPPORTED);
    }

    #[test]
    fn timestamps_as_postgresql_15_reads_them() {
        for (text, expected) in [
            ("2024-01-02 03:04:05.5", "2024-01-02 03:04:05.5"),
            ("2024-01-02 1:2:3", "2024-01-02 01:02:03"),
            ("2024-01-02T10:00", "2024-01-02 10:00:00"),
            ("2024-01-02 10:00:00.1234565", "2024-01-02 10:00:00.123456"),
            ("2024-01-02 10:00:00.9999999", "2024-01-02 10:00:01"),
            ("2024-01-02 23:59:59.9999999", "2024-01-03 00:00:00"),
            ("2024-01-02 24:00:00", "2024-01-03 00:00:00"),
            ("2024-01-02 10:00:60", "2024-01-02 10:01:00"),
            ("2024-01-02 10:00 +02", "2024-01-02 10:00:00"),
            ("2024-01-02 10:00:00 bc", "2024-01-02 10:00:00 BC"),
            ("294276-12-31 23:59:59.999999", "294276-12-31 23:59:59.999999"),
            ("epoch", "1970-01-01 00:00:00"),
        ] {
            assert_eq!(timestamp_text(parse_timestamp(text).unwrap()), expected, "{text}");
        }
        assert_eq!(
            failure(parse_timestamp("2024-01-02 25:00")).1,
            "date/time field value out of range: \"2024-01-02 25:00\""
        );
        assert_eq!(failure(parse_timestamp("2024-01-02 10:60")).0, SqlState::DATETIME_FIELD_OVERFLOW);
        assert_eq!(failure(parse_timestamp("294277-01-01")).1, "timestamp out of range: \"294277-01-01\"");
        assert_eq!(failure(parse_timestamp("5874897-12-31")).1, "timestamp out of range: \"5874897-12-31\"");
        assert_eq!(
            failure(parse_timestamp("2024-01-02 abc")).1,
            "invalid input syntax for type timestamp without time zone: \"2024-01-02 abc\""
        );
    }

    #[test]
    fn timestamptz_reads_offsets_and_zone_names() {
        let utc = |text: &str| timestamptz_text(parse_timestamptz(text, TimeZone::UTC).unwrap(), TimeZone::UTC);
        // Each checked against PostgreSQL 15 with TimeZone UTC.
        assert_eq!(utc("2024-01-02T10:00:00.5Z"), "2024-01-02 10:00:00.5+00");
        assert_eq!(utc("2024-01-02 10:00+05:30"), "2024-01-02 04:30:00+00");
        assert_eq!(utc("2024-01-02 10:00:00-0330"), "2024-01-02 13:30:00+00");
        assert_eq!(utc("2024-01-02 10:00:00+02:03:04"), "2024-01-02 07:56:56+00");
        assert_eq!(utc("2024-01-02 10:00 GMT+2"), "2024-01-02 12:00:00+00");
        assert_eq!(utc("2024-01-02 10:00 Etc/GMT-2"), "2024-01-02 08:00:00+00");
        assert_eq!(utc("2024-01-02 10:00 utc"), "2024-01-02 10:00:00+00");
        let plus_two = TimeZone { utc_offset_seconds: 7200 };
        assert_eq!(
            timestamptz_text(parse_timestamptz("2024-01-02 10:00", plus_two).unwrap(), TimeZone::UTC),
            "2024-01-02 08:00:00+00"
        );
        assert_eq!(
            failure(parse_timestamptz("2024-01-02 10:00:00 Mars/X", TimeZone::UTC)),
            (SqlState::INVALID_PARAMETER_VALUE, "time zone \"mars/x\" not recognized".into())
        );
        assert_eq!(
            failure(parse_timestamptz("x", TimeZone::UTC)).1,
            "invalid input syntax for type timestamp with time zone: \"x\""
        );
    }
}
