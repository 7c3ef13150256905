//! Scans: a snapshot of the catalog and the memtables, read partition by partition.
//!
//! [`Engine::scan`] takes, under the state lock, the current catalog version and a sorted
//! copy of every memtable whose rows fall in the requested time range, then releases the
//! lock: reading segments and merging happens in the returned [`Scan`] iterator, outside
//! every engine lock. The version it holds keeps the segment files it needs on disk (a
//! compaction or drop deletes a file only when the last version naming it is dropped).
//! Predicates, pruning and the per-partition merge live in `crate::scan`.
//!
//! Partitions are read one after another, or with [`ScanRequest::readers`] above one, up
//! to that many at once on threads of their own (read-ahead): while the caller consumes one
//! partition's batches the next ones are decoded. Batches come out in the same order either
//! way. A reader holds the catalog version too, so a scan dropped early (a LIMIT reached)
//! lets its readers finish unheard without a file vanishing under them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::{now_ns, Engine};
use crate::catalog::{ColdRef, SegmentRef, TableState, Version};
use crate::error::Result;
use crate::memtable::Memtable;
use crate::scan::{
    merge_sources, read_memtable, Cols, Resolved, ScanRequest, ScanSource, SourceContext,
};
use crate::schema::TableSchema;
use crate::tier::prune;
use crate::tier::store::ColdStore;

impl Engine {
    /// Starts a scan. The scan reads a consistent snapshot: rows written after this call are
    /// not seen, and files it reads are not deleted until it is dropped.
    pub fn scan(&self, req: &ScanRequest) -> Result<Scan> {
        self.start_scan(req, true)
    }

    /// What a scan with this request would prune ([`ScanStats`]), without snapshotting
    /// memtable rows: cheap enough to call when planning a query.
    pub fn scan_stats(&self, req: &ScanRequest) -> Result<ScanStats> {
        let scan = self.start_scan(req, false)?;
        let mut stats = scan.stats;
        for p in &scan.work {
            for c in &p.cold {
                let (file, meta) = c.open(&scan.store)?;
                let blooms = crate::tier::parquet::scan_blooms(c, &file, &meta, &scan.resolved)?;
                let selection =
                    prune::select(&meta, &scan.table.schema, &scan.resolved, blooms.as_deref());
                stats.cold_row_groups_total += meta.metadata().num_row_groups();
                stats.cold_row_groups_read += selection.groups.len();
                stats.cold_rows_in_row_groups_read += selection.group_rows;
                stats.cold_rows_read += selection.rows();
            }
        }
        Ok(stats)
    }

