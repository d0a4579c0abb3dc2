//! The engine model of the lookup workload: one `maxc_core::lookup::LookupMachine` caching
//! `max_pt()` of a dimension table (`cache = ALL`, reload after `cacheTTLMs`), probed by the
//! job at seeded intervals while the simulation adds newer partitions.
//!
//! Each probe looks a key up in the serving cache and checks the answer on the spot: one row,
//! whose `v`, `payload` and `ds` are exactly the content of some partition of the table. The
//! partition it came from is journaled; the oracle checks freshness against the times the
//! partitions were created. A crash restarts the machine (a lookup keeps no checkpoint
//! state); so does a first load that fails for good (the restart strategy never gives up: a
//! load that can never succeed shows as a liveness failure). The job finishes one TTL after the
//! freshness bound (`staleness`) has run out after both the heal and the last partition
//! creation; the oracle checks that every answer from then on comes from the newest
//! partitions.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, Int64Array, StringArray};
use maxc_core::lookup::UtcOffset;
use maxc_core::lookup::{KeySpec, LookupEvent, LookupKey, LookupMachine, LookupMachineConfig};
use maxc_core::machine::{Instant, Machine, Output, Reply, Token};
use maxc_core::options::LookupConfig;
use maxc_core::time::WallClock;

use crate::job::{ENDPOINT, Outcome, PROJECT, Probe, SharedRef, lock};
use crate::mockctl::EPOCH_MS;
use crate::plan::{Fault, FaultPlan, Scenario};
use crate::rng::Rng;
use crate::workload::{dim_value, part_ds, part_index, part_payload};

/// The lookup machine's configuration for a scenario.
pub fn lookup_config(sc: &Scenario) -> Result<LookupMachineConfig, String> {
    let rp = &sc.read;
    let mut o: Vec<(String, String)> = vec![
        ("connector".into(), "odps".into()),
        ("endpoint".into(), ENDPOINT.into()),
        ("project".into(), PROJECT.into()),
        ("tableName".into(), sc.workload.table().into()),
        ("accessId".into(), maxc_mock::DEFAULT_ACCESS_ID.into()),
        ("accessKey".into(), maxc_mock::DEFAULT_ACCESS_KEY.into()),
        ("partition".into(), "max_pt()".into()),
        ("cache".into(), "ALL".into()),
        ("cacheTTLMs".into(), rp.ttl_ms.to_string()),
        ("maxLoadRetries".into(), rp.max_load_retries.to_string()),
    ];
    o.extend(sc.options.iter().cloned());
    let cfg = LookupConfig::from_options(o)
        .map_err(|e| format!("scenario lookup options are invalid: {e}"))?
        .config;
    let mut c = LookupMachineConfig::from_lookup_config(
        &cfg,
        KeySpec::primary(["k"]),
        UtcOffset::UTC,
        "maxc-sim",
    )
    .map_err(|e| format!("lookup config: {e}"))?;
    c.projection = Some(vec!["k".into(), "v".into(), "payload".into(), "ds".into()]);
    c.chunk_rows = rp.chunk_rows;
    c.batch_rows = rp.batch_rows;
    // A short backoff cap keeps the time a reload may lag after the heal small (the oracle's
    // staleness bound is built from it).
    c.retry.backoff.cap = Duration::from_millis(LOOKUP_BACKOFF_CAP_MS);
    Ok(c)
}

/// The lookup machine's retry backoff cap in the simulation.
pub const LOOKUP_BACKOFF_CAP_MS: u64 = 4_000;

fn wall(now: Instant) -> WallClock {
    WallClock {
        unix_millis: EPOCH_MS + now.as_millis() as i64,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Restarting(Instant),
    Done,
}

/// The lookup job as a pure machine whose events are trace lines.
pub struct LookupJob {
    sc: Arc<Scenario>,
    config: LookupMachineConfig,
    shared: SharedRef,
    rng: Rng,
    now: Instant,
    phase: Phase,
    machine: Option<LookupMachine>,
    routes: std::collections::BTreeMap<u64, (u32, Token)>,
    next_token: u64,
    attempt: u32,
    next_probe: Instant,
    crashes: VecDeque<u64>,
    out: VecDeque<Output<String>>,
}

impl std::fmt::Debug for LookupJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupJob")
            .field("now", &self.now)
            .field("phase", &self.phase)
            .finish()
    }
}

