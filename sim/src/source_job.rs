//! The engine model of the source workloads: a Flink-like job whose source is one split
//! enumerator and N split readers (`maxc_driver::source::SourceMachine` wires
//! `maxc_core::source`'s machines together), feeding an exactly-once downstream.
//!
//! - The downstream takes a seeded time per batch; while it is busy the source is not
//!   polled (back-pressure), so reads spread over virtual time and interleave with
//!   checkpoints, crashes and faults.
//! - Rows delivered since the last barrier form the current epoch. At a barrier (every
//!   `checkpoint_interval`) the job snapshots the source (enumerator and readers: the
//!   `SourceSnapshot`, serialised as JSON as an engine would store it) together with the
//!   epoch's rows; the checkpoint completes after a seeded acknowledgement delay, and its
//!   rows become committed output (as a two-phase-commit sink makes them visible).
//! - A crash or a source failure fails the job over: uncommitted rows are discarded (as
//!   Flink's exactly-once sinks do), and after the restart delay the source is restored from
//!   the last completed checkpoint. The restart strategy gives up when the same failure
//!   comes back three failovers in a row (a partition that cannot be read any further).
//! - A full source finishes after its `Finished` event and a final checkpoint; an
//!   incremental source never finishes, so the job stops once a completed checkpoint shows
//!   every planned partition read (done or skipped) after the last one was created.
//!
//! The committed output is checked as it grows (each split must be committed as a
//! contiguous prefix: no gap, no duplicate, also across restores) and at the end by the
//! oracle.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use maxc_core::machine::{Instant, Machine, Output, Reply, Token};
use maxc_core::options::SourceConfig;
use maxc_core::source::{EnumeratorEvent, PartitionStatus, SplitSizing};
use maxc_driver::source::{SourceEvent, SourceMachine, SourceMachineConfig, SourceSnapshot};

use crate::job::{ENDPOINT, Outcome, PROJECT, SharedRef, SourceCheckpoint, lock};
use crate::plan::{Fault, FaultPlan, Scenario};
use crate::rng::Rng;
use crate::workload::{Workload, part_ds, part_index, part_payload, src_split_id};

/// Failovers in a row with the same failure after which the job fails for good.
pub const RESTART_ATTEMPTS: u32 = 3;

/// The source's configuration for a scenario.
pub fn source_config(sc: &Scenario) -> Result<SourceMachineConfig, String> {
    let rp = &sc.read;
    let mut o: Vec<(String, String)> = vec![
        ("connector".into(), "odps".into()),
        ("endpoint".into(), ENDPOINT.into()),
        ("project".into(), PROJECT.into()),
        ("tableName".into(), sc.workload.table().into()),
        ("accessId".into(), maxc_mock::DEFAULT_ACCESS_ID.into()),
        ("accessKey".into(), maxc_mock::DEFAULT_ACCESS_KEY.into()),
    ];
    o.extend(sc.options.iter().cloned());
    if sc.workload == Workload::SourceIncremental {
        o.push((
            "startPartition".into(),
            format!("ds={}", part_ds(rp.start_index)),
        ));
        o.push(("subscribeIntervalInSec".into(), rp.interval_s.to_string()));
        o.push((
            "modifiedTableOperation".into(),
            if rp.skip { "SKIP" } else { "NONE" }.into(),
        ));
    }
    let cfg = SourceConfig::from_options(o)
        .map_err(|e| format!("scenario source options are invalid: {e}"))?
        .config;
    let mut c = SourceMachineConfig::from_source_config(
        &cfg,
        sc.parallelism as u32,
        Some(vec!["id".into(), "payload".into(), "ds".into()]),
        "maxc-sim",
    )
    .map_err(|e| format!("source config: {e}"))?;
    c.reader.chunk_rows = rp.chunk_rows;
    c.reader.batch_rows = rp.batch_rows;
    c.reader.bug_switches = sc.bugs;
    // Fixed-size splits (also for Arrow reads), so the oracle knows every split's range.
    c.enumerator.sizing = SplitSizing::Rows(rp.split_rows);
    Ok(c)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Restarting(Instant),
    Done,
}

