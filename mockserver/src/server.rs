//! Running the service on a socket: the generic [`serve`] loop (any
//! `axum::serve::Listener`, so turmoil can reuse it) and [`MockServer::start`] for
//! in-process tests on loopback.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::serve::Listener;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::fixtures::Fixtures;
use crate::http_layer::{self, App, Clock, DEFAULT_MAX_BODY, SharedService, lock, system_clock};
use crate::service::{Service, ServiceConfig};
use crate::storage::DirDisk;

/// Serves HTTP/1.1 connections from `listener` until `shutdown` resolves.
///
/// Each connection runs on its own task; a fault effect that drops a connection closes
/// only that connection.
pub async fn serve<L>(
    mut listener: L,
    app: App,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()>
where
    L: Listener,
{
    let router = http_layer::router(app);
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            (io, _addr) = listener.accept() => {
                let router = router.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| http_layer::call(router.clone(), req));
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(io), svc);
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended");
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = &mut shutdown => break,
        }
    }
    conns.abort_all();
    Ok(())
}

/// Settings of a running mock.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Address to bind (default `127.0.0.1`).
    pub host: String,
    /// Port (0 = pick a free one).
    pub port: u16,
    /// The service settings (project, accounts, seed, ...).
    pub service: ServiceConfig,
    /// Keep committed data, tables and sessions here across restarts.
    pub data_dir: Option<PathBuf>,
    /// Fixture file to load at start.
    pub fixtures: Option<PathBuf>,
    /// Request body limit in bytes.
    pub max_body_bytes: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            service: ServiceConfig::default(),
            data_dir: None,
            fixtures: None,
            max_body_bytes: DEFAULT_MAX_BODY,
        }
    }
}

impl MockConfig {
    /// Uses `dir` as the data directory.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Sets the project that exists at start.
    pub fn with_project(mut self, project: &str) -> Self {
        self.service.project = project.to_string();
        self
    }

    /// Disables signature checks.
    pub fn without_auth(mut self) -> Self {
        self.service.auth = false;
        self
    }

    /// Sets the seed of every generator.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.service.seed = seed;
        self
    }
}

/// Starts mock servers.
#[derive(Debug)]
pub struct MockServer;

impl MockServer {
    /// Binds, loads the data directory and fixtures, and serves in a background task.
    pub async fn start(cfg: MockConfig) -> io::Result<MockServerHandle> {
        Self::start_with_clock(cfg, system_clock()).await
    }

    /// Like [`start`](MockServer::start) with a custom time source.
    pub async fn start_with_clock(cfg: MockConfig, clock: Clock) -> io::Result<MockServerHandle> {
        let now = clock();
        let service = match &cfg.data_dir {
            Some(dir) => {
                let disk = DirDisk::open(dir).map_err(io::Error::other)?;
                Service::with_disk(cfg.service.clone(), Box::new(disk), now)
                    .map_err(io::Error::other)?
            }
            None => Service::new(cfg.service.clone(), now),
        };
        let service: SharedService = Arc::new(Mutex::new(service));
        if let Some(path) = &cfg.fixtures {
            let text = std::fs::read(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let f: Fixtures = serde_json::from_slice(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            lock(&service).load_fixtures(&f, now).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
        }
        let listener = tokio::net::TcpListener::bind((cfg.host.as_str(), cfg.port)).await?;
        let addr = listener.local_addr()?;
        let app = App {
            service: service.clone(),
            clock,
            max_body: cfg.max_body_bytes,
            offload: true,
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, async {
            let _ = rx.await;
        }));
        Ok(MockServerHandle {
            addr,
            service,
            shutdown: Some(tx),
            task: Some(task),
            project: cfg.service.project.clone(),
            access_id: cfg
                .service
                .accounts
                .keys()
                .next()
                .cloned()
                .unwrap_or_default(),
            access_key: cfg
                .service
                .accounts
                .values()
                .next()
                .cloned()
                .unwrap_or_default(),
        })
    }
}

/// A running mock.
#[derive(Debug)]
pub struct MockServerHandle {
    addr: SocketAddr,
    service: SharedService,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
    project: String,
    access_id: String,
    access_key: String,
}

impl MockServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn host_port(&self) -> String {
        let ip = if self.addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            self.addr.ip().to_string()
        };
        if self.addr.is_ipv6() {
            format!("[{ip}]:{}", self.addr.port())
        } else {
            format!("{ip}:{}", self.addr.port())
        }
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host_port())
    }

    /// The REST endpoint (`http://host:port/api`), as pyodps' `endpoint`.
    pub fn endpoint(&self) -> String {
        format!("{}/api", self.url())
    }

    /// The tunnel endpoint (`http://host:port`).
    pub fn tunnel_endpoint(&self) -> String {
        self.url()
    }

    /// The admin base URL (`http://host:port/_maxc`).
    pub fn admin_url(&self) -> String {
        format!("{}/_maxc", self.url())
    }

    /// The project that exists at start.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// AccessKey id of the first configured account.
    pub fn access_id(&self) -> &str {
        &self.access_id
    }

    /// AccessKey secret of the first configured account.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The shared service (inspect or change state from tests).
    pub fn service(&self) -> SharedService {
        self.service.clone()
    }

    /// Runs `f` with the service locked.
    pub fn with_service<R>(&self, f: impl FnOnce(&mut Service) -> R) -> R {
        f(&mut lock(&self.service))
    }

    /// Stops accepting, closes connections and waits for the server task.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for MockServerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
