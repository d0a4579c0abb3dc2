//! Metadata: projects, schemas (namespaces), tables and partitions, plus the row data
//! they reference (segment ids into the [`SegmentStore`]).
//!
//! Everything here serializes into the data directory's manifest; row data lives in the
//! segment store (one Arrow IPC file per segment on disk).

use std::collections::{BTreeMap, BTreeSet};

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions, new_null_array};
use maxc_core::types::{Column, TableSchema};
use serde::{Deserialize, Serialize};

use crate::error::MockError;
use crate::spec::spec_text;

/// The schema (namespace) every project has.
pub const DEFAULT_SCHEMA: &str = "default";

/// All projects.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    /// Projects by lower-cased name.
    pub projects: BTreeMap<String, Project>,
}

/// A project.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    /// Name as created.
    pub name: String,
    /// Owner account string.
    pub owner: String,
    /// Comment.
    #[serde(default)]
    pub comment: String,
    /// Creation time (epoch ms).
    pub created_ms: i64,
    /// Last modification (epoch ms).
    pub modified_ms: i64,
    /// Project properties.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Schemas by lower-cased name; `default` always exists.
    pub schemas: BTreeMap<String, Namespace>,
}

/// A schema (the middle level of the 3-tier model).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Namespace {
    /// Name as created.
    pub name: String,
    /// Creation time (epoch ms).
    pub created_ms: i64,
    /// Tables by lower-cased name.
    pub tables: BTreeMap<String, Table>,
}

/// Hash or range clustering (`CLUSTERED BY ... INTO n BUCKETS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// `hash` or `range`.
    pub cluster_type: String,
    /// Bucket count.
    pub bucket_num: Option<u32>,
    /// Clustering columns.
    pub cluster_cols: Vec<String>,
    /// Sort columns with `asc`/`desc`.
    pub sort_cols: Vec<(String, String)>,
}

/// Row data of one partition (or of an unpartitioned table).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartData {
    /// Segment ids in row order.
    pub segments: Vec<u64>,
    /// Total rows.
    pub rows: u64,
    /// Approximate bytes.
    pub bytes: u64,
    /// Bumped on every data change (download sessions detect modification with it).
    pub version: u64,
}

/// A partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partition {
    /// Values in partition-column order.
    pub values: Vec<String>,
    /// Creation time (epoch ms).
    pub created_ms: i64,
    /// Last DDL time (epoch ms).
    pub last_ddl_ms: i64,
    /// Last data modification (epoch ms).
    pub last_modified_ms: i64,
    /// Its rows.
    pub data: PartData,
}

/// A table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    /// Name as created.
    pub name: String,
    /// Unique id (changes when a table is dropped and re-created).
    pub id: String,
    /// Owner account string.
    pub owner: String,
    /// Comment.
    #[serde(default)]
    pub comment: String,
    /// Creation time (epoch ms).
    pub created_ms: i64,
    /// Last DDL time (epoch ms).
    pub last_ddl_ms: i64,
    /// Last data modification (epoch ms).
    pub last_modified_ms: i64,
    /// Lifecycle in days (-1 = none).
    pub lifecycle: i64,
    /// Data and partition columns.
    pub schema: TableSchema,
    /// `'transactional'='true'`.
    pub transactional: bool,
    /// Primary-key columns (Delta tables).
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Clustering (Delta tables get hash clustering on the primary key).
    #[serde(default)]
    pub cluster: Option<ClusterInfo>,
    /// TBLPROPERTIES.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Bumped by schema changes (ADD COLUMNS).
    #[serde(default)]
    pub schema_version: u64,
    /// Partitions by values (partitioned tables only).
    #[serde(with = "partition_map", default)]
    pub partitions: BTreeMap<Vec<String>, Partition>,
    /// Rows of an unpartitioned table.
    #[serde(default)]
    pub data: PartData,
}

mod partition_map {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<Vec<String>, Partition>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<Vec<String>, Partition>, D::Error> {
        let v: Vec<Partition> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|p| (p.values.clone(), p)).collect())
    }
}

impl Table {
    /// True for a Delta (upsert) table: transactional with a primary key.
    pub fn is_delta(&self) -> bool {
        self.transactional && !self.primary_key.is_empty()
    }

    /// The hash bucket count used by upsert sessions.
    pub fn bucket_num(&self) -> u32 {
        self.cluster
            .as_ref()
            .and_then(|c| c.bucket_num)
            .unwrap_or(crate::service::DEFAULT_BUCKETS)
            .max(1)
    }

    /// True when the table has partition columns.
    pub fn is_partitioned(&self) -> bool {
        self.schema.is_partitioned()
    }

