//! The batch-tunnel committer (see the [module docs](super) for its state table).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::error::{Location, Operation, SinkError};
use super::event::Committable;
use super::io::Io;
use super::retry::{Attempts, Failure, Next, decide, failure_error};
use super::settings::CommitterSettings;
use crate::api::tunnel::{commit_upload, get_upload, parse_upload_commit, parse_upload_session};
use crate::api::{ApiContext, ErrorClass, SessionStatus};
use crate::machine::{Instant, Machine, Output, Reply, Token, TokenSource};
use crate::options::SinkConfig;

/// How committing one [`Committable`] ended (after Flink's `CommitRequest` signals).
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    /// This committer committed the session.
    Committed,
    /// The session was committed before (its status is `closed`): nothing to do. This is what a
    /// second commit of the same committable, or a commit after a restore, reports.
    AlreadyCommitted,
    /// Retryable failures used up `retryTimes`: try again later (e.g. at the next checkpoint).
    RetryLater,
    /// The session cannot be committed for a known reason (expired or gone, a block missing on
    /// the server): discard it and continue, or fail, as the job's policy says.
    FailedKnown(SinkError),
    /// An unexpected failure: fail the job.
    FailedUnknown(SinkError),
}

impl CommitOutcome {
    /// True for `Committed` and `AlreadyCommitted`.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            CommitOutcome::Committed | CommitOutcome::AlreadyCommitted
        )
    }
}

/// The outcome for one committable.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitReport {
    /// The [`Committer::commit`] call it belongs to.
    pub request: u64,
    /// The committable.
    pub committable: Committable,
    /// How it ended.
    pub outcome: CommitOutcome,
    /// Rows in the committable (from the writer's acknowledgements).
    pub row_count: u64,
    /// Requests made for it (status checks and commits).
    pub requests: u32,
    /// The last failure seen, if any (also for `RetryLater`).
    pub last_error: Option<SinkError>,
}

/// What the committer reports.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitEvent {
    /// One committable is done.
    Outcome(Box<CommitReport>),
    /// Every committable of the [`Committer::commit`] call `request` has an outcome.
    Done {
        /// The call.
        request: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// `GET ?uploadid=` (status and block list).
    Check,
    /// `POST ?uploadid=`.
    Commit,
}

#[derive(Debug)]
struct Job {
    request: u64,
    c: Committable,
    attempts: Attempts,
    requests: u32,
    last_error: Option<SinkError>,
}

/// Retry timers: (job, the step to send).
type Timer = (u64, Step);

/// Commits batch-tunnel upload sessions idempotently.
///
/// For each committable: read the session (`GET`); `closed` → [`CommitOutcome::AlreadyCommitted`];
/// `normal` → the server's block list must be exactly the committable's block ids, then `POST`
/// the commit → [`CommitOutcome::Committed`]. A commit whose response is lost is retried
/// through the status check, which finds the session `closed`. See the [module docs](super).
#[derive(Debug)]
pub struct Committer {
    s: CommitterSettings,
    io: Io<Timer, (u64, Step), CommitEvent>,
    jobs: BTreeMap<u64, Job>,
    queue: VecDeque<u64>,
    running: BTreeSet<u64>,
    /// Sessions with a running job (a second job for one waits).
    busy_sessions: BTreeSet<(String, String)>,
    open_per_request: BTreeMap<u64, usize>,
    next_job: u64,
    next_request: u64,
}

impl Committer {
    /// A committer with `config`'s retry and concurrency options.
    pub fn new(config: &SinkConfig) -> Self {
        Self::with_settings(CommitterSettings::new(config))
    }

    /// A committer with explicit settings.
    pub fn with_settings(s: CommitterSettings) -> Self {
        Self {
            s,
            io: Io::new(TokenSource::default()),
            jobs: BTreeMap::new(),
            queue: VecDeque::new(),
            running: BTreeSet::new(),
            busy_sessions: BTreeSet::new(),
            open_per_request: BTreeMap::new(),
            next_job: 0,
            next_request: 0,
        }
    }

