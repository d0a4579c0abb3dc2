//! The streaming-tunnel writer (see the [module docs](super) for its state table).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use arrow_array::RecordBatch;
use bytes::Bytes;

use super::budget::{Budget, largest_first};
use super::error::{Item, Location, Operation, SinkError};
use super::event::{MemoryUsage, Rejection, SinkEvent, WriteRejected};
use super::input::{InputLayout, Routed};
use super::io::{self, Buffer, Driven, Encoding, Io, Phase};
use super::retry::{Attempts, Failure, Next, decide, failure_error};
use super::settings::WriterSettings;
use super::state::{StreamSessionState, WriterState, WriterStateV1};
use crate::api::SessionStatus;
use crate::api::rest::TableMeta;
use crate::api::stream::{
    StreamOptions, StreamSession, StreamWrite, create_stream, get_stream, parse_stream_session,
    parse_stream_write, write_stream,
};
use crate::machine::{Instant, Machine, Output, Reply, Token, TokenSource};
use crate::options::{SinkConfig, SinkTunnel};
use crate::partition::PartitionSpec;

#[derive(Debug, Clone)]
enum Close {
    Checkpoint(u64),
    EndOfInput,
}

/// The stream session of a partition.
#[derive(Debug, Clone)]
enum Sess {
    /// None yet.
    None,
    /// Known from a restored state; reloaded before first use.
    Restored(StreamSessionState),
    /// Create queued, in flight or backing off.
    Creating,
    /// Reload (new routes) queued, in flight or backing off.
    Reloading(StreamSession),
    /// Reload of a restored session.
    ReloadingRestored(StreamSessionState),
    /// Usable.
    Open(StreamSession),
}

#[derive(Debug)]
struct Part {
    buffer: Option<Buffer>,
    sess: Sess,
    /// Attempts of the session request under way.
    attempts: Attempts,
    /// Blocks waiting for an open session, oldest first.
    waiting: VecDeque<u64>,
    /// Next slot (round-robin position).
    next_slot: usize,
}

impl Part {
    fn new(sess: Sess) -> Self {
        Self {
            buffer: None,
            sess,
            attempts: Attempts::default(),
            waiting: VecDeque::new(),
            next_slot: 0,
        }
    }
}

#[derive(Debug)]
struct Block {
    spec: PartitionSpec,
    epoch: u64,
    body: Bytes,
    rows: u64,
    attempts: Attempts,
    /// Slot position used by the last send.
    slot: usize,
    /// Holds a PUT slot.
    busy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    Flush(PartitionSpec),
    /// Send the partition's session request again (it holds a session-request slot).
    Session(PartitionSpec),
    /// Queue the partition's session request (after a backoff; it takes a slot when sent).
    Enqueue(PartitionSpec),
    Put(u64),
}

#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Session(PartitionSpec),
    Put(u64),
}

/// Writes through the streaming tunnel: one stream session per partition, kept across
/// checkpoints; each flushed buffer is one PUT to the next slot (round-robin); rows are
/// visible as soon as the PUT succeeds. A barrier waits for every earlier PUT; `Prepared`
/// carries no committables. At-least-once: a retried PUT may duplicate rows.
#[derive(Debug)]
pub struct StreamWriter {
    s: WriterSettings,
    label: String,
    layout: InputLayout,
    io: Io<Timer, Pending>,
    phase: Phase,
    epoch: u64,
    last_checkpoint: Option<u64>,
    /// Closed epochs waiting for their blocks, in order.
    closing: BTreeMap<u64, Close>,
    /// Unacknowledged blocks per epoch.
    outstanding: BTreeMap<u64, usize>,
    /// Partitions written in the current epoch (for `dynamicPartitionLimit`).
    epoch_parts: BTreeSet<PartitionSpec>,
    parts: BTreeMap<PartitionSpec, Part>,
    blocks: BTreeMap<u64, Block>,
    next_seq: u64,
    ready: VecDeque<u64>,
    puts_busy: usize,
    session_queue: VecDeque<PartitionSpec>,
    sessions_busy: usize,
    budget: Budget,
    /// The encoder and scratch space all buffers share.
    enc: Encoding,
}