    /// Total rows over all partitions.
    pub fn total_rows(&self) -> u64 {
        if self.is_partitioned() {
            self.partitions.values().map(|p| p.data.rows).sum()
        } else {
            self.data.rows
        }
    }

    /// Total bytes over all partitions.
    pub fn total_bytes(&self) -> u64 {
        if self.is_partitioned() {
            self.partitions.values().map(|p| p.data.bytes).sum()
        } else {
            self.data.bytes
        }
    }

    /// The data of a partition (`values` empty for an unpartitioned table).
    pub fn part_data(&self, values: &[String]) -> Option<&PartData> {
        if self.is_partitioned() {
            self.partitions.get(values).map(|p| &p.data)
        } else if values.is_empty() {
            Some(&self.data)
        } else {
            None
        }
    }

    /// Mutable data of a partition.
    pub fn part_data_mut(&mut self, values: &[String]) -> Option<&mut PartData> {
        if self.is_partitioned() {
            self.partitions.get_mut(values).map(|p| &mut p.data)
        } else if values.is_empty() {
            Some(&mut self.data)
        } else {
            None
        }
    }

    /// `k=v,k2=v2` of partition values.
    pub fn spec_text(&self, values: &[String]) -> String {
        spec_text(&self.schema.partition_columns, values)
    }

    /// Every segment id the table references.
    pub fn segment_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.data
            .segments
            .iter()
            .chain(
                self.partitions
                    .values()
                    .flat_map(|p| p.data.segments.iter()),
            )
            .copied()
    }

    /// Creates a partition if missing; returns true when it was created.
    pub fn ensure_partition(&mut self, values: Vec<String>, now_ms: i64) -> bool {
        if self.partitions.contains_key(&values) {
            return false;
        }
        self.partitions.insert(
            values.clone(),
            Partition {
                values,
                created_ms: now_ms,
                last_ddl_ms: now_ms,
                last_modified_ms: now_ms,
                data: PartData::default(),
            },
        );
        self.last_ddl_ms = now_ms;
        true
    }

    /// Marks a partition's data as modified now.
    pub fn touch(&mut self, values: &[String], now_ms: i64) {
        self.last_modified_ms = now_ms;
        if let Some(p) = self.partitions.get_mut(values) {
            p.last_modified_ms = now_ms;
        }
    }
}

/// Table and name validation shared by DDL and fixtures.
pub fn check_table_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid table name `{name}`: use 1-128 letters, digits and underscores, starting with a letter or underscore"
        ))
    }
}

impl Catalog {
    /// A project by name (case-insensitive).
    pub fn project(&self, name: &str) -> Result<&Project, MockError> {
        self.projects
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| MockError::no_such_project(name))
    }

    /// A mutable project.
    pub fn project_mut(&mut self, name: &str) -> Result<&mut Project, MockError> {
        self.projects
            .get_mut(&name.to_ascii_lowercase())
            .ok_or_else(|| MockError::no_such_project(name))
    }

    /// Creates a project with its `default` schema if missing.
    pub fn ensure_project(&mut self, name: &str, owner: &str, now_ms: i64) -> &mut Project {
        self.projects
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| {
                let mut schemas = BTreeMap::new();
                schemas.insert(
                    DEFAULT_SCHEMA.to_string(),
                    Namespace {
                        name: DEFAULT_SCHEMA.to_string(),
                        created_ms: now_ms,
                        tables: BTreeMap::new(),
                    },
                );
                Project {
                    name: name.to_string(),
                    owner: owner.to_string(),
                    comment: String::new(),
                    created_ms: now_ms,
                    modified_ms: now_ms,
                    properties: BTreeMap::new(),
                    schemas,
                }
            })
    }

    /// A table.
    pub fn table(
        &self,
        project: &str,
        schema: Option<&str>,
        name: &str,
    ) -> Result<&Table, MockError> {
        self.project(project)?
            .schemas
            .get(&schema.unwrap_or(DEFAULT_SCHEMA).to_ascii_lowercase())
            .and_then(|ns| ns.tables.get(&name.to_ascii_lowercase()))
            .ok_or_else(|| MockError::no_such_table(project, name))
    }

    /// A mutable table.
    pub fn table_mut(
        &mut self,
        project: &str,
        schema: Option<&str>,
        name: &str,
    ) -> Result<&mut Table, MockError> {
        self.project_mut(project)?
            .schemas
            .get_mut(&schema.unwrap_or(DEFAULT_SCHEMA).to_ascii_lowercase())
            .and_then(|ns| ns.tables.get_mut(&name.to_ascii_lowercase()))
            .ok_or_else(|| MockError::no_such_table(project, name))
    }

    /// A schema (namespace), created on demand when `create` is set.
    pub fn namespace_mut(
        &mut self,
        project: &str,
        schema: Option<&str>,
        create: Option<i64>,
    ) -> Result<&mut Namespace, MockError> {
        let p = self.project_mut(project)?;
        let key = schema.unwrap_or(DEFAULT_SCHEMA).to_ascii_lowercase();
        if !p.schemas.contains_key(&key) {
            match create {
                Some(now_ms) => {
                    p.schemas.insert(
                        key.clone(),
                        Namespace {
                            name: schema.unwrap_or(DEFAULT_SCHEMA).to_string(),
                            created_ms: now_ms,
                            tables: BTreeMap::new(),
                        },
                    );
                }
                None => {
                    return Err(MockError::not_found(
                        "NoSuchSchema",
                        format!(
                            "Schema not found - '{project}.{}'",
                            schema.unwrap_or(DEFAULT_SCHEMA)
                        ),
                    ));
                }
            }
        }
        p.schemas
            .get_mut(&key)
            .ok_or_else(|| MockError::internal("schema vanished"))
    }

    /// Every segment id referenced by any table.
    pub fn segment_ids(&self) -> BTreeSet<u64> {
        self.projects
            .values()
            .flat_map(|p| p.schemas.values())
            .flat_map(|ns| ns.tables.values())
            .flat_map(|t| t.segment_ids())
            .collect()
    }

    /// Every table as (project, schema, table).
    pub fn tables(&self) -> impl Iterator<Item = (&Project, &Namespace, &Table)> {
        self.projects.values().flat_map(|p| {
            p.schemas
                .values()
                .flat_map(move |ns| ns.tables.values().map(move |t| (p, ns, t)))
        })
    }
}

