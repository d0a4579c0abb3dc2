//! The turmoil runner (work in progress).

use crate::plan::{FaultPlan, Scenario};
use crate::run::{RunOptions, RunResult};

/// Runs one scenario on turmoil.
pub fn run(sc: &Scenario, plan: &FaultPlan, opts: &RunOptions) -> RunResult {
    crate::inprocess::run(sc, plan, opts)
}
