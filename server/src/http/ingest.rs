//! Schema on write: line-protocol lines become rows.
//!
//! A measurement is a table; its tags are tag columns and its fields field columns, with
//! the time column named `time`. A table is created on its first write and a column is
//! added the first time a line names it. Each line is accepted or rejected whole: a line
//! that does not parse, whose field type conflicts with its column (or with an earlier
//! line of the same request), that uses a tag as a field or the reverse, or whose
//! timestamp is out of range is rejected with its line number and reason, and the other
//! lines of the request are written (InfluxDB's partial writes). Columns are only added
//! for accepted lines.
//!
//! Every table's accepted rows are written as one engine batch: durable (under the WAL's
//! fsync policy) when [`ingest`] returns. A failure of the engine itself (memory limit,
//! IO) fails the whole call; rows of tables written before it stay written, and since a
//! point rewritten with the same series and time replaces itself, retrying the request is
//! safe.

use std::borrow::Cow;
use std::collections::HashMap;

use strata_lineproto::{Arena, ArenaLine, FieldValue};
use strata_storage::{
    Engine, Error as StorageError, FieldDef, FieldType, NewColumn, TableSchema, Value, WriteBatch,
};

/// The unit of line-protocol timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

impl Precision {
    /// The `precision` parameter: `ns`/`n`, `us`/`u`, `ms`, `s`, and (v1 only) `m`, `h`.
    pub fn parse(s: &str, v1: bool) -> Option<Precision> {
        Some(match s {
            "" | "ns" | "n" => Precision::Nanoseconds,
            "us" | "u" | "µ" => Precision::Microseconds,
            "ms" => Precision::Milliseconds,
            "s" => Precision::Seconds,
            "m" if v1 => Precision::Minutes,
            "h" if v1 => Precision::Hours,
            _ => return None,
        })
    }

    fn nanos(self) -> i64 {
        match self {
            Precision::Nanoseconds => 1,
            Precision::Microseconds => 1_000,
            Precision::Milliseconds => 1_000_000,
            Precision::Seconds => 1_000_000_000,
            Precision::Minutes => 60_000_000_000,
            Precision::Hours => 3_600_000_000_000,
        }
    }

    /// `v` in nanoseconds, or `None` if it does not fit.
    pub fn to_ns(self, v: i64) -> Option<i64> {
        v.checked_mul(self.nanos())
    }
}

/// How to read a request.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    pub precision: Precision,
    /// The timestamp of lines without one, in nanoseconds.
    pub now_ns: i64,
    pub max_line_bytes: usize,
}

/// A line that was not written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based line number in the request body.
    pub line: usize,
    pub reason: String,
}

/// What happened to a request's lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub written: usize,
    /// In line order.
    pub rejected: Vec<Rejected>,
}

/// Parses `body` and writes its valid lines; see the module docs.
pub fn ingest(engine: &Engine, body: &[u8], opts: &IngestOptions) -> Result<Outcome, StorageError> {
    let mut outcome = Outcome::default();
    let mut tables: Vec<(String, Vec<ArenaLine<'_>>)> = Vec::new();
    let mut index: FastMap<String, usize> = FastMap::default();
    let mut last: Option<usize> = None;
    let lines_in_body = body.iter().filter(|&&b| b == b'\n').count() + 1;
    let parse_opts = strata_lineproto::Options {
        max_line_bytes: opts.max_line_bytes,
    };
    // Every line's tags and fields go to one arena: no allocation per line.
    let mut arena = Arena::default();
    let mut lines = strata_lineproto::parse(body, parse_opts);
    while let Some(item) = lines.next_in(&mut arena) {
        match item {
            Err(e) => outcome.rejected.push(Rejected {
                line: e.line,
                reason: format!("column {}: {}", e.column, e.kind),
            }),
            Ok(line) => {
                if tables.is_empty() {
                    // Lines of one source share a shape: size the arena from the first.
                    arena.tags.reserve(line.tags.len() * lines_in_body);
                    arena.fields.reserve(line.fields.len() * lines_in_body);
                }
                // Consecutive lines are usually of one measurement.
                let i = match last.filter(|&i| tables[i].0 == line.measurement.as_ref()) {
                    Some(i) => i,
                    None => match index.get(line.measurement.as_ref()) {
                        Some(&i) => i,
                        None => {
                            let name = line.measurement.to_string();
                            index.insert(name.clone(), tables.len());
                            // Most requests hold one measurement: size its list for
                            // every line of the body.
                            let capacity = if tables.is_empty() { lines_in_body } else { 0 };
                            tables.push((name, Vec::with_capacity(capacity)));
                            tables.len() - 1
                        }
                    },
                };
                last = Some(i);
                tables[i].1.push(line);
            }
        }
    }
    for (table, lines) in &tables {
        let lines: Vec<LineRef<'_, '_>> = lines
            .iter()
            .map(|l| LineRef {
                number: l.number,
                tags: &arena.tags[l.tags.clone()],
                fields: &arena.fields[l.fields.clone()],
                timestamp: l.timestamp,
            })
            .collect();
        outcome.written += write_table(engine, table, &lines, opts, &mut outcome.rejected)?;
    }
    outcome.rejected.sort_by_key(|r| r.line);
    Ok(outcome)
}

/// A parsed line, its tags and fields borrowed from the request's arena.
#[derive(Debug, Clone, Copy)]
struct LineRef<'p, 'a> {
    number: usize,
    tags: &'p [(Cow<'a, str>, Cow<'a, str>)],
    fields: &'p [(Cow<'a, str>, FieldValue<'a>)],
    timestamp: Option<i64>,
}

/// What a column is, for checking lines against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Time,
    Tag,
    Field(FieldType),
}

