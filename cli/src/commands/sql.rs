//! `maxc sql`: DDL through a SQL instance.

use maxc_driver::connect::run_sql;

use super::{read_stdin, warn};
use crate::args::SqlArgs;
use crate::conn::{Env, client};
use crate::error::CliError;

/// Runs the statement(s) and prints `OK`.
pub async fn run(args: SqlArgs, env: &dyn Env) -> Result<(), CliError> {
    let sql = if args.sql == "-" {
        read_stdin()?
    } else {
        args.sql
    };
    if sql.trim().trim_end_matches(';').trim().is_empty() {
        return Err(CliError::Usage("the SQL text is empty".into()));
    }
    let resolved = args.conn.resolve(env)?;
    let conn = resolved.connection(&mut warn)?;
    let (transport, ctx) = client(&conn);
    run_sql(&transport, &ctx, &sql).await?;
    println!("OK");
    Ok(())
}
