//! Text values (CSV fields) to Arrow arrays of a column's type.
//!
//! | type | text |
//! |---|---|
//! | STRING, VARCHAR, CHAR, JSON | as is |
//! | BOOLEAN | `true`/`false` (also `t`/`f`, `yes`/`no`, `1`/`0`) |
//! | integers, FLOAT, DOUBLE, DECIMAL | decimal text |
//! | DATE | `2024-01-31` |
//! | DATETIME, TIMESTAMP, TIMESTAMP_NTZ | `2024-01-31T12:00:00.123` (a space may replace `T`; an offset or `Z` may follow; no offset means UTC) |
//! | BINARY | hexadecimal (`00ff10`) |
//! | ARRAY, MAP, STRUCT | JSON text (`["a","b"]`, `{"k":1}`) |
//! | INTERVAL_* | Arrow interval text (`1 day 2 hours`) |

use std::sync::Arc;

use arrow_array::builder::BinaryBuilder;
use arrow_array::{Array, ArrayRef, StringArray};
use arrow_cast::{CastOptions, cast_with_options};
use arrow_schema::{DataType, Schema};
use maxc_core::types::OdpsType;

use super::json_in::decode_rows;
use super::{DataError, Format, Lines, TargetColumn, offset_type, relabel, shown};

/// Converts the text column `text` to `col`'s type; the first bad value is an error naming
/// its line.
pub fn convert(
    col: &TargetColumn,
    text: &StringArray,
    lines: &Lines,
) -> Result<ArrayRef, DataError> {
    match &col.ty {
        OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
            Ok(Arc::new(text.clone()))
        }
        OdpsType::Binary => hex_column(col, text, lines),
        OdpsType::Array(_) | OdpsType::Map(_, _) | OdpsType::Struct(_) => {
            json_cells(col, text, lines)
        }
        _ => cast_column(col, text, lines),
    }
}

fn bad_value(col: &TargetColumn, line: u64, value: &str, reason: String) -> DataError {
    DataError::BadValue {
        line,
        column: col.name.clone(),
        value: shown(value),
        ty: col.ty.to_string().to_uppercase(),
        reason,
    }
}

fn cast_column(
    col: &TargetColumn,
    text: &StringArray,
    lines: &Lines,
) -> Result<ArrayRef, DataError> {
    // Instants are parsed with the offset spelling of UTC, then carry the column's time zone
    // name (parsing the name itself would need a time zone database).
    let to = col.ty.to_arrow();
    let out = cast_text(col, text, lines, &offset_type(&to))?;
    relabel(out, &to).map_err(|e| DataError::Read(format!("column `{}`: {e}", col.name)))
}

fn cast_text(
    col: &TargetColumn,
    text: &StringArray,
    lines: &Lines,
    to: &DataType,
) -> Result<ArrayRef, DataError> {
    let options = CastOptions {
        safe: true,
        ..CastOptions::default()
    };
    let located =
        |row: usize, reason: String| bad_value(col, lines.line(row), text.value(row), reason);
    match cast_with_options(text, to, &options) {
        Ok(out) => {
            // A value that did not parse comes back as NULL.
            if out.null_count() > text.null_count()
                && let Some(row) = (0..text.len()).find(|&i| text.is_valid(i) && out.is_null(i))
            {
                return Err(located(row, String::new()));
            }
            Ok(out)
        }
        Err(e) => {
            // Find the value that fails on its own.
            for row in (0..text.len()).filter(|&i| text.is_valid(i)) {
                let one = text.slice(row, 1);
                match cast_with_options(&one, to, &options) {
                    Ok(a) if a.is_valid(0) => {}
                    Ok(_) => return Err(located(row, String::new())),
                    Err(e) => return Err(located(row, e.to_string())),
                }
            }
            Err(DataError::Read(format!("column `{}`: {e}", col.name)))
        }
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes hexadecimal text (an even number of digits).
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err("hexadecimal text needs an even number of digits".into());
    }
    b.chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match (pair.first(), pair.get(1)) {
            (Some(&h), Some(&l)) => match (hex_digit(h), hex_digit(l)) {
                (Some(h), Some(l)) => Ok(h << 4 | l),
                _ => Err(format!("not a hexadecimal digit at position {}", i * 2)),
            },
            _ => Err("hexadecimal text needs an even number of digits".into()),
        })
        .collect()
}

