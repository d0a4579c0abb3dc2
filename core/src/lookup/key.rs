//! Lookup keys: one or more column values taken from Arrow arrays, hashable and compared
//! exactly.
//!
//! "Exactly" means: same Arrow type and same value. Integers of different widths never match
//! (an `Int32` 5 is not an `Int64` 5); floating-point values compare by their bits (so `NaN`
//! matches the same `NaN`, and `0.0` does not match `-0.0`); decimals compare by unscaled value,
//! precision and scale; strings and binaries byte for byte; timestamps by unit, time zone and
//! value. A key with a NULL component matches nothing (as in an SQL equi-join), so rows whose
//! key has a NULL are never indexed and a probe with a NULL finds no row.
//!
//! Supported key column types: every MaxCompute scalar type (BOOLEAN, the integers, FLOAT,
//! DOUBLE, DECIMAL, CHAR/VARCHAR/STRING/JSON, BINARY, DATE, DATETIME, TIMESTAMP,
//! TIMESTAMP_NTZ, both intervals). ARRAY, MAP and STRUCT cannot be keys.

use std::fmt;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, IntervalMonthDayNanoType, IntervalYearMonthType,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, IntervalUnit, TimeUnit};

/// One component of a [`LookupKey`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyValue {
    /// BOOLEAN.
    Bool(bool),
    /// TINYINT.
    Int8(i8),
    /// SMALLINT.
    Int16(i16),
    /// INT.
    Int32(i32),
    /// BIGINT.
    Int64(i64),
    /// FLOAT, by its IEEE 754 bits.
    Float32Bits(u32),
    /// DOUBLE, by its IEEE 754 bits.
    Float64Bits(u64),
    /// DECIMAL: unscaled value, precision, scale.
    Decimal128 {
        /// Unscaled value.
        value: i128,
        /// Precision.
        precision: u8,
        /// Scale.
        scale: i8,
    },
    /// CHAR, VARCHAR, STRING, JSON.
    Utf8(String),
    /// BINARY.
    Binary(Vec<u8>),
    /// DATE: days since the epoch.
    Date32(i32),
    /// Date64: milliseconds since the epoch.
    Date64(i64),
    /// DATETIME, TIMESTAMP, TIMESTAMP_NTZ: unit, time zone, value.
    Timestamp {
        /// 0 = s, 1 = ms, 2 = µs, 3 = ns.
        unit: u8,
        /// The time zone of the Arrow type (`None` for zone-less).
        tz: Option<String>,
        /// Value in `unit` since the epoch.
        value: i64,
    },
    /// INTERVAL_YEAR_MONTH: months.
    IntervalYearMonth(i32),
    /// INTERVAL_DAY_TIME: months, days, nanoseconds.
    IntervalMonthDayNano(i32, i32, i64),
}

impl From<bool> for KeyValue {
    fn from(v: bool) -> Self {
        KeyValue::Bool(v)
    }
}
impl From<i8> for KeyValue {
    fn from(v: i8) -> Self {
        KeyValue::Int8(v)
    }
}
impl From<i16> for KeyValue {
    fn from(v: i16) -> Self {
        KeyValue::Int16(v)
    }
}
impl From<i32> for KeyValue {
    fn from(v: i32) -> Self {
        KeyValue::Int32(v)
    }
}
impl From<i64> for KeyValue {
    fn from(v: i64) -> Self {
        KeyValue::Int64(v)
    }
}
impl From<f32> for KeyValue {
    fn from(v: f32) -> Self {
        KeyValue::Float32Bits(v.to_bits())
    }
}
impl From<f64> for KeyValue {
    fn from(v: f64) -> Self {
        KeyValue::Float64Bits(v.to_bits())
    }
}
impl From<&str> for KeyValue {
    fn from(v: &str) -> Self {
        KeyValue::Utf8(v.to_string())
    }
}
impl From<String> for KeyValue {
    fn from(v: String) -> Self {
        KeyValue::Utf8(v)
    }
}
impl From<Vec<u8>> for KeyValue {
    fn from(v: Vec<u8>) -> Self {
        KeyValue::Binary(v)
    }
}

