//! Service errors: parsing XML/JSON error bodies, classification for retry decisions, and
//! rendering error bodies (for the mock server).
//!
//! # Classification (§4.6 of the protocol notes and the SDKs' retry contract)
//!
//! | response | class |
//! |---|---|
//! | 429, or code `FlowExceeded` / `QPSExceeded` / `SlotExceeded` (any status) | `Retry` (after `HoldClientMillis` or `Retry-After` when given) |
//! | 308 (slot moved; see [`ApiError::routed_server`]) | `ReloadSession` |
//! | 502, 504 on the tunnel service | `ReloadSession` (re-fetch routes, then retry) |
//! | other 5xx, 408, and retry-later codes (`DataUnderReplication`, …) | `Retry` |
//! | 404, or a `NoSuch…` / `…NotFound` code | `NotFound` |
//! | `ObjectAlreadyExists`, `…AlreadyExists`, `…AlreadyCommitted` codes | `AlreadyDone` |
//! | any other status | `Fatal` |
//!
//! On the REST service 502/504 are plain `Retry` (there is no session to reload).
//! A body that is neither a well-formed XML nor JSON error still gives an [`ApiError`],
//! with a code derived from the status (`NoSuchObject` for 404, `Unauthorized` for 401,
//! `HTTP<status>` otherwise).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::xml::{XmlWriter, parse_document};
use super::{headers, lenient};
use crate::http::{Response, Service};

/// Error codes used or recognised by this crate.
pub mod codes {
    /// Generic "not found".
    pub const NO_SUCH_OBJECT: &str = "NoSuchObject";
    /// Project not found.
    pub const NO_SUCH_PROJECT: &str = "NoSuchProject";
    /// Table not found.
    pub const NO_SUCH_TABLE: &str = "NoSuchTable";
    /// Partition not found.
    pub const NO_SUCH_PARTITION: &str = "NoSuchPartition";
    /// Schema not found (3-tier model), also sent while a stream session initialises.
    pub const NO_SUCH_SCHEMA: &str = "NoSuchSchema";
    /// Batch upload session not found.
    pub const NO_SUCH_UPLOAD: &str = "NoSuchUpload";
    /// Download session not found.
    pub const NO_SUCH_DOWNLOAD: &str = "NoSuchDownload";
    /// Stream session not found.
    pub const STREAM_SESSION_NOT_FOUND: &str = "StreamSessionNotFound";
    /// Upsert session not found (after commit this means "committed").
    pub const UPSERT_SESSION_NOT_FOUND: &str = "UpsertSessionNotFound";
    /// Object exists already.
    pub const OBJECT_ALREADY_EXISTS: &str = "ObjectAlreadyExists";
    /// A session was committed already (recognised as `AlreadyDone`).
    pub const ALREADY_COMMITTED: &str = "AlreadyCommitted";
    /// Operation not allowed in the session's state (expired or committed).
    pub const STATUS_CONFLICT: &str = "StatusConflict";
    /// Bad argument.
    pub const INVALID_ARGUMENT: &str = "InvalidArgument";
    /// Bad partition spec.
    pub const INVALID_PARTITION_SPEC: &str = "InvalidPartitionSpec";
    /// Row range outside the download session.
    pub const INVALID_ROW_RANGE: &str = "InvalidRowRange";
    /// Block id out of range.
    pub const INVALID_BLOCK_ID: &str = "InvalidBlockID";
    /// Record stream failed to decode or verify.
    pub const MALFORMED_DATA_STREAM: &str = "MalformedDataStream";
    /// Table schema changed (HTTP 412 with `odps-tunnel-latest-schema-version`).
    pub const SCHEMA_MODIFIED: &str = "SchemaModified";
    /// Table data changed after the download session started.
    pub const TABLE_MODIFIED: &str = "TableModified";
    /// Tunnel flow quota exceeded.
    pub const FLOW_EXCEEDED: &str = "FlowExceeded";
    /// Request rate exceeded.
    pub const QPS_EXCEEDED: &str = "QPSExceeded";
    /// Tunnel slots exhausted.
    pub const SLOT_EXCEEDED: &str = "SlotExceeded";
    /// Server error.
    pub const INTERNAL_SERVER_ERROR: &str = "InternalServerError";
    /// Service unavailable.
    pub const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";
    /// Authentication failed.
    pub const UNAUTHORIZED: &str = "Unauthorized";
    /// Signature mismatch.
    pub const SIGNATURE_NOT_MATCH: &str = "SignatureNotMatch";
    /// Clock skew above 15 minutes.
    pub const REQUEST_TIME_TOO_SKEWED: &str = "RequestTimeTooSkewed";
    /// Permission denied.
    pub const NO_PERMISSION: &str = "NoPermission";
    /// Set by this crate when a success response cannot be parsed.
    pub const MALFORMED_RESPONSE: &str = "MalformedResponse";
}

