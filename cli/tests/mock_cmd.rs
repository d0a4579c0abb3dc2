//! `maxc mock` serves the mock; the `MAXC_MOCK_*` lines it prints are settings `maxc` takes.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::run;

/// Kills the spawned server when the test ends (also on failure).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn maxc_mock_serves_and_its_settings_work() {
    let child = Command::new(env!("CARGO_BIN_EXE_maxc"))
        .args(["mock", "--port", "0", "--project", "demo", "--seed", "7"])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn maxc mock");
    let mut server = Server(child);
    let stdout = server.0.stdout.take().expect("stdout");
    let mut env: Vec<(String, String)> = Vec::new();
    for line in BufReader::new(stdout).lines().take(7) {
        let line = line.expect("a settings line");
        let (k, v) = line.split_once('=').expect("KEY=value");
        env.push((k.to_string(), v.to_string()));
    }
    let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "MAXC_MOCK_ENDPOINT",
            "MAXC_MOCK_TUNNEL_ENDPOINT",
            "MAXC_MOCK_PROJECT",
            "MAXC_MOCK_ACCESS_ID",
            "MAXC_MOCK_ACCESS_KEY",
            "MAXC_MOCK_ADMIN",
            "MAXC_MOCK_AUTH"
        ]
    );
    assert!(env[0].1.starts_with("http://127.0.0.1:"), "{:?}", env[0]);
    assert_eq!(env[2].1, "demo");

    let r = run(&["sql", "CREATE TABLE t (a bigint, b string)"], &env, None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "OK\n");
    let r = run(&["put", "-t", "t", "-"], &env, Some("a,b\n1,x\n2,\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&["get", "-t", "t", "-f", "json"], &env, None);
    assert_eq!(
        r.stdout, "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":null}\n",
        "{}",
        r.stderr
    );
    let r = run(&["tables"], &env, None);
    assert_eq!(r.stdout, "t\n", "{}", r.stderr);

    // The MAXC_* names win over the MAXC_MOCK_* ones: a wrong project is refused.
    let mut wrong = env.clone();
    wrong.push(("MAXC_PROJECT".into(), "other".into()));
    let r = run(&["tables"], &wrong, None);
    assert_eq!(r.code, 1, "{}", r.stdout);
}

#[test]
fn maxc_mock_refuses_a_port_in_use() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let r = run(&["mock", "--port", &port], &[], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot start the mock server"),
        "{}",
        r.stderr
    );
}
