//! The cold tier on a real S3 server (moto's server mode on loopback, request signatures
//! checked, see `strata_tests::s3`): partitions move to `s3://bucket/prefix`, scans read
//! every tier, late rows are folded in, a restart reads the same rows and `DROP TABLE`
//! deletes the objects; wrong credentials and a stopped server fail the tiering job with
//! the store's reason and lose nothing, and a scan that needs an unreadable cold object
//! fails instead of returning part of the answer.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use strata_storage::{
    ColdStoreConfig, Engine, EngineConfig, Error, FieldType, JobKind, JobOutcome, ScanRequest,
    TableSchema, Tier, Value, WriteBatch,
};
use strata_tests::s3::S3Server;

const HOUR: i64 = 3_600_000_000_000;
const MINUTE: i64 = 60_000_000_000;
/// 2024-01-01T00:00:00Z: older than `cold_after` below.
const T0: i64 = 1_704_067_200_000_000_000;

fn schema() -> TableSchema {
    let mut s = TableSchema::new("cpu", "ts", ["host"], [("v", FieldType::Float)]);
    s.partition_interval_ns = HOUR;
    s.cold_after_ns = Some(24 * HOUR);
    s
}

fn open(dir: &Path, store: ColdStoreConfig) -> Engine {
    let mut c = EngineConfig::new(dir);
    c.background = false;
    c.cold_store = store;
    Engine::open(c).unwrap()
}

type Rows = BTreeMap<(String, i64), f64>;

fn write(engine: &Engine, rows: &Rows) {
    let mut b = WriteBatch::new(&schema());
    for ((h, ts), v) in rows {
        b.push_row(&[Some(h)], *ts, &[Value::Float(*v)]).unwrap();
    }
    engine.write(&b).unwrap();
}

/// Three old hours of four hosts, one point a minute.
fn old_rows() -> Rows {
    let mut rows = Rows::new();
    for hour in 0..3 {
        for m in 0..60 {
            for h in ["a", "b", "c", "d"] {
                let ts = T0 + hour * HOUR + m * MINUTE;
                rows.insert((h.into(), ts), (hour * 1000 + m) as f64);
            }
        }
    }
    rows
}

fn scan(engine: &Engine, req: &ScanRequest) -> Result<Rows, Error> {
    let mut out = BTreeMap::new();
    for b in engine.scan(req)?.collect_batches()? {
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
    Ok(out)
}

fn tier(engine: &Engine) -> Vec<strata_storage::JobRun> {
    engine.run_jobs(Some(JobKind::Tiering))
}

fn tiers(engine: &Engine) -> Vec<(Tier, usize)> {
    engine
        .partitions("cpu")
        .unwrap()
        .iter()
        .map(|p| (p.tier, p.files))
        .collect()
}

#[test]
fn partitions_move_to_s3_and_scans_fold_restart_and_drop_work() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), s3.cold_store("strata"));
    engine.create_table(schema()).unwrap();
    let mut expected = old_rows();
    write(&engine, &expected);
    engine.flush().unwrap();

    let runs = tier(&engine);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, JobOutcome::Succeeded, "{runs:?}");
    assert_eq!(runs[0].rows, 720);
    let keys = s3.list("strata");
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys
        .iter()
        .all(|k| k.starts_with("strata/cpu/p") && k.ends_with(".parquet")));
    assert_eq!(tiers(&engine), vec![(Tier::Cold, 1); 3]);
    let parts = engine.partitions("cpu").unwrap();
    assert!(
        parts[0]
            .location
            .starts_with(&format!("s3://{}/strata/cpu/p", s3.bucket)),
        "{:?}",
        parts[0]
    );
    // No local segment is left.
    assert_eq!(engine.segments("cpu").unwrap().len(), 0);

    assert_eq!(scan(&engine, &ScanRequest::new("cpu")).unwrap(), expected);
    let (lo, hi) = (T0 + HOUR + 30 * MINUTE, T0 + 2 * HOUR + 10 * MINUTE);
    let req = ScanRequest::new("cpu")
        .with_time_range(lo, hi)
        .with_tag_in("host", ["b", "zz"]);
    let want: Rows = expected
        .iter()
        .filter(|((h, t), _)| h == "b" && *t >= lo && *t < hi)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(want.len(), 40);
    assert_eq!(scan(&engine, &req).unwrap(), want);

    // Late rows: read over the cold rows at once, folded into the partition's object by
    // the next run.
    let late: Rows = [(("a".into(), T0), -1.0), (("e".into(), T0 + MINUTE), 5.0)].into();
    write(&engine, &late);
    expected.extend(late);
    assert_eq!(scan(&engine, &ScanRequest::new("cpu")).unwrap(), expected);
    engine.flush().unwrap();
    let runs = tier(&engine);
    assert_eq!(runs[0].rows, 241, "{runs:?}");
    assert_eq!(s3.list("strata").len(), 3, "the replaced object is deleted");
    assert_eq!(tiers(&engine), vec![(Tier::Cold, 1); 3]);
    assert_eq!(scan(&engine, &ScanRequest::new("cpu")).unwrap(), expected);

    drop(engine);
    let engine = open(dir.path(), s3.cold_store("strata"));
    assert_eq!(scan(&engine, &ScanRequest::new("cpu")).unwrap(), expected);
    engine.drop_table("cpu").unwrap();
    assert_eq!(s3.list("strata"), Vec::<String>::new());
}

