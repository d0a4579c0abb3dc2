//! Tunnel sessions over loopback HTTP: batch upload (with full body validation), download
//! (row ranges, projection, snapshots), stream upload, upsert, expiry and tunnel faults.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use arrow_array::{Int64Array, RecordBatch};
use common::{Client, Resp, start};
use maxc_core::codec::{decode_all, encode_batches};
use maxc_core::http::{Method, Request, Service as Layer};
use maxc_core::types::Column;
use maxc_mock::values::{Value, build_batch, row_values};
use maxc_mock::{MockConfig, MockServer, MockTime};
use serde_json::json;

/// The upload body pyodps' C writer produced in the traffic capture (CRCs as 10-byte
/// sign-extended varints), for `id bigint, score double, name string, flag boolean,
/// ts datetime, amount decimal(18,4)`.
const PYODPS_BODY: &str = "080211000000000000f83f1a05616c70686120012880fda6c29863320731322e3334303080c0ff7fdad3cfd20608041100000000000002c01a0462657461200028f6c1c2f7986332042d302e3580c0ff7fedd6d9940708061a0567616d6d61200128b0a0fdac8d37320c313030303030302e3030303180c0ff7fdde6a5d2fbffffffff01080811000000205fa0224280c0ff7fa5d5efacfaffffffff0108091100000000000000001a0a64c3a96c746120e29c932000280032013080c0ff7fcafa8fb1f9ffffffff01f0ffff7f0af8ffff7fafb8db8804";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn cols(spec: &[(&str, &str)]) -> Vec<Column> {
    spec.iter()
        .map(|(n, t)| Column::new(*n, t.parse().unwrap()))
        .collect()
}

fn tunnel(m: Method, table: &str, query: &[(&str, &str)]) -> Request {
    let mut r = Request::new(m, Layer::Tunnel, format!("/projects/maxc/tables/{table}"))
        .with_header("x-odps-tunnel-version", "6");
    for (k, v) in query {
        r = r.with_query(k, *v);
    }
    r.with_query("curr_project", "maxc")
}

async fn send(c: &Client, r: Request) -> Resp {
    c.send(r).await.unwrap()
}

fn body_of(columns: &[Column], rows: &[Vec<Value>]) -> Vec<u8> {
    let b = build_batch(columns, rows).unwrap();
    encode_batches(columns, &[b]).unwrap()
}

fn ints(v: &[i64]) -> Vec<Vec<Value>> {
    v.iter()
        .map(|i| vec![Value::Int(*i), Value::Text(format!("v{i}"))])
        .collect()
}

async fn admin_rows(c: &Client, table: &str) -> serde_json::Value {
    let r = c
        .send_raw(Request::new(
            Method::Get,
            Layer::Tunnel,
            format!("/_maxc/tables/maxc/{table}/rows"),
        ))
        .await
        .unwrap();
    r.json()["rows"].clone()
}

async fn download(
    c: &Client,
    table: &str,
    part: Option<&str>,
    columns: &[Column],
    extra: &[(&str, &str)],
) -> (u64, Vec<RecordBatch>, Resp) {
    let mut q = vec![("downloads", ""), ("asyncmode", "true")];
    if let Some(p) = part {
        q.push(("partition", p));
    }
    let r = send(c, tunnel(Method::Post, table, &q)).await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    let j = r.json();
    let id = j["DownloadID"].as_str().unwrap().to_string();
    let count = j["RecordCount"].as_u64().expect("RecordCount is a number");
    let range = format!("(0,{count})");
    let mut q = vec![
        ("data", ""),
        ("downloadid", id.as_str()),
        ("rowrange", range.as_str()),
    ];
    if let Some(p) = part {
        q.push(("partition", p));
    }
    q.extend_from_slice(extra);
    let d = send(c, tunnel(Method::Get, table, &q)).await;
    assert_eq!(d.status, 200, "{}", d.text());
    let batches = decode_all(columns, &d.body, 1024).unwrap_or_default();
    (count, batches, d)
}

