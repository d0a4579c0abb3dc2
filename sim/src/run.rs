//! Running seeds: one run, its result, the replay command, the shrinker and sweep summaries.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::job::Shared;
use crate::oracle::Verdict;
use crate::plan::{Bug, FaultPlan, RunnerKind, Scenario};
use crate::trace::Trace;
use crate::workload::Workload;

/// How to trace a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TraceMode {
    /// Hash only.
    #[default]
    Hash,
    /// Print every line to stdout.
    Print,
    /// Keep the lines in the result.
    Keep,
}

/// Options of one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Tracing.
    pub trace: TraceMode,
}

impl RunOptions {
    pub(crate) fn trace(&self) -> Trace {
        match self.trace {
            TraceMode::Hash => Trace::hashing(),
            TraceMode::Print => Trace::printing(),
            TraceMode::Keep => Trace::keeping(),
        }
    }
}

/// What one run gave.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Seed.
    pub seed: u64,
    /// Workload.
    pub workload: Workload,
    /// Runner.
    pub runner: RunnerKind,
    /// The oracle's verdict.
    pub verdict: Verdict,
    /// Hash of the trace.
    pub trace_hash: u64,
    /// Lines in the trace.
    pub trace_lines: u64,
    /// The kept trace (with [`TraceMode::Keep`]).
    pub trace: Vec<String>,
    /// Virtual time at the end.
    pub virtual_ms: u64,
    /// Wall time of the run.
    pub wall: Duration,
    /// Faults that took effect, by kind.
    pub injected: BTreeMap<&'static str, u64>,
    /// Engine counters (checkpoints, commits, ...).
    pub counters: BTreeMap<&'static str, u64>,
    /// Failovers.
    pub failovers: u64,
    /// Hash of the fault plan (with the scenario).
    pub plan_hash: u64,
    /// Indices of the plan's faults.
    pub plan_indices: Vec<usize>,
    /// Faults in the plan.
    pub plan_len: usize,
}

impl RunResult {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        sc: &Scenario,
        plan: &FaultPlan,
        runner: RunnerKind,
        verdict: Verdict,
        trace: Trace,
        virtual_ms: u64,
        mut injected: BTreeMap<&'static str, u64>,
        shared: &Shared,
        wall: Duration,
    ) -> Self {
        let mut counters = BTreeMap::new();
        for (k, v) in &shared.counters {
            match k.strip_prefix("fault:") {
                Some(kind) => *injected.entry(kind).or_default() += v,
                None => {
                    counters.insert(*k, *v);
                }
            }
        }
        RunResult {
            seed: sc.seed,
            workload: sc.workload,
            runner,
            verdict,
            trace_hash: trace.hash(),
            trace_lines: trace.len(),
            trace: trace.lines().to_vec(),
            virtual_ms,
            wall,
            injected,
            counters,
            failovers: shared.failovers,
            plan_hash: plan.hash(sc),
            plan_indices: plan.indices(),
            plan_len: plan.len(),
        }
    }

    /// True when every invariant held.
    pub fn passed(&self) -> bool {
        self.verdict.passed()
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// Seed.
    pub seed: u64,
    /// Workload.
    pub workload: Workload,
    /// Runner.
    pub runner: RunnerKind,
    /// Bug switches on.
    pub bugs: Vec<Bug>,
    /// Keep only these faults of the generated plan (`None`: all).
    pub keep: Option<Vec<usize>>,
}

impl RunSpec {
    /// The scenario and (possibly reduced) plan.
    pub fn build(&self) -> (Scenario, FaultPlan) {
        let sc = Scenario::generate(self.seed, self.workload, &self.bugs);
        let plan = FaultPlan::generate(&sc);
        let plan = match &self.keep {
            Some(k) => plan.keep(k),
            None => plan,
        };
        (sc, plan)
    }

    /// The one-line command that replays this run.
    pub fn replay_command(&self) -> String {
        let mut s = format!(
            "cargo run -p maxc-sim -- replay --seed {} --workload {} --runner {}",
            self.seed, self.workload, self.runner
        );
        for b in &self.bugs {
            let _ = write!(s, " --bug {}", b.name());
        }
        if let Some(k) = &self.keep {
            let list: Vec<String> = k.iter().map(ToString::to_string).collect();
            let _ = write!(
                s,
                " --keep {}",
                if list.is_empty() {
                    "none".to_string()
                } else {
                    list.join(",")
                }
            );
        }
        s
    }
}

/// Runs one spec.
pub fn run(spec: &RunSpec, opts: &RunOptions) -> RunResult {
    let (sc, plan) = spec.build();
    match spec.runner {
        RunnerKind::InProcess => crate::inprocess::run(&sc, &plan, opts),
        RunnerKind::Turmoil => crate::turmoil_runner::run(&sc, &plan, opts),
    }
}

