//! Connection settings shared by the data commands: flags, `--option key=value`, and
//! environment variables (`MAXC_*`, then the `MAXC_MOCK_*` lines `maxc mock` prints).
//!
//! Precedence, highest first: the flag (`--endpoint`), `--option endpoint=…`, `MAXC_ENDPOINT`,
//! `MAXC_MOCK_ENDPOINT`.

use std::collections::{BTreeMap, HashMap};

use maxc_core::api::ApiContext;
use maxc_core::auth::Credentials;
use maxc_core::options::{self, CompressAlgorithm, ConfigKind, ConnectionConfig, OptionError};
use maxc_driver::HyperTransport;
use maxc_driver::connect::{api_context, tcp_transport};

use crate::error::{CliError, Setting};

/// Where the service is and how to sign in (shared by `sql`, `put`, `get`, `tables`, …).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnArgs {
    /// MaxCompute REST endpoint, e.g. http://127.0.0.1:8080/api [env: MAXC_ENDPOINT, MAXC_MOCK_ENDPOINT]
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Tunnel endpoint (discovered through the service when unset) [env: MAXC_TUNNEL_ENDPOINT, MAXC_MOCK_TUNNEL_ENDPOINT]
    #[arg(long)]
    pub tunnel_endpoint: Option<String>,
    /// Project [env: MAXC_PROJECT, MAXC_MOCK_PROJECT]
    #[arg(long)]
    pub project: Option<String>,
    /// AccessKey id [env: MAXC_ACCESS_ID, MAXC_MOCK_ACCESS_ID]
    #[arg(long)]
    pub access_id: Option<String>,
    /// AccessKey secret; prefer the variable, flags show in process lists [env: MAXC_ACCESS_KEY, MAXC_MOCK_ACCESS_KEY]
    #[arg(long)]
    pub access_key: Option<String>,
    /// A raw connector option, as a SQL WITH clause gives it (repeatable), e.g. --option quotaName=q
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
}

/// The endpoint setting.
pub const ENDPOINT: Setting = Setting {
    flag: "endpoint",
    env: "MAXC_ENDPOINT",
};
/// The tunnel endpoint setting.
pub const TUNNEL_ENDPOINT: Setting = Setting {
    flag: "tunnel-endpoint",
    env: "MAXC_TUNNEL_ENDPOINT",
};
/// The project setting.
pub const PROJECT: Setting = Setting {
    flag: "project",
    env: "MAXC_PROJECT",
};
/// The AccessKey id setting.
pub const ACCESS_ID: Setting = Setting {
    flag: "access-id",
    env: "MAXC_ACCESS_ID",
};
/// The AccessKey secret setting.
pub const ACCESS_KEY: Setting = Setting {
    flag: "access-key",
    env: "MAXC_ACCESS_KEY",
};

/// Connector options that only say how to connect (the rest configure sinks or sources).
const CONNECTION_KEYS: &[&str] = &[
    "connector",
    "endpoint",
    "tunnelEndpoint",
    "project",
    "schemaName",
    "accessId",
    "accessKey",
    "quotaName",
    "compressAlgorithm",
];

/// Reads environment variables (a parameter, so tests can supply their own).
pub trait Env {
    /// The value of `key`, if set and valid UTF-8.
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// Resolved connector options (`WITH (...)` keys), with the connection settings filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The option map (`connector`, `endpoint`, `project`, `accessId`, `accessKey`, … and
    /// every `--option`).
    pub options: BTreeMap<String, String>,
}

