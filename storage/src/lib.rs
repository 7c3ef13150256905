//! Strata's storage engine.
//!
//! Rows arrive as [`WriteBatch`]es for a table. [`Engine::write`] appends the batch to the
//! write-ahead log (`strata-wal`), waits until it is durable, and inserts it into the
//! memtable of each time partition it touches. Flush turns memtables into immutable columnar
//! segment files (format in `storage/FORMAT.md`), commits them to the catalog, and
//! checkpoints the WAL. Compaction merges the segments of a partition. [`Engine::scan`]
//! returns Arrow record batches for a projection, a time range and tag predicates.
//!
//! Invariants:
//! - An acknowledged write is in the WAL under the configured fsync policy; it is replayed
//!   at start-up unless the catalog says it is already in a segment (`flushed_lsn`).
//! - Rows with the same series (tag values) and time are one point: the later write wins,
//!   unless the table is append-only. Scans, flush and compaction all apply this rule.
//! - The catalog is replaced atomically; a scan works on one catalog version and the files
//!   it references stay on disk until the scan is dropped.
//! - Every byte of a segment is checksummed; corruption is an error naming the file, never
//!   rows.
//! - Memtable memory is bounded: past `memory_limit_bytes` writers wait, then get the
//!   retryable [`Error::MemoryLimit`].
//!
//! The `internals` feature exposes the codecs and the memtable (module `internals`) to
//! benchmarks and fuzzers; nothing else should use it.

mod batch;
mod catalog;
mod codec;
mod dump;
mod engine;
mod erasure;
mod error;
mod group;
#[cfg(feature = "internals")]
pub mod internals;
mod memtable;
mod predicate;
mod relation;
mod scan;
mod schema;
mod segment;
mod tier;
mod view;

pub use batch::{SeriesId, Value, WriteBatch};
pub use dump::dump_file;
pub use engine::{
    Engine, EngineConfig, JobInfo, JobKind, JobOutcome, JobRun, JobState, PartitionInfo, RowFilter,
    RowTest, Scan, ScanStats, SegmentInfo, Tier, WriteReceipt, MAX_ERASED_POINTS,
};
pub use erasure::{ErasedTable, Erasure, ErasureKind, ErasureRequest, ErasureState, FileChange};
pub use error::{Error, Result};
pub use predicate::{Predicate, SeriesPoints};
pub use relation::{CommentTarget, IndexDef, KeyDef};
pub use scan::{ScanRequest, TagFilter, TimeRange};
pub use schema::{
    min_time, FieldDef, FieldType, NewColumn, SqlColumn, TableSchema,
    DEFAULT_PARTITION_INTERVAL_NS, NULL_TIME,
};
pub use strata_wal::{FsyncPolicy, Lsn};
pub use tier::{ColdCacheStats, ColdStoreConfig, S3Config};
pub use view::ViewDef;
