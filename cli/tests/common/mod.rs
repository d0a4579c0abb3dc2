//! A mock server on 127.0.0.1 and a runner of the real `maxc` binary against it.

#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use maxc_mock::{MockConfig, MockServer, MockServerHandle};

/// A mock server with its own runtime (its tasks run on the runtime's worker thread while the
/// test blocks on the `maxc` process).
pub struct Mock {
    pub server: Option<MockServerHandle>,
    runtime: tokio::runtime::Runtime,
}

impl Mock {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = runtime
            .block_on(MockServer::start(MockConfig::default()))
            .expect("mock server");
        Self {
            server: Some(server),
            runtime,
        }
    }

    pub fn server(&self) -> &MockServerHandle {
        self.server.as_ref().expect("running")
    }

    /// The connection variables `maxc mock` prints.
    pub fn env(&self) -> Vec<(String, String)> {
        let s = self.server();
        vec![
            ("MAXC_MOCK_ENDPOINT".into(), s.endpoint()),
            ("MAXC_MOCK_TUNNEL_ENDPOINT".into(), s.tunnel_endpoint()),
            ("MAXC_MOCK_PROJECT".into(), s.project().to_string()),
            ("MAXC_MOCK_ACCESS_ID".into(), s.access_id().to_string()),
            ("MAXC_MOCK_ACCESS_KEY".into(), s.access_key().to_string()),
        ]
    }

    /// Runs `maxc args…` with the mock's settings in the environment.
    pub fn maxc(&self, args: &[&str]) -> Run {
        run(args, &self.env(), None)
    }

    /// Runs `maxc args…` with `stdin` as standard input.
    pub fn maxc_stdin(&self, args: &[&str], stdin: &str) -> Run {
        run(args, &self.env(), Some(stdin))
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.maxc(args);
        assert_eq!(r.code, 0, "maxc {args:?} failed: {}", r.stderr);
        r.stdout
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

/// What a `maxc` run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `maxc` binary with exactly `env` (the rest of the environment is cleared).
pub fn run(args: &[&str], env: &[(String, String)], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_maxc"));
    cmd.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn maxc");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out: Output = child.wait_with_output().expect("wait for maxc");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes `text` to a fresh file named `name` in a per-test temporary directory.
pub fn temp_file(test: &str, name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("maxc-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}
