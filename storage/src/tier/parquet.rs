//! Cold files: a partition's rows as Parquet, readable by other engines.
//!
//! Layout (documented in `storage/FORMAT.md`, "Cold tier"): the table's columns under their
//! own names, in storage order (time, tags, fields); rows sorted by series then time, one
//! per (series, time) unless append-only; the time column a UTC timestamp in nanoseconds;
//! tags dictionary-encoded strings; fields in the type their SQL declaration names
//! (`integer` as INT32, `date` as DATE, `real` as FLOAT, ...), so that DuckDB's
//! `read_parquet` sees the table's types. zstd, row groups of [`ROW_GROUP_ROWS`] with
//! statistics and the page index (column and offset indexes) for pruning by time and tag;
//! times and integers delta-encoded, floats and strings dictionary-encoded (floats fall
//! back to split byte streams when a chunk's values are too many for a dictionary); a bloom
//! filter per row group and tag column, all of them after the last row group
//! ([`super::bloom`]).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BinaryArray, Decimal128Array, DictionaryArray,
    Int32Array, RecordBatch, StringArray,
};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Decimal128Type, Field, Int32Type, Int64Type, Schema, SchemaRef,
    Time64MicrosecondType, TimeUnit,
};
use bytes::Bytes;
use parking_lot::Mutex;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{
    BloomFilterPosition, BloomFilterProperties, EnabledStatistics, WriterProperties,
};
use parquet::file::reader::{ChunkReader, Length};
use parquet::schema::types::ColumnPath;

use super::bloom::ColdBlooms;
use super::store::ColdStore;
use crate::catalog::{ColdEntry, ColdHandle, ColdRef};
use crate::engine::MergeSink;
use crate::error::{Error, Result};
use crate::scan::{Cols, Resolved, ScanSource, SourceContext};
use crate::schema::{FieldType, TableSchema};

/// Rows per row group: a day of 100 series at 10 s is one row group, so each column's
/// dictionary is stored once per partition; the pages (and their index) do the fine
/// pruning by time and tag.
pub(crate) const ROW_GROUP_ROWS: usize = 1 << 20;
/// Rows per data page (what the page index can skip).
const PAGE_ROWS: usize = 8_192;
/// False-positive rate of the tag columns' bloom filters.
const BLOOM_FPP: f64 = 0.01;
/// Bytes a cold read fetches at once when the reader streams.
const READ_CHUNK: u64 = 1 << 20;

/// The Parquet type of table column `i`: the SQL declaration's where it has one.
fn cold_type(schema: &TableSchema, i: usize) -> DataType {
    let tags = schema.tags.len();
    if i == 0 {
        return DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    }
    if i <= tags {
        return DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    }
    let field = &schema.fields[i - 1 - tags];
    let sql = schema
        .sql_columns
        .get(&field.name)
        .map(|c| c.sql_type.as_str());
    match (field.ty, sql) {
        (FieldType::Integer, Some("smallint")) => DataType::Int16,
        (FieldType::Integer, Some("integer")) => DataType::Int32,
        (FieldType::Integer, Some("date")) => DataType::Date32,
        (FieldType::Integer, Some("timestamp")) => DataType::Timestamp(TimeUnit::Nanosecond, None),
        (FieldType::Integer, Some("timestamptz")) => {
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        }
        (FieldType::Integer, Some("time")) => DataType::Time64(TimeUnit::Microsecond),
        (FieldType::Float, Some("real")) => DataType::Float32,
        (FieldType::Integer | FieldType::Bytes, Some(t)) if t.starts_with("numeric(") => {
            numeric_type(t).unwrap_or(field.ty.arrow_type())
        }
        (ty, _) => ty.arrow_type(),
    }
}

/// `Decimal128(p, s)` of a canonical `numeric(p,s)`.
fn numeric_type(sql: &str) -> Option<DataType> {
    let (p, s) = sql
        .strip_prefix("numeric(")?
        .strip_suffix(')')?
        .split_once(',')?;
    Some(DataType::Decimal128(
        p.trim().parse().ok()?,
        s.trim().parse().ok()?,
    ))
}

/// The Arrow schema of a table's cold files.
pub(crate) fn cold_schema(schema: &TableSchema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .column_names()
        .enumerate()
        .map(|(i, name)| Field::new(name, cold_type(schema, i), i != 0))
        .collect();
    Arc::new(Schema::new(fields))
}

