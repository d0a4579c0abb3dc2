//! Loads a dimension table through [`LookupTable`] and looks keys up; with a TTL it keeps
//! running and reports each reload (to the newest partition with `max_pt()`).
//!
//! Against a local mock, after writing rows with the `write_sink` example:
//!
//! ```sh
//! cargo run --release -p maxc-mock -- --port 8080 &
//! cargo run -p maxc-driver --example write_sink -- orders ds=20240101 1000
//! cargo run -p maxc-driver --example lookup -- orders 'max_pt()' 1,42,999
//! # reload every 2 s for 10 s; write ds=20240102 meanwhile to see the switch:
//! cargo run -p maxc-driver --example lookup -- orders 'max_pt()' 1,42 2000 10
//! ```
//!
//! Arguments: table (default `orders`), partition (default `max_pt()`), comma-separated
//! BIGINT keys of column `id` (default `1,2,3`), `cacheTTLMs` (default: never reload),
//! seconds to keep watching (default 0). Connection settings as in `write_sink`.

use std::collections::HashMap;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use maxc_core::lookup::{KeySpec, LookupKey};
use maxc_driver::LookupTable;

fn env(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

fn show(rows: &[RecordBatch]) -> String {
    rows.iter()
        .map(|b| {
            (0..b.num_columns())
                .map(|c| {
                    let col = b.column(c);
                    let name = b.schema().field(c).name().clone();
                    let v = text(col.as_ref());
                    format!("{name}={v}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The first value of `a` as text (the types the example's table has).
fn text(a: &dyn Array) -> String {
    if a.is_null(0) {
        return "NULL".into();
    }
    if let Some(v) = a.as_primitive_opt::<Int64Type>() {
        return v.value(0).to_string();
    }
    if let Some(v) = a.as_primitive_opt::<Float64Type>() {
        return v.value(0).to_string();
    }
    if let Some(v) = a.as_string_opt::<i32>() {
        return v.value(0).to_string();
    }
    format!("<{}>", a.data_type())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let table = arg(0, "orders");
    let partition = arg(1, "max_pt()");
    let keys: Vec<i64> = arg(2, "1,2,3")
        .split(',')
        .map(|k| k.trim().parse())
        .collect::<Result<_, _>>()?;
    let ttl = arg(3, "");
    let watch_secs: u64 = arg(4, "0").parse()?;

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
        ("partition", partition.clone()),
        ("cache", "ALL".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if !ttl.is_empty() {
        opts.insert("cacheTTLMs".into(), ttl);
    }

    let table_handle = LookupTable::open(&opts, KeySpec::primary(["id"])).await?;
    let lookup_all = |t: &LookupTable| {
        let status = t.status();
        let parts: Vec<String> = status.partitions.iter().map(|p| p.to_string()).collect();
        println!(
            "generation {} ({} rows, partitions {parts:?})",
            t.generation(),
            t.cache().row_count()
        );
        for k in &keys {
            let rows = t.get(&LookupKey::single(*k));
            println!(
                "  id={k}: {}",
                if rows.is_empty() {
                    "not found".into()
                } else {
                    show(&rows)
                }
            );
        }
    };
    lookup_all(&table_handle);
    let mut seen = table_handle.generation();
    for _ in 0..watch_secs * 4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if table_handle.generation() != seen {
            seen = table_handle.generation();
            lookup_all(&table_handle);
        }
    }
    table_handle.close().await;
    Ok(())
}
