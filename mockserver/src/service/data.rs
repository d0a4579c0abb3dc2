//! Row data of tables: appending segments, replacing a partition's data, reading rows,
//! and key-based merges for Delta (primary-key) tables.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use maxc_core::types::Column;

use super::Service;
use crate::catalog::PartData;
use crate::error::MockError;
use crate::values::{Value, build_batch, key_text, row_values};

/// Where rows go: a table and a partition (values in column order; empty when
/// unpartitioned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loc {
    pub project: String,
    pub schema: Option<String>,
    pub table: String,
    pub partition: Vec<String>,
}

/// One keyed change to a Delta table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RowOp {
    /// Insert or replace by key; with `Some(cols)` only those column indexes (plus the
    /// key) are taken from this row and the rest keep their old values.
    Upsert(Vec<Value>, Option<Vec<usize>>),
    /// Delete by key (only key columns are read).
    Delete(Vec<Value>),
}

impl Service {
    /// The rows of a partition, re-shaped to the table's current data columns.
    pub(crate) fn read_partition(
        &self,
        loc: &Loc,
    ) -> Result<(Vec<Column>, Vec<RecordBatch>), MockError> {
        let t = self
            .catalog
            .table(&loc.project, loc.schema.as_deref(), &loc.table)?;
        let data = t
            .part_data(&loc.partition)
            .ok_or_else(|| MockError::no_such_partition(&t.spec_text(&loc.partition)))?;
        let cols = t.schema.columns.clone();
        let mut out = Vec::with_capacity(data.segments.len());
        for id in &data.segments {
            out.push(self.store.get(*id)?.project_to(&cols)?);
        }
        Ok((cols, out))
    }

    /// Appends stored segments to a partition (in order) and bumps its version. For a
    /// Delta table the rows are merged by primary key instead (later rows win).
    pub(crate) fn append_segments(
        &mut self,
        loc: &Loc,
        ids: &[u64],
        now_ms: i64,
    ) -> Result<(), MockError> {
        let delta = self
            .catalog
            .table(&loc.project, loc.schema.as_deref(), &loc.table)?
            .is_delta();
        if delta {
            let mut ops = Vec::new();
            for id in ids {
                let seg = self.store.get(*id)?;
                let cols = self
                    .catalog
                    .table(&loc.project, loc.schema.as_deref(), &loc.table)?
                    .schema
                    .columns
                    .clone();
                let b = seg.project_to(&cols)?;
                for r in 0..b.num_rows() {
                    ops.push(RowOp::Upsert(
                        row_values(&b, &cols, r).map_err(|e| MockError::internal(e.0))?,
                        None,
                    ));
                }
            }
            return self.apply_ops(loc, ops, now_ms);
        }
        let mut add_rows = 0u64;
        let mut add_bytes = 0u64;
        for id in ids {
            let s = self.store.get(*id)?;
            add_rows += s.rows() as u64;
            add_bytes += s.bytes;
        }
        let t = self
            .catalog
            .table_mut(&loc.project, loc.schema.as_deref(), &loc.table)?;
        let spec = t.spec_text(&loc.partition);
        let data = t
            .part_data_mut(&loc.partition)
            .ok_or_else(|| MockError::no_such_partition(&spec))?;
        data.segments.extend_from_slice(ids);
        data.rows += add_rows;
        data.bytes += add_bytes;
        data.version += 1;
        t.touch(&loc.partition, now_ms);
        self.dirty = true;
        Ok(())
    }

    /// Replaces a partition's data with these segments.
    pub(crate) fn replace_segments(
        &mut self,
        loc: &Loc,
        ids: &[u64],
        now_ms: i64,
    ) -> Result<(), MockError> {
        let t = self
            .catalog
            .table_mut(&loc.project, loc.schema.as_deref(), &loc.table)?;
        let spec = t.spec_text(&loc.partition);
        let data = t
            .part_data_mut(&loc.partition)
            .ok_or_else(|| MockError::no_such_partition(&spec))?;
        let version = data.version + 1;
        *data = PartData {
            version,
            ..PartData::default()
        };
        t.touch(&loc.partition, now_ms);
        self.dirty = true;
        self.gc_needed = true;
        self.append_segments(loc, ids, now_ms)
    }