/// A stored column converted to its cold type.
fn to_cold(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(Arc::clone(array));
    }
    Ok(match (to, array.data_type()) {
        // Days are stored as i64; DATE is i32 days.
        (DataType::Date32, _) => cast(&cast(array, &DataType::Int32)?, to)?,
        // Times of day are stored as microseconds.
        (DataType::Time64(TimeUnit::Microsecond), DataType::Int64) => Arc::new(
            array
                .as_primitive::<Int64Type>()
                .reinterpret_cast::<Time64MicrosecondType>(),
        ),
        // Numerics are stored unscaled: in an i64, or an i128 in 16 little-endian bytes.
        (DataType::Decimal128(p, s), DataType::Int64) => Arc::new(
            array
                .as_primitive::<Int64Type>()
                .unary::<_, Decimal128Type>(i128::from)
                .with_precision_and_scale(*p, *s)?,
        ),
        (DataType::Decimal128(p, s), DataType::Binary) => Arc::new(
            array
                .as_binary::<i32>()
                .iter()
                .map(|v| v.and_then(|b| Some(i128::from_le_bytes(b.try_into().ok()?))))
                .collect::<Decimal128Array>()
                .with_precision_and_scale(*p, *s)?,
        ),
        _ => cast(array, to)?,
    })
}

/// A cold column converted back to the stored type.
fn to_storage(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(Arc::clone(array));
    }
    Ok(match (array.data_type(), to) {
        (DataType::Date32, _) => cast(&cast(array, &DataType::Int32)?, to)?,
        (DataType::Time64(TimeUnit::Microsecond), DataType::Int64) => Arc::new(
            array
                .as_primitive::<Time64MicrosecondType>()
                .reinterpret_cast::<Int64Type>(),
        ),
        (DataType::Decimal128(..), DataType::Int64) => Arc::new(
            array
                .as_primitive::<Decimal128Type>()
                .unary::<_, Int64Type>(|v| v as i64),
        ),
        (DataType::Decimal128(..), DataType::Binary) => Arc::new(
            array
                .as_primitive::<Decimal128Type>()
                .iter()
                .map(|v| v.map(i128::to_le_bytes))
                .collect::<BinaryArray>(),
        ),
        _ => cast(array, to)?,
    })
}

/// Writes merged rows as a Parquet file.
pub(crate) struct ParquetSink {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    /// Per tag column, its dictionary (the merge's output codes index it, 1-based).
    dicts: Vec<ArrayRef>,
    tags: usize,
    rows: u64,
    min_ts: i64,
    max_ts: i64,
}

impl std::fmt::Debug for ParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink")
            .field("rows", &self.rows)
            .finish()
    }
}

impl ParquetSink {
    pub(crate) fn create(
        path: &Path,
        table: &TableSchema,
        dicts: Vec<Vec<String>>,
    ) -> Result<Self> {
        let schema = cold_schema(table);
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_data_page_row_count_limit(PAGE_ROWS)
            .set_write_batch_size(1024)
            .set_bloom_filter_position(BloomFilterPosition::End);
        // A bloom filter per tag chunk, sized for the file's distinct values of the tag
        // (a chunk holds at most those) at 1% false positives: about 10 bits per value.
        for (t, dict) in dicts.iter().enumerate() {
            let col = ColumnPath::from(schema.field(t + 1).name().as_str());
            props = props.set_column_bloom_filter_properties(
                col,
                BloomFilterProperties::builder()
                    .with_fpp(BLOOM_FPP)
                    .with_max_ndv(dict.len().max(1) as u64)
                    .build(),
            );
        }
        // Tags and text fields repeat: dictionaries. Times and integers are sorted or
        // slowly changing within a series, which delta encoding turns into a few bits
        // each. Floats measured to a few decimals (most metrics) take few distinct values:
        // a dictionary turns each into a small index (TSBS's two-decimal fields: 5.1 bytes
        // per value with split byte streams, ~2 with a dictionary). Where a chunk's
        // dictionary outgrows its page limit the writer falls back to split byte streams.
        for field in schema.fields() {
            let col = ColumnPath::from(field.name().as_str());
            match field.data_type() {
                DataType::Timestamp(..)
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Date32 => {
                    props = props
                        .set_column_dictionary_enabled(col.clone(), false)
                        .set_column_encoding(col, Encoding::DELTA_BINARY_PACKED);
                }
                DataType::Float32 | DataType::Float64 => {
                    props = props.set_column_encoding(col, Encoding::BYTE_STREAM_SPLIT);
                }
                _ => {}
            }
        }
        let props = props.build();
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))?;
        Ok(ParquetSink {
            writer,
            schema,
            tags: dicts.len(),
            dicts: dicts
                .into_iter()
                .map(|d| Arc::new(StringArray::from(d)) as ArrayRef)
                .collect(),
            rows: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
        })
    }

    /// Closes the file (footer written, fsynced); returns rows and time bounds.
    pub(crate) fn finish(self, path: &Path) -> Result<(u64, i64, i64)> {
        let file = self.writer.into_inner()?;
        file.sync_all().map_err(|e| Error::io(path, e))?;
        Ok((self.rows, self.min_ts, self.max_ts))
    }
}

