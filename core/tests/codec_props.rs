//! Property tests of the record stream codec: random schemas (every type, nested, with NULLs)
//! round-trip exactly through encode → decode at random chunkings and batch sizes; random and
//! mutated input never panics the decoder.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int8Array, Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray,
    IntervalYearMonthArray, ListArray, MapArray, RecordBatch, StringArray, StructArray,
    TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow_buffer::{IntervalMonthDayNano, NullBuffer, OffsetBuffer};
use arrow_schema::DataType;
use maxc_core::codec::{
    CodecError, DecodeLimits, RecordDecoder, RecordEncoder, decode_all, encode_batches,
};
use maxc_core::types::arrow::columns_to_arrow;
use maxc_core::types::{Column, OdpsType, StructField};
use proptest::prelude::*;
use proptest::sample::Index;

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

// ---- a codec-independent value model --------------------------------------------------------

#[derive(Debug, Clone)]
enum V {
    Null,
    Bool(bool),
    Int(i64),
    F32(f32),
    F64(f64),
    Dec(i128),
    Text(String),
    Bin(Vec<u8>),
    DayTime(i32, i64),
    List(Vec<V>),
    Map(Vec<(V, V)>),
    Struct(Vec<V>),
}

fn leaf_type() -> impl Strategy<Value = OdpsType> {
    prop_oneof![
        Just(OdpsType::Boolean),
        Just(OdpsType::TinyInt),
        Just(OdpsType::SmallInt),
        Just(OdpsType::Int),
        Just(OdpsType::BigInt),
        Just(OdpsType::Float),
        Just(OdpsType::Double),
        (1u8..=38)
            .prop_flat_map(|p| (Just(p), 0..=p.min(18)))
            .prop_map(|(precision, scale)| OdpsType::Decimal { precision, scale }),
        (1u32..=255).prop_map(OdpsType::Char),
        (1u32..=65535).prop_map(OdpsType::Varchar),
        Just(OdpsType::String),
        Just(OdpsType::Binary),
        Just(OdpsType::Date),
        Just(OdpsType::DateTime),
        Just(OdpsType::Timestamp),
        Just(OdpsType::TimestampNtz),
        Just(OdpsType::IntervalDayTime),
        Just(OdpsType::IntervalYearMonth),
        Just(OdpsType::Json),
    ]
}

fn any_type() -> impl Strategy<Value = OdpsType> {
    leaf_type().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(OdpsType::array),
            (leaf_type(), inner.clone()).prop_map(|(k, v)| OdpsType::map(k, v)),
            prop::collection::vec(inner, 1..4).prop_map(|tys| {
                OdpsType::Struct(
                    tys.into_iter()
                        .enumerate()
                        .map(|(i, t)| StructField::new(format!("f{i}"), t))
                        .collect(),
                )
            }),
        ]
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,8}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

/// A non-NULL value of `ty`.
fn value(ty: &OdpsType) -> BoxedStrategy<V> {
    match ty {
        OdpsType::Boolean => any::<bool>().prop_map(V::Bool).boxed(),
        OdpsType::TinyInt => any::<i8>().prop_map(|v| V::Int(v.into())).boxed(),
        OdpsType::SmallInt => any::<i16>().prop_map(|v| V::Int(v.into())).boxed(),
        OdpsType::Int | OdpsType::Date | OdpsType::IntervalYearMonth => {
            any::<i32>().prop_map(|v| V::Int(v.into())).boxed()
        }
        OdpsType::BigInt | OdpsType::DateTime | OdpsType::Timestamp | OdpsType::TimestampNtz => {
            prop_oneof![
                any::<i64>(),
                -5_000_000_000i64..5_000_000_000,
                Just(i64::MIN),
                Just(i64::MAX)
            ]
            .prop_map(V::Int)
            .boxed()
        }
        // Any bit pattern, NaNs included: the codec must keep the bits.
        OdpsType::Float => any::<u32>().prop_map(|b| V::F32(f32::from_bits(b))).boxed(),
        OdpsType::Double => any::<u64>().prop_map(|b| V::F64(f64::from_bits(b))).boxed(),
        OdpsType::Decimal { precision, .. } => {
            let max = 10i128.pow(u32::from(*precision)) - 1;
            prop_oneof![-max..=max, Just(max), Just(-max), -1000i128..1000]
                .prop_map(move |d| V::Dec(d.clamp(-max, max)))
                .boxed()
        }
        OdpsType::Char(_) | OdpsType::Varchar(_) | OdpsType::String | OdpsType::Json => {
            text().prop_map(V::Text).boxed()
        }
        OdpsType::Binary => prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(V::Bin)
            .boxed(),
        OdpsType::IntervalDayTime => any::<i32>()
            .prop_flat_map(|days| {
                let nanos = if days > 0 {
                    (0..NANOS_PER_DAY).boxed()
                } else if days < 0 {
                    (-(NANOS_PER_DAY - 1)..=0).boxed()
                } else {
                    (-(NANOS_PER_DAY - 1)..NANOS_PER_DAY).boxed()
                };
                (Just(days), nanos)
            })
            .prop_map(|(d, n)| V::DayTime(d, n))
            .boxed(),
        OdpsType::Array(t) => prop::collection::vec(nullable(t), 0..4)
            .prop_map(V::List)
            .boxed(),
        OdpsType::Map(k, v) => prop::collection::vec((value(k), nullable(v)), 0..4)
            .prop_map(V::Map)
            .boxed(),
        OdpsType::Struct(fields) => fields
            .iter()
            .map(|f| nullable(&f.ty))
            .collect::<Vec<_>>()
            .prop_map(V::Struct)
            .boxed(),
    }
}

