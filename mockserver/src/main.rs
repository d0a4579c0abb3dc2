//! `maxc-mock`: a local MaxCompute + Tunnel emulator.
//!
//! Prints one `KEY=value` line per setting a client needs, then serves until Ctrl-C:
//!
//! ```text
//! MAXC_MOCK_ENDPOINT=http://127.0.0.1:8080/api
//! MAXC_MOCK_TUNNEL_ENDPOINT=http://127.0.0.1:8080
//! MAXC_MOCK_PROJECT=maxc
//! MAXC_MOCK_ACCESS_ID=maxc-access-id
//! MAXC_MOCK_ACCESS_KEY=maxc-access-key
//! MAXC_MOCK_ADMIN=http://127.0.0.1:8080/_maxc
//! ```
//!
//! The arguments and the run loop live in `maxc_mock::cli` (shared with `maxc mock`).

use clap::Parser;
use maxc_mock::cli::{Args, init_logging, run};

#[tokio::main]
async fn main() {
    init_logging();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("maxc-mock: {e}");
        std::process::exit(1);
    }
}
