//! Admin endpoints under `/_maxc/` (JSON in, JSON out). See `docs/mockserver.md`.

use maxc_core::http::{Method, Request, Response};
use maxc_core::types::Column;
use serde_json::{Value as Json, json};

use super::data::Loc;
use super::ddl::run_script;
use super::{Service, json_resp};
use crate::catalog::Table;
use crate::error::MockError;
use crate::faults::FaultSpec;
use crate::fixtures::{FixtureColumn, FixtureReport, Fixtures};
use crate::spec::PartSpec;
use crate::sql::{self, ColumnDef, CreateTable, ObjectName, Statement};
use crate::time::MockTime;
use crate::values::{build_batch, row_from_json, row_to_json, row_values};

/// Most rows returned by one rows call.
const MAX_ROWS: usize = 100_000;

fn bad(msg: impl Into<String>) -> MockError {
    MockError::bad_request("InvalidArgument", msg)
}

fn body_json(req: &Request) -> Result<Json, MockError> {
    if req.body.is_empty() {
        return Ok(Json::Null);
    }
    serde_json::from_slice(&req.body).map_err(|e| bad(format!("body is not valid JSON: {e}")))
}

fn ok(v: Json) -> Result<Response, MockError> {
    Ok(json_resp(200, &v))
}

pub(super) fn handle(
    svc: &mut Service,
    req: &Request,
    now: MockTime,
) -> Result<Response, MockError> {
    let path = req
        .path
        .strip_prefix(super::route::ADMIN_PREFIX)
        .unwrap_or("");
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let m = req.method;
    match (m, segs.as_slice()) {
        (Method::Get | Method::Head, ["health"]) => ok(json!({
            "status": "ok",
            "project": svc.cfg.project,
            "projects": svc.catalog.projects.len(),
            "tables": svc.catalog.tables().count(),
            "sessions": svc.sessions.len(),
            "persistent": svc.disk.is_some(),
            "requests": svc.request_seq,
            "auth": svc.cfg.auth,
        })),
        (Method::Post, ["reset"]) => {
            let keep_faults = req.query_param("keep_faults").is_some_and(|v| v != "false");
            svc.reset(now, keep_faults);
            svc.persist_now()?;
            ok(json!({"status": "reset"}))
        }
        (Method::Get, ["tables"]) => ok(Json::Array(
            svc.catalog
                .tables()
                .map(|(p, ns, t)| table_summary(&p.name, &ns.name, t))
                .collect(),
        )),
        (Method::Get, ["tables", project, table]) => {
            let t = svc
                .catalog
                .table(project, req.query_param("schema"), table)?;
            let parts: Vec<Json> = t
                .partitions
                .values()
                .map(|p| {
                    json!({"spec": t.spec_text(&p.values), "rows": p.data.rows, "bytes": p.data.bytes,
                           "segments": p.data.segments, "version": p.data.version})
                })
                .collect();
            let mut v = table_summary(project, req.query_param("schema").unwrap_or("default"), t);
            if let Some(o) = v.as_object_mut() {
                o.insert("columns".into(), columns_json(&t.schema.columns));
                o.insert(
                    "partition_columns".into(),
                    columns_json(&t.schema.partition_columns),
                );
                o.insert("partitions".into(), Json::Array(parts));
                o.insert("segments".into(), json!(t.data.segments));
                o.insert("id".into(), json!(t.id));
                o.insert("schema_version".into(), json!(t.schema_version));
            }
            ok(v)
        }
        (Method::Get, ["tables", project, table, "rows"]) => rows(svc, req, project, table),
        (Method::Get, ["sessions"]) => ok(sessions_json(svc)),
        (Method::Post, ["sessions", id, "expire"]) => {
            if !svc.sessions.contains(id) {
                return Err(MockError::not_found(
                    "NoSuchSession",
                    format!("no session `{id}`"),
                ));
            }
            // Only an open session expires; a committed one stays committed.
            let changed = svc.sessions.expire(id);
            svc.persist_now()?;
            ok(json!({"expired": id, "changed": changed}))
        }
        (Method::Get, ["faults"]) => ok(json!({"rules": svc.faults.rules()})),
        (Method::Post, ["faults"]) => {
            let j = body_json(req)?;
            let specs: Vec<FaultSpec> = match j {
                Json::Array(_) => serde_json::from_value(j),
                other => serde_json::from_value(other).map(|s| vec![s]),
            }
            .map_err(|e| bad(format!("invalid fault rule: {e}")))?;
            let mut ids = Vec::new();
            for s in specs {
                ids.push(svc.faults.add(s).map_err(|e| bad(e.to_string()))?);
            }
            ok(json!({"ids": ids}))
        }
        (Method::Delete, ["faults"]) => {
            svc.faults.clear();
            ok(json!({"cleared": true}))
        }
        (Method::Delete, ["faults", id]) => {
            let id: u64 = id.parse().map_err(|_| bad("rule id must be a number"))?;
            if !svc.faults.remove(id) {
                return Err(MockError::not_found(
                    "NoSuchRule",
                    format!("no fault rule {id}"),
                ));
            }
            ok(json!({"removed": id}))
        }
        (Method::Post, ["fixtures"]) => {
            let f: Fixtures = serde_json::from_slice(&req.body)
                .map_err(|e| bad(format!("invalid fixtures: {e}")))?;
            let report = svc.load_fixtures(&f, now)?;
            ok(serde_json::to_value(report).unwrap_or(Json::Null))
        }
        (Method::Post, ["sql"]) => {
            let project = req
                .query_param("project")
                .map(str::to_string)
                .unwrap_or_else(|| svc.cfg.project.clone());
            let project = svc.catalog.project(&project)?.name.clone();
            let text = std::str::from_utf8(&req.body).map_err(|_| bad("SQL must be UTF-8"))?;
            let result = run_script(svc, &project, text, now);
            svc.persist_now()?;
            match result {
                Ok(()) => ok(json!({"ok": true})),
                Err(e) => Err(MockError::bad_request("SqlFailed", e)),
            }
        }
        (Method::Get, ["requests"]) => {
            let limit = req
                .query_param("limit")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(super::LOG_CAPACITY);
            let n = svc.log.len();
            let entries: Vec<&super::LogEntry> =
                svc.log.iter().skip(n.saturating_sub(limit)).collect();
            ok(serde_json::to_value(entries).unwrap_or(Json::Null))
        }
        (Method::Get, ["instances"]) => ok(serde_json::to_value(
            svc.instances.values().collect::<Vec<_>>(),
        )
        .unwrap_or(Json::Null)),
        _ => Err(MockError::not_found(
            "NoSuchObject",
            format!("unknown admin endpoint {} {}", req.method, req.path),
        )),
    }
}

