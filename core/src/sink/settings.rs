//! The typed settings a writer or committer runs with, derived from a [`SinkConfig`] and the
//! table's metadata.

use std::time::Duration;

use crate::api::ApiContext;
use crate::api::rest::TableMeta;
use crate::api::tunnel::MAX_BLOCKS;
use crate::compress::Compression;
use crate::hash::Hasher;
use crate::machine::{Backoff, RetryPolicy};
use crate::options::{BugSwitches, CompressAlgorithm, SinkConfig, SinkTunnel};
use crate::partition::{PartitionSpec, SinkPartition};
use crate::types::TableSchema;

use super::error::SinkError;

/// The `User-Agent` the sink machines send.
pub const USER_AGENT: &str = concat!("maxc/", env!("CARGO_PKG_VERSION"));

/// Session requests (create, reload) a writer keeps in flight at most.
pub const DEFAULT_SESSION_CONCURRENCY: usize = 8;

/// First delay between upsert commit polls (doubling up to [`UPSERT_COMMIT_POLL_CAP`]).
pub const UPSERT_COMMIT_POLL_BASE: Duration = Duration::from_secs(1);
/// Longest delay between upsert commit polls.
pub const UPSERT_COMMIT_POLL_CAP: Duration = Duration::from_secs(16);

/// Settings of the upsert tunnel writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertSettings {
    /// The table's primary key (the hash key), in key order.
    pub primary_key: Vec<String>,
    /// Buckets B of the table (`upsert.write.bucket.num`, or the table's `write.bucket.num`).
    pub bucket_count: u32,
    /// Hash function for bucket routing (sessions must report the same).
    pub hasher: Hasher,
    /// `upsert.partial-column.enable`: the batch may hold a subset of the data columns, and
    /// only those are written (`__value_cols` lists them).
    pub partial_column: bool,
    /// `upsert.write.slot-num`.
    pub slot_num: u32,
    /// `upsert.writer.bucket.buffer-size`: a bucket's buffer flushes at this size.
    pub bucket_buffer_size: u64,
    /// `upsert.writer.buffer-size`: when one session's buckets together hold this much, its
    /// largest buckets flush.
    pub session_buffer_size: u64,
    /// `upsert.flush.concurrent`: bucket writes in flight per partition.
    pub flush_concurrent: usize,
    /// `upsert.commit.thread-num`: session commits in flight.
    pub commit_concurrency: usize,
    /// Commit time limit: the stricter of `upsertCommitTimeoutMs` and `upsert.commit.timeout`.
    pub commit_timeout: Duration,
    /// `upsert.commit.max-retries` (with `sleepMillis`) for failed commit requests.
    pub commit_retry: RetryPolicy,
    /// `upsert.writer.max-retries` (with `sleepMillis`) for failed bucket writes.
    pub write_retry: RetryPolicy,
    /// `upsertAsyncCommit`: do not wait for `committed` after the commit is accepted.
    pub async_commit: bool,
    /// Delays between commit polls.
    pub commit_poll: Backoff,
}

