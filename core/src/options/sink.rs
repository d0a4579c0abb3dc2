//! Sink table configuration.

use std::time::Duration;

use super::builder::{
    BuilderState, SQL_CREDENTIAL_KEYS, connection_setters, duration_text, flag, num, setters, size,
    sql_state,
};
use super::connection::ConnectionConfig;
use super::error::{OptionError, Parsed};
use super::reader::Reader;
use super::registry::ConfigKind;
use super::value::{MemorySize, SinkOperation};
use crate::auth::Credentials;

/// Which tunnel a sink writes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SinkTunnel {
    /// The Batch Tunnel (default): rows become visible when the checkpoint's sessions commit.
    Batch,
    /// The Streaming Tunnel (`useStreamTunnel=true`): rows are visible once flushed.
    Stream,
    /// The Upsert Tunnel (`enableUpsert=true` or `sink.operation=upsert`): Delta tables.
    Upsert,
}

/// Upsert Tunnel options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertOptions {
    /// `upsertAsyncCommit`.
    pub async_commit: bool,
    /// `upsertCommitTimeoutMs`.
    pub commit_timeout: Duration,
    /// `upsert.writer.max-retries`.
    pub writer_max_retries: u32,
    /// `upsert.writer.buffer-size`.
    pub writer_buffer_size: MemorySize,
    /// `upsert.writer.bucket.buffer-size`.
    pub bucket_buffer_size: MemorySize,
    /// `upsert.write.bucket.num` (required with `sink.operation=upsert`; otherwise the
    /// table's bucket count is read from its metadata when `None`).
    pub bucket_num: Option<u32>,
    /// `upsert.write.slot-num`.
    pub slot_num: u32,
    /// `upsert.commit.max-retries`.
    pub commit_max_retries: u32,
    /// `upsert.commit.thread-num`.
    pub commit_thread_num: u32,
    /// `upsert.commit.timeout` (the VVR 8.0.10 session commit limit, in seconds).
    pub session_commit_timeout: Duration,
    /// `upsert.flush.concurrent`.
    pub flush_concurrent: u32,
    /// `upsert.partial-column.enable`.
    pub partial_column: bool,
}

/// File-cache mode options (`sink.file-cached.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCacheOptions {
    /// `sink.file-cached.enable`.
    pub enabled: bool,
    /// `sink.file-cached.writer.num`.
    pub writer_num: u32,
    /// `sink.bucket.check-interval`.
    pub bucket_check_interval: Duration,
    /// `sink.file-cached.rolling.max-size`.
    pub rolling_max_size: MemorySize,
    /// `sink.file-cached.memory`.
    pub memory: MemorySize,
    /// `sink.file-cached.memory.segment-size`.
    pub segment_size: MemorySize,
    /// `sink.file-cached.flush.always`.
    pub flush_always: bool,
    /// `sink.file-cached.write.max-retries`.
    pub write_max_retries: u32,
}

/// Insert-path options (`insert.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertOptions {
    /// `insert.commit.thread-num`.
    pub commit_thread_num: u32,
    /// `insert.arrow-writer.enable`.
    pub arrow_writer: bool,
    /// `insert.arrow-writer.batch-size`.
    pub arrow_batch_rows: u32,
    /// `insert.arrow-writer.flush-interval`.
    pub arrow_flush_interval: Duration,
    /// `insert.writer.buffer-size`.
    pub writer_buffer_size: MemorySize,
}

/// The default [`SinkConfig::memory_budget`]: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: MemorySize = MemorySize::mib(256);

/// Fault switches that make the sink and source machines misbehave on purpose.
///
/// **Test-only.** They exist so that the simulator can prove its oracle notices a broken
/// sink or source; a production configuration never sets them. All default to `false`. They
/// are not options of a `WITH (...)` clause; only [`SinkConfigBuilder::bug_switches`] (sinks)
/// and the `bug_switches` field of `source::ReaderConfig` (sources) set them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BugSwitches {
    /// The committer commits without first reading the session status (so a retried commit
    /// whose first response was lost is not recognised as already committed).
    pub committer_skips_status_check: bool,
    /// The batch writer keeps using a partition's upload session after a checkpoint barrier
    /// instead of opening a new one per epoch (so later data rides on a committed session).
    pub writer_reuses_session_across_barrier: bool,
    /// A source reader restored from a snapshot resumes one row after the snapshot's
    /// position in its current split (skipping a row: a gap after every restore).
    pub reader_restores_one_row_late: bool,
}

