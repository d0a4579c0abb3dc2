//! Row values: one cell of any MaxCompute type, read from and written to Arrow arrays, and
//! converted to and from JSON (admin inspection, fixtures).
//!
//! JSON forms (output; input accepts these and a few more, see [`from_json`]):
//!
//! | type | JSON |
//! |---|---|
//! | boolean, integers, float, double | JSON bool / number (`"NaN"`, `"Infinity"` for non-finite) |
//! | decimal(p,s) | string `"12.34"` |
//! | string, varchar, char, json | string |
//! | binary | base64 string |
//! | date | `"2024-02-29"` |
//! | datetime | `"2024-01-02T03:04:05.000Z"` |
//! | timestamp | `"2024-01-02T03:04:05.123456789Z"` (timestamp_ntz without `Z`) |
//! | interval_day_time | `{"seconds": 86402, "nanos": 3}` |
//! | interval_year_month | months as a number |
//! | array | array; struct: object; map: object when keys are text, else `[[k, v], ...]` |

use std::sync::Arc;

use arrow_array::*;
use arrow_buffer::{IntervalMonthDayNano, NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Fields};
use base64::Engine;
use maxc_core::types::{Column, OdpsType};
use serde_json::Value as Json;

use crate::time::{days_from_civil, format_date, format_datetime_secs, parse_iso};

/// Deepest nesting of values accepted from JSON.
pub const MAX_VALUE_DEPTH: usize = 32;

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// TINYINT..BIGINT and INTERVAL_YEAR_MONTH (months).
    Int(i64),
    /// FLOAT and DOUBLE.
    Float(f64),
    /// DECIMAL: the unscaled integer (the scale comes from the type).
    Decimal(i128),
    /// STRING, VARCHAR, CHAR, JSON.
    Text(String),
    /// BINARY.
    Binary(Vec<u8>),
    /// DATE: days since 1970-01-01.
    Date(i32),
    /// DATETIME: epoch milliseconds.
    DateTime(i64),
    /// TIMESTAMP, TIMESTAMP_NTZ and INTERVAL_DAY_TIME: seconds and nanoseconds (0..1e9).
    SecNanos(i64, u32),
    /// ARRAY.
    List(Vec<Value>),
    /// MAP (key, value) pairs.
    Map(Vec<(Value, Value)>),
    /// STRUCT fields in declaration order.
    Struct(Vec<Value>),
}

/// A value that does not fit its column, or an array of an unexpected Arrow type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn verr<T>(m: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(m.into()))
}

