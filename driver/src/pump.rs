//! The drive loop: feeds a pure machine its replies and deadlines.
//!
//! A [`Pump`] owns the requests in flight. [`Pump::drain`] takes every output the machine has
//! (sending requests as tasks, collecting events); [`Pump::turn`] waits for the next reply or
//! the machine's next deadline, whichever comes first, feeds it and drains again. Time is
//! `tokio::time` only, so the same loop runs on a real runtime and under turmoil's virtual time.

use std::time::Duration;

use maxc_core::machine::{Instant, Machine, Output, Reply, Token};
use tokio::task::JoinSet;

use crate::transport::Transport;

/// What one [`Pump::turn`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn<E> {
    /// A reply or a deadline was handled; these events came out.
    Progress(Vec<E>),
    /// Nothing is in flight and the machine has no deadline: only a new input can make progress.
    Idle,
}

/// Owns the in-flight requests of one machine.
pub struct Pump<T> {
    transport: T,
    inflight: JoinSet<(Token, Reply)>,
    origin: tokio::time::Instant,
}

impl<T: Transport + Clone> Pump<T> {
    /// A pump sending through `transport`; its clock starts now.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            inflight: JoinSet::new(),
            origin: tokio::time::Instant::now(),
        }
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The machine clock: milliseconds since this pump was created (tokio time).
    pub fn now(&self) -> Instant {
        Instant::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }

    /// Takes every output of the machine: requests are sent (as tasks), events are returned.
    pub fn drain<M: Machine>(&mut self, machine: &mut M) -> Vec<M::Event> {
        let mut events = Vec::new();
        while let Some(e) = self.next_event(machine) {
            events.push(e);
        }
        events
    }

    /// Polls the machine up to its next event, sending every request met on the way, and
    /// returns that event; the outputs after it stay in the machine. `None` when the machine
    /// has nothing more to do until a reply or its deadline.
    ///
    /// Unlike [`Pump::drain`] this hands events out one at a time, so a machine that counts
    /// an event as delivered when it is polled (a source reader's batches) is never ahead of
    /// its caller.
    pub fn next_event<M: Machine>(&mut self, machine: &mut M) -> Option<M::Event> {
        let now = self.now();
        while let Some(out) = machine.poll(now) {
            match out {
                Output::Send { token, request } => {
                    let fut = self.transport.send(request);
                    self.inflight.spawn(async move { (token, fut.await) });
                }
                Output::Event(e) => return Some(e),
            }
        }
        None
    }

    /// Feeds every reply that has already arrived, without waiting, and drains the machine
    /// after each: acknowledged work frees its slot (and its memory) and the next request
    /// goes out at once, instead of when the caller next waits.
    pub fn settle<M: Machine>(&mut self, machine: &mut M) -> Vec<M::Event> {
        let mut events = self.drain(machine);
        while let Some(joined) = self.inflight.try_join_next() {
            self.feed(machine, joined);
            events.extend(self.drain(machine));
        }
        events
    }

    fn feed<M: Machine>(
        &mut self,
        machine: &mut M,
        joined: Result<(Token, Reply), tokio::task::JoinError>,
    ) {
        match joined {
            Ok((token, reply)) => machine.handle_reply(token, reply, self.now()),
            Err(e) => {
                // A send task panicked or was cancelled: nothing to feed; the machine's own
                // timers (if any) take over. This cannot happen with the shipped transports.
                tracing::error!(error = %e, "request task failed");
            }
        }
    }

    /// Waits for the next reply or the machine's deadline and feeds the reply, without
    /// polling the machine (follow with [`Pump::next_event`] or [`Pump::drain`]). Returns
    /// `false` at once when nothing is in flight and the machine has no deadline.
    ///
    /// Cancel-safe: dropping the future before it completes loses no reply.
    pub async fn wait<M: Machine>(&mut self, machine: &mut M) -> bool {
        let deadline = machine.next_deadline();
        if self.inflight.is_empty() && deadline.is_none() {
            return false;
        }
        let sleep_for = deadline
            .map(|d| Duration::from_millis(d.as_millis().saturating_sub(self.now().as_millis())));
        let reply = match sleep_for {
            Some(d) if d.is_zero() => None,
            Some(d) => {
                // `biased`: a reply that is ready wins over the timer. Unbiased, tokio picks
                // the branch with its runtime RNG, which is seeded from the OS unless tokio is
                // built with `--cfg tokio_unstable`, so a simulation under turmoil could order
                // the same events differently from run to run.
                tokio::select! {
                    biased;
                    r = self.inflight.join_next(), if !self.inflight.is_empty() => r,
                    _ = tokio::time::sleep(d) => None,
                }
            }
            None => self.inflight.join_next().await,
        };
        if let Some(joined) = reply {
            self.feed(machine, joined);
        }
        true
    }

    /// Waits for the next reply or the machine's deadline, feeds it, and drains the machine.
    pub async fn turn<M: Machine>(&mut self, machine: &mut M) -> Turn<M::Event> {
        if !self.wait(machine).await {
            return Turn::Idle;
        }
        Turn::Progress(self.drain(machine))
    }

    /// Drops every request in flight (their replies are never fed), as a crash would.
    pub fn abort_all(&mut self) {
        self.inflight.abort_all();
    }
}
