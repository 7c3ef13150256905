//! The engine: ties the WAL, memtables, segments and catalog together.
//!
//! Ordering rules that make crash recovery exact:
//! - A write holds the *generation* lock shared across its WAL append and memtable insert.
//!   Freezing the memtables for a flush takes it exclusively, so every LSN up to the WAL's
//!   last one at that instant is in the frozen memtables, and every later LSN in new ones.
//! - A flush writes and fsyncs segment files, then commits a catalog version whose
//!   `flushed_lsn` is that LSN, then checkpoints the WAL. Recovery replays only records
//!   above `flushed_lsn`, so a crash at any step neither loses nor duplicates a row.
//! - Segment files not named by the catalog (a flush or compaction that crashed before its
//!   commit, or obsolete files whose deletion a crash interrupted) are deleted at start-up.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parking_lot::{Condvar, Mutex, RwLock};
use strata_wal::{FsyncPolicy, Lsn, Wal, WalConfig, WalReader};

use crate::batch::{WriteBatch, WAL_KIND_WRITE};
use crate::catalog::{
    partition_dir, segment_path, sync_dir, SegmentEntry, SegmentHandle, SegmentRef, TableState,
    Version,
};
use crate::error::{Error, Result};
use crate::memtable::Memtable;
use crate::scan::{merge_sources, read_memtable, read_segment, Cols, Resolved, ScanRequest};
use crate::schema::{NewColumn, SqlColumn, TableSchema};
use crate::segment::{write_segment, Segment};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Data directory: `CATALOG`, `wal/`, `tables/`.
    pub dir: PathBuf,
    /// WAL durability. Default `always` (group commit).
    pub fsync: FsyncPolicy,
    /// WAL segment size. Default 64 MiB.
    pub wal_segment_size: u64,
    /// Memtables are flushed once they hold this many bytes. Default 64 MiB.
    pub flush_threshold_bytes: usize,
    /// Writers get back-pressure once unflushed memtables hold this many bytes. Default
    /// 256 MiB.
    pub memory_limit_bytes: usize,
    /// How long a writer waits for memory before [`Error::MemoryLimit`]. Default 5 s.
    pub backpressure_wait: Duration,
    /// A partition is compacted once it has this many segments. Default 4.
    pub compaction_trigger: usize,
    /// Run flush and compaction on a background thread. Default true.
    pub background: bool,
}

impl EngineConfig {
    /// Defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            dir: dir.into(),
            fsync: FsyncPolicy::Always,
            wal_segment_size: 64 * 1024 * 1024,
            flush_threshold_bytes: 64 * 1024 * 1024,
            memory_limit_bytes: 256 * 1024 * 1024,
            backpressure_wait: Duration::from_secs(5),
            compaction_trigger: 4,
            background: true,
        }
    }
}

/// What a successful write returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteReceipt {
    /// LSN of the WAL record holding the rows.
    pub lsn: Lsn,
    pub rows: usize,
}

/// (table id, partition start): ids, not names, so that a table created after a drop of
/// the same name never shares memtables with the old one.
type MemKey = (u64, i64);

#[derive(Debug)]
struct Frozen {
    tables: HashMap<MemKey, Memtable>,
    bytes: usize,
    /// Every LSN <= this is in this or an older frozen generation (or in segments).
    upto: Lsn,
}

#[derive(Debug)]
struct State {
    version: Arc<Version>,
    active: HashMap<MemKey, Memtable>,
    active_bytes: usize,
    /// Oldest first.
    frozen: Vec<Arc<Frozen>>,
}

impl State {
    fn unflushed_bytes(&self) -> usize {
        self.active_bytes + self.frozen.iter().map(|f| f.bytes).sum::<usize>()
    }
}

#[derive(Debug)]
struct Inner {
    config: EngineConfig,
    wal: Wal,
    generation: RwLock<()>,
    state: Mutex<State>,
    /// Serializes catalog writers: DDL, flush, compaction.
    maintenance: Mutex<()>,
    /// Signalled when memory is released or work is requested.
    wake: Condvar,
    wake_lock: Mutex<bool>,
    shutdown: AtomicBool,
}

