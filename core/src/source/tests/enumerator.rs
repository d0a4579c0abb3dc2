use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::support::*;
use crate::api::{ApiContext, SessionStatus};
use crate::auth::Credentials;
use crate::http::{Method, Request, Response, Service};
use crate::machine::{Instant, Output, RetryPolicy, Token};
use crate::options::{ModifiedTableOperation, SourceConfig};
use crate::partition::{PartitionPattern, PartitionSpec, StartPartition};
use crate::source::*;
use crate::types::TableSchema;

/// Drives an enumerator by hand.
struct H {
    e: SplitEnumerator,
    now: Instant,
    sent: VecDeque<(Token, Request)>,
    events: Vec<EnumeratorEvent>,
}

impl H {
    fn new(config: EnumeratorConfig) -> Self {
        Self::wrap(SplitEnumerator::new(config))
    }

    fn wrap(e: SplitEnumerator) -> Self {
        let mut h = Self {
            e,
            now: Instant::ZERO,
            sent: VecDeque::new(),
            events: Vec::new(),
        };
        h.drain();
        h
    }

    fn drain(&mut self) {
        while let Some(out) = self.e.poll(self.now) {
            match out {
                Output::Send { token, request } => self.sent.push_back((token, request)),
                Output::Event(ev) => self.events.push(ev),
            }
        }
    }

    fn next(&mut self) -> (Token, Request) {
        self.drain();
        self.sent.pop_front().expect("a request")
    }

    fn reply(&mut self, token: Token, resp: Response) {
        self.e.handle_reply(token, Ok(resp), self.now);
        self.drain();
    }

    fn advance_to(&mut self, t: u64) {
        self.now = ms(t);
        self.drain();
    }

    fn take(&mut self) -> Vec<EnumeratorEvent> {
        std::mem::take(&mut self.events)
    }

    /// Answers every request (including ones that follow) from `fake`.
    fn serve(&mut self, fake: &Fake) {
        self.drain();
        while let Some((t, r)) = self.sent.pop_front() {
            let resp = fake.answer(&r);
            self.reply(t, resp);
        }
    }

    fn assigned(&self) -> Vec<(u32, Split)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                EnumeratorEvent::Assign { reader, split } => Some((*reader, split.clone())),
                _ => None,
            })
            .collect()
    }

    fn failure(&self) -> Option<&SourceError> {
        self.events.iter().find_map(|e| match e {
            EnumeratorEvent::Failed(err) => Some(err),
            _ => None,
        })
    }
}

/// A table the tests answer requests from.
struct Fake {
    schema: TableSchema,
    /// Partition spec text → rows.
    parts: BTreeMap<String, u64>,
    /// Listing page size.
    page: usize,
}

impl Fake {
    fn new(schema: TableSchema, parts: &[(&str, u64)]) -> Self {
        Self {
            schema,
            parts: parts.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
            page: 1000,
        }
    }

    fn answer(&self, r: &Request) -> Response {
        if r.has_query("partitions") {
            let specs: Vec<&str> = self.parts.keys().map(String::as_str).collect();
            let from: usize = r.query_param("marker").map_or(0, |m| m.parse().unwrap());
            let to = (from + self.page).min(specs.len());
            let marker = (to < specs.len()).then(|| to.to_string());
            listing(&specs[from..to], marker.as_deref())
        } else if r.has_query("downloads") || r.has_query("downloadid") {
            let p = r.query_param("partition").unwrap_or("");
            match self.parts.get(p) {
                Some(n) => ready_session(&format!("s[{p}]"), *n, &self.schema),
                None if !self.schema.is_partitioned() => ready_session(
                    "s[]",
                    self.parts.get("").copied().unwrap_or(0),
                    &self.schema,
                ),
                None => error(Service::Tunnel, 404, "NoSuchPartition", "no such partition"),
            }
        } else {
            table_response(&self.schema)
        }
    }
}

fn config(mode: EnumerationMode) -> EnumeratorConfig {
    EnumeratorConfig {
        ctx: ApiContext::new("p", "maxc-test"),
        table: "t".into(),
        mode,
        sizing: SplitSizing::Rows(4),
        projection: None,
        readers: 2,
        assignment: Assignment::Fixed,
        retry: RetryPolicy::from_options(2, 1000),
        page_size: None,
        session_concurrency: 1,
        async_sessions: true,
    }
}

fn full(partition: Option<&str>, max: u32) -> EnumeratorConfig {
    config(EnumerationMode::Full {
        partition: partition.map(|p| PartitionPattern::parse(p).unwrap()),
        max_partitions: max,
    })
}

fn incremental(start: &str, on_modified: ModifiedTableOperation) -> EnumeratorConfig {
    config(EnumerationMode::Incremental {
        start: StartPartition::parse(start).unwrap(),
        interval: Duration::from_secs(30),
        on_modified,
    })
}

fn partitions_of(splits: &[(u32, Split)]) -> Vec<String> {
    let mut v: Vec<String> = splits
        .iter()
        .map(|(_, s)| s.partition.to_string())
        .collect();
    v.dedup();
    v
}

