//! Flink CDC YAML pipeline sink configuration (`sink: type: maxcompute`).

use super::builder::{BuilderState, num, setters, size};
use super::error::{OptionError, OptionWarning, Parsed};
use super::reader::Reader;
use super::registry::ConfigKind;
use super::value::{CompressAlgorithm, MemorySize};
use crate::auth::Credentials;

/// A Flink CDC sink configuration.
///
/// `Debug` never shows the AccessKey secret or the STS token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdcSinkConfig {
    /// `name`.
    pub name: Option<String>,
    /// `access-id`, `access-key` and `sts-token`.
    pub credentials: Credentials,
    /// `endpoint`.
    pub endpoint: String,
    /// `project`.
    pub project: String,
    /// `tunnel.endpoint`.
    pub tunnel_endpoint: Option<String>,
    /// `quota.name` as given. See [`CdcSinkConfig::effective_quota_name`].
    pub quota_name: Option<String>,
    /// `buckets-num`.
    pub buckets_num: u32,
    /// `compress.algorithm`.
    pub compress_algorithm: CompressAlgorithm,
    /// `total.buffer-size`.
    pub total_buffer_size: MemorySize,
    /// `bucket.buffer-size`.
    pub bucket_buffer_size: MemorySize,
    /// `commit.thread-num`.
    pub commit_thread_num: u32,
    /// `flush.concurrent-num`.
    pub flush_concurrent_num: u32,
}

/// The keys a CDC builder supplies through its [`Credentials`].
const CDC_CREDENTIAL_KEYS: &[&str] = &["access-id", "access-key"];

impl CdcSinkConfig {
    /// Parses the keys of the YAML `sink:` block (`type` must be `maxcompute`).
    ///
    /// As for SQL tables, a `quota.name` given with `tunnel.endpoint` is ignored with a
    /// warning.
    pub fn from_options<I, K, V>(options: I) -> Result<Parsed<Self>, OptionError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::read(Reader::new(ConfigKind::CdcSink, options, &[])?, None)
    }

    /// A builder. STS credentials set `sts-token`; bearer credentials are kept as given.
    pub fn builder(
        endpoint: impl Into<String>,
        project: impl Into<String>,
        credentials: Credentials,
    ) -> CdcSinkConfigBuilder {
        let mut state = BuilderState::new(ConfigKind::CdcSink, credentials);
        state.set("type", "maxcompute");
        state.set("endpoint", endpoint);
        state.set("project", project);
        CdcSinkConfigBuilder { state }
    }

    /// The quota to request: `None` when a tunnel endpoint is set.
    pub fn effective_quota_name(&self) -> Option<&str> {
        match self.tunnel_endpoint {
            Some(_) => None,
            None => self.quota_name.as_deref(),
        }
    }

    fn read(mut r: Reader, credentials: Option<&Credentials>) -> Result<Parsed<Self>, OptionError> {
        let credentials = match credentials {
            Some(c) => c.clone(),
            None => {
                let id = r.string("access-id")?;
                let key = r.string("access-key")?;
                match r.opt_string("sts-token")? {
                    Some(token) => Credentials::sts(id, key, token),
                    None => Credentials::access_key(id, key),
                }
            }
        };
        let tunnel_endpoint = r.opt_string("tunnel.endpoint")?;
        let quota_name = r.opt_string("quota.name")?;
        if tunnel_endpoint.is_some() && quota_name.is_some() {
            r.warn(OptionWarning::Overridden {
                key: "quota.name",
                by: "tunnel.endpoint",
            });
        }
        let config = Self {
            name: r.opt_string("name")?,
            credentials,
            endpoint: r.string("endpoint")?,
            project: r.string("project")?,
            tunnel_endpoint,
            quota_name,
            buckets_num: r.u32("buckets-num")?,
            compress_algorithm: r.choice_as("compress.algorithm", CompressAlgorithm::parse)?,
            total_buffer_size: r.size("total.buffer-size")?,
            bucket_buffer_size: r.size("bucket.buffer-size")?,
            commit_thread_num: r.u32("commit.thread-num")?,
            flush_concurrent_num: r.u32("flush.concurrent-num")?,
        };
        Ok(Parsed {
            config,
            warnings: r.finish()?,
        })
    }
}

/// Builds a [`CdcSinkConfig`]; validated like the YAML block.
#[derive(Debug, Clone)]
pub struct CdcSinkConfigBuilder {
    state: BuilderState,
}

impl CdcSinkConfigBuilder {
    setters! {
        /// Sets `name`.
        name(&str) => "name", |s: &str| s.to_string();
        /// Sets `tunnel.endpoint`.
        tunnel_endpoint(&str) => "tunnel.endpoint", |s: &str| s.to_string();
        /// Sets `quota.name`.
        quota_name(&str) => "quota.name", |s: &str| s.to_string();
        /// Sets `buckets-num`.
        buckets_num(u32) => "buckets-num", num;
        /// Sets `compress.algorithm`.
        compress_algorithm(CompressAlgorithm) => "compress.algorithm", |c: CompressAlgorithm| c.as_str().to_ascii_lowercase();
        /// Sets `total.buffer-size`.
        total_buffer_size(MemorySize) => "total.buffer-size", size;
        /// Sets `bucket.buffer-size`.
        bucket_buffer_size(MemorySize) => "bucket.buffer-size", size;
        /// Sets `commit.thread-num`.
        commit_thread_num(u32) => "commit.thread-num", num;
        /// Sets `flush.concurrent-num`.
        flush_concurrent_num(u32) => "flush.concurrent-num", num;
    }

    /// Sets any option by key, exactly as in the YAML block; `build` validates it.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.state.options.insert(key.into(), value.into());
        self
    }

    /// Validates and builds, discarding warnings.
    pub fn build(self) -> Result<CdcSinkConfig, OptionError> {
        self.build_parsed().map(|p| p.config)
    }

    /// Validates and builds, with warnings.
    pub fn build_parsed(self) -> Result<Parsed<CdcSinkConfig>, OptionError> {
        let r = Reader::new(
            ConfigKind::CdcSink,
            &self.state.options,
            CDC_CREDENTIAL_KEYS,
        )?;
        CdcSinkConfig::read(r, Some(&self.state.credentials))
    }
}
