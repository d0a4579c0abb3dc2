//! Input and output data: CSV (with a header) and newline-delimited JSON, converted to and
//! from Arrow batches of a table's schema.
//!
//! Input conversion is strict and names the place of every problem: the line (CSV: the
//! record, counting the header as line 1; a quoted field that spans lines counts once), the
//! column and the value.

use std::fmt;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Schema, SchemaRef};
use maxc_core::types::{OdpsType, TableSchema};

pub mod csv_in;
pub mod json_in;
pub mod out;
pub mod text;

/// Rows per batch read from input.
pub const BATCH_ROWS: usize = 8_192;
/// Longest value shown in an error message (longer ones are cut).
const SHOWN_VALUE_CHARS: usize = 60;

/// The data formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header line; an empty field is NULL.
    Csv,
    /// Newline-delimited JSON: one object per line.
    Json,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Csv => "CSV",
            Format::Json => "JSON",
        })
    }
}

/// Input that cannot be turned into rows of the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// The input is empty (CSV: no header line).
    #[error("the input is empty (a CSV input needs a header line)")]
    Empty,
    /// A header or key that is not a column of the table.
    #[error("line {line}: `{column}` is not a column of table {table} (columns: {expected})")]
    UnknownColumn {
        /// The line (1 for a CSV header).
        line: u64,
        /// The name as given.
        column: String,
        /// The table.
        table: String,
        /// The columns that may appear, comma separated.
        expected: String,
    },
    /// A CSV header names a column twice.
    #[error("line 1: column `{column}` appears twice in the header")]
    DuplicateColumn {
        /// The column.
        column: String,
    },
    /// A NOT NULL column (or a dynamic partition column) is not in the CSV header.
    #[error("line 1: column `{column}` ({ty}{}) is missing from the header", if *.partition { ", a partition column" } else { " NOT NULL" })]
    MissingColumn {
        /// The column.
        column: String,
        /// Its type.
        ty: String,
        /// Whether it is a dynamic partition column.
        partition: bool,
    },
    /// A value that is not a valid value of its column's type.
    #[error("line {line}, column `{column}`: `{value}` is not a valid {ty}{}", reason_suffix(.reason))]
    BadValue {
        /// The line.
        line: u64,
        /// The column.
        column: String,
        /// The value as given (cut when long).
        value: String,
        /// The column's type.
        ty: String,
        /// More detail, when there is some.
        reason: String,
    },
    /// NULL (or a missing value) in a NOT NULL column or a dynamic partition column.
    #[error("line {line}, column `{column}`: {what} is missing or NULL")]
    Null {
        /// The line.
        line: u64,
        /// The column.
        column: String,
        /// `the NOT NULL column` or `the partition value`.
        what: &'static str,
    },
    /// A line that is not valid in the format.
    #[error("{}invalid {format}: {reason}", line_prefix(*.line))]
    Syntax {
        /// The line, when known.
        line: Option<u64>,
        /// The format.
        format: Format,
        /// What is wrong.
        reason: String,
    },
    /// A value the table refused (too long for a VARCHAR, an invalid partition value, …).
    #[error("line {line}, column `{column}`: {reason}")]
    Refused {
        /// The line.
        line: u64,
        /// The column.
        column: String,
        /// Why.
        reason: String,
    },
    /// A column type this format cannot carry.
    #[error("column `{column}` has type {ty}, which {format} input does not support")]
    UnsupportedType {
        /// The column.
        column: String,
        /// The type.
        ty: String,
        /// The format.
        format: Format,
    },
    /// A JSON line whose values do not fit the columns.
    #[error("line {line}: {reason}")]
    Decode {
        /// The line.
        line: u64,
        /// The decoder's message (names the field and the value).
        reason: String,
    },
    /// Rows the table refused, without a row to point at.
    #[error("the table refused the rows: {0}")]
    Rejected(String),
    /// Reading the input failed.
    #[error("reading the input: {0}")]
    Read(String),
}

fn line_prefix(line: Option<u64>) -> String {
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

/// `value` cut to a length fit for an error message.
pub fn shown(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(SHOWN_VALUE_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// The offset spelling of UTC, which formatting understands without a time zone database.
const UTC_OFFSET: &str = "+00:00";

/// `t` with every `UTC` time zone (at any depth) spelled as `+00:00`.
pub fn offset_type(t: &DataType) -> DataType {
    let field = |f: &FieldRef| -> FieldRef {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(offset_type(f.data_type())),
        )
    };
    match t {
        DataType::Timestamp(unit, Some(tz)) if tz.eq_ignore_ascii_case("UTC") => {
            DataType::Timestamp(*unit, Some(UTC_OFFSET.into()))
        }
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        DataType::Struct(fs) => DataType::Struct(fs.iter().map(field).collect()),
        other => other.clone(),
    }
}

/// `array` relabelled to `to` when its type is the [`offset_type`] of `to`.
pub fn relabel(array: ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == to {
        Ok(array)
    } else {
        arrow_cast::cast(array.as_ref(), to)
    }
}

/// A column the input may (or must) carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    /// The name, as the table spells it.
    pub name: String,
    /// The type.
    pub ty: OdpsType,
    /// Whether NULL is allowed (false for NOT NULL columns and dynamic partition columns).
    pub nullable: bool,
    /// A partition column.
    pub partition: bool,
    /// Accepted in the input but not written (static partition columns).
    pub ignored: bool,
}

impl TargetColumn {
    /// The Arrow field of the column (always nullable: NULLs are checked with line numbers).
    pub fn field(&self) -> Field {
        self.ty.to_arrow_field(&self.name, true)
    }

    /// What a NULL in this column is, for [`DataError::Null`].
    fn null_what(&self) -> &'static str {
        if self.partition {
            "the partition value"
        } else {
            "the NOT NULL column"
        }
    }
}

