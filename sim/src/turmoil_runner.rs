//! The turmoil runner: the same [`Job`] driven by the real driver (`maxc_driver::Pump` over a
//! `HyperTransport` with a turmoil connector), talking HTTP to the real axum mock on another
//! simulated host.
//!
//! Hosts: `mock` (the axum layer over the pure service; its durable store, a `MemDisk`, lives
//! outside the host so a crash + bounce keeps committed data and sessions) and `job` (the
//! engine; its checkpoint journal lives outside the host, so a bounce restores from the last
//! completed checkpoint). A client `observer` ends the simulation when the job finished or the
//! deadline passed. The outer loop applies the plan's host and network faults between
//! `sim.step()` calls: crash/bounce of either host, partition/repair, hold/release, link
//! latency. Application faults are the mock's fault rules; engine faults are the job's.
//! turmoil's seed and epoch are pinned.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::Request as AxumRequest;
use axum::middleware::Next;
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use maxc_core::auth::{Credentials, Signer};
use maxc_core::machine::{Instant, Machine, Output, Reply, Token};
use maxc_core::time::WallClock;
use maxc_driver::clock::WallClockSource;
use maxc_driver::pump::{Pump, Turn};
use maxc_driver::transport::{HyperTransport, TransportConfig};
use maxc_mock::Service;
use maxc_mock::http_layer::{App, SharedService, lock as lock_svc};
use maxc_mock::storage::MemDisk;

use crate::job::{Job, Outcome, Shared, SharedRef, lock};
use crate::mockctl::{self, EPOCH_MS, Rules};
use crate::oracle::{self, CommitWatch};
use crate::plan::{Fault, FaultPlan, RunnerKind, Scenario};
use crate::run::{RunOptions, RunResult};
use crate::trace::Trace;

/// Port of the mock on its host.
pub const MOCK_PORT: u16 = 9000;

fn sim_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as u64)
}

// ---------------------------------------------------------------------- client connector

/// A turmoil TCP stream as a hyper connection.
pub struct SimConn(TokioIo<turmoil::net::TcpStream>);

impl hyper::rt::Read for SimConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SimConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Connection for SimConn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// Dials `host:port` on turmoil's network.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimConnector;

impl tower::Service<Uri> for SimConnector {
    type Response = SimConn;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<SimConn>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::other("no host in uri"))?
                .to_string();
            let port = uri.port_u16().unwrap_or(80);
            let s = turmoil::net::TcpStream::connect((host.as_str(), port)).await?;
            Ok(SimConn(TokioIo::new(s)))
        })
    }
}

/// The simulated wall clock (the pinned epoch plus simulated time).
#[derive(Debug, Clone, Copy, Default)]
pub struct SimWallClock;

impl WallClockSource for SimWallClock {
    fn now(&self) -> WallClock {
        WallClock {
            unix_millis: EPOCH_MS + sim_ms() as i64,
        }
    }
}

// ---------------------------------------------------------------------- server side

/// turmoil's listener as an axum listener.
struct SimListener(turmoil::net::TcpListener);

impl axum::serve::Listener for SimListener {
    type Io = turmoil::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(p) => return p,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// What the mock host's middleware needs.
#[derive(Clone)]
struct Observe {
    service: SharedService,
    sc: Arc<Scenario>,
    shared: SharedRef,
    watch: Arc<Mutex<CommitWatch>>,
    trace: Arc<Mutex<Trace>>,
}

async fn observe(obs: Observe, req: AxumRequest, next: Next) -> axum::response::Response {
    let method = req.method().clone();
    let commit = method == http::Method::POST
        && req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("uploadid=")));
    let session = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("uploadid="))
            .map(str::to_string)
    });
    let path = req.uri().path().rsplit('/').take(2).collect::<Vec<_>>();
    let what = format!(
        "{method} .../{}/{}?{}",
        path.get(1).copied().unwrap_or(""),
        path.first().copied().unwrap_or(""),
        req.uri()
            .query()
            .unwrap_or("")
            .chars()
            .take(120)
            .collect::<String>()
    );
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    {
        let mut t = obs.trace.lock().unwrap_or_else(|e| e.into_inner());
        t.line(sim_ms(), &format!("mock {what} -> {status}"));
    }
    if commit
        && resp.status().is_success()
        && let Some(session) = session
    {
        let svc = lock_svc(&obs.service);
        let mut sh = lock(&obs.shared);
        *sh.counters.entry("commit-checks").or_default() += 1;
        let v = obs
            .watch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_commit(&svc, &obs.sc, &sh, &session);
        sh.violations.extend(v);
    }
    resp
}

