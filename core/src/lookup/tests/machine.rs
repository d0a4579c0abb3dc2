use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};

use crate::api::{ApiContext, SessionStatus, headers};
use crate::auth::Credentials;
use crate::codec::encode_batches;
use crate::compress::Compression;
use crate::http::{Request, Response, Service};
use crate::lookup::*;
use crate::machine::{Instant, Output, RetryPolicy, Token};
use crate::options::LookupConfig;
use crate::partition::PartitionPattern;
use crate::source::ReadFormat;
use crate::source::tests::support::*;
use crate::time::{CivilDateTime, WallClock};
use crate::types::{Column, TableSchema, arrow::columns_to_arrow};

const HOUR: u64 = 3_600_000;

/// UTC wall clock of a civil time at +08:00.
fn bj(y: i64, mo: u32, d: u32, h: u32, mi: u32) -> WallClock {
    let local = WallClock::from_civil(&CivilDateTime {
        year: y,
        month: mo,
        day: d,
        hour: h,
        minute: mi,
        second: 0,
        millis: 0,
    });
    WallClock::from_unix_millis(local.unix_millis - 8 * HOUR as i64)
}

/// A dimension table: partition → rows; row `i` of a partition with base `b` has
/// `id = b + i`, `name = n<i % modulo>`.
struct Dim {
    schema: TableSchema,
    parts: BTreeMap<String, (i64, u64)>,
    modulo: u64,
}

impl Dim {
    fn new(partitioned: bool, parts: &[(&str, i64, u64)]) -> Self {
        Self {
            schema: schema(partitioned),
            parts: parts
                .iter()
                .map(|(p, b, n)| (p.to_string(), (*b, *n)))
                .collect(),
            modulo: u64::MAX,
        }
    }

    fn batch(&self, columns: &[Column], base: i64, start: u64, n: u64) -> RecordBatch {
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for c in columns {
            match c.name.as_str() {
                "id" => arrays.push(Arc::new(Int64Array::from(
                    (start..start + n)
                        .map(|i| base + i as i64)
                        .collect::<Vec<_>>(),
                ))),
                "name" => arrays.push(Arc::new(StringArray::from(
                    (start..start + n)
                        .map(|i| format!("n{}", i % self.modulo))
                        .collect::<Vec<_>>(),
                ))),
                other => panic!("{other}"),
            }
        }
        RecordBatch::try_new(columns_to_arrow(columns), arrays).unwrap()
    }

    fn answer(&self, r: &Request) -> Response {
        let p = r.query_param("partition").unwrap_or("").to_string();
        if r.has_query("partitions") {
            let specs: Vec<&str> = self.parts.keys().map(String::as_str).collect();
            listing(&specs, None)
        } else if r.has_query("data") {
            let (start, count) = row_range(r);
            let (base, _) = self.parts[&p];
            let cols: Vec<Column> = match r.query_param("columns") {
                Some(list) => list
                    .split(',')
                    .map(|n| self.schema.column(n).unwrap().clone())
                    .collect(),
                None => self.schema.columns.clone(),
            };
            let body = encode_batches(&cols, &[self.batch(&cols, base, start, count)]).unwrap();
            Response::new(200, body)
        } else if r.has_query("downloads") || r.has_query("downloadid") {
            match self.parts.get(&p) {
                Some((_, n)) => ready_session(&format!("s[{p}]"), *n, &self.schema),
                None => error(Service::Tunnel, 404, "NoSuchPartition", "no such partition"),
            }
        } else {
            table_response(&self.schema)
        }
    }
}

struct H {
    m: LookupMachine,
    now: Instant,
    sent: VecDeque<(Token, Request)>,
    events: Vec<LookupEvent>,
}

impl H {
    fn new(config: LookupMachineConfig, wall: WallClock) -> Self {
        let mut h = Self {
            m: LookupMachine::new(config, Instant::ZERO, wall),
            now: Instant::ZERO,
            sent: VecDeque::new(),
            events: Vec::new(),
        };
        h.drain();
        h
    }

