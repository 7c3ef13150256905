//! A deterministic generator for the TSBS "cpu-only" data set.
//!
//! The shape follows the Time Series Benchmark Suite's devops `cpu` measurement: every host
//! has ten tags (hostname, region, datacenter, rack, os, arch, team, service,
//! service_version, service_environment) and reports ten CPU usage fields every 10 seconds.
//! Each field is a random walk with standard-normal steps, clamped to `[0, 100]`, starting
//! at a uniform random value. Output values are rounded to `decimals` places (2 by default);
//! the walk itself keeps full precision so rounding does not bias it.
//!
//! Rows come in time order, all hosts for one timestamp before the next timestamp, as a
//! fleet of collectors would send them. The same [`CpuOnlyConfig`] always yields the same
//! rows: everything is drawn from one ChaCha8 stream seeded by `seed`.

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use strata_storage::{FieldType, TableSchema, Value, WriteBatch};

/// The table (measurement) name.
pub const TABLE: &str = "cpu";
/// The time column name.
pub const TIME_COLUMN: &str = "time";
/// Tag names, in column order.
pub const TAG_NAMES: [&str; 10] = [
    "hostname",
    "region",
    "datacenter",
    "rack",
    "os",
    "arch",
    "team",
    "service",
    "service_version",
    "service_environment",
];
/// Field names, in column order.
pub const FIELD_NAMES: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

