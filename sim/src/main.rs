//! `maxc-sim`: run seed sweeps, replay one seed, shrink a failing plan.
//!
//! ```text
//! maxc-sim run --workload batch-static --seeds 0..1000 [--runner in-process|turmoil|all]
//! maxc-sim replay --seed 42 --workload stream [--runner turmoil] [--keep 1,4] [--trace]
//! maxc-sim shrink --seed 42 --workload stream
//! ```

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use maxc_sim::plan::{Bug, RunnerKind};
use maxc_sim::run::{RunOptions, RunSpec, Summary, TraceMode, failure_report, run, shrink};
use maxc_sim::workload::Workload;

#[derive(Parser)]
#[command(
    name = "maxc-sim",
    about = "Deterministic fault simulation of the maxc sinks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs a range of seeds and prints a summary per workload.
    Run {
        /// Workload (`all` for every workload).
        #[arg(long, default_value = "all")]
        workload: String,
        /// Seeds `A..B` (B exclusive) or a single seed.
        #[arg(long, default_value = "0..100")]
        seeds: String,
        /// Runner: in-process, turmoil or all.
        #[arg(long, default_value = "in-process")]
        runner: String,
        /// Switch a test-only bug on (repeatable).
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Shrink the first failure.
        #[arg(long)]
        shrink: bool,
        /// Stop at the first failure.
        #[arg(long)]
        fail_fast: bool,
        /// Print one line per seed.
        #[arg(long)]
        verbose: bool,
    },
    /// Runs one seed; prints its verdict and trace hash (and the trace with --trace).
    Replay {
        /// Seed.
        #[arg(long)]
        seed: u64,
        /// Workload.
        #[arg(long)]
        workload: String,
        /// Runner.
        #[arg(long, default_value = "in-process")]
        runner: String,
        /// Switch a test-only bug on (repeatable).
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Keep only these faults of the plan (comma-separated indices, or `none`).
        #[arg(long)]
        keep: Option<String>,
        /// Print the trace.
        #[arg(long)]
        trace: bool,
    },
    /// Shrinks a failing seed's fault plan to a minimal failing one.
    Shrink {
        /// Seed.
        #[arg(long)]
        seed: u64,
        /// Workload.
        #[arg(long)]
        workload: String,
        /// Runner.
        #[arg(long, default_value = "in-process")]
        runner: String,
        /// Switch a test-only bug on (repeatable).
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Most re-runs.
        #[arg(long, default_value_t = 200)]
        max_runs: usize,
    },
}

/// `print!` that ignores a closed stdout (e.g. piped into `head`) instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

/// `println!` that ignores a closed stdout.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

fn parse_seeds(s: &str) -> Result<(u64, u64), String> {
    match s.split_once("..") {
        Some((a, b)) => {
            let a: u64 = a
                .trim()
                .parse()
                .map_err(|e| format!("bad seed range `{s}`: {e}"))?;
            let b: u64 = b
                .trim()
                .parse()
                .map_err(|e| format!("bad seed range `{s}`: {e}"))?;
            if b <= a {
                return Err(format!("empty seed range `{s}`"));
            }
            Ok((a, b))
        }
        None => {
            let a: u64 = s
                .trim()
                .parse()
                .map_err(|e| format!("bad seed `{s}`: {e}"))?;
            Ok((a, a + 1))
        }
    }
}

fn parse_workloads(s: &str) -> Result<Vec<Workload>, String> {
    if s == "all" {
        return Ok(Workload::ALL.to_vec());
    }
    s.split(',').map(|w| w.trim().parse()).collect()
}

fn parse_runners(s: &str) -> Result<Vec<RunnerKind>, String> {
    if s == "all" {
        return Ok(RunnerKind::ALL.to_vec());
    }
    s.split(',').map(|w| w.trim().parse()).collect()
}

fn parse_bugs(v: &[String]) -> Result<Vec<Bug>, String> {
    v.iter().map(|b| b.parse()).collect()
}

