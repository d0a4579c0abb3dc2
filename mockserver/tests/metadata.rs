//! Metadata REST API, DDL through SQL instances, discovery and auth, over loopback HTTP.

mod common;

use common::{Client, start};
use maxc_core::http::{Method, Request, Service as Layer};
use maxc_mock::MockConfig;

fn schema_json(table_xml: &str) -> serde_json::Value {
    let s = table_xml.find("<![CDATA[").expect("CDATA") + 9;
    let e = table_xml[s..].find("]]>").unwrap() + s;
    serde_json::from_str(&table_xml[s..e]).unwrap()
}

#[tokio::test]
async fn project_and_incidental_calls() {
    let (h, c) = start(MockConfig::default()).await;
    let r = c
        .rest(Method::Get, "/projects/maxc", &[("curr_project", "maxc")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    for hdr in [
        "x-odps-owner",
        "x-odps-creation-time",
        "last-modified",
        "x-odps-request-id",
    ] {
        assert!(r.header(hdr).is_some(), "missing {hdr}");
    }
    assert!(r.text().contains("<Name>maxc</Name>"));
    assert!(!r.text().contains("xmlns"));

    let r = c.rest(Method::Get, "/projects/nope", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.xml_code(), "NoSuchProject");
    for tag in ["<Message>", "<RequestId>", "<HostId>"] {
        assert!(r.text().contains(tag), "{}", r.text());
    }

    let r = c.rest(Method::Get, "/tenants", &[]).await;
    assert_eq!(
        r.json()["Tenant"]["Parameters"]["odps.namespace.schema"],
        "false"
    );
    let r = c.rest(Method::Get, "/logview/host", &[]).await;
    assert_eq!(r.status, 200);

    let r = c
        .rest(
            Method::Get,
            "/projects/maxc/tunnel",
            &[("service", ""), ("curr_project", "maxc")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("127.0.0.1:{}", h.addr().port()));
    h.shutdown().await;
}

#[tokio::test]
async fn ddl_tables_and_partitions() {
    let (h, c) = start(MockConfig::default()).await;
    let create = "CREATE TABLE IF NOT EXISTS maxc.`acid` (\n  `id` bigint NOT NULL COMMENT 'key',\n  `val` string,\n  PRIMARY KEY (`id`)\n)\nCOMMENT 'a delta table'\nPARTITIONED BY (\n  `ds` string\n)\nTBLPROPERTIES (\n  'transactional' = 'true',\n  'write.bucket.num' = '4'\n)\nLIFECYCLE 7";
    let id = c.submit_sql("maxc", "SQLCreateTableTask", create).await;
    let st = c
        .rest(
            Method::Get,
            &format!("/projects/maxc/instances/{id}"),
            &[("taskstatus", "")],
        )
        .await;
    assert!(
        st.text().contains("<Status>Success</Status>"),
        "{}",
        st.text()
    );
    assert!(st.text().contains("<Name>SQLCreateTableTask</Name>"));
    let inst = c
        .rest(Method::Get, &format!("/projects/maxc/instances/{id}"), &[])
        .await;
    assert!(inst.text().contains("<Status>Terminated</Status>"));
    assert!(inst.header("x-odps-start-time").is_some());
    let prog = c
        .rest(
            Method::Get,
            &format!("/projects/maxc/instances/{id}"),
            &[
                ("instanceprogress", "SQLCreateTableTask"),
                ("taskname", "SQLCreateTableTask"),
            ],
        )
        .await;
    assert_eq!(prog.status, 200);

    let t = c
        .rest(
            Method::Get,
            "/projects/maxc/tables/acid",
            &[("extended", "")],
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text());
    let j = schema_json(&t.text());
    assert_eq!(j["columns"][0]["name"], "id");
    assert_eq!(j["columns"][0]["isNullable"], false);
    assert_eq!(j["columns"][0]["comment"], "key");
    assert_eq!(j["partitionKeys"][0]["name"], "ds");
    assert_eq!(j["lifecycle"], 7);
    let reserved: serde_json::Value =
        serde_json::from_str(j["Reserved"].as_str().expect("Reserved is a string")).unwrap();
    assert_eq!(reserved["Transactional"], "true");
    assert_eq!(reserved["PrimaryKey"], serde_json::json!(["id"]));
    assert_eq!(reserved["BucketNum"], 4);
    assert!(t.text().contains("GMT</CreationTime>"));

    // Second create without IF NOT EXISTS fails with a semantic error.
    let (status, result) = c.run_sql("maxc", "CREATE TABLE acid (a bigint)").await;
    assert_eq!(status, "Failed");
    assert!(result.contains("already exists"), "{result}");

    // Partitions: add several, list with paging, get quoted, drop.
    let (s, r) = c
        .run_sql(
            "maxc",
            "ALTER TABLE maxc.`acid` ADD IF NOT EXISTS PARTITION (ds='20240101') PARTITION (ds='20240102') PARTITION (ds='20240103')",
        )
        .await;
    assert_eq!(s, "Success", "{r}");
    let mut seen = Vec::new();
    let mut marker = String::new();
    for _ in 0..10 {
        let mut q = vec![
            ("partitions", ""),
            ("expectmarker", "true"),
            ("maxitems", "2"),
        ];
        if !marker.is_empty() {
            q.push(("marker", marker.as_str()));
        }
        let r = c.rest(Method::Get, "/projects/maxc/tables/acid", &q).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        for part in text.split("<Column Name=\"ds\" Value=\"").skip(1) {
            seen.push(part.split('"').next().unwrap().to_string());
        }
        let m = text
            .split("<Marker>")
            .nth(1)
            .unwrap()
            .split("</Marker>")
            .next()
            .unwrap()
            .to_string();
        if m.is_empty() {
            break;
        }
        marker = m;
    }
    assert_eq!(seen, vec!["20240101", "20240102", "20240103"]);

    let r = c
        .rest(
            Method::Get,
            "/projects/maxc/tables/acid",
            &[("partition", "ds='20240102'")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("partitionRecordNum"));
    let r = c
        .rest(
            Method::Get,
            "/projects/maxc/tables/acid",
            &[("partition", "ds='19990101'")],
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.xml_code(), "NoSuchPartition");

    let (s, _) = c
        .run_sql(
            "maxc",
            "ALTER TABLE acid DROP IF EXISTS PARTITION (ds='20240102')",
        )
        .await;
    assert_eq!(s, "Success");
    let (s, r) = c
        .run_sql("maxc", "ALTER TABLE acid DROP PARTITION (ds='20240102')")
        .await;
    assert_eq!(s, "Failed", "{r}");
    let r = c
        .rest(
            Method::Get,
            "/projects/maxc/tables/acid",
            &[("partition", "ds='20240102'")],
        )
        .await;
    assert_eq!(r.status, 404);

    // ADD COLUMNS bumps the schema.
    let (s, r) = c
        .run_sql(
            "maxc",
            "ALTER TABLE acid ADD COLUMNS (extra double COMMENT 'x')",
        )
        .await;
    assert_eq!(s, "Success", "{r}");
    let t = c.rest(Method::Get, "/projects/maxc/tables/acid", &[]).await;
    assert_eq!(schema_json(&t.text())["columns"][2]["name"], "extra");

    // List tables with a prefix, then drop.
    c.run_sql("maxc", "create table plain (a bigint, b string)")
        .await;
    let r = c
        .rest(
            Method::Get,
            "/projects/maxc/tables",
            &[("expectmarker", "true"), ("name", "pl")],
        )
        .await;
    assert!(
        r.text().contains("<Name>plain</Name>") && !r.text().contains("<Name>acid</Name>"),
        "{}",
        r.text()
    );
    let (s, _) = c.run_sql("maxc", "DROP TABLE IF EXISTS maxc.`plain`").await;
    assert_eq!(s, "Success");
    let r = c
        .rest(Method::Get, "/projects/maxc/tables/plain", &[])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.xml_code(), "NoSuchTable");
    let (s, r) = c.run_sql("maxc", "DROP TABLE plain").await;
    assert_eq!(s, "Failed");
    assert!(r.contains("ODPS-0130131"), "{r}");
    h.shutdown().await;
}

#[tokio::test]
async fn unsupported_sql_fails_with_parse_error() {
    let (h, c) = start(MockConfig::default()).await;
    for sql in [
        "SELECT * FROM t",
        "INSERT INTO t VALUES (1)",
        "CREATE TABLE t (a bigint",
    ] {
        let (status, result) = c.run_sql("maxc", sql).await;
        assert_eq!(status, "Failed", "{sql}");
        assert!(result.contains("ODPS-0130161"), "{sql}: {result}");
        assert!(result.contains("<Result Format=\"text\">"), "{result}");
    }
    // A malformed instance document is a 400 with an XML error.
    let r = c
        .send(
            Request::new(Method::Post, Layer::Rest, "/projects/maxc/instances")
                .with_header("content-type", "application/xml")
                .with_body("<Instance><Job>"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.xml_code(), "MalformedXML");
    h.shutdown().await;
}

#[tokio::test]
async fn auth_errors_use_service_codes() {
    let (h, c) = start(MockConfig::default()).await;
    let get = || {
        Request::new(Method::Get, Layer::Rest, "/projects/maxc").with_query("curr_project", "maxc")
    };

    let r = c.send_raw(get()).await.unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.xml_code(), "AuthorizationRequired");
    assert!(r.header("x-odps-request-id").is_some());

    let mut wrong = c.clone();
    wrong.signer = Some(maxc_core::auth::Signer::v2(
        maxc_core::auth::Credentials::access_key("maxc-access-id", "not-the-key"),
    ));
    let r = wrong.send(get()).await.unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.xml_code(), "SignatureNotMatch");
    assert!(
        !r.text().contains("maxc-access-key"),
        "the secret must not leak: {}",
        r.text()
    );

    let mut unknown = c.clone();
    unknown.signer = Some(maxc_core::auth::Signer::v2(
        maxc_core::auth::Credentials::access_key("who", "x"),
    ));
    let r = unknown.send(get()).await.unwrap();
    assert_eq!(r.xml_code(), "InvalidAccessKeyId");

    // A stale Date.
    let mut req = get();
    let signer = maxc_core::auth::Signer::v2(maxc_core::auth::Credentials::access_key(
        h.access_id(),
        h.access_key(),
    ));
    signer.sign(
        &mut req,
        maxc_core::time::WallClock::from_unix_secs(common::now().unix_secs() - 3600),
    );
    let r = c.send_raw(req).await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.xml_code(), "RequestTimeTooSkewed");

    // v4 is accepted.
    let mut v4 = c.clone();
    v4.signer = Some(maxc_core::auth::Signer::v4(
        maxc_core::auth::Credentials::access_key(h.access_id(), h.access_key()),
        "cn-hangzhou",
    ));
    assert_eq!(v4.send(get()).await.unwrap().status, 200);

    // Tunnel errors are JSON.
    let r = c
        .send_raw(
            Request::new(Method::Post, Layer::Tunnel, "/projects/maxc/tables/t")
                .with_query("uploads", "1"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["Code"], "AuthorizationRequired");
    assert!(r.json()["RequestId"].is_string());
    h.shutdown().await;

    // --no-auth
    let (h, mut c) = start(MockConfig::default().without_auth()).await;
    c.signer = None;
    assert_eq!(c.send(get()).await.unwrap().status, 200);
    h.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_and_body_limit() {
    let cfg = MockConfig {
        max_body_bytes: 1024,
        ..MockConfig::default()
    };
    let (h, c) = start(cfg).await;
    let r = c.rest(Method::Get, "/nope/nothing", &[]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.xml_code(), "NoSuchObject");
    let r = c
        .send(Request::new(
            Method::Get,
            Layer::Tunnel,
            "/projects/maxc/whatever/x",
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["Code"], "NoSuchObject");

    let r = c
        .send(
            Request::new(Method::Post, Layer::Rest, "/projects/maxc/instances")
                .with_header("content-type", "application/xml")
                .with_body(vec![b'x'; 4096]),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.xml_code(), "MaxMessageLengthExceeded");
    assert!(r.header("x-odps-request-id").is_some());
    h.shutdown().await;
}

#[tokio::test]
async fn three_tier_schema_paths() {
    let (h, c) = start(MockConfig::default()).await;
    let (s, r) = c
        .run_sql("maxc", "CREATE TABLE maxc.s1.t1 (a bigint)")
        .await;
    assert_eq!(s, "Success", "{r}");
    let r = c
        .rest(Method::Get, "/projects/maxc/schemas/s1/tables/t1", &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c
        .rest(
            Method::Get,
            "/projects/maxc/tables/t1",
            &[("curr_schema", "s1")],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = c.rest(Method::Get, "/projects/maxc/tables/t1", &[]).await;
    assert_eq!(r.status, 404);
    let _ = Client::new(&h);
    h.shutdown().await;
}
