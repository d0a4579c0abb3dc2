//! Dimension (lookup) table configuration.

use std::time::Duration;

use super::builder::{
    BuilderState, SQL_CREDENTIAL_KEYS, connection_setters, duration_text, num, setters, sql_state,
};
use super::connection::ConnectionConfig;
use super::error::{OptionError, Parsed};
use super::reader::Reader;
use super::registry::ConfigKind;
use super::value::CacheStrategy;
use crate::auth::Credentials;

/// A dimension table configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupConfig {
    /// General options; `partition` may be `max_pt()` or `max_two_pt()`.
    pub connection: ConnectionConfig,
    /// `cache` (always `ALL`).
    pub cache: CacheStrategy,
    /// `cacheSize`: most rows in the cache.
    pub cache_size: u64,
    /// `cacheTTLMs`: reload interval.
    pub cache_ttl: Duration,
    /// `cacheReloadTimeBlackList`, unparsed.
    pub reload_blacklist: Option<String>,
    /// `maxLoadRetries`.
    pub max_load_retries: u32,
}

impl LookupConfig {
    /// Parses the options of a `WITH (...)` clause.
    pub fn from_options<I, K, V>(options: I) -> Result<Parsed<Self>, OptionError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::read(Reader::new(ConfigKind::Lookup, options, &[])?, None)
    }

    /// A builder for the DataStream API (sets `cache` to `ALL`).
    pub fn builder(
        endpoint: impl Into<String>,
        project: impl Into<String>,
        table: impl Into<String>,
        credentials: Credentials,
    ) -> LookupConfigBuilder {
        let mut state = sql_state(
            ConfigKind::Lookup,
            endpoint.into(),
            project.into(),
            table.into(),
            credentials,
        );
        state.set("cache", CacheStrategy::All.as_str());
        LookupConfigBuilder { state }
    }

    fn read(mut r: Reader, credentials: Option<&Credentials>) -> Result<Parsed<Self>, OptionError> {
        let connection = ConnectionConfig::read(&mut r, credentials)?;
        let config = Self {
            connection,
            cache: r.choice_as("cache", CacheStrategy::parse)?,
            cache_size: r.u64("cacheSize")?,
            cache_ttl: r.duration("cacheTTLMs")?,
            reload_blacklist: r.opt_string("cacheReloadTimeBlackList")?,
            max_load_retries: r.u32("maxLoadRetries")?,
        };
        Ok(Parsed {
            config,
            warnings: r.finish()?,
        })
    }
}

/// Builds a [`LookupConfig`]; validated like a `WITH (...)` clause.
#[derive(Debug, Clone)]
pub struct LookupConfigBuilder {
    state: BuilderState,
}

impl LookupConfigBuilder {
    connection_setters!();

    setters! {
        /// Sets `cacheSize`.
        cache_size(u64) => "cacheSize", |n: u64| n.to_string();
        /// Sets `cacheTTLMs`.
        cache_ttl(Duration) => "cacheTTLMs", duration_text;
        /// Sets `cacheReloadTimeBlackList`.
        reload_blacklist(&str) => "cacheReloadTimeBlackList", |s: &str| s.to_string();
        /// Sets `maxLoadRetries`.
        max_load_retries(u32) => "maxLoadRetries", num;
    }

    /// Validates and builds, discarding warnings.
    pub fn build(self) -> Result<LookupConfig, OptionError> {
        self.build_parsed().map(|p| p.config)
    }

    /// Validates and builds, with warnings.
    pub fn build_parsed(self) -> Result<Parsed<LookupConfig>, OptionError> {
        let r = Reader::new(ConfigKind::Lookup, &self.state.options, SQL_CREDENTIAL_KEYS)?;
        LookupConfig::read(r, Some(&self.state.credentials))
    }
}