/// The columns rows are converted to: the table's data columns, then its dynamic partition
/// columns; static partition columns are accepted in the input and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The table (for messages).
    pub table: String,
    /// Every column the input may carry, written ones first.
    pub columns: Vec<TargetColumn>,
}

impl Target {
    /// The target for `schema`: data columns, then the partition columns in `dynamic`
    /// (written, never NULL), then the other partition columns (accepted and dropped).
    pub fn new(table: &str, schema: &TableSchema, dynamic: &[String]) -> Self {
        let mut columns: Vec<TargetColumn> = schema
            .columns
            .iter()
            .map(|c| TargetColumn {
                name: c.name.clone(),
                ty: c.ty.clone(),
                nullable: c.nullable,
                partition: false,
                ignored: false,
            })
            .collect();
        let is_dynamic = |name: &str| dynamic.iter().any(|d| d.eq_ignore_ascii_case(name));
        for pass_dynamic in [true, false] {
            for c in &schema.partition_columns {
                if is_dynamic(&c.name) == pass_dynamic {
                    columns.push(TargetColumn {
                        name: c.name.clone(),
                        ty: c.ty.clone(),
                        nullable: !pass_dynamic,
                        partition: true,
                        ignored: !pass_dynamic,
                    });
                }
            }
        }
        Self {
            table: table.to_string(),
            columns,
        }
    }

    /// The index of the column named `name` (case-insensitive).
    pub fn find(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The written columns, comma separated (for messages).
    pub fn names(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The Arrow schema of the written columns.
    pub fn output_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .filter(|c| !c.ignored)
                .map(TargetColumn::field)
                .collect::<Vec<_>>(),
        ))
    }
}

/// The input line of each row of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lines {
    /// Row `i` is on line `start + i`.
    From(u64),
    /// Row `i` is on line `lines[i]`.
    Each(Vec<u64>),
}

impl Lines {
    /// The line of row `row`.
    pub fn line(&self, row: usize) -> u64 {
        match self {
            Lines::From(start) => start.saturating_add(row as u64),
            Lines::Each(v) => v.get(row).copied().unwrap_or(0),
        }
    }
}

/// Rows read from the input: a batch of the target's written columns, with their lines.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// The rows.
    pub batch: RecordBatch,
    /// Where each row came from.
    pub lines: Lines,
}

/// Checks that `array` (column `col`) has no NULL where the column forbids it.
pub fn check_nulls(col: &TargetColumn, array: &dyn Array, lines: &Lines) -> Result<(), DataError> {
    if col.nullable || array.null_count() == 0 {
        return Ok(());
    }
    match (0..array.len()).find(|&i| array.is_null(i)) {
        Some(row) => Err(DataError::Null {
            line: lines.line(row),
            column: col.name.clone(),
            what: col.null_what(),
        }),
        None => Ok(()),
    }
}

/// Checks that VARCHAR(n) and CHAR(n) values have at most n characters.
pub fn check_length(col: &TargetColumn, array: &dyn Array, lines: &Lines) -> Result<(), DataError> {
    let (OdpsType::Varchar(n) | OdpsType::Char(n)) = col.ty else {
        return Ok(());
    };
    let Some(strings) = array.as_string_opt::<i32>() else {
        return Ok(());
    };
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    for (row, v) in strings.iter().enumerate() {
        if let Some(v) = v
            && v.len() > limit
            && v.chars().count() > limit
        {
            return Err(DataError::BadValue {
                line: lines.line(row),
                column: col.name.clone(),
                value: shown(v),
                ty: col.ty.to_string().to_uppercase(),
                reason: format!("longer than {n} characters"),
            });
        }
    }
    Ok(())
}

/// Assembles the written columns (`arrays` in target order, `None` for absent columns, which
/// become NULL) into a batch, checking NOT NULL columns.
pub fn assemble(
    target: &Target,
    arrays: Vec<Option<ArrayRef>>,
    rows: usize,
    lines: Lines,
) -> Result<Chunk, DataError> {
    let mut out = Vec::new();
    for (col, array) in target.columns.iter().zip(arrays) {
        if col.ignored {
            continue;
        }
        let array = match array {
            Some(a) => a,
            None => arrow_array::new_null_array(&col.ty.to_arrow(), rows),
        };
        check_nulls(col, array.as_ref(), &lines)?;
        check_length(col, array.as_ref(), &lines)?;
        out.push(array);
    }
    let batch = RecordBatch::try_new(target.output_schema(), out)
        .map_err(|e| DataError::Read(format!("assembling rows: {e}")))?;
    Ok(Chunk { batch, lines })
}

#[cfg(test)]
mod tests;
