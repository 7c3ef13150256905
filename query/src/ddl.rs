//! `CREATE TABLE`, `DROP TABLE` and `ALTER TABLE ... ADD COLUMN`, translated to engine
//! schemas.
//!
//! A table whose columns include a `timestamptz` or `timestamp` is a time-series table: the
//! first `timestamptz` column, or else the first `timestamp` column (or `WITH (time_column =
//! '...')`), is its time column, its text columns are tags (or exactly those named by `WITH
//! (tags = 'a,b')`), and the rest are fields. The time column accepts NULL unless declared
//! `NOT NULL` (such rows are stored in a partition of their own; see
//! [`strata_storage::NULL_TIME`]). A table with no timestamp column (and no `time_column`
//! option) is an ordinary unpartitioned table: every column is a field, rows are kept in
//! insertion order and never deduplicated.
//!
//! `CREATE TABLE ... AS query` makes the table from the query's columns ([`columns_for`]),
//! then inserts its rows (`Session`); the same rules then decide time column and tags.
//!
//! Options: `time_column`, `tags`, `partition_interval` (`'1 day'`, `'6h'`, ...),
//! `append_only` (keep every row even with the same series and time; the default is that a
//! later write of the same point replaces the earlier one).

use datafusion::sql::sqlparser::ast::{
    self, AlterTableOperation, ColumnOption, CreateTable, CreateTableOptions, Expr, Ident,
    ObjectName, ObjectType, SqlOption, Value,
};
use strata_storage::{
    Engine, FieldDef, NewColumn, SqlColumn, TableSchema, DEFAULT_PARTITION_INTERVAL_NS,
};

use crate::error::{QueryError, Result};
use crate::types::SqlType;

/// Name of the internal time column of unpartitioned tables.
pub const HIDDEN_TIME_COLUMN: &str = "_strata_inserted_at";

/// Postgres folds unquoted identifiers to lower case.
pub fn ident_name(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// A table name: `t` or `public.t` (or `<database>.public.t`).
pub fn table_name(name: &ObjectName, database: &str) -> Result<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| {
            p.as_ident()
                .map(ident_name)
                .ok_or_else(|| QueryError::Syntax(format!("invalid table name {name}")))
        })
        .collect::<Result<_>>()?;
    match parts.as_slice() {
        [t] => Ok(t.clone()),
        [s, t] if s == "public" => Ok(t.clone()),
        [d, s, t] if s == "public" && d == database => Ok(t.clone()),
        _ => Err(QueryError::Unsupported(format!(
            "tables outside schema \"public\" ({name})"
        ))),
    }
}

/// [`table_name`] of each name.
pub fn table_names(names: &[ObjectName], database: &str) -> Result<Vec<String>> {
    names.iter().map(|n| table_name(n, database)).collect()
}

/// Options given in `WITH (...)`.
#[derive(Debug, Default)]
struct TableOptions {
    time_column: Option<String>,
    tags: Option<Vec<String>>,
    partition_interval_ns: Option<i64>,
    append_only: Option<bool>,
    cold_after_ns: Option<i64>,
    retention_ns: Option<i64>,
    subject_column: Option<String>,
}

fn option_text(key: &str, value: &Expr) -> Result<String> {
    match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
            Value::Number(n, _) => Ok(n.clone()),
            Value::Boolean(b) => Ok(b.to_string()),
            _ => Err(QueryError::InvalidDefinition(format!(
                "option {key} needs a value, got {value}"
            ))),
        },
        Expr::Identifier(i) => Ok(i.value.clone()),
        _ => Err(QueryError::InvalidDefinition(format!(
            "option {key} needs a value, got {value}"
        ))),
    }
}

fn parse_bool(key: &str, s: &str) -> Result<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(QueryError::InvalidDefinition(format!(
            "option {key} must be true or false, got {s:?}"
        ))),
    }
}

/// `'1 day'`, `'6h'`, `'30 minutes'`, `'1w'`: an interval in nanoseconds.
pub fn parse_interval(s: &str) -> Result<i64> {
    parse_interval_option("partition_interval", s)
}

