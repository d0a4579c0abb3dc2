//! The sink driver against an in-process maxc-mock on loopback: exactly-once batch commits,
//! crash + restore, dynamic partitions, streaming visibility, upsert semantics, back-pressure.

mod common;

use common::{Mock, batch};
use maxc_core::options::{MemorySize, SinkConfig};
use maxc_core::sink::{CommitOutcome, RowKind};
use maxc_driver::{Committer, SinkWriter};

const PLAIN: &str = "CREATE TABLE t_plain (id BIGINT, name STRING) PARTITIONED BY (ds STRING)";

#[tokio::test]
async fn batch_rows_are_invisible_until_commit_and_visible_exactly_once_after() {
    let mock = Mock::start().await;
    mock.sql(PLAIN).await;
    let mut opts = mock.options("t_plain");
    opts.insert("partition".into(), "ds=20240101".into());
    let mut w = SinkWriter::open(&opts).await.unwrap();
    let mut c = Committer::open(&opts).unwrap();

    w.write(batch(0..100, None)).await.unwrap();
    w.write(batch(100..250, None)).await.unwrap();
    let cp1 = w.prepare_commit(1).await.unwrap();
    assert_eq!(cp1.iter().map(|c| c.row_count).sum::<u64>(), 250);
    assert!(
        mock.ids("t_plain").await.is_empty(),
        "rows visible before commit"
    );

    let reports = c.commit(cp1.clone()).await.unwrap();
    assert!(
        reports
            .iter()
            .all(|r| r.outcome == CommitOutcome::Committed),
        "{reports:?}"
    );
    assert_eq!(mock.ids("t_plain").await, (0..250).collect::<Vec<_>>());

    // Committing the same committables again is idempotent.
    let again = c.commit(cp1).await.unwrap();
    assert!(
        again
            .iter()
            .all(|r| r.outcome == CommitOutcome::AlreadyCommitted),
        "{again:?}"
    );
    assert_eq!(mock.ids("t_plain").await.len(), 250);

    // The next epoch uses new sessions.
    w.write(batch(250..300, None)).await.unwrap();
    let cp2 = w.prepare_commit(2).await.unwrap();
    assert!(cp2.iter().all(|n| {
        !reports
            .iter()
            .any(|r| r.committable.session_id == n.session_id)
    }));
    c.commit(cp2).await.unwrap();
    let fin = w.finish().await.unwrap();
    assert!(fin.is_empty());
    assert_eq!(mock.ids("t_plain").await, (0..300).collect::<Vec<_>>());
    let rows = mock.rows("t_plain").await;
    assert_eq!(rows[0]["ds"], "20240101");
}

#[tokio::test]
async fn crash_between_checkpoint_complete_and_commit_then_restore_is_exactly_once() {
    let mock = Mock::start().await;
    mock.sql(PLAIN).await;
    let mut opts = mock.options("t_plain");
    opts.insert("partition".into(), "ds=1".into());

    // Epoch 1: rows 0..100; checkpoint 1 stores the writer state and committables.
    let mut w = SinkWriter::open(&opts).await.unwrap();
    w.write(batch(0..100, None)).await.unwrap();
    let cp1 = w.prepare_commit(1).await.unwrap();
    let state1 = w.snapshot();
    // Epoch 2 starts: rows 100..150 reach the service (flushed by the barrier of a checkpoint
    // that never completes)...
    w.write(batch(100..150, None)).await.unwrap();
    let _lost = w.prepare_commit(2).await.unwrap();
    // ...then the job crashes after checkpoint 1 completed but before its commit ran.
    drop(w);
    assert!(mock.ids("t_plain").await.is_empty());

    // Restore from checkpoint 1: commit its committables again, replay input after it.
    let config = SinkConfig::from_options(&opts).unwrap().config;
    let transport = maxc_driver::connect::tcp_transport(&config.connection);
    let mut w = SinkWriter::restore(config, transport, state1)
        .await
        .unwrap();
    let mut c = Committer::open(&opts).unwrap();
    let r = c.commit(cp1.clone()).await.unwrap();
    assert!(r.iter().all(|r| r.outcome.is_success()), "{r:?}");
    w.write(batch(100..150, None)).await.unwrap();
    let cp2 = w.prepare_commit(2).await.unwrap();
    c.commit(cp2).await.unwrap();
    // A second restore from checkpoint 1 re-commits cp1: already committed, no duplicates.
    let r = c.commit(cp1).await.unwrap();
    assert!(
        r.iter()
            .all(|r| r.outcome == CommitOutcome::AlreadyCommitted),
        "{r:?}"
    );
    assert_eq!(mock.ids("t_plain").await, (0..150).collect::<Vec<_>>());
}

