//! Tunnel session state: batch upload, download, stream and upsert sessions.
//!
//! Sessions reference row data by segment id (see [`crate::catalog::SegmentStore`]), so a
//! download snapshot costs nothing and survives later writes, and uploaded blocks become
//! table data at commit without copying.

use std::collections::{BTreeMap, BTreeSet};

use maxc_core::types::Column;
use serde::{Deserialize, Serialize};

use crate::time::MockTime;

/// Session lifecycle states (rendered lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Open.
    Normal,
    /// Committed (batch upload, upsert).
    Committed,
    /// Past its lifetime (or expired by a fault rule).
    Expired,
    /// Aborted by the client.
    Aborted,
}

impl SessionStatus {
    /// Lower-case wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Normal => "normal",
            SessionStatus::Committed => "committed",
            SessionStatus::Expired => "expired",
            SessionStatus::Aborted => "aborted",
        }
    }
}

/// What a session writes to or reads from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Project name.
    pub project: String,
    /// Schema (namespace), when given.
    pub schema: Option<String>,
    /// Table name.
    pub table: String,
    /// The table's id at session creation (a dropped and re-created table differs).
    pub table_id: String,
    /// Partition values in column order (empty for unpartitioned tables).
    pub partition: Vec<String>,
    /// The data columns at creation.
    pub columns: Vec<Column>,
    /// The partition columns.
    pub partition_columns: Vec<Column>,
}

/// One uploaded block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Segment holding the block's rows.
    pub segment: u64,
    /// Rows.
    pub rows: u64,
    /// Bytes received (after decompression).
    pub bytes: u64,
    /// Upload time (epoch ms).
    pub created_ms: i64,
    /// How many times this block id was uploaded.
    pub version: u64,
}

/// A batch upload session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSession {
    /// Upload id.
    pub id: String,
    /// Target.
    pub target: Target,
    /// Replace the partition's data at commit.
    pub overwrite: bool,
    /// State.
    pub status: SessionStatus,
    /// Creation time (epoch ms).
    pub created_ms: i64,
    /// Blocks held by the server.
    pub blocks: BTreeMap<u32, Block>,
}

/// A download session (a snapshot taken at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadSession {
    /// Download id.
    pub id: String,
    /// Target.
    pub target: Target,
    /// State.
    pub status: SessionStatus,
    /// Creation time (epoch ms).
    pub created_ms: i64,
    /// Segments of the snapshot in row order.
    pub segments: Vec<u64>,
    /// Row count of the snapshot.
    pub record_count: u64,
    /// The partition's data version at creation.
    pub data_version: u64,
}

/// A stream upload session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSession {
    /// Session name.
    pub id: String,
    /// Target.
    pub target: Target,
    /// State.
    pub status: SessionStatus,
    /// Creation time (epoch ms).
    pub created_ms: i64,
    /// Number of slots.
    pub slots: u32,
    /// Table schema version at creation.
    pub schema_version: u64,
    /// Writes accepted.
    pub batches: u64,
    /// Rows accepted.
    pub rows: u64,
    /// Time of the last write (epoch ms).
    pub last_write_ms: i64,
}

/// An upsert session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpsertSession {
    /// Session id.
    pub id: String,
    /// Target.
    pub target: Target,
    /// State.
    pub status: SessionStatus,
    /// Creation time (epoch ms).
    pub created_ms: i64,
    /// Lifetime in hours (1..=24).
    pub lifecycle_hours: u32,
    /// Number of slots the buckets are spread over.
    pub slot_num: u32,
    /// Hash buckets.
    pub bucket_num: u32,
    /// `default` or `legacy`.
    pub hasher: String,
    /// Primary key columns.
    pub primary_key: Vec<String>,
    /// Buffered writes in arrival order: segments holding data columns plus the
    /// `__operation` and `__value_cols` meta columns.
    pub buffered: Vec<u64>,
    /// Rows buffered.
    pub buffered_rows: u64,
}

/// All sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    /// Batch uploads.
    pub uploads: BTreeMap<String, UploadSession>,
    /// Downloads.
    pub downloads: BTreeMap<String, DownloadSession>,
    /// Streams.
    pub streams: BTreeMap<String, StreamSession>,
    /// Upserts.
    pub upserts: BTreeMap<String, UpsertSession>,
}

impl Sessions {
    /// Every segment id a session references.
    pub fn segment_ids(&self) -> BTreeSet<u64> {
        let mut out = BTreeSet::new();
        for u in self.uploads.values() {
            out.extend(u.blocks.values().map(|b| b.segment));
        }
        for d in self.downloads.values() {
            out.extend(d.segments.iter().copied());
        }
        for u in self.upserts.values() {
            out.extend(u.buffered.iter().copied());
        }
        out
    }

