//! Erasure through the public API: a DELETE or subject erasure is invisible when it returns,
//! with the exact count; the purge removes the rows from memtables, WAL, segments and cold
//! objects (no file under the data directory holds the subject's bytes afterwards); the
//! receipt is verified and names the subject by hash only; all of it holds across a restart
//! at any point. Retention hides expired rows and drops expired partitions with a receipt.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use strata_storage::{
    Engine, EngineConfig, ErasureKind, ErasureRequest, ErasureState, FieldType, JobKind,
    JobOutcome, Predicate, ScanRequest, TableSchema, Value, WriteBatch, NULL_TIME,
};

const HOUR: i64 = 3_600_000_000_000;
/// 2024-01-01T00:00:00Z: old enough for the cold tier.
const T0: i64 = 1_704_067_200_000_000_000;
/// The subject whose rows are erased: a string no other byte sequence here contains.
const SUBJECT: &str = "subject-7f3a9c1e";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn schema() -> TableSchema {
    let mut s = TableSchema::new(
        "events",
        "ts",
        ["host", "user_id"],
        [("v", FieldType::Float)],
    );
    s.partition_interval_ns = HOUR;
    s.cold_after_ns = Some(24 * HOUR);
    s.subject_column = Some("user_id".into());
    s
}

fn open(dir: &Path) -> Engine {
    let mut c = EngineConfig::new(dir);
    c.background = false;
    Engine::open(c).unwrap()
}

/// (host, user, ts) -> v
type Rows = BTreeMap<(String, String, i64), f64>;

fn write(engine: &Engine, rows: &[(&str, &str, i64, f64)]) {
    let mut b = WriteBatch::new(&engine.table_schema("events").unwrap());
    for (h, u, ts, v) in rows {
        b.push_row(&[Some(h), Some(u)], *ts, &[Value::Float(*v)])
            .unwrap();
    }
    engine.write(&b).unwrap();
}

fn scan(engine: &Engine, pruning: bool) -> Rows {
    let mut out = BTreeMap::new();
    let req = ScanRequest::new("events").with_pruning(pruning);
    for b in engine.scan(&req).unwrap().collect_batches().unwrap() {
        let ts = b.column(0).as_primitive::<TimestampNanosecondType>();
        let host = b.column(1).as_string::<i32>();
        let user = b.column(2).as_string::<i32>();
        let v = b.column(3).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let key = (
                host.value(i).to_owned(),
                user.value(i).to_owned(),
                ts.value(i),
            );
            assert!(
                out.insert(key.clone(), v.value(i)).is_none(),
                "duplicate {key:?}"
            );
        }
    }
    out
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Files under `dir` whose bytes contain `needle`.
fn holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .collect()
}

/// What `strata-tools dump` prints for every file under `dir` that Strata wrote (the cold
/// read cache holds raw blocks, not files of a format, and is checked by `holding`).
fn dumped(dir: &Path) -> String {
    let mut out = Vec::new();
    for f in files(dir) {
        if f.components().any(|c| c.as_os_str() == "cold-cache") {
            continue;
        }
        strata_storage::dump_file(&f, &mut out)
            .unwrap_or_else(|e| panic!("dump {}: {e}", f.display()));
    }
    String::from_utf8(out).unwrap()
}

/// Rows of 4 users x 2 hosts spread over every tier: three old partitions moved to the cold
/// tier, a recent one in a segment, and a recent one still in the memtable (and the WAL).
fn load(engine: &Engine) -> Rows {
    let users = ["u1", SUBJECT, "u3", "u4"];
    let mut rows = Vec::new();
    for p in 0..3 {
        for (i, u) in users.iter().enumerate() {
            for h in ["a", "b"] {
                for m in 0..30 {
                    let ts = T0 + p * HOUR + m * 60_000_000_000 + i as i64;
                    rows.push((h, *u, ts, (p * 1000 + m) as f64));
                }
            }
        }
    }
    write(engine, &rows);
    engine.flush().unwrap();
    let runs = engine.run_jobs(Some(JobKind::Tiering));
    assert!(
        runs.iter().all(|r| r.outcome == JobOutcome::Succeeded),
        "{runs:?}"
    );
    let recent = now() - 2 * HOUR;
    let mut more = Vec::new();
    for (i, u) in users.iter().enumerate() {
        more.push(("a", *u, recent + i as i64, 1.0));
    }
    write(engine, &more);
    engine.flush().unwrap();
    let mut mem = Vec::new();
    for (i, u) in users.iter().enumerate() {
        mem.push(("b", *u, recent + 100 + i as i64, 2.0));
    }
    write(engine, &mem);
    rows.extend(more);
    rows.extend(mem);
    rows.iter()
        .map(|(h, u, t, v)| ((h.to_string(), u.to_string(), *t), *v))
        .collect()
}

