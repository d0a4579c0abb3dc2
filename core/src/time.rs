//! Wall-clock values as plain numbers, with the civil-date arithmetic the protocol needs.
//!
//! The core never reads a clock: callers pass a [`WallClock`] in. This module converts it to
//! and from the text forms MaxCompute uses:
//!
//! - RFC 1123 / IMF-fixdate in GMT for the `Date` header: `Mon, 01 Jan 2024 00:00:00 GMT`
//!   ([`WallClock::to_rfc1123`], [`WallClock::parse_rfc1123`]);
//! - `yyyyMMdd` for the v4 signature scope ([`WallClock::yyyymmdd`]);
//! - ISO 8601 with milliseconds (`2024-01-01T00:00:00.000Z`), as in `RequestTimeTooSkewed`
//!   messages ([`WallClock::to_iso8601_millis`]).
//!
//! Calendar conversion is the proleptic Gregorian calendar, written out here (days-from-civil
//! and its inverse) rather than taken from a date crate.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Milliseconds in one day.
const MILLIS_PER_DAY: i64 = 86_400_000;

/// Three-letter English weekday names, Sunday first (HTTP dates use these).
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Three-letter English month names, January first.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A point in UTC wall-clock time: milliseconds since 1970-01-01T00:00:00Z (negative before).
///
/// This is a value the caller supplies (from its clock, a simulator, or a test); nothing in
/// the core produces one from a real clock.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct WallClock {
    /// Milliseconds since the Unix epoch, UTC.
    pub unix_millis: i64,
}

/// A broken-down UTC date and time (proleptic Gregorian calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDateTime {
    /// Year, e.g. 2024 (may be zero or negative for dates before year 1).
    pub year: i64,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=59.
    pub second: u32,
    /// Millisecond, 0..=999.
    pub millis: u32,
}

/// A date string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text does not have the shape `Www, DD Mon YYYY HH:MM:SS GMT`.
    #[error("malformed HTTP date `{0}`: expected e.g. `Mon, 01 Jan 2024 00:00:00 GMT`")]
    Malformed(String),
    /// A field is out of range (e.g. 31 February, hour 24).
    #[error("invalid HTTP date `{0}`: {1} out of range")]
    OutOfRange(String, &'static str),
}

/// True for Gregorian leap years.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Number of days in `month` (1..=12) of `year`; 0 for a month outside 1..=12.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of the civil date `year-month-day` (month 1..=12, day 1..=31).
///
/// The year is shifted to start in March so that the leap day is the last day of the shifted
/// year; whole 400-year eras (146 097 days each) are then counted separately from the day
/// within the era.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let m = i64::from(month);
    let d = i64::from(day);
    let y = if m <= 2 { year.saturating_sub(1) } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400); // 0..=399
    let shifted_month = if m > 2 { m - 3 } else { m + 9 }; // March = 0 .. February = 11
    let day_of_year = (153 * shifted_month + 2) / 5 + d - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719 468 = days from 0000-03-01 to 1970-01-01. Saturating: absurd years must not panic.
    era.saturating_mul(146_097)
        .saturating_add(day_of_era - 719_468)
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01 (inverse of
/// [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both casts are in range: month is 1..=12 and day 1..=31 by construction.
    (year, month as u32, day as u32)
}

/// Day of week of a day count since 1970-01-01: 0 = Sunday .. 6 = Saturday.
pub fn weekday_from_days(days: i64) -> u32 {
    // 1970-01-01 was a Thursday (4).
    (days + 4).rem_euclid(7) as u32
}

impl WallClock {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: WallClock = WallClock { unix_millis: 0 };

    /// A wall-clock value from milliseconds since the Unix epoch.
    pub const fn from_unix_millis(unix_millis: i64) -> Self {
        Self { unix_millis }
    }

    /// A wall-clock value from whole seconds since the Unix epoch (saturating).
    pub const fn from_unix_secs(secs: i64) -> Self {
        Self {
            unix_millis: secs.saturating_mul(1000),
        }
    }

