//! SQL instances: the submit call parses the `<Instance>` XML and runs each SQL task's
//! DDL synchronously; polls then see `Terminated` with each task `Success` or `Failed`
//! (the failure text, e.g. `ODPS-0130161:...`, is in `?result`).

use std::collections::BTreeMap;

use maxc_core::http::{Request, Response};
use maxc_core::types::{Column, TableSchema};
use serde::Serialize;

use super::{Ctx, Service, xml_ok};
use crate::catalog::{ClusterInfo, PartData, Table, check_table_name};
use crate::error::MockError;
use crate::render;
use crate::service::route::Route;
use crate::sql::{self, ColumnDef, CreateTable, ObjectName, PartitionDef, Statement};
use crate::time::{MockTime, format_rfc1123};
use crate::xml::{cdata, elem, escape};

/// A task of an instance.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRecord {
    /// Task name (`SQLCreateTableTask`, ...).
    pub name: String,
    /// Task type (the element name, `SQL`).
    pub kind: String,
    /// `Success` or `Failed`.
    pub status: String,
    /// Result text (`OK`, or the error).
    pub result: String,
    /// The query.
    pub query: String,
}

/// A submitted instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceRecord {
    /// Instance id.
    pub id: String,
    /// Project it was submitted to.
    pub project: String,
    /// Owner.
    pub owner: String,
    /// Submit time (epoch ms).
    pub start_ms: i64,
    /// End time (epoch ms).
    pub end_ms: i64,
    /// `Running`, `Suspended` or `Terminated`.
    pub status: String,
    /// Tasks.
    pub tasks: Vec<TaskRecord>,
}

fn instance_of<'a>(svc: &'a Service, route: &Route) -> Result<&'a InstanceRecord, MockError> {
    let id = route.instance.as_deref().unwrap_or("");
    svc.instances
        .get(id)
        .filter(|i| {
            route
                .project
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(&i.project))
        })
        .ok_or_else(|| MockError::not_found("NoSuchObject", format!("Instance not found - '{id}'")))
}

pub(super) fn create_instance(
    svc: &mut Service,
    req: &Request,
    route: &Route,
    ctx: &Ctx,
) -> Result<Response, MockError> {
    let project = route.project.clone().unwrap_or_default();
    let pname = svc.catalog.project(&project)?.name.clone();
    let text = std::str::from_utf8(&req.body).map_err(|_| {
        MockError::bad_request(
            "MalformedXML",
            "ODPS-0420031: Invalid XML in HTTP request body - not UTF-8",
        )
    })?;
    let doc = crate::xml::parse(text).map_err(|e| {
        MockError::bad_request(
            "MalformedXML",
            format!("ODPS-0420031: Invalid XML in HTTP request body - {e}"),
        )
    })?;
    let tasks_el = doc
        .child("Job")
        .and_then(|j| j.child("Tasks"))
        .ok_or_else(|| {
            MockError::bad_request(
                "MalformedXML",
                "ODPS-0420031: Invalid XML in HTTP request body - no Job/Tasks",
            )
        })?;
    if tasks_el.children.is_empty() {
        return Err(MockError::bad_request(
            "InvalidParameter",
            "ODPS-0420061: Invalid parameter - the job has no task",
        ));
    }
    let now = ctx.now;
    let mut tasks = Vec::new();
    for t in &tasks_el.children {
        let name = t.child_text("Name").unwrap_or("AnonymousTask").to_string();
        let query = t.child_text("Query").unwrap_or("").to_string();
        let (status, result) = if t.name != "SQL" {
            (
                "Failed",
                format!(
                    "ODPS-0130161:[1,1] Parse exception - unsupported task type `{}`: maxc-mock runs only SQL DDL",
                    t.name
                ),
            )
        } else {
            match run_script(svc, &pname, &query, now) {
                Ok(()) => ("Success", "OK".to_string()),
                Err(e) => ("Failed", e),
            }
        };
        tasks.push(TaskRecord {
            name,
            kind: t.name.clone(),
            status: status.to_string(),
            result,
            query,
        });
    }
    svc.instance_seq += 1;
    let suffix = svc.next_hex(6);
    let id = format!(
        "{}{:06}gmaxc{suffix}",
        now.compact_stamp(),
        svc.instance_seq
    );
    if svc.instances.len() >= svc.cfg.max_instances
        && let Some(oldest) = svc
            .instances
            .values()
            .min_by_key(|i| (i.start_ms, i.id.clone()))
            .map(|i| i.id.clone())
    {
        svc.instances.remove(&oldest);
    }
    svc.instances.insert(
        id.clone(),
        InstanceRecord {
            id: id.clone(),
            project: pname.clone(),
            owner: svc.cfg.owner.clone(),
            start_ms: now.epoch_ms(),
            end_ms: now.epoch_ms(),
            status: "Terminated".into(),
            tasks,
        },
    );
    let host = req.headers.get("host").unwrap_or("127.0.0.1");
    let location = format!("http://{host}/api/projects/{pname}/instances/{id}");
    Ok(Response::new(201, bytes::Bytes::new()).with_header("location", location))
}