/// The git commit of the working tree, if `git` answers quickly.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The report printed for a failing run.
pub fn failure_report(spec: &RunSpec, r: &RunResult) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "FAIL seed {} workload {} runner {} (plan hash {:016x}, {} faults, trace {:016x}, commit {})",
        r.seed,
        r.workload,
        r.runner,
        r.plan_hash,
        r.plan_len,
        r.trace_hash,
        git_commit().unwrap_or_else(|| "unknown".into())
    );
    for v in &r.verdict.violations {
        let _ = writeln!(s, "  violation: {v}");
    }
    let _ = writeln!(s, "  replay: {}", spec.replay_command());
    s
}

/// Shrinks a failing spec to a minimal plan that still fails (removing faults one at a time
/// and in halves, re-running each candidate). Returns the reduced spec and its result.
pub fn shrink(spec: &RunSpec, failing: &RunResult, max_runs: usize) -> (RunSpec, RunResult) {
    let opts = RunOptions::default();
    let mut best = spec.clone();
    let mut best_result = failing.clone();
    let mut keep: Vec<usize> = failing.plan_indices.clone();
    let mut runs = 0;
    let fails = |k: &[usize], runs: &mut usize| -> Option<(RunSpec, RunResult)> {
        *runs += 1;
        let cand = RunSpec {
            keep: Some(k.to_vec()),
            ..spec.clone()
        };
        let r = run(&cand, &opts);
        (!r.passed()).then_some((cand, r))
    };
    // Halves first, then one at a time, until nothing can be removed.
    let mut chunk = keep.len().div_ceil(2).max(1);
    while !keep.is_empty() && runs < max_runs {
        let mut removed_any = false;
        let mut i = 0;
        while i < keep.len() && runs < max_runs {
            let end = (i + chunk).min(keep.len());
            let cand: Vec<usize> = keep[..i].iter().chain(&keep[end..]).copied().collect();
            if let Some((s, r)) = fails(&cand, &mut runs) {
                keep = cand;
                best = s;
                best_result = r;
                removed_any = true;
            } else {
                i = end;
            }
        }
        if chunk == 1 && !removed_any {
            break;
        }
        if !removed_any {
            chunk = (chunk / 2).max(1);
        }
    }
    if best.keep.is_none() {
        best.keep = Some(keep);
    }
    (best, best_result)
}

/// Per-workload totals of a sweep.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Seeds that failed.
    pub failed: u64,
    /// Faults that took effect, by kind.
    pub injected: BTreeMap<&'static str, u64>,
    /// Invariant checks, by name.
    pub checks: BTreeMap<&'static str, u64>,
    /// Stream duplicates (total, by replay, by unknown outcome).
    pub duplicates: (u64, u64, u64),
    /// Rows lost with an excused cause.
    pub lost_excused: u64,
    /// Failovers.
    pub failovers: u64,
    /// Engine counters.
    pub counters: BTreeMap<&'static str, u64>,
    /// Virtual time, ms.
    pub virtual_ms: u64,
    /// Wall time.
    pub wall: Duration,
    /// Visible rows checked.
    pub rows: u64,
}

impl Summary {
    /// Adds a run.
    pub fn add(&mut self, r: &RunResult) {
        self.seeds += 1;
        if !r.passed() {
            self.failed += 1;
        }
        for (k, v) in &r.injected {
            *self.injected.entry(k).or_default() += v;
        }
        for (k, v) in &r.verdict.checks {
            *self.checks.entry(k).or_default() += v;
        }
        for (k, v) in &r.counters {
            *self.counters.entry(k).or_default() += v;
        }
        self.duplicates.0 += r.verdict.duplicates;
        self.duplicates.1 += r.verdict.duplicates_replay;
        self.duplicates.2 += r.verdict.duplicates_ambiguous;
        self.lost_excused += r.verdict.lost_excused;
        self.failovers += r.failovers;
        self.virtual_ms += r.virtual_ms;
        self.wall += r.wall;
        self.rows += r.verdict.visible_rows;
    }

    /// A text table.
    pub fn render(&self, title: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "== {title}");
        let _ = writeln!(
            s,
            "  seeds {:>6}   failed {:>4}   failovers {:>6}   virtual {:>9.1}s   wall {:>7.2}s   rows checked {}",
            self.seeds,
            self.failed,
            self.failovers,
            self.virtual_ms as f64 / 1000.0,
            self.wall.as_secs_f64(),
            self.rows
        );
        let inj: Vec<String> = self
            .injected
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            s,
            "  faults injected ({}): {}",
            self.injected.values().sum::<u64>(),
            inj.join(" ")
        );
        let chk: Vec<String> = self
            .checks
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(s, "  invariant checks passed: {}", chk.join(" "));
        let c: Vec<String> = self
            .counters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(s, "  engine: {}", c.join(" "));
        let _ = writeln!(
            s,
            "  duplicates (stream) {} = replay {} + unknown-outcome {}; excused losses {}",
            self.duplicates.0, self.duplicates.1, self.duplicates.2, self.lost_excused
        );
        s
    }
}
