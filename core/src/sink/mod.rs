//! Sink state machines (WIP docs).

mod batch;
mod budget;
mod committer;
mod error;
mod event;
mod input;
mod io;
mod retry;
mod settings;
mod state;
mod stream;
mod timers;
mod upsert;
mod writer;

pub use batch::BatchWriter;
pub use committer::{CommitEvent, CommitOutcome, CommitReport, Committer};
pub use error::{InputError, Item, Location, Operation, SinkError};
pub use event::{Committable, MemoryUsage, Rejection, RowKind, SinkEvent, WriteRejected};
pub use settings::{CommitterSettings, UpsertSettings, WriterSettings, USER_AGENT};
pub use stream::StreamWriter;
pub use upsert::UpsertWriter;
pub use writer::SinkWriter;
pub use state::{StreamSessionState, WriterState, WriterStateV1};

#[cfg(test)]
mod tests;
