//! Batch-tunnel committer.

use super::*;
use crate::options::BugSwitches;
use crate::partition::PartitionSpec;
use crate::sink::{
    BatchWriter, CommitEvent, CommitOutcome, CommitReport, Committable, Committer, SinkError,
    SinkEvent,
};

fn committer(opts: &[(&str, &str)]) -> Harness<Committer> {
    Harness::new(Committer::new(&config(opts)))
}

/// A server holding session `id` with blocks `blocks` (partition ds=1).
fn server_with(id: &str, blocks: &[u32]) -> FakeServer {
    let mut s = FakeServer::new(schema(true));
    let mut u = FakeUpload {
        partition: "ds=1".into(),
        status: SessionStatus::Normal,
        blocks: BTreeMap::new(),
        commits: 0,
    };
    for b in blocks {
        u.blocks
            .insert(*b, Request::new(Method::Put, Service::Tunnel, "/x"));
    }
    s.uploads.insert(id.into(), u);
    s
}

fn committable(id: &str, blocks: &[u32], rows: u64) -> Committable {
    Committable {
        project: "p".into(),
        schema: None,
        table: "t".into(),
        partition: PartitionSpec::parse("ds=1").unwrap(),
        session_id: id.into(),
        block_ids: blocks.to_vec(),
        row_count: rows,
        checkpoint_id: Some(1),
    }
}

