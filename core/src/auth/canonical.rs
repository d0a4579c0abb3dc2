//! The canonical string that MaxCompute signatures cover (protocol §2.1).
//!
//! ```text
//! <METHOD>
//! <Content-MD5 or empty>
//! <Content-Type or empty>
//! <Date>
//! x-odps-<name>:<value>      one line per x-odps-* header and x-odps-* query parameter,
//! ...                        sorted by lower-cased name
//! <canonical resource>       decoded path relative to the endpoint, then `?` and the query
//!                            parameters sorted by key, `k=v` or bare `k`, joined by `&`
//! ```
//!
//! Lines are joined with `\n`; there is no trailing newline.

use std::collections::BTreeMap;

use crate::http::{Request, parse_query};

/// Prefix of the headers and query parameters that enter the canonical string.
const SIGNED_PREFIX: &str = "x-odps-";

/// Builds the canonical string of `req`, with `date` as the `Date` line.
///
/// The request holds its path relative to the endpoint and its query already decoded (see
/// [`crate::http::Request`]), so the resource is used as is.
pub fn canonical_string(req: &Request, date: &str) -> String {
    canonical_string_with_query(req, date, &req.query)
}

/// Builds the canonical string of `req` with `query` in place of the request's own query.
///
/// Used by the verifier to try the double-decoded form pyodps signs (see
/// [`double_decoded_query`]).
pub fn canonical_string_with_query(
    req: &Request,
    date: &str,
    query: &[(String, String)],
) -> String {
    // One sorted map over content-md5, content-type, date and x-odps-*: the three fixed keys
    // sort before any `x-odps-` key.
    let mut signed: BTreeMap<String, &str> = BTreeMap::new();
    signed.insert("content-md5".into(), "");
    signed.insert("content-type".into(), "");
    for (name, value) in req.headers.iter() {
        let name = name.to_ascii_lowercase();
        if name == "content-md5" || name == "content-type" || name.starts_with(SIGNED_PREFIX) {
            signed.insert(name, value);
        }
    }
    signed.insert("date".into(), date);
    // x-odps-* query parameters also go into the header section (after the headers, so a
    // parameter wins over a header of the same name, as in pyodps).
    for (key, value) in query {
        let key = key.to_ascii_lowercase();
        if key.starts_with(SIGNED_PREFIX) {
            signed.insert(key, value);
        }
    }

    let mut out = String::with_capacity(128 + req.path.len());
    out.push_str(req.method.as_str());
    out.push('\n');
    for (name, value) in &signed {
        if name.starts_with(SIGNED_PREFIX) {
            out.push_str(name);
            out.push(':');
        }
        out.push_str(value);
        out.push('\n');
    }
    out.push_str(&canonical_resource(&req.path, query));
    out
}

/// The canonical resource: the decoded path, then `?` and the parameters sorted by key
/// (`k=v`, or bare `k` when the value is empty) joined by `&`.
///
/// Parameters with the same key are kept and ordered by value.
pub fn canonical_resource(path: &str, query: &[(String, String)]) -> String {
    let mut out = String::from(path);
    if query.is_empty() {
        return out;
    }
    let mut params: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    params.sort();
    for (i, (k, v)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The query as pyodps sees it when signing: pyodps URL-decodes the whole URL and then
/// parses the query string, so every key and value is decoded a second time (and a decoded
/// `&` or `=` splits parameters again).
///
/// Returns `None` when the second decoding fails (invalid UTF-8 after decoding) or when it
/// gives the same parameters as the single decoding.
pub fn double_decoded_query(query: &[(String, String)]) -> Option<Vec<(String, String)>> {
    let mut once_decoded = String::new();
    for (i, (k, v)) in query.iter().enumerate() {
        if i > 0 {
            once_decoded.push('&');
        }
        once_decoded.push_str(k);
        if !v.is_empty() {
            once_decoded.push('=');
            once_decoded.push_str(v);
        }
    }
    let twice = parse_query(&once_decoded).ok()?;
    (twice != query).then_some(twice)
}
