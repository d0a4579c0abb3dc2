//! [`SourceMachine`]: one split enumerator and N split readers wired together as one pure
//! machine, for engines that read a whole source in one place.
//!
//! It does the wiring of `maxc_core::source`'s table (enumerator events to readers, reader
//! events to the enumerator) inside `poll`, so a single [`Pump`](crate::Pump) drives it and
//! the engine only sees [`SourceEvent`]s. Request tokens of the inner machines are renumbered
//! so their replies find their way back.
//!
//! | inner output | the combined machine |
//! |---|---|
//! | enumerator `TableDescribed` | builds (or restores) the readers; passes the event on |
//! | enumerator `Assign` / `NoMoreSplits` | `add_split` / `no_more_splits` on that reader |
//! | enumerator `Finished` | remembered; [`SourceEvent::Finished`] once every reader is finished too |
//! | reader `Batch` | [`SourceEvent::Batch`] (the row counts as read when this event is polled) |
//! | reader `SplitFinished` | `split_finished` on the enumerator; passed on |
//! | reader `SessionLost` | `session_lost` on the enumerator; passed on |
//! | reader `NeedSplit` | `request_split` on the enumerator |
//! | any `Failed` | [`SourceEvent::Failed`]; the machine stops |
//! | other enumerator events | passed on as [`SourceEvent::Enumerator`] |
//!
//! Readers are polled round-robin after each batch, so every reader keeps one request in
//! flight and none starves. Nothing is buffered outside the inner machines: a
//! [`snapshot`](SourceMachine::snapshot) taken between polls resumes at the exact next row.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use maxc_core::machine::{Instant, Machine, Output, Reply, Token, TokenSource};
use maxc_core::options::SourceConfig;
use maxc_core::source::reader::READER_STATE_VERSION;
use maxc_core::source::{
    EnumeratorConfig, EnumeratorEvent, EnumeratorState, ReaderConfig, ReaderEvent, ReaderState,
    RestoreError, SessionLost, SourceError, Split, SplitEnumerator, SplitId, SplitProgress,
    SplitReader,
};
use maxc_core::types::TableSchema;
use serde::{Deserialize, Serialize};

/// Version of [`SourceSnapshot`] written by this build.
pub const SOURCE_SNAPSHOT_VERSION: u32 = 1;

/// A source checkpoint: the enumerator's state and every reader's (serde).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceSnapshot {
    /// Format version ([`SOURCE_SNAPSHOT_VERSION`]).
    pub version: u32,
    /// The enumerator.
    pub enumerator: EnumeratorState,
    /// The readers, by index.
    pub readers: Vec<ReaderState>,
}

/// How the combined machine builds its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceMachineConfig {
    /// The enumerator (its `readers` is the number of readers).
    pub enumerator: EnumeratorConfig,
    /// The readers' configuration; its `schema` is replaced by the described table's.
    pub reader: ReaderConfig,
}

impl SourceMachineConfig {
    /// Both parts from the source options, with `readers` readers (at least 1) and the
    /// columns to read (`None`: every data column; partition columns may be named too).
    pub fn from_source_config(
        config: &SourceConfig,
        readers: u32,
        projection: Option<Vec<String>>,
        user_agent: &str,
    ) -> Result<Self, SourceError> {
        let mut enumerator = EnumeratorConfig::from_source_config(config, readers, user_agent)?;
        enumerator.projection = projection.clone();
        let mut reader =
            ReaderConfig::from_source_config(config, TableSchema::default(), user_agent);
        reader.projection = projection;
        Ok(Self { enumerator, reader })
    }

    /// Number of readers.
    pub fn readers(&self) -> u32 {
        self.enumerator.readers.max(1)
    }
}

/// What the combined machine tells its driver.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    /// Rows read by `reader` from `split`, in order.
    Batch {
        /// The reader.
        reader: u32,
        /// The split.
        split: SplitId,
        /// The rows.
        batch: RecordBatch,
    },
    /// A reader read every row of a split.
    SplitFinished {
        /// The reader.
        reader: u32,
        /// The split.
        split: SplitId,
        /// Rows in the split.
        rows: u64,
    },
    /// A reader found a split's session unusable (the enumerator decides: skip or fail).
    SessionLost {
        /// The reader.
        reader: u32,
        /// What was lost.
        lost: SessionLost,
    },
    /// Information from the enumerator (`TableDescribed`, `PartitionsDiscovered`,
    /// `SessionReady`, `PartitionFinished`, `PartitionSkipped`, `ListingFailed`).
    Enumerator(EnumeratorEvent),
    /// Every row of a full source was read.
    Finished,
    /// The source cannot go on.
    Failed(SourceError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Enumerator,
    Reader(usize),
}

