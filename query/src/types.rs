//! SQL column types: what `CREATE TABLE` accepts, how each is stored by the engine and what
//! Arrow (and so Postgres) type queries see.
//!
//! Storage has four physical field types (float, integer, boolean, text) plus the time
//! column and string tags. Every SQL type maps onto one of them without loss, and the
//! declared type is kept in the table schema ([`strata_storage::SqlColumn`]) so scans can
//! give clients back exactly the type they declared:
//!
//! | SQL                                 | stored as          | Arrow                    |
//! |-------------------------------------|--------------------|--------------------------|
//! | `timestamptz`                       | time / integer ns  | `Timestamp(ns, "UTC")`   |
//! | `timestamp`                         | time / integer ns  | `Timestamp(ns)`          |
//! | `date`                              | integer (days)     | `Date32`                 |
//! | `smallint`, `integer`, `bigint`     | integer            | `Int16`, `Int32`, `Int64`|
//! | `real`, `double precision`          | float              | `Float32`, `Float64`     |
//! | `boolean`                           | boolean            | `Boolean`                |
//! | `text`                              | tag or text        | `Utf8`                   |
//! | `varchar(n)`, `char(n)`, `json`, `jsonb` | tag or text   | `Utf8` + [`PG_TYPE_KEY`] |
//! | `uuid`                              | tag or text        | `Utf8` + [`PG_TYPE_KEY`] |
//! | `numeric(p,s)`, p <= 18             | integer (unscaled) | `Decimal128(p,s)`        |
//! | `numeric(p,s)`, p > 18              | bytes (i128 LE)    | `Decimal128(p,s)`        |
//! | `time`                              | integer (us)       | `Time64(us)`             |
//! | `interval`                          | bytes (16)         | `Interval(MonthDayNano)` |
//! | `bytea`                             | bytes              | `Binary`                 |
//!
//! `numeric` without a precision is `numeric(38,10)`: Arrow decimals have a fixed scale.
//! Tables created before numerics were stored as decimals keep theirs as text (the stored
//! field type says which); both read back the same. An interval is stored as Arrow keeps
//! it: i32 months, i32 days, i64 nanoseconds, little-endian. A `uuid` is its canonical
//! text (checked on the way in), so it compares with string literals and can be a tag;
//! the Arrow field says `uuid` in its metadata, and clients see PostgreSQL's `uuid` type.
//! `varchar(n)` and `char(n)` are text whose length is checked on the way in (22001 past
//! `n` characters, unless the excess is spaces, which are cut as PostgreSQL cuts them);
//! a `char(n)` is stored padded with spaces to `n`. Their metadata gives clients the
//! types `varchar` and `bpchar` with the declared length. `json` and `jsonb` are text
//! checked to be JSON on the way in (22P02 otherwise), kept as written (PostgreSQL
//! normalizes `jsonb`'s spacing and key order; Strata does not), typed `json`/`jsonb` to
//! clients.

use std::fmt;

use arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::sql::sqlparser::ast::{self, ExactNumberInfo, TimezoneInfo};
use strata_storage::FieldType;

use crate::error::{QueryError, Result};

/// The largest `numeric` precision stored as an unscaled integer (10^18 < 2^63); wider
/// ones are stored as 16-byte integers.
pub const MAX_INTEGER_PRECISION: u8 = 18;

/// A column type as declared in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Timestamptz,
    Timestamp,
    Date,
    SmallInt,
    Integer,
    BigInt,
    Real,
    Double,
    Boolean,
    Text,
    Numeric {
        precision: u8,
        scale: i8,
    },
    Time,
    Interval,
    Bytea,
    Uuid,
    /// `varchar(n)`; `None` for `varchar` without a length.
    Varchar(Option<u32>),
    /// `char(n)` (`bpchar`).
    Char(u32),
    Json,
    Jsonb,
}

/// Field metadata giving the declared length of a `varchar(n)` or `char(n)` field.
pub const PG_LENGTH_KEY: &str = "strata.pg_length";

/// Field metadata naming the PostgreSQL type of a column whose Arrow type does not say
/// (`uuid` on `Utf8`).
pub const PG_TYPE_KEY: &str = "strata.pg_type";

/// The type OID of `field` if it is an `int2vector` (22) or `oidvector` (30), as
/// `pg_index.indkey` and `indclass` are: lists inside queries (`unnest`, subscripts), which
/// clients receive as PostgreSQL prints them (`1 2`).
pub fn vector_oid(field: &arrow::datatypes::Field) -> Option<u32> {
    match field.metadata().get(PG_TYPE_KEY).map(String::as_str) {
        Some("int2vector") => Some(22),
        Some("oidvector") => Some(30),
        _ => None,
    }
}