fn instance_headers(r: Response, i: &InstanceRecord) -> Response {
    r.with_header("x-odps-owner", i.owner.clone())
        .with_header(
            "x-odps-start-time",
            format_rfc1123(i.start_ms.div_euclid(1000)),
        )
        .with_header("x-odps-end-time", format_rfc1123(i.end_ms.div_euclid(1000)))
}

pub(super) fn get_instance(svc: &mut Service, route: &Route) -> Result<Response, MockError> {
    let i = instance_of(svc, route)?;
    Ok(instance_headers(
        xml_ok(render::instance_status_xml(&i.status)),
        i,
    ))
}

fn task_xml(t: &TaskRecord, start_ms: i64, end_ms: i64) -> String {
    format!(
        "<Task Type=\"{}\">{}{}{}{}</Task>",
        escape(&t.kind),
        elem("Name", &t.name),
        elem("StartTime", &format_rfc1123(start_ms.div_euclid(1000))),
        elem("EndTime", &format_rfc1123(end_ms.div_euclid(1000))),
        elem("Status", &t.status),
    )
}

pub(super) fn get_task_status(svc: &mut Service, route: &Route) -> Result<Response, MockError> {
    let i = instance_of(svc, route)?;
    let tasks: String = i
        .tasks
        .iter()
        .map(|t| task_xml(t, i.start_ms, i.end_ms))
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Instance>{}<Tasks>{tasks}</Tasks></Instance>",
        elem("Status", &i.status)
    );
    Ok(instance_headers(xml_ok(body), i))
}

pub(super) fn get_result(svc: &mut Service, route: &Route) -> Result<Response, MockError> {
    let i = instance_of(svc, route)?;
    let tasks: String = i
        .tasks
        .iter()
        .map(|t| {
            format!(
                "<Task Type=\"{}\">{}<Result Format=\"text\">{}</Result></Task>",
                escape(&t.kind),
                elem("Name", &t.name),
                cdata(&t.result)
            )
        })
        .collect();
    Ok(xml_ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Instance><Tasks>{tasks}</Tasks></Instance>"
    )))
}

pub(super) fn get_progress(svc: &mut Service, route: &Route) -> Result<Response, MockError> {
    instance_of(svc, route)?;
    Ok(xml_ok(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Progress></Progress>".into(),
    ))
}

pub(super) fn get_other(svc: &mut Service, route: &Route) -> Result<Response, MockError> {
    let i = instance_of(svc, route)?;
    // Detail/summary style calls: answer an empty JSON document.
    let _ = i;
    Ok(super::json_resp(200, &serde_json::json!({})))
}

pub(super) fn stop_instance(svc: &mut Service, route: &Route) -> Result<Response, MockError> {
    instance_of(svc, route)?;
    Ok(Response::new(200, bytes::Bytes::new()))
}

