//! The service's JSON documents as serde structs (both directions).
//!
//! Field names are exactly the wire names. Deserialisation is lenient (booleans as strings,
//! numbers as numeric strings, `null` or missing optional fields); serialisation writes JSON
//! booleans and numbers, and leaves out `None` fields, so the mock server can render
//! full or minimal responses with the same types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lenient;
use crate::types::{Column, OdpsType, SchemaError, TableSchema};

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A column in the tunnel schema JSON (§4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelColumnJson {
    /// Column id (used by partial-update upserts in `__value_cols`); often empty.
    #[serde(default, deserialize_with = "lenient::string")]
    pub column_id: String,
    /// Comment.
    #[serde(default, deserialize_with = "lenient::string")]
    pub comment: String,
    /// Default value expression.
    #[serde(default, deserialize_with = "lenient::string")]
    pub default_value: String,
    /// Name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// Nullability (a JSON bool or a string; default true).
    #[serde(default = "yes", deserialize_with = "lenient::bool_default_true")]
    pub nullable: bool,
    /// Type string (`bigint`, `decimal(18,4)`, …).
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub type_name: String,
}

/// The tunnel schema JSON inside session responses (§4.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelSchemaJson {
    /// Whether the table is a view.
    #[serde(
        rename = "IsVirtualView",
        default,
        deserialize_with = "lenient::bool_default_false"
    )]
    pub is_virtual_view: bool,
    /// Data columns; record field numbers follow this order.
    #[serde(default, deserialize_with = "lenient::vec")]
    pub columns: Vec<TunnelColumnJson>,
    /// Partition columns.
    #[serde(rename = "partitionKeys", default, deserialize_with = "lenient::vec")]
    pub partition_keys: Vec<TunnelColumnJson>,
}

fn column_from_json(
    name: &str,
    type_name: &str,
    nullable: bool,
    comment: &str,
) -> Result<Column, SchemaError> {
    let ty: OdpsType = type_name.parse().map_err(|e| SchemaError::BadType {
        column: name.to_string(),
        source: e,
    })?;
    Ok(Column {
        name: name.to_string(),
        ty,
        nullable,
        comment: comment.to_string(),
    })
}

impl TunnelColumnJson {
    /// The JSON form of a column; `column_id` is given by the caller.
    pub fn from_column(c: &Column, column_id: impl Into<String>) -> Self {
        Self {
            column_id: column_id.into(),
            comment: c.comment.clone(),
            default_value: String::new(),
            name: c.name.clone(),
            nullable: c.nullable,
            type_name: c.ty.to_string(),
        }
    }

    /// The typed column.
    pub fn to_column(&self) -> Result<Column, SchemaError> {
        column_from_json(&self.name, &self.type_name, self.nullable, &self.comment)
    }
}

impl TunnelSchemaJson {
    /// The JSON form of a table schema. Column ids are the positions among all columns
    /// (data columns first), as strings.
    pub fn from_table_schema(schema: &TableSchema) -> Self {
        let n = schema.columns.len();
        Self {
            is_virtual_view: false,
            columns: schema
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| TunnelColumnJson::from_column(c, i.to_string()))
                .collect(),
            partition_keys: schema
                .partition_columns
                .iter()
                .enumerate()
                .map(|(i, c)| TunnelColumnJson::from_column(c, (n + i).to_string()))
                .collect(),
        }
    }

    /// The typed, validated table schema.
    pub fn to_table_schema(&self) -> Result<TableSchema, SchemaError> {
        let columns = self
            .columns
            .iter()
            .map(TunnelColumnJson::to_column)
            .collect::<Result<Vec<_>, _>>()?;
        let partition_columns = self
            .partition_keys
            .iter()
            .map(TunnelColumnJson::to_column)
            .collect::<Result<Vec<_>, _>>()?;
        TableSchema::new(columns, partition_columns)
    }
}

