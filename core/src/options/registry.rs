//! The option registry: every connector option with its type, default, required-ness,
//! since-version, description and the config kinds it applies to.
//!
//! This table is the single source of truth: parsing, validation, defaults and the
//! rendered `docs/options.md` all read it.

use super::value::{
    ArrowCodec, CacheStrategy, CompressAlgorithm, ModifiedTableOperation, SinkOperation, TimeUnit,
};

/// The kind of configuration an option belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigKind {
    /// A SQL source table (full or incremental).
    Source,
    /// A SQL sink table.
    Sink,
    /// A SQL dimension (lookup) table.
    Lookup,
    /// The Flink CDC YAML pipeline sink.
    CdcSink,
}

impl ConfigKind {
    /// True for the three SQL table kinds, which share one option namespace (one
    /// `CREATE TABLE` may serve as source, sink and dimension table).
    pub fn is_sql(self) -> bool {
        !matches!(self, ConfigKind::CdcSink)
    }

    /// A human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            ConfigKind::Source => "source",
            ConfigKind::Sink => "sink",
            ConfigKind::Lookup => "dimension table",
            ConfigKind::CdcSink => "Flink CDC sink",
        }
    }
}

/// A section of the option documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// Options shared by SQL sources, sinks and dimension tables.
    General,
    /// Source options.
    Source,
    /// Incremental source options.
    IncrementalSource,
    /// Sink options.
    Sink,
    /// Dimension table options.
    Lookup,
    /// Flink CDC YAML sink options.
    CdcSink,
}

impl Section {
    /// Every section in documentation order.
    pub const ALL: [Section; 6] = [
        Section::General,
        Section::Source,
        Section::IncrementalSource,
        Section::Sink,
        Section::Lookup,
        Section::CdcSink,
    ];

    /// The section title.
    pub fn title(self) -> &'static str {
        match self {
            Section::General => "General options",
            Section::Source => "Source options",
            Section::IncrementalSource => "Incremental source options",
            Section::Sink => "Sink options",
            Section::Lookup => "Dimension table options",
            Section::CdcSink => "Flink CDC sink options",
        }
    }

    /// The config kinds the section's options apply to.
    pub const fn kinds(self) -> &'static [ConfigKind] {
        match self {
            Section::General => &[ConfigKind::Source, ConfigKind::Sink, ConfigKind::Lookup],
            Section::Source | Section::IncrementalSource => &[ConfigKind::Source],
            Section::Sink => &[ConfigKind::Sink],
            Section::Lookup => &[ConfigKind::Lookup],
            Section::CdcSink => &[ConfigKind::CdcSink],
        }
    }
}

/// The value type of an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionType {
    /// Any string.
    String,
    /// `true` / `false`, case-insensitive.
    Boolean,
    /// A 32-bit integer (`INTEGER`) within `min..=max`.
    Integer {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A 64-bit integer (`LONG`) within `min..=max`.
    Long {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// A memory size ([`super::MemorySize`]) of at least `min` bytes.
    MemorySize {
        /// Smallest accepted size in bytes.
        min: u64,
    },
    /// A duration: a plain whole number in `unit` (as documented for the option, range
    /// `min..=max` units, and `INTEGER` or `LONG` wide), or a number with an explicit unit
    /// such as `30 s`.
    Duration {
        /// What a plain number counts.
        unit: TimeUnit,
        /// `LONG` (64-bit) rather than `INTEGER` (32-bit) in the original documentation.
        long: bool,
        /// Smallest accepted value, in `unit`.
        min: u64,
        /// Largest accepted value, in `unit`.
        max: u64,
    },
    /// One of a fixed set of spellings, case-insensitive.
    Enum {
        /// The accepted spellings.
        values: &'static [&'static str],
    },
}

impl OptionType {
    /// The type as shown in documentation and error messages.
    pub fn doc_name(&self) -> String {
        match self {
            OptionType::String => "STRING".into(),
            OptionType::Boolean => "BOOLEAN".into(),
            OptionType::Integer { .. } => "INTEGER".into(),
            OptionType::Long { .. } => "LONG".into(),
            OptionType::MemorySize { .. } => "MEMORYSIZE".into(),
            OptionType::Duration { unit, long, .. } => {
                format!(
                    "{} ({})",
                    if *long { "LONG" } else { "INTEGER" },
                    unit.suffix()
                )
            }
            OptionType::Enum { .. } => "ENUM".into(),
        }
    }
}

