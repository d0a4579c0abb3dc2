//! The batch-tunnel writer (see the [module docs](super) for its state table).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use arrow_array::RecordBatch;
use bytes::Bytes;

use super::budget::{Budget, largest_first};
use super::error::{Item, Location, Operation, SinkError};
use super::event::{Committable, MemoryUsage, Rejection, SinkEvent, WriteRejected};
use super::input::{InputLayout, Routed};
use super::io::{self, Buffer, Driven, Encoding, Io, Phase};
use super::retry::{Attempts, Failure, Next, decide, failure_error};
use super::settings::WriterSettings;
use super::state::{WriterState, WriterStateV1};
use crate::api::SessionStatus;
use crate::api::rest::TableMeta;
use crate::api::tunnel::{
    BlockOptions, UploadOptions, create_upload, get_upload, parse_empty, parse_upload_session,
    upload_block,
};
use crate::machine::{Instant, Machine, Output, Reply, Token, TokenSource};
use crate::options::{SinkConfig, SinkTunnel};
use crate::partition::PartitionSpec;

/// (epoch, partition): one upload "part". Epoch `n` holds the rows written between barrier
/// `n - 1` and barrier `n`.
type PartKey = (u64, PartitionSpec);

#[derive(Debug, Clone)]
enum Close {
    Checkpoint(u64),
    EndOfInput,
}

#[derive(Debug, Default)]
struct Epoch {
    close: Option<Close>,
    /// Every partition written in the epoch.
    parts: BTreeSet<PartitionSpec>,
    /// Partitions of a closing epoch with work left.
    busy: BTreeSet<PartitionSpec>,
}

#[derive(Debug, Clone)]
struct Session {
    id: String,
    next_block: u32,
    acked: BTreeSet<u32>,
    rows: u64,
}

#[derive(Debug, Default)]
struct Part {
    buffer: Option<Buffer>,
    sessions: Vec<Session>,
    /// `Some` while a session create is queued, in flight or backing off.
    creating: Option<Attempts>,
    /// Flushed blocks without a block id (no session with free ids yet), oldest first.
    waiting: VecDeque<u64>,
    /// Flushed blocks not acknowledged.
    unacked: usize,
}

impl Part {
    fn idle(&self) -> bool {
        self.buffer.is_none() && self.unacked == 0 && self.creating.is_none()
    }
}

#[derive(Debug)]
struct Block {
    key: PartKey,
    body: Bytes,
    rows: u64,
    /// (index into the part's sessions, block id) once assigned.
    slot: Option<(usize, u32)>,
    attempts: Attempts,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Flush(PartKey),
    Create(PartKey),
    Put(u64),
    Reload(u64),
}

#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Create(PartKey),
    Put(u64),
    Reload(u64),
}

/// Writes through the batch tunnel: one upload session per partition per checkpoint epoch,
/// blocks with explicit ids, [`Committable`]s at each barrier.
///
/// Built with [`BatchWriter::new`] (or [`SinkWriter::new`](super::SinkWriter::new)); driven
/// through [`Machine`]. See the [module docs](super) for the state table.
#[derive(Debug)]
pub struct BatchWriter {
    s: WriterSettings,
    label: String,
    layout: InputLayout,
    io: Io<Timer, Pending>,
    phase: Phase,
    epoch: u64,
    last_checkpoint: Option<u64>,
    epochs: BTreeMap<u64, Epoch>,
    parts: BTreeMap<PartKey, Part>,
    blocks: BTreeMap<u64, Block>,
    next_seq: u64,
    /// Blocks with an id, waiting for a PUT slot.
    ready: VecDeque<u64>,
    /// PUT slots taken (in flight, backing off, or reloading).
    puts_busy: usize,
    create_queue: VecDeque<PartKey>,
    creates_busy: usize,
    budget: Budget,
    /// The encoder and scratch space all buffers share.
    enc: Encoding,
    /// Bug switch `writer_reuses_session_across_barrier`: the last session of each partition.
    reuse: BTreeMap<PartitionSpec, (String, u32)>,
}

impl BatchWriter {
    /// A writer for `meta`'s table with `config`'s options.
    pub fn new(config: &SinkConfig, meta: &TableMeta) -> Result<Self, SinkError> {
        let s = WriterSettings::new(config, meta)?;
        Self::with_settings(s)
    }