const REGIONS: [(&str, &[&str]); 9] = [
    (
        "us-east-1",
        &["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"],
    ),
    ("us-west-1", &["us-west-1a", "us-west-1b"]),
    ("us-west-2", &["us-west-2a", "us-west-2b", "us-west-2c"]),
    ("eu-west-1", &["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ("eu-central-1", &["eu-central-1a", "eu-central-1b"]),
    ("ap-southeast-1", &["ap-southeast-1a", "ap-southeast-1b"]),
    ("ap-southeast-2", &["ap-southeast-2a", "ap-southeast-2b"]),
    ("ap-northeast-1", &["ap-northeast-1a", "ap-northeast-1c"]),
    ("sa-east-1", &["sa-east-1a", "sa-east-1b", "sa-east-1c"]),
];
const OSES: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCHES: [&str; 2] = ["x64", "x86"];
const TEAMS: [&str; 4] = ["SF", "NYC", "LON", "CHI"];
const ENVIRONMENTS: [&str; 3] = ["production", "staging", "test"];
const RACKS: u32 = 100;
const SERVICES: u32 = 20;
const SERVICE_VERSIONS: u32 = 2;

/// 2016-01-01T00:00:00Z, TSBS's default start, in nanoseconds.
pub const DEFAULT_START_NS: i64 = 1_451_606_400_000_000_000;
/// One reading per host every 10 seconds.
pub const INTERVAL_NS: i64 = 10_000_000_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuOnlyConfig {
    pub hosts: usize,
    /// First timestamp, nanoseconds UTC.
    pub start_ns: i64,
    /// Length of the covered span; timestamps are `start_ns + k * INTERVAL_NS < start_ns +
    /// duration_ns`.
    pub duration_ns: i64,
    pub seed: u64,
    /// Decimal places of output values; `None` keeps full precision.
    pub decimals: Option<u32>,
}

impl Default for CpuOnlyConfig {
    /// 100 hosts for one day from 2016-01-01, seed 123, 2 decimals.
    fn default() -> Self {
        CpuOnlyConfig {
            hosts: 100,
            start_ns: DEFAULT_START_NS,
            duration_ns: 86_400_000_000_000,
            seed: 123,
            decimals: Some(2),
        }
    }
}

impl CpuOnlyConfig {
    /// Readings per host.
    pub fn ticks(&self) -> u64 {
        if self.duration_ns <= 0 {
            return 0;
        }
        (self.duration_ns as u64).div_ceil(INTERVAL_NS as u64)
    }

    /// Total rows the generator yields.
    pub fn rows(&self) -> u64 {
        self.ticks() * self.hosts as u64
    }
}

/// One generated row: the host (index into [`CpuOnly::host_tags`]), the time and the ten
/// field values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuRow {
    pub host: usize,
    pub ts: i64,
    pub values: [f64; 10],
}

/// The generator: an iterator of [`CpuRow`]s.
#[derive(Debug, Clone)]
pub struct CpuOnly {
    config: CpuOnlyConfig,
    hosts: Vec<[String; 10]>,
    walks: Vec<[f64; 10]>,
    rng: ChaCha8Rng,
    scale: Option<f64>,
    tick: u64,
    ticks: u64,
    next_host: usize,
}

impl CpuOnly {
    pub fn new(config: CpuOnlyConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut hosts = Vec::with_capacity(config.hosts);
        let mut walks = Vec::with_capacity(config.hosts);
        for i in 0..config.hosts {
            let (region, datacenters) = REGIONS[rng.random_range(0..REGIONS.len())];
            let datacenter = datacenters[rng.random_range(0..datacenters.len())];
            hosts.push([
                format!("host_{i}"),
                region.to_owned(),
                datacenter.to_owned(),
                rng.random_range(0..RACKS).to_string(),
                OSES[rng.random_range(0..OSES.len())].to_owned(),
                ARCHES[rng.random_range(0..ARCHES.len())].to_owned(),
                TEAMS[rng.random_range(0..TEAMS.len())].to_owned(),
                rng.random_range(0..SERVICES).to_string(),
                rng.random_range(0..SERVICE_VERSIONS).to_string(),
                ENVIRONMENTS[rng.random_range(0..ENVIRONMENTS.len())].to_owned(),
            ]);
            walks.push(std::array::from_fn(|_| rng.random_range(0.0..100.0)));
        }
        let scale = config.decimals.map(|d| 10f64.powi(d as i32));
        let ticks = config.ticks();
        CpuOnly {
            config,
            hosts,
            walks,
            rng,
            scale,
            tick: 0,
            ticks,
            next_host: 0,
        }
    }

    pub fn config(&self) -> &CpuOnlyConfig {
        &self.config
    }

    /// The ten tag values of host `host`, in [`TAG_NAMES`] order.
    pub fn host_tags(&self, host: usize) -> &[String; 10] {
        &self.hosts[host]
    }

    /// The Strata schema of the data set: table `cpu`, ten tags, ten float fields.
    pub fn schema() -> TableSchema {
        TableSchema::new(
            TABLE,
            TIME_COLUMN,
            TAG_NAMES,
            FIELD_NAMES.map(|f| (f, FieldType::Float)),
        )
    }

    /// Appends up to `max_rows` rows to `batch` (built from [`CpuOnly::schema`]); returns
    /// how many were appended (0 at the end).
    pub fn fill_batch(
        &mut self,
        batch: &mut WriteBatch,
        max_rows: usize,
    ) -> strata_storage::Result<usize> {
        let mut n = 0;
        while n < max_rows {
            let Some(row) = self.next() else { break };
            let host = &self.hosts[row.host];
            let tags: [Option<&str>; 10] = std::array::from_fn(|i| Some(host[i].as_str()));
            let values = row.values.map(Value::Float);
            batch.push_row(&tags, row.ts, &values)?;
            n += 1;
        }
        Ok(n)
    }

    /// Writes every remaining row as CSV with a header line; times are RFC 3339 in UTC.
    pub fn write_csv(&mut self, out: &mut impl Write) -> io::Result<()> {
        let header: Vec<&str> = std::iter::once(TIME_COLUMN)
            .chain(TAG_NAMES)
            .chain(FIELD_NAMES)
            .collect();
        writeln!(out, "{}", header.join(","))?;
        while let Some(row) = self.next() {
            write_rfc3339(out, row.ts)?;
            for tag in &self.hosts[row.host] {
                write!(out, ",{tag}")?;
            }
            for v in row.values {
                write!(out, ",{v}")?;
            }
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Writes every remaining row as InfluxDB line protocol with nanosecond timestamps.
    pub fn write_line_protocol(&mut self, out: &mut impl Write) -> io::Result<()> {
        while let Some(row) = self.next() {
            self.write_line(out, &row)?;
        }
        Ok(())
    }

    /// Writes one row as a line-protocol line (tag values here need no escaping).
    pub fn write_line(&self, out: &mut impl Write, row: &CpuRow) -> io::Result<()> {
        out.write_all(TABLE.as_bytes())?;
        for (name, value) in TAG_NAMES.iter().zip(&self.hosts[row.host]) {
            write!(out, ",{name}={value}")?;
        }
        for (i, (name, v)) in FIELD_NAMES.iter().zip(row.values).enumerate() {
            let sep = if i == 0 { ' ' } else { ',' };
            write!(out, "{sep}{name}={v}")?;
        }
        writeln!(out, " {}", row.ts)
    }
}

impl Iterator for CpuOnly {
    type Item = CpuRow;

    fn next(&mut self) -> Option<CpuRow> {
        if self.tick >= self.ticks || self.hosts.is_empty() {
            return None;
        }
        let host = self.next_host;
        let ts = self.config.start_ns + self.tick as i64 * INTERVAL_NS;
        let walk = &mut self.walks[host];
        let mut values = [0.0; 10];
        for (w, out) in walk.iter_mut().zip(&mut values) {
            let step: f64 = self.rng.sample(StandardNormal);
            *w = (*w + step).clamp(0.0, 100.0);
            *out = match self.scale {
                Some(s) => (*w * s).round() / s,
                None => *w,
            };
        }
        self.next_host += 1;
        if self.next_host == self.hosts.len() {
            self.next_host = 0;
            self.tick += 1;
        }
        Some(CpuRow { host, ts, values })
    }
}

/// Writes `ts` (ns UTC) as RFC 3339, with a fraction only when it is not whole seconds.
pub fn write_rfc3339(out: &mut impl Write, ts: i64) -> io::Result<()> {
    let t = chrono::DateTime::from_timestamp_nanos(ts);
    if ts.rem_euclid(1_000_000_000) == 0 {
        write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%SZ"))
    } else {
        write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S%.9fZ"))
    }
}

/// Parses a duration such as `1d`, `12h`, `90m`, `3600s` or `1d12h` into nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: i64 = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => {
                return Err(format!(
                    "unknown duration unit {c:?} in {s:?} (use d, h, m, s)"
                ))
            }
        };
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("missing number before {c:?} in {s:?}"))?;
        digits.clear();
        total = n
            .checked_mul(unit * 1_000_000_000)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} is too long"))?;
    }
    if !digits.is_empty() {
        return Err(format!(
            "duration {s:?} needs a unit after {digits} (d, h, m, s)"
        ));
    }
    if total <= 0 {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(total)
}

