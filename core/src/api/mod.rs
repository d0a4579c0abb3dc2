//! MaxCompute operations as request builders and response parsers.
//!
//! Builders return unsigned [`Request`] values (the signer adds `Date` and `Authorization`;
//! the driver adds `Content-Length`/`Transfer-Encoding`). Parsers turn a [`Response`](crate::http::Response)
//! into a typed value or an [`ApiError`] with an [`ErrorClass`].
//!
//! | module | operations |
//! |---|---|
//! | [`rest`] | project, table, table list, partition list, one partition, tunnel endpoint discovery |
//! | [`instance`] | SQL instances for DDL: submit, task status, result; DDL statement text |
//! | [`tunnel`] | batch upload sessions (create, reload, block PUT, commit), download sessions (create, reload, read rows) |
//! | [`stream`] | stream upload sessions (create, reload, PUT, abort) |
//! | [`upsert`] | upsert sessions (create, reload, PUT per bucket, commit, abort), the extended record schema |
//! | [`model`] | the JSON documents as serde structs (shared with the mock server) |
//! | [`error`] | error bodies, classification, rendering |
//!
//! Every request carries `User-Agent` and `x-odps-user-agent`, and `curr_project=<project>`
//! as its **last** query parameter (as pyodps sends it). Tunnel requests also carry
//! `x-odps-tunnel-version: 6`, `odps-tunnel-date-transform: v1` and
//! `odps-tunnel-sdk-support-schema-evolution: true`.

pub mod error;
pub mod instance;
pub(crate) mod lenient;
pub mod model;
pub mod rest;
pub mod stream;
pub mod tunnel;
pub mod upsert;
pub mod xml;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use error::{ApiError, ErrorClass, codes};

use crate::http::{Method, Request, Service};
use crate::partition::PartitionSpec;

/// Header names and fixed values.
pub mod headers {
    /// Request id on every response.
    pub const REQUEST_ID: &str = "x-odps-request-id";
    /// Standard user agent.
    pub const USER_AGENT: &str = "User-Agent";
    /// Signed copy of the user agent.
    pub const X_ODPS_USER_AGENT: &str = "x-odps-user-agent";
    /// Tunnel protocol version header (signed).
    pub const TUNNEL_VERSION: &str = "x-odps-tunnel-version";
    /// The tunnel protocol version sent.
    pub const TUNNEL_VERSION_VALUE: &str = "6";
    /// Date transform mode header.
    pub const DATE_TRANSFORM: &str = "odps-tunnel-date-transform";
    /// The date transform mode sent (`true` would switch java to a legacy calendar mode).
    pub const DATE_TRANSFORM_VALUE: &str = "v1";
    /// Schema evolution support header.
    pub const SCHEMA_EVOLUTION: &str = "odps-tunnel-sdk-support-schema-evolution";
    /// Slot routing header (stream and upsert writes, their responses, 308s).
    pub const ROUTED_SERVER: &str = "odps-tunnel-routed-server";
    /// Slot count (stream create and writes, and stream write responses).
    pub const SLOT_NUM: &str = "odps-tunnel-slot-num";
    /// Latest schema version (with 412 `SchemaModified`).
    pub const LATEST_SCHEMA_VERSION: &str = "odps-tunnel-latest-schema-version";
    /// Optional server metrics JSON.
    pub const TUNNEL_METRICS: &str = "odps-tunnel-metrics";
    /// Content type.
    pub const CONTENT_TYPE: &str = "Content-Type";
    /// Request/response body compression.
    pub const CONTENT_ENCODING: &str = "Content-Encoding";
    /// Requested response compression.
    pub const ACCEPT_ENCODING: &str = "Accept-Encoding";
    /// Instance URL of a submitted SQL job.
    pub const LOCATION: &str = "Location";
    /// Retry delay in seconds.
    pub const RETRY_AFTER: &str = "Retry-After";
    /// Project owner (project GET).
    pub const OWNER: &str = "x-odps-owner";
    /// Project creation time, RFC 1123 (project GET).
    pub const CREATION_TIME: &str = "x-odps-creation-time";
    /// Last modification time, RFC 1123.
    pub const LAST_MODIFIED: &str = "Last-Modified";
    /// Binary body content type.
    pub const OCTET_STREAM: &str = "application/octet-stream";
    /// XML body content type.
    pub const XML: &str = "application/xml";
    /// JSON body content type.
    pub const JSON: &str = "application/json";
}

/// Where and as whom requests are made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiContext {
    /// Project name.
    pub project: String,
    /// Schema (3-tier model); tables then live at `/projects/{p}/schemas/{s}/tables/{t}`.
    pub schema: Option<String>,
    /// Tunnel quota name, sent as `quotaName` on session creation and tunnel discovery.
    pub quota_name: Option<String>,
    /// User agent for `User-Agent` and `x-odps-user-agent`.
    pub user_agent: String,
}

impl ApiContext {
    /// A context without schema or quota.
    pub fn new(project: impl Into<String>, user_agent: impl Into<String>) -> Self {
        Self {
            project: project.into(),
            schema: None,
            quota_name: None,
            user_agent: user_agent.into(),
        }
    }

    /// `/projects/{p}`.
    pub fn project_path(&self) -> String {
        format!("/projects/{}", self.project)
    }

    /// `/projects/{p}[/schemas/{s}]/tables/{t}`.
    pub fn table_path(&self, table: &str) -> String {
        match &self.schema {
            Some(s) => format!("/projects/{}/schemas/{s}/tables/{table}", self.project),
            None => format!("/projects/{}/tables/{table}", self.project),
        }
    }

