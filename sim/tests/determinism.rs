//! Determinism: the same seed gives a byte-identical trace in two separate processes (the
//! `maxc-sim` binary is spawned twice), on both runners; a different seed gives another.

use std::process::Command;

use maxc_sim::rng::{FNV_START, fnv1a};

fn replay(seed: u64, workload: &str, runner: &str) -> (u64, usize, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_maxc-sim"))
        .args([
            "replay",
            "--seed",
            &seed.to_string(),
            "--workload",
            workload,
            "--runner",
            runner,
            "--trace",
        ])
        .output()
        .expect("the maxc-sim binary runs");
    assert!(
        out.status.success(),
        "seed {seed} {workload} {runner} failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    (fnv1a(FNV_START, &out.stdout), out.stdout.len(), last)
}

#[test]
fn same_seed_same_trace_in_separate_processes() {
    let cases = [
        (3, "batch-static", "in-process"),
        (7, "stream", "in-process"),
        (11, "upsert", "in-process"),
        (3, "batch-dynamic", "turmoil"),
        (7, "stream", "turmoil"),
        (11, "upsert", "turmoil"),
    ];
    for (seed, w, r) in cases {
        let a = replay(seed, w, r);
        let b = replay(seed, w, r);
        assert!(
            a.1 > 1000,
            "the trace of {seed} {w} {r} is too short to mean anything"
        );
        assert_eq!(
            a, b,
            "seed {seed} {w} {r}: the two processes traced differently"
        );
        println!(
            "seed {seed} {w} {r}: {} bytes, stdout hash {:016x}; {}",
            a.1, a.0, a.2
        );
        let other = replay(seed + 1, w, r);
        assert_ne!(
            a.0,
            other.0,
            "seeds {seed} and {} traced the same",
            seed + 1
        );
    }
}
