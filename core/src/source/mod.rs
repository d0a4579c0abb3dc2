//! Source tables: pure machines that enumerate partitions into splits and read splits into
//! Arrow record batches.
//!
//! | machine | module | does |
//! |---|---|---|
//! | [`SplitEnumerator`] | [`enumerator`] | resolves `partition` (spec, wildcard, `max_pt()`) or polls for partitions ≥ `startPartition` every `subscribeIntervalInSec`; opens one download session per partition; cuts sessions into [`Split`]s; assigns them round-robin or on request (`dynamicLoadBalance`); applies `modifiedTableOperation` |
//! | [`SplitReader`] | [`reader`] | reads its splits in row-range requests (record stream or Arrow tunnel, `columns=` projection, partition columns filled in), emits batches, resumes at the exact row after a restore |
//!
//! Each module's docs hold its state/transition table. Both machines have the same shape:
//!
//! ```text
//! machine.handle_reply(token, reply, now)        // a response (or transport error)
//! while let Some(out) = machine.poll(now) { … }  // Output::Send{token, request} | Output::Event(…)
//! machine.next_deadline()                        // retry backoff, session polls, next listing
//! machine.snapshot() / Machine::restore(config, state)
//! ```
//!
//! # Wiring (what a driver does)
//!
//! | event | from | the driver |
//! |---|---|---|
//! | `EnumeratorEvent::TableDescribed { schema }` | enumerator | builds the readers: `SplitReader::new(ReaderConfig::…(schema), i)` |
//! | `EnumeratorEvent::Assign { reader, split }` | enumerator | `readers[reader].add_split(split)` |
//! | `EnumeratorEvent::NoMoreSplits { reader }` | enumerator | `readers[reader].no_more_splits()` |
//! | `ReaderEvent::Batch { batch, .. }` | reader | hands the rows to the engine |
//! | `ReaderEvent::SplitFinished { split, .. }` | reader | `enumerator.split_finished(split)` |
//! | `ReaderEvent::SessionLost(report)` | reader | `enumerator.session_lost(report)` |
//! | `ReaderEvent::NeedSplit { reader }` | reader | `enumerator.request_split(reader)` |
//! | `EnumeratorEvent::Finished` and every `ReaderEvent::Finished` | both | the full source is done |
//! | `…::Failed(error)` | either | the source fails with `error` |
//!
//! A checkpoint is the enumerator's [`EnumeratorState`] plus every reader's [`ReaderState`],
//! taken after draining `poll` (a reader counts a row as read when its `Batch` event has been
//! polled). Restoring all of them resumes every split at its exact next row.
//!
//! # Sizes
//!
//! - Record tunnel splits: [`DEFAULT_SPLIT_ROWS`] rows (1 Mi); Arrow splits: `splitSize`
//!   bytes divided by [`estimate_row_bytes`] of the columns read.
//! - Reads: [`DEFAULT_CHUNK_ROWS`] rows per request (64 Ki), record streams decoded into
//!   [`DEFAULT_BATCH_ROWS`]-row batches; a reader holds at most one response's rows.

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
