//! A storage table seen from SQL: its visible columns with their declared types, and the
//! conversions between Arrow batches in those types and the engine's physical batches.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Decimal128Array, IntervalMonthDayNanoArray, RecordBatch,
    RecordBatchOptions, TimestampNanosecondArray,
};
use arrow::buffer::NullBuffer;
use arrow::compute::{cast, CastOptions};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type, IntervalMonthDayNano,
    IntervalMonthDayNanoType, Schema, SchemaRef, Time64MicrosecondType, TimeUnit,
    TimestampNanosecondType,
};
use arrow::util::display::FormatOptions;
use strata_storage::{FieldType, TableSchema, Value, WriteBatch, NULL_TIME};

use crate::error::{QueryError, Result};
use crate::types::SqlType;

/// What a column is to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Time,
    Tag,
    Field(FieldType),
}

/// One visible column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub sql_type: SqlType,
    pub role: Role,
    pub not_null: bool,
}

/// A table's SQL view over its storage schema.
#[derive(Debug, Clone)]
pub struct TableDef {
    pub storage: TableSchema,
    /// Visible columns in storage order (time, tags, fields); the hidden time column of an
    /// unpartitioned table is not among them.
    pub columns: Vec<Column>,
    pub arrow: SchemaRef,
    /// `arrow` with every column nullable: what `INSERT` hands rows over in, so that
    /// [`TableDef::to_write_batch`] checks `NOT NULL` (with PostgreSQL's 23502 and message)
    /// rather than Arrow refusing to build the batch.
    pub writable: SchemaRef,
}

