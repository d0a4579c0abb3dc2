//! Tunnel handlers: batch upload, download, stream upload and upsert sessions.

use arrow_array::{Array, Int8Array, Int64Array, ListArray, RecordBatch};
use bytes::Bytes;
use maxc_core::api::model::{
    BlockJson, DownloadSessionJson, StreamSessionJson, TunnelSchemaJson, UploadSessionJson,
    UpsertSessionJson, UpsertSlotJson,
};
use maxc_core::api::upsert::{OP_DELETE, OP_UPSERT, upsert_record_columns};
use maxc_core::http::{Request, Response};
use maxc_core::types::{Column, TableSchema};

use super::data::{Loc, RowOp};
use super::ddl::check_partition_value;
use super::{Ctx, Service, json_resp};
use crate::error::MockError;
use crate::payload::{self, Encoding};
use crate::service::route::Route;
use crate::sessions::{
    Block, DownloadSession, SessionStatus, StreamSession, Target, UploadSession, UpsertSession,
};
use crate::spec::PartSpec;
use crate::time::{MockTime, format_rfc1123};
use crate::values::{Value, row_values};

/// Block ids are `0..MAX_BLOCKS`.
pub const MAX_BLOCKS: u32 = 20_000;
/// Most slots of a stream or upsert session.
pub const MAX_SLOTS: u32 = 256;

fn flag(req: &Request, key: &str) -> bool {
    req.query_param(key)
        .is_some_and(|v| !v.eq_ignore_ascii_case("false") && v != "0")
}

fn json_ok<T: serde::Serialize>(status: u16, v: &T) -> Result<Response, MockError> {
    let j = serde_json::to_value(v).map_err(|e| MockError::internal(e.to_string()))?;
    Ok(json_resp(status, &j))
}

fn loc(t: &Target) -> Loc {
    Loc {
        project: t.project.clone(),
        schema: t.schema.clone(),
        table: t.table.clone(),
        partition: t.partition.clone(),
    }
}

fn schema_json(t: &Target, with_partitions: bool) -> TunnelSchemaJson {
    TunnelSchemaJson::from_table_schema(&TableSchema {
        columns: t.columns.clone(),
        partition_columns: if with_partitions {
            t.partition_columns.clone()
        } else {
            Vec::new()
        },
    })
}

/// `ip:port` of this server as clients reach it (the `Host` header).
fn self_addr(req: &Request) -> String {
    let host = req.headers.get("host").unwrap_or("127.0.0.1").trim();
    let has_port = match host.rsplit_once(':') {
        Some((h, p)) => !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    };
    if has_port {
        host.to_string()
    } else {
        format!("{host}:80")
    }
}

fn same_table(t: &Target, route: &Route) -> bool {
    route
        .project
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case(&t.project))
        && route
            .table
            .as_deref()
            .is_some_and(|x| x.eq_ignore_ascii_case(&t.table))
}

/// Resolves the table and partition of a session-creating request.
fn resolve_target(
    svc: &mut Service,
    route: &Route,
    req: &Request,
    create_partition: bool,
    now: MockTime,
) -> Result<Target, MockError> {
    let project = route.project.clone().unwrap_or_default();
    let table = route.table.clone().unwrap_or_default();
    let t = svc
        .catalog
        .table(&project, route.schema.as_deref(), &table)?;
    let spec = match req.query_param("partition") {
        Some(p) if !p.trim().is_empty() => {
            PartSpec::parse(p).map_err(|e| MockError::bad_request("InvalidPartitionSpec", e))?
        }
        _ => PartSpec::default(),
    };
    if t.is_partitioned() && spec.is_empty() {
        return Err(MockError::bad_request(
            "MissingPartitionSpec",
            "You need to specify a partitionspec along with the specified table.",
        ));
    }
    let values = spec.resolve(&t.schema.partition_columns)?;
    for (c, v) in t.schema.partition_columns.iter().zip(&values) {
        check_partition_value(c, v)
            .map_err(|e| MockError::bad_request("InvalidPartitionSpec", e))?;
    }
    let target = Target {
        project: svc.catalog.project(&project)?.name.clone(),
        schema: route.schema.clone(),
        table: t.name.clone(),
        table_id: t.id.clone(),
        partition: values.clone(),
        columns: t.schema.columns.clone(),
        partition_columns: t.schema.partition_columns.clone(),
    };
    if t.is_partitioned() && !t.partitions.contains_key(&values) {
        if !create_partition {
            return Err(MockError::no_such_partition(&t.spec_text(&values)));
        }
        svc.catalog
            .table_mut(&project, route.schema.as_deref(), &table)?
            .ensure_partition(values, now.epoch_ms());
        svc.dirty = true;
    }
    Ok(target)
}

