//! The fixture file format: projects and tables to create at start (or via
//! `POST /_maxc/fixtures`), with rows to load.
//!
//! ```json
//! {
//!   "projects": ["other_project"],
//!   "tables": [
//!     {
//!       "name": "orders",
//!       "columns": [{"name": "id", "type": "bigint", "nullable": false},
//!                   {"name": "amount", "type": "decimal(18,2)"}],
//!       "partition_columns": [{"name": "ds", "type": "string"}],
//!       "partitions": [{"spec": "ds=20240101", "rows": [{"id": 1, "amount": "9.99"}]}]
//!     },
//!     {
//!       "project": "maxc", "name": "users",
//!       "ddl": "CREATE TABLE users (id bigint, name string, PRIMARY KEY (id)) TBLPROPERTIES ('transactional'='true')",
//!       "rows": [[1, "ann"], [2, "bob"]]
//!     }
//!   ]
//! }
//! ```
//!
//! A table that already exists is skipped entirely (so loading the same fixture file at
//! every start of a persistent mock does not duplicate rows).

use serde::{Deserialize, Serialize};

/// A fixture document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    /// Projects to create.
    #[serde(default)]
    pub projects: Vec<String>,
    /// Tables to create and fill.
    #[serde(default)]
    pub tables: Vec<FixtureTable>,
}

/// A column of a fixture table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureColumn {
    /// Name.
    pub name: String,
    /// Type string (`bigint`, `decimal(18,2)`, `array<string>`, ...).
    #[serde(rename = "type")]
    pub ty: String,
    /// Nullable (default true).
    #[serde(default = "yes")]
    pub nullable: bool,
    /// Comment.
    #[serde(default)]
    pub comment: Option<String>,
}

fn yes() -> bool {
    true
}

/// Rows of one partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixturePartition {
    /// Spec, e.g. `ds=20240101,hr=08`.
    pub spec: String,
    /// Rows (objects keyed by column name, or arrays in column order).
    #[serde(default)]
    pub rows: Vec<serde_json::Value>,
}

/// A table to create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureTable {
    /// Project (default: the mock's project).
    #[serde(default)]
    pub project: Option<String>,
    /// Schema (namespace).
    #[serde(default)]
    pub schema: Option<String>,
    /// Table name (may be omitted when `ddl` names the table).
    #[serde(default)]
    pub name: Option<String>,
    /// A `CREATE TABLE` statement used instead of the fields below.
    #[serde(default)]
    pub ddl: Option<String>,
    /// Data columns.
    #[serde(default)]
    pub columns: Vec<FixtureColumn>,
    /// Partition columns.
    #[serde(default)]
    pub partition_columns: Vec<FixtureColumn>,
    /// Primary key (makes a Delta table together with `transactional`).
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// `'transactional'='true'`.
    #[serde(default)]
    pub transactional: bool,
    /// `write.bucket.num` of a Delta table.
    #[serde(default)]
    pub bucket_num: Option<u32>,
    /// Lifecycle in days.
    #[serde(default)]
    pub lifecycle: Option<i64>,
    /// Comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Rows of an unpartitioned table.
    #[serde(default)]
    pub rows: Vec<serde_json::Value>,
    /// Partitions to create, with rows.
    #[serde(default)]
    pub partitions: Vec<FixturePartition>,
}

/// What loading fixtures did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixtureReport {
    /// Tables created (`project.table`).
    pub created: Vec<String>,
    /// Tables skipped because they existed.
    pub skipped: Vec<String>,
    /// Rows loaded.
    pub rows: u64,
}
