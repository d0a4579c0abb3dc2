//! The dimension-table machine: loads the chosen partition(s) into a [`LookupCache`] and
//! reloads it after `cacheTTLMs`, outside the blacklist windows, while the old cache keeps
//! serving.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::api::rest::{self, ListPartitions};
use crate::api::tunnel::{self, DownloadOptions, DownloadSession};
use crate::api::{ApiContext, SessionStatus};
use crate::compress::Compression;
use crate::machine::{Instant, Output, Reply, RetryPolicy, Token};
use crate::options::{CacheStrategy, LookupConfig};
use crate::partition::{PartitionError, PartitionPattern, PartitionSpec};
use crate::source::decode::{PlanError, ReadFormat, ReadPlan};
use crate::source::error::RequestError;
use crate::source::reader::{DEFAULT_BATCH_ROWS, DEFAULT_CHUNK_ROWS, DEFAULT_MAX_BODY_BYTES};
use crate::source::requests::{Failure, InFlight, Requests, parse_reply, retry_delay};
use crate::time::WallClock;
use crate::types::TableSchema;

use super::blacklist::{BlacklistError, ReloadBlacklist, UtcOffset};
use super::cache::{CacheBuildError, CacheBuilder, KeySpec, LookupCache};
use super::key::{KeyError, LookupKey};

/// Most pages one partition listing may have.
pub const MAX_LISTING_PAGES: u32 = 100_000;

/// Most status polls of one `initiating` download session.
pub const MAX_SESSION_POLLS: u32 = 1_000;

fn partition_name(p: &PartitionSpec) -> String {
    if p.is_empty() {
        "(non-partitioned)".to_string()
    } else {
        p.to_string()
    }
}

/// Errors of a dimension table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LookupError {
    /// `cacheSize` would be exceeded.
    #[error(
        "Row count of table {table} partition {} exceeds maxRowCount limit",
        partition_name(partition)
    )]
    RowLimit {
        /// Table name.
        table: String,
        /// The partition whose rows pass the limit.
        partition: PartitionSpec,
        /// Rows the load would hold with this partition.
        rows: u64,
        /// `cacheSize`.
        limit: u64,
    },
    /// The `partition` option does not fit the table.
    #[error("table `{table}`: {error}")]
    InvalidPartition {
        /// Table name.
        table: String,
        /// What is wrong.
        error: PartitionError,
    },
    /// No partition matches.
    #[error("no partition of table `{table}` matches `{pattern}`")]
    PartitionNotFound {
        /// Table name.
        table: String,
        /// The `partition` option.
        pattern: String,
    },
    /// The key does not fit the columns read.
    #[error("table `{table}`: {error}")]
    Key {
        /// Table name.
        table: String,
        /// What is wrong.
        error: KeyError,
    },
    /// The projection does not fit the table.
    #[error("table `{table}`: {error}")]
    Projection {
        /// Table name.
        table: String,
        /// What is wrong.
        error: PlanError,
    },
    /// `cacheReloadTimeBlackList` does not parse.
    #[error(transparent)]
    Blacklist(#[from] BlacklistError),
    /// A request failed for good.
    #[error("{operation} failed: {error}")]
    Request {
        /// What was being done.
        operation: String,
        /// The failure.
        error: Box<RequestError>,
    },
    /// Rows could not be decoded (after the retries allowed).
    #[error(
        "decoding rows of table `{table}` partition {} failed: {error}",
        partition_name(partition)
    )]
    Decode {
        /// Table name.
        table: String,
        /// The partition.
        partition: PartitionSpec,
        /// What failed.
        error: String,
    },
    /// A download session cannot be used.
    #[error(
        "download session {session_id} of table `{table}` partition {} is {status}",
        partition_name(partition)
    )]
    SessionNotUsable {
        /// Table name.
        table: String,
        /// The partition.
        partition: PartitionSpec,
        /// The session.
        session_id: String,
        /// Its status.
        status: String,
    },
    /// The service broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The first load failed `maxLoadRetries + 1` times.
    #[error(
        "loading dimension table `{table}` failed {attempts} times (maxLoadRetries = {max_load_retries}); last error: {last}"
    )]
    LoadRetriesExhausted {
        /// Table name.
        table: String,
        /// Attempts made.
        attempts: u32,
        /// `maxLoadRetries`.
        max_load_retries: u32,
        /// The last attempt's error.
        last: Box<LookupError>,
    },
    /// A lookup before the first load completed.
    #[error("dimension table `{0}` is not loaded yet")]
    NotLoaded(String),
}

