//! Plumbing the writers share: the output queue, tokens, pending requests, timers, the clock,
//! the lifecycle phase and encoded buffers.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

use bytes::Bytes;

use super::budget::cost;
use super::error::{InputError, Location, SinkError};
use super::event::SinkEvent;
use super::input::Rows;
use super::timers::Timers;
use crate::codec::{MAX_FOOTER_LEN, RecordEncoder, StreamState};
use crate::compress::{Compression, Compressor};
use crate::http::Request;
use crate::machine::{Instant, Output, Reply, Token, TokenSource};
use crate::types::Column;
use arrow_array::RecordBatch;

/// Where a writer is in its life.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    /// Taking writes and barriers.
    Running,
    /// End of input was called; finishing.
    Ending,
    /// `Finished` was emitted.
    Finished,
    /// Failed for good.
    Failed(SinkError),
}

impl Phase {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::Ending => "ending",
            Phase::Finished => "finished",
            Phase::Failed(_) => "failed",
        }
    }

    /// Ok while writes and barriers are allowed.
    pub(crate) fn check_running(&self, what: &str) -> Result<(), SinkError> {
        match self {
            Phase::Running => Ok(()),
            Phase::Failed(e) => Err(e.clone()),
            other => Err(SinkError::Usage(format!(
                "{what} after end of input (the writer is {})",
                other.name()
            ))),
        }
    }
}

/// What the three tunnel writers hand to the [`Machine`](crate::machine::Machine) skeleton they
/// share ([`handle_reply`], [`poll`], [`next_deadline`]): their plumbing, their phase, and
/// what to do with a reply, a due timer, and afterwards.
pub(crate) trait Driven {
    /// The writer's timers.
    type Timer: Ord + Clone;
    /// What a request in flight was for.
    type Pending;
    /// The writer's plumbing.
    fn io(&self) -> &Io<Self::Timer, Self::Pending>;
    /// The writer's plumbing, to change.
    fn io_mut(&mut self) -> &mut Io<Self::Timer, Self::Pending>;
    /// Where the writer is in its life.
    fn phase(&self) -> &Phase;
    /// Acts on the reply to a request.
    fn on_reply(&mut self, pending: Self::Pending, reply: Reply, now: Instant);
    /// Acts on a timer that came due.
    fn on_timer(&mut self, timer: Self::Timer, now: Instant);
    /// Sends what can be sent and closes what epochs can close (after replies and timers).
    fn settle(&mut self);
}

/// A barrier's checkpoint id must increase: records it as the last one, or says which one it
/// does not follow.
pub(crate) fn advance_checkpoint(
    last: &mut Option<u64>,
    checkpoint_id: u64,
) -> Result<(), SinkError> {
    if let Some(l) = *last
        && checkpoint_id <= l
    {
        return Err(SinkError::Usage(format!(
            "checkpoint {checkpoint_id} does not follow checkpoint {l}"
        )));
    }
    *last = Some(checkpoint_id);
    Ok(())
}

/// Replies and timers count only while the writer runs or ends.
fn active(phase: &Phase) -> bool {
    matches!(phase, Phase::Running | Phase::Ending)
}

/// [`Machine::handle_reply`](crate::machine::Machine::handle_reply) of a tunnel writer.
pub(crate) fn handle_reply<W: Driven>(w: &mut W, token: Token, reply: Reply, now: Instant) {
    let now = w.io_mut().clock(now);
    let Some(pending) = w.io_mut().inflight.remove(&token) else {
        return;
    };
    if !active(w.phase()) {
        return;
    }
    w.on_reply(pending, reply, now);
    w.settle();
}

/// [`Machine::poll`](crate::machine::Machine::poll) of a tunnel writer.
pub(crate) fn poll<W: Driven>(w: &mut W, now: Instant) -> Option<Output<SinkEvent>> {
    let now = w.io_mut().clock(now);
    if active(w.phase()) {
        let mut fired = false;
        while let Some(t) = w.io_mut().timers.pop_due(now) {
            w.on_timer(t, now);
            fired = true;
        }
        if fired {
            w.settle();
        }
    }
    w.io_mut().out.pop_front()
}

