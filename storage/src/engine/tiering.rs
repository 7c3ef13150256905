//! Tiering: partitions whose whole time range is older than `now - cold_after` move to the
//! cold store as Parquet (the `tiering` job, one per table with `cold_after`).
//!
//! A move, for one partition: merge its segments (the compaction merge, so the file is
//! sorted by series and time with one row per point) into a Parquet file in
//! `<data dir>/cold-staging/`; upload it; read it back and compare size and CRC32; commit a
//! catalog version that lists the object and no longer lists the segments; delete the
//! segments (once no scan uses them) and the staging file. A crash before the commit leaves
//! the rows in their segments (the staging file is deleted at start-up, an uploaded object
//! is an orphan the store clean-up removes); a crash after it leaves only unreferenced
//! segment files, which start-up deletes. Nothing is lost or read twice.
//!
//! Late rows for a partition that is already cold land in memtables and new segments as
//! usual; scans read them with the cold rows (cold objects rank oldest). The next run folds
//! them in: it merges the partition's cold object with its segments into one new object
//! that replaces both, so a partition is one object and other engines reading the files
//! see each point once. The replaced object goes to the catalog's `cold_garbage` in the
//! same commit and is deleted once no scan reads it (the store-wide tiering job, table
//! NULL in `system.jobs`, deletes what is garbage).
//!
//! An unreachable or misconfigured store fails the run with the store's error (shown in
//! `system.jobs`); the scheduler retries it with back-off and the local data stays.

use std::sync::Arc;
use std::time::SystemTime;

use super::jobs::{JobKey, JobKind, Moved, Pending};
use super::merge::{merge_dicts, merge_into, MergeInput};
use super::purge::{find_removed, Removed, Survivors};
use super::{now_ns, Inner};
use crate::catalog::{create_dir_durable, ColdEntry, ColdHandle, ColdRef, SegmentRef, TableState};
use crate::error::{Error, Result};
use crate::scan::{ScanSource, SourceContext};
use crate::schema::NULL_TIME;
use crate::tier::parquet::ParquetSink;
use crate::tier::store::ObjectSums;

/// Where tiering stages Parquet files before upload, under the data directory.
pub(super) const STAGING_DIR: &str = "cold-staging";

/// The cold store key of an object: `<table>/p<partition start ns>/<table id>-<id>.parquet`
/// (the table name percent-encoded as one path segment).
pub(crate) fn cold_key(table: &str, table_id: u64, part: i64, id: u64) -> String {
    let name = object_store::path::PathPart::from(table);
    format!("{}/p{part}/{table_id}-{id:020}.parquet", name.as_ref())
}

/// Partitions of `table` due to move: wholly older than `now - cold_after`, with segments.
/// The partition of rows with a NULL time has no age and stays local.
fn due_partitions(table: &TableState, now: i64) -> Vec<i64> {
    let Some(age) = table.schema.cold_after_ns else {
        return Vec::new();
    };
    let cutoff = now.saturating_sub(age);
    let interval = table.schema.partition_interval_ns;
    table
        .partitions
        .iter()
        .filter(|(&p, segs)| {
            p != NULL_TIME && !segs.is_empty() && p.saturating_add(interval) <= cutoff
        })
        .map(|(&p, _)| p)
        .collect()
}

impl Inner {
    /// One tiering job per table that has `cold_after`, due when a partition is old enough;
    /// and the store-wide one (no table), due when a garbage object can be deleted.
    pub(super) fn tiering_pending(&self) -> Vec<Pending> {
        let version = self.state.lock().version.clone();
        let now = now_ns();
        let collectable = !self
            .collectable_cold_garbage(&version.cold_garbage)
            .is_empty();
        let key = JobKey {
            kind: JobKind::Tiering,
            table: None,
        };
        // Listed once there is garbage or it has run, so a store without any stays quiet.
        let listed = !version.cold_garbage.is_empty() || self.jobs.has_status(key);
        let store_wide = listed.then_some(Pending {
            key,
            table: None,
            due: collectable,
            next_run: collectable.then(SystemTime::now),
        });
        store_wide
            .into_iter()
            .chain(
                version
                    .tables
                    .iter()
                    .filter(|(_, t)| t.schema.cold_after_ns.is_some())
                    .map(|(name, t)| {
                        let due = !due_partitions(t, now).is_empty();
                        Pending {
                            key: JobKey {
                                kind: JobKind::Tiering,
                                table: Some(t.id),
                            },
                            table: Some(name.clone()),
                            due,
                            next_run: due.then(SystemTime::now),
                        }
                    }),
            )
            .collect()
    }