#[test]
fn full_exact_partition_reads_one_session_in_row_ranges() {
    let fake = Fake::new(
        schema(true),
        &[("ds=20180904", 3), ("ds=20180905", 10), ("ds=20180906", 1)],
    );
    let mut h = H::new(full(Some("ds=20180905"), 100));
    // First the table, then the listing filtered by the exact prefix.
    let (t, r) = h.next();
    assert_eq!((r.method, r.service), (Method::Get, Service::Rest));
    assert_eq!(r.path, "/projects/p/tables/t");
    h.reply(t, fake.answer(&r));
    assert!(matches!(
        h.take()[0],
        EnumeratorEvent::TableDescribed { .. }
    ));
    let (t, r) = h.next();
    assert!(r.has_query("partitions"));
    assert_eq!(r.query_param("partition"), Some("ds='20180905'"));
    h.reply(t, fake.answer(&r));
    let (t, r) = h.next();
    assert_eq!((r.method, r.service), (Method::Post, Service::Tunnel));
    assert!(r.has_query("downloads"));
    assert_eq!(r.query_param("partition"), Some("ds=20180905"));
    assert_eq!(r.query_param("asyncmode"), Some("true"));
    h.reply(t, fake.answer(&r));
    assert!(h.sent.is_empty());
    let assigned = h.assigned();
    let ranges: Vec<(u32, u64, u64)> = assigned
        .iter()
        .map(|(r, s)| (*r, s.start, s.count))
        .collect();
    assert_eq!(ranges, vec![(0, 0, 4), (1, 4, 4), (0, 8, 2)]);
    for (_, s) in &assigned {
        assert_eq!(s.session_id, "s[ds=20180905]");
        assert_eq!(s.session_rows, 10);
        assert!(!s.verify);
    }
    // Everything is assigned: readers learn there is no more.
    let evs = h.take();
    assert!(evs.contains(&EnumeratorEvent::NoMoreSplits { reader: 0 }));
    assert!(evs.contains(&EnumeratorEvent::NoMoreSplits { reader: 1 }));
    assert!(!evs.contains(&EnumeratorEvent::Finished));
    // Finished only when every split is reported read.
    h.e.split_finished(assigned[0].1.id);
    h.e.split_finished(assigned[2].1.id);
    h.drain();
    assert!(!h.e.is_finished());
    h.e.split_finished(assigned[1].1.id);
    h.drain();
    let evs = h.take();
    assert_eq!(
        evs,
        vec![
            EnumeratorEvent::PartitionFinished {
                partition: spec("ds=20180905")
            },
            EnumeratorEvent::Finished
        ]
    );
    assert!(h.e.is_finished());
    assert_eq!(h.e.poll(h.now), None);
    assert_eq!(h.e.next_deadline(), None);
}

#[test]
fn wildcard_over_a_paged_listing() {
    let mut fake = Fake::new(
        schema(true),
        &[
            ("ds=20180831", 1),
            ("ds=20180901", 2),
            ("ds=20180915", 5),
            ("ds=20180930", 0),
            ("ds=20181001", 3),
        ],
    );
    fake.page = 2;
    let mut h = H::new(full(Some("ds=201809*"), 100));
    let (t, r) = h.next();
    h.reply(t, fake.answer(&r));
    let mut markers = Vec::new();
    loop {
        let (t, r) = h.next();
        if !r.has_query("partitions") {
            h.sent.push_front((t, r));
            break;
        }
        // A wildcard has no exact prefix: the whole table is listed.
        assert_eq!(r.query_param("partition"), None);
        markers.push(r.query_param("marker").map(str::to_string));
        h.reply(t, fake.answer(&r));
    }
    assert_eq!(markers, vec![None, Some("2".into()), Some("4".into())]);
    h.serve(&fake);
    let evs = h.take();
    assert!(evs.contains(&EnumeratorEvent::PartitionsDiscovered {
        partitions: vec![
            spec("ds=20180901"),
            spec("ds=20180915"),
            spec("ds=20180930")
        ]
    }));
    // The empty partition is done at once.
    assert!(evs.contains(&EnumeratorEvent::PartitionFinished {
        partition: spec("ds=20180930")
    }));
    h.events = evs;
    let assigned = h.assigned();
    assert_eq!(partitions_of(&assigned), vec!["ds=20180901", "ds=20180915"]);
    let rows: u64 = assigned.iter().map(|(_, s)| s.count).sum();
    assert_eq!(rows, 7);
    // Split ids increase in assignment order.
    let ids: Vec<u64> = assigned.iter().map(|(_, s)| s.id.0).collect();
    assert_eq!(ids, (0..ids.len() as u64).collect::<Vec<_>>());
}

#[test]
fn max_pt_reads_the_greatest_partition() {
    let fake = Fake::new(
        schema(true),
        &[("ds=20240101", 1), ("ds=20240103", 2), ("ds=20240102", 3)],
    );
    let mut h = H::new(full(Some("max_pt()"), 100));
    h.serve(&fake);
    let assigned = h.assigned();
    assert_eq!(partitions_of(&assigned), vec!["ds=20240103"]);
}