    /// Starts a scan; with `materialize` false the memtables are only inspected (their time
    /// bounds) and the scan yields no memtable rows, which is all `scan_stats` needs.
    pub(super) fn start_scan(&self, req: &ScanRequest, materialize: bool) -> Result<Scan> {
        // A memtable whose rows all fall outside the requested range is never copied: its
        // rows would be filtered out anyway, pruning or not.
        let wanted = |m: &Memtable| m.len() > 0 && req.time_range.overlaps(m.min_ts, m.max_ts);
        let batch = |m: &Memtable, schema: &TableSchema| -> Result<Option<MemBatch>> {
            if materialize {
                MemBatch::of(m, schema).map(Some)
            } else {
                Ok(None)
            }
        };
        let (version, active_batches, active_parts, frozen) = {
            let st = self.inner.state.lock();
            let table = st.version.table(&req.table)?;
            let mut active = Vec::new();
            let mut parts = Vec::new();
            for ((id, part), mem) in &st.active {
                if *id != table.id || mem.len() == 0 {
                    continue;
                }
                parts.push(*part);
                if wanted(mem) {
                    active.push((*part, batch(mem, &table.schema)?));
                }
            }
            (st.version.clone(), active, parts, st.frozen.clone())
        };
        let table = Arc::clone(&version.tables[&req.table]);
        let resolved = Resolved::new(req, &table, version.tombstones(&table)?, Some(now_ns()))?;
        // Memtable batches per partition, oldest generation first, active last. A partition
        // with memtable rows in range has an entry even when nothing was materialized.
        let mut mem: BTreeMap<i64, Vec<MemBatch>> = BTreeMap::new();
        for f in &frozen {
            for ((id, part), m) in &f.tables {
                if *id == table.id && wanted(m) {
                    let entry = mem.entry(*part).or_default();
                    entry.extend(batch(m, &table.schema)?);
                }
            }
        }
        for (part, m) in active_batches {
            mem.entry(part).or_default().extend(m);
        }
        let interval = table.schema.partition_interval_ns;
        let mut stats = ScanStats::default();
        // Every partition holding data, before any pruning, for `ScanStats`.
        let mut with_data: BTreeSet<i64> = table
            .partitions
            .keys()
            .chain(table.cold.keys())
            .copied()
            .collect();
        // Partitions with memtable rows (in range or not).
        let local_mem: BTreeSet<i64> = active_parts
            .iter()
            .copied()
            .chain(frozen.iter().flat_map(|f| {
                f.tables
                    .iter()
                    .filter(|((id, _), m)| *id == table.id && m.len() > 0)
                    .map(|((_, p), _)| *p)
            }))
            .collect();
        with_data.extend(local_mem.iter().copied());
        let mut work = VecDeque::new();
        let mut parts: Vec<i64> = table
            .partitions
            .keys()
            .chain(table.cold.keys())
            .copied()
            .chain(mem.keys().copied())
            .collect();
        parts.sort_unstable();
        parts.dedup();
        for p in parts {
            let segments = table.partitions.get(&p).map_or(&[][..], Vec::as_slice);
            let cold = table.cold.get(&p).map_or(&[][..], Vec::as_slice);
            stats.segments_total += segments.len();
            stats.cold_objects_total += cold.len();
            stats.cold_partitions_total += usize::from(!cold.is_empty());
            let end = p.saturating_add(interval - 1);
            if resolved.pruning && !resolved.time.overlaps(p, end) {
                continue;
            }
            stats.partitions_scanned += 1;
            stats.segments_in_time_range += segments
                .iter()
                .filter(|s| {
                    !resolved.pruning || resolved.time.overlaps(s.entry.min_ts, s.entry.max_ts)
                })
                .count();
            let cold: Vec<ColdRef> = cold
                .iter()
                .filter(|c| {
                    !resolved.pruning || resolved.time.overlaps(c.entry.min_ts, c.entry.max_ts)
                })
                .cloned()
                .collect();
            stats.cold_objects_in_time_range += cold.len();
            stats.cold_partitions_scanned += usize::from(!cold.is_empty());
            let mem = mem.remove(&p).unwrap_or_default();
            stats.local_partitions_scanned +=
                usize::from(!segments.is_empty() || local_mem.contains(&p));
            work.push_back(PartitionWork {
                cold,
                segments: segments.to_vec(),
                mem,
            });
        }
        stats.partitions_total = with_data.len();
        stats.local_partitions_total = with_data
            .iter()
            .filter(|p| table.partitions.contains_key(p) || local_mem.contains(p))
            .count();
        Ok(Scan {
            _version: version,
            store: Arc::clone(&self.inner.cold),
            table,
            resolved: Arc::new(resolved),
            stats,
            work,
            readers: req.readers.max(1),
            reading: VecDeque::new(),
            ready: VecDeque::new(),
        })
    }

    /// Partition and segment statistics of a table: `(partition start, segment count,
    /// rows in segments, bytes on disk)`.
    pub fn partition_stats(&self, table: &str) -> Result<Vec<(i64, usize, u64, u64)>> {
        let version = self.inner.state.lock().version.clone();
        let t = version.table(table)?;
        Ok(t.partitions
            .iter()
            .map(|(&p, segs)| {
                (
                    p,
                    segs.len(),
                    segs.iter().map(|s| s.entry.rows).sum(),
                    segs.iter().map(|s| s.entry.bytes).sum(),
                )
            })
            .collect())
    }

