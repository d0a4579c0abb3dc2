//! The `maxc-mock` command line, shared by the `maxc-mock` binary and `maxc mock`: the
//! [`Args`] (clap) and [`run`], which starts the server, prints the settings a client needs
//! as `KEY=value` lines and serves until Ctrl-C (or until a given future resolves).

use std::future::Future;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::server::{MockConfig, MockServer, MockServerHandle};
use crate::service::{DEFAULT_ACCESS_ID, DEFAULT_ACCESS_KEY, DEFAULT_PROJECT};

/// A wire-compatible MaxCompute + Tunnel emulator for local use and tests.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "maxc-mock", version)]
pub struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free port and prints it).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Project that exists at start.
    #[arg(long, default_value = DEFAULT_PROJECT)]
    pub project: String,
    /// More projects that exist at start (repeatable).
    #[arg(long = "extra-project")]
    pub extra_projects: Vec<String>,
    /// AccessKey id of the account clients sign with.
    #[arg(long, requires = "access_key")]
    pub access_id: Option<String>,
    /// AccessKey secret of that account.
    #[arg(long, requires = "access_id")]
    pub access_key: Option<String>,
    /// Do not verify request signatures.
    #[arg(long)]
    pub no_auth: bool,
    /// Keep tables, committed data and open sessions in this directory across restarts.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Load tables and rows from this JSON file at start (see docs/mockserver.md).
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
    /// Seed of every id generator and probabilistic fault rule.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Request body limit in MiB.
    #[arg(long, default_value_t = 512)]
    pub max_body_mb: usize,
    /// Answer `odps.namespace.schema=true` from /tenants (3-tier project.schema.table).
    #[arg(long)]
    pub schema_model: bool,
}

impl Args {
    /// The server configuration these arguments describe.
    pub fn config(&self) -> MockConfig {
        let mut cfg = MockConfig {
            host: self.host.clone(),
            port: self.port,
            data_dir: self.data_dir.clone(),
            fixtures: self.fixtures.clone(),
            max_body_bytes: self.max_body_mb.saturating_mul(1 << 20),
            ..MockConfig::default()
        };
        cfg.service.project = self.project.clone();
        cfg.service.extra_projects = self.extra_projects.clone();
        cfg.service.seed = self.seed;
        cfg.service.auth = !self.no_auth;
        cfg.service.schema_model = self.schema_model;
        if let (Some(id), Some(key)) = (&self.access_id, &self.access_key) {
            cfg.service.accounts.clear();
            cfg.service.accounts.insert(id.clone(), key.clone());
        }
        cfg
    }

    /// The `KEY=value` lines a client needs (`MAXC_MOCK_ENDPOINT=…`, …), one per line. A
    /// secret given with `--access-key` is never printed.
    pub fn settings(&self, server: &MockServerHandle) -> String {
        let key_line = if self.access_key.is_some() {
            "MAXC_MOCK_ACCESS_KEY=<the --access-key you passed>".to_string()
        } else {
            format!("MAXC_MOCK_ACCESS_KEY={DEFAULT_ACCESS_KEY}")
        };
        format!(
            "MAXC_MOCK_ENDPOINT={}\nMAXC_MOCK_TUNNEL_ENDPOINT={}\nMAXC_MOCK_PROJECT={}\nMAXC_MOCK_ACCESS_ID={}\n{key_line}\nMAXC_MOCK_ADMIN={}\nMAXC_MOCK_AUTH={}\n",
            server.endpoint(),
            server.tunnel_endpoint(),
            server.project(),
            self.access_id.as_deref().unwrap_or(DEFAULT_ACCESS_ID),
            server.admin_url(),
            if self.no_auth { "off" } else { "on" },
        )
    }
}

/// Why the mock could not run.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the mock server: {0}")]
pub struct StartError(#[from] pub io::Error);

/// Starts the server, prints its settings to stdout and serves until Ctrl-C.
pub async fn run(args: Args) -> Result<(), StartError> {
    run_until(args, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Like [`run`], serving until `shutdown` resolves.
pub async fn run_until(args: Args, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let server = MockServer::start(args.config()).await?;
    let mut out = io::stdout().lock();
    // A closed stdout (the settings piped into `head`) does not stop the server.
    let _ = out.write_all(args.settings(&server).as_bytes());
    let _ = out.flush();
    drop(out);
    shutdown.await;
    server.shutdown().await;
    Ok(())
}

/// Logs to stderr, filtered by `RUST_LOG` (default `warn`). Does nothing when a global
/// subscriber is already set.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(io::stderr)
        .try_init();
}
