//! Tunnel record codec throughput, in rows per second, on the workload of
//! `bench/peer/pyodps_codec.py` (6 columns, 200,000 rows): encode and decode, raw and with
//! snappy framing (the connector's default `compressAlgorithm`).
//!
//! Run: `cargo bench -p maxc-bench --bench codec`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use maxc_bench::{CODEC_BATCH_ROWS, CODEC_ROWS, codec_batches, decode_body, encode_body};
use maxc_core::compress::Compression;

fn bench_codec(c: &mut Criterion) {
    let batches = codec_batches(CODEC_ROWS, CODEC_BATCH_ROWS);
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(CODEC_ROWS as u64));
    group.sample_size(20);
    for (name, comp) in [("raw", Compression::Raw), ("snappy", Compression::Snappy)] {
        group.bench_with_input(BenchmarkId::new("encode", name), &comp, |b, &comp| {
            b.iter(|| encode_body(&batches, comp))
        });
        let body = encode_body(&batches, comp);
        assert_eq!(decode_body(&body, comp), CODEC_ROWS);
        group.bench_with_input(BenchmarkId::new("decode", name), &comp, |b, &comp| {
            b.iter(|| decode_body(&body, comp))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_codec);
criterion_main!(benches);
