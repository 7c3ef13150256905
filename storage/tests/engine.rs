//! Engine behaviour through the public API on real directories.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType};
use proptest::prelude::*;
use strata_storage::{
    Engine, EngineConfig, Error, FieldType, JobKind, ScanRequest, TableSchema, Tier, Value,
    WriteBatch,
};

const HOUR: i64 = 3_600_000_000_000;

fn schema() -> TableSchema {
    let mut s = TableSchema::new(
        "cpu",
        "ts",
        ["host", "region"],
        [("usage", FieldType::Float), ("count", FieldType::Integer)],
    );
    s.partition_interval_ns = 6 * HOUR;
    // Every test time is decades old: the tiering job, when a test runs it, moves every
    // flushed partition to the cold tier (a directory under the data dir).
    s.cold_after_ns = Some(24 * HOUR);
    s
}

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.background = false;
    // Merge runs of two, so the model test's few flushes exercise the compaction job.
    c.compaction_trigger = 2;
    c
}

/// A row as the model stores it: (host, region, ts) -> (usage, count).
type Key = (Option<String>, Option<String>, i64);
type Row = (Option<f64>, Option<i64>);

fn rows_of(batches: &[RecordBatch]) -> BTreeMap<Key, Row> {
    let mut out = BTreeMap::new();
    for b in batches {
        let ts = b.column(0).as_primitive::<TimestampNanosecondType>();
        let host = b.column(1).as_string::<i32>();
        let region = b.column(2).as_string::<i32>();
        let usage = b.column(3).as_primitive::<Float64Type>();
        let count = b.column(4).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let key = (
                host.is_valid(i).then(|| host.value(i).to_owned()),
                region.is_valid(i).then(|| region.value(i).to_owned()),
                ts.value(i),
            );
            let row = (
                usage.is_valid(i).then(|| usage.value(i)),
                count.is_valid(i).then(|| count.value(i)),
            );
            assert!(
                out.insert(key.clone(), row).is_none(),
                "duplicate point {key:?}"
            );
        }
    }
    out
}

/// Rows of a `[count, ts, usage]` projection as a sorted list (duplicates kept).
fn projected_rows(batches: &[RecordBatch]) -> Vec<(i64, Option<i64>, Option<u64>)> {
    let mut out = Vec::new();
    for b in batches {
        let count = b.column(0).as_primitive::<Int64Type>();
        let ts = b.column(1).as_primitive::<TimestampNanosecondType>();
        let usage = b.column(2).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            out.push((
                ts.value(i),
                count.is_valid(i).then(|| count.value(i)),
                usage.is_valid(i).then(|| usage.value(i).to_bits()),
            ));
        }
    }
    out.sort_unstable();
    out
}

fn projected_answer(rows: &BTreeMap<Key, Row>) -> Vec<(i64, Option<i64>, Option<u64>)> {
    let mut out: Vec<_> = rows
        .iter()
        .map(|((_, _, ts), (u, c))| (*ts, *c, u.map(f64::to_bits)))
        .collect();
    out.sort_unstable();
    out
}

fn scan_all(engine: &Engine, req: &ScanRequest) -> BTreeMap<Key, Row> {
    rows_of(&engine.scan(req).unwrap().collect_batches().unwrap())
}

fn write_rows(engine: &Engine, rows: &[(Key, Row)]) {
    let mut b = WriteBatch::new(&schema());
    for ((h, r, ts), (u, c)) in rows {
        b.push_row(
            &[h.as_deref(), r.as_deref()],
            *ts,
            &[
                u.map_or(Value::Null, Value::Float),
                c.map_or(Value::Null, Value::Integer),
            ],
        )
        .unwrap();
    }
    engine.write(&b).unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    Write(Vec<(Key, Row)>),
    Flush,
    Compact,
    /// The compaction job: merges runs the size-tiered policy picks.
    CompactJob,
    /// The tiering job: every flushed partition moves to cold Parquet.
    Tier,
    Reopen,
}

