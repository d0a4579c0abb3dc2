//! The engine model: a Flink-like job with N parallel sink writer subtasks and one committer,
//! written as a pure machine ([`Job`] implements [`Machine`]), so both runners drive the same
//! logic: the in-process runner from its discrete-event loop, the turmoil runner from an async
//! drive loop over the real driver.
//!
//! What it models (Flink's Sink V2 with checkpointing):
//!
//! - Each writer subtask reads a deterministic input stream ([`RowGen`]) in batches at seeded
//!   intervals, and calls `end_of_input` after its last row.
//! - The coordinator triggers checkpoint barriers at a fixed interval. At a barrier each
//!   subtask records its input offset and its writer snapshot; its acknowledgement is the
//!   writer's `Prepared` (or `Finished`) event, whose committables go to the committer.
//! - A checkpoint completes when every subtask acknowledged it. Its stored state is, per
//!   subtask, (offset, writer snapshot, finished?) plus every committable the committer has not
//!   committed yet. Older pending checkpoints are subsumed; a checkpoint that takes too long is
//!   aborted (its committables are carried into the next one).
//! - The completion notification reaches the committer after a delay, or never (faults). On
//!   a notification for `c` the committer commits every committable of checkpoints `<= c`.
//! - A writer failure, a `FailedUnknown` commit, a crash fault or a refused write fail the job
//!   over: everything is dropped, and after a restart delay every subtask is restored from the
//!   last completed checkpoint (writer snapshot, input offset) and the checkpoint's
//!   committables are committed again. Input after the restored offsets is replayed.
//! - `FailedKnown` commit outcomes are discarded and reported (loud data loss).
//!
//! The [`Shared`] journal outlives the job (the turmoil runner keeps it outside the job host,
//! so a host crash restores from it): completed checkpoints plus what the oracle needs.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use maxc_core::api::rest::TableMeta;
use maxc_core::auth::Credentials;
use maxc_core::codec::decode_all;
use maxc_core::compress::{Compression, decompress};
use maxc_core::http::{Method, Request};
use maxc_core::machine::{Instant, Machine, Output, Reply, Token};
use maxc_core::options::{MemorySize, SinkConfig};
use maxc_core::sink::{
    CommitEvent, CommitOutcome, Committable, Committer, SinkEvent, SinkWriter, WriterState,
};
use maxc_core::types::Column;

use crate::plan::{Fault, FaultPlan, Scenario};
use crate::rng::Rng;
use crate::workload::{RowGen, Tunnel};

/// Project of every simulated table.
pub const PROJECT: &str = "maxc";
/// Endpoint written into the sink config (the runners route requests themselves).
pub const ENDPOINT: &str = "http://mock:9000/api";

/// One subtask's part of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtaskSnapshot {
    /// Input rows consumed before the barrier.
    pub offset: u64,
    /// The writer's snapshot (JSON); `None` once the subtask finished.
    pub state: Option<String>,
    /// The subtask had reached end of input and its writer had finished.
    pub finished: bool,
}

/// A completed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedCheckpoint {
    /// Its id.
    pub id: u64,
    /// When it completed.
    pub at_ms: u64,
    /// Per subtask.
    pub subtasks: Vec<SubtaskSnapshot>,
    /// Committables not committed yet when it completed (by session id).
    pub committables: BTreeMap<String, Committable>,
}

/// How a commit ended, as the oracle needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    /// Upload session.
    pub session: String,
    /// `committed`, `already-committed`, `retry-later`, `failed-known`, `failed-unknown`.
    pub outcome: &'static str,
    /// Rows the committable claims.
    pub rows: u64,
    /// Error text for failures.
    pub error: Option<String>,
}

/// The job's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still running (or the run was cut off).
    Running,
    /// Every row was written and every committable committed (or reported lost).
    Finished {
        /// When.
        at_ms: u64,
    },
}

