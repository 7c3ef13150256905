//! Background jobs and compaction through the public API: the scheduler's records, the
//! age-triggered flush, the size-tiered policy's bound on rewrites, and merges that never
//! block writes, flushes or DDL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use strata_storage::{
    Engine, EngineConfig, FieldType, JobKind, JobOutcome, JobState, ScanRequest, TableSchema,
    Value, WriteBatch,
};

const SECOND: i64 = 1_000_000_000;

fn schema(name: &str) -> TableSchema {
    TableSchema::new(name, "ts", ["host"], [("v", FieldType::Float)])
}

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.background = false;
    c
}

/// Writes `n` rows for each of `hosts` hosts at times `first..first + n` seconds, value
/// `ts + salt`.
fn write(engine: &Engine, table: &str, hosts: usize, first: i64, n: i64, salt: f64) {
    let mut b = WriteBatch::new(&schema(table));
    for h in 0..hosts {
        let host = format!("host_{h}");
        for t in first..first + n {
            b.push_row(&[Some(&host)], t * SECOND, &[Value::Float(t as f64 + salt)])
                .unwrap();
        }
    }
    engine.write(&b).unwrap();
}

/// Every row of `table` as (host, ts) -> v; panics on a duplicate point.
fn rows(engine: &Engine, table: &str) -> BTreeMap<(String, i64), f64> {
    let mut out = BTreeMap::new();
    for b in engine
        .scan(&ScanRequest::new(table))
        .unwrap()
        .collect_batches()
        .unwrap()
    {
        let ts = b.column(0).as_primitive::<TimestampNanosecondType>();
        let host = b.column(1).as_string::<i32>();
        let v = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let key = (host.value(i).to_owned(), ts.value(i));
            assert!(
                out.insert(key.clone(), v.value(i)).is_none(),
                "duplicate {key:?}"
            );
        }
    }
    out
}

#[test]
fn manual_runs_are_recorded_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    engine.create_table(schema("cpu")).unwrap();
    write(&engine, "cpu", 3, 0, 10, 0.0);

    // Below every threshold the schedule would wait; a manual run flushes anyway.
    let jobs = engine.jobs();
    let flush = jobs.iter().find(|j| j.kind == JobKind::Flush).unwrap();
    assert_eq!(flush.state, JobState::Idle);
    assert!(
        flush.next_run.is_some(),
        "unflushed rows make the flush due later"
    );
    let compaction = jobs.iter().find(|j| j.kind == JobKind::Compaction).unwrap();
    assert_eq!(compaction.table.as_deref(), Some("cpu"));
    assert_eq!(compaction.next_run, None, "nothing to compact yet");

    let runs = engine.run_jobs(None);
    assert_eq!(runs.len(), 1, "only the flush had work: {runs:?}");
    assert_eq!(runs[0].kind, JobKind::Flush);
    assert_eq!(runs[0].outcome, JobOutcome::Succeeded);
    assert_eq!(runs[0].rows, 30);
    assert!(runs[0].bytes > 0);
    assert!(runs[0].ended >= runs[0].started);
    assert_eq!(engine.unflushed_rows("cpu").unwrap(), 0);

    // Four equal segments make one run of the policy.
    for k in 1..4 {
        write(&engine, "cpu", 3, k * 10, 10, 0.0);
        engine.flush().unwrap();
    }
    let compaction = engine
        .jobs()
        .into_iter()
        .find(|j| j.kind == JobKind::Compaction)
        .unwrap();
    assert!(
        compaction.next_run.is_some(),
        "four segments of one level are due"
    );
    let runs = engine.run_jobs(Some(JobKind::Compaction));
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].table.as_deref(), Some("cpu"));
    assert_eq!(runs[0].rows, 120);
    assert_eq!(engine.segments("cpu").unwrap().len(), 1);
    assert_eq!(rows(&engine, "cpu").len(), 120);

    let listed = engine.jobs();
    let flush = listed.iter().find(|j| j.kind == JobKind::Flush).unwrap();
    assert_eq!(flush.runs, 4);
    assert_eq!(flush.failures, 0);
    assert_eq!(flush.next_run, None, "nothing unflushed");
    assert_eq!(
        flush.last.as_ref().map(|r| r.outcome),
        Some(JobOutcome::Succeeded)
    );
    let counters = engine.job_counters();
    assert!(counters.contains(&(JobKind::Flush, 4, 0)), "{counters:?}");
    assert!(
        counters.contains(&(JobKind::Compaction, 1, 0)),
        "{counters:?}"
    );
    assert_eq!(engine.job_runs().len(), 5);

    // A dropped table's jobs go with it.
    engine.drop_table("cpu").unwrap();
    assert!(engine.jobs().iter().all(|j| j.table.is_none()));
}

