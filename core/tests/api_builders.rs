//! Request builders produce exactly the paths, queries and headers of the protocol notes.

use bytes::Bytes;
use maxc_core::api::instance::{self, SqlJob};
use maxc_core::api::stream::{self, StreamOptions, StreamWrite};
use maxc_core::api::tunnel::{self, BlockOptions, DownloadOptions, ReadRange, UploadOptions};
use maxc_core::api::upsert::{self, UpsertWrite};
use maxc_core::api::{ApiContext, rest};
use maxc_core::http::{Method, Request, Service};
use maxc_core::partition::PartitionSpec;

const UA: &str = "pyodps/0.13.2 CPython/3.11.7 Linux/5.15";

fn ctx() -> ApiContext {
    ApiContext::new("my_project", UA)
}

fn spec(s: &str) -> PartitionSpec {
    PartitionSpec::parse(s).unwrap()
}

/// The signing resource: decoded path + query sorted by key, bare keys for empty values.
fn canonical_resource(r: &Request) -> String {
    let mut q = r.query.clone();
    q.sort();
    let parts: Vec<String> = q
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    if parts.is_empty() {
        r.path.clone()
    } else {
        format!("{}?{}", r.path, parts.join("&"))
    }
}

fn header_lines(r: &Request) -> Vec<(String, String)> {
    r.headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn assert_tunnel_headers(r: &Request) {
    assert_eq!(r.service, Service::Tunnel);
    assert_eq!(r.headers.get("x-odps-tunnel-version"), Some("6"));
    assert_eq!(r.headers.get("odps-tunnel-date-transform"), Some("v1"));
    assert_eq!(
        r.headers.get("odps-tunnel-sdk-support-schema-evolution"),
        Some("true")
    );
    assert_eq!(r.headers.get("x-odps-user-agent"), Some(UA));
    assert_eq!(r.headers.get("user-agent"), Some(UA));
    assert_eq!(
        r.query.last().map(|(k, _)| k.as_str()),
        Some("curr_project")
    );
}

#[test]
fn v1_get_table() {
    let r = rest::get_table(&ctx(), "my_table", false);
    assert_eq!(r.method, Method::Get);
    assert_eq!(r.service, Service::Rest);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/my_table?curr_project=my_project"
    );
    assert_eq!(
        canonical_resource(&r),
        "/projects/my_project/tables/my_table?curr_project=my_project"
    );
    assert_eq!(
        header_lines(&r),
        vec![
            ("user-agent".to_string(), UA.to_string()),
            ("x-odps-user-agent".to_string(), UA.to_string())
        ]
    );
    assert!(r.body.is_empty());
    assert_eq!(
        rest::get_table(&ctx(), "my_table", true).path_and_query(),
        "/projects/my_project/tables/my_table?extended&curr_project=my_project"
    );
}

#[test]
fn v2_list_partitions() {
    let r = rest::list_partitions(&ctx(), "my_table", &rest::ListPartitions::default());
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/my_table?partitions&expectmarker=true&curr_project=my_project"
    );
    assert_eq!(
        canonical_resource(&r),
        "/projects/my_project/tables/my_table?curr_project=my_project&expectmarker=true&partitions"
    );
    let r = rest::list_partitions(
        &ctx(),
        "t",
        &rest::ListPartitions {
            prefix: spec("ds=1"),
            marker: Some("m 1".into()),
            max_items: Some(100),
        },
    );
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/t?partitions&expectmarker=true&partition=ds%3D%271%27&marker=m%201&maxitems=100&curr_project=my_project"
    );
}

#[test]
fn get_one_partition_uses_quoted_spec() {
    let r = rest::get_partition(&ctx(), "t", &spec("ds=20240101"), false);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/t?partition=ds%3D%2720240101%27&curr_project=my_project"
    );
    assert_eq!(r.query_param("partition"), Some("ds='20240101'"));
}

#[test]
fn list_tables_and_project_and_discovery() {
    let r = rest::list_tables(
        &ctx(),
        &rest::ListTables {
            name_prefix: Some("ab".into()),
            marker: None,
            max_items: Some(10),
        },
    );
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables?expectmarker=true&name=ab&maxitems=10&curr_project=my_project"
    );
    assert_eq!(
        rest::get_project(&ctx()).path_and_query(),
        "/projects/my_project?curr_project=my_project"
    );
    let mut c = ctx();
    let r = rest::get_tunnel_endpoint(&c);
    assert_eq!(r.service, Service::Rest);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tunnel?service&curr_project=my_project"
    );
    c.quota_name = Some("q1".into());
    assert_eq!(
        rest::get_tunnel_endpoint(&c).path_and_query(),
        "/projects/my_project/tunnel?service&quotaName=q1&curr_project=my_project"
    );
}

