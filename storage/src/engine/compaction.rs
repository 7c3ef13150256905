//! Compaction: which segments of a partition to merge, and the streaming k-way merge.
//!
//! **Policy** (size-tiered on runs). A partition's segments are kept oldest first, and a
//! later one wins over an earlier one for the same point, so only a *contiguous* run can be
//! merged into one segment that takes the run's place. A segment's *level* is
//! `floor(log_F(rows))` with `F = compaction_trigger`. The job merges the oldest run of at
//! least `F` adjacent segments of one level. `F` segments of level `l` hold at least
//! `F^(l+1)` rows, so the output is at least one level up: without overwrites a row is
//! rewritten at most `log_F(rows in the partition)` times, however the partition grew (not
//! once per new segment). Should mixed levels leave more than `MAX_SEGMENTS_FACTOR * F`
//! segments with no such run, the adjacent `F` with the fewest rows are merged, which bounds
//! the count a scan has to open.
//!
//! **Merge.** The inputs are merged by the streaming k-way merge of [`super::merge`], written
//! block by block through [`SegmentWriter`]. Rows past the table's retention are left out.
//!
//! **Erasures.** A run with a segment that a pending erasure may concern is not merged: the
//! purge job rewrites that segment first (within seconds), so a merge never has to account
//! for erased rows. An erasure made while a merge runs concerns the merge's output as it
//! concerned the inputs (the output keeps their `max_lsn` and is marked purged only of the
//! erasures known when the merge began).
//!
//! **Locks.** The merge reads an immutable catalog version and holds no engine lock; writes,
//! flushes and DDL go on meanwhile. Only the commit takes the `maintenance` lock: if the
//! inputs are still a contiguous run of the partition (a flush may have appended, a drop
//! may have removed the table), the output replaces them; otherwise the output is deleted.

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use super::jobs::{JobKey, JobKind, Moved, Pending};
use super::merge::{merge_dicts, merge_into, MergeInput};
use super::purge::{find_removed, Removed, Survivors};
use super::{Engine, Inner};
use crate::catalog::{
    partition_dir, segment_path, sync_dir, SegmentEntry, SegmentHandle, SegmentRef, TableState,
};
use crate::error::{Error, Result};
use crate::predicate::{Coverage, Tombstone};
use crate::scan::{SegmentFacts, SourceContext};
use crate::segment::{Segment, SegmentWriter};

/// Past `MAX_SEGMENTS_FACTOR * compaction_trigger` segments, a partition is compacted even
/// without a run of one level.
const MAX_SEGMENTS_FACTOR: usize = 4;
/// The most segments one merge takes.
const MAX_MERGE_INPUTS: usize = 32;

/// `floor(log_f(rows))`, 0 for fewer than `f` rows.
fn level(rows: u64, f: u64) -> u32 {
    let mut level = 0;
    let mut cap = f;
    while rows >= cap {
        level += 1;
        cap = cap.saturating_mul(f);
        if cap == u64::MAX {
            break;
        }
    }
    level
}

/// The run of segments (indexes into the partition's list) the policy merges next.
fn pick_run(rows: &[u64], trigger: usize) -> Option<Range<usize>> {
    let f = trigger.max(2);
    let levels: Vec<u32> = rows.iter().map(|&r| level(r, f as u64)).collect();
    let mut start = 0;
    while start < levels.len() {
        let mut end = start + 1;
        while end < levels.len() && levels[end] == levels[start] {
            end += 1;
        }
        if end - start >= f {
            return Some(start..end.min(start + MAX_MERGE_INPUTS));
        }
        start = end;
    }
    if rows.len() > MAX_SEGMENTS_FACTOR * f {
        let best = (0..=rows.len() - f).min_by_key(|&i| rows[i..i + f].iter().sum::<u64>())?;
        return Some(best..best + f);
    }
    None
}

impl Inner {
    /// One compaction job per table; due when some partition has a run to merge.
    pub(super) fn compaction_pending(&self) -> Vec<Pending> {
        let version = self.state.lock().version.clone();
        let trigger = self.config.compaction_trigger;
        version
            .tables
            .iter()
            .map(|(name, t)| {
                let tombstones = version.tombstones(t).unwrap_or_default();
                let due = t.partitions.values().any(|segs| {
                    let rows: Vec<u64> = segs.iter().map(|s| s.entry.rows).collect();
                    pick_run(&rows, trigger)
                        .is_some_and(|r| !segs[r].iter().any(|s| awaits_purge(t, s, &tombstones)))
                });
                Pending {
                    key: JobKey {
                        kind: JobKind::Compaction,
                        table: Some(t.id),
                    },
                    table: Some(name.clone()),
                    due,
                    next_run: due.then(SystemTime::now),
                }
            })
            .collect()
    }

