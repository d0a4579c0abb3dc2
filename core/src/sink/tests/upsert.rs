//! Upsert-tunnel writer.

use std::time::Duration;

use super::*;
use crate::hash::{Hasher, bucket_of, combine};
use crate::sink::{RowKind, SinkError, SinkEvent, SinkWriter, UpsertWriter};

fn writer(partitioned: bool, buckets: u32, opts: &[(&str, &str)]) -> Harness<UpsertWriter> {
    let mut all = vec![("enableUpsert", "true")];
    all.extend_from_slice(opts);
    Harness::new(UpsertWriter::new(&config(&all), &delta_meta(partitioned, buckets)).unwrap())
}

fn server(partitioned: bool, buckets: u32) -> FakeServer {
    let mut s = FakeServer::new(schema(partitioned));
    s.buckets = buckets;
    s
}

fn bucket(id: i64, b: u32) -> u32 {
    bucket_of(combine([Hasher::Default.hash_long(id)]), b)
}

fn prepared(events: &[SinkEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            SinkEvent::Prepared {
                checkpoint_id,
                committables,
            } => {
                assert!(committables.is_empty());
                Some(*checkpoint_id)
            }
            _ => None,
        })
        .collect()
}

fn failed(events: &[SinkEvent]) -> Option<SinkError> {
    events.iter().find_map(|e| match e {
        SinkEvent::Failed(e) => Some(e.clone()),
        _ => None,
    })
}

/// Every upsert PUT the server received: (bucket, rows).
fn puts(server: &FakeServer) -> Vec<(u32, Vec<UpsertRow>)> {
    let cols = server.upsert_columns();
    let mut out = Vec::new();
    for u in server.upserts.values() {
        for r in &u.writes {
            let b: u32 = r.query_param("bucketid").unwrap().parse().unwrap();
            out.push((b, upsert_rows(&decode(r, &cols))));
        }
    }
    out
}

#[test]
fn rows_are_routed_to_their_buckets_with_the_meta_columns() {
    let mut srv = server(false, 4);
    let mut h = writer(false, 4, &[]);
    let ids: Vec<i64> = (1..=20).collect();
    h.m.write(rows(&ids, None), h.now).unwrap();
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(op_of(&sent[0].1), Op::CreateUpsert);
    assert_eq!(sent[0].1.query_param("slotnum"), Some("1"));
    h.m.barrier(1, h.now).unwrap();
    let r = srv.handle(&sent[0].1);
    h.reply(sent[0].0, r);
    h.run(&mut srv, 100);
    let ev = h.take_events();
    assert_eq!(prepared(&ev), vec![1], "{ev:?}");
    let got = puts(&srv);
    let mut seen = Vec::new();
    for (b, rows) in &got {
        for (id, name, op, vals) in rows {
            assert_eq!(bucket(*id, 4), *b, "id {id} in bucket {b}");
            assert_eq!(name.as_deref(), Some(format!("n{id}").as_str()));
            assert_eq!(*op, 85, "'U'");
            assert!(vals.is_empty(), "full-row upsert");
            seen.push(*id);
        }
    }
    seen.sort();
    assert_eq!(seen, ids);
    let buckets: BTreeSet<u32> = got.iter().map(|(b, _)| *b).collect();
    assert_eq!(buckets.len(), got.len(), "one PUT per bucket");
    // Routing headers follow the session's slots (buckets 0-1 on slot 1, 2-3 on slot 2).
    let u = srv.upserts.values().next().unwrap();
    for r in &u.writes {
        let b: u32 = r.query_param("bucketid").unwrap().parse().unwrap();
        let (slot, addr) = if b < 2 {
            ("1", "10.0.1.1:8080")
        } else {
            ("2", "10.0.1.2:8080")
        };
        assert_eq!(r.query_param("slotid"), Some(slot));
        assert_eq!(r.headers.get("odps-tunnel-routed-server"), Some(addr));
        let n = decode(r, &srv.upsert_columns())
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>();
        assert_eq!(r.query_param("record_count"), Some(n.to_string().as_str()));
    }
    assert_eq!(u.status, SessionStatus::Committed);
    assert_eq!(srv.count(Op::CommitUpsert), 1);
    let commit = srv.log.iter().position(|o| *o == Op::CommitUpsert).unwrap();
    assert!(
        srv.log[..commit]
            .iter()
            .filter(|o| **o == Op::PutUpsert)
            .count()
            == got.len()
    );
}

