//! Encoding a sorted batch into a segment file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, DictionaryArray, RecordBatch, StringArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType, UInt32Type};
use croaring::{Bitmap, Portable};

use super::footer::{BitmapRef, BlockMeta, ChunkMeta, ColumnKind, SegmentMeta, TagDict};
use super::{
    BLOCK_ROWS, CHUNK_RAW, CHUNK_ZSTD, END_MAGIC, HEADER_LEN, MAGIC, TRAILER_LEN, VERSION,
};
use crate::codec::buf::{put_u32, put_u64, put_u8};
use crate::codec::floats::encode_f64;
use crate::codec::ints::{encode_i64, encode_timestamps};
use crate::codec::misc::{encode_bits, encode_byte_strings, encode_rle, encode_strings};
use crate::error::{Error, Result};
use crate::schema::TableSchema;

/// zstd level for chunks: level 1 keeps flush fast; chunks are small and already encoded.
const ZSTD_LEVEL: i32 = 1;
/// Chunks smaller than this are never compressed.
const ZSTD_MIN_BYTES: usize = 256;

/// Appends a chunk body, compressed when that saves at least 1/8.
fn frame_chunk(body: &[u8], out: &mut Vec<u8>) {
    if body.len() >= ZSTD_MIN_BYTES {
        if let Ok(z) = zstd::bulk::compress(body, ZSTD_LEVEL) {
            if z.len() + 4 < body.len() - body.len() / 8 {
                put_u8(out, CHUNK_ZSTD);
                put_u32(out, body.len() as u32);
                out.extend_from_slice(&z);
                return;
            }
        }
    }
    put_u8(out, CHUNK_RAW);
    out.extend_from_slice(body);
}

/// Encodes the rows `[start, end)` of one column; returns (body, null count, stats).
fn encode_column(
    array: &dyn Array,
    kind: ColumnKind,
    codes: Option<&[u32]>,
    start: usize,
    end: usize,
) -> (Vec<u8>, u32, Option<(u64, u64)>) {
    let mut body = Vec::new();
    let n = end - start;
    match kind {
        ColumnKind::Time => {
            let ts = array.as_primitive::<TimestampNanosecondType>();
            let values = &ts.values()[start..end];
            put_u8(&mut body, 0);
            encode_timestamps(values, &mut body);
            let stats = values
                .iter()
                .min()
                .zip(values.iter().max())
                .map(|(a, b)| (*a as u64, *b as u64));
            (body, 0, stats)
        }
        ColumnKind::Tag => {
            let codes = codes.map(|c| &c[start..end]).unwrap_or(&[]);
            put_u8(&mut body, 0);
            encode_rle(codes, &mut body);
            let nulls = codes.iter().filter(|&&c| c == 0).count() as u32;
            (body, nulls, None)
        }
        ColumnKind::Field(_) => {
            let slice = array.slice(start, n);
            let nulls = slice.null_count();
            if nulls > 0 {
                put_u8(&mut body, 1);
                encode_bits((0..n).map(|i| slice.is_valid(i)), &mut body);
            } else {
                put_u8(&mut body, 0);
            }
            let valid = |i: &usize| slice.is_valid(*i);
            let stats = match kind {
                ColumnKind::Field(crate::schema::FieldType::Float) => {
                    let a = slice.as_primitive::<Float64Type>();
                    let values: Vec<f64> = (0..n).filter(valid).map(|i| a.value(i)).collect();
                    encode_f64(&values, &mut body);
                    let ordered = values.iter().copied().filter(|v| !v.is_nan());
                    let min = ordered.clone().reduce(f64::min);
                    let max = ordered.reduce(f64::max);
                    min.zip(max).map(|(a, b)| (a.to_bits(), b.to_bits()))
                }
                ColumnKind::Field(crate::schema::FieldType::Integer) => {
                    let a = slice.as_primitive::<Int64Type>();
                    let values: Vec<i64> = (0..n).filter(valid).map(|i| a.value(i)).collect();
                    encode_i64(&values, &mut body);
                    let min = values.iter().min();
                    let max = values.iter().max();
                    min.zip(max).map(|(a, b)| (*a as u64, *b as u64))
                }
                ColumnKind::Field(crate::schema::FieldType::Boolean) => {
                    let a = slice.as_boolean();
                    encode_bits(
                        (0..n)
                            .filter(valid)
                            .map(|i| a.value(i))
                            .collect::<Vec<_>>()
                            .into_iter(),
                        &mut body,
                    );
                    None
                }
                ColumnKind::Field(crate::schema::FieldType::Bytes) => {
                    let a = slice.as_binary::<i32>();
                    let values: Vec<&[u8]> = (0..n).filter(valid).map(|i| a.value(i)).collect();
                    encode_byte_strings(values.iter().copied(), &mut body);
                    None
                }
                _ => {
                    let a = slice.as_string::<i32>();
                    let values: Vec<&str> = (0..n).filter(valid).map(|i| a.value(i)).collect();
                    encode_strings(values.iter().copied(), &mut body);
                    None
                }
            };
            (body, nulls as u32, stats)
        }
    }
}

