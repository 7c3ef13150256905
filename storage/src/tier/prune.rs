//! Which parts of a cold object a scan reads: row groups, then pages.
//!
//! A row group is skipped when its column statistics rule out the scan's time range, or
//! when its statistics or bloom filters ([`super::bloom`]) rule out every accepted value of
//! one of its tag filters. Inside a row group that stays, the page
//! index does the same per data page: the column index gives each page's min and max, the
//! offset index the first row of each page, so the pages that may match become row ranges;
//! the ranges of the time column and of every filtered tag column are intersected (their
//! pages end at different rows) and handed to the Parquet reader as a [`RowSelection`],
//! which then fetches and decodes only pages holding selected rows. Without a page index
//! (an object written by another tool, say) a row group is read whole.
//!
//! Pruning only ever keeps too much: the scan still applies its predicate to every row it
//! decodes.

// Lists of row ranges often start as the one range of a whole row group.
#![allow(clippy::single_range_in_vec_init)]

use std::ops::Range;

use parquet::arrow::arrow_reader::RowSelection;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::page_index::offset_index::OffsetIndexMetaData;
use parquet::file::statistics::Statistics;

use super::bloom::ColdBlooms;
use super::parquet::{column_mapping, ColdMeta};
use crate::scan::Resolved;
use crate::schema::TableSchema;

/// What a scan reads of one cold object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColdSelection {
    /// Row groups to read, ascending.
    pub(crate) groups: Vec<usize>,
    /// Rows of those row groups, numbered across them in order, that the page index does
    /// not rule out.
    pub(crate) ranges: Vec<Range<usize>>,
    /// Rows in `groups`.
    pub(crate) group_rows: usize,
    /// Whether the statistics put every row of `groups` inside the scan's time range:
    /// then no row needs its time tested.
    pub(crate) time_covered: bool,
}

