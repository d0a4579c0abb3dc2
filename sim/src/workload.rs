//! Workloads: the table, the sink options and the deterministic input rows.
//!
//! Rows are a pure function of `(seed, subtask, offset)`, so a replay after a restore feeds
//! exactly the same rows again, and the oracle can recompute what any row should look like.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use maxc_core::api::rest::TableMeta;
use maxc_core::sink::RowKind;
use maxc_core::types::{Column, OdpsType, TableSchema};

use crate::rng::mix64;

/// A workload: which sink, which table, which partitioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    /// Batch tunnel into one static partition.
    BatchStatic,
    /// Batch tunnel with dynamic partitions (a few values).
    BatchDynamic,
    /// Batch tunnel with many dynamic partitions (100 values).
    BatchMany,
    /// Streaming tunnel into a static partition.
    Stream,
    /// Upsert tunnel into a Delta table (upserts and deletes by primary key).
    Upsert,
}

/// Which tunnel a workload writes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tunnel {
    /// Batch tunnel (exactly-once through the committer).
    Batch,
    /// Streaming tunnel (at-least-once).
    Stream,
    /// Upsert tunnel (idempotent by key).
    Upsert,
}

impl Workload {
    /// Every workload, in a fixed order.
    pub const ALL: [Workload; 5] = [
        Workload::BatchStatic,
        Workload::BatchDynamic,
        Workload::BatchMany,
        Workload::Stream,
        Workload::Upsert,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::BatchStatic => "batch-static",
            Workload::BatchDynamic => "batch-dynamic",
            Workload::BatchMany => "batch-many",
            Workload::Stream => "stream",
            Workload::Upsert => "upsert",
        }
    }

    /// The tunnel.
    pub fn tunnel(self) -> Tunnel {
        match self {
            Workload::BatchStatic | Workload::BatchDynamic | Workload::BatchMany => Tunnel::Batch,
            Workload::Stream => Tunnel::Stream,
            Workload::Upsert => Tunnel::Upsert,
        }
    }

    /// The table name.
    pub fn table(self) -> &'static str {
        match self.tunnel() {
            Tunnel::Batch => "t_batch",
            Tunnel::Stream => "t_stream",
            Tunnel::Upsert => "t_upsert",
        }
    }

    /// Distinct values of the dynamic partition column (1 for static partitions).
    pub fn partition_values(self) -> u64 {
        match self {
            Workload::BatchDynamic => 4,
            Workload::BatchMany => 100,
            _ => 1,
        }
    }

    /// True when rows choose their partition.
    pub fn is_dynamic(self) -> bool {
        matches!(self, Workload::BatchDynamic | Workload::BatchMany)
    }

    /// The `partition` sink option.
    pub fn partition_option(self) -> Option<&'static str> {
        match self {
            Workload::BatchStatic => Some("ds=20240101"),
            Workload::BatchDynamic | Workload::BatchMany => Some("ds"),
            Workload::Stream => Some("ds=20240102"),
            Workload::Upsert => None,
        }
    }

    /// The DDL that creates the table in the mock.
    pub fn ddl(self) -> String {
        match self.tunnel() {
            Tunnel::Batch => format!(
                "CREATE TABLE IF NOT EXISTS {} (id BIGINT, payload STRING) PARTITIONED BY (ds STRING)",
                self.table()
            ),
            Tunnel::Stream => format!(
                "CREATE TABLE IF NOT EXISTS {} (id BIGINT, payload STRING) PARTITIONED BY (ds STRING)",
                self.table()
            ),
            Tunnel::Upsert => format!(
                "CREATE TABLE IF NOT EXISTS {} (k BIGINT NOT NULL, v BIGINT, payload STRING, PRIMARY KEY (k)) \
                 TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='{UPSERT_BUCKETS}')",
                self.table()
            ),
        }
    }

    /// The table's data columns.
    pub fn columns(self) -> Vec<Column> {
        match self.tunnel() {
            Tunnel::Batch | Tunnel::Stream => vec![
                Column::new("id", OdpsType::BigInt),
                Column::new("payload", OdpsType::String),
            ],
            Tunnel::Upsert => vec![
                Column::new("k", OdpsType::BigInt).not_null(),
                Column::new("v", OdpsType::BigInt),
                Column::new("payload", OdpsType::String),
            ],
        }
    }

    /// The table metadata the sink machines are built with (what `GET table` reports).
    pub fn meta(self) -> TableMeta {
        let parts = match self.tunnel() {
            Tunnel::Batch | Tunnel::Stream => vec![Column::new("ds", OdpsType::String)],
            Tunnel::Upsert => vec![],
        };
        let schema = match TableSchema::new(self.columns(), parts) {
            Ok(s) => s,
            Err(e) => panic!("built-in workload schema is invalid: {e}"),
        };
        let mut m = TableMeta::new(self.table(), schema);
        if self.tunnel() == Tunnel::Upsert {
            m.transactional = true;
            m.primary_key = vec!["k".into()];
            m.bucket_num = Some(UPSERT_BUCKETS);
        }
        m
    }
}

/// Buckets of the upsert workload's table.
pub const UPSERT_BUCKETS: u32 = 4;

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Workload::ALL
            .iter()
            .copied()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown workload `{s}`; one of: {}",
                    Workload::ALL.map(|w| w.name()).join(", ")
                )
            })
    }
}

/// One input row, as the generator defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Unique row id: `subtask << 40 | offset`.
    pub id: i64,
    /// Partition value (`ds`).
    pub ds: String,
    /// A payload of varying length.
    pub payload: String,
    /// Upsert workload: the primary key (owned by one subtask, as after a `keyBy`).
    pub key: i64,
    /// Upsert workload: the change kind.
    pub kind: RowKind,
}

