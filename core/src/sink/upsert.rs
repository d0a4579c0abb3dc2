//! The upsert-tunnel writer (see the [module docs](super) for its state table).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int8Array, Int64Array, ListArray, RecordBatch, new_null_array};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;

use super::budget::{Budget, largest_first};
use super::error::{InputError, Item, Location, Operation, SinkError};
use super::event::{MemoryUsage, Rejection, RowKind, SinkEvent, WriteRejected};
use super::input::{InputLayout, Rows};
use super::io::{self, Buffer, Driven, Encoding, Io, Phase};
use super::retry::{Attempts, Failure, Next, decide, failure_error};
use super::settings::{UpsertSettings, WriterSettings};
use super::state::{WriterState, WriterStateV1};
use crate::api::instance::{
    SqlJob, add_partition_sql, get_task_status, parse_submit, parse_task_status, submit_sql,
};
use crate::api::rest::TableMeta;
use crate::api::tunnel::parse_empty;
use crate::api::upsert::{
    Hasher as SessionHasher, OP_DELETE, OP_UPSERT, UpsertSession, UpsertWrite,
    classify_commit_error, commit_upsert, create_upsert, get_upsert, parse_upsert_session,
    upsert_record_columns, write_upsert,
};
use crate::api::{ErrorClass, SessionStatus, codes};
use crate::hash::{Hasher, buckets_for_batch};
use crate::machine::{Instant, Machine, Output, Reply, Token, TokenSource};
use crate::options::{SinkConfig, SinkTunnel};
use crate::partition::PartitionSpec;
use crate::types::OdpsType;

type PartKey = (u64, PartitionSpec);

/// Task name of the partition DDL.
const DDL_TASK: &str = "maxc_sink_add_partition";
/// Delays between status polls of the partition DDL.
const DDL_POLL: crate::machine::Backoff = crate::machine::Backoff {
    base: std::time::Duration::from_millis(100),
    cap: std::time::Duration::from_secs(2),
};

#[derive(Debug, Clone)]
enum Close {
    Checkpoint(u64),
    EndOfInput,
}

#[derive(Debug, Default)]
struct Epoch {
    close: Option<Close>,
    parts: BTreeSet<PartitionSpec>,
    /// Partitions of a closed epoch not committed yet.
    busy: BTreeSet<PartitionSpec>,
}

#[derive(Debug, Clone)]
enum Sess {
    /// Create queued, in flight or backing off.
    Creating,
    /// The partition is missing: `ALTER TABLE … ADD IF NOT EXISTS PARTITION` submitted
    /// (`instance` once known) and polled; then creating again.
    AddingPartition {
        instance: Option<String>,
        polls: u32,
    },
    /// Usable.
    Open(UpsertSession),
    /// Reload (new routes) queued, in flight or backing off.
    Reloading(UpsertSession),
}

#[derive(Debug, Clone)]
struct Commit {
    started: Instant,
    polls: u32,
    attempts: Attempts,
    status: String,
}

#[derive(Debug)]
struct Part {
    sess: Sess,
    attempts: Attempts,
    buckets: BTreeMap<u32, Buffer>,
    /// Accounted bytes of the bucket buffers.
    buffered: u64,
    /// Blocks waiting for an open session (by flush order).
    waiting: BTreeSet<u64>,
    /// Blocks ready to send (by flush order; at most `upsert.flush.concurrent` in flight per
    /// partition, at most one per bucket so that a key's writes keep their order).
    ready: BTreeSet<u64>,
    /// Buckets with a write in flight or backing off.
    busy_buckets: BTreeSet<u32>,
    in_flight: usize,
    unacked: usize,
    /// The epoch is closed: commit once everything is acknowledged.
    closed: bool,
    commit: Option<Commit>,
    commit_queued: bool,
    /// The partition was created with DDL (done at most once).
    partition_added: bool,
    committed: bool,
}

impl Part {
    fn new() -> Self {
        Self {
            sess: Sess::Creating,
            attempts: Attempts::default(),
            buckets: BTreeMap::new(),
            buffered: 0,
            waiting: BTreeSet::new(),
            ready: BTreeSet::new(),
            busy_buckets: BTreeSet::new(),
            in_flight: 0,
            unacked: 0,
            closed: false,
            commit: None,
            commit_queued: false,
            partition_added: false,
            committed: false,
        }
    }

    fn session(&self) -> Option<&UpsertSession> {
        match &self.sess {
            Sess::Open(s) | Sess::Reloading(s) => Some(s),
            Sess::Creating | Sess::AddingPartition { .. } => None,
        }
    }
}

#[derive(Debug)]
struct Block {
    key: PartKey,
    bucket: u32,
    body: Bytes,
    rows: u64,
    attempts: Attempts,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Flush(PartKey),
    /// Re-send the session request (holds a session-request slot).
    Session(PartKey),
    /// Queue a reload (after a backoff).
    Enqueue(PartKey),
    Put(u64),
    Commit(PartKey),
}

#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Session(PartKey),
    /// Partition DDL: submit or status poll.
    Ddl(PartKey),
    Put(u64),
    Commit(PartKey),
}

/// Writes through the upsert tunnel to a Delta table: rows are routed to the table's hash
/// buckets per partition, buffered per bucket, written per bucket with the five meta columns,
/// and each partition's session is committed at the barrier. See the [module docs](super).
#[derive(Debug)]
pub struct UpsertWriter {
    s: WriterSettings,
    u: UpsertSettings,
    label: String,
    layout: InputLayout,
    /// The encoder (data columns plus the upsert meta columns) and scratch space all bucket
    /// buffers share.
    enc: Encoding,
    key_types: Vec<(usize, OdpsType)>,
    io: Io<Timer, Pending>,
    phase: Phase,
    epoch: u64,
    last_checkpoint: Option<u64>,
    epochs: BTreeMap<u64, Epoch>,
    parts: BTreeMap<PartKey, Part>,
    blocks: BTreeMap<u64, Block>,
    next_seq: u64,
    runnable: VecDeque<PartKey>,
    runnable_set: BTreeSet<PartKey>,
    session_queue: VecDeque<PartKey>,
    sessions_busy: usize,
    commit_queue: VecDeque<PartKey>,
    commits_busy: usize,
    budget: Budget,
}

