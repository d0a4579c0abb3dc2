//! Rough codec throughput check: `cargo run --release -p maxc-core --example codec_speed`.
//! (Criterion benches live in the bench crate; this is a quick sanity figure.)

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{
    ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use maxc_core::codec::{RecordDecoder, RecordEncoder};
use maxc_core::types::arrow::columns_to_arrow;
use maxc_core::types::{Column, OdpsType};

fn main() {
    let columns = vec![
        Column::new("id", OdpsType::BigInt),
        Column::new("name", OdpsType::String),
        Column::new("score", OdpsType::Double),
        Column::new("flag", OdpsType::Boolean),
        Column::new("ts", OdpsType::DateTime),
        Column::new(
            "amount",
            OdpsType::Decimal {
                precision: 18,
                scale: 4,
            },
        ),
    ];
    let n = 8192;
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            (0..n).map(|i| i * 7919 - 100_000),
        )),
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("name-{i}")),
        )),
        Arc::new(Float64Array::from_iter_values(
            (0..n).map(|i| i as f64 * 0.25),
        )),
        Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 3 == 0)))),
        Arc::new(TimestampMillisecondArray::from_iter_values(
            (0..n).map(|i| 1_704_164_645_000 + i * 1000),
        )),
        Arc::new(
            Decimal128Array::from_iter_values((0..n).map(|i| i128::from(i) * 12_345))
                .with_precision_and_scale(18, 4)
                .unwrap(),
        ),
    ];
    let batch = RecordBatch::try_new(columns_to_arrow(&columns), arrays).unwrap();
    let reps = 128;
    let rows = (n as usize * reps) as f64;

    let mut enc = RecordEncoder::new(&columns);
    let mut out = Vec::new();
    let t = Instant::now();
    for _ in 0..reps {
        enc.write_batch(&batch, &mut out).unwrap();
    }
    enc.finish(&mut out);
    let dt = t.elapsed().as_secs_f64();
    println!(
        "encode: {:.2} M rows/s, {:.0} MB/s ({} bytes)",
        rows / dt / 1e6,
        out.len() as f64 / dt / 1e6,
        out.len()
    );

    for chunk in [usize::MAX, 65_536] {
        let t = Instant::now();
        let mut dec = RecordDecoder::new(&columns, 8192);
        let mut got = 0;
        for c in out.chunks(chunk.min(out.len())) {
            dec.feed(c).unwrap();
            while let Some(b) = dec.next_batch() {
                got += b.num_rows();
            }
        }
        if let Some(b) = dec.finish().unwrap() {
            got += b.num_rows();
        }
        let dt = t.elapsed().as_secs_f64();
        assert_eq!(got as f64, rows);
        println!(
            "decode (chunks of {}): {:.2} M rows/s, {:.0} MB/s",
            if chunk == usize::MAX {
                "all".to_string()
            } else {
                chunk.to_string()
            },
            rows / dt / 1e6,
            out.len() as f64 / dt / 1e6
        );
    }
}
