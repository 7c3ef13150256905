//! Strata tools: data generators for benchmarks and tests (the TSBS cpu-only data set,
//! [`tsbs`]) and load drivers ([`bench_e2e`]: the end-to-end benchmark over the wire;
//! [`bench_cold`]: queries over the cold tier next to DuckDB on the same Parquet files;
//! [`bench_lp`]: line-protocol ingest over HTTP next to InfluxDB 1.x; [`bench_erase`]:
//! erasing one person from a table over both tiers next to chDB and DuckDB), with the servers
//! they start ([`process`]) and a minimal HTTP client ([`http_client`]).
//!
//! Everything here is deterministic for a given seed, so a benchmark or a test can
//! regenerate exactly the data another run used.

pub mod bench_cold;
pub mod bench_e2e;
pub mod bench_erase;
pub mod bench_lp;
pub mod http_client;
pub mod process;
pub mod tsbs;
