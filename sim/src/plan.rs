//! Scenarios and fault plans, both drawn from the seed.
//!
//! A [`Scenario`] fixes everything about a run except faults: parallelism, input sizes and
//! pacing, checkpoint timing, sink options, link latency. A [`FaultPlan`] is an explicit list
//! of faults, so a failing plan can be shrunk by removing entries and replayed with
//! `--keep i,j,...` (the indices of the generated plan that remain).

use std::fmt;
use std::str::FromStr;

use maxc_core::options::BugSwitches;

use crate::rng::{FNV_START, Rng, fnv1a};
use crate::workload::Workload;

/// Which runner executes a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunnerKind {
    /// Machines wired to the pure mock service with a discrete-event loop.
    InProcess,
    /// The real driver and axum mock on turmoil's simulated network.
    Turmoil,
}

impl RunnerKind {
    /// Both runners.
    pub const ALL: [RunnerKind; 2] = [RunnerKind::InProcess, RunnerKind::Turmoil];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            RunnerKind::InProcess => "in-process",
            RunnerKind::Turmoil => "turmoil",
        }
    }
}

impl fmt::Display for RunnerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RunnerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "in-process" | "inprocess" => Ok(RunnerKind::InProcess),
            "turmoil" => Ok(RunnerKind::Turmoil),
            _ => Err(format!("unknown runner `{s}`; one of: in-process, turmoil")),
        }
    }
}

/// A test-only bug to switch on in the sink machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// `BugSwitches::committer_skips_status_check`.
    CommitterSkipsStatusCheck,
    /// `BugSwitches::writer_reuses_session_across_barrier`.
    WriterReusesSession,
}

impl Bug {
    /// Every bug switch.
    pub const ALL: [Bug; 2] = [Bug::CommitterSkipsStatusCheck, Bug::WriterReusesSession];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Bug::CommitterSkipsStatusCheck => "committer-skips-status-check",
            Bug::WriterReusesSession => "writer-reuses-session",
        }
    }
}

impl FromStr for Bug {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Bug::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown bug `{s}`; one of: {}",
                    Bug::ALL.map(|b| b.name()).join(", ")
                )
            })
    }
}

/// Everything about a run except its faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The seed.
    pub seed: u64,
    /// The workload.
    pub workload: Workload,
    /// Writer subtasks.
    pub parallelism: usize,
    /// Input rows per subtask.
    pub rows: Vec<u64>,
    /// Rows per input batch (inclusive range).
    pub batch_rows: (u64, u64),
    /// Virtual milliseconds between input batches of a subtask (inclusive range).
    pub write_gap_ms: (u64, u64),
    /// Checkpoint interval.
    pub checkpoint_interval_ms: u64,
    /// A checkpoint not complete after this long is aborted.
    pub checkpoint_timeout_ms: u64,
    /// Delay of checkpoint-complete notifications (inclusive range).
    pub notify_delay_ms: (u64, u64),
    /// Pause between a failure and the restore.
    pub restart_delay_ms: u64,
    /// Keys per subtask (upsert workload).
    pub keys_per_subtask: u64,
    /// Sink options (`WITH (...)` keys).
    pub options: Vec<(String, String)>,
    /// The writers' memory budget in bytes.
    pub memory_budget: u64,
    /// Bug switches.
    pub bugs: BugSwitches,
    /// One-way link latency (inclusive range).
    pub latency_ms: (u64, u64),
    /// The driver's per-request timeout.
    pub request_timeout_ms: u64,
    /// Roughly how many requests a fault-free run makes (request faults are placed among them).
    pub est_requests: u64,
    /// Faults stop at this virtual time (the fault-free tail starts).
    pub heal_at_ms: u64,
    /// The job must finish by this virtual time (liveness).
    pub deadline_ms: u64,
}

