//! The cold tier: partitions rewritten as Parquet files in an object store.
//!
//! - [`store`]: the object store (a local directory or S3) behind blocking calls.
//! - [`cache`]: the bounded on-disk cache of cold object blocks reads go through.
//! - [`parquet`]: the cold file layout, the writer a merge feeds, and the reader scans use
//!   (a cold object is a `crate::scan::ScanSource` like a segment or a memtable).
//! - [`prune`]: which row groups and pages of an object a scan reads, from its statistics
//!   and page index.
//! - [`bloom`]: the per-row-group bloom filters of tag columns, which rule out objects and
//!   row groups that cannot hold a tag value (a delete or erasure by subject).
//!
//! Invariants: a cold object is listed in the catalog only after it was uploaded and read
//! back with the size and CRC32 the engine wrote; it is never modified after that. Local
//! segments it replaces are deleted only after the catalog commit that lists it.

pub(crate) mod bloom;
pub(crate) mod cache;
pub(crate) mod parquet;
pub(crate) mod prune;
pub(crate) mod store;

pub use cache::ColdCacheStats;
pub use store::{ColdStoreConfig, S3Config};
