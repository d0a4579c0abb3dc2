//! REST (metadata) service operations: project, tables, partitions, tunnel discovery.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::check;
use super::model::{
    PartitionSchemaJson, ReservedJson, SortColJson, TableColumnJson, TableSchemaJson,
};
use super::xml::{XmlElement, XmlWriter, parse_document};
use super::{ApiContext, ApiError, headers};
use crate::http::{Method, Request, Response, Service};
use crate::partition::PartitionSpec;
use crate::time::WallClock;
use crate::types::TableSchema;

fn xml_root(resp: &Response, what: &str) -> Result<XmlElement, ApiError> {
    check(resp, Service::Rest)?;
    parse_document(&resp.body).map_err(|e| ApiError::malformed(resp, format!("{what}: {e}")))
}

/// Epoch seconds of an RFC 1123 date (`None` when it does not parse).
fn parse_http_date(s: &str) -> Option<i64> {
    WallClock::parse_rfc1123(s.trim())
        .ok()
        .map(|w| w.unix_secs())
}

/// RFC 1123 text of epoch seconds.
fn format_http_date(secs: i64) -> String {
    WallClock::from_unix_secs(secs).to_rfc1123()
}

fn xml_response(body: String) -> Response {
    Response::new(200, body).with_header(headers::CONTENT_TYPE, headers::XML)
}

// ---------------------------------------------------------------------------------------
// Project

/// A project (§3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectMeta {
    /// Name.
    pub name: String,
    /// `managed`, …
    pub project_type: Option<String>,
    /// Comment.
    pub comment: String,
    /// Owner (`<Owner>` or the `x-odps-owner` header).
    pub owner: Option<String>,
    /// AVAILABLE, READONLY, DELETING, FROZEN.
    pub state: Option<String>,
    /// Region id.
    pub region: Option<String>,
    /// Properties.
    pub properties: BTreeMap<String, String>,
    /// Creation time, epoch seconds (`x-odps-creation-time`).
    pub creation_time: Option<i64>,
    /// Last modification, epoch seconds (`Last-Modified`).
    pub last_modified_time: Option<i64>,
}

/// `GET /projects/{p}`.
pub fn get_project(ctx: &ApiContext) -> Request {
    ctx.rest(Method::Get, ctx.project_path()).build()
}

/// Parses a project response.
pub fn parse_project(resp: &Response) -> Result<ProjectMeta, ApiError> {
    let root = xml_root(resp, "project")?;
    let mut properties = BTreeMap::new();
    if let Some(props) = root.child("Properties") {
        for p in props.children_named("Property") {
            if let Some(name) = p.child_text("Name") {
                properties.insert(
                    name.to_string(),
                    p.child_text("Value").unwrap_or_default().to_string(),
                );
            }
        }
    }
    Ok(ProjectMeta {
        name: root.child_text("Name").unwrap_or_default().to_string(),
        project_type: root.child_text_nonempty("Type"),
        comment: root.child_text("Comment").unwrap_or_default().to_string(),
        owner: root
            .child_text_nonempty("Owner")
            .or_else(|| resp.headers.get(headers::OWNER).map(str::to_string)),
        state: root.child_text_nonempty("State"),
        region: root.child_text_nonempty("Region"),
        properties,
        creation_time: resp
            .headers
            .get(headers::CREATION_TIME)
            .and_then(parse_http_date),
        last_modified_time: resp
            .headers
            .get(headers::LAST_MODIFIED)
            .and_then(parse_http_date),
    })
}

impl ProjectMeta {
    /// The project XML document.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::with_declaration();
        w.open("Project").text_element("Name", &self.name);
        if let Some(t) = &self.project_type {
            w.text_element("Type", t);
        }
        w.text_element("Comment", &self.comment);
        if let Some(o) = &self.owner {
            w.text_element("Owner", o);
        }
        if let Some(s) = &self.state {
            w.text_element("State", s);
        }
        if let Some(r) = &self.region {
            w.text_element("Region", r);
        }
        w.open("Properties");
        for (k, v) in &self.properties {
            w.open("Property")
                .text_element("Name", k)
                .text_element("Value", v)
                .close();
        }
        w.close();
        w.finish()
    }

    /// A 200 response with the XML body and the headers clients require
    /// (`x-odps-owner`, `x-odps-creation-time`, `Last-Modified`; missing times render as
    /// the epoch).
    pub fn to_response(&self) -> Response {
        xml_response(self.to_xml())
            .with_header(headers::OWNER, self.owner.clone().unwrap_or_default())
            .with_header(
                headers::CREATION_TIME,
                format_http_date(self.creation_time.unwrap_or(0)),
            )
            .with_header(
                headers::LAST_MODIFIED,
                format_http_date(self.last_modified_time.unwrap_or(0)),
            )
    }
}