/// foldhash rather than SipHash: these maps are consulted on the ingest path.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A line's keys in order: its tag keys, then its field keys with their types.
///
/// Lines from one source nearly always share a shape, so a request resolves each shape
/// against the schema once (which keys are known, of which kind, where they go) instead
/// of looking up every key of every line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Shape<'x> {
    tags: Vec<&'x str>,
    fields: Vec<(&'x str, FieldType)>,
}

impl<'x> Shape<'x> {
    fn of(line: &'x LineRef<'_, '_>) -> Self {
        Shape {
            tags: line.tags.iter().map(|(k, _)| k.as_ref()).collect(),
            fields: line
                .fields
                .iter()
                .map(|(k, v)| (k.as_ref(), field_type(v)))
                .collect(),
        }
    }

    fn matches(&self, line: &LineRef<'_, '_>) -> bool {
        self.tags.len() == line.tags.len()
            && self.fields.len() == line.fields.len()
            && self
                .tags
                .iter()
                .zip(line.tags)
                .all(|(a, (b, _))| *a == b.as_ref())
            && self
                .fields
                .iter()
                .zip(line.fields)
                .all(|((a, t), (b, v))| *a == b.as_ref() && *t == field_type(v))
    }
}

/// An accepted line.
struct Accepted {
    /// Index into the table's lines.
    line: usize,
    /// Timestamp in ns.
    ts: i64,
    /// Index into [`Plan::shapes`].
    shape: usize,
}

/// The result of checking a table's lines against its schema.
struct Plan<'x> {
    accepted: Vec<Accepted>,
    /// Shapes of accepted lines; every key in them is a column once the plan is applied.
    shapes: Vec<Shape<'x>>,
    rejected: Vec<Rejected>,
    new_tags: Vec<String>,
    new_fields: Vec<FieldDef>,
}

