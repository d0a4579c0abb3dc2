//! Service errors and their two wire shapes: REST XML (`Code`, `Message`, `RequestId`,
//! `HostId`, all four always present) and tunnel JSON (`Code`, `Message`, `RequestId`).

use bytes::Bytes;
use maxc_core::http::Response;

use crate::xml::escape;

/// An error the service answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct MockError {
    /// HTTP status.
    pub status: u16,
    /// Service error code (`NoSuchTable`, `MalformedDataStream`, ...).
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(String, String)>,
}

impl MockError {
    /// An error with a status, code and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 404 with a code.
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    /// 409 `StatusConflict` (the session is not in a state that allows the operation).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "StatusConflict", message)
    }

    /// 500 `InternalServerError`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalServerError", message)
    }

    /// Adds a response header (builder style).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// `NoSuchProject` (404).
    pub fn no_such_project(project: &str) -> Self {
        Self::not_found(
            "NoSuchProject",
            format!("ODPS-0420111: Project not found - '{project}'"),
        )
    }

    /// `NoSuchTable` (404).
    pub fn no_such_table(project: &str, table: &str) -> Self {
        Self::not_found(
            "NoSuchTable",
            format!("ODPS-0130131:Table not found - '{project}.{table}'"),
        )
    }

    /// `NoSuchPartition` (404).
    pub fn no_such_partition(spec: &str) -> Self {
        Self::not_found(
            "NoSuchPartition",
            format!("The specified partition does not exist: {spec}"),
        )
    }

    /// The REST (metadata) shape: an XML `<Error>` document.
    pub fn to_rest(&self, request_id: &str, host_id: &str) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  <RequestId>{}</RequestId>\n  <HostId>{}</HostId>\n</Error>\n",
            escape(&self.code),
            escape(&self.message),
            escape(request_id),
            escape(host_id)
        );
        self.finish(body.into(), "application/xml")
    }

    /// The tunnel shape: a JSON object.
    pub fn to_tunnel(&self, request_id: &str) -> Response {
        let body = serde_json::json!({
            "Code": self.code,
            "Message": self.message,
            "RequestId": request_id,
        });
        self.finish(body.to_string().into(), "application/json")
    }

    /// The admin shape: `{"error": code, "message": ...}`.
    pub fn to_admin(&self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        self.finish(body.to_string().into(), "application/json")
    }

    fn finish(&self, body: Bytes, content_type: &str) -> Response {
        let mut r = Response::new(self.status, body).with_header("content-type", content_type);
        for (k, v) in &self.headers {
            r.headers.set(k, v.clone());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_error_has_all_four_elements() {
        let e = MockError::no_such_table("p", "t<1>");
        let r = e.to_rest("RID", "host");
        assert_eq!(r.status, 404);
        let text = std::str::from_utf8(&r.body).unwrap();
        for tag in [
            "<Code>NoSuchTable</Code>",
            "<RequestId>RID</RequestId>",
            "<HostId>host</HostId>",
        ] {
            assert!(text.contains(tag), "{text}");
        }
        assert!(text.contains("t&lt;1&gt;"));
        let j = e.to_tunnel("RID");
        let v: serde_json::Value = serde_json::from_slice(&j.body).unwrap();
        assert_eq!(v["Code"], "NoSuchTable");
        assert_eq!(v["RequestId"], "RID");
    }
}
