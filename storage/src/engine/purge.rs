//! Purge: removing for good what pending erasures hid, then filing their receipts (the
//! `purge` job, one for the whole engine, due while any erasure is pending).
//!
//! A run, for every pending erasure at once:
//! 1. **Memtables and WAL.** If a WAL file may still hold a record at or below an erasure's
//!    LSN, or rows at or below it are unflushed: roll the WAL, flush (the flush leaves the
//!    erased rows out of its segments), checkpoint. The WAL files holding those records are
//!    then deleted.
//! 2. **Files.** Every segment and cold object an erasure concerns (written at or before its
//!    LSN, not yet purged of it, and not ruled out by its metadata: time span, tag values) is
//!    read for the matching rows' positions ([`find_removed`], time and tag columns only)
//!    and then: left as it is but marked purged when nothing matched; deleted when every
//!    row matched (a DELETE covering whole partitions drops them without reading); otherwise
//!    rewritten without those rows through the merge (one input), committed in its place and
//!    the old file deleted once no scan reads it. Each commit records in the erasure the
//!    file, its SHA-256 before and after, and the rows removed from it. Files are purged on
//!    up to `max_concurrent_jobs` threads at once; their commits are serialised.
//! 3. **Receipts.** An erasure no memtable, WAL file, segment or object can hold any more,
//!    whose old files are gone, is verified: every file it rewrote is read again and must
//!    hold no matching row. Its receipt is appended to `erasures.log`, and only then is it
//!    removed from the catalog (which also ends its tombstones).
//!
//! A crash at any point leaves the erasure pending in the catalog, so its rows stay hidden;
//! the next run after start-up carries on from what was committed.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::datatypes::TimestampNanosecondType;
use croaring::Bitmap;
use strata_wal::Lsn;

use super::jobs::{JobKey, JobKind, Moved, Pending};
use super::merge::MergeInput;
use super::{now_ns, Inner};
use crate::catalog::{
    partition_dir, segment_path, sync_dir, ColdEntry, ColdHandle, ColdRef, SegmentEntry,
    SegmentHandle, SegmentRef, TableState, Version,
};
use crate::erasure::{sha256_file, ErasureState, FileChange};
use crate::error::{Error, Result};
use crate::predicate::{Coverage, FileFacts, Tombstone};
use crate::scan::{Resolved, ScanRequest, ScanSource, SegmentFacts, SourceContext};
use crate::segment::Segment;
use crate::tier::parquet::ColdFacts;

/// The rows of one input a rewrite leaves out, found by [`find_removed`].
#[derive(Debug)]
pub(crate) struct Removed {
    /// Positions of the rows, in the input's order.
    pub(crate) rows: Bitmap,
    /// Per tag column, the values of the rows that stay.
    pub(crate) survivors: Vec<BTreeSet<String>>,
    /// Rows each tombstone removes (a row several match counts for the oldest).
    pub(crate) by_tombstone: Vec<u64>,
    /// Rows removed because they are past the retention (and no tombstone matched them).
    pub(crate) expired: u64,
    /// Rows in the input.
    pub(crate) total: u64,
}

/// Whether [`find_removed`] collects the tag values of the rows that stay (a rewrite needs
/// them for its dictionaries; a count of matching rows does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Survivors {
    Collect,
    Skip,
}

