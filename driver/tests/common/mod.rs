//! Shared helpers for driver integration tests: an in-process maxc-mock on loopback, DDL and
//! row inspection through its admin API, connector option maps.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use maxc_core::http::{Method, Request, Service};
use maxc_driver::{HyperTransport, Transport, TransportConfig};
use maxc_mock::{MockConfig, MockServer, MockServerHandle};

/// A running mock plus an unsigned admin transport.
pub struct Mock {
    pub handle: MockServerHandle,
    admin: HyperTransport,
}

impl Mock {
    pub async fn start() -> Mock {
        let handle = MockServer::start(MockConfig::default())
            .await
            .expect("mock starts");
        let mut cfg = TransportConfig::new(handle.endpoint(), handle.project().to_string());
        cfg.tunnel_endpoint = Some(handle.tunnel_endpoint());
        let admin = HyperTransport::tcp(cfg, None);
        Mock { handle, admin }
    }

    /// Runs DDL through the admin API; panics on failure (test setup).
    pub async fn sql(&self, ddl: &str) {
        let req =
            Request::new(Method::Post, Service::Tunnel, "/_maxc/sql").with_body(ddl.to_string());
        let resp = self.admin.send(req).await.expect("admin reachable");
        assert!(
            resp.is_success(),
            "DDL failed: {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        );
    }

    /// Every committed row of a table (partition values included), as JSON objects.
    pub async fn rows(&self, table: &str) -> Vec<serde_json::Value> {
        let path = format!("/_maxc/tables/{}/{}/rows", self.handle.project(), table);
        let req = Request::new(Method::Get, Service::Tunnel, path).with_query("limit", "100000000");
        let resp = self.admin.send(req).await.expect("admin reachable");
        assert!(
            resp.is_success(),
            "rows failed: {}",
            String::from_utf8_lossy(&resp.body)
        );
        let v: serde_json::Value = serde_json::from_slice(&resp.body).expect("json");
        match v {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Object(mut o) => match o.remove("rows") {
                Some(serde_json::Value::Array(a)) => a,
                other => panic!("unexpected rows document: {other:?}"),
            },
            other => panic!("unexpected rows document: {other:?}"),
        }
    }

    /// Ids (`id` column) of every committed row, sorted.
    pub async fn ids(&self, table: &str) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .rows(table)
            .await
            .iter()
            .map(|r| r["id"].as_i64().expect("id is a number"))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Connector options for `table` (batch tunnel, no timer flush).
    pub fn options(&self, table: &str) -> HashMap<String, String> {
        let h = &self.handle;
        [
            ("connector", "odps".to_string()),
            ("endpoint", h.endpoint()),
            ("tunnelEndpoint", h.tunnel_endpoint()),
            ("project", h.project().to_string()),
            ("tableName", table.to_string()),
            ("accessId", h.access_id().to_string()),
            ("accessKey", h.access_key().to_string()),
            ("flushIntervalMs", "0".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// A batch of `(id, name[, ds])` rows for ids in `ids`.
pub fn batch(
    ids: impl IntoIterator<Item = i64>,
    ds: Option<&dyn Fn(i64) -> String>,
) -> RecordBatch {
    let mut id = Int64Builder::new();
    let mut name = StringBuilder::new();
    let mut part = StringBuilder::new();
    for i in ids {
        id.append_value(i);
        name.append_value(format!("name-{i}"));
        if let Some(f) = ds {
            part.append_value(f(i));
        }
    }
    let mut fields = vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![Arc::new(id.finish()), Arc::new(name.finish())];
    if ds.is_some() {
        fields.push(Field::new("ds", DataType::Utf8, true));
        cols.push(Arc::new(part.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("valid batch")
}
