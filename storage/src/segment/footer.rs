//! The segment footer: schema, block index, tag dictionaries.

use croaring::Bitmap;

use crate::codec::buf::{put_i64, put_str, put_u32, put_u64, put_u8, Reader};
use crate::codec::{CodecError, CodecResult};
use crate::schema::FieldType;

/// What a column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    Time,
    Tag,
    Field(FieldType),
}

impl ColumnKind {
    fn code(self) -> u8 {
        match self {
            ColumnKind::Time => 0,
            ColumnKind::Tag => 1,
            ColumnKind::Field(t) => t.code(),
        }
    }

    fn from_code(code: u8) -> CodecResult<Self> {
        match code {
            0 => Ok(ColumnKind::Time),
            1 => Ok(ColumnKind::Tag),
            c => {
                FieldType::from_code(c)
                    .map(ColumnKind::Field)
                    .ok_or(CodecError::UnknownEncoding {
                        what: "column kind",
                        tag: c,
                    })
            }
        }
    }
}

/// Location and statistics of one column chunk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChunkMeta {
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) crc: u32,
    pub(crate) null_count: u32,
    /// Min and max as raw bits: i64 for time and integers, f64 bits for floats (NaN
    /// excluded). `None` when there are no non-null values or the type has no order stats.
    pub(crate) stats: Option<(u64, u64)>,
}

/// One block: a run of rows and one chunk per column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BlockMeta {
    pub(crate) row_start: u32,
    pub(crate) rows: u32,
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
    pub(crate) chunks: Vec<ChunkMeta>,
}

/// Location of a serialized bitmap.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BitmapRef {
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) crc: u32,
}

/// The dictionary of one tag column: sorted distinct values and their row bitmaps.
/// Row codes in chunks are `0` for NULL and `i + 1` for `values[i]`.
#[derive(Debug, Clone)]
pub(crate) struct TagDict {
    pub(crate) column: usize,
    pub(crate) values: Vec<String>,
    pub(crate) bitmap_refs: Vec<BitmapRef>,
    pub(crate) bitmaps: Vec<Bitmap>,
}

/// Everything the footer says about a segment.
#[derive(Debug, Clone)]
pub(crate) struct SegmentMeta {
    pub(crate) columns: Vec<(String, ColumnKind)>,
    pub(crate) rows: u64,
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
    pub(crate) max_lsn: u64,
    pub(crate) blocks: Vec<BlockMeta>,
    pub(crate) tags: Vec<TagDict>,
}