/// Whether an option must be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Always required for the kinds it applies to.
    Yes,
    /// Optional.
    No,
    /// Required only in the described situation (checked by the config that owns it).
    When(&'static str),
}

/// A condition under which an option has an effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Another option has this value (compared case-insensitively, defaults included).
    Equals(&'static str, &'static str),
    /// Another option is set.
    Present(&'static str),
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::Equals(k, v) => write!(f, "`{k}` = `{v}`"),
            Condition::Present(k) => write!(f, "`{k}` is set"),
        }
    }
}

/// One option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDef {
    /// The key, exactly as written in a `WITH (...)` clause or YAML block.
    pub key: &'static str,
    /// The documentation section.
    pub section: Section,
    /// The value type.
    pub ty: OptionType,
    /// The default, written as a value of the option (`None`: no default).
    pub default: Option<&'static str>,
    /// Whether the option is required.
    pub required: Required,
    /// The first product version that has the option, e.g. `VVR 8.0.6+`.
    pub since: Option<&'static str>,
    /// The config kinds the option applies to.
    pub applies_to: &'static [ConfigKind],
    /// The condition under which the option has an effect (`None`: always).
    pub effective_when: Option<Condition>,
    /// True when the value is a secret that must not appear in messages.
    pub secret: bool,
    /// A short description.
    pub description: &'static str,
}

impl OptionDef {
    const fn new(
        key: &'static str,
        section: Section,
        ty: OptionType,
        description: &'static str,
    ) -> Self {
        Self {
            key,
            section,
            ty,
            default: None,
            required: Required::No,
            since: None,
            applies_to: section.kinds(),
            effective_when: None,
            secret: false,
            description,
        }
    }

    const fn default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }

    const fn required(mut self) -> Self {
        self.required = Required::Yes;
        self
    }

    const fn required_when(mut self, when: &'static str) -> Self {
        self.required = Required::When(when);
        self
    }

    const fn since(mut self, version: &'static str) -> Self {
        self.since = Some(version);
        self
    }

    const fn only_when(mut self, condition: Condition) -> Self {
        self.effective_when = Some(condition);
        self
    }

    const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// True when the option applies to `kind`.
    pub fn applies_to(&self, kind: ConfigKind) -> bool {
        self.applies_to.contains(&kind)
    }
}

const STRING: OptionType = OptionType::String;
const BOOLEAN: OptionType = OptionType::Boolean;
const I32_MAX: i64 = i32::MAX as i64;

const fn integer(min: i64) -> OptionType {
    OptionType::Integer { min, max: I32_MAX }
}

const fn long(min: i64) -> OptionType {
    OptionType::Long { min, max: i64::MAX }
}

const fn millis_int(min: u64) -> OptionType {
    OptionType::Duration {
        unit: TimeUnit::Millis,
        long: false,
        min,
        max: I32_MAX as u64,
    }
}

const fn millis_long(min: u64) -> OptionType {
    OptionType::Duration {
        unit: TimeUnit::Millis,
        long: true,
        min,
        max: i64::MAX as u64,
    }
}

const fn seconds_int(min: u64) -> OptionType {
    OptionType::Duration {
        unit: TimeUnit::Seconds,
        long: false,
        min,
        max: I32_MAX as u64,
    }
}

const SIZE: OptionType = OptionType::MemorySize { min: 1 };

const fn one_of(values: &'static [&'static str]) -> OptionType {
    OptionType::Enum { values }
}

const V803: &str = "VVR 8.0.3+";
const V806: &str = "VVR 8.0.6+";
const V808: &str = "VVR 8.0.8+";
const V810: &str = "VVR 8.0.10+";
const V811: &str = "VVR 8.0.11+";
const V111: &str = "VVR 11.1+";

const FILE_CACHED: Condition = Condition::Equals("sink.file-cached.enable", "true");
const ARROW_READ: Condition = Condition::Equals("useArrow", "true");
const ARROW_WRITE: Condition = Condition::Equals("insert.arrow-writer.enable", "true");
const INCREMENTAL: Condition = Condition::Present("startPartition");

use OptionDef as O;
use Section as S;