// ---------------------------------------------------------------------------------------
// Table

/// Kind of table (`<Type>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TableType {
    /// `MANAGED_TABLE`
    Managed,
    /// `EXTERNAL_TABLE`
    External,
    /// `OBJECT_TABLE`
    Object,
    /// `VIRTUAL_VIEW`
    VirtualView,
    /// `MATERIALIZED_VIEW`
    MaterializedView,
    /// `SNAPSHOT`
    Snapshot,
    /// Anything else.
    Other(String),
}

impl TableType {
    /// Parses the `<Type>` text.
    pub fn parse(s: &str) -> Self {
        match s.trim().to_ascii_uppercase().as_str() {
            "MANAGED_TABLE" => TableType::Managed,
            "EXTERNAL_TABLE" => TableType::External,
            "OBJECT_TABLE" => TableType::Object,
            "VIRTUAL_VIEW" => TableType::VirtualView,
            "MATERIALIZED_VIEW" => TableType::MaterializedView,
            "SNAPSHOT" => TableType::Snapshot,
            _ => TableType::Other(s.trim().to_string()),
        }
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            TableType::Managed => "MANAGED_TABLE",
            TableType::External => "EXTERNAL_TABLE",
            TableType::Object => "OBJECT_TABLE",
            TableType::VirtualView => "VIRTUAL_VIEW",
            TableType::MaterializedView => "MATERIALIZED_VIEW",
            TableType::Snapshot => "SNAPSHOT",
            TableType::Other(s) => s,
        }
    }
}

/// Clustering of a table (`Reserved.ClusterType` etc.).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// `hash` or `range`.
    pub cluster_type: Option<String>,
    /// Number of buckets.
    pub bucket_num: Option<u32>,
    /// Cluster columns.
    pub cluster_cols: Vec<String>,
    /// Sort columns with `asc`/`desc`.
    pub sort_cols: Vec<(String, String)>,
}

/// A table's metadata (§3.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableMeta {
    /// Name (empty when the response omits it).
    pub name: String,
    /// Table id.
    pub table_id: Option<String>,
    /// Owner.
    pub owner: Option<String>,
    /// Comment.
    pub comment: String,
    /// Kind of table.
    pub table_type: TableType,
    /// Columns and partition columns.
    pub schema: TableSchema,
    /// `Reserved.Transactional == "true"`.
    pub transactional: bool,
    /// `Reserved.PrimaryKey`.
    pub primary_key: Vec<String>,
    /// `Reserved.schema_version`.
    pub schema_version: Option<String>,
    /// Hash bucket count (`Reserved.BucketNum`).
    pub bucket_num: Option<u32>,
    /// Clustering, when any cluster key is present.
    pub cluster: Option<ClusterInfo>,
    /// Creation time, epoch seconds (XML `CreationTime` or JSON `createTime`).
    pub creation_time: Option<i64>,
    /// Last modification, epoch seconds.
    pub last_modified_time: Option<i64>,
    /// Last DDL time, epoch seconds.
    pub last_ddl_time: Option<i64>,
    /// Lifecycle in days (-1 = none).
    pub lifecycle: Option<i64>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// Record count (-1 = unknown).
    pub record_num: Option<i64>,
    /// The whole `Reserved` document, with keys this type does not model.
    pub reserved: Option<ReservedJson>,
}

impl TableMeta {
    /// A managed table with this schema and nothing else set.
    pub fn new(name: impl Into<String>, schema: TableSchema) -> Self {
        Self {
            name: name.into(),
            table_id: None,
            owner: None,
            comment: String::new(),
            table_type: TableType::Managed,
            schema,
            transactional: false,
            primary_key: Vec::new(),
            schema_version: None,
            bucket_num: None,
            cluster: None,
            creation_time: None,
            last_modified_time: None,
            last_ddl_time: None,
            lifecycle: None,
            size: None,
            record_num: None,
            reserved: None,
        }
    }

    /// A transactional table with a primary key (a Delta table; upserts allowed).
    pub fn is_delta_table(&self) -> bool {
        self.transactional && !self.primary_key.is_empty()
    }

