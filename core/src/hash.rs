//! Upsert bucket routing (protocol §6.2 "Routing a primary key to a bucket").
//!
//! Each `hash_key` column value hashes to an int32 (NULL hashes to 0); the hashes of a row are
//! summed with int32 wrap-around, folded as `s ^ (s >> 8)` (arithmetic shift, so the result is
//! never negative) and the bucket is that value modulo the bucket count.
//!
//! Values come from Arrow arrays in the representation of [`crate::types::arrow`]: integers,
//! floats and booleans as themselves; CHAR/VARCHAR/STRING/BINARY as their bytes; DATE as Date32
//! days (hashed as the epoch seconds of UTC midnight); DATETIME as millisecond timestamps
//! (epoch ms); TIMESTAMP as nanosecond timestamps (hashed as `(floor_secs << 30) | nanos`);
//! INTERVAL_DAY_TIME as MonthDayNano with zero months (same formula with total seconds);
//! DECIMAL(p,s) as Decimal128 unscaled values, rescaled to `s` (half-up) if the array's scale
//! differs.

use std::fmt;
use std::str::FromStr;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, IntervalDayTimeType, IntervalMonthDayNanoType, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type,
};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray};
use arrow_schema::{DataType, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::types::OdpsType;

/// The hash function family named by an upsert session's `hasher` field.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Hasher {
    /// `default`: Thomas Wang's 64-to-32-bit integer hash, Jenkins one-at-a-time for bytes.
    #[default]
    Default,
    /// `legacy`: `(v >> 32) ^ v` for integers, `h * 31 + b` for bytes.
    Legacy,
}

impl fmt::Display for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hasher::Default => "default",
            Hasher::Legacy => "legacy",
        })
    }
}

impl FromStr for Hasher {
    type Err = HashError;

    /// `default` or `legacy`, case-insensitive. Anything else is an error (java treats unknown
    /// names as `default`; the caller decides whether to do the same).
    fn from_str(s: &str) -> Result<Self, HashError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "default" => Ok(Hasher::Default),
            "legacy" => Ok(Hasher::Legacy),
            _ => Err(HashError::UnknownHasher(s.to_string())),
        }
    }
}

/// Errors of bucket routing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// A `hasher` name other than `default` / `legacy`.
    #[error("unknown upsert hasher `{0}` (expected default or legacy)")]
    UnknownHasher(String),
    /// The MaxCompute type cannot be a hash key.
    #[error("type {0} cannot be hashed for bucket routing")]
    UnsupportedType(String),
    /// The Arrow array does not hold the MaxCompute type.
    #[error("a {ty} key column cannot be read from an Arrow array of type {data_type}")]
    ArrayType {
        /// The MaxCompute type.
        ty: String,
        /// The Arrow type found.
        data_type: String,
    },
    /// The row index is past the end of the array.
    #[error("row {row} is out of range for a key column of {len} rows")]
    RowOutOfRange {
        /// Requested row.
        row: usize,
        /// Array length.
        len: usize,
    },
    /// Key columns of different lengths.
    #[error("key column {column} has {len} rows, the first key column has {expected}")]
    LengthMismatch {
        /// Index of the offending key column.
        column: usize,
        /// Its length.
        len: usize,
        /// The first column's length.
        expected: usize,
    },
    /// No key columns were given.
    #[error("no hash key columns")]
    NoKeyColumns,
    /// A bucket count of zero.
    #[error("the bucket count must be at least 1")]
    NoBuckets,
    /// An INTERVAL_DAY_TIME value with a month component.
    #[error("INTERVAL_DAY_TIME value at row {row} has {months} months")]
    IntervalMonths {
        /// Row of the value.
        row: usize,
        /// Its months.
        months: i32,
    },
    /// A decimal value does not fit when rescaled to the column scale.
    #[error("decimal value at row {row} overflows when rescaled to scale {scale}")]
    DecimalOverflow {
        /// Row of the value.
        row: usize,
        /// The column scale.
        scale: u8,
    },
}

/// The `default` hasher's integer hash (64-bit arithmetic, result truncated to int32).
pub fn hash_long_default(v: i64) -> i32 {
    let mut l = (!v).wrapping_add(v << 18);
    l ^= l >> 31;
    l = l.wrapping_mul(21);
    l ^= l >> 11;
    l = l.wrapping_add(l << 6);
    l ^= l >> 22;
    l as i32
}

