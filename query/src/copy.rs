//! `COPY ... FROM STDIN` and `COPY ... TO STDOUT` in Postgres' text, CSV and binary
//! formats.
//!
//! Input is parsed as it arrives into Arrow columns of the table's declared types; values
//! are checked as Postgres checks them (`invalid input syntax for type integer: "x"`,
//! out-of-range integers, wrong column counts), with the line number in the message.
//! Nothing is written until the client ends the copy: a COPY with a bad row stores no row
//! at all, and neither does one whose client disconnects.

use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder,
    Decimal128Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder,
    IntervalMonthDayNanoBuilder, RecordBatch, StringBuilder, Time64MicrosecondBuilder,
    TimestampNanosecondBuilder,
};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit, Time64MicrosecondType,
    TimeUnit, TimestampNanosecondType, UInt64Type,
};
use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption};
use futures::StreamExt;
use strata_storage::WriteBatch;

use crate::datestyle::Order;
use crate::error::{QueryError, Result};
use crate::table::TableDef;
use crate::types::SqlType;

/// Rows per write batch.
const BATCH_ROWS: usize = 65_536;
/// Microseconds between the Unix epoch and Postgres' epoch (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;
const BINARY_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Text, CSV or binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyKind {
    Text,
    Csv,
    Binary,
}

/// A COPY format with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFormat {
    pub kind: CopyKind,
    pub delimiter: u8,
    pub null: String,
    pub header: bool,
    pub quote: u8,
    pub escape: u8,
}

impl CopyFormat {
    /// From `WITH (FORMAT csv, ...)` and the legacy `WITH CSV HEADER` spellings.
    pub fn from_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Self> {
        let mut kind = CopyKind::Text;
        let (mut delimiter, mut null, mut header, mut quote, mut escape) =
            (None, None, false, None, None);
        for o in options {
            match o {
                CopyOption::Format(f) => {
                    kind = match f.value.to_ascii_lowercase().as_str() {
                        "text" => CopyKind::Text,
                        "csv" => CopyKind::Csv,
                        "binary" => CopyKind::Binary,
                        other => {
                            return Err(QueryError::InvalidSetting {
                                name: "FORMAT".into(),
                                value: other.into(),
                            })
                        }
                    }
                }
                CopyOption::Delimiter(c) => delimiter = Some(*c),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(c) => quote = Some(*c),
                CopyOption::Escape(c) => escape = Some(*c),
                CopyOption::Freeze(_) => {}
                CopyOption::Encoding(e) => {
                    let e = e.to_ascii_lowercase().replace(['-', '_'], "");
                    if e != "utf8" {
                        return Err(QueryError::Unsupported(format!(
                            "COPY ENCODING {e:?} (only UTF8)"
                        )));
                    }
                }
                other => return Err(QueryError::Unsupported(format!("COPY option {other}"))),
            }
        }
        for o in legacy {
            match o {
                CopyLegacyOption::Binary => kind = CopyKind::Binary,
                CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                CopyLegacyOption::Header => header = true,
                CopyLegacyOption::Csv(csv) => {
                    kind = CopyKind::Csv;
                    for c in csv {
                        match c {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(q) => quote = Some(*q),
                            CopyLegacyCsvOption::Escape(e) => escape = Some(*e),
                            other => {
                                return Err(QueryError::Unsupported(format!("COPY option {other}")))
                            }
                        }
                    }
                }
                other => return Err(QueryError::Unsupported(format!("COPY option {other}"))),
            }
        }
        let byte = |name: &str, c: Option<char>, default: u8| -> Result<u8> {
            match c {
                None => Ok(default),
                Some(c) if c.is_ascii() && c != '\n' && c != '\r' => Ok(c as u8),
                Some(c) => Err(QueryError::InvalidSetting {
                    name: name.into(),
                    value: c.to_string(),
                }),
            }
        };
        let default_delim = if kind == CopyKind::Csv { b',' } else { b'\t' };
        let quote = byte("QUOTE", quote, b'"')?;
        let format = CopyFormat {
            kind,
            delimiter: byte("DELIMITER", delimiter, default_delim)?,
            null: null.unwrap_or_else(|| {
                if kind == CopyKind::Csv {
                    String::new()
                } else {
                    "\\N".into()
                }
            }),
            header,
            quote,
            escape: byte("ESCAPE", escape, quote)?,
        };
        if kind == CopyKind::Binary && (format.header || delimiter.is_some()) {
            return Err(QueryError::Syntax(
                "HEADER and DELIMITER are not available in BINARY mode".into(),
            ));
        }
        if kind == CopyKind::Text && header {
            return Err(QueryError::Unsupported(
                "HEADER in text COPY (use FORMAT csv)".into(),
            ));
        }
        Ok(format)
    }

    /// The wire format code: 0 text (text and CSV), 1 binary.
    pub fn wire_format(&self) -> i8 {
        if self.kind == CopyKind::Binary {
            1
        } else {
            0
        }
    }
}

/// One column being filled from COPY input, in its declared Arrow type.
enum Builder {
    Text(StringBuilder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    /// A date, read in the session's `DateStyle` field order.
    Date(Date32Builder, Order),
    /// A timestamp, its Arrow zone label, the zone text without one is read in (`None` for
    /// `timestamp`, which ignores zones) and the `DateStyle` field order.
    Ts(
        TimestampNanosecondBuilder,
        Option<Arc<str>>,
        Option<Tz>,
        Order,
    ),
    Dec(Decimal128Builder, u8, i8),
    Time(Time64MicrosecondBuilder),
    Interval(IntervalMonthDayNanoBuilder),
    Bytes(BinaryBuilder),
    /// `uuid`s, as their canonical text.
    Uuid(StringBuilder),
}

impl Builder {
    fn new(t: SqlType, zone: &Tz, order: Order) -> Builder {
        match t {
            SqlType::Text
            | SqlType::Varchar(_)
            | SqlType::Char(_)
            | SqlType::Json
            | SqlType::Jsonb => Builder::Text(StringBuilder::new()),
            SqlType::SmallInt => Builder::I16(Int16Builder::new()),
            SqlType::Integer => Builder::I32(Int32Builder::new()),
            SqlType::BigInt => Builder::I64(Int64Builder::new()),
            SqlType::Real => Builder::F32(Float32Builder::new()),
            SqlType::Double => Builder::F64(Float64Builder::new()),
            SqlType::Boolean => Builder::Bool(BooleanBuilder::new()),
            SqlType::Date => Builder::Date(Date32Builder::new(), order),
            SqlType::Timestamptz => Builder::Ts(
                TimestampNanosecondBuilder::new(),
                Some("UTC".into()),
                Some(*zone),
                order,
            ),
            SqlType::Timestamp => Builder::Ts(TimestampNanosecondBuilder::new(), None, None, order),
            SqlType::Numeric { precision, scale } => Builder::Dec(
                Decimal128Builder::new()
                    .with_precision_and_scale(precision, scale)
                    .expect("validated at CREATE TABLE"),
                precision,
                scale,
            ),
            SqlType::Time => Builder::Time(Time64MicrosecondBuilder::new()),
            SqlType::Interval => Builder::Interval(IntervalMonthDayNanoBuilder::new()),
            SqlType::Bytea => Builder::Bytes(BinaryBuilder::new()),
            SqlType::Uuid => Builder::Uuid(StringBuilder::new()),
        }
    }

