//! `maxc tables`, `maxc describe`, `maxc partitions`: metadata through the REST API.

use std::fmt::Write as _;

use maxc_core::api::rest::{
    ListPartitions, ListTables, TableMeta, list_partitions, list_tables, parse_partition_list,
    parse_table_list,
};
use maxc_core::types::Column;
use maxc_driver::Transport;
use maxc_driver::connect::fetch_table;

use super::{api, transport, warn};
use crate::args::{DescribeArgs, PartitionsArgs, TablesArgs};
use crate::conn::{Env, client};
use crate::error::CliError;

/// Most pages a listing follows (a guard against a server that never ends one).
const MAX_PAGES: usize = 100_000;

/// Lists the project's tables, one name per line.
pub async fn tables(args: TablesArgs, env: &dyn Env) -> Result<(), CliError> {
    let conn = args.conn.resolve(env)?.connection(&mut warn)?;
    let (t, ctx) = client(&conn);
    let mut params = ListTables {
        name_prefix: args.prefix.clone(),
        marker: None,
        max_items: Some(1000),
    };
    for _ in 0..MAX_PAGES {
        let resp = t
            .send(list_tables(&ctx, &params))
            .await
            .map_err(transport)?;
        let page = parse_table_list(&resp).map_err(api)?;
        let mut out = String::new();
        for table in &page.tables {
            let _ = writeln!(out, "{}", table.name);
        }
        print!("{out}");
        match page.marker {
            Some(m) if !page.tables.is_empty() => params.marker = Some(m),
            _ => return Ok(()),
        }
    }
    Ok(())
}

fn column_lines(out: &mut String, columns: &[Column], key: &[String]) {
    let width = columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let type_width = columns
        .iter()
        .map(|c| c.ty.to_string().len())
        .max()
        .unwrap_or(0);
    for c in columns {
        let mut flags = Vec::new();
        if !c.nullable {
            flags.push("NOT NULL".to_string());
        }
        if key.iter().any(|k| k.eq_ignore_ascii_case(&c.name)) {
            flags.push("PRIMARY KEY".to_string());
        }
        if !c.comment.is_empty() {
            flags.push(format!("-- {}", c.comment));
        }
        let line = format!(
            "  {:<width$}  {:<type_width$}  {}",
            c.name,
            c.ty.to_string(),
            flags.join(" ")
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// The text `maxc describe` prints.
pub fn describe_text(project: &str, meta: &TableMeta) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "table {project}.{}", meta.name);
    if !meta.comment.is_empty() {
        let _ = writeln!(out, "comment: {}", meta.comment);
    }
    let _ = writeln!(out, "columns:");
    column_lines(&mut out, &meta.schema.columns, &meta.primary_key);
    if !meta.schema.partition_columns.is_empty() {
        let _ = writeln!(out, "partition columns:");
        column_lines(&mut out, &meta.schema.partition_columns, &[]);
    }
    if meta.transactional {
        let _ = writeln!(out, "transactional: true");
    }
    if let Some(n) = meta.bucket_num {
        let _ = writeln!(out, "buckets: {n}");
    }
    if let Some(l) = meta.lifecycle.filter(|l| *l >= 0) {
        let _ = writeln!(out, "lifecycle: {l} days");
    }
    out
}

/// Shows a table's schema.
pub async fn describe(args: DescribeArgs, env: &dyn Env) -> Result<(), CliError> {
    let conn = args.conn.resolve(env)?.connection(&mut warn)?;
    let (t, ctx) = client(&conn);
    let mut meta = fetch_table(&t, &ctx, &args.table).await?;
    if meta.name.is_empty() {
        meta.name = args.table.clone();
    }
    print!("{}", describe_text(&conn.project, &meta));
    Ok(())
}

/// Lists a table's partitions (tunnel form, one per line).
pub async fn partitions(args: PartitionsArgs, env: &dyn Env) -> Result<(), CliError> {
    let conn = args.conn.resolve(env)?.connection(&mut warn)?;
    let (t, ctx) = client(&conn);
    let mut params = ListPartitions {
        max_items: Some(1000),
        ..ListPartitions::default()
    };
    for _ in 0..MAX_PAGES {
        let resp = t
            .send(list_partitions(&ctx, &args.table, &params))
            .await
            .map_err(transport)?;
        let page = parse_partition_list(&resp).map_err(api)?;
        let mut out = String::new();
        for p in &page.partitions {
            let _ = writeln!(out, "{}", p.spec.to_tunnel_string());
        }
        print!("{out}");
        match page.marker {
            Some(m) if !page.partitions.is_empty() => params.marker = Some(m),
            _ => return Ok(()),
        }
    }
    Ok(())
}