/// [`Machine::next_deadline`](crate::machine::Machine::next_deadline) of a tunnel writer.
pub(crate) fn next_deadline<W: Driven>(w: &W) -> Option<Instant> {
    if active(w.phase()) {
        w.io().timers.next()
    } else {
        None
    }
}

/// Requests in flight, timers, outputs.
#[derive(Debug)]
pub(crate) struct Io<T: Ord + Clone, P, E = SinkEvent> {
    tokens: TokenSource,
    pub(crate) now: Instant,
    pub(crate) out: VecDeque<Output<E>>,
    pub(crate) inflight: BTreeMap<Token, P>,
    pub(crate) timers: Timers<T>,
}

impl<T: Ord + Clone, P, E> Io<T, P, E> {
    pub(crate) fn new(first_token: TokenSource) -> Self {
        Self {
            tokens: first_token,
            now: Instant::ZERO,
            out: VecDeque::new(),
            inflight: BTreeMap::new(),
            timers: Timers::default(),
        }
    }

    /// Moves the clock forward (never back) and returns it.
    pub(crate) fn clock(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    /// Queues a request.
    pub(crate) fn send(&mut self, pending: P, request: Request) -> Token {
        let token = self.tokens.next_token();
        self.inflight.insert(token, pending);
        self.out.push_back(Output::Send { token, request });
        token
    }

    pub(crate) fn event(&mut self, e: E) {
        self.out.push_back(Output::Event(e));
    }

    /// Forgets every request and timer and drops queued sends (events stay).
    pub(crate) fn abandon(&mut self) {
        self.inflight.clear();
        self.timers.clear();
        self.out.retain(|o| matches!(o, Output::Event(_)));
    }
}

/// Scratch capacity kept between writes; a write that needed more gives it back.
const SCRATCH_KEEP: usize = 1 << 20;

/// The smallest chunk a buffer allocates.
const MIN_CHUNK: usize = 512;
/// The largest chunk a buffer allocates.
const MAX_CHUNK: usize = 1 << 20;
/// What a chunk costs besides its bytes: the allocator's header and the chunk's entry in the
/// buffer's chunk list (with the list's growth room).
const CHUNK_OVERHEAD: usize = 64;

/// The capacity of a buffer's next chunk, when it holds `len` bytes and `left` more are to be
/// placed: a power of two, about a quarter of `len` (so appends stay amortized while the spare
/// capacity stays within a quarter of the length), more when the bytes left need it, within
/// [`MIN_CHUNK`]..=[`MAX_CHUNK`].
///
/// Power-of-two chunks keep the heap from fragmenting: thousands of buffers grow and are
/// flushed at different times, and a freed chunk (or two freed neighbours) fits later chunks
/// exactly, where freed buffers of arbitrary sizes leave holes nothing fits.
fn chunk_size(len: usize, left: usize) -> usize {
    let want = (len / 4).max(left).clamp(MIN_CHUNK, MAX_CHUNK);
    1 << (usize::BITS - 1 - want.leading_zeros())
}

/// Encoded rows of one partition (or bucket), not flushed yet: the bytes of an unfinished
/// record stream, in chunks, and where that stream stands. The encoder itself is the
/// writer's ([`Encoding`]), shared by all its buffers.
///
/// Chunks are allocated with [`chunk_size`], so a buffer holds at most its length plus the
/// larger of a quarter of it and [`MIN_CHUNK`]; what it holds (chunk capacities and
/// [`CHUNK_OVERHEAD`]s) is what it is accounted as ([`Buffer::cost`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Buffer {
    state: StreamState,
    /// Every chunk but the last is full.
    chunks: Vec<Vec<u8>>,
    /// Encoded bytes.
    len: usize,
    /// The chunks' capacities plus their overheads.
    held: usize,
    pub(crate) rows: u64,
}