    /// Applies keyed changes to a Delta table partition: the partition is rewritten as
    /// one segment holding the merged rows (in first-insertion order of keys).
    pub(crate) fn apply_ops(
        &mut self,
        loc: &Loc,
        ops: Vec<RowOp>,
        now_ms: i64,
    ) -> Result<(), MockError> {
        let t = self
            .catalog
            .table(&loc.project, loc.schema.as_deref(), &loc.table)?;
        let key_idx: Vec<usize> = t
            .primary_key
            .iter()
            .map(|k| {
                t.schema
                    .column_index(k)
                    .ok_or_else(|| MockError::internal(format!("primary key `{k}` missing")))
            })
            .collect::<Result<_, _>>()?;
        let (cols, batches) = self.read_partition(loc)?;
        let mut rows: Vec<Option<Vec<Value>>> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let key_of = |r: &[Value]| {
            key_text(
                &key_idx
                    .iter()
                    .map(|i| r.get(*i).cloned().unwrap_or(Value::Null))
                    .collect::<Vec<_>>(),
            )
        };
        for b in &batches {
            for r in 0..b.num_rows() {
                let v = row_values(b, &cols, r).map_err(|e| MockError::internal(e.0))?;
                let k = key_of(&v);
                match index.get(&k) {
                    Some(i) => rows[*i] = Some(v),
                    None => {
                        index.insert(k, rows.len());
                        rows.push(Some(v));
                    }
                }
            }
        }
        for op in ops {
            match op {
                RowOp::Upsert(v, partial) => {
                    let k = key_of(&v);
                    match (index.get(&k).copied(), partial) {
                        (Some(i), Some(cols_to_set)) if rows[i].is_some() => {
                            if let Some(old) = rows[i].as_mut() {
                                for c in cols_to_set.iter().chain(&key_idx) {
                                    if let (Some(slot), Some(nv)) = (old.get_mut(*c), v.get(*c)) {
                                        *slot = nv.clone();
                                    }
                                }
                            }
                        }
                        (Some(i), Some(cols_to_set)) => {
                            rows[i] = Some(partial_row(&v, &cols_to_set, &key_idx));
                        }
                        (Some(i), None) => rows[i] = Some(v),
                        (None, partial) => {
                            let row = match partial {
                                Some(c) => partial_row(&v, &c, &key_idx),
                                None => v,
                            };
                            index.insert(k, rows.len());
                            rows.push(Some(row));
                        }
                    }
                }
                RowOp::Delete(v) => {
                    if let Some(i) = index.get(&key_of(&v)) {
                        rows[*i] = None;
                    }
                }
            }
        }
        let kept: Vec<Vec<Value>> = rows.into_iter().flatten().collect();
        let mut relaxed = cols.clone();
        for c in &mut relaxed {
            c.nullable = true;
        }
        let batch = build_batch(&relaxed, &kept)
            .map_err(|e| MockError::bad_request("InvalidArgument", e.0))?;
        let id = self.store.insert(batch, relaxed);
        let t = self
            .catalog
            .table_mut(&loc.project, loc.schema.as_deref(), &loc.table)?;
        let spec = t.spec_text(&loc.partition);
        let seg_bytes = self.store.get(id)?.bytes;
        let t = self
            .catalog
            .table_mut(&loc.project, loc.schema.as_deref(), &loc.table)?;
        let data = t
            .part_data_mut(&loc.partition)
            .ok_or_else(|| MockError::no_such_partition(&spec))?;
        data.version += 1;
        data.rows = kept.len() as u64;
        data.bytes = seg_bytes;
        data.segments = vec![id];
        t.touch(&loc.partition, now_ms);
        self.dirty = true;
        self.gc_needed = true;
        Ok(())
    }
}

fn partial_row(v: &[Value], set: &[usize], key: &[usize]) -> Vec<Value> {
    v.iter()
        .enumerate()
        .map(|(i, x)| {
            if set.contains(&i) || key.contains(&i) {
                x.clone()
            } else {
                Value::Null
            }
        })
        .collect()
}
