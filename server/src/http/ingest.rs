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
//!
//! A request is parsed into one [`Arena`], which stores each distinct series and each
//! distinct list of field keys once. Keys are resolved against the schema once per
//! accepted (series, field keys) pair, and a series' tags are placed once per batch, so
//! a line from a collector costs its values and little else.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use strata_lineproto::{Arena, ArenaLine, FieldKeys, FieldKind, FieldValue};
use strata_storage::{
    Engine, Error as StorageError, FieldDef, FieldType, NewColumn, SeriesId, TableSchema, Value,
    WriteBatch,
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
    let parsed = parse_body(body, opts, &mut outcome.rejected);
    for table in &parsed.tables {
        outcome.written += write_table(engine, &parsed, table, opts, &mut outcome.rejected)?;
    }
    outcome.rejected.sort_by_key(|r| r.line);
    Ok(outcome)
}

/// A request's good lines, grouped by table.
struct Parsed<'a> {
    /// Series, field keys and values of `lines`.
    arena: Arena<'a>,
    lines: Vec<ArenaLine>,
    tables: Vec<TableLines>,
}

/// The lines of one table: indices into [`Parsed::lines`], in body order.
struct TableLines {
    name: String,
    lines: Vec<u32>,
}

fn parse_body<'a>(
    body: &'a [u8],
    opts: &IngestOptions,
    rejected: &mut Vec<Rejected>,
) -> Parsed<'a> {
    let parse_opts = strata_lineproto::Options {
        max_line_bytes: opts.max_line_bytes,
    };
    // One arena for the request: a series or list of field keys seen before is not
    // parsed or stored again, and the values of all lines share one vector.
    let mut arena = Arena::default();
    let mut lines: Vec<ArenaLine> = Vec::new();
    let mut items = strata_lineproto::parse(body, parse_opts);
    while let Some(item) = items.next_in(&mut arena) {
        match item {
            Err(e) => rejected.push(Rejected {
                line: e.line,
                reason: format!("column {}: {}", e.column, e.kind),
            }),
            Ok(line) => {
                if lines.is_empty() {
                    // Lines of one source are alike: size the vectors from the first.
                    let estimate = body.len() / items.offset().max(1) + 1;
                    lines.reserve(estimate);
                    arena.reserve_values(line.values.len() * estimate);
                }
                lines.push(line);
            }
        }
    }
    // Each series names its table.
    let mut tables: Vec<TableLines> = Vec::new();
    let mut table_of_series: Vec<usize> = Vec::with_capacity(arena.series_count());
    {
        let mut index: FastMap<&str, usize> = FastMap::default();
        for id in 0..arena.series_count() {
            let name = arena.series(id as u32).measurement.as_ref();
            let t = *index.entry(name).or_insert_with(|| {
                tables.push(TableLines {
                    name: name.to_owned(),
                    lines: Vec::new(),
                });
                tables.len() - 1
            });
            table_of_series.push(t);
        }
    }
    if let [table] = tables.as_mut_slice() {
        table.lines = (0..lines.len() as u32).collect();
    } else {
        for (i, line) in lines.iter().enumerate() {
            tables[table_of_series[line.series as usize]]
                .lines
                .push(i as u32);
        }
    }
    // A series whose lines all failed names no table.
    tables.retain(|t| !t.lines.is_empty());
    Parsed {
        arena,
        lines,
        tables,
    }
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
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// An accepted line.
struct Accepted {
    /// Index into [`Parsed::lines`].
    line: u32,
    /// Timestamp in ns.
    ts: i64,
}

/// The result of checking a table's lines against its schema.
struct Plan {
    accepted: Vec<Accepted>,
    rejected: Vec<Rejected>,
    new_tags: Vec<String>,
    new_fields: Vec<FieldDef>,
}

