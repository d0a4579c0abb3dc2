//! CSV input: a header line naming columns (any order, case-insensitive), then one record
//! per row. An empty field is NULL; nullable columns left out of the header are NULL.

use std::io::BufRead;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, StringArray};
use arrow_csv::reader::{Decoder, Format as CsvFormat};
use arrow_schema::{ArrowError, DataType, Field, Schema};

use super::text::{check_readable, convert};
use super::{BATCH_ROWS, Chunk, DataError, Format, Lines, Target, assemble};

/// Size of the reads from the input.
const READ_BYTES: usize = 1 << 16;

/// Reads CSV from `input` in chunks of [`BATCH_ROWS`] rows.
pub struct CsvReader<R> {
    input: R,
    target: Target,
    /// For each CSV field: the target column it fills.
    fields: Vec<usize>,
    decoder: Decoder,
    /// Line of the next record.
    next_line: u64,
    done: bool,
}

impl<R: BufRead> CsvReader<R> {
    /// Reads the header and checks it against `target`.
    pub fn new(mut input: R, target: Target) -> Result<Self, DataError> {
        let mut header = Vec::new();
        input
            .read_until(b'\n', &mut header)
            .map_err(|e| DataError::Read(e.to_string()))?;
        if header.starts_with(b"\xEF\xBB\xBF") {
            header.drain(..3);
        }
        if header.iter().all(u8::is_ascii_whitespace) {
            return Err(DataError::Empty);
        }
        let (schema, _) = CsvFormat::default()
            .with_header(true)
            .infer_schema(header.as_slice(), Some(0))
            .map_err(|e| DataError::Syntax {
                line: Some(1),
                format: Format::Csv,
                reason: csv_reason(&e),
            })?;
        let mut fields = Vec::new();
        for f in schema.fields() {
            let name = f.name().trim();
            let Some(i) = target.find(name) else {
                return Err(DataError::UnknownColumn {
                    line: 1,
                    column: name.to_string(),
                    table: target.table.clone(),
                    expected: target.names(),
                });
            };
            if fields.contains(&i) {
                return Err(DataError::DuplicateColumn {
                    column: name.to_string(),
                });
            }
            fields.push(i);
        }
        for (i, c) in target.columns.iter().enumerate() {
            if !c.nullable && !fields.contains(&i) {
                return Err(DataError::MissingColumn {
                    column: c.name.clone(),
                    ty: c.ty.to_string(),
                    partition: c.partition,
                });
            }
        }
        let read: Vec<_> = fields
            .iter()
            .filter_map(|&i| target.columns.get(i).cloned())
            .collect();
        check_readable(&read, Format::Csv)?;
        let text_schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        // The header goes through the decoder too (and is skipped), so that its record count
        // (and the line numbers in its messages) include the header.
        let mut decoder = arrow_csv::ReaderBuilder::new(text_schema)
            .with_header(true)
            .with_header_validation(false)
            .with_batch_size(BATCH_ROWS)
            .build_decoder();
        feed(&mut decoder, &header)?;
        Ok(Self {
            input,
            target,
            fields,
            decoder,
            next_line: 2,
            done: false,
        })
    }

    /// The next chunk of rows; `Ok(None)` at the end of the input.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>, DataError> {
        if self.done {
            return Ok(None);
        }
        loop {
            if self.decoder.capacity() == 0 {
                break;
            }
            let buf = self
                .input
                .fill_buf()
                .map_err(|e| DataError::Read(e.to_string()))?;
            if buf.is_empty() {
                // End of input: flush a last record without a line end.
                feed(&mut self.decoder, &[])?;
                self.done = true;
                break;
            }
            let take = buf.len().min(READ_BYTES);
            let n = self
                .decoder
                .decode(buf.get(..take).unwrap_or_default())
                .map_err(syntax)?;
            self.input.consume(n);
            if n == 0 {
                break;
            }
        }
        let Some(text) = self.decoder.flush().map_err(syntax)? else {
            return Ok(None);
        };
        let lines = Lines::From(self.next_line);
        self.next_line += text.num_rows() as u64;
        let mut arrays: Vec<Option<ArrayRef>> = vec![None; self.target.columns.len()];
        for (field, &target_index) in self.fields.iter().enumerate() {
            let (Some(col), Some(column)) = (
                self.target.columns.get(target_index),
                text.columns().get(field),
            ) else {
                continue;
            };
            if col.ignored {
                continue;
            }
            let Some(strings) = column.as_string_opt::<i32>() else {
                return Err(DataError::Read(format!(
                    "column `{}` was not read as text",
                    col.name
                )));
            };
            let strings: &StringArray = strings;
            let converted = convert(col, strings, &lines)?;
            debug_assert_eq!(converted.len(), strings.len());
            if let Some(slot) = arrays.get_mut(target_index) {
                *slot = Some(converted);
            }
        }
        assemble(&self.target, arrays, text.num_rows(), lines).map(Some)
    }
}

fn feed(decoder: &mut Decoder, mut buf: &[u8]) -> Result<(), DataError> {
    if buf.is_empty() {
        decoder.decode(buf).map_err(syntax)?;
        return Ok(());
    }
    while !buf.is_empty() {
        let n = decoder.decode(buf).map_err(syntax)?;
        if n == 0 {
            break;
        }
        buf = buf.get(n..).unwrap_or_default();
    }
    Ok(())
}

fn csv_reason(e: &ArrowError) -> String {
    match e {
        ArrowError::CsvError(m) | ArrowError::ParseError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A decoder error (its message names the line, counting the header as line 1).
fn syntax(e: ArrowError) -> DataError {
    let reason = csv_reason(&e);
    let line = line_in(&reason);
    DataError::Syntax {
        line,
        format: Format::Csv,
        reason,
    }
}

/// The number after `line ` in an arrow-csv message.
fn line_in(message: &str) -> Option<u64> {
    let at = message.find("line ")?;
    let digits: String = message
        .get(at + 5..)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

impl<R: BufRead> Iterator for CsvReader<R> {
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
