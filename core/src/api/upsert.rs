//! Upsert sessions on Delta tables (transactional with a primary key; §6.2).
//!
//! Flow: [`create_upsert`] → [`write_upsert`] per bucket (rows routed by the session's
//! `hasher` over `hash_key`) → [`commit_upsert`], re-posted until the status is `committed`
//! (see [`classify_commit_error`]). Keep the session alive with [`get_upsert`] every 30 s.
//! Records use the extended schema of [`upsert_record_columns`].

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::error::check;
use super::model::{TunnelSchemaJson, UpsertSessionJson, UpsertSlotJson};
use super::{
    ApiContext, ApiError, ErrorClass, SessionStatus, codes, headers, json_body, valid_host_port,
};
use crate::http::{Method, Request, Response, Service};
use crate::partition::PartitionSpec;
use crate::types::{Column, OdpsType, TableSchema};

/// Name of the record version meta column.
pub const VERSION_COLUMN: &str = "__version";
/// Name of the application version meta column.
pub const APP_VERSION_COLUMN: &str = "__app_version";
/// Name of the operation meta column.
pub const OPERATION_COLUMN: &str = "__operation";
/// Name of the key column list meta column.
pub const KEY_COLS_COLUMN: &str = "__key_cols";
/// Name of the value column list meta column (empty = full-row upsert).
pub const VALUE_COLS_COLUMN: &str = "__value_cols";
/// `__operation` value of an upsert (`'U'`).
pub const OP_UPSERT: i8 = b'U' as i8;
/// `__operation` value of a delete (`'D'`).
pub const OP_DELETE: i8 = b'D' as i8;
/// Bounds of the session `lifecycle` in hours.
pub const LIFECYCLE_HOURS: std::ops::RangeInclusive<u32> = 1..=24;

/// The record columns of an upsert stream: the data columns, then `__version bigint,
/// __app_version bigint, __operation tinyint, __key_cols array<bigint>, __value_cols
/// array<bigint>` (field numbers continue after the data columns).
pub fn upsert_record_columns(data_columns: &[Column]) -> Vec<Column> {
    let mut cols = data_columns.to_vec();
    cols.push(Column::new(VERSION_COLUMN, OdpsType::BigInt));
    cols.push(Column::new(APP_VERSION_COLUMN, OdpsType::BigInt));
    cols.push(Column::new(OPERATION_COLUMN, OdpsType::TinyInt));
    cols.push(Column::new(
        KEY_COLS_COLUMN,
        OdpsType::array(OdpsType::BigInt),
    ));
    cols.push(Column::new(
        VALUE_COLS_COLUMN,
        OdpsType::array(OdpsType::BigInt),
    ));
    cols
}

/// The bucket hash function of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Hasher {
    /// `default` (also used for missing or unknown values, as java does).
    Default,
    /// `legacy`.
    Legacy,
}

impl Hasher {
    /// Parses the `hasher` field.
    pub fn parse(s: Option<&str>) -> Self {
        match s.map(str::trim) {
            Some(h) if h.eq_ignore_ascii_case("legacy") => Hasher::Legacy,
            _ => Hasher::Default,
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Hasher::Default => "default",
            Hasher::Legacy => "legacy",
        }
    }
}

/// One slot of an upsert session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertSlot {
    /// Slot id.
    pub slot_id: String,
    /// Buckets the slot owns.
    pub buckets: Vec<u32>,
    /// `ip:port` of the worker (`odps-tunnel-routed-server` for writes).
    pub worker_addr: String,
}

/// An upsert session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertSession {
    /// Session id.
    pub id: String,
    /// Status: normal, committing, committed, expired, critical, aborted.
    pub status: SessionStatus,
    /// Data columns (partition columns, if sent, included).
    pub schema: TableSchema,
    /// `column_id` of each data column as sent (for partial updates' `__value_cols`).
    pub column_ids: Vec<String>,
    /// Hash key columns.
    pub hash_key: Vec<String>,
    /// Bucket hash function.
    pub hasher: Hasher,
    /// Slots; their buckets are exactly `0..bucket_count()`.
    pub slots: Vec<UpsertSlot>,
    /// Partial-update mode.
    pub enable_partial_update: bool,
    /// Quota name.
    pub quota_name: Option<String>,
}

