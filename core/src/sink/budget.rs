//! The writer-wide memory budget.
//!
//! Accounted bytes = buffers (`buffered`) + bodies of flushed blocks that are not acknowledged
//! yet (`in_flight`: queued, sent, or waiting for a retry) + with dynamic partitions,
//! [`PARTITION_COST`] for every partition the batch writer keeps state for (`partitions`: from
//! its first row to its commit). A buffer holding `h` bytes (its
//! chunks' capacities and per-chunk overhead: allocations, not just the encoded rows) is
//! accounted as [`cost`]`(h)` = `h + h/128 + 64`: room for the stream footer and for the
//! worst-case growth of any compression codec, so turning a buffer into a body never raises the
//! total. Bodies hold exactly their bytes.
//! Rules:
//!
//! 1. A write whose encoded rows would take the total past the limit is refused with
//!    back-pressure, unless no data is accounted (no buffer, no body: a lone batch larger than
//!    the budget is taken, so progress is always possible).
//! 2. After a write, when `buffered` reaches [`HIGH_WATER`] of the room the partitions leave
//!    (limit - `partitions`), the largest buffers are flushed until `buffered` is at most
//!    [`LOW_WATER`] of that room.
//! 3. After a refusal, the largest buffers are flushed until the refused batch would fit once
//!    everything in flight is acknowledged.
//! 4. Once enough memory is freed for the refused batch to fit, the writer emits `WriteReady`
//!    once.

use super::event::MemoryUsage;

/// What the writer's state for one partition costs besides its buffer and bodies, bytes: the
/// partition's keys (its spec is held by the partition map, the epoch's set and each block),
/// its upload sessions and block bookkeeping, the allocator's headers on those small
/// allocations and on the buffer's chunks, and the heap the many small buffers of thousands of
/// partitions leave unused between them. Measured with 1,000 to 10,000 dynamic partitions
/// (glibc malloc): the process's resident memory grows by 2.5 to 3 KiB per partition beyond
/// buffers and bodies; the charge leaves room for allocator variance (docs/benchmarks.md,
/// "Memory: 10,000 dynamic partitions").
pub const PARTITION_COST: u64 = 4 << 10;

/// Buffered share of the budget (numerator over 4) that triggers a budget flush: 3/4.
pub(crate) const HIGH_WATER: (u64, u64) = (3, 4);
/// Buffered share of the budget a budget flush goes down to: 1/2.
pub(crate) const LOW_WATER: (u64, u64) = (1, 2);

/// The accounted size of a buffer holding `raw` bytes (0 for an empty buffer).
pub(crate) fn cost(raw: u64) -> u64 {
    if raw == 0 {
        0
    } else {
        raw.saturating_add(raw / 128).saturating_add(64)
    }
}

fn share(limit: u64, (n, d): (u64, u64)) -> u64 {
    (u128::from(limit) * u128::from(n) / u128::from(d)) as u64
}