    /// The table JSON that goes into `<Schema>` (with `Reserved` as a JSON string).
    pub fn to_schema_json(&self) -> TableSchemaJson {
        let mut reserved = self.reserved.clone().unwrap_or_default();
        if self.transactional || reserved.transactional.is_some() {
            reserved.transactional = Some(self.transactional.to_string());
        }
        if !self.primary_key.is_empty() {
            reserved.primary_key = Some(self.primary_key.clone());
        }
        if self.schema_version.is_some() {
            reserved.schema_version = self.schema_version.clone();
        }
        if let Some(b) = self.bucket_num {
            reserved.bucket_num = Some(i64::from(b));
        }
        if let Some(c) = &self.cluster {
            reserved.cluster_type = c.cluster_type.clone().or(reserved.cluster_type);
            if let Some(b) = c.bucket_num {
                reserved.bucket_num = Some(i64::from(b));
            }
            if !c.cluster_cols.is_empty() {
                reserved.cluster_cols = Some(c.cluster_cols.clone());
            }
            if !c.sort_cols.is_empty() {
                reserved.sort_cols = Some(
                    c.sort_cols
                        .iter()
                        .map(|(col, order)| SortColJson {
                            col: col.clone(),
                            order: order.clone(),
                        })
                        .collect(),
                );
            }
        }
        let reserved_text = if reserved == ReservedJson::default() {
            None
        } else {
            serde_json::to_string(&reserved).ok()
        };
        TableSchemaJson {
            owner: self.owner.clone(),
            comment: Some(self.comment.clone()),
            table_label: None,
            create_time: self.creation_time,
            last_ddl_time: self.last_ddl_time,
            last_modified_time: self.last_modified_time,
            last_access_time: None,
            lifecycle: self.lifecycle,
            size: self.size,
            record_num: self.record_num,
            is_virtual_view: Some(self.table_type == TableType::VirtualView),
            is_materialized_view: Some(self.table_type == TableType::MaterializedView),
            is_external: Some(self.table_type == TableType::External),
            columns: self
                .schema
                .columns
                .iter()
                .map(TableColumnJson::from_column)
                .collect(),
            partition_keys: self
                .schema
                .partition_columns
                .iter()
                .map(TableColumnJson::from_column)
                .collect(),
            reserved: reserved_text,
            is_archived: None,
            physical_size: None,
            file_num: None,
        }
    }

    fn write_xml(&self, w: &mut XmlWriter) {
        w.open("Table").text_element("Name", &self.name);
        if let Some(id) = &self.table_id {
            w.text_element("TableId", id);
        }
        let json = serde_json::to_string(&self.to_schema_json()).unwrap_or_default();
        w.cdata_element("Schema", &json);
        if let Some(o) = &self.owner {
            w.text_element("Owner", o);
        }
        if let Some(t) = self.creation_time {
            w.text_element("CreationTime", &format_http_date(t));
        }
        if let Some(t) = self.last_modified_time {
            w.text_element("LastModifiedTime", &format_http_date(t));
        }
        w.text_element("Type", self.table_type.as_str());
        w.close();
    }

    /// The table XML document (no namespace; `<Schema>` as CDATA).
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::with_declaration();
        self.write_xml(&mut w);
        w.finish()
    }

    /// A 200 response with [`to_xml`](Self::to_xml).
    pub fn to_response(&self) -> Response {
        xml_response(self.to_xml())
    }
}

/// `GET /projects/{p}/tables/{t}[?extended]`.
pub fn get_table(ctx: &ApiContext, table: &str, extended: bool) -> Request {
    ctx.rest(Method::Get, ctx.table_path(table))
        .flag_if("extended", extended)
        .build()
}

