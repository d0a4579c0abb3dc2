use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int8Array, Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray, LargeStringArray,
    StringArray, StringViewArray, TimestampMillisecondArray, TimestampNanosecondArray,
};
use arrow_buffer::IntervalMonthDayNano;

use super::*;

fn hv(h: Hasher, ty: &OdpsType, a: &dyn Array) -> i32 {
    hash_value(h, ty, a, 0).unwrap()
}

/// §6.2 single-value vectors, through the Arrow path.
#[test]
fn single_value_vectors() {
    use Hasher::{Default as D, Legacy as L};
    let big = |v: i64| Int64Array::from(vec![v]);
    let s = |v: &str| StringArray::from(vec![v]);
    let dbl = |v: f64| Float64Array::from(vec![v]);
    let cases: Vec<(Hasher, OdpsType, ArrayRef, i32)> = vec![
        (D, OdpsType::BigInt, Arc::new(big(0)), 0),
        (D, OdpsType::BigInt, Arc::new(big(1)), 357654460),
        (D, OdpsType::BigInt, Arc::new(big(-1)), 357653185),
        (
            D,
            OdpsType::BigInt,
            Arc::new(big(1234567890123)),
            -1187240199,
        ),
        (D, OdpsType::String, Arc::new(s("abc")), -317513893),
        (D, OdpsType::String, Arc::new(s("日本")), 590013515),
        (
            D,
            OdpsType::Boolean,
            Arc::new(BooleanArray::from(vec![true])),
            388737479,
        ),
        (D, OdpsType::Double, Arc::new(dbl(1.5)), 356777983),
        (L, OdpsType::BigInt, Arc::new(big(1)), 1),
        (L, OdpsType::BigInt, Arc::new(big(-1)), 0),
        (
            L,
            OdpsType::BigInt,
            Arc::new(big(1234567890123)),
            1912276436,
        ),
        (L, OdpsType::String, Arc::new(s("abc")), 96354),
        (L, OdpsType::String, Arc::new(s("日本")), -844066782),
        (L, OdpsType::Double, Arc::new(dbl(1.5)), 1073217536),
    ];
    for (h, ty, a, want) in cases {
        assert_eq!(hv(h, &ty, a.as_ref()), want, "{h} {ty} {a:?}");
    }
    // The same through the scalar functions.
    assert_eq!(hash_long_default(1), 357654460);
    assert_eq!(hash_long_default(-1), 357653185);
    assert_eq!(hash_long_legacy(1234567890123), 1912276436);
    assert_eq!(hash_bytes_default("日本".as_bytes()), 590013515);
    assert_eq!(hash_bytes_legacy("日本".as_bytes()), -844066782);
    assert_eq!(Hasher::Default.hash_bool(true), 388737479);
    assert_eq!(Hasher::Legacy.hash_double(1.5), 1073217536);
}

/// §6.2 combined-key vectors `(k1 bigint, k2 string)`: combined value and buckets for B=4, 16.
#[test]
fn combined_key_vectors() {
    use Hasher::{Default as D, Legacy as L};
    let rows: [(Hasher, i64, &str, i32, u32, u32); 6] = [
        (D, 1, "abc", 40246120, 0, 8),
        (D, 42, "x", 306793201, 1, 1),
        (D, -7, "日本", 1205631244, 0, 12),
        (L, 1, "abc", 96539, 3, 11),
        (L, 42, "x", 162, 2, 2),
        (L, -7, "日本", 847061176, 0, 8),
    ];
    for (h, k1, k2, combined, b4, b16) in rows {
        let c = combine([h.hash_long(k1), h.hash_bytes(k2.as_bytes())]);
        assert_eq!(c, combined, "{h} ({k1},{k2})");
        assert_eq!(bucket_of(c, 4), b4);
        assert_eq!(bucket_of(c, 16), b16);
    }
    // And as whole batches, per hasher.
    for h in [D, L] {
        let sel: Vec<_> = rows.iter().filter(|r| r.0 == h).collect();
        let k1 = Int64Array::from(sel.iter().map(|r| r.1).collect::<Vec<_>>());
        let k2 = StringArray::from(sel.iter().map(|r| r.2).collect::<Vec<_>>());
        let cols: [(&OdpsType, &dyn Array); 2] =
            [(&OdpsType::BigInt, &k1), (&OdpsType::String, &k2)];
        let b4 = buckets_for_batch(h, &cols, 4).unwrap();
        let b16 = buckets_for_batch(h, &cols, 16).unwrap();
        assert_eq!(b4, sel.iter().map(|r| r.4).collect::<Vec<_>>(), "{h}");
        assert_eq!(b16, sel.iter().map(|r| r.5).collect::<Vec<_>>(), "{h}");
    }
}

