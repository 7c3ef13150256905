//! The line-protocol ingest benchmark: TSBS cpu-only as InfluxDB line protocol, POSTed in
//! batches over concurrent keep-alive HTTP connections, to the real `strata` server and to
//! InfluxDB 1.x in the same invocation.
//!
//! 1. Generates the data set as line protocol (nanosecond timestamps) in memory and cuts
//!    it into batches of `batch_lines` lines.
//! 2. For each run, starts `strata serve` on a fresh data directory (`fsync = "always"`,
//!    the given `memory_limit_bytes`) and sends every batch to `/api/v2/write` over
//!    `connections` connections, each taking the next unsent batch. A 503 is retried
//!    after its `Retry-After`, as client libraries do; the retries are counted.
//! 3. Does the same against `influxd` (`/write`, `wal-fsync-delay = "0s"`, i.e. fsync per
//!    write) when it is given.
//! 4. Checks that each server holds every row (a count over its query interface), and
//!    reports the median rows/s per engine, their ratio, the median CPU time each server
//!    process used during the load (steadier than wall time on a noisy machine), and the
//!    server's peak resident memory (`VmHWM`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::bench_e2e::median;
use crate::http_client::Connection;
use crate::process::{start_influx, start_strata};
use crate::tsbs::{CpuOnly, CpuOnlyConfig, DEFAULT_START_NS};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub strata: PathBuf,
    /// `influxd` of InfluxDB 1.x, or `None` to measure Strata alone.
    pub influxd: Option<PathBuf>,
    pub dir: PathBuf,
    pub hosts: usize,
    pub duration_ns: i64,
    pub batch_lines: usize,
    pub connections: usize,
    pub runs: usize,
    /// Strata's `memory_limit_bytes` for the load.
    pub memory_limit_bytes: usize,
}

/// One load of the whole data set.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub elapsed: Duration,
    /// 503 answers that were retried.
    pub retries: u64,
    /// CPU time the server process used during the load (all threads): steadier than
    /// wall time on a noisy machine.
    pub server_cpu: Duration,
    /// Peak resident memory of the server process after the load.
    pub peak_rss_bytes: u64,
    /// Strata only: the largest `strata_unflushed_bytes` seen on `/metrics`, sampled
    /// every 10 ms during the load.
    pub peak_unflushed_bytes: Option<u64>,
}

/// Runs the benchmark and returns the printed report.
pub async fn run(opts: &Options) -> Result<String> {
    std::fs::create_dir_all(&opts.dir)?;
    let mut lp = Vec::new();
    CpuOnly::new(CpuOnlyConfig {
        hosts: opts.hosts,
        start_ns: DEFAULT_START_NS,
        duration_ns: opts.duration_ns,
        ..CpuOnlyConfig::default()
    })
    .write_line_protocol(&mut lp)?;
    let batches = Arc::new(split_lines(&lp, opts.batch_lines.max(1)));
    let rows = lp.iter().filter(|&&b| b == b'\n').count() as u64;
    eprintln!(
        "bench-lp: {rows} lines, {} MB, {} batches",
        lp.len() / 1_000_000,
        batches.len()
    );
    drop(lp);

    let mut strata = Vec::new();
    for run in 0..opts.runs {
        let load = load_strata(opts, &batches, rows, run).await?;
        eprintln!("bench-lp: strata run {}: {:?}", run + 1, load);
        strata.push(load);
    }
    let mut influx = Vec::new();
    if let Some(bin) = &opts.influxd {
        for run in 0..opts.runs {
            let load = load_influx(opts, bin, &batches, rows, run).await?;
            eprintln!("bench-lp: influxdb run {}: {:?}", run + 1, load);
            influx.push(load);
        }
    }
    Ok(report(opts, rows, &strata, &influx))
}

/// Cuts `lp` into bodies of `n` lines each (the last may be shorter).
pub fn split_lines(lp: &[u8], n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut lines = 0;
    for (i, &b) in lp.iter().enumerate() {
        if b == b'\n' {
            lines += 1;
            if lines == n {
                out.push(lp[start..=i].to_vec());
                start = i + 1;
                lines = 0;
            }
        }
    }
    if start < lp.len() {
        out.push(lp[start..].to_vec());
    }
    out
}

