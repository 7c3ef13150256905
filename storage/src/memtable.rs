//! In-memory rows of one table partition, not yet in a segment.
//!
//! Rows are appended as they arrive, with the LSN of the WAL record that carried them.
//! [`Memtable::to_batch`] produces the rows sorted by (series key, time) with later writes
//! replacing earlier ones (unless append-only): the same view flush writes to a segment and
//! scans read.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampNanosecondArray,
};
use arrow::buffer::{NullBuffer, ScalarBuffer};

use crate::batch::{FieldData, WriteBatch};
use crate::error::Result;
use crate::schema::{FieldType, TableSchema};

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
            self.lsn.push(lsn);
            self.min_ts = self.min_ts.min(ts);
            self.max_ts = self.max_ts.max(ts);
            self.bytes += 20;
            for (col, pos) in self.columns.iter_mut().zip(&field_pos) {
                let src = pos.map(|p| &batch.fields[p]);
                let valid = src.is_some_and(|s| s.is_valid(row));
                col.validity.push(valid);
                self.bytes += 9;
                match (&mut col.data, src.map(|s| &s.data)) {
                    (FieldData::Float(d), Some(FieldData::Float(s))) => d.push(s[row]),
                    (FieldData::Integer(d), Some(FieldData::Integer(s))) => d.push(s[row]),
                    (FieldData::Boolean(d), Some(FieldData::Boolean(s))) => d.push(s[row]),
                    (FieldData::Text(d), Some(FieldData::Text(s))) => {
                        self.bytes += s[row].len() + 24;
                        d.push(s[row].clone());
                    }
                    (FieldData::Float(d), _) => d.push(0.0),
                    (FieldData::Integer(d), _) => d.push(0),
                    (FieldData::Boolean(d), _) => d.push(false),
                    (FieldData::Text(d), _) => d.push(String::new()),
                }
            }
        }
        self.bytes - before
    }

    /// Row indices sorted by (series key, time, lsn, arrival), keeping only the last row of
    /// each (series, time) unless `append_only`.
    fn sorted_rows(&self, append_only: bool) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.series.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.series[a as usize].cmp(&self.series[b as usize]));
        let mut rank = vec![0u32; self.series.len()];
        for (r, &s) in order.iter().enumerate() {
            rank[s as usize] = r as u32;
        }
        let mut keys: Vec<(u32, i64, u64, u32)> = (0..self.ts.len())
            .map(|i| {
                (
                    rank[self.row_series[i] as usize],
                    self.ts[i],
                    self.lsn[i],
                    i as u32,
                )
            })
            .collect();
        keys.sort_unstable();
        if !append_only {
            // Keep the last of each run of equal (series, time).
            let mut kept: Vec<(u32, i64, u64, u32)> = Vec::with_capacity(keys.len());
            for k in keys {
                match kept.last_mut() {
                    Some(last) if last.0 == k.0 && last.1 == k.1 => *last = k,
                    _ => kept.push(k),
                }
            }
            keys = kept;
        }
        keys.into_iter().map(|k| k.3).collect()
    }

    /// The rows as one Arrow batch in `schema`'s full column order, sorted and deduplicated.
    pub(crate) fn to_batch(&self, schema: &TableSchema) -> Result<RecordBatch> {
        let rows = self.sorted_rows(schema.append_only);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.num_columns());
        let ts: Vec<i64> = rows.iter().map(|&r| self.ts[r as usize]).collect();
        columns.push(Arc::new(
            TimestampNanosecondArray::new(ScalarBuffer::from(ts), None).with_timezone("UTC"),
        ));
        for tag in &schema.tags {
            let pos = self.tag_names.iter().position(|t| t == tag);
            let values: StringArray = rows
                .iter()
                .map(|&r| {
                    pos.and_then(|p| {
                        self.series[self.row_series[r as usize] as usize][p].as_deref()
                    })
                })
                .collect();
            columns.push(Arc::new(values));
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
        Ok(RecordBatch::try_new(schema.arrow_schema(), columns)?)
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
    }
}
