//! The pure service: `Request -> Response` over in-memory state, with time passed in.
//!
//! No clock reads, no sockets, no OS randomness: ids come from a seeded generator and
//! counters, so the same requests at the same times give byte-identical responses.
//! Persistence goes through the [`Disk`] port (a directory, an in-memory map, or none).

mod admin;
mod data;
mod ddl;
mod meta;
mod persist;
pub mod route;
mod tunnel;

use std::collections::{BTreeMap, VecDeque};

use std::time::Duration;

use bytes::Bytes;
use maxc_core::auth;
use maxc_core::http::{Request, Response};
use maxc_core::time::WallClock;
use serde::Serialize;

use crate::catalog::{Catalog, SegmentStore};
use crate::error::MockError;
use crate::faults::{FaultEffect, FaultEngine};
use crate::rng::SplitMix64;
use crate::sessions::Sessions;
use crate::storage::Disk;
use crate::time::{DAY_MS, MockTime};

pub use ddl::{InstanceRecord, TaskRecord};
pub use route::{Layout, Operation, Route};

/// Default project name.
pub const DEFAULT_PROJECT: &str = "maxc";
/// Default AccessKey id of the built-in account.
pub const DEFAULT_ACCESS_ID: &str = "maxc-access-id";
/// Default AccessKey secret of the built-in account.
pub const DEFAULT_ACCESS_KEY: &str = "maxc-access-key";
/// Hash buckets of a Delta table without `write.bucket.num`.
pub const DEFAULT_BUCKETS: u32 = 16;
/// Requests kept in the admin request log.
pub const LOG_CAPACITY: usize = 1000;

/// Settings of the pure service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Project that exists from the start.
    pub project: String,
    /// More projects that exist from the start.
    pub extra_projects: Vec<String>,
    /// Owner string of created objects.
    pub owner: String,
    /// AccessKey id → secret.
    pub accounts: BTreeMap<String, String>,
    /// Verify signatures.
    pub auth: bool,
    /// Seed of every generator.
    pub seed: u64,
    /// Region name reported for projects.
    pub region: String,
    /// `HostId` of REST errors.
    pub host_id: String,
    /// Answer `odps.namespace.schema=true` from `/tenants` (3-tier paths).
    pub schema_model: bool,
    /// Lifetime of tunnel sessions.
    pub session_ttl_ms: i64,
    /// Largest accepted difference between the `Date` header and now.
    pub max_clock_skew_ms: i64,
    /// Slots of a stream session when the client asks for none.
    pub stream_slots: u32,
    /// Instances kept for polling.
    pub max_instances: usize,
    /// Answer of tunnel discovery; default: the request's `Host` header.
    pub tunnel_host: Option<String>,
    /// `MaxFieldSize` announced by upload sessions.
    pub max_field_size: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        let mut accounts = BTreeMap::new();
        accounts.insert(
            DEFAULT_ACCESS_ID.to_string(),
            DEFAULT_ACCESS_KEY.to_string(),
        );
        Self {
            project: DEFAULT_PROJECT.to_string(),
            extra_projects: Vec::new(),
            owner: "ALIYUN$maxc-mock".to_string(),
            accounts,
            auth: true,
            seed: 0,
            region: "cn-mock".to_string(),
            host_id: "maxc-mock".to_string(),
            schema_model: false,
            session_ttl_ms: DAY_MS,
            max_clock_skew_ms: 15 * 60 * 1000,
            stream_slots: 2,
            max_instances: 10_000,
            tunnel_host: None,
            max_field_size: 8 * 1024 * 1024,
        }
    }
}

/// What the HTTP layer must do besides sending the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WireEffect {
    /// Send the response normally.
    None,
    /// Close the connection without sending any response.
    DropBeforeResponse,
    /// Send the headers (with the full Content-Length) and this many body bytes, then
    /// close the connection.
    DropAfterBytes(usize),
}

/// A response plus transport effects (from fault rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The response.
    pub response: Response,
    /// Delay before sending it (milliseconds).
    pub delay_ms: u64,
    /// Transport effect.
    pub wire: WireEffect,
    /// The fault rule that fired, if any.
    pub fault: Option<u64>,
}

