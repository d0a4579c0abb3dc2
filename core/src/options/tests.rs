use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::*;
use crate::auth::Credentials;

/// The option keys of the seed connector document, per table of the seed, in its order.
const SEED: &[(Section, &[&str])] = &[
    (
        Section::General,
        &[
            "connector",
            "endpoint",
            "tunnelEndpoint",
            "project",
            "schemaName",
            "tableName",
            "accessId",
            "accessKey",
            "partition",
            "compressAlgorithm",
            "quotaName",
        ],
    ),
    (
        Section::Source,
        &[
            "maxPartitionCount",
            "useArrow",
            "splitSize",
            "compressCodec",
            "dynamicLoadBalance",
        ],
    ),
    (
        Section::IncrementalSource,
        &[
            "startPartition",
            "subscribeIntervalInSec",
            "modifiedTableOperation",
        ],
    ),
    (
        Section::Sink,
        &[
            "useStreamTunnel",
            "flushIntervalMs",
            "batchSize",
            "numFlushThreads",
            "slotNum",
            "dynamicPartitionLimit",
            "retryTimes",
            "sleepMillis",
            "enableUpsert",
            "upsertAsyncCommit",
            "upsertCommitTimeoutMs",
            "sink.operation",
            "sink.parallelism",
            "sink.file-cached.enable",
            "sink.file-cached.writer.num",
            "sink.bucket.check-interval",
            "sink.file-cached.rolling.max-size",
            "sink.file-cached.memory",
            "sink.file-cached.memory.segment-size",
            "sink.file-cached.flush.always",
            "sink.file-cached.write.max-retries",
            "upsert.writer.max-retries",
            "upsert.writer.buffer-size",
            "upsert.writer.bucket.buffer-size",
            "upsert.write.bucket.num",
            "upsert.write.slot-num",
            "upsert.commit.max-retries",
            "upsert.commit.thread-num",
            "upsert.commit.timeout",
            "upsert.flush.concurrent",
            "insert.commit.thread-num",
            "insert.arrow-writer.enable",
            "insert.arrow-writer.batch-size",
            "insert.arrow-writer.flush-interval",
            "insert.writer.buffer-size",
            "upsert.partial-column.enable",
        ],
    ),
    (
        Section::Lookup,
        &[
            "cache",
            "cacheSize",
            "cacheTTLMs",
            "cacheReloadTimeBlackList",
            "maxLoadRetries",
        ],
    ),
    (
        Section::CdcSink,
        &[
            "type",
            "name",
            "access-id",
            "access-key",
            "endpoint",
            "project",
            "tunnel.endpoint",
            "quota.name",
            "sts-token",
            "buckets-num",
            "compress.algorithm",
            "total.buffer-size",
            "bucket.buffer-size",
            "commit.thread-num",
            "flush.concurrent-num",
        ],
    ),
];

/// Defaults the seed states, per key (raw seed values; memory sizes as written there).
const SEED_DEFAULTS: &[(&str, &str)] = &[
    ("compressAlgorithm", "SNAPPY"),
    ("maxPartitionCount", "100"),
    ("useArrow", "false"),
    ("splitSize", "256 MB"),
    ("compressCodec", ""),
    ("dynamicLoadBalance", "false"),
    ("subscribeIntervalInSec", "30"),
    ("modifiedTableOperation", "NONE"),
    ("useStreamTunnel", "false"),
    ("flushIntervalMs", "30000"),
    ("batchSize", "67108864"),
    ("numFlushThreads", "1"),
    ("slotNum", "0"),
    ("dynamicPartitionLimit", "100"),
    ("retryTimes", "3"),
    ("sleepMillis", "1000"),
    ("enableUpsert", "false"),
    ("upsertAsyncCommit", "false"),
    ("upsertCommitTimeoutMs", "120000"),
    ("sink.operation", "insert"),
    ("sink.file-cached.enable", "false"),
    ("sink.file-cached.writer.num", "16"),
    ("sink.bucket.check-interval", "60000"),
    ("sink.file-cached.rolling.max-size", "16 MB"),
    ("sink.file-cached.memory", "64 MB"),
    ("sink.file-cached.memory.segment-size", "128 KB"),
    ("sink.file-cached.flush.always", "true"),
    ("sink.file-cached.write.max-retries", "3"),
    ("upsert.writer.max-retries", "3"),
    ("upsert.writer.buffer-size", "64 MB"),
    ("upsert.writer.bucket.buffer-size", "1 MB"),
    ("upsert.write.slot-num", "1"),
    ("upsert.commit.max-retries", "3"),
    ("upsert.commit.thread-num", "16"),
    ("upsert.commit.timeout", "600"),
    ("upsert.flush.concurrent", "2"),
    ("insert.commit.thread-num", "16"),
    ("insert.arrow-writer.enable", "false"),
    ("insert.arrow-writer.batch-size", "512"),
    ("insert.arrow-writer.flush-interval", "100000"),
    ("insert.writer.buffer-size", "64 MB"),
    ("upsert.partial-column.enable", "false"),
    ("cacheSize", "100000"),
    ("cacheTTLMs", "9223372036854775807"),
    ("maxLoadRetries", "10"),
    ("buckets-num", "16"),
    ("compress.algorithm", "zlib"),
    ("total.buffer-size", "64 MB"),
    ("bucket.buffer-size", "4 MB"),
    ("commit.thread-num", "16"),
    ("flush.concurrent-num", "4"),
];