fn erase_subject(engine: &Engine) -> strata_storage::Erasure {
    engine
        .erase(&ErasureRequest {
            kind: ErasureKind::Subject,
            requested_by: "officer".into(),
            subject_hash: Some(engine.subject_hash(SUBJECT)),
            tables: vec![("events".into(), Predicate::tag_eq("user_id", SUBJECT))],
        })
        .unwrap()
}

fn without_subject(rows: &Rows) -> Rows {
    rows.iter()
        .filter(|((_, u, _), _)| u != SUBJECT)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[test]
fn an_erased_subject_is_invisible_at_once_and_then_gone_from_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_table(schema()).unwrap();
    let all = load(&engine);
    assert!(
        !holding(dir.path(), SUBJECT).is_empty(),
        "the check can see the subject"
    );
    let expected = without_subject(&all);
    let held = all.len() - expected.len();

    let e = erase_subject(&engine);
    assert_eq!(e.rows() as usize, held);
    assert_eq!(e.state, ErasureState::Invisible);
    assert_eq!(scan(&engine, true), expected);
    assert_eq!(scan(&engine, false), expected, "the same without pruning");

    let runs = engine.run_jobs(Some(JobKind::Purge));
    assert!(
        runs.iter().all(|r| r.outcome == JobOutcome::Succeeded),
        "{runs:?}"
    );
    let receipts = engine.erasures();
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    let r = &receipts[0];
    assert_eq!(r.state, ErasureState::Verified, "{r:?}");
    assert_eq!(
        r.subject_hash.as_deref(),
        Some(engine.subject_hash(SUBJECT).as_str())
    );
    let t = &r.tables[0];
    assert_eq!(t.removed_memtable, 1, "{t:?}");
    assert_eq!(t.removed_local, 1, "{t:?}");
    assert_eq!(t.removed_cold, 3 * 2 * 30, "{t:?}");
    assert_eq!(
        t.files.len(),
        4,
        "three cold objects and one segment: {t:?}"
    );
    assert!(t.files.iter().all(|f| f.sha256_before.len() == 64
        && f.sha256_after
            .as_ref()
            .is_some_and(|s| s.len() == 64 && *s != f.sha256_before)));
    assert!(
        r.verification
            .as_deref()
            .unwrap_or("")
            .contains("0 matching rows"),
        "{r:?}"
    );

    assert_eq!(holding(dir.path(), SUBJECT), Vec::<PathBuf>::new());
    let after = dumped(dir.path());
    assert!(!after.contains(SUBJECT), "no dumped file holds the subject");
    assert!(after.contains("user_id=u3"), "the other rows are there");
    assert_eq!(scan(&engine, true), expected);
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(scan(&engine, true), expected, "after a restart");
    assert_eq!(engine.erasures(), receipts);
    assert_eq!(holding(dir.path(), SUBJECT), Vec::<PathBuf>::new());
}

#[test]
fn an_erasure_survives_a_restart_before_its_purge_and_the_purge_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_table(schema()).unwrap();
    let expected = without_subject(&load(&engine));
    erase_subject(&engine);
    drop(engine); // no purge ran: the rows are in every tier still

    let engine = open(dir.path());
    assert_eq!(scan(&engine, true), expected);
    assert_eq!(engine.erasures()[0].state, ErasureState::Invisible);
    engine.run_jobs(Some(JobKind::Purge));
    assert_eq!(engine.erasures()[0].state, ErasureState::Verified);
    assert_eq!(scan(&engine, true), expected);
    assert_eq!(holding(dir.path(), SUBJECT), Vec::<PathBuf>::new());
}

#[test]
fn rows_written_after_an_erasure_stay() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_table(schema()).unwrap();
    let mut expected = without_subject(&load(&engine));
    erase_subject(&engine);
    let later = now() - HOUR;
    write(&engine, &[("a", SUBJECT, later, 9.0)]);
    expected.insert(("a".into(), SUBJECT.into(), later), 9.0);
    assert_eq!(scan(&engine, true), expected);
    engine.run_jobs(None);
    assert_eq!(engine.erasures()[0].state, ErasureState::Verified);
    assert_eq!(scan(&engine, true), expected);
    drop(engine);
    assert_eq!(scan(&open(dir.path()), true), expected);
}

