//! Retry timing: the official SDKs' retry contract plus the connector's `retryTimes` /
//! `sleepMillis` options.
//!
//! | failure | decision |
//! |---|---|
//! | 429 / flow control (`FlowExceeded`, `QPSExceeded`, `SlotExceeded`) | retry without a limit, exponential backoff capped at 64 s, at least the server's hint |
//! | 502 / 504 | reload the session, then retry (counts against the limit) |
//! | other 5xx, 408, transport errors | retry up to `max_retries` times with exponential backoff |
//! | anything else | give up |

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Exponential backoff: `base * 2^(attempt-1)`, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// Delay before the first retry.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(30);
        self.base
            .checked_mul(1u32 << shift)
            .unwrap_or(self.cap)
            .min(self.cap)
    }
}

/// How many times and how long to wait before retrying a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Retries allowed for retryable failures other than flow control (`retryTimes`).
    pub max_retries: u32,
    /// Backoff between retries (`sleepMillis` is the base).
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            backoff: Backoff {
                base: Duration::from_millis(1000),
                cap: Duration::from_secs(64),
            },
        }
    }
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Send the same request again after this delay.
    RetryAfter(Duration),
    /// Reload the session (new routes / status), then retry after this delay.
    ReloadThenRetry(Duration),
    /// Stop: the failure is terminal.
    GiveUp,
}

impl RetryPolicy {
    /// A policy from the connector options `retryTimes` and `sleepMillis`.
    pub fn from_options(retry_times: u32, sleep_millis: u64) -> Self {
        Self {
            max_retries: retry_times,
            backoff: Backoff {
                base: Duration::from_millis(sleep_millis.max(1)),
                cap: Duration::from_secs(64).max(Duration::from_millis(sleep_millis)),
            },
        }
    }

    /// Decision for a flow-control failure (never gives up), honouring the server's hint.
    pub fn flow_control(&self, attempt: u32, hint: Option<Duration>) -> RetryDecision {
        RetryDecision::RetryAfter(self.backoff.delay(attempt).max(hint.unwrap_or_default()))
    }

    /// Decision for a retryable failure after `attempt` failed tries (1-based).
    pub fn retryable(&self, attempt: u32, hint: Option<Duration>) -> RetryDecision {
        if attempt > self.max_retries {
            return RetryDecision::GiveUp;
        }
        RetryDecision::RetryAfter(self.backoff.delay(attempt).max(hint.unwrap_or_default()))
    }

    /// Decision for a failure that needs a session reload first.
    pub fn reload(&self, attempt: u32) -> RetryDecision {
        if attempt > self.max_retries {
            return RetryDecision::GiveUp;
        }
        RetryDecision::ReloadThenRetry(self.backoff.delay(attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            base: Duration::from_millis(1000),
            cap: Duration::from_secs(64),
        };
        let d: Vec<u64> = (1..=9).map(|a| b.delay(a).as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(64));
    }

    #[test]
    fn retry_limits() {
        let p = RetryPolicy::from_options(2, 100);
        assert_eq!(
            p.retryable(1, None),
            RetryDecision::RetryAfter(Duration::from_millis(100))
        );
        assert_eq!(
            p.retryable(2, Some(Duration::from_secs(5))),
            RetryDecision::RetryAfter(Duration::from_secs(5))
        );
        assert_eq!(p.retryable(3, None), RetryDecision::GiveUp);
        assert_eq!(p.reload(3), RetryDecision::GiveUp);
        // Flow control never gives up.
        assert!(matches!(
            p.flow_control(1000, None),
            RetryDecision::RetryAfter(_)
        ));
    }
}
