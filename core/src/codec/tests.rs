//! Golden vectors (protocol doc §5.6–5.8, pyodps-traffic §3), chunking, projection and one
//! test per error class.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int8Array, Int32Array, Int64Array, IntervalMonthDayNanoArray,
    IntervalYearMonthArray, ListArray, MapArray, RecordBatch, StringArray, StructArray,
    TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow_buffer::{IntervalMonthDayNano, OffsetBuffer};
use arrow_schema::DataType;

use super::crc::crc32c_append;
use super::wire;
use super::*;
use crate::types::arrow::columns_to_arrow;
use crate::types::{Column, OdpsType};

// ---- helpers ------------------------------------------------------------------------------

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| b.is_ascii_hexdigit())
        .map(|b| (b as char).to_digit(16).unwrap() as u8)
        .collect();
    assert_eq!(digits.len() % 2, 0, "odd hex string");
    digits.chunks(2).map(|p| p[0] * 16 + p[1]).collect()
}

fn cols(spec: &[(&str, &str)]) -> Vec<Column> {
    spec.iter()
        .map(|(n, t)| Column::new(*n, t.parse::<OdpsType>().unwrap()))
        .collect()
}

fn batch(columns: &[Column], arrays: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(columns_to_arrow(columns), arrays).unwrap()
}

fn encode(columns: &[Column], batches: &[RecordBatch]) -> Vec<u8> {
    encode_batches(columns, batches).unwrap()
}

fn decode(columns: &[Column], bytes: &[u8], batch_size: usize) -> Vec<RecordBatch> {
    decode_all(columns, bytes, batch_size).unwrap()
}

fn decode_err(columns: &[Column], bytes: &[u8]) -> CodecError {
    decode_with_err(RecordDecoder::new(columns, 16), bytes)
}

fn decode_with_err(mut dec: RecordDecoder, bytes: &[u8]) -> CodecError {
    match dec.feed(bytes).and_then(|()| dec.finish()) {
        Ok(_) => panic!("decoding succeeded"),
        Err(e) => e,
    }
}

/// Decodes with the input split into the given chunks; returns all batches in order.
fn decode_chunks<'a>(
    columns: &[Column],
    chunks: impl IntoIterator<Item = &'a [u8]>,
    batch_size: usize,
) -> Result<Vec<RecordBatch>, CodecError> {
    let mut dec = RecordDecoder::new(columns, batch_size);
    let mut out = Vec::new();
    for c in chunks {
        dec.feed(c)?;
        while let Some(b) = dec.next_batch() {
            out.push(b);
        }
    }
    if let Some(b) = dec.finish()? {
        out.push(b);
    }
    while let Some(b) = dec.next_batch() {
        out.push(b);
    }
    Ok(out)
}

/// True if `batches` hold exactly the rows of `expected`, in order.
fn same_rows(batches: &[RecordBatch], expected: &RecordBatch) -> bool {
    let mut row = 0;
    for b in batches {
        if b.schema() != expected.schema() || row + b.num_rows() > expected.num_rows() {
            return false;
        }
        if *b != expected.slice(row, b.num_rows()) {
            return false;
        }
        row += b.num_rows();
    }
    row == expected.num_rows()
}

fn fields_of(dt: &DataType) -> arrow_schema::Fields {
    match dt {
        DataType::Struct(f) => f.clone(),
        other => panic!("not a struct: {other}"),
    }
}

// ---- vector A -----------------------------------------------------------------------------

const VECTOR_A: &str = "
08 02 12 05 61 6c 69 63 65 19 00 00 00 00 00 00
0c 40 20 01 28 90 e2 86 82 99 63 32 05 31 32 2e
33 34 80 c0 ff 7f 9c d8 bd a8 07 08 03 19 00 00
00 00 00 00 d0 bf 20 00 32 05 2d 30 2e 35 30 80
c0 ff 7f dd c5 8d 9e 09 12 06 e6 97 a5 e6 9c ac
28 00 80 c0 ff 7f f1 c4 88 91 02 f0 ff ff 7f 06
f8 ff ff 7f de f9 a4 ac 0f";

fn schema_a() -> Vec<Column> {
    cols(&[
        ("id", "bigint"),
        ("name", "string"),
        ("score", "double"),
        ("flag", "boolean"),
        ("ts", "datetime"),
        ("amount", "decimal(10,2)"),
    ])
}

fn rows_a() -> RecordBatch {
    batch(
        &schema_a(),
        vec![
            Arc::new(Int64Array::from(vec![Some(1), Some(-2), None])),
            Arc::new(StringArray::from(vec![Some("alice"), None, Some("日本")])),
            Arc::new(Float64Array::from(vec![Some(3.5), Some(-0.25), None])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_704_164_645_000),
                None,
                Some(0),
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(1234), Some(-50), None])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ],
    )
}

#[test]
fn vector_a_encodes_byte_exact() {
    let bytes = encode(&schema_a(), &[rows_a()]);
    assert_eq!(bytes.len(), 105);
    assert_eq!(bytes, hex(VECTOR_A));
}

#[test]
fn vector_a_encodes_the_same_from_split_batches() {
    let rows = rows_a();
    let bytes = encode(&schema_a(), &[rows.slice(0, 1), rows.slice(1, 2)]);
    assert_eq!(bytes, hex(VECTOR_A));
}

#[test]
fn one_encoder_interleaves_streams_through_stream_states() {
    use crate::codec::{MAX_FOOTER_LEN, StreamState};
    let rows = rows_a();
    let mut enc = RecordEncoder::new(&schema_a());
    let mut outs = [Vec::new(), Vec::new()];
    let mut states = [StreamState::default(); 2];
    // Stream 0 gets rows 0 and then 1..3, stream 1 row 2 and then 0..3, interleaved.
    for (i, slice) in [
        (0, rows.slice(0, 1)),
        (1, rows.slice(2, 1)),
        (0, rows.slice(1, 2)),
        (1, rows.clone()),
    ] {
        enc.resume(states[i]);
        enc.write_batch(&slice, &mut outs[i]).unwrap();
        states[i] = enc.stream_state();
    }
    assert_eq!(states[1].record_count(), 4);
    for (out, state) in outs.iter_mut().zip(states) {
        enc.resume(state);
        let before = out.len();
        enc.finish(out);
        assert!(out.len() - before <= MAX_FOOTER_LEN);
    }
    assert_eq!(
        outs[0],
        hex(VECTOR_A),
        "the same bytes as one encoder per stream"
    );
    assert_eq!(outs[1], encode(&schema_a(), &[rows.slice(2, 1), rows]));
}

#[test]
fn vector_a_decodes_to_its_rows() {
    let batches = decode(&schema_a(), &hex(VECTOR_A), 1024);
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0], rows_a());
    let batches = decode(&schema_a(), &hex(VECTOR_A), 2);
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].num_rows(), 2);
    assert!(same_rows(&batches, &rows_a()));
}

#[test]
fn vector_a_record_crcs_are_as_documented() {
    // The CRC input of row 1 as given in §5.6.
    let input = hex(
        "01000000 0100000000000000 02000000 616c696365 03000000 000000000000 0c40 04000000 01 \
         05000000 88d820c88c010000 06000000 31322e3334",
    );
    assert_eq!(crc32c::crc32c(&input), 0x750F_6C1C);
    assert_eq!(
        crc32c::crc32c(&hex("1c6c0f75 dd62c393 71222222")),
        0xF589_3CDE
    );
}

