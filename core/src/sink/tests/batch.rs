//! Batch-tunnel writer.

use super::*;
use crate::machine::TransportErrorKind;
use crate::options::{BugSwitches, MemorySize};
use crate::sink::{BatchWriter, Committable, SinkError, SinkEvent, WriterState};

fn writer(partitioned: bool, opts: &[(&str, &str)]) -> Harness<BatchWriter> {
    Harness::new(BatchWriter::new(&config(opts), &meta(partitioned)).unwrap())
}

/// A dynamic-partition writer whose partitions count nothing against the budget, for tests
/// of the buffer and body accounting alone.
pub(crate) fn without_partition_cost(cfg: &SinkConfig) -> BatchWriter {
    let mut s = crate::sink::WriterSettings::new(cfg, &meta(true)).unwrap();
    s.partition_cost = 0;
    BatchWriter::with_settings(s).unwrap()
}

fn cols() -> Vec<Column> {
    schema(true).columns
}

fn ops(sent: &[(Token, Request)]) -> Vec<Op> {
    sent.iter().map(|(_, r)| op_of(r)).collect()
}

fn created(id: &str) -> Response {
    let mut s = FakeServer::new(schema(true));
    s.uploads.insert(
        id.into(),
        FakeUpload {
            partition: String::new(),
            status: SessionStatus::Normal,
            blocks: BTreeMap::new(),
            commits: 0,
        },
    );
    s.upload_json(id)
}

