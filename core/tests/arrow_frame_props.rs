//! Property tests of `maxc_core::arrow_frame`: framing round trips with random chunk sizes and
//! random splits on both sides, and batches of random content through payload + framing.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use maxc_core::arrow_frame::{
    ArrowFrameReader, ArrowFrameWriter, MAX_CHUNK_SIZE, RecordBatchDecoder,
    encode_record_batches_with, frame, unframe,
};
use maxc_core::compress::Compression;
use maxc_core::types::{Column, OdpsType, arrow::columns_to_arrow};
use proptest::prelude::*;

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
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn framing_round_trip(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        chunk_size in 1u32..300,
        write_cuts in prop::collection::vec(any::<usize>(), 0..10),
        read_cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut w = ArrowFrameWriter::new(chunk_size).unwrap();
        let mut body = Vec::new();
        for p in split(&data, &write_cuts) {
            w.write(p, &mut body);
        }
        w.finish(&mut body);
        prop_assert_eq!(&body, &frame(chunk_size, &data).unwrap());
        let full = data.len() / chunk_size as usize;
        prop_assert_eq!(body.len(), 4 + data.len() + 4 * full + 4);

        let mut r = ArrowFrameReader::new(MAX_CHUNK_SIZE);
        let mut got = Vec::new();
        for p in split(&body, &read_cuts) {
            r.feed(p).unwrap();
            got.extend(r.take_data());
            // Only whole verified chunks come out before the end.
            prop_assert_eq!(got.len() % chunk_size as usize, 0);
        }
        r.finish().unwrap();
        got.extend(r.take_data());
        prop_assert_eq!(got, data);
    }

    #[test]
    fn any_single_bit_flip_is_detected(
        data in prop::collection::vec(any::<u8>(), 0..600),
        chunk_size in 1u32..100,
        pos in any::<usize>(),
        bit in 0u8..8,
    ) {
        let mut body = frame(chunk_size, &data).unwrap();
        let i = 4 + pos % (body.len() - 4); // keep the header (a changed size is a different body)
        body[i] ^= 1 << bit;
        prop_assert!(unframe(MAX_CHUNK_SIZE, &body).is_err());
    }

    #[test]
    fn garbage_never_panics(
        junk in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..5),
    ) {
        let mut r = ArrowFrameReader::new(1 << 16);
        let mut ok = true;
        for p in split(&junk, &cuts) {
            if r.feed(p).is_err() {
                ok = false;
                break;
            }
        }
        if ok {
            let _ = r.finish();
        }
        let schema = columns_to_arrow(&[Column::new("a", OdpsType::BigInt)]);
        let mut d = RecordBatchDecoder::new(schema);
        if d.feed(&junk).is_ok() {
            let _ = d.finish();
        }
    }

    #[test]
    fn batches_round_trip(
        rows in prop::collection::vec(
            prop::collection::vec((any::<Option<i64>>(), any::<Option<String>>(), any::<Option<f64>>()), 0..40),
            1..5,
        ),
        ipc in prop::sample::select(vec![Compression::Raw, Compression::Zstd, Compression::Lz4Frame]),
        chunk_size in 1u32..5000,
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let schema = columns_to_arrow(&[
            Column::new("id", OdpsType::BigInt),
            Column::new("name", OdpsType::String),
            Column::new("score", OdpsType::Double),
        ]);
        let batches: Vec<RecordBatch> = rows
            .iter()
            .map(|b| {
                let cols: Vec<ArrayRef> = vec![
                    Arc::new(Int64Array::from(b.iter().map(|r| r.0).collect::<Vec<_>>())),
                    Arc::new(StringArray::from(b.iter().map(|r| r.1.clone()).collect::<Vec<_>>())),
                    Arc::new(Float64Array::from(b.iter().map(|r| r.2).collect::<Vec<_>>())),
                ];
                RecordBatch::try_new(Arc::clone(&schema), cols).unwrap()
            })
            .collect();
        let payload = encode_record_batches_with(&batches, ipc).unwrap();
        let body = frame(chunk_size, &payload).unwrap();
        let mut r = ArrowFrameReader::new(MAX_CHUNK_SIZE);
        let mut d = RecordBatchDecoder::new(Arc::clone(&schema));
        let mut got = Vec::new();
        for p in split(&body, &cuts) {
            r.feed(p).unwrap();
            got.extend(d.feed(&r.take_data()).unwrap());
        }
        r.finish().unwrap();
        got.extend(d.feed(&r.take_data()).unwrap());
        d.finish().unwrap();
        // NaN != NaN, so compare the IPC encodings of both sides.
        prop_assert_eq!(got.len(), batches.len());
        let again = encode_record_batches_with(&got, Compression::Raw).unwrap();
        let orig = encode_record_batches_with(&batches, Compression::Raw).unwrap();
        prop_assert_eq!(again, orig);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Mutated IPC payloads (valid structure, damaged bytes) give errors or batches, never a
    /// panic.
    #[test]
    fn mutated_payload_never_panics(
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        truncate in any::<Option<usize>>(),
        ipc in prop::sample::select(vec![Compression::Raw, Compression::Zstd, Compression::Lz4Frame]),
    ) {
        let schema = columns_to_arrow(&[
            Column::new("id", OdpsType::BigInt),
            Column::new("name", OdpsType::String),
            Column::new("arr", OdpsType::array(OdpsType::Double)),
        ]);
        let ids = Int64Array::from(vec![Some(1), None, Some(3)]);
        let names = StringArray::from(vec![Some("a"), Some("bb"), None]);
        let mut lb = arrow_array::builder::ListBuilder::new(arrow_array::builder::Float64Builder::new())
            .with_field(match schema.field(2).data_type() {
                arrow_schema::DataType::List(f) => Arc::clone(f),
                _ => unreachable!(),
            });
        lb.values().append_value(1.0);
        lb.append(true);
        lb.append(false);
        lb.values().append_value(2.0);
        lb.values().append_value(3.0);
        lb.append(true);
        let cols: Vec<ArrayRef> = vec![Arc::new(ids), Arc::new(names), Arc::new(lb.finish())];
        let batch = RecordBatch::try_new(Arc::clone(&schema), cols).unwrap();
        let mut payload = encode_record_batches_with(&[batch.clone(), batch], ipc).unwrap();
        for (pos, val) in flips {
            let i = pos % payload.len();
            payload[i] = val;
        }
        if let Some(t) = truncate {
            payload.truncate(t % (payload.len() + 1));
        }
        let mut d = RecordBatchDecoder::new(schema);
        if d.feed(&payload).is_ok() {
            let _ = d.finish();
        }
    }
}
