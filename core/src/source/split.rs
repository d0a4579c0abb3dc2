//! Splits: a row range of one partition's download session, and how big they are.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::partition::PartitionSpec;
use crate::types::{Column, OdpsType};

/// Identifies a split within one source (assigned by the enumerator, increasing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SplitId(pub u64);

impl fmt::Display for SplitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "split-{}", self.0)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A unit of reading: rows `start .. start + count` of a download session of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Its id.
    pub id: SplitId,
    /// The partition (empty for a non-partitioned table).
    pub partition: PartitionSpec,
    /// The download session.
    pub session_id: String,
    /// The session's `RecordCount` when it was created. A reloaded session reporting a
    /// different count means the partition changed.
    pub session_rows: u64,
    /// First row.
    pub start: u64,
    /// Rows in the split.
    pub count: u64,
    /// Reload and check the session before reading (set on splits restored from a snapshot).
    #[serde(default, skip_serializing_if = "is_false")]
    pub verify: bool,
}

impl Split {
    /// One past the last row.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.count)
    }
}

/// How splits are sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitSizing {
    /// A fixed number of rows per split (record tunnel reads). See [`DEFAULT_SPLIT_ROWS`].
    Rows(u64),
    /// About this many bytes per split (Arrow reads, `splitSize`), converted to rows with
    /// [`estimate_row_bytes`] over the columns read.
    Bytes(u64),
}

/// Default rows per split for record tunnel reads: 1 Mi rows.
///
/// A split is the unit handed to a reader and the unit of work stealing with
/// `dynamicLoadBalance`; readers fetch it in requests of their own chunk size. One million
/// rows is a few hundred megabytes for typical rows: large enough that per-split overhead
/// (assignment, one session check on restore) is negligible, small enough that a table of a
/// few million rows still spreads over several readers.
pub const DEFAULT_SPLIT_ROWS: u64 = 1 << 20;

/// Bytes assumed for a variable-length value (STRING, VARCHAR, CHAR, BINARY, JSON) when
/// estimating row sizes.
pub const VARIABLE_VALUE_BYTES: u64 = 32;

/// Elements assumed per ARRAY or MAP value when estimating row sizes.
pub const COLLECTION_ELEMENTS: u64 = 4;

fn type_bytes(ty: &OdpsType) -> u64 {
    match ty {
        OdpsType::Boolean | OdpsType::TinyInt => 1,
        OdpsType::SmallInt => 2,
        OdpsType::Int | OdpsType::Float | OdpsType::Date | OdpsType::IntervalYearMonth => 4,
        OdpsType::BigInt
        | OdpsType::Double
        | OdpsType::DateTime
        | OdpsType::Timestamp
        | OdpsType::TimestampNtz => 8,
        OdpsType::Decimal { .. } | OdpsType::IntervalDayTime => 16,
        OdpsType::Char(_)
        | OdpsType::Varchar(_)
        | OdpsType::String
        | OdpsType::Binary
        | OdpsType::Json => VARIABLE_VALUE_BYTES + 4,
        OdpsType::Array(e) => 4 + COLLECTION_ELEMENTS.saturating_mul(type_bytes(e)),
        OdpsType::Map(k, v) => {
            4 + COLLECTION_ELEMENTS.saturating_mul(type_bytes(k).saturating_add(type_bytes(v)))
        }
        OdpsType::Struct(fields) => fields
            .iter()
            .map(|f| type_bytes(&f.ty))
            .fold(0u64, u64::saturating_add),
    }
}

/// Estimated Arrow bytes of one row of `columns` (at least 1).
///
/// Fixed-width types count their Arrow width (BIGINT 8, INT 4, DECIMAL 16, TIMESTAMP 8, …);
/// variable-length values count [`VARIABLE_VALUE_BYTES`] plus a 4-byte offset; ARRAY and MAP
/// count [`COLLECTION_ELEMENTS`] elements; STRUCT the sum of its fields. The estimate only
/// sizes Arrow splits (`splitSize` bytes ≈ rows × estimate); it does not limit anything.
pub fn estimate_row_bytes(columns: &[Column]) -> u64 {
    columns
        .iter()
        .map(|c| type_bytes(&c.ty))
        .fold(0u64, u64::saturating_add)
        .max(1)
}

/// Rows per split for `sizing` over rows of `columns` (at least 1).
pub fn rows_per_split(sizing: SplitSizing, columns: &[Column]) -> u64 {
    match sizing {
        SplitSizing::Rows(n) => n.max(1),
        SplitSizing::Bytes(b) => (b / estimate_row_bytes(columns)).max(1),
    }
}

/// The `(start, count)` ranges covering `0..record_count` in order, each of at most
/// `rows_per_split` rows.
pub fn split_ranges(record_count: u64, rows_per_split: u64) -> Vec<(u64, u64)> {
    let step = rows_per_split.max(1);
    let mut out = Vec::new();
    let mut start = 0u64;
    while start < record_count {
        let count = step.min(record_count - start);
        out.push((start, count));
        start += count;
    }
    out
}

/// Why a split's download session can no longer be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LostReason {
    /// The session expired (status `expired`, or the service said so).
    Expired,
    /// The session or partition no longer exists.
    NotFound {
        /// The service's error code and message.
        detail: String,
    },
    /// The reloaded session reports another row count: the partition was rewritten.
    RecordCountChanged {
        /// The count when the split was made.
        expected: u64,
        /// The count now.
        found: u64,
    },
    /// The service reported that the table or partition changed (`TableModified`).
    TableModified {
        /// The service's message.
        detail: String,
    },
}

impl fmt::Display for LostReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostReason::Expired => f.write_str("the download session expired"),
            LostReason::NotFound { detail } => {
                write!(
                    f,
                    "the download session or partition no longer exists ({detail})"
                )
            }
            LostReason::RecordCountChanged { expected, found } => write!(
                f,
                "the partition changed: its download session had {expected} rows and now reports {found}"
            ),
            LostReason::TableModified { detail } => {
                write!(f, "the partition was modified ({detail})")
            }
        }
    }
}

/// A reader's report that a split cannot be read any further. Rows before
/// `start + rows_read` were delivered; the rest of the split is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLost {
    /// The split.
    pub split: SplitId,
    /// Its partition.
    pub partition: PartitionSpec,
    /// Its download session.
    pub session_id: String,
    /// Rows of the split delivered before the loss.
    pub rows_read: u64,
    /// Why.
    pub reason: LostReason,
}