    fn null(&mut self) {
        match self {
            Builder::Text(b) => b.append_null(),
            Builder::I16(b) => b.append_null(),
            Builder::I32(b) => b.append_null(),
            Builder::I64(b) => b.append_null(),
            Builder::F32(b) => b.append_null(),
            Builder::F64(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Date(b, _) => b.append_null(),
            Builder::Ts(b, ..) => b.append_null(),
            Builder::Dec(b, ..) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Interval(b) => b.append_null(),
            Builder::Bytes(b) => b.append_null(),
            Builder::Uuid(b) => b.append_null(),
        }
    }

    /// Appends a value given in Postgres text form.
    fn text(&mut self, s: &str, t: SqlType) -> Result<()> {
        let syntax =
            || QueryError::InvalidText(format!("invalid input syntax for type {t}: \"{s}\""));
        let range =
            || QueryError::OutOfRange(format!("value \"{s}\" is out of range for type {t}"));
        match self {
            Builder::Text(b) => b.append_value(s),
            Builder::I16(b) => b.append_value(
                parse_int(s, syntax, range)?
                    .try_into()
                    .map_err(|_| range())?,
            ),
            Builder::I32(b) => b.append_value(
                parse_int(s, syntax, range)?
                    .try_into()
                    .map_err(|_| range())?,
            ),
            Builder::I64(b) => b.append_value(parse_int(s, syntax, range)?),
            Builder::F32(b) => b.append_value(parse_float(s).ok_or_else(syntax)? as f32),
            Builder::F64(b) => b.append_value(parse_float(s).ok_or_else(syntax)?),
            Builder::Bool(b) => b.append_value(parse_bool(s).ok_or_else(syntax)?),
            Builder::Date(b, order) => {
                b.append_value(crate::datestyle::date_in(s, *order).map_err(|_| syntax())?)
            }
            Builder::Ts(b, _, zone, order) => {
                b.append_value(parse_timestamp(s, zone.as_ref(), *order).ok_or_else(syntax)?)
            }
            Builder::Dec(b, p, sc) => {
                let v = arrow::compute::kernels::cast_utils::parse_decimal::<Decimal128Type>(
                    s.trim(),
                    *p,
                    *sc,
                )
                .map_err(|_| syntax())?;
                b.append_value(v)
            }
            Builder::Time(b) => b.append_value(crate::pgvalue::time_in(s)?),
            Builder::Interval(b) => {
                let v = crate::pgvalue::interval_in(s).ok_or_else(syntax)?;
                b.append_value(IntervalMonthDayNano::new(v.months, v.days, v.nanos))
            }
            Builder::Bytes(b) => b.append_value(crate::pgvalue::bytea_in(s)?),
            Builder::Uuid(b) => {
                b.append_value(crate::pgvalue::uuid_out(&crate::pgvalue::uuid_in(s)?))
            }
        }
        Ok(())
    }

    /// Appends a value given in Postgres binary form.
    fn binary(&mut self, v: &[u8], t: SqlType) -> Result<()> {
        let bad = || {
            QueryError::InvalidBinary(format!(
                "incorrect binary data format for type {t} ({} bytes)",
                v.len()
            ))
        };
        let int = |v: &[u8]| -> Option<i64> {
            Some(match v.len() {
                2 => i16::from_be_bytes(v.try_into().ok()?) as i64,
                4 => i32::from_be_bytes(v.try_into().ok()?) as i64,
                8 => i64::from_be_bytes(v.try_into().ok()?),
                _ => return None,
            })
        };
        let float = |v: &[u8]| -> Option<f64> {
            Some(match v.len() {
                4 => f32::from_be_bytes(v.try_into().ok()?) as f64,
                8 => f64::from_be_bytes(v.try_into().ok()?),
                _ => return None,
            })
        };
        let range = || QueryError::OutOfRange(format!("value out of range for type {t}"));
        match self {
            Builder::Text(b) => b.append_value(std::str::from_utf8(v).map_err(|_| {
                QueryError::InvalidText("invalid byte sequence for encoding \"UTF8\"".into())
            })?),
            Builder::I16(b) => {
                b.append_value(int(v).ok_or_else(bad)?.try_into().map_err(|_| range())?)
            }
            Builder::I32(b) => {
                b.append_value(int(v).ok_or_else(bad)?.try_into().map_err(|_| range())?)
            }
            Builder::I64(b) => b.append_value(int(v).ok_or_else(bad)?),
            Builder::F32(b) => b.append_value(float(v).ok_or_else(bad)? as f32),
            Builder::F64(b) => b.append_value(float(v).ok_or_else(bad)?),
            Builder::Bool(b) => match v {
                [x] => b.append_value(*x != 0),
                _ => return Err(bad()),
            },
            Builder::Date(b, _) => {
                let days = i32::from_be_bytes(v.try_into().map_err(|_| bad())?);
                b.append_value(days.checked_add(PG_EPOCH_DAYS).ok_or_else(range)?)
            }
            Builder::Ts(b, ..) => {
                let us = i64::from_be_bytes(v.try_into().map_err(|_| bad())?);
                let ns = us
                    .checked_add(PG_EPOCH_US)
                    .and_then(|x| x.checked_mul(1_000))
                    .ok_or_else(range)?;
                b.append_value(ns)
            }
            Builder::Dec(b, p, sc) => {
                let text = numeric_binary_to_text(v).ok_or_else(bad)?;
                let d = arrow::compute::kernels::cast_utils::parse_decimal::<Decimal128Type>(
                    &text, *p, *sc,
                )
                .map_err(|_| range())?;
                b.append_value(d)
            }
            Builder::Time(b) => {
                let us = i64::from_be_bytes(v.try_into().map_err(|_| bad())?);
                if !(0..=86_400_000_000).contains(&us) {
                    return Err(range());
                }
                b.append_value(us)
            }
            Builder::Interval(b) => {
                // i64 microseconds, i32 days, i32 months.
                let v: [u8; 16] = v.try_into().map_err(|_| bad())?;
                let us = i64::from_be_bytes(v[..8].try_into().expect("8 bytes"));
                let days = i32::from_be_bytes(v[8..12].try_into().expect("4 bytes"));
                let months = i32::from_be_bytes(v[12..].try_into().expect("4 bytes"));
                let ns = us.checked_mul(1_000).ok_or_else(range)?;
                b.append_value(IntervalMonthDayNano::new(months, days, ns))
            }
            Builder::Bytes(b) => b.append_value(v),
            Builder::Uuid(b) => {
                let v: [u8; 16] = v.try_into().map_err(|_| bad())?;
                b.append_value(crate::pgvalue::uuid_out(&v))
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::I16(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Date(b, _) => Arc::new(b.finish()),
            Builder::Ts(b, tz, ..) => Arc::new(b.finish().with_timezone_opt(tz.clone())),
            Builder::Dec(b, p, s) => Arc::new(
                b.finish()
                    .with_precision_and_scale(*p, *s)
                    .expect("validated precision"),
            ),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Interval(b) => Arc::new(b.finish()),
            Builder::Bytes(b) => Arc::new(b.finish()),
            Builder::Uuid(b) => Arc::new(b.finish()),
        }
    }
}

fn parse_int(
    s: &str,
    syntax: impl Fn() -> QueryError,
    range: impl Fn() -> QueryError,
) -> Result<i64> {
    let t = s.trim();
    match t.parse::<i64>() {
        Ok(v) => Ok(v),
        Err(e) => match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                Err(range())
            }
            _ => Err(syntax()),
        },
    }
}

fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" | "inf" | "+inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => t.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// UTC as a [`Tz`].
fn utc() -> Tz {
    "+00:00".parse().expect("a valid offset")
}

/// Timestamps as PostgreSQL reads them ([`crate::pgtime::parse`]: a `timestamptz`
/// (`zone` given) without a zone in `zone`, a `timestamp` ignoring any zone), or as
/// RFC 3339.
pub(crate) fn parse_timestamp(s: &str, zone: Option<&Tz>, order: Order) -> Option<i64> {
    if let Some(v) = crate::pgtime::parse(s, zone, order) {
        return Some(v);
    }
    let t = s.trim();
    if let Ok(v) = arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(t) {
        return Some(v);
    }
    // Postgres' short offsets: `+00`, `-05`, `+05:30` is handled above.
    let b = t.as_bytes();
    if b.len() > 3
        && matches!(b[b.len() - 3], b'+' | b'-')
        && b[b.len() - 2..].iter().all(u8::is_ascii_digit)
    {
        return arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(&format!("{t}:00"))
            .ok();
    }
    None
}

/// Postgres binary numeric to decimal text.
fn numeric_binary_to_text(v: &[u8]) -> Option<String> {
    let word =
        |i: usize| -> Option<i16> { Some(i16::from_be_bytes(v.get(i..i + 2)?.try_into().ok()?)) };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i32;
    let sign = word(4)? as u16;
    let dscale = word(6)? as usize;
    if sign == 0xC000 || v.len() != 8 + 2 * ndigits {
        return None; // NaN has no decimal form
    }
    let mut int_part = String::new();
    let mut frac_part = String::new();
    for i in 0..ndigits {
        let d = word(8 + 2 * i)?;
        if !(0..10_000).contains(&d) {
            return None;
        }
        let pos = weight - i as i32; // power of 10000
        if pos >= 0 {
            if int_part.is_empty() {
                int_part = d.to_string();
            } else {
                int_part.push_str(&format!("{d:04}"));
            }
        } else {
            frac_part.push_str(&format!("{d:04}"));
        }
    }
    // Trailing zero groups of the integer part that are not stored.
    let stored_int_groups = (weight + 1).max(0) as usize;
    let present_int_groups = (0..ndigits).filter(|&i| weight - i as i32 >= 0).count();
    for _ in present_int_groups..stored_int_groups {
        if int_part.is_empty() {
            int_part.push('0');
        } else {
            int_part.push_str("0000");
        }
    }
    // Leading zero groups of the fraction that are not stored.
    if weight < -1 {
        frac_part = "0000".repeat((-weight - 1) as usize) + &frac_part;
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    frac_part.truncate(dscale.max(frac_part.len().min(dscale)));
    while frac_part.len() < dscale {
        frac_part.push('0');
    }
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    out.push_str(&int_part);
    if dscale > 0 {
        out.push('.');
        out.push_str(&frac_part[..dscale]);
    }
    Some(out)
}

/// A `COPY ... FROM STDIN` in progress.
pub struct CopyIn {
    def: TableDef,
    table: String,
    /// Indices into `def.columns`, in input order.
    target: Vec<usize>,
    /// Per column of `def`: the value a row gets when COPY leaves the column out (its
    /// `DEFAULT`, evaluated once for the statement); `None` stores NULL.
    defaults: Vec<Option<ScalarValue>>,
    format: CopyFormat,
    builders: Vec<Builder>,
    rows_in_builders: usize,
    batches: Vec<WriteBatch>,
    rows: u64,
    pending: Vec<u8>,
    line: u64,
    ended: bool,
    binary_header_seen: bool,
    /// The session's `TimeZone`: a `timestamptz` without a zone is read in it.
    time_zone: Tz,
    /// The session's `DateStyle` field order: `03/05/2024` is read in it.
    date_order: Order,
}

impl std::fmt::Debug for CopyIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyIn")
            .field("table", &self.table)
            .field("format", &self.format)
            .field("rows", &self.rows)
            .finish()
    }
}

impl CopyIn {
    /// A copy into `def`, of `columns` (all visible columns if empty). A column left out
    /// that has a `DEFAULT` takes its value from `defaults` (by column name: the default
    /// evaluated for this statement); one missing there fails with 0A000 (a volatile
    /// default, which PostgreSQL evaluates for each row).
    pub fn new(
        def: TableDef,
        columns: &[String],
        format: CopyFormat,
        defaults: &std::collections::HashMap<String, ScalarValue>,
    ) -> Result<CopyIn> {
        let target = if columns.is_empty() {
            (0..def.columns.len()).collect()
        } else {
            columns
                .iter()
                .map(|c| {
                    def.columns
                        .iter()
                        .position(|d| &d.name == c)
                        .ok_or_else(|| QueryError::UndefinedColumn {
                            table: def.name().to_owned(),
                            column: c.clone(),
                        })
                })
                .collect::<Result<Vec<_>>>()?
        };
        // PostgreSQL fills a column COPY leaves out with its DEFAULT.
        let mut filled = vec![None; def.columns.len()];
        for (i, c) in def.columns.iter().enumerate() {
            let has_default = def
                .storage
                .sql_columns
                .get(&c.name)
                .is_some_and(|s| s.default.is_some());
            if !has_default || target.contains(&i) {
                continue;
            }
            let value = defaults.get(&c.name).ok_or_else(|| {
                QueryError::Unsupported(format!(
                    "COPY that leaves out column \"{}\", whose DEFAULT is volatile (evaluated for each row)",
                    c.name
                ))
            })?;
            filled[i] = Some(value.cast_to(&c.sql_type.arrow_type())?);
        }
        let time_zone = utc();
        let date_order = Order::default();
        let builders = def
            .columns
            .iter()
            .map(|c| Builder::new(c.sql_type, &time_zone, date_order))
            .collect();
        Ok(CopyIn {
            table: def.name().to_owned(),
            def,
            target,
            defaults: filled,
            format,
            builders,
            rows_in_builders: 0,
            batches: Vec::new(),
            rows: 0,
            pending: Vec::new(),
            line: 0,
            ended: false,
            binary_header_seen: false,
            time_zone,
            date_order,
        })
    }

