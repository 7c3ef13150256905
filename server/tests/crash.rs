//! Acknowledged writes survive SIGKILL: INSERTs and a COPY are acknowledged, the server
//! is killed with SIGKILL, restarted on the same data directory, and every acknowledged
//! row is there. A writer keeps inserting while the kill lands, and every INSERT that got
//! its CommandComplete must be found.
//!
//! Rows with a NULL time survive it like any other.
//!
//! An erasure survives SIGKILL too, and leaves no trace of the erased subject in any file,
//! dump or log line (local and S3 cold stores).

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Server;
use futures::SinkExt;

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_inserts_and_copy_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, &[]);
    let c = s.client().await;
    c.batch_execute("CREATE TABLE k (time timestamptz, host text, seq bigint)")
        .await
        .unwrap();
    c.batch_execute("CREATE TABLE ref (id bigint, name text)")
        .await
        .unwrap();
    c.batch_execute("INSERT INTO ref VALUES (1, 'one'), (2, 'two')")
        .await
        .unwrap();

    // COPY 10,000 rows, acknowledged.
    let mut text = String::new();
    for i in 0..10_000i64 {
        text.push_str(&format!("2023-11-14 22:13:20.{i:06}+00\th{}\t{i}\n", i % 7));
    }
    let sink = c.copy_in("COPY k FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(text)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 10_000);

    // A writer inserting one row per statement, recording what was acknowledged, while
    // the server is killed under it.
    let acked = Arc::new(AtomicU64::new(0));
    let writer = {
        let acked = Arc::clone(&acked);
        let c2 = s.client().await;
        tokio::spawn(async move {
            for i in 0u64.. {
                let sql = format!(
                    "INSERT INTO k VALUES ('2024-01-01 00:00:00+00'::timestamptz + interval '{i} seconds', 'w', {})",
                    100_000 + i
                );
                if c2.batch_execute(&sql).await.is_err() {
                    break;
                }
                acked.store(i + 1, Ordering::SeqCst);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.kill9();
    writer.await.unwrap();
    let acked = acked.load(Ordering::SeqCst);
    assert!(
        acked > 0,
        "the writer got no acknowledgement before the kill"
    );

    let s = Server::start_in(&data, &[]);
    let c = s.client().await;
    let r = c
        .query_one("SELECT count(*) FROM k WHERE host <> 'w'", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), 10_000);
    let r = c
        .query_one(
            "SELECT count(*), min(seq), max(seq) FROM k WHERE host = 'w'",
            &[],
        )
        .await
        .unwrap();
    let (n, min, max): (i64, Option<i64>, Option<i64>) = (r.get(0), r.get(1), r.get(2));
    // Every acknowledged insert is there; the one in flight at the kill may be too.
    assert!(
        n as u64 >= acked && n as u64 <= acked + 1,
        "found {n}, acknowledged {acked}"
    );
    assert_eq!(min, Some(100_000));
    assert_eq!(max, Some(100_000 + n - 1));
    let r = c.query_one("SELECT count(*) FROM ref", &[]).await.unwrap();
    assert_eq!(r.get::<_, i64>(0), 2);
}

/// The erased subject: a value no other byte sequence in these tests contains.
const SUBJECT: &str = "person-4f1d7a";
/// A unique string in a text field of some of the subject's rows.
const MARKER: &str = "marker-c9e2b83a";
/// Our own crates at debug: whatever Strata itself logs must not name the subject either.
const LOG: &str = "info,strata_server=debug,strata_query=debug,strata_storage=debug";

/// `ERASE SUBJECT` leaves nothing behind: rows of 40 people and the subject, spread over
/// cold objects (in the local store, or on the S3 server), local segments, the memtable and
/// the WAL; once the erasure is verified, neither the subject's value nor the marker in its
/// rows is in any file under the data directory or the cold store, raw or as
/// `strata-tools dump` prints it, nor in the server's log; every other row is as it was,
/// before and after `kill -9` (the first one right after the ERASE, before the purge may
/// have run) and restart.
async fn an_erased_subject_leaves_no_trace(s3: Option<&strata_tests::s3::S3Server>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("strata.toml");
    let mut args: Vec<String> = Vec::new();
    if let Some(s3) = s3 {
        std::fs::write(
            &config,
            format!(
                "cold_store = \"s3://{}/erase\"\n[s3]\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
                 access_key_id = \"{}\"\nsecret_access_key = \"{}\"\nallow_http = true\n",
                s3.bucket, s3.endpoint, s3.access_key_id, s3.secret_access_key
            ),
        )
        .unwrap();
        args = vec!["--config".into(), config.to_str().unwrap().into()];
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let start = || Server::start_with(&data, &args, &[("STRATA_LOG", LOG)]);
    let mut log: Vec<String> = Vec::new();

    let mut s = start();
    let c = s.client().await;
    c.batch_execute(
        "CREATE TABLE ev (time timestamptz NOT NULL, user_id text, host text, note text, v double precision)
           WITH (partition_interval = '1 hour', cold_after = '1 day', tags = 'user_id,host',
                 subject_column = 'user_id')",
    )
    .await
    .unwrap();
    let people: Vec<String> = (0..40)
        .map(|i| format!("person-{i:03}"))
        .chain([SUBJECT.to_owned()])
        .collect();
    // `at` is an SQL expression for a row's time.
    let rows = |at: &dyn Fn(usize) -> String, tag: &str| {
        let values: Vec<String> = people
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let note = if p == SUBJECT {
                    MARKER.to_owned()
                } else {
                    format!("note-{tag}-{i}")
                };
                format!("({}, '{p}', 'h{}', '{note}', {}.5)", at(i), i % 3, i)
            })
            .collect();
        format!("INSERT INTO ev VALUES {}", values.join(", "))
    };
    // Six old hours (cold), two recent ones (local segments), then the memtable and WAL.
    for h in 0..6 {
        let sql = rows(
            &|i| format!("TIMESTAMPTZ '2024-03-01 0{h}:00:00+00' + interval '{i} seconds'"),
            &format!("old{h}"),
        );
        c.batch_execute(&sql).await.unwrap();
    }
    c.simple_query("CALL strata.run_job('flush')")
        .await
        .unwrap();
    c.simple_query("CALL strata.run_job('tiering')")
        .await
        .unwrap();
    for h in [3, 2] {
        let sql = rows(
            &|i| format!("now() - interval '{h} hours' + interval '{i} seconds'"),
            &format!("recent{h}"),
        );
        c.batch_execute(&sql).await.unwrap();
    }
    c.simple_query("CALL strata.run_job('flush')")
        .await
        .unwrap();
    let sql = rows(
        &|i| format!("now() - interval '10 minutes' + interval '{i} seconds'"),
        "mem",
    );
    c.batch_execute(&sql).await.unwrap();
    let tiers: Vec<String> = c
        .query(
            "SELECT DISTINCT tier FROM system.partitions WHERE table_name = 'ev' ORDER BY tier",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tiers, ["cold", "local"], "rows in both tiers");

    let others = "SELECT time, user_id, host, note, v FROM ev WHERE user_id <> 'person-4f1d7a' ORDER BY 1, 2";
    let before = rows_of(&c, others).await;
    assert_eq!(before.len(), 40 * 9);
    let held: i64 = c
        .query_one(
            "SELECT count(*) FROM ev WHERE note = 'marker-c9e2b83a'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(held > 0);
    let (raw, dumped) = traces(&data, s3);
    assert!(
        !raw.is_empty() && dumped,
        "the checks can see the subject before the erasure: {raw:?}"
    );

    let erased = c
        .query_one(&format!("ERASE SUBJECT '{SUBJECT}'"), &[])
        .await
        .unwrap();
    assert_eq!(erased.get::<_, i64>("rows_erased"), 9);
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM ev WHERE user_id = 'person-4f1d7a' OR note = 'marker-c9e2b83a'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "invisible when ERASE returns");
    assert_eq!(rows_of(&c, others).await, before);
    // Killed before the purge may have run; it resumes at start-up.
    s.kill9();
    log.extend(s.log.lock().unwrap().drain(..));

    let mut s = start();
    let c = s.client().await;
    assert_eq!(rows_of(&c, others).await, before, "after kill -9");
    let mut state = String::new();
    for _ in 0..600 {
        state = c
            .query_one("SELECT state FROM system.erasures", &[])
            .await
            .unwrap()
            .get(0);
        if state == "verified" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "verified");
    let receipt = c
        .query_one(
            "SELECT subject_hash = strata.subject_hash('person-4f1d7a'), rows FROM system.erasures",
            &[],
        )
        .await
        .unwrap();
    assert!(receipt.get::<_, bool>(0));
    assert_eq!(receipt.get::<_, i64>(1), 9);
    assert_eq!(rows_of(&c, others).await, before, "after the purge");
    let (raw, dumped) = traces(&data, s3);
    assert!(raw.is_empty() && !dumped, "traces after the purge: {raw:?}");

    s.kill9();
    log.extend(s.log.lock().unwrap().drain(..));
    let mut s = start();
    let c = s.client().await;
    assert_eq!(rows_of(&c, others).await, before, "after a second kill -9");
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM ev WHERE user_id = 'person-4f1d7a'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    let (raw, dumped) = traces(&data, s3);
    assert!(raw.is_empty() && !dumped, "traces after a restart: {raw:?}");
    s.kill9();
    log.extend(s.log.lock().unwrap().drain(..));
    assert!(!log.is_empty(), "the server logged");
    let named: Vec<&String> = log
        .iter()
        .filter(|l| l.contains(SUBJECT) || l.contains(MARKER))
        .collect();
    assert!(named.is_empty(), "log lines naming the subject: {named:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_subject_leaves_no_trace_in_the_local_cold_store() {
    an_erased_subject_leaves_no_trace(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_erased_subject_leaves_no_trace_in_an_s3_cold_store() {
    let s3 = strata_tests::s3::S3Server::start();
    an_erased_subject_leaves_no_trace(Some(&s3)).await;
}

async fn rows_of(c: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    c.simple_query(sql)
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL"))
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect()
}

/// Where the subject or the marker still is: the files (under `data`, and the S3 objects)
/// whose raw bytes hold either, and whether what `strata-tools dump` prints of them does.
fn traces(data: &Path, s3: Option<&strata_tests::s3::S3Server>) -> (Vec<String>, bool) {
    let holds = |bytes: &[u8]| {
        [SUBJECT, MARKER]
            .iter()
            .any(|n| bytes.windows(n.len()).any(|w| w == n.as_bytes()))
    };
    let mut raw = Vec::new();
    for f in files(data) {
        if holds(&std::fs::read(&f).unwrap_or_default()) {
            raw.push(f.display().to_string());
        }
    }
    let mut dump_dirs = vec![data.to_path_buf()];
    let downloaded = tempfile::tempdir().unwrap();
    if let Some(s3) = s3 {
        for key in s3.list("erase") {
            let bytes = s3.get(&key);
            if holds(&bytes) {
                raw.push(format!("s3://{}/{key}", s3.bucket));
            }
            let local = downloaded.path().join(key.replace('/', "_"));
            std::fs::write(local, bytes).unwrap();
        }
        dump_dirs.push(downloaded.path().to_path_buf());
    }
    let tools = Path::new(env!("CARGO_BIN_EXE_strata")).with_file_name("strata-tools");
    assert!(
        tools.exists(),
        "{} is missing: build the workspace's tests (`cargo test --workspace --no-run`)",
        tools.display()
    );
    let out = std::process::Command::new(&tools)
        .arg("dump")
        .args(&dump_dirs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("person-001"), "the dump shows the other rows");
    (raw, holds(&out.stdout))
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Rows with a NULL time (and a view over them), written with parameters (extended protocol) and by COPY, both in
/// the WAL and in a segment when the server is killed, come back after the restart; a NULL
/// parameter for a `NOT NULL` time column is 23502 with PostgreSQL's message.
#[tokio::test(flavor = "multi_thread")]
async fn rows_with_a_null_time_and_views_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, &[]);
    let c = s.client().await;
    c.batch_execute(
        "CREATE TABLE people (id int, name text, ts timestamptz);
         CREATE TABLE strict (id int, ts timestamp NOT NULL);",
    )
    .await
    .unwrap();
    let insert = c
        .prepare("INSERT INTO people VALUES ($1, $2, $3)")
        .await
        .unwrap();
    let none: Option<std::time::SystemTime> = None;
    let at = std::time::UNIX_EPOCH + Duration::from_secs(1_709_287_200); // 2024-03-01T10:00Z
    c.execute(&insert, &[&1i32, &"bob", &none]).await.unwrap();
    c.execute(&insert, &[&2i32, &"bob", &none]).await.unwrap();
    c.execute(&insert, &[&3i32, &"ann", &Some(at)])
        .await
        .unwrap();
    c.simple_query("CALL strata.run_job('flush')")
        .await
        .unwrap();
    let sink = c.copy_in("COPY people FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"4\tbob\t\\N\n5\tcy\t\\N\n"))
        .await
        .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);

    c.batch_execute("CREATE VIEW unknown_time AS SELECT id, name FROM people WHERE ts IS NULL")
        .await
        .unwrap();
    let strict = c
        .prepare("INSERT INTO strict VALUES ($1, $2)")
        .await
        .unwrap();
    let none: Option<std::time::SystemTime> = None;
    let e = c.execute(&strict, &[&1i32, &none]).await.unwrap_err();
    let db = e.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "23502", "{db:?}");
    assert_eq!(
        db.message(),
        "null value in column \"ts\" of relation \"strict\" violates not-null constraint"
    );

    s.kill9();
    let s = Server::start_in(&data, &[]);
    let c = s.client().await;
    let rows = rows_of(&c, "SELECT id, name, ts FROM people ORDER BY id").await;
    assert_eq!(
        rows,
        [
            "1|bob|NULL",
            "2|bob|NULL",
            "3|ann|2024-03-01 10:00:00+00",
            "4|bob|NULL",
            "5|cy|NULL"
        ]
    );
    // The view is in the catalog too.
    let r = c
        .query_one("SELECT count(*) FROM unknown_time", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), 4);
    let r = c
        .query_one("SELECT count(*) FROM strict", &[])
        .await
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), 0);
}
