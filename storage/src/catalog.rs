//! The persisted catalog and the in-memory version built from it.
//!
//! File `CATALOG` in the data directory (layout in `storage/FORMAT.md`):
//!
//! ```text
//! 8  magic   b"STRATCAT"
//! 4  version u32 LE (4; versions 1 to 3 are read too)
//! 4  crc32   of the JSON body
//! 8  length  u64 LE of the JSON body
//! n  JSON body (CatalogData)
//! ```
//!
//! It is replaced atomically: write `CATALOG.tmp`, fsync it, rename over `CATALOG`, fsync
//! the directory. A reader sees the old or the new version, never a mix.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::erasure::Erasure;
use crate::error::{Error, Result};
use crate::schema::TableSchema;
use crate::segment::Segment;
use crate::view::ViewDef;

const MAGIC: &[u8; 8] = b"STRATCAT";
/// The version this build writes. 2 adds cold objects per partition and the cold garbage
/// list; 3 adds pending erasures and each file's `purged` mark; 4 adds the `points`
/// predicate (a DELETE by a condition on fields). An older reader must not open a newer
/// catalog (it would not see cold rows, or would show erased ones).
const VERSION: u32 = 4;
/// The oldest version this build reads.
const MIN_VERSION: u32 = 1;
const FILE: &str = "CATALOG";
const TMP: &str = "CATALOG.tmp";

/// One segment as recorded in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SegmentEntry {
    pub(crate) id: u64,
    pub(crate) rows: u64,
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
    pub(crate) bytes: u64,
    pub(crate) max_lsn: u64,
    /// Every erasure with an id up to this one that concerns the file's rows was applied
    /// when it was written (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) purged: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One cold-tier object (a Parquet file in the cold store) as recorded in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ColdEntry {
    pub(crate) id: u64,
    /// Key in the cold store: `<table>/<partition>/<table id>-<id>.parquet`.
    pub(crate) key: String,
    pub(crate) rows: u64,
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
    pub(crate) bytes: u64,
    /// CRC32 of the whole object, checked after upload.
    pub(crate) crc32: u32,
    pub(crate) max_lsn: u64,
    /// As [`SegmentEntry::purged`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) purged: u64,
    /// SHA-256 of the whole object (hex), for erasure receipts; absent in objects written
    /// before catalog version 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PartitionData {
    start: i64,
    segments: Vec<SegmentEntry>,
    /// Cold objects, oldest first; all older than every local segment of the partition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cold: Vec<ColdEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TableData {
    id: u64,
    schema: TableSchema,
    partitions: Vec<PartitionData>,
}

/// The JSON body of the catalog file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CatalogData {
    next_table_id: u64,
    next_segment_id: u64,
    /// Every WAL record with LSN <= this is in a segment listed here.
    flushed_lsn: u64,
    tables: Vec<TableData>,
    /// Cold keys no longer referenced (a dropped table's objects) whose deletion from the
    /// store is still to be done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    cold_garbage: Vec<String>,
    #[serde(default = "first_id")]
    next_erasure_id: u64,
    /// Erasures whose rows some file may still hold (see `crate::erasure`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    erasures: Vec<Erasure>,
    /// Views, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    views: Vec<ViewDef>,
}

fn first_id() -> u64 {
    1
}

/// An open segment file referenced by a version. When the last version referencing an
/// obsolete segment is dropped, the file is deleted.
#[derive(Debug)]
pub(crate) struct SegmentHandle {
    pub(crate) entry: SegmentEntry,
    pub(crate) segment: Segment,
    obsolete: AtomicBool,
}

impl SegmentHandle {
    pub(crate) fn new(entry: SegmentEntry, segment: Segment) -> Self {
        SegmentHandle {
            entry,
            segment,
            obsolete: AtomicBool::new(false),
        }
    }

    /// Marks the file for deletion once no snapshot uses it.
    pub(crate) fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }
}

impl Drop for SegmentHandle {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            let path = self.segment.path().to_path_buf();
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "could not delete obsolete segment");
            }
        }
    }
}

pub(crate) type SegmentRef = Arc<SegmentHandle>;

/// A cold object referenced by a version, with its Parquet footer and bloom filters once a
/// scan loaded them.
#[derive(Debug)]
pub(crate) struct ColdHandle {
    pub(crate) entry: ColdEntry,
    pub(crate) meta: std::sync::OnceLock<parquet::arrow::arrow_reader::ArrowReaderMetadata>,
    blooms: std::sync::OnceLock<Arc<crate::tier::bloom::ColdBlooms>>,
}

