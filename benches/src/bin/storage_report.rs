//! `strata-bench-storage`: the storage engine's benchmark report (issue: storage engine
//! core, item 8). Generates the TSBS cpu-only data set, then in one run:
//!
//! 1. writes it through [`Engine::write`] with `fsync=always` from several writer threads
//!    (group commit) and reports rows/s and field values/s;
//! 2. flushes and compacts, and reports bytes on disk per stored field value, next to
//!    DuckDB and chDB loading the same data as CSV (`benches/compare/storage_size.py`, run
//!    with `--python`);
//! 3. scans the table warm and reports decoded bytes/s next to a memory-copy bandwidth of
//!    the same size measured in the same run.
//!
//! Prints a Markdown report; `benches/README.md` records one.

// The report is this program's output.
#![allow(clippy::print_stdout)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use parking_lot::Mutex;
use strata_benches::{decoded_bytes, median_of, memcpy_bandwidth, thousands};
use strata_storage::{Engine, EngineConfig, FsyncPolicy, ScanRequest, WriteBatch};
use strata_tools::tsbs::{self, CpuOnly, CpuOnlyConfig, FIELD_NAMES, TIME_COLUMN};

#[derive(Debug, Parser)]
#[command(
    name = "strata-bench-storage",
    about = "Storage engine benchmark report"
)]
struct Args {
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    #[arg(long, default_value = "1d", value_parser = tsbs::parse_duration)]
    duration: i64,
    #[arg(long, default_value_t = 123)]
    seed: u64,
    /// Concurrent writer threads (their appends share group commits).
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Rows per write batch.
    #[arg(long, default_value_t = 5000)]
    batch_rows: usize,
    /// Warm runs per scan measurement (the median is reported).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Python with the `duckdb` and `chdb` packages, for the size comparison; `none` skips
    /// it.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Working directory (default: a fresh temporary directory, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Debug)]
struct Comparison {
    name: String,
    bytes: Option<u64>,
    note: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp;
    let work: &Path = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d
        }
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path()
        }
    };
    let config = CpuOnlyConfig {
        hosts: args.hosts,
        duration_ns: args.duration,
        seed: args.seed,
        ..CpuOnlyConfig::default()
    };
    let schema = CpuOnly::schema();
    let rows = config.rows();
    let values = rows * FIELD_NAMES.len() as u64;
    eprintln!("generating {} rows ({} hosts)", thousands(rows), args.hosts);
    let mut generator = CpuOnly::new(config.clone());
    let mut batches = VecDeque::new();
    loop {
        let mut batch = WriteBatch::new(&schema);
        if generator.fill_batch(&mut batch, args.batch_rows)? == 0 {
            break;
        }
        batches.push_back(batch);
    }

    // 1. Writes, fsync=always, group commit.
    let data_dir = work.join("strata");
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut engine_config = EngineConfig::new(&data_dir);
    engine_config.fsync = FsyncPolicy::Always;
    let engine = Arc::new(Engine::open(engine_config)?);
    engine.create_table(schema.clone())?;
    let queue = Arc::new(Mutex::new(batches));
    eprintln!("writing with {} writers", args.writers);
    let start = Instant::now();
    let handles: Vec<_> = (0..args.writers)
        .map(|_| {
            let engine = Arc::clone(&engine);
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut written = 0;
                loop {
                    let Some(batch) = queue.lock().pop_front() else {
                        return Ok(written);
                    };
                    loop {
                        match engine.write(&batch) {
                            Ok(r) => {
                                written += r.rows as u64;
                                break;
                            }
                            Err(e) if e.is_retryable() => continue,
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
            })
        })
        .collect();
    let mut written = 0;
    for h in handles {
        written += h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
    }
    let write_time = start.elapsed();
    if written != rows {
        bail!("wrote {written} rows, expected {rows}");
    }
    let start = Instant::now();
    engine.flush()?;
    engine.compact()?;
    let settle_time = start.elapsed();

    // 2. Bytes on disk.
    let stats = engine.partition_stats(tsbs::TABLE)?;
    let stored_rows: u64 = stats.iter().map(|s| s.2).sum();
    let seg_bytes: u64 = stats.iter().map(|s| s.3).sum();
    if stored_rows != rows {
        bail!("segments hold {stored_rows} rows, expected {rows}");
    }

    // 3. Scans.
    let all = ScanRequest::new(tsbs::TABLE);
    let fields = ScanRequest::new(tsbs::TABLE)
        .with_projection(std::iter::once(TIME_COLUMN).chain(FIELD_NAMES));
    let scan_bytes = |req: &ScanRequest| -> anyhow::Result<usize> {
        let mut bytes = 0;
        let mut n = 0;
        for b in engine.scan(req)? {
            let b = b?;
            n += b.num_rows();
            bytes += decoded_bytes(&b);
        }
        if n as u64 != rows {
            bail!("scan returned {n} rows, expected {rows}");
        }
        Ok(bytes)
    };
    let all_bytes = scan_bytes(&all)?;
    let field_bytes = scan_bytes(&fields)?;
    let t_all = median_of(args.runs, || {
        scan_bytes(&all).expect("scan");
    });
    let t_fields = median_of(args.runs, || {
        scan_bytes(&fields).expect("scan");
    });
    let memcpy = memcpy_bandwidth(field_bytes, args.runs.max(5));
    engine.close();

    // Comparisons.
    let comparisons = if args.python == "none" {
        Vec::new()
    } else {
        compare(&args.python, &config, work).unwrap_or_else(|e| {
            vec![Comparison {
                name: "DuckDB / chDB".into(),
                bytes: None,
                note: format!("not measured: {e:#}"),
            }]
        })
    };

    let per_value = |bytes: u64| bytes as f64 / values as f64;
    let gbps = |bytes: usize, secs: f64| bytes as f64 / secs / 1e9;
    println!(
        "## Storage engine: TSBS cpu-only, {} hosts x {}",
        args.hosts,
        human_span(args.duration)
    );
    println!();
    println!(
        "{} rows, {} field values; {} writers, {} rows per batch, fsync=always.",
        thousands(rows),
        thousands(values),
        args.writers,
        args.batch_rows
    );
    println!();
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| write (WAL fsync=always, group commit) | {} rows/s = {} field values/s ({:.2} s) |",
        thousands((rows as f64 / write_time.as_secs_f64()) as u64),
        thousands((values as f64 / write_time.as_secs_f64()) as u64),
        write_time.as_secs_f64()
    );
    println!(
        "| final flush + compaction | {:.2} s |",
        settle_time.as_secs_f64()
    );
    println!(
        "| scan, all 21 columns, warm, median of {} | {:.2} GB/s decoded ({} MB in {:.1} ms) |",
        args.runs,
        gbps(all_bytes, t_all.as_secs_f64()),
        all_bytes / 1_000_000,
        t_all.as_secs_f64() * 1e3
    );
    println!(
        "| scan, time + 10 fields, warm, median of {} | {:.2} GB/s decoded ({} MB in {:.1} ms) |",
        args.runs,
        gbps(field_bytes, t_fields.as_secs_f64()),
        field_bytes / 1_000_000,
        t_fields.as_secs_f64() * 1e3
    );
    let field_bw = field_bytes as f64 / t_fields.as_secs_f64();
    println!(
        "| memcpy of the same {} MB, same run | {:.2} GB/s; fields scan is {:.2}x slower |",
        field_bytes / 1_000_000,
        memcpy / 1e9,
        memcpy / field_bw
    );
    println!();
    println!("| engine | bytes on disk | bytes per field value | layout |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| Strata | {} | {:.3} | segments after flush + compaction (time, tags, fields, bitmaps, footers) |",
        thousands(seg_bytes),
        per_value(seg_bytes)
    );
    for c in &comparisons {
        match c.bytes {
            Some(b) => println!(
                "| {} | {} | {:.3} | {} |",
                c.name,
                thousands(b),
                per_value(b),
                c.note
            ),
            None => println!("| {} | - | - | {} |", c.name, c.note),
        }
    }
    Ok(())
}

