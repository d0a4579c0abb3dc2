//! `maxc`: the command line (see the crate docs, or `maxc --help`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = maxc::Cli::parse();
    maxc_mock::cli::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("maxc: error: cannot start the async runtime: {e}");
            return ExitCode::from(maxc::error::EXIT_SERVICE);
        }
    };
    match runtime.block_on(maxc::run(cli, &maxc::conn::ProcessEnv)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maxc: error: {e}");
            e.exit_code()
        }
    }
}
