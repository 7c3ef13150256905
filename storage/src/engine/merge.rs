//! The streaming k-way merge that compaction and tiering write through.
//!
//! Every input (a segment, or a cold object when late rows are folded into it) is sorted by
//! (series key, time), so the output is a k-way merge of block cursors: tag values are
//! compared as codes into the union of the inputs' sorted dictionaries (code order is string
//! order), never as strings; of equal (series, time) the newest input's row is kept (inputs
//! come oldest first). The output goes to a [`MergeSink`] block by block, so memory holds
//! about two blocks per input whatever the partition's size. Append-only tables keep every
//! row in input order, as their scans do.
//!
//! An input may come with rows to leave out ([`Removed`], found by a pass over its time and
//! tag columns: pending erasures and expired rows): they are dropped as its blocks load, and
//! the output dictionaries hold only the tag values of rows that stay, so a value all of
//! whose rows are erased appears nowhere in the output.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayData, ArrayRef, AsArray, RecordBatch};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Int32Type, SchemaRef, TimestampNanosecondType};

use super::purge::Removed;
use super::Inner;
use crate::catalog::TableState;
use crate::error::{Error, Result};
use crate::schema::NULL_TIME;
use crate::segment::{Segment, SegmentWriter, BLOCK_ROWS};
use crate::tier::parquet::{cold_tag_values, ColdFile, ColdMeta, ColdRows};

/// One input of a merge.
pub(super) enum MergeInput<'a> {
    Segment(&'a Segment),
    /// A cold object with its loaded footer.
    Cold(ColdFile, ColdMeta),
}

/// Where a merge puts its output: blocks of at most [`BLOCK_ROWS`] rows in the table's full
/// schema (tag columns are placeholders) with each tag column's output codes (1-based into
/// the merge's dictionaries, 0 for NULL). A segment, or a cold Parquet file.
pub(crate) trait MergeSink {
    fn push_blocks(&mut self, batch: &RecordBatch, codes: &[Vec<u32>]) -> Result<()>;
}

impl MergeSink for SegmentWriter {
    fn push_blocks(&mut self, batch: &RecordBatch, codes: &[Vec<u32>]) -> Result<()> {
        SegmentWriter::push_blocks(self, batch, codes, true)
    }
}

/// Where a cursor's blocks come from.
enum Source<'a> {
    Segment {
        seg: &'a Segment,
        /// Table column -> segment column.
        mapping: Vec<Option<usize>>,
        /// Per tag column: segment code -> output code (index 0, NULL, maps to 0).
        code_map: Vec<Vec<u32>>,
        next_block: usize,
    },
    Cold {
        rows: ColdRows,
        /// Per tag column, the last batch's dictionary and its values' output codes: every
        /// batch of a column chunk comes with the same dictionary (all of the chunk's
        /// values, in the same buffers), which is mapped once, not once per batch.
        maps: Vec<Option<(ArrayData, Vec<u32>)>>,
    },
}

/// One input being read block by block.
struct Cursor<'a> {
    source: Source<'a>,
    /// Whether a block is loaded (its slot is retired when the next one loads).
    loaded: bool,
    /// The loaded block: its place in `Merge::slots`, times, output tag codes (row-major,
    /// `tags` per row), length and read position.
    slot: usize,
    ts: Vec<i64>,
    codes: Vec<u32>,
    len: usize,
    pos: usize,
    /// Rows of the input to leave out, by position in the input.
    removed: Option<&'a croaring::Bitmap>,
    /// Position in the input of the next block's first row.
    offset: u64,
}

/// The state of one merge: the output writer, the loaded blocks rows are taken from, and
/// the output block being gathered.
struct Merge<'a> {
    inner: &'a Inner,
    schema: SchemaRef,
    tags: usize,
    append_only: bool,
    sink: &'a mut dyn MergeSink,
    /// The output dictionaries (a cold input's tag strings are looked up in them).
    dicts: &'a [Vec<String>],
    /// Loaded blocks (full table width; tag columns are unused placeholders), a slab
    /// whose free places are reused: it holds about two blocks per input.
    slots: Vec<Option<Vec<ArrayRef>>>,
    free: Vec<usize>,
    /// Blocks their cursors have moved past: freed once the output rows taken from them
    /// are written.
    retired: Vec<usize>,
    /// Output rows as (slot, row).
    picks: Vec<(usize, usize)>,
    /// Output tag codes, row-major.
    out_codes: Vec<u32>,
    last_ts: i64,
}

