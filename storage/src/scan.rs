//! Scans: predicates, pruning, and merging the sources of a partition.
//!
//! A partition's rows live in several *sources*: segments (oldest first), then frozen and
//! active memtables. Each source is internally sorted and deduplicated. Sources whose time
//! ranges are pairwise disjoint cannot hold the same point and are streamed as they are;
//! otherwise the partition's matching rows are merged and, unless the table is append-only,
//! only the newest version of each (series, time) is kept.
//!
//! Filtering before deduplication is sound because predicates only constrain tags and time,
//! which are the deduplication key: all versions of a point match or none does. The same
//! holds for the tombstones of pending erasures (`crate::predicate`), which every source
//! applies to the rows it holds before anything else sees them, and for a table's retention,
//! which narrows the time range. For the same
//! reason pruning (partitions, segments and blocks by time; segments and rows by tag bitmaps)
//! never changes results, only the work done; `ScanRequest::pruning = false` turns it off so
//! tests can prove that.
//!
//! Every source, whatever its tier, is read through one trait, [`ScanSource`]: its time
//! span (which decides whether a partition's sources must be merged) and its matching rows.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array,
};
use arrow::compute::{and, concat, filter, take};
use arrow::datatypes::{SchemaRef, TimestampNanosecondType};
use arrow::row::{RowConverter, SortField};
use croaring::Bitmap;

use crate::catalog::{SegmentRef, TableState};
use crate::error::{Error, Result};
use crate::predicate::{keep_mask, Coverage, FileFacts, Tombstone};
use crate::schema::NULL_TIME;
use crate::tier::store::ColdStore;

/// A half-open time range `[start, end)` in nanoseconds. Rows with a NULL time (stored as
/// [`NULL_TIME`], `i64::MIN`) are inside only a range that starts at `i64::MIN`: a range
/// from a comparison with the time column starts at `NULL_TIME + 1` at the lowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: i64,
    pub end: i64,
}

impl TimeRange {
    /// Everything, rows with a NULL time included.
    pub const ALL: TimeRange = TimeRange {
        start: i64::MIN,
        end: i64::MAX,
    };

    pub(crate) fn overlaps(&self, min: i64, max: i64) -> bool {
        min < self.end && max >= self.start
    }

    pub(crate) fn covers(&self, min: i64, max: i64) -> bool {
        min >= self.start && max < self.end
    }
}

/// `column IN (values)` on a tag column (equality is a single value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    pub column: String,
    pub values: Vec<String>,
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub table: String,
    /// Column names to return, in this order; `None` for all columns.
    pub projection: Option<Vec<String>>,
    pub time_range: TimeRange,
    /// All must hold (AND); each is an IN list.
    pub tag_filters: Vec<TagFilter>,
    /// Use statistics and bitmaps to skip data. Results are identical either way.
    pub pruning: bool,
    /// How many partitions may be read at once, each on its own thread (at least 1).
    /// Batches are yielded in the same order whatever the number; more readers use more
    /// cores and hold more partitions in memory.
    pub readers: usize,
}

impl ScanRequest {
    /// All rows and columns of `table`.
    pub fn new(table: impl Into<String>) -> Self {
        ScanRequest {
            table: table.into(),
            projection: None,
            time_range: TimeRange::ALL,
            tag_filters: Vec::new(),
            pruning: true,
            readers: 1,
        }
    }

    pub fn with_projection(mut self, columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.projection = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    pub fn with_time_range(mut self, start: i64, end: i64) -> Self {
        self.time_range = TimeRange { start, end };
        self
    }

    pub fn with_tag_in(
        mut self,
        column: impl Into<String>,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.tag_filters.push(TagFilter {
            column: column.into(),
            values: values.into_iter().map(Into::into).collect(),
        });
        self
    }

    pub fn with_pruning(mut self, pruning: bool) -> Self {
        self.pruning = pruning;
        self
    }

    /// Reads up to `readers` partitions at once (see [`ScanRequest::readers`]).
    pub fn with_readers(mut self, readers: usize) -> Self {
        self.readers = readers.max(1);
        self
    }
}

/// What every source of a partition is read with.
pub(crate) struct SourceContext<'a> {
    pub(crate) table: &'a TableState,
    pub(crate) store: &'a Arc<ColdStore>,
}

