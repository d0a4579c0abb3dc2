//! `--data-dir`: tables, partitions and rows survive a restart; interrupted writes leave
//! the previous state; segment files are plain Arrow IPC files.

mod common;

use common::{start, temp_dir};
use maxc_core::http::{Method, Request, Service as Layer};
use maxc_mock::MockConfig;
use serde_json::json;

async fn rows(c: &common::Client, table: &str) -> serde_json::Value {
    let r = c
        .send_raw(Request::new(
            Method::Get,
            Layer::Tunnel,
            format!("/_maxc/tables/maxc/{table}/rows"),
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = temp_dir("persist");
    let cfg = MockConfig::default().with_data_dir(&dir).with_seed(3);
    let (h, c) = start(cfg.clone()).await;
    let (s, r) = c
        .run_sql(
            "maxc",
            "CREATE TABLE events (id bigint, v string) PARTITIONED BY (ds string) LIFECYCLE 3",
        )
        .await;
    assert_eq!(s, "Success", "{r}");
    c.run_sql(
        "maxc",
        "ALTER TABLE events ADD PARTITION (ds='1') PARTITION (ds='2')",
    )
    .await;
    let fx = json!({"tables": [{"name": "kv", "columns": [{"name": "k", "type": "string"}, {"name": "v", "type": "map<string,bigint>"}],
        "rows": [{"k": "a", "v": {"x": 1}}, {"k": "b", "v": null}]}]});
    let r = c
        .send_raw(
            Request::new(Method::Post, Layer::Tunnel, "/_maxc/fixtures").with_body(fx.to_string()),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let before = rows(&c, "kv").await;
    let table_before = c
        .rest(Method::Get, "/projects/maxc/tables/events", &[])
        .await
        .text();
    h.shutdown().await;

    // Segment files are Arrow IPC files (magic "ARROW1").
    let segs: Vec<_> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(segs.len(), 1);
    let bytes = std::fs::read(segs[0].path()).unwrap();
    assert_eq!(&bytes[..6], b"ARROW1");
    assert!(dir.join("manifest.json").exists());

    let (h, c) = start(cfg.clone()).await;
    assert_eq!(rows(&c, "kv").await, before);
    assert_eq!(
        c.rest(Method::Get, "/projects/maxc/tables/events", &[])
            .await
            .text(),
        table_before
    );
    let r = c
        .rest(
            Method::Get,
            "/projects/maxc/tables/events",
            &[("partitions", ""), ("expectmarker", "true")],
        )
        .await;
    assert!(r.text().contains("Value=\"1\"") && r.text().contains("Value=\"2\""));

    // Dropping the table deletes its files at the next manifest swap.
    let (s, _) = c.run_sql("maxc", "DROP TABLE kv").await;
    assert_eq!(s, "Success");
    assert_eq!(std::fs::read_dir(dir.join("segments")).unwrap().count(), 0);
    h.shutdown().await;
    let (h, c) = start(cfg).await;
    assert_eq!(
        c.rest(Method::Get, "/projects/maxc/tables/kv", &[])
            .await
            .status,
        404
    );
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn interrupted_writes_leave_previous_state() {
    let dir = temp_dir("crash");
    let cfg = MockConfig::default().with_data_dir(&dir);
    let (h, c) = start(cfg.clone()).await;
    c.run_sql("maxc", "CREATE TABLE t (a bigint)").await;
    h.shutdown().await;
    // A crash mid-commit: a segment written but never referenced, and a half-written
    // manifest temp file.
    std::fs::write(dir.join("segments/00000000000000000999.arrow"), b"partial").unwrap();
    std::fs::write(dir.join("manifest.tmp"), b"{\"format\": 1, \"cata").unwrap();
    let (h, c) = start(cfg.clone()).await;
    assert_eq!(
        c.rest(Method::Get, "/projects/maxc/tables/t", &[])
            .await
            .status,
        200
    );
    assert!(
        !dir.join("segments/00000000000000000999.arrow").exists(),
        "stray segment removed"
    );
    h.shutdown().await;

    // A corrupt manifest refuses to start instead of silently losing data.
    std::fs::write(dir.join("manifest.json"), b"not json").unwrap();
    let err = maxc_mock::MockServer::start(cfg.clone()).await.unwrap_err();
    assert!(err.to_string().contains("manifest.json"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn in_memory_disk_restart_for_simulators() {
    use maxc_mock::storage::MemDisk;
    use maxc_mock::{MockTime, Service, ServiceConfig};
    let disk = MemDisk::new();
    let t0 = MockTime::from_epoch_ms(1_704_067_200_000);
    let mut svc = Service::with_disk(ServiceConfig::default(), Box::new(disk.clone()), t0).unwrap();
    let f: maxc_mock::fixtures::Fixtures = serde_json::from_value(json!({"tables": [{"name": "t",
        "columns": [{"name": "a", "type": "bigint"}], "rows": [[1], [2]]}]}))
    .unwrap();
    svc.load_fixtures(&f, t0).unwrap();
    drop(svc);
    let svc = Service::with_disk(ServiceConfig::default(), Box::new(disk.clone()), t0).unwrap();
    let t = svc.catalog().table("maxc", None, "t").unwrap();
    assert_eq!(t.total_rows(), 2);
    assert!(disk.names().iter().any(|n| n.starts_with("segments/")));
}
