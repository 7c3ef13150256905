//! The engine: ties the WAL, memtables, segments and catalog together.
//!
//! Rooms, each owning one part of a row's life:
//! - [`recovery`]: opening a data directory: load the catalog, delete orphan files, replay
//!   the WAL above `flushed_lsn` into memtables.
//! - [`write`]: the write path: schema check, back-pressure, WAL append, memtable insert.
//! - [`ddl`]: catalog changes a user asks for: create, alter and drop tables.
//! - [`flush`]: freezing memtables and turning them into segments, then the WAL checkpoint.
//! - [`compaction`]: which segments of a partition to merge, and committing a merge.
//! - [`merge`]: the streaming k-way merge of sorted inputs (segments and cold objects) that
//!   compaction and tiering write through.
//! - [`scan`]: snapshots of the catalog and memtables, and the iterator of Arrow batches
//!   over every tier.
//! - [`tiering`]: moving partitions older than a table's `cold_after` to the cold store.
//! - [`erase`]: `DELETE` and subject erasure: a pending erasure whose tombstones every scan
//!   applies from the moment it is committed.
//! - [`purge`]: removing erased rows from memtables, the WAL, segments and cold objects,
//!   verifying, and filing receipts.
//! - [`retention`]: dropping partitions older than a table's `retention`.
//! - [`jobs`]: the scheduler that runs every background duty (flush, purge, retention,
//!   compaction, tiering) as a job kind, bounds how many run at once, and records every run.
//!
//! Ordering rules that make crash recovery exact:
//! - A write holds the *generation* lock shared across its WAL append and memtable insert.
//!   Freezing the memtables for a flush takes it exclusively, so every LSN up to the WAL's
//!   last one at that instant is in the frozen memtables, and every later LSN in new ones.
//! - A flush writes and fsyncs segment files, then commits a catalog version whose
//!   `flushed_lsn` is that LSN, then checkpoints the WAL. Recovery replays only records
//!   above `flushed_lsn`, so a crash at any step neither loses nor duplicates a row.
//! - Every catalog change (DDL, flush commit, compaction commit) holds the `maintenance`
//!   lock while it derives the next version from the current one and persists it. Long
//!   work (encoding a flush's segments aside, merging segments) happens outside it.
//! - Segment files not named by the catalog (a flush or compaction that crashed before its
//!   commit, or obsolete files whose deletion a crash interrupted) are deleted at start-up.

mod compaction;
mod ddl;
mod erase;
mod flush;
mod jobs;
mod merge;
mod purge;
mod recovery;
mod retention;
mod scan;
mod tiering;
mod write;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use strata_wal::{FsyncPolicy, Lsn, Wal};

use crate::catalog::Version;
use crate::memtable::Memtable;

pub use erase::{RowFilter, RowTest, MAX_ERASED_POINTS};
pub use jobs::{JobInfo, JobKind, JobOutcome, JobRun, JobState};
pub(crate) use merge::MergeSink;
pub use scan::{PartitionInfo, Scan, ScanStats, SegmentInfo, Tier};
pub use write::WriteReceipt;

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
    /// Memtables are flushed once their oldest row has waited this long, so a quiet table
    /// does not keep its rows in memory and the WAL forever. Default 60 s.
    pub max_unflushed_age: Duration,
    /// Writers get back-pressure once unflushed memtables hold this many bytes. Default
    /// 256 MiB.
    pub memory_limit_bytes: usize,
    /// How long a writer waits for memory before [`crate::Error::MemoryLimit`]. Default 5 s.
    pub backpressure_wait: Duration,
    /// Compaction merges a run of this many segments of the same size class. Default 4.
    pub compaction_trigger: usize,
    /// Background jobs running at once. Default 2; with more than one, one place is kept
    /// for flushes so that they never wait behind a long merge.
    pub max_concurrent_jobs: usize,
    /// Where cold partitions go (`cold_store`): by default the directory `<dir>/cold`.
    pub cold_store: crate::tier::ColdStoreConfig,
    /// Bytes of cold object blocks kept on disk under `<dir>/cold-cache` for reads
    /// (`cold_cache_bytes`); 0 turns the cache off. Default 1 GiB.
    pub cold_cache_bytes: u64,
    /// Run background jobs (flush, compaction, tiering) on the engine's own threads.
    /// Default true.
    /// Without them, nothing runs unless asked ([`Engine::run_jobs`], [`Engine::flush`]).
    pub background: bool,
    /// Size at which an atomic write group ([`Engine::write_group`]) is cut into WAL
    /// records. Default 64 MiB; tests set it low to get groups of many records.
    pub group_record_bytes: usize,
}