    /// The cold-read cache's hits, misses (in 1 MiB blocks) and bytes held.
    pub fn cold_cache_stats(&self) -> crate::tier::ColdCacheStats {
        self.inner.cold.cache_stats()
    }

    /// Each partition of a table per tier: one entry for its local segments and one for its
    /// cold objects where it has them. What `system.partitions` shows.
    pub fn partitions(&self, table: &str) -> Result<Vec<PartitionInfo>> {
        let version = self.inner.state.lock().version.clone();
        let t = version.table(table)?;
        let mut out = Vec::new();
        for (&p, objs) in &t.cold {
            out.push(PartitionInfo {
                start: p,
                tier: Tier::Cold,
                files: objs.len(),
                rows: objs.iter().map(|o| o.entry.rows).sum(),
                bytes: objs.iter().map(|o| o.entry.bytes).sum(),
                min_ts: objs.iter().map(|o| o.entry.min_ts).min().unwrap_or(p),
                max_ts: objs.iter().map(|o| o.entry.max_ts).max().unwrap_or(p),
                location: format!(
                    "{}/{}",
                    self.inner.cold.url().trim_end_matches('/'),
                    objs.first()
                        .and_then(|o| o.entry.key.rsplit_once('/'))
                        .map_or("", |(dir, _)| dir)
                ),
            });
        }
        for (&p, segs) in &t.partitions {
            out.push(PartitionInfo {
                start: p,
                tier: Tier::Local,
                files: segs.len(),
                rows: segs.iter().map(|s| s.entry.rows).sum(),
                bytes: segs.iter().map(|s| s.entry.bytes).sum(),
                min_ts: segs.iter().map(|s| s.entry.min_ts).min().unwrap_or(p),
                max_ts: segs.iter().map(|s| s.entry.max_ts).max().unwrap_or(p),
                location: crate::catalog::partition_dir(&self.inner.config.dir, t.id, p)
                    .display()
                    .to_string(),
            });
        }
        out.sort_by_key(|i| (i.start, i.tier));
        Ok(out)
    }

    /// Every segment of a table, by partition (oldest first): what `system.segments` shows.
    pub fn segments(&self, table: &str) -> Result<Vec<SegmentInfo>> {
        let version = self.inner.state.lock().version.clone();
        let t = version.table(table)?;
        Ok(t.partitions
            .iter()
            .flat_map(|(&p, segs)| {
                segs.iter().map(move |s| SegmentInfo {
                    partition_start: p,
                    id: s.entry.id,
                    rows: s.entry.rows,
                    bytes: s.entry.bytes,
                    min_ts: s.entry.min_ts,
                    max_ts: s.entry.max_ts,
                    max_lsn: s.entry.max_lsn,
                    path: s.segment.path().to_path_buf(),
                })
            })
            .collect())
    }

    /// Rows and bytes of a table still in memtables (not yet in segments).
    pub fn unflushed_rows(&self, table: &str) -> Result<u64> {
        let st = self.inner.state.lock();
        let id = st.version.table(table)?.id;
        let active: usize = st
            .active
            .iter()
            .filter(|((t, _), _)| *t == id)
            .map(|(_, m)| m.len())
            .sum();
        let frozen: usize = st
            .frozen
            .iter()
            .flat_map(|f| f.tables.iter())
            .filter(|((t, _), _)| *t == id)
            .map(|(_, m)| m.len())
            .sum();
        Ok((active + frozen) as u64)
    }
}

/// A memtable's sorted rows with their LSNs, and the time span the memtable tracked while
/// inserting.
#[derive(Debug)]
struct MemBatch {
    min_ts: i64,
    max_ts: i64,
    batch: RecordBatch,
    lsn: Vec<u64>,
}

impl MemBatch {
    fn of(mem: &Memtable, schema: &TableSchema) -> Result<Self> {
        let (batch, lsn) = mem.to_batch(schema)?;
        Ok(MemBatch {
            min_ts: mem.min_ts,
            max_ts: mem.max_ts,
            batch,
            lsn,
        })
    }
}

