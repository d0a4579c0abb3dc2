use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder, MapBuilder, StringBuilder, StructBuilder};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int8Array, Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
    TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Schema};

use super::*;
use crate::types::{Column, OdpsType, StructField, arrow::columns_to_arrow};

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + 7) as u8).collect()
}

fn be(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

#[test]
fn crc32c_is_castagnoli() {
    // The standard check value of CRC-32C.
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn example_272_bytes() {
    // §6.3: chunk_size 128 with 256 data bytes gives 4+128+4+128+4+4 = 272 bytes.
    let data = bytes(256);
    let body = frame(128, &data).unwrap();
    assert_eq!(body.len(), 272);
    assert_eq!(body[..4], [0, 0, 0, 0x80]);
    assert_eq!(body[4..132], data[..128]);
    assert_eq!(body[132..136], be(crc32c::crc32c(&data[..128])));
    assert_eq!(body[136..264], data[128..]);
    assert_eq!(body[264..268], be(crc32c::crc32c(&data[128..])));
    assert_eq!(body[268..272], be(crc32c::crc32c(&data)));
    assert_eq!(unframe(MAX_CHUNK_SIZE, &body).unwrap(), data);
}

#[test]
fn boundary_sizes() {
    let cs = 16u32;
    // 0 bytes: header + global CRC of nothing (0).
    let body = frame(cs, &[]).unwrap();
    assert_eq!(body, [0, 0, 0, 16, 0, 0, 0, 0]);
    assert_eq!(unframe(cs, &body).unwrap(), b"");
    // 1 byte: no chunk CRC, then the global CRC.
    let body = frame(cs, &[0xab]).unwrap();
    assert_eq!(body.len(), 4 + 1 + 4);
    assert_eq!(body[5..], be(crc32c::crc32c(&[0xab])));
    assert_eq!(unframe(cs, &body).unwrap(), [0xab]);
    // chunk_size - 1 bytes: still no chunk CRC.
    let d = bytes(15);
    let body = frame(cs, &d).unwrap();
    assert_eq!(body.len(), 4 + 15 + 4);
    assert_eq!(unframe(cs, &body).unwrap(), d);
    // Exactly one chunk: chunk CRC then global CRC (equal values here).
    let d = bytes(16);
    let body = frame(cs, &d).unwrap();
    assert_eq!(body.len(), 4 + 16 + 4 + 4);
    assert_eq!(body[20..24], be(crc32c::crc32c(&d)));
    assert_eq!(body[24..28], be(crc32c::crc32c(&d)));
    assert_eq!(unframe(cs, &body).unwrap(), d);
    // One chunk + 1 byte.
    let d = bytes(17);
    let body = frame(cs, &d).unwrap();
    assert_eq!(body.len(), 4 + 16 + 4 + 1 + 4);
    assert_eq!(unframe(cs, &body).unwrap(), d);
    // Three exact chunks.
    let d = bytes(48);
    let body = frame(cs, &d).unwrap();
    assert_eq!(body.len(), 4 + 3 * 20 + 4);
    assert_eq!(body[body.len() - 4..], be(crc32c::crc32c(&d)));
    assert_eq!(unframe(cs, &body).unwrap(), d);
    // chunk_size 1: every byte has its own CRC.
    let d = bytes(5);
    let body = frame(1, &d).unwrap();
    assert_eq!(body.len(), 4 + 5 * 5 + 4);
    assert_eq!(unframe(1, &body).unwrap(), d);
}

#[test]
fn every_split_and_byte_by_byte() {
    for (cs, n) in [
        (8u32, 0usize),
        (8, 1),
        (8, 7),
        (8, 8),
        (8, 9),
        (8, 16),
        (8, 37),
        (3, 12),
    ] {
        let d = bytes(n);
        let body = frame(cs, &d).unwrap();
        for cut in 0..=body.len() {
            let mut r = ArrowFrameReader::new(cs);
            r.feed(&body[..cut]).unwrap();
            let mut got = r.take_data();
            r.feed(&body[cut..]).unwrap();
            got.extend(r.take_data());
            r.finish().unwrap();
            got.extend(r.take_data());
            assert_eq!(got, d, "cs {cs} n {n} cut {cut}");
            assert_eq!(r.data_len(), n as u64);
        }
        let mut r = ArrowFrameReader::new(cs);
        let mut got = Vec::new();
        for b in &body {
            r.feed(std::slice::from_ref(b)).unwrap();
            got.extend(r.take_data());
            // Never more than the verified full chunks are released.
            assert_eq!(got.len() % cs as usize, 0);
        }
        r.finish().unwrap();
        got.extend(r.take_data());
        assert_eq!(got, d);
    }
}

#[test]
fn data_is_released_per_verified_chunk() {
    let d = bytes(100);
    let body = frame(10, &d).unwrap();
    let mut r = ArrowFrameReader::new(10);
    // Header + one chunk + its CRC.
    r.feed(&body[..4 + 14]).unwrap();
    assert_eq!(r.chunk_size(), Some(10));
    assert_eq!(r.take_data(), d[..10]);
    // Chunk data without its CRC is held back.
    r.feed(&body[18..18 + 10]).unwrap();
    assert!(r.take_data().is_empty());
    r.feed(&body[28..]).unwrap();
    // All ten chunks are complete; the last full chunk is released, the global CRC waits.
    assert_eq!(r.take_data(), d[10..]);
    r.finish().unwrap();
    assert!(r.take_data().is_empty());
    // Finish twice is fine; feeding more after finish is not.
    r.finish().unwrap();
    assert_eq!(r.feed(b"x"), Err(ArrowFrameError::Finished));
}

#[test]
fn writer_split_writes_produce_the_same_bytes() {
    let d = bytes(1000);
    let whole = frame(64, &d).unwrap();
    for step in [1usize, 3, 63, 64, 65, 500] {
        let mut w = ArrowFrameWriter::new(64).unwrap();
        let mut out = Vec::new();
        for p in d.chunks(step) {
            w.write(p, &mut out);
        }
        assert_eq!(w.data_len(), 1000);
        assert_eq!(w.chunk_size(), 64);
        w.finish(&mut out);
        assert_eq!(out, whole, "step {step}");
    }
    // Empty writes emit only the header.
    let mut w = ArrowFrameWriter::new(64).unwrap();
    let mut out = Vec::new();
    w.write(&[], &mut out);
    assert_eq!(out, [0, 0, 0, 64]);
}

#[test]
fn corrupt_chunk_crc() {
    let d = bytes(50);
    let mut body = frame(16, &d).unwrap();
    // Second chunk's CRC: header 4 + chunk 20 + data 16 = offset 40.
    body[40] ^= 0x01;
    let e = unframe(16, &body).unwrap_err();
    let want = crc32c::crc32c(&d[16..32]);
    assert_eq!(
        e,
        ArrowFrameError::ChunkCrc {
            chunk: 1,
            offset: 16,
            expected: want ^ 0x0100_0000,
            actual: want
        }
    );
    // Corrupt data of the first chunk.
    let mut body = frame(16, &d).unwrap();
    body[5] ^= 0x80;
    assert!(matches!(
        unframe(16, &body),
        Err(ArrowFrameError::ChunkCrc {
            chunk: 0,
            offset: 0,
            ..
        })
    ));
    // The reader stays failed.
    let mut r = ArrowFrameReader::new(16);
    assert!(r.feed(&body).is_err());
    assert!(r.feed(&[]).is_err());
    assert!(r.finish().is_err());
}

#[test]
fn corrupt_global_crc_and_tail() {
    let d = bytes(50);
    let body = frame(16, &d).unwrap();
    let mut bad = body.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(matches!(
        unframe(16, &bad),
        Err(ArrowFrameError::GlobalCrc { .. })
    ));
    // Corrupt data in the final partial chunk (caught by the global CRC).
    let mut bad = body.clone();
    bad[last - 5] ^= 0x10;
    let e = unframe(16, &bad).unwrap_err();
    assert_eq!(
        e,
        ArrowFrameError::GlobalCrc {
            expected: crc32c::crc32c(&d),
            actual: {
                let mut dd = d.clone();
                dd[48] ^= 0x10;
                crc32c::crc32c(&dd)
            }
        }
    );
    // Global CRC replaced by the CRC of the last chunk only.
    let d = bytes(32);
    let mut bad = frame(16, &d).unwrap();
    let n = bad.len();
    bad[n - 4..].copy_from_slice(&be(crc32c::crc32c(&d[16..])));
    assert!(matches!(
        unframe(16, &bad),
        Err(ArrowFrameError::GlobalCrc { .. })
    ));
}

#[test]
fn every_proper_prefix_fails() {
    for n in [0usize, 1, 15, 16, 17, 40] {
        let d = bytes(n);
        let body = frame(16, &d).unwrap();
        for cut in 0..body.len() {
            let r = unframe(16, &body[..cut]);
            assert!(r.is_err(), "n {n} cut {cut}: {r:?}");
        }
    }
    // Truncation errors name what is missing.
    assert!(matches!(
        unframe(16, &[0, 0]),
        Err(ArrowFrameError::Truncated(_))
    ));
    assert!(matches!(
        unframe(16, &[0, 0, 0, 16, 1, 2]),
        Err(ArrowFrameError::Truncated(_))
    ));
    // Data ending on a chunk boundary without the global CRC.
    let body = frame(16, &bytes(16)).unwrap();
    assert!(matches!(
        unframe(16, &body[..body.len() - 4]),
        Err(ArrowFrameError::Truncated(_))
    ));
}

#[test]
fn chunk_size_checks() {
    assert_eq!(
        ArrowFrameWriter::new(0).unwrap_err(),
        ArrowFrameError::InvalidChunkSize {
            chunk_size: 0,
            max: MAX_CHUNK_SIZE
        }
    );
    assert!(ArrowFrameWriter::new(MAX_CHUNK_SIZE + 1).is_err());
    assert!(ArrowFrameWriter::new(MAX_CHUNK_SIZE).is_ok());
    // Reader: above its own maximum.
    let body = frame(4096, &bytes(10)).unwrap();
    assert_eq!(
        unframe(1024, &body).unwrap_err(),
        ArrowFrameError::InvalidChunkSize {
            chunk_size: 4096,
            max: 1024
        }
    );
    assert!(unframe(4096, &body).is_ok());
    // Absurd sizes are rejected from the header alone.
    let mut r = ArrowFrameReader::new(MAX_CHUNK_SIZE);
    assert!(matches!(
        r.feed(&[0xff, 0xff, 0xff, 0xff]),
        Err(ArrowFrameError::InvalidChunkSize { .. })
    ));
    // A zero header followed by anything is an error...
    assert!(matches!(
        unframe(MAX_CHUNK_SIZE, &[0, 0, 0, 0, 0, 0, 0, 0]),
        Err(ArrowFrameError::InvalidChunkSize { chunk_size: 0, .. })
    ));
    // ...but `00 00 00 00` alone is pyodps's body for a writer that wrote nothing.
    assert_eq!(unframe(MAX_CHUNK_SIZE, &[0, 0, 0, 0]).unwrap(), b"");
    // Nothing at all is truncated.
    assert!(matches!(
        unframe(MAX_CHUNK_SIZE, &[]),
        Err(ArrowFrameError::Truncated(_))
    ));
}

// ------------------------------------------------------------------------------------------
// IPC payload
// ------------------------------------------------------------------------------------------

fn sample_columns() -> Vec<Column> {
    vec![
        Column::new("id", OdpsType::BigInt),
        Column::new("name", OdpsType::String),
        Column::new("score", OdpsType::Double),
        Column::new("flag", OdpsType::Boolean),
        Column::new("ts", OdpsType::DateTime),
        Column::new("amount", OdpsType::decimal(18, 2).unwrap()),
        Column::new("t8", OdpsType::TinyInt),
        Column::new("i32", OdpsType::Int),
        Column::new("f32", OdpsType::Float),
        Column::new("d", OdpsType::Date),
        Column::new("bin", OdpsType::Binary),
        Column::new("tsz", OdpsType::Timestamp),
        Column::new("arr", OdpsType::array(OdpsType::BigInt)),
        Column::new(
            "st",
            OdpsType::Struct(vec![
                StructField::new("a", OdpsType::BigInt),
                StructField::new("b", OdpsType::String),
            ]),
        ),
        Column::new("m", OdpsType::map(OdpsType::String, OdpsType::BigInt)),
    ]
}

fn sample_batch(schema: &SchemaRef, start: i64, rows: usize) -> RecordBatch {
    let ids: Vec<i64> = (0..rows as i64).map(|i| start + i).collect();
    let null_every = |k: i64| move |i: &i64| i % k != 0;
    let fields = schema.fields();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(StringArray::from(
            ids.iter()
                .map(|i| (i % 10 != 0).then(|| format!("name-{}", i % 1000)))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            ids.iter().map(|i| *i as f64 * 0.5).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            ids.iter()
                .map(|i| null_every(7)(i).then_some(i % 2 == 0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(TimestampMillisecondArray::from(
            ids.iter()
                .map(|i| 1_704_067_200_000 + i)
                .collect::<Vec<_>>(),
        )),
        Arc::new(
            Decimal128Array::from(
                ids.iter()
                    .map(|i| null_every(5)(i).then_some(i128::from(i % 100_000)))
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(18, 2)
            .unwrap(),
        ),
        Arc::new(Int8Array::from(
            ids.iter().map(|i| (i % 100) as i8).collect::<Vec<_>>(),
        )),
        Arc::new(Int32Array::from(
            ids.iter().map(|i| (i * 3) as i32).collect::<Vec<_>>(),
        )),
        Arc::new(Float32Array::from(
            ids.iter().map(|i| *i as f32 / 4.0).collect::<Vec<_>>(),
        )),
        Arc::new(Date32Array::from(
            ids.iter().map(|i| 19_000 + *i as i32).collect::<Vec<_>>(),
        )),
        Arc::new(BinaryArray::from_iter(ids.iter().map(|i| {
            null_every(3)(i).then(|| i.to_le_bytes()[..(*i as usize % 8)].to_vec())
        }))),
        Arc::new(
            TimestampNanosecondArray::from(
                ids.iter()
                    .map(|i| 1_704_164_645_123_456_789 + i)
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
    ];
    // arr: list<bigint>
    let mut lb = ListBuilder::new(Int64Builder::new()).with_field(match fields[12].data_type() {
        DataType::List(f) => Arc::clone(f),
        _ => unreachable!(),
    });
    for i in &ids {
        if i % 4 == 0 {
            lb.append_null();
        } else {
            for k in 0..(i % 3) {
                lb.values().append_value(i * 10 + k);
            }
            lb.append(true);
        }
    }
    cols.push(Arc::new(lb.finish()));
    // st: struct<a:bigint,b:string>
    let DataType::Struct(sf) = fields[13].data_type() else {
        unreachable!()
    };
    let mut sb = StructBuilder::from_fields(sf.clone(), rows);
    for i in &ids {
        sb.field_builder::<Int64Builder>(0)
            .unwrap()
            .append_value(*i);
        sb.field_builder::<StringBuilder>(1)
            .unwrap()
            .append_option((i % 2 == 0).then(|| format!("s{i}")));
        sb.append(i % 6 != 0);
    }
    cols.push(Arc::new(sb.finish()));
    // m: map<string,bigint>
    let DataType::Map(entries, _) = fields[14].data_type() else {
        unreachable!()
    };
    let DataType::Struct(kv) = entries.data_type() else {
        unreachable!()
    };
    let names = arrow_array::builder::MapFieldNames {
        entry: entries.name().clone(),
        key: kv[0].name().clone(),
        value: kv[1].name().clone(),
    };
    let mut mb = MapBuilder::new(Some(names), StringBuilder::new(), Int64Builder::new())
        .with_keys_field(Arc::clone(&kv[0]))
        .with_values_field(Arc::clone(&kv[1]));
    for i in &ids {
        for k in 0..(i % 3) {
            mb.keys().append_value(format!("k{k}"));
            mb.values().append_value(i + k);
        }
        mb.append(i % 5 != 1).unwrap();
    }
    cols.push(Arc::new(mb.finish()));
    RecordBatch::try_new(Arc::clone(schema), cols).unwrap()
}

fn sample_schema() -> SchemaRef {
    columns_to_arrow(&sample_columns())
}

#[test]
fn payload_holds_record_batch_messages_only() {
    let schema = sample_schema();
    let batches = vec![
        sample_batch(&schema, 0, 100),
        sample_batch(&schema, 100, 1),
        sample_batch(&schema, 101, 0),
        sample_batch(&schema, 101, 333),
    ];
    let payload = encode_record_batches(&batches).unwrap();
    // Walk the encapsulated messages: continuation, metadata length, metadata, body.
    let mut pos = 0;
    let mut n = 0;
    while pos < payload.len() {
        assert_eq!(payload[pos..pos + 4], [0xff; 4], "continuation at {pos}");
        let meta_len = i32::from_le_bytes(payload[pos + 4..pos + 8].try_into().unwrap()) as usize;
        assert!(meta_len > 0, "no end-of-stream marker expected");
        assert_eq!(meta_len % 8, 0);
        let meta = &payload[pos + 8..pos + 8 + meta_len];
        let msg = arrow_ipc::root_as_message(meta).unwrap();
        assert_eq!(msg.header_type(), arrow_ipc::MessageHeader::RecordBatch);
        pos += 8 + meta_len + msg.bodyLength() as usize;
        n += 1;
    }
    assert_eq!(pos, payload.len());
    assert_eq!(n, batches.len());
    let back = decode_record_batches(Arc::clone(&schema), &payload).unwrap();
    assert_eq!(back, batches);
}

#[test]
fn batches_round_trip_through_framing_with_splits() {
    let schema = sample_schema();
    let batches: Vec<RecordBatch> = (0..5)
        .map(|k| sample_batch(&schema, k * 1000, 50 + 37 * k as usize))
        .collect();
    for ipc in [Compression::Raw, Compression::Zstd, Compression::Lz4Frame] {
        let payload = encode_record_batches_with(&batches, ipc).unwrap();
        for cs in [7u32, 128, 4096, DEFAULT_CHUNK_SIZE] {
            let body = frame(cs, &payload).unwrap();
            for step in [1usize, 13, 1000, body.len()] {
                let mut r = ArrowFrameReader::new(MAX_CHUNK_SIZE);
                let mut dec = RecordBatchDecoder::new(Arc::clone(&schema));
                let mut got = Vec::new();
                for p in body.chunks(step) {
                    r.feed(p).unwrap();
                    got.extend(dec.feed(&r.take_data()).unwrap());
                }
                r.finish().unwrap();
                got.extend(dec.feed(&r.take_data()).unwrap());
                dec.finish().unwrap();
                assert!(got == batches, "{ipc} cs {cs} step {step}");
            }
        }
    }
}

#[test]
fn ipc_compression_shrinks_and_is_marked() {
    let schema = sample_schema();
    let batches = vec![sample_batch(&schema, 0, 2000)];
    let raw = encode_record_batches(&batches).unwrap();
    for ipc in [Compression::Zstd, Compression::Lz4Frame] {
        let c = encode_record_batches_with(&batches, ipc).unwrap();
        assert!(c.len() < raw.len(), "{ipc}: {} vs {}", c.len(), raw.len());
        let meta_len = i32::from_le_bytes(c[4..8].try_into().unwrap()) as usize;
        let msg = arrow_ipc::root_as_message(&c[8..8 + meta_len]).unwrap();
        let codec = msg
            .header_as_record_batch()
            .unwrap()
            .compression()
            .unwrap()
            .codec();
        let want = if ipc == Compression::Zstd {
            arrow_ipc::CompressionType::ZSTD
        } else {
            arrow_ipc::CompressionType::LZ4_FRAME
        };
        assert_eq!(codec, want);
        assert_eq!(
            decode_record_batches(Arc::clone(&schema), &c).unwrap(),
            batches
        );
    }
    for bad in [Compression::Zlib, Compression::Snappy] {
        assert_eq!(
            RecordBatchEncoder::new(bad).unwrap_err(),
            ArrowFrameError::UnsupportedIpcCompression(bad)
        );
    }
}

#[test]
fn payload_errors() {
    let schema = sample_schema();
    let batches = vec![sample_batch(&schema, 0, 10)];
    let payload = encode_record_batches(&batches).unwrap();
    // Truncated payload.
    for cut in [1usize, 4, 8, 20, payload.len() - 1] {
        assert!(
            decode_record_batches(Arc::clone(&schema), &payload[..cut]).is_err(),
            "cut {cut}"
        );
    }
    // A schema message inside the payload is not expected.
    let mut with_schema = schema_message(&schema).unwrap();
    with_schema.extend_from_slice(&payload);
    assert!(matches!(
        decode_record_batches(Arc::clone(&schema), &with_schema),
        Err(ArrowFrameError::Ipc(_))
    ));
    // A batch of another schema does not decode with this one.
    let other = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
    let ob = RecordBatch::try_new(
        Arc::clone(&other),
        vec![Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef],
    )
    .unwrap();
    let op = encode_record_batches(std::slice::from_ref(&ob)).unwrap();
    assert!(decode_record_batches(Arc::clone(&schema), &op).is_err());
    // Mixing schemas while encoding is refused.
    let mut enc = RecordBatchEncoder::new(Compression::Raw).unwrap();
    let mut out = Vec::new();
    enc.encode(&batches[0], &mut out).unwrap();
    assert!(matches!(
        enc.encode(&ob, &mut out),
        Err(ArrowFrameError::SchemaMismatch(_))
    ));
    // Garbage.
    assert!(decode_record_batches(Arc::clone(&schema), &[0x12; 64]).is_err());
    // Empty payload is zero batches.
    assert!(
        decode_record_batches(Arc::clone(&schema), &[])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn dictionary_columns_are_refused() {
    let dict: arrow_array::DictionaryArray<arrow_array::types::Int32Type> =
        vec!["a", "b", "a"].into_iter().collect();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "d",
        dict.data_type().clone(),
        true,
    )]));
    let b = RecordBatch::try_new(schema, vec![Arc::new(dict) as ArrayRef]).unwrap();
    assert_eq!(
        encode_record_batches(&[b]).unwrap_err(),
        ArrowFrameError::Dictionary
    );
}

#[test]
fn zero_row_batch_last_and_end_of_stream_marker() {
    let schema = sample_schema();
    let batches = vec![sample_batch(&schema, 0, 3), sample_batch(&schema, 3, 0)];
    let payload = encode_record_batches(&batches).unwrap();
    assert_eq!(
        decode_record_batches(Arc::clone(&schema), &payload).unwrap(),
        batches
    );
    // A trailing end-of-stream marker is accepted; anything after it is not.
    let mut with_eos = payload.clone();
    with_eos.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert_eq!(
        decode_record_batches(Arc::clone(&schema), &with_eos).unwrap(),
        batches
    );
    let mut d = RecordBatchDecoder::new(Arc::clone(&schema));
    assert_eq!(d.feed(&with_eos).unwrap().len(), 2);
    assert!(d.feed(&payload).is_err());
    with_eos.push(0);
    assert!(decode_record_batches(Arc::clone(&schema), &with_eos).is_err());
}

#[test]
fn byte_by_byte_decoding_yields_batches_as_they_complete() {
    let schema = sample_schema();
    let batches = vec![sample_batch(&schema, 0, 20), sample_batch(&schema, 20, 7)];
    let payload = encode_record_batches(&batches).unwrap();
    let mut d = RecordBatchDecoder::new(Arc::clone(&schema));
    let mut got = Vec::new();
    let mut first_at = None;
    for (i, b) in payload.iter().enumerate() {
        let out = d.feed(std::slice::from_ref(b)).unwrap();
        if !out.is_empty() && first_at.is_none() {
            first_at = Some(i);
        }
        got.extend(out);
    }
    d.finish().unwrap();
    assert_eq!(got, batches);
    // The first batch came out before the end of the payload.
    assert!(first_at.unwrap() < payload.len() - 1);
}

/// Deterministic mutation fuzzing of a payload holding every mapped type, raw and with IPC
/// body compression: errors are fine, panics are not.
#[test]
fn mutated_payloads_of_every_type_never_panic() {
    let iterations: usize = std::env::var("MAXC_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let schema = sample_schema();
    let batches = vec![sample_batch(&schema, 0, 9), sample_batch(&schema, 9, 4)];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for ipc in [Compression::Raw, Compression::Zstd, Compression::Lz4Frame] {
        let payload = encode_record_batches_with(&batches, ipc).unwrap();
        for _ in 0..iterations {
            let mut p = payload.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % p.len() as u64) as usize;
                p[i] = match next() % 4 {
                    0 => 0,
                    1 => 0xff,
                    2 => p[i] ^ (1 << (next() % 8)),
                    _ => next() as u8,
                };
            }
            let mut d = RecordBatchDecoder::new(Arc::clone(&schema));
            if d.feed(&p).is_ok() {
                let _ = d.finish();
            }
        }
    }
}

#[test]
fn batch_size_limit_applies_before_decoding() {
    let schema = sample_schema();
    let batches = vec![sample_batch(&schema, 0, 500)];
    for ipc in [Compression::Raw, Compression::Zstd, Compression::Lz4Frame] {
        let payload = encode_record_batches_with(&batches, ipc).unwrap();
        let ok = RecordBatchDecoder::new(Arc::clone(&schema))
            .with_max_batch_bytes(1 << 20)
            .feed(&payload)
            .unwrap();
        assert_eq!(ok, batches);
        let e = RecordBatchDecoder::new(Arc::clone(&schema))
            .with_max_batch_bytes(1000)
            .feed(&payload)
            .unwrap_err();
        assert!(
            e.to_string().contains("more than the limit of 1000"),
            "{ipc}: {e}"
        );
    }
    // A compressed buffer that claims a huge uncompressed size is refused, not allocated.
    let payload = encode_record_batches_with(&batches, Compression::Zstd).unwrap();
    let meta_len = i32::from_le_bytes(payload[4..8].try_into().unwrap()) as usize;
    let msg = arrow_ipc::root_as_message(&payload[8..8 + meta_len]).unwrap();
    let rb = msg.header_as_record_batch().unwrap();
    let first = rb
        .buffers()
        .unwrap()
        .iter()
        .find(|b| b.length() > 0)
        .unwrap();
    let at = 8 + meta_len + first.offset() as usize;
    let mut bad = payload.clone();
    bad[at..at + 8].copy_from_slice(&(1i64 << 60).to_le_bytes());
    let e = decode_record_batches(Arc::clone(&schema), &bad).unwrap_err();
    assert!(e.to_string().contains("more than the limit"), "{e}");
}