/// Parses an RFC 3339 time into nanoseconds UTC.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))?;
    t.timestamp_nanos_opt()
        .ok_or_else(|| format!("{s:?} is outside the nanosecond range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> CpuOnlyConfig {
        CpuOnlyConfig {
            hosts: 3,
            duration_ns: 60_000_000_000,
            ..CpuOnlyConfig::default()
        }
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let a: Vec<CpuRow> = CpuOnly::new(small()).collect();
        let b: Vec<CpuRow> = CpuOnly::new(small()).collect();
        assert_eq!(a, b);
        let c: Vec<CpuRow> = CpuOnly::new(CpuOnlyConfig { seed: 7, ..small() }).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn rows_are_time_major_every_ten_seconds_within_bounds() {
        let cfg = small();
        let rows: Vec<CpuRow> = CpuOnly::new(cfg.clone()).collect();
        assert_eq!(rows.len() as u64, cfg.rows());
        assert_eq!(rows.len(), 3 * 6);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.host, i % 3);
            assert_eq!(r.ts, cfg.start_ns + (i / 3) as i64 * INTERVAL_NS);
            for v in r.values {
                assert!((0.0..=100.0).contains(&v), "{v}");
                assert_eq!(
                    (v * 100.0).round() / 100.0,
                    v,
                    "{v} has more than 2 decimals"
                );
            }
        }
    }

    #[test]
    fn full_precision_when_decimals_is_none() {
        let rows: Vec<CpuRow> = CpuOnly::new(CpuOnlyConfig {
            decimals: None,
            ..small()
        })
        .collect();
        let rounded = rows
            .iter()
            .flat_map(|r| r.values)
            .filter(|v| (v * 100.0).round() / 100.0 == *v)
            .count();
        assert!(rounded < 3, "{rounded} values look rounded");
    }

    #[test]
    fn csv_and_line_protocol_shapes() {
        let mut csv = Vec::new();
        CpuOnly::new(small()).write_csv(&mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 18);
        assert!(lines[0].starts_with("time,hostname,region,"));
        assert!(lines[1].starts_with("2016-01-01T00:00:00Z,host_0,"));
        assert_eq!(lines[1].split(',').count(), 21);

        let mut lp = Vec::new();
        CpuOnly::new(small()).write_line_protocol(&mut lp).unwrap();
        let lp = String::from_utf8(lp).unwrap();
        let first = lp.lines().next().unwrap();
        assert!(first.starts_with("cpu,hostname=host_0,region="), "{first}");
        assert!(first.ends_with(" 1451606400000000000"), "{first}");
        assert_eq!(first.split(' ').nth(1).unwrap().split(',').count(), 10);
    }

    #[test]
    fn fill_batch_writes_every_row() {
        let schema = CpuOnly::schema();
        let mut g = CpuOnly::new(small());
        let mut batch = WriteBatch::new(&schema);
        assert_eq!(g.fill_batch(&mut batch, 10).unwrap(), 10);
        assert_eq!(g.fill_batch(&mut batch, 10).unwrap(), 8);
        assert_eq!(g.fill_batch(&mut batch, 10).unwrap(), 0);
        assert_eq!(batch.len(), 18);
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration("1d"), Ok(86_400_000_000_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("10s"), Ok(10_000_000_000));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_time("2016-01-01T00:00:00Z"), Ok(DEFAULT_START_NS));
        assert!(parse_time("yesterday").is_err());
        let mut s = Vec::new();
        write_rfc3339(&mut s, DEFAULT_START_NS + 5).unwrap();
        assert_eq!(s, b"2016-01-01T00:00:00.000000005Z");
    }
}