fn parse_keep(s: &Option<String>) -> Result<Option<Vec<usize>>, String> {
    match s.as_deref() {
        None => Ok(None),
        Some("none") | Some("") => Ok(Some(Vec::new())),
        Some(list) => list
            .split(',')
            .map(|i| {
                i.trim()
                    .parse::<usize>()
                    .map_err(|e| format!("bad --keep `{list}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("maxc-sim: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> Result<ExitCode, String> {
    match cli.cmd {
        Cmd::Run {
            workload,
            seeds,
            runner,
            bugs,
            shrink: do_shrink,
            fail_fast,
            verbose,
        } => {
            let (a, b) = parse_seeds(&seeds)?;
            let workloads = parse_workloads(&workload)?;
            let runners = parse_runners(&runner)?;
            let bugs = parse_bugs(&bugs)?;
            let started = Instant::now();
            let mut failures = 0u64;
            let mut total = Summary::default();
            'outer: for r in &runners {
                for w in &workloads {
                    let mut sum = Summary::default();
                    for seed in a..b {
                        let spec = RunSpec {
                            seed,
                            workload: *w,
                            runner: *r,
                            bugs: bugs.clone(),
                            keep: None,
                        };
                        let res = run(&spec, &RunOptions::default());
                        if verbose {
                            outln!(
                                "seed {seed} {w} {r}: {} virtual {}ms wall {:.1}ms faults {} trace {:016x}",
                                if res.passed() { "ok" } else { "FAIL" },
                                res.virtual_ms,
                                res.wall.as_secs_f64() * 1000.0,
                                res.injected.values().sum::<u64>(),
                                res.trace_hash
                            );
                        }
                        sum.add(&res);
                        total.add(&res);
                        if !res.passed() {
                            failures += 1;
                            out!("{}", failure_report(&spec, &res));
                            if do_shrink {
                                let (small, sres) = shrink(&spec, &res, 200);
                                outln!("  shrunk to {} of {} faults:", sres.plan_len, res.plan_len);
                                out!("{}", failure_report(&small, &sres));
                            }
                            if fail_fast {
                                out!("{}", sum.render(&format!("{w} / {r}")));
                                break 'outer;
                            }
                        }
                    }
                    out!("{}", sum.render(&format!("{w} / {r}")));
                }
            }
            outln!(
                "total: {} runs, {} failed, wall {:.1}s",
                total.seeds,
                failures,
                started.elapsed().as_secs_f64()
            );
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Replay {
            seed,
            workload,
            runner,
            bugs,
            keep,
            trace,
        } => {
            let spec = RunSpec {
                seed,
                workload: workload.parse()?,
                runner: runner.parse()?,
                bugs: parse_bugs(&bugs)?,
                keep: parse_keep(&keep)?,
            };
            let opts = RunOptions {
                trace: if trace {
                    TraceMode::Print
                } else {
                    TraceMode::Hash
                },
            };
            let res = run(&spec, &opts);
            outln!(
                "seed {} workload {} runner {}: {} trace-hash {:016x} lines {} virtual {}ms plan-hash {:016x}",
                seed,
                spec.workload,
                spec.runner,
                if res.passed() { "PASS" } else { "FAIL" },
                res.trace_hash,
                res.trace_lines,
                res.virtual_ms,
                res.plan_hash
            );
            if !res.passed() {
                out!("{}", failure_report(&spec, &res));
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Shrink {
            seed,
            workload,
            runner,
            bugs,
            max_runs,
        } => {
            let spec = RunSpec {
                seed,
                workload: workload.parse()?,
                runner: runner.parse()?,
                bugs: parse_bugs(&bugs)?,
                keep: None,
            };
            let res = run(&spec, &RunOptions::default());
            if res.passed() {
                outln!("seed {seed} passes; nothing to shrink");
                return Ok(ExitCode::SUCCESS);
            }
            out!("{}", failure_report(&spec, &res));
            let (small, sres) = shrink(&spec, &res, max_runs);
            outln!("shrunk to {} of {} faults:", sres.plan_len, res.plan_len);
            let (_, plan) = small.build();
            for (i, f) in &plan.faults {
                outln!("  [{i}] {f}");
            }
            out!("{}", failure_report(&small, &sres));
            Ok(ExitCode::from(1))
        }
    }
}
