//! `cacheReloadTimeBlackList`: wall-clock windows during which a dimension table's cache is
//! not reloaded.
//!
//! # Format
//!
//! A comma-separated list of windows, each `START -> END`:
//!
//! ```text
//! 2017-10-24 14:00 -> 2017-10-24 15:00, 2017-11-10 23:30 -> 2017-11-11 08:00
//! ```
//!
//! | form | example | meaning |
//! |---|---|---|
//! | `YYYY-MM-DD HH:MM[:SS] -> YYYY-MM-DD HH:MM[:SS]` | `2017-11-10 23:30 -> 2017-11-11 08:00` | one absolute period (the connector's documented form); the end must be after the start |
//! | `HH:MM[:SS] -> HH:MM[:SS]` | `23:30 -> 08:00` | every day (an extension of this crate); an end before the start crosses midnight |
//!
//! Both ends of a window use the same form. Whitespace around the parts is free. Times are
//! local wall-clock times at a fixed [`UtcOffset`] (configured next to the blacklist; the
//! connector documentation's examples are Beijing time, `+08:00`).
//!
//! A window covers `[start, end)`. A reload that falls due inside a window waits until the
//! window ends; when windows touch or overlap (`14:00 -> 15:00, 15:00 -> 16:00`) the reload
//! waits until the last of the chain ends. Daily windows that together cover the whole day
//! are rejected, since no reload could ever happen.

use std::fmt;

use crate::time::{CivilDateTime, WallClock, days_in_month};

const MILLIS_PER_DAY: i64 = 86_400_000;
const SECS_PER_DAY: usize = 86_400;

/// A fixed offset from UTC (minutes east of Greenwich), used to read blacklist times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UtcOffset {
    minutes: i32,
}

/// Why a UTC offset is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UtcOffsetError {
    /// Not of the form `+HH:MM`, `-HH:MM`, `+HHMM`, `+HH`, `Z` or `UTC`.
    #[error("invalid UTC offset `{0}`: expected e.g. `+08:00`, `-05:30`, `Z`")]
    Malformed(String),
    /// Beyond ±18 hours.
    #[error("UTC offset of {0} minutes is out of range (at most ±18 hours)")]
    OutOfRange(i32),
}

impl UtcOffset {
    /// UTC itself.
    pub const UTC: UtcOffset = UtcOffset { minutes: 0 };

    /// An offset of `minutes` east of UTC (±18 h at most).
    pub fn from_minutes(minutes: i32) -> Result<Self, UtcOffsetError> {
        if minutes.abs() > 18 * 60 {
            return Err(UtcOffsetError::OutOfRange(minutes));
        }
        Ok(Self { minutes })
    }

    /// Minutes east of UTC.
    pub fn minutes(self) -> i32 {
        self.minutes
    }

    /// Parses `+08:00`, `-0530`, `+8`, `Z` or `UTC`.
    pub fn parse(s: &str) -> Result<Self, UtcOffsetError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
            return Ok(Self::UTC);
        }
        let bad = || UtcOffsetError::Malformed(s.to_string());
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let (h, m) = match rest.split_once(':') {
            Some((h, m)) => (h, m),
            None if rest.len() == 4 && rest.bytes().all(|b| b.is_ascii_digit()) => rest.split_at(2),
            None => (rest, "0"),
        };
        let digits = |x: &str| {
            (!x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit()))
                .then(|| x.parse::<i32>().ok())
                .flatten()
        };
        let (Some(h), Some(m)) = (digits(h), digits(m)) else {
            return Err(bad());
        };
        if m > 59 {
            return Err(bad());
        }
        Self::from_minutes(sign * (h * 60 + m))
    }

    fn millis(self) -> i64 {
        i64::from(self.minutes) * 60_000
    }

    /// The local civil-time milliseconds ("local epoch") of a UTC wall-clock value.
    fn wall_to_local(self, at: WallClock) -> i64 {
        at.unix_millis.saturating_add(self.millis())
    }

    /// The UTC wall-clock value of local civil-time milliseconds.
    fn local_to_wall(self, local: i64) -> WallClock {
        WallClock::from_unix_millis(local.saturating_sub(self.millis()))
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minutes < 0 { '-' } else { '+' };
        let m = self.minutes.abs();
        write!(f, "{sign}{:02}:{:02}", m / 60, m % 60)
    }
}

/// One blacklist window (times in local civil time, see [`UtcOffset`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlacklistWindow {
    /// One period: local civil milliseconds since 1970-01-01T00:00 (local), `start < end`.
    Absolute {
        /// Start (inclusive).
        start: i64,
        /// End (exclusive).
        end: i64,
    },
    /// Every day: seconds after local midnight; `start > end` crosses midnight.
    Daily {
        /// Start (inclusive), 0..86400.
        start: u32,
        /// End (exclusive), 0..86400.
        end: u32,
    },
}

