//! Response parsers on the real-shaped responses of the protocol notes.

use maxc_core::api::instance;
use maxc_core::api::model::{TunnelSchemaJson, UploadSessionJson};
use maxc_core::api::rest::{self, PartitionInfo, PartitionList, TableMeta, TableType};
use maxc_core::api::stream;
use maxc_core::api::tunnel;
use maxc_core::api::upsert::{self, Hasher};
use maxc_core::api::{ApiError, ErrorClass, SessionStatus, codes};
use maxc_core::http::{Response, Service};
use maxc_core::partition::PartitionSpec;
use maxc_core::types::{Column, OdpsType, TableSchema};

fn ok(body: &str) -> Response {
    Response::new(200, body.to_string())
}

const TABLE_JSON: &str = r#"{
  "owner": "ALIYUN$x", "comment": "", "tableLabel": "0",
  "createTime": 1704067200, "lastDDLTime": 1704067200, "lastModifiedTime": 1704067200, "lastAccessTime": 0,
  "lifecycle": -1, "size": 0, "recordNum": -1,
  "isVirtualView": false, "isMaterializedView": false, "isExternal": false,
  "columns": [
    {"name": "id",   "type": "bigint", "comment": "", "label": "", "isNullable": false},
    {"name": "name", "type": "string", "comment": "", "isNullable": true, "defaultValue": "x"}
  ],
  "partitionKeys": [ {"name": "ds", "type": "string", "comment": ""} ],
  "Reserved": "{\"Transactional\":\"true\",\"PrimaryKey\":[\"id\"],\"schema_version\":\"0\",\"ClusterType\":\"hash\",\"BucketNum\":16,\"ClusterCols\":[\"id\"],\"SortCols\":[{\"col\":\"id\",\"order\":\"asc\"}]}",
  "IsArchived": false, "PhysicalSize": 0, "FileNum": 0
}"#;

fn table_xml() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Table>
  <Name>t</Name>
  <TableId>2f4d</TableId>
  <Schema><![CDATA[ {TABLE_JSON} ]]></Schema>
  <Owner>ALIYUN$x</Owner>
  <CreationTime>Mon, 01 Jan 2024 00:00:00 GMT</CreationTime>
  <LastModifiedTime>Mon, 01 Jan 2024 00:00:00 GMT</LastModifiedTime>
  <Type>MANAGED_TABLE</Type>
</Table>"#
    )
}

#[test]
fn table_full() {
    let t = rest::parse_table(&ok(&table_xml())).unwrap();
    assert_eq!(t.name, "t");
    assert_eq!(t.table_id.as_deref(), Some("2f4d"));
    assert_eq!(t.table_type, TableType::Managed);
    assert!(t.transactional);
    assert!(t.is_delta_table());
    assert_eq!(t.primary_key, vec!["id".to_string()]);
    assert_eq!(t.bucket_num, Some(16));
    assert_eq!(t.schema_version.as_deref(), Some("0"));
    let cluster = t.cluster.clone().unwrap();
    assert_eq!(cluster.cluster_type.as_deref(), Some("hash"));
    assert_eq!(cluster.cluster_cols, vec!["id".to_string()]);
    assert_eq!(
        cluster.sort_cols,
        vec![("id".to_string(), "asc".to_string())]
    );
    assert_eq!(t.creation_time, Some(1_704_067_200));
    assert_eq!(t.last_modified_time, Some(1_704_067_200));
    assert_eq!(
        t.schema,
        TableSchema::new(
            vec![
                Column::new("id", OdpsType::BigInt).not_null(),
                Column::new("name", OdpsType::String)
            ],
            vec![Column::new("ds", OdpsType::String)]
        )
        .unwrap()
    );
    insta::assert_debug_snapshot!("table_full", t);
}