/// State that outlives a job incarnation: completed checkpoints and the oracle's journal.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The last completed checkpoint.
    pub completed: Option<CompletedCheckpoint>,
    /// Completed checkpoints so far.
    pub completed_count: u64,
    /// The next checkpoint id to trigger (ids never repeat, even across restarts).
    pub next_checkpoint: u64,
    /// Incarnation counter (stale replies of older incarnations are ignored).
    pub attempt: u32,
    /// Every session id stored in a completed checkpoint.
    pub stored_sessions: BTreeSet<String>,
    /// Commit outcomes.
    pub commits: Vec<CommitRecord>,
    /// Replayed input ranges: (subtask, from, to) fed a second time after a restore.
    pub replays: Vec<(usize, u64, u64)>,
    /// Stream tunnel: row id -> writes carrying it that ended without a known outcome.
    pub ambiguous: BTreeMap<i64, u32>,
    /// Per subtask: input rows fed to the writer of the current incarnation.
    pub fed: Vec<u64>,
    /// Failovers.
    pub failovers: u64,
    /// Outcome.
    pub outcome: Outcome,
    /// Counters for the summary (`checkpoints-completed`, ...; `fault:<kind>` counts engine
    /// faults that took effect).
    pub counters: BTreeMap<&'static str, u64>,
    /// Violations noticed during the run (the oracle adds to these).
    pub violations: Vec<String>,
}

impl Shared {
    /// A fresh journal.
    pub fn new() -> Self {
        Self {
            completed: None,
            completed_count: 0,
            next_checkpoint: 1,
            attempt: 0,
            stored_sessions: BTreeSet::new(),
            commits: Vec::new(),
            replays: Vec::new(),
            ambiguous: BTreeMap::new(),
            fed: Vec::new(),
            failovers: 0,
            outcome: Outcome::Running,
            counters: BTreeMap::new(),
            violations: Vec::new(),
        }
    }

    /// Per subtask: input rows acknowledged by the last completed checkpoint.
    pub fn watermarks(&self, parallelism: usize) -> Vec<u64> {
        match &self.completed {
            Some(c) => c.subtasks.iter().map(|s| s.offset).collect(),
            None => vec![0; parallelism],
        }
    }

