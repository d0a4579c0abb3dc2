//! The async dimension-table API: [`LookupTable`].
//!
//! ```text
//! let table = LookupTable::open(&options, KeySpec::primary(["k"])).await?; // first load
//! let rows = table.get(&LookupKey::single(42i64))?;   // from memory, never remote
//! // … cacheTTLMs later a background task reloads (re-resolving max_pt()); lookups keep
//! //   using the old cache until the new one is complete, then see the new one.
//! table.close().await;
//! ```
//!
//! [`LookupTable::open`] runs the first load in the caller's task (with `maxLoadRetries`
//! attempts) and fails with the load's error. Afterwards a tokio task owns the pure
//! `LookupMachine`: it sleeps until the next reload is due (anchoring the machine's wall clock
//! to a [`WallClockSource`] every time it wakes, so `cacheReloadTimeBlackList` windows are
//! checked against real time), runs the reload, and publishes each completed cache through a
//! `tokio::sync::watch` channel. Lookups clone the current `Arc<LookupCache>` out of the
//! channel and never wait for a reload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::RecordBatch;
use maxc_core::lookup::{
    KeySpec, LookupCache, LookupError, LookupEvent, LookupKey, LookupMachine, LookupMachineConfig,
    UtcOffset,
};
use maxc_core::options::LookupConfig;
use maxc_core::partition::PartitionSpec;
use maxc_core::time::WallClock;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::clock::{SystemWallClock, WallClockSource};
use crate::connect::{USER_AGENT, tcp_transport};
use crate::error::DriverError;
use crate::pump::Pump;
use crate::transport::Transport;

/// How often the background task wakes to re-anchor the wall clock while it waits for a
/// far-away reload (so a stepped system clock is noticed).
pub const WALL_CLOCK_RECHECK: Duration = Duration::from_secs(60);

/// The blacklist's default UTC offset: Beijing time, as in the connector documentation's
/// examples.
pub const DEFAULT_BLACKLIST_OFFSET_MINUTES: i32 = 8 * 60;

/// What a [`LookupTable::refresh_now`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshOutcome {
    /// The reload completed and now serves lookups.
    Loaded {
        /// The new cache's generation.
        generation: u64,
        /// Rows cached.
        rows: u64,
        /// Partitions loaded.
        partitions: Vec<PartitionSpec>,
    },
    /// The wall clock is inside a `cacheReloadTimeBlackList` window: the reload waits until
    /// `until`.
    Postponed {
        /// When the window ends.
        until: WallClock,
    },
    /// The reload failed; the old cache keeps serving.
    Failed(LookupError),
}

/// Counters and the latest state of a [`LookupTable`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LookupStatus {
    /// Completed loads (1 after open).
    pub loads: u64,
    /// Partitions of the cache serving now.
    pub partitions: Vec<PartitionSpec>,
    /// Reloads that failed (the old cache kept serving).
    pub reload_failures: u64,
    /// The latest reload error.
    pub last_error: Option<LookupError>,
    /// Reloads postponed by the blacklist.
    pub postponed: u64,
    /// When the next reload is due (wall clock), if scheduled.
    pub reload_due: Option<WallClock>,
}

/// Builds a [`LookupTable`].
#[derive(Clone)]
pub struct LookupBuilder {
    config: LookupConfig,
    key: KeySpec,
    utc_offset: UtcOffset,
    projection: Option<Vec<String>>,
    clock: Arc<dyn WallClockSource>,
}

impl std::fmt::Debug for LookupBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupBuilder")
            .field("config", &self.config)
            .field("key", &self.key)
            .field("utc_offset", &self.utc_offset)
            .field("projection", &self.projection)
            .finish_non_exhaustive()
    }
}

impl LookupBuilder {
    /// A builder for a typed config and the join key (the table's `PRIMARY KEY` for
    /// one-row lookups, or the join columns for multi-row lookups).
    pub fn new(config: LookupConfig, key: KeySpec) -> Self {
        Self {
            config,
            key,
            utc_offset: UtcOffset::from_minutes(DEFAULT_BLACKLIST_OFFSET_MINUTES)
                .unwrap_or(UtcOffset::UTC),
            projection: None,
            clock: Arc::new(SystemWallClock),
        }
    }

    /// A builder from a `WITH (...)` option map.
    pub fn from_options(
        options: &HashMap<String, String>,
        key: KeySpec,
    ) -> Result<Self, DriverError> {
        Ok(Self::new(LookupConfig::from_options(options)?.config, key))
    }

    /// The UTC offset `cacheReloadTimeBlackList` times are in (default `+08:00`).
    pub fn utc_offset(mut self, offset: UtcOffset) -> Self {
        self.utc_offset = offset;
        self
    }

    /// Columns to keep, in order (data and partition columns; default every data column).
    pub fn projection<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.projection = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// The wall clock reloads and blacklist windows are checked against (default the
    /// system clock).
    pub fn wall_clock(mut self, clock: Arc<dyn WallClockSource>) -> Self {
        self.clock = clock;
        self
    }

