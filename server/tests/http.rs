//! Line-protocol writes over HTTP against the real server: status codes and error bodies
//! as InfluxDB returns them, gzip, partial writes, limits, and durability under SIGKILL.
//! Requests are written by hand over TCP so that every byte on the wire is the test's.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Server;

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading everything; ignore a reset here.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_reply(&raw)
}

fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .expect("a complete HTTP response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v == "chunked")
    {
        let mut out = String::new();
        let mut rest = rest;
        loop {
            let (size, after) = rest.split_once("\r\n").unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        rest.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn write(s: &Server, path: &str, body: &[u8]) -> Reply {
    request(
        s.http,
        "POST",
        path,
        &[("Authorization", "Token strata:strata")],
        body,
    )
}

/// A gzip-encoded write with token credentials.
fn write_gzip(s: &Server, path: &str, body: &[u8]) -> Reply {
    request(
        s.http,
        "POST",
        path,
        &[
            ("Authorization", "Token strata"),
            ("Content-Encoding", "gzip"),
        ],
        body,
    )
}

fn gzip(data: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

async fn count(s: &Server, sql: &str) -> i64 {
    s.client().await.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn status_codes_and_error_bodies_follow_influxdb() {
    let s = Server::start();
    let ping = request(s.http, "GET", "/ping", &[], b"");
    assert_eq!(ping.status, 204);
    assert!(ping.headers.contains_key("x-influxdb-version"));
    let health = request(s.http, "GET", "/health", &[], b"");
    assert_eq!(health.status, 200);
    assert!(
        health.body.contains("\"status\":\"pass\""),
        "{}",
        health.body
    );

    // No credentials: 401, in each API's error shape.
    let r = request(s.http, "POST", "/write?db=strata", &[], b"m v=1");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        r#"{"error":"unable to parse authentication credentials"}"#
    );
    let r = request(s.http, "POST", "/api/v2/write?bucket=strata", &[], b"m v=1");
    assert_eq!(r.status, 401);
    assert!(r.body.contains(r#""code":"unauthorized""#), "{}", r.body);
    let r = request(
        s.http,
        "POST",
        "/write?db=strata&u=strata&p=wrong",
        &[],
        b"m v=1",
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, r#"{"error":"authorization failed"}"#)
    );

    // Unknown database or bucket: 404. Bad precision: 400.
    let r = write(&s, "/write?db=elsewhere", b"m v=1");
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, r#"{"error":"database not found: \"elsewhere\""}"#)
    );
    let r = write(&s, "/api/v2/write?bucket=elsewhere&org=x", b"m v=1");
    assert_eq!(r.status, 404);
    assert!(r.body.contains(r#""code":"not found""#), "{}", r.body);
    let r = write(&s, "/api/v2/write?bucket=strata&precision=h", b"m v=1");
    assert_eq!(r.status, 400);

    // All good: 204, and the rows are there over pgwire.
    let r = write(
        &s,
        "/api/v2/write?bucket=strata&precision=s",
        b"m,host=a v=1.5 1700000000\nm,host=b v=2.5 1700000000\n",
    );
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(count(&s, "SELECT count(*) FROM m").await, 2);

    // A partial write: 400 naming each bad line; the good lines are stored.
    let r = write(
        &s,
        "/write?db=strata&precision=s",
        b"m,host=c v=3 1700000001\nm,host=d v=\"text\" 1700000001\nbroken\nm,host=e v=5 1700000001\n",
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("partial write: 2 lines written, 2 rejected"),
        "{}",
        r.body
    );
    assert!(r.body.contains("line 2: field type conflict"), "{}", r.body);
    assert!(
        r.body.contains("line 3: column 7: missing fields"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(r#""written":2"#) && r.body.contains(r#""rejected":2"#),
        "{}",
        r.body
    );
    assert_eq!(count(&s, "SELECT count(*) FROM m").await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_bodies_and_size_limits() {
    let s = Server::start_with_config("max_body_bytes = 100000\nmax_line_bytes = 200\n");

    let mut lines = String::new();
    for i in 0..1000 {
        lines.push_str(&format!(
            "g,host=h{} v={i} {}\n",
            i % 10,
            1_700_000_000_000_000_000i64 + i
        ));
    }
    let gz = gzip(lines.as_bytes(), flate2::Compression::default());
    let r = write_gzip(&s, "/api/v2/write?bucket=strata", &gz);
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(count(&s, "SELECT count(*) FROM g").await, 1000);

    // Broken gzip: 400; nothing stored.
    let r = write_gzip(
        &s,
        "/api/v2/write?bucket=strata",
        b"\x1f\x8bnot really gzip",
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // Over max_body_bytes, plain or after decoding a small gzip body: 413.
    let big = "g v=1\n".repeat(20_000);
    let r = write(&s, "/write", big.as_bytes());
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("larger than the limit"), "{}", r.body);
    let bomb = gzip(big.as_bytes(), flate2::Compression::best());
    assert!(bomb.len() < 100_000);
    let r = write_gzip(&s, "/write", &bomb);
    assert_eq!(r.status, 413, "{}", r.body);

    // A line over max_line_bytes is rejected by number; its neighbours are stored.
    let long = format!("g v=1 1\ng s=\"{}\" 2\ng v=3 3\n", "x".repeat(300));
    let r = write(&s, "/write", long.as_bytes());
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("line 2: column 1: line is 308 bytes, over the limit of 200"),
        "{}",
        r.body
    );
    assert_eq!(count(&s, "SELECT count(*) FROM g").await, 1002);
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_batches_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Server::start_in(&data, &[]);
    let acked = Arc::new(AtomicU64::new(0));
    let http = s.http;
    let writer = {
        let acked = Arc::clone(&acked);
        std::thread::spawn(move || {
            for batch in 0u64.. {
                let mut body = String::new();
                for i in 0..500 {
                    let seq = batch * 500 + i;
                    body.push_str(&format!(
                        "k,w=x seq={seq}i {}\n",
                        1_700_000_000_000_000_000 + seq as i64
                    ));
                }
                let Ok(mut stream) = TcpStream::connect(http) else {
                    break;
                };
                let head = format!(
                    "POST /write HTTP/1.1\r\nHost: x\r\nAuthorization: Token strata\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let mut raw = Vec::new();
                let ok = stream.write_all(head.as_bytes()).is_ok()
                    && stream.write_all(body.as_bytes()).is_ok()
                    && stream.read_to_end(&mut raw).is_ok()
                    && raw.starts_with(b"HTTP/1.1 204");
                if !ok {
                    break;
                }
                acked.store((batch + 1) * 500, Ordering::SeqCst);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    s.kill9();
    writer.join().unwrap();
    let acked = acked.load(Ordering::SeqCst);
    assert!(acked > 0, "no batch was acknowledged before the kill");

    let s = Server::start_in(&data, &[]);
    let c = s.client().await;
    let r = c
        .query_one("SELECT count(*), min(seq), max(seq) FROM k", &[])
        .await
        .unwrap();
    let (n, min, max): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
    assert_eq!(min, 0);
    // Every acknowledged row is there (a batch in flight at the kill may be too).
    assert!(
        n as u64 >= acked && max as u64 >= acked - 1,
        "acked {acked}, found {n} rows up to {max}"
    );
    let r = c
        .query_one("SELECT count(*) FROM k WHERE seq < $1", &[&(acked as i64)])
        .await
        .unwrap();
    assert_eq!(r.get::<_, i64>(0) as u64, acked);
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_memory_bound_writes_get_503_then_succeed_once_drained() {
    // A tiny bound and no waiting: any unflushed data refuses the next write until the
    // background flush has drained it.
    let s = Server::start_with_config("memory_limit_bytes = 1024\nbackpressure_wait_ms = 0\n");
    let batch = |b: i64| {
        let mut body = String::new();
        for i in 0..2000 {
            let seq = b * 2000 + i;
            body.push_str(&format!(
                "bp,host=h{} seq={seq}i {}\n",
                i % 7,
                1_700_000_000_000_000_000 + seq
            ));
        }
        body
    };
    let mut acked = 0i64;
    let mut refused = None;
    for b in 0..200 {
        let r = write(&s, "/api/v2/write?bucket=strata", batch(b).as_bytes());
        match r.status {
            204 => acked += 2000,
            503 => {
                refused = Some((b, r));
                break;
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    let (b, r) = refused.expect("200 back-to-back batches over a 1 KiB bound never got a 503");
    let m = request(s.http, "GET", "/metrics", &[], b"");
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("\nstrata_memory_limit_bytes 1024\n"),
        "{}",
        m.body
    );
    assert!(m.body.contains("\nstrata_unflushed_bytes "), "{}", m.body);
    assert_eq!(r.headers.get("retry-after").map(String::as_str), Some("1"));
    assert!(r.body.contains(r#""code":"unavailable""#), "{}", r.body);
    assert!(r.body.contains("write buffer is full"), "{}", r.body);
    // Nothing of the refused batch was stored; the acknowledged ones all were.
    assert_eq!(count(&s, "SELECT count(*) FROM bp").await, acked);

    // Once the flush drains memory, the same batch is accepted.
    let mut accepted = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let r = write(&s, "/api/v2/write?bucket=strata", batch(b).as_bytes());
        if r.status == 204 {
            accepted = true;
            break;
        }
        assert_eq!(r.status, 503, "{}", r.body);
    }
    assert!(accepted, "writes still refused after 10 s");
    assert_eq!(count(&s, "SELECT count(*) FROM bp").await, acked + 2000);
}

/// Background jobs over both doors: `CALL strata.run_jobs()` / `run_job('kind')` run what is
/// due and return one row per run, `system.jobs` and `system.job_runs` show them, and
/// `/metrics` counts runs and failures per kind.
#[tokio::test(flavor = "multi_thread")]
async fn jobs_run_by_call_show_in_system_jobs_and_metrics() {
    let s = Server::start();
    let c = s.client().await;
    c.batch_execute("CREATE TABLE m (time timestamptz NOT NULL, host text, v double precision)")
        .await
        .unwrap();
    for k in 0..4 {
        let r = write(
            &s,
            "/api/v2/write?bucket=strata&precision=s",
            format!(
                "m,host=a v={k} {}\nm,host=b v={k} {}",
                1_704_067_200 + k,
                1_704_067_200 + k
            )
            .as_bytes(),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        // Simple protocol: the flush job flushes whatever is unflushed.
        let msgs = c
            .simple_query("CALL strata.run_job('flush')")
            .await
            .unwrap();
        let rows: Vec<_> = msgs
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some((
                    r.get(0).unwrap().to_owned(),
                    r.get(2).unwrap().to_owned(),
                    r.get(5).unwrap().to_owned(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(rows, vec![("flush".into(), "succeeded".into(), "2".into())]);
    }
    // Extended protocol: four segments of one size are one run for the compaction job. The
    // scheduler may have started it first: the call then waits for it and runs the job
    // again, which finds nothing left (0 rows).
    let runs = c.query("CALL strata.run_jobs()", &[]).await.unwrap();
    let got: Vec<(String, Option<String>, String, i64)> = runs
        .iter()
        .map(|r| {
            (
                r.get("kind"),
                r.get("table_name"),
                r.get("outcome"),
                r.get("rows"),
            )
        })
        .collect();
    assert!(
        got.is_empty()
            || got == vec![("compaction".into(), Some("m".into()), "succeeded".into(), 8)]
            || got == vec![("compaction".into(), Some("m".into()), "succeeded".into(), 0)],
        "the flush had nothing to do, so at most compaction ran: {got:?}"
    );
    let compaction_runs = count(
        &s,
        "SELECT count(*) FROM system.job_runs WHERE kind = 'compaction'",
    )
    .await;
    assert_eq!(
        count(
            &s,
            "SELECT CAST(sum(rows) AS bigint) FROM system.job_runs WHERE kind = 'compaction'"
        )
        .await,
        8,
        "the four segments were merged once"
    );
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM system.segments WHERE table_name = 'm'"
        )
        .await,
        1
    );
    assert_eq!(count(&s, "SELECT count(*) FROM m").await, 8);

    let jobs = c
        .query(
            "SELECT kind, table_name, state, runs, failures, last_outcome, last_rows, next_run IS NULL
               FROM system.jobs ORDER BY kind",
            &[],
        )
        .await
        .unwrap();
    /// kind, table_name, state, runs, failures, last_outcome, next_run IS NULL
    type JobRow = (
        String,
        Option<String>,
        String,
        i64,
        i64,
        Option<String>,
        bool,
    );
    let got: Vec<JobRow> = jobs
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(7),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "compaction".into(),
                Some("m".into()),
                "idle".into(),
                compaction_runs,
                0,
                Some("succeeded".into()),
                true
            ),
            (
                "flush".into(),
                None,
                "idle".into(),
                4,
                0,
                Some("succeeded".into()),
                true
            ),
        ]
    );
    assert_eq!(
        count(&s, "SELECT count(*) FROM system.job_runs").await,
        4 + compaction_runs
    );

    let m = request(s.http, "GET", "/metrics", &[], b"");
    assert!(
        m.body
            .contains("\nstrata_job_runs_total{kind=\"flush\"} 4\n"),
        "{}",
        m.body
    );
    assert!(
        m.body.contains(&format!(
            "\nstrata_job_runs_total{{kind=\"compaction\"}} {compaction_runs}\n"
        )),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("\nstrata_job_failures_total{kind=\"flush\"} 0\n"),
        "{}",
        m.body
    );

    // Unknown kinds and procedures are errors with PostgreSQL's SQLSTATEs.
    let e = c
        .simple_query("CALL strata.run_job('nope')")
        .await
        .unwrap_err();
    assert_eq!(e.as_db_error().unwrap().code().code(), "22023", "{e}");
    let message = e.as_db_error().unwrap().message();
    assert!(message.contains("compaction"), "names the kinds: {message}");
    let e = c
        .simple_query("CALL strata.no_such_thing()")
        .await
        .unwrap_err();
    assert_eq!(e.as_db_error().unwrap().code().code(), "42883", "{e}");
    assert_eq!(
        count(&s, "SELECT count(*) FROM m").await,
        8,
        "connection still usable"
    );
}
