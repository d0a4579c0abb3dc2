//! Property tests for partition specs and patterns.

use maxc_core::partition::{PartitionPattern, PartitionSpec, SinkPartition, StartPartition};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,8}"
}

/// Values with every special character the forms care about.
fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just(','),
            Just('='),
            Just('\''),
            Just('"'),
            Just('/'),
            Just('\\'),
            Just('*'),
            Just('?'),
            Just(' '),
            Just('\t'),
            Just('日'),
            prop::char::range('a', 'z'),
            prop::char::range('0', '9'),
            any::<char>(),
        ],
        1..12,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn spec() -> impl Strategy<Value = PartitionSpec> {
    prop::collection::vec((key(), value()), 0..5).prop_map(|pairs| {
        let mut s = PartitionSpec::new();
        for (k, v) in pairs {
            // Skip duplicate keys (case-insensitive).
            let _ = s.push(k, v);
        }
        s
    })
}

fn plain_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_:.\\-]{1,10}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn display_round_trips(s in spec()) {
        let printed = s.to_string();
        prop_assert_eq!(PartitionSpec::parse(&printed).unwrap(), s.clone());
        prop_assert_eq!(PartitionSpec::parse(&s.to_metadata_string()).unwrap(), s.clone());
        // An exact spec printed is read back as the same exact pattern (wildcards quoted).
        match PartitionPattern::parse(&printed).unwrap() {
            PartitionPattern::Exact(p) => prop_assert_eq!(p, s),
            other => prop_assert!(false, "expected exact, got {:?}", other),
        }
    }

    #[test]
    fn tunnel_and_directory_forms_round_trip_for_plain_values(
        pairs in prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", plain_value(), 0..5)
    ) {
        let s = PartitionSpec::from_pairs(pairs).unwrap();
        prop_assert_eq!(PartitionSpec::parse(&s.to_tunnel_string()).unwrap(), s.clone());
        prop_assert_eq!(PartitionSpec::parse(&s.to_directory_string()).unwrap(), s.clone());
        prop_assert_eq!(s.to_tunnel_string(), s.to_string());
    }

    #[test]
    fn parsers_never_panic(input in any::<String>()) {
        let _ = PartitionSpec::parse(&input);
        let _ = PartitionPattern::parse(&input).map(|p| p.resolve(&[]));
        let _ = SinkPartition::parse(&input);
        let _ = StartPartition::parse(&input);
    }

    #[test]
    fn parsers_never_panic_on_spec_like_input(
        input in "[a-c=,/'\"\\\\*? \t]{0,24}"
    ) {
        if let Ok(s) = PartitionSpec::parse(&input) {
            prop_assert_eq!(PartitionSpec::parse(&s.to_string()).unwrap(), s);
        }
        let _ = PartitionPattern::parse(&input);
        let _ = SinkPartition::parse(&input);
    }

    #[test]
    fn max_pt_is_the_maximum(listing in prop::collection::vec(spec(), 0..8)) {
        let got = PartitionPattern::MaxPt.resolve(&listing);
        prop_assert_eq!(got.first(), listing.iter().max());
        let two = PartitionPattern::MaxTwoPt.resolve(&listing);
        let mut sorted = listing.clone();
        sorted.sort();
        sorted.dedup();
        let tail = &sorted[sorted.len().saturating_sub(2)..];
        prop_assert_eq!(two.as_slice(), tail);
    }

    #[test]
    fn ord_is_total_and_consistent(a in spec(), b in spec()) {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a.cmp(&b) == std::cmp::Ordering::Equal, a == b);
    }
}
