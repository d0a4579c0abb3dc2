//! SQL instances, used for DDL (create table, add/drop partition, drop table; §3.7).
//!
//! Submit with [`submit_sql`] (201 + `Location` → instance id), poll [`get_task_status`]
//! until the instance is `Terminated`, then check the task status; on failure
//! [`get_result`] gives the error text. The DDL statement builders at the end produce the
//! SQL text.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::error::check;
use super::xml::{XmlElement, XmlWriter, parse_document};
use super::{ApiContext, ApiError, headers};
use crate::http::{Method, Request, Response, Service};
use crate::partition::PartitionSpec;
use crate::types::TableSchema;

/// Task name for `CREATE TABLE`.
pub const TASK_CREATE_TABLE: &str = "SQLCreateTableTask";
/// Task name for `ALTER TABLE … ADD PARTITION`.
pub const TASK_ADD_PARTITION: &str = "SQLAddPartitionTask";
/// Task name for `ALTER TABLE … DROP PARTITION`.
pub const TASK_DROP_PARTITION: &str = "SQLDropPartitionTask";
/// Task name for `DROP TABLE`.
pub const TASK_DROP_TABLE: &str = "SQLDropTableTask";

/// A SQL job as submitted (also what the mock server reads back from a submission).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlJob {
    /// Task name (`SQLCreateTableTask`, …).
    pub task_name: String,
    /// The SQL text.
    pub query: String,
    /// Job GUID (the caller's unique id; also sent as the `uuid` property).
    pub guid: String,
    /// Priority (pyodps uses 9).
    pub priority: u32,
    /// SQL settings, sent as JSON in the `settings` property.
    pub settings: BTreeMap<String, String>,
}

impl SqlJob {
    /// A job with priority 9 and no settings.
    pub fn new(
        task_name: impl Into<String>,
        query: impl Into<String>,
        guid: impl Into<String>,
    ) -> Self {
        Self {
            task_name: task_name.into(),
            query: query.into(),
            guid: guid.into(),
            priority: 9,
            settings: BTreeMap::new(),
        }
    }

    /// The `<Instance>` XML body.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::with_declaration();
        w.open("Instance")
            .open("Job")
            .text_element("Priority", &self.priority.to_string())
            .text_element("Guid", &self.guid)
            .open("Tasks")
            .open("SQL")
            .text_element("Name", &self.task_name)
            .open("Config")
            .open("Property")
            .text_element("Name", "settings")
            .text_element(
                "Value",
                &serde_json::to_string(&self.settings).unwrap_or_else(|_| "{}".into()),
            )
            .close()
            .open("Property")
            .text_element("Name", "uuid")
            .text_element("Value", &self.guid)
            .close()
            .close()
            .cdata_element("Query", &self.query)
            .close()
            .close()
            .open("DAG")
            .text_element("RunMode", "Sequence")
            .close();
        w.finish()
    }

    /// Reads a submission body (the first SQL task). For the mock server.
    pub fn from_xml(body: &[u8]) -> Result<SqlJob, super::xml::XmlError> {
        let root = parse_document(body)?;
        let job = root
            .child("Job")
            .ok_or_else(|| super::xml::XmlError("no <Job>".into()))?;
        let sql = job
            .child("Tasks")
            .and_then(|t| t.children.first())
            .ok_or_else(|| super::xml::XmlError("no task in <Tasks>".into()))?;
        let mut settings = BTreeMap::new();
        let mut guid = job.child_text("Guid").unwrap_or_default().to_string();
        if let Some(cfg) = sql.child("Config") {
            for p in cfg.children_named("Property") {
                match p.child_text("Name") {
                    Some("settings") => {
                        if let Ok(serde_json::Value::Object(map)) =
                            serde_json::from_str::<serde_json::Value>(
                                p.child_text("Value").unwrap_or("{}"),
                            )
                        {
                            for (k, v) in map {
                                let v = match v {
                                    serde_json::Value::String(s) => s,
                                    other => other.to_string(),
                                };
                                settings.insert(k, v);
                            }
                        }
                    }
                    Some("uuid") if guid.is_empty() => {
                        guid = p.child_text("Value").unwrap_or_default().to_string();
                    }
                    _ => {}
                }
            }
        }
        Ok(SqlJob {
            task_name: sql.child_text("Name").unwrap_or_default().to_string(),
            query: sql.child_text("Query").unwrap_or_default().to_string(),
            guid,
            priority: job
                .child_text("Priority")
                .and_then(|p| p.parse().ok())
                .unwrap_or(9),
            settings,
        })
    }
}

