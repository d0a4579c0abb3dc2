//! The invariant oracle: what the table in the mock must look like, given the input, the
//! checkpoints that completed and the faults that were injected.
//!
//! | tunnel | invariant |
//! |---|---|
//! | all | every visible row is an input row, in its own partition, with its own payload |
//! | all | no row acknowledged by a completed checkpoint (or by the job's end) is lost, except rows of sessions that an injected fault expired and that the committer reported `FailedKnown` |
//! | batch | no row is visible before its checkpoint completed (checked at every commit the mock applies) |
//! | batch | no row is visible twice (exactly-once) |
//! | batch | nothing from an abandoned session is visible: every committed upload session was stored in a completed checkpoint |
//! | batch | commit reports reconcile: a session is reported `committed` at most once, and the rows of sessions reported committed / already committed equal the rows the table shows |
//! | stream | duplicates only from replayed input or writes whose outcome was unknown to the writer; each is accounted for |
//! | upsert | the table holds exactly one row per key, with the value of the last input change (deleted keys absent) |
//! | all | liveness: after the faults heal the job finishes before the deadline |

use std::collections::{BTreeMap, BTreeSet};

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use maxc_mock::Service;
use maxc_mock::sessions::SessionStatus;

use crate::job::{Outcome, PROJECT, Shared};
use crate::plan::Scenario;
use crate::workload::{RowGen, Tunnel, split_id};

/// One visible row of the sink table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visible {
    /// Partition value (`ds`), empty when unpartitioned.
    pub ds: String,
    /// `id` (batch/stream) or `v` (upsert: the id of the row that wrote it).
    pub id: i64,
    /// Upsert: the key.
    pub key: i64,
    /// Payload.
    pub payload: String,
}

/// The result of checking one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Invariant checks evaluated, by name (each counts the items it checked).
    pub checks: BTreeMap<&'static str, u64>,
    /// Violations (empty: the run passed).
    pub violations: Vec<String>,
    /// Rows visible more than once beyond the first (stream).
    pub duplicates: u64,
    /// Of those, explained by replayed input.
    pub duplicates_replay: u64,
    /// Of those, explained by writes with an unknown outcome.
    pub duplicates_ambiguous: u64,
    /// Rows lost with a reported, injected cause (session expired before commit).
    pub lost_excused: u64,
    /// Rows visible at the end.
    pub visible_rows: u64,
}

impl Verdict {
    fn check(&mut self, name: &'static str, n: u64) {
        *self.checks.entry(name).or_default() += n;
    }

    fn violate(&mut self, v: String) {
        // Keep reports short: a broken run can produce thousands.
        if self.violations.len() < 20 {
            self.violations.push(v);
        } else if self.violations.len() == 20 {
            self.violations.push("... (more violations omitted)".into());
        }
    }

    /// True when no invariant was violated.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

fn find_table<'a>(svc: &'a Service, name: &str) -> Option<&'a maxc_mock::catalog::Table> {
    svc.catalog()
        .tables()
        .find(|(p, _, t)| p.name.eq_ignore_ascii_case(PROJECT) && t.name.eq_ignore_ascii_case(name))
        .map(|(_, _, t)| t)
}

fn i64_col(b: &RecordBatch, name: &str) -> Option<Int64Array> {
    let i = b.schema().index_of(name).ok()?;
    b.column(i).as_any().downcast_ref::<Int64Array>().cloned()
}

fn str_col(b: &RecordBatch, name: &str) -> Option<StringArray> {
    let i = b.schema().index_of(name).ok()?;
    b.column(i).as_any().downcast_ref::<StringArray>().cloned()
}

fn rows_of(batch: &RecordBatch, ds: &str, tunnel: Tunnel, out: &mut Vec<Visible>) {
    let payload = str_col(batch, "payload");
    let (ids, keys) = match tunnel {
        Tunnel::Upsert => (i64_col(batch, "v"), i64_col(batch, "k")),
        _ => (i64_col(batch, "id"), None),
    };
    let Some(ids) = ids else {
        return;
    };
    for r in 0..batch.num_rows() {
        out.push(Visible {
            ds: ds.to_string(),
            id: if ids.is_null(r) { -1 } else { ids.value(r) },
            key: keys.as_ref().map_or(0, |k| k.value(r)),
            payload: payload
                .as_ref()
                .filter(|p| !p.is_null(r))
                .map_or(String::new(), |p| p.value(r).to_string()),
        });
    }
}

