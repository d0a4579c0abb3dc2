//! Time as a value: the service never reads a clock; callers pass a [`MockTime`].
//!
//! Also holds the calendar arithmetic the protocol needs (RFC 1123 dates, compact stamps
//! used in session ids, ISO-8601 text for JSON rows).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;

/// A wall-clock instant in the mock's world: milliseconds since the Unix epoch (UTC).
///
/// The HTTP layer supplies the real time; a simulator supplies virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MockTime(pub i64);

impl MockTime {
    /// The instant `ms` milliseconds after the epoch.
    pub fn from_epoch_ms(ms: i64) -> Self {
        MockTime(ms)
    }

    /// Milliseconds since the epoch.
    pub fn epoch_ms(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (floor).
    pub fn epoch_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant plus `ms` milliseconds (saturating).
    pub fn plus_ms(self, ms: i64) -> Self {
        MockTime(self.0.saturating_add(ms))
    }

    /// RFC 1123 text, e.g. `Mon, 01 Jan 2024 00:00:00 GMT`.
    pub fn rfc1123(self) -> String {
        format_rfc1123(self.epoch_secs())
    }

    /// `yyyyMMddHHmmss` in UTC (the prefix of real tunnel session ids).
    pub fn compact_stamp(self) -> String {
        let (y, mo, d, h, mi, s) = civil_from_secs(self.epoch_secs());
        format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
    }
}

impl fmt::Display for MockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc1123())
    }
}

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day, hour, minute, second) of epoch seconds, UTC.
pub fn civil_from_secs(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// RFC 1123 text of epoch seconds.
pub fn format_rfc1123(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let (y, mo, d, h, mi, s) = civil_from_secs(secs);
    let wd = WEEKDAYS[days.rem_euclid(7) as usize];
    let mon = MONTHS[(mo - 1) as usize];
    format!("{wd}, {d:02} {mon} {y:04} {h:02}:{mi:02}:{s:02} GMT")
}

/// Parses RFC 1123 (`Mon, 01 Jan 2024 00:00:00 GMT`) into epoch seconds.
/// The weekday is not checked; `GMT` and `UTC` are accepted as the zone.
pub fn parse_rfc1123(s: &str) -> Option<i64> {
    let s = s.trim();
    let rest = match s.split_once(',') {
        Some((_, r)) => r.trim(),
        None => s,
    };
    let mut it = rest.split_ascii_whitespace();
    let d: u32 = it.next()?.parse().ok()?;
    let mon = it.next()?;
    let m = MONTHS
        .iter()
        .position(|x| x.eq_ignore_ascii_case(mon))
        .map(|i| i as u32 + 1)?;
    let y: i64 = it.next()?.parse().ok()?;
    let hms = it.next()?;
    let zone = it.next().unwrap_or("GMT");
    if !(zone.eq_ignore_ascii_case("GMT") || zone.eq_ignore_ascii_case("UTC")) {
        return None;
    }
    if it.next().is_some() {
        return None;
    }
    let mut parts = hms.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let mi: i64 = parts.next()?.parse().ok()?;
    let sec: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    if !(1..=9999).contains(&y) {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + sec)
}

/// `yyyy-mm-dd` of a day number.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `yyyy-mm-ddTHH:MM:SS` of epoch seconds (no zone suffix).
pub fn format_datetime_secs(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil_from_secs(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
}

/// A parsed ISO-8601-like date/time: `yyyy-mm-dd[( |T)HH:MM[:SS[.fraction]]][Z]`.
/// Returns (epoch seconds, nanoseconds 0..1e9).
pub fn parse_iso(s: &str) -> Option<(i64, u32)> {
    let s = s.trim();
    let s = s
        .strip_suffix('Z')
        .or_else(|| s.strip_suffix('z'))
        .unwrap_or(s);
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(s[i + 1..].trim())),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let y_text = dp.next()?;
    let y: i64 = y_text.parse().ok()?;
    let m: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    if !(-9999..=9999).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    let (mut secs, mut nanos) = (days * 86_400, 0u32);
    if let Some(t) = time {
        let (hms, frac) = match t.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (t, None),
        };
        let mut tp = hms.split(':');
        let h: i64 = tp.next()?.parse().ok()?;
        let mi: i64 = tp.next()?.parse().ok()?;
        let sec: i64 = match tp.next() {
            Some(x) => x.parse().ok()?,
            None => 0,
        };
        if tp.next().is_some() || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        secs += h * 3600 + mi * 60 + sec;
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut n: u32 = f.parse().ok()?;
            for _ in f.len()..9 {
                n *= 10;
            }
            nanos = n;
        }
    }
    Some((secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1123_round_trip() {
        assert_eq!(
            format_rfc1123(1_704_067_200),
            "Mon, 01 Jan 2024 00:00:00 GMT"
        );
        assert_eq!(
            parse_rfc1123("Mon, 01 Jan 2024 00:00:00 GMT"),
            Some(1_704_067_200)
        );
        assert_eq!(format_rfc1123(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        for secs in [0i64, 951_782_400, 1_709_164_800, 4_102_444_799, -86_400] {
            assert_eq!(parse_rfc1123(&format_rfc1123(secs)), Some(secs));
        }
        assert_eq!(parse_rfc1123("garbage"), None);
        assert_eq!(parse_rfc1123("Mon, 01 Foo 2024 00:00:00 GMT"), None);
        assert_eq!(parse_rfc1123("Mon, 01 Jan 2024 00:00:00 PST"), None);
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(
            MockTime(1_704_067_200_123).compact_stamp(),
            "20240101000000"
        );
    }

    #[test]
    fn iso_parse() {
        assert_eq!(parse_iso("2024-01-02 03:04:05"), Some((1_704_164_645, 0)));
        assert_eq!(
            parse_iso("2024-01-02T03:04:05.123456789Z"),
            Some((1_704_164_645, 123_456_789))
        );
        assert_eq!(parse_iso("1970-01-01T00:00:01.5"), Some((1, 500_000_000)));
        assert_eq!(parse_iso("2024-02-29"), Some((19_782 * 86_400, 0)));
        assert_eq!(parse_iso("2024-13-01"), None);
        assert_eq!(parse_iso("x"), None);
        assert_eq!(parse_iso("2024-01-01T00:00:00.1234567891"), None);
    }
}