impl StreamWriter {
    /// A writer for `meta`'s table with `config`'s options.
    pub fn new(config: &SinkConfig, meta: &TableMeta) -> Result<Self, SinkError> {
        Self::with_settings(WriterSettings::new(config, meta)?)
    }

    /// A writer with explicit settings.
    pub fn with_settings(s: WriterSettings) -> Result<Self, SinkError> {
        if s.tunnel != SinkTunnel::Stream {
            return Err(SinkError::Config(format!(
                "the stream writer needs the streaming tunnel, the config selects {:?}",
                s.tunnel
            )));
        }
        let label = s.table_label();
        let layout = InputLayout::new(label.clone(), &s.schema, s.partition.clone(), None);
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
            closing: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            epoch_parts: BTreeSet::new(),
            parts: BTreeMap::new(),
            blocks: BTreeMap::new(),
            next_seq: 0,
            ready: VecDeque::new(),
            puts_busy: 0,
            session_queue: VecDeque::new(),
            sessions_busy: 0,
        })
    }

    /// A writer restored from [`StreamWriter::snapshot`]: it reloads the saved stream sessions
    /// on first use (and creates new ones if they are gone).
    pub fn restore(
        config: &SinkConfig,
        meta: &TableMeta,
        state: WriterState,
    ) -> Result<Self, SinkError> {
        let mut w = Self::new(config, meta)?;
        let v1 = state.into_v1(SinkTunnel::Stream, &w.label)?;
        w.last_checkpoint = v1.last_checkpoint_id;
        for (spec, sess) in v1.stream_sessions {
            let spec = PartitionSpec::parse(&spec)
                .map_err(|e| SinkError::Restore(format!("partition `{spec}`: {e}")))?;
            w.parts.insert(spec, Part::new(Sess::Restored(sess)));
        }
        Ok(w)
    }

    /// The durable state: the last checkpoint and the stream session of each partition.
    pub fn snapshot(&self) -> WriterState {
        let stream_sessions = self
            .parts
            .iter()
            .filter_map(|(spec, p)| {
                let st = match &p.sess {
                    Sess::Open(s) | Sess::Reloading(s) => StreamSessionState {
                        name: s.name.clone(),
                        schema_version: s.schema_version.clone(),
                    },
                    Sess::Restored(st) | Sess::ReloadingRestored(st) => st.clone(),
                    Sess::None | Sess::Creating => return None,
                };
                Some((spec.to_string(), st))
            })
            .collect();
        WriterState::V1(WriterStateV1 {
            tunnel: "stream".into(),
            table: self.label.clone(),
            last_checkpoint_id: self.last_checkpoint,
            stream_sessions,
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

    fn loc(&self, spec: &PartitionSpec, item: Option<Item>) -> Location {
        let session = self.parts.get(spec).and_then(|p| match &p.sess {
            Sess::Open(s) | Sess::Reloading(s) => Some(s.name.clone()),
            Sess::Restored(s) | Sess::ReloadingRestored(s) => Some(s.name.clone()),
            _ => None,
        });
        Location::new(
            self.label.clone(),
            (!spec.is_empty()).then(|| spec.to_tunnel_string()),
            session,
            item,
        )
    }

    // ------------------------------------------------------------------ inputs

    /// Buffers the rows of `batch` (all INSERTs).
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
        if self.layout.is_dynamic() {
            let new = routed
                .groups
                .iter()
                .filter(|(s, _)| !self.epoch_parts.contains(s))
                .count();
            let count = self.epoch_parts.len() + new;
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
            let buf = self.parts.get(spec).and_then(|p| p.buffer.as_ref());
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
        let mut touched = Vec::with_capacity(staged.len());
        for ((spec, _), st) in routed.groups.iter().zip(&staged) {
            let new_part = !self.parts.contains_key(spec);
            if new_part {
                self.parts.insert(spec.clone(), Part::new(Sess::None));
            }
            let Some(part) = self.parts.get_mut(spec) else {
                continue;
            };
            let new_buffer = part.buffer.is_none();
            let buf = part.buffer.get_or_insert_with(Buffer::default);
            self.enc.append(buf, st);
            let full = buf.len() >= self.s.batch_size;
            touched.push((spec, new_part, new_buffer, full));
        }
        self.enc.end();
        self.budget.add_buffered(delta);
        for &(spec, new_part, new_buffer, _) in &touched {
            if new_part {
                self.need_session(spec);
            }
            if new_buffer && let Some(iv) = self.s.flush_interval {
                self.io.timers.set(Timer::Flush(spec.clone()), now.plus(iv));
            }
        }
        for (spec, _, _, full) in touched {
            self.epoch_parts.insert(spec.clone());
            if full {
                self.flush_part(spec);
            }
        }
        if self.budget.over_high_water() {
            let target = self.budget.low_water();
            self.flush_largest(target);
        }
        self.pump();
        Ok(())
    }

    /// Flushes every buffer; `Prepared { checkpoint_id, committables: [] }` follows once every
    /// PUT of rows written before the barrier succeeded. The sessions stay open.
    pub fn barrier(&mut self, checkpoint_id: u64, now: Instant) -> Result<(), SinkError> {
        self.io.clock(now);
        self.phase.check_running("barrier")?;
        io::advance_checkpoint(&mut self.last_checkpoint, checkpoint_id)?;
        self.close_epoch(Close::Checkpoint(checkpoint_id));
        self.pump();
        self.check_epochs();
        Ok(())
    }

    /// Flushes everything; `Finished { committables: [] }` follows once every PUT succeeded.
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
        let specs: Vec<PartitionSpec> = self
            .parts
            .iter()
            .filter(|(_, p)| p.buffer.is_some())
            .map(|(s, _)| s.clone())
            .collect();
        for spec in specs {
            self.flush_part(&spec);
        }
        self.closing.insert(self.epoch, close);
        self.epoch += 1;
        self.epoch_parts.clear();
    }

    // ------------------------------------------------------------------ flushing

    fn need_session(&mut self, spec: &PartitionSpec) {
        let Some(part) = self.parts.get_mut(spec) else {
            return;
        };
        let next = match std::mem::replace(&mut part.sess, Sess::None) {
            Sess::None => Sess::Creating,
            Sess::Restored(st) => Sess::ReloadingRestored(st),
            other => {
                part.sess = other;
                return;
            }
        };
        part.sess = next;
        part.attempts = Attempts::default();
        self.session_queue.push_back(spec.clone());
    }

    fn flush_part(&mut self, spec: &PartitionSpec) {
        self.io.timers.cancel(&Timer::Flush(spec.clone()));
        let loc = self.loc(spec, None);
        let Some(buf) = self.parts.get_mut(spec).and_then(|p| p.buffer.take()) else {
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
                spec: spec.clone(),
                epoch: self.epoch,
                body: body.body,
                rows: body.rows,
                attempts: Attempts::default(),
                slot: 0,
                busy: false,
            },
        );
        *self.outstanding.entry(self.epoch).or_default() += 1;
        self.route_block(seq);
    }

    /// Sends a block to the ready queue when its partition's session is open, or makes it wait.
    fn route_block(&mut self, seq: u64) {
        let Some(spec) = self.blocks.get(&seq).map(|b| b.spec.clone()) else {
            return;
        };
        let open = matches!(self.parts.get(&spec).map(|p| &p.sess), Some(Sess::Open(_)));
        if open {
            self.ready.push_back(seq);
        } else {
            if let Some(p) = self.parts.get_mut(&spec) {
                p.waiting.push_back(seq);
            }
            self.need_session(&spec);
        }
    }

    fn flush_largest(&mut self, target: u64) {
        if self.budget.buffered() <= target {
            return;
        }
        let sizes: Vec<(PartitionSpec, u64)> = self
            .parts
            .iter()
            .filter_map(|(k, p)| p.buffer.as_ref().map(|b| (k.clone(), b.cost())))
            .collect();
        for spec in largest_first(sizes, self.budget.buffered(), target) {
            self.flush_part(&spec);
        }
    }

    // ------------------------------------------------------------------ requests

    fn pump(&mut self) {
        if !matches!(self.phase, Phase::Running | Phase::Ending) {
            return;
        }
        while self.sessions_busy < self.s.max_concurrent_session_requests {
            let Some(spec) = self.session_queue.pop_front() else {
                break;
            };
            self.sessions_busy += 1;
            self.send_session(&spec);
        }
        while self.puts_busy < self.s.max_concurrent_puts {
            let Some(seq) = self.ready.pop_front() else {
                break;
            };
            // The session may have gone back to reloading since the block was queued.
            let spec = match self.blocks.get(&seq) {
                Some(b) => b.spec.clone(),
                None => continue,
            };
            if !matches!(self.parts.get(&spec).map(|p| &p.sess), Some(Sess::Open(_))) {
                self.route_block(seq);
                continue;
            }
            self.puts_busy += 1;
            if let Some(b) = self.blocks.get_mut(&seq) {
                b.busy = true;
            }
            self.send_put(seq, true);
        }
    }

    fn send_session(&mut self, spec: &PartitionSpec) {
        let Some(part) = self.parts.get(spec) else {
            return;
        };
        let req = match &part.sess {
            Sess::Creating => create_stream(
                &self.s.ctx,
                &self.s.table,
                &StreamOptions {
                    partition: spec.clone(),
                    create_partition: self.s.create_partition && !spec.is_empty(),
                    slot_num: (self.s.slot_num > 0).then_some(self.s.slot_num),
                    schema_version: None,
                    check_latest_schema: false,
                    dynamic_partition: false,
                    zorder_columns: Vec::new(),
                },
            ),
            Sess::Reloading(s) => get_stream(
                &self.s.ctx,
                &self.s.table,
                spec,
                &s.name,
                s.schema_version.as_deref(),
            ),
            Sess::ReloadingRestored(st) => get_stream(
                &self.s.ctx,
                &self.s.table,
                spec,
                &st.name,
                st.schema_version.as_deref(),
            ),
            _ => return,
        };
        self.io.send(Pending::Session(spec.clone()), req);
    }

    /// Sends a block's PUT; `next_slot` picks the next slot round-robin (a retry keeps its
    /// slot).
    fn send_put(&mut self, seq: u64, next_slot: bool) {
        let Some(b) = self.blocks.get(&seq) else {
            return;
        };
        let spec = b.spec.clone();
        let open = matches!(self.parts.get(&spec).map(|p| &p.sess), Some(Sess::Open(_)));
        if !open {
            // The session is being reloaded or recreated: wait for it.
            self.requeue(seq);
            return;
        }
        let Some(b) = self.blocks.get(&seq) else {
            return;
        };
        let Some(part) = self.parts.get_mut(&spec) else {
            return;
        };
        let Sess::Open(sess) = &part.sess else {
            return;
        };
        let n = sess.slots.len().max(1);
        let slot = if next_slot {
            let s = part.next_slot % n;
            part.next_slot = (s + 1) % n;
            s
        } else {
            b.slot % n
        };
        let Some((slot_id, addr)) = sess.slots.get(slot) else {
            return;
        };
        let req = write_stream(
            &self.s.ctx,
            &self.s.table,
            &StreamWrite {
                partition: spec.clone(),
                session_name: sess.name.clone(),
                slot_id: slot_id.clone(),
                routed_server: addr.clone(),
                slot_count: sess.slots.len(),
                schema_version: sess.schema_version.clone(),
                record_count: Some(b.rows),
                check_latest_schema: false,
                content_encoding: self.s.compression.content_encoding().map(str::to_string),
            },
            b.body.clone(),
        );
        if let Some(b) = self.blocks.get_mut(&seq) {
            b.slot = slot;
        }
        self.io.send(Pending::Put(seq), req);
    }

    fn on_session(&mut self, spec: PartitionSpec, reply: Reply, now: Instant) {
        let result = match reply {
            Ok(resp) => parse_stream_session(&resp).map_err(Failure::Api),
            Err(t) => Err(Failure::Transport(t)),
        };
        let Some(part) = self.parts.get_mut(&spec) else {
            return;
        };
        let op = match part.sess {
            Sess::Creating => Operation::CreateStreamSession,
            _ => Operation::ReloadStreamSession,
        };
        match result {
            Ok(sess) if matches!(sess.status, SessionStatus::Normal | SessionStatus::Unknown) => {
                self.sessions_busy = self.sessions_busy.saturating_sub(1);
                part.sess = Sess::Open(sess);
                part.attempts = Attempts::default();
                let waiting: Vec<u64> = part.waiting.drain(..).collect();
                self.ready.extend(waiting);
            }
            // A reloaded session that can no longer take writes (expired, e.g. a restore from
            // a checkpoint older than the session's lifetime): start a new one, as for a
            // session that is gone (at-least-once). Failing here would fail every restore.
            Ok(_) if op == Operation::ReloadStreamSession => {
                part.sess = Sess::Creating;
                self.io.timers.set(Timer::Session(spec), now);
            }
            Ok(sess) => {
                let mut at = self.loc(&spec, None);
                at.session = Some(sess.name.clone());
                self.fail(SinkError::SessionState {
                    op,
                    at,
                    status: sess.status.to_string(),
                    reason: "a stream session must be normal to take writes".into(),
                });
            }
            Err(f) => {
                let next = decide(&self.s.retry, &mut part.attempts, &f, None);
                let attempts = part.attempts;
                match next {
                    Next::Retry(d) | Next::Reload(d) => {
                        self.io.timers.set(Timer::Session(spec), now.plus(d));
                    }
                    Next::Reroute(_) => self.io.timers.set(Timer::Session(spec), now),
                    // A reloaded session that is gone: start a new one (at-least-once).
                    Next::NotFound if op == Operation::ReloadStreamSession => {
                        part.sess = Sess::Creating;
                        self.io.timers.set(Timer::Session(spec), now);
                    }
                    Next::NotFound | Next::AlreadyDone | Next::GiveUp => {
                        let at = self.loc(&spec, None);
                        self.fail(failure_error(op, at, attempts, f));
                    }
                }
            }
        }
    }

    fn on_put(&mut self, seq: u64, reply: Reply, now: Instant) {
        let result = match reply {
            Ok(resp) => parse_stream_write(&resp).map_err(Failure::Api),
            Err(t) => Err(Failure::Transport(t)),
        };
        match result {
            Ok(ack) => {
                let Some(b) = self.blocks.remove(&seq) else {
                    return;
                };
                self.puts_busy = self.puts_busy.saturating_sub(1);
                if let Some(n) = self.outstanding.get_mut(&b.epoch) {
                    *n = n.saturating_sub(1);
                }
                if self.budget.release(b.body.len() as u64) {
                    self.io.event(SinkEvent::WriteReady);
                }
                // Routing headers: a new slot count means new routes (reload); a new address
                // for the slot is taken as is.
                let mut reload = false;
                if let Some(part) = self.parts.get_mut(&b.spec)
                    && let Sess::Open(sess) = &mut part.sess
                {
                    if usize::try_from(ack.slot_num).ok() != Some(sess.slots.len()) {
                        reload = true;
                    } else if let Some(slot) = sess.slots.get_mut(b.slot) {
                        slot.1 = ack.routed_server;
                    }
                }
                if reload {
                    self.reload(&b.spec);
                }
            }
            Err(f) => self.put_failed(seq, f, now),
        }
    }

    /// Puts an open session of `spec` into reloading.
    fn reload(&mut self, spec: &PartitionSpec) {
        let Some(part) = self.parts.get_mut(spec) else {
            return;
        };
        if let Sess::Open(s) = &part.sess {
            part.sess = Sess::Reloading(s.clone());
            part.attempts = Attempts::default();
            self.session_queue.push_back(spec.clone());
        }
    }

    /// A block goes back to waiting for its partition's session (releasing its PUT slot).
    fn requeue(&mut self, seq: u64) {
        let Some(b) = self.blocks.get_mut(&seq) else {
            return;
        };
        if b.busy {
            b.busy = false;
            self.puts_busy = self.puts_busy.saturating_sub(1);
        }
        let spec = b.spec.clone();
        if let Some(p) = self.parts.get_mut(&spec) {
            p.waiting.push_back(seq);
        }
    }

    fn put_failed(&mut self, seq: u64, f: Failure, now: Instant) {
        let Some(b) = self.blocks.get_mut(&seq) else {
            return;
        };
        let next = decide(&self.s.retry, &mut b.attempts, &f, None);
        let (spec, slot, attempts) = (b.spec.clone(), b.slot, b.attempts);
        match next {
            Next::Retry(d) => self.io.timers.set(Timer::Put(seq), now.plus(d)),
            Next::Reroute(addr) => {
                if let Some(part) = self.parts.get_mut(&spec)
                    && let Sess::Open(sess) = &mut part.sess
                    && let Some(s) = sess.slots.get_mut(slot)
                {
                    s.1 = addr;
                }
                self.io.timers.set(Timer::Put(seq), now);
            }
            Next::Reload(d) => {
                // Reload the routes (once per partition), then send again.
                self.requeue(seq);
                let was_open =
                    matches!(self.parts.get(&spec).map(|p| &p.sess), Some(Sess::Open(_)));
                self.reload(&spec);
                if was_open && !d.is_zero() {
                    // Hold the reload for the backoff: take it off the queue and time it.
                    self.session_queue.retain(|s| *s != spec);
                    self.io.timers.set(Timer::Enqueue(spec), now.plus(d));
                }
            }
            Next::NotFound
                if attempts.limited < self.s.retry.max_retries
                    && matches!(&f, Failure::Api(e) if e.code.ends_with("SessionNotFound")) =>
            {
                // The session is gone: a new one, then send again.
                if let Some(b) = self.blocks.get_mut(&seq) {
                    b.attempts.limited += 1;
                }
                self.requeue(seq);
                if let Some(part) = self.parts.get_mut(&spec)
                    && !matches!(part.sess, Sess::Creating)
                {
                    part.sess = Sess::Creating;
                    part.attempts = Attempts::default();
                    self.session_queue.push_back(spec.clone());
                }
            }
            Next::NotFound | Next::AlreadyDone | Next::GiveUp => {
                let at = self.loc(&spec, Some(Item::Slot(slot)));
                self.fail(failure_error(Operation::WriteStream, at, attempts, f));
            }
        }
    }

    fn check_epochs(&mut self) {
        while matches!(self.phase, Phase::Running | Phase::Ending) {
            let Some((&epoch, _)) = self.closing.first_key_value() else {
                return;
            };
            if self.outstanding.get(&epoch).copied().unwrap_or(0) > 0 {
                return;
            }
            let Some(close) = self.closing.remove(&epoch) else {
                return;
            };
            self.outstanding.remove(&epoch);
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
            if let Some(b) = part.buffer.take() {
                self.budget.drop_buffered(b.cost());
            }
        }
        for (_, b) in std::mem::take(&mut self.blocks) {
            self.budget.release(b.body.len() as u64);
        }
        self.ready.clear();
        self.session_queue.clear();
    }

    fn fire(&mut self, t: Timer) {
        match t {
            Timer::Flush(spec) => self.flush_part(&spec),
            Timer::Session(spec) => self.send_session(&spec),
            Timer::Enqueue(spec) => self.session_queue.push_back(spec),
            Timer::Put(seq) => self.send_put(seq, false),
        }
    }
}

impl Machine for StreamWriter {
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

impl Driven for StreamWriter {
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
            Pending::Session(spec) => self.on_session(spec, reply, now),
            Pending::Put(seq) => self.on_put(seq, reply, now),
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