#[test]
fn wrong_credentials_fail_the_job_with_the_reason_and_keep_the_data_local() {
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = s3.cold_store("strata");
    wrong.s3.secret_access_key = Some("not-the-secret".into());
    let engine = open(dir.path(), wrong);
    engine.create_table(schema()).unwrap();
    let expected = old_rows();
    write(&engine, &expected);
    engine.flush().unwrap();

    let runs = tier(&engine);
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, JobOutcome::Failed, "{runs:?}");
    let error = runs[0].error.clone().unwrap();
    assert!(
        error.contains("SignatureDoesNotMatch") || error.contains("403"),
        "the store's reason: {error}"
    );
    assert!(error.contains("s3://"), "names the store: {error}");
    let job = engine
        .jobs()
        .into_iter()
        .find(|j| j.kind == JobKind::Tiering && j.table.as_deref() == Some("cpu"))
        .unwrap();
    assert_eq!(job.failures, 1);
    assert!(job.next_run.is_some(), "retried later: {job:?}");
    assert_eq!(tiers(&engine), vec![(Tier::Local, 1); 3]);
    assert_eq!(scan(&engine, &ScanRequest::new("cpu")).unwrap(), expected);
    assert_eq!(s3.list(""), Vec::<String>::new(), "nothing was stored");

    // With the right key the same data moves.
    drop(engine);
    let engine = open(dir.path(), s3.cold_store("strata"));
    let runs = tier(&engine);
    assert_eq!(runs[0].outcome, JobOutcome::Succeeded, "{runs:?}");
    assert_eq!(tiers(&engine), vec![(Tier::Cold, 1); 3]);
    assert_eq!(scan(&engine, &ScanRequest::new("cpu")).unwrap(), expected);
}

#[test]
fn a_stopped_server_fails_cold_reads_and_tiering_but_loses_nothing() {
    let mut s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), s3.cold_store("strata"));
    engine.create_table(schema()).unwrap();
    let cold = old_rows();
    write(&engine, &cold);
    engine.flush().unwrap();
    assert_eq!(tier(&engine)[0].outcome, JobOutcome::Succeeded);
    // Another old partition, still local.
    let local: Rows = (0..30)
        .map(|m| (("a".to_owned(), T0 + 5 * HOUR + m * MINUTE), m as f64))
        .collect();
    write(&engine, &local);
    engine.flush().unwrap();

    s3.stop();
    // A scan that needs a cold object fails, naming it, instead of answering in part.
    let err = scan(&engine, &ScanRequest::new("cpu")).unwrap_err();
    assert!(matches!(err, Error::ColdStore { .. }), "{err:?}");
    assert!(err.to_string().contains("strata/cpu/p"), "{err}");
    // One that needs only local rows still works.
    let req = ScanRequest::new("cpu").with_time_range(T0 + 5 * HOUR, T0 + 6 * HOUR);
    assert_eq!(scan(&engine, &req).unwrap(), local);
    // Tiering the local partition fails with the reason; its rows stay local.
    let runs = tier(&engine);
    assert_eq!(runs[0].outcome, JobOutcome::Failed, "{runs:?}");
    assert!(
        runs[0].error.as_deref().unwrap().contains("s3://"),
        "{runs:?}"
    );
    assert_eq!(
        tiers(&engine),
        vec![
            (Tier::Cold, 1),
            (Tier::Cold, 1),
            (Tier::Cold, 1),
            (Tier::Local, 1)
        ]
    );
    drop(engine);
    let engine = open(dir.path(), s3.cold_store("strata"));
    assert_eq!(scan(&engine, &req).unwrap(), local, "after a restart");
}