pub(super) fn list_instances(svc: &mut Service, route: &Route) -> Result<Response, MockError> {
    let project = route.project.clone().unwrap_or_default();
    svc.catalog.project(&project)?;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Instances>");
    for i in svc
        .instances
        .values()
        .filter(|i| i.project.eq_ignore_ascii_case(&project))
    {
        out.push_str(&format!(
            "<Instance>{}{}{}{}{}</Instance>",
            elem("Name", &i.id),
            elem("Owner", &i.owner),
            elem("StartTime", &format_rfc1123(i.start_ms.div_euclid(1000))),
            elem("EndTime", &format_rfc1123(i.end_ms.div_euclid(1000))),
            elem("Status", &i.status),
        ));
    }
    out.push_str("<Marker></Marker><MaxItems>1000</MaxItems></Instances>");
    Ok(xml_ok(out))
}

// ------------------------------------------------------------------ DDL execution

fn semantic(msg: impl std::fmt::Display) -> String {
    format!("ODPS-0130071:[1,1] Semantic analysis exception - {msg}")
}

fn table_not_found(project: &str, name: &str) -> String {
    format!("ODPS-0130131:[1,1] Table not found - table {project}.{name} cannot be resolved")
}

/// Runs a `;`-separated script against the catalog. Statements run in order; the first
/// failure stops the script (earlier statements stay applied, as in the service).
pub(crate) fn run_script(
    svc: &mut Service,
    project: &str,
    query: &str,
    now: MockTime,
) -> Result<(), String> {
    let stmts = sql::parse_script(query).map_err(|e| e.to_string())?;
    for s in stmts {
        exec(svc, project, s, now)?;
        svc.dirty = true;
        svc.gc_needed = true;
    }
    Ok(())
}

/// Runs one parsed statement.
pub(crate) fn run_statement(
    svc: &mut Service,
    project: &str,
    stmt: Statement,
    now: MockTime,
) -> Result<(), String> {
    exec(svc, project, stmt, now)?;
    svc.dirty = true;
    svc.gc_needed = true;
    Ok(())
}

fn resolve_project(svc: &Service, default: &str, name: &ObjectName) -> Result<String, String> {
    let p = name.project.as_deref().unwrap_or(default);
    svc.catalog
        .project(p)
        .map(|p| p.name.clone())
        .map_err(|_| format!("ODPS-0420111: Project not found - '{p}'"))
}

fn to_column(d: &ColumnDef) -> Column {
    Column {
        name: d.name.clone(),
        ty: d.ty.clone(),
        nullable: !d.not_null,
        comment: d.comment.clone().unwrap_or_default(),
    }
}

