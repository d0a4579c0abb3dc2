//! Errors of the async API.

use maxc_core::api::ApiError;
use maxc_core::machine::TransportError;
use maxc_core::options::OptionError;
use maxc_core::sink::SinkError;

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
