//! The connection options shared by SQL sources, sinks and dimension tables.

use super::error::{OptionError, OptionWarning};
use super::reader::Reader;
use super::value::CompressAlgorithm;
use crate::auth::Credentials;

/// Where the table is and how to reach it (the general options).
///
/// `Debug` never shows the AccessKey secret (see [`Credentials`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// `endpoint`: the service (REST) endpoint URL.
    pub endpoint: String,
    /// `tunnelEndpoint`: the tunnel endpoint URL; discovered when `None`.
    pub tunnel_endpoint: Option<String>,
    /// `project`.
    pub project: String,
    /// `schemaName`: the schema, for projects with the schema model.
    pub schema_name: Option<String>,
    /// `tableName`.
    pub table_name: String,
    /// `accessId` and `accessKey` (a builder may supply STS or bearer credentials instead).
    pub credentials: Credentials,
    /// `quotaName` as given. See [`ConnectionConfig::effective_quota_name`].
    pub quota_name: Option<String>,
    /// `compressAlgorithm`.
    pub compress_algorithm: CompressAlgorithm,
    /// `partition`: a partition spec, pattern, `max_pt()`, or dynamic partition columns.
    pub partition: Option<String>,
}

impl ConnectionConfig {
    /// The quota to request: `None` when a tunnel endpoint is set, because the tunnel
    /// endpoint takes precedence over `quotaName`.
    pub fn effective_quota_name(&self) -> Option<&str> {
        match self.tunnel_endpoint {
            Some(_) => None,
            None => self.quota_name.as_deref(),
        }
    }

    /// Reads the general options. Empty optional strings count as unset.
    pub(crate) fn read(
        r: &mut Reader,
        supplied: Option<&Credentials>,
    ) -> Result<Self, OptionError> {
        let credentials = match supplied {
            Some(c) => c.clone(),
            None => Credentials::access_key(r.string("accessId")?, r.string("accessKey")?),
        };
        let tunnel_endpoint = r.opt_string("tunnelEndpoint")?;
        let quota_name = r.opt_string("quotaName")?;
        if tunnel_endpoint.is_some() && quota_name.is_some() {
            r.warn(OptionWarning::Overridden {
                key: "quotaName",
                by: "tunnelEndpoint",
            });
        }
        Ok(Self {
            endpoint: r.string("endpoint")?,
            tunnel_endpoint,
            project: r.string("project")?,
            schema_name: r.opt_string("schemaName")?,
            table_name: r.string("tableName")?,
            credentials,
            quota_name,
            compress_algorithm: r.choice_as("compressAlgorithm", CompressAlgorithm::parse)?,
            partition: r.opt_string("partition")?,
        })
    }
}
