//! Typed sessions rendered through the serde models (as the mock server does) parse back
//! to the same values.

use maxc_core::api::SessionStatus;
use maxc_core::api::rest::{self, PartitionInfo, PartitionList};
use maxc_core::api::stream::{self, StreamSession};
use maxc_core::api::tunnel::{self, DownloadSession, UploadSession};
use maxc_core::api::upsert::{self, Hasher, UpsertSession, UpsertSlot};
use maxc_core::http::Response;
use maxc_core::partition::PartitionSpec;
use maxc_core::types::{Column, OdpsType, TableSchema};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn ty() -> impl Strategy<Value = OdpsType> {
    prop_oneof![
        Just(OdpsType::BigInt),
        Just(OdpsType::String),
        Just(OdpsType::Double),
        Just(OdpsType::Boolean),
        Just(OdpsType::DateTime),
        Just(OdpsType::Decimal {
            precision: 18,
            scale: 4
        }),
        Just(OdpsType::array(OdpsType::Int)),
    ]
}

fn schema() -> impl Strategy<Value = TableSchema> {
    (
        prop::collection::btree_map(
            "[a-z][a-z0-9_]{0,6}",
            (ty(), any::<bool>(), "[ -~]{0,6}"),
            1..5,
        ),
        0usize..3,
    )
        .prop_filter_map("valid schema", |(cols, nparts)| {
            let mut columns: Vec<Column> = cols
                .into_iter()
                .map(|(name, (ty, nullable, comment))| Column {
                    name,
                    ty,
                    nullable,
                    comment,
                })
                .collect();
            let parts: Vec<Column> = (0..nparts)
                .map(|i| Column::new(format!("p_{i}"), OdpsType::String))
                .collect();
            columns.retain(|c| !c.name.starts_with("p_"));
            if columns.is_empty() {
                return None;
            }
            TableSchema::new(columns, parts).ok()
        })
}

fn status() -> impl Strategy<Value = SessionStatus> {
    prop_oneof![
        Just(SessionStatus::Normal),
        Just(SessionStatus::Closed),
        Just(SessionStatus::Expired),
        Just(SessionStatus::Initiating),
        Just(SessionStatus::Committing),
        Just(SessionStatus::Committed),
        Just(SessionStatus::Critical),
        Just(SessionStatus::Aborted),
        Just(SessionStatus::Canceled),
        Just(SessionStatus::Closing),
    ]
}

fn id() -> impl Strategy<Value = String> {
    "[0-9a-f]{1,30}"
}

fn json_response<T: serde::Serialize>(model: &T) -> Response {
    Response::new(200, serde_json::to_vec(model).unwrap())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn upload_sessions(
        id in id(),
        status in status(),
        schema in schema(),
        blocks in prop::collection::btree_set(0u32..20_000, 0..10),
        max_field_size in prop::option::of(0u64..1 << 40),
        is_overwrite in any::<bool>(),
        quota in prop::option::of("[a-z]{1,5}"),
    ) {
        let s = UploadSession {
            id,
            status,
            schema,
            blocks: blocks.into_iter().collect(),
            max_field_size,
            is_overwrite,
            quota_name: quota,
            owner: Some("ALIYUN$x".into()),
            initiated: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
        };
        let back = tunnel::parse_upload_session(&json_response(&s.to_json_model())).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn download_sessions(
        id in id(),
        status in status(),
        schema in prop::option::of(schema()),
        count in prop::option::of(0u64..1 << 50),
        raw in any::<bool>(),
    ) {
        let s = DownloadSession {
            id,
            status,
            record_count: count,
            schema,
            supports_raw_size: raw,
            quota_name: None,
            owner: None,
            initiated: None,
        };
        let back = tunnel::parse_download_session(&json_response(&s.to_json_model())).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn stream_sessions(
        name in id(),
        status in status(),
        schema in schema(),
        slots in prop::collection::vec(("[0-9]{1,3}", "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}", 1u16..), 1..5),
        version in prop::option::of("[0-9]{1,3}"),
    ) {
        let s = StreamSession {
            name,
            status,
            schema,
            slots: slots.into_iter().map(|(id, ip, port)| (id, format!("{ip}:{port}"))).collect(),
            schema_version: version,
            quota_name: None,
        };
        let back = stream::parse_stream_session(&json_response(&s.to_json_model())).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn upsert_sessions(
        id in id(),
        status in status(),
        schema in schema(),
        nbuckets in 1u32..64,
        cuts in prop::collection::btree_set(1u32..64, 0..4),
        legacy in any::<bool>(),
        partial in any::<bool>(),
    ) {
        // Split 0..nbuckets into contiguous slots at the cut points.
        let mut bounds: Vec<u32> = cuts.into_iter().filter(|c| *c < nbuckets).collect();
        bounds.insert(0, 0);
        bounds.push(nbuckets);
        let slots: Vec<UpsertSlot> = bounds
            .windows(2)
            .enumerate()
            .map(|(i, w)| UpsertSlot {
                slot_id: (i + 1).to_string(),
                buckets: (w[0]..w[1]).collect(),
                worker_addr: format!("10.0.0.{}:8080", i + 1),
            })
            .collect();
        let key = schema.columns[0].name.clone();
        let s = UpsertSession {
            id,
            status,
            column_ids: (0..schema.columns.len()).map(|i| i.to_string()).collect(),
            schema,
            hash_key: vec![key],
            hasher: if legacy { Hasher::Legacy } else { Hasher::Default },
            slots,
            enable_partial_update: partial,
            quota_name: None,
        };
        let back = upsert::parse_upsert_session(&json_response(&s.to_json_model())).unwrap();
        prop_assert_eq!(back.bucket_count(), nbuckets);
        prop_assert_eq!(back, s);
    }

    #[test]
    fn partition_lists(
        specs in prop::collection::vec(
            prop::collection::btree_map("[a-z]{1,4}", "[ -~]{1,8}", 1..3),
            0..6,
        ),
        times in prop::collection::vec(prop::option::of(0i64..4_000_000_000), 6),
        marker in prop::option::of("[A-Za-z0-9+/=]{1,12}"),
    ) {
        let partitions: Vec<PartitionInfo> = specs
            .into_iter()
            .map(|m| {
                let mut p = PartitionInfo::new(PartitionSpec::from_pairs(m).unwrap());
                p.creation_time = times[0];
                p.last_ddl_time = times[1];
                p.last_modified_time = times[2];
                p.last_access_time = times[3];
                p.size = times[4];
                p.record_count = times[5];
                p
            })
            .collect();
        let list = PartitionList { partitions, marker };
        let body = list.to_xml(Some(1000));
        let back = rest::parse_partition_list(&Response::new(200, body)).unwrap();
        prop_assert_eq!(back, list);
    }
}