    /// Marks sessions past `ttl_ms` as expired and forgets sessions that ended more than
    /// `ttl_ms` ago. Returns true when anything changed.
    pub fn sweep(&mut self, now: MockTime, ttl_ms: i64) -> bool {
        let now = now.epoch_ms();
        let mut changed = false;
        let expire = |status: &mut SessionStatus, created: i64, life: i64, changed: &mut bool| {
            if *status == SessionStatus::Normal && now >= created.saturating_add(life) {
                *status = SessionStatus::Expired;
                *changed = true;
            }
        };
        for u in self.uploads.values_mut() {
            expire(&mut u.status, u.created_ms, ttl_ms, &mut changed);
        }
        for d in self.downloads.values_mut() {
            expire(&mut d.status, d.created_ms, ttl_ms, &mut changed);
        }
        for s in self.streams.values_mut() {
            expire(&mut s.status, s.created_ms, ttl_ms, &mut changed);
        }
        for u in self.upserts.values_mut() {
            let life = (u.lifecycle_hours as i64) * crate::time::HOUR_MS;
            expire(&mut u.status, u.created_ms, life.min(ttl_ms), &mut changed);
        }
        let keep = |created: i64| now < created.saturating_add(ttl_ms.saturating_mul(2));
        let n = self.len();
        self.uploads.retain(|_, u| keep(u.created_ms));
        self.downloads.retain(|_, d| keep(d.created_ms));
        self.streams.retain(|_, s| keep(s.created_ms));
        self.upserts.retain(|_, u| keep(u.created_ms));
        changed || n != self.len()
    }

    /// The earliest time (epoch ms) at which [`Sessions::sweep`] would change anything for
    /// the sessions there are now (`i64::MAX` when there are none): a normal session's expiry,
    /// any session's removal.
    pub fn next_sweep(&self, ttl_ms: i64) -> i64 {
        let mut due = i64::MAX;
        let mut add = |status: SessionStatus, created: i64, life: i64| {
            if status == SessionStatus::Normal {
                due = due.min(created.saturating_add(life));
            }
            due = due.min(created.saturating_add(ttl_ms.saturating_mul(2)));
        };
        for u in self.uploads.values() {
            add(u.status, u.created_ms, ttl_ms);
        }
        for d in self.downloads.values() {
            add(d.status, d.created_ms, ttl_ms);
        }
        for s in self.streams.values() {
            add(s.status, s.created_ms, ttl_ms);
        }
        for u in self.upserts.values() {
            let life = (u.lifecycle_hours as i64) * crate::time::HOUR_MS;
            add(u.status, u.created_ms, life.min(ttl_ms));
        }
        due
    }

    /// Number of sessions of all kinds.
    pub fn len(&self) -> usize {
        self.uploads.len() + self.downloads.len() + self.streams.len() + self.upserts.len()
    }

    /// True when there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a session of any kind has this id.
    pub fn contains(&self, id: &str) -> bool {
        self.uploads.contains_key(id)
            || self.downloads.contains_key(id)
            || self.streams.contains_key(id)
            || self.upserts.contains_key(id)
    }

    /// Expires the session with this id (any kind), as its lifetime running out would: only a
    /// session that is still open (`normal`) expires; a committed, aborted or already expired
    /// one keeps its status (like [`Sessions::sweep`]). False when unknown or not open.
    pub fn expire(&mut self, id: &str) -> bool {
        let mut hit = false;
        let mut expire = |status: &mut SessionStatus| {
            if *status == SessionStatus::Normal {
                *status = SessionStatus::Expired;
                hit = true;
            }
        };
        if let Some(u) = self.uploads.get_mut(id) {
            expire(&mut u.status);
        }
        if let Some(d) = self.downloads.get_mut(id) {
            expire(&mut d.status);
        }
        if let Some(s) = self.streams.get_mut(id) {
            expire(&mut s.status);
        }
        if let Some(u) = self.upserts.get_mut(id) {
            expire(&mut u.status);
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(id: &str, status: SessionStatus, created_ms: i64) -> UploadSession {
        UploadSession {
            id: id.into(),
            target: Target {
                project: "p".into(),
                schema: None,
                table: "t".into(),
                table_id: "1".into(),
                partition: vec![],
                columns: vec![],
                partition_columns: vec![],
            },
            overwrite: false,
            status,
            created_ms,
            blocks: BTreeMap::new(),
        }
    }

    /// A sweep before `next_sweep` changes nothing; one at `next_sweep` changes something
    /// (the service skips sweeps until then).
    #[test]
    fn next_sweep_is_the_first_time_a_sweep_changes_anything() {
        let ttl = 100;
        let mut s = Sessions::default();
        assert_eq!(s.next_sweep(ttl), i64::MAX, "nothing to sweep");
        s.uploads
            .insert("a".into(), upload("a", SessionStatus::Committed, 0));
        s.uploads
            .insert("b".into(), upload("b", SessionStatus::Normal, 1000));
        // "a" is forgotten at 0 + 2 * ttl; "b" expires at 1000 + ttl, is forgotten at 1200.
        let mut expected = [200, 1100, 1200, i64::MAX].into_iter();
        loop {
            let due = s.next_sweep(ttl);
            assert_eq!(Some(due), expected.next());
            if due == i64::MAX {
                break;
            }
            let before = s.clone();
            assert!(
                !s.sweep(MockTime::from_epoch_ms(due - 1), ttl),
                "before {due}"
            );
            assert_eq!(s, before);
            assert!(s.sweep(MockTime::from_epoch_ms(due), ttl), "at {due}");
        }
        assert_eq!(s.len(), 0);
    }
}
