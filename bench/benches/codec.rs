//! Tunnel record codec throughput, in rows per second, on the workload of
//! `bench/peer/pyodps_codec.py` (6 columns, 200,000 rows): encode and decode, raw and with
//! snappy framing (the connector's default `compressAlgorithm`).
//!
//! Run: `cargo bench -p maxc-bench --bench codec`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use maxc_bench::{CODEC_ROWS, codec_batches, codec_schema};
use maxc_core::codec::{RecordDecoder, RecordEncoder};
use maxc_core::compress::{Compression, Compressor, Decompressor};

/// Rows per Arrow batch handed to the encoder / produced by the decoder.
const BATCH_ROWS: usize = 4096;
/// The decoder is fed in chunks of this size, as an HTTP body arrives.
const CHUNK: usize = 64 * 1024;

fn encode(batches: &[arrow_array::RecordBatch], compression: Compression) -> Vec<u8> {
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

fn decode(body: &[u8], compression: Compression) -> usize {
    let cols = codec_schema().columns;
    let mut dec = RecordDecoder::new(&cols, BATCH_ROWS);
    let mut rows = 0;
    let mut feed = |dec: &mut RecordDecoder, bytes: &[u8]| {
        dec.feed(bytes).expect("decode");
        while let Some(b) = dec.next_batch() {
            rows += b.num_rows();
        }
    };
    match compression {
        Compression::Raw => {
            for chunk in body.chunks(CHUNK) {
                feed(&mut dec, chunk);
            }
        }
        c => {
            let mut z = Decompressor::new(c, usize::MAX).expect("decompressor");
            for chunk in body.chunks(CHUNK) {
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

fn bench_codec(c: &mut Criterion) {
    let batches = codec_batches(CODEC_ROWS, BATCH_ROWS);
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(CODEC_ROWS as u64));
    group.sample_size(20);
    for (name, comp) in [("raw", Compression::Raw), ("snappy", Compression::Snappy)] {
        group.bench_with_input(BenchmarkId::new("encode", name), &comp, |b, &comp| {
            b.iter(|| encode(&batches, comp))
        });
        let body = encode(&batches, comp);
        assert_eq!(decode(&body, comp), CODEC_ROWS);
        group.bench_with_input(BenchmarkId::new("decode", name), &comp, |b, &comp| {
            b.iter(|| decode(&body, comp))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_codec);
criterion_main!(benches);