fn hex_column(
    col: &TargetColumn,
    text: &StringArray,
    lines: &Lines,
) -> Result<ArrayRef, DataError> {
    let mut b = BinaryBuilder::with_capacity(text.len(), text.value_data().len() / 2);
    for (row, v) in text.iter().enumerate() {
        match v {
            None => b.append_null(),
            Some(s) => match decode_hex(s) {
                Ok(bytes) => b.append_value(bytes),
                Err(reason) => return Err(bad_value(col, lines.line(row), s, reason)),
            },
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Nested values written as JSON text: each cell becomes `{"v": <cell>}` and goes through
/// the JSON decoder.
fn json_cells(
    col: &TargetColumn,
    text: &StringArray,
    lines: &Lines,
) -> Result<ArrayRef, DataError> {
    let mut field = col.field();
    field.set_name("v");
    let schema = Arc::new(Schema::new(vec![field]));
    let docs: Vec<Vec<u8>> = text
        .iter()
        .map(|v| match v {
            None => b"{}".to_vec(),
            Some(s) => {
                let mut d = Vec::with_capacity(s.len() + 8);
                d.extend_from_slice(b"{\"v\":");
                d.extend_from_slice(s.as_bytes());
                d.push(b'}');
                d
            }
        })
        .collect();
    // Cells that are not one JSON value are refused before decoding.
    for (row, v) in text.iter().enumerate() {
        if let Some(s) = v
            && let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(s)
        {
            return Err(bad_value(
                col,
                lines.line(row),
                s,
                format!("not JSON text: {e}"),
            ));
        }
    }
    let refs: Vec<&[u8]> = docs.iter().map(Vec::as_slice).collect();
    match decode_rows(schema, &refs, true) {
        Ok(batch) => batch
            .columns()
            .first()
            .cloned()
            .ok_or_else(|| DataError::Read(format!("column `{}`: no array decoded", col.name))),
        Err((row, e)) => {
            let value = if row < text.len() && text.is_valid(row) {
                text.value(row)
            } else {
                ""
            };
            Err(bad_value(col, lines.line(row), value, e.to_string()))
        }
    }
}

/// Whether `ty` can be read from JSON (the JSON decoder has no interval types).
pub fn json_readable(ty: &OdpsType) -> bool {
    match ty {
        OdpsType::IntervalDayTime | OdpsType::IntervalYearMonth => false,
        OdpsType::Array(e) => json_readable(e),
        OdpsType::Map(k, v) => json_readable(k) && json_readable(v),
        OdpsType::Struct(fields) => fields.iter().all(|f| json_readable(&f.ty)),
        _ => true,
    }
}

/// A format's check that every column of `cols` can be read.
pub fn check_readable(cols: &[TargetColumn], format: Format) -> Result<(), DataError> {
    for c in cols {
        let nested = matches!(
            c.ty,
            OdpsType::Array(_) | OdpsType::Map(_, _) | OdpsType::Struct(_)
        );
        let ok = match format {
            Format::Json => json_readable(&c.ty),
            Format::Csv => !nested || json_readable(&c.ty),
        };
        if !ok {
            return Err(DataError::UnsupportedType {
                column: c.name.clone(),
                ty: c.ty.to_string(),
                format,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        assert_eq!(decode_hex("00ff1A").unwrap(), vec![0, 255, 26]);
        assert_eq!(decode_hex("").unwrap(), Vec::<u8>::new());
        assert!(decode_hex("abc").is_err());
        assert!(decode_hex("zz").unwrap_err().contains("position 0"));
        assert!(decode_hex("00é").is_err());
    }
}