/// Options the seed marks as required (the "Yes" column).
const SEED_REQUIRED: &[(Section, &str)] = &[
    (Section::General, "connector"),
    (Section::General, "endpoint"),
    (Section::General, "project"),
    (Section::General, "tableName"),
    (Section::General, "accessId"),
    (Section::General, "accessKey"),
    (Section::IncrementalSource, "startPartition"),
    (Section::Sink, "upsert.write.bucket.num"),
    (Section::Lookup, "cache"),
    (Section::CdcSink, "type"),
    (Section::CdcSink, "access-id"),
    (Section::CdcSink, "access-key"),
    (Section::CdcSink, "endpoint"),
    (Section::CdcSink, "project"),
];

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const BASE: &[(&str, &str)] = &[
    ("connector", "odps"),
    (
        "endpoint",
        "http://service.cn-hangzhou.maxcompute.aliyun.com/api",
    ),
    ("project", "my_project"),
    ("tableName", "my_table"),
    ("accessId", "LTAI5tEXAMPLEID"),
    ("accessKey", "TOPSECRET"),
];

const CDC_BASE: &[(&str, &str)] = &[
    ("type", "maxcompute"),
    ("access-id", "LTAI5tEXAMPLEID"),
    ("access-key", "TOPSECRET"),
    (
        "endpoint",
        "http://service.cn-hangzhou.maxcompute.aliyun.com/api",
    ),
    ("project", "my_project"),
];

/// The minimal valid option map of `kind`.
fn minimal(kind: ConfigKind) -> BTreeMap<String, String> {
    match kind {
        ConfigKind::CdcSink => map(CDC_BASE),
        ConfigKind::Lookup => {
            let mut m = map(BASE);
            m.insert("cache".into(), "ALL".into());
            m
        }
        _ => map(BASE),
    }
}

fn with(kind: ConfigKind, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut m = minimal(kind);
    m.extend(map(extra));
    m
}

/// Parses `options` as `kind`, returning the config's Debug text (comparable across kinds)
/// and the warnings.
fn parse(
    kind: ConfigKind,
    options: &BTreeMap<String, String>,
) -> Result<(String, Vec<OptionWarning>), OptionError> {
    Ok(match kind {
        ConfigKind::Source => {
            let p = SourceConfig::from_options(options)?;
            (format!("{:?}", p.config), p.warnings)
        }
        ConfigKind::Sink => {
            let p = SinkConfig::from_options(options)?;
            (format!("{:?}", p.config), p.warnings)
        }
        ConfigKind::Lookup => {
            let p = LookupConfig::from_options(options)?;
            (format!("{:?}", p.config), p.warnings)
        }
        ConfigKind::CdcSink => {
            let p = CdcSinkConfig::from_options(options)?;
            (format!("{:?}", p.config), p.warnings)
        }
    })
}

fn sink(extra: &[(&str, &str)]) -> Result<Parsed<SinkConfig>, OptionError> {
    SinkConfig::from_options(with(ConfigKind::Sink, extra))
}

fn source(extra: &[(&str, &str)]) -> Result<Parsed<SourceConfig>, OptionError> {
    SourceConfig::from_options(with(ConfigKind::Source, extra))
}

// ---------------------------------------------------------------- registry vs seed

#[test]
fn registry_holds_exactly_the_seed_options() {
    for (section, keys) in SEED {
        let registered: Vec<&str> = registry::section(*section).map(|d| d.key).collect();
        assert_eq!(&registered, keys, "{section:?}");
    }
    let total: usize = SEED.iter().map(|(_, k)| k.len()).sum();
    assert_eq!(REGISTRY.len(), total);
}

#[test]
fn registry_metadata_matches_the_seed() {
    for def in REGISTRY {
        let seed_default = SEED_DEFAULTS
            .iter()
            .find(|(k, _)| *k == def.key)
            .map(|(_, v)| *v);
        // The seed writes some defaults as text (`256 MB`); compare parsed values.
        match (def.default, seed_default) {
            (None, None) => {}
            (Some(d), Some(s)) => match def.ty {
                OptionType::MemorySize { .. } => {
                    assert_eq!(MemorySize::parse(d), MemorySize::parse(s), "{}", def.key)
                }
                _ => assert_eq!(d, s, "{}", def.key),
            },
            other => panic!("{}: registry/seed default {other:?}", def.key),
        }
        let seed_required = SEED_REQUIRED
            .iter()
            .any(|(s, k)| *s == def.section && *k == def.key);
        assert_eq!(
            def.required != Required::No,
            seed_required,
            "required-ness of {}",
            def.key
        );
        assert!(!def.description.is_empty(), "{}", def.key);
        assert!(!def.applies_to.is_empty(), "{}", def.key);
    }
    // Since-versions the seed gives.
    for (key, since) in [
        ("schemaName", "VVR 8.0.6+"),
        ("quotaName", "VVR 8.0.3+"),
        ("useArrow", "VVR 8.0.8+"),
        ("modifiedTableOperation", "VVR 8.0.3+"),
        ("enableUpsert", "VVR 8.0.6+"),
        ("sink.operation", "VVR 8.0.10+"),
        ("upsert.partial-column.enable", "VVR 8.0.11+"),
        ("access-id", "VVR 11.1+"),
    ] {
        let kind = if key == "access-id" {
            ConfigKind::CdcSink
        } else {
            ConfigKind::Sink
        };
        assert_eq!(find(kind, key).and_then(|d| d.since), Some(since), "{key}");
    }
    assert_eq!(
        find(ConfigKind::Sink, "batchSize").and_then(|d| d.since),
        None
    );
}

/// A value of `def`'s type that is valid but (where possible) not its default.
fn sample(def: &OptionDef) -> &'static str {
    match def.key {
        "connector" => "odps",
        "type" => "maxcompute",
        "cache" => "ALL",
        _ => match def.ty {
            OptionType::String => "sample",
            OptionType::Boolean => "true",
            OptionType::Integer { .. } | OptionType::Long { .. } => "7",
            OptionType::MemorySize { .. } => "3 MB",
            OptionType::Duration { .. } => "7",
            OptionType::Enum { values } => values[values.len() - 1],
        },
    }
}

