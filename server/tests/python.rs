//! Python clients against the real server: Postgres drivers (psycopg 3, asyncpg,
//! SQLAlchemy) and InfluxDB's client libraries (`influxdb-client` v2, `influxdb` v1).
//! The clients live in the virtual environment `scripts/test` creates (`target/pyenv`,
//! from `tests/python/requirements.txt`); `STRATA_TEST_PYTHON` names another interpreter.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Server;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATA_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let p = root.join("target/pyenv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/test (it creates the venv) or set STRATA_TEST_PYTHON",
        p.display()
    );
    p
}

#[test]
fn psycopg_asyncpg_and_sqlalchemy_work() {
    let s = Server::start();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/clients.py");
    let out = Command::new(python())
        .arg(script)
        .arg(s.addr.ip().to_string())
        .arg(s.addr.port().to_string())
        .output()
        .expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python clients failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("all client checks passed"), "{stdout}");
}

#[test]
fn influxdb_client_libraries_write_over_http() {
    let s = Server::start();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/influx.py");
    let out = Command::new(python())
        .arg(script)
        .arg(s.addr.ip().to_string())
        .arg(s.addr.port().to_string())
        .arg(s.http.port().to_string())
        .output()
        .expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "influx clients failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("all influx client checks passed"),
        "{stdout}"
    );
}