impl ColdHandle {
    pub(crate) fn new(entry: ColdEntry) -> Self {
        ColdHandle {
            entry,
            meta: std::sync::OnceLock::new(),
            blooms: std::sync::OnceLock::new(),
        }
    }

    /// The object's bloom filters (fetched on first use; `file` and `meta` from
    /// [`ColdHandle::open`]).
    pub(crate) fn blooms(
        &self,
        file: &crate::tier::parquet::ColdFile,
        meta: &crate::tier::parquet::ColdMeta,
    ) -> Result<Arc<crate::tier::bloom::ColdBlooms>> {
        if let Some(b) = self.blooms.get() {
            return Ok(Arc::clone(b));
        }
        let b = Arc::new(crate::tier::bloom::ColdBlooms::load(file, meta)?);
        let _ = self.blooms.set(Arc::clone(&b));
        Ok(b)
    }

    /// The object as a file read through `store`, with its footer (fetched on first use).
    pub(crate) fn open(
        &self,
        store: &Arc<crate::tier::store::ColdStore>,
    ) -> Result<(
        crate::tier::parquet::ColdFile,
        crate::tier::parquet::ColdMeta,
    )> {
        let file = crate::tier::parquet::ColdFile::new(
            Arc::clone(store),
            self.entry.key.clone(),
            self.entry.bytes,
        );
        let meta = match self.meta.get() {
            Some(m) => m.clone(),
            None => {
                let m = crate::tier::parquet::load_metadata(&file)?;
                let _ = self.meta.set(m.clone());
                m
            }
        };
        Ok((file, meta))
    }
}

pub(crate) type ColdRef = Arc<ColdHandle>;

/// A table in a version.
#[derive(Debug, Clone)]
pub(crate) struct TableState {
    pub(crate) id: u64,
    pub(crate) schema: TableSchema,
    /// Partition start (ns) to its segments, oldest first.
    pub(crate) partitions: BTreeMap<i64, Vec<SegmentRef>>,
    /// Partition start (ns) to its cold objects, oldest first (older than its segments).
    pub(crate) cold: BTreeMap<i64, Vec<ColdRef>>,
}

/// An immutable catalog version. Readers hold an `Arc<Version>` for as long as they read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Version {
    pub(crate) next_table_id: u64,
    pub(crate) next_segment_id: u64,
    pub(crate) flushed_lsn: u64,
    pub(crate) tables: BTreeMap<String, Arc<TableState>>,
    pub(crate) cold_garbage: Vec<String>,
    pub(crate) next_erasure_id: u64,
    /// Pending erasures, oldest first: their predicates hide rows from every scan.
    pub(crate) erasures: Vec<Erasure>,
    /// Views by name (names no table has).
    pub(crate) views: BTreeMap<String, ViewDef>,
}

/// Path of a segment file.
pub(crate) fn segment_path(data_dir: &Path, table_id: u64, partition: i64, id: u64) -> PathBuf {
    partition_dir(data_dir, table_id, partition).join(format!("{id:020}.seg"))
}

pub(crate) fn partition_dir(data_dir: &Path, table_id: u64, partition: i64) -> PathBuf {
    data_dir
        .join("tables")
        .join(table_id.to_string())
        .join(format!("p{partition}"))
}