/// One entry of the request log (`GET /_maxc/requests`).
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Sequence number.
    pub seq: u64,
    /// Mock time (epoch ms).
    pub at_ms: i64,
    /// Request id sent back.
    pub request_id: String,
    /// Method.
    pub method: String,
    /// Path as received.
    pub path: String,
    /// Operation, when routed.
    pub op: Option<Operation>,
    /// Project.
    pub project: Option<String>,
    /// Table.
    pub table: Option<String>,
    /// Response status.
    pub status: u16,
    /// Fault rule that fired.
    pub fault: Option<u64>,
    /// Error code of an error response.
    pub error: Option<String>,
    /// `Content-Encoding` of the request body, when it had one.
    pub request_encoding: Option<String>,
    /// `Content-Encoding` of the response body, when it had one.
    pub response_encoding: Option<String>,
}

/// Per-request context handed to handlers.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub now: MockTime,
    pub corrupt_crc: bool,
}

/// The MaxCompute + Tunnel service.
pub struct Service {
    pub(crate) cfg: ServiceConfig,
    pub(crate) catalog: Catalog,
    pub(crate) store: SegmentStore,
    pub(crate) sessions: Sessions,
    /// (time the next sweep could change anything, session count then): requests before that
    /// time skip the sweep while no session was added. `None`: sweep at the next request.
    pub(crate) sweep_due: Option<(i64, usize)>,
    pub(crate) instances: BTreeMap<String, InstanceRecord>,
    pub(crate) faults: FaultEngine,
    pub(crate) ids: SplitMix64,
    pub(crate) instance_seq: u64,
    pub(crate) request_seq: u64,
    pub(crate) log: VecDeque<LogEntry>,
    pub(crate) disk: Option<Box<dyn Disk>>,
    pub(crate) dirty: bool,
    /// Set when segments may have become unreferenced (GC runs at the next persist).
    pub(crate) gc_needed: bool,
    pub(crate) now: MockTime,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("projects", &self.catalog.projects.len())
            .field("segments", &self.store.segments.len())
            .field("sessions", &self.sessions.len())
            .field("persistent", &self.disk.is_some())
            .finish()
    }
}

pub(crate) fn xml_ok(body: String) -> Response {
    Response::new(200, body).with_header("content-type", "application/xml")
}

pub(crate) fn json_resp(status: u16, v: &serde_json::Value) -> Response {
    Response::new(status, v.to_string()).with_header("content-type", "application/json")
}

pub(crate) fn text_ok(s: String) -> Response {
    Response::new(200, s).with_header("content-type", "text/plain")
}

impl Service {
    /// A service with in-memory storage only, its configured projects created at `now`.
    pub fn new(cfg: ServiceConfig, now: MockTime) -> Self {
        let mut s = Self {
            ids: SplitMix64::new(cfg.seed),
            faults: FaultEngine::new(cfg.seed),
            cfg,
            catalog: Catalog::default(),
            store: SegmentStore::default(),
            sessions: Sessions::default(),
            sweep_due: None,
            instances: BTreeMap::new(),
            instance_seq: 0,
            request_seq: 0,
            log: VecDeque::new(),
            disk: None,
            dirty: false,
            gc_needed: true,
            now,
        };
        s.create_configured_projects(now);
        s
    }