impl ConnArgs {
    /// Resolves flags, `--option`s and the environment into connector options. Fails when a
    /// required setting is missing or an `--option` is not `key=value`.
    pub fn resolve(&self, env: &dyn Env) -> Result<Resolved, CliError> {
        let mut options: BTreeMap<String, String> = BTreeMap::new();
        for raw in &self.options {
            let Some((k, v)) = raw.split_once('=') else {
                return Err(CliError::Usage(format!(
                    "--option `{raw}` is not of the form key=value"
                )));
            };
            let k = k.trim();
            if k.is_empty() {
                return Err(CliError::Usage(format!(
                    "--option `{raw}` has an empty key"
                )));
            }
            options.insert(k.to_string(), v.to_string());
        }
        options
            .entry("connector".into())
            .or_insert_with(|| "odps".into());
        let mut missing = Vec::new();
        let settings: [(&str, &Option<String>, Setting, bool); 5] = [
            ("endpoint", &self.endpoint, ENDPOINT, true),
            (
                "tunnelEndpoint",
                &self.tunnel_endpoint,
                TUNNEL_ENDPOINT,
                false,
            ),
            ("project", &self.project, PROJECT, true),
            ("accessId", &self.access_id, ACCESS_ID, true),
            ("accessKey", &self.access_key, ACCESS_KEY, true),
        ];
        for (key, flag, setting, required) in settings {
            let mock_env = setting.env.replacen("MAXC_", "MAXC_MOCK_", 1);
            let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
            let value = set(flag.clone())
                .or_else(|| set(options.get(key).cloned()))
                .or_else(|| set(env.var(setting.env)))
                .or_else(|| set(env.var(&mock_env)));
            match value {
                Some(v) => {
                    options.insert(key.to_string(), v);
                }
                None => {
                    options.remove(key);
                    if required {
                        missing.push(setting);
                    }
                }
            }
        }
        if !missing.is_empty() {
            return Err(CliError::MissingConnection { missing });
        }
        Ok(Resolved { options })
    }
}

impl Resolved {
    /// The options as the driver's `from_options` functions take them, with `extra` (e.g.
    /// `tableName`, `partition`) set on top.
    pub fn with(&self, extra: &[(&str, String)]) -> HashMap<String, String> {
        let mut m: HashMap<String, String> = self
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in extra {
            m.insert((*k).to_string(), v.clone());
        }
        m
    }

    /// The connection alone (for commands that address no table: `sql`, `tables`, `describe`).
    /// Options that are not connection options are refused when unknown and reported as
    /// warnings otherwise (`warn` gets each message).
    pub fn connection(&self, warn: &mut dyn FnMut(String)) -> Result<ConnectionConfig, CliError> {
        for key in self.options.keys() {
            if CONNECTION_KEYS.contains(&key.as_str()) {
                continue;
            }
            if options::find(ConfigKind::Source, key).is_none() {
                return Err(OptionError::UnknownKey {
                    key: key.clone(),
                    suggestion: options::suggest(ConfigKind::Source, key),
                }
                .into());
            }
            warn(format!("option `{key}` has no effect on this command"));
        }
        let get = |k: &str| self.options.get(k).cloned().filter(|v| !v.is_empty());
        if let Some(c) = get("connector")
            && c != "odps"
        {
            return Err(OptionError::NotAllowed {
                key: "connector",
                value: c,
                allowed: &["odps"],
            }
            .into());
        }
        let compress_algorithm = match get("compressAlgorithm") {
            None => CompressAlgorithm::Snappy,
            Some(v) => CompressAlgorithm::parse(&v).ok_or(OptionError::NotAllowed {
                key: "compressAlgorithm",
                value: v,
                allowed: CompressAlgorithm::NAMES,
            })?,
        };
        Ok(ConnectionConfig {
            endpoint: get("endpoint").unwrap_or_default(),
            tunnel_endpoint: get("tunnelEndpoint"),
            project: get("project").unwrap_or_default(),
            schema_name: get("schemaName"),
            table_name: String::new(),
            credentials: Credentials::access_key(
                get("accessId").unwrap_or_default(),
                get("accessKey").unwrap_or_default(),
            ),
            quota_name: get("quotaName"),
            compress_algorithm,
            partition: None,
        })
    }
}