/// One source of a partition's rows, in whichever tier: a cold object, a segment or a
/// memtable snapshot. Its rows are sorted by series and time and hold one version of each
/// point.
pub(crate) trait ScanSource {
    /// The smallest and largest time of its rows (inclusive). Sources whose spans overlap
    /// may hold versions of the same point and must be merged.
    fn span(&self) -> (i64, i64);

    /// Its rows that match `r`, with the columns `r` needs; with `merge`, also every tag
    /// (the series key the merge compares).
    fn read(&self, ctx: &SourceContext<'_>, r: &Resolved, merge: bool) -> Result<Vec<Cols>>;
}

impl ScanSource for SegmentRef {
    fn span(&self) -> (i64, i64) {
        (self.entry.min_ts, self.entry.max_ts)
    }

    fn read(&self, ctx: &SourceContext<'_>, r: &Resolved, merge: bool) -> Result<Vec<Cols>> {
        read_segment(self, ctx.table, r, merge)
    }
}

/// Predicates resolved against a table schema.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) time: TimeRange,
    /// (table column index, accepted values)
    pub(crate) tags: Vec<(usize, HashSet<String>)>,
    pub(crate) projection: Vec<usize>,
    /// Number of tag columns (table columns `1..=tag_count`).
    tag_count: usize,
    /// Number of table columns.
    width: usize,
    pub(crate) pruning: bool,
    pub(crate) output: SchemaRef,
    /// Pending erasures on the table: each source removes the rows they cover.
    pub(crate) tombstones: Vec<Tombstone>,
}

impl Resolved {
    /// `req` against `table`, with the table's pending `tombstones`; `now_ns` decides which
    /// rows its retention hides (`None`: none, for reads that must see every stored row).
    pub(crate) fn new(
        req: &ScanRequest,
        table: &TableState,
        tombstones: Vec<Tombstone>,
        now_ns: Option<i64>,
    ) -> Result<Self> {
        let schema = &table.schema;
        let names: Vec<&str> = schema.column_names().collect();
        let index = |c: &str| {
            names
                .iter()
                .position(|n| *n == c)
                .ok_or_else(|| Error::ColumnNotFound {
                    table: schema.name.clone(),
                    column: c.to_owned(),
                })
        };
        let projection = match &req.projection {
            None => (0..names.len()).collect(),
            Some(cols) => cols.iter().map(|c| index(c)).collect::<Result<Vec<_>>>()?,
        };
        let mut tags = Vec::new();
        for f in &req.tag_filters {
            let i = index(&f.column)?;
            if !(1..=schema.tags.len()).contains(&i) {
                return Err(Error::InvalidSchema {
                    table: schema.name.clone(),
                    reason: format!("{:?} is not a tag column", f.column),
                });
            }
            tags.push((i, f.values.iter().cloned().collect()));
        }
        let output = Arc::new(table.schema.arrow_schema().project(&projection)?);
        let mut time = req.time_range;
        if let Some(cutoff) = now_ns.and_then(|now| schema.retention_cutoff(now)) {
            time.start = time.start.max(cutoff);
            time.end = time.end.max(time.start);
        }
        Ok(Resolved {
            time,
            tags,
            projection,
            tag_count: schema.tags.len(),
            width: names.len(),
            pruning: req.pruning,
            output,
            tombstones,
        })
    }
}