#[test]
fn a_quiet_table_is_flushed_once_its_oldest_row_is_old_enough() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = EngineConfig::new(dir.path());
    c.max_unflushed_age = Duration::from_secs(1);
    let engine = Engine::open(c).unwrap();
    engine.create_table(schema("quiet")).unwrap();
    write(&engine, "quiet", 2, 0, 5, 0.0);
    assert_eq!(engine.unflushed_rows("quiet").unwrap(), 10);
    // The run is recorded just after its rows reach segments: wait for the record.
    let deadline = Instant::now() + Duration::from_secs(20);
    let flushes = loop {
        let flushes: Vec<_> = engine
            .job_runs()
            .into_iter()
            .filter(|r| r.kind == JobKind::Flush && r.rows > 0)
            .collect();
        if !flushes.is_empty() {
            break flushes;
        }
        assert!(
            Instant::now() < deadline,
            "rows still unflushed after 20 s: {:?}",
            engine.jobs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(engine.unflushed_rows("quiet").unwrap(), 0);
    assert_eq!(engine.segments("quiet").unwrap().len(), 1);
    assert_eq!(flushes.len(), 1, "{flushes:?}");
    assert_eq!(flushes[0].rows, 10);
    assert_eq!(rows(&engine, "quiet").len(), 10);
}

#[test]
fn a_flush_that_fails_is_recorded_and_loses_nothing() {
    // The WAL directory replaced by a file: the checkpoint after the catalog commit fails
    // would be too late; instead make the partition directory impossible to create.
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    engine.create_table(schema("cpu")).unwrap();
    write(&engine, "cpu", 2, 0, 5, 0.0);
    // `tables/<id>` as a file: creating the partition directory under it fails.
    let tables = dir.path().join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    std::fs::write(tables.join("1"), b"in the way").unwrap();

    let runs = engine.run_jobs(Some(JobKind::Flush));
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, JobOutcome::Failed);
    let error = runs[0].error.clone().unwrap();
    assert!(error.contains("tables"), "{error}");
    let flush = engine
        .jobs()
        .into_iter()
        .find(|j| j.kind == JobKind::Flush)
        .unwrap();
    assert_eq!(flush.failures, 1);
    assert_eq!(flush.last.unwrap().error.as_deref(), Some(error.as_str()));
    assert!(engine.job_counters().contains(&(JobKind::Flush, 1, 1)));
    // The rows are still there, and the next run, once the obstacle is gone, flushes them.
    assert_eq!(rows(&engine, "cpu").len(), 10);
    std::fs::remove_file(tables.join("1")).unwrap();
    engine.flush().unwrap();
    assert_eq!(engine.unflushed_rows("cpu").unwrap(), 0);
    assert_eq!(rows(&engine, "cpu").len(), 10);
    drop(engine);
    let engine = Engine::open(config(dir.path())).unwrap();
    assert_eq!(rows(&engine, "cpu").len(), 10);
}

#[test]
fn tiered_compaction_rewrites_each_row_a_bounded_number_of_times() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    engine.create_table(schema("grow")).unwrap();
    // 64 flushes of 100 rows into one partition; the compaction job after each. With a
    // merge per new segment a row would be rewritten up to 63 times (about 32 on average).
    let (flushes, per_flush) = (64, 100);
    let mut rewritten = 0;
    let mut max_segments = 0;
    for k in 0..flushes {
        write(&engine, "grow", 1, k * per_flush, per_flush, 0.5);
        engine.flush().unwrap();
        for run in engine.run_jobs(Some(JobKind::Compaction)) {
            assert_eq!(run.outcome, JobOutcome::Succeeded, "{run:?}");
            rewritten += run.rows;
        }
        max_segments = max_segments.max(engine.segments("grow").unwrap().len());
    }
    let total = (flushes * per_flush) as u64;
    // F = 4: levels of 100 rows (3), 400 (4), 1,600 (5), 6,400 (6): each row is rewritten
    // exactly three times on the way up.
    assert_eq!(rewritten, 3 * total, "rows rewritten");
    assert!(
        max_segments <= 3 * 4,
        "at most F-1 segments per level, got {max_segments}"
    );
    assert_eq!(engine.segments("grow").unwrap().len(), 1);
    let got = rows(&engine, "grow");
    assert_eq!(got.len() as u64, total);
    assert!(got
        .iter()
        .all(|((_, ts), v)| *v == (*ts / SECOND) as f64 + 0.5));
}