/// A signed transport and API context for `conn`.
pub fn client(conn: &ConnectionConfig) -> (HyperTransport, ApiContext) {
    (tcp_transport(conn), api_context(conn))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn full_mock_env() -> BTreeMap<String, String> {
        env(&[
            ("MAXC_MOCK_ENDPOINT", "http://m/api"),
            ("MAXC_MOCK_TUNNEL_ENDPOINT", "http://m"),
            ("MAXC_MOCK_PROJECT", "mp"),
            ("MAXC_MOCK_ACCESS_ID", "mid"),
            ("MAXC_MOCK_ACCESS_KEY", "mkey"),
        ])
    }

    #[test]
    fn precedence_flag_option_env_mock_env() {
        let mut e = full_mock_env();
        e.insert("MAXC_PROJECT".into(), "envp".into());
        e.insert("MAXC_ENDPOINT".into(), "http://env/api".into());
        let args = ConnArgs {
            endpoint: Some("http://flag/api".into()),
            options: vec!["endpoint=http://opt/api".into(), "project=optp".into()],
            ..ConnArgs::default()
        };
        let r = args.resolve(&e).unwrap();
        assert_eq!(r.options["endpoint"], "http://flag/api");
        assert_eq!(r.options["project"], "optp");
        assert_eq!(r.options["accessId"], "mid");
        assert_eq!(r.options["accessKey"], "mkey");
        assert_eq!(r.options["tunnelEndpoint"], "http://m");
        assert_eq!(r.options["connector"], "odps");
        let no_opt = ConnArgs::default().resolve(&e).unwrap();
        assert_eq!(no_opt.options["project"], "envp");
        assert_eq!(no_opt.options["endpoint"], "http://env/api");
    }

    #[test]
    fn missing_settings_are_named() {
        let e = env(&[("MAXC_PROJECT", "p")]);
        let err = ConnArgs::default().resolve(&e).unwrap_err();
        let CliError::MissingConnection { missing } = &err else {
            panic!("{err:?}");
        };
        let flags: Vec<&str> = missing.iter().map(|m| m.flag).collect();
        assert_eq!(flags, ["endpoint", "access-id", "access-key"]);
        let text = err.to_string();
        assert!(text.contains("--endpoint"), "{text}");
        assert!(text.contains("MAXC_ENDPOINT"), "{text}");
        // An empty value counts as unset: the next source is used.
        let args = ConnArgs {
            endpoint: Some(" ".into()),
            ..ConnArgs::default()
        };
        let r = args.resolve(&full_mock_env()).unwrap();
        assert_eq!(r.options["endpoint"], "http://m/api");
    }

    #[test]
    fn bad_option_syntax() {
        let args = ConnArgs {
            options: vec!["novalue".into()],
            ..ConnArgs::default()
        };
        assert!(matches!(
            args.resolve(&full_mock_env()),
            Err(CliError::Usage(m)) if m.contains("novalue")
        ));
        let args = ConnArgs {
            options: vec!["=v".into()],
            ..ConnArgs::default()
        };
        assert!(matches!(
            args.resolve(&full_mock_env()),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn connection_refuses_unknown_and_warns_about_ineffective_options() {
        let args = ConnArgs {
            options: vec!["batchSize=10".into()],
            ..ConnArgs::default()
        };
        let r = args.resolve(&full_mock_env()).unwrap();
        let mut warnings = Vec::new();
        let conn = r.connection(&mut |w| warnings.push(w)).unwrap();
        assert_eq!(conn.project, "mp");
        assert_eq!(conn.tunnel_endpoint.as_deref(), Some("http://m"));
        assert_eq!(warnings.len(), 1);
        let args = ConnArgs {
            options: vec!["projekt=x".into()],
            ..ConnArgs::default()
        };
        let r = args.resolve(&full_mock_env()).unwrap();
        let err = r.connection(&mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("project"), "{err}");
    }
}