fn write_table(
    engine: &Engine,
    table: &str,
    lines: &[LineRef<'_, '_>],
    opts: &IngestOptions,
    rejected: &mut Vec<Rejected>,
) -> Result<usize, StorageError> {
    // Concurrent requests may create the table, add the same column, or drop and
    // re-create the table between our read of the schema and our change: re-read and
    // re-check, a bounded number of times.
    let mut attempts = 0;
    let (schema, plan, positions) = loop {
        attempts += 1;
        let schema = match engine.table_schema(table) {
            Ok(s) => Some(s),
            Err(StorageError::TableNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(s) = schema.as_ref().filter(|s| s.hidden_time) {
            rejected.extend(lines.iter().map(|l| Rejected {
                line: l.number,
                reason: format!(
                    "table {:?} has no time column (it was created by SQL without a timestamptz column)",
                    s.name
                ),
            }));
            return Ok(0);
        }
        let plan = check(schema.as_ref(), lines, opts);
        let retry = attempts < 5;
        match apply(engine, table, schema.as_ref(), &plan) {
            Ok(Some(s)) => match positions(&s, &plan.shapes) {
                Some(p) => break (s, plan, p),
                None if retry => continue,
                None => {
                    return Err(StorageError::InvalidSchema {
                        table: table.to_owned(),
                        reason: "columns changed concurrently while writing; retry".into(),
                    })
                }
            },
            Ok(None) => {
                rejected.extend(plan.rejected);
                return Ok(0);
            }
            Err(StorageError::TableExists { .. } | StorageError::ColumnExists { .. }) if retry => {
                continue
            }
            Err(e) => return Err(e),
        }
    };
    rejected.extend(plan.rejected);
    let mut batch = WriteBatch::with_capacity(&schema, plan.accepted.len());
    let mut tags: Vec<Option<&str>> = vec![None; schema.tags.len()];
    let mut fields: Vec<Value<'_>> = vec![Value::Null; schema.fields.len()];
    for a in &plan.accepted {
        let line = &lines[a.line];
        let (tag_pos, field_pos) = &positions[a.shape];
        tags.iter_mut().for_each(|t| *t = None);
        fields.iter_mut().for_each(|f| *f = Value::Null);
        for ((_, v), &p) in line.tags.iter().zip(tag_pos) {
            tags[p] = Some(v.as_ref());
        }
        for ((_, v), &p) in line.fields.iter().zip(field_pos) {
            fields[p] = match v {
                FieldValue::Float(x) => Value::Float(*x),
                FieldValue::Integer(x) => Value::Integer(*x),
                FieldValue::Unsigned(x) => Value::Integer(*x as i64), // range checked
                FieldValue::Boolean(x) => Value::Boolean(*x),
                FieldValue::String(s) => Value::Text(s.as_ref()),
            };
        }
        batch.push_row(&tags, a.ts, &fields)?;
    }
    if batch.is_empty() {
        return Ok(0);
    }
    engine.write(&batch)?;
    Ok(batch.len())
}

/// For each shape, the schema positions of its tags and of its fields; `None` if a key is
/// not (or no longer) a column of that kind.
#[allow(clippy::type_complexity)]
fn positions(schema: &TableSchema, shapes: &[Shape<'_>]) -> Option<Vec<(Vec<usize>, Vec<usize>)>> {
    let tag_pos: FastMap<&str, usize> = schema
        .tags
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    let field_pos: FastMap<&str, (usize, FieldType)> = schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), (i, f.ty)))
        .collect();
    shapes
        .iter()
        .map(|sh| {
            let tags = sh
                .tags
                .iter()
                .map(|k| tag_pos.get(k).copied())
                .collect::<Option<Vec<_>>>()?;
            let fields = sh
                .fields
                .iter()
                .map(|(k, ty)| field_pos.get(k).filter(|(_, t)| t == ty).map(|(i, _)| *i))
                .collect::<Option<Vec<_>>>()?;
            Some((tags, fields))
        })
        .collect()
}

/// Creates the table or adds the plan's new columns; returns the schema to write with
/// (`None` if nothing was accepted for a table that does not exist).
fn apply(
    engine: &Engine,
    table: &str,
    schema: Option<&TableSchema>,
    plan: &Plan<'_>,
) -> Result<Option<TableSchema>, StorageError> {
    match schema {
        None if plan.accepted.is_empty() => Ok(None),
        None => {
            let schema = TableSchema::new(
                table,
                "time",
                plan.new_tags.iter().cloned(),
                plan.new_fields.iter().map(|f| (f.name.clone(), f.ty)),
            );
            engine.create_table(schema)?;
            engine.table_schema(table).map(Some)
        }
        Some(s) if plan.new_tags.is_empty() && plan.new_fields.is_empty() => Ok(Some(s.clone())),
        Some(_) => {
            for t in &plan.new_tags {
                engine.add_column(table, NewColumn::Tag(t.clone()), None)?;
            }
            for f in &plan.new_fields {
                engine.add_column(table, NewColumn::Field(f.clone()), None)?;
            }
            engine.table_schema(table).map(Some)
        }
    }
}

fn field_type(v: &FieldValue<'_>) -> FieldType {
    match v {
        FieldValue::Float(_) => FieldType::Float,
        FieldValue::Integer(_) | FieldValue::Unsigned(_) => FieldType::Integer,
        FieldValue::Boolean(_) => FieldType::Boolean,
        FieldValue::String(_) => FieldType::Text,
    }
}

