//! Flush: memtables become segment files, then the WAL is checkpointed.
//!
//! A flush freezes every active memtable at once (under the exclusive generation lock, so
//! the frozen set holds exactly the LSNs up to the WAL's last), writes one segment per
//! (table, partition), fsyncs the files and their directories, commits a catalog version
//! whose `flushed_lsn` covers them, and only then checkpoints the WAL. Frozen memtables
//! stay readable until their segments are published in the same critical section that
//! removes them, so a scan sees each row exactly once.
//!
//! A flush leaves out the rows pending erasures hid (counting them in the erasures, in the
//! same commit) and rows past the table's retention; they are then gone from the WAL at the
//! checkpoint too.
//!
//! When it is due (the `flush` job): active memtables hold `flush_threshold_bytes`, all
//! unflushed data holds `memory_limit_bytes`, or the oldest active row has waited
//! `max_unflushed_age`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arrow::array::{AsArray, BooleanArray, RecordBatch};

use super::jobs::Moved;
use super::{Frozen, Inner, MemKey};
use crate::catalog::{
    partition_dir, segment_path, sync_dir, SegmentEntry, SegmentHandle, SegmentRef, TableState,
    Version,
};
use crate::error::Result;
use crate::predicate::Tombstone;
use crate::scan::Cols;
use crate::segment::{write_segment, Segment};

impl Inner {
    /// Whether the flush job has work: with `force`, any unflushed row; otherwise only once
    /// a size or age threshold is reached. Also when it is next due by age.
    pub(super) fn flush_due(&self, force: bool, now: Instant) -> (bool, Option<SystemTime>) {
        let st = self.state.lock();
        let pending = !st.frozen.is_empty();
        let Some(since) = st.active_since else {
            return (pending, pending.then(SystemTime::now));
        };
        let due_at = since + self.config.max_unflushed_age;
        let due = force
            || pending
            || st.active_bytes >= self.config.flush_threshold_bytes
            || st.unflushed_bytes() >= self.config.memory_limit_bytes
            || now >= due_at;
        let next = if due {
            SystemTime::now()
        } else {
            SystemTime::now() + due_at.saturating_duration_since(now)
        };
        (due, Some(next))
    }

    /// Flushes every memtable to segments and checkpoints the WAL.
    pub(super) fn flush(&self) -> Result<Moved> {
        let _m = self.maintenance.lock();
        // With no memtable at all, every WAL record up to `empty_upto` is in a segment or
        // belongs to a dropped table: `flushed_lsn` moves up to it (so the WAL files holding
        // them can go) without writing anything.
        let mut empty_upto = None;
        {
            let _generation = self.generation.write();
            let mut st = self.state.lock();
            let upto = self.wal.last_lsn();
            if !st.active.is_empty() {
                let tables = std::mem::take(&mut st.active);
                let bytes = std::mem::take(&mut st.active_bytes);
                st.active_since = None;
                st.frozen.push(Arc::new(Frozen {
                    tables,
                    bytes,
                    upto,
                }));
            } else if st.frozen.is_empty() && upto.0 > st.version.flushed_lsn {
                empty_upto = Some(upto);
            }
        }
        if let Some(upto) = empty_upto {
            let current = self.state.lock().version.clone();
            let mut next = (*current).clone();
            next.flushed_lsn = upto.0;
            next.persist(&self.config.dir)?;
            self.state.lock().version = Arc::new(next);
            self.wal.checkpoint(upto)?;
            return Ok(Moved::default());
        }
        let mut moved = Moved::default();
        loop {
            let next = self.state.lock().frozen.first().cloned();
            let Some(frozen) = next else {
                break;
            };
            moved += self.flush_frozen(&frozen)?;
            self.memory_freed.notify_all();
        }
        Ok(moved)
    }