/// Fails when the session's table was dropped (or dropped and re-created).
fn check_table(svc: &Service, t: &Target) -> Result<(), MockError> {
    match svc.catalog.table(&t.project, t.schema.as_deref(), &t.table) {
        Ok(x) if x.id == t.table_id => Ok(()),
        _ => Err(MockError::no_such_table(&t.project, &t.table)),
    }
}

fn check_partition_exists(svc: &Service, t: &Target) -> Result<(), MockError> {
    check_table(svc, t)?;
    let table = svc
        .catalog
        .table(&t.project, t.schema.as_deref(), &t.table)?;
    if table.part_data(&t.partition).is_none() {
        return Err(MockError::no_such_partition(&table.spec_text(&t.partition)));
    }
    Ok(())
}

fn check_partition_param(req: &Request, t: &Target) -> Result<(), MockError> {
    if let Some(p) = req
        .query_param("partition")
        .filter(|p| !p.trim().is_empty())
    {
        let spec =
            PartSpec::parse(p).map_err(|e| MockError::bad_request("InvalidPartitionSpec", e))?;
        if spec.resolve(&t.partition_columns)? != t.partition {
            return Err(MockError::bad_request(
                "InvalidPartitionSpec",
                format!("partition `{p}` differs from the session's partition"),
            ));
        }
    }
    Ok(())
}

fn expired(kind: &str) -> MockError {
    MockError::conflict(format!("The {kind} session is expired"))
}

/// Decompresses a request body per its `Content-Encoding`.
fn request_bytes(req: &Request, max: usize) -> Result<Vec<u8>, MockError> {
    Encoding::from_header(req.headers.get("content-encoding"))?.decompress(&req.body, max)
}

fn decode_body(req: &Request, columns: &[Column], max: usize) -> Result<RecordBatch, MockError> {
    let bytes = request_bytes(req, max)?;
    if req.has_query("arrow") {
        payload::decode_arrow(columns, &bytes)
    } else {
        payload::decode_records(columns, &bytes)
    }
}

/// Most decompressed bytes accepted for one body.
const MAX_DECOMPRESSED: usize = 1 << 30;

// ------------------------------------------------------------------ batch upload

fn upload_status(s: SessionStatus) -> &'static str {
    match s {
        SessionStatus::Normal => "normal",
        SessionStatus::Committed => "closed",
        SessionStatus::Expired => "expired",
        SessionStatus::Aborted => "canceled",
    }
}

fn upload_json(svc: &Service, s: &UploadSession) -> UploadSessionJson {
    UploadSessionJson {
        upload_id: Some(s.id.clone()),
        status: Some(upload_status(s.status).to_string()),
        owner: Some(svc.cfg.owner.clone()),
        initiated: Some(format_rfc1123(s.created_ms.div_euclid(1000))),
        is_overwrite: Some(s.overwrite),
        quota_name: Some("default".into()),
        max_field_size: Some(svc.cfg.max_field_size as i64),
        schema: Some(schema_json(&s.target, true)),
        uploaded_block_list: Some(
            s.blocks
                .iter()
                .map(|(id, b)| BlockJson {
                    block_id: *id as i64,
                    create_time: Some(b.created_ms.div_euclid(1000)),
                    date: Some(String::new()),
                    file_name: Some(format!("{}_{id}", s.id)),
                    raw_size: Some(b.bytes as i64),
                    record_count: Some(b.rows as i64),
                    version: Some(b.version as i64),
                })
                .collect(),
        ),
    }
}

fn upload_of<'a>(
    svc: &'a Service,
    route: &Route,
    req: &Request,
) -> Result<&'a UploadSession, MockError> {
    let id = req.query_param("uploadid").unwrap_or("");
    svc.sessions
        .uploads
        .get(id)
        .filter(|s| same_table(&s.target, route))
        .ok_or_else(|| {
            MockError::not_found(
                "NoSuchUpload",
                format!("The specified upload id does not exist: `{id}`"),
            )
        })
}

