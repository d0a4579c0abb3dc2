//! Read throughput: maxc's source (record and Arrow paths) against pyodps's download readers
//! (record reader and Arrow reader), all reading the same partition of a running `maxc-mock`
//! on loopback, in one run.
//!
//! ```sh
//! bash bench/peer/setup-venv.sh
//! cargo build --release -p maxc-mock -p maxc-bench --bin read_bench
//! target/release/read_bench                 # --rows 1000000 --runs 3 --python bench/peer/.venv/bin/python
//! ```
//!
//! What it does:
//!
//! 1. starts `target/release/maxc-mock --port 0` (the binary next to this one; `--mock PATH`
//!    to choose) as a separate process, so server work never shares this process;
//! 2. creates `bench_read (id bigint, name string, score double, flag boolean, ts datetime,
//!    amount decimal(18,2)) PARTITIONED BY (ds string)` with a signed SQL instance and loads
//!    `--rows` rows of the codec workload (`maxc_bench::codec_batches`, the rows of
//!    `bench/peer/pyodps_codec.py`) into `ds=20240101` through the maxc sink driver;
//! 3. measures, each the best of `--runs` runs, wall time from opening the reader (table
//!    metadata, download session) to the last row:
//!    - maxc record path (`Source`, one reader, record tunnel, RAW and SNAPPY),
//!    - maxc Arrow path (`Source` with `useArrow`, one reader, no compression and ZSTD),
//!    - pyodps record reader (`create_download_session` + `open_record_reader`, RAW),
//!    - pyodps Arrow reader (`open_arrow_reader`, no compression),
//!
//!    plus maxc with two readers (two splits) for each path. Every reader's row count and id
//!    sum are checked against the data written.
//! 4. prints one line per measurement and a Markdown table.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use maxc_bench::codec_batches;
use maxc_driver::connect::{api_context, run_sql, tcp_transport};
use maxc_driver::{Committer, SinkWriter, SourceBuilder};

/// A maxc measurement: name, extra options, readers.
type Case = (&'static str, Vec<(&'static str, &'static str)>, u32);

const TABLE: &str = "bench_read";
const PARTITION: &str = "ds=20240101";

struct Args {
    rows: usize,
    runs: usize,
    python: PathBuf,
    mock: PathBuf,
    skip_pyodps: bool,
}

fn parse_args() -> Result<Args, String> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_default();
    let mut a = Args {
        rows: 1_000_000,
        runs: 3,
        python: PathBuf::from("bench/peer/.venv/bin/python"),
        mock: exe_dir.join("maxc-mock"),
        skip_pyodps: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rows" => a.rows = value()?.parse().map_err(|e| format!("--rows: {e}"))?,
            "--runs" => a.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--python" => a.python = PathBuf::from(value()?),
            "--mock" => a.mock = PathBuf::from(value()?),
            "--skip-pyodps" => a.skip_pyodps = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    a.runs = a.runs.max(1);
    Ok(a)
}

/// The mock process; killed when dropped.
struct Mock {
    child: Child,
    endpoint: String,
    project: String,
    access_id: String,
    access_key: String,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mock(path: &PathBuf) -> Result<Mock, String> {
    let mut child = Command::new(path)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "starting {}: {e} (build it with cargo build --release -p maxc-mock)",
                path.display()
            )
        })?;
    let stdout = child.stdout.take().ok_or("no stdout of the mock")?;
    let mut settings = HashMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading the mock's settings: {e}"))?;
        if let Some((k, v)) = line.split_once('=') {
            settings.insert(k.to_string(), v.to_string());
        }
        if settings.contains_key("MAXC_MOCK_AUTH") {
            break;
        }
    }
    let get = |k: &str| {
        settings
            .get(k)
            .cloned()
            .ok_or_else(|| format!("the mock did not print {k}"))
    };
    Ok(Mock {
        endpoint: get("MAXC_MOCK_ENDPOINT")?,
        project: get("MAXC_MOCK_PROJECT")?,
        access_id: get("MAXC_MOCK_ACCESS_ID")?,
        access_key: get("MAXC_MOCK_ACCESS_KEY")?,
        child,
    })
}