#[tokio::test]
async fn batch_upload_lifecycle() {
    let (h, c) = start(MockConfig::default()).await;
    c.run_sql(
        "maxc",
        "CREATE TABLE t (id bigint, name string) PARTITIONED BY (ds string)",
    )
    .await;
    let schema = cols(&[("id", "bigint"), ("name", "string")]);

    // Missing partition without create_partition.
    let r = send(
        &c,
        tunnel(
            Method::Post,
            "t",
            &[("uploads", "1"), ("partition", "ds=1")],
        ),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["Code"], "NoSuchPartition");
    let r = send(&c, tunnel(Method::Post, "t", &[("uploads", "1")])).await;
    assert_eq!(r.json()["Code"], "MissingPartitionSpec");

    let r = send(
        &c,
        tunnel(
            Method::Post,
            "t",
            &[
                ("reload", "False"),
                ("partition", "ds=1"),
                ("create_partition", "true"),
                ("uploads", "1"),
            ],
        ),
    )
    .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    let j = r.json();
    let id = j["UploadID"].as_str().unwrap().to_string();
    assert_eq!(j["Status"], "normal");
    assert_eq!(j["Schema"]["columns"][1]["name"], "name");
    assert_eq!(j["Schema"]["partitionKeys"][0]["name"], "ds");
    assert_eq!(j["UploadedBlockList"], json!([]));

    let put = |block: &str, body: Vec<u8>| {
        tunnel(
            Method::Put,
            "t",
            &[
                ("uploadid", id.as_str()),
                ("partition", "ds=1"),
                ("blockid", block),
            ],
        )
        .with_header("content-type", "application/octet-stream")
        .with_body(body)
    };
    assert_eq!(
        send(&c, put("0", body_of(&schema, &ints(&[1, 2]))))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&c, put("7", body_of(&schema, &ints(&[9]))))
            .await
            .status,
        200
    );
    // Re-upload of block 7 replaces it.
    assert_eq!(
        send(&c, put("7", body_of(&schema, &ints(&[3]))))
            .await
            .status,
        200
    );

    // Validation.
    let r = send(&c, put("20000", body_of(&schema, &ints(&[1])))).await;
    assert_eq!(
        (r.status, r.json()["Code"].as_str().unwrap()),
        (400, "InvalidBlockID")
    );
    let r = send(&c, put("-1", body_of(&schema, &ints(&[1])))).await;
    assert_eq!(r.json()["Code"], "InvalidBlockID");
    let mut corrupt = body_of(&schema, &ints(&[1, 2]));
    corrupt[3] ^= 0x40;
    let r = send(&c, put("1", corrupt)).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["Code"], "MalformedDataStream");
    let good = body_of(&schema, &ints(&[1, 2]));
    let r = send(&c, put("1", good[..good.len() - 4].to_vec())).await;
    assert_eq!(r.json()["Code"], "MalformedDataStream");
    let wrong_schema = body_of(&cols(&[("x", "double")]), &[vec![Value::Float(1.0)]]);
    let r = send(&c, put("1", wrong_schema)).await;
    assert_eq!(r.json()["Code"], "MalformedDataStream");
    let r = send(&c, put("1", b"garbage".to_vec())).await;
    assert_eq!(r.json()["Code"], "MalformedDataStream");
    let r = send(
        &c,
        put("1", body_of(&schema, &ints(&[1]))).with_header("content-encoding", "brotli"),
    )
    .await;
    assert_eq!(r.status, 400);

    let r = send(
        &c,
        tunnel(
            Method::Get,
            "t",
            &[
                ("reload", "True"),
                ("partition", "ds=1"),
                ("uploadid", id.as_str()),
            ],
        ),
    )
    .await;
    let blocks: Vec<i64> = r.json()["UploadedBlockList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["BlockID"].as_i64().unwrap())
        .collect();
    assert_eq!(blocks, vec![0, 7]);

    // Nothing is visible before commit.
    assert_eq!(admin_rows(&c, "t").await, json!([]));
    let commit = || {
        tunnel(
            Method::Post,
            "t",
            &[("uploadid", id.as_str()), ("partition", "ds=1")],
        )
    };
    let r1 = send(&c, commit()).await;
    assert_eq!(r1.status, 200, "{}", r1.text());
    assert_ne!(r1.json()["Status"], "committing");
    let r2 = send(&c, commit()).await;
    assert_eq!(r2.status, 200);
    assert_eq!(
        r1.json(),
        r2.json(),
        "a second commit returns the same success"
    );
    let ids: Vec<i64> = admin_rows(&c, "t")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    // After commit the session takes no more blocks.
    assert_eq!(
        send(&c, put("8", body_of(&schema, &ints(&[1]))))
            .await
            .status,
        409
    );

    // Overwrite replaces the partition's data.
    let r = send(
        &c,
        tunnel(
            Method::Post,
            "t",
            &[
                ("uploads", "1"),
                ("partition", "ds=1"),
                ("overwrite", "true"),
            ],
        ),
    )
    .await;
    let oid = r.json()["UploadID"].as_str().unwrap().to_string();
    let r = send(
        &c,
        tunnel(
            Method::Put,
            "t",
            &[
                ("uploadid", oid.as_str()),
                ("partition", "ds=1"),
                ("blockid", "0"),
            ],
        )
        .with_body(body_of(&schema, &ints(&[42]))),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        send(
            &c,
            tunnel(
                Method::Post,
                "t",
                &[("uploadid", oid.as_str()), ("partition", "ds=1")]
            )
        )
        .await
        .status,
        200
    );
    assert_eq!(
        admin_rows(&c, "t").await,
        json!([{"id": 42, "name": "v42", "ds": "1"}])
    );

    let r = send(&c, tunnel(Method::Get, "t", &[("uploadid", "nope")])).await;
    assert_eq!(
        (r.status, r.json()["Code"].as_str().unwrap()),
        (404, "NoSuchUpload")
    );
    h.shutdown().await;
}