    fn count(&mut self, key: &'static str) {
        *self.counters.entry(key).or_default() += 1;
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

/// The journal, shared between the job and the runner.
pub type SharedRef = Arc<Mutex<Shared>>;

/// Locks the journal (a poisoned lock is recovered: the data is plain values).
pub fn lock(s: &SharedRef) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sink config of a scenario.
pub fn sink_config(sc: &Scenario) -> Result<SinkConfig, String> {
    let mut b = SinkConfig::builder(
        ENDPOINT,
        PROJECT,
        sc.workload.table(),
        Credentials::access_key(maxc_mock::DEFAULT_ACCESS_ID, maxc_mock::DEFAULT_ACCESS_KEY),
    );
    for (k, v) in &sc.options {
        b = b.option(k.clone(), v.clone());
    }
    b.memory_budget(MemorySize(sc.memory_budget))
        .bug_switches(sc.bugs)
        .build()
        .map_err(|e| format!("scenario sink options are invalid: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TaskId {
    Writer(usize),
    Committer,
}

#[derive(Debug)]
struct Route {
    attempt: u32,
    task: TaskId,
    token: Token,
    /// Stream writes: the body and its encoding (decoded when the outcome is unknown).
    stream_body: Option<(Bytes, Option<String>)>,
}

#[derive(Debug)]
struct WriterTask {
    w: Option<SinkWriter>,
    offset: u64,
    total: u64,
    next_write: Instant,
    /// Waiting for `WriteReady`.
    blocked: bool,
    /// `end_of_input` was called.
    ended: bool,
    /// The `Finished` committables (once the event came).
    finished: Option<Vec<Committable>>,
    /// The subtask is finished in a completed checkpoint.
    stored_finished: bool,
}

#[derive(Debug)]
struct CommitterTask {
    c: Committer,
    /// Uncommitted committables by the checkpoint they belong to.
    received: BTreeMap<u64, BTreeMap<String, Committable>>,
    /// Sessions with a commit under way.
    committing: BTreeSet<String>,
}

impl CommitterTask {
    fn uncommitted_upto(&self, cp: u64) -> Vec<Committable> {
        self.received
            .range(..=cp)
            .flat_map(|(_, m)| m.values().cloned())
            .collect()
    }

    fn forget(&mut self, session: &str) {
        for m in self.received.values_mut() {
            m.remove(session);
        }
        self.received.retain(|_, m| !m.is_empty());
    }

    fn is_empty(&self) -> bool {
        self.received.is_empty() && self.committing.is_empty()
    }
}

#[derive(Debug)]
struct PendingCp {
    started: Instant,
    snapshots: Vec<SubtaskSnapshot>,
    /// Subtasks whose acknowledgement is still missing.
    waiting: BTreeSet<usize>,
    /// Subtasks that were ended (waiting for `Finished`, not `Prepared`).
    ended: BTreeSet<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Restarting(Instant),
    Done,
}

/// Engine faults of a plan, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EngineFault {
    CrashSubtask(usize),
    CrashJob,
}

/// The engine model as a pure machine whose events are trace lines.
pub struct Job {
    sc: Arc<Scenario>,
    config: SinkConfig,
    meta: TableMeta,
    columns: Vec<Column>,
    rows_gen: RowGen,
    shared: SharedRef,
    rng: Rng,
    now: Instant,
    phase: Phase,
    writers: Vec<WriterTask>,
    committer: Option<CommitterTask>,
    pending: BTreeMap<u64, PendingCp>,
    next_trigger: Instant,
    notifications: BTreeMap<(Instant, u64), u64>,
    seq: u64,
    crashes: VecDeque<(u64, EngineFault)>,
    lost_notifications: BTreeSet<u64>,
    delayed_notifications: BTreeMap<u64, u64>,
    routes: BTreeMap<u64, Route>,
    next_token: u64,
    attempt: u32,
    out: VecDeque<Output<String>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("now", &self.now)
            .field("phase", &self.phase)
            .field("attempt", &self.attempt)
            .finish()
    }
}

fn ms(i: Instant) -> u64 {
    i.as_millis()
}

fn describe_committable(c: &Committable) -> String {
    let part = c.partition.to_tunnel_string();
    format!(
        "{}{}{} blocks={} rows={}",
        c.session_id,
        if part.is_empty() { "" } else { " " },
        part,
        c.block_ids.len(),
        c.row_count
    )
}

impl Job {
    /// A job for `sc` with the engine faults of `plan`, journaling into `shared`. When the
    /// journal has a completed checkpoint, the job starts by restoring from it (a restarted
    /// job host); otherwise it starts from scratch.
    pub fn new(
        sc: Arc<Scenario>,
        plan: &FaultPlan,
        shared: SharedRef,
        now: Instant,
    ) -> Result<Self, String> {
        let config = sink_config(&sc)?;
        let meta = sc.workload.meta();
        let rows_gen = RowGen::new(sc.seed, sc.workload, sc.parallelism, sc.keys_per_subtask);
        let mut crashes: Vec<(u64, EngineFault)> = Vec::new();
        let mut lost = BTreeSet::new();
        let mut delayed = BTreeMap::new();
        for f in plan.iter() {
            match *f {
                Fault::CrashSubtask { at_ms, subtask } => {
                    crashes.push((at_ms, EngineFault::CrashSubtask(subtask)))
                }
                Fault::CrashJob { at_ms } => crashes.push((at_ms, EngineFault::CrashJob)),
                Fault::LoseNotification { checkpoint } => {
                    lost.insert(checkpoint);
                }
                Fault::DelayNotification { checkpoint, ms } => {
                    delayed.insert(checkpoint, ms);
                }
                _ => {}
            }
        }
        crashes.sort();
        // Crashes that already happened (a restarted job host) are not replayed.
        crashes.retain(|(at, _)| *at >= ms(now));
        let attempt = {
            let mut s = lock(&shared);
            s.attempt += 1;
            s.attempt
        };
        let mut job = Job {
            rng: Rng::fork(sc.seed ^ u64::from(attempt), "engine"),
            columns: sc.workload.columns(),
            sc,
            config,
            meta,
            rows_gen,
            shared,
            now,
            phase: Phase::Running,
            writers: Vec::new(),
            committer: None,
            pending: BTreeMap::new(),
            next_trigger: now,
            notifications: BTreeMap::new(),
            seq: 0,
            crashes: crashes.into(),
            lost_notifications: lost,
            delayed_notifications: delayed,
            routes: BTreeMap::new(),
            next_token: 0,
            attempt,
            out: VecDeque::new(),
        };
        job.restore();
        Ok(job)
    }

    /// The journal.
    pub fn shared(&self) -> &SharedRef {
        &self.shared
    }

    /// True once the job finished.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    fn trace(&mut self, line: String) {
        self.out.push_back(Output::Event(line));
    }

    fn count(&self, key: &'static str) {
        lock(&self.shared).count(key);
    }

    // ------------------------------------------------------------------ lifecycle

    /// Builds every task from the last completed checkpoint (or from scratch).
    fn restore(&mut self) {
        let completed = lock(&self.shared).completed.clone();
        let now = self.now;
        let mut writers = Vec::with_capacity(self.sc.parallelism);
        let mut failure = None;
        for s in 0..self.sc.parallelism {
            let total = self.sc.rows.get(s).copied().unwrap_or(0);
            let snap = completed.as_ref().and_then(|c| c.subtasks.get(s));
            let (offset, finished, state) = match snap {
                Some(sn) => (sn.offset, sn.finished, sn.state.clone()),
                None => (0, false, None),
            };
            let w = if finished {
                None
            } else {
                let made = match state {
                    Some(json) => WriterState::from_json(&json)
                        .and_then(|st| SinkWriter::restore(&self.config, &self.meta, st)),
                    None => SinkWriter::new(&self.config, &self.meta),
                };
                match made {
                    Ok(w) => Some(w),
                    Err(e) => {
                        failure = Some(format!("writer {s} cannot be created: {e}"));
                        None
                    }
                }
            };
            writers.push(WriterTask {
                w,
                offset,
                total,
                next_write: now,
                blocked: false,
                ended: finished,
                finished: finished.then(Vec::new),
                stored_finished: finished,
            });
        }
        {
            let mut sh = lock(&self.shared);
            sh.fed.resize(self.sc.parallelism, 0);
            for (s, w) in writers.iter().enumerate() {
                let fed = sh.fed[s];
                if fed > w.offset {
                    sh.replays.push((s, w.offset, fed));
                }
                sh.fed[s] = w.offset;
            }
        }
        self.writers = writers;
        let mut ct = CommitterTask {
            c: Committer::new(&self.config),
            received: BTreeMap::new(),
            committing: BTreeSet::new(),
        };
        if let Some(c) = completed.as_ref().filter(|c| !c.committables.is_empty()) {
            ct.received.insert(c.id, c.committables.clone());
        }
        self.committer = Some(ct);
        self.pending.clear();
        self.notifications.clear();
        self.phase = Phase::Running;
        self.next_trigger = now.plus(Duration::from_millis(self.sc.checkpoint_interval_ms));
        let offsets: Vec<u64> = self.writers.iter().map(|w| w.offset).collect();
        self.trace(format!(
            "job attempt {} starts from {} offsets {:?}",
            self.attempt,
            match &completed {
                Some(c) => format!("checkpoint {}", c.id),
                None => "scratch".to_string(),
            },
            offsets
        ));
        if let Some(f) = failure {
            self.failover(f);
            return;
        }
        // Flink commits the restored checkpoint's committables again on restore.
        if let Some(c) = completed {
            self.commit_upto(c.id, "restore");
        }
    }

    fn failover(&mut self, reason: String) {
        if self.phase != Phase::Running {
            return;
        }
        {
            let mut sh = lock(&self.shared);
            sh.failovers += 1;
            sh.attempt += 1;
            self.attempt = sh.attempt;
        }
        self.trace(format!("FAILOVER: {reason}"));
        self.writers.clear();
        self.committer = None;
        self.pending.clear();
        self.notifications.clear();
        let at = self
            .now
            .plus(Duration::from_millis(self.sc.restart_delay_ms));
        self.phase = Phase::Restarting(at);
    }

    fn check_done(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        let writers_done = self.writers.iter().all(|w| w.stored_finished);
        let committer_done = self.committer.as_ref().is_none_or(CommitterTask::is_empty);
        if writers_done && committer_done {
            self.phase = Phase::Done;
            lock(&self.shared).outcome = Outcome::Finished {
                at_ms: ms(self.now),
            };
            self.trace("job FINISHED".to_string());
        }
    }

    // ------------------------------------------------------------------ checkpoints

    fn trigger(&mut self) {
        let id = {
            let mut sh = lock(&self.shared);
            let id = sh.next_checkpoint;
            sh.next_checkpoint += 1;
            sh.count("checkpoints-triggered");
            id
        };
        let now = self.now;
        let mut snapshots = Vec::with_capacity(self.writers.len());
        let mut waiting = BTreeSet::new();
        let mut ended = BTreeSet::new();
        let mut failure = None;
        for (s, t) in self.writers.iter_mut().enumerate() {
            if t.stored_finished {
                snapshots.push(SubtaskSnapshot {
                    offset: t.total,
                    state: None,
                    finished: true,
                });
            } else if t.ended {
                snapshots.push(SubtaskSnapshot {
                    offset: t.total,
                    state: None,
                    finished: true,
                });
                if t.finished.is_none() {
                    waiting.insert(s);
                }
                ended.insert(s);
            } else {
                let Some(w) = t.w.as_mut() else {
                    failure = Some(format!("writer {s} is missing"));
                    break;
                };
                if let Err(e) = w.barrier(id, now) {
                    failure = Some(format!("writer {s} refused barrier {id}: {e}"));
                    break;
                }
                snapshots.push(SubtaskSnapshot {
                    offset: t.offset,
                    state: Some(w.snapshot().to_json()),
                    finished: false,
                });
                waiting.insert(s);
            }
        }
        if let Some(f) = failure {
            self.failover(f);
            return;
        }
        let offsets: Vec<u64> = snapshots.iter().map(|s| s.offset).collect();
        self.trace(format!("checkpoint {id} triggered at offsets {offsets:?}"));
        // Subtasks that already finished acknowledge with their final committables now.
        for &s in &ended {
            if !waiting.contains(&s)
                && let Some(list) = self.writers.get(s).and_then(|t| t.finished.clone())
            {
                self.receive(id, list);
            }
        }
        self.pending.insert(
            id,
            PendingCp {
                started: now,
                snapshots,
                waiting,
                ended,
            },
        );
        for s in 0..self.writers.len() {
            self.pump(TaskId::Writer(s));
        }
        self.complete_ready();
    }

    /// Hands committables to the committer under checkpoint `cp` (a session it already
    /// holds keeps its earlier checkpoint).
    fn receive(&mut self, cp: u64, list: Vec<Committable>) {
        if let Some(ct) = self.committer.as_mut() {
            for c in list {
                let known = ct.received.values().any(|m| m.contains_key(&c.session_id));
                if !known {
                    ct.received
                        .entry(cp)
                        .or_default()
                        .insert(c.session_id.clone(), c);
                }
            }
        }
    }

    fn ack(&mut self, s: usize, cp: u64) {
        if let Some(p) = self.pending.get_mut(&cp) {
            p.waiting.remove(&s);
        }
    }

    fn complete_ready(&mut self) {
        let ready: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.waiting.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            self.complete(id);
        }
    }