/// The `legacy` hasher's integer hash: `(int32)((v >> 32) ^ v)`.
pub fn hash_long_legacy(v: i64) -> i32 {
    ((v >> 32) ^ v) as i32
}

/// The `default` hasher's byte hash: Jenkins one-at-a-time over signed bytes, in int32.
pub fn hash_bytes_default(bytes: &[u8]) -> i32 {
    let mut h: i32 = 0;
    for &b in bytes {
        h = h.wrapping_add(i32::from(b as i8));
        h = h.wrapping_add(h << 10);
        h ^= h >> 6;
    }
    h = h.wrapping_add(h << 3);
    h ^= h >> 11;
    h.wrapping_add(h << 15)
}

/// The `legacy` hasher's byte hash: `h = h * 31 + signed byte`, in int32.
pub fn hash_bytes_legacy(bytes: &[u8]) -> i32 {
    bytes.iter().fold(0i32, |h, &b| {
        h.wrapping_mul(31).wrapping_add(i32::from(b as i8))
    })
}

/// Hash of `true` (both hashers).
pub const HASH_TRUE: i32 = 0x172B_A9C7;
/// Hash of `false` (both hashers).
pub const HASH_FALSE: i32 = -0x3A59_CB12;

impl Hasher {
    /// Hash of an integer (TINYINT..BIGINT, and the integer forms of the other types).
    pub fn hash_long(self, v: i64) -> i32 {
        match self {
            Hasher::Default => hash_long_default(v),
            Hasher::Legacy => hash_long_legacy(v),
        }
    }

    /// Hash of STRING / VARCHAR / CHAR / BINARY bytes.
    pub fn hash_bytes(self, b: &[u8]) -> i32 {
        match self {
            Hasher::Default => hash_bytes_default(b),
            Hasher::Legacy => hash_bytes_legacy(b),
        }
    }

    /// Hash of a BOOLEAN.
    pub fn hash_bool(self, b: bool) -> i32 {
        if b { HASH_TRUE } else { HASH_FALSE }
    }

    /// Hash of a FLOAT: the integer hash of its bits as a sign-extended int32 (NaN canonical,
    /// as Java's `floatToIntBits` and Python's `struct` give it).
    pub fn hash_float(self, f: f32) -> i32 {
        let bits = if f.is_nan() { 0x7fc0_0000 } else { f.to_bits() };
        self.hash_long(i64::from(bits as i32))
    }

    /// Hash of a DOUBLE: the integer hash of its bits (NaN canonical).
    pub fn hash_double(self, d: f64) -> i32 {
        let bits = if d.is_nan() {
            0x7ff8_0000_0000_0000
        } else {
            d.to_bits()
        };
        self.hash_long(bits as i64)
    }

    /// Hash of a TIMESTAMP or INTERVAL_DAY_TIME given as seconds and nanos (0..1e9):
    /// the integer hash of `(seconds << 30) | nanos`.
    pub fn hash_seconds_nanos(self, seconds: i64, nanos: u32) -> i32 {
        self.hash_long((seconds << 30) | i64::from(nanos))
    }

    /// Hash of a DECIMAL(precision, _) given as its unscaled value at the column scale.
    pub fn hash_decimal_unscaled(self, precision: u8, unscaled: i128) -> i32 {
        let low = self.hash_long(unscaled as i64);
        if precision <= 18 {
            low
        } else {
            low.wrapping_add(self.hash_long((unscaled >> 64) as i64))
        }
    }
}

/// Fold the hashes of one row's key columns: `s = wrapping sum`, then `s ^ (s >> 8)`.
pub fn combine(hashes: impl IntoIterator<Item = i32>) -> i32 {
    let s = hashes.into_iter().fold(0i32, i32::wrapping_add);
    s ^ (s >> 8)
}

/// The bucket of a combined hash: `combined mod bucket_count` (always in `0..bucket_count`,
/// even for a negative input). A bucket count of 0 has no buckets; it is treated as 1.
pub fn bucket_of(combined: i32, bucket_count: u32) -> u32 {
    let b = i64::from(bucket_count.max(1));
    i64::from(combined).rem_euclid(b) as u32
}

