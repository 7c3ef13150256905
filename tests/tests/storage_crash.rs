//! Crash safety of the storage engine: a real process is killed with SIGKILL at random
//! moments, in the middle of a flush and in the middle of a compaction; after each kill the
//! data directory is reopened and every acknowledged point must be there exactly once.
//! Also in the middle of a move to the cold tier (after the upload, and right before the
//! catalog commit, and after a commit that folded late rows into a cold object but before
//! the replaced object's deletion): afterwards no orphan object or staged file is left.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use rand::{Rng, SeedableRng};
use strata_storage::{Engine, EngineConfig, JobKind, ScanRequest, Tier};
use strata_tests::powerloss::PowerLossFs;
use strata_tests::s3::S3Server;
use strata_tests::{batch_rows, ROWS_PER_BATCH};

const WRITER: &str = env!("CARGO_BIN_EXE_storage-crash-writer");

/// The cold store of a crash test: the default directory, or a prefix on an S3 server.
#[derive(Clone, Copy)]
enum Store<'a> {
    Local,
    S3(&'a S3Server),
}

/// The key prefix crash tests use on the S3 server.
const S3_PREFIX: &str = "crash-test";

impl Store<'_> {
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Store::Local => Vec::new(),
            Store::S3(s3) => {
                let mut env = s3.env();
                env.push((
                    "STRATA_COLD_STORE",
                    format!("s3://{}/{S3_PREFIX}", s3.bucket),
                ));
                env
            }
        }
    }

    fn config(&self, dir: &std::path::Path) -> EngineConfig {
        let mut config = EngineConfig::new(dir);
        config.background = false;
        if let Store::S3(s3) = self {
            config.cold_store = s3.cold_store(S3_PREFIX);
        }
        config
    }

    /// Objects in the cold store.
    fn objects(&self, dir: &std::path::Path) -> usize {
        match self {
            Store::Local => count_files(&dir.join("cold"), "parquet"),
            Store::S3(s3) => s3.list(S3_PREFIX).len(),
        }
    }
}

/// Starts the writer; returns the child and a channel of its stdout lines.
fn spawn(
    dir: &std::path::Path,
    first: i64,
    mode: &str,
    store: Store<'_>,
) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(WRITER)
        .arg(dir)
        .arg(first.to_string())
        .arg(mode)
        .envs(store.env())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start writer");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Runs the writer until `stop` says so (or it reports the pause point), SIGKILLs it and
/// returns the batches it acknowledged.
fn run_and_kill(
    dir: &std::path::Path,
    first: i64,
    mode: &str,
    store: Store<'_>,
    kill_after: Duration,
) -> (BTreeSet<i64>, bool) {
    let (mut child, rx) = spawn(dir, first, mode, store);
    let mut acked = BTreeSet::new();
    let mut paused = false;
    let deadline = Instant::now() + kill_after;
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(line) => {
                if let Some(n) = line.strip_prefix("ACK ") {
                    acked.insert(n.parse().unwrap());
                } else if line.starts_with("AT ") {
                    paused = true;
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("writer exited on its own: {:?}", child.wait())
            }
        }
    }
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    child.wait().unwrap();
    // Acks printed before the kill but not yet read still count.
    while let Ok(line) = rx.try_recv() {
        if let Some(n) = line.strip_prefix("ACK ") {
            acked.insert(n.parse().unwrap());
        }
    }
    (acked, paused)
}