    /// `/projects/{p}[/schemas/{s}]/tables`.
    pub fn tables_path(&self) -> String {
        match &self.schema {
            Some(s) => format!("/projects/{}/schemas/{s}/tables", self.project),
            None => format!("/projects/{}/tables", self.project),
        }
    }

    pub(crate) fn rest(&self, method: Method, path: String) -> Builder<'_> {
        Builder::new(self, method, Service::Rest, path)
    }

    pub(crate) fn tunnel(&self, method: Method, path: String) -> Builder<'_> {
        Builder::new(self, method, Service::Tunnel, path)
            .header(headers::TUNNEL_VERSION, headers::TUNNEL_VERSION_VALUE)
            .header(headers::DATE_TRANSFORM, headers::DATE_TRANSFORM_VALUE)
            .header(headers::SCHEMA_EVOLUTION, "true")
    }
}

/// Request under construction; [`Builder::build`] appends `curr_project` last.
pub(crate) struct Builder<'a> {
    ctx: &'a ApiContext,
    req: Request,
}

impl<'a> Builder<'a> {
    fn new(ctx: &'a ApiContext, method: Method, service: Service, path: String) -> Self {
        let req = Request::new(method, service, path)
            .with_header(headers::USER_AGENT, ctx.user_agent.clone())
            .with_header(headers::X_ODPS_USER_AGENT, ctx.user_agent.clone());
        Self { ctx, req }
    }

    /// `key=value`.
    pub fn q(mut self, key: &str, value: impl Into<String>) -> Self {
        self.req.query.push((key.to_string(), value.into()));
        self
    }

    /// A bare action key (`?data`).
    pub fn flag(self, key: &str) -> Self {
        self.q(key, "")
    }

    /// A bare key when `on`.
    pub fn flag_if(self, key: &str, on: bool) -> Self {
        if on { self.flag(key) } else { self }
    }

    /// `key=value` when `value` is `Some`.
    pub fn opt_q(self, key: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.q(key, v),
            None => self,
        }
    }

    /// `partition=<tunnel form>` unless the spec is empty.
    pub fn tunnel_partition(self, spec: &PartitionSpec) -> Self {
        if spec.is_empty() {
            self
        } else {
            self.q("partition", spec.to_tunnel_string())
        }
    }

    /// `quotaName=<q>` when the context has one.
    pub fn quota(self) -> Self {
        let q = self.ctx.quota_name.clone();
        self.opt_q("quotaName", q)
    }

    /// Sets a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.req.headers.set(name, value);
        self
    }

    /// Sets a header when `value` is `Some`.
    pub fn opt_header(self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.header(name, v),
            None => self,
        }
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<bytes::Bytes>) -> Self {
        self.req.body = body.into();
        self
    }

    /// Appends `curr_project` and returns the request.
    pub fn build(self) -> Request {
        let project = self.ctx.project.clone();
        let mut req = self.req;
        req.query.push(("curr_project".to_string(), project));
        req
    }
}

/// A session status, as any of the tunnel session kinds reports it (case-insensitive on
/// input, lower case on output).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionStatus {
    /// `unknown`, or no status in the response.
    Unknown,
    /// `normal`: usable.
    Normal,
    /// `initiating` (download, async mode) / `init` (stream): not ready yet.
    Initiating,
    /// `closing` (upload).
    Closing,
    /// `closed` (upload: committed; download: `closes` in py's spelling).
    Closed,
    /// `canceled` (upload).
    Canceled,
    /// `expired`.
    Expired,
    /// `critical`.
    Critical,
    /// `committing` (upsert; java upload).
    Committing,
    /// `committed` (upsert).
    Committed,
    /// `aborted` (upsert).
    Aborted,
    /// Anything else, as sent.
    Other(String),
}

impl SessionStatus {
    /// Parses a status string (case-insensitive; `None` or empty gives `Unknown`).
    pub fn parse(s: Option<&str>) -> Self {
        let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
            return SessionStatus::Unknown;
        };
        match s.to_ascii_lowercase().as_str() {
            "unknown" => SessionStatus::Unknown,
            "normal" => SessionStatus::Normal,
            "initiating" | "init" => SessionStatus::Initiating,
            "closing" => SessionStatus::Closing,
            "closed" | "closes" => SessionStatus::Closed,
            "canceled" | "cancelled" => SessionStatus::Canceled,
            "expired" => SessionStatus::Expired,
            "critical" => SessionStatus::Critical,
            "committing" => SessionStatus::Committing,
            "committed" => SessionStatus::Committed,
            "aborted" => SessionStatus::Aborted,
            _ => SessionStatus::Other(s.to_string()),
        }
    }

    /// The lower-case wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            SessionStatus::Unknown => "unknown",
            SessionStatus::Normal => "normal",
            SessionStatus::Initiating => "initiating",
            SessionStatus::Closing => "closing",
            SessionStatus::Closed => "closed",
            SessionStatus::Canceled => "canceled",
            SessionStatus::Expired => "expired",
            SessionStatus::Critical => "critical",
            SessionStatus::Committing => "committing",
            SessionStatus::Committed => "committed",
            SessionStatus::Aborted => "aborted",
            SessionStatus::Other(s) => s,
        }
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a JSON body of a success response into `T`.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    resp: &crate::http::Response,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(&resp.body)
        .map_err(|e| ApiError::malformed(resp, format!("{what}: invalid JSON body: {e}")))
}

/// Checks an `ip:port` address: non-empty host, numeric port.
pub(crate) fn valid_host_port(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}
