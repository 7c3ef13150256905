//! The end-to-end benchmark: TSBS cpu-only through the real server, next to DuckDB.
//!
//! 1. Generates the data set as CSV.
//! 2. Starts `strata serve` on a fresh data directory and loads the CSV with
//!    `COPY cpu FROM STDIN (FORMAT csv)` over the PostgreSQL wire protocol.
//! 3. Runs each query shape once to warm up, then `runs` times, over the wire.
//! 4. Runs `benches/compare/e2e_reference.py`: DuckDB (in-process, Python package) loads
//!    the same CSV and runs the same shapes the same way, in the same invocation; chDB
//!    (in-process ClickHouse), when its package is installed, loads the CSV too.
//! 5. Prints load rows/s for all three and per-query medians for Strata and DuckDB, with
//!    their ratio.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::SinkExt;

use crate::process::start_strata;
use crate::tsbs::{CpuOnly, CpuOnlyConfig, DEFAULT_START_NS, FIELD_NAMES, TAG_NAMES};

/// One query shape, in each engine's spelling.
#[derive(Debug, Clone)]
pub struct Shape {
    pub name: &'static str,
    pub strata: String,
    pub duckdb: String,
}

fn same(name: &'static str, sql: String) -> Shape {
    Shape {
        name,
        strata: sql.clone(),
        duckdb: sql,
    }
}

/// The query shapes of the issue, over data starting at 2016-01-01 (one day).
pub fn shapes() -> Vec<Shape> {
    let mut v = day_shapes();
    v.extend(whole_table_shapes(""));
    v
}

/// The shapes confined to 2016-01-01 (the first day of the data).
pub fn day_shapes() -> Vec<Shape> {
    let host = "host_7";
    let t = |h: u32| format!("'2016-01-01T{h:02}:00:00Z'");
    vec![
        same(
            "1 host, max per minute, 1 h",
            format!(
                "SELECT date_trunc('minute', time) AS minute, max(usage_user) FROM cpu \
                 WHERE hostname = '{host}' AND time >= {} AND time < {} GROUP BY minute ORDER BY minute",
                t(5),
                t(6)
            ),
        ),
        same(
            "1 host, max of 5 fields per minute, 12 h",
            format!(
                "SELECT date_trunc('minute', time) AS minute, max(usage_user), max(usage_system), \
                 max(usage_idle), max(usage_nice), max(usage_iowait) FROM cpu \
                 WHERE hostname = '{host}' AND time >= {} AND time < {} GROUP BY minute ORDER BY minute",
                t(4),
                t(16)
            ),
        ),
        same(
            "avg per host per hour, 12 h",
            format!(
                "SELECT hostname, date_trunc('hour', time) AS hour, avg(usage_user) FROM cpu \
                 WHERE time >= {} AND time < {} GROUP BY hostname, hour ORDER BY hostname, hour",
                t(4),
                t(16)
            ),
        ),
        same(
            "1 host, usage_user > 90, 12 h",
            format!(
                "SELECT * FROM cpu WHERE hostname = '{host}' AND usage_user > 90 \
                 AND time >= {} AND time < {} ORDER BY time",
                t(4),
                t(16)
            ),
        ),
        same(
            "max per minute, 5 min before t, top 5",
            format!(
                "SELECT date_trunc('minute', time) AS minute, max(usage_user) FROM cpu \
                 WHERE time < {} GROUP BY minute ORDER BY minute DESC LIMIT 5",
                t(12)
            ),
        ),
    ]
}

/// The shapes over the whole table, or over the rows `filter` selects (a `WHERE` clause).
pub fn whole_table_shapes(filter: &str) -> Vec<Shape> {
    vec![
        same(
            "latest row of every host",
            format!("SELECT DISTINCT ON (hostname) * FROM cpu {filter} ORDER BY hostname, time DESC"),
        ),
        Shape {
            name: "count, avg, approx distinct hosts",
            strata: format!(
                "SELECT count(*), avg(usage_user), approx_distinct(hostname) FROM cpu {filter}"
            ),
            duckdb: format!(
                "SELECT count(*), avg(usage_user), approx_count_distinct(hostname) FROM cpu {filter}"
            ),
        },
    ]
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub strata: PathBuf,
    pub python: Option<PathBuf>,
    pub dir: PathBuf,
    pub hosts: usize,
    pub duration_ns: i64,
    pub runs: usize,
}