    fn flush_frozen(&self, frozen: &Arc<Frozen>) -> Result<Moved> {
        let dir = &self.config.dir;
        let current = self.state.lock().version.clone();
        let mut next = (*current).clone();
        let mut keys: Vec<&MemKey> = frozen.tables.keys().collect();
        keys.sort();
        let mut dirs = Vec::new();
        let mut moved = Moved::default();
        for key in keys {
            let mem = &frozen.tables[key];
            // A table dropped since the freeze: its rows go with it.
            let Some((name, table)) = next.table_by_id(key.0) else {
                continue;
            };
            // Rows that pending erasures hid, and rows past the retention, are not written.
            let tombstones = next.tombstones(&table)?;
            let cutoff = table.schema.retention_cutoff(super::now_ns());
            let mut by_tombstone = vec![0u64; tombstones.len()];
            let (batch, _) = mem.to_flush_batch(&table.schema, |rows, lsn| {
                let (mask, counts) = memtable_removal(rows, lsn, &tombstones, cutoff)?;
                by_tombstone = counts;
                Ok(mask)
            })?;
            for (t, n) in tombstones.iter().zip(&by_tombstone) {
                note_removed_from_memtable(&mut next, t.id, table.id, *n);
            }
            if batch.num_rows() == 0 {
                continue;
            }
            let id = next.next_segment_id;
            next.next_segment_id += 1;
            let known = next.next_erasure_id - 1;
            let handle = write_new_segment(dir, &table, key.1, id, &batch, frozen.upto.0, known)?;
            moved.rows += handle.entry.rows;
            moved.bytes += handle.entry.bytes;
            dirs.push(partition_dir(dir, table.id, key.1));
            let mut t = (*table).clone();
            t.partitions.entry(key.1).or_default().push(handle);
            next.tables.insert(name, Arc::new(t));
        }
        dirs.sort();
        dirs.dedup();
        for d in &dirs {
            sync_dir(d)?;
        }
        fail::fail_point!("flush::before_catalog_commit");
        next.flushed_lsn = next.flushed_lsn.max(frozen.upto.0);
        next.persist(dir)?;
        {
            let mut st = self.state.lock();
            st.version = Arc::new(next);
            st.frozen.retain(|f| !Arc::ptr_eq(f, frozen));
        }
        fail::fail_point!("flush::before_wal_checkpoint");
        self.wal.checkpoint(frozen.upto)?;
        Ok(moved)
    }
}

/// Rows of a memtable batch (with each row's LSN) to leave out: those a tombstone covers
/// (written at or before its LSN and matching) or older than `cutoff`. Also the rows each
/// tombstone removes (a row several match counts for the oldest).
pub(super) fn memtable_removal(
    batch: &RecordBatch,
    lsn: &[u64],
    tombstones: &[Tombstone],
    cutoff: Option<i64>,
) -> Result<(Option<BooleanArray>, Vec<u64>)> {
    let mut counts = vec![0u64; tombstones.len()];
    if tombstones.is_empty() && cutoff.is_none() {
        return Ok((None, counts));
    }
    let cols = Cols::from_batch(batch, &vec![true; batch.num_columns()]);
    let matches = tombstones
        .iter()
        .map(|t| t.pred.matches(&cols))
        .collect::<Result<Vec<_>>>()?;
    let ts = batch
        .column(0)
        .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
    let mut any = false;
    let removed: BooleanArray = (0..batch.num_rows())
        .map(|row| {
            let by = tombstones
                .iter()
                .zip(&matches)
                .position(|(t, m)| m.value(row) && lsn[row] <= t.lsn);
            let gone = match by {
                Some(i) => {
                    counts[i] += 1;
                    true
                }
                None => cutoff.is_some_and(|c| ts.value(row) < c),
            };
            any |= gone;
            Some(gone)
        })
        .collect();
    Ok((any.then_some(removed), counts))
}

/// Adds `rows` removed from memtables to erasure `id`'s count for table `table_id`.
fn note_removed_from_memtable(next: &mut Version, id: u64, table_id: u64, rows: u64) {
    if rows == 0 {
        return;
    }
    if let Some(t) = next
        .erasures
        .iter_mut()
        .find(|e| e.id == id)
        .and_then(|e| e.tables.iter_mut().find(|t| t.table_id == table_id))
    {
        t.removed_memtable += rows;
    }
}

/// Writes a sorted full-schema batch as a new segment of a partition and opens it.
fn write_new_segment(
    dir: &Path,
    table: &TableState,
    part: i64,
    id: u64,
    batch: &RecordBatch,
    max_lsn: u64,
    purged: u64,
) -> Result<SegmentRef> {
    let pdir = partition_dir(dir, table.id, part);
    crate::catalog::create_dir_durable(&pdir)?;
    let path = segment_path(dir, table.id, part, id);
    let (meta, bytes) = write_segment(&path, batch, &table.schema, max_lsn)?;
    let segment = Segment::open(&path)?;
    Ok(Arc::new(SegmentHandle::new(
        SegmentEntry {
            id,
            rows: meta.rows,
            min_ts: meta.min_ts,
            max_ts: meta.max_ts,
            bytes,
            max_lsn,
            purged,
        },
        segment,
    )))
}
