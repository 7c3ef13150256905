//! Immutable columnar segment files (format version 1, byte layout in `storage/FORMAT.md`).
//!
//! A segment holds the rows of one table partition sorted by (series key, time), with no two
//! rows of the same series and time unless the table is append-only. Rows are cut into
//! blocks of [`BLOCK_ROWS`]; each block stores one chunk per column with its own CRC32 and
//! statistics. Per tag column the footer holds the sorted dictionary of values present and a
//! croaring bitmap of the rows holding each value.
//!
//! Every byte of a segment is covered by a check: the header by magic, version and the zero
//! reserved word; chunks, bitmaps and the footer by CRC32; the trailer by its magic and by
//! `footer_offset + footer_len + 24 == file length`. A corrupt segment is reported as
//! [`crate::Error::Corruption`] with its path, never decoded into rows.

mod footer;
mod read;
mod write;

pub(crate) use footer::SegmentMeta;
pub(crate) use read::Segment;
pub(crate) use write::{write_segment, SegmentWriter};

/// Magic bytes at offset 0.
pub(crate) const MAGIC: &[u8; 8] = b"STRATSEG";
/// Magic bytes ending the file.
pub(crate) const END_MAGIC: &[u8; 8] = b"STRATEND";
/// The format version this build writes and reads.
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 16;
pub(crate) const TRAILER_LEN: usize = 24;
/// Rows per block.
pub(crate) const BLOCK_ROWS: usize = 8192;

/// Chunk compression byte.
pub(crate) const CHUNK_RAW: u8 = 0;
pub(crate) const CHUNK_ZSTD: u8 = 1;

#[cfg(test)]
mod tests;