/// One engine's results.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub rows: u64,
    pub load: Duration,
    /// Per shape: median, and result rows.
    pub queries: Vec<(Duration, u64)>,
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs the whole benchmark and returns the printed report.
pub async fn run(opts: &Options) -> Result<String> {
    std::fs::create_dir_all(&opts.dir)?;
    let csv = opts.dir.join("cpu.csv");
    {
        let mut gen = CpuOnly::new(CpuOnlyConfig {
            hosts: opts.hosts,
            start_ns: DEFAULT_START_NS,
            duration_ns: opts.duration_ns,
            ..CpuOnlyConfig::default()
        });
        let mut out = BufWriter::new(std::fs::File::create(&csv)?);
        gen.write_csv(&mut out)?;
        out.flush()?;
    }
    let shapes = shapes();
    let strata = measure_strata(opts, &csv, &shapes).await?;
    let (duck, chdb) = match &opts.python {
        Some(py) => {
            let (d, c) = measure_reference(py, &opts.dir, &csv, &shapes, opts.runs)?;
            (Some(d), c)
        }
        None => (None, None),
    };
    Ok(report(opts, &shapes, &strata, duck.as_ref(), chdb.as_ref()))
}

async fn measure_strata(opts: &Options, csv: &Path, shapes: &[Shape]) -> Result<Measured> {
    let data = opts.dir.join("strata-data");
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    let server = start_strata(&opts.strata, &data, &[])?;
    let client = connect(server.pg).await?;
    create_cpu_table(&client, "").await?;
    let start = Instant::now();
    let rows = copy_csv(&client, csv).await?;
    let load = start.elapsed();
    let mut queries = Vec::new();
    for s in shapes {
        queries.push(time_query(&client, &s.strata, opts.runs).await?);
    }
    Ok(Measured {
        rows,
        load,
        queries,
    })
}

/// Connects to a Strata server as the default user.
pub(crate) async fn connect(addr: std::net::SocketAddr) -> Result<tokio_postgres::Client> {
    let conn = format!(
        "host={} port={} user=strata password=strata dbname=strata sslmode=disable",
        addr.ip(),
        addr.port()
    );
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// `CREATE TABLE cpu (time timestamptz NOT NULL, <tags> text, <fields> double precision)`
/// followed by `suffix` (e.g. a `WITH (...)` clause).
pub(crate) async fn create_cpu_table(client: &tokio_postgres::Client, suffix: &str) -> Result<()> {
    let columns: Vec<String> = std::iter::once("time timestamptz NOT NULL".to_owned())
        .chain(TAG_NAMES.iter().map(|t| format!("{t} text")))
        .chain(FIELD_NAMES.iter().map(|f| format!("{f} double precision")))
        .collect();
    client
        .batch_execute(&format!(
            "CREATE TABLE cpu ({}) {suffix}",
            columns.join(", ")
        ))
        .await?;
    Ok(())
}

/// Loads the CSV (with a header line) into `cpu` by `COPY ... FROM STDIN`; returns the rows.
pub(crate) async fn copy_csv(client: &tokio_postgres::Client, csv: &Path) -> Result<u64> {
    let bytes = std::fs::read(csv)?;
    let sink = client
        .copy_in("COPY cpu FROM STDIN WITH (FORMAT csv, HEADER true)")
        .await?;
    futures::pin_mut!(sink);
    for chunk in bytes.chunks(1 << 20) {
        sink.send(bytes::Bytes::copy_from_slice(chunk)).await?;
    }
    Ok(sink.finish().await?)
}

/// Runs `sql` once to warm up, then `runs` times; returns the median and the result rows.
pub(crate) async fn time_query(
    client: &tokio_postgres::Client,
    sql: &str,
    runs: usize,
) -> Result<(Duration, u64)> {
    let warm = client
        .simple_query(sql)
        .await
        .with_context(|| sql.to_owned())?;
    let n = count_rows(&warm);
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        client.simple_query(sql).await?;
        times.push(t.elapsed());
    }
    Ok((median(times), n))
}

pub(crate) fn count_rows(msgs: &[tokio_postgres::SimpleQueryMessage]) -> u64 {
    msgs.iter()
        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        .count() as u64
}