fn exec(
    svc: &mut Service,
    default_project: &str,
    stmt: Statement,
    now: MockTime,
) -> Result<(), String> {
    let now_ms = now.epoch_ms();
    match stmt {
        Statement::Set => Ok(()),
        Statement::CreateTable(ct) => create_table(svc, default_project, ct, now),
        Statement::DropTable { name, if_exists } => {
            let project = resolve_project(svc, default_project, &name)?;
            let ns = match svc
                .catalog
                .namespace_mut(&project, name.schema.as_deref(), None)
            {
                Ok(ns) => ns,
                Err(_) if if_exists => return Ok(()),
                Err(_) => return Err(table_not_found(&project, &name.name)),
            };
            match ns.tables.remove(&name.name.to_ascii_lowercase()) {
                Some(_) => Ok(()),
                None if if_exists => Ok(()),
                None => Err(table_not_found(&project, &name.name)),
            }
        }
        Statement::AddPartitions {
            table,
            if_not_exists,
            partitions,
        } => {
            let project = resolve_project(svc, default_project, &table)?;
            let t = svc
                .catalog
                .table_mut(&project, table.schema.as_deref(), &table.name)
                .map_err(|_| table_not_found(&project, &table.name))?;
            let mut resolved = Vec::new();
            for p in &partitions {
                resolved.push(resolve_partition(t, p)?);
            }
            for values in resolved {
                if !t.ensure_partition(values.clone(), now_ms) && !if_not_exists {
                    return Err(semantic(format!(
                        "Partition already exists - {}",
                        t.spec_text(&values)
                    )));
                }
            }
            Ok(())
        }
        Statement::DropPartitions {
            table,
            if_exists,
            partitions,
        } => {
            let project = resolve_project(svc, default_project, &table)?;
            let t = svc
                .catalog
                .table_mut(&project, table.schema.as_deref(), &table.name)
                .map_err(|_| table_not_found(&project, &table.name))?;
            for p in &partitions {
                let values = resolve_partition(t, p)?;
                if t.partitions.remove(&values).is_none() && !if_exists {
                    return Err(semantic(format!(
                        "Partition not found - {}",
                        t.spec_text(&values)
                    )));
                }
                t.last_ddl_ms = now_ms;
            }
            Ok(())
        }
        Statement::AddColumns {
            table,
            if_not_exists,
            columns,
        } => {
            let project = resolve_project(svc, default_project, &table)?;
            let t = svc
                .catalog
                .table_mut(&project, table.schema.as_deref(), &table.name)
                .map_err(|_| table_not_found(&project, &table.name))?;
            let mut schema = t.schema.clone();
            for c in &columns {
                let exists = schema.column_index(&c.name).is_some()
                    || schema.partition_column_index(&c.name).is_some();
                if exists {
                    if if_not_exists {
                        continue;
                    }
                    return Err(semantic(format!("Column already exists - {}", c.name)));
                }
                schema.columns.push(to_column(c));
            }
            schema.validate().map_err(semantic)?;
            if schema != t.schema {
                t.schema = schema;
                t.schema_version += 1;
                t.last_ddl_ms = now_ms;
            }
            Ok(())
        }
        Statement::SetLifecycle { table, days } => {
            let project = resolve_project(svc, default_project, &table)?;
            let t = svc
                .catalog
                .table_mut(&project, table.schema.as_deref(), &table.name)
                .map_err(|_| table_not_found(&project, &table.name))?;
            if days <= 0 {
                return Err(semantic("lifecycle must be positive"));
            }
            t.lifecycle = days;
            t.last_ddl_ms = now_ms;
            Ok(())
        }
        Statement::Truncate { table, partitions } => {
            let project = resolve_project(svc, default_project, &table)?;
            let t = svc
                .catalog
                .table_mut(&project, table.schema.as_deref(), &table.name)
                .map_err(|_| table_not_found(&project, &table.name))?;
            let targets: Vec<Vec<String>> = if partitions.is_empty() {
                if t.is_partitioned() {
                    t.partitions.keys().cloned().collect()
                } else {
                    vec![Vec::new()]
                }
            } else {
                partitions
                    .iter()
                    .map(|p| resolve_partition(t, p))
                    .collect::<Result<_, _>>()?
            };
            for values in targets {
                let spec = t.spec_text(&values);
                let data = t
                    .part_data_mut(&values)
                    .ok_or_else(|| semantic(format!("Partition not found - {spec}")))?;
                let version = data.version + 1;
                *data = PartData {
                    version,
                    ..PartData::default()
                };
                t.touch(&values, now_ms);
            }
            Ok(())
        }
    }
}

fn resolve_partition(t: &Table, p: &PartitionDef) -> Result<Vec<String>, String> {
    if !t.is_partitioned() {
        return Err(semantic(format!("table {} is not partitioned", t.name)));
    }
    let spec = crate::spec::PartSpec(p.clone());
    let values = spec
        .resolve(&t.schema.partition_columns)
        .map_err(|e| semantic(e.message))?;
    for (c, v) in t.schema.partition_columns.iter().zip(&values) {
        check_partition_value(c, v).map_err(semantic)?;
    }
    Ok(values)
}

/// Checks a partition value against its column type.
pub(crate) fn check_partition_value(c: &Column, v: &str) -> Result<(), String> {
    use maxc_core::types::OdpsType as T;
    let ok = match c.ty {
        T::TinyInt => v.parse::<i8>().is_ok(),
        T::SmallInt => v.parse::<i16>().is_ok(),
        T::Int => v.parse::<i32>().is_ok(),
        T::BigInt => v.parse::<i64>().is_ok(),
        T::Varchar(n) | T::Char(n) => v.chars().count() <= n as usize,
        _ => true,
    };
    if !ok || v.is_empty() || v.len() > 256 || v.contains(['/', '=', ',', '\'', '"', '\n']) {
        return Err(format!(
            "invalid value `{v}` for partition column `{}` ({})",
            c.name, c.ty
        ));
    }
    Ok(())
}