/// Codes that mean "try again later" whatever the status.
const THROTTLE_CODES: [&str; 3] = [
    codes::FLOW_EXCEEDED,
    codes::QPS_EXCEEDED,
    codes::SLOT_EXCEEDED,
];
/// Codes documented as transient ("please try again later").
const TRANSIENT_CODES: [&str; 3] = [
    "DataUnderReplication",
    "CorruptedDataStream",
    "RequestTimeout",
];

/// `ODPS-xxxxxxx` numeric prefixes with a named class (py's table).
const NUMERIC_CODES: [(&str, &str); 6] = [
    ("0130131", codes::NO_SUCH_TABLE),
    ("0130013", codes::NO_PERMISSION),
    ("0130161", "ParseError"),
    ("0010000", codes::INTERNAL_SERVER_ERROR),
    ("0420411", codes::INVALID_ARGUMENT),
    ("0110141", "DataVersionError"),
];

/// The longest `HoldClientMillis` the Java SDK honours (it caps the hold at 10 s).
pub const MAX_HOLD_CLIENT_MILLIS: u64 = 10_000;

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorClass {
    /// Transient: retry the same request, after `after_ms` when the server said so.
    Retry {
        /// Server-requested delay in milliseconds (`Retry-After` or `HoldClientMillis`).
        after_ms: Option<u64>,
    },
    /// The session's routes are stale: reload the session (or re-route to
    /// [`ApiError::routed_server`]) and retry.
    ReloadSession,
    /// The object does not exist.
    NotFound,
    /// The operation had already happened (e.g. commit of a committed session).
    AlreadyDone,
    /// Retrying will not help.
    Fatal,
}

impl ErrorClass {
    /// Classifies a status and error code (see the [module docs](self)).
    pub fn classify(
        status: u16,
        code: &str,
        service: Service,
        retry_after_ms: Option<u64>,
    ) -> ErrorClass {
        let retry = ErrorClass::Retry {
            after_ms: retry_after_ms,
        };
        if status == 429 || THROTTLE_CODES.contains(&code) {
            return retry;
        }
        if status == 308 {
            return ErrorClass::ReloadSession;
        }
        if status >= 500 {
            if service == Service::Tunnel && (status == 502 || status == 504) {
                return ErrorClass::ReloadSession;
            }
            if status < 600 {
                return retry;
            }
        }
        if status == 408 || TRANSIENT_CODES.contains(&code) {
            return retry;
        }
        if status == 404 || code.starts_with("NoSuch") || code.ends_with("NotFound") {
            return ErrorClass::NotFound;
        }
        if code.ends_with("AlreadyExists") || code.contains("AlreadyCommitted") {
            return ErrorClass::AlreadyDone;
        }
        ErrorClass::Fatal
    }
}

/// A typed error from the service (or a response this crate could not make sense of).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Error code (`NoSuchTable`, …); `ODPS-0130131`-style codes are mapped to names.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Request id from the body or the `x-odps-request-id` header.
    pub request_id: Option<String>,
    /// Server-requested delay before retrying, in ms (`Retry-After` header in seconds, or
    /// `HoldClientMillis` in a JSON body).
    pub retry_after: Option<u64>,
    /// What to do about it.
    pub class: ErrorClass,
    /// Rarely present extras (boxed to keep `Result<_, ApiError>` small).
    pub details: Box<ErrorDetails>,
}

