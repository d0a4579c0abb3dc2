//! Shared helpers for the integration tests: a signing hyper client over loopback.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use maxc_core::auth::{Credentials, Signer};
use maxc_core::http::{Method, Request, Service as Layer};
use maxc_core::time::WallClock;
use maxc_mock::{MockConfig, MockServer, MockServerHandle};

pub const INSTANCE_XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Instance><Job><Priority>9</Priority><Guid>uid-1</Guid><Tasks><SQL><Name>{NAME}</Name>
<Config><Property><Name>settings</Name><Value>{"odps.sql.submit.mode": ""}</Value></Property></Config>
<Query><![CDATA[{SQL}]]></Query></SQL></Tasks><DAG><RunMode>Sequence</RunMode></DAG></Job></Instance>"#;

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    /// The `<Code>` of a REST XML error.
    pub fn xml_code(&self) -> String {
        let t = self.text();
        let s = t.find("<Code>").map(|i| i + 6).unwrap_or(0);
        let e = t[s..].find("</Code>").map(|i| i + s).unwrap_or(s);
        t[s..e].to_string()
    }
}

/// A client that signs requests (v2) with the mock's account.
#[derive(Clone)]
pub struct Client {
    http: HyperClient<HttpConnector, Full<Bytes>>,
    pub base: String,
    pub signer: Option<Signer>,
}

pub fn now() -> WallClock {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    WallClock::from_unix_millis(ms)
}

impl Client {
    /// A client over an existing hyper client (no base, no signer).
    pub fn from_http(http: HyperClient<HttpConnector, Full<Bytes>>) -> Self {
        Self {
            http,
            base: String::new(),
            signer: None,
        }
    }

    pub fn new(h: &MockServerHandle) -> Self {
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build_http();
        Self {
            http,
            base: h.url(),
            signer: Some(Signer::v2(Credentials::access_key(
                h.access_id(),
                h.access_key(),
            ))),
        }
    }

    /// Sends a request value: `Layer::Rest` paths go under `/api`.
    pub async fn send(&self, mut req: Request) -> Result<Resp, String> {
        if let Some(s) = &self.signer {
            req.headers.set("x-odps-user-agent", "maxc-mock-tests");
            s.sign(&mut req, now());
        }
        self.send_raw(req).await
    }

    /// Sends without signing.
    pub async fn send_raw(&self, req: Request) -> Result<Resp, String> {
        let prefix = if req.service == Layer::Rest {
            "/api"
        } else {
            ""
        };
        let uri = format!("{}{}{}", self.base, prefix, req.path_and_query());
        let mut b = http::Request::builder()
            .method(req.method.as_str())
            .uri(uri);
        for (k, v) in req.headers.iter() {
            b = b.header(k, v);
        }
        let hreq = b
            .body(Full::new(req.body.clone()))
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(Duration::from_secs(30), self.http.request(hreq))
            .await
            .map_err(|_| "timeout".to_string())?
            .map_err(|e| format!("request failed: {e:?}"))?;
        let (parts, body) = resp.into_parts();
        let body = tokio::time::timeout(Duration::from_secs(30), body.collect())
            .await
            .map_err(|_| "body timeout".to_string())?
            .map_err(|e| format!("body failed: {e:?}"))?
            .to_bytes();
        Ok(Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    pub async fn rest(&self, m: Method, path: &str, query: &[(&str, &str)]) -> Resp {
        let mut r = Request::new(m, Layer::Rest, path);
        for (k, v) in query {
            r = r.with_query(k, *v);
        }
        self.send(r).await.unwrap()
    }

    /// Runs SQL through an instance like pyodps; returns the instance id.
    pub async fn submit_sql(&self, project: &str, task: &str, sql: &str) -> String {
        let body = INSTANCE_XML.replace("{NAME}", task).replace("{SQL}", sql);
        let r = self
            .send(
                Request::new(
                    Method::Post,
                    Layer::Rest,
                    format!("/projects/{project}/instances"),
                )
                .with_query("curr_project", project)
                .with_header("content-type", "application/xml")
                .with_body(body),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", r.text());
        let loc = r.header("location").expect("Location header");
        loc.rsplit('/').next().unwrap().to_string()
    }

    /// Runs SQL and returns (task status, result text).
    pub async fn run_sql(&self, project: &str, sql: &str) -> (String, String) {
        let id = self.submit_sql(project, "AnonymousSQLTask", sql).await;
        let st = self
            .rest(
                Method::Get,
                &format!("/projects/{project}/instances/{id}"),
                &[("taskstatus", "")],
            )
            .await;
        assert_eq!(st.status, 200);
        let t = st.text();
        assert!(t.contains("<Status>Terminated</Status>"), "{t}");
        let status = if t.contains("<Status>Success</Status>") {
            "Success"
        } else {
            "Failed"
        };
        let res = self
            .rest(
                Method::Get,
                &format!("/projects/{project}/instances/{id}"),
                &[("result", "")],
            )
            .await;
        (status.to_string(), res.text())
    }
}

pub async fn start(cfg: MockConfig) -> (MockServerHandle, Client) {
    let h = MockServer::start(cfg).await.expect("start mock");
    let c = Client::new(&h);
    (h, c)
}

pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "maxc-mock-{name}-{}-{}",
        std::process::id(),
        now().unix_secs()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}