#[test]
fn a_delete_of_whole_partitions_drops_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_table(schema()).unwrap();
    let all = load(&engine);
    // The first two old partitions, wholly.
    let end = T0 + 2 * HOUR;
    let e = engine
        .erase(&ErasureRequest {
            kind: ErasureKind::Delete,
            requested_by: "strata".into(),
            subject_hash: None,
            tables: vec![(
                "events".into(),
                Predicate::Time {
                    start: i64::MIN,
                    end,
                },
            )],
        })
        .unwrap();
    let expected: Rows = all
        .iter()
        .filter(|((_, _, t), _)| *t >= end)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(e.rows() as usize, all.len() - expected.len());
    assert_eq!(scan(&engine, true), expected);
    engine.run_jobs(Some(JobKind::Purge));
    let r = &engine.erasures()[0];
    assert_eq!(r.state, ErasureState::Verified, "{r:?}");
    let files = &r.tables[0].files;
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.tier == "cold" && f.file_after.is_none()),
        "{files:?}"
    );
    assert_eq!(scan(&engine, true), expected);
}

#[test]
fn retention_hides_expired_rows_and_drops_expired_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut s = schema();
    s.cold_after_ns = None;
    engine.create_table(s).unwrap();
    let now = now();
    let mut rows = Vec::new();
    for h in 0..6 {
        rows.push(("a", "u1", now - h * HOUR - 1, h as f64));
    }
    write(&engine, &rows);
    engine.flush().unwrap();
    assert_eq!(scan(&engine, true).len(), 6);
    engine.set_retention("events", Some(3 * HOUR)).unwrap();
    let kept = scan(&engine, true);
    assert!(kept.len() == 3 || kept.len() == 4, "{kept:?}");
    assert!(kept
        .keys()
        .all(|(_, _, t)| *t >= now - 3 * HOUR - 1_000_000_000));
    let runs = engine.run_jobs(Some(JobKind::Retention));
    assert!(
        runs.iter().all(|r| r.outcome == JobOutcome::Succeeded),
        "{runs:?}"
    );
    assert!(runs.iter().any(|r| r.rows >= 2), "{runs:?}");
    engine.run_jobs(Some(JobKind::Purge));
    let r = &engine.erasures()[0];
    assert_eq!(r.kind, ErasureKind::Retention);
    assert_eq!(r.state, ErasureState::Verified, "{r:?}");
    assert!(r.tables[0]
        .files
        .iter()
        .all(|f| f.file_after.is_none() && !dir.path().join(&f.file).exists()));
    assert_eq!(scan(&engine, true), kept);
}

/// Cold objects of 4,000 users each whose names sort around the subject's, so row-group
/// statistics rule nothing out: only the objects' bloom filters can tell that an object
/// cannot hold a subject. Returns the rows written.
fn load_many_users(engine: &Engine, subject_in: Option<i64>) -> usize {
    let users: Vec<String> = (0..4000)
        .map(|i| format!("subject-{:04x}", i * 16))
        .collect();
    let mut rows: Vec<(&str, &str, i64, f64)> = Vec::new();
    for p in 0..3i64 {
        for (i, u) in users.iter().enumerate() {
            for m in 0..5i64 {
                let ts = T0 + p * HOUR + m * 60_000_000_000 + i as i64;
                rows.push(("a", u.as_str(), ts, ((i as i64 * 7919 + m) % 10007) as f64));
            }
        }
        if subject_in == Some(p) {
            for m in 0..10i64 {
                rows.push(("a", SUBJECT, T0 + p * HOUR + m * 1000, 1.0));
            }
        }
    }
    write(engine, &rows);
    engine.flush().unwrap();
    let runs = engine.run_jobs(Some(JobKind::Tiering));
    assert!(
        runs.iter().all(|r| r.outcome == JobOutcome::Succeeded),
        "{runs:?}"
    );
    rows.len()
}