#[test]
fn too_many_partitions_is_a_terminal_error_naming_count_and_option() {
    let fake = Fake::new(
        schema(true),
        &[("ds=1", 1), ("ds=2", 1), ("ds=3", 1), ("dx", 1)][..3],
    );
    let mut h = H::new(full(Some("ds=*"), 2));
    h.serve(&fake);
    let err = h.failure().expect("failed").to_string();
    assert!(
        err.starts_with("The number of matched partitions exceeds the default limit"),
        "{err}"
    );
    assert!(err.contains("3 partitions"), "{err}");
    assert!(err.contains("maxPartitionCount (2)"), "{err}");
    assert!(h.e.is_failed());
    // No session was created and nothing more is sent.
    assert!(h.assigned().is_empty());
    assert_eq!(h.e.poll(h.now), None);
    // Without a partition option every partition counts.
    let mut h = H::new(full(None, 2));
    h.serve(&fake);
    let err = h.failure().expect("failed").to_string();
    assert!(err.contains("match `(every partition)`"), "{err}");
    // At the limit exactly it is fine.
    let mut h = H::new(full(Some("ds=*"), 3));
    h.serve(&fake);
    assert!(h.failure().is_none());
    assert_eq!(h.assigned().len(), 3);
}

#[test]
fn missing_exact_partition_and_empty_max_pt_fail() {
    let fake = Fake::new(schema(true), &[("ds=1", 1)]);
    for pattern in ["ds=2", "max_pt()"] {
        let fake_empty = Fake::new(schema(true), &[]);
        let mut h = H::new(full(Some(pattern), 100));
        h.serve(if pattern == "ds=2" {
            &fake
        } else {
            &fake_empty
        });
        match h.failure() {
            Some(SourceError::PartitionNotFound { pattern: p, .. }) => assert_eq!(p, pattern),
            other => panic!("{pattern}: {other:?}"),
        }
    }
    // A wildcard matching nothing reads nothing and finishes.
    let mut h = H::new(full(Some("ds=9*"), 100));
    h.serve(&fake);
    assert!(h.take().contains(&EnumeratorEvent::Finished));
}

#[test]
fn bad_partition_option_for_the_table() {
    let fake = Fake::new(schema(true), &[("ds=1", 1)]);
    let mut h = H::new(full(Some("hh=1"), 100));
    h.serve(&fake);
    let err = h.failure().expect("failed").to_string();
    assert!(err.contains("`hh` is not a partition column"), "{err}");
    // A spec on a non-partitioned table.
    let fake = Fake::new(schema(false), &[("", 3)]);
    let mut h = H::new(full(Some("ds=1"), 100));
    h.serve(&fake);
    assert!(matches!(
        h.failure(),
        Some(SourceError::InvalidPartition { .. })
    ));
    // Incremental on a non-partitioned table.
    let mut h = H::new(incremental("ds=1", ModifiedTableOperation::None));
    h.serve(&fake);
    assert!(matches!(
        h.failure(),
        Some(SourceError::IncrementalNeedsPartitions { .. })
    ));
}

#[test]
fn non_partitioned_table_needs_no_listing() {
    let fake = Fake::new(schema(false), &[("", 9)]);
    let mut h = H::new(full(None, 100));
    let (t, r) = h.next();
    h.reply(t, fake.answer(&r));
    let (t, r) = h.next();
    assert!(r.has_query("downloads"));
    assert_eq!(r.query_param("partition"), None);
    h.reply(t, fake.answer(&r));
    let assigned = h.assigned();
    assert_eq!(assigned.len(), 3);
    assert!(assigned.iter().all(|(_, s)| s.partition.is_empty()));
    for (_, s) in &assigned {
        h.e.split_finished(s.id);
    }
    h.drain();
    assert!(h.e.is_finished());
}

#[test]
fn partitioned_table_without_partition_option_reads_all_partitions() {
    let fake = Fake::new(schema(true), &[("ds=1", 1), ("ds=2", 1)]);
    let mut h = H::new(full(None, 100));
    h.serve(&fake);
    assert_eq!(partitions_of(&h.assigned()), vec!["ds=1", "ds=2"]);
}

#[test]
fn initiating_sessions_are_polled_with_backoff() {
    let s = schema(true);
    let mut h = H::new(full(Some("ds=1"), 100));
    let fake = Fake::new(s.clone(), &[("ds=1", 5)]);
    for _ in 0..2 {
        let (t, r) = h.next();
        h.reply(t, fake.answer(&r));
    }
    let (t, r) = h.next();
    assert!(r.has_query("downloads"));
    h.reply(t, session("s1", SessionStatus::Initiating, None, &s));
    assert!(h.sent.is_empty());
    assert_eq!(h.e.next_deadline(), Some(ms(100)));
    h.advance_to(99);
    assert!(h.sent.is_empty());
    h.advance_to(100);
    let (t, r) = h.next();
    assert_eq!(r.method, Method::Get);
    assert_eq!(r.query_param("downloadid"), Some("s1"));
    assert_eq!(r.query_param("partition"), Some("ds=1"));
    h.reply(t, session("s1", SessionStatus::Initiating, None, &s));
    assert_eq!(h.e.next_deadline(), Some(ms(300)));
    h.advance_to(300);
    let (t, _) = h.next();
    h.reply(t, ready_session("s1", 5, &s));
    assert_eq!(h.assigned().len(), 2);
}