/// A column in the metadata table JSON (§3.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableColumnJson {
    /// Name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// Type string.
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub type_name: String,
    /// Comment.
    #[serde(default, deserialize_with = "lenient::string")]
    pub comment: String,
    /// Label.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub label: Option<String>,
    /// Nullability (metadata spelling; default true).
    #[serde(
        rename = "isNullable",
        default = "yes",
        deserialize_with = "lenient::bool_default_true"
    )]
    pub is_nullable: bool,
    /// Default value.
    #[serde(
        rename = "defaultValue",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub default_value: Option<String>,
    /// Whether the column is generated.
    #[serde(
        rename = "hasGenerateExpression",
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "lenient::bool_default_false"
    )]
    pub has_generate_expression: bool,
    /// The generating expression.
    #[serde(
        rename = "generateExpression",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub generate_expression: Option<String>,
}

impl TableColumnJson {
    /// The JSON form of a column.
    pub fn from_column(c: &Column) -> Self {
        Self {
            name: c.name.clone(),
            type_name: c.ty.to_string(),
            comment: c.comment.clone(),
            label: None,
            is_nullable: c.nullable,
            default_value: None,
            has_generate_expression: false,
            generate_expression: None,
        }
    }

    /// The typed column.
    pub fn to_column(&self) -> Result<Column, SchemaError> {
        column_from_json(&self.name, &self.type_name, self.is_nullable, &self.comment)
    }
}

/// One sort column in `Reserved.SortCols`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortColJson {
    /// Column name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub col: String,
    /// `asc` or `desc`.
    #[serde(default, deserialize_with = "lenient::string")]
    pub order: String,
}

/// The JSON inside the `Reserved` string of the table JSON (§3.4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReservedJson {
    /// `"true"`/`"false"` **as a string** (py breaks on a JSON boolean; accepted on input).
    #[serde(
        rename = "Transactional",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub transactional: Option<String>,
    /// Primary key column names.
    #[serde(
        rename = "PrimaryKey",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string_list"
    )]
    pub primary_key: Option<Vec<String>>,
    /// Schema version (a string).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub schema_version: Option<String>,
    /// `hash` or `range`.
    #[serde(
        rename = "ClusterType",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub cluster_type: Option<String>,
    /// Number of hash buckets (`write.bucket.num` for Delta tables).
    #[serde(
        rename = "BucketNum",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub bucket_num: Option<i64>,
    /// Cluster columns.
    #[serde(
        rename = "ClusterCols",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string_list"
    )]
    pub cluster_cols: Option<Vec<String>>,
    /// Sort columns.
    #[serde(rename = "SortCols", default, skip_serializing_if = "Option::is_none")]
    pub sort_cols: Option<Vec<SortColJson>>,
    /// Every other key, kept as is.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The table JSON inside `<Schema>` of the table XML (§3.4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableSchemaJson {
    /// Owner.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub owner: Option<String>,
    /// Comment.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub comment: Option<String>,
    /// Label.
    #[serde(
        rename = "tableLabel",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub table_label: Option<String>,
    /// Creation time, epoch seconds.
    #[serde(
        rename = "createTime",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub create_time: Option<i64>,
    /// Last DDL time, epoch seconds.
    #[serde(
        rename = "lastDDLTime",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub last_ddl_time: Option<i64>,
    /// Last data modification time, epoch seconds.
    #[serde(
        rename = "lastModifiedTime",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub last_modified_time: Option<i64>,
    /// Last access time, epoch seconds.
    #[serde(
        rename = "lastAccessTime",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub last_access_time: Option<i64>,
    /// Lifecycle in days (-1 = none).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub lifecycle: Option<i64>,
    /// Size in bytes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub size: Option<i64>,
    /// Record count (-1 = unknown).
    #[serde(
        rename = "recordNum",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub record_num: Option<i64>,
    /// View flag.
    #[serde(
        rename = "isVirtualView",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub is_virtual_view: Option<bool>,
    /// Materialized view flag.
    #[serde(
        rename = "isMaterializedView",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub is_materialized_view: Option<bool>,
    /// External table flag.
    #[serde(
        rename = "isExternal",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub is_external: Option<bool>,
    /// Data columns.
    #[serde(default, deserialize_with = "lenient::vec")]
    pub columns: Vec<TableColumnJson>,
    /// Partition columns.
    #[serde(rename = "partitionKeys", default, deserialize_with = "lenient::vec")]
    pub partition_keys: Vec<TableColumnJson>,
    /// Extended info: **a JSON string holding JSON** ([`ReservedJson`]).
    #[serde(
        rename = "Reserved",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub reserved: Option<String>,
    /// Archived flag.
    #[serde(
        rename = "IsArchived",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub is_archived: Option<bool>,
    /// Physical size in bytes.
    #[serde(
        rename = "PhysicalSize",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub physical_size: Option<i64>,
    /// Number of files.
    #[serde(
        rename = "FileNum",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub file_num: Option<i64>,
}