/// A sink table configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    /// General options.
    pub connection: ConnectionConfig,
    /// The tunnel, decided by `useStreamTunnel`, `enableUpsert` and `sink.operation`.
    pub tunnel: SinkTunnel,
    /// `sink.operation`.
    pub operation: SinkOperation,
    /// `flushIntervalMs`; zero turns the flush timer off.
    pub flush_interval: Duration,
    /// `batchSize`.
    pub batch_size: MemorySize,
    /// `numFlushThreads`.
    pub num_flush_threads: u32,
    /// `slotNum` (0 = service default).
    pub slot_num: u32,
    /// `dynamicPartitionLimit`.
    pub dynamic_partition_limit: u32,
    /// `retryTimes`.
    pub retry_times: u32,
    /// `sleepMillis`.
    pub retry_sleep: Duration,
    /// `sink.parallelism` (`None`: the upstream parallelism).
    pub parallelism: Option<u32>,
    /// Upsert Tunnel options.
    pub upsert: UpsertOptions,
    /// File-cache mode options.
    pub file_cache: FileCacheOptions,
    /// Insert-path options.
    pub insert: InsertOptions,
    /// The writer's global memory budget (a maxc extension, not a `WITH (...)` option; set it
    /// with [`SinkConfigBuilder::memory_budget`]). It bounds the bytes one writer holds across
    /// all its partitions and buckets: buffered rows plus the bodies of requests in flight.
    /// When the buffers reach it the largest ones are flushed first, and when in-flight bodies
    /// alone fill it, writes are refused (back-pressure) until replies free memory. Default
    /// [`DEFAULT_MEMORY_BUDGET`] (256 MiB).
    pub memory_budget: MemorySize,
    /// Test-only fault switches (see [`BugSwitches`]); all off by default.
    pub bug_switches: BugSwitches,
}

impl SinkConfig {
    /// Parses the options of a `WITH (...)` clause.
    ///
    /// Errors besides the generic ones: `enableUpsert=true` or `sink.operation=upsert` with
    /// `useStreamTunnel=true` (two tunnels asked for); `upsert.partial-column.enable=true`
    /// without upsert writes; `sink.operation=upsert` without `upsert.write.bucket.num`.
    pub fn from_options<I, K, V>(options: I) -> Result<Parsed<Self>, OptionError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::read(Reader::new(ConfigKind::Sink, options, &[])?, None)
    }

    /// A builder for the DataStream API.
    pub fn builder(
        endpoint: impl Into<String>,
        project: impl Into<String>,
        table: impl Into<String>,
        credentials: Credentials,
    ) -> SinkConfigBuilder {
        SinkConfigBuilder {
            state: sql_state(
                ConfigKind::Sink,
                endpoint.into(),
                project.into(),
                table.into(),
                credentials,
            ),
            memory_budget: DEFAULT_MEMORY_BUDGET,
            bug_switches: BugSwitches::default(),
        }
    }

    fn read(mut r: Reader, credentials: Option<&Credentials>) -> Result<Parsed<Self>, OptionError> {
        let connection = ConnectionConfig::read(&mut r, credentials)?;
        let stream = r.bool("useStreamTunnel")?;
        let enable_upsert = r.bool("enableUpsert")?;
        let operation = r.choice_as("sink.operation", SinkOperation::parse)?;
        if stream && enable_upsert {
            return Err(OptionError::Conflict {
                key: "enableUpsert",
                other: "useStreamTunnel",
                reason: "each selects a different tunnel; set only one of them to true",
            });
        }
        if stream && operation == SinkOperation::Upsert {
            return Err(OptionError::Conflict {
                key: "sink.operation",
                other: "useStreamTunnel",
                reason: "upsert writes need the Upsert Tunnel, not the Streaming Tunnel",
            });
        }
        let upserting = enable_upsert || operation == SinkOperation::Upsert;
        let partial_column = r.bool("upsert.partial-column.enable")?;
        if partial_column && !upserting {
            return Err(OptionError::Conflict {
                key: "upsert.partial-column.enable",
                other: "enableUpsert",
                reason: "partial-column updates need upsert writes (`enableUpsert` = true or `sink.operation` = upsert)",
            });
        }
        let bucket_num = r.opt_u32("upsert.write.bucket.num")?;
        if operation == SinkOperation::Upsert && bucket_num.is_none() {
            return Err(OptionError::MissingRequired {
                key: "upsert.write.bucket.num",
                when: Some("required when `sink.operation` is `upsert`"),
            });
        }
        let tunnel = if upserting {
            SinkTunnel::Upsert
        } else if stream {
            SinkTunnel::Stream
        } else {
            SinkTunnel::Batch
        };
        let config = Self {
            connection,
            tunnel,
            operation,
            flush_interval: r.duration("flushIntervalMs")?,
            batch_size: MemorySize(r.u64("batchSize")?),
            num_flush_threads: r.u32("numFlushThreads")?,
            slot_num: r.u32("slotNum")?,
            dynamic_partition_limit: r.u32("dynamicPartitionLimit")?,
            retry_times: r.u32("retryTimes")?,
            retry_sleep: r.duration("sleepMillis")?,
            parallelism: r.opt_u32("sink.parallelism")?,
            upsert: UpsertOptions {
                async_commit: r.bool("upsertAsyncCommit")?,
                commit_timeout: r.duration("upsertCommitTimeoutMs")?,
                writer_max_retries: r.u32("upsert.writer.max-retries")?,
                writer_buffer_size: r.size("upsert.writer.buffer-size")?,
                bucket_buffer_size: r.size("upsert.writer.bucket.buffer-size")?,
                bucket_num,
                slot_num: r.u32("upsert.write.slot-num")?,
                commit_max_retries: r.u32("upsert.commit.max-retries")?,
                commit_thread_num: r.u32("upsert.commit.thread-num")?,
                session_commit_timeout: r.duration("upsert.commit.timeout")?,
                flush_concurrent: r.u32("upsert.flush.concurrent")?,
                partial_column,
            },
            file_cache: FileCacheOptions {
                enabled: r.bool("sink.file-cached.enable")?,
                writer_num: r.u32("sink.file-cached.writer.num")?,
                bucket_check_interval: r.duration("sink.bucket.check-interval")?,
                rolling_max_size: r.size("sink.file-cached.rolling.max-size")?,
                memory: r.size("sink.file-cached.memory")?,
                segment_size: r.size("sink.file-cached.memory.segment-size")?,
                flush_always: r.bool("sink.file-cached.flush.always")?,
                write_max_retries: r.u32("sink.file-cached.write.max-retries")?,
            },
            insert: InsertOptions {
                commit_thread_num: r.u32("insert.commit.thread-num")?,
                arrow_writer: r.bool("insert.arrow-writer.enable")?,
                arrow_batch_rows: r.u32("insert.arrow-writer.batch-size")?,
                arrow_flush_interval: r.duration("insert.arrow-writer.flush-interval")?,
                writer_buffer_size: r.size("insert.writer.buffer-size")?,
            },
            memory_budget: DEFAULT_MEMORY_BUDGET,
            bug_switches: BugSwitches::default(),
        };
        Ok(Parsed {
            config,
            warnings: r.finish()?,
        })
    }
}

