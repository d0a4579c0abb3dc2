use proptest::prelude::*;

use crate::lookup::blacklist::*;
use crate::time::WallClock;

const MIN: i64 = 60_000;
/// 2024-01-01T00:00Z.
const BASE: i64 = 1_704_067_200_000;

fn window() -> impl Strategy<Value = String> {
    prop_oneof![
        // Daily windows on a 15-minute grid.
        (0u32..96, 1u32..96).prop_map(|(s, len)| {
            let (a, b) = (s * 15, (s + len) * 15 % 1440);
            format!("{:02}:{:02} -> {:02}:{:02}", a / 60, a % 60, b / 60, b % 60)
        }),
        // Absolute windows within three days of BASE.
        (0i64..(3 * 96), 1i64..40).prop_map(|(s, len)| {
            let fmt = |q: i64| {
                let w = WallClock::from_unix_millis(BASE + q * 15 * MIN).to_civil();
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}",
                    w.year, w.month, w.day, w.hour, w.minute
                )
            };
            format!("{} -> {}", fmt(s), fmt(s + len))
        }),
    ]
}

fn inside(b: &ReloadBlacklist, t: WallClock, offset: UtcOffset) -> bool {
    b.blocked_until(t, offset).is_some()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// `blocked_until` returns the first moment outside every window: it is outside, and
    /// every minute before it (from the query time on) is inside some window.
    #[test]
    fn blocked_until_is_the_first_free_moment(
        windows in proptest::collection::vec(window(), 1..5),
        at_min in 0i64..(4 * 1440),
        offset_q in -8i32..=8,
    ) {
        let text = windows.join(", ");
        let Ok(b) = ReloadBlacklist::parse(&text) else {
            // Daily windows covering the whole day are rejected; nothing else may fail.
            prop_assert!(matches!(ReloadBlacklist::parse(&text), Err(BlacklistError::CoversWholeDay)));
            return Ok(());
        };
        let offset = UtcOffset::from_minutes(offset_q * 90).unwrap();
        let at = WallClock::from_unix_millis(BASE + at_min * MIN);
        match b.blocked_until(at, offset) {
            None => {}
            Some(free) => {
                prop_assert!(free > at);
                prop_assert!(!inside(&b, free, offset), "{text}: {free} is blocked");
                let mut t = at.unix_millis;
                while t < free.unix_millis {
                    prop_assert!(inside(&b, WallClock::from_unix_millis(t), offset), "{text}: gap at {t}");
                    t += 15 * MIN;
                }
            }
        }
    }
}
