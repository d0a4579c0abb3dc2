//! `maxc put`: CSV or NDJSON into a table through the batch tunnel.
//!
//! The input is parsed on a blocking thread and handed over in chunks, so parsing overlaps
//! uploading. Every chunk is checked (types, NOT NULL, partition values) before the writer
//! takes it; the first bad row stops the load and nothing is committed (the open upload
//! sessions are left to expire). With `--checkpoint-rows N` the writer closes its sessions
//! every N rows; all sessions are committed once the whole input was taken, checkpoint by
//! checkpoint (so each partition keeps the input's row order).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;

use maxc_core::codec::CodecError;
use maxc_core::options::{SinkConfig, SinkTunnel};
use maxc_core::partition::{RoutingError, SinkPartition};
use maxc_core::sink::{CommitReport, Committable, InputError, SinkError};
use maxc_driver::connect::{api_context, fetch_table, tcp_transport};
use maxc_driver::{Committer, DriverError, SinkWriter};
use tokio::sync::mpsc;

use super::warn;
use crate::args::PutArgs;
use crate::conn::Env;
use crate::data::csv_in::CsvReader;
use crate::data::json_in::JsonReader;
use crate::data::{Chunk, DataError, Format, Lines, Target};
use crate::error::CliError;

/// Chunks parsed ahead of the writer.
const CHUNKS_AHEAD: usize = 2;

/// Options `maxc put` cannot honour (it writes through the batch tunnel and commits only
/// valid input).
const REFUSED_OPTIONS: &[&str] = &["useStreamTunnel", "enableUpsert", "sink.operation"];

/// The format of `file` when `--format` is not given.
pub fn format_for(file: &Path, given: Option<Format>) -> Format {
    given.unwrap_or_else(|| {
        match file
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("json" | "jsonl" | "ndjson") => Format::Json,
            _ => Format::Csv,
        }
    })
}

/// Loads the input and prints what was written and committed.
pub async fn run(args: PutArgs, env: &dyn Env) -> Result<(), CliError> {
    let started = Instant::now();
    let resolved = args.conn.resolve(env)?;
    for key in REFUSED_OPTIONS {
        if resolved.options.contains_key(*key) {
            return Err(CliError::Usage(format!(
                "option `{key}` is not supported by `maxc put`, which writes through the batch tunnel"
            )));
        }
    }
    let format = format_for(&args.file, args.format);
    let mut extra = vec![("tableName", args.table.clone())];
    if let Some(p) = &args.partition {
        extra.push(("partition", p.clone()));
    }
    if let Some(c) = args.compress {
        extra.push(("compressAlgorithm", c.option().to_string()));
    }
    let mut options = resolved.with(&extra);
    let mut parsed = SinkConfig::from_options(&options)?;
    let transport = tcp_transport(&parsed.config.connection);
    let meta = fetch_table(
        &transport,
        &api_context(&parsed.config.connection),
        &args.table,
    )
    .await?;
    let schema = &meta.schema;
    if args.partition.is_none() && schema.is_partitioned() {
        let columns: Vec<&str> = schema
            .partition_columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        options.insert("partition".into(), columns.join(","));
        parsed = SinkConfig::from_options(&options)?;
    }
    for w in &parsed.warnings {
        warn(w.to_string());
    }
    let config = parsed.config;
    if config.tunnel != SinkTunnel::Batch {
        return Err(CliError::Usage(
            "`maxc put` writes through the batch tunnel only".into(),
        ));
    }
    let partition = config.connection.partition.clone().unwrap_or_default();
    let dynamic = match SinkPartition::parse(&partition) {
        Ok(SinkPartition::Dynamic(d)) => d.columns,
        Ok(SinkPartition::Static(_)) => Vec::new(),
        Err(e) => {
            return Err(CliError::Usage(format!("--partition `{partition}`: {e}")));
        }
    };
    let target = Target::new(&args.table, schema, &dynamic);
    let input = open_input(&args.file)?;
    let mut writer = SinkWriter::with_meta(config.clone(), meta.clone(), transport.clone(), None)?;
    let mut committer = Committer::with_transport(&config, transport);

    let (tx, mut rx) = mpsc::channel::<Result<Chunk, DataError>>(CHUNKS_AHEAD);
    let parser = tokio::task::spawn_blocking(move || parse_into(input, format, target, tx));

    // One group of committables per checkpoint (and one for the end of input), committed in
    // that order so that a partition's rows keep the input's order.
    let mut groups: Vec<Vec<Committable>> = Vec::new();
    let mut written: u64 = 0;
    let mut since_checkpoint: u64 = 0;
    let mut checkpoint: u64 = 0;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        let rows = chunk.batch.num_rows() as u64;
        writer
            .write(chunk.batch)
            .await
            .map_err(|e| located(e, &chunk.lines))?;
        written += rows;
        since_checkpoint += rows;
        if let Some(n) = args.checkpoint_rows
            && since_checkpoint >= n
        {
            checkpoint += 1;
            since_checkpoint = 0;
            groups.push(writer.prepare_commit(checkpoint).await?);
        }
    }
    // The parser ended: with an error (already received above) or at the end of the input.
    parser
        .await
        .map_err(|e| CliError::Output(format!("the input parser stopped: {e}")))?;
    groups.push(writer.finish().await?);
    let sessions: usize = groups.iter().map(Vec::len).sum();
    let mut reports = Vec::with_capacity(sessions);
    for group in groups {
        if !group.is_empty() {
            reports.extend(committer.commit(group).await?);
        }
    }
    let failed: Vec<&CommitReport> = reports.iter().filter(|r| !r.outcome.is_success()).collect();
    if !failed.is_empty() {
        let detail: Vec<String> = failed
            .iter()
            .map(|r| {
                format!(
                    "session {} (partition `{}`, {} rows): {:?}",
                    r.committable.session_id, r.committable.partition, r.row_count, r.outcome
                )
            })
            .collect();
        return Err(CliError::Commit(format!(
            "{} of {sessions} upload sessions were not committed: {}",
            failed.len(),
            detail.join("; ")
        )));
    }
    let committed: u64 = reports.iter().map(|r| r.row_count).sum();
    let secs = started.elapsed().as_secs_f64();
    let mut per_partition: BTreeMap<String, u64> = BTreeMap::new();
    for r in &reports {
        *per_partition
            .entry(r.committable.partition.to_tunnel_string())
            .or_default() += r.row_count;
    }
    let mut out = format!(
        "wrote {written} rows, committed {committed} rows to {} in {sessions} upload session{} ({:.3} s, {:.0} rows/s)\n",
        args.table,
        if sessions == 1 { "" } else { "s" },
        secs,
        if secs > 0.0 {
            written as f64 / secs
        } else {
            0.0
        },
    );
    if schema.is_partitioned() {
        for (p, n) in &per_partition {
            out.push_str(&format!("  {p}: {n} rows\n"));
        }
    }
    print!("{out}");
    Ok(())
}

