//! Table schemas.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::relation::{IndexDef, KeyDef};

/// One day in nanoseconds: the default partition interval.
pub const DEFAULT_PARTITION_INTERVAL_NS: i64 = 86_400_000_000_000;

/// The time value that stands for SQL NULL: a row whose time column is NULL is stored with
/// this time. It lies below every valid time ([`TableSchema::min_time`]), so such rows sort
/// first in their series, fill a partition of their own (whose start is `NULL_TIME`), and
/// are matched by a [`crate::TimeRange`] only when the range starts at `i64::MIN` (the
/// unbounded range, [`crate::TimeRange::ALL`]). Rows with a NULL time are never
/// deduplicated (NULL is not equal to NULL), are never moved to the cold tier, and count as
/// older than every retention cutoff.
pub const NULL_TIME: i64 = i64::MIN;

/// The type of a field column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Float,
    Integer,
    Boolean,
    Text,
    /// Arbitrary bytes (Arrow `Binary`): `bytea`, and the SQL layer's fixed-width
    /// encodings of `uuid`, `interval` and wide `numeric`.
    Bytes,
}

impl FieldType {
    /// The Arrow type scans return for this field.
    pub fn arrow_type(self) -> DataType {
        match self {
            FieldType::Float => DataType::Float64,
            FieldType::Integer => DataType::Int64,
            FieldType::Boolean => DataType::Boolean,
            FieldType::Text => DataType::Utf8,
            FieldType::Bytes => DataType::Binary,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            FieldType::Float => 2,
            FieldType::Integer => 3,
            FieldType::Boolean => 4,
            FieldType::Text => 5,
            FieldType::Bytes => 6,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            2 => FieldType::Float,
            3 => FieldType::Integer,
            4 => FieldType::Boolean,
            5 => FieldType::Text,
            6 => FieldType::Bytes,
            _ => return None,
        })
    }
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::Boolean => "boolean",
            FieldType::Text => "text",
            FieldType::Bytes => "bytes",
        })
    }
}

/// A field column: a measured value, nullable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: FieldType,
}

/// A column added to an existing table by [`crate::Engine::add_column`]. Rows written before
/// read it as NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewColumn {
    /// A tag (part of the series key), added after the existing tags.
    Tag(String),
    /// A field, added after the existing fields.
    Field(FieldDef),
}

impl NewColumn {
    /// The column's name.
    pub fn name(&self) -> &str {
        match self {
            NewColumn::Tag(name) => name,
            NewColumn::Field(f) => &f.name,
        }
    }
}

/// What the SQL layer declared for a column: its SQL type and constraints. Storage keeps it
/// with the schema and never interprets it; `strata-query` maps it to Arrow and Postgres
/// types and enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlColumn {
    /// The declared type in canonical form, e.g. `integer`, `numeric(10,2)`, `timestamptz`.
    pub sql_type: String,
    /// Declared `NOT NULL`.
    #[serde(default)]
    pub not_null: bool,
    /// The `DEFAULT` expression as SQL text; `strata-query` plans it for each `INSERT` that
    /// leaves the column out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// The shape of a table: one time column, tag columns (strings identifying a series) and
/// field columns. Rows with equal tags and time are one point: the later write replaces the
/// earlier one unless `append_only`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    pub name: String,
    pub time_column: String,
    pub tags: Vec<String>,
    pub fields: Vec<FieldDef>,
    /// Width of a time partition in nanoseconds.
    #[serde(default = "default_interval")]
    pub partition_interval_ns: i64,
    /// Keep every written row, even with the same series and time.
    #[serde(default)]
    pub append_only: bool,
    /// The time column is internal: the SQL layer fills it with the write time and hides
    /// it. Ordinary tables without a timestamp column (reference data) are stored this way.
    #[serde(default)]
    pub hidden_time: bool,
    /// SQL declarations by column name (see [`SqlColumn`]); empty for tables made through
    /// the storage API alone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sql_columns: BTreeMap<String, SqlColumn>,
    /// The order the SQL layer shows columns in (as declared by `CREATE TABLE`, then
    /// `ADD COLUMN`s); empty means storage order (time, tags, fields).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_order: Vec<String>,
    /// Partitions whose whole time range is older than `now - cold_after_ns` are moved to
    /// the cold tier by the tiering job; `None` keeps every partition local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_after_ns: Option<i64>,
    /// Rows older than `now - retention_ns` are never returned; the retention job drops
    /// every partition wholly older than that, in every tier. `None` keeps rows forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_ns: Option<i64>,
    /// The tag column whose value names the person a row is about (`subject_column`):
    /// subject erasure deletes by it. `None` when the table declares none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_column: Option<String>,
    /// `PRIMARY KEY` and `UNIQUE` constraints (see [`crate::relation`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyDef>,
    /// Indexes of `CREATE INDEX`, kept as declared (see [`crate::relation`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<IndexDef>,
    /// `COMMENT ON TABLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `COMMENT ON COLUMN`, by column name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub column_comments: BTreeMap<String, String>,
}

