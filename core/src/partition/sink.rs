//! The `partition` option of sinks: a static partition, or dynamic partition columns whose
//! values come from each row.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

use super::parse;
use super::{PartitionError, PartitionSpec, SpecCoverage, partition_column_list};
use crate::types::TableSchema;

/// A dynamic partition value could not be taken from a row.
///
/// There is **no default partition**: a NULL or empty value fails the batch with an error
/// naming the column and row, instead of silently writing to a catch-all partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// The batch has no column with that name (names compare case-insensitively).
    #[error("dynamic partition column `{column}` is not in the record batch")]
    MissingColumn {
        /// The partition column.
        column: String,
    },
    /// The column's Arrow type cannot be turned into a partition value.
    #[error(
        "dynamic partition column `{column}` has Arrow type {data_type}; use a string or integer column"
    )]
    UnsupportedType {
        /// The partition column.
        column: String,
        /// Its Arrow type.
        data_type: String,
    },
    /// A NULL partition value.
    #[error(
        "dynamic partition column `{column}` is NULL in row {row}; partition values cannot be NULL (there is no default partition)"
    )]
    NullValue {
        /// The partition column.
        column: String,
        /// Row index in the batch.
        row: usize,
    },
    /// An empty partition value.
    #[error(
        "dynamic partition column `{column}` is empty in row {row}; partition values cannot be empty (there is no default partition)"
    )]
    EmptyValue {
        /// The partition column.
        column: String,
        /// Row index in the batch.
        row: usize,
    },
}

/// Dynamic partition target: an optional static prefix plus columns whose row values give
/// the remaining levels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicPartition {
    /// Static leading levels (`ds=2024` in `ds=2024,hh`); empty when fully dynamic.
    pub static_prefix: PartitionSpec,
    /// The dynamic partition columns, in level order.
    pub columns: Vec<String>,
}

/// The `partition` option of a sink.
///
/// | option | value |
/// |---|---|
/// | `ds=20180905` / `ds=20180905,hh=01` | `Static` |
/// | empty | `Static(empty)`: a non-partitioned table |
/// | `ds` / `ds,hh` | `Dynamic` with no static prefix |
/// | `ds=2024,hh` | `Dynamic` with static prefix `ds=2024` and column `hh` |
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkPartition {
    /// Every row goes to this partition.
    Static(PartitionSpec),
    /// Rows are routed by the values of partition columns.
    Dynamic(DynamicPartition),
}

impl SinkPartition {
    /// Parses the option value. Static levels must come before dynamic ones.
    pub fn parse(input: &str) -> Result<Self, PartitionError> {
        let levels = parse::tokenize(input)?;
        let mut prefix = PartitionSpec::new();
        let mut columns: Vec<String> = Vec::new();
        for level in levels {
            let dup = prefix.get(&level.key).is_some()
                || columns.iter().any(|c| c.eq_ignore_ascii_case(&level.key));
            if dup {
                return Err(PartitionError::DuplicateKey { key: level.key });
            }
            match level.value {
                Some(v) => {
                    if !columns.is_empty() {
                        return Err(PartitionError::StaticAfterDynamic {
                            input: input.to_string(),
                            key: level.key,
                        });
                    }
                    prefix.push(level.key, v.text)?;
                }
                None => columns.push(level.key),
            }
        }
        if columns.is_empty() {
            Ok(SinkPartition::Static(prefix))
        } else {
            Ok(SinkPartition::Dynamic(DynamicPartition {
                static_prefix: prefix,
                columns,
            }))
        }
    }