impl MergeSink for ParquetSink {
    fn push_blocks(&mut self, batch: &RecordBatch, codes: &[Vec<u32>]) -> Result<()> {
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (i, field) in self.schema.fields().iter().enumerate() {
            if (1..=self.tags).contains(&i) {
                let keys: Int32Array = codes[i - 1]
                    .iter()
                    .map(|&c| c.checked_sub(1).map(|k| k as i32))
                    .collect();
                let dict =
                    DictionaryArray::<Int32Type>::try_new(keys, Arc::clone(&self.dicts[i - 1]))?;
                columns.push(Arc::new(dict) as ArrayRef);
            } else {
                columns.push(to_cold(batch.column(i), field.data_type())?);
            }
        }
        let ts = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::TimestampNanosecondArray>()
            .map(|a| a.values().to_vec())
            .unwrap_or_default();
        if let (Some(lo), Some(hi)) = (ts.iter().min(), ts.iter().max()) {
            self.min_ts = self.min_ts.min(*lo);
            self.max_ts = self.max_ts.max(*hi);
        }
        self.rows += batch.num_rows() as u64;
        let out = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        self.writer.write(&out)?;
        Ok(())
    }
}

/// A cold object read through the store (and its cache) by byte ranges.
///
/// The Parquet reader turns an error of its input into a string once it reaches the
/// Arrow-level iterator; the first store error is therefore also kept here, and
/// [`ColdFile::error`] gives it back with its type (an unreachable store is 58030, not a
/// corrupt file).
#[derive(Debug, Clone)]
pub(crate) struct ColdFile {
    store: Arc<ColdStore>,
    key: String,
    len: u64,
    failure: Arc<Mutex<Option<Error>>>,
}

impl ColdFile {
    pub(crate) fn new(store: Arc<ColdStore>, key: String, len: u64) -> Self {
        ColdFile {
            store,
            key,
            len,
            failure: Arc::new(Mutex::new(None)),
        }
    }

    /// Reads `range`; a failure is kept (the first one) and described to the caller.
    fn read(&self, range: std::ops::Range<u64>) -> std::result::Result<Bytes, String> {
        self.store
            .read_range(&self.key, self.len, range)
            .map_err(|e| {
                let message = e.to_string();
                self.failure.lock().get_or_insert(e);
                message
            })
    }

    /// The error a read of this file failed with: the store's, if one failed, else `e`.
    pub(crate) fn error(&self, e: impl Into<Error>) -> Error {
        self.failure.lock().take().unwrap_or_else(|| e.into())
    }
}

impl Length for ColdFile {
    fn len(&self) -> u64 {
        self.len
    }
}

/// A streaming reader over a cold object, fetching [`READ_CHUNK`] bytes at a time.
pub(crate) struct ColdRead {
    file: ColdFile,
    pos: u64,
    buf: Bytes,
}

impl Read for ColdRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            if self.pos >= self.file.len {
                return Ok(0);
            }
            let end = (self.pos + READ_CHUNK).min(self.file.len);
            self.buf = self
                .file
                .read(self.pos..end)
                .map_err(std::io::Error::other)?;
            if self.buf.is_empty() {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        self.pos += n as u64;
        Ok(n)
    }
}

