//! The split enumerator: finds the partitions to read, opens a download session per
//! partition, cuts the sessions into splits and hands them to readers.
//!
//! # States and transitions
//!
//! The enumerator runs several activities side by side; each has its own small state.
//!
//! | activity | state | input / time | next |
//! |---|---|---|---|
//! | table | describing | table response | described (event `TableDescribed`); partition options validated |
//! | table | describing | error (after retries) | **failed** |
//! | listing | idle | described; or (incremental) `now ≥ next_listing` | listing page 1 |
//! | listing | page *n* | page with a marker | page *n+1* |
//! | listing | page *n* | last page, full mode | resolved: matches queued for sessions, or **failed** (`maxPartitionCount`, nothing matches) |
//! | listing | page *n* | last page, incremental | idle, `next_listing = now + subscribeIntervalInSec`; new partitions ≥ `startPartition` queued in order |
//! | listing | page *n* | error after retries, incremental | idle until the next interval (event `ListingFailed`) |
//! | partition | queued | a session slot is free (at most `session_concurrency` in flight) | creating |
//! | partition | creating | session `initiating` | polling the session (backoff 0.1 s doubling to 5 s) |
//! | partition | creating | session ready | ready, released in queue order: splits made, partition **reading** (or **done** if empty) |
//! | partition | creating | not found | `modifiedTableOperation` (below) |
//! | partition | reading | every split reported finished | **done** (event `PartitionFinished`) |
//! | partition | reading | a reader reports the session lost | SKIP: **skipped**, its unassigned splits dropped (event `PartitionSkipped`); NONE or full mode: **failed** naming the partition |
//! | splits | pending | fixed assignment | assigned round-robin to readers 0..N (event `Assign`) |
//! | splits | pending | dynamic: `request_split(reader)` | assigned to that reader, or the reader waits |
//! | source | full, everything resolved, assigned and finished | | **finished** (events `NoMoreSplits`, `Finished`) |
//!
//! An incremental source never finishes. Each listing queues the partitions ≥
//! `startPartition` it has not seen before, in partition order; a partition that appears
//! late but sorts before partitions already read is still read. Partitions that are done or
//! skipped and no longer appear in a listing are forgotten, so the state stays as large as
//! the table's live partitions. `maxPartitionCount` limits full sources only.
//!
//! Full sources (and `modifiedTableOperation = NONE`) fail when a session cannot be resumed;
//! a full source without a `partition` option reads every partition of a partitioned table,
//! or the whole table when it has no partitions. A spec or `max_pt()` that matches nothing is
//! an error; a wildcard that matches nothing reads nothing.
//!
//! # Driving
//!
//! ```text
//! loop {
//!     while let Some(out) = enumerator.poll(now) { Send → transport, Event → readers / engine }
//!     wait for a reply or enumerator.next_deadline()
//!     enumerator.handle_reply(token, reply, now)
//!     // from readers: split_finished, session_lost, request_split
//! }
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::rest::{self, ListPartitions, PartitionInfo};
use crate::api::tunnel::{self, DownloadOptions, DownloadSession};
use crate::api::{ApiContext, ErrorClass, SessionStatus};
use crate::machine::{Instant, Output, Reply, RetryPolicy, Token};
use crate::options::{ModifiedTableOperation, SourceConfig, SourceMode};
use crate::partition::{PartitionPattern, PartitionSpec, SpecCoverage, StartPartition};
use crate::types::{Column, TableSchema};

use super::error::{Advice, RequestError, RestoreError, SourceError};
use super::requests::{Failure, InFlight, Requests, parse_reply, retry_delay};
use super::split::{
    DEFAULT_SPLIT_ROWS, LostReason, SessionLost, Split, SplitId, SplitSizing, rows_per_split,
    split_ranges,
};

/// Version of [`EnumeratorState`] written by this build.
pub const ENUMERATOR_STATE_VERSION: u32 = 1;

/// Most pages one listing may have (a guard against a server that never ends a listing).
pub const MAX_LISTING_PAGES: u32 = 100_000;

/// Most status polls of one `initiating` download session.
pub const MAX_SESSION_POLLS: u32 = 1_000;

/// Which partitions to read, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnumerationMode {
    /// Read the matching partitions once, then finish.
    Full {
        /// `partition` (`None`: the whole table, every partition).
        partition: Option<PartitionPattern>,
        /// `maxPartitionCount`.
        max_partitions: u32,
    },
    /// Read partitions at or after `startPartition` and poll for new ones.
    Incremental {
        /// `startPartition`.
        start: StartPartition,
        /// `subscribeIntervalInSec`.
        interval: Duration,
        /// `modifiedTableOperation`.
        on_modified: ModifiedTableOperation,
    },
}

/// How splits reach readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Assignment {
    /// Round-robin over the readers, pushed as soon as splits exist.
    Fixed,
    /// Readers pull from a shared queue with [`SplitEnumerator::request_split`]
    /// (`dynamicLoadBalance`).
    Dynamic,
}

