//! Property tests of `maxc_core::hash`: routing is stable (whole batch = row by row = any
//! slicing), buckets are in range, and the integer hash agrees with a second model written
//! from the spec with unbounded-integer arithmetic (as a Python implementation would do it).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, LargeStringArray, StringArray};
use maxc_core::hash::{Hasher, bucket_of, buckets_for_batch, combine, hash_value};
use maxc_core::types::OdpsType;
use proptest::prelude::*;

/// Wrap an unbounded integer to signed 64 bits.
fn wrap64(v: i128) -> i128 {
    let m = v.rem_euclid(1 << 64);
    if m >= 1 << 63 { m - (1 << 64) } else { m }
}

fn wrap32(v: i128) -> i128 {
    let m = v.rem_euclid(1 << 32);
    if m >= 1 << 31 { m - (1 << 32) } else { m }
}

/// The `default` integer hash, step by step on i128 with explicit wrapping after every step.
fn model_default(v: i64) -> i32 {
    let v = i128::from(v);
    let mut l = wrap64(wrap64(!v) + wrap64(v << 18));
    l ^= l >> 31;
    l = wrap64(l * 21);
    l ^= l >> 11;
    l = wrap64(l + wrap64(l << 6));
    l ^= l >> 22;
    wrap32(l) as i32
}

fn model_jenkins(s: &[u8]) -> i32 {
    let mut h: i128 = 0;
    for &b in s {
        h = wrap32(h + i128::from(b as i8));
        h = wrap32(h + wrap32(h << 10));
        h = wrap32(h ^ (h >> 6));
    }
    h = wrap32(h + wrap32(h << 3));
    h = wrap32(h ^ (h >> 11));
    wrap32(h + wrap32(h << 15)) as i32
}

fn model_legacy_string(s: &[u8]) -> i32 {
    s.iter()
        .fold(0i128, |h, &b| wrap32(h * 31 + i128::from(b as i8))) as i32
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn integer_and_string_hashes_match_the_model(v in any::<i64>(), s in ".{0,20}") {
        prop_assert_eq!(Hasher::Default.hash_long(v), model_default(v));
        prop_assert_eq!(Hasher::Legacy.hash_long(v), wrap32(i128::from((v >> 32) ^ v)) as i32);
        prop_assert_eq!(Hasher::Default.hash_bytes(s.as_bytes()), model_jenkins(s.as_bytes()));
        prop_assert_eq!(Hasher::Legacy.hash_bytes(s.as_bytes()), model_legacy_string(s.as_bytes()));
    }

    #[test]
    fn routing_is_stable(
        rows in prop::collection::vec((any::<Option<i32>>(), prop::option::of(".{0,12}")), 1..60),
        bucket_count in 1u32..1024,
        cut in any::<usize>(),
        legacy in any::<bool>(),
    ) {
        let h = if legacy { Hasher::Legacy } else { Hasher::Default };
        let k1 = Int64Array::from(rows.iter().map(|r| r.0.map(i64::from)).collect::<Vec<_>>());
        let k2 = StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>());
        let ty_s = OdpsType::String;
        let cols: [(&OdpsType, &dyn Array); 2] = [(&OdpsType::BigInt, &k1), (&ty_s, &k2)];
        let all = buckets_for_batch(h, &cols, bucket_count).unwrap();
        prop_assert_eq!(all.len(), rows.len());

        // Row by row gives the same buckets, all in range.
        for (i, b) in all.iter().enumerate() {
            let c = combine([
                hash_value(h, &OdpsType::BigInt, &k1, i).unwrap(),
                hash_value(h, &ty_s, &k2, i).unwrap(),
            ]);
            prop_assert!(c >= 0);
            prop_assert_eq!(*b, bucket_of(c, bucket_count));
            prop_assert!(*b < bucket_count);
        }

        // Splitting the batch anywhere gives the same buckets.
        let at = cut % (rows.len() + 1);
        let mut parts = Vec::new();
        for (off, len) in [(0, at), (at, rows.len() - at)] {
            let a: ArrayRef = Array::slice(&k1, off, len);
            let b: ArrayRef = Array::slice(&k2, off, len);
            let c: [(&OdpsType, &dyn Array); 2] = [(&OdpsType::BigInt, a.as_ref()), (&ty_s, b.as_ref())];
            parts.extend(buckets_for_batch(h, &c, bucket_count).unwrap());
        }
        prop_assert_eq!(&parts, &all);

        // Other Arrow representations of the same values route identically.
        let k1n = Int32Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
        let k2l: ArrayRef = Arc::new(LargeStringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>()));
        let c: [(&OdpsType, &dyn Array); 2] = [(&OdpsType::Int, &k1n), (&ty_s, k2l.as_ref())];
        prop_assert_eq!(buckets_for_batch(h, &c, bucket_count).unwrap(), all);
    }
}
