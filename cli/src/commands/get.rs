//! `maxc get`: a table through `Source`, as CSV or NDJSON.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use maxc_core::options::SourceMode;
use maxc_core::source::SourceError;
use maxc_driver::{DriverError, SourceBuilder};

use super::warn;
use crate::args::GetArgs;
use crate::conn::Env;
use crate::data::out::BatchWriter;
use crate::error::CliError;

/// Reads the rows and writes them out.
pub async fn run(args: GetArgs, env: &dyn Env) -> Result<(), CliError> {
    let resolved = args.conn.resolve(env)?;
    let mut extra = vec![("tableName", args.table.clone())];
    if let Some(p) = &args.partition {
        extra.push(("partition", p.clone()));
    }
    if args.arrow {
        extra.push(("useArrow", "true".to_string()));
    }
    let options = resolved.with(&extra);
    let parsed = maxc_core::options::SourceConfig::from_options(&options)?;
    for w in &parsed.warnings {
        warn(w.to_string());
    }
    if matches!(parsed.config.mode, SourceMode::Incremental(_)) {
        return Err(CliError::Usage(
            "`maxc get` reads a table once; `startPartition` (an incremental source) is not supported".into(),
        ));
    }
    let mut builder = SourceBuilder::new(parsed.config).readers(args.readers);
    if let Some(cols) = &args.columns {
        let cols: Vec<String> = cols
            .iter()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if cols.is_empty() {
            return Err(CliError::Usage("--columns names no column".into()));
        }
        builder = builder.projection(cols);
    }
    let mut source = builder.open().await?;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).map_err(|e| CliError::io(path.display().to_string(), e))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, io::stdout().lock())),
    };
    let mut writer = BatchWriter::new(args.format, out);
    let mut rows: u64 = 0;
    let limit = args.limit.unwrap_or(u64::MAX);
    while rows < limit {
        let batch = match source.next_batch().await {
            Ok(Some(b)) => b,
            Ok(None) => break,
            // Every partition of a table that has none: no rows.
            Err(DriverError::Source(e))
                if args.partition.is_none()
                    && matches!(e.as_ref(), SourceError::PartitionNotFound { pattern, .. } if pattern.is_empty()) =>
            {
                break;
            }
            Err(e) => return Err(e.into()),
        };
        let take = (limit - rows).min(batch.num_rows() as u64) as usize;
        let batch = if take < batch.num_rows() {
            batch.slice(0, take)
        } else {
            batch
        };
        rows += take as u64;
        if !write_or_stop(writer.write(&batch))? {
            return Ok(());
        }
    }
    if rows == 0 {
        // A CSV header even without rows.
        let empty = RecordBatch::new_empty(source.schema().clone());
        if !write_or_stop(writer.write(&empty))? {
            return Ok(());
        }
    }
    write_or_stop(writer.finish())?;
    Ok(())
}

/// `Ok(false)` when the reader of the output went away (a closed pipe): stop quietly.
fn write_or_stop(r: Result<(), ArrowError>) -> Result<bool, CliError> {
    match r {
        Ok(()) => Ok(true),
        Err(ArrowError::IoError(_, e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(ArrowError::ExternalError(e))
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(false)
        }
        Err(e) => Err(CliError::Output(e.to_string())),
    }
}