/// Everything the enumerator needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumeratorConfig {
    /// Project, schema, quota, user agent.
    pub ctx: ApiContext,
    /// Table name.
    pub table: String,
    /// Full or incremental.
    pub mode: EnumerationMode,
    /// Split size.
    pub sizing: SplitSizing,
    /// Columns read (for the Arrow split-size estimate); `None` = all data columns.
    pub projection: Option<Vec<String>>,
    /// Number of readers (at least 1).
    pub readers: u32,
    /// Fixed or dynamic assignment.
    pub assignment: Assignment,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// `maxitems` of partition listing pages (`None`: the server's default).
    pub page_size: Option<u32>,
    /// Download sessions created at the same time (at least 1). Splits are still released in
    /// partition order.
    pub session_concurrency: usize,
    /// Create download sessions with `asyncmode=true` (the server may answer `initiating`).
    pub async_sessions: bool,
}

impl EnumeratorConfig {
    /// A configuration from the source options: `partition`/`startPartition` parsed,
    /// `useArrow` → byte-sized splits of `splitSize`, otherwise [`DEFAULT_SPLIT_ROWS`] rows;
    /// `dynamicLoadBalance` → dynamic assignment; retries with the SDK defaults.
    pub fn from_source_config(
        config: &SourceConfig,
        readers: u32,
        user_agent: &str,
    ) -> Result<Self, SourceError> {
        let conn = &config.connection;
        let table = conn.table_name.clone();
        let invalid = |error| SourceError::InvalidPartition {
            table: table.clone(),
            error,
        };
        let mode = match &config.mode {
            SourceMode::Full => EnumerationMode::Full {
                partition: match conn.partition.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(p) => Some(PartitionPattern::parse(p).map_err(invalid)?),
                },
                max_partitions: config.max_partition_count,
            },
            SourceMode::Incremental(inc) => EnumerationMode::Incremental {
                start: StartPartition::parse(&inc.start_partition).map_err(invalid)?,
                interval: inc.subscribe_interval,
                on_modified: inc.modified_table_operation,
            },
        };
        let mut ctx = ApiContext::new(conn.project.clone(), user_agent);
        ctx.schema = conn.schema_name.clone();
        ctx.quota_name = conn.effective_quota_name().map(str::to_string);
        Ok(Self {
            ctx,
            table,
            mode,
            sizing: if config.use_arrow {
                SplitSizing::Bytes(config.split_size.as_bytes())
            } else {
                SplitSizing::Rows(DEFAULT_SPLIT_ROWS)
            },
            projection: None,
            readers: readers.max(1),
            assignment: if config.dynamic_load_balance {
                Assignment::Dynamic
            } else {
                Assignment::Fixed
            },
            retry: RetryPolicy::default(),
            page_size: None,
            session_concurrency: 4,
            async_sessions: true,
        })
    }
}

/// What the enumerator tells its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum EnumeratorEvent {
    /// The table's schema (readers are built from it).
    TableDescribed {
        /// The schema.
        schema: TableSchema,
    },
    /// New partitions to read, in reading order.
    PartitionsDiscovered {
        /// The partitions.
        partitions: Vec<PartitionSpec>,
    },
    /// A download session is ready and cut into splits.
    SessionReady {
        /// The partition.
        partition: PartitionSpec,
        /// The session.
        session_id: String,
        /// Its `RecordCount`.
        record_count: u64,
        /// Splits made from it.
        splits: usize,
    },
    /// Give `split` to `reader`.
    Assign {
        /// Reader index.
        reader: u32,
        /// The split.
        split: Split,
    },
    /// `reader` will get no more splits.
    NoMoreSplits {
        /// Reader index.
        reader: u32,
    },
    /// Every split of a partition was read.
    PartitionFinished {
        /// The partition.
        partition: PartitionSpec,
    },
    /// A partition was skipped (`modifiedTableOperation = SKIP`): rows already read stay,
    /// unread rows are dropped.
    PartitionSkipped {
        /// The partition.
        partition: PartitionSpec,
        /// Why.
        reason: LostReason,
    },
    /// An incremental listing failed after its retries; the next one runs at the next interval.
    ListingFailed {
        /// The failure.
        error: String,
    },
    /// Every split of a full source was read.
    Finished,
    /// The source cannot go on.
    Failed(SourceError),
}

/// Progress of one partition (in [`EnumeratorState`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PartitionStatus {
    /// Waiting for its download session.
    Queued,
    /// Its session exists and its splits are being read.
    Reading {
        /// The session.
        session_id: String,
        /// Its `RecordCount`.
        record_count: u64,
        /// Splits made.
        splits_total: u64,
        /// Splits reported finished (or lost).
        splits_done: u64,
    },
    /// Every split was read.
    Done,
    /// Skipped under `modifiedTableOperation = SKIP`.
    Skipped {
        /// Why.
        reason: LostReason,
    },
}

