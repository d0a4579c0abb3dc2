//! Fault rules: match requests by operation, project, table, partition and attempt number,
//! then apply an effect. Probabilities draw from a seeded [`SplitMix64`], so a run replays.
//!
//! A rule *matches* a request when every given filter matches. Each match increments the
//! rule's counter; the rule *fires* when the counter equals `nth` (if given), the
//! `times` budget is not used up and the probability draw succeeds. The first rule (in
//! insertion order) that fires wins.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;
use crate::service::route::{Operation, Route};
use crate::spec::PartSpec;

/// What a fired rule does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultEffect {
    /// Answer with this status and service error code; the request is not applied.
    Error {
        /// HTTP status.
        status: u16,
        /// Error code (`InternalServerError`, `NoSuchPartition`, ...).
        code: String,
        /// Message (defaults to a description of the injected fault).
        #[serde(default)]
        message: Option<String>,
    },
    /// 429 `FlowExceeded` with `Retry-After`; not applied.
    Throttle {
        /// Seconds in `Retry-After`.
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    /// 502 Bad Gateway; not applied.
    BadGateway,
    /// 504 Gateway Timeout; not applied.
    GatewayTimeout,
    /// 429 `SlotExceeded` (stream/upsert slot exhaustion); not applied.
    SlotExceeded,
    /// The response is delayed by `ms` (the request is applied normally).
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// The connection is closed without a response; the request is not applied.
    DropConnection,
    /// The request is applied, then the connection is closed without a response
    /// (commit-applied-but-response-lost).
    LoseResponse,
    /// The request is applied; the response headers and `after_bytes` of the body are
    /// sent (default: half), then the connection is closed.
    DropMidBody {
        /// Body bytes to send before closing.
        #[serde(default)]
        after_bytes: Option<usize>,
    },
    /// The request is applied; the body is cut to `bytes` (default: half) and sent with a
    /// matching Content-Length (a well-formed HTTP response with a short payload).
    TruncateBody {
        /// Bytes to keep.
        #[serde(default)]
        bytes: Option<usize>,
    },
    /// The request is applied; one CRC in the download body is altered (record streams:
    /// the first record's CRC; Arrow framing: the final CRC).
    CorruptCrc,
    /// The session named by the request is marked expired before the request is handled.
    ExpireSession,
}

fn one() -> u64 {
    1
}

/// One or several operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OpFilter {
    /// A single operation.
    One(Operation),
    /// Any of these.
    Any(Vec<Operation>),
}

impl OpFilter {
    fn matches(&self, op: Operation) -> bool {
        match self {
            OpFilter::One(o) => *o == op,
            OpFilter::Any(v) => v.contains(&op),
        }
    }
}

/// A rule as posted to `/_maxc/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// Operation filter (absent = any non-admin operation).
    #[serde(default)]
    pub operation: Option<OpFilter>,
    /// Project filter (case-insensitive).
    #[serde(default)]
    pub project: Option<String>,
    /// Table filter (case-insensitive).
    #[serde(default)]
    pub table: Option<String>,
    /// Partition filter (`ds=1,hr=2`, any quoting; compared as parsed specs).
    #[serde(default)]
    pub partition: Option<String>,
    /// Fire only on the n-th matching request (1-based).
    #[serde(default)]
    pub nth: Option<u64>,
    /// Fire at most this many times (absent = unlimited, or once with `nth`).
    #[serde(default)]
    pub times: Option<u64>,
    /// Fire with this probability (seeded RNG).
    #[serde(default)]
    pub probability: Option<f64>,
    /// The effect.
    pub effect: FaultEffect,
}

/// A rule with its counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Rule id.
    pub id: u64,
    /// The rule.
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Requests that matched the filters.
    pub matched: u64,
    /// Times the rule fired.
    pub fired: u64,
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    /// Rule id.
    pub rule: u64,
    /// Its effect.
    pub effect: FaultEffect,
}

/// All rules and the RNG their probabilities draw from.
#[derive(Debug, Clone)]
pub struct FaultEngine {
    rules: Vec<FaultRule>,
    next_id: u64,
    rng: SplitMix64,
}

/// A rule that cannot be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault rule: {0}")]
pub struct FaultError(pub String);

