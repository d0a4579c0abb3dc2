//! Fuzz-style property tests of the pure service: arbitrary paths, queries, headers and
//! bodies (malformed XML, JSON, SQL, record streams, absurd sizes) always give an error
//! response with a request id, never a panic or a hang.

use bytes::Bytes;
use maxc_core::http::{Headers, Method, Request, Service as Layer};
use maxc_mock::{MockTime, Service, ServiceConfig};
use proptest::prelude::*;

const T0: i64 = 1_704_067_200_000;

fn service() -> Service {
    let cfg = ServiceConfig {
        auth: false,
        ..ServiceConfig::default()
    };
    let mut s = Service::new(cfg, MockTime(T0));
    let f: maxc_mock::fixtures::Fixtures = serde_json::from_value(serde_json::json!({"tables": [
        {"name": "t", "columns": [{"name": "id", "type": "bigint"}, {"name": "s", "type": "string"}],
         "partition_columns": [{"name": "ds", "type": "string"}],
         "partitions": [{"spec": "ds=1", "rows": [[1, "a"]]}]},
        {"name": "d", "primary_key": ["id"], "transactional": true,
         "columns": [{"name": "id", "type": "bigint"}, {"name": "v", "type": "string"}]}
    ]}))
    .unwrap();
    s.load_fixtures(&f, MockTime(T0)).unwrap();
    s
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Get),
        Just(Method::Post),
        Just(Method::Put),
        Just(Method::Delete),
        Just(Method::Head)
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("api".to_string()),
        Just("projects".to_string()),
        Just("maxc".to_string()),
        Just("tables".to_string()),
        Just("t".to_string()),
        Just("d".to_string()),
        Just("instances".to_string()),
        Just("schemas".to_string()),
        Just("streams".to_string()),
        Just("upserts".to_string()),
        Just("_maxc".to_string()),
        Just("tunnel".to_string()),
        ".{0,12}",
    ]
}

