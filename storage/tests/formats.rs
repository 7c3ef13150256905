//! Checked-in data directories, one per on-disk format version (`storage/tests/fixtures/`),
//! opened by this build: what an older Strata wrote must stay readable.
//!
//! Each fixture holds a catalog, segments and WAL files with unflushed rows (from
//! `catalog-v2` on: cold Parquet objects in the default store, with WAL rows late for a
//! cold partition; from `catalog-v3` on: a filed erasure receipt and a pending erasure;
//! from `catalog-v4` on: a pending DELETE by a field condition and bloom filters in cold
//! objects; `wal-group-v1`: as `catalog-v2`, its WAL rows one write group of
//! three records),
//! written by `write_fixture` (run it by hand, `STRATA_FIXTURE=<name>
//! cargo test -p strata-storage --test formats -- --ignored`, only when a new format
//! version is introduced; never rewrite an old one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType};
use strata_storage::{
    Engine, EngineConfig, ErasureKind, ErasureRequest, ErasureState, FieldType, JobKind, Predicate,
    ScanRequest, TableSchema, Tier, Value, WriteBatch,
};

const HOUR: i64 = 3_600_000_000_000;
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000_000_000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn schema() -> TableSchema {
    let mut s = TableSchema::new(
        "cpu",
        "ts",
        ["host", "region"],
        [("usage", FieldType::Float), ("count", FieldType::Integer)],
    );
    s.partition_interval_ns = 6 * HOUR;
    s
}