/// Dictionary codes and bitmaps of a tag column (`Utf8`, or `Dictionary(UInt32, Utf8)`
/// as a memtable flush gives it).
///
/// Rows are sorted by series, so a tag's value repeats in runs: a row equal to the one
/// before takes its code without a dictionary lookup, and each run goes into its
/// bitmap as one range.
fn build_dict(array: &dyn Array) -> (Vec<String>, Vec<u32>, Vec<Bitmap>) {
    let (distinct, codes) = match array.as_dictionary_opt::<UInt32Type>() {
        Some(dict) => dict_codes(dict),
        None => string_codes(array.as_string::<i32>()),
    };
    let mut bitmaps = vec![Bitmap::new(); distinct.len()];
    let mut run_start = 0;
    for row in 1..=codes.len() {
        if row == codes.len() || codes[row] != codes[run_start] {
            if let Some(c) = codes[run_start].checked_sub(1) {
                bitmaps[c as usize].add_range(run_start as u32..row as u32);
            }
            run_start = row;
        }
    }
    for b in &mut bitmaps {
        b.run_optimize();
    }
    (distinct, codes, bitmaps)
}

/// Sorted distinct values and 1-based codes (0 = NULL) of a string column.
fn string_codes(a: &StringArray) -> (Vec<String>, Vec<u32>) {
    let mut distinct: BTreeMap<&str, u32> = BTreeMap::new();
    let mut last: Option<&str> = None;
    for v in a.iter().flatten() {
        if last != Some(v) {
            distinct.insert(v, 0);
            last = Some(v);
        }
    }
    for (i, code) in distinct.values_mut().enumerate() {
        *code = i as u32 + 1;
    }
    let mut codes = Vec::with_capacity(a.len());
    let mut last: Option<(Option<&str>, u32)> = None;
    for v in a.iter() {
        let code = match last {
            Some((lv, lc)) if lv == v => lc,
            _ => v.map_or(0, |v| distinct[v]),
        };
        last = Some((v, code));
        codes.push(code);
    }
    (distinct.into_keys().map(str::to_owned).collect(), codes)
}

/// The same for a dictionary column: values are looked up once per dictionary entry.
fn dict_codes(dict: &DictionaryArray<UInt32Type>) -> (Vec<String>, Vec<u32>) {
    let values = dict.values().as_string::<i32>();
    let mut distinct: BTreeMap<&str, u32> = values.iter().flatten().map(|v| (v, 0)).collect();
    for (i, code) in distinct.values_mut().enumerate() {
        *code = i as u32 + 1;
    }
    let entry_code: Vec<u32> = values
        .iter()
        .map(|v| v.map_or(0, |v| distinct[v]))
        .collect();
    let codes = dict
        .keys()
        .iter()
        .map(|k| k.map_or(0, |k| entry_code[k as usize]))
        .collect();
    (distinct.into_keys().map(str::to_owned).collect(), codes)
}