pub(super) fn create_upload(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    ctx: &Ctx,
) -> Result<Response, MockError> {
    let target = resolve_target(svc, route, req, flag(req, "create_partition"), ctx.now)?;
    let id = svc.session_id(ctx.now);
    let s = UploadSession {
        id: id.clone(),
        target,
        overwrite: flag(req, "overwrite"),
        status: SessionStatus::Normal,
        created_ms: ctx.now.epoch_ms(),
        blocks: Default::default(),
    };
    let body = upload_json(svc, &s);
    svc.sessions.uploads.insert(id, s);
    svc.dirty = true;
    json_ok(201, &body)
}

pub(super) fn get_upload(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    let s = upload_of(svc, route, req)?;
    check_partition_param(req, &s.target)?;
    json_ok(200, &upload_json(svc, s))
}

pub(super) fn upload_block(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    ctx: &Ctx,
) -> Result<Response, MockError> {
    let s = upload_of(svc, route, req)?;
    let raw_id = req.query_param("blockid").unwrap_or("");
    let block: u32 = raw_id
        .trim()
        .parse()
        .ok()
        .filter(|b| *b < MAX_BLOCKS)
        .ok_or_else(|| {
            MockError::bad_request(
                "InvalidBlockID",
                format!("The specified block id is not valid: `{raw_id}` (block ids are 0..{MAX_BLOCKS})"),
            )
        })?;
    match s.status {
        SessionStatus::Normal => {}
        SessionStatus::Expired => return Err(expired("upload")),
        other => {
            return Err(MockError::conflict(format!(
                "You cannot complete the specified operation under the current upload status: {}",
                upload_status(other)
            )));
        }
    }
    check_partition_param(req, &s.target)?;
    check_table(svc, &s.target)?;
    let columns = s.target.columns.clone();
    let id = s.id.clone();
    let batch = decode_body(req, &columns, MAX_DECOMPRESSED)?;
    let rows = batch.num_rows() as u64;
    let seg = svc.store.insert(batch, columns);
    let bytes = svc.store.get(seg)?.bytes;
    let s = svc
        .sessions
        .uploads
        .get_mut(&id)
        .ok_or_else(|| MockError::internal("upload session vanished"))?;
    let version = s.blocks.get(&block).map_or(0, |b| b.version) + 1;
    let replaced = version > 1;
    s.blocks.insert(
        block,
        Block {
            segment: seg,
            rows,
            bytes,
            created_ms: ctx.now.epoch_ms(),
            version,
        },
    );
    svc.dirty = true;
    svc.gc_needed |= replaced;
    Ok(Response::new(200, Bytes::new()))
}

pub(super) fn commit_upload(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    ctx: &Ctx,
) -> Result<Response, MockError> {
    let s = upload_of(svc, route, req)?.clone();
    check_partition_param(req, &s.target)?;
    match s.status {
        SessionStatus::Committed => return json_ok(200, &upload_json(svc, &s)),
        SessionStatus::Expired => return Err(expired("upload")),
        SessionStatus::Aborted => {
            return Err(MockError::conflict("The upload session was canceled"));
        }
        SessionStatus::Normal => {}
    }
    check_partition_exists(svc, &s.target)?;
    let ids: Vec<u64> = s.blocks.values().map(|b| b.segment).collect();
    let l = loc(&s.target);
    if s.overwrite {
        svc.replace_segments(&l, &ids, ctx.now.epoch_ms())?;
    } else {
        svc.append_segments(&l, &ids, ctx.now.epoch_ms())?;
    }
    let s = svc
        .sessions
        .uploads
        .get_mut(&s.id)
        .ok_or_else(|| MockError::internal("upload session vanished"))?;
    s.status = SessionStatus::Committed;
    let s = s.clone();
    svc.dirty = true;
    json_ok(200, &upload_json(svc, &s))
}

// ------------------------------------------------------------------ download

fn download_status(s: SessionStatus) -> &'static str {
    match s {
        SessionStatus::Expired => "expired",
        _ => "normal",
    }
}

fn download_json(svc: &Service, s: &DownloadSession) -> DownloadSessionJson {
    DownloadSessionJson {
        download_id: Some(s.id.clone()),
        status: Some(download_status(s.status).to_string()),
        owner: Some(svc.cfg.owner.clone()),
        initiated: Some(format_rfc1123(s.created_ms.div_euclid(1000))),
        quota_name: Some("default".into()),
        record_count: Some(s.record_count as i64),
        support_read_by_raw_size: Some(false),
        schema: Some(schema_json(&s.target, true)),
    }
}