fn downcast<'a, T: 'static>(a: &'a dyn Array, what: &str) -> Result<&'a T, ValueError> {
    a.as_any().downcast_ref::<T>().ok_or_else(|| {
        ValueError(format!(
            "expected an Arrow {what} array, found {}",
            a.data_type()
        ))
    })
}

/// The value at `row` of an array holding type `ty`.
pub fn value_at(a: &dyn Array, ty: &OdpsType, row: usize) -> Result<Value, ValueError> {
    if row >= a.len() {
        return verr(format!("row {row} out of range ({} rows)", a.len()));
    }
    if a.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match ty {
        OdpsType::Boolean => Value::Bool(downcast::<BooleanArray>(a, "boolean")?.value(row)),
        OdpsType::TinyInt => Value::Int(downcast::<Int8Array>(a, "int8")?.value(row) as i64),
        OdpsType::SmallInt => Value::Int(downcast::<Int16Array>(a, "int16")?.value(row) as i64),
        OdpsType::Int => Value::Int(downcast::<Int32Array>(a, "int32")?.value(row) as i64),
        OdpsType::BigInt => Value::Int(downcast::<Int64Array>(a, "int64")?.value(row)),
        OdpsType::Float => Value::Float(downcast::<Float32Array>(a, "float32")?.value(row) as f64),
        OdpsType::Double => Value::Float(downcast::<Float64Array>(a, "float64")?.value(row)),
        OdpsType::Decimal { .. } => {
            Value::Decimal(downcast::<Decimal128Array>(a, "decimal128")?.value(row))
        }
        OdpsType::Char(_) | OdpsType::Varchar(_) | OdpsType::String | OdpsType::Json => {
            Value::Text(downcast::<StringArray>(a, "utf8")?.value(row).to_string())
        }
        OdpsType::Binary => {
            Value::Binary(downcast::<BinaryArray>(a, "binary")?.value(row).to_vec())
        }
        OdpsType::Date => Value::Date(downcast::<Date32Array>(a, "date32")?.value(row)),
        OdpsType::DateTime => {
            Value::DateTime(downcast::<TimestampMillisecondArray>(a, "timestamp(ms)")?.value(row))
        }
        OdpsType::Timestamp | OdpsType::TimestampNtz => {
            let ns = downcast::<TimestampNanosecondArray>(a, "timestamp(ns)")?.value(row);
            Value::SecNanos(
                ns.div_euclid(1_000_000_000),
                ns.rem_euclid(1_000_000_000) as u32,
            )
        }
        OdpsType::IntervalDayTime => {
            let v =
                downcast::<IntervalMonthDayNanoArray>(a, "interval(month_day_nano)")?.value(row);
            let total = v.days as i128 * 86_400_000_000_000 + v.nanoseconds as i128;
            let secs = total.div_euclid(1_000_000_000);
            let secs =
                i64::try_from(secs).map_err(|_| ValueError("interval out of range".into()))?;
            Value::SecNanos(secs, total.rem_euclid(1_000_000_000) as u32)
        }
        OdpsType::IntervalYearMonth => Value::Int(
            downcast::<IntervalYearMonthArray>(a, "interval(year_month)")?.value(row) as i64,
        ),
        OdpsType::Array(elem) => {
            let l = downcast::<ListArray>(a, "list")?;
            let child = l.value(row);
            let mut out = Vec::with_capacity(child.len());
            for i in 0..child.len() {
                out.push(value_at(child.as_ref(), elem, i)?);
            }
            Value::List(out)
        }
        OdpsType::Map(kt, vt) => {
            let m = downcast::<MapArray>(a, "map")?;
            let entries = m.value(row);
            let (keys, vals) = (entries.column(0), entries.column(1));
            let mut out = Vec::with_capacity(entries.len());
            for i in 0..entries.len() {
                out.push((
                    value_at(keys.as_ref(), kt, i)?,
                    value_at(vals.as_ref(), vt, i)?,
                ));
            }
            Value::Map(out)
        }
        OdpsType::Struct(fields) => {
            let s = downcast::<StructArray>(a, "struct")?;
            if s.num_columns() != fields.len() {
                return verr("struct arity differs from its type");
            }
            let mut out = Vec::with_capacity(fields.len());
            for (i, f) in fields.iter().enumerate() {
                out.push(value_at(s.column(i).as_ref(), &f.ty, row)?);
            }
            Value::Struct(out)
        }
    })
}

/// One row of a batch whose columns are `columns` (matched by position).
pub fn row_values(
    batch: &RecordBatch,
    columns: &[Column],
    row: usize,
) -> Result<Vec<Value>, ValueError> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| match batch.columns().get(i) {
            Some(a) => value_at(a.as_ref(), &c.ty, row),
            None => Ok(Value::Null),
        })
        .collect()
}

fn nulls_of(vals: &[Value]) -> Option<NullBuffer> {
    if vals.iter().any(|v| matches!(v, Value::Null)) {
        Some(NullBuffer::from(
            vals.iter()
                .map(|v| !matches!(v, Value::Null))
                .collect::<Vec<bool>>(),
        ))
    } else {
        None
    }
}

fn mismatch<T>(ty: &OdpsType, v: &Value) -> Result<T, ValueError> {
    verr(format!("value {v:?} does not fit type {ty}"))
}

