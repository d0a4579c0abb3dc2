//! The in-process runner: the [`Job`] machine wired to the mock's pure [`Service`] by a
//! discrete-event loop over virtual time. No async runtime, no sockets.
//!
//! Events sit in a queue ordered by (virtual time, sequence number): request deliveries after
//! a seeded link latency, responses, mock crashes and restarts, the heal point. Between
//! events the job's own deadlines (input pacing, checkpoints, retry backoffs, notifications)
//! are served. Network faults are modelled on the messages: a partition refuses new requests
//! and swallows messages in flight (the client times out), a hold delays messages until its
//! end, a latency spike stretches delivery. Application faults are the mock's own fault rules.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use maxc_core::auth::{Credentials, Signer};
use maxc_core::http::Request;
use maxc_core::machine::{
    Instant, Machine, Output, Reply, Token, TransportError, TransportErrorKind,
};
use maxc_core::time::WallClock;
use maxc_mock::storage::MemDisk;
use maxc_mock::{Service, WireEffect};

use crate::job::{Job, Shared, SharedRef, lock};
use crate::mockctl::{self, EPOCH_MS, Rules};
use crate::oracle;
use crate::plan::{Fault, FaultPlan, Scenario};
use crate::rng::Rng;
use crate::run::{RunOptions, RunResult};
use crate::trace::Trace;

#[derive(Debug)]
enum Ev {
    Deliver {
        rid: u64,
        req: Request,
    },
    Reply {
        rid: u64,
        reply: Reply,
        applied_at: u64,
        left_at: u64,
    },
    MockCrash {
        down_ms: u64,
    },
    MockRestart,
    JobCrash {
        down_ms: u64,
    },
    JobRestart,
    Heal,
}

struct InFlight {
    job_gen: u64,
    token: Token,
    sent_at: u64,
}

struct Runner<'a> {
    sc: Arc<Scenario>,
    plan: &'a FaultPlan,
    shared: SharedRef,
    job: Option<Job>,
    job_gen: u64,
    svc: Option<Service>,
    disk: Option<MemDisk>,
    rules: Rules,
    served_before: u64,
    healed: bool,
    mock_crashes: Vec<u64>,
    now: u64,
    q: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    next_rid: u64,
    inflight: BTreeMap<u64, InFlight>,
    rng: Rng,
    trace: Trace,
    signer: Signer,
    injected: BTreeMap<&'static str, u64>,
    windows: Vec<Fault>,
    watch: oracle::CommitWatch,
}