impl TableSchemaJson {
    /// The typed, validated table schema.
    pub fn to_table_schema(&self) -> Result<TableSchema, SchemaError> {
        let columns = self
            .columns
            .iter()
            .map(TableColumnJson::to_column)
            .collect::<Result<Vec<_>, _>>()?;
        let partition_columns = self
            .partition_keys
            .iter()
            .map(TableColumnJson::to_column)
            .collect::<Result<Vec<_>, _>>()?;
        TableSchema::new(columns, partition_columns)
    }

    /// The parsed `Reserved` document (`None` when absent or empty).
    pub fn reserved(&self) -> Result<Option<ReservedJson>, serde_json::Error> {
        match self.reserved.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => serde_json::from_str(s).map(Some),
        }
    }
}

/// The partition JSON inside `<Schema>` of a single-partition GET (§3.6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionSchemaJson {
    /// Creation time, epoch seconds.
    #[serde(
        rename = "createTime",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub create_time: Option<i64>,
    /// Last DDL time, epoch seconds.
    #[serde(
        rename = "lastDDLTime",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub last_ddl_time: Option<i64>,
    /// Last modification time, epoch seconds.
    #[serde(
        rename = "lastModifiedTime",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub last_modified_time: Option<i64>,
    /// Last access time, epoch seconds.
    #[serde(
        rename = "lastAccessTime",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub last_access_time: Option<i64>,
    /// Size in bytes.
    #[serde(
        rename = "partitionSize",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub partition_size: Option<i64>,
    /// Record count.
    #[serde(
        rename = "partitionRecordNum",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub partition_record_num: Option<i64>,
    /// Lifecycle (extended).
    #[serde(
        rename = "LifeCycle",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub life_cycle: Option<i64>,
    /// Physical size (extended).
    #[serde(
        rename = "PhysicalSize",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub physical_size: Option<i64>,
    /// File count (extended).
    #[serde(
        rename = "FileNum",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub file_num: Option<i64>,
}

/// One entry of `UploadedBlockList`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockJson {
    /// Block id (the only field clients read).
    #[serde(rename = "BlockID", deserialize_with = "lenient::i64")]
    pub block_id: i64,
    /// Creation time.
    #[serde(
        rename = "CreateTime",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub create_time: Option<i64>,
    /// Date.
    #[serde(
        rename = "Date",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub date: Option<String>,
    /// Server-side file name.
    #[serde(
        rename = "FileName",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub file_name: Option<String>,
    /// Raw size.
    #[serde(
        rename = "RawSize",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub raw_size: Option<i64>,
    /// Rows in the block.
    #[serde(
        rename = "RecordCount",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub record_count: Option<i64>,
    /// Block version.
    #[serde(
        rename = "Version",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub version: Option<i64>,
}

