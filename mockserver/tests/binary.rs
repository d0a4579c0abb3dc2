//! The `maxc-mock` binary: `--port 0` prints machine-parsable endpoint lines and serves.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use maxc_core::http::{Method, Request, Service as Layer};

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn prints_settings_and_serves() {
    let dir = common::temp_dir("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = dir.join("fx.json");
    std::fs::write(
        &fixtures,
        r#"{"tables": [{"name": "seeded", "columns": [{"name": "a", "type": "bigint"}], "rows": [[1], [2]]}]}"#,
    )
    .unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_maxc-mock"))
            .args([
                "--port",
                "0",
                "--project",
                "proj_x",
                "--seed",
                "5",
                "--fixtures",
            ])
            .arg(&fixtures)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn maxc-mock"),
    );
    let out = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let mut vars = BTreeMap::new();
    while vars.len() < 7 {
        let line = lines.next().expect("a settings line").unwrap();
        let (k, v) = line.split_once('=').expect("KEY=value");
        vars.insert(k.to_string(), v.to_string());
    }
    let endpoint = &vars["MAXC_MOCK_ENDPOINT"];
    assert!(
        endpoint.starts_with("http://127.0.0.1:") && endpoint.ends_with("/api"),
        "{endpoint}"
    );
    assert_ne!(endpoint, "http://127.0.0.1:0/api");
    assert_eq!(
        format!("{}/api", vars["MAXC_MOCK_TUNNEL_ENDPOINT"]),
        *endpoint
    );
    assert_eq!(vars["MAXC_MOCK_PROJECT"], "proj_x");
    assert_eq!(vars["MAXC_MOCK_ACCESS_ID"], "maxc-access-id");
    assert_eq!(vars["MAXC_MOCK_ACCESS_KEY"], "maxc-access-key");

    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let mut c = common::Client::from_http(http);
    c.base = vars["MAXC_MOCK_TUNNEL_ENDPOINT"].clone();
    c.signer = Some(maxc_core::auth::Signer::v2(
        maxc_core::auth::Credentials::access_key("maxc-access-id", "maxc-access-key"),
    ));
    let r = c
        .send(Request::new(
            Method::Get,
            Layer::Rest,
            "/projects/proj_x/tables/seeded",
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    c.signer = None;
    let r = c
        .send(Request::new(
            Method::Get,
            Layer::Tunnel,
            "/_maxc/tables/proj_x/seeded/rows",
        ))
        .await
        .unwrap();
    assert_eq!(r.json()["total"], 2);
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