impl Resolved {
    /// The table columns a source must decode: the time column and the projection always;
    /// the filtered tags when the predicate is evaluated on values (memtables, or segments
    /// with pruning off, where bitmaps are not used); every tag when the source's rows must
    /// be merged with another source's (the series key decides which duplicate wins).
    /// The same predicates without the time range, for rows known to lie inside it.
    pub(crate) fn without_time(&self) -> Resolved {
        Resolved {
            time: TimeRange::ALL,
            ..self.clone()
        }
    }

    pub(crate) fn columns(&self, source: Source, merge: bool) -> Vec<bool> {
        let mut needed = vec![false; self.width];
        needed[0] = true;
        for &p in &self.projection {
            needed[p] = true;
        }
        if source == Source::Memtable || !self.pruning {
            for (i, _) in &self.tags {
                needed[*i] = true;
            }
        }
        if merge {
            for n in needed.iter_mut().take(self.tag_count + 1).skip(1) {
                *n = true;
            }
        }
        let mut cols = Vec::new();
        for t in &self.tombstones {
            t.pred.columns(&mut cols);
        }
        for c in cols {
            needed[c] = true;
        }
        needed
    }

    /// The tombstones that concern a file written up to `max_lsn` and purged through
    /// `purged`, less those its metadata rules out; `None` if one covers every row (the
    /// file contributes nothing).
    pub(crate) fn tombstones_for(
        &self,
        max_lsn: u64,
        purged: u64,
        facts: &dyn FileFacts,
    ) -> Option<Vec<&Tombstone>> {
        let mut out = Vec::new();
        for t in self
            .tombstones
            .iter()
            .filter(|t| t.applies_to(max_lsn, purged))
        {
            match t.pred.prune(facts) {
                Coverage::None => {}
                Coverage::Some => out.push(t),
                Coverage::All => return None,
            }
        }
        Some(out)
    }
}

/// Where rows come from, which decides how predicates are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Segment,
    Memtable,
}

/// Decoded columns of some rows, indexed by table column; `None` where not decoded.
#[derive(Debug, Clone)]
pub(crate) struct Cols {
    pub(crate) rows: usize,
    pub(crate) cols: Vec<Option<ArrayRef>>,
}

impl Cols {
    pub(crate) fn from_batch(batch: &RecordBatch, needed: &[bool]) -> Self {
        Cols {
            rows: batch.num_rows(),
            cols: batch
                .columns()
                .iter()
                .zip(needed)
                .map(|(c, &n)| n.then(|| Arc::clone(c)))
                .collect(),
        }
    }

    fn filter(&self, mask: &BooleanArray) -> Result<Cols> {
        let cols = self
            .cols
            .iter()
            .map(|c| c.as_ref().map(|c| filter(c.as_ref(), mask)).transpose())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let rows = mask.true_count();
        Ok(Cols { rows, cols })
    }

    fn time_bounds(&self) -> Option<(i64, i64)> {
        let ts = self
            .cols
            .first()?
            .as_ref()?
            .as_primitive::<TimestampNanosecondType>();
        let v = ts.values();
        Some((*v.iter().min()?, *v.iter().max()?))
    }

    /// The projected output batch; missing columns become NULL.
    pub(crate) fn project(&self, r: &Resolved) -> Result<RecordBatch> {
        let columns = r
            .projection
            .iter()
            .zip(r.output.fields())
            .map(|(&i, f)| match &self.cols[i] {
                Some(c) => Arc::clone(c),
                None => new_null_array(f.data_type(), self.rows),
            })
            .collect();
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&r.output),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(self.rows)),
        )?)
    }
}

/// Rows of a time column inside `range`.
fn time_mask(ts: &ArrayRef, range: TimeRange) -> BooleanArray {
    let ts = ts.as_primitive::<TimestampNanosecondType>();
    ts.values()
        .iter()
        .map(|&t| Some(t >= range.start && t < range.end))
        .collect()
}