    /// The compaction job of one table: merges runs until the policy finds none.
    pub(super) fn compact_table(&self, table_id: u64) -> Result<Moved> {
        let mut moved = Moved::default();
        loop {
            if self.is_shut_down() {
                return Err(Error::Closed);
            }
            let version = self.state.lock().version.clone();
            let Some(table) = version.tables.values().find(|t| t.id == table_id) else {
                return Ok(moved);
            };
            let tombstones = version.tombstones(table)?;
            let next = table.partitions.iter().find_map(|(&p, segs)| {
                let rows: Vec<u64> = segs.iter().map(|s| s.entry.rows).collect();
                pick_run(&rows, self.config.compaction_trigger)
                    .map(|r| (p, segs[r].to_vec()))
                    .filter(|(_, run)| !run.iter().any(|s| awaits_purge(table, s, &tombstones)))
            });
            let Some((part, inputs)) = next else {
                return Ok(moved);
            };
            match self.merge_and_commit(table, part, &inputs)? {
                Some(m) => moved += m,
                // Lost a race with another change of the partition: look again.
                None => continue,
            }
        }
    }

    /// Merges every partition with more than one segment into one segment.
    pub(super) fn compact_all(&self) -> Result<usize> {
        let version = self.state.lock().version.clone();
        let mut done = 0;
        for table in version.tables.values() {
            for (&part, segs) in &table.partitions {
                if self.is_shut_down() {
                    return Err(Error::Closed);
                }
                if segs.len() < 2 {
                    continue;
                }
                let tombstones = version.tombstones(table)?;
                if segs.iter().any(|s| awaits_purge(table, s, &tombstones)) {
                    continue;
                }
                if self.merge_and_commit(table, part, segs)?.is_some() {
                    done += 1;
                }
            }
        }
        Ok(done)
    }

    /// Merges `inputs` (a contiguous run of the partition, oldest first) into one segment
    /// and commits it in their place. `None` if the partition changed so that they no longer
    /// form a run (the output is then deleted).
    fn merge_and_commit(
        &self,
        table: &Arc<TableState>,
        part: i64,
        inputs: &[SegmentRef],
    ) -> Result<Option<Moved>> {
        let dir = &self.config.dir;
        let known = self.state.lock().version.next_erasure_id - 1;
        let id = self.reserve_file_id();
        let pdir = partition_dir(dir, table.id, part);
        let path = segment_path(dir, table.id, part, id);
        let segments: Vec<&Segment> = inputs.iter().map(|s| &s.segment).collect();
        let max_lsn = inputs.iter().map(|s| s.entry.max_lsn).max().unwrap_or(0);
        let expired = expired_rows(self, table, inputs)?;
        let removed: Vec<Option<&Removed>> = expired.iter().map(Option::as_ref).collect();
        let merged = merge_segments(self, &path, table, &segments, &removed, max_lsn)?;
        sync_dir(&pdir)?;
        let handle = Arc::new(SegmentHandle::new(
            SegmentEntry {
                id,
                rows: merged.0,
                min_ts: merged.1.min_ts,
                max_ts: merged.1.max_ts,
                bytes: merged.2,
                max_lsn,
                purged: known,
            },
            Segment::open(&path)?,
        ));
        fail::fail_point!("compaction::before_catalog_commit");
        let _m = self.maintenance.lock();
        let current = self.state.lock().version.clone();
        let found = current
            .tables
            .iter()
            .find(|(_, t)| t.id == table.id)
            .and_then(|(name, t)| {
                let segs = t.partitions.get(&part)?;
                let first = segs.iter().position(|s| s.entry.id == inputs[0].entry.id)?;
                let run = segs.get(first..first + inputs.len())?;
                let same = run
                    .iter()
                    .zip(inputs)
                    .all(|(a, b)| a.entry.id == b.entry.id);
                same.then(|| (name.clone(), Arc::clone(t), first))
            });
        let Some((name, current_table, first)) = found else {
            handle.mark_obsolete();
            return Ok(None);
        };
        let mut next = (*current).clone();
        let mut t = (*current_table).clone();
        let segs = t.partitions.entry(part).or_default();
        // Every row expired: the run goes and nothing takes its place.
        let empty = handle.entry.rows == 0;
        segs.splice(
            first..first + inputs.len(),
            (!empty).then(|| Arc::clone(&handle)),
        );
        if segs.is_empty() {
            t.partitions.remove(&part);
        }
        if empty {
            handle.mark_obsolete();
        }
        next.tables.insert(name.clone(), Arc::new(t));
        next.persist(dir)?;
        self.state.lock().version = Arc::new(next);
        for s in inputs {
            s.mark_obsolete();
        }
        tracing::debug!(
            table = %name,
            partition = part,
            merged = inputs.len(),
            rows = handle.entry.rows,
            "compacted"
        );
        Ok(Some(Moved {
            rows: handle.entry.rows,
            bytes: handle.entry.bytes,
        }))
    }
}