/// DuckDB's load and query times, and chDB's load if its package is installed.
fn measure_reference(
    py: &Path,
    dir: &Path,
    csv: &Path,
    shapes: &[Shape],
    runs: usize,
) -> Result<(Measured, Option<Measured>)> {
    let all = run_reference(
        py,
        "e2e_reference.py",
        &[csv.as_os_str(), dir.as_os_str(), runs.to_string().as_ref()],
        shapes,
    )?;
    let v = &all["duckdb"];
    let secs = |x: &serde_json::Value| Duration::from_secs_f64(x.as_f64().unwrap_or(0.0));
    let mut queries = Vec::new();
    for s in shapes {
        let q = &v["queries"][s.name];
        queries.push((
            median(reference_times(q, s)?),
            q["rows"].as_u64().unwrap_or(0),
        ));
    }
    let duck = Measured {
        rows: v["rows"].as_u64().unwrap_or(0),
        load: secs(&v["load_s"]),
        queries,
    };
    let c = &all["chdb"];
    let chdb = (!c.is_null()).then(|| Measured {
        rows: c["rows"].as_u64().unwrap_or(0),
        load: secs(&c["load_s"]),
        queries: Vec::new(),
    });
    Ok((duck, chdb))
}

/// Runs `benches/compare/<script>` with `args`, the shapes' DuckDB SQL on its stdin as a
/// JSON list of `{"name", "sql"}`; returns the JSON object it prints.
pub(crate) fn run_reference(
    py: &Path,
    script: &str,
    args: &[&std::ffi::OsStr],
    shapes: &[Shape],
) -> Result<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../benches/compare")
        .join(script);
    let queries: Vec<serde_json::Value> = shapes
        .iter()
        .map(|s| serde_json::json!({"name": s.name, "sql": s.duckdb}))
        .collect();
    let mut child = Command::new(py)
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("running {} {}", py.display(), script.display()))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(serde_json::to_string(&queries)?.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{} failed", script.display());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// A reference script's timed runs of `shape` (its `times` list, in seconds).
pub(crate) fn reference_times(q: &serde_json::Value, shape: &Shape) -> Result<Vec<Duration>> {
    let times: Vec<Duration> = q["times"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| Duration::from_secs_f64(x.as_f64().unwrap_or(0.0)))
        .collect();
    if times.is_empty() {
        bail!("no DuckDB times for {}", shape.name);
    }
    Ok(times)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn report(
    opts: &Options,
    shapes: &[Shape],
    s: &Measured,
    d: Option<&Measured>,
    c: Option<&Measured>,
) -> String {
    let mut out = String::new();
    let rate = |m: &Measured| m.rows as f64 / m.load.as_secs_f64().max(1e-9);
    out.push_str(&format!(
        "TSBS cpu-only, {} hosts, {} rows; medians of {} warm runs\n\n",
        opts.hosts, s.rows, opts.runs
    ));
    out.push_str("| load of the same CSV | rows | rows/s | Strata / this |\n|---|---|---|---|\n");
    out.push_str(&format!(
        "| Strata, COPY over the wire | {} | {:.0} | 1.00x |\n",
        s.rows,
        rate(s)
    ));
    for (name, m) in [("DuckDB, in-process", d), ("chDB, in-process", c)] {
        match m {
            Some(m) => out.push_str(&format!(
                "| {name} | {} | {:.0} | {:.2}x |\n",
                m.rows,
                rate(m),
                rate(s) / rate(m)
            )),
            None => out.push_str(&format!("| {name} | - | not run | - |\n")),
        }
    }
    out.push_str("\n| query | rows | Strata ms | DuckDB ms | DuckDB / Strata (>1: Strata faster) |\n|---|---|---|---|---|\n");
    for (i, shape) in shapes.iter().enumerate() {
        let (st, rows) = s.queries[i];
        match d {
            Some(d) => {
                let (dt, drows) = d.queries[i];
                let note = if drows != rows {
                    format!(" (DuckDB rows {drows})")
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "| {} | {rows}{note} | {} | {} | {:.2}x |\n",
                    shape.name,
                    ms(st),
                    ms(dt),
                    dt.as_secs_f64() / st.as_secs_f64().max(1e-9)
                ));
            }
            None => out.push_str(&format!(
                "| {} | {rows} | {} | - | - |\n",
                shape.name,
                ms(st)
            )),
        }
    }
    out
}