    /// Checks the target against the table: a static spec must name every partition level;
    /// a dynamic target's static prefix and columns must together be exactly the partition
    /// levels, prefix first. Returns the target with schema spelling.
    pub fn validate(&self, schema: &TableSchema) -> Result<SinkPartition, PartitionError> {
        match self {
            SinkPartition::Static(spec) => spec
                .validate(schema, SpecCoverage::Full)
                .map(SinkPartition::Static),
            SinkPartition::Dynamic(d) => {
                if !schema.is_partitioned() {
                    return Err(PartitionError::NotPartitioned {
                        spec: d.to_string(),
                    });
                }
                let prefix = d.static_prefix.validate(schema, SpecCoverage::Prefix)?;
                let rest = &schema.partition_columns[prefix.len()..];
                for c in &d.columns {
                    if schema.partition_column_index(c).is_none() {
                        return Err(PartitionError::UnknownKey {
                            key: c.clone(),
                            expected: partition_column_list(schema),
                        });
                    }
                }
                let mut columns = Vec::with_capacity(rest.len());
                for (i, col) in rest.iter().enumerate() {
                    if !d.columns.iter().any(|c| c.eq_ignore_ascii_case(&col.name)) {
                        // A later level may be named while this one is missing.
                        if let Some(later) = rest[i..]
                            .iter()
                            .find(|l| d.columns.iter().any(|c| c.eq_ignore_ascii_case(&l.name)))
                        {
                            return Err(PartitionError::NotAPrefix {
                                spec: d.to_string(),
                                key: later.name.clone(),
                                missing: col.name.clone(),
                            });
                        }
                        return Err(PartitionError::MissingLevel {
                            spec: d.to_string(),
                            key: col.name.clone(),
                        });
                    }
                    columns.push(col.name.clone());
                }
                // Columns that were in the static prefix too would have been caught by parse;
                // a dynamic column among the prefix levels means prefix levels were skipped.
                if let Some(c) = d.columns.iter().find(|c| prefix.get(c).is_some()) {
                    return Err(PartitionError::DuplicateKey { key: c.clone() });
                }
                Ok(SinkPartition::Dynamic(DynamicPartition {
                    static_prefix: prefix,
                    columns,
                }))
            }
        }
    }
}

impl std::fmt::Display for DynamicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = self.static_prefix.to_string();
        for c in &self.columns {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(c);
        }
        f.write_str(&out)
    }
}

impl std::fmt::Display for SinkPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkPartition::Static(s) => write!(f, "{s}"),
            SinkPartition::Dynamic(d) => write!(f, "{d}"),
        }
    }
}