#[test]
fn table_minimal_and_escaped_schema() {
    // pyodps-traffic (a) minimal body, JSON as escaped text, no CDATA.
    let body = r#"<Table><Schema>{"columns":[{"name":"id","type":"bigint"},{"name":"score","type":"double"},{"name":"name","type":"string"},{"name":"flag","type":"boolean"},{"name":"ts","type":"datetime"},{"name":"amount","type":"decimal(18,4)"}],"partitionKeys":[{"name":"ds","type":"string"}]}</Schema></Table>"#;
    let t = rest::parse_table(&ok(body)).unwrap();
    assert_eq!(t.name, "");
    assert!(!t.transactional);
    assert!(t.primary_key.is_empty());
    assert_eq!(t.schema.columns.len(), 6);
    assert_eq!(
        t.schema.columns[5].ty,
        OdpsType::Decimal {
            precision: 18,
            scale: 4
        }
    );
    let escaped = "<Table><Name>x</Name><Schema>{&quot;columns&quot;:[{&quot;name&quot;:&quot;a&quot;,&quot;type&quot;:&quot;BIGINT&quot;,&quot;isNullable&quot;:&quot;false&quot;}],&quot;Reserved&quot;:&quot;{\\&quot;Transactional\\&quot;:true}&quot;}</Schema><Type>VIRTUAL_VIEW</Type></Table>";
    let t = rest::parse_table(&ok(escaped)).unwrap();
    assert_eq!(t.schema.columns[0].ty, OdpsType::BigInt);
    assert!(!t.schema.columns[0].nullable);
    assert!(
        t.transactional,
        "a JSON boolean Transactional is accepted on input"
    );
    assert_eq!(t.table_type, TableType::VirtualView);
}

#[test]
fn table_errors() {
    let e = rest::parse_table(&ok("<Table><Name>x</Name></Table>")).unwrap_err();
    assert_eq!(e.code, codes::MALFORMED_RESPONSE);
    assert_eq!(e.class, ErrorClass::Fatal);
    let e = rest::parse_table(&ok(
        r#"<Table><Schema>{"columns":[{"name":"a","type":"nope"}]}</Schema></Table>"#,
    ))
    .unwrap_err();
    assert!(e.message.contains("nope"), "{e}");
    let e = rest::parse_table(&ok(
        r#"<Table><Schema>{"columns":[], "Reserved": "{bad"}</Schema></Table>"#,
    ))
    .unwrap_err();
    assert!(e.message.contains("Reserved"), "{e}");
}