impl BlacklistWindow {
    /// When `local` (local civil ms) is inside the window, the local time the window ends.
    fn end_if_contains(&self, local: i64) -> Option<i64> {
        match *self {
            BlacklistWindow::Absolute { start, end } => {
                (start <= local && local < end).then_some(end)
            }
            BlacklistWindow::Daily { start, end } => {
                let day_start = local.div_euclid(MILLIS_PER_DAY) * MILLIS_PER_DAY;
                let tod = local - day_start;
                let s = i64::from(start) * 1000;
                let e = i64::from(end) * 1000;
                if s < e {
                    (s <= tod && tod < e).then_some(day_start + e)
                } else if tod >= s {
                    // Crossing midnight: started today, ends tomorrow.
                    Some(day_start + MILLIS_PER_DAY + e)
                } else if tod < e {
                    // Crossing midnight: started yesterday, ends today.
                    Some(day_start + e)
                } else {
                    None
                }
            }
        }
    }
}

/// Why a `cacheReloadTimeBlackList` value is invalid. Every message names the offending
/// window and shows the expected format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlacklistError {
    /// An empty entry (`a -> b,,c -> d`, or a leading/trailing comma).
    #[error(
        "cacheReloadTimeBlackList: window {index} is empty (stray comma); expected e.g. `2017-10-24 14:00 -> 2017-10-24 15:00, 2017-11-10 23:30 -> 2017-11-11 08:00`"
    )]
    EmptyWindow {
        /// 1-based position of the window.
        index: usize,
    },
    /// No `->` between start and end, or more than one.
    #[error(
        "cacheReloadTimeBlackList: window `{window}` must be `START -> END`, e.g. `2017-10-24 14:00 -> 2017-10-24 15:00`"
    )]
    MissingArrow {
        /// The window text.
        window: String,
    },
    /// A start or end that is not a date-time `YYYY-MM-DD HH:MM[:SS]` or a time `HH:MM[:SS]`.
    #[error(
        "cacheReloadTimeBlackList: `{text}` in window `{window}` is not a valid time ({reason}); expected `YYYY-MM-DD HH:MM` or `HH:MM`"
    )]
    BadTime {
        /// The window text.
        window: String,
        /// The start or end text.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// One end with a date and the other without.
    #[error(
        "cacheReloadTimeBlackList: window `{window}` mixes a date-time and a time of day; give both ends as `YYYY-MM-DD HH:MM` (or both as `HH:MM` for a daily window)"
    )]
    MixedForms {
        /// The window text.
        window: String,
    },
    /// An absolute window whose end is not after its start, or a daily window with equal ends.
    #[error("cacheReloadTimeBlackList: window `{window}` is empty: its end is not after its start")]
    EmptyRange {
        /// The window text.
        window: String,
    },
    /// Daily windows that cover all 24 hours (no reload could ever happen).
    #[error(
        "cacheReloadTimeBlackList: the daily windows cover the whole day, so the cache could never be reloaded"
    )]
    CoversWholeDay,
}

/// A parsed `cacheReloadTimeBlackList` (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReloadBlacklist {
    windows: Vec<BlacklistWindow>,
}

enum Point {
    /// Local civil milliseconds.
    DateTime(i64),
    /// Seconds after midnight.
    TimeOfDay(u32),
}

fn parse_num(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `HH:MM[:SS]` (one- or two-digit hour) to seconds after midnight.
fn parse_time_of_day(s: &str) -> Result<u32, &'static str> {
    let mut it = s.split(':');
    let (Some(h), Some(m)) = (it.next(), it.next()) else {
        return Err("expected HH:MM");
    };
    let sec = it.next();
    if it.next().is_some() {
        return Err("too many `:`");
    }
    let h = parse_num(h, 2)
        .or_else(|| parse_num(h, 1))
        .ok_or("hour must be one or two digits")?;
    let m = parse_num(m, 2).ok_or("minute must be two digits")?;
    let sec = match sec {
        Some(x) => parse_num(x, 2).ok_or("second must be two digits")?,
        None => 0,
    };
    if h > 23 {
        return Err("hour out of range");
    }
    if m > 59 {
        return Err("minute out of range");
    }
    if sec > 59 {
        return Err("second out of range");
    }
    Ok(h * 3600 + m * 60 + sec)
}

