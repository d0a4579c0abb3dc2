//! Source table configuration (full and incremental).

use std::time::Duration;

use super::builder::{
    BuilderState, SQL_CREDENTIAL_KEYS, connection_setters, duration_text, sql_state,
};
use super::connection::ConnectionConfig;
use super::error::{OptionError, OptionWarning, Parsed};
use super::reader::Reader;
use super::registry::ConfigKind;
use super::value::{ArrowCodec, MemorySize, ModifiedTableOperation};
use crate::auth::Credentials;

/// How a source reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceMode {
    /// Read the partitions matched by `partition` once, then finish.
    Full,
    /// Read partitions at or after `startPartition` and keep polling for new ones.
    Incremental(IncrementalOptions),
}

/// Options of an incremental source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementalOptions {
    /// `startPartition`.
    pub start_partition: String,
    /// `subscribeIntervalInSec`.
    pub subscribe_interval: Duration,
    /// `modifiedTableOperation`.
    pub modified_table_operation: ModifiedTableOperation,
}

/// A source table configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// General options. For an incremental source `partition` is always `None`.
    pub connection: ConnectionConfig,
    /// Full or incremental (incremental exactly when `startPartition` is set).
    pub mode: SourceMode,
    /// `maxPartitionCount`.
    pub max_partition_count: u32,
    /// `useArrow`.
    pub use_arrow: bool,
    /// `splitSize`.
    pub split_size: MemorySize,
    /// `compressCodec`.
    pub compress_codec: ArrowCodec,
    /// `dynamicLoadBalance`.
    pub dynamic_load_balance: bool,
}

impl SourceConfig {
    /// Parses the options of a `WITH (...)` clause.
    ///
    /// `startPartition` makes the source incremental; a `partition` given with it is ignored
    /// with an [`OptionWarning::Overridden`] warning.
    pub fn from_options<I, K, V>(options: I) -> Result<Parsed<Self>, OptionError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::read(Reader::new(ConfigKind::Source, options, &[])?, None)
    }

    /// A builder for the DataStream API.
    pub fn builder(
        endpoint: impl Into<String>,
        project: impl Into<String>,
        table: impl Into<String>,
        credentials: Credentials,
    ) -> SourceConfigBuilder {
        SourceConfigBuilder {
            state: sql_state(
                ConfigKind::Source,
                endpoint.into(),
                project.into(),
                table.into(),
                credentials,
            ),
        }
    }

    fn read(mut r: Reader, credentials: Option<&Credentials>) -> Result<Parsed<Self>, OptionError> {
        let mut connection = ConnectionConfig::read(&mut r, credentials)?;
        let mode = if r.is_set("startPartition") {
            if connection.partition.take().is_some() {
                r.warn(OptionWarning::Overridden {
                    key: "partition",
                    by: "startPartition",
                });
            }
            SourceMode::Incremental(IncrementalOptions {
                start_partition: r.string("startPartition")?,
                subscribe_interval: r.duration("subscribeIntervalInSec")?,
                modified_table_operation: r
                    .choice_as("modifiedTableOperation", ModifiedTableOperation::parse)?,
            })
        } else {
            SourceMode::Full
        };
        let config = Self {
            connection,
            mode,
            max_partition_count: r.u32("maxPartitionCount")?,
            use_arrow: r.bool("useArrow")?,
            split_size: r.size("splitSize")?,
            compress_codec: r.choice_as("compressCodec", ArrowCodec::parse)?,
            dynamic_load_balance: r.bool("dynamicLoadBalance")?,
        };
        Ok(Parsed {
            config,
            warnings: r.finish()?,
        })
    }
}

/// Builds a [`SourceConfig`]; validated like a `WITH (...)` clause.
#[derive(Debug, Clone)]
pub struct SourceConfigBuilder {
    state: BuilderState,
}

impl SourceConfigBuilder {
    connection_setters!();

    /// Makes the source incremental from `startPartition`.
    pub fn start_partition(mut self, spec: impl Into<String>) -> Self {
        self.state.set("startPartition", spec);
        self
    }

    /// Sets `subscribeIntervalInSec`.
    pub fn subscribe_interval(mut self, d: Duration) -> Self {
        self.state.set("subscribeIntervalInSec", duration_text(d));
        self
    }

    /// Sets `modifiedTableOperation`.
    pub fn modified_table_operation(mut self, op: ModifiedTableOperation) -> Self {
        self.state.set("modifiedTableOperation", op.as_str());
        self
    }

    /// Sets `maxPartitionCount`.
    pub fn max_partition_count(mut self, n: u32) -> Self {
        self.state.set("maxPartitionCount", n.to_string());
        self
    }

    /// Sets `useArrow`.
    pub fn use_arrow(mut self, on: bool) -> Self {
        self.state.set("useArrow", on.to_string());
        self
    }

    /// Sets `splitSize`.
    pub fn split_size(mut self, size: MemorySize) -> Self {
        self.state.set("splitSize", size.as_bytes().to_string());
        self
    }

    /// Sets `compressCodec`.
    pub fn compress_codec(mut self, codec: ArrowCodec) -> Self {
        self.state.set("compressCodec", codec.as_str());
        self
    }

    /// Sets `dynamicLoadBalance`.
    pub fn dynamic_load_balance(mut self, on: bool) -> Self {
        self.state.set("dynamicLoadBalance", on.to_string());
        self
    }

    /// Validates and builds, discarding warnings.
    pub fn build(self) -> Result<SourceConfig, OptionError> {
        self.build_parsed().map(|p| p.config)
    }

    /// Validates and builds, with warnings.
    pub fn build_parsed(self) -> Result<Parsed<SourceConfig>, OptionError> {
        let r = Reader::new(ConfigKind::Source, &self.state.options, SQL_CREDENTIAL_KEYS)?;
        SourceConfig::read(r, Some(&self.state.credentials))
    }
}