#[test]
fn v4_create_upload() {
    let r = tunnel::create_upload(
        &ctx(),
        "my_table",
        &UploadOptions {
            partition: spec("ds=20240101,region=hz"),
            ..UploadOptions::default()
        },
    );
    assert_eq!(r.method, Method::Post);
    assert_tunnel_headers(&r);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/my_table?uploads=1&partition=ds%3D20240101%2Cregion%3Dhz&curr_project=my_project"
    );
    assert_eq!(
        canonical_resource(&r),
        "/projects/my_project/tables/my_table?curr_project=my_project&partition=ds=20240101,region=hz&uploads=1"
    );
    assert!(r.body.is_empty());
    assert!(!r.headers.contains("content-type"));

    let mut c = ctx();
    c.quota_name = Some("qq".into());
    let r = tunnel::create_upload(
        &c,
        "t",
        &UploadOptions {
            partition: PartitionSpec::new(),
            overwrite: true,
            create_partition: true,
        },
    );
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/t?uploads=1&overwrite=true&create_partition=true&quotaName=qq&curr_project=my_project"
    );
}

#[test]
fn v5_block_put() {
    let body = Bytes::from_static(b"\x08\x02");
    let r = tunnel::upload_block(
        &ctx(),
        "my_table",
        &spec("ds=20240101,region=hz"),
        "20240101000000abcdef0123456789",
        0,
        &BlockOptions::default(),
        body.clone(),
    );
    assert_eq!(r.method, Method::Put);
    assert_tunnel_headers(&r);
    assert_eq!(
        r.headers.get("content-type"),
        Some("application/octet-stream")
    );
    assert!(!r.headers.contains("content-encoding"));
    assert_eq!(r.body, body);
    assert_eq!(
        canonical_resource(&r),
        "/projects/my_project/tables/my_table?blockid=0&curr_project=my_project&partition=ds=20240101,region=hz&uploadid=20240101000000abcdef0123456789"
    );
    let r = tunnel::upload_block(
        &ctx(),
        "t",
        &PartitionSpec::new(),
        "u",
        7,
        &BlockOptions {
            arrow: true,
            content_encoding: Some("x-odps-lz4-frame".into()),
            block_version: Some(2),
        },
        Bytes::new(),
    );
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/t?uploadid=u&blockid=7&arrow&block_version=2&curr_project=my_project"
    );
    assert_eq!(r.headers.get("content-encoding"), Some("x-odps-lz4-frame"));
}

#[test]
fn upload_reload_and_commit() {
    let p = spec("ds=20240101");
    assert_eq!(
        tunnel::get_upload(&ctx(), "t", &p, "u1").path_and_query(),
        "/projects/my_project/tables/t?uploadid=u1&partition=ds%3D20240101&getblockid=true&curr_project=my_project"
    );
    let c = tunnel::commit_upload(&ctx(), "t", &p, "u1");
    assert_eq!(c.method, Method::Post);
    assert!(c.body.is_empty());
    assert_eq!(
        c.path_and_query(),
        "/projects/my_project/tables/t?uploadid=u1&partition=ds%3D20240101&curr_project=my_project"
    );
}

#[test]
fn download_requests() {
    let p = spec("ds=20240101");
    let r = tunnel::create_download(
        &ctx(),
        "t",
        &DownloadOptions {
            partition: p.clone(),
            async_mode: true,
        },
    );
    assert_tunnel_headers(&r);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/t?downloads&partition=ds%3D20240101&asyncmode=true&curr_project=my_project"
    );
    assert_eq!(
        tunnel::get_download(&ctx(), "t", &p, "d1").path_and_query(),
        "/projects/my_project/tables/t?downloadid=d1&partition=ds%3D20240101&curr_project=my_project"
    );
    let r = tunnel::read_rows(
        &ctx(),
        "t",
        "d1",
        &ReadRange {
            partition: p.clone(),
            start: 0,
            count: 5,
            ..ReadRange::default()
        },
    );
    assert_eq!(r.method, Method::Get);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/t?data&downloadid=d1&partition=ds%3D20240101&rowrange=%280%2C5%29&curr_project=my_project"
    );
    assert!(!r.headers.contains("accept-encoding"));
    let r = tunnel::read_rows(
        &ctx(),
        "t",
        "d1",
        &ReadRange {
            partition: PartitionSpec::new(),
            start: 1,
            count: 2,
            columns: Some(vec!["a".into(), "b".into()]),
            arrow: true,
            accept_encoding: Some("deflate".into()),
            raw_size: Some(1024),
            disable_modified_check: true,
        },
    );
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/t?data&arrow&downloadid=d1&rowrange=%281%2C2%29&columns=a%2Cb&raw_size=1024&disable_modified_check=true&curr_project=my_project"
    );
    assert_eq!(r.headers.get("accept-encoding"), Some("deflate"));
    assert_eq!(tunnel::parse_row_range("(1,2)"), Some((1, 2)));
    assert_eq!(tunnel::parse_row_range(" ( 10 , 20 ) "), Some((10, 20)));
    assert_eq!(tunnel::parse_row_range("(1,-2)"), None);
    assert_eq!(tunnel::parse_row_range("1,2"), None);
}

