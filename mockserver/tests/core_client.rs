//! Cross-check with maxc-core's own request builders and response parsers, in process
//! (no network): what the core sends, the mock accepts; what the mock answers, the core
//! parses.

use bytes::Bytes;
use maxc_core::api::instance::{
    CreateTableOptions, SqlJob, create_table_sql, get_task_status, parse_submit, parse_task_status,
    submit_sql,
};
use maxc_core::api::rest::{get_table, parse_table};
use maxc_core::api::stream::{
    StreamOptions, StreamWrite, create_stream, parse_stream_session, parse_stream_write,
    write_stream,
};
use maxc_core::api::tunnel::{
    BlockOptions, DownloadOptions, ReadRange, UploadOptions, commit_upload, create_download,
    create_upload, get_upload, parse_data, parse_download_session, parse_upload_commit,
    parse_upload_session, read_rows, upload_block,
};
use maxc_core::api::upsert::{
    UpsertWrite, commit_upsert, create_upsert, parse_upsert_session, upsert_record_columns,
    write_upsert,
};
use maxc_core::api::{ApiContext, tunnel::parse_empty};
use maxc_core::codec::{decode_all, encode_batches};
use maxc_core::http::{Request, Response};
use maxc_core::partition::PartitionSpec;
use maxc_core::types::{Column, TableSchema};
use maxc_mock::values::{Value, build_batch};
use maxc_mock::{MockTime, Service, ServiceConfig};

const T0: i64 = 1_704_067_200_000;

struct Env {
    svc: Service,
    t: i64,
}

impl Env {
    fn call(&mut self, mut r: Request) -> Response {
        r.headers.set("host", "127.0.0.1:9999");
        self.t += 1;
        self.svc.handle(r, MockTime(T0 + self.t))
    }
}