/// The smallest valid time of a table partitioned every `partition_interval_ns` (see
/// [`TableSchema::min_time`]).
pub fn min_time(partition_interval_ns: i64) -> i64 {
    let iv = partition_interval_ns;
    (NULL_TIME.div_euclid(iv) + 1).saturating_mul(iv)
}

fn default_interval() -> i64 {
    DEFAULT_PARTITION_INTERVAL_NS
}

impl TableSchema {
    /// A schema with the default partition interval, not append-only.
    pub fn new(
        name: impl Into<String>,
        time_column: impl Into<String>,
        tags: impl IntoIterator<Item = impl Into<String>>,
        fields: impl IntoIterator<Item = (impl Into<String>, FieldType)>,
    ) -> Self {
        TableSchema {
            name: name.into(),
            time_column: time_column.into(),
            tags: tags.into_iter().map(Into::into).collect(),
            fields: fields
                .into_iter()
                .map(|(name, ty)| FieldDef {
                    name: name.into(),
                    ty,
                })
                .collect(),
            partition_interval_ns: DEFAULT_PARTITION_INTERVAL_NS,
            append_only: false,
            hidden_time: false,
            sql_columns: BTreeMap::new(),
            column_order: Vec::new(),
            cold_after_ns: None,
            retention_ns: None,
            subject_column: None,
            keys: Vec::new(),
            indexes: Vec::new(),
            comment: None,
            column_comments: BTreeMap::new(),
        }
    }