fn wrong_value(ty: OptionType) -> Option<&'static str> {
    match ty {
        OptionType::String => None,
        OptionType::Boolean => Some("maybe"),
        OptionType::Integer { .. } | OptionType::Long { .. } => Some("12abc"),
        OptionType::MemorySize { .. } => Some("64 XB"),
        OptionType::Duration { .. } => Some("soon"),
        OptionType::Enum { .. } => Some("BOGUS"),
    }
}

/// Extra options needed for `key` to be valid in a minimal config.
fn context(key: &str) -> &'static [(&'static str, &'static str)] {
    match key {
        // Partial-column updates need upsert writes.
        "upsert.partial-column.enable" => &[("enableUpsert", "true")],
        // sink.operation=upsert (the sample) needs the bucket count.
        "sink.operation" => &[("upsert.write.bucket.num", "4")],
        // Incremental options are read only by an incremental source.
        "subscribeIntervalInSec" | "modifiedTableOperation" => &[("startPartition", "ds=1")],
        _ => &[],
    }
}

#[test]
fn every_seed_option_parses_its_default_and_rejects_a_wrong_type() {
    for (section, keys) in SEED {
        for key in *keys {
            let kind = section.kinds()[0];
            let def = find(kind, key).unwrap_or_else(|| panic!("{key} not in the registry"));
            assert_eq!(def.section, *section, "{key}");
            let mut base = minimal(kind);
            base.extend(map(context(key)));

            // The default parses, and gives the same config as leaving the option out.
            if let Some(default) = def.default {
                let mut m = base.clone();
                m.insert(key.to_string(), default.to_string());
                let explicit = parse(kind, &m).unwrap_or_else(|e| panic!("{key}={default}: {e}"));
                let implicit = parse(kind, &base).unwrap_or_else(|e| panic!("{key}: {e}"));
                assert_eq!(explicit.0, implicit.0, "{key}: default differs from unset");
            }

            // A valid sample value parses and changes the config (it is really read).
            let mut m = base.clone();
            m.insert(key.to_string(), sample(def).to_string());
            let with_sample =
                parse(kind, &m).unwrap_or_else(|e| panic!("{key}={}: {e}", sample(def)));
            let without = parse(kind, &base).map(|p| p.0);
            let required = def.required == Required::Yes;
            if !required && def.default != Some(sample(def)) {
                assert_ne!(
                    Ok(with_sample.0),
                    without,
                    "{key}: setting it does not change the config"
                );
            }

            // A wrong-typed value is rejected, naming the key.
            if let Some(bad) = wrong_value(def.ty) {
                let mut m = base.clone();
                m.insert(key.to_string(), bad.to_string());
                let err = parse(kind, &m).expect_err(key);
                assert_eq!(err.key(), *key, "{err}");
                assert!(
                    matches!(
                        err,
                        OptionError::WrongType { .. } | OptionError::NotAllowed { .. }
                    ),
                    "{key}: {err:?}"
                );
                assert!(err.to_string().contains(key), "{err}");
            }
        }
    }
}

#[test]
fn required_options_are_required() {
    for (section, key) in SEED_REQUIRED {
        let def = find(section.kinds()[0], key).unwrap();
        if def.required != Required::Yes {
            continue; // conditional: tested separately
        }
        for kind in def.applies_to {
            let mut m = minimal(*kind);
            m.remove(*key);
            assert_eq!(
                parse(*kind, &m).unwrap_err(),
                OptionError::MissingRequired { key, when: None },
                "{kind:?}"
            );
        }
    }
    // Conditional ones.
    assert_eq!(
        sink(&[("sink.operation", "upsert")]).unwrap_err(),
        OptionError::MissingRequired {
            key: "upsert.write.bucket.num",
            when: Some("required when `sink.operation` is `upsert`")
        }
    );
    assert!(
        sink(&[
            ("sink.operation", "upsert"),
            ("upsert.write.bucket.num", "8")
        ])
        .is_ok()
    );
    // enableUpsert alone does not need the bucket count (read from the table).
    assert!(sink(&[("enableUpsert", "true")]).is_ok());
    // Empty required strings.
    assert_eq!(
        sink(&[("project", " ")]).unwrap_err(),
        OptionError::Empty { key: "project" }
    );
    assert_eq!(
        source(&[("startPartition", "")]).unwrap_err(),
        OptionError::Empty {
            key: "startPartition"
        }
    );
}

// ---------------------------------------------------------------- values