#[test]
fn stream_requests() {
    let p = spec("ds=20240101");
    let r = stream::create_stream(
        &ctx(),
        "t",
        &StreamOptions {
            partition: p.clone(),
            ..StreamOptions::default()
        },
    );
    assert_tunnel_headers(&r);
    assert_eq!(r.method, Method::Post);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/t/streams?partition=ds%3D20240101&check_latest_schema=false&curr_project=my_project"
    );
    assert!(!r.headers.contains("odps-tunnel-slot-num"));
    let r = stream::create_stream(
        &ctx(),
        "t",
        &StreamOptions {
            partition: p.clone(),
            create_partition: true,
            slot_num: Some(4),
            schema_version: Some("3".into()),
            check_latest_schema: true,
            dynamic_partition: false,
            zorder_columns: vec!["a".into(), "b".into()],
        },
    );
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/t/streams?partition=ds%3D20240101&create_partition&schema_version=3&zorder_columns=a%2Cb&check_latest_schema=true&curr_project=my_project"
    );
    assert_eq!(r.headers.get("odps-tunnel-slot-num"), Some("4"));

    let body = Bytes::from_static(b"rows");
    let r = stream::write_stream(
        &ctx(),
        "t",
        &StreamWrite {
            partition: p.clone(),
            session_name: "s1".into(),
            slot_id: "1".into(),
            routed_server: "127.0.0.1:8080".into(),
            slot_count: 1,
            schema_version: Some("0".into()),
            record_count: None,
            check_latest_schema: false,
            content_encoding: None,
        },
        body.clone(),
    );
    assert_eq!(r.method, Method::Put);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/t/streams?uploadid=s1&slotid=1&partition=ds%3D20240101&schema_version=0&check_latest_schema=false&curr_project=my_project"
    );
    assert_eq!(
        r.headers.get("odps-tunnel-routed-server"),
        Some("127.0.0.1:8080")
    );
    assert_eq!(r.headers.get("odps-tunnel-slot-num"), Some("1"));
    assert_eq!(
        r.headers.get("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(r.body, body);
    assert_eq!(
        stream::get_stream(&ctx(), "t", &p, "s1", None).path_and_query(),
        "/projects/my_project/tables/t/streams?uploadid=s1&partition=ds%3D20240101&curr_project=my_project"
    );
    let a = stream::abort_stream(&ctx(), "t", &p, "s1", "10.0.0.1:1");
    assert_eq!(a.method, Method::Post);
    assert_eq!(
        a.headers.get("odps-tunnel-routed-server"),
        Some("10.0.0.1:1")
    );
}

#[test]
fn upsert_requests() {
    let p = spec("ds=20240101");
    let r = upsert::create_upsert(&ctx(), "mock_acid", &p, 1, None);
    assert_tunnel_headers(&r);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/mock_acid/upserts?partition=ds%3D20240101&slotnum=1&curr_project=my_project"
    );
    assert_eq!(
        upsert::create_upsert(&ctx(), "t", &PartitionSpec::new(), 2, Some(48)).path_and_query(),
        "/projects/my_project/tables/t/upserts?slotnum=2&lifecycle=24&curr_project=my_project"
    );
    let body = Bytes::from_static(b"\x08\x04");
    let r = upsert::write_upsert(
        &ctx(),
        "mock_acid",
        &UpsertWrite {
            partition: p.clone(),
            upsert_id: "u9".into(),
            bucket: 0,
            slot_id: "1".into(),
            routed_server: "127.0.0.1:9".into(),
            record_count: 4,
            content_encoding: Some("deflate".into()),
        },
        body.clone(),
    );
    assert_eq!(r.method, Method::Put);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/tables/mock_acid/upserts?upsertid=u9&partition=ds%3D20240101&bucketid=0&slotid=1&record_count=4&curr_project=my_project"
    );
    assert_eq!(
        r.headers.get("odps-tunnel-routed-server"),
        Some("127.0.0.1:9")
    );
    assert_eq!(r.headers.get("content-encoding"), Some("deflate"));
    assert!(!r.headers.contains("content-type"));
    assert_eq!(r.body, body);
    let c = upsert::commit_upsert(&ctx(), "t", &p, "u9", "127.0.0.1:9");
    assert_eq!(c.method, Method::Post);
    assert_eq!(
        c.path_and_query(),
        "/projects/my_project/tables/t/upserts?upsertid=u9&partition=ds%3D20240101&curr_project=my_project"
    );
    assert_eq!(
        c.headers.get("odps-tunnel-routed-server"),
        Some("127.0.0.1:9")
    );
    let d = upsert::abort_upsert(&ctx(), "t", &p, "u9", "127.0.0.1:9");
    assert_eq!(d.method, Method::Delete);
    assert_eq!(
        upsert::get_upsert(&ctx(), "t", &p, "u9").path_and_query(),
        "/projects/my_project/tables/t/upserts?upsertid=u9&partition=ds%3D20240101&curr_project=my_project"
    );
}