#[test]
fn table_render_round_trip() {
    let t = rest::parse_table(&ok(&table_xml())).unwrap();
    let back = rest::parse_table(&t.to_response()).unwrap();
    assert_eq!(back, t);
    // Reserved is a JSON string with Transactional as a string.
    let json = t.to_schema_json();
    let reserved = json.reserved.clone().unwrap();
    assert!(reserved.contains(r#""Transactional":"true""#), "{reserved}");
    let plain = TableMeta::new(
        "p",
        TableSchema::new(vec![Column::new("a", OdpsType::Int)], vec![]).unwrap(),
    );
    assert!(plain.to_schema_json().reserved.is_none());
    assert_eq!(rest::parse_table(&plain.to_response()).unwrap(), plain);
    assert!(!plain.to_xml().contains("xmlns"));
}

const PARTITIONS_XML: &str = r#"<Partitions>
  <Marker></Marker><MaxItems>1000</MaxItems>
  <Partition>
    <Column Name="ds" Value="20240101"/>
    <Column Name="hr" Value="08"/>
    <CreationTime>1704067200</CreationTime>
    <LastDDLTime>1704067200</LastDDLTime>
    <LastModifiedTime>1704067200</LastModifiedTime>
  </Partition>
</Partitions>"#;

#[test]
fn partitions() {
    let l = rest::parse_partition_list(&ok(PARTITIONS_XML)).unwrap();
    assert_eq!(l.marker, None);
    assert_eq!(l.partitions.len(), 1);
    let p = &l.partitions[0];
    assert_eq!(p.spec.to_string(), "ds=20240101,hr=08");
    assert_eq!(p.creation_time, Some(1_704_067_200));
    assert_eq!(p.last_ddl_time, Some(1_704_067_200));
    insta::assert_debug_snapshot!("partition_list", l);

    let paged = rest::parse_partition_list(&ok(
        r#"<Partitions><Marker>next-1</Marker><Partition><Column Name="ds" Value="a"/></Partition><Partition><Name>ds=1/hr=2</Name></Partition></Partitions>"#,
    ))
    .unwrap();
    assert_eq!(paged.marker.as_deref(), Some("next-1"));
    assert_eq!(paged.partitions[1].spec.to_string(), "ds=1,hr=2");
    let empty = rest::parse_partition_list(&ok("<Partitions/>")).unwrap();
    assert!(empty.partitions.is_empty());
    let bad = rest::parse_partition_list(&ok(
        r#"<Partitions><Partition><Column Name="ds"/></Partition></Partitions>"#,
    ))
    .unwrap_err();
    assert_eq!(bad.code, codes::MALFORMED_RESPONSE);

    let mut info = PartitionInfo::new(PartitionSpec::parse("ds='a&b\"c'").unwrap());
    info.record_count = Some(3);
    let list = PartitionList {
        partitions: vec![info],
        marker: Some("m".into()),
    };
    let back = rest::parse_partition_list(&ok(&list.to_xml(Some(10)))).unwrap();
    assert_eq!(back, list);

    let one = rest::parse_partition(&ok(
        r#"<Partition><Schema><![CDATA[{"createTime":1704067200,"lastDDLTime":1,"lastModifiedTime":2,"lastAccessTime":3,"partitionSize":10,"partitionRecordNum":2}]]></Schema></Partition>"#,
    ))
    .unwrap();
    assert_eq!(one.partition_size, Some(10));
    assert_eq!(one.partition_record_num, Some(2));
    assert_eq!(
        rest::parse_partition(&rest::render_partition(&one)).unwrap(),
        one
    );
}

#[test]
fn project() {
    let resp = ok(
        r#"<Project><Name>p</Name><Type>managed</Type><Comment/><Owner>ALIYUN$x</Owner>
  <State>AVAILABLE</State><Region>cn-hangzhou</Region>
  <Properties><Property><Name>k</Name><Value>v</Value></Property></Properties>
  <Clusters><Cluster><Name>..</Name><QuotaID>..</QuotaID></Cluster></Clusters></Project>"#,
    )
    .with_header("x-odps-owner", "ALIYUN$x")
    .with_header("x-odps-creation-time", "Mon, 01 Jan 2024 00:00:00 GMT")
    .with_header("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT");
    let p = rest::parse_project(&resp).unwrap();
    assert_eq!(p.name, "p");
    assert_eq!(p.state.as_deref(), Some("AVAILABLE"));
    assert_eq!(p.properties.get("k").map(String::as_str), Some("v"));
    assert_eq!(p.creation_time, Some(1_704_067_200));
    let r = p.to_response();
    for h in ["x-odps-owner", "x-odps-creation-time", "last-modified"] {
        assert!(r.headers.contains(h), "{h}");
    }
    assert_eq!(rest::parse_project(&r).unwrap(), p);
}

#[test]
fn tunnel_endpoint() {
    let r = ok("dt.cn-hangzhou.maxcompute.aliyun.com\n");
    assert_eq!(
        rest::parse_tunnel_endpoint(&r, "https://service.cn-hangzhou.maxcompute.aliyun.com/api")
            .unwrap(),
        "https://dt.cn-hangzhou.maxcompute.aliyun.com"
    );
    assert_eq!(
        rest::parse_tunnel_endpoint(&ok("127.0.0.1:8080"), "http://127.0.0.1:8080/api").unwrap(),
        "http://127.0.0.1:8080"
    );
    assert_eq!(
        rest::parse_tunnel_endpoint(&ok("http://h:1/"), "https://x/api").unwrap(),
        "http://h:1"
    );
    assert!(rest::parse_tunnel_endpoint(&ok(""), "http://x/api").is_err());
    assert!(rest::parse_tunnel_endpoint(&ok("a b"), "http://x/api").is_err());
}

fn schema_json() -> &'static str {
    r#"{ "IsVirtualView": false,
  "columns":       [ {"column_id":"", "comment":"", "default_value":"", "name":"id",   "nullable":true, "type":"bigint"},
                     {"column_id":"", "comment":"", "default_value":"", "name":"name", "nullable":"false", "type":"STRING"} ],
  "partitionKeys": [ {"column_id":"", "comment":"", "default_value":"", "name":"ds",   "nullable":true, "type":"string"} ] }"#
}