/// Every row of the workload's table as the mock shows it.
pub fn visible_rows(svc: &Service, sc: &Scenario) -> Result<Vec<Visible>, String> {
    let table = sc.workload.table();
    let Some(t) = find_table(svc, table) else {
        return Err(format!("table {table} does not exist in the mock"));
    };
    let tunnel = sc.workload.tunnel();
    let mut out = Vec::new();
    let mut parts: Vec<(String, &maxc_mock::catalog::PartData)> = Vec::new();
    if t.is_partitioned() {
        for p in t.partitions.values() {
            parts.push((p.values.first().cloned().unwrap_or_default(), &p.data));
        }
    } else {
        parts.push((String::new(), &t.data));
    }
    for (ds, data) in parts {
        for seg in &data.segments {
            let s = svc
                .segments()
                .get(*seg)
                .map_err(|e| format!("segment {seg} of {table}: {}", e.message))?;
            let b = s
                .project_to(&t.schema.columns)
                .map_err(|e| format!("segment {seg} of {table}: {}", e.message))?;
            rows_of(&b, &ds, tunnel, &mut out);
        }
    }
    Ok(out)
}

/// Rows held by upload sessions that an injected fault expired (their loss is excused when
/// the committer reported it).
fn expired_session_rows(svc: &Service, sc: &Scenario) -> BTreeMap<String, Vec<i64>> {
    let mut out = BTreeMap::new();
    for (id, u) in &svc.sessions().uploads {
        if u.status != SessionStatus::Expired
            || !u.target.table.eq_ignore_ascii_case(sc.workload.table())
        {
            continue;
        }
        let mut ids = Vec::new();
        for b in u.blocks.values() {
            if let Ok(seg) = svc.segments().get(b.segment)
                && let Some(a) = i64_col(&seg.batch, "id")
            {
                ids.extend(a.iter().flatten());
            }
        }
        out.insert(id.clone(), ids);
    }
    out
}

/// Checks made while the run goes on, each time the mock applies a batch commit: nothing is
/// visible before its checkpoint completed, nothing twice, and the committed session was
/// stored in a completed checkpoint. Incremental: only segments that became visible since
/// the last check are read (watermarks only grow, so older rows stay valid).
#[derive(Debug, Default)]
pub struct CommitWatch {
    /// Per partition: the segment list seen at the last check (batch commits append).
    parts: BTreeMap<Vec<String>, Vec<u64>>,
    seen: BTreeSet<i64>,
}

impl CommitWatch {
    /// Checks the table after the mock applied the commit of `session`; returns violations.
    pub fn on_commit(
        &mut self,
        svc: &Service,
        sc: &Scenario,
        shared: &Shared,
        session: &str,
    ) -> Vec<String> {
        let mut v = Vec::new();
        if sc.workload.tunnel() != Tunnel::Batch {
            return v;
        }
        if !shared.stored_sessions.contains(session) {
            v.push(format!(
                "session {session} was committed but no completed checkpoint stored it (abandoned or premature commit)"
            ));
        }
        let Some(t) = find_table(svc, sc.workload.table()) else {
            return v;
        };
        let marks = shared.watermarks(sc.parallelism);
        let mut fresh = Vec::new();
        let mut lists: Vec<(Vec<String>, &Vec<u64>)> = Vec::new();
        if t.is_partitioned() {
            for (k, p) in &t.partitions {
                lists.push((k.clone(), &p.data.segments));
            }
        } else {
            lists.push((Vec::new(), &t.data.segments));
        }
        for (k, segs) in lists {
            let old = self.parts.get(&k).map_or(&[][..], |v| v.as_slice());
            if segs.starts_with(old) {
                if segs.len() == old.len() {
                    continue;
                }
                fresh.extend_from_slice(&segs[old.len()..]);
            } else {
                // Not an append (should not happen with the batch tunnel): look at it all.
                fresh.extend(segs.iter().filter(|s| !old.contains(s)));
            }
            self.parts.insert(k, segs.clone());
        }
        for seg in fresh {
            let Some(ids) = svc
                .segments()
                .get(seg)
                .ok()
                .and_then(|s| i64_col(&s.batch, "id"))
            else {
                continue;
            };
            for id in ids.iter().flatten() {
                let (s, off) = split_id(id);
                if marks.get(s).is_some_and(|w| off >= *w) {
                    v.push(format!(
                        "row {s}/{off} is visible after committing {session} but its checkpoint has not completed (subtask {s} watermark {})",
                        marks.get(s).copied().unwrap_or(0)
                    ));
                    return v;
                }
                if !self.seen.insert(id) {
                    v.push(format!(
                        "row {s}/{off} is visible twice after committing {session}"
                    ));
                    return v;
                }
            }
        }
        v
    }
}