fn table_from_element(el: &XmlElement, resp: &Response) -> Result<TableMeta, ApiError> {
    let schema_text = el
        .child_text("Schema")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::malformed(resp, "table: no <Schema> element"))?;
    let json: TableSchemaJson = serde_json::from_str(schema_text)
        .map_err(|e| ApiError::malformed(resp, format!("table: bad <Schema> JSON: {e}")))?;
    let schema = json
        .to_table_schema()
        .map_err(|e| ApiError::malformed(resp, format!("table: {e}")))?;
    let reserved = json
        .reserved()
        .map_err(|e| ApiError::malformed(resp, format!("table: bad Reserved JSON: {e}")))?;
    let r = reserved.clone().unwrap_or_default();
    let bucket_num = r.bucket_num.and_then(|b| u32::try_from(b).ok());
    let cluster = if r.cluster_type.is_some()
        || r.bucket_num.is_some()
        || r.cluster_cols.is_some()
        || r.sort_cols.is_some()
    {
        Some(ClusterInfo {
            cluster_type: r.cluster_type.clone(),
            bucket_num,
            cluster_cols: r.cluster_cols.clone().unwrap_or_default(),
            sort_cols: r
                .sort_cols
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|s| (s.col, s.order))
                .collect(),
        })
    } else {
        None
    };
    let table_type = match el.child_text_nonempty("Type") {
        Some(t) => TableType::parse(&t),
        None if json.is_virtual_view == Some(true) => TableType::VirtualView,
        None if json.is_materialized_view == Some(true) => TableType::MaterializedView,
        None if json.is_external == Some(true) => TableType::External,
        None => TableType::Managed,
    };
    Ok(TableMeta {
        name: el.child_text("Name").unwrap_or_default().to_string(),
        table_id: el.child_text_nonempty("TableId"),
        owner: el.child_text_nonempty("Owner").or(json.owner.clone()),
        comment: el
            .child_text_nonempty("Comment")
            .or(json.comment.clone())
            .unwrap_or_default(),
        table_type,
        schema,
        transactional: r
            .transactional
            .as_deref()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("true")),
        primary_key: r.primary_key.clone().unwrap_or_default(),
        schema_version: r.schema_version.clone(),
        bucket_num,
        cluster,
        creation_time: el
            .child_text("CreationTime")
            .and_then(parse_http_date)
            .or(json.create_time),
        last_modified_time: el
            .child_text("LastModifiedTime")
            .and_then(parse_http_date)
            .or(json.last_modified_time),
        last_ddl_time: json.last_ddl_time,
        lifecycle: json.lifecycle,
        size: json.size,
        record_num: json.record_num,
        reserved,
    })
}

/// Parses a table response (plain or `extended`).
pub fn parse_table(resp: &Response) -> Result<TableMeta, ApiError> {
    let root = xml_root(resp, "table")?;
    table_from_element(&root, resp)
}

// ---------------------------------------------------------------------------------------
// Table list

/// Paging and filters for [`list_tables`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTables {
    /// Name prefix.
    pub name_prefix: Option<String>,
    /// Marker from the previous page.
    pub marker: Option<String>,
    /// Page size.
    pub max_items: Option<u32>,
}

/// One table of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    /// Name.
    pub name: String,
    /// Table id.
    pub table_id: Option<String>,
    /// Owner.
    pub owner: Option<String>,
    /// Kind.
    pub table_type: Option<TableType>,
    /// Creation time, epoch seconds.
    pub creation_time: Option<i64>,
    /// Last modification, epoch seconds.
    pub last_modified_time: Option<i64>,
}

/// A page of tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableList {
    /// Tables on this page.
    pub tables: Vec<TableSummary>,
    /// Marker for the next page; `None` ends the listing.
    pub marker: Option<String>,
}

/// `GET /projects/{p}/tables?expectmarker=true[&name=][&marker=][&maxitems=]`.
pub fn list_tables(ctx: &ApiContext, params: &ListTables) -> Request {
    ctx.rest(Method::Get, ctx.tables_path())
        .q("expectmarker", "true")
        .opt_q("name", params.name_prefix.clone())
        .opt_q("marker", params.marker.clone())
        .opt_q("maxitems", params.max_items.map(|n| n.to_string()))
        .build()
}

/// Parses a table listing.
pub fn parse_table_list(resp: &Response) -> Result<TableList, ApiError> {
    let root = xml_root(resp, "table list")?;
    let tables = root
        .children_named("Table")
        .map(|t| TableSummary {
            name: t.child_text("Name").unwrap_or_default().to_string(),
            table_id: t.child_text_nonempty("TableId"),
            owner: t.child_text_nonempty("Owner"),
            table_type: t.child_text_nonempty("Type").map(|s| TableType::parse(&s)),
            creation_time: t.child_text("CreationTime").and_then(parse_http_date),
            last_modified_time: t.child_text("LastModifiedTime").and_then(parse_http_date),
        })
        .collect();
    Ok(TableList {
        tables,
        marker: root.child_text_nonempty("Marker"),
    })
}

