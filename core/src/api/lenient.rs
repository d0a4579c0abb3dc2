//! Lenient serde deserializers for service JSON: strings that arrive as numbers or booleans,
//! booleans as `"true"`/`"false"` strings, numbers as numeric strings, `null` as "absent".

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn value_to_string(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

fn value_to_bool<E: serde::de::Error>(v: Value) -> Result<Option<bool>, E> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::Number(n) => Ok(Some(n.as_f64().is_some_and(|f| f != 0.0))),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Some(true)),
            "false" | "0" | "no" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(E::custom(format!("expected a boolean, found `{s}`"))),
        },
        other => Err(E::custom(format!("expected a boolean, found {other}"))),
    }
}

fn value_to_i64<E: serde::de::Error>(v: Value) -> Result<Option<i64>, E> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if let Some(u) = n.as_u64() {
                i64::try_from(u)
                    .map(Some)
                    .map_err(|_| E::custom(format!("number {u} out of range")))
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
                    _ => Err(E::custom(format!("expected an integer, found {n}"))),
                }
            }
        }
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| E::custom(format!("expected an integer, found `{s}`"))),
        other => Err(E::custom(format!("expected an integer, found {other}"))),
    }
}

/// A string; numbers and booleans are printed, `null` is empty.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(value_to_string(Value::deserialize(d)?).unwrap_or_default())
}

/// An optional string; numbers and booleans are printed.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(value_to_string(Value::deserialize(d)?))
}

/// An optional boolean from a bool, a `"true"`/`"false"` string or 0/1.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    value_to_bool(Value::deserialize(d)?)
}

/// A boolean that defaults to true (nullability).
pub fn bool_default_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(value_to_bool::<D::Error>(Value::deserialize(d)?)?.unwrap_or(true))
}

/// A boolean that defaults to false.
pub fn bool_default_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(value_to_bool::<D::Error>(Value::deserialize(d)?)?.unwrap_or(false))
}

/// An optional integer from a number or a numeric string.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    value_to_i64(Value::deserialize(d)?)
}

/// An optional non-negative integer (up to `u64::MAX`).
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Value::deserialize(d)?;
    if let Value::Number(n) = &v
        && let Some(u) = n.as_u64()
    {
        return Ok(Some(u));
    }
    if let Value::String(s) = &v
        && let Ok(u) = s.trim().parse::<u64>()
    {
        return Ok(Some(u));
    }
    match value_to_i64::<D::Error>(v)? {
        None => Ok(None),
        Some(i) => u64::try_from(i)
            .map(Some)
            .map_err(|_| D::Error::custom(format!("expected a non-negative integer, found {i}"))),
    }
}

/// A required integer (number or numeric string).
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    value_to_i64::<D::Error>(Value::deserialize(d)?)?
        .ok_or_else(|| D::Error::custom("expected an integer, found null"))
}

/// A list whose `null` means empty.
pub fn vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// An optional list of strings whose items may be numbers.
pub fn opt_string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Array(items) => Ok(Some(
            items.into_iter().filter_map(value_to_string).collect(),
        )),
        other => Err(D::Error::custom(format!("expected a list, found {other}"))),
    }
}

/// A list of integers whose items may be numeric strings; `null` is empty.
pub fn i64_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|v| {
                value_to_i64::<D::Error>(v)?
                    .ok_or_else(|| D::Error::custom("null in an integer list"))
            })
            .collect::<Result<Vec<_>, _>>(),
        other => Err(D::Error::custom(format!("expected a list, found {other}"))),
    }
}

/// Stream slots: `[["1","10.0.0.5:8080"], …]`; ids may be numbers.
pub fn opt_slot_pairs<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<(String, String)>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(pair) if pair.len() == 2 => {
                    let mut it = pair.into_iter();
                    let id = it.next().and_then(value_to_string).unwrap_or_default();
                    let addr = it.next().and_then(value_to_string).unwrap_or_default();
                    Ok((id, addr))
                }
                other => Err(D::Error::custom(format!(
                    "expected a [slot_id, \"ip:port\"] pair, found {other}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        other => Err(D::Error::custom(format!(
            "expected a list of slots, found {other}"
        ))),
    }
}
