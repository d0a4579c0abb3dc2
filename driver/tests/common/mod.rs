//! Shared helpers of the driver's integration tests: an in-process mock on loopback, tables
//! created through its admin API, rows loaded through the sink driver.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use maxc_core::http::{Method, Request, Response, Service};
use maxc_driver::transport::TransportConfig;
use maxc_driver::{Committer, HyperTransport, SinkWriter, Transport};
use maxc_mock::{MockConfig, MockServer, MockServerHandle};

/// A row as `(id, name, ds)`.
pub type Row = (i64, Option<String>, String);

/// A running mock plus an unsigned client for its admin API.
pub struct Env {
    pub server: MockServerHandle,
    admin: HyperTransport,
}

impl Env {
    pub async fn start() -> Env {
        let server = MockServer::start(MockConfig::default())
            .await
            .expect("the mock starts on loopback");
        let mut cfg = TransportConfig::new(server.endpoint(), server.project());
        cfg.tunnel_endpoint = Some(server.tunnel_endpoint());
        let admin = HyperTransport::tcp(cfg, None);
        Env { server, admin }
    }

    /// The general options of `table` (tunnel endpoint discovered, signed requests).
    pub fn options(&self, table: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = [
            ("connector", "odps".to_string()),
            ("endpoint", self.server.endpoint()),
            ("project", self.server.project().to_string()),
            ("tableName", table.to_string()),
            ("accessId", self.server.access_id().to_string()),
            ("accessKey", self.server.access_key().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in extra {
            m.insert(k.to_string(), v.to_string());
        }
        m
    }

    pub async fn admin(&self, method: Method, path: &str, body: &str) -> Response {
        let req = Request::new(method, Service::Tunnel, format!("/_maxc{path}"))
            .with_body(body.to_string());
        self.admin
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("admin call {path} failed: {e}"))
    }

    /// Runs DDL through the admin API.
    pub async fn sql(&self, sql: &str) {
        let r = self.admin(Method::Post, "/sql", sql).await;
        assert!(
            r.is_success(),
            "{sql}: HTTP {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }

    /// Expires a download (or upload) session now.
    pub async fn expire_session(&self, id: &str) {
        let r = self
            .admin(Method::Post, &format!("/sessions/{id}/expire"), "")
            .await;
        assert!(
            r.is_success(),
            "expire {id}: HTTP {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }

    /// Adds a fault rule (JSON as `POST /_maxc/faults` takes it).
    pub async fn fault(&self, rule: serde_json::Value) {
        let r = self.admin(Method::Post, "/faults", &rule.to_string()).await;
        assert!(r.is_success(), "fault rule: HTTP {}", r.status);
    }

    /// Creates `name (id bigint, name string) partitioned by (ds string)`.
    pub async fn create_partitioned(&self, name: &str) {
        self.sql(&format!(
            "CREATE TABLE {name} (id bigint, name string) PARTITIONED BY (ds string)"
        ))
        .await;
    }

    /// Writes `batches` into `partition` of `table` through `SinkWriter` (batch tunnel), one
    /// checkpoint per batch, and commits every checkpoint through the `Committer`.
    pub async fn load(&self, table: &str, partition: &str, batches: Vec<RecordBatch>) {
        let opts = self.options(table, &[("partition", partition), ("flushIntervalMs", "0")]);
        let mut writer = SinkWriter::open(&opts).await.expect("sink writer opens");
        let mut committer = Committer::open(&opts).expect("committer opens");
        for (i, b) in batches.into_iter().enumerate() {
            writer.write(b).await.expect("write");
            let c = writer.prepare_commit(i as u64 + 1).await.expect("prepare");
            for r in committer.commit(c).await.expect("commit") {
                assert!(r.outcome.is_success(), "commit outcome {:?}", r.outcome);
            }
        }
        let rest = writer.finish().await.expect("finish");
        committer.commit(rest).await.expect("final commit");
    }
}

/// Rows `start .. start + n` of `(id bigint, name string)`: name is `n{id}`, NULL every 7th.
pub fn rows(start: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let names: Vec<Option<String>> = ids
        .iter()
        .map(|i| (i % 7 != 0).then(|| format!("n{i}")))
        .collect();
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(StringArray::from(names)),
    ];
    RecordBatch::try_new(Arc::new(schema), cols).expect("rows")
}

/// `rows(start, total)` cut into batches of `per`.
pub fn row_batches(start: i64, total: usize, per: usize) -> Vec<RecordBatch> {
    (0..total)
        .step_by(per)
        .map(|o| rows(start + o as i64, per.min(total - o)))
        .collect()
}

/// `(id, name, ds)` of every row of `batch` (columns found by name).
pub fn triples(batch: &RecordBatch) -> Vec<(i64, Option<String>, String)> {
    let id = batch
        .column_by_name("id")
        .expect("id column")
        .as_primitive::<Int64Type>()
        .clone();
    let name = batch
        .column_by_name("name")
        .map(|c| c.as_string::<i32>().clone());
    let ds = batch
        .column_by_name("ds")
        .map(|c| c.as_string::<i32>().clone());
    (0..batch.num_rows())
        .map(|i| {
            (
                id.value(i),
                name.as_ref()
                    .and_then(|c| (!c.is_null(i)).then(|| c.value(i).to_string())),
                ds.as_ref()
                    .map(|c| c.value(i).to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Counts of each id over `rows`.
pub fn id_counts(rows: &[(i64, Option<String>, String)]) -> BTreeMap<i64, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r.0).or_insert(0) += 1;
    }
    m
}

/// Asserts every id of `expected` appears exactly once in `rows` and nothing else does,
/// with the right name and partition value.
pub fn assert_exactly_once(rows: &[(i64, Option<String>, String)], expected: &[(i64, &str)]) {
    let counts = id_counts(rows);
    let dupes: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(dupes.is_empty(), "duplicated ids: {dupes:?}");
    let want: BTreeMap<i64, &str> = expected.iter().copied().collect();
    let missing: Vec<_> = want
        .keys()
        .filter(|k| !counts.contains_key(k))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "missing ids (first 5): {missing:?}");
    let extra: Vec<_> = counts
        .keys()
        .filter(|k| !want.contains_key(k))
        .take(5)
        .collect();
    assert!(extra.is_empty(), "unexpected ids (first 5): {extra:?}");
    for (id, name, ds) in rows {
        let expected_name = (id % 7 != 0).then(|| format!("n{id}"));
        assert_eq!(name, &expected_name, "name of id {id}");
        assert_eq!(ds.as_str(), want[id], "partition of id {id}");
    }
}