impl ColdSelection {
    /// Rows the page index kept.
    pub(crate) fn rows(&self) -> usize {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// The selection for the Parquet reader, or `None` when every row of the groups is read.
    pub(crate) fn row_selection(&self) -> Option<RowSelection> {
        if self.rows() == self.group_rows {
            return None;
        }
        Some(RowSelection::from_consecutive_ranges(
            self.ranges.iter().cloned(),
            self.group_rows,
        ))
    }
}

/// The row groups and rows of a cold object a scan with `r` must read (everything with
/// pruning off). `blooms`, where given, rule out row groups by tag value too.
pub(crate) fn select(
    meta: &ColdMeta,
    table: &TableSchema,
    r: &Resolved,
    blooms: Option<&ColdBlooms>,
) -> ColdSelection {
    let md = meta.metadata();
    let mapping = column_mapping(meta, table);
    let mut selection = ColdSelection {
        groups: Vec::new(),
        ranges: Vec::new(),
        group_rows: 0,
        time_covered: true,
    };
    for (g, rg) in md.row_groups().iter().enumerate() {
        let rows = rg.num_rows() as usize;
        let mut keep = vec![0..rows];
        if r.pruning {
            if group_ruled_out(rg, g, &mapping, r, blooms) {
                continue;
            }
            if let (Some(ci), Some(oi)) = (md.column_index(), md.offset_index()) {
                keep = page_ranges(&ci[g], &oi[g], rows, &mapping, r);
                if keep.is_empty() {
                    continue;
                }
            }
        }
        let base = selection.group_rows;
        selection.time_covered &= mapping[0]
            .and_then(|c| i64_range(rg, c))
            .is_some_and(|(lo, hi)| r.time.covers(lo, hi));
        selection.groups.push(g);
        selection
            .ranges
            .extend(keep.into_iter().map(|k| base + k.start..base + k.end));
        selection.group_rows += rows;
    }
    selection
}

fn group_ruled_out(
    rg: &RowGroupMetaData,
    g: usize,
    mapping: &[Option<usize>],
    r: &Resolved,
    blooms: Option<&ColdBlooms>,
) -> bool {
    if let Some((lo, hi)) = mapping[0].and_then(|c| i64_range(rg, c)) {
        if !r.time.overlaps(lo, hi) {
            return true;
        }
    }
    r.tags.iter().any(|(col, values)| match mapping[*col] {
        // The column does not exist in this file: every row is NULL, no value matches.
        None => true,
        Some(c) if blooms.is_some() => {
            let b = blooms.expect("checked");
            !values.iter().any(|v| b.group_may_hold(rg, g, c, v))
        }
        Some(c) => str_range(rg, c).is_some_and(|(lo, hi)| {
            !values
                .iter()
                .any(|v| v.as_bytes() >= lo.as_slice() && v.as_bytes() <= hi.as_slice())
        }),
    })
}

/// The rows of one row group that its page index does not rule out, ascending.
fn page_ranges(
    columns: &[ColumnIndexMetaData],
    offsets: &[OffsetIndexMetaData],
    rows: usize,
    mapping: &[Option<usize>],
    r: &Resolved,
) -> Vec<Range<usize>> {
    let mut keep = vec![0..rows];
    if let Some(c) = mapping[0] {
        if let ColumnIndexMetaData::INT64(index) = &columns[c] {
            let pages = matching_pages(&offsets[c], rows, |p| {
                match (index.min_value(p), index.max_value(p)) {
                    (Some(&lo), Some(&hi)) => r.time.overlaps(lo, hi),
                    _ => !index.is_null_page(p),
                }
            });
            keep = intersect(&keep, &pages);
        }
    }
    for (col, values) in &r.tags {
        let Some(c) = mapping[*col] else {
            return Vec::new();
        };
        if let ColumnIndexMetaData::BYTE_ARRAY(index) = &columns[c] {
            let pages = matching_pages(&offsets[c], rows, |p| {
                match (index.min_value(p), index.max_value(p)) {
                    (Some(lo), Some(hi)) => values
                        .iter()
                        .any(|v| v.as_bytes() >= lo && v.as_bytes() <= hi),
                    // A page of NULLs matches no value; one without statistics may.
                    _ => !index.is_null_page(p),
                }
            });
            keep = intersect(&keep, &pages);
        }
    }
    keep
}

/// The row ranges of the pages of one column chunk for which `matches(page)` holds,
/// adjacent pages coalesced.
fn matching_pages(
    offsets: &OffsetIndexMetaData,
    rows: usize,
    matches: impl Fn(usize) -> bool,
) -> Vec<Range<usize>> {
    let pages = offsets.page_locations();
    let mut out: Vec<Range<usize>> = Vec::new();
    for (p, page) in pages.iter().enumerate() {
        if !matches(p) {
            continue;
        }
        let start = page.first_row_index as usize;
        let end = pages
            .get(p + 1)
            .map_or(rows, |next| next.first_row_index as usize);
        match out.last_mut() {
            Some(last) if last.end == start => last.end = end,
            _ => out.push(start..end),
        }
    }
    out
}

/// The intersection of two ascending lists of disjoint ranges.
fn intersect(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(start..end);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn i64_range(rg: &RowGroupMetaData, col: usize) -> Option<(i64, i64)> {
    match rg.column(col).statistics()? {
        Statistics::Int64(s) => Some((*s.min_opt()?, *s.max_opt()?)),
        _ => None,
    }
}

fn str_range(rg: &RowGroupMetaData, col: usize) -> Option<(Vec<u8>, Vec<u8>)> {
    match rg.column(col).statistics()? {
        Statistics::ByteArray(s) => {
            Some((s.min_opt()?.data().to_vec(), s.max_opt()?.data().to_vec()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::intersect;

    #[test]
    fn intersecting_row_ranges() {
        assert_eq!(intersect(&[0..10], &[2..4, 6..12]), vec![2..4, 6..10]);
        assert_eq!(intersect(&[0..5, 8..9], &[4..8]), vec![4..5]);
        assert_eq!(
            intersect(&[0..5], &[5..9]),
            Vec::<std::ops::Range<usize>>::new()
        );
        assert_eq!(
            intersect(&[], &[0..1]),
            Vec::<std::ops::Range<usize>>::new()
        );
    }
}