/// The text types whose Arrow field names them in its metadata ([`PG_TYPE_KEY`]), with
/// their PostgreSQL type OIDs.
const MARKED_TYPES: &[(&str, u32)] = &[
    ("uuid", 2950),
    ("varchar", 1043),
    ("bpchar", 1042),
    ("json", 114),
    ("jsonb", 3802),
];

fn marked_oid(name: &str) -> Option<u32> {
    MARKED_TYPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, oid)| *oid)
}

/// The PostgreSQL type OID (and declared length) of a text field whose metadata names its
/// type ([`MARKED_TYPES`]).
pub fn text_type(field: &arrow::datatypes::Field) -> Option<(u32, Option<u32>)> {
    let oid = marked_oid(field.metadata().get(PG_TYPE_KEY)?)?;
    let length = field
        .metadata()
        .get(PG_LENGTH_KEY)
        .and_then(|n| n.parse().ok());
    Some((oid, length))
}

/// True if `field` holds `uuid` values.
pub fn is_uuid(field: &arrow::datatypes::Field) -> bool {
    text_type(field).is_some_and(|(oid, _)| oid == 2950)
}

impl SqlType {
    /// The Arrow type queries see.
    pub fn arrow_type(self) -> DataType {
        match self {
            SqlType::Timestamptz => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, None),
            SqlType::Date => DataType::Date32,
            SqlType::SmallInt => DataType::Int16,
            SqlType::Integer => DataType::Int32,
            SqlType::BigInt => DataType::Int64,
            SqlType::Real => DataType::Float32,
            SqlType::Double => DataType::Float64,
            SqlType::Boolean => DataType::Boolean,
            SqlType::Text => DataType::Utf8,
            SqlType::Numeric { precision, scale } => DataType::Decimal128(precision, scale),
            SqlType::Time => DataType::Time64(TimeUnit::Microsecond),
            SqlType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            SqlType::Bytea => DataType::Binary,
            SqlType::Uuid
            | SqlType::Varchar(_)
            | SqlType::Char(_)
            | SqlType::Json
            | SqlType::Jsonb => DataType::Utf8,
        }
    }

    /// The Arrow field of a column of this type (with [`PG_TYPE_KEY`] where the Arrow type
    /// does not say).
    pub fn arrow_field(self, name: &str, nullable: bool) -> arrow::datatypes::Field {
        let field = arrow::datatypes::Field::new(name, self.arrow_type(), nullable);
        let Some(name) = self.marked_name() else {
            return field;
        };
        let mut metadata =
            std::collections::HashMap::from([(PG_TYPE_KEY.to_owned(), name.to_owned())]);
        if let SqlType::Varchar(Some(n)) | SqlType::Char(n) = self {
            metadata.insert(PG_LENGTH_KEY.to_owned(), n.to_string());
        }
        field.with_metadata(metadata)
    }

    /// The name a field of this type carries in its metadata ([`MARKED_TYPES`]).
    fn marked_name(self) -> Option<&'static str> {
        Some(match self {
            SqlType::Uuid => "uuid",
            SqlType::Varchar(_) => "varchar",
            SqlType::Char(_) => "bpchar",
            SqlType::Json => "json",
            SqlType::Jsonb => "jsonb",
            _ => return None,
        })
    }

    /// The PostgreSQL type OID of this type where the Arrow type does not tell it (text
    /// types named in field metadata).
    pub fn marked_oid(self) -> Option<u32> {
        marked_oid(self.marked_name()?)
    }

    /// PostgreSQL's type modifier (`atttypmod`): `((p << 16) | s) + 4` for `numeric(p,s)`,
    /// `n + 4` for `varchar(n)` and `char(n)`, -1 for `varchar`; `None` where it is -1 by
    /// type.
    pub fn typmod(self) -> Option<i32> {
        match self {
            SqlType::Numeric { precision, scale } => {
                Some(((i32::from(precision) << 16) | (i32::from(scale) & 0xffff)) + 4)
            }
            SqlType::Varchar(n) => Some(n.map_or(-1, |n| n as i32 + 4)),
            SqlType::Char(n) => Some(n as i32 + 4),
            _ => None,
        }
    }

    /// How a field of this type is stored.
    pub fn field_type(self) -> FieldType {
        match self {
            SqlType::Timestamptz
            | SqlType::Timestamp
            | SqlType::Date
            | SqlType::SmallInt
            | SqlType::Integer
            | SqlType::BigInt
            | SqlType::Time => FieldType::Integer,
            SqlType::Numeric { precision, .. } if precision <= MAX_INTEGER_PRECISION => {
                FieldType::Integer
            }
            SqlType::Numeric { .. } | SqlType::Interval | SqlType::Bytea => FieldType::Bytes,
            SqlType::Real | SqlType::Double => FieldType::Float,
            SqlType::Boolean => FieldType::Boolean,
            SqlType::Text
            | SqlType::Uuid
            | SqlType::Varchar(_)
            | SqlType::Char(_)
            | SqlType::Json
            | SqlType::Jsonb => FieldType::Text,
        }
    }

    /// The type a column stored as `ty` has when no SQL declaration was recorded (tables
    /// made through the storage API or by line protocol).
    pub fn of_field(ty: FieldType) -> SqlType {
        match ty {
            FieldType::Float => SqlType::Double,
            FieldType::Integer => SqlType::BigInt,
            FieldType::Boolean => SqlType::Boolean,
            FieldType::Text => SqlType::Text,
            FieldType::Bytes => SqlType::Bytea,
        }
    }

    /// True for the types stored as text, which may be tags (`text` and its kin, `uuid`).
    pub fn is_text_like(self) -> bool {
        matches!(
            self,
            SqlType::Text
                | SqlType::Uuid
                | SqlType::Varchar(_)
                | SqlType::Char(_)
                | SqlType::Json
                | SqlType::Jsonb
        )
    }

    /// True for the types a time column may have.
    pub fn is_timestamp(self) -> bool {
        matches!(self, SqlType::Timestamptz | SqlType::Timestamp)
    }

    /// Parses the canonical spelling written by `Display` (as stored in the catalog).
    pub fn parse_canonical(s: &str) -> Option<SqlType> {
        Some(match s {
            "timestamptz" => SqlType::Timestamptz,
            "timestamp" => SqlType::Timestamp,
            "date" => SqlType::Date,
            "smallint" => SqlType::SmallInt,
            "integer" => SqlType::Integer,
            "bigint" => SqlType::BigInt,
            "real" => SqlType::Real,
            "double precision" => SqlType::Double,
            "boolean" => SqlType::Boolean,
            "text" => SqlType::Text,
            "time" => SqlType::Time,
            "interval" => SqlType::Interval,
            "bytea" => SqlType::Bytea,
            "uuid" => SqlType::Uuid,
            "varchar" => SqlType::Varchar(None),
            "json" => SqlType::Json,
            "jsonb" => SqlType::Jsonb,
            _ if s.starts_with("varchar(") => SqlType::Varchar(Some(
                s.strip_prefix("varchar(")?
                    .strip_suffix(')')?
                    .parse()
                    .ok()?,
            )),
            _ if s.starts_with("char(") => {
                SqlType::Char(s.strip_prefix("char(")?.strip_suffix(')')?.parse().ok()?)
            }
            _ => {
                let inner = s.strip_prefix("numeric(")?.strip_suffix(')')?;
                let (p, sc) = inner.split_once(',').unwrap_or((inner, "0"));
                SqlType::Numeric {
                    precision: p.trim().parse().ok()?,
                    scale: sc.trim().parse().ok()?,
                }
            }
        })
    }

    /// Maps a parsed SQL data type; anything unsupported is a 0A000 naming the type.
    pub fn from_ast(dt: &ast::DataType) -> Result<SqlType> {
        use ast::DataType as D;
        let unsupported = || QueryError::Unsupported(format!("column type {dt}"));
        Ok(match dt {
            D::Timestamp(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => SqlType::Timestamptz,
            D::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
                SqlType::Timestamp
            }
            D::Datetime(_) => SqlType::Timestamp,
            D::Date => SqlType::Date,
            D::Time(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => SqlType::Time,
            D::Interval { fields: None, .. } => SqlType::Interval,
            D::Bytea => SqlType::Bytea,
            D::Uuid => SqlType::Uuid,
            D::SmallInt(_) | D::Int2(_) => SqlType::SmallInt,
            D::Int(_) | D::Integer(_) | D::Int4(_) => SqlType::Integer,
            D::BigInt(_) | D::Int8(_) => SqlType::BigInt,
            D::Real | D::Float4 => SqlType::Real,
            D::Float(info) => match info {
                ExactNumberInfo::Precision(p) | ExactNumberInfo::PrecisionAndScale(p, _)
                    if *p <= 24 =>
                {
                    SqlType::Real
                }
                _ => SqlType::Double,
            },
            D::Double(_) | D::DoublePrecision | D::Float8 | D::Float64 => SqlType::Double,
            D::Boolean | D::Bool => SqlType::Boolean,
            D::Text | D::String(_) => SqlType::Text,
            D::JSON => SqlType::Json,
            D::JSONB => SqlType::Jsonb,
            D::Varchar(len) | D::CharacterVarying(len) => SqlType::Varchar(match len {
                None => None,
                Some(l) => Some(char_length(l, dt)?),
            }),
            D::Char(len) | D::Character(len) => SqlType::Char(match len {
                None => 1,
                Some(l) => char_length(l, dt)?,
            }),
            D::Numeric(info) | D::Decimal(info) | D::Dec(info) => {
                let (precision, scale) = match info {
                    ExactNumberInfo::None => (38, 10),
                    ExactNumberInfo::Precision(p) => (*p, 0),
                    ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
                };
                if !(1..=38).contains(&precision) || scale < 0 || scale as u64 > precision {
                    return Err(QueryError::Unsupported(format!(
                        "column type {dt} (numeric precision must be 1 to 38 and scale 0 to the precision)"
                    )));
                }
                SqlType::Numeric {
                    precision: precision as u8,
                    scale: scale as i8,
                }
            }
            D::Custom(name, args) if args.is_empty() => {
                match name.to_string().to_ascii_lowercase().as_str() {
                    "timestamptz" => SqlType::Timestamptz,
                    "uuid" => SqlType::Uuid,
                    "text" | "citext" | "name" => SqlType::Text,
                    "json" => SqlType::Json,
                    "jsonb" => SqlType::Jsonb,
                    "varchar" => SqlType::Varchar(None),
                    "bpchar" => SqlType::Char(1),
                    "int2" => SqlType::SmallInt,
                    "int4" => SqlType::Integer,
                    "int8" => SqlType::BigInt,
                    "float4" => SqlType::Real,
                    "float8" => SqlType::Double,
                    "bool" => SqlType::Boolean,
                    "bytea" => SqlType::Bytea,
                    _ => return Err(unsupported()),
                }
            }
            _ => return Err(unsupported()),
        })
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Timestamptz => f.write_str("timestamptz"),
            SqlType::Timestamp => f.write_str("timestamp"),
            SqlType::Date => f.write_str("date"),
            SqlType::SmallInt => f.write_str("smallint"),
            SqlType::Integer => f.write_str("integer"),
            SqlType::BigInt => f.write_str("bigint"),
            SqlType::Real => f.write_str("real"),
            SqlType::Double => f.write_str("double precision"),
            SqlType::Boolean => f.write_str("boolean"),
            SqlType::Text => f.write_str("text"),
            SqlType::Numeric { precision, scale } => write!(f, "numeric({precision},{scale})"),
            SqlType::Time => f.write_str("time"),
            SqlType::Interval => f.write_str("interval"),
            SqlType::Bytea => f.write_str("bytea"),
            SqlType::Uuid => f.write_str("uuid"),
            SqlType::Varchar(None) => f.write_str("varchar"),
            SqlType::Varchar(Some(n)) => write!(f, "varchar({n})"),
            SqlType::Char(n) => write!(f, "char({n})"),
            SqlType::Json => f.write_str("json"),
            SqlType::Jsonb => f.write_str("jsonb"),
        }
    }
}