/// Reads one column's values as partition strings.
enum ValueColumn<'a> {
    Str(&'a arrow_array::StringArray),
    LargeStr(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
    I8(&'a arrow_array::Int8Array),
    I16(&'a arrow_array::Int16Array),
    I32(&'a arrow_array::Int32Array),
    I64(&'a arrow_array::Int64Array),
    U8(&'a arrow_array::UInt8Array),
    U16(&'a arrow_array::UInt16Array),
    U32(&'a arrow_array::UInt32Array),
    U64(&'a arrow_array::UInt64Array),
}

impl<'a> ValueColumn<'a> {
    fn new(column: &str, array: &'a dyn Array) -> Result<Self, RoutingError> {
        let unsupported = || RoutingError::UnsupportedType {
            column: column.to_string(),
            data_type: array.data_type().to_string(),
        };
        Ok(match array.data_type() {
            DataType::Utf8 => {
                ValueColumn::Str(array.as_string_opt::<i32>().ok_or_else(unsupported)?)
            }
            DataType::LargeUtf8 => {
                ValueColumn::LargeStr(array.as_string_opt::<i64>().ok_or_else(unsupported)?)
            }
            DataType::Utf8View => {
                ValueColumn::View(array.as_string_view_opt().ok_or_else(unsupported)?)
            }
            DataType::Int8 => ValueColumn::I8(
                array
                    .as_primitive_opt::<Int8Type>()
                    .ok_or_else(unsupported)?,
            ),
            DataType::Int16 => ValueColumn::I16(
                array
                    .as_primitive_opt::<Int16Type>()
                    .ok_or_else(unsupported)?,
            ),
            DataType::Int32 => ValueColumn::I32(
                array
                    .as_primitive_opt::<Int32Type>()
                    .ok_or_else(unsupported)?,
            ),
            DataType::Int64 => ValueColumn::I64(
                array
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(unsupported)?,
            ),
            DataType::UInt8 => ValueColumn::U8(
                array
                    .as_primitive_opt::<UInt8Type>()
                    .ok_or_else(unsupported)?,
            ),
            DataType::UInt16 => ValueColumn::U16(
                array
                    .as_primitive_opt::<UInt16Type>()
                    .ok_or_else(unsupported)?,
            ),
            DataType::UInt32 => ValueColumn::U32(
                array
                    .as_primitive_opt::<UInt32Type>()
                    .ok_or_else(unsupported)?,
            ),
            DataType::UInt64 => ValueColumn::U64(
                array
                    .as_primitive_opt::<UInt64Type>()
                    .ok_or_else(unsupported)?,
            ),
            _ => return Err(unsupported()),
        })
    }

    /// The value at `row` (`row` < batch length), `None` for NULL.
    fn get(&self, row: usize) -> Option<String> {
        fn prim<T: arrow_array::ArrowPrimitiveType>(
            a: &arrow_array::PrimitiveArray<T>,
            row: usize,
        ) -> Option<String>
        where
            T::Native: ToString,
        {
            (row < a.len() && a.is_valid(row)).then(|| a.value(row).to_string())
        }
        match self {
            ValueColumn::Str(a) => {
                (row < a.len() && a.is_valid(row)).then(|| a.value(row).to_string())
            }
            ValueColumn::LargeStr(a) => {
                (row < a.len() && a.is_valid(row)).then(|| a.value(row).to_string())
            }
            ValueColumn::View(a) => {
                (row < a.len() && a.is_valid(row)).then(|| a.value(row).to_string())
            }
            ValueColumn::I8(a) => prim(*a, row),
            ValueColumn::I16(a) => prim(*a, row),
            ValueColumn::I32(a) => prim(*a, row),
            ValueColumn::I64(a) => prim(*a, row),
            ValueColumn::U8(a) => prim(*a, row),
            ValueColumn::U16(a) => prim(*a, row),
            ValueColumn::U32(a) => prim(*a, row),
            ValueColumn::U64(a) => prim(*a, row),
        }
    }
}

impl DynamicPartition {
    fn value_columns<'a>(
        &self,
        batch: &'a RecordBatch,
    ) -> Result<Vec<(&str, ValueColumn<'a>)>, RoutingError> {
        let schema = batch.schema_ref();
        self.columns
            .iter()
            .map(|name| {
                let idx = schema
                    .fields()
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(name))
                    .ok_or_else(|| RoutingError::MissingColumn {
                        column: name.clone(),
                    })?;
                let array = batch.column(idx);
                Ok((name.as_str(), ValueColumn::new(name, array.as_ref())?))
            })
            .collect()
    }

    fn row_spec(
        &self,
        cols: &[(&str, ValueColumn<'_>)],
        row: usize,
    ) -> Result<PartitionSpec, RoutingError> {
        let mut spec = self.static_prefix.clone();
        for (name, col) in cols {
            let value = col.get(row).ok_or_else(|| RoutingError::NullValue {
                column: name.to_string(),
                row,
            })?;
            if value.is_empty() {
                return Err(RoutingError::EmptyValue {
                    column: name.to_string(),
                    row,
                });
            }
            // Keys are distinct from the prefix and from each other (checked at parse), and
            // the value is non-empty, so this cannot fail; map defensively anyway.
            spec.push(name.to_string(), value)
                .map_err(|_| RoutingError::EmptyValue {
                    column: name.to_string(),
                    row,
                })?;
        }
        Ok(spec)
    }

    /// The partition of every row of `batch`, in row order (static prefix + the row's values
    /// of the dynamic columns; strings as they are, integers in decimal).
    pub fn route(&self, batch: &RecordBatch) -> Result<Vec<PartitionSpec>, RoutingError> {
        let cols = self.value_columns(batch)?;
        (0..batch.num_rows())
            .map(|row| self.row_spec(&cols, row))
            .collect()
    }

    /// The rows of `batch` grouped by partition (ascending partition order; row indices
    /// ascending within a group).
    pub fn group_rows(
        &self,
        batch: &RecordBatch,
    ) -> Result<BTreeMap<PartitionSpec, Vec<usize>>, RoutingError> {
        let cols = self.value_columns(batch)?;
        let mut groups: BTreeMap<PartitionSpec, Vec<usize>> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            groups
                .entry(self.row_spec(&cols, row)?)
                .or_default()
                .push(row);
        }
        Ok(groups)
    }
}