fn download_of<'a>(
    svc: &'a Service,
    route: &Route,
    req: &Request,
) -> Result<&'a DownloadSession, MockError> {
    let id = req.query_param("downloadid").unwrap_or("");
    svc.sessions
        .downloads
        .get(id)
        .filter(|s| same_table(&s.target, route))
        .ok_or_else(|| {
            MockError::not_found(
                "NoSuchDownload",
                format!("The specified download id does not exist: `{id}`"),
            )
        })
}

pub(super) fn create_download(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    ctx: &Ctx,
) -> Result<Response, MockError> {
    let target = resolve_target(svc, route, req, false, ctx.now)?;
    let t = svc
        .catalog
        .table(&target.project, target.schema.as_deref(), &target.table)?;
    let data = t
        .part_data(&target.partition)
        .ok_or_else(|| MockError::no_such_partition(&t.spec_text(&target.partition)))?
        .clone();
    let id = svc.session_id(ctx.now);
    let s = DownloadSession {
        id: id.clone(),
        target,
        status: SessionStatus::Normal,
        created_ms: ctx.now.epoch_ms(),
        segments: data.segments.clone(),
        record_count: data.rows,
        data_version: data.version,
    };
    let body = download_json(svc, &s);
    svc.sessions.downloads.insert(id, s);
    svc.dirty = true;
    json_ok(201, &body)
}

pub(super) fn get_download(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    let s = download_of(svc, route, req)?;
    check_partition_param(req, &s.target)?;
    json_ok(200, &download_json(svc, s))
}

fn parse_row_range(text: Option<&str>, total: u64) -> Result<(u64, u64), MockError> {
    let bad = || {
        MockError::bad_request(
            "InvalidRowRange",
            format!(
                "The specified row range is not valid: `{}` (the session has {total} rows)",
                text.unwrap_or("")
            ),
        )
    };
    let t = text.ok_or_else(bad)?.trim();
    let inner = t
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(bad)?;
    let (a, b) = inner.split_once(',').ok_or_else(bad)?;
    let start: u64 = a.trim().parse().map_err(|_| bad())?;
    let count: u64 = b.trim().parse().map_err(|_| bad())?;
    if start > total || count > total - start {
        return Err(bad());
    }
    Ok((start, count))
}

pub(super) fn read_data(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    ctx: &Ctx,
) -> Result<Response, MockError> {
    let s = download_of(svc, route, req)?;
    if s.status == SessionStatus::Expired {
        return Err(expired("download"));
    }
    check_partition_param(req, &s.target)?;
    let (start, count) = parse_row_range(req.query_param("rowrange"), s.record_count)?;
    // Projection: record field numbers follow the requested list.
    let all = &s.target.columns;
    let mut picked: Vec<usize> = Vec::new();
    if let Some(list) = req.query_param("columns").filter(|c| !c.trim().is_empty()) {
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match all.iter().position(|c| c.name.eq_ignore_ascii_case(name)) {
                Some(i) => picked.push(i),
                None if s
                    .target
                    .partition_columns
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(name)) => {}
                None => {
                    return Err(MockError::bad_request(
                        "InvalidArgument",
                        format!("column `{name}` is not a column of the table"),
                    ));
                }
            }
        }
    }
    if picked.is_empty() {
        picked = (0..all.len()).collect();
    }
    let arrow = req.has_query("arrow");
    if arrow {
        // Arrow bodies carry the projected columns in table order (pyodps builds the wire
        // schema by filtering the table schema, then re-orders to the requested list).
        picked.sort_unstable();
        picked.dedup();
    }
    let wire: Vec<Column> = picked.iter().map(|i| all[*i].clone()).collect();
    let mut parts = Vec::new();
    let (mut skip, mut left) = (start, count);
    for id in &s.segments {
        if left == 0 {
            break;
        }
        let seg = svc.store.get(*id)?;
        let n = seg.rows() as u64;
        if skip >= n {
            skip -= n;
            continue;
        }
        let take = (n - skip).min(left);
        let b = seg
            .project_to(all)?
            .project(&picked)
            .map_err(|e| MockError::internal(e.to_string()))?;
        parts.push((b, skip as usize, take as usize));
        left -= take;
        skip = 0;
    }
    let body = if arrow {
        payload::encode_arrow(&wire, &parts, ctx.corrupt_crc)?
    } else {
        payload::encode_records(&wire, &parts, ctx.corrupt_crc)?
    };
    let enc = Encoding::for_response(req.headers.get("accept-encoding"), arrow);
    let body = enc.compress(body)?;
    let mut resp = Response::new(200, body).with_header("content-type", "application/octet-stream");
    if let Some(h) = enc.header(arrow) {
        resp.headers.set("content-encoding", h);
    }
    Ok(resp)
}