/// [`parse_interval`] with the option's name in the error.
fn parse_interval_option(key: &str, s: &str) -> Result<i64> {
    let bad = || {
        QueryError::InvalidDefinition(format!(
            "{key} {s:?} is not an interval like '1 day', '6h' or '30 minutes'"
        ))
    };
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let unit_ns: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ns" | "nanosecond" | "nanoseconds" => 1,
        "us" | "microsecond" | "microseconds" => 1_000,
        "ms" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "sec" | "second" | "seconds" => 1_000_000_000,
        "m" | "min" | "minute" | "minutes" => 60_000_000_000,
        "h" | "hour" | "hours" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        "w" | "week" | "weeks" => 7 * 86_400_000_000_000,
        _ => return Err(bad()),
    };
    let ns = n.checked_mul(unit_ns).ok_or_else(bad)?;
    if ns <= 0 {
        return Err(bad());
    }
    Ok(ns)
}

fn table_options(opts: &CreateTableOptions) -> Result<TableOptions> {
    let list = match opts {
        CreateTableOptions::None => return Ok(TableOptions::default()),
        CreateTableOptions::With(list) => list,
        other => {
            return Err(QueryError::Unsupported(format!("table options {other}")));
        }
    };
    let mut out = TableOptions::default();
    for o in list {
        let SqlOption::KeyValue { key, value } = o else {
            return Err(QueryError::Unsupported(format!("table option {o}")));
        };
        let k = key.value.to_ascii_lowercase();
        let v = option_text(&k, value)?;
        match k.as_str() {
            "time_column" => out.time_column = Some(v.to_lowercase()),
            "tags" => {
                out.tags = Some(
                    v.split(',')
                        .map(|t| t.trim().to_lowercase())
                        .filter(|t| !t.is_empty())
                        .collect(),
                )
            }
            "partition_interval" => out.partition_interval_ns = Some(parse_interval(&v)?),
            "append_only" => out.append_only = Some(parse_bool(&k, &v)?),
            "cold_after" => out.cold_after_ns = Some(parse_interval_option(&k, &v)?),
            "retention" => out.retention_ns = Some(parse_interval_option(&k, &v)?),
            "subject_column" => out.subject_column = Some(v.to_lowercase()),
            _ => {
                return Err(QueryError::InvalidDefinition(format!(
                    "unknown table option {k:?} (known: time_column, tags, partition_interval, append_only, cold_after, retention, subject_column)"
                )))
            }
        }
    }
    Ok(out)
}

/// A column as `CREATE TABLE` declares it.
#[derive(Debug)]
pub struct ColumnDecl {
    pub name: String,
    pub ty: SqlType,
    pub not_null: bool,
    /// The `DEFAULT` expression, as written.
    pub default: Option<Expr>,
}

/// A column definition's type, NOT NULL and DEFAULT; anything else is unsupported.
pub fn column(def: &ast::ColumnDef) -> Result<ColumnDecl> {
    let name = ident_name(&def.name);
    let ty = SqlType::from_ast(&def.data_type)?;
    let mut not_null = false;
    let mut default = None;
    for o in &def.options {
        match &o.option {
            ColumnOption::NotNull => not_null = true,
            ColumnOption::Null => not_null = false,
            ColumnOption::Default(e) => default = Some(e.clone()),
            // The key itself is read by `keys::declared`; a primary key is NOT NULL.
            ColumnOption::PrimaryKey(_) => not_null = true,
            ColumnOption::Unique(_) => {}
            ColumnOption::ForeignKey(_) => {
                return Err(QueryError::Unsupported(format!(
                    "foreign keys (column \"{name}\")"
                )))
            }
            ColumnOption::Check(_) => {
                return Err(QueryError::Unsupported(format!(
                    "CHECK constraints (column \"{name}\")"
                )))
            }
            other => {
                return Err(QueryError::Unsupported(format!(
                    "column option {other} (column \"{name}\")"
                )))
            }
        }
    }
    Ok(ColumnDecl {
        name,
        ty,
        not_null,
        default,
    })
}

