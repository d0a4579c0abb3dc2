//! Output: Arrow batches as CSV (with a header) or newline-delimited JSON, in the forms the
//! input side reads back (binary as hexadecimal, nested values as JSON text in CSV).

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_json::writer::{EncoderOptions, LineDelimited, make_encoder};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Schema, SchemaRef};

use super::{Format, offset_type};

/// Writes batches in one format.
pub enum BatchWriter<W: Write> {
    /// CSV.
    Csv(Box<arrow_csv::Writer<W>>),
    /// NDJSON.
    Json(arrow_json::Writer<W, LineDelimited>),
}

impl<W: Write> BatchWriter<W> {
    /// A writer of `format` into `out` (CSV writes its header with the first batch).
    pub fn new(format: Format, out: W) -> Self {
        match format {
            Format::Csv => BatchWriter::Csv(Box::new(
                arrow_csv::WriterBuilder::new().with_header(true).build(out),
            )),
            Format::Json => BatchWriter::Json(
                arrow_json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, LineDelimited>(out),
            ),
        }
    }

    /// Writes `batch`.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let batch = utc_as_offset(batch)?;
        match self {
            BatchWriter::Csv(w) => w.write(&csv_ready(&batch)?),
            BatchWriter::Json(w) => w.write(&batch),
        }
    }

    /// Finishes the output and flushes it.
    pub fn finish(self) -> Result<(), ArrowError> {
        match self {
            BatchWriter::Csv(w) => w.into_inner().flush().map_err(ArrowError::from),
            BatchWriter::Json(mut w) => {
                w.finish()?;
                w.get_mut().flush().map_err(ArrowError::from)
            }
        }
    }
}

/// The batch with `UTC` timestamps relabelled `+00:00` (the same instants): Arrow's formatter
/// only knows offset time zones.
pub fn utc_as_offset(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let types: Vec<DataType> = schema
        .fields()
        .iter()
        .map(|f| offset_type(f.data_type()))
        .collect();
    if schema
        .fields()
        .iter()
        .zip(&types)
        .all(|(f, t)| f.data_type() == t)
    {
        return Ok(batch.clone());
    }
    let mut fields: Vec<FieldRef> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for ((f, a), t) in schema.fields().iter().zip(batch.columns()).zip(types) {
        if f.data_type() == &t {
            fields.push(f.clone());
            columns.push(a.clone());
        } else {
            columns.push(arrow_cast::cast(a.as_ref(), &t)?);
            fields.push(Arc::new(f.as_ref().clone().with_data_type(t)));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)) as SchemaRef, columns)
}

fn is_nested(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_) | DataType::LargeList(_) | DataType::Map(_, _) | DataType::Struct(_)
    )
}

/// The batch with binary columns as hexadecimal text and nested columns as JSON text.
pub fn csv_ready(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| is_nested(f.data_type()) || matches!(f.data_type(), DataType::Binary))
    {
        return Ok(batch.clone());
    }
    let mut fields: Vec<FieldRef> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (f, a) in schema.fields().iter().zip(batch.columns()) {
        if is_nested(f.data_type()) {
            columns.push(json_text(f, a.as_ref())?);
            fields.push(Arc::new(Field::new(f.name(), DataType::Utf8, true)));
        } else if let Some(b) = a.as_binary_opt::<i32>() {
            let mut out = StringBuilder::with_capacity(b.len(), b.value_data().len() * 2);
            for v in b.iter() {
                match v {
                    Some(bytes) => out.append_value(hex(bytes)),
                    None => out.append_null(),
                }
            }
            columns.push(Arc::new(out.finish()));
            fields.push(Arc::new(Field::new(f.name(), DataType::Utf8, true)));
        } else {
            columns.push(a.clone());
            fields.push(f.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)) as SchemaRef, columns)
}

/// Lower-case hexadecimal text of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Each value of a nested column as JSON text.
fn json_text(field: &FieldRef, array: &dyn Array) -> Result<ArrayRef, ArrowError> {
    let options = EncoderOptions::default().with_explicit_nulls(true);
    let mut enc = make_encoder(field, array, &options)?;
    let mut out = StringBuilder::with_capacity(array.len(), array.len() * 16);
    let mut buf = Vec::new();
    for i in 0..array.len() {
        if enc.is_null(i) {
            out.append_null();
            continue;
        }
        buf.clear();
        enc.encode(i, &mut buf);
        out.append_value(String::from_utf8_lossy(&buf));
    }
    Ok(Arc::new(out.finish()))
}
