//! Plumbing the writers share: the output queue, tokens, pending requests, timers, the clock,
//! the lifecycle phase and encoded buffers.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::budget::cost;
use super::error::{InputError, Location, SinkError};
use super::event::SinkEvent;
use super::input::Rows;
use super::timers::Timers;
use crate::codec::RecordEncoder;
use crate::compress::{Compression, compress};
use crate::http::Request;
use crate::machine::{Instant, Output, Token, TokenSource};
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

/// Encoded rows of one partition (or bucket), not flushed yet.
#[derive(Debug, Clone)]
pub(crate) struct Buffer {
    pub(crate) enc: RecordEncoder,
    pub(crate) bytes: Vec<u8>,
    pub(crate) rows: u64,
}

/// A flushed buffer: the request body.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    pub(crate) body: Bytes,
    /// What the buffer was accounted as ([`cost`]).
    pub(crate) cost: u64,
    pub(crate) rows: u64,
}

/// How to undo an append to a buffer.
#[derive(Debug)]
pub(crate) struct BufferMark {
    enc: RecordEncoder,
    len: usize,
    rows: u64,
}

impl Buffer {
    pub(crate) fn new(enc: RecordEncoder) -> Self {
        Self {
            enc,
            bytes: Vec::new(),
            rows: 0,
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The accounted size ([`cost`] of the encoded bytes).
    pub(crate) fn cost(&self) -> u64 {
        cost(self.len())
    }

    pub(crate) fn mark(&self) -> BufferMark {
        BufferMark {
            enc: self.enc.clone(),
            len: self.bytes.len(),
            rows: self.rows,
        }
    }

    pub(crate) fn rollback(&mut self, m: BufferMark) {
        self.enc = m.enc;
        self.bytes.truncate(m.len);
        self.rows = m.rows;
    }

    /// Appends rows; returns how much the accounted size ([`cost`]) grew.
    pub(crate) fn append(
        &mut self,
        batch: &RecordBatch,
        rows: &Rows,
        at: impl FnOnce() -> Location,
    ) -> Result<u64, SinkError> {
        let before = self.cost();
        rows.encode(&mut self.enc, batch, &mut self.bytes)
            .map_err(|error| InputError::Codec { at: at(), error })?;
        self.rows += rows.count(batch.num_rows()) as u64;
        Ok(self.cost().saturating_sub(before))
    }

    /// Finishes the stream (footer) and compresses it.
    pub(crate) fn into_body(
        mut self,
        compression: Compression,
        at: impl FnOnce() -> Location,
    ) -> Result<Body, SinkError> {
        let cost = self.cost();
        self.enc.finish(&mut self.bytes);
        let body = match compression {
            Compression::Raw => {
                // The body keeps its allocation: drop the growth slack first.
                self.bytes.shrink_to_fit();
                Bytes::from(self.bytes)
            }
            c => Bytes::from(
                compress(c, &self.bytes)
                    .map_err(|error| SinkError::Compress { at: at(), error })?,
            ),
        };
        Ok(Body {
            body,
            cost,
            rows: self.rows,
        })
    }
}
