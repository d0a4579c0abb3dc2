//! Bookkeeping shared by the source and lookup machines: requests in flight by token,
//! retries waiting for their time, and the retry decision for a failure.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::api::{ApiError, ErrorClass, codes};
use crate::http::{Request, Response};
use crate::machine::{Instant, RetryDecision, RetryPolicy, Token, TokenSource, TransportError};

/// Why a request failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// No (complete) response.
    Transport(TransportError),
    /// An error response, or a success response that could not be understood.
    Api(ApiError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(e) => write!(f, "{e}"),
            Failure::Api(e) => write!(f, "{e}"),
        }
    }
}

/// True for throttling (429 or a flow-control code): retried without a limit.
pub(crate) fn is_throttle(e: &ApiError) -> bool {
    e.status == 429
        || [
            codes::FLOW_EXCEEDED,
            codes::QPS_EXCEEDED,
            codes::SLOT_EXCEEDED,
        ]
        .contains(&e.code.as_str())
}

/// The delay before retry number `attempt` (1-based) of a failed request, or `None` to give
/// up. Throttling never gives up; transport errors and `Retry` / `ReloadSession` classes are
/// retried `policy.max_retries` times; everything else is not retried.
pub(crate) fn retry_delay(
    policy: &RetryPolicy,
    failure: &Failure,
    attempt: u32,
) -> Option<Duration> {
    let decision = match failure {
        Failure::Transport(_) => policy.retryable(attempt, None),
        Failure::Api(e) => match e.class {
            ErrorClass::Retry { after_ms } if is_throttle(e) => {
                policy.flow_control(attempt, after_ms.map(Duration::from_millis))
            }
            ErrorClass::Retry { after_ms } => {
                policy.retryable(attempt, after_ms.map(Duration::from_millis))
            }
            // Download sessions have no routes to refresh: retrying reaches a healthy server.
            ErrorClass::ReloadSession => policy.retryable(attempt, None),
            ErrorClass::NotFound | ErrorClass::AlreadyDone | ErrorClass::Fatal => {
                RetryDecision::GiveUp
            }
        },
    };
    match decision {
        RetryDecision::RetryAfter(d) | RetryDecision::ReloadThenRetry(d) => Some(d),
        RetryDecision::GiveUp => None,
    }
}

/// Turns a reply into a parsed value or a [`Failure`].
pub(crate) fn parse_reply<T>(
    reply: Result<Response, TransportError>,
    parse: impl FnOnce(&Response) -> Result<T, ApiError>,
) -> Result<T, Failure> {
    match reply {
        Ok(resp) => parse(&resp).map_err(Failure::Api),
        Err(e) => Err(Failure::Transport(e)),
    }
}

/// A request in flight.
#[derive(Debug, Clone)]
pub(crate) struct InFlight<K> {
    /// What it is for.
    pub kind: K,
    /// The request, kept for retries.
    pub request: Request,
    /// Failed tries so far.
    pub failures: u32,
}

#[derive(Debug, Clone)]
struct Delayed<K> {
    due: Instant,
    entry: InFlight<K>,
}

/// Requests of one machine: a send queue, the requests in flight by token, and retries
/// waiting for their time.
#[derive(Debug, Clone)]
pub(crate) struct Requests<K> {
    tokens: TokenSource,
    ready: VecDeque<(Token, Request)>,
    in_flight: BTreeMap<Token, InFlight<K>>,
    delayed: Vec<Delayed<K>>,
}

impl<K> Default for Requests<K> {
    fn default() -> Self {
        Self {
            tokens: TokenSource::default(),
            ready: VecDeque::new(),
            in_flight: BTreeMap::new(),
            delayed: Vec::new(),
        }
    }
}

impl<K: Clone> Requests<K> {
    /// Queues a new request.
    pub fn send(&mut self, kind: K, request: Request) -> Token {
        self.enqueue(InFlight {
            kind,
            request,
            failures: 0,
        })
    }

    /// Queues a new request to go out at `due`.
    pub fn send_at(&mut self, due: Instant, kind: K, request: Request) {
        self.delayed.push(Delayed {
            due,
            entry: InFlight {
                kind,
                request,
                failures: 0,
            },
        });
    }

    fn enqueue(&mut self, entry: InFlight<K>) -> Token {
        let token = self.tokens.next_token();
        self.ready.push_back((token, entry.request.clone()));
        self.in_flight.insert(token, entry);
        token
    }

    /// Takes the entry of a reply's token; `None` for unknown or cancelled tokens.
    pub fn take(&mut self, token: Token) -> Option<InFlight<K>> {
        self.in_flight.remove(&token)
    }

    /// Sends `entry` again at `due`, counting one more failure.
    pub fn retry_at(&mut self, due: Instant, mut entry: InFlight<K>) {
        entry.failures = entry.failures.saturating_add(1);
        self.delayed.push(Delayed { due, entry });
    }

    /// The next request to send, moving retries that are due into the queue.
    pub fn poll_send(&mut self, now: Instant) -> Option<(Token, Request)> {
        if self.ready.is_empty() && self.delayed.iter().any(|d| d.due <= now) {
            let (mut due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed)
                .into_iter()
                .partition(|d| d.due <= now);
            self.delayed = rest;
            // Oldest due first; the stable sort keeps insertion order for ties.
            due.sort_by_key(|d| d.due);
            for d in due {
                self.enqueue(d.entry);
            }
        }
        self.ready.pop_front()
    }

    /// The earliest retry time.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.delayed.iter().map(|d| d.due).min()
    }

    /// True when nothing is queued, in flight or waiting.
    pub fn is_idle(&self) -> bool {
        self.ready.is_empty() && self.in_flight.is_empty() && self.delayed.is_empty()
    }

    /// True when some request (queued, in flight or waiting) satisfies `pred`.
    pub fn any(&self, mut pred: impl FnMut(&K) -> bool) -> bool {
        self.in_flight.values().any(|e| pred(&e.kind))
            || self.delayed.iter().any(|d| pred(&d.entry.kind))
    }

    /// Forgets every request whose kind satisfies `pred` (its reply will be ignored).
    pub fn cancel(&mut self, mut pred: impl FnMut(&K) -> bool) {
        let gone: Vec<Token> = self
            .in_flight
            .iter()
            .filter(|(_, e)| pred(&e.kind))
            .map(|(t, _)| *t)
            .collect();
        for t in &gone {
            self.in_flight.remove(t);
        }
        self.ready.retain(|(t, _)| !gone.contains(t));
        self.delayed.retain(|d| !pred(&d.entry.kind));
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.ready.clear();
        self.in_flight.clear();
        self.delayed.clear();
    }
}
