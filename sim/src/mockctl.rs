//! Setting up the mock for a run: the table, the fault rules of the plan, counting requests
//! across mock restarts. Shared by both runners.

use std::collections::BTreeMap;

use maxc_core::http::{Method, Request, Service as Layer};
use maxc_mock::faults::{FaultEffect, FaultSpec};
use maxc_mock::{MockTime, Service, ServiceConfig};

use crate::plan::{Fault, FaultPlan, RequestFault, Scenario};

/// Virtual time 0 is this wall-clock instant (2025-01-01T00:00:00Z): pinned, so dates in
/// signatures and session ids replay.
pub const EPOCH_MS: i64 = 1_735_689_600_000;

/// Mock time at virtual `ms`.
pub fn mock_time(ms: u64) -> MockTime {
    MockTime::from_epoch_ms(EPOCH_MS + ms as i64)
}

/// The mock's settings for a scenario.
pub fn service_config(sc: &Scenario) -> ServiceConfig {
    ServiceConfig {
        seed: sc.seed,
        ..ServiceConfig::default()
    }
}

/// Creates the workload's table (idempotent: `IF NOT EXISTS`).
pub fn create_table(svc: &mut Service, sc: &Scenario, now_ms: u64) -> Result<(), String> {
    let req = Request::new(Method::Post, Layer::Rest, "/_maxc/sql").with_body(sc.workload.ddl());
    let resp = svc.handle(req, mock_time(now_ms));
    if resp.is_success() {
        Ok(())
    } else {
        Err(format!(
            "creating the table failed: HTTP {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        ))
    }
}

/// The mock fault effect of a plan's request fault.
pub fn effect(f: RequestFault) -> FaultEffect {
    match f {
        RequestFault::Drop => FaultEffect::DropConnection,
        RequestFault::LoseResponse => FaultEffect::LoseResponse,
        RequestFault::Throttle => FaultEffect::Throttle {
            retry_after_secs: 1,
        },
        RequestFault::SlotExceeded => FaultEffect::SlotExceeded,
        RequestFault::Status500 => FaultEffect::Error {
            status: 500,
            code: "InternalServerError".into(),
            message: None,
        },
        RequestFault::Status502 => FaultEffect::BadGateway,
        RequestFault::Status503 => FaultEffect::Error {
            status: 503,
            code: "ServiceUnavailable".into(),
            message: None,
        },
        RequestFault::Status504 => FaultEffect::GatewayTimeout,
        RequestFault::Delay(ms) => FaultEffect::Delay { ms },
        RequestFault::DropMidBody => FaultEffect::DropMidBody { after_bytes: None },
        RequestFault::TruncateBody => FaultEffect::TruncateBody { bytes: None },
        RequestFault::ExpireSession => FaultEffect::ExpireSession,
    }
}

/// The request-fault rules installed in one mock incarnation.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Id of the counting rule (matches every request, never fires).
    pub sentinel: u64,
    /// Rule id -> the plan's fault kind.
    pub kinds: BTreeMap<u64, &'static str>,
}

/// Installs the plan's request faults with `nth` past `served_before` (requests served by
/// earlier incarnations), preceded by a counting rule.
pub fn install_rules(svc: &mut Service, plan: &FaultPlan, served_before: u64) -> Rules {
    let mut rules = Rules::default();
    let sentinel = FaultSpec {
        operation: None,
        project: None,
        table: None,
        partition: None,
        nth: Some(u64::MAX),
        times: None,
        probability: None,
        effect: FaultEffect::Delay { ms: 0 },
    };
    rules.sentinel = svc.faults_mut().add(sentinel).unwrap_or(0);
    for f in plan.iter() {
        if let Fault::Request { nth, effect: e } = *f
            && nth > served_before
        {
            let spec = FaultSpec {
                operation: None,
                project: None,
                table: None,
                partition: None,
                nth: Some(nth - served_before),
                times: None,
                probability: None,
                effect: effect(e),
            };
            if let Ok(id) = svc.faults_mut().add(spec) {
                rules.kinds.insert(id, e.name());
            }
        }
    }
    rules
}

/// Removes every request-fault rule but the counter (the fault-free tail).
pub fn heal_rules(svc: &mut Service, rules: &mut Rules) {
    for id in std::mem::take(&mut rules.kinds).into_keys() {
        svc.faults_mut().remove(id);
    }
}

/// Adds how often each request-fault rule fired to `out` and forgets the rules (call before
/// the rules are removed or the service is dropped).
pub fn harvest(svc: &Service, rules: &mut Rules, out: &mut BTreeMap<&'static str, u64>) {
    for rule in svc.faults().rules() {
        if rule.fired > 0
            && let Some(k) = rules.kinds.get(&rule.id)
        {
            *out.entry(k).or_default() += rule.fired;
        }
    }
    rules.kinds.clear();
}

/// Requests the mock served in this incarnation (the counting rule's `matched`).
pub fn served(svc: &Service, rules: &Rules) -> u64 {
    svc.faults()
        .rules()
        .iter()
        .find(|r| r.id == rules.sentinel)
        .map_or(0, |r| r.matched)
}

/// True for a batch-tunnel commit request (`POST ...?uploadid=`).
pub fn is_upload_commit(req: &Request) -> bool {
    req.method == Method::Post && req.has_query("uploadid")
}

/// A short description of a request for the trace.
pub fn describe(req: &Request) -> String {
    let mut q: Vec<String> = Vec::new();
    for (k, v) in &req.query {
        let v = if v.len() > 12 {
            &v[v.len() - 8..]
        } else {
            v.as_str()
        };
        if v.is_empty() {
            q.push(k.clone());
        } else {
            q.push(format!("{k}={v}"));
        }
    }
    let tail: String = req
        .path
        .rsplit('/')
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("/");
    format!(
        "{} .../{}?{} ({}B)",
        req.method.as_str(),
        tail,
        q.join("&"),
        req.body.len()
    )
}
