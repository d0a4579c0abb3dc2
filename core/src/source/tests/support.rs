//! Canned server responses and small helpers for machine tests (built with the api module's
//! model structs and the codec's encoder).

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};

use crate::api::rest::{PartitionInfo, PartitionList, TableMeta};
use crate::api::tunnel::DownloadSession;
use crate::api::{ApiError, SessionStatus, headers};
use crate::codec::encode_batches;
use crate::http::{Request, Response, Service};
use crate::machine::{Instant, TransportError, TransportErrorKind};
use crate::partition::PartitionSpec;
use crate::types::{Column, OdpsType, TableSchema, arrow::columns_to_arrow};

/// `id BIGINT, name STRING` partitioned by `ds STRING` (or not partitioned).
pub fn schema(partitioned: bool) -> TableSchema {
    schema_with(&["ds"][..usize::from(partitioned)])
}

/// `id BIGINT, name STRING` partitioned by the given string columns.
pub fn schema_with(partition_columns: &[&str]) -> TableSchema {
    TableSchema::new(
        vec![
            Column::new("id", OdpsType::BigInt),
            Column::new("name", OdpsType::String),
        ],
        partition_columns
            .iter()
            .map(|c| Column::new(*c, OdpsType::String))
            .collect(),
    )
    .unwrap()
}

/// The table GET response.
pub fn table_response(schema: &TableSchema) -> Response {
    TableMeta::new("t", schema.clone()).to_response()
}

/// A spec from text.
pub fn spec(s: &str) -> PartitionSpec {
    PartitionSpec::parse(s).unwrap()
}

/// A partition listing page.
pub fn listing(partitions: &[&str], marker: Option<&str>) -> Response {
    let list = PartitionList {
        partitions: partitions
            .iter()
            .map(|p| PartitionInfo::new(spec(p)))
            .collect(),
        marker: marker.map(str::to_string),
    };
    Response::new(200, list.to_xml(Some(1000))).with_header(headers::CONTENT_TYPE, headers::XML)
}

/// A download session response.
pub fn session(
    id: &str,
    status: SessionStatus,
    rows: Option<u64>,
    schema: &TableSchema,
) -> Response {
    let s = DownloadSession {
        id: id.to_string(),
        status: status.clone(),
        record_count: rows,
        schema: (status != SessionStatus::Initiating).then(|| schema.clone()),
        supports_raw_size: false,
        quota_name: None,
        owner: None,
        initiated: None,
    };
    Response::new(201, serde_json::to_vec(&s.to_json_model()).unwrap())
        .with_header(headers::CONTENT_TYPE, headers::JSON)
}

/// A ready session.
pub fn ready_session(id: &str, rows: u64, schema: &TableSchema) -> Response {
    session(id, SessionStatus::Normal, Some(rows), schema)
}

/// An error response.
pub fn error(service: Service, status: u16, code: &str, message: &str) -> Response {
    ApiError::new(service, status, code, message)
        .with_request_id("req-1")
        .to_response(service)
}

/// A transport failure.
pub fn transport() -> TransportError {
    TransportError::new(TransportErrorKind::Closed, "connection reset")
}

/// The two data columns of [`schema`].
pub fn data_columns() -> Vec<Column> {
    schema(false).columns
}

/// A batch of rows `start..start+n` of the canned table: `id = i`, `name = "r<i>"`
/// (`name` NULL for every seventh row).
pub fn rows(columns: &[Column], start: u64, n: u64) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n).map(|i| i as i64).collect();
    let names: Vec<Option<String>> = (start..start + n)
        .map(|i| (i % 7 != 3).then(|| format!("r{i}")))
        .collect();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for c in columns {
        match c.name.as_str() {
            "id" => arrays.push(Arc::new(Int64Array::from(ids.clone()))),
            "name" => arrays.push(Arc::new(StringArray::from(names.clone()))),
            other => panic!("no canned data for column {other}"),
        }
    }
    RecordBatch::try_new(columns_to_arrow(columns), arrays).unwrap()
}

/// A record-stream data response for rows `start..start+n` of `columns`.
pub fn data_response(columns: &[Column], start: u64, n: u64) -> Response {
    let body = encode_batches(columns, &[rows(columns, start, n)]).unwrap();
    Response::new(200, body).with_header(headers::CONTENT_TYPE, headers::OCTET_STREAM)
}

/// The `rowrange` of a read request.
pub fn row_range(req: &Request) -> (u64, u64) {
    crate::api::tunnel::parse_row_range(req.query_param("rowrange").expect("rowrange"))
        .expect("valid rowrange")
}

/// Milliseconds as an instant.
pub fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}