fn key_strategy() -> impl Strategy<Value = Key> {
    (
        prop::option::weighted(0.9, prop::sample::select(vec!["a", "b", "c", "d"])),
        prop::option::weighted(0.9, prop::sample::select(vec!["eu", "us"])),
        // Three partitions' worth of time, on a coarse grid so that rewrites collide.
        (0i64..200).prop_map(|i| i * HOUR / 10 - HOUR),
    )
        .prop_map(|(h, r, t)| (h.map(String::from), r.map(String::from), t))
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(
            (key_strategy(), (prop::option::weighted(0.9, -1000i64..1000), prop::option::of(any::<i64>())))
                .prop_map(|(k, (u, c))| (k, (u.map(|u| u as f64 / 100.0), c))),
            1..40
        ).prop_map(Op::Write),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::CompactJob),
        1 => Just(Op::Tier),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Debug, Clone)]
struct Query {
    hosts: Option<Vec<String>>,
    regions: Option<Vec<String>>,
    range: Option<(i64, i64)>,
}

fn query_strategy() -> impl Strategy<Value = Query> {
    let values = |v: Vec<&'static str>| {
        prop::option::of(prop::sample::subsequence(v.clone(), 0..=v.len()))
            .prop_map(|o| o.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>()))
    };
    (
        values(vec!["a", "b", "c", "d", "zz"]),
        values(vec!["eu", "us", "mars"]),
        prop::option::of((-2 * HOUR..20 * HOUR, 0..24 * HOUR).prop_map(|(s, len)| (s, s + len))),
    )
        .prop_map(|(hosts, regions, range)| Query {
            hosts,
            regions,
            range,
        })
}

fn request(q: &Query, pruning: bool) -> ScanRequest {
    let mut req = ScanRequest::new("cpu").with_pruning(pruning);
    if let Some(h) = &q.hosts {
        req = req.with_tag_in("host", h.clone());
    }
    if let Some(r) = &q.regions {
        req = req.with_tag_in("region", r.clone());
    }
    if let Some((s, e)) = q.range {
        req = req.with_time_range(s, e);
    }
    req
}

