//! The async source API an engine embeds.
//!
//! Two ways to read a source table:
//!
//! - **One object** ([`Source`]): the enumerator and N readers together, driven by one loop.
//!   For a simple engine, a CLI, a test:
//!
//!   ```text
//!   let mut source = Source::builder_from_options(&options)?.readers(4).open().await?;
//!   while let Some(batch) = source.next_batch().await? { … }   // None: a full source is done
//!   let checkpoint = source.snapshot();                          // serde; store it
//!   // … after a failure:
//!   let mut source = Source::builder(config).readers(4).restore(checkpoint).open().await?;
//!   ```
//!
//! - **Per piece** ([`SourceEnumerator`] once per job, [`SourceReader`] per parallel subtask):
//!   for engines that run readers in parallel. The engine carries the events between them as
//!   the table in `maxc_core::source` says (`Assign` → [`SourceReader::add_split`],
//!   `SplitFinished` → [`SourceEnumerator::split_finished`], …). Each piece's
//!   `next_event().await` is cancel-safe, so it can sit in a `tokio::select!` next to the
//!   engine's channels. Keep routing reader reports to the enumerator until every reader has
//!   finished: a reader asking for a split after the enumerator's `Finished` still needs the
//!   `NoMoreSplits` the enumerator answers with (`driver/tests/source_parallel.rs` is a
//!   complete example).
//!
//! Options come from a `WITH (...)` option map ([`SourceBuilder::from_options`]) or the typed
//! builder (`SourceConfig::builder(...)`, then [`Source::builder`]). The number of readers (the
//! parallelism) and the projection are not connector options; they are set on the builder.

use std::collections::HashMap;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use maxc_core::options::SourceConfig;
use maxc_core::partition::PartitionSpec;
use maxc_core::source::{
    EnumeratorConfig, EnumeratorEvent, EnumeratorState, ReadPlan, ReaderConfig, ReaderEvent,
    ReaderState, SessionLost, SourceError, Split, SplitEnumerator, SplitId, SplitReader,
    SplitSizing,
};
use maxc_core::types::TableSchema;
use tracing::{Instrument, debug, debug_span, info, info_span, warn};

use crate::connect::{USER_AGENT, api_context, fetch_table, tcp_transport};
use crate::error::DriverError;
use crate::pump::Pump;
use crate::transport::{HyperTransport, Transport};

mod combined;

pub use combined::{
    SOURCE_SNAPSHOT_VERSION, SourceEvent, SourceMachine, SourceMachineConfig, SourceSnapshot,
};

/// Rows read, with where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceBatch {
    /// The reader that read them.
    pub reader: u32,
    /// Their split.
    pub split: SplitId,
    /// The rows.
    pub batch: RecordBatch,
}

/// Counters of a [`Source`] since it was opened (or restored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Rows delivered.
    pub rows: u64,
    /// Batches delivered.
    pub batches: u64,
    /// Rows delivered per reader.
    pub rows_per_reader: Vec<u64>,
    /// Splits finished.
    pub splits_finished: u64,
    /// Partitions read completely, in the order they finished.
    pub partitions_finished: Vec<PartitionSpec>,
    /// Partitions skipped (`modifiedTableOperation = SKIP`).
    pub partitions_skipped: Vec<PartitionSpec>,
    /// Incremental listings that failed (each retried at the next interval).
    pub listings_failed: u64,
}

/// Builds a [`Source`]: connector options plus the settings that are not options.
#[derive(Debug, Clone)]
pub struct SourceBuilder {
    config: SourceConfig,
    readers: u32,
    projection: Option<Vec<String>>,
    chunk_rows: Option<u64>,
    batch_rows: Option<usize>,
    split_rows: Option<u64>,
    snapshot: Option<SourceSnapshot>,
}

impl SourceBuilder {
    /// A builder for a typed config (one reader, every column).
    pub fn new(config: SourceConfig) -> Self {
        Self {
            config,
            readers: 1,
            projection: None,
            chunk_rows: None,
            batch_rows: None,
            split_rows: None,
            snapshot: None,
        }
    }

