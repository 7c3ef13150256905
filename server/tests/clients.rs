//! Real clients in other languages against the real server: Python's Postgres drivers
//! (psycopg 2 and 3, asyncpg, pg8000, SQLAlchemy), InfluxDB's client libraries
//! (`influxdb-client` v2, `influxdb` v1), DuckDB reading the cold tier's Parquet files,
//! node-postgres, and pgJDBC.
//!
//! `scripts/test` installs them: the Python clients in `target/pyenv` (from
//! `tests/python/requirements.txt`; `STRATA_TEST_PYTHON` names another interpreter), the
//! Node packages in `target/node` (from `tests/node/package-lock.json`), and `.ci/run` the
//! JDK and Debian's pgJDBC jar (`/usr/share/java/postgresql.jar`; `STRATA_TEST_PGJDBC` names
//! another jar). Each script also passes against PostgreSQL 15 itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Server;

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Runs `tests/python/<script>` with `args` and checks it ends with `done`.
fn run_script(script: &str, args: &[String], done: &str) {
    let out = Command::new(strata_tests::s3::python())
        .arg(tests_dir().join("python").join(script))
        .args(args)
        .output()
        .expect("running python");
    check_output(script, &out, done);
}

/// Asserts that a client script exited 0 and printed `done`, showing all it printed if not.
fn check_output(script: &str, out: &Output, done: &str) {
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
fn bi_tools_work() {
    let s = Server::start();
    run_script(
        "bi_tools.py",
        &[s.addr.ip().to_string(), s.addr.port().to_string()],
        "all BI tool checks passed",
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

#[test]
fn node_postgres_works() {
    let modules = tests_dir().join("../../target/node/node_modules");
    assert!(
        modules.join("pg").exists(),
        "{} is missing: run scripts/test (it installs the Node clients)",
        modules.display()
    );
    let s = Server::start();
    let out = Command::new("node")
        .arg(tests_dir().join("node/clients.js"))
        .args([s.addr.ip().to_string(), s.addr.port().to_string()])
        .env("NODE_PATH", &modules)
        .output()
        .expect("running node (Debian: apt-get install nodejs)");
    check_output("clients.js", &out, "all node client checks passed");
}

#[test]
fn pgjdbc_works() {
    let jar = std::env::var_os("STRATA_TEST_PGJDBC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/postgresql.jar"));
    assert!(
        Path::new(&jar).exists(),
        "{} is missing (Debian: apt-get install libpostgresql-jdbc-java)",
        jar.display()
    );
    let s = Server::start();
    // Java runs a single source file directly; no separate compile step.
    let out = Command::new("java")
        .arg("-cp")
        .arg(&jar)
        .arg(tests_dir().join("java/JdbcChecks.java"))
        .args([s.addr.ip().to_string(), s.addr.port().to_string()])
        .output()
        .expect("running java (Debian: apt-get install default-jdk-headless)");
    check_output("JdbcChecks.java", &out, "all jdbc client checks passed");
}