// ------------------------------------------------------------------ stream upload

fn stream_json(svc: &Service, s: &StreamSession, req: &Request) -> StreamSessionJson {
    let addr = self_addr(req);
    let status = match s.status {
        SessionStatus::Expired => "expired",
        SessionStatus::Aborted => "aborted",
        _ => "normal",
    };
    let _ = svc;
    StreamSessionJson {
        session_name: Some(s.id.clone()),
        status: Some(status.into()),
        schema_version: Some(s.schema_version.to_string()),
        quota_name: Some(String::new()),
        quota_name_py: Some(String::new()),
        schema: Some(schema_json(&s.target, true)),
        slots: Some(
            (1..=s.slots)
                .map(|i| (i.to_string(), addr.clone()))
                .collect(),
        ),
        last_batch_id: Some(s.batches as i64),
        last_batch_commit_time: Some(s.last_write_ms),
    }
}

fn stream_of<'a>(
    svc: &'a Service,
    route: &Route,
    req: &Request,
) -> Result<&'a StreamSession, MockError> {
    let id = req.query_param("uploadid").unwrap_or("");
    svc.sessions
        .streams
        .get(id)
        .filter(|s| same_table(&s.target, route))
        .ok_or_else(|| {
            MockError::not_found(
                "StreamSessionNotFound",
                format!("Stream session `{id}` does not exist"),
            )
        })
}

fn slot_count(req: &Request, default: u32) -> Result<u32, MockError> {
    let raw = req
        .headers
        .get("odps-tunnel-slot-num")
        .or_else(|| req.headers.get("odps-slot-num"));
    match raw.map(str::trim) {
        None | Some("") => Ok(default.clamp(1, MAX_SLOTS)),
        Some(v) => match v.parse::<u32>() {
            Ok(0) => Ok(default.clamp(1, MAX_SLOTS)),
            Ok(n) if n <= MAX_SLOTS => Ok(n),
            _ => Err(MockError::bad_request(
                "InvalidArgument",
                format!("slot number `{v}` is not 0..={MAX_SLOTS}"),
            )),
        },
    }
}

pub(super) fn create_stream(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    ctx: &Ctx,
) -> Result<Response, MockError> {
    let slots = slot_count(req, svc.cfg.stream_slots)?;
    let target = resolve_target(
        svc,
        route,
        req,
        flag(req, "create_partition") || req.query_param("create_partition") == Some(""),
        ctx.now,
    )?;
    let version = svc
        .catalog
        .table(&target.project, target.schema.as_deref(), &target.table)?
        .schema_version;
    let id = svc.session_id(ctx.now);
    let s = StreamSession {
        id: id.clone(),
        target,
        status: SessionStatus::Normal,
        created_ms: ctx.now.epoch_ms(),
        slots,
        schema_version: version,
        batches: 0,
        rows: 0,
        last_write_ms: 0,
    };
    let body = stream_json(svc, &s, req);
    svc.sessions.streams.insert(id, s);
    svc.dirty = true;
    json_ok(200, &body)
}

pub(super) fn get_stream(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    let s = stream_of(svc, route, req)?;
    json_ok(200, &stream_json(svc, s, req))
}

