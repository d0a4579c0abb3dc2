//! Building a signed transport and an API context from the connector's connection options.

use maxc_core::api::ApiContext;
use maxc_core::api::instance::{
    SqlJob, get_result, get_task_status, parse_result, parse_submit, parse_task_status, submit_sql,
};
use maxc_core::api::rest::{TableMeta, get_table, parse_table};
use maxc_core::auth::Signer;
use maxc_core::options::ConnectionConfig;

use crate::error::DriverError;
use crate::transport::{HyperTransport, Transport, TransportConfig};

/// User agent the driver sends (`User-Agent` and the signed `x-odps-user-agent`).
pub const USER_AGENT: &str = concat!("maxc/", env!("CARGO_PKG_VERSION"));

/// The region in a public MaxCompute endpoint host (`service.<region>.maxcompute.aliyun.com`,
/// also `-internal`/`-vpc` variants), which selects v4 signing. `None` for anything else
/// (a local mock, a proxy), which signs with v2.
pub fn region_of_endpoint(endpoint: &str) -> Option<String> {
    let host = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .split(['/', ':'])
        .next()?;
    let mut parts = host.split('.');
    if parts.next()? != "service" {
        return None;
    }
    let region = parts.next()?;
    let rest: Vec<&str> = parts.collect();
    if rest.len() != 3 || rest[0] != "maxcompute" || !region.contains('-') {
        return None;
    }
    let region = region
        .trim_end_matches("-internal")
        .trim_end_matches("-vpc");
    Some(region.to_string())
}

/// A signer for `conn`'s credentials: v4 when the endpoint names a region, else v2.
pub fn signer_for(conn: &ConnectionConfig) -> Signer {
    match region_of_endpoint(&conn.endpoint) {
        Some(region) => Signer::v4(conn.credentials.clone(), region),
        None => Signer::v2(conn.credentials.clone()),
    }
}

/// The transport config (endpoints, project, quota) of `conn`.
pub fn transport_config(conn: &ConnectionConfig) -> TransportConfig {
    let mut t = TransportConfig::new(conn.endpoint.clone(), conn.project.clone());
    t.tunnel_endpoint = conn.tunnel_endpoint.clone();
    t.quota_name = conn.effective_quota_name().map(str::to_string);
    t
}

/// A signed TCP transport for `conn`.
pub fn tcp_transport(conn: &ConnectionConfig) -> HyperTransport {
    HyperTransport::tcp(transport_config(conn), Some(signer_for(conn)))
}

/// The API context (project, schema, quota, user agent) of `conn`.
pub fn api_context(conn: &ConnectionConfig) -> ApiContext {
    let mut ctx = ApiContext::new(conn.project.clone(), USER_AGENT);
    ctx.schema = conn.schema_name.clone();
    ctx.quota_name = conn.effective_quota_name().map(str::to_string);
    ctx
}

/// Reads a table's metadata (schema, partition columns, Delta-table properties).
pub async fn fetch_table<T: Transport>(
    transport: &T,
    ctx: &ApiContext,
    table: &str,
) -> Result<TableMeta, DriverError> {
    let resp = transport
        .send(get_table(ctx, table, true))
        .await
        .map_err(DriverError::Transport)?;
    parse_table(&resp).map_err(|e| DriverError::Api(Box::new(e)))
}

/// Most status polls [`run_sql`] makes before giving up (about ten minutes).
pub const MAX_SQL_POLLS: u32 = 1_200;

/// Runs one SQL statement (DDL such as `CREATE TABLE IF NOT EXISTS …`) as a SQL instance and
/// waits for it: submit, poll the task status every 500 ms until the instance terminates,
/// and on failure return the task's result text (the `ODPS-…` error) as an error.
pub async fn run_sql<T: Transport>(
    transport: &T,
    ctx: &ApiContext,
    sql: &str,
) -> Result<(), DriverError> {
    let send = |req| async { transport.send(req).await.map_err(DriverError::Transport) };
    let guid = format!(
        "maxc-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let job = SqlJob::new("AnonymousSQLTask", sql, guid);
    let resp = send(submit_sql(ctx, &job)).await?;
    let id = parse_submit(&resp).map_err(|e| DriverError::Api(Box::new(e)))?;
    for _ in 0..MAX_SQL_POLLS {
        let resp = send(get_task_status(ctx, &id)).await?;
        let status = parse_task_status(&resp).map_err(|e| DriverError::Api(Box::new(e)))?;
        if status.succeeded() {
            return Ok(());
        }
        if status.failed() {
            let resp = send(get_result(ctx, &id)).await?;
            let text = parse_result(&resp)
                .map(|r| r.into_iter().map(|t| t.text).collect::<Vec<_>>().join("; "))
                .unwrap_or_default();
            return Err(DriverError::Sql {
                instance: id,
                message: text,
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Err(DriverError::Stalled(format!(
        "SQL instance {id} to terminate"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_from_public_endpoints_only() {
        assert_eq!(
            region_of_endpoint("http://service.cn-hangzhou.maxcompute.aliyun.com/api").as_deref(),
            Some("cn-hangzhou")
        );
        assert_eq!(
            region_of_endpoint("https://service.cn-shanghai-vpc.maxcompute.aliyun-inc.com/api")
                .as_deref(),
            Some("cn-shanghai")
        );
        assert_eq!(region_of_endpoint("http://127.0.0.1:8080/api"), None);
        assert_eq!(region_of_endpoint("http://service.local/api"), None);
        assert_eq!(region_of_endpoint(""), None);
    }
}
