//! Encoding a sorted batch into a segment file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use arrow::array::{Array, AsArray, DictionaryArray, RecordBatch, StringArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType, UInt32Type};
use croaring::{Bitmap, Portable};

use super::footer::{BitmapRef, BlockMeta, ChunkMeta, ColumnKind, SegmentMeta, TagDict};
use super::{BLOCK_ROWS, CHUNK_RAW, CHUNK_ZSTD, END_MAGIC, HEADER_LEN, MAGIC, VERSION};
use crate::codec::buf::{put_u32, put_u64, put_u8};
use crate::codec::floats::encode_f64;
use crate::codec::ints::{encode_i64, encode_timestamps};
use crate::codec::misc::{encode_bits, encode_rle, encode_strings};
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
    let mut columns = Vec::with_capacity(schema.num_columns());
    columns.push((schema.time_column.clone(), ColumnKind::Time));
    columns.extend(schema.tags.iter().map(|t| (t.clone(), ColumnKind::Tag)));
    columns.extend(
        schema
            .fields
            .iter()
            .map(|f| (f.name.clone(), ColumnKind::Field(f.ty))),
    );
    let rows = batch.num_rows();
    let mut out = Vec::with_capacity(rows * 4 + 4096);
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, VERSION);
    put_u32(&mut out, 0);
    debug_assert_eq!(out.len(), HEADER_LEN);

    let mut dicts = Vec::new();
    let mut codes_per_column: Vec<Option<Vec<u32>>> = vec![None; columns.len()];
    for (i, (_, kind)) in columns.iter().enumerate() {
        if *kind == ColumnKind::Tag {
            let (values, codes, bitmaps) = build_dict(batch.column(i).as_ref());
            codes_per_column[i] = Some(codes);
            dicts.push(TagDict {
                column: i,
                values,
                bitmap_refs: Vec::new(),
                bitmaps,
            });
        }
    }

    let ts = batch.column(0).as_primitive::<TimestampNanosecondType>();
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < rows {
        let end = (start + BLOCK_ROWS).min(rows);
        let block_ts = &ts.values()[start..end];
        let mut chunks = Vec::with_capacity(columns.len());
        for (i, (_, kind)) in columns.iter().enumerate() {
            let (body, null_count, stats) = encode_column(
                batch.column(i).as_ref(),
                *kind,
                codes_per_column[i].as_deref(),
                start,
                end,
            );
            let offset = out.len();
            frame_chunk(&body, &mut out);
            let bytes = &out[offset..];
            chunks.push(ChunkMeta {
                offset: offset as u64,
                len: bytes.len() as u32,
                crc: crc32fast::hash(bytes),
                null_count,
                stats,
            });
        }
        blocks.push(BlockMeta {
            row_start: start as u32,
            rows: (end - start) as u32,
            min_ts: block_ts.iter().copied().min().unwrap_or(0),
            max_ts: block_ts.iter().copied().max().unwrap_or(0),
            chunks,
        });
        start = end;
    }

    for dict in &mut dicts {
        for b in &dict.bitmaps {
            let bytes = b.serialize::<Portable>();
            dict.bitmap_refs.push(BitmapRef {
                offset: out.len() as u64,
                len: bytes.len() as u32,
                crc: crc32fast::hash(&bytes),
            });
            out.extend_from_slice(&bytes);
        }
    }

    let meta = SegmentMeta {
        columns,
        rows: rows as u64,
        min_ts: ts.values().iter().copied().min().unwrap_or(0),
        max_ts: ts.values().iter().copied().max().unwrap_or(0),
        max_lsn,
        blocks,
        tags: dicts,
    };
    let footer = meta.encode();
    let footer_offset = out.len() as u64;
    out.extend_from_slice(&footer);
    put_u64(&mut out, footer_offset);
    put_u32(&mut out, footer.len() as u32);
    put_u32(&mut out, crc32fast::hash(&footer));
    out.extend_from_slice(END_MAGIC);

    let tmp = path.with_extension("seg.tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    file.write_all(&out)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok((meta, out.len() as u64))
}
