//! Shared pieces of the typed builders (the DataStream-API way to make a config).
//!
//! A builder collects option values as the same strings a `WITH (...)` clause would hold and
//! `build()` runs them through the same parser, so a builder validates exactly like SQL.
//! Credentials are kept aside as a [`Credentials`] value (so STS and bearer credentials work
//! and no secret sits in the option map).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::registry::{ConfigKind, lookup};
use super::value::MemorySize;
use crate::auth::Credentials;

/// The option map and credentials of a builder.
#[derive(Clone)]
pub(crate) struct BuilderState {
    pub(crate) kind: ConfigKind,
    pub(crate) options: BTreeMap<String, String>,
    pub(crate) credentials: Credentials,
}

impl BuilderState {
    pub(crate) fn new(kind: ConfigKind, credentials: Credentials) -> Self {
        Self {
            kind,
            options: BTreeMap::new(),
            credentials,
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: impl Into<String>) {
        self.options.insert(key.to_string(), value.into());
    }
}

impl fmt::Debug for BuilderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: BTreeMap<&str, &str> = self
            .options
            .iter()
            .map(|(k, v)| {
                let secret = lookup(self.kind, k).is_some_and(|d| d.secret);
                (k.as_str(), if secret { "***" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("Builder")
            .field("options", &shown)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// A duration as an option value (whole milliseconds with an explicit unit, which every
/// duration option accepts).
pub(crate) fn duration_text(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Setters shared by the SQL config builders (general options).
macro_rules! connection_setters {
    () => {
        /// Sets `tunnelEndpoint`.
        pub fn tunnel_endpoint(mut self, url: impl Into<String>) -> Self {
            self.state.set("tunnelEndpoint", url);
            self
        }

        /// Sets `schemaName`.
        pub fn schema_name(mut self, schema: impl Into<String>) -> Self {
            self.state.set("schemaName", schema);
            self
        }

        /// Sets `partition`.
        pub fn partition(mut self, spec: impl Into<String>) -> Self {
            self.state.set("partition", spec);
            self
        }

        /// Sets `compressAlgorithm`.
        pub fn compress_algorithm(mut self, c: $crate::options::CompressAlgorithm) -> Self {
            self.state.set("compressAlgorithm", c.as_str());
            self
        }

        /// Sets `quotaName`.
        pub fn quota_name(mut self, quota: impl Into<String>) -> Self {
            self.state.set("quotaName", quota);
            self
        }

        /// Sets any option by key, exactly as in a `WITH (...)` clause; `build` validates it.
        pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
            self.state.options.insert(key.into(), value.into());
            self
        }
    };
}

pub(crate) use connection_setters;

/// Setters that write one option from a typed value (`name(type) => "key", converter;`).
macro_rules! setters {
    ($( $(#[$m:meta])* $name:ident($ty:ty) => $key:literal, $conv:expr; )*) => {
        $(
            $(#[$m])*
            pub fn $name(mut self, value: $ty) -> Self {
                #[allow(clippy::redundant_closure_call)]
                let text: String = ($conv)(value);
                self.state.set($key, text);
                self
            }
        )*
    };
}

pub(crate) fn num(n: u32) -> String {
    n.to_string()
}

pub(crate) fn flag(b: bool) -> String {
    b.to_string()
}

pub(crate) fn size(m: MemorySize) -> String {
    m.as_bytes().to_string()
}

pub(crate) use setters;

/// The keys a SQL builder supplies through its [`Credentials`].
pub(crate) const SQL_CREDENTIAL_KEYS: &[&str] = &["accessId", "accessKey"];

/// Starts the option map of a SQL builder.
pub(crate) fn sql_state(
    kind: ConfigKind,
    endpoint: String,
    project: String,
    table: String,
    credentials: Credentials,
) -> BuilderState {
    let mut s = BuilderState::new(kind, credentials);
    s.set("connector", "odps");
    s.set("endpoint", endpoint);
    s.set("project", project);
    s.set("tableName", table);
    s
}