#[derive(Debug)]
struct Pending {
    id: u64,
    snapshot: String,
    rows: Vec<(usize, u64)>,
    due: Instant,
    last: bool,
}

/// The source job as a pure machine whose events are trace lines.
pub struct SourceJob {
    sc: Arc<Scenario>,
    config: SourceMachineConfig,
    shared: SharedRef,
    rng: Rng,
    now: Instant,
    phase: Phase,
    source: Option<SourceMachine>,
    routes: BTreeMap<u64, (u32, Token)>,
    next_token: u64,
    attempt: u32,
    epoch: Vec<(usize, u64)>,
    pending: Option<Pending>,
    next_trigger: Instant,
    busy_until: Option<Instant>,
    crashes: VecDeque<(u64, Option<usize>)>,
    finished: bool,
    out: VecDeque<Output<String>>,
}

impl std::fmt::Debug for SourceJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceJob")
            .field("now", &self.now)
            .field("phase", &self.phase)
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl SourceJob {
    /// A job for `sc` with the engine faults of `plan`, journaling into `shared`; restores
    /// from the journal's last completed checkpoint if there is one.
    pub fn new(
        sc: Arc<Scenario>,
        plan: &FaultPlan,
        shared: SharedRef,
        now: Instant,
    ) -> Result<Self, String> {
        let config = source_config(&sc)?;
        let mut crashes: Vec<(u64, Option<usize>)> = plan
            .iter()
            .filter_map(|f| match *f {
                Fault::CrashSubtask { at_ms, subtask } => Some((at_ms, Some(subtask))),
                Fault::CrashJob { at_ms } => Some((at_ms, None)),
                _ => None,
            })
            .collect();
        crashes.sort_unstable();
        crashes.retain(|(at, _)| *at >= now.as_millis());
        let attempt = {
            let mut s = lock(&shared);
            s.attempt += 1;
            s.attempt
        };
        let mut job = SourceJob {
            rng: Rng::fork(sc.seed ^ u64::from(attempt), "engine"),
            sc,
            config,
            shared,
            now,
            phase: Phase::Running,
            source: None,
            routes: BTreeMap::new(),
            next_token: 0,
            attempt,
            epoch: Vec::new(),
            pending: None,
            next_trigger: now,
            busy_until: None,
            crashes: crashes.into(),
            finished: false,
            out: VecDeque::new(),
        };
        job.restore();
        Ok(job)
    }

    /// True once the job finished (or failed for good).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    fn trace(&mut self, line: String) {
        self.out.push_back(Output::Event(line));
    }

    fn restore(&mut self) {
        let cp = lock(&self.shared).read.checkpoint.clone();
        let made = match &cp {
            Some(c) => serde_json::from_str::<SourceSnapshot>(&c.snapshot)
                .map_err(|e| format!("checkpoint {} does not parse: {e}", c.id))
                .and_then(|s| {
                    SourceMachine::restore(self.config.clone(), s)
                        .map_err(|e| format!("restore from checkpoint {}: {e}", c.id))
                }),
            None => Ok(SourceMachine::new(self.config.clone())),
        };
        self.phase = Phase::Running;
        self.epoch.clear();
        self.pending = None;
        self.busy_until = None;
        self.finished = false;
        self.next_trigger = self
            .now
            .plus(Duration::from_millis(self.sc.checkpoint_interval_ms));
        self.trace(format!(
            "job attempt {} starts from {}",
            self.attempt,
            match &cp {
                Some(c) => format!("checkpoint {}", c.id),
                None => "scratch".to_string(),
            }
        ));
        match made {
            Ok(m) => self.source = Some(m),
            Err(e) => self.failover(e),
        }
    }

    fn failover(&mut self, reason: String) {
        if self.phase != Phase::Running {
            return;
        }
        let discarded = self.epoch.len() + self.pending.as_ref().map_or(0, |p| p.rows.len());
        // Only a partition that cannot be read any further fails for good (every restore
        // hits it again); other failures are transient and the job restarts.
        let permanent = reason.contains("cannot be read any further");
        let give_up = {
            let mut sh = lock(&self.shared);
            sh.failovers += 1;
            sh.attempt += 1;
            self.attempt = sh.attempt;
            sh.read.discarded += discarded as u64;
            let n = match &sh.read.last_failure {
                Some((r, n)) if *r == reason => n + 1,
                _ => 1,
            };
            sh.read.last_failure = Some((reason.clone(), n));
            permanent && n >= RESTART_ATTEMPTS
        };
        self.trace(format!(
            "FAILOVER: {reason} ({discarded} uncommitted rows discarded)"
        ));
        self.source = None;
        self.routes.clear();
        self.epoch.clear();
        self.pending = None;
        self.busy_until = None;
        if give_up {
            self.phase = Phase::Done;
            lock(&self.shared).outcome = Outcome::Failed {
                at_ms: self.now.as_millis(),
                error: reason.clone(),
            };
            self.trace(format!(
                "job FAILED: the same failure came {RESTART_ATTEMPTS} times in a row"
            ));
            return;
        }
        let at = self
            .now
            .plus(Duration::from_millis(self.sc.restart_delay_ms));
        self.phase = Phase::Restarting(at);
    }

    /// Every planned partition ≥ the start has been created and is read (done or skipped).
    fn all_read(&self) -> bool {
        let Some(m) = self.source.as_ref() else {
            return false;
        };
        let created = lock(&self.shared).read.created.len();
        if created < self.sc.read.parts.len() {
            return false;
        }
        let statuses: BTreeMap<usize, bool> = m
            .enumerator()
            .partitions()
            .filter_map(|(p, s)| {
                let ds = p.get("ds")?;
                let done = matches!(s, PartitionStatus::Done | PartitionStatus::Skipped { .. });
                Some((part_index(ds)?, done))
            })
            .collect();
        self.sc
            .read
            .parts
            .iter()
            .filter(|p| p.index >= self.sc.read.start_index)
            .all(|p| statuses.get(&p.index) == Some(&true))
    }

    fn trigger(&mut self, last: bool) {
        let Some(m) = self.source.as_ref() else {
            return;
        };
        let snapshot = match serde_json::to_string(&m.snapshot()) {
            Ok(s) => s,
            Err(e) => {
                self.failover(format!("snapshot does not serialise: {e}"));
                return;
            }
        };
        let last = last || (self.sc.workload == Workload::SourceIncremental && self.all_read());
        let id = {
            let mut sh = lock(&self.shared);
            let id = sh.next_checkpoint;
            sh.next_checkpoint += 1;
            sh.count("checkpoints-triggered");
            id
        };
        let (lo, hi) = self.sc.notify_delay_ms;
        let due = self.now.plus(Duration::from_millis(self.rng.range(lo, hi)));
        let rows = std::mem::take(&mut self.epoch);
        self.trace(format!(
            "checkpoint {id} triggered: {} rows in the epoch{}",
            rows.len(),
            if last { " (final)" } else { "" }
        ));
        self.pending = Some(Pending {
            id,
            snapshot,
            rows,
            due,
            last,
        });
    }

    fn complete(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let split = self.sc.read.split_rows.max(1);
        let mut violations = Vec::new();
        {
            let mut sh = lock(&self.shared);
            for &(part, pos) in &p.rows {
                *sh.read.committed.entry((part, pos)).or_default() += 1;
                let start = pos / split * split;
                let next = sh.read.next_in_split.entry((part, start)).or_insert(start);
                if *next != pos && violations.len() < 5 {
                    violations.push(format!(
                        "checkpoint {}: partition {} split at row {start} commits row {pos} but row {} is next (a {})",
                        p.id,
                        part_ds(part),
                        *next,
                        if pos > *next { "gap" } else { "duplicate" }
                    ));
                }
                *next = (*next).max(pos + 1);
            }
            sh.read.checkpoint = Some(SourceCheckpoint {
                id: p.id,
                at_ms: self.now.as_millis(),
                snapshot: p.snapshot,
            });
            sh.read.last_failure = None;
            sh.completed_count += 1;
            sh.count("checkpoints-completed");
            sh.violations.extend(violations);
        }
        self.trace(format!(
            "checkpoint {} COMPLETED: {} rows committed",
            p.id,
            p.rows.len()
        ));
        if p.last {
            self.phase = Phase::Done;
            lock(&self.shared).outcome = Outcome::Finished {
                at_ms: self.now.as_millis(),
            };
            self.trace("job FINISHED".to_string());
        }
    }

    fn on_batch(&mut self, reader: u32, batch: &RecordBatch) {
        let mut bad = None;
        let ids = batch.column(0).as_any().downcast_ref::<Int64Array>();
        let payloads = batch.column(1).as_any().downcast_ref::<StringArray>();
        let dss = batch.column(2).as_any().downcast_ref::<StringArray>();
        let (Some(ids), Some(payloads), Some(dss)) = (ids, payloads, dss) else {
            self.failover(format!(
                "reader {reader} emitted a batch of schema {:?}",
                batch.schema()
            ));
            return;
        };
        let mut n = 0;
        for i in 0..batch.num_rows() {
            let (part, pos) = src_split_id(ids.value(i));
            let plan = self.sc.read.parts.iter().find(|p| p.index == part);
            let ok = plan.is_some_and(|p| pos < p.rows)
                && !ids.is_null(i)
                && dss.value(i) == part_ds(part)
                && payloads.value(i) == part_payload(self.sc.seed, part, pos)
                && (self.sc.workload != Workload::SourceIncremental
                    || part >= self.sc.read.start_index);
            if !ok && bad.is_none() {
                bad = Some(format!(
                    "reader {reader} delivered a row that is not in the table or not in the range read: id {} ds {:?} payload {:?}",
                    ids.value(i),
                    dss.value(i),
                    payloads.value(i)
                ));
            }
            self.epoch.push((part, pos));
            n += 1;
        }
        if let Some(b) = bad {
            lock(&self.shared).violations.push(b);
        }
        let (lo, hi) = self.sc.read.pull_gap_ms;
        let gap = self.rng.range(lo, hi);
        self.busy_until = Some(self.now.plus(Duration::from_millis(gap)));
        lock(&self.shared)
            .counters
            .entry("rows-delivered")
            .and_modify(|c| *c += n)
            .or_insert(n);
    }

    fn on_event(&mut self, e: SourceEvent) {
        match e {
            SourceEvent::Batch { reader, batch, .. } => self.on_batch(reader, &batch),
            SourceEvent::SplitFinished {
                reader,
                split,
                rows,
            } => self.trace(format!("r{reader} {split} finished ({rows} rows)")),
            SourceEvent::SessionLost { reader, lost } => {
                lock(&self.shared).count("sessions-lost");
                self.trace(format!(
                    "r{reader} {} of {} lost after {} rows: {}",
                    lost.split, lost.partition, lost.rows_read, lost.reason
                ))
            }
            SourceEvent::Enumerator(ev) => {
                let line = match ev {
                    EnumeratorEvent::TableDescribed { .. } => "table described".to_string(),
                    EnumeratorEvent::PartitionsDiscovered { partitions } => format!(
                        "partitions discovered: {}",
                        partitions
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                    EnumeratorEvent::SessionReady {
                        partition,
                        session_id,
                        record_count,
                        splits,
                    } => format!(
                        "session {session_id} of {partition} ready: {record_count} rows, {splits} splits"
                    ),
                    EnumeratorEvent::PartitionFinished { partition } => {
                        format!("partition {partition} read")
                    }
                    EnumeratorEvent::PartitionSkipped { partition, reason } => {
                        lock(&self.shared).count("partitions-skipped");
                        format!("partition {partition} SKIPPED: {reason}")
                    }
                    EnumeratorEvent::ListingFailed { error } => {
                        lock(&self.shared).count("listings-failed");
                        format!("listing failed: {error}")
                    }
                    other => format!("enumerator: {other:?}"),
                };
                self.trace(line);
            }
            SourceEvent::Finished => {
                self.trace("source finished".to_string());
                self.finished = true;
            }
            SourceEvent::Failed(e) => {
                lock(&self.shared).count("source-failures");
                self.failover(format!("source failed: {e}"));
            }
        }
    }

    /// Polls the source until it has nothing to say or the downstream is busy.
    fn pump(&mut self) {
        let attempt = self.attempt;
        loop {
            if self.attempt != attempt
                || self.phase != Phase::Running
                || self.busy_until.is_some_and(|b| b > self.now)
            {
                return;
            }
            self.busy_until = None;
            let Some(m) = self.source.as_mut() else {
                return;
            };
            match m.poll(self.now) {
                None => return,
                Some(Output::Send { token, request }) => {
                    self.next_token += 1;
                    self.routes.insert(self.next_token, (self.attempt, token));
                    self.out.push_back(Output::Send {
                        token: Token(self.next_token),
                        request,
                    });
                }
                Some(Output::Event(e)) => self.on_event(e),
            }
        }
    }

    fn advance(&mut self) {
        let now = self.now;
        loop {
            if let Phase::Restarting(at) = self.phase {
                if now >= at {
                    self.restore();
                } else {
                    while self
                        .crashes
                        .front()
                        .is_some_and(|(t, _)| *t <= now.as_millis())
                    {
                        self.crashes.pop_front();
                    }
                    return;
                }
            }
            if self.phase == Phase::Done {
                return;
            }
            if let Some(&(t, who)) = self.crashes.front()
                && t <= now.as_millis()
            {
                self.crashes.pop_front();
                // A reader subtask's crash fails the whole job over (one region).
                let (kind, why) = match who {
                    Some(s) => (
                        "fault:crash-subtask",
                        format!("reader subtask {s} crashed (fault)"),
                    ),
                    None => ("fault:crash-job", "the job crashed (fault)".to_string()),
                };
                lock(&self.shared).count(kind);
                self.failover(why);
                continue;
            }
            if self.pending.as_ref().is_some_and(|p| p.due <= now) {
                self.complete();
                continue;
            }
            if self.finished && self.pending.is_none() {
                // The final checkpoint commits the rest (as Flink's end of input does).
                self.trigger(true);
                continue;
            }
            if self.next_trigger <= now {
                self.next_trigger = now.plus(Duration::from_millis(self.sc.checkpoint_interval_ms));
                if self.pending.is_none() {
                    self.trigger(false);
                }
                continue;
            }
            break;
        }
        self.pump();
    }
}

impl Machine for SourceJob {
    type Event = String;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        self.now = self.now.max(now);
        let Some((attempt, inner)) = self.routes.remove(&token.0) else {
            return;
        };
        if attempt != self.attempt || self.phase != Phase::Running {
            return;
        }
        if let Some(m) = self.source.as_mut() {
            m.handle_reply(inner, reply, self.now);
        }
        self.pump();
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
                if let Some(&(t, _)) = self.crashes.front() {
                    d = d.min(Instant::from_millis(t));
                }
                if let Some(p) = &self.pending {
                    d = d.min(p.due);
                }
                match self.busy_until {
                    Some(b) => d = d.min(b),
                    None => {
                        if let Some(x) = self.source.as_ref().and_then(|m| m.next_deadline()) {
                            d = d.min(x);
                        }
                    }
                }
                Some(d)
            }
        }
    }
}
