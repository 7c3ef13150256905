//! The cold tier through the public API, on the default store (a directory under the data
//! directory): partitions older than `cold_after` become Parquet objects, scans read every
//! tier, late rows into cold partitions are read and folded into the partition's object later, nothing is lost or
//! doubled across restarts, and a dropped table's cold files go with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use strata_storage::{
    Engine, EngineConfig, FieldType, JobKind, JobOutcome, ScanRequest, TableSchema, Tier, Value,
    WriteBatch,
};

const HOUR: i64 = 3_600_000_000_000;
/// 2024-01-01T00:00:00Z: old enough for any `cold_after` below.
const T0: i64 = 1_704_067_200_000_000_000;

fn schema() -> TableSchema {
    let mut s = TableSchema::new("cpu", "ts", ["host"], [("v", FieldType::Float)]);
    s.partition_interval_ns = HOUR;
    s.cold_after_ns = Some(24 * HOUR);
    s
}

fn open(dir: &Path) -> Engine {
    let mut c = EngineConfig::new(dir);
    c.background = false;
    Engine::open(c).unwrap()
}

type Rows = BTreeMap<(String, i64), f64>;

fn write(engine: &Engine, rows: &[(&str, i64, f64)]) {
    let mut b = WriteBatch::new(&schema());
    for (h, ts, v) in rows {
        b.push_row(&[Some(h)], *ts, &[Value::Float(*v)]).unwrap();
    }
    engine.write(&b).unwrap();
}

