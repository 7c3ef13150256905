//! `COMMENT ON {TABLE | VIEW | INDEX | COLUMN} name IS 'text' | NULL`: kept in the catalog
//! and read back by `obj_description`, `col_description` and `pg_description` (psql's
//! `\dt+`, `\d+`, BI tools' table and column descriptions). `NULL` or `''` removes a
//! comment, as in PostgreSQL. Other objects fail with 0A000.

use datafusion::sql::sqlparser::ast::{CommentObject, ObjectName};
use strata_storage::{CommentTarget, Engine};

use crate::ddl::{ident_name, table_name};
use crate::error::{QueryError, Result};

pub fn comment_on(
    engine: &Engine,
    object_type: &CommentObject,
    object_name: &ObjectName,
    comment: Option<&str>,
    database: &str,
) -> Result<()> {
    let comment = comment.filter(|c| !c.is_empty()).map(str::to_owned);
    let target = match object_type {
        CommentObject::Table => {
            let name = table_name(object_name, database)?;
            if engine.view(&name).is_some() {
                return Err(strata_storage::Error::WrongObjectType {
                    name,
                    expected: "a table",
                }
                .into());
            }
            crate::ddl::schema_of(engine, &name)?;
            CommentTarget::Table(name)
        }
        CommentObject::View => {
            let name = table_name(object_name, database)?;
            if engine.view(&name).is_none() {
                if engine.table_schema(&name).is_ok() {
                    return Err(strata_storage::Error::WrongObjectType {
                        name,
                        expected: "a view",
                    }
                    .into());
                }
                return Err(QueryError::UndefinedTable(name));
            }
            CommentTarget::View(name)
        }
        CommentObject::Index => CommentTarget::Index(table_name(object_name, database)?),
        CommentObject::Column => {
            // `table.column`, with the table perhaps qualified by schema and database.
            let parts = &object_name.0;
            let Some((column, table)) = parts.split_last() else {
                return Err(QueryError::Syntax(
                    "COMMENT ON COLUMN needs table.column".into(),
                ));
            };
            if table.is_empty() {
                return Err(QueryError::Syntax(
                    "column name must be qualified (COMMENT ON COLUMN table.column)".into(),
                ));
            }
            let column = column
                .as_ident()
                .map(ident_name)
                .ok_or_else(|| QueryError::Syntax(format!("bad column name {object_name}")))?;
            let table = table_name(&ObjectName(table.to_vec()), database)?;
            let schema = crate::ddl::schema_of(engine, &table)?;
            if !schema.column_names().any(|c| c == column)
                || (schema.hidden_time && column == schema.time_column)
            {
                return Err(QueryError::UndefinedColumn { table, column });
            }
            CommentTarget::Column { table, column }
        }
        other => {
            return Err(QueryError::Unsupported(format!(
                "COMMENT ON {}",
                format!("{other:?}").to_uppercase()
            )))
        }
    };
    engine.set_comment(&target, comment)?;
    Ok(())
}