/// Creates `dir` and any missing parents, fsyncing each new directory's parent so that the
/// new entries survive a power loss (a directory's entry lives in its parent).
pub(crate) fn create_dir_durable(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.exists() {
        missing.push(at);
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => break,
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for d in missing.iter().rev() {
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

impl Version {
    /// The table called `name`, or [`Error::TableNotFound`].
    pub(crate) fn table(&self, name: &str) -> Result<&Arc<TableState>> {
        self.tables.get(name).ok_or_else(|| Error::TableNotFound {
            table: name.to_owned(),
        })
    }

    /// The table with id `id` (ids outlive names: a table re-created under a dropped one's
    /// name has another), with its name.
    pub(crate) fn table_by_id(&self, id: u64) -> Option<(String, Arc<TableState>)> {
        self.tables
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(n, t)| (n.clone(), Arc::clone(t)))
    }

    /// The tombstones of the pending erasures on `table`, oldest first.
    pub(crate) fn tombstones(
        &self,
        table: &TableState,
    ) -> Result<Vec<crate::predicate::Tombstone>> {
        let mut out = Vec::new();
        for e in &self.erasures {
            for t in e.tables.iter().filter(|t| t.table_id == table.id) {
                if let Some(p) = &t.predicate {
                    out.push(crate::predicate::Tombstone {
                        id: e.id,
                        lsn: t.lsn,
                        pred: p.bind(&table.schema)?,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Writes this version as the catalog of `dir`, atomically.
    pub(crate) fn persist(&self, dir: &Path) -> Result<()> {
        let data = CatalogData {
            next_table_id: self.next_table_id,
            next_segment_id: self.next_segment_id,
            flushed_lsn: self.flushed_lsn,
            tables: self
                .tables
                .values()
                .map(|t| TableData {
                    id: t.id,
                    schema: t.schema.clone(),
                    partitions: t
                        .partitions
                        .keys()
                        .chain(t.cold.keys())
                        .copied()
                        .collect::<std::collections::BTreeSet<i64>>()
                        .into_iter()
                        .map(|start| PartitionData {
                            start,
                            segments: t.partitions.get(&start).map_or_else(Vec::new, |segs| {
                                segs.iter().map(|s| s.entry.clone()).collect()
                            }),
                            cold: t.cold.get(&start).map_or_else(Vec::new, |objs| {
                                objs.iter().map(|o| o.entry.clone()).collect()
                            }),
                        })
                        .collect(),
                })
                .collect(),
            cold_garbage: self.cold_garbage.clone(),
            next_erasure_id: self.next_erasure_id,
            erasures: self.erasures.clone(),
            views: self.views.values().cloned().collect(),
        };
        let body = serde_json::to_vec(&data).map_err(|e| Error::Corruption {
            file: dir.join(FILE),
            offset: 0,
            reason: format!("catalog does not serialize: {e}"),
        })?;
        let mut out = Vec::with_capacity(body.len() + 24);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        let tmp = dir.join(TMP);
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&out)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(&tmp, e))?;
        fail::fail_point!("catalog::before_rename");
        let path = dir.join(FILE);
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        sync_dir(dir)
    }

    /// Loads the catalog of `dir` and opens every segment it lists; `None` for a new
    /// directory.
    pub(crate) fn load(dir: &Path) -> Result<Option<Version>> {
        let path = dir.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let corrupt = |offset: u64, reason: String| Error::Corruption {
            file: path.clone(),
            offset,
            reason,
        };
        if bytes.len() < 24 || &bytes[..8] != MAGIC {
            return Err(corrupt(0, "bad catalog magic".into()));
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if !(MIN_VERSION..=VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                file: path,
                version,
                supported: VERSION,
            });
        }
        let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[16..24]);
        let len = u64::from_le_bytes(len);
        let body = &bytes[24..];
        if body.len() as u64 != len {
            return Err(corrupt(
                16,
                format!("length {len} but {} bytes follow", body.len()),
            ));
        }
        if crc32fast::hash(body) != crc {
            return Err(corrupt(24, "catalog checksum mismatch".into()));
        }
        let data: CatalogData =
            serde_json::from_slice(body).map_err(|e| corrupt(24, format!("catalog json: {e}")))?;
        let mut tables = BTreeMap::new();
        for t in data.tables {
            let mut partitions = BTreeMap::new();
            let mut cold = BTreeMap::new();
            for p in t.partitions {
                if !p.cold.is_empty() {
                    cold.insert(
                        p.start,
                        p.cold
                            .into_iter()
                            .map(|e| Arc::new(ColdHandle::new(e)))
                            .collect(),
                    );
                }
                if p.segments.is_empty() {
                    continue;
                }
                let mut segs = Vec::with_capacity(p.segments.len());
                for entry in p.segments {
                    let seg_path = segment_path(dir, t.id, p.start, entry.id);
                    let segment = Segment::open(&seg_path)?;
                    segs.push(Arc::new(SegmentHandle::new(entry, segment)));
                }
                partitions.insert(p.start, segs);
            }
            tables.insert(
                t.schema.name.clone(),
                Arc::new(TableState {
                    id: t.id,
                    schema: t.schema,
                    partitions,
                    cold,
                }),
            );
        }
        Ok(Some(Version {
            next_table_id: data.next_table_id,
            next_segment_id: data.next_segment_id,
            flushed_lsn: data.flushed_lsn,
            tables,
            cold_garbage: data.cold_garbage,
            next_erasure_id: data.next_erasure_id,
            erasures: data.erasures,
            views: data
                .views
                .into_iter()
                .map(|v| (v.name.clone(), v))
                .collect(),
        }))
    }

    /// Every segment file path this version references.
    pub(crate) fn live_files(&self, dir: &Path) -> std::collections::HashSet<PathBuf> {
        self.tables
            .values()
            .flat_map(|t| {
                t.partitions.iter().flat_map(move |(&p, segs)| {
                    segs.iter()
                        .map(move |s| segment_path(dir, t.id, p, s.entry.id))
                })
            })
            .collect()
    }
}