    /// A builder from a `WITH (...)` option map.
    pub fn from_options(options: &HashMap<String, String>) -> Result<Self, DriverError> {
        Ok(Self::new(SourceConfig::from_options(options)?.config))
    }

    /// Number of readers (the source's parallelism; at least 1). Splits go round-robin to
    /// them, or on demand with `dynamicLoadBalance`.
    pub fn readers(mut self, n: u32) -> Self {
        self.readers = n.max(1);
        self
    }

    /// Columns to read, in order: data columns (sent as `columns=`) and partition columns
    /// (filled in from the split's partition). Default: every data column, then every
    /// partition column.
    pub fn projection<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.projection = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Rows per read request (default 64 Ki).
    pub fn chunk_rows(mut self, n: u64) -> Self {
        self.chunk_rows = Some(n);
        self
    }

    /// Rows per emitted batch of record-tunnel reads (default 4096).
    pub fn batch_rows(mut self, n: usize) -> Self {
        self.batch_rows = Some(n);
        self
    }

    /// Rows per split of record-tunnel reads (default 1 Mi; Arrow reads size splits by
    /// `splitSize`). Smaller splits spread a partition over more readers.
    pub fn split_rows(mut self, n: u64) -> Self {
        self.split_rows = Some(n.max(1));
        self
    }

    /// Resume from a checkpoint taken with [`Source::snapshot`].
    pub fn restore(mut self, snapshot: SourceSnapshot) -> Self {
        self.snapshot = Some(snapshot);
        self
    }

    /// The columns read for `table`: the projection given, or every data column followed by
    /// the partition columns (the table as SQL sees it).
    pub fn columns(&self, table: &TableSchema) -> Vec<String> {
        match &self.projection {
            Some(p) => p.clone(),
            None => table
                .columns
                .iter()
                .chain(table.partition_columns.iter())
                .map(|c| c.name.clone())
                .collect(),
        }
    }

    /// The pure machine's configuration for a table of schema `table`.
    pub fn machine_config(&self, table: &TableSchema) -> Result<SourceMachineConfig, DriverError> {
        let mut c = SourceMachineConfig::from_source_config(
            &self.config,
            self.readers,
            Some(self.columns(table)),
            USER_AGENT,
        )?;
        if let Some(n) = self.chunk_rows {
            c.reader.chunk_rows = n;
        }
        if let Some(n) = self.batch_rows {
            c.reader.batch_rows = n;
        }
        if let (Some(n), false) = (self.split_rows, self.config.use_arrow) {
            c.enumerator.sizing = SplitSizing::Rows(n);
        }
        Ok(c)
    }

    /// The pure machine for a table of schema `table` (new, or restored from the snapshot
    /// given).
    pub fn machine(&self, table: &TableSchema) -> Result<SourceMachine, DriverError> {
        let config = self.machine_config(table)?;
        match &self.snapshot {
            Some(s) => Ok(SourceMachine::restore(config, s.clone())?),
            None => Ok(SourceMachine::new(config)),
        }
    }

    /// Opens the source over TCP (signed with the configured credentials).
    pub async fn open(self) -> Result<Source<HyperTransport>, DriverError> {
        let transport = tcp_transport(&self.config.connection);
        self.open_with(transport).await
    }

    /// Opens the source over any transport: reads the table's metadata (so a missing table
    /// or a bad projection fails here) and builds the machine.
    pub async fn open_with<T: Transport + Clone>(
        self,
        transport: T,
    ) -> Result<Source<T>, DriverError> {
        let table = self.config.connection.table_name.clone();
        let span = info_span!("source_open", table = %table, readers = self.readers, restored = self.snapshot.is_some());
        async {
            let meta =
                fetch_table(&transport, &api_context(&self.config.connection), &table).await?;
            let columns = self.columns(&meta.schema);
            let plan = ReadPlan::new(&meta.schema, Some(&columns))
                .map_err(|e| SourceError::Config(format!("table `{table}`: {e}")))?;
            let machine = self.machine(&meta.schema)?;
            info!(
                columns = meta.schema.columns.len(),
                partitioned = meta.schema.is_partitioned(),
                "source opened"
            );
            let readers = machine.reader_count() as usize;
            Ok(Source {
                machine,
                pump: Pump::new(transport),
                table,
                schema: plan.output_schema().clone(),
                table_schema: meta.schema,
                stats: SourceStats {
                    rows_per_reader: vec![0; readers],
                    ..SourceStats::default()
                },
            })
        }
        .instrument(span)
        .await
    }
}