/// Everything a writer needs besides its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterSettings {
    /// Project, schema, quota and user agent of every request.
    pub ctx: ApiContext,
    /// The table name.
    pub table: String,
    /// The table's columns and partition columns.
    pub schema: TableSchema,
    /// The `partition` option, validated against the table.
    pub partition: SinkPartition,
    /// The tunnel.
    pub tunnel: SinkTunnel,
    /// `compressAlgorithm` for request bodies.
    pub compression: Compression,
    /// `batchSize`: a buffer flushes when it holds this many encoded bytes.
    pub batch_size: u64,
    /// `flushIntervalMs` (`None` when 0): a buffer flushes this long after its first row.
    pub flush_interval: Option<Duration>,
    /// `numFlushThreads`: block / stream writes in flight at once.
    pub max_concurrent_puts: usize,
    /// Session requests (create) in flight at once ([`DEFAULT_SESSION_CONCURRENCY`]).
    pub max_concurrent_session_requests: usize,
    /// `slotNum` for stream sessions (0: the service decides).
    pub slot_num: u32,
    /// `dynamicPartitionLimit` (only checked for dynamic partitions).
    pub dynamic_partition_limit: usize,
    /// `retryTimes` / `sleepMillis`.
    pub retry: RetryPolicy,
    /// The global memory budget in bytes ([`SinkConfig::memory_budget`]).
    pub memory_budget: u64,
    /// What each partition being written counts against the budget for its state, bytes
    /// (batch writer): [`PARTITION_COST`](super::PARTITION_COST) with dynamic partitions, 0
    /// with a static partition (one part per epoch: part of the writer's fixed cost).
    pub partition_cost: u64,
    /// Block ids per upload session (20000; lower only to test the rollover).
    pub max_blocks_per_session: u32,
    /// Ask the service to create missing partitions (batch: `create_partition=true`; stream:
    /// `create_partition`). Always true from a config.
    pub create_partition: bool,
    /// Test-only fault switches.
    pub bugs: BugSwitches,
    /// Upsert tunnel settings (`None` for the other tunnels).
    pub upsert: Option<UpsertSettings>,
}

fn compression(c: CompressAlgorithm) -> Compression {
    match c {
        CompressAlgorithm::Raw => Compression::Raw,
        CompressAlgorithm::Zlib => Compression::Zlib,
        CompressAlgorithm::Snappy => Compression::Snappy,
    }
}

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The request context of a config.
pub fn api_context(config: &SinkConfig) -> ApiContext {
    let c = &config.connection;
    let mut ctx = ApiContext::new(c.project.clone(), USER_AGENT);
    ctx.schema = c.schema_name.clone();
    ctx.quota_name = c.effective_quota_name().map(str::to_string);
    ctx
}

/// The retry policy of `retryTimes` / `sleepMillis`.
pub fn retry_policy(config: &SinkConfig, retries: u32) -> RetryPolicy {
    let ms = u64::try_from(config.retry_sleep.as_millis()).unwrap_or(u64::MAX);
    RetryPolicy::from_options(retries, ms)
}

