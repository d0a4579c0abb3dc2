use std::io::Read;

use super::*;

/// Deterministic, somewhat compressible test data (a record-stream-like mix).
fn sample(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 7 < 4 { (i % 251) as u8 } else { x as u8 }
        })
        .collect()
}

const CODECS: [Compression; 4] = [
    Compression::Zlib,
    Compression::Snappy,
    Compression::Lz4Frame,
    Compression::Zstd,
];

#[test]
fn header_values() {
    assert_eq!(Compression::Raw.content_encoding(), None);
    assert_eq!(Compression::Zlib.content_encoding(), Some("deflate"));
    assert_eq!(
        Compression::Snappy.content_encoding(),
        Some("x-snappy-framed")
    );
    assert_eq!(
        Compression::Lz4Frame.content_encoding(),
        Some("x-lz4-frame")
    );
    assert_eq!(Compression::Zstd.content_encoding(), Some("zstd"));
    assert_eq!(Compression::Raw.arrow_content_encoding(), None);
    assert_eq!(Compression::Zlib.arrow_content_encoding(), Some("deflate"));
    assert_eq!(
        Compression::Snappy.arrow_content_encoding(),
        Some("x-snappy-framed")
    );
    assert_eq!(
        Compression::Lz4Frame.arrow_content_encoding(),
        Some("x-odps-lz4-frame")
    );
    assert_eq!(Compression::Zstd.arrow_content_encoding(), Some("zstd"));
}

#[test]
fn header_values_parse_back() {
    for c in Compression::ALL {
        assert_eq!(
            Compression::from_content_encoding(c.content_encoding()),
            Ok(c)
        );
        assert_eq!(
            Compression::from_content_encoding(c.arrow_content_encoding()),
            Ok(c)
        );
        if let Some(v) = c.content_encoding() {
            let upper = v.to_ascii_uppercase();
            assert_eq!(Compression::from_content_encoding(Some(&upper)), Ok(c));
        }
    }
    let cases = [
        (None, Compression::Raw),
        (Some("identity"), Compression::Raw),
        (Some("IDENTITY"), Compression::Raw),
        (Some(""), Compression::Raw),
        (Some(" deflate "), Compression::Zlib),
        (Some("LZ4_FRAME"), Compression::Lz4Frame),
        (Some("lz4_frame"), Compression::Lz4Frame),
        (Some("X-ODPS-LZ4-FRAME"), Compression::Lz4Frame),
        (Some("ZSTD"), Compression::Zstd),
        (Some("X-Snappy-Framed"), Compression::Snappy),
    ];
    for (v, want) in cases {
        assert_eq!(Compression::from_content_encoding(v), Ok(want), "{v:?}");
    }
}

#[test]
fn unknown_header_value_is_named() {
    for bad in ["gzip", "br", "snappy", "x-lz4", "deflate, gzip"] {
        let e = Compression::from_content_encoding(Some(bad)).unwrap_err();
        assert_eq!(e, CompressError::UnknownEncoding(bad.to_string()));
        assert!(e.to_string().contains(bad), "{e}");
    }
}

#[test]
fn option_names() {
    let cases = [
        ("", Compression::Raw),
        ("RAW", Compression::Raw),
        ("raw", Compression::Raw),
        ("ZLIB", Compression::Zlib),
        ("zlib", Compression::Zlib),
        ("SNAPPY", Compression::Snappy),
        ("Snappy", Compression::Snappy),
        ("ZSTD", Compression::Zstd),
        ("LZ4_FRAME", Compression::Lz4Frame),
        ("lz4_frame", Compression::Lz4Frame),
    ];
    for (s, want) in cases {
        assert_eq!(Compression::from_option_name(s), Ok(want), "{s:?}");
    }
    for c in Compression::ALL {
        assert_eq!(Compression::from_option_name(c.option_name()), Ok(c));
        assert_eq!(c.to_string(), c.option_name());
    }
    for bad in ["GZIP", "LZ4", "deflate", "none"] {
        let e = Compression::from_option_name(bad).unwrap_err();
        assert_eq!(e, CompressError::UnknownOption(bad.to_string()));
        assert!(e.to_string().contains(bad));
    }
}