fn model_answer(model: &BTreeMap<Key, Row>, q: &Query) -> BTreeMap<Key, Row> {
    model
        .iter()
        .filter(|((h, r, ts), _)| {
            q.hosts
                .as_ref()
                .is_none_or(|hs| h.as_ref().is_some_and(|h| hs.contains(h)))
                && q.regions
                    .as_ref()
                    .is_none_or(|rs| r.as_ref().is_some_and(|r| rs.contains(r)))
                && q.range.is_none_or(|(s, e)| *ts >= s && *ts < e)
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Scans equal a naive model (last write wins) for random writes, flushes, compactions
    /// (full, and the policy's runs), moves to the cold tier (then late rows into cold
    /// partitions, and further moves), restarts and predicates, with pruning on and off.
    #[test]
    fn scans_match_a_naive_model(ops in prop::collection::vec(op_strategy(), 1..25),
                                 queries in prop::collection::vec(query_strategy(), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(config(dir.path())).unwrap();
        engine.create_table(schema()).unwrap();
        let mut model: BTreeMap<Key, Row> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Write(rows) => {
                    write_rows(&engine, &rows);
                    for (k, v) in rows { model.insert(k, v); }
                }
                Op::Flush => engine.flush().unwrap(),
                Op::Compact => { engine.compact().unwrap(); }
                Op::CompactJob => {
                    for run in engine.run_jobs(Some(JobKind::Compaction)) {
                        prop_assert!(run.error.is_none(), "{:?}", run);
                    }
                }
                Op::Tier => {
                    for run in engine.run_jobs(Some(JobKind::Tiering)) {
                        prop_assert!(run.error.is_none(), "{:?}", run);
                    }
                    // Late rows were folded in: one object per cold partition.
                    for p in engine.partitions("cpu").unwrap() {
                        prop_assert!(p.tier != Tier::Cold || p.files == 1, "{:?}", p);
                    }
                }
                Op::Reopen => {
                    drop(engine);
                    engine = Engine::open(config(dir.path())).unwrap();
                }
            }
        }
        prop_assert_eq!(&scan_all(&engine, &ScanRequest::new("cpu")), &model);
        for q in &queries {
            let expected = model_answer(&model, q);
            let pruned = scan_all(&engine, &request(q, true));
            let unpruned = scan_all(&engine, &request(q, false));
            prop_assert_eq!(&pruned, &expected, "pruning on, {:?}", q);
            prop_assert_eq!(&unpruned, &expected, "pruning off, {:?}", q);
            // Reading partitions ahead on threads yields the very same batches, in order.
            let one = engine.scan(&request(q, true)).unwrap().collect_batches().unwrap();
            let three = engine
                .scan(&request(q, true).with_readers(3))
                .unwrap()
                .collect_batches()
                .unwrap();
            prop_assert_eq!(&three, &one, "3 readers against 1, {:?}", q);
            // Without the tags in the projection the merge must still dedup by series.
            let want = projected_answer(&expected);
            for pruning in [true, false] {
                let req = request(q, pruning).with_projection(["count", "ts", "usage"]);
                let got = projected_rows(&engine.scan(&req).unwrap().collect_batches().unwrap());
                prop_assert_eq!(&got, &want, "projection without tags, pruning {}, {:?}", pruning, q);
            }
        }
    }
}

#[test]
fn last_write_wins_across_memtable_segments_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    engine.create_table(schema()).unwrap();
    let k = (Some("a".to_string()), Some("eu".to_string()), 1000);
    write_rows(&engine, &[(k.clone(), (Some(1.0), Some(1)))]);
    engine.flush().unwrap();
    write_rows(&engine, &[(k.clone(), (Some(2.0), None))]);
    let got = scan_all(&engine, &ScanRequest::new("cpu"));
    assert_eq!(got[&k], (Some(2.0), None));
    engine.flush().unwrap();
    write_rows(
        &engine,
        &[
            (k.clone(), (Some(3.0), Some(3))),
            (k.clone(), (Some(4.0), Some(4))),
        ],
    );
    drop(engine);
    let engine = Engine::open(config(dir.path())).unwrap();
    assert_eq!(
        scan_all(&engine, &ScanRequest::new("cpu"))[&k],
        (Some(4.0), Some(4))
    );
    engine.compact().unwrap();
    let stats = engine.partition_stats("cpu").unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].1, 1, "one segment after compaction");
    assert_eq!(scan_all(&engine, &ScanRequest::new("cpu")).len(), 1);
}

#[test]
fn append_only_tables_keep_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    let mut s = schema();
    s.append_only = true;
    engine.create_table(s.clone()).unwrap();
    let mut b = WriteBatch::new(&s);
    for v in 0..3 {
        b.push_row(
            &[Some("a"), None],
            5,
            &[Value::Float(v as f64), Value::Null],
        )
        .unwrap();
    }
    engine.write(&b).unwrap();
    engine.flush().unwrap();
    engine.write(&b).unwrap();
    let rows: usize = engine
        .scan(&ScanRequest::new("cpu"))
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 6);
}