/// A whole source (enumerator and readers) behind one async call.
pub struct Source<T: Transport + Clone = HyperTransport> {
    machine: SourceMachine,
    pump: Pump<T>,
    table: String,
    schema: SchemaRef,
    table_schema: TableSchema,
    stats: SourceStats,
}

impl Source<HyperTransport> {
    /// Opens a one-reader source from connector options over TCP. Use
    /// [`SourceBuilder::from_options`] for more readers or a projection.
    pub async fn open(options: &HashMap<String, String>) -> Result<Self, DriverError> {
        SourceBuilder::from_options(options)?.open().await
    }

    /// Opens a one-reader source from a typed config over TCP.
    pub async fn open_config(config: SourceConfig) -> Result<Self, DriverError> {
        SourceBuilder::new(config).open().await
    }
}

impl Source<HyperTransport> {
    /// A builder for a typed config.
    pub fn builder(config: SourceConfig) -> SourceBuilder {
        SourceBuilder::new(config)
    }

    /// A builder from a `WITH (...)` option map.
    pub fn builder_from_options(
        options: &HashMap<String, String>,
    ) -> Result<SourceBuilder, DriverError> {
        SourceBuilder::from_options(options)
    }
}

impl<T: Transport + Clone> Source<T> {
    /// Opens a one-reader source over any transport (e.g. turmoil's simulated network).
    pub async fn open_with(config: SourceConfig, transport: T) -> Result<Self, DriverError> {
        SourceBuilder::new(config).open_with(transport).await
    }

    /// Restores a source from a checkpoint over any transport, with the readers the
    /// snapshot has.
    pub async fn restore(
        config: SourceConfig,
        transport: T,
        snapshot: SourceSnapshot,
    ) -> Result<Self, DriverError> {
        let readers = (snapshot.readers.len() as u32).max(1);
        SourceBuilder::new(config)
            .readers(readers)
            .restore(snapshot)
            .open_with(transport)
            .await
    }