#[test]
fn hasher_names() {
    assert_eq!("default".parse::<Hasher>(), Ok(Hasher::Default));
    assert_eq!("DEFAULT".parse::<Hasher>(), Ok(Hasher::Default));
    assert_eq!("Legacy".parse::<Hasher>(), Ok(Hasher::Legacy));
    assert_eq!(
        "murmur".parse::<Hasher>(),
        Err(HashError::UnknownHasher("murmur".to_string()))
    );
    assert!("".parse::<Hasher>().is_err());
    assert_eq!(Hasher::Default.to_string(), "default");
    assert_eq!(Hasher::Legacy.to_string(), "legacy");
    assert_eq!(
        serde_json::to_string(&Hasher::Legacy).unwrap(),
        "\"legacy\""
    );
    assert_eq!(
        serde_json::from_str::<Hasher>("\"default\"").unwrap(),
        Hasher::Default
    );
}

#[test]
fn combine_and_bucket() {
    assert_eq!(combine([]), 0);
    assert_eq!(combine([0x100]), 0x101);
    // Wrapping sum, arithmetic shift: always non-negative.
    let c = combine([i32::MAX, 1]);
    assert_eq!(c, i32::MIN ^ (i32::MIN >> 8));
    assert!(c >= 0);
    assert_eq!(combine([-1]), 0);
    assert_eq!(bucket_of(17, 16), 1);
    assert_eq!(bucket_of(-1, 16), 15);
    assert_eq!(bucket_of(5, 0), 0);
    assert_eq!(bucket_of(i32::MAX, u32::MAX), i32::MAX as u32);
}

#[test]
fn nulls_hash_to_zero() {
    let a = Int64Array::from(vec![Some(1), None]);
    assert_eq!(hash_value(Hasher::Default, &OdpsType::BigInt, &a, 1), Ok(0));
    let s = StringArray::from(vec![None::<&str>]);
    assert_eq!(hash_value(Hasher::Legacy, &OdpsType::String, &s, 0), Ok(0));
    // A NULL key contributes nothing to the sum.
    let k1 = Int64Array::from(vec![Some(42), Some(42)]);
    let k2 = StringArray::from(vec![Some("x"), None]);
    let cols: [(&OdpsType, &dyn Array); 2] = [(&OdpsType::BigInt, &k1), (&OdpsType::String, &k2)];
    let b = buckets_for_batch(Hasher::Default, &cols, u32::MAX).unwrap();
    assert_eq!(
        b[0],
        combine([hash_long_default(42), hash_bytes_default(b"x")]) as u32
    );
    assert_eq!(b[1], combine([hash_long_default(42)]) as u32);
}

#[test]
fn every_integer_width_hashes_its_value() {
    for h in [Hasher::Default, Hasher::Legacy] {
        let arrays: Vec<(OdpsType, ArrayRef)> = vec![
            (OdpsType::TinyInt, Arc::new(Int8Array::from(vec![-7i8]))),
            (OdpsType::SmallInt, Arc::new(Int16Array::from(vec![-7i16]))),
            (OdpsType::Int, Arc::new(Int32Array::from(vec![-7i32]))),
            (OdpsType::BigInt, Arc::new(Int64Array::from(vec![-7i64]))),
        ];
        for (ty, a) in arrays {
            assert_eq!(hv(h, &ty, a.as_ref()), h.hash_long(-7), "{h} {ty}");
        }
    }
}

#[test]
fn float_hashes_sign_extended_bits() {
    let f = Float32Array::from(vec![1.5f32, -2.0, f32::NAN]);
    for h in [Hasher::Default, Hasher::Legacy] {
        assert_eq!(
            hash_value(h, &OdpsType::Float, &f, 0).unwrap(),
            h.hash_long(0x3fc0_0000)
        );
        // -2.0f = 0xc0000000, sign-extended to a negative int64.
        assert_eq!(
            hash_value(h, &OdpsType::Float, &f, 1).unwrap(),
            h.hash_long(0xc000_0000u32 as i32 as i64)
        );
        assert_eq!(
            hash_value(h, &OdpsType::Float, &f, 2).unwrap(),
            h.hash_long(0x7fc0_0000)
        );
    }
    // Legacy: (v >> 32) ^ v of a sign-extended negative is the complement of the low word.
    assert_eq!(Hasher::Legacy.hash_float(-2.0), !(0xc000_0000u32 as i32));
    // A NaN with another payload hashes like the canonical NaN.
    let odd_nan = f64::from_bits(0x7ff8_0000_0000_0001);
    assert_eq!(
        Hasher::Default.hash_double(odd_nan),
        Hasher::Default.hash_double(f64::NAN)
    );
}