#[test]
fn memory_limit_gives_retryable_back_pressure_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.memory_limit_bytes = 64 * 1024;
    let engine = Engine::open(c).unwrap();
    engine.create_table(schema()).unwrap();
    let mut accepted = 0;
    let err = loop {
        let rows: Vec<(Key, Row)> = (0..100)
            .map(|i| {
                (
                    (Some("h".into()), None, accepted * 100 + i),
                    (Some(1.0), Some(i)),
                )
            })
            .collect();
        let mut b = WriteBatch::new(&schema());
        for ((h, r, ts), (u, cnt)) in &rows {
            b.push_row(
                &[h.as_deref(), r.as_deref()],
                *ts,
                &[Value::Float(u.unwrap()), Value::Integer(cnt.unwrap())],
            )
            .unwrap();
        }
        match engine.write(&b) {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 10_000, "no back-pressure");
    };
    assert!(matches!(err, Error::MemoryLimit { .. }), "{err}");
    assert!(err.is_retryable());
    // Nothing accepted was dropped, and after a flush writes go through again.
    let before = scan_all(&engine, &ScanRequest::new("cpu")).len();
    assert_eq!(before, accepted as usize * 100);
    engine.flush().unwrap();
    write_rows(&engine, &[((Some("h".into()), None, -1), (None, None))]);
    assert_eq!(
        scan_all(&engine, &ScanRequest::new("cpu")).len(),
        before + 1
    );
}

#[test]
fn a_scan_keeps_its_snapshot_while_compaction_swaps_files() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    engine.create_table(schema()).unwrap();
    for i in 0..3 {
        write_rows(
            &engine,
            &[((Some(format!("h{i}")), None, i), (Some(i as f64), None))],
        );
        engine.flush().unwrap();
    }
    let seg_files = || {
        walk(dir.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .count()
    };
    assert_eq!(seg_files(), 3);
    let scan = engine.scan(&ScanRequest::new("cpu")).unwrap();
    assert_eq!(engine.compact().unwrap(), 1);
    // The old files stay while the scan holds them.
    assert_eq!(seg_files(), 4);
    let rows = rows_of(&scan.collect_batches().unwrap());
    assert_eq!(rows.len(), 3);
    assert_eq!(
        seg_files(),
        1,
        "obsolete files deleted once the last snapshot is gone"
    );
    assert_eq!(scan_all(&engine, &ScanRequest::new("cpu")), rows);
}

#[test]
fn unknown_tables_columns_and_types_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    engine.create_table(schema()).unwrap();
    assert!(matches!(
        engine.create_table(schema()),
        Err(Error::TableExists { .. })
    ));
    assert!(matches!(
        engine.scan(&ScanRequest::new("nope")),
        Err(Error::TableNotFound { .. })
    ));
    assert!(matches!(
        engine.scan(&ScanRequest::new("cpu").with_projection(["nope"])),
        Err(Error::ColumnNotFound { .. })
    ));
    let mut other = schema();
    other.fields[0].ty = FieldType::Integer;
    let mut b = WriteBatch::new(&other);
    b.push_row(&[None, None], 0, &[Value::Integer(1), Value::Null])
        .unwrap();
    assert!(matches!(engine.write(&b), Err(Error::TypeMismatch { .. })));
}

#[test]
fn projection_returns_requested_columns_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).unwrap();
    engine.create_table(schema()).unwrap();
    write_rows(
        &engine,
        &[(
            (Some("a".into()), Some("eu".into()), 7),
            (Some(1.5), Some(2)),
        )],
    );
    for flush in [false, true] {
        if flush {
            engine.flush().unwrap();
        }
        let batches = engine
            .scan(&ScanRequest::new("cpu").with_projection(["count", "host"]))
            .unwrap()
            .collect_batches()
            .unwrap();
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(b.schema().field(0).name(), "count");
        assert_eq!(b.schema().field(1).name(), "host");
        assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 2);
        assert_eq!(b.column(1).as_string::<i32>().value(0), "a");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `(host, dc, ts, usage, note)` rows of a full scan of the altered table, sorted.
type AlteredRow = (
    Option<String>,
    Option<String>,
    i64,
    Option<f64>,
    Option<String>,
);