impl UpsertSession {
    /// Number of buckets B (rows go to bucket `hash % B`).
    pub fn bucket_count(&self) -> u32 {
        self.slots
            .iter()
            .map(|s| u32::try_from(s.buckets.len()).unwrap_or(u32::MAX))
            .fold(0u32, u32::saturating_add)
    }

    /// The slot owning `bucket`.
    pub fn slot_for_bucket(&self, bucket: u32) -> Option<&UpsertSlot> {
        self.slots.iter().find(|s| s.buckets.contains(&bucket))
    }

    /// The JSON document with all six fields java requires (for the mock server).
    pub fn to_json_model(&self) -> UpsertSessionJson {
        let mut schema = TunnelSchemaJson::from_table_schema(&self.schema);
        for (c, id) in schema.columns.iter_mut().zip(&self.column_ids) {
            c.column_id = id.clone();
        }
        UpsertSessionJson {
            id: Some(self.id.clone()),
            status: Some(self.status.to_string()),
            quota_name: Some(self.quota_name.clone().unwrap_or_default()),
            enable_partial_update: Some(self.enable_partial_update),
            schema: Some(schema),
            hash_key: Some(self.hash_key.clone()),
            hasher: Some(self.hasher.as_str().to_string()),
            slots: Some(
                self.slots
                    .iter()
                    .map(|s| UpsertSlotJson {
                        slot_id: s.slot_id.clone(),
                        buckets: s.buckets.iter().map(|b| i64::from(*b)).collect(),
                        worker_addr: s.worker_addr.clone(),
                    })
                    .collect(),
            ),
        }
    }
}

fn upserts_path(ctx: &ApiContext, table: &str) -> String {
    format!("{}/upserts", ctx.table_path(table))
}

/// `POST …/upserts?[partition=&]slotnum=<n>[&lifecycle=<h>][&quotaName=]` (lifecycle is
/// clamped to 1..=24 hours).
pub fn create_upsert(
    ctx: &ApiContext,
    table: &str,
    partition: &PartitionSpec,
    slot_num: u32,
    lifecycle_hours: Option<u32>,
) -> Request {
    ctx.tunnel(Method::Post, upserts_path(ctx, table))
        .tunnel_partition(partition)
        .q("slotnum", slot_num.to_string())
        .opt_q(
            "lifecycle",
            lifecycle_hours.map(|h| {
                h.clamp(*LIFECYCLE_HOURS.start(), *LIFECYCLE_HOURS.end())
                    .to_string()
            }),
        )
        .quota()
        .build()
}

/// `GET …/upserts?upsertid=<id>[&partition=]` (reload / keep-alive / commit poll).
pub fn get_upsert(
    ctx: &ApiContext,
    table: &str,
    partition: &PartitionSpec,
    upsert_id: &str,
) -> Request {
    ctx.tunnel(Method::Get, upserts_path(ctx, table))
        .q("upsertid", upsert_id)
        .tunnel_partition(partition)
        .build()
}

/// One bucket's write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpsertWrite {
    /// Partition of the session.
    pub partition: PartitionSpec,
    /// Session id.
    pub upsert_id: String,
    /// Bucket of every row in the body.
    pub bucket: u32,
    /// Slot owning the bucket.
    pub slot_id: String,
    /// That slot's `worker_addr`.
    pub routed_server: String,
    /// Rows in the body.
    pub record_count: u64,
    /// `Content-Encoding` of the body.
    pub content_encoding: Option<String>,
}

/// `PUT …/upserts?upsertid=[&partition=]&bucketid=&slotid=&record_count=` with
/// `odps-tunnel-routed-server` and the record stream (extended schema) as body.
pub fn write_upsert(ctx: &ApiContext, table: &str, w: &UpsertWrite, body: Bytes) -> Request {
    ctx.tunnel(Method::Put, upserts_path(ctx, table))
        .q("upsertid", w.upsert_id.clone())
        .tunnel_partition(&w.partition)
        .q("bucketid", w.bucket.to_string())
        .q("slotid", w.slot_id.clone())
        .q("record_count", w.record_count.to_string())
        .header(headers::ROUTED_SERVER, w.routed_server.clone())
        .opt_header(headers::CONTENT_ENCODING, w.content_encoding.clone())
        .body(body)
        .build()
}

