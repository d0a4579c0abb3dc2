//! Newline-delimited JSON input: one object per line, keys are column names (case as the
//! table spells them), a missing key or `null` is NULL. Blank lines are skipped.

use std::io::BufRead;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::ReaderBuilder;
use arrow_schema::{ArrowError, Schema, SchemaRef};

use super::text::check_readable;
use super::{BATCH_ROWS, Chunk, DataError, Format, Lines, Target, assemble, offset_type, relabel};

/// Decodes complete JSON documents (one row each) against `schema`. On failure returns the
/// index of the first row that fails on its own, with the decoder's error. `strict`: keys
/// that are not fields are errors.
///
/// Time zones named `UTC` are decoded as `+00:00` (the decoder only knows offsets) and
/// relabelled.
pub fn decode_rows(
    schema: SchemaRef,
    rows: &[&[u8]],
    strict: bool,
) -> Result<RecordBatch, (usize, ArrowError)> {
    let decode_schema: SchemaRef = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                f.as_ref()
                    .clone()
                    .with_data_type(offset_type(f.data_type()))
            })
            .collect::<Vec<_>>(),
    ));
    let decoded = decode_located(decode_schema, rows, strict)?;
    if decoded.schema() == schema {
        return Ok(decoded);
    }
    let columns = decoded
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(a, f)| relabel(a.clone(), f.data_type()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (0, e))?;
    RecordBatch::try_new(schema, columns).map_err(|e| (0, e))
}

fn decode_located(
    schema: SchemaRef,
    rows: &[&[u8]],
    strict: bool,
) -> Result<RecordBatch, (usize, ArrowError)> {
    match decode_all(schema.clone(), rows, strict) {
        Ok(b) => Ok(b),
        Err(e) => {
            for (i, row) in rows.iter().enumerate() {
                if let Err(e) = decode_all(schema.clone(), std::slice::from_ref(row), strict) {
                    return Err((i, e));
                }
            }
            Err((0, e))
        }
    }
}

fn decode_all(schema: SchemaRef, rows: &[&[u8]], strict: bool) -> Result<RecordBatch, ArrowError> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .with_strict_mode(strict)
        .build_decoder()?;
    for row in rows {
        for part in [*row, b"\n".as_slice()] {
            let mut buf = part;
            while !buf.is_empty() {
                let n = decoder.decode(buf)?;
                if n == 0 {
                    return Err(ArrowError::JsonError("the decoder took no input".into()));
                }
                buf = buf.get(n..).unwrap_or_default();
            }
        }
    }
    if decoder.has_partial_record() {
        return Err(ArrowError::JsonError("incomplete JSON object".into()));
    }
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema)))
}

/// Reads NDJSON from `input` in chunks of [`BATCH_ROWS`] rows.
pub struct JsonReader<R> {
    input: R,
    target: Target,
    schema: SchemaRef,
    line: u64,
    done: bool,
}

impl<R: BufRead> JsonReader<R> {
    /// A reader of rows for `target`.
    pub fn new(input: R, target: Target) -> Result<Self, DataError> {
        check_readable(&target.columns, Format::Json)?;
        let schema = Arc::new(Schema::new(
            target.columns.iter().map(|c| c.field()).collect::<Vec<_>>(),
        ));
        Ok(Self {
            input,
            target,
            schema,
            line: 0,
            done: false,
        })
    }

    /// The next chunk of rows; `Ok(None)` at the end of the input.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, DataError> {
        if self.done {
            return Ok(None);
        }
        let mut docs: Vec<Vec<u8>> = Vec::new();
        let mut lines: Vec<u64> = Vec::new();
        while docs.len() < BATCH_ROWS {
            let mut buf = Vec::new();
            let n = self
                .input
                .read_until(b'\n', &mut buf)
                .map_err(|e| DataError::Read(e.to_string()))?;
            if n == 0 {
                self.done = true;
                break;
            }
            self.line += 1;
            if self.line == 1 && buf.starts_with(b"\xEF\xBB\xBF") {
                buf.drain(..3);
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            while buf.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                buf.pop();
            }
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&buf) {
                return Err(DataError::Syntax {
                    line: Some(self.line),
                    format: Format::Json,
                    reason: syntax_reason(&e),
                });
            }
            docs.push(buf);
            lines.push(self.line);
        }
        if docs.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&[u8]> = docs.iter().map(Vec::as_slice).collect();
        let lines = Lines::Each(lines);
        let batch = decode_rows(self.schema.clone(), &refs, true)
            .map_err(|(row, e)| decode_error(lines.line(row), &e, &self.target))?;
        let rows = batch.num_rows();
        let arrays = batch.columns().iter().cloned().map(Some).collect();
        assemble(&self.target, arrays, rows, lines).map(Some)
    }
}

/// serde's message, with the position as a column of the line.
fn syntax_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&position) {
        Some(head) => format!("{head} (column {})", e.column()),
        None => text,
    }
}

/// The decoder's error on `line` as a [`DataError`].
fn decode_error(line: u64, e: &ArrowError, target: &Target) -> DataError {
    let text = match e {
        ArrowError::JsonError(m) | ArrowError::ParseError(m) => m.clone(),
        other => other.to_string(),
    };
    // Strict mode names a key that is not a column as "column 'k' missing from schema".
    let unknown = text
        .strip_prefix("column '")
        .and_then(|rest| rest.strip_suffix("' missing from schema"));
    match unknown {
        Some(column) => DataError::UnknownColumn {
            line,
            column: column.to_string(),
            table: target.table.clone(),
            expected: target.names(),
        },
        None => DataError::Decode { line, reason: text },
    }
}

impl<R: BufRead> Iterator for JsonReader<R> {
    type Item = Result<Chunk, DataError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_chunk() {
            Ok(Some(c)) => Some(Ok(c)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