fn altered_rows(engine: &Engine) -> Vec<AlteredRow> {
    let batches = engine
        .scan(&ScanRequest::new("m").with_projection(["host", "dc", "ts", "usage", "note"]))
        .unwrap()
        .collect_batches()
        .unwrap();
    let mut out = Vec::new();
    for b in &batches {
        let host = b.column(0).as_string::<i32>();
        let dc = b.column(1).as_string::<i32>();
        let ts = b.column(2).as_primitive::<TimestampNanosecondType>();
        let usage = b.column(3).as_primitive::<Float64Type>();
        let note = b.column(4).as_string::<i32>();
        for i in 0..b.num_rows() {
            out.push((
                host.is_valid(i).then(|| host.value(i).to_owned()),
                dc.is_valid(i).then(|| dc.value(i).to_owned()),
                ts.value(i),
                usage.is_valid(i).then(|| usage.value(i)),
                note.is_valid(i).then(|| note.value(i).to_owned()),
            ));
        }
    }
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

#[test]
fn added_columns_read_null_for_older_rows_everywhere() {
    use strata_storage::{FieldDef, NewColumn};
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(config(dir.path())).unwrap();
    let mut schema = TableSchema::new("m", "ts", ["host"], [("usage", FieldType::Float)]);
    schema.partition_interval_ns = HOUR;
    engine.create_table(schema.clone()).unwrap();
    let write_old = |engine: &Engine, host: &str, ts: i64, v: f64| {
        let mut b = WriteBatch::new(&schema);
        b.push_row(&[Some(host)], ts, &[Value::Float(v)]).unwrap();
        engine.write(&b).unwrap();
    };
    // One row in a segment, one in the memtable, both before the columns exist.
    write_old(&engine, "a", 10, 1.0);
    engine.flush().unwrap();
    write_old(&engine, "a", 20, 2.0);

    engine
        .add_column("m", NewColumn::Tag("dc".into()), None)
        .unwrap();
    engine
        .add_column(
            "m",
            NewColumn::Field(FieldDef {
                name: "note".into(),
                ty: FieldType::Text,
            }),
            None,
        )
        .unwrap();
    assert!(matches!(
        engine.add_column("m", NewColumn::Tag("usage".into()), None),
        Err(Error::ColumnExists { .. })
    ));
    assert!(matches!(
        engine.add_column("nope", NewColumn::Tag("x".into()), None),
        Err(Error::TableNotFound { .. })
    ));

    let altered = engine.table_schema("m").unwrap();
    assert_eq!(altered.tags, ["host", "dc"]);
    let write_new = |engine: &Engine, host: &str, dc: Option<&str>, ts: i64, note: &str| {
        let mut b = WriteBatch::new(&altered);
        b.push_row(
            &[Some(host), dc],
            ts,
            &[Value::Float(9.0), Value::Text(note)],
        )
        .unwrap();
        engine.write(&b).unwrap();
    };
    // Same series (dc NULL) and time as the segment row: replaces it. Another series
    // (dc = x) at the memtable row's time: a new point beside it.
    write_new(&engine, "a", None, 10, "replaced");
    write_new(&engine, "a", Some("x"), 20, "new series");

    let s = |v: &str| Some(v.to_owned());
    let expected: Vec<AlteredRow> = {
        let mut v = vec![
            (s("a"), None, 10, Some(9.0), s("replaced")),
            (s("a"), None, 20, Some(2.0), None),
            (s("a"), s("x"), 20, Some(9.0), s("new series")),
        ];
        v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        v
    };
    assert_eq!(altered_rows(&engine), expected, "memtable + old segment");
    drop(engine);
    engine = Engine::open(config(dir.path())).unwrap();
    assert_eq!(
        engine.table_schema("m").unwrap(),
        altered,
        "schema survives restart"
    );
    assert_eq!(altered_rows(&engine), expected, "after WAL replay");
    engine.flush().unwrap();
    assert_eq!(altered_rows(&engine), expected, "after flush");
    engine.compact().unwrap();
    assert_eq!(altered_rows(&engine), expected, "after compaction");
}

fn segment_files(dir: &std::path::Path) -> usize {
    fn walk(p: &std::path::Path, n: &mut usize) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, n);
            } else if path.extension().is_some_and(|x| x == "seg") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(&dir.join("tables"), &mut n);
    n
}

