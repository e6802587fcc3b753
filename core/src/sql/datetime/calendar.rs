//! The proleptic Gregorian calendar as PostgreSQL counts it: days since
//! 2000-01-01 (PostgreSQL's epoch for dates and timestamps), astronomical
//! years (1 BC is year 0), and the ranges PostgreSQL allows: dates from
//! 4714-11-24 BC (Julian day 0) to 5874897-12-31, timestamps from
//! 4714-11-24 BC 00:00 to 294276-12-31 23:59:59.999999.

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
pub const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
/// Days a month counts for in interval arithmetic and comparison.
pub const DAYS_PER_MONTH: i64 = 30;

/// `-infinity` and `infinity` as dates and as timestamps, PostgreSQL's sentinels.
pub const DATE_NEGATIVE_INFINITY: i32 = i32::MIN;
pub const DATE_INFINITY: i32 = i32::MAX;
pub const TIMESTAMP_NEGATIVE_INFINITY: i64 = i64::MIN;
pub const TIMESTAMP_INFINITY: i64 = i64::MAX;

/// The first and last dates PostgreSQL accepts, as days since 2000-01-01.
pub const DATE_MIN_DAYS: i64 = days_from_civil(-4713, 11, 24);
pub const DATE_MAX_DAYS: i64 = days_from_civil(5_874_897, 12, 31);
/// The first timestamp, and the first one past the last.
pub const TIMESTAMP_MIN_MICROS: i64 = DATE_MIN_DAYS * MICROS_PER_DAY;
pub const TIMESTAMP_END_MICROS: i64 = days_from_civil(294_277, 1, 1) * MICROS_PER_DAY;

/// Days since 2000-01-01 of an astronomical year, month (1..=12) and day.
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Years counted from March, so that the leap day ends its year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month as i64 + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 730_425
}

/// The astronomical year, month and day of a count of days since 2000-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 730_425;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_meet_postgresqls_epoch_and_limits() {
        assert_eq!(days_from_civil(2000, 1, 1), 0);
        assert_eq!(days_from_civil(1970, 1, 1), -10_957, "select '1970-01-01'::date - '2000-01-01'::date");
        assert_eq!(DATE_MIN_DAYS, -2_451_545, "Julian day 0");
        assert_eq!(TIMESTAMP_END_MICROS, 9_223_371_331_200_000_000, "PostgreSQL's END_TIMESTAMP");
        for days in (-2_451_545..2_145_031_949).step_by(9_973) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
            assert!((1..=days_in_month(year, month)).contains(&day));
        }
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29) + 1), (2024, 3, 1));
        assert_eq!(civil_from_days(-1), (1999, 12, 31));
    }
}