/// Every option, in documentation order.
pub static REGISTRY: &[OptionDef] = &[
    // ------------------------------------------------------------------ general
    O::new("connector", S::General, one_of(&["odps"]), "Connector identifier; must be `odps`.")
        .required(),
    O::new("endpoint", S::General, STRING,
        "URL of the MaxCompute service (REST) endpoint, e.g. `http://service.cn-hangzhou.maxcompute.aliyun.com/api`.")
        .required(),
    O::new("tunnelEndpoint", S::General, STRING,
        "URL of the Tunnel service. When unset, the tunnel endpoint is discovered through the service, which load-balances tunnel connections."),
    O::new("project", S::General, STRING, "Project that holds the table.").required(),
    O::new("schemaName", S::General, STRING,
        "Schema of the table, for projects with the schema (three-level) model enabled.")
        .since(V806),
    O::new("tableName", S::General, STRING, "Name of the table.").required(),
    O::new("accessId", S::General, STRING,
        "AccessKey id used to sign requests. Keep it in a secret variable, not in plain DDL.")
        .required(),
    O::new("accessKey", S::General, STRING, "AccessKey secret that belongs to `accessId`.")
        .required()
        .secret(),
    O::new("partition", S::General, STRING,
        "Partition spec. Sources: a spec or pattern such as `ds=20240101` or `ds=2018*`. Dimension tables: also `max_pt()` or `max_two_pt()`. Sinks: a static spec, or the partition column names (`ds`) to route rows by their values. Leave unset for non-partitioned tables."),
    O::new("compressAlgorithm", S::General, one_of(CompressAlgorithm::NAMES),
        "Compression of tunnel transfers: `RAW` (none), `ZLIB` or `SNAPPY`. Snappy is the fastest in practice.")
        .default("SNAPPY"),
    O::new("quotaName", S::General, STRING,
        "Exclusive tunnel resource group (quota) to use. When `tunnelEndpoint` is also set, the tunnel endpoint wins and this option is ignored (with a warning).")
        .since(V803),
    // ------------------------------------------------------------------ source
    O::new("maxPartitionCount", S::Source, integer(1),
        "Most partitions a source may match; startup fails when the partition spec matches more. Raising it puts more load on the service.")
        .default("100"),
    O::new("useArrow", S::Source, BOOLEAN,
        "Read in Arrow format through the MaxCompute storage API. Batch jobs only.")
        .default("false")
        .since(V808),
    O::new("splitSize", S::Source, SIZE,
        "Amount of data per split when reading in Arrow format. Batch jobs only.")
        .default("256 MB")
        .since(V808)
        .only_when(ARROW_READ),
    O::new("compressCodec", S::Source, one_of(ArrowCodec::NAMES),
        "Compression of Arrow reads: empty (none), `ZSTD` or `LZ4_FRAME`. Compression usually raises throughput. Batch jobs only.")
        .default("")
        .since(V808)
        .only_when(ARROW_READ),
    O::new("dynamicLoadBalance", S::Source, BOOLEAN,
        "Hand splits to readers on demand instead of up front. Shortens reads, but readers may get uneven amounts of data. Batch jobs only.")
        .default("false")
        .since(V808),
    // ------------------------------------------------------------------ incremental source
    O::new("startPartition", S::IncrementalSource, STRING,
        "First partition of an incremental source. Partitions at or after it in string order are read, and new ones are found by polling. Setting it makes the source incremental and `partition` is ignored. Zero-pad values (`month=09`) so that string order is time order; for multi-level partitions list every level from the top.")
        .required_when("for an incremental source (its presence selects incremental mode)"),
    O::new("subscribeIntervalInSec", S::IncrementalSource, seconds_int(1),
        "How often an incremental source lists partitions to find new ones, in seconds.")
        .default("30")
        .only_when(INCREMENTAL),
    O::new("modifiedTableOperation", S::IncrementalSource, one_of(ModifiedTableOperation::NAMES),
        "What to do when a partition changed after its download session was saved in a checkpoint, so the session cannot resume: `NONE` fails (restart with a later `startPartition` and no state); `SKIP` skips that partition on resume. Rows already read from it stay either way.")
        .default("NONE")
        .since(V803)
        .only_when(INCREMENTAL),
    // ------------------------------------------------------------------ sink
    O::new("useStreamTunnel", S::Sink, BOOLEAN,
        "Write through the Streaming Tunnel (rows visible once flushed) instead of the Batch Tunnel (rows visible after a checkpoint).")
        .default("false"),
    O::new("flushIntervalMs", S::Sink, millis_long(0),
        "Flush the write buffer at this interval, in milliseconds; `0` turns the timer off. Whichever of this and `batchSize` comes first triggers a flush.")
        .default("30000"),
    O::new("batchSize", S::Sink, long(1),
        "Write-buffer size in bytes at which the buffer is flushed.")
        .default("67108864"),
    O::new("numFlushThreads", S::Sink, integer(1),
        "Threads that flush write buffers; more than one lets several partitions flush at once.")
        .default("1"),
    O::new("slotNum", S::Sink, integer(0),
        "Tunnel slots used to receive the data; `0` leaves the choice to the service.")
        .default("0"),
    O::new("dynamicPartitionLimit", S::Sink, integer(1),
        "Most dynamic partitions written between two checkpoints; the job fails beyond it. Raising it puts more load on the service and slows checkpoints.")
        .default("100"),
    O::new("retryTimes", S::Sink, integer(0),
        "Retries of a failed service request (session creation, flush, commit).")
        .default("3"),
    O::new("sleepMillis", S::Sink, millis_int(0), "Pause between retries, in milliseconds.")
        .default("1000"),
    O::new("enableUpsert", S::Sink, BOOLEAN,
        "Write through the Upsert Tunnel (Delta tables): INSERT and UPDATE_AFTER rows are upserted, DELETE rows delete. When false, `useStreamTunnel` picks the tunnel. With commit trouble, keep the sink parallelism at 10 or less.")
        .default("false")
        .since(V806),
    O::new("upsertAsyncCommit", S::Sink, BOOLEAN,
        "Commit upsert sessions asynchronously: shorter commits, but committed rows become queryable a little later.")
        .default("false")
        .since(V806),
    O::new("upsertCommitTimeoutMs", S::Sink, millis_int(1),
        "Time limit of an upsert session commit, in milliseconds.")
        .default("120000")
        .since(V806),
    O::new("sink.operation", S::Sink, one_of(SinkOperation::NAMES),
        "Write mode for Delta tables: `insert` appends, `upsert` updates by primary key.")
        .default("insert")
        .since(V810),
    O::new("sink.parallelism", S::Sink, integer(1),
        "Writer parallelism for Delta tables; the upstream parallelism when unset. Works best when `upsert.write.bucket.num` is a multiple of it.")
        .since(V810),
    O::new("sink.file-cached.enable", S::Sink, BOOLEAN,
        "Stage rows for dynamic partitions of a Delta table in local files before upload: fewer small files on the service, more latency. Helps with a high sink parallelism.")
        .default("false")
        .since(V810),
    O::new("sink.file-cached.writer.num", S::Sink, integer(1),
        "Upload threads per task in file-cache mode. High values with many open partitions risk running out of memory.")
        .default("16")
        .since(V810)
        .only_when(FILE_CACHED),
    O::new("sink.bucket.check-interval", S::Sink, millis_int(1),
        "How often cached file sizes are checked in file-cache mode, in milliseconds.")
        .default("60000")
        .since(V810)
        .only_when(FILE_CACHED),
    O::new("sink.file-cached.rolling.max-size", S::Sink, SIZE,
        "Size at which a cached file is uploaded.")
        .default("16 MB")
        .since(V810)
        .only_when(FILE_CACHED),
    O::new("sink.file-cached.memory", S::Sink, SIZE,
        "Off-heap memory limit for file writes in file-cache mode.")
        .default("64 MB")
        .since(V810)
        .only_when(FILE_CACHED),
    O::new("sink.file-cached.memory.segment-size", S::Sink, SIZE,
        "Size of one write-buffer segment in file-cache mode.")
        .default("128 KB")
        .since(V810)
        .only_when(FILE_CACHED),
    O::new("sink.file-cached.flush.always", S::Sink, BOOLEAN,
        "Whether file writes in file-cache mode go through the cache.")
        .default("true")
        .since(V810)
        .only_when(FILE_CACHED),
    O::new("sink.file-cached.write.max-retries", S::Sink, integer(0),
        "Upload retries per cached file.")
        .default("3")
        .since(V810)
        .only_when(FILE_CACHED),
    O::new("upsert.writer.max-retries", S::Sink, integer(0),
        "Retries of a bucket write in an upsert session.")
        .default("3")
        .since(V810),
    O::new("upsert.writer.buffer-size", S::Sink, SIZE,
        "Buffer shared by all buckets of an upsert writer; reaching it triggers a flush. Larger writes faster; smaller saves memory when many partitions are open.")
        .default("64 MB")
        .since(V810),
    O::new("upsert.writer.bucket.buffer-size", S::Sink, SIZE,
        "Buffer per bucket of an upsert writer; lower it when memory is short.")
        .default("1 MB")
        .since(V810),
    O::new("upsert.write.bucket.num", S::Sink, integer(1),
        "Bucket count of the target Delta table; must equal the table's `write.bucket.num`.")
        .required_when("when `sink.operation` is `upsert`")
        .since(V810),
    O::new("upsert.write.slot-num", S::Sink, integer(1), "Tunnel slots per upsert session.")
        .default("1")
        .since(V810),
    O::new("upsert.commit.max-retries", S::Sink, integer(0),
        "Retries of an upsert session commit.")
        .default("3")
        .since(V810),
    O::new("upsert.commit.thread-num", S::Sink, integer(1),
        "Upsert sessions committed in parallel. High values cost resources and can slow things down.")
        .default("16")
        .since(V810),
    O::new("upsert.commit.timeout", S::Sink, seconds_int(1),
        "Time limit of an upsert session commit, in seconds.")
        .default("600")
        .since(V810),
    O::new("upsert.flush.concurrent", S::Sink, integer(1),
        "Buckets of one partition flushed at once; each flush holds a tunnel slot.")
        .default("2")
        .since(V810),
    O::new("insert.commit.thread-num", S::Sink, integer(1),
        "Insert sessions committed in parallel.")
        .default("16")
        .since(V810),
    O::new("insert.arrow-writer.enable", S::Sink, BOOLEAN, "Write inserts in Arrow format.")
        .default("false")
        .since(V810),
    O::new("insert.arrow-writer.batch-size", S::Sink, integer(1),
        "Most rows per Arrow batch.")
        .default("512")
        .since(V810)
        .only_when(ARROW_WRITE),
    O::new("insert.arrow-writer.flush-interval", S::Sink, millis_int(0),
        "Flush interval of the Arrow writer, in milliseconds.")
        .default("100000")
        .since(V810)
        .only_when(ARROW_WRITE),
    O::new("insert.writer.buffer-size", S::Sink, SIZE,
        "Buffer size of the buffered insert writer.")
        .default("64 MB")
        .since(V810),
    O::new("upsert.partial-column.enable", S::Sink, BOOLEAN,
        "Partial-column update for Delta tables: a row whose key exists gets only its non-null written columns overwritten; a new key is inserted with nulls in the unwritten columns. Needs upsert writes (`enableUpsert` or `sink.operation` = `upsert`).")
        .default("false")
        .since(V811),
    // ------------------------------------------------------------------ dimension table
    O::new("cache", S::Lookup, one_of(CacheStrategy::NAMES),
        "Cache policy; must be `ALL`: the whole partition is loaded into memory before the job runs, lookups read only the cache, and it is reloaded after `cacheTTLMs`.")
        .required(),
    O::new("cacheSize", S::Lookup, long(1),
        "Most rows the cache may hold; loading more fails. Large caches use much heap and slow loading.")
        .default("100000"),
    O::new("cacheTTLMs", S::Lookup, millis_long(0),
        "Time after which the cache is reloaded (re-resolving `max_pt()`), in milliseconds. The default (Long.MAX_VALUE) never reloads.")
        .default("9223372036854775807"),
    O::new("cacheReloadTimeBlackList", S::Lookup, STRING,
        "Time windows in which the cache is not reloaded, for traffic peaks, e.g. `2017-10-24 14:00 -> 2017-10-24 15:00, 2017-11-10 23:30 -> 2017-11-11 08:00`."),
    O::new("maxLoadRetries", S::Lookup, integer(0),
        "Retries of the first cache load at startup; the job fails when they run out.")
        .default("10"),
    // ------------------------------------------------------------------ Flink CDC sink
    O::new("type", S::CdcSink, one_of(&["maxcompute"]), "Sink type; must be `maxcompute`.")
        .required()
        .since(V111),
    O::new("name", S::CdcSink, STRING, "Display name of the sink.").since(V111),
    O::new("access-id", S::CdcSink, STRING,
        "AccessKey id of the Alibaba Cloud account or RAM user.")
        .required()
        .since(V111),
    O::new("access-key", S::CdcSink, STRING, "AccessKey secret that belongs to `access-id`.")
        .required()
        .secret()
        .since(V111),
    O::new("endpoint", S::CdcSink, STRING,
        "MaxCompute service endpoint for the region and network type.")
        .required()
        .since(V111),
    O::new("project", S::CdcSink, STRING, "Target project.").required().since(V111),
    O::new("tunnel.endpoint", S::CdcSink, STRING,
        "Tunnel endpoint. Normally discovered; set it in special networks, e.g. behind a proxy. When set, `quota.name` is ignored (with a warning).")
        .since(V111),
    O::new("quota.name", S::CdcSink, STRING,
        "Exclusive resource group (quota) for uploads; the shared group when unset.")
        .since(V111),
    O::new("sts-token", S::CdcSink, STRING,
        "STS security token, for temporary credentials of a RAM role.")
        .secret()
        .since(V111),
    O::new("buckets-num", S::CdcSink, integer(1),
        "Bucket count of the Delta tables the sink creates.")
        .default("16")
        .since(V111),
    O::new("compress.algorithm", S::CdcSink, one_of(&["raw", "zlib", "snappy"]),
        "Compression of tunnel transfers: `raw` (none), `zlib` or `snappy` (any case).")
        .default("zlib")
        .since(V111),
    O::new("total.buffer-size", S::CdcSink, SIZE,
        "In-memory buffer per partition (per table for non-partitioned tables); a full buffer is flushed. Buffers of different partitions and tables are independent.")
        .default("64 MB")
        .since(V111),
    O::new("bucket.buffer-size", S::CdcSink, SIZE,
        "Buffer per bucket, for Delta tables.")
        .default("4 MB")
        .since(V111),
    O::new("commit.thread-num", S::CdcSink, integer(1),
        "Partitions or tables committed in parallel at a checkpoint.")
        .default("16")
        .since(V111),
    O::new("flush.concurrent-num", S::CdcSink, integer(1),
        "Buckets flushed in parallel, for Delta tables.")
        .default("4")
        .since(V111),
];