async fn serve_mock(listener: SimListener, router: axum::Router) -> io::Result<()> {
    let mut listener = listener;
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            biased;
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            (io, _addr) = axum::serve::Listener::accept(&mut listener) => {
                let router = router.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        maxc_mock::http_layer::call(router.clone(), req)
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(io), svc);
                    let _ = conn.await;
                });
            }
        }
    }
}

// ---------------------------------------------------------------------- job side

/// The job with its clock shifted: the pump counts from its own start, the job from the
/// start of the simulation (fault times are absolute).
struct Shifted {
    job: Job,
    base: u64,
}

impl Machine for Shifted {
    type Event = String;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        self.job.handle_reply(
            token,
            reply,
            Instant::from_millis(now.as_millis() + self.base),
        );
    }

    fn poll(&mut self, now: Instant) -> Option<Output<String>> {
        self.job
            .poll(Instant::from_millis(now.as_millis() + self.base))
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.job
            .next_deadline()
            .map(|d| Instant::from_millis(d.as_millis().saturating_sub(self.base)))
    }
}

// ---------------------------------------------------------------------- the run

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    CrashMock,
    BounceMock,
    CrashJob,
    BounceJob,
    Partition,
    Repair,
    Hold,
    Release,
    Latency(u64),
    LatencyEnd,
    Heal,
}