impl LookupError {
    /// True for errors a new attempt cannot fix (configuration, limits).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            LookupError::RowLimit { .. }
                | LookupError::InvalidPartition { .. }
                | LookupError::Key { .. }
                | LookupError::Projection { .. }
                | LookupError::Blacklist(_)
        )
    }
}

/// Everything the lookup machine needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupMachineConfig {
    /// Project, schema, quota, user agent.
    pub ctx: ApiContext,
    /// Table name.
    pub table: String,
    /// `partition`: a spec, a wildcard, `max_pt()` or `max_two_pt()`; `None` for a
    /// non-partitioned table (or every partition).
    pub partition: Option<PartitionPattern>,
    /// Key columns and uniqueness.
    pub key: KeySpec,
    /// Columns to keep, in order (data and partition columns); `None`: every data column.
    pub projection: Option<Vec<String>>,
    /// `cacheSize`: most rows.
    pub cache_size: u64,
    /// `cacheTTLMs`: reload interval (`Duration::MAX`-like values never reload).
    pub ttl: Duration,
    /// `cacheReloadTimeBlackList`, parsed.
    pub blacklist: ReloadBlacklist,
    /// The offset the blacklist times are in.
    pub utc_offset: UtcOffset,
    /// `maxLoadRetries`: new attempts of the first load after a failure.
    pub max_load_retries: u32,
    /// Record stream or Arrow.
    pub format: ReadFormat,
    /// Rows per read request.
    pub chunk_rows: u64,
    /// Rows per decoded batch.
    pub batch_rows: usize,
    /// Retries of single requests within a load (and the backoff between load attempts).
    pub retry: RetryPolicy,
    /// Limit on one decompressed response body.
    pub max_body_bytes: usize,
    /// `maxitems` of listing pages.
    pub page_size: Option<u32>,
}

impl LookupMachineConfig {
    /// A configuration from the dimension table options. `cache` must be `ALL` (the only
    /// strategy); the blacklist and `partition` are parsed here.
    pub fn from_lookup_config(
        config: &LookupConfig,
        key: KeySpec,
        utc_offset: UtcOffset,
        user_agent: &str,
    ) -> Result<Self, LookupError> {
        // `cache = 'ALL'` is required: it is the only strategy the options accept, and the
        // only one this machine implements (everything is loaded; lookups never go remote).
        match config.cache {
            CacheStrategy::All => {}
        }
        let conn = &config.connection;
        let table = conn.table_name.clone();
        let partition =
            match conn.partition.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(p) => Some(PartitionPattern::parse(p).map_err(|error| {
                    LookupError::InvalidPartition {
                        table: table.clone(),
                        error,
                    }
                })?),
            };
        let blacklist = match &config.reload_blacklist {
            Some(b) => ReloadBlacklist::parse(b)?,
            None => ReloadBlacklist::empty(),
        };
        let mut ctx = ApiContext::new(conn.project.clone(), user_agent);
        ctx.schema = conn.schema_name.clone();
        ctx.quota_name = conn.effective_quota_name().map(str::to_string);
        Ok(Self {
            ctx,
            table,
            partition,
            key,
            projection: None,
            cache_size: config.cache_size,
            ttl: config.cache_ttl,
            blacklist,
            utc_offset,
            max_load_retries: config.max_load_retries,
            format: ReadFormat::Records {
                compression: Compression::from_option_name(conn.compress_algorithm.as_str())
                    .unwrap_or(Compression::Raw),
            },
            chunk_rows: DEFAULT_CHUNK_ROWS,
            batch_rows: DEFAULT_BATCH_ROWS,
            retry: RetryPolicy::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            page_size: None,
        })
    }
}