/// One partition and its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionProgress {
    /// The partition.
    pub partition: PartitionSpec,
    /// Its progress.
    #[serde(flatten)]
    pub status: PartitionStatus,
}

/// A split held by a reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedSplit {
    /// The reader.
    pub reader: u32,
    /// The split.
    pub split: Split,
}

/// The enumerator's snapshot (serde; see [`ENUMERATOR_STATE_VERSION`]).
///
/// Requests in flight are not part of it: after a restore, listings and session creations
/// that were under way start again, and every split is checked against its session before
/// it is read (`Split::verify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumeratorState {
    /// Format version.
    pub version: u32,
    /// `full` or `incremental`.
    pub mode: String,
    /// Full mode: the listing was resolved into partitions.
    pub resolved: bool,
    /// Every partition discovered and not forgotten, by partition order.
    pub partitions: Vec<PartitionProgress>,
    /// Partitions waiting for a session, in reading order.
    pub queue: Vec<PartitionSpec>,
    /// Splits not yet assigned, in order.
    pub pending_splits: Vec<Split>,
    /// Splits held by readers and not yet reported finished.
    pub assigned: Vec<AssignedSplit>,
    /// The partitions of the last complete listing (incremental: ≥ `startPartition`).
    pub last_listing: Vec<PartitionSpec>,
    /// Next split id.
    pub next_split_id: u64,
    /// Next reader of round-robin assignment.
    pub next_reader: u32,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Describe,
    List,
    CreateSession(PartitionSpec),
    PollSession {
        partition: PartitionSpec,
        polls: u32,
    },
}

#[derive(Debug, Clone)]
struct ReadySession {
    id: String,
    record_count: u64,
}

#[derive(Debug, Clone)]
enum Listing {
    /// No listing running; the next one is due at the time given (`None`: not scheduled).
    Idle(Option<Instant>),
    /// A listing is running.
    Running {
        marker: Option<String>,
        pages: u32,
        found: Vec<PartitionInfo>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Finished,
    Failed,
}

/// The split enumerator machine (see the [module docs](self)).
#[derive(Debug)]
pub struct SplitEnumerator {
    config: EnumeratorConfig,
    requests: Requests<Kind>,
    events: VecDeque<EnumeratorEvent>,
    phase: Phase,
    schema: Option<TableSchema>,
    /// Validated partition option (full) or start (incremental), set once described.
    pattern: Option<PartitionPattern>,
    start: Option<StartPartition>,
    listing: Listing,
    resolved: bool,
    partitions: BTreeMap<PartitionSpec, PartitionStatus>,
    queue: VecDeque<PartitionSpec>,
    ready_sessions: BTreeMap<PartitionSpec, ReadySession>,
    pending: VecDeque<Split>,
    assigned: BTreeMap<SplitId, AssignedSplit>,
    waiting_readers: VecDeque<u32>,
    last_listing: Vec<PartitionSpec>,
    next_split_id: u64,
    next_reader: u32,
    no_more_sent: BTreeSet<u32>,
}

impl SplitEnumerator {
    /// A new enumerator; its first [`poll`](Self::poll) asks for the table's metadata.
    pub fn new(config: EnumeratorConfig) -> Self {
        let mut config = config;
        config.readers = config.readers.max(1);
        config.session_concurrency = config.session_concurrency.max(1);
        let mut e = Self {
            config,
            requests: Requests::default(),
            events: VecDeque::new(),
            phase: Phase::Running,
            schema: None,
            pattern: None,
            start: None,
            listing: Listing::Idle(None),
            resolved: false,
            partitions: BTreeMap::new(),
            queue: VecDeque::new(),
            ready_sessions: BTreeMap::new(),
            pending: VecDeque::new(),
            assigned: BTreeMap::new(),
            waiting_readers: VecDeque::new(),
            last_listing: Vec::new(),
            next_split_id: 0,
            next_reader: 0,
            no_more_sent: BTreeSet::new(),
        };
        let req = rest::get_table(&e.config.ctx, &e.config.table, false);
        e.requests.send(Kind::Describe, req);
        e
    }

