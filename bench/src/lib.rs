//! Shared workloads for maxc's benchmarks and peer comparisons.
//!
//! [`codec_schema`] and [`codec_batch`] produce exactly the rows that
//! `bench/peer/pyodps_codec.py` generates for pyodps, so both sides measure the same data:
//!
//! | column | type | row `i` |
//! |---|---|---|
//! | id | bigint | `i` |
//! | name | string | NULL if `i % 10 == 0`, else `name-{i % 1000}` |
//! | score | double | `i * 0.5` |
//! | flag | boolean | `i % 2 == 0` |
//! | ts | datetime | `1704067200000 + i` epoch ms |
//! | amount | decimal(18,2) | `(i % 100000) / 100` |
#![warn(missing_docs)]

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use maxc_core::codec::{RecordDecoder, RecordEncoder};
use maxc_core::compress::{Compression, Compressor, Decompressor};
use maxc_core::types::{Column, OdpsType, TableSchema};

/// Rows in the codec benchmark (as in the pyodps peer script).
pub const CODEC_ROWS: usize = 200_000;

/// First `ts` value: 2024-01-01T00:00:00Z in epoch milliseconds.
pub const TS_BASE_MS: i64 = 1_704_067_200_000;

/// The 6-column schema of the codec benchmark.
pub fn codec_schema() -> TableSchema {
    TableSchema {
        columns: vec![
            Column::new("id", OdpsType::BigInt),
            Column::new("name", OdpsType::String),
            Column::new("score", OdpsType::Double),
            Column::new("flag", OdpsType::Boolean),
            Column::new("ts", OdpsType::DateTime),
            Column::new(
                "amount",
                OdpsType::Decimal {
                    precision: 18,
                    scale: 2,
                },
            ),
        ],
        partition_columns: vec![],
    }
}

/// Rows `start .. start + n` of the codec workload as one batch.
pub fn codec_batch(start: usize, n: usize) -> RecordBatch {
    let mut id = Int64Builder::with_capacity(n);
    let mut name = StringBuilder::with_capacity(n, n * 9);
    let mut score = Float64Builder::with_capacity(n);
    let mut flag = BooleanBuilder::with_capacity(n);
    let mut ts = TimestampMillisecondBuilder::with_capacity(n);
    let mut amount = Decimal128Builder::with_capacity(n);
    for i in start..start + n {
        id.append_value(i as i64);
        if i % 10 == 0 {
            name.append_null();
        } else {
            name.append_value(format!("name-{}", i % 1000));
        }
        score.append_value(i as f64 * 0.5);
        flag.append_value(i % 2 == 0);
        ts.append_value(TS_BASE_MS + i as i64);
        amount.append_value((i % 100_000) as i128);
    }
    let schema = codec_schema().arrow_schema();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(name.finish()),
        Arc::new(score.finish()),
        Arc::new(flag.finish()),
        Arc::new(ts.finish()),
        Arc::new(
            amount
                .finish()
                .with_precision_and_scale(18, 2)
                .expect("decimal(18,2) is a valid Arrow decimal type"),
        ),
    ];
    RecordBatch::try_new(schema, columns).expect("the generator matches codec_schema()")
}

/// The codec workload as batches of `batch_rows` rows.
pub fn codec_batches(total: usize, batch_rows: usize) -> Vec<RecordBatch> {
    (0..total)
        .step_by(batch_rows.max(1))
        .map(|s| codec_batch(s, batch_rows.min(total - s)))
        .collect()
}

/// Rows per Arrow batch handed to the encoder / produced by the decoder in the codec bench.
pub const CODEC_BATCH_ROWS: usize = 4096;
/// The decoder is fed in chunks of this size, as an HTTP body arrives.
pub const CODEC_FEED_CHUNK: usize = 64 * 1024;

/// Encodes `batches` as one record stream (footer included), then compresses it whole.
pub fn encode_body(batches: &[RecordBatch], compression: Compression) -> Vec<u8> {
    let cols = codec_schema().columns;
    let mut enc = RecordEncoder::new(&cols);
    let mut raw = Vec::with_capacity(16 << 20);
    for b in batches {
        enc.write_batch(b, &mut raw).expect("encode");
    }
    enc.finish(&mut raw);
    match compression {
        Compression::Raw => raw,
        c => {
            let mut z = Compressor::new(c).expect("compressor");
            z.write(&raw).expect("compress");
            z.finish().expect("compress")
        }
    }
}

/// Decodes a body made by [`encode_body`], fed in [`CODEC_FEED_CHUNK`]-byte chunks, into
/// batches of [`CODEC_BATCH_ROWS`] rows; returns the number of rows.
pub fn decode_body(body: &[u8], compression: Compression) -> usize {
    let cols = codec_schema().columns;
    let mut dec = RecordDecoder::new(&cols, CODEC_BATCH_ROWS);
    let mut rows = 0;
    let mut feed = |dec: &mut RecordDecoder, bytes: &[u8]| {
        dec.feed(bytes).expect("decode");
        while let Some(b) = dec.next_batch() {
            rows += b.num_rows();
        }
    };
    match compression {
        Compression::Raw => {
            for chunk in body.chunks(CODEC_FEED_CHUNK) {
                feed(&mut dec, chunk);
            }
        }
        c => {
            let mut z = Decompressor::new(c, usize::MAX).expect("decompressor");
            for chunk in body.chunks(CODEC_FEED_CHUNK) {
                z.feed(chunk).expect("decompress");
                let out = z.take_output();
                feed(&mut dec, &out);
            }
            let out = z.finish().expect("decompress");
            feed(&mut dec, &out);
        }
    }
    if let Some(b) = dec.finish().expect("footer") {
        rows += b.num_rows();
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use maxc_core::codec::{decode_all, encode_batches};

    #[test]
    fn generator_round_trips_through_the_codec() {
        let batches = codec_batches(1000, 300);
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1000);
        let cols = codec_schema().columns;
        let bytes = encode_batches(&cols, &batches).unwrap();
        let back = decode_all(&cols, &bytes, 1000).unwrap();
        assert_eq!(back.len(), 1);
        let whole = codec_batch(0, 1000);
        assert_eq!(back[0].columns(), whole.columns());
    }
}