impl TableList {
    /// The listing XML.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::with_declaration();
        w.open("Tables");
        for t in &self.tables {
            w.open("Table").text_element("Name", &t.name);
            if let Some(id) = &t.table_id {
                w.text_element("TableId", id);
            }
            if let Some(o) = &t.owner {
                w.text_element("Owner", o);
            }
            if let Some(ct) = t.creation_time {
                w.text_element("CreationTime", &format_http_date(ct));
            }
            if let Some(mt) = t.last_modified_time {
                w.text_element("LastModifiedTime", &format_http_date(mt));
            }
            if let Some(ty) = &t.table_type {
                w.text_element("Type", ty.as_str());
            }
            w.close();
        }
        w.text_element("Marker", self.marker.as_deref().unwrap_or(""));
        w.finish()
    }
}

// ---------------------------------------------------------------------------------------
// Partitions

/// Paging and filters for [`list_partitions`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPartitions {
    /// Only partitions under this prefix (sent in the quoted metadata form).
    pub prefix: PartitionSpec,
    /// Marker from the previous page.
    pub marker: Option<String>,
    /// Page size.
    pub max_items: Option<u32>,
}

/// One partition of a listing (§3.6; times are epoch seconds here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// The partition.
    pub spec: PartitionSpec,
    /// Creation time, epoch seconds.
    pub creation_time: Option<i64>,
    /// Last DDL time, epoch seconds.
    pub last_ddl_time: Option<i64>,
    /// Last data modification, epoch seconds.
    pub last_modified_time: Option<i64>,
    /// Last access time, epoch seconds.
    pub last_access_time: Option<i64>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// Record count.
    pub record_count: Option<i64>,
}

impl PartitionInfo {
    /// A partition with no times or sizes.
    pub fn new(spec: PartitionSpec) -> Self {
        Self {
            spec,
            creation_time: None,
            last_ddl_time: None,
            last_modified_time: None,
            last_access_time: None,
            size: None,
            record_count: None,
        }
    }
}

/// A page of partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionList {
    /// Partitions on this page.
    pub partitions: Vec<PartitionInfo>,
    /// Marker for the next page; `None` ends the listing.
    pub marker: Option<String>,
}

/// `GET /projects/{p}/tables/{t}?partitions&expectmarker=true[&partition=][&marker=][&maxitems=]`.
pub fn list_partitions(ctx: &ApiContext, table: &str, params: &ListPartitions) -> Request {
    let prefix = (!params.prefix.is_empty()).then(|| params.prefix.to_metadata_string());
    ctx.rest(Method::Get, ctx.table_path(table))
        .flag("partitions")
        .q("expectmarker", "true")
        .opt_q("partition", prefix)
        .opt_q("marker", params.marker.clone())
        .opt_q("maxitems", params.max_items.map(|n| n.to_string()))
        .build()
}

fn epoch_text(el: &XmlElement, name: &str) -> Option<i64> {
    el.child_text(name)
        .and_then(|t| t.parse::<i64>().ok().or_else(|| parse_http_date(t)))
}

/// Parses a partition listing (`<Column Name= Value=/>` entries, or `<Name>ds=1/hr=2</Name>`).
pub fn parse_partition_list(resp: &Response) -> Result<PartitionList, ApiError> {
    let root = xml_root(resp, "partition list")?;
    let mut partitions = Vec::new();
    for p in root.children_named("Partition") {
        let mut spec = PartitionSpec::new();
        for c in p.children_named("Column") {
            let (Some(k), Some(v)) = (c.attr("Name"), c.attr("Value")) else {
                return Err(ApiError::malformed(
                    resp,
                    "partition list: <Column> without Name or Value",
                ));
            };
            spec.push(k, v)
                .map_err(|e| ApiError::malformed(resp, format!("partition list: {e}")))?;
        }
        if spec.is_empty()
            && let Some(name) = p.child_text_nonempty("Name")
        {
            spec = PartitionSpec::parse(&name)
                .map_err(|e| ApiError::malformed(resp, format!("partition list: {e}")))?;
        }
        if spec.is_empty() {
            return Err(ApiError::malformed(
                resp,
                "partition list: empty <Partition>",
            ));
        }
        partitions.push(PartitionInfo {
            spec,
            creation_time: epoch_text(p, "CreationTime"),
            last_ddl_time: epoch_text(p, "LastDDLTime"),
            last_modified_time: epoch_text(p, "LastModifiedTime"),
            last_access_time: epoch_text(p, "LastAccessTime"),
            size: p.child_text("PartitionSize").and_then(|t| t.parse().ok()),
            record_count: p
                .child_text("PartitionRecordCount")
                .and_then(|t| t.parse().ok()),
        });
    }
    Ok(PartitionList {
        partitions,
        marker: root.child_text_nonempty("Marker"),
    })
}

