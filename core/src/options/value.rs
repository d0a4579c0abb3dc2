//! Option value types: memory sizes, durations, booleans, integers and the enumerations.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An amount of memory in bytes, written like Flink's `MemorySize`: `64 MB`, `128 KB`,
/// `256mb`, `1 gb`, or plain bytes `67108864`.
///
/// Units are binary (1 KB = 1024 bytes) and case-insensitive: `b`/`byte`/`bytes`,
/// `k`/`kb`/`kib`/`kibibytes`, `m`/`mb`/`mib`/`mebibytes`, `g`/`gb`/`gib`/`gibibytes`,
/// `t`/`tb`/`tib`/`tebibytes`. The number is a whole number; whitespace between number and
/// unit is optional.
///
/// `Display` uses the largest unit that divides the size exactly (`64 MB`, `1536 KB`,
/// `100 bytes`), and its output parses back to the same size.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct MemorySize(pub u64);

/// Why a memory size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemorySizeError {
    /// Nothing but whitespace.
    #[error("empty memory size")]
    Empty,
    /// No leading whole number.
    #[error("a memory size starts with a whole number of bytes or units")]
    NoNumber,
    /// The unit is not one of the known ones.
    #[error("unknown memory unit `{0}` (use bytes, KB, MB, GB or TB)")]
    UnknownUnit(String),
    /// The size does not fit in 64 bits.
    #[error("memory size overflows 64 bits")]
    Overflow,
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

impl MemorySize {
    /// `n` bytes.
    pub const fn bytes(n: u64) -> Self {
        Self(n)
    }

    /// `n` KiB (saturating).
    pub const fn kib(n: u64) -> Self {
        Self(n.saturating_mul(KIB))
    }

    /// `n` MiB (saturating).
    pub const fn mib(n: u64) -> Self {
        Self(n.saturating_mul(MIB))
    }

    /// `n` GiB (saturating).
    pub const fn gib(n: u64) -> Self {
        Self(n.saturating_mul(GIB))
    }

    /// The size in bytes.
    pub const fn as_bytes(&self) -> u64 {
        self.0
    }

    /// Parses a memory size (see the type docs).
    pub fn parse(s: &str) -> Result<Self, MemorySizeError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(MemorySizeError::Empty);
        }
        let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, unit) = s.split_at(digits_end);
        if number.is_empty() {
            return Err(MemorySizeError::NoNumber);
        }
        let n: u64 = number.parse().map_err(|_| MemorySizeError::Overflow)?;
        let unit = unit.trim_start();
        let multiplier = match unit.to_ascii_lowercase().as_str() {
            "" | "b" | "byte" | "bytes" => 1,
            "k" | "kb" | "kib" | "kibibytes" => KIB,
            "m" | "mb" | "mib" | "mebibytes" => MIB,
            "g" | "gb" | "gib" | "gibibytes" => GIB,
            "t" | "tb" | "tib" | "tebibytes" => TIB,
            _ => return Err(MemorySizeError::UnknownUnit(unit.to_string())),
        };
        n.checked_mul(multiplier)
            .map(Self)
            .ok_or(MemorySizeError::Overflow)
    }
}

impl FromStr for MemorySize {
    type Err = MemorySizeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for MemorySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, name) in [(TIB, "TB"), (GIB, "GB"), (MIB, "MB"), (KIB, "KB")] {
            if n != 0 && n.is_multiple_of(unit) {
                return write!(f, "{} {name}", n / unit);
            }
        }
        if n == 1 {
            f.write_str("1 byte")
        } else {
            write!(f, "{n} bytes")
        }
    }
}

/// The unit a plain number stands for in a duration option (`flushIntervalMs` counts
/// milliseconds, `subscribeIntervalInSec` seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Milliseconds.
    Millis,
    /// Seconds.
    Seconds,
}

impl TimeUnit {
    /// The duration of `n` units (saturating).
    pub fn of(self, n: u64) -> Duration {
        match self {
            TimeUnit::Millis => Duration::from_millis(n),
            TimeUnit::Seconds => Duration::from_secs(n),
        }
    }

