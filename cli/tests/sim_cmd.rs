//! `maxc sim` is the simulator's command line: the same runs, verdicts and trace hashes as
//! the `maxc_sim` library gives.

use std::process::{Command, Output};

use maxc_sim::plan::RunnerKind;
use maxc_sim::run::{RunOptions, RunSpec, run};
use maxc_sim::workload::Workload;

fn maxc_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maxc"))
        .arg("sim")
        .args(args)
        .output()
        .expect("run maxc sim")
}

#[test]
fn replay_prints_the_library_verdict_and_trace_hash() {
    let out = maxc_sim(&["replay", "--seed", "3", "--workload", "batch-static"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let spec = RunSpec {
        seed: 3,
        workload: Workload::BatchStatic,
        runner: RunnerKind::InProcess,
        bugs: Vec::new(),
        keep: None,
    };
    let res = run(&spec, &RunOptions::default());
    assert!(res.passed());
    let hash = format!("trace-hash {:016x}", res.trace_hash);
    assert!(stdout.contains("PASS"), "{stdout}");
    assert!(stdout.contains(&hash), "{stdout} lacks {hash}");
}

#[test]
fn a_planted_bug_fails_with_a_replay_command() {
    let out = maxc_sim(&[
        "replay",
        "--seed",
        "9",
        "--workload",
        "batch-static",
        "--bug",
        "committer-skips-status-check",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("replay --seed 9"), "{stdout}");
}

#[test]
fn bad_arguments_name_the_problem() {
    let out = maxc_sim(&["run", "--workload", "no-such-workload", "--seeds", "0..2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such-workload"), "{stderr}");
}