#[test]
fn core_builders_and_parsers_agree_with_the_mock() {
    let mut env = Env {
        svc: Service::new(
            ServiceConfig {
                auth: false,
                ..ServiceConfig::default()
            },
            MockTime(T0),
        ),
        t: 0,
    };
    let ctx = ApiContext::new("maxc", "maxc-tests");
    let data = vec![
        Column::new("id", "bigint".parse().unwrap()).not_null(),
        Column::new("val", "string".parse().unwrap()),
    ];
    let schema = TableSchema::new(
        data.clone(),
        vec![Column::new("ds", "string".parse().unwrap())],
    )
    .unwrap();

    // DDL: a plain partitioned table and a Delta table.
    for (name, opts) in [
        ("plain", CreateTableOptions::default()),
        (
            "delta",
            CreateTableOptions {
                primary_key: vec!["id".into()],
                transactional: true,
                bucket_num: Some(2),
                ..CreateTableOptions::default()
            },
        ),
    ] {
        let sql = create_table_sql(&ctx, name, &schema, &opts);
        let resp = env.call(submit_sql(
            &ctx,
            &SqlJob::new("SQLCreateTableTask", sql, "g"),
        ));
        let id = parse_submit(&resp).unwrap();
        let st = parse_task_status(&env.call(get_task_status(&ctx, &id))).unwrap();
        assert!(st.succeeded(), "{name}: {st:?}");
        let meta = parse_table(&env.call(get_table(&ctx, name, true))).unwrap();
        assert_eq!(meta.schema, schema, "{name}");
        if name == "delta" {
            assert!(meta.transactional);
            assert_eq!(meta.primary_key, vec!["id"]);
            assert_eq!(meta.bucket_num, Some(2));
        }
    }

    // Batch upload and download.
    let part = PartitionSpec::parse("ds=1").unwrap();
    let up = parse_upload_session(&env.call(create_upload(
        &ctx,
        "plain",
        &UploadOptions {
            partition: part.clone(),
            overwrite: false,
            create_partition: true,
        },
    )))
    .unwrap();
    assert_eq!(up.schema, schema);
    let rows: Vec<Vec<Value>> = (0..4)
        .map(|i| vec![Value::Int(i), Value::Text(format!("v{i}"))])
        .collect();
    let body = encode_batches(&data, &[build_batch(&data, &rows).unwrap()]).unwrap();
    for b in [0u32, 3] {
        let r = env.call(upload_block(
            &ctx,
            "plain",
            &part,
            &up.id,
            b,
            &BlockOptions::default(),
            Bytes::from(body.clone()),
        ));
        parse_empty(&r).unwrap();
    }
    let reloaded =
        parse_upload_session(&env.call(get_upload(&ctx, "plain", &part, &up.id))).unwrap();
    assert_eq!(reloaded.blocks, vec![0, 3]);
    let commit =
        parse_upload_commit(&env.call(commit_upload(&ctx, "plain", &part, &up.id))).unwrap();
    assert_eq!(commit.blocks, vec![0, 3]);
    let again =
        parse_upload_commit(&env.call(commit_upload(&ctx, "plain", &part, &up.id))).unwrap();
    assert_eq!(again, commit);

    let down = parse_download_session(&env.call(create_download(
        &ctx,
        "plain",
        &DownloadOptions {
            partition: part.clone(),
            async_mode: true,
        },
    )))
    .unwrap();
    assert!(down.is_ready());
    assert_eq!(down.record_count, Some(8));
    let range = ReadRange {
        partition: part.clone(),
        start: 2,
        count: 5,
        columns: Some(vec!["val".into()]),
        accept_encoding: Some("zstd".into()),
        ..ReadRange::default()
    };
    let got = parse_data(&env.call(read_rows(&ctx, "plain", &down.id, &range))).unwrap();
    assert_eq!(got.content_encoding.as_deref(), Some("zstd"));
    let plain =
        maxc_core::compress::decompress(maxc_core::compress::Compression::Zstd, &got.body, 1 << 20)
            .unwrap();
    let batches = decode_all(&data[1..], &plain, 100).unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 5);

    // Stream.
    let ss = parse_stream_session(&env.call(create_stream(
        &ctx,
        "plain",
        &StreamOptions {
            partition: part.clone(),
            slot_num: Some(2),
            ..StreamOptions::default()
        },
    )))
    .unwrap();
    let w = StreamWrite {
        partition: part.clone(),
        session_name: ss.name.clone(),
        slot_id: ss.slots[0].0.clone(),
        routed_server: ss.slots[0].1.clone(),
        slot_count: ss.slots.len(),
        schema_version: ss.schema_version.clone(),
        record_count: Some(4),
        check_latest_schema: true,
        content_encoding: None,
    };
    let ack =
        parse_stream_write(&env.call(write_stream(&ctx, "plain", &w, Bytes::from(body.clone()))))
            .unwrap();
    assert_eq!(ack.slot_num, 2);
    assert_eq!(ack.routed_server, "127.0.0.1:9999");

    // Upsert.
    let us =
        parse_upsert_session(&env.call(create_upsert(&ctx, "delta", &part, 1, None))).unwrap_err();
    assert_eq!(us.code, "NoSuchPartition");
    let mut create = create_upsert(&ctx, "delta", &part, 1, None);
    create = create.with_query("create_partition", "true");
    let us = parse_upsert_session(&env.call(create)).unwrap();
    assert_eq!(us.bucket_count(), 2);
    let cols = upsert_record_columns(&data);
    let keys = arrow_array::Int64Array::from(vec![1i64, 2, 3, 4, 5, 6]);
    let buckets = maxc_core::hash::buckets_for_batch(
        maxc_core::hash::Hasher::Default,
        &[(&data[0].ty, &keys)],
        2,
    )
    .unwrap();
    for b in 0..2u32 {
        let rows: Vec<Vec<Value>> = (1..=6)
            .filter(|k| buckets[(*k - 1) as usize] == b)
            .map(|k| {
                vec![
                    Value::Int(k),
                    Value::Text("x".into()),
                    Value::Null,
                    Value::Null,
                    Value::Int(85),
                    Value::Null,
                    Value::List(vec![]),
                ]
            })
            .collect();
        let n = rows.len() as u64;
        let body = encode_batches(&cols, &[build_batch(&cols, &rows).unwrap()]).unwrap();
        let slot = us.slot_for_bucket(b).unwrap();
        let w = UpsertWrite {
            partition: part.clone(),
            upsert_id: us.id.clone(),
            bucket: b,
            slot_id: slot.slot_id.clone(),
            routed_server: slot.worker_addr.clone(),
            record_count: n,
            content_encoding: None,
        };
        let r = env.call(write_upsert(&ctx, "delta", &w, Bytes::from(body)));
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let done = parse_upsert_session(&env.call(commit_upsert(
        &ctx,
        "delta",
        &part,
        &us.id,
        &us.slots[0].worker_addr,
    )))
    .unwrap();
    assert_eq!(done.status.to_string().to_ascii_lowercase(), "committed");
    let t = env.svc.catalog().table("maxc", None, "delta").unwrap();
    assert_eq!(t.total_rows(), 6);
}
