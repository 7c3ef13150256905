//! `strata`: the Strata server binary.
//!
//! `strata serve` runs with no configuration: data in `./strata-data`, PostgreSQL wire
//! protocol on 127.0.0.1:5433, InfluxDB line protocol over HTTP on 127.0.0.1:8086,
//! database `strata`, user `strata` with password `strata`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strata_server::config::{Config, Overrides};

#[derive(Parser, Debug)]
#[command(
    name = "strata",
    version,
    about = "Strata: a time-series database that speaks PostgreSQL"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (default ./strata-data; env STRATA_DATA_DIR).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// PostgreSQL wire protocol address (default 127.0.0.1:5433; env STRATA_PG_LISTEN).
        #[arg(long)]
        pg_listen: Option<String>,
        /// HTTP address for line-protocol ingestion (default 127.0.0.1:8086; env
        /// STRATA_HTTP_LISTEN).
        #[arg(long)]
        http_listen: Option<String>,
        /// Where cold partitions go: file:///abs/dir or s3://bucket/prefix (default
        /// file://<data dir>/cold; env STRATA_COLD_STORE).
        #[arg(long)]
        cold_store: Option<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let Command::Serve {
        config,
        data_dir,
        pg_listen,
        http_listen,
        cold_store,
    } = cli.command;
    let flags = Overrides {
        config,
        data_dir,
        pg_listen,
        http_listen,
        cold_store,
    };
    let config = match Config::load(&flags, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("strata: {e}");
            return ExitCode::from(2);
        }
    };
    // Planning recurses once per expression level (bounded by
    // `strata_query::limits::MAX_EXPRESSION_DEPTH`); give every runtime thread room for it.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 << 20)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("strata: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(strata_server::run(config, |addr| {
        // Scripts and tests wait for these lines.
        eprintln!(
            "strata: listening for HTTP (line protocol) on {}",
            addr.http
        );
        eprintln!(
            "strata: listening for PostgreSQL connections on {}",
            addr.pg
        );
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata: {e:#}");
            ExitCode::FAILURE
        }
    }
}