/// The length of a `varchar(n)` / `char(n)`: 1 to 10,485,760 as in PostgreSQL (22023
/// otherwise, with PostgreSQL's message).
fn char_length(len: &ast::CharacterLength, dt: &ast::DataType) -> Result<u32> {
    const MAX: u64 = 10 * 1024 * 1024;
    let n = match len {
        ast::CharacterLength::IntegerLength { length, .. } => *length,
        ast::CharacterLength::Max => {
            return Err(QueryError::Unsupported(format!("column type {dt}")));
        }
    };
    if n == 0 || n > MAX {
        return Err(QueryError::InvalidParameterValue(format!(
            "length for type {} must be between 1 and {MAX}",
            if dt.to_string().to_ascii_lowercase().contains("var") {
                "varchar"
            } else {
                "char"
            }
        )));
    }
    Ok(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_spelling_round_trips() {
        for t in [
            SqlType::Timestamptz,
            SqlType::Timestamp,
            SqlType::Date,
            SqlType::SmallInt,
            SqlType::Integer,
            SqlType::BigInt,
            SqlType::Real,
            SqlType::Double,
            SqlType::Boolean,
            SqlType::Text,
            SqlType::Varchar(None),
            SqlType::Varchar(Some(20)),
            SqlType::Char(3),
            SqlType::Json,
            SqlType::Jsonb,
            SqlType::Numeric {
                precision: 12,
                scale: 3,
            },
            SqlType::Time,
            SqlType::Interval,
            SqlType::Bytea,
            SqlType::Uuid,
        ] {
            assert_eq!(SqlType::parse_canonical(&t.to_string()), Some(t));
        }
        assert_eq!(SqlType::parse_canonical("blob"), None);
    }
}
