//! Opening a data directory: the catalog, orphan cleanup and WAL replay.
//!
//! Owns the start-up order: load (or create) the catalog, delete every file under
//! `tables/` the catalog does not name, replay WAL records above `flushed_lsn` into fresh
//! memtables, start the WAL writer, then the background jobs. Nothing is served before
//! this returns, so recovery needs no locks.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, RwLock};
use strata_wal::{Lsn, Wal, WalConfig, WalReader};

use super::{jobs, write, Engine, EngineConfig, Inner, MemKey, State};
use crate::batch::{WriteBatch, WAL_KIND_WRITE};
use crate::catalog::{sync_dir, Version};
use crate::error::{Error, Result};
use crate::group::{self, WAL_KIND_GROUP};
use crate::memtable::Memtable;

impl Engine {
    /// Opens (creating if needed) the data directory, replays the WAL and starts the
    /// background jobs.
    pub fn open(config: EngineConfig) -> Result<Engine> {
        let dir = config.dir.clone();
        // Durable in its parent: a data directory that vanishes with the power would take
        // every acknowledged write with it.
        crate::catalog::create_dir_durable(&dir)?;
        let version = match Version::load(&dir)? {
            Some(v) => v,
            None => {
                let v = Version {
                    next_table_id: 1,
                    next_segment_id: 1,
                    next_erasure_id: 1,
                    ..Version::default()
                };
                v.persist(&dir)?;
                v
            }
        };
        let receipts = crate::erasure::ReceiptLog::open(&dir)?;
        let subject_key = crate::erasure::SubjectKey::open(&dir)?;
        // A receipt filed just before a crash, whose erasure the catalog still lists.
        let mut version = version;
        if version.erasures.iter().any(|e| receipts.contains(e.id)) {
            version.erasures.retain(|e| !receipts.contains(e.id));
            version.persist(&dir)?;
        }
        remove_orphans(&dir, &version)?;
        let cold =
            crate::tier::store::ColdStore::open(&config.cold_store, &dir, config.cold_cache_bytes)?;

        let wal_dir = dir.join("wal");
        let mut reader = WalReader::open(&wal_dir)?;
        let mut active: HashMap<MemKey, Memtable> = HashMap::new();
        let mut active_bytes = 0;
        let mut replayed = 0usize;
        let mut unversioned = 0usize;
        // Write groups whose last record has not been read yet, by their first LSN.
        let mut groups: HashMap<u64, Vec<(WriteBatch, Option<u64>)>> = HashMap::new();
        while let Some(record) = reader.next_record()? {
            if record.lsn.0 <= version.flushed_lsn {
                continue;
            }
            let corrupt = |e: crate::codec::CodecError| Error::CorruptWalRecord {
                lsn: record.lsn.0,
                reason: e.to_string(),
            };
            let batches = match record.kind {
                WAL_KIND_WRITE => vec![WriteBatch::decode(&record.payload).map_err(corrupt)?],
                WAL_KIND_GROUP => {
                    let part = group::decode_part(&record.payload).map_err(corrupt)?;
                    let key = if part.group == 0 {
                        record.lsn.0
                    } else {
                        part.group
                    };
                    let mut batches = if part.group == 0 {
                        Vec::new()
                    } else {
                        // A flush never falls inside a group, so its first record is
                        // above `flushed_lsn` too and was read; if not, the group was
                        // not this log's to finish.
                        let Some(b) = groups.remove(&key) else {
                            tracing::warn!(
                                lsn = record.lsn.0,
                                group = key,
                                "skipping a write-group record whose first record is missing"
                            );
                            continue;
                        };
                        b
                    };
                    batches.extend(part.batches);
                    if !part.last {
                        groups.insert(key, batches);
                        continue;
                    }
                    batches
                }
                _ => continue,
            };
            for (batch, table_id) in batches {
                let Some(table) = version
                    .tables
                    .get(&batch.table)
                    .filter(|t| table_id.is_none_or(|id| id == t.id))
                else {
                    tracing::debug!(table = %batch.table, lsn = record.lsn.0, "skipping wal record of a dropped table");
                    continue;
                };
                if table_id.is_none() {
                    unversioned += 1;
                }
                active_bytes += write::apply(&mut active, table, &batch, record.lsn.0);
            }
            replayed += 1;
        }
        if !groups.is_empty() {
            // Cut off by the crash before their last record: never acknowledged.
            tracing::info!(groups = groups.len(), "discarding unfinished write groups");
        }
        let mut recovered = reader.finish()?;
        recovered.ensure_next_lsn_above(Lsn(version.flushed_lsn));
        let mut wal_config = WalConfig::new(&wal_dir);
        wal_config.fsync = config.fsync;
        wal_config.segment_size = config.wal_segment_size;
        let wal = Wal::start(wal_config, recovered)?;
        tracing::info!(dir = %dir.display(), replayed, "storage engine open");

        // Replayed rows have waited since before the restart; their age counts from now,
        // which is the earliest a flush could have taken them anyway.
        let active_since = (!active.is_empty()).then(Instant::now);
        let jobs = jobs::Jobs::new(config.max_concurrent_jobs);
        let inner = Arc::new(Inner {
            config,
            wal,
            generation: RwLock::new(()),
            state: Mutex::new(State {
                version: Arc::new(version),
                active,
                active_bytes,
                active_since,
                frozen: Vec::new(),
            }),
            maintenance: Mutex::new(()),
            memory_freed: Condvar::new(),
            memory_lock: Mutex::new(()),
            jobs,
            cold: Arc::new(cold),
            cold_inflight: Mutex::new(std::collections::HashSet::new()),
            cold_retired: Mutex::new(Vec::new()),
            receipts: Mutex::new(receipts),
            subject_key,
            shutdown: AtomicBool::new(false),
        });
        let workers = if inner.config.background {
            jobs::start(&inner).map_err(|e| Error::io(&dir, e))?
        } else {
            Vec::new()
        };
        let engine = Engine {
            inner,
            workers: Mutex::new(workers),
        };
        if unversioned > 0 {
            // Payload-version-1 records name their table only by name. Flushing them now
            // puts them below `flushed_lsn`, so a later drop and re-create of that name can
            // never replay them into the new table.
            tracing::info!(
                records = unversioned,
                "flushing wal records without table ids"
            );
            engine.flush()?;
        }
        Ok(engine)
    }
}