impl SegmentMeta {
    pub(crate) fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(n, _)| n == name)
    }

    pub(crate) fn tag_dict(&self, column: usize) -> Option<&TagDict> {
        self.tags.iter().find(|t| t.column == column)
    }

    /// Footer bytes. Layout:
    ///
    /// ```text
    /// u32 C; C x (str name, u8 kind: 0 time, 1 tag, 2 float, 3 integer, 4 boolean, 5 text)
    /// u64 rows, i64 min_ts, i64 max_ts, u64 max_lsn
    /// u32 T tag dictionaries; T x (u32 column, u32 V, V x (str value, u64 bitmap offset,
    ///                                                    u32 bitmap len, u32 bitmap crc))
    /// u32 B blocks; B x (u32 rows, i64 min_ts, i64 max_ts,
    ///                    C x (u64 offset, u32 len, u32 crc, u32 null_count,
    ///                         u8 has_stats, u64 min, u64 max))
    /// ```
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_u32(&mut out, self.columns.len() as u32);
        for (name, kind) in &self.columns {
            put_str(&mut out, name);
            put_u8(&mut out, kind.code());
        }
        put_u64(&mut out, self.rows);
        put_i64(&mut out, self.min_ts);
        put_i64(&mut out, self.max_ts);
        put_u64(&mut out, self.max_lsn);
        put_u32(&mut out, self.tags.len() as u32);
        for t in &self.tags {
            put_u32(&mut out, t.column as u32);
            put_u32(&mut out, t.values.len() as u32);
            for (v, b) in t.values.iter().zip(&t.bitmap_refs) {
                put_str(&mut out, v);
                put_u64(&mut out, b.offset);
                put_u32(&mut out, b.len);
                put_u32(&mut out, b.crc);
            }
        }
        put_u32(&mut out, self.blocks.len() as u32);
        for b in &self.blocks {
            put_u32(&mut out, b.rows);
            put_i64(&mut out, b.min_ts);
            put_i64(&mut out, b.max_ts);
            for c in &b.chunks {
                put_u64(&mut out, c.offset);
                put_u32(&mut out, c.len);
                put_u32(&mut out, c.crc);
                put_u32(&mut out, c.null_count);
                let (has, (min, max)) = match c.stats {
                    Some(s) => (1, s),
                    None => (0, (0, 0)),
                };
                put_u8(&mut out, has);
                put_u64(&mut out, min);
                put_u64(&mut out, max);
            }
        }
        out
    }

    /// Parses footer bytes; bitmaps are left empty for the reader to load.
    pub(crate) fn decode(bytes: &[u8]) -> CodecResult<Self> {
        let mut r = Reader::new(bytes);
        let n_cols = r.count(5)?;
        let mut columns = Vec::with_capacity(n_cols);
        for _ in 0..n_cols {
            let name = r.str()?.to_owned();
            let kind = ColumnKind::from_code(r.u8()?)?;
            columns.push((name, kind));
        }
        let rows = r.u64()?;
        let min_ts = r.i64()?;
        let max_ts = r.i64()?;
        let max_lsn = r.u64()?;
        let n_tags = r.count(8)?;
        let mut tags = Vec::with_capacity(n_tags);
        for _ in 0..n_tags {
            let column = r.u32()? as usize;
            if columns.get(column).map(|c| c.1) != Some(ColumnKind::Tag) {
                return Err(CodecError::OutOfRange { what: "tag column" });
            }
            let n_values = r.count(20)?;
            let mut values = Vec::with_capacity(n_values);
            let mut bitmap_refs = Vec::with_capacity(n_values);
            for _ in 0..n_values {
                values.push(r.str()?.to_owned());
                bitmap_refs.push(BitmapRef {
                    offset: r.u64()?,
                    len: r.u32()?,
                    crc: r.u32()?,
                });
            }
            tags.push(TagDict {
                column,
                values,
                bitmap_refs,
                bitmaps: Vec::new(),
            });
        }
        let n_blocks = r.count(20)?;
        let mut blocks = Vec::with_capacity(n_blocks);
        let mut row_start: u64 = 0;
        for _ in 0..n_blocks {
            let rows = r.u32()?;
            let min_ts = r.i64()?;
            let max_ts = r.i64()?;
            let mut chunks = Vec::with_capacity(n_cols);
            for _ in 0..n_cols {
                let offset = r.u64()?;
                let len = r.u32()?;
                let crc = r.u32()?;
                let null_count = r.u32()?;
                let has = r.u8()?;
                let min = r.u64()?;
                let max = r.u64()?;
                chunks.push(ChunkMeta {
                    offset,
                    len,
                    crc,
                    null_count,
                    stats: (has != 0).then_some((min, max)),
                });
            }
            blocks.push(BlockMeta {
                row_start: u32::try_from(row_start)
                    .map_err(|_| CodecError::OutOfRange { what: "row count" })?,
                rows,
                min_ts,
                max_ts,
                chunks,
            });
            row_start += u64::from(rows);
        }
        if row_start != rows {
            return Err(CodecError::CountMismatch {
                expected: rows as usize,
                actual: row_start as usize,
            });
        }
        if r.remaining() != 0 {
            return Err(CodecError::OutOfRange {
                what: "footer length",
            });
        }
        Ok(SegmentMeta {
            columns,
            rows,
            min_ts,
            max_ts,
            max_lsn,
            blocks,
            tags,
        })
    }
}
