//! The split reader: reads its splits through their download sessions in row-range requests
//! and emits Arrow record batches.
//!
//! # States and transitions
//!
//! The reader works on the first of its splits; the others wait in order.
//!
//! | state | input / time | next |
//! |---|---|---|
//! | idle (no split) | — | event `NeedSplit` once (dynamic assignment: the driver asks the enumerator) |
//! | idle | `add_split` | verifying (restored split) or reading |
//! | idle | `no_more_splits` | **finished** (event `Finished`) |
//! | verifying | session reloaded, `normal` with the split's `RecordCount` | reading |
//! | verifying | session `expired`, another `RecordCount`, not found | lost: event `SessionLost`, next split |
//! | reading | no batch undelivered | request rows `(position, min(chunk_rows, rest))` |
//! | reading | rows received and decoded | batches queued; the position moves as each `Batch` event is polled |
//! | reading | last batch of the split polled | event `SplitFinished`, next split |
//! | reading | `TableModified`, `NoSuchDownload`/404, expired | lost: event `SessionLost` (rows delivered so far stay delivered), next split |
//! | any request | transport error, 5xx, 408, throttling, undecodable body | retried with backoff from the current position ([`RetryPolicy`]; throttling without a limit) |
//! | any request | retries exhausted, other errors, more rows than asked for | **failed** (event `Failed`) |
//!
//! A snapshot holds each split with the rows *delivered* (polled as `Batch` events), so a
//! restore resumes at the exact next row: nothing skipped, nothing repeated. Restored splits
//! are verified against their session first (`modifiedTableOperation` then applies in the
//! enumerator).
//!
//! Requests for the next rows go out only once every batch of the previous response has been
//! polled, which bounds memory to one response and gives the engine backpressure.

use std::collections::VecDeque;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};

use crate::api::tunnel::{self, DownloadSession};
use crate::api::{ApiContext, ApiError, ErrorClass, SessionStatus, codes};
use crate::compress::Compression;
use crate::machine::{Instant, Output, Reply, RetryPolicy, Token};
use crate::options::{BugSwitches, SourceConfig};
use crate::types::TableSchema;

use super::decode::{PlanError, ReadFormat, ReadPlan};
use super::error::{RequestError, RestoreError, SourceError};
use super::requests::{Failure, InFlight, Requests, parse_reply, retry_delay};
use super::split::{LostReason, SessionLost, Split, SplitId};

/// Version of [`ReaderState`] written by this build.
pub const READER_STATE_VERSION: u32 = 1;

/// Default rows per read request: 64 Ki.
pub const DEFAULT_CHUNK_ROWS: u64 = 1 << 16;

/// Default rows per emitted batch (record stream; Arrow batches keep the server's sizes).
pub const DEFAULT_BATCH_ROWS: usize = 4096;

/// Default limit on one decompressed response body: 1 GiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 30;

/// How a reader reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ReaderConfig {
    /// Project, schema, quota, user agent.
    pub ctx: ApiContext,
    /// Table name.
    pub table: String,
    /// The table schema (from the enumerator's `TableDescribed`).
    pub schema: TableSchema,
    /// Columns to emit, in order: data columns (sent as `columns=`) and partition columns
    /// (filled from the split's partition). `None`: every data column.
    pub projection: Option<Vec<String>>,
    /// Record stream or Arrow, with the requested compression.
    pub format: ReadFormat,
    /// Rows per read request (at least 1).
    pub chunk_rows: u64,
    /// Rows per emitted batch for record streams (at least 1).
    pub batch_rows: usize,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Limit on one decompressed response body.
    pub max_body_bytes: usize,
    /// Test-only misbehaviour (all off by default; see [`BugSwitches`]).
    pub bug_switches: BugSwitches,
}