    /// The schema of the batches (projected columns, partition columns filled in).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The table's schema as read at open.
    pub fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    /// The next rows. `Ok(None)` once a full source delivered everything (an incremental
    /// source never ends). The rows count as read when this returns them: a
    /// [`snapshot`](Self::snapshot) taken afterwards resumes after them.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>, DriverError> {
        Ok(self.next_read().await?.map(|b| b.batch))
    }

    /// Like [`next_batch`](Self::next_batch), with the reader and split of the rows.
    pub async fn next_read(&mut self) -> Result<Option<SourceBatch>, DriverError> {
        let span = debug_span!("source_next_batch", table = %self.table);
        async {
            loop {
                while let Some(event) = self.pump.next_event(&mut self.machine) {
                    if let Some(out) = self.absorb(event)? {
                        return Ok(Some(out));
                    }
                }
                if self.machine.is_finished() {
                    return Ok(None);
                }
                if let Some(e) = self.machine.failure() {
                    return Err(e.clone().into());
                }
                if !self.pump.wait(&mut self.machine).await {
                    return Err(DriverError::Stalled(format!(
                        "rows of table `{}`",
                        self.table
                    )));
                }
            }
        }
        .instrument(span)
        .await
    }

    fn absorb(&mut self, event: SourceEvent) -> Result<Option<SourceBatch>, DriverError> {
        match event {
            SourceEvent::Batch {
                reader,
                split,
                batch,
            } => {
                let rows = batch.num_rows() as u64;
                self.stats.rows += rows;
                self.stats.batches += 1;
                if let Some(r) = self.stats.rows_per_reader.get_mut(reader as usize) {
                    *r += rows;
                }
                return Ok(Some(SourceBatch {
                    reader,
                    split,
                    batch,
                }));
            }
            SourceEvent::SplitFinished {
                reader,
                split,
                rows,
            } => {
                self.stats.splits_finished += 1;
                debug!(reader, %split, rows, "split finished");
            }
            SourceEvent::SessionLost { reader, lost } => {
                warn!(reader, split = %lost.split, partition = %lost.partition, session = %lost.session_id, reason = %lost.reason, "download session lost");
            }
            SourceEvent::Enumerator(e) => match e {
                EnumeratorEvent::PartitionsDiscovered { partitions } => {
                    info!(count = partitions.len(), first = ?partitions.first().map(|p| p.to_string()), "partitions discovered");
                }
                EnumeratorEvent::SessionReady {
                    partition,
                    session_id,
                    record_count,
                    splits,
                } => {
                    info!(%partition, session = %session_id, record_count, splits, "download session ready");
                }
                EnumeratorEvent::PartitionFinished { partition } => {
                    info!(%partition, "partition read");
                    self.stats.partitions_finished.push(partition);
                }
                EnumeratorEvent::PartitionSkipped { partition, reason } => {
                    warn!(%partition, %reason, "partition skipped (modifiedTableOperation = SKIP)");
                    self.stats.partitions_skipped.push(partition);
                }
                EnumeratorEvent::ListingFailed { error } => {
                    warn!(%error, "partition listing failed; retried at the next interval");
                    self.stats.listings_failed += 1;
                }
                other => debug!(event = ?other, "enumerator"),
            },
            SourceEvent::Finished => info!(rows = self.stats.rows, "source finished"),
            SourceEvent::Failed(e) => return Err(e.into()),
        }
        Ok(None)
    }

    /// The checkpoint of everything delivered so far (versioned serde).
    pub fn snapshot(&self) -> SourceSnapshot {
        self.machine.snapshot()
    }

    /// True once a full source delivered every row.
    pub fn is_finished(&self) -> bool {
        self.machine.is_finished()
    }

    /// Counters since open.
    pub fn stats(&self) -> &SourceStats {
        &self.stats
    }

    /// The pure machine (for inspection).
    pub fn machine(&self) -> &SourceMachine {
        &self.machine
    }
}

/// The enumerator alone, for engines that run readers in parallel subtasks (one per job).
pub struct SourceEnumerator<T: Transport + Clone = HyperTransport> {
    machine: SplitEnumerator,
    pump: Pump<T>,
    table: String,
}

impl<T: Transport + Clone> SourceEnumerator<T> {
    /// An enumerator for `readers` readers from the source options.
    pub fn from_source_config(
        config: &SourceConfig,
        readers: u32,
        transport: T,
    ) -> Result<Self, DriverError> {
        let c = EnumeratorConfig::from_source_config(config, readers, USER_AGENT)?;
        Ok(Self::new(c, transport))
    }

    /// An enumerator from its full configuration.
    pub fn new(config: EnumeratorConfig, transport: T) -> Self {
        let table = config.table.clone();
        Self {
            machine: SplitEnumerator::new(config),
            pump: Pump::new(transport),
            table,
        }
    }

    /// An enumerator resumed from its part of a checkpoint.
    pub fn restore(
        config: EnumeratorConfig,
        state: EnumeratorState,
        transport: T,
    ) -> Result<Self, DriverError> {
        let table = config.table.clone();
        Ok(Self {
            machine: SplitEnumerator::restore(config, state)?,
            pump: Pump::new(transport),
            table,
        })
    }

