//! Starts the real `strata` binary for a test: a fresh data directory, a free port, and
//! clients connected over TCP.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub const PASSWORD: &str = "strata";

/// A running server; killed (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    /// PostgreSQL wire protocol.
    pub addr: SocketAddr,
    /// HTTP (line protocol).
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    /// Every line the server wrote to stderr (its log), so far.
    pub log: Arc<Mutex<Vec<String>>>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on a fresh data directory.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut s = Server::start_in(&data, &[]);
        s._dir = Some(dir);
        s
    }

    /// A server on a fresh data directory, started with `--config` naming a file that
    /// holds `toml`.
    pub fn start_with_config(toml: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("strata.toml");
        std::fs::write(&config, toml).unwrap();
        let mut s = Server::start_in(
            &dir.path().join("data"),
            &["--config", config.to_str().unwrap()],
        );
        s._dir = Some(dir);
        s
    }

    /// A server on `data_dir` with extra `strata serve` arguments.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_with(data_dir, extra, &[])
    }

    pub fn start_with(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut args = vec!["--data-dir", data_dir.to_str().expect("UTF-8 path")];
        args.extend_from_slice(extra);
        Server::launch(None, data_dir, &args, env)
    }

    /// A server started in `cwd` with no `--data-dir`: the embedded default,
    /// `./strata-data` (a relative path).
    pub fn start_default_in(cwd: &Path) -> Server {
        Server::launch(Some(cwd), &cwd.join("strata-data"), &[], &[])
    }

    fn launch(cwd: Option<&Path>, data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        cmd.arg("serve")
            .args(args)
            .arg("--pg-listen")
            .arg("127.0.0.1:0")
            .arg("--http-listen")
            .arg("127.0.0.1:0")
            .env("STRATA_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("starting strata");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut http = None;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line.clone());
                if let Some(addr) =
                    line.strip_prefix("strata: listening for HTTP (line protocol) on ")
                {
                    http = Some(addr.parse::<SocketAddr>().unwrap());
                } else if let Some(addr) =
                    line.strip_prefix("strata: listening for PostgreSQL connections on ")
                {
                    if let Some(tx) = tx.take() {
                        let pg = addr.parse::<SocketAddr>().unwrap();
                        let _ = tx.send(Ok((pg, http.expect("the HTTP address is printed first"))));
                    }
                } else if let Some(tx) = &tx {
                    if line.starts_with("strata: ") {
                        let _ = tx.send(Err(line.clone()));
                    }
                }
                // Keep draining so the server never blocks on a full pipe.
                if std::env::var_os("STRATA_TEST_LOG").is_some() {
                    eprintln!("[server] {line}");
                }
            }
        });
        let (addr, http) = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(a)) => a,
            Ok(Err(line)) => panic!("strata failed to start: {line}"),
            Err(_) => panic!("strata did not start within 60 s"),
        };
        Server {
            child,
            addr,
            http,
            data_dir: data_dir.to_path_buf(),
            log,
            _dir: None,
        }
    }

    pub fn conn_str(&self) -> String {
        format!(
            "host={} port={} user=strata password={PASSWORD} dbname=strata sslmode=disable",
            self.addr.ip(),
            self.addr.port()
        )
    }

    pub fn url(&self) -> String {
        format!(
            "postgresql://strata:{PASSWORD}@{}:{}/strata",
            self.addr.ip(),
            self.addr.port()
        )
    }

    /// A connected tokio-postgres client (its connection task runs on the current runtime).
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.conn_str(), tokio_postgres::NoTls)
            .await
            .expect("connecting");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}
