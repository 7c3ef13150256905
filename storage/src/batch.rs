//! Write batches: rows for one table, as given to [`crate::Engine::write`] and as logged in
//! the WAL.
//!
//! Tags are interned per batch: a batch holds its distinct series (tag tuples) once and a
//! series index per row, so a batch of thousands of rows from a hundred hosts carries a
//! hundred tag tuples.
//!
//! WAL payload (record kind [`WAL_KIND_WRITE`]), little-endian:
//!
//! ```text
//! u8      payload version (2; version 1 lacks the table id and is still read)
//! str     table name                        (str = u32 length + UTF-8)
//! u64     table id                          (version 2 only)
//! u32     tag count T;   T x str tag name
//! u32     field count F; F x (str name, u8 type: 2 float, 3 integer, 4 boolean, 5 text)
//! u32     series count S; S x T x (u8 present, [str value if present])
//! u32     row count N
//! stream  N series indices                  (u64 stream, see codec::ints)
//! N x i64 timestamps (ns)
//! F x     u8 has_nulls, [validity bits if has_nulls], then the N values:
//!         float/integer: N x 8 bytes LE; boolean: bits; text: codec::misc strings
//! ```
//! Null slots hold 0 / false / "".

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use crate::codec::buf::{put_str, put_u32, put_u64, put_u8, Reader};
use crate::codec::ints::{decode_u64_stream, encode_u64_stream};
use crate::codec::misc::{
    decode_bits, decode_byte_strings, decode_strings, encode_bits, encode_byte_strings,
    encode_strings,
};
use crate::codec::CodecError;
use crate::error::{Error, Result};
use crate::schema::{FieldType, TableSchema, NULL_TIME};

/// WAL record kind of a write batch.
pub(crate) const WAL_KIND_WRITE: u8 = 1;
/// The payload version written. Version 1 (no table id) is still read.
const PAYLOAD_VERSION: u8 = 2;

/// A field value of one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Float(f64),
    Integer(i64),
    Boolean(bool),
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl Value<'_> {
    fn field_type(&self) -> Option<FieldType> {
        match self {
            Value::Null => None,
            Value::Float(_) => Some(FieldType::Float),
            Value::Integer(_) => Some(FieldType::Integer),
            Value::Boolean(_) => Some(FieldType::Boolean),
            Value::Text(_) => Some(FieldType::Text),
            Value::Bytes(_) => Some(FieldType::Bytes),
        }
    }
}

/// The values of one field column of a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldData {
    Float(Vec<f64>),
    Integer(Vec<i64>),
    Boolean(Vec<bool>),
    Text(Vec<String>),
    Bytes(Vec<Vec<u8>>),
}

impl FieldData {
    fn with_capacity(ty: FieldType, rows: usize) -> Self {
        match ty {
            FieldType::Float => FieldData::Float(Vec::with_capacity(rows)),
            FieldType::Integer => FieldData::Integer(Vec::with_capacity(rows)),
            FieldType::Boolean => FieldData::Boolean(Vec::with_capacity(rows)),
            FieldType::Text => FieldData::Text(Vec::with_capacity(rows)),
            FieldType::Bytes => FieldData::Bytes(Vec::with_capacity(rows)),
        }
    }
}

/// A field column of a batch: values plus validity (`None` = no nulls).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldColumn {
    pub(crate) name: String,
    pub(crate) ty: FieldType,
    pub(crate) data: FieldData,
    pub(crate) validity: Option<Vec<bool>>,
}

/// A series (tag tuple) of one [`WriteBatch`], from [`WriteBatch::add_series`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesId(u32);

/// Rows for one table, built against its schema.
#[derive(Debug, Clone)]
pub struct WriteBatch {
    pub(crate) table: String,
    pub(crate) tag_names: Vec<String>,
    /// Distinct tag tuples, in tag-name order.
    pub(crate) series: Vec<Vec<Option<String>>>,
    series_lookup: SeriesLookup,
    pub(crate) row_series: Vec<u32>,
    pub(crate) ts: Vec<i64>,
    pub(crate) fields: Vec<FieldColumn>,
    /// The smallest time a row may have ([`TableSchema::min_time`]), besides
    /// [`NULL_TIME`].
    min_time: i64,
}