/// Bytes of the cold objects under `dir` that are not column data: footers, page indexes
/// and bloom filters.
fn cold_metadata_bytes(dir: &Path) -> (u64, u64) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let (mut meta, mut total) = (0, 0);
    for f in files(&dir.join("cold")) {
        let len = std::fs::metadata(&f).unwrap().len();
        let reader = SerializedFileReader::new(std::fs::File::open(&f).unwrap()).unwrap();
        let data: i64 = reader
            .metadata()
            .row_groups()
            .iter()
            .flat_map(|rg| rg.columns())
            .map(|c| c.compressed_size())
            .sum();
        meta += len - data as u64;
        total += len;
    }
    (meta, total)
}

#[test]
fn an_erasure_reads_only_the_metadata_of_cold_objects_that_cannot_hold_the_subject() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.background = false;
    config.cold_cache_bytes = 0; // every read reaches the store and is counted
    let engine = Engine::open(config).unwrap();
    engine.create_table(schema()).unwrap();
    let written = load_many_users(&engine, Some(1));
    let (meta_bytes, cold_bytes) = cold_metadata_bytes(dir.path());

    // A subject in none of the objects, inside every object's range of user names.
    let absent = "subject-7f3a9c1f";
    let fetched = engine.cold_cache_stats().fetched_bytes;
    let e = engine
        .erase(&ErasureRequest {
            kind: ErasureKind::Subject,
            requested_by: "officer".into(),
            subject_hash: Some(engine.subject_hash(absent)),
            tables: vec![("events".into(), Predicate::tag_eq("user_id", absent))],
        })
        .unwrap();
    assert_eq!(e.rows(), 0);
    engine.run_jobs(Some(JobKind::Purge));
    let read = engine.cold_cache_stats().fetched_bytes - fetched;
    let r = &engine.erasures()[0];
    assert_eq!(r.state, ErasureState::Verified, "{r:?}");
    assert!(r.tables[0].files.is_empty(), "{r:?}");
    assert!(
        read <= meta_bytes,
        "read {read} bytes of {cold_bytes}: more than the {meta_bytes} bytes of footers, \
         page indexes and bloom filters"
    );

    // The subject, in one partition: one object is counted, read and rewritten.
    let holds = engine
        .scan_stats(&ScanRequest::new("events").with_tag_in("user_id", [SUBJECT]))
        .unwrap();
    assert_eq!(
        (holds.cold_row_groups_total, holds.cold_row_groups_read),
        (3, 1),
        "{holds:?}"
    );
    let e = erase_subject(&engine);
    assert_eq!(e.rows(), 10);
    engine.run_jobs(Some(JobKind::Purge));
    let r = &engine.erasures()[1];
    assert_eq!(r.state, ErasureState::Verified, "{r:?}");
    assert_eq!(r.tables[0].files.len(), 1, "{r:?}");
    assert!(r.tables[0].files[0].file.contains("/p"), "{r:?}");
    assert_eq!(scan(&engine, true).len(), written - 10);
    assert_eq!(holding(dir.path(), SUBJECT), Vec::<PathBuf>::new());
}

/// A DELETE by a condition on a field: `v > limit`, as the SQL layer's row test would run it.
fn delete_where_v_above(engine: &Engine, limit: f64) -> strata_storage::Erasure {
    let filter = strata_storage::RowFilter::<strata_storage::Error> {
        columns: vec!["v".into()],
        test: Box::new(move |b| {
            Ok(b.column(0)
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(|v| v > limit))
                .collect())
        }),
    };
    engine
        .erase_where(
            &ErasureRequest {
                kind: ErasureKind::Delete,
                requested_by: "strata".into(),
                subject_hash: None,
                tables: vec![("events".into(), Predicate::All)],
            },
            &[Some(filter)],
        )
        .unwrap()
}

