//! The cold-tier benchmark: TSBS cpu-only over several days, all but the newest day moved
//! to the cold tier, queried over the wire next to DuckDB reading the same Parquet files.
//!
//! For each cold store (the default local directory, then a real S3 server: moto's server
//! mode, started from `server/tests/python/s3_server.py`):
//! 1. Starts the release `strata` on a fresh data directory with that store, loads the CSV
//!    by `COPY`, and runs `CALL strata.run_jobs()` so every row is in local segments.
//! 2. Times the query shapes on this warm data (one warm-up, then `runs` timed runs).
//! 3. Sets `cold_after` so every day but the newest is old enough and times
//!    `CALL strata.run_job('tiering')`: rows and bytes moved per second.
//! 4. Times the same shapes over the cold data with a warm cache (warm-up, then `runs`), and
//!    with a cold cache: for each timed run of each shape the server is restarted first,
//!    which empties its cold-read cache, and the shape's first execution is timed.
//!
//! Every shape reads only the cold days, so DuckDB (`benches/compare/cold_reference.py`,
//! `read_parquet` over the local store's files) answers the same question over the same
//! rows. Cold bytes per value: the cold objects' bytes over their field values, next to
//! DuckDB's own database file holding the same rows.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::bench_e2e::{
    connect, copy_csv, count_rows, create_cpu_table, day_shapes, median, reference_times,
    run_reference, time_query, whole_table_shapes, Shape,
};
use crate::process::{start_strata, Strata};
use crate::tsbs::{CpuOnly, CpuOnlyConfig, DEFAULT_START_NS, FIELD_NAMES};

const DAY_NS: i64 = 86_400_000_000_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub strata: PathBuf,
    /// Python with `duckdb` and `moto[server]` (the test requirements).
    pub python: PathBuf,
    pub dir: PathBuf,
    pub hosts: usize,
    pub days: i64,
    pub runs: usize,
    /// Also run against the S3 server.
    pub s3: bool,
}

/// The figures of one cold store.
#[derive(Debug, Clone)]
struct StoreRun {
    name: &'static str,
    rows: u64,
    /// Per shape: (median, rows) on warm data, cold with a warm cache, cold with a cold
    /// cache.
    warm: Vec<(Duration, u64)>,
    cold_warm_cache: Vec<(Duration, u64)>,
    cold_cold_cache: Vec<Duration>,
    tiering: Duration,
    tiered_rows: u64,
    tiered_bytes: u64,
    /// Bytes of the cold days' local segments before the move.
    segment_bytes: u64,
}

/// DuckDB over the cold files.
#[derive(Debug, Clone)]
struct Reference {
    rows: u64,
    db_bytes: u64,
    /// Per shape: (median of the runs after the first, first run, rows).
    queries: Vec<(Duration, Duration, u64)>,
}

/// The shapes, every one confined to the cold days (before `cold_end`).
pub fn shapes(cold_end: &str) -> Vec<Shape> {
    let mut v = day_shapes();
    v.extend(whole_table_shapes(&format!("WHERE time < '{cold_end}'")));
    v
}

/// Runs the whole benchmark and returns the printed report.
pub async fn run(opts: &Options) -> Result<String> {
    if opts.days < 2 {
        bail!("--days must be at least 2 (all but the newest day go cold)");
    }
    std::fs::create_dir_all(&opts.dir)?;
    let csv = opts.dir.join("cpu.csv");
    {
        let mut gen = CpuOnly::new(CpuOnlyConfig {
            hosts: opts.hosts,
            start_ns: DEFAULT_START_NS,
            duration_ns: opts.days * DAY_NS,
            ..CpuOnlyConfig::default()
        });
        let mut out = BufWriter::new(std::fs::File::create(&csv)?);
        gen.write_csv(&mut out)?;
        out.flush()?;
    }
    let newest = DEFAULT_START_NS + (opts.days - 1) * DAY_NS;
    let cold_end = chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(newest)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let shapes = shapes(&cold_end);

    let mut runs = Vec::new();
    let local = measure_store(opts, &csv, &shapes, newest, None).await?;
    let glob = opts.dir.join("local/data/cold/cpu/**/*.parquet");
    let reference = measure_reference(opts, &glob, &shapes)?;
    runs.push(local);
    if opts.s3 {
        let s3 = S3Server::start(&opts.python)?;
        runs.push(measure_store(opts, &csv, &shapes, newest, Some(&s3)).await?);
    }
    Ok(report(opts, &shapes, &runs, &reference))
}