    /// An enumerator resumed from a snapshot. Splits not yet assigned are checked against
    /// their sessions by the readers before they are read.
    pub fn restore(config: EnumeratorConfig, state: EnumeratorState) -> Result<Self, RestoreError> {
        if state.version != ENUMERATOR_STATE_VERSION {
            return Err(RestoreError::Version {
                what: "enumerator",
                found: state.version,
                supported: ENUMERATOR_STATE_VERSION,
            });
        }
        let mut e = Self::new(config);
        if state.mode != e.mode_name() {
            return Err(RestoreError::Mismatch(format!(
                "the snapshot is of a {} source but the source is now configured as {}",
                state.mode,
                e.mode_name()
            )));
        }
        let readers = e.config.readers;
        for a in &state.assigned {
            if a.reader >= readers {
                return Err(RestoreError::Mismatch(format!(
                    "{} is assigned to reader {} but the source has {readers} readers",
                    a.split.id, a.reader
                )));
            }
        }
        e.resolved = state.resolved;
        e.partitions = state
            .partitions
            .into_iter()
            .map(|p| (p.partition, p.status))
            .collect();
        e.queue = state.queue.into_iter().collect();
        for p in &e.queue {
            e.partitions.insert(p.clone(), PartitionStatus::Queued);
        }
        e.pending = state
            .pending_splits
            .into_iter()
            .map(|mut s| {
                s.verify = true;
                s
            })
            .collect();
        e.assigned = state
            .assigned
            .into_iter()
            .map(|mut a| {
                a.split.verify = true;
                (a.split.id, a)
            })
            .collect();
        e.last_listing = state.last_listing;
        e.next_split_id = state.next_split_id;
        e.next_reader = state.next_reader % readers;
        Ok(e)
    }

    fn mode_name(&self) -> &'static str {
        match self.config.mode {
            EnumerationMode::Full { .. } => "full",
            EnumerationMode::Incremental { .. } => "incremental",
        }
    }

    /// The snapshot of the current state.
    pub fn snapshot(&self) -> EnumeratorState {
        // Sessions created but not yet released are made again after a restore.
        let mut queue: Vec<PartitionSpec> = self.queue.iter().cloned().collect();
        queue.retain(|p| matches!(self.partitions.get(p), Some(PartitionStatus::Queued)));
        EnumeratorState {
            version: ENUMERATOR_STATE_VERSION,
            mode: self.mode_name().to_string(),
            resolved: self.resolved,
            partitions: self
                .partitions
                .iter()
                .map(|(p, s)| PartitionProgress {
                    partition: p.clone(),
                    status: s.clone(),
                })
                .collect(),
            queue,
            pending_splits: self.pending.iter().cloned().collect(),
            assigned: self.assigned.values().cloned().collect(),
            last_listing: self.last_listing.clone(),
            next_split_id: self.next_split_id,
            next_reader: self.next_reader,
        }
    }

    /// The table schema, once described.
    pub fn schema(&self) -> Option<&TableSchema> {
        self.schema.as_ref()
    }

    /// True once a full source has read everything.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// True once the source failed.
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    /// Splits not yet assigned.
    pub fn pending_splits(&self) -> impl Iterator<Item = &Split> {
        self.pending.iter()
    }

    /// Splits held by readers.
    pub fn assigned_splits(&self) -> impl Iterator<Item = &AssignedSplit> {
        self.assigned.values()
    }

    /// Known partitions and their progress, in partition order.
    pub fn partitions(&self) -> impl Iterator<Item = (&PartitionSpec, &PartitionStatus)> {
        self.partitions.iter()
    }

    /// The next request to send or event to deliver.
    pub fn poll(&mut self, now: Instant) -> Option<Output<EnumeratorEvent>> {
        if let Some(ev) = self.events.pop_front() {
            return Some(Output::Event(ev));
        }
        if self.phase != Phase::Running {
            return None;
        }
        if let Listing::Idle(Some(due)) = self.listing
            && due <= now
        {
            self.start_listing(None);
        }
        self.start_sessions();
        self.requests
            .poll_send(now)
            .map(|(token, request)| Output::Send { token, request })
    }

