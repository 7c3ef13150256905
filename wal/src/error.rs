//! WAL errors.

use std::path::PathBuf;

/// What was wrong with a corrupt stretch of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorruptionKind {
    /// The 16-byte segment header has the wrong magic.
    BadMagic,
    /// The segment header names a version this build does not read.
    UnknownVersion { version: u32 },
    /// The file name is not `<20-digit lsn>.wal`.
    BadFileName,
    /// The CRC over a record header does not match.
    HeaderChecksum { expected: u32, actual: u32 },
    /// The CRC over a record payload does not match.
    PayloadChecksum { expected: u32, actual: u32 },
    /// A record's LSN is not the successor of the one before it.
    SequenceGap { expected: u64, found: u64 },
    /// A sealed (not last) segment ends in the middle of a record.
    TruncatedSealedSegment,
    /// A record claims a payload longer than any record this log writes.
    OversizedRecord { len: u64 },
}

impl std::fmt::Display for CorruptionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CorruptionKind::BadMagic => write!(f, "bad segment magic"),
            CorruptionKind::UnknownVersion { version } => {
                write!(f, "unknown segment version {version}")
            }
            CorruptionKind::BadFileName => write!(f, "segment file name is not <lsn>.wal"),
            CorruptionKind::HeaderChecksum { expected, actual } => write!(
                f,
                "record header checksum mismatch (stored {expected:#010x}, computed {actual:#010x})"
            ),
            CorruptionKind::PayloadChecksum { expected, actual } => write!(
                f,
                "record payload checksum mismatch (stored {expected:#010x}, computed {actual:#010x})"
            ),
            CorruptionKind::SequenceGap { expected, found } => {
                write!(f, "sequence gap: expected lsn {expected}, found {found}")
            }
            CorruptionKind::TruncatedSealedSegment => {
                write!(f, "sealed segment ends inside a record")
            }
            CorruptionKind::OversizedRecord { len } => {
                write!(f, "record length {len} exceeds the maximum")
            }
        }
    }
}

/// Errors of the WAL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wal io error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("wal corruption in {file} at offset {offset}: {kind}")]
    Corruption {
        file: PathBuf,
        offset: u64,
        kind: CorruptionKind,
    },
    #[error("record payload of {len} bytes exceeds the limit of {max}")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("the wal is poisoned by an earlier io failure and accepts no more writes")]
    Poisoned,
    #[error("the wal writer has shut down")]
    Closed,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