#[derive(Debug)]
enum Slot {
    /// Before the table is described: the state to restore from (and splits assigned early).
    Waiting { state: ReaderState, no_more: bool },
    /// Built.
    Ready(Box<SplitReader>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Finished,
    Failed,
}

/// The enumerator and its readers as one machine (see the [module docs](self)).
#[derive(Debug)]
pub struct SourceMachine {
    config: SourceMachineConfig,
    enumerator: SplitEnumerator,
    readers: Vec<Slot>,
    routes: BTreeMap<Token, (Who, Token)>,
    tokens: TokenSource,
    events: VecDeque<SourceEvent>,
    output_schema: Option<SchemaRef>,
    enumerator_finished: bool,
    phase: Phase,
    failure: Option<SourceError>,
    cursor: usize,
}

fn empty_state(reader: u32) -> ReaderState {
    ReaderState {
        version: READER_STATE_VERSION,
        reader,
        splits: Vec::new(),
    }
}

impl SourceMachine {
    /// A new source; its first poll asks for the table's metadata.
    pub fn new(config: SourceMachineConfig) -> Self {
        let enumerator = SplitEnumerator::new(config.enumerator.clone());
        Self::assemble(config, enumerator, BTreeMap::new())
    }

    /// A source resumed from a snapshot. The readers are rebuilt from their states once the
    /// table is described; every split resumes at its exact next row after a check of its
    /// session.
    pub fn restore(
        config: SourceMachineConfig,
        snapshot: SourceSnapshot,
    ) -> Result<Self, RestoreError> {
        if snapshot.version != SOURCE_SNAPSHOT_VERSION {
            return Err(RestoreError::Version {
                what: "source",
                found: snapshot.version,
                supported: SOURCE_SNAPSHOT_VERSION,
            });
        }
        let readers = config.readers();
        let mut states = BTreeMap::new();
        for state in snapshot.readers {
            if state.version != READER_STATE_VERSION {
                return Err(RestoreError::Version {
                    what: "reader",
                    found: state.version,
                    supported: READER_STATE_VERSION,
                });
            }
            if state.reader >= readers {
                if state.splits.is_empty() {
                    // A reader that held nothing can go away with a smaller parallelism.
                    continue;
                }
                return Err(RestoreError::Mismatch(format!(
                    "the snapshot's reader {} holds {} split(s) but the source now has {readers} reader(s); restore with at least {} readers",
                    state.reader,
                    state.splits.len(),
                    state.reader + 1
                )));
            }
            let index = state.reader;
            if states.insert(index, state).is_some() {
                return Err(RestoreError::Mismatch(format!(
                    "the snapshot holds reader {index} twice"
                )));
            }
        }
        let enumerator = SplitEnumerator::restore(config.enumerator.clone(), snapshot.enumerator)?;
        Ok(Self::assemble(config, enumerator, states))
    }

    fn assemble(
        config: SourceMachineConfig,
        enumerator: SplitEnumerator,
        mut states: BTreeMap<u32, ReaderState>,
    ) -> Self {
        let n = config.readers();
        let readers = (0..n)
            .map(|i| Slot::Waiting {
                state: states.remove(&i).unwrap_or_else(|| empty_state(i)),
                no_more: false,
            })
            .collect();
        Self {
            config,
            enumerator,
            readers,
            routes: BTreeMap::new(),
            tokens: TokenSource::default(),
            events: VecDeque::new(),
            output_schema: None,
            enumerator_finished: false,
            phase: Phase::Running,
            failure: None,
            cursor: 0,
        }
    }