    fn complete(&mut self, id: u64) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        // Older pending checkpoints are subsumed.
        let older: Vec<u64> = self.pending.range(..id).map(|(k, _)| *k).collect();
        for o in older {
            self.pending.remove(&o);
            self.count("checkpoints-subsumed");
        }
        let committables: BTreeMap<String, Committable> = self
            .committer
            .as_ref()
            .map(|ct| {
                ct.uncommitted_upto(id)
                    .into_iter()
                    .map(|c| (c.session_id.clone(), c))
                    .collect()
            })
            .unwrap_or_default();
        for (s, sn) in p.snapshots.iter().enumerate() {
            if sn.finished
                && let Some(t) = self.writers.get_mut(s)
            {
                t.stored_finished = true;
            }
        }
        let n = committables.len();
        {
            let mut sh = lock(&self.shared);
            sh.stored_sessions.extend(committables.keys().cloned());
            sh.completed = Some(CompletedCheckpoint {
                id,
                at_ms: ms(self.now),
                subtasks: p.snapshots.clone(),
                committables,
            });
            sh.completed_count += 1;
            sh.count("checkpoints-completed");
        }
        let offsets: Vec<u64> = p.snapshots.iter().map(|s| s.offset).collect();
        self.trace(format!(
            "checkpoint {id} COMPLETED offsets {offsets:?} committables {n}"
        ));
        let faulty = ms(self.now) < self.sc.heal_at_ms;
        if faulty && self.lost_notifications.contains(&id) {
            self.count("fault:lose-notification");
            self.trace(format!("notification of checkpoint {id} lost (fault)"));
        } else {
            let mut delay = self
                .rng
                .range(self.sc.notify_delay_ms.0, self.sc.notify_delay_ms.1);
            if let Some(extra) = self.delayed_notifications.get(&id).filter(|_| faulty) {
                delay += extra;
                self.count("fault:delay-notification");
            }
            let at = self.now.plus(Duration::from_millis(delay));
            self.seq += 1;
            self.notifications.insert((at, self.seq), id);
        }
        self.check_done();
    }

    fn commit_upto(&mut self, cp: u64, why: &str) {
        let now = self.now;
        let Some(ct) = self.committer.as_mut() else {
            return;
        };
        let list: Vec<Committable> = ct
            .uncommitted_upto(cp)
            .into_iter()
            .filter(|c| !ct.committing.contains(&c.session_id))
            .collect();
        if list.is_empty() {
            self.check_done();
            return;
        }
        for c in &list {
            ct.committing.insert(c.session_id.clone());
        }
        let descr: Vec<String> = list.iter().map(describe_committable).collect();
        let req = ct.c.commit(list, now);
        self.trace(format!(
            "committer request {req} ({why}, checkpoint <= {cp}): {}",
            descr.join("; ")
        ));
        self.pump(TaskId::Committer);
    }

    // ------------------------------------------------------------------ input

    fn write_due(&mut self, s: usize) {
        let now = self.now;
        let (lo, hi) = self.sc.batch_rows;
        let n = self.rng.range(lo, hi);
        let gap = self
            .rng
            .range(self.sc.write_gap_ms.0, self.sc.write_gap_ms.1);
        let Some(t) = self.writers.get_mut(s) else {
            return;
        };
        let from = t.offset;
        let to = (from + n).min(t.total);
        let Some(w) = t.w.as_mut() else {
            return;
        };
        let (batch, kinds) = self.rows_gen.batch(s, from, to);
        let r = match kinds {
            Some(k) => w.write_changes(batch, &k, now),
            None => w.write(batch, now),
        };
        match r {
            Ok(()) => {
                t.offset = to;
                if let Some(f) = lock(&self.shared).fed.get_mut(s) {
                    *f = (*f).max(to);
                }
                t.next_write = now.plus(Duration::from_millis(gap));
                let end = to == t.total;
                let mut failure = None;
                if end {
                    t.ended = true;
                    if let Err(e) = w.end_of_input(now) {
                        failure = Some(format!("writer {s} refused end of input: {e}"));
                    }
                }
                self.trace(format!(
                    "w{s} write rows {from}..{to}{}",
                    if end { " + end of input" } else { "" }
                ));
                if let Some(f) = failure {
                    self.failover(f);
                    return;
                }
            }
            Err(rej) if rej.is_back_pressure() => {
                t.blocked = true;
                self.count("back-pressure");
                self.trace(format!(
                    "w{s} write rows {from}..{to} refused: back-pressure"
                ));
            }
            Err(rej) => {
                self.failover(format!("w{s} write rows {from}..{to} refused: {rej}"));
                return;
            }
        }
        self.pump(TaskId::Writer(s));
    }

    // ------------------------------------------------------------------ machine plumbing

    fn send(&mut self, task: TaskId, token: Token, request: Request) {
        self.next_token += 1;
        let g = self.next_token;
        let stream_body = (self.sc.workload.tunnel() == Tunnel::Stream
            && request.method == Method::Put
            && request.path.ends_with("/streams"))
        .then(|| {
            (
                request.body.clone(),
                request.headers.get("content-encoding").map(str::to_string),
            )
        });
        self.routes.insert(
            g,
            Route {
                attempt: self.attempt,
                task,
                token,
                stream_body,
            },
        );
        self.out.push_back(Output::Send {
            token: Token(g),
            request,
        });
    }

    /// Drains one task's machine, acting on its events.
    fn pump(&mut self, task: TaskId) {
        let now = self.now;
        let attempt = self.attempt;
        loop {
            if self.attempt != attempt || self.phase != Phase::Running {
                return;
            }
            let out = match task {
                TaskId::Writer(s) => match self.writers.get_mut(s).and_then(|t| t.w.as_mut()) {
                    Some(w) => w.poll(now).map(|o| match o {
                        Output::Send { token, request } => Output::Send { token, request },
                        Output::Event(e) => Output::Event(Ev::Sink(e)),
                    }),
                    None => None,
                },
                TaskId::Committer => match self.committer.as_mut() {
                    Some(ct) => ct.c.poll(now).map(|o| match o {
                        Output::Send { token, request } => Output::Send { token, request },
                        Output::Event(e) => Output::Event(Ev::Commit(e)),
                    }),
                    None => None,
                },
            };
            match out {
                None => return,
                Some(Output::Send { token, request }) => self.send(task, token, request),
                Some(Output::Event(Ev::Sink(e))) => {
                    if let TaskId::Writer(s) = task {
                        self.on_sink_event(s, e);
                    }
                }
                Some(Output::Event(Ev::Commit(e))) => self.on_commit_event(e),
            }
        }
    }

    fn on_sink_event(&mut self, s: usize, e: SinkEvent) {
        match e {
            SinkEvent::Prepared {
                checkpoint_id,
                committables,
            } => {
                let d: Vec<String> = committables.iter().map(describe_committable).collect();
                self.trace(format!(
                    "w{s} prepared checkpoint {checkpoint_id}: [{}]",
                    d.join("; ")
                ));
                self.receive(checkpoint_id, committables);
                self.ack(s, checkpoint_id);
                self.complete_ready();
            }
            SinkEvent::Finished { committables } => {
                let d: Vec<String> = committables.iter().map(describe_committable).collect();
                self.trace(format!("w{s} finished: [{}]", d.join("; ")));
                // The committables belong to the first checkpoint that waits for them.
                let waiting: Vec<u64> = self
                    .pending
                    .iter()
                    .filter(|(_, p)| p.ended.contains(&s))
                    .map(|(id, _)| *id)
                    .collect();
                let key = waiting
                    .first()
                    .copied()
                    .unwrap_or_else(|| lock(&self.shared).next_checkpoint);
                if let Some(t) = self.writers.get_mut(s) {
                    t.finished = Some(committables.clone());
                }
                self.receive(key, committables);
                for cp in waiting {
                    self.ack(s, cp);
                }
                self.complete_ready();
            }
            SinkEvent::WriteReady => {
                if let Some(t) = self.writers.get_mut(s) {
                    t.blocked = false;
                    t.next_write = t.next_write.min(self.now);
                }
            }
            SinkEvent::Failed(err) => {
                self.count("writer-failures");
                self.failover(format!("w{s} failed: {err}"));
            }
        }
    }

    fn on_commit_event(&mut self, e: CommitEvent) {
        match e {
            CommitEvent::Outcome(r) => {
                let session = r.committable.session_id.clone();
                let (name, error) = match &r.outcome {
                    CommitOutcome::Committed => ("committed", None),
                    CommitOutcome::AlreadyCommitted => ("already-committed", None),
                    CommitOutcome::RetryLater => (
                        "retry-later",
                        r.last_error.as_ref().map(ToString::to_string),
                    ),
                    CommitOutcome::FailedKnown(e) => ("failed-known", Some(e.to_string())),
                    CommitOutcome::FailedUnknown(e) => ("failed-unknown", Some(e.to_string())),
                };
                self.trace(format!(
                    "commit {session} -> {name} (rows {}, {} requests){}",
                    r.row_count,
                    r.requests,
                    error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
                ));
                {
                    let mut sh = lock(&self.shared);
                    sh.commits.push(CommitRecord {
                        session: session.clone(),
                        outcome: name,
                        rows: r.row_count,
                        error: error.clone(),
                    });
                    sh.count(match name {
                        "committed" => "commits-committed",
                        "already-committed" => "commits-already-committed",
                        "retry-later" => "commits-retry-later",
                        "failed-known" => "commits-failed-known",
                        _ => "commits-failed-unknown",
                    });
                }
                if let Some(ct) = self.committer.as_mut() {
                    ct.committing.remove(&session);
                    match &r.outcome {
                        CommitOutcome::Committed
                        | CommitOutcome::AlreadyCommitted
                        | CommitOutcome::FailedKnown(_) => ct.forget(&session),
                        CommitOutcome::RetryLater | CommitOutcome::FailedUnknown(_) => {}
                    }
                }
                if let CommitOutcome::FailedUnknown(e) = r.outcome {
                    self.failover(format!("commit of {session} failed: {e}"));
                    return;
                }
                self.check_done();
            }
            CommitEvent::Done { .. } => self.check_done(),
        }
    }

    /// Everything due at `now`, in a fixed order.
    fn advance(&mut self) {
        let now = self.now;
        loop {
            // 1. Restart.
            if let Phase::Restarting(at) = self.phase {
                if now >= at {
                    self.restore();
                } else {
                    // Crash faults during a restart are moot.
                    while self.crashes.front().is_some_and(|(t, _)| *t <= ms(now)) {
                        self.crashes.pop_front();
                    }
                    return;
                }
            }
            if self.phase == Phase::Done {
                return;
            }
            // 2. Crash faults.
            if let Some(&(t, f)) = self.crashes.front()
                && t <= ms(now)
            {
                self.crashes.pop_front();
                let (why, kind) = match f {
                    EngineFault::CrashSubtask(s) => (
                        format!("writer subtask {s} crashed (fault)"),
                        "fault:crash-subtask",
                    ),
                    EngineFault::CrashJob => {
                        ("the job crashed (fault)".to_string(), "fault:crash-job")
                    }
                };
                self.count(kind);
                self.failover(why);
                continue;
            }
            // 3. Notifications.
            if let Some((&(at, seq), &cp)) = self.notifications.first_key_value()
                && at <= now
            {
                self.notifications.remove(&(at, seq));
                self.trace(format!("notification: checkpoint {cp} complete"));
                self.commit_upto(cp, "notification");
                continue;
            }
            // 4. Checkpoint timeouts.
            let timeout = Duration::from_millis(self.sc.checkpoint_timeout_ms);
            if let Some((&id, _)) = self
                .pending
                .iter()
                .find(|(_, p)| p.started.plus(timeout) <= now)
            {
                self.pending.remove(&id);
                self.count("checkpoints-aborted");
                self.trace(format!("checkpoint {id} aborted (timeout)"));
                continue;
            }
            // 5. Trigger.
            if self.next_trigger <= now {
                self.next_trigger = now.plus(Duration::from_millis(self.sc.checkpoint_interval_ms));
                self.trigger();
                continue;
            }
            // 6. Input.
            let due = self.writers.iter().position(|t| {
                t.w.is_some() && !t.ended && !t.blocked && t.next_write <= now && t.offset < t.total
            });
            if let Some(s) = due {
                self.write_due(s);
                continue;
            }
            // 7. Machine timers.
            let mut fired = false;
            for s in 0..self.writers.len() {
                let due = self
                    .writers
                    .get(s)
                    .and_then(|t| t.w.as_ref())
                    .and_then(|w| w.next_deadline())
                    .is_some_and(|d| d <= now);
                if due {
                    fired = true;
                    self.pump(TaskId::Writer(s));
                }
            }
            let cdue = self
                .committer
                .as_ref()
                .and_then(|c| c.c.next_deadline())
                .is_some_and(|d| d <= now);
            if cdue {
                fired = true;
                self.pump(TaskId::Committer);
            }
            if fired {
                // Timers fire once per poll; a machine whose deadline did not move would spin.
                return;
            }
            return;
        }
    }

    fn decode_ambiguous(&self, body: &Bytes, enc: Option<&str>) -> Vec<i64> {
        let Ok(codec) = Compression::from_content_encoding(enc) else {
            return Vec::new();
        };
        let Ok(raw) = decompress(codec, body, 64 << 20) else {
            return Vec::new();
        };
        let Ok(batches) = decode_all(&self.columns, &raw, 4096) else {
            return Vec::new();
        };
        let mut ids = Vec::new();
        for b in batches {
            if let Some(a) = b
                .column(0)
                .as_any()
                .downcast_ref::<arrow_array::Int64Array>()
            {
                ids.extend(a.iter().flatten());
            }
        }
        ids
    }
}

