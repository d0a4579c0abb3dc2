//! Errors of the async API.

use maxc_core::api::ApiError;
use maxc_core::lookup::LookupError;
use maxc_core::machine::TransportError;
use maxc_core::options::OptionError;
use maxc_core::sink::SinkError;
use maxc_core::source::{RestoreError, SourceError};

/// Everything the driver's async API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The connector options are invalid.
    #[error("invalid connector options: {0}")]
    Options(#[from] OptionError),
    /// A request could not be delivered.
    #[error("{0}")]
    Transport(TransportError),
    /// The service answered with an error (outside a machine, e.g. reading table metadata).
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The sink failed.
    #[error("{0}")]
    Sink(Box<SinkError>),
    /// The source failed.
    #[error("{0}")]
    Source(Box<SourceError>),
    /// The dimension table failed.
    #[error("{0}")]
    Lookup(Box<LookupError>),
    /// A snapshot could not be restored.
    #[error("cannot restore the snapshot: {0}")]
    Restore(#[from] RestoreError),
    /// Arrow could not assemble rows.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A SQL instance failed.
    #[error("SQL instance {instance} failed: {message}")]
    Sql {
        /// The instance id.
        instance: String,
        /// The task's result text (the `ODPS-…` error).
        message: String,
    },
    /// The dimension table was closed (or its background task ended).
    #[error("the dimension table `{0}` is closed")]
    Closed(String),
    /// The machine stopped making progress while the call still waited (a bug, or a reply that
    /// never came): names what was awaited.
    #[error("the machine is idle while waiting for {0}")]
    Stalled(String),
    /// The writer was used after end of input.
    #[error("the sink writer is finished; no more input is accepted")]
    Finished,
}

impl From<SinkError> for DriverError {
    fn from(e: SinkError) -> Self {
        DriverError::Sink(Box::new(e))
    }
}

impl From<SourceError> for DriverError {
    fn from(e: SourceError) -> Self {
        DriverError::Source(Box::new(e))
    }
}

impl From<LookupError> for DriverError {
    fn from(e: LookupError) -> Self {
        DriverError::Lookup(Box::new(e))
    }
}
