//! Property tests: option parsing never panics and its errors name a key; memory sizes and
//! wall-clock dates round-trip through their text forms.

use std::collections::BTreeMap;

use maxc_core::options::{
    CdcSinkConfig, LookupConfig, MemorySize, REGISTRY, SinkConfig, SourceConfig,
};
use maxc_core::time::WallClock;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Keys: mostly real ones (so values get type-checked), some typos.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(REGISTRY.iter().map(|d| d.key).collect::<Vec<_>>())
            .prop_map(str::to_string),
        1 => "[a-zA-Z.\\-]{1,24}",
    ]
}

/// Values: typical option shapes and junk.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("true".to_string()),
        Just("FALSE".to_string()),
        Just("odps".to_string()),
        Just("ALL".to_string()),
        Just("maxcompute".to_string()),
        "-?[0-9]{1,25}",
        "[0-9]{1,6} ?(b|kb|MB|gb|tb|ms|s|min|h|xb)",
        ".{0,12}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parsing_never_panics_and_errors_name_a_key(
        options in proptest::collection::btree_map(key(), value(), 0..12)
    ) {
        let keys: Vec<&str> = options.keys().map(String::as_str).collect();
        let results = [
            SourceConfig::from_options(&options).map(|_| ()),
            SinkConfig::from_options(&options).map(|_| ()),
            LookupConfig::from_options(&options).map(|_| ()),
            CdcSinkConfig::from_options(&options).map(|_| ()),
        ];
        for r in results {
            if let Err(e) = r {
                let k = e.key().to_string();
                // The key is either one of the input's or a registry key (missing/conflict).
                prop_assert!(
                    keys.contains(&k.as_str()) || REGISTRY.iter().any(|d| d.key == k),
                    "error names unrelated key: {e}"
                );
                prop_assert!(e.to_string().contains(&k));
            }
        }
    }

    #[test]
    fn memory_size_display_round_trips(n in any::<u64>(), shift in 0u32..41) {
        let m = MemorySize(n >> shift << shift.min(63));
        prop_assert_eq!(MemorySize::parse(&m.to_string()), Ok(m));
    }

    #[test]
    fn rfc1123_round_trips(secs in -62_135_596_800i64..253_402_300_799) {
        // Years 0001..=9999.
        let t = WallClock::from_unix_secs(secs);
        let text = t.to_rfc1123();
        prop_assert_eq!(WallClock::parse_rfc1123(&text), Ok(t));
        let day = t.yyyymmdd();
        prop_assert_eq!(day.len(), 8);
        prop_assert!(text.contains(&day[6..8]));
    }
}

#[test]
fn sql_options_without_connector_fail_on_connector() {
    let options: BTreeMap<&str, &str> = [
        ("endpoint", "e"),
        ("project", "p"),
        ("tableName", "t"),
        ("accessId", "i"),
        ("accessKey", "k"),
    ]
    .into_iter()
    .collect();
    let e = SinkConfig::from_options(&options).unwrap_err();
    assert_eq!(e.key(), "connector");
}
