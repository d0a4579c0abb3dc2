//! The async sink API an engine embeds: [`SinkWriter`] (one per parallel subtask) and
//! [`Committer`] (one per job), thin wrappers that drive `maxc_core::sink`'s pure machines.
//!
//! ```text
//! let mut w = SinkWriter::open(&options).await?;        // options as a WITH (...) clause gives them
//! w.write(batch).await?;                                  // back-pressure = this await
//! let committables = w.prepare_commit(checkpoint).await?; // store them in the checkpoint
//! // ... checkpoint completes ...
//! let reports = committer.commit(committables).await;    // Committed / AlreadyCommitted / ...
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};

use arrow_array::RecordBatch;
use maxc_core::api::rest::TableMeta;
use maxc_core::options::SinkConfig;
use maxc_core::sink::{
    self, CommitEvent, CommitReport, Committable, MemoryUsage, Rejection, RowKind, SinkEvent,
    WriterState,
};
use tracing::{Instrument, info_span};

use crate::connect::{api_context, fetch_table, tcp_transport};
use crate::error::DriverError;
use crate::pump::{Pump, Turn};
use crate::transport::{HyperTransport, Transport};

/// An async sink writer for one parallel subtask.
pub struct SinkWriter<T: Transport + Clone = HyperTransport> {
    machine: sink::SinkWriter,
    pump: Pump<T>,
    table: String,
    prepared: BTreeMap<u64, Vec<Committable>>,
    finished: Option<Vec<Committable>>,
    write_ready: bool,
}

impl SinkWriter<HyperTransport> {
    /// Opens a writer from connector options (`HashMap` as a SQL `WITH (...)` clause gives
    /// them) over TCP: parses the options, reads the table's metadata, builds the machine.
    pub async fn open(options: &HashMap<String, String>) -> Result<Self, DriverError> {
        let config = SinkConfig::from_options(options)?.config;
        Self::open_config(config).await
    }

    /// Opens a writer from a typed config (the builder API) over TCP.
    pub async fn open_config(config: SinkConfig) -> Result<Self, DriverError> {
        let transport = tcp_transport(&config.connection);
        Self::open_with(config, transport).await
    }
}

impl<T: Transport + Clone> SinkWriter<T> {
    /// Opens a writer over any transport (e.g. turmoil's simulated network).
    pub async fn open_with(config: SinkConfig, transport: T) -> Result<Self, DriverError> {
        let meta = fetch_table(
            &transport,
            &api_context(&config.connection),
            &config.connection.table_name,
        )
        .await?;
        Self::with_meta(config, meta, transport, None)
    }

    /// Restores a writer from the state of a completed checkpoint ([`SinkWriter::snapshot`]).
    pub async fn restore(
        config: SinkConfig,
        transport: T,
        state: WriterState,
    ) -> Result<Self, DriverError> {
        let meta = fetch_table(
            &transport,
            &api_context(&config.connection),
            &config.connection.table_name,
        )
        .await?;
        Self::with_meta(config, meta, transport, Some(state))
    }

    /// A writer for known table metadata (no request is made).
    pub fn with_meta(
        config: SinkConfig,
        meta: TableMeta,
        transport: T,
        state: Option<WriterState>,
    ) -> Result<Self, DriverError> {
        let machine = match state {
            Some(s) => sink::SinkWriter::restore(&config, &meta, s)?,
            None => sink::SinkWriter::new(&config, &meta)?,
        };
        Ok(Self {
            machine,
            pump: Pump::new(transport),
            table: config.connection.table_name.clone(),
            prepared: BTreeMap::new(),
            finished: None,
            write_ready: false,
        })
    }

    fn absorb(&mut self, events: Vec<SinkEvent>) -> Result<(), DriverError> {
        for e in events {
            match e {
                SinkEvent::Prepared {
                    checkpoint_id,
                    committables,
                } => {
                    self.prepared.insert(checkpoint_id, committables);
                }
                SinkEvent::Finished { committables } => self.finished = Some(committables),
                SinkEvent::WriteReady => self.write_ready = true,
                SinkEvent::Failed(err) => return Err(err.into()),
            }
        }
        if let Some(err) = self.machine.failure() {
            return Err(err.clone().into());
        }
        Ok(())
    }

