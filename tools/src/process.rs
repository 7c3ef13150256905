//! Servers started by the benchmark drivers: the real `strata` binary and, for the
//! line-protocol comparison, InfluxDB 1.x (`influxd`). Each is killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A child process that is killed (and reaped) on drop.
#[derive(Debug)]
pub struct ServerProcess(Child);

impl ServerProcess {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// CPU time the process has used so far (user + system, all threads).
    pub fn cpu_time(&self) -> Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the parenthesised command name; utime and stime are the 14th and
        // 15th fields of the whole line, in clock ticks.
        let rest = stat.rsplit_once(')').context("malformed /proc/PID/stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> Result<u64> {
            Ok(fields.get(i).context("short /proc/PID/stat")?.parse()?)
        };
        // USER_HZ, the unit of these fields, is 100 on Linux (fixed by the kernel ABI).
        let total = ticks(11)? + ticks(12)?;
        Ok(Duration::from_millis(total * 10))
    }

    /// The process's peak resident set size so far (`VmHWM`), in bytes.
    pub fn peak_rss_bytes(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .context("no VmHWM in /proc/PID/status")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()?;
        Ok(kb * 1024)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `strata serve` and the addresses it listens on.
#[derive(Debug)]
pub struct Strata {
    pub process: ServerProcess,
    pub pg: SocketAddr,
    pub http: SocketAddr,
}

/// Starts `strata serve` on loopback ports chosen by the OS, with `data` as its data
/// directory and `extra` arguments (e.g. `--config FILE`); returns once both listeners
/// are up.
pub fn start_strata(bin: &Path, data: &Path, extra: &[&str]) -> Result<Strata> {
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--pg-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data)
        .args(extra)
        .env("STRATA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().expect("piped");
    let process = ServerProcess(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut http = None;
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if let Some(a) = line.strip_prefix("strata: listening for HTTP (line protocol) on ") {
                http = Some(a.to_owned());
            } else if let Some(a) =
                line.strip_prefix("strata: listening for PostgreSQL connections on ")
            {
                if let Some(tx) = tx.take() {
                    let _ = tx.send((a.to_owned(), http.take()));
                }
            } else if tx.is_some() {
                eprintln!("strata: {line}");
            }
        }
    });
    let (pg, http) = rx
        .recv_timeout(Duration::from_secs(60))
        .context("strata did not start")?;
    Ok(Strata {
        process,
        pg: pg.parse()?,
        http: http.context("strata printed no HTTP address")?.parse()?,
    })
}

/// A port on loopback that was free a moment ago.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running InfluxDB 1.x.
#[derive(Debug)]
pub struct Influx {
    pub process: ServerProcess,
    pub http: SocketAddr,
}

/// Starts `influxd` (InfluxDB 1.x) with everything under `dir`, fsync on every write
/// (`wal-fsync-delay = "0s"`, the comparison to Strata's `fsync = "always"`), and waits
/// until `/ping` answers.
pub fn start_influx(bin: &Path, dir: &Path) -> Result<Influx> {
    std::fs::create_dir_all(dir)?;
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let rpc = free_port()?;
    let d = dir.display();
    let config = format!(
        r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{d}/meta"
  logging-enabled = false
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "{http}"
  log-enabled = false
[logging]
  level = "warn"
"#
    );
    let path = dir.join("influxdb.conf");
    std::fs::write(&path, config)?;
    let child = Command::new(bin)
        .arg("-config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let process = ServerProcess(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(http) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut reply = Vec::new();
            let _ = s.read_to_end(&mut reply);
            if reply.starts_with(b"HTTP/1.1 204") {
                return Ok(Influx { process, http });
            }
        }
        if Instant::now() > deadline {
            bail!("influxd did not answer /ping on {http} within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