fn reports(events: &[CommitEvent]) -> Vec<CommitReport> {
    events
        .iter()
        .filter_map(|e| match e {
            CommitEvent::Outcome(r) => Some(r.as_ref().clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn checks_the_status_and_block_list_then_commits() {
    let mut server = server_with("u1", &[0, 1]);
    let mut h = committer(&[]);
    let req = h.m.commit(vec![committable("u1", &[0, 1], 10)], h.now);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(op_of(&sent[0].1), Op::GetUpload);
    assert_eq!(sent[0].1.query_param("uploadid"), Some("u1"));
    assert_eq!(sent[0].1.query_param("partition"), Some("ds=1"));
    let r = server.handle(&sent[0].1);
    h.reply(sent[0].0, r);
    let sent = h.take_sent();
    assert_eq!(op_of(&sent[0].1), Op::CommitUpload);
    assert!(sent[0].1.body.is_empty(), "commit has no body");
    let r = server.handle(&sent[0].1);
    h.reply(sent[0].0, r);
    let ev = h.take_events();
    let rep = reports(&ev);
    assert_eq!(rep.len(), 1);
    assert_eq!(rep[0].outcome, CommitOutcome::Committed);
    assert_eq!(rep[0].row_count, 10);
    assert_eq!(rep[0].request, req);
    assert_eq!(rep[0].requests, 2);
    assert_eq!(ev.last(), Some(&CommitEvent::Done { request: req }));
    assert_eq!(server.uploads["u1"].status, SessionStatus::Closed);
    assert_eq!(h.m.pending(), 0);
    // The same committables again: AlreadyCommitted, without a second commit.
    let req2 = h.m.commit(vec![committable("u1", &[0, 1], 10)], h.now);
    h.run(&mut server, 10);
    let rep = reports(&h.take_events());
    assert_eq!(rep[0].outcome, CommitOutcome::AlreadyCommitted);
    assert_eq!(rep[0].request, req2);
    assert_eq!(server.uploads["u1"].commits, 1);
}

#[test]
fn a_lost_commit_response_is_found_already_committed() {
    let mut server = server_with("u1", &[0]);
    server.fault_op(Op::CommitUpload, 1, FaultAction::ApplyThenLose);
    let mut h = committer(&[("sleepMillis", "500")]);
    h.m.commit(vec![committable("u1", &[0], 3)], h.now);
    h.run(&mut server, 20);
    let rep = reports(&h.take_events());
    assert_eq!(rep[0].outcome, CommitOutcome::AlreadyCommitted);
    assert!(matches!(
        rep[0].last_error,
        Some(SinkError::Transport { .. })
    ));
    assert_eq!(server.uploads["u1"].commits, 1, "committed exactly once");
    assert_eq!(
        server.log,
        vec![Op::GetUpload, Op::CommitUpload, Op::GetUpload],
        "the retry re-checks the status first"
    );
    assert_eq!(h.now, t(500), "after the backoff");
}

#[test]
fn the_bug_switch_skips_the_status_check() {
    let mut server = server_with("u1", &[0]);
    server.fault_op(Op::CommitUpload, 1, FaultAction::ApplyThenLose);
    let cfg = SinkConfig::builder("http://e/api", "p", "t", Credentials::access_key("a", "b"))
        .bug_switches(BugSwitches {
            committer_skips_status_check: true,
            ..BugSwitches::default()
        })
        .build()
        .unwrap();
    let mut h = Harness::new(Committer::new(&cfg));
    h.m.commit(vec![committable("u1", &[0], 3)], h.now);
    h.run(&mut server, 20);
    let rep = reports(&h.take_events());
    assert_eq!(rep[0].outcome, CommitOutcome::Committed, "wrongly reported");
    assert_eq!(server.log, vec![Op::CommitUpload, Op::CommitUpload]);
    assert_eq!(server.uploads["u1"].commits, 2);
}

#[test]
fn a_block_missing_on_the_server_is_a_known_failure() {
    let mut server = server_with("u1", &[0]);
    let mut h = committer(&[]);
    h.m.commit(vec![committable("u1", &[0, 1], 3)], h.now);
    h.run(&mut server, 20);
    let rep = reports(&h.take_events());
    let CommitOutcome::FailedKnown(e) = &rep[0].outcome else {
        panic!("{:?}", rep[0].outcome)
    };
    let msg = e.to_string();
    assert!(msg.contains("block 1 is missing on the server"), "{msg}");
    assert!(msg.contains("session u1") && msg.contains("ds=1"), "{msg}");
    assert_eq!(server.count(Op::CommitUpload), 0, "never committed");
    // An extra block on the server is refused too (commit would publish it).
    let mut server = server_with("u2", &[0, 1, 2]);
    h.m.commit(vec![committable("u2", &[0, 1], 3)], h.now);
    h.run(&mut server, 20);
    let rep = reports(&h.take_events());
    let CommitOutcome::FailedKnown(e) = &rep[0].outcome else {
        panic!()
    };
    assert!(e.to_string().contains("holds block 2"), "{e}");
}

#[test]
fn expired_and_missing_sessions_are_known_failures() {
    let mut server = server_with("u1", &[0]);
    server.uploads.get_mut("u1").unwrap().status = SessionStatus::Expired;
    let mut h = committer(&[]);
    h.m.commit(
        vec![committable("u1", &[0], 1), committable("gone", &[0], 1)],
        h.now,
    );
    h.run(&mut server, 20);
    let rep = reports(&h.take_events());
    assert_eq!(rep.len(), 2);
    for r in &rep {
        let CommitOutcome::FailedKnown(e) = &r.outcome else {
            panic!("{:?}", r.outcome)
        };
        match r.committable.session_id.as_str() {
            "u1" => assert!(e.to_string().contains("expired"), "{e}"),
            _ => assert_eq!(e.server_code(), Some("NoSuchUpload")),
        }
    }
}

#[test]
fn retryable_failures_end_in_retry_later() {
    let mut server = server_with("u1", &[0]);
    server.fault_op(
        Op::GetUpload,
        100,
        FaultAction::Reply(Ok(error(503, "ServiceUnavailable"))),
    );
    let mut h = committer(&[("retryTimes", "2"), ("sleepMillis", "100")]);
    h.m.commit(vec![committable("u1", &[0], 1)], h.now);
    h.run(&mut server, 20);
    let rep = reports(&h.take_events());
    assert_eq!(rep[0].outcome, CommitOutcome::RetryLater);
    assert_eq!(rep[0].requests, 3);
    assert_eq!(
        rep[0].last_error.as_ref().and_then(|e| e.server_code()),
        Some("ServiceUnavailable")
    );
    assert_eq!(h.now, t(300), "backoff 100 then 200");
    // Flow control does not count against the limit.
    let mut server = server_with("u1", &[0]);
    server.fault_op(
        Op::GetUpload,
        5,
        FaultAction::Reply(Ok(error(429, "FlowExceeded"))),
    );
    h.m.commit(vec![committable("u1", &[0], 1)], h.now);
    h.run(&mut server, 50);
    assert_eq!(
        reports(&h.take_events())[0].outcome,
        CommitOutcome::Committed
    );
}

#[test]
fn unexpected_errors_are_unknown_failures() {
    let mut server = server_with("u1", &[0]);
    server.fault_op(
        Op::CommitUpload,
        1,
        FaultAction::Reply(Ok(error(403, "AccessDenied"))),
    );
    let mut h = committer(&[]);
    h.m.commit(vec![committable("u1", &[0], 1)], h.now);
    h.run(&mut server, 20);
    let rep = reports(&h.take_events());
    let CommitOutcome::FailedUnknown(e) = &rep[0].outcome else {
        panic!("{:?}", rep[0].outcome)
    };
    assert_eq!(e.server_code(), Some("AccessDenied"));
    assert!(e.to_string().contains("commit upload session"), "{e}");
}

#[test]
fn a_commit_answered_not_found_is_checked_again() {
    // Committed, then the response says the session is gone: the status check decides.
    let mut server = server_with("u1", &[0]);
    server.fault_op(
        Op::CommitUpload,
        1,
        FaultAction::Reply(Ok(error(404, "NoSuchUpload"))),
    );
    let mut h = committer(&[]);
    h.m.commit(vec![committable("u1", &[0], 1)], h.now);
    h.run(&mut server, 20);
    // The fake server did not commit (the fault replaced the answer): the re-check sees
    // `normal` and commits.
    assert_eq!(
        reports(&h.take_events())[0].outcome,
        CommitOutcome::Committed
    );
    assert_eq!(
        server.log,
        vec![
            Op::GetUpload,
            Op::CommitUpload,
            Op::GetUpload,
            Op::CommitUpload
        ]
    );
}

#[test]
fn a_closing_session_is_looked_at_again() {
    let mut server = server_with("u1", &[0]);
    server.uploads.get_mut("u1").unwrap().status = SessionStatus::Closing;
    let mut h = committer(&[("sleepMillis", "10")]);
    h.m.commit(vec![committable("u1", &[0], 1)], h.now);
    let s = h.take_sent();
    let r = server.handle(&s[0].1);
    h.reply(s[0].0, r);
    assert!(h.take_sent().is_empty());
    server.uploads.get_mut("u1").unwrap().status = SessionStatus::Closed;
    h.run(&mut server, 20);
    assert_eq!(
        reports(&h.take_events())[0].outcome,
        CommitOutcome::AlreadyCommitted
    );
}

#[test]
fn concurrency_is_limited_and_duplicates_wait_for_each_other() {
    let mut server = FakeServer::new(schema(true));
    for i in 0..5 {
        server.uploads.insert(
            format!("u{i}"),
            FakeUpload {
                partition: "ds=1".into(),
                status: SessionStatus::Normal,
                blocks: [(0, Request::new(Method::Put, Service::Tunnel, "/x"))].into(),
                commits: 0,
            },
        );
    }
    let mut h = committer(&[("insert.commit.thread-num", "2")]);
    let mut list: Vec<_> = (0..5)
        .map(|i| committable(&format!("u{i}"), &[0], i))
        .collect();
    list.push(committable("u0", &[0], 0));
    h.m.commit(list, h.now);
    let mut max_in_flight = 0;
    loop {
        h.drain();
        max_in_flight = max_in_flight.max(h.sent.len());
        let Some((tok, req)) = h.sent.pop_front() else {
            break;
        };
        let r = server.handle(&req);
        h.reply(tok, r);
    }
    assert_eq!(max_in_flight, 2);
    let rep = reports(&h.take_events());
    let outcomes: Vec<_> = rep
        .iter()
        .map(|r| (r.committable.session_id.clone(), r.outcome.clone()))
        .collect();
    assert_eq!(outcomes.len(), 6);
    assert_eq!(
        outcomes
            .iter()
            .filter(|(_, o)| *o == CommitOutcome::Committed)
            .count(),
        5
    );
    assert!(outcomes.contains(&("u0".into(), CommitOutcome::AlreadyCommitted)));
    assert_eq!(server.uploads["u0"].commits, 1);
}

#[test]
fn empty_commit_is_done_at_once() {
    let mut h = committer(&[]);
    let r = h.m.commit(vec![], h.now);
    assert_eq!(h.take_events(), vec![CommitEvent::Done { request: r }]);
    assert_eq!(h.m.next_deadline(), None);
}

/// Writer → committables → committer: the rows are committed exactly once, and committing
/// again after a "restore" reports AlreadyCommitted.
#[test]
fn writer_and_committer_end_to_end() {
    let mut server = FakeServer::new(schema(true));
    let cfg = config(&[("partition", "ds"), ("batchSize", "100")]);
    let mut w = Harness::new(BatchWriter::new(&cfg, &meta(true)).unwrap());
    w.m.write(rows(&[1, 2, 3, 4], Some(&["a", "b", "a", "b"])), w.now)
        .unwrap();
    w.m.write(rows(&[5, 6, 7, 8], Some(&["a", "a", "a", "a"])), w.now)
        .unwrap();
    w.m.barrier(1, w.now).unwrap();
    w.run(&mut server, 100);
    let committables = match w.take_events().pop() {
        Some(SinkEvent::Prepared { committables, .. }) => committables,
        other => panic!("{other:?}"),
    };
    // Nothing is visible before the commit.
    assert!(
        server
            .uploads
            .values()
            .all(|u| u.status == SessionStatus::Normal)
    );
    let mut c = Harness::new(Committer::new(&cfg));
    c.m.commit(committables.clone(), c.now);
    c.run(&mut server, 100);
    let rep = reports(&c.take_events());
    assert!(rep.iter().all(|r| r.outcome == CommitOutcome::Committed));
    assert_eq!(rep.iter().map(|r| r.row_count).sum::<u64>(), 8);
    let mut by_part: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for u in server.uploads.keys() {
        let mut ids = server.upload_ids(u);
        by_part
            .entry(server.uploads[u].partition.clone())
            .or_default()
            .append(&mut ids);
    }
    assert_eq!(by_part["ds=a"], vec![1, 3, 5, 6, 7, 8]);
    assert_eq!(by_part["ds=b"], vec![2, 4]);
    // After a restore the engine commits the same committables again.
    let mut c2 = Harness::new(Committer::new(&cfg));
    c2.m.commit(committables, c2.now);
    c2.run(&mut server, 100);
    assert!(
        reports(&c2.take_events())
            .iter()
            .all(|r| r.outcome == CommitOutcome::AlreadyCommitted)
    );
    assert!(server.uploads.values().all(|u| u.commits == 1));
}
