//! Helper for the crash test: writes batches to a storage engine and prints `ACK <n>` after
//! each acknowledged batch, until it is killed.
//!
//! Usage: `storage-crash-writer <data dir> <first batch> <mode>`; mode is `plain` (flushes
//! and compacts as it goes), `flush` or `compaction` (pauses inside the first flush or
//! compaction right before its catalog commit, after printing `AT <point>`, so the test can
//! kill it there), `tiering-upload` or `tiering-commit` (flushes and moves the partition to
//! the cold tier as it goes, and pauses in the first move after its upload, or right before
//! its catalog commit), or `tiering-fold` (pauses after the commit of the first move that
//! folds late rows into a cold object, before the replaced object is deleted), or
//! `wal-sync` (after five acknowledged batches, pauses the next one after its WAL write and
//! before its fsync: a power cut then tears that write), or `group` (writes each batch as an
//! atomic group of five batches of ten rows, one WAL record each, and pauses the sixth
//! group between its records).
//! `STRATA_COLD_STORE` (with the `AWS_*` variables) names another cold store than the
//! default directory.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use strata_storage::{Engine, EngineConfig, FieldType, JobKind, TableSchema, Value, WriteBatch};
use strata_tests::batch_rows;

fn schema() -> TableSchema {
    let mut s = TableSchema::new("crash", "ts", ["host"], [("v", FieldType::Float)]);
    // The rows are from 1970: whatever is flushed may move to the cold tier.
    s.cold_after_ns = Some(3_600_000_000_000);
    s
}

fn pause_at(point: &'static str) -> anyhow::Result<()> {
    fail::cfg_callback(point, move || {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "AT {point}");
        let _ = out.flush();
        std::thread::sleep(Duration::from_secs(30));
    })
    .map_err(|e| anyhow::anyhow!(e))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, first, mode] = args.as_slice() else {
        bail!("usage: storage-crash-writer <dir> <first batch> <plain|flush|compaction|tiering-upload|tiering-commit|tiering-fold|wal-sync|group>");
    };
    let first: i64 = first.parse().context("first batch")?;
    let mut config = EngineConfig::new(dir);
    config.background = false;
    // An S3 store comes from the environment (`AWS_*` for its settings).
    if let Ok(url) = std::env::var("STRATA_COLD_STORE") {
        config.cold_store.url = Some(url);
    }
    if mode == "group" {
        config.group_record_bytes = 1;
    }
    let engine = Engine::open(config)?;
    if engine.table_schema("crash").is_err() {
        engine.create_table(schema())?;
    }
    match mode.as_str() {
        "plain" => {}
        "flush" => pause_at("flush::before_catalog_commit")?,
        "compaction" => pause_at("compaction::before_catalog_commit")?,
        "tiering-upload" => pause_at("tiering::after_upload")?,
        "tiering-commit" => pause_at("tiering::before_catalog_commit")?,
        "tiering-fold" => pause_at("tiering::after_fold_commit")?,
        "wal-sync" | "group" => {}
        other => bail!("unknown mode {other}"),
    }
    // Stdout is locked per line: a pause point on another thread (the WAL writer's) prints.
    for n in first.. {
        let k = n - first + 1;
        if mode == "group" {
            if k == 6 {
                pause_at("group::between_records")?;
            }
            let rows: Vec<_> = batch_rows(n).collect();
            let mut group = Vec::new();
            for chunk in rows.chunks(10) {
                let mut b = WriteBatch::new(&schema());
                for (host, ts, v) in chunk {
                    b.push_row(&[Some(host)], *ts, &[Value::Float(*v)])?;
                }
                group.push(b);
            }
            engine.write_group(&group)?;
        } else {
            let mut b = WriteBatch::new(&schema());
            for (host, ts, v) in batch_rows(n) {
                b.push_row(&[Some(&host)], ts, &[Value::Float(v)])?;
            }
            engine.write(&b)?;
        }
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ACK {n}")?;
            out.flush()?;
        }
        match mode.as_str() {
            "flush" if k == 5 => engine.flush()?,
            "wal-sync" if k == 5 => pause_at("wal::before_sync")?,
            "compaction" if k % 3 == 0 => {
                // Build up segments; the third flush's compaction pauses.
                engine.flush()?;
                if k >= 9 {
                    engine.compact()?;
                }
            }
            "tiering-upload" | "tiering-commit" | "tiering-fold" if k % 3 == 0 => {
                engine.flush()?;
                for run in engine.run_jobs(Some(JobKind::Tiering)) {
                    if let Some(e) = run.error {
                        bail!("tiering failed: {e}");
                    }
                }
            }
            "plain" if k % 7 == 0 => engine.flush()?,
            "plain" if k % 20 == 0 => {
                engine.compact()?;
            }
            _ => {}
        }
    }
    Ok(())
}