fn columns_json(cols: &[Column]) -> Json {
    Json::Array(
        cols.iter()
            .map(|c| json!({"name": c.name, "type": c.ty.to_string(), "nullable": c.nullable, "comment": c.comment}))
            .collect(),
    )
}

fn table_summary(project: &str, schema: &str, t: &Table) -> Json {
    json!({
        "project": project,
        "schema": schema,
        "table": t.name,
        "partitioned": t.is_partitioned(),
        "transactional": t.transactional,
        "primary_key": t.primary_key,
        "bucket_num": if t.is_delta() { Some(t.bucket_num()) } else { None },
        "rows": t.total_rows(),
        "bytes": t.total_bytes(),
        "partitions": t.partitions.len(),
    })
}

fn rows(svc: &Service, req: &Request, project: &str, table: &str) -> Result<Response, MockError> {
    let schema = req.query_param("schema").map(str::to_string);
    let t = svc.catalog.table(project, schema.as_deref(), table)?;
    let offset: usize = req
        .query_param("offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let limit: usize = req
        .query_param("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(MAX_ROWS)
        .min(MAX_ROWS);
    let parts: Vec<Vec<String>> = match req.query_param("partition") {
        Some(p) if !p.is_empty() => {
            let spec = PartSpec::parse(p)
                .map_err(|e| MockError::bad_request("InvalidPartitionSpec", e))?;
            vec![spec.resolve(&t.schema.partition_columns)?]
        }
        _ if t.is_partitioned() => t.partitions.keys().cloned().collect(),
        _ => vec![Vec::new()],
    };
    let pcols = t.schema.partition_columns.clone();
    let mut out = Vec::new();
    let mut total = 0usize;
    for values in parts {
        let loc = Loc {
            project: project.to_string(),
            schema: schema.clone(),
            table: table.to_string(),
            partition: values.clone(),
        };
        let (cols, batches) = svc.read_partition(&loc)?;
        for b in &batches {
            for r in 0..b.num_rows() {
                total += 1;
                if total <= offset || out.len() >= limit {
                    continue;
                }
                let v = row_values(b, &cols, r).map_err(|e| MockError::internal(e.0))?;
                let mut j = row_to_json(&cols, &v);
                if let Some(o) = j.as_object_mut() {
                    for (c, pv) in pcols.iter().zip(&values) {
                        o.insert(c.name.clone(), Json::String(pv.clone()));
                    }
                }
                out.push(j);
            }
        }
    }
    Ok(json_resp(
        200,
        &json!({"total": total, "offset": offset, "rows": out}),
    ))
}

fn sessions_json(svc: &Service) -> Json {
    let target = |t: &crate::sessions::Target| {
        json!({"project": t.project, "table": t.table, "partition":
            crate::spec::spec_text(&t.partition_columns, &t.partition)})
    };
    json!({
        "uploads": svc.sessions.uploads.values().map(|u| json!({
            "id": u.id, "target": target(&u.target), "status": u.status.as_str(), "overwrite": u.overwrite,
            "created_ms": u.created_ms,
            "blocks": u.blocks.iter().map(|(id, b)| json!({"id": id, "rows": b.rows, "bytes": b.bytes, "version": b.version})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "downloads": svc.sessions.downloads.values().map(|d| json!({
            "id": d.id, "target": target(&d.target), "status": d.status.as_str(), "record_count": d.record_count,
            "created_ms": d.created_ms,
        })).collect::<Vec<_>>(),
        "streams": svc.sessions.streams.values().map(|s| json!({
            "id": s.id, "target": target(&s.target), "status": s.status.as_str(), "slots": s.slots,
            "batches": s.batches, "rows": s.rows, "created_ms": s.created_ms,
        })).collect::<Vec<_>>(),
        "upserts": svc.sessions.upserts.values().map(|u| json!({
            "id": u.id, "target": target(&u.target), "status": u.status.as_str(), "buckets": u.bucket_num,
            "buffered_rows": u.buffered_rows, "created_ms": u.created_ms,
        })).collect::<Vec<_>>(),
    })
}

fn fixture_column(c: &FixtureColumn) -> Result<ColumnDef, MockError> {
    Ok(ColumnDef {
        name: c.name.clone(),
        ty: c
            .ty
            .parse()
            .map_err(|e: maxc_core::types::TypeParseError| {
                bad(format!("column `{}`: {e}", c.name))
            })?,
        not_null: !c.nullable,
        comment: c.comment.clone(),
        default: None,
        primary_key: false,
    })
}

impl Service {
    /// Empties the catalog, sessions, instances and (unless `keep_faults`) fault rules,
    /// then re-creates the configured projects.
    pub fn reset(&mut self, now: MockTime, keep_faults: bool) {
        self.catalog = Default::default();
        self.sessions = Default::default();
        self.sweep_due = None;
        self.instances.clear();
        if !keep_faults {
            self.faults.clear();
        }
        self.create_configured_projects(now);
        self.dirty = true;
        self.gc_needed = true;
    }

    /// Creates partition `values` of `project.table` holding `batch` (whose columns are the
    /// table's data columns, in order) and persists the change, as a fixture load would.
    /// Returns `false` (and changes nothing) when the partition exists already, so a caller
    /// can load the same partition again after a restart. Simulations use this to make new
    /// partitions appear while a source or lookup reads the table.
    pub fn load_partition(
        &mut self,
        project: &str,
        table: &str,
        values: Vec<String>,
        batch: arrow_array::RecordBatch,
        now: MockTime,
    ) -> Result<bool, MockError> {
        let t = self.catalog.table(project, None, table)?;
        if !t.is_partitioned() || values.len() != t.schema.partition_columns.len() {
            return Err(bad(format!(
                "{project}.{table}: {} partition values do not fit the table",
                values.len()
            )));
        }
        if t.partitions.contains_key(&values) {
            return Ok(false);
        }
        for (c, v) in t.schema.partition_columns.iter().zip(&values) {
            super::ddl::check_partition_value(c, v)
                .map_err(|e| bad(format!("{project}.{table}: {e}")))?;
        }
        if batch.num_columns() != t.schema.columns.len() {
            return Err(bad(format!(
                "{project}.{table}: the batch has {} columns, the table {}",
                batch.num_columns(),
                t.schema.columns.len()
            )));
        }
        let cols = t.schema.columns.clone();
        let rows = batch.num_rows();
        self.catalog
            .table_mut(project, None, table)?
            .ensure_partition(values.clone(), now.epoch_ms());
        if rows > 0 {
            let id = self.store.insert(batch, cols);
            let loc = Loc {
                project: project.to_string(),
                schema: None,
                table: table.to_string(),
                partition: values,
            };
            self.append_segments(&loc, &[id], now.epoch_ms())?;
        }
        self.gc_needed = true;
        self.persist_now()?;
        Ok(true)
    }

    pub(crate) fn persist_now(&mut self) -> Result<(), MockError> {
        self.dirty = false;
        self.persist()
            .map_err(|e| MockError::internal(format!("persisting state failed: {e}")))
    }

    /// Creates the fixtures' projects and tables and loads their rows. Tables that exist
    /// already are skipped. Errors stop the load (tables created before stay).
    pub fn load_fixtures(
        &mut self,
        f: &Fixtures,
        now: MockTime,
    ) -> Result<FixtureReport, MockError> {
        let mut report = FixtureReport::default();
        let result = self.load_fixtures_inner(f, now, &mut report);
        self.gc_needed = true;
        self.persist_now()?;
        result.map(|()| report)
    }

    fn load_fixtures_inner(
        &mut self,
        f: &Fixtures,
        now: MockTime,
        report: &mut FixtureReport,
    ) -> Result<(), MockError> {
        for p in &f.projects {
            if p.is_empty() {
                return Err(bad("empty project name"));
            }
            self.catalog
                .ensure_project(p, &self.cfg.owner, now.epoch_ms());
        }
        for ft in &f.tables {
            let default_project = ft
                .project
                .clone()
                .unwrap_or_else(|| self.cfg.project.clone());
            let ct = match &ft.ddl {
                Some(ddl) => {
                    let mut stmts = sql::parse_script(ddl).map_err(|e| bad(e.to_string()))?;
                    match (stmts.len(), stmts.pop()) {
                        (1, Some(Statement::CreateTable(ct))) => ct,
                        _ => return Err(bad("`ddl` must be exactly one CREATE TABLE statement")),
                    }
                }
                None => {
                    let name = ft
                        .name
                        .clone()
                        .ok_or_else(|| bad("a fixture table needs `name` or `ddl`"))?;
                    let mut props = Vec::new();
                    if ft.transactional {
                        props.push(("transactional".to_string(), "true".to_string()));
                    }
                    if let Some(b) = ft.bucket_num {
                        props.push(("write.bucket.num".to_string(), b.to_string()));
                    }
                    CreateTable {
                        name: ObjectName {
                            project: ft.project.clone(),
                            schema: ft.schema.clone(),
                            name,
                        },
                        if_not_exists: false,
                        columns: ft
                            .columns
                            .iter()
                            .map(fixture_column)
                            .collect::<Result<_, _>>()?,
                        primary_key: ft.primary_key.clone(),
                        comment: ft.comment.clone(),
                        partition_columns: ft
                            .partition_columns
                            .iter()
                            .map(fixture_column)
                            .collect::<Result<_, _>>()?,
                        cluster: None,
                        properties: props,
                        lifecycle: ft.lifecycle,
                    }
                }
            };
            let project = ct.name.project.clone().unwrap_or(default_project);
            let schema = ct.name.schema.clone().or_else(|| ft.schema.clone());
            let tname = ct.name.name.clone();
            let label = format!("{project}.{tname}");
            if self
                .catalog
                .table(&project, schema.as_deref(), &tname)
                .is_ok()
            {
                report.skipped.push(label);
                continue;
            }
            let mut ct = ct;
            ct.name.project = Some(project.clone());
            ct.name.schema = schema.clone();
            super::ddl::run_statement(self, &project, Statement::CreateTable(ct), now)
                .map_err(|e| bad(format!("{label}: {e}")))?;
            report.created.push(label.clone());
            let t = self.catalog.table(&project, schema.as_deref(), &tname)?;
            let cols = t.schema.columns.clone();
            let pcols = t.schema.partition_columns.clone();
            let mut loads: Vec<(Vec<String>, &Vec<Json>)> = Vec::new();
            if t.is_partitioned() {
                if !ft.rows.is_empty() {
                    return Err(bad(format!(
                        "{label} is partitioned: put rows under `partitions`"
                    )));
                }
                for p in &ft.partitions {
                    let spec =
                        PartSpec::parse(&p.spec).map_err(|e| bad(format!("{label}: {e}")))?;
                    let values = spec.resolve(&pcols)?;
                    for (c, v) in pcols.iter().zip(&values) {
                        super::ddl::check_partition_value(c, v)
                            .map_err(|e| bad(format!("{label}: {e}")))?;
                    }
                    loads.push((values, &p.rows));
                }
            } else {
                if !ft.partitions.is_empty() {
                    return Err(bad(format!("{label} is not partitioned")));
                }
                loads.push((Vec::new(), &ft.rows));
            }
            for (values, rows) in loads {
                let t = self
                    .catalog
                    .table_mut(&project, schema.as_deref(), &tname)?;
                if !values.is_empty() {
                    t.ensure_partition(values.clone(), now.epoch_ms());
                }
                if rows.is_empty() {
                    continue;
                }
                let parsed = rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        row_from_json(&cols, r).map_err(|e| bad(format!("{label} row {i}: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let batch =
                    build_batch(&cols, &parsed).map_err(|e| bad(format!("{label}: {e}")))?;
                report.rows += parsed.len() as u64;
                let id = self.store.insert(batch, cols.clone());
                let loc = Loc {
                    project: project.clone(),
                    schema: schema.clone(),
                    table: tname.clone(),
                    partition: values,
                };
                self.append_segments(&loc, &[id], now.epoch_ms())?;
            }
        }
        self.dirty = true;
        Ok(())
    }
}