impl WriterSettings {
    /// Settings for writing `meta`'s table as `config` says.
    ///
    /// Errors: a partitioned table without `partition`, a `partition` that does not fit the
    /// table, an upsert tunnel on a table without primary key, or without a known bucket count,
    /// or with `upsert.write.bucket.num` different from the table's.
    pub fn new(config: &SinkConfig, meta: &TableMeta) -> Result<Self, SinkError> {
        let schema = meta.schema.clone();
        let table = config.connection.table_name.clone();
        let partition = match config.connection.partition.as_deref().map(str::trim) {
            None | Some("") if schema.is_partitioned() => {
                return Err(SinkError::Config(format!(
                    "table {table} is partitioned by {}; set `partition` to a partition (`ds=20240101`) or to the partition columns (`ds`) for dynamic partitions",
                    schema
                        .partition_columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            None | Some("") => SinkPartition::Static(PartitionSpec::new()),
            Some(p) => SinkPartition::parse(p)
                .and_then(|sp| sp.validate(&schema))
                .map_err(|e| SinkError::Config(format!("`partition` = `{p}`: {e}")))?,
        };
        let upsert = if config.tunnel == SinkTunnel::Upsert {
            Some(upsert_settings(config, meta, &table)?)
        } else {
            None
        };
        let partition_cost = match &partition {
            SinkPartition::Dynamic(_) => super::PARTITION_COST,
            SinkPartition::Static(_) => 0,
        };
        Ok(Self {
            ctx: api_context(config),
            table,
            schema,
            partition,
            tunnel: config.tunnel,
            compression: compression(config.connection.compress_algorithm),
            batch_size: config.batch_size.as_bytes().max(1),
            flush_interval: (!config.flush_interval.is_zero()).then_some(config.flush_interval),
            max_concurrent_puts: to_usize(config.num_flush_threads).max(1),
            max_concurrent_session_requests: DEFAULT_SESSION_CONCURRENCY,
            slot_num: config.slot_num,
            dynamic_partition_limit: to_usize(config.dynamic_partition_limit).max(1),
            retry: retry_policy(config, config.retry_times),
            memory_budget: config.memory_budget.as_bytes().max(1),
            partition_cost,
            max_blocks_per_session: MAX_BLOCKS,
            create_partition: true,
            bugs: config.bug_switches,
            upsert,
        })
    }

    /// `project.table` (or `project.schema.table`) for messages.
    pub fn table_label(&self) -> String {
        match &self.ctx.schema {
            Some(s) => format!("{}.{s}.{}", self.ctx.project, self.table),
            None => format!("{}.{}", self.ctx.project, self.table),
        }
    }
}

fn upsert_settings(
    config: &SinkConfig,
    meta: &TableMeta,
    table: &str,
) -> Result<UpsertSettings, SinkError> {
    if meta.primary_key.is_empty() {
        return Err(SinkError::Config(format!(
            "the upsert tunnel needs a Delta table (transactional, with a primary key); table {table} has no primary key"
        )));
    }
    for k in &meta.primary_key {
        if meta.schema.column_index(k).is_none() {
            return Err(SinkError::Config(format!(
                "primary key column `{k}` of table {table} is not a data column"
            )));
        }
    }
    let u = &config.upsert;
    let bucket_count = match (u.bucket_num, meta.bucket_num) {
        (Some(a), Some(b)) if a != b => {
            return Err(SinkError::Config(format!(
                "`upsert.write.bucket.num` = {a} but table {table} has {b} buckets (`write.bucket.num`); they must be equal"
            )));
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => {
            return Err(SinkError::Config(format!(
                "the bucket count of table {table} is unknown; set `upsert.write.bucket.num` to the table's `write.bucket.num`"
            )));
        }
    };
    if bucket_count == 0 {
        return Err(SinkError::Config(format!(
            "table {table} reports 0 buckets; a Delta table has at least one"
        )));
    }
    Ok(UpsertSettings {
        primary_key: meta.primary_key.clone(),
        bucket_count,
        hasher: Hasher::Default,
        partial_column: u.partial_column,
        slot_num: u.slot_num.max(1),
        bucket_buffer_size: u.bucket_buffer_size.as_bytes().max(1),
        session_buffer_size: u.writer_buffer_size.as_bytes().max(1),
        flush_concurrent: to_usize(u.flush_concurrent).max(1),
        commit_concurrency: to_usize(u.commit_thread_num).max(1),
        commit_timeout: u.commit_timeout.min(u.session_commit_timeout),
        commit_retry: retry_policy(config, u.commit_max_retries),
        write_retry: retry_policy(config, u.writer_max_retries),
        async_commit: u.async_commit,
        commit_poll: Backoff {
            base: UPSERT_COMMIT_POLL_BASE,
            cap: UPSERT_COMMIT_POLL_CAP,
        },
    })
}

/// Settings of the batch-tunnel [`Committer`](super::Committer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitterSettings {
    /// Project, schema, quota and user agent of every request (the committables name their
    /// own project and table; this supplies the rest).
    pub ctx: ApiContext,
    /// `insert.commit.thread-num`: sessions committed at once.
    pub max_concurrent_commits: usize,
    /// `retryTimes` / `sleepMillis`.
    pub retry: RetryPolicy,
    /// Test-only fault switches.
    pub bugs: BugSwitches,
}

impl CommitterSettings {
    /// Committer settings from a sink config.
    pub fn new(config: &SinkConfig) -> Self {
        Self {
            ctx: api_context(config),
            max_concurrent_commits: to_usize(config.insert.commit_thread_num).max(1),
            retry: retry_policy(config, config.retry_times),
            bugs: config.bug_switches,
        }
    }
}