#[test]
fn sessions_are_created_concurrently_but_released_in_order() {
    let s = schema(true);
    let fake = Fake::new(s.clone(), &[("ds=1", 1), ("ds=2", 1), ("ds=3", 1)]);
    let mut cfg = full(None, 100);
    cfg.session_concurrency = 2;
    let mut h = H::new(cfg);
    for _ in 0..2 {
        let (t, r) = h.next();
        h.reply(t, fake.answer(&r));
    }
    h.drain();
    let creates: Vec<(Token, Request)> = h.sent.drain(..).collect();
    assert_eq!(creates.len(), 2);
    // The second answers first: nothing is released before the first partition.
    h.reply(creates[1].0, fake.answer(&creates[1].1));
    assert!(h.assigned().is_empty());
    h.reply(creates[0].0, fake.answer(&creates[0].1));
    assert_eq!(partitions_of(&h.assigned()), vec!["ds=1", "ds=2"]);
    h.serve(&fake);
    assert_eq!(partitions_of(&h.assigned()), vec!["ds=1", "ds=2", "ds=3"]);
}

#[test]
fn retries_use_the_policy_then_fail() {
    let fake = Fake::new(schema(true), &[("ds=1", 1)]);
    let mut h = H::new(full(Some("ds=1"), 100));
    let (t, r) = h.next();
    h.reply(t, fake.answer(&r));
    // Listing: 503, then a transport error, then success.
    let (t, _) = h.next();
    h.reply(t, error(Service::Rest, 503, "ServiceUnavailable", "busy"));
    assert_eq!(h.e.next_deadline(), Some(ms(1000)));
    h.advance_to(999);
    assert!(h.sent.is_empty());
    h.advance_to(1000);
    let (t, r) = h.next();
    assert!(r.has_query("partitions"));
    h.e.handle_reply(t, Err(transport()), h.now);
    assert_eq!(h.e.next_deadline(), Some(ms(3000)));
    h.advance_to(3000);
    let (t, r) = h.next();
    h.reply(t, fake.answer(&r));
    // Session creation: throttled without limit, honouring the server's hint.
    for i in 0..5 {
        let (t, _) = h.next();
        let resp = error(Service::Tunnel, 429, "FlowExceeded", "slow down")
            .with_header("Retry-After", "7");
        h.reply(t, resp);
        let due = h.e.next_deadline().unwrap();
        assert!(due.since(h.now) >= Duration::from_secs(7), "attempt {i}");
        h.advance_to(due.as_millis());
    }
    h.serve(&fake);
    assert_eq!(h.assigned().len(), 1);

    // Fatal errors fail at once; retries give up after the limit.
    let mut h = H::new(full(Some("ds=1"), 100));
    let (t, _) = h.next();
    h.reply(t, error(Service::Rest, 403, "NoPermission", "denied"));
    let err = h.failure().expect("failed").to_string();
    assert!(err.contains("describe table of table `t` failed"), "{err}");
    assert!(err.contains("NoPermission"), "{err}");

    let mut h = H::new(full(Some("ds=1"), 100));
    for i in 0..3 {
        let (t, _) = h.next();
        h.e.handle_reply(t, Err(transport()), h.now);
        h.drain();
        if i < 2 {
            let due = h.e.next_deadline().unwrap();
            h.advance_to(due.as_millis());
        }
    }
    assert!(matches!(
        h.failure(),
        Some(SourceError::Request { error, .. }) if matches!(**error, RequestError::Transport(_))
    ));
}

#[test]
fn dynamic_assignment_serves_requests_in_order() {
    let fake = Fake::new(schema(true), &[("ds=1", 6), ("ds=2", 3)]);
    let mut cfg = full(None, 100);
    cfg.assignment = Assignment::Dynamic;
    cfg.readers = 3;
    let mut h = H::new(cfg);
    // A reader asks before anything exists: it waits.
    h.e.request_split(2);
    h.drain();
    assert!(h.assigned().is_empty());
    h.serve(&fake);
    // The waiting reader got the first split; the rest stay pending.
    let a = h.assigned();
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].0, a[0].1.start, a[0].1.partition.to_string()),
        (2, 0, "ds=1".into())
    );
    assert_eq!(h.e.pending_splits().count(), 2);
    h.take();
    // Readers pull one split per request, in order.
    h.e.request_split(0);
    h.e.request_split(0);
    h.e.request_split(1);
    h.drain();
    let a: Vec<(u32, u64, String)> = h
        .assigned()
        .iter()
        .map(|(r, s)| (*r, s.start, s.partition.to_string()))
        .collect();
    assert_eq!(a, vec![(0, 4, "ds=1".into()), (0, 0, "ds=2".into())]);
    // Nothing left: reader 1 is told so (the enumeration is complete).
    let evs = h.take();
    assert!(evs.contains(&EnumeratorEvent::NoMoreSplits { reader: 1 }));
    assert!(!evs.contains(&EnumeratorEvent::NoMoreSplits { reader: 0 }));
    // Asking again gets the same answer; unknown readers are ignored.
    h.e.request_split(1);
    h.e.request_split(7);
    h.drain();
    assert_eq!(h.take(), vec![EnumeratorEvent::NoMoreSplits { reader: 1 }]);
    for id in 0..3 {
        h.e.split_finished(SplitId(id));
    }
    h.drain();
    assert!(h.take().contains(&EnumeratorEvent::Finished));
}