/// A Strata storage engine over one data directory.
#[derive(Debug)]
pub struct Engine {
    inner: Arc<Inner>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Engine {
    /// Opens (creating if needed) the data directory, replays the WAL and starts the
    /// background worker.
    pub fn open(config: EngineConfig) -> Result<Engine> {
        let dir = config.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let version = match Version::load(&dir)? {
            Some(v) => v,
            None => {
                let v = Version {
                    next_table_id: 1,
                    next_segment_id: 1,
                    ..Version::default()
                };
                v.persist(&dir)?;
                v
            }
        };
        remove_orphans(&dir, &version)?;

        let wal_dir = dir.join("wal");
        let mut reader = WalReader::open(&wal_dir)?;
        let mut active: HashMap<MemKey, Memtable> = HashMap::new();
        let mut active_bytes = 0;
        let mut replayed = 0usize;
        let mut unversioned = 0usize;
        while let Some(record) = reader.next_record()? {
            if record.lsn.0 <= version.flushed_lsn || record.kind != WAL_KIND_WRITE {
                continue;
            }
            let (batch, table_id) =
                WriteBatch::decode(&record.payload).map_err(|e| Error::CorruptWalRecord {
                    lsn: record.lsn.0,
                    reason: e.to_string(),
                })?;
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
            active_bytes += apply(&mut active, table, &batch, record.lsn.0);
            replayed += 1;
        }
        let mut recovered = reader.finish()?;
        recovered.ensure_next_lsn_above(Lsn(version.flushed_lsn));
        let mut wal_config = WalConfig::new(&wal_dir);
        wal_config.fsync = config.fsync;
        wal_config.segment_size = config.wal_segment_size;
        let wal = Wal::start(wal_config, recovered)?;
        tracing::info!(dir = %dir.display(), replayed, "storage engine open");

        let inner = Arc::new(Inner {
            config,
            wal,
            generation: RwLock::new(()),
            state: Mutex::new(State {
                version: Arc::new(version),
                active,
                active_bytes,
                frozen: Vec::new(),
            }),
            maintenance: Mutex::new(()),
            wake: Condvar::new(),
            wake_lock: Mutex::new(false),
            shutdown: AtomicBool::new(false),
        });
        let worker = if inner.config.background {
            let bg = Arc::clone(&inner);
            Some(
                std::thread::Builder::new()
                    .name("strata-flush".into())
                    .spawn(move || bg.background_loop())
                    .map_err(|e| Error::io(&dir, e))?,
            )
        } else {
            None
        };
        let engine = Engine {
            inner,
            worker: Mutex::new(worker),
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

    /// Creates a table. Durable when this returns.
    pub fn create_table(&self, schema: TableSchema) -> Result<()> {
        schema.validate()?;
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        if current.tables.contains_key(&schema.name) {
            return Err(Error::TableExists { table: schema.name });
        }
        let mut next = (*current).clone();
        let id = next.next_table_id;
        next.next_table_id += 1;
        next.tables.insert(
            schema.name.clone(),
            Arc::new(TableState {
                id,
                schema,
                partitions: BTreeMap::new(),
            }),
        );
        next.persist(&inner.config.dir)?;
        inner.state.lock().version = Arc::new(next);
        Ok(())
    }

    /// Adds a column to a table (`ALTER TABLE ... ADD COLUMN`). Durable when this returns.
    /// Rows already written, in memtables or segments, read the new column as NULL; writes
    /// may use it as soon as this returns.
    /// `sql` is the column's SQL declaration, kept in the schema for the SQL layer.
    pub fn add_column(&self, table: &str, column: NewColumn, sql: Option<SqlColumn>) -> Result<()> {
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        let state = current.table(table)?;
        let schema = state.schema.with_column(&column, sql)?;
        let mut next = (*current).clone();
        next.tables.insert(
            table.to_owned(),
            Arc::new(TableState {
                id: state.id,
                schema,
                partitions: state.partitions.clone(),
            }),
        );
        next.persist(&inner.config.dir)?;
        // Writes insert under the state lock with the schema of the version they find there,
        // so switching the version and widening the active memtables in one critical
        // section means no write can land in a memtable that lacks the column.
        let mut st = inner.state.lock();
        let mut added = 0;
        for ((id, _), mem) in st.active.iter_mut() {
            if *id == state.id {
                match &column {
                    NewColumn::Tag(tag) => mem.add_tag(tag),
                    NewColumn::Field(f) => added += mem.add_field(&f.name, f.ty),
                }
            }
        }
        st.active_bytes += added;
        st.version = Arc::new(next);
        Ok(())
    }

    /// Drops a table (`DROP TABLE`). Durable when this returns. Its memtables are discarded,
    /// its WAL records are ignored from now on (they name the dropped table's id), and its
    /// segment files are deleted once no running scan uses them.
    pub fn drop_table(&self, table: &str) -> Result<()> {
        let inner = &self.inner;
        let _m = inner.maintenance.lock();
        let current = inner.state.lock().version.clone();
        let state = Arc::clone(current.table(table)?);
        let mut next = (*current).clone();
        next.tables.remove(table);
        next.persist(&inner.config.dir)?;
        {
            let mut st = inner.state.lock();
            let mut freed = 0;
            st.active.retain(|(id, _), mem| {
                let keep = *id != state.id;
                if !keep {
                    freed += mem.bytes();
                }
                keep
            });
            st.active_bytes -= freed;
            st.version = Arc::new(next);
        }
        for segments in state.partitions.values() {
            for s in segments {
                s.mark_obsolete();
            }
        }
        inner.wake.notify_all();
        Ok(())
    }

    /// The schema of a table.
    pub fn table_schema(&self, table: &str) -> Result<TableSchema> {
        let version = self.inner.state.lock().version.clone();
        Ok(version.table(table)?.schema.clone())
    }

    /// Names of all tables.
    pub fn table_names(&self) -> Vec<String> {
        self.inner
            .state
            .lock()
            .version
            .tables
            .keys()
            .cloned()
            .collect()
    }

    /// Writes a batch: durable in the WAL (per the fsync policy) and visible to scans when
    /// this returns. Past the memory limit it waits for a flush, then fails with the
    /// retryable [`Error::MemoryLimit`].
    pub fn write(&self, batch: &WriteBatch) -> Result<WriteReceipt> {
        let inner = &self.inner;
        if inner.shutdown.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if batch.is_empty() {
            return Ok(WriteReceipt {
                lsn: inner.wal.last_lsn(),
                rows: 0,
            });
        }
        let table = Arc::clone(inner.state.lock().version.table(&batch.table)?);
        check_batch(&table.schema, batch)?;
        inner.wait_for_memory()?;
        let payload = batch.encode(table.id);
        let (lsn, active_bytes) = {
            let _generation = inner.generation.read();
            let lsn = inner.wal.append(WAL_KIND_WRITE, payload)?;
            let mut st = inner.state.lock();
            // The schema as of now, not as of the check above: a column added in between
            // must exist in any memtable this write creates.
            let Some(current) = st
                .version
                .tables
                .get(&batch.table)
                .filter(|t| t.id == table.id)
                .cloned()
            else {
                // Dropped since the check. The record names the old table id, so replay
                // ignores it too: the write did not happen.
                return Err(Error::TableNotFound {
                    table: batch.table.clone(),
                });
            };
            let added = apply(&mut st.active, &current, batch, lsn.0);
            st.active_bytes += added;
            (lsn, st.active_bytes)
        };
        let receipt = WriteReceipt {
            lsn,
            rows: batch.len(),
        };
        if active_bytes >= inner.config.flush_threshold_bytes {
            inner.notify_worker();
        }
        Ok(receipt)
    }

    /// Flushes every memtable to segments and checkpoints the WAL.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Compacts every partition that has more than one segment; returns how many were
    /// compacted.
    pub fn compact(&self) -> Result<usize> {
        self.inner.compact(2)
    }

    /// Starts a scan. The scan reads a consistent snapshot: rows written after this call are
    /// not seen, and files it reads are not deleted until it is dropped.
    pub fn scan(&self, req: &ScanRequest) -> Result<Scan> {
        self.start_scan(req, true)
    }

    /// What a scan with this request would prune ([`ScanStats`]), without snapshotting
    /// memtable rows: cheap enough to call when planning a query.
    pub fn scan_stats(&self, req: &ScanRequest) -> Result<ScanStats> {
        Ok(self.start_scan(req, false)?.stats)
    }

    /// Starts a scan; with `materialize` false the memtables are only inspected (their time
    /// bounds) and the scan yields no memtable rows, which is all `scan_stats` needs.
    fn start_scan(&self, req: &ScanRequest, materialize: bool) -> Result<Scan> {
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
        let resolved = Resolved::new(req, &table)?;
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
        let mut with_data: std::collections::BTreeSet<i64> =
            table.partitions.keys().copied().collect();
        for f in &frozen {
            with_data.extend(
                f.tables
                    .iter()
                    .filter(|((id, _), m)| *id == table.id && m.len() > 0)
                    .map(|((_, p), _)| *p),
            );
        }
        with_data.extend(active_parts.iter().copied());
        let mut work = VecDeque::new();
        let mut parts: Vec<i64> = table
            .partitions
            .keys()
            .copied()
            .chain(mem.keys().copied())
            .collect();
        parts.sort_unstable();
        parts.dedup();
        for p in parts {
            let segments = table.partitions.get(&p).map_or(&[][..], Vec::as_slice);
            stats.segments_total += segments.len();
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
            work.push_back(PartitionWork {
                segments: table.partitions.get(&p).cloned().unwrap_or_default(),
                mem: mem.remove(&p).unwrap_or_default(),
            });
        }
        stats.partitions_total = with_data.len();
        Ok(Scan {
            _version: version,
            table,
            resolved,
            stats,
            work,
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

    /// Bytes held by memtables not yet flushed.
    pub fn unflushed_bytes(&self) -> usize {
        self.inner.state.lock().unflushed_bytes()
    }

    /// The bound on [`Engine::unflushed_bytes`] past which writers get back-pressure
    /// (`EngineConfig::memory_limit_bytes`).
    pub fn memory_limit_bytes(&self) -> usize {
        self.inner.config.memory_limit_bytes
    }

    /// Stops the background worker and the WAL. Unflushed rows stay in the WAL.
    pub fn close(&self) {
        self.inner.shutdown.store(true, Ordering::Release);
        self.inner.notify_worker();
        if let Some(w) = self.worker.lock().take() {
            let _ = w.join();
        }
        self.inner.wal.close();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close();
    }
}

/// Checks that a batch fits the table: known tags and fields of matching types.
fn check_batch(schema: &TableSchema, batch: &WriteBatch) -> Result<()> {
    for t in &batch.tag_names {
        if !schema.tags.contains(t) {
            return Err(Error::ColumnNotFound {
                table: schema.name.clone(),
                column: t.clone(),
            });
        }
    }
    for f in &batch.fields {
        match schema.fields.iter().find(|d| d.name == f.name) {
            None => {
                return Err(Error::ColumnNotFound {
                    table: schema.name.clone(),
                    column: f.name.clone(),
                })
            }
            Some(d) if d.ty != f.ty => {
                return Err(Error::TypeMismatch {
                    table: schema.name.clone(),
                    column: f.name.clone(),
                    expected: d.ty,
                    found: f.ty,
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Inserts a batch into the memtables of its partitions; returns bytes added.
fn apply(
    active: &mut HashMap<MemKey, Memtable>,
    table: &TableState,
    batch: &WriteBatch,
    lsn: u64,
) -> usize {
    let schema = &table.schema;
    let first = schema.partition_start(batch.ts[0]);
    let all_same = batch.ts.iter().all(|&t| schema.partition_start(t) == first);
    let groups: Vec<(i64, Vec<usize>)> = if all_same {
        vec![(first, (0..batch.len()).collect())]
    } else {
        let mut by_part: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, &t) in batch.ts.iter().enumerate() {
            by_part
                .entry(schema.partition_start(t))
                .or_default()
                .push(i);
        }
        by_part.into_iter().collect()
    };
    let mut added = 0;
    for (part, rows) in groups {
        let mem = active
            .entry((table.id, part))
            .or_insert_with(|| Memtable::new(schema));
        added += mem.insert(batch, &rows, lsn);
    }
    added
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
    Ok(())
}

impl Inner {
    fn notify_worker(&self) {
        *self.wake_lock.lock() = true;
        self.wake.notify_all();
    }

    fn wait_for_memory(&self) -> Result<()> {
        let limit = self.config.memory_limit_bytes;
        let deadline = Instant::now() + self.config.backpressure_wait;
        loop {
            let used = self.state.lock().unflushed_bytes();
            if used < limit {
                return Ok(());
            }
            if !self.config.background || Instant::now() >= deadline {
                return Err(Error::MemoryLimit { used, limit });
            }
            let mut woke = self.wake_lock.lock();
            *woke = true;
            self.wake.notify_all();
            self.wake.wait_for(&mut woke, Duration::from_millis(20));
        }
    }

    fn background_loop(&self) {
        while !self.shutdown.load(Ordering::Acquire) {
            {
                let mut woke = self.wake_lock.lock();
                if !*woke {
                    self.wake.wait_for(&mut woke, Duration::from_millis(500));
                }
                *woke = false;
            }
            if self.shutdown.load(Ordering::Acquire) {
                break;
            }
            let (active, total) = {
                let st = self.state.lock();
                (st.active_bytes, st.unflushed_bytes())
            };
            if active >= self.config.flush_threshold_bytes
                || total >= self.config.memory_limit_bytes
            {
                if let Err(e) = self.flush() {
                    tracing::error!(error = %e, "background flush failed");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            if let Err(e) = self.compact(self.config.compaction_trigger) {
                tracing::error!(error = %e, "background compaction failed");
            }
            self.wake.notify_all();
        }
    }

    fn flush(&self) -> Result<()> {
        let _m = self.maintenance.lock();
        {
            let _generation = self.generation.write();
            let mut st = self.state.lock();
            if !st.active.is_empty() {
                let tables = std::mem::take(&mut st.active);
                let bytes = std::mem::take(&mut st.active_bytes);
                let upto = self.wal.last_lsn();
                st.frozen.push(Arc::new(Frozen {
                    tables,
                    bytes,
                    upto,
                }));
            }
        }
        loop {
            let next = self.state.lock().frozen.first().cloned();
            let Some(frozen) = next else {
                break;
            };
            self.flush_frozen(&frozen)?;
        }
        self.wake.notify_all();
        Ok(())
    }

    fn flush_frozen(&self, frozen: &Arc<Frozen>) -> Result<()> {
        let dir = &self.config.dir;
        let current = self.state.lock().version.clone();
        let mut next = (*current).clone();
        let mut keys: Vec<&MemKey> = frozen.tables.keys().collect();
        keys.sort();
        let mut dirs = Vec::new();
        for key in keys {
            let mem = &frozen.tables[key];
            // A table dropped since the freeze: its rows go with it.
            let Some((name, table)) = next
                .tables
                .iter()
                .find(|(_, t)| t.id == key.0)
                .map(|(n, t)| (n.clone(), Arc::clone(t)))
            else {
                continue;
            };
            let batch = mem.to_flush_batch(&table.schema)?;
            if batch.num_rows() == 0 {
                continue;
            }
            let id = next.next_segment_id;
            next.next_segment_id += 1;
            let handle = write_new_segment(dir, &table, key.1, id, &batch, frozen.upto.0)?;
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
        Ok(())
    }

    /// Compacts every partition with at least `trigger` segments.
    fn compact(&self, trigger: usize) -> Result<usize> {
        let candidates: Vec<(String, i64)> = {
            let st = self.state.lock();
            st.version
                .tables
                .iter()
                .flat_map(|(name, t)| {
                    t.partitions
                        .iter()
                        .filter(|(_, segs)| segs.len() >= trigger.max(2))
                        .map(move |(&p, _)| (name.clone(), p))
                })
                .collect()
        };
        let mut done = 0;
        for (table, part) in candidates {
            if self.shutdown.load(Ordering::Acquire) {
                break;
            }
            if self.compact_partition(&table, part, trigger.max(2))? {
                done += 1;
            }
        }
        Ok(done)
    }

    fn compact_partition(&self, table_name: &str, part: i64, trigger: usize) -> Result<bool> {
        let _m = self.maintenance.lock();
        let current = self.state.lock().version.clone();
        let Some(table) = current.tables.get(table_name).cloned() else {
            return Ok(false);
        };
        let Some(segments) = table.partitions.get(&part).cloned() else {
            return Ok(false);
        };
        if segments.len() < trigger {
            return Ok(false);
        }
        let req = ScanRequest::new(table_name).with_pruning(false);
        let resolved = Resolved::new(&req, &table)?;
        let mut sources = Vec::with_capacity(segments.len());
        for s in &segments {
            sources.push(read_segment(s, &table, &resolved, true)?);
        }
        let merged = merge_sources(sources, table.schema.tags.len(), table.schema.append_only)?;
        let batches = merged
            .iter()
            .map(|c| c.project(&resolved))
            .collect::<Result<Vec<_>>>()?;
        let batch = arrow::compute::concat_batches(&resolved.output, &batches)?;
        let batch = if table.schema.append_only || segments.len() < 2 {
            batch
        } else {
            sort_batch(&batch, table.schema.tags.len())?
        };
        let mut next = (*current).clone();
        let id = next.next_segment_id;
        next.next_segment_id += 1;
        let max_lsn = segments.iter().map(|s| s.entry.max_lsn).max().unwrap_or(0);
        let handle = write_new_segment(&self.config.dir, &table, part, id, &batch, max_lsn)?;
        sync_dir(&partition_dir(&self.config.dir, table.id, part))?;
        fail::fail_point!("compaction::before_catalog_commit");
        let mut t = (*table).clone();
        t.partitions.insert(part, vec![handle]);
        next.tables.insert(table_name.to_owned(), Arc::new(t));
        next.persist(&self.config.dir)?;
        self.state.lock().version = Arc::new(next);
        for s in &segments {
            s.mark_obsolete();
        }
        tracing::debug!(
            table = table_name,
            partition = part,
            merged = segments.len(),
            "compacted"
        );
        Ok(true)
    }
}

/// Sorts a full-schema batch by (tags, time), as segments require.
fn sort_batch(batch: &RecordBatch, tag_count: usize) -> Result<RecordBatch> {
    use arrow::compute::{lexsort_to_indices, take_record_batch, SortColumn};
    let columns: Vec<SortColumn> = (1..=tag_count)
        .chain(std::iter::once(0))
        .map(|c| SortColumn {
            values: Arc::clone(batch.column(c)),
            options: None,
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(batch, &indices)?)
}

fn write_new_segment(
    dir: &Path,
    table: &TableState,
    part: i64,
    id: u64,
    batch: &RecordBatch,
    max_lsn: u64,
) -> Result<SegmentRef> {
    let pdir = partition_dir(dir, table.id, part);
    std::fs::create_dir_all(&pdir).map_err(|e| Error::io(&pdir, e))?;
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
        },
        segment,
    )))
}

/// A memtable's sorted rows, with the time span the memtable tracked while inserting.
#[derive(Debug)]
struct MemBatch {
    min_ts: i64,
    max_ts: i64,
    batch: RecordBatch,
}

impl MemBatch {
    fn of(mem: &Memtable, schema: &TableSchema) -> Result<Self> {
        Ok(MemBatch {
            min_ts: mem.min_ts,
            max_ts: mem.max_ts,
            batch: mem.to_batch(schema)?,
        })
    }
}

#[derive(Debug)]
struct PartitionWork {
    segments: Vec<SegmentRef>,
    mem: Vec<MemBatch>,
}

/// A running scan: an iterator of Arrow batches in the requested projection.
#[derive(Debug)]
pub struct Scan {
    _version: Arc<Version>,
    table: Arc<TableState>,
    resolved: Resolved,
    stats: ScanStats,
    work: VecDeque<PartitionWork>,
    ready: VecDeque<Cols>,
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

    fn load_partition(&mut self, p: PartitionWork) -> Result<()> {
        // Sources whose time spans overlap may hold versions of the same point; only then
        // must the series key (every tag) be decoded for the merge.
        let mut spans: Vec<(i64, i64)> = p
            .segments
            .iter()
            .map(|s| (s.entry.min_ts, s.entry.max_ts))
            .chain(p.mem.iter().map(|m| (m.min_ts, m.max_ts)))
            .collect();
        spans.sort_unstable();
        let merge = !self.table.schema.append_only && spans.windows(2).any(|w| w[1].0 <= w[0].1);
        let mut sources = Vec::with_capacity(p.segments.len() + p.mem.len());
        for s in &p.segments {
            sources.push(read_segment(s, &self.table, &self.resolved, merge)?);
        }
        for m in &p.mem {
            sources.push(
                read_memtable(&m.batch, &self.resolved, merge)?
                    .into_iter()
                    .collect(),
            );
        }
        self.ready = merge_sources(
            sources,
            self.table.schema.tags.len(),
            self.table.schema.append_only,
        )?;
        Ok(())
    }
}

impl Iterator for Scan {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(cols) = self.ready.pop_front() {
                return Some(cols.project(&self.resolved));
            }
            let p = self.work.pop_front()?;
            if let Err(e) = self.load_partition(p) {
                self.work.clear();
                return Some(Err(e));
            }
        }
    }
}
