//! In-memory rows of one table partition, not yet in a segment.
//!
//! Rows are appended as they arrive, with the LSN of the WAL record that carried them.
//! [`Memtable::to_batch`] produces the rows sorted by (series key, time) with later writes
//! replacing earlier ones (unless append-only): the view scans read; flush writes the same
//! rows from [`Memtable::to_flush_batch`], whose tag columns are dictionary-encoded.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, DictionaryArray, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampNanosecondArray, UInt32Array,
};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, UInt32Type};

use crate::batch::{FieldData, WriteBatch};
use crate::error::Result;
use crate::schema::{FieldType, TableSchema, NULL_TIME};

#[derive(Debug, Clone)]
struct MemColumn {
    name: String,
    ty: FieldType,
    data: FieldData,
    validity: Vec<bool>,
}

/// Rows of one table partition.
#[derive(Debug, Clone)]
pub(crate) struct Memtable {
    tag_names: Vec<String>,
    series: Vec<Vec<Option<String>>>,
    series_map: HashMap<Vec<Option<String>>, u32>,
    row_series: Vec<u32>,
    ts: Vec<i64>,
    lsn: Vec<u64>,
    columns: Vec<MemColumn>,
    bytes: usize,
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
}

impl Memtable {
    pub(crate) fn new(schema: &TableSchema) -> Self {
        Memtable {
            tag_names: schema.tags.clone(),
            series: Vec::new(),
            series_map: HashMap::new(),
            row_series: Vec::new(),
            ts: Vec::new(),
            lsn: Vec::new(),
            columns: schema
                .fields
                .iter()
                .map(|f| MemColumn {
                    name: f.name.clone(),
                    ty: f.ty,
                    data: match f.ty {
                        FieldType::Float => FieldData::Float(Vec::new()),
                        FieldType::Integer => FieldData::Integer(Vec::new()),
                        FieldType::Boolean => FieldData::Boolean(Vec::new()),
                        FieldType::Text => FieldData::Text(Vec::new()),
                        FieldType::Bytes => FieldData::Bytes(Vec::new()),
                    },
                    validity: Vec::new(),
                })
                .collect(),
            bytes: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ts.len()
    }

    /// Approximate heap bytes held, as counted against the engine's memory limit.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds a tag column (after the existing ones, as the schema does); existing rows get
    /// NULL for it, so their series keys and sort order are unchanged.
    pub(crate) fn add_tag(&mut self, name: &str) {
        if self.tag_names.iter().any(|t| t == name) {
            return;
        }
        self.tag_names.push(name.to_owned());
        for key in &mut self.series {
            key.push(None);
        }
        self.series_map = self
            .series
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as u32))
            .collect();
    }

    /// Adds a field column; existing rows get NULL for it. Returns the bytes added.
    pub(crate) fn add_field(&mut self, name: &str, ty: FieldType) -> usize {
        if self.columns.iter().any(|c| c.name == name) {
            return 0;
        }
        let n = self.ts.len();
        let data = match ty {
            FieldType::Float => FieldData::Float(vec![0.0; n]),
            FieldType::Integer => FieldData::Integer(vec![0; n]),
            FieldType::Boolean => FieldData::Boolean(vec![false; n]),
            FieldType::Text => FieldData::Text(vec![String::new(); n]),
            FieldType::Bytes => FieldData::Bytes(vec![Vec::new(); n]),
        };
        self.bytes += 9 * n;
        self.columns.push(MemColumn {
            name: name.to_owned(),
            ty,
            data,
            validity: vec![false; n],
        });
        9 * n
    }

    /// Appends `rows` of `batch` (all in this partition), written at `lsn`. Columns of the
    /// batch are matched by name; missing ones become NULL. Returns the bytes added.
    pub(crate) fn insert(&mut self, batch: &WriteBatch, rows: &[usize], lsn: u64) -> usize {
        let before = self.bytes;
        let tag_pos: Vec<Option<usize>> = self
            .tag_names
            .iter()
            .map(|t| batch.tag_names.iter().position(|b| b == t))
            .collect();
        let mut series_ids: Vec<Option<u32>> = vec![None; batch.series.len()];
        let field_pos: Vec<Option<usize>> = self
            .columns
            .iter()
            .map(|c| {
                batch
                    .fields
                    .iter()
                    .position(|f| f.name == c.name && f.ty == c.ty)
            })
            .collect();
        for &row in rows {
            let bs = batch.row_series[row] as usize;
            let sid = match series_ids[bs] {
                Some(id) => id,
                None => {
                    let key: Vec<Option<String>> = tag_pos
                        .iter()
                        .map(|p| p.and_then(|p| batch.series[bs][p].clone()))
                        .collect();
                    let next = self.series.len() as u32;
                    let id = *self.series_map.entry(key.clone()).or_insert(next);
                    if id == next {
                        self.bytes += key.iter().flatten().map(|s| s.len() + 48).sum::<usize>();
                        self.series.push(key);
                    }
                    series_ids[bs] = Some(id);
                    id
                }
            };
            let ts = batch.ts[row];
            self.row_series.push(sid);
            self.ts.push(ts);
            self.min_ts = self.min_ts.min(ts);
            self.max_ts = self.max_ts.max(ts);
        }
        self.lsn.resize(self.lsn.len() + rows.len(), lsn);
        self.bytes += 20 * rows.len();
        // Column by column: the rows of one partition are usually the whole batch, and
        // then each column is one copy.
        let all = rows.len() == batch.len() && rows.iter().enumerate().all(|(i, &r)| i == r);
        for (col, pos) in self.columns.iter_mut().zip(&field_pos) {
            let src = pos.map(|p| &batch.fields[p]);
            self.bytes += 9 * rows.len();
            match src.and_then(|s| s.validity.as_ref()) {
                Some(v) => col.validity.extend(rows.iter().map(|&r| v[r])),
                None => col
                    .validity
                    .resize(col.validity.len() + rows.len(), src.is_some()),
            }
            match (&mut col.data, src.map(|s| &s.data)) {
                (FieldData::Float(d), Some(FieldData::Float(s))) => gather(d, s, rows, all),
                (FieldData::Integer(d), Some(FieldData::Integer(s))) => gather(d, s, rows, all),
                (FieldData::Boolean(d), Some(FieldData::Boolean(s))) => gather(d, s, rows, all),
                (FieldData::Text(d), Some(FieldData::Text(s))) => {
                    for &r in rows {
                        self.bytes += s[r].len() + 24;
                        d.push(s[r].clone());
                    }
                }
                (FieldData::Float(d), _) => d.resize(d.len() + rows.len(), 0.0),
                (FieldData::Integer(d), _) => d.resize(d.len() + rows.len(), 0),
                (FieldData::Boolean(d), _) => d.resize(d.len() + rows.len(), false),
                (FieldData::Bytes(d), Some(FieldData::Bytes(s))) => {
                    for &r in rows {
                        self.bytes += s[r].len() + 24;
                        d.push(s[r].clone());
                    }
                }
                (FieldData::Text(d), _) => d.resize(d.len() + rows.len(), String::new()),
                (FieldData::Bytes(d), _) => d.resize(d.len() + rows.len(), Vec::new()),
            }
        }
        self.bytes - before
    }

    /// Row indices sorted by (series key, time, lsn, arrival), keeping only the last row of
    /// each (series, time) unless `append_only`.
    ///
    /// Rows are bucketed by series (a counting sort: series are few next to rows), and a
    /// series whose rows arrived in (time, lsn) order, as a collector sends them, needs
    /// no sorting at all.
    fn sorted_rows(&self, append_only: bool) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.series.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.series[a as usize].cmp(&self.series[b as usize]));
        let mut rank = vec![0u32; self.series.len()];
        for (r, &s) in order.iter().enumerate() {
            rank[s as usize] = r as u32;
        }
        // Where each series' rows start in the output, in series-key order.
        let mut starts = vec![0usize; self.series.len() + 1];
        for &s in &self.row_series {
            starts[rank[s as usize] as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut rows = vec![0u32; self.ts.len()];
        let mut next = starts.clone();
        for (i, &s) in self.row_series.iter().enumerate() {
            let slot = &mut next[rank[s as usize] as usize];
            rows[*slot] = i as u32;
            *slot += 1;
        }
        let key = |r: u32| (self.ts[r as usize], self.lsn[r as usize]);
        let mut kept = Vec::with_capacity(rows.len());
        for w in starts.windows(2) {
            let group = &mut rows[w[0]..w[1]];
            // Arrival order breaks ties: the group is in arrival order and the sort is
            // stable. Concurrent writers interleave their batches, so an unsorted group
            // is a few sorted runs, which the stable sort merges.
            if !group.windows(2).all(|p| key(p[0]) <= key(p[1])) {
                group.sort_by_key(|&r| key(r));
            }
            if append_only {
                kept.extend_from_slice(group);
                continue;
            }
            // Keep the last of each run of equal time (rows with a NULL time are all kept:
            // NULL equals nothing).
            for (i, &r) in group.iter().enumerate() {
                let t = self.ts[r as usize];
                let last_of_run =
                    t == NULL_TIME || group.get(i + 1).is_none_or(|&n| self.ts[n as usize] != t);
                if last_of_run {
                    kept.push(r);
                }
            }
        }
        kept
    }

    /// The rows as one Arrow batch in `schema`'s full column order, sorted and deduplicated,
    /// with each row's LSN.
    pub(crate) fn to_batch(&self, schema: &TableSchema) -> Result<(RecordBatch, Vec<u64>)> {
        let rows = self.sorted_rows(schema.append_only);
        let lsn = rows.iter().map(|&r| self.lsn[r as usize]).collect();
        Ok((self.sorted_batch(schema, false, &rows)?, lsn))
    }

    /// [`Memtable::to_batch`] with each tag column dictionary-encoded by series
    /// (`Dictionary(UInt32, Utf8)`: a key per row, a value per series), so a flush copies
    /// no tag strings per row. `remove` is given the rows (tags as strings) with their LSNs
    /// and returns the rows to leave out, if any (pending erasures); the dictionaries then
    /// hold only the series of rows that stay. Also returns how many rows were left out.
    pub(crate) fn to_flush_batch(
        &self,
        schema: &TableSchema,
        remove: impl FnOnce(&RecordBatch, &[u64]) -> Result<Option<BooleanArray>>,
    ) -> Result<(RecordBatch, usize)> {
        let mut rows = self.sorted_rows(schema.append_only);
        let lsn: Vec<u64> = rows.iter().map(|&r| self.lsn[r as usize]).collect();
        let plain = self.sorted_batch(schema, false, &rows)?;
        let mut removed = 0;
        if let Some(mask) = remove(&plain, &lsn)? {
            let before = rows.len();
            rows = rows
                .into_iter()
                .zip(mask.iter())
                .filter(|(_, gone)| *gone != Some(true))
                .map(|(r, _)| r)
                .collect();
            removed = before - rows.len();
        }
        Ok((self.sorted_batch(schema, true, &rows)?, removed))
    }

    fn sorted_batch(
        &self,
        schema: &TableSchema,
        dictionary_tags: bool,
        rows: &[u32],
    ) -> Result<RecordBatch> {
        let rows = rows.to_vec();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.num_columns());
        let ts: Vec<i64> = rows.iter().map(|&r| self.ts[r as usize]).collect();
        columns.push(Arc::new(
            TimestampNanosecondArray::new(ScalarBuffer::from(ts), None).with_timezone("UTC"),
        ));
        // Dictionary entries: the series of `rows`, each once (a row left out may have been
        // the last of its series, and a dictionary must not keep its tag values).
        let mut entries: Vec<u32> = Vec::new();
        let keys: Option<UInt32Array> = dictionary_tags.then(|| {
            let mut entry_of = vec![u32::MAX; self.series.len()];
            rows.iter()
                .map(|&r| {
                    let s = self.row_series[r as usize] as usize;
                    if entry_of[s] == u32::MAX {
                        entry_of[s] = entries.len() as u32;
                        entries.push(s as u32);
                    }
                    entry_of[s]
                })
                .collect::<Vec<u32>>()
                .into()
        });
        for tag in &schema.tags {
            let pos = self.tag_names.iter().position(|t| t == tag);
            let value_of = |series: usize| pos.and_then(|p| self.series[series][p].as_deref());
            columns.push(match &keys {
                Some(keys) => {
                    let values: StringArray =
                        entries.iter().map(|&s| value_of(s as usize)).collect();
                    Arc::new(DictionaryArray::<UInt32Type>::try_new(
                        keys.clone(),
                        Arc::new(values),
                    )?)
                }
                None => {
                    let values: StringArray = rows
                        .iter()
                        .map(|&r| value_of(self.row_series[r as usize] as usize))
                        .collect();
                    Arc::new(values)
                }
            });
        }
        for field in &schema.fields {
            let col = self
                .columns
                .iter()
                .find(|c| c.name == field.name && c.ty == field.ty);
            columns.push(match col {
                Some(c) => column_array(c, &rows),
                None => arrow::array::new_null_array(&field.ty.arrow_type(), rows.len()),
            });
        }
        let arrow_schema = if dictionary_tags {
            let tag_type =
                DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8));
            let base = schema.arrow_schema();
            let fields: Vec<Field> = base
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    if (1..=schema.tags.len()).contains(&i) {
                        f.as_ref().clone().with_data_type(tag_type.clone())
                    } else {
                        f.as_ref().clone()
                    }
                })
                .collect();
            Arc::new(Schema::new(fields))
        } else {
            schema.arrow_schema()
        };
        Ok(RecordBatch::try_new(arrow_schema, columns)?)
    }
}

