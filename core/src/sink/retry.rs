//! How the sink machines react to a failed request (the SDKs' retry contract, through
//! [`RetryPolicy`]).
//!
//! | failure | reaction |
//! |---|---|
//! | 429, or code `FlowExceeded` / `QPSExceeded` / `SlotExceeded` | retry without limit; backoff doubles from `sleepMillis` up to 64 s, never shorter than the server's `Retry-After` / `HoldClientMillis` |
//! | 308 (slot moved) | use the new `odps-tunnel-routed-server` (or reload the session when absent) and retry without limit |
//! | 502, 504 | reload the session, then retry; counts against `retryTimes` |
//! | other 5xx, 408, transient codes, transport errors | retry up to `retryTimes` times with backoff |
//! | 404 / `NoSuch…` / `…NotFound` | not found (the caller decides: usually terminal) |
//! | `…AlreadyExists` / `…AlreadyCommitted` | already done (the caller decides) |
//! | anything else | terminal |

use std::time::Duration;

use super::error::{Location, Operation, SinkError};
use crate::api::{ApiError, ErrorClass, codes};
use crate::machine::{RetryDecision, RetryPolicy, TransportError};

/// A request's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// An error response.
    Api(ApiError),
    /// No (whole) response.
    Transport(TransportError),
}

/// Failures of one logical request so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Attempts {
    /// Every failure (drives the backoff exponent).
    pub(crate) failures: u32,
    /// Failures that count against `retryTimes`.
    pub(crate) limited: u32,
}

impl Attempts {
    /// Attempts made so far, when the last one failed.
    pub(crate) fn made(&self) -> u32 {
        self.failures.max(1)
    }
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Send the same request again after the delay.
    Retry(Duration),
    /// Reload the session after the delay, then send again.
    Reload(Duration),
    /// The slot moved to this address: send again there at once.
    Reroute(String),
    /// The object is gone (session expired, table or partition missing).
    NotFound,
    /// The operation had already happened.
    AlreadyDone,
    /// Terminal.
    GiveUp,
}

/// True for flow-control failures (retried without limit).
pub(crate) fn is_flow_control(e: &ApiError) -> bool {
    e.status == 429
        || e.code == codes::FLOW_EXCEEDED
        || e.code == codes::QPS_EXCEEDED
        || e.code == codes::SLOT_EXCEEDED
}

fn hint(e: &ApiError) -> Option<Duration> {
    match e.class {
        ErrorClass::Retry { after_ms } => after_ms.or(e.retry_after),
        _ => e.retry_after,
    }
    .map(Duration::from_millis)
}

fn to_next(d: RetryDecision) -> Next {
    match d {
        RetryDecision::RetryAfter(d) => Next::Retry(d),
        RetryDecision::ReloadThenRetry(d) => Next::Reload(d),
        RetryDecision::GiveUp => Next::GiveUp,
    }
}

/// Classifies `failure` (with `class` overriding the error's own class when given) and counts
/// it in `attempts`.
pub(crate) fn decide(
    policy: &RetryPolicy,
    attempts: &mut Attempts,
    failure: &Failure,
    class: Option<ErrorClass>,
) -> Next {
    attempts.failures = attempts.failures.saturating_add(1);
    match failure {
        Failure::Transport(_) => {
            attempts.limited = attempts.limited.saturating_add(1);
            to_next(policy.retryable(attempts.limited, None))
        }
        Failure::Api(e) => match class.unwrap_or(e.class) {
            ErrorClass::Retry { .. } if is_flow_control(e) => {
                to_next(policy.flow_control(attempts.failures, hint(e)))
            }
            ErrorClass::Retry { .. } => {
                attempts.limited = attempts.limited.saturating_add(1);
                to_next(policy.retryable(attempts.limited, hint(e)))
            }
            ErrorClass::ReloadSession if e.status == 308 => match e.routed_server() {
                Some(addr) => Next::Reroute(addr.to_string()),
                None => match policy.flow_control(attempts.failures, None) {
                    RetryDecision::RetryAfter(d) => Next::Reload(d),
                    other => to_next(other),
                },
            },
            ErrorClass::ReloadSession => {
                attempts.limited = attempts.limited.saturating_add(1);
                to_next(policy.reload(attempts.limited))
            }
            ErrorClass::NotFound => Next::NotFound,
            ErrorClass::AlreadyDone => Next::AlreadyDone,
            ErrorClass::Fatal => Next::GiveUp,
        },
    }
}

