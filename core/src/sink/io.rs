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
use crate::compress::{Compression, compress};
use crate::http::Request;
use crate::machine::{Instant, Output, Token, TokenSource};
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

/// Spare room every buffer keeps for its stream footer, so that finishing it never grows it.
const FOOTER_ROOM: usize = MAX_FOOTER_LEN;

/// Scratch capacity kept between writes; a write that needed more gives it back.
const SCRATCH_KEEP: usize = 1 << 20;

/// The smallest buffer allocation.
const MIN_CAPACITY: usize = 64;

/// The allocation size class for `n` bytes: the smallest of 4/4, 5/4, 6/4 and 7/4 times a
/// power of two that holds `n` (at least [`MIN_CAPACITY`]). Consecutive classes differ by at
/// most a quarter, so a buffer holds at most a quarter more than it needs; and with few
/// distinct sizes, an allocation a buffer gives up (growing or flushed) fits another buffer
/// growing through the same class exactly, so thousands of growing buffers do not fragment
/// the heap.
fn size_class(n: usize) -> usize {
    if n <= MIN_CAPACITY {
        return MIN_CAPACITY;
    }
    let p = 1usize << (usize::BITS - 1 - n.leading_zeros());
    let q = p / 4;
    p.saturating_add((n - p).div_ceil(q).saturating_mul(q))
}

/// Encoded rows of one partition (or bucket), not flushed yet: the bytes of an unfinished
/// record stream and where that stream stands. The encoder itself is the writer's
/// ([`Encoding`]), shared by all its buffers.
///
/// Buffers grow through allocation size classes ([`Buffer::grown`]), so the allocation a
/// buffer holds, which is what it is accounted as ([`Buffer::cost`]), is at most a quarter
/// more than its length and footer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Buffer {
    state: StreamState,
    bytes: Vec<u8>,
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
        self.bytes.len() as u64
    }

    /// The bytes the buffer's allocation holds (its capacity).
    pub(crate) fn held(&self) -> u64 {
        self.bytes.capacity() as u64
    }

    /// The accounted size: [`cost`] of the allocation (capacity, not length).
    pub(crate) fn cost(&self) -> u64 {
        cost(self.held())
    }

    /// The capacity after `add` more bytes: unchanged while they fit with the footer room;
    /// otherwise the [`size_class`] that holds them (each step grows by an eighth to a
    /// quarter, so appends stay amortized).
    fn grown(&self, add: usize) -> usize {
        let need = self
            .bytes
            .len()
            .saturating_add(add)
            .saturating_add(FOOTER_ROOM);
        let cap = self.bytes.capacity();
        if need <= cap { cap } else { size_class(need) }
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
        let growth = match buf {
            Some(b) => cost(b.grown(add) as u64).saturating_sub(b.cost()),
            None => cost(Buffer::default().grown(add) as u64),
        };
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
        let cap = buf.grown(data.len());
        if cap > buf.bytes.capacity() {
            buf.bytes.reserve_exact(cap - buf.bytes.len());
        }
        buf.bytes.extend_from_slice(data);
        buf.state = staged.state;
        buf.rows += staged.rows;
    }

    /// Finishes `buf`'s stream (footer) and compresses it into a body that holds no spare
    /// capacity. The raw bytes are freed as soon as the body exists.
    pub(crate) fn into_body(
        &mut self,
        buf: Buffer,
        compression: Compression,
        at: impl FnOnce() -> Location,
    ) -> Result<Body, SinkError> {
        let cost = buf.cost();
        let Buffer {
            state,
            mut bytes,
            rows,
        } = buf;
        self.enc.resume(state);
        // Fits in the footer room: no reallocation.
        self.enc.finish(&mut bytes);
        let mut body = match compression {
            Compression::Raw => bytes,
            c => {
                let out = compress(c, &bytes);
                drop(bytes);
                out.map_err(|error| SinkError::Compress { at: at(), error })?
            }
        };
        // Shrinking gives back the spare capacity in place.
        body.shrink_to_fit();
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
    fn size_classes_hold_at_most_a_quarter_more() {
        let mut classes = std::collections::BTreeSet::new();
        for n in 0..100_000usize {
            let c = size_class(n);
            assert!(c >= n && c >= MIN_CAPACITY, "{n} → {c}");
            assert!(n <= MIN_CAPACITY || c <= n + n / 4 + 1, "{n} → {c}");
            assert_eq!(size_class(c), c, "a class is its own class");
            classes.insert(c);
        }
        // Four classes per doubling: 64, 80, 96, 112, 128, 160, ...; up to 100,000 bytes: the
        // ten doublings from 64 to 65,536, then 65,536, 81,920, 98,304 and 114,688.
        assert_eq!(
            classes.iter().take(9).copied().collect::<Vec<_>>(),
            vec![64, 80, 96, 112, 128, 160, 192, 224, 256]
        );
        assert_eq!(classes.len(), 4 * 10 + 4);
        assert_eq!(size_class(usize::MAX), usize::MAX);
    }
}