#[tokio::test]
async fn pyodps_c_writer_body_is_accepted() {
    let (h, c) = start(MockConfig::default()).await;
    c.run_sql(
        "maxc",
        "CREATE TABLE m (id bigint, score double, name string, flag boolean, ts datetime, amount decimal(18,4)) PARTITIONED BY (ds string)",
    )
    .await;
    let r = send(
        &c,
        tunnel(
            Method::Post,
            "m",
            &[
                ("partition", "ds=20240101"),
                ("create_partition", "true"),
                ("uploads", "1"),
            ],
        ),
    )
    .await;
    let id = r.json()["UploadID"].as_str().unwrap().to_string();
    let body = unhex(PYODPS_BODY);
    assert_eq!(body.len(), 215);
    let r = send(
        &c,
        tunnel(
            Method::Put,
            "m",
            &[
                ("uploadid", id.as_str()),
                ("partition", "ds=20240101"),
                ("blockid", "0"),
            ],
        )
        .with_body(body),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    send(
        &c,
        tunnel(
            Method::Post,
            "m",
            &[("uploadid", id.as_str()), ("partition", "ds=20240101")],
        ),
    )
    .await;
    let rows = admin_rows(&c, "m").await;
    assert_eq!(rows.as_array().unwrap().len(), 5);
    assert_eq!(rows[0]["name"], "alpha");
    assert_eq!(rows[0]["amount"], "12.3400");
    assert_eq!(rows[2]["score"], serde_json::Value::Null);
    assert_eq!(rows[4]["id"], -5);
    assert_eq!(rows[4]["name"], "délta ✓");
    h.shutdown().await;
}

#[tokio::test]
async fn chunked_request_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (h, c) = start(MockConfig::default().without_auth()).await;
    c.run_sql("maxc", "CREATE TABLE t (id bigint, name string)")
        .await;
    let r = send(&c, tunnel(Method::Post, "t", &[("uploads", "1")])).await;
    let id = r.json()["UploadID"].as_str().unwrap().to_string();
    let body = body_of(
        &cols(&[("id", "bigint"), ("name", "string")]),
        &ints(&[5, 6, 7]),
    );
    let mut s = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    let mut req = format!(
        "PUT /projects/maxc/tables/t?uploadid={id}&blockid=0 HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        h.addr()
    )
    .into_bytes();
    for chunk in body.chunks(7) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&req).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("x-odps-request-id"));
    let r = send(&c, tunnel(Method::Get, "t", &[("uploadid", id.as_str())])).await;
    assert_eq!(r.json()["UploadedBlockList"][0]["RecordCount"], 3);
    h.shutdown().await;
}

#[tokio::test]
async fn download_ranges_projection_and_snapshot() {
    let (h, c) = start(MockConfig::default()).await;
    let fx = json!({"tables": [{"name": "d", "columns": [{"name": "a", "type": "bigint"}, {"name": "b", "type": "string"}, {"name": "c", "type": "double"}],
        "partition_columns": [{"name": "ds", "type": "string"}],
        "partitions": [{"spec": "ds=1", "rows": [[1, "x", 1.5], [2, null, 2.5], [3, "z", null]]}]}]});
    c.send_raw(
        Request::new(Method::Post, Layer::Tunnel, "/_maxc/fixtures").with_body(fx.to_string()),
    )
    .await
    .unwrap();
    let all = cols(&[("a", "bigint"), ("b", "string"), ("c", "double")]);
    let (count, batches, resp) = download(&c, "d", Some("ds=1"), &all, &[]).await;
    assert_eq!(count, 3);
    assert!(resp.header("content-encoding").is_none());
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    let row = row_values(&batches[0], &all, 1).unwrap();
    assert_eq!(row, vec![Value::Int(2), Value::Null, Value::Float(2.5)]);

    // Projection renumbers fields 1..k in request order.
    let proj = cols(&[("c", "double"), ("a", "bigint")]);
    let (_, batches, _) = download(&c, "d", Some("ds=1"), &proj, &[("columns", "c,a")]).await;
    assert_eq!(
        row_values(&batches[0], &proj, 0).unwrap(),
        vec![Value::Float(1.5), Value::Int(1)]
    );

    // Row ranges and a snapshot fixed at creation.
    let r = send(
        &c,
        tunnel(
            Method::Post,
            "d",
            &[("downloads", ""), ("partition", "ds=1")],
        ),
    )
    .await;
    let id = r.json()["DownloadID"].as_str().unwrap().to_string();
    let more = json!({"tables": []});
    let _ = more;
    // Append a row through the stream tunnel; the open download does not see it.
    let r = send(
        &c,
        Request::new(
            Method::Post,
            Layer::Tunnel,
            "/projects/maxc/tables/d/streams",
        )
        .with_query("partition", "ds=1"),
    )
    .await;
    let sid = r.json()["session_name"].as_str().unwrap().to_string();
    let w = send(
        &c,
        Request::new(
            Method::Put,
            Layer::Tunnel,
            "/projects/maxc/tables/d/streams",
        )
        .with_query("uploadid", &sid)
        .with_query("slotid", "1")
        .with_query("partition", "ds=1")
        .with_body(body_of(
            &all,
            &[vec![Value::Int(4), Value::Null, Value::Null]],
        )),
    )
    .await;
    assert_eq!(w.status, 200, "{}", w.text());
    let get = |range: &str| {
        tunnel(
            Method::Get,
            "d",
            &[
                ("data", ""),
                ("downloadid", id.as_str()),
                ("rowrange", range),
                ("partition", "ds=1"),
            ],
        )
    };
    let r = send(&c, get("(1,2)")).await;
    assert_eq!(r.status, 200);
    let b = decode_all(&all, &r.body, 100).unwrap();
    assert_eq!(row_values(&b[0], &all, 0).unwrap()[0], Value::Int(2));
    assert_eq!(b[0].num_rows(), 2);
    let r = send(&c, get("(2,2)")).await;
    assert_eq!(
        (r.status, r.json()["Code"].as_str().unwrap()),
        (400, "InvalidRowRange")
    );
    let r = send(&c, get("(3,0)")).await;
    assert_eq!(r.status, 200);
    assert_eq!(decode_all(&all, &r.body, 100).unwrap().len(), 0);
    let r = send(&c, get("bogus")).await;
    assert_eq!(r.json()["Code"], "InvalidRowRange");
    // A new session sees 4 rows.
    let (count, _, _) = download(&c, "d", Some("ds=1"), &all, &[]).await;
    assert_eq!(count, 4);
    let r = send(
        &c,
        tunnel(
            Method::Get,
            "d",
            &[("downloadid", id.as_str()), ("partition", "ds=1")],
        ),
    )
    .await;
    assert_eq!(r.json()["Status"], "normal");
    assert_eq!(r.json()["RecordCount"], 3);
    h.shutdown().await;
}

