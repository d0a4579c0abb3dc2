//! Real-world vectors: bodies produced by pyodps 0.13.2 itself (its C record writer, its
//! compress streams and its Arrow tunnel writer), made by
//! `bench/peer/pyodps_codec.py --write-samples` from the first 20 rows of the documented
//! generator (schema `id bigint, name string, score double, flag boolean, ts datetime,
//! amount decimal(18,2)`).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use maxc_core::arrow_frame::{ArrowFrameReader, MAX_CHUNK_SIZE, decode_record_batches, unframe};
use maxc_core::compress::{Compression, Decompressor, decompress};
use maxc_core::types::{Column, OdpsType, arrow::columns_to_arrow};

const RAW: &[u8] = include_bytes!("../../bench/peer/sample_pyodps_rows.bin");
const DEFLATE: &[u8] = include_bytes!("../../bench/peer/sample_pyodps_rows.bin.deflate");
const SNAPPY: &[u8] = include_bytes!("../../bench/peer/sample_pyodps_rows.bin.snappy");
const ZSTD: &[u8] = include_bytes!("../../bench/peer/sample_pyodps_rows.bin.zstd");
const LZ4: &[u8] = include_bytes!("../../bench/peer/sample_pyodps_rows.bin.lz4");
const ARROW: &[u8] = include_bytes!("../../bench/peer/sample_pyodps_arrow.bin");

#[test]
fn raw_sample_is_a_record_stream_with_the_c_writer_footer() {
    // Footer: META_COUNT tag, zz(20) = 0x28, META_CHECKSUM tag, then a checksum varint that
    // the C writer sign-extends to 10 bytes when the CRC has its high bit set (§5.3).
    let count_tag = [0xf0, 0xff, 0xff, 0x7f, 0x28, 0xf8, 0xff, 0xff, 0x7f];
    let at = RAW
        .windows(count_tag.len())
        .rposition(|w| w == count_tag)
        .expect("footer present");
    let checksum = &RAW[at + count_tag.len()..];
    assert!(
        checksum.len() == 5 || checksum.len() == 10,
        "{checksum:02x?}"
    );
    assert_eq!(checksum.last().map(|b| b & 0x80), Some(0));
}

#[test]
fn pyodps_compressed_bodies_decode_to_the_raw_stream() {
    for (c, body) in [
        (Compression::Zlib, DEFLATE),
        (Compression::Snappy, SNAPPY),
        (Compression::Zstd, ZSTD),
        (Compression::Lz4Frame, LZ4),
    ] {
        assert_eq!(decompress(c, body, RAW.len()).unwrap(), RAW, "{c}");
        // Byte by byte, too.
        let mut d = Decompressor::new(c, RAW.len()).unwrap();
        let mut out = Vec::new();
        for b in body {
            d.feed(std::slice::from_ref(b)).unwrap();
            out.extend(d.take_output());
        }
        out.extend(d.finish().unwrap());
        assert_eq!(out, RAW, "{c} byte by byte");
        // And the limit applies.
        assert!(decompress(c, body, RAW.len() - 1).is_err(), "{c}");
    }
    // python-snappy's framing starts with the stream identifier.
    assert_eq!(&SNAPPY[..10], b"\xff\x06\x00\x00sNaPpY");
}

fn sample_schema() -> arrow_schema::SchemaRef {
    columns_to_arrow(&[
        Column::new("id", OdpsType::BigInt),
        Column::new("name", OdpsType::String),
        Column::new("score", OdpsType::Double),
        Column::new("flag", OdpsType::Boolean),
        Column::new("ts", OdpsType::DateTime),
        Column::new("amount", OdpsType::decimal(18, 2).unwrap()),
    ])
}

fn check_rows(batches: &[RecordBatch]) {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 20);
    let mut i = 0i64;
    for b in batches {
        let id = b.column(0).as_primitive::<Int64Type>();
        let name = b.column(1).as_string::<i32>();
        let score = b.column(2).as_primitive::<Float64Type>();
        let flag = b.column(3).as_boolean();
        let ts = b.column(4).as_primitive::<TimestampMillisecondType>();
        let amount = b.column(5).as_primitive::<Decimal128Type>();
        for r in 0..b.num_rows() {
            assert_eq!(id.value(r), i);
            if i % 10 == 0 {
                assert!(name.is_null(r));
            } else {
                assert_eq!(name.value(r), format!("name-{}", i % 1000));
            }
            assert_eq!(score.value(r), i as f64 * 0.5);
            assert_eq!(flag.value(r), i % 2 == 0);
            assert_eq!(ts.value(r), 1_704_067_200_000 + i);
            assert_eq!(amount.value(r), i128::from(i % 100_000));
            i += 1;
        }
    }
}

#[test]
fn pyodps_arrow_body_unframes_and_decodes() {
    // pyodps wrote it with chunk size 64, so the body has many chunk CRCs.
    assert_eq!(&ARROW[..4], &[0, 0, 0, 64]);
    let payload = unframe(MAX_CHUNK_SIZE, ARROW).unwrap();
    assert!(payload.len() > 64 * 3);
    let batches = decode_record_batches(sample_schema(), &payload).unwrap();
    check_rows(&batches);
    // Push-based, in uneven pieces.
    let mut r = ArrowFrameReader::new(MAX_CHUNK_SIZE);
    let mut got = Vec::new();
    for p in ARROW.chunks(37) {
        r.feed(p).unwrap();
        got.extend(r.take_data());
    }
    r.finish().unwrap();
    got.extend(r.take_data());
    assert_eq!(got, payload);
    // Our own framing of the same payload with pyodps's chunk size is byte-identical.
    assert_eq!(maxc_core::arrow_frame::frame(64, &payload).unwrap(), ARROW);
    // And our encoding of the decoded batches decodes to the same rows.
    let again = maxc_core::arrow_frame::encode_record_batches(&batches).unwrap();
    check_rows(&decode_record_batches(Arc::clone(&sample_schema()), &again).unwrap());
}