/// Deletes segment files and temporaries that the catalog does not reference.
fn remove_orphans(dir: &Path, version: &Version) -> Result<()> {
    let live = version.live_files(dir);
    let tables = dir.join("tables");
    let Ok(table_dirs) = std::fs::read_dir(&tables) else {
        return Ok(());
    };
    for t in table_dirs.flatten() {
        let Ok(parts) = std::fs::read_dir(t.path()) else {
            continue;
        };
        for p in parts.flatten() {
            let Ok(files) = std::fs::read_dir(p.path()) else {
                continue;
            };
            let mut removed = false;
            for f in files.flatten() {
                let path = f.path();
                if !live.contains(&path) {
                    tracing::info!(file = %path.display(), "removing unreferenced segment file");
                    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    removed = true;
                }
            }
            if removed {
                sync_dir(&p.path())?;
            }
        }
    }
    let _ = std::fs::remove_file(dir.join("CATALOG.tmp"));
    // Parquet files of tiering runs a crash interrupted: their rows are still in segments.
    if let Ok(staged) = std::fs::read_dir(dir.join(super::tiering::STAGING_DIR)) {
        for f in staged.flatten() {
            tracing::info!(file = %f.path().display(), "removing an interrupted tiering run's file");
            std::fs::remove_file(f.path()).map_err(|e| Error::io(f.path(), e))?;
        }
    }
    Ok(())
}