/// The terminal error for a request that will not be retried.
pub(crate) fn failure_error(
    op: Operation,
    at: Location,
    attempts: Attempts,
    f: Failure,
) -> SinkError {
    match f {
        Failure::Api(error) => SinkError::Service {
            op,
            at,
            attempts: attempts.made(),
            error: Box::new(error),
        },
        Failure::Transport(error) => SinkError::Transport {
            op,
            at,
            attempts: attempts.made(),
            error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Service;
    use crate::machine::TransportErrorKind;

    fn api(status: u16, code: &str) -> Failure {
        Failure::Api(ApiError::new(Service::Tunnel, status, code, "m"))
    }

    #[test]
    fn classes() {
        let p = RetryPolicy::from_options(2, 100);
        let mut a = Attempts::default();
        // Flow control: never gives up, honours the hint.
        let f = Failure::Api(
            ApiError::new(Service::Tunnel, 429, "FlowExceeded", "slow down").with_retry_after(5000),
        );
        for _ in 0..10 {
            assert!(
                matches!(decide(&p, &mut a, &f, None), Next::Retry(d) if d >= Duration::from_secs(5))
            );
        }
        assert_eq!(a.limited, 0);
        // 500: limited.
        let mut a = Attempts::default();
        assert_eq!(
            decide(&p, &mut a, &api(500, "InternalError"), None),
            Next::Retry(Duration::from_millis(100))
        );
        assert_eq!(
            decide(&p, &mut a, &api(500, "InternalError"), None),
            Next::Retry(Duration::from_millis(200))
        );
        assert_eq!(
            decide(&p, &mut a, &api(500, "InternalError"), None),
            Next::GiveUp
        );
        assert_eq!(a.made(), 3);
        // 502: reload, limited.
        let mut a = Attempts::default();
        assert!(matches!(
            decide(&p, &mut a, &api(502, "BadGateway"), None),
            Next::Reload(_)
        ));
        // Transport: limited.
        let mut a = Attempts::default();
        let t = Failure::Transport(TransportError::new(TransportErrorKind::Timeout, "t"));
        assert!(matches!(decide(&p, &mut a, &t, None), Next::Retry(_)));
        assert!(matches!(decide(&p, &mut a, &t, None), Next::Retry(_)));
        assert_eq!(decide(&p, &mut a, &t, None), Next::GiveUp);
        // 308 with and without a new address.
        let moved = Failure::Api(
            ApiError::new(Service::Tunnel, 308, "SlotMoved", "m").with_routed_server("1.2.3.4:80"),
        );
        assert_eq!(
            decide(&p, &mut Attempts::default(), &moved, None),
            Next::Reroute("1.2.3.4:80".into())
        );
        assert!(matches!(
            decide(&p, &mut Attempts::default(), &api(308, "SlotMoved"), None),
            Next::Reload(_)
        ));
        // Terminal classes.
        assert_eq!(
            decide(
                &p,
                &mut Attempts::default(),
                &api(400, "InvalidArgument"),
                None
            ),
            Next::GiveUp
        );
        assert_eq!(
            decide(
                &p,
                &mut Attempts::default(),
                &api(404, "NoSuchUpload"),
                None
            ),
            Next::NotFound
        );
        assert_eq!(
            decide(
                &p,
                &mut Attempts::default(),
                &api(400, "InvalidArgument"),
                Some(ErrorClass::AlreadyDone)
            ),
            Next::AlreadyDone
        );
    }
}