    /// A wall-clock value from a civil UTC date and time. Fields are not range-checked beyond
    /// what the arithmetic needs; use [`WallClock::parse_rfc1123`] for untrusted text.
    pub fn from_civil(c: &CivilDateTime) -> Self {
        let days = days_from_civil(c.year, c.month, c.day);
        let ms_of_day = i64::from(c.hour) * 3_600_000
            + i64::from(c.minute) * 60_000
            + i64::from(c.second) * 1000
            + i64::from(c.millis);
        Self {
            unix_millis: days
                .saturating_mul(MILLIS_PER_DAY)
                .saturating_add(ms_of_day),
        }
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub fn unix_secs(&self) -> i64 {
        self.unix_millis.div_euclid(1000)
    }

    /// The broken-down UTC date and time.
    pub fn to_civil(&self) -> CivilDateTime {
        let days = self.unix_millis.div_euclid(MILLIS_PER_DAY);
        let ms = self.unix_millis.rem_euclid(MILLIS_PER_DAY); // 0..86_400_000
        let (year, month, day) = civil_from_days(days);
        // All casts below are in range: ms < 86 400 000.
        CivilDateTime {
            year,
            month,
            day,
            hour: (ms / 3_600_000) as u32,
            minute: (ms / 60_000 % 60) as u32,
            second: (ms / 1000 % 60) as u32,
            millis: (ms % 1000) as u32,
        }
    }

    /// Day of week: 0 = Sunday .. 6 = Saturday.
    pub fn weekday(&self) -> u32 {
        weekday_from_days(self.unix_millis.div_euclid(MILLIS_PER_DAY))
    }

    /// The RFC 1123 (IMF-fixdate) form in GMT, e.g. `Mon, 01 Jan 2024 00:00:00 GMT`.
    /// Milliseconds are dropped.
    pub fn to_rfc1123(&self) -> String {
        let c = self.to_civil();
        let wd = WEEKDAYS
            .get(self.weekday() as usize)
            .copied()
            .unwrap_or("???");
        let mon = MONTHS
            .get(c.month.wrapping_sub(1) as usize)
            .copied()
            .unwrap_or("???");
        format!(
            "{wd}, {:02} {mon} {:04} {:02}:{:02}:{:02} GMT",
            c.day, c.year, c.hour, c.minute, c.second
        )
    }

    /// The UTC day as `yyyyMMdd`, e.g. `20240101` (the v4 signature scope date).
    pub fn yyyymmdd(&self) -> String {
        let c = self.to_civil();
        format!("{:04}{:02}{:02}", c.year, c.month, c.day)
    }

    /// ISO 8601 with milliseconds, e.g. `2024-01-01T00:15:00.000Z`.
    pub fn to_iso8601_millis(&self) -> String {
        let c = self.to_civil();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
        )
    }

    /// Parses an RFC 1123 / IMF-fixdate such as `Mon, 01 Jan 2024 00:00:00 GMT`.
    ///
    /// Accepted: a weekday name (any of the seven; it is not checked against the date, as
    /// HTTP allows), a one- or two-digit day, an English month abbreviation (any case), a
    /// four-digit year, `HH:MM:SS`, and the zone `GMT`, `UTC`, `UT`, `Z` or `+0000`.
    pub fn parse_rfc1123(s: &str) -> Result<Self, TimeError> {
        let bad = || TimeError::Malformed(s.to_string());
        let mut it = s.split_ascii_whitespace();
        let (Some(wd), Some(day), Some(mon), Some(year), Some(time), Some(zone), None) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        ) else {
            return Err(bad());
        };
        let wd = wd.strip_suffix(',').ok_or_else(bad)?;
        if !WEEKDAYS.iter().any(|w| w.eq_ignore_ascii_case(wd)) {
            return Err(bad());
        }
        if !matches!(zone, "GMT" | "UTC" | "UT" | "Z" | "+0000") {
            return Err(bad());
        }
        let day = parse_digits(day, 1, 2).ok_or_else(bad)?;
        let month = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(mon))
            .ok_or_else(bad)? as u32
            + 1;
        let year = parse_digits(year, 4, 4).ok_or_else(bad)?;
        let mut hms = time.split(':');
        let (Some(h), Some(mi), Some(se), None) = (hms.next(), hms.next(), hms.next(), hms.next())
        else {
            return Err(bad());
        };
        let hour = parse_digits(h, 2, 2).ok_or_else(bad)?;
        let minute = parse_digits(mi, 2, 2).ok_or_else(bad)?;
        let second = parse_digits(se, 2, 2).ok_or_else(bad)?;
        let year = i64::from(year);
        if day == 0 || day > days_in_month(year, month) {
            return Err(TimeError::OutOfRange(s.to_string(), "day"));
        }
        if hour > 23 {
            return Err(TimeError::OutOfRange(s.to_string(), "hour"));
        }
        if minute > 59 {
            return Err(TimeError::OutOfRange(s.to_string(), "minute"));
        }
        if second > 59 {
            return Err(TimeError::OutOfRange(s.to_string(), "second"));
        }
        Ok(Self::from_civil(&CivilDateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millis: 0,
        }))
    }

    /// This time plus `d` (saturating).
    pub fn saturating_add(&self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self {
            unix_millis: self.unix_millis.saturating_add(ms),
        }
    }

    /// This time minus `d` (saturating).
    pub fn saturating_sub(&self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self {
            unix_millis: self.unix_millis.saturating_sub(ms),
        }
    }

    /// The distance between two wall-clock values, whichever is later.
    pub fn abs_diff(&self, other: WallClock) -> Duration {
        Duration::from_millis(self.unix_millis.abs_diff(other.unix_millis))
    }
}