/// The less common parts of an [`ApiError`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorDetails {
    /// `HostId` from an XML error body.
    pub host_id: Option<String>,
    /// `odps-tunnel-routed-server` of the response (a 308's new slot address).
    pub routed_server: Option<String>,
    /// `odps-tunnel-latest-schema-version` of the response (with 412 `SchemaModified`).
    pub latest_schema_version: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status, self.code, self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// The JSON error body (`{"Code","Message","RequestId","HostId"?,"HoldClientMillis"?}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorJson {
    /// Error code.
    #[serde(rename = "Code", default, deserialize_with = "lenient::string")]
    pub code: String,
    /// Message.
    #[serde(rename = "Message", default, deserialize_with = "lenient::string")]
    pub message: String,
    /// Request id.
    #[serde(
        rename = "RequestId",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub request_id: Option<String>,
    /// Host id (REST).
    #[serde(
        rename = "HostId",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub host_id: Option<String>,
    /// How long the client should wait before retrying, in ms.
    #[serde(
        rename = "HoldClientMillis",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_u64"
    )]
    pub hold_client_millis: Option<u64>,
}

fn map_numeric_code(code: &str) -> String {
    let trimmed = code.trim();
    if let Some(rest) = trimmed.strip_prefix("ODPS-") {
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Some((_, name)) = NUMERIC_CODES.iter().find(|(n, _)| *n == digits) {
            return (*name).to_string();
        }
    }
    trimmed.to_string()
}

fn fallback_code(status: u16) -> String {
    match status {
        404 => codes::NO_SUCH_OBJECT.to_string(),
        401 => codes::UNAUTHORIZED.to_string(),
        _ => format!("HTTP{status}"),
    }
}

/// At most `max` characters of a body, lossily decoded, for messages.
fn snippet(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// `Retry-After` as milliseconds (delta-seconds only).
fn retry_after_header(resp: &Response) -> Option<u64> {
    resp.headers
        .get(headers::RETRY_AFTER)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s.saturating_mul(1000))
}

impl ApiError {
    /// An error value with the given parts, classified for `service`.
    pub fn new(
        service: Service,
        status: u16,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let code = code.into();
        Self {
            status,
            class: ErrorClass::classify(status, &code, service, None),
            code,
            message: message.into(),
            request_id: None,
            retry_after: None,
            details: Box::default(),
        }
    }

    /// Sets the server-requested retry delay (and re-derives a `Retry` class's delay).
    pub fn with_retry_after(mut self, ms: u64) -> Self {
        self.retry_after = Some(ms);
        if let ErrorClass::Retry { .. } = self.class {
            self.class = ErrorClass::Retry { after_ms: Some(ms) };
        }
        self
    }

    /// `HostId` of an XML error body.
    pub fn host_id(&self) -> Option<&str> {
        self.details.host_id.as_deref()
    }

    /// `odps-tunnel-routed-server` of the response (where a 308 says the slot moved).
    pub fn routed_server(&self) -> Option<&str> {
        self.details.routed_server.as_deref()
    }

    /// `odps-tunnel-latest-schema-version` of the response (412 `SchemaModified`).
    pub fn latest_schema_version(&self) -> Option<&str> {
        self.details.latest_schema_version.as_deref()
    }

    /// Sets the host id.
    pub fn with_host_id(mut self, id: impl Into<String>) -> Self {
        self.details.host_id = Some(id.into());
        self
    }

    /// Sets the routed server (rendered as `odps-tunnel-routed-server`).
    pub fn with_routed_server(mut self, addr: impl Into<String>) -> Self {
        self.details.routed_server = Some(addr.into());
        self
    }