    pub(crate) fn create_configured_projects(&mut self, now: MockTime) {
        let mut names = vec![self.cfg.project.clone()];
        names.extend(self.cfg.extra_projects.iter().cloned());
        for n in names {
            self.catalog
                .ensure_project(&n, &self.cfg.owner, now.epoch_ms());
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.cfg
    }

    /// The catalog (projects, tables, partitions).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The segment store (row data).
    pub fn segments(&self) -> &SegmentStore {
        &self.store
    }

    /// Tunnel sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// SQL instances kept for polling.
    pub fn instances(&self) -> &BTreeMap<String, InstanceRecord> {
        &self.instances
    }

    /// Fault rules.
    pub fn faults(&self) -> &FaultEngine {
        &self.faults
    }

    /// Fault rules, mutable (add/remove rules from Rust tests).
    pub fn faults_mut(&mut self) -> &mut FaultEngine {
        &mut self.faults
    }

    /// The last requests (oldest first).
    pub fn request_log(&self) -> impl Iterator<Item = &LogEntry> {
        self.log.iter()
    }

    /// True when state is written to a [`Disk`].
    pub fn is_persistent(&self) -> bool {
        self.disk.is_some()
    }

    pub(crate) fn next_hex(&mut self, n: usize) -> String {
        self.ids.hex(n)
    }

    /// A tunnel-style session id: `yyyyMMddHHmmss` + 16 hex digits.
    pub(crate) fn session_id(&mut self, now: MockTime) -> String {
        format!("{}{}", now.compact_stamp(), self.ids.hex(16))
    }

    /// Answers a request (transport effects of fault rules are dropped; use [`serve`]
    /// to see them).
    ///
    /// [`serve`]: Service::serve
    pub fn handle(&mut self, req: Request, now: MockTime) -> Response {
        self.serve(req, now).response
    }

    /// Renders an error the HTTP layer produced itself (e.g. 413 for an oversized body)
    /// in the shape the request's layout expects, with a request id.
    pub fn reject(&mut self, req: &Request, err: MockError, now: MockTime) -> Response {
        self.now = now;
        let rid = self.new_request_id();
        let layout = route::classify(req).0;
        let resp = self.render_error(layout, &err, &rid);
        let resp = self.finish_headers(resp, &rid, now);
        self.push_log(req, &rid, None, resp.status, None, Some(err.code.clone()));
        resp
    }

    fn new_request_id(&mut self) -> String {
        self.request_seq += 1;
        format!(
            "{:016X}{:016X}",
            self.cfg.seed ^ 0x4D41_5843_4D4F_434B,
            self.request_seq
        )
    }

    fn render_error(&self, layout: Layout, e: &MockError, rid: &str) -> Response {
        match layout {
            Layout::Rest => e.to_rest(rid, &self.cfg.host_id),
            Layout::Tunnel => e.to_tunnel(rid),
            Layout::Admin => e.to_admin(),
        }
    }

    fn finish_headers(&self, mut r: Response, rid: &str, now: MockTime) -> Response {
        r.headers.set("x-odps-request-id", rid);
        if !r.headers.contains("date") {
            r.headers.set("date", now.rfc1123());
        }
        r
    }

    fn push_log(
        &mut self,
        req: &Request,
        rid: &str,
        route: Option<&Route>,
        status: u16,
        fault: Option<u64>,
        error: Option<String>,
    ) {
        if self.log.len() >= LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry {
            seq: self.request_seq,
            at_ms: self.now.epoch_ms(),
            request_id: rid.to_string(),
            method: req.method.as_str().to_string(),
            path: req.path.clone(),
            op: route.map(|r| r.op),
            project: route.and_then(|r| r.project.clone()),
            table: route.and_then(|r| r.table.clone()),
            status,
            fault,
            error,
            request_encoding: req.headers.get("content-encoding").map(str::to_string),
            response_encoding: None,
        });
    }