impl ScanSource for MemBatch {
    fn span(&self) -> (i64, i64) {
        (self.min_ts, self.max_ts)
    }

    fn read(&self, _ctx: &SourceContext<'_>, r: &Resolved, merge: bool) -> Result<Vec<Cols>> {
        Ok(read_memtable(&self.batch, &self.lsn, r, merge)?
            .into_iter()
            .collect())
    }
}

#[derive(Debug)]
struct PartitionWork {
    /// Cold objects in the time range, oldest first (older than every segment).
    cold: Vec<ColdRef>,
    segments: Vec<SegmentRef>,
    mem: Vec<MemBatch>,
}

/// One partition's read with everything it needs, so it can run on a reader thread.
struct PartitionRead {
    /// Keeps the files the partition's sources name.
    _version: Arc<Version>,
    store: Arc<ColdStore>,
    table: Arc<TableState>,
    resolved: Arc<Resolved>,
    work: PartitionWork,
}

impl PartitionRead {
    /// The partition's matching rows, its sources merged (`crate::scan::merge_sources`).
    fn run(self) -> Result<VecDeque<Cols>> {
        let p = &self.work;
        // Oldest first: cold objects, segments, then memtables.
        let sources: Vec<&dyn ScanSource> = p
            .cold
            .iter()
            .map(|c| c as &dyn ScanSource)
            .chain(p.segments.iter().map(|s| s as &dyn ScanSource))
            .chain(p.mem.iter().map(|m| m as &dyn ScanSource))
            .collect();
        // Sources whose time spans overlap may hold versions of the same point; only then
        // must the series key (every tag) be decoded for the merge.
        let mut spans: Vec<(i64, i64)> = sources.iter().map(|s| s.span()).collect();
        spans.sort_unstable();
        let schema = &self.table.schema;
        let merge = !schema.append_only && spans.windows(2).any(|w| w[1].0 <= w[0].1);
        let ctx = SourceContext {
            table: &self.table,
            store: &self.store,
        };
        let rows = sources
            .iter()
            .map(|s| s.read(&ctx, &self.resolved, merge))
            .collect::<Result<Vec<_>>>()?;
        merge_sources(rows, schema.tags.len(), schema.append_only)
    }
}

/// A partition being read on a reader thread, or already read where no thread could be
/// started.
enum Reading {
    Thread(JoinHandle<Result<VecDeque<Cols>>>),
    Done(Result<VecDeque<Cols>>),
}

impl Reading {
    /// Starts reading `read` on a thread of its own; reads it here if none can be started.
    fn start(read: PartitionRead) -> Reading {
        // The work goes through a cell so it is not lost with the closure if the spawn fails.
        let cell = Arc::new(parking_lot::Mutex::new(Some(read)));
        let theirs = Arc::clone(&cell);
        let spawned = std::thread::Builder::new()
            .name("strata-scan".into())
            .spawn(move || {
                let read = theirs.lock().take();
                read.expect("a partition read is taken once").run()
            });
        match spawned {
            Ok(handle) => Reading::Thread(handle),
            Err(_) => {
                let read = cell.lock().take();
                Reading::Done(read.expect("the spawn failed, so the read is here").run())
            }
        }
    }

    fn finish(self) -> Result<VecDeque<Cols>> {
        match self {
            // A reader that panicked makes the scan panic, as reading here would have.
            Reading::Thread(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            Reading::Done(r) => r,
        }
    }
}

impl std::fmt::Debug for Reading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reading::Thread(_) => "Reading::Thread",
            Reading::Done(_) => "Reading::Done",
        })
    }
}

/// A running scan: an iterator of Arrow batches in the requested projection.
#[derive(Debug)]
pub struct Scan {
    _version: Arc<Version>,
    store: Arc<ColdStore>,
    table: Arc<TableState>,
    resolved: Arc<Resolved>,
    stats: ScanStats,
    /// Partitions not started yet, in order.
    work: VecDeque<PartitionWork>,
    /// Partitions at most this many at once (the one yielded included).
    readers: usize,
    /// Partitions being read ahead, in order, after those in `ready`.
    reading: VecDeque<Reading>,
    /// The current partition's rows not yet yielded.
    ready: VecDeque<Cols>,
}

