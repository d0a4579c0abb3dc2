//! Full-mode sources against an in-process mock: every row exactly once across several
//! readers, fixed and dynamic assignment, record and Arrow paths, with compression.

#[path = "fixture/mod.rs"]
mod common;

use std::collections::BTreeSet;

use common::{Env, assert_exactly_once, row_batches, triples};
use maxc_driver::{DriverError, Source, SourceBuilder};

/// Three partitions of 2 500, 1 800 and 700 rows.
async fn three_partitions(env: &Env, table: &str) -> Vec<(i64, &'static str)> {
    env.create_partitioned(table).await;
    let parts: [(&'static str, i64, usize); 3] = [
        ("ds=20240101", 0, 2_500),
        ("ds=20240102", 10_000, 1_800),
        ("ds=20240103", 20_000, 700),
    ];
    let mut expected = Vec::new();
    for (spec, start, n) in parts {
        env.load(table, spec, row_batches(start, n, 1_000)).await;
        let ds = spec.trim_start_matches("ds=");
        expected.extend((start..start + n as i64).map(|i| (i, ds)));
    }
    expected
}

async fn read_all(builder: SourceBuilder) -> (Vec<(i64, Option<String>, String)>, Vec<u64>) {
    let mut source = builder.open().await.expect("source opens");
    let mut rows = Vec::new();
    while let Some(b) = source.next_read().await.expect("read") {
        assert_eq!(b.batch.schema(), *source.schema());
        rows.extend(triples(&b.batch));
    }
    assert!(source.is_finished());
    // Finished stays finished.
    assert!(source.next_batch().await.expect("after the end").is_none());
    assert_eq!(source.stats().rows, rows.len() as u64);
    (rows, source.stats().rows_per_reader.clone())
}

#[tokio::test]
async fn fixed_assignment_record_path_reads_every_row_once() {
    let env = Env::start().await;
    let expected = three_partitions(&env, "t_fixed").await;
    // Default compressAlgorithm (SNAPPY); splits of 600 rows read in chunks of 250.
    let opts = env.options("t_fixed", &[("partition", "ds=2024*")]);
    let builder = SourceBuilder::from_options(&opts)
        .unwrap()
        .readers(3)
        .split_rows(600)
        .chunk_rows(250)
        .batch_rows(100);
    let (rows, per_reader) = read_all(builder).await;
    assert_exactly_once(&rows, &expected);
    assert_eq!(per_reader.len(), 3);
    assert!(
        per_reader.iter().all(|&r| r > 0),
        "every reader read some rows: {per_reader:?}"
    );
}

#[tokio::test]
async fn dynamic_assignment_record_path_with_zlib() {
    let env = Env::start().await;
    let expected = three_partitions(&env, "t_dyn").await;
    let opts = env.options(
        "t_dyn",
        &[
            ("dynamicLoadBalance", "true"),
            ("compressAlgorithm", "ZLIB"),
        ],
    );
    let builder = SourceBuilder::from_options(&opts)
        .unwrap()
        .readers(4)
        .split_rows(400)
        .chunk_rows(300);
    let (rows, per_reader) = read_all(builder).await;
    assert_exactly_once(&rows, &expected);
    let busy = per_reader.iter().filter(|&&r| r > 0).count();
    assert!(busy >= 2, "work spread over readers: {per_reader:?}");
}

#[tokio::test]
async fn arrow_path_fixed_and_dynamic_with_codecs() {
    let env = Env::start().await;
    let expected = three_partitions(&env, "t_arrow").await;
    for (codec, dynamic) in [("ZSTD", false), ("LZ4_FRAME", true), ("", true)] {
        let opts = env.options(
            "t_arrow",
            &[
                ("useArrow", "true"),
                ("compressCodec", codec),
                // ~ 44 bytes per row estimated: splits of about 500 rows.
                ("splitSize", "22 kb"),
                ("dynamicLoadBalance", if dynamic { "true" } else { "false" }),
            ],
        );
        let builder = SourceBuilder::from_options(&opts)
            .unwrap()
            .readers(3)
            .chunk_rows(700);
        let (rows, per_reader) = read_all(builder).await;
        assert_exactly_once(&rows, &expected);
        assert!(
            per_reader.iter().filter(|&&r| r > 0).count() >= 2,
            "codec {codec:?}, dynamic {dynamic}: {per_reader:?}"
        );
    }
}

#[tokio::test]
async fn projection_and_single_partition() {
    let env = Env::start().await;
    let expected = three_partitions(&env, "t_proj").await;
    let opts = env.options("t_proj", &[("partition", "ds=20240102")]);
    let mut source = SourceBuilder::from_options(&opts)
        .unwrap()
        .projection(["ds", "id"])
        .open()
        .await
        .unwrap();
    let names: Vec<String> = source
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, vec!["ds", "id"]);
    let mut ids = BTreeSet::new();
    while let Some(b) = source.next_batch().await.unwrap() {
        assert_eq!(b.num_columns(), 2);
        for (id, name, ds) in triples(&b) {
            assert_eq!(name, None, "name is not read");
            assert_eq!(ds, "20240102");
            assert!(ids.insert(id), "id {id} twice");
        }
    }
    let want: BTreeSet<i64> = expected
        .iter()
        .filter(|(_, ds)| *ds == "20240102")
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn non_partitioned_table_through_open_and_typed_builder() {
    let env = Env::start().await;
    let opts = env.options("plain", &[]);
    // DDL through a signed SQL instance (`run_sql`), as against the real service.
    let config = maxc_core::options::SourceConfig::from_options(&opts)
        .unwrap()
        .config;
    let transport = maxc_driver::connect::tcp_transport(&config.connection);
    let ctx = maxc_driver::connect::api_context(&config.connection);
    maxc_driver::connect::run_sql(
        &transport,
        &ctx,
        "CREATE TABLE plain (id bigint, name string)",
    )
    .await
    .unwrap();
    let err = maxc_driver::connect::run_sql(&transport, &ctx, "CREATE TABLE plain (id bigint)")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DriverError::Sql { message, .. } if message.contains("ODPS-")),
        "{err}"
    );
    // Load through the sink without a partition.
    {
        let mut w = maxc_driver::SinkWriter::open(&opts).await.unwrap();
        let mut c = maxc_driver::Committer::open(&opts).unwrap();
        for b in row_batches(0, 3_000, 1_000) {
            w.write(b).await.unwrap();
        }
        let cs = w.finish().await.unwrap();
        for r in c.commit(cs).await.unwrap() {
            assert!(r.outcome.is_success());
        }
    }
    let mut source = Source::open(&opts).await.unwrap();
    let mut rows = Vec::new();
    while let Some(b) = source.next_batch().await.unwrap() {
        rows.extend(triples(&b));
    }
    let expected: Vec<(i64, &str)> = (0..3_000).map(|i| (i, "")).collect();
    assert_exactly_once(&rows, &expected);

    // The typed builder gives the same source.
    let config = maxc_core::options::SourceConfig::builder(
        env.server.endpoint(),
        env.server.project(),
        "plain",
        maxc_core::auth::Credentials::access_key(env.server.access_id(), env.server.access_key()),
    )
    .use_arrow(true)
    .build()
    .unwrap();
    let mut source = Source::open_config(config).await.unwrap();
    let mut n = 0;
    while let Some(b) = source.next_batch().await.unwrap() {
        n += b.num_rows();
    }
    assert_eq!(n, 3_000);
}

#[tokio::test]
async fn configuration_errors_are_typed() {
    let env = Env::start().await;
    three_partitions(&env, "t_err").await;
    // maxPartitionCount below the matches.
    let opts = env.options(
        "t_err",
        &[("partition", "ds=*"), ("maxPartitionCount", "2")],
    );
    let mut source = Source::open(&opts).await.unwrap();
    let err = source.next_batch().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("The number of matched partitions exceeds the default limit"),
        "{err}"
    );
    // The error stays.
    assert!(source.next_batch().await.is_err());
    // A missing table fails at open.
    let err = Source::open(&env.options("nope", &[])).await.err().unwrap();
    assert!(matches!(err, DriverError::Api(_)), "{err}");
    // A projection naming an unknown column fails at open.
    let err = SourceBuilder::from_options(&env.options("t_err", &[]))
        .unwrap()
        .projection(["id", "zzz"])
        .open()
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("zzz"), "{err}");
}
