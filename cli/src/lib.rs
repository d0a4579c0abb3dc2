//! # maxc — the command line
//!
//! `maxc mock` serves a local MaxCompute (the `maxc-mock` server), `maxc sql` runs DDL,
//! `maxc put` loads CSV or newline-delimited JSON into a table through the batch tunnel
//! (written by `SinkWriter`, committed by `Committer` only when every row was valid),
//! `maxc get` reads a table (or some partitions) through `Source` and prints CSV or NDJSON,
//! and `maxc tables`, `maxc describe`, `maxc partitions` show what is there.
//!
//! Errors are typed ([`CliError`]) and end the process with a non-zero code:
//! 2 for a bad command line or missing settings, 3 for bad input data (nothing committed),
//! 1 for failures of the service or on the way to it.
#![warn(missing_docs)]

pub mod args;
pub mod commands;
pub mod conn;
pub mod data;
pub mod error;

pub use args::{Cli, Command};
pub use error::CliError;

use conn::Env;

/// Runs one parsed command line to the end.
pub async fn run(cli: Cli, env: &dyn Env) -> Result<(), CliError> {
    match cli.command {
        Command::Mock(args) => Ok(maxc_mock::cli::run(args).await?),
        Command::Sql(a) => commands::sql::run(a, env).await,
        Command::Put(a) => commands::put::run(a, env).await,
        Command::Get(a) => commands::get::run(a, env).await,
        Command::Tables(a) => commands::meta::tables(a, env).await,
        Command::Describe(a) => commands::meta::describe(a, env).await,
        Command::Partitions(a) => commands::meta::partitions(a, env).await,
    }
}
