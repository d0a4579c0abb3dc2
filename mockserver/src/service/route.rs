//! Routing: which [`Operation`] a request is, from its layout (REST under `/api`, tunnel at
//! the root, admin under `/_maxc`), method, path and action query parameters.

use maxc_core::http::{Method, Request, Service as Layer};
use serde::{Deserialize, Serialize};

use crate::error::MockError;

/// The path prefix of admin endpoints.
pub const ADMIN_PREFIX: &str = "/_maxc";

/// Which of the three URL layouts a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// The REST metadata service (`/api/...` on the wire; paths relative to `/api`).
    Rest,
    /// The tunnel service (paths at the root).
    Tunnel,
    /// The mock's own admin endpoints (`/_maxc/...`).
    Admin,
}

/// Every operation the mock knows, metadata and tunnel. Fault rules match on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `GET /projects`
    ListProjects,
    /// `GET /projects/{p}`
    GetProject,
    /// `GET /projects/{p}/schemas`
    ListSchemas,
    /// `GET /projects/{p}/tables`
    ListTables,
    /// `GET /projects/{p}/tables/{t}` (also `?extended`)
    GetTable,
    /// `GET .../tables/{t}?partitions`
    ListPartitions,
    /// `GET .../tables/{t}?partition=spec`
    GetPartition,
    /// `GET .../tables/{t}?data` (table preview over REST; not supported)
    ReadTableRest,
    /// `POST /projects/{p}/instances`
    CreateInstance,
    /// `GET /projects/{p}/instances`
    ListInstances,
    /// `GET /projects/{p}/instances/{id}` (also `?instancestatus`)
    GetInstance,
    /// `GET .../instances/{id}?taskstatus`
    GetTaskStatus,
    /// `GET .../instances/{id}?result`
    GetInstanceResult,
    /// `GET .../instances/{id}?instanceprogress=..`
    GetInstanceProgress,
    /// Other instance GETs (`?source`, `?detail`, ...)
    GetInstanceOther,
    /// `PUT /projects/{p}/instances/{id}` (stop)
    StopInstance,
    /// `GET /projects/{p}/tunnel?service`
    TunnelDiscovery,
    /// `GET /tenants`
    Tenants,
    /// `GET /logview/host`
    LogviewHost,
    /// `POST /projects/{p}/authorization` (bearer tokens for logview)
    Authorization,
    /// `POST .../tables/{t}?uploads`
    CreateUpload,
    /// `GET .../tables/{t}?uploadid=`
    GetUpload,
    /// `PUT .../tables/{t}?uploadid=&blockid=`
    UploadBlock,
    /// `POST .../tables/{t}?uploadid=`
    CommitUpload,
    /// `POST .../tables/{t}?downloads`
    CreateDownload,
    /// `GET .../tables/{t}?downloadid=`
    GetDownload,
    /// `GET .../tables/{t}?data&downloadid=`
    ReadData,
    /// `POST .../tables/{t}/streams`
    CreateStream,
    /// `GET .../tables/{t}/streams?uploadid=`
    GetStream,
    /// `PUT .../tables/{t}/streams?uploadid=&slotid=`
    WriteStream,
    /// `POST .../tables/{t}/streams?uploadid=` (abort)
    AbortStream,
    /// `POST .../tables/{t}/upserts`
    CreateUpsert,
    /// `GET .../tables/{t}/upserts?upsertid=`
    GetUpsert,
    /// `PUT .../tables/{t}/upserts?upsertid=&bucketid=`
    WriteUpsert,
    /// `POST .../tables/{t}/upserts?upsertid=`
    CommitUpsert,
    /// `DELETE .../tables/{t}/upserts?upsertid=`
    AbortUpsert,
    /// `GET .../tables/{t}/preview`
    Preview,
    /// Admin endpoints (never matched by fault rules).
    Admin,
}

impl Operation {
    /// The snake_case name used in fault rules and logs.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// True for tunnel operations.
    pub fn is_tunnel(self) -> bool {
        self >= Operation::CreateUpload && self <= Operation::Preview
    }
}

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Layout.
    pub layout: Layout,
    /// Operation.
    pub op: Operation,
    /// Project from the path.
    pub project: Option<String>,
    /// Schema from a 3-tier path.
    pub schema: Option<String>,
    /// Table from the path.
    pub table: Option<String>,
    /// Instance id from the path.
    pub instance: Option<String>,
    /// Raw `partition` query value.
    pub partition: Option<String>,
    /// The path relative to the layout's root (REST without `/api`).
    pub path: String,
}

/// The layout and the path relative to it. REST paths may arrive with the `/api` prefix
/// (from the HTTP layer) or without it (in-process callers marking `Service::Rest`).
pub fn classify(req: &Request) -> (Layout, String) {
    let p = req.path.as_str();
    if p == ADMIN_PREFIX || p.starts_with("/_maxc/") {
        return (Layout::Admin, p.to_string());
    }
    if let Some(rest) = p.strip_prefix("/api")
        && (rest.is_empty() || rest.starts_with('/'))
    {
        let rest = if rest.is_empty() { "/" } else { rest };
        return (Layout::Rest, rest.to_string());
    }
    match req.service {
        Layer::Rest => (Layout::Rest, p.to_string()),
        Layer::Tunnel => (Layout::Tunnel, p.to_string()),
    }
}