/// Builds the engine schema for a `CREATE TABLE`.
pub fn schema_for_create(ct: &CreateTable, database: &str) -> Result<TableSchema> {
    if ct.or_replace {
        return Err(QueryError::Unsupported("CREATE OR REPLACE TABLE".into()));
    }
    if ct.temporary {
        return Err(QueryError::Unsupported("temporary tables".into()));
    }
    if ct.external {
        return Err(QueryError::Unsupported("external tables".into()));
    }
    if ct.query.is_some() {
        // `Session::create_table_as` turns the query into columns first.
        return Err(QueryError::Unsupported("CREATE TABLE ... AS here".into()));
    }
    if ct.like.is_some() || ct.clone.is_some() {
        return Err(QueryError::Unsupported("CREATE TABLE ... LIKE".into()));
    }
    let keys = crate::keys::declared(ct)?;
    let name = table_name(&ct.name, database)?;
    if ct.columns.is_empty() {
        return Err(QueryError::InvalidDefinition(format!(
            "table \"{name}\" needs at least one column"
        )));
    }
    let opts = table_options(&ct.table_options)?;
    let mut decls: Vec<ColumnDecl> = ct.columns.iter().map(column).collect::<Result<_>>()?;
    for k in &keys {
        if let Some(c) = k
            .columns
            .iter()
            .find(|c| !decls.iter().any(|d| &&d.name == c))
        {
            return Err(QueryError::UndefinedColumn {
                table: name.clone(),
                column: c.clone(),
            });
        }
    }
    for d in &mut decls {
        if keys
            .iter()
            .any(|k| k.primary && k.columns.contains(&d.name))
        {
            d.not_null = true;
        }
    }
    let cols: Vec<(String, SqlType, bool)> = decls
        .iter()
        .map(|c| (c.name.clone(), c.ty, c.not_null))
        .collect();
    let find = |n: &str| cols.iter().find(|c| c.0 == n);

    let time_column = match &opts.time_column {
        Some(t) => {
            let c = find(t).ok_or_else(|| {
                QueryError::InvalidDefinition(format!("time_column \"{t}\" is not a column"))
            })?;
            if !c.1.is_timestamp() {
                return Err(QueryError::InvalidDefinition(format!(
                    "time_column \"{t}\" must be timestamptz or timestamp, not {}",
                    c.1
                )));
            }
            Some(t.clone())
        }
        None => cols
            .iter()
            .find(|c| c.1 == SqlType::Timestamptz)
            .or_else(|| cols.iter().find(|c| c.1 == SqlType::Timestamp))
            .map(|c| c.0.clone()),
    };

    let mut sql_columns = std::collections::BTreeMap::new();
    for c in &decls {
        sql_columns.insert(
            c.name.clone(),
            SqlColumn {
                sql_type: c.ty.to_string(),
                not_null: c.not_null,
                default: c.default.as_ref().map(ToString::to_string),
            },
        );
    }

    let Some(time_column) = time_column else {
        if let Some(k) = keys.first() {
            return Err(QueryError::Unsupported(format!(
                "{} on table \"{name}\", which has no timestamptz or timestamp column: such a table keeps every row it is given, and a key there",
                if k.primary { "PRIMARY KEY" } else { "UNIQUE" }
            )));
        }
        for o in [
            opts.tags.is_some(),
            opts.partition_interval_ns.is_some(),
            opts.cold_after_ns.is_some(),
            opts.retention_ns.is_some(),
            opts.subject_column.is_some(),
        ] {
            if o {
                return Err(QueryError::InvalidDefinition(format!(
                    "table \"{name}\" has no timestamptz or timestamp column, so it is unpartitioned and takes no tags, partition_interval, cold_after, retention or subject_column"
                )));
            }
        }
        if find(HIDDEN_TIME_COLUMN).is_some() {
            return Err(QueryError::InvalidDefinition(format!(
                "column name \"{HIDDEN_TIME_COLUMN}\" is reserved"
            )));
        }
        let mut schema = TableSchema::new(
            name,
            HIDDEN_TIME_COLUMN,
            Vec::<String>::new(),
            cols.iter().map(|(n, t, _)| (n.clone(), t.field_type())),
        );
        // One partition, however the hidden times spread.
        schema.partition_interval_ns = i64::MAX;
        schema.append_only = true;
        schema.hidden_time = true;
        schema.sql_columns = sql_columns;
        schema.column_order = cols.iter().map(|c| c.0.clone()).collect();
        schema.validate()?;
        return Ok(schema);
    };

    let text: Vec<String> = cols
        .iter()
        .filter(|c| c.1.is_text_like())
        .map(|c| c.0.clone())
        .collect();
    let key_tags =
        crate::keys::series_key(&name, &keys, &time_column, &text, opts.tags.as_deref())?;
    if !keys.is_empty() && opts.append_only == Some(true) {
        return Err(QueryError::InvalidDefinition(format!(
            "table \"{name}\" is append_only, so it keeps rows with equal keys and cannot declare a key"
        )));
    }
    let tags: Vec<String> = match key_tags.as_ref().or(opts.tags.as_ref()) {
        Some(list) => {
            for t in list {
                let c = find(t).ok_or_else(|| {
                    QueryError::InvalidDefinition(format!("tag \"{t}\" is not a column"))
                })?;
                if !c.1.is_text_like() {
                    return Err(QueryError::InvalidDefinition(format!(
                        "tag \"{t}\" must be a text column, not {}",
                        c.1
                    )));
                }
            }
            list.clone()
        }
        None => cols
            .iter()
            .filter(|c| c.1.is_text_like())
            .map(|c| c.0.clone())
            .collect(),
    };
    let fields: Vec<(String, strata_storage::FieldType)> = cols
        .iter()
        .filter(|c| c.0 != time_column && !tags.contains(&c.0))
        .map(|c| (c.0.clone(), c.1.field_type()))
        .collect();
    let mut schema = TableSchema::new(name, time_column, tags, fields);
    schema.partition_interval_ns = opts
        .partition_interval_ns
        .unwrap_or(DEFAULT_PARTITION_INTERVAL_NS);
    schema.append_only = opts.append_only.unwrap_or(false);
    schema.cold_after_ns = opts.cold_after_ns;
    schema.retention_ns = opts.retention_ns;
    if let Some(subject) = &opts.subject_column {
        if !schema.tags.contains(subject) {
            return Err(QueryError::InvalidDefinition(format!(
                "subject_column \"{subject}\" must be a tag (a text column named in tags)"
            )));
        }
        schema.subject_column = Some(subject.clone());
    }
    schema.sql_columns = sql_columns;
    schema.column_order = cols.iter().map(|c| c.0.clone()).collect();
    schema.keys = crate::keys::key_defs(&schema.name, &keys);
    schema.validate()?;
    Ok(schema)
}