    /// Starts committing `committables`; returns the request number that the
    /// [`CommitEvent`]s of this call carry. An empty list is done at once.
    pub fn commit(&mut self, committables: Vec<Committable>, now: Instant) -> u64 {
        self.io.clock(now);
        let request = self.next_request;
        self.next_request += 1;
        if committables.is_empty() {
            self.io.event(CommitEvent::Done { request });
            return request;
        }
        self.open_per_request.insert(request, committables.len());
        for c in committables {
            let id = self.next_job;
            self.next_job += 1;
            self.jobs.insert(
                id,
                Job {
                    request,
                    c,
                    attempts: Attempts::default(),
                    requests: 0,
                    last_error: None,
                },
            );
            self.queue.push_back(id);
        }
        self.pump();
        request
    }

    /// Committables not finished yet.
    pub fn pending(&self) -> usize {
        self.jobs.len()
    }

    fn ctx(&self, c: &Committable) -> ApiContext {
        let mut ctx = self.s.ctx.clone();
        ctx.project = c.project.clone();
        ctx.schema = c.schema.clone();
        ctx
    }

    fn session_key(c: &Committable) -> (String, String) {
        (format!("{}.{}", c.project, c.table), c.session_id.clone())
    }

    fn loc(c: &Committable) -> Location {
        let table = match &c.schema {
            Some(s) => format!("{}.{s}.{}", c.project, c.table),
            None => format!("{}.{}", c.project, c.table),
        };
        Location::new(
            table,
            (!c.partition.is_empty()).then(|| c.partition.to_tunnel_string()),
            Some(c.session_id.clone()),
            None,
        )
    }

    fn pump(&mut self) {
        let mut deferred = Vec::new();
        while self.running.len() < self.s.max_concurrent_commits {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            let key = Self::session_key(&job.c);
            if self.busy_sessions.contains(&key) {
                deferred.push(id);
                continue;
            }
            self.busy_sessions.insert(key);
            self.running.insert(id);
            let first = if self.s.bugs.committer_skips_status_check {
                Step::Commit
            } else {
                Step::Check
            };
            self.send(id, first);
        }
        for id in deferred.into_iter().rev() {
            self.queue.push_front(id);
        }
    }

