//! Dimension tables against an in-process mock: first load, lookups from memory, reloads
//! after `cacheTTLMs` to the newest partition, `refresh_now`, the blacklist, `cacheSize`
//! and `maxLoadRetries`.

#[path = "fixture/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Env, row_batches, triples};
use maxc_core::lookup::{KeySpec, LookupKey};
use maxc_core::time::WallClock;
use maxc_driver::clock::FixedWallClock;
use maxc_driver::{DriverError, LookupBuilder, LookupTable, RefreshOutcome};

/// `(id, name, ds)` of the rows found for `id`.
fn found(table: &LookupTable, id: i64) -> Vec<(i64, Option<String>, String)> {
    table
        .get(&LookupKey::single(id))
        .iter()
        .flat_map(triples)
        .collect()
}

fn builder(env: &Env, table: &str, extra: &[(&str, &str)]) -> LookupBuilder {
    let mut opts = vec![("cache", "ALL"), ("partition", "max_pt()")];
    opts.extend_from_slice(extra);
    LookupBuilder::from_options(&env.options(table, &opts), KeySpec::primary(["id"]))
        .unwrap()
        .projection(["id", "name", "ds"])
}

#[tokio::test]
async fn reloads_to_the_newest_partition_after_the_ttl() {
    let env = Env::start().await;
    env.create_partitioned("dim").await;
    env.load("dim", "ds=20240101", row_batches(0, 100, 100))
        .await;
    let table = builder(&env, "dim", &[("cacheTTLMs", "300")])
        .open()
        .await
        .unwrap();
    assert_eq!(table.generation(), 1);
    assert_eq!(
        found(&table, 5),
        vec![(5, Some("n5".into()), "20240101".into())]
    );
    assert_eq!(found(&table, 7), vec![(7, None, "20240101".into())]);
    assert!(found(&table, 1_005).is_empty());
    let first = table.cache();
    let reader = table.reader();

    // A newer partition appears; a reload after the TTL switches to it. (Reloads keep
    // running while it is written: the partition exists, empty, from the upload session's
    // creation until the commit, and a reload may load it empty in between, as the service
    // does. So wait for its committed rows.)
    env.load("dim", "ds=20240102", row_batches(1_000, 50, 50))
        .await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while table.status().partitions.first().map(|p| p.to_string()) != Some("ds=20240102".into())
            || table.cache().row_count() != 50
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a reload picked up ds=20240102");
    assert!(table.generation() >= 2);
    assert_eq!(
        found(&table, 1_005),
        vec![(1_005, Some("n1005".into()), "20240102".into())]
    );
    assert!(found(&table, 5).is_empty());
    assert_eq!(reader.cache().row_count(), 50);
    // A cache taken before the reload still answers from the old partition.
    assert_eq!(first.generation(), 1);
    assert_eq!(first.get(&LookupKey::single(5i64)).len(), 1);
    table.close().await;
    // Readers keep the last cache after close.
    assert_eq!(reader.get(&LookupKey::single(1_010i64)).len(), 1);
}

#[tokio::test]
async fn refresh_now_loads_the_newest_partition() {
    let env = Env::start().await;
    env.create_partitioned("dim2").await;
    env.load("dim2", "ds=1", row_batches(0, 10, 10)).await;
    // Default cacheTTLMs: never reloads by itself.
    let mut table = builder(&env, "dim2", &[]).open().await.unwrap();
    env.load("dim2", "ds=2", row_batches(100, 20, 20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(table.generation(), 1);
    assert_eq!(found(&table, 3).len(), 1);
    match table.refresh_now().await.unwrap() {
        RefreshOutcome::Loaded {
            generation,
            rows,
            partitions,
        } => {
            assert_eq!((generation, rows), (2, 20));
            assert_eq!(partitions[0].to_string(), "ds=2");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        table.wait_for_generation(2, Duration::from_secs(1)).await,
        2
    );
    assert!(found(&table, 3).is_empty());
    assert_eq!(found(&table, 105).len(), 1);
    let status = table.status();
    assert_eq!(status.loads, 2);
    table.close().await;
}

#[tokio::test]
async fn blacklist_postpones_a_refresh() {
    let env = Env::start().await;
    env.create_partitioned("dim3").await;
    env.load("dim3", "ds=1", row_batches(0, 10, 10)).await;
    // The table's clock says 2024-05-01 14:10 Beijing time (06:10 UTC), inside the window.
    let may_first_utc = 1_714_521_600_000i64;
    let clock = FixedWallClock(WallClock::from_unix_millis(
        may_first_utc + (6 * 60 + 10) * 60_000,
    ));
    let table = builder(
        &env,
        "dim3",
        &[(
            "cacheReloadTimeBlackList",
            "2024-05-01 14:00 -> 2024-05-01 15:00",
        )],
    )
    .wall_clock(Arc::new(clock))
    .open()
    .await
    .unwrap();
    match table.refresh_now().await.unwrap() {
        RefreshOutcome::Postponed { until } => {
            assert_eq!(
                until,
                WallClock::from_unix_millis(may_first_utc + 7 * 3_600_000)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(table.generation(), 1);
    assert_eq!(table.status().postponed, 1);
}

#[tokio::test]
async fn row_limit_fails_with_the_connector_message() {
    let env = Env::start().await;
    env.create_partitioned("big").await;
    env.load("big", "ds=20240101", row_batches(0, 100, 100))
        .await;
    let err = builder(&env, "big", &[("cacheSize", "50")])
        .open()
        .await
        .unwrap_err();
    assert!(matches!(err, DriverError::Lookup(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "Row count of table big partition ds=20240101 exceeds maxRowCount limit"
    );
}

#[tokio::test]
async fn max_load_retries() {
    let env = Env::start().await;
    env.create_partitioned("flaky").await;
    env.load("flaky", "ds=1", row_batches(0, 10, 10)).await;
    let refuse_once = serde_json::json!({
        "operation": "create_download", "times": 1,
        "effect": {"type": "error", "status": 400, "code": "InvalidParameter", "message": "refused"}
    });
    // No retries allowed: the first failure is final.
    env.fault(refuse_once.clone()).await;
    let err = builder(&env, "flaky", &[("maxLoadRetries", "0")])
        .open()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("failed 1 times") && text.contains("refused"),
        "{text}"
    );
    // One retry allowed: the second attempt loads.
    env.fault(refuse_once).await;
    let table = builder(&env, "flaky", &[("maxLoadRetries", "1")])
        .open()
        .await
        .unwrap();
    assert_eq!(table.cache().row_count(), 10);
}

#[tokio::test]
async fn non_unique_keys_through_open() {
    let env = Env::start().await;
    env.sql("CREATE TABLE multi (id bigint, name string)").await;
    let opts = env.options("multi", &[]);
    {
        let mut w = maxc_driver::SinkWriter::open(&opts).await.unwrap();
        let mut c = maxc_driver::Committer::open(&opts).unwrap();
        // Ids 0..30 twice.
        w.write(common::rows(0, 30)).await.unwrap();
        w.write(common::rows(0, 30)).await.unwrap();
        let cs = w.finish().await.unwrap();
        c.commit(cs).await.unwrap();
    }
    let mut opts = opts;
    opts.insert("cache".into(), "ALL".into());
    let table = LookupTable::open(&opts, KeySpec::non_unique(["id"]))
        .await
        .unwrap();
    assert_eq!(table.get(&LookupKey::single(12i64)).len(), 2);
    assert_eq!(
        table
            .get_batch(&LookupKey::single(12i64))
            .unwrap()
            .num_rows(),
        2
    );
    assert!(table.get(&LookupKey::single(30i64)).is_empty());
}
