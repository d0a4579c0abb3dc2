//! The sink's errors: terminal failures (named after the operation, table, partition and
//! session, with the server's code and message) and rejected input.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::api::ApiError;
use crate::codec::CodecError;
use crate::compress::CompressError;
use crate::hash::HashError;
use crate::machine::TransportError;
use crate::partition::{PartitionError, RoutingError};

/// A service operation of the sink machines (named in errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Operation {
    /// `POST …?uploads` (batch tunnel).
    CreateUploadSession,
    /// `GET …?uploadid=` (batch tunnel reload / status check).
    GetUploadSession,
    /// `PUT …?uploadid=&blockid=` (batch tunnel).
    UploadBlock,
    /// `POST …?uploadid=` (batch tunnel commit).
    CommitUploadSession,
    /// `POST …/streams` (streaming tunnel).
    CreateStreamSession,
    /// `GET …/streams?uploadid=` (streaming tunnel reload).
    ReloadStreamSession,
    /// `PUT …/streams?uploadid=&slotid=` (streaming tunnel).
    WriteStream,
    /// `POST …/upserts` (upsert tunnel).
    CreateUpsertSession,
    /// `GET …/upserts?upsertid=` (upsert tunnel reload).
    ReloadUpsertSession,
    /// `PUT …/upserts?upsertid=&bucketid=` (upsert tunnel).
    WriteUpsertBucket,
    /// `POST …/upserts?upsertid=` (upsert tunnel commit and commit polling).
    CommitUpsertSession,
    /// `ALTER TABLE … ADD IF NOT EXISTS PARTITION` through a SQL instance (upsert tunnel,
    /// whose sessions cannot create partitions).
    AddPartition,
}

impl Operation {
    /// A short human-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::CreateUploadSession => "create upload session",
            Operation::GetUploadSession => "get upload session",
            Operation::UploadBlock => "upload block",
            Operation::CommitUploadSession => "commit upload session",
            Operation::CreateStreamSession => "create stream session",
            Operation::ReloadStreamSession => "reload stream session",
            Operation::WriteStream => "stream write",
            Operation::CreateUpsertSession => "create upsert session",
            Operation::ReloadUpsertSession => "reload upsert session",
            Operation::WriteUpsertBucket => "upsert bucket write",
            Operation::CommitUpsertSession => "commit upsert session",
            Operation::AddPartition => "add partition",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an operation happened: table, partition, session (and block or bucket).
///
/// A boxed [`Place`] (so that errors stay small); its fields are reached through `Deref`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location(Box<Place>);

impl Location {
    /// A location.
    pub fn new(
        table: impl Into<String>,
        partition: Option<String>,
        session: Option<String>,
        item: Option<Item>,
    ) -> Self {
        Location(Box::new(Place {
            table: table.into(),
            partition,
            session,
            item,
        }))
    }
}

impl std::ops::Deref for Location {
    type Target = Place;
    fn deref(&self) -> &Place {
        &self.0
    }
}

impl std::ops::DerefMut for Location {
    fn deref_mut(&mut self) -> &mut Place {
        &mut self.0
    }
}

/// The fields of a [`Location`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// `project.table` (or `project.schema.table`).
    pub table: String,
    /// The partition in tunnel form (`ds=20240101,hh=01`); `None` for a non-partitioned table.
    pub partition: Option<String>,
    /// The session id (upload id, stream session name or upsert id), once known.
    pub session: Option<String>,
    /// The block id (batch tunnel) or bucket (upsert tunnel) of a data request.
    pub item: Option<Item>,
}

/// The unit of data a request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A batch-tunnel block id.
    Block(u32),
    /// An upsert bucket.
    Bucket(u32),
    /// A stream slot (by position in the session's slot list).
    Slot(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {}", self.table)?;
        if let Some(p) = &self.partition {
            write!(f, " partition {p}")?;
        }
        if let Some(s) = &self.session {
            write!(f, " session {s}")?;
        }
        match self.item {
            Some(Item::Block(b)) => write!(f, " block {b}")?,
            Some(Item::Bucket(b)) => write!(f, " bucket {b}")?,
            Some(Item::Slot(s)) => write!(f, " slot #{s}")?,
            None => {}
        }
        Ok(())
    }
}