fn write_table(
    engine: &Engine,
    parsed: &Parsed<'_>,
    table: &TableLines,
    opts: &IngestOptions,
    rejected: &mut Vec<Rejected>,
) -> Result<usize, StorageError> {
    let name = table.name.as_str();
    // Concurrent requests may create the table, add the same column, or drop and
    // re-create the table between our read of the schema and our change: re-read and
    // re-check, a bounded number of times.
    let mut attempts = 0;
    let (schema, plan, slots) = loop {
        attempts += 1;
        let schema = match engine.table_schema(name) {
            Ok(s) => Some(s),
            Err(StorageError::TableNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(s) = schema.as_ref().filter(|s| s.hidden_time) {
            rejected.extend(table.lines.iter().map(|&i| Rejected {
                line: parsed.lines[i as usize].number,
                reason: format!(
                    "table {:?} has no time column (it was created by SQL without a timestamptz column)",
                    s.name
                ),
            }));
            return Ok(0);
        }
        let plan = check(schema.as_ref(), parsed, &table.lines, opts);
        let retry = attempts < 5;
        match apply(engine, name, schema.as_ref(), &plan) {
            Ok(Some(s)) => match Slots::new(&s, parsed, &plan) {
                Some(slots) => break (s, plan, slots),
                None if retry => continue,
                None => {
                    return Err(StorageError::InvalidSchema {
                        table: name.to_owned(),
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
    let arena = &parsed.arena;
    let mut batch = WriteBatch::with_capacity(&schema, plan.accepted.len());
    let mut batch_series: Vec<Option<SeriesId>> = vec![None; arena.series_count()];
    let mut tags: Vec<Option<&str>> = vec![None; schema.tags.len()];
    let mut fields: Vec<Value<'_>> = vec![Value::Null; schema.fields.len()];
    for a in &plan.accepted {
        let line = &parsed.lines[a.line as usize];
        let series = match batch_series[line.series as usize] {
            Some(s) => s,
            None => {
                tags.fill(None);
                let written = &arena.series(line.series).tags;
                for ((_, v), &p) in written
                    .iter()
                    .zip(slots.tags[line.series as usize].iter().flatten())
                {
                    tags[p] = Some(v.as_ref());
                }
                let s = batch.add_series(&tags)?;
                batch_series[line.series as usize] = Some(s);
                s
            }
        };
        fields.fill(Value::Null);
        for (v, &p) in arena
            .values(line)
            .iter()
            .zip(slots.fields[line.field_keys as usize].iter().flatten())
        {
            fields[p] = match v {
                FieldValue::Float(x) => Value::Float(*x),
                FieldValue::Integer(x) => Value::Integer(*x),
                FieldValue::Unsigned(x) => Value::Integer(*x as i64), // range checked
                FieldValue::Boolean(x) => Value::Boolean(*x),
                FieldValue::String(s) => Value::Text(s.as_ref()),
            };
        }
        batch.push_series_row(series, a.ts, &fields)?;
    }
    if batch.is_empty() {
        return Ok(0);
    }
    engine.write(&batch)?;
    Ok(batch.len())
}

/// Where the tags of each series and the fields of each list of field keys go in the
/// schema, for the series and lists of accepted lines (`None` for others).
struct Slots {
    /// By arena series id: the schema tag index of each tag, in written order.
    tags: Vec<Option<Vec<usize>>>,
    /// By arena field-keys id: the schema field index of each field.
    fields: Vec<Option<Vec<usize>>>,
}

impl Slots {
    /// `None` if a key is not (or no longer) a column of its kind and type.
    fn new(schema: &TableSchema, parsed: &Parsed<'_>, plan: &Plan) -> Option<Slots> {
        let arena = &parsed.arena;
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
        let mut slots = Slots {
            tags: vec![None; arena.series_count()],
            fields: vec![None; arena.field_keys_count()],
        };
        for a in &plan.accepted {
            let line = &parsed.lines[a.line as usize];
            let (s, f) = (line.series as usize, line.field_keys as usize);
            if slots.tags[s].is_none() {
                slots.tags[s] = Some(
                    arena
                        .series(line.series)
                        .tags
                        .iter()
                        .map(|(k, _)| tag_pos.get(k.as_ref()).copied())
                        .collect::<Option<Vec<_>>>()?,
                );
            }
            if slots.fields[f].is_none() {
                slots.fields[f] = Some(
                    arena
                        .field_keys(line.field_keys)
                        .iter()
                        .map(|(k, kind)| {
                            field_pos
                                .get(k.as_ref())
                                .filter(|(_, t)| *t == field_type(*kind))
                                .map(|(i, _)| *i)
                        })
                        .collect::<Option<Vec<_>>>()?,
                );
            }
        }
        Some(slots)
    }
}

/// Creates the table or adds the plan's new columns; returns the schema to write with
/// (`None` if nothing was accepted for a table that does not exist).
fn apply(
    engine: &Engine,
    table: &str,
    schema: Option<&TableSchema>,
    plan: &Plan,
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

/// The column type a field value of `kind` is stored as.
fn field_type(kind: FieldKind) -> FieldType {
    match kind {
        FieldKind::Float => FieldType::Float,
        FieldKind::Integer | FieldKind::Unsigned => FieldType::Integer,
        FieldKind::Boolean => FieldType::Boolean,
        FieldKind::String => FieldType::Text,
    }
}

/// A line's parts, borrowed from the request's arena.
#[derive(Clone, Copy)]
struct LineRef<'p, 'a> {
    tags: &'p [(Cow<'a, str>, Cow<'a, str>)],
    keys: &'p FieldKeys<'a>,
    values: &'p [FieldValue<'a>],
    timestamp: Option<i64>,
}

impl<'p, 'a> LineRef<'p, 'a> {
    fn of(arena: &'p Arena<'a>, line: &ArenaLine) -> Self {
        LineRef {
            tags: &arena.series(line.series).tags,
            keys: arena.field_keys(line.field_keys),
            values: arena.values(line),
            timestamp: line.timestamp,
        }
    }
}

/// Decides which lines are accepted and which columns they add.
///
/// Keys are resolved once per pair of series and field keys that was accepted: lines of
/// one source repeat a few such pairs, so most lines only have their values checked.
fn check(
    schema: Option<&TableSchema>,
    parsed: &Parsed<'_>,
    lines: &[u32],
    opts: &IngestOptions,
) -> Plan {
    let arena = &parsed.arena;
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
        rejected: Vec::new(),
        new_tags: Vec::new(),
        new_fields: Vec::new(),
    };
    // (series, field keys) pairs of accepted lines: every key in them is resolved.
    let mut resolved: FastSet<(u32, u32)> = FastSet::default();
    let mut last: Option<(u32, u32)> = None;
    let mut added: Vec<(&str, Kind)> = Vec::new();
    for &i in lines {
        let line = &parsed.lines[i as usize];
        let pair = (line.series, line.field_keys);
        let parts = LineRef::of(arena, line);
        let result = if last == Some(pair) || resolved.contains(&pair) {
            check_values(schema, parts, opts)
        } else {
            added.clear();
            resolve_keys(parts, &known, &mut added)
                .and_then(|()| check_values(schema, parts, opts))
                .inspect(|_| {
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
                    resolved.insert(pair);
                })
        };
        match result {
            Ok(ts) => {
                last = Some(pair);
                plan.accepted.push(Accepted { line: i, ts });
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
fn resolve_keys<'p>(
    line: LineRef<'p, '_>,
    known: &FastMap<&str, Kind>,
    added: &mut Vec<(&'p str, Kind)>,
) -> Result<(), String> {
    let lookup = |name: &str, added: &Vec<(&'p str, Kind)>| {
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
    for (k, kind) in line.keys {
        let ty = field_type(*kind);
        match lookup(k, added) {
            Some(Kind::Field(t)) if t == ty => {}
            Some(Kind::Field(t)) => {
                return Err(format!(
                    "field type conflict: {k:?} is {}, the line has {}",
                    type_word(t),
                    kind.name()
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
    line: LineRef<'_, '_>,
    opts: &IngestOptions,
) -> Result<i64, String> {
    for ((k, _), v) in line.keys.iter().zip(line.values) {
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
        for ((k, _), v) in line.keys.iter().zip(line.values) {
            if let Some(sql) = s.sql_columns.get(k.as_ref()) {
                check_declared(k, &sql.sql_type, v)?;
            }
        }
        for (name, sql) in &s.sql_columns {
            if sql.not_null
                && name != &s.time_column
                && !line.keys.iter().any(|(k, _)| k == name)
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
        Some(t) => {
            // A table created by this write gets the default partition interval.
            let min_time = schema.map_or(
                strata_storage::min_time(strata_storage::DEFAULT_PARTITION_INTERVAL_NS),
                TableSchema::min_time,
            );
            opts.precision
                .to_ns(t)
                .filter(|&ns| ns >= min_time)
                .ok_or_else(|| format!("timestamp {t} is out of range for its precision"))
        }
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
        _ if matches!(sql_type, "date" | "time" | "timestamp")
            || sql_type.starts_with("numeric") =>
        {
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
        FieldType::Bytes => "bytes",
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
        // The smallest i64 stands for a NULL time in storage; it and the times before the
        // first whole partition are out of range.
        let out = ingest(
            &e,
            b"p v=1 -9223372036854775808\np v=1 -9223372036854775807\n",
            &o,
        )
        .unwrap();
        assert_eq!(out.rejected.len(), 2, "{out:?}");
        assert!(out.rejected[1].reason.contains("out of range"));
        assert_eq!(Precision::parse("ms", false), Some(Precision::Milliseconds));
        assert_eq!(Precision::parse("h", false), None);
        assert_eq!(Precision::parse("h", true), Some(Precision::Hours));
    }
}