fn create_table(
    svc: &mut Service,
    default_project: &str,
    ct: CreateTable,
    now: MockTime,
) -> Result<(), String> {
    let project = resolve_project(svc, default_project, &ct.name)?;
    check_table_name(&ct.name.name).map_err(semantic)?;
    if ct.columns.is_empty() {
        return Err(semantic("a table needs at least one column"));
    }
    let props: BTreeMap<String, String> = ct
        .properties
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let transactional = props
        .get("transactional")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut columns: Vec<Column> = ct.columns.iter().map(to_column).collect();
    let partition_columns: Vec<Column> = ct.partition_columns.iter().map(to_column).collect();
    for pk in &ct.primary_key {
        let Some(c) = columns.iter_mut().find(|c| c.name.eq_ignore_ascii_case(pk)) else {
            return Err(semantic(format!(
                "primary key column `{pk}` is not a data column"
            )));
        };
        if c.ty.is_nested()
            || matches!(
                c.ty,
                maxc_core::types::OdpsType::Float
                    | maxc_core::types::OdpsType::Double
                    | maxc_core::types::OdpsType::Json
            )
        {
            return Err(semantic(format!(
                "column `{pk}` of type {} cannot be a primary key",
                c.ty
            )));
        }
        c.nullable = false;
    }
    let schema = TableSchema::new(columns, partition_columns).map_err(semantic)?;
    let mut cluster = ct.cluster.as_ref().map(|c| ClusterInfo {
        cluster_type: if c.range { "range" } else { "hash" }.to_string(),
        bucket_num: c.buckets,
        cluster_cols: c.columns.clone(),
        sort_cols: c.sorted_by.clone(),
    });
    if let Some(c) = &cluster {
        for col in c
            .cluster_cols
            .iter()
            .chain(c.sort_cols.iter().map(|(c, _)| c))
        {
            if schema.column_index(col).is_none() {
                return Err(semantic(format!(
                    "clustering column `{col}` is not a data column"
                )));
            }
        }
    }
    if transactional && !ct.primary_key.is_empty() {
        let buckets = match props.get("write.bucket.num") {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| semantic(format!("write.bucket.num `{v}` must be 1..4096")))?,
            None => cluster
                .as_ref()
                .and_then(|c| c.bucket_num)
                .unwrap_or(super::DEFAULT_BUCKETS),
        };
        cluster = Some(ClusterInfo {
            cluster_type: "hash".into(),
            bucket_num: Some(buckets),
            cluster_cols: ct.primary_key.clone(),
            sort_cols: Vec::new(),
        });
    }
    let owner = svc.cfg.owner.clone();
    let id = svc.next_hex(32);
    let ns = svc
        .catalog
        .namespace_mut(&project, ct.name.schema.as_deref(), Some(now.epoch_ms()))
        .map_err(|e| e.message)?;
    let key = ct.name.name.to_ascii_lowercase();
    if ns.tables.contains_key(&key) {
        if ct.if_not_exists {
            return Ok(());
        }
        return Err(semantic(format!(
            "Table or view already exists - {project}.{}",
            ct.name.name
        )));
    }
    let now_ms = now.epoch_ms();
    ns.tables.insert(
        key,
        Table {
            name: ct.name.name.clone(),
            id,
            owner,
            comment: ct.comment.clone().unwrap_or_default(),
            created_ms: now_ms,
            last_ddl_ms: now_ms,
            last_modified_ms: now_ms,
            lifecycle: ct.lifecycle.unwrap_or(-1),
            schema,
            transactional,
            primary_key: ct.primary_key.clone(),
            cluster,
            properties: props,
            schema_version: 0,
            partitions: BTreeMap::new(),
            data: PartData::default(),
        },
    );
    Ok(())
}
