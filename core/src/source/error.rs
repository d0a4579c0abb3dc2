//! Errors of the source machines.

use crate::api::ApiError;
use crate::codec::CodecError;
use crate::machine::TransportError;
use crate::partition::{PartitionError, PartitionSpec};

use super::split::LostReason;

/// A request that failed for good, as carried in errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// An error response (or an unreadable success response).
    #[error(transparent)]
    Api(ApiError),
    /// No (complete) response after the retries allowed.
    #[error(transparent)]
    Transport(TransportError),
}

impl From<super::requests::Failure> for RequestError {
    fn from(f: super::requests::Failure) -> Self {
        match f {
            super::requests::Failure::Api(e) => RequestError::Api(e),
            super::requests::Failure::Transport(e) => RequestError::Transport(e),
        }
    }
}

fn partition_name(p: &PartitionSpec) -> String {
    if p.is_empty() {
        "(non-partitioned)".to_string()
    } else {
        p.to_string()
    }
}

/// What a user can do about a partition that cannot be resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// Incremental source with `modifiedTableOperation = NONE`: move `startPartition` past
    /// the partition and restart without state, or switch to SKIP.
    MoveStartPartition,
    /// Restart the job (full source).
    Restart,
}

impl Advice {
    /// The advice as a sentence naming `partition`.
    pub fn text(self, partition: &PartitionSpec) -> String {
        match self {
            Advice::MoveStartPartition => format!(
                "To go on, set startPartition past this partition (to a partition after {}) and restart the job without state, or set modifiedTableOperation = SKIP to skip such partitions automatically.",
                partition_name(partition)
            ),
            Advice::Restart => {
                "Restart the job to read the partition again from a new download session."
                    .to_string()
            }
        }
    }
}

/// A terminal error of a source (enumerator or reader).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The `partition` or `startPartition` option does not fit the table.
    #[error("table `{table}`: {error}")]
    InvalidPartition {
        /// Table name.
        table: String,
        /// What is wrong.
        error: PartitionError,
    },
    /// `startPartition` on a table without partitions.
    #[error(
        "table `{table}` is not partitioned, but startPartition `{start}` was given; incremental reading needs a partitioned table"
    )]
    IncrementalNeedsPartitions {
        /// Table name.
        table: String,
        /// The option value.
        start: String,
    },
    /// More partitions matched than `maxPartitionCount` allows.
    #[error(
        "The number of matched partitions exceeds the default limit: {matched} partitions of table `{table}` match `{pattern}`, more than maxPartitionCount ({limit}). Narrow the `partition` option or raise `maxPartitionCount`."
    )]
    TooManyPartitions {
        /// Table name.
        table: String,
        /// The `partition` option.
        pattern: String,
        /// How many matched.
        matched: usize,
        /// `maxPartitionCount`.
        limit: u32,
    },
    /// No partition matches an exact spec or `max_pt()`.
    #[error("no partition of table `{table}` matches `{pattern}`")]
    PartitionNotFound {
        /// Table name.
        table: String,
        /// The `partition` option.
        pattern: String,
    },
    /// A partition cannot be resumed and `modifiedTableOperation` is `NONE` (or the source is
    /// a full one).
    #[error(
        "partition {} of table `{table}` cannot be read any further: {reason} (download session {session_id}). Data already read from it is kept. {}",
        partition_name(partition),
        advice.text(partition)
    )]
    PartitionUnavailable {
        /// Table name.
        table: String,
        /// The partition.
        partition: PartitionSpec,
        /// Its download session (empty when none was created).
        session_id: String,
        /// Why.
        reason: LostReason,
        /// What the user can do.
        advice: Advice,
    },
    /// A download session was created in a state it cannot be read in.
    #[error(
        "download session {session_id} of table `{table}` partition {} is {status}",
        partition_name(partition)
    )]
    SessionNotUsable {
        /// Table name.
        table: String,
        /// The partition.
        partition: PartitionSpec,
        /// The session.
        session_id: String,
        /// Its status.
        status: String,
    },
    /// A request failed for good.
    #[error("{operation} failed: {error}")]
    Request {
        /// What was being done (`list partitions of t`, `read rows (0,100) of …`).
        operation: String,
        /// The failure.
        error: Box<RequestError>,
    },
    /// Data could not be decoded (after the retries allowed).
    #[error("decoding rows {start}..{end} of {split} failed: {error}")]
    Decode {
        /// The split.
        split: super::split::SplitId,
        /// First row of the failed chunk.
        start: u64,
        /// One past its last row.
        end: u64,
        /// The decoder's error.
        error: String,
    },
    /// The service broke the protocol (e.g. more rows than asked for).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A configuration that cannot work.
    #[error("invalid source configuration: {0}")]
    Config(String),
}

impl From<CodecError> for SourceError {
    fn from(e: CodecError) -> Self {
        SourceError::Protocol(e.to_string())
    }
}

/// A snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// A state version this build does not read.
    #[error("unsupported {what} state version {found} (this build reads version {supported})")]
    Version {
        /// Which state.
        what: &'static str,
        /// The version found.
        found: u32,
        /// The version supported.
        supported: u32,
    },
    /// The state does not fit the configuration.
    #[error("{0}")]
    Mismatch(String),
}
