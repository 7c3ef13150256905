//! The Strata write-ahead log.
//!
//! A WAL is a directory of segment files, `<first-lsn>.wal`, each starting with a 16-byte
//! header and holding a sequence of CRC-framed records (layout in [`record`] and in
//! `storage/FORMAT.md`). Every record carries a log sequence number ([`Lsn`]); numbers are
//! dense and strictly increasing across segments.
//!
//! Invariants:
//! - One writer thread owns the active segment. Concurrent [`Wal::append`] calls are batched
//!   into one `write` and (under [`FsyncPolicy::Always`]) one `fdatasync`: group commit. An
//!   append returns only once its record is as durable as the policy promises.
//! - After an IO error the log is *poisoned*: every later append fails. A failed fsync is
//!   never retried, because the kernel may already have dropped the dirty pages.
//! - Recovery ([`WalReader`]) truncates a torn tail of the **last** segment (an incomplete
//!   record, zero bytes to the end of file, or a final record that fails its checksums
//!   with no valid record after it), logging it, and reports every other defect as
//!   [`Error::Corruption`] with file and offset. Nothing is skipped silently.
//! - [`Wal::checkpoint`] deletes whole segments whose records all have LSN `<=` the given
//!   checkpoint; the active segment is rolled first if it is entirely covered.

mod config;
mod error;
mod reader;
mod record;
mod segment;
mod writer;

pub use config::{FsyncPolicy, WalConfig};
pub use error::{CorruptionKind, Error, Result};
pub use reader::{Recovered, WalReader};
pub use record::{Lsn, Record, RECORD_HEADER_LEN};
pub use segment::{SEGMENT_HEADER_LEN, SEGMENT_MAGIC, SEGMENT_VERSION};
pub use writer::{AppendFuture, Wal};