#[test]
fn a_delete_by_a_field_condition_removes_the_visible_points_that_match_and_all_their_versions() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_table(schema()).unwrap();
    let mut all = load(&engine);
    // Two points with an older version in a segment and a newer one in the memtable: the
    // newer matches for `up`, the older for `down`.
    let up = ("a".to_string(), "u1".to_string(), now() - 3 * HOUR);
    let down = ("a".to_string(), "u3".to_string(), now() - 3 * HOUR + 1);
    write(
        &engine,
        &[("a", "u1", up.2, 0.5), ("a", "u3", down.2, 5000.0)],
    );
    engine.flush().unwrap();
    write(
        &engine,
        &[("a", "u1", up.2, 5000.0), ("a", "u3", down.2, 0.5)],
    );
    all.insert(up.clone(), 5000.0);
    all.insert(down.clone(), 0.5);
    let limit = 1500.0;
    let expected: Rows = all
        .iter()
        .filter(|(_, v)| **v <= limit)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert!(expected.contains_key(&down) && !expected.contains_key(&up));

    let e = delete_where_v_above(&engine, limit);
    assert_eq!(e.rows() as usize, all.len() - expected.len());
    assert_eq!(scan(&engine, true), expected);
    assert_eq!(scan(&engine, false), expected);
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(
        scan(&engine, true),
        expected,
        "after a restart, before the purge"
    );
    engine.run_jobs(Some(JobKind::Purge));
    let r = &engine.erasures()[0];
    assert_eq!(r.state, ErasureState::Verified, "{r:?}");
    assert!(!r.tables[0].files.is_empty(), "{r:?}");
    assert_eq!(
        scan(&engine, true),
        expected,
        "no older version of a deleted point reappears"
    );
    // No file holds a row above the limit but the older version of `down`, which was
    // overwritten, not deleted (compaction folds it away).
    let dump = dumped(dir.path());
    let high: Vec<&str> = dump
        .lines()
        .filter(|l| {
            l.split(" v=")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse::<f64>().ok())
                .is_some_and(|v| v > limit)
        })
        .collect();
    assert!(
        high.len() == 1 && high[0].contains("user_id=u3 v=5000"),
        "{high:?}"
    );
}

#[test]
fn a_delete_by_a_field_condition_is_refused_on_an_append_only_table() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut s = schema();
    s.append_only = true;
    engine.create_table(s).unwrap();
    let filter = strata_storage::RowFilter::<strata_storage::Error> {
        columns: vec!["v".into()],
        test: Box::new(|b| Ok(arrow::array::BooleanArray::from(vec![true; b.num_rows()]))),
    };
    let e = engine.erase_where(
        &ErasureRequest {
            kind: ErasureKind::Delete,
            requested_by: "strata".into(),
            subject_hash: None,
            tables: vec![("events".into(), Predicate::All)],
        },
        &[Some(filter)],
    );
    assert!(
        matches!(e, Err(strata_storage::Error::UnsupportedPredicate { .. })),
        "{e:?}"
    );
}

/// A cold object of several read batches (the merge maps a column chunk's dictionary once
/// and reuses it for the chunk's later batches; the purge compares tag values run by run):
/// after the subject's erasure every other row is there with its own tag values.
#[test]
fn an_erasure_from_a_cold_object_of_many_batches_keeps_every_other_row() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_table(schema()).unwrap();
    let users: Vec<String> = (0..50)
        .map(|i| {
            if i == 17 {
                SUBJECT.to_owned()
            } else {
                format!("u{i:02}")
            }
        })
        .collect();
    // 50 users x 3 hosts x 200 points = 30,000 rows in one old partition: four batches.
    let mut rows = Vec::new();
    for (i, u) in users.iter().enumerate() {
        for h in ["a", "b", "c"] {
            for m in 0..200 {
                rows.push((h, u.as_str(), T0 + m * 1_000_000_000 + i as i64, m as f64));
            }
        }
    }
    write(&engine, &rows);
    engine.flush().unwrap();
    let runs = engine.run_jobs(Some(JobKind::Tiering));
    assert!(
        runs.iter().all(|r| r.outcome == JobOutcome::Succeeded),
        "{runs:?}"
    );
    let all: Rows = rows
        .iter()
        .map(|(h, u, t, v)| ((h.to_string(), u.to_string(), *t), *v))
        .collect();
    let expected = without_subject(&all);
    let e = erase_subject(&engine);
    assert_eq!(e.rows(), 3 * 200);
    let runs = engine.run_jobs(Some(JobKind::Purge));
    assert!(
        runs.iter().all(|r| r.outcome == JobOutcome::Succeeded),
        "{runs:?}"
    );
    let receipts = engine.erasures();
    assert_eq!(receipts[0].state, ErasureState::Verified, "{receipts:?}");
    assert_eq!(receipts[0].tables[0].removed_cold, 3 * 200, "{receipts:?}");
    assert_eq!(scan(&engine, true), expected);
    assert_eq!(scan(&engine, false), expected, "the same without pruning");
    assert_eq!(holding(dir.path(), SUBJECT), Vec::<PathBuf>::new());
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(scan(&engine, true), expected, "after a restart");
}