    /// Reads `timestamptz` text without a zone in `zone` (the session's `TimeZone`, as
    /// PostgreSQL's COPY does) instead of UTC (an unknown zone leaves UTC), and numeric
    /// dates in the field order `order` (the session's `DateStyle`) instead of `MDY`.
    pub fn in_session_style(mut self, zone: &str, order: Order) -> CopyIn {
        if let Ok(z) = zone.parse::<Tz>() {
            self.time_zone = z;
        }
        self.date_order = order;
        self.discard_partial(0);
        self
    }

    /// Columns the client sends per row.
    pub fn column_count(&self) -> usize {
        self.target.len()
    }

    pub fn format(&self) -> &CopyFormat {
        &self.format
    }

    /// Parses a chunk of input (a CopyData message).
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        self.pending.extend_from_slice(data);
        match self.format.kind {
            CopyKind::Binary => self.parse_binary(false),
            CopyKind::Text | CopyKind::Csv => self.parse_lines(false),
        }
    }

    /// The client finished sending (CopyDone): parses what is left.
    pub fn finish_input(&mut self) -> Result<()> {
        match self.format.kind {
            CopyKind::Binary => self.parse_binary(true)?,
            CopyKind::Text | CopyKind::Csv => self.parse_lines(true)?,
        }
        self.flush_builders()
    }

