//! Batch upload sessions (§4.4) and download sessions (§4.5) of the table tunnel, with the
//! Arrow flags of §6.3.
//!
//! Upload flow: [`create_upload`] → [`upload_block`] per block → [`get_upload`] (block list
//! check) → [`commit_upload`]. A retried commit may meet a session that is already closed:
//! reload it — status `closed` means the first commit went through.
//!
//! Download flow: [`create_download`] (poll [`get_download`] while `initiating`) →
//! [`read_rows`] per row range.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::error::check;
use super::model::{BlockJson, DownloadSessionJson, TunnelSchemaJson, UploadSessionJson};
use super::{ApiContext, ApiError, SessionStatus, headers, json_body};
use crate::http::{Method, Request, Response, Service};
use crate::partition::PartitionSpec;
use crate::types::TableSchema;

/// Largest block id + 1 (block ids are `0..20000`).
pub const MAX_BLOCKS: u32 = 20_000;

fn schema_of(resp: &Response, what: &str, s: &TunnelSchemaJson) -> Result<TableSchema, ApiError> {
    s.to_table_schema()
        .map_err(|e| ApiError::malformed(resp, format!("{what}: {e}")))
}

// ---------------------------------------------------------------------------------------
// Upload

/// Options of [`create_upload`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadOptions {
    /// Target partition (empty for a non-partitioned table).
    pub partition: PartitionSpec,
    /// Replace the partition's (or table's) data at commit.
    pub overwrite: bool,
    /// Ask the service to create the partition if missing (`create_partition=true`).
    pub create_partition: bool,
}

/// A batch upload session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    /// `UploadID`.
    pub id: String,
    /// Status (`Unknown` when the response has none).
    pub status: SessionStatus,
    /// Table schema (required in session responses).
    pub schema: TableSchema,
    /// Block ids the server holds, ascending.
    pub blocks: Vec<u32>,
    /// Largest field size in bytes.
    pub max_field_size: Option<u64>,
    /// Overwrite mode.
    pub is_overwrite: bool,
    /// Quota name.
    pub quota_name: Option<String>,
    /// Owner.
    pub owner: Option<String>,
    /// Creation time text (RFC 1123).
    pub initiated: Option<String>,
}

impl UploadSession {
    /// The JSON document (for the mock server). Never render `Committing` for a batch
    /// upload: pyodps crashes on it.
    pub fn to_json_model(&self) -> UploadSessionJson {
        UploadSessionJson {
            upload_id: Some(self.id.clone()),
            status: Some(self.status.to_string()),
            owner: self.owner.clone(),
            initiated: self.initiated.clone(),
            is_overwrite: Some(self.is_overwrite),
            quota_name: self.quota_name.clone(),
            max_field_size: self.max_field_size.and_then(|m| i64::try_from(m).ok()),
            schema: Some(TunnelSchemaJson::from_table_schema(&self.schema)),
            uploaded_block_list: Some(
                self.blocks
                    .iter()
                    .map(|b| BlockJson {
                        block_id: i64::from(*b),
                        ..BlockJson::default()
                    })
                    .collect(),
            ),
        }
    }
}

/// What a commit response says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadCommit {
    /// Status, when the response has one (`closed` after a commit).
    pub status: SessionStatus,
    /// Committed block ids, ascending (empty when not listed).
    pub blocks: Vec<u32>,
}

/// `POST /projects/{p}/tables/{t}?uploads=1[&partition=][&overwrite=true][&create_partition=true][&quotaName=]`.
pub fn create_upload(ctx: &ApiContext, table: &str, opts: &UploadOptions) -> Request {
    ctx.tunnel(Method::Post, ctx.table_path(table))
        .q("uploads", "1")
        .tunnel_partition(&opts.partition)
        .opt_q("overwrite", opts.overwrite.then_some("true"))
        .opt_q("create_partition", opts.create_partition.then_some("true"))
        .quota()
        .build()
}

/// `GET /projects/{p}/tables/{t}?uploadid=<id>[&partition=]&getblockid=true` (reload with the
/// block list).
pub fn get_upload(
    ctx: &ApiContext,
    table: &str,
    partition: &PartitionSpec,
    upload_id: &str,
) -> Request {
    ctx.tunnel(Method::Get, ctx.table_path(table))
        .q("uploadid", upload_id)
        .tunnel_partition(partition)
        .q("getblockid", "true")
        .build()
}

/// Options of [`upload_block`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockOptions {
    /// The body is Arrow-framed (§6.3), adds the bare `arrow` flag.
    pub arrow: bool,
    /// `Content-Encoding` of the body (`deflate`, `x-snappy-framed`, `x-lz4-frame`, `zstd`,
    /// `x-odps-lz4-frame` for Arrow); `None` for an uncompressed body.
    pub content_encoding: Option<String>,
    /// `block_version` (> 0) for versioned re-uploads.
    pub block_version: Option<u64>,
}