fn query_pair() -> impl Strategy<Value = (String, String)> {
    let key = prop_oneof![
        Just("uploads".to_string()),
        Just("uploadid".to_string()),
        Just("blockid".to_string()),
        Just("downloads".to_string()),
        Just("downloadid".to_string()),
        Just("data".to_string()),
        Just("rowrange".to_string()),
        Just("columns".to_string()),
        Just("partition".to_string()),
        Just("partitions".to_string()),
        Just("marker".to_string()),
        Just("maxitems".to_string()),
        Just("upsertid".to_string()),
        Just("bucketid".to_string()),
        Just("slotid".to_string()),
        Just("taskstatus".to_string()),
        Just("result".to_string()),
        Just("service".to_string()),
        Just("arrow".to_string()),
        ".{0,8}",
    ];
    let value = prop_oneof![
        Just(String::new()),
        Just("ds=1".to_string()),
        Just("ds='1'".to_string()),
        Just("(0,5)".to_string()),
        Just("(18446744073709551615,1)".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        ".{0,16}",
    ];
    (key, value)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b"<Instance><Job><Tasks><SQL><Name>x</Name><Query>CREATE TABLE z (a bigint)</Query></SQL></Tasks></Job></Instance>".to_vec()),
        Just(b"<Instance><Job><Tasks><SQL><Query><![CDATA[".to_vec()),
        Just(b"{\"tables\": [{\"name\": 1}]}".to_vec()),
        Just(vec![0xf0, 0xff, 0xff, 0x7f, 0x00, 0xf8, 0xff, 0xff, 0x7f, 0x00]),
        Just(vec![0x80; 64]),
        proptest::collection::vec(any::<u8>(), 0..256),
        "(CREATE|ALTER|DROP|TABLE|PARTITION|\\(|\\)|`|'|,|;| |a|1|<|>|:)*".prop_map(|s| s.into_bytes()),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        method(),
        any::<bool>(),
        proptest::collection::vec(segment(), 0..8),
        proptest::collection::vec(query_pair(), 0..6),
        proptest::collection::vec(("[a-zA-Z-]{1,20}", ".{0,30}"), 0..4),
        body(),
    )
        .prop_map(|(m, rest, segs, query, headers, body)| {
            let mut path = String::new();
            for s in segs {
                path.push('/');
                path.push_str(&s);
            }
            if path.is_empty() {
                path.push('/');
            }
            Request {
                method: m,
                service: if rest { Layer::Rest } else { Layer::Tunnel },
                path,
                query,
                headers: headers.into_iter().collect::<Headers>(),
                body: Bytes::from(body),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn never_panics_and_always_answers(reqs in proptest::collection::vec(request(), 1..6)) {
        let mut s = service();
        for (i, r) in reqs.into_iter().enumerate() {
            let reply = s.serve(r, MockTime(T0 + i as i64 * 1000));
            let resp = reply.response;
            prop_assert!((100..600).contains(&resp.status));
            prop_assert!(resp.headers.get("x-odps-request-id").is_some());
        }
    }

    #[test]
    fn sql_parser_never_panics(sql in ".{0,200}") {
        let _ = maxc_mock::sql::parse_script(&sql);
    }

    #[test]
    fn xml_parser_never_panics(doc in ".{0,200}") {
        let _ = maxc_mock::xml::parse(&doc);
    }

    #[test]
    fn spec_parser_never_panics(spec in ".{0,64}") {
        let _ = maxc_mock::spec::PartSpec::parse(&spec);
    }
}

#[test]
fn same_requests_same_responses() {
    let run = || {
        let mut s = service();
        let mut out = Vec::new();
        for (i, sql) in [
            "CREATE TABLE a (x bigint)",
            "CREATE TABLE a (x bigint)",
            "SELECT 1",
        ]
        .iter()
        .enumerate()
        {
            let body = format!(
                "<Instance><Job><Tasks><SQL><Name>n</Name><Query><![CDATA[{sql}]]></Query></SQL></Tasks></Job></Instance>"
            );
            let r =
                Request::new(Method::Post, Layer::Rest, "/projects/maxc/instances").with_body(body);
            let resp = s.handle(r, MockTime(T0 + i as i64));
            out.push(format!("{:?}", resp));
            let id = resp
                .headers
                .get("location")
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            let r = Request::new(
                Method::Get,
                Layer::Rest,
                format!("/projects/maxc/instances/{id}"),
            )
            .with_query("result", "");
            out.push(format!("{:?}", s.handle(r, MockTime(T0 + i as i64))));
        }
        out
    };
    assert_eq!(run(), run());
}

#[test]
fn absurd_sizes_are_refused() {
    let mut s = service();
    let huge_sql = format!("CREATE TABLE x ({})", "a bigint, ".repeat(1 << 19));
    let body = format!(
        "<Instance><Job><Tasks><SQL><Name>n</Name><Query><![CDATA[{huge_sql}]]></Query></SQL></Tasks></Job></Instance>"
    );
    let r = Request::new(Method::Post, Layer::Rest, "/projects/maxc/instances").with_body(body);
    let resp = s.handle(r, MockTime(T0));
    assert_eq!(resp.status, 201);
    let deep = format!(
        "CREATE TABLE y (a {}bigint{})",
        "array<".repeat(100),
        ">".repeat(100)
    );
    assert!(maxc_mock::sql::parse_script(&deep).is_err());
    let r = Request::new(Method::Get, Layer::Rest, "/projects/maxc/tables")
        .with_query("maxitems", "99999999999999999999999");
    assert_eq!(s.handle(r, MockTime(T0)).status, 400);
}

fn session_service() -> (Service, String, String) {
    let mut s = service();
    let r = s.handle(
        Request::new(Method::Post, Layer::Tunnel, "/projects/maxc/tables/t")
            .with_query("uploads", "1")
            .with_query("partition", "ds=1"),
        MockTime(T0),
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let up = v["UploadID"].as_str().unwrap().to_string();
    let r = s.handle(
        Request::new(
            Method::Post,
            Layer::Tunnel,
            "/projects/maxc/tables/d/upserts",
        ),
        MockTime(T0),
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let ups = v["id"].as_str().unwrap().to_string();
    (s, up, ups)
}

fn valid_block() -> Vec<u8> {
    use maxc_core::types::Column;
    let cols: Vec<Column> = vec![
        Column::new("id", "bigint".parse().unwrap()),
        Column::new("s", "string".parse().unwrap()),
    ];
    let rows: Vec<Vec<maxc_mock::values::Value>> = (0..5)
        .map(|i| {
            vec![
                maxc_mock::values::Value::Int(i),
                maxc_mock::values::Value::Text(format!("r{i}")),
            ]
        })
        .collect();
    let b = maxc_mock::values::build_batch(&cols, &rows).unwrap();
    maxc_core::codec::encode_batches(&cols, &[b]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn mutated_block_bodies_are_rejected_cleanly(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        encoding in prop_oneof![Just(None), Just(Some("deflate")), Just(Some("zstd")), Just(Some("x-snappy-framed")), Just(Some("x-lz4-frame")), Just(Some("bogus"))],
        arrow in any::<bool>(),
        block in prop_oneof![Just("0".to_string()), Just("19999".to_string()), Just("20000".to_string()), "[0-9a-z-]{0,8}"],
    ) {
        let (mut s, up, _) = session_service();
        let mut body = valid_block();
        let n = body.len();
        for (i, b) in &flips {
            let i = i.index(n);
            body[i] ^= b | 1;
        }
        if truncate {
            body.truncate(cut.index(n + 1));
        }
        let mut req = Request::new(Method::Put, Layer::Tunnel, "/projects/maxc/tables/t")
            .with_query("uploadid", &up)
            .with_query("blockid", block)
            .with_query("partition", "ds=1")
            .with_body(body);
        if arrow {
            req = req.with_query("arrow", "");
        }
        if let Some(e) = encoding {
            req = req.with_header("content-encoding", e);
        }
        let r = s.handle(req, MockTime(T0));
        prop_assert!(r.status == 200 || r.status == 400 || r.status == 413, "{}", r.status);
        if r.status == 400 {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            prop_assert!(v["Code"].is_string());
        }
    }

    #[test]
    fn random_upsert_bodies_and_read_params(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        bucket in "[0-9]{0,3}",
        range in prop_oneof![Just("(0,1)".to_string()), Just("(0,2)".to_string()), "\\(?[0-9-]{0,20},?[0-9-]{0,20}\\)?"],
        columns in prop_oneof![Just(String::new()), Just("id".to_string()), Just("s,id,ds".to_string()), ".{0,10}"],
    ) {
        let (mut s, _, ups) = session_service();
        let r = s.handle(
            Request::new(Method::Put, Layer::Tunnel, "/projects/maxc/tables/d/upserts")
                .with_query("upsertid", &ups)
                .with_query("bucketid", bucket)
                .with_body(body),
            MockTime(T0),
        );
        prop_assert!(r.status == 200 || r.status == 400, "{}", r.status);
        let r = s.handle(
            Request::new(Method::Post, Layer::Tunnel, "/projects/maxc/tables/d/upserts").with_query("upsertid", &ups),
            MockTime(T0),
        );
        prop_assert_eq!(r.status, 200);
        let r = s.handle(
            Request::new(Method::Post, Layer::Tunnel, "/projects/maxc/tables/t")
                .with_query("downloads", "")
                .with_query("partition", "ds=1"),
            MockTime(T0),
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let did = v["DownloadID"].as_str().unwrap().to_string();
        let r = s.handle(
            Request::new(Method::Get, Layer::Tunnel, "/projects/maxc/tables/t")
                .with_query("data", "")
                .with_query("downloadid", &did)
                .with_query("partition", "ds=1")
                .with_query("rowrange", range)
                .with_query("columns", columns),
            MockTime(T0),
        );
        prop_assert!(r.status == 200 || r.status == 400, "{}", r.status);
    }
}