    /// Rows parsed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes every parsed row (blocking: the WAL fsyncs). Returns the row count.
    /// Ends the input: the parsed rows as write batches (to be written as one group, so
    /// the COPY stores every row or none) and their count.
    pub fn finish(mut self) -> Result<(Vec<WriteBatch>, u64)> {
        self.finish_input()?;
        Ok((self.batches, self.rows))
    }

    fn context(&self, e: QueryError) -> QueryError {
        let table = &self.table;
        let line = self.line;
        match e {
            QueryError::InvalidText(m) => {
                QueryError::InvalidText(format!("{m} (COPY {table}, line {line})"))
            }
            QueryError::OutOfRange(m) => {
                QueryError::OutOfRange(format!("{m} (COPY {table}, line {line})"))
            }
            QueryError::BadCopyFormat(m) => {
                QueryError::BadCopyFormat(format!("{m} (COPY {table}, line {line})"))
            }
            QueryError::InvalidBinary(m) => {
                QueryError::InvalidBinary(format!("{m} (COPY {table}, row {line})"))
            }
            QueryError::NotNullViolation { table, column } => {
                QueryError::NotNullViolation { table, column }
            }
            other => other,
        }
    }

    fn parse_lines(&mut self, at_end: bool) -> Result<()> {
        let mut start = 0;
        let buf = std::mem::take(&mut self.pending);
        let mut result = Ok(());
        while !self.ended {
            let Some(end) = self.find_record_end(&buf[start..], at_end) else {
                break;
            };
            let mut rec = &buf[start..start + end];
            start += end;
            if start < buf.len() && buf[start] == b'\n' {
                start += 1;
            }
            if rec.last() == Some(&b'\r') {
                rec = &rec[..rec.len() - 1];
            }
            self.line += 1;
            if rec == b"\\." {
                self.ended = true;
                break;
            }
            if self.format.header && self.line == 1 {
                continue;
            }
            if let Err(e) = self.record(rec) {
                result = Err(self.context(e));
                break;
            }
        }
        self.pending = buf[start..].to_vec();
        result?;
        if at_end && !self.pending.is_empty() && !self.ended {
            return Err(self.context(QueryError::BadCopyFormat(
                "unterminated CSV quoted field".into(),
            )));
        }
        Ok(())
    }