impl PartitionList {
    /// The listing XML (`MaxItems` is written when given).
    pub fn to_xml(&self, max_items: Option<u32>) -> String {
        let mut w = XmlWriter::with_declaration();
        w.open("Partitions")
            .text_element("Marker", self.marker.as_deref().unwrap_or(""));
        if let Some(m) = max_items {
            w.text_element("MaxItems", &m.to_string());
        }
        for p in &self.partitions {
            w.open("Partition");
            for (k, v) in p.spec.levels() {
                w.empty_element("Column", &[("Name", k), ("Value", v)]);
            }
            let times = [
                ("CreationTime", p.creation_time),
                ("LastDDLTime", p.last_ddl_time),
                ("LastModifiedTime", p.last_modified_time),
                ("LastAccessTime", p.last_access_time),
                ("PartitionSize", p.size),
                ("PartitionRecordCount", p.record_count),
            ];
            for (name, value) in times {
                if let Some(v) = value {
                    w.text_element(name, &v.to_string());
                }
            }
            w.close();
        }
        w.finish()
    }
}

/// One partition's metadata (single-partition GET, §3.6).
pub type PartitionMeta = PartitionSchemaJson;

/// `GET /projects/{p}/tables/{t}?partition=ds='x'[&extended]` (quoted metadata form).
pub fn get_partition(
    ctx: &ApiContext,
    table: &str,
    spec: &PartitionSpec,
    extended: bool,
) -> Request {
    ctx.rest(Method::Get, ctx.table_path(table))
        .q("partition", spec.to_metadata_string())
        .flag_if("extended", extended)
        .build()
}

/// Parses a single-partition response (any 200 means the partition exists; a missing one is
/// a 404 `NoSuchPartition` → [`ErrorClass::NotFound`](super::ErrorClass::NotFound)).
pub fn parse_partition(resp: &Response) -> Result<PartitionMeta, ApiError> {
    let root = xml_root(resp, "partition")?;
    match root.child_text("Schema").filter(|s| !s.is_empty()) {
        None => Ok(PartitionMeta::default()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::malformed(resp, format!("partition: bad <Schema> JSON: {e}"))),
    }
}

/// The single-partition response body `<Partition><Schema><![CDATA[{…}]]></Schema></Partition>`.
pub fn render_partition(meta: &PartitionMeta) -> Response {
    let mut w = XmlWriter::with_declaration();
    w.open("Partition")
        .cdata_element("Schema", &serde_json::to_string(meta).unwrap_or_default());
    xml_response(w.finish())
}

// ---------------------------------------------------------------------------------------
// Tunnel discovery

/// `GET /projects/{p}/tunnel?service[&quotaName=]`.
pub fn get_tunnel_endpoint(ctx: &ApiContext) -> Request {
    ctx.rest(Method::Get, format!("{}/tunnel", ctx.project_path()))
        .flag("service")
        .quota()
        .build()
}

/// Parses the discovery answer (`host[:port]` as text) into a tunnel endpoint URL using the
/// scheme of `rest_endpoint` (`https://service…/api` → `https://host`). A body that already
/// has a scheme is used as is (trailing `/` removed).
pub fn parse_tunnel_endpoint(resp: &Response, rest_endpoint: &str) -> Result<String, ApiError> {
    check(resp, Service::Rest)?;
    let text = std::str::from_utf8(&resp.body)
        .map_err(|_| ApiError::malformed(resp, "tunnel endpoint: body is not UTF-8"))?
        .trim();
    if text.is_empty() || text.contains(char::is_whitespace) {
        return Err(ApiError::malformed(
            resp,
            format!("tunnel endpoint: expected `host[:port]`, got `{text}`"),
        ));
    }
    if text.contains("://") {
        return Ok(text.trim_end_matches('/').to_string());
    }
    if text.contains('/') {
        return Err(ApiError::malformed(
            resp,
            format!("tunnel endpoint: expected `host[:port]`, got `{text}`"),
        ));
    }
    let scheme = rest_endpoint
        .split_once("://")
        .map(|(s, _)| s)
        .filter(|s| !s.is_empty())
        .unwrap_or("http");
    Ok(format!("{scheme}://{text}"))
}
