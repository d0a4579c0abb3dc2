//! Stream upload sessions (§6.1): data is visible as soon as each PUT succeeds; no commit.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::error::check;
use super::model::{StreamSessionJson, TunnelSchemaJson};
use super::{ApiContext, ApiError, SessionStatus, headers, json_body, valid_host_port};
use crate::http::{Method, Request, Response, Service};
use crate::partition::PartitionSpec;
use crate::types::TableSchema;

/// Options of [`create_stream`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// Target partition (empty for non-partitioned tables or dynamic partitioning).
    pub partition: PartitionSpec,
    /// Bare `create_partition` flag.
    pub create_partition: bool,
    /// Requested slot count (`odps-tunnel-slot-num`; 0/None lets the server decide).
    pub slot_num: Option<u32>,
    /// `schema_version=`.
    pub schema_version: Option<String>,
    /// `check_latest_schema=true|false` (always sent).
    pub check_latest_schema: bool,
    /// `dynamic_partition=true`.
    pub dynamic_partition: bool,
    /// `zorder_columns=a,b`.
    pub zorder_columns: Vec<String>,
}

/// A stream upload session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSession {
    /// `session_name` (the `uploadid` of later calls).
    pub name: String,
    /// Status.
    pub status: SessionStatus,
    /// Table schema.
    pub schema: TableSchema,
    /// `(slot_id, "ip:port")` pairs.
    pub slots: Vec<(String, String)>,
    /// Schema version, echoed on writes.
    pub schema_version: Option<String>,
    /// Quota name (`quota_name` or `QuotaName`).
    pub quota_name: Option<String>,
}

impl StreamSession {
    /// The JSON document (for the mock server; sends both quota spellings).
    pub fn to_json_model(&self) -> StreamSessionJson {
        StreamSessionJson {
            session_name: Some(self.name.clone()),
            status: Some(self.status.to_string()),
            schema_version: self.schema_version.clone(),
            quota_name: self.quota_name.clone(),
            quota_name_py: self.quota_name.clone(),
            schema: Some(TunnelSchemaJson::from_table_schema(&self.schema)),
            slots: Some(self.slots.clone()),
            last_batch_id: None,
            last_batch_commit_time: None,
        }
    }
}

fn streams_path(ctx: &ApiContext, table: &str) -> String {
    format!("{}/streams", ctx.table_path(table))
}

/// `POST …/streams[?partition=][&create_partition][&schema_version=][&zorder_columns=][&dynamic_partition=true]&check_latest_schema=…`
/// with `odps-tunnel-slot-num` when a slot count is requested.
pub fn create_stream(ctx: &ApiContext, table: &str, opts: &StreamOptions) -> Request {
    let zorder = (!opts.zorder_columns.is_empty()).then(|| opts.zorder_columns.join(","));
    ctx.tunnel(Method::Post, streams_path(ctx, table))
        .tunnel_partition(&opts.partition)
        .flag_if("create_partition", opts.create_partition)
        .opt_q("schema_version", opts.schema_version.clone())
        .opt_q("zorder_columns", zorder)
        .opt_q(
            "dynamic_partition",
            opts.dynamic_partition.then_some("true"),
        )
        .q("check_latest_schema", opts.check_latest_schema.to_string())
        .quota()
        .opt_header(
            headers::SLOT_NUM,
            opts.slot_num.filter(|n| *n > 0).map(|n| n.to_string()),
        )
        .build()
}

/// `GET …/streams?uploadid=<name>[&partition=][&schema_version=]` (reload, new routes).
pub fn get_stream(
    ctx: &ApiContext,
    table: &str,
    partition: &PartitionSpec,
    session_name: &str,
    schema_version: Option<&str>,
) -> Request {
    ctx.tunnel(Method::Get, streams_path(ctx, table))
        .q("uploadid", session_name)
        .tunnel_partition(partition)
        .opt_q("schema_version", schema_version)
        .build()
}

/// One stream write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamWrite {
    /// Partition of the session.
    pub partition: PartitionSpec,
    /// Session name.
    pub session_name: String,
    /// Slot id used.
    pub slot_id: String,
    /// That slot's `ip:port` (`odps-tunnel-routed-server`).
    pub routed_server: String,
    /// Number of slots the client knows (`odps-tunnel-slot-num`).
    pub slot_count: usize,
    /// Schema version of the session.
    pub schema_version: Option<String>,
    /// Rows in the body (`record_count=`).
    pub record_count: Option<u64>,
    /// `check_latest_schema=` value.
    pub check_latest_schema: bool,
    /// `Content-Encoding` of the body.
    pub content_encoding: Option<String>,
}