fn prepared(events: &[SinkEvent]) -> Vec<(u64, Vec<Committable>)> {
    events
        .iter()
        .filter_map(|e| match e {
            SinkEvent::Prepared {
                checkpoint_id,
                committables,
            } => Some((*checkpoint_id, committables.clone())),
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

#[test]
fn rows_buffer_while_the_session_is_created_then_flush_by_size_and_barrier() {
    let mut h = writer(
        true,
        &[
            ("partition", "ds=20180905"),
            ("batchSize", "60"),
            ("flushIntervalMs", "0"),
        ],
    );
    h.m.write(rows(&[1, 2], None), h.now).unwrap();
    let sent = h.take_sent();
    assert_eq!(ops(&sent), vec![Op::CreateUpload]);
    let (create, req) = &sent[0];
    assert_eq!(req.query_param("partition"), Some("ds=20180905"));
    assert_eq!(req.query_param("create_partition"), Some("true"));
    // More rows while the create is in flight: 2 + 3 rows pass 60 bytes → a block waits.
    h.m.write(rows(&[3, 4, 5], None), h.now).unwrap();
    assert!(h.take_sent().is_empty(), "no PUT before the session exists");
    assert_eq!(h.m.memory().buffered, 0);
    assert!(h.m.memory().in_flight > 0);
    h.ok(*create, created("up1"));
    let sent = h.take_sent();
    assert_eq!(ops(&sent), vec![Op::PutBlock]);
    let (put0, req0) = &sent[0];
    assert_eq!(req0.query_param("uploadid"), Some("up1"));
    assert_eq!(req0.query_param("blockid"), Some("0"));
    assert_eq!(req0.query_param("partition"), Some("ds=20180905"));
    assert_eq!(
        req0.headers.get("content-encoding"),
        Some("x-snappy-framed")
    );
    assert_eq!(ids_of(&decode(req0, &cols())), vec![1, 2, 3, 4, 5]);
    // A small write stays buffered; the barrier flushes it as block 1.
    h.m.write(rows(&[6], None), h.now).unwrap();
    assert!(h.take_sent().is_empty());
    h.m.barrier(7, h.now).unwrap();
    let sent = h.take_sent();
    assert!(
        sent.is_empty(),
        "numFlushThreads=1: block 1 waits for block 0"
    );
    h.ok(*put0, Response::new(200, ""));
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.query_param("blockid"), Some("1"));
    assert_eq!(ids_of(&decode(&sent[0].1, &cols())), vec![6]);
    assert!(
        prepared(&h.take_events()).is_empty(),
        "block 1 not acknowledged yet"
    );
    h.ok(sent[0].0, Response::new(200, ""));
    let p = prepared(&h.take_events());
    assert_eq!(
        p,
        vec![(
            7,
            vec![Committable {
                project: "p".into(),
                schema: None,
                table: "t".into(),
                partition: crate::partition::PartitionSpec::parse("ds=20180905").unwrap(),
                session_id: "up1".into(),
                block_ids: vec![0, 1],
                row_count: 6,
                checkpoint_id: Some(7),
            }]
        )]
    );
    assert_eq!(h.m.memory().total(), 0);
    assert_eq!(h.m.next_deadline(), None);
}

#[test]
fn flush_interval_timer() {
    let mut h = writer(
        false,
        &[("flushIntervalMs", "1000"), ("compressAlgorithm", "RAW")],
    );
    h.at(t(500));
    h.m.write(rows(&[1], None), h.now).unwrap();
    let sent = h.take_sent();
    h.ok(sent[0].0, created("up1"));
    assert_eq!(h.m.next_deadline(), Some(t(1500)));
    h.at(t(1499));
    assert!(h.take_sent().is_empty());
    h.at(t(1500));
    let sent = h.take_sent();
    assert_eq!(ops(&sent), vec![Op::PutBlock]);
    assert_eq!(
        sent[0].1.headers.get("content-encoding"),
        None,
        "RAW: no header"
    );
    assert_eq!(ids_of(&decode(&sent[0].1, &cols())), vec![1]);
    assert_eq!(sent[0].1.query_param("partition"), None);
    // The timer restarts with the next first row.
    h.at(t(2000));
    h.m.write(rows(&[2], None), h.now).unwrap();
    assert_eq!(h.m.next_deadline(), Some(t(3000)));
}

#[test]
fn flush_interval_zero_sets_no_timer() {
    let mut h = writer(false, &[("flushIntervalMs", "0")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    let sent = h.take_sent();
    h.ok(sent[0].0, created("up1"));
    assert_eq!(h.m.next_deadline(), None);
    h.at(t(10_000_000));
    assert!(h.take_sent().is_empty());
}

#[test]
fn each_epoch_gets_new_sessions_and_prepared_events_keep_checkpoint_order() {
    let mut server = FakeServer::new(schema(false));
    let mut h = writer(false, &[("flushIntervalMs", "0"), ("numFlushThreads", "4")]);
    h.m.write(rows(&[1, 2], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    // Writes after the barrier are not blocked by the flush of epoch 1.
    h.m.write(rows(&[3], None), h.now).unwrap();
    h.m.barrier(2, h.now).unwrap();
    h.m.write(rows(&[4], None), h.now).unwrap();
    let sent = h.take_sent();
    assert_eq!(
        ops(&sent),
        vec![Op::CreateUpload; 3],
        "one session per epoch"
    );
    // Answer the creates of epochs 2 and 3 first, then epoch 1.
    for i in [1, 2, 0] {
        let (tok, req) = &sent[i];
        let r = server.handle(req).unwrap();
        h.ok(*tok, r);
    }
    let puts = h.take_sent();
    assert_eq!(ops(&puts), vec![Op::PutBlock, Op::PutBlock]);
    // The server numbered the sessions in the order it saw the creates: epoch 2 got up0001,
    // epoch 3 up0002, epoch 1 up0003. Acknowledge epoch 2's block before epoch 1's: no
    // Prepared until epoch 1 is done.
    let find = |id: &str| {
        puts.iter()
            .find(|(_, r)| r.query_param("uploadid") == Some(id))
            .unwrap()
    };
    let (e2, e1) = (find("up0001"), find("up0003"));
    let r = server.handle(&e2.1).unwrap();
    h.ok(e2.0, r);
    assert!(prepared(&h.take_events()).is_empty());
    let r = server.handle(&e1.1).unwrap();
    h.ok(e1.0, r);
    let p = prepared(&h.take_events());
    assert_eq!(p.iter().map(|(c, _)| *c).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(p[0].1[0].session_id, "up0003");
    assert_eq!(p[0].1[0].block_ids, vec![0]);
    assert_eq!(p[0].1[0].row_count, 2);
    assert_eq!(p[1].1[0].session_id, "up0001");
    assert_eq!(
        p[1].1[0].block_ids,
        vec![0],
        "block ids restart in each session"
    );
    assert_eq!(server.upload_ids("up0003"), vec![1, 2]);
    assert_eq!(server.upload_ids("up0001"), vec![3]);
    // Epoch 3 is still open: its rows are buffered.
    assert!(h.m.memory().buffered > 0);
}

#[test]
fn an_empty_epoch_prepares_at_once_and_ids_must_increase() {
    let mut h = writer(false, &[]);
    h.m.barrier(3, h.now).unwrap();
    assert_eq!(prepared(&h.take_events()), vec![(3, vec![])]);
    assert!(
        matches!(h.m.barrier(3, h.now), Err(SinkError::Usage(m)) if m.contains("checkpoint 3"))
    );
    assert!(matches!(h.m.barrier(2, h.now), Err(SinkError::Usage(_))));
    h.m.barrier(4, h.now).unwrap();
    assert_eq!(prepared(&h.take_events()), vec![(4, vec![])]);
}

#[test]
fn end_of_input_is_a_real_transition() {
    let mut server = FakeServer::new(schema(false));
    let mut h = writer(false, &[]);
    h.m.write(rows(&[1, 2, 3], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.m.write(rows(&[4], None), h.now).unwrap();
    h.m.end_of_input(h.now).unwrap();
    let err = h.m.write(rows(&[5], None), h.now).unwrap_err();
    assert!(matches!(err.error(), Some(SinkError::Usage(_))));
    assert_eq!(err.batch.num_rows(), 1, "the batch comes back");
    assert!(h.m.barrier(2, h.now).is_err());
    assert!(h.m.end_of_input(h.now).is_err());
    h.run(&mut server, 100);
    let ev = h.take_events();
    assert_eq!(ev.len(), 2);
    assert!(
        matches!(&ev[0], SinkEvent::Prepared { checkpoint_id: 1, committables } if committables[0].row_count == 3)
    );
    match &ev[1] {
        SinkEvent::Finished { committables } => {
            assert_eq!(committables.len(), 1);
            assert_eq!(committables[0].row_count, 1);
            assert_eq!(committables[0].checkpoint_id, None);
            assert_eq!(server.upload_ids(&committables[0].session_id), vec![4]);
        }
        other => panic!("{other:?}"),
    }
    assert!(h.m.is_finished());
    assert_eq!(h.m.next_deadline(), None);
}

#[test]
fn dynamic_partitions_route_rows_and_create_partitions() {
    let mut server = FakeServer::new(schema(true));
    let mut h = writer(true, &[("partition", "ds"), ("numFlushThreads", "3")]);
    let b = rows(&[1, 2, 3, 4, 5], Some(&["b", "a", "b", "c", "a"]));
    h.m.write(b, h.now).unwrap();
    let sent = h.take_sent();
    let parts: Vec<_> = sent
        .iter()
        .map(|(_, r)| r.query_param("partition").unwrap().to_string())
        .collect();
    assert_eq!(parts, vec!["ds=a", "ds=b", "ds=c"]);
    assert!(
        sent.iter()
            .all(|(_, r)| r.query_param("create_partition") == Some("true"))
    );
    for (tok, req) in sent {
        let r = server.handle(&req);
        h.reply(tok, r);
    }
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut server, 100);
    let p = prepared(&h.take_events());
    let got: Vec<(String, Vec<i64>, u64)> = p[0]
        .1
        .iter()
        .map(|c| {
            (
                c.partition.to_string(),
                server.upload_ids(&c.session_id),
                c.row_count,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("ds=a".into(), vec![2, 5], 2),
            ("ds=b".into(), vec![1, 3], 2),
            ("ds=c".into(), vec![4], 1)
        ]
    );
    // The partition column is not a data column of the record stream.
    for u in server.uploads.values() {
        for r in u.blocks.values() {
            assert_eq!(decode(r, &cols())[0].num_columns(), 2);
        }
    }
}

#[test]
fn dynamic_partition_limit_is_terminal_and_resets_at_barriers() {
    let mut h = writer(true, &[("partition", "ds"), ("dynamicPartitionLimit", "2")]);
    h.m.write(rows(&[1, 2], Some(&["a", "b"])), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    // A new epoch may write two other partitions.
    h.m.write(rows(&[3, 4], Some(&["c", "d"])), h.now).unwrap();
    h.m.write(rows(&[5], Some(&["c"])), h.now).unwrap();
    let err = h.m.write(rows(&[6], Some(&["e"])), h.now).unwrap_err();
    let Some(e) = err.error() else {
        panic!("{err}")
    };
    let msg = e.to_string();
    assert!(msg.contains("Too many dynamic partitions"), "{msg}");
    assert!(msg.contains("dynamicPartitionLimit = 2"), "{msg}");
    assert!(msg.contains("3 distinct partitions"), "{msg}");
    assert!(msg.contains("p.t"), "{msg}");
    assert!(e.is_terminal());
    assert_eq!(failed(&h.take_events()).as_ref(), Some(e));
    assert_eq!(h.m.failure(), Some(e));
    // Terminal: everything after fails with the same error.
    let again = h.m.write(rows(&[7], Some(&["c"])), h.now).unwrap_err();
    assert_eq!(again.error(), Some(e));
    assert_eq!(h.m.barrier(2, h.now).unwrap_err(), *e);
    assert_eq!(h.m.next_deadline(), None);
    assert!(h.take_sent().is_empty(), "queued requests are dropped");
}

#[test]
fn sessions_roll_over_when_block_ids_run_out() {
    let mut server = FakeServer::new(schema(false));
    let mut s = crate::sink::WriterSettings::new(
        &config(&[("batchSize", "1"), ("numFlushThreads", "2")]),
        &meta(false),
    )
    .unwrap();
    assert_eq!(s.max_blocks_per_session, 20_000);
    s.max_blocks_per_session = 2;
    let mut h = Harness::new(BatchWriter::with_settings(s).unwrap());
    for i in 0..5 {
        h.m.write(rows(&[i], None), h.now).unwrap();
    }
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut server, 100);
    let p = prepared(&h.take_events());
    let c = &p[0].1;
    assert_eq!(c.len(), 3);
    assert_eq!(
        c.iter().map(|c| c.block_ids.clone()).collect::<Vec<_>>(),
        vec![vec![0, 1], vec![0, 1], vec![0]]
    );
    assert_eq!(c.iter().map(|c| c.row_count).sum::<u64>(), 5);
    let all: Vec<i64> = c
        .iter()
        .flat_map(|c| server.upload_ids(&c.session_id))
        .collect();
    assert_eq!(all, vec![0, 1, 2, 3, 4]);
    assert_eq!(server.count(Op::CreateUpload), 3);
}

// ------------------------------------------------------------------ retries

fn one_block(h: &mut Harness<BatchWriter>) -> (Token, Request) {
    h.m.write(rows(&[1, 2], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    let sent = h.take_sent();
    h.ok(sent[0].0, created("up1"));
    let mut s = h.take_sent();
    assert_eq!(ops(&s), vec![Op::PutBlock]);
    s.remove(0)
}

#[test]
fn flow_control_retries_forever_after_the_servers_hint() {
    let mut h = writer(false, &[("retryTimes", "1"), ("sleepMillis", "100")]);
    let (mut tok, req) = one_block(&mut h);
    for i in 0..10u64 {
        let resp = ApiError::new(Service::Tunnel, 429, "FlowExceeded", "slow down")
            .with_retry_after(5000)
            .to_response(Service::Tunnel);
        let before = h.now;
        h.ok(tok, resp);
        let d = h.m.next_deadline().unwrap();
        assert!(
            d >= before.plus(std::time::Duration::from_secs(5)),
            "attempt {i}: {d}"
        );
        h.at(t(d.as_millis() - 1));
        assert!(h.take_sent().is_empty(), "no resend before the deadline");
        h.at(d);
        let s = h.take_sent();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1, req, "the same block, same id, same body");
        tok = s[0].0;
    }
    h.ok(tok, Response::new(200, ""));
    assert_eq!(prepared(&h.take_events()).len(), 1);
}

#[test]
fn bad_gateway_reloads_the_session_then_retries() {
    let mut h = writer(false, &[("retryTimes", "2"), ("sleepMillis", "100")]);
    let (tok, req) = one_block(&mut h);
    h.ok(tok, error(502, "BadGateway"));
    assert_eq!(
        h.m.next_deadline(),
        Some(h.now.plus(std::time::Duration::from_millis(100)))
    );
    h.jump_to_deadline();
    let s = h.take_sent();
    assert_eq!(ops(&s), vec![Op::GetUpload]);
    assert_eq!(s[0].1.query_param("uploadid"), Some("up1"));
    h.ok(s[0].0, created("up1"));
    let s = h.take_sent();
    assert_eq!(s[0].1, req);
    h.ok(s[0].0, Response::new(200, ""));
    assert_eq!(prepared(&h.take_events()).len(), 1);
}

#[test]
fn server_errors_are_retried_up_to_retry_times_then_fail_naming_everything() {
    let mut h = writer(
        true,
        &[
            ("partition", "ds=1"),
            ("retryTimes", "2"),
            ("sleepMillis", "100"),
        ],
    );
    let (mut tok, _) = one_block(&mut h);
    for expected_delay in [100, 200] {
        let before = h.now;
        h.ok(tok, error(500, "InternalError"));
        assert_eq!(
            h.m.next_deadline(),
            Some(before.plus(std::time::Duration::from_millis(expected_delay)))
        );
        h.jump_to_deadline();
        tok = h.take_sent()[0].0;
    }
    h.ok(tok, error(500, "InternalError"));
    let e = failed(&h.take_events()).expect("failed");
    match &e {
        SinkError::Service {
            op,
            at,
            attempts,
            error,
        } => {
            assert_eq!(*op, crate::sink::Operation::UploadBlock);
            assert_eq!(at.table, "p.t");
            assert_eq!(at.partition.as_deref(), Some("ds=1"));
            assert_eq!(at.session.as_deref(), Some("up1"));
            assert_eq!(at.item, Some(crate::sink::Item::Block(0)));
            assert_eq!(*attempts, 3);
            assert_eq!(error.code, "InternalError");
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    for part in [
        "upload block",
        "p.t",
        "ds=1",
        "up1",
        "InternalError",
        "injected InternalError",
        "3 attempt",
    ] {
        assert!(msg.contains(part), "{part} in {msg}");
    }
    assert_eq!(h.m.next_deadline(), None);
}

#[test]
fn transport_timeouts_are_retried_then_fail() {
    let mut h = writer(false, &[("retryTimes", "1"), ("sleepMillis", "10")]);
    let (tok, req) = one_block(&mut h);
    h.reply(tok, transport(TransportErrorKind::Timeout));
    h.jump_to_deadline();
    let s = h.take_sent();
    assert_eq!(s[0].1, req);
    h.reply(s[0].0, transport(TransportErrorKind::Timeout));
    match failed(&h.take_events()) {
        Some(SinkError::Transport {
            attempts: 2, error, ..
        }) => {
            assert_eq!(error.kind, TransportErrorKind::Timeout)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_fatal_error_fails_at_once() {
    let mut h = writer(false, &[("retryTimes", "5")]);
    let (tok, _) = one_block(&mut h);
    h.ok(tok, error(400, "InvalidArgument"));
    let e = failed(&h.take_events()).unwrap();
    assert_eq!(e.server_code(), Some("InvalidArgument"));
    assert!(e.to_string().contains("1 attempt"));
    assert_eq!(h.m.next_deadline(), None);
    assert!(h.take_events().is_empty(), "Failed is reported once");
}

#[test]
fn a_missing_partition_at_session_create_fails_naming_it() {
    let mut h = writer(true, &[("partition", "ds=x")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    let s = h.take_sent();
    h.ok(s[0].0, error(404, "NoSuchPartition"));
    let e = failed(&h.take_events()).unwrap();
    assert!(matches!(
        &e,
        SinkError::Service {
            op: crate::sink::Operation::CreateUploadSession,
            ..
        }
    ));
    assert!(e.to_string().contains("partition ds=x"), "{e}");
}

#[test]
fn session_create_is_retried() {
    let mut h = writer(false, &[("retryTimes", "1"), ("sleepMillis", "50")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    let s = h.take_sent();
    h.ok(s[0].0, error(503, "ServiceUnavailable"));
    assert!(h.take_sent().is_empty());
    h.jump_to_deadline();
    let s2 = h.take_sent();
    assert_eq!(s2[0].1, s[0].1);
    h.ok(s2[0].0, created("up9"));
    h.m.barrier(1, h.now).unwrap();
    let s3 = h.take_sent();
    assert_eq!(s3[0].1.query_param("uploadid"), Some("up9"));
}

// ------------------------------------------------------------------ memory

#[test]
fn back_pressure_returns_the_batch_and_write_ready_releases_it() {
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .option("compressAlgorithm", "RAW")
        .memory_budget(MemorySize::bytes(1500))
        .build()
        .unwrap();
    let mut h = Harness::new(BatchWriter::new(&cfg, &meta(false)).unwrap());
    // ~450 bytes in one 512-byte chunk: accounted 644 (chunk, its overhead, cost margin).
    h.m.write(wide_rows(0..4, 100, None), h.now).unwrap();
    assert_eq!(h.m.memory().buffered, 644);
    let create = h.take_sent();
    // ~900 bytes in two chunks (accounted 1225): past the high water (1125) → flush.
    h.m.write(wide_rows(4..8, 100, None), h.now).unwrap();
    assert_eq!(h.m.memory().buffered, 0, "the largest buffer was flushed");
    assert_eq!(h.m.memory().peak, 1225);
    let big = wide_rows(8..12, 100, None);
    let err = h.m.write(big.clone(), h.now).unwrap_err();
    assert!(err.is_back_pressure());
    assert_eq!(err.batch, big, "the batch comes back unchanged");
    assert!(h.m.memory().total() <= 1500);
    h.ok(create[0].0, created("up1"));
    let puts = h.take_sent();
    assert_eq!(ops(&puts), vec![Op::PutBlock]);
    assert!(!h.take_events().contains(&SinkEvent::WriteReady));
    h.ok(puts[0].0, Response::new(200, ""));
    assert!(h.take_events().contains(&SinkEvent::WriteReady));
    h.m.write(err.batch, h.now).unwrap();
    assert!(h.m.memory().peak <= 1500, "{:?}", h.m.memory());
}

#[test]
fn a_batch_larger_than_the_budget_is_taken_when_nothing_else_is_held() {
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .memory_budget(MemorySize::bytes(100))
        .build()
        .unwrap();
    let mut h = Harness::new(BatchWriter::new(&cfg, &meta(false)).unwrap());
    h.m.write(wide_rows(0..10, 100, None), h.now).unwrap();
    let err = h.m.write(rows(&[1], None), h.now).unwrap_err();
    assert!(err.is_back_pressure());
}

#[test]
fn budget_flushes_the_largest_buffers_first() {
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .partition("ds")
        .option("numFlushThreads", "10")
        .option("compressAlgorithm", "RAW")
        .memory_budget(MemorySize::bytes(12_000))
        .build()
        .unwrap();
    let mut server = FakeServer::new(schema(true));
    let mut h = Harness::new(without_partition_cost(&cfg));
    h.m.write(wide_rows(0..25, 100, Some("big")), h.now)
        .unwrap();
    h.m.write(wide_rows(25..45, 100, Some("mid")), h.now)
        .unwrap();
    h.m.write(wide_rows(45..60, 100, Some("small")), h.now)
        .unwrap();
    for (tok, req) in h.take_sent() {
        let r = server.handle(&req);
        h.reply(tok, r);
    }
    assert!(h.take_sent().is_empty(), "nothing flushed yet");
    // Accounted: big 3353, mid 2773, small 2321.
    let before = h.m.memory().buffered;
    assert_eq!(before, 8447);
    // "small" grows to second largest (2902) and buffered passes 9000 (3/4 of the budget):
    // the largest buffer ("big") is flushed, which brings buffered under 6000 (1/2).
    h.m.write(wide_rows(60..67, 100, Some("small")), h.now)
        .unwrap();
    let mut m = h.m.memory();
    let s = h.take_sent();
    let flushed: Vec<_> = s
        .iter()
        .map(|(_, r)| r.query_param("partition").unwrap().to_string())
        .collect();
    assert_eq!(flushed, vec!["ds=big"]);
    assert!(m.buffered <= 6000, "{m:?}");
    assert!(m.buffered > 0, "the other buffers stay");
    for (tok, req) in s {
        let r = server.handle(&req);
        h.reply(tok, r);
    }
    m = h.m.memory();
    assert_eq!(m.in_flight, 0);
    assert!(m.peak <= 12_000);
}

/// Every partition being written counts `PARTITION_COST` until its epoch is committed, and the
/// buffers get what the partitions leave.
#[test]
fn partitions_count_against_the_budget() {
    use crate::sink::PARTITION_COST;
    let budget = 64 * PARTITION_COST;
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .partition("ds")
        .option("flushIntervalMs", "0")
        .memory_budget(MemorySize::bytes(budget))
        .build()
        .unwrap();
    let mut server = FakeServer::new(schema(true));
    let mut h = Harness::new(BatchWriter::new(&cfg, &meta(true)).unwrap());
    let specs: Vec<String> = (0..10).map(|p| format!("p{p}")).collect();
    let ds: Vec<&str> = specs.iter().map(String::as_str).collect();
    let ids: Vec<i64> = (0..10).collect();
    h.m.write(rows(&ids, Some(&ds)), h.now).unwrap();
    let m = h.m.memory();
    assert_eq!(m.partitions, 10 * PARTITION_COST, "{m:?}");
    assert_eq!(m.total(), m.buffered + m.in_flight + m.partitions);
    assert!(m.peak >= m.total());
    // The same partitions again: no new charge.
    h.m.write(rows(&ids, Some(&ds)), h.now).unwrap();
    assert_eq!(h.m.memory().partitions, 10 * PARTITION_COST);
    // A write that fits the budget but not what the partitions leave of it is refused.
    let left = budget - h.m.memory().total();
    let wide: Vec<String> = (0..4).map(|_| "w".repeat(left as usize / 4)).collect();
    let wide_batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ds", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
            Arc::new(StringArray::from(
                wide.iter().map(String::as_str).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec!["p0"; 4])),
        ],
    )
    .unwrap();
    let e = h.m.write(wide_batch, h.now).unwrap_err();
    assert!(e.is_back_pressure(), "{e}");
    // Committing the epoch drops the partitions' state.
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut server, 10_000);
    let p = prepared(&h.take_events());
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].1.len(), 10);
    let m = h.m.memory();
    assert_eq!((m.partitions, m.buffered, m.in_flight), (0, 0, 0), "{m:?}");
}

/// A budget smaller than the partitions' state still makes progress: a write is taken
/// whenever no buffer or body is held.
#[test]
fn partitions_beyond_the_budget_still_make_progress() {
    use crate::sink::PARTITION_COST;
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .partition("ds")
        .option("flushIntervalMs", "0")
        .memory_budget(MemorySize::bytes(2 * PARTITION_COST))
        .build()
        .unwrap();
    let mut server = FakeServer::new(schema(true));
    let mut h = Harness::new(BatchWriter::new(&cfg, &meta(true)).unwrap());
    let mut refusals = 0;
    for round in 0..5i64 {
        let specs: Vec<String> = (0..4).map(|p| format!("r{round}p{p}")).collect();
        let ds: Vec<&str> = specs.iter().map(String::as_str).collect();
        let ids: Vec<i64> = (round * 4..round * 4 + 4).collect();
        let mut batch = rows(&ids, Some(&ds));
        loop {
            match h.m.write(batch, h.now) {
                Ok(()) => break,
                Err(e) => {
                    assert!(e.is_back_pressure(), "{e}");
                    refusals += 1;
                    batch = e.batch;
                    h.drain();
                    let mut served = 0;
                    while !h.events.contains(&SinkEvent::WriteReady) {
                        let (tok, req) = h.sent.pop_front().expect("something in flight");
                        let r = server.handle(&req);
                        h.reply(tok, r);
                        served += 1;
                        assert!(served < 1_000);
                    }
                    h.events.retain(|e| *e != SinkEvent::WriteReady);
                }
            }
        }
    }
    assert!(refusals > 0, "the partitions filled the budget");
    assert_eq!(h.m.memory().partitions, 20 * PARTITION_COST);
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut server, 100_000);
    let p = prepared(&h.take_events());
    let rows: u64 = p[0].1.iter().map(|c| c.row_count).sum();
    assert_eq!(rows, 20);
}

/// 10,000 dynamic partitions written under a 256 MiB budget: the accounted peak (buffers plus
/// unacknowledged bodies) never passes the budget.
#[test]
fn ten_thousand_partitions_stay_under_the_default_budget() {
    let budget = 256u64 << 20;
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .partition("ds")
        .option("dynamicPartitionLimit", "10000")
        .option("numFlushThreads", "8")
        .option("compressAlgorithm", "RAW")
        .option("flushIntervalMs", "0")
        .build()
        .unwrap();
    assert_eq!(
        cfg.memory_budget.as_bytes(),
        budget,
        "256 MiB is the default"
    );
    let mut server = FakeServer::new(schema(true));
    server.keep_bodies = false;
    let mut h = Harness::new(BatchWriter::new(&cfg, &meta(true)).unwrap());
    // 10,000 partitions × 7 rows × 4 KiB = ~280 MiB (more than the budget), written
    // round-robin in batches of 500 rows.
    let width = 4096;
    let parts: Vec<String> = (0..10_000).map(|p| format!("p{p:05}")).collect();
    let mut written = 0i64;
    let mut refusals = 0;
    for round in 0..7 {
        for chunk in parts.chunks(500) {
            let ids: Vec<i64> = (written..written + chunk.len() as i64).collect();
            let ds: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let name = "y".repeat(width);
            let names: Vec<&str> = ids.iter().map(|_| name.as_str()).collect();
            let b = RecordBatch::try_new(
                Arc::new(Schema::new(vec![
                    Field::new("id", DataType::Int64, true),
                    Field::new("name", DataType::Utf8, true),
                    Field::new("ds", DataType::Utf8, true),
                ])),
                vec![
                    Arc::new(Int64Array::from(ids.clone())),
                    Arc::new(StringArray::from(names)),
                    Arc::new(StringArray::from(ds)),
                ],
            )
            .unwrap();
            let mut batch = b;
            loop {
                match h.m.write(batch, h.now) {
                    Ok(()) => break,
                    Err(e) => {
                        assert!(e.is_back_pressure(), "round {round}: {e}");
                        refusals += 1;
                        batch = e.batch;
                        // Serve requests until memory frees up.
                        let mut served = 0;
                        h.drain();
                        while !h.events.contains(&SinkEvent::WriteReady) {
                            let (tok, req) = h.sent.pop_front().expect("something in flight");
                            let r = server.handle(&req);
                            h.reply(tok, r);
                            served += 1;
                            assert!(served < 100_000);
                        }
                        h.events.retain(|e| *e != SinkEvent::WriteReady);
                    }
                }
            }
            written += chunk.len() as i64;
            let m = h.m.memory();
            assert!(m.total() <= budget, "{m:?}");
            check_held(&h.m);
        }
    }
    assert_eq!(
        h.m.memory().partitions,
        10_000 * crate::sink::PARTITION_COST,
        "every partition's state is counted"
    );
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut server, 1_000_000);
    let m = h.m.memory();
    assert_eq!(m.total(), 0, "{m:?}");
    assert!(m.peak <= budget, "peak {} > budget {budget}", m.peak);
    assert!(m.peak > budget / 2, "the budget was actually used: {m:?}");
    assert!(refusals > 0, "back-pressure happened");
    let p = prepared(&h.take_events());
    let rows: u64 = p[0].1.iter().map(|c| c.row_count).sum();
    assert_eq!(rows, written as u64);
    let distinct: std::collections::BTreeSet<_> =
        p[0].1.iter().map(|c| c.partition.clone()).collect();
    assert_eq!(distinct.len(), 10_000);
}

/// The accounting is the allocations: `buffered` is the [`cost`] of every buffer's chunks
/// (capacities plus a fixed overhead each), `in_flight` the bytes of every body not
/// acknowledged, and a buffer's spare capacity stays within a quarter of its length (or one
/// smallest chunk).
fn check_held(w: &BatchWriter) {
    use crate::sink::budget::cost;
    let (buffers, bodies) = w.held();
    let m = w.memory();
    let accounted: u64 = buffers
        .iter()
        .map(|&(_, caps, chunks)| cost(caps + 64 * chunks))
        .sum();
    assert_eq!(m.buffered, accounted, "buffered = cost of the chunks");
    assert_eq!(m.in_flight, bodies, "in flight = the bodies held");
    for (len, caps, _) in buffers {
        assert!(caps <= len + (len / 4).max(512), "{caps} for {len} bytes");
    }
}

/// 10,000 dynamic partitions of small rows (one row per partition per write, as an engine
/// hands round-robin data over), about twice the budget: what is accounted is what the
/// buffers and bodies allocate, it never passes the budget, and the budget is used.
#[test]
fn ten_thousand_partitions_account_their_allocations() {
    let budget = 4u64 << 20;
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .partition("ds")
        .option("dynamicPartitionLimit", "10000")
        .option("numFlushThreads", "4")
        .option("flushIntervalMs", "0")
        .memory_budget(MemorySize::bytes(budget))
        .build()
        .unwrap();
    let mut server = FakeServer::new(schema(true));
    server.keep_bodies = false;
    let mut h = Harness::new(without_partition_cost(&cfg));
    let parts: Vec<String> = (0..10_000).map(|p| format!("p{p:05}")).collect();
    let total = 150_000i64;
    let mut written = 0i64;
    let (mut refusals, mut puts) = (0, 0);
    while written < total {
        let ids: Vec<i64> = (written..(written + 4096).min(total)).collect();
        let ds: Vec<&str> = ids
            .iter()
            .map(|i| parts[(*i as usize) % parts.len()].as_str())
            .collect();
        let names: Vec<String> = ids.iter().map(|i| format!("name-{i:040}")).collect();
        let mut batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("name", DataType::Utf8, true),
                Field::new("ds", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(StringArray::from(names)),
                Arc::new(StringArray::from(ds)),
            ],
        )
        .unwrap();
        loop {
            match h.m.write(batch, h.now) {
                Ok(()) => break,
                Err(e) => {
                    assert!(e.is_back_pressure(), "{e}");
                    refusals += 1;
                    batch = e.batch;
                    check_held(&h.m);
                    h.drain();
                    while !h.events.contains(&SinkEvent::WriteReady) {
                        let (tok, req) = h.sent.pop_front().expect("something in flight");
                        puts += usize::from(op_of(&req) == Op::PutBlock);
                        let r = server.handle(&req);
                        h.reply(tok, r);
                    }
                    h.events.retain(|e| *e != SinkEvent::WriteReady);
                }
            }
        }
        written += ids.len() as i64;
        assert!(h.m.memory().total() <= budget, "{:?}", h.m.memory());
        check_held(&h.m);
    }
    h.m.barrier(1, h.now).unwrap();
    check_held(&h.m);
    h.run(&mut server, 1_000_000);
    let m = h.m.memory();
    assert_eq!(m.total(), 0);
    assert!(m.peak <= budget, "peak {} > budget {budget}", m.peak);
    assert!(m.peak > budget / 2, "the budget was used: {m:?}");
    assert!(refusals > 0 && puts > 0, "back-pressure happened");
    let p = prepared(&h.take_events());
    let rows: u64 = p[0].1.iter().map(|c| c.row_count).sum();
    assert_eq!(rows, total as u64);
    assert_eq!(p[0].1.len(), 10_000);
}

// ------------------------------------------------------------------ input errors

#[test]
fn bad_batches_are_refused_and_leave_the_writer_unchanged() {
    let mut h = writer(true, &[("partition", "ds")]);
    // Missing column.
    let only_id = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ds", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["a"])),
        ],
    )
    .unwrap();
    let e = h.m.write(only_id, h.now).unwrap_err();
    assert!(
        e.error().unwrap().to_string().contains("column `name`"),
        "{e}"
    );
    // Wrong type.
    let wrong = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ds", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["1"])),
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(StringArray::from(vec!["a"])),
        ],
    )
    .unwrap();
    let e = h.m.write(wrong, h.now).unwrap_err();
    assert!(
        e.error()
            .unwrap()
            .to_string()
            .contains("`id` has Arrow type Utf8"),
        "{e}"
    );
    // Unknown column.
    let extra = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ds", DataType::Utf8, true),
            Field::new("nmae", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(StringArray::from(vec!["a"])),
        ],
    )
    .unwrap();
    let e = h.m.write(extra, h.now).unwrap_err();
    assert!(e.error().unwrap().to_string().contains("`nmae`"), "{e}");
    // NULL dynamic partition value: no default partition.
    let null_ds = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ds", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["x", "y"])),
            Arc::new(StringArray::from(vec![Some("a"), None])),
        ],
    )
    .unwrap();
    let e = h.m.write(null_ds, h.now).unwrap_err();
    let err = e.error().unwrap();
    assert!(!err.is_terminal());
    assert!(err.to_string().contains("NULL in row 1"), "{err}");
    // Nothing was taken: no request, no memory, and the writer still works.
    assert!(h.take_sent().is_empty());
    assert_eq!(h.m.memory().total(), 0);
    assert!(h.m.failure().is_none());
    // Column order does not matter (matched by name).
    let reordered = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("ds", DataType::Utf8, true),
            Field::new("NAME", DataType::Utf8, true),
            Field::new("id", DataType::Int64, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(StringArray::from(vec!["x"])),
            Arc::new(Int64Array::from(vec![9])),
        ],
    )
    .unwrap();
    h.m.write(reordered, h.now).unwrap();
    assert_eq!(h.take_sent().len(), 1);
}

#[test]
fn construction_errors() {
    // Partitioned table without `partition`.
    let e = BatchWriter::new(&config(&[]), &meta(true)).unwrap_err();
    assert!(e.to_string().contains("partitioned by ds"), "{e}");
    // A partition that is not the table's.
    let e = BatchWriter::new(&config(&[("partition", "dt=1")]), &meta(true)).unwrap_err();
    assert!(e.to_string().contains("`dt`"), "{e}");
    // Wrong tunnel.
    let e = BatchWriter::new(&config(&[("useStreamTunnel", "true")]), &meta(false)).unwrap_err();
    assert!(matches!(e, SinkError::Config(_)));
}

// ------------------------------------------------------------------ state

#[test]
fn snapshot_is_versioned_and_restores() {
    let mut h = writer(true, &[("partition", "ds=1")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.m.barrier(41, h.now).unwrap();
    let state = h.m.snapshot();
    insta::assert_json_snapshot!("batch_writer_state", state);
    let json = state.to_json();
    assert!(json.contains(r#""version":"1""#), "{json}");
    let back = WriterState::from_json(&json).unwrap();
    assert_eq!(back, state);
    let cfg = config(&[("partition", "ds=1")]);
    let mut r = BatchWriter::restore(&cfg, &meta(true), back.clone()).unwrap();
    assert!(matches!(r.barrier(41, t(0)), Err(SinkError::Usage(_))));
    r.barrier(42, t(0)).unwrap();
    // A state of another tunnel or table does not restore.
    let mut other = back.clone();
    let WriterState::V1(v) = &mut other;
    v.tunnel = "stream".into();
    assert!(matches!(
        BatchWriter::restore(&cfg, &meta(true), other),
        Err(SinkError::Restore(_))
    ));
    let WriterState::V1(mut v) = back;
    v.table = "p.other".into();
    assert!(BatchWriter::restore(&cfg, &meta(true), WriterState::V1(v)).is_err());
    assert!(WriterState::from_json(r#"{"version":"9"}"#).is_err());
}

#[test]
fn bug_switch_reuses_the_session_across_barriers() {
    let mut server = FakeServer::new(schema(false));
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .bug_switches(BugSwitches {
            writer_reuses_session_across_barrier: true,
            ..BugSwitches::default()
        })
        .build()
        .unwrap();
    let mut h = Harness::new(BatchWriter::new(&cfg, &meta(false)).unwrap());
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.run(&mut server, 100);
    h.m.write(rows(&[2], None), h.now).unwrap();
    h.m.barrier(2, h.now).unwrap();
    h.run(&mut server, 100);
    let p = prepared(&h.take_events());
    assert_eq!(
        p[0].1[0].session_id, p[1].1[0].session_id,
        "the bug: same session"
    );
    assert_eq!(p[1].1[0].block_ids, vec![1]);
    assert_eq!(server.count(Op::CreateUpload), 1);
    // Without the switch: two sessions.
    let mut server = FakeServer::new(schema(false));
    let mut h = writer(false, &[]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    h.m.barrier(1, h.now).unwrap();
    h.m.write(rows(&[2], None), h.now).unwrap();
    h.m.barrier(2, h.now).unwrap();
    h.run(&mut server, 100);
    assert_eq!(server.count(Op::CreateUpload), 2);
}

#[test]
fn stale_and_unknown_tokens_are_ignored() {
    let mut h = writer(false, &[]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    let s = h.take_sent();
    h.reply(Token(999), Ok(Response::new(200, "")));
    h.ok(s[0].0, created("up1"));
    h.ok(s[0].0, created("up2"));
    h.m.barrier(1, h.now).unwrap();
    let p = h.take_sent();
    assert_eq!(p[0].1.query_param("uploadid"), Some("up1"));
}