pub(super) fn write_stream(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    ctx: &Ctx,
) -> Result<Response, MockError> {
    let s = stream_of(svc, route, req)?;
    match s.status {
        SessionStatus::Normal => {}
        SessionStatus::Expired => return Err(expired("stream upload")),
        _ => return Err(MockError::conflict("The stream upload session was aborted")),
    }
    check_partition_param(req, &s.target)?;
    let slot = req.query_param("slotid").unwrap_or("");
    if !slot
        .parse::<u32>()
        .is_ok_and(|n| (1..=s.slots).contains(&n))
    {
        return Err(MockError::bad_request(
            "InvalidArgument",
            format!(
                "slot `{slot}` is not a slot of the session (1..={})",
                s.slots
            ),
        ));
    }
    let current = svc.catalog.table(
        &s.target.project,
        s.target.schema.as_deref(),
        &s.target.table,
    );
    let current_version = match current {
        Ok(t) if t.id == s.target.table_id => t.schema_version,
        _ => return Err(MockError::no_such_table(&s.target.project, &s.target.table)),
    };
    if flag(req, "check_latest_schema") && current_version != s.schema_version {
        return Err(MockError::new(
            412,
            "SchemaModified",
            "The table schema was modified; reload the session",
        )
        .with_header(
            "odps-tunnel-latest-schema-version",
            current_version.to_string(),
        ));
    }
    check_partition_exists(svc, &s.target)?;
    let (id, columns, slots, l) = (
        s.id.clone(),
        s.target.columns.clone(),
        s.slots,
        loc(&s.target),
    );
    let batch = decode_body(req, &columns, MAX_DECOMPRESSED)?;
    if let Some(n) = req
        .query_param("record_count")
        .and_then(|v| v.parse::<u64>().ok())
        && n != batch.num_rows() as u64
    {
        return Err(MockError::bad_request(
            "MalformedDataStream",
            format!(
                "record_count {n} differs from the {} records in the body",
                batch.num_rows()
            ),
        ));
    }
    let rows = batch.num_rows() as u64;
    let seg = svc.store.insert(batch, columns);
    svc.append_segments(&l, &[seg], ctx.now.epoch_ms())?;
    if let Some(s) = svc.sessions.streams.get_mut(&id) {
        s.batches += 1;
        s.rows += rows;
        s.last_write_ms = ctx.now.epoch_ms();
    }
    svc.dirty = true;
    Ok(Response::new(200, Bytes::new())
        .with_header("odps-tunnel-routed-server", self_addr(req))
        .with_header("odps-tunnel-slot-num", slots.to_string()))
}

pub(super) fn abort_stream(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    let id = stream_of(svc, route, req)?.id.clone();
    if let Some(s) = svc.sessions.streams.get_mut(&id)
        && s.status == SessionStatus::Normal
    {
        s.status = SessionStatus::Aborted;
        svc.dirty = true;
    }
    let s = svc
        .sessions
        .streams
        .get(&id)
        .ok_or_else(|| MockError::internal("stream vanished"))?;
    json_ok(200, &stream_json(svc, s, req))
}

// ------------------------------------------------------------------ upsert

fn upsert_json(s: &UpsertSession, req: &Request) -> UpsertSessionJson {
    let addr = self_addr(req);
    let n = s.slot_num.max(1);
    let slots = (0..n)
        .map(|i| UpsertSlotJson {
            slot_id: (i + 1).to_string(),
            buckets: (0..s.bucket_num)
                .filter(|b| (*b as u64 * n as u64 / s.bucket_num as u64) as u32 == i)
                .map(|b| b as i64)
                .collect(),
            worker_addr: addr.clone(),
        })
        .collect();
    UpsertSessionJson {
        id: Some(s.id.clone()),
        status: Some(s.status.as_str().to_string()),
        quota_name: Some(String::new()),
        enable_partial_update: Some(true),
        schema: Some(schema_json(&s.target, false)),
        hash_key: Some(s.primary_key.clone()),
        hasher: Some(s.hasher.clone()),
        slots: Some(slots),
    }
}

fn upsert_of<'a>(
    svc: &'a Service,
    route: &Route,
    req: &Request,
) -> Result<&'a UpsertSession, MockError> {
    let id = req.query_param("upsertid").unwrap_or("");
    svc.sessions
        .upserts
        .get(id)
        .filter(|s| same_table(&s.target, route))
        .ok_or_else(|| {
            MockError::not_found(
                "UpsertSessionNotFound",
                format!("Upsert session `{id}` does not exist"),
            )
        })
}

