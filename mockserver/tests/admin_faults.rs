//! Admin endpoints and every fault effect, over loopback HTTP.

mod common;

use std::time::Instant;

use common::{Client, Resp, start};
use maxc_core::http::{Method, Request, Service as Layer};
use maxc_mock::MockConfig;
use serde_json::json;

async fn admin(c: &Client, m: Method, path: &str, body: Option<serde_json::Value>) -> Resp {
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let mut r = Request::new(m, Layer::Tunnel, format!("/_maxc{p}"));
    for (k, v) in maxc_core::http::parse_query(q).unwrap() {
        r = r.with_query(&k, v);
    }
    if let Some(b) = body {
        r = r
            .with_body(b.to_string())
            .with_header("content-type", "application/json");
    }
    c.send_raw(r).await.unwrap()
}

async fn add_fault(c: &Client, rule: serde_json::Value) -> u64 {
    let r = admin(c, Method::Post, "/faults", Some(rule)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["ids"][0].as_u64().unwrap()
}

async fn get_table(c: &Client) -> Result<Resp, String> {
    c.send(Request::new(
        Method::Get,
        Layer::Rest,
        "/projects/maxc/tables/t",
    ))
    .await
}

async fn setup() -> (maxc_mock::MockServerHandle, Client) {
    let (h, c) = start(MockConfig::default().with_seed(7)).await;
    let (s, r) = c
        .run_sql(
            "maxc",
            "CREATE TABLE t (id bigint, name string) PARTITIONED BY (ds string)",
        )
        .await;
    assert_eq!(s, "Success", "{r}");
    (h, c)
}

#[tokio::test]
async fn health_fixtures_rows_sql_reset() {
    let (h, c) = start(MockConfig::default()).await;
    let r = admin(&c, Method::Get, "/health", None).await;
    assert_eq!(r.json()["status"], "ok");
    let fx = json!({
        "projects": ["other"],
        "tables": [
            {"name": "orders",
             "columns": [{"name": "id", "type": "bigint", "nullable": false}, {"name": "amount", "type": "decimal(18,2)"},
                         {"name": "tags", "type": "array<string>"}],
             "partition_columns": [{"name": "ds", "type": "string"}],
             "partitions": [{"spec": "ds=20240101", "rows": [{"id": 1, "amount": "9.99", "tags": ["a"]}, [2, null, []]]},
                            {"spec": "ds='20240102'", "rows": []}]},
            {"project": "other",
             "ddl": "CREATE TABLE users (id bigint, name string, PRIMARY KEY (id)) TBLPROPERTIES ('transactional'='true')",
             "rows": [[1, "ann"], [2, "bob"], [1, "ann2"]]}
        ]
    });
    let r = admin(&c, Method::Post, "/fixtures", Some(fx.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["created"], json!(["maxc.orders", "other.users"]));
    assert_eq!(r.json()["rows"], 5);
    // Loading again skips existing tables.
    let r = admin(&c, Method::Post, "/fixtures", Some(fx)).await;
    assert_eq!(r.json()["skipped"], json!(["maxc.orders", "other.users"]));

    let r = admin(&c, Method::Get, "/tables/maxc/orders/rows", None).await;
    let j = r.json();
    assert_eq!(j["total"], 2);
    assert_eq!(
        j["rows"][0],
        json!({"id": 1, "amount": "9.99", "tags": ["a"], "ds": "20240101"})
    );
    assert_eq!(j["rows"][1]["amount"], serde_json::Value::Null);
    // The Delta table deduplicated by key (last write wins).
    let r = admin(&c, Method::Get, "/tables/other/users/rows", None).await;
    assert_eq!(
        r.json()["rows"],
        json!([{"id": 1, "name": "ann2"}, {"id": 2, "name": "bob"}])
    );
    let r = admin(&c, Method::Get, "/tables/maxc/orders", None).await;
    assert_eq!(r.json()["partitions"].as_array().unwrap().len(), 2);
    assert_eq!(r.json()["rows"], 2);
    // Visible through the REST API too.
    let r = c
        .rest(Method::Get, "/projects/other/tables/users", &[])
        .await;
    assert_eq!(r.status, 200);

    // Bad fixtures are a 400 with a message.
    let r = admin(
        &c,
        Method::Post,
        "/fixtures",
        Some(json!({"tables": [{"name": "bad", "columns": [{"name": "a", "type": "nosuch"}]}]})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("nosuch"), "{}", r.text());
    let r = admin(&c, Method::Post, "/fixtures", Some(json!({"tables": [{"name": "bad2", "columns": [{"name": "a", "type": "tinyint"}], "rows": [[1000]]}]}))).await;
    assert_eq!(r.status, 400, "{}", r.text());

    // SQL through the admin API.
    let r = c
        .send_raw(
            Request::new(Method::Post, Layer::Tunnel, "/_maxc/sql")
                .with_body("create table x (a int); drop table x"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c
        .send_raw(Request::new(Method::Post, Layer::Tunnel, "/_maxc/sql").with_body("select 1"))
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("ODPS-0130161"));

    let r = admin(&c, Method::Get, "/requests?limit=5", None).await;
    assert!(r.json().as_array().unwrap().len() <= 5);

    let r = admin(&c, Method::Post, "/reset", None).await;
    assert_eq!(r.status, 200);
    let r = admin(&c, Method::Get, "/tables", None).await;
    assert_eq!(r.json(), json!([]));
    let r = admin(&c, Method::Get, "/nope", None).await;
    assert_eq!(r.status, 404);
    h.shutdown().await;
}

#[tokio::test]
async fn error_effects_and_attempt_matching() {
    let (h, c) = setup().await;
    // nth: only the 2nd matching request fails.
    add_fault(
        &c,
        json!({"operation": "get_table", "table": "t", "nth": 2,
        "effect": {"type": "error", "status": 500, "code": "InternalServerError"}}),
    )
    .await;
    assert_eq!(get_table(&c).await.unwrap().status, 200);
    let r = get_table(&c).await.unwrap();
    assert_eq!(r.status, 500);
    assert_eq!(r.xml_code(), "InternalServerError");
    assert!(r.text().contains("<HostId>"));
    assert_eq!(get_table(&c).await.unwrap().status, 200);
    admin(&c, Method::Delete, "/faults", None).await;

    // 429 with Retry-After, twice (times), then normal.
    add_fault(&c, json!({"operation": "get_table", "times": 2, "effect": {"type": "throttle", "retry_after_secs": 3}})).await;
    for _ in 0..2 {
        let r = get_table(&c).await.unwrap();
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after").as_deref(), Some("3"));
        assert_eq!(r.xml_code(), "FlowExceeded");
    }
    assert_eq!(get_table(&c).await.unwrap().status, 200);

    for (effect, status, code) in [
        (json!({"type": "bad_gateway"}), 502, "BadGateway"),
        (json!({"type": "gateway_timeout"}), 504, "GatewayTimeout"),
        (json!({"type": "slot_exceeded"}), 429, "SlotExceeded"),
    ] {
        let id = add_fault(&c, json!({"operation": "get_table", "effect": effect})).await;
        let r = get_table(&c).await.unwrap();
        assert_eq!(r.status, status);
        assert_eq!(r.xml_code(), code);
        admin(&c, Method::Delete, &format!("/faults/{id}"), None).await;
    }
    // A tunnel operation gets the JSON shape.
    add_fault(&c, json!({"operation": "create_upload", "effect": {"type": "error", "status": 404, "code": "NoSuchPartition"}})).await;
    let r = c
        .send(
            Request::new(Method::Post, Layer::Tunnel, "/projects/maxc/tables/t")
                .with_query("uploads", "1"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["Code"], "NoSuchPartition");

    // Counters are visible.
    let r = admin(&c, Method::Get, "/faults", None).await;
    let rules = r.json()["rules"].as_array().unwrap().clone();
    assert!(rules.iter().any(|r| r["fired"] == 1 && r["matched"] == 1));
    // Invalid rules are rejected.
    let r = admin(
        &c,
        Method::Post,
        "/faults",
        Some(json!({"effect": {"type": "warp_drive"}})),
    )
    .await;
    assert_eq!(r.status, 400);
    h.shutdown().await;
}

#[tokio::test]
async fn delay_effect() {
    let (h, c) = setup().await;
    add_fault(
        &c,
        json!({"operation": "get_table", "effect": {"type": "delay", "ms": 300}}),
    )
    .await;
    let t0 = Instant::now();
    let r = get_table(&c).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(t0.elapsed().as_millis() >= 300, "{:?}", t0.elapsed());
    h.shutdown().await;
}

#[tokio::test]
async fn drop_connection_is_not_applied_but_lose_response_is() {
    let (h, c) = setup().await;
    add_fault(
        &c,
        json!({"operation": "create_instance", "times": 1, "effect": {"type": "drop_connection"}}),
    )
    .await;
    let body = common::INSTANCE_XML
        .replace("{NAME}", "SQLCreateTableTask")
        .replace("{SQL}", "CREATE TABLE dropped (a bigint)");
    let req = Request::new(Method::Post, Layer::Rest, "/projects/maxc/instances")
        .with_header("content-type", "application/xml")
        .with_body(body);
    let e = c.send(req.clone()).await.unwrap_err();
    assert!(e.contains("request failed"), "{e}");
    assert_eq!(
        c.rest(Method::Get, "/projects/maxc/tables/dropped", &[])
            .await
            .status,
        404
    );

    add_fault(
        &c,
        json!({"operation": "create_instance", "times": 1, "effect": {"type": "lose_response"}}),
    )
    .await;
    let e = c.send(req.clone()).await.unwrap_err();
    assert!(e.contains("request failed"), "{e}");
    // The commit happened although the client saw no answer.
    assert_eq!(
        c.rest(Method::Get, "/projects/maxc/tables/dropped", &[])
            .await
            .status,
        200
    );
    // The connection pool recovers: the next request works.
    assert_eq!(get_table(&c).await.unwrap().status, 200);
    h.shutdown().await;
}

#[tokio::test]
async fn body_cut_effects() {
    let (h, c) = setup().await;
    let full = get_table(&c).await.unwrap();
    assert_eq!(full.status, 200);

    add_fault(&c, json!({"operation": "get_table", "times": 1, "effect": {"type": "drop_mid_body", "after_bytes": 10}})).await;
    let e = get_table(&c).await.unwrap_err();
    assert!(
        e.contains("body failed") || e.contains("request failed"),
        "{e}"
    );

    add_fault(&c, json!({"operation": "get_table", "times": 1, "effect": {"type": "truncate_body", "bytes": 25}})).await;
    let r = get_table(&c).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 25);
    assert_eq!(r.header("content-length").as_deref(), Some("25"));
    assert_eq!(&r.body[..], &full.body[..25]);
    h.shutdown().await;
}

#[tokio::test]
async fn probability_replays_with_the_seed() {
    async fn run(seed: u64) -> Vec<u16> {
        let (h, c) = start(MockConfig::default().with_seed(seed)).await;
        c.run_sql("maxc", "CREATE TABLE t (a bigint)").await;
        add_fault(&c, json!({"operation": "get_table", "probability": 0.5, "effect": {"type": "bad_gateway"}})).await;
        let mut out = Vec::new();
        for _ in 0..32 {
            out.push(get_table(&c).await.unwrap().status);
        }
        h.shutdown().await;
        out
    }
    let a = run(11).await;
    assert_eq!(a, run(11).await);
    let fails = a.iter().filter(|s| **s == 502).count();
    assert!((4..28).contains(&fails), "{a:?}");
}