/// Evaluates the time range and tag filters on decoded values.
pub(crate) fn predicate_mask(cols: &Cols, r: &Resolved) -> Result<Option<BooleanArray>> {
    let mut mask: Option<BooleanArray> = None;
    if r.time != TimeRange::ALL {
        if let Some(Some(ts)) = cols.cols.first() {
            mask = Some(time_mask(ts, r.time));
        }
    }
    for (i, values) in &r.tags {
        let Some(Some(col)) = cols.cols.get(*i) else {
            continue;
        };
        let s = col.as_string::<i32>();
        let m: BooleanArray = s
            .iter()
            .map(|v| Some(v.is_some_and(|v| values.contains(v))))
            .collect();
        mask = Some(match mask {
            None => m,
            Some(prev) => and(&prev, &m)?,
        });
    }
    Ok(mask)
}

pub(crate) fn apply_mask(cols: Cols, mask: Option<BooleanArray>) -> Result<Cols> {
    match mask {
        Some(m) if m.true_count() < cols.rows => cols.filter(&m),
        _ => Ok(cols),
    }
}

/// Reads the rows of a segment that match `r`.
fn read_segment(
    seg: &SegmentRef,
    table: &TableState,
    r: &Resolved,
    merge: bool,
) -> Result<Vec<Cols>> {
    let needed = r.columns(Source::Segment, merge);
    let meta = seg.segment.meta();
    if r.pruning && !r.time.overlaps(meta.min_ts, meta.max_ts) {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = table.schema.column_names().collect();
    // Table column -> segment column.
    let mapping: Vec<Option<usize>> = names.iter().map(|n| meta.column_index(n)).collect();
    let facts = SegmentFacts {
        seg,
        mapping: &mapping,
    };
    let Some(tombstones) = r.tombstones_for(seg.entry.max_lsn, seg.entry.purged, &facts) else {
        return Ok(Vec::new());
    };
    let arrow_schema = table.schema.arrow_schema();
    // Rows selected by the tag bitmaps.
    let mut selection: Option<Bitmap> = None;
    if r.pruning {
        for (col, values) in &r.tags {
            let mut rows = Bitmap::new();
            if let Some(dict) = mapping[*col].and_then(|c| meta.tag_dict(c)) {
                for v in values {
                    if let Ok(i) = dict.values.binary_search(v) {
                        rows.or_inplace(&dict.bitmaps[i]);
                    }
                }
            }
            selection = Some(match selection {
                None => rows,
                Some(mut s) => {
                    s.and_inplace(&rows);
                    s
                }
            });
        }
        if selection.as_ref().is_some_and(Bitmap::is_empty) {
            return Ok(Vec::new());
        }
    }
    let mut out = Vec::new();
    for (b, block) in meta.blocks.iter().enumerate() {
        let range = block.row_start..block.row_start + block.rows;
        let mut selected_all = true;
        if r.pruning {
            if !r.time.overlaps(block.min_ts, block.max_ts) {
                continue;
            }
            if let Some(sel) = &selection {
                let hits = sel.range_cardinality(range.clone());
                if hits == 0 {
                    continue;
                }
                selected_all = hits == u64::from(block.rows);
            }
        }
        let mut cols = Vec::with_capacity(names.len());
        for (i, &need) in needed.iter().enumerate() {
            cols.push(match (need, mapping[i]) {
                (true, Some(c)) => Some(seg.segment.read_column(b, c)?),
                // A column added after this segment was written: NULL in all its rows, so
                // merges and projections see the same columns from every source.
                (true, None) => Some(new_null_array(
                    arrow_schema.field(i).data_type(),
                    block.rows as usize,
                )),
                (false, _) => None,
            });
        }
        let cols = Cols {
            rows: block.rows as usize,
            cols,
        };
        let mask = if r.pruning {
            let time_mask = match &cols.cols[0] {
                Some(ts) if !r.time.covers(block.min_ts, block.max_ts) => {
                    Some(time_mask(ts, r.time))
                }
                _ => None,
            };
            let tag_mask = match (&selection, selected_all) {
                (Some(sel), false) => Some(
                    range
                        .clone()
                        .map(|row| Some(sel.contains(row)))
                        .collect::<BooleanArray>(),
                ),
                _ => None,
            };
            match (time_mask, tag_mask) {
                (Some(a), Some(b)) => Some(and(&a, &b)?),
                (a, b) => a.or(b),
            }
        } else {
            predicate_mask(&cols, r)?
        };
        let mask = and_masks(mask, keep_mask(&cols, &tombstones, None)?)?;
        let cols = apply_mask(cols, mask)?;
        if cols.rows > 0 {
            out.push(cols);
        }
    }
    Ok(out)
}

/// Both masks (either may be absent: all rows).
pub(crate) fn and_masks(
    a: Option<BooleanArray>,
    b: Option<BooleanArray>,
) -> Result<Option<BooleanArray>> {
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(and(&a, &b)?),
        (a, b) => a.or(b),
    })
}