    /// Length of the next record in `b` (up to, not including, its newline), if complete.
    fn find_record_end(&self, b: &[u8], at_end: bool) -> Option<usize> {
        if b.is_empty() {
            return None;
        }
        if self.format.kind == CopyKind::Csv {
            let (q, esc) = (self.format.quote, self.format.escape);
            let mut in_quotes = false;
            let mut i = 0;
            while i < b.len() {
                let c = b[i];
                if in_quotes {
                    if c == esc && esc != q && i + 1 < b.len() && (b[i + 1] == q || b[i + 1] == esc)
                    {
                        i += 2;
                        continue;
                    }
                    if c == q {
                        if esc == q && i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        in_quotes = false;
                    }
                } else if c == q {
                    in_quotes = true;
                } else if c == b'\n' {
                    return Some(i);
                }
                i += 1;
            }
            (at_end && !in_quotes).then_some(b.len())
        } else {
            // A backslash-escaped newline is data, not a record end.
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 2,
                    b'\n' => return Some(i),
                    _ => i += 1,
                }
            }
            at_end.then_some(b.len())
        }
    }

    fn record(&mut self, rec: &[u8]) -> Result<()> {
        let values = match self.format.kind {
            CopyKind::Csv => split_csv(rec, &self.format)?,
            _ => split_text(rec, &self.format)?,
        };
        if values.len() > self.target.len() {
            return Err(QueryError::BadCopyFormat(
                "extra data after last expected column".into(),
            ));
        }
        if values.len() < self.target.len() {
            let missing = &self.def.columns[self.target[values.len()]].name;
            return Err(QueryError::BadCopyFormat(format!(
                "missing data for column \"{missing}\""
            )));
        }
        // Validate the whole row before appending, so builders stay aligned on error.
        let mut row: Vec<Option<&str>> = vec![None; self.def.columns.len()];
        for (&i, v) in self.target.iter().zip(&values) {
            row[i] = v.as_deref();
        }
        self.append_row(|b, i, t| match row[i] {
            None => {
                b.null();
                Ok(())
            }
            Some(s) => b.text(s, t),
        })
    }

    fn append_row(
        &mut self,
        mut f: impl FnMut(&mut Builder, usize, SqlType) -> Result<()>,
    ) -> Result<()> {
        for i in 0..self.def.columns.len() {
            let t = self.def.columns[i].sql_type;
            if let Err(e) = f(&mut self.builders[i], i, t) {
                let name = self.def.columns[i].name.clone();
                self.discard_partial(i);
                return Err(with_column(e, &name));
            }
        }
        self.rows_in_builders += 1;
        self.rows += 1;
        if self.rows_in_builders >= BATCH_ROWS {
            self.flush_builders()?;
        }
        Ok(())
    }

    /// Drops the first `filled` columns' last value after a failed row. The copy is
    /// aborted anyway, so the simplest correct thing is to drop all buffered rows.
    fn discard_partial(&mut self, _filled: usize) {
        self.builders = self
            .def
            .columns
            .iter()
            .map(|c| Builder::new(c.sql_type, &self.time_zone, self.date_order))
            .collect();
        self.rows_in_builders = 0;
        self.batches.clear();
    }

    fn flush_builders(&mut self) -> Result<()> {
        if self.rows_in_builders == 0 {
            return Ok(());
        }
        let n = self.rows_in_builders;
        let columns: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let columns = columns
            .into_iter()
            .zip(&self.defaults)
            .map(|(a, default)| match default {
                // Only columns the COPY leaves out have one.
                Some(v) => v.to_array_of_size(n).map_err(QueryError::from),
                None if a.len() == n => Ok(a),
                None => Ok(new_null_array(a.data_type(), n)),
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&self.def.arrow), columns)
            .map_err(|e| QueryError::DataFusion(Box::new(e.into())))?;
        let now = chrono::Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or(i64::MAX / 2);
        let wb = self.def.to_write_batch(&batch, now)?;
        self.batches.push(wb);
        self.rows_in_builders = 0;
        Ok(())
    }

    fn parse_binary(&mut self, at_end: bool) -> Result<()> {
        let buf = std::mem::take(&mut self.pending);
        let mut pos = 0;
        let result = (|| -> Result<()> {
            if !self.binary_header_seen {
                if buf.len() < 19 {
                    if at_end {
                        return Err(QueryError::BadCopyFormat(
                            "COPY file signature not recognized".into(),
                        ));
                    }
                    return Ok(());
                }
                if &buf[..11] != BINARY_SIGNATURE {
                    return Err(QueryError::BadCopyFormat(
                        "COPY file signature not recognized".into(),
                    ));
                }
                let ext = u32::from_be_bytes(buf[15..19].try_into().expect("4 bytes")) as usize;
                if buf.len() < 19 + ext {
                    return Ok(());
                }
                pos = 19 + ext;
                self.binary_header_seen = true;
            }
            while !self.ended {
                let Some(count) = buf.get(pos..pos + 2) else {
                    break;
                };
                let count = i16::from_be_bytes(count.try_into().expect("2 bytes"));
                if count == -1 {
                    self.ended = true;
                    pos += 2;
                    break;
                }
                // Find the whole tuple before parsing it.
                let mut p = pos + 2;
                let mut fields: Vec<Option<(usize, usize)>> =
                    Vec::with_capacity(count.max(0) as usize);
                let mut complete = true;
                for _ in 0..count.max(0) {
                    let Some(len) = buf.get(p..p + 4) else {
                        complete = false;
                        break;
                    };
                    let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
                    p += 4;
                    if len < 0 {
                        fields.push(None);
                    } else {
                        let len = len as usize;
                        if buf.len() < p + len {
                            complete = false;
                            break;
                        }
                        fields.push(Some((p, len)));
                        p += len;
                    }
                }
                if !complete {
                    break;
                }
                self.line += 1;
                if count as usize != self.target.len() {
                    return Err(QueryError::BadCopyFormat(format!(
                        "row field count is {count}, expected {}",
                        self.target.len()
                    )));
                }
                let mut row: Vec<Option<&[u8]>> = vec![None; self.def.columns.len()];
                for (&i, f) in self.target.iter().zip(&fields) {
                    row[i] = f.map(|(s, l)| &buf[s..s + l]);
                }
                self.append_row(|b, i, t| match row[i] {
                    None => {
                        b.null();
                        Ok(())
                    }
                    Some(v) => b.binary(v, t),
                })?;
                pos = p;
            }
            if at_end && !self.ended && pos < buf.len() {
                return Err(QueryError::BadCopyFormat(
                    "unexpected EOF in COPY data".into(),
                ));
            }
            Ok(())
        })();
        self.pending = buf[pos.min(buf.len())..].to_vec();
        result.map_err(|e| self.context(e))
    }
}

/// Adds the column to a value error's message.
fn with_column(e: QueryError, col: &str) -> QueryError {
    match e {
        QueryError::InvalidText(m) => QueryError::InvalidText(format!("{m}, column {col}")),
        QueryError::OutOfRange(m) => QueryError::OutOfRange(format!("{m}, column {col}")),
        QueryError::InvalidBinary(m) => QueryError::InvalidBinary(format!("{m}, column {col}")),
        other => other,
    }
}

