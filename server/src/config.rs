//! Server configuration: built-in defaults, then a TOML file, then environment variables,
//! then command-line flags (each overrides the one before).
//!
//! ```toml
//! data_dir = "./strata-data"
//! pg_listen = "127.0.0.1:5433"
//! http_listen = "127.0.0.1:8086"
//! database = "strata"
//! max_connections = 500
//! max_query_bytes = 16777216
//! max_body_bytes = 25000000   # HTTP write bodies (after gzip decoding)
//! max_line_bytes = 1048576    # one line-protocol line
//! fsync = "always"            # always | never | "interval:10ms"
//! memory_limit_bytes = 268435456 # unflushed (memtable) data; writers wait past it
//! backpressure_wait_ms = 5000    # how long; then SQL writes fail with 53000, HTTP with 503
//! max_unflushed_age_ms = 60000   # a memtable whose oldest row waited this long is flushed
//! max_concurrent_jobs = 2        # background jobs (flush, compaction, tiering) at once;
//!                                # also the threads one purge rewrites files on
//! cold_store = "s3://bucket/prefix" # default file://<data_dir>/cold
//! cold_cache_bytes = 1073741824  # cold-read cache on disk in data_dir/cold-cache; 0: off
//!
//! [s3]                        # each key falls back to AWS_ENDPOINT_URL, AWS_REGION,
//! endpoint = "http://127.0.0.1:9000" # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//! region = "us-east-1"        # AWS_ALLOW_HTTP
//! access_key_id = "..."
//! secret_access_key = "..."
//! allow_http = true
//!
//! [tls]
//! enabled = true              # a self-signed certificate is made in data_dir/tls if
//! cert = "server.crt"         # cert and key are not given
//! key = "server.key"
//!
//! [[users]]
//! name = "strata"
//! password = "strata"
//! auth = "scram"              # scram (SCRAM-SHA-256) | md5 (for older drivers)
//! superuser = true            # false: may not run ERASE SUBJECT
//! ```
//!
//! Environment: `STRATA_DATA_DIR`, `STRATA_PG_LISTEN`, `STRATA_HTTP_LISTEN`,
//! `STRATA_COLD_STORE`, `STRATA_PASSWORD` (the default user's password).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use strata_storage::FsyncPolicy;

/// The default user and password. With this password the server only listens on loopback.
pub const DEFAULT_USER: &str = "strata";
pub const DEFAULT_PASSWORD: &str = "strata";

/// How a user authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    Scram,
    Md5,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub password: String,
    #[serde(default = "default_auth")]
    pub auth: AuthMethod,
    /// May run what only a superuser may (`ERASE SUBJECT`). Default true: until roles exist,
    /// every configured user may do everything; `superuser = false` withholds erasure.
    #[serde(default = "default_superuser")]
    pub superuser: bool,
}

fn default_superuser() -> bool {
    true
}

fn default_auth() -> AuthMethod {
    AuthMethod::Scram
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

/// The `[s3]` section: settings of an `s3://` cold store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Section {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: Option<bool>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: true,
            cert: None,
            key: None,
        }
    }
}

/// The file's shape: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    pg_listen: Option<String>,
    http_listen: Option<String>,
    database: Option<String>,
    max_connections: Option<usize>,
    max_query_bytes: Option<usize>,
    max_body_bytes: Option<usize>,
    max_line_bytes: Option<usize>,
    fsync: Option<String>,
    memory_limit_bytes: Option<usize>,
    backpressure_wait_ms: Option<u64>,
    max_unflushed_age_ms: Option<u64>,
    max_concurrent_jobs: Option<usize>,
    cold_store: Option<String>,
    cold_cache_bytes: Option<u64>,
    s3: Option<S3Section>,
    tls: Option<TlsConfig>,
    users: Option<Vec<User>>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub pg_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub database: String,
    pub max_connections: usize,
    pub max_query_bytes: usize,
    /// Largest HTTP write body, after gzip decoding (413 beyond).
    pub max_body_bytes: usize,
    /// Longest line-protocol line (longer lines are rejected).
    pub max_line_bytes: usize,
    pub fsync: FsyncPolicy,
    /// Bound on unflushed (memtable) data; the engine's default when `None`.
    pub memory_limit_bytes: Option<usize>,
    /// How long a write waits for memory past the bound before it is refused (SQLSTATE
    /// 53000 over pgwire, 503 with `Retry-After` over HTTP); the engine's default when `None`.
    pub backpressure_wait: Option<Duration>,
    /// A memtable whose oldest row has waited this long is flushed; the engine's default
    /// (60 s) when `None`.
    pub max_unflushed_age: Option<Duration>,
    /// Background jobs running at once; the engine's default (2) when `None`.
    pub max_concurrent_jobs: Option<usize>,
    /// The cold tier's URL (`file:///dir` or `s3://bucket/prefix`); `None` for
    /// `file://<data_dir>/cold`.
    pub cold_store: Option<String>,
    /// Bytes of the on-disk cold-read cache; the engine's default (1 GiB) when `None`.
    pub cold_cache_bytes: Option<u64>,
    pub s3: S3Section,
    pub tls: TlsConfig,
    pub users: Vec<User>,
}