impl Engine {
    /// Merges every partition that has more than one segment into a single segment (a full
    /// compaction, whatever the policy says); returns how many partitions were merged. The
    /// compaction job merges by the policy instead.
    pub fn compact(&self) -> Result<usize> {
        self.inner.compact_all()
    }
}

/// Whether a pending erasure may concern `seg` (the purge job must rewrite it first).
pub(super) fn awaits_purge(table: &TableState, seg: &SegmentRef, tombstones: &[Tombstone]) -> bool {
    let names: Vec<&str> = table.schema.column_names().collect();
    let meta = seg.segment.meta();
    let mapping: Vec<Option<usize>> = names.iter().map(|n| meta.column_index(n)).collect();
    let facts = SegmentFacts {
        seg,
        mapping: &mapping,
    };
    tombstones.iter().any(|t| {
        t.applies_to(seg.entry.max_lsn, seg.entry.purged) && t.pred.prune(&facts) != Coverage::None
    })
}

/// Per input, the rows past the table's retention, where its time span reaches them.
fn expired_rows(
    inner: &Inner,
    table: &TableState,
    inputs: &[SegmentRef],
) -> Result<Vec<Option<Removed>>> {
    let Some(cutoff) = table.schema.retention_cutoff(super::now_ns()) else {
        return Ok(inputs.iter().map(|_| None).collect());
    };
    let ctx = SourceContext {
        table,
        store: &inner.cold,
    };
    inputs
        .iter()
        .map(|s| {
            if s.entry.min_ts >= cutoff {
                return Ok(None);
            }
            find_removed(s, &ctx, &[], Some(cutoff), Survivors::Collect).map(Some)
        })
        .collect()
}

/// Merges `segments` (oldest first, each less its `removed` rows) into a new segment at
/// `path`; returns its rows, metadata and bytes.
pub(super) fn merge_segments(
    inner: &Inner,
    path: &std::path::Path,
    table: &TableState,
    segments: &[&Segment],
    removed: &[Option<&Removed>],
    max_lsn: u64,
) -> Result<(u64, crate::segment::SegmentMeta, u64)> {
    let inputs: Vec<MergeInput<'_>> = segments.iter().map(|s| MergeInput::Segment(s)).collect();
    let dicts = merge_dicts(table, &inputs, removed)?;
    let mut writer = SegmentWriter::create(path, &table.schema, dicts.clone(), max_lsn)?;
    merge_into(inner, table, &inputs, removed, &dicts, &mut writer)?;
    let rows = writer.rows();
    let (meta, bytes) = writer.finish()?;
    Ok((rows, meta, bytes))
}

#[cfg(test)]
mod tests {
    use super::{level, pick_run};

    #[test]
    fn levels_are_powers_of_the_trigger() {
        assert_eq!(level(0, 4), 0);
        assert_eq!(level(3, 4), 0);
        assert_eq!(level(4, 4), 1);
        assert_eq!(level(15, 4), 1);
        assert_eq!(level(16, 4), 2);
        assert_eq!(level(u64::MAX, 2), 63);
    }

    #[test]
    fn the_oldest_run_of_one_level_is_picked() {
        // Levels (F = 4): 1000 -> 4, 100 -> 3, 20 -> 2.
        assert_eq!(pick_run(&[100, 100, 100], 4), None);
        assert_eq!(pick_run(&[100, 100, 100, 100], 4), Some(0..4));
        assert_eq!(pick_run(&[1000, 100, 100, 100, 100, 100], 4), Some(1..6));
        assert_eq!(pick_run(&[1000, 100, 100, 20, 20, 20, 20], 4), Some(3..7));
        // Mixed levels that never form a run: past 4F segments the lightest F adjacent
        // ones are merged.
        let mixed: Vec<u64> = (0..17)
            .map(|i| if i % 2 == 0 { 1000 } else { 100 })
            .collect();
        assert_eq!(pick_run(&mixed[..16], 4), None);
        assert_eq!(pick_run(&mixed, 4), Some(0..4));
        // At most MAX_MERGE_INPUTS at once.
        assert_eq!(pick_run(&[5; 40], 4), Some(0..32));
    }
}
