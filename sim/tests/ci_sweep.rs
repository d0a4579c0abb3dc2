//! The CI seed sweep: every workload on both runners, a fixed range of seeds each, with the
//! fault plans the seeds draw. Every run must pass every invariant (liveness included).
//!
//! Seeds per workload can be raised with `MAXC_SIM_SEEDS=n` (the many-partition workload runs
//! a fifth of that, at least 5).

use std::time::Instant;

use maxc_sim::plan::RunnerKind;
use maxc_sim::run::{RunOptions, RunSpec, Summary, failure_report, run};
use maxc_sim::workload::Workload;

fn seeds_for(w: Workload) -> u64 {
    let base: u64 = std::env::var("MAXC_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    match w {
        Workload::BatchMany => (base / 5).max(5),
        _ => base,
    }
}

fn sweep(runner: RunnerKind) -> u64 {
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut runs = 0;
    for w in Workload::ALL {
        let mut sum = Summary::default();
        for seed in 0..seeds_for(w) {
            let spec = RunSpec {
                seed,
                workload: w,
                runner,
                bugs: vec![],
                keep: None,
            };
            let r = run(&spec, &RunOptions::default());
            sum.add(&r);
            runs += 1;
            if !r.passed() {
                failures.push(failure_report(&spec, &r));
            }
        }
        print!("{}", sum.render(&format!("{w} / {runner}")));
        assert!(
            sum.injected.values().sum::<u64>() > 0,
            "{w} / {runner}: no fault took effect"
        );
    }
    println!(
        "{runner}: {runs} runs in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    runs
}

#[test]
fn in_process_sweep() {
    assert!(sweep(RunnerKind::InProcess) >= 100);
}

#[test]
fn turmoil_sweep() {
    assert!(sweep(RunnerKind::Turmoil) >= 100);
}