/// Overrides from the command line (flags win over everything).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub pg_listen: Option<String>,
    pub http_listen: Option<String>,
    pub cold_store: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{what} {value:?} is not a HOST:PORT address")]
    Address { what: &'static str, value: String },
    #[error("fsync {0:?} must be always, never or interval:<duration> (e.g. interval:10ms)")]
    Fsync(String),
    #[error("refusing to listen on {addr} with the default password: anyone who can reach it could log in as \"strata\". Set STRATA_PASSWORD (or a password in the config file) to listen beyond loopback")]
    DefaultPasswordExposed { addr: SocketAddr },
    #[error("user {0:?} is declared twice")]
    DuplicateUser(String),
    #[error("tls.cert and tls.key must be given together")]
    TlsPair,
}

fn parse_addr(what: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs;
    value
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ConfigError::Address {
            what,
            value: value.to_owned(),
        })
}

fn parse_fsync(s: &str) -> Result<FsyncPolicy, ConfigError> {
    match s {
        "always" => Ok(FsyncPolicy::Always),
        "never" | "none" => Ok(FsyncPolicy::Never),
        _ => {
            let d = s
                .strip_prefix("interval:")
                .and_then(|d| {
                    let (n, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit())?);
                    let n: u64 = n.parse().ok()?;
                    Some(match unit {
                        "ms" => Duration::from_millis(n),
                        "s" => Duration::from_secs(n),
                        "us" => Duration::from_micros(n),
                        _ => return None,
                    })
                })
                .ok_or_else(|| ConfigError::Fsync(s.to_owned()))?;
            Ok(FsyncPolicy::Interval(d))
        }
    }
}

