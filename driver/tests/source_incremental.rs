//! Incremental sources against an in-process mock: new partitions are picked up while the
//! source runs; `modifiedTableOperation` SKIP and NONE when a download session expired.
//!
//! The mock listens on real loopback sockets, so these tests use real time with a short
//! `subscribeIntervalInSec` (1 s) instead of tokio's paused clock.

#[path = "fixture/mod.rs"]
mod common;

use std::time::Duration;

use common::{Env, Row, assert_exactly_once, row_batches, triples};
use maxc_core::source::PartitionStatus;
use maxc_driver::{DriverError, Source, SourceBuilder, SourceSnapshot};

const WAIT: Duration = Duration::from_secs(15);

/// Reads until `want` rows arrived (or fails after [`WAIT`]).
async fn read_rows<T: maxc_driver::Transport + Clone>(
    source: &mut Source<T>,
    want: usize,
) -> Vec<Row> {
    let mut rows = Vec::new();
    tokio::time::timeout(WAIT, async {
        while rows.len() < want {
            let b = source
                .next_batch()
                .await
                .expect("read")
                .expect("an incremental source never ends");
            rows.extend(triples(&b));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {want} rows within {WAIT:?}", rows.len()));
    rows
}

#[tokio::test]
async fn picks_up_a_partition_created_while_it_runs() {
    let env = Env::start().await;
    env.create_partitioned("inc").await;
    env.load("inc", "ds=20240101", row_batches(0, 500, 500))
        .await;
    env.load("inc", "ds=20240102", row_batches(1_000, 800, 400))
        .await;
    let opts = env.options(
        "inc",
        &[
            ("startPartition", "ds=20240102"),
            ("subscribeIntervalInSec", "1"),
        ],
    );
    let mut source = SourceBuilder::from_options(&opts)
        .unwrap()
        .readers(2)
        .open()
        .await
        .unwrap();
    let mut rows = read_rows(&mut source, 800).await;
    // Let a listing or two run and find nothing new.
    let more = tokio::time::timeout(Duration::from_millis(1_500), source.next_batch()).await;
    assert!(more.is_err(), "no more rows yet: {more:?}");
    // While the source is open, another writer creates two partitions: one after the start
    // (read) and one before it (never read). A partition exists (empty) from its upload
    // session's creation until the commit, and a listing in between would read it empty
    // (the connector's documented behaviour: write a partition completely before a source
    // can see it). So the source is not polled while they are written, and no request of it
    // is in flight: its next listing, already due, sees them committed.
    while source.machine().in_flight() > 0 {
        let r = tokio::time::timeout(Duration::from_millis(20), source.next_batch()).await;
        assert!(r.is_err(), "no rows expected: {r:?}");
    }
    env.load("inc", "ds=20240103", row_batches(2_000, 300, 300))
        .await;
    env.load("inc", "ds=20231231", row_batches(9_000, 50, 50))
        .await;
    let rest = 1_100 - rows.len();
    rows.extend(read_rows(&mut source, rest).await);
    let mut expected: Vec<(i64, &str)> = (1_000..1_800).map(|i| (i, "20240102")).collect();
    expected.extend((2_000..2_300).map(|i| (i, "20240103")));
    assert_exactly_once(&rows, &expected);
    // Nothing else comes: more listings run, but find nothing new.
    let more = tokio::time::timeout(Duration::from_millis(2_500), source.next_batch()).await;
    assert!(more.is_err(), "no more rows: {more:?}");
    assert!(!source.is_finished());
    let finished: Vec<String> = source
        .stats()
        .partitions_finished
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(finished, vec!["ds=20240102", "ds=20240103"]);
}

/// Two partitions after the start: reads part of `ds=2`, checkpoints, and returns the rows
/// read, the snapshot and the session of `ds=2`.
async fn checkpoint_mid_partition(
    env: &Env,
    table: &str,
    op: &str,
) -> (Vec<Row>, SourceSnapshot, String) {
    env.create_partitioned(table).await;
    env.load(table, "ds=2", row_batches(0, 1_000, 1_000)).await;
    env.load(table, "ds=3", row_batches(5_000, 600, 600)).await;
    let mut source = builder(env, table, op).open().await.unwrap();
    let rows = read_rows(&mut source, 150).await;
    assert!(rows.iter().all(|r| r.2 == "2"), "only ds=2 so far");
    let snap = source.snapshot();
    let session = snap
        .enumerator
        .partitions
        .iter()
        .find_map(|p| match &p.status {
            PartitionStatus::Reading { session_id, .. } if p.partition.to_string() == "ds=2" => {
                Some(session_id.clone())
            }
            _ => None,
        })
        .expect("ds=2 is being read");
    (rows, snap, session)
}

fn builder(env: &Env, table: &str, op: &str) -> SourceBuilder {
    let opts = env.options(
        table,
        &[
            ("startPartition", "ds=2"),
            ("subscribeIntervalInSec", "1"),
            ("modifiedTableOperation", op),
        ],
    );
    SourceBuilder::from_options(&opts)
        .unwrap()
        .chunk_rows(100)
        .batch_rows(50)
}

#[tokio::test]
async fn skip_drops_an_expired_partition_on_restore() {
    let env = Env::start().await;
    let (mut rows, snap, session) = checkpoint_mid_partition(&env, "skip_t", "SKIP").await;
    let read_before = rows.len();
    env.expire_session(&session).await;
    let mut source = builder(&env, "skip_t", "SKIP")
        .restore(snap)
        .open()
        .await
        .unwrap();
    rows.extend(read_rows(&mut source, 600).await);
    // ds=2 keeps the rows read before the checkpoint; the rest of it is dropped.
    let mut expected: Vec<(i64, &str)> = (0..read_before as i64).map(|i| (i, "2")).collect();
    expected.extend((5_000..5_600).map(|i| (i, "3")));
    assert_exactly_once(&rows, &expected);
    let skipped: Vec<String> = source
        .stats()
        .partitions_skipped
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(skipped, vec!["ds=2"]);
}

#[tokio::test]
async fn none_fails_naming_the_partition_on_restore() {
    let env = Env::start().await;
    let (_, snap, session) = checkpoint_mid_partition(&env, "none_t", "NONE").await;
    env.expire_session(&session).await;
    let mut source = builder(&env, "none_t", "NONE")
        .restore(snap)
        .open()
        .await
        .unwrap();
    let err = tokio::time::timeout(WAIT, async {
        loop {
            match source.next_batch().await {
                Ok(Some(b)) => assert!(triples(&b).iter().all(|r| r.2 != "2")),
                Ok(None) => panic!("an incremental source never ends"),
                Err(e) => return e,
            }
        }
    })
    .await
    .expect("the source fails");
    assert!(matches!(err, DriverError::Source(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("partition ds=2"), "{text}");
    assert!(text.contains("startPartition"), "{text}");
    assert!(text.contains(&session), "{text}");
}

#[tokio::test]
async fn skip_while_running_when_the_session_expires_mid_read() {
    let env = Env::start().await;
    env.create_partitioned("live_t").await;
    env.load("live_t", "ds=2", row_batches(0, 1_000, 1_000))
        .await;
    env.load("live_t", "ds=3", row_batches(5_000, 600, 600))
        .await;
    // The third data request of ds=2 finds its session expired.
    env.fault(serde_json::json!({
        "operation": "read_data", "partition": "ds=2", "nth": 3,
        "effect": {"type": "expire_session"}
    }))
    .await;
    let mut source = builder(&env, "live_t", "SKIP").open().await.unwrap();
    let rows = read_rows(&mut source, 800).await;
    let mut expected: Vec<(i64, &str)> = (0..200).map(|i| (i, "2")).collect();
    expected.extend((5_000..5_600).map(|i| (i, "3")));
    assert_exactly_once(&rows, &expected);
    assert_eq!(source.stats().partitions_skipped.len(), 1);
}

#[tokio::test]
async fn a_full_source_fails_when_its_session_expires() {
    let env = Env::start().await;
    env.create_partitioned("full_t").await;
    env.load("full_t", "ds=2", row_batches(0, 1_000, 1_000))
        .await;
    env.fault(serde_json::json!({
        "operation": "read_data", "nth": 2, "effect": {"type": "expire_session"}
    }))
    .await;
    let opts = env.options("full_t", &[("partition", "ds=2")]);
    let mut source = SourceBuilder::from_options(&opts)
        .unwrap()
        .chunk_rows(100)
        .open()
        .await
        .unwrap();
    let mut rows = 0;
    let err = loop {
        match source.next_batch().await {
            Ok(Some(b)) => rows += b.num_rows(),
            Ok(None) => panic!("the read cannot finish"),
            Err(e) => break e,
        }
    };
    assert_eq!(rows, 100);
    let text = err.to_string();
    assert!(
        text.contains("partition ds=2") && text.contains("Restart the job"),
        "{text}"
    );
}