impl fmt::Display for WallClock {
    /// Formats as ISO 8601 with milliseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso8601_millis())
    }
}

/// Parses `min..=max` ASCII digits into a number.
fn parse_digits(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> WallClock {
        WallClock::parse_rfc1123(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(
            WallClock::UNIX_EPOCH.to_rfc1123(),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        // 2024-01-01T00:00:00Z = 1704067200 (the protocol doc's vectors use this date).
        let t = WallClock::from_unix_secs(1_704_067_200);
        assert_eq!(t.to_rfc1123(), "Mon, 01 Jan 2024 00:00:00 GMT");
        assert_eq!(t.yyyymmdd(), "20240101");
        assert_eq!(t.to_iso8601_millis(), "2024-01-01T00:00:00.000Z");
        // 2001-09-09T01:46:40Z = 1e9 seconds, a Sunday.
        let g = WallClock::from_unix_secs(1_000_000_000);
        assert_eq!(g.to_rfc1123(), "Sun, 09 Sep 2001 01:46:40 GMT");
        // 2038-01-19T03:14:07Z = i32::MAX seconds, a Tuesday.
        let y38 = WallClock::from_unix_secs(i64::from(i32::MAX));
        assert_eq!(y38.to_rfc1123(), "Tue, 19 Jan 2038 03:14:07 GMT");
        // Millisecond components.
        let m = WallClock::from_unix_millis(1_704_067_200_000 + 15 * 60_000 + 123);
        assert_eq!(m.to_iso8601_millis(), "2024-01-01T00:15:00.123Z");
        assert_eq!(m.to_rfc1123(), "Mon, 01 Jan 2024 00:15:00 GMT");
    }

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2024));
        assert!(is_leap_year(2000));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(!is_leap_year(2023));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        // 2024-02-29T12:00:00Z = 1709208000, a Thursday.
        let t = WallClock::from_unix_secs(1_709_208_000);
        assert_eq!(t.to_rfc1123(), "Thu, 29 Feb 2024 12:00:00 GMT");
        assert_eq!(t.yyyymmdd(), "20240229");
        // The next day is 1 March.
        let n = t.saturating_add(Duration::from_secs(86_400));
        assert_eq!(n.yyyymmdd(), "20240301");
        // 2000-02-29 exists (divisible by 400): 951782400.
        assert_eq!(
            at("Tue, 29 Feb 2000 00:00:00 GMT"),
            WallClock::from_unix_secs(951_782_400)
        );
        // 1900-02-29 and 2023-02-29 do not.
        assert!(matches!(
            WallClock::parse_rfc1123("Thu, 29 Feb 1900 00:00:00 GMT"),
            Err(TimeError::OutOfRange(_, "day"))
        ));
        assert!(matches!(
            WallClock::parse_rfc1123("Wed, 29 Feb 2023 00:00:00 GMT"),
            Err(TimeError::OutOfRange(_, "day"))
        ));
        // Last day of a leap year: 2024-12-31 = day 366.
        assert_eq!(
            days_from_civil(2024, 12, 31) - days_from_civil(2024, 1, 1),
            365
        );
        assert_eq!(
            days_from_civil(2023, 12, 31) - days_from_civil(2023, 1, 1),
            364
        );
    }

    #[test]
    fn before_the_epoch() {
        // 1969-12-31T23:59:59.999Z
        let t = WallClock::from_unix_millis(-1);
        assert_eq!(t.to_iso8601_millis(), "1969-12-31T23:59:59.999Z");
        assert_eq!(t.to_rfc1123(), "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(t.unix_secs(), -1);
        // 1900-01-01 = -2208988800, a Monday.
        let c = WallClock::from_unix_secs(-2_208_988_800);
        assert_eq!(c.to_rfc1123(), "Mon, 01 Jan 1900 00:00:00 GMT");
    }

    #[test]
    fn civil_round_trip_over_a_wide_range() {
        // Every 1000th day across ±800 years, plus consecutive days around era boundaries.
        let mut days: Vec<i64> = (-292_000..292_000).step_by(997).collect();
        days.extend(10_957 - 800..10_957 + 800); // around 2000-01-01
        days.extend(-719_468 - 400..-719_468 + 400); // around 0000-03-01
        let mut prev: Option<(i64, u32, u32)> = None;
        for &d in &days {
            let (y, m, dd) = civil_from_days(d);
            assert!((1..=12).contains(&m) && dd >= 1 && dd <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, dd), d, "{y}-{m}-{dd}");
            if let Some(p) = prev
                && days_from_civil(p.0, p.1, p.2) + 1 == d
            {
                assert!((y, m, dd) > p);
            }
            prev = Some((y, m, dd));
        }
    }

    #[test]
    fn rfc1123_round_trip_and_variants() {
        for secs in [
            0i64,
            951_782_400,
            1_704_067_200,
            1_709_208_000,
            4_102_444_799,
        ] {
            let t = WallClock::from_unix_secs(secs);
            assert_eq!(at(&t.to_rfc1123()), t);
        }
        assert_eq!(
            at("Mon, 1 Jan 2024 00:00:00 GMT"),
            at("mon, 01 JAN 2024 00:00:00 UTC")
        );
        assert_eq!(
            at("Mon, 01 Jan 2024 00:00:00 +0000").unix_millis,
            1_704_067_200_000
        );
        // 2099-12-31T23:59:59Z
        assert_eq!(
            at("Thu, 31 Dec 2099 23:59:59 GMT").to_iso8601_millis(),
            "2099-12-31T23:59:59.000Z"
        );
    }

    #[test]
    fn rfc1123_rejects_garbage() {
        for bad in [
            "",
            "Mon, 01 Jan 2024 00:00:00",
            "Mon 01 Jan 2024 00:00:00 GMT",
            "Xyz, 01 Jan 2024 00:00:00 GMT",
            "Mon, 01 Foo 2024 00:00:00 GMT",
            "Mon, 01 Jan 24 00:00:00 GMT",
            "Mon, 01 Jan 2024 00:00 GMT",
            "Mon, 01 Jan 2024 00:00:00 PST",
            "Mon, 001 Jan 2024 00:00:00 GMT",
            "Mon, +1 Jan 2024 00:00:00 GMT",
            "Mon, 01 Jan 2024 00:00:00 GMT extra",
            "2024-01-01T00:00:00Z",
        ] {
            assert!(
                matches!(WallClock::parse_rfc1123(bad), Err(TimeError::Malformed(_))),
                "{bad:?}"
            );
        }
        for (bad, field) in [
            ("Mon, 00 Jan 2024 00:00:00 GMT", "day"),
            ("Mon, 32 Jan 2024 00:00:00 GMT", "day"),
            ("Mon, 31 Apr 2024 00:00:00 GMT", "day"),
            ("Mon, 01 Jan 2024 24:00:00 GMT", "hour"),
            ("Mon, 01 Jan 2024 00:60:00 GMT", "minute"),
            ("Mon, 01 Jan 2024 00:00:60 GMT", "second"),
        ] {
            assert_eq!(
                WallClock::parse_rfc1123(bad),
                Err(TimeError::OutOfRange(bad.to_string(), field))
            );
        }
    }

    #[test]
    fn extremes_do_not_panic() {
        for ms in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            let t = WallClock::from_unix_millis(ms);
            let _ = t.to_rfc1123();
            let _ = t.yyyymmdd();
            let _ = t.to_iso8601_millis();
            let _ = t.saturating_add(Duration::MAX);
            let _ = t.saturating_sub(Duration::MAX);
            let _ = t.abs_diff(WallClock::from_unix_millis(-ms.saturating_add(1)));
        }
    }

    #[test]
    fn arithmetic() {
        let a = WallClock::from_unix_secs(100);
        let b = a.saturating_add(Duration::from_millis(1500));
        assert_eq!(b.unix_millis, 101_500);
        assert_eq!(b.saturating_sub(Duration::from_millis(1500)), a);
        assert_eq!(a.abs_diff(b), Duration::from_millis(1500));
        assert_eq!(b.abs_diff(a), Duration::from_millis(1500));
        assert_eq!(b.to_string(), "1970-01-01T00:01:41.500Z");
    }
}