/// What the lookup machine tells its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupEvent {
    /// A load completed and its cache now serves lookups ([`LookupMachine::cache`]).
    Loaded {
        /// 1 for the first load, +1 per reload.
        generation: u64,
        /// Rows cached.
        rows: u64,
        /// Partitions loaded.
        partitions: Vec<PartitionSpec>,
    },
    /// An attempt of the first load failed; another starts at `retry_at`.
    LoadRetrying {
        /// Failed attempts so far.
        attempt: u32,
        /// The failure.
        error: LookupError,
        /// When the next attempt starts.
        retry_at: Instant,
    },
    /// A reload started (the current cache keeps serving).
    ReloadStarted,
    /// A due reload waits for a blacklist window to end.
    ReloadPostponed {
        /// When the window ends.
        until: WallClock,
    },
    /// A reload failed; the current cache keeps serving and another reload is due at `retry_at`.
    ReloadFailed {
        /// The failure.
        error: LookupError,
        /// When the next reload is due.
        retry_at: WallClock,
    },
    /// The first load failed for good.
    Failed(LookupError),
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Describe,
    List,
    Session {
        index: usize,
        polls: u32,
    },
    Read {
        index: usize,
        session: String,
        rows: u64,
        start: u64,
        count: u64,
    },
}

/// The load in progress.
#[derive(Debug)]
struct Load {
    plan: Option<ReadPlan>,
    builder: Option<CacheBuilder>,
    pattern: Option<PartitionPattern>,
    listing: Vec<PartitionSpec>,
    marker: Option<String>,
    pages: u32,
    partitions: Vec<PartitionSpec>,
    /// Rows promised by the sessions created so far.
    rows_planned: u64,
    decode_failures: u32,
}

