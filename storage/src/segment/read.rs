//! Reading segments through `memmap2`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, StringArray,
    TimestampNanosecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use croaring::{Bitmap, Portable};
use memmap2::Mmap;

use super::footer::{ColumnKind, SegmentMeta};
use super::{CHUNK_RAW, CHUNK_ZSTD, END_MAGIC, HEADER_LEN, MAGIC, TRAILER_LEN, VERSION};
use crate::codec::buf::Reader;
use crate::codec::floats::decode_f64;
use crate::codec::ints::{decode_i64, decode_timestamps};
use crate::codec::misc::{decode_bits, decode_byte_strings, decode_rle, decode_strings};
use crate::codec::CodecError;
use crate::error::{Error, Result};
use crate::schema::FieldType;

/// An open, validated segment.
#[derive(Debug)]
pub(crate) struct Segment {
    path: PathBuf,
    map: Mmap,
    meta: SegmentMeta,
}

impl Segment {
    fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> Error {
        Error::Corruption {
            file: path.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// Maps and validates header, trailer, footer and bitmaps. Chunks are checked when read.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: segment files are immutable once renamed into place; Strata never writes
        // to or truncates a published segment, it only deletes it after the last reader.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let len = map.len();
        if len < HEADER_LEN + TRAILER_LEN {
            return Err(Self::corrupt(
                path,
                0,
                format!("file of {len} bytes is too short"),
            ));
        }
        let bytes: &[u8] = &map;
        if &bytes[..8] != MAGIC {
            return Err(Self::corrupt(path, 0, "bad magic"));
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != VERSION {
            return Err(Error::UnsupportedVersion {
                file: path.to_path_buf(),
                version,
                supported: VERSION,
            });
        }
        if bytes[12..16] != [0, 0, 0, 0] {
            return Err(Self::corrupt(
                path,
                12,
                "reserved header bytes are not zero",
            ));
        }
        let trailer_at = len - TRAILER_LEN;
        let mut t = Reader::new(&bytes[trailer_at..]);
        let trailer = (|| -> std::result::Result<_, CodecError> {
            Ok((t.u64()?, t.u32()?, t.u32()?, t.bytes(8)?))
        })();
        let (footer_offset, footer_len, footer_crc, end) =
            trailer.map_err(|e| Self::corrupt(path, trailer_at as u64, e.to_string()))?;
        if end != END_MAGIC {
            return Err(Self::corrupt(path, trailer_at as u64 + 16, "bad end magic"));
        }
        if footer_offset < HEADER_LEN as u64
            || footer_offset + u64::from(footer_len) != trailer_at as u64
        {
            return Err(Self::corrupt(
                path,
                trailer_at as u64,
                format!("footer at {footer_offset}+{footer_len} does not end at the trailer"),
            ));
        }
        let footer = &bytes[footer_offset as usize..trailer_at];
        let actual = crc32fast::hash(footer);
        if actual != footer_crc {
            return Err(Self::corrupt(
                path,
                footer_offset,
                format!(
                    "footer checksum mismatch (stored {footer_crc:#010x}, computed {actual:#010x})"
                ),
            ));
        }
        let mut meta = SegmentMeta::decode(footer)
            .map_err(|e| Self::corrupt(path, footer_offset, format!("footer: {e}")))?;
        for dict in &mut meta.tags {
            for r in &dict.bitmap_refs {
                let start = r.offset as usize;
                let end = start.saturating_add(r.len as usize);
                let Some(raw) = bytes
                    .get(start..end)
                    .filter(|_| end <= footer_offset as usize)
                else {
                    return Err(Self::corrupt(path, r.offset, "bitmap out of bounds"));
                };
                if crc32fast::hash(raw) != r.crc {
                    return Err(Self::corrupt(path, r.offset, "bitmap checksum mismatch"));
                }
                let bitmap = Bitmap::try_deserialize::<Portable>(raw)
                    .ok_or_else(|| Self::corrupt(path, r.offset, "bitmap does not deserialize"))?;
                dict.bitmaps.push(bitmap);
            }
        }
        Ok(Segment {
            path: path.to_path_buf(),
            map,
            meta,
        })
    }

    pub(crate) fn meta(&self) -> &SegmentMeta {
        &self.meta
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Validated, decompressed body of a chunk.
    fn chunk_body(&self, block: usize, column: usize) -> Result<(Cow<'_, [u8]>, u64)> {
        let chunk = self
            .meta
            .blocks
            .get(block)
            .and_then(|b| b.chunks.get(column))
            .ok_or_else(|| Self::corrupt(&self.path, 0, "chunk index out of range"))?;
        let start = chunk.offset as usize;
        let end = start.saturating_add(chunk.len as usize);
        let bytes = self
            .map
            .get(start..end)
            .filter(|_| start >= HEADER_LEN && end <= self.map.len() - TRAILER_LEN)
            .ok_or_else(|| Self::corrupt(&self.path, chunk.offset, "chunk out of bounds"))?;
        let actual = crc32fast::hash(bytes);
        if actual != chunk.crc {
            return Err(Self::corrupt(
                &self.path,
                chunk.offset,
                format!(
                    "chunk checksum mismatch (block {block}, column {column}: stored {:#010x}, computed {actual:#010x})",
                    chunk.crc
                ),
            ));
        }
        let body = match bytes.first() {
            Some(&CHUNK_RAW) => Cow::Borrowed(&bytes[1..]),
            Some(&CHUNK_ZSTD) if bytes.len() >= 5 => {
                let raw_len = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
                let raw = zstd::bulk::decompress(&bytes[5..], raw_len)
                    .map_err(|e| Self::corrupt(&self.path, chunk.offset, format!("zstd: {e}")))?;
                Cow::Owned(raw)
            }
            _ => {
                return Err(Self::corrupt(
                    &self.path,
                    chunk.offset,
                    "unknown chunk framing",
                ))
            }
        };
        Ok((body, chunk.offset))
    }

    /// Decodes one column of one block into an Arrow array.
    pub(crate) fn read_column(&self, block: usize, column: usize) -> Result<ArrayRef> {
        let (body, offset) = self.chunk_body(block, column)?;
        let rows = self.meta.blocks[block].rows as usize;
        let kind = self.meta.columns[column].1;
        self.decode_column(&body, rows, kind, column).map_err(|e| {
            Self::corrupt(
                &self.path,
                offset,
                format!("column {column} of block {block}: {e}"),
            )
        })
    }

    /// The tag codes of one column of one block: 1-based indexes into the segment's
    /// dictionary for that column ([`SegmentMeta::tag_dict`]), 0 for NULL. What a merge
    /// compares instead of strings.
    pub(crate) fn read_tag_codes(&self, block: usize, column: usize) -> Result<Vec<u32>> {
        let (body, offset) = self.chunk_body(block, column)?;
        let rows = self.meta.blocks[block].rows as usize;
        let corrupt = |e: CodecError| {
            Self::corrupt(
                &self.path,
                offset,
                format!("column {column} of block {block}: {e}"),
            )
        };
        let dict_len = self
            .meta
            .tag_dict(column)
            .map(|d| d.values.len())
            .ok_or_else(|| {
                corrupt(CodecError::OutOfRange {
                    what: "tag dictionary",
                })
            })?;
        let mut r = Reader::new(&body);
        match r.u8().map_err(corrupt)? {
            0 => {}
            tag => {
                return Err(corrupt(CodecError::UnknownEncoding {
                    what: "validity flag",
                    tag,
                }))
            }
        }
        let mut codes = Vec::with_capacity(rows);
        decode_rle(&mut r, rows, &mut codes).map_err(corrupt)?;
        if r.remaining() != 0 {
            return Err(corrupt(CodecError::OutOfRange {
                what: "trailing chunk bytes",
            }));
        }
        if codes.iter().any(|&c| c as usize > dict_len) {
            return Err(corrupt(CodecError::OutOfRange { what: "tag code" }));
        }
        Ok(codes)
    }

    fn decode_column(
        &self,
        body: &[u8],
        rows: usize,
        kind: ColumnKind,
        column: usize,
    ) -> std::result::Result<ArrayRef, CodecError> {
        let mut r = Reader::new(body);
        let has_validity = r.u8()?;
        let validity = match (kind, has_validity) {
            (ColumnKind::Field(_), 1) => Some(decode_bits(&mut r, rows)?),
            (_, 0) => None,
            (_, tag) => {
                return Err(CodecError::UnknownEncoding {
                    what: "validity flag",
                    tag,
                })
            }
        };
        let present = validity
            .as_ref()
            .map_or(rows, |v| v.iter().filter(|&&b| b).count());
        let nulls = validity.map(NullBuffer::from);
        // Spreads `present` dense values over `rows` slots using the validity.
        fn spread<T: Copy + Default>(
            dense: Vec<T>,
            nulls: &Option<NullBuffer>,
            rows: usize,
        ) -> Vec<T> {
            match nulls {
                None => dense,
                Some(n) => {
                    let mut out = Vec::with_capacity(rows);
                    let mut it = dense.into_iter();
                    for i in 0..rows {
                        out.push(if n.is_valid(i) {
                            it.next().unwrap_or_default()
                        } else {
                            T::default()
                        });
                    }
                    out
                }
            }
        }
        let array: ArrayRef = match kind {
            ColumnKind::Time => {
                let mut v = Vec::with_capacity(rows);
                decode_timestamps(&mut r, rows, &mut v)?;
                Arc::new(
                    TimestampNanosecondArray::new(ScalarBuffer::from(v), None).with_timezone("UTC"),
                )
            }
            ColumnKind::Tag => {
                let mut codes = Vec::with_capacity(rows);
                decode_rle(&mut r, rows, &mut codes)?;
                let dict = self.meta.tag_dict(column).ok_or(CodecError::OutOfRange {
                    what: "tag dictionary",
                })?;
                let mut out = Vec::with_capacity(rows);
                for c in codes {
                    out.push(match c {
                        0 => None,
                        c => Some(
                            dict.values
                                .get(c as usize - 1)
                                .ok_or(CodecError::OutOfRange { what: "tag code" })?
                                .as_str(),
                        ),
                    });
                }
                Arc::new(StringArray::from(out))
            }
            ColumnKind::Field(FieldType::Float) => {
                let mut v = Vec::with_capacity(present);
                decode_f64(&mut r, present, &mut v)?;
                Arc::new(Float64Array::new(
                    ScalarBuffer::from(spread(v, &nulls, rows)),
                    nulls,
                ))
            }
            ColumnKind::Field(FieldType::Integer) => {
                let mut v = Vec::with_capacity(present);
                decode_i64(&mut r, present, &mut v)?;
                Arc::new(Int64Array::new(
                    ScalarBuffer::from(spread(v, &nulls, rows)),
                    nulls,
                ))
            }
            ColumnKind::Field(FieldType::Boolean) => {
                let v = decode_bits(&mut r, present)?;
                let v = spread(v, &nulls, rows);
                Arc::new(BooleanArray::new(v.into(), nulls))
            }
            ColumnKind::Field(FieldType::Text) => {
                let (bytes, offsets) = decode_strings(&mut r, present)?;
                let offsets = spread_offsets(offsets, &nulls, rows);
                Arc::new(
                    StringArray::try_new(
                        OffsetBuffer::new(ScalarBuffer::from(offsets)),
                        bytes.into(),
                        nulls,
                    )
                    .map_err(|_| CodecError::InvalidUtf8)?,
                )
            }
            ColumnKind::Field(FieldType::Bytes) => {
                let (bytes, offsets) = decode_byte_strings(&mut r, present)?;
                let offsets = spread_offsets(offsets, &nulls, rows);
                Arc::new(
                    BinaryArray::try_new(
                        OffsetBuffer::new(ScalarBuffer::from(offsets)),
                        bytes.into(),
                        nulls,
                    )
                    .map_err(|_| CodecError::OutOfRange {
                        what: "byte string offsets",
                    })?,
                )
            }
        };
        if r.remaining() != 0 {
            return Err(CodecError::OutOfRange {
                what: "trailing chunk bytes",
            });
        }
        Ok(array)
    }
}

/// Offsets of the `present` values spread over `rows` rows: a null row gets an empty slot.
fn spread_offsets(offsets: Vec<i32>, nulls: &Option<NullBuffer>, rows: usize) -> Vec<i32> {
    let Some(n) = nulls else {
        return offsets;
    };
    let mut full = Vec::with_capacity(rows + 1);
    full.push(0i32);
    let mut k = 0;
    for i in 0..rows {
        if n.is_valid(i) {
            k += 1;
        }
        full.push(offsets.get(k).copied().unwrap_or(0));
    }
    full
}
