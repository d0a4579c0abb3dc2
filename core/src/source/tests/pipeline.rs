//! The enumerator and its readers driven together against a fake server, with requests
//! answered in a shuffled order, and checkpoint/restore at arbitrary points.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use proptest::prelude::*;

use super::support::*;
use crate::api::ApiContext;
use crate::codec::encode_batches;
use crate::http::{Request, Response, Service};
use crate::machine::{Instant, Output, RetryPolicy, Token};
use crate::partition::PartitionPattern;
use crate::source::*;
use crate::types::{Column, TableSchema, arrow::columns_to_arrow};

/// A deterministic shuffler for the test (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Partition `ds=k` has `rows[k]` rows with ids `k * 1000 + i`.
struct Server {
    schema: TableSchema,
    rows: Vec<u64>,
}

impl Server {
    fn batch(&self, k: usize, start: u64, n: u64) -> RecordBatch {
        let cols: Vec<Column> = self.schema.columns.clone();
        let ids: Vec<i64> = (start..start + n)
            .map(|i| (k as i64) * 1000 + i as i64)
            .collect();
        let names: Vec<String> = ids.iter().map(|i| format!("r{i}")).collect();
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
        ];
        RecordBatch::try_new(columns_to_arrow(&cols), arrays).unwrap()
    }

    fn answer(&self, r: &Request) -> Response {
        let part = r
            .query_param("partition")
            .map(|p| p.trim_start_matches("ds=").parse::<usize>().unwrap());
        if r.has_query("partitions") {
            let names: Vec<String> = (0..self.rows.len()).map(|k| format!("ds={k}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            listing(&refs, None)
        } else if r.has_query("data") {
            let k = part.unwrap();
            let (start, count) = row_range(r);
            let body =
                encode_batches(&self.schema.columns, &[self.batch(k, start, count)]).unwrap();
            Response::new(200, body)
        } else if r.has_query("downloads") || r.has_query("downloadid") {
            let k = part.unwrap();
            ready_session(&format!("s{k}"), self.rows[k], &self.schema)
        } else {
            table_response(&self.schema)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Enumerator,
    Reader(u32),
}

struct Run {
    e: SplitEnumerator,
    readers: Vec<SplitReader>,
    pending: Vec<(Who, Token, Request)>,
    ids: Vec<i64>,
    per_reader: BTreeMap<u32, u64>,
    reader_config: Option<ReaderConfig>,
    chunk_rows: u64,
    nreaders: u32,
}

impl Run {
    fn reader_config(&self, schema: TableSchema) -> ReaderConfig {
        let mut c = ReaderConfig::new(ApiContext::new("p", "test"), "t", schema);
        c.chunk_rows = self.chunk_rows;
        c.batch_rows = 5;
        c.retry = RetryPolicy::from_options(20, 10);
        c
    }

    /// Polls every machine until none has output.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(out) = self.e.poll(now) {
                progressed = true;
                match out {
                    Output::Send { token, request } => {
                        self.pending.push((Who::Enumerator, token, request))
                    }
                    Output::Event(ev) => match ev {
                        EnumeratorEvent::TableDescribed { schema } if self.readers.is_empty() => {
                            let c = self.reader_config(schema);
                            self.reader_config = Some(c.clone());
                            self.readers = (0..self.nreaders)
                                .map(|i| SplitReader::new(c.clone(), i).unwrap())
                                .collect();
                        }
                        EnumeratorEvent::Assign { reader, split } => {
                            self.readers[reader as usize].add_split(split)
                        }
                        EnumeratorEvent::NoMoreSplits { reader } => {
                            self.readers[reader as usize].no_more_splits()
                        }
                        EnumeratorEvent::Failed(e) => panic!("enumerator failed: {e}"),
                        _ => {}
                    },
                }
            }
            for i in 0..self.readers.len() {
                while let Some(out) = self.readers[i].poll(now) {
                    progressed = true;
                    match out {
                        Output::Send { token, request } => {
                            self.pending.push((Who::Reader(i as u32), token, request))
                        }
                        Output::Event(ev) => match ev {
                            ReaderEvent::Batch { batch, .. } => {
                                let c = batch.column(0).as_primitive::<Int64Type>();
                                self.ids.extend((0..batch.num_rows()).map(|j| c.value(j)));
                                *self.per_reader.entry(i as u32).or_default() +=
                                    batch.num_rows() as u64;
                            }
                            ReaderEvent::SplitFinished { split, .. } => {
                                self.e.split_finished(split)
                            }
                            ReaderEvent::SessionLost(l) => self.e.session_lost(l),
                            ReaderEvent::NeedSplit { reader } => self.e.request_split(reader),
                            ReaderEvent::Failed(e) => panic!("reader failed: {e}"),
                            ReaderEvent::Finished => {}
                        },
                    }
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.readers
            .iter()
            .filter_map(|r| r.next_deadline())
            .chain(self.e.next_deadline())
            .min()
    }

    /// Answers one pending request (chosen by `rng`), moving the clock to the next deadline
    /// when nothing is pending; false when nothing is left to do. With `faults`, some
    /// replies are server errors, lost responses or corrupt bodies.
    fn step(&mut self, server: &Server, rng: &mut Rng, now: &mut Instant, faults: bool) -> bool {
        self.drain(*now);
        if self.pending.is_empty() {
            match self.next_deadline() {
                Some(t) => {
                    *now = t.max(*now);
                    self.drain(*now);
                }
                None => return false,
            }
        }
        if self.pending.is_empty() {
            return true;
        }
        let (who, token, req) = self.pending.swap_remove(rng.below(self.pending.len()));
        let reply = match (faults, rng.below(10)) {
            (true, 0) => Ok(error(Service::Tunnel, 503, "ServiceUnavailable", "busy")),
            (true, 1) => Err(transport()),
            (true, 2) if req.has_query("data") => {
                let mut resp = server.answer(&req);
                let mut body = resp.body.to_vec();
                let n = body.len();
                body[n / 2] ^= 0x21;
                resp.body = body.into();
                Ok(resp)
            }
            _ => Ok(server.answer(&req)),
        };
        match who {
            Who::Enumerator => self.e.handle_reply(token, reply, *now),
            Who::Reader(i) => self.readers[i as usize].handle_reply(token, reply, *now),
        }
        self.drain(*now);
        true
    }

    fn done(&self) -> bool {
        self.e.is_finished() && self.readers.iter().all(|r| r.is_finished())
    }
}

fn enumerator_config(readers: u32, dynamic: bool, split_rows: u64) -> EnumeratorConfig {
    EnumeratorConfig {
        ctx: ApiContext::new("p", "test"),
        table: "t".into(),
        mode: EnumerationMode::Full {
            partition: Some(PartitionPattern::parse("ds=*").unwrap()),
            max_partitions: 100,
        },
        sizing: SplitSizing::Rows(split_rows),
        projection: None,
        readers,
        assignment: if dynamic {
            Assignment::Dynamic
        } else {
            Assignment::Fixed
        },
        retry: RetryPolicy::from_options(20, 10),
        page_size: None,
        session_concurrency: 3,
        async_sessions: true,
    }
}

fn new_run(readers: u32, dynamic: bool, split_rows: u64, chunk_rows: u64) -> Run {
    Run {
        e: SplitEnumerator::new(enumerator_config(readers, dynamic, split_rows)),
        readers: Vec::new(),
        pending: Vec::new(),
        ids: Vec::new(),
        per_reader: BTreeMap::new(),
        reader_config: None,
        chunk_rows,
        nreaders: readers,
    }
}

fn expected(server: &Server) -> Vec<i64> {
    let mut all: Vec<i64> = server
        .rows
        .iter()
        .enumerate()
        .flat_map(|(k, n)| (0..*n).map(move |i| k as i64 * 1000 + i as i64))
        .collect();
    all.sort_unstable();
    all
}

#[test]
fn dynamic_load_balance_spreads_splits_over_readers() {
    let server = Server {
        schema: schema(true),
        rows: vec![40, 0, 25, 7, 60],
    };
    let mut run = new_run(3, true, 10, 4);
    let mut rng = Rng(42);
    let mut now = Instant::ZERO;
    while run.step(&server, &mut rng, &mut now, false) {}
    assert!(run.done());
    let mut ids = run.ids.clone();
    ids.sort_unstable();
    assert_eq!(ids, expected(&server));
    // Every reader did a share of the work.
    assert_eq!(run.per_reader.len(), 3, "{:?}", run.per_reader);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the order of replies, the reader count, the split and chunk sizes, and the
    /// moment of a checkpoint, every row is delivered exactly once across the restore.
    #[test]
    fn checkpoint_anywhere_delivers_every_row_once(
        rows in proptest::collection::vec(0u64..40, 1..5),
        readers in 1u32..4,
        dynamic in any::<bool>(),
        split_rows in 1u64..20,
        chunk_rows in 1u64..9,
        seed in 1u64..u64::MAX,
        checkpoint_after in 0usize..80,
        faults in any::<bool>(),
    ) {
        let server = Server { schema: schema(true), rows };
        let mut rng = Rng(seed);
        let mut now = Instant::ZERO;
        let mut run = new_run(readers, dynamic, split_rows, chunk_rows);
        let mut steps = 0;
        while steps < checkpoint_after && run.step(&server, &mut rng, &mut now, faults) {
            steps += 1;
        }
        run.drain(now);
        // Checkpoint: the enumerator's and readers' snapshots, as an engine stores them.
        let e_state = run.e.snapshot();
        let r_states: Vec<ReaderState> = run.readers.iter().map(|r| r.snapshot()).collect();
        let delivered_before = run.ids.clone();
        let reader_config = run.reader_config.clone();
        // Restore into new machines; in-flight requests are lost.
        let mut restored = new_run(readers, dynamic, split_rows, chunk_rows);
        restored.e = SplitEnumerator::restore(
            enumerator_config(readers, dynamic, split_rows),
            serde_json::from_str(&serde_json::to_string(&e_state).unwrap()).unwrap(),
        )
        .unwrap();
        if let Some(c) = reader_config {
            restored.readers = r_states
                .into_iter()
                .map(|s| {
                    let s: ReaderState =
                        serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
                    SplitReader::restore(c.clone(), s).unwrap()
                })
                .collect();
        }
        let mut guard = 0;
        while restored.step(&server, &mut rng, &mut now, faults) {
            guard += 1;
            prop_assert!(guard < 100_000, "no progress");
        }
        prop_assert!(restored.done());
        let mut all = delivered_before;
        all.extend(restored.ids);
        all.sort_unstable();
        prop_assert_eq!(all, expected(&server));
    }
}