/// The rows every fixture holds: 3 hosts x 2 regions x 48 times 15 minutes apart (two
/// partitions of 6 hours), the first 40 times flushed (then compacted), the rest in the WAL.
fn expected() -> BTreeMap<(String, String, i64), (f64, i64)> {
    let mut out = BTreeMap::new();
    for h in 0..3 {
        for r in ["eu", "us"] {
            for i in 0..48i64 {
                let ts = T0 + i * HOUR / 4;
                out.insert(
                    (format!("host_{h}"), r.to_owned(), ts),
                    (i as f64 * 1.5 + h as f64, i * 10 + h),
                );
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn rows(engine: &Engine) -> BTreeMap<(String, String, i64), (f64, i64)> {
    let mut out = BTreeMap::new();
    for b in engine
        .scan(&ScanRequest::new("cpu"))
        .unwrap()
        .collect_batches()
        .unwrap()
    {
        let ts = b.column(0).as_primitive::<TimestampNanosecondType>();
        let host = b.column(1).as_string::<i32>();
        let region = b.column(2).as_string::<i32>();
        let usage = b.column(3).as_primitive::<Float64Type>();
        let count = b.column(4).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.insert(
                (
                    host.value(i).to_owned(),
                    region.value(i).to_owned(),
                    ts.value(i),
                ),
                (usage.value(i), count.value(i)),
            );
        }
    }
    out
}

fn open_copy(name: &str) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture(name), dir.path());
    let mut c = EngineConfig::new(dir.path());
    c.background = false;
    let engine = Engine::open(c).unwrap();
    (dir, engine)
}

#[test]
fn opens_the_catalog_v1_segment_v1_wal_v1_fixture() {
    let (_dir, engine) = open_copy("catalog-v1");
    assert_eq!(engine.table_names(), vec!["cpu".to_owned()]);
    assert_eq!(engine.table_schema("cpu").unwrap(), schema());
    // Segments: both partitions' flushed rows; the WAL: the unflushed rest.
    assert!(!engine.segments("cpu").unwrap().is_empty());
    assert_eq!(engine.unflushed_rows("cpu").unwrap(), 3 * 2 * 8);
    assert_eq!(rows(&engine), expected());
    // And it goes on working: flush and compact what was read.
    engine.flush().unwrap();
    engine.compact().unwrap();
    assert_eq!(rows(&engine), expected());
}

/// Catalog 2: both partitions were moved to the cold tier before the last 8 times were
/// written, so those rows sit in the WAL, late for a cold partition.
#[test]
fn opens_the_catalog_v2_cold_objects_fixture() {
    let (_dir, engine) = open_copy("catalog-v2");
    assert_eq!(engine.table_names(), vec!["cpu".to_owned()]);
    let mut cold = schema();
    cold.cold_after_ns = Some(COLD_AFTER);
    assert_eq!(engine.table_schema("cpu").unwrap(), cold);
    let parts = engine.partitions("cpu").unwrap();
    assert_eq!(
        parts.iter().filter(|p| p.tier == Tier::Cold).count(),
        2,
        "{parts:?}"
    );
    assert!(engine.segments("cpu").unwrap().is_empty());
    assert_eq!(engine.unflushed_rows("cpu").unwrap(), 3 * 2 * 8);
    assert_eq!(rows(&engine), expected());
    // It goes on working: the late rows are flushed and folded into the cold object.
    engine.flush().unwrap();
    for run in engine.run_jobs(Some(JobKind::Tiering)) {
        assert!(run.error.is_none(), "{run:?}");
    }
    assert!(engine.segments("cpu").unwrap().is_empty());
    assert_eq!(rows(&engine), expected());
}

/// Catalog 3: as catalog 2, then `host_2`'s rows erased and purged (a receipt in
/// `erasures.log`), then `host_1`'s `us` rows erased and left pending in the catalog.
#[test]
fn opens_the_catalog_v3_erasures_fixture() {
    let (_dir, engine) = open_copy("catalog-v3");
    let mut want = expected();
    want.retain(|(h, r, _), _| h != "host_2" && !(h == "host_1" && r == "us"));
    assert_eq!(rows(&engine), want);
    let receipts = engine.erasures();
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    assert_eq!(receipts[0].state, ErasureState::Verified);
    assert_eq!(receipts[0].rows(), 2 * 48);
    assert_eq!(receipts[1].state, ErasureState::Invisible);
    assert_eq!(receipts[1].rows(), 48);
    assert_eq!(
        receipts[0].subject_hash.as_deref(),
        Some(engine.subject_hash("host_2").as_str()),
        "the fixture's SUBJECT_KEY is read"
    );
    // The pending one is purged and filed like a new one.
    for run in engine.run_jobs(None) {
        assert!(run.error.is_none(), "{run:?}");
    }
    let receipts = engine.erasures();
    assert!(
        receipts.iter().all(|r| r.state == ErasureState::Verified),
        "{receipts:?}"
    );
    assert_eq!(rows(&engine), want);
}

/// Catalog 4: as catalog 3, then the rows with `usage` above [`USAGE_LIMIT`] deleted (a
/// `points` predicate) and left pending.
#[test]
fn opens_the_catalog_v4_points_fixture() {
    let (dir, engine) = open_copy("catalog-v4");
    let mut want = expected();
    want.retain(|(h, r, _), (u, _)| {
        h != "host_2" && !(h == "host_1" && r == "us") && *u <= USAGE_LIMIT
    });
    assert_eq!(rows(&engine), want);
    let receipts = engine.erasures();
    assert_eq!(receipts.len(), 3, "{receipts:?}");
    assert_eq!(receipts[2].state, ErasureState::Invisible);
    // host_0 eu/us at i >= 44 and host_1 eu at i >= 43.
    assert_eq!(receipts[2].rows(), 2 * 4 + 5);
    for run in engine.run_jobs(None) {
        assert!(run.error.is_none(), "{run:?}");
    }
    assert!(engine
        .erasures()
        .iter()
        .all(|r| r.state == ErasureState::Verified));
    assert_eq!(rows(&engine), want);
    let blooms = std::fs::read_dir(dir.path().join("cold/cpu"))
        .unwrap()
        .flatten()
        .flat_map(|p| std::fs::read_dir(p.path()).unwrap().flatten())
        .all(|f| has_bloom_filters(&f.path()));
    assert!(blooms, "every cold object has bloom filters for its tags");
}

/// WAL record kind 2: the unflushed rows are one write group of three records (a batch
/// per host), replayed as a whole.
#[test]
fn opens_the_wal_group_v1_fixture() {
    let (dir, engine) = open_copy("wal-group-v1");
    let wal = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .flatten()
        .map(|e| {
            let mut out = Vec::new();
            strata_storage::dump_file(&e.path(), &mut out).unwrap();
            String::from_utf8(out).unwrap()
        })
        .collect::<String>();
    assert_eq!(wal.matches("write group").count(), 3, "{wal}");
    assert_eq!(engine.unflushed_rows("cpu").unwrap(), 3 * 2 * 8);
    assert_eq!(rows(&engine), expected());
    engine.flush().unwrap();
    engine.compact().unwrap();
    assert_eq!(rows(&engine), expected());
}

/// Whether a cold object has a bloom filter for each tag column chunk.
fn has_bloom_filters(path: &Path) -> bool {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader.metadata().row_groups().iter().all(|rg| {
        rg.columns()
            .iter()
            .filter(|c| ["host", "region"].contains(&c.column_path().string().as_str()))
            .all(|c| c.bloom_filter_offset().is_some())
    })
}

/// The catalog-v4 fixture's DELETE: `WHERE usage > USAGE_LIMIT`.
const USAGE_LIMIT: f64 = 65.0;

/// A row test `usage > limit`, as the SQL layer would build it.
fn usage_above(limit: f64) -> strata_storage::RowFilter<strata_storage::Error> {
    strata_storage::RowFilter {
        columns: vec!["usage".into()],
        test: Box::new(move |b| {
            Ok(b.column(0)
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(|v| v > limit))
                .collect())
        }),
    }
}

