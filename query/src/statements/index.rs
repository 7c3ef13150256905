//! `CREATE INDEX` and `DROP INDEX`.
//!
//! An index is kept in the catalog and listed (`pg_class`, `pg_index`, `pg_indexes`, psql's
//! `\d` and `\di`) but builds nothing: a Strata table is already sorted by series and time,
//! every tag column has a bitmap per segment, and time ranges prune partitions, segments
//! and blocks (see `strata_storage::relation`). So `CREATE INDEX` on any columns succeeds
//! and changes no plan, which is what tools and migrations that create indexes need. A
//! `UNIQUE` index must name the series key and the time column (the one key such a table
//! has, see [`crate::keys`]); an index on an expression, a partial index (`WHERE`) and
//! `INCLUDE` columns fail with 0A000.

use datafusion::sql::sqlparser::ast::{self, CreateIndex, ObjectName};
use strata_storage::{Engine, IndexDef};

use crate::ddl::{ident_name, schema_of, table_name, table_names};
use crate::error::{QueryError, Result};

/// Runs `CREATE INDEX`; returns a notice when `IF NOT EXISTS` found the name taken.
pub fn create_index(engine: &Engine, ci: &CreateIndex, database: &str) -> Result<Option<String>> {
    if ci.predicate.is_some() {
        return Err(QueryError::Unsupported(
            "partial indexes (CREATE INDEX ... WHERE)".into(),
        ));
    }
    if !ci.include.is_empty() {
        return Err(QueryError::Unsupported("CREATE INDEX ... INCLUDE".into()));
    }
    let table = table_name(&ci.table_name, database)?;
    if engine.view(&table).is_some() {
        return Err(strata_storage::Error::WrongObjectType {
            name: table,
            expected: "a table",
        }
        .into());
    }
    let schema = schema_of(engine, &table)?;
    let columns = ci
        .columns
        .iter()
        .map(|c| match &c.column.expr {
            ast::Expr::Identifier(i) => {
                let name = ident_name(i);
                if schema.column_names().any(|c| c == name) && name != hidden_time(&schema) {
                    Ok(name)
                } else {
                    Err(QueryError::UndefinedColumnRef(format!("\"{name}\"")))
                }
            }
            other => Err(QueryError::Unsupported(format!(
                "an index on the expression {other}"
            ))),
        })
        .collect::<Result<Vec<_>>>()?;
    if ci.unique && (schema.hidden_time || !crate::keys::is_series_key(&schema, &columns)) {
        let mut key = schema.tags.clone();
        key.push(schema.time_column.clone());
        return Err(QueryError::Unsupported(format!(
            "UNIQUE index on ({}) of table \"{table}\". A time-series table's one key is its series key with its time column ({}); any other key",
            columns.join(", "),
            key.join(", ")
        )));
    }
    let name = match &ci.name {
        Some(n) => table_name(n, database)?,
        None => free_name(engine, &table, &columns),
    };
    let method = ci
        .using
        .as_ref()
        .map_or_else(|| "btree".to_owned(), |m| m.to_string().to_lowercase());
    let index = IndexDef {
        name: name.clone(),
        columns,
        unique: ci.unique,
        method,
        comment: None,
    };
    match engine.create_index(&table, index, ci.if_not_exists) {
        Ok(true) => Ok(None),
        Ok(false) => Ok(Some(format!(
            "relation \"{name}\" already exists, skipping"
        ))),
        Err(strata_storage::Error::RelationExists { name }) => {
            Err(QueryError::DuplicateTable(name))
        }
        Err(e) => Err(e.into()),
    }
}

/// The internal time column of a table without one (never indexable).
fn hidden_time(schema: &strata_storage::TableSchema) -> &str {
    if schema.hidden_time {
        &schema.time_column
    } else {
        ""
    }
}

/// PostgreSQL's name for an unnamed index: `<table>_<columns>_idx`, then `..._idx1`, ...
fn free_name(engine: &Engine, table: &str, columns: &[String]) -> String {
    let base = format!("{table}_{}_idx", columns.join("_"));
    let taken = |n: &str| {
        engine.table_schema(n).is_ok()
            || engine.view(n).is_some()
            || engine.index_table(n).is_some()
    };
    std::iter::once(base.clone())
        .chain((1..).map(|i| format!("{base}{i}")))
        .find(|n| !taken(n))
        .unwrap_or(base)
}

/// Runs `DROP INDEX [IF EXISTS] name [, ...]`: every name is checked before any is dropped.
/// Returns the notices of names `IF EXISTS` skipped.
pub fn drop_indexes(
    engine: &Engine,
    if_exists: bool,
    names: &[ObjectName],
    database: &str,
) -> Result<Vec<String>> {
    let mut notices = Vec::new();
    let mut found = Vec::new();
    for name in table_names(names, database)? {
        if engine.table_schema(&name).is_ok() || engine.view(&name).is_some() {
            return Err(strata_storage::Error::WrongObjectType {
                name,
                expected: "an index",
            }
            .into());
        }
        if let Some(table) = engine.index_table(&name) {
            if schema_of(engine, &table)?
                .keys
                .iter()
                .any(|k| k.name == name)
            {
                return Err(strata_storage::Error::DependentObjects {
                    dependent: format!("constraint {name} on table {table}"),
                    name,
                }
                .into());
            }
            found.push(name);
        } else if if_exists {
            notices.push(format!("index \"{name}\" does not exist, skipping"));
        } else {
            return Err(strata_storage::Error::IndexNotFound { index: name }.into());
        }
    }
    for name in found {
        engine.drop_index(&name)?;
    }
    Ok(notices)
}
