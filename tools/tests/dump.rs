//! `strata-tools dump` prints every row of the files Strata writes (WAL, segments, cold
//! Parquet, catalog) as text, and refuses a file that is none of them.

use std::process::Command;

use strata_storage::{Engine, EngineConfig, FieldType, JobKind, TableSchema, Value, WriteBatch};

const HOUR: i64 = 3_600_000_000_000;
/// 2024-01-01T00:00:00Z: old enough for the cold tier.
const T0: i64 = 1_704_067_200_000_000_000;

fn dump(args: &[&std::path::Path]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_strata-tools"))
        .arg("dump")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn dump_prints_the_rows_of_every_tier_and_refuses_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = EngineConfig::new(dir.path());
    c.background = false;
    let engine = Engine::open(c).unwrap();
    let mut schema = TableSchema::new("t", "ts", ["host"], [("note", FieldType::Text)]);
    schema.partition_interval_ns = HOUR;
    schema.cold_after_ns = Some(HOUR);
    engine.create_table(schema.clone()).unwrap();
    let write = |host: &str, ts: i64, note: &str| {
        let mut b = WriteBatch::new(&schema);
        b.push_row(&[Some(host)], ts, &[Value::Text(note)]).unwrap();
        engine.write(&b).unwrap();
    };
    write("cold-host", T0, "in-cold");
    engine.flush().unwrap();
    engine.run_jobs(Some(JobKind::Tiering));
    write("seg-host", T0 + HOUR, "in-segment");
    engine.flush().unwrap();
    write("wal-host", T0 + 2 * HOUR, "in-wal");
    drop(engine);

    let out = dump(&[dir.path()]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for (what, host, note) in [
        ("cold object", "cold-host", "in-cold"),
        ("segment", "seg-host", "in-segment"),
        ("WAL", "wal-host", "in-wal"),
    ] {
        let row = text
            .lines()
            .find(|l| l.contains(&format!("host={host}")))
            .unwrap_or_else(|| panic!("no {what} row in:\n{text}"));
        assert!(row.contains(note), "{what}: {row}");
    }
    assert!(text.contains("catalog version"), "{text}");

    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "not a Strata file").unwrap();
    let out = dump(&[&other]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a file Strata writes"),
        "{out:?}"
    );
}