/// One immutable piece of row data.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The rows (columns as they were when written).
    pub batch: RecordBatch,
    /// The columns of `batch`.
    pub columns: Vec<Column>,
    /// Approximate bytes.
    pub bytes: u64,
    /// True once written to the data directory.
    pub persisted: bool,
}

impl Segment {
    /// Row count.
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The rows re-shaped to `columns` (matched by name, case-insensitively); columns
    /// missing from the segment (added later by ADD COLUMNS) are NULL.
    pub fn project_to(&self, columns: &[Column]) -> Result<RecordBatch, MockError> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
        for c in columns {
            let pos = self
                .columns
                .iter()
                .position(|s| s.name.eq_ignore_ascii_case(&c.name));
            match pos.and_then(|p| self.batch.columns().get(p)) {
                Some(a) if a.data_type().equals_datatype(&c.ty.to_arrow()) => {
                    arrays.push(a.clone())
                }
                Some(_) => {
                    return Err(MockError::internal(format!(
                        "stored column `{}` has a different type than the table",
                        c.name
                    )));
                }
                None => arrays.push(new_null_array(&c.ty.to_arrow(), self.rows())),
            }
        }
        // Stored rows may hold NULLs in a column declared NOT NULL later (ADD COLUMNS), so
        // the re-shaped batch declares every column nullable.
        let relaxed: Vec<Column> = columns
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.nullable = true;
                c
            })
            .collect();
        RecordBatch::try_new_with_options(
            maxc_core::types::arrow::columns_to_arrow(&relaxed),
            arrays,
            &RecordBatchOptions::new().with_row_count(Some(self.rows())),
        )
        .map_err(|e| MockError::internal(format!("re-shaping stored rows: {e}")))
    }
}

/// All row data, by segment id.
#[derive(Debug, Clone, Default)]
pub struct SegmentStore {
    /// Segments.
    pub segments: BTreeMap<u64, Segment>,
    /// Next id to hand out.
    pub next_id: u64,
}

impl SegmentStore {
    /// Stores a batch; returns its id.
    pub fn insert(&mut self, batch: RecordBatch, columns: Vec<Column>) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let bytes = batch.get_array_memory_size() as u64;
        self.segments.insert(
            id,
            Segment {
                batch,
                columns,
                bytes,
                persisted: false,
            },
        );
        id
    }

    /// A segment.
    pub fn get(&self, id: u64) -> Result<&Segment, MockError> {
        self.segments
            .get(&id)
            .ok_or_else(|| MockError::internal(format!("segment {id} is missing")))
    }

    /// Removes every segment not in `keep`; returns the removed ids.
    pub fn retain(&mut self, keep: &BTreeSet<u64>) -> Vec<u64> {
        let gone: Vec<u64> = self
            .segments
            .keys()
            .filter(|id| !keep.contains(id))
            .copied()
            .collect();
        for id in &gone {
            self.segments.remove(id);
        }
        gone
    }
}
