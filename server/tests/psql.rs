//! `psql` against the real server: meta-commands (`\dt`, `\d`, `\di`, `\l`, `\dn`, `\du`),
//! `\copy`, `FETCH_COUNT` (a cursor), and TLS with `sslmode=require` on the self-signed
//! certificate made at first start.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Server;

/// Runs psql with `script` on stdin; returns stdout, panicking with stderr on failure.
fn psql(s: &Server, sslmode: &str, script: &str) -> String {
    psql_with(s, sslmode, &[], script)
}

/// [`psql`] with extra command-line arguments (`-A`, `-v NAME=value`, ...).
fn psql_with(s: &Server, sslmode: &str, extra: &[&str], script: &str) -> String {
    let mut child = Command::new("psql")
        .args(extra)
        .args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &s.addr.ip().to_string(),
            "-p",
            &s.addr.port().to_string(),
            "-U",
            "strata",
            "-d",
            "strata",
        ])
        .env("PGPASSWORD", common::PASSWORD)
        .env("PGSSLMODE", sslmode)
        .env("PGCONNECT_TIMEOUT", "20")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql must be installed (Debian package postgresql-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "psql failed:\nscript:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// The README's quick start: `strata serve` with no configuration (data in the relative
/// `./strata-data`), then psql.
#[test]
fn psql_quick_start_and_meta_commands() {
    let cwd = tempfile::tempdir().unwrap();
    let s = Server::start_default_in(cwd.path());
    assert!(cwd.path().join("strata-data").is_dir());
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("cpu.csv");
    std::fs::write(
        &csv,
        "time,host,usage\n2024-01-01T00:00:00Z,a,1.5\n2024-01-01T00:00:10Z,b,2.5\n2024-01-01T00:00:20Z,a,3.5\n",
    )
    .unwrap();
    let out = psql(
        &s,
        "require",
        &format!(
            "CREATE TABLE cpu (time timestamptz NOT NULL, host text, usage double precision);\n\
             \\copy cpu FROM '{}' WITH (FORMAT csv, HEADER true)\n\
             SELECT host, count(*), max(usage) FROM cpu GROUP BY host ORDER BY host;\n",
            csv.display()
        ),
    );
    assert!(out.contains("COPY 3"), "{out}");
    assert!(out.contains(" a    |     2 | 3.5"), "{out}");
    assert!(out.contains(" b    |     1 | 2.5"), "{out}");
    // The default cold store lies under the relative data directory.
    let out = psql(
        &s,
        "require",
        "ALTER TABLE cpu SET (cold_after = '1 day');\n\
         CALL strata.run_jobs();\n\
         SELECT tier, rows FROM system.partitions;\n\
         SELECT count(*) FROM cpu;\n",
    );
    assert!(out.contains(" cold | "), "{out}");
    assert!(out.contains("     3\n(1 row)"), "{out}");
    assert!(cwd.path().join("strata-data/cold/cpu").is_dir());

    let out = psql(&s, "disable", "\\dt\n");
    assert!(out.contains("cpu"), "\\dt:\n{out}");
    // The configured user owns what there is and is listed as a role.
    assert!(out.contains("| cpu  | table | strata"), "\\dt:\n{out}");
    let out = psql(&s, "disable", "\\du\n");
    assert!(out.contains(" strata    | Superuser"), "\\du:\n{out}");
    let out = psql(&s, "disable", "\\d cpu\n");
    for col in [
        "time",
        "host",
        "usage",
        "timestamp with time zone",
        "double precision",
    ] {
        assert!(out.contains(col), "\\d cpu lacks {col}:\n{out}");
    }
    // Keys and indexes are listed where psql looks for them.
    psql(
        &s,
        "disable",
        "CREATE TABLE keyed (ts timestamptz DEFAULT now(), host text, v double precision DEFAULT 0.5, PRIMARY KEY (host, ts));\n\
         CREATE INDEX keyed_v ON keyed (v);\n",
    );
    let out = psql(&s, "disable", "\\d keyed\n");
    for line in [
        // The Default column comes from pg_attrdef.
        "| not null | now()",
        "|          | 0.5",
        "Indexes:",
        "\"keyed_pkey\" PRIMARY KEY, btree (host, ts)",
        "\"keyed_v\" btree (v)",
    ] {
        assert!(out.contains(line), "\\d keyed lacks {line}:\n{out}");
    }
    // \dt+ and \di+ compute sizes (pg_table_size, pg_size_pretty); \l lists only strata.
    let out = psql(&s, "disable", "\\dt+ cpu\n");
    assert!(
        out.contains(" cpu ") && out.contains("Size"),
        "\\dt+:\n{out}"
    );
    let out = psql(&s, "disable", "\\di+ keyed_pkey\n");
    assert!(out.contains("0 bytes"), "\\di+:\n{out}");
    let out = psql(&s, "disable", "\\l\n");
    assert!(
        !out.lines().any(|l| l.trim_start().starts_with("postgres ")),
        "\\l lists a database that is not there:\n{out}"
    );
    let out = psql(&s, "disable", "\\di\n");
    assert!(
        out.contains("keyed_pkey") && out.contains("keyed_v") && out.contains("index"),
        "\\di:\n{out}"
    );
    let out = psql(&s, "disable", "\\l\n");
    assert!(out.contains("strata"), "\\l:\n{out}");
    let out = psql(&s, "disable", "\\dn\n");
    assert!(out.contains("public"), "\\dn:\n{out}");
    let out = psql(&s, "disable", "\\du\n");
    assert!(
        out.contains("strata") || out.contains("Role name"),
        "\\du:\n{out}"
    );
    // \sv prints a view's definition (it reads pg_class.reloptions).
    let out = psql(
        &s,
        "disable",
        "CREATE VIEW busy AS SELECT host FROM cpu WHERE usage > 2;\n\\sv busy\n",
    );
    assert!(
        out.contains("CREATE OR REPLACE VIEW public.busy AS"),
        "\\sv:\n{out}"
    );
    // \d+ adds storage and descriptions (its query maps over an outer array with
    // `array(select ... from unnest(tc.reloptions) x)`), for tables and views.
    let out = psql(
        &s,
        "disable",
        "COMMENT ON COLUMN keyed.v IS 'the value';\n\\d+ keyed\n\\d+ busy\n",
    );
    for line in [
        "Table \"public.keyed\"",
        "Storage",
        "| plain    |",
        "the value",
        "\"keyed_pkey\" PRIMARY KEY, btree (host, ts)",
        "View \"public.busy\"",
        "View definition:",
    ] {
        assert!(out.contains(line), "\\d+ lacks {line}:\n{out}");
    }
    // Startup parameters set the session (psql sends application_name).
    let out = psql(&s, "disable", "SHOW application_name;\n");
    assert!(out.contains(" psql"), "application_name:\n{out}");
    let out = psql(
        &s,
        "require",
        "SELECT table_name, segments FROM system.tables;\n",
    );
    assert!(out.contains("cpu"), "{out}");
}

/// psql's `FETCH_COUNT` reads a result through a cursor (`DECLARE`, `FETCH FORWARD n`,
/// `CLOSE`, in a block psql opens itself) and prints every row.
#[test]
fn psql_fetch_count_reads_through_a_cursor() {
    let s = Server::start();
    let values: Vec<String> = (1..=1000)
        .map(|k| format!("(to_timestamp({k}), {k})"))
        .collect();
    psql(
        &s,
        "disable",
        &format!(
            "CREATE TABLE pc (ts timestamptz NOT NULL, k bigint);\nINSERT INTO pc VALUES {};\n",
            values.join(", ")
        ),
    );
    let out = psql_with(
        &s,
        "disable",
        &["-A", "-t", "-v", "FETCH_COUNT=7"],
        "SELECT k FROM pc WHERE k % 10 = 3 ORDER BY k;\n",
    );
    let got: Vec<i64> = out.lines().map(|l| l.parse().unwrap()).collect();
    let want: Vec<i64> = (1..=1000).filter(|k| k % 10 == 3).collect();
    assert_eq!(got, want);
}
