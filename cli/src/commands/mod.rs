//! One module per command.

use std::io::{self, Read};

use maxc_core::api::ApiError;
use maxc_core::machine::TransportError;
use maxc_driver::DriverError;

use crate::error::CliError;

pub mod get;
pub mod meta;
pub mod put;
pub mod sql;

/// Prints a warning to stderr.
pub(crate) fn warn(message: String) {
    eprintln!("maxc: warning: {message}");
}

pub(crate) fn api(e: ApiError) -> CliError {
    CliError::Driver(DriverError::Api(Box::new(e)))
}

pub(crate) fn transport(e: TransportError) -> CliError {
    CliError::Driver(DriverError::Transport(e))
}

/// Reads all of standard input as text.
pub(crate) fn read_stdin() -> Result<String, CliError> {
    let mut s = String::new();
    io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::io("standard input", e))?;
    Ok(s)
}
