//! Time zones: fixed offsets from UTC only.
//!
//! The session's `TimeZone` may be `UTC` (or `GMT`, `Etc/UTC`, `Z`, ...),
//! `Etc/GMT±h`, or a POSIX offset such as `+02:00`. Both of the last two
//! count POSIX's way, hours *west* of Greenwich, as PostgreSQL reads them:
//! `SET TIME ZONE '+02:00'` shows times at UTC-2, and `Etc/GMT-2` at UTC+2.
//! In a timestamp's text an offset counts ISO 8601's way, east positive
//! (`2024-01-02 10:00+02` is 08:00 UTC), while a name such as `GMT+2` is
//! POSIX again. Zones with rules (`Europe/Paris`, abbreviations such as
//! `EST`) are not supported: without the tz database there is no offset to
//! give them, so they are refused as PostgreSQL refuses an unknown zone.

use std::fmt;

/// A fixed offset from UTC; east of Greenwich is positive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TimeZone {
    pub utc_offset_seconds: i32,
}

/// The largest offset PostgreSQL accepts, 15:59:59.
const OFFSET_MAX_SECONDS: i32 = 15 * 3600 + 59 * 60 + 59;

impl TimeZone {
    pub const UTC: TimeZone = TimeZone { utc_offset_seconds: 0 };

    /// A value of the `TimeZone` setting; None when not one this engine knows.
    pub fn from_setting(text: &str) -> Option<TimeZone> {
        let trimmed = text.trim();
        if let Some(zone) = TimeZone::from_name(trimmed) {
            return Some(zone);
        }
        let west_seconds = offset_seconds(trimmed)?;
        Some(TimeZone { utc_offset_seconds: -west_seconds })
    }

    /// A zone named in a timestamp's text or the setting: UTC's names,
    /// `Etc/GMT±h`, `GMT±h` and `UTC±h` (POSIX offsets, west positive).
    pub fn from_name(name: &str) -> Option<TimeZone> {
        let lower = name.to_ascii_lowercase();
        let unprefixed = lower.strip_prefix("etc/").unwrap_or(&lower);
        match unprefixed {
            "utc" | "gmt" | "z" | "zulu" | "uct" | "universal" | "greenwich" | "gmt0" | "gmt+0" | "gmt-0" => {
                return Some(TimeZone::UTC)
            }
            _ => {}
        }
        let offset = unprefixed.strip_prefix("gmt").or_else(|| unprefixed.strip_prefix("utc"))?;
        if !offset.starts_with(['+', '-']) {
            return None;
        }
        let west_seconds = offset_seconds(offset)?;
        Some(TimeZone { utc_offset_seconds: -west_seconds })
    }

    /// An ISO 8601 offset written after a time (`+02`, `-0330`, `+05:30`, `+02:03:04`).
    pub fn from_iso_offset(text: &str) -> Option<TimeZone> {
        offset_seconds(text).map(|east_seconds| TimeZone { utc_offset_seconds: east_seconds })
    }
}

/// `[+-]h[h][[:]mm[[:]ss]]` as signed seconds; a bare number is hours.
fn offset_seconds(text: &str) -> Option<i32> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => (1, text),
    };
    let parts: Vec<&str> = digits.split(':').collect();
    let number = |part: &str| -> Option<i32> {
        if part.is_empty() || part.len() > 2 || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (hours, minutes, seconds) = match parts.as_slice() {
        [compact] if compact.len() > 2 && compact.bytes().all(|byte| byte.is_ascii_digit()) => {
            // `hhmm` or `hhmmss`
            let hours_digits = compact.len() - if compact.len() > 4 { 4 } else { 2 };
            let (hours, rest) = compact.split_at(hours_digits);
            let (minutes, seconds) = rest.split_at(2);
            (number(hours)?, number(minutes)?, if seconds.is_empty() { 0 } else { number(seconds)? })
        }
        [hours] => (number(hours)?, 0, 0),
        [hours, minutes] => (number(hours)?, number(minutes)?, 0),
        [hours, minutes, seconds] => (number(hours)?, number(minutes)?, number(seconds)?),
        _ => return None,
    };
    if minutes > 59 || seconds > 59 {
        return None;
    }
    let total = hours * 3600 + minutes * 60 + seconds;
    (total <= OFFSET_MAX_SECONDS).then_some(sign * total)
}

/// The offset as PostgreSQL prints it after a timestamp: `+02`, `-05:30`, `+00:00:15`.
impl fmt::Display for TimeZone {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.utc_offset_seconds < 0 { '-' } else { '+' };
        let total = self.utc_offset_seconds.unsigned_abs();
        let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
        write!(formatter, "{sign}{hours:02}")?;
        if minutes != 0 || seconds != 0 {
            write!(formatter, ":{minutes:02}")?;
        }
        if seconds != 0 {
            write!(formatter, ":{seconds:02}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(zone: Option<TimeZone>) -> Option<i32> {
        zone.map(|zone| zone.utc_offset_seconds)
    }

    #[test]
    fn settings_count_west_and_iso_offsets_east_as_postgresql_does() {
        // `set timezone = '+02:00'` shows 2024-01-02 08:00:00-02 for 10:00 UTC.
        assert_eq!(offset(TimeZone::from_setting("+02:00")), Some(-7200));
        assert_eq!(offset(TimeZone::from_setting("Etc/GMT-2")), Some(7200));
        assert_eq!(offset(TimeZone::from_setting("UTC")), Some(0));
        assert_eq!(offset(TimeZone::from_setting("-05:30")), Some(5 * 3600 + 1800));
        assert_eq!(TimeZone::from_setting("Mars/X"), None);
        assert_eq!(TimeZone::from_setting("Europe/Paris"), None, "zones with rules are not supported");
        assert_eq!(offset(TimeZone::from_iso_offset("+05:30")), Some(19_800));
        assert_eq!(offset(TimeZone::from_iso_offset("-0330")), Some(-12_600));
        assert_eq!(offset(TimeZone::from_iso_offset("+02:03:04")), Some(7384));
        assert_eq!(offset(TimeZone::from_name("GMT+2")), Some(-7200));
        assert_eq!(TimeZone::from_iso_offset("+16"), None);
        assert_eq!(TimeZone { utc_offset_seconds: 19_800 }.to_string(), "+05:30");
        assert_eq!(TimeZone { utc_offset_seconds: -7200 }.to_string(), "-02");
        assert_eq!(TimeZone::UTC.to_string(), "+00");
    }
}