pub(super) fn create_upsert(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    ctx: &Ctx,
) -> Result<Response, MockError> {
    {
        let t = svc.catalog.table(
            route.project.as_deref().unwrap_or(""),
            route.schema.as_deref(),
            route.table.as_deref().unwrap_or(""),
        )?;
        if !t.is_delta() {
            return Err(MockError::bad_request(
                "InvalidArgument",
                format!(
                    "table `{}` is not a transactional table with a primary key; upsert sessions need one",
                    t.name
                ),
            ));
        }
    }
    let target = resolve_target(svc, route, req, flag(req, "create_partition"), ctx.now)?;
    let t = svc
        .catalog
        .table(&target.project, target.schema.as_deref(), &target.table)?;
    let buckets = t.bucket_num();
    let pk = t.primary_key.clone();
    let slot_num = match req.query_param("slotnum").map(str::trim) {
        None | Some("") => 1,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_SLOTS).contains(n))
            .ok_or_else(|| {
                MockError::bad_request(
                    "InvalidArgument",
                    format!("slotnum `{v}` is not 1..={MAX_SLOTS}"),
                )
            })?,
    }
    .min(buckets);
    let lifecycle = match req.query_param("lifecycle").map(str::trim) {
        None | Some("") => 24,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|h| (1..=24).contains(h))
            .ok_or_else(|| {
                MockError::bad_request(
                    "InvalidArgument",
                    format!("lifecycle `{v}` is not 1..=24 hours"),
                )
            })?,
    };
    let id = svc.session_id(ctx.now);
    let s = UpsertSession {
        id: id.clone(),
        target,
        status: SessionStatus::Normal,
        created_ms: ctx.now.epoch_ms(),
        lifecycle_hours: lifecycle,
        slot_num,
        bucket_num: buckets,
        hasher: "default".into(),
        primary_key: pk,
        buffered: Vec::new(),
        buffered_rows: 0,
    };
    let body = upsert_json(&s, req);
    svc.sessions.upserts.insert(id, s);
    svc.dirty = true;
    json_ok(200, &body)
}

pub(super) fn get_upsert(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    let s = upsert_of(svc, route, req)?;
    json_ok(200, &upsert_json(s, req))
}

fn check_open(s: &UpsertSession) -> Result<(), MockError> {
    match s.status {
        SessionStatus::Normal => Ok(()),
        SessionStatus::Expired => Err(expired("upsert")),
        SessionStatus::Committed => Err(MockError::conflict(
            "The upsert session is already committed",
        )),
        SessionStatus::Aborted => Err(MockError::conflict("The upsert session was aborted")),
    }
}

pub(super) fn write_upsert(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    _ctx: &Ctx,
) -> Result<Response, MockError> {
    let s = upsert_of(svc, route, req)?;
    check_open(s)?;
    check_partition_param(req, &s.target)?;
    check_table(svc, &s.target)?;
    let raw = req.query_param("bucketid").unwrap_or("");
    let bucket: u32 = raw
        .trim()
        .parse()
        .ok()
        .filter(|b| *b < s.bucket_num)
        .ok_or_else(|| {
            MockError::bad_request(
                "InvalidArgument",
                format!("bucketid `{raw}` is not 0..{}", s.bucket_num),
            )
        })?;
    let data_cols = s.target.columns.clone();
    let cols = upsert_record_columns(&data_cols);
    let (id, pk, hasher, buckets) = (
        s.id.clone(),
        s.primary_key.clone(),
        s.hasher.clone(),
        s.bucket_num,
    );
    let batch = decode_body(req, &cols, MAX_DECOMPRESSED)?;
    let n = data_cols.len();
    validate_upsert_batch(&batch, &data_cols, &pk, n)?;
    if let Some((row, want)) =
        payload::misrouted_row(&batch, &data_cols, &pk, &hasher, buckets, bucket)?
    {
        return Err(MockError::bad_request(
            "InvalidArgument",
            format!("record {row} belongs to bucket {want}, not to bucket {bucket}"),
        ));
    }
    let rows = batch.num_rows() as u64;
    let seg = svc.store.insert(batch, cols);
    if let Some(s) = svc.sessions.upserts.get_mut(&id) {
        s.buffered.push(seg);
        s.buffered_rows += rows;
    }
    svc.dirty = true;
    Ok(Response::new(200, Bytes::new()))
}