/// (name, time or None, v), sorted.
fn null_time_rows(
    engine: &Engine,
    range: strata_storage::TimeRange,
) -> Vec<(String, Option<i64>, f64)> {
    let mut out = Vec::new();
    let req = ScanRequest::new("people").with_time_range(range.start, range.end);
    for b in engine.scan(&req).unwrap().collect_batches().unwrap() {
        let ts = b.column(0).as_primitive::<TimestampNanosecondType>();
        let name = b.column(1).as_string::<i32>();
        let v = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            let t = ts.value(i);
            out.push((
                name.value(i).to_owned(),
                (t != NULL_TIME).then_some(t),
                v.value(i),
            ));
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

#[test]
fn rows_with_a_null_time_are_each_kept_matched_only_as_null_and_stay_local() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut s = TableSchema::new("people", "ts", ["name"], [("v", FieldType::Float)]);
    s.cold_after_ns = Some(24 * HOUR);
    engine.create_table(s.clone()).unwrap();
    let put = |rows: &[(&str, i64, f64)]| {
        let mut b = WriteBatch::new(&s);
        for (n, t, v) in rows {
            b.push_row(&[Some(n)], *t, &[Value::Float(*v)]).unwrap();
        }
        engine.write(&b).unwrap();
    };
    // Four flushes leave four segments in the NULL partition for compaction to merge; the
    // same point (ann, T0) is written each time and only its last version stays.
    for round in 0..4 {
        let v = round as f64;
        put(&[
            ("bob", NULL_TIME, v),
            ("bob", NULL_TIME, v + 0.5),
            ("ann", T0, v),
        ]);
        engine.flush().unwrap();
    }
    put(&[("bob", NULL_TIME, 9.0), ("ann", T0, 9.0)]);
    let mut want: Vec<(String, Option<i64>, f64)> = (0..4)
        .flat_map(|r| [r as f64, r as f64 + 0.5])
        .chain([9.0])
        .map(|v| ("bob".to_owned(), None, v))
        .collect();
    want.push(("ann".into(), Some(T0), 9.0));
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let all = strata_storage::TimeRange::ALL;
    assert_eq!(null_time_rows(&engine, all), want);
    assert!(engine.compact().unwrap() >= 1);
    assert_eq!(null_time_rows(&engine, all), want);
    // A range from a comparison starts above NULL_TIME and leaves those rows out.
    let compared = strata_storage::TimeRange {
        start: NULL_TIME + 1,
        end: i64::MAX,
    };
    assert_eq!(
        null_time_rows(&engine, compared),
        [("ann".into(), Some(T0), 9.0)]
    );

    // The NULL partition has no age: tiering moves (ann, T0) and leaves it local.
    engine.flush().unwrap();
    let runs = engine.run_jobs(Some(JobKind::Tiering));
    assert!(
        runs.iter().all(|r| r.outcome == JobOutcome::Succeeded),
        "{runs:?}"
    );
    let cold: Vec<PathBuf> = files(dir.path())
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(cold.len(), 1, "{cold:?}");
    assert!(!cold[0].to_string_lossy().contains(&NULL_TIME.to_string()));
    drop(engine);
    let engine = open(dir.path());
    assert_eq!(null_time_rows(&engine, all), want);

    // A time predicate is NULL for a NULL time, so NOT of it does not match either; a range
    // from NULL_TIME matches exactly the NULL times.
    let erase = |p: Predicate| {
        engine
            .erase(&ErasureRequest {
                kind: ErasureKind::Delete,
                requested_by: "t".into(),
                subject_hash: None,
                tables: vec![("people".into(), p)],
            })
            .unwrap()
    };
    let not_t0 = Predicate::Not(Box::new(Predicate::Time {
        start: T0,
        end: T0 + 1,
    }));
    assert_eq!(erase(not_t0).rows(), 0);
    let null = Predicate::Time {
        start: NULL_TIME,
        end: NULL_TIME + 1,
    };
    assert_eq!(erase(null).rows(), 9);
    engine.run_jobs(Some(JobKind::Purge));
    assert_eq!(
        null_time_rows(&engine, all),
        [("ann".into(), Some(T0), 9.0)]
    );

    // Times between NULL_TIME and the first whole partition cannot be written.
    let mut b = WriteBatch::new(&s);
    let err = b
        .push_row(&[Some("x")], NULL_TIME + 1, &[Value::Null])
        .unwrap_err();
    assert!(
        matches!(err, strata_storage::Error::TimeOutOfRange { .. }),
        "{err}"
    );
    b.push_row(&[Some("x")], s.min_time(), &[Value::Null])
        .unwrap();
}