    /// Checks names and options.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Error::InvalidSchema {
            table: self.name.clone(),
            reason,
        };
        if self.name.is_empty() {
            return Err(invalid("the table name is empty".into()));
        }
        if self.partition_interval_ns <= 0 {
            return Err(invalid(format!(
                "partition interval must be positive, got {} ns",
                self.partition_interval_ns
            )));
        }
        if let Some(age) = self.cold_after_ns {
            if age < 0 {
                return Err(invalid(format!(
                    "cold_after must not be negative, got {age} ns"
                )));
            }
            if self.hidden_time {
                return Err(invalid(
                    "a table without a time column has no partitions to move to the cold tier"
                        .into(),
                ));
            }
        }
        if let Some(age) = self.retention_ns {
            if age <= 0 {
                return Err(invalid(format!("retention must be positive, got {age} ns")));
            }
            if self.hidden_time {
                return Err(invalid(
                    "a table without a time column has no time to expire rows by".into(),
                ));
            }
        }
        if let Some(subject) = &self.subject_column {
            if !self.tags.contains(subject) {
                return Err(invalid(format!(
                    "subject_column {subject:?} must be a tag column (one of {:?})",
                    self.tags
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for name in self.column_names() {
            if name.is_empty() {
                return Err(invalid("a column name is empty".into()));
            }
            if !seen.insert(name) {
                return Err(invalid(format!("column {name:?} is declared twice")));
            }
        }
        if let Some(name) = self.sql_columns.keys().find(|n| !seen.contains(n.as_str())) {
            return Err(invalid(format!(
                "SQL declaration for unknown column {name:?}"
            )));
        }
        let mut names = std::collections::HashSet::new();
        let declared = self
            .keys
            .iter()
            .map(|k| (&k.name, &k.columns))
            .chain(self.indexes.iter().map(|i| (&i.name, &i.columns)));
        for (name, columns) in declared {
            if name.is_empty() || name == &self.name || !names.insert(name.as_str()) {
                return Err(invalid(format!("index or key name {name:?} is not unique")));
            }
            if columns.is_empty() {
                return Err(invalid(format!("index or key {name:?} names no column")));
            }
            if let Some(c) = columns.iter().find(|c| !seen.contains(c.as_str())) {
                return Err(invalid(format!(
                    "index or key {name:?} names unknown column {c:?}"
                )));
            }
        }
        if self.keys.iter().filter(|k| k.primary).count() > 1 {
            return Err(invalid("a table has at most one primary key".into()));
        }
        if let Some(c) = self
            .column_comments
            .keys()
            .find(|c| !seen.contains(c.as_str()))
        {
            return Err(invalid(format!("comment on unknown column {c:?}")));
        }
        if !self.column_order.is_empty() {
            let mut ordered = std::collections::HashSet::new();
            for name in &self.column_order {
                if !seen.contains(name.as_str()) || !ordered.insert(name.as_str()) {
                    return Err(invalid(format!("column order names {name:?} wrongly")));
                }
            }
        }
        Ok(())
    }

    /// This schema with `column` added (tags after tags, fields after fields) and its SQL
    /// declaration recorded, validated.
    pub fn with_column(&self, column: &NewColumn, sql: Option<SqlColumn>) -> Result<TableSchema> {
        if self.column_names().any(|n| n == column.name()) {
            return Err(Error::ColumnExists {
                table: self.name.clone(),
                column: column.name().to_owned(),
            });
        }
        let mut next = self.clone();
        match column {
            NewColumn::Tag(name) => next.tags.push(name.clone()),
            NewColumn::Field(f) => next.fields.push(f.clone()),
        }
        if let Some(sql) = sql {
            next.sql_columns.insert(column.name().to_owned(), sql);
        }
        if !next.column_order.is_empty() {
            next.column_order.push(column.name().to_owned());
        }
        next.validate()?;
        Ok(next)
    }

    /// The names of the indexes this table declares: its keys' and `CREATE INDEX`'s.
    pub fn index_names(&self) -> impl Iterator<Item = &str> {
        self.keys
            .iter()
            .map(|k| k.name.as_str())
            .chain(self.indexes.iter().map(|i| i.name.as_str()))
    }

    /// All column names in scan order: time, tags, fields.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.time_column.as_str())
            .chain(self.tags.iter().map(String::as_str))
            .chain(self.fields.iter().map(|f| f.name.as_str()))
    }

    /// Number of columns (time + tags + fields).
    pub fn num_columns(&self) -> usize {
        1 + self.tags.len() + self.fields.len()
    }

    /// The Arrow schema of a full scan: time (`Timestamp(ns, "UTC")`, not null), tags
    /// (`Utf8`), fields.
    pub fn arrow_schema(&self) -> SchemaRef {
        let mut fields = Vec::with_capacity(self.num_columns());
        fields.push(Field::new(
            &self.time_column,
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ));
        for t in &self.tags {
            fields.push(Field::new(t, DataType::Utf8, true));
        }
        for f in &self.fields {
            fields.push(Field::new(&f.name, f.ty.arrow_type(), true));
        }
        Arc::new(Schema::new(fields))
    }

    /// The start (inclusive, ns) of the partition holding `ts`, a valid time (at least
    /// [`TableSchema::min_time`]) or [`NULL_TIME`], whose partition starts at `NULL_TIME`.
    pub fn partition_start(&self, ts: i64) -> i64 {
        ts.div_euclid(self.partition_interval_ns)
            .checked_mul(self.partition_interval_ns)
            .unwrap_or(NULL_TIME)
    }

    /// The smallest valid time: the start of the first partition that begins after
    /// [`NULL_TIME`] (for daily partitions, 1677-09-22T00:00:00Z). Times below it cannot be
    /// written; every time from it up to `i64::MAX` can.
    pub fn min_time(&self) -> i64 {
        min_time(self.partition_interval_ns)
    }

    /// With a retention, the oldest time still kept at `now_ns`: rows before it are expired.
    pub fn retention_cutoff(&self, now_ns: i64) -> Option<i64> {
        self.retention_ns.map(|r| now_ns.saturating_sub(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_start_floors_negative_times() {
        let s = TableSchema::new("t", "ts", ["host"], [("v", FieldType::Float)]);
        let day = DEFAULT_PARTITION_INTERVAL_NS;
        assert_eq!(s.partition_start(0), 0);
        assert_eq!(s.partition_start(day - 1), 0);
        assert_eq!(s.partition_start(day), day);
        assert_eq!(s.partition_start(-1), -day);
    }

    #[test]
    fn the_first_valid_time_starts_a_whole_partition_after_null() {
        let mut s = TableSchema::new("t", "ts", ["host"], [("v", FieldType::Float)]);
        let day = DEFAULT_PARTITION_INTERVAL_NS;
        let min = s.min_time();
        assert!(min > NULL_TIME && min - NULL_TIME <= day);
        assert_eq!(min.rem_euclid(day), 0);
        assert_eq!(s.partition_start(min), min);
        assert_eq!(s.partition_start(NULL_TIME), NULL_TIME);
        assert_eq!(s.partition_start(i64::MAX), i64::MAX.div_euclid(day) * day);
        s.partition_interval_ns = i64::MAX;
        assert_eq!(s.min_time(), NULL_TIME + 1);
        assert_eq!(s.partition_start(s.min_time()), NULL_TIME + 1);
    }

    #[test]
    fn validate_rejects_duplicates_and_bad_intervals() {
        let mut s = TableSchema::new("t", "ts", ["a"], [("a", FieldType::Float)]);
        assert!(s.validate().is_err());
        s.fields[0].name = "b".into();
        assert!(s.validate().is_ok());
        s.partition_interval_ns = 0;
        assert!(s.validate().is_err());
    }
}
