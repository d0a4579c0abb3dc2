//! End-to-end sink benchmark: rows written through maxc's batch-tunnel sink (`SinkWriter` +
//! `Committer`) to a running maxc-mock, timed from the first write to the committed result.
//! Run by `bench/sink-e2e.sh`, which starts the mock and runs pyodps on the same server.
//!
//! ```text
//! sink_bench --endpoint URL --tunnel-endpoint URL --project P --access-id ID --access-key KEY \
//!            --table T (--partition ds=x | --dynamic-partitions N) [--rows N] [--compress SNAPPY]
//!            [--checkpoint-rows N] [--budget-mb N]
//! ```
//! Prints one JSON object: rows, seconds, rows_per_s, the process's peak RSS (`VmHWM` of
//! /proc/self/status), its heap peak (bytes requested from the allocator, counted by a
//! wrapper around the system allocator) and the writer's accounted memory peak. Rows are
//! generated on the fly (`maxc_bench::codec_batch`), inside the timed loop, as an engine
//! would hand them over. With `--dynamic-partitions N` row `i` goes to partition `ds=p{i % N}`
//! (every batch of 4096 rows touches min(N, 4096) partitions).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use maxc_core::options::{MemorySize, SinkConfig};
use maxc_driver::{Committer, SinkWriter};

const BATCH_ROWS: usize = 4096;

/// The system allocator, counting the bytes the process has allocated (live and peak), so the
/// report can set the heap beside the resident set and the writer's accounting.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn grew(n: usize) {
        let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed through to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            Self::grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn arg(args: &HashMap<String, String>, k: &str) -> Result<String, String> {
    args.get(k).cloned().ok_or_else(|| format!("missing --{k}"))
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Adds a `ds` column (`p00000` ... by row number modulo `parts`) to a codec batch.
fn with_partitions(b: RecordBatch, start: usize, parts: usize) -> RecordBatch {
    let ds: StringArray = (start..start + b.num_rows())
        .map(|i| Some(format!("p{:05}", i % parts)))
        .collect();
    let mut fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("ds", DataType::Utf8, true));
    let mut cols: Vec<ArrayRef> = b.columns().to_vec();
    cols.push(Arc::new(ds));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("valid batch")
}

async fn run(args: HashMap<String, String>) -> Result<serde_json::Value, String> {
    let rows: usize = arg(&args, "rows")
        .unwrap_or("1000000".into())
        .parse()
        .map_err(|e| format!("--rows: {e}"))?;
    let dynamic: Option<usize> = args
        .get("dynamic-partitions")
        .map(|v| v.parse())
        .transpose()
        .map_err(|e| format!("--dynamic-partitions: {e}"))?;
    let checkpoint_rows: usize = arg(&args, "checkpoint-rows")
        .unwrap_or(usize::MAX.to_string())
        .parse()
        .map_err(|e| format!("--checkpoint-rows: {e}"))?;
    let mut opts: HashMap<String, String> = HashMap::new();
    for (k, o) in [
        ("endpoint", "endpoint"),
        ("tunnel-endpoint", "tunnelEndpoint"),
        ("project", "project"),
        ("access-id", "accessId"),
        ("access-key", "accessKey"),
        ("table", "tableName"),
    ] {
        opts.insert(o.into(), arg(&args, k)?);
    }
    opts.insert("connector".into(), "odps".into());
    opts.insert("flushIntervalMs".into(), "0".into());
    opts.insert(
        "compressAlgorithm".into(),
        arg(&args, "compress").unwrap_or("SNAPPY".into()),
    );
    match dynamic {
        Some(n) => {
            opts.insert("partition".into(), "ds".into());
            opts.insert("dynamicPartitionLimit".into(), (n + 1).to_string());
        }
        None => {
            opts.insert("partition".into(), arg(&args, "partition")?);
        }
    }
    if let Ok(extra) = std::env::var("SINK_BENCH_OPTS") {
        for kv in extra.split(';').filter(|s| !s.is_empty()) {
            if let Some((k, v)) = kv.split_once('=') {
                opts.insert(k.into(), v.into());
            }
        }
    }
    let mut config = SinkConfig::from_options(&opts)
        .map_err(|e| e.to_string())?
        .config;
    if let Some(mb) = args.get("budget-mb") {
        let mb: u64 = mb.parse().map_err(|e| format!("--budget-mb: {e}"))?;
        config.memory_budget = MemorySize(mb << 20);
    }
    let started = Instant::now();
    let mut writer = SinkWriter::open_config(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let mut committer = Committer::open(&opts).map_err(|e| e.to_string())?;
    let mut committed = 0u64;
    let mut since_checkpoint = 0usize;
    let mut checkpoint = 0u64;
    let mut start = 0;
    while start < rows {
        let n = BATCH_ROWS.min(rows - start);
        let mut b = maxc_bench::codec_batch(start, n);
        if let Some(parts) = dynamic {
            b = with_partitions(b, start, parts);
        }
        writer.write(b).await.map_err(|e| e.to_string())?;
        start += n;
        since_checkpoint += n;
        if since_checkpoint >= checkpoint_rows {
            checkpoint += 1;
            let c = writer
                .prepare_commit(checkpoint)
                .await
                .map_err(|e| e.to_string())?;
            for r in committer.commit(c).await.map_err(|e| e.to_string())? {
                if !r.outcome.is_success() {
                    return Err(format!("commit failed: {:?}", r.outcome));
                }
                committed += r.row_count;
            }
            since_checkpoint = 0;
        }
    }
    let t_written = started.elapsed().as_secs_f64();
    let c = writer.finish().await.map_err(|e| e.to_string())?;
    let t_finished = started.elapsed().as_secs_f64();
    for r in committer.commit(c).await.map_err(|e| e.to_string())? {
        if !r.outcome.is_success() {
            return Err(format!("commit failed: {:?}", r.outcome));
        }
        committed += r.row_count;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("# phases: written {t_written:.2}s finished {t_finished:.2}s committed {secs:.2}s");
    let mem = writer.memory();
    Ok(serde_json::json!({
        "client": "maxc",
        "rows": rows,
        "committed_rows": committed,
        "seconds": secs,
        "rows_per_s": rows as f64 / secs,
        "compress": opts["compressAlgorithm"],
        "dynamic_partitions": dynamic,
        "peak_rss_mb": peak_rss_kb() as f64 / 1024.0,
        "heap_peak_mb": PEAK.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0),
        "writer_accounted_peak_mb": mem.peak as f64 / (1024.0 * 1024.0),
        "writer_budget_mb": mem.limit as f64 / (1024.0 * 1024.0),
        "partition_cost_kib": maxc_core::sink::PARTITION_COST as f64 / 1024.0,
    }))
}

fn main() {
    let mut args = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let Some(k) = k.strip_prefix("--") else {
            eprintln!("unexpected argument {k}");
            std::process::exit(2);
        };
        let v = it.next().unwrap_or_default();
        args.insert(k.to_string(), v);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("sink_bench: {e}");
            std::process::exit(1);
        }
    }
}