fn scan(engine: &Engine, req: &ScanRequest) -> Rows {
    let mut out = BTreeMap::new();
    for b in engine.scan(req).unwrap().collect_batches().unwrap() {
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

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, ext));
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Three old partitions of 4 hosts x 60 minutes, and one recent row.
fn load(engine: &Engine) -> Rows {
    let mut rows = Vec::new();
    for p in 0..3 {
        for h in ["a", "b", "c", "d"] {
            for m in 0..60 {
                let ts = T0 + p * HOUR + m * 60_000_000_000;
                rows.push((h, ts, (p * 1000 + m) as f64));
            }
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    rows.push(("a", now, -1.0));
    write(engine, &rows);
    rows.iter()
        .map(|(h, t, v)| ((h.to_string(), *t), *v))
        .collect()
}

#[test]
fn old_partitions_move_to_parquet_and_scans_read_every_tier() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_table(schema()).unwrap();
    let mut expected = load(&engine);
    engine.flush().unwrap();
    let local_before = files(&dir.path().join("tables"), "seg").len();
    assert_eq!(local_before, 4);

    let runs = engine.run_jobs(Some(JobKind::Tiering));
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, JobOutcome::Succeeded, "{runs:?}");
    assert_eq!(runs[0].rows, 3 * 4 * 60);
    let cold = files(&dir.path().join("cold"), "parquet");
    assert_eq!(cold.len(), 3, "{cold:?}");
    assert!(cold
        .iter()
        .all(|p| p.starts_with(dir.path().join("cold/cpu"))));
    // The moved partitions' segments are gone; the recent one stays local.
    assert_eq!(files(&dir.path().join("tables"), "seg").len(), 1);
    let parts = engine.partitions("cpu").unwrap();
    assert_eq!(parts.iter().filter(|p| p.tier == Tier::Cold).count(), 3);
    assert_eq!(parts.iter().filter(|p| p.tier == Tier::Local).count(), 1);
    assert!(parts
        .iter()
        .filter(|p| p.tier == Tier::Cold)
        .all(|p| p.rows == 240 && p.location.starts_with("file://")));
    assert!(
        engine
            .run_jobs(Some(JobKind::Tiering))
            .iter()
            .all(|r| r.rows == 0),
        "nothing left to move"
    );

    // The first scan fetches the cold blocks; the second reads them from the cache.
    assert_eq!(engine.cold_cache_stats().misses, 0);
    assert_eq!(scan(&engine, &ScanRequest::new("cpu")), expected);
    let first = engine.cold_cache_stats();
    assert!(first.misses >= 3, "{first:?}");
    assert!(
        first.bytes > 0 && first.bytes <= first.capacity,
        "{first:?}"
    );
    assert_eq!(scan(&engine, &ScanRequest::new("cpu")), expected);
    let second = engine.cold_cache_stats();
    assert_eq!(second.misses, first.misses, "{second:?}");
    assert!(second.hits > first.hits, "{second:?}");
    // Pushdown over cold data: time ranges and tags, pruning on and off.
    for pruning in [true, false] {
        let req = ScanRequest::new("cpu")
            .with_time_range(
                T0 + HOUR + 30 * 60_000_000_000,
                T0 + 2 * HOUR + 10 * 60_000_000_000,
            )
            .with_tag_in("host", ["b", "d", "zz"])
            .with_pruning(pruning);
        let want: Rows = expected
            .iter()
            .filter(|((h, t), _)| {
                (h == "b" || h == "d")
                    && *t >= T0 + HOUR + 30 * 60_000_000_000
                    && *t < T0 + 2 * HOUR + 10 * 60_000_000_000
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(want.len(), 2 * 40);
        assert_eq!(scan(&engine, &req), want, "pruning {pruning}");
    }
    let stats = engine
        .scan_stats(&ScanRequest::new("cpu").with_time_range(T0, T0 + HOUR))
        .unwrap();
    assert_eq!(stats.cold_objects_total, 3);
    assert_eq!(stats.cold_objects_in_time_range, 1);
    assert_eq!(
        (stats.cold_partitions_scanned, stats.cold_partitions_total),
        (1, 3)
    );
    assert_eq!(
        (stats.local_partitions_scanned, stats.local_partitions_total),
        (0, 1)
    );
    assert_eq!(
        (stats.cold_row_groups_read, stats.cold_row_groups_total),
        (1, 1)
    );
    // A tag value outside every row group's range: the row group is pruned.
    let stats = engine
        .scan_stats(
            &ScanRequest::new("cpu")
                .with_time_range(T0, T0 + HOUR)
                .with_tag_in("host", ["zz"]),
        )
        .unwrap();
    assert_eq!(
        (stats.cold_row_groups_read, stats.cold_row_groups_total),
        (0, 1)
    );

    // Late rows into a cold partition: one replaces a cold point, one is new.
    write(
        &engine,
        &[("a", T0 + 5 * 60_000_000_000, 42.0), ("e", T0, 7.0)],
    );
    expected.insert(("a".into(), T0 + 5 * 60_000_000_000), 42.0);
    expected.insert(("e".into(), T0), 7.0);
    assert_eq!(
        scan(&engine, &ScanRequest::new("cpu")),
        expected,
        "memtable over cold"
    );
    engine.flush().unwrap();
    assert_eq!(
        scan(&engine, &ScanRequest::new("cpu")),
        expected,
        "segment over cold"
    );
    // The next run folds them in: the partition's object and segment become one object
    // (240 cold rows + 2 late ones, one of which replaced a cold point). A scan that began
    // before the fold still reads the replaced object, which is deleted only after it.
    let before_fold = engine.scan(&ScanRequest::new("cpu")).unwrap();
    let runs = engine.run_jobs(Some(JobKind::Tiering));
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].rows, 241, "{runs:?}");
    assert_eq!(files(&dir.path().join("cold"), "parquet").len(), 4);
    let old: usize = before_fold
        .collect_batches()
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(old, expected.len(), "a scan from before the fold");
    let runs = engine.run_jobs(Some(JobKind::Tiering));
    assert!(
        runs.iter()
            .any(|r| r.table.is_none() && r.outcome == JobOutcome::Succeeded),
        "the store-wide run deletes the replaced object: {runs:?}"
    );
    assert_eq!(files(&dir.path().join("cold"), "parquet").len(), 3);
    let parts = engine.partitions("cpu").unwrap();
    let first = parts.iter().find(|p| p.start == T0).unwrap();
    assert_eq!((first.tier, first.files, first.rows), (Tier::Cold, 1, 241));
    assert_eq!(
        scan(&engine, &ScanRequest::new("cpu")),
        expected,
        "after the fold"
    );

    drop(engine);
    let engine = open(dir.path());
    assert_eq!(
        scan(&engine, &ScanRequest::new("cpu")),
        expected,
        "after a restart"
    );

    // DROP TABLE takes the cold files with it.
    engine.drop_table("cpu").unwrap();
    assert_eq!(
        files(&dir.path().join("cold"), "parquet"),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn cold_after_is_set_and_reset_and_a_table_without_it_never_moves() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut s = schema();
    s.cold_after_ns = None;
    engine.create_table(s).unwrap();
    let expected = load(&engine);
    engine.flush().unwrap();
    assert!(engine.run_jobs(Some(JobKind::Tiering)).is_empty());
    assert!(engine
        .jobs()
        .iter()
        .all(|j| j.kind != JobKind::Tiering || j.table.is_none()));

    engine.set_cold_after("cpu", Some(HOUR)).unwrap();
    assert_eq!(
        engine.table_schema("cpu").unwrap().cold_after_ns,
        Some(HOUR)
    );
    assert!(engine
        .jobs()
        .iter()
        .any(|j| j.kind == JobKind::Tiering && j.next_run.is_some()));
    let runs = engine.run_jobs(Some(JobKind::Tiering));
    assert_eq!(runs[0].rows, 720);
    engine.set_cold_after("cpu", None).unwrap();
    assert!(engine.set_cold_after("cpu", Some(-1)).is_err());
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(engine.table_schema("cpu").unwrap().cold_after_ns, None);
    assert_eq!(scan(&engine, &ScanRequest::new("cpu")), expected);
}

/// Inside a row group, the page index skips pages: three hosts of 30,000 points each in one
/// partition (one row group, pages of 8,192 rows, sorted by host then time), so a filter on
/// one host and a short time range needs a few pages. Every predicate returns what a
/// filter over all rows returns, pruning on or off.
#[test]
fn the_page_index_prunes_pages_inside_row_groups() {
    const SEC: i64 = 1_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut s = schema();
    s.partition_interval_ns = 24 * HOUR;
    engine.create_table(s).unwrap();
    let mut rows = Vec::new();
    for h in ["a", "b", "c"] {
        for i in 0..30_000 {
            rows.push((h, T0 + i * SEC, i as f64));
        }
    }
    write(&engine, &rows);
    engine.flush().unwrap();
    assert!(engine
        .run_jobs(Some(JobKind::Tiering))
        .iter()
        .all(|r| r.error.is_none()));
    let all: Rows = rows
        .iter()
        .map(|(h, t, v)| ((h.to_string(), *t), *v))
        .collect();
    assert_eq!(scan(&engine, &ScanRequest::new("cpu")), all);

    let narrow = ScanRequest::new("cpu")
        .with_time_range(T0 + 20_000 * SEC, T0 + 21_000 * SEC)
        .with_tag_in("host", ["b"]);
    let stats = engine.scan_stats(&narrow).unwrap();
    assert_eq!(stats.cold_row_groups_total, 1);
    assert_eq!(stats.cold_row_groups_read, 1, "{stats:?}");
    assert_eq!(stats.cold_rows_in_row_groups_read, 90_000, "{stats:?}");
    // The page of b's rows in that hour, and the two pages where a's rows end and b's begin
    // and where b's end and c's begin: each spans both hosts' times, so it cannot be ruled out.
    assert_eq!(stats.cold_rows_read, 3 * 8_192, "pages read: {stats:?}");
    // Ranges inside one host, across hosts, past the end; a host that is not there.
    let mut cases = vec![
        (0, 30_000, vec!["c"]),
        (29_990, 30_000, vec!["a", "c"]),
        (5_000, 5_001, vec!["a", "b", "c"]),
        (0, 30_000, vec!["zz"]),
        (30_000, 40_000, vec!["a"]),
        (8_191, 8_193, vec!["b", "zz"]),
    ];
    // And random ones (a fixed-seed LCG): any range, any subset of the hosts.
    let mut seed: u64 = 0x5EED;
    let mut next = |n: i64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        ((seed >> 33) % n as u64) as i64
    };
    for _ in 0..40 {
        let lo = next(31_000);
        let hi = lo + 1 + next(12_000);
        let hosts: Vec<&str> = ["a", "b", "c", "zz"]
            .into_iter()
            .filter(|_| next(2) == 0)
            .collect();
        cases.push((lo, hi, if hosts.is_empty() { vec!["b"] } else { hosts }));
    }
    for (lo, hi, hosts) in cases {
        let want: Rows = all
            .iter()
            .filter(|((h, t), _)| {
                hosts.contains(&h.as_str()) && *t >= T0 + lo * SEC && *t < T0 + hi * SEC
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for pruning in [true, false] {
            let req = ScanRequest::new("cpu")
                .with_time_range(T0 + lo * SEC, T0 + hi * SEC)
                .with_tag_in("host", hosts.clone())
                .with_pruning(pruning);
            assert_eq!(scan(&engine, &req), want, "{lo}..{hi} {hosts:?} {pruning}");
            let stats = engine.scan_stats(&req).unwrap();
            assert!(stats.cold_rows_read >= want.len(), "{stats:?}");
            if !pruning {
                assert_eq!(stats.cold_rows_read, 90_000);
            }
        }
    }
}
