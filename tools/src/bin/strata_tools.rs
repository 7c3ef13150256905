//! `strata-tools`: command-line front end of the tools crate.
//!
//! ```text
//! strata-tools gen-cpu [--hosts 100] [--start 2016-01-01T00:00:00Z] [--duration 1d]
//!                      [--seed 123] [--decimals 2|full] [--format csv|lp] [--out FILE]
//! strata-tools bench-e2e [--strata target/release/strata] [--python PY|none]
//!                        [--hosts 100] [--duration 1d] [--runs 5] [--dir DIR]
//! strata-tools bench-cold [--strata target/release/strata] [--python PY] [--hosts 100]
//!                         [--days 3] [--runs 5] [--no-s3] [--dir DIR]
//! strata-tools bench-erase [--strata target/release/strata] [--python PY|none] [--days 40]
//!                          [--rows-per-day 1000000] [--users 100000] [--local-days 10]
//!                          [--runs 5] [--dir DIR]
//! strata-tools bench-lp [--strata target/release/strata] [--influxd influxd|none]
//!                       [--hosts 100] [--duration 1d] [--batch-lines 5000]
//!                       [--connections 4] [--runs 3] [--memory-limit-bytes N] [--dir DIR]
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use strata_tools::tsbs::{self, CpuOnly, CpuOnlyConfig};

#[derive(Debug, Parser)]
#[command(name = "strata-tools", about = "Strata data generators and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate the TSBS cpu-only data set (deterministic for a seed).
    GenCpu(GenCpu),
    /// End-to-end benchmark: TSBS cpu-only loaded by COPY and queried over the wire,
    /// next to DuckDB on the same data in the same run.
    BenchE2e(BenchE2e),
    /// Cold-tier benchmark: TSBS cpu-only over several days, all but the newest moved to
    /// the cold tier (local directory and an S3 server), next to DuckDB on the same files.
    BenchCold(BenchCold),
    /// Line-protocol ingest benchmark: TSBS cpu-only POSTed in batches over concurrent
    /// HTTP connections to Strata and to InfluxDB 1.x in the same run.
    BenchLp(BenchLp),
    /// Erasure benchmark: erase one person from an events table over the local and cold
    /// tiers (time until invisible, until purged and verified, bytes rewritten), next to
    /// chDB and DuckDB erasing the same person from the same rows.
    BenchErase(BenchErase),
    /// Print every row and stored value of files Strata writes (WAL files, segments, cold
    /// Parquet objects, the catalog, erasures.log), so their content can be checked
    /// without the server.
    Dump(Dump),
}

#[derive(Debug, clap::Args)]
struct Dump {
    /// Files to print (a directory: every file under it).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct BenchLp {
    /// The strata binary (default: `strata` next to this executable).
    #[arg(long)]
    strata: Option<PathBuf>,
    /// InfluxDB 1.x's `influxd`, or `none` to measure Strata alone.
    #[arg(long, default_value = "influxd")]
    influxd: String,
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    #[arg(long, default_value = "1d", value_parser = tsbs::parse_duration)]
    duration: i64,
    /// Lines per HTTP request.
    #[arg(long, default_value_t = 5000)]
    batch_lines: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Loads per server (each into a fresh data directory); the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Strata's `memory_limit_bytes` (bound on unflushed data) for the load.
    #[arg(long, default_value_t = 256 << 20)]
    memory_limit_bytes: usize,
    /// Working directory (data directories).
    #[arg(long, default_value = "target/bench-lp")]
    dir: PathBuf,
}

#[derive(Debug, clap::Args)]
struct BenchE2e {
    /// The strata binary (default: `strata` next to this executable).
    #[arg(long)]
    strata: Option<PathBuf>,
    /// Python with the `duckdb` package, or `none` to skip DuckDB.
    #[arg(long, default_value = "python3")]
    python: String,
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    #[arg(long, default_value = "1d", value_parser = tsbs::parse_duration)]
    duration: i64,
    /// Timed runs per query (after one warm-up run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Working directory (CSV, data directories).
    #[arg(long, default_value = "target/bench-e2e")]
    dir: PathBuf,
}

#[derive(Debug, clap::Args)]
struct BenchCold {
    /// The strata binary (default: `strata` next to this executable).
    #[arg(long)]
    strata: Option<PathBuf>,
    /// Python with `duckdb` and `moto[server]` (server/tests/python/requirements.txt).
    #[arg(long, default_value = "target/pyenv/bin/python")]
    python: PathBuf,
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// Days of data (one partition each); all but the newest go cold.
    #[arg(long, default_value_t = 3)]
    days: i64,
    /// Timed runs per query and cache state.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Measure the local directory store only.
    #[arg(long)]
    no_s3: bool,
    /// Working directory (CSV, data directories).
    #[arg(long, default_value = "target/bench-cold")]
    dir: PathBuf,
}

#[derive(Debug, clap::Args)]
struct BenchErase {
    /// The strata binary (default: `strata` next to this executable).
    #[arg(long)]
    strata: Option<PathBuf>,
    /// Python with `duckdb` (and `chdb` if installed), or `none` to measure Strata alone.
    #[arg(long, default_value = "target/pyenv/bin/python")]
    python: String,
    /// Days of events, one partition each, ending yesterday.
    #[arg(long, default_value_t = 40)]
    days: i64,
    #[arg(long, default_value_t = 1_000_000)]
    rows_per_day: usize,
    /// People, each active on three of the days.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Newest days left in the local tier (the rest go cold).
    #[arg(long, default_value_t = 10)]
    local_days: i64,
    /// People erased one after the other (medians are reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Working directory (CSV files, data directories).
    #[arg(long, default_value = "target/bench-erase")]
    dir: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// CSV with a header line, RFC 3339 times.
    Csv,
    /// InfluxDB line protocol, nanosecond timestamps.
    Lp,
}

