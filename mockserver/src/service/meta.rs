//! Metadata REST handlers: projects, tables, partitions, tunnel discovery, tenants,
//! logview host.

use maxc_core::http::{Request, Response};
use serde_json::json;

use super::{Service, json_resp, text_ok, xml_ok};
use crate::catalog::Partition;
use crate::error::MockError;
use crate::render;
use crate::service::route::Route;
use crate::spec::{PartSpec, spec_path};
use crate::time::format_rfc1123;

/// Largest page for list calls.
const MAX_PAGE: usize = 1000;

fn project_of(route: &Route) -> Result<&str, MockError> {
    route
        .project
        .as_deref()
        .ok_or_else(|| MockError::bad_request("InvalidArgument", "no project in path"))
}

fn table_of(route: &Route) -> Result<&str, MockError> {
    route
        .table
        .as_deref()
        .ok_or_else(|| MockError::bad_request("InvalidArgument", "no table in path"))
}

fn page_size(req: &Request) -> Result<usize, MockError> {
    match req.query_param("maxitems") {
        None | Some("") => Ok(MAX_PAGE),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n.min(MAX_PAGE))
            .ok_or_else(|| {
                MockError::bad_request(
                    "InvalidArgument",
                    format!("maxitems `{v}` is not a positive integer"),
                )
            }),
    }
}

pub(super) fn list_projects(svc: &mut Service) -> Result<Response, MockError> {
    let ps: Vec<_> = svc.catalog.projects.values().collect();
    Ok(xml_ok(render::projects_xml(&ps, &svc.cfg.region)))
}

pub(super) fn get_project(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    let p = svc.catalog.project(project_of(route)?)?;
    let body = render::project_xml(p, &svc.cfg.region, req.has_query("extended"));
    Ok(xml_ok(body)
        .with_header("x-odps-owner", p.owner.clone())
        .with_header(
            "x-odps-creation-time",
            format_rfc1123(p.created_ms.div_euclid(1000)),
        )
        .with_header(
            "last-modified",
            format_rfc1123(p.modified_ms.div_euclid(1000)),
        ))
}

pub(super) fn list_schemas(svc: &mut Service, route: &Route) -> Result<Response, MockError> {
    let p = svc.catalog.project(project_of(route)?)?;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Schemas>");
    for ns in p.schemas.values() {
        out.push_str(&format!(
            "<Schema>{}{}{}{}</Schema>",
            crate::xml::elem("Name", &ns.name),
            crate::xml::elem("Project", &p.name),
            crate::xml::elem("Owner", &p.owner),
            crate::xml::elem(
                "CreateTime",
                &format_rfc1123(ns.created_ms.div_euclid(1000))
            ),
        ));
    }
    out.push_str("<Marker></Marker><MaxItems>1000</MaxItems></Schemas>");
    Ok(xml_ok(out))
}

pub(super) fn list_tables(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    let project = project_of(route)?;
    let p = svc.catalog.project(project)?;
    let ns_key = route
        .schema
        .as_deref()
        .unwrap_or(crate::catalog::DEFAULT_SCHEMA)
        .to_ascii_lowercase();
    let Some(ns) = p.schemas.get(&ns_key) else {
        return Err(MockError::not_found(
            "NoSuchSchema",
            format!("Schema not found - '{project}.{ns_key}'"),
        ));
    };
    let prefix = req.query_param("name").unwrap_or("").to_ascii_lowercase();
    let marker = req.query_param("marker").unwrap_or("").to_string();
    let max = page_size(req)?;
    let mut picked = Vec::new();
    let mut next_marker = String::new();
    for (key, t) in &ns.tables {
        if !key.starts_with(&prefix) || (!marker.is_empty() && key.as_str() <= marker.as_str()) {
            continue;
        }
        if picked.len() == max {
            next_marker = picked
                .last()
                .map(|(t, _): &(&crate::catalog::Table, &str)| t.name.to_ascii_lowercase())
                .unwrap_or_default();
            break;
        }
        picked.push((t, p.name.as_str()));
    }
    Ok(xml_ok(render::tables_xml(&picked, &next_marker, max)))
}