/// Reopens the directory and checks every acknowledged batch is present exactly once.
fn verify(dir: &std::path::Path, acked: &BTreeSet<i64>, store: Store<'_>) -> i64 {
    let engine = Engine::open(store.config(dir)).expect("reopen after crash");
    let batches: Vec<RecordBatch> = engine
        .scan(&ScanRequest::new("crash"))
        .unwrap()
        .collect_batches()
        .unwrap();
    let mut points: BTreeMap<(String, i64), f64> = BTreeMap::new();
    for b in &batches {
        let ts = b.column(0).as_primitive::<TimestampNanosecondType>();
        let host = b.column(1).as_string::<i32>();
        let v = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let key = (host.value(i).to_owned(), ts.value(i));
            assert!(
                points.insert(key.clone(), v.value(i)).is_none(),
                "duplicate point {key:?}"
            );
        }
    }
    for &n in acked {
        for (host, ts, value) in batch_rows(n) {
            assert_eq!(
                points.get(&(host.clone(), ts)),
                Some(&value),
                "acknowledged batch {n} lost its row ({host}, {ts})"
            );
        }
    }
    // Rows present come only from whole batches (a batch is one WAL record).
    let mut per_batch: BTreeMap<i64, i64> = BTreeMap::new();
    for (_, ts) in points.keys() {
        *per_batch.entry(ts / 1_000).or_default() += 1;
    }
    for (n, count) in &per_batch {
        assert_eq!(*count, ROWS_PER_BATCH, "batch {n} is partially present");
    }
    // The engine is usable: it can flush, compact and move to the cold tier what it
    // recovered, and reads the same rows afterwards.
    engine.flush().unwrap();
    engine.compact().unwrap();
    for run in engine.run_jobs(Some(JobKind::Tiering)) {
        assert!(run.error.is_none(), "{run:?}");
    }
    let after: usize = engine
        .scan(&ScanRequest::new("crash"))
        .unwrap()
        .collect_batches()
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(after, points.len(), "rows after compaction and tiering");
    // No orphan in either tier: the cold store holds exactly the objects the catalog lists
    // (the tiering run removed what a crash left), nothing is staged.
    let listed: usize = engine
        .partitions("crash")
        .unwrap()
        .iter()
        .filter(|p| p.tier == Tier::Cold)
        .map(|p| p.files)
        .sum();
    assert_eq!(store.objects(dir), listed, "cold objects");
    assert_eq!(
        count_files(&dir.join("cold-staging"), "parquet"),
        0,
        "staged files"
    );
    per_batch.keys().max().copied().unwrap_or(-1) + 1
}

fn count_files(dir: &std::path::Path, ext: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            n += count_files(&p, ext);
        } else if p.extension().is_some_and(|x| x == ext) {
            n += 1;
        }
    }
    n
}

/// Where a crash test's data directory lives: a temporary directory (SIGKILL only), or the
/// power-loss file system, where every kill is followed by a power cut that loses every
/// write not fsynced.
enum Disk {
    Plain(tempfile::TempDir),
    PowerLoss(PowerLossFs),
    /// Power cuts that tear the last write of each file instead of dropping it; counts the
    /// cuts and records every file left torn.
    TornPowerLoss(PowerLossFs, u64, Vec<std::path::PathBuf>),
}

impl Disk {
    fn plain() -> Disk {
        Disk::Plain(tempfile::tempdir().unwrap())
    }

    fn power_loss() -> Disk {
        Disk::PowerLoss(PowerLossFs::mount())
    }

    fn torn_power_loss() -> Disk {
        Disk::TornPowerLoss(PowerLossFs::mount(), 0, Vec::new())
    }

    fn dir(&self) -> std::path::PathBuf {
        match self {
            Disk::Plain(d) => d.path().to_path_buf(),
            Disk::PowerLoss(fs) | Disk::TornPowerLoss(fs, ..) => fs.path().join("data"),
        }
    }

    /// After a kill: on the power-loss file system, the power goes too.
    fn after_kill(&mut self) {
        match self {
            Disk::Plain(_) => {}
            Disk::PowerLoss(fs) => fs.power_loss(),
            Disk::TornPowerLoss(fs, cuts, torn) => {
                *cuts += 1;
                torn.extend(fs.torn_power_loss(0x7042_u64 ^ *cuts));
            }
        }
    }
}

fn kill_at_random_moments(disk: &mut Disk, rounds: usize) {
    let dir = disk.dir();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5747_4154);
    let mut acked = BTreeSet::new();
    let mut next = 0;
    for round in 0..rounds {
        let kill_after = Duration::from_millis(rng.random_range(20..400));
        let (got, _) = run_and_kill(&dir, next, "plain", Store::Local, kill_after);
        acked.extend(got);
        disk.after_kill();
        next = verify(&dir, &acked, Store::Local).max(next) + 1;
        eprintln!("round {round}: {} batches acknowledged so far", acked.len());
    }
    assert!(acked.len() > rounds, "the writer made progress");
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    kill_at_random_moments(&mut Disk::plain(), 24);
}

