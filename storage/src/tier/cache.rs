//! The cold-read cache: byte ranges of cold objects kept on local disk, so that a query
//! over cold data fetches each part of an object from the store once, not per query.
//!
//! Objects are cut into aligned [`BLOCK_BYTES`] blocks; a read fetches the blocks it
//! overlaps that are not cached (one ranged GET per run of missing blocks) and keeps them
//! as files in `<data dir>/cold-cache/`. Cold objects never change once committed (every
//! move writes a new key), so a cached block is never stale. The total is bounded by
//! `cold_cache_bytes`: past it, the least recently used blocks are deleted. The directory
//! is emptied at start-up (the index lives in memory), so the cache is warm only within
//! one run of the server; the page cache keeps hot blocks in memory on top of it.
//!
//! Locking: the index is one mutex held only to look up, insert and pick victims; file
//! reads, writes and store requests happen outside it. Two readers missing the same block
//! at once both fetch it; the second insert replaces the first.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use crate::error::{Error, Result};

/// Bytes per cached block.
pub(crate) const BLOCK_BYTES: u64 = 1 << 20;
/// The cache's directory under the data directory.
pub(crate) const CACHE_DIR: &str = "cold-cache";

#[derive(Debug)]
struct Entry {
    file: PathBuf,
    len: u64,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Index {
    /// (object key, block number) -> its file.
    blocks: HashMap<(String, u64), Entry>,
    bytes: u64,
    clock: u64,
}

/// Hits and misses since start-up, in blocks, and the bytes held; and the bytes scans and
/// jobs fetched from the object store (cache misses, or every read without a cache).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColdCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub bytes: u64,
    pub capacity: u64,
    pub fetched_bytes: u64,
}