    /// The next event for the engine to route (`TableDescribed` → build readers, `Assign`,
    /// `NoMoreSplits`, `Finished`, …). `Ok(None)`: nothing can happen until a reader reports
    /// (`split_finished`, `request_split`, `session_lost`). `Failed` comes back as an error.
    /// Cancel-safe.
    pub async fn next_event(&mut self) -> Result<Option<EnumeratorEvent>, DriverError> {
        let span = debug_span!("source_enumerator", table = %self.table);
        async {
            loop {
                if let Some(e) = self.pump.next_event(&mut self.machine) {
                    return match e {
                        EnumeratorEvent::Failed(e) => Err(e.into()),
                        other => Ok(Some(other)),
                    };
                }
                if self.machine.is_finished() || !self.pump.wait(&mut self.machine).await {
                    return Ok(None);
                }
            }
        }
        .instrument(span)
        .await
    }

    /// A reader finished `split`.
    pub fn split_finished(&mut self, split: SplitId) {
        self.machine.split_finished(split);
    }

    /// A reader asks for a split (it emitted `NeedSplit`).
    pub fn request_split(&mut self, reader: u32) {
        self.machine.request_split(reader);
    }

    /// A reader lost a split's session.
    pub fn session_lost(&mut self, report: SessionLost) {
        self.machine.session_lost(report);
    }

    /// The enumerator's part of a checkpoint.
    pub fn snapshot(&self) -> EnumeratorState {
        self.machine.snapshot()
    }

    /// The pure machine (for inspection).
    pub fn machine(&self) -> &SplitEnumerator {
        &self.machine
    }
}

/// One reader, for engines that run readers in parallel subtasks.
pub struct SourceReader<T: Transport + Clone = HyperTransport> {
    machine: SplitReader,
    pump: Pump<T>,
    table: String,
}

impl<T: Transport + Clone> SourceReader<T> {
    /// Reader `index` of a source, for the schema the enumerator described.
    pub fn from_source_config(
        config: &SourceConfig,
        schema: TableSchema,
        index: u32,
        transport: T,
    ) -> Result<Self, DriverError> {
        let c = ReaderConfig::from_source_config(config, schema, USER_AGENT);
        Self::new(c, index, transport)
    }

    /// A reader from its full configuration.
    pub fn new(config: ReaderConfig, index: u32, transport: T) -> Result<Self, DriverError> {
        let table = config.table.clone();
        Ok(Self {
            machine: SplitReader::new(config, index)?,
            pump: Pump::new(transport),
            table,
        })
    }

    /// A reader resumed from its part of a checkpoint.
    pub fn restore(
        config: ReaderConfig,
        state: ReaderState,
        transport: T,
    ) -> Result<Self, DriverError> {
        let table = config.table.clone();
        Ok(Self {
            machine: SplitReader::restore(config, state)?,
            pump: Pump::new(transport),
            table,
        })
    }

    /// Adds a split (from the enumerator's `Assign`).
    pub fn add_split(&mut self, split: Split) {
        self.machine.add_split(split);
    }

    /// No more splits will come (from the enumerator's `NoMoreSplits`).
    pub fn no_more_splits(&mut self) {
        self.machine.no_more_splits();
    }

    /// The next event: `Batch` (rows count as read when returned), `SplitFinished`,
    /// `SessionLost`, `NeedSplit` (for the enumerator), `Finished`. `Ok(None)`: the reader
    /// waits for a split or for `no_more_splits`. `Failed` comes back as an error.
    /// Cancel-safe.
    pub async fn next_event(&mut self) -> Result<Option<ReaderEvent>, DriverError> {
        let span =
            debug_span!("source_reader", table = %self.table, reader = self.machine.reader());
        async {
            loop {
                if let Some(e) = self.pump.next_event(&mut self.machine) {
                    return match e {
                        ReaderEvent::Failed(e) => Err(e.into()),
                        other => Ok(Some(other)),
                    };
                }
                if self.machine.is_finished() || !self.pump.wait(&mut self.machine).await {
                    return Ok(None);
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The schema of the batches.
    pub fn output_schema(&self) -> &SchemaRef {
        self.machine.output_schema()
    }

    /// The reader's part of a checkpoint (every batch returned so far counts as read).
    pub fn snapshot(&self) -> ReaderState {
        self.machine.snapshot()
    }

    /// The pure machine (for inspection).
    pub fn machine(&self) -> &SplitReader {
        &self.machine
    }
}
