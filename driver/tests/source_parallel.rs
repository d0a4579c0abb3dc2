//! The per-piece source API as a parallel engine uses it: one `SourceEnumerator` task and one
//! task per `SourceReader`, connected by channels, reading every row exactly once.

#[path = "fixture/mod.rs"]
mod common;

use common::{Env, Row, assert_exactly_once, row_batches, triples};
use maxc_core::options::SourceConfig;
use maxc_core::source::{EnumeratorEvent, ReaderConfig, ReaderEvent, SessionLost, Split, SplitId};
use maxc_driver::connect::tcp_transport;
use maxc_driver::{DriverError, SourceEnumerator, SourceReader};
use tokio::sync::mpsc;

enum ToReader {
    Split(Split),
    NoMore,
}

enum FromReader {
    Finished(SplitId),
    Need(u32),
    Lost(SessionLost),
    /// The reader read everything it will ever get.
    Done,
}

async fn reader_task(
    mut reader: SourceReader,
    mut inbox: mpsc::UnboundedReceiver<ToReader>,
    outbox: mpsc::UnboundedSender<FromReader>,
) -> Result<Vec<Row>, DriverError> {
    let mut rows = Vec::new();
    let apply = |reader: &mut SourceReader, msg: ToReader| match msg {
        ToReader::Split(s) => reader.add_split(s),
        ToReader::NoMore => reader.no_more_splits(),
    };
    loop {
        while let Ok(msg) = inbox.try_recv() {
            apply(&mut reader, msg);
        }
        match reader.next_event().await? {
            Some(ReaderEvent::Batch { batch, .. }) => rows.extend(triples(&batch)),
            Some(ReaderEvent::SplitFinished { split, .. }) => {
                let _ = outbox.send(FromReader::Finished(split));
            }
            Some(ReaderEvent::NeedSplit { reader }) => {
                let _ = outbox.send(FromReader::Need(reader));
            }
            Some(ReaderEvent::SessionLost(lost)) => {
                let _ = outbox.send(FromReader::Lost(lost));
            }
            Some(ReaderEvent::Finished) => {
                let _ = outbox.send(FromReader::Done);
                return Ok(rows);
            }
            Some(ReaderEvent::Failed(e)) => return Err(e.into()),
            None => match inbox.recv().await {
                Some(msg) => apply(&mut reader, msg),
                None => return Ok(rows),
            },
        }
    }
}

async fn run(config: SourceConfig, readers: u32) -> Vec<Row> {
    let transport = tcp_transport(&config.connection);
    let mut enumerator =
        SourceEnumerator::from_source_config(&config, readers, transport.clone()).unwrap();
    let (from_tx, mut from_rx) = mpsc::unbounded_channel();
    let mut to_readers: Vec<mpsc::UnboundedSender<ToReader>> = Vec::new();
    let mut tasks = Vec::new();
    let mut enumerator_finished = false;
    let mut readers_done = 0;
    let handle = |enumerator: &mut SourceEnumerator, done: &mut u32, msg: FromReader| match msg {
        FromReader::Finished(s) => enumerator.split_finished(s),
        FromReader::Need(r) => enumerator.request_split(r),
        FromReader::Lost(l) => enumerator.session_lost(l),
        FromReader::Done => *done += 1,
    };
    // The enumerator keeps routing until every reader is done: a reader that asks for a
    // split after the enumerator finished still needs its `NoMoreSplits`.
    while readers_done < readers {
        tokio::select! {
            ev = enumerator.next_event() => match ev.unwrap() {
                Some(EnumeratorEvent::TableDescribed { schema }) => {
                    for i in 0..readers {
                        let mut rc = ReaderConfig::from_source_config(
                            &config, schema.clone(), "maxc-test",
                        );
                        rc.projection = Some(vec!["id".into(), "name".into(), "ds".into()]);
                        let reader = SourceReader::new(rc, i, transport.clone()).unwrap();
                        let (tx, rx) = mpsc::unbounded_channel();
                        to_readers.push(tx);
                        tasks.push(tokio::spawn(reader_task(reader, rx, from_tx.clone())));
                    }
                }
                Some(EnumeratorEvent::Assign { reader, split }) => {
                    to_readers[reader as usize].send(ToReader::Split(split)).unwrap();
                }
                Some(EnumeratorEvent::NoMoreSplits { reader }) => {
                    to_readers[reader as usize].send(ToReader::NoMore).unwrap();
                }
                Some(EnumeratorEvent::Finished) => enumerator_finished = true,
                Some(_) => {}
                None => {
                    // Idle until a reader reports.
                    let msg = from_rx.recv().await.expect("readers are running");
                    handle(&mut enumerator, &mut readers_done, msg);
                }
            },
            msg = from_rx.recv() => handle(
                &mut enumerator, &mut readers_done, msg.expect("readers are running"),
            ),
        }
    }
    // Its last events (`Finished` after the final `NoMoreSplits`) may still be queued.
    while let Some(e) = enumerator.next_event().await.unwrap() {
        enumerator_finished |= e == EnumeratorEvent::Finished;
    }
    assert!(enumerator_finished);
    assert!(enumerator.machine().is_finished());
    let mut rows = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("reader {i}: {e}"));
        assert!(!r.is_empty(), "reader {i} read something");
        rows.extend(r);
    }
    rows
}

#[tokio::test]
async fn enumerator_and_reader_tasks_read_every_row_once() {
    let env = Env::start().await;
    env.create_partitioned("par").await;
    let mut expected = Vec::new();
    for (spec, start) in [
        ("ds=a", 0i64),
        ("ds=b", 10_000),
        ("ds=c", 20_000),
        ("ds=d", 30_000),
    ] {
        env.load("par", spec, row_batches(start, 1_200, 600)).await;
        expected.extend((start..start + 1_200).map(|i| (i, &spec[3..])));
    }
    for dynamic in ["false", "true"] {
        let opts = env.options(
            "par",
            &[
                ("dynamicLoadBalance", dynamic),
                ("useArrow", "true"),
                ("splitSize", "16 kb"),
                ("compressCodec", "LZ4_FRAME"),
            ],
        );
        let config = SourceConfig::from_options(&opts).unwrap().config;
        let rows = run(config, 3).await;
        assert_exactly_once(&rows, &expected);
    }
}