/// Appends `src[rows]` to `dst`; `all` says `rows` is every index of `src` in order.
fn gather<T: Copy>(dst: &mut Vec<T>, src: &[T], rows: &[usize], all: bool) {
    if all {
        dst.extend_from_slice(src);
    } else {
        dst.extend(rows.iter().map(|&r| src[r]));
    }
}

fn column_array(c: &MemColumn, rows: &[u32]) -> ArrayRef {
    let nulls: Option<NullBuffer> = if c.validity.iter().all(|&v| v) {
        None
    } else {
        Some(rows.iter().map(|&r| c.validity[r as usize]).collect())
    };
    match &c.data {
        FieldData::Float(d) => Arc::new(Float64Array::new(
            rows.iter().map(|&r| d[r as usize]).collect(),
            nulls,
        )),
        FieldData::Integer(d) => Arc::new(Int64Array::new(
            rows.iter().map(|&r| d[r as usize]).collect(),
            nulls,
        )),
        FieldData::Boolean(d) => Arc::new(BooleanArray::new(
            rows.iter().map(|&r| d[r as usize]).collect(),
            nulls,
        )),
        FieldData::Text(d) => {
            let valid = |r: u32| c.validity[r as usize];
            Arc::new(
                rows.iter()
                    .map(|&r| valid(r).then(|| d[r as usize].as_str()))
                    .collect::<StringArray>(),
            )
        }
        FieldData::Bytes(d) => {
            let valid = |r: u32| c.validity[r as usize];
            Arc::new(
                rows.iter()
                    .map(|&r| valid(r).then(|| d[r as usize].as_slice()))
                    .collect::<BinaryArray>(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Value;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;

    /// Rows out of order across and within series, rewrites of a (series, time), a tag
    /// added midway (NULL for earlier rows), written by several batches.
    fn memtable(append_only: bool) -> (TableSchema, Memtable) {
        let mut schema = TableSchema::new(
            "t",
            "time",
            ["host".to_owned()],
            [("v".to_owned(), FieldType::Integer)],
        );
        schema.append_only = append_only;
        let mut m = Memtable::new(&schema);
        let write =
            |m: &mut Memtable, schema: &TableSchema, rows: &[(&[Option<&str>], i64, i64)], lsn| {
                let mut b = WriteBatch::new(schema);
                for (tags, ts, v) in rows {
                    b.push_row(tags, *ts, &[Value::Integer(*v)]).unwrap();
                }
                let all: Vec<usize> = (0..b.len()).collect();
                m.insert(&b, &all, lsn);
            };
        write(
            &mut m,
            &schema,
            &[
                (&[Some("b")], 20, 1),
                (&[Some("a")], 10, 2),
                (&[Some("b")], 10, 3),
                (&[Some("a")], 10, 4),
                (&[None], 5, 5),
            ],
            1,
        );
        write(
            &mut m,
            &schema,
            &[(&[Some("a")], 30, 6), (&[Some("a")], 20, 7)],
            3,
        );
        // A write with a lower LSN that arrived later (WAL order differs from arrival).
        write(
            &mut m,
            &schema,
            &[(&[Some("a")], 30, 8), (&[Some("b")], 40, 9)],
            2,
        );
        schema.tags.push("dc".to_owned());
        m.add_tag("dc");
        write(
            &mut m,
            &schema,
            &[
                (&[Some("a"), Some("x")], 10, 10),
                (&[Some("b"), None], 20, 11),
            ],
            4,
        );
        (schema, m)
    }

    /// (host, dc, time, v) rows of a batch, tags cast to text.
    fn rows(b: &RecordBatch) -> Vec<(Option<String>, Option<String>, i64, i64)> {
        let text = |i: usize| {
            let c = arrow::compute::cast(b.column(i), &DataType::Utf8).unwrap();
            let c = c.as_string::<i32>().clone();
            (0..c.len()).map(move |r| c.is_valid(r).then(|| c.value(r).to_owned()))
        };
        let ts = b
            .column(0)
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
        let v = b.column(3).as_primitive::<Int64Type>();
        text(1)
            .zip(text(2))
            .enumerate()
            .map(|(r, (h, d))| (h, d, ts.value(r), v.value(r)))
            .collect()
    }

    #[test]
    fn rows_sort_by_series_then_time_and_the_latest_write_wins() {
        let (schema, m) = memtable(false);
        let s = |v: &str| Some(v.to_owned());
        // Series order: (NULL host) first, then (a, NULL) < (a, x), (b, NULL).
        let want = vec![
            (None, None, 5, 5),
            (s("a"), None, 10, 4),
            (s("a"), None, 20, 7),
            (s("a"), None, 30, 6), // lsn 3 beats the later-arriving lsn 2
            (s("a"), s("x"), 10, 10),
            (s("b"), None, 10, 3),
            (s("b"), None, 20, 11),
            (s("b"), None, 40, 9),
        ];
        assert_eq!(rows(&m.to_batch(&schema).unwrap().0), want);
        assert_eq!(
            rows(&m.to_flush_batch(&schema, |_, _| Ok(None)).unwrap().0),
            want
        );
    }

    #[test]
    fn append_only_tables_keep_every_row_in_order() {
        let (schema, m) = memtable(true);
        let got = rows(&m.to_batch(&schema).unwrap().0);
        let keys: Vec<(Option<String>, Option<String>, i64, i64)> = got.clone();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
        assert_eq!(got.len(), 11);
        assert_eq!(
            got.iter().map(|r| (&r.0, &r.1, r.2)).collect::<Vec<_>>(),
            sorted.iter().map(|r| (&r.0, &r.1, r.2)).collect::<Vec<_>>()
        );
        // Equal (series, time): WAL order (lsn 2 before lsn 3), then arrival.
        let a30: Vec<i64> = got
            .iter()
            .filter(|r| r.0.as_deref() == Some("a") && r.1.is_none() && r.2 == 30)
            .map(|r| r.3)
            .collect();
        assert_eq!(a30, [8, 6]);
        assert_eq!(
            rows(&m.to_flush_batch(&schema, |_, _| Ok(None)).unwrap().0),
            got
        );
    }
}
