//! Every parser, fed random statuses, headers and bodies: a typed result, never a panic.

use maxc_core::api::rest;
use maxc_core::api::{ApiError, ErrorClass, instance, stream, tunnel, upsert};
use maxc_core::http::{Response, Service};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 768,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Fragments that steer random bodies towards the shapes the parsers look at.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        Just("<".to_string()),
        Just(">".to_string()),
        Just("</".to_string()),
        Just("<Error>".to_string()),
        Just("<Code>".to_string()),
        Just("<Table>".to_string()),
        Just("<Schema>".to_string()),
        Just("<![CDATA[".to_string()),
        Just("]]>".to_string()),
        Just("<Partition>".to_string()),
        Just("<Column Name=\"ds\" Value=\"1\"/>".to_string()),
        Just("&amp;".to_string()),
        Just("&#x0;".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\"Code\":".to_string()),
        Just("\"UploadID\":\"u\",".to_string()),
        Just("\"Schema\":{\"columns\":[{\"name\":\"a\",\"type\":\"bigint\"}]},".to_string()),
        Just("\"schema\":{},".to_string()),
        Just("\"slots\":[[\"1\",\"h:1\"]],".to_string()),
        Just(
            "\"slots\":[{\"slot_id\":\"1\",\"buckets\":[0],\"worker_addr\":\"h:1\"}],".to_string()
        ),
        Just("\"id\":\"x\",".to_string()),
        Just("\"session_name\":\"s\",".to_string()),
        Just("\"RecordCount\":-5,".to_string()),
        Just("\"DownloadID\":\"d\",".to_string()),
        Just("\"UploadedBlockList\":[{\"BlockID\":99999999999}],".to_string()),
        Just("\"HoldClientMillis\":18446744073709551615".to_string()),
        Just("null".to_string()),
        Just("1e400".to_string()),
        "[a-zA-Z0-9 :,\"=/]{0,8}",
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        prop::collection::vec(fragment, 0..24).prop_map(|v| v.concat().into_bytes()),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(200u16),
        Just(201),
        Just(308),
        Just(404),
        Just(429),
        Just(502),
        100u16..1000,
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[0-9]{1,25}",
        "[ -~]{0,20}",
        Just("Mon, 01 Jan 2024 00:00:00 GMT".to_string()),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    (
        status(),
        body(),
        prop::collection::vec(
            (
                prop_oneof![
                    Just("Retry-After"),
                    Just("x-odps-request-id"),
                    Just("odps-tunnel-routed-server"),
                    Just("odps-tunnel-slot-num"),
                    Just("Location"),
                    Just("Content-Encoding"),
                    Just("x-odps-creation-time"),
                    Just("Last-Modified"),
                ],
                header_value(),
            ),
            0..4,
        ),
    )
        .prop_map(|(status, body, headers)| {
            let mut r = Response::new(status, body);
            for (k, v) in headers {
                r = r.with_header(k, v);
            }
            r
        })
}

/// A non-2xx response must give an error carrying its status.
fn check<T: std::fmt::Debug>(
    resp: &Response,
    result: Result<T, ApiError>,
) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => prop_assert!(
            resp.is_success(),
            "non-2xx {} parsed as success",
            resp.status
        ),
        Err(e) => {
            prop_assert_eq!(e.status, resp.status);
            prop_assert!(!e.code.is_empty());
            if let ErrorClass::Retry { after_ms } = e.class {
                prop_assert_eq!(after_ms, e.retry_after);
            }
            let _ = e.to_string();
            let _ = e.to_xml_body();
            let _ = e.to_json_body();
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_parser_is_total(resp in response()) {
        check(&resp, rest::parse_project(&resp))?;
        check(&resp, rest::parse_table(&resp))?;
        check(&resp, rest::parse_table_list(&resp))?;
        check(&resp, rest::parse_partition_list(&resp))?;
        check(&resp, rest::parse_partition(&resp))?;
        check(&resp, rest::parse_tunnel_endpoint(&resp, "http://h/api"))?;
        check(&resp, instance::parse_submit(&resp))?;
        check(&resp, instance::parse_task_status(&resp))?;
        check(&resp, instance::parse_result(&resp))?;
        check(&resp, tunnel::parse_upload_session(&resp))?;
        check(&resp, tunnel::parse_upload_commit(&resp))?;
        check(&resp, tunnel::parse_empty(&resp))?;
        check(&resp, tunnel::parse_download_session(&resp))?;
        check(&resp, tunnel::parse_data(&resp))?;
        check(&resp, stream::parse_stream_session(&resp))?;
        check(&resp, stream::parse_stream_write(&resp))?;
        check(&resp, upsert::parse_upsert_session(&resp))?;
    }

    #[test]
    fn error_parsing_is_total(resp in response()) {
        for service in [Service::Rest, Service::Tunnel] {
            let e = ApiError::from_response(&resp, service);
            prop_assert_eq!(e.status, resp.status);
            prop_assert!(!e.code.is_empty());
            // Rendering and re-parsing keeps code, message and class.
            let back = ApiError::from_response(&e.to_response(service), service);
            prop_assert_eq!(&back.code, &e.code);
            prop_assert_eq!(back.message.trim(), e.message.trim());
        }
    }

    #[test]
    fn rendered_errors_round_trip(
        status in 300u16..600,
        code in "[A-Za-z]{1,16}",
        message in any::<String>(),
        request_id in "[A-Za-z0-9-]{0,12}",
        hold in prop::option::of(0u64..100_000),
    ) {
        for service in [Service::Rest, Service::Tunnel] {
            let mut e = ApiError::new(service, status, code.clone(), message.clone());
            if !request_id.is_empty() {
                e = e.with_request_id(request_id.clone());
            }
            if let Some(h) = hold {
                e = e.with_retry_after(h);
            }
            let back = ApiError::from_response(&e.to_response(service), service);
            prop_assert_eq!(&back.code, &e.code);
            prop_assert_eq!(&back.request_id, &e.request_id);
            // JSON carries the exact hold; XML errors carry it as whole seconds (rounded up).
            let want_after = match service {
                Service::Tunnel => e.retry_after,
                Service::Rest => e.retry_after.map(|ms| ms.div_ceil(1000).saturating_mul(1000)),
            };
            prop_assert_eq!(back.retry_after, want_after);
            let want_class = match e.class {
                ErrorClass::Retry { .. } => ErrorClass::Retry { after_ms: want_after },
                other => other,
            };
            prop_assert_eq!(back.class, want_class);
            match service {
                // JSON keeps the message exactly.
                Service::Tunnel => prop_assert_eq!(&back.message, &e.message),
                // XML text is trimmed and its line ends normalised.
                Service::Rest => {
                    let want = e.message.replace("\r\n", "\n").replace('\r', "\n");
                    prop_assert_eq!(back.message.as_str(), want.trim());
                }
            }
        }
    }
}