/// `PUT /projects/{p}/tables/{t}?uploadid=<id>[&partition=]&blockid=<n>[&arrow][&block_version=]`
/// with the caller's bytes (`Content-Type: application/octet-stream`).
pub fn upload_block(
    ctx: &ApiContext,
    table: &str,
    partition: &PartitionSpec,
    upload_id: &str,
    block_id: u32,
    opts: &BlockOptions,
    body: Bytes,
) -> Request {
    ctx.tunnel(Method::Put, ctx.table_path(table))
        .q("uploadid", upload_id)
        .tunnel_partition(partition)
        .q("blockid", block_id.to_string())
        .flag_if("arrow", opts.arrow)
        .opt_q("block_version", opts.block_version.map(|v| v.to_string()))
        .header(headers::CONTENT_TYPE, headers::OCTET_STREAM)
        .opt_header(headers::CONTENT_ENCODING, opts.content_encoding.clone())
        .body(body)
        .build()
}

/// `POST /projects/{p}/tables/{t}?uploadid=<id>[&partition=]` (no body, no block list: the
/// server commits every block it holds).
pub fn commit_upload(
    ctx: &ApiContext,
    table: &str,
    partition: &PartitionSpec,
    upload_id: &str,
) -> Request {
    ctx.tunnel(Method::Post, ctx.table_path(table))
        .q("uploadid", upload_id)
        .tunnel_partition(partition)
        .build()
}

fn block_ids(resp: &Response, list: Option<&[BlockJson]>) -> Result<Vec<u32>, ApiError> {
    let mut ids = list
        .unwrap_or_default()
        .iter()
        .map(|b| {
            u32::try_from(b.block_id)
                .ok()
                .filter(|id| *id < MAX_BLOCKS)
                .ok_or_else(|| {
                    ApiError::malformed(resp, format!("block id {} out of range", b.block_id))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Parses an upload session (create or reload).
pub fn parse_upload_session(resp: &Response) -> Result<UploadSession, ApiError> {
    check(resp, Service::Tunnel)?;
    let j: UploadSessionJson = json_body(resp, "upload session")?;
    let id = j
        .upload_id
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::malformed(resp, "upload session: no UploadID"))?;
    let schema = j
        .schema
        .as_ref()
        .ok_or_else(|| ApiError::malformed(resp, "upload session: no Schema"))?;
    Ok(UploadSession {
        id,
        status: SessionStatus::parse(j.status.as_deref()),
        schema: schema_of(resp, "upload session", schema)?,
        blocks: block_ids(resp, j.uploaded_block_list.as_deref())?,
        max_field_size: j.max_field_size.and_then(|m| u64::try_from(m).ok()),
        is_overwrite: j.is_overwrite.unwrap_or(false),
        quota_name: j.quota_name,
        owner: j.owner,
        initiated: j.initiated,
    })
}

/// Parses a commit response (any JSON object; `{}` is fine).
pub fn parse_upload_commit(resp: &Response) -> Result<UploadCommit, ApiError> {
    check(resp, Service::Tunnel)?;
    let j: UploadSessionJson = json_body(resp, "upload commit")?;
    Ok(UploadCommit {
        status: SessionStatus::parse(j.status.as_deref()),
        blocks: block_ids(resp, j.uploaded_block_list.as_deref())?,
    })
}

/// Parses a response whose body is ignored (block PUT, stream abort, …): 2xx or an error.
pub fn parse_empty(resp: &Response) -> Result<(), ApiError> {
    check(resp, Service::Tunnel)
}

// ---------------------------------------------------------------------------------------
// Download

/// Options of [`create_download`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Partition to read (empty for a non-partitioned table).
    pub partition: PartitionSpec,
    /// `asyncmode=true`: the server may answer `initiating` and must then be polled.
    pub async_mode: bool,
}

/// A download session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadSession {
    /// `DownloadID`.
    pub id: String,
    /// Status (`Initiating` means poll [`get_download`]).
    pub status: SessionStatus,
    /// Rows in the snapshot (absent while initiating).
    pub record_count: Option<u64>,
    /// Table schema (absent while initiating).
    pub schema: Option<TableSchema>,
    /// Whether `raw_size` reads are supported.
    pub supports_raw_size: bool,
    /// Quota name.
    pub quota_name: Option<String>,
    /// Owner.
    pub owner: Option<String>,
    /// Creation time text (RFC 1123).
    pub initiated: Option<String>,
}

impl DownloadSession {
    /// Ready to read: not initiating and both count and schema known.
    pub fn is_ready(&self) -> bool {
        self.status != SessionStatus::Initiating
            && self.record_count.is_some()
            && self.schema.is_some()
    }

    /// The JSON document (for the mock server). Only `Normal`, `Initiating` and `Expired`
    /// are safe for both SDKs (`closed` is unknown to pyodps, which spells it `CLOSES`).
    pub fn to_json_model(&self) -> DownloadSessionJson {
        DownloadSessionJson {
            download_id: Some(self.id.clone()),
            status: Some(self.status.to_string()),
            owner: self.owner.clone(),
            initiated: self.initiated.clone(),
            quota_name: self.quota_name.clone(),
            record_count: self.record_count.and_then(|c| i64::try_from(c).ok()),
            support_read_by_raw_size: Some(self.supports_raw_size),
            schema: self
                .schema
                .as_ref()
                .map(TunnelSchemaJson::from_table_schema),
        }
    }
}

/// `POST /projects/{p}/tables/{t}?downloads[&partition=][&asyncmode=true][&quotaName=]`.
pub fn create_download(ctx: &ApiContext, table: &str, opts: &DownloadOptions) -> Request {
    ctx.tunnel(Method::Post, ctx.table_path(table))
        .flag("downloads")
        .tunnel_partition(&opts.partition)
        .opt_q("asyncmode", opts.async_mode.then_some("true"))
        .quota()
        .build()
}

/// `GET /projects/{p}/tables/{t}?downloadid=<id>[&partition=]`.
pub fn get_download(
    ctx: &ApiContext,
    table: &str,
    partition: &PartitionSpec,
    download_id: &str,
) -> Request {
    ctx.tunnel(Method::Get, ctx.table_path(table))
        .q("downloadid", download_id)
        .tunnel_partition(partition)
        .build()
}

/// Parses a download session (create or reload).
pub fn parse_download_session(resp: &Response) -> Result<DownloadSession, ApiError> {
    check(resp, Service::Tunnel)?;
    let j: DownloadSessionJson = json_body(resp, "download session")?;
    let id = j
        .download_id
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::malformed(resp, "download session: no DownloadID"))?;
    let record_count = match j.record_count {
        None => None,
        Some(c) => Some(u64::try_from(c).map_err(|_| {
            ApiError::malformed(resp, format!("download session: negative RecordCount {c}"))
        })?),
    };
    let schema = match &j.schema {
        None => None,
        Some(s) => Some(schema_of(resp, "download session", s)?),
    };
    Ok(DownloadSession {
        id,
        status: SessionStatus::parse(j.status.as_deref()),
        record_count,
        schema,
        supports_raw_size: j.support_read_by_raw_size.unwrap_or(false),
        quota_name: j.quota_name,
        owner: j.owner,
        initiated: j.initiated,
    })
}

/// A row range read of [`read_rows`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadRange {
    /// Partition of the session.
    pub partition: PartitionSpec,
    /// First row.
    pub start: u64,
    /// Number of rows.
    pub count: u64,
    /// Column projection (`columns=a,b`; fields are numbered in this order). Partition
    /// columns must not be listed.
    pub columns: Option<Vec<String>>,
    /// Arrow framing instead of the record stream (bare `arrow` flag).
    pub arrow: bool,
    /// `Accept-Encoding` for the response.
    pub accept_encoding: Option<String>,
    /// `raw_size=<bytes>` (only when the session supports it).
    pub raw_size: Option<u64>,
    /// `disable_modified_check=true`.
    pub disable_modified_check: bool,
}