/// The output dictionary of each tag column of a merge: every value any input holds, sorted.
/// A cold object's values are read from its tag columns (small: dictionary-encoded and
/// sorted by series).
/// An input with [`Removed`] rows contributes only the values of its rows that stay.
pub(super) fn merge_dicts(
    table: &TableState,
    inputs: &[MergeInput<'_>],
    removed: &[Option<&Removed>],
) -> Result<Vec<Vec<String>>> {
    let schema = &table.schema;
    let names: Vec<&str> = schema.column_names().collect();
    let mut dicts: Vec<BTreeSet<String>> = vec![BTreeSet::new(); schema.tags.len()];
    for (i, input) in inputs.iter().enumerate() {
        if let Some(r) = removed.get(i).copied().flatten() {
            for (dict, values) in dicts.iter_mut().zip(&r.survivors) {
                dict.extend(values.iter().cloned());
            }
            continue;
        }
        match input {
            MergeInput::Segment(seg) => {
                let meta = seg.meta();
                for (t, dict) in dicts.iter_mut().enumerate() {
                    if let Some(d) = meta
                        .column_index(names[t + 1])
                        .and_then(|c| meta.tag_dict(c))
                    {
                        for v in &d.values {
                            if !dict.contains(v) {
                                dict.insert(v.clone());
                            }
                        }
                    }
                }
            }
            MergeInput::Cold(file, meta) => {
                for (dict, values) in dicts.iter_mut().zip(cold_tag_values(file, meta, schema)?) {
                    dict.extend(values);
                }
            }
        }
    }
    Ok(dicts.into_iter().map(|d| d.into_iter().collect()).collect())
}

/// Merges `inputs` (oldest first, each with the rows to leave out, if any) into `sink`, with
/// `dicts` from [`merge_dicts`]. Stops with [`Error::Closed`] at the next block if the engine
/// shuts down.
pub(super) fn merge_into<'a>(
    inner: &Inner,
    table: &TableState,
    inputs: &'a [MergeInput<'a>],
    removed: &[Option<&'a Removed>],
    dicts: &[Vec<String>],
    sink: &mut dyn MergeSink,
) -> Result<()> {
    let schema = &table.schema;
    let tags = schema.tags.len();
    let names: Vec<&str> = schema.column_names().collect();
    let mut cursors = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let source = match input {
            MergeInput::Segment(seg) => {
                let meta = seg.meta();
                let mapping: Vec<Option<usize>> =
                    names.iter().map(|n| meta.column_index(n)).collect();
                let code_map = (0..tags)
                    .map(|t| {
                        let mut map = vec![0u32];
                        if let Some(d) = mapping[t + 1].and_then(|c| meta.tag_dict(c)) {
                            map.extend(d.values.iter().map(|v| output_code(&dicts[t], v)));
                        }
                        map
                    })
                    .collect();
                Source::Segment {
                    seg,
                    mapping,
                    code_map,
                    next_block: 0,
                }
            }
            MergeInput::Cold(file, meta) => Source::Cold {
                rows: ColdRows::open(file, meta, schema)?,
                maps: vec![None; tags],
            },
        };
        cursors.push(Cursor {
            source,
            loaded: false,
            slot: 0,
            ts: Vec::new(),
            codes: Vec::new(),
            len: 0,
            pos: 0,
            removed: removed
                .get(i)
                .copied()
                .flatten()
                .map(|r| &r.rows)
                .filter(|b| !b.is_empty()),
            offset: 0,
        });
    }
    let mut merge = Merge {
        inner,
        schema: schema.arrow_schema(),
        tags,
        append_only: schema.append_only,
        sink,
        dicts,
        slots: Vec::new(),
        free: Vec::new(),
        retired: Vec::new(),
        picks: Vec::with_capacity(BLOCK_ROWS),
        out_codes: Vec::with_capacity(BLOCK_ROWS * tags),
        last_ts: 0,
    };
    // Cursors with rows, in input order (rank: a later one is newer).
    let mut live: Vec<Cursor<'_>> = Vec::with_capacity(cursors.len());
    for mut c in cursors {
        if merge.load(&mut c)? {
            live.push(c);
        }
    }
    if merge.append_only {
        for mut c in live {
            loop {
                while c.pos < c.len {
                    merge.push(&c, c.pos)?;
                    c.pos += 1;
                }
                if !merge.load(&mut c)? {
                    break;
                }
            }
        }
    } else {
        while !live.is_empty() {
            // The smallest key (ties: the oldest input first, so a newer row replaces it)
            // and the next smallest, which bounds the run taken from the smallest.
            let mut min = 0;
            for i in 1..live.len() {
                if cmp_rows(&live[i], &live[min], tags) == Ordering::Less {
                    min = i;
                }
            }
            let mut second: Option<usize> = None;
            for i in 0..live.len() {
                if i != min
                    && second.is_none_or(|s| cmp_rows(&live[i], &live[s], tags) == Ordering::Less)
                {
                    second = Some(i);
                }
            }
            let exhausted = loop {
                let c = &live[min];
                merge.push(c, c.pos)?;
                let c = &mut live[min];
                c.pos += 1;
                if c.pos == c.len && !merge.load(c)? {
                    break true;
                }
                // Strictly below the runner-up: a tie must go back through selection so
                // that the older input's row is placed first.
                if let Some(s) = second {
                    if cmp_rows(&live[min], &live[s], tags) != Ordering::Less {
                        break false;
                    }
                }
            };
            if exhausted {
                live.remove(min);
            }
        }
    }
    merge.flush_block()
}