impl EngineConfig {
    /// Defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            dir: dir.into(),
            fsync: FsyncPolicy::Always,
            wal_segment_size: 64 * 1024 * 1024,
            flush_threshold_bytes: 64 * 1024 * 1024,
            max_unflushed_age: Duration::from_secs(60),
            memory_limit_bytes: 256 * 1024 * 1024,
            backpressure_wait: Duration::from_secs(5),
            compaction_trigger: 4,
            max_concurrent_jobs: 2,
            cold_store: crate::tier::ColdStoreConfig::default(),
            cold_cache_bytes: 1 << 30,
            background: true,
            group_record_bytes: crate::group::PART_TARGET_BYTES,
        }
    }
}

/// The wall clock in nanoseconds since the Unix epoch (retention, tiering and receipts
/// use it).
pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// (table id, partition start): ids, not names, so that a table created after a drop of
/// the same name never shares memtables with the old one.
type MemKey = (u64, i64);

/// Memtables taken out of the write path by a flush, readable until their segments are
/// committed.
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
    /// When the oldest row now in `active` arrived; `None` while `active` is empty.
    active_since: Option<Instant>,
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
    /// Serializes catalog writers: DDL, flush, compaction commits.
    maintenance: Mutex<()>,
    /// Signalled when a flush released memory.
    memory_freed: Condvar,
    memory_lock: Mutex<()>,
    jobs: jobs::Jobs,
    /// The cold store, opened at start-up (no request is made until a job or scan needs it).
    cold: Arc<crate::tier::store::ColdStore>,
    /// Cold keys being uploaded: orphan cleanup must not take them for leftovers.
    cold_inflight: Mutex<std::collections::HashSet<String>>,
    /// Cold objects a commit replaced or a drop removed, in the catalog's `cold_garbage`:
    /// deleted once no scan holds their handle.
    cold_retired: Mutex<Vec<(String, std::sync::Weak<crate::catalog::ColdHandle>)>>,
    /// Filed erasure receipts (`erasures.log`).
    receipts: Mutex<crate::erasure::ReceiptLog>,
    /// The key of subject hashes.
    subject_key: crate::erasure::SubjectKey,
    shutdown: AtomicBool,
}

impl Inner {
    fn is_shut_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Reserves an id for a new segment or cold object written outside the maintenance
    /// lock (a merge, a tiering run): published at once so that no flush takes it, and
    /// persisted with the next catalog commit. A crash before then leaves a file that
    /// start-up (or the cold orphan clean-up) deletes, so an id reused after it is safe.
    fn reserve_file_id(&self) -> u64 {
        let _m = self.maintenance.lock();
        let mut st = self.state.lock();
        let mut next = (*st.version).clone();
        let id = next.next_segment_id;
        next.next_segment_id += 1;
        st.version = Arc::new(next);
        id
    }
}

/// A Strata storage engine over one data directory.
#[derive(Debug)]
pub struct Engine {
    inner: Arc<Inner>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Engine {
    /// Bytes held by memtables not yet flushed.
    pub fn unflushed_bytes(&self) -> usize {
        self.inner.state.lock().unflushed_bytes()
    }

    /// The bound on [`Engine::unflushed_bytes`] past which writers get back-pressure
    /// (`EngineConfig::memory_limit_bytes`).
    pub fn memory_limit_bytes(&self) -> usize {
        self.inner.config.memory_limit_bytes
    }

    /// Stops the background jobs (a running job stops at its next safe point, leaving
    /// nothing half done) and the WAL. Unflushed rows stay in the WAL.
    pub fn close(&self) {
        self.inner.shutdown.store(true, Ordering::Release);
        self.inner.jobs.wake();
        self.inner.memory_freed.notify_all();
        for w in std::mem::take(&mut *self.workers.lock()) {
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