    /// Marks handles of objects just listed in `cold_garbage` (replaced or dropped): they
    /// are deleted once no scan holds them.
    pub(super) fn retire_cold<'a>(&self, handles: impl IntoIterator<Item = &'a ColdRef>) {
        let mut retired = self.cold_retired.lock();
        retired.extend(
            handles
                .into_iter()
                .map(|h| (h.entry.key.clone(), Arc::downgrade(h))),
        );
    }

    /// The garbage keys no scan reads any more (after a restart: all of them).
    fn collectable_cold_garbage(&self, garbage: &[String]) -> Vec<String> {
        let mut retired = self.cold_retired.lock();
        retired.retain(|(_, h)| h.strong_count() > 0);
        garbage
            .iter()
            .filter(|k| !retired.iter().any(|(r, _)| r == *k))
            .cloned()
            .collect()
    }

    /// Deletes the cold objects the catalog lists as garbage (a dropped table's, or ones a
    /// fold replaced) that no scan reads, and forgets those that are gone; returns how many.
    /// An object that cannot be deleted stays listed and is retried by the next call; the
    /// first such error is returned after the others were tried.
    pub(super) fn collect_cold_garbage(&self) -> Result<usize> {
        let garbage = self.state.lock().version.cold_garbage.clone();
        let garbage = self.collectable_cold_garbage(&garbage);
        let mut deleted = Vec::new();
        let mut failed = None;
        for key in &garbage {
            match self.cold.delete(key) {
                Ok(()) => deleted.push(key.clone()),
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "could not delete a garbage cold object; will retry");
                    failed.get_or_insert(e);
                }
            }
        }
        if !deleted.is_empty() {
            let _m = self.maintenance.lock();
            let current = self.state.lock().version.clone();
            let mut next = (*current).clone();
            next.cold_garbage.retain(|k| !deleted.contains(k));
            next.persist(&self.config.dir)?;
            self.state.lock().version = Arc::new(next);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(deleted.len()),
        }
    }

    /// The store-wide tiering job: deletes collectable garbage objects.
    pub(super) fn collect_cold_garbage_job(&self) -> Result<Moved> {
        let objects = self.collect_cold_garbage()?;
        tracing::debug!(objects, "deleted garbage cold objects");
        Ok(Moved::default())
    }

    /// Deletes objects under the table's prefix in the cold store that no catalog entry
    /// names and no upload is writing: what a crash between upload and commit leaves.
    fn remove_cold_orphans(&self, table: &TableState) -> Result<()> {
        let name = object_store::path::PathPart::from(table.schema.name.as_str());
        let keys = self.cold.list(name.as_ref())?;
        for key in keys {
            let referenced = {
                let st = self.state.lock();
                st.version.cold_garbage.contains(&key)
                    || st
                        .version
                        .tables
                        .values()
                        .any(|t| t.cold.values().flatten().any(|c| c.entry.key == key))
            };
            if referenced || self.cold_inflight.lock().contains(&key) {
                continue;
            }
            tracing::info!(key = %key, "removing an unreferenced cold object");
            self.cold.delete(&key)?;
        }
        Ok(())
    }

    /// The tiering job of one table: moves every due partition, then deletes the objects
    /// the moves replaced (once this run's own snapshot no longer holds them).
    pub(super) fn tier_table(&self, table_id: u64) -> Result<Moved> {
        if let Err(e) = self.collect_cold_garbage() {
            tracing::warn!(error = %e, "cold garbage left for a later run");
        }
        let moved = self.tier_due_partitions(table_id)?;
        if let Err(e) = self.collect_cold_garbage() {
            tracing::warn!(error = %e, "cold garbage left for a later run");
        }
        Ok(moved)
    }

    fn tier_due_partitions(&self, table_id: u64) -> Result<Moved> {
        let mut moved = Moved::default();
        let version = self.state.lock().version.clone();
        let Some(table) = version.tables.values().find(|t| t.id == table_id) else {
            return Ok(moved);
        };
        self.remove_cold_orphans(table)?;
        let tombstones = version.tombstones(table)?;
        for part in due_partitions(table, now_ns()) {
            if self.is_shut_down() {
                return Err(Error::Closed);
            }
            let Some(segs) = table.partitions.get(&part) else {
                continue;
            };
            let cold = table.cold.get(&part).map_or(&[][..], Vec::as_slice);
            // A pending erasure's rows are purged first (see `compaction`, "Erasures").
            let awaits = segs
                .iter()
                .any(|s| super::compaction::awaits_purge(table, s, &tombstones))
                || cold.iter().any(|c| {
                    tombstones.iter().any(|t| {
                        t.applies_to(c.entry.max_lsn, c.entry.purged)
                            && t.pred
                                .prune(&crate::tier::parquet::ColdFacts::span_only(&c.entry))
                                != crate::predicate::Coverage::None
                    })
                });
            if awaits {
                continue;
            }
            if let Some(m) = self.tier_partition(table, part, cold, segs)? {
                moved += m;
            }
        }
        Ok(moved)
    }

    /// Moves `segs` (all segments of the partition in the snapshot), merged with the
    /// partition's cold objects `cold`, to one cold object that replaces them all. `None` if
    /// the partition changed meanwhile (the object is then deleted; the next run tries again).
    fn tier_partition(
        &self,
        table: &Arc<TableState>,
        part: i64,
        cold: &[ColdRef],
        segs: &[SegmentRef],
    ) -> Result<Option<Moved>> {
        let id = self.reserve_file_id();
        let known = self.state.lock().version.next_erasure_id - 1;
        let mut inputs = Vec::with_capacity(cold.len() + segs.len());
        for c in cold {
            let (file, meta) = c.open(&self.cold)?;
            inputs.push(MergeInput::Cold(file, meta));
        }
        inputs.extend(segs.iter().map(|s| MergeInput::Segment(&s.segment)));
        let expired = self.expired_inputs(table, cold, segs)?;
        let removed: Vec<Option<&Removed>> = expired.iter().map(Option::as_ref).collect();
        let max_lsn = segs
            .iter()
            .map(|s| s.entry.max_lsn)
            .chain(cold.iter().map(|c| c.entry.max_lsn))
            .max()
            .unwrap_or(0);
        let entry = self.stage_cold(table, part, &inputs, &removed, max_lsn, known, id)?;
        let key = entry.key.clone();
        let committed = self.commit_cold(table, part, cold, segs, entry.clone());
        self.cold_inflight.lock().remove(&key);
        match committed {
            Ok(true) => {
                for s in segs {
                    s.mark_obsolete();
                }
                if !cold.is_empty() {
                    fail::fail_point!("tiering::after_fold_commit");
                }
                tracing::info!(table = %table.schema.name, partition = part, key = %key, rows = entry.rows, folded = cold.len(), "partition moved to the cold tier");
                Ok(Some(Moved {
                    rows: entry.rows,
                    bytes: entry.bytes,
                }))
            }
            Ok(false) => {
                self.cold.delete(&key)?;
                Ok(None)
            }
            Err(e) => {
                // Not committed: the object is not referenced.
                let _ = self.cold.delete(&key);
                Err(e)
            }
        }
    }

    /// Per input (cold objects, then segments), the rows past the table's retention where
    /// its time span reaches them.
    fn expired_inputs(
        &self,
        table: &TableState,
        cold: &[ColdRef],
        segs: &[SegmentRef],
    ) -> Result<Vec<Option<Removed>>> {
        let Some(cutoff) = table.schema.retention_cutoff(now_ns()) else {
            return Ok(Vec::new());
        };
        let ctx = SourceContext {
            table,
            store: &self.cold,
        };
        let sources = cold
            .iter()
            .map(|c| (c.entry.min_ts, c as &dyn ScanSource))
            .chain(segs.iter().map(|s| (s.entry.min_ts, s as &dyn ScanSource)));
        sources
            .map(|(min_ts, s)| {
                if min_ts >= cutoff {
                    Ok(None)
                } else {
                    find_removed(s, &ctx, &[], Some(cutoff), Survivors::Collect).map(Some)
                }
            })
            .collect()
    }

    /// Merges `inputs` (each less its `removed` rows) into a Parquet file staged under the
    /// data directory, uploads it as a new object of the partition, reads it back to
    /// compare size and CRC32, and returns its entry (with its SHA-256 as read back). The
    /// key stays in `cold_inflight` until the caller commits or deletes it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stage_cold(
        &self,
        table: &TableState,
        part: i64,
        inputs: &[MergeInput<'_>],
        removed: &[Option<&Removed>],
        max_lsn: u64,
        purged: u64,
        id: u64,
    ) -> Result<ColdEntry> {
        let staging_dir = self.config.dir.join(STAGING_DIR);
        create_dir_durable(&staging_dir)?;
        let staging = staging_dir.join(format!("{id:020}.parquet"));
        let result = self.stage_and_upload(table, part, inputs, removed, id, &staging);
        let _ = std::fs::remove_file(&staging);
        let (rows, min_ts, max_ts, key, sums) = result?;
        Ok(ColdEntry {
            id,
            key,
            rows,
            min_ts,
            max_ts,
            bytes: sums.bytes,
            crc32: sums.crc32,
            max_lsn,
            purged,
            sha256: Some(sums.sha256),
        })
    }

    /// Writes the rows as Parquet to `staging`, uploads and verifies it.
    fn stage_and_upload(
        &self,
        table: &TableState,
        part: i64,
        inputs: &[MergeInput<'_>],
        removed: &[Option<&Removed>],
        id: u64,
        staging: &std::path::Path,
    ) -> Result<(u64, i64, i64, String, ObjectSums)> {
        let dicts = merge_dicts(table, inputs, removed)?;
        let mut sink = ParquetSink::create(staging, &table.schema, dicts.clone())?;
        merge_into(self, table, inputs, removed, &dicts, &mut sink)?;
        let (rows, min_ts, max_ts) = sink.finish(staging)?;
        let (bytes, crc32) = file_checksum(staging)?;
        let key = cold_key(&table.schema.name, table.id, part, id);
        self.cold_inflight.lock().insert(key.clone());
        let uploaded = (|| {
            self.cold.upload(staging, &key)?;
            fail::fail_point!("tiering::after_upload");
            let sums = self.cold.checksum(&key)?;
            if (sums.bytes, sums.crc32) != (bytes, crc32) {
                return Err(Error::ColdObject {
                    key: key.clone(),
                    reason: format!(
                        "read back {} bytes with CRC32 {:#010x}, wrote {bytes} with {crc32:#010x}",
                        sums.bytes, sums.crc32
                    ),
                });
            }
            Ok(sums)
        })();
        match uploaded {
            Ok(sums) => Ok((rows, min_ts, max_ts, key, sums)),
            Err(e) => {
                let _ = self.cold.delete(&key);
                self.cold_inflight.lock().remove(&key);
                Err(e)
            }
        }
    }

    /// Commits the move: the partition's cold objects must still be `cold` and its
    /// segments still begin with `segs` (a flush may have appended since); both are replaced
    /// by the new object, and the replaced objects become garbage. False if not.
    fn commit_cold(
        &self,
        table: &Arc<TableState>,
        part: i64,
        cold: &[ColdRef],
        segs: &[SegmentRef],
        entry: ColdEntry,
    ) -> Result<bool> {
        fail::fail_point!("tiering::before_catalog_commit");
        let _m = self.maintenance.lock();
        let current = self.state.lock().version.clone();
        let Some((name, t)) = current.table_by_id(table.id) else {
            return Ok(false);
        };
        let Some(now) = t.partitions.get(&part) else {
            return Ok(false);
        };
        let still =
            now.len() >= segs.len() && now.iter().zip(segs).all(|(a, b)| a.entry.id == b.entry.id);
        let now_cold = t.cold.get(&part).map_or(&[][..], Vec::as_slice);
        let same_cold = now_cold.len() == cold.len()
            && now_cold
                .iter()
                .zip(cold)
                .all(|(a, b)| a.entry.id == b.entry.id);
        if !still || !same_cold {
            return Ok(false);
        }
        let mut next = (*current).clone();
        let mut t = (*t).clone();
        let rest: Vec<SegmentRef> = now[segs.len()..].to_vec();
        if rest.is_empty() {
            t.partitions.remove(&part);
        } else {
            t.partitions.insert(part, rest);
        }
        t.cold.insert(part, vec![Arc::new(ColdHandle::new(entry))]);
        next.cold_garbage
            .extend(cold.iter().map(|c| c.entry.key.clone()));
        next.tables.insert(name, Arc::new(t));
        next.persist(&self.config.dir)?;
        self.state.lock().version = Arc::new(next);
        self.retire_cold(cold);
        Ok(true)
    }
}

/// Size and CRC32 of a local file.
fn file_checksum(path: &std::path::Path) -> Result<(u64, u32)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hasher.finalize()))
}