impl Load {
    fn new() -> Self {
        Self {
            plan: None,
            builder: None,
            pattern: None,
            listing: Vec::new(),
            marker: None,
            pages: 0,
            partitions: Vec::new(),
            rows_planned: 0,
            decode_failures: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The first load (with retries) is running or waiting.
    Starting,
    /// A cache serves lookups.
    Serving,
    /// The first load failed for good.
    Failed,
}

/// The dimension-table machine.
///
/// # States and transitions
///
/// | state | input / time | next |
/// |---|---|---|
/// | starting: loading | each step below succeeds | … |
/// | loading | table described | listing (partitioned) or one session (not partitioned) |
/// | loading | listing complete | partitions resolved (`max_pt()` greatest, `max_two_pt()` two greatest, spec / wildcard matches); none → error |
/// | loading | session ready | rows planned + `RecordCount` > `cacheSize` → error `Row count of table … exceeds maxRowCount limit`; otherwise read it in row ranges |
/// | loading | rows decoded | indexed into the new cache; next range / partition |
/// | loading | last partition read | **serving** the new cache (swapped in whole; event `Loaded`); next reload due `cacheTTLMs` later (wall clock) |
/// | loading | request failed after its retries, undecodable data | load failed (below) |
/// | starting | load failed, attempts ≤ `maxLoadRetries` | new attempt after a backoff (event `LoadRetrying`) |
/// | starting | load failed otherwise, or a permanent error (`cacheSize`, bad options) | **failed** (event `Failed`) |
/// | serving | reload due, wall clock inside a blacklist window | due at the window's end (event `ReloadPostponed`) |
/// | serving | reload due otherwise | loading again (event `ReloadStarted`); the old cache keeps serving |
/// | serving + loading | load failed | old cache kept (event `ReloadFailed`); next reload after a backoff, or after `cacheTTLMs` for permanent errors |
///
/// The wall clock is an input: [`set_wall_clock`](Self::set_wall_clock) anchors it to the
/// monotonic clock (the machine assumes they advance together until the next anchor). Call
/// it whenever the driver wakes up.
#[derive(Debug)]
pub struct LookupMachine {
    config: LookupMachineConfig,
    requests: Requests<Kind>,
    events: VecDeque<LookupEvent>,
    phase: Phase,
    cache: Option<Arc<LookupCache>>,
    load: Option<Load>,
    /// Start of the next first-load attempt.
    retry_load_at: Option<Instant>,
    /// When the next reload is due (wall clock).
    reload_due: Option<WallClock>,
    anchor: (Instant, WallClock),
    generation: u64,
    failed_attempts: u32,
    reload_failures: u32,
}

impl LookupMachine {
    /// A machine that starts its first load at once. `now` and `wall` anchor the wall clock.
    pub fn new(config: LookupMachineConfig, now: Instant, wall: WallClock) -> Self {
        let mut m = Self {
            config,
            requests: Requests::default(),
            events: VecDeque::new(),
            phase: Phase::Starting,
            cache: None,
            load: None,
            retry_load_at: None,
            reload_due: None,
            anchor: (now, wall),
            generation: 0,
            failed_attempts: 0,
            reload_failures: 0,
        };
        m.config.chunk_rows = m.config.chunk_rows.max(1);
        m.config.batch_rows = m.config.batch_rows.max(1);
        m.start_load();
        m
    }

    /// Tells the machine the wall-clock time at monotonic time `now`.
    pub fn set_wall_clock(&mut self, now: Instant, wall: WallClock) {
        self.anchor = (now, wall);
    }

    /// The cache serving lookups (the newest complete load), shared.
    pub fn cache(&self) -> Option<&Arc<LookupCache>> {
        self.cache.as_ref()
    }

    /// The rows with `key` in the current cache.
    pub fn get(&self, key: &LookupKey) -> Result<Vec<arrow_array::RecordBatch>, LookupError> {
        self.cache
            .as_ref()
            .map(|c| c.get(key))
            .ok_or_else(|| LookupError::NotLoaded(self.config.table.clone()))
    }

    /// True while a load (first or reload) runs.
    pub fn is_loading(&self) -> bool {
        self.load.is_some()
    }

    /// True once the first load failed for good.
    pub fn is_failed(&self) -> bool {
        self.phase == Phase::Failed
    }

    /// Makes a reload due at `now` instead of after `cacheTTLMs` (an operator's or a test's
    /// "refresh now"). The blacklist still applies: inside a window the reload is postponed
    /// to the window's end. Does nothing before the first load completed, while a load runs,
    /// or after the machine failed; returns whether a reload was scheduled.
    pub fn request_reload(&mut self, now: Instant) -> bool {
        if self.phase != Phase::Serving || self.load.is_some() {
            return false;
        }
        self.reload_due = Some(self.wall_at(now));
        true
    }

    /// When the next reload is due (wall clock), if one is scheduled.
    pub fn reload_due(&self) -> Option<WallClock> {
        self.reload_due
    }

    fn wall_at(&self, now: Instant) -> WallClock {
        let (a_now, a_wall) = self.anchor;
        if now >= a_now {
            a_wall.saturating_add(now.since(a_now))
        } else {
            a_wall.saturating_sub(a_now.since(now))
        }
    }

    fn instant_at(&self, wall: WallClock) -> Instant {
        let (a_now, a_wall) = self.anchor;
        if wall >= a_wall {
            let ms = wall.unix_millis.saturating_sub(a_wall.unix_millis);
            a_now.plus(Duration::from_millis(ms.unsigned_abs()))
        } else {
            let ms = a_wall
                .unix_millis
                .saturating_sub(wall.unix_millis)
                .unsigned_abs();
            Instant::from_millis(a_now.as_millis().saturating_sub(ms))
        }
    }

    /// When to call [`poll`](Self::poll) again without input.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.phase == Phase::Failed {
            return None;
        }
        let reload = match (&self.load, self.reload_due) {
            (None, Some(due)) => Some(self.instant_at(due)),
            _ => None,
        };
        [self.requests.next_deadline(), self.retry_load_at, reload]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next request to send or event to deliver.
    pub fn poll(&mut self, now: Instant) -> Option<Output<LookupEvent>> {
        if let Some(ev) = self.events.pop_front() {
            return Some(Output::Event(ev));
        }
        if self.phase == Phase::Failed {
            return None;
        }
        if let Some(at) = self.retry_load_at
            && at <= now
        {
            self.retry_load_at = None;
            self.start_load();
        }
        if self.load.is_none()
            && let Some(due) = self.reload_due
        {
            let wall = self.wall_at(now);
            if due <= wall {
                match self
                    .config
                    .blacklist
                    .blocked_until(wall, self.config.utc_offset)
                {
                    Some(until) => {
                        self.reload_due = Some(until);
                        self.events
                            .push_back(LookupEvent::ReloadPostponed { until });
                    }
                    None => {
                        self.reload_due = None;
                        self.events.push_back(LookupEvent::ReloadStarted);
                        self.start_load();
                    }
                }
                if let Some(ev) = self.events.pop_front() {
                    return Some(Output::Event(ev));
                }
            }
        }
        self.requests
            .poll_send(now)
            .map(|(token, request)| Output::Send { token, request })
    }

    /// Feeds the reply to a request sent under `token`.
    pub fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        let Some(entry) = self.requests.take(token) else {
            return;
        };
        if self.load.is_none() {
            return;
        }
        let result = match entry.kind.clone() {
            Kind::Describe => match parse_reply(reply, rest::parse_table) {
                Ok(meta) => self.on_described(meta.schema),
                Err(f) => return self.on_failure(entry, f, now),
            },
            Kind::List => match parse_reply(reply, rest::parse_partition_list) {
                Ok(page) => self.on_listing_page(page),
                Err(f) => return self.on_failure(entry, f, now),
            },
            Kind::Session { index, polls } => {
                match parse_reply(reply, tunnel::parse_download_session) {
                    Ok(s) => self.on_session(index, polls, s, now),
                    Err(f) => return self.on_failure(entry, f, now),
                }
            }
            Kind::Read {
                index,
                session,
                rows,
                start,
                count,
            } => match parse_reply(reply, tunnel::parse_data) {
                Ok(body) => match self.on_data(index, &session, rows, start, count, &body, now) {
                    Ok(Some(())) => Ok(()),
                    Ok(None) => {
                        return self.on_decode_failure(
                            entry,
                            index,
                            "no rows in the response".into(),
                            now,
                        );
                    }
                    Err(DataError::Decode(e)) => {
                        return self.on_decode_failure(entry, index, e, now);
                    }
                    Err(DataError::Fatal(e)) => Err(e),
                },
                Err(f) => return self.on_failure(entry, f, now),
            },
        };
        if let Err(e) = result {
            self.load_failed(e, now);
        }
    }