/// Orders the current rows of two cursors by (series key codes, time).
fn cmp_rows(a: &Cursor<'_>, b: &Cursor<'_>, tags: usize) -> Ordering {
    let ka = &a.codes[a.pos * tags..(a.pos + 1) * tags];
    let kb = &b.codes[b.pos * tags..(b.pos + 1) * tags];
    ka.cmp(kb).then(a.ts[a.pos].cmp(&b.ts[b.pos]))
}

impl Merge<'_> {
    /// Loads the cursor's next block, less its removed rows; false when it has none left.
    fn load(&mut self, c: &mut Cursor<'_>) -> Result<bool> {
        if c.loaded {
            self.retired.push(c.slot);
            c.loaded = false;
        }
        let (cols, codes) = match &mut c.source {
            Source::Segment {
                seg,
                mapping,
                code_map,
                next_block,
            } => {
                let Some(block) = seg.meta().blocks.get(*next_block) else {
                    return Ok(false);
                };
                let b = *next_block;
                *next_block += 1;
                let rows = block.rows as usize;
                let mut cols = Vec::with_capacity(self.schema.fields().len());
                for (i, field) in self.schema.fields().iter().enumerate() {
                    let is_tag = (1..=self.tags).contains(&i);
                    cols.push(match (is_tag, mapping[i]) {
                        (true, _) => new_null_array(&DataType::Utf8, 0),
                        (false, Some(sc)) => seg.read_column(b, sc)?,
                        // A column added after this segment was written: NULL in its rows.
                        (false, None) => new_null_array(field.data_type(), rows),
                    });
                }
                let mut codes = vec![0; rows * self.tags];
                for t in 0..self.tags {
                    if let Some(sc) = mapping[t + 1] {
                        let local = seg.read_tag_codes(b, sc)?;
                        for (row, code) in local.into_iter().enumerate() {
                            codes[row * self.tags + t] = code_map[t][code as usize];
                        }
                    }
                }
                (cols, codes)
            }
            Source::Cold { rows, maps } => {
                let Some(mut cols) = rows.next_batch()? else {
                    return Ok(false);
                };
                let n = cols[0].len();
                let mut codes = vec![0; n * self.tags];
                for t in 0..self.tags {
                    let dict = cols[t + 1].as_dictionary::<Int32Type>();
                    let data = dict.values().to_data();
                    let cached = maps[t]
                        .as_ref()
                        .is_some_and(|(values, _)| values.ptr_eq(&data));
                    if !cached {
                        let values = dict.values().as_string::<i32>();
                        let map: Vec<u32> = (0..values.len())
                            .map(|i| output_code(&self.dicts[t], values.value(i)))
                            .collect();
                        maps[t] = Some((data, map));
                    }
                    let map = &maps[t].as_ref().expect("mapped above").1;
                    for (row, key) in dict.keys().iter().enumerate() {
                        if let Some(k) = key {
                            codes[row * self.tags + t] = map[k as usize];
                        }
                    }
                    cols[t + 1] = new_null_array(&DataType::Utf8, 0);
                }
                (cols, codes)
            }
        };
        let loaded_rows = cols[0].len() as u64;
        let (cols, codes) = match c.removed {
            Some(removed) => drop_removed(cols, codes, removed, c.offset, self.tags)?,
            None => (cols, codes),
        };
        c.offset += loaded_rows;
        c.ts = cols[0]
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .to_vec();
        c.len = c.ts.len();
        c.codes = codes;
        c.pos = 0;
        c.slot = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(cols);
                i
            }
            None => {
                self.slots.push(Some(cols));
                self.slots.len() - 1
            }
        };
        c.loaded = true;
        Ok(c.len > 0 || self.load(c)?)
    }

    /// Places a row in the output. Of rows with the same (series, time), which arrive
    /// oldest input first, the last one placed stays (unless append-only).
    fn push(&mut self, c: &Cursor<'_>, row: usize) -> Result<()> {
        let key = &c.codes[row * self.tags..(row + 1) * self.tags];
        let ts = c.ts[row];
        let n = self.picks.len();
        if !self.append_only
            && n > 0
            && self.last_ts == ts
            && ts != NULL_TIME
            && self.out_codes[(n - 1) * self.tags..] == *key
        {
            self.picks[n - 1] = (c.slot, row);
            return Ok(());
        }
        // Cut a block only between distinct keys, so a duplicate always finds its twin.
        if n == BLOCK_ROWS {
            self.flush_block()?;
        }
        self.picks.push((c.slot, row));
        self.out_codes.extend_from_slice(key);
        self.last_ts = ts;
        Ok(())
    }

    /// Writes the gathered rows as a block and drops loaded blocks no cursor still reads.
    fn flush_block(&mut self) -> Result<()> {
        if self.picks.is_empty() {
            return Ok(());
        }
        fail::fail_point!("compaction::merge_block");
        if self.inner.is_shut_down() {
            return Err(Error::Closed);
        }
        let n = self.picks.len();
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for (i, field) in self.schema.fields().iter().enumerate() {
            if (1..=self.tags).contains(&i) {
                columns.push(new_null_array(&DataType::Utf8, n));
                continue;
            }
            // Free places get an empty array: no pick refers to them.
            let empty = new_null_array(field.data_type(), 0);
            let arrays: Vec<&dyn Array> = self
                .slots
                .iter()
                .map(|s| s.as_ref().map_or(empty.as_ref(), |s| s[i].as_ref()))
                .collect();
            columns.push(interleave(&arrays, &self.picks)?);
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        let codes: Vec<Vec<u32>> = (0..self.tags)
            .map(|t| {
                self.out_codes
                    .iter()
                    .skip(t)
                    .step_by(self.tags)
                    .copied()
                    .collect()
            })
            .collect();
        self.sink.push_blocks(&batch, &codes)?;
        self.picks.clear();
        self.out_codes.clear();
        for i in self.retired.drain(..) {
            self.slots[i] = None;
            self.free.push(i);
        }
        Ok(())
    }
}

