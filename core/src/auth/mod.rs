//! Request authentication: credentials, the canonical string, v2/v4 signing and
//! server-side verification (protocol §2).
//!
//! Client side: build a [`Signer`] from [`Credentials`] and a [`SignatureVersion`], then call
//! [`Signer::sign`] with the wall-clock time; it sets `Date` and `Authorization`.
//!
//! ```
//! use maxc_core::auth::{Credentials, Signer};
//! use maxc_core::http::{Method, Request, Service};
//! use maxc_core::time::WallClock;
//!
//! let signer = Signer::v2(Credentials::access_key("LTAI5tEXAMPLEID", "EXAMPLESECRETKEY0123456789"));
//! let mut req = Request::new(Method::Get, Service::Rest, "/projects/my_project/tables/my_table")
//!     .with_query("curr_project", "my_project")
//!     .with_header("x-odps-user-agent", "pyodps/0.13.2 CPython/3.11.7 Linux/5.15");
//! signer.sign(&mut req, WallClock::from_unix_secs(1_704_067_200));
//! assert_eq!(req.headers.get("Date"), Some("Mon, 01 Jan 2024 00:00:00 GMT"));
//! assert_eq!(req.headers.get("Authorization"), Some("ODPS LTAI5tEXAMPLEID:H/ZP6cUJTPPcAsftCx5pNJNdMZY="));
//! ```
//!
//! Server side (the mock): [`verify`] checks a request against an [`AccountLookup`].

mod canonical;
mod credentials;
mod signer;
mod verify;

#[cfg(test)]
mod tests;

pub use canonical::{
    canonical_resource, canonical_string, canonical_string_with_query, double_decoded_query,
};
pub use credentials::{Credentials, Secret};
pub use signer::{
    BEARER_TOKEN_HEADER, STS_TOKEN_HEADER, SignatureVersion, Signer, V4_SERVICE, V4_TERMINATOR,
    v2_authorization, v2_signature, v4_authorization, v4_signature, v4_signing_key,
};
pub use verify::{
    AccountLookup, AuthError, AuthInfo, AuthScheme, CanonicalForm, MAX_CLOCK_SKEW, verify,
};