    async fn turn(&mut self, waiting_for: &str) -> Result<(), DriverError> {
        match self.pump.turn(&mut self.machine).await {
            Turn::Progress(events) => self.absorb(events),
            Turn::Idle => {
                self.absorb(Vec::new())?;
                Err(DriverError::Stalled(waiting_for.to_string()))
            }
        }
    }

    /// Writes INSERT rows. Waits (driving the machine) while the memory budget is full.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), DriverError> {
        self.write_inner(batch, None).await
    }

    /// Writes a changelog batch (upsert tunnel: INSERT/UPDATE_AFTER upsert, DELETE deletes,
    /// UPDATE_BEFORE is dropped).
    pub async fn write_changes(
        &mut self,
        batch: RecordBatch,
        kinds: Vec<RowKind>,
    ) -> Result<(), DriverError> {
        self.write_inner(batch, Some(kinds)).await
    }

    async fn write_inner(
        &mut self,
        mut batch: RecordBatch,
        kinds: Option<Vec<RowKind>>,
    ) -> Result<(), DriverError> {
        let span = info_span!("sink_write", table = %self.table, rows = batch.num_rows());
        async {
            // Replies that came in since the last call are handled first.
            let events = self.pump.settle(&mut self.machine);
            self.absorb(events)?;
            loop {
                let now = self.pump.now();
                let result = match &kinds {
                    Some(k) => self.machine.write_changes(batch, k, now),
                    None => self.machine.write(batch, now),
                };
                match result {
                    Ok(()) => {
                        // Replies that came in meanwhile are handled now, so flushed blocks
                        // are acknowledged (and their memory freed) while writing goes on.
                        let events = self.pump.settle(&mut self.machine);
                        return self.absorb(events);
                    }
                    Err(rejected) => match rejected.reason {
                        Rejection::Error(e) => return Err(DriverError::Sink(e)),
                        Rejection::BackPressure => {
                            batch = rejected.batch;
                            self.write_ready = false;
                            let events = self.pump.drain(&mut self.machine);
                            self.absorb(events)?;
                            while !self.write_ready {
                                self.turn("memory to free up (back-pressure)").await?;
                            }
                        }
                    },
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Drives in-flight work without new input (flush timers, retries). Returns when something
    /// happened or nothing is pending.
    pub async fn poll_progress(&mut self) -> Result<(), DriverError> {
        let events = self.pump.drain(&mut self.machine);
        self.absorb(events)?;
        match self.pump.turn(&mut self.machine).await {
            Turn::Progress(events) => self.absorb(events),
            Turn::Idle => Ok(()),
        }
    }

    /// The checkpoint barrier: flushes everything written so far and returns, once the service
    /// acknowledged it, the committables to store in checkpoint `checkpoint_id` (batch tunnel;
    /// empty for the streaming and upsert tunnels, whose data is visible/committed already).
    pub async fn prepare_commit(
        &mut self,
        checkpoint_id: u64,
    ) -> Result<Vec<Committable>, DriverError> {
        let span = info_span!("prepare_commit", table = %self.table, checkpoint_id);
        async {
            let now = self.pump.now();
            self.machine.barrier(checkpoint_id, now)?;
            let events = self.pump.drain(&mut self.machine);
            self.absorb(events)?;
            loop {
                if let Some(c) = self.prepared.remove(&checkpoint_id) {
                    return Ok(c);
                }
                self.turn(&format!("checkpoint {checkpoint_id} to be prepared"))
                    .await?;
            }
        }
        .instrument(span)
        .await
    }

    /// End of input: flushes (and, for upserts, commits) everything and returns the final
    /// committables (batch tunnel), which still go through the [`Committer`].
    pub async fn finish(&mut self) -> Result<Vec<Committable>, DriverError> {
        if self.machine.is_finished() {
            return self.finished.take().ok_or(DriverError::Finished);
        }
        let now = self.pump.now();
        self.machine.end_of_input(now)?;
        let events = self.pump.drain(&mut self.machine);
        self.absorb(events)?;
        loop {
            if let Some(c) = self.finished.take() {
                return Ok(c);
            }
            self.turn("end of input to be flushed").await?;
        }
    }

    /// The writer's durable state, for the engine's checkpoint.
    pub fn snapshot(&self) -> WriterState {
        self.machine.snapshot()
    }

    /// Memory accounting (buffered, in flight, budget, peak).
    pub fn memory(&self) -> MemoryUsage {
        self.machine.memory()
    }

    /// The pure machine (for inspection).
    pub fn machine(&self) -> &sink::SinkWriter {
        &self.machine
    }
}

/// The async committer: commits committables after a checkpoint completes (and again after a
/// restore), idempotently.
pub struct Committer<T: Transport + Clone = HyperTransport> {
    machine: sink::Committer,
    pump: Pump<T>,
}

impl Committer<HyperTransport> {
    /// A committer from connector options over TCP.
    pub fn open(options: &HashMap<String, String>) -> Result<Self, DriverError> {
        let config = SinkConfig::from_options(options)?.config;
        let transport = tcp_transport(&config.connection);
        Ok(Self::with_transport(&config, transport))
    }
}

impl<T: Transport + Clone> Committer<T> {
    /// A committer over any transport.
    pub fn with_transport(config: &SinkConfig, transport: T) -> Self {
        Self {
            machine: sink::Committer::new(config),
            pump: Pump::new(transport),
        }
    }

    /// Commits `committables` and returns one report per committable (in input order), each
    /// with its outcome: committed, already committed, retry later, failed (known/unknown).
    pub async fn commit(
        &mut self,
        committables: Vec<Committable>,
    ) -> Result<Vec<CommitReport>, DriverError> {
        let order: Vec<Committable> = committables.clone();
        let span = info_span!("commit", sessions = committables.len());
        async {
            let request = self.machine.commit(committables, self.pump.now());
            let mut reports: Vec<CommitReport> = Vec::new();
            let mut done = false;
            let mut handle = |events: Vec<CommitEvent>, reports: &mut Vec<CommitReport>| {
                for e in events {
                    match e {
                        CommitEvent::Outcome(r) if r.request == request => reports.push(*r),
                        CommitEvent::Done { request: r } if r == request => done = true,
                        _ => {}
                    }
                }
                done
            };
            let events = self.pump.drain(&mut self.machine);
            if !handle(events, &mut reports) {
                loop {
                    match self.pump.turn(&mut self.machine).await {
                        Turn::Progress(events) => {
                            if handle(events, &mut reports) {
                                break;
                            }
                        }
                        Turn::Idle => {
                            return Err(DriverError::Stalled(format!(
                                "commit request {request} to finish"
                            )));
                        }
                    }
                }
            }
            // Report in input order (a committable given twice takes its reports in turn).
            let mut by: HashMap<&Committable, VecDeque<usize>> = HashMap::new();
            for (i, r) in reports.iter().enumerate() {
                by.entry(&r.committable).or_default().push_back(i);
            }
            let mut order_idx = Vec::with_capacity(order.len());
            for c in &order {
                if let Some(i) = by.get_mut(c).and_then(VecDeque::pop_front) {
                    order_idx.push(i);
                }
            }
            drop(by);
            let mut slots: Vec<Option<CommitReport>> = reports.into_iter().map(Some).collect();
            let mut ordered = Vec::with_capacity(slots.len());
            for i in order_idx {
                if let Some(r) = slots.get_mut(i).and_then(Option::take) {
                    ordered.push(r);
                }
            }
            // Reports of nothing given (cannot happen) follow in arrival order.
            ordered.extend(slots.into_iter().flatten());
            Ok(ordered)
        }
        .instrument(span)
        .await
    }
}