/// A batch handed to a writer that cannot be written as it is. The writer is unchanged (no row
/// of the batch was taken), so the engine may fix the batch or fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// A data column of the table is not in the batch.
    #[error("column `{column}` of table {table} is missing from the record batch")]
    MissingColumn {
        /// `project.table`.
        table: String,
        /// The missing column.
        column: String,
    },
    /// A batch column that is neither a data column nor a dynamic partition column.
    #[error(
        "record batch column `{column}` is not a column of table {table} (data columns: {expected})"
    )]
    UnknownColumn {
        /// `project.table`.
        table: String,
        /// The unknown column.
        column: String,
        /// The table's data columns, comma separated.
        expected: String,
    },
    /// A column's Arrow type is not the Arrow mapping of the column's MaxCompute type.
    #[error("column `{column}` has Arrow type {found}, but its MaxCompute type maps to {expected}")]
    TypeMismatch {
        /// The column.
        column: String,
        /// The Arrow type the column needs.
        expected: String,
        /// The Arrow type found.
        found: String,
    },
    /// A dynamic partition value could not be taken from a row.
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// A routed partition is not valid for the table (e.g. a non-integer value of an integer
    /// partition column).
    #[error("invalid partition: {0}")]
    Partition(#[from] PartitionError),
    /// A primary-key value could not be hashed to a bucket.
    #[error("bucket routing: {0}")]
    Hash(#[from] HashError),
    /// A value the record codec cannot encode.
    #[error("encoding rows for {at}: {error}")]
    Codec {
        /// Where the rows were going.
        at: Location,
        /// The codec's error.
        error: CodecError,
    },
    /// `write_changes` got a different number of row kinds than rows.
    #[error("{kinds} row kinds for a batch of {rows} rows")]
    RowKindCount {
        /// Rows in the batch.
        rows: usize,
        /// Row kinds given.
        kinds: usize,
    },
    /// A change other than INSERT for a tunnel that only appends.
    #[error(
        "row {row} is a {kind:?} change, but the {tunnel} tunnel only appends rows (use the upsert tunnel for updates and deletes)"
    )]
    NotAppendOnly {
        /// The row.
        row: usize,
        /// Its kind.
        kind: super::RowKind,
        /// The tunnel.
        tunnel: &'static str,
    },
}

/// Why a sink machine failed or refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The service answered with an error that is not retried (or retries ran out).
    #[error("{op} failed for {at} after {attempts} attempt(s): {error}")]
    Service {
        /// The operation.
        op: Operation,
        /// Table, partition, session.
        at: Location,
        /// Attempts made (1 = no retry).
        attempts: u32,
        /// The server's error (status, code, message, request id).
        error: Box<ApiError>,
    },
    /// The transport failed and retries ran out.
    #[error("{op} failed for {at} after {attempts} attempt(s): {error}")]
    Transport {
        /// The operation.
        op: Operation,
        /// Table, partition, session.
        at: Location,
        /// Attempts made.
        attempts: u32,
        /// The last transport error.
        error: TransportError,
    },
    /// A session is in a state the operation cannot continue from (expired, aborted, …).
    #[error("{op}: {at} is {status}; {reason}")]
    SessionState {
        /// The operation.
        op: Operation,
        /// Table, partition, session.
        at: Location,
        /// The status the server reported.
        status: String,
        /// What this means.
        reason: String,
    },
    /// A session's metadata does not match what the writer was built for.
    #[error("{at}: {reason}")]
    SessionMismatch {
        /// Table, partition, session.
        at: Location,
        /// What differs.
        reason: String,
    },
    /// More distinct dynamic partitions between two checkpoints than `dynamicPartitionLimit`.
    #[error(
        "Too many dynamic partitions: {count} distinct partitions of table {table} written since the last checkpoint exceed dynamicPartitionLimit = {limit}; raise `dynamicPartitionLimit` or checkpoint more often"
    )]
    TooManyDynamicPartitions {
        /// `project.table`.
        table: String,
        /// `dynamicPartitionLimit`.
        limit: usize,
        /// Distinct partitions the write would have made.
        count: usize,
    },
    /// The service's block list of an upload session differs from the committable's.
    #[error(
        "{at}: the server's block list {server:?} differs from the committable's {ours:?}{}",
        mismatch_detail(.server, .ours)
    )]
    BlockMismatch {
        /// Table, partition, session.
        at: Location,
        /// Block ids the server holds.
        server: Vec<u32>,
        /// Block ids the committable lists.
        ours: Vec<u32>,
    },
    /// An upsert commit did not reach `committed` within the commit timeout.
    #[error(
        "commit upsert session timed out for {at}: still {status} after {waited_ms} ms (limit {limit_ms} ms)"
    )]
    UpsertCommitTimeout {
        /// Table, partition, session.
        at: Location,
        /// The last status seen.
        status: String,
        /// Time waited, ms.
        waited_ms: u64,
        /// The timeout, ms.
        limit_ms: u64,
    },
    /// A request body could not be compressed.
    #[error("compressing a request body for {at}: {error}")]
    Compress {
        /// Table, partition, session.
        at: Location,
        /// The codec's error.
        error: CompressError,
    },
    /// The writer or committer cannot be built from this configuration and table.
    #[error("sink configuration: {0}")]
    Config(String),
    /// The batch was refused (see [`InputError`]); the machine is unchanged.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A call that is not allowed in the machine's state (a barrier after end of input, a
    /// checkpoint id that does not increase, …).
    #[error("sink usage: {0}")]
    Usage(String),
    /// A restored state does not fit this writer.
    #[error("cannot restore writer state: {0}")]
    Restore(String),
}

impl SinkError {
    /// The server's error code, when the failure came from the service.
    pub fn server_code(&self) -> Option<&str> {
        match self {
            SinkError::Service { error, .. } => Some(&error.code),
            _ => None,
        }
    }

    /// True for errors after which the machine is failed for good (everything but
    /// [`SinkError::Input`] and [`SinkError::Usage`]).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, SinkError::Input(_) | SinkError::Usage(_))
    }
}

fn mismatch_detail(server: &[u32], ours: &[u32]) -> String {
    if let Some(b) = ours.iter().find(|b| !server.contains(b)) {
        format!("; block {b} is missing on the server")
    } else if let Some(b) = server.iter().find(|b| !ours.contains(b)) {
        format!("; the server holds block {b}, which the committable does not list")
    } else {
        String::new()
    }
}