/// Where a partition's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// Parquet objects in the cold store.
    Cold,
    /// Segment files under the data directory.
    Local,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Cold => "cold",
            Tier::Local => "local",
        }
    }
}

/// A partition's files in one tier, as listed by [`Engine::partitions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub start: i64,
    pub tier: Tier,
    /// Segments or cold objects.
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    /// The partition's directory, or its prefix in the cold store.
    pub location: String,
}

/// One segment file of a table, as listed by [`Engine::segments`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub partition_start: i64,
    pub id: u64,
    pub rows: u64,
    pub bytes: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub max_lsn: u64,
    pub path: PathBuf,
}

/// What a scan will read, known when it starts (from the catalog alone): how many
/// partitions and segments the time range kept. Segments can still be skipped later by
/// their tag bitmaps, and blocks by their time statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub partitions_total: usize,
    pub partitions_scanned: usize,
    pub segments_total: usize,
    /// Segments of the scanned partitions whose time span overlaps the requested range.
    pub segments_in_time_range: usize,
    /// Cold objects of the table's partitions, and of the scanned partitions those whose
    /// time span overlaps the range (their row groups are pruned later by statistics).
    pub cold_objects_total: usize,
    pub cold_objects_in_time_range: usize,
    /// Partitions with local rows (segments or memtables), and of the scanned partitions
    /// those with local rows.
    pub local_partitions_total: usize,
    pub local_partitions_scanned: usize,
    /// Partitions with cold objects, and of the scanned partitions those with cold
    /// objects in the time range.
    pub cold_partitions_total: usize,
    pub cold_partitions_scanned: usize,
    /// Row groups of the cold objects in the time range, and those whose statistics do
    /// not rule out the time range and tag filters (what the scan reads). Only
    /// [`Engine::scan_stats`] fills these in: it reads the objects' footers (a store
    /// request the first time, cached after).
    pub cold_row_groups_total: usize,
    pub cold_row_groups_read: usize,
    /// Rows of the row groups read, and of those the rows whose pages the page index does
    /// not rule out (what the scan decodes). Filled in like the row groups.
    pub cold_rows_in_row_groups_read: usize,
    pub cold_rows_read: usize,
}

impl Scan {
    /// What pruning by time kept; see [`ScanStats`].
    pub fn stats(&self) -> ScanStats {
        self.stats
    }

    /// The schema of the batches this scan yields.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.resolved.output)
    }

    /// Collects every batch.
    pub fn collect_batches(self) -> Result<Vec<RecordBatch>> {
        self.collect()
    }

    fn partition_read(&self, work: PartitionWork) -> PartitionRead {
        PartitionRead {
            _version: Arc::clone(&self._version),
            store: Arc::clone(&self.store),
            table: Arc::clone(&self.table),
            resolved: Arc::clone(&self.resolved),
            work,
        }
    }

    /// The next partition's rows, or `None` when every partition was read.
    fn next_partition(&mut self) -> Option<Result<VecDeque<Cols>>> {
        if self.readers <= 1 {
            let work = self.work.pop_front()?;
            return Some(self.partition_read(work).run());
        }
        // Keep up to `readers` partitions in flight.
        while self.reading.len() < self.readers {
            let Some(work) = self.work.pop_front() else {
                break;
            };
            let read = self.partition_read(work);
            self.reading.push_back(Reading::start(read));
        }
        Some(self.reading.pop_front()?.finish())
    }
}

impl Iterator for Scan {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(cols) = self.ready.pop_front() {
                return Some(cols.project(&self.resolved));
            }
            match self.next_partition()? {
                Ok(rows) => self.ready = rows,
                Err(e) => {
                    // The scan ends at its first error; readers still running are not
                    // waited for.
                    self.work.clear();
                    self.reading.clear();
                    return Some(Err(e));
                }
            }
        }
    }
}