impl Scenario {
    /// The scenario of `seed` for `workload`, with `bugs` switched on.
    pub fn generate(seed: u64, workload: Workload, bugs: &[Bug]) -> Self {
        let mut r = Rng::fork(seed, "scenario");
        let parallelism = r.range(1, 4) as usize;
        // Many partitions: fewer rows and checkpoints (every partition of every epoch is an
        // upload session).
        let per = match workload {
            Workload::BatchMany => r.range(200, 700),
            _ => r.range(200, 2500),
        };
        let rows: Vec<u64> = (0..parallelism)
            .map(|_| per.saturating_sub(r.range(0, per / 4)))
            .collect();
        let batch_hi = r.range(5, 80);
        let batch_rows = (1, batch_hi);
        let gap_hi = r.range(10, 80);
        let write_gap_ms = (gap_hi / 4, gap_hi);
        let checkpoint_interval_ms = match workload {
            Workload::BatchMany => r.range(800, 2500),
            _ => r.range(250, 2000),
        };
        let checkpoint_timeout_ms = r.range(4_000, 20_000);
        let notify_delay_ms = (0, r.range(0, 400));
        let restart_delay_ms = r.range(100, 1500);
        let keys_per_subtask = r.range(5, 200);
        let mut options: Vec<(String, String)> = Vec::new();
        let mut opt = |k: &str, v: String| options.push((k.to_string(), v));
        let batch_size = r.range(512, 16 * 1024);
        opt("batchSize", batch_size.to_string());
        opt("numFlushThreads", r.range(1, 4).to_string());
        opt("retryTimes", r.range(2, 6).to_string());
        opt("sleepMillis", r.range(20, 400).to_string());
        opt(
            "flushIntervalMs",
            if r.permille(400) {
                "0".to_string()
            } else {
                r.range(50, 1500).to_string()
            },
        );
        opt(
            "compressAlgorithm",
            r.pick(&["RAW", "ZLIB", "SNAPPY"]).to_string(),
        );
        opt("dynamicPartitionLimit", "1000".to_string());
        if let Some(p) = workload.partition_option() {
            opt("partition", p.to_string());
        }
        match workload {
            Workload::Stream => {
                opt("useStreamTunnel", "true".to_string());
                opt("slotNum", r.range(0, 3).to_string());
            }
            Workload::Upsert => {
                opt("enableUpsert", "true".to_string());
                opt("upsert.flush.concurrent", r.range(1, 3).to_string());
                opt(
                    "upsert.writer.bucket.buffer-size",
                    r.range(512, 16 * 1024).to_string(),
                );
                opt(
                    "upsert.writer.buffer-size",
                    r.range(4 * 1024, 64 * 1024).to_string(),
                );
                opt("upsert.commit.max-retries", r.range(2, 5).to_string());
                opt("upsert.writer.max-retries", r.range(2, 5).to_string());
            }
            _ => {}
        }
        let memory_budget = if r.permille(300) {
            r.range(16 * 1024, 256 * 1024)
        } else {
            64 << 20
        };
        let latency_hi = r.range(1, 60);
        let latency_ms = (latency_hi / 3, latency_hi);
        let request_timeout_ms = r.range(3_000, 15_000);
        // Rough input duration, to place faults and the liveness deadline.
        let batches = per / ((batch_rows.0 + batch_rows.1) / 2).max(1);
        let input_ms = batches * ((write_gap_ms.0 + write_gap_ms.1) / 2).max(1);
        let heal_at_ms = input_ms * r.range(5, 15) / 10 + r.range(1_000, 5_000);
        let deadline_ms = heal_at_ms + 2 * input_ms + 240_000;
        let mut b = BugSwitches::default();
        for bug in bugs {
            match bug {
                Bug::CommitterSkipsStatusCheck => b.committer_skips_status_check = true,
                Bug::WriterReusesSession => b.writer_reuses_session_across_barrier = true,
            }
        }
        // About 30 bytes per encoded row; a request per block plus sessions and commits.
        let blocks = rows.iter().sum::<u64>() * 30 / batch_size.max(1);
        let checkpoints = (input_ms / checkpoint_interval_ms.max(1)).max(1);
        let est_requests = (blocks * 3 / 2 + 3 * parallelism as u64 * checkpoints).clamp(20, 2_000);
        Scenario {
            est_requests,
            seed,
            workload,
            parallelism,
            rows,
            batch_rows,
            write_gap_ms,
            checkpoint_interval_ms,
            checkpoint_timeout_ms,
            notify_delay_ms,
            restart_delay_ms,
            keys_per_subtask,
            options,
            memory_budget,
            bugs: b,
            latency_ms,
            request_timeout_ms,
            heal_at_ms,
            deadline_ms,
        }
    }

    /// Total input rows.
    pub fn total_rows(&self) -> u64 {
        self.rows.iter().sum()
    }
}

/// What a request fault does (applied through the mock's fault rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestFault {
    /// The connection closes before the request is applied.
    Drop,
    /// The request is applied; the response is lost.
    LoseResponse,
    /// 429 `FlowExceeded` with `Retry-After`.
    Throttle,
    /// 429 `SlotExceeded`.
    SlotExceeded,
    /// 500 `InternalServerError`.
    Status500,
    /// 502 Bad Gateway.
    Status502,
    /// 503 `ServiceUnavailable`.
    Status503,
    /// 504 Gateway Timeout.
    Status504,
    /// Applied, response delayed by this many ms.
    Delay(u64),
    /// Applied; the response body is cut mid-way and the connection closes.
    DropMidBody,
    /// Applied; a well-formed response with half its body.
    TruncateBody,
    /// The request's session expires first.
    ExpireSession,
}

