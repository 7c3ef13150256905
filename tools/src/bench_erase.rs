//! The erasure benchmark: erase one person from an events table of about 1 GB spread over
//! the local and cold tiers, next to chDB and DuckDB erasing the same person from the same
//! rows in the same run.
//!
//! Data ([`EventsConfig`]): `days` daily partitions of `rows_per_day` events each, ending
//! yesterday; each of `users` people is active on three days (drawn from the seed), and each
//! event of a day belongs to one of that day's active people. A person's rows therefore sit
//! in three partitions of `days`, as a user of an application's would.
//!
//! Strata (release binary, fresh data directory): `events` with `partition_interval = '1
//! day'`, `cold_after` such that all but the newest `local_days` days go to the cold tier,
//! and `subject_column = 'user_id'`; loaded by one `COPY` per day, then every job run until
//! idle. For each of `runs` people: `ERASE SUBJECT` is timed until it returns (the rows are
//! invisible then; checked), then `system.erasures` is polled until the receipt is
//! `verified` (the purge job, started by the erasure, rewrote every file that held the rows
//! and a verification pass re-read them). Bytes rewritten are the sizes of the files the
//! receipt lists as written, against the sizes of the files it lists as having held the
//! person's rows and of the whole table (segments and cold objects) before.
//!
//! Reference (`benches/compare/erase_reference.py`): DuckDB loads the same CSV files into a
//! database file and times `DELETE` then `CHECKPOINT`; chDB (if its package is importable)
//! loads them into a MergeTree table partitioned by day and times `DELETE FROM` (lightweight
//! delete) then `OPTIMIZE TABLE ... FINAL`, the statement that removes the rows physically.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::bench_e2e::{connect, median};
use crate::process::start_strata;
use crate::tsbs::write_rfc3339;

const DAY_NS: i64 = 86_400_000_000_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub strata: PathBuf,
    /// Python with `duckdb` (and `chdb`, if installed), or `None` to measure Strata alone.
    pub python: Option<PathBuf>,
    pub dir: PathBuf,
    pub data: EventsConfig,
    /// Newest days left in the local tier; the older ones go cold.
    pub local_days: i64,
    /// People erased, one after the other; medians are reported.
    pub runs: usize,
}

/// The events data set.
#[derive(Debug, Clone, Copy)]
pub struct EventsConfig {
    pub days: i64,
    pub rows_per_day: usize,
    pub users: usize,
    pub seed: u64,
}

impl EventsConfig {
    /// The three days person `u` is active on (distinct when there are three days).
    fn active_days(&self, u: usize) -> Vec<i64> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (u as u64).wrapping_mul(0x9E37_79B9));
        let mut days: Vec<i64> = Vec::new();
        while days.len() < 3.min(self.days as usize) {
            let d = rng.random_range(0..self.days);
            if !days.contains(&d) {
                days.push(d);
            }
        }
        days
    }

    /// Person `u`'s name.
    pub fn user(u: usize) -> String {
        format!("user-{u:07}")
    }

    /// Writes day `d`'s CSV (with a header line) starting at `start_ns`; the people active
    /// that day come from `active`, and `rows` counts each person's rows.
    fn write_day(
        &self,
        out: &mut impl Write,
        d: i64,
        start_ns: i64,
        active: &[usize],
        rows: &mut [u64],
    ) -> Result<()> {
        writeln!(out, "time,user_id,device,kind,value,amount")?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_add(d as u64 + 1));
        let step = DAY_NS / self.rows_per_day as i64;
        const KINDS: [&str; 6] = ["view", "click", "search", "cart", "buy", "share"];
        for i in 0..self.rows_per_day {
            let ts = start_ns + i as i64 * step;
            let u = active[rng.random_range(0..active.len())];
            rows[u] += 1;
            write_rfc3339(out, ts)?;
            let value: f64 = rng.random_range(0.0..1000.0);
            let amount: f64 = rng.random_range(0.0..100.0);
            writeln!(
                out,
                ",{},dev-{},{},{:.3},{:.2}",
                Self::user(u),
                (u * 7) % 5000,
                KINDS[rng.random_range(0..KINDS.len())],
                value,
                amount
            )?;
        }
        Ok(())
    }

    /// Writes one CSV per day under `dir` (`day-NNN.csv`), day 0 starting at `first_day_ns`;
    /// returns their paths and, per person, the rows written.
    fn write_csvs(&self, dir: &Path, first_day_ns: i64) -> Result<(Vec<PathBuf>, Vec<u64>)> {
        let mut by_day: Vec<Vec<usize>> = vec![Vec::new(); self.days as usize];
        for u in 0..self.users {
            for d in self.active_days(u) {
                by_day[d as usize].push(u);
            }
        }
        let mut files = Vec::new();
        let mut rows = vec![0u64; self.users];
        for (d, active) in by_day.iter().enumerate() {
            let path = dir.join(format!("day-{d:03}.csv"));
            if active.is_empty() {
                bail!("day {d} has no active people: raise --users");
            }
            let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
            self.write_day(
                &mut out,
                d as i64,
                first_day_ns + d as i64 * DAY_NS,
                active,
                &mut rows,
            )?;
            out.flush()?;
            files.push(path);
        }
        Ok((files, rows))
    }
}