fn parse_point(s: &str) -> Result<Point, &'static str> {
    let mut parts = s.split_ascii_whitespace();
    let (Some(first), second, None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(if s.trim().is_empty() {
            "empty"
        } else {
            "expected a date and a time separated by a space"
        });
    };
    let Some(time) = second else {
        if first.contains('-') {
            return Err("a date needs a time (`YYYY-MM-DD HH:MM`)");
        }
        return parse_time_of_day(first).map(Point::TimeOfDay);
    };
    let mut d = first.split('-');
    let (Some(y), Some(mo), Some(day), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err("date must be YYYY-MM-DD");
    };
    let y = parse_num(y, 4).ok_or("year must be four digits")?;
    let mo = parse_num(mo, 2).ok_or("month must be two digits")?;
    let day = parse_num(day, 2).ok_or("day must be two digits")?;
    if !(1..=12).contains(&mo) {
        return Err("month out of range");
    }
    if day == 0 || day > days_in_month(i64::from(y), mo) {
        return Err("day out of range");
    }
    let secs = parse_time_of_day(time)?;
    let local = WallClock::from_civil(&CivilDateTime {
        year: i64::from(y),
        month: mo,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
        millis: 0,
    });
    Ok(Point::DateTime(local.unix_millis))
}

impl ReloadBlacklist {
    /// No windows.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses the option value (see the [module docs](self)). A blank value gives no windows.
    pub fn parse(input: &str) -> Result<Self, BlacklistError> {
        if input.trim().is_empty() {
            return Ok(Self::empty());
        }
        let mut windows = Vec::new();
        for (i, raw) in input.split(',').enumerate() {
            let window = raw.trim();
            if window.is_empty() {
                return Err(BlacklistError::EmptyWindow { index: i + 1 });
            }
            let mut ends = window.split("->");
            let (Some(a), Some(b), None) = (ends.next(), ends.next(), ends.next()) else {
                return Err(BlacklistError::MissingArrow {
                    window: window.to_string(),
                });
            };
            let point = |text: &str| {
                parse_point(text.trim()).map_err(|reason| BlacklistError::BadTime {
                    window: window.to_string(),
                    text: text.trim().to_string(),
                    reason,
                })
            };
            let w = match (point(a)?, point(b)?) {
                (Point::DateTime(start), Point::DateTime(end)) => {
                    if end <= start {
                        return Err(BlacklistError::EmptyRange {
                            window: window.to_string(),
                        });
                    }
                    BlacklistWindow::Absolute { start, end }
                }
                (Point::TimeOfDay(start), Point::TimeOfDay(end)) => {
                    if start == end {
                        return Err(BlacklistError::EmptyRange {
                            window: window.to_string(),
                        });
                    }
                    BlacklistWindow::Daily { start, end }
                }
                _ => {
                    return Err(BlacklistError::MixedForms {
                        window: window.to_string(),
                    });
                }
            };
            windows.push(w);
        }
        let list = Self { windows };
        if list.daily_covers_whole_day() {
            return Err(BlacklistError::CoversWholeDay);
        }
        Ok(list)
    }

    fn daily_covers_whole_day(&self) -> bool {
        let daily: Vec<(u32, u32)> = self
            .windows
            .iter()
            .filter_map(|w| match *w {
                BlacklistWindow::Daily { start, end } => Some((start, end)),
                BlacklistWindow::Absolute { .. } => None,
            })
            .collect();
        if daily.is_empty() {
            return false;
        }
        let mut covered = vec![false; SECS_PER_DAY];
        for (start, end) in daily {
            let (s, e) = (start as usize, end as usize);
            let mut mark = |r: std::ops::Range<usize>| {
                for c in covered.get_mut(r).into_iter().flatten() {
                    *c = true;
                }
            };
            if s < e {
                mark(s..e);
            } else {
                mark(s..SECS_PER_DAY);
                mark(0..e);
            }
        }
        covered.iter().all(|c| *c)
    }

    /// The windows in the order given.
    pub fn windows(&self) -> &[BlacklistWindow] {
        &self.windows
    }

    /// True when there are no windows.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// When `at` falls inside a window, the first moment at or after `at` outside every
    /// window (following touching or overlapping windows to the end of the chain); `None`
    /// when `at` is outside all windows.
    pub fn blocked_until(&self, at: WallClock, offset: UtcOffset) -> Option<WallClock> {
        let start = offset.wall_to_local(at);
        let mut t = start;
        // Each step moves to a window end strictly later than `t`; daily windows leave a gap
        // every day (checked at parse time), so a chain ends within a day per window.
        let max_steps = self.windows.len().saturating_mul(3).saturating_add(3);
        for _ in 0..max_steps {
            let next = self
                .windows
                .iter()
                .filter_map(|w| w.end_if_contains(t))
                .max();
            match next {
                Some(end) if end > t => t = end,
                _ => break,
            }
        }
        (t != start).then(|| offset.local_to_wall(t))
    }
}

impl std::str::FromStr for ReloadBlacklist {
    type Err = BlacklistError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