fn fresh(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(dir.to_path_buf())
}

async fn load_strata(
    opts: &Options,
    batches: &Arc<Vec<Vec<u8>>>,
    rows: u64,
    run: usize,
) -> Result<Load> {
    let dir = fresh(&opts.dir.join(format!("strata-{run}")))?;
    let config = dir.join("strata.toml");
    std::fs::write(
        &config,
        format!(
            "fsync = \"always\"\nmemory_limit_bytes = {}\n",
            opts.memory_limit_bytes
        ),
    )?;
    let server = start_strata(
        &opts.strata,
        &dir.join("data"),
        &["--config", config.to_str().context("path is not UTF-8")?],
    )?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cpu_before = server.process.cpu_time()?;
    // A mark for profilers to start recording at (pid given).
    eprintln!(
        "bench-lp: strata run {}: loading (pid {})",
        run + 1,
        server.process.pid()
    );
    let sampler = tokio::spawn(sample_unflushed(server.http, Arc::clone(&stop)));
    let sent = send_all(
        server.http,
        "/api/v2/write?bucket=strata&precision=ns",
        &[("Authorization", "Token strata:strata")],
        batches,
        opts.connections,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let peak_unflushed = sampler.await??;
    let (elapsed, retries) = sent?;
    let server_cpu = server.process.cpu_time()? - cpu_before;
    let peak_rss_bytes = server.process.peak_rss_bytes()?;
    let conn = format!(
        "host={} port={} user=strata password=strata dbname=strata sslmode=disable",
        server.pg.ip(),
        server.pg.port()
    );
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let n: i64 = client
        .query_one("SELECT count(*) FROM cpu", &[])
        .await?
        .get(0);
    if n as u64 != rows {
        bail!("strata holds {n} rows after loading {rows}");
    }
    Ok(Load {
        elapsed,
        retries,
        server_cpu,
        peak_rss_bytes,
        peak_unflushed_bytes: Some(peak_unflushed),
    })
}

/// Polls Strata's `/metrics` until `stop`; returns the largest unflushed-bytes gauge.
async fn sample_unflushed(
    addr: SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<u64> {
    let mut c = Connection::open(addr).await?;
    let mut peak = 0;
    while !stop.load(Ordering::Relaxed) {
        let r = c.request("GET", "/metrics", &[], b"").await?;
        let text = String::from_utf8_lossy(&r.body);
        let v: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("strata_unflushed_bytes "))
            .context("no strata_unflushed_bytes in /metrics")?
            .trim()
            .parse()?;
        peak = peak.max(v);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(peak)
}

async fn load_influx(
    opts: &Options,
    bin: &Path,
    batches: &Arc<Vec<Vec<u8>>>,
    rows: u64,
    run: usize,
) -> Result<Load> {
    let dir = fresh(&opts.dir.join(format!("influxdb-{run}")))?;
    let server = start_influx(bin, &dir)?;
    let mut c = Connection::open(server.http).await?;
    let r = c
        .request("POST", "/query?q=CREATE%20DATABASE%20bench", &[], b"")
        .await?;
    if r.status != 200 {
        bail!(
            "CREATE DATABASE: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    let cpu_before = server.process.cpu_time()?;
    let (elapsed, retries) = send_all(
        server.http,
        "/write?db=bench&precision=ns",
        &[],
        batches,
        opts.connections,
    )
    .await?;
    let server_cpu = server.process.cpu_time()? - cpu_before;
    let peak_rss_bytes = server.process.peak_rss_bytes()?;
    let r = c
        .request(
            "GET",
            "/query?db=bench&q=SELECT%20count(usage_user)%20FROM%20cpu",
            &[],
            b"",
        )
        .await?;
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .with_context(|| format!("count query: {}", String::from_utf8_lossy(&r.body)))?;
    let n = v["results"][0]["series"][0]["values"][0][1]
        .as_u64()
        .with_context(|| format!("count query answered {v}"))?;
    if n != rows {
        bail!("influxdb holds {n} rows after loading {rows}");
    }
    Ok(Load {
        elapsed,
        retries,
        server_cpu,
        peak_rss_bytes,
        peak_unflushed_bytes: None,
    })
}

/// Sends every batch over `connections` keep-alive connections; returns the wall time
/// and the number of 503s retried. Any other status than 204 is an error.
async fn send_all(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    batches: &Arc<Vec<Vec<u8>>>,
    connections: usize,
) -> Result<(Duration, u64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let headers: Arc<Vec<(String, String)>> = Arc::new(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    let mut conns = Vec::new();
    for _ in 0..connections.max(1) {
        conns.push(Connection::open(addr).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in conns {
        let (next, retries, batches, headers) = (
            Arc::clone(&next),
            Arc::clone(&retries),
            Arc::clone(batches),
            Arc::clone(&headers),
        );
        let path = path.to_owned();
        tasks.push(tokio::spawn(async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = batches.get(i) else {
                    return anyhow::Ok(());
                };
                loop {
                    let r = conn.request("POST", &path, &headers, body).await?;
                    match r.status {
                        204 => break,
                        503 => {
                            retries.fetch_add(1, Ordering::Relaxed);
                            let secs: u64 = r
                                .header("retry-after")
                                .and_then(|s| s.parse().ok())
                                .unwrap_or(1);
                            tokio::time::sleep(Duration::from_secs(secs.min(10))).await;
                        }
                        s => bail!("batch {i}: HTTP {s}: {}", String::from_utf8_lossy(&r.body)),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((start.elapsed(), retries.load(Ordering::Relaxed)))
}

fn mb(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1024.0 * 1024.0))
}

fn report(opts: &Options, rows: u64, strata: &[Load], influx: &[Load]) -> String {
    let rate = |loads: &[Load]| {
        let m = median(loads.iter().map(|l| l.elapsed).collect());
        (m, rows as f64 / m.as_secs_f64().max(1e-9))
    };
    let mut out = format!(
        "TSBS cpu-only as line protocol: {} hosts, {rows} lines, batches of {} lines over {} \
         connections, fsync on every write; median of {} loads\n\n\
         | server | median s | rows/s | Strata / this | server CPU s | CPU: this / Strata | peak RSS MiB | peak unflushed MiB | 503s retried |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        opts.hosts,
        opts.batch_lines,
        opts.connections,
        opts.runs
    );
    let (st, sr) = rate(strata);
    let cpu = |loads: &[Load]| median(loads.iter().map(|l| l.server_cpu).collect());
    let scpu = cpu(strata);
    let max_rss = |loads: &[Load]| loads.iter().map(|l| l.peak_rss_bytes).max().unwrap_or(0);
    let retries = |loads: &[Load]| loads.iter().map(|l| l.retries).sum::<u64>();
    out.push_str(&format!(
        "| Strata (`fsync = \"always\"`) | {:.2} | {sr:.0} | 1.00x | {:.2} | 1.00x | {} | {} (bound {}) | {} |\n",
        st.as_secs_f64(),
        scpu.as_secs_f64(),
        mb(max_rss(strata)),
        mb(strata
            .iter()
            .filter_map(|l| l.peak_unflushed_bytes)
            .max()
            .unwrap_or(0)),
        mb(opts.memory_limit_bytes as u64),
        retries(strata)
    ));
    if influx.is_empty() {
        out.push_str("| InfluxDB 1.x | - | not run | - | - | - | - | - | - |\n");
    } else {
        let (it, ir) = rate(influx);
        out.push_str(&format!(
            "| InfluxDB 1.x (`wal-fsync-delay = \"0s\"`) | {:.2} | {ir:.0} | {:.2}x | {:.2} | {:.2}x | {} | - | {} |\n",
            it.as_secs_f64(),
            sr / ir,
            cpu(influx).as_secs_f64(),
            cpu(influx).as_secs_f64() / scpu.as_secs_f64().max(1e-9),
            mb(max_rss(influx)),
            retries(influx)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_lines_keeps_every_byte_in_batches_of_n() {
        let lp = b"a 1\nb 2\nc 3\nd 4\ne 5";
        let b = split_lines(lp, 2);
        assert_eq!(b, [&b"a 1\nb 2\n"[..], b"c 3\nd 4\n", b"e 5"]);
        assert_eq!(b.concat(), lp);
        assert_eq!(split_lines(b"x\n", 5), [b"x\n"]);
    }
}
