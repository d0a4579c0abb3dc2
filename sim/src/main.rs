//! `maxc-sim`: run seed sweeps, replay one seed, shrink a failing plan (see [`maxc_sim::cli`]).

use std::process::ExitCode;

use clap::Parser;

/// Deterministic fault simulation of the maxc sinks, sources and lookup tables.
#[derive(Parser)]
#[command(name = "maxc-sim", version)]
struct Cli {
    #[command(flatten)]
    args: maxc_sim::cli::Args,
}

fn main() -> ExitCode {
    maxc_sim::cli::run_cli(Cli::parse().args)
}