impl ReaderConfig {
    /// A configuration with the defaults: every data column, uncompressed record streams,
    /// [`DEFAULT_CHUNK_ROWS`], [`DEFAULT_BATCH_ROWS`], the SDK retry defaults.
    pub fn new(ctx: ApiContext, table: impl Into<String>, schema: TableSchema) -> Self {
        Self {
            ctx,
            table: table.into(),
            schema,
            projection: None,
            format: ReadFormat::Records {
                compression: Compression::Raw,
            },
            chunk_rows: DEFAULT_CHUNK_ROWS,
            batch_rows: DEFAULT_BATCH_ROWS,
            retry: RetryPolicy::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            bug_switches: BugSwitches::default(),
        }
    }

    /// A configuration from the source options: `useArrow` with `compressCodec`, or record
    /// streams with `compressAlgorithm`.
    pub fn from_source_config(
        config: &SourceConfig,
        schema: TableSchema,
        user_agent: &str,
    ) -> Self {
        let conn = &config.connection;
        let mut ctx = ApiContext::new(conn.project.clone(), user_agent);
        ctx.schema = conn.schema_name.clone();
        ctx.quota_name = conn.effective_quota_name().map(str::to_string);
        let mut c = Self::new(ctx, conn.table_name.clone(), schema);
        c.format = if config.use_arrow {
            ReadFormat::Arrow {
                codec: Compression::from_option_name(config.compress_codec.as_str())
                    .unwrap_or(Compression::Raw),
            }
        } else {
            ReadFormat::Records {
                compression: Compression::from_option_name(conn.compress_algorithm.as_str())
                    .unwrap_or(Compression::Raw),
            }
        };
        c
    }
}

/// What a reader tells its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum ReaderEvent {
    /// Rows of a split, in order.
    Batch {
        /// The split.
        split: SplitId,
        /// The rows.
        batch: RecordBatch,
    },
    /// Every row of the split was delivered (report it to the enumerator).
    SplitFinished {
        /// The split.
        split: SplitId,
        /// Rows in the split.
        rows: u64,
    },
    /// The split's session cannot be read any further (report it to the enumerator).
    SessionLost(SessionLost),
    /// The reader has nothing to read (dynamic assignment: ask the enumerator).
    NeedSplit {
        /// This reader.
        reader: u32,
    },
    /// No splits left and none coming.
    Finished,
    /// The reader cannot go on.
    Failed(SourceError),
}

/// A split and the rows of it delivered so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitProgress {
    /// The split.
    pub split: Split,
    /// Rows delivered (the next row is `split.start + rows_read`).
    pub rows_read: u64,
}

/// A reader's snapshot (serde; see [`READER_STATE_VERSION`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderState {
    /// Format version.
    pub version: u32,
    /// The reader's index.
    pub reader: u32,
    /// Its splits in reading order, the current one first.
    pub splits: Vec<SplitProgress>,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Verify {
        split: SplitId,
        polls: u32,
    },
    Read {
        split: SplitId,
        start: u64,
        count: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Finished,
    Failed,
}

/// The split reader machine (see the [module docs](self)).
#[derive(Debug)]
pub struct SplitReader {
    config: ReaderConfig,
    plan: ReadPlan,
    reader: u32,
    splits: VecDeque<SplitProgress>,
    requests: Requests<Kind>,
    events: VecDeque<ReaderEvent>,
    phase: Phase,
    no_more_splits: bool,
    asked_for_split: bool,
    /// Failed decodes of the current chunk.
    decode_failures: u32,
}

impl SplitReader {
    /// A reader with index `reader` (its position among the source's readers).
    pub fn new(config: ReaderConfig, reader: u32) -> Result<Self, SourceError> {
        let mut config = config;
        config.chunk_rows = config.chunk_rows.max(1);
        config.batch_rows = config.batch_rows.max(1);
        let plan = ReadPlan::new(&config.schema, config.projection.as_deref()).map_err(
            |e: PlanError| SourceError::Config(format!("table `{}`: {e}", config.table)),
        )?;
        Ok(Self {
            config,
            plan,
            reader,
            splits: VecDeque::new(),
            requests: Requests::default(),
            events: VecDeque::new(),
            phase: Phase::Running,
            no_more_splits: false,
            asked_for_split: false,
            decode_failures: 0,
        })
    }

