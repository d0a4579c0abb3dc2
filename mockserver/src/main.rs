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

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use maxc_mock::{DEFAULT_ACCESS_ID, DEFAULT_ACCESS_KEY, MockConfig, MockServer};

/// A wire-compatible MaxCompute + Tunnel emulator for local use and tests.
#[derive(Debug, Parser)]
#[command(name = "maxc-mock", version)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free port and prints it).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Project that exists at start.
    #[arg(long, default_value = maxc_mock::DEFAULT_PROJECT)]
    project: String,
    /// More projects that exist at start (repeatable).
    #[arg(long = "extra-project")]
    extra_projects: Vec<String>,
    /// AccessKey id of the account clients sign with.
    #[arg(long, requires = "access_key")]
    access_id: Option<String>,
    /// AccessKey secret of that account.
    #[arg(long, requires = "access_id")]
    access_key: Option<String>,
    /// Do not verify request signatures.
    #[arg(long)]
    no_auth: bool,
    /// Keep tables, committed data and open sessions in this directory across restarts.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Load tables and rows from this JSON file at start (see docs/mockserver.md).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Seed of every id generator and probabilistic fault rule.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Request body limit in MiB.
    #[arg(long, default_value_t = 512)]
    max_body_mb: usize,
    /// Answer `odps.namespace.schema=true` from /tenants (3-tier project.schema.table).
    #[arg(long)]
    schema_model: bool,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut cfg = MockConfig {
        host: args.host.clone(),
        port: args.port,
        data_dir: args.data_dir.clone(),
        fixtures: args.fixtures.clone(),
        max_body_bytes: args.max_body_mb.saturating_mul(1 << 20),
        ..MockConfig::default()
    };
    cfg.service.project = args.project.clone();
    cfg.service.extra_projects = args.extra_projects.clone();
    cfg.service.seed = args.seed;
    cfg.service.auth = !args.no_auth;
    cfg.service.schema_model = args.schema_model;
    let custom_key = args.access_id.is_some();
    if let (Some(id), Some(key)) = (&args.access_id, &args.access_key) {
        cfg.service.accounts.clear();
        cfg.service.accounts.insert(id.clone(), key.clone());
    }
    let server = match MockServer::start(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("maxc-mock: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let key_line = if custom_key {
        "MAXC_MOCK_ACCESS_KEY=<the --access-key you passed>".to_string()
    } else {
        format!("MAXC_MOCK_ACCESS_KEY={DEFAULT_ACCESS_KEY}")
    };
    let _ = writeln!(
        out,
        "MAXC_MOCK_ENDPOINT={}\nMAXC_MOCK_TUNNEL_ENDPOINT={}\nMAXC_MOCK_PROJECT={}\nMAXC_MOCK_ACCESS_ID={}\n{key_line}\nMAXC_MOCK_ADMIN={}\nMAXC_MOCK_AUTH={}",
        server.endpoint(),
        server.tunnel_endpoint(),
        server.project(),
        args.access_id.as_deref().unwrap_or(DEFAULT_ACCESS_ID),
        server.admin_url(),
        if args.no_auth { "off" } else { "on" },
    );
    let _ = out.flush();
    drop(out);
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
}