/// `GET /projects/{p}/tables/{t}?data[&arrow]&downloadid=<id>[&partition=]&rowrange=(s,c)[&columns=]…`.
pub fn read_rows(ctx: &ApiContext, table: &str, download_id: &str, range: &ReadRange) -> Request {
    ctx.tunnel(Method::Get, ctx.table_path(table))
        .flag("data")
        .flag_if("arrow", range.arrow)
        .q("downloadid", download_id)
        .tunnel_partition(&range.partition)
        .q("rowrange", format!("({},{})", range.start, range.count))
        .opt_q("columns", range.columns.as_ref().map(|c| c.join(",")))
        .opt_q("raw_size", range.raw_size.map(|r| r.to_string()))
        .opt_q(
            "disable_modified_check",
            range.disable_modified_check.then_some("true"),
        )
        .opt_header(headers::ACCEPT_ENCODING, range.accept_encoding.clone())
        .build()
}

/// The body of a data response with its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataBody {
    /// The (possibly compressed) body.
    pub body: Bytes,
    /// The response's `Content-Encoding` (decides decoding, whatever was asked for).
    pub content_encoding: Option<String>,
}

/// Parses a data response.
pub fn parse_data(resp: &Response) -> Result<DataBody, ApiError> {
    check(resp, Service::Tunnel)?;
    Ok(DataBody {
        body: resp.body.clone(),
        content_encoding: resp
            .headers
            .get(headers::CONTENT_ENCODING)
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
            .map(str::to_string),
    })
}

/// Parses a `rowrange` query value `(start,count)` (for the mock server).
pub fn parse_row_range(value: &str) -> Option<(u64, u64)> {
    let inner = value.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (s, c) = inner.split_once(',')?;
    Some((s.trim().parse().ok()?, c.trim().parse().ok()?))
}