#[test]
fn serde_uses_option_names() {
    for c in Compression::ALL {
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, format!("\"{}\"", c.option_name()));
        let back: Compression = serde_json::from_str(&j).unwrap();
        assert_eq!(back, c);
    }
    assert_eq!(Compression::default(), Compression::Raw);
    assert!(Compression::Raw < Compression::Zstd);
}

#[test]
fn round_trip_every_codec_and_size() {
    for c in Compression::ALL {
        for n in [0usize, 1, 2, 100, 65535, 65536, 65537, 300_000] {
            let data = sample(n);
            let enc = compress(c, &data).unwrap();
            let dec = decompress(c, &enc, data.len()).unwrap();
            assert_eq!(dec, data, "{c} n={n}");
        }
    }
}

#[test]
fn compression_actually_compresses() {
    let data = vec![b'a'; 100_000];
    for c in CODECS {
        let enc = compress(c, &data).unwrap();
        assert!(enc.len() < 10_000, "{c}: {}", enc.len());
    }
    assert_eq!(compress(Compression::Raw, &data).unwrap(), data);
}

#[test]
fn zlib_is_zlib_wrapped_and_readable_by_flate2() {
    let data = sample(100_000);
    let enc = compress(Compression::Zlib, &data).unwrap();
    // RFC 1950 header: CM = 8 (deflate), header checksum multiple of 31.
    assert_eq!(enc[0] & 0x0f, 8);
    assert_eq!((u16::from(enc[0]) << 8 | u16::from(enc[1])) % 31, 0);
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&enc[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, data);
    // And the other way: flate2's own encoder at another level decodes here.
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&data).unwrap();
    let enc2 = e.finish().unwrap();
    assert_eq!(
        decompress(Compression::Zlib, &enc2, data.len()).unwrap(),
        data
    );
}