impl PartialEq for WriteBatch {
    fn eq(&self, other: &Self) -> bool {
        self.table == other.table
            && self.tag_names == other.tag_names
            && self.series == other.series
            && self.row_series == other.row_series
            && self.ts == other.ts
            && self.fields == other.fields
    }
}

/// Series lookup: foldhash rather than SipHash (interning a series is per row on the
/// ingest path), randomly seeded per batch so crafted tags cannot force collisions.
type SeriesLookup = HashMap<u64, Vec<u32>, foldhash::fast::RandomState>;

fn hash_tags<'a>(
    state: &foldhash::fast::RandomState,
    tags: impl Iterator<Item = Option<&'a str>>,
) -> u64 {
    let mut h = state.build_hasher();
    for t in tags {
        t.hash(&mut h);
    }
    h.finish()
}

impl WriteBatch {
    /// An empty batch with every tag and field of `schema`.
    pub fn new(schema: &TableSchema) -> Self {
        Self::with_capacity(schema, 0)
    }

    /// An empty batch with room for `rows` rows.
    pub fn with_capacity(schema: &TableSchema, rows: usize) -> Self {
        WriteBatch {
            table: schema.name.clone(),
            tag_names: schema.tags.clone(),
            series: Vec::new(),
            series_lookup: HashMap::default(),
            row_series: Vec::with_capacity(rows),
            ts: Vec::with_capacity(rows),
            fields: schema
                .fields
                .iter()
                .map(|f| FieldColumn {
                    name: f.name.clone(),
                    ty: f.ty,
                    data: FieldData::with_capacity(f.ty, rows),
                    validity: None,
                })
                .collect(),
            min_time: schema.min_time(),
        }
    }

    /// The table this batch writes to.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True if the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Bytes the batch holds in memory, about (what a transaction's buffer counts).
    pub fn memory_bytes(&self) -> usize {
        let series: usize = self
            .series
            .iter()
            .flatten()
            .map(|t| 24 + t.as_ref().map_or(0, String::len))
            .sum();
        let fields: usize = self
            .fields
            .iter()
            .map(|f| match &f.data {
                FieldData::Float(v) => v.len() * 8,
                FieldData::Integer(v) => v.len() * 8,
                FieldData::Boolean(v) => v.len(),
                FieldData::Text(v) => v.iter().map(|s| 24 + s.len()).sum(),
                FieldData::Bytes(v) => v.iter().map(|s| 24 + s.len()).sum(),
            })
            .sum();
        series + self.row_series.len() * 4 + self.ts.len() * 8 + fields
    }