#[test]
fn vector_a_pyodps_c_writer_variant_decodes() {
    let mut v = hex(VECTOR_A);
    // Row 2's END_RECORD value and the footer checksum in 10-byte sign-extended form.
    let row2 = hex("dd c5 8d 9e 09");
    let at = v.windows(5).position(|w| w == row2.as_slice()).unwrap();
    v.splice(at..at + 5, hex("dd c5 8d 9e f9 ff ff ff ff 01"));
    let foot = hex("de f9 a4 ac 0f");
    let at = v.windows(5).position(|w| w == foot.as_slice()).unwrap();
    v.splice(at..at + 5, hex("de f9 a4 ac ff ff ff ff ff 01"));
    assert_eq!(v.len(), 115);
    let batches = decode(&schema_a(), &v, 1024);
    assert_eq!(batches, vec![rows_a()]);
    // Every split point too.
    for k in 0..=v.len() {
        let got = decode_chunks(&schema_a(), [&v[..k], &v[k..]], 1024).unwrap();
        assert_eq!(got, vec![rows_a()], "split at {k}");
    }
}

// ---- vector B -----------------------------------------------------------------------------

const VECTOR_B: &str = "
08 01 10 d8 04 1d 00 00 c0 3f 20 8c b5 02 2a 02
00 01 32 02 76 63 3a ca f4 9b d9 0c aa b4 de 75
42 02 80 94 eb dc 03 4a 03 00 02 01 00 05 52 02
00 01 6b 00 01 7a 02 00 0e 01 5a 00 0a 01 62 0d
7b 22 61 22 3a 20 5b 31 2c 20 32 5d 7d 6a 84 c6
0a 06 70 1c 7a 03 61 62 63 80 c0 ff 7f b4 e5 83
e4 0c f0 ff ff 7f 02 f8 ff ff 7f d9 cc 88 c3 0b";

fn schema_b() -> Vec<Column> {
    cols(&[
        ("t8", "tinyint"),
        ("i32", "int"),
        ("f32", "float"),
        ("d", "date"),
        ("bin", "binary"),
        ("vc", "varchar(10)"),
        ("tsz", "timestamp"),
        ("tsntz", "timestamp_ntz"),
        ("arr", "array<bigint>"),
        ("m", "map<string,bigint>"),
        ("st", "struct<a:bigint,b:string>"),
        ("js", "json"),
        ("idt", "interval_day_time"),
        ("iym", "interval_year_month"),
        ("ch", "char(3)"),
    ])
}