fn human_span(ns: i64) -> String {
    let s = ns / 1_000_000_000;
    if s % 86_400 == 0 {
        format!("{} day(s)", s / 86_400)
    } else if s % 3_600 == 0 {
        format!("{} hour(s)", s / 3_600)
    } else {
        format!("{s} s")
    }
}

/// Writes the same data as CSV and runs the DuckDB / chDB size script on it.
fn compare(python: &str, config: &CpuOnlyConfig, work: &Path) -> anyhow::Result<Vec<Comparison>> {
    let csv = work.join("cpu.csv");
    {
        let file = std::fs::File::create(&csv)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        CpuOnly::new(config.clone()).write_csv(&mut out)?;
        std::io::Write::flush(&mut out)?;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("compare/storage_size.py");
    eprintln!("loading the same CSV into DuckDB and chDB ({python})");
    let output = Command::new(python)
        .arg(&script)
        .arg(&csv)
        .arg(work.join("compare"))
        .output()
        .with_context(|| format!("running {python} {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("parsing the output of {}", script.display()))?;
    let mut out = Vec::new();
    for key in ["duckdb", "chdb"] {
        let v = &json[key];
        if let Some(err) = v["error"].as_str() {
            out.push(Comparison {
                name: key.into(),
                bytes: None,
                note: format!("not measured: {err}"),
            });
            continue;
        }
        let rows = v["rows"].as_u64().unwrap_or(0);
        if rows != config.rows() {
            bail!("{key} loaded {rows} rows, expected {}", config.rows());
        }
        out.push(Comparison {
            name: v["engine"].as_str().unwrap_or(key).to_owned(),
            bytes: v["bytes"].as_u64(),
            note: v["layout"].as_str().unwrap_or("").to_owned(),
        });
    }
    Ok(out)
}