/// Hash of one value of a key column (`0` for NULL).
pub fn hash_value(
    hasher: Hasher,
    ty: &OdpsType,
    array: &dyn Array,
    row: usize,
) -> Result<i32, HashError> {
    if row >= array.len() {
        return Err(HashError::RowOutOfRange {
            row,
            len: array.len(),
        });
    }
    let one = array.slice(row, 1);
    let hashes = hash_column(hasher, ty, one.as_ref()).map_err(|e| match e {
        HashError::IntervalMonths { months, .. } => HashError::IntervalMonths { row, months },
        HashError::DecimalOverflow { scale, .. } => HashError::DecimalOverflow { row, scale },
        other => other,
    })?;
    Ok(hashes.first().copied().unwrap_or(0))
}

/// The buckets of every row of a batch, from its key columns in `hash_key` order.
pub fn buckets_for_batch(
    hasher: Hasher,
    key_columns: &[(&OdpsType, &dyn Array)],
    bucket_count: u32,
) -> Result<Vec<u32>, HashError> {
    if bucket_count == 0 {
        return Err(HashError::NoBuckets);
    }
    let Some((_, first)) = key_columns.first() else {
        return Err(HashError::NoKeyColumns);
    };
    let rows = first.len();
    let mut sums = vec![0i32; rows];
    for (i, (ty, array)) in key_columns.iter().enumerate() {
        if array.len() != rows {
            return Err(HashError::LengthMismatch {
                column: i,
                len: array.len(),
                expected: rows,
            });
        }
        let h = hash_column(hasher, ty, *array)?;
        for (s, v) in sums.iter_mut().zip(h) {
            *s = s.wrapping_add(v);
        }
    }
    Ok(sums
        .into_iter()
        .map(|s| bucket_of(s ^ (s >> 8), bucket_count))
        .collect())
}

fn map_prim<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    mut f: impl FnMut(T::Native) -> i32,
) -> Vec<i32> {
    (0..a.len())
        .map(|i| if a.is_null(i) { 0 } else { f(a.value(i)) })
        .collect()
}

fn try_map_prim<T: ArrowPrimitiveType>(
    a: &PrimitiveArray<T>,
    mut f: impl FnMut(usize, T::Native) -> Result<i32, HashError>,
) -> Result<Vec<i32>, HashError> {
    (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                Ok(0)
            } else {
                f(i, a.value(i))
            }
        })
        .collect()
}

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Split a count of `unit`s into floor seconds and nanos.
fn secs_nanos(v: i64, unit: TimeUnit) -> (i64, u32) {
    let per_sec: i64 = match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    };
    let secs = v.div_euclid(per_sec);
    let frac = v.rem_euclid(per_sec);
    (secs, (frac * (1_000_000_000 / per_sec)) as u32)
}

/// Floor seconds and nanos of a total number of nanoseconds.
fn split_nanos(total: i128) -> (i64, u32) {
    (
        total.div_euclid(NANOS_PER_SEC) as i64,
        total.rem_euclid(NANOS_PER_SEC) as u32,
    )
}

/// Rescale an unscaled decimal from scale `from` to scale `to`, rounding half away from zero
/// on the dropped digits (the first dropped digit decides, as in the SDKs).
fn rescale(v: i128, from: i32, to: i32) -> Option<i128> {
    if from == to {
        return Some(v);
    }
    if from < to {
        let f = 10i128.checked_pow(u32::try_from(to - from).ok()?)?;
        return v.checked_mul(f);
    }
    let d = u32::try_from(from - to).ok()?;
    let mag = v.unsigned_abs();
    let (q, round_up) = match 10u128.checked_pow(d) {
        Some(p) => {
            let half = 5 * (p / 10);
            (mag / p, mag % p >= half)
        }
        // More dropped digits than an i128 holds: the value rounds to 0.
        None => (0, false),
    };
    let q = i128::try_from(q + u128::from(round_up)).ok()?;
    Some(if v < 0 { -q } else { q })
}