#[test]
fn incremental_polls_on_its_interval_and_discovers_in_order() {
    let s = schema(true);
    let mut h = H::new(incremental("ds=20240102", ModifiedTableOperation::None));
    let (t, _) = h.next();
    h.reply(t, table_response(&s));
    h.advance_to(5);
    let (t, r) = h.next();
    assert!(r.has_query("partitions"));
    assert_eq!(r.query_param("partition"), None);
    h.reply(
        t,
        listing(&["ds=20240103", "ds=20240101", "ds=20240102"], None),
    );
    let evs = h.take();
    assert!(evs.contains(&EnumeratorEvent::PartitionsDiscovered {
        partitions: vec![spec("ds=20240102"), spec("ds=20240103")]
    }));
    // Next listing 30 s after the last one completed.
    assert_eq!(h.e.next_deadline(), Some(ms(30_005)));
    let fake = Fake::new(s.clone(), &[("ds=20240102", 2), ("ds=20240103", 1)]);
    h.serve(&fake);
    assert_eq!(
        partitions_of(&h.assigned()),
        vec!["ds=20240102", "ds=20240103"]
    );
    h.take();
    h.advance_to(30_004);
    assert!(h.sent.is_empty());
    h.advance_to(30_005);
    let (t, r) = h.next();
    assert!(r.has_query("partitions"));
    h.advance_to(31_000);
    h.reply(
        t,
        listing(
            &[
                "ds=20240101",
                "ds=20240102",
                "ds=20240103",
                "ds=20240105",
                "ds=20240104",
            ],
            None,
        ),
    );
    assert_eq!(h.e.next_deadline(), Some(ms(61_000)));
    let evs = h.take();
    assert!(evs.contains(&EnumeratorEvent::PartitionsDiscovered {
        partitions: vec![spec("ds=20240104"), spec("ds=20240105")]
    }));
    let fake = Fake::new(s, &[("ds=20240104", 1), ("ds=20240105", 1)]);
    h.serve(&fake);
    assert_eq!(
        partitions_of(&h.assigned()),
        vec!["ds=20240104", "ds=20240105"]
    );
    // Never finishes, even with everything read.
    for a in
        h.e.assigned_splits()
            .map(|a| a.split.id)
            .collect::<Vec<_>>()
    {
        h.e.split_finished(a);
    }
    h.drain();
    assert!(!h.take().contains(&EnumeratorEvent::Finished));
    assert!(h.e.next_deadline().is_some());
}

#[test]
fn start_partition_uses_string_order_like_the_seed_says() {
    let s = schema_with(&["year", "month"]);
    let all = [
        "year=2023,month=10",
        "year=2023,month=11",
        "year=2023,month=9",
        "year=2023,month=8",
        "year=2022,month=12",
        "year=2024,month=1",
    ];
    // Unpadded start month=9: month=10 and month=11 sort before it and are not read.
    let mut h = H::new(incremental(
        "year=2023,month=9",
        ModifiedTableOperation::None,
    ));
    let (t, _) = h.next();
    h.reply(t, table_response(&s));
    let (t, _) = h.next();
    h.reply(t, listing(&all, None));
    assert!(h.take().contains(&EnumeratorEvent::PartitionsDiscovered {
        partitions: vec![spec("year=2023,month=9"), spec("year=2024,month=1")]
    }));
    // Zero-padded values order as time does.
    let padded = [
        "year=2023,month=10",
        "year=2023,month=09",
        "year=2023,month=08",
        "year=2024,month=01",
    ];
    let mut h = H::new(incremental(
        "year=2023,month=09",
        ModifiedTableOperation::None,
    ));
    let (t, _) = h.next();
    h.reply(t, table_response(&s));
    let (t, _) = h.next();
    h.reply(t, listing(&padded, None));
    assert!(h.take().contains(&EnumeratorEvent::PartitionsDiscovered {
        partitions: vec![
            spec("year=2023,month=09"),
            spec("year=2023,month=10"),
            spec("year=2024,month=01")
        ]
    }));
    // A prefix start (first level only) includes every partition under it.
    let mut h = H::new(incremental("year=2023", ModifiedTableOperation::None));
    let (t, _) = h.next();
    h.reply(t, table_response(&s));
    let (t, _) = h.next();
    h.reply(t, listing(&padded, None));
    let evs = h.take();
    let found = evs
        .iter()
        .find_map(|e| match e {
            EnumeratorEvent::PartitionsDiscovered { partitions } => Some(partitions.len()),
            _ => None,
        })
        .unwrap();
    assert_eq!(found, 4);
}

