//! # maxc-sim
//!
//! Deterministic fault simulation of the maxc sinks against the mock server.
//!
//! - [`job`]: a Flink-like engine model (writer subtasks, committer, checkpoints, failover)
//!   written as a pure machine;
//! - [`workload`]: tables, sink options and deterministic input rows;
//! - [`plan`]: scenarios and fault plans drawn from the seed;
//! - [`inprocess`]: the discrete-event runner over the pure mock service;
//! - [`turmoil_runner`]: the real driver and axum mock on turmoil's simulated network;
//! - [`oracle`]: the invariants checked after (and during) every run;
//! - [`run`]: running seeds, replay commands, the shrinker, summaries.
//!
//! See `docs/simulation.md`.
#![warn(missing_docs)]

pub mod inprocess;
pub mod job;
pub mod mockctl;
pub mod oracle;
pub mod plan;
pub mod rng;
pub mod run;
pub mod trace;
pub mod turmoil_runner;
pub mod workload;

pub use plan::{Bug, Fault, FaultPlan, RunnerKind, Scenario};
pub use run::{RunOptions, RunResult, RunSpec, Summary, TraceMode, run, shrink};
pub use workload::Workload;