/// Reads the time and tag columns of `source`, every row in order, and finds the rows that
/// one of `tombstones` matches or that are older than `cutoff`.
pub(crate) fn find_removed(
    source: &dyn ScanSource,
    ctx: &SourceContext<'_>,
    tombstones: &[&Tombstone],
    cutoff: Option<i64>,
    survivors: Survivors,
) -> Result<Removed> {
    let schema = &ctx.table.schema;
    let tags = schema.tags.len();
    let columns: Vec<String> = std::iter::once(schema.time_column.clone())
        .chain(schema.tags.iter().cloned())
        .collect();
    let req = ScanRequest::new(&schema.name)
        .with_projection(columns)
        .with_pruning(false);
    let r = Resolved::new(&req, ctx.table, Vec::new(), None)?;
    let mut out = Removed {
        rows: Bitmap::new(),
        survivors: vec![BTreeSet::new(); tags],
        by_tombstone: vec![0; tombstones.len()],
        expired: 0,
        total: 0,
    };
    let mut at: u32 = 0;
    for cols in source.read(ctx, &r, false)? {
        let matches: Vec<BooleanArray> = tombstones
            .iter()
            .map(|t| t.pred.matches(&cols))
            .collect::<Result<_>>()?;
        let column = |i: usize| {
            cols.cols[i].as_ref().ok_or(Error::Internal {
                reason: format!("purge read lacks column {i}"),
            })
        };
        let ts = column(0)?.as_primitive::<TimestampNanosecondType>().clone();
        let tag_cols = (1..=tags)
            .map(|i| Ok(column(i)?.as_string::<i32>().clone()))
            .collect::<Result<Vec<_>>>()?;
        // Per tag column, the last staying row whose value is in `survivors`: files are
        // sorted by series, so a value repeats over a run of rows and one comparison with
        // the run's first row replaces a set lookup per row.
        let mut last: Vec<Option<usize>> = vec![None; tags];
        for row in 0..cols.rows {
            let gone = match matches.iter().position(|m| m.value(row)) {
                Some(i) => {
                    out.by_tombstone[i] += 1;
                    true
                }
                None if cutoff.is_some_and(|c| ts.value(row) < c) => {
                    out.expired += 1;
                    true
                }
                None => false,
            };
            if gone {
                out.rows.add(at + row as u32);
                continue;
            }
            if survivors == Survivors::Skip {
                continue;
            }
            for (t, col) in tag_cols.iter().enumerate() {
                if !col.is_valid(row) {
                    continue;
                }
                let v = col.value(row);
                if last[t].is_some_and(|l| col.value(l) == v) {
                    continue;
                }
                if !out.survivors[t].contains(v) {
                    out.survivors[t].insert(v.to_owned());
                }
                last[t] = Some(row);
            }
        }
        at += cols.rows as u32;
        out.total += cols.rows as u64;
    }
    Ok(out)
}

/// A file a purge looks at.
#[derive(Clone, Copy)]
enum Target<'a> {
    Segment(&'a SegmentRef),
    Cold(&'a ColdRef),
}

impl Target<'_> {
    fn max_lsn(&self) -> u64 {
        match self {
            Target::Segment(s) => s.entry.max_lsn,
            Target::Cold(c) => c.entry.max_lsn,
        }
    }

    fn purged(&self) -> u64 {
        match self {
            Target::Segment(s) => s.entry.purged,
            Target::Cold(c) => c.entry.purged,
        }
    }

    fn rows(&self) -> u64 {
        match self {
            Target::Segment(s) => s.entry.rows,
            Target::Cold(c) => c.entry.rows,
        }
    }

    fn tier(&self) -> &'static str {
        match self {
            Target::Segment(_) => "local",
            Target::Cold(_) => "cold",
        }
    }

    fn source(&self) -> &dyn ScanSource {
        match self {
            Target::Segment(s) => *s,
            Target::Cold(c) => *c,
        }
    }

    /// What its metadata says to each tombstone: none, some or all of its rows. A cold
    /// object's footer and bloom filters (`cold`, when loaded) rule out the tag values it
    /// cannot hold.
    fn coverage(&self, table: &TableState, t: &Tombstone, cold: Option<&ColdFacts>) -> Coverage {
        match self {
            Target::Segment(s) => {
                let meta = s.segment.meta();
                let mapping: Vec<Option<usize>> = table
                    .schema
                    .column_names()
                    .map(|n| meta.column_index(n))
                    .collect();
                t.pred.prune(&SegmentFacts {
                    seg: s,
                    mapping: &mapping,
                })
            }
            Target::Cold(c) => match cold {
                Some(facts) => t.pred.prune(facts as &dyn FileFacts),
                None => t
                    .pred
                    .prune(&ColdFacts::span_only(&c.entry) as &dyn FileFacts),
            },
        }
    }
}

/// What a purge does to one file.
enum Outcome {
    /// Nothing matched: mark it purged of every erasure known.
    Clean,
    /// Every row goes: delete it.
    Drop,
    /// Replaced by this file.
    Segment(SegmentRef),
    Cold(ColdEntry),
}

/// One file's purge, ready to commit.
struct Purged {
    outcome: Outcome,
    /// (erasure id, rows it removed) for the erasures that removed rows.
    by_erasure: Vec<(u64, u64)>,
    sha256_before: Option<String>,
    sha256_after: Option<String>,
    file_after: Option<String>,
    rows_after: u64,
}

