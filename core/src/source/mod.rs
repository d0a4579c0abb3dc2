//! Source tables: pure machines that enumerate partitions into splits and read splits into
//! Arrow record batches.
//!
//! | machine | module | does |
//! |---|---|---|
//! | [`SplitEnumerator`] | [`enumerator`] | resolves `partition` / polls for partitions ≥ `startPartition`, opens download sessions, cuts them into [`Split`]s, assigns them (round-robin or on request) |
//!
//! Both follow the crate's machine shape: `handle_reply(token, reply, now)`, `poll(now)`
//! (requests to send and events), `next_deadline()`, `snapshot()` / `restore(…)`.

pub mod decode;
pub mod enumerator;
pub mod error;
pub mod reader;
pub(crate) mod requests;
pub mod split;

pub use decode::{DecodeError, PlanError, ReadFormat, ReadPlan};
pub use enumerator::{
    AssignedSplit, Assignment, EnumerationMode, EnumeratorConfig, EnumeratorEvent, EnumeratorState,
    PartitionProgress, PartitionStatus, SplitEnumerator,
};
pub use error::{RequestError, RestoreError, SourceError};
pub use reader::{
    DEFAULT_BATCH_ROWS, DEFAULT_CHUNK_ROWS, DEFAULT_MAX_BODY_BYTES, ReaderConfig, ReaderEvent,
    ReaderState, SplitProgress, SplitReader,
};
pub use split::{
    DEFAULT_SPLIT_ROWS, LostReason, SessionLost, Split, SplitId, SplitSizing, estimate_row_bytes,
    rows_per_split, split_ranges,
};

#[cfg(test)]
pub(crate) mod tests;
