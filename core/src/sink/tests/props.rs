//! Property tests: random writes, barriers, reply orders and faults.
//!
//! - Batch tunnel + committer: every written row is committed exactly once, `Prepared` events
//!   come in barrier order, and the accounted memory never passes the budget.
//! - Streaming tunnel: every row arrives at least once, and exactly once without lost
//!   responses.

use proptest::prelude::*;

use super::*;
use crate::options::MemorySize;
use crate::sink::{CommitEvent, CommitOutcome, Committable, Committer, SinkEvent, StreamWriter};

#[derive(Debug, Clone)]
enum Step {
    /// Write `n` rows to partition `p` (of a, b, c).
    Write {
        n: usize,
        p: usize,
    },
    Barrier,
    /// Answer the pending request at this index (modulo) with this fault.
    Answer {
        index: usize,
        fault: Fault,
    },
    /// Jump to the next deadline.
    Advance,
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    Server500,
    Throttle,
    Gateway,
    Timeout,
    ApplyThenLose,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        6 => Just(Fault::None),
        1 => Just(Fault::Server500),
        1 => Just(Fault::Throttle),
        1 => Just(Fault::Gateway),
        1 => Just(Fault::Timeout),
        1 => Just(Fault::ApplyThenLose),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1usize..40, 0usize..3).prop_map(|(n, p)| Step::Write { n, p }),
        1 => Just(Step::Barrier),
        8 => (any::<usize>(), fault()).prop_map(|(index, fault)| Step::Answer { index, fault }),
        1 => Just(Step::Advance),
    ]
}

/// Answers one request, with a fault.
fn answer(server: &mut FakeServer, req: &Request, fault: Fault) -> Reply {
    match fault {
        Fault::None => server.handle(req),
        Fault::Server500 => Ok(error(500, "InternalError")),
        Fault::Throttle => Ok(ApiError::new(Service::Tunnel, 429, "FlowExceeded", "slow")
            .with_retry_after(1000)
            .to_response(Service::Tunnel)),
        Fault::Gateway => Ok(error(502, "BadGateway")),
        Fault::Timeout => transport(TransportErrorKind::Timeout),
        Fault::ApplyThenLose => {
            let _ = server.handle(req);
            transport(TransportErrorKind::Closed)
        }
    }
}

const PARTS: [&str; 3] = ["a", "b", "c"];

fn batch_of(ids: std::ops::Range<i64>, p: usize) -> RecordBatch {
    let n = ids.end - ids.start;
    let ds: Vec<&str> = (0..n).map(|_| PARTS[p]).collect();
    let ids: Vec<i64> = ids.collect();
    rows(&ids, Some(&ds))
}

/// Runs the steps against `h`; returns the ids written and the barrier ids.
fn drive<M: Machine<Event = SinkEvent>>(
    h: &mut Harness<M>,
    server: &mut FakeServer,
    steps: &[Step],
    write: &mut dyn FnMut(&mut M, RecordBatch, Instant) -> Result<(), crate::sink::WriteRejected>,
    barrier: &mut dyn FnMut(&mut M, u64, Instant),
) -> (Vec<i64>, Vec<u64>) {
    let mut next_id = 0i64;
    let mut written = Vec::new();
    let mut barriers = Vec::new();
    for s in steps {
        h.drain();
        match s {
            Step::Write { n, p } => {
                let mut b = batch_of(next_id..next_id + *n as i64, *p);
                // Back-pressure: answer requests (no faults) until memory frees up.
                let mut guard = 0;
                loop {
                    match write(&mut h.m, b, h.now) {
                        Ok(()) => break,
                        Err(e) => {
                            assert!(e.is_back_pressure(), "{e}");
                            b = e.batch;
                            h.drain();
                            while !h.events.contains(&SinkEvent::WriteReady) {
                                match h.sent.pop_front() {
                                    Some((tok, req)) => {
                                        let r = server.handle(&req);
                                        h.reply(tok, r);
                                    }
                                    None => assert!(h.jump_to_deadline(), "stuck"),
                                }
                                guard += 1;
                                assert!(guard < 10_000);
                            }
                            h.events.retain(|e| *e != SinkEvent::WriteReady);
                        }
                    }
                }
                written.extend(next_id..next_id + *n as i64);
                next_id += *n as i64;
            }
            Step::Barrier => {
                let id = barriers.len() as u64 + 1;
                barrier(&mut h.m, id, h.now);
                barriers.push(id);
            }
            Step::Answer { index, fault } => {
                if !h.sent.is_empty() {
                    let i = index % h.sent.len();
                    let (tok, req) = h.sent.remove(i).unwrap();
                    let r = answer(server, &req, *fault);
                    h.reply(tok, r);
                }
            }
            Step::Advance => {
                h.jump_to_deadline();
            }
        }
    }
    (written, barriers)
}