#[derive(Debug, clap::Args)]
struct GenCpu {
    /// Number of hosts (series).
    #[arg(long, default_value_t = 100)]
    hosts: usize,
    /// First timestamp (RFC 3339).
    #[arg(long, default_value = "2016-01-01T00:00:00Z", value_parser = tsbs::parse_time)]
    start: i64,
    /// Time span covered, e.g. 1d, 12h, 90m, 1d12h. One row per host every 10 s.
    #[arg(long, default_value = "1d", value_parser = tsbs::parse_duration)]
    duration: i64,
    /// Random seed.
    #[arg(long, default_value_t = 123)]
    seed: u64,
    /// Decimal places of field values, or `full` for unrounded values.
    #[arg(long, default_value = "2", value_parser = parse_decimals)]
    decimals: Decimals,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy)]
struct Decimals(Option<u32>);

fn parse_decimals(s: &str) -> Result<Decimals, String> {
    if s == "full" {
        return Ok(Decimals(None));
    }
    match s.parse::<u32>() {
        Ok(d) if d <= 15 => Ok(Decimals(Some(d))),
        _ => Err(format!("{s:?} is not 0..=15 or `full`")),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::GenCpu(args) => gen_cpu(args),
        Command::BenchE2e(args) => bench_e2e(args),
        Command::BenchCold(args) => bench_cold(args),
        Command::BenchLp(args) => bench_lp(args),
        Command::BenchErase(args) => bench_erase(args),
        Command::Dump(args) => dump(args),
    }
}

fn dump(args: Dump) -> anyhow::Result<()> {
    fn walk(p: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
                .map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<_>>()?;
            entries.sort();
            for e in entries {
                walk(&e, out)?;
            }
        } else {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut files = Vec::new();
    for f in &args.files {
        walk(f, &mut files)?;
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = 0;
    for f in &files {
        writeln!(out, "== {}", f.display())?;
        if let Err(e) = strata_storage::dump_file(f, &mut out) {
            writeln!(out, "cannot dump: {e}")?;
            failed += 1;
        }
    }
    out.flush()?;
    if failed > 0 && files.len() == 1 {
        anyhow::bail!("{} is not a file Strata writes", files[0].display());
    }
    Ok(())
}

/// `--strata`, or `strata` next to this executable.
fn strata_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None => Ok(std::env::current_exe()?
            .parent()
            .context("executable has no directory")?
            .join("strata")),
    }
}

fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

fn bench_lp(args: BenchLp) -> anyhow::Result<()> {
    let opts = strata_tools::bench_lp::Options {
        strata: strata_binary(args.strata)?,
        influxd: (args.influxd != "none").then(|| PathBuf::from(args.influxd)),
        dir: args.dir,
        hosts: args.hosts,
        duration_ns: args.duration,
        batch_lines: args.batch_lines,
        connections: args.connections,
        runs: args.runs.max(1),
        memory_limit_bytes: args.memory_limit_bytes,
    };
    let report = block_on(strata_tools::bench_lp::run(&opts))?;
    std::io::stdout().lock().write_all(report.as_bytes())?;
    Ok(())
}

fn bench_e2e(args: BenchE2e) -> anyhow::Result<()> {
    let opts = strata_tools::bench_e2e::Options {
        strata: strata_binary(args.strata)?,
        python: (args.python != "none").then(|| PathBuf::from(args.python)),
        dir: args.dir,
        hosts: args.hosts,
        duration_ns: args.duration,
        runs: args.runs.max(1),
    };
    let report = block_on(strata_tools::bench_e2e::run(&opts))?;
    std::io::stdout().lock().write_all(report.as_bytes())?;
    Ok(())
}

fn bench_cold(args: BenchCold) -> anyhow::Result<()> {
    let opts = strata_tools::bench_cold::Options {
        strata: strata_binary(args.strata)?,
        python: args.python,
        dir: args.dir,
        hosts: args.hosts,
        days: args.days,
        runs: args.runs.max(1),
        s3: !args.no_s3,
    };
    let report = block_on(strata_tools::bench_cold::run(&opts))?;
    std::io::stdout().lock().write_all(report.as_bytes())?;
    Ok(())
}

fn bench_erase(args: BenchErase) -> anyhow::Result<()> {
    let opts = strata_tools::bench_erase::Options {
        strata: strata_binary(args.strata)?,
        python: (args.python != "none").then(|| PathBuf::from(args.python)),
        dir: args.dir,
        data: strata_tools::bench_erase::EventsConfig {
            days: args.days,
            rows_per_day: args.rows_per_day,
            users: args.users,
            seed: args.seed,
        },
        local_days: args.local_days,
        runs: args.runs.max(1),
    };
    let report = block_on(strata_tools::bench_erase::run(&opts))?;
    std::io::stdout().lock().write_all(report.as_bytes())?;
    Ok(())
}

fn gen_cpu(args: GenCpu) -> anyhow::Result<()> {
    let mut generator = CpuOnly::new(CpuOnlyConfig {
        hosts: args.hosts,
        start_ns: args.start,
        duration_ns: args.duration,
        seed: args.seed,
        decimals: args.decimals.0,
    });
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::with_capacity(
            1 << 20,
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout().lock())),
    };
    match args.format {
        Format::Csv => generator.write_csv(&mut out)?,
        Format::Lp => generator.write_line_protocol(&mut out)?,
    }
    out.flush()?;
    Ok(())
}
