//! Entry points into the codecs and the memtable for benchmarks and fuzzers (feature
//! `internals`). Not a stable API: it follows whatever the private modules do.
//!
//! Encoders append to `out`, as inside the segment writer. Decoders take the encoded bytes
//! and the value count (which the segment footer supplies in real reads) and return the
//! values, or the codec error's message for corrupt input.

use arrow::array::RecordBatch;

use crate::batch::WriteBatch;
use crate::codec::buf::Reader;
use crate::codec::{floats, ints, misc};
use crate::error::Result;
use crate::memtable;
use crate::schema::TableSchema;

/// A codec decoding error, as text (the codec's error type is private).
pub type DecodeResult<T> = std::result::Result<T, String>;

/// Delta-of-delta timestamps.
pub fn encode_timestamps(values: &[i64], out: &mut Vec<u8>) {
    ints::encode_timestamps(values, out);
}

/// Inverse of [`encode_timestamps`].
pub fn decode_timestamps(data: &[u8], n: usize) -> DecodeResult<Vec<i64>> {
    let mut out = Vec::with_capacity(n);
    ints::decode_timestamps(&mut Reader::new(data), n, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Floats: the smaller of the decimal (ALP-style) and Gorilla XOR encodings.
pub fn encode_f64(values: &[f64], out: &mut Vec<u8>) {
    floats::encode_f64(values, out);
}

/// Inverse of [`encode_f64`].
pub fn decode_f64(data: &[u8], n: usize) -> DecodeResult<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    floats::decode_f64(&mut Reader::new(data), n, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Integers: delta or frame-of-reference, bit-packed.
pub fn encode_i64(values: &[i64], out: &mut Vec<u8>) {
    ints::encode_i64(values, out);
}

/// Inverse of [`encode_i64`].
pub fn decode_i64(data: &[u8], n: usize) -> DecodeResult<Vec<i64>> {
    let mut out = Vec::with_capacity(n);
    ints::decode_i64(&mut Reader::new(data), n, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Run-length tag dictionary codes.
pub fn encode_rle(codes: &[u32], out: &mut Vec<u8>) {
    misc::encode_rle(codes, out);
}

/// Inverse of [`encode_rle`].
pub fn decode_rle(data: &[u8], n: usize) -> DecodeResult<Vec<u32>> {
    let mut out = Vec::with_capacity(n);
    misc::decode_rle(&mut Reader::new(data), n, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Booleans as bits.
pub fn encode_bits(values: &[bool], out: &mut Vec<u8>) {
    misc::encode_bits(values.iter().copied(), out);
}

/// Inverse of [`encode_bits`].
pub fn decode_bits(data: &[u8], n: usize) -> DecodeResult<Vec<bool>> {
    misc::decode_bits(&mut Reader::new(data), n).map_err(|e| e.to_string())
}

/// Text values.
pub fn encode_strings<'a>(values: impl Iterator<Item = &'a str> + Clone, out: &mut Vec<u8>) {
    misc::encode_strings(values, out);
}

/// Inverse of [`encode_strings`]: the concatenated bytes and the Arrow offsets.
pub fn decode_strings(data: &[u8], n: usize) -> DecodeResult<(Vec<u8>, Vec<i32>)> {
    misc::decode_strings(&mut Reader::new(data), n).map_err(|e| e.to_string())
}

/// The memtable of one partition, as the engine uses it.
#[derive(Debug, Clone)]
pub struct Memtable(memtable::Memtable);

impl Memtable {
    pub fn new(schema: &TableSchema) -> Self {
        Memtable(memtable::Memtable::new(schema))
    }

    /// Inserts every row of `batch` (assumed to lie in one partition); returns bytes added.
    pub fn insert(&mut self, batch: &WriteBatch, lsn: u64) -> usize {
        let rows: Vec<usize> = (0..batch.len()).collect();
        self.0.insert(batch, &rows, lsn)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// The rows sorted by (series, time), deduplicated unless append-only: what scans
    /// read.
    pub fn to_batch(&self, schema: &TableSchema) -> Result<RecordBatch> {
        Ok(self.0.to_batch(schema)?.0)
    }

    /// The same rows with dictionary-encoded tags: what a flush writes.
    pub fn to_flush_batch(&self, schema: &TableSchema) -> Result<RecordBatch> {
        Ok(self.0.to_flush_batch(schema, |_, _| Ok(None))?.0)
    }
}
