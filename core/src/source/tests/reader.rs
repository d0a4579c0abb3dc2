use std::collections::VecDeque;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;

use super::support::*;
use crate::api::{ApiContext, SessionStatus, headers};
use crate::arrow_frame::{encode_record_batches_with, frame};
use crate::compress::{Compression, compress};
use crate::http::{Method, Request, Response, Service};
use crate::machine::{Instant, Output, RetryPolicy, Token};
use crate::partition::PartitionSpec;
use crate::source::*;
use crate::types::Column;

struct H {
    r: SplitReader,
    now: Instant,
    sent: VecDeque<(Token, Request)>,
    events: Vec<ReaderEvent>,
}

impl H {
    fn new(config: ReaderConfig) -> Self {
        Self::wrap(SplitReader::new(config, 0).unwrap())
    }

    fn wrap(r: SplitReader) -> Self {
        Self {
            r,
            now: Instant::ZERO,
            sent: VecDeque::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.r.poll(self.now) {
            match out {
                Output::Send { token, request } => self.sent.push_back((token, request)),
                Output::Event(ev) => self.events.push(ev),
            }
        }
    }

    /// Polls one output.
    fn poll_one(&mut self) -> Option<Output<ReaderEvent>> {
        self.r.poll(self.now)
    }

    fn next(&mut self) -> (Token, Request) {
        self.drain();
        self.sent.pop_front().expect("a request")
    }

    fn reply(&mut self, token: Token, resp: Response) {
        self.r.handle_reply(token, Ok(resp), self.now);
        self.drain();
    }

    fn advance_to(&mut self, t: u64) {
        self.now = ms(t);
        self.drain();
    }

    fn take(&mut self) -> Vec<ReaderEvent> {
        std::mem::take(&mut self.events)
    }

    /// Answers read requests with the canned rows until no request is left.
    fn serve_reads(&mut self, columns: &[Column]) {
        self.drain();
        while let Some((t, r)) = self.sent.pop_front() {
            assert!(r.has_query("data"), "{r:?}");
            let (start, count) = row_range(&r);
            self.reply(t, data_response(columns, start, count));
        }
    }
}

fn config() -> ReaderConfig {
    let mut c = ReaderConfig::new(ApiContext::new("p", "maxc-test"), "t", schema(true));
    c.chunk_rows = 4;
    c.batch_rows = 3;
    c.retry = RetryPolicy::from_options(2, 1000);
    c
}

fn split(id: u64, partition: &str, start: u64, count: u64) -> Split {
    Split {
        id: SplitId(id),
        partition: spec(partition),
        session_id: format!("s[{partition}]"),
        session_rows: 100,
        start,
        count,
        verify: false,
    }
}

fn ids(events: &[ReaderEvent]) -> Vec<i64> {
    events
        .iter()
        .filter_map(|e| match e {
            ReaderEvent::Batch { batch, .. } => Some(batch),
            _ => None,
        })
        .flat_map(|b| {
            let col = b.column(0).as_primitive::<Int64Type>();
            (0..col.len()).map(|i| col.value(i)).collect::<Vec<_>>()
        })
        .collect()
}

fn batch_ids(b: &RecordBatch) -> Vec<i64> {
    let col = b.column(0).as_primitive::<Int64Type>();
    (0..col.len()).map(|i| col.value(i)).collect()
}

#[test]
fn reads_a_split_in_chunks_with_backpressure() {
    let cols = data_columns();
    let mut h = H::new(config());
    h.r.add_split(split(7, "ds=1", 10, 10));
    let (t, r) = h.next();
    assert_eq!((r.method, r.service), (Method::Get, Service::Tunnel));
    assert_eq!(r.path, "/projects/p/tables/t");
    assert!(r.has_query("data"));
    assert!(!r.has_query("arrow"));
    assert_eq!(r.query_param("downloadid"), Some("s[ds=1]"));
    assert_eq!(r.query_param("partition"), Some("ds=1"));
    assert_eq!(r.query_param("rowrange"), Some("(10,4)"));
    assert_eq!(r.query_param("columns"), None);
    assert_eq!(r.headers.get(headers::ACCEPT_ENCODING), None);
    // Deliver the response, but poll only the first batch: no new request yet.
    h.r.handle_reply(t, Ok(data_response(&cols, 10, 4)), h.now);
    match h.poll_one() {
        Some(Output::Event(ReaderEvent::Batch { split, batch })) => {
            assert_eq!(split, SplitId(7));
            assert_eq!(batch_ids(&batch), vec![10, 11, 12]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.r.snapshot().splits[0].rows_read, 3);
    match h.poll_one() {
        Some(Output::Event(ReaderEvent::Batch { batch, .. })) => {
            assert_eq!(batch_ids(&batch), vec![13])
        }
        other => panic!("{other:?}"),
    }
    // Only now the next chunk is asked for.
    let (t, r) = h.next();
    assert_eq!(r.query_param("rowrange"), Some("(14,4)"));
    h.reply(t, data_response(&cols, 14, 4));
    let (t, r) = h.next();
    assert_eq!(r.query_param("rowrange"), Some("(18,2)"));
    h.reply(t, data_response(&cols, 18, 2));
    let evs = h.take();
    assert_eq!(ids(&evs), (14..20).collect::<Vec<_>>());
    assert_eq!(evs.last(), Some(&ReaderEvent::NeedSplit { reader: 0 }));
    assert!(evs.contains(&ReaderEvent::SplitFinished {
        split: SplitId(7),
        rows: 10
    }));
    assert!(h.r.snapshot().splits.is_empty());
    // NeedSplit is announced once; more splits are read in order; then Finished.
    h.drain();
    assert!(h.take().is_empty());
    h.r.add_split(split(8, "ds=2", 0, 2));
    h.r.add_split(split(9, "ds=3", 5, 1));
    h.r.no_more_splits();
    h.serve_reads(&cols);
    let evs = h.take();
    assert_eq!(ids(&evs), vec![0, 1, 5]);
    assert_eq!(evs.last(), Some(&ReaderEvent::Finished));
    assert!(h.r.is_finished());
    assert_eq!(h.r.poll(h.now), None);
}

#[test]
fn projection_renumbers_and_fills_partition_columns() {
    let mut c = config();
    c.schema = schema_with(&["ds", "hh"]);
    c.schema.partition_columns[1].ty = crate::types::OdpsType::BigInt;
    c.projection = Some(vec!["hh".into(), "name".into(), "DS".into(), "id".into()]);
    let mut h = H::new(c);
    assert_eq!(
        h.r.output_schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>(),
        vec!["hh", "name", "ds", "id"]
    );
    h.r.add_split(split(1, "ds=20240101,hh=07", 0, 2));
    let (t, r) = h.next();
    assert_eq!(r.query_param("columns"), Some("name,id"));
    let wire = vec![
        Column::new("name", crate::types::OdpsType::String),
        Column::new("id", crate::types::OdpsType::BigInt),
    ];
    h.reply(t, data_response(&wire, 0, 2));
    let evs = h.take();
    let ReaderEvent::Batch { batch, .. } = &evs[0] else {
        panic!("{evs:?}")
    };
    assert_eq!(batch.num_columns(), 4);
    assert_eq!(
        batch.column(0).as_primitive::<Int64Type>().values(),
        &[7, 7]
    );
    assert_eq!(batch.column(1).as_string::<i32>().value(1), "r1");
    assert_eq!(batch.column(2).as_string::<i32>().value(0), "20240101");
    assert_eq!(
        batch.column(3).as_primitive::<Int64Type>().values(),
        &[0, 1]
    );
    // Bad projections are configuration errors.
    for (p, msg) in [
        (vec!["nope"], "`nope` is not a column"),
        (vec!["id", "ID"], "projected twice"),
    ] {
        let mut c = config();
        c.projection = Some(p.into_iter().map(String::from).collect());
        let err = SplitReader::new(c, 0).unwrap_err().to_string();
        assert!(err.contains(msg), "{err}");
    }
}

#[test]
fn restore_resumes_at_the_exact_row() {
    let cols = data_columns();
    let mut h = H::new(config());
    h.r.add_split(split(3, "ds=1", 100, 10));
    h.r.add_split(split(4, "ds=1", 110, 5));
    let (t, _) = h.next();
    h.r.handle_reply(t, Ok(data_response(&cols, 100, 4)), h.now);
    // One batch (3 rows) delivered, one still queued when the snapshot is taken.
    let Some(Output::Event(first)) = h.poll_one() else {
        panic!()
    };
    let before = ids(&[first]);
    let state = h.r.snapshot();
    insta::assert_json_snapshot!("reader_state", state);
    assert_eq!(state.splits[0].rows_read, 3);

    let mut r = H::wrap(SplitReader::restore(config(), state).unwrap());
    // First the session is checked…
    let (t, req) = r.next();
    assert_eq!(req.method, Method::Get);
    assert!(!req.has_query("data"));
    assert_eq!(req.query_param("downloadid"), Some("s[ds=1]"));
    r.reply(t, ready_session("s[ds=1]", 100, &schema(true)));
    // …then reading goes on at row 103.
    let (t, req) = r.next();
    assert_eq!(req.query_param("rowrange"), Some("(103,4)"));
    r.reply(t, data_response(&cols, 103, 4));
    let (t, req) = r.next();
    assert_eq!(req.query_param("rowrange"), Some("(107,3)"));
    r.reply(t, data_response(&cols, 107, 3));
    // The second split is verified too, from its start.
    let (t, req) = r.next();
    assert!(req.has_query("downloadid") && !req.has_query("data"));
    r.reply(t, ready_session("s[ds=1]", 100, &schema(true)));
    r.serve_reads(&cols);
    let mut all = before;
    all.extend(ids(&r.take()));
    assert_eq!(all, (100..115).collect::<Vec<_>>());
}

#[test]
fn restore_detects_a_changed_or_expired_session() {
    let cols = data_columns();
    let s = schema(true);
    let state = ReaderState {
        version: 1,
        reader: 2,
        splits: vec![
            SplitProgress {
                split: split(1, "ds=1", 0, 10),
                rows_read: 4,
            },
            SplitProgress {
                split: split(2, "ds=2", 0, 3),
                rows_read: 0,
            },
            SplitProgress {
                split: split(3, "ds=3", 0, 3),
                rows_read: 3,
            },
        ],
    };
    let mut r = H::wrap(SplitReader::restore(config(), state.clone()).unwrap());
    assert_eq!(r.r.reader(), 2);
    let (t, _) = r.next();
    r.reply(t, ready_session("s[ds=1]", 101, &s));
    let evs = r.take();
    assert_eq!(
        evs[0],
        ReaderEvent::SessionLost(SessionLost {
            split: SplitId(1),
            partition: spec("ds=1"),
            session_id: "s[ds=1]".into(),
            rows_read: 4,
            reason: LostReason::RecordCountChanged {
                expected: 100,
                found: 101
            }
        })
    );
    // Next split: the session expired.
    let (t, _) = r.next();
    r.reply(t, session("s[ds=2]", SessionStatus::Expired, Some(100), &s));
    let evs = r.take();
    assert!(matches!(
        &evs[0],
        ReaderEvent::SessionLost(SessionLost {
            split: SplitId(2),
            reason: LostReason::Expired,
            ..
        })
    ));
    // A split that was completely read is reported finished without any request.
    assert!(evs.contains(&ReaderEvent::SplitFinished {
        split: SplitId(3),
        rows: 3
    }));
    assert!(r.sent.is_empty());
    let _ = cols;
    // A session that no longer exists.
    let mut r = H::wrap(SplitReader::restore(config(), state.clone()).unwrap());
    let (t, _) = r.next();
    r.reply(
        t,
        error(
            Service::Tunnel,
            404,
            "NoSuchDownload",
            "download id not found",
        ),
    );
    assert!(matches!(
        &r.take()[0],
        ReaderEvent::SessionLost(SessionLost {
            reason: LostReason::NotFound { .. },
            ..
        })
    ));
    // Bad snapshots.
    let mut bad = state.clone();
    bad.version = 2;
    assert!(SplitReader::restore(config(), bad).is_err());
    let mut bad = state;
    bad.splits[0].rows_read = 11;
    assert!(SplitReader::restore(config(), bad).is_err());
}

#[test]
fn errors_while_reading_lose_the_session_and_keep_what_was_read() {
    let cols = data_columns();
    for (resp, want) in [
        (
            error(Service::Tunnel, 412, "TableModified", "data changed"),
            "TableModified",
        ),
        (
            error(Service::Tunnel, 404, "NoSuchDownload", "gone"),
            "NotFound",
        ),
        (
            error(
                Service::Tunnel,
                400,
                "StatusConflict",
                "the download session is expired",
            ),
            "Expired",
        ),
    ] {
        let mut h = H::new(config());
        h.r.add_split(split(5, "ds=1", 0, 10));
        h.r.add_split(split(6, "ds=2", 0, 1));
        let (t, _) = h.next();
        h.reply(t, data_response(&cols, 0, 4));
        let (t, r) = h.next();
        assert_eq!(r.query_param("rowrange"), Some("(4,4)"));
        h.reply(t, resp);
        let evs = h.take();
        let lost = evs
            .iter()
            .find_map(|e| match e {
                ReaderEvent::SessionLost(l) => Some(l.clone()),
                _ => None,
            })
            .expect("lost");
        assert_eq!((lost.split, lost.rows_read), (SplitId(5), 4));
        assert!(
            format!("{:?}", lost.reason).starts_with(want),
            "{:?}",
            lost.reason
        );
        assert_eq!(ids(&evs), vec![0, 1, 2, 3]);
        // The reader goes on with the next split.
        let (_, r) = h.next();
        assert_eq!(r.query_param("partition"), Some("ds=2"));
    }
}

#[test]
fn retries_from_the_current_position() {
    let cols = data_columns();
    let mut h = H::new(config());
    h.r.add_split(split(1, "ds=1", 0, 8));
    let (t, _) = h.next();
    h.reply(t, data_response(&cols, 0, 4));
    let (t, _) = h.next();
    h.reply(t, error(Service::Tunnel, 503, "ServiceUnavailable", "busy"));
    assert_eq!(h.r.next_deadline(), Some(ms(1000)));
    h.advance_to(1000);
    let (t, r) = h.next();
    assert_eq!(r.query_param("rowrange"), Some("(4,4)"));
    h.r.handle_reply(t, Err(transport()), h.now);
    assert_eq!(h.r.next_deadline(), Some(ms(3000)));
    h.advance_to(3000);
    // A corrupt body is retried too.
    let (t, r) = h.next();
    assert_eq!(r.query_param("rowrange"), Some("(4,4)"));
    let mut body = data_response(&cols, 4, 4);
    let mut bytes = body.body.to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    body.body = bytes.into();
    h.reply(t, body);
    let due = h.r.next_deadline().expect("retry scheduled");
    h.advance_to(due.as_millis());
    let (t, r) = h.next();
    assert_eq!(r.query_param("rowrange"), Some("(4,4)"));
    h.reply(t, data_response(&cols, 4, 4));
    assert_eq!(ids(&h.take()), (0..8).collect::<Vec<_>>());

    // Throttling is retried without a limit.
    let mut h = H::new(config());
    h.r.add_split(split(1, "ds=1", 0, 1));
    for _ in 0..6 {
        let (t, _) = h.next();
        h.reply(t, error(Service::Tunnel, 429, "FlowExceeded", "slow"));
        let due = h.r.next_deadline().unwrap();
        h.advance_to(due.as_millis());
    }
    h.serve_reads(&cols);
    assert_eq!(ids(&h.take()), vec![0]);

    // Retries run out.
    let mut h = H::new(config());
    h.r.add_split(split(1, "ds=1", 0, 1));
    for _ in 0..3 {
        let (t, _) = h.next();
        h.reply(
            t,
            error(Service::Tunnel, 500, "InternalServerError", "boom"),
        );
        if let Some(due) = h.r.next_deadline() {
            h.advance_to(due.as_millis());
        }
    }
    let evs = h.take();
    let Some(ReaderEvent::Failed(err)) = evs.last() else {
        panic!("{evs:?}")
    };
    assert!(
        err.to_string().contains("read rows (0,1) of split-1"),
        "{err}"
    );
    assert!(h.r.is_failed());

    // Corrupt data every time: a decode error in the end.
    let mut h = H::new(config());
    h.r.add_split(split(1, "ds=1", 0, 2));
    for _ in 0..3 {
        let (t, _) = h.next();
        h.reply(t, Response::new(200, vec![0xffu8; 16]));
        if let Some(due) = h.r.next_deadline() {
            h.advance_to(due.as_millis());
        }
    }
    let evs = h.take();
    assert!(
        matches!(
            evs.last(),
            Some(ReaderEvent::Failed(SourceError::Decode {
                start: 0,
                end: 2,
                ..
            }))
        ),
        "{evs:?}"
    );
}

#[test]
fn short_and_long_responses() {
    let cols = data_columns();
    let mut h = H::new(config());
    h.r.add_split(split(1, "ds=1", 0, 8));
    let (t, _) = h.next();
    // Fewer rows than asked: the rest is asked for next.
    h.reply(t, data_response(&cols, 0, 2));
    let (t, r) = h.next();
    assert_eq!(r.query_param("rowrange"), Some("(2,4)"));
    // More rows than asked is a protocol violation.
    h.reply(t, data_response(&cols, 2, 5));
    let evs = h.take();
    assert!(
        matches!(
            evs.last(),
            Some(ReaderEvent::Failed(SourceError::Protocol(_)))
        ),
        "{evs:?}"
    );
}

#[test]
fn compressed_record_streams() {
    let cols = data_columns();
    for c in [
        Compression::Zlib,
        Compression::Snappy,
        Compression::Lz4Frame,
        Compression::Zstd,
    ] {
        let mut cfg = config();
        cfg.format = ReadFormat::Records { compression: c };
        let mut h = H::new(cfg);
        h.r.add_split(split(1, "ds=1", 0, 3));
        let (t, r) = h.next();
        assert_eq!(
            r.headers.get(headers::ACCEPT_ENCODING),
            c.content_encoding()
        );
        let plain = data_response(&cols, 0, 3);
        let body = compress(c, &plain.body).unwrap();
        let resp = Response::new(200, body)
            .with_header(headers::CONTENT_ENCODING, c.content_encoding().unwrap());
        h.reply(t, resp);
        assert_eq!(ids(&h.take()), vec![0, 1, 2], "{c}");
    }
    // The response's encoding decides, whatever was asked for.
    let mut h = H::new(config());
    h.r.add_split(split(1, "ds=1", 0, 3));
    let (t, _) = h.next();
    let body = compress(Compression::Zlib, &data_response(&cols, 0, 3).body).unwrap();
    h.reply(
        t,
        Response::new(200, body).with_header(headers::CONTENT_ENCODING, "deflate"),
    );
    assert_eq!(ids(&h.take()), vec![0, 1, 2]);
}

#[test]
fn arrow_reads_with_codecs() {
    let cols = data_columns();
    for (http, ipc) in [
        (Compression::Raw, Compression::Raw),
        (Compression::Zstd, Compression::Raw),
        (Compression::Lz4Frame, Compression::Raw),
        (Compression::Raw, Compression::Zstd),
        (Compression::Raw, Compression::Lz4Frame),
    ] {
        let mut cfg = config();
        cfg.format = ReadFormat::Arrow { codec: http };
        cfg.projection = Some(vec!["id".into(), "ds".into()]);
        cfg.chunk_rows = 100;
        let mut h = H::new(cfg);
        h.r.add_split(split(1, "ds=7", 0, 5));
        let (t, r) = h.next();
        assert!(r.has_query("arrow"));
        assert_eq!(r.query_param("columns"), Some("id"));
        assert_eq!(
            r.headers.get(headers::ACCEPT_ENCODING),
            http.arrow_content_encoding()
        );
        let wire = &cols[..1];
        let payload =
            encode_record_batches_with(&[rows(wire, 0, 2), rows(wire, 2, 3)], ipc).unwrap();
        let framed = frame(128, &payload).unwrap();
        let mut resp = Response::new(200, compress(http, &framed).unwrap());
        if let Some(enc) = http.arrow_content_encoding() {
            resp = resp.with_header(headers::CONTENT_ENCODING, enc);
        }
        h.reply(t, resp);
        let evs = h.take();
        assert_eq!(ids(&evs), vec![0, 1, 2, 3, 4], "{http} {ipc}");
        let ReaderEvent::Batch { batch, .. } = &evs[0] else {
            panic!()
        };
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "7");
        assert!(evs.contains(&ReaderEvent::SplitFinished {
            split: SplitId(1),
            rows: 5
        }));
    }
    // A bad frame CRC is a decode failure (retried).
    let mut cfg = config();
    cfg.format = ReadFormat::Arrow {
        codec: Compression::Raw,
    };
    let mut h = H::new(cfg);
    h.r.add_split(split(1, "ds=7", 0, 2));
    let (t, _) = h.next();
    let payload = encode_record_batches_with(&[rows(&cols, 0, 2)], Compression::Raw).unwrap();
    let mut framed = frame(64, &payload).unwrap();
    let last = framed.len() - 1;
    framed[last] ^= 1;
    h.reply(t, Response::new(200, framed));
    assert!(h.take().is_empty());
    assert!(h.r.next_deadline().is_some());
}

#[test]
fn restored_split_in_an_initiating_session_waits() {
    let s = schema(true);
    let state = ReaderState {
        version: 1,
        reader: 0,
        splits: vec![SplitProgress {
            split: split(1, "ds=1", 0, 2),
            rows_read: 1,
        }],
    };
    let mut r = H::wrap(SplitReader::restore(config(), state).unwrap());
    let (t, _) = r.next();
    r.reply(t, session("s[ds=1]", SessionStatus::Initiating, None, &s));
    assert_eq!(r.r.next_deadline(), Some(ms(100)));
    r.advance_to(100);
    let (t, _) = r.next();
    r.reply(t, session("s[ds=1]", SessionStatus::Initiating, None, &s));
    assert_eq!(r.r.next_deadline(), Some(ms(300)));
    r.advance_to(300);
    let (t, _) = r.next();
    r.reply(t, ready_session("s[ds=1]", 100, &s));
    let (t, req) = r.next();
    assert_eq!(req.query_param("rowrange"), Some("(1,1)"));
    r.reply(t, data_response(&data_columns(), 1, 1));
    assert_eq!(ids(&r.take()), vec![1]);
    let _ = PartitionSpec::new();
}