/// `POST /projects/{p}/instances` with the job XML.
pub fn submit_sql(ctx: &ApiContext, job: &SqlJob) -> Request {
    ctx.rest(Method::Post, format!("{}/instances", ctx.project_path()))
        .header(headers::CONTENT_TYPE, headers::XML)
        .body(job.to_xml())
        .build()
}

/// Parses a submission: 2xx (201 normally) with `Location: …/instances/{id}` → the id.
pub fn parse_submit(resp: &Response) -> Result<String, ApiError> {
    check(resp, Service::Rest)?;
    let loc = resp
        .headers
        .get(headers::LOCATION)
        .ok_or_else(|| ApiError::malformed(resp, "instance submit: no Location header"))?;
    let id = loc
        .trim()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let id = id.split(['?', '#']).next().unwrap_or_default();
    if id.is_empty() {
        return Err(ApiError::malformed(
            resp,
            format!("instance submit: no instance id in Location `{loc}`"),
        ));
    }
    Ok(id.to_string())
}

/// The 201 answer to a submission (for the mock): `Location: {endpoint}/projects/{p}/instances/{id}`.
pub fn render_submit(endpoint: &str, project: &str, instance_id: &str) -> Response {
    Response::new(201, "").with_header(
        headers::LOCATION,
        format!(
            "{}/projects/{project}/instances/{instance_id}",
            endpoint.trim_end_matches('/')
        ),
    )
}

/// Instance state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InstanceState {
    /// Running.
    Running,
    /// Suspended.
    Suspended,
    /// Terminated (look at the task status for success).
    Terminated,
    /// Anything else.
    Other(String),
}

impl InstanceState {
    fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "running" => InstanceState::Running,
            "suspended" => InstanceState::Suspended,
            "terminated" => InstanceState::Terminated,
            _ => InstanceState::Other(s.trim().to_string()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            InstanceState::Running => "Running",
            InstanceState::Suspended => "Suspended",
            InstanceState::Terminated => "Terminated",
            InstanceState::Other(s) => s,
        }
    }
}

/// Task state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskState {
    /// Waiting.
    Waiting,
    /// Running.
    Running,
    /// Success.
    Success,
    /// Failed.
    Failed,
    /// Suspended.
    Suspended,
    /// Cancelled.
    Cancelled,
    /// Anything else.
    Other(String),
}

impl TaskState {
    fn parse(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "waiting" => TaskState::Waiting,
            "running" => TaskState::Running,
            "success" => TaskState::Success,
            "failed" => TaskState::Failed,
            "suspended" => TaskState::Suspended,
            "cancelled" | "canceled" => TaskState::Cancelled,
            _ => TaskState::Other(s.trim().to_string()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            TaskState::Waiting => "Waiting",
            TaskState::Running => "Running",
            TaskState::Success => "Success",
            TaskState::Failed => "Failed",
            TaskState::Suspended => "Suspended",
            TaskState::Cancelled => "Cancelled",
            TaskState::Other(s) => s,
        }
    }
}

/// One task of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// Task name.
    pub name: String,
    /// Task type attribute (`SQL`).
    pub task_type: Option<String>,
    /// State.
    pub status: TaskState,
    /// Start time text as sent.
    pub start_time: Option<String>,
    /// End time text as sent.
    pub end_time: Option<String>,
}

/// An instance's status with its tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// Instance state.
    pub status: InstanceState,
    /// Tasks (empty for a plain status poll).
    pub tasks: Vec<TaskStatus>,
}

impl InstanceStatus {
    /// Terminated with every task `Success` (and at least one task).
    pub fn succeeded(&self) -> bool {
        self.status == InstanceState::Terminated
            && !self.tasks.is_empty()
            && self.tasks.iter().all(|t| t.status == TaskState::Success)
    }

    /// Terminated with some task not `Success`.
    pub fn failed(&self) -> bool {
        self.status == InstanceState::Terminated
            && self.tasks.iter().any(|t| t.status != TaskState::Success)
    }

    /// The `?taskstatus` XML.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::with_declaration();
        w.open("Instance")
            .text_element("Status", self.status.as_str())
            .open("Tasks");
        for t in &self.tasks {
            w.open_with_attrs("Task", &[("Type", t.task_type.as_deref().unwrap_or("SQL"))]);
            w.text_element("Name", &t.name);
            if let Some(s) = &t.start_time {
                w.text_element("StartTime", s);
            }
            if let Some(e) = &t.end_time {
                w.text_element("EndTime", e);
            }
            w.text_element("Status", t.status.as_str()).close();
        }
        w.finish()
    }
}