fn nullable(ty: &OdpsType) -> BoxedStrategy<V> {
    prop_oneof![1 => Just(V::Null), 3 => value(ty)].boxed()
}

// ---- building Arrow arrays from the model (independent of the codec) ------------------------

fn nulls(vals: &[V]) -> Option<NullBuffer> {
    let valid: Vec<bool> = vals.iter().map(|v| !matches!(v, V::Null)).collect();
    if valid.iter().all(|&b| b) {
        None
    } else {
        Some(NullBuffer::from(valid))
    }
}

fn ints(vals: &[V]) -> Vec<Option<i64>> {
    vals.iter()
        .map(|v| match v {
            V::Int(i) => Some(*i),
            _ => None,
        })
        .collect()
}

fn strs(vals: &[V]) -> Vec<Option<&str>> {
    vals.iter()
        .map(|v| match v {
            V::Text(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

fn build(ty: &OdpsType, vals: &[V]) -> ArrayRef {
    let narrow = |v: Option<i64>| v.map(|x| x as i32);
    match ty {
        OdpsType::Boolean => Arc::new(BooleanArray::from(
            vals.iter()
                .map(|v| match v {
                    V::Bool(b) => Some(*b),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )),
        OdpsType::TinyInt => Arc::new(Int8Array::from(
            ints(vals)
                .into_iter()
                .map(|v| v.map(|x| x as i8))
                .collect::<Vec<_>>(),
        )),
        OdpsType::SmallInt => Arc::new(Int16Array::from(
            ints(vals)
                .into_iter()
                .map(|v| v.map(|x| x as i16))
                .collect::<Vec<_>>(),
        )),
        OdpsType::Int => Arc::new(Int32Array::from(
            ints(vals).into_iter().map(narrow).collect::<Vec<_>>(),
        )),
        OdpsType::BigInt => Arc::new(Int64Array::from(ints(vals))),
        OdpsType::Date => Arc::new(Date32Array::from(
            ints(vals).into_iter().map(narrow).collect::<Vec<_>>(),
        )),
        OdpsType::IntervalYearMonth => Arc::new(IntervalYearMonthArray::from(
            ints(vals).into_iter().map(narrow).collect::<Vec<_>>(),
        )),
        OdpsType::DateTime => Arc::new(TimestampMillisecondArray::from(ints(vals))),
        OdpsType::Timestamp => {
            Arc::new(TimestampNanosecondArray::from(ints(vals)).with_timezone("UTC"))
        }
        OdpsType::TimestampNtz => Arc::new(TimestampNanosecondArray::from(ints(vals))),
        OdpsType::Float => Arc::new(Float32Array::from(
            vals.iter()
                .map(|v| match v {
                    V::F32(f) => Some(*f),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )),
        OdpsType::Double => Arc::new(Float64Array::from(
            vals.iter()
                .map(|v| match v {
                    V::F64(f) => Some(*f),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )),
        OdpsType::Decimal { precision, scale } => Arc::new(
            Decimal128Array::from(
                vals.iter()
                    .map(|v| match v {
                        V::Dec(d) => Some(*d),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(*precision, *scale as i8)
            .unwrap(),
        ),
        OdpsType::Char(_) | OdpsType::Varchar(_) | OdpsType::String | OdpsType::Json => {
            Arc::new(StringArray::from(strs(vals)))
        }
        OdpsType::Binary => Arc::new(BinaryArray::from(
            vals.iter()
                .map(|v| match v {
                    V::Bin(b) => Some(b.as_slice()),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )),
        OdpsType::IntervalDayTime => Arc::new(IntervalMonthDayNanoArray::from(
            vals.iter()
                .map(|v| match v {
                    V::DayTime(d, n) => Some(IntervalMonthDayNano::new(0, *d, *n)),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )),
        OdpsType::Array(t) => {
            let DataType::List(field) = ty.to_arrow() else {
                unreachable!()
            };
            let mut lens = Vec::new();
            let mut items = Vec::new();
            for v in vals {
                match v {
                    V::List(xs) => {
                        lens.push(xs.len());
                        items.extend(xs.iter().cloned());
                    }
                    _ => lens.push(0),
                }
            }
            Arc::new(
                ListArray::try_new(
                    field,
                    OffsetBuffer::from_lengths(lens),
                    build(t, &items),
                    nulls(vals),
                )
                .unwrap(),
            )
        }
        OdpsType::Map(k, v) => {
            let DataType::Map(entries_field, sorted) = ty.to_arrow() else {
                unreachable!()
            };
            let DataType::Struct(kv) = entries_field.data_type().clone() else {
                unreachable!()
            };
            let mut lens = Vec::new();
            let mut keys = Vec::new();
            let mut values = Vec::new();
            for x in vals {
                match x {
                    V::Map(es) => {
                        lens.push(es.len());
                        for (a, b) in es {
                            keys.push(a.clone());
                            values.push(b.clone());
                        }
                    }
                    _ => lens.push(0),
                }
            }
            let entries =
                StructArray::try_new(kv, vec![build(k, &keys), build(v, &values)], None).unwrap();
            Arc::new(
                MapArray::try_new(
                    entries_field,
                    OffsetBuffer::from_lengths(lens),
                    entries,
                    nulls(vals),
                    sorted,
                )
                .unwrap(),
            )
        }
        OdpsType::Struct(fs) => {
            let DataType::Struct(fields) = ty.to_arrow() else {
                unreachable!()
            };
            let children = fs
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let col: Vec<V> = vals
                        .iter()
                        .map(|v| match v {
                            V::Struct(xs) => xs[i].clone(),
                            _ => V::Null,
                        })
                        .collect();
                    build(&f.ty, &col)
                })
                .collect();
            Arc::new(
                StructArray::try_new_with_length(fields, children, nulls(vals), vals.len())
                    .unwrap(),
            )
        }
    }
}

fn make_batch(columns: &[Column], rows: &[Vec<V>]) -> RecordBatch {
    let arrays = columns
        .iter()
        .enumerate()
        .map(|(c, col)| {
            let vals: Vec<V> = rows.iter().map(|r| r[c].clone()).collect();
            build(&col.ty, &vals)
        })
        .collect();
    RecordBatch::try_new(columns_to_arrow(columns), arrays).unwrap()
}

/// A random schema (1..5 columns) with 0..12 random rows.
fn table() -> impl Strategy<Value = (Vec<Column>, Vec<Vec<V>>)> {
    prop::collection::vec(any_type(), 1..5).prop_flat_map(|tys| {
        let columns: Vec<Column> = tys
            .iter()
            .enumerate()
            .map(|(i, t)| Column::new(format!("c{i}"), t.clone()))
            .collect();
        let row = tys.iter().map(nullable).collect::<Vec<_>>();
        (Just(columns), prop::collection::vec(row, 0..12))
    })
}

/// A random schema (1..8 columns, flat types only) with up to 700 random rows: long enough to
/// span several of the encoder's internal chunks.
fn long_table() -> impl Strategy<Value = (Vec<Column>, Vec<Vec<V>>)> {
    let ty = prop_oneof![4 => leaf_type(), 1 => any_type()];
    prop::collection::vec(ty, 1..8).prop_flat_map(|tys| {
        let columns: Vec<Column> = tys
            .iter()
            .enumerate()
            .map(|(i, t)| Column::new(format!("c{i}"), t.clone()))
            .collect();
        let row = tys.iter().map(nullable).collect::<Vec<_>>();
        (Just(columns), prop::collection::vec(row, 0..700))
    })
}

// ---- a reference encoder written from the protocol doc (§5.1–5.4), row by row --------------

fn ref_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn ref_zz(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn ref_wire_type(ty: &OdpsType) -> u64 {
    match ty {
        OdpsType::Float => 5,
        OdpsType::Double => 1,
        OdpsType::Boolean
        | OdpsType::TinyInt
        | OdpsType::SmallInt
        | OdpsType::Int
        | OdpsType::BigInt
        | OdpsType::Date
        | OdpsType::DateTime
        | OdpsType::IntervalYearMonth => 0,
        _ => 2,
    }
}

fn ref_secs_nanos(total_ns: i128, out: &mut Vec<u8>, crc: &mut Vec<u8>) {
    let secs = total_ns.div_euclid(1_000_000_000) as i64;
    let nanos = total_ns.rem_euclid(1_000_000_000) as i32;
    ref_varint(out, ref_zz(secs));
    ref_varint(out, u64::from(((nanos << 1) ^ (nanos >> 31)) as u32));
    crc.extend_from_slice(&secs.to_le_bytes());
    crc.extend_from_slice(&nanos.to_le_bytes());
}

/// Value bytes (no tag) of a non-NULL value, and the bytes it folds into the record CRC.
fn ref_value(ty: &OdpsType, v: &V, out: &mut Vec<u8>, crc: &mut Vec<u8>) {
    let elem = |ty: &OdpsType, v: &V, out: &mut Vec<u8>, crc: &mut Vec<u8>| {
        if matches!(v, V::Null) {
            out.push(1);
        } else {
            out.push(0);
            ref_value(ty, v, out, crc);
        }
    };
    match (ty, v) {
        (OdpsType::Boolean, V::Bool(b)) => {
            out.push(u8::from(*b));
            crc.push(u8::from(*b));
        }
        (OdpsType::Timestamp | OdpsType::TimestampNtz, V::Int(ns)) => {
            ref_secs_nanos(i128::from(*ns), out, crc)
        }
        (_, V::Int(i)) => {
            ref_varint(out, ref_zz(*i));
            crc.extend_from_slice(&i.to_le_bytes());
        }
        (_, V::F32(f)) => {
            out.extend_from_slice(&f.to_le_bytes());
            crc.extend_from_slice(&f.to_le_bytes());
        }
        (_, V::F64(f)) => {
            out.extend_from_slice(&f.to_le_bytes());
            crc.extend_from_slice(&f.to_le_bytes());
        }
        (OdpsType::Decimal { scale, .. }, V::Dec(d)) => {
            let sign = if *d < 0 { "-" } else { "" };
            let p = 10u128.pow(u32::from(*scale));
            let (int, frac) = (d.unsigned_abs() / p, d.unsigned_abs() % p);
            let text = if *scale == 0 {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac:0w$}", w = usize::from(*scale))
            };
            ref_varint(out, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
            crc.extend_from_slice(text.as_bytes());
        }
        (_, V::Text(t)) => {
            ref_varint(out, t.len() as u64);
            out.extend_from_slice(t.as_bytes());
            crc.extend_from_slice(t.as_bytes());
        }
        (_, V::Bin(b)) => {
            ref_varint(out, b.len() as u64);
            out.extend_from_slice(b);
            crc.extend_from_slice(b);
        }
        (_, V::DayTime(days, nanos)) => ref_secs_nanos(
            i128::from(*days) * i128::from(NANOS_PER_DAY) + i128::from(*nanos),
            out,
            crc,
        ),
        (OdpsType::Array(t), V::List(items)) => {
            ref_varint(out, items.len() as u64);
            for item in items {
                elem(t, item, out, crc);
            }
        }
        (OdpsType::Map(kt, vt), V::Map(entries)) => {
            ref_varint(out, entries.len() as u64);
            for (k, _) in entries {
                elem(kt, k, out, crc);
            }
            ref_varint(out, entries.len() as u64);
            for (_, v) in entries {
                elem(vt, v, out, crc);
            }
        }
        (OdpsType::Struct(fields), V::Struct(vals)) => {
            for (f, v) in fields.iter().zip(vals) {
                elem(&f.ty, v, out, crc);
            }
        }
        other => panic!("value does not match its type: {other:?}"),
    }
}

/// The whole stream (records and footer) of `rows`.
fn ref_encode(columns: &[Column], rows: &[Vec<V>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut crcs = Vec::new();
    for row in rows {
        let mut crc = Vec::new();
        for (i, (col, v)) in columns.iter().zip(row).enumerate() {
            if matches!(v, V::Null) {
                continue;
            }
            let field = i as u64 + 1;
            ref_varint(&mut out, (field << 3) | ref_wire_type(&col.ty));
            crc.extend_from_slice(&(field as i32).to_le_bytes());
            ref_value(&col.ty, v, &mut out, &mut crc);
        }
        let rc = crc32c::crc32c(&crc);
        out.extend_from_slice(&[0x80, 0xc0, 0xff, 0x7f]);
        ref_varint(&mut out, u64::from(rc));
        crcs.extend_from_slice(&rc.to_le_bytes());
    }
    out.extend_from_slice(&[0xf0, 0xff, 0xff, 0x7f]);
    ref_varint(&mut out, ref_zz(rows.len() as i64));
    out.extend_from_slice(&[0xf8, 0xff, 0xff, 0x7f]);
    ref_varint(&mut out, u64::from(crc32c::crc32c(&crcs)));
    out
}

fn cut_points(len: usize, picks: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = picks.iter().map(|i| i.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

fn decode_split(
    columns: &[Column],
    bytes: &[u8],
    cuts: &[usize],
    batch_size: usize,
    limits: DecodeLimits,
) -> Result<Vec<RecordBatch>, CodecError> {
    let mut dec = RecordDecoder::with_limits(columns, batch_size, limits);
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        dec.feed(&bytes[prev..c])?;
        prev = c;
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

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn roundtrip_random_schemas(
        (columns, rows) in table(),
        picks in prop::collection::vec(any::<Index>(), 0..6),
        batch_size in 1usize..6,
        encode_split in any::<Index>(),
    ) {
        let expected = make_batch(&columns, &rows);
        // Encode in two write calls (rows split anywhere) to exercise the running CRC.
        let split = encode_split.index(rows.len() + 1);
        let mut enc = RecordEncoder::new(&columns);
        let mut bytes = Vec::new();
        enc.write_rows(&expected, 0..split, &mut bytes).unwrap();
        enc.write_batch(&expected.slice(split, rows.len() - split), &mut bytes).unwrap();
        prop_assert_eq!(enc.record_count(), rows.len() as u64);
        enc.finish(&mut bytes);
        prop_assert_eq!(&bytes, &encode_batches(&columns, std::slice::from_ref(&expected)).unwrap());

        let cuts = cut_points(bytes.len(), &picks);
        let got = decode_split(&columns, &bytes, &cuts, batch_size, DecodeLimits::default()).unwrap();
        let mut row = 0;
        for (i, b) in got.iter().enumerate() {
            let want = if i + 1 < got.len() { batch_size } else { b.num_rows() };
            prop_assert_eq!(b.num_rows(), want);
            prop_assert!(b.num_rows() > 0);
            prop_assert_eq!(b, &expected.slice(row, b.num_rows()));
            row += b.num_rows();
        }
        prop_assert_eq!(row, rows.len());

        // Re-encoding what was decoded gives the same bytes.
        prop_assert_eq!(encode_batches(&columns, &got).unwrap(), bytes);
    }

    #[test]
    fn write_indices_matches_the_selected_rows(
        (columns, rows) in table(),
        picks in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        prop_assume!(!rows.is_empty());
        let full = make_batch(&columns, &rows);
        let idx: Vec<u32> = picks.iter().map(|p| p.index(rows.len()) as u32).collect();
        let mut enc = RecordEncoder::new(&columns);
        let mut bytes = Vec::new();
        enc.write_indices(&full, &idx, &mut bytes).unwrap();
        enc.finish(&mut bytes);
        let picked: Vec<Vec<V>> = idx.iter().map(|&i| rows[i as usize].clone()).collect();
        let expected = make_batch(&columns, &picked);
        prop_assert_eq!(bytes, encode_batches(&columns, &[expected]).unwrap());
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn long_batches_match_the_reference_encoder(
        (columns, rows) in long_table(),
        split in any::<Index>(),
        picks in prop::collection::vec(any::<Index>(), 0..600),
    ) {
        let batch = make_batch(&columns, &rows);
        let expected = ref_encode(&columns, &rows);
        prop_assert_eq!(&encode_batches(&columns, std::slice::from_ref(&batch)).unwrap(), &expected);
        // The same rows in two calls, after some earlier output.
        let at = split.index(rows.len() + 1);
        let mut enc = RecordEncoder::new(&columns);
        let mut bytes = b"prefix".to_vec();
        enc.write_rows(&batch, 0..at, &mut bytes).unwrap();
        enc.write_rows(&batch, at..rows.len(), &mut bytes).unwrap();
        enc.finish(&mut bytes);
        prop_assert_eq!(&bytes[..6], b"prefix");
        prop_assert_eq!(&bytes[6..], &expected[..]);
        // Rows picked by index, with repeats.
        if !rows.is_empty() {
            let idx: Vec<u32> = picks.iter().map(|p| p.index(rows.len()) as u32).collect();
            let picked: Vec<Vec<V>> = idx.iter().map(|&i| rows[i as usize].clone()).collect();
            let mut enc = RecordEncoder::new(&columns);
            let mut bytes = Vec::new();
            enc.write_indices(&batch, &idx, &mut bytes).unwrap();
            enc.finish(&mut bytes);
            prop_assert_eq!(bytes, ref_encode(&columns, &picked));
        }
        // And the decoder gives the rows back.
        let got = decode_all(&columns, &expected, 257).unwrap();
        let mut row = 0;
        for b in &got {
            prop_assert_eq!(b, &batch.slice(row, b.num_rows()));
            row += b.num_rows();
        }
        prop_assert_eq!(row, rows.len());
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn random_bytes_never_panic(
        (columns, _rows) in table(),
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        picks in prop::collection::vec(any::<Index>(), 0..4),
        batch_size in 1usize..4,
    ) {
        let cuts = cut_points(bytes.len(), &picks);
        let _ = decode_split(&columns, &bytes, &cuts, batch_size, DecodeLimits::default());
    }

    #[test]
    fn mutated_streams_never_panic(
        (columns, rows) in table(),
        edits in prop::collection::vec((any::<Index>(), 0u8..4, any::<u8>()), 1..4),
        picks in prop::collection::vec(any::<Index>(), 0..4),
        batch_size in 1usize..4,
        require_footer in any::<bool>(),
    ) {
        let batch = make_batch(&columns, &rows);
        let mut bytes = encode_batches(&columns, &[batch]).unwrap();
        for (at, kind, b) in &edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 if i < bytes.len() => bytes[i] ^= b | 1,
                1 => bytes.insert(i, *b),
                2 if i < bytes.len() => { bytes.remove(i); }
                3 => bytes.truncate(i),
                _ => {}
            }
        }
        let limits = DecodeLimits { require_footer, ..DecodeLimits::default() };
        let cuts = cut_points(bytes.len(), &picks);
        let whole = decode_split(&columns, &bytes, &[], batch_size, limits.clone());
        let split = decode_split(&columns, &bytes, &cuts, batch_size, limits);
        // Chunking never changes the outcome.
        match (&whole, &split) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            // Same kind of error (details such as the byte count of trailing garbage depend on
            // the chunk that carried it).
            (Err(a), Err(b)) => prop_assert_eq!(std::mem::discriminant(a), std::mem::discriminant(b)),
            _ => prop_assert!(false, "whole {:?} vs split {:?}", whole, split),
        }
    }
}

#[test]
fn decode_all_matches_streaming() {
    let columns = vec![
        Column::new("a", OdpsType::BigInt),
        Column::new("s", OdpsType::array(OdpsType::String)),
    ];
    let rows: Vec<Vec<V>> = (0..10)
        .map(|i| {
            vec![
                if i % 3 == 0 { V::Null } else { V::Int(i) },
                V::List(vec![V::Text(format!("x{i}")), V::Null]),
            ]
        })
        .collect();
    let b = make_batch(&columns, &rows);
    let bytes = encode_batches(&columns, std::slice::from_ref(&b)).unwrap();
    let got = decode_all(&columns, &bytes, 4).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0], b.slice(0, 4));
    assert_eq!(got[2], b.slice(8, 2));
}