/// The schema of table `name`, or 42P01.
pub fn schema_of(engine: &Engine, name: &str) -> Result<TableSchema> {
    match engine.table_schema(name) {
        Ok(s) => Ok(s),
        Err(strata_storage::Error::TableNotFound { .. }) => {
            Err(QueryError::UndefinedTable(name.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs `CREATE TABLE`; returns false if it existed and `IF NOT EXISTS` was given.
pub fn create_table(engine: &Engine, ct: &CreateTable, database: &str) -> Result<bool> {
    let schema = schema_for_create(ct, database)?;
    let name = schema.name.clone();
    match engine.create_table(schema) {
        Ok(()) => Ok(true),
        Err(strata_storage::Error::TableExists { .. }) if ct.if_not_exists => Ok(false),
        Err(strata_storage::Error::TableExists { .. }) => Err(QueryError::DuplicateTable(name)),
        Err(e) => Err(e.into()),
    }
}

/// The column definitions of a table made from a query's output (`CREATE TABLE ... AS`):
/// each column's SQL type is the one Strata gives that Arrow type, without `NOT NULL`, as in
/// PostgreSQL. A type Strata cannot store fails with 0A000 naming the column.
pub fn columns_for(schema: &arrow::datatypes::Schema) -> Result<Vec<ast::ColumnDef>> {
    use arrow::datatypes::DataType;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    fn sql_type(t: &DataType) -> Option<String> {
        Some(match t {
            DataType::Boolean => "boolean".into(),
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
            DataType::Int32 | DataType::UInt16 => "integer".into(),
            DataType::Int64 | DataType::UInt32 => "bigint".into(),
            DataType::Float16 | DataType::Float32 => "real".into(),
            DataType::Float64 => "double precision".into(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
            DataType::Date32 | DataType::Date64 => "date".into(),
            DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
            DataType::Timestamp(_, None) => "timestamp".into(),
            DataType::Decimal32(p, s)
            | DataType::Decimal64(p, s)
            | DataType::Decimal128(p, s)
            | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
            DataType::Time32(_) | DataType::Time64(_) => "time".into(),
            DataType::Interval(_) => "interval".into(),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".into(),
            DataType::Dictionary(_, v) => return sql_type(v),
            _ => return None,
        })
    }
    schema
        .fields()
        .iter()
        .map(|f| {
            let name = sql_type(f.data_type()).ok_or_else(|| {
                QueryError::Unsupported(format!(
                    "column \"{}\" of type {} in CREATE TABLE ... AS",
                    f.name(),
                    crate::information_schema::PgColumnType::of(f.data_type()).data_type
                ))
            })?;
            let data_type = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&name)
                .and_then(|mut p| p.parse_data_type())
                .map_err(|e| QueryError::Syntax(e.to_string()))?;
            Ok(ast::ColumnDef {
                name: Ident::with_quote('"', f.name()),
                data_type,
                options: vec![],
            })
        })
        .collect()
}

/// Runs `DROP TABLE`.
pub fn drop_tables(
    engine: &Engine,
    object_type: ObjectType,
    if_exists: bool,
    names: &[ObjectName],
    database: &str,
) -> Result<()> {
    if object_type != ObjectType::Table {
        return Err(QueryError::Unsupported(format!("DROP {object_type}")));
    }
    let names = table_names(names, database)?;
    if let Some(view) = names.iter().find(|n| engine.view(n).is_some()) {
        return Err(strata_storage::Error::WrongObjectType {
            name: view.clone(),
            expected: "a table",
        }
        .into());
    }
    if !if_exists {
        if let Some(missing) = names.iter().find(|n| engine.table_schema(n).is_err()) {
            return Err(QueryError::UndefinedTable(missing.clone()));
        }
    }
    for n in names {
        match engine.drop_table(&n) {
            Ok(()) => {}
            Err(strata_storage::Error::TableNotFound { .. }) if if_exists => {}
            Err(strata_storage::Error::TableNotFound { .. }) => {
                return Err(QueryError::UndefinedTable(n))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Runs `ALTER TABLE ... ADD COLUMN`. A text column added to a time-series table becomes a
/// tag, as in `CREATE TABLE`; existing rows read NULL in it.
pub fn alter_table(engine: &Engine, alter: &ast::AlterTable, database: &str) -> Result<()> {
    let name = table_name(&alter.name, database)?;
    let schema = match engine.table_schema(&name) {
        Ok(s) => s,
        Err(strata_storage::Error::TableNotFound { .. }) if alter.if_exists => return Ok(()),
        Err(strata_storage::Error::TableNotFound { .. }) => {
            return Err(QueryError::UndefinedTable(name))
        }
        Err(e) => return Err(e.into()),
    };
    for op in &alter.operations {
        if let AlterTableOperation::SetOptionsParens { options } = op {
            set_options(engine, &name, &schema, options)?;
            continue;
        }
        let AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            ..
        } = op
        else {
            return Err(QueryError::Unsupported(format!("ALTER TABLE {op}")));
        };
        let ColumnDecl {
            name: col,
            ty,
            not_null,
            default,
        } = column(column_def)?;
        if default.is_some() {
            // PostgreSQL fills the rows already there with the default; Strata cannot yet.
            return Err(QueryError::Unsupported(format!(
                "adding a column with a DEFAULT (\"{col}\") to an existing table"
            )));
        }
        if not_null {
            return Err(QueryError::Unsupported(format!(
                "adding a NOT NULL column (\"{col}\") to a table with rows"
            )));
        }
        if schema.column_names().any(|c| c == col) {
            if *if_not_exists {
                continue;
            }
            return Err(QueryError::DuplicateColumn {
                table: name.clone(),
                column: col,
            });
        }
        let new = if ty.is_text_like() && !schema.hidden_time {
            NewColumn::Tag(col.clone())
        } else {
            NewColumn::Field(FieldDef {
                name: col.clone(),
                ty: ty.field_type(),
            })
        };
        let sql = SqlColumn {
            sql_type: ty.to_string(),
            not_null: false,
            default: None,
        };
        engine.add_column(&name, new, Some(sql))?;
    }
    Ok(())
}

/// `ALTER TABLE t SET (cold_after = '7 days', retention = '90 days', subject_column = user_id)`;
/// a value of `DEFAULT` resets the option (what `ALTER TABLE t RESET (retention)` is
/// rewritten to, see `crate::rewrite`).
fn set_options(
    engine: &Engine,
    table: &str,
    schema: &TableSchema,
    options: &[SqlOption],
) -> Result<()> {
    for o in options {
        let SqlOption::KeyValue { key, value } = o else {
            return Err(QueryError::Unsupported(format!("table option {o}")));
        };
        let k = key.value.to_ascii_lowercase();
        let reset = matches!(value, Expr::Identifier(i) if i.value.eq_ignore_ascii_case("default"));
        match k.as_str() {
            "cold_after" => {
                if schema.hidden_time && !reset {
                    return Err(QueryError::InvalidDefinition(format!(
                        "table \"{table}\" has no timestamptz or timestamp column, so it has no partitions to move to the cold tier"
                    )));
                }
                let ns = if reset {
                    None
                } else {
                    Some(parse_interval_option(&k, &option_text(&k, value)?)?)
                };
                engine.set_cold_after(table, ns)?;
            }
            "retention" => {
                if schema.hidden_time && !reset {
                    return Err(QueryError::InvalidDefinition(format!(
                        "table \"{table}\" has no timestamptz or timestamp column, so it has no time to expire rows by"
                    )));
                }
                let ns = if reset {
                    None
                } else {
                    Some(parse_interval_option(&k, &option_text(&k, value)?)?)
                };
                engine.set_retention(table, ns)?;
            }
            "subject_column" => {
                let column = if reset {
                    None
                } else {
                    let c = option_text(&k, value)?.to_lowercase();
                    if !schema.tags.contains(&c) {
                        return Err(QueryError::InvalidDefinition(format!(
                            "subject_column \"{c}\" must be a tag column of \"{table}\""
                        )));
                    }
                    Some(c)
                };
                engine.set_subject_column(table, column)?;
            }
            "time_column" | "tags" | "partition_interval" | "append_only" => {
                return Err(QueryError::Unsupported(format!(
                    "changing {k} of an existing table"
                )))
            }
            _ => {
                return Err(QueryError::InvalidDefinition(format!(
                    "unknown table option {k:?} (ALTER TABLE ... SET takes: cold_after, retention, subject_column)"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_with_units() {
        assert_eq!(parse_interval("1 day").unwrap(), 86_400_000_000_000);
        assert_eq!(parse_interval("6h").unwrap(), 6 * 3_600_000_000_000);
        assert_eq!(parse_interval(" 30 minutes ").unwrap(), 30 * 60_000_000_000);
        assert!(parse_interval("day").is_err());
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("5 fortnights").is_err());
    }
}