#[test]
fn incremental_listing_failure_waits_for_the_next_interval() {
    let s = schema(true);
    let mut cfg = incremental("ds=1", ModifiedTableOperation::None);
    cfg.retry = RetryPolicy::from_options(0, 1000);
    let mut h = H::new(cfg);
    let (t, _) = h.next();
    h.reply(t, table_response(&s));
    let (t, _) = h.next();
    h.reply(t, error(Service::Rest, 500, "InternalServerError", "oops"));
    let evs = h.take();
    assert!(
        evs.iter()
            .any(|e| matches!(e, EnumeratorEvent::ListingFailed { .. })),
        "{evs:?}"
    );
    assert!(!h.e.is_failed());
    assert_eq!(h.e.next_deadline(), Some(ms(30_000)));
    h.advance_to(30_000);
    let (t, r) = h.next();
    assert!(r.has_query("partitions"));
    h.reply(t, listing(&["ds=1"], None));
    assert!(
        h.take()
            .iter()
            .any(|e| matches!(e, EnumeratorEvent::PartitionsDiscovered { .. }))
    );
    // A missing table is not transient.
    let mut h = H::new(incremental("ds=1", ModifiedTableOperation::None));
    let (t, _) = h.next();
    h.reply(t, table_response(&s));
    let (t, _) = h.next();
    h.reply(t, error(Service::Rest, 404, "NoSuchTable", "gone"));
    assert!(h.e.is_failed());
}

#[test]
fn finished_partitions_gone_from_the_table_are_forgotten() {
    let s = schema(true);
    let mut h = H::new(incremental("ds=1", ModifiedTableOperation::None));
    let (t, _) = h.next();
    h.reply(t, table_response(&s));
    let (t, _) = h.next();
    h.reply(t, listing(&["ds=1", "ds=2"], None));
    h.serve(&Fake::new(s.clone(), &[("ds=1", 1), ("ds=2", 1)]));
    let first = h.assigned()[0].1.id;
    h.e.split_finished(first);
    h.advance_to(30_000);
    let (t, _) = h.next();
    // ds=1 (done) and ds=2 (still reading) are gone from the table.
    h.reply(t, listing(&["ds=3"], None));
    let known: Vec<String> = h.e.partitions().map(|(p, _)| p.to_string()).collect();
    assert_eq!(known, vec!["ds=2", "ds=3"]);
    assert_eq!(h.e.snapshot().last_listing, vec![spec("ds=3")]);
}

/// Sets up an incremental source reading ds=1 (8 rows → 2 splits) and ds=2 (4 rows).
fn two_partitions(op: ModifiedTableOperation) -> H {
    let s = schema(true);
    let mut cfg = incremental("ds=1", op);
    cfg.assignment = Assignment::Dynamic;
    let mut h = H::new(cfg);
    let (t, _) = h.next();
    h.reply(t, table_response(&s));
    let (t, _) = h.next();
    h.reply(t, listing(&["ds=1", "ds=2"], None));
    h.serve(&Fake::new(s, &[("ds=1", 8), ("ds=2", 4)]));
    h.e.request_split(0);
    h.drain();
    h.take();
    h
}