/// Builds a [`SinkConfig`]; validated like a `WITH (...)` clause.
#[derive(Debug, Clone)]
pub struct SinkConfigBuilder {
    state: BuilderState,
    memory_budget: MemorySize,
    bug_switches: BugSwitches,
}

impl SinkConfigBuilder {
    connection_setters!();

    setters! {
        /// Sets `useStreamTunnel`.
        use_stream_tunnel(bool) => "useStreamTunnel", flag;
        /// Sets `flushIntervalMs` (zero: no timer).
        flush_interval(Duration) => "flushIntervalMs", duration_text;
        /// Sets `batchSize`.
        batch_size(MemorySize) => "batchSize", size;
        /// Sets `numFlushThreads`.
        num_flush_threads(u32) => "numFlushThreads", num;
        /// Sets `slotNum`.
        slot_num(u32) => "slotNum", num;
        /// Sets `dynamicPartitionLimit`.
        dynamic_partition_limit(u32) => "dynamicPartitionLimit", num;
        /// Sets `retryTimes`.
        retry_times(u32) => "retryTimes", num;
        /// Sets `sleepMillis`.
        retry_sleep(Duration) => "sleepMillis", duration_text;
        /// Sets `enableUpsert`.
        enable_upsert(bool) => "enableUpsert", flag;
        /// Sets `upsertAsyncCommit`.
        upsert_async_commit(bool) => "upsertAsyncCommit", flag;
        /// Sets `upsertCommitTimeoutMs`.
        upsert_commit_timeout(Duration) => "upsertCommitTimeoutMs", duration_text;
        /// Sets `sink.operation`.
        operation(SinkOperation) => "sink.operation", |o: SinkOperation| o.as_str().to_string();
        /// Sets `sink.parallelism`.
        parallelism(u32) => "sink.parallelism", num;
        /// Sets `sink.file-cached.enable`.
        file_cache(bool) => "sink.file-cached.enable", flag;
        /// Sets `sink.file-cached.writer.num`.
        file_cache_writer_num(u32) => "sink.file-cached.writer.num", num;
        /// Sets `sink.bucket.check-interval`.
        bucket_check_interval(Duration) => "sink.bucket.check-interval", duration_text;
        /// Sets `sink.file-cached.rolling.max-size`.
        file_cache_rolling_max_size(MemorySize) => "sink.file-cached.rolling.max-size", size;
        /// Sets `sink.file-cached.memory`.
        file_cache_memory(MemorySize) => "sink.file-cached.memory", size;
        /// Sets `sink.file-cached.memory.segment-size`.
        file_cache_segment_size(MemorySize) => "sink.file-cached.memory.segment-size", size;
        /// Sets `sink.file-cached.flush.always`.
        file_cache_flush_always(bool) => "sink.file-cached.flush.always", flag;
        /// Sets `sink.file-cached.write.max-retries`.
        file_cache_write_max_retries(u32) => "sink.file-cached.write.max-retries", num;
        /// Sets `upsert.writer.max-retries`.
        upsert_writer_max_retries(u32) => "upsert.writer.max-retries", num;
        /// Sets `upsert.writer.buffer-size`.
        upsert_writer_buffer_size(MemorySize) => "upsert.writer.buffer-size", size;
        /// Sets `upsert.writer.bucket.buffer-size`.
        upsert_bucket_buffer_size(MemorySize) => "upsert.writer.bucket.buffer-size", size;
        /// Sets `upsert.write.bucket.num`.
        upsert_bucket_num(u32) => "upsert.write.bucket.num", num;
        /// Sets `upsert.write.slot-num`.
        upsert_slot_num(u32) => "upsert.write.slot-num", num;
        /// Sets `upsert.commit.max-retries`.
        upsert_commit_max_retries(u32) => "upsert.commit.max-retries", num;
        /// Sets `upsert.commit.thread-num`.
        upsert_commit_thread_num(u32) => "upsert.commit.thread-num", num;
        /// Sets `upsert.commit.timeout`.
        upsert_session_commit_timeout(Duration) => "upsert.commit.timeout", duration_text;
        /// Sets `upsert.flush.concurrent`.
        upsert_flush_concurrent(u32) => "upsert.flush.concurrent", num;
        /// Sets `upsert.partial-column.enable`.
        partial_column_update(bool) => "upsert.partial-column.enable", flag;
        /// Sets `insert.commit.thread-num`.
        insert_commit_thread_num(u32) => "insert.commit.thread-num", num;
        /// Sets `insert.arrow-writer.enable`.
        arrow_writer(bool) => "insert.arrow-writer.enable", flag;
        /// Sets `insert.arrow-writer.batch-size`.
        arrow_writer_batch_rows(u32) => "insert.arrow-writer.batch-size", num;
        /// Sets `insert.arrow-writer.flush-interval`.
        arrow_writer_flush_interval(Duration) => "insert.arrow-writer.flush-interval", duration_text;
        /// Sets `insert.writer.buffer-size`.
        insert_writer_buffer_size(MemorySize) => "insert.writer.buffer-size", size;
    }