/// Builds an Arrow array of type `ty` (as mapped by `OdpsType::to_arrow`) from values.
pub fn build_array(ty: &OdpsType, vals: &[Value]) -> Result<ArrayRef, ValueError> {
    macro_rules! prim {
        ($arr:ty, $variant:ident, $conv:expr) => {{
            let mut out = Vec::with_capacity(vals.len());
            for v in vals {
                out.push(match v {
                    Value::Null => None,
                    Value::$variant(x) => Some($conv(x)?),
                    other => return mismatch(ty, other),
                });
            }
            Arc::new(<$arr>::from(out)) as ArrayRef
        }};
    }
    let int_range = |x: &i64, lo: i64, hi: i64| -> Result<i64, ValueError> {
        if *x < lo || *x > hi {
            verr(format!("{x} is out of range for {ty}"))
        } else {
            Ok(*x)
        }
    };
    Ok(match ty {
        OdpsType::Boolean => prim!(BooleanArray, Bool, |x: &bool| Ok::<_, ValueError>(*x)),
        OdpsType::TinyInt => prim!(Int8Array, Int, |x: &i64| int_range(
            x,
            i8::MIN as i64,
            i8::MAX as i64
        )
        .map(|v| v as i8)),
        OdpsType::SmallInt => prim!(Int16Array, Int, |x: &i64| int_range(
            x,
            i16::MIN as i64,
            i16::MAX as i64
        )
        .map(|v| v as i16)),
        OdpsType::Int => prim!(Int32Array, Int, |x: &i64| int_range(
            x,
            i32::MIN as i64,
            i32::MAX as i64
        )
        .map(|v| v as i32)),
        OdpsType::BigInt => prim!(Int64Array, Int, |x: &i64| Ok::<_, ValueError>(*x)),
        OdpsType::IntervalYearMonth => prim!(IntervalYearMonthArray, Int, |x: &i64| int_range(
            x,
            i32::MIN as i64,
            i32::MAX as i64
        )
        .map(|v| v as i32)),
        OdpsType::Float => prim!(Float32Array, Float, |x: &f64| Ok::<_, ValueError>(
            *x as f32
        )),
        OdpsType::Double => prim!(Float64Array, Float, |x: &f64| Ok::<_, ValueError>(*x)),
        OdpsType::Decimal { precision, scale } => {
            let limit = 10i128.pow(*precision as u32);
            let mut out = Vec::with_capacity(vals.len());
            for v in vals {
                out.push(match v {
                    Value::Null => None,
                    Value::Decimal(x) if x.abs() < limit => Some(*x),
                    Value::Decimal(_) => return verr(format!("decimal out of range for {ty}")),
                    other => return mismatch(ty, other),
                });
            }
            Arc::new(
                Decimal128Array::from(out)
                    .with_precision_and_scale(*precision, *scale as i8)
                    .map_err(|e| ValueError(e.to_string()))?,
            )
        }
        OdpsType::Char(_) | OdpsType::Varchar(_) | OdpsType::String | OdpsType::Json => {
            let mut out: Vec<Option<&str>> = Vec::with_capacity(vals.len());
            for v in vals {
                out.push(match v {
                    Value::Null => None,
                    Value::Text(s) => {
                        if let OdpsType::Varchar(n) | OdpsType::Char(n) = ty
                            && s.chars().count() > *n as usize
                        {
                            return verr(format!(
                                "text of {} characters exceeds {ty}",
                                s.chars().count()
                            ));
                        }
                        Some(s.as_str())
                    }
                    other => return mismatch(ty, other),
                });
            }
            Arc::new(StringArray::from(out))
        }
        OdpsType::Binary => {
            let mut out: Vec<Option<&[u8]>> = Vec::with_capacity(vals.len());
            for v in vals {
                out.push(match v {
                    Value::Null => None,
                    Value::Binary(b) => Some(b.as_slice()),
                    other => return mismatch(ty, other),
                });
            }
            Arc::new(BinaryArray::from(out))
        }
        OdpsType::Date => prim!(Date32Array, Date, |x: &i32| Ok::<_, ValueError>(*x)),
        OdpsType::DateTime => prim!(TimestampMillisecondArray, DateTime, |x: &i64| Ok::<
            _,
            ValueError,
        >(*x)),
        OdpsType::Timestamp | OdpsType::TimestampNtz => {
            let mut out = Vec::with_capacity(vals.len());
            for v in vals {
                out.push(match v {
                    Value::Null => None,
                    Value::SecNanos(s, n) => Some(
                        s.checked_mul(1_000_000_000)
                            .and_then(|x| x.checked_add(*n as i64))
                            .ok_or_else(|| {
                                ValueError(format!("timestamp {s}s out of the nanosecond range"))
                            })?,
                    ),
                    other => return mismatch(ty, other),
                });
            }
            let arr = TimestampNanosecondArray::from(out);
            match ty.to_arrow() {
                DataType::Timestamp(_, Some(tz)) => Arc::new(arr.with_timezone(tz)),
                _ => Arc::new(arr),
            }
        }
        OdpsType::IntervalDayTime => {
            let mut out = Vec::with_capacity(vals.len());
            for v in vals {
                out.push(match v {
                    Value::Null => None,
                    Value::SecNanos(s, n) => {
                        // Same convention as the codec: whole days of the total and the
                        // remaining nanoseconds, both with the sign of the total.
                        let total = *s as i128 * 1_000_000_000 + *n as i128;
                        let day = 86_400_000_000_000i128;
                        let days = i32::try_from(total / day)
                            .map_err(|_| ValueError("interval out of range".into()))?;
                        Some(IntervalMonthDayNano::new(0, days, (total % day) as i64))
                    }
                    other => return mismatch(ty, other),
                });
            }
            Arc::new(IntervalMonthDayNanoArray::from(out))
        }
        OdpsType::Array(elem) => {
            let DataType::List(field) = ty.to_arrow() else {
                return verr("array type does not map to an Arrow list");
            };
            let mut flat = Vec::new();
            let mut lens = Vec::with_capacity(vals.len());
            for v in vals {
                match v {
                    Value::Null => lens.push(0),
                    Value::List(items) => {
                        lens.push(items.len());
                        flat.extend(items.iter().cloned());
                    }
                    other => return mismatch(ty, other),
                }
            }
            let child = build_array(elem, &flat)?;
            Arc::new(
                ListArray::try_new(
                    field,
                    OffsetBuffer::from_lengths(lens),
                    child,
                    nulls_of(vals),
                )
                .map_err(|e| ValueError(e.to_string()))?,
            )
        }
        OdpsType::Map(kt, vt) => {
            let DataType::Map(entries_field, _) = ty.to_arrow() else {
                return verr("map type does not map to an Arrow map");
            };
            let DataType::Struct(kv_fields) = entries_field.data_type().clone() else {
                return verr("map entries are not a struct");
            };
            let (mut ks, mut vs, mut lens) =
                (Vec::new(), Vec::new(), Vec::with_capacity(vals.len()));
            for v in vals {
                match v {
                    Value::Null => lens.push(0),
                    Value::Map(pairs) => {
                        lens.push(pairs.len());
                        for (k, x) in pairs {
                            if matches!(k, Value::Null) {
                                return verr("map keys cannot be NULL");
                            }
                            ks.push(k.clone());
                            vs.push(x.clone());
                        }
                    }
                    other => return mismatch(ty, other),
                }
            }
            let entries = StructArray::try_new(
                kv_fields,
                vec![build_array(kt, &ks)?, build_array(vt, &vs)?],
                None,
            )
            .map_err(|e| ValueError(e.to_string()))?;
            Arc::new(
                MapArray::try_new(
                    entries_field,
                    OffsetBuffer::from_lengths(lens),
                    entries,
                    nulls_of(vals),
                    false,
                )
                .map_err(|e| ValueError(e.to_string()))?,
            )
        }
        OdpsType::Struct(fields) => {
            let DataType::Struct(afields) = ty.to_arrow() else {
                return verr("struct type does not map to an Arrow struct");
            };
            let mut cols: Vec<Vec<Value>> = vec![Vec::with_capacity(vals.len()); fields.len()];
            for v in vals {
                match v {
                    Value::Null => cols.iter_mut().for_each(|c| c.push(Value::Null)),
                    Value::Struct(items) if items.len() == fields.len() => {
                        for (c, x) in cols.iter_mut().zip(items) {
                            c.push(x.clone());
                        }
                    }
                    other => return mismatch(ty, other),
                }
            }
            let arrays = fields
                .iter()
                .zip(&cols)
                .map(|(f, c)| build_array(&f.ty, c))
                .collect::<Result<Vec<_>, _>>()?;
            if fields.is_empty() {
                return verr("empty struct types are not supported");
            }
            Arc::new(
                StructArray::try_new(afields, arrays, nulls_of(vals))
                    .map_err(|e| ValueError(e.to_string()))?,
            )
        }
    })
}