/// Runs one scenario with one fault plan on turmoil.
pub fn run(sc: &Scenario, plan: &FaultPlan, opts: &RunOptions) -> RunResult {
    let wall = std::time::Instant::now();
    let sc = Arc::new(sc.clone());
    let shared: SharedRef = Arc::new(Mutex::new(Shared::new()));
    let trace = Arc::new(Mutex::new(opts.trace()));
    let injected: Arc<Mutex<BTreeMap<&'static str, u64>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let needs_disk = plan.iter().any(|f| matches!(f, Fault::CrashMock { .. }));
    let disk = needs_disk.then(MemDisk::new);
    let cfg = mockctl::service_config(&sc);
    let served_before = Arc::new(Mutex::new(0u64));
    let healed = Arc::new(AtomicBool::new(false));
    let rules: Arc<Mutex<Rules>> = Arc::new(Mutex::new(Rules::default()));
    let watch = Arc::new(Mutex::new(CommitWatch::default()));
    let mut errors: Vec<String> = Vec::new();

    // Without mock crashes one service lives for the whole run (no persistence cost).
    let fixed: Option<SharedService> = if needs_disk {
        None
    } else {
        let mut svc = Service::new(cfg.clone(), mockctl::mock_time(0));
        if let Err(e) = mockctl::create_table(&mut svc, &sc, 0) {
            errors.push(e);
        }
        *rules.lock().unwrap_or_else(|e| e.into_inner()) =
            mockctl::install_rules(&mut svc, plan, 0);
        Some(Arc::new(Mutex::new(svc)))
    };
    let current: Arc<Mutex<Option<SharedService>>> = Arc::new(Mutex::new(fixed.clone()));

    {
        let mut t = trace.lock().unwrap_or_else(|e| e.into_inner());
        t.line(
            0,
            &format!(
                "seed {} workload {} runner turmoil parallelism {} rows {:?} faults {}",
                sc.seed,
                sc.workload,
                sc.parallelism,
                sc.rows,
                plan.len()
            ),
        );
        for (i, f) in &plan.faults {
            t.line(0, &format!("plan [{i}] {f}"));
        }
    }

    let mut sim = turmoil::Builder::new()
        .rng_seed(sc.seed)
        .epoch(UNIX_EPOCH + Duration::from_millis(EPOCH_MS as u64))
        .simulation_duration(Duration::from_millis(sc.deadline_ms + 30_000))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(sc.latency_ms.0))
        .max_message_latency(Duration::from_millis(sc.latency_ms.1.max(sc.latency_ms.0)))
        .build();

    // ------------------------------------------------------------------ mock host
    {
        let sc = sc.clone();
        let shared = shared.clone();
        let trace = trace.clone();
        let watch = watch.clone();
        let current = current.clone();
        let served_before = served_before.clone();
        let healed = healed.clone();
        let rules = rules.clone();
        let plan = plan.clone();
        let cfg = cfg.clone();
        let disk = disk.clone();
        sim.host("mock", move || {
            let sc = sc.clone();
            let shared = shared.clone();
            let trace = trace.clone();
            let watch = watch.clone();
            let current = current.clone();
            let served_before = served_before.clone();
            let healed = healed.clone();
            let rules = rules.clone();
            let plan = plan.clone();
            let cfg = cfg.clone();
            let disk = disk.clone();
            let fixed = fixed.clone();
            async move {
                let service = match (fixed, disk) {
                    (Some(s), _) => s,
                    (None, Some(d)) => {
                        let now = sim_ms();
                        let mut svc = Service::with_disk(cfg, Box::new(d), mockctl::mock_time(now))
                            .map_err(|e| format!("mock start: {e}"))?;
                        mockctl::create_table(&mut svc, &sc, now)?;
                        let base = *served_before.lock().unwrap_or_else(|e| e.into_inner());
                        let mut r = mockctl::install_rules(&mut svc, &plan, base);
                        if healed.load(Ordering::SeqCst) {
                            mockctl::heal_rules(&mut svc, &mut r);
                        }
                        *rules.lock().unwrap_or_else(|e| e.into_inner()) = r;
                        trace
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .line(now, "mock (re)started from its durable store");
                        Arc::new(Mutex::new(svc))
                    }
                    (None, None) => return Err("no mock service".into()),
                };
                *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(service.clone());
                let app = App {
                    service: service.clone(),
                    clock: Arc::new(|| mockctl::mock_time(sim_ms())),
                    max_body: maxc_mock::http_layer::DEFAULT_MAX_BODY,
                    offload: false,
                };
                let obs = Observe {
                    service,
                    sc,
                    shared,
                    watch,
                    trace,
                };
                let router = maxc_mock::http_layer::router(app).layer(axum::middleware::from_fn(
                    move |req: AxumRequest, next: Next| observe(obs.clone(), req, next),
                ));
                let l = turmoil::net::TcpListener::bind((
                    IpAddr::from(Ipv4Addr::UNSPECIFIED),
                    MOCK_PORT,
                ))
                .await?;
                serve_mock(SimListener(l), router).await?;
                Ok(())
            }
        });
    }

    // ------------------------------------------------------------------ job host
    {
        let sc = sc.clone();
        let shared = shared.clone();
        let trace = trace.clone();
        let plan = plan.clone();
        sim.host("job", move || {
            let sc = sc.clone();
            let shared = shared.clone();
            let trace = trace.clone();
            let plan = plan.clone();
            async move {
                let mut tcfg = TransportConfig::new(
                    format!("http://mock:{MOCK_PORT}/api"),
                    crate::job::PROJECT,
                );
                tcfg.tunnel_endpoint = Some(format!("http://mock:{MOCK_PORT}"));
                tcfg.timeout = Duration::from_millis(sc.request_timeout_ms);
                tcfg.pool_idle_timeout = Duration::from_secs(30);
                let signer = Signer::v2(Credentials::access_key(
                    maxc_mock::DEFAULT_ACCESS_ID,
                    maxc_mock::DEFAULT_ACCESS_KEY,
                ));
                let transport = HyperTransport::with_connector(
                    SimConnector,
                    tcfg,
                    Some(signer),
                    Arc::new(SimWallClock),
                );
                let base = sim_ms();
                let job = Job::new(
                    sc.clone(),
                    &plan,
                    shared.clone(),
                    Instant::from_millis(base),
                )?;
                let mut m = Shifted { job, base };
                let mut pump = Pump::new(transport);
                let emit = |evs: Vec<String>| {
                    let now = sim_ms();
                    let mut t = trace.lock().unwrap_or_else(|e| e.into_inner());
                    for e in evs {
                        t.line(now, &e);
                    }
                };
                emit(pump.drain(&mut m));
                while !m.job.is_done() {
                    match pump.turn(&mut m).await {
                        Turn::Progress(evs) => emit(evs),
                        Turn::Idle => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                // Keep the host up (a finished job idles) so replies in flight do not panic.
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }

    // ------------------------------------------------------------------ observer
    {
        let shared = shared.clone();
        let deadline = sc.deadline_ms;
        sim.client("observer", async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if matches!(lock(&shared).outcome, Outcome::Finished { .. }) || sim_ms() > deadline
                {
                    return Ok(());
                }
            }
        });
    }

    // ------------------------------------------------------------------ fault schedule
    let mut schedule: Vec<(u64, Action)> = Vec::new();
    let count = |k: &'static str| {
        *injected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(k)
            .or_default() += 1;
    };
    for f in plan.iter() {
        match *f {
            Fault::CrashMock { at_ms, down_ms } => {
                schedule.push((at_ms, Action::CrashMock));
                schedule.push((at_ms + down_ms.max(1), Action::BounceMock));
            }
            Fault::CrashJobHost { at_ms, down_ms } => {
                schedule.push((at_ms, Action::CrashJob));
                schedule.push((at_ms + down_ms.max(1), Action::BounceJob));
            }
            Fault::Partition { at_ms, dur_ms } => {
                schedule.push((at_ms, Action::Partition));
                schedule.push((at_ms + dur_ms, Action::Repair));
            }
            Fault::Hold { at_ms, dur_ms } => {
                schedule.push((at_ms, Action::Hold));
                schedule.push((at_ms + dur_ms, Action::Release));
            }
            Fault::Latency {
                at_ms,
                dur_ms,
                max_ms,
            } => {
                schedule.push((at_ms, Action::Latency(max_ms)));
                schedule.push((at_ms + dur_ms, Action::LatencyEnd));
            }
            // Engine faults are counted by the job when they take effect.
            Fault::CrashSubtask { .. }
            | Fault::CrashJob { .. }
            | Fault::LoseNotification { .. }
            | Fault::DelayNotification { .. }
            | Fault::Request { .. } => {}
        }
    }
    schedule.push((sc.heal_at_ms, Action::Heal));
    schedule.sort();
    let mut schedule: std::collections::VecDeque<(u64, Action)> = schedule.into();
    let mut job_down = false;
    let mut mock_down = false;
    loop {
        let now = sim.elapsed().as_millis() as u64;
        while let Some(&(at, action)) = schedule.front() {
            if at > now {
                break;
            }
            schedule.pop_front();
            let line = format!("fault action {action:?}");
            trace
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .line(now, &line);
            match action {
                Action::CrashMock => {
                    if !mock_down {
                        if let Some(svc) = current.lock().unwrap_or_else(|e| e.into_inner()).take()
                        {
                            let svc = lock_svc(&svc);
                            let mut r = rules.lock().unwrap_or_else(|e| e.into_inner());
                            let n = mockctl::served(&svc, &r);
                            *served_before.lock().unwrap_or_else(|e| e.into_inner()) += n;
                            mockctl::harvest(
                                &svc,
                                &mut r,
                                &mut injected.lock().unwrap_or_else(|e| e.into_inner()),
                            );
                        }
                        sim.crash("mock");
                        mock_down = true;
                        count("crash-mock");
                    }
                }
                Action::BounceMock => {
                    if mock_down {
                        sim.bounce("mock");
                        mock_down = false;
                    }
                }
                Action::CrashJob => {
                    if !job_down && !matches!(lock(&shared).outcome, Outcome::Finished { .. }) {
                        sim.crash("job");
                        job_down = true;
                        count("crash-job-host");
                    }
                }
                Action::BounceJob => {
                    if job_down {
                        sim.bounce("job");
                        job_down = false;
                    }
                }
                Action::Partition => {
                    sim.partition("job", "mock");
                    count("partition");
                }
                Action::Repair => sim.repair("job", "mock"),
                Action::Hold => {
                    sim.hold("job", "mock");
                    count("hold");
                }
                Action::Release => sim.release("job", "mock"),
                Action::Latency(max) => {
                    sim.set_link_max_message_latency("job", "mock", Duration::from_millis(max));
                    count("latency");
                }
                Action::LatencyEnd => sim.set_link_max_message_latency(
                    "job",
                    "mock",
                    Duration::from_millis(sc.latency_ms.1.max(sc.latency_ms.0)),
                ),
                Action::Heal => {
                    healed.store(true, Ordering::SeqCst);
                    if let Some(svc) = current.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                        let mut svc = lock_svc(svc);
                        let mut r = rules.lock().unwrap_or_else(|e| e.into_inner());
                        let ids: Vec<u64> = r.kinds.keys().copied().collect();
                        mockctl::harvest(
                            &svc,
                            &mut r,
                            &mut injected.lock().unwrap_or_else(|e| e.into_inner()),
                        );
                        for id in ids {
                            svc.faults_mut().remove(id);
                        }
                    }
                }
            }
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                let msg = e.to_string();
                if !msg.contains("Ran for duration") {
                    errors.push(format!("turmoil: {msg}"));
                }
                break;
            }
        }
    }
    let end_ms = sim.elapsed().as_millis() as u64;
    drop(sim);

    // Request faults that fired, from the rules of the live (or last) incarnation.
    let final_svc: Option<SharedService> =
        current.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let svc_for_check: Option<Service> = match (&final_svc, &disk) {
        (_, Some(d)) => {
            Service::with_disk(cfg.clone(), Box::new(d.clone()), mockctl::mock_time(end_ms)).ok()
        }
        _ => None,
    };
    {
        let mut inj = injected.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(svc) = &final_svc {
            let svc = lock_svc(svc);
            let mut r = rules.lock().unwrap_or_else(|e| e.into_inner());
            mockctl::harvest(&svc, &mut r, &mut inj);
        }
    }
    let mut trace = std::mem::replace(
        &mut *trace.lock().unwrap_or_else(|e| e.into_inner()),
        Trace::hashing(),
    );
    trace.line(end_ms, "run ends");
    let sh = lock(&shared).clone();
    let mut verdict = match (&svc_for_check, &final_svc) {
        (Some(svc), _) => oracle::check_final(svc, &sc, &sh, true),
        (None, Some(svc)) => oracle::check_final(&lock_svc(svc), &sc, &sh, true),
        (None, None) => {
            let mut v = oracle::Verdict::default();
            v.violations.push("runner: no mock state to check".into());
            v
        }
    };
    for e in errors {
        verdict.violations.push(format!("runner: {e}"));
    }
    let injected = injected.lock().unwrap_or_else(|e| e.into_inner()).clone();
    RunResult::new(
        &sc,
        plan,
        RunnerKind::Turmoil,
        verdict,
        trace,
        end_ms,
        injected,
        &sh,
        wall.elapsed(),
    )
}
