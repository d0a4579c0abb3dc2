//! HTTP requests and responses as plain values.
//!
//! The core builds [`Request`]s and parses [`Response`]s; drivers carry them over a network,
//! the mock server answers them, the simulator passes them in memory. Nothing here does I/O.
//!
//! Paths and query values are stored **decoded**; [`Request::path_and_query`] renders the
//! percent-encoded form for the wire, and [`Request::from_path_and_query`] parses it back.

use std::fmt;

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// Characters left as they are in an encoded path segment or query component.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// HEAD
    Head,
}

impl Method {
    /// The upper-case method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
        }
    }

    /// Parses an upper-case method name.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            _ => return None,
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of the two MaxCompute HTTP services a request is for. The driver prepends the
/// matching endpoint (REST: `http://host/api`; tunnel: `http://host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Service {
    /// The REST (metadata) service; paths are relative to its endpoint (without `/api`).
    Rest,
    /// The tunnel (data) service; paths are relative to the host root.
    Tunnel,
}

/// HTTP headers: lower-cased names in insertion order, case-insensitive lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value`, replacing earlier values.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.0.push((name.to_ascii_lowercase(), value.into()));
    }

    /// Adds a value without removing earlier ones.
    pub fn append(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_ascii_lowercase(), value.into()));
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// All (lower-cased name, value) pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: AsRef<str>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut h = Headers::new();
        for (k, v) in iter {
            h.append(k.as_ref(), v);
        }
        h
    }
}

/// A request value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Target service.
    pub service: Service,
    /// Decoded path relative to the service endpoint, e.g. `/projects/p/tables/t`.
    pub path: String,
    /// Decoded query parameters in order; an empty value is a bare key (`?data`).
    pub query: Vec<(String, String)>,
    /// Headers.
    pub headers: Headers,
    /// Body.
    pub body: Bytes,
}

/// A query string or path that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed URL component `{0}`: not valid percent-encoded UTF-8")]
pub struct UrlError(pub String);

/// Percent-encodes one path segment or query component.
pub fn encode_component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Decodes one percent-encoded component (`+` is left as is, as in paths).
pub fn decode_component(s: &str) -> Result<String, UrlError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| UrlError(s.to_string()))
}

/// Parses a raw query string (`a=1&b&c=`) into decoded pairs; `+` decodes to a space.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, UrlError> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((
                decode_component(&k.replace('+', " "))?,
                decode_component(&v.replace('+', " "))?,
            ))
        })
        .collect()
}

impl Request {
    /// A request with no query, headers or body.
    pub fn new(method: Method, service: Service, path: impl Into<String>) -> Self {
        Self {
            method,
            service,
            path: path.into(),
            query: Vec::new(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a query parameter (builder style). Use an empty value for a bare key.
    pub fn with_query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_string(), value.into()));
        self
    }

    /// Sets a header (builder style).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.set(name, value);
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The value of a query parameter (`Some("")` for a bare key).
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// True when the query has `key` (bare or with a value).
    pub fn has_query(&self, key: &str) -> bool {
        self.query_param(key).is_some()
    }

    /// The percent-encoded path and query for the wire, e.g. `/projects/p?partitions&a=b%3Dc`.
    pub fn path_and_query(&self) -> String {
        let mut out = String::with_capacity(self.path.len() + 16);
        for seg in self.path.split('/') {
            if !out.is_empty() || !seg.is_empty() {
                out.push('/');
            }
            out.push_str(&encode_component(seg));
        }
        if out.is_empty() {
            out.push('/');
        }
        for (i, (k, v)) in self.query.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(&encode_component(k));
            if !v.is_empty() {
                out.push('=');
                out.push_str(&encode_component(v));
            }
        }
        out
    }

    /// Parses a wire path and query (as a server sees it) into a request value.
    pub fn from_path_and_query(
        method: Method,
        service: Service,
        path_and_query: &str,
    ) -> Result<Self, UrlError> {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Ok(Self {
            method,
            service,
            path: decode_component(path)?,
            query: parse_query(query)?,
            headers: Headers::new(),
            body: Bytes::new(),
        })
    }
}

/// A response value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers.
    pub headers: Headers,
    /// Body.
    pub body: Bytes,
}

impl Response {
    /// A response with a status and body and no headers.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            headers: Headers::new(),
            body: body.into(),
        }
    }

    /// Sets a header (builder style).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.set(name, value);
        self
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query_round_trip() {
        let r = Request::new(Method::Get, Service::Tunnel, "/projects/my proj/tables/t")
            .with_query("data", "")
            .with_query("rowrange", "(0,5)")
            .with_query("partition", "ds=20240101,region=hz");
        let wire = r.path_and_query();
        assert_eq!(
            wire,
            "/projects/my%20proj/tables/t?data&rowrange=%280%2C5%29&partition=ds%3D20240101%2Cregion%3Dhz"
        );
        let back = Request::from_path_and_query(Method::Get, Service::Tunnel, &wire).unwrap();
        assert_eq!(back.path, r.path);
        assert_eq!(back.query, r.query);
        assert_eq!(back.query_param("data"), Some(""));
        assert!(back.has_query("rowrange"));
        assert!(!back.has_query("nope"));
    }

    #[test]
    fn bare_and_empty_keys_are_the_same() {
        let a = parse_query("downloads=&x").unwrap();
        assert_eq!(
            a,
            vec![("downloads".into(), "".into()), ("x".into(), "".into())]
        );
        assert!(parse_query("a=%ff").is_err());
        assert_eq!(parse_query("a=b+c").unwrap()[0].1, "b c");
    }

    #[test]
    fn headers_are_case_insensitive() {
        let mut h = Headers::new();
        h.set("Content-Type", "a");
        h.set("content-type", "b");
        assert_eq!(h.get("CONTENT-TYPE"), Some("b"));
        assert_eq!(h.len(), 1);
        h.append("X-Odps-A", "1");
        assert_eq!(h.iter().nth(1), Some(("x-odps-a", "1")));
        h.remove("x-odps-a");
        assert!(!h.contains("x-odps-a"));
    }
}