#[test]
fn power_loss_at_random_moments_loses_no_acknowledged_write() {
    kill_at_random_moments(&mut Disk::power_loss(), 12);
}

/// Power cuts at random moments that tear each file's last unsynced write (a prefix of
/// it, then stale bytes) instead of dropping it: WAL tails, segments being written, the
/// catalog's temporary file.
#[test]
fn torn_writes_at_power_loss_at_random_moments_lose_no_acknowledged_write() {
    let mut disk = Disk::torn_power_loss();
    kill_at_random_moments(&mut disk, 12);
    if let Disk::TornPowerLoss(_, cuts, torn) = disk {
        eprintln!("{cuts} cuts tore {torn:?}");
    }
}

/// Kills the writer three times while it is paused inside `mode` (flush, compaction or a
/// move to the cold tier), and verifies after each kill.
fn kill_while_paused_in(mode: &str, store: Store<'_>) {
    kill_while_paused_on(Disk::plain(), mode, store);
}

fn kill_while_paused_on(mut disk: Disk, mode: &str, store: Store<'_>) {
    kill_while_paused_on_disk(&mut disk, mode, store);
}

fn kill_while_paused_on_disk(disk: &mut Disk, mode: &str, store: Store<'_>) {
    let dir = disk.dir();
    let mut acked = BTreeSet::new();
    let mut next = 0;
    for _ in 0..3 {
        let (got, paused) = run_and_kill(&dir, next, mode, store, Duration::from_secs(60));
        assert!(paused, "the writer reached the {mode} pause point");
        acked.extend(got);
        disk.after_kill();
        next = verify(&dir, &acked, store).max(next) + 1;
    }
}

/// A power cut between a WAL write and its fsync tears that write: recovery cuts the final
/// record off as a torn tail (it was never acknowledged) and keeps every acknowledged one.
#[test]
fn a_torn_final_wal_write_is_cut_off_and_loses_no_acknowledged_write() {
    let mut disk = Disk::torn_power_loss();
    kill_while_paused_on_disk(&mut disk, "wal-sync", Store::Local);
    let Disk::TornPowerLoss(_, _, torn) = disk else {
        unreachable!()
    };
    let wal_tears = torn
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .count();
    assert_eq!(wal_tears, 3, "each cut tore the paused WAL write: {torn:?}");
}

#[test]
fn power_loss_in_a_flush_a_compaction_and_every_step_of_a_move_loses_nothing() {
    for mode in [
        "flush",
        "compaction",
        "tiering-upload",
        "tiering-commit",
        "tiering-fold",
    ] {
        eprintln!("power loss inside {mode}");
        kill_while_paused_on(Disk::power_loss(), mode, Store::Local);
    }
}

/// A write group cut off between its WAL records by a crash is absent after recovery, and
/// every acknowledged group is whole (`verify` fails on a partly present batch).
#[test]
fn sigkill_between_the_records_of_a_write_group_leaves_none_of_it() {
    kill_while_paused_in("group", Store::Local);
}

#[test]
fn sigkill_in_the_middle_of_a_flush_loses_nothing() {
    kill_while_paused_in("flush", Store::Local);
}

#[test]
fn sigkill_in_the_middle_of_a_compaction_loses_nothing() {
    kill_while_paused_in("compaction", Store::Local);
}

#[test]
fn sigkill_after_a_cold_upload_before_its_commit_loses_nothing_and_leaves_no_orphan() {
    kill_while_paused_in("tiering-upload", Store::Local);
}

#[test]
fn sigkill_right_before_a_tiering_commit_loses_nothing() {
    kill_while_paused_in("tiering-commit", Store::Local);
}

#[test]
fn sigkill_after_a_fold_commit_leaves_no_replaced_object_behind() {
    kill_while_paused_in("tiering-fold", Store::Local);
}

#[test]
fn on_s3_sigkill_after_an_upload_before_its_commit_loses_nothing_and_leaves_no_orphan() {
    let s3 = S3Server::start();
    kill_while_paused_in("tiering-upload", Store::S3(&s3));
}

#[test]
fn on_s3_sigkill_after_a_fold_commit_leaves_no_replaced_object_behind() {
    let s3 = S3Server::start();
    kill_while_paused_in("tiering-fold", Store::S3(&s3));
}