/// A moto S3 server on loopback; stopped when dropped.
#[derive(Debug)]
struct S3Server {
    child: Child,
    endpoint: String,
    bucket: String,
    key: String,
    secret: String,
}

impl S3Server {
    fn start(python: &Path) -> Result<S3Server> {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/tests/python/s3_server.py");
        let mut child = Command::new(python)
            .arg(&script)
            .arg("0")
            .arg("strata-bench")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("running {} {}", python.display(), script.display()))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("s3_server.py printed {line:?}"))?;
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        Ok(S3Server {
            endpoint: s("endpoint"),
            bucket: s("bucket"),
            key: s("access_key_id"),
            secret: s("secret_access_key"),
            child,
        })
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn measure_store(
    opts: &Options,
    csv: &Path,
    shapes: &[Shape],
    newest: i64,
    s3: Option<&S3Server>,
) -> Result<StoreRun> {
    let name = if s3.is_some() { "s3" } else { "local" };
    let work = opts.dir.join(name);
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(&work)?;
    let data = work.join("data");
    let config = work.join("strata.toml");
    let mut toml = String::new();
    if let Some(s3) = s3 {
        toml.push_str(&format!(
            "cold_store = \"s3://{}/bench\"\n\n[s3]\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
             access_key_id = \"{}\"\nsecret_access_key = \"{}\"\nallow_http = true\n",
            s3.bucket, s3.endpoint, s3.key, s3.secret
        ));
    }
    std::fs::write(&config, toml)?;
    let config = config.to_str().context("config path")?.to_owned();
    let start = |data: &Path| start_strata(&opts.strata, data, &["--config", &config]);

    let server = start(&data)?;
    let client = connect(server.pg).await?;
    create_cpu_table(&client, "").await?;
    let rows = copy_csv(&client, csv).await?;
    client.batch_execute("CALL strata.run_jobs()").await?;
    let mut warm = Vec::new();
    for s in shapes {
        warm.push(time_query(&client, &s.strata, opts.runs).await?);
    }
    let segment_bytes = sum_u64(
        &client,
        &format!(
            "SELECT bytes FROM system.partitions WHERE table_name = 'cpu' AND tier = 'local' \
             AND max_time < '{}'",
            ts_text(newest)
        ),
    )
    .await?;

    // Every day but the newest: its whole range is older than now - cold_after.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as i64;
    let cold_after_s = (now - newest - 3_600_000_000_000) / 1_000_000_000;
    client
        .batch_execute(&format!(
            "ALTER TABLE cpu SET (cold_after = '{cold_after_s} seconds')"
        ))
        .await?;
    // The scheduler may start the move on its own once the option is set; this call runs
    // it if it has not, and waits for it. The run itself is read from system.job_runs.
    let t = Instant::now();
    client
        .batch_execute("CALL strata.run_job('tiering')")
        .await?;
    let waited = t.elapsed();
    let runs = client
        .simple_query(
            "SELECT rows, bytes, date_part('epoch', ended) - date_part('epoch', started), error \
             FROM system.job_runs WHERE kind = 'tiering' AND table_name = 'cpu'",
        )
        .await?;
    let (mut tiered_rows, mut tiered_bytes, mut secs) = (0, 0, 0.0);
    for m in &runs {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            if let Some(e) = r.get(3).filter(|e| !e.is_empty()) {
                bail!("tiering failed: {e}");
            }
            tiered_rows += r.get(0).unwrap_or("0").parse::<u64>()?;
            tiered_bytes += r.get(1).unwrap_or("0").parse::<u64>()?;
            secs += r.get(2).unwrap_or("0").parse::<f64>()?;
        }
    }
    if tiered_rows == 0 {
        bail!("no tiering run moved rows ({waited:?} waited)");
    }
    let tiering = Duration::from_secs_f64(secs);
    let cold_parts = sum_u64(
        &client,
        "SELECT count(*) FROM system.partitions WHERE table_name = 'cpu' AND tier = 'cold'",
    )
    .await?;
    if cold_parts != (opts.days - 1) as u64 {
        bail!(
            "{cold_parts} cold partitions after tiering, expected {}",
            opts.days - 1
        );
    }
    let mut cold_warm_cache = Vec::new();
    for s in shapes {
        cold_warm_cache.push(time_query(&client, &s.strata, opts.runs).await?);
    }
    drop(client);
    drop(server);

    // Cold cache: a restart empties it; each timed run is a shape's first query.
    let mut cold_cold_cache = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        let mut times = Vec::new();
        for _ in 0..opts.runs {
            let server: Strata = start(&data)?;
            let client = connect(server.pg).await?;
            let t = Instant::now();
            let got = client.simple_query(&s.strata).await?;
            times.push(t.elapsed());
            if count_rows(&got) != cold_warm_cache[i].1 {
                bail!("{}: {} rows after a restart", s.name, count_rows(&got));
            }
        }
        cold_cold_cache.push(median(times));
    }
    Ok(StoreRun {
        name,
        rows,
        warm,
        cold_warm_cache,
        cold_cold_cache,
        tiering,
        tiered_rows,
        tiered_bytes,
        segment_bytes,
    })
}

