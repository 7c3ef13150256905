//! Which row groups of a cold object may hold a tag value, without reading the column.
//!
//! Every cold object carries, per row group and tag column, a Parquet split-block bloom
//! filter sized for the column's distinct values at a 1% false-positive rate, written
//! after the last row group (`BloomFilterPosition::End`), so the filters of all row groups
//! sit next to each other before the footer and one ranged read fetches them all. Row-group
//! min/max statistics rule out values outside a chunk's range; the filter rules out the
//! values inside it that the chunk does not hold, which is what a high-cardinality subject
//! column (`user_id`) needs: its values interleave across objects, so ranges overlap
//! everywhere.
//!
//! A filter answers "maybe" or "no", never a wrong "no": a value it rules out is in no row
//! of that chunk. An object without filters (written before they existed, or by another
//! tool) is "maybe" everywhere.

use std::ops::Range;

use bytes::Bytes;
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::statistics::Statistics;

use super::parquet::{ColdFile, ColdMeta};
use crate::error::Result;

/// The bloom filters of one cold object: `[row group][Parquet column]`, `None` where a
/// chunk has none.
#[derive(Debug, Default)]
pub(crate) struct ColdBlooms {
    groups: Vec<Vec<Option<Sbbf>>>,
}

impl ColdBlooms {
    /// Reads every bloom filter of the object in one ranged read.
    pub(crate) fn load(file: &ColdFile, meta: &ColdMeta) -> Result<ColdBlooms> {
        let md = meta.metadata();
        let mut span: Option<Range<u64>> = None;
        for rg in md.row_groups() {
            for c in rg.columns() {
                if let (Some(off), Some(len)) = (c.bloom_filter_offset(), c.bloom_filter_length()) {
                    let (start, end) = (off as u64, off as u64 + len as u64);
                    span = Some(match span {
                        None => start..end,
                        Some(s) => s.start.min(start)..s.end.max(end),
                    });
                }
            }
        }
        let Some(span) = span else {
            return Ok(ColdBlooms::default());
        };
        let window = Window {
            start: span.start,
            bytes: file
                .get_bytes(span.start, (span.end - span.start) as usize)
                .map_err(|e| file.error(e))?,
        };
        let mut groups = Vec::with_capacity(md.num_row_groups());
        for rg in md.row_groups() {
            let mut cols = Vec::with_capacity(rg.num_columns());
            for c in rg.columns() {
                cols.push(match c.bloom_filter_length() {
                    Some(_) => Sbbf::read_from_column_chunk(c, &window)?,
                    None => None,
                });
            }
            groups.push(cols);
        }
        Ok(ColdBlooms { groups })
    }

    /// Whether row group `group` may hold `value` in Parquet column `column` (a string
    /// column): its statistics and its bloom filter, where it has them, do not rule it out.
    pub(crate) fn group_may_hold(
        &self,
        rg: &RowGroupMetaData,
        group: usize,
        column: usize,
        value: &str,
    ) -> bool {
        if let Some(Statistics::ByteArray(s)) = rg.column(column).statistics() {
            if let (Some(lo), Some(hi)) = (s.min_opt(), s.max_opt()) {
                if value.as_bytes() < lo.data() || value.as_bytes() > hi.data() {
                    return false;
                }
            }
        }
        match self.groups.get(group).and_then(|g| g.get(column)) {
            Some(Some(filter)) => filter.check(value),
            _ => true,
        }
    }

    /// Whether any row group of the object may hold `value` in Parquet column `column`.
    pub(crate) fn may_hold(&self, meta: &ColdMeta, column: usize, value: &str) -> bool {
        meta.metadata()
            .row_groups()
            .iter()
            .enumerate()
            .any(|(g, rg)| self.group_may_hold(rg, g, column, value))
    }
}

/// A byte range of a file, read once, as the Parquet reader's input at the file's own
/// offsets.
struct Window {
    start: u64,
    bytes: Bytes,
}

impl Length for Window {
    fn len(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

impl ChunkReader for Window {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        use bytes::Buf;
        Ok(self
            .get_bytes(start, self.len().saturating_sub(start) as usize)?
            .reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let from = start
            .checked_sub(self.start)
            .map(|f| f as usize)
            .filter(|f| f + length <= self.bytes.len())
            .ok_or_else(|| {
                parquet::errors::ParquetError::General(format!(
                    "bloom filter bytes {start}..{} lie outside the range read",
                    start + length as u64
                ))
            })?;
        Ok(self.bytes.slice(from..from + length))
    }
}