#[test]
fn dropped_tables_leave_nothing_behind_even_when_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(config(dir.path())).unwrap();
    engine.create_table(schema()).unwrap();
    let k = |h: &str, ts| (Some(h.to_string()), Some("eu".to_string()), ts);
    write_rows(&engine, &[(k("a", 1), (Some(1.0), Some(1)))]);
    engine.flush().unwrap();
    write_rows(&engine, &[(k("b", 2), (Some(2.0), Some(2)))]); // memtable + WAL only
    assert_eq!(segment_files(dir.path()), 1);

    // A scan started before the drop keeps its snapshot (and its file).
    let before = engine.scan(&ScanRequest::new("cpu")).unwrap();
    engine.drop_table("cpu").unwrap();
    assert!(matches!(
        engine.scan(&ScanRequest::new("cpu")),
        Err(Error::TableNotFound { .. })
    ));
    assert!(matches!(
        engine.drop_table("cpu"),
        Err(Error::TableNotFound { .. })
    ));
    assert_eq!(rows_of(&before.collect_batches().unwrap()).len(), 2);
    assert_eq!(
        segment_files(dir.path()),
        0,
        "deleted once the last scan ended"
    );

    // Same name again: none of the old rows come back, before or after a restart that
    // replays the WAL (which still holds the old table's records).
    engine.create_table(schema()).unwrap();
    write_rows(&engine, &[(k("c", 3), (Some(3.0), Some(3)))]);
    let only_new: BTreeMap<Key, Row> = [(k("c", 3), (Some(3.0), Some(3)))].into();
    assert_eq!(scan_all(&engine, &ScanRequest::new("cpu")), only_new);
    drop(engine);
    engine = Engine::open(config(dir.path())).unwrap();
    assert_eq!(scan_all(&engine, &ScanRequest::new("cpu")), only_new);
    engine.flush().unwrap();
    assert_eq!(scan_all(&engine, &ScanRequest::new("cpu")), only_new);
    assert_eq!(engine.table_names(), ["cpu"]);
}

/// Keys, indexes and comments are catalog entries like columns: durable, checked against
/// the relation namespace, and gone with their table.
#[test]
fn keys_indexes_and_comments_survive_a_restart() {
    use strata_storage::{CommentTarget, IndexDef, KeyDef, ViewDef};
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = Engine::open(config(dir.path())).unwrap();
        let mut s = schema();
        s.keys = vec![KeyDef {
            name: "cpu_pkey".into(),
            primary: true,
            columns: vec!["host".into(), "ts".into()],
            comment: None,
        }];
        engine.create_table(s).unwrap();
        let index = |name: &str| IndexDef {
            name: name.into(),
            columns: vec!["usage".into()],
            unique: false,
            method: "btree".into(),
            comment: None,
        };
        assert!(engine.create_index("cpu", index("cpu_v"), false).unwrap());
        assert!(!engine.create_index("cpu", index("cpu_v"), true).unwrap());
        for taken in ["cpu", "cpu_pkey"] {
            assert!(matches!(
                engine.create_index("cpu", index(taken), false),
                Err(strata_storage::Error::RelationExists { .. })
            ));
        }
        let mut bad = index("bad");
        bad.columns = vec!["nope".into()];
        assert!(engine.create_index("cpu", bad, false).is_err());
        assert!(matches!(
            engine.drop_index("cpu_pkey"),
            Err(strata_storage::Error::DependentObjects { .. })
        ));
        engine
            .set_comment(&CommentTarget::Table("cpu".into()), Some("usage".into()))
            .unwrap();
        engine
            .set_comment(
                &CommentTarget::Column {
                    table: "cpu".into(),
                    column: "usage".into(),
                },
                Some("value".into()),
            )
            .unwrap();
        engine
            .set_comment(&CommentTarget::Index("cpu_pkey".into()), Some("key".into()))
            .unwrap();
        engine
            .create_view(
                ViewDef {
                    name: "cpu_view".into(),
                    sql: "SELECT 1".into(),
                    columns: vec![],
                    comment: None,
                },
                false,
            )
            .unwrap();
        engine
            .set_comment(&CommentTarget::View("cpu_view".into()), Some("one".into()))
            .unwrap();
        assert!(matches!(
            engine.set_comment(&CommentTarget::Index("nope".into()), Some("x".into())),
            Err(strata_storage::Error::IndexNotFound { .. })
        ));
    }
    let engine = Engine::open(config(dir.path())).unwrap();
    let s = engine.table_schema("cpu").unwrap();
    assert_eq!(s.keys[0].comment.as_deref(), Some("key"));
    assert_eq!(s.indexes.len(), 1);
    assert_eq!(s.comment.as_deref(), Some("usage"));
    assert_eq!(
        s.column_comments.get("usage").map(String::as_str),
        Some("value")
    );
    assert_eq!(
        engine.view("cpu_view").unwrap().comment.as_deref(),
        Some("one")
    );
    engine.drop_index("cpu_v").unwrap();
    assert!(engine.table_schema("cpu").unwrap().indexes.is_empty());
    engine.drop_table("cpu").unwrap();
    // The table's index names are free again.
    let mut s = schema();
    s.name = "cpu_pkey".into();
    engine.create_table(s).unwrap();
}