    /// The checkpoint: enumerator state plus every reader's. Take it between polls; every
    /// batch polled before it counts as read.
    pub fn snapshot(&self) -> SourceSnapshot {
        SourceSnapshot {
            version: SOURCE_SNAPSHOT_VERSION,
            enumerator: self.enumerator.snapshot(),
            readers: self
                .readers
                .iter()
                .map(|slot| match slot {
                    Slot::Waiting { state, .. } => state.clone(),
                    Slot::Ready(r) => r.snapshot(),
                })
                .collect(),
        }
    }

    /// The schema of the emitted batches, once the table is described.
    pub fn output_schema(&self) -> Option<&SchemaRef> {
        self.output_schema.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &SourceMachineConfig {
        &self.config
    }

    /// The enumerator (for inspection).
    pub fn enumerator(&self) -> &SplitEnumerator {
        &self.enumerator
    }

    /// Reader `index`, once built (for inspection).
    pub fn reader(&self, index: u32) -> Option<&SplitReader> {
        match self.readers.get(index as usize) {
            Some(Slot::Ready(r)) => Some(r),
            _ => None,
        }
    }

    /// Number of readers.
    pub fn reader_count(&self) -> u32 {
        self.readers.len() as u32
    }

    /// True once a full source has delivered every row.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// The error the source failed with, if it failed.
    pub fn failure(&self) -> Option<&SourceError> {
        self.failure.as_ref()
    }

    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.routes.len()
    }

    fn fail(&mut self, error: SourceError) {
        if self.phase == Phase::Failed {
            return;
        }
        self.phase = Phase::Failed;
        self.routes.clear();
        self.failure = Some(error.clone());
        self.events.push_back(SourceEvent::Failed(error));
    }

    fn route_out(
        &mut self,
        who: Who,
        inner: Token,
        request: maxc_core::http::Request,
    ) -> Output<SourceEvent> {
        let token = self.tokens.next_token();
        self.routes.insert(token, (who, inner));
        Output::Send { token, request }
    }

    fn build_readers(&mut self, schema: TableSchema) {
        let mut built = Vec::with_capacity(self.readers.len());
        for (i, slot) in std::mem::take(&mut self.readers).into_iter().enumerate() {
            let slot = match slot {
                Slot::Waiting { state, no_more } => {
                    let mut cfg = self.config.reader.clone();
                    cfg.schema = schema.clone();
                    let reader = if state.splits.is_empty() {
                        SplitReader::new(cfg, i as u32)
                    } else {
                        SplitReader::restore(cfg, state)
                    };
                    match reader {
                        Ok(mut r) => {
                            if no_more {
                                r.no_more_splits();
                            }
                            Slot::Ready(Box::new(r))
                        }
                        Err(e) => {
                            self.readers = built;
                            self.fail(e);
                            return;
                        }
                    }
                }
                ready => ready,
            };
            built.push(slot);
        }
        self.readers = built;
        if self.output_schema.is_none()
            && let Some(Slot::Ready(r)) = self.readers.first()
        {
            self.output_schema = Some(r.output_schema().clone());
        }
    }

    fn add_split(&mut self, reader: u32, split: Split) {
        match self.readers.get_mut(reader as usize) {
            Some(Slot::Ready(r)) => r.add_split(split),
            Some(Slot::Waiting { state, .. }) => state.splits.push(SplitProgress {
                split,
                rows_read: 0,
            }),
            None => self.fail(SourceError::Protocol(format!(
                "the enumerator assigned {} to reader {reader}, but there are {} readers",
                split.id,
                self.readers.len()
            ))),
        }
    }

    fn no_more_splits(&mut self, reader: u32) {
        match self.readers.get_mut(reader as usize) {
            Some(Slot::Ready(r)) => r.no_more_splits(),
            Some(Slot::Waiting { no_more, .. }) => *no_more = true,
            None => {}
        }
    }

    fn on_enumerator_event(&mut self, event: EnumeratorEvent) {
        match event {
            EnumeratorEvent::TableDescribed { schema } => {
                self.build_readers(schema.clone());
                self.events
                    .push_back(SourceEvent::Enumerator(EnumeratorEvent::TableDescribed {
                        schema,
                    }));
            }
            EnumeratorEvent::Assign { reader, split } => self.add_split(reader, split),
            EnumeratorEvent::NoMoreSplits { reader } => self.no_more_splits(reader),
            EnumeratorEvent::Finished => self.enumerator_finished = true,
            EnumeratorEvent::Failed(e) => self.fail(e),
            other => self.events.push_back(SourceEvent::Enumerator(other)),
        }
    }

