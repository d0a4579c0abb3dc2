//! Request signing: signature v2 and v4 (protocol §2.2–§2.4).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;

use super::canonical::canonical_string;
use super::credentials::Credentials;
use crate::http::Request;
use crate::time::WallClock;

/// The last element of a v4 credential scope.
pub const V4_TERMINATOR: &str = "aliyun_v4_request";
/// The service name in a v4 credential scope.
pub const V4_SERVICE: &str = "odps";
/// Prefix of the v4 key-derivation secret.
const V4_KEY_PREFIX: &str = "aliyun_v4";

/// Header carrying the STS security token (unsigned).
pub const STS_TOKEN_HEADER: &str = "authorization-sts-token";
/// Header carrying a bearer token.
pub const BEARER_TOKEN_HEADER: &str = "x-odps-bearer-token";

/// Which signature scheme a [`Signer`] uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignatureVersion {
    /// `ODPS <id>:<base64 HMAC-SHA1(secret, canonical)>`; the default when no region is known.
    V2,
    /// `ODPS <id>/<yyyyMMdd>/<region>/odps/aliyun_v4_request:<sig>` with a derived key.
    V4 {
        /// Region name, e.g. `cn-hangzhou`.
        region: String,
    },
}

/// Signs requests with one set of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    credentials: Credentials,
    version: SignatureVersion,
}

/// HMAC-SHA1 of `msg` under `key`.
pub(crate) fn hmac_sha1(key: &[u8], msg: &[u8]) -> Hmac<Sha1> {
    // HMAC is defined for keys of every length (long keys are hashed first), so the
    // InvalidLength error cannot occur; the key is never a fixed-size cipher key.
    #[allow(clippy::expect_used)]
    let mut mac =
        <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac
}

/// HMAC-SHA256 of `msg` under `key`.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // See `hmac_sha1`: HMAC takes keys of any length.
    #[allow(clippy::expect_used)]
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The v2 signature: `base64(HMAC-SHA1(secret, canonical))`.
pub fn v2_signature(secret: &str, canonical: &str) -> String {
    BASE64.encode(
        hmac_sha1(secret.as_bytes(), canonical.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// The v4 signing key: an HMAC-SHA256 chain over `"aliyun_v4" + secret`, the day
/// (`yyyyMMdd`), the region, `odps` and `aliyun_v4_request`.
pub fn v4_signing_key(secret: &str, day: &str, region: &str) -> [u8; 32] {
    let k_secret = format!("{V4_KEY_PREFIX}{secret}");
    let k_date = hmac_sha256(k_secret.as_bytes(), day.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, V4_SERVICE.as_bytes());
    hmac_sha256(&k_service, V4_TERMINATOR.as_bytes())
}

/// The v4 signature: `base64(HMAC-SHA1(signing key, canonical))` (SHA1 in the last step).
pub fn v4_signature(secret: &str, day: &str, region: &str, canonical: &str) -> String {
    let key = v4_signing_key(secret, day, region);
    BASE64.encode(
        hmac_sha1(&key, canonical.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// The `Authorization` value for v2.
pub fn v2_authorization(access_id: &str, secret: &str, canonical: &str) -> String {
    format!("ODPS {access_id}:{}", v2_signature(secret, canonical))
}

/// The `Authorization` value for v4.
pub fn v4_authorization(
    access_id: &str,
    secret: &str,
    day: &str,
    region: &str,
    canonical: &str,
) -> String {
    format!(
        "ODPS {access_id}/{day}/{region}/{V4_SERVICE}/{V4_TERMINATOR}:{}",
        v4_signature(secret, day, region, canonical)
    )
}

impl Signer {
    /// A signer with the given scheme.
    pub fn new(credentials: Credentials, version: SignatureVersion) -> Self {
        Self {
            credentials,
            version,
        }
    }

    /// A v2 signer.
    pub fn v2(credentials: Credentials) -> Self {
        Self::new(credentials, SignatureVersion::V2)
    }

    /// A v4 signer for `region` (e.g. `cn-hangzhou`).
    pub fn v4(credentials: Credentials, region: impl Into<String>) -> Self {
        Self::new(
            credentials,
            SignatureVersion::V4 {
                region: region.into(),
            },
        )
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The signature scheme.
    pub fn version(&self) -> &SignatureVersion {
        &self.version
    }

    /// The same credentials with another scheme (e.g. falling back from v4 to v2).
    pub fn with_version(&self, version: SignatureVersion) -> Self {
        Self::new(self.credentials.clone(), version)
    }

    /// Signs `req` at wall-clock time `now`.
    ///
    /// Sets `Date` (RFC 1123 GMT) and, for AccessKey credentials, `Authorization` (plus
    /// `authorization-sts-token` for STS credentials). For bearer credentials it sets
    /// `x-odps-bearer-token` and removes any `Authorization`. For v4 the scope day is the UTC
    /// day of `now`. Sign after every other header and the query are final: they are covered.
    pub fn sign(&self, req: &mut Request, now: WallClock) {
        let date = now.to_rfc1123();
        req.headers.set("Date", date.as_str());
        match &self.credentials {
            Credentials::Bearer { token } => {
                req.headers.remove("Authorization");
                req.headers.remove(STS_TOKEN_HEADER);
                req.headers.set(BEARER_TOKEN_HEADER, token.expose());
            }
            Credentials::AccessKey {
                access_id,
                secret,
                sts_token,
            } => {
                let canonical = canonical_string(req, &date);
                let auth = match &self.version {
                    SignatureVersion::V2 => {
                        v2_authorization(access_id, secret.expose(), &canonical)
                    }
                    SignatureVersion::V4 { region } => v4_authorization(
                        access_id,
                        secret.expose(),
                        &now.yyyymmdd(),
                        region,
                        &canonical,
                    ),
                };
                req.headers.set("Authorization", auth);
                match sts_token {
                    Some(t) => req.headers.set(STS_TOKEN_HEADER, t.expose()),
                    None => req.headers.remove(STS_TOKEN_HEADER),
                }
            }
        }
    }
}
