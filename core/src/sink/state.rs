//! The versioned snapshot of a writer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::SinkError;
use crate::options::SinkTunnel;

/// A writer's durable state, as the engine stores it in a checkpoint.
///
/// Serialised with an explicit `version` tag (`{"version":"1", …}`) so that later versions can
/// read older checkpoints. Buffered rows are never part of it: after a restore the engine
/// replays everything after the restored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version")]
pub enum WriterState {
    /// Version 1.
    #[serde(rename = "1")]
    V1(WriterStateV1),
}

/// Version 1 of [`WriterState`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterStateV1 {
    /// `batch`, `stream` or `upsert`.
    pub tunnel: String,
    /// `project.table` the writer writes.
    pub table: String,
    /// The last checkpoint barrier the writer saw (restored writers refuse older ids).
    pub last_checkpoint_id: Option<u64>,
    /// Streaming tunnel: the open stream session of each partition (canonical partition
    /// string, empty for a non-partitioned table). A restored writer reloads these sessions
    /// instead of creating new ones (and creates new ones if they are gone).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stream_sessions: BTreeMap<String, StreamSessionState>,
}

/// A stream session kept across checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSessionState {
    /// The session name (`uploadid`).
    pub name: String,
    /// Its schema version, if the service gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
}

pub(crate) fn tunnel_name(t: SinkTunnel) -> &'static str {
    match t {
        SinkTunnel::Batch => "batch",
        SinkTunnel::Stream => "stream",
        SinkTunnel::Upsert => "upsert",
    }
}

impl WriterState {
    /// The state as version 1, checked against the writer it is restored into.
    pub(crate) fn into_v1(
        self,
        tunnel: SinkTunnel,
        table: &str,
    ) -> Result<WriterStateV1, SinkError> {
        let WriterState::V1(v1) = self;
        if v1.tunnel != tunnel_name(tunnel) {
            return Err(SinkError::Restore(format!(
                "the state belongs to a {} tunnel writer, this is a {} tunnel writer",
                v1.tunnel,
                tunnel_name(tunnel)
            )));
        }
        if v1.table != table {
            return Err(SinkError::Restore(format!(
                "the state belongs to table {}, this writer writes {table}",
                v1.table
            )));
        }
        Ok(v1)
    }

    /// The serialised form (JSON).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the serialised form.
    pub fn from_json(s: &str) -> Result<Self, SinkError> {
        serde_json::from_str(s).map_err(|e| SinkError::Restore(format!("bad writer state: {e}")))
    }
}
