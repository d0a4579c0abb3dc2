use std::sync::Arc;

use arrow_array::types::IntervalMonthDayNano;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int8Array, Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray,
    IntervalYearMonthArray, ListArray, RecordBatch, StringArray, TimestampMillisecondArray,
    TimestampNanosecondArray, types::Int32Type,
};
use arrow_schema::{DataType, Field, Schema};

use crate::lookup::*;

fn one(a: ArrayRef) -> KeyValue {
    KeyValue::from_array(a.as_ref(), 0).unwrap().unwrap()
}

#[test]
fn values_from_every_scalar_type() {
    assert_eq!(
        one(Arc::new(BooleanArray::from(vec![true]))),
        KeyValue::Bool(true)
    );
    assert_eq!(one(Arc::new(Int8Array::from(vec![-3]))), KeyValue::Int8(-3));
    assert_eq!(
        one(Arc::new(Int16Array::from(vec![300]))),
        KeyValue::Int16(300)
    );
    assert_eq!(
        one(Arc::new(Int32Array::from(vec![7]))),
        KeyValue::from(7i32)
    );
    assert_eq!(
        one(Arc::new(Int64Array::from(vec![7]))),
        KeyValue::from(7i64)
    );
    assert_eq!(
        one(Arc::new(Float32Array::from(vec![1.5f32]))),
        KeyValue::from(1.5f32)
    );
    assert_eq!(
        one(Arc::new(Float64Array::from(vec![2.5]))),
        KeyValue::from(2.5f64)
    );
    assert_eq!(
        one(Arc::new(StringArray::from(vec!["é"]))),
        KeyValue::from("é")
    );
    assert_eq!(
        one(Arc::new(BinaryArray::from(vec![&b"\x00\x01"[..]]))),
        KeyValue::from(vec![0u8, 1])
    );
    assert_eq!(
        one(Arc::new(Date32Array::from(vec![19000]))),
        KeyValue::Date32(19000)
    );
    let dec = Decimal128Array::from(vec![12345i128])
        .with_precision_and_scale(10, 2)
        .unwrap();
    assert_eq!(
        one(Arc::new(dec)),
        KeyValue::Decimal128 {
            value: 12345,
            precision: 10,
            scale: 2
        }
    );
    let ts = TimestampNanosecondArray::from(vec![5]).with_timezone("UTC");
    assert_eq!(
        one(Arc::new(ts)),
        KeyValue::Timestamp {
            unit: 3,
            tz: Some("UTC".into()),
            value: 5
        }
    );
    assert_eq!(
        one(Arc::new(TimestampMillisecondArray::from(vec![5]))),
        KeyValue::Timestamp {
            unit: 1,
            tz: None,
            value: 5
        }
    );
    assert_eq!(
        one(Arc::new(IntervalYearMonthArray::from(vec![14]))),
        KeyValue::IntervalYearMonth(14)
    );
    assert_eq!(
        one(Arc::new(IntervalMonthDayNanoArray::from(vec![
            IntervalMonthDayNano::new(0, 2, 9)
        ]))),
        KeyValue::IntervalMonthDayNano(0, 2, 9)
    );
}

#[test]
fn exact_comparison() {
    // Different widths, float bits, NaN and signed zero.
    assert_ne!(KeyValue::from(5i32), KeyValue::from(5i64));
    assert_eq!(KeyValue::from(f64::NAN), KeyValue::from(f64::NAN));
    assert_ne!(KeyValue::from(0.0f64), KeyValue::from(-0.0f64));
    // Time zones are part of a timestamp key.
    let a = one(Arc::new(
        TimestampNanosecondArray::from(vec![5]).with_timezone("UTC"),
    ));
    let b = one(Arc::new(TimestampNanosecondArray::from(vec![5])));
    assert_ne!(a, b);
    // Keys hash and order consistently.
    let mut set = std::collections::BTreeSet::new();
    set.insert(LookupKey::single(1i64));
    set.insert(LookupKey::single(1i64));
    set.insert(LookupKey::new(vec![
        KeyValue::from(1i64),
        KeyValue::from("a"),
    ]));
    assert_eq!(set.len(), 2);
    assert_eq!(
        LookupKey::new(vec![KeyValue::from(1i64), KeyValue::from("a")]).to_string(),
        "(1, \"a\")"
    );
}

#[test]
fn nulls_and_errors() {
    let a = Int64Array::from(vec![Some(1), None]);
    assert_eq!(KeyValue::from_array(&a, 1).unwrap(), None);
    assert_eq!(
        KeyValue::from_array(&a, 2),
        Err(KeyError::RowOutOfRange { row: 2, len: 2 })
    );
    let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
    assert!(matches!(
        KeyValue::from_array(&list, 0),
        Err(KeyError::UnsupportedType { .. })
    ));
    let arrays: [&dyn arrow_array::Array; 2] = [&Int64Array::from(vec![1]), &a];
    assert_eq!(
        LookupKey::from_arrays(&arrays, 0).unwrap(),
        Some(LookupKey::new(vec![1i64.into(), 1i64.into()]))
    );
    let arrays: [&dyn arrow_array::Array; 2] = [&a, &a];
    assert_eq!(LookupKey::from_arrays(&arrays, 1).unwrap(), None);
}

#[test]
fn cache_index_skips_null_keys_and_checks_the_spec() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("v", DataType::Utf8, true),
        Field::new(
            "l",
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            true,
        ),
    ]));
    let list =
        ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)]), None, None]);
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![Some(1), None, Some(1)])),
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Arc::new(list),
        ],
    )
    .unwrap();
    let mut b = CacheBuilder::new(schema.clone(), &KeySpec::non_unique(["K"])).unwrap();
    b.push(batch.clone()).unwrap();
    b.push(batch.slice(0, 0)).unwrap();
    let cache = b.finish(1);
    assert_eq!((cache.row_count(), cache.key_count()), (3, 1));
    assert_eq!(cache.get(&LookupKey::single(1i64)).len(), 2);
    assert!(!cache.is_unique());
    // Key spec problems.
    assert_eq!(
        CacheBuilder::new(schema.clone(), &KeySpec::primary(Vec::<String>::new())).unwrap_err(),
        KeyError::NoColumns
    );
    assert!(matches!(
        CacheBuilder::new(schema.clone(), &KeySpec::primary(["x"])).unwrap_err(),
        KeyError::UnknownColumn { ref available, .. } if available == "k,v,l"
    ));
    assert!(matches!(
        CacheBuilder::new(schema.clone(), &KeySpec::primary(["l"])).unwrap_err(),
        KeyError::UnsupportedType { ref column, .. } if column == "l"
    ));
    // A batch of another schema.
    let mut b = CacheBuilder::new(schema, &KeySpec::primary(["k"])).unwrap();
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(vec![1]))],
    )
    .unwrap();
    assert_eq!(b.push(other), Err(CacheBuildError::SchemaMismatch));
}