    /// A writer with explicit settings (for tests that lower limits).
    pub fn with_settings(s: WriterSettings) -> Result<Self, SinkError> {
        if s.tunnel != SinkTunnel::Batch {
            return Err(SinkError::Config(format!(
                "the batch writer needs the batch tunnel, the config selects {:?}",
                s.tunnel
            )));
        }
        let label = s.table_label();
        let layout = InputLayout::new(label.clone(), &s.schema, s.partition.clone(), None);
        let mut epochs = BTreeMap::new();
        epochs.insert(0, Epoch::default());
        Ok(Self {
            budget: Budget::new(s.memory_budget),
            enc: Encoding::new(layout.columns()),
            s,
            label,
            layout,
            io: Io::new(TokenSource::default()),
            phase: Phase::Running,
            epoch: 0,
            last_checkpoint: None,
            epochs,
            parts: BTreeMap::new(),
            blocks: BTreeMap::new(),
            next_seq: 0,
            ready: VecDeque::new(),
            puts_busy: 0,
            create_queue: VecDeque::new(),
            creates_busy: 0,
            reuse: BTreeMap::new(),
        })
    }

    /// A writer restored from [`BatchWriter::snapshot`]. Upload sessions opened after that
    /// snapshot are abandoned (never committed); the engine re-commits the restored
    /// checkpoint's committables through the committer.
    pub fn restore(
        config: &SinkConfig,
        meta: &TableMeta,
        state: WriterState,
    ) -> Result<Self, SinkError> {
        let mut w = Self::new(config, meta)?;
        let v1 = state.into_v1(SinkTunnel::Batch, &w.label)?;
        w.last_checkpoint = v1.last_checkpoint_id;
        Ok(w)
    }

    /// The durable part of the writer's state (versioned serde). Buffered rows are not in it:
    /// after a restore the engine replays everything after the restored checkpoint.
    pub fn snapshot(&self) -> WriterState {
        WriterState::V1(WriterStateV1 {
            tunnel: "batch".into(),
            table: self.label.clone(),
            last_checkpoint_id: self.last_checkpoint,
            stream_sessions: BTreeMap::new(),
        })
    }

    /// Memory accounting.
    pub fn memory(&self) -> MemoryUsage {
        self.budget.usage()
    }