impl Inner {
    /// The purge job: due while an erasure is pending.
    pub(super) fn purge_pending(&self) -> Vec<Pending> {
        let key = JobKey {
            kind: JobKind::Purge,
            table: None,
        };
        let due = !self.state.lock().version.erasures.is_empty();
        if !due && !self.jobs.has_status(key) {
            return Vec::new();
        }
        vec![Pending {
            key,
            table: None,
            due,
            next_run: due.then(SystemTime::now),
        }]
    }

    /// One run of the purge job (see the module documentation).
    pub(super) fn purge(&self) -> Result<Moved> {
        // Only numbers from this snapshot: a version held to the end would keep the files
        // this run replaces on disk.
        let (pending, newest, flushed) = {
            let v = self.state.lock().version.clone();
            let newest = v
                .erasures
                .iter()
                .flat_map(|e| &e.tables)
                .filter(|t| t.predicate.is_some())
                .map(|t| t.lsn)
                .max();
            (!v.erasures.is_empty(), newest, v.flushed_lsn)
        };
        if !pending {
            return Ok(Moved::default());
        }
        if let Some(lsn) = newest {
            if flushed < lsn || self.wal.first_lsn()?.0 <= lsn {
                self.wal.roll()?;
                self.flush()?;
                let flushed = self.state.lock().version.flushed_lsn;
                self.wal.checkpoint(Lsn(flushed))?;
            }
        }
        let moved = self.purge_files()?;
        // The snapshot `purge_files` read is gone, so files it replaced can be deleted
        // (once no query holds them either) before the receipts check they are.
        if let Err(e) = self.collect_cold_garbage() {
            tracing::warn!(error = %e, "replaced cold objects are left for a later run");
        }
        self.finish_erasures()?;
        Ok(moved)
    }