#[test]
fn three_tier_paths() {
    let mut c = ctx();
    c.schema = Some("default".into());
    assert_eq!(
        rest::get_table(&c, "t", false).path,
        "/projects/my_project/schemas/default/tables/t"
    );
    assert_eq!(
        tunnel::create_upload(&c, "t", &UploadOptions::default()).path,
        "/projects/my_project/schemas/default/tables/t"
    );
    assert_eq!(
        upsert::get_upsert(&c, "t", &PartitionSpec::new(), "x").path,
        "/projects/my_project/schemas/default/tables/t/upserts"
    );
    assert_eq!(
        rest::list_tables(&c, &rest::ListTables::default()).path,
        "/projects/my_project/schemas/default/tables"
    );
}

#[test]
fn sql_submission() {
    let mut job = SqlJob::new(
        instance::TASK_ADD_PARTITION,
        "ALTER TABLE my_project.`t` ADD IF NOT EXISTS PARTITION (ds='20240101');",
        "uid-1",
    );
    job.settings
        .insert("odps.sql.submit.mode".into(), "".into());
    let r = instance::submit_sql(&ctx(), &job);
    assert_eq!(r.method, Method::Post);
    assert_eq!(r.service, Service::Rest);
    assert_eq!(
        r.path_and_query(),
        "/projects/my_project/instances?curr_project=my_project"
    );
    assert_eq!(r.headers.get("content-type"), Some("application/xml"));
    let body = std::str::from_utf8(&r.body).unwrap();
    assert!(body.contains("<Name>SQLAddPartitionTask</Name>"), "{body}");
    assert!(
        body.contains("<Priority>9</Priority><Guid>uid-1</Guid>"),
        "{body}"
    );
    assert!(
        body.contains("<DAG><RunMode>Sequence</RunMode></DAG>"),
        "{body}"
    );
    assert_eq!(SqlJob::from_xml(&r.body).unwrap(), job);
    assert_eq!(
        instance::get_task_status(&ctx(), "i1").path_and_query(),
        "/projects/my_project/instances/i1?taskstatus&curr_project=my_project"
    );
    assert_eq!(
        instance::get_result(&ctx(), "i1").path_and_query(),
        "/projects/my_project/instances/i1?result&curr_project=my_project"
    );
}

#[test]
fn ddl_text() {
    use maxc_core::types::{Column, OdpsType, TableSchema};
    let c = ctx();
    assert_eq!(
        instance::add_partition_sql(&c, "t", &spec("ds=20240101"), true),
        "ALTER TABLE my_project.`t` ADD IF NOT EXISTS PARTITION (ds='20240101');"
    );
    assert_eq!(
        instance::drop_partition_sql(
            &c,
            "t",
            &PartitionSpec::from_pairs([("ds", "20240101"), ("hh", "it's")]).unwrap(),
            true
        ),
        "ALTER TABLE my_project.`t` DROP IF EXISTS PARTITION (ds='20240101', hh='it\\'s');"
    );
    assert_eq!(
        instance::drop_table_sql(&c, "t", true),
        "DROP TABLE IF EXISTS my_project.`t`;"
    );
    let schema = TableSchema::new(
        vec![
            Column::new("id", OdpsType::BigInt).not_null(),
            Column::new("val", OdpsType::String),
            Column::new(
                "st",
                "struct<Aa:int,bB:array<decimal(10,2)>>".parse().unwrap(),
            ),
        ],
        vec![Column::new("ds", OdpsType::String)],
    )
    .unwrap();
    let sql = instance::create_table_sql(
        &c,
        "mock_acid",
        &schema,
        &instance::CreateTableOptions {
            if_not_exists: true,
            comment: Some("x".into()),
            primary_key: vec!["id".into()],
            transactional: true,
            bucket_num: Some(16),
            lifecycle: Some(7),
        },
    );
    assert_eq!(
        sql,
        "CREATE TABLE IF NOT EXISTS my_project.`mock_acid` (`id` bigint NOT NULL, `val` string, `st` struct<Aa:int,bB:array<decimal(10,2)>>, PRIMARY KEY (`id`)) COMMENT 'x' PARTITIONED BY (`ds` string) TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='16') LIFECYCLE 7;"
    );
}