    fn send(&mut self, id: u64, step: Step) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.requests += 1;
        let c = job.c.clone();
        let ctx = self.ctx(&c);
        let req = match step {
            Step::Check => get_upload(&ctx, &c.table, &c.partition, &c.session_id),
            Step::Commit => commit_upload(&ctx, &c.table, &c.partition, &c.session_id),
        };
        self.io.send((id, step), req);
    }

    fn finish(&mut self, id: u64, outcome: CommitOutcome) {
        let Some(job) = self.jobs.remove(&id) else {
            return;
        };
        self.running.remove(&id);
        self.busy_sessions.remove(&Self::session_key(&job.c));
        let request = job.request;
        self.io.event(CommitEvent::Outcome(Box::new(CommitReport {
            request,
            row_count: job.c.row_count,
            committable: job.c,
            outcome,
            requests: job.requests,
            last_error: job.last_error,
        })));
        if let Some(n) = self.open_per_request.get_mut(&request) {
            *n -= 1;
            if *n == 0 {
                self.open_per_request.remove(&request);
                self.io.event(CommitEvent::Done { request });
            }
        }
    }

    /// A failed request: retry (re-checking the status first) or give an outcome.
    fn failed(&mut self, id: u64, op: Operation, f: Failure, now: Instant) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let retryable = match &f {
            Failure::Transport(_) => true,
            Failure::Api(e) => matches!(
                e.class,
                ErrorClass::Retry { .. } | ErrorClass::ReloadSession
            ),
        };
        let next = decide(&self.s.retry, &mut job.attempts, &f, None);
        let attempts = job.attempts;
        let err = failure_error(op, Self::loc(&job.c), attempts, f);
        job.last_error = Some(err.clone());
        // A retry starts over with the status check, so a commit that went through although
        // its response was lost is found `closed`.
        let retry_step = if self.s.bugs.committer_skips_status_check {
            Step::Commit
        } else {
            Step::Check
        };
        match next {
            Next::Retry(d) | Next::Reload(d) => self.io.timers.set((id, retry_step), now.plus(d)),
            Next::Reroute(_) => self.io.timers.set((id, retry_step), now),
            Next::GiveUp if retryable => self.finish(id, CommitOutcome::RetryLater),
            Next::NotFound if op == Operation::CommitUploadSession && retry_step == Step::Check => {
                // The commit says the session is gone; the status check tells an expired
                // session from one that was committed and cleaned up.
                self.io.timers.set((id, Step::Check), now);
            }
            Next::NotFound => self.finish(id, CommitOutcome::FailedKnown(err)),
            Next::AlreadyDone => self.finish(id, CommitOutcome::AlreadyCommitted),
            Next::GiveUp => self.finish(id, CommitOutcome::FailedUnknown(err)),
        }
    }

    fn on_check(&mut self, id: u64, reply: Reply, now: Instant) {
        let result = match reply {
            Ok(resp) => parse_upload_session(&resp).map_err(Failure::Api),
            Err(t) => Err(Failure::Transport(t)),
        };
        let sess = match result {
            Ok(s) => s,
            Err(f) => return self.failed(id, Operation::GetUploadSession, f, now),
        };
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let at = Self::loc(&job.c);
        match sess.status {
            SessionStatus::Closed => self.finish(id, CommitOutcome::AlreadyCommitted),
            SessionStatus::Normal | SessionStatus::Unknown => {
                if sess.blocks != job.c.block_ids {
                    let err = SinkError::BlockMismatch {
                        at,
                        server: sess.blocks,
                        ours: job.c.block_ids.clone(),
                    };
                    return self.finish(id, CommitOutcome::FailedKnown(err));
                }
                self.send(id, Step::Commit);
            }
            SessionStatus::Closing => {
                // Another commit is under way: look again after a pause.
                let err = SinkError::SessionState {
                    op: Operation::GetUploadSession,
                    at,
                    status: sess.status.to_string(),
                    reason: "a commit is in progress".into(),
                };
                let Some(job) = self.jobs.get_mut(&id) else {
                    return;
                };
                job.last_error = Some(err);
                job.attempts.failures += 1;
                job.attempts.limited += 1;
                match self.s.retry.retryable(job.attempts.limited, None) {
                    crate::machine::RetryDecision::RetryAfter(d) => {
                        self.io.timers.set((id, Step::Check), now.plus(d));
                    }
                    _ => self.finish(id, CommitOutcome::RetryLater),
                }
            }
            SessionStatus::Expired | SessionStatus::Canceled | SessionStatus::Critical => {
                let err = SinkError::SessionState {
                    op: Operation::GetUploadSession,
                    at,
                    status: sess.status.to_string(),
                    reason: "the session cannot be committed any more; its rows are lost unless replayed".into(),
                };
                self.finish(id, CommitOutcome::FailedKnown(err));
            }
            other => {
                let err = SinkError::SessionState {
                    op: Operation::GetUploadSession,
                    at,
                    status: other.to_string(),
                    reason: "unexpected status for an upload session".into(),
                };
                self.finish(id, CommitOutcome::FailedUnknown(err));
            }
        }
    }

    fn on_commit(&mut self, id: u64, reply: Reply, now: Instant) {
        let result = match reply {
            Ok(resp) => parse_upload_commit(&resp).map_err(Failure::Api),
            Err(t) => Err(Failure::Transport(t)),
        };
        match result {
            Ok(_) => self.finish(id, CommitOutcome::Committed),
            Err(f) => self.failed(id, Operation::CommitUploadSession, f, now),
        }
    }
}

impl Machine for Committer {
    type Event = CommitEvent;

    fn handle_reply(&mut self, token: Token, reply: Reply, now: Instant) {
        let now = self.io.clock(now);
        let Some((id, step)) = self.io.inflight.remove(&token) else {
            return;
        };
        match step {
            Step::Check => self.on_check(id, reply, now),
            Step::Commit => self.on_commit(id, reply, now),
        }
        self.pump();
    }

    fn poll(&mut self, now: Instant) -> Option<Output<CommitEvent>> {
        let now = self.io.clock(now);
        while let Some((id, step)) = self.io.timers.pop_due(now) {
            self.send(id, step);
        }
        self.io.out.pop_front()
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.io.timers.next()
    }
}