/// A flushed buffer: the request body.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    /// Holds exactly its length (no spare capacity).
    pub(crate) body: Bytes,
    /// What the buffer was accounted as ([`Buffer::cost`]).
    pub(crate) cost: u64,
    pub(crate) rows: u64,
}

impl Buffer {
    /// Encoded bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len as u64
    }

    /// The memory the buffer holds: its chunks' capacities and overheads.
    pub(crate) fn held(&self) -> u64 {
        self.held as u64
    }

    /// The accounted size: [`cost`] of what the buffer holds (capacity, not length).
    pub(crate) fn cost(&self) -> u64 {
        cost(self.held())
    }

    /// The capacities of the chunks `add` more bytes need, in order.
    fn new_chunks(&self, add: usize) -> impl Iterator<Item = usize> {
        let spare = self.chunks.last().map_or(0, |c| c.capacity() - c.len());
        let mut len = self.len + add.min(spare);
        let mut left = add.saturating_sub(spare);
        std::iter::from_fn(move || {
            (left > 0).then(|| {
                let c = chunk_size(len, left);
                let n = c.min(left);
                len += n;
                left -= n;
                c
            })
        })
    }

    /// What the buffer holds after `add` more bytes.
    fn held_after(&self, add: usize) -> usize {
        self.held
            + self
                .new_chunks(add)
                .map(|c| c + CHUNK_OVERHEAD)
                .sum::<usize>()
    }

    /// Appends `data`: the last chunk's spare room first, then the chunks
    /// [`Buffer::new_chunks`] plans.
    fn extend(&mut self, data: &[u8]) {
        let spare = self.chunks.last().map_or(0, |c| c.capacity() - c.len());
        let (head, mut rest) = data.split_at(spare.min(data.len()));
        if let Some(last) = self.chunks.last_mut() {
            last.extend_from_slice(head);
        }
        self.len += head.len();
        let plan: Vec<usize> = self.new_chunks(rest.len()).collect();
        for c in plan {
            let (part, tail) = rest.split_at(c.min(rest.len()));
            let mut chunk = Vec::with_capacity(c);
            chunk.extend_from_slice(part);
            rest = tail;
            self.len += part.len();
            self.held += c + CHUNK_OVERHEAD;
            self.chunks.push(chunk);
        }
    }

    /// (chunk capacities, chunks): what the buffer really allocated, for tests to check
    /// [`Buffer::held`] against.
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> (usize, usize) {
        (
            self.chunks.iter().map(Vec::capacity).sum(),
            self.chunks.len(),
        )
    }
}

/// Rows of one group encoded into the writer's scratch, waiting to be appended to the buffer
/// they were encoded for.
#[derive(Debug, Clone)]
pub(crate) struct Staged {
    range: Range<usize>,
    state: StreamState,
    rows: u64,
    /// How much the buffer's accounted size ([`Buffer::cost`]) grows when they are appended.
    pub(crate) growth: u64,
}

/// The writer's record encoder and scratch space, shared by all its buffers.
///
/// A write first encodes every group into the scratch ([`Encoding::stage`]), which tells
/// exactly how much the accounted total would grow before any buffer changes; only an admitted
/// write is appended ([`Encoding::append`]). A refused write changes nothing.
#[derive(Debug)]
pub(crate) struct Encoding {
    enc: RecordEncoder,
    scratch: Vec<u8>,
}

impl Encoding {
    pub(crate) fn new(columns: &[Column]) -> Self {
        Self {
            enc: RecordEncoder::new(columns),
            scratch: Vec::new(),
        }
    }

    /// Starts a write: empties the scratch.
    pub(crate) fn begin(&mut self) {
        self.scratch.clear();
    }