impl Runner<'_> {
    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.q.insert((at, self.seq), ev);
    }

    fn inject(&mut self, kind: &'static str) {
        *self.injected.entry(kind).or_default() += 1;
    }

    fn in_window(&self, t: u64, kind: &str) -> Option<u64> {
        if self.healed {
            return None;
        }
        self.windows.iter().find_map(|f| match *f {
            Fault::Partition { at_ms, dur_ms } if kind == "partition" => {
                (at_ms <= t && t < at_ms + dur_ms).then_some(at_ms + dur_ms)
            }
            Fault::Hold { at_ms, dur_ms } if kind == "hold" => {
                (at_ms <= t && t < at_ms + dur_ms).then_some(at_ms + dur_ms)
            }
            _ => None,
        })
    }

    fn latency(&mut self, t: u64) -> u64 {
        let mut hi = self.sc.latency_ms.1;
        if !self.healed {
            for f in &self.windows {
                if let Fault::Latency {
                    at_ms,
                    dur_ms,
                    max_ms,
                } = *f
                    && at_ms <= t
                    && t < at_ms + dur_ms
                {
                    hi = hi.max(max_ms);
                }
            }
        }
        self.rng.range(self.sc.latency_ms.0, hi)
    }

    /// When a message sent at `t` arrives (holds postpone it), or `None` when a partition
    /// swallows it.
    fn transit(&mut self, t: u64) -> Option<u64> {
        let lat = self.latency(t);
        let mut at = t + lat;
        if self.in_window(t, "partition").is_some() || self.in_window(at, "partition").is_some() {
            return None;
        }
        if let Some(end) = self.in_window(at, "hold") {
            at = end + lat;
        }
        Some(at)
    }

    fn timeout_at(&self, sent_at: u64) -> u64 {
        sent_at + self.sc.request_timeout_ms
    }

    fn fail_at(&mut self, rid: u64, at: u64, kind: TransportErrorKind, msg: &str) {
        let reply = Err(TransportError::new(kind, msg));
        self.push(
            at,
            Ev::Reply {
                rid,
                reply,
                applied_at: u64::MAX,
                left_at: u64::MAX,
            },
        );
    }

    fn send(&mut self, token: Token, mut req: Request) {
        self.next_rid += 1;
        let rid = self.next_rid;
        let now = self.now;
        self.signer.sign(
            &mut req,
            WallClock {
                unix_millis: EPOCH_MS + now as i64,
            },
        );
        self.trace
            .line(now, &format!("net send r{rid} {}", mockctl::describe(&req)));
        self.inflight.insert(
            rid,
            InFlight {
                job_gen: self.job_gen,
                token,
                sent_at: now,
            },
        );
        if self.in_window(now, "partition").is_some() {
            // A fresh connection across a partition is refused.
            self.inject("partition-refused");
            let lat = self.latency(now);
            self.fail_at(
                rid,
                now + lat,
                TransportErrorKind::Connect,
                "connection refused (partition)",
            );
            return;
        }
        match self.transit(now) {
            Some(at) if at <= self.timeout_at(now) => self.push(at, Ev::Deliver { rid, req }),
            Some(_) => {
                let t = self.timeout_at(now);
                self.fail_at(rid, t, TransportErrorKind::Timeout, "no response (held)");
            }
            None => {
                self.inject("partition-lost");
                let t = self.timeout_at(now);
                self.fail_at(
                    rid,
                    t,
                    TransportErrorKind::Timeout,
                    "no response (partition)",
                );
            }
        }
    }

    fn deliver(&mut self, rid: u64, req: Request) {
        let now = self.now;
        let Some(sent_at) = self.inflight.get(&rid).map(|f| f.sent_at) else {
            return;
        };
        let deadline = self.timeout_at(sent_at);
        let Some(svc) = self.svc.as_mut() else {
            self.trace
                .line(now, &format!("net r{rid} refused: mock is down"));
            let lat = self.latency(now);
            self.fail_at(
                rid,
                (now + lat).min(deadline),
                TransportErrorKind::Connect,
                "connection refused (mock down)",
            );
            return;
        };
        let commit = mockctl::is_upload_commit(&req);
        let session = req.query_param("uploadid").map(str::to_string);
        let reply = svc.serve(req, mockctl::mock_time(now));
        if let Some(rule) = reply.fault {
            let kind = self.rules.kinds.get(&rule).copied().unwrap_or("rule");
            *self.injected.entry(kind).or_default() += 1;
            self.trace.line(now, &format!("mock r{rid} fault {kind}"));
        }
        let status = reply.response.status;
        self.trace.line(
            now,
            &format!(
                "mock r{rid} -> {status}{}",
                match reply.wire {
                    WireEffect::None => String::new(),
                    w => format!(" {w:?}"),
                }
            ),
        );
        if commit && reply.response.is_success() {
            let svc_ref = self.svc.as_ref();
            if let (Some(svc), Some(session)) = (svc_ref, session) {
                let mut sh = lock(&self.shared);
                sh.counters
                    .entry("commit-checks")
                    .and_modify(|c| *c += 1)
                    .or_insert(1);
                let v = self.watch.on_commit(svc, &self.sc, &sh, &session);
                sh.violations.extend(v);
            }
        }
        let left = now + reply.delay_ms;
        let wire = reply.wire;
        let arrival = self.transit(left);
        match (wire, arrival) {
            (_, None) => {
                self.inject("partition-lost");
                self.fail_at(
                    rid,
                    deadline,
                    TransportErrorKind::Timeout,
                    "no response (partition)",
                );
            }
            (_, Some(at)) if at > deadline => {
                self.fail_at(
                    rid,
                    deadline,
                    TransportErrorKind::Timeout,
                    "no response within the timeout",
                );
            }
            (WireEffect::None, Some(at)) => self.push(
                at,
                Ev::Reply {
                    rid,
                    reply: Ok(reply.response),
                    applied_at: now,
                    left_at: left,
                },
            ),
            (_, Some(at)) => self.fail_at(
                rid,
                at,
                TransportErrorKind::Closed,
                "connection closed before the response",
            ),
        }
    }

    fn reply(&mut self, rid: u64, mut reply: Reply, applied_at: u64, left_at: u64) {
        let now = self.now;
        let Some(f) = self.inflight.remove(&rid) else {
            return;
        };
        // A mock crash between applying and sending loses the response.
        if self
            .mock_crashes
            .iter()
            .any(|c| applied_at < *c && *c <= left_at)
        {
            reply = Err(TransportError::new(
                TransportErrorKind::Closed,
                "connection reset (mock crashed)",
            ));
        }
        let what = match &reply {
            Ok(r) => format!("{}", r.status),
            Err(e) => format!("error {:?}: {}", e.kind, e.message),
        };
        self.trace.line(now, &format!("net reply r{rid} {what}"));
        if f.job_gen != self.job_gen {
            return;
        }
        if let Some(job) = self.job.as_mut() {
            job.handle_reply(f.token, reply, Instant::from_millis(now));
        }
        self.drain();
    }

    fn drain(&mut self) {
        let now = Instant::from_millis(self.now);
        loop {
            let Some(job) = self.job.as_mut() else {
                return;
            };
            match job.poll(now) {
                None => return,
                Some(Output::Event(line)) => self.trace.line(self.now, &line),
                Some(Output::Send { token, request }) => self.send(token, request),
            }
        }
    }

    fn start_mock(&mut self) -> Result<(), String> {
        let cfg = mockctl::service_config(&self.sc);
        let now = mockctl::mock_time(self.now);
        let mut svc = match &self.disk {
            Some(d) => Service::with_disk(cfg, Box::new(d.clone()), now)
                .map_err(|e| format!("mock restart failed: {e}"))?,
            None => Service::new(cfg, now),
        };
        mockctl::create_table(&mut svc, &self.sc, self.now)?;
        self.rules = if self.healed {
            let mut r = mockctl::install_rules(&mut svc, &FaultPlan { faults: vec![] }, 0);
            mockctl::heal_rules(&mut svc, &mut r);
            r
        } else {
            mockctl::install_rules(&mut svc, self.plan, self.served_before)
        };
        self.svc = Some(svc);
        Ok(())
    }

    fn event(&mut self, ev: Ev) -> Result<(), String> {
        match ev {
            Ev::Deliver { rid, req } => self.deliver(rid, req),
            Ev::Reply {
                rid,
                reply,
                applied_at,
                left_at,
            } => self.reply(rid, reply, applied_at, left_at),
            Ev::MockCrash { down_ms } => {
                if let Some(svc) = self.svc.take() {
                    self.served_before += mockctl::served(&svc, &self.rules);
                    self.mock_crashes.push(self.now);
                    self.inject("crash-mock");
                    self.trace
                        .line(self.now, &format!("MOCK CRASH (down {down_ms}ms)"));
                    let at = self.now + down_ms;
                    self.push(at, Ev::MockRestart);
                }
            }
            Ev::MockRestart => {
                if self.svc.is_none() {
                    self.start_mock()?;
                    self.trace
                        .line(self.now, "mock restarted from its durable store");
                }
            }
            Ev::JobCrash { down_ms } => {
                if self.job.take().is_some() {
                    self.job_gen += 1;
                    self.inject("crash-job-host");
                    self.trace
                        .line(self.now, &format!("JOB HOST CRASH (down {down_ms}ms)"));
                    let at = self.now + down_ms;
                    self.push(at, Ev::JobRestart);
                }
            }
            Ev::JobRestart => {
                if self.job.is_none() {
                    self.trace.line(self.now, "job host restarted");
                    self.job = Some(Job::new(
                        self.sc.clone(),
                        self.plan,
                        self.shared.clone(),
                        Instant::from_millis(self.now),
                    )?);
                    self.drain();
                }
            }
            Ev::Heal => {
                self.healed = true;
                self.trace.line(self.now, "faults healed");
                if let Some(svc) = self.svc.as_mut() {
                    mockctl::heal_rules(svc, &mut self.rules);
                }
            }
        }
        Ok(())
    }
}