impl RequestFault {
    /// A short name for summaries.
    pub fn name(self) -> &'static str {
        match self {
            RequestFault::Drop => "drop",
            RequestFault::LoseResponse => "lose-response",
            RequestFault::Throttle => "429-throttle",
            RequestFault::SlotExceeded => "429-slot",
            RequestFault::Status500 => "500",
            RequestFault::Status502 => "502",
            RequestFault::Status503 => "503",
            RequestFault::Status504 => "504",
            RequestFault::Delay(_) => "delay",
            RequestFault::DropMidBody => "drop-mid-body",
            RequestFault::TruncateBody => "truncate-body",
            RequestFault::ExpireSession => "expire-session",
        }
    }
}

/// One fault of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// The `nth` service request (1-based, non-admin, counted across mock restarts) gets
    /// this effect.
    Request {
        /// Which request.
        nth: u64,
        /// What happens to it.
        effect: RequestFault,
    },
    /// A writer subtask crashes (the job fails over to the last completed checkpoint).
    CrashSubtask {
        /// When.
        at_ms: u64,
        /// Which subtask.
        subtask: usize,
    },
    /// The whole job crashes in-engine.
    CrashJob {
        /// When.
        at_ms: u64,
    },
    /// The host running the job crashes and comes back (turmoil; in-process: a job crash).
    CrashJobHost {
        /// When.
        at_ms: u64,
        /// Down time.
        down_ms: u64,
    },
    /// The checkpoint-complete notification of this checkpoint is lost.
    LoseNotification {
        /// Checkpoint id.
        checkpoint: u64,
    },
    /// The checkpoint-complete notification of this checkpoint is late.
    DelayNotification {
        /// Checkpoint id.
        checkpoint: u64,
        /// Extra delay.
        ms: u64,
    },
    /// The mock crashes (durable store kept) and restarts after `down_ms`.
    CrashMock {
        /// When.
        at_ms: u64,
        /// Down time.
        down_ms: u64,
    },
    /// The job and the mock are partitioned.
    Partition {
        /// When.
        at_ms: u64,
        /// How long.
        dur_ms: u64,
    },
    /// Messages between job and mock are held, then released.
    Hold {
        /// When.
        at_ms: u64,
        /// How long.
        dur_ms: u64,
    },
    /// Link latency rises to up to `max_ms`.
    Latency {
        /// When.
        at_ms: u64,
        /// How long.
        dur_ms: u64,
        /// Largest one-way latency meanwhile.
        max_ms: u64,
    },
}

impl Fault {
    /// The fault kind's name for summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Request { effect, .. } => effect.name(),
            Fault::CrashSubtask { .. } => "crash-subtask",
            Fault::CrashJob { .. } => "crash-job",
            Fault::CrashJobHost { .. } => "crash-job-host",
            Fault::LoseNotification { .. } => "lose-notification",
            Fault::DelayNotification { .. } => "delay-notification",
            Fault::CrashMock { .. } => "crash-mock",
            Fault::Partition { .. } => "partition",
            Fault::Hold { .. } => "hold",
            Fault::Latency { .. } => "latency",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Request { nth, effect } => match effect {
                RequestFault::Delay(ms) => write!(f, "request #{nth}: delay {ms}ms"),
                e => write!(f, "request #{nth}: {}", e.name()),
            },
            Fault::CrashSubtask { at_ms, subtask } => {
                write!(f, "at {at_ms}ms: crash writer subtask {subtask}")
            }
            Fault::CrashJob { at_ms } => write!(f, "at {at_ms}ms: crash the job"),
            Fault::CrashJobHost { at_ms, down_ms } => {
                write!(f, "at {at_ms}ms: crash the job host for {down_ms}ms")
            }
            Fault::LoseNotification { checkpoint } => {
                write!(
                    f,
                    "lose the completion notification of checkpoint {checkpoint}"
                )
            }
            Fault::DelayNotification { checkpoint, ms } => write!(
                f,
                "delay the completion notification of checkpoint {checkpoint} by {ms}ms"
            ),
            Fault::CrashMock { at_ms, down_ms } => {
                write!(f, "at {at_ms}ms: crash the mock for {down_ms}ms")
            }
            Fault::Partition { at_ms, dur_ms } => {
                write!(f, "at {at_ms}ms: partition job/mock for {dur_ms}ms")
            }
            Fault::Hold { at_ms, dur_ms } => {
                write!(f, "at {at_ms}ms: hold messages for {dur_ms}ms")
            }
            Fault::Latency {
                at_ms,
                dur_ms,
                max_ms,
            } => write!(f, "at {at_ms}ms: latency up to {max_ms}ms for {dur_ms}ms"),
        }
    }
}