    /// The pure machine's configuration.
    pub fn machine_config(&self) -> Result<LookupMachineConfig, DriverError> {
        let mut c = LookupMachineConfig::from_lookup_config(
            &self.config,
            self.key.clone(),
            self.utc_offset,
            USER_AGENT,
        )?;
        c.projection = self.projection.clone();
        Ok(c)
    }

    /// Loads the table over TCP.
    pub async fn open(self) -> Result<LookupTable, DriverError> {
        let transport = tcp_transport(&self.config.connection);
        self.open_with(transport).await
    }

    /// Loads the table over any transport: the first load (with `maxLoadRetries`) runs in
    /// this task; reloads then run in a spawned task.
    pub async fn open_with<T: Transport + Clone>(
        self,
        transport: T,
    ) -> Result<LookupTable, DriverError> {
        let table = self.config.connection.table_name.clone();
        let span = info_span!("lookup_open", table = %table);
        let config = self.machine_config()?;
        let clock = self.clock.clone();
        async move {
            let mut pump = Pump::new(transport);
            let mut machine = LookupMachine::new(config, pump.now(), clock.now());
            let mut status = LookupStatus::default();
            loop {
                machine.set_wall_clock(pump.now(), clock.now());
                while let Some(e) = pump.next_event(&mut machine) {
                    match e {
                        LookupEvent::Loaded {
                            generation,
                            rows,
                            partitions,
                        } => {
                            info!(generation, rows, partitions = ?names(&partitions), "dimension table loaded");
                            status.loads += 1;
                            status.partitions = partitions;
                            status.reload_due = machine.reload_due();
                            let cache = machine
                                .cache()
                                .cloned()
                                .ok_or_else(|| DriverError::Stalled("the first cache".into()))?;
                            let (tx, rx) = watch::channel(cache);
                            let status = Arc::new(Mutex::new(status));
                            let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
                            let task = tokio::spawn(
                                background(machine, pump, clock, tx, cmd_rx, status.clone())
                                    .instrument(info_span!("lookup_reload", table = %table)),
                            );
                            return Ok(LookupTable {
                                table,
                                cache: rx,
                                status,
                                commands: cmd_tx,
                                task: Some(task),
                            });
                        }
                        LookupEvent::LoadRetrying {
                            attempt, error, ..
                        } => warn!(attempt, %error, "first load failed; retrying"),
                        LookupEvent::Failed(e) => return Err(e.into()),
                        other => debug!(event = ?other, "lookup"),
                    }
                }
                if !pump.wait(&mut machine).await {
                    return Err(DriverError::Stalled(format!(
                        "the first load of dimension table `{table}`"
                    )));
                }
            }
        }
        .instrument(span)
        .await
    }
}

fn names(partitions: &[PartitionSpec]) -> Vec<String> {
    partitions.iter().map(|p| p.to_string()).collect()
}

enum Command {
    Refresh(oneshot::Sender<RefreshOutcome>),
}

/// Runs reloads until every [`LookupTable`] command sender is gone.
async fn background<T: Transport + Clone>(
    mut machine: LookupMachine,
    mut pump: Pump<T>,
    clock: Arc<dyn WallClockSource>,
    publish: watch::Sender<Arc<LookupCache>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    status: Arc<Mutex<LookupStatus>>,
) {
    let mut waiters: Vec<oneshot::Sender<RefreshOutcome>> = Vec::new();
    let update = |f: &mut dyn FnMut(&mut LookupStatus)| {
        if let Ok(mut s) = status.lock() {
            f(&mut s);
        }
    };
    loop {
        machine.set_wall_clock(pump.now(), clock.now());
        while let Some(e) = pump.next_event(&mut machine) {
            let outcome = match e {
                LookupEvent::Loaded {
                    generation,
                    rows,
                    partitions,
                } => {
                    info!(generation, rows, partitions = ?names(&partitions), "dimension table reloaded");
                    if let Some(cache) = machine.cache() {
                        publish.send_replace(cache.clone());
                    }
                    let due = machine.reload_due();
                    update(&mut |s| {
                        s.loads += 1;
                        s.partitions = partitions.clone();
                        s.reload_due = due;
                    });
                    Some(RefreshOutcome::Loaded {
                        generation,
                        rows,
                        partitions,
                    })
                }
                LookupEvent::ReloadStarted => {
                    info!("reload started; the current cache keeps serving");
                    None
                }
                LookupEvent::ReloadPostponed { until } => {
                    info!(
                        until_unix_ms = until.unix_millis,
                        "reload postponed by cacheReloadTimeBlackList"
                    );
                    update(&mut |s| {
                        s.postponed += 1;
                        s.reload_due = Some(until);
                    });
                    Some(RefreshOutcome::Postponed { until })
                }
                LookupEvent::ReloadFailed { error, retry_at } => {
                    warn!(%error, retry_at_unix_ms = retry_at.unix_millis, "reload failed; the current cache keeps serving");
                    update(&mut |s| {
                        s.reload_failures += 1;
                        s.last_error = Some(error.clone());
                        s.reload_due = Some(retry_at);
                    });
                    Some(RefreshOutcome::Failed(error))
                }
                other => {
                    debug!(event = ?other, "lookup");
                    None
                }
            };
            if let Some(o) = outcome {
                for w in waiters.drain(..) {
                    let _ = w.send(o.clone());
                }
            }
        }
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Refresh(reply)) => {
                    let now = pump.now();
                    machine.set_wall_clock(now, clock.now());
                    machine.request_reload(now);
                    waiters.push(reply);
                }
                None => break,
            },
            progressed = pump.wait(&mut machine) => {
                if !progressed {
                    // Nothing in flight and nothing scheduled: only a command can start work.
                    match commands.recv().await {
                        Some(Command::Refresh(reply)) => {
                            let now = pump.now();
                            machine.set_wall_clock(now, clock.now());
                            machine.request_reload(now);
                            waiters.push(reply);
                        }
                        None => break,
                    }
                }
            }
            _ = tokio::time::sleep(WALL_CLOCK_RECHECK) => {}
        }
    }
    pump.abort_all();
}