impl ChunkReader for ColdFile {
    type T = ColdRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<ColdRead> {
        Ok(ColdRead {
            file: self.clone(),
            pos: start,
            buf: Bytes::new(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.read(start..start + length as u64)
            .map_err(parquet::errors::ParquetError::General)
    }
}

/// A cold object's footer and page index, loaded once per handle.
pub(crate) type ColdMeta = ArrowReaderMetadata;

/// Loads a cold object's footer and page index.
pub(crate) fn load_metadata(file: &ColdFile) -> Result<ArrowReaderMetadata> {
    let options = ArrowReaderOptions::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
    ArrowReaderMetadata::load(file, options).map_err(|e| file.error(e))
}

/// Table column -> column of the cold file (a column added after the file was written has
/// none).
pub(crate) fn column_mapping(meta: &ColdMeta, table: &TableSchema) -> Vec<Option<usize>> {
    let parquet_schema = meta.schema();
    table
        .column_names()
        .map(|n| parquet_schema.index_of(n).ok())
        .collect()
}

impl ScanSource for ColdRef {
    fn span(&self) -> (i64, i64) {
        (self.entry.min_ts, self.entry.max_ts)
    }

    fn read(&self, ctx: &SourceContext<'_>, r: &Resolved, merge: bool) -> Result<Vec<Cols>> {
        let facts = ColdFacts::span_only(&self.entry);
        let Some(tombstones) = r.tombstones_for(self.entry.max_lsn, self.entry.purged, &facts)
        else {
            return Ok(Vec::new());
        };
        let (file, meta) = self.open(ctx.store)?;
        let blooms = scan_blooms(self, &file, &meta, r)?;
        read_cold(
            &file,
            &meta,
            &ctx.table.schema,
            r,
            blooms.as_deref(),
            merge,
            &tombstones,
        )
    }
}

/// The bloom filters a scan with `r` prunes row groups by: loaded when it filters by tag.
pub(crate) fn scan_blooms(
    cold: &ColdHandle,
    file: &ColdFile,
    meta: &ColdMeta,
    r: &Resolved,
) -> Result<Option<Arc<ColdBlooms>>> {
    if !r.pruning || r.tags.is_empty() {
        return Ok(None);
    }
    cold.blooms(file, meta).map(Some)
}

/// A cold object's catalog entry as delete predicates see it: its time span, and with its
/// footer and bloom filters loaded, which tag values it may hold.
pub(crate) struct ColdFacts<'a> {
    entry: &'a ColdEntry,
    tags: Option<ColdTags<'a>>,
}

/// What a cold object's footer and bloom filters say about its tag values.
struct ColdTags<'a> {
    meta: &'a ColdMeta,
    blooms: &'a ColdBlooms,
    /// Table column -> column of the object.
    mapping: Vec<Option<usize>>,
}

impl<'a> ColdFacts<'a> {
    /// The time span only (no tag value is ruled out).
    pub(crate) fn span_only(entry: &'a ColdEntry) -> Self {
        ColdFacts { entry, tags: None }
    }

    /// The time span, and the tag values the object's statistics and bloom filters do not
    /// rule out.
    pub(crate) fn with_blooms(
        entry: &'a ColdEntry,
        table: &TableSchema,
        meta: &'a ColdMeta,
        blooms: &'a ColdBlooms,
    ) -> Self {
        ColdFacts {
            entry,
            tags: Some(ColdTags {
                meta,
                blooms,
                mapping: column_mapping(meta, table),
            }),
        }
    }
}

impl crate::predicate::FileFacts for ColdFacts<'_> {
    fn span(&self) -> (i64, i64) {
        (self.entry.min_ts, self.entry.max_ts)
    }

    fn tag_values(&self, _column: usize) -> Option<(Vec<&str>, bool)> {
        None
    }

    fn may_hold(&self, column: usize, value: &str) -> bool {
        match &self.tags {
            None => true,
            Some(t) => match t.mapping.get(column).copied().flatten() {
                // A column the object lacks is NULL in every row: no value matches.
                None => false,
                Some(c) => t.blooms.may_hold(t.meta, c, value),
            },
        }
    }
}

/// Reads the rows of a cold object that match `r`, as [`Cols`] in table column order with
/// stored types. Row groups and pages whose statistics rule out the time range or every
/// value of a tag filter are not fetched ([`super::prune`]).
fn read_cold(
    file: &ColdFile,
    meta: &ArrowReaderMetadata,
    table: &TableSchema,
    r: &Resolved,
    blooms: Option<&ColdBlooms>,
    merge: bool,
    tombstones: &[&crate::predicate::Tombstone],
) -> Result<Vec<Cols>> {
    let needed = r.columns(crate::scan::Source::Memtable, merge);
    let names: Vec<&str> = table.column_names().collect();
    let mapping = column_mapping(meta, table);
    let md = meta.metadata();
    let selection = super::prune::select(meta, table, r, blooms);
    if selection.groups.is_empty() {
        return Ok(Vec::new());
    }
    // Rows of row groups wholly inside the time range need no time test.
    let relaxed = selection.time_covered.then(|| r.without_time());
    let filter = relaxed.as_ref().unwrap_or(r);
    let roots: Vec<usize> = needed
        .iter()
        .enumerate()
        .filter(|(_, n)| **n)
        .filter_map(|(i, _)| mapping[i])
        .collect();
    let mask = ProjectionMask::roots(md.file_metadata().schema_descr(), roots);
    let mut builder =
        ParquetRecordBatchReaderBuilder::new_with_metadata(file.clone(), meta.clone())
            .with_projection(mask)
            .with_batch_size(crate::segment::BLOCK_ROWS);
    if let Some(rows) = selection.row_selection() {
        builder = builder.with_row_selection(rows);
    }
    let reader = builder
        .with_row_groups(selection.groups)
        .build()
        .map_err(|e| file.error(e))?;
    let storage = table.arrow_schema();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| file.error(e))?;
        let rows = batch.num_rows();
        let mut cols = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            if !needed[i] {
                cols.push(None);
                continue;
            }
            let want = storage.field(i).data_type();
            cols.push(Some(match batch.column_by_name(name) {
                Some(c) => to_storage(c, want)?,
                None => new_null_array(want, rows),
            }));
        }
        let cols = Cols { rows, cols };
        let mask = crate::scan::and_masks(
            crate::scan::predicate_mask(&cols, filter)?,
            crate::predicate::keep_mask(&cols, tombstones, None)?,
        )?;
        let cols = crate::scan::apply_mask(cols, mask)?;
        if cols.rows > 0 {
            out.push(cols);
        }
    }
    Ok(out)
}