/// The final check of a run.
pub fn check_final(svc: &Service, sc: &Scenario, shared: &Shared, liveness: bool) -> Verdict {
    let mut v = Verdict::default();
    for x in &shared.violations {
        v.violate(x.clone());
    }
    v.check(
        "in-run-commit-checks",
        shared.counters.get("commit-checks").copied().unwrap_or(0),
    );
    let finished = matches!(shared.outcome, Outcome::Finished { .. });
    if liveness {
        v.check("liveness", 1);
        if !finished {
            v.violate(format!(
                "liveness: the job did not finish by {}ms (faults healed at {}ms)",
                sc.deadline_ms, sc.heal_at_ms
            ));
        }
    }
    let rows = match visible_rows(svc, sc) {
        Ok(r) => r,
        Err(e) => {
            v.violate(e);
            return v;
        }
    };
    v.visible_rows = rows.len() as u64;
    let rows_gen = RowGen::new(sc.seed, sc.workload, sc.parallelism, sc.keys_per_subtask);
    let marks: Vec<u64> = if finished {
        sc.rows.clone()
    } else {
        shared.watermarks(sc.parallelism)
    };
    // Every visible row is an input row in its place.
    let mut count: BTreeMap<i64, u64> = BTreeMap::new();
    for r in &rows {
        let (s, off) = split_id(r.id);
        let total = sc.rows.get(s).copied();
        if r.id < 0 || total.is_none_or(|t| off >= t) {
            v.violate(format!("visible row with id {} is not an input row", r.id));
            continue;
        }
        let want = rows_gen.row(s, off);
        if want.payload != r.payload || (sc.workload.tunnel() != Tunnel::Upsert && want.ds != r.ds)
        {
            v.violate(format!(
                "row {s}/{off} is visible with payload {:?} in partition {:?}, expected {:?} in {:?}",
                r.payload, r.ds, want.payload, want.ds
            ));
        }
        if sc.workload.tunnel() == Tunnel::Upsert && want.key != r.key {
            v.violate(format!(
                "row {s}/{off} is visible under key {}, expected {}",
                r.key, want.key
            ));
        }
        *count.entry(r.id).or_default() += 1;
    }
    v.check("rows-well-formed", rows.len() as u64);
    match sc.workload.tunnel() {
        Tunnel::Batch => check_batch(svc, sc, shared, &marks, &count, &mut v),
        Tunnel::Stream => check_stream(shared, &marks, &count, &mut v),
        Tunnel::Upsert => check_upsert(sc, &rows_gen, finished, &rows, &mut v),
    }
    v
}

/// Reports lost rows as ranges per subtask (`(subtask, offset)`, ascending).
fn report_lost(lost: &[(usize, u64)], v: &mut Verdict) {
    let mut i = 0;
    while i < lost.len() {
        let (s, from) = lost[i];
        let mut to = from;
        while i + 1 < lost.len() && lost[i + 1] == (s, to + 1) {
            i += 1;
            to += 1;
        }
        let n = to - from + 1;
        v.violate(if n == 1 {
            format!("row {s}/{from} was acknowledged by a completed checkpoint but is not visible (lost)")
        } else {
            format!(
                "rows {s}/{from}..={s}/{to} ({n} rows) were acknowledged by a completed checkpoint but are not visible (lost)"
            )
        });
        i += 1;
    }
}

