//! Streaming-tunnel writer.

use super::*;
use crate::sink::{SinkError, SinkEvent, StreamWriter, WriterState};

fn writer(partitioned: bool, opts: &[(&str, &str)]) -> Harness<StreamWriter> {
    let mut all = vec![("useStreamTunnel", "true")];
    all.extend_from_slice(opts);
    Harness::new(StreamWriter::new(&config(&all), &meta(partitioned)).unwrap())
}

fn cols() -> Vec<Column> {
    schema(true).columns
}

/// Answers everything queued with `server`, once (no deadlines).
fn serve(h: &mut Harness<StreamWriter>, server: &mut FakeServer) -> Vec<Request> {
    let mut seen = Vec::new();
    loop {
        h.drain();
        let Some((tok, req)) = h.sent.pop_front() else {
            return seen;
        };
        let r = server.handle(&req);
        seen.push(req);
        h.reply(tok, r);
    }
}

fn prepared_ids(events: &[SinkEvent]) -> Vec<u64> {
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

#[test]
fn puts_go_round_robin_over_slots_and_the_session_is_kept_across_barriers() {
    let mut server = FakeServer::new(schema(true));
    let mut h = writer(
        true,
        &[
            ("partition", "ds=1"),
            ("slotNum", "2"),
            ("batchSize", "1"),
            ("numFlushThreads", "4"),
            ("compressAlgorithm", "ZLIB"),
        ],
    );
    h.m.write(rows(&[1, 2], None), h.now).unwrap();
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    let create = &sent[0].1;
    assert_eq!(op_of(create), Op::CreateStream);
    assert_eq!(create.headers.get("odps-tunnel-slot-num"), Some("2"));
    assert_eq!(create.query_param("partition"), Some("ds=1"));
    assert!(create.has_query("create_partition"));
    let r = server.handle(create);
    h.reply(sent[0].0, r);
    h.m.write(rows(&[3], None), h.now).unwrap();
    h.m.write(rows(&[4], None), h.now).unwrap();
    let puts = h.take_sent();
    let slots: Vec<_> = puts
        .iter()
        .map(|(_, r)| {
            (
                r.query_param("slotid").unwrap().to_string(),
                r.headers
                    .get("odps-tunnel-routed-server")
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        slots,
        vec![
            ("1".to_string(), "10.0.0.1:8080".to_string()),
            ("2".into(), "10.0.0.2:8080".into()),
            ("1".into(), "10.0.0.1:8080".into())
        ]
    );
    for (_, r) in &puts {
        assert_eq!(op_of(r), Op::PutStream);
        assert_eq!(r.headers.get("odps-tunnel-slot-num"), Some("2"));
        assert_eq!(r.headers.get("content-encoding"), Some("deflate"));
        assert_eq!(r.query_param("uploadid"), Some("st0001"));
    }
    assert_eq!(puts[0].1.query_param("record_count"), Some("2"));
    assert_eq!(ids_of(&decode(&puts[0].1, &cols())), vec![1, 2]);
    h.m.barrier(1, h.now).unwrap();
    assert!(
        prepared_ids(&h.take_events()).is_empty(),
        "PUTs not acknowledged"
    );
    for (tok, req) in puts {
        let r = server.handle(&req);
        h.reply(tok, r);
    }
    assert_eq!(prepared_ids(&h.take_events()), vec![1]);
    // Rows are visible at once: the server has them without any commit.
    assert_eq!(server.stream_ids("ds=1"), vec![1, 2, 3, 4]);
    // The next epoch uses the same session.
    h.m.write(rows(&[5], None), h.now).unwrap();
    h.m.barrier(2, h.now).unwrap();
    serve(&mut h, &mut server);
    assert_eq!(prepared_ids(&h.take_events()), vec![2]);
    assert_eq!(server.count(Op::CreateStream), 1);
    assert_eq!(server.stream_ids("ds=1"), vec![1, 2, 3, 4, 5]);
}

#[test]
fn overlapping_barriers_prepare_in_order() {
    let mut server = FakeServer::new(schema(false));
    let mut h = writer(false, &[("numFlushThreads", "2")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    serve(&mut h, &mut server);
    h.m.barrier(1, h.now).unwrap();
    h.m.write(rows(&[2], None), h.now).unwrap();
    h.m.barrier(2, h.now).unwrap();
    let puts = h.take_sent();
    assert_eq!(puts.len(), 2);
    let r = server.handle(&puts[1].1);
    h.reply(puts[1].0, r);
    assert!(prepared_ids(&h.take_events()).is_empty());
    let r = server.handle(&puts[0].1);
    h.reply(puts[0].0, r);
    assert_eq!(prepared_ids(&h.take_events()), vec![1, 2]);
    h.m.end_of_input(h.now).unwrap();
    assert_eq!(
        h.take_events(),
        vec![SinkEvent::Finished {
            committables: vec![]
        }]
    );
    assert!(h.m.is_finished());
}

#[test]
fn a_new_slot_count_reloads_the_session() {
    let mut server = FakeServer::new(schema(false));
    let mut h = writer(false, &[("batchSize", "1")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    serve(&mut h, &mut server); // create + PUT (slot count 2 matches)
    // The server now has three slots and says so in the next write response.
    server.slots.push(("3".into(), "10.0.0.3:8080".into()));
    h.m.write(rows(&[2], None), h.now).unwrap();
    let seen = serve(&mut h, &mut server);
    assert_eq!(
        seen.iter().map(op_of).collect::<Vec<_>>(),
        vec![Op::PutStream, Op::GetStream],
        "the slot count changed: reload"
    );
    assert_eq!(seen[1].query_param("uploadid"), Some("st0001"));
    h.m.write(rows(&[3], None), h.now).unwrap();
    let seen = serve(&mut h, &mut server);
    assert_eq!(seen[0].headers.get("odps-tunnel-slot-num"), Some("3"));
    assert_eq!(server.stream_ids(""), vec![1, 2, 3]);
}

#[test]
fn a_moved_slot_address_is_used_for_later_writes() {
    let mut server = FakeServer::new(schema(false));
    let mut h = writer(false, &[("batchSize", "1")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    serve(&mut h, &mut server);
    // Slot 2 moves; the write response of slot 2 says so.
    server.slots[1].1 = "10.0.0.9:9000".into();
    h.m.write(rows(&[2], None), h.now).unwrap(); // slot 2
    h.m.write(rows(&[3], None), h.now).unwrap(); // slot 1
    h.m.write(rows(&[4], None), h.now).unwrap(); // slot 2 again
    let seen = serve(&mut h, &mut server);
    let routes: Vec<_> = seen
        .iter()
        .map(|r| {
            r.headers
                .get("odps-tunnel-routed-server")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        routes,
        vec!["10.0.0.2:8080", "10.0.0.1:8080", "10.0.0.9:9000"]
    );
    assert_eq!(server.count(Op::GetStream), 0, "same slot count: no reload");
}

#[test]
fn bad_gateway_reloads_and_resends_and_308_reroutes() {
    let mut server = FakeServer::new(schema(false));
    let mut h = writer(false, &[("batchSize", "1"), ("sleepMillis", "100")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    serve(&mut h, &mut server);
    server.fault_op(
        Op::PutStream,
        1,
        FaultAction::Reply(Ok(error(504, "GatewayTimeout"))),
    );
    h.m.write(rows(&[2], None), h.now).unwrap();
    let seen = serve(&mut h, &mut server);
    assert_eq!(
        seen.iter().map(op_of).collect::<Vec<_>>(),
        vec![Op::PutStream]
    );
    assert_eq!(
        h.m.next_deadline(),
        Some(h.now.plus(std::time::Duration::from_millis(100)))
    );
    h.jump_to_deadline();
    let seen = serve(&mut h, &mut server);
    assert_eq!(
        seen.iter().map(op_of).collect::<Vec<_>>(),
        vec![Op::GetStream, Op::PutStream]
    );
    assert_eq!(server.stream_ids(""), vec![1, 2]);
    // 308 with a new address: resend there at once, however often.
    let moved = ApiError::new(Service::Tunnel, 308, "SlotMoved", "moved")
        .with_routed_server("10.0.0.7:7000")
        .to_response(Service::Tunnel);
    server.fault_op(Op::PutStream, 5, FaultAction::Reply(Ok(moved)));
    h.m.write(rows(&[3], None), h.now).unwrap();
    let seen = serve(&mut h, &mut server);
    assert_eq!(seen.len(), 6);
    assert_eq!(
        seen[5].headers.get("odps-tunnel-routed-server"),
        Some("10.0.0.7:7000")
    );
    assert_eq!(server.stream_ids(""), vec![1, 2, 3]);
    assert!(h.m.failure().is_none());
}

#[test]
fn a_lost_session_is_recreated() {
    let mut server = FakeServer::new(schema(false));
    let mut h = writer(false, &[("batchSize", "1")]);
    h.m.write(rows(&[1], None), h.now).unwrap();
    serve(&mut h, &mut server);
    server.streams.clear();
    h.m.write(rows(&[2], None), h.now).unwrap();
    let seen = serve(&mut h, &mut server);
    assert_eq!(
        seen.iter().map(op_of).collect::<Vec<_>>(),
        vec![Op::PutStream, Op::CreateStream, Op::PutStream]
    );
    assert_eq!(server.stream_ids(""), vec![2]);
}

#[test]
fn missing_routing_headers_fail_the_writer() {
    let mut h = writer(false, &[("batchSize", "1")]);
    let mut server = FakeServer::new(schema(false));
    h.m.write(rows(&[1], None), h.now).unwrap();
    let s = h.take_sent();
    let r = server.handle(&s[0].1);
    h.reply(s[0].0, r);
    let s = h.take_sent();
    h.ok(s[0].0, Response::new(200, ""));
    let ev = h.take_events();
    match ev.as_slice() {
        [SinkEvent::Failed(SinkError::Service { error, at, .. })] => {
            assert_eq!(error.code, "MalformedResponse");
            assert!(error.message.contains("odps-tunnel-routed-server"));
            assert_eq!(at.session.as_deref(), Some("st0001"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dynamic_partitions_get_one_session_each_and_the_limit_applies() {
    let mut server = FakeServer::new(schema(true));
    let mut h = writer(
        true,
        &[
            ("partition", "ds"),
            ("dynamicPartitionLimit", "2"),
            ("numFlushThreads", "2"),
        ],
    );
    h.m.write(rows(&[1, 2, 3], Some(&["x", "y", "x"])), h.now)
        .unwrap();
    h.m.barrier(1, h.now).unwrap();
    serve(&mut h, &mut server);
    assert_eq!(server.stream_ids("ds=x"), vec![1, 3]);
    assert_eq!(server.stream_ids("ds=y"), vec![2]);
    assert_eq!(prepared_ids(&h.take_events()), vec![1]);
    let e =
        h.m.write(rows(&[4, 5, 6], Some(&["x", "y", "z"])), h.now)
            .unwrap_err();
    assert!(
        e.error()
            .unwrap()
            .to_string()
            .contains("Too many dynamic partitions")
    );
    assert!(h.m.failure().is_some());
}

#[test]
fn snapshot_keeps_sessions_and_restore_reloads_them() {
    let mut server = FakeServer::new(schema(true));
    let opts = [("useStreamTunnel", "true"), ("partition", "ds")];
    let mut h = Harness::new(StreamWriter::new(&config(&opts), &meta(true)).unwrap());
    h.m.write(rows(&[1, 2], Some(&["a", "b"])), h.now).unwrap();
    h.m.barrier(5, h.now).unwrap();
    serve(&mut h, &mut server);
    let state = h.m.snapshot();
    insta::assert_json_snapshot!("stream_writer_state", state);
    let back = WriterState::from_json(&state.to_json()).unwrap();
    assert_eq!(back, state);
    // Restore: the saved session of ds=a is reloaded, not created; ds=b's is gone and is
    // created again.
    server.streams.retain(|_, s| s.partition == "ds=a");
    let mut r = Harness::new(StreamWriter::restore(&config(&opts), &meta(true), back).unwrap());
    r.m.write(rows(&[3, 4], Some(&["a", "b"])), r.now).unwrap();
    r.m.barrier(6, r.now).unwrap();
    let seen = serve(&mut r, &mut server);
    let kinds: Vec<_> = seen
        .iter()
        .map(|q| (op_of(q), q.query_param("partition").unwrap().to_string()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Op::GetStream, "ds=a".into()),
            (Op::GetStream, "ds=b".into()),
            (Op::PutStream, "ds=a".into()),
            (Op::CreateStream, "ds=b".into()),
            (Op::PutStream, "ds=b".into()),
        ]
    );
    assert_eq!(server.stream_ids("ds=a"), vec![1, 3]);
    assert_eq!(server.stream_ids("ds=b"), vec![4]);
    assert!(r.m.barrier(5, r.now).is_err(), "checkpoint ids continue");
}

#[test]
fn interval_and_budget_flushes() {
    let mut server = FakeServer::new(schema(true));
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .use_stream_tunnel(true)
        .partition("ds")
        .option("flushIntervalMs", "2000")
        .option("compressAlgorithm", "RAW")
        .memory_budget(crate::options::MemorySize::bytes(5600))
        .build()
        .unwrap();
    let mut h = Harness::new(StreamWriter::new(&cfg, &meta(true)).unwrap());
    h.at(t(100));
    h.m.write(rows(&[1], Some(&["a"])), h.now).unwrap();
    serve(&mut h, &mut server);
    assert_eq!(
        h.m.next_deadline(),
        Some(t(2100)),
        "interval from the first row"
    );
    h.at(t(2100));
    serve(&mut h, &mut server);
    assert_eq!(server.stream_ids("ds=a"), vec![1]);
    assert_eq!(h.m.next_deadline(), None);
    // Budget: ~3400 bytes in "b" (accounted 3869) and ~220 in "c" (644) pass 3/4 of 5600:
    // "b" (largest) flushes.
    h.m.write(wide_rows(10..40, 100, Some("b")), h.now).unwrap();
    h.m.write(wide_rows(40..42, 100, Some("c")), h.now).unwrap();
    let seen = serve(&mut h, &mut server);
    assert!(
        seen.iter()
            .any(|r| op_of(r) == Op::PutStream && r.query_param("partition") == Some("ds=b"))
    );
    assert!(
        !seen
            .iter()
            .any(|r| op_of(r) == Op::PutStream && r.query_param("partition") == Some("ds=c"))
    );
    assert_eq!(server.stream_ids("ds=b").len(), 30);
    assert!(h.m.memory().peak <= 5600, "{:?}", h.m.memory());
}