fn open_input(path: &Path) -> Result<Box<dyn BufRead + Send>, CliError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let f = File::open(path).map_err(|e| CliError::io(path.display().to_string(), e))?;
    Ok(Box::new(BufReader::with_capacity(1 << 16, f)))
}

/// Parses `input` and sends its chunks until the end, the first error, or a closed channel.
fn parse_into(
    input: Box<dyn BufRead + Send>,
    format: Format,
    target: Target,
    tx: mpsc::Sender<Result<Chunk, DataError>>,
) {
    let chunks: Box<dyn Iterator<Item = Result<Chunk, DataError>>> = match format {
        Format::Csv => match CsvReader::new(input, target) {
            Ok(r) => Box::new(r),
            Err(e) => Box::new(std::iter::once(Err(e))),
        },
        Format::Json => match JsonReader::new(input, target) {
            Ok(r) => Box::new(r),
            Err(e) => Box::new(std::iter::once(Err(e))),
        },
    };
    for chunk in chunks {
        let stop = chunk.is_err();
        if tx.blocking_send(chunk).is_err() || stop {
            return;
        }
    }
}

/// A writer error; rows the table refused become a [`DataError`] naming the input line.
fn located(e: DriverError, lines: &Lines) -> CliError {
    let DriverError::Sink(sink) = &e else {
        return e.into();
    };
    let SinkError::Input(input) = sink.as_ref() else {
        return e.into();
    };
    let refused = |row: usize, column: &str, reason: String| {
        CliError::Data(DataError::Refused {
            line: lines.line(row),
            column: column.to_string(),
            reason,
        })
    };
    match input {
        InputError::Codec {
            error:
                CodecError::UnencodableValue {
                    column,
                    row,
                    reason,
                },
            ..
        } => refused(*row, column, reason.clone()),
        InputError::Routing(RoutingError::NullValue { column, row }) => {
            CliError::Data(DataError::Null {
                line: lines.line(*row),
                column: column.clone(),
                what: "the partition value",
            })
        }
        InputError::Routing(RoutingError::EmptyValue { column, row }) => refused(
            *row,
            column,
            "the partition value is empty; partition values cannot be empty (there is no default partition)".into(),
        ),
        other => CliError::Data(DataError::Rejected(other.to_string())),
    }
}