enum Ev {
    Sink(SinkEvent),
    Commit(CommitEvent),
}

impl Machine for Job {
    type Event = String;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        self.now = self.now.max(now);
        let Some(route) = self.routes.remove(&token.0) else {
            return;
        };
        if route.attempt != self.attempt || self.phase != Phase::Running {
            return;
        }
        if let (Err(_), Some((body, enc))) = (&reply, &route.stream_body) {
            let ids = self.decode_ambiguous(body, enc.as_deref());
            let mut sh = lock(&self.shared);
            for id in ids {
                *sh.ambiguous.entry(id).or_default() += 1;
            }
        }
        let now = self.now;
        match route.task {
            TaskId::Writer(s) => {
                if let Some(w) = self.writers.get_mut(s).and_then(|t| t.w.as_mut()) {
                    w.handle_reply(route.token, reply, now);
                }
            }
            TaskId::Committer => {
                if let Some(ct) = self.committer.as_mut() {
                    ct.c.handle_reply(route.token, reply, now);
                }
            }
        }
        self.pump(route.task);
        self.check_done();
    }

    fn poll(&mut self, now: Instant) -> Option<Output<String>> {
        self.now = self.now.max(now);
        if self.out.is_empty() {
            self.advance();
        }
        self.out.pop_front()
    }

    fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Done => None,
            Phase::Restarting(at) => Some(at),
            Phase::Running => {
                let mut d = self.next_trigger;
                let mut consider = |x: Instant| d = d.min(x);
                if let Some(&(t, _)) = self.crashes.front() {
                    consider(Instant::from_millis(t));
                }
                if let Some((&(at, _), _)) = self.notifications.first_key_value() {
                    consider(at);
                }
                let timeout = Duration::from_millis(self.sc.checkpoint_timeout_ms);
                for p in self.pending.values() {
                    consider(p.started.plus(timeout));
                }
                for t in &self.writers {
                    if let Some(w) = &t.w {
                        if !t.ended && !t.blocked && t.offset < t.total {
                            consider(t.next_write);
                        }
                        if let Some(x) = w.next_deadline() {
                            consider(x);
                        }
                    }
                }
                if let Some(x) = self.committer.as_ref().and_then(|c| c.c.next_deadline()) {
                    consider(x);
                }
                Some(d)
            }
        }
    }
}
