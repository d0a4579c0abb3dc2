//! The command line's errors and their exit codes.

use std::io;
use std::process::ExitCode;

use maxc_core::options::OptionError;
use maxc_driver::DriverError;

use crate::data::DataError;

/// Exit code of a bad command line or missing/invalid settings (also clap's usage errors).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of bad input data (`maxc put`): nothing was committed.
pub const EXIT_DATA: u8 = 3;
/// Exit code of a failure reported by the service or on the way to it.
pub const EXIT_SERVICE: u8 = 1;

/// Everything a `maxc` command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag or argument that cannot be used as given.
    #[error("{0}")]
    Usage(String),
    /// Connection settings that were not given by any flag, option or variable.
    #[error(
        "missing connection settings: {}. Pass --{} (or set {}), or --option key=value",
        .missing.iter().map(|m| m.flag).collect::<Vec<_>>().join(", "),
        .missing.first().map(|m| m.flag).unwrap_or_default(),
        .missing.first().map(|m| m.env).unwrap_or_default(),
    )]
    MissingConnection {
        /// The missing settings.
        missing: Vec<Setting>,
    },
    /// The connector options are invalid.
    #[error("invalid connector options: {0}")]
    Options(#[from] OptionError),
    /// An input file cannot be read, or the output cannot be written.
    #[error("{what}: {source}")]
    Io {
        /// The file or stream.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// Bad input rows (`maxc put`); nothing was committed.
    #[error("{0}; nothing was committed")]
    Data(#[from] DataError),
    /// The driver (service, transport, sink, source) failed.
    #[error("{0}")]
    Driver(#[from] DriverError),
    /// Some upload sessions could not be committed.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The mock server could not start.
    #[error(transparent)]
    Mock(#[from] maxc_mock::cli::StartError),
    /// Output conversion failed.
    #[error("output: {0}")]
    Output(String),
}

/// A connection setting: its flag and environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The flag without dashes (`endpoint`).
    pub flag: &'static str,
    /// The variable (`MAXC_ENDPOINT`).
    pub env: &'static str,
}

impl CliError {
    /// The process exit code of this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_)
            | CliError::MissingConnection { .. }
            | CliError::Options(_)
            | CliError::Driver(DriverError::Options(_)) => EXIT_USAGE,
            CliError::Data(_) => EXIT_DATA,
            CliError::Io { .. }
            | CliError::Driver(_)
            | CliError::Commit(_)
            | CliError::Mock(_)
            | CliError::Output(_) => EXIT_SERVICE,
        })
    }

    /// An I/O error on `what`.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        CliError::Io {
            what: what.into(),
            source,
        }
    }
}
