//! `strata-tools`: command-line front end of the tools crate.
//!
//! ```text
//! strata-tools gen-cpu [--hosts 100] [--start 2016-01-01T00:00:00Z] [--duration 1d]
//!                      [--seed 123] [--decimals 2|full] [--format csv|lp] [--out FILE]
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
    }
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