    /// A reader resumed from a snapshot: it goes on at the exact next row of each split,
    /// after checking the split's session.
    pub fn restore(config: ReaderConfig, state: ReaderState) -> Result<Self, SourceError> {
        if state.version != READER_STATE_VERSION {
            return Err(SourceError::Config(
                RestoreError::Version {
                    what: "reader",
                    found: state.version,
                    supported: READER_STATE_VERSION,
                }
                .to_string(),
            ));
        }
        let late = config.bug_switches.reader_restores_one_row_late;
        let mut r = Self::new(config, state.reader)?;
        for mut p in state.splits {
            if p.rows_read > p.split.count {
                return Err(SourceError::Config(
                    RestoreError::Mismatch(format!(
                        "{} has {} rows but the snapshot says {} were read",
                        p.split.id, p.split.count, p.rows_read
                    ))
                    .to_string(),
                ));
            }
            p.split.verify = p.rows_read < p.split.count;
            if late && r.splits.is_empty() && p.rows_read < p.split.count {
                p.rows_read += 1;
            }
            r.splits.push_back(p);
        }
        Ok(r)
    }

    /// The snapshot: each split with the rows delivered so far.
    pub fn snapshot(&self) -> ReaderState {
        ReaderState {
            version: READER_STATE_VERSION,
            reader: self.reader,
            splits: self.splits.iter().cloned().collect(),
        }
    }

    /// This reader's index.
    pub fn reader(&self) -> u32 {
        self.reader
    }

    /// The schema of the emitted batches.
    pub fn output_schema(&self) -> &SchemaRef {
        self.plan.output_schema()
    }

    /// True once every split was read and no more will come.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// True once the reader failed.
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    /// Splits held (the current one first) with their progress.
    pub fn splits(&self) -> impl Iterator<Item = &SplitProgress> {
        self.splits.iter()
    }

    /// Adds a split to read after the ones held.
    pub fn add_split(&mut self, split: Split) {
        if self.phase == Phase::Failed {
            return;
        }
        self.asked_for_split = false;
        if self.phase == Phase::Finished {
            self.phase = Phase::Running;
        }
        self.splits.push_back(SplitProgress {
            split,
            rows_read: 0,
        });
    }

    /// No more splits will be added.
    pub fn no_more_splits(&mut self) {
        self.no_more_splits = true;
    }

