//! Python clients against the real server: Postgres drivers (psycopg 3, asyncpg,
//! SQLAlchemy), InfluxDB's client libraries (`influxdb-client` v2, `influxdb` v1), and
//! DuckDB reading the cold tier's Parquet files.
//! The clients live in the virtual environment `scripts/test` creates (`target/pyenv`,
//! from `tests/python/requirements.txt`); `STRATA_TEST_PYTHON` names another interpreter.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Server;

/// Runs `tests/python/<script>` with `args` and checks it ends with `done`.
fn run_script(script: &str, args: &[String], done: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new(strata_tests::s3::python())
        .arg(path)
        .args(args)
        .output()
        .expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains(done), "{stdout}");
}

#[test]
fn psycopg_asyncpg_and_sqlalchemy_work() {
    let s = Server::start();
    run_script(
        "clients.py",
        &[s.addr.ip().to_string(), s.addr.port().to_string()],
        "all client checks passed",
    );
}

#[test]
fn influxdb_client_libraries_write_over_http() {
    let s = Server::start();
    run_script(
        "influx.py",
        &[
            s.addr.ip().to_string(),
            s.addr.port().to_string(),
            s.http.port().to_string(),
        ],
        "all influx client checks passed",
    );
}

#[test]
fn duckdb_reads_the_cold_tier_as_the_table() {
    let s = Server::start();
    run_script(
        "cold_duckdb.py",
        &[
            s.addr.ip().to_string(),
            s.addr.port().to_string(),
            s.data_dir.display().to_string(),
        ],
        "all cold duckdb checks passed",
    );
}