/// A loaded dimension table: lookups from memory, reloads in the background.
pub struct LookupTable {
    table: String,
    cache: watch::Receiver<Arc<LookupCache>>,
    status: Arc<Mutex<LookupStatus>>,
    commands: mpsc::UnboundedSender<Command>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LookupTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LookupTable")
            .field("table", &self.table)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl LookupTable {
    /// Loads a dimension table from connector options over TCP.
    pub async fn open(
        options: &HashMap<String, String>,
        key: KeySpec,
    ) -> Result<Self, DriverError> {
        LookupBuilder::from_options(options, key)?.open().await
    }

    /// Loads a dimension table from a typed config over TCP.
    pub async fn open_config(config: LookupConfig, key: KeySpec) -> Result<Self, DriverError> {
        LookupBuilder::new(config, key).open().await
    }

    /// Loads a dimension table over any transport.
    pub async fn open_with<T: Transport + Clone>(
        config: LookupConfig,
        key: KeySpec,
        transport: T,
    ) -> Result<Self, DriverError> {
        LookupBuilder::new(config, key).open_with(transport).await
    }

    /// A builder (projection, blacklist offset, wall clock).
    pub fn builder(config: LookupConfig, key: KeySpec) -> LookupBuilder {
        LookupBuilder::new(config, key)
    }

    /// The rows with `key`: at most one for a primary key, every match otherwise; each a
    /// one-row batch. Answered from the cache serving now; never waits for a reload.
    pub fn get(&self, key: &LookupKey) -> Vec<RecordBatch> {
        self.cache().get(key)
    }

    /// The rows with `key` as one batch (empty when none).
    pub fn get_batch(&self, key: &LookupKey) -> Result<RecordBatch, DriverError> {
        Ok(self.cache().get_batch(key)?)
    }

    /// The cache serving now (it stays valid after a reload swaps in a newer one).
    pub fn cache(&self) -> Arc<LookupCache> {
        self.cache.borrow().clone()
    }

    /// A cloneable handle for lookups from other tasks.
    pub fn reader(&self) -> LookupReader {
        LookupReader {
            cache: self.cache.clone(),
        }
    }

    /// The generation of the cache serving now (1 after open, +1 per reload).
    pub fn generation(&self) -> u64 {
        self.cache.borrow().generation()
    }

    /// Counters and the latest reload state.
    pub fn status(&self) -> LookupStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until a cache of at least `generation` serves, or `timeout` passes; returns
    /// the generation serving then.
    pub async fn wait_for_generation(&mut self, generation: u64, timeout: Duration) -> u64 {
        let _ = tokio::time::timeout(
            timeout,
            self.cache.wait_for(|c| c.generation() >= generation),
        )
        .await;
        self.generation()
    }

    /// Reloads now instead of after `cacheTTLMs` (the blacklist still applies) and waits for
    /// the outcome. While a reload runs already, waits for that one.
    pub async fn refresh_now(&self) -> Result<RefreshOutcome, DriverError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Refresh(tx))
            .map_err(|_| DriverError::Closed(self.table.clone()))?;
        rx.await
            .map_err(|_| DriverError::Closed(self.table.clone()))
    }

    /// Stops reloading (in-flight requests are dropped). Lookups through
    /// [`LookupReader`]s keep answering from the last cache.
    pub async fn close(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        let (tx, _) = mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.commands, tx));
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for LookupTable {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// A cloneable lookup handle sharing a [`LookupTable`]'s cache.
#[derive(Debug, Clone)]
pub struct LookupReader {
    cache: watch::Receiver<Arc<LookupCache>>,
}

impl LookupReader {
    /// The rows with `key` (see [`LookupTable::get`]).
    pub fn get(&self, key: &LookupKey) -> Vec<RecordBatch> {
        self.cache.borrow().get(key)
    }

    /// The cache serving now.
    pub fn cache(&self) -> Arc<LookupCache> {
        self.cache.borrow().clone()
    }
}