#[derive(Debug, Clone)]
pub(crate) struct Budget {
    limit: u64,
    buffered: u64,
    in_flight: u64,
    /// The state of the partitions being written ([`PARTITION_COST`] each).
    partitions: u64,
    peak: u64,
    /// The size of a refused write, until `WriteReady` is emitted.
    refused: Option<u64>,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit: limit.max(1),
            buffered: 0,
            in_flight: 0,
            partitions: 0,
            peak: 0,
            refused: None,
        }
    }

    pub(crate) fn usage(&self) -> MemoryUsage {
        MemoryUsage {
            buffered: self.buffered,
            in_flight: self.in_flight,
            partitions: self.partitions,
            limit: self.limit,
            peak: self.peak,
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.data().saturating_add(self.partitions)
    }

    /// Buffers and bodies.
    fn data(&self) -> u64 {
        self.buffered.saturating_add(self.in_flight)
    }

    /// What buffers and bodies may use: the limit less the partitions' cost.
    fn room(&self) -> u64 {
        self.limit.saturating_sub(self.partitions)
    }

    /// Rule 1: may `delta` more buffered bytes be taken?
    pub(crate) fn admits(&self, delta: u64) -> bool {
        self.data() == 0 || self.total().saturating_add(delta) <= self.limit
    }

    /// A partition's state (`cost` bytes) is kept.
    pub(crate) fn add_partition(&mut self, cost: u64) {
        self.partitions = self.partitions.saturating_add(cost);
        self.bump_peak();
    }

    /// Partitions' state of `cost` bytes in all was dropped (committed). Returns true when a
    /// `WriteReady` is due.
    pub(crate) fn drop_partitions(&mut self, cost: u64) -> bool {
        self.partitions = self.partitions.saturating_sub(cost);
        match self.refused {
            Some(wanted) if cost > 0 && self.admits(wanted) => {
                self.refused = None;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn add_buffered(&mut self, n: u64) {
        self.buffered = self.buffered.saturating_add(n);
        self.bump_peak();
    }

    /// A buffer accounted as `cost` bytes became a body of `body` bytes.
    pub(crate) fn flushed(&mut self, cost: u64, body: u64) {
        self.buffered = self.buffered.saturating_sub(cost);
        self.in_flight = self.in_flight.saturating_add(body);
        self.bump_peak();
    }

    /// A buffer accounted as `cost` bytes dropped without a flush.
    pub(crate) fn drop_buffered(&mut self, cost: u64) {
        self.buffered = self.buffered.saturating_sub(cost);
    }

    /// A body was acknowledged (or dropped). Returns true when a `WriteReady` is due.
    pub(crate) fn release(&mut self, body: u64) -> bool {
        self.in_flight = self.in_flight.saturating_sub(body);
        match self.refused {
            Some(wanted) if body > 0 && self.admits(wanted) => {
                self.refused = None;
                true
            }
            _ => false,
        }
    }

    /// Records the refusal of a write of `delta` bytes (rule 4).
    pub(crate) fn refuse(&mut self, delta: u64) {
        self.refused = Some(delta);
    }

    pub(crate) fn buffered(&self) -> u64 {
        self.buffered
    }

    /// Rule 2: buffered bytes at or past the high-water mark.
    pub(crate) fn over_high_water(&self) -> bool {
        self.buffered >= share(self.room(), HIGH_WATER)
    }

    /// Rule 2: where a budget flush stops.
    pub(crate) fn low_water(&self) -> u64 {
        share(self.room(), LOW_WATER)
    }

    /// Rule 3: at most this many buffered bytes may stay so that `delta` fits once in-flight
    /// bodies are acknowledged.
    pub(crate) fn room_for(&self, delta: u64) -> u64 {
        self.room().saturating_sub(delta)
    }

    fn bump_peak(&mut self) {
        self.peak = self.peak.max(self.total());
    }
}

/// Picks the largest buffers to flush until at most `target` bytes stay buffered, largest first
/// (ties: the order given). `sizes` lists (key, buffered bytes).
pub(crate) fn largest_first<K: Clone>(
    mut sizes: Vec<(K, u64)>,
    buffered: u64,
    target: u64,
) -> Vec<K> {
    // Stable sort keeps the caller's (deterministic) order among equal sizes.
    sizes.sort_by_key(|s| std::cmp::Reverse(s.1));
    let mut left = buffered;
    let mut out = Vec::new();
    for (k, n) in sizes {
        if left <= target {
            break;
        }
        if n == 0 {
            continue;
        }
        left = left.saturating_sub(n);
        out.push(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_and_peaks() {
        let mut b = Budget::new(100);
        assert!(b.admits(1000), "an empty budget takes anything");
        b.add_buffered(60);
        assert!(b.admits(40));
        assert!(!b.admits(41));
        b.flushed(60, 30);
        assert_eq!(b.total(), 30);
        assert_eq!(b.usage().peak, 60);
        assert!(!b.release(30), "no refusal, no WriteReady");
        b.add_buffered(90);
        assert!(!b.admits(20));
        b.refuse(20);
        assert!(!b.release(0));
        b.flushed(90, 90);
        b.add_buffered(5);
        assert!(!b.release(10), "85 + 20 > 100: not yet");
        assert!(b.release(5), "80 + 20 fits");
        assert!(!b.release(0));
    }

    #[test]
    fn cost_covers_footer_and_codec_growth() {
        use crate::compress::{Compression, compress};
        assert_eq!(cost(0), 0);
        // Incompressible data through every codec stays within the cost.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let data: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for c in Compression::ALL {
            for n in [1usize, 100, 65_536, 300_000] {
                let body = compress(c, &data[..n]).unwrap();
                assert!(
                    body.len() as u64 + 20 <= cost(n as u64),
                    "{c:?} {n}: {}",
                    body.len()
                );
            }
        }
    }

    #[test]
    fn water_marks() {
        let mut b = Budget::new(100);
        b.add_buffered(74);
        assert!(!b.over_high_water());
        b.add_buffered(1);
        assert!(b.over_high_water());
        assert_eq!(b.low_water(), 50);
        assert_eq!(b.room_for(30), 70);
    }

    #[test]
    fn largest_first_stops_at_target() {
        let sizes = vec![("a", 10), ("b", 40), ("c", 30), ("d", 40), ("e", 0)];
        assert_eq!(largest_first(sizes.clone(), 120, 50), vec!["b", "d"]);
        assert_eq!(
            largest_first(sizes.clone(), 120, 0),
            vec!["b", "d", "c", "a"]
        );
        assert!(largest_first(sizes, 120, 120).is_empty());
    }
}
