use crate::lookup::blacklist::*;
use crate::time::{CivilDateTime, WallClock};

/// UTC wall clock of a civil time given in `offset`.
fn at(offset: UtcOffset, y: i64, mo: u32, d: u32, h: u32, mi: u32) -> WallClock {
    let local = WallClock::from_civil(&CivilDateTime {
        year: y,
        month: mo,
        day: d,
        hour: h,
        minute: mi,
        second: 0,
        millis: 0,
    });
    WallClock::from_unix_millis(local.unix_millis - i64::from(offset.minutes()) * 60_000)
}

const SEED: &str = "2017-10-24 14:00 -> 2017-10-24 15:00, 2017-11-10 23:30 -> 2017-11-11 08:00";

#[test]
fn parses_the_seed_example() {
    let b = ReloadBlacklist::parse(SEED).unwrap();
    assert_eq!(b.windows().len(), 2);
    assert!(matches!(b.windows()[0], BlacklistWindow::Absolute { .. }));
    let utc = UtcOffset::UTC;
    // Inside the first window: wait until 15:00.
    assert_eq!(
        b.blocked_until(at(utc, 2017, 10, 24, 14, 30), utc),
        Some(at(utc, 2017, 10, 24, 15, 0))
    );
    // Start inclusive, end exclusive.
    assert_eq!(
        b.blocked_until(at(utc, 2017, 10, 24, 14, 0), utc),
        Some(at(utc, 2017, 10, 24, 15, 0))
    );
    assert_eq!(b.blocked_until(at(utc, 2017, 10, 24, 15, 0), utc), None);
    assert_eq!(b.blocked_until(at(utc, 2017, 10, 24, 13, 59), utc), None);
}

#[test]
fn absolute_window_crossing_midnight() {
    let b = ReloadBlacklist::parse(SEED).unwrap();
    let utc = UtcOffset::UTC;
    for (d, h, m) in [(10, 23, 30), (10, 23, 59), (11, 0, 0), (11, 7, 59)] {
        assert_eq!(
            b.blocked_until(at(utc, 2017, 11, d, h, m), utc),
            Some(at(utc, 2017, 11, 11, 8, 0)),
            "{d} {h}:{m}"
        );
    }
    assert_eq!(b.blocked_until(at(utc, 2017, 11, 10, 23, 29), utc), None);
    assert_eq!(b.blocked_until(at(utc, 2017, 11, 11, 8, 0), utc), None);
    // The absolute window does not repeat the next day.
    assert_eq!(b.blocked_until(at(utc, 2017, 11, 12, 0, 0), utc), None);
}

#[test]
fn offset_shifts_the_windows() {
    let b = ReloadBlacklist::parse("2017-10-24 14:00 -> 2017-10-24 15:00").unwrap();
    let bj = UtcOffset::parse("+08:00").unwrap();
    // 14:30 Beijing = 06:30 UTC.
    let inside = at(UtcOffset::UTC, 2017, 10, 24, 6, 30);
    assert_eq!(
        b.blocked_until(inside, bj),
        Some(at(UtcOffset::UTC, 2017, 10, 24, 7, 0))
    );
    // The same UTC instant read as UTC is outside.
    assert_eq!(b.blocked_until(inside, UtcOffset::UTC), None);
    // And 14:30 UTC is 22:30 Beijing: outside.
    assert_eq!(
        b.blocked_until(at(UtcOffset::UTC, 2017, 10, 24, 14, 30), bj),
        None
    );
}

#[test]
fn daily_windows_crossing_midnight() {
    let b = ReloadBlacklist::parse("23:30 -> 08:00").unwrap();
    let utc = UtcOffset::UTC;
    // Before midnight: ends 08:00 the next day.
    assert_eq!(
        b.blocked_until(at(utc, 2024, 2, 28, 23, 45), utc),
        Some(at(utc, 2024, 2, 29, 8, 0))
    );
    // After midnight: ends 08:00 the same day.
    assert_eq!(
        b.blocked_until(at(utc, 2024, 3, 1, 3, 0), utc),
        Some(at(utc, 2024, 3, 1, 8, 0))
    );
    assert_eq!(b.blocked_until(at(utc, 2024, 3, 1, 8, 0), utc), None);
    assert_eq!(b.blocked_until(at(utc, 2024, 3, 1, 12, 0), utc), None);
    assert_eq!(b.blocked_until(at(utc, 2024, 3, 1, 23, 29), utc), None);
    // Year end.
    assert_eq!(
        b.blocked_until(at(utc, 2023, 12, 31, 23, 30), utc),
        Some(at(utc, 2024, 1, 1, 8, 0))
    );
}