/// The `(ts, bytes)` rows of table `b`, in time order.
fn byte_rows(engine: &Engine) -> Vec<(i64, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for b in engine.scan(&ScanRequest::new("b")).unwrap() {
        let b = b.unwrap();
        let ts = b.column(0).as_primitive::<TimestampNanosecondType>();
        let v = b.column(2).as_binary::<i32>();
        for i in 0..b.num_rows() {
            out.push((ts.value(i), v.is_valid(i).then(|| v.value(i).to_vec())));
        }
    }
    out.sort();
    out
}

#[test]
fn byte_fields_keep_every_byte_in_every_tier() {
    let dir = tempfile::tempdir().unwrap();
    let mut schema = TableSchema::new("b", "ts", ["k"], [("v", FieldType::Bytes)]);
    schema.cold_after_ns = Some(24 * HOUR);
    let engine = Engine::open(config(dir.path())).unwrap();
    engine.create_table(schema.clone()).unwrap();
    // Not UTF-8, empty, NUL bytes, NULL: each must come back as written.
    let values: Vec<Option<Vec<u8>>> = vec![
        Some(vec![0xff, 0x00, 0xfe]),
        Some(Vec::new()),
        None,
        Some(b"plain".to_vec()),
        Some((0..=255).collect()),
    ];
    let write = |engine: &Engine, base: i64| {
        let mut b = WriteBatch::new(&schema);
        for (i, v) in values.iter().enumerate() {
            let value = v.as_deref().map_or(Value::Null, Value::Bytes);
            b.push_row(&[Some("a")], base + i as i64, &[value]).unwrap();
        }
        engine.write(&b).unwrap();
    };
    write(&engine, 0);
    let expected: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64, v.clone()))
        .collect();
    assert_eq!(byte_rows(&engine), expected, "memtable");
    drop(engine);
    let engine = Engine::open(config(dir.path())).unwrap();
    assert_eq!(byte_rows(&engine), expected, "after WAL replay");
    engine.flush().unwrap();
    assert_eq!(byte_rows(&engine), expected, "segment");
    write(&engine, 0);
    engine.flush().unwrap();
    engine.compact().unwrap();
    assert_eq!(byte_rows(&engine), expected, "after compaction");
    for run in engine.run_jobs(Some(JobKind::Tiering)) {
        assert!(run.error.is_none(), "{run:?}");
    }
    let parts = engine.partitions("b").unwrap();
    assert!(parts.iter().all(|p| p.tier == Tier::Cold), "{parts:?}");
    assert_eq!(byte_rows(&engine), expected, "cold tier");
}