fn list_type() -> DataType {
    OdpsType::array(OdpsType::BigInt).to_arrow()
}

/// A list array whose every row is `values` (`n` rows).
fn repeated_list(values: &[i64], per_row: &[bool]) -> Result<ArrayRef, String> {
    let DataType::List(field) = list_type() else {
        return Err("array<bigint> does not map to an Arrow list".into());
    };
    let mut offsets = Vec::with_capacity(per_row.len() + 1);
    let mut flat = Vec::new();
    offsets.push(0i32);
    for full in per_row {
        if *full {
            flat.extend_from_slice(values);
        }
        offsets.push(i32::try_from(flat.len()).map_err(|_| "list too long".to_string())?);
    }
    ListArray::try_new(
        field,
        OffsetBuffer::new(offsets.into()),
        Arc::new(Int64Array::from(flat)),
        None,
    )
    .map(|a| Arc::new(a) as ArrayRef)
    .map_err(|e| e.to_string())
}

impl UpsertWriter {
    /// A writer for `meta`'s Delta table with `config`'s options.
    pub fn new(config: &SinkConfig, meta: &TableMeta) -> Result<Self, SinkError> {
        Self::with_settings(WriterSettings::new(config, meta)?)
    }

    /// A writer with explicit settings.
    pub fn with_settings(s: WriterSettings) -> Result<Self, SinkError> {
        let Some(u) = s.upsert.clone() else {
            return Err(SinkError::Config(format!(
                "the upsert writer needs the upsert tunnel, the config selects {:?}",
                s.tunnel
            )));
        };
        let label = s.table_label();
        let partial = u.partial_column.then(|| u.primary_key.clone());
        let layout = InputLayout::new(label.clone(), &s.schema, s.partition.clone(), partial);
        let key_types = u
            .primary_key
            .iter()
            .map(|k| {
                s.schema
                    .column_index(k)
                    .map(|i| (i, s.schema.columns[i].ty.clone()))
                    .ok_or_else(|| {
                        SinkError::Config(format!("primary key column `{k}` is not a data column"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut epochs = BTreeMap::new();
        epochs.insert(0, Epoch::default());
        Ok(Self {
            enc: Encoding::new(&upsert_record_columns(&s.schema.columns)),
            budget: Budget::new(s.memory_budget),
            u,
            s,
            label,
            layout,
            key_types,
            io: Io::new(TokenSource::default()),
            phase: Phase::Running,
            epoch: 0,
            last_checkpoint: None,
            epochs,
            parts: BTreeMap::new(),
            blocks: BTreeMap::new(),
            next_seq: 0,
            runnable: VecDeque::new(),
            runnable_set: BTreeSet::new(),
            session_queue: VecDeque::new(),
            sessions_busy: 0,
            commit_queue: VecDeque::new(),
            commits_busy: 0,
        })
    }

    /// A writer restored from [`UpsertWriter::snapshot`]. Sessions opened after that snapshot
    /// are abandoned uncommitted; replayed rows are upserted again (idempotent by key).
    pub fn restore(
        config: &SinkConfig,
        meta: &TableMeta,
        state: WriterState,
    ) -> Result<Self, SinkError> {
        let mut w = Self::new(config, meta)?;
        let v1 = state.into_v1(SinkTunnel::Upsert, &w.label)?;
        w.last_checkpoint = v1.last_checkpoint_id;
        Ok(w)
    }

    /// The durable state (the last checkpoint; buffered rows are replayed after a restore).
    pub fn snapshot(&self) -> WriterState {
        WriterState::V1(WriterStateV1 {
            tunnel: "upsert".into(),
            table: self.label.clone(),
            last_checkpoint_id: self.last_checkpoint,
            stream_sessions: BTreeMap::new(),
        })
    }

    /// Memory accounting.
    pub fn memory(&self) -> MemoryUsage {
        self.budget.usage()
    }

    /// The error the writer failed with, if it did.
    pub fn failure(&self) -> Option<&SinkError> {
        match &self.phase {
            Phase::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// True once `Finished` was emitted.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    fn loc(&self, key: &PartKey, item: Option<Item>) -> Location {
        Location::new(
            self.label.clone(),
            (!key.1.is_empty()).then(|| key.1.to_tunnel_string()),
            self.parts
                .get(key)
                .and_then(Part::session)
                .map(|s| s.id.clone()),
            item,
        )
    }

    // ------------------------------------------------------------------ inputs

    /// Upserts every row of `batch` (all INSERTs).
    pub fn write(&mut self, batch: RecordBatch, now: Instant) -> Result<(), WriteRejected> {
        self.write_inner(batch, None, now)
    }

    /// Writes a changelog batch: INSERT and UPDATE_AFTER rows are upserted, DELETE rows delete
    /// by primary key (the other columns may be NULL), UPDATE_BEFORE rows are dropped.
    pub fn write_changes(
        &mut self,
        batch: RecordBatch,
        kinds: &[RowKind],
        now: Instant,
    ) -> Result<(), WriteRejected> {
        if kinds.len() != batch.num_rows() {
            let e = InputError::RowKindCount {
                rows: batch.num_rows(),
                kinds: kinds.len(),
            };
            return Err(WriteRejected {
                batch,
                reason: Rejection::Error(Box::new(e.into())),
            });
        }
        self.write_inner(batch, Some(kinds), now)
    }

    fn write_inner(
        &mut self,
        batch: RecordBatch,
        kinds: Option<&[RowKind]>,
        now: Instant,
    ) -> Result<(), WriteRejected> {
        let now = self.io.clock(now);
        if let Err(e) = self.phase.check_running("write") {
            return Err(WriteRejected {
                batch,
                reason: Rejection::Error(Box::new(e)),
            });
        }
        match self.take(&batch, kinds, now) {
            Ok(()) => Ok(()),
            Err(reason) => Err(WriteRejected { batch, reason }),
        }
    }

    /// The data batch with the five meta columns appended, and per row its bucket (`None`
    /// for a dropped UPDATE_BEFORE row).
    fn extend(
        &self,
        data: &RecordBatch,
        present: &[bool],
        kinds: Option<&[RowKind]>,
    ) -> Result<(RecordBatch, Vec<Option<u32>>), SinkError> {
        let n = data.num_rows();
        let kind = |i: usize| {
            kinds
                .and_then(|k| k.get(i))
                .copied()
                .unwrap_or(RowKind::Insert)
        };
        let keys: Vec<(&OdpsType, &dyn Array)> = self
            .key_types
            .iter()
            .map(|(i, ty)| (ty, data.column(*i).as_ref()))
            .collect();
        let buckets = buckets_for_batch(self.u.hasher, &keys, self.u.bucket_count)
            .map_err(InputError::from)?;
        let ops: Vec<i8> = (0..n)
            .map(|i| {
                if kind(i) == RowKind::Delete {
                    OP_DELETE
                } else {
                    OP_UPSERT
                }
            })
            .collect();
        // `__value_cols`: empty for a full-row upsert; in partial-column mode the column ids
        // of the columns the batch has (deletes remove the whole row: empty).
        let value_cols: Vec<i64> = if self.u.partial_column {
            present
                .iter()
                .enumerate()
                .filter(|(_, p)| **p)
                .map(|(i, _)| i as i64)
                .collect()
        } else {
            Vec::new()
        };
        let per_row: Vec<bool> = (0..n).map(|i| kind(i) != RowKind::Delete).collect();
        let value_list = repeated_list(&value_cols, &per_row).map_err(SinkError::Config)?;
        let mut fields: Vec<Field> = data
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut arrays: Vec<ArrayRef> = data.columns().to_vec();
        for (name, array) in [
            ("__version", new_null_array(&DataType::Int64, n)),
            ("__app_version", new_null_array(&DataType::Int64, n)),
            ("__operation", Arc::new(Int8Array::from(ops)) as ArrayRef),
            ("__key_cols", new_null_array(&list_type(), n)),
            ("__value_cols", value_list),
        ] {
            fields.push(Field::new(name, array.data_type().clone(), true));
            arrays.push(array);
        }
        let extended = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| SinkError::Config(format!("building upsert records: {e}")))?;
        let routed = (0..n)
            .map(|i| {
                (kind(i) != RowKind::UpdateBefore).then(|| buckets.get(i).copied().unwrap_or(0))
            })
            .collect();
        Ok((extended, routed))
    }

    fn take(
        &mut self,
        batch: &RecordBatch,
        kinds: Option<&[RowKind]>,
        now: Instant,
    ) -> Result<(), Rejection> {
        let routed = self
            .layout
            .route(batch)
            .map_err(|e| Rejection::Error(Box::new(e)))?;
        let (extended, buckets) = self
            .extend(&routed.data, &routed.present, kinds)
            .map_err(|e| Rejection::Error(Box::new(e)))?;
        // (partition, bucket) → rows.
        let mut groups: Vec<(PartitionSpec, u32, Rows)> = Vec::new();
        for (spec, rows) in &routed.groups {
            let mut by_bucket: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
            let mut add = |r: u32| {
                if let Some(Some(b)) = buckets.get(r as usize) {
                    by_bucket.entry(*b).or_default().push(r);
                }
            };
            match rows {
                Rows::All => (0..batch.num_rows()).for_each(|r| add(r as u32)),
                Rows::Some(v) => v.iter().for_each(|r| add(*r)),
            }
            for (b, rows) in by_bucket {
                groups.push((spec.clone(), b, Rows::Some(rows)));
            }
        }
        if groups.is_empty() {
            return Ok(());
        }
        let epoch = self.epoch;
        if self.layout.is_dynamic() {
            let ep = self.epochs.entry(epoch).or_default();
            let specs: BTreeSet<&PartitionSpec> = groups.iter().map(|(s, _, _)| s).collect();
            let new = specs.iter().filter(|s| !ep.parts.contains(**s)).count();
            let count = ep.parts.len() + new;
            if count > self.s.dynamic_partition_limit {
                let err = SinkError::TooManyDynamicPartitions {
                    table: self.label.clone(),
                    limit: self.s.dynamic_partition_limit,
                    count,
                };
                self.fail(err.clone());
                return Err(Rejection::Error(Box::new(err)));
            }
        }
        // Encode every group into the scratch first: a refused write changes no buffer.
        self.enc.begin();
        let mut staged = Vec::with_capacity(groups.len());
        let mut delta = 0u64;
        for (spec, bucket, rows) in &groups {
            let key = (epoch, spec.clone());
            let buf = self.parts.get(&key).and_then(|p| p.buckets.get(bucket));
            let label = &self.label;
            let at = || {
                Location::new(
                    label.clone(),
                    (!spec.is_empty()).then(|| spec.to_tunnel_string()),
                    None,
                    Some(Item::Bucket(*bucket)),
                )
            };
            match self.enc.stage(buf, &extended, rows, at) {
                Ok(st) => {
                    delta += st.growth;
                    staged.push(st);
                }
                Err(e) => {
                    self.enc.end();
                    return Err(Rejection::Error(Box::new(e)));
                }
            }
        }
        if !self.budget.admits(delta) {
            self.enc.end();
            self.budget.refuse(delta);
            let target = self.budget.room_for(delta);
            self.flush_largest(target);
            self.pump();
            return Err(Rejection::BackPressure);
        }
        for ((spec, bucket, _), st) in groups.iter().zip(&staged) {
            let key = (epoch, spec.clone());
            if !self.parts.contains_key(&key) {
                self.parts.insert(key.clone(), Part::new());
                self.epochs
                    .entry(epoch)
                    .or_default()
                    .parts
                    .insert(spec.clone());
                self.session_queue.push_back(key.clone());
            }
            let Some(part) = self.parts.get_mut(&key) else {
                continue;
            };
            let buf = part.buckets.entry(*bucket).or_default();
            self.enc.append(buf, st);
            part.buffered += st.growth;
        }
        self.enc.end();
        self.budget.add_buffered(delta);
        let touched: BTreeSet<PartKey> =
            groups.iter().map(|(s, _, _)| (epoch, s.clone())).collect();
        for (spec, bucket, _) in &groups {
            let key = (epoch, spec.clone());
            let full = self
                .parts
                .get(&key)
                .and_then(|p| p.buckets.get(bucket))
                .is_some_and(|b| b.len() >= self.u.bucket_buffer_size);
            if full {
                self.flush_bucket(&key, *bucket);
            }
        }
        for key in touched {
            // The part's interval timer runs from its oldest buffered row.
            if let Some(iv) = self.s.flush_interval
                && self.parts.get(&key).is_some_and(|p| !p.buckets.is_empty())
            {
                self.io
                    .timers
                    .set_if_absent(Timer::Flush(key.clone()), now.plus(iv));
            }
            let over = self
                .parts
                .get(&key)
                .is_some_and(|p| p.buffered >= self.u.session_buffer_size);
            if over {
                // `upsert.writer.buffer-size`: the session's largest buckets go first, down to
                // half of it.
                let target = self.u.session_buffer_size / 2;
                self.flush_part_largest(&key, target);
            }
        }
        if self.budget.over_high_water() {
            let target = self.budget.low_water();
            self.flush_largest(target);
        }
        self.pump();
        Ok(())
    }

    /// Flushes every bucket; each partition's session is committed once its writes are
    /// acknowledged; `Prepared { checkpoint_id, committables: [] }` follows when every
    /// partition of the epoch is committed (or, with `upsertAsyncCommit`, accepted for
    /// commit). Later writes go to new sessions.
    pub fn barrier(&mut self, checkpoint_id: u64, now: Instant) -> Result<(), SinkError> {
        self.io.clock(now);
        self.phase.check_running("barrier")?;
        io::advance_checkpoint(&mut self.last_checkpoint, checkpoint_id)?;
        self.close_epoch(Close::Checkpoint(checkpoint_id));
        self.epoch += 1;
        self.epochs.insert(self.epoch, Epoch::default());
        self.pump();
        self.check_epochs();
        Ok(())
    }

    /// Flushes and commits everything; `Finished { committables: [] }` follows.
    pub fn end_of_input(&mut self, now: Instant) -> Result<(), SinkError> {
        self.io.clock(now);
        self.phase.check_running("end of input")?;
        self.phase = Phase::Ending;
        self.close_epoch(Close::EndOfInput);
        self.pump();
        self.check_epochs();
        Ok(())
    }

    fn close_epoch(&mut self, close: Close) {
        let epoch = self.epoch;
        let specs: Vec<PartitionSpec> = self
            .epochs
            .get(&epoch)
            .map(|e| e.parts.iter().cloned().collect())
            .unwrap_or_default();
        for spec in &specs {
            let key = (epoch, spec.clone());
            self.flush_part(&key);
            if let Some(p) = self.parts.get_mut(&key) {
                p.closed = true;
            }
            self.maybe_commit(&key);
        }
        let ep = self.epochs.entry(epoch).or_default();
        ep.close = Some(close);
        ep.busy = specs.into_iter().collect();
        let done: Vec<PartitionSpec> = ep
            .busy
            .iter()
            .filter(|s| {
                self.parts
                    .get(&(epoch, (*s).clone()))
                    .is_none_or(|p| p.committed)
            })
            .cloned()
            .collect();
        if let Some(ep) = self.epochs.get_mut(&epoch) {
            for s in done {
                ep.busy.remove(&s);
            }
        }
    }

    // ------------------------------------------------------------------ flushing

    fn flush_part(&mut self, key: &PartKey) {
        self.io.timers.cancel(&Timer::Flush(key.clone()));
        let buckets: Vec<u32> = self
            .parts
            .get(key)
            .map(|p| p.buckets.keys().copied().collect())
            .unwrap_or_default();
        for b in buckets {
            self.flush_bucket(key, b);
        }
    }

    fn flush_part_largest(&mut self, key: &PartKey, target: u64) {
        let Some(p) = self.parts.get(key) else {
            return;
        };
        let sizes: Vec<(u32, u64)> = p.buckets.iter().map(|(b, buf)| (*b, buf.cost())).collect();
        for b in largest_first(sizes, p.buffered, target) {
            self.flush_bucket(key, b);
        }
    }

    fn flush_bucket(&mut self, key: &PartKey, bucket: u32) {
        let loc = self.loc(key, Some(Item::Bucket(bucket)));
        let Some(part) = self.parts.get_mut(key) else {
            return;
        };
        let Some(buf) = part.buckets.remove(&bucket) else {
            return;
        };
        let cost = buf.cost();
        part.buffered = part.buffered.saturating_sub(cost);
        if part.buckets.is_empty() {
            self.io.timers.cancel(&Timer::Flush(key.clone()));
        }
        if buf.rows == 0 {
            self.budget.drop_buffered(cost);
            return;
        }
        let body = match self.enc.finish_body(buf, self.s.compression, || loc) {
            Ok(b) => b,
            Err(e) => {
                self.budget.drop_buffered(cost);
                self.fail(e);
                return;
            }
        };
        self.budget.flushed(body.cost, body.body.len() as u64);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.blocks.insert(
            seq,
            Block {
                key: key.clone(),
                bucket,
                body: body.body,
                rows: body.rows,
                attempts: Attempts::default(),
            },
        );
        let Some(part) = self.parts.get_mut(key) else {
            return;
        };
        part.unacked += 1;
        if matches!(part.sess, Sess::Open(_)) {
            part.ready.insert(seq);
            self.mark_runnable(key);
        } else {
            part.waiting.insert(seq);
        }
    }

    fn flush_largest(&mut self, target: u64) {
        if self.budget.buffered() <= target {
            return;
        }
        let from = (self.epoch, PartitionSpec::new());
        let sizes: Vec<((PartKey, u32), u64)> = self
            .parts
            .range(from..)
            .flat_map(|(k, p)| {
                p.buckets
                    .iter()
                    .map(move |(b, buf)| ((k.clone(), *b), buf.cost()))
            })
            .collect();
        for (key, b) in largest_first(sizes, self.budget.buffered(), target) {
            self.flush_bucket(&key, b);
        }
    }

    fn mark_runnable(&mut self, key: &PartKey) {
        if self.runnable_set.insert(key.clone()) {
            self.runnable.push_back(key.clone());
        }
    }

    // ------------------------------------------------------------------ requests

    fn pump(&mut self) {
        if !matches!(self.phase, Phase::Running | Phase::Ending) {
            return;
        }
        while self.sessions_busy < self.s.max_concurrent_session_requests {
            let Some(key) = self.session_queue.pop_front() else {
                break;
            };
            self.sessions_busy += 1;
            self.send_session(&key);
        }
        while let Some(key) = self.runnable.pop_front() {
            self.runnable_set.remove(&key);
            let Some(part) = self.parts.get_mut(&key) else {
                continue;
            };
            if !matches!(part.sess, Sess::Open(_)) {
                continue;
            }
            // Oldest first; a bucket with a write under way waits (its later blocks too).
            let mut send = Vec::new();
            for &seq in &part.ready {
                if part.in_flight + send.len() >= self.u.flush_concurrent {
                    break;
                }
                let Some(b) = self.blocks.get(&seq) else {
                    continue;
                };
                if part.busy_buckets.insert(b.bucket) {
                    send.push(seq);
                }
            }
            for seq in &send {
                part.ready.remove(seq);
            }
            part.in_flight += send.len();
            for seq in send {
                self.send_put(seq);
            }
        }
        while self.commits_busy < self.u.commit_concurrency {
            let Some(key) = self.commit_queue.pop_front() else {
                break;
            };
            self.commits_busy += 1;
            if let Some(p) = self.parts.get_mut(&key) {
                p.commit = Some(Commit {
                    started: self.io.now,
                    polls: 0,
                    attempts: Attempts::default(),
                    status: "normal".into(),
                });
            }
            self.send_commit(&key);
        }
    }

    fn send_session(&mut self, key: &PartKey) {
        let Some(part) = self.parts.get(key) else {
            return;
        };
        let req = match &part.sess {
            Sess::Creating => {
                create_upsert(&self.s.ctx, &self.s.table, &key.1, self.u.slot_num, None)
            }
            Sess::Reloading(s) => get_upsert(&self.s.ctx, &self.s.table, &key.1, &s.id),
            Sess::AddingPartition { instance: None, .. } => {
                let sql = add_partition_sql(&self.s.ctx, &self.s.table, &key.1, true);
                let guid = format!("maxc-sink-{}-{}", key.0, key.1.to_directory_string());
                let req = submit_sql(&self.s.ctx, &SqlJob::new(DDL_TASK, sql, guid));
                self.io.send(Pending::Ddl(key.clone()), req);
                return;
            }
            Sess::AddingPartition {
                instance: Some(id), ..
            } => {
                let req = get_task_status(&self.s.ctx, id);
                self.io.send(Pending::Ddl(key.clone()), req);
                return;
            }
            Sess::Open(_) => return,
        };
        self.io.send(Pending::Session(key.clone()), req);
    }

    /// A reply to the partition DDL (submission or status poll).
    fn on_ddl(&mut self, key: PartKey, reply: Reply, now: Instant) {
        let Some(part) = self.parts.get_mut(&key) else {
            return;
        };
        let Sess::AddingPartition { instance, polls } = &mut part.sess else {
            return;
        };
        let result: Result<(), Failure> = match (&reply, instance.is_some()) {
            (Err(t), _) => Err(Failure::Transport(t.clone())),
            (Ok(resp), false) => match parse_submit(resp) {
                Ok(id) => {
                    *instance = Some(id);
                    self.io.timers.set(Timer::Session(key), now);
                    return;
                }
                Err(e) => Err(Failure::Api(e)),
            },
            (Ok(resp), true) => match parse_task_status(resp) {
                Ok(st) if st.succeeded() => {
                    part.sess = Sess::Creating;
                    part.attempts = Attempts::default();
                    part.partition_added = true;
                    self.io.timers.set(Timer::Session(key), now);
                    return;
                }
                Ok(st) if st.failed() => {
                    let at = self.loc(&key, None);
                    let detail = st
                        .tasks
                        .iter()
                        .map(|t| format!("{} {:?}", t.name, t.status))
                        .collect::<Vec<_>>()
                        .join(", ");
                    return self.fail(SinkError::SessionState {
                        op: Operation::AddPartition,
                        at,
                        status: format!("{:?}", st.status),
                        reason: format!("the partition could not be created ({detail})"),
                    });
                }
                Ok(_) => {
                    *polls += 1;
                    let d = DDL_POLL.delay(*polls);
                    self.io.timers.set(Timer::Session(key), now.plus(d));
                    return;
                }
                Err(e) => Err(Failure::Api(e)),
            },
        };
        if let Err(f) = result {
            let next = decide(&self.s.retry, &mut part.attempts, &f, None);
            let attempts = part.attempts;
            match next {
                Next::Retry(d) | Next::Reload(d) => {
                    self.io.timers.set(Timer::Session(key), now.plus(d));
                }
                Next::Reroute(_) => self.io.timers.set(Timer::Session(key), now),
                Next::NotFound | Next::AlreadyDone | Next::GiveUp => {
                    let at = self.loc(&key, None);
                    self.fail(failure_error(Operation::AddPartition, at, attempts, f));
                }
            }
        }
    }

    fn send_put(&mut self, seq: u64) {
        let Some(b) = self.blocks.get(&seq) else {
            return;
        };
        let Some(sess) = self.parts.get(&b.key).and_then(Part::session) else {
            return;
        };
        let Some(slot) = sess.slot_for_bucket(b.bucket) else {
            return;
        };
        let req = write_upsert(
            &self.s.ctx,
            &self.s.table,
            &UpsertWrite {
                partition: b.key.1.clone(),
                upsert_id: sess.id.clone(),
                bucket: b.bucket,
                slot_id: slot.slot_id.clone(),
                routed_server: slot.worker_addr.clone(),
                record_count: b.rows,
                content_encoding: self.s.compression.content_encoding().map(str::to_string),
            },
            b.body.clone(),
        );
        self.io.send(Pending::Put(seq), req);
    }

    fn send_commit(&mut self, key: &PartKey) {
        let Some(sess) = self.parts.get(key).and_then(Part::session) else {
            return;
        };
        let server = sess
            .slot_for_bucket(0)
            .or(sess.slots.first())
            .map(|s| s.worker_addr.clone())
            .unwrap_or_default();
        let req = commit_upsert(&self.s.ctx, &self.s.table, &key.1, &sess.id, &server);
        self.io.send(Pending::Commit(key.clone()), req);
    }

    /// Checks a new session against what rows were routed with.
    fn check_session(&self, key: &PartKey, sess: &UpsertSession) -> Result<(), SinkError> {
        let mut at = self.loc(key, None);
        at.session = Some(sess.id.clone());
        let mismatch = |reason: String| SinkError::SessionMismatch {
            at: at.clone(),
            reason,
        };
        if sess.bucket_count() != self.u.bucket_count {
            return Err(mismatch(format!(
                "the session has {} buckets, the writer routes rows to {} (`upsert.write.bucket.num` / the table's bucket count)",
                sess.bucket_count(),
                self.u.bucket_count
            )));
        }
        let same_key = sess.hash_key.is_empty()
            || (sess.hash_key.len() == self.u.primary_key.len()
                && sess
                    .hash_key
                    .iter()
                    .zip(&self.u.primary_key)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b)));
        if !same_key {
            return Err(mismatch(format!(
                "the session hashes by {:?}, the table's primary key is {:?}",
                sess.hash_key, self.u.primary_key
            )));
        }
        let hasher = match sess.hasher {
            SessionHasher::Default => Hasher::Default,
            SessionHasher::Legacy => Hasher::Legacy,
        };
        if hasher != self.u.hasher {
            return Err(mismatch(format!(
                "the session uses the {} hasher, the writer routed rows with the {} hasher",
                hasher, self.u.hasher
            )));
        }
        if self.u.partial_column {
            for (i, id) in sess.column_ids.iter().enumerate() {
                if let Ok(n) = id.trim().parse::<i64>()
                    && n != i as i64
                {
                    return Err(mismatch(format!(
                        "column {i} has column_id {n}; partial-column updates assume column ids equal to column positions"
                    )));
                }
            }
        }
        Ok(())
    }

    fn on_session(&mut self, key: PartKey, reply: Reply, now: Instant) {
        let result = match reply {
            Ok(resp) => parse_upsert_session(&resp).map_err(Failure::Api),
            Err(t) => Err(Failure::Transport(t)),
        };
        let creating = matches!(self.parts.get(&key).map(|p| &p.sess), Some(Sess::Creating));
        let op = if creating {
            Operation::CreateUpsertSession
        } else {
            Operation::ReloadUpsertSession
        };
        match result {
            Ok(sess) if sess.status == SessionStatus::Normal => {
                if let Err(e) = self.check_session(&key, &sess) {
                    return self.fail(e);
                }
                self.sessions_busy = self.sessions_busy.saturating_sub(1);
                if let Some(part) = self.parts.get_mut(&key) {
                    part.sess = Sess::Open(sess);
                    part.attempts = Attempts::default();
                    let waiting = std::mem::take(&mut part.waiting);
                    part.ready.extend(waiting);
                }
                self.mark_runnable(&key);
                self.maybe_commit(&key);
            }
            Ok(sess) => {
                let mut at = self.loc(&key, None);
                at.session = Some(sess.id.clone());
                self.fail(SinkError::SessionState {
                    op,
                    at,
                    status: sess.status.to_string(),
                    reason: "an upsert session must be normal to take writes".into(),
                });
            }
            Err(f) => {
                let Some(part) = self.parts.get_mut(&key) else {
                    return;
                };
                let next = decide(&self.s.retry, &mut part.attempts, &f, None);
                let attempts = part.attempts;
                let missing_partition = creating
                    && !part.partition_added
                    && self.s.create_partition
                    && !key.1.is_empty()
                    && matches!(&f, Failure::Api(e) if e.code == codes::NO_SUCH_PARTITION);
                if missing_partition {
                    // Upsert sessions cannot create partitions: add it with DDL, then create
                    // the session again.
                    part.sess = Sess::AddingPartition {
                        instance: None,
                        polls: 0,
                    };
                    part.attempts = Attempts::default();
                    self.io.timers.set(Timer::Session(key), now);
                    return;
                }
                match next {
                    Next::Retry(d) | Next::Reload(d) => {
                        self.io.timers.set(Timer::Session(key), now.plus(d));
                    }
                    Next::Reroute(_) => self.io.timers.set(Timer::Session(key), now),
                    Next::NotFound | Next::AlreadyDone | Next::GiveUp => {
                        let at = self.loc(&key, None);
                        self.fail(failure_error(op, at, attempts, f));
                    }
                }
            }
        }
    }

    fn on_put(&mut self, seq: u64, reply: Reply, now: Instant) {
        let result = match reply {
            Ok(resp) => parse_empty(&resp).map_err(Failure::Api),
            Err(t) => Err(Failure::Transport(t)),
        };
        match result {
            Ok(()) => {
                let Some(b) = self.blocks.remove(&seq) else {
                    return;
                };
                if let Some(part) = self.parts.get_mut(&b.key) {
                    part.in_flight = part.in_flight.saturating_sub(1);
                    part.unacked = part.unacked.saturating_sub(1);
                    part.busy_buckets.remove(&b.bucket);
                }
                if self.budget.release(b.body.len() as u64) {
                    self.io.event(SinkEvent::WriteReady);
                }
                self.mark_runnable(&b.key);
                self.maybe_commit(&b.key);
            }
            Err(f) => self.put_failed(seq, f, now),
        }
    }

    fn put_failed(&mut self, seq: u64, f: Failure, now: Instant) {
        let Some(b) = self.blocks.get_mut(&seq) else {
            return;
        };
        let next = decide(&self.u.write_retry, &mut b.attempts, &f, None);
        let (key, bucket, attempts) = (b.key.clone(), b.bucket, b.attempts);
        match next {
            Next::Retry(d) => self.io.timers.set(Timer::Put(seq), now.plus(d)),
            Next::Reroute(addr) => {
                // 308: the bucket's slot moved.
                if let Some(part) = self.parts.get_mut(&key)
                    && let Sess::Open(sess) = &mut part.sess
                    && let Some(slot) = sess.slots.iter_mut().find(|s| s.buckets.contains(&bucket))
                {
                    slot.worker_addr = addr;
                }
                self.io.timers.set(Timer::Put(seq), now);
            }
            Next::Reload(d) => {
                // New routes: reload the session once, the block waits for it.
                if let Some(part) = self.parts.get_mut(&key) {
                    part.in_flight = part.in_flight.saturating_sub(1);
                    part.busy_buckets.remove(&bucket);
                    part.waiting.insert(seq);
                    if let Sess::Open(s) = &part.sess {
                        part.sess = Sess::Reloading(s.clone());
                        part.attempts = Attempts::default();
                        self.io.timers.set(Timer::Enqueue(key), now.plus(d));
                    }
                }
            }
            Next::NotFound | Next::AlreadyDone | Next::GiveUp => {
                let at = self.loc(&key, Some(Item::Bucket(bucket)));
                self.fail(failure_error(Operation::WriteUpsertBucket, at, attempts, f));
            }
        }
    }

    /// Queues the commit of a closed partition once its writes are all acknowledged.
    fn maybe_commit(&mut self, key: &PartKey) {
        // A partition's sessions commit in epoch order, so a later upsert of a key is never
        // overtaken by an earlier one.
        let earlier_pending = self.epochs.range(..key.0).any(|(e, _)| {
            self.parts
                .get(&(*e, key.1.clone()))
                .is_some_and(|p| !p.committed)
        });
        if earlier_pending {
            return;
        }
        let Some(p) = self.parts.get_mut(key) else {
            return;
        };
        let ready = p.closed
            && !p.commit_queued
            && !p.committed
            && p.unacked == 0
            && p.buckets.is_empty()
            && matches!(p.sess, Sess::Open(_));
        if ready {
            p.commit_queued = true;
            self.commit_queue.push_back(key.clone());
        }
    }

    fn committed(&mut self, key: &PartKey) {
        self.commits_busy = self.commits_busy.saturating_sub(1);
        if let Some(p) = self.parts.get_mut(key) {
            p.committed = true;
            p.commit = None;
        }
        if let Some(ep) = self.epochs.get_mut(&key.0) {
            ep.busy.remove(&key.1);
        }
        // The partition's next epoch may commit now.
        let later: Vec<u64> = self.epochs.range(key.0 + 1..).map(|(e, _)| *e).collect();
        if let Some(e) = later
            .into_iter()
            .find(|e| self.parts.contains_key(&(*e, key.1.clone())))
        {
            self.maybe_commit(&(e, key.1.clone()));
        }
    }

    fn timeout_error(&self, key: &PartKey, now: Instant) -> Option<SinkError> {
        let c = self.parts.get(key)?.commit.as_ref()?;
        let waited = now.since(c.started);
        (waited >= self.u.commit_timeout).then(|| SinkError::UpsertCommitTimeout {
            at: self.loc(key, None),
            status: c.status.clone(),
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            limit_ms: u64::try_from(self.u.commit_timeout.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Schedules the next commit request at `at`, or at the commit deadline when that comes
    /// first (where it fails with [`SinkError::UpsertCommitTimeout`]).
    fn commit_again(&mut self, key: PartKey, at: Instant) {
        let deadline = self
            .parts
            .get(&key)
            .and_then(|p| p.commit.as_ref())
            .map(|c| c.started.plus(self.u.commit_timeout));
        let at = deadline.map_or(at, |d| at.min(d));
        self.io.timers.set(Timer::Commit(key), at);
    }

    fn on_commit(&mut self, key: PartKey, reply: Reply, now: Instant) {
        let result = match reply {
            Ok(resp) => parse_upsert_session(&resp).map_err(Failure::Api),
            Err(t) => Err(Failure::Transport(t)),
        };
        match result {
            Ok(sess) => {
                let status = sess.status.clone();
                if let Some(c) = self.parts.get_mut(&key).and_then(|p| p.commit.as_mut()) {
                    c.status = status.to_string();
                }
                match status {
                    SessionStatus::Committed => self.committed(&key),
                    SessionStatus::Committing if self.u.async_commit => self.committed(&key),
                    SessionStatus::Committing | SessionStatus::Normal => {
                        // Not there yet: ask again after the poll backoff.
                        let Some(c) = self.parts.get_mut(&key).and_then(|p| p.commit.as_mut())
                        else {
                            return;
                        };
                        c.polls += 1;
                        let d = self.u.commit_poll.delay(c.polls);
                        self.commit_again(key, now.plus(d));
                    }
                    other => {
                        let mut at = self.loc(&key, None);
                        at.session = Some(sess.id.clone());
                        self.fail(SinkError::SessionState {
                            op: Operation::CommitUpsertSession,
                            at,
                            status: other.to_string(),
                            reason: "the upsert session cannot be committed".into(),
                        });
                    }
                }
            }
            Err(f) => {
                let class = match &f {
                    Failure::Api(e) => Some(classify_commit_error(e)),
                    Failure::Transport(_) => None,
                };
                if class == Some(ErrorClass::AlreadyDone) {
                    // `UpsertSessionNotFound` after a commit: committed and cleaned up.
                    return self.committed(&key);
                }
                let Some(c) = self.parts.get_mut(&key).and_then(|p| p.commit.as_mut()) else {
                    return;
                };
                let next = decide(&self.u.commit_retry, &mut c.attempts, &f, class);
                let attempts = c.attempts;
                match next {
                    Next::Retry(d) | Next::Reload(d) => self.commit_again(key, now.plus(d)),
                    Next::Reroute(_) => self.commit_again(key, now),
                    Next::NotFound | Next::AlreadyDone | Next::GiveUp => {
                        let at = self.loc(&key, None);
                        self.fail(failure_error(
                            Operation::CommitUpsertSession,
                            at,
                            attempts,
                            f,
                        ));
                    }
                }
            }
        }
    }

    fn check_epochs(&mut self) {
        while matches!(self.phase, Phase::Running | Phase::Ending) {
            let Some((&epoch, ep)) = self.epochs.first_key_value() else {
                return;
            };
            let (Some(close), true) = (ep.close.clone(), ep.busy.is_empty()) else {
                return;
            };
            let Some(ep) = self.epochs.remove(&epoch) else {
                return;
            };
            for spec in ep.parts {
                self.parts.remove(&(epoch, spec));
            }
            match close {
                Close::Checkpoint(checkpoint_id) => self.io.event(SinkEvent::Prepared {
                    checkpoint_id,
                    committables: Vec::new(),
                }),
                Close::EndOfInput => {
                    self.phase = Phase::Finished;
                    self.io.event(SinkEvent::Finished {
                        committables: Vec::new(),
                    });
                }
            }
        }
    }

    fn fail(&mut self, err: SinkError) {
        if matches!(self.phase, Phase::Failed(_) | Phase::Finished) {
            return;
        }
        self.phase = Phase::Failed(err.clone());
        self.io.abandon();
        self.io.event(SinkEvent::Failed(err));
        for part in self.parts.values_mut() {
            for (_, b) in std::mem::take(&mut part.buckets) {
                self.budget.drop_buffered(b.cost());
            }
        }
        for (_, b) in std::mem::take(&mut self.blocks) {
            self.budget.release(b.body.len() as u64);
        }
        self.runnable.clear();
        self.runnable_set.clear();
        self.session_queue.clear();
        self.commit_queue.clear();
    }

    fn fire(&mut self, t: Timer, now: Instant) {
        match t {
            Timer::Flush(key) => self.flush_part(&key),
            Timer::Session(key) => self.send_session(&key),
            Timer::Enqueue(key) => self.session_queue.push_back(key),
            Timer::Put(seq) => {
                // Send again unless the session is being reloaded (then wait for it).
                let Some(key) = self.blocks.get(&seq).map(|b| b.key.clone()) else {
                    return;
                };
                let open = matches!(self.parts.get(&key).map(|p| &p.sess), Some(Sess::Open(_)));
                if open {
                    self.send_put(seq);
                } else if let Some(p) = self.parts.get_mut(&key) {
                    p.in_flight = p.in_flight.saturating_sub(1);
                    if let Some(b) = self.blocks.get(&seq) {
                        p.busy_buckets.remove(&b.bucket);
                    }
                    p.waiting.insert(seq);
                }
            }
            Timer::Commit(key) => match self.timeout_error(&key, now) {
                Some(e) => self.fail(e),
                None => self.send_commit(&key),
            },
        }
    }
}

impl Machine for UpsertWriter {
    type Event = SinkEvent;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        io::handle_reply(self, token, reply, now);
    }

    fn poll(&mut self, now: Instant) -> Option<Output<SinkEvent>> {
        io::poll(self, now)
    }

    fn next_deadline(&self) -> Option<Instant> {
        io::next_deadline(self)
    }
}

impl Driven for UpsertWriter {
    type Timer = Timer;
    type Pending = Pending;

    fn io(&self) -> &Io<Timer, Pending> {
        &self.io
    }

    fn io_mut(&mut self) -> &mut Io<Timer, Pending> {
        &mut self.io
    }

    fn phase(&self) -> &Phase {
        &self.phase
    }

    fn on_reply(&mut self, pending: Pending, reply: Reply, now: Instant) {
        match pending {
            Pending::Session(key) => self.on_session(key, reply, now),
            Pending::Ddl(key) => self.on_ddl(key, reply, now),
            Pending::Put(seq) => self.on_put(seq, reply, now),
            Pending::Commit(key) => self.on_commit(key, reply, now),
        }
    }

    fn on_timer(&mut self, timer: Timer, now: Instant) {
        self.fire(timer, now);
    }

    fn settle(&mut self) {
        self.pump();
        self.check_epochs();
    }
}