fn rows_b() -> RecordBatch {
    let columns = schema_b();
    let arr_field = match columns[8].ty.to_arrow() {
        DataType::List(f) => f,
        other => panic!("{other}"),
    };
    let arr = ListArray::try_new(
        arr_field,
        OffsetBuffer::from_lengths([3]),
        Arc::new(Int64Array::from(vec![Some(1), None, Some(-3)])),
        None,
    )
    .unwrap();
    let (entries_field, _) = match columns[9].ty.to_arrow() {
        DataType::Map(f, s) => (f, s),
        other => panic!("{other}"),
    };
    let entries = StructArray::try_new(
        fields_of(entries_field.data_type()),
        vec![
            Arc::new(StringArray::from(vec!["k", "z"])),
            Arc::new(Int64Array::from(vec![Some(7), None])),
        ],
        None,
    )
    .unwrap();
    let map = MapArray::try_new(
        entries_field,
        OffsetBuffer::from_lengths([2]),
        entries,
        None,
        false,
    )
    .unwrap();
    let st = StructArray::try_new(
        fields_of(&columns[10].ty.to_arrow()),
        vec![
            Arc::new(Int64Array::from(vec![Some(5)])),
            Arc::new(StringArray::from(vec![None::<&str>])),
        ],
        None,
    )
    .unwrap();
    batch(
        &columns,
        vec![
            Arc::new(Int8Array::from(vec![-1])),
            Arc::new(Int32Array::from(vec![300])),
            Arc::new(Float32Array::from(vec![1.5])),
            Arc::new(Date32Array::from(vec![19782])),
            Arc::new(BinaryArray::from(vec![&[0u8, 1][..]])),
            Arc::new(StringArray::from(vec!["vc"])),
            Arc::new(
                TimestampNanosecondArray::from(vec![1_704_164_645_123_456_789])
                    .with_timezone("UTC"),
            ),
            Arc::new(TimestampNanosecondArray::from(vec![1_500_000_000])),
            Arc::new(arr),
            Arc::new(map),
            Arc::new(st),
            Arc::new(StringArray::from(vec![r#"{"a": [1, 2]}"#])),
            Arc::new(IntervalMonthDayNanoArray::from(vec![
                IntervalMonthDayNano::new(0, 1, 2_000_000_003),
            ])),
            Arc::new(IntervalYearMonthArray::from(vec![14])),
            Arc::new(StringArray::from(vec!["abc"])),
        ],
    )
}

#[test]
fn vector_b_encodes_byte_exact() {
    let bytes = encode(&schema_b(), &[rows_b()]);
    assert_eq!(bytes.len(), 112);
    assert_eq!(bytes, hex(VECTOR_B));
}

#[test]
fn vector_b_decodes_to_its_row() {
    assert_eq!(decode(&schema_b(), &hex(VECTOR_B), 8), vec![rows_b()]);
}

#[test]
fn interval_day_time_encodes_the_total_whatever_the_split() {
    // 0 days + 86402.000000003 s encodes like 1 day + 2.000000003 s.
    let columns = cols(&[("idt", "interval_day_time")]);
    let a = batch(
        &columns,
        vec![Arc::new(IntervalMonthDayNanoArray::from(vec![
            IntervalMonthDayNano::new(0, 0, 86_402_000_000_003),
        ]))],
    );
    let b = batch(
        &columns,
        vec![Arc::new(IntervalMonthDayNanoArray::from(vec![
            IntervalMonthDayNano::new(0, 1, 2_000_000_003),
        ]))],
    );
    let bytes = encode(&columns, &[a]);
    assert_eq!(bytes, encode(&columns, std::slice::from_ref(&b)));
    assert_eq!(decode(&columns, &bytes, 4), vec![b]);
    // Negative totals: floor seconds with non-negative nanos on the wire; the decoded value
    // keeps the sign of the total in both parts.
    let neg = batch(
        &columns,
        vec![Arc::new(IntervalMonthDayNanoArray::from(vec![
            IntervalMonthDayNano::new(0, -1, -500_000_000),
        ]))],
    );
    let bytes = encode(&columns, std::slice::from_ref(&neg));
    // secs = -86401 (zz 172801 = 81 c6 0a), nanos = 500000000 (zz 1000000000 = 80 94 eb dc 03)
    assert_eq!(&bytes[..9], hex("0a 81 c6 0a 80 94 eb dc 03").as_slice());
    assert_eq!(decode(&columns, &bytes, 4), vec![neg]);
}

#[test]
fn timestamps_before_1970_use_floor_seconds() {
    let columns = cols(&[("t", "timestamp_ntz")]);
    let b = batch(
        &columns,
        vec![Arc::new(TimestampNanosecondArray::from(vec![
            -1_500_000_000,
        ]))],
    );
    let bytes = encode(&columns, std::slice::from_ref(&b));
    // secs -2 (zz 3), nanos 500000000 (zz 1000000000).
    assert_eq!(&bytes[..7], hex("0a 03 80 94 eb dc 03").as_slice());
    assert_eq!(decode(&columns, &bytes, 4), vec![b]);
}

// ---- small vectors ------------------------------------------------------------------------

#[test]
fn empty_stream() {
    let columns = schema_a();
    let bytes = encode(&columns, &[]);
    assert_eq!(bytes, hex("f0 ff ff 7f 00 f8 ff ff 7f 00"));
    assert!(decode(&columns, &bytes, 10).is_empty());
    let mut dec = RecordDecoder::new(&columns, 10);
    dec.feed(&bytes).unwrap();
    assert_eq!(dec.finish().unwrap(), None);
    assert_eq!(dec.records_decoded(), 0);
}

#[test]
fn partitioned_table_vector() {
    // Partition column `pt` is not a wire column.
    let columns = cols(&[("a", "bigint")]);
    let b = batch(&columns, vec![Arc::new(Int64Array::from(vec![5]))]);
    let expected =
        hex("08 0a 80 c0 ff 7f a7 bc c2 91 07 f0 ff ff 7f 02 f8 ff ff 7f e4 a7 a8 a6 04");
    assert_eq!(encode(&columns, std::slice::from_ref(&b)), expected);
    assert_eq!(decode(&columns, &expected, 3), vec![b]);
}

#[test]
fn upsert_meta_columns_are_extra_columns() {
    let columns = cols(&[
        ("id", "bigint"),
        ("val", "string"),
        ("__version", "bigint"),
        ("__app_version", "bigint"),
        ("__operation", "tinyint"),
        ("__key_cols", "array<bigint>"),
        ("__value_cols", "array<bigint>"),
    ]);
    let list_field = match columns[5].ty.to_arrow() {
        DataType::List(f) => f,
        other => panic!("{other}"),
    };
    let key_cols = ListArray::new_null(list_field.clone(), 1);
    let value_cols = ListArray::try_new(
        list_field,
        OffsetBuffer::from_lengths([0]),
        Arc::new(Int64Array::from(Vec::<i64>::new())),
        None,
    )
    .unwrap();
    let b = batch(
        &columns,
        vec![
            Arc::new(Int64Array::from(vec![2])),
            Arc::new(StringArray::from(vec!["b"])),
            Arc::new(Int64Array::from(vec![None])),
            Arc::new(Int64Array::from(vec![None])),
            Arc::new(Int8Array::from(vec![85])),
            Arc::new(key_cols),
            Arc::new(value_cols),
        ],
    );
    let bytes = encode(&columns, std::slice::from_ref(&b));
    assert_eq!(
        &bytes[..10],
        hex("08 04 12 01 62 28 aa 01 3a 00").as_slice()
    );
    assert_eq!(&bytes[10..14], hex("80 c0 ff 7f").as_slice());
    assert_eq!(decode(&columns, &bytes, 4), vec![b]);
}

// ---- pyodps captured upload body -----------------------------------------------------------

const PYODPS_BODY: &str = "
080211000000000000f83f1a05616c70686120012880fda6c29863320731322e3334303080c0ff7fdad3cfd20608041100000000000002c0
1a0462657461200028f6c1c2f7986332042d302e3580c0ff7fedd6d9940708061a0567616d6d61200128b0a0fdac8d37320c313030303030
302e3030303180c0ff7fdde6a5d2fbffffffff01080811000000205fa0224280c0ff7fa5d5efacfaffffffff0108091100000000000000001a
0a64c3a96c746120e29c932000280032013080c0ff7fcafa8fb1f9ffffffff01f0ffff7f0af8ffff7fafb8db8804";

#[test]
fn pyodps_upload_body_decodes() {
    let columns = cols(&[
        ("id", "bigint"),
        ("score", "double"),
        ("name", "string"),
        ("flag", "boolean"),
        ("ts", "datetime"),
        ("amount", "decimal(18,4)"),
    ]);
    let bytes = hex(PYODPS_BODY);
    assert_eq!(bytes.len(), 215);
    let expected = batch(
        &columns,
        vec![
            Arc::new(Int64Array::from(vec![
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                Some(-5),
            ])),
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                Some(-2.25),
                None,
                Some(4e10),
                Some(0.0),
            ])),
            Arc::new(StringArray::from(vec![
                Some("alpha"),
                Some("beta"),
                Some("gamma"),
                None,
                Some("délta ✓"),
            ])),
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                Some(true),
                None,
                Some(false),
            ])),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_704_097_800_000),
                Some(1_704_153_600_123),
                Some(946_684_799_000),
                None,
                Some(0),
            ])),
            Arc::new(
                Decimal128Array::from(vec![
                    Some(123_400),
                    Some(-5_000),
                    Some(10_000_000_001),
                    None,
                    Some(0),
                ])
                .with_precision_and_scale(18, 4)
                .unwrap(),
            ),
        ],
    );
    assert_eq!(decode(&columns, &bytes, 100), vec![expected.clone()]);
    // Re-encoding gives canonical bytes (5-byte CRCs, decimals at scale) that decode the same.
    let again = encode(&columns, std::slice::from_ref(&expected));
    assert_ne!(again, bytes);
    assert_eq!(decode(&columns, &again, 100), vec![expected]);
}

// ---- chunking -----------------------------------------------------------------------------

fn check_every_split(columns: &[Column], bytes: &[u8], expected: &RecordBatch) {
    for batch_size in [1, 2, 1000] {
        let whole = decode(columns, bytes, batch_size);
        assert!(same_rows(&whole, expected));
        for k in 0..=bytes.len() {
            let got = decode_chunks(columns, [&bytes[..k], &bytes[k..]], batch_size).unwrap();
            assert_eq!(got, whole, "split at {k}, batch size {batch_size}");
        }
        for k1 in (0..=bytes.len()).step_by(7) {
            for k2 in k1..=bytes.len() {
                let got = decode_chunks(
                    columns,
                    [&bytes[..k1], &bytes[k1..k2], &bytes[k2..]],
                    batch_size,
                )
                .unwrap();
                assert_eq!(got, whole, "split at {k1},{k2}, batch size {batch_size}");
            }
        }
        let got = decode_chunks(columns, bytes.chunks(1), batch_size).unwrap();
        assert_eq!(got, whole, "byte by byte, batch size {batch_size}");
    }
}

#[test]
fn vector_a_every_split_point() {
    check_every_split(&schema_a(), &hex(VECTOR_A), &rows_a());
}

#[test]
fn vector_b_every_split_point() {
    check_every_split(&schema_b(), &hex(VECTOR_B), &rows_b());
}