/// The type a merge reads a cold object's tag columns as.
fn tag_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// Per tag column of `table`, every value a cold object's dictionaries hold. Reads only the
/// tag columns, which are dictionary-encoded and sorted by series, so small.
pub(crate) fn cold_tag_values(
    file: &ColdFile,
    meta: &ColdMeta,
    table: &TableSchema,
) -> Result<Vec<BTreeSet<String>>> {
    let tags = table.tags.len();
    let mut out = vec![BTreeSet::new(); tags];
    let names: Vec<&str> = table.column_names().collect();
    let schema = meta.schema();
    let present: Vec<(usize, usize)> = (0..tags)
        .filter_map(|t| schema.index_of(names[t + 1]).ok().map(|c| (t, c)))
        .collect();
    if present.is_empty() {
        return Ok(out);
    }
    let md = meta.metadata();
    let mask = ProjectionMask::roots(
        md.file_metadata().schema_descr(),
        present.iter().map(|&(_, c)| c),
    );
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file.clone(), meta.clone())
        .with_projection(mask)
        .with_batch_size(ROW_GROUP_ROWS)
        .build()
        .map_err(|e| file.error(e))?;
    for batch in reader {
        let batch = batch.map_err(|e| file.error(e))?;
        for &(t, _) in &present {
            let Some(col) = batch.column_by_name(names[t + 1]) else {
                continue;
            };
            let col = cast(col, &tag_type())?;
            let dict = col.as_any_dictionary();
            let values = cast(dict.values(), &DataType::Utf8)?;
            let values = values
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8");
            for v in values.iter().flatten() {
                if !out[t].contains(v) {
                    out[t].insert(v.to_owned());
                }
            }
        }
    }
    Ok(out)
}

/// Every row of a cold object, batch by batch, in table column order with stored types and
/// tag columns as `Dictionary(Int32, Utf8)`: a merge's input when late rows are folded into
/// a partition's cold object. A column the file lacks (added later) is NULL.
pub(crate) struct ColdRows {
    reader: ParquetRecordBatchReader,
    file: ColdFile,
    names: Vec<String>,
    storage: SchemaRef,
    tags: usize,
}

impl ColdRows {
    pub(crate) fn open(file: &ColdFile, meta: &ColdMeta, table: &TableSchema) -> Result<Self> {
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file.clone(), meta.clone())
            .with_batch_size(crate::segment::BLOCK_ROWS)
            .build()
            .map_err(|e| file.error(e))?;
        Ok(ColdRows {
            reader,
            file: file.clone(),
            names: table.column_names().map(str::to_owned).collect(),
            storage: table.arrow_schema(),
            tags: table.tags.len(),
        })
    }

    /// The next batch's columns; `None` at the end of the object.
    pub(crate) fn next_batch(&mut self) -> Result<Option<Vec<ArrayRef>>> {
        let Some(batch) = self
            .reader
            .next()
            .transpose()
            .map_err(|e| self.file.error(e))?
        else {
            return Ok(None);
        };
        let rows = batch.num_rows();
        let mut cols = Vec::with_capacity(self.names.len());
        for (i, name) in self.names.iter().enumerate() {
            let want = if (1..=self.tags).contains(&i) {
                tag_type()
            } else {
                self.storage.field(i).data_type().clone()
            };
            cols.push(match batch.column_by_name(name) {
                Some(c) => to_storage(c, &want)?,
                None => new_null_array(&want, rows),
            });
        }
        Ok(Some(cols))
    }
}