impl LookupJob {
    /// A job for `sc` with the engine faults of `plan`, journaling into `shared`.
    pub fn new(
        sc: Arc<Scenario>,
        plan: &FaultPlan,
        shared: SharedRef,
        now: Instant,
    ) -> Result<Self, String> {
        let config = lookup_config(&sc)?;
        let mut crashes: Vec<u64> = plan
            .iter()
            .filter_map(|f| match *f {
                Fault::CrashSubtask { at_ms, .. } | Fault::CrashJob { at_ms } => Some(at_ms),
                _ => None,
            })
            .collect();
        crashes.sort_unstable();
        crashes.retain(|at| *at >= now.as_millis());
        let attempt = {
            let mut s = lock(&shared);
            s.attempt += 1;
            s.attempt
        };
        let mut job = LookupJob {
            rng: Rng::fork(sc.seed ^ u64::from(attempt), "engine"),
            sc,
            config,
            shared,
            now,
            phase: Phase::Running,
            machine: None,
            routes: Default::default(),
            next_token: 0,
            attempt,
            next_probe: now,
            crashes: crashes.into(),
            out: VecDeque::new(),
        };
        job.start();
        Ok(job)
    }

    /// True once the job finished (or failed for good).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    fn trace(&mut self, line: String) {
        self.out.push_back(Output::Event(line));
    }

    fn start(&mut self) {
        self.phase = Phase::Running;
        self.machine = Some(LookupMachine::new(
            self.config.clone(),
            self.now,
            wall(self.now),
        ));
        self.next_probe = self.now;
        let a = self.attempt;
        self.trace(format!("lookup attempt {a} starts its first load"));
    }

    fn failover(&mut self, reason: String) {
        if self.phase != Phase::Running {
            return;
        }
        // A lookup has no state to restore: every restart loads afresh, so the restart
        // strategy never gives up (a load that can never succeed shows as a liveness failure).
        {
            let mut sh = lock(&self.shared);
            sh.failovers += 1;
            sh.attempt += 1;
            self.attempt = sh.attempt;
        }
        self.trace(format!("FAILOVER: {reason}"));
        self.machine = None;
        self.routes.clear();
        self.phase = Phase::Restarting(
            self.now
                .plus(Duration::from_millis(self.sc.restart_delay_ms)),
        );
    }

    fn on_event(&mut self, e: LookupEvent) {
        let line = match e {
            LookupEvent::Loaded {
                generation,
                rows,
                partitions,
            } => {
                lock(&self.shared).count("lookup-loads");
                lock(&self.shared).read.last_failure = None;
                format!(
                    "cache generation {generation} loaded: {rows} rows of {}",
                    partitions
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
            LookupEvent::LoadRetrying { attempt, error, .. } => {
                format!("first load attempt {attempt} failed: {error}")
            }
            LookupEvent::ReloadStarted => "reload started".to_string(),
            LookupEvent::ReloadPostponed { until } => format!("reload postponed to {until:?}"),
            LookupEvent::ReloadFailed { error, .. } => {
                lock(&self.shared).count("lookup-reloads-failed");
                format!("reload failed: {error}")
            }
            LookupEvent::Failed(e) => {
                self.failover(format!("lookup failed: {e}"));
                return;
            }
        };
        self.trace(line);
    }

    fn pump(&mut self) {
        let attempt = self.attempt;
        loop {
            if self.attempt != attempt || self.phase != Phase::Running {
                return;
            }
            let Some(m) = self.machine.as_mut() else {
                return;
            };
            m.set_wall_clock(self.now, wall(self.now));
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

    /// Looks a key up and checks the answer.
    fn probe(&mut self) {
        let Some(m) = self.machine.as_ref() else {
            return;
        };
        let keys = self.sc.read.parts.first().map_or(1, |p| p.rows).max(1);
        let key = self.rng.below(keys as usize) as u64;
        let at_ms = self.now.as_millis();
        let answer = m.get(&LookupKey::single(key as i64));
        let mut bad = None;
        let part = match answer {
            Err(_) => None,
            Ok(batches) => {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                let mut found = None;
                for b in &batches {
                    let col = |n: &str| b.schema().index_of(n).ok().map(|i| b.column(i).clone());
                    let (Some(k), Some(v), Some(p), Some(ds)) =
                        (col("k"), col("v"), col("payload"), col("ds"))
                    else {
                        bad = Some(format!("lookup answer has schema {:?}", b.schema()));
                        break;
                    };
                    let k = k.as_any().downcast_ref::<Int64Array>().cloned();
                    let v = v.as_any().downcast_ref::<Int64Array>().cloned();
                    let p = p.as_any().downcast_ref::<StringArray>().cloned();
                    let ds = ds.as_any().downcast_ref::<StringArray>().cloned();
                    let (Some(k), Some(v), Some(p), Some(ds)) = (k, v, p, ds) else {
                        bad = Some("lookup answer has unexpected column types".to_string());
                        break;
                    };
                    for i in 0..b.num_rows() {
                        let idx = part_index(ds.value(i));
                        let ok = idx.is_some_and(|idx| {
                            k.value(i) == key as i64
                                && !v.is_null(i)
                                && v.value(i) == dim_value(idx, key)
                                && p.value(i) == part_payload(self.sc.seed, idx, key)
                                && ds.value(i) == part_ds(idx)
                        });
                        if !ok {
                            bad = Some(format!(
                                "lookup of key {key} answered k={} v={} payload={:?} ds={:?}: not the content of any partition",
                                k.value(i),
                                v.value(i),
                                p.value(i),
                                ds.value(i)
                            ));
                        }
                        found = idx;
                    }
                }
                if rows != 1 && bad.is_none() {
                    bad = Some(format!(
                        "lookup of key {key} answered {rows} rows; every partition holds the key once"
                    ));
                }
                found
            }
        };
        let mut sh = lock(&self.shared);
        sh.count("lookups");
        if let Some(b) = bad
            && sh.violations.len() < 20
        {
            sh.violations.push(format!("at {at_ms}ms: {b}"));
        }
        sh.read.probes.push(Probe { at_ms, key, part });
        // Done: one TTL after the freshness bound applies to every partition (the oracle
        // checks the answers from then on).
        let all_created = sh.read.created.len() >= self.sc.read.parts.len();
        let last_created = sh.read.created.values().copied().max().unwrap_or(0);
        let settle = self.sc.heal_at_ms.max(last_created) + self.sc.read.staleness_ms;
        if all_created && at_ms >= settle + self.sc.read.ttl_ms {
            sh.outcome = Outcome::Finished { at_ms };
            drop(sh);
            self.phase = Phase::Done;
            self.trace(format!("probe key {key} at {at_ms}ms: job FINISHED"));
        }
    }

    fn advance(&mut self) {
        let now = self.now;
        loop {
            if let Phase::Restarting(at) = self.phase {
                if now >= at {
                    self.start();
                } else {
                    while self.crashes.front().is_some_and(|t| *t <= now.as_millis()) {
                        self.crashes.pop_front();
                    }
                    return;
                }
            }
            if self.phase == Phase::Done {
                return;
            }
            if let Some(&t) = self.crashes.front()
                && t <= now.as_millis()
            {
                self.crashes.pop_front();
                lock(&self.shared).count("fault:crash-job");
                self.failover("the job crashed (fault)".to_string());
                continue;
            }
            if self.next_probe <= now {
                let (lo, hi) = self.sc.read.probe_gap_ms;
                self.next_probe = now.plus(Duration::from_millis(self.rng.range(lo, hi)));
                self.probe();
                continue;
            }
            break;
        }
        self.pump();
    }
}

impl Machine for LookupJob {
    type Event = String;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        self.now = self.now.max(now);
        let Some((attempt, inner)) = self.routes.remove(&token.0) else {
            return;
        };
        if attempt != self.attempt || self.phase != Phase::Running {
            return;
        }
        if let Some(m) = self.machine.as_mut() {
            m.set_wall_clock(self.now, wall(self.now));
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
                let mut d = self.next_probe;
                if let Some(&t) = self.crashes.front() {
                    d = d.min(Instant::from_millis(t));
                }
                if let Some(x) = self.machine.as_ref().and_then(|m| m.next_deadline()) {
                    d = d.min(x);
                }
                Some(d)
            }
        }
    }
}