/// A key value could not be taken from an array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The column's type cannot be a key.
    #[error(
        "column `{column}` of type {data_type} cannot be a lookup key (nested types are not supported)"
    )]
    UnsupportedType {
        /// Column name (empty when unknown).
        column: String,
        /// Its Arrow type.
        data_type: String,
    },
    /// A key column is not in the schema.
    #[error("lookup key column `{column}` is not one of the columns read ({available})")]
    UnknownColumn {
        /// The column asked for.
        column: String,
        /// The columns available, comma separated.
        available: String,
    },
    /// No key columns were given.
    #[error("a lookup key needs at least one column")]
    NoColumns,
    /// The probe has a different number of values or types than the key columns.
    #[error("probe key does not match the key columns: {0}")]
    ProbeMismatch(String),
    /// The row is beyond the array.
    #[error("row {row} is out of range for an array of {len} rows")]
    RowOutOfRange {
        /// Row asked for.
        row: usize,
        /// Array length.
        len: usize,
    },
}

fn unit_code(u: &TimeUnit) -> u8 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

impl KeyValue {
    /// True when arrays of this type can give key values.
    pub fn supports(data_type: &DataType) -> bool {
        matches!(
            data_type,
            DataType::Boolean
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal128(_, _)
                | DataType::Utf8
                | DataType::Binary
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(_, _)
                | DataType::Interval(IntervalUnit::YearMonth)
                | DataType::Interval(IntervalUnit::MonthDayNano)
        )
    }

    /// The value at `row` of `array`; `Ok(None)` for NULL.
    pub fn from_array(array: &dyn Array, row: usize) -> Result<Option<KeyValue>, KeyError> {
        if row >= array.len() {
            return Err(KeyError::RowOutOfRange {
                row,
                len: array.len(),
            });
        }
        if array.is_null(row) {
            return Ok(None);
        }
        let v = match array.data_type() {
            DataType::Boolean => KeyValue::Bool(array.as_boolean().value(row)),
            DataType::Int8 => KeyValue::Int8(array.as_primitive::<Int8Type>().value(row)),
            DataType::Int16 => KeyValue::Int16(array.as_primitive::<Int16Type>().value(row)),
            DataType::Int32 => KeyValue::Int32(array.as_primitive::<Int32Type>().value(row)),
            DataType::Int64 => KeyValue::Int64(array.as_primitive::<Int64Type>().value(row)),
            DataType::Float32 => {
                KeyValue::Float32Bits(array.as_primitive::<Float32Type>().value(row).to_bits())
            }
            DataType::Float64 => {
                KeyValue::Float64Bits(array.as_primitive::<Float64Type>().value(row).to_bits())
            }
            DataType::Decimal128(p, s) => KeyValue::Decimal128 {
                value: array.as_primitive::<Decimal128Type>().value(row),
                precision: *p,
                scale: *s,
            },
            DataType::Utf8 => KeyValue::Utf8(array.as_string::<i32>().value(row).to_string()),
            DataType::Binary => KeyValue::Binary(array.as_binary::<i32>().value(row).to_vec()),
            DataType::Date32 => KeyValue::Date32(array.as_primitive::<Date32Type>().value(row)),
            DataType::Date64 => KeyValue::Date64(array.as_primitive::<Date64Type>().value(row)),
            DataType::Timestamp(unit, tz) => {
                let value = match unit {
                    TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                    TimeUnit::Millisecond => {
                        array.as_primitive::<TimestampMillisecondType>().value(row)
                    }
                    TimeUnit::Microsecond => {
                        array.as_primitive::<TimestampMicrosecondType>().value(row)
                    }
                    TimeUnit::Nanosecond => {
                        array.as_primitive::<TimestampNanosecondType>().value(row)
                    }
                };
                KeyValue::Timestamp {
                    unit: unit_code(unit),
                    tz: tz.as_ref().map(|t| t.to_string()),
                    value,
                }
            }
            DataType::Interval(IntervalUnit::YearMonth) => KeyValue::IntervalYearMonth(
                array.as_primitive::<IntervalYearMonthType>().value(row),
            ),
            DataType::Interval(IntervalUnit::MonthDayNano) => {
                let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
                KeyValue::IntervalMonthDayNano(v.months, v.days, v.nanoseconds)
            }
            other => {
                return Err(KeyError::UnsupportedType {
                    column: String::new(),
                    data_type: other.to_string(),
                });
            }
        };
        Ok(Some(v))
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::Bool(v) => write!(f, "{v}"),
            KeyValue::Int8(v) => write!(f, "{v}"),
            KeyValue::Int16(v) => write!(f, "{v}"),
            KeyValue::Int32(v) => write!(f, "{v}"),
            KeyValue::Int64(v) => write!(f, "{v}"),
            KeyValue::Float32Bits(b) => write!(f, "{}", f32::from_bits(*b)),
            KeyValue::Float64Bits(b) => write!(f, "{}", f64::from_bits(*b)),
            KeyValue::Decimal128 { value, scale, .. } => write!(f, "{value}e-{scale}"),
            KeyValue::Utf8(s) => write!(f, "{s:?}"),
            KeyValue::Binary(b) => write!(
                f,
                "0x{}",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            ),
            KeyValue::Date32(d) => write!(f, "date32({d})"),
            KeyValue::Date64(d) => write!(f, "date64({d})"),
            KeyValue::Timestamp { unit, value, .. } => write!(f, "ts{unit}({value})"),
            KeyValue::IntervalYearMonth(m) => write!(f, "{m} months"),
            KeyValue::IntervalMonthDayNano(m, d, n) => write!(f, "{m}m{d}d{n}ns"),
        }
    }
}