fn options(mock: &Mock, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = [
        ("connector", "odps".to_string()),
        ("endpoint", mock.endpoint.clone()),
        ("project", mock.project.clone()),
        ("accessId", mock.access_id.clone()),
        ("accessKey", mock.access_key.clone()),
        ("tableName", TABLE.to_string()),
        ("partition", PARTITION.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        m.insert(k.to_string(), v.to_string());
    }
    m
}

async fn load(mock: &Mock, rows: usize) -> Result<Duration, Box<dyn std::error::Error>> {
    let opts = options(mock, &[("flushIntervalMs", "0")]);
    let config = maxc_core::options::SinkConfig::from_options(&opts)?.config;
    run_sql(
        &tcp_transport(&config.connection),
        &api_context(&config.connection),
        "CREATE TABLE IF NOT EXISTS bench_read (id bigint, name string, score double, \
         flag boolean, ts datetime, amount decimal(18,2)) PARTITIONED BY (ds string)",
    )
    .await?;
    let started = Instant::now();
    let mut writer = SinkWriter::open(&opts).await?;
    let mut committer = Committer::open(&opts)?;
    for (i, b) in codec_batches(rows, 65_536).into_iter().enumerate() {
        writer.write(b).await?;
        if i % 4 == 3 {
            let c = writer.prepare_commit(i as u64).await?;
            check_commits(committer.commit(c).await?)?;
        }
    }
    let c = writer.finish().await?;
    check_commits(committer.commit(c).await?)?;
    Ok(started.elapsed())
}

fn check_commits(reports: Vec<maxc_core::sink::CommitReport>) -> Result<(), String> {
    for r in reports {
        if !r.outcome.is_success() {
            return Err(format!("commit failed: {:?}", r.outcome));
        }
    }
    Ok(())
}

/// One measurement: rows, id sum, wall seconds.
struct Measured {
    rows: u64,
    id_sum: i128,
    secs: f64,
}

async fn maxc_read(
    mock: &Mock,
    extra: &[(&str, &str)],
    readers: u32,
) -> Result<Measured, Box<dyn std::error::Error>> {
    let opts = options(mock, extra);
    let started = Instant::now();
    let mut builder = SourceBuilder::from_options(&opts)?.readers(readers);
    if readers > 1 {
        // Record reads: one split per reader (Arrow reads are cut by `splitSize`).
        builder = builder.split_rows(500_000);
    }
    let mut source = builder.open().await?;
    let mut rows = 0u64;
    let mut id_sum = 0i128;
    while let Some(b) = source.next_batch().await? {
        rows += b.num_rows() as u64;
        let ids = b
            .column_by_name("id")
            .ok_or("no id column")?
            .as_primitive::<Int64Type>();
        id_sum += ids.values().iter().map(|&v| v as i128).sum::<i128>();
    }
    Ok(Measured {
        rows,
        id_sum,
        secs: started.elapsed().as_secs_f64(),
    })
}

fn pyodps_read(args: &Args, mock: &Mock, mode: &str) -> Result<Measured, String> {
    let script = PathBuf::from("bench/peer/pyodps_read.py");
    let out = Command::new(&args.python)
        .arg(&script)
        .args(["--endpoint", &mock.endpoint])
        .args(["--project", &mock.project])
        .args(["--access-id", &mock.access_id])
        .args(["--access-key", &mock.access_key])
        .args(["--table", TABLE, "--partition", PARTITION, "--mode", mode])
        .args(["--runs", &args.runs.to_string()])
        .output()
        .map_err(|e| {
            format!(
                "running {}: {e} (run bash bench/peer/setup-venv.sh)",
                args.python.display()
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "pyodps_read.py --mode {mode} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("pyodps_read.py output: {e}"))?;
    let num = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_f64())
            .ok_or(format!("no {k} in {v}"))
    };
    Ok(Measured {
        rows: num("rows")? as u64,
        id_sum: v
            .get("id_sum")
            .and_then(|x| x.as_str())
            .and_then(|s| s.parse().ok())
            .ok_or(format!("no id_sum in {v}"))?,
        secs: num("best_secs")?,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let mock = start_mock(&args.mock)?;
    eprintln!("mock at {}", mock.endpoint);
    let load_time = load(&mock, args.rows).await?;
    eprintln!(
        "loaded {} rows in {:.2} s through the sink driver",
        args.rows,
        load_time.as_secs_f64()
    );
    let want_rows = args.rows as u64;
    let want_sum: i128 = (0..args.rows as i128).sum();

    let cases: Vec<Case> = vec![
        (
            "maxc record, RAW, 1 reader",
            vec![("compressAlgorithm", "RAW")],
            1,
        ),
        (
            "maxc record, SNAPPY, 1 reader",
            vec![("compressAlgorithm", "SNAPPY")],
            1,
        ),
        (
            "maxc Arrow, uncompressed, 1 reader",
            vec![("useArrow", "true")],
            1,
        ),
        (
            "maxc Arrow, ZSTD, 1 reader",
            vec![("useArrow", "true"), ("compressCodec", "ZSTD")],
            1,
        ),
        (
            "maxc record, RAW, 2 readers",
            vec![("compressAlgorithm", "RAW")],
            2,
        ),
        (
            // ~77 estimated bytes per row: two splits of 1 M rows.
            "maxc Arrow, uncompressed, 2 readers",
            vec![("useArrow", "true"), ("splitSize", "40 mb")],
            2,
        ),
    ];
    let mut results: Vec<(String, Measured)> = Vec::new();
    for (name, extra, readers) in &cases {
        let mut best: Option<Measured> = None;
        for _ in 0..args.runs {
            let m = maxc_read(&mock, extra, *readers).await?;
            if m.rows != want_rows || m.id_sum != want_sum {
                return Err(format!(
                    "{name}: read {} rows (id sum {}), expected {want_rows} ({want_sum})",
                    m.rows, m.id_sum
                )
                .into());
            }
            if best.as_ref().is_none_or(|b| m.secs < b.secs) {
                best = Some(m);
            }
        }
        if let Some(b) = best {
            eprintln!("{name}: {:.0} rows/s", b.rows as f64 / b.secs);
            results.push((name.to_string(), b));
        }
    }
    if !args.skip_pyodps {
        for (name, mode) in [
            ("pyodps open_record_reader, RAW", "record"),
            ("pyodps open_arrow_reader, uncompressed", "arrow"),
        ] {
            let m = pyodps_read(&args, &mock, mode)?;
            if m.rows != want_rows || m.id_sum != want_sum {
                return Err(format!(
                    "{name}: read {} rows (id sum {}), expected {want_rows} ({want_sum})",
                    m.rows, m.id_sum
                )
                .into());
            }
            eprintln!("{name}: {:.0} rows/s", m.rows as f64 / m.secs);
            results.push((name.to_string(), m));
        }
    }

    println!(
        "| reader | rows | wall time (best of {}) | rows/s |",
        args.runs
    );
    println!("|---|---:|---:|---:|");
    for (name, m) in &results {
        println!(
            "| {name} | {} | {:.3} s | {:.0} |",
            m.rows,
            m.secs,
            m.rows as f64 / m.secs
        );
    }
    Ok(())
}