    /// Answers a request, with the transport effects of any fault rule that fired.
    pub fn serve(&mut self, req: Request, now: MockTime) -> Reply {
        self.now = now;
        let rid = self.new_request_id();
        let route = match route::route(&req) {
            Ok(r) => r,
            Err(e) => {
                let layout = route::classify(&req).0;
                let resp = self.render_error(layout, &e, &rid);
                let resp = self.finish_headers(resp, &rid, now);
                self.push_log(&req, &rid, None, resp.status, None, Some(e.code.clone()));
                return Reply {
                    response: resp,
                    delay_ms: 0,
                    wire: WireEffect::None,
                    fault: None,
                };
            }
        };
        if route.layout == Layout::Admin {
            let resp = match admin::handle(self, &req, now) {
                Ok(r) => r,
                Err(e) => e.to_admin(),
            };
            let resp = self.finish_headers(resp, &rid, now);
            return Reply {
                response: resp,
                delay_ms: 0,
                wire: WireEffect::None,
                fault: None,
            };
        }
        // Sweeping visits every session; with thousands of them that dominated every request,
        // so it runs only once something can have expired or a session was added.
        let due = match self.sweep_due {
            Some((at, len)) => now.epoch_ms() >= at || len != self.sessions.len(),
            None => true,
        };
        if due {
            let ttl = self.cfg.session_ttl_ms;
            if self.sessions.sweep(now, ttl) {
                self.dirty = true;
                self.gc_needed = true;
            }
            self.sweep_due = Some((self.sessions.next_sweep(ttl), self.sessions.len()));
        }
        let mut ctx = Ctx {
            now,
            corrupt_crc: false,
        };
        let fired = self.faults.evaluate(&route);
        let fault_id = fired.as_ref().map(|f| f.rule);
        let mut post: Option<FaultEffect> = None;
        let pre_error: Option<Result<MockError, ()>> = match fired.map(|f| f.effect) {
            None => None,
            Some(FaultEffect::Error {
                status,
                code,
                message,
            }) => Some(Ok(MockError::new(
                status,
                &code,
                message.unwrap_or_else(|| format!("injected fault: {code}")),
            ))),
            Some(FaultEffect::Throttle { retry_after_secs }) => Some(Ok(MockError::new(
                429,
                "FlowExceeded",
                "Your flow quota is exceeded (injected fault)",
            )
            .with_header("retry-after", retry_after_secs.to_string()))),
            Some(FaultEffect::SlotExceeded) => Some(Ok(MockError::new(
                429,
                "SlotExceeded",
                "No slot available, please retry later (injected fault)",
            )
            .with_header("retry-after", "1"))),
            Some(FaultEffect::BadGateway) => Some(Ok(MockError::new(
                502,
                "BadGateway",
                "Bad Gateway (injected fault)",
            ))),
            Some(FaultEffect::GatewayTimeout) => Some(Ok(MockError::new(
                504,
                "GatewayTimeout",
                "Gateway Timeout (injected fault)",
            ))),
            Some(FaultEffect::DropConnection) => Some(Err(())),
            Some(FaultEffect::ExpireSession) => {
                for key in ["uploadid", "downloadid", "upsertid"] {
                    if let Some(id) = req.query_param(key)
                        && self.sessions.expire(id)
                    {
                        self.dirty = true;
                    }
                }
                None
            }
            Some(FaultEffect::CorruptCrc) => {
                ctx.corrupt_crc = true;
                None
            }
            Some(other) => {
                post = Some(other);
                None
            }
        };
        let result = match pre_error {
            Some(Err(())) => {
                let resp = self.finish_headers(Response::new(502, Bytes::new()), &rid, now);
                self.push_log(
                    &req,
                    &rid,
                    Some(&route),
                    0,
                    fault_id,
                    Some("dropped".into()),
                );
                return Reply {
                    response: resp,
                    delay_ms: 0,
                    wire: WireEffect::DropBeforeResponse,
                    fault: fault_id,
                };
            }
            Some(Ok(e)) => Err(e),
            None => self
                .check_auth(&req, &route)
                .and_then(|()| self.dispatch(&req, &route, &ctx)),
        };
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => self.render_error(route.layout, &e, &rid),
        };
        if self.dirty {
            self.dirty = false;
            if let Err(e) = self.persist() {
                tracing::error!(error = %e, "persisting state failed");
                resp = self.render_error(
                    route.layout,
                    &MockError::internal(format!("persisting state failed: {e}")),
                    &rid,
                );
            }
        }
        let mut reply = Reply {
            response: resp,
            delay_ms: 0,
            wire: WireEffect::None,
            fault: fault_id,
        };
        match post {
            Some(FaultEffect::Delay { ms }) => reply.delay_ms = ms,
            Some(FaultEffect::LoseResponse) => reply.wire = WireEffect::DropBeforeResponse,
            Some(FaultEffect::DropMidBody { after_bytes }) => {
                let len = reply.response.body.len();
                reply.wire = WireEffect::DropAfterBytes(after_bytes.unwrap_or(len / 2).min(len));
            }
            Some(FaultEffect::TruncateBody { bytes }) => {
                let len = reply.response.body.len();
                let keep = bytes.unwrap_or(len / 2).min(len);
                reply.response.body = reply.response.body.slice(..keep);
            }
            _ => {}
        }
        reply.response = self.finish_headers(reply.response, &rid, now);
        let error = if reply.response.is_success() {
            None
        } else {
            error_code(&reply.response)
        };
        self.push_log(
            &req,
            &rid,
            Some(&route),
            reply.response.status,
            fault_id,
            error,
        );
        if let Some(entry) = self.log.back_mut() {
            entry.response_encoding = reply
                .response
                .headers
                .get("content-encoding")
                .map(str::to_string);
        }
        reply
    }

    /// Verifies the request signature (v2 or v4) against the configured accounts; the
    /// canonical resource is the path relative to the layout's endpoint.
    fn check_auth(&mut self, req: &Request, route: &Route) -> Result<(), MockError> {
        if !self.cfg.auth {
            return Ok(());
        }
        let signed = Request {
            method: req.method,
            service: req.service,
            path: route.path.clone(),
            query: req.query.clone(),
            headers: req.headers.clone(),
            body: Bytes::new(),
        };
        let now = WallClock::from_unix_millis(self.now.epoch_ms());
        let skew = Duration::from_millis(self.cfg.max_clock_skew_ms.max(0) as u64);
        match auth::verify(&signed, &self.cfg.accounts, now, skew) {
            Ok(_) => Ok(()),
            Err(e) => {
                let layer = match route.layout {
                    Layout::Tunnel => maxc_core::http::Service::Tunnel,
                    _ => maxc_core::http::Service::Rest,
                };
                Err(MockError::new(
                    e.http_status(),
                    e.code_for(layer),
                    e.to_string(),
                ))
            }
        }
    }

    fn dispatch(&mut self, req: &Request, route: &Route, ctx: &Ctx) -> Result<Response, MockError> {
        use Operation as O;
        match route.op {
            O::ListProjects => meta::list_projects(self),
            O::GetProject => meta::get_project(self, req, route),
            O::ListSchemas => meta::list_schemas(self, route),
            O::ListTables => meta::list_tables(self, req, route),
            O::GetTable => meta::get_table(self, route),
            O::ListPartitions => meta::list_partitions(self, req, route),
            O::GetPartition => meta::get_partition(self, req, route),
            O::TunnelDiscovery => meta::tunnel_discovery(self, req, route),
            O::Tenants => Ok(meta::tenants(self)),
            O::LogviewHost => Ok(meta::logview_host(req)),
            O::ReadTableRest | O::Authorization => Err(MockError::bad_request(
                "NotSupported",
                format!("{} is not supported by maxc-mock", route.op.name()),
            )),
            O::CreateInstance => ddl::create_instance(self, req, route, ctx),
            O::ListInstances => ddl::list_instances(self, route),
            O::GetInstance => ddl::get_instance(self, route),
            O::GetTaskStatus => ddl::get_task_status(self, route),
            O::GetInstanceResult => ddl::get_result(self, route),
            O::GetInstanceProgress => ddl::get_progress(self, route),
            O::GetInstanceOther => ddl::get_other(self, route),
            O::StopInstance => ddl::stop_instance(self, route),
            O::Admin => Err(MockError::internal("admin request reached dispatch")),
            O::CreateUpload => tunnel::create_upload(self, req, route, ctx),
            O::GetUpload => tunnel::get_upload(self, req, route),
            O::UploadBlock => tunnel::upload_block(self, req, route, ctx),
            O::CommitUpload => tunnel::commit_upload(self, req, route, ctx),
            O::CreateDownload => tunnel::create_download(self, req, route, ctx),
            O::GetDownload => tunnel::get_download(self, req, route),
            O::ReadData => tunnel::read_data(self, req, route, ctx),
            O::CreateStream => tunnel::create_stream(self, req, route, ctx),
            O::GetStream => tunnel::get_stream(self, req, route),
            O::WriteStream => tunnel::write_stream(self, req, route, ctx),
            O::AbortStream => tunnel::abort_stream(self, req, route),
            O::CreateUpsert => tunnel::create_upsert(self, req, route, ctx),
            O::GetUpsert => tunnel::get_upsert(self, req, route),
            O::WriteUpsert => tunnel::write_upsert(self, req, route, ctx),
            O::CommitUpsert => tunnel::commit_upsert(self, req, route, ctx),
            O::AbortUpsert => tunnel::abort_upsert(self, req, route),
            O::Preview => Err(MockError::bad_request(
                "NotSupported",
                "table preview is not supported by maxc-mock; use a download session",
            )),
        }
    }
}

fn error_code(r: &Response) -> Option<String> {
    let text = std::str::from_utf8(&r.body).ok()?;
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        return v
            .get("Code")
            .or_else(|| v.get("error"))
            .and_then(|c| c.as_str())
            .map(str::to_string);
    }
    let start = text.find("<Code>")? + 6;
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_string())
}