fn cfg(opts: &[(&str, &str)]) -> SinkConfig {
    let mut b = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .partition("ds")
        .option("retryTimes", "1000")
        .option("sleepMillis", "10")
        .option("batchSize", "300")
        .option("flushIntervalMs", "50")
        .option("compressAlgorithm", "RAW")
        .memory_budget(MemorySize::bytes(2000));
    for (k, v) in opts {
        b = b.option(*k, *v);
    }
    b.build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn batch_rows_are_committed_exactly_once(
        steps in prop::collection::vec(step(), 1..120),
        threads in 1usize..4,
        commit_faults in prop::collection::vec(fault(), 0..20),
    ) {
        let config = cfg(&[("numFlushThreads", &threads.to_string())]);
        let mut server = FakeServer::new(schema(true));
        let mut h = Harness::new(super::batch::without_partition_cost(&config));
        let (written, barriers) = drive(
            &mut h,
            &mut server,
            &steps,
            &mut |m, b, now| m.write(b, now),
            &mut |m, id, now| m.barrier(id, now).unwrap(),
        );
        h.m.end_of_input(h.now).unwrap();
        h.run(&mut server, 100_000);
        let events = h.take_events();
        let mut prepared = Vec::new();
        let mut committables: Vec<Committable> = Vec::new();
        let mut finished = 0;
        for e in events {
            match e {
                SinkEvent::Prepared { checkpoint_id, committables: c } => {
                    prepared.push(checkpoint_id);
                    committables.extend(c);
                }
                SinkEvent::Finished { committables: c } => {
                    finished += 1;
                    committables.extend(c);
                }
                SinkEvent::WriteReady => {}
                SinkEvent::Failed(e) => panic!("failed: {e}"),
            }
        }
        prop_assert_eq!(prepared, barriers);
        prop_assert_eq!(finished, 1);
        prop_assert!(h.m.memory().peak <= 2000 || h.m.memory().peak == 0, "{:?}", h.m.memory());
        prop_assert_eq!(h.m.memory().total(), 0);
        // Nothing is visible before the commit.
        prop_assert!(server.uploads.values().all(|u| u.commits == 0));
        // Commit (with faults), retrying RetryLater, twice over (a restore re-commits).
        for round in 0..2 {
            let mut c = Harness::new(Committer::new(&config));
            let mut todo = committables.clone();
            let mut faults = commit_faults.iter().copied();
            let mut guard = 0;
            while !todo.is_empty() {
                c.m.commit(std::mem::take(&mut todo), c.now);
                loop {
                    c.drain();
                    if let Some((tok, req)) = c.sent.pop_front() {
                        let f = if round == 0 { faults.next().unwrap_or(Fault::None) } else { Fault::None };
                        let r = answer(&mut server, &req, f);
                        c.reply(tok, r);
                    } else if !c.jump_to_deadline() {
                        break;
                    }
                    guard += 1;
                    prop_assert!(guard < 10_000);
                }
                for e in c.take_events() {
                    if let CommitEvent::Outcome(r) = e {
                        match &r.outcome {
                            CommitOutcome::Committed => prop_assert_eq!(round, 0),
                            CommitOutcome::AlreadyCommitted => {}
                            CommitOutcome::RetryLater => todo.push(r.committable.clone()),
                            other => panic!("{other:?}"),
                        }
                    }
                }
            }
        }
        // Every written row is in exactly one committed session.
        let mut committed: Vec<i64> = Vec::new();
        for (id, u) in &server.uploads {
            if u.status == SessionStatus::Closed {
                prop_assert_eq!(u.commits, 1, "session {} committed once", id);
                committed.extend(server.upload_ids(id));
            }
        }
        committed.sort_unstable();
        prop_assert_eq!(committed, written);
    }

    #[test]
    fn stream_rows_arrive_at_least_once(
        steps in prop::collection::vec(step(), 1..120),
        threads in 1usize..4,
    ) {
        let config = cfg(&[("useStreamTunnel", "true"), ("numFlushThreads", &threads.to_string())]);
        let mut server = FakeServer::new(schema(true));
        let mut h = Harness::new(StreamWriter::new(&config, &meta(true)).unwrap());
        let lossy = steps
            .iter()
            .any(|s| matches!(s, Step::Answer { fault: Fault::ApplyThenLose, .. }));
        let (written, barriers) = drive(
            &mut h,
            &mut server,
            &steps,
            &mut |m, b, now| m.write(b, now),
            &mut |m, id, now| m.barrier(id, now).unwrap(),
        );
        h.m.end_of_input(h.now).unwrap();
        h.run(&mut server, 100_000);
        let events = h.take_events();
        let prepared: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                SinkEvent::Prepared { checkpoint_id, .. } => Some(*checkpoint_id),
                SinkEvent::Failed(e) => panic!("failed: {e}"),
                _ => None,
            })
            .collect();
        prop_assert_eq!(prepared, barriers);
        prop_assert!(h.m.is_finished());
        let mut got: Vec<i64> = PARTS
            .iter()
            .flat_map(|p| server.stream_ids(&format!("ds={p}")))
            .collect();
        got.sort_unstable();
        let distinct: std::collections::BTreeSet<i64> = got.iter().copied().collect();
        prop_assert_eq!(distinct.into_iter().collect::<Vec<_>>(), written.clone());
        if !lossy {
            prop_assert_eq!(got, written);
        }
    }
}