/// `POST …/upserts?upsertid=<id>[&partition=]` with `odps-tunnel-routed-server` (the server
/// of bucket 0). Re-post until the status is `committed`.
pub fn commit_upsert(
    ctx: &ApiContext,
    table: &str,
    partition: &PartitionSpec,
    upsert_id: &str,
    routed_server: &str,
) -> Request {
    ctx.tunnel(Method::Post, upserts_path(ctx, table))
        .q("upsertid", upsert_id)
        .tunnel_partition(partition)
        .header(headers::ROUTED_SERVER, routed_server)
        .build()
}

/// `DELETE …/upserts?upsertid=<id>[&partition=]` with `odps-tunnel-routed-server`.
pub fn abort_upsert(
    ctx: &ApiContext,
    table: &str,
    partition: &PartitionSpec,
    upsert_id: &str,
    routed_server: &str,
) -> Request {
    ctx.tunnel(Method::Delete, upserts_path(ctx, table))
        .q("upsertid", upsert_id)
        .tunnel_partition(partition)
        .header(headers::ROUTED_SERVER, routed_server)
        .build()
}

/// Parses an upsert session (create, reload, commit). Requires `id`, `schema` and `slots`;
/// checks that the buckets are exactly `0..B` and that worker addresses are `ip:port`.
pub fn parse_upsert_session(resp: &Response) -> Result<UpsertSession, ApiError> {
    check(resp, Service::Tunnel)?;
    let j: UpsertSessionJson = json_body(resp, "upsert session")?;
    let bad = |m: String| ApiError::malformed(resp, format!("upsert session: {m}"));
    let id =
        j.id.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("no id".into()))?;
    let schema_json = j.schema.as_ref().ok_or_else(|| bad("no schema".into()))?;
    let schema = schema_json
        .to_table_schema()
        .map_err(|e| bad(e.to_string()))?;
    let column_ids = schema_json
        .columns
        .iter()
        .map(|c| c.column_id.clone())
        .collect();
    let slots_json = j.slots.as_ref().ok_or_else(|| bad("no slots".into()))?;
    let mut slots = Vec::with_capacity(slots_json.len());
    let mut all: Vec<u32> = Vec::new();
    for s in slots_json {
        if s.slot_id.is_empty() {
            return Err(bad("slot without slot_id".into()));
        }
        if !valid_host_port(&s.worker_addr) {
            return Err(bad(format!(
                "slot {} has worker_addr {:?}, expected `ip:port`",
                s.slot_id, s.worker_addr
            )));
        }
        let buckets = s
            .buckets
            .iter()
            .map(|b| u32::try_from(*b).map_err(|_| bad(format!("negative or huge bucket {b}"))))
            .collect::<Result<Vec<_>, _>>()?;
        all.extend(&buckets);
        slots.push(UpsertSlot {
            slot_id: s.slot_id.clone(),
            buckets,
            worker_addr: s.worker_addr.clone(),
        });
    }
    all.sort_unstable();
    if all.is_empty() {
        return Err(bad("no buckets".into()));
    }
    for (i, b) in all.iter().enumerate() {
        if u32::try_from(i).ok() != Some(*b) {
            return Err(bad(format!(
                "buckets must be exactly 0..{} across slots (found {all:?})",
                all.len()
            )));
        }
    }
    Ok(UpsertSession {
        id,
        status: SessionStatus::parse(j.status.as_deref()),
        schema,
        column_ids,
        hash_key: j.hash_key.clone().unwrap_or_default(),
        hasher: Hasher::parse(j.hasher.as_deref()),
        slots,
        enable_partial_update: j.enable_partial_update.unwrap_or(false),
        quota_name: j.quota_name.clone().filter(|q| !q.is_empty()),
    })
}

/// Classifies an error met while committing or polling a commit: `UpsertSessionNotFound`
/// (and `StreamSessionNotFound`, which py also accepts) means the session was committed
/// and cleaned up, so it is `AlreadyDone`; everything else keeps its class.
pub fn classify_commit_error(err: &ApiError) -> ErrorClass {
    if err.code == codes::UPSERT_SESSION_NOT_FOUND || err.code == codes::STREAM_SESSION_NOT_FOUND {
        ErrorClass::AlreadyDone
    } else {
        err.class
    }
}
