//! Sources interrupted at a checkpoint: snapshot mid-way, drop the source, restore from the
//! (serialized) snapshot, and every row still arrives exactly once.

#[path = "fixture/mod.rs"]
mod common;

use common::{Env, Row, assert_exactly_once, row_batches, triples};
use maxc_driver::{DriverError, SourceBuilder, SourceSnapshot};

async fn setup(env: &Env, table: &str) -> Vec<(i64, &'static str)> {
    env.create_partitioned(table).await;
    let mut expected = Vec::new();
    for (spec, start, n) in [("ds=1", 0i64, 1_700usize), ("ds=2", 5_000, 1_300)] {
        env.load(table, spec, row_batches(start, n, 1_000)).await;
        let ds = spec.trim_start_matches("ds=");
        expected.extend((start..start + n as i64).map(|i| (i, ds)));
    }
    expected
}

/// Reads up to `batches` batches (all when `None`); returns the rows and whether the source
/// finished.
async fn read(
    builder: SourceBuilder,
    batches: Option<usize>,
) -> Result<(Vec<Row>, Option<SourceSnapshot>), DriverError> {
    let mut source = builder.open().await?;
    let mut rows = Vec::new();
    let mut n = 0;
    loop {
        if batches == Some(n) {
            // Checkpoint: serialize like an engine would, then drop the source.
            let json = serde_json::to_string(&source.snapshot()).expect("snapshot serializes");
            let back: SourceSnapshot = serde_json::from_str(&json).expect("and parses back");
            return Ok((rows, Some(back)));
        }
        match source.next_batch().await? {
            Some(b) => rows.extend(triples(&b)),
            None => return Ok((rows, None)),
        }
        n += 1;
    }
}

fn builder(env: &Env, table: &str, extra: &[(&str, &str)], readers: u32) -> SourceBuilder {
    SourceBuilder::from_options(&env.options(table, extra))
        .unwrap()
        .readers(readers)
        .split_rows(500)
        .chunk_rows(200)
        .batch_rows(64)
}

#[tokio::test]
async fn interrupted_reads_resume_without_gap_or_duplicate() {
    let env = Env::start().await;
    let expected = setup(&env, "t_ckpt").await;
    let variants: [(&[(&str, &str)], u32); 3] = [
        (&[], 3),
        (&[("dynamicLoadBalance", "true")], 2),
        (
            &[
                ("useArrow", "true"),
                ("compressCodec", "ZSTD"),
                ("splitSize", "20 kb"),
                ("dynamicLoadBalance", "true"),
            ],
            3,
        ),
    ];
    for (extra, readers) in variants {
        for cut in [0usize, 1, 4, 9, 13] {
            let (mut rows, snap) = read(builder(&env, "t_ckpt", extra, readers), Some(cut))
                .await
                .unwrap();
            let snap = snap.expect("the source is not finished at the cut");
            let (rest, none) = read(builder(&env, "t_ckpt", extra, readers).restore(snap), None)
                .await
                .unwrap();
            assert!(none.is_none());
            rows.extend(rest);
            assert_exactly_once(&rows, &expected);
        }
    }
}

#[tokio::test]
async fn chained_restores_and_more_readers_after_restore() {
    let env = Env::start().await;
    let expected = setup(&env, "t_chain").await;
    let extra: &[(&str, &str)] = &[("dynamicLoadBalance", "true")];
    let (mut rows, snap) = read(builder(&env, "t_chain", extra, 2), Some(5))
        .await
        .unwrap();
    // Restore with more readers (scale up), read some more, checkpoint again.
    let (more, snap) = read(
        builder(&env, "t_chain", extra, 4).restore(snap.unwrap()),
        Some(9),
    )
    .await
    .unwrap();
    rows.extend(more);
    let snap = snap.unwrap();
    assert_eq!(snap.readers.len(), 4);
    let (rest, _) = read(builder(&env, "t_chain", extra, 4).restore(snap), None)
        .await
        .unwrap();
    rows.extend(rest);
    assert_exactly_once(&rows, &expected);
}

#[tokio::test]
async fn restoring_with_too_few_readers_is_refused() {
    let env = Env::start().await;
    setup(&env, "t_few").await;
    let (_, snap) = read(builder(&env, "t_few", &[], 3), Some(4)).await.unwrap();
    let snap = snap.unwrap();
    assert!(
        snap.readers.iter().skip(1).any(|r| !r.splits.is_empty()),
        "readers other than 0 hold splits"
    );
    let err = builder(&env, "t_few", &[], 1)
        .restore(snap.clone())
        .open()
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, DriverError::Restore(_)), "{err}");
    let mut bad = snap;
    bad.version = 99;
    let err = builder(&env, "t_few", &[], 3)
        .restore(bad)
        .open()
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("version 99"), "{err}");
}