/// Splits a text-format record, undoing backslash escapes; the NULL marker is `None`.
fn split_text(rec: &[u8], f: &CopyFormat) -> Result<Vec<Option<String>>> {
    let mut out = Vec::new();
    let mut field: Vec<u8> = Vec::new();
    let mut raw: Vec<u8> = Vec::new();
    let mut i = 0;
    let finish =
        |field: &mut Vec<u8>, raw: &mut Vec<u8>, out: &mut Vec<Option<String>>| -> Result<()> {
            let value = if raw.as_slice() == f.null.as_bytes() {
                None
            } else {
                Some(String::from_utf8(std::mem::take(field)).map_err(|_| {
                    QueryError::InvalidText("invalid byte sequence for encoding \"UTF8\"".into())
                })?)
            };
            field.clear();
            raw.clear();
            out.push(value);
            Ok(())
        };
    while i < rec.len() {
        let c = rec[i];
        if c == f.delimiter {
            finish(&mut field, &mut raw, &mut out)?;
            i += 1;
            continue;
        }
        raw.push(c);
        if c == b'\\' && i + 1 < rec.len() {
            let n = rec[i + 1];
            raw.push(n);
            i += 2;
            match n {
                b'b' => field.push(8),
                b'f' => field.push(12),
                b'n' => field.push(b'\n'),
                b'r' => field.push(b'\r'),
                b't' => field.push(b'\t'),
                b'v' => field.push(11),
                b'0'..=b'7' => {
                    let mut v = (n - b'0') as u32;
                    for _ in 0..2 {
                        match rec.get(i) {
                            Some(d @ b'0'..=b'7') => {
                                v = v * 8 + (d - b'0') as u32;
                                raw.push(*d);
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    field.push(v as u8);
                }
                b'x' => {
                    let mut v = 0u32;
                    let mut digits = 0;
                    while digits < 2 {
                        match rec.get(i).and_then(|d| (*d as char).to_digit(16)) {
                            Some(d) => {
                                v = v * 16 + d;
                                raw.push(rec[i]);
                                i += 1;
                                digits += 1;
                            }
                            None => break,
                        }
                    }
                    if digits == 0 {
                        field.push(b'x');
                    } else {
                        field.push(v as u8);
                    }
                }
                other => field.push(other),
            }
            continue;
        }
        field.push(c);
        i += 1;
    }
    finish(&mut field, &mut raw, &mut out)?;
    Ok(out)
}

/// Splits a CSV record. An unquoted field equal to the NULL string is `None`; a quoted
/// one is always a value.
fn split_csv(rec: &[u8], f: &CopyFormat) -> Result<Vec<Option<String>>> {
    let mut out = Vec::new();
    let mut field: Vec<u8> = Vec::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut i = 0;
    let finish = |field: &mut Vec<u8>, quoted: bool, out: &mut Vec<Option<String>>| -> Result<()> {
        let value = if !quoted && field.as_slice() == f.null.as_bytes() {
            None
        } else {
            Some(String::from_utf8(std::mem::take(field)).map_err(|_| {
                QueryError::InvalidText("invalid byte sequence for encoding \"UTF8\"".into())
            })?)
        };
        field.clear();
        out.push(value);
        Ok(())
    };
    while i < rec.len() {
        let c = rec[i];
        if in_quotes {
            if c == f.escape
                && i + 1 < rec.len()
                && (rec[i + 1] == f.quote || rec[i + 1] == f.escape)
                && (f.escape != f.quote || rec[i + 1] == f.quote)
            {
                field.push(rec[i + 1]);
                i += 2;
                continue;
            }
            if c == f.quote {
                in_quotes = false;
            } else {
                field.push(c);
            }
        } else if c == f.quote {
            in_quotes = true;
            quoted = true;
        } else if c == f.delimiter {
            finish(&mut field, quoted, &mut out)?;
            quoted = false;
        } else {
            field.push(c);
        }
        i += 1;
    }
    if in_quotes {
        return Err(QueryError::BadCopyFormat(
            "unterminated CSV quoted field".into(),
        ));
    }
    finish(&mut field, quoted, &mut out)?;
    Ok(out)
}

/// A `COPY ... TO STDOUT`: the rows of a query, encoded batch by batch.
pub struct CopyOut {
    stream: SendableRecordBatchStream,
    format: CopyFormat,
    /// Text and CSV print floats and timestamps as the session would (`TimeZone`,
    /// `extra_float_digits`), as Postgres' COPY TO does.
    style: crate::pgtext::TextStyle,
}

impl std::fmt::Debug for CopyOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOut")
            .field("format", &self.format)
            .finish()
    }
}

impl CopyOut {
    pub fn new(
        stream: SendableRecordBatchStream,
        format: CopyFormat,
        style: crate::pgtext::TextStyle,
    ) -> Self {
        CopyOut {
            stream,
            format,
            style,
        }
    }

    pub fn column_count(&self) -> usize {
        self.stream.schema().fields().len()
    }

    pub fn format(&self) -> &CopyFormat {
        &self.format
    }

    /// The encoded output, one chunk per batch; the first chunk starts with the binary
    /// header or CSV header line, the last (binary) ends with the trailer. A chunk is sent
    /// as one CopyData message per row, as PostgreSQL does (psycopg's `Copy.rows()` reads
    /// one row per message).
    pub fn into_chunks(self) -> impl futures::Stream<Item = Result<CopyChunk>> + Send {
        let format = self.format;
        let style = Arc::new(self.style);
        let header_done = false;
        let header = format.kind == CopyKind::Csv && format.header;
        let names: Vec<String> = self
            .stream
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let stream = self.stream;
        futures::stream::unfold(
            (stream, format, header_done, header, names, false),
            move |(mut stream, format, mut started, header, names, finished)| {
                let style = Arc::clone(&style);
                async move {
                    if finished {
                        return None;
                    }
                    let mut out = Vec::new();
                    let mut ends = Vec::new();
                    if !started {
                        started = true;
                        match format.kind {
                            CopyKind::Binary => {
                                out.extend_from_slice(BINARY_SIGNATURE);
                                out.extend_from_slice(&0u32.to_be_bytes());
                                out.extend_from_slice(&0u32.to_be_bytes());
                            }
                            CopyKind::Csv if header => {
                                let fields: Vec<Option<String>> =
                                    names.iter().cloned().map(Some).collect();
                                write_csv_row(&mut out, &fields, &format);
                                ends.push(out.len());
                            }
                            _ => {}
                        }
                    }
                    match stream.next().await {
                        Some(Ok(batch)) => {
                            let rows = batch.num_rows() as u64;
                            let r = encode_batch(&batch, &format, &style, &mut out, &mut ends).map(
                                |_| CopyChunk {
                                    data: out,
                                    ends,
                                    rows,
                                },
                            );
                            let failed = r.is_err();
                            Some((r, (stream, format, started, header, names, failed)))
                        }
                        Some(Err(e)) => Some((
                            Err(e.into()),
                            (stream, format, started, header, names, true),
                        )),
                        None => {
                            if format.kind == CopyKind::Binary {
                                out.extend_from_slice(&(-1i16).to_be_bytes());
                            }
                            let end = CopyChunk {
                                data: out,
                                ends,
                                rows: 0,
                            };
                            Some((Ok(end), (stream, format, started, header, names, true)))
                        }
                    }
                }
            },
        )
    }
}

/// Encoded rows of a `COPY ... TO`.
#[derive(Debug)]
pub struct CopyChunk {
    pub data: Vec<u8>,
    /// Where each row's message ends in `data`; bytes after the last end (the binary
    /// trailer, or a header with no rows) are a message of their own.
    pub ends: Vec<usize>,
    pub rows: u64,
}

impl CopyChunk {
    /// Where the chunk's CopyData messages lie in `data`.
    pub fn messages(&self) -> Vec<std::ops::Range<usize>> {
        let mut start = 0;
        let last = self.ends.last().copied().unwrap_or(0);
        let tail = (last < self.data.len()).then_some(self.data.len());
        self.ends
            .iter()
            .copied()
            .chain(tail)
            .map(|end| {
                let m = start..end;
                start = end;
                m
            })
            .collect()
    }
}

fn encode_batch(
    batch: &RecordBatch,
    format: &CopyFormat,
    style: &crate::pgtext::TextStyle,
    out: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Result<()> {
    let n = batch.num_rows();
    match format.kind {
        CopyKind::Binary => {
            // Numerics, intervals and `uuid`s as PostgreSQL's binary forms, made once per
            // column; every other type row by row.
            let schema = batch.schema();
            let forms: Vec<Option<arrow::array::BinaryArray>> = schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| binary_column(c, crate::types::is_uuid(f)))
                .collect::<Result<_>>()?;
            for row in 0..n {
                out.extend_from_slice(&(batch.num_columns() as i16).to_be_bytes());
                for (col, form) in batch.columns().iter().zip(&forms) {
                    match form {
                        Some(b) if b.is_valid(row) => {
                            let v = b.value(row);
                            out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                            out.extend_from_slice(v);
                        }
                        Some(_) => out.extend_from_slice(&(-1i32).to_be_bytes()),
                        None => encode_binary(col, row, out)?,
                    }
                }
                ends.push(out.len());
            }
        }
        _ => {
            let texts: Vec<Vec<Option<String>>> = batch
                .columns()
                .iter()
                .map(|c| text_values(c, style))
                .collect::<Result<_>>()?;
            let mut fields = vec![None; batch.num_columns()];
            for row in 0..n {
                for (slot, col) in fields.iter_mut().zip(&texts) {
                    *slot = col[row].clone();
                }
                if format.kind == CopyKind::Csv {
                    write_csv_row(out, &fields, format);
                } else {
                    write_text_row(out, &fields, format);
                }
                ends.push(out.len());
            }
        }
    }
    Ok(())
}

fn write_text_row(out: &mut Vec<u8>, fields: &[Option<String>], f: &CopyFormat) {
    for (i, v) in fields.iter().enumerate() {
        if i > 0 {
            out.push(f.delimiter);
        }
        match v {
            None => out.extend_from_slice(f.null.as_bytes()),
            Some(s) => {
                for &b in s.as_bytes() {
                    match b {
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        b'\t' => out.extend_from_slice(b"\\t"),
                        c if c == f.delimiter => {
                            out.push(b'\\');
                            out.push(c)
                        }
                        c => out.push(c),
                    }
                }
            }
        }
    }
    out.push(b'\n');
}

fn write_csv_row(out: &mut Vec<u8>, fields: &[Option<String>], f: &CopyFormat) {
    for (i, v) in fields.iter().enumerate() {
        if i > 0 {
            out.push(f.delimiter);
        }
        match v {
            None => out.extend_from_slice(f.null.as_bytes()),
            Some(s) => {
                let b = s.as_bytes();
                let needs = b.is_empty()
                    || s == &f.null
                    || b.iter().any(|&c| {
                        c == f.delimiter
                            || c == f.quote
                            || c == b'\n'
                            || c == b'\r'
                            || c == f.escape
                    })
                    || s == "\\.";
                if needs {
                    out.push(f.quote);
                    for &c in b {
                        if c == f.quote || c == f.escape {
                            out.push(f.escape);
                        }
                        out.push(c);
                    }
                    out.push(f.quote);
                } else {
                    out.extend_from_slice(b);
                }
            }
        }
    }
    out.push(b'\n');
}

/// Postgres text forms of a column's values.
pub(crate) fn text_values(
    a: &ArrayRef,
    style: &crate::pgtext::TextStyle,
) -> Result<Vec<Option<String>>> {
    let text = crate::pgtext::column(a, style)?;
    Ok(text.iter().map(|v| v.map(str::to_owned)).collect())
}

fn encode_binary(a: &ArrayRef, row: usize, out: &mut Vec<u8>) -> Result<()> {
    if a.is_null(row) {
        out.extend_from_slice(&(-1i32).to_be_bytes());
        return Ok(());
    }
    let mut put = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    match a.data_type() {
        DataType::Boolean => put(&[a.as_boolean().value(row) as u8]),
        DataType::Int16 => put(&a.as_primitive::<Int16Type>().value(row).to_be_bytes()),
        DataType::Int32 => put(&a.as_primitive::<Int32Type>().value(row).to_be_bytes()),
        DataType::Int64 => put(&a.as_primitive::<Int64Type>().value(row).to_be_bytes()),
        DataType::UInt64 => put(&(a.as_primitive::<UInt64Type>().value(row) as i64).to_be_bytes()),
        DataType::Float32 => put(&a.as_primitive::<Float32Type>().value(row).to_be_bytes()),
        DataType::Float64 => put(&a.as_primitive::<Float64Type>().value(row).to_be_bytes()),
        DataType::Utf8 => put(a.as_string::<i32>().value(row).as_bytes()),
        DataType::Date32 => {
            put(&(a.as_primitive::<Date32Type>().value(row) - PG_EPOCH_DAYS).to_be_bytes())
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            let ns = a.as_primitive::<TimestampNanosecondType>().value(row);
            put(&(ns.div_euclid(1_000) - PG_EPOCH_US).to_be_bytes())
        }
        DataType::Binary => put(a.as_binary::<i32>().value(row)),
        DataType::Time64(TimeUnit::Microsecond) => put(&a
            .as_primitive::<Time64MicrosecondType>()
            .value(row)
            .to_be_bytes()),
        other => {
            let t = arrow::compute::cast(a, &DataType::Utf8)
                .map_err(|_| QueryError::Unsupported(format!("binary COPY of {other} values")))?;
            put(t.as_string::<i32>().value(row).as_bytes())
        }
    }
    Ok(())
}

/// PostgreSQL's binary form of each value of a column whose Arrow form differs from it and
/// from what `arrow-pg` sends (a NULL interval as zero, a numeric of more than 28 digits
/// refused): numerics, intervals, and `uuid`s (`is_uuid`: text in Arrow, 16 bytes on the
/// wire). `None` for other columns. Binary results and binary `COPY ... TO` both use it.
pub fn binary_column(a: &ArrayRef, is_uuid: bool) -> Result<Option<arrow::array::BinaryArray>> {
    Ok(Some(match a.data_type() {
        _ if is_uuid => {
            let text = arrow::compute::cast(a, &DataType::Utf8)?;
            text.as_string::<i32>()
                .iter()
                .map(|v| v.map(crate::pgvalue::uuid_in).transpose())
                .collect::<Result<_>>()?
        }
        DataType::Decimal128(_, scale) => a
            .as_primitive::<Decimal128Type>()
            .iter()
            .map(|v| v.map(|v| numeric_binary(v, *scale)))
            .collect(),
        DataType::Interval(_) => {
            let mdn = arrow::compute::cast(a, &DataType::Interval(IntervalUnit::MonthDayNano))?;
            mdn.as_primitive::<IntervalMonthDayNanoType>()
                .iter()
                .map(|v| {
                    v.map(|v| crate::pgvalue::interval_binary(v.months, v.days, v.nanoseconds))
                })
                .collect()
        }
        _ => return Ok(None),
    }))
}

/// A decimal (`v * 10^-scale`) in Postgres binary numeric form.
pub fn numeric_binary(v: i128, scale: i8) -> Vec<u8> {
    let scale = scale.max(0) as u32;
    let neg = v < 0;
    let mut abs = v.unsigned_abs();
    // Split into integer and fraction digits, then into base-10000 groups aligned on the
    // decimal point.
    let pow = 10u128.pow(scale);
    let int = abs / pow;
    abs %= pow;
    let mut frac_digits = format!("{:0width$}", abs, width = scale as usize);
    while frac_digits.len() % 4 != 0 {
        frac_digits.push('0');
    }
    let mut int_groups = Vec::new();
    let mut x = int;
    while x > 0 {
        int_groups.push((x % 10_000) as i16);
        x /= 10_000;
    }
    int_groups.reverse();
    let frac_groups: Vec<i16> = frac_digits
        .as_bytes()
        .chunks(4)
        .map(|c| {
            std::str::from_utf8(c)
                .expect("digits")
                .parse()
                .expect("digits")
        })
        .collect();
    let mut digits: Vec<i16> = int_groups.iter().chain(&frac_groups).copied().collect();
    let mut weight = int_groups.len() as i16 - 1;
    // Strip leading zero groups (only possible when the integer part is 0).
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let mut out = Vec::with_capacity(8 + 2 * digits.len());
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&(if neg { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&(scale as i16).to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_format() -> CopyFormat {
        CopyFormat::from_options(&[], &[]).unwrap()
    }

    #[test]
    fn text_fields_unescape_and_mark_nulls() {
        let f = text_format();
        let v = split_text(b"a\\tb\t\\N\t\\\\N\tx\\101", &f).unwrap();
        assert_eq!(
            v,
            vec![
                Some("a\tb".into()),
                None,
                Some("\\N".into()),
                Some("xA".into())
            ]
        );
    }

    #[test]
    fn csv_fields_handle_quotes_and_nulls() {
        let f = CopyFormat {
            kind: CopyKind::Csv,
            delimiter: b',',
            null: String::new(),
            header: false,
            quote: b'"',
            escape: b'"',
        };
        let v = split_csv(b"a,\"b,\"\"c\"\"\",,\"\"", &f).unwrap();
        assert_eq!(
            v,
            vec![
                Some("a".into()),
                Some("b,\"c\"".into()),
                None,
                Some(String::new())
            ]
        );
        assert!(split_csv(b"\"open", &f).is_err());
    }

    #[test]
    fn copy_out_sends_a_message_per_row() {
        let chunk = CopyChunk {
            data: b"hdr\na\nb\ntrailer".to_vec(),
            ends: vec![4, 6, 8],
            rows: 2,
        };
        let messages: Vec<&[u8]> = chunk
            .messages()
            .into_iter()
            .map(|r| &chunk.data[r])
            .collect();
        assert_eq!(messages, [&b"hdr\n"[..], b"a\n", b"b\n", b"trailer"]);
        let empty = CopyChunk {
            data: Vec::new(),
            ends: Vec::new(),
            rows: 0,
        };
        assert!(empty.messages().is_empty());
    }

    #[test]
    fn numeric_binary_round_trips() {
        for (v, s) in [
            (123_456i128, 2i8),
            (-5, 3),
            (0, 2),
            (100_000_000, 0),
            (1, 6),
            (12_345_678_901_234, 4),
        ] {
            let bin = numeric_binary(v, s);
            let text = numeric_binary_to_text(&bin).unwrap();
            let back =
                arrow::compute::kernels::cast_utils::parse_decimal::<Decimal128Type>(&text, 38, s)
                    .unwrap();
            assert_eq!(back, v, "{v} scale {s} -> {text}");
        }
    }

    #[test]
    fn postgres_timestamp_text_parses() {
        let utc = Some(utc());
        let a = parse_timestamp("2024-01-02 03:04:05+00", utc.as_ref(), Order::Mdy).unwrap();
        let b = parse_timestamp("2024-01-02T03:04:05Z", utc.as_ref(), Order::Mdy).unwrap();
        let c = parse_timestamp("2024-01-02 05:04:05+02", utc.as_ref(), Order::Mdy).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert!(parse_timestamp("yesterday-ish", utc.as_ref(), Order::Mdy).is_none());
        // A `timestamp` ignores the zone, as PostgreSQL does.
        assert_eq!(
            parse_timestamp("2024-01-02 05:04:05+02", None, Order::Mdy),
            parse_timestamp("2024-01-02 05:04:05", utc.as_ref(), Order::Mdy)
        );
    }
}