#[test]
fn large_values_across_many_chunks() {
    let columns = cols(&[("s", "string"), ("b", "binary"), ("a", "array<bigint>")]);
    let big: String = "xé".repeat(40_000);
    let blob: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let list_field = match columns[2].ty.to_arrow() {
        DataType::List(f) => f,
        other => panic!("{other}"),
    };
    let n = 30_000;
    let arr = ListArray::try_new(
        list_field,
        OffsetBuffer::from_lengths([n, 0, 1]),
        Arc::new(Int64Array::from_iter_values(
            (0..n as i64 + 1).map(|i| i * 977 - 5000),
        )),
        None,
    )
    .unwrap();
    let b = batch(
        &columns,
        vec![
            Arc::new(StringArray::from(vec![Some(big.as_str()), None, Some("")])),
            Arc::new(BinaryArray::from(vec![
                Some(&blob[..]),
                Some(&[][..]),
                None,
            ])),
            Arc::new(arr),
        ],
    );
    let bytes = encode(&columns, std::slice::from_ref(&b));
    for chunk in [1000, 4096, 65_536] {
        let got = decode_chunks(&columns, bytes.chunks(chunk), 2).unwrap();
        assert!(same_rows(&got, &b), "chunk {chunk}");
        assert_eq!(got.len(), 2);
    }
}

// ---- projection ---------------------------------------------------------------------------

#[test]
fn projection_renumbers_fields() {
    // `columns=amount,name` on the vector-A table: fields 1 = amount, 2 = name.
    let table = crate::types::TableSchema::new(schema_a(), cols(&[("pt", "string")])).unwrap();
    let projected = table.project(&["amount", "name"]).unwrap();
    let full = rows_a();
    let b = batch(
        &projected,
        vec![full.column(5).clone(), full.column(1).clone()],
    );
    let bytes = encode(&projected, std::slice::from_ref(&b));
    // Row 1 starts with field 1 (decimal, wire type 2) then field 2 (string).
    assert_eq!(&bytes[..9], hex("0a 05 31 32 2e 33 34 12 05").as_slice());
    assert_eq!(decode(&projected, &bytes, 10), vec![b.clone()]);
    check_every_split(&projected, &bytes, &b);
    // The projected stream is not the full-schema stream.
    assert!(matches!(
        decode_err(&schema_a(), &bytes),
        CodecError::WireTypeMismatch { .. }
    ));
}

// ---- encoder API --------------------------------------------------------------------------

#[test]
fn write_indices_and_rows_select_rows() {
    let columns = schema_a();
    let rows = rows_a();
    let mut enc = RecordEncoder::new(&columns);
    let mut out = Vec::new();
    enc.write_indices(&rows, &[2, 0], &mut out).unwrap();
    assert_eq!(enc.record_count(), 2);
    enc.write_rows(&rows, 1..2, &mut out).unwrap();
    enc.finish(&mut out);
    assert_eq!(enc.record_count(), 0);
    let got = decode(&columns, &out, 10);
    let expected = batch(
        &columns,
        (0..columns.len())
            .map(|c| {
                let col = rows.column(c);
                let parts = [col.slice(2, 1), col.slice(0, 1), col.slice(1, 1)];
                concat_arrays(&parts)
            })
            .collect(),
    );
    assert_eq!(got, vec![expected]);
}

/// Writing a few rows of a wide batch (one partition's share of it, say) grows the output by
/// about what those rows need, not by room for hundreds of rows: the room the encoder zeroes
/// ahead of the rows is bounded by the rows left to write.
#[test]
fn few_wide_rows_grow_the_output_by_what_they_need() {
    let columns = cols(&[("id", "bigint"), ("name", "string")]);
    let name = "y".repeat(4096);
    let b = batch(
        &columns,
        vec![
            Arc::new(Int64Array::from((0..500).collect::<Vec<i64>>())),
            Arc::new(StringArray::from(vec![name.as_str(); 500])),
        ],
    );
    let mut enc = RecordEncoder::new(&columns);
    for rows in [vec![7u32], vec![1, 300, 499]] {
        let mut out = Vec::new();
        enc.write_indices(&b, &rows, &mut out).unwrap();
        assert!(out.len() > 4096 * rows.len(), "{} bytes", out.len());
        assert!(
            out.capacity() <= 2 * (4096 + 64) * rows.len(),
            "{} rows took a capacity of {} bytes",
            rows.len(),
            out.capacity()
        );
    }
    let mut out = Vec::new();
    enc.write_rows(&b, 10..11, &mut out).unwrap();
    assert!(
        out.capacity() <= 2 * (4096 + 64),
        "capacity {}",
        out.capacity()
    );
}

/// Concatenates single-row arrays by re-encoding (keeps the test free of a concat kernel).
fn concat_arrays(parts: &[ArrayRef]) -> ArrayRef {
    let columns = vec![Column::new(
        "c",
        OdpsType::from_arrow_field(&arrow_schema::Field::new(
            "c",
            parts[0].data_type().clone(),
            true,
        ))
        .unwrap(),
    )];
    let batches: Vec<RecordBatch> = parts
        .iter()
        .map(|p| batch(&columns, vec![p.clone()]))
        .collect();
    let bytes = encode(&columns, &batches);
    decode(&columns, &bytes, 100)[0].column(0).clone()
}

#[test]
fn finish_starts_a_new_stream() {
    let columns = schema_a();
    let rows = rows_a();
    let mut enc = RecordEncoder::new(&columns);
    let mut first = Vec::new();
    enc.write_batch(&rows, &mut first).unwrap();
    enc.finish(&mut first);
    let mut second = Vec::new();
    enc.write_rows(&rows, 0..3, &mut second).unwrap();
    enc.finish(&mut second);
    assert_eq!(first, hex(VECTOR_A));
    assert_eq!(second, hex(VECTOR_A));
}

#[test]
fn encoder_rejects_wrong_schema() {
    let columns = schema_a();
    let rows = rows_a();
    let mut enc = RecordEncoder::new(&columns);
    let mut out = vec![0xAA];
    let mut arrays = rows.columns().to_vec();
    arrays[0] = Arc::new(Int32Array::from(vec![1, 2, 3]));
    let wrong =
        RecordBatch::try_from_iter(columns.iter().map(|c| c.name.clone()).zip(arrays)).unwrap();
    match enc.write_batch(&wrong, &mut out) {
        Err(CodecError::SchemaMismatch {
            column,
            expected,
            found,
        }) => {
            assert_eq!(column, "id");
            assert_eq!(expected, "Int64");
            assert_eq!(found, "Int32");
        }
        other => panic!("{other:?}"),
    }
    let short = RecordBatch::try_from_iter([("id", rows.column(0).clone())]).unwrap();
    assert!(matches!(
        enc.write_batch(&short, &mut out),
        Err(CodecError::ColumnCountMismatch {
            expected: 6,
            found: 1
        })
    ));
    assert!(matches!(
        enc.write_rows(&rows, 1..4, &mut out),
        Err(CodecError::RowOutOfRange { row: 4, rows: 3 })
    ));
    assert!(matches!(
        enc.write_indices(&rows, &[0, 3], &mut out),
        Err(CodecError::RowOutOfRange { row: 3, rows: 3 })
    ));
    assert_eq!(out, [0xAA]);
    // Names and metadata do not matter, only types.
    let renamed = RecordBatch::try_from_iter(
        ["a", "b", "c", "d", "e", "f"]
            .into_iter()
            .zip(rows.columns().iter().cloned()),
    )
    .unwrap();
    enc.write_batch(&renamed, &mut out).unwrap();
    enc.finish(&mut out);
    assert_eq!(&out[1..], hex(VECTOR_A).as_slice());
}