/// Row id of `(subtask, offset)`.
pub fn row_id(subtask: usize, offset: u64) -> i64 {
    ((subtask as i64) << 40) | (offset as i64 & ((1 << 40) - 1))
}

/// `(subtask, offset)` of a row id.
pub fn split_id(id: i64) -> (usize, u64) {
    ((id >> 40) as usize, (id & ((1 << 40) - 1)) as u64)
}

/// The deterministic input of a run.
#[derive(Debug, Clone)]
pub struct RowGen {
    seed: u64,
    workload: Workload,
    parallelism: usize,
    keys_per_subtask: u64,
    schema: Arc<Schema>,
}

impl RowGen {
    /// The generator of `workload` for `seed` with `parallelism` subtasks.
    pub fn new(seed: u64, workload: Workload, parallelism: usize, keys_per_subtask: u64) -> Self {
        let mut fields = Vec::new();
        match workload.tunnel() {
            Tunnel::Batch | Tunnel::Stream => {
                fields.push(Field::new("id", DataType::Int64, true));
                fields.push(Field::new("payload", DataType::Utf8, true));
                if workload.is_dynamic() {
                    fields.push(Field::new("ds", DataType::Utf8, true));
                }
            }
            Tunnel::Upsert => {
                fields.push(Field::new("k", DataType::Int64, false));
                fields.push(Field::new("v", DataType::Int64, true));
                fields.push(Field::new("payload", DataType::Utf8, true));
            }
        }
        Self {
            seed,
            workload,
            parallelism: parallelism.max(1),
            keys_per_subtask: keys_per_subtask.max(1),
            schema: Arc::new(Schema::new(fields)),
        }
    }

    /// The workload.
    pub fn workload(&self) -> Workload {
        self.workload
    }

    /// The row at `offset` of `subtask`.
    pub fn row(&self, subtask: usize, offset: u64) -> Row {
        let h = mix64(self.seed ^ mix64((subtask as u64) << 40 ^ offset));
        let ds = match self.workload.partition_option() {
            Some(p) if p.contains('=') => p.split('=').nth(1).unwrap_or_default().to_string(),
            Some(_) => format!("p{:03}", (h >> 8) % self.workload.partition_values()),
            None => String::new(),
        };
        let len = ((h >> 20) % 48) as usize;
        let payload: String = (0..len)
            .map(|i| char::from(b'a' + ((h >> (i % 40)) % 26) as u8))
            .collect();
        let key =
            subtask as i64 + self.parallelism as i64 * ((h >> 32) % self.keys_per_subtask) as i64;
        let kind = if (h >> 12).is_multiple_of(10) {
            RowKind::Delete
        } else if (h >> 16).is_multiple_of(3) {
            RowKind::UpdateAfter
        } else {
            RowKind::Insert
        };
        Row {
            id: row_id(subtask, offset),
            ds,
            payload,
            key,
            kind,
        }
    }

    /// Rows `from..to` of `subtask` as an Arrow batch (and the row kinds for upserts).
    pub fn batch(&self, subtask: usize, from: u64, to: u64) -> (RecordBatch, Option<Vec<RowKind>>) {
        let rows: Vec<Row> = (from..to).map(|o| self.row(subtask, o)).collect();
        let mut cols: Vec<ArrayRef> = Vec::new();
        let mut kinds = None;
        match self.workload.tunnel() {
            Tunnel::Batch | Tunnel::Stream => {
                cols.push(Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.id),
                )));
                cols.push(Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.payload.as_str()),
                )));
                if self.workload.is_dynamic() {
                    cols.push(Arc::new(StringArray::from_iter_values(
                        rows.iter().map(|r| r.ds.as_str()),
                    )));
                }
            }
            Tunnel::Upsert => {
                cols.push(Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.key),
                )));
                cols.push(Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.id),
                )));
                cols.push(Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| r.payload.as_str()),
                )));
                kinds = Some(rows.iter().map(|r| r.kind).collect());
            }
        }
        match RecordBatch::try_new(self.schema.clone(), cols) {
            Ok(b) => (b, kinds),
            Err(e) => panic!("generated batch does not fit its schema: {e}"),
        }
    }

    /// Upsert workload: the final value (`v` = row id) per key after `totals[s]` rows of
    /// every subtask `s` (deleted keys absent).
    pub fn upsert_final(&self, totals: &[u64]) -> BTreeMap<i64, i64> {
        let mut m = BTreeMap::new();
        for (s, &n) in totals.iter().enumerate() {
            for o in 0..n {
                let r = self.row(s, o);
                match r.kind {
                    RowKind::Delete => {
                        m.remove(&r.key);
                    }
                    RowKind::UpdateBefore => {}
                    RowKind::Insert | RowKind::UpdateAfter => {
                        m.insert(r.key, r.id);
                    }
                }
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_pure_and_ids_round_trip() {
        let g = RowGen::new(5, Workload::BatchMany, 3, 10);
        assert_eq!(g.row(2, 17), g.row(2, 17));
        assert_eq!(split_id(g.row(2, 17).id), (2, 17));
        let (b, k) = g.batch(1, 10, 20);
        assert_eq!(b.num_rows(), 10);
        assert!(k.is_none());
        let u = RowGen::new(5, Workload::Upsert, 3, 10);
        let (b, k) = u.batch(0, 0, 50);
        assert_eq!(b.num_rows(), 50);
        assert_eq!(k.map(|k| k.len()), Some(50));
        for o in 0..50 {
            assert_eq!(u.row(2, o).key % 3, 2, "keys belong to their subtask");
        }
        assert!(
            Workload::ALL
                .iter()
                .all(|w| w.name().parse::<Workload>() == Ok(*w))
        );
    }
}