    /// Short name: `ms` or `s`.
    pub fn suffix(self) -> &'static str {
        match self {
            TimeUnit::Millis => "ms",
            TimeUnit::Seconds => "s",
        }
    }
}

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing but whitespace.
    #[error("empty duration")]
    Empty,
    /// No leading whole number.
    #[error("a duration starts with a whole number")]
    NoNumber,
    /// The unit is not one of the known ones.
    #[error("unknown time unit `{0}` (use ms, s, min, h or d)")]
    UnknownUnit(String),
    /// The duration is too large.
    #[error("duration overflows")]
    Overflow,
}

/// Parses a duration: a whole number in `default_unit` (`30000`), or a whole number with a
/// unit (`30 s`, `500ms`, `2 min`, `1 h`, `1 d`; units case-insensitive, long forms such as
/// `seconds` accepted).
pub fn parse_duration(s: &str, default_unit: TimeUnit) -> Result<Duration, DurationError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits_end);
    if number.is_empty() {
        return Err(DurationError::NoNumber);
    }
    let n: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
    let unit = unit.trim_start();
    let secs_per = match unit.to_ascii_lowercase().as_str() {
        "" => return Ok(default_unit.of(n)),
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => {
            return Ok(Duration::from_millis(n));
        }
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "min" | "mins" | "minute" | "minutes" | "m" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return Err(DurationError::UnknownUnit(unit.to_string())),
    };
    n.checked_mul(secs_per)
        .map(Duration::from_secs)
        .ok_or(DurationError::Overflow)
}

/// Parses `true` / `false`, case-insensitively (surrounding whitespace ignored).
pub fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Defines a string enumeration with case-insensitive parsing and its option spellings.
macro_rules! option_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value's spelling in the options, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The spelling of this value in the options.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }

            /// Parses a spelling, case-insensitively (surrounding whitespace ignored).
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                $( if s.eq_ignore_ascii_case($text) { return Some($name::$variant); } )+
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

option_enum! {
    /// Compression of tunnel transfers (`compressAlgorithm`, and the Flink CDC sink's
    /// `compress.algorithm`, which spells the same values in lower case).
    CompressAlgorithm {
        /// No compression.
        Raw => "RAW",
        /// Deflate (zlib).
        Zlib => "ZLIB",
        /// Snappy.
        Snappy => "SNAPPY",
    }
}

option_enum! {
    /// Compression of Arrow reads through the storage API (`compressCodec`).
    ArrowCodec {
        /// No compression (the empty string).
        None => "",
        /// Zstandard.
        Zstd => "ZSTD",
        /// LZ4 frame format.
        Lz4Frame => "LZ4_FRAME",
    }
}

option_enum! {
    /// What an incremental source does when a partition changed under a saved download
    /// session (`modifiedTableOperation`).
    ModifiedTableOperation {
        /// Fail; the job restarts from a later `startPartition` without state.
        None => "NONE",
        /// Skip the partition when resuming.
        Skip => "SKIP",
    }
}

option_enum! {
    /// Dimension-table cache policy (`cache`); only `ALL` exists.
    CacheStrategy {
        /// Load the whole partition into memory.
        All => "ALL",
    }
}