/// `PUT …/streams?uploadid=&slotid=[&partition=][&schema_version=][&record_count=]&check_latest_schema=`
/// with the routing headers and the record-stream body.
pub fn write_stream(ctx: &ApiContext, table: &str, w: &StreamWrite, body: Bytes) -> Request {
    ctx.tunnel(Method::Put, streams_path(ctx, table))
        .q("uploadid", w.session_name.clone())
        .q("slotid", w.slot_id.clone())
        .tunnel_partition(&w.partition)
        .opt_q("schema_version", w.schema_version.clone())
        .opt_q("record_count", w.record_count.map(|n| n.to_string()))
        .q("check_latest_schema", w.check_latest_schema.to_string())
        .header(headers::ROUTED_SERVER, w.routed_server.clone())
        .header(headers::SLOT_NUM, w.slot_count.to_string())
        .header(headers::CONTENT_TYPE, headers::OCTET_STREAM)
        .opt_header(headers::CONTENT_ENCODING, w.content_encoding.clone())
        .body(body)
        .build()
}

/// `POST …/streams?uploadid=<name>[&partition=]` with the routing header (abort).
pub fn abort_stream(
    ctx: &ApiContext,
    table: &str,
    partition: &PartitionSpec,
    session_name: &str,
    routed_server: &str,
) -> Request {
    ctx.tunnel(Method::Post, streams_path(ctx, table))
        .q("uploadid", session_name)
        .tunnel_partition(partition)
        .header(headers::ROUTED_SERVER, routed_server)
        .build()
}

/// Parses a stream session (create or reload). Slot addresses must be `ip:port`.
pub fn parse_stream_session(resp: &Response) -> Result<StreamSession, ApiError> {
    check(resp, Service::Tunnel)?;
    let j: StreamSessionJson = json_body(resp, "stream session")?;
    let name = j
        .session_name
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::malformed(resp, "stream session: no session_name"))?;
    let schema = j
        .schema
        .as_ref()
        .ok_or_else(|| ApiError::malformed(resp, "stream session: no schema"))?
        .to_table_schema()
        .map_err(|e| ApiError::malformed(resp, format!("stream session: {e}")))?;
    let slots = j.slots.clone().unwrap_or_default();
    if slots.is_empty() {
        return Err(ApiError::malformed(resp, "stream session: no slots"));
    }
    for (id, addr) in &slots {
        if id.is_empty() || !valid_host_port(addr) {
            return Err(ApiError::malformed(
                resp,
                format!(
                    "stream session: bad slot [{id:?}, {addr:?}] (expected an id and `ip:port`)"
                ),
            ));
        }
    }
    Ok(StreamSession {
        name,
        status: SessionStatus::parse(j.status.as_deref()),
        schema,
        slots,
        schema_version: j.schema_version.filter(|v| !v.is_empty()),
        quota_name: j.quota_name.or(j.quota_name_py),
    })
}

/// The routing headers of a successful stream write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamWriteAck {
    /// `odps-tunnel-routed-server`: the slot's current address.
    pub routed_server: String,
    /// `odps-tunnel-slot-num`: the session's slot count (reload when it changed).
    pub slot_num: u32,
}

/// Parses a stream write response; both routing headers are required.
pub fn parse_stream_write(resp: &Response) -> Result<StreamWriteAck, ApiError> {
    check(resp, Service::Tunnel)?;
    let routed_server = resp
        .headers
        .get(headers::ROUTED_SERVER)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::malformed(resp, "stream write: no odps-tunnel-routed-server header")
        })?
        .to_string();
    let slot_num = resp
        .headers
        .get(headers::SLOT_NUM)
        .and_then(|s| s.trim().parse::<u32>().ok())
        .ok_or_else(|| {
            ApiError::malformed(
                resp,
                "stream write: missing or non-numeric odps-tunnel-slot-num header",
            )
        })?;
    Ok(StreamWriteAck {
        routed_server,
        slot_num,
    })
}

/// A successful stream write response with the routing headers (for the mock).
pub fn render_stream_write(ack: &StreamWriteAck) -> Response {
    Response::new(200, "")
        .with_header(headers::ROUTED_SERVER, ack.routed_server.clone())
        .with_header(headers::SLOT_NUM, ack.slot_num.to_string())
}