#[tokio::test]
async fn stream_upload_visible_at_once() {
    let (h, c) = start(MockConfig::default()).await;
    c.run_sql(
        "maxc",
        "CREATE TABLE s (id bigint, name string) PARTITIONED BY (ds string)",
    )
    .await;
    let schema = cols(&[("id", "bigint"), ("name", "string")]);
    let r = send(
        &c,
        Request::new(
            Method::Post,
            Layer::Tunnel,
            "/projects/maxc/tables/s/streams",
        )
        .with_query("partition", "ds=1")
        .with_query("create_partition", "")
        .with_query("check_latest_schema", "false")
        .with_header("odps-slot-num", "3"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let sid = j["session_name"].as_str().unwrap().to_string();
    assert_eq!(j["slots"].as_array().unwrap().len(), 3);
    assert_eq!(j["slots"][0][1], format!("127.0.0.1:{}", h.addr().port()));
    let put = |slot: &str, rows: &[i64]| {
        Request::new(
            Method::Put,
            Layer::Tunnel,
            "/projects/maxc/tables/s/streams",
        )
        .with_query("uploadid", &sid)
        .with_query("slotid", slot)
        .with_query("partition", "ds=1")
        .with_header("odps-tunnel-slot-num", "3")
        .with_body(body_of(&schema, &ints(rows)))
    };
    let r = send(&c, put("2", &[1, 2])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("odps-tunnel-slot-num").as_deref(), Some("3"));
    assert!(r.header("odps-tunnel-routed-server").unwrap().contains(':'));
    assert_eq!(admin_rows(&c, "s").await.as_array().unwrap().len(), 2);
    assert_eq!(send(&c, put("9", &[3])).await.status, 400);
    // A schema change with check_latest_schema=true gives 412 SchemaModified.
    c.run_sql("maxc", "ALTER TABLE s ADD COLUMNS (extra string)")
        .await;
    let r = send(&c, put("1", &[3]).with_query("check_latest_schema", "true")).await;
    assert_eq!(r.status, 412);
    assert_eq!(r.json()["Code"], "SchemaModified");
    assert_eq!(
        r.header("odps-tunnel-latest-schema-version").as_deref(),
        Some("1")
    );
    let r = send(
        &c,
        Request::new(
            Method::Get,
            Layer::Tunnel,
            "/projects/maxc/tables/s/streams",
        )
        .with_query("uploadid", &sid),
    )
    .await;
    assert_eq!(r.json()["status"], "normal");
    assert_eq!(r.json()["last_batch_id"], 1);
    h.shutdown().await;
}

fn upsert_rows(data: &[Column], rows: &[(i64, Option<&str>, u8, &[i64])]) -> Vec<u8> {
    let cols = maxc_core::api::upsert::upsert_record_columns(data);
    let vals: Vec<Vec<Value>> = rows
        .iter()
        .map(|(id, v, op, vc)| {
            vec![
                Value::Int(*id),
                v.map_or(Value::Null, |s| Value::Text(s.into())),
                Value::Null,
                Value::Null,
                Value::Int(*op as i64),
                Value::Null,
                Value::List(vc.iter().map(|x| Value::Int(*x)).collect()),
            ]
        })
        .collect();
    let b = build_batch(&cols, &vals).unwrap();
    encode_batches(&cols, &[b]).unwrap()
}

#[tokio::test]
async fn upsert_session() {
    let (h, c) = start(MockConfig::default()).await;
    let (s, r) = c
        .run_sql(
            "maxc",
            "CREATE TABLE acid (id bigint NOT NULL, val string, PRIMARY KEY (id)) PARTITIONED BY (ds string) TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='1')",
        )
        .await;
    assert_eq!(s, "Success", "{r}");
    c.run_sql("maxc", "CREATE TABLE plain (id bigint)").await;
    let up = |m: Method| {
        Request::new(m, Layer::Tunnel, "/projects/maxc/tables/acid/upserts")
            .with_query("partition", "ds=1")
    };
    let r = send(
        &c,
        Request::new(
            Method::Post,
            Layer::Tunnel,
            "/projects/maxc/tables/plain/upserts",
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = send(
        &c,
        up(Method::Post)
            .with_query("slotnum", "1")
            .with_query("create_partition", "true"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    for k in ["id", "schema", "hash_key", "hasher", "slots", "status"] {
        assert!(j.get(k).is_some(), "missing {k}: {j}");
    }
    assert_eq!(j["hasher"], "default");
    assert_eq!(j["slots"][0]["buckets"], json!([0]));
    let id = j["id"].as_str().unwrap().to_string();
    let data = cols(&[("id", "bigint"), ("val", "string")]);
    let body = upsert_rows(
        &data,
        &[
            (1, Some("one"), b'U', &[]),
            (2, Some("two"), b'U', &[]),
            (1, Some("uno"), b'U', &[]),
            (2, None, b'D', &[]),
        ],
    );
    let w = send(
        &c,
        up(Method::Put)
            .with_query("upsertid", &id)
            .with_query("bucketid", "0")
            .with_query("slotid", "1")
            .with_query("record_count", "4")
            .with_body(body),
    )
    .await;
    assert_eq!(w.status, 200, "{}", w.text());
    let bad = upsert_rows(&data, &[(1, Some("x"), b'X', &[])]);
    let w = send(
        &c,
        up(Method::Put)
            .with_query("upsertid", &id)
            .with_query("bucketid", "0")
            .with_body(bad),
    )
    .await;
    assert_eq!(w.status, 400);
    let w = send(
        &c,
        up(Method::Put)
            .with_query("upsertid", &id)
            .with_query("bucketid", "1")
            .with_body(upsert_rows(&data, &[])),
    )
    .await;
    assert_eq!(w.status, 400);
    // Not visible before commit.
    assert_eq!(admin_rows(&c, "acid").await, json!([]));
    let r = send(&c, up(Method::Post).with_query("upsertid", &id)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "committed");
    let r = send(&c, up(Method::Get).with_query("upsertid", &id)).await;
    assert_eq!(r.json()["status"], "committed");
    assert_eq!(
        send(&c, up(Method::Post).with_query("upsertid", &id))
            .await
            .json()["status"],
        "committed"
    );
    assert_eq!(
        admin_rows(&c, "acid").await,
        json!([{"id": 1, "val": "uno", "ds": "1"}])
    );

    // Partial update: only `val` (column id 1) with a NULL value keeps other columns.
    let r = send(&c, up(Method::Post)).await;
    let id2 = r.json()["id"].as_str().unwrap().to_string();
    let body = upsert_rows(
        &data,
        &[
            (1, Some("partial"), b'U', &[1]),
            (5, Some("five"), b'U', &[]),
        ],
    );
    send(
        &c,
        up(Method::Put)
            .with_query("upsertid", &id2)
            .with_query("bucketid", "0")
            .with_body(body),
    )
    .await;
    send(&c, up(Method::Post).with_query("upsertid", &id2)).await;
    assert_eq!(
        admin_rows(&c, "acid").await,
        json!([{"id": 1, "val": "partial", "ds": "1"}, {"id": 5, "val": "five", "ds": "1"}])
    );
    // Abort.
    let r = send(&c, up(Method::Post)).await;
    let id3 = r.json()["id"].as_str().unwrap().to_string();
    let r = send(&c, up(Method::Delete).with_query("upsertid", &id3)).await;
    assert_eq!(r.json()["status"], "aborted");
    let r = send(&c, up(Method::Get).with_query("upsertid", "nope")).await;
    assert_eq!(r.json()["Code"], "UpsertSessionNotFound");
    h.shutdown().await;
}

#[tokio::test]
async fn sessions_expire_after_24_hours_of_mock_time() {
    let clock = Arc::new(AtomicI64::new(1_704_067_200_000));
    let c2 = clock.clone();
    let h = MockServer::start_with_clock(
        MockConfig::default().without_auth(),
        Arc::new(move || MockTime::from_epoch_ms(c2.load(Ordering::SeqCst))),
    )
    .await
    .unwrap();
    let mut c = Client::new(&h);
    c.signer = None;
    c.run_sql("maxc", "CREATE TABLE t (id bigint, name string)")
        .await;
    let r = send(&c, tunnel(Method::Post, "t", &[("uploads", "1")])).await;
    let id = r.json()["UploadID"].as_str().unwrap().to_string();
    assert!(id.starts_with("20240101000000"), "{id}");
    clock.fetch_add(24 * 3600 * 1000 + 1, Ordering::SeqCst);
    let body = body_of(&cols(&[("id", "bigint"), ("name", "string")]), &ints(&[1]));
    let r = send(
        &c,
        tunnel(
            Method::Put,
            "t",
            &[("uploadid", id.as_str()), ("blockid", "0")],
        )
        .with_body(body),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["Code"], "StatusConflict");
    let r = send(&c, tunnel(Method::Get, "t", &[("uploadid", id.as_str())])).await;
    assert_eq!(r.json()["Status"], "expired");
    h.shutdown().await;
}

#[tokio::test]
async fn tunnel_fault_effects() {
    let (h, c) = start(MockConfig::default()).await;
    let fx = json!({"tables": [{"name": "f", "columns": [{"name": "id", "type": "bigint"}, {"name": "name", "type": "string"}],
        "rows": [[1, "a"], [2, "b"]]}]});
    c.send_raw(
        Request::new(Method::Post, Layer::Tunnel, "/_maxc/fixtures").with_body(fx.to_string()),
    )
    .await
    .unwrap();
    let schema = cols(&[("id", "bigint"), ("name", "string")]);
    let add = |rule: serde_json::Value| {
        Request::new(Method::Post, Layer::Tunnel, "/_maxc/faults").with_body(rule.to_string())
    };

    // corrupt_crc: the client's CRC check fails.
    c.send_raw(add(
        json!({"operation": "read_data", "times": 1, "effect": {"type": "corrupt_crc"}}),
    ))
    .await
    .unwrap();
    let (_, _, resp) = download(&c, "f", None, &schema, &[]).await;
    let e = decode_all(&schema, &resp.body, 100).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
    let (_, batches, _) = download(&c, "f", None, &schema, &[]).await;
    assert_eq!(batches[0].num_rows(), 2);

    // expire_session on a block PUT.
    let r = send(&c, tunnel(Method::Post, "f", &[("uploads", "1")])).await;
    let id = r.json()["UploadID"].as_str().unwrap().to_string();
    c.send_raw(add(
        json!({"operation": "upload_block", "table": "f", "effect": {"type": "expire_session"}}),
    ))
    .await
    .unwrap();
    let r = send(
        &c,
        tunnel(
            Method::Put,
            "f",
            &[("uploadid", id.as_str()), ("blockid", "0")],
        )
        .with_body(body_of(&schema, &ints(&[3]))),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["Code"], "StatusConflict");
    c.send_raw(Request::new(Method::Delete, Layer::Tunnel, "/_maxc/faults"))
        .await
        .unwrap();

    // Commit applied but the response lost: a retried commit returns the same success.
    let r = send(&c, tunnel(Method::Post, "f", &[("uploads", "1")])).await;
    let id = r.json()["UploadID"].as_str().unwrap().to_string();
    send(
        &c,
        tunnel(
            Method::Put,
            "f",
            &[("uploadid", id.as_str()), ("blockid", "0")],
        )
        .with_body(body_of(&schema, &ints(&[7]))),
    )
    .await;
    c.send_raw(add(
        json!({"operation": "commit_upload", "times": 1, "effect": {"type": "lose_response"}}),
    ))
    .await
    .unwrap();
    assert!(
        c.send(tunnel(Method::Post, "f", &[("uploadid", id.as_str())]))
            .await
            .is_err()
    );
    let r = send(&c, tunnel(Method::Post, "f", &[("uploadid", id.as_str())])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        admin_rows(&c, "f").await.as_array().unwrap().len(),
        3,
        "committed exactly once"
    );

    // Slot exhaustion on stream creation.
    c.send_raw(add(
        json!({"operation": "create_stream", "times": 1, "effect": {"type": "slot_exceeded"}}),
    ))
    .await
    .unwrap();
    let r = send(
        &c,
        Request::new(
            Method::Post,
            Layer::Tunnel,
            "/projects/maxc/tables/f/streams",
        ),
    )
    .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["Code"], "SlotExceeded");
    h.shutdown().await;
}

#[tokio::test]
async fn open_sessions_survive_restart() {
    let dir = common::temp_dir("sessions");
    let cfg = MockConfig::default().with_data_dir(&dir);
    let (h, c) = start(cfg.clone()).await;
    c.run_sql("maxc", "CREATE TABLE t (id bigint, name string)")
        .await;
    let schema = cols(&[("id", "bigint"), ("name", "string")]);
    let r = send(&c, tunnel(Method::Post, "t", &[("uploads", "1")])).await;
    let id = r.json()["UploadID"].as_str().unwrap().to_string();
    send(
        &c,
        tunnel(
            Method::Put,
            "t",
            &[("uploadid", id.as_str()), ("blockid", "3")],
        )
        .with_body(body_of(&schema, &ints(&[1, 2]))),
    )
    .await;
    h.shutdown().await;
    let (h, c) = start(cfg).await;
    let r = send(&c, tunnel(Method::Get, "t", &[("uploadid", id.as_str())])).await;
    assert_eq!(r.json()["UploadedBlockList"][0]["BlockID"], 3);
    assert_eq!(
        send(&c, tunnel(Method::Post, "t", &[("uploadid", id.as_str())]))
            .await
            .status,
        200
    );
    assert_eq!(admin_rows(&c, "t").await.as_array().unwrap().len(), 2);
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn every_compression_both_ways() {
    use maxc_core::compress::{Compression, compress, decompress};
    let (h, c) = start(MockConfig::default()).await;
    c.run_sql(
        "maxc",
        "CREATE TABLE z (id bigint, name string) PARTITIONED BY (ds string)",
    )
    .await;
    let schema = cols(&[("id", "bigint"), ("name", "string")]);
    for (i, codec) in Compression::ALL.iter().enumerate() {
        let ds = format!("ds={i}");
        let r = send(
            &c,
            tunnel(
                Method::Post,
                "z",
                &[
                    ("uploads", "1"),
                    ("partition", ds.as_str()),
                    ("create_partition", "true"),
                ],
            ),
        )
        .await;
        let id = r.json()["UploadID"].as_str().unwrap().to_string();
        let raw = body_of(&schema, &ints(&[1, 2, 3]));
        let mut put = tunnel(
            Method::Put,
            "z",
            &[
                ("uploadid", id.as_str()),
                ("partition", ds.as_str()),
                ("blockid", "0"),
            ],
        )
        .with_body(compress(*codec, &raw).unwrap());
        if let Some(enc) = codec.content_encoding() {
            put = put.with_header("content-encoding", enc);
        }
        let r = send(&c, put).await;
        assert_eq!(r.status, 200, "{codec}: {}", r.text());
        send(
            &c,
            tunnel(
                Method::Post,
                "z",
                &[("uploadid", id.as_str()), ("partition", ds.as_str())],
            ),
        )
        .await;
        // Download with Accept-Encoding.
        let r = send(
            &c,
            tunnel(
                Method::Post,
                "z",
                &[("downloads", ""), ("partition", ds.as_str())],
            ),
        )
        .await;
        let did = r.json()["DownloadID"].as_str().unwrap().to_string();
        let mut get = tunnel(
            Method::Get,
            "z",
            &[
                ("data", ""),
                ("downloadid", did.as_str()),
                ("rowrange", "(0,3)"),
                ("partition", ds.as_str()),
            ],
        );
        get = get.with_header(
            "accept-encoding",
            codec.content_encoding().unwrap_or("identity"),
        );
        let r = send(&c, get).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-encoding").as_deref(),
            codec.content_encoding(),
            "{codec}"
        );
        let plain = decompress(*codec, &r.body, 1 << 20).unwrap();
        assert_eq!(
            decode_all(&schema, &plain, 100).unwrap()[0].num_rows(),
            3,
            "{codec}"
        );
    }
    // The request log names the encodings both ways.
    let log = c
        .send_raw(
            Request::new(Method::Get, Layer::Tunnel, "/_maxc/requests").with_query("limit", "1000"),
        )
        .await
        .unwrap()
        .json();
    let encodings = |op: &str, key: &str| -> Vec<Option<String>> {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["op"] == op && e["table"] == "z")
            .map(|e| e[key].as_str().map(str::to_string))
            .collect()
    };
    let want: Vec<Option<String>> = Compression::ALL
        .iter()
        .map(|c| c.content_encoding().map(str::to_string))
        .collect();
    assert_eq!(encodings("upload_block", "request_encoding"), want);
    assert_eq!(encodings("read_data", "response_encoding"), want);
    assert!(
        encodings("upload_block", "response_encoding")
            .iter()
            .all(Option::is_none)
    );
    // A body that does not match its Content-Encoding.
    let r = send(
        &c,
        tunnel(
            Method::Post,
            "z",
            &[("uploads", "1"), ("partition", "ds=0")],
        ),
    )
    .await;
    let id = r.json()["UploadID"].as_str().unwrap().to_string();
    let r = send(
        &c,
        tunnel(
            Method::Put,
            "z",
            &[
                ("uploadid", id.as_str()),
                ("partition", "ds=0"),
                ("blockid", "0"),
            ],
        )
        .with_header("content-encoding", "zstd")
        .with_body(b"not zstd at all".to_vec()),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["Code"].as_str().unwrap()),
        (400, "MalformedDataStream")
    );
    h.shutdown().await;
}

#[tokio::test]
async fn arrow_upload_and_download() {
    use maxc_core::arrow_frame::{
        DEFAULT_CHUNK_SIZE, RecordBatchDecoder, encode_record_batches, frame, unframe,
    };
    use maxc_core::types::arrow::columns_to_arrow;
    let (h, c) = start(MockConfig::default()).await;
    c.run_sql("maxc", "CREATE TABLE a (id bigint, name string, ts datetime, amount decimal(18,4)) PARTITIONED BY (ds string)").await;
    let schema = cols(&[
        ("id", "bigint"),
        ("name", "string"),
        ("ts", "datetime"),
        ("amount", "decimal(18,4)"),
    ]);
    let rows: Vec<Vec<Value>> = (0..3)
        .map(|i| {
            vec![
                Value::Int(i),
                Value::Text(format!("n{i}")),
                Value::DateTime(1_704_067_200_000 + i),
                Value::Decimal(12_3400 + i as i128),
            ]
        })
        .collect();
    let batch = build_batch(&schema, &rows).unwrap();
    let body = frame(
        DEFAULT_CHUNK_SIZE,
        &encode_record_batches(&[batch.slice(0, 2), batch.slice(2, 1)]).unwrap(),
    )
    .unwrap();
    let r = send(
        &c,
        tunnel(
            Method::Post,
            "a",
            &[
                ("uploads", "1"),
                ("partition", "ds=1"),
                ("create_partition", "true"),
            ],
        ),
    )
    .await;
    let id = r.json()["UploadID"].as_str().unwrap().to_string();
    let r = send(
        &c,
        tunnel(
            Method::Put,
            "a",
            &[
                ("uploadid", id.as_str()),
                ("partition", "ds=1"),
                ("blockid", "0"),
                ("arrow", ""),
            ],
        )
        .with_body(body.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut bad = body.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    let r = send(
        &c,
        tunnel(
            Method::Put,
            "a",
            &[
                ("uploadid", id.as_str()),
                ("partition", "ds=1"),
                ("blockid", "1"),
                ("arrow", ""),
            ],
        )
        .with_body(bad),
    )
    .await;
    assert_eq!(r.json()["Code"], "MalformedDataStream");
    send(
        &c,
        tunnel(
            Method::Post,
            "a",
            &[("uploadid", id.as_str()), ("partition", "ds=1")],
        ),
    )
    .await;

    let r = send(
        &c,
        tunnel(
            Method::Post,
            "a",
            &[("downloads", ""), ("partition", "ds=1")],
        ),
    )
    .await;
    let did = r.json()["DownloadID"].as_str().unwrap().to_string();
    let r = send(
        &c,
        tunnel(
            Method::Get,
            "a",
            &[
                ("data", ""),
                ("arrow", ""),
                ("downloadid", did.as_str()),
                ("rowrange", "(1,2)"),
                ("partition", "ds=1"),
            ],
        )
        .with_header("accept-encoding", "x-odps-lz4-frame"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-encoding").as_deref(),
        Some("x-odps-lz4-frame")
    );
    let plain = maxc_core::compress::decompress(
        maxc_core::compress::Compression::Lz4Frame,
        &r.body,
        1 << 20,
    )
    .unwrap();
    let payload = unframe(1 << 20, &plain).unwrap();
    let mut dec = RecordBatchDecoder::new(columns_to_arrow(&schema));
    let got = dec.feed(&payload).unwrap();
    dec.finish().unwrap();
    let total: usize = got.iter().map(|b| b.num_rows()).sum();
    assert_eq!(total, 2);
    assert_eq!(row_values(&got[0], &schema, 0).unwrap(), rows[1]);

    // An Arrow projection comes back in table order whatever the order of `columns`
    // (pyodps filters the table schema to build the wire schema, then re-orders).
    let r = send(
        &c,
        tunnel(
            Method::Get,
            "a",
            &[
                ("data", ""),
                ("arrow", ""),
                ("downloadid", did.as_str()),
                ("rowrange", "(0,3)"),
                ("partition", "ds=1"),
                ("columns", "amount,id"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let projected = vec![schema[0].clone(), schema[3].clone()];
    let payload = unframe(1 << 20, &r.body).unwrap();
    let mut dec = RecordBatchDecoder::new(columns_to_arrow(&projected));
    let got = dec.feed(&payload).unwrap();
    dec.finish().unwrap();
    let names: Vec<String> = got[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "amount"]);
    let mut seen = Vec::new();
    for b in &got {
        for i in 0..b.num_rows() {
            seen.push(row_values(b, &projected, i).unwrap());
        }
    }
    let want: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| vec![r[0].clone(), r[3].clone()])
        .collect();
    assert_eq!(seen, want);
    h.shutdown().await;
}

#[tokio::test]
async fn upsert_rows_must_belong_to_their_bucket() {
    use maxc_core::hash::{Hasher, buckets_for_batch};
    let (h, c) = start(MockConfig::default()).await;
    c.run_sql(
        "maxc",
        "CREATE TABLE b4 (id bigint NOT NULL, val string, PRIMARY KEY (id)) TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4')",
    )
    .await;
    let r = send(
        &c,
        Request::new(
            Method::Post,
            Layer::Tunnel,
            "/projects/maxc/tables/b4/upserts",
        )
        .with_query("slotnum", "2"),
    )
    .await;
    let j = r.json();
    let id = j["id"].as_str().unwrap().to_string();
    let mut all: Vec<i64> = j["slots"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_i64().unwrap())
        })
        .collect();
    all.sort();
    assert_eq!(all, vec![0, 1, 2, 3]);
    let data = cols(&[("id", "bigint"), ("val", "string")]);
    let keys = Int64Array::from((0..20).collect::<Vec<i64>>());
    let buckets =
        buckets_for_batch(Hasher::Default, &[(&"bigint".parse().unwrap(), &keys)], 4).unwrap();
    for b in 0..4u32 {
        let mine: Vec<i64> = (0..20).filter(|k| buckets[*k as usize] == b).collect();
        let other: Vec<i64> = (0..20)
            .filter(|k| buckets[*k as usize] != b)
            .take(1)
            .collect();
        let rows: Vec<(i64, Option<&str>, u8, &[i64])> = mine
            .iter()
            .map(|k| (*k, Some("v"), b'U', &[][..]))
            .collect();
        let put = |body: Vec<u8>| {
            Request::new(
                Method::Put,
                Layer::Tunnel,
                "/projects/maxc/tables/b4/upserts",
            )
            .with_query("upsertid", &id)
            .with_query("bucketid", b.to_string())
            .with_body(body)
        };
        assert_eq!(send(&c, put(upsert_rows(&data, &rows))).await.status, 200);
        let wrong: Vec<(i64, Option<&str>, u8, &[i64])> = other
            .iter()
            .map(|k| (*k, Some("v"), b'U', &[][..]))
            .collect();
        let r = send(&c, put(upsert_rows(&data, &wrong))).await;
        assert_eq!(r.status, 400);
        assert!(r.text().contains("belongs to bucket"), "{}", r.text());
    }
    send(
        &c,
        Request::new(
            Method::Post,
            Layer::Tunnel,
            "/projects/maxc/tables/b4/upserts",
        )
        .with_query("upsertid", &id),
    )
    .await;
    assert_eq!(admin_rows(&c, "b4").await.as_array().unwrap().len(), 20);
    h.shutdown().await;
}