#[test]
fn compaction_keeps_the_newest_version_of_each_point() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.compaction_trigger = 2;
    let engine = Engine::open(c).unwrap();
    engine.create_table(schema("cpu")).unwrap();
    // Overlapping segments over 20,000 rows per host (several blocks): the second rewrites
    // every other second, the third a few of the second's.
    write(&engine, "cpu", 3, 0, 20_000, 0.0);
    engine.flush().unwrap();
    let mut b = WriteBatch::new(&schema("cpu"));
    for h in [0, 2] {
        for t in (0..20_000).step_by(2) {
            b.push_row(
                &[Some(&format!("host_{h}"))],
                t * SECOND,
                &[Value::Float(-1.0)],
            )
            .unwrap();
        }
    }
    b.push_row(&[Some("host_9")], 5 * SECOND, &[Value::Float(9.0)])
        .unwrap();
    engine.write(&b).unwrap();
    engine.flush().unwrap();
    write(&engine, "cpu", 1, 100, 3, 0.25);
    engine.flush().unwrap();
    let before = rows(&engine, "cpu");
    assert_eq!(before.len(), 60_001);
    assert_eq!(engine.compact().unwrap(), 1);
    assert_eq!(engine.segments("cpu").unwrap().len(), 1);
    assert_eq!(rows(&engine, "cpu"), before);
    assert_eq!(before[&("host_0".into(), 100 * SECOND)], 100.25);
    assert_eq!(before[&("host_0".into(), 102 * SECOND)], 102.25);
    assert_eq!(before[&("host_0".into(), 104 * SECOND)], -1.0);
    assert_eq!(before[&("host_1".into(), 104 * SECOND)], 104.0);
    drop(engine);
    let engine = Engine::open(config(dir.path())).unwrap();
    assert_eq!(rows(&engine, "cpu"), before);
}

#[cfg(feature = "failpoints")]
mod failpoints {
    use std::sync::mpsc;

    use super::*;

    /// Pauses the first merge at its first output block until `release` is sent; reports on
    /// `reached` when it gets there.
    fn pause_merge() -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (reached_tx, reached) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let release_rx = std::sync::Mutex::new(Some(release_rx));
        fail::cfg_callback("compaction::merge_block", move || {
            if let Some(rx) = release_rx.lock().unwrap().take() {
                let _ = reached_tx.send(());
                let _ = rx.recv_timeout(Duration::from_secs(60));
            }
        })
        .unwrap();
        (reached, release)
    }

    type Merger = std::thread::JoinHandle<usize>;

    /// An engine whose table `cpu` has two segments of 200 rows, and a full compaction of
    /// it running on another thread, paused in its merge until `release` is sent.
    fn paused_merge_of_two_segments() -> (
        tempfile::TempDir,
        std::sync::Arc<Engine>,
        Merger,
        mpsc::Sender<()>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let engine = std::sync::Arc::new(Engine::open(config(dir.path())).unwrap());
        engine.create_table(schema("cpu")).unwrap();
        for k in 0..2 {
            write(&engine, "cpu", 2, k * 100, 100, 0.0);
            engine.flush().unwrap();
        }
        let (reached, release) = pause_merge();
        let merger = {
            let engine = std::sync::Arc::clone(&engine);
            std::thread::spawn(move || engine.compact().unwrap())
        };
        reached.recv_timeout(Duration::from_secs(30)).unwrap();
        (dir, engine, merger, release)
    }

    #[test]
    fn a_merge_blocks_no_write_flush_or_ddl() {
        let (_dir, engine, merger, release) = paused_merge_of_two_segments();
        // While the merge is stopped in the middle: writes, a flush and DDL all finish.
        let (done_tx, done) = mpsc::channel();
        {
            let engine = std::sync::Arc::clone(&engine);
            std::thread::spawn(move || {
                write(&engine, "cpu", 2, 1_000, 10, 0.0);
                engine.flush().unwrap();
                engine.create_table(schema("other")).unwrap();
                engine
                    .add_column(
                        "cpu",
                        strata_storage::NewColumn::Field(strata_storage::FieldDef {
                            name: "extra".into(),
                            ty: FieldType::Integer,
                        }),
                        None,
                    )
                    .unwrap();
                engine.drop_table("other").unwrap();
                done_tx.send(()).unwrap();
            });
        }
        done.recv_timeout(Duration::from_secs(30))
            .expect("writes, flush and DDL finished while the merge was paused");
        release.send(()).unwrap();
        assert_eq!(merger.join().unwrap(), 1);
        // The merged run took the place of its inputs; the flush's segment stays after it.
        let segs = engine.segments("cpu").unwrap();
        assert_eq!(segs.len(), 2, "{segs:?}");
        assert_eq!(segs[0].rows, 400);
        assert_eq!(segs[1].rows, 20);
        let schema = engine.table_schema("cpu").unwrap();
        assert!(schema.fields.iter().any(|f| f.name == "extra"));
        let got = engine
            .scan(&ScanRequest::new("cpu").with_projection(["ts", "host", "v"]))
            .unwrap()
            .collect_batches()
            .unwrap();
        assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 420);
    }

    #[test]
    fn a_table_dropped_during_its_merge_leaves_no_file() {
        let (dir, engine, merger, release) = paused_merge_of_two_segments();
        engine.drop_table("cpu").unwrap();
        release.send(()).unwrap();
        assert_eq!(merger.join().unwrap(), 0, "nothing committed");
        let leftovers: Vec<_> = walk(&dir.path().join("tables"));
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
