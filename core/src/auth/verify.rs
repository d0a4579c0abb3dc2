//! Server-side signature verification (for the mock server).
//!
//! [`verify`] accepts v2 and v4 `Authorization` headers, recomputes the signature from the
//! request and the account's secret, compares in constant time, and checks the `Date` against
//! the server's clock. Because pyodps decodes query values twice before signing (protocol
//! §2.1), a signature over either the single- or the double-decoded canonical form is accepted.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::Mac;

use super::canonical::{canonical_string, canonical_string_with_query, double_decoded_query};
use super::credentials::Secret;
use super::signer::{
    BEARER_TOKEN_HEADER, STS_TOKEN_HEADER, V4_SERVICE, V4_TERMINATOR, hmac_sha1, v4_signing_key,
};
use crate::http::{Request, Service};
use crate::time::WallClock;

/// The service's clock-skew limit: requests dated more than 15 minutes away are refused.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// Where the verifier finds account secrets.
///
/// Implemented for closures `Fn(&str) -> Option<String>` and for `BTreeMap`/`HashMap` from
/// AccessKey id to secret.
pub trait AccountLookup {
    /// The AccessKey secret of `access_id`, or `None` when the id is unknown.
    fn secret(&self, access_id: &str) -> Option<String>;

    /// The identity a bearer token stands for, or `None` when the token is not accepted.
    /// By default no bearer token is accepted.
    fn bearer_identity(&self, token: &str) -> Option<String> {
        let _ = token;
        None
    }
}

impl<F: Fn(&str) -> Option<String>> AccountLookup for F {
    fn secret(&self, access_id: &str) -> Option<String> {
        self(access_id)
    }
}

impl AccountLookup for BTreeMap<String, String> {
    fn secret(&self, access_id: &str) -> Option<String> {
        self.get(access_id).cloned()
    }
}

impl<S: std::hash::BuildHasher> AccountLookup for HashMap<String, String, S> {
    fn secret(&self, access_id: &str) -> Option<String> {
        self.get(access_id).cloned()
    }
}

/// How a verified request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    /// Signature v2.
    V2,
    /// Signature v4 with its credential scope.
    V4 {
        /// Scope day, `yyyyMMdd`.
        day: String,
        /// Scope region.
        region: String,
    },
    /// A bearer token accepted by [`AccountLookup::bearer_identity`].
    Bearer,
}

/// Which canonical form the client's signature matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanonicalForm {
    /// Query values decoded once (java, go, maxc).
    SingleDecoded,
    /// Query values decoded twice (pyodps).
    DoubleDecoded,
}

/// The result of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthInfo {
    /// The AccessKey id (or, for a bearer token, the identity the lookup returned).
    pub access_id: String,
    /// The scheme used.
    pub scheme: AuthScheme,
    /// The STS token sent with the request, if any (not validated here).
    pub sts_token: Option<Secret>,
    /// Which canonical form matched (`None` for bearer tokens).
    pub canonical_form: Option<CanonicalForm>,
    /// The request's `Date`, when it had one.
    pub date: Option<WallClock>,
}

/// Why a request failed authentication. [`AuthError::code`] gives the service's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header (and no bearer token).
    #[error("the Authorization header is missing")]
    AuthorizationRequired,
    /// The `Authorization` header is not `ODPS id:sig` or `ODPS id/day/region/odps/aliyun_v4_request:sig`.
    #[error("the Authorization header is invalid: {0}")]
    MalformedAuthorization(String),
    /// The request has no `Date` header.
    #[error("the Date header is missing")]
    MissingDate,
    /// The `Date` header is not an RFC 1123 date.
    #[error("the Date header `{0}` is not an RFC 1123 date")]
    InvalidDate(String),
    /// The AccessKey id is not known.
    #[error("the AccessKey id `{0}` does not exist")]
    InvalidAccessKeyId(String),
    /// The bearer token is not accepted.
    #[error("the bearer token is not valid")]
    InvalidBearerToken,
    /// The signature does not match. `canonical` is the string the server signed (with
    /// single-decoded query values), to compare with the client's.
    #[error(
        "the request signature of `{access_id}` does not match; server canonical string: {canonical:?}"
    )]
    SignatureNotMatch {
        /// The AccessKey id the request claimed.
        access_id: String,
        /// The server's canonical string.
        canonical: String,
    },
    /// The `Date` is too far from the server's clock.
    #[error("{}", skew_message(.date, .now, .max_skew))]
    RequestTimeTooSkewed {
        /// The request's `Date`.
        date: WallClock,
        /// The server's clock.
        now: WallClock,
        /// The allowed skew.
        max_skew: Duration,
    },
}

/// The `RequestTimeTooSkewed` message in the form pyodps parses:
/// `max_interval_date:<ms>,expire_date:<ISO>Z,now_date:<ISO>Z`, where `expire_date` is the
/// request's date plus the allowed skew.
fn skew_message(date: &WallClock, now: &WallClock, max_skew: &Duration) -> String {
    format!(
        "max_interval_date:{},expire_date:{},now_date:{}",
        max_skew.as_millis(),
        date.saturating_add(*max_skew).to_iso8601_millis(),
        now.to_iso8601_millis()
    )
}