/// The option `key` in the namespace of `kind`: the SQL kinds share one namespace (an option
/// of another SQL kind is found too), the Flink CDC sink has its own.
pub fn lookup(kind: ConfigKind, key: &str) -> Option<&'static OptionDef> {
    REGISTRY
        .iter()
        .find(|d| d.key == key && d.applies_to.iter().any(|k| k.is_sql() == kind.is_sql()))
}

/// The options of one documentation section, in order.
pub fn section(section: Section) -> impl Iterator<Item = &'static OptionDef> {
    REGISTRY.iter().filter(move |d| d.section == section)
}

/// Longest key for which a suggestion is computed (bounds the edit-distance work).
const MAX_SUGGEST_LEN: usize = 128;

/// The valid key of `kind`'s namespace nearest to `key`, when it is close enough to be a
/// likely typo: case-insensitive edit distance at most `max(2, len / 3)`.
pub fn suggest(kind: ConfigKind, key: &str) -> Option<&'static str> {
    if key.len() > MAX_SUGGEST_LEN {
        return None;
    }
    let wanted = key.to_ascii_lowercase();
    let mut best: Option<(usize, &'static str)> = None;
    for def in REGISTRY
        .iter()
        .filter(|d| d.applies_to.iter().any(|k| k.is_sql() == kind.is_sql()))
    {
        let d = edit_distance(&wanted, &def.key.to_ascii_lowercase());
        if best.is_none_or(|(b, _)| d < b) {
            best = Some((d, def.key));
        }
    }
    let limit = (key.chars().count() / 3).max(2);
    best.filter(|(d, _)| *d <= limit).map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("cachesize", "cachesize"), 0);
        assert_eq!(edit_distance("batchsize", "batchsizes"), 1);
    }

    #[test]
    fn keys_are_unique_per_namespace() {
        for (i, a) in REGISTRY.iter().enumerate() {
            for b in &REGISTRY[i + 1..] {
                let same_ns = a
                    .applies_to
                    .iter()
                    .any(|k| b.applies_to.iter().any(|l| k.is_sql() == l.is_sql()));
                assert!(!(a.key == b.key && same_ns), "duplicate key {}", a.key);
            }
        }
    }
}
