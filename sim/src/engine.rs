//! The job a runner drives: the sink engine model ([`Job`]), the source job
//! ([`SourceJob`]) or the lookup job ([`LookupJob`]), chosen by the workload. All three are
//! pure machines with the same interface, so both runners drive any of them.

use std::sync::Arc;

use maxc_core::machine::{Instant, Machine, Output, Reply, Token};

use crate::job::{Job, SharedRef};
use crate::lookup_job::LookupJob;
use crate::plan::{FaultPlan, Scenario};
use crate::source_job::SourceJob;
use crate::workload::Tunnel;

/// One job incarnation of any workload.
#[derive(Debug)]
pub enum Engine {
    /// Sink workloads.
    Sink(Box<Job>),
    /// Source workloads.
    Source(Box<SourceJob>),
    /// The lookup workload.
    Lookup(Box<LookupJob>),
}

impl Engine {
    /// The job of `sc`'s workload (restoring from `shared` when it holds a checkpoint).
    pub fn new(
        sc: Arc<Scenario>,
        plan: &FaultPlan,
        shared: SharedRef,
        now: Instant,
    ) -> Result<Self, String> {
        Ok(match sc.workload.tunnel() {
            Tunnel::Source => Engine::Source(Box::new(SourceJob::new(sc, plan, shared, now)?)),
            Tunnel::Lookup => Engine::Lookup(Box::new(LookupJob::new(sc, plan, shared, now)?)),
            _ => Engine::Sink(Box::new(Job::new(sc, plan, shared, now)?)),
        })
    }

    /// True once the job finished (or failed for good).
    pub fn is_done(&self) -> bool {
        match self {
            Engine::Sink(j) => j.is_done(),
            Engine::Source(j) => j.is_done(),
            Engine::Lookup(j) => j.is_done(),
        }
    }
}

impl Machine for Engine {
    type Event = String;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        match self {
            Engine::Sink(j) => j.handle_reply(token, reply, now),
            Engine::Source(j) => j.handle_reply(token, reply, now),
            Engine::Lookup(j) => j.handle_reply(token, reply, now),
        }
    }

    fn poll(&mut self, now: Instant) -> Option<Output<String>> {
        match self {
            Engine::Sink(j) => j.poll(now),
            Engine::Source(j) => j.poll(now),
            Engine::Lookup(j) => j.poll(now),
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match self {
            Engine::Sink(j) => j.next_deadline(),
            Engine::Source(j) => j.next_deadline(),
            Engine::Lookup(j) => j.next_deadline(),
        }
    }
}