impl TableDef {
    pub fn new(storage: TableSchema) -> Result<TableDef> {
        let declared = |name: &str, default: SqlType| -> Result<(SqlType, bool)> {
            match storage.sql_columns.get(name) {
                None => Ok((default, false)),
                Some(c) => {
                    let t = SqlType::parse_canonical(&c.sql_type).ok_or_else(|| {
                        QueryError::InvalidDefinition(format!(
                            "table {:?} column {name:?} has unknown stored type {:?}",
                            storage.name, c.sql_type
                        ))
                    })?;
                    Ok((t, c.not_null))
                }
            }
        };
        let mut columns = Vec::with_capacity(storage.num_columns());
        if !storage.hidden_time {
            // A time column without a declaration (line protocol) always has a value.
            let not_null = storage
                .sql_columns
                .get(&storage.time_column)
                .is_none_or(|c| c.not_null);
            let (t, _) = declared(&storage.time_column, SqlType::Timestamptz)?;
            columns.push(Column {
                name: storage.time_column.clone(),
                sql_type: t,
                role: Role::Time,
                not_null,
            });
        }
        for tag in &storage.tags {
            let (t, not_null) = declared(tag, SqlType::Text)?;
            columns.push(Column {
                name: tag.clone(),
                sql_type: t,
                role: Role::Tag,
                not_null,
            });
        }
        for f in &storage.fields {
            let (t, not_null) = declared(&f.name, SqlType::of_field(f.ty))?;
            columns.push(Column {
                name: f.name.clone(),
                sql_type: t,
                role: Role::Field(f.ty),
                not_null,
            });
        }
        if !storage.column_order.is_empty() {
            let position = |name: &str| {
                storage
                    .column_order
                    .iter()
                    .position(|n| n == name)
                    .unwrap_or(usize::MAX)
            };
            columns.sort_by_key(|c| position(&c.name));
        }
        let arrow = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| c.sql_type.arrow_field(&c.name, !c.not_null))
                .collect::<Vec<_>>(),
        ));
        let writable = Arc::new(Schema::new(
            arrow
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        Ok(TableDef {
            storage,
            columns,
            arrow,
            writable,
        })
    }

    pub fn name(&self) -> &str {
        &self.storage.name
    }

    /// The Arrow schema of `projection` (indices into `columns`).
    pub fn project(&self, projection: &[usize]) -> SchemaRef {
        Arc::new(
            self.arrow
                .project(projection)
                .expect("projection within schema"),
        )
    }

    /// Converts a batch the engine returned for `projection` to the declared types (the
    /// time column's [`NULL_TIME`] to NULL).
    pub fn from_storage(&self, projection: &[usize], batch: &RecordBatch) -> Result<RecordBatch> {
        let schema = self.project(projection);
        let columns = projection
            .iter()
            .zip(batch.columns())
            .map(|(&i, a)| {
                let c = &self.columns[i];
                if c.role == Role::Time && !c.not_null {
                    to_declared(&null_times(a)?, c.sql_type)
                } else {
                    to_declared(a, c.sql_type)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(schema, columns, &options)
            .map_err(|e| QueryError::DataFusion(Box::new(e.into())))
    }

    /// Builds an engine write batch from rows in the table's declared types (the whole
    /// visible schema, in order). `now_ns` fills the hidden time column of unpartitioned
    /// tables (plus the row index, so rows keep their order).
    pub fn to_write_batch(&self, batch: &RecordBatch, now_ns: i64) -> Result<WriteBatch> {
        if batch.num_columns() != self.columns.len() {
            return Err(QueryError::InvalidText(format!(
                "table \"{}\" has {} columns, got {} values",
                self.name(),
                self.columns.len(),
                batch.num_columns()
            )));
        }
        for (c, a) in self.columns.iter().zip(batch.columns()) {
            if c.not_null && a.null_count() > 0 {
                return Err(QueryError::NotNullViolation {
                    table: self.name().to_owned(),
                    column: c.name.clone(),
                });
            }
            // Retention ages rows by their time; one without a time cannot be kept by it.
            if c.role == Role::Time && a.null_count() > 0 && self.storage.retention_ns.is_some() {
                return Err(QueryError::NullTimeWithRetention {
                    table: self.name().to_owned(),
                    column: c.name.clone(),
                });
            }
        }
        let mut time: Option<&TimestampNanosecondArray> = None;
        let mut time_holder: Option<ArrayRef> = None;
        // Tags and fields in storage order, whatever the visible order.
        let mut tags: Vec<Option<ArrayRef>> = vec![None; self.storage.tags.len()];
        let mut fields: Vec<Option<(FieldType, ArrayRef)>> = vec![None; self.storage.fields.len()];
        for (c, a) in self.columns.iter().zip(batch.columns()) {
            match c.role {
                Role::Time => {
                    time_holder = Some(cast_checked(
                        a,
                        &DataType::Timestamp(TimeUnit::Nanosecond, None),
                    )?);
                }
                Role::Tag => {
                    let i = self
                        .storage
                        .tags
                        .iter()
                        .position(|t| *t == c.name)
                        .expect("tag of this table");
                    tags[i] = Some(match c.sql_type {
                        SqlType::Uuid => canonical_uuids(a)?,
                        t @ (SqlType::Varchar(_) | SqlType::Char(_)) => bounded_text(a, t)?,
                        t @ (SqlType::Json | SqlType::Jsonb) => json_text(a, t)?,
                        _ => cast_checked(a, &DataType::Utf8)?,
                    });
                }
                Role::Field(ty) => {
                    let i = self
                        .storage
                        .fields
                        .iter()
                        .position(|f| f.name == c.name)
                        .expect("field of this table");
                    fields[i] = Some((ty, to_physical(a, c.sql_type, ty)?));
                }
            }
        }
        let tags: Vec<ArrayRef> = tags
            .into_iter()
            .map(|t| t.expect("every tag is a column"))
            .collect();
        let fields: Vec<(FieldType, ArrayRef)> = fields
            .into_iter()
            .map(|f| f.expect("every field is a column"))
            .collect();
        if let Some(t) = &time_holder {
            time = Some(t.as_primitive::<TimestampNanosecondType>());
        }
        let mut out = WriteBatch::new(&self.storage);
        let mut tag_values: Vec<Option<&str>> = vec![None; tags.len()];
        let mut field_values: Vec<Value<'_>> = vec![Value::Null; fields.len()];
        for row in 0..batch.num_rows() {
            let ts = match time {
                Some(t) if t.is_null(row) => NULL_TIME,
                Some(t) => t.value(row),
                None => now_ns.saturating_add(row as i64),
            };
            for (slot, a) in tag_values.iter_mut().zip(&tags) {
                let s = a.as_string::<i32>();
                *slot = s.is_valid(row).then(|| s.value(row));
            }
            for (slot, (ty, a)) in field_values.iter_mut().zip(&fields) {
                *slot = if a.is_null(row) {
                    Value::Null
                } else {
                    match ty {
                        FieldType::Float => {
                            Value::Float(a.as_primitive::<Float64Type>().value(row))
                        }
                        FieldType::Integer => {
                            Value::Integer(a.as_primitive::<Int64Type>().value(row))
                        }
                        FieldType::Boolean => Value::Boolean(a.as_boolean().value(row)),
                        FieldType::Text => Value::Text(a.as_string::<i32>().value(row)),
                        FieldType::Bytes => Value::Bytes(a.as_binary::<i32>().value(row)),
                    }
                };
            }
            out.push_row(&tag_values, ts, &field_values)?;
        }
        Ok(out)
    }
}

/// A stored time column with [`NULL_TIME`] marked NULL.
fn null_times(a: &ArrayRef) -> Result<ArrayRef> {
    let ts = a
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| {
            QueryError::Storage(strata_storage::Error::Internal {
                reason: format!("a time column arrived as {}", a.data_type()),
            })
        })?;
    if !ts.values().contains(&NULL_TIME) {
        return Ok(Arc::clone(a));
    }
    let valid = NullBuffer::from_iter(ts.values().iter().map(|&t| t != NULL_TIME));
    let with_nulls = TimestampNanosecondArray::new(ts.values().clone(), Some(valid))
        .with_timezone_opt(ts.timezone());
    Ok(Arc::new(with_nulls))
}

fn cast_checked(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if a.data_type() == to {
        return Ok(Arc::clone(a));
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    arrow::compute::cast_with_options(a, to, &options)
        .map_err(|e| QueryError::InvalidText(e.to_string()))
}

/// A stored array to its declared type.
fn to_declared(a: &ArrayRef, t: SqlType) -> Result<ArrayRef> {
    let target = t.arrow_type();
    if a.data_type() == &target {
        return Ok(Arc::clone(a));
    }
    let out: ArrayRef = match (t, a.data_type()) {
        // Dates are stored as days in an integer field.
        (SqlType::Date, DataType::Int64) => {
            let days = cast_checked(a, &DataType::Int32)?;
            Arc::new(
                days.as_primitive::<Int32Type>()
                    .reinterpret_cast::<Date32Type>(),
            )
        }
        (SqlType::Time, DataType::Int64) => Arc::new(
            a.as_primitive::<Int64Type>()
                .reinterpret_cast::<Time64MicrosecondType>(),
        ),
        // An unscaled decimal in an integer, or in 16 little-endian bytes.
        (SqlType::Numeric { precision, scale }, DataType::Int64) => Arc::new(
            a.as_primitive::<Int64Type>()
                .unary::<_, Decimal128Type>(i128::from)
                .with_precision_and_scale(precision, scale)
                .map_err(|e| QueryError::InvalidText(e.to_string()))?,
        ),
        (SqlType::Numeric { precision, scale }, DataType::Binary) => Arc::new(
            fixed_width(a, |b: [u8; 16]| i128::from_le_bytes(b))?
                .into_iter()
                .collect::<Decimal128Array>()
                .with_precision_and_scale(precision, scale)
                .map_err(|e| QueryError::InvalidText(e.to_string()))?,
        ),
        (SqlType::Interval, DataType::Binary) => Arc::new(
            fixed_width(a, |b: [u8; 16]| {
                let word = |k: usize| [b[k], b[k + 1], b[k + 2], b[k + 3]];
                IntervalMonthDayNano::new(
                    i32::from_le_bytes(word(0)),
                    i32::from_le_bytes(word(4)),
                    i64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
                )
            })?
            .into_iter()
            .collect::<IntervalMonthDayNanoArray>(),
        ),
        // Timestamps stored in an integer field are nanoseconds.
        (SqlType::Timestamp | SqlType::Timestamptz, DataType::Int64) => {
            let ns = a
                .as_primitive::<Int64Type>()
                .reinterpret_cast::<TimestampNanosecondType>();
            let ns: ArrayRef = Arc::new(ns);
            cast(&ns, &target).map_err(|e| QueryError::InvalidText(e.to_string()))?
        }
        _ => cast(a, &target).map_err(|e| QueryError::InvalidText(e.to_string()))?,
    };
    Ok(out)
}

/// Text of a `varchar(n)` or `char(n)` column, as PostgreSQL stores it: longer than `n`
/// characters is 22001 unless the excess is all spaces (then cut); a `char(n)` is padded
/// with spaces to `n`.
fn bounded_text(a: &ArrayRef, t: SqlType) -> Result<ArrayRef> {
    let (limit, pad) = match t {
        SqlType::Varchar(Some(n)) => (n as usize, false),
        SqlType::Char(n) => (n as usize, true),
        _ => return cast_checked(a, &DataType::Utf8),
    };
    let text = cast_checked(a, &DataType::Utf8)?;
    let out = text
        .as_string::<i32>()
        .iter()
        .map(|v| {
            v.map(|s| {
                let chars = s.chars().count();
                if chars > limit {
                    let (keep, rest) =
                        s.split_at(s.char_indices().nth(limit).map_or(s.len(), |(i, _)| i));
                    if rest.chars().any(|c| c != ' ') {
                        let name = match t {
                            SqlType::Char(n) => format!("character({n})"),
                            _ => format!("character varying({limit})"),
                        };
                        return Err(QueryError::StringTooLong(name));
                    }
                    return Ok(keep.to_owned());
                }
                let mut s = s.to_owned();
                if pad {
                    s.extend(std::iter::repeat_n(' ', limit - chars));
                }
                Ok(s)
            })
            .transpose()
        })
        .collect::<Result<arrow::array::StringArray>>()?;
    Ok(Arc::new(out))
}

/// Text that must be JSON (22P02 for text that is not, in PostgreSQL's words).
fn json_text(a: &ArrayRef, t: SqlType) -> Result<ArrayRef> {
    let text = cast_checked(a, &DataType::Utf8)?;
    for v in text.as_string::<i32>().iter().flatten() {
        if serde_json::from_str::<serde_json::Value>(v).is_err() {
            return Err(QueryError::InvalidText(format!(
                "invalid input syntax for type {t}"
            )));
        }
    }
    Ok(text)
}

/// Text that must be `uuid`s in their canonical spelling (22P02 for one that is not).
fn canonical_uuids(a: &ArrayRef) -> Result<ArrayRef> {
    let text = cast_checked(a, &DataType::Utf8)?;
    let out = text
        .as_string::<i32>()
        .iter()
        .map(|v| {
            v.map(|s| crate::pgvalue::uuid_in(s).map(|u| crate::pgvalue::uuid_out(&u)))
                .transpose()
        })
        .collect::<Result<arrow::array::StringArray>>()?;
    Ok(Arc::new(out))
}

/// The values of a `Binary` array of fixed-width values, each read by `f`; a value of
/// another width is corruption.
fn fixed_width<const N: usize, T>(
    a: &ArrayRef,
    f: impl Fn([u8; N]) -> T,
) -> Result<Vec<Option<T>>> {
    let b = a.as_binary::<i32>();
    b.iter()
        .map(|v| {
            v.map(|bytes| {
                let fixed: [u8; N] = bytes.try_into().map_err(|_| {
                    QueryError::DataCorrupted(format!(
                        "stored value of {} bytes where {N} were expected",
                        bytes.len()
                    ))
                })?;
                Ok(f(fixed))
            })
            .transpose()
        })
        .collect()
}

/// A declared-type array to its physical storage type (`stored`, the field's type: a
/// `numeric` column of a table made before numerics were stored as decimals keeps text).
fn to_physical(a: &ArrayRef, t: SqlType, stored: FieldType) -> Result<ArrayRef> {
    let out: ArrayRef = match t {
        SqlType::Time => {
            let time = cast_checked(a, &t.arrow_type())?;
            Arc::new(
                time.as_primitive::<Time64MicrosecondType>()
                    .reinterpret_cast::<Int64Type>(),
            )
        }
        SqlType::Interval => {
            let iv = cast_checked(a, &t.arrow_type())?;
            let iv = iv.as_primitive::<IntervalMonthDayNanoType>();
            Arc::new(
                iv.iter()
                    .map(|v| {
                        v.map(|v| {
                            let mut b = [0u8; 16];
                            b[..4].copy_from_slice(&v.months.to_le_bytes());
                            b[4..8].copy_from_slice(&v.days.to_le_bytes());
                            b[8..].copy_from_slice(&v.nanoseconds.to_le_bytes());
                            b
                        })
                    })
                    .collect::<BinaryArray>(),
            )
        }
        SqlType::Bytea => cast_checked(a, &DataType::Binary)?,
        SqlType::Numeric { .. } if stored == FieldType::Integer => {
            let d = cast_checked(a, &t.arrow_type())?;
            let d = d.as_primitive::<Decimal128Type>();
            // The precision (<= 18 digits) was checked by the cast: the value fits.
            Arc::new(d.unary::<_, Int64Type>(|v| v as i64))
        }
        SqlType::Numeric { .. } if stored == FieldType::Bytes => {
            let d = cast_checked(a, &t.arrow_type())?;
            let d = d.as_primitive::<Decimal128Type>();
            Arc::new(
                d.iter()
                    .map(|v| v.map(i128::to_le_bytes))
                    .collect::<BinaryArray>(),
            )
        }
        SqlType::Date => {
            let d = cast_checked(a, &DataType::Date32)?;
            let days = d
                .as_primitive::<Date32Type>()
                .reinterpret_cast::<Int32Type>();
            cast_checked(&(Arc::new(days) as ArrayRef), &DataType::Int64)?
        }
        SqlType::Timestamp | SqlType::Timestamptz => {
            let ts = cast_checked(a, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
            let ns = ts
                .as_primitive::<TimestampNanosecondType>()
                .reinterpret_cast::<Int64Type>();
            Arc::new(ns)
        }
        SqlType::SmallInt | SqlType::Integer | SqlType::BigInt => {
            cast_checked(a, &DataType::Int64)?
        }
        SqlType::Real | SqlType::Double => cast_checked(a, &DataType::Float64)?,
        SqlType::Boolean => cast_checked(a, &DataType::Boolean)?,
        SqlType::Text => cast_checked(a, &DataType::Utf8)?,
        SqlType::Uuid => canonical_uuids(a)?,
        SqlType::Varchar(_) | SqlType::Char(_) => bounded_text(a, t)?,
        SqlType::Json | SqlType::Jsonb => json_text(a, t)?,
        SqlType::Numeric { .. } => {
            // Stored exactly, as the decimal's text.
            let d = cast_checked(a, &t.arrow_type())?;
            let options = FormatOptions::default();
            let formatter = arrow::util::display::ArrayFormatter::try_new(d.as_ref(), &options)
                .map_err(|e| QueryError::InvalidText(e.to_string()))?;
            let strings: arrow::array::StringArray = (0..d.len())
                .map(|i| d.is_valid(i).then(|| formatter.value(i).to_string()))
                .collect();
            Arc::new(strings)
        }
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Decimal128Array;
    use strata_storage::SqlColumn;

    /// A table with one numeric column stored as `stored`.
    fn numeric_table(precision: u8, stored: FieldType) -> TableDef {
        let mut s = TableSchema::new("t", "ts", Vec::<String>::new(), [("n", stored)]);
        s.sql_columns.insert(
            "n".into(),
            SqlColumn {
                sql_type: format!("numeric({precision},2)"),
                not_null: false,
                default: None,
            },
        );
        TableDef::new(s).unwrap()
    }

    /// Writes the values through the physical form the table stores and reads them back.
    fn round_trip(def: &TableDef, values: &[Option<i128>], precision: u8) -> Vec<Option<i128>> {
        let decimals: ArrayRef = Arc::new(
            values
                .iter()
                .copied()
                .collect::<Decimal128Array>()
                .with_precision_and_scale(precision, 2)
                .unwrap(),
        );
        let Role::Field(stored) = def.columns[1].role else {
            panic!("a field")
        };
        let physical = to_physical(&decimals, def.columns[1].sql_type, stored).unwrap();
        assert_eq!(physical.data_type(), &stored.arrow_type());
        let back = to_declared(&physical, def.columns[1].sql_type).unwrap();
        back.as_primitive::<Decimal128Type>().iter().collect()
    }

    #[test]
    fn numerics_round_trip_in_every_stored_form() {
        let values = [Some(12345), None, Some(-1), Some(0)];
        // New tables: an unscaled integer up to 18 digits, 16 bytes beyond.
        let narrow = numeric_table(
            10,
            SqlType::Numeric {
                precision: 10,
                scale: 2,
            }
            .field_type(),
        );
        assert!(matches!(
            narrow.columns[1].role,
            Role::Field(FieldType::Integer)
        ));
        assert_eq!(round_trip(&narrow, &values, 10), values);
        let wide = numeric_table(
            30,
            SqlType::Numeric {
                precision: 30,
                scale: 2,
            }
            .field_type(),
        );
        assert!(matches!(
            wide.columns[1].role,
            Role::Field(FieldType::Bytes)
        ));
        let big = [Some(10i128.pow(29) - 1), Some(-(10i128.pow(29) - 1)), None];
        assert_eq!(round_trip(&wide, &big, 30), big);
        // Tables made before numerics were decimals keep their text field.
        let old = numeric_table(10, FieldType::Text);
        assert_eq!(round_trip(&old, &values, 10), values);
    }
}