    /// When to call [`poll`](Self::poll) again without any input.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.phase != Phase::Running {
            return None;
        }
        let listing = match self.listing {
            Listing::Idle(due) => due,
            Listing::Running { .. } => None,
        };
        [listing, self.requests.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Feeds the reply to a request sent under `token`. Replies to unknown tokens (e.g.
    /// requests abandoned by a skip) are ignored.
    pub fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        let Some(entry) = self.requests.take(token) else {
            return;
        };
        match entry.kind.clone() {
            Kind::Describe => match parse_reply(reply, rest::parse_table) {
                Ok(meta) => self.on_described(meta.schema),
                Err(f) => self.on_failure(entry, f, now, "describe table"),
            },
            Kind::List => match parse_reply(reply, rest::parse_partition_list) {
                Ok(page) => self.on_listing_page(page, now),
                Err(f) => self.on_failure(entry, f, now, "list partitions"),
            },
            Kind::CreateSession(p) | Kind::PollSession { partition: p, .. } => {
                match parse_reply(reply, tunnel::parse_download_session) {
                    Ok(session) => self.on_session(entry, p, session, now),
                    Err(f) => self.on_failure(entry, f, now, "create download session"),
                }
            }
        }
        self.check_done();
    }

    /// A reader finished a split.
    pub fn split_finished(&mut self, split: SplitId) {
        if let Some(a) = self.assigned.remove(&split) {
            self.count_done(&a.split.partition);
        }
        self.check_done();
    }

    /// A reader asks for a split (dynamic assignment). With fixed assignment this only
    /// answers `NoMoreSplits` once everything is assigned.
    pub fn request_split(&mut self, reader: u32) {
        if reader >= self.config.readers || self.phase == Phase::Failed {
            return;
        }
        if self.phase == Phase::Finished {
            self.events
                .push_back(EnumeratorEvent::NoMoreSplits { reader });
            return;
        }
        if self.config.assignment == Assignment::Dynamic && !self.waiting_readers.contains(&reader)
        {
            self.waiting_readers.push_back(reader);
        }
        if self.config.assignment == Assignment::Fixed {
            self.no_more_sent.remove(&reader);
        }
        self.assign();
        self.check_done();
    }

    /// A reader reports that a split's session cannot be read any further. Under
    /// `modifiedTableOperation = SKIP` the partition is skipped; otherwise the source fails
    /// with an error that names the partition.
    pub fn session_lost(&mut self, report: SessionLost) {
        if self.phase == Phase::Failed {
            return;
        }
        self.assigned.remove(&report.split);
        self.partition_lost(report.partition, report.session_id, report.reason);
        self.check_done();
    }

    // ---- internals ----------------------------------------------------------------------

    fn fail(&mut self, error: SourceError) {
        if self.phase == Phase::Failed {
            return;
        }
        self.phase = Phase::Failed;
        self.requests.clear();
        self.events.push_back(EnumeratorEvent::Failed(error));
    }

    fn table(&self) -> String {
        self.config.table.clone()
    }

    fn on_failure(&mut self, entry: InFlight<Kind>, failure: Failure, now: Instant, what: &str) {
        let attempt = entry.failures.saturating_add(1);
        if let Some(delay) = retry_delay(&self.config.retry, &failure, attempt) {
            self.requests.retry_at(now.plus(delay), entry);
            return;
        }
        let not_found = matches!(&failure, Failure::Api(e) if e.class == ErrorClass::NotFound);
        match entry.kind {
            Kind::CreateSession(p) | Kind::PollSession { partition: p, .. } if not_found => {
                let detail = match &failure {
                    Failure::Api(e) => format!("{}: {}", e.code, e.message),
                    Failure::Transport(e) => e.to_string(),
                };
                self.queue.retain(|q| q != &p);
                self.partition_lost(p, String::new(), LostReason::NotFound { detail });
            }
            Kind::List
                if matches!(self.config.mode, EnumerationMode::Incremental { .. })
                    && !not_found
                    && !matches!(&failure, Failure::Api(e) if e.class == ErrorClass::Fatal) =>
            {
                let interval = self.interval();
                self.listing = Listing::Idle(Some(now.plus(interval)));
                self.events.push_back(EnumeratorEvent::ListingFailed {
                    error: failure.to_string(),
                });
            }
            kind => {
                let operation = match kind {
                    Kind::CreateSession(p) | Kind::PollSession { partition: p, .. } => {
                        format!("{what} for table `{}` partition {p}", self.config.table)
                    }
                    _ => format!("{what} of table `{}`", self.config.table),
                };
                self.fail(SourceError::Request {
                    operation,
                    error: Box::new(RequestError::from(failure)),
                });
            }
        }
    }

    fn interval(&self) -> Duration {
        match self.config.mode {
            EnumerationMode::Incremental { interval, .. } => interval,
            EnumerationMode::Full { .. } => Duration::ZERO,
        }
    }

    fn on_described(&mut self, schema: TableSchema) {
        let table = self.table();
        let invalid = |error| SourceError::InvalidPartition {
            table: table.clone(),
            error,
        };
        match &self.config.mode {
            EnumerationMode::Full { partition, .. } => {
                let pattern = partition
                    .clone()
                    .unwrap_or(PartitionPattern::Exact(PartitionSpec::new()));
                match pattern.validate(&schema) {
                    Ok(p) => self.pattern = Some(p),
                    Err(e) => return self.fail(invalid(e)),
                }
            }
            EnumerationMode::Incremental { start, .. } => {
                if !schema.is_partitioned() {
                    return self.fail(SourceError::IncrementalNeedsPartitions {
                        table,
                        start: start.spec().to_string(),
                    });
                }
                match start.spec().validate(&schema, SpecCoverage::Prefix) {
                    Ok(s) => self.start = Some(StartPartition::new(s)),
                    Err(e) => return self.fail(invalid(e)),
                }
            }
        }
        let partitioned = schema.is_partitioned();
        self.events.push_back(EnumeratorEvent::TableDescribed {
            schema: schema.clone(),
        });
        self.schema = Some(schema);
        if self.resolved {
            // Restored after resolution: nothing to list.
        } else if !partitioned {
            // Full read of a non-partitioned table: one "partition" with the empty spec.
            self.resolved = true;
            let p = PartitionSpec::new();
            if !self.partitions.contains_key(&p) {
                self.partitions.insert(p.clone(), PartitionStatus::Queued);
                self.queue.push_back(p);
            }
        } else {
            self.start_listing(None);
        }
        self.assign();
    }

    /// The longest prefix of exact levels of the full-mode pattern (sent as the listing's
    /// `partition=` filter; the listing is still matched client-side).
    fn listing_prefix(&self) -> PartitionSpec {
        let (Some(schema), Some(pattern)) = (&self.schema, &self.pattern) else {
            return PartitionSpec::new();
        };
        let mut prefix = PartitionSpec::new();
        for col in &schema.partition_columns {
            let value = match pattern {
                PartitionPattern::Exact(spec) => spec.get(&col.name).map(str::to_string),
                PartitionPattern::Wildcard(levels) => levels.iter().find_map(|l| {
                    match (&l.value, l.key.eq_ignore_ascii_case(&col.name)) {
                        (crate::partition::ValueMatcher::Exact(v), true) => Some(v.clone()),
                        _ => None,
                    }
                }),
                PartitionPattern::MaxPt | PartitionPattern::MaxTwoPt => None,
            };
            let Some(v) = value else { break };
            if prefix.push(col.name.clone(), v).is_err() {
                break;
            }
        }
        prefix
    }

    fn start_listing(&mut self, marker: Option<String>) {
        let (pages, found) = match std::mem::replace(&mut self.listing, Listing::Idle(None)) {
            Listing::Running { pages, found, .. } if marker.is_some() => (pages, found),
            _ => (0, Vec::new()),
        };
        let prefix = match self.config.mode {
            EnumerationMode::Full { .. } => self.listing_prefix(),
            EnumerationMode::Incremental { .. } => PartitionSpec::new(),
        };
        let req = rest::list_partitions(
            &self.config.ctx,
            &self.config.table,
            &ListPartitions {
                prefix,
                marker: marker.clone(),
                max_items: self.config.page_size,
            },
        );
        self.requests.send(Kind::List, req);
        self.listing = Listing::Running {
            marker,
            pages: pages.saturating_add(1),
            found,
        };
    }

    fn on_listing_page(&mut self, page: rest::PartitionList, now: Instant) {
        let Listing::Running {
            marker,
            pages,
            mut found,
        } = std::mem::replace(&mut self.listing, Listing::Idle(None))
        else {
            return;
        };
        found.extend(page.partitions);
        match page.marker {
            Some(next) if next != marker.clone().unwrap_or_default() => {
                if pages >= MAX_LISTING_PAGES {
                    return self.fail(SourceError::Protocol(format!(
                        "partition listing of table `{}` did not end after {pages} pages",
                        self.config.table
                    )));
                }
                self.listing = Listing::Running {
                    marker: Some(next.clone()),
                    pages,
                    found,
                };
                self.start_listing(Some(next));
            }
            Some(next) => self.fail(SourceError::Protocol(format!(
                "partition listing of table `{}` returned the same marker `{next}` twice",
                self.config.table
            ))),
            None => {
                let specs: Vec<PartitionSpec> = found.into_iter().map(|p| p.spec).collect();
                self.on_listing_complete(specs, now);
            }
        }
    }

    fn on_listing_complete(&mut self, listing: Vec<PartitionSpec>, now: Instant) {
        match self.config.mode.clone() {
            EnumerationMode::Full { max_partitions, .. } => {
                let Some(pattern) = self.pattern.clone() else {
                    return;
                };
                let matched = pattern.resolve(&listing);
                if matched.len() > max_partitions as usize {
                    let pattern = match &pattern {
                        PartitionPattern::Exact(s) if s.is_empty() => "(every partition)".into(),
                        p => p.to_string(),
                    };
                    return self.fail(SourceError::TooManyPartitions {
                        table: self.table(),
                        pattern,
                        matched: matched.len(),
                        limit: max_partitions,
                    });
                }
                let must_match = !matches!(pattern, PartitionPattern::Wildcard(_));
                if matched.is_empty() && must_match {
                    return self.fail(SourceError::PartitionNotFound {
                        table: self.table(),
                        pattern: pattern.to_string(),
                    });
                }
                self.resolved = true;
                self.last_listing = matched.clone();
                self.discover(matched);
            }
            EnumerationMode::Incremental { interval, .. } => {
                let Some(start) = self.start.clone() else {
                    return;
                };
                let selected = start.select(&listing);
                // Forget finished partitions that are gone from the table.
                let live: BTreeSet<&PartitionSpec> = selected.iter().collect();
                self.partitions.retain(|p, s| {
                    live.contains(p)
                        || !matches!(s, PartitionStatus::Done | PartitionStatus::Skipped { .. })
                });
                let new: Vec<PartitionSpec> = selected
                    .iter()
                    .filter(|p| !self.partitions.contains_key(*p))
                    .cloned()
                    .collect();
                self.last_listing = selected;
                self.listing = Listing::Idle(Some(now.plus(interval)));
                self.discover(new);
            }
        }
    }

    fn discover(&mut self, partitions: Vec<PartitionSpec>) {
        let new: Vec<PartitionSpec> = partitions
            .into_iter()
            .filter(|p| !self.partitions.contains_key(p))
            .collect();
        if new.is_empty() {
            return;
        }
        for p in &new {
            self.partitions.insert(p.clone(), PartitionStatus::Queued);
            self.queue.push_back(p.clone());
        }
        self.events
            .push_back(EnumeratorEvent::PartitionsDiscovered { partitions: new });
    }

    fn session_in_flight(&self, p: &PartitionSpec) -> bool {
        self.requests.any(|k| match k {
            Kind::CreateSession(q) | Kind::PollSession { partition: q, .. } => q == p,
            _ => false,
        })
    }

    fn start_sessions(&mut self) {
        if self.schema.is_none() {
            return;
        }
        let busy = self
            .queue
            .iter()
            .filter(|p| self.session_in_flight(p))
            .count();
        let mut free = self.config.session_concurrency.saturating_sub(busy);
        let todo: Vec<PartitionSpec> = self
            .queue
            .iter()
            .filter(|p| !self.ready_sessions.contains_key(*p) && !self.session_in_flight(p))
            .take(free)
            .cloned()
            .collect();
        for p in todo {
            if free == 0 {
                break;
            }
            free -= 1;
            let req = tunnel::create_download(
                &self.config.ctx,
                &self.config.table,
                &DownloadOptions {
                    partition: p.clone(),
                    async_mode: self.config.async_sessions,
                },
            );
            self.requests.send(Kind::CreateSession(p), req);
        }
    }

    fn on_session(
        &mut self,
        entry: InFlight<Kind>,
        partition: PartitionSpec,
        session: DownloadSession,
        now: Instant,
    ) {
        if !self.queue.contains(&partition) {
            return;
        }
        match &session.status {
            SessionStatus::Initiating => {
                let polls = match entry.kind {
                    Kind::PollSession { polls, .. } => polls.saturating_add(1),
                    _ => 1,
                };
                if polls > MAX_SESSION_POLLS {
                    return self.fail(SourceError::SessionNotUsable {
                        table: self.table(),
                        partition,
                        session_id: session.id,
                        status: format!("still initiating after {MAX_SESSION_POLLS} polls"),
                    });
                }
                // 0.1 s doubling up to 5 s, as pyodps polls.
                let shift = polls.saturating_sub(1).min(6);
                let delay = Duration::from_millis((100u64 << shift).min(5_000));
                let req = tunnel::get_download(
                    &self.config.ctx,
                    &self.config.table,
                    &partition,
                    &session.id,
                );
                self.requests
                    .send_at(now.plus(delay), Kind::PollSession { partition, polls }, req);
            }
            SessionStatus::Normal | SessionStatus::Unknown => {
                let Some(record_count) = session.record_count else {
                    return self.fail(SourceError::Protocol(format!(
                        "download session {} has no RecordCount",
                        session.id
                    )));
                };
                self.ready_sessions.insert(
                    partition,
                    ReadySession {
                        id: session.id,
                        record_count,
                    },
                );
                self.release();
            }
            SessionStatus::Expired => {
                self.queue.retain(|q| q != &partition);
                self.partition_lost(partition, session.id, LostReason::Expired);
            }
            other => {
                let status = other.to_string();
                self.fail(SourceError::SessionNotUsable {
                    table: self.table(),
                    partition,
                    session_id: session.id,
                    status,
                });
            }
        }
    }

    /// The columns whose sizes estimate an Arrow row.
    fn read_columns(&self) -> Vec<Column> {
        let Some(schema) = &self.schema else {
            return Vec::new();
        };
        match &self.config.projection {
            None => schema.columns.clone(),
            Some(names) => schema
                .columns
                .iter()
                .filter(|c| names.iter().any(|n| n.eq_ignore_ascii_case(&c.name)))
                .cloned()
                .collect(),
        }
    }

    /// Turns ready sessions at the head of the queue into splits, in queue order.
    fn release(&mut self) {
        let per_split = rows_per_split(self.config.sizing, &self.read_columns());
        while let Some(head) = self.queue.front().cloned() {
            let Some(session) = self.ready_sessions.remove(&head) else {
                break;
            };
            self.queue.pop_front();
            let ranges = split_ranges(session.record_count, per_split);
            let n = ranges.len();
            for (start, count) in ranges {
                let id = SplitId(self.next_split_id);
                self.next_split_id += 1;
                self.pending.push_back(Split {
                    id,
                    partition: head.clone(),
                    session_id: session.id.clone(),
                    session_rows: session.record_count,
                    start,
                    count,
                    verify: false,
                });
            }
            self.events.push_back(EnumeratorEvent::SessionReady {
                partition: head.clone(),
                session_id: session.id.clone(),
                record_count: session.record_count,
                splits: n,
            });
            if n == 0 {
                self.partitions.insert(head.clone(), PartitionStatus::Done);
                self.events
                    .push_back(EnumeratorEvent::PartitionFinished { partition: head });
            } else {
                self.partitions.insert(
                    head,
                    PartitionStatus::Reading {
                        session_id: session.id,
                        record_count: session.record_count,
                        splits_total: n as u64,
                        splits_done: 0,
                    },
                );
            }
        }
        self.assign();
    }

    fn assign(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        match self.config.assignment {
            Assignment::Fixed => {
                while let Some(split) = self.pending.pop_front() {
                    let reader = self.next_reader;
                    self.next_reader = (self.next_reader + 1) % self.config.readers;
                    self.give(reader, split);
                }
            }
            Assignment::Dynamic => {
                while !self.pending.is_empty() {
                    let Some(reader) = self.waiting_readers.pop_front() else {
                        break;
                    };
                    if let Some(split) = self.pending.pop_front() {
                        self.give(reader, split);
                    }
                }
            }
        }
    }

    fn give(&mut self, reader: u32, split: Split) {
        self.assigned.insert(
            split.id,
            AssignedSplit {
                reader,
                split: split.clone(),
            },
        );
        self.events
            .push_back(EnumeratorEvent::Assign { reader, split });
    }

    fn count_done(&mut self, partition: &PartitionSpec) {
        let finished = match self.partitions.get_mut(partition) {
            Some(PartitionStatus::Reading {
                splits_total,
                splits_done,
                ..
            }) => {
                *splits_done = splits_done.saturating_add(1);
                *splits_done >= *splits_total
            }
            _ => false,
        };
        if finished {
            self.partitions
                .insert(partition.clone(), PartitionStatus::Done);
            self.events.push_back(EnumeratorEvent::PartitionFinished {
                partition: partition.clone(),
            });
        }
    }

    fn partition_lost(&mut self, partition: PartitionSpec, session_id: String, reason: LostReason) {
        if matches!(
            self.partitions.get(&partition),
            Some(PartitionStatus::Skipped { .. })
        ) {
            return;
        }
        let (skip, advice) = match &self.config.mode {
            EnumerationMode::Incremental {
                on_modified: ModifiedTableOperation::Skip,
                ..
            } => (true, Advice::Restart),
            EnumerationMode::Incremental { .. } => (false, Advice::MoveStartPartition),
            EnumerationMode::Full { .. } => (false, Advice::Restart),
        };
        if !skip {
            return self.fail(SourceError::PartitionUnavailable {
                table: self.table(),
                partition,
                session_id,
                reason,
                advice,
            });
        }
        self.pending.retain(|s| s.partition != partition);
        self.queue.retain(|q| q != &partition);
        self.ready_sessions.remove(&partition);
        self.requests.cancel(|k| match k {
            Kind::CreateSession(q) | Kind::PollSession { partition: q, .. } => q == &partition,
            _ => false,
        });
        self.partitions.insert(
            partition.clone(),
            PartitionStatus::Skipped {
                reason: reason.clone(),
            },
        );
        self.events
            .push_back(EnumeratorEvent::PartitionSkipped { partition, reason });
    }

    fn enumeration_complete(&self) -> bool {
        matches!(self.config.mode, EnumerationMode::Full { .. })
            && self.resolved
            && self.queue.is_empty()
            && self.ready_sessions.is_empty()
    }

    fn check_done(&mut self) {
        if self.phase != Phase::Running || !self.enumeration_complete() || !self.pending.is_empty()
        {
            return;
        }
        let readers: Vec<u32> = match self.config.assignment {
            Assignment::Fixed => (0..self.config.readers).collect(),
            Assignment::Dynamic => self.waiting_readers.drain(..).collect(),
        };
        let fixed = self.config.assignment == Assignment::Fixed;
        for reader in readers {
            if !fixed || self.no_more_sent.insert(reader) {
                self.events
                    .push_back(EnumeratorEvent::NoMoreSplits { reader });
            }
        }
        if self.assigned.is_empty() {
            self.phase = Phase::Finished;
            self.requests.clear();
            self.events.push_back(EnumeratorEvent::Finished);
        }
    }
}

impl crate::machine::Machine for SplitEnumerator {
    type Event = EnumeratorEvent;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        SplitEnumerator::handle_reply(self, token, reply, now)
    }

    fn poll(&mut self, now: Instant) -> Option<Output<EnumeratorEvent>> {
        SplitEnumerator::poll(self, now)
    }

    fn next_deadline(&self) -> Option<Instant> {
        SplitEnumerator::next_deadline(self)
    }
}