/// A segment's metadata as delete predicates see it.
pub(crate) struct SegmentFacts<'a> {
    pub(crate) seg: &'a SegmentRef,
    /// Table column -> segment column.
    pub(crate) mapping: &'a [Option<usize>],
}

impl FileFacts for SegmentFacts<'_> {
    fn span(&self) -> (i64, i64) {
        (self.seg.entry.min_ts, self.seg.entry.max_ts)
    }

    fn tag_values(&self, column: usize) -> Option<(Vec<&str>, bool)> {
        let meta = self.seg.segment.meta();
        match self.mapping.get(column)? {
            // Added after the segment was written: NULL in every row.
            None => Some((Vec::new(), true)),
            Some(c) => {
                let dict = meta.tag_dict(*c)?;
                let held: u64 = dict.bitmaps.iter().map(Bitmap::cardinality).sum();
                Some((
                    dict.values.iter().map(String::as_str).collect(),
                    held < meta.rows,
                ))
            }
        }
    }
}

/// Filters a memtable snapshot; `lsn` holds each row's LSN (for the tombstones).
pub(crate) fn read_memtable(
    batch: &RecordBatch,
    lsn: &[u64],
    r: &Resolved,
    merge: bool,
) -> Result<Option<Cols>> {
    let cols = Cols::from_batch(batch, &r.columns(Source::Memtable, merge));
    let tombstones: Vec<&Tombstone> = r.tombstones.iter().collect();
    let mask = and_masks(
        predicate_mask(&cols, r)?,
        keep_mask(&cols, &tombstones, Some(lsn))?,
    )?;
    let cols = apply_mask(cols, mask)?;
    Ok((cols.rows > 0).then_some(cols))
}

/// Merges the matching rows of a partition's sources (oldest first), keeping the newest
/// version of each (series, time) unless `append_only`.
pub(crate) fn merge_sources(
    sources: Vec<Vec<Cols>>,
    tag_count: usize,
    append_only: bool,
) -> Result<VecDeque<Cols>> {
    let non_empty: Vec<(usize, Vec<Cols>)> = sources
        .into_iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .collect();
    // Time bounds per source; disjoint sources need no merge.
    let mut bounds: Vec<(i64, i64)> = non_empty
        .iter()
        .filter_map(|(_, parts)| {
            parts
                .iter()
                .filter_map(Cols::time_bounds)
                .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
        })
        .collect();
    bounds.sort_unstable();
    let disjoint = bounds.windows(2).all(|w| w[0].1 < w[1].0);
    if append_only || non_empty.len() <= 1 || disjoint {
        return Ok(non_empty.into_iter().flat_map(|(_, parts)| parts).collect());
    }
    // Two versions of a point have the same time, which lies in both sources' spans, so
    // only rows inside some pairwise overlap of spans can have a duplicate. Rows outside
    // the window covering every overlap pass through; only the window is merged (after a
    // bulk load that straddles a flush, that is a few rows, not the partition).
    let mut window: Option<TimeRange> = None;
    for (i, a) in bounds.iter().enumerate() {
        for b in &bounds[i + 1..] {
            let (start, end) = (a.0.max(b.0), a.1.min(b.1));
            if start <= end {
                let w = window.get_or_insert(TimeRange {
                    start,
                    end: end.saturating_add(1),
                });
                w.start = w.start.min(start);
                w.end = w.end.max(end.saturating_add(1));
            }
        }
    }
    let window = window.expect("sources that are not disjoint overlap somewhere");
    let mut passed: VecDeque<Cols> = VecDeque::new();
    let mut inside: Vec<(usize, Vec<Cols>)> = Vec::with_capacity(non_empty.len());
    for (rank, parts) in non_empty {
        let mut kept = Vec::new();
        for p in parts {
            let Some(Some(ts)) = p.cols.first() else {
                kept.push(p);
                continue;
            };
            let in_window = time_mask(ts, window);
            let n = in_window.true_count();
            if n == 0 {
                passed.push_back(p);
            } else if n == p.rows {
                kept.push(p);
            } else {
                let outside = arrow::compute::not(&in_window)?;
                passed.push_back(p.filter(&outside)?);
                kept.push(p.filter(&in_window)?);
            }
        }
        if !kept.is_empty() {
            inside.push((rank, kept));
        }
    }
    let mut merged = merge_all(inside, tag_count)?;
    passed.append(&mut merged);
    Ok(passed)
}