/// A list of faults (indices are stable: shrinking keeps a subset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    /// (index in the generated plan, fault).
    pub faults: Vec<(usize, Fault)>,
}

impl FaultPlan {
    /// The plan of scenario `s` (the same for both runners; each applies every kind, see
    /// `docs/simulation.md`).
    pub fn generate(s: &Scenario) -> Self {
        let mut r = Rng::fork(s.seed, "faults");
        let heal = s.heal_at_ms.max(1);
        let mut faults = Vec::new();
        // Intensity: calm, normal or stormy.
        let level = r.range(0, 9);
        let (req_n, crash_n, net_n) = match level {
            0 => (0, 0, 0),
            1..=3 => (r.range(0, 6), r.range(0, 1), r.range(0, 1)),
            4..=7 => (r.range(3, 16), r.range(0, 2), r.range(0, 2)),
            _ => (r.range(10, 40), r.range(1, 4), r.range(1, 3)),
        };
        // Requests: a run makes a few hundred.
        let est = s.est_requests;
        for _ in 0..req_n {
            let nth = r.range(1, est);
            let effect = match r.range(0, 99) {
                0..=14 => RequestFault::Drop,
                15..=29 => RequestFault::LoseResponse,
                30..=39 => RequestFault::Throttle,
                40..=44 => RequestFault::SlotExceeded,
                45..=52 => RequestFault::Status500,
                53..=58 => RequestFault::Status502,
                59..=64 => RequestFault::Status503,
                65..=70 => RequestFault::Status504,
                71..=78 => RequestFault::Delay(r.range(50, s.request_timeout_ms + 2_000)),
                79..=85 => RequestFault::DropMidBody,
                86..=91 => RequestFault::TruncateBody,
                _ => RequestFault::ExpireSession,
            };
            faults.push(Fault::Request { nth, effect });
        }
        for _ in 0..crash_n {
            let at_ms = r.range(0, heal);
            let f = match r.range(0, 9) {
                0..=3 => Fault::CrashSubtask {
                    at_ms,
                    subtask: r.below(s.parallelism),
                },
                4..=5 => Fault::CrashJob { at_ms },
                6..=7 => Fault::CrashMock {
                    at_ms,
                    down_ms: r.range(0, 3_000),
                },
                _ => Fault::CrashJobHost {
                    at_ms,
                    down_ms: r.range(0, 3_000),
                },
            };
            faults.push(f);
        }
        let cps = heal / s.checkpoint_interval_ms.max(1) + 1;
        for cp in 1..=cps {
            match r.range(0, 99) {
                0..=7 => faults.push(Fault::LoseNotification { checkpoint: cp }),
                8..=15 => faults.push(Fault::DelayNotification {
                    checkpoint: cp,
                    ms: r.range(100, 5_000),
                }),
                _ => {}
            }
        }
        for _ in 0..net_n {
            let at_ms = r.range(0, heal);
            let dur_ms = r.range(100, 4_000);
            let f = match r.range(0, 2) {
                0 => Fault::Partition { at_ms, dur_ms },
                1 => Fault::Hold { at_ms, dur_ms },
                _ => Fault::Latency {
                    at_ms,
                    dur_ms,
                    max_ms: r.range(100, 2_000),
                },
            };
            faults.push(f);
        }
        FaultPlan {
            faults: faults.into_iter().enumerate().collect(),
        }
    }

    /// The plan with only the faults whose indices are in `keep`.
    pub fn keep(&self, keep: &[usize]) -> Self {
        FaultPlan {
            faults: self
                .faults
                .iter()
                .filter(|(i, _)| keep.contains(i))
                .copied()
                .collect(),
        }
    }

    /// Indices of the faults.
    pub fn indices(&self) -> Vec<usize> {
        self.faults.iter().map(|(i, _)| *i).collect()
    }

    /// Number of faults.
    pub fn len(&self) -> usize {
        self.faults.len()
    }

    /// True when the plan has no faults.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// A stable hash of the plan (and the scenario it belongs to).
    pub fn hash(&self, s: &Scenario) -> u64 {
        let mut h = fnv1a(FNV_START, format!("{s:?}").as_bytes());
        for (i, f) in &self.faults {
            h = fnv1a(h, format!("{i}:{f:?};").as_bytes());
        }
        h
    }

    /// Iterates the faults.
    pub fn iter(&self) -> impl Iterator<Item = &Fault> {
        self.faults.iter().map(|(_, f)| f)
    }
}