/// Writes `batch` (the table's full Arrow schema, tags as `Utf8` or dictionary-encoded,
/// rows sorted by series then time) as a segment at `path`, fsyncs it, and returns its
/// metadata and size in bytes.
///
/// The file appears under its final name only after the data is durable (written to a
/// `.tmp` sibling, fsynced, renamed); the caller fsyncs the directory.
pub(crate) fn write_segment(
    path: &Path,
    batch: &RecordBatch,
    schema: &TableSchema,
    max_lsn: u64,
) -> Result<(SegmentMeta, u64)> {
    let mut dicts = Vec::with_capacity(schema.tags.len());
    let mut codes = Vec::with_capacity(schema.tags.len());
    let mut bitmaps = Vec::with_capacity(schema.tags.len());
    for i in 1..=schema.tags.len() {
        let (values, c, b) = build_dict(batch.column(i).as_ref());
        dicts.push(values);
        codes.push(c);
        bitmaps.push(b);
    }
    let mut writer = SegmentWriter::create(path, schema, dicts, max_lsn)?;
    writer.bitmaps = bitmaps;
    writer.push_blocks(batch, &codes, false)?;
    writer.finish()
}

/// Writes a segment block by block, so that a merge of any size holds only the blocks it is
/// working on. The tag dictionaries must be known up front (a merge takes the union of its
/// inputs'); rows arrive sorted by series then time with their tags as 1-based codes into
/// those dictionaries (0 = NULL).
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    path: PathBuf,
    tmp: PathBuf,
    /// `None` once finished.
    out: Option<BufWriter<File>>,
    /// Bytes written so far: the offset of the next byte.
    written: u64,
    columns: Vec<(String, ColumnKind)>,
    dicts: Vec<Vec<String>>,
    /// Per tag column, per dictionary value, the rows holding it.
    bitmaps: Vec<Vec<Bitmap>>,
    blocks: Vec<BlockMeta>,
    rows: u64,
    min_ts: i64,
    max_ts: i64,
    max_lsn: u64,
    /// Reused chunk buffer.
    chunk: Vec<u8>,
}