#[test]
fn daily_window_with_negative_offset_before_epoch_day_boundary() {
    let b = ReloadBlacklist::parse("22:00 -> 02:00").unwrap();
    let ny = UtcOffset::parse("-05:00").unwrap();
    // 23:00 local on 1970-01-01 is 04:00 UTC on 1970-01-02.
    let t = at(ny, 1970, 1, 1, 23, 0);
    assert_eq!(b.blocked_until(t, ny), Some(at(ny, 1970, 1, 2, 2, 0)));
    // Before the epoch works too.
    let t = at(ny, 1969, 12, 31, 1, 0);
    assert_eq!(b.blocked_until(t, ny), Some(at(ny, 1969, 12, 31, 2, 0)));
}

#[test]
fn back_to_back_and_overlapping_windows_chain() {
    let utc = UtcOffset::UTC;
    let b = ReloadBlacklist::parse(
        "2024-05-01 10:00 -> 2024-05-01 11:00, 2024-05-01 11:00 -> 2024-05-01 12:00, 2024-05-01 11:30 -> 2024-05-01 13:15",
    )
    .unwrap();
    assert_eq!(
        b.blocked_until(at(utc, 2024, 5, 1, 10, 15), utc),
        Some(at(utc, 2024, 5, 1, 13, 15))
    );
    // A gap of one minute breaks the chain.
    let b = ReloadBlacklist::parse(
        "2024-05-01 10:00 -> 2024-05-01 11:00, 2024-05-01 11:01 -> 2024-05-01 12:00",
    )
    .unwrap();
    assert_eq!(
        b.blocked_until(at(utc, 2024, 5, 1, 10, 15), utc),
        Some(at(utc, 2024, 5, 1, 11, 0))
    );
    // Daily windows chaining across midnight into an absolute one.
    let b = ReloadBlacklist::parse(
        "22:00 -> 00:00, 00:00 -> 01:00, 2024-05-02 01:00 -> 2024-05-02 03:00",
    )
    .unwrap();
    assert_eq!(
        b.blocked_until(at(utc, 2024, 5, 1, 22, 30), utc),
        Some(at(utc, 2024, 5, 2, 3, 0))
    );
    assert_eq!(
        b.blocked_until(at(utc, 2024, 5, 2, 22, 30), utc),
        Some(at(utc, 2024, 5, 3, 1, 0))
    );
}

#[test]
fn whitespace_seconds_and_blank() {
    let b = ReloadBlacklist::parse("  2017-10-24   14:00:30->2017-10-24 15:00:00 ,9:05 -> 09:10")
        .unwrap();
    assert_eq!(b.windows().len(), 2);
    assert_eq!(
        b.windows()[1],
        BlacklistWindow::Daily {
            start: 9 * 3600 + 5 * 60,
            end: 9 * 3600 + 10 * 60
        }
    );
    assert!(ReloadBlacklist::parse("").unwrap().is_empty());
    assert!(ReloadBlacklist::parse("   ").unwrap().is_empty());
    let utc = UtcOffset::UTC;
    assert_eq!(
        ReloadBlacklist::empty().blocked_until(at(utc, 2024, 1, 1, 0, 0), utc),
        None
    );
}

