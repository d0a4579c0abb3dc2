//! Property tests of `maxc_core::compress`: round trips with random data split at random
//! points, and garbage never panics.

use maxc_core::compress::{Compression, Compressor, Decompressor, compress, decompress};
use proptest::prelude::*;

fn codec() -> impl Strategy<Value = Compression> {
    prop::sample::select(Compression::ALL.to_vec())
}

/// Data with runs (compressible) and noise.
fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..3000),
        prop::collection::vec((any::<u8>(), 1usize..300), 0..60)
            .prop_map(|runs| runs.into_iter().flat_map(|(b, n)| vec![b; n]).collect()),
        (0usize..200_000).prop_map(|n| (0..n).map(|i| (i * 7 % 253) as u8).collect()),
    ]
}

/// Split `v` at the given (sorted, deduplicated) cut points.
fn split<'a>(v: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut pts: Vec<usize> = cuts.iter().map(|c| c % (v.len() + 1)).collect();
    pts.sort_unstable();
    pts.dedup();
    let mut out = Vec::new();
    let mut prev = 0;
    for p in pts {
        out.push(&v[prev..p]);
        prev = p;
    }
    out.push(&v[prev..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn round_trip_with_random_splits(
        c in codec(),
        data in data(),
        write_cuts in prop::collection::vec(any::<usize>(), 0..12),
        read_cuts in prop::collection::vec(any::<usize>(), 0..12),
        take_mid in any::<bool>(),
    ) {
        let mut enc = Compressor::new(c).unwrap();
        let mut wire = Vec::new();
        for piece in split(&data, &write_cuts) {
            enc.write(piece).unwrap();
            if take_mid {
                wire.extend(enc.take_output());
            }
        }
        wire.extend(enc.finish().unwrap());
        // The streamed encoding decodes like the one-shot one.
        prop_assert_eq!(decompress(c, &wire, data.len()).unwrap(), data.clone());

        let mut dec = Decompressor::new(c, data.len()).unwrap();
        let mut out = Vec::new();
        for piece in split(&wire, &read_cuts) {
            dec.feed(piece).unwrap();
            if take_mid {
                out.extend(dec.take_output());
            }
        }
        out.extend(dec.finish().unwrap());
        prop_assert_eq!(out, data);
    }

    #[test]
    fn limit_below_size_always_errors(c in codec(), data in data(), short in 1usize..100) {
        prop_assume!(!data.is_empty());
        let wire = compress(c, &data).unwrap();
        let limit = data.len().saturating_sub(short);
        let r = decompress(c, &wire, limit);
        let is_limit_error = matches!(r, Err(maxc_core::compress::CompressError::OutputLimit { .. }));
        prop_assert!(is_limit_error);
    }

    #[test]
    fn garbage_never_panics(
        c in codec(),
        junk in prop::collection::vec(any::<u8>(), 0..2000),
        keep in 0usize..64,
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        // Both pure junk and junk after a valid beginning.
        let mut valid = compress(c, b"some valid beginning of a body").unwrap();
        valid.truncate(keep.min(valid.len()));
        valid.extend_from_slice(&junk);
        for input in [&junk, &valid] {
            let mut d = Decompressor::new(c, 1 << 20).unwrap();
            let mut ok = true;
            for piece in split(input, &cuts) {
                if d.feed(piece).is_err() {
                    ok = false;
                    break;
                }
                let _ = d.take_output();
            }
            if ok {
                let _ = d.finish();
            }
        }
    }

    #[test]
    fn flipping_a_byte_never_yields_different_data_silently(
        c in prop::sample::select(vec![Compression::Zlib, Compression::Snappy, Compression::Lz4Frame]),
        data in prop::collection::vec(any::<u8>(), 1..2000),
        pos in any::<usize>(),
        bit in 0u8..8,
    ) {
        // These three carry checksums over the decoded content (Adler-32, masked CRC32C,
        // xxHash32 content checksum), so a flipped bit is either an error or harmless.
        let mut wire = compress(c, &data).unwrap();
        let i = pos % wire.len();
        wire[i] ^= 1 << bit;
        if let Ok(out) = decompress(c, &wire, data.len() * 2 + 100) {
            prop_assert_eq!(out, data);
        }
    }
}