impl SegmentWriter {
    /// Starts a segment at `path` (written to a `.tmp` sibling until [`finish`]).
    ///
    /// [`finish`]: SegmentWriter::finish
    pub(crate) fn create(
        path: &Path,
        schema: &TableSchema,
        dicts: Vec<Vec<String>>,
        max_lsn: u64,
    ) -> Result<Self> {
        let mut columns = Vec::with_capacity(schema.num_columns());
        columns.push((schema.time_column.clone(), ColumnKind::Time));
        columns.extend(schema.tags.iter().map(|t| (t.clone(), ColumnKind::Tag)));
        columns.extend(
            schema
                .fields
                .iter()
                .map(|f| (f.name.clone(), ColumnKind::Field(f.ty))),
        );
        debug_assert_eq!(dicts.len(), schema.tags.len());
        let tmp = path.with_extension("seg.tmp");
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = SegmentWriter {
            path: path.to_path_buf(),
            tmp,
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            written: 0,
            columns,
            bitmaps: dicts.iter().map(|d| vec![Bitmap::new(); d.len()]).collect(),
            dicts,
            blocks: Vec::new(),
            rows: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            max_lsn,
            chunk: Vec::new(),
        };
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        put_u32(&mut header, VERSION);
        put_u32(&mut header, 0);
        w.write(&header)?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Err(Error::io(&self.tmp, std::io::ErrorKind::BrokenPipe.into()));
        };
        out.write_all(bytes).map_err(|e| Error::io(&self.tmp, e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Appends `batch` (the table's full schema; tag columns are ignored, `codes` gives
    /// them, one vector per tag column) as blocks of [`BLOCK_ROWS`]. With `mark_bitmaps`
    /// the rows are added to the tag bitmaps; [`write_segment`] builds them beforehand.
    pub(crate) fn push_blocks(
        &mut self,
        batch: &RecordBatch,
        codes: &[Vec<u32>],
        mark_bitmaps: bool,
    ) -> Result<()> {
        let rows = batch.num_rows();
        if mark_bitmaps {
            for (t, codes) in codes.iter().enumerate() {
                let base = self.rows as u32;
                let mut run_start = 0;
                for row in 1..=codes.len() {
                    if row == codes.len() || codes[row] != codes[run_start] {
                        if let Some(c) = codes[run_start].checked_sub(1) {
                            self.bitmaps[t][c as usize]
                                .add_range(base + run_start as u32..base + row as u32);
                        }
                        run_start = row;
                    }
                }
            }
        }
        let ts = batch.column(0).as_primitive::<TimestampNanosecondType>();
        let mut start = 0;
        while start < rows {
            let end = (start + BLOCK_ROWS).min(rows);
            let block_ts = &ts.values()[start..end];
            let mut chunks = Vec::with_capacity(self.columns.len());
            for i in 0..self.columns.len() {
                let kind = self.columns[i].1;
                let tag_codes = (kind == ColumnKind::Tag).then(|| codes[i - 1].as_slice());
                let (body, null_count, stats) =
                    encode_column(batch.column(i).as_ref(), kind, tag_codes, start, end);
                let mut framed = std::mem::take(&mut self.chunk);
                framed.clear();
                frame_chunk(&body, &mut framed);
                chunks.push(ChunkMeta {
                    offset: self.written,
                    len: framed.len() as u32,
                    crc: crc32fast::hash(&framed),
                    null_count,
                    stats,
                });
                self.write(&framed)?;
                self.chunk = framed;
            }
            let min_ts = block_ts.iter().copied().min().unwrap_or(0);
            let max_ts = block_ts.iter().copied().max().unwrap_or(0);
            self.min_ts = self.min_ts.min(min_ts);
            self.max_ts = self.max_ts.max(max_ts);
            self.blocks.push(BlockMeta {
                row_start: (self.rows + start as u64) as u32,
                rows: (end - start) as u32,
                min_ts,
                max_ts,
                chunks,
            });
            start = end;
        }
        self.rows += rows as u64;
        Ok(())
    }

    /// Rows pushed so far.
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the bitmaps, footer and trailer, fsyncs the file and renames it into place.
    /// Returns the segment's metadata and size in bytes.
    pub(crate) fn finish(mut self) -> Result<(SegmentMeta, u64)> {
        let mut dicts = Vec::with_capacity(self.dicts.len());
        let bitmaps = std::mem::take(&mut self.bitmaps);
        let values = std::mem::take(&mut self.dicts);
        for (t, (values, mut bitmaps)) in values.into_iter().zip(bitmaps).enumerate() {
            let mut refs = Vec::with_capacity(bitmaps.len());
            for b in &mut bitmaps {
                b.run_optimize();
                let bytes = b.serialize::<Portable>();
                refs.push(BitmapRef {
                    offset: self.written,
                    len: bytes.len() as u32,
                    crc: crc32fast::hash(&bytes),
                });
                self.write(&bytes)?;
            }
            dicts.push(TagDict {
                column: t + 1,
                values,
                bitmap_refs: refs,
                bitmaps,
            });
        }
        let empty = self.rows == 0;
        let meta = SegmentMeta {
            columns: std::mem::take(&mut self.columns),
            rows: self.rows,
            min_ts: if empty { 0 } else { self.min_ts },
            max_ts: if empty { 0 } else { self.max_ts },
            max_lsn: self.max_lsn,
            blocks: std::mem::take(&mut self.blocks),
            tags: dicts,
        };
        let footer = meta.encode();
        let footer_offset = self.written;
        let mut tail = Vec::with_capacity(footer.len() + TRAILER_LEN);
        tail.extend_from_slice(&footer);
        put_u64(&mut tail, footer_offset);
        put_u32(&mut tail, footer.len() as u32);
        put_u32(&mut tail, crc32fast::hash(&footer));
        tail.extend_from_slice(END_MAGIC);
        self.write(&tail)?;
        let Some(out) = self.out.take() else {
            return Err(Error::io(&self.tmp, std::io::ErrorKind::BrokenPipe.into()));
        };
        let file = out
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok((meta, self.written))
    }
}

impl Drop for SegmentWriter {
    /// A writer dropped before [`SegmentWriter::finish`] (an error, a shutdown) removes its
    /// temporary file; one a crash leaves behind is removed at the next start-up.
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