#[test]
fn bad_formats_are_typed_errors() {
    use BlacklistError as E;
    type Check = fn(&E) -> bool;
    let cases: Vec<(&str, Check)> = vec![
        ("2017-10-24 14:00 - 2017-10-24 15:00", |e| {
            matches!(e, E::MissingArrow { .. })
        }),
        ("2017-10-24 14:00", |e| matches!(e, E::MissingArrow { .. })),
        ("a -> b -> c", |e| matches!(e, E::MissingArrow { .. })),
        ("2017-10-24 14:00 -> 2017-10-24 15:00,", |e| {
            matches!(e, E::EmptyWindow { index: 2 })
        }),
        (",2017-10-24 14:00 -> 2017-10-24 15:00", |e| {
            matches!(e, E::EmptyWindow { index: 1 })
        }),
        ("2017-13-24 14:00 -> 2017-10-24 15:00", |e| {
            matches!(
                e,
                E::BadTime {
                    reason: "month out of range",
                    ..
                }
            )
        }),
        ("2017-02-29 14:00 -> 2017-03-01 15:00", |e| {
            matches!(
                e,
                E::BadTime {
                    reason: "day out of range",
                    ..
                }
            )
        }),
        ("2017-10-24 24:00 -> 2017-10-25 01:00", |e| {
            matches!(
                e,
                E::BadTime {
                    reason: "hour out of range",
                    ..
                }
            )
        }),
        ("2017-10-24 14:60 -> 2017-10-25 01:00", |e| {
            matches!(
                e,
                E::BadTime {
                    reason: "minute out of range",
                    ..
                }
            )
        }),
        ("2017-10-24 14:00:99 -> 2017-10-25 01:00", |e| {
            matches!(
                e,
                E::BadTime {
                    reason: "second out of range",
                    ..
                }
            )
        }),
        ("17-10-24 14:00 -> 2017-10-24 15:00", |e| {
            matches!(e, E::BadTime { .. })
        }),
        ("2017/10/24 14:00 -> 2017-10-24 15:00", |e| {
            matches!(e, E::BadTime { .. })
        }),
        ("2017-10-24 -> 2017-10-25", |e| {
            matches!(e, E::BadTime { .. })
        }),
        ("2017-10-24T14:00 -> 2017-10-24T15:00", |e| {
            matches!(e, E::BadTime { .. })
        }),
        (" -> 15:00", |e| {
            matches!(
                e,
                E::BadTime {
                    reason: "empty",
                    ..
                }
            )
        }),
        ("14h -> 15h", |e| matches!(e, E::BadTime { .. })),
        ("2017-10-24 14:00 -> 15:00", |e| {
            matches!(e, E::MixedForms { .. })
        }),
        ("2017-10-24 15:00 -> 2017-10-24 15:00", |e| {
            matches!(e, E::EmptyRange { .. })
        }),
        ("2017-10-24 16:00 -> 2017-10-24 15:00", |e| {
            matches!(e, E::EmptyRange { .. })
        }),
        ("08:00 -> 08:00", |e| matches!(e, E::EmptyRange { .. })),
        ("00:00 -> 12:00, 12:00 -> 00:00", |e| {
            matches!(e, E::CoversWholeDay)
        }),
        ("20:00 -> 10:00, 09:00 -> 21:00", |e| {
            matches!(e, E::CoversWholeDay)
        }),
        ("２０１７-10-24 14:00 -> 2017-10-24 15:00", |e| {
            matches!(e, E::BadTime { .. })
        }),
    ];
    for (input, check) in cases {
        let err = ReloadBlacklist::parse(input).expect_err(input);
        assert!(check(&err), "{input}: {err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with("cacheReloadTimeBlackList:"), "{msg}");
    }
    // Messages name the window and show the format.
    let e = ReloadBlacklist::parse("2017-10-24 14:00 -> 2017-13-24 15:00").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cacheReloadTimeBlackList: `2017-13-24 15:00` in window `2017-10-24 14:00 -> 2017-13-24 15:00` is not a valid time (month out of range); expected `YYYY-MM-DD HH:MM` or `HH:MM`"
    );
    // Almost the whole day is fine: one second of gap.
    assert!(ReloadBlacklist::parse("00:00 -> 12:00, 12:00 -> 23:59:59").is_ok());
}

#[test]
fn utc_offsets() {
    assert_eq!(UtcOffset::parse("+08:00").unwrap().minutes(), 480);
    assert_eq!(UtcOffset::parse("-0530").unwrap().minutes(), -330);
    assert_eq!(UtcOffset::parse("+8").unwrap().minutes(), 480);
    assert_eq!(UtcOffset::parse("Z").unwrap(), UtcOffset::UTC);
    assert_eq!(UtcOffset::parse("utc").unwrap(), UtcOffset::UTC);
    assert_eq!(UtcOffset::parse("-05:30").unwrap().to_string(), "-05:30");
    for bad in ["08:00", "+8:60", "+123", "", "+", "+aé1", "+１２"] {
        assert!(
            matches!(UtcOffset::parse(bad), Err(UtcOffsetError::Malformed(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        UtcOffset::parse("+19:00"),
        Err(UtcOffsetError::OutOfRange(1140))
    ));
    assert!(UtcOffset::from_minutes(-18 * 60).is_ok());
}
