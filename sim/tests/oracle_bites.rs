//! Proof that the oracle bites: with each test-only bug switched on in the sink machines, the
//! simulator finds a failing seed within a bounded number of seeds on both runners, prints the
//! command that replays it, and the shrinker reduces its fault plan to a smaller one that
//! still fails.

use maxc_sim::plan::{Bug, RunnerKind};
use maxc_sim::run::{RunOptions, RunSpec, failure_report, run, shrink};
use maxc_sim::workload::Workload;

/// Seeds searched before giving up.
const BOUND: u64 = 40;

fn first_failure(bug: Bug, runner: RunnerKind) -> (RunSpec, maxc_sim::RunResult) {
    for seed in 0..BOUND {
        let spec = RunSpec {
            seed,
            workload: Workload::BatchStatic,
            runner,
            bugs: vec![bug],
            keep: None,
        };
        let r = run(&spec, &RunOptions::default());
        if !r.passed() {
            print!(
                "{} found after {} seeds:\n{}",
                bug.name(),
                seed + 1,
                failure_report(&spec, &r)
            );
            return (spec, r);
        }
    }
    panic!(
        "{} was not found within {BOUND} seeds on {runner}",
        bug.name()
    );
}

fn check(bug: Bug, expect: &[&str]) {
    for runner in RunnerKind::ALL {
        let (spec, r) = first_failure(bug, runner);
        assert!(
            r.verdict
                .violations
                .iter()
                .any(|v| expect.iter().any(|e| v.contains(e))),
            "{}: unexpected violations {:?}",
            bug.name(),
            r.verdict.violations
        );
        if runner == RunnerKind::InProcess {
            let (small, sr) = shrink(&spec, &r, 60);
            assert!(!sr.passed());
            assert!(sr.plan_len <= r.plan_len);
            print!(
                "shrunk from {} to {} faults:\n{}",
                r.plan_len,
                sr.plan_len,
                failure_report(&small, &sr)
            );
            // The shrunk spec replays to the same failure.
            let again = run(&small, &RunOptions::default());
            assert!(!again.passed());
            assert_eq!(again.trace_hash, sr.trace_hash);
        }
    }
}

#[test]
fn committer_skipping_the_status_check_is_found() {
    check(
        Bug::CommitterSkipsStatusCheck,
        &["reported `committed`", "commit reports claim"],
    );
}

#[test]
fn writer_reusing_a_session_across_a_barrier_is_found() {
    check(
        Bug::WriterReusesSession,
        &[
            "not visible (lost)",
            "checkpoint has not completed",
            "no completed checkpoint covers it",
            "visible twice",
        ],
    );
}
