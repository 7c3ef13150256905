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
//! **Merge.** Every input segment is sorted by (series key, time), so the output is a k-way
//! merge of block cursors: tag values are compared as codes into the union of the inputs'
//! sorted dictionaries (code order is string order), never as strings; of equal (series,
//! time) the newest input's row is kept. The output goes to disk block by block through
//! [`SegmentWriter`], so memory holds about two blocks per input whatever the partition's
//! size. Append-only tables keep every row in segment order, as their scans do.
//!
//! **Locks.** The merge reads an immutable catalog version and holds no engine lock; writes,
//! flushes and DDL go on meanwhile. Only the commit takes the `maintenance` lock: if the
//! inputs are still a contiguous run of the partition (a flush may have appended, a drop
//! may have removed the table), the output replaces them; otherwise the output is deleted.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, SchemaRef, TimestampNanosecondType};

use super::jobs::{JobKey, JobKind, Moved, Pending};
use super::{Engine, Inner};
use crate::catalog::{
    partition_dir, segment_path, sync_dir, SegmentEntry, SegmentHandle, SegmentRef, TableState,
};
use crate::error::{Error, Result};
use crate::segment::{Segment, SegmentWriter, BLOCK_ROWS};

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
                let due = t.partitions.values().any(|segs| {
                    let rows: Vec<u64> = segs.iter().map(|s| s.entry.rows).collect();
                    pick_run(&rows, trigger).is_some()
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
            let next = table.partitions.iter().find_map(|(&p, segs)| {
                let rows: Vec<u64> = segs.iter().map(|s| s.entry.rows).collect();
                pick_run(&rows, self.config.compaction_trigger).map(|r| (p, segs[r].to_vec()))
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
        let id = self.reserve_file_id();
        let pdir = partition_dir(dir, table.id, part);
        let path = segment_path(dir, table.id, part, id);
        let segments: Vec<&Segment> = inputs.iter().map(|s| &s.segment).collect();
        let max_lsn = inputs.iter().map(|s| s.entry.max_lsn).max().unwrap_or(0);
        let merged = merge_segments(self, &path, table, &segments, max_lsn)?;
        sync_dir(&pdir)?;
        let handle = Arc::new(SegmentHandle::new(
            SegmentEntry {
                id,
                rows: merged.0,
                min_ts: merged.1.min_ts,
                max_ts: merged.1.max_ts,
                bytes: merged.2,
                max_lsn,
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
        segs.splice(first..first + inputs.len(), [Arc::clone(&handle)]);
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

/// Where a merge puts its output: blocks of at most [`BLOCK_ROWS`] rows in the table's full
/// schema (tag columns are placeholders) with each tag column's output codes (1-based into
/// the merge's dictionaries, 0 for NULL). A segment, or a cold Parquet file.
pub(crate) trait MergeSink {
    fn push_blocks(&mut self, batch: &RecordBatch, codes: &[Vec<u32>]) -> Result<()>;
}

impl MergeSink for SegmentWriter {
    fn push_blocks(&mut self, batch: &RecordBatch, codes: &[Vec<u32>]) -> Result<()> {
        SegmentWriter::push_blocks(self, batch, codes, true)
    }
}

/// One input segment being read block by block.
struct Cursor<'a> {
    seg: &'a Segment,
    /// Table column -> segment column.
    mapping: Vec<Option<usize>>,
    /// Per tag column: segment code -> output code (index 0, NULL, maps to 0).
    code_map: Vec<Vec<u32>>,
    next_block: usize,
    /// The loaded block: its place in `Merge::slots`, times, output tag codes (row-major,
    /// `tags` per row), length and read position.
    slot: usize,
    ts: Vec<i64>,
    codes: Vec<u32>,
    len: usize,
    pos: usize,
}

/// The state of one merge: the output writer, the loaded blocks rows are taken from, and
/// the output block being gathered.
struct Merge<'a> {
    inner: &'a Inner,
    schema: SchemaRef,
    tags: usize,
    append_only: bool,
    sink: &'a mut dyn MergeSink,
    /// Loaded blocks (full table width; tag columns are unused placeholders), a slab
    /// whose free places are reused: it holds about two blocks per input.
    slots: Vec<Option<Vec<ArrayRef>>>,
    free: Vec<usize>,
    /// Blocks their cursors have moved past: freed once the output rows taken from them
    /// are written.
    retired: Vec<usize>,
    /// Output rows as (slot, row).
    picks: Vec<(usize, usize)>,
    /// Output tag codes, row-major.
    out_codes: Vec<u32>,
    last_ts: i64,
}

/// Merges `segments` (oldest first) into a new segment at `path`; returns its rows, metadata
/// and bytes.
fn merge_segments(
    inner: &Inner,
    path: &std::path::Path,
    table: &TableState,
    segments: &[&Segment],
    max_lsn: u64,
) -> Result<(u64, crate::segment::SegmentMeta, u64)> {
    let dicts = merge_dicts(table, segments);
    let mut writer = SegmentWriter::create(path, &table.schema, dicts.clone(), max_lsn)?;
    merge_into(inner, table, segments, &dicts, &mut writer)?;
    let rows = writer.rows();
    let (meta, bytes) = writer.finish()?;
    Ok((rows, meta, bytes))
}

/// The output dictionary of each tag column of a merge: every value any input holds, sorted.
pub(super) fn merge_dicts(table: &TableState, segments: &[&Segment]) -> Vec<Vec<String>> {
    let schema = &table.schema;
    let names: Vec<&str> = schema.column_names().collect();
    let mut dicts: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); schema.tags.len()];
    for seg in segments {
        let meta = seg.meta();
        for (t, dict) in dicts.iter_mut().enumerate() {
            if let Some(d) = meta
                .column_index(names[t + 1])
                .and_then(|c| meta.tag_dict(c))
            {
                dict.extend(d.values.iter().map(String::as_str));
            }
        }
    }
    dicts
        .into_iter()
        .map(|d| d.into_iter().map(str::to_owned).collect())
        .collect()
}

/// Merges `segments` (oldest first) into `sink`, with `dicts` from [`merge_dicts`]. Stops
/// with [`Error::Closed`] at the next block if the engine shuts down.
pub(super) fn merge_into(
    inner: &Inner,
    table: &TableState,
    segments: &[&Segment],
    dicts: &[Vec<String>],
    sink: &mut dyn MergeSink,
) -> Result<()> {
    let schema = &table.schema;
    let tags = schema.tags.len();
    let names: Vec<&str> = schema.column_names().collect();
    let mut cursors = Vec::with_capacity(segments.len());
    for seg in segments {
        let meta = seg.meta();
        let mapping: Vec<Option<usize>> = names.iter().map(|n| meta.column_index(n)).collect();
        let code_map = (0..tags)
            .map(|t| {
                let mut map = vec![0u32];
                if let Some(d) = mapping[t + 1].and_then(|c| meta.tag_dict(c)) {
                    map.extend(d.values.iter().map(|v| {
                        // Every input value is in the union, so the search always succeeds.
                        dicts[t].binary_search(v).map_or(0, |i| i as u32 + 1)
                    }));
                }
                map
            })
            .collect();
        cursors.push(Cursor {
            seg,
            mapping,
            code_map,
            next_block: 0,
            slot: 0,
            ts: Vec::new(),
            codes: Vec::new(),
            len: 0,
            pos: 0,
        });
    }
    let mut merge = Merge {
        inner,
        schema: schema.arrow_schema(),
        tags,
        append_only: schema.append_only,
        sink,
        slots: Vec::new(),
        free: Vec::new(),
        retired: Vec::new(),
        picks: Vec::with_capacity(BLOCK_ROWS),
        out_codes: Vec::with_capacity(BLOCK_ROWS * tags),
        last_ts: 0,
    };
    // Cursors with rows, in input order (rank: a later one is newer).
    let mut live: Vec<Cursor<'_>> = Vec::with_capacity(cursors.len());
    for mut c in cursors {
        if merge.load(&mut c)? {
            live.push(c);
        }
    }
    if merge.append_only {
        for mut c in live {
            loop {
                while c.pos < c.len {
                    merge.push(&c, c.pos)?;
                    c.pos += 1;
                }
                if !merge.load(&mut c)? {
                    break;
                }
            }
        }
    } else {
        while !live.is_empty() {
            // The smallest key (ties: the oldest input first, so a newer row replaces it)
            // and the next smallest, which bounds the run taken from the smallest.
            let mut min = 0;
            for i in 1..live.len() {
                if cmp_rows(&live[i], &live[min], tags) == Ordering::Less {
                    min = i;
                }
            }
            let mut second: Option<usize> = None;
            for i in 0..live.len() {
                if i != min
                    && second.is_none_or(|s| cmp_rows(&live[i], &live[s], tags) == Ordering::Less)
                {
                    second = Some(i);
                }
            }
            let exhausted = loop {
                let c = &live[min];
                merge.push(c, c.pos)?;
                let c = &mut live[min];
                c.pos += 1;
                if c.pos == c.len && !merge.load(c)? {
                    break true;
                }
                // Strictly below the runner-up: a tie must go back through selection so
                // that the older input's row is placed first.
                if let Some(s) = second {
                    if cmp_rows(&live[min], &live[s], tags) != Ordering::Less {
                        break false;
                    }
                }
            };
            if exhausted {
                live.remove(min);
            }
        }
    }
    merge.flush_block()
}

/// Orders the current rows of two cursors by (series key codes, time).
fn cmp_rows(a: &Cursor<'_>, b: &Cursor<'_>, tags: usize) -> Ordering {
    let ka = &a.codes[a.pos * tags..(a.pos + 1) * tags];
    let kb = &b.codes[b.pos * tags..(b.pos + 1) * tags];
    ka.cmp(kb).then(a.ts[a.pos].cmp(&b.ts[b.pos]))
}

impl Merge<'_> {
    /// Loads the cursor's next block; false when it has none left.
    fn load(&mut self, c: &mut Cursor<'_>) -> Result<bool> {
        if c.next_block > 0 {
            self.retired.push(c.slot);
        }
        let meta = c.seg.meta();
        let Some(block) = meta.blocks.get(c.next_block) else {
            return Ok(false);
        };
        let b = c.next_block;
        c.next_block += 1;
        let rows = block.rows as usize;
        let mut cols = Vec::with_capacity(self.schema.fields().len());
        for (i, field) in self.schema.fields().iter().enumerate() {
            let is_tag = (1..=self.tags).contains(&i);
            cols.push(match (is_tag, c.mapping[i]) {
                (true, _) => new_null_array(&DataType::Utf8, 0),
                (false, Some(sc)) => c.seg.read_column(b, sc)?,
                // A column added after this segment was written: NULL in its rows.
                (false, None) => new_null_array(field.data_type(), rows),
            });
        }
        c.ts = cols[0]
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .to_vec();
        c.codes = vec![0; rows * self.tags];
        for t in 0..self.tags {
            if let Some(sc) = c.mapping[t + 1] {
                let local = c.seg.read_tag_codes(b, sc)?;
                for (row, code) in local.into_iter().enumerate() {
                    c.codes[row * self.tags + t] = c.code_map[t][code as usize];
                }
            }
        }
        c.len = rows;
        c.pos = 0;
        c.slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(cols);
                i
            }
            None => {
                self.slots.push(Some(cols));
                self.slots.len() - 1
            }
        };
        Ok(rows > 0 || self.load(c)?)
    }

    /// Places a row in the output. Of rows with the same (series, time), which arrive
    /// oldest input first, the last one placed stays (unless append-only).
    fn push(&mut self, c: &Cursor<'_>, row: usize) -> Result<()> {
        let key = &c.codes[row * self.tags..(row + 1) * self.tags];
        let ts = c.ts[row];
        let n = self.picks.len();
        if !self.append_only
            && n > 0
            && self.last_ts == ts
            && self.out_codes[(n - 1) * self.tags..] == *key
        {
            self.picks[n - 1] = (c.slot, row);
            return Ok(());
        }
        // Cut a block only between distinct keys, so a duplicate always finds its twin.
        if n == BLOCK_ROWS {
            self.flush_block()?;
        }
        self.picks.push((c.slot, row));
        self.out_codes.extend_from_slice(key);
        self.last_ts = ts;
        Ok(())
    }

    /// Writes the gathered rows as a block and drops loaded blocks no cursor still reads.
    fn flush_block(&mut self) -> Result<()> {
        if self.picks.is_empty() {
            return Ok(());
        }
        fail::fail_point!("compaction::merge_block");
        if self.inner.is_shut_down() {
            return Err(Error::Closed);
        }
        let n = self.picks.len();
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for (i, field) in self.schema.fields().iter().enumerate() {
            if (1..=self.tags).contains(&i) {
                columns.push(new_null_array(&DataType::Utf8, n));
                continue;
            }
            // Free places get an empty array: no pick refers to them.
            let empty = new_null_array(field.data_type(), 0);
            let arrays: Vec<&dyn Array> = self
                .slots
                .iter()
                .map(|s| s.as_ref().map_or(empty.as_ref(), |s| s[i].as_ref()))
                .collect();
            columns.push(interleave(&arrays, &self.picks)?);
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        let codes: Vec<Vec<u32>> = (0..self.tags)
            .map(|t| {
                self.out_codes
                    .iter()
                    .skip(t)
                    .step_by(self.tags)
                    .copied()
                    .collect()
            })
            .collect();
        self.sink.push_blocks(&batch, &codes)?;
        self.picks.clear();
        self.out_codes.clear();
        for i in self.retired.drain(..) {
            self.slots[i] = None;
            self.free.push(i);
        }
        Ok(())
    }
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