#[test]
fn memory_sizes_and_durations_in_options() {
    let s = sink(&[
        ("batchSize", "1048576"),
        ("flushIntervalMs", "0"),
        ("sleepMillis", "2 s"),
        ("upsert.writer.buffer-size", "128mb"),
        ("upsert.writer.bucket.buffer-size", "512 KB"),
        ("upsert.commit.timeout", "10 min"),
        ("upsertCommitTimeoutMs", "90000"),
        ("sink.file-cached.enable", "TRUE"),
        ("sink.file-cached.memory", "1 gb"),
        ("sink.bucket.check-interval", "1500"),
    ])
    .unwrap()
    .config;
    assert_eq!(s.batch_size, MemorySize::mib(1));
    assert_eq!(s.flush_interval, Duration::ZERO);
    assert_eq!(s.retry_sleep, Duration::from_secs(2));
    assert_eq!(s.upsert.writer_buffer_size, MemorySize::mib(128));
    assert_eq!(s.upsert.bucket_buffer_size, MemorySize::kib(512));
    assert_eq!(s.upsert.session_commit_timeout, Duration::from_secs(600));
    assert_eq!(s.upsert.commit_timeout, Duration::from_secs(90));
    assert!(s.file_cache.enabled);
    assert_eq!(s.file_cache.memory, MemorySize::gib(1));
    assert_eq!(
        s.file_cache.bucket_check_interval,
        Duration::from_millis(1500)
    );

    let src = source(&[
        ("startPartition", "ds=20240101"),
        ("subscribeIntervalInSec", "45"),
    ])
    .unwrap()
    .config;
    let SourceMode::Incremental(inc) = src.mode else {
        panic!("expected incremental")
    };
    assert_eq!(inc.subscribe_interval, Duration::from_secs(45));

    // Defaults become typed values.
    let d = sink(&[]).unwrap().config;
    assert_eq!(d.batch_size, MemorySize::mib(64));
    assert_eq!(d.flush_interval, Duration::from_secs(30));
    assert_eq!(d.upsert.session_commit_timeout, Duration::from_secs(600));
    assert_eq!(d.upsert.commit_timeout, Duration::from_secs(120));
    assert_eq!(d.file_cache.segment_size, MemorySize::kib(128));
    let l = LookupConfig::from_options(minimal(ConfigKind::Lookup))
        .unwrap()
        .config;
    assert_eq!(l.cache_ttl, Duration::from_millis(i64::MAX as u64));
    assert_eq!(l.cache_size, 100_000);
}

#[test]
fn out_of_range_values() {
    for (key, value) in [
        ("numFlushThreads", "0"),
        ("numFlushThreads", "2147483648"),
        ("numFlushThreads", "-1"),
        ("slotNum", "-1"),
        ("batchSize", "0"),
        ("batchSize", "9223372036854775808"),
        ("batchSize", "999999999999999999999999999999999999999999999"),
        ("flushIntervalMs", "9223372036854775808"),
        ("sleepMillis", "2147483648"),
        ("upsert.commit.timeout", "0"),
        ("upsert.writer.buffer-size", "0"),
        ("upsert.writer.buffer-size", "16777216 TB"),
        ("upsertCommitTimeoutMs", "99999999999999999999999 d"),
    ] {
        let err = sink(&[(key, value)]).unwrap_err();
        assert!(
            matches!(&err, OptionError::OutOfRange { key: k, .. } if *k == key),
            "{key}={value}: {err:?}"
        );
    }
    assert!(sink(&[("numFlushThreads", "2147483647")]).is_ok());
    assert!(sink(&[("slotNum", "0")]).is_ok());
    assert_eq!(
        source(&[("maxPartitionCount", "0")])
            .unwrap_err()
            .to_string(),
        "option `maxPartitionCount`: 0 is out of range (allowed: 1 to 2147483647)"
    );
    // Integers need digits only.
    for bad in ["1.5", "1e3", "", "ten", "0x10"] {
        assert!(matches!(
            sink(&[("retryTimes", bad)]).unwrap_err(),
            OptionError::WrongType {
                key: "retryTimes",
                ..
            }
        ));
    }
}

#[test]
fn enums_and_connector() {
    let p = SinkConfig::from_options(with(
        ConfigKind::Sink,
        &[("compressAlgorithm", "zlib"), ("connector", "ODPS")],
    ))
    .unwrap();
    assert_eq!(
        p.config.connection.compress_algorithm,
        CompressAlgorithm::Zlib
    );
    assert_eq!(
        sink(&[("connector", "jdbc")]).unwrap_err(),
        OptionError::NotAllowed {
            key: "connector",
            value: "jdbc".into(),
            allowed: &["odps"]
        }
    );
    assert_eq!(
        LookupConfig::from_options(with(ConfigKind::Lookup, &[("cache", "LRU")]))
            .unwrap_err()
            .to_string(),
        "option `cache`: `LRU` is not one of `ALL`"
    );
    let s = source(&[("useArrow", "true"), ("compressCodec", "lz4_frame")])
        .unwrap()
        .config;
    assert_eq!(s.compress_codec, ArrowCodec::Lz4Frame);
    assert!(matches!(
        source(&[("compressCodec", "GZIP")]).unwrap_err(),
        OptionError::NotAllowed {
            key: "compressCodec",
            ..
        }
    ));
    let s = source(&[
        ("startPartition", "ds=1"),
        ("modifiedTableOperation", "skip"),
    ])
    .unwrap()
    .config;
    assert!(matches!(
        s.mode,
        SourceMode::Incremental(IncrementalOptions {
            modified_table_operation: ModifiedTableOperation::Skip,
            ..
        })
    ));
    let c = CdcSinkConfig::from_options(map(CDC_BASE)).unwrap().config;
    assert_eq!(c.compress_algorithm, CompressAlgorithm::Zlib);
    assert!(matches!(
        CdcSinkConfig::from_options(with(ConfigKind::CdcSink, &[("type", "kafka")])).unwrap_err(),
        OptionError::NotAllowed { key: "type", .. }
    ));
}

// ---------------------------------------------------------------- unknown keys