impl AuthError {
    /// The REST service's error code for this error (the `<Code>` of the error body).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::AuthorizationRequired
            | AuthError::MalformedAuthorization(_)
            | AuthError::MissingDate
            | AuthError::InvalidDate(_) => "AuthorizationRequired",
            AuthError::InvalidAccessKeyId(_) => "InvalidAccessKeyId",
            AuthError::InvalidBearerToken => "Unauthorized",
            AuthError::SignatureNotMatch { .. } => "SignatureNotMatch",
            AuthError::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
        }
    }

    /// The error code as the given service spells it: the tunnel service says
    /// `SignatureDoesNotMatch` where the REST service says `SignatureNotMatch`.
    pub fn code_for(&self, service: Service) -> &'static str {
        match (self, service) {
            (AuthError::SignatureNotMatch { .. }, Service::Tunnel) => "SignatureDoesNotMatch",
            _ => self.code(),
        }
    }

    /// The HTTP status to answer with: 403 for a skewed clock, 401 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            AuthError::RequestTimeTooSkewed { .. } => 403,
            _ => 401,
        }
    }
}

/// A parsed `Authorization` header.
struct ParsedAuthorization<'a> {
    access_id: &'a str,
    scope: Option<(&'a str, &'a str)>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<ParsedAuthorization<'_>, AuthError> {
    let malformed = |why: &str| AuthError::MalformedAuthorization(why.to_string());
    let rest = value
        .strip_prefix("ODPS ")
        .ok_or_else(|| malformed("expected the `ODPS ` prefix"))?;
    let (credential, signature) = rest
        .rsplit_once(':')
        .ok_or_else(|| malformed("expected `<credential>:<signature>`"))?;
    if signature.is_empty() {
        return Err(malformed("empty signature"));
    }
    let mut parts = credential.split('/');
    let access_id = parts.next().unwrap_or_default();
    if access_id.is_empty() {
        return Err(malformed("empty AccessKey id"));
    }
    let scope = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (None, ..) => None,
        (Some(day), Some(region), Some(service), Some(terminator)) if parts.next().is_none() => {
            if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed("v4 scope day is not yyyyMMdd"));
            }
            if region.is_empty() || service != V4_SERVICE || terminator != V4_TERMINATOR {
                return Err(malformed(
                    "v4 scope must be <id>/<yyyyMMdd>/<region>/odps/aliyun_v4_request",
                ));
            }
            Some((day, region))
        }
        _ => {
            return Err(malformed(
                "v4 scope must be <id>/<yyyyMMdd>/<region>/odps/aliyun_v4_request",
            ));
        }
    };
    Ok(ParsedAuthorization {
        access_id,
        scope,
        signature,
    })
}

/// Checks the `Date` header against `now`.
fn check_date(req: &Request, now: WallClock, max_skew: Duration) -> Result<WallClock, AuthError> {
    let raw = req.headers.get("Date").ok_or(AuthError::MissingDate)?;
    let date =
        WallClock::parse_rfc1123(raw).map_err(|_| AuthError::InvalidDate(raw.to_string()))?;
    if date.abs_diff(now) > max_skew {
        return Err(AuthError::RequestTimeTooSkewed {
            date,
            now,
            max_skew,
        });
    }
    Ok(date)
}

/// Verifies the authentication of `req` at server time `now`.
///
/// Order of checks: `Authorization` present (else a bearer token is tried) and well formed;
/// AccessKey id known; `Date` present, parseable and within `max_skew` of `now` (use
/// [`MAX_CLOCK_SKEW`]); signature equal (constant-time) to the one computed over the
/// single-decoded canonical string or, failing that, the double-decoded one.
pub fn verify<L: AccountLookup + ?Sized>(
    req: &Request,
    accounts: &L,
    now: WallClock,
    max_skew: Duration,
) -> Result<AuthInfo, AuthError> {
    let sts_token = req.headers.get(STS_TOKEN_HEADER).map(Secret::new);
    let Some(auth) = req.headers.get("Authorization") else {
        if let Some(token) = req.headers.get(BEARER_TOKEN_HEADER) {
            let identity = accounts
                .bearer_identity(token)
                .ok_or(AuthError::InvalidBearerToken)?;
            let date = match req.headers.get("Date") {
                Some(_) => Some(check_date(req, now, max_skew)?),
                None => None,
            };
            return Ok(AuthInfo {
                access_id: identity,
                scheme: AuthScheme::Bearer,
                sts_token: None,
                canonical_form: None,
                date,
            });
        }
        return Err(AuthError::AuthorizationRequired);
    };
    let parsed = parse_authorization(auth)?;
    let secret = accounts
        .secret(parsed.access_id)
        .ok_or_else(|| AuthError::InvalidAccessKeyId(parsed.access_id.to_string()))?;
    let date = check_date(req, now, max_skew)?;
    // `check_date` succeeded, so the header exists.
    let date_header = req.headers.get("Date").unwrap_or_default();

    // An undecodable signature cannot match; compare against an empty tag instead.
    let provided = BASE64.decode(parsed.signature).unwrap_or_default();
    let key: Vec<u8> = match parsed.scope {
        None => secret.as_bytes().to_vec(),
        Some((day, region)) => v4_signing_key(&secret, day, region).to_vec(),
    };
    let matches = |canonical: &str| {
        hmac_sha1(&key, canonical.as_bytes())
            .verify_slice(&provided)
            .is_ok()
    };

    let single = canonical_string(req, date_header);
    let form = if matches(&single) {
        CanonicalForm::SingleDecoded
    } else if double_decoded_query(&req.query)
        .is_some_and(|q| matches(&canonical_string_with_query(req, date_header, &q)))
    {
        CanonicalForm::DoubleDecoded
    } else {
        return Err(AuthError::SignatureNotMatch {
            access_id: parsed.access_id.to_string(),
            canonical: single,
        });
    };
    Ok(AuthInfo {
        access_id: parsed.access_id.to_string(),
        scheme: match parsed.scope {
            None => AuthScheme::V2,
            Some((day, region)) => AuthScheme::V4 {
                day: day.to_string(),
                region: region.to_string(),
            },
        },
        sts_token,
        canonical_form: Some(form),
        date: Some(date),
    })
}