    // ---- load steps ---------------------------------------------------------------------

    fn start_load(&mut self) {
        self.requests.clear();
        self.load = Some(Load::new());
        let req = rest::get_table(&self.config.ctx, &self.config.table, false);
        self.requests.send(Kind::Describe, req);
    }

    fn table(&self) -> String {
        self.config.table.clone()
    }

    fn on_described(&mut self, schema: TableSchema) -> Result<(), LookupError> {
        let table = self.table();
        let plan = ReadPlan::new(&schema, self.config.projection.as_deref()).map_err(|error| {
            LookupError::Projection {
                table: table.clone(),
                error,
            }
        })?;
        let builder =
            CacheBuilder::new(plan.output_schema().clone(), &self.config.key).map_err(|error| {
                LookupError::Key {
                    table: table.clone(),
                    error,
                }
            })?;
        let pattern = self
            .config
            .partition
            .clone()
            .unwrap_or(PartitionPattern::Exact(PartitionSpec::new()))
            .validate(&schema)
            .map_err(|error| LookupError::InvalidPartition {
                table: table.clone(),
                error,
            })?;
        let partitioned = schema.is_partitioned();
        let Some(load) = self.load.as_mut() else {
            return Ok(());
        };
        load.plan = Some(plan);
        load.builder = Some(builder);
        load.pattern = Some(pattern);
        if partitioned {
            self.send_list(None);
        } else {
            load.partitions = vec![PartitionSpec::new()];
            self.send_session(0, 0, None);
        }
        Ok(())
    }