#[test]
fn lost_session_under_skip_drops_the_rest_of_the_partition() {
    let mut h = two_partitions(ModifiedTableOperation::Skip);
    let pending: Vec<(String, u64)> =
        h.e.pending_splits()
            .map(|s| (s.partition.to_string(), s.start))
            .collect();
    assert_eq!(pending, vec![("ds=1".into(), 4), ("ds=2".into(), 0)]);
    h.e.session_lost(SessionLost {
        split: SplitId(0),
        partition: spec("ds=1"),
        session_id: "s[ds=1]".into(),
        rows_read: 3,
        reason: LostReason::Expired,
    });
    h.drain();
    assert_eq!(
        h.take(),
        vec![EnumeratorEvent::PartitionSkipped {
            partition: spec("ds=1"),
            reason: LostReason::Expired
        }]
    );
    // The unread split of ds=1 is gone; ds=2 goes on.
    let pending: Vec<String> =
        h.e.pending_splits()
            .map(|s| s.partition.to_string())
            .collect();
    assert_eq!(pending, vec!["ds=2"]);
    assert!(matches!(
        h.e.partitions()
            .find(|(p, _)| p.to_string() == "ds=1")
            .unwrap()
            .1,
        PartitionStatus::Skipped { .. }
    ));
    // Skipped partitions survive a snapshot round trip.
    let state = h.e.snapshot();
    let json = serde_json::to_string(&state).unwrap();
    assert!(
        json.contains(r#""status":"skipped","reason":"Expired""#),
        "{json}"
    );
    let back: EnumeratorState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    // A second report for the same partition changes nothing.
    h.e.session_lost(SessionLost {
        split: SplitId(1),
        partition: spec("ds=1"),
        session_id: "s[ds=1]".into(),
        rows_read: 0,
        reason: LostReason::Expired,
    });
    h.drain();
    assert!(h.take().is_empty());
    assert!(!h.e.is_failed());
}

#[test]
fn lost_session_under_none_fails_naming_the_partition() {
    let mut h = two_partitions(ModifiedTableOperation::None);
    h.e.session_lost(SessionLost {
        split: SplitId(0),
        partition: spec("ds=1"),
        session_id: "s[ds=1]".into(),
        rows_read: 3,
        reason: LostReason::RecordCountChanged {
            expected: 8,
            found: 9,
        },
    });
    h.drain();
    let err = h.failure().expect("failed").to_string();
    assert_eq!(
        err,
        "partition ds=1 of table `t` cannot be read any further: the partition changed: its download session had 8 rows and now reports 9 (download session s[ds=1]). Data already read from it is kept. To go on, set startPartition past this partition (to a partition after ds=1) and restart the job without state, or set modifiedTableOperation = SKIP to skip such partitions automatically."
    );
    assert!(h.e.is_failed());
    assert_eq!(h.e.poll(h.now), None);
}

#[test]
fn vanished_partition_follows_modified_table_operation() {
    let s = schema(true);
    for op in [ModifiedTableOperation::Skip, ModifiedTableOperation::None] {
        let mut h = H::new(incremental("ds=1", op));
        let (t, _) = h.next();
        h.reply(t, table_response(&s));
        let (t, _) = h.next();
        h.reply(t, listing(&["ds=1", "ds=2"], None));
        // ds=1 was dropped between the listing and its session.
        h.serve(&Fake::new(s.clone(), &[("ds=2", 1)]));
        let evs = h.take();
        match op {
            ModifiedTableOperation::Skip => {
                assert!(evs.iter().any(|e| matches!(e,
                    EnumeratorEvent::PartitionSkipped { partition, reason: LostReason::NotFound { .. } }
                        if partition.to_string() == "ds=1")));
                h.events = evs;
                assert_eq!(partitions_of(&h.assigned()), vec!["ds=2"]);
            }
            ModifiedTableOperation::None => {
                h.events = evs;
                let err = h.failure().expect("failed").to_string();
                assert!(err.contains("partition ds=1"), "{err}");
                assert!(err.contains("NoSuchPartition"), "{err}");
            }
        }
    }
}

#[test]
fn full_mode_lost_session_fails() {
    let fake = Fake::new(schema(true), &[("ds=1", 5)]);
    let mut h = H::new(full(Some("ds=1"), 100));
    h.serve(&fake);
    h.e.session_lost(SessionLost {
        split: SplitId(1),
        partition: spec("ds=1"),
        session_id: "s[ds=1]".into(),
        rows_read: 0,
        reason: LostReason::Expired,
    });
    h.drain();
    let err = h.failure().expect("failed").to_string();
    assert!(err.contains("Restart the job"), "{err}");
}

#[test]
fn snapshot_and_restore() {
    let mut h = two_partitions(ModifiedTableOperation::Skip);
    h.e.split_finished(SplitId(0));
    let state = h.e.snapshot();
    insta::assert_json_snapshot!("enumerator_incremental_state", state);
    // Round trip through JSON.
    let json = serde_json::to_string(&state).unwrap();
    let back: EnumeratorState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);

    let cfg = {
        let mut c = incremental("ds=1", ModifiedTableOperation::Skip);
        c.assignment = Assignment::Dynamic;
        c
    };
    let mut r = H::wrap(SplitEnumerator::restore(cfg.clone(), back).unwrap());
    let (t, _) = r.next();
    r.reply(t, table_response(&schema(true)));
    // Incremental: lists again at once; known partitions are not rediscovered.
    let (t, _) = r.next();
    r.reply(t, listing(&["ds=1", "ds=2"], None));
    assert!(
        !r.take()
            .iter()
            .any(|e| matches!(e, EnumeratorEvent::PartitionsDiscovered { .. }))
    );
    assert!(r.sent.is_empty());
    // Pending splits come back in order, to be verified against their sessions.
    r.e.request_split(1);
    r.e.request_split(1);
    r.drain();
    let a = r.assigned();
    assert_eq!(a.len(), 2);
    assert_eq!(
        a.iter()
            .map(|(_, s)| (s.partition.to_string(), s.start, s.verify))
            .collect::<Vec<_>>(),
        vec![("ds=1".into(), 4, true), ("ds=2".into(), 0, true)]
    );
    let held: Vec<(u32, u64)> =
        r.e.assigned_splits()
            .map(|a| (a.reader, a.split.id.0))
            .collect();
    assert_eq!(held, vec![(1, 1), (1, 2)]);
    // Versions and modes are checked.
    let mut bad = state.clone();
    bad.version = 99;
    assert!(matches!(
        SplitEnumerator::restore(cfg.clone(), bad),
        Err(RestoreError::Version { found: 99, .. })
    ));
    assert!(matches!(
        SplitEnumerator::restore(full(None, 1), state.clone()),
        Err(RestoreError::Mismatch(_))
    ));
    let mut few = cfg;
    few.readers = 1;
    let mut st = state;
    st.assigned.push(AssignedSplit {
        reader: 1,
        split: st.pending_splits[0].clone(),
    });
    assert!(matches!(
        SplitEnumerator::restore(few, st),
        Err(RestoreError::Mismatch(_))
    ));
}