/// Checks the meta columns: `__operation` is U or D, `__value_cols` names data columns,
/// and key columns are present.
fn validate_upsert_batch(
    b: &RecordBatch,
    data: &[Column],
    pk: &[String],
    n: usize,
) -> Result<(), MockError> {
    let bad = |m: String| MockError::bad_request("InvalidArgument", m);
    let ops = b
        .column(n + 2)
        .as_any()
        .downcast_ref::<Int8Array>()
        .ok_or_else(|| MockError::internal("__operation is not int8"))?;
    for r in 0..b.num_rows() {
        if ops.is_null(r) || !(ops.value(r) == OP_UPSERT || ops.value(r) == OP_DELETE) {
            return Err(bad(format!(
                "record {r}: __operation must be 'U' (85) or 'D' (68)"
            )));
        }
    }
    for k in pk {
        let i = data
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(k))
            .ok_or_else(|| MockError::internal(format!("key `{k}` missing")))?;
        if let Some(r) = (0..b.num_rows()).find(|r| b.column(i).is_null(*r)) {
            return Err(bad(format!("record {r}: primary key column `{k}` is NULL")));
        }
    }
    let vc = b
        .column(n + 4)
        .as_any()
        .downcast_ref::<ListArray>()
        .ok_or_else(|| MockError::internal("__value_cols is not a list"))?;
    for r in 0..b.num_rows() {
        if vc.is_null(r) {
            continue;
        }
        let v = vc.value(r);
        let ids = v
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| MockError::internal("__value_cols elements are not int64"))?;
        for i in 0..ids.len() {
            if ids.is_null(i) || ids.value(i) < 0 || ids.value(i) as usize >= n {
                return Err(bad(format!(
                    "record {r}: __value_cols holds an unknown column id"
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn commit_upsert(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    ctx: &Ctx,
) -> Result<Response, MockError> {
    let s = upsert_of(svc, route, req)?.clone();
    match s.status {
        SessionStatus::Committed => return json_ok(200, &upsert_json(&s, req)),
        _ => check_open(&s)?,
    }
    check_partition_exists(svc, &s.target)?;
    let data_cols = s.target.columns.clone();
    let cols = upsert_record_columns(&data_cols);
    let n = data_cols.len();
    // Map the session's columns to the table's current columns by name (ADD COLUMNS may
    // have run since the session started).
    let t = svc.catalog.table(
        &s.target.project,
        s.target.schema.as_deref(),
        &s.target.table,
    )?;
    let width = t.schema.columns.len();
    let map: Vec<Option<usize>> = data_cols
        .iter()
        .map(|c| t.schema.column_index(&c.name))
        .collect();
    let mut ops = Vec::new();
    for id in &s.buffered {
        let b = &svc.store.get(*id)?.batch;
        for r in 0..b.num_rows() {
            let v = row_values(b, &cols, r).map_err(|e| MockError::internal(e.0))?;
            let mut row = vec![Value::Null; width];
            for (i, j) in map.iter().enumerate() {
                if let (Some(j), Some(x)) = (j, v.get(i)) {
                    row[*j] = x.clone();
                }
            }
            let partial = match v.get(n + 4) {
                Some(Value::List(ids)) if !ids.is_empty() => Some(
                    ids.iter()
                        .filter_map(|x| match x {
                            Value::Int(i) => usize::try_from(*i)
                                .ok()
                                .and_then(|i| map.get(i).copied().flatten()),
                            _ => None,
                        })
                        .collect(),
                ),
                _ => None,
            };
            ops.push(match v.get(n + 2) {
                Some(Value::Int(o)) if *o == OP_DELETE as i64 => RowOp::Delete(row),
                _ => RowOp::Upsert(row, partial),
            });
        }
    }
    svc.apply_ops(&loc(&s.target), ops, ctx.now.epoch_ms())?;
    let s = svc
        .sessions
        .upserts
        .get_mut(&s.id)
        .ok_or_else(|| MockError::internal("upsert session vanished"))?;
    s.status = SessionStatus::Committed;
    s.buffered.clear();
    let s = s.clone();
    svc.dirty = true;
    svc.gc_needed = true;
    json_ok(200, &upsert_json(&s, req))
}

pub(super) fn abort_upsert(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    let id = upsert_of(svc, route, req)?.id.clone();
    if let Some(s) = svc.sessions.upserts.get_mut(&id)
        && s.status == SessionStatus::Normal
    {
        s.status = SessionStatus::Aborted;
        s.buffered.clear();
        svc.dirty = true;
        svc.gc_needed = true;
    }
    let s = svc
        .sessions
        .upserts
        .get(&id)
        .ok_or_else(|| MockError::internal("upsert vanished"))?;
    json_ok(200, &upsert_json(s, req))
}