#[test]
fn deletes_delete_updates_upsert_and_update_before_is_dropped() {
    let mut srv = server(false, 1);
    let mut h = writer(false, 1, &[]);
    let b = rows(&[1, 2, 2, 3], None);
    let kinds = [
        RowKind::Insert,
        RowKind::UpdateBefore,
        RowKind::UpdateAfter,
        RowKind::Delete,
    ];
    h.m.write_changes(b.clone(), &kinds, h.now).unwrap();
    let e = h.m.write_changes(b, &kinds[..2], h.now).unwrap_err();
    assert!(
        e.error()
            .unwrap()
            .to_string()
            .contains("2 row kinds for a batch of 4 rows")
    );
    h.m.end_of_input(h.now).unwrap();
    h.run(&mut srv, 100);
    assert_eq!(
        h.take_events(),
        vec![SinkEvent::Finished {
            committables: vec![]
        }]
    );
    let got = puts(&srv);
    assert_eq!(got.len(), 1);
    let ops: Vec<(i64, i8)> = got[0].1.iter().map(|r| (r.0, r.2)).collect();
    assert_eq!(ops, vec![(1, 85), (2, 85), (3, 68)]);
    assert!(h.m.is_finished());
}

#[test]
fn partial_column_updates_list_the_written_columns() {
    let schema3 = TableSchema::new(
        vec![
            Column::new("id", OdpsType::BigInt),
            Column::new("name", OdpsType::String),
            Column::new("score", OdpsType::BigInt),
        ],
        vec![],
    )
    .unwrap();
    let mut meta = TableMeta::new("t", schema3.clone());
    meta.transactional = true;
    meta.primary_key = vec!["id".into()];
    meta.bucket_num = Some(2);
    let cfg = config(&[
        ("enableUpsert", "true"),
        ("upsert.partial-column.enable", "true"),
    ]);
    let mut h = Harness::new(UpsertWriter::new(&cfg, &meta).unwrap());
    let mut srv = FakeServer::new(schema3.clone());
    srv.buckets = 2;
    let b = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("score", DataType::Int64, true),
            Field::new("id", DataType::Int64, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![10, 20])),
            Arc::new(Int64Array::from(vec![1, 2])),
        ],
    )
    .unwrap();
    h.m.write_changes(b, &[RowKind::Insert, RowKind::Delete], h.now)
        .unwrap();
    // The key is required even in partial mode.
    let no_key = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "score",
            DataType::Int64,
            true,
        )])),
        vec![Arc::new(Int64Array::from(vec![1]))],
    )
    .unwrap();
    let e = h.m.write(no_key, h.now).unwrap_err();
    assert!(
        e.error().unwrap().to_string().contains("column `id`"),
        "{e}"
    );
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut srv, 100);
    let cols = srv.upsert_columns();
    let mut rows_seen = Vec::new();
    for u in srv.upserts.values() {
        for r in &u.writes {
            for batch in decode(r, &cols) {
                let ids = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                let scores = batch
                    .column(2)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                let ops = batch
                    .column(5)
                    .as_any()
                    .downcast_ref::<arrow_array::Int8Array>()
                    .unwrap();
                let vals = batch
                    .column(7)
                    .as_any()
                    .downcast_ref::<arrow_array::ListArray>()
                    .unwrap();
                for i in 0..batch.num_rows() {
                    assert!(batch.column(1).is_null(i), "name was not written");
                    let v = vals.value(i);
                    let v: Vec<i64> = v
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .iter()
                        .map(|x| x.unwrap())
                        .collect();
                    rows_seen.push((ids.value(i), scores.value(i), ops.value(i), v));
                }
            }
        }
    }
    rows_seen.sort();
    assert_eq!(
        rows_seen,
        vec![(1, 10, 85, vec![0, 2]), (2, 20, 68, vec![])],
        "upsert lists columns id and score; delete lists none"
    );
}