/// One erasure in Strata.
#[derive(Debug, Clone)]
struct StrataRun {
    rows: u64,
    invisible: Duration,
    verified: Duration,
    files: usize,
    bytes_held: u64,
    bytes_written: u64,
}

/// Strata's figures.
#[derive(Debug, Clone)]
struct StrataResult {
    rows: u64,
    load: Duration,
    table_bytes: u64,
    cold_bytes: u64,
    runs: Vec<StrataRun>,
}

/// One erasure in a reference engine.
#[derive(Debug, Clone)]
struct RefRun {
    rows: u64,
    delete: Duration,
    purge: Duration,
}

#[derive(Debug, Clone)]
struct RefResult {
    load: Duration,
    bytes: u64,
    runs: Vec<RefRun>,
}

/// Runs the benchmark and returns the report.
pub async fn run(opts: &Options) -> Result<String> {
    std::fs::create_dir_all(&opts.dir)?;
    let today = chrono::Utc::now().timestamp_nanos_opt().context("clock")? / DAY_NS * DAY_NS;
    let first_day = today - opts.data.days * DAY_NS;
    let csv_dir = opts.dir.join("csv");
    std::fs::create_dir_all(&csv_dir)?;
    let (files, rows_per_user) = opts.data.write_csvs(&csv_dir, first_day)?;
    // People with rows, spread over the id space.
    let people: Vec<usize> = (0..opts.runs)
        .map(|i| (i * 7919 + 17) % opts.data.users)
        .filter(|&u| rows_per_user[u] > 0)
        .collect();
    let strata = measure_strata(opts, &files, &people, &rows_per_user).await?;
    let (duck, chdb) = match &opts.python {
        Some(py) => measure_reference(py, &opts.dir, &csv_dir, &people)?,
        None => (None, None),
    };
    Ok(report(opts, &strata, duck.as_ref(), chdb.as_ref()))
}

/// Bytes of every file under `dir`, by path relative to `root`.
fn file_sizes(root: &Path, dir: &Path, out: &mut HashMap<String, u64>) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if p.is_dir() {
            file_sizes(root, &p, out)?;
        } else {
            let rel = p.strip_prefix(root)?.to_string_lossy().into_owned();
            out.insert(rel, e.metadata()?.len());
        }
    }
    Ok(())
}

/// Segments (`tables/...`) and cold objects (`cold/...`) by path under the data directory.
fn table_files(data: &Path) -> Result<HashMap<String, u64>> {
    let mut sizes = HashMap::new();
    file_sizes(data, &data.join("tables"), &mut sizes)?;
    file_sizes(data, &data.join("cold"), &mut sizes)?;
    Ok(sizes)
}