/// The `cold_after` of the catalog-v2 fixture's table.
const COLD_AFTER: i64 = 24 * HOUR;

/// Writes a fixture of the formats this build writes. Run by hand (see the module docs).
#[test]
#[ignore = "writes a fixture into the source tree"]
fn write_fixture() {
    let name = std::env::var("STRATA_FIXTURE").unwrap_or_else(|_| "catalog-v4".into());
    let dir = fixture(&name);
    assert!(
        !dir.exists(),
        "{} exists; fixtures are never rewritten",
        dir.display()
    );
    let groups = name.starts_with("wal-group");
    let mut c = EngineConfig::new(&dir);
    c.background = false;
    // One WAL record per batch of a group.
    c.group_record_bytes = 1;
    let engine = Engine::open(c).unwrap();
    engine.create_table(schema()).unwrap();
    let expected = expected();
    for unflushed in [false, true] {
        // One batch per host (the group fixture writes them as one group).
        let mut batches: BTreeMap<&str, WriteBatch> = BTreeMap::new();
        for ((h, r, ts), (u, n)) in &expected {
            if ((ts - T0) / (HOUR / 4) >= 40) == unflushed {
                batches
                    .entry(h)
                    .or_insert_with(|| WriteBatch::new(&schema()))
                    .push_row(
                        &[Some(h), Some(r)],
                        *ts,
                        &[Value::Float(*u), Value::Integer(*n)],
                    )
                    .unwrap();
            }
        }
        let batches: Vec<WriteBatch> = batches.into_values().collect();
        if groups && unflushed {
            engine.write_group(&batches).unwrap();
        } else {
            for b in &batches {
                engine.write(b).unwrap();
            }
        }
        if !unflushed {
            engine.flush().unwrap();
            engine.compact().unwrap();
            engine.set_cold_after("cpu", Some(COLD_AFTER)).unwrap();
            for run in engine.run_jobs(Some(JobKind::Tiering)) {
                assert!(run.error.is_none(), "{run:?}");
            }
        }
    }
    if !groups && name != "catalog-v1" && name != "catalog-v2" {
        let erase = |pred: Predicate, hash: Option<String>| {
            engine
                .erase(&ErasureRequest {
                    kind: ErasureKind::Subject,
                    requested_by: "strata".into(),
                    subject_hash: hash,
                    tables: vec![("cpu".into(), pred)],
                })
                .unwrap()
        };
        erase(
            Predicate::tag_eq("host", "host_2"),
            Some(engine.subject_hash("host_2")),
        );
        for run in engine.run_jobs(Some(JobKind::Purge)) {
            assert!(run.error.is_none(), "{run:?}");
        }
        erase(
            Predicate::And(vec![
                Predicate::tag_eq("host", "host_1"),
                Predicate::tag_eq("region", "us"),
            ]),
            None,
        );
    }
    if !groups && !["catalog-v1", "catalog-v2", "catalog-v3"].contains(&name.as_str()) {
        engine
            .erase_where(
                &ErasureRequest {
                    kind: ErasureKind::Delete,
                    requested_by: "strata".into(),
                    subject_hash: None,
                    tables: vec![("cpu".into(), Predicate::All)],
                },
                &[Some(usage_above(USAGE_LIMIT))],
            )
            .unwrap();
    }
    drop(engine);
    let _ = std::fs::remove_file(dir.join("CATALOG.tmp"));
    // Emptied at every start: nothing of them belongs in a fixture.
    let _ = std::fs::remove_dir_all(dir.join("cold-cache"));
    let _ = std::fs::remove_dir_all(dir.join("cold-staging"));
}
