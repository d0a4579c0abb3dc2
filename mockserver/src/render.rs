//! Response documents: project, table and partition XML (with the JSON-in-XML `Schema`
//! and JSON-in-a-string `Reserved`), and the tunnel schema JSON of session responses.
//!
//! Times: RFC 1123 in XML elements of tables and projects, epoch seconds in the table and
//! partition JSON and in partition-list XML elements.

use maxc_core::types::Column;
use serde_json::{Value as Json, json};

use crate::catalog::{Partition, Project, Table};
use crate::spec::spec_path;
use crate::time::{MockTime, format_rfc1123};
use crate::xml::{cdata, elem, escape};

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

fn rfc(ms: i64) -> String {
    format_rfc1123(secs(ms))
}

/// The project document.
pub fn project_xml(p: &Project, region: &str, extended: bool) -> String {
    let mut props = String::new();
    for (k, v) in &p.properties {
        props.push_str(&format!(
            "<Property>{}{}</Property>",
            elem("Name", k),
            elem("Value", v)
        ));
    }
    let ext = if extended {
        "<ExtendedProperties></ExtendedProperties>"
    } else {
        ""
    };
    format!(
        "{XML_DECL}<Project>{}{}{}{}{}{}{}{}<Properties>{props}</Properties>{ext}</Project>",
        elem("Name", &p.name),
        elem("Type", "managed"),
        elem("Comment", &p.comment),
        elem("Owner", &p.owner),
        elem("State", "AVAILABLE"),
        elem("Region", region),
        elem("CreationTime", &rfc(p.created_ms)),
        elem("LastModifiedTime", &rfc(p.modified_ms)),
    )
}

/// The project list document.
pub fn projects_xml(projects: &[&Project], region: &str) -> String {
    let mut out = format!("{XML_DECL}<Projects>");
    for p in projects {
        out.push_str(
            project_xml(p, region, false)
                .strip_prefix(XML_DECL)
                .unwrap_or_default(),
        );
    }
    out.push_str("<Marker></Marker><MaxItems>1000</MaxItems></Projects>");
    out
}

fn column_json(c: &Column) -> Json {
    json!({
        "name": c.name,
        "type": c.ty.to_string(),
        "comment": c.comment,
        "label": "",
        "isNullable": c.nullable,
    })
}

/// The `Reserved` value: JSON text (it is sent as a JSON *string* holding JSON).
pub fn reserved_text(t: &Table) -> String {
    let mut r = serde_json::Map::new();
    r.insert(
        "Transactional".into(),
        Json::String(if t.transactional { "true" } else { "false" }.into()),
    );
    if !t.primary_key.is_empty() {
        r.insert("PrimaryKey".into(), json!(t.primary_key));
    }
    r.insert(
        "schema_version".into(),
        Json::String(t.schema_version.to_string()),
    );
    if let Some(c) = &t.cluster {
        r.insert("ClusterType".into(), Json::String(c.cluster_type.clone()));
        if let Some(b) = c.bucket_num {
            r.insert("BucketNum".into(), json!(b));
        }
        r.insert("ClusterCols".into(), json!(c.cluster_cols));
        r.insert(
            "SortCols".into(),
            Json::Array(
                c.sort_cols
                    .iter()
                    .map(|(col, order)| json!({"col": col, "order": order}))
                    .collect(),
            ),
        );
    }
    if t.is_delta() {
        r.insert("acid.data.retain.hours".into(), Json::String("24".into()));
    }
    Json::Object(r).to_string()
}

/// The JSON held in a table's `<Schema>` element.
pub fn table_schema_json(t: &Table) -> Json {
    let mut props = serde_json::Map::new();
    for (k, v) in &t.properties {
        props.insert(k.clone(), Json::String(v.clone()));
    }
    json!({
        "owner": t.owner,
        "comment": t.comment,
        "tableLabel": "0",
        "createTime": secs(t.created_ms),
        "lastDDLTime": secs(t.last_ddl_ms),
        "lastModifiedTime": secs(t.last_modified_ms),
        "lastAccessTime": secs(t.last_modified_ms),
        "lifecycle": t.lifecycle,
        "size": t.total_bytes(),
        "recordNum": t.total_rows(),
        "isVirtualView": false,
        "isMaterializedView": false,
        "isExternal": false,
        "columns": t.schema.columns.iter().map(column_json).collect::<Vec<_>>(),
        "partitionKeys": t.schema.partition_columns.iter().map(|c| json!({
            "name": c.name, "type": c.ty.to_string(), "comment": c.comment, "label": "",
        })).collect::<Vec<_>>(),
        "Reserved": reserved_text(t),
        "tableProperties": Json::Object(props).to_string(),
        "IsArchived": false,
        "PhysicalSize": t.total_bytes(),
        "FileNum": t.segment_ids().count(),
    })
}

