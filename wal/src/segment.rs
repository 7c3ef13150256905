//! Segment files: naming and the 16-byte header.
//!
//! ```text
//! offset size field
//!      0    8 magic    b"STRAWAL\0"
//!      8    4 version  u32 LE, currently 1
//!     12    4 reserved zero
//!     16      records (see `record`)
//! ```
//!
//! A segment is named after the LSN of its first record, zero-padded to 20 digits:
//! `00000000000000000001.wal`. Lexical order of names is LSN order.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{CorruptionKind, Error, Result};

/// Magic bytes that open every WAL segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"STRAWAL\0";
/// The segment format version this build writes and reads.
pub const SEGMENT_VERSION: u32 = 1;
/// Size of the segment header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 16;

pub(crate) fn header_bytes() -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h
}

pub(crate) fn check_header(path: &Path, h: &[u8]) -> Result<()> {
    let corrupt = |kind| Error::Corruption {
        file: path.to_path_buf(),
        offset: 0,
        kind,
    };
    if h.len() < SEGMENT_HEADER_LEN || &h[..8] != SEGMENT_MAGIC {
        return Err(corrupt(CorruptionKind::BadMagic));
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if version != SEGMENT_VERSION {
        return Err(corrupt(CorruptionKind::UnknownVersion { version }));
    }
    Ok(())
}

pub(crate) fn file_name(first_lsn: u64) -> String {
    format!("{first_lsn:020}.wal")
}

/// A segment file found in the directory.
#[derive(Debug, Clone)]
pub(crate) struct SegmentFile {
    pub(crate) first_lsn: u64,
    pub(crate) path: PathBuf,
}

/// Lists the segments of `dir` in LSN order. Files that are not `*.wal` are ignored;
/// a `*.wal` file with a malformed name is corruption.
pub(crate) fn list(dir: &Path) -> Result<Vec<SegmentFile>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        match stem.parse::<u64>() {
            Ok(first_lsn) if stem.len() == 20 => out.push(SegmentFile { first_lsn, path }),
            _ => {
                return Err(Error::Corruption {
                    file: path,
                    offset: 0,
                    kind: CorruptionKind::BadFileName,
                })
            }
        }
    }
    out.sort_by_key(|s| s.first_lsn);
    Ok(out)
}

/// fsyncs a directory so that creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}
