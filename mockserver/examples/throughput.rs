//! In-process throughput of the pure service: batch upload (decode + CRC checks), commit and
//! download (encode) of N rows, without HTTP.
//!
//! `cargo run --release -p maxc-mock --example throughput -- [rows] [rows_per_block]`

use std::time::Instant;

use maxc_core::codec::{decode_all, encode_batches};
use maxc_core::http::{Method, Request, Service as Layer};
use maxc_core::types::Column;
use maxc_mock::values::{Value, build_batch};
use maxc_mock::{MockTime, Service, ServiceConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .get(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let per_block: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let cfg = ServiceConfig {
        auth: false,
        ..ServiceConfig::default()
    };
    let now = MockTime(1_704_067_200_000);
    let mut svc = Service::new(cfg, now);
    let sql = "<Instance><Job><Tasks><SQL><Name>c</Name><Query>CREATE TABLE t (id bigint, score double, name string)</Query></SQL></Tasks></Job></Instance>";
    svc.handle(
        Request::new(Method::Post, Layer::Rest, "/projects/maxc/instances").with_body(sql),
        now,
    );
    let cols: Vec<Column> = [("id", "bigint"), ("score", "double"), ("name", "string")]
        .iter()
        .map(|(n, t)| Column::new(*n, t.parse().unwrap()))
        .collect();
    let block_rows: Vec<Vec<Value>> = (0..per_block)
        .map(|i| {
            vec![
                Value::Int(i as i64),
                Value::Float(i as f64 * 0.5),
                Value::Text(format!("name-{i:08}")),
            ]
        })
        .collect();
    let body = encode_batches(&cols, &[build_batch(&cols, &block_rows).unwrap()]).unwrap();
    let blocks = rows.div_ceil(per_block);
    let r = svc.handle(
        Request::new(Method::Post, Layer::Tunnel, "/projects/maxc/tables/t")
            .with_query("uploads", "1"),
        now,
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let id = v["UploadID"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    for b in 0..blocks {
        let r = svc.handle(
            Request::new(Method::Put, Layer::Tunnel, "/projects/maxc/tables/t")
                .with_query("uploadid", &id)
                .with_query("blockid", b.to_string())
                .with_body(body.clone()),
            now,
        );
        assert_eq!(r.status, 200);
    }
    let up = t0.elapsed();
    let t1 = Instant::now();
    let r = svc.handle(
        Request::new(Method::Post, Layer::Tunnel, "/projects/maxc/tables/t")
            .with_query("uploadid", &id),
        now,
    );
    assert_eq!(r.status, 200);
    let commit = t1.elapsed();
    let r = svc.handle(
        Request::new(Method::Post, Layer::Tunnel, "/projects/maxc/tables/t")
            .with_query("downloads", ""),
        now,
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let did = v["DownloadID"].as_str().unwrap().to_string();
    let total = v["RecordCount"].as_u64().unwrap();
    let t2 = Instant::now();
    let r = svc.handle(
        Request::new(Method::Get, Layer::Tunnel, "/projects/maxc/tables/t")
            .with_query("data", "")
            .with_query("downloadid", &did)
            .with_query("rowrange", format!("(0,{total})")),
        now,
    );
    let down = t2.elapsed();
    assert_eq!(r.status, 200);
    let check = decode_all(&cols, &r.body, 1 << 20).unwrap();
    assert_eq!(
        check.iter().map(|b| b.num_rows() as u64).sum::<u64>(),
        total
    );
    let mb = (body.len() * blocks) as f64 / 1e6;
    println!(
        "rows={total} blocks={blocks} body={mb:.1}MB upload={:.3}s ({:.0} MB/s, {:.2} Mrows/s) commit={:.3}s download={:.3}s ({:.0} MB/s)",
        up.as_secs_f64(),
        mb / up.as_secs_f64(),
        total as f64 / 1e6 / up.as_secs_f64(),
        commit.as_secs_f64(),
        down.as_secs_f64(),
        r.body.len() as f64 / 1e6 / down.as_secs_f64(),
    );
}