/// One `<Table>` element (no XML declaration).
pub fn table_element(t: &Table, project: &str, schema: Option<&str>) -> String {
    let schema_el = match schema {
        Some(s) => elem("SchemaName", s),
        None => String::new(),
    };
    format!(
        "<Table>{}{}{}<Schema>{}</Schema>{}{}{}{}{}{}</Table>",
        elem("Name", &t.name),
        elem("TableId", &t.id),
        elem("Project", project),
        cdata(&table_schema_json(t).to_string()),
        elem("Owner", &t.owner),
        elem("Comment", &t.comment),
        elem("CreationTime", &rfc(t.created_ms)),
        elem("LastModifiedTime", &rfc(t.last_modified_ms)),
        elem("Type", "MANAGED_TABLE"),
        schema_el,
    )
}

/// The table document.
pub fn table_xml(t: &Table, project: &str, schema: Option<&str>) -> String {
    format!("{XML_DECL}{}", table_element(t, project, schema))
}

/// The table list document.
pub fn tables_xml(tables: &[(&Table, &str)], marker: &str, max_items: usize) -> String {
    let mut out = format!("{XML_DECL}<Tables>");
    for (t, project) in tables {
        out.push_str(&table_element(t, project, None));
    }
    out.push_str(&format!(
        "{}{}</Tables>",
        elem("Marker", marker),
        elem("MaxItems", &max_items.to_string())
    ));
    out
}

/// The partition list document.
pub fn partitions_xml(
    t: &Table,
    parts: &[&Partition],
    marker: &str,
    max_items: usize,
    names_only: bool,
) -> String {
    let mut out = format!("{XML_DECL}<Partitions>");
    out.push_str(&elem("Marker", marker));
    out.push_str(&elem("MaxItems", &max_items.to_string()));
    for p in parts {
        out.push_str("<Partition>");
        if names_only {
            out.push_str(&elem(
                "Name",
                &spec_path(&t.schema.partition_columns, &p.values),
            ));
        } else {
            for (c, v) in t.schema.partition_columns.iter().zip(&p.values) {
                out.push_str(&format!(
                    "<Column Name=\"{}\" Value=\"{}\"/>",
                    escape(&c.name),
                    escape(v)
                ));
            }
            out.push_str(&elem("CreationTime", &secs(p.created_ms).to_string()));
            out.push_str(&elem("LastDDLTime", &secs(p.last_ddl_ms).to_string()));
            out.push_str(&elem(
                "LastModifiedTime",
                &secs(p.last_modified_ms).to_string(),
            ));
            out.push_str(&elem(
                "LastAccessTime",
                &secs(p.last_modified_ms).to_string(),
            ));
            out.push_str(&elem("PartitionSize", &p.data.bytes.to_string()));
            out.push_str(&elem("PartitionRecordCount", &p.data.rows.to_string()));
        }
        out.push_str("</Partition>");
    }
    out.push_str("</Partitions>");
    out
}

/// The single-partition document.
pub fn partition_xml(p: &Partition, lifecycle: i64, extended: bool) -> String {
    let mut j = json!({
        "createTime": secs(p.created_ms),
        "lastDDLTime": secs(p.last_ddl_ms),
        "lastModifiedTime": secs(p.last_modified_ms),
        "lastAccessTime": secs(p.last_modified_ms),
        "partitionSize": p.data.bytes,
        "partitionRecordNum": p.data.rows,
    });
    if extended && let Some(m) = j.as_object_mut() {
        m.insert("IsArchived".into(), json!(false));
        m.insert("IsExstore".into(), json!(false));
        m.insert("LifeCycle".into(), json!(lifecycle));
        m.insert("PhysicalSize".into(), json!(p.data.bytes));
        m.insert("FileNum".into(), json!(p.data.segments.len()));
        m.insert("Reserved".into(), Json::String("{}".into()));
    }
    format!(
        "{XML_DECL}<Partition><Schema>{}</Schema></Partition>",
        cdata(&j.to_string())
    )
}

/// A tunnel-schema column entry.
pub fn tunnel_column(c: &Column, id: Option<usize>) -> Json {
    json!({
        "column_id": id.map(|i| i.to_string()).unwrap_or_default(),
        "comment": c.comment,
        "default_value": "",
        "name": c.name,
        "nullable": c.nullable,
        "type": c.ty.to_string(),
    })
}

/// The tunnel schema JSON of a session (data columns numbered by position).
pub fn tunnel_schema(columns: &[Column], partition_columns: &[Column]) -> Json {
    json!({
        "IsVirtualView": false,
        "columns": columns.iter().enumerate().map(|(i, c)| tunnel_column(c, Some(i))).collect::<Vec<_>>(),
        "partitionKeys": partition_columns.iter().map(|c| tunnel_column(c, None)).collect::<Vec<_>>(),
    })
}

/// Instance status document.
pub fn instance_status_xml(status: &str) -> String {
    format!("{XML_DECL}<Instance>{}</Instance>", elem("Status", status))
}

/// RFC 1123 of a `MockTime` (helper for headers).
pub fn http_date(t: MockTime) -> String {
    t.rfc1123()
}