    fn drain(&mut self) {
        while let Some(out) = self.m.poll(self.now) {
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
        self.m.handle_reply(token, Ok(resp), self.now);
        self.drain();
    }

    fn serve(&mut self, dim: &Dim) {
        self.drain();
        while let Some((t, r)) = self.sent.pop_front() {
            let resp = dim.answer(&r);
            self.reply(t, resp);
        }
    }

    fn advance_to(&mut self, t: u64) {
        self.now = ms(t);
        self.drain();
    }

    fn take(&mut self) -> Vec<LookupEvent> {
        std::mem::take(&mut self.events)
    }

    fn ids(&self, key: i64) -> Vec<i64> {
        ids_of(&self.m.get(&LookupKey::single(key)).unwrap())
    }
}

fn ids_of(rows: &[RecordBatch]) -> Vec<i64> {
    rows.iter()
        .flat_map(|b| {
            let c = b.column(0).as_primitive::<Int64Type>();
            (0..b.num_rows()).map(|i| c.value(i)).collect::<Vec<_>>()
        })
        .collect()
}

fn config(partition: Option<&str>) -> LookupMachineConfig {
    LookupMachineConfig {
        ctx: ApiContext::new("p", "maxc-test"),
        table: "t".into(),
        partition: partition.map(|p| PartitionPattern::parse(p).unwrap()),
        key: KeySpec::primary(["id"]),
        projection: None,
        cache_size: 100,
        ttl: Duration::from_millis(HOUR),
        blacklist: ReloadBlacklist::empty(),
        utc_offset: UtcOffset::parse("+08:00").unwrap(),
        max_load_retries: 2,
        format: ReadFormat::Records {
            compression: Compression::Raw,
        },
        chunk_rows: 4,
        batch_rows: 3,
        retry: RetryPolicy::from_options(1, 1000),
        max_body_bytes: 1 << 20,
        page_size: None,
    }
}

fn loaded(events: &[LookupEvent]) -> Option<(u64, u64, Vec<String>)> {
    events.iter().find_map(|e| match e {
        LookupEvent::Loaded {
            generation,
            rows,
            partitions,
        } => Some((
            *generation,
            *rows,
            partitions.iter().map(|p| p.to_string()).collect(),
        )),
        _ => None,
    })
}

#[test]
fn first_load_of_max_pt_and_primary_key_lookups() {
    let dim = Dim::new(
        true,
        &[
            ("ds=20240101", 0, 3),
            ("ds=20240103", 100, 10),
            ("ds=20240102", 50, 2),
        ],
    );
    let mut h = H::new(config(Some("max_pt()")), bj(2024, 1, 3, 12, 0));
    assert!(matches!(
        h.m.get(&LookupKey::single(100i64)),
        Err(LookupError::NotLoaded(_))
    ));
    assert!(h.m.is_loading());
    // describe, list, session, then reads of 4 rows.
    let mut reads = Vec::new();
    h.drain();
    while let Some((t, r)) = h.sent.pop_front() {
        if r.has_query("data") {
            assert_eq!(r.query_param("partition"), Some("ds=20240103"));
            reads.push(r.query_param("rowrange").unwrap().to_string());
        }
        let resp = dim.answer(&r);
        h.reply(t, resp);
    }
    assert_eq!(reads, vec!["(0,4)", "(4,4)", "(8,2)"]);
    assert_eq!(
        loaded(&h.take()),
        Some((1, 10, vec!["ds=20240103".to_string()]))
    );
    assert!(!h.m.is_loading());
    let cache = h.m.cache().unwrap().clone();
    assert_eq!(
        (cache.generation(), cache.row_count(), cache.key_count()),
        (1, 10, 10)
    );
    assert_eq!(h.ids(105), vec![105]);
    assert_eq!(h.ids(0), Vec::<i64>::new());
    let one = cache.get_one(&LookupKey::single(109i64)).unwrap();
    assert_eq!(one.column(1).as_string::<i32>().value(0), "n9");
    // A key of another type never matches.
    assert!(cache.get(&LookupKey::single(105i32)).is_empty());
    // The reload is due one TTL later.
    assert_eq!(h.m.reload_due(), Some(bj(2024, 1, 3, 13, 0)));
    assert_eq!(h.m.next_deadline(), Some(ms(HOUR)));
}

#[test]
fn max_two_pt_loads_the_two_newest_partitions() {
    let dim = Dim::new(true, &[("ds=1", 0, 2), ("ds=3", 300, 2), ("ds=2", 200, 3)]);
    let mut h = H::new(config(Some("max_two_pt()")), bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    assert_eq!(
        loaded(&h.take()),
        Some((1, 5, vec!["ds=2".to_string(), "ds=3".to_string()]))
    );
    assert_eq!(h.ids(201), vec![201]);
    assert_eq!(h.ids(301), vec![301]);
    assert_eq!(h.ids(1), Vec::<i64>::new());
}

#[test]
fn fixed_spec_and_non_partitioned_tables() {
    let dim = Dim::new(true, &[("ds=1", 0, 2), ("ds=2", 10, 2)]);
    let mut h = H::new(config(Some("ds=1")), bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    assert_eq!(loaded(&h.take()).unwrap().2, vec!["ds=1"]);
    let dim = Dim::new(false, &[("", 0, 3)]);
    let mut h = H::new(config(None), bj(2024, 1, 1, 0, 0));
    let (t, r) = h.next();
    h.reply(t, dim.answer(&r));
    let (t, r) = h.next();
    assert!(
        r.has_query("downloads"),
        "no listing for a non-partitioned table"
    );
    h.reply(t, dim.answer(&r));
    h.serve(&dim);
    assert_eq!(loaded(&h.take()), Some((1, 3, vec![String::new()])));
    // A missing fixed partition is retried (it may appear), then fails.
    let mut cfg = config(Some("ds=9"));
    cfg.max_load_retries = 0;
    let dim = Dim::new(true, &[("ds=1", 0, 2)]);
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    let evs = h.take();
    assert!(
        matches!(&evs[..], [LookupEvent::Failed(LookupError::LoadRetriesExhausted { last, .. })]
            if matches!(**last, LookupError::PartitionNotFound { .. })),
        "{evs:?}"
    );
}

#[test]
fn non_unique_and_composite_keys() {
    let mut dim = Dim::new(false, &[("", 0, 9)]);
    dim.modulo = 3;
    let mut cfg = config(None);
    cfg.key = KeySpec::non_unique(["name"]);
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    let rows = h.m.get(&LookupKey::single("n1")).unwrap();
    assert_eq!(ids_of(&rows), vec![1, 4, 7]);
    let batch =
        h.m.cache()
            .unwrap()
            .get_batch(&LookupKey::single("n2"))
            .unwrap();
    assert_eq!(batch.num_rows(), 3);
    assert!(h.m.get(&LookupKey::single("n3")).unwrap().is_empty());
    // A primary key over a column with duplicates keeps the last row read.
    let mut cfg = config(None);
    cfg.key = KeySpec::primary(["name"]);
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    assert_eq!(ids_of(&h.m.get(&LookupKey::single("n1")).unwrap()), vec![7]);
    // A composite key, with a projection that reorders the columns.
    let mut cfg = config(None);
    cfg.key = KeySpec::primary(["NAME", "id"]);
    cfg.projection = Some(vec!["id".into(), "name".into()]);
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    let key = LookupKey::new(vec![KeyValue::from("n1"), KeyValue::from(4i64)]);
    assert_eq!(ids_of(&h.m.get(&key).unwrap()), vec![4]);
    let key = LookupKey::new(vec![KeyValue::from("n1"), KeyValue::from(5i64)]);
    assert!(h.m.get(&key).unwrap().is_empty());
    // A key column that is not read is a permanent error.
    let mut cfg = config(None);
    cfg.key = KeySpec::primary(["nope"]);
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    let evs = h.take();
    assert!(
        matches!(&evs[..], [LookupEvent::Failed(LookupError::Key { .. })]),
        "{evs:?}"
    );
}

#[test]
fn ttl_reload_picks_a_newer_max_pt_and_keeps_serving_meanwhile() {
    let mut dim = Dim::new(true, &[("ds=1", 0, 3)]);
    let mut h = H::new(config(Some("max_pt()")), bj(2024, 1, 1, 10, 0));
    h.advance_to(1_000);
    h.serve(&dim);
    assert_eq!(loaded(&h.take()).unwrap().0, 1);
    assert_eq!(h.m.next_deadline(), Some(ms(1_000 + HOUR)));
    h.advance_to(HOUR);
    assert!(h.sent.is_empty());
    // A newer partition appears; the reload finds it.
    dim.parts.insert("ds=2".into(), (500, 6));
    h.advance_to(1_000 + HOUR);
    assert_eq!(h.take(), vec![LookupEvent::ReloadStarted]);
    assert!(h.m.is_loading());
    // Step through the reload: the old cache serves until the new one is complete.
    while let Some((t, r)) = {
        h.drain();
        h.sent.pop_front()
    } {
        assert_eq!(h.m.cache().unwrap().generation(), 1);
        assert_eq!(h.ids(2), vec![2]);
        assert!(h.ids(500).is_empty());
        let resp = dim.answer(&r);
        h.reply(t, resp);
    }
    assert_eq!(loaded(&h.take()), Some((2, 6, vec!["ds=2".to_string()])));
    assert_eq!(h.m.cache().unwrap().generation(), 2);
    assert_eq!(h.ids(505), vec![505]);
    assert!(h.ids(2).is_empty());
}

#[test]
fn requested_reload_runs_now_but_respects_the_blacklist() {
    let mut dim = Dim::new(true, &[("ds=1", 0, 3)]);
    let mut h = H::new(config(Some("max_pt()")), bj(2024, 1, 1, 10, 0));
    // Not before the first load completed.
    assert!(!h.m.request_reload(Instant::ZERO));
    h.serve(&dim);
    assert_eq!(loaded(&h.take()).unwrap().0, 1);
    dim.parts.insert("ds=2".into(), (500, 2));
    // Long before the TTL: the reload starts at the next poll.
    h.now = ms(5_000);
    assert!(h.m.request_reload(h.now));
    assert_eq!(
        h.m.reload_due(),
        Some(bj(2024, 1, 1, 10, 0).saturating_add(Duration::from_secs(5)))
    );
    h.drain();
    assert_eq!(h.take(), vec![LookupEvent::ReloadStarted]);
    // Not while a load runs.
    assert!(!h.m.request_reload(h.now));
    h.serve(&dim);
    assert_eq!(loaded(&h.take()), Some((2, 2, vec!["ds=2".to_string()])));
    assert_eq!(h.ids(501), vec![501]);

    // Inside a blacklist window the requested reload waits for the window's end.
    let mut cfg = config(Some("max_pt()"));
    cfg.blacklist = ReloadBlacklist::parse("2024-05-01 14:00 -> 2024-05-01 15:00").unwrap();
    let mut h = H::new(cfg, bj(2024, 5, 1, 14, 10));
    h.serve(&dim);
    h.take();
    assert!(h.m.request_reload(h.now));
    h.drain();
    assert_eq!(
        h.take(),
        vec![LookupEvent::ReloadPostponed {
            until: bj(2024, 5, 1, 15, 0)
        }]
    );
    assert!(!h.m.is_loading());
}

#[test]
fn blacklist_postpones_a_due_reload_until_the_window_ends() {
    let dim = Dim::new(true, &[("ds=1", 0, 1)]);
    let mut cfg = config(Some("max_pt()"));
    cfg.blacklist = ReloadBlacklist::parse(
        "2024-05-01 14:00 -> 2024-05-01 15:00, 2024-05-01 15:00 -> 2024-05-01 15:30, 23:30 -> 08:00",
    )
    .unwrap();
    // Loaded at 13:30 Beijing time: due 14:30, inside the first window, chained to 15:30.
    let mut h = H::new(cfg.clone(), bj(2024, 5, 1, 13, 30));
    h.serve(&dim);
    h.take();
    assert_eq!(h.m.reload_due(), Some(bj(2024, 5, 1, 14, 30)));
    h.advance_to(HOUR);
    assert_eq!(
        h.take(),
        vec![LookupEvent::ReloadPostponed {
            until: bj(2024, 5, 1, 15, 30)
        }]
    );
    assert!(h.sent.is_empty());
    assert!(!h.m.is_loading());
    assert_eq!(h.m.next_deadline(), Some(ms(2 * HOUR)));
    h.advance_to(2 * HOUR - 1);
    assert!(h.take().is_empty());
    h.advance_to(2 * HOUR);
    assert_eq!(h.take(), vec![LookupEvent::ReloadStarted]);
    h.serve(&dim);
    assert_eq!(loaded(&h.take()).unwrap().0, 2);

    // A daily window across midnight: due 23:45 waits until 08:00 the next day.
    let mut h = H::new(cfg.clone(), bj(2024, 5, 1, 22, 45));
    h.serve(&dim);
    h.take();
    h.advance_to(HOUR);
    assert_eq!(
        h.take(),
        vec![LookupEvent::ReloadPostponed {
            until: bj(2024, 5, 2, 8, 0)
        }]
    );
    assert_eq!(h.m.next_deadline(), Some(ms(HOUR + 8 * HOUR + 15 * 60_000)));
    // The wall clock is re-anchored (e.g. after a clock step): the deadline follows.
    h.m.set_wall_clock(ms(2 * HOUR), bj(2024, 5, 2, 7, 0));
    assert_eq!(h.m.next_deadline(), Some(ms(3 * HOUR)));
    h.advance_to(3 * HOUR);
    assert_eq!(h.take(), vec![LookupEvent::ReloadStarted]);

    // Outside every window the reload starts on time.
    let mut h = H::new(cfg, bj(2024, 5, 1, 9, 0));
    h.serve(&dim);
    h.take();
    h.advance_to(HOUR);
    assert_eq!(h.take(), vec![LookupEvent::ReloadStarted]);
}

#[test]
fn row_limit_fails_with_the_connector_message() {
    let dim = Dim::new(true, &[("ds=1", 0, 3), ("ds=2", 10, 3)]);
    let mut cfg = config(Some("max_two_pt()"));
    cfg.cache_size = 5;
    let mut h = H::new(cfg.clone(), bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    let evs = h.take();
    let [LookupEvent::Failed(err)] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(
        err.to_string(),
        "Row count of table t partition ds=2 exceeds maxRowCount limit"
    );
    assert!(matches!(
        err,
        LookupError::RowLimit {
            rows: 6,
            limit: 5,
            ..
        }
    ));
    // Not retried: nothing more is sent.
    assert!(h.m.is_failed());
    assert_eq!(h.m.next_deadline(), None);
    // At the limit exactly the load succeeds.
    cfg.cache_size = 6;
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    assert_eq!(loaded(&h.take()).unwrap().1, 6);
    // The non-partitioned wording.
    let dim = Dim::new(false, &[("", 0, 3)]);
    let mut cfg = config(None);
    cfg.cache_size = 2;
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    let evs = h.take();
    assert!(
        matches!(&evs[..], [LookupEvent::Failed(e)] if e.to_string() == "Row count of table t partition (non-partitioned) exceeds maxRowCount limit"),
        "{evs:?}"
    );
}

#[test]
fn row_limit_on_reload_keeps_the_old_cache() {
    let mut dim = Dim::new(true, &[("ds=1", 0, 2)]);
    let mut cfg = config(Some("max_pt()"));
    cfg.cache_size = 3;
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    h.take();
    dim.parts.insert("ds=2".into(), (100, 4));
    h.advance_to(HOUR);
    h.serve(&dim);
    let evs = h.take();
    assert!(
        matches!(&evs[..], [LookupEvent::ReloadStarted, LookupEvent::ReloadFailed { error: LookupError::RowLimit { .. }, retry_at }]
            if *retry_at == bj(2024, 1, 1, 2, 0)),
        "{evs:?}"
    );
    assert_eq!(h.m.cache().unwrap().generation(), 1);
    assert_eq!(h.ids(1), vec![1]);
    assert!(!h.m.is_failed());
}

#[test]
fn max_load_retries_exhausted() {
    let mut cfg = config(Some("max_pt()"));
    cfg.retry = RetryPolicy::from_options(0, 1000);
    cfg.max_load_retries = 2;
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    let mut starts = Vec::new();
    for _ in 0..3 {
        let (t, r) = h.next();
        starts.push(h.now.as_millis());
        assert!(!r.has_query("partitions"), "each attempt starts over");
        h.reply(t, error(Service::Rest, 500, "InternalServerError", "down"));
        if let Some(d) = h.m.next_deadline() {
            h.advance_to(d.as_millis());
        }
    }
    // Attempts start at 0, then after 1 s and 2 s of backoff.
    assert_eq!(starts, vec![0, 1000, 3000]);
    let evs = h.take();
    let retrying: Vec<u32> = evs
        .iter()
        .filter_map(|e| match e {
            LookupEvent::LoadRetrying { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retrying, vec![1, 2]);
    let Some(LookupEvent::Failed(err)) = evs.last() else {
        panic!("{evs:?}")
    };
    assert!(matches!(
        err,
        LookupError::LoadRetriesExhausted {
            attempts: 3,
            max_load_retries: 2,
            ..
        }
    ));
    let text = err.to_string();
    assert!(
        text.contains("failed 3 times (maxLoadRetries = 2)"),
        "{text}"
    );
    assert!(text.contains("InternalServerError"), "{text}");
    assert!(h.m.is_failed());
    assert_eq!(h.m.poll(h.now), None);
}

#[test]
fn a_retried_first_load_succeeds() {
    let dim = Dim::new(true, &[("ds=1", 0, 2)]);
    let mut cfg = config(Some("max_pt()"));
    cfg.retry = RetryPolicy::from_options(0, 1000);
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    let (t, r) = h.next();
    h.reply(t, dim.answer(&r));
    let (t, _) = h.next();
    h.m.handle_reply(t, Err(transport()), h.now);
    h.drain();
    assert!(matches!(
        h.take()[..],
        [LookupEvent::LoadRetrying { attempt: 1, .. }]
    ));
    h.advance_to(1000);
    h.serve(&dim);
    assert_eq!(loaded(&h.take()).unwrap().1, 2);
}

#[test]
fn failed_reload_keeps_serving_and_retries_with_backoff() {
    let dim = Dim::new(true, &[("ds=1", 0, 2)]);
    let mut cfg = config(Some("max_pt()"));
    cfg.retry = RetryPolicy::from_options(0, 1000);
    let mut h = H::new(cfg, bj(2024, 1, 1, 0, 0));
    h.serve(&dim);
    h.take();
    h.advance_to(HOUR);
    let (t, _) = h.next();
    h.reply(t, error(Service::Rest, 503, "ServiceUnavailable", "busy"));
    let evs = h.take();
    assert!(
        matches!(&evs[..], [LookupEvent::ReloadStarted, LookupEvent::ReloadFailed { retry_at, .. }]
            if *retry_at == bj(2024, 1, 1, 1, 0).saturating_add(Duration::from_secs(1))),
        "{evs:?}"
    );
    assert_eq!(h.ids(1), vec![1]);
    assert_eq!(h.m.next_deadline(), Some(ms(HOUR + 1000)));
    h.advance_to(HOUR + 1000);
    h.serve(&dim);
    assert_eq!(loaded(&h.take()).unwrap().0, 2);
}

#[test]
fn corrupt_data_is_retried_within_the_load() {
    let dim = Dim::new(false, &[("", 0, 2)]);
    let mut h = H::new(config(None), bj(2024, 1, 1, 0, 0));
    let (t, r) = h.next();
    h.reply(t, dim.answer(&r));
    let (t, r) = h.next();
    h.reply(t, dim.answer(&r));
    let (t, r) = h.next();
    let mut resp = dim.answer(&r);
    let mut body = resp.body.to_vec();
    let n = body.len();
    body[n / 2] ^= 0x40;
    resp.body = body.into();
    h.reply(t, resp);
    assert!(h.take().is_empty());
    let due = h.m.next_deadline().unwrap();
    h.advance_to(due.as_millis());
    h.serve(&dim);
    assert_eq!(loaded(&h.take()).unwrap().1, 2);
}

#[test]
fn initiating_sessions_are_polled() {
    let dim = Dim::new(false, &[("", 0, 2)]);
    let mut h = H::new(config(None), bj(2024, 1, 1, 0, 0));
    let (t, r) = h.next();
    h.reply(t, dim.answer(&r));
    let (t, _) = h.next();
    h.reply(
        t,
        session("s1", SessionStatus::Initiating, None, &dim.schema),
    );
    assert_eq!(h.m.next_deadline(), Some(ms(100)));
    h.advance_to(100);
    let (t, r) = h.next();
    assert_eq!(r.query_param("downloadid"), Some("s1"));
    h.reply(t, ready_session("s[]", 2, &dim.schema));
    h.serve(&dim);
    assert_eq!(loaded(&h.take()).unwrap().1, 2);
}

#[test]
fn config_from_lookup_options() {
    let creds = Credentials::access_key("id", "secret");
    let cfg = LookupConfig::builder("http://e/api", "p", "t", creds.clone())
        .partition("max_two_pt()")
        .cache_size(7)
        .cache_ttl(Duration::from_secs(60))
        .reload_blacklist("2017-10-24 14:00 -> 2017-10-24 15:00")
        .max_load_retries(4)
        .build()
        .unwrap();
    let m = LookupMachineConfig::from_lookup_config(
        &cfg,
        KeySpec::primary(["id"]),
        UtcOffset::UTC,
        "ua",
    )
    .unwrap();
    assert_eq!(m.partition, Some(PartitionPattern::MaxTwoPt));
    assert_eq!(
        (m.cache_size, m.ttl, m.max_load_retries),
        (7, Duration::from_secs(60), 4)
    );
    assert_eq!(m.blacklist.windows().len(), 1);
    let bad = LookupConfig::builder("http://e/api", "p", "t", creds)
        .reload_blacklist("2017-10-24 14:00 to 2017-10-24 15:00")
        .build()
        .unwrap();
    let err = LookupMachineConfig::from_lookup_config(
        &bad,
        KeySpec::primary(["id"]),
        UtcOffset::UTC,
        "ua",
    )
    .unwrap_err();
    assert!(matches!(
        err,
        LookupError::Blacklist(BlacklistError::MissingArrow { .. })
    ));
    // `cache` other than ALL is rejected by the options already, with a clear message.
    let with: Vec<(&str, &str)> = vec![
        ("connector", "odps"),
        ("endpoint", "http://e/api"),
        ("project", "p"),
        ("tableName", "t"),
        ("accessId", "id"),
        ("accessKey", "secret"),
        ("cache", "LRU"),
    ];
    let err = LookupConfig::from_options(with.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("cache") && err.contains("ALL"), "{err}");
    let err = LookupConfig::from_options(with.into_iter().filter(|(k, _)| *k != "cache"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cache"), "{err}");
    let _ = headers::JSON;
}