fn integer_hashes(h: Hasher, a: &dyn Array) -> Option<Vec<i32>> {
    let f = |v: i64| h.hash_long(v);
    Some(match a.data_type() {
        DataType::Int8 => map_prim(a.as_primitive::<Int8Type>(), |v| f(v.into())),
        DataType::Int16 => map_prim(a.as_primitive::<Int16Type>(), |v| f(v.into())),
        DataType::Int32 => map_prim(a.as_primitive::<Int32Type>(), |v| f(v.into())),
        DataType::Int64 => map_prim(a.as_primitive::<Int64Type>(), f),
        DataType::UInt8 => map_prim(a.as_primitive::<UInt8Type>(), |v| f(v.into())),
        DataType::UInt16 => map_prim(a.as_primitive::<UInt16Type>(), |v| f(v.into())),
        DataType::UInt32 => map_prim(a.as_primitive::<UInt32Type>(), |v| f(v.into())),
        _ => return None,
    })
}

fn bytes_hashes(h: Hasher, a: &dyn Array) -> Option<Vec<i32>> {
    fn go<'a>(a: &dyn Array, get: impl Fn(usize) -> &'a [u8], h: Hasher) -> Vec<i32> {
        (0..a.len())
            .map(|i| {
                if a.is_null(i) {
                    0
                } else {
                    h.hash_bytes(get(i))
                }
            })
            .collect()
    }
    Some(match a.data_type() {
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            go(a, |i| s.value(i).as_bytes(), h)
        }
        DataType::LargeUtf8 => {
            let s = a.as_string::<i64>();
            go(a, |i| s.value(i).as_bytes(), h)
        }
        DataType::Utf8View => {
            let s = a.as_string_view();
            go(a, |i| s.value(i).as_bytes(), h)
        }
        DataType::Binary => {
            let s = a.as_binary::<i32>();
            go(a, |i| s.value(i), h)
        }
        DataType::LargeBinary => {
            let s = a.as_binary::<i64>();
            go(a, |i| s.value(i), h)
        }
        DataType::BinaryView => {
            let s = a.as_binary_view();
            go(a, |i| s.value(i), h)
        }
        DataType::FixedSizeBinary(_) => {
            let s = a.as_fixed_size_binary();
            go(a, |i| s.value(i), h)
        }
        _ => return None,
    })
}

/// Floor seconds and nanos of each value (`None` for NULL).
type Parts = Vec<Option<(i64, u32)>>;

fn timestamp_parts(a: &dyn Array) -> Option<Parts> {
    fn go<T: ArrowPrimitiveType<Native = i64>>(
        a: &PrimitiveArray<T>,
        unit: TimeUnit,
    ) -> Vec<Option<(i64, u32)>> {
        (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| secs_nanos(a.value(i), unit)))
            .collect()
    }
    Some(match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            go(a.as_primitive::<TimestampSecondType>(), TimeUnit::Second)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => go(
            a.as_primitive::<TimestampMillisecondType>(),
            TimeUnit::Millisecond,
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => go(
            a.as_primitive::<TimestampMicrosecondType>(),
            TimeUnit::Microsecond,
        ),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => go(
            a.as_primitive::<TimestampNanosecondType>(),
            TimeUnit::Nanosecond,
        ),
        DataType::Date64 => go(
            a.as_primitive::<arrow_array::types::Date64Type>(),
            TimeUnit::Millisecond,
        ),
        _ => return None,
    })
}

fn duration_parts(a: &dyn Array) -> Result<Option<Parts>, HashError> {
    fn go<T: ArrowPrimitiveType<Native = i64>>(
        a: &PrimitiveArray<T>,
        unit: TimeUnit,
    ) -> Vec<Option<(i64, u32)>> {
        (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| secs_nanos(a.value(i), unit)))
            .collect()
    }
    Ok(Some(match a.data_type() {
        DataType::Interval(arrow_schema::IntervalUnit::MonthDayNano) => {
            let p = a.as_primitive::<IntervalMonthDayNanoType>();
            let mut out = Vec::with_capacity(p.len());
            for i in 0..p.len() {
                if p.is_null(i) {
                    out.push(None);
                    continue;
                }
                let v = p.value(i);
                if v.months != 0 {
                    return Err(HashError::IntervalMonths {
                        row: i,
                        months: v.months,
                    });
                }
                let total = i128::from(v.days) * 86_400 * NANOS_PER_SEC + i128::from(v.nanoseconds);
                out.push(Some(split_nanos(total)));
            }
            out
        }
        DataType::Interval(arrow_schema::IntervalUnit::DayTime) => {
            let p = a.as_primitive::<IntervalDayTimeType>();
            (0..p.len())
                .map(|i| {
                    (!p.is_null(i)).then(|| {
                        let v = p.value(i);
                        let total = (i128::from(v.days) * 86_400_000 + i128::from(v.milliseconds))
                            * 1_000_000;
                        split_nanos(total)
                    })
                })
                .collect()
        }
        DataType::Duration(TimeUnit::Second) => {
            go(a.as_primitive::<DurationSecondType>(), TimeUnit::Second)
        }
        DataType::Duration(TimeUnit::Millisecond) => go(
            a.as_primitive::<DurationMillisecondType>(),
            TimeUnit::Millisecond,
        ),
        DataType::Duration(TimeUnit::Microsecond) => go(
            a.as_primitive::<DurationMicrosecondType>(),
            TimeUnit::Microsecond,
        ),
        DataType::Duration(TimeUnit::Nanosecond) => go(
            a.as_primitive::<DurationNanosecondType>(),
            TimeUnit::Nanosecond,
        ),
        _ => return Ok(None),
    }))
}