#[test]
fn encoder_rejects_unencodable_values_and_rolls_back() {
    let columns = cols(&[("i", "interval_day_time"), ("d", "decimal(3,1)")]);
    let good = IntervalMonthDayNano::new(0, 1, 0);
    let b = batch(
        &columns,
        vec![
            Arc::new(IntervalMonthDayNanoArray::from(vec![
                good,
                IntervalMonthDayNano::new(2, 0, 0),
            ])),
            Arc::new(
                Decimal128Array::from(vec![1, 2])
                    .with_precision_and_scale(3, 1)
                    .unwrap(),
            ),
        ],
    );
    let mut enc = RecordEncoder::new(&columns);
    let mut out = Vec::new();
    match enc.write_batch(&b, &mut out) {
        Err(CodecError::UnencodableValue { column, row, .. }) => {
            assert_eq!((column.as_str(), row), ("i", 1));
        }
        other => panic!("{other:?}"),
    }
    assert!(out.is_empty());
    assert_eq!(enc.record_count(), 0);
    let b = batch(
        &columns,
        vec![
            Arc::new(IntervalMonthDayNanoArray::from(vec![good])),
            Arc::new(
                Decimal128Array::from(vec![1000])
                    .with_precision_and_scale(3, 1)
                    .unwrap(),
            ),
        ],
    );
    assert!(matches!(
        enc.write_batch(&b, &mut out),
        Err(CodecError::UnencodableValue { row: 0, .. })
    ));
    // After the failures the encoder still produces a valid empty stream.
    enc.finish(&mut out);
    assert_eq!(out, hex("f0 ff ff 7f 00 f8 ff ff 7f 00"));
}