    /// Appends a row: one tag value per schema tag (in schema order), a timestamp in
    /// nanoseconds UTC, one value per schema field (in schema order).
    pub fn push_row(&mut self, tags: &[Option<&str>], ts: i64, fields: &[Value<'_>]) -> Result<()> {
        self.check_time(ts)?;
        self.check_tags(tags)?;
        self.check_fields(fields)?;
        let series = self.intern(tags);
        self.push_checked(series, ts, fields);
        Ok(())
    }

    /// The batch's id for a series (one tag value per schema tag, in schema order),
    /// added if new; rows of it are appended with [`WriteBatch::push_series_row`]. A
    /// writer that sees the same series again and again resolves it once this way.
    pub fn add_series(&mut self, tags: &[Option<&str>]) -> Result<SeriesId> {
        self.check_tags(tags)?;
        Ok(SeriesId(self.intern(tags)))
    }

    /// Appends a row of a series of this batch (see [`WriteBatch::add_series`]).
    pub fn push_series_row(
        &mut self,
        series: SeriesId,
        ts: i64,
        fields: &[Value<'_>],
    ) -> Result<()> {
        if series.0 as usize >= self.series.len() {
            return Err(Error::ArityMismatch {
                table: self.table.clone(),
                what: "series (an id from another batch)",
                expected: self.series.len(),
                found: series.0 as usize + 1,
            });
        }
        self.check_time(ts)?;
        self.check_fields(fields)?;
        self.push_checked(series.0, ts, fields);
        Ok(())
    }

    /// A row's time must be [`NULL_TIME`] or at least the first valid time.
    fn check_time(&self, ts: i64) -> Result<()> {
        if ts < self.min_time && ts != NULL_TIME {
            return Err(Error::TimeOutOfRange {
                table: self.table.clone(),
                ts,
                min: self.min_time,
            });
        }
        Ok(())
    }

    fn check_tags(&self, tags: &[Option<&str>]) -> Result<()> {
        if tags.len() != self.tag_names.len() {
            return Err(Error::ArityMismatch {
                table: self.table.clone(),
                what: "tag values",
                expected: self.tag_names.len(),
                found: tags.len(),
            });
        }
        Ok(())
    }

    fn check_fields(&self, fields: &[Value<'_>]) -> Result<()> {
        if fields.len() != self.fields.len() {
            return Err(Error::ArityMismatch {
                table: self.table.clone(),
                what: "field values",
                expected: self.fields.len(),
                found: fields.len(),
            });
        }
        for (col, v) in self.fields.iter().zip(fields) {
            if let Some(found) = v.field_type().filter(|&t| t != col.ty) {
                return Err(Error::TypeMismatch {
                    table: self.table.clone(),
                    column: col.name.clone(),
                    expected: col.ty,
                    found,
                });
            }
        }
        Ok(())
    }

    /// Appends a row whose field arity and types were checked.
    fn push_checked(&mut self, series: u32, ts: i64, fields: &[Value<'_>]) {
        let row = self.ts.len();
        self.row_series.push(series);
        self.ts.push(ts);
        for (col, v) in self.fields.iter_mut().zip(fields) {
            let valid = !matches!(v, Value::Null);
            match (&mut col.data, v) {
                (FieldData::Float(d), Value::Float(x)) => d.push(*x),
                (FieldData::Integer(d), Value::Integer(x)) => d.push(*x),
                (FieldData::Boolean(d), Value::Boolean(x)) => d.push(*x),
                (FieldData::Text(d), Value::Text(x)) => d.push((*x).to_owned()),
                (FieldData::Bytes(d), Value::Bytes(x)) => d.push(x.to_vec()),
                (FieldData::Float(d), _) => d.push(0.0),
                (FieldData::Integer(d), _) => d.push(0),
                (FieldData::Boolean(d), _) => d.push(false),
                (FieldData::Text(d), _) => d.push(String::new()),
                (FieldData::Bytes(d), _) => d.push(Vec::new()),
            }
            match (&mut col.validity, valid) {
                (Some(v), _) => v.push(valid),
                (None, false) => {
                    let mut v = vec![true; row];
                    v.push(false);
                    col.validity = Some(v);
                }
                (None, true) => {}
            }
        }
    }

    fn intern(&mut self, tags: &[Option<&str>]) -> u32 {
        let h = hash_tags(self.series_lookup.hasher(), tags.iter().copied());
        let candidates = self.series_lookup.entry(h).or_default();
        for &c in candidates.iter() {
            let known = &self.series[c as usize];
            if known.iter().map(Option::as_deref).eq(tags.iter().copied()) {
                return c;
            }
        }
        let id = self.series.len() as u32;
        self.series
            .push(tags.iter().map(|t| t.map(str::to_owned)).collect());
        candidates.push(id);
        id
    }

    /// Encodes the batch as a WAL payload.
    /// The WAL payload for this batch, written to the incarnation `table_id` of its table
    /// (so replay never applies it to a table of the same name created after a drop).
    pub(crate) fn encode(&self, table_id: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(72 + self.ts.len() * (12 + 9 * self.fields.len()));
        put_u8(&mut out, PAYLOAD_VERSION);
        put_str(&mut out, &self.table);
        put_u64(&mut out, table_id);
        put_u32(&mut out, self.tag_names.len() as u32);
        for t in &self.tag_names {
            put_str(&mut out, t);
        }
        put_u32(&mut out, self.fields.len() as u32);
        for f in &self.fields {
            put_str(&mut out, &f.name);
            put_u8(&mut out, f.ty.code());
        }
        put_u32(&mut out, self.series.len() as u32);
        for s in &self.series {
            for v in s {
                match v {
                    Some(v) => {
                        put_u8(&mut out, 1);
                        put_str(&mut out, v);
                    }
                    None => put_u8(&mut out, 0),
                }
            }
        }
        put_u32(&mut out, self.ts.len() as u32);
        let series: Vec<u64> = self.row_series.iter().map(|&s| u64::from(s)).collect();
        encode_u64_stream(&series, &mut out);
        for t in &self.ts {
            out.extend_from_slice(&t.to_le_bytes());
        }
        for f in &self.fields {
            match &f.validity {
                Some(v) => {
                    put_u8(&mut out, 1);
                    encode_bits(v.iter().copied(), &mut out);
                }
                None => put_u8(&mut out, 0),
            }
            match &f.data {
                FieldData::Float(d) => d
                    .iter()
                    .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                FieldData::Integer(d) => d
                    .iter()
                    .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                FieldData::Boolean(d) => encode_bits(d.iter().copied(), &mut out),
                FieldData::Text(d) => encode_strings(d.iter().map(String::as_str), &mut out),
                FieldData::Bytes(d) => encode_byte_strings(d.iter().map(Vec::as_slice), &mut out),
            }
        }
        out
    }

    /// Decodes a WAL payload written by [`WriteBatch::encode`].
    /// Decodes a WAL payload: the batch and, from version 2 on, the table id it was
    /// written to.
    pub(crate) fn decode(payload: &[u8]) -> Result<(Self, Option<u64>), CodecError> {
        let mut r = Reader::new(payload);
        let version = r.u8()?;
        if version != 1 && version != PAYLOAD_VERSION {
            return Err(CodecError::UnknownEncoding {
                what: "write batch version",
                tag: version,
            });
        }
        let table = r.str()?.to_owned();
        let table_id = if version >= 2 { Some(r.u64()?) } else { None };
        let n_tags = r.count(4)?;
        let tag_names = (0..n_tags)
            .map(|_| r.str().map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        let n_fields = r.count(5)?;
        let mut field_defs = Vec::with_capacity(n_fields);
        for _ in 0..n_fields {
            let name = r.str()?.to_owned();
            let code = r.u8()?;
            let ty = FieldType::from_code(code).ok_or(CodecError::UnknownEncoding {
                what: "field type",
                tag: code,
            })?;
            field_defs.push((name, ty));
        }
        let n_series = r.count(n_tags)?;
        let mut series = Vec::with_capacity(n_series);
        for _ in 0..n_series {
            let mut tags = Vec::with_capacity(n_tags);
            for _ in 0..n_tags {
                tags.push(match r.u8()? {
                    0 => None,
                    _ => Some(r.str()?.to_owned()),
                });
            }
            series.push(tags);
        }
        let n = r.count(8)?;
        let mut row_series_raw = Vec::with_capacity(n);
        decode_u64_stream(&mut r, n, &mut row_series_raw)?;
        let mut row_series = Vec::with_capacity(n);
        for s in row_series_raw {
            if s as usize >= n_series {
                return Err(CodecError::OutOfRange {
                    what: "series index",
                });
            }
            row_series.push(s as u32);
        }
        let ts_bytes = r.bytes(n * 8)?;
        let ts = ts_bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let mut fields = Vec::with_capacity(n_fields);
        for (name, ty) in field_defs {
            let validity = match r.u8()? {
                0 => None,
                _ => Some(decode_bits(&mut r, n)?),
            };
            let data = match ty {
                FieldType::Float => FieldData::Float(
                    r.bytes(n * 8)?
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                        .collect(),
                ),
                FieldType::Integer => FieldData::Integer(
                    r.bytes(n * 8)?
                        .chunks_exact(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                        .collect(),
                ),
                FieldType::Boolean => FieldData::Boolean(decode_bits(&mut r, n)?),
                FieldType::Text => {
                    let (bytes, offsets) = decode_strings(&mut r, n)?;
                    FieldData::Text(
                        offsets
                            .windows(2)
                            .map(|w| {
                                String::from_utf8_lossy(&bytes[w[0] as usize..w[1] as usize])
                                    .into_owned()
                            })
                            .collect(),
                    )
                }
                FieldType::Bytes => {
                    let (bytes, offsets) = decode_byte_strings(&mut r, n)?;
                    FieldData::Bytes(
                        offsets
                            .windows(2)
                            .map(|w| bytes[w[0] as usize..w[1] as usize].to_vec())
                            .collect(),
                    )
                }
            };
            fields.push(FieldColumn {
                name,
                ty,
                data,
                validity,
            });
        }
        if r.remaining() != 0 {
            return Err(CodecError::CountMismatch {
                expected: r.position(),
                actual: payload.len(),
            });
        }
        Ok((
            WriteBatch {
                table,
                tag_names,
                series,
                series_lookup: HashMap::default(),
                row_series,
                ts,
                fields,
                // A decoded batch is not added to; its times were checked when written.
                min_time: NULL_TIME,
            },
            table_id,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        TableSchema::new(
            "cpu",
            "ts",
            ["host", "region"],
            [
                ("f", FieldType::Float),
                ("i", FieldType::Integer),
                ("b", FieldType::Boolean),
                ("s", FieldType::Text),
            ],
        )
    }

    proptest! {
        #[test]
        fn payload_round_trip(rows in proptest::collection::vec(
            // Any valid time: NULL, or from the schema's first valid time on (an `any::<i64>()`
            // below it is refused by `push_row`, about once in thirty runs).
            (prop::option::of("[a-c]{1,2}"), prop::option::of("[xy]"),
             prop_oneof![1 => Just(NULL_TIME), 20 => schema().min_time()..=i64::MAX],
             prop::option::of(any::<f64>()), prop::option::of(any::<i64>()),
             prop::option::of(any::<bool>()), prop::option::of(".{0,5}")), 0..50)) {
            let mut b = WriteBatch::new(&schema());
            for (h, r, ts, f, i, bo, s) in &rows {
                b.push_row(&[h.as_deref(), r.as_deref()], *ts, &[
                    f.map_or(Value::Null, Value::Float),
                    i.map_or(Value::Null, Value::Integer),
                    bo.map_or(Value::Null, Value::Boolean),
                    s.as_deref().map_or(Value::Null, Value::Text),
                ]).unwrap();
            }
            let (back, id) = WriteBatch::decode(&b.encode(42)).unwrap();
            prop_assert_eq!(id, Some(42));
            // Floats compare by bits (NaN).
            prop_assert_eq!(back.encode(42), b.encode(42));
            prop_assert_eq!(back.len(), rows.len());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = WriteBatch::decode(&bytes);
        }
    }

    #[test]
    fn rejects_wrong_types_and_arity() {
        let mut b = WriteBatch::new(&schema());
        let ok = [
            Value::Float(1.0),
            Value::Integer(1),
            Value::Boolean(true),
            Value::Text("x"),
        ];
        assert!(b.push_row(&[Some("a"), None], 1, &ok).is_ok());
        assert!(matches!(
            b.push_row(&[Some("a")], 1, &ok),
            Err(Error::ArityMismatch { .. })
        ));
        let bad = [
            Value::Text("1.0"),
            Value::Integer(1),
            Value::Boolean(true),
            Value::Null,
        ];
        assert!(matches!(
            b.push_row(&[Some("a"), None], 1, &bad),
            Err(Error::TypeMismatch { .. })
        ));
        assert_eq!(b.len(), 1, "a rejected row leaves no trace");
        assert_eq!(b.series.len(), 1);
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;

    /// A version-1 payload (written before table ids) still decodes, with no id.
    #[test]
    fn reads_version_1_payloads() {
        let schema = TableSchema::new("cpu", "ts", ["host"], [("v", FieldType::Float)]);
        let mut b = WriteBatch::new(&schema);
        b.push_row(&[Some("a")], 5, &[Value::Float(1.5)]).unwrap();
        let v2 = b.encode(7);
        // version byte, then str "cpu" (4 + 3 bytes), then the 8-byte id.
        let mut v1 = vec![1u8];
        v1.extend_from_slice(&v2[1..8]);
        v1.extend_from_slice(&v2[16..]);
        let (back, id) = WriteBatch::decode(&v1).unwrap();
        assert_eq!(id, None);
        assert_eq!(back, b);
        assert!(
            WriteBatch::decode(&[3]).is_err(),
            "unknown versions are refused"
        );
    }
}