#[test]
fn restored_full_source_does_not_list_again_and_finishes() {
    let fake = Fake::new(schema(true), &[("ds=1", 6), ("ds=2", 2)]);
    let mut h = H::new(full(None, 100));
    h.serve(&fake);
    let assigned = h.assigned();
    assert_eq!(assigned.len(), 3);
    h.e.split_finished(assigned[0].1.id);
    let state = h.e.snapshot();
    insta::assert_json_snapshot!("enumerator_full_state", state);
    let mut r = H::wrap(SplitEnumerator::restore(full(None, 100), state).unwrap());
    let (t, req) = r.next();
    r.reply(t, fake.answer(&req));
    // Described, and nothing else to ask.
    assert!(r.sent.is_empty());
    let evs = r.take();
    assert!(evs.contains(&EnumeratorEvent::NoMoreSplits { reader: 0 }));
    assert!(!evs.contains(&EnumeratorEvent::Finished));
    r.e.split_finished(assigned[1].1.id);
    r.e.split_finished(assigned[2].1.id);
    r.drain();
    assert!(r.take().contains(&EnumeratorEvent::Finished));
}

#[test]
fn restore_mid_listing_lists_again() {
    let s = schema(true);
    let mut fake = Fake::new(s, &[("ds=1", 1), ("ds=2", 1), ("ds=3", 1)]);
    fake.page = 1;
    let mut h = H::new(full(None, 100));
    let (t, r) = h.next();
    h.reply(t, fake.answer(&r));
    let (t, r) = h.next();
    h.reply(t, fake.answer(&r));
    let state = h.e.snapshot();
    assert!(!state.resolved);
    assert!(state.partitions.is_empty());
    let mut r = H::wrap(SplitEnumerator::restore(full(None, 100), state).unwrap());
    r.serve(&fake);
    assert_eq!(partitions_of(&r.assigned()), vec!["ds=1", "ds=2", "ds=3"]);
}

#[test]
fn arrow_splits_are_sized_in_bytes() {
    // id BIGINT (8) + name STRING (32 + 4) = 44 bytes per row.
    let cols = data_columns();
    assert_eq!(estimate_row_bytes(&cols), 44);
    assert_eq!(rows_per_split(SplitSizing::Bytes(440), &cols), 10);
    assert_eq!(rows_per_split(SplitSizing::Bytes(10), &cols), 1);
    assert_eq!(rows_per_split(SplitSizing::Rows(0), &cols), 1);
    assert_eq!(split_ranges(25, 10), vec![(0, 10), (10, 10), (20, 5)]);
    assert_eq!(split_ranges(0, 10), vec![]);
    let fake = Fake::new(schema(true), &[("ds=1", 25)]);
    let mut cfg = full(None, 100);
    cfg.sizing = SplitSizing::Bytes(440);
    let mut h = H::new(cfg.clone());
    h.serve(&fake);
    let counts: Vec<u64> = h.assigned().iter().map(|(_, s)| s.count).collect();
    assert_eq!(counts, vec![10, 10, 5]);
    // With a projection only the columns read count.
    cfg.projection = Some(vec!["id".into()]);
    let mut h = H::new(cfg);
    h.serve(&fake);
    let counts: Vec<u64> = h.assigned().iter().map(|(_, s)| s.count).collect();
    assert_eq!(counts, vec![25]);
}

#[test]
fn config_from_source_options() {
    let creds = Credentials::access_key("id", "secret");
    let cfg = SourceConfig::builder("http://e/api", "p", "t", creds.clone())
        .partition("ds=201809*")
        .max_partition_count(7)
        .build()
        .unwrap();
    let e = EnumeratorConfig::from_source_config(&cfg, 3, "ua").unwrap();
    assert_eq!(
        e.mode,
        EnumerationMode::Full {
            partition: Some(PartitionPattern::parse("ds=201809*").unwrap()),
            max_partitions: 7
        }
    );
    assert_eq!(e.sizing, SplitSizing::Rows(DEFAULT_SPLIT_ROWS));
    assert_eq!((e.readers, e.assignment), (3, Assignment::Fixed));
    let cfg = SourceConfig::builder("http://e/api", "p", "t", creds.clone())
        .start_partition("ds=2024")
        .modified_table_operation(ModifiedTableOperation::Skip)
        .use_arrow(true)
        .dynamic_load_balance(true)
        .build()
        .unwrap();
    let e = EnumeratorConfig::from_source_config(&cfg, 0, "ua").unwrap();
    assert!(matches!(
        e.mode,
        EnumerationMode::Incremental {
            on_modified: ModifiedTableOperation::Skip,
            ..
        }
    ));
    assert_eq!(e.sizing, SplitSizing::Bytes(256 << 20));
    assert_eq!((e.readers, e.assignment), (1, Assignment::Dynamic));
    let bad = SourceConfig::builder("http://e/api", "p", "t", creds)
        .partition("ds=2018 09")
        .build()
        .unwrap();
    assert!(matches!(
        EnumeratorConfig::from_source_config(&bad, 1, "ua"),
        Err(SourceError::InvalidPartition { .. })
    ));
    let _ = PartitionSpec::new();
}