fn check_batch(
    svc: &Service,
    sc: &Scenario,
    shared: &Shared,
    marks: &[u64],
    count: &BTreeMap<i64, u64>,
    v: &mut Verdict,
) {
    // Exactly once.
    let dups: Vec<(usize, u64, u64)> = count
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, n)| {
            let (s, off) = split_id(*id);
            (s, off, *n)
        })
        .collect();
    let mut i = 0;
    while i < dups.len() {
        let (s, from, n) = dups[i];
        let mut to = from;
        while i + 1 < dups.len() && dups[i + 1] == (s, to + 1, n) {
            i += 1;
            to += 1;
        }
        v.violate(if to == from {
            format!("row {s}/{from} is visible {n} times (batch tunnel must be exactly-once)")
        } else {
            format!(
                "rows {s}/{from}..={s}/{to} ({} rows) are visible {n} times each (batch tunnel must be exactly-once)",
                to - from + 1
            )
        });
        i += 1;
    }
    v.check("no-duplicates", count.len() as u64);
    // Nothing visible beyond the acknowledged input.
    for id in count.keys() {
        let (s, off) = split_id(*id);
        if marks.get(s).is_some_and(|w| off >= *w) {
            v.violate(format!(
                "row {s}/{off} is visible but no completed checkpoint covers it"
            ));
        }
    }
    v.check("no-early-rows", count.len() as u64);
    // No acknowledged row lost, except excused ones.
    let expired = expired_session_rows(svc, sc);
    let mut excused: BTreeSet<i64> = BTreeSet::new();
    for c in &shared.commits {
        if c.outcome == "failed-known"
            && let Some(ids) = expired.get(&c.session)
        {
            excused.extend(ids.iter().copied());
        }
    }
    let mut checked = 0u64;
    let mut lost = Vec::new();
    for (s, &w) in marks.iter().enumerate() {
        for off in 0..w {
            let id = crate::workload::row_id(s, off);
            checked += 1;
            if !count.contains_key(&id) {
                if excused.contains(&id) {
                    v.lost_excused += 1;
                } else {
                    lost.push((s, off));
                }
            }
        }
    }
    report_lost(&lost, v);
    v.check("no-loss", checked);
    // Abandoned sessions.
    let mut committed_sessions = 0;
    for (id, u) in &svc.sessions().uploads {
        if u.status == SessionStatus::Committed
            && u.target.table.eq_ignore_ascii_case(sc.workload.table())
        {
            committed_sessions += 1;
            if !shared.stored_sessions.contains(id) {
                v.violate(format!(
                    "upload session {id} is committed but was never stored in a completed checkpoint (abandoned session visible)"
                ));
            }
        }
    }
    v.check("no-abandoned-sessions", committed_sessions);
    // Commit reports reconcile with the table.
    let mut committed: BTreeMap<&str, u32> = BTreeMap::new();
    let mut success_rows: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &shared.commits {
        if c.outcome == "committed" {
            *committed.entry(c.session.as_str()).or_default() += 1;
        }
        if c.outcome == "committed" || c.outcome == "already-committed" {
            success_rows.insert(c.session.as_str(), c.rows);
        }
    }
    for (s, n) in &committed {
        if *n > 1 {
            v.violate(format!(
                "session {s} was reported `committed` {n} times (a repeated commit must report already-committed)"
            ));
        }
    }
    let reported: u64 = success_rows.values().sum();
    let visible: u64 = count.values().sum();
    if reported != visible {
        v.violate(format!(
            "commit reports claim {reported} rows in successfully committed sessions, the table shows {visible}"
        ));
    }
    v.check("commit-reports-reconcile", success_rows.len() as u64);
}

fn check_stream(shared: &Shared, marks: &[u64], count: &BTreeMap<i64, u64>, v: &mut Verdict) {
    let mut checked = 0;
    let mut lost = Vec::new();
    for (s, &w) in marks.iter().enumerate() {
        for off in 0..w {
            checked += 1;
            let id = crate::workload::row_id(s, off);
            if !count.contains_key(&id) {
                lost.push((s, off));
            }
        }
    }
    report_lost(&lost, v);
    v.check("no-loss", checked);
    for (id, n) in count {
        if *n <= 1 {
            continue;
        }
        let extra = n - 1;
        let (s, off) = split_id(*id);
        let replays = shared
            .replays
            .iter()
            .filter(|(rs, from, to)| *rs == s && *from <= off && off < *to)
            .count() as u64;
        let ambiguous = u64::from(shared.ambiguous.get(id).copied().unwrap_or(0));
        v.duplicates += extra;
        let by_replay = extra.min(replays);
        v.duplicates_replay += by_replay;
        v.duplicates_ambiguous += (extra - by_replay).min(ambiguous);
        if extra > replays + ambiguous {
            v.violate(format!(
                "row {s}/{off} is visible {n} times; only {replays} replays and {ambiguous} writes with unknown outcome explain duplicates"
            ));
        }
    }
    v.check("duplicates-accounted", count.len() as u64);
}

fn check_upsert(
    sc: &Scenario,
    rows_gen: &RowGen,
    finished: bool,
    rows: &[crate::oracle::Visible],
    v: &mut Verdict,
) {
    let mut table: BTreeMap<i64, i64> = BTreeMap::new();
    for r in rows {
        if table.insert(r.key, r.id).is_some() {
            v.violate(format!(
                "key {} appears more than once in the Delta table",
                r.key
            ));
        }
    }
    v.check("one-row-per-key", rows.len() as u64);
    if !finished {
        return;
    }
    let want = rows_gen.upsert_final(&sc.rows);
    for (k, id) in &want {
        match table.get(k) {
            None => {
                let (s, off) = split_id(*id);
                v.violate(format!(
                    "key {k} is missing; its last change was row {s}/{off}"
                ));
            }
            Some(got) if got != id => {
                let (s, off) = split_id(*id);
                let (gs, goff) = split_id(*got);
                v.violate(format!(
                    "key {k} holds the value of row {gs}/{goff}, but its last change was row {s}/{off}"
                ));
            }
            Some(_) => {}
        }
    }
    for (k, id) in &table {
        if !want.contains_key(k) {
            let (s, off) = split_id(*id);
            v.violate(format!("key {k} should be deleted but holds row {s}/{off}"));
        }
    }
    v.check("last-value-per-key", want.len() as u64);
}