/// Runs one scenario with one fault plan in-process.
pub fn run(sc: &Scenario, plan: &FaultPlan, opts: &RunOptions) -> RunResult {
    let wall = std::time::Instant::now();
    let sc = Arc::new(sc.clone());
    let shared: SharedRef = Arc::new(Mutex::new(Shared::new()));
    let needs_disk = plan.iter().any(|f| matches!(f, Fault::CrashMock { .. }));
    let mut r = Runner {
        sc: sc.clone(),
        plan,
        shared: shared.clone(),
        job: None,
        job_gen: 0,
        svc: None,
        disk: needs_disk.then(MemDisk::new),
        rules: Rules::default(),
        served_before: 0,
        healed: false,
        mock_crashes: Vec::new(),
        now: 0,
        q: BTreeMap::new(),
        seq: 0,
        next_rid: 0,
        inflight: BTreeMap::new(),
        rng: Rng::fork(sc.seed, "network"),
        trace: opts.trace(),
        signer: Signer::v2(Credentials::access_key(
            maxc_mock::DEFAULT_ACCESS_ID,
            maxc_mock::DEFAULT_ACCESS_KEY,
        )),
        injected: BTreeMap::new(),
        windows: plan
            .iter()
            .filter(|f| {
                matches!(
                    f,
                    Fault::Partition { .. } | Fault::Hold { .. } | Fault::Latency { .. }
                )
            })
            .copied()
            .collect(),
        watch: oracle::CommitWatch::default(),
    };
    let mut errors = Vec::new();
    r.trace.line(
        0,
        &format!(
            "seed {} workload {} runner in-process parallelism {} rows {:?} faults {}",
            sc.seed,
            sc.workload,
            sc.parallelism,
            sc.rows,
            plan.len()
        ),
    );
    for (i, f) in &plan.faults {
        r.trace.line(0, &format!("plan [{i}] {f}"));
    }
    if let Err(e) = r.start_mock() {
        errors.push(e);
    }
    for f in plan.iter() {
        match *f {
            Fault::CrashMock { at_ms, down_ms } => r.push(at_ms, Ev::MockCrash { down_ms }),
            Fault::CrashJobHost { at_ms, down_ms } => r.push(at_ms, Ev::JobCrash { down_ms }),
            // Network windows are counted at the end (those that started).
            Fault::Partition { .. } | Fault::Hold { .. } | Fault::Latency { .. } => {}
            // Engine faults are counted by the job when they take effect.
            Fault::CrashSubtask { .. }
            | Fault::CrashJob { .. }
            | Fault::LoseNotification { .. }
            | Fault::DelayNotification { .. }
            | Fault::Request { .. } => {}
        }
    }
    r.push(sc.heal_at_ms, Ev::Heal);
    match Job::new(sc.clone(), plan, shared.clone(), Instant::ZERO) {
        Ok(j) => r.job = Some(j),
        Err(e) => errors.push(e),
    }
    r.drain();
    let mut spins = 0u64;
    let mut last = 0u64;
    while errors.is_empty() {
        if r.job.as_ref().is_some_and(Job::is_done) {
            break;
        }
        let tq = r.q.first_key_value().map(|(k, _)| k.0);
        let tj = r
            .job
            .as_ref()
            .and_then(|j| j.next_deadline())
            .map(|d| d.as_millis());
        let next = match (tq, tj) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        if next > sc.deadline_ms {
            r.now = sc.deadline_ms;
            break;
        }
        r.now = r.now.max(next);
        if r.now == last {
            spins += 1;
            if spins > 200_000 {
                errors.push(format!(
                    "the event loop spins at {}ms without progress",
                    r.now
                ));
                break;
            }
        } else {
            spins = 0;
            last = r.now;
        }
        if tq.is_some_and(|t| t <= r.now)
            && let Some((_, ev)) = r.q.pop_first()
            && let Err(e) = r.event(ev)
        {
            errors.push(e);
        }
        r.drain();
    }
    let end_ms = r.now;
    r.trace.line(end_ms, "run ends");
    for f in plan.iter() {
        match *f {
            Fault::Partition { at_ms, .. } if at_ms <= end_ms => r.inject("partition"),
            Fault::Hold { at_ms, .. } if at_ms <= end_ms => r.inject("hold"),
            Fault::Latency { at_ms, .. } if at_ms <= end_ms => r.inject("latency"),
            _ => {}
        }
    }
    // The final state: the live mock, or (if it is down) its durable store.
    if r.svc.is_none()
        && let Err(e) = r.start_mock()
    {
        errors.push(e);
    }
    let sh = lock(&shared).clone();
    let mut verdict = match r.svc.as_ref() {
        Some(svc) => oracle::check_final(svc, &sc, &sh, true),
        None => oracle::Verdict::default(),
    };
    for e in errors {
        verdict.violations.push(format!("runner: {e}"));
    }
    RunResult::new(
        &sc,
        plan,
        crate::plan::RunnerKind::InProcess,
        verdict,
        r.trace,
        end_ms,
        r.injected,
        &sh,
        wall.elapsed(),
    )
}