    fn send_list(&mut self, marker: Option<String>) {
        let req = rest::list_partitions(
            &self.config.ctx,
            &self.config.table,
            &ListPartitions {
                prefix: PartitionSpec::new(),
                marker,
                max_items: self.config.page_size,
            },
        );
        self.requests.send(Kind::List, req);
    }

    fn on_listing_page(&mut self, page: rest::PartitionList) -> Result<(), LookupError> {
        let table = self.table();
        let Some(load) = self.load.as_mut() else {
            return Ok(());
        };
        load.pages = load.pages.saturating_add(1);
        load.listing
            .extend(page.partitions.into_iter().map(|p| p.spec));
        match page.marker {
            Some(next) if Some(&next) != load.marker.as_ref() => {
                if load.pages >= MAX_LISTING_PAGES {
                    return Err(LookupError::Protocol(format!(
                        "partition listing of table `{table}` did not end after {} pages",
                        load.pages
                    )));
                }
                load.marker = Some(next.clone());
                self.send_list(Some(next));
                Ok(())
            }
            Some(next) => Err(LookupError::Protocol(format!(
                "partition listing of table `{table}` returned the same marker `{next}` twice"
            ))),
            None => {
                let Some(pattern) = load.pattern.clone() else {
                    return Ok(());
                };
                let partitions = pattern.resolve(&load.listing);
                if partitions.is_empty() {
                    return Err(LookupError::PartitionNotFound {
                        table,
                        pattern: pattern.to_string(),
                    });
                }
                load.listing.clear();
                load.partitions = partitions;
                self.send_session(0, 0, None);
                Ok(())
            }
        }
    }

    fn send_session(&mut self, index: usize, polls: u32, poll_at: Option<(Instant, &str)>) {
        let Some(p) = self
            .load
            .as_ref()
            .and_then(|l| l.partitions.get(index))
            .cloned()
        else {
            return;
        };
        match poll_at {
            None => {
                let req = tunnel::create_download(
                    &self.config.ctx,
                    &self.config.table,
                    &DownloadOptions {
                        partition: p,
                        async_mode: true,
                    },
                );
                self.requests.send(Kind::Session { index, polls }, req);
            }
            Some((at, id)) => {
                let req = tunnel::get_download(&self.config.ctx, &self.config.table, &p, id);
                self.requests
                    .send_at(at, Kind::Session { index, polls }, req);
            }
        }
    }

    fn on_session(
        &mut self,
        index: usize,
        polls: u32,
        s: DownloadSession,
        now: Instant,
    ) -> Result<(), LookupError> {
        let table = self.table();
        let limit = self.config.cache_size;
        let Some(load) = self.load.as_mut() else {
            return Ok(());
        };
        let Some(partition) = load.partitions.get(index).cloned() else {
            return Ok(());
        };
        match s.status {
            SessionStatus::Initiating => {
                let polls = polls.saturating_add(1);
                if polls > MAX_SESSION_POLLS {
                    return Err(LookupError::SessionNotUsable {
                        table,
                        partition,
                        session_id: s.id,
                        status: format!("still initiating after {MAX_SESSION_POLLS} polls"),
                    });
                }
                let delay = Duration::from_millis((100u64 << (polls - 1).min(6)).min(5_000));
                self.send_session(index, polls, Some((now.plus(delay), &s.id)));
                Ok(())
            }
            SessionStatus::Normal | SessionStatus::Unknown => {
                let rows = s.record_count.ok_or_else(|| {
                    LookupError::Protocol(format!("download session {} has no RecordCount", s.id))
                })?;
                let total = load.rows_planned.saturating_add(rows);
                if total > limit {
                    return Err(LookupError::RowLimit {
                        table,
                        partition,
                        rows: total,
                        limit,
                    });
                }
                load.rows_planned = total;
                self.next_read(index, &s.id, rows, 0, now);
                Ok(())
            }
            other => Err(LookupError::SessionNotUsable {
                table,
                partition,
                session_id: s.id,
                status: other.to_string(),
            }),
        }
    }