    /// When to call [`poll`](Self::poll) again without input (a retry's time).
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.phase != Phase::Running {
            return None;
        }
        self.requests.next_deadline()
    }

    /// The next event or request.
    pub fn poll(&mut self, now: Instant) -> Option<Output<ReaderEvent>> {
        if let Some(ev) = self.events.pop_front() {
            self.delivered(&ev);
            return Some(Output::Event(ev));
        }
        if self.phase != Phase::Running {
            return None;
        }
        if self.requests.is_idle() {
            self.next_step();
            if let Some(ev) = self.events.pop_front() {
                self.delivered(&ev);
                return Some(Output::Event(ev));
            }
        }
        self.requests
            .poll_send(now)
            .map(|(token, request)| Output::Send { token, request })
    }

    /// Feeds the reply to a request sent under `token`.
    pub fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        let Some(entry) = self.requests.take(token) else {
            return;
        };
        match entry.kind.clone() {
            Kind::Verify { split, polls } => {
                match parse_reply(reply, tunnel::parse_download_session) {
                    Ok(s) => self.on_verified(split, polls, s, now),
                    Err(f) => self.on_failure(entry, f, now),
                }
            }
            Kind::Read {
                split,
                start,
                count,
            } => match parse_reply(reply, tunnel::parse_data) {
                Ok(body) => self.on_data(entry, split, start, count, body, now),
                Err(f) => self.on_failure(entry, f, now),
            },
        }
    }

    // ---- internals ----------------------------------------------------------------------

    /// Applies an event's effect on the position when it leaves the machine.
    fn delivered(&mut self, ev: &ReaderEvent) {
        match ev {
            ReaderEvent::Batch { split, batch } => {
                if let Some(front) = self.splits.front_mut()
                    && front.split.id == *split
                {
                    front.rows_read = front.rows_read.saturating_add(batch.num_rows() as u64);
                }
            }
            ReaderEvent::SplitFinished { split, .. }
                if self.splits.front().is_some_and(|s| s.split.id == *split) =>
            {
                self.splits.pop_front();
            }
            ReaderEvent::SessionLost(lost)
                if self
                    .splits
                    .front()
                    .is_some_and(|s| s.split.id == lost.split) =>
            {
                self.splits.pop_front();
            }
            _ => {}
        }
    }

    /// Decides what to do when nothing is in flight and nothing is queued.
    fn next_step(&mut self) {
        let Some(front) = self.splits.front() else {
            if self.no_more_splits {
                self.phase = Phase::Finished;
                self.events.push_back(ReaderEvent::Finished);
            } else if !self.asked_for_split {
                self.asked_for_split = true;
                self.events.push_back(ReaderEvent::NeedSplit {
                    reader: self.reader,
                });
            }
            return;
        };
        let split = &front.split;
        if front.rows_read >= split.count {
            self.events.push_back(ReaderEvent::SplitFinished {
                split: split.id,
                rows: split.count,
            });
            return;
        }
        if split.verify {
            let req = tunnel::get_download(
                &self.config.ctx,
                &self.config.table,
                &split.partition,
                &split.session_id,
            );
            self.requests.send(
                Kind::Verify {
                    split: split.id,
                    polls: 0,
                },
                req,
            );
            return;
        }
        let start = split.start + front.rows_read;
        let count = (split.count - front.rows_read).min(self.config.chunk_rows);
        let range = self
            .plan
            .range(&split.partition, start, count, self.config.format);
        let req = tunnel::read_rows(
            &self.config.ctx,
            &self.config.table,
            &split.session_id,
            &range,
        );
        self.requests.send(
            Kind::Read {
                split: split.id,
                start,
                count,
            },
            req,
        );
    }

    fn current(&self, id: SplitId) -> Option<&SplitProgress> {
        self.splits.front().filter(|s| s.split.id == id)
    }

    fn fail(&mut self, error: SourceError) {
        self.phase = Phase::Failed;
        self.requests.clear();
        self.events.push_back(ReaderEvent::Failed(error));
    }

    fn lose(&mut self, id: SplitId, reason: LostReason) {
        let Some(p) = self.current(id) else {
            return;
        };
        let lost = SessionLost {
            split: id,
            partition: p.split.partition.clone(),
            session_id: p.split.session_id.clone(),
            rows_read: p.rows_read,
            reason,
        };
        self.requests.clear();
        self.decode_failures = 0;
        self.events.push_back(ReaderEvent::SessionLost(lost));
    }

    fn on_verified(&mut self, id: SplitId, polls: u32, s: DownloadSession, now: Instant) {
        let Some(p) = self.current(id) else {
            return;
        };
        let expected = p.split.session_rows;
        match s.status {
            SessionStatus::Expired => self.lose(id, LostReason::Expired),
            SessionStatus::Initiating => {
                let polls = polls.saturating_add(1);
                // 0.1 s doubling up to 5 s, as the enumerator polls new sessions.
                let shift = polls.saturating_sub(1).min(6);
                let delay = Duration::from_millis((100u64 << shift).min(5_000));
                let req = tunnel::get_download(
                    &self.config.ctx,
                    &self.config.table,
                    &p.split.partition,
                    &p.split.session_id,
                );
                self.requests
                    .send_at(now.plus(delay), Kind::Verify { split: id, polls }, req);
            }
            SessionStatus::Normal | SessionStatus::Unknown => match s.record_count {
                Some(found) if found != expected => {
                    self.lose(id, LostReason::RecordCountChanged { expected, found })
                }
                _ => {
                    if let Some(front) = self.splits.front_mut() {
                        front.split.verify = false;
                    }
                }
            },
            other => self.lose(
                id,
                LostReason::NotFound {
                    detail: format!("session status {other}"),
                },
            ),
        }
    }

    fn on_data(
        &mut self,
        entry: InFlight<Kind>,
        id: SplitId,
        start: u64,
        count: u64,
        body: tunnel::DataBody,
        now: Instant,
    ) {
        let Some(p) = self.current(id) else {
            return;
        };
        let partition = p.split.partition.clone();
        let split_count = p.split.count;
        let read_before = p.rows_read;
        let decoded = self.plan.decode(
            &body,
            self.config.format,
            &partition,
            self.config.batch_rows,
            self.config.max_body_bytes,
        );
        let batches = match decoded {
            Ok(b) if b.iter().map(|b| b.num_rows() as u64).sum::<u64>() > 0 => b,
            Ok(_) => {
                return self.on_decode_failure(
                    entry,
                    id,
                    start,
                    count,
                    "no rows in the response".into(),
                    now,
                );
            }
            Err(e) => return self.on_decode_failure(entry, id, start, count, e.0, now),
        };
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        if rows > count {
            return self.fail(SourceError::Protocol(format!(
                "asked for {count} rows from row {start} of download session {} but got {rows}",
                entry.request.query_param("downloadid").unwrap_or_default()
            )));
        }
        self.decode_failures = 0;
        for batch in batches {
            self.events
                .push_back(ReaderEvent::Batch { split: id, batch });
        }
        if read_before + rows >= split_count {
            self.events.push_back(ReaderEvent::SplitFinished {
                split: id,
                rows: split_count,
            });
        }
    }

    fn on_decode_failure(
        &mut self,
        entry: InFlight<Kind>,
        id: SplitId,
        start: u64,
        count: u64,
        error: String,
        now: Instant,
    ) {
        self.decode_failures = self.decode_failures.saturating_add(1);
        match self.config.retry.retryable(self.decode_failures, None) {
            crate::machine::RetryDecision::RetryAfter(d)
            | crate::machine::RetryDecision::ReloadThenRetry(d) => {
                self.requests.retry_at(now.plus(d), entry);
            }
            crate::machine::RetryDecision::GiveUp => self.fail(SourceError::Decode {
                split: id,
                start,
                end: start + count,
                error,
            }),
        }
    }

    fn on_failure(&mut self, entry: InFlight<Kind>, failure: Failure, now: Instant) {
        let id = match entry.kind {
            Kind::Verify { split, .. } | Kind::Read { split, .. } => split,
        };
        if let Failure::Api(e) = &failure
            && let Some(reason) = lost_reason(e)
        {
            return self.lose(id, reason);
        }
        let attempt = entry.failures.saturating_add(1);
        if let Some(delay) = retry_delay(&self.config.retry, &failure, attempt) {
            self.requests.retry_at(now.plus(delay), entry);
            return;
        }
        let operation = match &entry.kind {
            Kind::Verify { .. } => format!("reload download session for {id}"),
            Kind::Read { start, count, .. } => {
                format!(
                    "read rows ({start},{count}) of {id} of table `{}`",
                    self.config.table
                )
            }
        };
        self.fail(SourceError::Request {
            operation,
            error: Box::new(RequestError::from(failure)),
        });
    }
}

/// The errors meaning "this session cannot be read any further".
fn lost_reason(e: &ApiError) -> Option<LostReason> {
    let detail = || format!("{}: {}", e.code, e.message);
    if e.code == codes::TABLE_MODIFIED || e.code == codes::SCHEMA_MODIFIED {
        return Some(LostReason::TableModified { detail: detail() });
    }
    let lower = format!("{} {}", e.code, e.message).to_ascii_lowercase();
    if lower.contains("expired") {
        return Some(LostReason::Expired);
    }
    if e.class == ErrorClass::NotFound {
        return Some(LostReason::NotFound { detail: detail() });
    }
    None
}

impl crate::machine::Machine for SplitReader {
    type Event = ReaderEvent;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        SplitReader::handle_reply(self, token, reply, now)
    }

    fn poll(&mut self, now: Instant) -> Option<Output<ReaderEvent>> {
        SplitReader::poll(self, now)
    }

    fn next_deadline(&self) -> Option<Instant> {
        SplitReader::next_deadline(self)
    }
}
