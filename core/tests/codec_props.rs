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