pub(super) fn get_table(svc: &mut Service, route: &Route) -> Result<Response, MockError> {
    let project = project_of(route)?;
    let t = svc
        .catalog
        .table(project, route.schema.as_deref(), table_of(route)?)?;
    let pname = svc.catalog.project(project)?.name.clone();
    Ok(
        xml_ok(render::table_xml(t, &pname, route.schema.as_deref()))
            .with_header("x-odps-owner", t.owner.clone())
            .with_header(
                "x-odps-creation-time",
                format_rfc1123(t.created_ms.div_euclid(1000)),
            )
            .with_header(
                "last-modified",
                format_rfc1123(t.last_modified_ms.div_euclid(1000)),
            ),
    )
}

pub(super) fn list_partitions(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    let t = svc.catalog.table(
        project_of(route)?,
        route.schema.as_deref(),
        table_of(route)?,
    )?;
    let filter = match req.query_param("partition") {
        Some(s) if !s.is_empty() => {
            PartSpec::parse(s).map_err(|e| MockError::bad_request("InvalidPartitionSpec", e))?
        }
        _ => PartSpec::default(),
    };
    let cols = &t.schema.partition_columns;
    if let Some((k, _)) = filter
        .0
        .iter()
        .find(|(k, _)| !cols.iter().any(|c| c.name.eq_ignore_ascii_case(k)))
    {
        return Err(MockError::bad_request(
            "InvalidPartitionSpec",
            format!("`{k}` is not a partition column of the table"),
        ));
    }
    let mut all: Vec<&Partition> = t
        .partitions
        .values()
        .filter(|p| filter.matches(cols, &p.values))
        .collect();
    if req.has_query("reverse") {
        all.reverse();
    }
    let marker = req.query_param("marker").unwrap_or("");
    if !marker.is_empty() {
        match all
            .iter()
            .position(|p| spec_path(cols, &p.values) == marker)
        {
            Some(i) => {
                all.drain(..=i);
            }
            None => all.clear(),
        }
    }
    let max = page_size(req)?;
    let next_marker = if all.len() > max {
        all.truncate(max);
        all.last()
            .map(|p| spec_path(cols, &p.values))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let names_only = req.has_query("name");
    Ok(xml_ok(render::partitions_xml(
        t,
        &all,
        &next_marker,
        max,
        names_only,
    )))
}

pub(super) fn get_partition(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    let t = svc.catalog.table(
        project_of(route)?,
        route.schema.as_deref(),
        table_of(route)?,
    )?;
    let text = req.query_param("partition").unwrap_or("");
    let spec =
        PartSpec::parse(text).map_err(|e| MockError::bad_request("InvalidPartitionSpec", e))?;
    let values = spec.resolve(&t.schema.partition_columns)?;
    let p = t
        .partitions
        .get(&values)
        .ok_or_else(|| MockError::no_such_partition(&t.spec_text(&values)))?;
    Ok(xml_ok(render::partition_xml(
        p,
        t.lifecycle,
        req.has_query("extended"),
    )))
}

pub(super) fn tunnel_discovery(
    svc: &mut Service,
    req: &Request,
    route: &Route,
) -> Result<Response, MockError> {
    if !req.has_query("service") {
        return Err(MockError::bad_request(
            "InvalidArgument",
            "expected `?service`",
        ));
    }
    svc.catalog.project(project_of(route)?)?;
    let host = svc
        .cfg
        .tunnel_host
        .clone()
        .or_else(|| req.headers.get("host").map(str::to_string))
        .unwrap_or_else(|| "127.0.0.1".to_string());
    Ok(text_ok(host))
}

pub(super) fn tenants(svc: &Service) -> Response {
    json_resp(
        200,
        &json!({"Tenant": {
            "Name": "maxc-mock",
            "TenantId": "0",
            "Parameters": {"odps.namespace.schema": if svc.cfg.schema_model { "true" } else { "false" }},
        }}),
    )
}

pub(super) fn logview_host(req: &Request) -> Response {
    let host = req.headers.get("host").unwrap_or("127.0.0.1");
    text_ok(format!("http://{host}/_maxc/logview"))
}
