//! [`SinkWriter`]: the writer of whichever tunnel the config selects.

use arrow_array::RecordBatch;

use super::batch::BatchWriter;
use super::error::{InputError, SinkError};
use super::event::{MemoryUsage, Rejection, RowKind, SinkEvent, WriteRejected};
use super::state::WriterState;
use super::stream::StreamWriter;
use super::upsert::UpsertWriter;
use crate::api::rest::TableMeta;
use crate::machine::{Instant, Machine, Output, Reply, Token};
use crate::options::{SinkConfig, SinkTunnel};

/// One sink writer (one per parallel subtask) for the tunnel `config.tunnel` selects.
#[derive(Debug)]
pub enum SinkWriter {
    /// Batch tunnel.
    Batch(Box<BatchWriter>),
    /// Streaming tunnel.
    Stream(Box<StreamWriter>),
    /// Upsert tunnel.
    Upsert(Box<UpsertWriter>),
}

macro_rules! each {
    ($self:expr, $w:ident => $e:expr) => {
        match $self {
            SinkWriter::Batch($w) => $e,
            SinkWriter::Stream($w) => $e,
            SinkWriter::Upsert($w) => $e,
        }
    };
}

impl SinkWriter {
    /// The writer for `config`'s tunnel and `meta`'s table.
    pub fn new(config: &SinkConfig, meta: &TableMeta) -> Result<Self, SinkError> {
        Ok(match config.tunnel {
            SinkTunnel::Batch => SinkWriter::Batch(Box::new(BatchWriter::new(config, meta)?)),
            SinkTunnel::Stream => SinkWriter::Stream(Box::new(StreamWriter::new(config, meta)?)),
            SinkTunnel::Upsert => SinkWriter::Upsert(Box::new(UpsertWriter::new(config, meta)?)),
        })
    }

    /// A writer restored from a [`SinkWriter::snapshot`].
    pub fn restore(
        config: &SinkConfig,
        meta: &TableMeta,
        state: WriterState,
    ) -> Result<Self, SinkError> {
        Ok(match config.tunnel {
            SinkTunnel::Batch => {
                SinkWriter::Batch(Box::new(BatchWriter::restore(config, meta, state)?))
            }
            SinkTunnel::Stream => {
                SinkWriter::Stream(Box::new(StreamWriter::restore(config, meta, state)?))
            }
            SinkTunnel::Upsert => {
                SinkWriter::Upsert(Box::new(UpsertWriter::restore(config, meta, state)?))
            }
        })
    }

    /// Writes INSERT rows (see each writer's `write`).
    pub fn write(&mut self, batch: RecordBatch, now: Instant) -> Result<(), WriteRejected> {
        each!(self, w => w.write(batch, now))
    }

    /// Writes a changelog batch. The upsert tunnel applies every kind (UPDATE_BEFORE is
    /// dropped); the batch and streaming tunnels only append, so any kind other than INSERT
    /// is refused with [`InputError::NotAppendOnly`] (and the writer is unchanged).
    pub fn write_changes(
        &mut self,
        batch: RecordBatch,
        kinds: &[RowKind],
        now: Instant,
    ) -> Result<(), WriteRejected> {
        let tunnel = match self {
            SinkWriter::Upsert(w) => return w.write_changes(batch, kinds, now),
            SinkWriter::Batch(_) => "batch",
            SinkWriter::Stream(_) => "streaming",
        };
        if kinds.len() != batch.num_rows() {
            let e = InputError::RowKindCount {
                rows: batch.num_rows(),
                kinds: kinds.len(),
            };
            return Err(WriteRejected {
                batch,
                reason: Rejection::Error(Box::new(e.into())),
            });
        }
        if let Some((row, kind)) = kinds
            .iter()
            .enumerate()
            .find(|(_, k)| **k != RowKind::Insert)
        {
            let e = InputError::NotAppendOnly {
                row,
                kind: *kind,
                tunnel,
            };
            return Err(WriteRejected {
                batch,
                reason: Rejection::Error(Box::new(e.into())),
            });
        }
        self.write(batch, now)
    }

    /// A checkpoint barrier: flush everything written so far; `Prepared` follows.
    pub fn barrier(&mut self, checkpoint_id: u64, now: Instant) -> Result<(), SinkError> {
        each!(self, w => w.barrier(checkpoint_id, now))
    }

    /// End of input: flush (and commit, for upserts); `Finished` follows.
    pub fn end_of_input(&mut self, now: Instant) -> Result<(), SinkError> {
        each!(self, w => w.end_of_input(now))
    }

    /// The durable state for the engine's checkpoint.
    pub fn snapshot(&self) -> WriterState {
        each!(self, w => w.snapshot())
    }

    /// Memory accounting.
    pub fn memory(&self) -> MemoryUsage {
        each!(self, w => w.memory())
    }

    /// The error the writer failed with, if it did.
    pub fn failure(&self) -> Option<&SinkError> {
        each!(self, w => w.failure())
    }

    /// True once `Finished` was emitted.
    pub fn is_finished(&self) -> bool {
        each!(self, w => w.is_finished())
    }
}

impl Machine for SinkWriter {
    type Event = SinkEvent;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        each!(self, w => w.handle_reply(token, reply, now))
    }

    fn poll(&mut self, now: Instant) -> Option<Output<SinkEvent>> {
        each!(self, w => w.poll(now))
    }

    fn next_deadline(&self) -> Option<Instant> {
        each!(self, w => w.next_deadline())
    }
}
