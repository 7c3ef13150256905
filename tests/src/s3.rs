//! A real S3-compatible server for tests: moto's server mode (from PyPI, in the virtual
//! environment `scripts/test` creates), started on loopback with request signing enforced.
//!
//! `S3Server::start()` runs `server/tests/python/s3_server.py`, which creates a bucket and
//! an access key and prints them as one JSON line. The server lives as long as the value
//! (or until [`S3Server::stop`]); moto keeps objects in memory, so a stopped server's
//! objects are gone.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

use strata_storage::{ColdStoreConfig, S3Config};

/// A running S3 server and the credentials it accepts.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    _stdin: ChildStdin,
    pub endpoint: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The interpreter of the test virtual environment (or `STRATA_TEST_PYTHON`), which holds
/// every Python client the tests use.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATA_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let p = workspace_root().join("target/pyenv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/test (it creates the venv) or set STRATA_TEST_PYTHON",
        p.display()
    );
    p
}

impl S3Server {
    /// Starts a server on a free loopback port with a fresh bucket.
    pub fn start() -> S3Server {
        let script = workspace_root().join("server/tests/python/s3_server.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg("0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the S3 server");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("reading the S3 server's address");
        let info: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the S3 server did not start ({e}): {line:?}"));
        let field = |k: &str| info[k].as_str().unwrap().to_owned();
        S3Server {
            endpoint: field("endpoint"),
            bucket: field("bucket"),
            access_key_id: field("access_key_id"),
            secret_access_key: field("secret_access_key"),
            _stdin: stdin,
            child,
        }
    }

    /// The cold store `s3://<bucket>/<prefix>` on this server with its credentials.
    pub fn cold_store(&self, prefix: &str) -> ColdStoreConfig {
        ColdStoreConfig {
            url: Some(format!("s3://{}/{prefix}", self.bucket)),
            s3: S3Config {
                endpoint: Some(self.endpoint.clone()),
                region: Some("us-east-1".into()),
                access_key_id: Some(self.access_key_id.clone()),
                secret_access_key: Some(self.secret_access_key.clone()),
                allow_http: Some(true),
            },
        }
    }

    /// The `AWS_*` environment variables that point a client at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// Every key in the bucket under `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let store = self.store();
        let prefix = object_store::path::Path::from(prefix);
        let mut keys: Vec<String> =
            block_on(async { store.list(Some(&prefix)).try_collect::<Vec<_>>().await })
                .unwrap()
                .into_iter()
                .map(|m| m.location.to_string())
                .collect();
        keys.sort();
        keys
    }

    /// The bytes of object `key`.
    pub fn get(&self, key: &str) -> Vec<u8> {
        use object_store::ObjectStoreExt;
        let store = self.store();
        let path = object_store::path::Path::from(key);
        block_on(async { store.get(&path).await?.bytes().await })
            .unwrap()
            .to_vec()
    }

    fn store(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_endpoint(&self.endpoint)
            .with_region("us-east-1")
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .with_allow_http(true)
            .build()
            .unwrap()
    }

    /// Stops the server (SIGKILL): every later request fails to connect.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `f` to completion on a runtime of its own, on a thread of its own, so that async
/// tests can call the blocking helpers above too.
fn block_on<T: Send>(f: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(f)
            })
            .join()
            .unwrap()
    })
}