#[test]
fn upload_session() {
    let body = format!(
        r#"{{ "UploadID": "20240101000000abcdef0123456789",
  "Status": "normal",
  "Owner": "ALIYUN$x", "Initiated": "Mon, 01 Jan 2024 00:00:00 GMT",
  "IsOverwrite": false, "QuotaName": "default", "MaxFieldSize": 8388608,
  "Schema": {},
  "UploadedBlockList": [{{"BlockID":3,"CreateTime":1,"Date":"","FileName":"0_x","RawSize":0,"RecordCount":5,"Version":1}}, {{"BlockID":0}}] }}"#,
        schema_json()
    );
    let s = tunnel::parse_upload_session(&Response::new(201, body)).unwrap();
    assert_eq!(s.id, "20240101000000abcdef0123456789");
    assert_eq!(s.status, SessionStatus::Normal);
    assert_eq!(s.blocks, vec![0, 3]);
    assert_eq!(s.max_field_size, Some(8_388_608));
    assert!(!s.schema.columns[1].nullable);
    assert_eq!(s.schema.partition_columns[0].name, "ds");
    insta::assert_debug_snapshot!("upload_session", s);

    // Minimal form.
    let min = format!(r#"{{"UploadID":"u","Schema":{}}}"#, schema_json());
    let s = tunnel::parse_upload_session(&ok(&min)).unwrap();
    assert_eq!(s.status, SessionStatus::Unknown);
    assert!(s.blocks.is_empty());
    // Round trip through the model.
    let json = serde_json::to_string(&s.to_json_model()).unwrap();
    assert_eq!(
        tunnel::parse_upload_session(&ok(&json)).unwrap().blocks,
        s.blocks
    );
    // Missing schema, missing id.
    assert!(tunnel::parse_upload_session(&ok(r#"{"UploadID":"u"}"#)).is_err());
    assert!(
        tunnel::parse_upload_session(&ok(&format!(r#"{{"Schema":{}}}"#, schema_json()))).is_err()
    );
    assert!(
        tunnel::parse_upload_session(&ok(
            r#"{"UploadID":"u","Schema":{},"UploadedBlockList":[{"BlockID":20000}]}"#
        ))
        .is_err()
    );

    let c = tunnel::parse_upload_commit(&ok(
        r#"{"UploadedBlockList":[{"BlockID":1},{"BlockID":0}]}"#,
    ))
    .unwrap();
    assert_eq!(c.blocks, vec![0, 1]);
    assert_eq!(c.status, SessionStatus::Unknown);
    let c = tunnel::parse_upload_commit(&ok("{}")).unwrap();
    assert!(c.blocks.is_empty());
    let c = tunnel::parse_upload_commit(&ok(r#"{"Status":"CLOSED"}"#)).unwrap();
    assert_eq!(c.status, SessionStatus::Closed);
    assert!(tunnel::parse_upload_commit(&ok("")).is_err());
}

#[test]
fn model_serialises_as_the_wire_shows() {
    let m = UploadSessionJson {
        upload_id: Some("u".into()),
        status: Some("normal".into()),
        max_field_size: Some(8_388_608),
        schema: Some(TunnelSchemaJson::from_table_schema(
            &TableSchema::new(vec![Column::new("id", OdpsType::BigInt)], vec![]).unwrap(),
        )),
        uploaded_block_list: Some(vec![]),
        ..UploadSessionJson::default()
    };
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        r#"{"UploadID":"u","Status":"normal","MaxFieldSize":8388608,"Schema":{"IsVirtualView":false,"columns":[{"column_id":"0","comment":"","default_value":"","name":"id","nullable":true,"type":"bigint"}],"partitionKeys":[]},"UploadedBlockList":[]}"#
    );
}

#[test]
fn download_session() {
    let body = format!(
        r#"{{ "DownloadID": "20260304091859291d3b1a1ee9b36a", "Status": "normal",
    "Owner": "o", "Initiated": "Wed, 04 Mar 2026 09:18:59 GMT", "QuotaName": "default",
    "RecordCount": 4, "SupportReadByRawSize": false, "Schema": {} }}"#,
        schema_json()
    );
    let d = tunnel::parse_download_session(&ok(&body)).unwrap();
    assert_eq!(d.id, "20260304091859291d3b1a1ee9b36a");
    assert_eq!(d.record_count, Some(4));
    assert!(d.is_ready());
    insta::assert_debug_snapshot!("download_session", d);
    let init =
        tunnel::parse_download_session(&ok(r#"{"DownloadID":"d","Status":"INITIATING"}"#)).unwrap();
    assert_eq!(init.status, SessionStatus::Initiating);
    assert!(!init.is_ready());
    let lenient = tunnel::parse_download_session(&ok(&format!(
        r#"{{"DownloadID":"d","RecordCount":"5","Status":"CLOSES","Schema":{}}}"#,
        schema_json()
    )))
    .unwrap();
    assert_eq!(lenient.record_count, Some(5));
    assert_eq!(lenient.status, SessionStatus::Closed);
    assert!(tunnel::parse_download_session(&ok(r#"{"DownloadID":"d","RecordCount":-1}"#)).is_err());
    assert!(
        tunnel::parse_download_session(&ok(r#"{"DownloadID":"d","RecordCount":"x"}"#)).is_err()
    );
    let json = serde_json::to_string(&d.to_json_model()).unwrap();
    assert!(json.contains(r#""RecordCount":4"#), "{json}");
    assert_eq!(tunnel::parse_download_session(&ok(&json)).unwrap(), d);

    let data = tunnel::parse_data(
        &Response::new(200, &b"\x08\x02"[..]).with_header("Content-Encoding", "deflate"),
    )
    .unwrap();
    assert_eq!(data.content_encoding.as_deref(), Some("deflate"));
    assert_eq!(&data.body[..], b"\x08\x02");
    assert_eq!(tunnel::parse_data(&ok("x")).unwrap().content_encoding, None);
}

#[test]
fn stream_session() {
    let body = format!(
        r#"{{ "session_name": "s-1", "status": "normal", "schema_version": "0", "quota_name": "",
    "schema": {},
    "slots": [ ["1", "10.0.0.5:8080"], [2, "10.0.0.6:8080"] ] }}"#,
        schema_json()
    );
    let s = stream::parse_stream_session(&ok(&body)).unwrap();
    assert_eq!(s.name, "s-1");
    assert_eq!(
        s.slots,
        vec![
            ("1".to_string(), "10.0.0.5:8080".to_string()),
            ("2".to_string(), "10.0.0.6:8080".to_string())
        ]
    );
    assert_eq!(s.schema_version.as_deref(), Some("0"));
    insta::assert_debug_snapshot!("stream_session", s);
    let json = serde_json::to_string(&s.to_json_model()).unwrap();
    assert_eq!(stream::parse_stream_session(&ok(&json)).unwrap(), s);
    for bad in [
        r#"[["1", "10.0.0.5"]]"#,
        r#"[["1", ":80"]]"#,
        r#"[["", "h:1"]]"#,
        "[]",
        r#"[["1"]]"#,
    ] {
        let b = format!(
            r#"{{"session_name":"s","schema":{},"slots":{bad}}}"#,
            schema_json()
        );
        assert!(stream::parse_stream_session(&ok(&b)).is_err(), "{bad}");
    }

    let ack = stream::parse_stream_write(
        &ok("")
            .with_header("odps-tunnel-routed-server", "10.0.0.5:8080")
            .with_header("odps-tunnel-slot-num", "2"),
    )
    .unwrap();
    assert_eq!(ack.routed_server, "10.0.0.5:8080");
    assert_eq!(ack.slot_num, 2);
    assert_eq!(
        stream::parse_stream_write(&stream::render_stream_write(&ack)).unwrap(),
        ack
    );
    let e =
        stream::parse_stream_write(&ok("").with_header("odps-tunnel-slot-num", "2")).unwrap_err();
    assert!(e.message.contains("routed-server"), "{e}");
    assert!(
        stream::parse_stream_write(&ok("").with_header("odps-tunnel-routed-server", "a:1"))
            .is_err()
    );
}

#[test]
fn upsert_session() {
    let body = format!(
        r#"{{ "id": "up-1", "status": "normal", "quota_name": "", "enable_partial_update": false,
    "schema": {},
    "hash_key": ["id"],
    "hasher": "default",
    "slots": [ {{"slot_id": "1", "buckets": [0, 1, 2, 3], "worker_addr": "10.0.0.5:8080"}},
               {{"slot_id": "2", "buckets": [4, 5, 6, "7"], "worker_addr": "10.0.0.6:8080"}} ] }}"#,
        schema_json()
    );
    let s = upsert::parse_upsert_session(&ok(&body)).unwrap();
    assert_eq!(s.id, "up-1");
    assert_eq!(s.bucket_count(), 8);
    assert_eq!(s.hasher, Hasher::Default);
    assert_eq!(s.hash_key, vec!["id".to_string()]);
    assert_eq!(s.slot_for_bucket(5).map(|x| x.slot_id.as_str()), Some("2"));
    assert_eq!(s.slot_for_bucket(8), None);
    insta::assert_debug_snapshot!("upsert_session", s);
    let model = s.to_json_model();
    let json = serde_json::to_value(&model).unwrap();
    for key in ["id", "schema", "hash_key", "hasher", "slots", "status"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert_eq!(
        upsert::parse_upsert_session(&ok(&json.to_string())).unwrap(),
        s
    );

    let legacy = body.replace(r#""hasher": "default""#, r#""hasher": "LEGACY""#);
    assert_eq!(
        upsert::parse_upsert_session(&ok(&legacy)).unwrap().hasher,
        Hasher::Legacy
    );
    let gap = body.replace("[4, 5, 6, \"7\"]", "[4, 5, 7]");
    assert!(upsert::parse_upsert_session(&ok(&gap)).is_err());
    let dup = body.replace("[4, 5, 6, \"7\"]", "[3, 4, 5, 6]");
    assert!(upsert::parse_upsert_session(&ok(&dup)).is_err());
    let addr = body.replace("10.0.0.6:8080", "10.0.0.6");
    assert!(upsert::parse_upsert_session(&ok(&addr)).is_err());
    let committed = body.replace(r#""status": "normal""#, r#""status": "COMMITTED""#);
    assert_eq!(
        upsert::parse_upsert_session(&ok(&committed))
            .unwrap()
            .status,
        SessionStatus::Committed
    );

    let cols = upsert::upsert_record_columns(&s.schema.columns);
    let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "name",
            "__version",
            "__app_version",
            "__operation",
            "__key_cols",
            "__value_cols"
        ]
    );
    assert_eq!(cols[4].ty, OdpsType::TinyInt);
    assert_eq!(cols[6].ty, OdpsType::array(OdpsType::BigInt));
    assert_eq!(upsert::OP_UPSERT, 85);
    assert_eq!(upsert::OP_DELETE, 68);
}

#[test]
fn errors_xml_and_json() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchTable</Code>
  <Message>ODPS-0130131:Table not found - 'my_project.nope'</Message>
  <RequestId>5F1A</RequestId>
  <HostId>service.cn-hangzhou.maxcompute.aliyun.com</HostId>
</Error>"#;
    let e = rest::parse_table(&Response::new(404, xml)).unwrap_err();
    assert_eq!(e.status, 404);
    assert_eq!(e.code, "NoSuchTable");
    assert_eq!(e.request_id.as_deref(), Some("5F1A"));
    assert_eq!(
        e.host_id(),
        Some("service.cn-hangzhou.maxcompute.aliyun.com")
    );
    assert_eq!(e.class, ErrorClass::NotFound);
    insta::assert_debug_snapshot!("error_xml", e);

    let json = r#"{"Code":"FlowExceeded","Message":"Your flow quota is exceeded","RequestId":"r1","HoldClientMillis":1500}"#;
    let e = tunnel::parse_upload_session(&Response::new(429, json)).unwrap_err();
    assert_eq!(
        e.class,
        ErrorClass::Retry {
            after_ms: Some(1500)
        }
    );
    assert_eq!(e.retry_after, Some(1500));
    assert_eq!(e.request_id.as_deref(), Some("r1"));

    let e = ApiError::from_response(
        &Response::new(503, "")
            .with_header("Retry-After", "2")
            .with_header("x-odps-request-id", "h1"),
        Service::Rest,
    );
    assert_eq!(
        e.class,
        ErrorClass::Retry {
            after_ms: Some(2000)
        }
    );
    assert_eq!(e.code, "HTTP503");
    assert_eq!(e.request_id.as_deref(), Some("h1"));
}

fn class(status: u16, code: &str, service: Service) -> ErrorClass {
    let body = format!(r#"{{"Code":"{code}","Message":"m"}}"#);
    ApiError::from_response(&Response::new(status, body), service).class
}

#[test]
fn classification_table() {
    let t = Service::Tunnel;
    let r = Service::Rest;
    let retry = ErrorClass::Retry { after_ms: None };
    assert_eq!(class(429, "Anything", t), retry);
    assert_eq!(class(400, "FlowExceeded", t), retry);
    assert_eq!(class(403, "QPSExceeded", r), retry);
    assert_eq!(class(400, "SlotExceeded", t), retry);
    assert_eq!(class(308, "Moved", t), ErrorClass::ReloadSession);
    assert_eq!(class(502, "x", t), ErrorClass::ReloadSession);
    assert_eq!(class(504, "x", t), ErrorClass::ReloadSession);
    assert_eq!(class(502, "x", r), retry);
    assert_eq!(class(500, "InternalServerError", t), retry);
    assert_eq!(class(503, "ServiceUnavailable", r), retry);
    assert_eq!(class(408, "RequestTimeout", t), retry);
    assert_eq!(class(404, "Whatever", t), ErrorClass::NotFound);
    assert_eq!(class(400, "NoSuchPartition", t), ErrorClass::NotFound);
    assert_eq!(class(400, "UpsertSessionNotFound", t), ErrorClass::NotFound);
    assert_eq!(
        class(409, "ObjectAlreadyExists", r),
        ErrorClass::AlreadyDone
    );
    assert_eq!(class(409, "AlreadyCommitted", t), ErrorClass::AlreadyDone);
    assert_eq!(class(400, "InvalidArgument", t), ErrorClass::Fatal);
    assert_eq!(class(412, "SchemaModified", t), ErrorClass::Fatal);
    assert_eq!(class(401, "Unauthorized", r), ErrorClass::Fatal);
    assert_eq!(class(409, "StatusConflict", t), ErrorClass::Fatal);

    let moved = ApiError::from_response(
        &Response::new(308, "").with_header("odps-tunnel-routed-server", "10.0.0.9:1"),
        Service::Tunnel,
    );
    assert_eq!(moved.class, ErrorClass::ReloadSession);
    assert_eq!(moved.routed_server(), Some("10.0.0.9:1"));
    let schema = ApiError::from_response(
        &Response::new(412, r#"{"Code":"SchemaModified","Message":"m"}"#)
            .with_header("odps-tunnel-latest-schema-version", "3"),
        Service::Tunnel,
    );
    assert_eq!(schema.latest_schema_version(), Some("3"));

    let nf = ApiError::from_response(
        &Response::new(400, r#"{"Code":"UpsertSessionNotFound","Message":""}"#),
        t,
    );
    assert_eq!(upsert::classify_commit_error(&nf), ErrorClass::AlreadyDone);
    let other = ApiError::from_response(
        &Response::new(400, r#"{"Code":"InvalidArgument","Message":""}"#),
        t,
    );
    assert_eq!(upsert::classify_commit_error(&other), ErrorClass::Fatal);
}

#[test]
fn garbage_and_fallback_errors() {
    let e = ApiError::from_response(&Response::new(404, ""), Service::Rest);
    assert_eq!(e.code, "NoSuchObject");
    assert_eq!(e.class, ErrorClass::NotFound);
    let e = ApiError::from_response(&Response::new(401, "<html>nope</html>"), Service::Rest);
    assert_eq!(e.code, "Unauthorized");
    assert_eq!(e.class, ErrorClass::Fatal);
    assert!(e.message.contains("<html>nope</html>"), "{}", e.message);
    let e = ApiError::from_response(&Response::new(500, &b"\xff\xfe{"[..]), Service::Tunnel);
    assert_eq!(e.code, "HTTP500");
    assert!(e.is_retryable());
    // XML without HostId still parses; a numeric ODPS code is mapped.
    let e = ApiError::from_response(
        &Response::new(
            400,
            "<Error><Code>ODPS-0130131: Table not found</Code><Message>m</Message></Error>",
        ),
        Service::Rest,
    );
    assert_eq!(e.code, "NoSuchTable");
    assert_eq!(e.class, ErrorClass::NotFound);
    let e = ApiError::from_response(
        &Response::new(400, r#"{"Code":123,"Message":null}"#),
        Service::Tunnel,
    );
    assert_eq!(e.code, "123");
    assert_eq!(e.message, "");
}

#[test]
fn error_rendering_round_trips() {
    let e = ApiError::new(
        Service::Rest,
        404,
        "NoSuchPartition",
        "partition ds=1 <missing> & gone",
    )
    .with_request_id("rq-1");
    let xml = e.to_xml_body();
    for el in ["<Code>", "<Message>", "<RequestId>", "<HostId"] {
        assert!(xml.contains(el), "{el} in {xml}");
    }
    let back = ApiError::from_response(&e.to_response(Service::Rest), Service::Rest);
    assert_eq!(back, e);
    assert_eq!(
        e.to_response(Service::Rest)
            .headers
            .get("x-odps-request-id"),
        Some("rq-1")
    );

    let e = ApiError::new(Service::Tunnel, 429, "FlowExceeded", "slow down")
        .with_request_id("rq-2")
        .with_retry_after(1500);
    assert_eq!(
        e.class,
        ErrorClass::Retry {
            after_ms: Some(1500)
        }
    );
    assert_eq!(
        e.to_json_body(),
        r#"{"Code":"FlowExceeded","Message":"slow down","RequestId":"rq-2","HoldClientMillis":1500}"#
    );
    let resp = e.to_response(Service::Tunnel);
    assert_eq!(resp.headers.get("retry-after"), Some("2"));
    assert_eq!(resp.headers.get("content-type"), Some("application/json"));
    assert_eq!(ApiError::from_response(&resp, Service::Tunnel), e);
}

#[test]
fn instances() {
    let id = instance::parse_submit(&Response::new(201, "").with_header(
        "Location",
        "http://service.cn-hangzhou.maxcompute.aliyun.com/api/projects/p/instances/20240101abc",
    ))
    .unwrap();
    assert_eq!(id, "20240101abc");
    assert_eq!(
        instance::parse_submit(&instance::render_submit("http://h/api", "p", "i-9")).unwrap(),
        "i-9"
    );
    let e = instance::parse_submit(&Response::new(201, "")).unwrap_err();
    assert!(e.message.contains("Location"));

    let st = instance::parse_task_status(&ok(r#"<Instance><Status>Terminated</Status><Tasks>
    <Task Type="SQL"><Name>SQLCreateTableTask</Name><StartTime>a</StartTime><EndTime>b</EndTime><Status>Success</Status></Task>
  </Tasks></Instance>"#))
    .unwrap();
    assert!(st.succeeded());
    assert!(!st.failed());
    assert_eq!(st.tasks[0].task_type.as_deref(), Some("SQL"));
    insta::assert_debug_snapshot!("task_status", st);
    assert_eq!(instance::parse_task_status(&ok(&st.to_xml())).unwrap(), st);
    let running =
        instance::parse_task_status(&ok("<Instance><Status>Running</Status></Instance>")).unwrap();
    assert!(!running.succeeded() && !running.failed());
    let failed = instance::parse_task_status(&ok(
        "<Instance><Status>terminated</Status><Tasks><Task><Name>x</Name><Status>FAILED</Status></Task></Tasks></Instance>",
    ))
    .unwrap();
    assert!(failed.failed());

    let res = instance::parse_result(&ok(r#"<Instance><Tasks><Task Type="SQL"><Name>x</Name><Result Format="text"><![CDATA[ODPS-0130131:Table not found]]></Result></Task></Tasks></Instance>"#)).unwrap();
    assert_eq!(res[0].text, "ODPS-0130131:Table not found");
    assert_eq!(res[0].odps_error_code(), Some("ODPS-0130131"));
    let b64 = instance::parse_result(&ok(r#"<Instance><Tasks><Task Type="SQL"><Name>x</Name><Result Format="text" Transform="Base64">T0RQUy0wMTEwMTQxOiBvb3Bz</Result></Task></Tasks></Instance>"#)).unwrap();
    assert_eq!(b64[0].text, "ODPS-0110141: oops");
    assert_eq!(
        instance::parse_result(&ok(&instance::render_result(&res))).unwrap(),
        res
    );
}