/// A batch upload session (§4.4); also the commit response (often only `UploadedBlockList`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSessionJson {
    /// Session id.
    #[serde(
        rename = "UploadID",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub upload_id: Option<String>,
    /// Status (`normal`, `closed`, …; never `committing`).
    #[serde(
        rename = "Status",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub status: Option<String>,
    /// Owner.
    #[serde(
        rename = "Owner",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub owner: Option<String>,
    /// Creation time, RFC 1123.
    #[serde(
        rename = "Initiated",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub initiated: Option<String>,
    /// Overwrite mode.
    #[serde(
        rename = "IsOverwrite",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub is_overwrite: Option<bool>,
    /// Quota name.
    #[serde(
        rename = "QuotaName",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub quota_name: Option<String>,
    /// Largest field size in bytes.
    #[serde(
        rename = "MaxFieldSize",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub max_field_size: Option<i64>,
    /// Table schema.
    #[serde(rename = "Schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<TunnelSchemaJson>,
    /// Blocks the server holds.
    #[serde(
        rename = "UploadedBlockList",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub uploaded_block_list: Option<Vec<BlockJson>>,
}

/// A download session (§4.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadSessionJson {
    /// Session id.
    #[serde(
        rename = "DownloadID",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub download_id: Option<String>,
    /// Status (`normal`, `initiating`, `expired`).
    #[serde(
        rename = "Status",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub status: Option<String>,
    /// Owner.
    #[serde(
        rename = "Owner",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub owner: Option<String>,
    /// Creation time, RFC 1123.
    #[serde(
        rename = "Initiated",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub initiated: Option<String>,
    /// Quota name.
    #[serde(
        rename = "QuotaName",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub quota_name: Option<String>,
    /// Rows in the snapshot (a JSON number on output).
    #[serde(
        rename = "RecordCount",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub record_count: Option<i64>,
    /// Whether `raw_size` reads are supported.
    #[serde(
        rename = "SupportReadByRawSize",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub support_read_by_raw_size: Option<bool>,
    /// Table schema.
    #[serde(rename = "Schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<TunnelSchemaJson>,
}

/// A stream upload session (§6.1); keys are snake_case here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSessionJson {
    /// Session name (the `uploadid` of later calls).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub session_name: Option<String>,
    /// Status (`normal`; `init` makes java fail).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub status: Option<String>,
    /// Schema version (a string; numbers accepted).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub schema_version: Option<String>,
    /// Quota name (java spelling).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub quota_name: Option<String>,
    /// Quota name (py spelling).
    #[serde(
        rename = "QuotaName",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub quota_name_py: Option<String>,
    /// Table schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<TunnelSchemaJson>,
    /// `[slot_id, "ip:port"]` pairs.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_slot_pairs"
    )]
    pub slots: Option<Vec<(String, String)>>,
    /// Last batch id (`read_only` reloads).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub last_batch_id: Option<i64>,
    /// Last batch commit time, epoch ms.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_i64"
    )]
    pub last_batch_commit_time: Option<i64>,
}

/// One slot of an upsert session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertSlotJson {
    /// Slot id (a string; numbers accepted).
    #[serde(default, deserialize_with = "lenient::string")]
    pub slot_id: String,
    /// Buckets owned by the slot.
    #[serde(default, deserialize_with = "lenient::i64_list")]
    pub buckets: Vec<i64>,
    /// `ip:port` of the worker.
    #[serde(default, deserialize_with = "lenient::string")]
    pub worker_addr: String,
}

/// An upsert session (§6.2). java requires `id, schema, hash_key, hasher, slots, status` in
/// every response, including commit responses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertSessionJson {
    /// Session id.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub id: Option<String>,
    /// Status: normal, committing, committed, expired, critical, aborted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub status: Option<String>,
    /// Quota name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub quota_name: Option<String>,
    /// Partial-update mode.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub enable_partial_update: Option<bool>,
    /// Data columns only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<TunnelSchemaJson>,
    /// Hash key columns (the primary key).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string_list"
    )]
    pub hash_key: Option<Vec<String>>,
    /// `default` or `legacy`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub hasher: Option<String>,
    /// Slots and their buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<Vec<UpsertSlotJson>>,
}