    fn on_reader_event(&mut self, index: usize, event: ReaderEvent) {
        let reader = index as u32;
        match event {
            ReaderEvent::Batch { split, batch } => {
                self.events.push_back(SourceEvent::Batch {
                    reader,
                    split,
                    batch,
                });
            }
            ReaderEvent::SplitFinished { split, rows } => {
                self.enumerator.split_finished(split);
                self.events.push_back(SourceEvent::SplitFinished {
                    reader,
                    split,
                    rows,
                });
            }
            ReaderEvent::SessionLost(lost) => {
                self.enumerator.session_lost(lost.clone());
                self.events
                    .push_back(SourceEvent::SessionLost { reader, lost });
            }
            ReaderEvent::NeedSplit { reader } => self.enumerator.request_split(reader),
            ReaderEvent::Finished => {}
            ReaderEvent::Failed(e) => self.fail(e),
        }
    }

    fn check_finished(&mut self) {
        if self.phase != Phase::Running || !self.enumerator_finished {
            return;
        }
        let all = self
            .readers
            .iter()
            .all(|s| matches!(s, Slot::Ready(r) if r.is_finished()));
        if all {
            self.phase = Phase::Finished;
            self.events.push_back(SourceEvent::Finished);
        }
    }

    /// The next request to send or event to deliver.
    pub fn poll(&mut self, now: Instant) -> Option<Output<SourceEvent>> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(Output::Event(e));
            }
            if self.phase != Phase::Running {
                return None;
            }
            match self.enumerator.poll(now) {
                Some(Output::Send { token, request }) => {
                    return Some(self.route_out(Who::Enumerator, token, request));
                }
                Some(Output::Event(e)) => {
                    self.on_enumerator_event(e);
                    continue;
                }
                None => {}
            }
            let n = self.readers.len();
            let mut found = None;
            for k in 0..n {
                let i = (self.cursor + k) % n;
                if let Some(Slot::Ready(r)) = self.readers.get_mut(i)
                    && let Some(out) = r.poll(now)
                {
                    found = Some((i, out));
                    break;
                }
            }
            match found {
                Some((i, Output::Send { token, request })) => {
                    return Some(self.route_out(Who::Reader(i), token, request));
                }
                Some((i, Output::Event(e))) => {
                    if matches!(e, ReaderEvent::Batch { .. }) {
                        self.cursor = (i + 1) % n.max(1);
                    }
                    self.on_reader_event(i, e);
                }
                None => {
                    self.check_finished();
                    if self.events.is_empty() {
                        return None;
                    }
                }
            }
        }
    }

    /// Feeds the reply to a request sent under `token` (unknown tokens are ignored).
    pub fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        let Some((who, inner)) = self.routes.remove(&token) else {
            return;
        };
        match who {
            Who::Enumerator => self.enumerator.handle_reply(inner, reply, now),
            Who::Reader(i) => {
                if let Some(Slot::Ready(r)) = self.readers.get_mut(i) {
                    r.handle_reply(inner, reply, now);
                }
            }
        }
    }

    /// When to poll again without input: the earliest deadline of the parts.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.phase != Phase::Running {
            return None;
        }
        let readers = self.readers.iter().filter_map(|s| match s {
            Slot::Ready(r) => r.next_deadline(),
            Slot::Waiting { .. } => None,
        });
        self.enumerator
            .next_deadline()
            .into_iter()
            .chain(readers)
            .min()
    }

    /// Readers that hold at least one split (for inspection).
    pub fn busy_readers(&self) -> BTreeSet<u32> {
        self.readers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Slot::Ready(r) if r.splits().next().is_some() => Some(i as u32),
                Slot::Waiting { state, .. } if !state.splits.is_empty() => Some(i as u32),
                _ => None,
            })
            .collect()
    }
}

impl Machine for SourceMachine {
    type Event = SourceEvent;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        SourceMachine::handle_reply(self, token, reply, now)
    }

    fn poll(&mut self, now: Instant) -> Option<Output<SourceEvent>> {
        SourceMachine::poll(self, now)
    }

    fn next_deadline(&self) -> Option<Instant> {
        SourceMachine::next_deadline(self)
    }
}
