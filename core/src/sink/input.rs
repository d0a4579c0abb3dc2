//! Turning an input batch into data rows per partition.
//!
//! Batch columns are matched to the table **by name** (case-insensitive), so their order does
//! not matter. Every data column must be present (in partial-column upsert mode: every primary
//! key column; the others may be left out). Dynamic partition columns must be present too and
//! are not written as data. In static mode, partition columns in the batch are ignored. Any
//! other column is an error, as is an Arrow type that is not the column type's Arrow mapping.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{DataType, Field, Schema};

use super::error::{InputError, SinkError};
use crate::codec::{CodecError, RecordEncoder};
use crate::partition::{PartitionSpec, SinkPartition, SpecCoverage};
use crate::types::{Column, TableSchema};

/// Which rows of a batch go somewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rows {
    /// All of them.
    All,
    /// These, ascending.
    Some(Vec<u32>),
}

impl Rows {
    pub(crate) fn count(&self, batch_rows: usize) -> usize {
        match self {
            Rows::All => batch_rows,
            Rows::Some(v) => v.len(),
        }
    }

    /// Encodes the rows of `batch` with `enc` into `out`.
    pub(crate) fn encode(
        &self,
        enc: &mut RecordEncoder,
        batch: &RecordBatch,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        match self {
            Rows::All => enc.write_batch(batch, out),
            Rows::Some(v) => enc.write_indices(batch, v, out),
        }
    }
}

/// A batch split by partition.
#[derive(Debug)]
pub(crate) struct Routed {
    /// The data columns in table order (absent columns as NULL in partial-column mode).
    pub(crate) data: RecordBatch,
    /// Per data column: whether the input had it.
    pub(crate) present: Vec<bool>,
    /// Rows per partition, ascending partition order.
    pub(crate) groups: Vec<(PartitionSpec, Rows)>,
}

#[derive(Debug, Clone)]
pub(crate) struct InputLayout {
    table: String,
    columns: Vec<Column>,
    arrow: Vec<DataType>,
    schema: TableSchema,
    target: SinkPartition,
    /// Columns other than the primary key may be absent.
    partial_key: Option<Vec<String>>,
}

impl InputLayout {
    pub(crate) fn new(
        table: String,
        schema: &TableSchema,
        target: SinkPartition,
        partial_key: Option<Vec<String>>,
    ) -> Self {
        Self {
            table,
            columns: schema.columns.clone(),
            arrow: schema.columns.iter().map(|c| c.ty.to_arrow()).collect(),
            schema: schema.clone(),
            target,
            partial_key,
        }
    }

    pub(crate) fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub(crate) fn is_dynamic(&self) -> bool {
        matches!(self.target, SinkPartition::Dynamic(_))
    }

    /// Projects the data columns and groups rows by partition.
    pub(crate) fn route(&self, batch: &RecordBatch) -> Result<Routed, SinkError> {
        let bschema = batch.schema_ref();
        let dynamic_cols: &[String] = match &self.target {
            SinkPartition::Dynamic(d) => &d.columns,
            SinkPartition::Static(_) => &[],
        };
        // Unknown columns first (they are usually typos of a real one).
        for f in bschema.fields() {
            let name = f.name();
            let known = self.schema.column_index(name).is_some()
                || self.schema.partition_column_index(name).is_some();
            if !known {
                return Err(InputError::UnknownColumn {
                    table: self.table.clone(),
                    column: name.clone(),
                    expected: self
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into());
            }
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        let mut fields: Vec<Field> = Vec::with_capacity(self.columns.len());
        let mut present = Vec::with_capacity(self.columns.len());
        for (col, ty) in self.columns.iter().zip(&self.arrow) {
            let idx = bschema
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(&col.name));
            match idx {
                Some(i) => {
                    let a = batch.column(i);
                    if !ty.equals_datatype(a.data_type()) {
                        return Err(InputError::TypeMismatch {
                            column: col.name.clone(),
                            expected: ty.to_string(),
                            found: a.data_type().to_string(),
                        }
                        .into());
                    }
                    fields.push(Field::new(col.name.clone(), a.data_type().clone(), true));
                    arrays.push(a.clone());
                    present.push(true);
                }
                None => {
                    let optional = self
                        .partial_key
                        .as_ref()
                        .is_some_and(|pk| !pk.iter().any(|k| k.eq_ignore_ascii_case(&col.name)));
                    if !optional {
                        return Err(InputError::MissingColumn {
                            table: self.table.clone(),
                            column: col.name.clone(),
                        }
                        .into());
                    }
                    fields.push(Field::new(col.name.clone(), ty.clone(), true));
                    arrays.push(new_null_array(ty, batch.num_rows()));
                    present.push(false);
                }
            }
        }
        let data = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            arrays,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| {
            SinkError::Input(InputError::TypeMismatch {
                column: "(batch)".into(),
                expected: "a consistent record batch".into(),
                found: e.to_string(),
            })
        })?;
        let groups = match &self.target {
            SinkPartition::Static(spec) => {
                if batch.num_rows() == 0 {
                    Vec::new()
                } else {
                    vec![(spec.clone(), Rows::All)]
                }
            }
            SinkPartition::Dynamic(d) => {
                debug_assert!(!dynamic_cols.is_empty());
                let grouped = d.group_rows(batch).map_err(InputError::from)?;
                let mut groups = Vec::with_capacity(grouped.len());
                for (spec, rows) in grouped {
                    let spec = spec
                        .validate(&self.schema, SpecCoverage::Full)
                        .map_err(InputError::from)?;
                    let rows = if rows.len() == batch.num_rows() {
                        Rows::All
                    } else {
                        Rows::Some(
                            rows.into_iter()
                                .map(|r| u32::try_from(r).unwrap_or(u32::MAX))
                                .collect(),
                        )
                    };
                    groups.push((spec, rows));
                }
                groups
            }
        };
        Ok(Routed {
            data,
            present,
            groups,
        })
    }
}