    /// Sets the writer's global memory budget ([`SinkConfig::memory_budget`]; default
    /// 256 MiB). It must be at least 1 byte.
    pub fn memory_budget(mut self, budget: MemorySize) -> Self {
        self.memory_budget = budget;
        self
    }

    /// Sets the test-only fault switches ([`BugSwitches`]). Never in production.
    pub fn bug_switches(mut self, switches: BugSwitches) -> Self {
        self.bug_switches = switches;
        self
    }

    /// Validates and builds, discarding warnings.
    pub fn build(self) -> Result<SinkConfig, OptionError> {
        self.build_parsed().map(|p| p.config)
    }

    /// Validates and builds, with warnings.
    pub fn build_parsed(self) -> Result<Parsed<SinkConfig>, OptionError> {
        if self.memory_budget.as_bytes() == 0 {
            return Err(OptionError::OutOfRange {
                key: "memory budget",
                value: "0 bytes".to_string(),
                min: "1 byte".to_string(),
                max: "unlimited".to_string(),
            });
        }
        let r = Reader::new(ConfigKind::Sink, &self.state.options, SQL_CREDENTIAL_KEYS)?;
        let mut parsed = SinkConfig::read(r, Some(&self.state.credentials))?;
        parsed.config.memory_budget = self.memory_budget;
        parsed.config.bug_switches = self.bug_switches;
        Ok(parsed)
    }
}