fn ts_text(ns: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(ns)
        .format("%Y-%m-%d %H:%M:%S+00")
        .to_string()
}

/// The sum of the first column of `sql`'s rows, as integers.
async fn sum_u64(client: &tokio_postgres::Client, sql: &str) -> Result<u64> {
    let mut total = 0;
    for m in client.simple_query(sql).await? {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            total += r.get(0).unwrap_or("0").parse::<u64>()?;
        }
    }
    Ok(total)
}

fn measure_reference(opts: &Options, glob: &Path, shapes: &[Shape]) -> Result<Reference> {
    let runs = opts.runs.to_string();
    let v = run_reference(
        &opts.python,
        "cold_reference.py",
        &[glob.as_os_str(), opts.dir.as_os_str(), runs.as_ref()],
        shapes,
    )?;
    let mut queries = Vec::new();
    for s in shapes {
        let q = &v["queries"][s.name];
        let first = Duration::from_secs_f64(q["first"].as_f64().unwrap_or(0.0));
        queries.push((
            median(reference_times(q, s)?),
            first,
            q["rows"].as_u64().unwrap_or(0),
        ));
    }
    Ok(Reference {
        rows: v["rows"].as_u64().unwrap_or(0),
        db_bytes: v["db_bytes"].as_u64().unwrap_or(0),
        queries,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64().max(1e-9))
}

fn report(opts: &Options, shapes: &[Shape], runs: &[StoreRun], d: &Reference) -> String {
    let mut out = String::new();
    let values = |rows: u64| (rows * FIELD_NAMES.len() as u64) as f64;
    out.push_str(&format!(
        "TSBS cpu-only, {} hosts x {} days ({} rows), all but the newest day cold; \
         medians of {} runs\n\n",
        opts.hosts, opts.days, runs[0].rows, opts.runs
    ));
    out.push_str("| store | rows moved | tiering s | rows/s | MB/s written | cold bytes | bytes per value | local segments, bytes per value |\n|---|---|---|---|---|---|---|---|\n");
    for r in runs {
        let s = r.tiering.as_secs_f64().max(1e-9);
        out.push_str(&format!(
            "| {} | {} | {:.2} | {:.0} | {:.1} | {} | {:.3} | {:.3} |\n",
            r.name,
            r.tiered_rows,
            s,
            r.tiered_rows as f64 / s,
            r.tiered_bytes as f64 / s / 1e6,
            r.tiered_bytes,
            r.tiered_bytes as f64 / values(r.tiered_rows),
            r.segment_bytes as f64 / values(r.tiered_rows),
        ));
    }
    out.push_str(&format!(
        "| DuckDB database file, same rows | {} | - | - | - | {} | {:.3} | - |\n\n",
        d.rows,
        d.db_bytes,
        d.db_bytes as f64 / values(d.rows)
    ));
    for r in runs {
        out.push_str(&format!(
            "{} store (ratios: >1 means Strata's cold query is slower than the other)\n\n",
            r.name
        ));
        out.push_str("| query | rows | warm ms | cold, warm cache ms | / warm | cold, cold cache ms | / warm | DuckDB read_parquet ms | cold warm cache / DuckDB | DuckDB first run ms | cold cold cache / DuckDB first |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (i, shape) in shapes.iter().enumerate() {
            let (warm, rows) = r.warm[i];
            let (cw, crows) = r.cold_warm_cache[i];
            let cc = r.cold_cold_cache[i];
            let (dm, dfirst, drows) = d.queries[i];
            let mut note = String::new();
            if crows != rows {
                note.push_str(&format!(" (cold: {crows})"));
            }
            if drows != rows {
                note.push_str(&format!(" (DuckDB: {drows})"));
            }
            out.push_str(&format!(
                "| {} | {rows}{note} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                shape.name,
                ms(warm),
                ms(cw),
                ratio(cw, warm),
                ms(cc),
                ratio(cc, warm),
                ms(dm),
                ratio(cw, dm),
                ms(dfirst),
                ratio(cc, dfirst),
            ));
        }
        out.push('\n');
    }
    out
}