#[test]
fn string_like_types_and_arrays() {
    let want = hash_bytes_default("日本".as_bytes());
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["日本"])),
        Arc::new(LargeStringArray::from(vec!["日本"])),
        Arc::new(StringViewArray::from(vec!["日本"])),
        Arc::new(BinaryArray::from(vec!["日本".as_bytes()])),
    ];
    for ty in [
        OdpsType::String,
        OdpsType::Varchar(10),
        OdpsType::Char(2),
        OdpsType::Binary,
    ] {
        for a in &arrays {
            assert_eq!(hv(Hasher::Default, &ty, a.as_ref()), want, "{ty}");
        }
    }
    // Signed bytes: 0x80 is -128.
    assert_eq!(hash_bytes_legacy(&[0x80]), -128);
    assert_eq!(hash_bytes_legacy(&[0x7f, 0x80]), 127 * 31 - 128);
}

#[test]
fn date_datetime_timestamp() {
    for h in [Hasher::Default, Hasher::Legacy] {
        // DATE: epoch seconds of UTC midnight.
        let d = Date32Array::from(vec![19782, -1]);
        assert_eq!(
            hash_value(h, &OdpsType::Date, &d, 0).unwrap(),
            h.hash_long(19782 * 86400)
        );
        assert_eq!(
            hash_value(h, &OdpsType::Date, &d, 1).unwrap(),
            h.hash_long(-86400)
        );
        // DATETIME: epoch ms, also from a nanosecond array (floored to ms).
        let ms = TimestampMillisecondArray::from(vec![1_704_164_645_000, -1]);
        assert_eq!(
            hash_value(h, &OdpsType::DateTime, &ms, 0).unwrap(),
            h.hash_long(1_704_164_645_000)
        );
        assert_eq!(
            hash_value(h, &OdpsType::DateTime, &ms, 1).unwrap(),
            h.hash_long(-1)
        );
        let ns = TimestampNanosecondArray::from(vec![-1i64]);
        assert_eq!(
            hash_value(h, &OdpsType::DateTime, &ns, 0).unwrap(),
            h.hash_long(-1)
        );
        // TIMESTAMP: (floor secs << 30) | nanos.
        let ts = TimestampNanosecondArray::from(vec![1_704_164_645_123_456_789, -1_500_000_000])
            .with_timezone("UTC");
        assert_eq!(
            hash_value(h, &OdpsType::Timestamp, &ts, 0).unwrap(),
            h.hash_long((1_704_164_645i64 << 30) | 123_456_789)
        );
        // -1.5 s = floor -2 s + 0.5 s.
        assert_eq!(
            hash_value(h, &OdpsType::Timestamp, &ts, 1).unwrap(),
            h.hash_long((-2i64 << 30) | 500_000_000)
        );
        // A millisecond array gives the same as the equivalent nanosecond one.
        let tms = TimestampMillisecondArray::from(vec![-1500]);
        assert_eq!(
            hash_value(h, &OdpsType::Timestamp, &tms, 0).unwrap(),
            hash_value(h, &OdpsType::Timestamp, &ts, 1).unwrap()
        );
    }
}

#[test]
fn interval_day_time() {
    let a = IntervalMonthDayNanoArray::from(vec![
        IntervalMonthDayNano::new(0, 1, 2_000_000_003),
        IntervalMonthDayNano::new(0, 0, -1),
        IntervalMonthDayNano::new(1, 0, 0),
    ]);
    let h = Hasher::Default;
    assert_eq!(
        hash_value(h, &OdpsType::IntervalDayTime, &a, 0).unwrap(),
        h.hash_long((86402i64 << 30) | 3)
    );
    assert_eq!(
        hash_value(h, &OdpsType::IntervalDayTime, &a, 1).unwrap(),
        h.hash_long((-1i64 << 30) | 999_999_999)
    );
    assert_eq!(
        hash_value(h, &OdpsType::IntervalDayTime, &a, 2),
        Err(HashError::IntervalMonths { row: 2, months: 1 })
    );
}

