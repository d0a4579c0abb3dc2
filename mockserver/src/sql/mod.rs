//! The DDL subset clients send through SQL instances, parsed by a small tokenizer and a
//! recursive-descent parser.
//!
//! Supported statements (keywords case-insensitive, `;` separated, comments allowed):
//!
//! ```text
//! CREATE TABLE [IF NOT EXISTS] [proj.[schema.]]t
//!     (col TYPE [NOT NULL] [DEFAULT lit] [COMMENT '..'] [PRIMARY KEY], ..., [PRIMARY KEY (a, b)])
//!     [COMMENT '..'] [PARTITIONED BY (col TYPE [COMMENT '..'], ...)]
//!     [[RANGE] CLUSTERED BY (cols) [SORTED BY (col [ASC|DESC], ...)] INTO n BUCKETS]
//!     [TBLPROPERTIES ('k'='v', ...)] [LIFECYCLE n]
//! DROP TABLE [IF EXISTS] t
//! ALTER TABLE t ADD [IF NOT EXISTS] PARTITION (k='v', ...) [PARTITION (...)]...
//! ALTER TABLE t DROP [IF EXISTS] PARTITION (...) [, PARTITION (...)]...
//! ALTER TABLE t ADD COLUMNS [IF NOT EXISTS] (col TYPE [COMMENT '..'], ...)
//! ALTER TABLE t SET LIFECYCLE n
//! TRUNCATE TABLE t [PARTITION (...) [, PARTITION (...)]...]
//! SET key=value            (accepted and ignored)
//! ```
//!
//! Anything else fails with an `ODPS-0130161` parse error naming what is unsupported.

mod lexer;
mod parser;

use std::fmt;

use maxc_core::types::OdpsType;

pub use lexer::{MAX_SQL_LEN, Tok, Token, tokenize};
pub use parser::parse_script;

/// A possibly qualified object name: `[project.[schema.]]name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    /// Project part.
    pub project: Option<String>,
    /// Schema part (3-tier names).
    pub schema: Option<String>,
    /// Object name.
    pub name: String,
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.project {
            write!(f, "{p}.")?;
        }
        if let Some(s) = &self.schema {
            write!(f, "{s}.")?;
        }
        f.write_str(&self.name)
    }
}

/// A column definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: OdpsType,
    /// `NOT NULL` was given.
    pub not_null: bool,
    /// `COMMENT '..'`.
    pub comment: Option<String>,
    /// `DEFAULT ..` as written.
    pub default: Option<String>,
    /// Inline `PRIMARY KEY`.
    pub primary_key: bool,
}

/// Clustering clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDef {
    /// `RANGE CLUSTERED` rather than hash.
    pub range: bool,
    /// Clustering columns.
    pub columns: Vec<String>,
    /// `SORTED BY` columns with `asc`/`desc`.
    pub sorted_by: Vec<(String, String)>,
    /// `INTO n BUCKETS`.
    pub buckets: Option<u32>,
}

/// `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTable {
    /// Table name.
    pub name: ObjectName,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Data columns.
    pub columns: Vec<ColumnDef>,
    /// Primary key (table constraint or inline).
    pub primary_key: Vec<String>,
    /// Table comment.
    pub comment: Option<String>,
    /// Partition columns.
    pub partition_columns: Vec<ColumnDef>,
    /// Clustering.
    pub cluster: Option<ClusterDef>,
    /// TBLPROPERTIES in order.
    pub properties: Vec<(String, String)>,
    /// LIFECYCLE days.
    pub lifecycle: Option<i64>,
}

/// A partition spec in DDL: `(k='v', ...)`.
pub type PartitionDef = Vec<(String, String)>;

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// `CREATE TABLE`.
    CreateTable(CreateTable),
    /// `DROP TABLE`.
    DropTable {
        /// Table.
        name: ObjectName,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `ALTER TABLE .. ADD PARTITION`.
    AddPartitions {
        /// Table.
        table: ObjectName,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// Partitions to add.
        partitions: Vec<PartitionDef>,
    },
    /// `ALTER TABLE .. DROP PARTITION`.
    DropPartitions {
        /// Table.
        table: ObjectName,
        /// `IF EXISTS`.
        if_exists: bool,
        /// Partitions to drop.
        partitions: Vec<PartitionDef>,
    },
    /// `ALTER TABLE .. ADD COLUMNS`.
    AddColumns {
        /// Table.
        table: ObjectName,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// New columns.
        columns: Vec<ColumnDef>,
    },
    /// `ALTER TABLE .. SET LIFECYCLE n`.
    SetLifecycle {
        /// Table.
        table: ObjectName,
        /// Days.
        days: i64,
    },
    /// `TRUNCATE TABLE`.
    Truncate {
        /// Table.
        table: ObjectName,
        /// Partitions (empty = whole table).
        partitions: Vec<PartitionDef>,
    },
    /// `SET k=v` (ignored).
    Set,
}

/// A statement that could not be parsed or is outside the supported subset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ODPS-0130161:[{line},{col}] Parse exception - {message}")]
pub struct SqlError {
    /// Line (1-based).
    pub line: usize,
    /// Column (1-based).
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl SqlError {
    /// An error at a position.
    pub fn at(line: usize, col: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            col,
            message: message.into(),
        }
    }
}