    /// Sets the latest schema version (rendered as `odps-tunnel-latest-schema-version`).
    pub fn with_latest_schema_version(mut self, v: impl Into<String>) -> Self {
        self.details.latest_schema_version = Some(v.into());
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Parses an error response of `service`. Works for any status and any body; never panics.
    pub fn from_response(resp: &Response, service: Service) -> ApiError {
        let header_id = resp
            .headers
            .get(headers::REQUEST_ID)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let body = resp.body.as_ref();
        let trimmed = body
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map_or(&body[..0], |i| &body[i..]);
        let mut parsed: Option<ErrorJson> = None;
        if trimmed.first() == Some(&b'{') {
            parsed = serde_json::from_slice::<ErrorJson>(trimmed).ok();
        } else if trimmed.first() == Some(&b'<')
            && let Ok(root) = parse_document(trimmed)
        {
            parsed = Some(ErrorJson {
                code: root.child_text("Code").unwrap_or_default().to_string(),
                message: root.child_text("Message").unwrap_or_default().to_string(),
                request_id: root.child_text_nonempty("RequestId"),
                host_id: root.child_text_nonempty("HostId"),
                hold_client_millis: None,
            });
        }
        let parsed = parsed.filter(|p| !p.code.trim().is_empty());
        let (code, message, request_id, host_id, hold) = match parsed {
            Some(p) => (
                map_numeric_code(&p.code),
                p.message,
                p.request_id.filter(|s| !s.trim().is_empty()).or(header_id),
                p.host_id,
                p.hold_client_millis,
            ),
            None => {
                let message = if trimmed.is_empty() {
                    "empty error body".to_string()
                } else {
                    format!("unrecognised error body: {}", snippet(trimmed, 200))
                };
                (fallback_code(resp.status), message, header_id, None, None)
            }
        };
        let retry_after = hold.or_else(|| retry_after_header(resp));
        ApiError {
            status: resp.status,
            class: ErrorClass::classify(resp.status, &code, service, retry_after),
            code,
            message,
            request_id,
            retry_after,
            details: Box::new(ErrorDetails {
                host_id,
                routed_server: resp
                    .headers
                    .get(headers::ROUTED_SERVER)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                latest_schema_version: resp
                    .headers
                    .get(headers::LATEST_SCHEMA_VERSION)
                    .map(str::to_string),
            }),
        }
    }

    /// An error for a success response whose body or headers could not be understood
    /// (code [`codes::MALFORMED_RESPONSE`], class `Fatal`).
    pub fn malformed(resp: &Response, what: impl fmt::Display) -> ApiError {
        ApiError {
            status: resp.status,
            code: codes::MALFORMED_RESPONSE.to_string(),
            message: what.to_string(),
            request_id: resp.headers.get(headers::REQUEST_ID).map(str::to_string),
            retry_after: None,
            class: ErrorClass::Fatal,
            details: Box::default(),
        }
    }

    /// True for the `Retry` class.
    pub fn is_retryable(&self) -> bool {
        matches!(self.class, ErrorClass::Retry { .. })
    }

    /// True for the `NotFound` class.
    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }

    /// The REST error body: `<Error><Code/><Message/><RequestId/><HostId/></Error>` with all
    /// four elements present (py needs `HostId`).
    pub fn to_xml_body(&self) -> String {
        let mut w = XmlWriter::with_declaration();
        w.open("Error")
            .text_element("Code", &self.code)
            .text_element("Message", &self.message)
            .text_element("RequestId", self.request_id.as_deref().unwrap_or(""))
            .text_element("HostId", self.host_id().unwrap_or(""));
        w.finish()
    }

    /// The tunnel error body: `{"Code","Message","RequestId"[,"HoldClientMillis"]}`.
    pub fn to_json_body(&self) -> String {
        let body = ErrorJson {
            code: self.code.clone(),
            message: self.message.clone(),
            request_id: Some(self.request_id.clone().unwrap_or_default()),
            host_id: None,
            hold_client_millis: self.retry_after,
        };
        serde_json::to_string(&body).unwrap_or_default()
    }

    /// A complete error response for `service`: XML body for REST, JSON for tunnel;
    /// `x-odps-request-id`, `Content-Type`, and `Retry-After` (whole seconds, rounded up)
    /// when a delay is set; `odps-tunnel-routed-server` and
    /// `odps-tunnel-latest-schema-version` when set.
    pub fn to_response(&self, service: Service) -> Response {
        let (body, ctype) = match service {
            Service::Rest => (self.to_xml_body(), "application/xml"),
            Service::Tunnel => (self.to_json_body(), "application/json"),
        };
        let mut r = Response::new(self.status, body)
            .with_header(headers::CONTENT_TYPE, ctype)
            .with_header(
                headers::REQUEST_ID,
                self.request_id.clone().unwrap_or_default(),
            );
        if let Some(ms) = self.retry_after {
            r = r.with_header(headers::RETRY_AFTER, ms.div_ceil(1000).to_string());
        }
        if let Some(s) = &self.details.routed_server {
            r = r.with_header(headers::ROUTED_SERVER, s.clone());
        }
        if let Some(v) = &self.details.latest_schema_version {
            r = r.with_header(headers::LATEST_SCHEMA_VERSION, v.clone());
        }
        r
    }
}

/// Returns `Err(ApiError)` for a non-2xx response.
pub(crate) fn check(resp: &Response, service: Service) -> Result<(), ApiError> {
    if resp.is_success() {
        Ok(())
    } else {
        Err(ApiError::from_response(resp, service))
    }
}