fn not_found(path: &str) -> MockError {
    MockError::not_found(
        "NoSuchObject",
        format!("The requested resource `{path}` does not exist"),
    )
}

fn method_not_allowed(m: Method, path: &str) -> MockError {
    MockError::new(
        405,
        "MethodNotAllowed",
        format!("The specified method {m} is not allowed against `{path}`"),
    )
}

/// Routes a request.
pub fn route(req: &Request) -> Result<Route, MockError> {
    let (layout, path) = classify(req);
    let mut r = Route {
        layout,
        op: Operation::Admin,
        project: None,
        schema: None,
        table: None,
        instance: None,
        partition: req.query_param("partition").map(str::to_string),
        path: path.clone(),
    };
    if layout == Layout::Admin {
        return Ok(r);
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let m = if req.method == Method::Head {
        Method::Get
    } else {
        req.method
    };
    let q = |k: &str| req.has_query(k);
    // Top-level REST resources.
    if layout == Layout::Rest {
        match segs.as_slice() {
            ["tenants"] if m == Method::Get => {
                r.op = Operation::Tenants;
                return Ok(r);
            }
            ["logview", "host"] if m == Method::Get => {
                r.op = Operation::LogviewHost;
                return Ok(r);
            }
            ["projects"] if m == Method::Get => {
                r.op = Operation::ListProjects;
                return Ok(r);
            }
            _ => {}
        }
    }
    let Some((&"projects", rest)) = segs.split_first() else {
        return Err(not_found(&path));
    };
    let Some((project, mut rest)) = rest.split_first() else {
        return Err(not_found(&path));
    };
    r.project = Some(project.to_string());
    if let ["schemas", s, tail @ ..] = rest
        && !tail.is_empty()
    {
        r.schema = Some(s.to_string());
        rest = tail;
    }
    r.schema = r.schema.or_else(|| {
        req.query_param("curr_schema")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    });
    let op = match (layout, rest) {
        (Layout::Rest, []) => match m {
            Method::Get => Operation::GetProject,
            _ => return Err(method_not_allowed(req.method, &path)),
        },
        (Layout::Rest, ["schemas"]) if m == Method::Get => Operation::ListSchemas,
        (Layout::Rest, ["tables"]) if m == Method::Get => Operation::ListTables,
        (Layout::Rest, ["tables", t]) => {
            r.table = Some(t.to_string());
            match m {
                Method::Get if q("partitions") => Operation::ListPartitions,
                Method::Get if q("data") => Operation::ReadTableRest,
                Method::Get if q("partition") => Operation::GetPartition,
                Method::Get => Operation::GetTable,
                _ => return Err(method_not_allowed(req.method, &path)),
            }
        }
        (Layout::Rest, ["instances"]) => match m {
            Method::Post => Operation::CreateInstance,
            Method::Get => Operation::ListInstances,
            _ => return Err(method_not_allowed(req.method, &path)),
        },
        (Layout::Rest, ["instances", id]) => {
            r.instance = Some(id.to_string());
            match m {
                Method::Put => Operation::StopInstance,
                Method::Get if q("taskstatus") => Operation::GetTaskStatus,
                Method::Get if q("result") => Operation::GetInstanceResult,
                Method::Get if q("instanceprogress") => Operation::GetInstanceProgress,
                Method::Get
                    if req.query.iter().all(|(k, _)| {
                        matches!(
                            k.as_str(),
                            "instancestatus" | "curr_project" | "curr_schema"
                        )
                    }) =>
                {
                    Operation::GetInstance
                }
                Method::Get => Operation::GetInstanceOther,
                _ => return Err(method_not_allowed(req.method, &path)),
            }
        }
        (Layout::Rest, ["tunnel"]) if m == Method::Get => Operation::TunnelDiscovery,
        (Layout::Rest, ["authorization"]) if m == Method::Post => Operation::Authorization,
        (Layout::Tunnel, ["tables", t]) => {
            r.table = Some(t.to_string());
            match m {
                Method::Post if q("uploads") => Operation::CreateUpload,
                Method::Post if q("uploadid") => Operation::CommitUpload,
                Method::Get if q("uploadid") => Operation::GetUpload,
                Method::Put if q("uploadid") => Operation::UploadBlock,
                Method::Post if q("downloads") => Operation::CreateDownload,
                Method::Get if q("downloadid") && q("data") => Operation::ReadData,
                Method::Get if q("downloadid") => Operation::GetDownload,
                _ => {
                    return Err(MockError::bad_request(
                        "InvalidArgument",
                        format!("Unknown tunnel action {} on `{path}`", req.method),
                    ));
                }
            }
        }
        (Layout::Tunnel, ["tables", t, "streams"]) => {
            r.table = Some(t.to_string());
            match m {
                Method::Post if q("uploadid") => Operation::AbortStream,
                Method::Post => Operation::CreateStream,
                Method::Get => Operation::GetStream,
                Method::Put => Operation::WriteStream,
                _ => return Err(method_not_allowed(req.method, &path)),
            }
        }
        (Layout::Tunnel, ["tables", t, "upserts"]) => {
            r.table = Some(t.to_string());
            match m {
                Method::Post if q("upsertid") => Operation::CommitUpsert,
                Method::Post => Operation::CreateUpsert,
                Method::Get => Operation::GetUpsert,
                Method::Put => Operation::WriteUpsert,
                Method::Delete => Operation::AbortUpsert,
                Method::Head => return Err(method_not_allowed(req.method, &path)),
            }
        }
        (Layout::Tunnel, ["tables", t, "preview"]) if m == Method::Get => {
            r.table = Some(t.to_string());
            Operation::Preview
        }
        _ => return Err(not_found(&path)),
    };
    r.op = op;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(m: Method, pq: &str) -> Result<Route, MockError> {
        route(&Request::from_path_and_query(m, Layer::Tunnel, pq).unwrap())
    }

    #[test]
    fn routes() {
        let cases = [
            (Method::Get, "/api/projects/p", Operation::GetProject),
            (
                Method::Get,
                "/api/projects/p/tables/t?extended",
                Operation::GetTable,
            ),
            (
                Method::Get,
                "/api/projects/p/tables/t?partitions&expectmarker=true",
                Operation::ListPartitions,
            ),
            (
                Method::Get,
                "/api/projects/p/tables/t?partition=ds%3D%271%27",
                Operation::GetPartition,
            ),
            (
                Method::Get,
                "/api/projects/p/schemas/s/tables/t",
                Operation::GetTable,
            ),
            (
                Method::Post,
                "/api/projects/p/instances",
                Operation::CreateInstance,
            ),
            (
                Method::Get,
                "/api/projects/p/instances/i1?taskstatus",
                Operation::GetTaskStatus,
            ),
            (
                Method::Get,
                "/api/projects/p/instances/i1?instancestatus&curr_project=p",
                Operation::GetInstance,
            ),
            (
                Method::Get,
                "/api/projects/p/tunnel?service",
                Operation::TunnelDiscovery,
            ),
            (Method::Get, "/api/tenants", Operation::Tenants),
            (Method::Get, "/api/logview/host", Operation::LogviewHost),
            (
                Method::Post,
                "/projects/p/tables/t?uploads=1&reload=False",
                Operation::CreateUpload,
            ),
            (
                Method::Put,
                "/projects/p/tables/t?uploadid=u&blockid=0",
                Operation::UploadBlock,
            ),
            (
                Method::Post,
                "/projects/p/tables/t?uploadid=u",
                Operation::CommitUpload,
            ),
            (
                Method::Get,
                "/projects/p/tables/t?uploadid=u&reload=True",
                Operation::GetUpload,
            ),
            (
                Method::Post,
                "/projects/p/tables/t?downloads=&asyncmode=true",
                Operation::CreateDownload,
            ),
            (
                Method::Get,
                "/projects/p/tables/t?data&downloadid=d&rowrange=(0,5)",
                Operation::ReadData,
            ),
            (
                Method::Post,
                "/projects/p/tables/t/streams?check_latest_schema=false",
                Operation::CreateStream,
            ),
            (
                Method::Put,
                "/projects/p/tables/t/streams?uploadid=s&slotid=1",
                Operation::WriteStream,
            ),
            (
                Method::Delete,
                "/projects/p/tables/t/upserts?upsertid=x",
                Operation::AbortUpsert,
            ),
            (
                Method::Post,
                "/projects/p/schemas/default/tables/t/upserts?upsertid=x",
                Operation::CommitUpsert,
            ),
        ];
        for (m, pq, op) in cases {
            let r = rt(m, pq).unwrap_or_else(|e| panic!("{pq}: {e}"));
            assert_eq!(r.op, op, "{pq}");
            if !pq.contains("tenants") && !pq.contains("logview") {
                assert_eq!(r.project.as_deref(), Some("p"), "{pq}");
            }
        }
        assert_eq!(
            rt(Method::Get, "/api/projects/p/schemas/s/tables/t")
                .unwrap()
                .schema
                .as_deref(),
            Some("s")
        );
        assert_eq!(
            rt(Method::Get, "/api/projects/p/tables/t?partition=ds%3D1")
                .unwrap()
                .partition
                .as_deref(),
            Some("ds=1")
        );
        assert_eq!(
            rt(Method::Get, "/_maxc/health").unwrap().layout,
            Layout::Admin
        );
        for bad in [
            "/",
            "/api/nope",
            "/projects",
            "/api/projects/p/tables/t/x/y",
            "/apix/projects/p",
        ] {
            let e = rt(Method::Get, bad).unwrap_err();
            assert_eq!(e.status, 404, "{bad}");
        }
        assert_eq!(
            rt(Method::Delete, "/api/projects/p").unwrap_err().status,
            405
        );
        assert_eq!(Operation::UploadBlock.name(), "upload_block");
        assert!(Operation::UploadBlock.is_tunnel());
        assert!(!Operation::GetTable.is_tunnel());
    }
}