async fn measure_strata(
    opts: &Options,
    files: &[PathBuf],
    people: &[usize],
    rows_per_user: &[u64],
) -> Result<StrataResult> {
    let data = opts.dir.join("strata-data");
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    let server = start_strata(&opts.strata, &data, &[])?;
    let c = connect(server.pg).await?;
    c.batch_execute(&format!(
        "CREATE TABLE events (time timestamptz NOT NULL, user_id text, device text, kind text,
                              value double precision, amount double precision)
           WITH (partition_interval = '1 day', cold_after = '{} days', subject_column = 'user_id')",
        opts.local_days
    ))
    .await?;
    let start = Instant::now();
    let mut rows = 0;
    for f in files {
        let bytes = std::fs::read(f)?;
        let sink = c
            .copy_in("COPY events FROM STDIN WITH (FORMAT csv, HEADER true)")
            .await?;
        futures::pin_mut!(sink);
        for chunk in bytes.chunks(1 << 20) {
            futures::SinkExt::send(&mut sink, bytes::Bytes::copy_from_slice(chunk)).await?;
        }
        rows += sink.finish().await?;
    }
    let load = start.elapsed();
    // Everything flushed, compacted and tiered before the erasures.
    for _ in 0..5 {
        c.batch_execute("CALL strata.run_jobs()").await?;
    }
    let sizes = table_files(&data)?;
    let table_bytes: u64 = sizes.values().sum();
    let cold_bytes: u64 = sizes
        .iter()
        .filter(|(k, _)| k.starts_with("cold/"))
        .map(|(_, v)| v)
        .sum();
    let mut runs = Vec::new();
    for &u in people {
        let before = table_files(&data)?;
        let who = EventsConfig::user(u);
        let t = Instant::now();
        let row = c.query_one(&format!("ERASE SUBJECT '{who}'"), &[]).await?;
        let invisible = t.elapsed();
        let id: i64 = row.get("erasure_id");
        let erased: i64 = row.get("rows_erased");
        let verified = loop {
            let state: String = c
                .query_one(
                    "SELECT state FROM system.erasures WHERE erasure_id = $1",
                    &[&id],
                )
                .await?
                .get(0);
            if state == "verified" {
                break t.elapsed();
            }
            if t.elapsed() > Duration::from_secs(600) {
                bail!("erasure {id} not verified after 10 minutes (state {state})");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        if erased as u64 != rows_per_user[u] {
            bail!("erased {erased} rows of {who}, wrote {}", rows_per_user[u]);
        }
        let left: i64 = c
            .query_one("SELECT count(*) FROM events WHERE user_id = $1", &[&who])
            .await?
            .get(0);
        if left != 0 {
            bail!("{left} rows of {who} still visible");
        }
        let after = table_files(&data)?;
        let changed = c
            .query(
                "SELECT tier, file, file_after FROM system.erasure_files WHERE erasure_id = $1",
                &[&id],
            )
            .await?;
        let path = |tier: &str, f: &str| {
            if tier == "cold" {
                format!("cold/{f}")
            } else {
                f.to_owned()
            }
        };
        let mut bytes_held = 0;
        let mut bytes_written = 0;
        for r in &changed {
            let tier: String = r.get(0);
            let file: String = r.get(1);
            let file_after: Option<String> = r.get(2);
            bytes_held += before.get(&path(&tier, &file)).copied().unwrap_or(0);
            if let Some(f) = file_after {
                bytes_written += after.get(&path(&tier, &f)).copied().unwrap_or(0);
            }
        }
        runs.push(StrataRun {
            rows: erased as u64,
            invisible,
            verified,
            files: changed.len(),
            bytes_held,
            bytes_written,
        });
    }
    drop(server);
    Ok(StrataResult {
        rows,
        load,
        table_bytes,
        cold_bytes,
        runs,
    })
}

fn measure_reference(
    py: &Path,
    dir: &Path,
    csv_dir: &Path,
    people: &[usize],
) -> Result<(Option<RefResult>, Option<RefResult>)> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/compare/erase_reference.py");
    let names: Vec<String> = people.iter().map(|&u| EventsConfig::user(u)).collect();
    let out = std::process::Command::new(py)
        .arg(&script)
        .arg(csv_dir)
        .arg(dir)
        .args(&names)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {} {}", py.display(), script.display()))?;
    if !out.status.success() {
        bail!("{} failed", script.display());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let secs = |x: &serde_json::Value| Duration::from_secs_f64(x.as_f64().unwrap_or(0.0));
    let parse = |v: &serde_json::Value| -> Option<RefResult> {
        if v.is_null() {
            return None;
        }
        Some(RefResult {
            load: secs(&v["load_s"]),
            bytes: v["bytes"].as_u64().unwrap_or(0),
            runs: v["runs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| RefRun {
                            rows: r["rows"].as_u64().unwrap_or(0),
                            delete: secs(&r["delete_s"]),
                            purge: secs(&r["purge_s"]),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    };
    Ok((parse(&v["duckdb"]), parse(&v["chdb"])))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mb(b: u64) -> f64 {
    b as f64 / 1e6
}

fn report(
    opts: &Options,
    s: &StrataResult,
    duck: Option<&RefResult>,
    chdb: Option<&RefResult>,
) -> String {
    let mut out = String::new();
    let n = s.runs.len().max(1);
    let med = |f: &dyn Fn(&StrataRun) -> Duration| median(s.runs.iter().map(f).collect());
    let med_u = |f: &dyn Fn(&StrataRun) -> u64| {
        let mut v: Vec<u64> = s.runs.iter().map(f).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    out.push_str(&format!(
        "erasure benchmark: {} days x {} events ({} rows, {} people active 3 days each), \
         {} newest days local, the rest cold; {} people erased one after the other, medians\n\n",
        opts.data.days, opts.data.rows_per_day, s.rows, opts.data.users, opts.local_days, n
    ));
    out.push_str(&format!(
        "Strata table on disk: {:.1} MB ({:.1} MB cold), loaded by COPY in {:.1} s\n\n",
        mb(s.table_bytes),
        mb(s.cold_bytes),
        s.load.as_secs_f64()
    ));
    out.push_str("| engine | rows erased | until invisible ms | until purged (and verified) ms | files rewritten | bytes of files that held the rows MB | bytes rewritten MB | rewritten / held | rewritten / table |\n|---|---|---|---|---|---|---|---|---|\n");
    let held = med_u(&|r| r.bytes_held);
    let written = med_u(&|r| r.bytes_written);
    out.push_str(&format!(
        "| Strata (ERASE SUBJECT, purge job) | {} | {:.1} | {:.0} | {} | {:.1} | {:.1} | {:.2} | {:.4} |\n",
        med_u(&|r| r.rows),
        ms(med(&|r| r.invisible)),
        ms(med(&|r| r.verified)),
        med_u(&|r| r.files as u64),
        mb(held),
        mb(written),
        written as f64 / held.max(1) as f64,
        written as f64 / s.table_bytes.max(1) as f64
    ));
    let mut notes = Vec::new();
    for (name, r) in [
        ("chDB (DELETE FROM, then OPTIMIZE TABLE FINAL)", chdb),
        ("DuckDB (DELETE, then CHECKPOINT)", duck),
    ] {
        let Some(r) = r else {
            out.push_str(&format!("| {name} | not run | | | | | | | |\n"));
            continue;
        };
        let mut rows: Vec<u64> = r.runs.iter().map(|x| x.rows).collect();
        rows.sort_unstable();
        let rows = rows.get(rows.len() / 2).copied().unwrap_or(0);
        let same = r.runs.len() == s.runs.len()
            && r.runs.iter().zip(&s.runs).all(|(a, b)| a.rows == b.rows);
        if !same {
            notes.push(format!("{name} erased other row counts than Strata"));
        }
        let delete = median(r.runs.iter().map(|x| x.delete).collect());
        let purge = median(r.runs.iter().map(|x| x.delete + x.purge).collect());
        out.push_str(&format!(
            "| {name} | {rows} | {:.1} | {:.0} | - | - | - | - | - |\n",
            ms(delete),
            ms(purge)
        ));
    }
    out.push('\n');
    for n in notes {
        out.push_str(&format!("(!) {n}\n"));
    }
    for (name, r) in [("chDB", chdb), ("DuckDB", duck)] {
        if let Some(r) = r {
            out.push_str(&format!(
                "{name}: loaded in {:.1} s, {:.1} MB on disk\n",
                r.load.as_secs_f64(),
                mb(r.bytes)
            ));
        }
    }
    out.push_str("\nper run (Strata rows / invisible ms / verified ms / files / MB rewritten):");
    for r in &s.runs {
        out.push_str(&format!(
            " {}/{:.1}/{:.0}/{}/{:.1}",
            r.rows,
            ms(r.invisible),
            ms(r.verified),
            r.files,
            mb(r.bytes_written)
        ));
    }
    out.push('\n');
    out
}
