//! Sink state machines: the batch-, streaming- and upsert-tunnel writers and the batch-tunnel
//! committer. All pure: records, `now` and HTTP replies go in; unsigned requests, events and
//! deadlines come out (see [`crate::machine::Machine`] for the driving loop).
//!
//! This page is the single description of how the machines behave; the tables below are the
//! state tables the documentation renders.
//!
//! # Using a writer
//!
//! One writer per parallel subtask: [`SinkWriter::new`] picks the tunnel the config selects
//! ([`BatchWriter`], [`StreamWriter`], [`UpsertWriter`]); each is built from a
//! [`SinkConfig`](crate::options::SinkConfig) and the table's
//! [`TableMeta`](crate::api::rest::TableMeta).
//!
//! | call | effect |
//! |---|---|
//! | `write(batch, now)` | rows are routed to their partition (and upsert bucket) and encoded into its buffer at once; `Err(WriteRejected)` gives the batch back: [`Rejection::BackPressure`] (memory budget full: retry after [`SinkEvent::WriteReady`]) or [`Rejection::Error`] |
//! | `write_changes(batch, kinds, now)` | upsert: INSERT / UPDATE_AFTER upsert, DELETE deletes, UPDATE_BEFORE is dropped; batch and streaming tunnels refuse anything but INSERT |
//! | `barrier(checkpoint_id, now)` | closes the epoch: every buffer flushes; [`SinkEvent::Prepared`] follows once the epoch's data is acknowledged (batch: with [`Committable`]s; upsert: after the commit) |
//! | `end_of_input(now)` | like a last barrier, then [`SinkEvent::Finished`] with the final committables; nothing is accepted after it |
//! | `handle_reply(token, reply, now)` | the reply to a request the machine sent |
//! | `poll(now)` | fires due timers, then yields `Send { token, request }` or an event |
//! | `next_deadline()` | the earliest timer (flush interval, retry backoff, commit poll) |
//! | `snapshot()` / `restore(config, meta, state)` | the versioned durable state ([`WriterState`]) |
//!
//! Events come out in checkpoint order, even when several epochs are closing at once.
//! After a terminal error the writer emits [`SinkEvent::Failed`] once and every later call
//! returns that error; replies and timers are ignored.
//!
//! # Input batches and partitions
//!
//! Batch columns are matched to the table by name (case-insensitively, any order). Every data
//! column must be present (partial-column upserts: at least the primary key). With a static
//! `partition` (`ds=20180905`) partition columns in the batch are ignored; with dynamic
//! partitions (`ds`, or `ds=2024,hh`) the partition columns give each row's partition and are
//! not written as data. A NULL or empty partition value refuses the batch (there is no default
//! partition). Missing partitions are created: batch and stream sessions ask the service to
//! (`create_partition` on session creation); upsert sessions cannot, so the upsert writer
//! runs `ALTER TABLE … ADD IF NOT EXISTS PARTITION` as a SQL instance when session creation
//! answers `NoSuchPartition`, then creates the session again. More distinct dynamic partitions
//! between two checkpoints than `dynamicPartitionLimit` fails the writer with
//! [`SinkError::TooManyDynamicPartitions`] ("Too many dynamic partitions …", naming the limit
//! and the count). A refused batch leaves the writer unchanged (no row of it was taken).
//!
//! # Batch-tunnel writer ([`BatchWriter`])
//!
//! Rows of epoch *n* (between barriers *n − 1* and *n*) of partition *p* form a *part*. A
//! part has its own upload sessions (never reused across a barrier) and block ids `0, 1, 2, …`
//! per session; at 20 000 blocks a part opens another session.
//!
//! | state of a part / block / epoch | event | transition |
//! |---|---|---|
//! | part: none | first row of *p* in epoch *n* | **buffering**; session create queued (≤ 8 session requests in flight) |
//! | part: buffering | buffer ≥ `batchSize`; `flushIntervalMs` after its first row; largest buffer when the budget fills; barrier; end of input | buffer → block (footer, `compressAlgorithm`) |
//! | block: waiting | the part's newest session is open with ids left | **ready**, next block id assigned |
//! | block: waiting | the newest session has used 20 000 ids | another session create |
//! | session: creating | 2xx `normal` | **open**; waiting blocks get ids (rows kept buffering meanwhile) |
//! | session: creating | retryable failure | backoff, create again |
//! | block: ready | a PUT slot is free (`numFlushThreads`) | **in flight** (`PUT ?uploadid&blockid`) |
//! | block: in flight | 2xx | **acknowledged**: block id and rows counted in the session, memory freed |
//! | block: in flight | 429 / flow control; 5xx, 408, transport | **backoff** (slot kept), same block id and body again |
//! | block: in flight | 502 / 504 | backoff, reload the session (`GET`), then the PUT again |
//! | any | terminal error (see [Retries](#retries)) | writer **failed** |
//! | epoch: open | `barrier(c)` | **closing(c)**: every buffer of the epoch flushes; writes go to epoch *n + 1* |
//! | epoch: closing(c) | every part idle (no buffer, no unacknowledged block, no create) and every earlier epoch emitted | `Prepared { c, committables }`: one [`Committable`] per session with its acknowledged block ids and row count |
//! | epoch: open | `end_of_input` | closing; then `Finished { committables }` |
//!
//! Nothing is visible until the committer commits; sessions opened after the restored
//! checkpoint are abandoned. That gives exactly-once visible rows.
//!
//! # Committer ([`Committer`])
//!
//! `commit(committables, now)` returns a request number; each committable gets one
//! [`CommitReport`] (with its row count), then `CommitEvent::Done { request }`. At most
//! `insert.commit.thread-num` sessions are committed at once, and two committables of one
//! session never run at the same time.
//!
//! | state | event | transition |
//! |---|---|---|
//! | queued | a commit slot is free | **checking**: `GET ?uploadid&getblockid=true` |
//! | checking | status `closed` | [`CommitOutcome::AlreadyCommitted`] |
//! | checking | `normal`, server block list = committable's block ids | **committing**: `POST ?uploadid` |
//! | checking | `normal`, a block missing (or an extra one) | `FailedKnown(BlockMismatch)` naming the block |
//! | checking | `closing` | backoff, check again (counts against `retryTimes`; then `RetryLater`) |
//! | checking | `expired` / `canceled` / `critical`, or 404 | `FailedKnown` |
//! | committing | 2xx | [`CommitOutcome::Committed`] |
//! | committing | response lost (transport), 5xx, 408, 429 | backoff, then **checking** again (a commit that went through is found `closed` → `AlreadyCommitted`) |
//! | committing | 404 | **checking** again (tells expired from committed) |
//! | committing | `…AlreadyCommitted` code | `AlreadyCommitted` |
//! | checking / committing | retryable failures beyond `retryTimes` | [`CommitOutcome::RetryLater`] |
//! | checking / committing | any other error or status | [`CommitOutcome::FailedUnknown`] |
//!
//! Committing the same committables again (after a restore, or twice) gives
//! `AlreadyCommitted`.
//!
//! # Streaming-tunnel writer ([`StreamWriter`])
//!
//! One stream session per partition, kept across checkpoints (and across restores: the
//! snapshot lists them). Every flushed buffer is one PUT; rows are visible when it succeeds
//! (at-least-once: a retried PUT may duplicate rows).
//!
//! | state | event | transition |
//! |---|---|---|
//! | partition: no session | first row | session **creating** (`POST …/streams`, `odps-tunnel-slot-num` = `slotNum` when > 0); rows keep buffering |
//! | partition: restored session | first flush | session **reloading** (`GET …/streams?uploadid`); 404 → creating |
//! | session: creating / reloading | 2xx `normal` | **open** with its slots; waiting blocks become ready |
//! | buffer | same flush triggers as the batch tunnel | block (one record stream) |
//! | block: ready | PUT slot free (`numFlushThreads`) | **in flight** to the next slot, round-robin (`slotid`, `odps-tunnel-routed-server`, `odps-tunnel-slot-num`) |
//! | block: in flight | 2xx with the same slot count | acknowledged; a new `odps-tunnel-routed-server` replaces the slot's address |
//! | block: in flight | 2xx with another `odps-tunnel-slot-num` | acknowledged; session **reloading** (new routes) |
//! | block: in flight | 2xx without the routing headers | writer failed (`MalformedResponse`) |
//! | block: in flight | 502 / 504, 308 without address | block waits; session reloading after the backoff |
//! | block: in flight | 308 with `odps-tunnel-routed-server` | slot address replaced, sent again at once (no limit) |
//! | block: in flight | `StreamSessionNotFound` | session creating again; block waits (counts against `retryTimes`) |
//! | block: in flight | 429, 5xx, 408, transport | backoff, same slot again |
//! | epoch: closing(c) | every block of it and earlier epochs acknowledged | `Prepared { c, committables: [] }` |
//!
//! # Upsert-tunnel writer ([`UpsertWriter`])
//!
//! For Delta tables (transactional, with a primary key). Rows are routed to the table's hash
//! buckets (`hash::buckets_for_batch` over the primary key, default hasher, bucket count from
//! `upsert.write.bucket.num` or the table) per partition, and written per bucket as records of
//! the data columns plus `__version` (NULL), `__app_version` (NULL), `__operation` (85 `'U'`,
//! 68 `'D'`), `__key_cols` (NULL) and `__value_cols` (`[]`; with
//! `upsert.partial-column.enable`: the positions of the columns the batch has, for upserts).
//! One upsert session per partition per epoch.
//!
//! | state | event | transition |
//! |---|---|---|
//! | part: none | first row of *p* in epoch *n* | session **creating** (`POST …/upserts?slotnum=`); rows keep buffering per bucket |
//! | session: creating | 404 `NoSuchPartition` (first time) | **adding partition**: `POST /projects/{p}/instances` with `ALTER TABLE … ADD IF NOT EXISTS PARTITION (…)` |
//! | adding partition | submitted; then `GET …/instances/{id}?taskstatus` not terminated | poll again after 100 ms, 200 ms, … (≤ 2 s) |
//! | adding partition | task `Success` | creating again |
//! | adding partition | task failed | writer failed (operation `add partition`) |
//! | session: creating / reloading | 2xx `normal`, same bucket count, hash key and hasher | **open** (a mismatch fails the writer: rows were routed with the table's values) |
//! | bucket buffer | ≥ `upsert.writer.bucket.buffer-size`; the part's buckets ≥ `upsert.writer.buffer-size` (largest first, down to half); `flushIntervalMs`; budget; barrier | block for that bucket |
//! | block: ready | < `upsert.flush.concurrent` writes in flight for the partition, none for its bucket (a key's writes keep their order) | **in flight** (`PUT …/upserts?bucketid&slotid`, routed to the bucket's slot) |
//! | block: in flight | 2xx | acknowledged |
//! | block: in flight | 308 with address | slot address replaced, sent again at once |
//! | block: in flight | 502 / 504, 308 without address | block waits; session **reloading** after the backoff |
//! | block: in flight | 429, 5xx, 408, transport | backoff (`upsert.writer.max-retries`) |
//! | part of a closing epoch | every block acknowledged and the partition's earlier sessions committed | commit queued (≤ `upsert.commit.thread-num`): `POST …/upserts?upsertid` |
//! | committing | `committed`; or `committing` with `upsertAsyncCommit`; or `UpsertSessionNotFound` | **committed** |
//! | committing | `committing` / `normal` | poll: POST again after 1 s, 2 s, 4 s, … (≤ 16 s) |
//! | committing | 5xx, 408, 429, transport | backoff (`upsert.commit.max-retries`) |
//! | committing | the commit timeout passes (the stricter of `upsertCommitTimeoutMs` and `upsert.commit.timeout`) | writer failed: [`SinkError::UpsertCommitTimeout`] |
//! | epoch: closing(c) | every part committed, earlier epochs emitted | `Prepared { c, committables: [] }` |
//!
//! Replays after a restore upsert the same keys again, so no committables are needed.
//!
//! # Memory budget
//!
//! Each writer has one budget across all its partitions and buckets
//! ([`SinkConfig::memory_budget`](crate::options::SinkConfig::memory_budget), default 256 MiB,
//! set with the builder): buffered rows plus every flushed body not acknowledged yet. What is
//! counted is what is allocated, not just what is used:
//!
//! - A buffer holds its encoded rows in power-of-two chunks of about a quarter of its length
//!   (512 B to 1 MiB), so its spare room stays within a quarter of its length (or 512 B), and
//!   buffers of thousands of partitions growing and flushing at different times do not
//!   fragment the heap (a freed chunk fits later ones). A buffer holding *h* bytes (chunk
//!   capacities plus 64 bytes per chunk for the allocator and the chunk list) counts
//!   *h + h/128 + 64*: room for the footer and any codec's growth.
//! - The partition buffers share the writer's encoder: a buffer keeps only its stream's
//!   record count and checksum. A write is encoded into the writer's scratch first (kept
//!   up to 1 MiB between writes), so its growth is known before any buffer changes.
//! - A flushed body holds exactly its bytes; each chunk is freed as soon as it is compressed.
//! - Batch writer with dynamic partitions: every partition being written (from its first row
//!   to its commit) counts
//!   [`PARTITION_COST`] for its state: keys, sessions, block bookkeeping, the allocator's
//!   headers and the heap its small buffers leave unused (measured at 2.5 to 3 KiB per
//!   partition with 10 000 partitions), so a budget bounds the writer's memory however many
//!   partitions it writes ([`MemoryUsage::partitions`]).
//!
//! - When buffered bytes reach 3/4 of the budget left after the partitions' cost, the largest
//!   buffers flush until at most 1/2 of it stays buffered.
//! - A write whose rows would take the total past the budget is refused
//!   ([`Rejection::BackPressure`]; the batch comes back) and the largest buffers flush so that
//!   it fits once the bodies in flight are acknowledged; [`SinkEvent::WriteReady`] follows when
//!   it fits. A batch larger than the whole budget is taken when no buffer or body is held.
//! - So the accounted total never passes the budget ([`MemoryUsage::peak`]); 10 000 dynamic
//!   partitions under 256 MiB are tested.
//!
//! # Retries
//!
//! Every request follows the SDKs' retry contract through
//! [`RetryPolicy`](crate::machine::RetryPolicy) (`retryTimes`, `sleepMillis`):
//!
//! | failure | reaction |
//! |---|---|
//! | 429, `FlowExceeded`, `QPSExceeded`, `SlotExceeded` | retry without limit; backoff doubles from `sleepMillis` to 64 s, at least the server's `Retry-After` / `HoldClientMillis` |
//! | 502, 504 | reload the session, then retry; counts against `retryTimes` |
//! | 308 | new slot address (or reload) and retry without limit |
//! | other 5xx, 408, transport errors | retry up to `retryTimes` times with backoff |
//! | 404 and everything else | terminal |
//!
//! Retry timers show up in `next_deadline()`. Terminal errors ([`SinkError`]) name the
//! operation, table, partition, session (and block or bucket), the attempts made, and the
//! server's status, code, message and request id.
//!
//! # Test-only fault switches
//!
//! [`BugSwitches`](crate::options::BugSwitches) (all off by default, never for production)
//! make the machines misbehave so the simulator can prove its oracle notices:
//! `committer_skips_status_check` (the committer commits without the status check, so a lost
//! commit response is reported `Committed` and the session is committed twice) and
//! `writer_reuses_session_across_barrier` (the batch writer keeps a partition's session across
//! barriers, so later blocks go to a session that is committed already).

mod batch;
mod budget;
mod committer;
mod error;
mod event;
mod input;
mod io;
mod retry;
mod settings;
mod state;
mod stream;
mod timers;
mod upsert;
mod writer;

pub use batch::BatchWriter;
pub use budget::PARTITION_COST;
pub use committer::{CommitEvent, CommitOutcome, CommitReport, Committer};
pub use error::{InputError, Item, Location, Operation, Place, SinkError};
pub use event::{Committable, MemoryUsage, Rejection, RowKind, SinkEvent, WriteRejected};
pub use settings::{
    CommitterSettings, DEFAULT_SESSION_CONCURRENCY, UPSERT_COMMIT_POLL_BASE,
    UPSERT_COMMIT_POLL_CAP, USER_AGENT, UpsertSettings, WriterSettings,
};
pub use state::{StreamSessionState, WriterState, WriterStateV1};
pub use stream::StreamWriter;
pub use upsert::UpsertWriter;
pub use writer::SinkWriter;

#[cfg(test)]
mod tests;