option_enum! {
    /// Delta-table write mode (`sink.operation`).
    SinkOperation {
        /// Append.
        Insert => "insert",
        /// Update by primary key.
        Upsert => "upsert",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        for (text, bytes) in [
            ("64 MB", 64 * MIB),
            ("128 KB", 128 * KIB),
            ("256mb", 256 * MIB),
            ("1 gb", GIB),
            ("67108864", 67_108_864),
            ("0", 0),
            ("16 MB", 16 * MIB),
            (" 4 mb ", 4 * MIB),
            ("1m", MIB),
            ("2 mebibytes", 2 * MIB),
            ("3k", 3 * KIB),
            ("5 KiB", 5 * KIB),
            ("7 bytes", 7),
            ("7b", 7),
            ("1 TB", TIB),
            ("16777215 TB", 16_777_215 * TIB),
        ] {
            assert_eq!(MemorySize::parse(text), Ok(MemorySize(bytes)), "{text}");
        }
        assert_eq!(MemorySize::parse(""), Err(MemorySizeError::Empty));
        assert_eq!(MemorySize::parse("  "), Err(MemorySizeError::Empty));
        assert_eq!(MemorySize::parse("MB"), Err(MemorySizeError::NoNumber));
        assert_eq!(MemorySize::parse("-1 MB"), Err(MemorySizeError::NoNumber));
        assert_eq!(
            MemorySize::parse("1.5 MB"),
            Err(MemorySizeError::UnknownUnit(".5 MB".into()))
        );
        assert_eq!(
            MemorySize::parse("64 XB"),
            Err(MemorySizeError::UnknownUnit("XB".into()))
        );
        assert_eq!(
            MemorySize::parse("64 M B"),
            Err(MemorySizeError::UnknownUnit("M B".into()))
        );
        assert_eq!(
            MemorySize::parse("16777216 TB"),
            Err(MemorySizeError::Overflow)
        );
        assert_eq!(
            MemorySize::parse("99999999999999999999"),
            Err(MemorySizeError::Overflow)
        );
        assert_eq!(
            MemorySize::parse("18446744073709551615"),
            Ok(MemorySize(u64::MAX))
        );
    }

    #[test]
    fn memory_size_display_round_trips() {
        for (bytes, text) in [
            (64 * MIB, "64 MB"),
            (128 * KIB, "128 KB"),
            (1536 * KIB, "1536 KB"),
            (GIB, "1 GB"),
            (3 * TIB, "3 TB"),
            (100, "100 bytes"),
            (0, "0 bytes"),
            (1, "1 byte"),
            (MIB + 1, "1048577 bytes"),
            (u64::MAX, "18446744073709551615 bytes"),
        ] {
            assert_eq!(MemorySize(bytes).to_string(), text);
            assert_eq!(MemorySize::parse(text), Ok(MemorySize(bytes)));
        }
        assert_eq!(MemorySize::mib(64), MemorySize(67_108_864));
        assert_eq!(MemorySize::kib(128).as_bytes(), 131_072);
        assert_eq!(MemorySize::gib(u64::MAX), MemorySize(u64::MAX));
    }

    #[test]
    fn durations() {
        let ms = TimeUnit::Millis;
        let s = TimeUnit::Seconds;
        assert_eq!(parse_duration("30000", ms), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30", s), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("0", ms), Ok(Duration::ZERO));
        assert_eq!(parse_duration("30 s", ms), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms", s), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2 min", ms), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m", ms), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1 H", ms), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1 day", ms), Ok(Duration::from_secs(86_400)));
        assert_eq!(
            parse_duration(" 10 Seconds ", ms),
            Ok(Duration::from_secs(10))
        );
        assert_eq!(parse_duration("", ms), Err(DurationError::Empty));
        assert_eq!(parse_duration("s", ms), Err(DurationError::NoNumber));
        assert_eq!(parse_duration("-5", ms), Err(DurationError::NoNumber));
        assert_eq!(
            parse_duration("5 fortnights", ms),
            Err(DurationError::UnknownUnit("fortnights".into()))
        );
        assert_eq!(
            parse_duration("1.5 s", ms),
            Err(DurationError::UnknownUnit(".5 s".into()))
        );
        assert_eq!(
            parse_duration("99999999999999999999", ms),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("18446744073709551615 d", ms),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("18446744073709551615", s),
            Ok(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn booleans_and_enums() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool(" False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_bool("1"), None);
        assert_eq!(
            CompressAlgorithm::parse("snappy"),
            Some(CompressAlgorithm::Snappy)
        );
        assert_eq!(
            CompressAlgorithm::parse("ZLIB"),
            Some(CompressAlgorithm::Zlib)
        );
        assert_eq!(CompressAlgorithm::parse("lz4"), None);
        assert_eq!(ArrowCodec::parse(""), Some(ArrowCodec::None));
        assert_eq!(ArrowCodec::parse("lz4_frame"), Some(ArrowCodec::Lz4Frame));
        assert_eq!(
            ModifiedTableOperation::parse("skip"),
            Some(ModifiedTableOperation::Skip)
        );
        assert_eq!(CacheStrategy::parse("LRU"), None);
        assert_eq!(SinkOperation::parse("UPSERT"), Some(SinkOperation::Upsert));
        assert_eq!(SinkOperation::Insert.to_string(), "insert");
        assert_eq!(CompressAlgorithm::NAMES, &["RAW", "ZLIB", "SNAPPY"]);
    }
}