/// A loaded block without the rows `removed` holds (positions counted from `offset`, the
/// block's first row in its input).
fn drop_removed(
    cols: Vec<ArrayRef>,
    codes: Vec<u32>,
    removed: &croaring::Bitmap,
    offset: u64,
    tags: usize,
) -> Result<(Vec<ArrayRef>, Vec<u32>)> {
    let n = cols[0].len() as u32;
    let offset = offset as u32;
    if removed.range_cardinality(offset..offset + n) == 0 {
        return Ok((cols, codes));
    }
    let keep: arrow::array::BooleanArray = (0..n)
        .map(|i| Some(!removed.contains(offset + i)))
        .collect();
    let cols = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if (1..=tags).contains(&i) {
                Ok(Arc::clone(c)) // a placeholder: codes give the tags
            } else {
                arrow::compute::filter(c.as_ref(), &keep)
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut kept = Vec::with_capacity(codes.len());
    for (row, k) in keep.values().iter().enumerate() {
        if k {
            kept.extend_from_slice(&codes[row * tags..(row + 1) * tags]);
        }
    }
    Ok((cols, kept))
}

/// The output code (1-based) of a tag value. Every input value is in the union of the
/// inputs' dictionaries, so the search always succeeds.
fn output_code(dict: &[String], value: &str) -> u32 {
    dict.binary_search_by(|d| d.as_str().cmp(value))
        .map_or(0, |i| i as u32 + 1)
}