/// Builds a record batch with `columns` from rows of values (one `Vec<Value>` per row,
/// in column order). NULL in a NOT NULL column is an error.
pub fn build_batch(columns: &[Column], rows: &[Vec<Value>]) -> Result<RecordBatch, ValueError> {
    let schema = maxc_core::types::arrow::columns_to_arrow(columns);
    let mut arrays = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        let col: Vec<Value> = rows
            .iter()
            .map(|r| r.get(i).cloned().unwrap_or(Value::Null))
            .collect();
        if !c.nullable && col.iter().any(|v| matches!(v, Value::Null)) {
            return verr(format!(
                "column `{}` is NOT NULL but a row has NULL",
                c.name
            ));
        }
        arrays.push(
            build_array(&c.ty, &col)
                .map_err(|e| ValueError(format!("column `{}`: {}", c.name, e.0)))?,
        );
    }
    RecordBatch::try_new_with_options(
        schema,
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| ValueError(e.to_string()))
}

// ---------------------------------------------------------------- decimals

/// Parses decimal text (`-12.34`, `1E+2`, `.5`) into the unscaled integer at `scale`,
/// rounding half away from zero on dropped digits.
pub fn parse_decimal(text: &str, precision: u8, scale: u8) -> Result<i128, ValueError> {
    let t = text.trim();
    let bad = || ValueError(format!("`{text}` is not a decimal"));
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mant, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (rest, 0),
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    if (ip.is_empty() && fp.is_empty()) || !ip.bytes().chain(fp.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    if !(-100..=100).contains(&exp) || ip.len() + fp.len() > 200 {
        return Err(bad());
    }
    let digits: String = format!("{ip}{fp}");
    // value = digits * 10^(exp - fp.len()); we want value * 10^scale.
    let shift = exp - fp.len() as i32 + scale as i32;
    let digits = digits.trim_start_matches('0');
    let mut unscaled: i128 = 0;
    let overflow = || {
        ValueError(format!(
            "`{text}` does not fit decimal({precision},{scale})"
        ))
    };
    if shift >= 0 {
        for b in digits.bytes() {
            unscaled = unscaled
                .checked_mul(10)
                .and_then(|x| x.checked_add((b - b'0') as i128))
                .ok_or_else(overflow)?;
        }
        for _ in 0..shift {
            unscaled = unscaled.checked_mul(10).ok_or_else(overflow)?;
        }
    } else {
        let drop = (-shift) as usize;
        let keep = digits.len().saturating_sub(drop);
        for b in digits[..keep].bytes() {
            unscaled = unscaled
                .checked_mul(10)
                .and_then(|x| x.checked_add((b - b'0') as i128))
                .ok_or_else(overflow)?;
        }
        let first_dropped = if digits.len() >= drop {
            digits.as_bytes().get(keep).copied()
        } else {
            None
        };
        if first_dropped.is_some_and(|b| b >= b'5') {
            unscaled += 1;
        }
    }
    if unscaled >= 10i128.pow(precision as u32) {
        return Err(overflow());
    }
    Ok(if neg { -unscaled } else { unscaled })
}

/// Decimal text of an unscaled integer at `scale` (`1234`, 2 → `12.34`).
pub fn format_decimal(unscaled: i128, scale: u8) -> String {
    let neg = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let s = scale as usize;
    let body = if s == 0 {
        digits
    } else if digits.len() > s {
        format!(
            "{}.{}",
            &digits[..digits.len() - s],
            &digits[digits.len() - s..]
        )
    } else {
        format!("0.{}{}", "0".repeat(s - digits.len()), digits)
    };
    if neg { format!("-{body}") } else { body }
}

// ---------------------------------------------------------------- JSON

fn json_float(f: f64) -> Json {
    if f.is_nan() {
        Json::String("NaN".into())
    } else if f.is_infinite() {
        Json::String(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
    }
}

/// The JSON form of a value of type `ty`.
pub fn to_json(v: &Value, ty: &OdpsType) -> Json {
    match (v, ty) {
        (Value::Null, _) => Json::Null,
        (Value::Bool(b), _) => Json::Bool(*b),
        (Value::Int(i), _) => Json::from(*i),
        (Value::Float(f), OdpsType::Float) => json_float(*f as f32 as f64),
        (Value::Float(f), _) => json_float(*f),
        (Value::Decimal(d), OdpsType::Decimal { scale, .. }) => {
            Json::String(format_decimal(*d, *scale))
        }
        (Value::Decimal(d), _) => Json::String(d.to_string()),
        (Value::Text(s), _) => Json::String(s.clone()),
        (Value::Binary(b), _) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        (Value::Date(d), _) => Json::String(format_date(*d as i64)),
        (Value::DateTime(ms), _) => Json::String(format!(
            "{}.{:03}Z",
            format_datetime_secs(ms.div_euclid(1000)),
            ms.rem_euclid(1000)
        )),
        (Value::SecNanos(s, n), OdpsType::IntervalDayTime) => {
            serde_json::json!({"seconds": s, "nanos": n})
        }
        (Value::SecNanos(s, n), OdpsType::TimestampNtz) => {
            Json::String(format!("{}.{:09}", format_datetime_secs(*s), n))
        }
        (Value::SecNanos(s, n), _) => {
            Json::String(format!("{}.{:09}Z", format_datetime_secs(*s), n))
        }
        (Value::List(items), OdpsType::Array(e)) => {
            Json::Array(items.iter().map(|x| to_json(x, e)).collect())
        }
        (Value::Map(pairs), OdpsType::Map(k, val)) => {
            if k.is_string_like() {
                let mut m = serde_json::Map::new();
                for (kk, vv) in pairs {
                    if let Value::Text(ks) = kk {
                        m.insert(ks.clone(), to_json(vv, val));
                    }
                }
                Json::Object(m)
            } else {
                Json::Array(
                    pairs
                        .iter()
                        .map(|(kk, vv)| Json::Array(vec![to_json(kk, k), to_json(vv, val)]))
                        .collect(),
                )
            }
        }
        (Value::Struct(items), OdpsType::Struct(fields)) => {
            let mut m = serde_json::Map::new();
            for (f, x) in fields.iter().zip(items) {
                m.insert(f.name.clone(), to_json(x, &f.ty));
            }
            Json::Object(m)
        }
        (other, _) => Json::String(format!("{other:?}")),
    }
}

/// A row as a JSON object keyed by column name.
pub fn row_to_json(columns: &[Column], row: &[Value]) -> Json {
    let mut m = serde_json::Map::new();
    for (c, v) in columns.iter().zip(row) {
        m.insert(c.name.clone(), to_json(v, &c.ty));
    }
    Json::Object(m)
}

fn json_int(j: &Json, ty: &OdpsType) -> Result<i64, ValueError> {
    match j {
        Json::Number(n) => n
            .as_i64()
            .ok_or_else(|| ValueError(format!("{n} is not an integer for {ty}"))),
        Json::String(s) => s
            .trim()
            .parse()
            .map_err(|_| ValueError(format!("`{s}` is not an integer for {ty}"))),
        other => verr(format!("{other} is not an integer for {ty}")),
    }
}

/// Converts JSON to a value of type `ty`.
///
/// Accepted beyond the output forms: numbers as strings, integers for date (days),
/// datetime (epoch ms), timestamps (epoch ns) and interval_day_time (seconds); struct
/// as an array in field order; map as `[[k, v], ...]`; any JSON for a json column.
pub fn from_json(j: &Json, ty: &OdpsType) -> Result<Value, ValueError> {
    from_json_depth(j, ty, 0)
}

fn from_json_depth(j: &Json, ty: &OdpsType, depth: usize) -> Result<Value, ValueError> {
    if depth > MAX_VALUE_DEPTH {
        return verr("value nested too deeply");
    }
    if j.is_null() {
        return Ok(Value::Null);
    }
    let wrong = || ValueError(format!("{j} does not fit type {ty}"));
    Ok(match ty {
        OdpsType::Boolean => match j {
            Json::Bool(b) => Value::Bool(*b),
            Json::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Json::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(wrong()),
        },
        OdpsType::TinyInt
        | OdpsType::SmallInt
        | OdpsType::Int
        | OdpsType::BigInt
        | OdpsType::IntervalYearMonth => {
            let v = json_int(j, ty)?;
            let (lo, hi) = match ty {
                OdpsType::TinyInt => (i8::MIN as i64, i8::MAX as i64),
                OdpsType::SmallInt => (i16::MIN as i64, i16::MAX as i64),
                OdpsType::Int | OdpsType::IntervalYearMonth => (i32::MIN as i64, i32::MAX as i64),
                _ => (i64::MIN, i64::MAX),
            };
            if v < lo || v > hi {
                return verr(format!("{v} is out of range for {ty}"));
            }
            Value::Int(v)
        }
        OdpsType::Float | OdpsType::Double => match j {
            Json::Number(n) => Value::Float(n.as_f64().ok_or_else(wrong)?),
            Json::String(s) => Value::Float(match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                other => other.trim().parse().map_err(|_| wrong())?,
            }),
            _ => return Err(wrong()),
        },
        OdpsType::Decimal { precision, scale } => {
            let text = match j {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                _ => return Err(wrong()),
            };
            Value::Decimal(parse_decimal(&text, *precision, *scale)?)
        }
        OdpsType::Json => match j {
            Json::String(s) => Value::Text(s.clone()),
            other => Value::Text(other.to_string()),
        },
        OdpsType::Char(_) | OdpsType::Varchar(_) | OdpsType::String => match j {
            Json::String(s) => Value::Text(s.clone()),
            Json::Number(n) => Value::Text(n.to_string()),
            Json::Bool(b) => Value::Text(b.to_string()),
            _ => return Err(wrong()),
        },
        OdpsType::Binary => match j {
            Json::String(s) => Value::Binary(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| ValueError(format!("binary value is not base64: {e}")))?,
            ),
            Json::Array(items) => Value::Binary(
                items
                    .iter()
                    .map(|x| {
                        x.as_u64()
                            .filter(|b| *b < 256)
                            .map(|b| b as u8)
                            .ok_or_else(wrong)
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(wrong()),
        },
        OdpsType::Date => match j {
            Json::String(s) => {
                let (secs, nanos) = parse_iso(s).ok_or_else(wrong)?;
                if secs.rem_euclid(86_400) != 0 || nanos != 0 {
                    return Err(wrong());
                }
                Value::Date(i32::try_from(secs.div_euclid(86_400)).map_err(|_| wrong())?)
            }
            _ => Value::Date(i32::try_from(json_int(j, ty)?).map_err(|_| wrong())?),
        },
        OdpsType::DateTime => match j {
            Json::String(s) if s.contains('-') => {
                let (secs, nanos) = parse_iso(s).ok_or_else(wrong)?;
                Value::DateTime(
                    secs.checked_mul(1000).ok_or_else(wrong)? + (nanos / 1_000_000) as i64,
                )
            }
            _ => Value::DateTime(json_int(j, ty)?),
        },
        OdpsType::Timestamp | OdpsType::TimestampNtz => match j {
            Json::String(s) if s.contains('-') => {
                let (secs, nanos) = parse_iso(s).ok_or_else(wrong)?;
                Value::SecNanos(secs, nanos)
            }
            Json::Object(_) => sec_nanos(j).ok_or_else(wrong)?,
            _ => {
                let ns = json_int(j, ty)?;
                Value::SecNanos(
                    ns.div_euclid(1_000_000_000),
                    ns.rem_euclid(1_000_000_000) as u32,
                )
            }
        },
        OdpsType::IntervalDayTime => match j {
            Json::Object(_) => sec_nanos(j).ok_or_else(wrong)?,
            _ => Value::SecNanos(json_int(j, ty)?, 0),
        },
        OdpsType::Array(e) => match j {
            Json::Array(items) => Value::List(
                items
                    .iter()
                    .map(|x| from_json_depth(x, e, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(wrong()),
        },
        OdpsType::Map(k, v) => match j {
            Json::Object(m) => Value::Map(
                m.iter()
                    .map(|(ks, vv)| {
                        Ok((
                            from_json_depth(&Json::String(ks.clone()), k, depth + 1)?,
                            from_json_depth(vv, v, depth + 1)?,
                        ))
                    })
                    .collect::<Result<_, ValueError>>()?,
            ),
            Json::Array(pairs) => Value::Map(
                pairs
                    .iter()
                    .map(|p| match p {
                        Json::Array(kv) if kv.len() == 2 => Ok((
                            from_json_depth(&kv[0], k, depth + 1)?,
                            from_json_depth(&kv[1], v, depth + 1)?,
                        )),
                        _ => Err(wrong()),
                    })
                    .collect::<Result<_, ValueError>>()?,
            ),
            _ => return Err(wrong()),
        },
        OdpsType::Struct(fields) => match j {
            Json::Object(m) => {
                if let Some(extra) = m
                    .keys()
                    .find(|k| !fields.iter().any(|f| f.name.eq_ignore_ascii_case(k)))
                {
                    return verr(format!("struct {ty} has no field `{extra}`"));
                }
                Value::Struct(
                    fields
                        .iter()
                        .map(|f| {
                            let x = m
                                .iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(&f.name))
                                .map(|(_, v)| v)
                                .unwrap_or(&Json::Null);
                            from_json_depth(x, &f.ty, depth + 1)
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            Json::Array(items) if items.len() == fields.len() => Value::Struct(
                fields
                    .iter()
                    .zip(items)
                    .map(|(f, x)| from_json_depth(x, &f.ty, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(wrong()),
        },
    })
}

fn sec_nanos(j: &Json) -> Option<Value> {
    let s = j.get("seconds")?.as_i64()?;
    let n = j.get("nanos").map_or(Some(0), |x| x.as_u64())?;
    if n >= 1_000_000_000 {
        return None;
    }
    Some(Value::SecNanos(s, n as u32))
}

/// A row from JSON: an object keyed by column name (case-insensitive; missing = NULL;
/// unknown names are an error) or an array in column order.
pub fn row_from_json(columns: &[Column], j: &Json) -> Result<Vec<Value>, ValueError> {
    match j {
        Json::Object(m) => {
            if let Some(extra) = m
                .keys()
                .find(|k| !columns.iter().any(|c| c.name.eq_ignore_ascii_case(k)))
            {
                return verr(format!("row names unknown column `{extra}`"));
            }
            columns
                .iter()
                .map(|c| {
                    let x = m
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&c.name))
                        .map(|(_, v)| v)
                        .unwrap_or(&Json::Null);
                    from_json(x, &c.ty)
                        .map_err(|e| ValueError(format!("column `{}`: {}", c.name, e.0)))
                })
                .collect()
        }
        Json::Array(items) => {
            if items.len() != columns.len() {
                return verr(format!(
                    "row has {} values for {} columns",
                    items.len(),
                    columns.len()
                ));
            }
            columns
                .iter()
                .zip(items)
                .map(|(c, x)| {
                    from_json(x, &c.ty)
                        .map_err(|e| ValueError(format!("column `{}`: {}", c.name, e.0)))
                })
                .collect()
        }
        other => verr(format!("a row must be a JSON object or array, not {other}")),
    }
}

/// A canonical text key of values (used to compare primary keys).
pub fn key_text(vals: &[Value]) -> String {
    format!("{vals:?}")
}

/// The Arrow schema fields of columns (a convenience re-export for storage code).
pub fn fields_of(columns: &[Column]) -> Fields {
    maxc_core::types::arrow::columns_to_arrow(columns)
        .fields()
        .clone()
}

/// Days since the epoch of a calendar date (re-exported for fixtures).
pub fn date_days(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_types() -> Vec<Column> {
        [
            "boolean",
            "tinyint",
            "smallint",
            "int",
            "bigint",
            "float",
            "double",
            "decimal(10,2)",
            "varchar(10)",
            "char(3)",
            "string",
            "binary",
            "date",
            "datetime",
            "timestamp",
            "timestamp_ntz",
            "interval_day_time",
            "interval_year_month",
            "array<bigint>",
            "map<string,bigint>",
            "map<bigint,string>",
            "struct<a:bigint,b:string>",
            "json",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| Column::new(format!("c{i}"), t.parse().unwrap()))
        .collect()
    }

    #[test]
    fn json_arrow_round_trip_every_type() {
        let cols = all_types();
        let row = serde_json::json!([
            true, -1, 300, 70000, 1234567890123i64, 1.5, -0.25, "-12.34", "vc", "abc", "日本",
            "AAE=", "2024-02-29", "2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05.123456789Z",
            "1970-01-01T00:00:01.500000000", {"seconds": 86402, "nanos": 3}, 14, [1, null, -3],
            {"k": 7, "z": null}, [[1, "x"]], {"a": 5, "b": null}, "{\"a\": [1, 2]}"
        ]);
        let vals = row_from_json(&cols, &row).unwrap();
        let batch = build_batch(&cols, &[vals.clone(), vec![Value::Null; cols.len()]]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let back = row_values(&batch, &cols, 0).unwrap();
        assert_eq!(back, vals);
        let j = row_to_json(&cols, &back);
        let again = row_from_json(&cols, &j).unwrap();
        assert_eq!(again, vals);
        assert!(
            row_values(&batch, &cols, 1)
                .unwrap()
                .iter()
                .all(|v| *v == Value::Null)
        );
        assert_eq!(j["c7"], "-12.34");
        assert_eq!(j["c13"], "2024-01-02T03:04:05.000Z");
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("12.34", 10, 2).unwrap(), 1234);
        assert_eq!(parse_decimal("-0.5", 18, 4).unwrap(), -5000);
        assert_eq!(parse_decimal("1E+2", 10, 2).unwrap(), 10000);
        assert_eq!(parse_decimal("1.005", 10, 2).unwrap(), 101);
        assert_eq!(parse_decimal(".5", 3, 1).unwrap(), 5);
        assert!(parse_decimal("1000", 3, 0).is_err());
        assert!(parse_decimal("abc", 3, 0).is_err());
        assert!(parse_decimal("1e999999", 3, 0).is_err());
        assert_eq!(format_decimal(-5000, 4), "-0.5000");
        assert_eq!(format_decimal(1234, 2), "12.34");
        assert_eq!(format_decimal(5, 3), "0.005");
        assert_eq!(format_decimal(7, 0), "7");
    }

    #[test]
    fn rejects_bad_rows() {
        let cols = vec![Column::new("a", OdpsType::TinyInt).not_null()];
        assert!(row_from_json(&cols, &serde_json::json!({"a": 300})).is_err());
        assert!(row_from_json(&cols, &serde_json::json!({"b": 1})).is_err());
        assert!(row_from_json(&cols, &serde_json::json!([1, 2])).is_err());
        assert!(build_batch(&cols, &[vec![Value::Null]]).is_err());
        let v = row_from_json(&cols, &serde_json::json!({"A": "5"})).unwrap();
        assert_eq!(v, vec![Value::Int(5)]);
    }
}