/// A lookup key: one value per key column, in key-column order, none NULL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupKey(Vec<KeyValue>);

impl LookupKey {
    /// A key from its values in key-column order.
    pub fn new(values: Vec<KeyValue>) -> Self {
        Self(values)
    }

    /// A single-column key.
    pub fn single(value: impl Into<KeyValue>) -> Self {
        Self(vec![value.into()])
    }

    /// The values.
    pub fn values(&self) -> &[KeyValue] {
        &self.0
    }

    /// The key of `row` over `arrays` (one per key column); `Ok(None)` when a value is NULL.
    pub fn from_arrays(arrays: &[&dyn Array], row: usize) -> Result<Option<Self>, KeyError> {
        let mut out = Vec::with_capacity(arrays.len());
        for a in arrays {
            match KeyValue::from_array(*a, row)? {
                Some(v) => out.push(v),
                None => return Ok(None),
            }
        }
        Ok(Some(Self(out)))
    }

    /// The key of `row` of `batch` over the columns at `indices`; `Ok(None)` when a value is
    /// NULL.
    pub fn from_batch(
        batch: &RecordBatch,
        indices: &[usize],
        row: usize,
    ) -> Result<Option<Self>, KeyError> {
        let mut out = Vec::with_capacity(indices.len());
        for &i in indices {
            let Some(col) = batch.columns().get(i) else {
                return Err(KeyError::ProbeMismatch(format!(
                    "column index {i} is beyond the batch's {} columns",
                    batch.num_columns()
                )));
            };
            match KeyValue::from_array(col.as_ref(), row)? {
                Some(v) => out.push(v),
                None => return Ok(None),
            }
        }
        Ok(Some(Self(out)))
    }
}

impl From<KeyValue> for LookupKey {
    fn from(v: KeyValue) -> Self {
        Self(vec![v])
    }
}

impl fmt::Display for LookupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{v}")?;
        }
        f.write_str(")")
    }
}