impl FaultEngine {
    /// No rules; probabilities draw from a generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rules: Vec::new(),
            next_id: 0,
            rng: SplitMix64::new(seed ^ 0x5EED_FA17_0000_0001),
        }
    }

    /// Adds a rule; returns its id.
    pub fn add(&mut self, spec: FaultSpec) -> Result<u64, FaultError> {
        if let Some(p) = spec.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(FaultError(format!("probability {p} is not within 0..=1")));
        }
        if spec.nth == Some(0) {
            return Err(FaultError("nth is 1-based".into()));
        }
        if let Some(p) = &spec.partition {
            PartSpec::parse(p).map_err(FaultError)?;
        }
        if let FaultEffect::Error { status, .. } = &spec.effect
            && !(400..=599).contains(status)
        {
            return Err(FaultError(format!("error status {status} is not 4xx/5xx")));
        }
        if spec.operation == Some(OpFilter::One(Operation::Admin)) {
            return Err(FaultError("admin requests cannot be faulted".into()));
        }
        self.next_id += 1;
        self.rules.push(FaultRule {
            id: self.next_id,
            spec,
            matched: 0,
            fired: 0,
        });
        Ok(self.next_id)
    }

    /// Removes a rule; false when unknown.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        before != self.rules.len()
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules with their counters.
    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Counts the request against every matching rule and returns the first that fires.
    pub fn evaluate(&mut self, route: &Route) -> Option<Fired> {
        let mut fired = None;
        for rule in &mut self.rules {
            if !matches(&rule.spec, route) {
                continue;
            }
            rule.matched += 1;
            if fired.is_some() {
                continue;
            }
            let s = &rule.spec;
            if let Some(n) = s.nth
                && rule.matched != n
            {
                continue;
            }
            let budget = s.times.or(s.nth.map(|_| 1));
            if budget.is_some_and(|b| rule.fired >= b) {
                continue;
            }
            if let Some(p) = s.probability
                && !self.rng.chance(p)
            {
                continue;
            }
            rule.fired += 1;
            fired = Some(Fired {
                rule: rule.id,
                effect: s.effect.clone(),
            });
        }
        fired
    }
}

fn eq_opt(want: &Option<String>, have: &Option<String>) -> bool {
    match want {
        None => true,
        Some(w) => have.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(w)),
    }
}

fn matches(s: &FaultSpec, r: &Route) -> bool {
    if r.op == Operation::Admin {
        return false;
    }
    if let Some(f) = &s.operation
        && !f.matches(r.op)
    {
        return false;
    }
    if !eq_opt(&s.project, &r.project) || !eq_opt(&s.table, &r.table) {
        return false;
    }
    if let Some(want) = &s.partition {
        let (Ok(w), Some(Ok(h))) = (
            PartSpec::parse(want),
            r.partition.as_deref().map(PartSpec::parse),
        ) else {
            return false;
        };
        let norm = |p: PartSpec| {
            let mut v: Vec<(String, String)> =
                p.0.into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect();
            v.sort();
            v
        };
        if norm(w) != norm(h) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::route::Layout;

    fn route(op: Operation, table: &str, part: Option<&str>) -> Route {
        Route {
            layout: Layout::Tunnel,
            op,
            project: Some("p".into()),
            schema: None,
            table: Some(table.into()),
            instance: None,
            partition: part.map(str::to_string),
            path: String::new(),
        }
    }

    fn spec(json: serde_json::Value) -> FaultSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn nth_and_times() {
        let mut e = FaultEngine::new(1);
        e.add(spec(serde_json::json!({"operation": "upload_block", "nth": 2, "effect": {"type": "bad_gateway"}})))
            .unwrap();
        let r = route(Operation::UploadBlock, "t", None);
        assert!(e.evaluate(&r).is_none());
        assert_eq!(e.evaluate(&r).unwrap().effect, FaultEffect::BadGateway);
        assert!(e.evaluate(&r).is_none());
        assert!(
            e.evaluate(&route(Operation::CommitUpload, "t", None))
                .is_none()
        );
        e.add(spec(serde_json::json!({"operation": ["commit_upload", "get_upload"], "times": 2,
            "table": "T", "partition": "ds='1'", "effect": {"type": "throttle", "retry_after_secs": 3}})))
            .unwrap();
        let c = route(Operation::CommitUpload, "t", Some("ds=1"));
        assert!(
            e.evaluate(&route(Operation::CommitUpload, "t", Some("ds=2")))
                .is_none()
        );
        assert!(e.evaluate(&c).is_some());
        assert!(e.evaluate(&c).is_some());
        assert!(e.evaluate(&c).is_none());
        assert_eq!(e.rules()[1].matched, 3);
        assert_eq!(e.rules()[1].fired, 2);
    }

    #[test]
    fn probability_replays() {
        let run = |seed| {
            let mut e = FaultEngine::new(seed);
            e.add(spec(
                serde_json::json!({"probability": 0.5, "effect": {"type": "delay", "ms": 5}}),
            ))
            .unwrap();
            let r = route(Operation::GetTable, "t", None);
            (0..64)
                .map(|_| e.evaluate(&r).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let fired = run(7).iter().filter(|x| **x).count();
        assert!((10..54).contains(&fired), "{fired}");
    }

    #[test]
    fn rejects_bad_rules() {
        let mut e = FaultEngine::new(0);
        for bad in [
            serde_json::json!({"probability": 2.0, "effect": {"type": "bad_gateway"}}),
            serde_json::json!({"nth": 0, "effect": {"type": "bad_gateway"}}),
            serde_json::json!({"partition": "x", "effect": {"type": "bad_gateway"}}),
            serde_json::json!({"effect": {"type": "error", "status": 200, "code": "X"}}),
        ] {
            assert!(e.add(spec(bad)).is_err());
        }
        assert!(
            serde_json::from_value::<FaultSpec>(serde_json::json!({"effect": {"type": "nope"}}))
                .is_err()
        );
    }
}