#[test]
fn snappy_is_the_framing_format() {
    let data = sample(200_000);
    let enc = compress(Compression::Snappy, &data).unwrap();
    assert_eq!(enc[..10], SNAPPY_STREAM_IDENTIFIER);
    assert_eq!(&enc[..10], b"\xff\x06\x00\x00sNaPpY");
    let mut out = Vec::new();
    snap::read::FrameDecoder::new(&enc[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, data);
    // The empty stream is empty (snap writes no identifier when nothing was written).
    assert_eq!(decompress(Compression::Snappy, &[], 0).unwrap(), b"");
}

/// Build a framing-format chunk by hand.
fn chunk(ty: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    let mut v = vec![ty, n as u8, (n >> 8) as u8, (n >> 16) as u8];
    v.extend_from_slice(body);
    v
}

fn data_chunk(ty: u8, plain: &[u8]) -> Vec<u8> {
    let mut body = snappy_masked_crc32c(plain).to_le_bytes().to_vec();
    if ty == 0 {
        body.extend(snap::raw::Encoder::new().compress_vec(plain).unwrap());
    } else {
        body.extend_from_slice(plain);
    }
    chunk(ty, &body)
}

#[test]
fn snappy_hand_built_stream_with_all_chunk_kinds() {
    let mut s = SNAPPY_STREAM_IDENTIFIER.to_vec();
    s.extend(data_chunk(0x01, b"hello "));
    s.extend(chunk(0xfe, &[0; 5])); // padding
    s.extend(chunk(0x80, b"skip me")); // skippable
    s.extend(data_chunk(0x00, b"world, world, world"));
    s.extend_from_slice(&SNAPPY_STREAM_IDENTIFIER); // repeated identifier (concatenation)
    s.extend(data_chunk(0x01, b"!"));
    assert_eq!(
        decompress(Compression::Snappy, &s, 100).unwrap(),
        b"hello world, world, world!"
    );
    // Byte by byte gives the same.
    let mut d = Decompressor::new(Compression::Snappy, 100).unwrap();
    let mut out = Vec::new();
    for b in &s {
        d.feed(std::slice::from_ref(b)).unwrap();
        out.extend(d.take_output());
    }
    out.extend(d.finish().unwrap());
    assert_eq!(out, b"hello world, world, world!");
}

#[test]
fn snappy_rejects_bad_streams() {
    let ident = SNAPPY_STREAM_IDENTIFIER.to_vec();
    let good = [ident.clone(), data_chunk(0x00, b"abcabcabc")].concat();
    assert!(decompress(Compression::Snappy, &good, 100).is_ok());

    // Missing identifier.
    let e = decompress(Compression::Snappy, &data_chunk(0x00, b"abc"), 100).unwrap_err();
    assert!(matches!(e, CompressError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("identifier"), "{e}");

    // Bad CRC (flip one CRC bit).
    let mut bad = good.clone();
    bad[14] ^= 0x01;
    let e = decompress(Compression::Snappy, &bad, 100).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");

    // Bad CRC in an uncompressed chunk.
    let mut bad = [ident.clone(), data_chunk(0x01, b"xyz")].concat();
    let last = bad.len() - 1;
    bad[last] ^= 0x20;
    let e = decompress(Compression::Snappy, &bad, 100).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");

    // Reserved unskippable chunk types.
    for ty in [0x02u8, 0x10, 0x7f] {
        let s = [ident.clone(), chunk(ty, b"1234")].concat();
        let e = decompress(Compression::Snappy, &s, 100).unwrap_err();
        assert!(e.to_string().contains("unskippable"), "{ty:#x}: {e}");
    }

    // Oversized chunks (rejected from the header alone, before buffering the body).
    let mut hdr = ident.clone();
    hdr.extend_from_slice(&[0x01, 0xff, 0xff, 0xff]);
    let e = decompress(Compression::Snappy, &hdr, usize::MAX).unwrap_err();
    assert!(e.to_string().contains("exceeds the maximum"), "{e}");
    let mut hdr = ident.clone();
    hdr.extend_from_slice(&[0x00, 0x00, 0x00, 0x02]);
    let e = decompress(Compression::Snappy, &hdr, usize::MAX).unwrap_err();
    assert!(e.to_string().contains("exceeds the maximum"), "{e}");

    // A chunk shorter than its checksum.
    let s = [ident.clone(), chunk(0x00, b"ab")].concat();
    assert!(decompress(Compression::Snappy, &s, 100).is_err());

    // Bad identifier body / length.
    let mut s = ident.clone();
    s[9] = b'Z';
    assert!(decompress(Compression::Snappy, &s, 100).is_err());
    assert!(decompress(Compression::Snappy, &chunk(0xff, b"sNaPpY!"), 100).is_err());

    // Garbage inside a compressed chunk with a CRC of the garbage.
    let mut body = snappy_masked_crc32c(b"").to_le_bytes().to_vec();
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
    let s = [ident.clone(), chunk(0x00, &body)].concat();
    assert!(matches!(
        decompress(Compression::Snappy, &s, usize::MAX),
        Err(CompressError::Corrupt { .. })
    ));
}

#[test]
fn snappy_truncation_inside_a_chunk_is_an_error() {
    let enc = compress(Compression::Snappy, &sample(1000)).unwrap();
    for cut in 1..enc.len() {
        let r = decompress(Compression::Snappy, &enc[..cut], usize::MAX);
        // With a single data chunk every cut except after the identifier (10 bytes, a valid
        // empty stream) ends inside a chunk.
        if cut == 10 {
            assert_eq!(r.unwrap(), b"");
        } else {
            assert!(
                matches!(r, Err(CompressError::Truncated { .. })),
                "cut {cut}: {r:?}"
            );
        }
    }
}

#[test]
fn lz4_is_a_standard_frame() {
    let data = sample(300_000);
    let enc = compress(Compression::Lz4Frame, &data).unwrap();
    assert_eq!(&enc[..4], &[0x04, 0x22, 0x4d, 0x18]);
    let mut out = Vec::new();
    lz4_flex::frame::FrameDecoder::new(&enc[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, data);
}

fn lz4_with(info: lz4_flex::frame::FrameInfo, data: &[u8]) -> Vec<u8> {
    let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn lz4_every_frame_option_decodes_in_pieces() {
    use lz4_flex::frame::{BlockMode, BlockSize, FrameInfo};
    let data = sample(700_000);
    let infos = [
        FrameInfo::new(),
        FrameInfo::new()
            .block_mode(BlockMode::Linked)
            .block_size(BlockSize::Max64KB),
        FrameInfo::new()
            .block_checksums(true)
            .content_checksum(true)
            .block_size(BlockSize::Max256KB),
        FrameInfo::new()
            .content_size(Some(data.len() as u64))
            .block_size(BlockSize::Max1MB),
        FrameInfo::new()
            .block_size(BlockSize::Max4MB)
            .block_mode(BlockMode::Linked)
            .block_checksums(true),
    ];
    for (i, info) in infos.into_iter().enumerate() {
        let enc = lz4_with(info, &data);
        for piece in [1usize, 3, 4096, 65539, enc.len()] {
            let mut d = Decompressor::new(Compression::Lz4Frame, data.len()).unwrap();
            let mut out = Vec::new();
            for p in enc.chunks(piece) {
                d.feed(p).unwrap();
                out.extend(d.take_output());
            }
            out.extend(d.finish().unwrap());
            assert!(out == data, "frame option set {i}, piece {piece}");
        }
    }
}

#[test]
fn lz4_concatenated_and_skippable_frames() {
    let a = compress(Compression::Lz4Frame, b"first ").unwrap();
    let b = compress(Compression::Lz4Frame, b"second").unwrap();
    let mut skippable = vec![0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9];
    let mut s = a.clone();
    s.append(&mut skippable);
    s.extend_from_slice(&b);
    assert_eq!(
        decompress(Compression::Lz4Frame, &s, 100).unwrap(),
        b"first second"
    );
    // Empty input holds no frame.
    assert!(matches!(
        decompress(Compression::Lz4Frame, &[], 100),
        Err(CompressError::Truncated { .. })
    ));
    // Empty content still makes a frame.
    let empty = compress(Compression::Lz4Frame, &[]).unwrap();
    assert!(!empty.is_empty());
    assert_eq!(decompress(Compression::Lz4Frame, &empty, 0).unwrap(), b"");
}

#[test]
fn lz4_rejects_bad_frames() {
    let enc = compress(Compression::Lz4Frame, &sample(10_000)).unwrap();
    // Bad magic.
    let mut bad = enc.clone();
    bad[0] ^= 1;
    let e = decompress(Compression::Lz4Frame, &bad, usize::MAX).unwrap_err();
    assert!(e.to_string().contains("magic"), "{e}");
    // Bad header checksum byte.
    let mut bad = enc.clone();
    bad[6] ^= 0xff;
    assert!(matches!(
        decompress(Compression::Lz4Frame, &bad, usize::MAX),
        Err(CompressError::Corrupt { .. })
    ));
    // Content checksum mismatch.
    let mut bad = enc.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    assert!(matches!(
        decompress(Compression::Lz4Frame, &bad, usize::MAX),
        Err(CompressError::Corrupt { .. })
    ));
    // A block larger than the frame's maximum (rejected from its size word).
    let mut bad = enc[..7].to_vec();
    bad.extend_from_slice(&0x0010_0000u32.to_le_bytes());
    let e = decompress(Compression::Lz4Frame, &bad, usize::MAX).unwrap_err();
    assert!(e.to_string().contains("exceeds"), "{e}");
    // Legacy frames.
    let e = decompress(Compression::Lz4Frame, &[0x02, 0x21, 0x4c, 0x18, 0, 0], 10).unwrap_err();
    assert!(e.to_string().contains("legacy"), "{e}");
}

#[test]
fn zstd_frames() {
    let data = sample(300_000);
    let enc = compress(Compression::Zstd, &data).unwrap();
    assert_eq!(&enc[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    assert_eq!(zstd::stream::decode_all(&enc[..]).unwrap(), data);
    // Concatenated frames decode to the concatenation.
    let mut two = compress(Compression::Zstd, b"ab").unwrap();
    two.extend(compress(Compression::Zstd, b"cd").unwrap());
    assert_eq!(decompress(Compression::Zstd, &two, 10).unwrap(), b"abcd");
    let mut bad = enc.clone();
    bad[0] ^= 1;
    assert!(matches!(
        decompress(Compression::Zstd, &bad, usize::MAX),
        Err(CompressError::Corrupt { .. })
    ));
}

#[test]
fn zlib_rejects_corruption_and_trailing_data() {
    let data = sample(10_000);
    let enc = compress(Compression::Zlib, &data).unwrap();
    // Adler-32 mismatch.
    let mut bad = enc.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        decompress(Compression::Zlib, &bad, usize::MAX),
        Err(CompressError::Corrupt { .. })
    ));
    // Bad header.
    let mut bad = enc.clone();
    bad[0] = 0x00;
    assert!(matches!(
        decompress(Compression::Zlib, &bad, usize::MAX),
        Err(CompressError::Corrupt { .. })
    ));
    // Trailing bytes after the end.
    let mut bad = enc.clone();
    bad.push(0);
    let e = decompress(Compression::Zlib, &bad, usize::MAX).unwrap_err();
    assert!(e.to_string().contains("after the end"), "{e}");
    // Trailing bytes in a later feed.
    let mut d = Decompressor::new(Compression::Zlib, usize::MAX).unwrap();
    d.feed(&enc).unwrap();
    assert!(d.feed(b"x").is_err());
}

#[test]
fn every_proper_prefix_is_an_error_for_framed_codecs() {
    let data = sample(5000);
    for c in [Compression::Zlib, Compression::Lz4Frame, Compression::Zstd] {
        let enc = compress(c, &data).unwrap();
        for cut in 0..enc.len() {
            let r = decompress(c, &enc[..cut], usize::MAX);
            assert!(r.is_err(), "{c} cut {cut} of {}", enc.len());
        }
        assert_eq!(decompress(c, &enc, usize::MAX).unwrap(), data);
    }
}

#[test]
fn truncation_reports_truncated() {
    let data = sample(5000);
    for c in [Compression::Zlib, Compression::Lz4Frame, Compression::Zstd] {
        let enc = compress(c, &data).unwrap();
        let r = decompress(c, &enc[..enc.len() - 1], usize::MAX);
        assert!(
            matches!(r, Err(CompressError::Truncated { codec, .. }) if codec == c),
            "{c}: {r:?}"
        );
    }
}

#[test]
fn bomb_guard() {
    let data = vec![0u8; 4 << 20];
    for c in Compression::ALL {
        let enc = compress(c, &data).unwrap();
        // Exactly the limit is fine.
        assert_eq!(decompress(c, &enc, data.len()).unwrap().len(), data.len());
        for limit in [0usize, 1, 1000, 1 << 20, data.len() - 1] {
            let e = decompress(c, &enc, limit).unwrap_err();
            assert_eq!(
                e,
                CompressError::OutputLimit { codec: c, limit },
                "{c} {limit}"
            );
        }
        // Streaming: the error comes during feed and never lets output pass the limit.
        let limit = 100_000;
        let mut d = Decompressor::new(c, limit).unwrap();
        let mut got = 0usize;
        let mut failed = false;
        for p in enc.chunks(1000) {
            match d.feed(p) {
                Ok(()) => got += d.take_output().len(),
                Err(e) => {
                    assert!(matches!(e, CompressError::OutputLimit { .. }));
                    failed = true;
                    break;
                }
            }
            assert!(got <= limit);
        }
        assert!(failed, "{c}");
        // Poisoned afterwards.
        assert!(d.feed(&[]).is_err());
        assert!(d.finish().is_err());
    }
}

#[test]
fn streaming_output_arrives_before_finish() {
    let data = sample(1 << 20);
    for c in Compression::ALL {
        let mut comp = Compressor::new(c).unwrap();
        let mut enc = Vec::new();
        for p in data.chunks(10_000) {
            comp.write(p).unwrap();
            enc.extend(comp.take_output());
        }
        // Most of the encoded body was available before finish.
        let before = enc.len();
        enc.extend(comp.finish().unwrap());
        assert!(before * 2 > enc.len(), "{c}: {before} of {}", enc.len());

        let mut d = Decompressor::new(c, data.len()).unwrap();
        let mut out = Vec::new();
        for p in enc.chunks(7777) {
            d.feed(p).unwrap();
            out.extend(d.take_output());
        }
        let before = out.len();
        assert!(
            before * 2 > data.len(),
            "{c}: decoded {before} before finish"
        );
        assert_eq!(d.input_len(), enc.len() as u64);
        assert_eq!(d.output_len(), before);
        out.extend(d.finish().unwrap());
        assert!(out == data, "{c}");
    }
}

#[test]
fn levels() {
    let data = sample(200_000);
    for c in Compression::ALL {
        for level in [
            None,
            Some(0),
            Some(1),
            Some(9),
            Some(19),
            Some(-5),
            Some(100),
        ] {
            let mut e = Compressor::with_level(c, level).unwrap();
            assert_eq!(e.codec(), c);
            e.write(&data).unwrap();
            let pending = e.pending_output();
            let mut enc = e.take_output();
            assert_eq!(enc.len(), pending);
            enc.extend(e.finish().unwrap());
            assert_eq!(decompress(c, &enc, data.len()).unwrap(), data);
        }
    }
}

#[test]
fn garbage_never_panics() {
    let mut x: u64 = 7;
    for round in 0..300 {
        let n = round * 13 % 400;
        let junk: Vec<u8> = (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 33) as u8
            })
            .collect();
        for c in CODECS {
            // Also with valid-looking starts.
            let mut prefixed = compress(c, b"x").unwrap();
            prefixed.truncate(prefixed.len() / 2);
            prefixed.extend_from_slice(&junk);
            let _ = decompress(c, &junk, 1 << 20);
            let _ = decompress(c, &prefixed, 1 << 20);
        }
    }
}

/// Deterministic mutation fuzzing of valid bodies of every codec: errors are fine, panics and
/// output past the limit are not.
#[test]
fn mutated_bodies_never_panic() {
    let iterations: usize = std::env::var("MAXC_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let data = sample(3000);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for c in CODECS {
        let body = compress(c, &data).unwrap();
        for _ in 0..iterations {
            let mut b = body.clone();
            for _ in 0..1 + next() % 3 {
                let i = (next() % b.len() as u64) as usize;
                b[i] = match next() % 3 {
                    0 => b[i] ^ (1 << (next() % 8)),
                    1 => 0xff,
                    _ => next() as u8,
                };
            }
            let limit = 4000;
            let mut d = Decompressor::new(c, limit).unwrap();
            let step = 1 + (next() % 700) as usize;
            let mut total = 0;
            let mut ok = true;
            for p in b.chunks(step) {
                if d.feed(p).is_err() {
                    ok = false;
                    break;
                }
                total += d.take_output().len();
                assert!(total <= limit);
            }
            if ok && let Ok(rest) = d.finish() {
                assert!(total + rest.len() <= limit);
            }
        }
    }
}