impl Config {
    /// Defaults, then the file, then `env` (a lookup, so tests need not touch the
    /// process environment), then the flags.
    pub fn load(
        flags: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = match &flags.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
        };
        let base = flags
            .config
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let data_dir = flags
            .data_dir
            .clone()
            .or_else(|| env("STRATA_DATA_DIR").map(PathBuf::from))
            .or_else(|| file.data_dir.map(|d| base.join(d)))
            .unwrap_or_else(|| PathBuf::from("strata-data"));
        let pg_listen = flags
            .pg_listen
            .clone()
            .or_else(|| env("STRATA_PG_LISTEN"))
            .or(file.pg_listen)
            .unwrap_or_else(|| "127.0.0.1:5433".into());
        let http_listen = flags
            .http_listen
            .clone()
            .or_else(|| env("STRATA_HTTP_LISTEN"))
            .or(file.http_listen)
            .unwrap_or_else(|| "127.0.0.1:8086".into());
        let mut users = file.users.unwrap_or_else(|| {
            vec![User {
                name: DEFAULT_USER.into(),
                password: DEFAULT_PASSWORD.into(),
                auth: AuthMethod::Scram,
                superuser: true,
            }]
        });
        if let Some(p) = env("STRATA_PASSWORD") {
            match users.iter_mut().find(|u| u.name == DEFAULT_USER) {
                Some(u) => u.password = p,
                None => users.push(User {
                    name: DEFAULT_USER.into(),
                    password: p,
                    auth: AuthMethod::Scram,
                    superuser: true,
                }),
            }
        }
        let mut seen = std::collections::HashSet::new();
        for u in &users {
            if !seen.insert(u.name.as_str()) {
                return Err(ConfigError::DuplicateUser(u.name.clone()));
            }
        }
        let mut tls = file.tls.unwrap_or_default();
        if tls.cert.is_some() != tls.key.is_some() {
            return Err(ConfigError::TlsPair);
        }
        tls.cert = tls.cert.map(|c| base.join(c));
        tls.key = tls.key.map(|k| base.join(k));
        let config = Config {
            data_dir,
            pg_listen: parse_addr("pg_listen", &pg_listen)?,
            http_listen: parse_addr("http_listen", &http_listen)?,
            database: file.database.unwrap_or_else(|| "strata".into()),
            max_connections: file.max_connections.unwrap_or(500),
            max_query_bytes: file.max_query_bytes.unwrap_or(16 << 20),
            max_body_bytes: file.max_body_bytes.unwrap_or(25_000_000),
            max_line_bytes: file.max_line_bytes.unwrap_or(1 << 20),
            fsync: parse_fsync(file.fsync.as_deref().unwrap_or("always"))?,
            memory_limit_bytes: file.memory_limit_bytes,
            backpressure_wait: file.backpressure_wait_ms.map(Duration::from_millis),
            max_unflushed_age: file.max_unflushed_age_ms.map(Duration::from_millis),
            max_concurrent_jobs: file.max_concurrent_jobs,
            cold_store: flags
                .cold_store
                .clone()
                .or_else(|| env("STRATA_COLD_STORE"))
                .or(file.cold_store),
            cold_cache_bytes: file.cold_cache_bytes,
            s3: file.s3.unwrap_or_default(),
            tls,
            users,
        };
        config.check_exposure()?;
        Ok(config)
    }

    /// With the default password, only loopback listeners are allowed.
    fn check_exposure(&self) -> Result<(), ConfigError> {
        let default_password = self
            .users
            .iter()
            .any(|u| u.name == DEFAULT_USER && u.password == DEFAULT_PASSWORD);
        if default_password {
            for addr in [self.pg_listen, self.http_listen] {
                if !addr.ip().is_loopback() {
                    return Err(ConfigError::DefaultPasswordExposed { addr });
                }
            }
        }
        Ok(())
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::load(&Overrides::default(), no_env).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("strata-data"));
        assert_eq!(c.pg_listen, "127.0.0.1:5433".parse().unwrap());
        assert_eq!(c.database, "strata");
        assert_eq!(c.user("strata").unwrap().password, "strata");
        assert!(c.tls.enabled);
        assert_eq!(c.fsync, FsyncPolicy::Always);
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.toml");
        std::fs::write(
            &path,
            "data_dir = \"from-file\"\npg_listen = \"127.0.0.1:7000\"\nfsync = \"interval:10ms\"\n[[users]]\nname = \"old\"\npassword = \"pw\"\nauth = \"md5\"\n",
        )
        .unwrap();
        let flags = Overrides {
            config: Some(path),
            pg_listen: Some("127.0.0.1:7001".into()),
            ..Default::default()
        };
        let env = |k: &str| match k {
            "STRATA_DATA_DIR" => Some("/tmp/from-env".to_owned()),
            "STRATA_PG_LISTEN" => Some("127.0.0.1:7002".to_owned()),
            _ => None,
        };
        let c = Config::load(&flags, env).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/from-env"));
        assert_eq!(c.pg_listen.port(), 7001);
        assert_eq!(c.fsync, FsyncPolicy::Interval(Duration::from_millis(10)));
        assert_eq!(c.user("old").unwrap().auth, AuthMethod::Md5);
        assert!(c.user("strata").is_none());
    }

    #[test]
    fn default_password_stays_on_loopback() {
        let flags = Overrides {
            pg_listen: Some("0.0.0.0:5433".into()),
            ..Default::default()
        };
        let err = Config::load(&flags, no_env).unwrap_err();
        assert!(
            matches!(err, ConfigError::DefaultPasswordExposed { .. }),
            "{err}"
        );
        let env = |k: &str| (k == "STRATA_PASSWORD").then(|| "s3cret".to_owned());
        assert!(Config::load(&flags, env).is_ok());
    }

    #[test]
    fn bad_values_are_named() {
        let flags = Overrides {
            pg_listen: Some("nonsense".into()),
            ..Default::default()
        };
        assert!(Config::load(&flags, no_env)
            .unwrap_err()
            .to_string()
            .contains("pg_listen"));
    }
}