/// Decides which lines are accepted and which columns they add.
fn check<'l>(
    schema: Option<&TableSchema>,
    lines: &'l [LineRef<'_, '_>],
    opts: &IngestOptions,
) -> Plan<'l> {
    let mut known: FastMap<&str, Kind> = FastMap::default();
    let time_column = schema.map_or("time", |s| s.time_column.as_str());
    known.insert(time_column, Kind::Time);
    if let Some(s) = schema {
        for t in &s.tags {
            known.insert(t, Kind::Tag);
        }
        for f in &s.fields {
            known.insert(&f.name, Kind::Field(f.ty));
        }
    }
    let mut plan = Plan {
        accepted: Vec::with_capacity(lines.len()),
        shapes: Vec::new(),
        rejected: Vec::new(),
        new_tags: Vec::new(),
        new_fields: Vec::new(),
    };
    let mut shape_ids: FastMap<Shape<'l>, usize> = FastMap::default();
    let mut last: Option<usize> = None;
    let mut added: Vec<(&'l str, Kind)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // A shape seen before in an accepted line has every key resolved already.
        // The last line's shape is compared in place; only another shape is built.
        let (seen, shape) = match last.filter(|&s| plan.shapes[s].matches(line)) {
            Some(s) => (Some(s), None),
            None => {
                let shape = Shape::of(line);
                (shape_ids.get(&shape).copied(), Some(shape))
            }
        };
        let result = match seen {
            Some(s) => check_values(schema, line, opts).map(|ts| (ts, s)),
            None => {
                added.clear();
                resolve_keys(line, &known, &mut added)
                    .and_then(|()| check_values(schema, line, opts))
                    .map(|ts| {
                        for &(name, kind) in &added {
                            match kind {
                                Kind::Tag => plan.new_tags.push(name.to_owned()),
                                Kind::Field(ty) => plan.new_fields.push(FieldDef {
                                    name: name.to_owned(),
                                    ty,
                                }),
                                Kind::Time => {}
                            }
                            known.insert(name, kind);
                        }
                        let shape = shape.unwrap_or_else(|| Shape::of(line));
                        shape_ids.insert(shape.clone(), plan.shapes.len());
                        plan.shapes.push(shape);
                        (ts, plan.shapes.len() - 1)
                    })
            }
        };
        match result {
            Ok((ts, shape)) => {
                last = Some(shape);
                plan.accepted.push(Accepted { line: i, ts, shape });
            }
            Err(reason) => plan.rejected.push(Rejected {
                line: line.number,
                reason,
            }),
        }
    }
    plan
}

/// Checks that each key of `line` names a column of the right kind, or is new; new keys
/// go to `added`.
fn resolve_keys<'l>(
    line: &'l LineRef<'_, '_>,
    known: &FastMap<&str, Kind>,
    added: &mut Vec<(&'l str, Kind)>,
) -> Result<(), String> {
    let lookup = |name: &str, added: &Vec<(&'l str, Kind)>| {
        known
            .get(name)
            .copied()
            .or_else(|| added.iter().find(|(n, _)| *n == name).map(|(_, k)| *k))
    };
    for (k, _) in line.tags {
        match lookup(k, added) {
            Some(Kind::Tag) => {}
            Some(Kind::Time) => {
                return Err(format!("invalid tag key {k:?}: it is the time column"))
            }
            Some(Kind::Field(_)) => {
                return Err(format!("{k:?} is a field column, not a tag"));
            }
            None => added.push((k.as_ref(), Kind::Tag)),
        }
    }
    for (k, v) in line.fields {
        let ty = field_type(v);
        match lookup(k, added) {
            Some(Kind::Field(t)) if t == ty => {}
            Some(Kind::Field(t)) => {
                return Err(format!(
                    "field type conflict: {k:?} is {}, the line has {}",
                    type_word(t),
                    v.type_name()
                ))
            }
            Some(Kind::Time) => {
                return Err(format!("invalid field key {k:?}: it is the time column"))
            }
            Some(Kind::Tag) => return Err(format!("{k:?} is a tag column, not a field")),
            None => added.push((k.as_ref(), Kind::Field(ty))),
        }
    }
    Ok(())
}

/// Checks the values of a line whose keys are resolved; returns its timestamp in ns.
fn check_values(
    schema: Option<&TableSchema>,
    line: &LineRef<'_, '_>,
    opts: &IngestOptions,
) -> Result<i64, String> {
    for (k, v) in line.fields {
        if let FieldValue::Unsigned(u) = v {
            if *u > i64::MAX as u64 {
                return Err(format!(
                    "field {k:?}: unsigned value {u} is out of range (stored as bigint)"
                ));
            }
        }
    }
    // Columns declared by SQL CREATE TABLE may be narrower than storage's, or NOT NULL.
    if let Some(s) = schema.filter(|s| !s.sql_columns.is_empty()) {
        for (k, v) in line.fields {
            if let Some(sql) = s.sql_columns.get(k.as_ref()) {
                check_declared(k, &sql.sql_type, v)?;
            }
        }
        for (name, sql) in &s.sql_columns {
            if sql.not_null
                && name != &s.time_column
                && !line.fields.iter().any(|(k, _)| k == name)
                && !line.tags.iter().any(|(k, _)| k == name)
            {
                return Err(format!(
                    "null value in column {name:?} violates not-null constraint"
                ));
            }
        }
    }
    match line.timestamp {
        None => Ok(opts.now_ns),
        Some(t) => opts
            .precision
            .to_ns(t)
            .ok_or_else(|| format!("timestamp {t} is out of range for its precision")),
    }
}

