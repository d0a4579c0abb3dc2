//! Connector options: the registry of every option, parsing of a `WITH (...)` clause (or a
//! Flink CDC YAML `sink:` block) into typed configs, typed builders, and the rendered docs.
//!
//! - [`registry`]: every option with key, type, default, required-ness, since-version,
//!   description and the config kinds it applies to. It is the single source of truth;
//!   [`render_markdown`] turns it into `docs/options.md`.
//! - [`SourceConfig`], [`SinkConfig`], [`LookupConfig`], [`CdcSinkConfig`]: parsed with
//!   `from_options(map)`, or built with `builder(...)...build()`, which validates the same way.
//!   Both return the config with a list of [`OptionWarning`]s ([`Parsed`]).
//!
//! ```
//! use std::collections::HashMap;
//! use maxc_core::options::{SinkConfig, SinkTunnel};
//!
//! let with: HashMap<String, String> = [
//!     ("connector", "odps"),
//!     ("endpoint", "http://service.cn-hangzhou.maxcompute.aliyun.com/api"),
//!     ("project", "p"),
//!     ("tableName", "t"),
//!     ("accessId", "id"),
//!     ("accessKey", "secret"),
//!     ("partition", "ds=20240101"),
//!     ("batchSize", "1048576"),
//!     ("useStreamTunnel", "true"),
//! ]
//! .into_iter()
//! .map(|(k, v)| (k.to_string(), v.to_string()))
//! .collect();
//! let parsed = SinkConfig::from_options(&with).unwrap();
//! assert_eq!(parsed.config.tunnel, SinkTunnel::Stream);
//! assert!(parsed.warnings.is_empty());
//! ```
//!
//! Errors vs warnings: anything that would silently change what is read or written is an
//! [`OptionError`] (unknown key, wrong type, out of range, missing required option,
//! conflicting options); an option without effect is an [`OptionWarning`] (`quotaName` with
//! `tunnelEndpoint`, `partition` with `startPartition`, file-cache options while
//! `sink.file-cached.enable` is false, an option of another SQL table kind).

mod builder;
mod cdc;
mod connection;
mod doc;
mod error;
mod lookup;
mod reader;
pub mod registry;
mod sink;
mod source;
mod value;

#[cfg(test)]
mod tests;

pub use cdc::{CdcSinkConfig, CdcSinkConfigBuilder};
pub use connection::ConnectionConfig;
pub use doc::{REGENERATE_COMMAND, render_markdown};
pub use error::{OptionError, OptionWarning, Parsed};
pub use lookup::{LookupConfig, LookupConfigBuilder};
pub use registry::{
    Condition, ConfigKind, OptionDef, OptionType, REGISTRY, Required, Section, lookup as find,
    suggest,
};
pub use sink::{
    BugSwitches, DEFAULT_MEMORY_BUDGET, FileCacheOptions, InsertOptions, SinkConfig,
    SinkConfigBuilder, SinkTunnel, UpsertOptions,
};
pub use source::{IncrementalOptions, SourceConfig, SourceConfigBuilder, SourceMode};
pub use value::{
    ArrowCodec, CacheStrategy, CompressAlgorithm, DurationError, MemorySize, MemorySizeError,
    ModifiedTableOperation, SinkOperation, TimeUnit, parse_bool, parse_duration,
};
