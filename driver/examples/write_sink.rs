//! Writes rows into a MaxCompute table through the async [`SinkWriter`] (batch tunnel) with a
//! few checkpoints, committing each checkpoint's sessions with the [`Committer`] and printing
//! the commit reports.
//!
//! Against a local mock (the defaults below are the mock's defaults):
//!
//! ```sh
//! cargo run --release -p maxc-mock -- --port 8080 &     # prints MAXC_MOCK_* settings
//! cargo run -p maxc-driver --example write_sink -- orders ds=20240101 100000 4
//! ```
//!
//! Arguments: table (default `orders`), partition (default `ds=20240101`), rows (default
//! 100000), checkpoints (default 4). The table `(id bigint, name string, amount double)
//! PARTITIONED BY (ds string)` is created if it does not exist. Connection settings come from
//! `MAXC_MOCK_ENDPOINT`, `MAXC_MOCK_PROJECT`, `MAXC_MOCK_ACCESS_ID`, `MAXC_MOCK_ACCESS_KEY`
//! (the lines the mock prints), defaulting to `http://127.0.0.1:8080/api`, `maxc`,
//! `maxc-access-id`, `maxc-access-key`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use maxc_driver::connect::{api_context, run_sql, tcp_transport};
use maxc_driver::{Committer, SinkWriter};

fn env(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

fn options(table: &str, partition: &str) -> HashMap<String, String> {
    [
        ("connector", "odps".to_string()),
        (
            "endpoint",
            env("MAXC_MOCK_ENDPOINT", "http://127.0.0.1:8080/api"),
        ),
        ("project", env("MAXC_MOCK_PROJECT", "maxc")),
        ("accessId", env("MAXC_MOCK_ACCESS_ID", "maxc-access-id")),
        ("accessKey", env("MAXC_MOCK_ACCESS_KEY", "maxc-access-key")),
        ("tableName", table.to_string()),
        ("partition", partition.to_string()),
        ("flushIntervalMs", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn batch(start: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|i| format!("name-{i}")),
        )),
        Arc::new(Float64Array::from_iter_values(
            ids.iter().map(|&i| i as f64 * 0.25),
        )),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).expect("a valid batch")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let table = arg(0, "orders");
    let partition = arg(1, "ds=20240101");
    let rows: usize = arg(2, "100000").parse()?;
    let checkpoints: usize = arg(3, "4").parse::<usize>()?.max(1);
    let opts = options(&table, &partition);

    let config = maxc_core::options::SinkConfig::from_options(&opts)?.config;
    let transport = tcp_transport(&config.connection);
    run_sql(
        &transport,
        &api_context(&config.connection),
        &format!(
            "CREATE TABLE IF NOT EXISTS {table} (id bigint, name string, amount double) PARTITIONED BY (ds string)"
        ),
    )
    .await?;

    let started = Instant::now();
    let mut writer = SinkWriter::open(&opts).await?;
    let mut committer = Committer::open(&opts)?;
    let per_checkpoint = rows.div_ceil(checkpoints);
    let mut written = 0usize;
    for checkpoint in 1..=checkpoints as u64 {
        let end = (written + per_checkpoint).min(rows);
        while written < end {
            let n = (end - written).min(8_192);
            writer.write(batch(written as i64, n)).await?;
            written += n;
        }
        let committables = writer.prepare_commit(checkpoint).await?;
        for r in committer.commit(committables).await? {
            println!(
                "checkpoint {checkpoint}: session {} partition {} rows {} blocks {:?} -> {:?}",
                r.committable.session_id,
                r.committable.partition,
                r.row_count,
                r.committable.block_ids,
                r.outcome
            );
        }
    }
    let rest = writer.finish().await?;
    for r in committer.commit(rest).await? {
        println!(
            "final: session {} rows {} -> {:?}",
            r.committable.session_id, r.row_count, r.outcome
        );
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "wrote {written} rows into {table} {partition} in {secs:.2} s ({:.0} rows/s)",
        written as f64 / secs
    );
    Ok(())
}