/// A bounded on-disk cache of cold object blocks.
#[derive(Debug)]
pub(crate) struct ColdCache {
    dir: PathBuf,
    capacity: u64,
    index: Mutex<Index>,
    next_file: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ColdCache {
    /// Opens (and empties) the cache directory under `data_dir`. `capacity` 0 disables the
    /// cache: `None`.
    pub(crate) fn open(data_dir: &Path, capacity: u64) -> Result<Option<Self>> {
        let dir = data_dir.join(CACHE_DIR);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&dir, e)),
        }
        if capacity == 0 {
            return Ok(None);
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Some(ColdCache {
            dir,
            capacity,
            index: Mutex::new(Index::default()),
            next_file: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }))
    }

    pub(crate) fn stats(&self) -> ColdCacheStats {
        ColdCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes: self.index.lock().bytes,
            capacity: self.capacity,
            fetched_bytes: 0,
        }
    }

    /// Bytes `range` of object `key` (of `object_len` bytes), from cached blocks where there
    /// are some and from `fetch` (a ranged read of the object) for the rest.
    pub(crate) fn read(
        &self,
        key: &str,
        object_len: u64,
        range: Range<u64>,
        fetch: impl Fn(Range<u64>) -> Result<Bytes>,
    ) -> Result<Bytes> {
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        let first = range.start / BLOCK_BYTES;
        let last = (range.end - 1) / BLOCK_BYTES;
        let mut out = BytesMut::with_capacity((range.end - range.start) as usize);
        let mut block = first;
        while block <= last {
            let lo = range.start.max(block * BLOCK_BYTES);
            let hi = range.end.min((block + 1) * BLOCK_BYTES);
            if let Some(bytes) = self.read_cached(key, block, lo - block * BLOCK_BYTES, hi - lo)? {
                self.hits.fetch_add(1, Ordering::Relaxed);
                out.extend_from_slice(&bytes);
                block += 1;
                continue;
            }
            // A run of missing blocks is fetched with one request.
            let mut end = block + 1;
            while end <= last && !self.contains(key, end) {
                end += 1;
            }
            let fetch_lo = block * BLOCK_BYTES;
            let fetch_hi = (end * BLOCK_BYTES).min(object_len);
            let data = fetch(fetch_lo..fetch_hi)?;
            if data.len() as u64 != fetch_hi - fetch_lo {
                return Err(Error::ColdObject {
                    key: key.to_owned(),
                    reason: format!(
                        "a read of bytes {fetch_lo}..{fetch_hi} returned {} bytes",
                        data.len()
                    ),
                });
            }
            self.misses.fetch_add(end - block, Ordering::Relaxed);
            for b in block..end {
                let start = ((b - block) * BLOCK_BYTES) as usize;
                let stop = (start + BLOCK_BYTES as usize).min(data.len());
                self.insert(key, b, &data[start..stop]);
            }
            let want_lo = (range.start.max(fetch_lo) - fetch_lo) as usize;
            let want_hi = (range.end.min(fetch_hi) - fetch_lo) as usize;
            out.extend_from_slice(&data[want_lo..want_hi]);
            block = end;
        }
        Ok(out.freeze())
    }

    fn contains(&self, key: &str, block: u64) -> bool {
        self.index
            .lock()
            .blocks
            .contains_key(&(key.to_owned(), block))
    }

    /// `len` bytes at `offset` of a cached block; `None` if it is not cached (or its file
    /// went missing, which is then forgotten).
    fn read_cached(&self, key: &str, block: u64, offset: u64, len: u64) -> Result<Option<Bytes>> {
        let file = {
            let mut index = self.index.lock();
            index.clock += 1;
            let clock = index.clock;
            match index.blocks.get_mut(&(key.to_owned(), block)) {
                Some(e) if offset + len <= e.len => {
                    e.last_used = clock;
                    e.file.clone()
                }
                _ => return Ok(None),
            }
        };
        let read = || -> std::io::Result<Vec<u8>> {
            let mut f = std::fs::File::open(&file)?;
            f.seek(SeekFrom::Start(offset))?;
            let mut buf = vec![0u8; len as usize];
            f.read_exact(&mut buf)?;
            Ok(buf)
        };
        match read() {
            Ok(buf) => Ok(Some(Bytes::from(buf))),
            Err(e) => {
                tracing::warn!(file = %file.display(), error = %e, "a cold cache block is unreadable; fetching it again");
                self.forget(key, block);
                Ok(None)
            }
        }
    }

    fn forget(&self, key: &str, block: u64) {
        let mut index = self.index.lock();
        if let Some(e) = index.blocks.remove(&(key.to_owned(), block)) {
            index.bytes -= e.len;
            let _ = std::fs::remove_file(&e.file);
        }
    }

    /// Keeps a fetched block. A block that cannot be written is simply not cached.
    fn insert(&self, key: &str, block: u64, data: &[u8]) {
        let n = self.next_file.fetch_add(1, Ordering::Relaxed);
        let file = self.dir.join(format!("{n:016x}.block"));
        let written = std::fs::File::create(&file).and_then(|mut f| f.write_all(data));
        if let Err(e) = written {
            tracing::warn!(file = %file.display(), error = %e, "could not cache a cold block");
            let _ = std::fs::remove_file(&file);
            return;
        }
        let mut victims = Vec::new();
        {
            let mut index = self.index.lock();
            index.clock += 1;
            let entry = Entry {
                file,
                len: data.len() as u64,
                last_used: index.clock,
            };
            index.bytes += entry.len;
            if let Some(old) = index.blocks.insert((key.to_owned(), block), entry) {
                index.bytes -= old.len;
                victims.push(old.file);
            }
            while index.bytes > self.capacity {
                let Some(oldest) = index
                    .blocks
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                let e = index.blocks.remove(&oldest).expect("just found");
                index.bytes -= e.len;
                victims.push(e.file);
            }
        }
        for f in victims {
            let _ = std::fs::remove_file(f);
        }
    }

    /// Drops every cached block of `key` (a deleted object).
    pub(crate) fn evict_object(&self, key: &str) {
        let mut victims = Vec::new();
        {
            let mut index = self.index.lock();
            let keys: Vec<(String, u64)> = index
                .blocks
                .keys()
                .filter(|(k, _)| k == key)
                .cloned()
                .collect();
            for k in keys {
                let e = index.blocks.remove(&k).expect("listed");
                index.bytes -= e.len;
                victims.push(e.file);
            }
        }
        for f in victims {
            let _ = std::fs::remove_file(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn object(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn reads_match_the_object_and_repeat_reads_hit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ColdCache::open(dir.path(), 16 * BLOCK_BYTES)
            .unwrap()
            .unwrap();
        let obj = object((3 * BLOCK_BYTES + 123) as usize);
        let fetches = Cell::new(0);
        let fetch = |r: Range<u64>| {
            fetches.set(fetches.get() + 1);
            Ok(Bytes::copy_from_slice(
                &obj[r.start as usize..r.end as usize],
            ))
        };
        let len = obj.len() as u64;
        for r in [
            0..10,
            BLOCK_BYTES - 5..BLOCK_BYTES + 5,
            100..len,
            len - 1..len,
        ] {
            let got = cache.read("k", len, r.clone(), fetch).unwrap();
            assert_eq!(&got[..], &obj[r.start as usize..r.end as usize], "{r:?}");
        }
        let before = fetches.get();
        let got = cache.read("k", len, 0..len, fetch).unwrap();
        assert_eq!(&got[..], &obj[..]);
        assert_eq!(fetches.get(), before, "every block was cached");
        assert!(cache.stats().hits >= 4);
    }

    #[test]
    fn the_total_stays_within_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ColdCache::open(dir.path(), 2 * BLOCK_BYTES)
            .unwrap()
            .unwrap();
        let obj = object((5 * BLOCK_BYTES) as usize);
        let fetch = |r: Range<u64>| {
            Ok(Bytes::copy_from_slice(
                &obj[r.start as usize..r.end as usize],
            ))
        };
        let len = obj.len() as u64;
        let got = cache.read("k", len, 0..len, fetch).unwrap();
        assert_eq!(&got[..], &obj[..]);
        assert!(cache.stats().bytes <= 2 * BLOCK_BYTES);
        let files = std::fs::read_dir(dir.path().join(CACHE_DIR))
            .unwrap()
            .count();
        assert_eq!(files, 2);
        cache.evict_object("k");
        assert_eq!(cache.stats().bytes, 0);
        assert_eq!(
            std::fs::read_dir(dir.path().join(CACHE_DIR))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn a_zero_capacity_disables_it_and_start_up_empties_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ColdCache::open(dir.path(), BLOCK_BYTES).unwrap().unwrap();
        let obj = object(100);
        cache
            .read("k", 100, 0..100, |r| {
                Ok(Bytes::copy_from_slice(
                    &obj[r.start as usize..r.end as usize],
                ))
            })
            .unwrap();
        drop(cache);
        assert!(ColdCache::open(dir.path(), 0).unwrap().is_none());
        assert!(!dir.path().join(CACHE_DIR).exists());
    }
}
