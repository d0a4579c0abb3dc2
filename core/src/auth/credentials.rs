//! Credentials and a secret string that never prints itself.

use std::fmt;

/// A secret string (an AccessKey secret, an STS token, a bearer token).
///
/// `Debug` and `Display` print `***` instead of the value; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call this only where the value is really needed (signing).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// How a client proves who it is.
///
/// `Debug` and `Display` show the AccessKey id (which is not secret) but never the AccessKey
/// secret, the STS token or the bearer token.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An AccessKey pair, optionally temporary (from STS, with its security token).
    AccessKey {
        /// The AccessKey id (`LTAI…`, or `STS.…` for temporary keys).
        access_id: String,
        /// The AccessKey secret.
        secret: Secret,
        /// The STS security token that goes with a temporary key; sent unsigned as
        /// `authorization-sts-token`.
        sts_token: Option<Secret>,
    },
    /// A bearer token, sent as `x-odps-bearer-token` with no signature.
    Bearer {
        /// The token.
        token: Secret,
    },
}

impl Credentials {
    /// A long-term AccessKey pair.
    pub fn access_key(access_id: impl Into<String>, secret: impl Into<Secret>) -> Self {
        Credentials::AccessKey {
            access_id: access_id.into(),
            secret: secret.into(),
            sts_token: None,
        }
    }

    /// A temporary AccessKey pair with its STS security token.
    pub fn sts(
        access_id: impl Into<String>,
        secret: impl Into<Secret>,
        sts_token: impl Into<Secret>,
    ) -> Self {
        Credentials::AccessKey {
            access_id: access_id.into(),
            secret: secret.into(),
            sts_token: Some(sts_token.into()),
        }
    }

    /// A bearer token.
    pub fn bearer(token: impl Into<Secret>) -> Self {
        Credentials::Bearer {
            token: token.into(),
        }
    }

    /// The AccessKey id, if these are AccessKey credentials.
    pub fn access_id(&self) -> Option<&str> {
        match self {
            Credentials::AccessKey { access_id, .. } => Some(access_id),
            Credentials::Bearer { .. } => None,
        }
    }

    /// The STS token, if any.
    pub fn sts_token(&self) -> Option<&Secret> {
        match self {
            Credentials::AccessKey { sts_token, .. } => sts_token.as_ref(),
            Credentials::Bearer { .. } => None,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::AccessKey {
                access_id,
                sts_token,
                ..
            } => {
                let mut d = f.debug_struct("AccessKey");
                d.field("access_id", access_id).field("secret", &"***");
                if sts_token.is_some() {
                    d.field("sts_token", &"***");
                }
                d.finish()
            }
            Credentials::Bearer { .. } => f.debug_struct("Bearer").field("token", &"***").finish(),
        }
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::AccessKey {
                access_id,
                sts_token: None,
                ..
            } => write!(f, "AccessKey {access_id} (secret hidden)"),
            Credentials::AccessKey { access_id, .. } => {
                write!(f, "STS AccessKey {access_id} (secret and token hidden)")
            }
            Credentials::Bearer { .. } => f.write_str("bearer token (hidden)"),
        }
    }
}