    /// Per buffer (encoded length, capacity of its chunks, chunks), and the bytes of every
    /// body not acknowledged: what the accounting must match.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (Vec<(u64, u64, u64)>, u64) {
        let buffers = self
            .parts
            .values()
            .filter_map(|p| p.buffer.as_ref())
            .map(|b| {
                let (caps, chunks) = b.allocated();
                (b.len(), caps as u64, chunks as u64)
            })
            .collect();
        let bodies = self.blocks.values().map(|b| b.body.len() as u64).sum();
        (buffers, bodies)
    }

    /// The settings in use.
    pub fn settings(&self) -> &WriterSettings {
        &self.s
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

    fn loc(&self, key: &PartKey, session: Option<usize>, block: Option<u32>) -> Location {
        Location::new(
            self.label.clone(),
            (!key.1.is_empty()).then(|| key.1.to_tunnel_string()),
            session
                .and_then(|i| self.parts.get(key).and_then(|p| p.sessions.get(i)))
                .map(|s| s.id.clone()),
            block.map(Item::Block),
        )
    }

    // ------------------------------------------------------------------ inputs

    /// Buffers the rows of `batch` (all INSERTs). Rows are encoded into their partition's
    /// buffer at once; a new partition of the epoch gets its upload session requested at once.
    pub fn write(&mut self, batch: RecordBatch, now: Instant) -> Result<(), WriteRejected> {
        let now = self.io.clock(now);
        if let Err(e) = self.phase.check_running("write") {
            return Err(WriteRejected {
                batch,
                reason: Rejection::Error(Box::new(e)),
            });
        }
        let routed = match self.layout.route(&batch) {
            Ok(r) => r,
            Err(e) => {
                return Err(WriteRejected {
                    batch,
                    reason: Rejection::Error(Box::new(e)),
                });
            }
        };
        match self.take(&routed, now) {
            Ok(()) => Ok(()),
            Err(reason) => Err(WriteRejected { batch, reason }),
        }
    }

    fn take(&mut self, routed: &Routed, now: Instant) -> Result<(), Rejection> {
        if routed.groups.is_empty() {
            return Ok(());
        }
        let epoch = self.epoch;
        if self.layout.is_dynamic() {
            let ep = self.epochs.entry(epoch).or_default();
            let new = routed
                .groups
                .iter()
                .filter(|(s, _)| !ep.parts.contains(s))
                .count();
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
        let mut staged = Vec::with_capacity(routed.groups.len());
        let mut delta = 0u64;
        for (spec, rows) in &routed.groups {
            let key = (epoch, spec.clone());
            let buf = self.parts.get(&key).and_then(|p| p.buffer.as_ref());
            let label = &self.label;
            let at = || {
                Location::new(
                    label.clone(),
                    (!spec.is_empty()).then(|| spec.to_tunnel_string()),
                    None,
                    None,
                )
            };
            match self.enc.stage(buf, &routed.data, rows, at) {
                Ok(st) => {
                    delta += st.growth;
                    staged.push((key, st));
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
            self.flush_largest(target, now);
            self.pump();
            return Err(Rejection::BackPressure);
        }
        let mut touched = Vec::with_capacity(staged.len());
        for (key, st) in staged {
            let (new_part, part) = match self.parts.entry(key) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    let key = v.key().clone();
                    self.budget.add_partition(self.s.partition_cost);
                    (Some(key), v.insert(Part::default()))
                }
                std::collections::btree_map::Entry::Occupied(o) => (None, o.into_mut()),
            };
            let new_buffer = part.buffer.is_none();
            let buf = part.buffer.get_or_insert_with(Buffer::default);
            self.enc.append(buf, &st);
            let full = buf.len() >= self.s.batch_size;
            touched.push((new_part, new_buffer, full));
        }
        self.enc.end();
        self.budget.add_buffered(delta);
        for ((spec, _), (new_part, new_buffer, full)) in routed.groups.iter().zip(touched) {
            let timer = new_buffer && self.s.flush_interval.is_some();
            if new_part.is_none() && !timer && !full {
                continue;
            }
            let key = (epoch, spec.clone());
            if new_part.is_some() {
                self.epochs
                    .entry(epoch)
                    .or_default()
                    .parts
                    .insert(spec.clone());
                self.open_part(&key);
            }
            if let (true, Some(iv)) = (new_buffer, self.s.flush_interval) {
                self.io.timers.set(Timer::Flush(key.clone()), now.plus(iv));
            }
            if full {
                self.flush_part(&key);
            }
        }
        if self.budget.over_high_water() {
            let target = self.budget.low_water();
            self.flush_largest(target, now);
        }
        self.pump();
        Ok(())
    }

    /// Flushes every buffer of the epoch and closes it: its sessions are never used again.
    /// `Prepared { checkpoint_id, committables }` follows once every block of the epoch is
    /// acknowledged. Writes after the barrier go to the next epoch and new sessions.
    ///
    /// Errors: the writer failed or ended, or `checkpoint_id` does not increase.
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

    /// Flushes everything; `Finished { committables }` follows once every block is
    /// acknowledged (after the `Prepared` of earlier barriers). No writes or barriers after it.
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
            self.flush_part(&(epoch, spec.clone()));
        }
        let busy: BTreeSet<PartitionSpec> = specs
            .into_iter()
            .filter(|s| {
                self.parts
                    .get(&(epoch, s.clone()))
                    .is_some_and(|p| !p.idle())
            })
            .collect();
        let ep = self.epochs.entry(epoch).or_default();
        ep.close = Some(close);
        ep.busy = busy;
    }

    // ------------------------------------------------------------------ flushing

    fn open_part(&mut self, key: &PartKey) {
        if self.s.bugs.writer_reuses_session_across_barrier
            && let Some((id, next)) = self.reuse.get(&key.1).cloned()
            && let Some(part) = self.parts.get_mut(key)
        {
            part.sessions.push(Session {
                id,
                next_block: next,
                acked: BTreeSet::new(),
                rows: 0,
            });
            return;
        }
        self.request_create(key);
    }

    fn request_create(&mut self, key: &PartKey) {
        if let Some(part) = self.parts.get_mut(key)
            && part.creating.is_none()
        {
            part.creating = Some(Attempts::default());
            self.create_queue.push_back(key.clone());
        }
    }

    fn flush_part(&mut self, key: &PartKey) {
        self.io.timers.cancel(&Timer::Flush(key.clone()));
        let loc = self.loc(key, None, None);
        let Some(buf) = self.parts.get_mut(key).and_then(|p| p.buffer.take()) else {
            return;
        };
        let cost = buf.cost();
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
                body: body.body,
                rows: body.rows,
                slot: None,
                attempts: Attempts::default(),
            },
        );
        if let Some(part) = self.parts.get_mut(key) {
            part.waiting.push_back(seq);
            part.unacked += 1;
        }
        self.assign_blocks(key);
    }

    /// Gives waiting blocks of `key` block ids from its newest session; asks for another
    /// session when the ids run out.
    fn assign_blocks(&mut self, key: &PartKey) {
        let max = self.s.max_blocks_per_session;
        let mut need_session = false;
        if let Some(part) = self.parts.get_mut(key) {
            while let Some(&seq) = part.waiting.front() {
                let idx = part.sessions.len().wrapping_sub(1);
                match part.sessions.last_mut() {
                    Some(sess) if sess.next_block < max => {
                        let id = sess.next_block;
                        sess.next_block += 1;
                        part.waiting.pop_front();
                        if let Some(b) = self.blocks.get_mut(&seq) {
                            b.slot = Some((idx, id));
                        }
                        self.ready.push_back(seq);
                        if self.s.bugs.writer_reuses_session_across_barrier {
                            self.reuse
                                .insert(key.1.clone(), (sess.id.clone(), sess.next_block));
                        }
                    }
                    _ => {
                        need_session = true;
                        break;
                    }
                }
            }
        }
        if need_session {
            self.request_create(key);
        }
    }

    /// Flushes the largest open buffers until at most `target` bytes stay buffered.
    fn flush_largest(&mut self, target: u64, _now: Instant) {
        if self.budget.buffered() <= target {
            return;
        }
        let from = (self.epoch, PartitionSpec::new());
        // Keys are cloned only for the buffers chosen (thousands of partitions: most stay).
        let sizes: Vec<(&PartKey, u64)> = self
            .parts
            .range(from..)
            .filter_map(|(k, p)| p.buffer.as_ref().map(|b| (k, b.cost())))
            .collect();
        let chosen: Vec<PartKey> = largest_first(sizes, self.budget.buffered(), target)
            .into_iter()
            .cloned()
            .collect();
        for key in chosen {
            self.flush_part(&key);
        }
    }

    // ------------------------------------------------------------------ requests

    fn pump(&mut self) {
        if !matches!(self.phase, Phase::Running | Phase::Ending) {
            return;
        }
        while self.creates_busy < self.s.max_concurrent_session_requests {
            let Some(key) = self.create_queue.pop_front() else {
                break;
            };
            self.creates_busy += 1;
            self.send_create(&key);
        }
        while self.puts_busy < self.s.max_concurrent_puts {
            let Some(seq) = self.ready.pop_front() else {
                break;
            };
            self.puts_busy += 1;
            self.send_put(seq);
        }
    }

    fn send_create(&mut self, key: &PartKey) {
        let req = create_upload(
            &self.s.ctx,
            &self.s.table,
            &UploadOptions {
                partition: key.1.clone(),
                overwrite: false,
                create_partition: self.s.create_partition && !key.1.is_empty(),
            },
        );
        self.io.send(Pending::Create(key.clone()), req);
    }

    fn send_put(&mut self, seq: u64) {
        let Some(b) = self.blocks.get(&seq) else {
            return;
        };
        let Some((idx, id)) = b.slot else {
            return;
        };
        let Some(sess) = self.parts.get(&b.key).and_then(|p| p.sessions.get(idx)) else {
            return;
        };
        let req = upload_block(
            &self.s.ctx,
            &self.s.table,
            &b.key.1,
            &sess.id,
            id,
            &BlockOptions {
                arrow: false,
                content_encoding: self.s.compression.content_encoding().map(str::to_string),
                block_version: None,
            },
            b.body.clone(),
        );
        self.io.send(Pending::Put(seq), req);
    }

    fn send_reload(&mut self, seq: u64) {
        let Some(b) = self.blocks.get(&seq) else {
            return;
        };
        let Some((idx, _)) = b.slot else {
            return;
        };
        let Some(sess) = self.parts.get(&b.key).and_then(|p| p.sessions.get(idx)) else {
            return;
        };
        let req = get_upload(&self.s.ctx, &self.s.table, &b.key.1, &sess.id);
        self.io.send(Pending::Reload(seq), req);
    }

    fn on_create(&mut self, key: PartKey, reply: Reply, now: Instant) {
        let result = match reply {
            Ok(resp) => parse_upload_session(&resp).map_err(Failure::Api),
            Err(t) => Err(Failure::Transport(t)),
        };
        match result {
            Ok(sess) => {
                if !matches!(sess.status, SessionStatus::Normal | SessionStatus::Unknown) {
                    let mut at = self.loc(&key, None, None);
                    at.session = Some(sess.id.clone());
                    self.fail(SinkError::SessionState {
                        op: Operation::CreateUploadSession,
                        at,
                        status: sess.status.to_string(),
                        reason: "a new upload session must be normal".into(),
                    });
                    return;
                }
                self.creates_busy = self.creates_busy.saturating_sub(1);
                if let Some(part) = self.parts.get_mut(&key) {
                    part.creating = None;
                    part.sessions.push(Session {
                        id: sess.id,
                        next_block: 0,
                        acked: BTreeSet::new(),
                        rows: 0,
                    });
                }
                self.assign_blocks(&key);
                self.refresh(&key);
            }
            Err(f) => {
                let mut attempts = self
                    .parts
                    .get(&key)
                    .and_then(|p| p.creating)
                    .unwrap_or_default();
                let next = decide(&self.s.retry, &mut attempts, &f, None);
                if let Some(part) = self.parts.get_mut(&key) {
                    part.creating = Some(attempts);
                }
                match next {
                    Next::Retry(d) | Next::Reload(d) => {
                        self.io.timers.set(Timer::Create(key), now.plus(d));
                    }
                    Next::Reroute(_) => self.io.timers.set(Timer::Create(key), now),
                    Next::NotFound | Next::AlreadyDone | Next::GiveUp => {
                        let at = self.loc(&key, None, None);
                        self.fail(failure_error(
                            Operation::CreateUploadSession,
                            at,
                            attempts,
                            f,
                        ));
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
            Ok(()) => self.ack(seq),
            Err(f) => self.retry_block(seq, Operation::UploadBlock, f, now),
        }
    }

    fn on_reload(&mut self, seq: u64, reply: Reply, now: Instant) {
        let result = match reply {
            Ok(resp) => parse_upload_session(&resp).map_err(Failure::Api),
            Err(t) => Err(Failure::Transport(t)),
        };
        match result {
            Ok(sess) if matches!(sess.status, SessionStatus::Normal | SessionStatus::Unknown) => {
                self.send_put(seq);
            }
            Ok(sess) => {
                let (at, _) = self.block_loc(seq);
                self.fail(SinkError::SessionState {
                    op: Operation::GetUploadSession,
                    at,
                    status: sess.status.to_string(),
                    reason: "blocks can only be uploaded to a normal session".into(),
                });
            }
            Err(f) => self.retry_block(seq, Operation::GetUploadSession, f, now),
        }
    }

    fn block_loc(&self, seq: u64) -> (Location, Attempts) {
        match self.blocks.get(&seq) {
            Some(b) => (
                self.loc(&b.key, b.slot.map(|s| s.0), b.slot.map(|s| s.1)),
                b.attempts,
            ),
            None => (Location::default(), Attempts::default()),
        }
    }

    fn retry_block(&mut self, seq: u64, op: Operation, f: Failure, now: Instant) {
        let Some(b) = self.blocks.get_mut(&seq) else {
            return;
        };
        let next = decide(&self.s.retry, &mut b.attempts, &f, None);
        match next {
            Next::Retry(d) => self.io.timers.set(Timer::Put(seq), now.plus(d)),
            Next::Reload(d) => self.io.timers.set(Timer::Reload(seq), now.plus(d)),
            // There are no slots in the batch tunnel; treat a move like a reload.
            Next::Reroute(_) => self.io.timers.set(Timer::Reload(seq), now),
            Next::NotFound | Next::AlreadyDone | Next::GiveUp => {
                let (at, attempts) = self.block_loc(seq);
                self.fail(failure_error(op, at, attempts, f));
            }
        }
    }

    fn ack(&mut self, seq: u64) {
        let Some(b) = self.blocks.remove(&seq) else {
            return;
        };
        self.puts_busy = self.puts_busy.saturating_sub(1);
        if let Some(part) = self.parts.get_mut(&b.key) {
            part.unacked = part.unacked.saturating_sub(1);
            if let Some((idx, id)) = b.slot
                && let Some(sess) = part.sessions.get_mut(idx)
            {
                sess.acked.insert(id);
                sess.rows += b.rows;
            }
        }
        if self.budget.release(b.body.len() as u64) {
            self.io.event(SinkEvent::WriteReady);
        }
        self.refresh(&b.key);
    }

    /// Marks a part of a closing epoch as done when it has no work left.
    fn refresh(&mut self, key: &PartKey) {
        let idle = self.parts.get(key).is_none_or(Part::idle);
        if idle
            && let Some(ep) = self.epochs.get_mut(&key.0)
            && ep.close.is_some()
        {
            ep.busy.remove(&key.1);
        }
    }

    /// Emits `Prepared` / `Finished` for closed epochs whose work is done, in order.
    fn check_epochs(&mut self) {
        loop {
            if !matches!(self.phase, Phase::Running | Phase::Ending) {
                return;
            }
            let Some((&epoch, ep)) = self.epochs.first_key_value() else {
                return;
            };
            let (Some(close), true) = (ep.close.clone(), ep.busy.is_empty()) else {
                return;
            };
            let Some(ep) = self.epochs.remove(&epoch) else {
                return;
            };
            let checkpoint_id = match close {
                Close::Checkpoint(c) => Some(c),
                Close::EndOfInput => None,
            };
            let mut committables = Vec::new();
            let mut dropped = 0;
            for spec in ep.parts {
                let Some(part) = self.parts.remove(&(epoch, spec.clone())) else {
                    continue;
                };
                dropped += 1;
                for sess in part.sessions {
                    if sess.acked.is_empty() {
                        continue;
                    }
                    committables.push(Committable {
                        project: self.s.ctx.project.clone(),
                        schema: self.s.ctx.schema.clone(),
                        table: self.s.table.clone(),
                        partition: spec.clone(),
                        session_id: sess.id,
                        block_ids: sess.acked.into_iter().collect(),
                        row_count: sess.rows,
                        checkpoint_id,
                    });
                }
            }
            if self.budget.drop_partitions(dropped * self.s.partition_cost) {
                self.io.event(SinkEvent::WriteReady);
            }
            match checkpoint_id {
                Some(checkpoint_id) => self.io.event(SinkEvent::Prepared {
                    checkpoint_id,
                    committables,
                }),
                None => {
                    self.phase = Phase::Finished;
                    self.io.event(SinkEvent::Finished { committables });
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
            if let Some(b) = part.buffer.take() {
                self.budget.drop_buffered(b.cost());
            }
        }
        for (_, b) in std::mem::take(&mut self.blocks) {
            self.budget.release(b.body.len() as u64);
        }
        self.ready.clear();
        self.create_queue.clear();
    }

    fn fire(&mut self, t: Timer) {
        match t {
            Timer::Flush(key) => self.flush_part(&key),
            Timer::Create(key) => self.send_create(&key),
            Timer::Put(seq) => self.send_put(seq),
            Timer::Reload(seq) => self.send_reload(seq),
        }
    }
}

impl Machine for BatchWriter {
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

impl Driven for BatchWriter {
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
            Pending::Create(key) => self.on_create(key, reply, now),
            Pending::Put(seq) => self.on_put(seq, reply, now),
            Pending::Reload(seq) => self.on_reload(seq, reply, now),
        }
    }

    fn on_timer(&mut self, timer: Timer, _now: Instant) {
        self.fire(timer);
    }

    fn settle(&mut self) {
        self.pump();
        self.check_epochs();
    }
}
