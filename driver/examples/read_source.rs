//! Reads a table (or some of its partitions) through the async [`Source`] and prints row
//! counts per partition and per reader.
//!
//! Against a local mock, after writing some rows with the `write_sink` example:
//!
//! ```sh
//! cargo run --release -p maxc-mock -- --port 8080 &
//! cargo run -p maxc-driver --example write_sink -- orders ds=20240101 100000
//! cargo run -p maxc-driver --example read_source -- orders ds=20240101 4
//! cargo run -p maxc-driver --example read_source -- orders ds=20240101 4 arrow
//! ```
//!
//! Arguments: table (default `orders`), partition (default: every partition; `-` for none),
//! readers (default 2), and `arrow` to read through the Arrow tunnel (ZSTD). Connection
//! settings as in `write_sink` (`MAXC_MOCK_*`, defaulting to the mock's defaults).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use maxc_driver::SourceBuilder;

fn env(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let table = arg(0, "orders");
    let partition = arg(1, "-");
    let readers: u32 = arg(2, "2").parse()?;
    let arrow = arg(3, "") == "arrow";

    let mut opts: HashMap<String, String> = [
        ("connector", "odps".to_string()),
        (
            "endpoint",
            env("MAXC_MOCK_ENDPOINT", "http://127.0.0.1:8080/api"),
        ),
        ("project", env("MAXC_MOCK_PROJECT", "maxc")),
        ("accessId", env("MAXC_MOCK_ACCESS_ID", "maxc-access-id")),
        ("accessKey", env("MAXC_MOCK_ACCESS_KEY", "maxc-access-key")),
        ("tableName", table.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if partition != "-" {
        opts.insert("partition".into(), partition.clone());
    }
    if arrow {
        opts.insert("useArrow".into(), "true".into());
        opts.insert("compressCodec".into(), "ZSTD".into());
    }

    let started = Instant::now();
    let mut source = SourceBuilder::from_options(&opts)?
        .readers(readers)
        .open()
        .await?;
    let partition_columns: Vec<String> = source
        .table_schema()
        .partition_columns
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let mut per_partition: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(read) = source.next_read().await? {
        let b = &read.batch;
        // The partition of the batch, from its partition columns (one partition per batch).
        let key = partition_columns
            .iter()
            .filter_map(|c| {
                let col = b.column_by_name(c)?;
                let s = col.as_string_opt::<i32>()?;
                (!s.is_empty()).then(|| format!("{c}={}", s.value(0)))
            })
            .collect::<Vec<_>>()
            .join(",");
        *per_partition.entry(key).or_default() += b.num_rows() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    for (p, n) in &per_partition {
        println!(
            "{:<30} {n:>12} rows",
            if p.is_empty() { "(table)" } else { p }
        );
    }
    let stats = source.stats();
    println!("rows per reader: {:?}", stats.rows_per_reader);
    println!(
        "read {} rows in {} batches from {table} in {secs:.2} s ({:.0} rows/s, {})",
        stats.rows,
        stats.batches,
        stats.rows as f64 / secs,
        if arrow { "arrow" } else { "record" }
    );
    Ok(())
}