#[tokio::test]
async fn dynamic_partitions_route_rows_by_column() {
    let mock = Mock::start().await;
    mock.sql(PLAIN).await;
    let mut opts = mock.options("t_plain");
    opts.insert("partition".into(), "ds".into());
    let mut w = SinkWriter::open(&opts).await.unwrap();
    let day = |i: i64| format!("2024010{}", i % 3);
    w.write(batch(0..90, Some(&day))).await.unwrap();
    let cps = w.prepare_commit(7).await.unwrap();
    assert_eq!(cps.len(), 3, "one session per partition");
    Committer::open(&opts).unwrap().commit(cps).await.unwrap();
    let rows = mock.rows("t_plain").await;
    assert_eq!(rows.len(), 90);
    for r in rows {
        let id = r["id"].as_i64().unwrap();
        assert_eq!(r["ds"], day(id));
    }
}

#[tokio::test]
async fn too_many_dynamic_partitions_is_a_clear_error() {
    let mock = Mock::start().await;
    mock.sql(PLAIN).await;
    let mut opts = mock.options("t_plain");
    opts.insert("partition".into(), "ds".into());
    opts.insert("dynamicPartitionLimit".into(), "2".into());
    let mut w = SinkWriter::open(&opts).await.unwrap();
    let day = |i: i64| format!("d{i}");
    let err = w.write(batch(0..3, Some(&day))).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("Too many dynamic partitions"), "{msg}");
    assert!(msg.contains('2') && msg.contains('3'), "{msg}");
}

#[tokio::test]
async fn stream_rows_are_visible_after_flush_without_commit() {
    let mock = Mock::start().await;
    mock.sql(PLAIN).await;
    let mut opts = mock.options("t_plain");
    opts.insert("partition".into(), "ds=s".into());
    opts.insert("useStreamTunnel".into(), "true".into());
    let mut w = SinkWriter::open(&opts).await.unwrap();
    w.write(batch(0..40, None)).await.unwrap();
    let c = w.prepare_commit(1).await.unwrap();
    assert!(c.is_empty());
    assert_eq!(mock.ids("t_plain").await, (0..40).collect::<Vec<_>>());
    w.write(batch(40..60, None)).await.unwrap();
    w.finish().await.unwrap();
    assert_eq!(mock.ids("t_plain").await, (0..60).collect::<Vec<_>>());
}

#[tokio::test]
async fn upsert_table_ends_with_the_last_value_per_key() {
    let mock = Mock::start().await;
    mock.sql(
        "CREATE TABLE t_delta (id BIGINT NOT NULL, name STRING, PRIMARY KEY (id)) \
         PARTITIONED BY (ds STRING) TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4')",
    )
    .await;
    mock.sql("ALTER TABLE t_delta ADD PARTITION (ds='1')").await;
    let mut opts = mock.options("t_delta");
    opts.insert("partition".into(), "ds=1".into());
    opts.insert("enableUpsert".into(), "true".into());
    let mut w = SinkWriter::open(&opts).await.unwrap();
    w.write_changes(batch(0..10, None), vec![RowKind::Insert; 10])
        .await
        .unwrap();
    w.prepare_commit(1).await.unwrap();
    // Update 3 (before/after images), delete 4 and 5, re-insert 5.
    let mut changed = batch([3, 3, 4, 5, 5], None);
    let names = arrow_array::StringArray::from(vec!["old", "new-3", "x", "y", "again-5"]);
    changed = arrow_array::RecordBatch::try_new(
        changed.schema(),
        vec![changed.column(0).clone(), std::sync::Arc::new(names)],
    )
    .unwrap();
    let kinds = vec![
        RowKind::UpdateBefore,
        RowKind::UpdateAfter,
        RowKind::Delete,
        RowKind::Delete,
        RowKind::Insert,
    ];
    w.write_changes(changed, kinds).await.unwrap();
    w.finish().await.unwrap();
    let mut rows: Vec<(i64, String)> = mock
        .rows("t_delta")
        .await
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    rows.sort();
    let mut expect: Vec<(i64, String)> = (0..10)
        .filter(|i| *i != 4)
        .map(|i| (i, format!("name-{i}")))
        .collect();
    expect[3].1 = "new-3".into();
    expect[4].1 = "again-5".into();
    assert_eq!(rows, expect);
}

#[tokio::test]
async fn back_pressure_bounds_memory_and_loses_nothing() {
    let mock = Mock::start().await;
    mock.sql(PLAIN).await;
    let mut opts = mock.options("t_plain");
    opts.insert("partition".into(), "ds=bp".into());
    opts.insert("batchSize".into(), "4096".into());
    let mut config = SinkConfig::from_options(&opts).unwrap().config;
    config.memory_budget = MemorySize(64 * 1024);
    let mut w = SinkWriter::open_config(config).await.unwrap();
    for k in 0..50 {
        w.write(batch(k * 200..(k + 1) * 200, None)).await.unwrap();
    }
    let cps = w.finish().await.unwrap();
    let mem = w.memory();
    assert!(mem.peak <= 64 * 1024, "peak {} over budget", mem.peak);
    Committer::open(&opts).unwrap().commit(cps).await.unwrap();
    assert_eq!(mock.ids("t_plain").await, (0..10_000).collect::<Vec<_>>());
}