/// A random changelog: (key, value, kind) with keys 0..8 and partitions a / b.
fn change() -> impl Strategy<Value = (i64, usize, u8)> {
    (0i64..8, 0usize..2, 0u8..4)
}

#[derive(Debug, Clone)]
enum UStep {
    Write(Vec<(i64, usize, u8)>),
    Barrier,
    Answer { index: usize, fault: Fault },
    Advance,
}

fn ustep() -> impl Strategy<Value = UStep> {
    prop_oneof![
        3 => prop::collection::vec(change(), 1..12).prop_map(UStep::Write),
        1 => Just(UStep::Barrier),
        8 => (any::<usize>(), fault()).prop_map(|(index, fault)| UStep::Answer { index, fault }),
        1 => Just(UStep::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Upserts end with the last written value of every key, whatever the reply order and
    /// faults: a bucket's writes keep their order and a partition's sessions commit in epoch
    /// order.
    #[test]
    fn upserts_end_with_the_last_value_per_key(
        steps in prop::collection::vec(ustep(), 1..100),
        concurrent in 1usize..4,
        buckets in 1u32..5,
    ) {
        use crate::sink::{RowKind, UpsertWriter};
        let config = cfg(&[
            ("enableUpsert", "true"),
            ("upsert.flush.concurrent", &concurrent.to_string()),
            ("upsert.writer.bucket.buffer-size", "100"),
            // Faults are random and unbounded per request: the retry limits must not end
            // the run (exhausting them is tested in tests/upsert.rs).
            ("upsert.writer.max-retries", "1000"),
            ("upsert.commit.max-retries", "1000"),
        ]);
        let mut server = FakeServer::new(schema(true));
        server.buckets = buckets;
        server.commit_polls = 1;
        let mut h = Harness::new(UpsertWriter::new(&config, &delta_meta(true, buckets)).unwrap());
        // Expected final state per (partition, key): the name of the last upsert, or gone.
        let mut expected: BTreeMap<(String, i64), Option<String>> = BTreeMap::new();
        let mut version = 0u64;
        let mut barriers = Vec::new();
        for s in &steps {
            h.drain();
            match s {
                UStep::Write(changes) => {
                    let ids: Vec<i64> = changes.iter().map(|c| c.0).collect();
                    let names: Vec<String> = changes
                        .iter()
                        .map(|_| {
                            version += 1;
                            format!("v{version}")
                        })
                        .collect();
                    let ds: Vec<&str> = changes.iter().map(|c| PARTS[c.1]).collect();
                    let kinds: Vec<RowKind> = changes
                        .iter()
                        .map(|c| match c.2 {
                            0 => RowKind::Insert,
                            1 => RowKind::UpdateBefore,
                            2 => RowKind::UpdateAfter,
                            _ => RowKind::Delete,
                        })
                        .collect();
                    let mut b = RecordBatch::try_new(
                        Arc::new(Schema::new(vec![
                            Field::new("id", DataType::Int64, true),
                            Field::new("name", DataType::Utf8, true),
                            Field::new("ds", DataType::Utf8, true),
                        ])),
                        vec![
                            Arc::new(Int64Array::from(ids.clone())),
                            Arc::new(StringArray::from(names.clone())),
                            Arc::new(StringArray::from(ds.clone())),
                        ],
                    )
                    .unwrap();
                    let mut guard = 0;
                    loop {
                        match h.m.write_changes(b, &kinds, h.now) {
                            Ok(()) => break,
                            Err(e) => {
                                prop_assert!(e.is_back_pressure(), "{}", e);
                                b = e.batch;
                                h.drain();
                                while !h.events.contains(&SinkEvent::WriteReady) {
                                    match h.sent.pop_front() {
                                        Some((tok, req)) => {
                                            let r = server.handle(&req);
                                            h.reply(tok, r);
                                        }
                                        None => prop_assert!(h.jump_to_deadline(), "stuck"),
                                    }
                                    guard += 1;
                                    prop_assert!(guard < 10_000);
                                }
                                h.events.retain(|e| *e != SinkEvent::WriteReady);
                            }
                        }
                    }
                    for (i, k) in kinds.iter().enumerate() {
                        let key = (format!("ds={}", ds[i]), ids[i]);
                        match k {
                            RowKind::Insert | RowKind::UpdateAfter => {
                                expected.insert(key, Some(names[i].clone()));
                            }
                            RowKind::Delete => {
                                expected.insert(key, None);
                            }
                            RowKind::UpdateBefore => {}
                        }
                    }
                }
                UStep::Barrier => {
                    let id = barriers.len() as u64 + 1;
                    h.m.barrier(id, h.now).unwrap();
                    barriers.push(id);
                }
                UStep::Answer { index, fault } => {
                    if !h.sent.is_empty() {
                        let i = index % h.sent.len();
                        let (tok, req) = h.sent.remove(i).unwrap();
                        let r = answer(&mut server, &req, *fault);
                        h.reply(tok, r);
                    }
                }
                UStep::Advance => {
                    h.jump_to_deadline();
                }
            }
        }
        h.m.end_of_input(h.now).unwrap();
        h.run(&mut server, 100_000);
        let events = h.take_events();
        let prepared: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                SinkEvent::Prepared { checkpoint_id, .. } => Some(*checkpoint_id),
                SinkEvent::Failed(e) => panic!("failed: {e}"),
                _ => None,
            })
            .collect();
        prop_assert_eq!(prepared, barriers);
        prop_assert!(h.m.is_finished());
        // Apply the committed sessions in commit order, each session's writes in arrival order.
        let mut sessions: Vec<&FakeUpsert> = server
            .upserts
            .values()
            .filter(|u| u.committed_seq.is_some())
            .collect();
        sessions.sort_by_key(|u| u.committed_seq);
        let cols = server.upsert_columns();
        let mut table: BTreeMap<(String, i64), Option<String>> = BTreeMap::new();
        for u in sessions {
            for w in &u.writes {
                for (id, name, op, _) in upsert_rows(&decode(w, &cols)) {
                    let key = (u.partition.clone(), id);
                    if op == 68 {
                        table.insert(key, None);
                    } else {
                        table.insert(key, name);
                    }
                }
            }
        }
        let live = |m: &BTreeMap<(String, i64), Option<String>>| -> BTreeMap<(String, i64), String> {
            m.iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect()
        };
        prop_assert_eq!(live(&table), live(&expected));
        // Every session that took writes was committed.
        prop_assert!(server
            .upserts
            .values()
            .all(|u| u.writes.is_empty() || u.status == SessionStatus::Committed));
    }
}