#[test]
fn commit_polls_until_committed() {
    let mut srv = server(false, 2);
    srv.commit_polls = 2;
    let mut h = writer(false, 2, &[]);
    h.m.write(rows(&[1, 2, 3], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    // Serve creates and PUTs without advancing the clock.
    loop {
        h.drain();
        let Some((tok, req)) = h.sent.pop_front() else {
            break;
        };
        let r = srv.handle(&req);
        h.reply(tok, r);
    }
    assert_eq!(srv.count(Op::CommitUpsert), 1);
    assert!(prepared(&h.take_events()).is_empty(), "still committing");
    assert_eq!(h.m.next_deadline(), Some(t(1000)), "poll after 1 s");
    h.run(&mut srv, 100);
    assert_eq!(prepared(&h.take_events()), vec![1]);
    assert_eq!(srv.count(Op::CommitUpsert), 3);
    assert_eq!(h.now, t(3000), "polls after 1 s and 2 s");
    // Commit requests carry the routing header of bucket 0's slot.
    assert_eq!(
        srv.upserts.values().next().unwrap().status,
        SessionStatus::Committed
    );
}

#[test]
fn async_commit_does_not_wait_for_committed() {
    let mut srv = server(false, 2);
    srv.commit_polls = 5;
    let mut h = writer(false, 2, &[("upsertAsyncCommit", "true")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut srv, 100);
    assert_eq!(prepared(&h.take_events()), vec![1]);
    assert_eq!(srv.count(Op::CommitUpsert), 1);
    assert_eq!(
        srv.upserts.values().next().unwrap().status,
        SessionStatus::Committing
    );
    assert_eq!(h.now, t(0));
}

#[test]
fn commit_times_out() {
    let mut srv = server(false, 2);
    srv.commit_polls = 1000;
    let mut h = writer(false, 2, &[("upsertCommitTimeoutMs", "5000")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut srv, 100);
    let e = failed(&h.take_events()).expect("timed out");
    match &e {
        SinkError::UpsertCommitTimeout {
            status,
            waited_ms,
            limit_ms,
            at,
        } => {
            assert_eq!(status, "committing");
            assert_eq!(*waited_ms, 5000);
            assert_eq!(*limit_ms, 5000);
            assert!(at.session.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.now, t(5000), "fails at the deadline, not later");
    assert!(e.to_string().contains("timed out"), "{e}");
    // Polls at 1, 3 (1+2) s, then the deadline.
    assert_eq!(srv.count(Op::CommitUpsert), 3);
}

#[test]
fn the_stricter_commit_timeout_wins() {
    let cfg = config(&[
        ("enableUpsert", "true"),
        ("upsertCommitTimeoutMs", "600000"),
        ("upsert.commit.timeout", "30"),
    ]);
    let s = crate::sink::WriterSettings::new(&cfg, &delta_meta(false, 2)).unwrap();
    assert_eq!(s.upsert.unwrap().commit_timeout, Duration::from_secs(30));
}

#[test]
fn session_not_found_while_committing_means_committed() {
    let mut srv = server(false, 2);
    srv.fault_op(
        Op::CommitUpsert,
        1,
        FaultAction::Reply(Ok(error(404, "UpsertSessionNotFound"))),
    );
    let mut h = writer(false, 2, &[]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut srv, 100);
    assert_eq!(prepared(&h.take_events()), vec![1]);
}

#[test]
fn commit_errors_are_retried_up_to_the_commit_retries() {
    let mut srv = server(false, 2);
    srv.fault_op(
        Op::CommitUpsert,
        10,
        FaultAction::Reply(Ok(error(500, "InternalError"))),
    );
    let mut h = writer(
        false,
        2,
        &[
            ("upsert.commit.max-retries", "2"),
            ("sleepMillis", "10"),
            ("retryTimes", "0"),
        ],
    );
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut srv, 100);
    let e = failed(&h.take_events()).unwrap();
    assert!(
        matches!(
            &e,
            SinkError::Service {
                op: crate::sink::Operation::CommitUpsertSession,
                attempts: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(srv.count(Op::CommitUpsert), 3);
}

#[test]
fn flushes_per_partition_are_limited_and_bucket_buffers_flush_by_size() {
    let mut srv = server(false, 4);
    let mut h = writer(
        false,
        4,
        &[
            ("upsert.flush.concurrent", "2"),
            ("upsert.writer.bucket.buffer-size", "200"),
        ],
    );
    let create = h.take_sent();
    assert!(create.is_empty());
    h.m.write(rows(&(1..=40).collect::<Vec<_>>(), None), h.now)
        .unwrap();
    let s = h.take_sent();
    assert_eq!(
        ops_of(&s),
        vec![Op::CreateUpsert],
        "blocks wait for the session"
    );
    assert!(
        h.m.memory().in_flight > 0,
        "full buckets were flushed at once"
    );
    let r = srv.handle(&s[0].1);
    h.reply(s[0].0, r);
    let s = h.take_sent();
    assert_eq!(
        ops_of(&s),
        vec![Op::PutUpsert, Op::PutUpsert],
        "2 at a time"
    );
    let mut max = 0;
    let mut pending: VecDeque<(Token, Request)> = s.into_iter().collect();
    h.m.barrier(1, h.now).unwrap();
    while let Some((tok, req)) = pending.pop_front() {
        let r = srv.handle(&req);
        h.reply(tok, r);
        pending.extend(h.take_sent());
        max = max.max(
            pending
                .iter()
                .filter(|(_, r)| op_of(r) == Op::PutUpsert)
                .count(),
        );
    }
    assert!(max <= 2, "{max}");
    assert_eq!(prepared(&h.take_events()), vec![1]);
    let total: usize = puts(&srv).iter().map(|(_, r)| r.len()).sum();
    assert_eq!(total, 40);
}

fn ops_of(s: &[(Token, Request)]) -> Vec<Op> {
    s.iter().map(|(_, r)| op_of(r)).collect()
}

#[test]
fn the_session_buffer_limit_flushes_the_largest_buckets() {
    let mut srv = server(false, 4);
    let mut h = writer(
        false,
        4,
        &[
            ("upsert.writer.buffer-size", "3000"),
            ("upsert.writer.bucket.buffer-size", "1 MB"),
        ],
    );
    // Small rows in the 4 buckets: one smallest chunk each (accounted 4 × 644 = 2576).
    h.m.write(rows(&(1..=10).collect::<Vec<_>>(), None), h.now)
        .unwrap();
    let s = h.take_sent();
    let r = srv.handle(&s[0].1);
    h.reply(s[0].0, r);
    assert!(h.take_sent().is_empty(), "under the session buffer");
    let before = h.m.memory().buffered;
    h.m.write(wide_rows(100..110, 100, None), h.now).unwrap();
    let s = h.take_sent();
    assert!(!s.is_empty(), "the session's buckets passed 3000 bytes");
    assert!(h.m.memory().buffered < before + 1000);
}

#[test]
fn moved_slots_and_bad_gateways() {
    let mut srv = server(false, 1);
    let mut h = writer(false, 1, &[("sleepMillis", "10")]);
    let moved = ApiError::new(Service::Tunnel, 308, "SlotMoved", "moved")
        .with_routed_server("10.0.5.5:1")
        .to_response(Service::Tunnel);
    srv.fault_op(Op::PutUpsert, 1, FaultAction::Reply(Ok(moved)));
    srv.fault_op(
        Op::PutUpsert,
        1,
        FaultAction::Reply(Ok(error(502, "BadGateway"))),
    );
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut srv, 100);
    assert_eq!(prepared(&h.take_events()), vec![1]);
    assert_eq!(
        srv.log,
        vec![
            Op::CreateUpsert,
            Op::PutUpsert, // 308
            Op::PutUpsert, // rerouted: 502
            Op::GetUpsert, // reload
            Op::PutUpsert, // ok
            Op::CommitUpsert
        ]
    );
    let w = &srv.upserts.values().next().unwrap().writes;
    assert_eq!(w.len(), 1);
}

#[test]
fn a_session_with_other_buckets_fails_the_writer() {
    let mut srv = server(false, 8);
    let mut h = writer(false, 4, &[]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.run(&mut srv, 10);
    let e = failed(&h.take_events()).unwrap();
    assert!(matches!(e, SinkError::SessionMismatch { .. }));
    assert!(e.to_string().contains("8 buckets"), "{e}");
    // A legacy hasher is a mismatch too.
    let mut srv = server(false, 4);
    srv.hasher = ApiHasher::Legacy;
    let mut h = writer(false, 4, &[]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.run(&mut srv, 10);
    assert!(
        failed(&h.take_events())
            .unwrap()
            .to_string()
            .contains("legacy")
    );
}

#[test]
fn construction_needs_a_delta_table_with_known_buckets() {
    let cfg = config(&[("enableUpsert", "true")]);
    let e = UpsertWriter::new(&cfg, &meta(false)).unwrap_err();
    assert!(e.to_string().contains("primary key"), "{e}");
    let mut m = delta_meta(false, 4);
    m.bucket_num = None;
    let e = UpsertWriter::new(&cfg, &m).unwrap_err();
    assert!(e.to_string().contains("upsert.write.bucket.num"), "{e}");
    let cfg2 = config(&[("enableUpsert", "true"), ("upsert.write.bucket.num", "8")]);
    let e = UpsertWriter::new(&cfg2, &delta_meta(false, 4)).unwrap_err();
    assert!(e.to_string().contains("must be equal"), "{e}");
    assert!(
        UpsertWriter::new(&cfg2, &m).is_ok(),
        "the option gives the count"
    );
}

#[test]
fn sessions_are_per_epoch_and_partition() {
    let mut srv = server(true, 2);
    let mut h = writer(true, 2, &[("partition", "ds")]);
    h.m.write(rows(&[1, 2], Some(&["a", "b"])), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.m.write(rows(&[3], Some(&["a"])), h.now).unwrap();
    h.m.barrier(2, h.now).unwrap();
    h.run(&mut srv, 100);
    assert_eq!(prepared(&h.take_events()), vec![1, 2]);
    let sessions: Vec<(String, usize)> = srv
        .upserts
        .values()
        .map(|u| (u.partition.clone(), u.writes.len()))
        .collect();
    assert_eq!(
        sessions,
        vec![("ds=a".into(), 1), ("ds=b".into(), 1), ("ds=a".into(), 1)]
    );
    assert!(
        srv.upserts
            .values()
            .all(|u| u.status == SessionStatus::Committed)
    );
}

#[test]
fn the_generic_writer_dispatches_by_tunnel() {
    let cfg = config(&[("enableUpsert", "true")]);
    let mut w = SinkWriter::new(&cfg, &delta_meta(false, 2)).unwrap();
    assert!(matches!(w, SinkWriter::Upsert(_)));
    let mut h_srv = server(false, 2);
    w.write_changes(rows(&[1], None), &[RowKind::Delete], t(0))
        .unwrap();
    w.end_of_input(t(0)).unwrap();
    let mut h = Harness::new(w);
    h.run(&mut h_srv, 100);
    assert!(h.m.is_finished());
    // Append-only tunnels refuse changes other than INSERT.
    let mut b = SinkWriter::new(&config(&[]), &meta(false)).unwrap();
    let e = b
        .write_changes(
            rows(&[1, 2], None),
            &[RowKind::Insert, RowKind::Delete],
            t(0),
        )
        .unwrap_err();
    assert!(
        e.error().unwrap().to_string().contains("only appends"),
        "{e}"
    );
    b.write_changes(rows(&[1], None), &[RowKind::Insert], t(0))
        .unwrap();
    assert!(matches!(
        SinkWriter::new(&config(&[("useStreamTunnel", "true")]), &meta(false)).unwrap(),
        SinkWriter::Stream(_)
    ));
}

#[test]
fn snapshot_and_restore() {
    let mut h = writer(false, 2, &[]);
    h.m.barrier(9, h.now).unwrap();
    let state = h.m.snapshot();
    insta::assert_json_snapshot!("upsert_writer_state", state);
    let cfg = config(&[("enableUpsert", "true")]);
    let mut r = UpsertWriter::restore(&cfg, &delta_meta(false, 2), state).unwrap();
    assert!(r.barrier(9, t(0)).is_err());
    assert!(r.barrier(10, t(0)).is_ok());
}

#[test]
fn interval_flush_end_of_input_and_limits() {
    let mut srv = server(true, 2);
    let mut h = writer(
        true,
        2,
        &[
            ("partition", "ds"),
            ("flushIntervalMs", "500"),
            ("dynamicPartitionLimit", "2"),
        ],
    );
    h.m.write(rows(&[1, 2], Some(&["a", "b"])), h.now).unwrap();
    loop {
        h.drain();
        let Some((tok, req)) = h.sent.pop_front() else {
            break;
        };
        let r = srv.handle(&req);
        h.reply(tok, r);
    }
    assert_eq!(srv.count(Op::PutUpsert), 0);
    assert_eq!(h.m.next_deadline(), Some(t(500)));
    h.at(t(500));
    loop {
        h.drain();
        let Some((tok, req)) = h.sent.pop_front() else {
            break;
        };
        let r = srv.handle(&req);
        h.reply(tok, r);
    }
    assert_eq!(
        srv.count(Op::PutUpsert),
        2,
        "each partition's buckets flushed by the timer"
    );
    assert_eq!(
        srv.count(Op::CommitUpsert),
        0,
        "no commit before the barrier"
    );
    let e = h.m.write(rows(&[3], Some(&["c"])), h.now).unwrap_err();
    assert!(
        e.error()
            .unwrap()
            .to_string()
            .contains("Too many dynamic partitions")
    );
    // A fresh writer: end of input with nothing written finishes at once.
    let mut h = writer(false, 2, &[]);
    h.m.end_of_input(h.now).unwrap();
    assert_eq!(
        h.take_events(),
        vec![SinkEvent::Finished {
            committables: vec![]
        }]
    );
    assert!(h.m.write(rows(&[1], None), h.now).is_err());
}

#[test]
fn budget_back_pressure_for_upserts() {
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .enable_upsert(true)
        .option("compressAlgorithm", "RAW")
        .memory_budget(crate::options::MemorySize::bytes(4000))
        .build()
        .unwrap();
    let mut srv = server(false, 2);
    // 10 wide rows in 2 buckets: accounted 2450, then 3610 (past 3/4 of the budget: the
    // largest bucket flushes); the next 10 do not fit until that block is acknowledged.
    let mut h = Harness::new(UpsertWriter::new(&cfg, &delta_meta(false, 2)).unwrap());
    h.m.write(wide_rows(0..10, 100, None), h.now).unwrap();
    h.m.write(wide_rows(10..20, 100, None), h.now).unwrap();
    let e = h.m.write(wide_rows(20..30, 100, None), h.now).unwrap_err();
    assert!(e.is_back_pressure());
    let batch = e.batch;
    h.run(&mut srv, 100);
    assert!(h.take_events().contains(&SinkEvent::WriteReady));
    h.m.write(batch, h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut srv, 100);
    assert_eq!(prepared(&h.take_events()), vec![1]);
    let total: usize = puts(&srv).iter().map(|(_, r)| r.len()).sum();
    assert_eq!(total, 30);
    assert!(h.m.memory().peak <= 4000);
}

#[test]
fn a_buckets_writes_stay_in_order_and_partitions_commit_in_epoch_order() {
    // One bucket, every write flushes a block; the first block fails once.
    let mut srv = server(false, 1);
    srv.commit_polls = 2;
    srv.fault_op(
        Op::PutUpsert,
        1,
        FaultAction::Reply(Ok(error(500, "InternalError"))),
    );
    let mut h = writer(
        false,
        1,
        &[
            ("upsert.flush.concurrent", "4"),
            ("upsert.writer.bucket.buffer-size", "1"),
            ("sleepMillis", "100"),
        ],
    );
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.m.write(rows(&[2], None), h.now).unwrap();
    h.m.write(rows(&[3], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.m.write(rows(&[4], None), h.now).unwrap();
    h.m.barrier(2, h.now).unwrap();
    let mut order: Vec<(Op, String)> = Vec::new();
    let mut max_puts = 0;
    let mut guard = 0;
    loop {
        h.drain();
        // Writes in flight per session (the bucket is the same in both sessions).
        let mut per_session: BTreeMap<String, usize> = BTreeMap::new();
        for (_, r) in h.sent.iter().filter(|(_, r)| op_of(r) == Op::PutUpsert) {
            *per_session
                .entry(r.query_param("upsertid").unwrap().to_string())
                .or_default() += 1;
        }
        max_puts = max_puts.max(per_session.values().copied().max().unwrap_or(0));
        if let Some((tok, req)) = h.sent.pop_front() {
            let id = req
                .query_param("upsertid")
                .map(str::to_string)
                .unwrap_or_default();
            order.push((op_of(&req), id));
            let r = srv.handle(&req);
            h.reply(tok, r);
        } else if !h.jump_to_deadline() {
            break;
        }
        guard += 1;
        assert!(guard < 200);
    }
    assert_eq!(prepared(&h.take_events()), vec![1, 2]);
    assert_eq!(max_puts, 1, "one write in flight per bucket and session");
    // The retried first block lands before the later ones.
    let first = &srv.upserts["us0001"];
    let ids: Vec<i64> = first
        .writes
        .iter()
        .flat_map(|r| upsert_rows(&decode(r, &srv.upsert_columns())))
        .map(|r| r.0)
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    // Epoch 2's session commits only after epoch 1's is committed.
    let last_commit_1 = order
        .iter()
        .rposition(|(o, id)| *o == Op::CommitUpsert && id == "us0001")
        .unwrap();
    let first_commit_2 = order
        .iter()
        .position(|(o, id)| *o == Op::CommitUpsert && id == "us0002")
        .unwrap();
    assert!(last_commit_1 < first_commit_2, "{order:?}");
    assert!(srv.upserts["us0001"].committed_seq < srv.upserts["us0002"].committed_seq);
}

fn task_status(
    status: crate::api::instance::InstanceState,
    task: crate::api::instance::TaskState,
) -> Response {
    use crate::api::instance::{InstanceStatus, TaskStatus};
    let st = InstanceStatus {
        status,
        tasks: vec![TaskStatus {
            name: "maxc_sink_add_partition".into(),
            task_type: Some("SQL".into()),
            status: task,
            start_time: None,
            end_time: None,
        }],
    };
    Response::new(200, st.to_xml())
}

#[test]
fn a_missing_partition_is_added_with_ddl_then_the_session_is_created() {
    use crate::api::instance::{InstanceState, TaskState, render_submit};
    let mut srv = server(true, 2);
    let mut h = writer(true, 2, &[("partition", "ds")]);
    h.m.write(rows(&[1], Some(&["new"])), h.now).unwrap();
    let s = h.take_sent();
    assert_eq!(op_of(&s[0].1), Op::CreateUpsert);
    h.ok(s[0].0, error(404, "NoSuchPartition"));
    let s = h.take_sent();
    let submit = &s[0].1;
    assert_eq!(submit.service, Service::Rest);
    assert_eq!(submit.path, "/projects/p/instances");
    let sql = String::from_utf8(submit.body.to_vec()).unwrap();
    assert!(
        sql.contains("ALTER TABLE p.`t` ADD IF NOT EXISTS PARTITION (ds='new');"),
        "{sql}"
    );
    h.ok(s[0].0, render_submit("http://e/api", "p", "inst1"));
    let s = h.take_sent();
    assert_eq!(s[0].1.path, "/projects/p/instances/inst1");
    assert!(s[0].1.has_query("taskstatus"));
    h.ok(
        s[0].0,
        task_status(InstanceState::Running, TaskState::Running),
    );
    assert!(h.take_sent().is_empty());
    assert_eq!(h.m.next_deadline(), Some(t(100)));
    h.jump_to_deadline();
    let s = h.take_sent();
    h.ok(
        s[0].0,
        task_status(InstanceState::Terminated, TaskState::Success),
    );
    let s = h.take_sent();
    assert_eq!(
        op_of(&s[0].1),
        Op::CreateUpsert,
        "the session is created again"
    );
    let r = srv.handle(&s[0].1);
    h.reply(s[0].0, r);
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut srv, 50);
    assert_eq!(prepared(&h.take_events()), vec![1]);
    // A failed DDL fails the writer, naming the partition.
    let mut h = writer(true, 2, &[("partition", "ds")]);
    h.m.write(rows(&[1], Some(&["x"])), h.now).unwrap();
    let s = h.take_sent();
    h.ok(s[0].0, error(404, "NoSuchPartition"));
    let s = h.take_sent();
    h.ok(s[0].0, render_submit("http://e/api", "p", "inst2"));
    let s = h.take_sent();
    h.ok(
        s[0].0,
        task_status(InstanceState::Terminated, TaskState::Failed),
    );
    let e = failed(&h.take_events()).unwrap();
    assert!(
        e.to_string().contains("add partition") && e.to_string().contains("ds=x"),
        "{e}"
    );
}