/// `GET /projects/{p}/instances/{id}?taskstatus`.
pub fn get_task_status(ctx: &ApiContext, instance_id: &str) -> Request {
    ctx.rest(
        Method::Get,
        format!("{}/instances/{instance_id}", ctx.project_path()),
    )
    .flag("taskstatus")
    .build()
}

fn instance_root(resp: &Response, what: &str) -> Result<XmlElement, ApiError> {
    check(resp, Service::Rest)?;
    parse_document(&resp.body).map_err(|e| ApiError::malformed(resp, format!("{what}: {e}")))
}

/// Parses `?taskstatus` (or a plain instance GET, which has no tasks).
pub fn parse_task_status(resp: &Response) -> Result<InstanceStatus, ApiError> {
    let root = instance_root(resp, "instance status")?;
    let status = root
        .child_text_nonempty("Status")
        .ok_or_else(|| ApiError::malformed(resp, "instance status: no <Status>"))?;
    let tasks = root
        .child("Tasks")
        .map(|t| {
            t.children_named("Task")
                .map(|task| TaskStatus {
                    name: task.child_text("Name").unwrap_or_default().to_string(),
                    task_type: task.attr("Type").map(str::to_string),
                    status: TaskState::parse(task.child_text("Status").unwrap_or_default()),
                    start_time: task.child_text_nonempty("StartTime"),
                    end_time: task.child_text_nonempty("EndTime"),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(InstanceStatus {
        status: InstanceState::parse(&status),
        tasks,
    })
}

/// One task's result text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResult {
    /// Task name.
    pub name: String,
    /// Result format attribute (`text`).
    pub format: Option<String>,
    /// The result text (Base64 transform already decoded).
    pub text: String,
}

impl TaskResult {
    /// The `ODPS-xxxxxxx` error code at the start of the text, if any.
    pub fn odps_error_code(&self) -> Option<&str> {
        let t = self.text.trim_start();
        let rest = t.strip_prefix("ODPS-")?;
        let n = rest.chars().take_while(char::is_ascii_digit).count();
        (n > 0).then(|| &t[..5 + n])
    }
}

/// `GET /projects/{p}/instances/{id}?result`.
pub fn get_result(ctx: &ApiContext, instance_id: &str) -> Request {
    ctx.rest(
        Method::Get,
        format!("{}/instances/{instance_id}", ctx.project_path()),
    )
    .flag("result")
    .build()
}

/// Parses `?result`.
pub fn parse_result(resp: &Response) -> Result<Vec<TaskResult>, ApiError> {
    let root = instance_root(resp, "instance result")?;
    let Some(tasks) = root.child("Tasks") else {
        return Ok(Vec::new());
    };
    tasks
        .children_named("Task")
        .map(|task| {
            let result = task.child("Result");
            let raw = result.map(|r| r.text.clone()).unwrap_or_default();
            let base64 = result
                .and_then(|r| r.attr("Transform"))
                .is_some_and(|t| t.eq_ignore_ascii_case("base64"));
            let text = if base64 {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(raw.trim())
                    .map_err(|e| {
                        ApiError::malformed(resp, format!("instance result: bad Base64: {e}"))
                    })?;
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                raw
            };
            Ok(TaskResult {
                name: task.child_text("Name").unwrap_or_default().to_string(),
                format: result.and_then(|r| r.attr("Format")).map(str::to_string),
                text,
            })
        })
        .collect()
}

/// The `?result` XML (for the mock).
pub fn render_result(results: &[TaskResult]) -> String {
    let mut w = XmlWriter::with_declaration();
    w.open("Instance").open("Tasks");
    for r in results {
        w.open_with_attrs("Task", &[("Type", "SQL")]);
        w.text_element("Name", &r.name);
        w.open_with_attrs(
            "Result",
            &[("Format", r.format.as_deref().unwrap_or("text"))],
        );
        w.cdata(&r.text);
        w.close().close();
    }
    w.finish()
}

// ---------------------------------------------------------------------------------------
// DDL text

/// `` `name` `` with backticks doubled.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'text'` with `\` and `'` backslash-escaped.
pub fn quote_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// `project.[schema.]`table``.
pub fn table_ref(ctx: &ApiContext, table: &str) -> String {
    match &ctx.schema {
        Some(s) => format!("{}.{}.{}", ctx.project, s, quote_ident(table)),
        None => format!("{}.{}", ctx.project, quote_ident(table)),
    }
}

/// `(k='v', …)` for `PARTITION` clauses.
fn partition_clause(spec: &PartitionSpec) -> String {
    let parts: Vec<String> = spec
        .levels()
        .iter()
        .map(|(k, v)| format!("{}={}", k, quote_literal(v)))
        .collect();
    format!("({})", parts.join(", "))
}

/// Options of [`create_table_sql`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateTableOptions {
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Table comment.
    pub comment: Option<String>,
    /// Primary key columns (`PRIMARY KEY (…)`; needs `transactional`).
    pub primary_key: Vec<String>,
    /// `TBLPROPERTIES ('transactional'='true')`.
    pub transactional: bool,
    /// `write.bucket.num` for Delta tables.
    pub bucket_num: Option<u32>,
    /// `LIFECYCLE n` (days).
    pub lifecycle: Option<u32>,
}

/// `CREATE TABLE` text for `schema` (§3.7 template).
pub fn create_table_sql(
    ctx: &ApiContext,
    table: &str,
    schema: &TableSchema,
    opts: &CreateTableOptions,
) -> String {
    let mut sql = String::from("CREATE TABLE ");
    if opts.if_not_exists {
        sql.push_str("IF NOT EXISTS ");
    }
    sql.push_str(&table_ref(ctx, table));
    sql.push_str(" (");
    let mut items: Vec<String> = schema
        .columns
        .iter()
        .map(|c| {
            let mut s = format!("{} {}", quote_ident(&c.name), c.ty);
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            if !c.comment.is_empty() {
                s.push_str(" COMMENT ");
                s.push_str(&quote_literal(&c.comment));
            }
            s
        })
        .collect();
    if !opts.primary_key.is_empty() {
        let pk: Vec<String> = opts.primary_key.iter().map(|k| quote_ident(k)).collect();
        items.push(format!("PRIMARY KEY ({})", pk.join(", ")));
    }
    sql.push_str(&items.join(", "));
    sql.push(')');
    if let Some(c) = &opts.comment {
        sql.push_str(" COMMENT ");
        sql.push_str(&quote_literal(c));
    }
    if !schema.partition_columns.is_empty() {
        let parts: Vec<String> = schema
            .partition_columns
            .iter()
            .map(|c| format!("{} {}", quote_ident(&c.name), c.ty))
            .collect();
        sql.push_str(&format!(" PARTITIONED BY ({})", parts.join(", ")));
    }
    let mut props = Vec::new();
    if opts.transactional {
        props.push("'transactional'='true'".to_string());
    }
    if let Some(b) = opts.bucket_num {
        props.push(format!("'write.bucket.num'='{b}'"));
    }
    if !props.is_empty() {
        sql.push_str(&format!(" TBLPROPERTIES ({})", props.join(", ")));
    }
    if let Some(l) = opts.lifecycle {
        sql.push_str(&format!(" LIFECYCLE {l}"));
    }
    sql.push(';');
    sql
}

/// ``ALTER TABLE p.`t` ADD [IF NOT EXISTS] PARTITION (ds='x');``
pub fn add_partition_sql(
    ctx: &ApiContext,
    table: &str,
    spec: &PartitionSpec,
    if_not_exists: bool,
) -> String {
    format!(
        "ALTER TABLE {} ADD {}PARTITION {};",
        table_ref(ctx, table),
        if if_not_exists { "IF NOT EXISTS " } else { "" },
        partition_clause(spec)
    )
}

/// ``ALTER TABLE p.`t` DROP [IF EXISTS] PARTITION (ds='x');``
pub fn drop_partition_sql(
    ctx: &ApiContext,
    table: &str,
    spec: &PartitionSpec,
    if_exists: bool,
) -> String {
    format!(
        "ALTER TABLE {} DROP {}PARTITION {};",
        table_ref(ctx, table),
        if if_exists { "IF EXISTS " } else { "" },
        partition_clause(spec)
    )
}

/// ``DROP TABLE [IF EXISTS] p.`t`;``
pub fn drop_table_sql(ctx: &ApiContext, table: &str, if_exists: bool) -> String {
    format!(
        "DROP TABLE {}{};",
        if if_exists { "IF EXISTS " } else { "" },
        table_ref(ctx, table)
    )
}