#[test]
fn the_first_bad_value_in_row_then_column_order_is_reported() {
    // Bad values planted at given rows of three columns: a decimal that does not fit, a list
    // holding an interval with months (a nested type, written in the second pass) and an
    // interval with months.
    let columns = cols(&[
        ("d", "decimal(3,1)"),
        ("m", "array<interval_day_time>"),
        ("i", "interval_day_time"),
        ("s", "string"),
    ]);
    let n = 700;
    let make = |bad_d: &[usize], bad_m: &[usize], bad_i: &[usize]| {
        let d = Decimal128Array::from(
            (0..n)
                .map(|r| {
                    if bad_d.contains(&r) {
                        1000
                    } else {
                        r as i128 % 999
                    }
                })
                .collect::<Vec<_>>(),
        )
        .with_precision_and_scale(3, 1)
        .unwrap();
        let items = IntervalMonthDayNanoArray::from(
            (0..n)
                .map(|r| IntervalMonthDayNano::new(i32::from(bad_m.contains(&r)), 2, 0))
                .collect::<Vec<_>>(),
        );
        let DataType::List(item) = columns[1].ty.to_arrow() else {
            unreachable!()
        };
        let m = ListArray::try_new(
            item,
            OffsetBuffer::from_lengths(std::iter::repeat_n(1, n)),
            Arc::new(items),
            None,
        )
        .unwrap();
        let i = IntervalMonthDayNanoArray::from(
            (0..n)
                .map(|r| IntervalMonthDayNano::new(i32::from(bad_i.contains(&r)), 1, 5))
                .collect::<Vec<_>>(),
        );
        let s = StringArray::from((0..n).map(|r| format!("s{r}")).collect::<Vec<_>>());
        batch(
            &columns,
            vec![Arc::new(d), Arc::new(m), Arc::new(i), Arc::new(s)],
        )
    };
    // (bad decimal rows, bad list rows, bad interval rows, expected (column, row))
    type Case<'a> = (&'a [usize], &'a [usize], &'a [usize], (&'a str, usize));
    let cases: &[Case<'_>] = &[
        (&[500], &[], &[300], ("i", 300)),
        (&[300], &[], &[300], ("d", 300)),
        (&[300], &[300], &[300], ("d", 300)),
        (&[], &[300], &[300], ("m", 300)),
        (&[400], &[250], &[300], ("m", 250)),
        (&[699], &[], &[], ("d", 699)),
        (&[], &[], &[0], ("i", 0)),
        (&[260, 20], &[600], &[255], ("d", 20)),
    ];
    for (bad_d, bad_m, bad_i, (col, row)) in cases {
        let b = make(bad_d, bad_m, bad_i);
        let mut enc = RecordEncoder::new(&columns);
        let mut out = b"keep".to_vec();
        match enc.write_batch(&b, &mut out) {
            Err(CodecError::UnencodableValue { column, row: r, .. }) => {
                assert_eq!(
                    (column.as_str(), r),
                    (*col, *row),
                    "{bad_d:?} {bad_m:?} {bad_i:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        // Nothing of the failed call stays, and the encoder goes on as if it never happened.
        assert_eq!(out, b"keep");
        assert_eq!(enc.record_count(), 0);
        let good = make(&[], &[], &[]);
        enc.write_batch(&good, &mut out).unwrap();
        enc.finish(&mut out);
        assert_eq!(out[4..], encode(&columns, &[good]));
    }
}

#[test]
fn records_with_a_long_crc_input_round_trip() {
    // 30 strings of 200 bytes: 6120 CRC input bytes per record, more than the CRC scratch
    // starts with, so encoder and decoder both grow it and redo the record.
    let columns: Vec<Column> = (0..30)
        .map(|i| Column::new(format!("s{i}"), OdpsType::String))
        .collect();
    let text = |r: usize, c: usize| -> String {
        (0..200)
            .map(|k| (b'a' + ((r + c + k) % 26) as u8) as char)
            .collect()
    };
    let rows = 3;
    let arrays: Vec<ArrayRef> = (0..30)
        .map(|c| {
            Arc::new(StringArray::from(
                (0..rows).map(|r| text(r, c)).collect::<Vec<_>>(),
            )) as ArrayRef
        })
        .collect();
    let b = batch(&columns, arrays);
    let bytes = encode(&columns, std::slice::from_ref(&b));
    // The first record's CRC, computed here from the protocol's definition.
    let mut input = Vec::new();
    for c in 0..30 {
        input.extend_from_slice(&(c as i32 + 1).to_le_bytes());
        input.extend_from_slice(text(0, c).as_bytes());
    }
    // Tags of fields 1..=15 take one byte, the others two; lengths (200) take two.
    let first_record_len: usize = (1..=30).map(|f| if f < 16 { 1 } else { 2 } + 2 + 200).sum();
    let mut pos = first_record_len + 4;
    assert_eq!(bytes[first_record_len..pos], [0x80, 0xc0, 0xff, 0x7f]);
    assert_eq!(
        wire::read_crc_varint(&bytes, &mut pos),
        Ok(crc32c::crc32c(&input))
    );
    assert!(same_rows(&decode(&columns, &bytes, 2), &b));
    for cut in [1, 100, first_record_len, bytes.len() - 3] {
        let got = decode_chunks(&columns, [&bytes[..cut], &bytes[cut..]], 2).unwrap();
        assert!(same_rows(&got, &b), "cut at {cut}");
    }
}

// ---- corruption: one test per error class ---------------------------------------------------

/// A record built by hand: `(field, wire type, value bytes, CRC bytes)` then END_RECORD with a
/// correct CRC.
fn record(fields: &[(u32, u8, Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    record_crc(fields).0
}

/// [`record`] and its CRC.
fn record_crc(fields: &[(u32, u8, Vec<u8>, Vec<u8>)]) -> (Vec<u8>, u32) {
    let mut out = Vec::new();
    let mut crc = 0u32;
    for (f, wt, value, crc_bytes) in fields {
        wire::put_tag(&mut out, *f, *wt);
        out.extend_from_slice(value);
        crc = crc32c_append(crc, &(*f as i32).to_le_bytes());
        crc = crc32c_append(crc, crc_bytes);
    }
    wire::put_tag(&mut out, wire::TUNNEL_END_RECORD, 0);
    wire::put_crc_varint(&mut out, crc);
    (out, crc)
}

/// A footer for the given record CRCs.
fn footer(crcs: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    wire::put_tag(&mut out, wire::META_COUNT, 0);
    wire::put_zigzag64(&mut out, crcs.len() as i64);
    wire::put_tag(&mut out, wire::META_CHECKSUM, 0);
    let mut s = 0;
    for c in crcs {
        s = crc32c_append(s, &c.to_le_bytes());
    }
    wire::put_crc_varint(&mut out, s);
    out
}

fn zz(v: i64) -> Vec<u8> {
    let mut out = Vec::new();
    wire::put_zigzag64(&mut out, v);
    out
}

#[test]
fn hand_built_records_decode() {
    let columns = cols(&[("a", "bigint"), ("s", "string")]);
    let (r, crc) = record_crc(&[
        (2, 2, hex("02 68 69"), b"hi".to_vec()),
        (1, 0, zz(-7), (-7i64).to_le_bytes().to_vec()),
    ]);
    let mut bytes = r.clone();
    bytes.extend(footer(&[crc]));
    let expected = batch(
        &columns,
        vec![
            Arc::new(Int64Array::from(vec![-7])),
            Arc::new(StringArray::from(vec!["hi"])),
        ],
    );
    // Fields out of order are accepted.
    assert_eq!(decode(&columns, &bytes, 4), vec![expected]);
}

#[test]
fn bad_record_crc() {
    let mut v = hex(VECTOR_A);
    v[4] = b'b'; // "alice" -> "blice"
    match decode_err(&schema_a(), &v) {
        CodecError::RecordCrcMismatch {
            record,
            expected,
            actual,
        } => {
            assert_eq!(record, 0);
            assert_eq!(expected, 0x750F_6C1C);
            assert_ne!(actual, expected);
        }
        other => panic!("{other:?}"),
    }
    // A corrupted CRC in the second record.
    let mut v = hex(VECTOR_A);
    let at = v
        .windows(5)
        .position(|w| w == hex("dd c5 8d 9e 09"))
        .unwrap();
    v[at] = 0xde;
    match decode_err(&schema_a(), &v) {
        CodecError::RecordCrcMismatch { record, actual, .. } => {
            assert_eq!(record, 1);
            assert_eq!(actual, 0x93C3_62DD);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_stream_crc() {
    let mut v = hex(VECTOR_A);
    let n = v.len();
    v[n - 5] ^= 1;
    match decode_err(&schema_a(), &v) {
        CodecError::StreamCrcMismatch { actual, .. } => assert_eq!(actual, 0xF589_3CDE),
        other => panic!("{other:?}"),
    }
}

#[test]
fn count_mismatch() {
    let mut v = hex(VECTOR_A);
    let at = v
        .windows(5)
        .position(|w| w == hex("f0 ff ff 7f 06"))
        .unwrap();
    v[at + 4] = 0x04;
    assert!(matches!(
        decode_err(&schema_a(), &v),
        CodecError::CountMismatch {
            expected: 2,
            actual: 3
        }
    ));
    v[at + 4] = 0x01; // -1
    assert!(matches!(
        decode_err(&schema_a(), &v),
        CodecError::CountMismatch {
            expected: -1,
            actual: 3
        }
    ));
}

#[test]
fn truncated_streams() {
    let v = hex(VECTOR_A);
    let footer_at = v.len() - 14;
    // Inside record 2.
    assert!(matches!(
        decode_err(&schema_a(), &v[..50]),
        CodecError::Truncated { record: 1, .. }
    ));
    // Inside the footer.
    for cut in footer_at + 1..v.len() {
        assert!(
            matches!(
                decode_err(&schema_a(), &v[..cut]),
                CodecError::Truncated { record: 3, .. }
            ),
            "cut at {cut}"
        );
    }
    // No footer at all.
    assert!(matches!(
        decode_err(&schema_a(), &v[..footer_at]),
        CodecError::MissingFooter { records: 3 }
    ));
    // ... which is fine when the footer is optional.
    let limits = DecodeLimits {
        require_footer: false,
        ..DecodeLimits::default()
    };
    let mut dec = RecordDecoder::with_limits(&schema_a(), 100, limits.clone());
    dec.feed(&v[..footer_at]).unwrap();
    assert_eq!(dec.finish().unwrap(), Some(rows_a()));
    // A cut record is an error even then.
    let mut dec = RecordDecoder::with_limits(&schema_a(), 100, limits);
    dec.feed(&v[..50]).unwrap();
    assert!(matches!(dec.finish(), Err(CodecError::Truncated { .. })));
}

#[test]
fn bad_wire_type() {
    let mut v = hex(VECTOR_A);
    v[0] = 0x09; // field 1 (bigint) with wire type 1
    match decode_err(&schema_a(), &v) {
        CodecError::WireTypeMismatch {
            record,
            column,
            expected,
            found,
            ..
        } => {
            assert_eq!((record, column.as_str(), expected, found), (0, "id", 0, 1));
        }
        other => panic!("{other:?}"),
    }
    // A bad wire type on the end marker.
    let mut v = hex(VECTOR_A);
    let at = v.windows(4).position(|w| w == hex("80 c0 ff 7f")).unwrap();
    v[at] = 0x82;
    assert!(matches!(
        decode_err(&schema_a(), &v),
        CodecError::UnexpectedMarker { .. }
    ));
}

#[test]
fn invalid_utf8_names_the_column() {
    for ty in ["string", "varchar(5)", "char(2)", "json"] {
        let columns = cols(&[("a", "bigint"), ("txt", ty)]);
        let r = record(&[(2, 2, hex("02 c3 28"), hex("c3 28"))]);
        match decode_err(&columns, &r) {
            CodecError::InvalidUtf8 { record, column } => {
                assert_eq!((record, column.as_str()), (0, "txt"));
            }
            other => panic!("{ty}: {other:?}"),
        }
    }
    // Inside a container too.
    let columns = cols(&[("arr", "array<string>")]);
    let r = record(&[(1, 2, hex("01 00 01 ff"), hex("ff"))]);
    assert!(matches!(
        decode_err(&columns, &r),
        CodecError::InvalidUtf8 { .. }
    ));
    // Binary takes any bytes.
    let columns = cols(&[("b", "binary")]);
    let (mut r, crc) = record_crc(&[(1, 2, hex("02 c3 28"), hex("c3 28"))]);
    r.extend(footer(&[crc]));
    assert_eq!(decode(&columns, &r, 1)[0].num_rows(), 1);
}

#[test]
fn oversized_lengths_are_rejected_before_allocating() {
    let columns = cols(&[("s", "string")]);
    // A 4 GiB string announced in a 7-byte stream.
    let v = hex("0a ff ff ff ff 0f 61");
    match decode_err(&columns, &v) {
        CodecError::FieldTooLarge { len, limit, .. } => {
            assert_eq!(len, 0xFFFF_FFFF);
            assert_eq!(limit, 64 << 20);
        }
        other => panic!("{other:?}"),
    }
    let limits = DecodeLimits {
        max_field_bytes: 4,
        max_collection_len: 3,
        ..DecodeLimits::default()
    };
    let dec = RecordDecoder::with_limits(&columns, 4, limits.clone());
    assert!(matches!(
        decode_with_err(dec, &hex("0a 05 61 62 63 64 65")),
        CodecError::FieldTooLarge {
            len: 5,
            limit: 4,
            ..
        }
    ));
    let columns = cols(&[("a", "array<bigint>")]);
    let dec = RecordDecoder::with_limits(&columns, 4, limits);
    assert!(matches!(
        decode_with_err(dec, &hex("0a 04 00 02 00 02 00 02 00 02")),
        CodecError::CollectionTooLong {
            len: 4,
            limit: 3,
            ..
        }
    ));
    let columns = cols(&[("m", "map<bigint,bigint>")]);
    assert!(matches!(
        decode_err(&columns, &hex("0a ff ff ff ff 0f")),
        CodecError::CollectionTooLong { .. }
    ));
}

#[test]
fn varint_overflow() {
    let columns = schema_a();
    let v = hex("ff ff ff ff ff ff ff ff ff ff 01");
    assert!(matches!(
        decode_err(&columns, &v),
        CodecError::VarintOverflow { offset: 0 }
    ));
    let v = hex("08 ff ff ff ff ff ff ff ff ff 7f");
    assert!(matches!(
        decode_err(&columns, &v),
        CodecError::VarintOverflow { offset: 1 }
    ));
}

#[test]
fn trailing_bytes_after_footer() {
    let mut v = hex(VECTOR_A);
    v.push(0);
    assert!(matches!(
        decode_err(&schema_a(), &v),
        CodecError::TrailingBytes {
            offset: 105,
            count: 1
        }
    ));
    // Also when they arrive in a later chunk, and after an empty stream.
    let mut dec = RecordDecoder::new(&schema_a(), 10);
    dec.feed(&hex(VECTOR_A)).unwrap();
    assert!(matches!(
        dec.feed(&hex(VECTOR_A)),
        Err(CodecError::TrailingBytes { offset: 105, .. })
    ));
    // The decoder stays failed.
    assert!(matches!(
        dec.finish(),
        Err(CodecError::TrailingBytes { .. })
    ));
    let v = hex("f0 ff ff 7f 00 f8 ff ff 7f 00 f0 ff ff 7f 00 f8 ff ff 7f 00");
    assert!(matches!(
        decode_err(&schema_a(), &v),
        CodecError::TrailingBytes {
            offset: 10,
            count: 10
        }
    ));
}

#[test]
fn unknown_field_numbers() {
    let columns = cols(&[("a", "bigint"), ("b", "bigint")]);
    // Field 3 of a 2-column schema.
    match decode_err(&columns, &hex("08 02 18 02")) {
        CodecError::UnknownField {
            record,
            field,
            columns,
            offset,
            ..
        } => assert_eq!((record, field, columns, offset), (0, 3, 2, 2)),
        other => panic!("{other:?}"),
    }
    // Field 0.
    assert!(matches!(
        decode_err(&columns, &hex("00 02")),
        CodecError::UnknownField { field: 0, .. }
    ));
    // A huge field number.
    assert!(matches!(
        decode_err(&columns, &hex("f8 ff ff ff ff ff ff ff 7f 00")),
        CodecError::UnknownField { .. }
    ));
}

#[test]
fn duplicate_fields() {
    let columns = cols(&[("a", "bigint"), ("b", "bigint")]);
    match decode_err(&columns, &hex("08 02 10 02 08 04")) {
        CodecError::DuplicateField {
            record,
            column,
            field,
        } => assert_eq!((record, column.as_str(), field), (0, "a", 1)),
        other => panic!("{other:?}"),
    }
    // The same field in consecutive records is fine.
    let (r1, c) = record_crc(&[(1, 0, zz(1), 1i64.to_le_bytes().to_vec())]);
    let mut v = r1.clone();
    v.extend(&r1);
    v.extend(footer(&[c, c]));
    assert_eq!(decode(&columns, &v, 10)[0].num_rows(), 2);
}

#[test]
fn null_map_key_and_map_length() {
    let columns = cols(&[("m", "map<string,bigint>")]);
    // keys: count 1, null; values: count 1, null
    match decode_err(&columns, &hex("0a 01 01 01 01")) {
        CodecError::NullMapKey { record, column } => {
            assert_eq!((record, column.as_str()), (0, "m"))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        decode_err(&columns, &hex("0a 01 00 01 6b 02 01 01")),
        CodecError::MapLengthMismatch {
            keys: 1,
            values: 2,
            ..
        }
    ));
}

#[test]
fn invalid_values() {
    let check = |ty: &str, value: &[u8], wt: u8| {
        let columns = cols(&[("c", ty)]);
        let mut v = Vec::new();
        wire::put_tag(&mut v, 1, wt);
        v.extend_from_slice(value);
        decode_err(&columns, &v)
    };
    let is_invalid =
        |e: CodecError| matches!(e, CodecError::InvalidValue { ref column, .. } if column == "c");
    assert!(is_invalid(check("tinyint", &zz(128), 0)));
    assert!(is_invalid(check("smallint", &zz(-40_000), 0)));
    assert!(is_invalid(check("int", &zz(1 << 31), 0)));
    assert!(is_invalid(check("date", &zz(1 << 40), 0)));
    assert!(is_invalid(check("interval_year_month", &zz(i64::MIN), 0)));
    assert!(is_invalid(check("boolean", &[2], 0)));
    // Timestamp beyond the Arrow nanosecond range; nanos beyond 32 bits or a second.
    let mut ts = zz(i64::MAX / 1000);
    ts.extend(zz(0));
    assert!(is_invalid(check("timestamp", &ts, 2)));
    let mut ts = zz(0);
    ts.extend(hex("80 80 80 80 20"));
    assert!(is_invalid(check("timestamp_ntz", &ts, 2)));
    let mut ts = zz(0);
    ts.extend(zz(2_000_000_000));
    assert!(is_invalid(check("timestamp", &ts, 2)));
    // Interval day-time beyond i32 days.
    let mut idt = zz(i64::MAX);
    idt.extend(zz(0));
    assert!(is_invalid(check("interval_day_time", &idt, 2)));
    // A null flag that is neither 0 nor 1.
    assert!(is_invalid(check("array<bigint>", &hex("01 02"), 2)));
    assert!(is_invalid(check("struct<a:int>", &hex("05"), 2)));
}

#[test]
fn invalid_decimals() {
    let columns = cols(&[("d", "decimal(10,2)")]);
    match decode_err(&columns, &hex("0a 03 61 62 63")) {
        CodecError::InvalidDecimal {
            column,
            text,
            precision,
            scale,
            reason,
            ..
        } => {
            assert_eq!((column.as_str(), text.as_str()), ("d", "abc"));
            assert_eq!(
                (precision, scale, reason),
                (10, 2, "is not a decimal number")
            );
        }
        other => panic!("{other:?}"),
    }
    match decode_err(&columns, &hex("0a 05 31 45 2b 32 30")) {
        CodecError::InvalidDecimal { text, reason, .. } => {
            assert_eq!((text.as_str(), reason), ("1E+20", "does not fit"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn decimal_text_forms_are_rescaled() {
    let columns = cols(&[("d", "decimal(10,2)")]);
    let mut bytes = Vec::new();
    let mut crcs = Vec::new();
    for t in ["1E+2", "-0.5", "12.345", "7", "0.004", "-1.005"] {
        let (r, c) = record_crc(&[(
            1,
            2,
            [&[t.len() as u8], t.as_bytes()].concat(),
            t.as_bytes().to_vec(),
        )]);
        crcs.push(c);
        bytes.extend(r);
    }
    bytes.extend(footer(&crcs));
    let got = decode(&columns, &bytes, 100);
    let expected = batch(
        &columns,
        vec![Arc::new(
            Decimal128Array::from(vec![10_000, -50, 1235, 700, 0, -101])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        )],
    );
    assert_eq!(got, vec![expected]);
}

#[test]
fn not_null_column_missing() {
    let columns = vec![
        Column::new("k", OdpsType::BigInt).not_null(),
        Column::new("v", OdpsType::String),
    ];
    let r = record(&[(2, 2, hex("01 61"), hex("61"))]);
    match decode_err(&columns, &r) {
        CodecError::NullInNotNullColumn { record, column } => {
            assert_eq!((record, column.as_str()), (0, "k"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn nesting_limit() {
    let columns = cols(&[("a", "array<array<int>>")]);
    let limits = DecodeLimits {
        max_nesting: 1,
        ..DecodeLimits::default()
    };
    let dec = RecordDecoder::with_limits(&columns, 4, limits);
    match decode_with_err(dec, &hex("f0 ff ff 7f 00 f8 ff ff 7f 00")) {
        CodecError::NestingTooDeep {
            column,
            depth,
            limit,
        } => assert_eq!((column.as_str(), depth, limit), ("a", 2, 1)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn misplaced_markers() {
    let columns = cols(&[("a", "bigint")]);
    // Footer inside a record.
    assert!(matches!(
        decode_err(&columns, &hex("08 02 f0 ff ff 7f 00 f8 ff ff 7f 00")),
        CodecError::UnexpectedMarker { offset: 2, .. }
    ));
    // Checksum without count.
    assert!(matches!(
        decode_err(&columns, &hex("f8 ff ff 7f 00")),
        CodecError::UnexpectedMarker { .. }
    ));
    // Count followed by something else.
    assert!(matches!(
        decode_err(&columns, &hex("f0 ff ff 7f 00 08 02")),
        CodecError::UnexpectedMarker { offset: 5, .. }
    ));
}

#[test]
fn metrics_trailer() {
    let columns = cols(&[("a", "bigint")]);
    let metrics = br#"{"x":1}"#;
    let build = |crc_delta: u32| {
        let mut v = hex("f0 ff ff 7f 00");
        wire::put_tag(&mut v, wire::METRICS_FIELD, 2);
        wire::put_varint(&mut v, metrics.len() as u64);
        v.extend_from_slice(metrics);
        wire::put_tag(&mut v, wire::END_METRICS, 0);
        let c = crc32c_append(crc32c_append(0, &1i32.to_le_bytes()), metrics);
        wire::put_crc_varint(&mut v, c ^ crc_delta);
        v.extend(hex("f8 ff ff 7f 00"));
        v
    };
    assert!(decode(&columns, &build(0), 4).is_empty());
    let v = build(0);
    for k in 0..=v.len() {
        assert!(
            decode_chunks(&columns, [&v[..k], &v[k..]], 4)
                .unwrap()
                .is_empty()
        );
    }
    assert!(matches!(
        decode_err(&columns, &build(1)),
        CodecError::MetricsCrcMismatch { .. }
    ));
}

#[test]
fn decoder_schema_and_counts() {
    let mut dec = RecordDecoder::new(&schema_a(), 2);
    assert_eq!(dec.schema(), columns_to_arrow(&schema_a()));
    let v = hex(VECTOR_A);
    dec.feed(&v[..60]).unwrap();
    assert_eq!(dec.records_decoded(), 1);
    assert!(dec.next_batch().is_none());
    dec.feed(&v[60..]).unwrap();
    assert_eq!(dec.records_decoded(), 3);
    let first = dec.next_batch().unwrap();
    assert_eq!(first.num_rows(), 2);
    assert!(dec.next_batch().is_none());
    let last = dec.finish().unwrap().unwrap();
    assert_eq!(last.num_rows(), 1);
    assert!(same_rows(&[first, last], &rows_a()));
}

#[test]
fn zero_column_schema() {
    let columns: Vec<Column> = Vec::new();
    let mut bytes = Vec::new();
    let r = record(&[]);
    bytes.extend(&r);
    bytes.extend(&r);
    bytes.extend(footer(&[0, 0]));
    let got = decode(&columns, &bytes, 10);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].num_rows(), 2);
    assert_eq!(got[0].num_columns(), 0);
    let again = encode(&columns, &got);
    assert_eq!(again, bytes);
}

#[test]
fn all_null_record_is_only_the_end_marker() {
    let columns = schema_a();
    let nulls: Vec<ArrayRef> = columns
        .iter()
        .map(|c| arrow_array::new_null_array(&c.ty.to_arrow(), 1))
        .collect();
    let b = batch(&columns, nulls);
    let bytes = encode(&columns, std::slice::from_ref(&b));
    assert_eq!(&bytes[..5], hex("80 c0 ff 7f 00").as_slice());
    assert_eq!(decode(&columns, &bytes, 1), vec![b]);
}

#[test]
fn extreme_timestamps_roundtrip() {
    let columns = cols(&[
        ("t", "timestamp"),
        ("n", "timestamp_ntz"),
        ("d", "datetime"),
    ]);
    let b = batch(
        &columns,
        vec![
            Arc::new(
                TimestampNanosecondArray::from(vec![i64::MIN, i64::MAX, -1]).with_timezone("UTC"),
            ),
            Arc::new(TimestampNanosecondArray::from(vec![i64::MAX, i64::MIN, 1])),
            Arc::new(TimestampMillisecondArray::from(vec![
                i64::MIN,
                i64::MAX,
                -1,
            ])),
        ],
    );
    let bytes = encode(&columns, std::slice::from_ref(&b));
    assert_eq!(decode(&columns, &bytes, 10), vec![b]);
}
