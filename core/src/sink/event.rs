//! What the sink machines report: events, committables, rejected writes.

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

use super::error::SinkError;
use crate::partition::PartitionSpec;

/// The change a row carries (Flink's `RowKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RowKind {
    /// A new row (`+I`): appended, or upserted by the upsert tunnel.
    Insert,
    /// The old image of an update (`-U`): dropped by the upsert tunnel.
    UpdateBefore,
    /// The new image of an update (`+U`): upserted.
    UpdateAfter,
    /// A deletion (`-D`): deletes the row with the same primary key.
    Delete,
}

/// One batch-tunnel upload session ready to be committed: what the engine stores in its
/// checkpoint and hands to the [`Committer`](super::Committer) once the checkpoint completes
/// (and again after a restore from that checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Committable {
    /// Project of the table.
    pub project: String,
    /// Schema of the table (three-tier model), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Table name.
    pub table: String,
    /// The partition (canonical string form; empty for a non-partitioned table).
    pub partition: PartitionSpec,
    /// The upload session id.
    pub session_id: String,
    /// Block ids the writer uploaded and saw acknowledged, ascending.
    pub block_ids: Vec<u32>,
    /// Rows in those blocks.
    pub row_count: u64,
    /// The checkpoint whose barrier closed the session (`None`: end of input).
    pub checkpoint_id: Option<u64>,
}

/// What a sink writer reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkEvent {
    /// Everything written before the barrier of `checkpoint_id` is acknowledged by the service.
    /// Batch tunnel: `committables` are the sessions to commit once the checkpoint completes.
    /// Streaming and upsert tunnels: empty (the data is already visible, or committed).
    /// These events come out in checkpoint order.
    Prepared {
        /// The checkpoint.
        checkpoint_id: u64,
        /// What to commit after the checkpoint completes (batch tunnel only).
        committables: Vec<Committable>,
    },
    /// End of input is fully handled: every row is acknowledged (and for the upsert tunnel
    /// committed). Batch tunnel: `committables` still have to go through the committer.
    Finished {
        /// What to commit (batch tunnel only).
        committables: Vec<Committable>,
    },
    /// Memory was freed after a write was refused with [`Rejection::BackPressure`]: try the
    /// write again.
    WriteReady,
    /// The writer failed for good; every later call returns this error.
    Failed(SinkError),
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The memory budget is full: wait for [`SinkEvent::WriteReady`] (keep driving the
    /// machine: replies free memory) and write the batch again.
    BackPressure,
    /// The batch cannot be written ([`SinkError::Input`]; the writer is unchanged), or the
    /// writer cannot take writes any more (failed, finished, or the write made it fail).
    Error(Box<SinkError>),
}

/// A refused write; the batch comes back unchanged.
#[derive(Debug, Clone)]
pub struct WriteRejected {
    /// The batch that was not written.
    pub batch: RecordBatch,
    /// Why.
    pub reason: Rejection,
}

impl WriteRejected {
    /// True for back-pressure (retry later), false for an error.
    pub fn is_back_pressure(&self) -> bool {
        matches!(self.reason, Rejection::BackPressure)
    }

    /// The error, unless this is back-pressure.
    pub fn error(&self) -> Option<&SinkError> {
        match &self.reason {
            Rejection::Error(e) => Some(e.as_ref()),
            Rejection::BackPressure => None,
        }
    }
}

impl std::fmt::Display for WriteRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            Rejection::BackPressure => write!(
                f,
                "write of {} rows refused: memory budget full (back-pressure)",
                self.batch.num_rows()
            ),
            Rejection::Error(e) => {
                write!(f, "write of {} rows refused: {e}", self.batch.num_rows())
            }
        }
    }
}

impl std::error::Error for WriteRejected {}

/// A writer's memory accounting (see the [module docs](super) on the memory budget).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryUsage {
    /// Encoded rows waiting in buffers, bytes.
    pub buffered: u64,
    /// Bodies of flushed blocks not yet acknowledged (queued, in flight or waiting to be
    /// retried), bytes.
    pub in_flight: u64,
    /// The state of the partitions being written, bytes: a fixed
    /// [`PARTITION_COST`](super::PARTITION_COST) per dynamic partition (batch writer; 0
    /// otherwise).
    #[serde(default)]
    pub partitions: u64,
    /// The budget, bytes.
    pub limit: u64,
    /// The largest `buffered + in_flight + partitions` seen.
    pub peak: u64,
}

impl MemoryUsage {
    /// `buffered + in_flight + partitions`.
    pub fn total(&self) -> u64 {
        self.buffered + self.in_flight + self.partitions
    }
}
