//! Runs one codec operation of the criterion bench `codec` on its workload, for profilers
//! (`valgrind --tool=callgrind`, `perf`) and quick timings.
//!
//! ```text
//! cargo build --release -p maxc-bench --example codec_profile
//! valgrind --tool=callgrind target/release/examples/codec_profile encode raw
//! target/release/examples/codec_profile decode snappy 20   # 20 repetitions, timed
//! ```
//!
//! Arguments: `encode|decode`, `raw|snappy`, optional repetitions (default 1), optional rows
//! (default 200,000). Input (the batches, or the encoded body for `decode`) is prepared before
//! the measured part; under callgrind, compare the inclusive cost of `maxc_bench::encode_body`
//! / `maxc_bench::decode_body`.

use std::time::Instant;

use maxc_bench::{CODEC_BATCH_ROWS, CODEC_ROWS, codec_batches, decode_body, encode_body};
use maxc_core::compress::Compression;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let op = args.first().map(String::as_str).unwrap_or("encode");
    let comp = match args.get(1).map(String::as_str).unwrap_or("raw") {
        "raw" => Compression::Raw,
        "snappy" => Compression::Snappy,
        other => panic!("unknown compression {other} (raw or snappy)"),
    };
    let reps: usize = args.get(2).map_or(1, |s| s.parse().expect("repetitions"));
    let rows: usize = args.get(3).map_or(CODEC_ROWS, |s| s.parse().expect("rows"));
    let batches = codec_batches(rows, CODEC_BATCH_ROWS);
    // Only `decode` needs a body; `encode` must call `encode_body` exactly `reps` times.
    let body = if op == "decode" {
        encode_body(&batches, comp)
    } else {
        Vec::new()
    };
    let t = Instant::now();
    let mut check = 0usize;
    for _ in 0..reps {
        match op {
            "encode" => check += encode_body(std::hint::black_box(&batches), comp).len(),
            "decode" => check += decode_body(std::hint::black_box(&body), comp),
            other => panic!("unknown operation {other} (encode or decode)"),
        }
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "{op} {comp:?}: {reps} x {rows} rows, {:.2} M rows/s (check {check})",
        (reps * rows) as f64 / dt / 1e6,
    );
}