/// Merges every row of `non_empty` (source rank, parts), keeping the newest version of each
/// (series, time).
fn merge_all(non_empty: Vec<(usize, Vec<Cols>)>, tag_count: usize) -> Result<VecDeque<Cols>> {
    if non_empty.is_empty() {
        return Ok(VecDeque::new());
    }
    let width = non_empty[0].1[0].cols.len();
    let mut ranks: Vec<u32> = Vec::new();
    let mut parts: Vec<Cols> = Vec::new();
    for (rank, source) in non_empty {
        for p in source {
            ranks.extend(std::iter::repeat_n(rank as u32, p.rows));
            parts.push(p);
        }
    }
    let total: usize = parts.iter().map(|p| p.rows).sum();
    let mut merged = Vec::with_capacity(width);
    for c in 0..width {
        let arrays: Vec<ArrayRef> = match parts
            .iter()
            .map(|p| p.cols[c].clone())
            .collect::<Option<Vec<_>>>()
        {
            Some(a) => a,
            None => {
                merged.push(None);
                continue;
            }
        };
        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
        merged.push(Some(concat(&refs)?));
    }
    // Sort key: tags then time; ties broken by source rank then position, newest last.
    let key_cols: Vec<ArrayRef> = (1..=tag_count)
        .chain(std::iter::once(0))
        .filter_map(|c| merged[c].clone())
        .collect();
    let converter = RowConverter::new(
        key_cols
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&key_cols)?;
    let mut order: Vec<u32> = (0..total as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        rows.row(a as usize)
            .cmp(&rows.row(b as usize))
            .then(ranks[a as usize].cmp(&ranks[b as usize]))
            .then(a.cmp(&b))
    });
    // Rows with a NULL time are all kept (NULL equals nothing).
    let null_time = |i: u32| {
        merged[0].as_ref().is_some_and(|t| {
            t.as_primitive::<TimestampNanosecondType>()
                .value(i as usize)
                == NULL_TIME
        })
    };
    let mut kept: Vec<u32> = Vec::with_capacity(order.len());
    for i in order {
        match kept.last_mut() {
            Some(last) if rows.row(*last as usize) == rows.row(i as usize) && !null_time(i) => {
                *last = i
            }
            _ => kept.push(i),
        }
    }
    let indices = UInt32Array::from(kept);
    let cols = merged
        .iter()
        .map(|c| {
            c.as_ref()
                .map(|c| take(c.as_ref(), &indices, None))
                .transpose()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(VecDeque::from([Cols {
        rows: indices.len(),
        cols,
    }]))
}