/// Hashes of every value of a key column (`0` for NULLs).
pub fn hash_column(
    hasher: Hasher,
    ty: &OdpsType,
    array: &dyn Array,
) -> Result<Vec<i32>, HashError> {
    let h = hasher;
    let mismatch = || HashError::ArrayType {
        ty: ty.to_string(),
        data_type: array.data_type().to_string(),
    };
    let parts_hash = |parts: Vec<Option<(i64, u32)>>| -> Vec<i32> {
        parts
            .into_iter()
            .map(|p| p.map_or(0, |(s, n)| h.hash_seconds_nanos(s, n)))
            .collect()
    };
    match ty {
        OdpsType::TinyInt | OdpsType::SmallInt | OdpsType::Int | OdpsType::BigInt => {
            integer_hashes(h, array).ok_or_else(mismatch)
        }
        OdpsType::Boolean => {
            let a = array.as_boolean_opt().ok_or_else(mismatch)?;
            Ok((0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        0
                    } else {
                        h.hash_bool(a.value(i))
                    }
                })
                .collect())
        }
        OdpsType::Float => {
            let a = array
                .as_primitive_opt::<Float32Type>()
                .ok_or_else(mismatch)?;
            Ok(map_prim(a, |v| h.hash_float(v)))
        }
        OdpsType::Double => {
            let a = array
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(mismatch)?;
            Ok(map_prim(a, |v| h.hash_double(v)))
        }
        OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Binary => {
            bytes_hashes(h, array).ok_or_else(mismatch)
        }
        OdpsType::Date => {
            let a = array
                .as_primitive_opt::<Date32Type>()
                .ok_or_else(mismatch)?;
            Ok(map_prim(a, |days| h.hash_long(i64::from(days) * 86_400)))
        }
        OdpsType::DateTime => {
            let parts = timestamp_parts(array).ok_or_else(mismatch)?;
            Ok(parts
                .into_iter()
                .map(|p| {
                    p.map_or(0, |(s, n)| {
                        h.hash_long(s.wrapping_mul(1000).wrapping_add(i64::from(n / 1_000_000)))
                    })
                })
                .collect())
        }
        OdpsType::Timestamp => Ok(parts_hash(timestamp_parts(array).ok_or_else(mismatch)?)),
        OdpsType::IntervalDayTime => Ok(parts_hash(duration_parts(array)?.ok_or_else(mismatch)?)),
        OdpsType::Decimal { precision, scale } => {
            let a = array
                .as_primitive_opt::<Decimal128Type>()
                .ok_or_else(mismatch)?;
            let from = i32::from(a.scale());
            let to = i32::from(*scale);
            try_map_prim(a, |row, v| {
                let u = rescale(v, from, to)
                    .ok_or(HashError::DecimalOverflow { row, scale: *scale })?;
                Ok(h.hash_decimal_unscaled(*precision, u))
            })
        }
        OdpsType::TimestampNtz
        | OdpsType::IntervalYearMonth
        | OdpsType::Json
        | OdpsType::Array(_)
        | OdpsType::Map(..)
        | OdpsType::Struct(_) => Err(HashError::UnsupportedType(ty.to_string())),
    }
}

#[cfg(test)]
mod tests;