    /// Asks for the next rows of partition `index`, or moves on when it is read.
    fn next_read(&mut self, index: usize, session: &str, rows: u64, position: u64, now: Instant) {
        let Some(load) = self.load.as_ref() else {
            return;
        };
        if position >= rows {
            if index + 1 < load.partitions.len() {
                self.send_session(index + 1, 0, None);
            } else {
                self.finish_load(now);
            }
            return;
        }
        let (Some(plan), Some(partition)) = (&load.plan, load.partitions.get(index)) else {
            return;
        };
        let count = (rows - position).min(self.config.chunk_rows);
        let range = plan.range(partition, position, count, self.config.format);
        let req = tunnel::read_rows(&self.config.ctx, &self.config.table, session, &range);
        self.requests.send(
            Kind::Read {
                index,
                session: session.to_string(),
                rows,
                start: position,
                count,
            },
            req,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn on_data(
        &mut self,
        index: usize,
        session: &str,
        rows: u64,
        start: u64,
        count: u64,
        body: &tunnel::DataBody,
        now: Instant,
    ) -> Result<Option<()>, DataError> {
        let table = self.table();
        let format = self.config.format;
        let (batch_rows, max_body) = (self.config.batch_rows, self.config.max_body_bytes);
        let Some(load) = self.load.as_mut() else {
            return Ok(Some(()));
        };
        let (Some(plan), Some(partition)) = (&load.plan, load.partitions.get(index)) else {
            return Ok(Some(()));
        };
        let batches = plan
            .decode(body, format, partition, batch_rows, max_body)
            .map_err(|e| DataError::Decode(e.0))?;
        let got: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        if got == 0 {
            return Ok(None);
        }
        if got > count {
            return Err(DataError::Fatal(LookupError::Protocol(format!(
                "asked for {count} rows from row {start} of download session {session} of table `{table}` but got {got}"
            ))));
        }
        let Some(builder) = load.builder.as_mut() else {
            return Ok(Some(()));
        };
        for b in batches {
            builder.push(b).map_err(|e| {
                DataError::Fatal(match e {
                    CacheBuildError::Key(error) => LookupError::Key {
                        table: table.clone(),
                        error,
                    },
                    other => LookupError::Protocol(other.to_string()),
                })
            })?;
        }
        load.decode_failures = 0;
        self.next_read(index, session, rows, start + got, now);
        Ok(Some(()))
    }

    fn on_decode_failure(
        &mut self,
        entry: InFlight<Kind>,
        index: usize,
        error: String,
        now: Instant,
    ) {
        let table = self.table();
        let Some(load) = self.load.as_mut() else {
            return;
        };
        load.decode_failures = load.decode_failures.saturating_add(1);
        let partition = load.partitions.get(index).cloned().unwrap_or_default();
        match self.config.retry.retryable(load.decode_failures, None) {
            crate::machine::RetryDecision::RetryAfter(d)
            | crate::machine::RetryDecision::ReloadThenRetry(d) => {
                self.requests.retry_at(now.plus(d), entry);
            }
            crate::machine::RetryDecision::GiveUp => self.load_failed(
                LookupError::Decode {
                    table,
                    partition,
                    error,
                },
                now,
            ),
        }
    }

    fn on_failure(&mut self, entry: InFlight<Kind>, failure: Failure, now: Instant) {
        let attempt = entry.failures.saturating_add(1);
        if let Some(delay) = retry_delay(&self.config.retry, &failure, attempt) {
            self.requests.retry_at(now.plus(delay), entry);
            return;
        }
        let partition = |i: &usize| {
            self.load
                .as_ref()
                .and_then(|l| l.partitions.get(*i))
                .map(partition_name)
                .unwrap_or_default()
        };
        let operation = match &entry.kind {
            Kind::Describe => format!("describe table `{}`", self.config.table),
            Kind::List => format!("list partitions of table `{}`", self.config.table),
            Kind::Session { index, .. } => format!(
                "create download session for table `{}` partition {}",
                self.config.table,
                partition(index)
            ),
            Kind::Read {
                index,
                start,
                count,
                ..
            } => format!(
                "read rows ({start},{count}) of table `{}` partition {}",
                self.config.table,
                partition(index)
            ),
        };
        self.load_failed(
            LookupError::Request {
                operation,
                error: Box::new(RequestError::from(failure)),
            },
            now,
        );
    }

    fn finish_load(&mut self, now: Instant) {
        let Some(load) = self.load.take() else {
            return;
        };
        self.requests.clear();
        let Some(builder) = load.builder else {
            return;
        };
        self.generation += 1;
        let cache = Arc::new(builder.finish(self.generation));
        let rows = cache.row_count();
        self.cache = Some(cache);
        self.phase = Phase::Serving;
        self.failed_attempts = 0;
        self.reload_failures = 0;
        self.reload_due = self.after(now, self.config.ttl);
        self.events.push_back(LookupEvent::Loaded {
            generation: self.generation,
            rows,
            partitions: load.partitions,
        });
    }

    /// The wall-clock time `d` after `now`; `None` when that is centuries away (the default
    /// `cacheTTLMs`, Long.MAX_VALUE ms, never reloads).
    fn after(&self, now: Instant, d: Duration) -> Option<WallClock> {
        const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);
        (d < NEVER).then(|| self.wall_at(now).saturating_add(d))
    }

    fn load_failed(&mut self, error: LookupError, now: Instant) {
        self.requests.clear();
        self.load = None;
        match self.phase {
            Phase::Starting => {
                self.failed_attempts = self.failed_attempts.saturating_add(1);
                if error.is_permanent() {
                    self.phase = Phase::Failed;
                    self.events.push_back(LookupEvent::Failed(error));
                } else if self.failed_attempts > self.config.max_load_retries {
                    self.phase = Phase::Failed;
                    self.events
                        .push_back(LookupEvent::Failed(LookupError::LoadRetriesExhausted {
                            table: self.table(),
                            attempts: self.failed_attempts,
                            max_load_retries: self.config.max_load_retries,
                            last: Box::new(error),
                        }));
                } else {
                    let retry_at = now.plus(self.config.retry.backoff.delay(self.failed_attempts));
                    self.retry_load_at = Some(retry_at);
                    self.events.push_back(LookupEvent::LoadRetrying {
                        attempt: self.failed_attempts,
                        error,
                        retry_at,
                    });
                }
            }
            Phase::Serving => {
                self.reload_failures = self.reload_failures.saturating_add(1);
                let delay = if error.is_permanent() {
                    self.config.ttl
                } else {
                    self.config.retry.backoff.delay(self.reload_failures)
                };
                self.reload_due = self.after(now, delay);
                let retry_at = self
                    .reload_due
                    .unwrap_or(WallClock::from_unix_millis(i64::MAX));
                self.events
                    .push_back(LookupEvent::ReloadFailed { error, retry_at });
            }
            Phase::Failed => {}
        }
    }
}

/// Why a data response did not advance the load.
enum DataError {
    /// The body could not be decoded (retried).
    Decode(String),
    /// The load cannot go on.
    Fatal(LookupError),
}

impl crate::machine::Machine for LookupMachine {
    type Event = LookupEvent;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        LookupMachine::handle_reply(self, token, reply, now)
    }

    fn poll(&mut self, now: Instant) -> Option<Output<LookupEvent>> {
        LookupMachine::poll(self, now)
    }

    fn next_deadline(&self) -> Option<Instant> {
        LookupMachine::next_deadline(self)
    }
}