    /// Step 2: every file a pending erasure concerns, on up to `max_concurrent_jobs`
    /// threads: a rewrite is CPU-bound (decoding, merging and compressing one file), the
    /// files are independent, and their commits are serialised by the maintenance lock.
    /// An error stops every thread from starting more files; the calling thread's error
    /// (else the first other thread's) is returned, and what was committed stays.
    fn purge_files(&self) -> Result<Moved> {
        let version = self.state.lock().version.clone();
        let known = version.next_erasure_id - 1;
        let mut tables = Vec::new();
        for table in version.tables.values() {
            let tombstones = version.tombstones(table)?;
            if !tombstones.is_empty() {
                tables.push((table, tombstones));
            }
        }
        let mut work: Vec<(usize, i64, Target<'_>)> = Vec::new();
        for (i, (table, _)) in tables.iter().enumerate() {
            let parts: BTreeSet<i64> = table
                .partitions
                .keys()
                .chain(table.cold.keys())
                .copied()
                .collect();
            for part in parts {
                let cold = table.cold.get(&part).map_or(&[][..], Vec::as_slice);
                let segs = table.partitions.get(&part).map_or(&[][..], Vec::as_slice);
                work.extend(cold.iter().map(|c| (i, part, Target::Cold(c))));
                work.extend(segs.iter().map(|s| (i, part, Target::Segment(s))));
            }
        }
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let worker = || -> Result<Moved> {
            let mut moved = Moved::default();
            while !failed.load(Ordering::Relaxed) {
                let Some(&(t, part, target)) = work.get(next.fetch_add(1, Ordering::Relaxed))
                else {
                    break;
                };
                let (table, tombstones) = &tables[t];
                let done = if self.is_shut_down() {
                    Err(Error::Closed)
                } else {
                    self.purge_file(table, part, target, tombstones, known)
                };
                match done {
                    Ok(m) => moved += m,
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(moved)
        };
        let threads = self.jobs.limit.clamp(1, work.len().max(1));
        let results: Vec<Result<Moved>> = std::thread::scope(|s| {
            let others: Vec<_> = (1..threads).map(|_| s.spawn(worker)).collect();
            let mut results = vec![worker()];
            for h in others {
                results.push(h.join().unwrap_or_else(|_| {
                    Err(Error::Internal {
                        reason: "a purge thread panicked".into(),
                    })
                }));
            }
            results
        });
        let mut moved = Moved::default();
        for r in results {
            moved += r?;
        }
        Ok(moved)
    }

    /// Purges one file of the tombstones that concern it, and commits the result.
    fn purge_file(
        &self,
        table: &Arc<TableState>,
        part: i64,
        target: Target<'_>,
        tombstones: &[Tombstone],
        known: u64,
    ) -> Result<Moved> {
        let applicable: Vec<&Tombstone> = tombstones
            .iter()
            .filter(|t| t.applies_to(target.max_lsn(), target.purged()))
            .collect();
        // Whether its catalog entry alone (what scans, tiering and `nothing_holds` see)
        // leaves a tombstone that may apply: only then are a cold object's footer and bloom
        // filters read (a few ranged reads that spare reading its tag columns when it
        // cannot hold the erased values).
        let maybe_held = applicable
            .iter()
            .any(|t| target.coverage(table, t, None) != Coverage::None);
        let loaded = match target {
            Target::Cold(c) if maybe_held => {
                let (file, meta) = c.open(&self.cold)?;
                let blooms = c.blooms(&file, &meta)?;
                Some((meta, blooms))
            }
            _ => None,
        };
        let cold_facts = match (&target, &loaded) {
            (Target::Cold(c), Some((meta, blooms))) => Some(ColdFacts::with_blooms(
                &c.entry,
                &table.schema,
                meta,
                blooms,
            )),
            _ => None,
        };
        let mut some: Vec<&Tombstone> = Vec::new();
        let mut whole: Option<&Tombstone> = None;
        for &t in &applicable {
            match target.coverage(table, t, cold_facts.as_ref()) {
                Coverage::None => {}
                Coverage::Some => some.push(t),
                Coverage::All => {
                    whole = Some(t);
                    break;
                }
            }
        }
        if whole.is_none() && some.is_empty() {
            // Bloom filters ruled the object out where its catalog entry alone does not:
            // record that it is clean.
            if cold_facts.is_none() {
                return Ok(Moved::default());
            }
            return self.commit_purge(table, part, target, known, self.clean());
        }
        let purged = match whole {
            Some(t) => Purged {
                outcome: Outcome::Drop,
                by_erasure: vec![(t.id, target.rows())],
                sha256_before: Some(self.sha256_of(table, part, target)?),
                sha256_after: None,
                file_after: None,
                rows_after: 0,
            },
            None => {
                let ctx = SourceContext {
                    table,
                    store: &self.cold,
                };
                let cutoff = table.schema.retention_cutoff(now_ns());
                let removed =
                    find_removed(target.source(), &ctx, &some, cutoff, Survivors::Collect)?;
                let by_erasure: Vec<(u64, u64)> = some
                    .iter()
                    .zip(&removed.by_tombstone)
                    .filter(|(_, &n)| n > 0)
                    .map(|(t, &n)| (t.id, n))
                    .collect();
                if by_erasure.is_empty() {
                    self.clean()
                } else if removed.rows.cardinality() == removed.total {
                    Purged {
                        outcome: Outcome::Drop,
                        by_erasure,
                        sha256_before: Some(self.sha256_of(table, part, target)?),
                        sha256_after: None,
                        file_after: None,
                        rows_after: 0,
                    }
                } else {
                    let sha256_before = Some(self.sha256_of(table, part, target)?);
                    let mut p = self.rewrite(table, part, target, &removed, known)?;
                    p.by_erasure = by_erasure;
                    p.sha256_before = sha256_before;
                    p
                }
            }
        };
        self.commit_purge(table, part, target, known, purged)
    }

    fn clean(&self) -> Purged {
        Purged {
            outcome: Outcome::Clean,
            by_erasure: Vec::new(),
            sha256_before: None,
            sha256_after: None,
            file_after: None,
            rows_after: 0,
        }
    }

    /// The file's SHA-256: read from disk for a segment; for a cold object as recorded at
    /// upload, or read back from the store for one written before catalog version 3.
    fn sha256_of(&self, table: &TableState, part: i64, target: Target<'_>) -> Result<String> {
        match target {
            Target::Segment(s) => {
                sha256_file(&segment_path(&self.config.dir, table.id, part, s.entry.id))
            }
            Target::Cold(c) => match &c.entry.sha256 {
                Some(sha) => Ok(sha.clone()),
                None => Ok(self.cold.checksum(&c.entry.key)?.sha256),
            },
        }
    }

    /// Writes the file without its removed rows.
    fn rewrite(
        &self,
        table: &Arc<TableState>,
        part: i64,
        target: Target<'_>,
        removed: &Removed,
        known: u64,
    ) -> Result<Purged> {
        let dir = &self.config.dir;
        let id = self.reserve_file_id();
        match target {
            Target::Segment(s) => {
                let path = segment_path(dir, table.id, part, id);
                let (rows, meta, bytes) = super::compaction::merge_segments(
                    self,
                    &path,
                    table,
                    &[&s.segment],
                    &[Some(removed)],
                    s.entry.max_lsn,
                )?;
                sync_dir(&partition_dir(dir, table.id, part))?;
                let handle = Arc::new(SegmentHandle::new(
                    SegmentEntry {
                        id,
                        rows,
                        min_ts: meta.min_ts,
                        max_ts: meta.max_ts,
                        bytes,
                        max_lsn: s.entry.max_lsn,
                        purged: known,
                    },
                    Segment::open(&path)?,
                ));
                Ok(Purged {
                    outcome: Outcome::Segment(handle),
                    by_erasure: Vec::new(),
                    sha256_before: None,
                    sha256_after: Some(sha256_file(&path)?),
                    file_after: Some(local_name(table.id, part, id)),
                    rows_after: rows,
                })
            }
            Target::Cold(c) => {
                let (file, meta) = c.open(&self.cold)?;
                let inputs = [MergeInput::Cold(file, meta)];
                let entry = self.stage_cold(
                    table,
                    part,
                    &inputs,
                    &[Some(removed)],
                    c.entry.max_lsn,
                    known,
                    id,
                )?;
                Ok(Purged {
                    sha256_after: entry.sha256.clone(),
                    file_after: Some(entry.key.clone()),
                    rows_after: entry.rows,
                    outcome: Outcome::Cold(entry),
                    by_erasure: Vec::new(),
                    sha256_before: None,
                })
            }
        }
    }

    /// Commits one file's purge, if the file is still where it was; records the change in
    /// each erasure that removed rows from it.
    fn commit_purge(
        &self,
        table: &Arc<TableState>,
        part: i64,
        target: Target<'_>,
        known: u64,
        purged: Purged,
    ) -> Result<Moved> {
        let dir = &self.config.dir;
        let discard = |p: &Purged| match &p.outcome {
            Outcome::Segment(h) => h.mark_obsolete(),
            Outcome::Cold(e) => {
                self.cold_inflight.lock().remove(&e.key);
                if let Err(err) = self.cold.delete(&e.key) {
                    tracing::warn!(key = %e.key, error = %err, "an unused purge output is left for the orphan clean-up");
                }
            }
            Outcome::Clean | Outcome::Drop => {}
        };
        let _m = self.maintenance.lock();
        let current = self.state.lock().version.clone();
        let Some((name, t)) = current.table_by_id(table.id) else {
            discard(&purged);
            return Ok(Moved::default());
        };
        let mut t = (*t).clone();
        let mut next = (*current).clone();
        let before_name;
        match target {
            Target::Segment(s) => {
                let Some(segs) = t.partitions.get_mut(&part) else {
                    discard(&purged);
                    return Ok(Moved::default());
                };
                let Some(pos) = segs.iter().position(|x| x.entry.id == s.entry.id) else {
                    discard(&purged);
                    return Ok(Moved::default());
                };
                before_name = local_name(table.id, part, s.entry.id);
                match &purged.outcome {
                    Outcome::Clean => {
                        let mut entry = s.entry.clone();
                        entry.purged = known;
                        let seg = Segment::open(&segment_path(dir, table.id, part, entry.id))?;
                        segs[pos] = Arc::new(SegmentHandle::new(entry, seg));
                    }
                    Outcome::Drop => {
                        segs.remove(pos);
                    }
                    Outcome::Segment(h) => segs[pos] = Arc::clone(h),
                    Outcome::Cold(_) => unreachable!("a segment is rewritten as a segment"),
                }
                if segs.is_empty() {
                    t.partitions.remove(&part);
                }
            }
            Target::Cold(c) => {
                let Some(objs) = t.cold.get_mut(&part) else {
                    discard(&purged);
                    return Ok(Moved::default());
                };
                let Some(pos) = objs.iter().position(|x| x.entry.id == c.entry.id) else {
                    discard(&purged);
                    return Ok(Moved::default());
                };
                before_name = c.entry.key.clone();
                match &purged.outcome {
                    Outcome::Clean => {
                        let mut entry = c.entry.clone();
                        entry.purged = known;
                        let handle = ColdHandle::new(entry);
                        if let Some(m) = c.meta.get() {
                            let _ = handle.meta.set(m.clone());
                        }
                        objs[pos] = Arc::new(handle);
                    }
                    Outcome::Drop => {
                        objs.remove(pos);
                    }
                    Outcome::Cold(e) => objs[pos] = Arc::new(ColdHandle::new(e.clone())),
                    Outcome::Segment(_) => unreachable!("a cold object is rewritten as one"),
                }
                if objs.is_empty() {
                    t.cold.remove(&part);
                }
                if !matches!(purged.outcome, Outcome::Clean) {
                    next.cold_garbage.push(c.entry.key.clone());
                }
            }
        }
        let tier = target.tier();
        for &(id, rows) in &purged.by_erasure {
            let Some(e) = next.erasures.iter_mut().find(|e| e.id == id) else {
                continue;
            };
            let Some(et) = e.tables.iter_mut().find(|x| x.table_id == table.id) else {
                continue;
            };
            match target {
                Target::Segment(_) => et.removed_local += rows,
                Target::Cold(_) => et.removed_cold += rows,
            }
            et.files.push(FileChange {
                tier: tier.to_owned(),
                file: before_name.clone(),
                sha256_before: purged.sha256_before.clone().unwrap_or_default(),
                file_after: purged.file_after.clone(),
                sha256_after: purged.sha256_after.clone(),
                rows_before: target.rows(),
                rows_after: purged.rows_after,
            });
        }
        next.tables.insert(name.clone(), Arc::new(t));
        fail::fail_point!("purge::before_catalog_commit");
        if let Err(e) = next.persist(dir) {
            discard(&purged);
            return Err(e);
        }
        self.state.lock().version = Arc::new(next);
        if let Outcome::Cold(e) = &purged.outcome {
            self.cold_inflight.lock().remove(&e.key);
        }
        match target {
            Target::Segment(s) if !matches!(purged.outcome, Outcome::Clean) => s.mark_obsolete(),
            Target::Cold(c) if !matches!(purged.outcome, Outcome::Clean) => {
                self.retire_cold([c]);
            }
            _ => {}
        }
        let removed: u64 = purged.by_erasure.iter().map(|(_, n)| n).sum();
        if removed > 0 {
            tracing::info!(table = %name, partition = part, tier, file = %before_name, removed, "purged erased rows");
        }
        Ok(Moved {
            rows: removed,
            bytes: match &purged.outcome {
                Outcome::Segment(h) => h.entry.bytes,
                Outcome::Cold(e) => e.bytes,
                _ => 0,
            },
        })
    }

    /// Verifies and files every pending erasure nothing can hold any more.
    fn finish_erasures(&self) -> Result<()> {
        let version = self.state.lock().version.clone();
        let first_wal = self.wal.first_lsn()?.0;
        for e in &version.erasures {
            if !self.nothing_holds(&version, e, first_wal)? {
                continue;
            }
            // Rows are gone from every tier; the old files must be gone too.
            let mut absent = true;
            for f in e.tables.iter().flat_map(|t| &t.files) {
                absent &= match f.tier.as_str() {
                    "local" => !self.config.dir.join(&f.file).exists(),
                    _ => !version.cold_garbage.contains(&f.file) && !self.cold.exists(&f.file)?,
                };
            }
            let now = now_ns();
            if !absent {
                if e.state == ErasureState::Invisible {
                    self.set_erasure(e.id, |x| {
                        x.state = ErasureState::Purged;
                        x.purged_at_ns = Some(now);
                    })?;
                }
                continue;
            }
            let verification = self.verify(&version, e)?;
            let mut receipt = e.clone();
            receipt.state = ErasureState::Verified;
            receipt.purged_at_ns.get_or_insert(now);
            receipt.verified_at_ns = Some(now_ns());
            receipt.verification = Some(verification);
            for t in &mut receipt.tables {
                t.predicate = None;
            }
            self.receipts.lock().append(&receipt)?;
            fail::fail_point!("purge::after_receipt");
            let _m = self.maintenance.lock();
            let current = self.state.lock().version.clone();
            let mut next = (*current).clone();
            next.erasures.retain(|x| x.id != e.id);
            next.persist(&self.config.dir)?;
            self.state.lock().version = Arc::new(next);
            tracing::info!(
                erasure = e.id,
                kind = e.kind.name(),
                rows = e.rows(),
                "erasure verified"
            );
        }
        Ok(())
    }

    /// Changes a pending erasure in a catalog commit.
    fn set_erasure(
        &self,
        id: u64,
        change: impl FnOnce(&mut crate::erasure::Erasure),
    ) -> Result<()> {
        let _m = self.maintenance.lock();
        let current = self.state.lock().version.clone();
        let mut next = (*current).clone();
        if let Some(e) = next.erasures.iter_mut().find(|e| e.id == id) {
            change(e);
        }
        next.persist(&self.config.dir)?;
        self.state.lock().version = Arc::new(next);
        Ok(())
    }

    /// Whether no memtable, WAL file, segment or cold object can hold a row of `e`.
    fn nothing_holds(
        &self,
        version: &Version,
        e: &crate::erasure::Erasure,
        first_wal: u64,
    ) -> Result<bool> {
        for et in e.tables.iter().filter(|t| t.predicate.is_some()) {
            if version.flushed_lsn < et.lsn || first_wal <= et.lsn {
                return Ok(false);
            }
            let Some(table) = version.tables.values().find(|t| t.id == et.table_id) else {
                continue; // dropped: its files went with it
            };
            let tombstones = version.tombstones(table)?;
            let Some(t) = tombstones.iter().find(|t| t.id == e.id) else {
                continue;
            };
            let held = table
                .cold
                .values()
                .flatten()
                .map(Target::Cold)
                .chain(table.partitions.values().flatten().map(Target::Segment))
                .any(|f| {
                    t.applies_to(f.max_lsn(), f.purged())
                        && f.coverage(table, t, None) != Coverage::None
                });
            if held {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads every file `e` rewrote that is still in the catalog again and counts the rows
    /// its predicates match: there must be none. Returns what was checked.
    fn verify(&self, version: &Version, e: &crate::erasure::Erasure) -> Result<String> {
        let mut reread = 0;
        let mut replaced = 0;
        for et in &e.tables {
            let Some(pred) = &et.predicate else {
                continue;
            };
            let Some(table) = version.tables.values().find(|t| t.id == et.table_id) else {
                continue;
            };
            let tombstone = Tombstone {
                id: e.id,
                lsn: u64::MAX,
                pred: pred.bind(&table.schema)?,
            };
            let ctx = SourceContext {
                table,
                store: &self.cold,
            };
            for f in &et.files {
                let Some(after) = &f.file_after else {
                    continue;
                };
                let found = table.partitions.iter().find_map(|(&p, segs)| {
                    segs.iter()
                        .find(|s| local_name(table.id, p, s.entry.id) == *after)
                        .map(Target::Segment)
                });
                let found = found.or_else(|| {
                    table
                        .cold
                        .values()
                        .flatten()
                        .find(|c| c.entry.key == *after)
                        .map(Target::Cold)
                });
                let Some(target) = found else {
                    replaced += 1;
                    continue;
                };
                let matched =
                    find_removed(target.source(), &ctx, &[&tombstone], None, Survivors::Skip)?;
                if matched.by_tombstone[0] > 0 {
                    return Err(Error::Internal {
                        reason: format!(
                            "erasure {}: {} rows still match in {after} after the purge",
                            e.id, matched.by_tombstone[0]
                        ),
                    });
                }
                reread += 1;
            }
        }
        let files: usize = e.tables.iter().map(|t| t.files.len()).sum();
        let lsn = e.tables.iter().map(|t| t.lsn).max().unwrap_or(0);
        Ok(format!(
            "{files} files held the rows and are gone; {reread} rewritten files re-read with 0 matching rows{}; memtables flushed and no WAL file holds LSN <= {lsn}",
            if replaced > 0 {
                format!(" ({replaced} rewritten since)")
            } else {
                String::new()
            }
        ))
    }
}

/// A segment's path under the data directory, as receipts name it.
pub(super) fn local_name(table_id: u64, part: i64, id: u64) -> String {
    segment_path(std::path::Path::new(""), table_id, part, id)
        .to_string_lossy()
        .into_owned()
}