#[test]
fn decimals() {
    let ty18 = OdpsType::decimal(18, 2).unwrap();
    let ty38 = OdpsType::decimal(38, 2).unwrap();
    let a = Decimal128Array::from(vec![1234i128, -50, 0, i128::from(i64::MAX) * 1000])
        .with_precision_and_scale(38, 2)
        .unwrap();
    for h in [Hasher::Default, Hasher::Legacy] {
        assert_eq!(hash_value(h, &ty18, &a, 0).unwrap(), h.hash_long(1234));
        assert_eq!(hash_value(h, &ty18, &a, 1).unwrap(), h.hash_long(-50));
        assert_eq!(hash_value(h, &ty18, &a, 2).unwrap(), h.hash_long(0));
        // p > 18: low 64 bits plus the high part.
        let big = i128::from(i64::MAX) * 1000;
        assert_eq!(
            hash_value(h, &ty38, &a, 3).unwrap(),
            h.hash_long(big as i64)
                .wrapping_add(h.hash_long((big >> 64) as i64))
        );
        assert_eq!(
            hash_value(h, &ty38, &a, 1).unwrap(),
            h.hash_long(-50).wrapping_add(h.hash_long(-1))
        );
    }
    // An array at another scale is rescaled half-up (away from zero) to the column scale.
    let a3 = Decimal128Array::from(vec![12345i128, -12345, 12344, 5, -4])
        .with_precision_and_scale(18, 3)
        .unwrap();
    let h = Hasher::Default;
    let want = [1235i64, -1235, 1234, 1, 0];
    for (row, w) in want.into_iter().enumerate() {
        assert_eq!(
            hash_value(h, &ty18, &a3, row).unwrap(),
            h.hash_long(w),
            "row {row}"
        );
    }
    let a1 = Decimal128Array::from(vec![7i128])
        .with_precision_and_scale(18, 1)
        .unwrap();
    assert_eq!(hash_value(h, &ty18, &a1, 0).unwrap(), h.hash_long(70));
    // Rescaling up can overflow.
    let huge = Decimal128Array::from(vec![10i128.pow(37)])
        .with_precision_and_scale(38, 0)
        .unwrap();
    assert_eq!(
        hash_value(h, &OdpsType::decimal(38, 18).unwrap(), &huge, 0),
        Err(HashError::DecimalOverflow { row: 0, scale: 18 })
    );
    assert_eq!(rescale(123, 40, 0), Some(0));
    assert_eq!(rescale(-10i128.pow(38), 38, 0), Some(-1));
    assert_eq!(rescale(5 * 10i128.pow(37), 38, 0), Some(1));
}

#[test]
fn errors() {
    let a = Int64Array::from(vec![1]);
    assert_eq!(
        hash_value(Hasher::Default, &OdpsType::BigInt, &a, 1),
        Err(HashError::RowOutOfRange { row: 1, len: 1 })
    );
    let e = hash_value(Hasher::Default, &OdpsType::String, &a, 0).unwrap_err();
    assert_eq!(
        e,
        HashError::ArrayType {
            ty: "string".to_string(),
            data_type: "Int64".to_string()
        }
    );
    for ty in [
        OdpsType::Json,
        OdpsType::TimestampNtz,
        OdpsType::IntervalYearMonth,
        OdpsType::array(OdpsType::BigInt),
    ] {
        assert!(matches!(
            hash_value(Hasher::Default, &ty, &a, 0),
            Err(HashError::UnsupportedType(_))
        ));
    }
    let b = Int64Array::from(vec![1, 2]);
    let cols: [(&OdpsType, &dyn Array); 2] = [(&OdpsType::BigInt, &a), (&OdpsType::BigInt, &b)];
    assert_eq!(
        buckets_for_batch(Hasher::Default, &cols, 4),
        Err(HashError::LengthMismatch {
            column: 1,
            len: 2,
            expected: 1
        })
    );
    assert_eq!(
        buckets_for_batch(Hasher::Default, &cols[..1], 0),
        Err(HashError::NoBuckets)
    );
    assert_eq!(
        buckets_for_batch(Hasher::Default, &[], 4),
        Err(HashError::NoKeyColumns)
    );
}