#[test]
fn unknown_keys_suggest_the_nearest_key() {
    for (kind, typo, expected) in [
        (ConfigKind::Sink, "batchsize", Some("batchSize")),
        (ConfigKind::Sink, "batch_size", Some("batchSize")),
        (ConfigKind::Sink, "flushIntervalMS", Some("flushIntervalMs")),
        (ConfigKind::Sink, "tunnelEndPoint", Some("tunnelEndpoint")),
        (
            ConfigKind::Sink,
            "sink.file-cache.enable",
            Some("sink.file-cached.enable"),
        ),
        (
            ConfigKind::Sink,
            "upsert.write.bucket-num",
            Some("upsert.write.bucket.num"),
        ),
        (ConfigKind::Lookup, "cachesize", Some("cacheSize")),
        (ConfigKind::Source, "startpartition", Some("startPartition")),
        // CDC spellings are not SQL options, and vice versa.
        (ConfigKind::Sink, "access-id", Some("accessId")),
        (ConfigKind::CdcSink, "accessId", Some("access-id")),
        (ConfigKind::CdcSink, "bucket-num", Some("buckets-num")),
        (ConfigKind::Sink, "completely-unrelated-thing", None),
        (ConfigKind::Sink, "xyz", None),
    ] {
        let err = parse(kind, &with(kind, &[(typo, "1")])).unwrap_err();
        assert_eq!(
            err,
            OptionError::UnknownKey {
                key: typo.to_string(),
                suggestion: expected
            },
            "{typo}"
        );
        assert_eq!(suggest(kind, typo), expected);
    }
    let err = sink(&[("batchsize", "1")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown option `batchsize` (did you mean `batchSize`?)"
    );
    // A huge key gets no suggestion (and no quadratic work).
    let long = "b".repeat(100_000);
    assert_eq!(
        sink(&[(long.as_str(), "1")]).unwrap_err(),
        OptionError::UnknownKey {
            key: long.clone(),
            suggestion: None
        }
    );
    // The first error is deterministic: keys are checked in sorted order.
    let err = sink(&[("zzz", "1"), ("aaa", "1"), ("batchSize", "x")]).unwrap_err();
    assert_eq!(err.key(), "aaa");
}

// ---------------------------------------------------------------- warnings and conflicts

#[test]
fn quota_with_tunnel_endpoint_is_a_warning() {
    let p = sink(&[
        ("quotaName", "my_quota"),
        (
            "tunnelEndpoint",
            "http://dt.cn-hangzhou.maxcompute.aliyun.com",
        ),
    ])
    .unwrap();
    assert_eq!(
        p.warnings,
        vec![OptionWarning::Overridden {
            key: "quotaName",
            by: "tunnelEndpoint"
        }]
    );
    assert_eq!(p.config.connection.quota_name.as_deref(), Some("my_quota"));
    assert_eq!(p.config.connection.effective_quota_name(), None);
    assert_eq!(
        p.warnings[0].to_string(),
        "option `quotaName` is ignored because `tunnelEndpoint` is set and takes precedence"
    );
    let p = sink(&[("quotaName", "my_quota")]).unwrap();
    assert!(p.warnings.is_empty());
    assert_eq!(p.config.connection.effective_quota_name(), Some("my_quota"));
    // Same rule for the CDC sink.
    let p = CdcSinkConfig::from_options(with(
        ConfigKind::CdcSink,
        &[("quota.name", "q"), ("tunnel.endpoint", "http://dt")],
    ))
    .unwrap();
    assert_eq!(
        p.warnings,
        vec![OptionWarning::Overridden {
            key: "quota.name",
            by: "tunnel.endpoint"
        }]
    );
    assert_eq!(p.config.effective_quota_name(), None);
}

#[test]
fn ineffective_options_warn() {
    let p = sink(&[
        ("sink.file-cached.memory", "128 MB"),
        ("sink.file-cached.writer.num", "4"),
    ])
    .unwrap();
    let condition = Condition::Equals("sink.file-cached.enable", "true");
    assert_eq!(
        p.warnings,
        vec![
            OptionWarning::Ineffective {
                key: "sink.file-cached.memory",
                condition
            },
            OptionWarning::Ineffective {
                key: "sink.file-cached.writer.num",
                condition
            },
        ]
    );
    // The values are still parsed and kept.
    assert_eq!(p.config.file_cache.memory, MemorySize::mib(128));
    assert_eq!(
        p.warnings[0].to_string(),
        "option `sink.file-cached.memory` has no effect unless `sink.file-cached.enable` = `true`"
    );
    // Explicitly disabled: still a warning; enabled: none.
    assert_eq!(
        sink(&[
            ("sink.file-cached.enable", "false"),
            ("sink.file-cached.memory", "1 MB")
        ])
        .unwrap()
        .warnings
        .len(),
        1
    );
    assert!(
        sink(&[
            ("sink.file-cached.enable", "True"),
            ("sink.file-cached.memory", "1 MB")
        ])
        .unwrap()
        .warnings
        .is_empty()
    );
    // Arrow read options without useArrow; incremental options without startPartition.
    let p = source(&[("splitSize", "64 MB"), ("subscribeIntervalInSec", "5")]).unwrap();
    assert_eq!(
        p.warnings.iter().map(|w| w.key()).collect::<Vec<_>>(),
        ["splitSize", "subscribeIntervalInSec"]
    );
    assert!(
        source(&[("useArrow", "true"), ("splitSize", "64 MB")])
            .unwrap()
            .warnings
            .is_empty()
    );
}

#[test]
fn options_of_other_kinds_warn_but_are_checked() {
    let p = sink(&[("cacheSize", "10"), ("maxPartitionCount", "5")]).unwrap();
    assert_eq!(
        p.warnings,
        vec![
            OptionWarning::NotApplicable {
                key: "cacheSize",
                kind: ConfigKind::Sink
            },
            OptionWarning::NotApplicable {
                key: "maxPartitionCount",
                kind: ConfigKind::Sink
            },
        ]
    );
    assert_eq!(
        p.warnings[0].to_string(),
        "option `cacheSize` does not apply to a sink and is ignored"
    );
    // One DDL used as a dimension table may carry sink options.
    let p = LookupConfig::from_options(with(ConfigKind::Lookup, &[("batchSize", "1024")])).unwrap();
    assert_eq!(p.warnings.len(), 1);
    // Still type-checked: such a DDL would fail when used as the other kind.
    assert!(matches!(
        sink(&[("cacheSize", "lots")]).unwrap_err(),
        OptionError::WrongType {
            key: "cacheSize",
            ..
        }
    ));
    // The CDC sink's own namespace: SQL options are unknown there.
    assert!(matches!(
        CdcSinkConfig::from_options(with(ConfigKind::CdcSink, &[("batchSize", "1")])).unwrap_err(),
        OptionError::UnknownKey { .. }
    ));
}

#[test]
fn conflicting_sink_options() {
    assert_eq!(
        sink(&[("enableUpsert", "true"), ("useStreamTunnel", "true")]).unwrap_err(),
        OptionError::Conflict {
            key: "enableUpsert",
            other: "useStreamTunnel",
            reason: "each selects a different tunnel; set only one of them to true"
        }
    );
    assert!(matches!(
        sink(&[
            ("sink.operation", "upsert"),
            ("upsert.write.bucket.num", "4"),
            ("useStreamTunnel", "true")
        ])
        .unwrap_err(),
        OptionError::Conflict {
            key: "sink.operation",
            ..
        }
    ));
    assert!(matches!(
        sink(&[("upsert.partial-column.enable", "true")]).unwrap_err(),
        OptionError::Conflict {
            key: "upsert.partial-column.enable",
            ..
        }
    ));
    // Tunnel selection.
    assert_eq!(sink(&[]).unwrap().config.tunnel, SinkTunnel::Batch);
    assert_eq!(
        sink(&[("useStreamTunnel", "true")]).unwrap().config.tunnel,
        SinkTunnel::Stream
    );
    assert_eq!(
        sink(&[("enableUpsert", "true")]).unwrap().config.tunnel,
        SinkTunnel::Upsert
    );
    let p = sink(&[
        ("sink.operation", "UPSERT"),
        ("upsert.write.bucket.num", "16"),
        ("upsert.partial-column.enable", "true"),
    ])
    .unwrap()
    .config;
    assert_eq!(p.tunnel, SinkTunnel::Upsert);
    assert_eq!(p.operation, SinkOperation::Upsert);
    assert_eq!(p.upsert.bucket_num, Some(16));
    assert!(p.upsert.partial_column);
}

#[test]
fn incremental_source_ignores_partition() {
    let p = source(&[
        ("partition", "ds=2018*"),
        ("startPartition", "yyyy=2018,MM=09,dd=05"),
    ])
    .unwrap();
    assert_eq!(
        p.warnings,
        vec![OptionWarning::Overridden {
            key: "partition",
            by: "startPartition"
        }]
    );
    assert_eq!(p.config.connection.partition, None);
    assert_eq!(
        p.config.mode,
        SourceMode::Incremental(IncrementalOptions {
            start_partition: "yyyy=2018,MM=09,dd=05".into(),
            subscribe_interval: Duration::from_secs(30),
            modified_table_operation: ModifiedTableOperation::None,
        })
    );
    let full = source(&[("partition", "ds=2018*")]).unwrap();
    assert!(full.warnings.is_empty());
    assert_eq!(full.config.mode, SourceMode::Full);
    assert_eq!(
        full.config.connection.partition.as_deref(),
        Some("ds=2018*")
    );
    // Empty optional strings count as unset.
    let p = source(&[("partition", ""), ("schemaName", "  ")])
        .unwrap()
        .config;
    assert_eq!(p.connection.partition, None);
    assert_eq!(p.connection.schema_name, None);
}

#[test]
fn hash_map_input_and_the_seed_examples() {
    // The seed's SQL examples, as a HashMap like a WITH clause yields.
    let h: HashMap<String, String> = [
        ("connector", "odps"),
        ("endpoint", "<yourEndpoint>"),
        ("project", "<yourProjectName>"),
        ("schemaName", "<yourSchemaName>"),
        ("tableName", "<yourTableName>"),
        ("accessId", "${secret_values.ak_id}"),
        ("accessKey", "${secret_values.ak_secret}"),
        ("partition", "ds=2018****"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let s = SourceConfig::from_options(&h).unwrap();
    assert!(s.warnings.is_empty());
    assert_eq!(
        s.config.connection.schema_name.as_deref(),
        Some("<yourSchemaName>")
    );
    assert_eq!(
        s.config.connection.credentials,
        Credentials::access_key("${secret_values.ak_id}", "${secret_values.ak_secret}")
    );
    let mut dim = h.clone();
    dim.insert("cache".into(), "ALL".into());
    dim.insert("partition".into(), "max_pt()".into());
    let l = LookupConfig::from_options(&dim).unwrap();
    assert_eq!(l.config.cache, CacheStrategy::All);
    assert_eq!(l.config.connection.partition.as_deref(), Some("max_pt()"));
    // The seed's CDC YAML example.
    let cdc = CdcSinkConfig::from_options(map(&[
        ("type", "maxcompute"),
        ("name", "MaxComputeSink"),
        ("access-id", "${your_accessId}"),
        ("access-key", "${your_accessKey}"),
        ("endpoint", "${your_maxcompute_endpoint}"),
        ("project", "${your_project}"),
        ("buckets-num", "8"),
    ]))
    .unwrap()
    .config;
    assert_eq!(cdc.buckets_num, 8);
    assert_eq!(cdc.name.as_deref(), Some("MaxComputeSink"));
    assert_eq!(cdc.total_buffer_size, MemorySize::mib(64));
    assert_eq!(cdc.bucket_buffer_size, MemorySize::mib(4));
    let sts = CdcSinkConfig::from_options(with(ConfigKind::CdcSink, &[("sts-token", "TOKEN")]))
        .unwrap()
        .config;
    assert_eq!(
        sts.credentials.sts_token().map(|t| t.expose()),
        Some("TOKEN")
    );
}

// ---------------------------------------------------------------- builders

fn creds() -> Credentials {
    Credentials::access_key("LTAI5tEXAMPLEID", "TOPSECRET")
}

#[test]
fn sink_builder_equals_map_parsing() {
    let built = SinkConfig::builder(
        "http://service.cn-hangzhou.maxcompute.aliyun.com/api",
        "my_project",
        "my_table",
        creds(),
    )
    .partition("ds")
    .tunnel_endpoint("http://dt")
    .quota_name("q")
    .schema_name("s")
    .compress_algorithm(CompressAlgorithm::Zlib)
    .batch_size(MemorySize::mib(8))
    .flush_interval(Duration::from_secs(5))
    .num_flush_threads(4)
    .slot_num(2)
    .dynamic_partition_limit(50)
    .retry_times(5)
    .retry_sleep(Duration::from_millis(250))
    .enable_upsert(true)
    .upsert_async_commit(true)
    .upsert_commit_timeout(Duration::from_secs(60))
    .operation(SinkOperation::Upsert)
    .parallelism(8)
    .file_cache(true)
    .file_cache_writer_num(4)
    .bucket_check_interval(Duration::from_secs(10))
    .file_cache_rolling_max_size(MemorySize::mib(32))
    .file_cache_memory(MemorySize::mib(256))
    .file_cache_segment_size(MemorySize::kib(256))
    .file_cache_flush_always(false)
    .file_cache_write_max_retries(1)
    .upsert_writer_max_retries(2)
    .upsert_writer_buffer_size(MemorySize::mib(32))
    .upsert_bucket_buffer_size(MemorySize::kib(512))
    .upsert_bucket_num(16)
    .upsert_slot_num(2)
    .upsert_commit_max_retries(4)
    .upsert_commit_thread_num(8)
    .upsert_session_commit_timeout(Duration::from_secs(300))
    .upsert_flush_concurrent(3)
    .partial_column_update(true)
    .insert_commit_thread_num(4)
    .arrow_writer(true)
    .arrow_writer_batch_rows(1024)
    .arrow_writer_flush_interval(Duration::from_secs(1))
    .insert_writer_buffer_size(MemorySize::mib(16))
    .build_parsed()
    .unwrap();
    let parsed = sink(&[
        ("partition", "ds"),
        ("tunnelEndpoint", "http://dt"),
        ("quotaName", "q"),
        ("schemaName", "s"),
        ("compressAlgorithm", "ZLIB"),
        ("batchSize", "8388608"),
        ("flushIntervalMs", "5000"),
        ("numFlushThreads", "4"),
        ("slotNum", "2"),
        ("dynamicPartitionLimit", "50"),
        ("retryTimes", "5"),
        ("sleepMillis", "250"),
        ("enableUpsert", "true"),
        ("upsertAsyncCommit", "true"),
        ("upsertCommitTimeoutMs", "60000"),
        ("sink.operation", "upsert"),
        ("sink.parallelism", "8"),
        ("sink.file-cached.enable", "true"),
        ("sink.file-cached.writer.num", "4"),
        ("sink.bucket.check-interval", "10000"),
        ("sink.file-cached.rolling.max-size", "32 MB"),
        ("sink.file-cached.memory", "256 MB"),
        ("sink.file-cached.memory.segment-size", "256 KB"),
        ("sink.file-cached.flush.always", "false"),
        ("sink.file-cached.write.max-retries", "1"),
        ("upsert.writer.max-retries", "2"),
        ("upsert.writer.buffer-size", "32 MB"),
        ("upsert.writer.bucket.buffer-size", "512 KB"),
        ("upsert.write.bucket.num", "16"),
        ("upsert.write.slot-num", "2"),
        ("upsert.commit.max-retries", "4"),
        ("upsert.commit.thread-num", "8"),
        ("upsert.commit.timeout", "300"),
        ("upsert.flush.concurrent", "3"),
        ("upsert.partial-column.enable", "true"),
        ("insert.commit.thread-num", "4"),
        ("insert.arrow-writer.enable", "true"),
        ("insert.arrow-writer.batch-size", "1024"),
        ("insert.arrow-writer.flush-interval", "1000"),
        ("insert.writer.buffer-size", "16 MB"),
    ])
    .unwrap();
    assert_eq!(built, parsed);
    // Every sink option of the registry was exercised by this pair (the builder is complete).
    assert_eq!(
        built.warnings,
        vec![OptionWarning::Overridden {
            key: "quotaName",
            by: "tunnelEndpoint"
        }]
    );
    // And they differ from the defaults, so the comparison is meaningful.
    assert_ne!(
        built.config,
        sink(&[("upsert.write.bucket.num", "16")]).unwrap().config
    );
}

#[test]
fn source_lookup_and_cdc_builders_equal_map_parsing() {
    let ep = "http://service.cn-hangzhou.maxcompute.aliyun.com/api";
    let built = SourceConfig::builder(ep, "my_project", "my_table", creds())
        .start_partition("ds=20240101")
        .subscribe_interval(Duration::from_secs(10))
        .modified_table_operation(ModifiedTableOperation::Skip)
        .max_partition_count(10)
        .use_arrow(true)
        .split_size(MemorySize::mib(64))
        .compress_codec(ArrowCodec::Zstd)
        .dynamic_load_balance(true)
        .build_parsed()
        .unwrap();
    let parsed = source(&[
        ("startPartition", "ds=20240101"),
        ("subscribeIntervalInSec", "10"),
        ("modifiedTableOperation", "SKIP"),
        ("maxPartitionCount", "10"),
        ("useArrow", "true"),
        ("splitSize", "64 MB"),
        ("compressCodec", "ZSTD"),
        ("dynamicLoadBalance", "true"),
    ])
    .unwrap();
    assert_eq!(built, parsed);

    let built = LookupConfig::builder(ep, "my_project", "my_table", creds())
        .partition("max_two_pt()")
        .cache_size(5000)
        .cache_ttl(Duration::from_secs(3600))
        .reload_blacklist("2017-10-24 14:00 -> 2017-10-24 15:00")
        .max_load_retries(3)
        .build_parsed()
        .unwrap();
    let parsed = LookupConfig::from_options(with(
        ConfigKind::Lookup,
        &[
            ("partition", "max_two_pt()"),
            ("cacheSize", "5000"),
            ("cacheTTLMs", "3600000"),
            (
                "cacheReloadTimeBlackList",
                "2017-10-24 14:00 -> 2017-10-24 15:00",
            ),
            ("maxLoadRetries", "3"),
        ],
    ))
    .unwrap();
    assert_eq!(built, parsed);

    let built = CdcSinkConfig::builder(ep, "my_project", creds())
        .name("sink")
        .tunnel_endpoint("http://dt")
        .buckets_num(8)
        .compress_algorithm(CompressAlgorithm::Snappy)
        .total_buffer_size(MemorySize::mib(128))
        .bucket_buffer_size(MemorySize::mib(2))
        .commit_thread_num(4)
        .flush_concurrent_num(2)
        .build_parsed()
        .unwrap();
    let parsed = CdcSinkConfig::from_options(with(
        ConfigKind::CdcSink,
        &[
            ("name", "sink"),
            ("tunnel.endpoint", "http://dt"),
            ("buckets-num", "8"),
            ("compress.algorithm", "snappy"),
            ("total.buffer-size", "128 MB"),
            ("bucket.buffer-size", "2 MB"),
            ("commit.thread-num", "4"),
            ("flush.concurrent-num", "2"),
        ],
    ))
    .unwrap();
    assert_eq!(built, parsed);
}

#[test]
fn builders_validate_like_maps() {
    let ep = "http://service.cn-hangzhou.maxcompute.aliyun.com/api";
    let b = || SinkConfig::builder(ep, "my_project", "my_table", creds());
    assert_eq!(
        b().batch_size(MemorySize(0)).build().unwrap_err(),
        sink(&[("batchSize", "0")]).unwrap_err()
    );
    assert_eq!(
        b().enable_upsert(true)
            .use_stream_tunnel(true)
            .build()
            .unwrap_err(),
        sink(&[("enableUpsert", "true"), ("useStreamTunnel", "true")]).unwrap_err()
    );
    assert_eq!(
        b().operation(SinkOperation::Upsert).build().unwrap_err(),
        sink(&[("sink.operation", "upsert")]).unwrap_err()
    );
    assert_eq!(
        b().option("batchsize", "1").build().unwrap_err(),
        sink(&[("batchsize", "1")]).unwrap_err()
    );
    assert_eq!(
        b().file_cache_memory(MemorySize::mib(1))
            .build_parsed()
            .unwrap()
            .warnings,
        sink(&[("sink.file-cached.memory", "1 MB")])
            .unwrap()
            .warnings
    );
    assert_eq!(
        SinkConfig::builder("", "p", "t", creds())
            .build()
            .unwrap_err(),
        OptionError::Empty { key: "endpoint" }
    );
    // Builders take STS and bearer credentials, which SQL options cannot express.
    let sts = Credentials::sts("STS.id", "s", "token");
    let c = SinkConfig::builder(ep, "p", "t", sts.clone())
        .build()
        .unwrap();
    assert_eq!(c.connection.credentials, sts);
    let bearer = Credentials::bearer("tok");
    let c = SourceConfig::builder(ep, "p", "t", bearer.clone())
        .build()
        .unwrap();
    assert_eq!(c.connection.credentials, bearer);
    let c = CdcSinkConfig::builder(ep, "p", sts.clone())
        .build()
        .unwrap();
    assert_eq!(c.credentials, sts);
}

#[test]
fn secrets_do_not_leak_through_configs() {
    let p = sink(&[]).unwrap();
    assert!(!format!("{p:?}").contains("TOPSECRET"));
    let b = SinkConfig::builder("e", "p", "t", creds()).option("accessKey", "TOPSECRET2");
    assert!(!format!("{b:?}").contains("TOPSECRET"));
    let c = CdcSinkConfig::from_options(with(ConfigKind::CdcSink, &[("sts-token", "TOPSECRET3")]))
        .unwrap();
    assert!(!format!("{c:?}").contains("TOPSECRET"));
    let cb = CdcSinkConfig::builder("e", "p", Credentials::sts("i", "TOPSECRET", "TOPSECRET4"))
        .option("access-key", "TOPSECRET5");
    assert!(!format!("{cb:?}").contains("TOPSECRET"));
}

// ---------------------------------------------------------------- docs

#[test]
fn rendered_doc_lists_every_option() {
    let doc = render_markdown();
    for s in Section::ALL {
        assert!(doc.contains(&format!("## {}\n", s.title())));
    }
    for def in REGISTRY {
        assert!(doc.contains(&format!("| `{}` |", def.key)), "{}", def.key);
    }
    assert!(doc.contains(
        "| `batchSize` | LONG | `67108864` | No | — | Write-buffer size in bytes at which the buffer is flushed. Minimum: 1. |"
    ));
    assert!(
        doc.contains("| `compressCodec` | ENUM (`\"\"`, `ZSTD`, `LZ4_FRAME`) | `\"\"` (none) |")
    );
    assert!(doc.contains("Only effective when `sink.file-cached.enable` = `true`."));
    assert!(doc.contains("| `flushIntervalMs` | LONG (ms) | `30000` |"));
    assert!(doc.contains("| `upsert.write.bucket.num` | INTEGER | — | Yes, when `sink.operation` is `upsert` | VVR 8.0.10+ |"));
}