/// Values for columns a SQL `CREATE TABLE` declared with a narrower type than storage's.
fn check_declared(column: &str, sql_type: &str, v: &FieldValue<'_>) -> Result<(), String> {
    let int = match v {
        FieldValue::Integer(i) => Some(*i),
        FieldValue::Unsigned(u) => i64::try_from(*u).ok(),
        _ => None,
    };
    let range = match sql_type {
        "smallint" => Some(i64::from(i16::MIN)..=i64::from(i16::MAX)),
        "integer" => Some(i64::from(i32::MIN)..=i64::from(i32::MAX)),
        _ => None,
    };
    match (int, range) {
        (Some(i), Some(r)) if !r.contains(&i) => Err(format!(
            "field {column:?}: {i} is out of range for type {sql_type}"
        )),
        _ if sql_type == "date" || sql_type == "timestamp" || sql_type.starts_with("numeric") => {
            Err(format!(
                "column {column:?} is declared {sql_type}; line protocol cannot write it"
            ))
        }
        _ => Ok(()),
    }
}

fn type_word(t: FieldType) -> &'static str {
    match t {
        FieldType::Float => "float",
        FieldType::Integer => "integer",
        FieldType::Boolean => "boolean",
        FieldType::Text => "string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use strata_storage::{EngineConfig, ScanRequest};

    fn engine() -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(EngineConfig::new(dir.path())).unwrap();
        (dir, e)
    }

    fn opts() -> IngestOptions {
        IngestOptions {
            precision: Precision::Nanoseconds,
            now_ns: 1_000,
            max_line_bytes: 1 << 16,
        }
    }

    fn rows(e: &Engine, table: &str) -> usize {
        e.scan(&ScanRequest::new(table))
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum()
    }

    #[test]
    fn creates_tables_and_adds_columns() {
        let (_d, e) = engine();
        let body = b"weather,city=Oslo temp=1.5,ok=t 10\nweather,city=Rome,zone=eu temp=20.5,note=\"sunny\" 20\ncpu,host=a usage=3i\n";
        let out = ingest(&e, body, &opts()).unwrap();
        assert_eq!(
            out,
            Outcome {
                written: 3,
                rejected: vec![]
            }
        );
        let s = e.table_schema("weather").unwrap();
        assert_eq!(s.time_column, "time");
        assert_eq!(s.tags, ["city", "zone"]);
        let fields: Vec<(&str, FieldType)> =
            s.fields.iter().map(|f| (f.name.as_str(), f.ty)).collect();
        assert_eq!(
            fields,
            [
                ("temp", FieldType::Float),
                ("ok", FieldType::Boolean),
                ("note", FieldType::Text)
            ]
        );
        assert_eq!(rows(&e, "weather"), 2);
        assert_eq!(rows(&e, "cpu"), 1);
        // A later request adds a column to the existing table.
        let out = ingest(&e, b"cpu,host=a,dc=x usage=4i,load=0.5 5\n", &opts()).unwrap();
        assert_eq!(out.written, 1);
        let s = e.table_schema("cpu").unwrap();
        assert_eq!(s.tags, ["host", "dc"]);
        assert_eq!(s.fields.len(), 2);
    }

    #[test]
    fn bad_lines_are_rejected_and_the_rest_written() {
        let (_d, e) = engine();
        ingest(&e, b"m,t=a v=1.0 1\n", &opts()).unwrap();
        let body = b"m,t=a v=2.0 2\nm,t=a v=3i 3\nm v=\nm,t=b v=4.0,w=\"x\" 4\nm,t=c w=5i 5\nm,v=x v=1.0 6\nm,t=d time=1.0 7\nm,t=e u=18446744073709551615u 8\n";
        let out = ingest(&e, body, &opts()).unwrap();
        assert_eq!(out.written, 2, "{out:?}");
        let lines: Vec<usize> = out.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 5, 6, 7, 8], "{out:?}");
        assert!(
            out.rejected[0]
                .reason
                .contains("field type conflict: \"v\" is float, the line has integer"),
            "{out:?}"
        );
        assert!(
            out.rejected[1].reason.contains("missing field value"),
            "{out:?}"
        );
        // `w` became text on line 4, so the integer on line 5 conflicts.
        assert!(
            out.rejected[2].reason.contains("\"w\" is string"),
            "{out:?}"
        );
        assert!(
            out.rejected[3].reason.contains("field column, not a tag"),
            "{out:?}"
        );
        assert!(out.rejected[4].reason.contains("time column"), "{out:?}");
        assert!(out.rejected[5].reason.contains("out of range"), "{out:?}");
        // Rejected lines add no columns.
        let s = e.table_schema("m").unwrap();
        let names: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["v", "w"]);
        assert_eq!(rows(&e, "m"), 3);
    }

    #[test]
    fn lines_of_several_shapes_land_in_their_columns() {
        let (_d, e) = engine();
        // Shapes alternate; line 4 repeats line 2's keys with another type for `y`; line 5
        // has keys in a new order.
        let body = b"s,a=1 x=1 1\ns,b=2 y=2i 2\ns,a=3 x=3 3\ns,b=4 y=4 4\ns,b=6,a=5 y=6i,x=5 5\ns,a=7 x=7 7\n";
        let out = ingest(&e, body, &opts()).unwrap();
        assert_eq!(out.written, 5, "{out:?}");
        assert_eq!(out.rejected.len(), 1, "{out:?}");
        assert_eq!(out.rejected[0].line, 4);
        assert!(
            out.rejected[0].reason.contains("\"y\" is integer"),
            "{out:?}"
        );
        // (time, a, b, x, y)
        type Row = (
            i64,
            Option<String>,
            Option<String>,
            Option<f64>,
            Option<i64>,
        );
        let mut rows: Vec<Row> = Vec::new();
        for b in e.scan(&ScanRequest::new("s")).unwrap() {
            let b = b.unwrap();
            let col = |n: &str| b.column(b.schema().index_of(n).unwrap()).clone();
            let ts = col("time");
            let ts = ts
                .as_any()
                .downcast_ref::<arrow::array::TimestampNanosecondArray>()
                .unwrap();
            let text = |n: &str| {
                let c = arrow::compute::cast(&col(n), &arrow::datatypes::DataType::Utf8).unwrap();
                let c = c
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .unwrap()
                    .clone();
                (0..c.len()).map(move |i| c.is_valid(i).then(|| c.value(i).to_owned()))
            };
            let x = col("x");
            let x = x
                .as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .unwrap();
            let y = col("y");
            let y = y
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap();
            for (i, (a, bb)) in text("a").zip(text("b")).enumerate() {
                rows.push((
                    ts.value(i),
                    a,
                    bb,
                    x.is_valid(i).then(|| x.value(i)),
                    y.is_valid(i).then(|| y.value(i)),
                ));
            }
        }
        rows.sort_by_key(|r| r.0);
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            rows,
            [
                (1, s("1"), None, Some(1.0), None),
                (2, None, s("2"), None, Some(2)),
                (3, s("3"), None, Some(3.0), None),
                (5, s("5"), s("6"), Some(5.0), Some(6)),
                (7, s("7"), None, Some(7.0), None),
            ]
        );
    }

    #[test]
    fn precision_and_default_time() {
        let (_d, e) = engine();
        let mut o = opts();
        o.precision = Precision::Seconds;
        ingest(&e, b"p v=1 2\np,k=now v=2\n", &o).unwrap();
        let ts: Vec<i64> = e
            .scan(&ScanRequest::new("p"))
            .unwrap()
            .flat_map(|b| {
                let b = b.unwrap();
                let t = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::TimestampNanosecondArray>()
                    .unwrap()
                    .clone();
                t.values().to_vec()
            })
            .collect();
        let mut ts = ts;
        ts.sort();
        assert_eq!(ts, [1_000, 2_000_000_000]);
        let out = ingest(&e, b"p v=1 9223372036854775807\n", &o).unwrap();
        assert!(out.rejected[0].reason.contains("out of range"));
        assert_eq!(Precision::parse("ms", false), Some(Precision::Milliseconds));
        assert_eq!(Precision::parse("h", false), None);
        assert_eq!(Precision::parse("h", true), Some(Precision::Hours));
    }
}
