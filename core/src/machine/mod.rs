//! The vocabulary every state machine of the core shares.
//!
//! A machine is driven like this (after str0m / quinn-proto):
//!
//! ```text
//! machine.handle(input, now)                  // one mutation
//! while let Some(out) = machine.poll(now) {}  // drain: Send{token, request} | Event(..)
//! machine.next_deadline()                     // when to call poll again with no input
//! machine.snapshot()                          // versioned serde state
//! ```
//!
//! Time is an argument: [`Instant`] is a monotonic millisecond count whose origin the caller
//! chooses (the driver uses tokio's clock, the simulator a virtual one). Requests leave the
//! machine unsigned; the driver signs them with its wall clock when it sends them.

mod retry;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::http::{Request, Response};

pub use retry::{Backoff, RetryDecision, RetryPolicy};

/// A point on the caller's monotonic clock, in milliseconds since an origin the caller picks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Instant(u64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Instant {
        Instant(
            self.0
                .saturating_add(d.as_millis().min(u64::MAX as u128) as u64),
        )
    }

    /// Time from `earlier` to `self` (zero when `earlier` is later).
    pub fn since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Identifies one request a machine sent, so its reply can be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Token(pub u64);

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Hands out increasing tokens.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenSource(u64);

impl TokenSource {
    /// The next unused token.
    pub fn next_token(&mut self) -> Token {
        self.0 += 1;
        Token(self.0)
    }
}

/// What a machine asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<E> {
    /// Send this request and report its reply with [`Reply`] under the same token.
    Send {
        /// Matches the reply to the request.
        token: Token,
        /// The (unsigned) request.
        request: Request,
    },
    /// Something the engine should know.
    Event(E),
}

/// How a transport failed to deliver a request or its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransportErrorKind {
    /// Could not connect.
    Connect,
    /// No response within the driver's timeout (the request may or may not have been applied).
    Timeout,
    /// The connection closed before a whole response arrived (may or may not have been applied).
    Closed,
    /// Anything else.
    Other,
}

/// A request whose response never (fully) arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("transport error ({kind:?}): {message}")]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportErrorKind,
    /// Human-readable detail.
    pub message: String,
}

impl TransportError {
    /// A transport error.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The reply to a sent request.
pub type Reply = Result<Response, TransportError>;

/// The part every machine shares, so one driver loop can run any of them.
///
/// The driver's loop (after every mutation: a write, a barrier, a reply, a timeout):
///
/// ```text
/// loop {
///     while let Some(out) = machine.poll(now) {
///         match out {
///             Output::Send { token, request } => transport.send(token, request),
///             Output::Event(e) => engine.handle(e),
///         }
///     }
///     wait until a reply arrives (→ machine.handle_reply(token, reply, now))
///         or machine.next_deadline() passes (→ the next poll(now) handles it)
/// }
/// ```
///
/// Rules every machine keeps:
///
/// - `poll(now)` first fires every timer due at `now` (retry backoffs, flush intervals, poll
///   intervals), then hands out queued outputs one at a time. It returns `None` when there is
///   nothing to do until the next input or [`Machine::next_deadline`].
/// - A reply for a token the machine no longer waits for (it failed, or the token is stale) is
///   ignored.
/// - Nothing reads a clock: `now` only moves forward as the caller passes it in; an older
///   `now` than seen before is treated as the latest one seen.
pub trait Machine {
    /// What the machine reports to the engine.
    type Event;

    /// Feeds the reply (response or transport failure) to the request sent under `token`.
    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant);

    /// The next thing to do: a request to send or an event. Call until `None` after every
    /// mutation and whenever [`Machine::next_deadline`] passes.
    fn poll(&mut self, now: Instant) -> Option<Output<Self::Event>>;

    /// When `poll` must be called again even if no reply arrives (`None`: only inputs can make
    /// progress).
    fn next_deadline(&self) -> Option<Instant>;
}