    /// Ends a write: a scratch that grew past [`SCRATCH_KEEP`] is given back.
    pub(crate) fn end(&mut self) {
        self.scratch.clear();
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = Vec::new();
        }
    }

    /// Encodes `rows` of `batch` as the continuation of `buf`'s stream (a new stream when
    /// `buf` is `None`) into the scratch.
    pub(crate) fn stage(
        &mut self,
        buf: Option<&Buffer>,
        batch: &RecordBatch,
        rows: &Rows,
        at: impl FnOnce() -> Location,
    ) -> Result<Staged, SinkError> {
        let start = self.scratch.len();
        self.enc.resume(buf.map(|b| b.state).unwrap_or_default());
        if let Err(error) = rows.encode(&mut self.enc, batch, &mut self.scratch) {
            self.scratch.truncate(start);
            return Err(InputError::Codec { at: at(), error }.into());
        }
        let add = self.scratch.len() - start;
        let empty = Buffer::default();
        let b = buf.unwrap_or(&empty);
        let growth = cost(b.held_after(add) as u64).saturating_sub(b.cost());
        Ok(Staged {
            range: start..self.scratch.len(),
            state: self.enc.stream_state(),
            rows: rows.count(batch.num_rows()) as u64,
            growth,
        })
    }

    /// Appends staged rows to the buffer they were staged for (unchanged since). Its accounted
    /// size grows by exactly `staged.growth`.
    pub(crate) fn append(&self, buf: &mut Buffer, staged: &Staged) {
        let data = self.scratch.get(staged.range.clone()).unwrap_or_default();
        buf.extend(data);
        buf.state = staged.state;
        buf.rows += staged.rows;
    }

    /// Finishes `buf`'s stream (footer) and compresses it into a body that holds no spare
    /// capacity. Each chunk is freed as soon as it is compressed (or copied).
    pub(crate) fn finish_body(
        &mut self,
        buf: Buffer,
        compression: Compression,
        at: impl FnOnce() -> Location,
    ) -> Result<Body, SinkError> {
        let cost = buf.cost();
        let Buffer {
            state,
            chunks,
            len,
            rows,
            ..
        } = buf;
        self.enc.resume(state);
        let mut footer = Vec::with_capacity(MAX_FOOTER_LEN);
        self.enc.finish(&mut footer);
        let body = match compression {
            Compression::Raw => {
                let mut out = Vec::with_capacity(len + footer.len());
                for chunk in chunks {
                    out.extend_from_slice(&chunk);
                }
                out.extend_from_slice(&footer);
                out
            }
            c => {
                let compressed = (|| {
                    let mut z = Compressor::new(c)?;
                    for chunk in chunks {
                        z.write(&chunk)?;
                    }
                    z.write(&footer)?;
                    z.finish()
                })();
                let mut out =
                    compressed.map_err(|error| SinkError::Compress { at: at(), error })?;
                // Shrinking gives back the output's growth room in place.
                out.shrink_to_fit();
                out
            }
        };
        Ok(Body {
            body: Bytes::from(body),
            cost,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_about_a_quarter_of_the_length() {
        assert_eq!(chunk_size(0, 1), MIN_CHUNK);
        assert_eq!(chunk_size(40_000, 100), 8192);
        assert_eq!(chunk_size(40_000, 20_000), 16_384);
        assert_eq!(chunk_size(1 << 30, 1), MAX_CHUNK);
        assert_eq!(chunk_size(0, usize::MAX), MAX_CHUNK);
        // Appends of every size keep the spare room within a quarter of the length (or one
        // smallest chunk), and `held` is what was allocated.
        for step in [1usize, 7, 65, 1000, 5000, 300_000] {
            let mut b = Buffer::default();
            let data = vec![7u8; step];
            for _ in 0..200 {
                let expect = b.held_after(step);
                b.extend(&data);
                let (caps, n) = b.allocated();
                assert_eq!(b.held, caps + n * CHUNK_OVERHEAD);
                assert_eq!(b.held, expect);
                assert!(
                    caps - b.len <= (b.len / 4).max(MIN_CHUNK),
                    "{step}: {caps} for {}",
                    b.len
                );
                assert!(b.chunks.iter().all(|c| c.capacity().is_power_of_two()));
            }
            let all: Vec<u8> = b.chunks.concat();
            assert_eq!(all.len(), step * 200);
        }
    }
}
