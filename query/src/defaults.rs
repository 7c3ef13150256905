//! Column `DEFAULT`s in `INSERT`.
//!
//! A column left out of an `INSERT` gets its default from DataFusion's INSERT planning,
//! which asks the table ([`crate::provider::StrataTable`] plans the stored expressions).
//! What DataFusion does not plan, PostgreSQL's `DEFAULT` keyword in a `VALUES` row and
//! `INSERT ... DEFAULT VALUES`, [`fill`] rewrites before planning: each `DEFAULT` becomes
//! its column's default expression, or NULL for a column without one, as in PostgreSQL.

use datafusion::execution::context::SessionState;
use datafusion::sql::sqlparser::ast::{self, Expr, Insert, SetExpr, TableObject};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{QueryError, Result};
use crate::provider::StrataTable;

/// `insert` with every `DEFAULT` of its `VALUES` rows, and a `DEFAULT VALUES` source,
/// replaced by the target columns' defaults. `None` when it has neither.
pub(crate) async fn fill(state: &SessionState, insert: &Insert) -> Result<Option<Insert>> {
    let default_values = insert.source.is_none();
    let has_keyword = match insert.source.as_deref().map(|q| q.body.as_ref()) {
        Some(SetExpr::Values(v)) => v.rows.iter().flat_map(|r| r.content.iter()).any(is_default),
        _ => false,
    };
    if !default_values && !has_keyword {
        return Ok(None);
    }
    let TableObject::TableName(name) = &insert.table else {
        return Ok(None);
    };
    let Some(table) = crate::resolve::table_named(state, name).await? else {
        return Err(QueryError::UndefinedTable(name.to_string()));
    };
    let Some(strata) = table.downcast_ref::<StrataTable>() else {
        return Ok(None);
    };
    let fields: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let targets: Vec<String> = if insert.columns.is_empty() {
        fields
    } else {
        insert.columns.iter().map(|c| c.to_string()).collect()
    };
    let default_of = |column: &str| -> Result<Expr> {
        let sql = strata
            .default_text(column.trim_matches('"'))
            .unwrap_or("NULL");
        Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_expr())
            .map_err(|e| QueryError::Syntax(e.to_string()))
    };
    let mut insert = insert.clone();
    if default_values {
        let row = targets
            .iter()
            .map(|c| default_of(c).map(|e| e.to_string()))
            .collect::<Result<Vec<_>>>()?;
        let query = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&format!("VALUES ({})", row.join(", ")))
            .and_then(|mut p| p.parse_query())
            .map_err(|e| QueryError::Syntax(e.to_string()))?;
        insert.source = Some(query);
        if insert.columns.is_empty() {
            insert.columns = targets
                .iter()
                .map(|c| ast::ObjectName::from(vec![ast::Ident::with_quote('"', c)]))
                .collect();
        }
        return Ok(Some(insert));
    }
    if let Some(SetExpr::Values(values)) = insert.source.as_deref_mut().map(|q| q.body.as_mut()) {
        for row in &mut values.rows {
            for (i, e) in row.content.iter_mut().enumerate() {
                if is_default(e) {
                    // A row longer than the target list fails when planned (42601).
                    if let Some(column) = targets.get(i) {
                        *e = default_of(column)?;
                    }
                }
            }
        }
    }
    Ok(Some(insert))
}

/// The `DEFAULT` keyword, which sqlparser reads as an identifier in a `VALUES` row.
fn is_default(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

/// The `DEFAULT`s of `def`'s columns that `given` (a COPY's column list; empty: every
/// column) leaves out, each evaluated once, as PostgreSQL's `now()` is one value for a whole
/// statement. A volatile default (`random()`), which PostgreSQL evaluates for each row, is
/// left out of the map.
pub(crate) fn constant_defaults(
    state: &SessionState,
    def: &crate::table::TableDef,
    given: &[String],
) -> Result<std::collections::HashMap<String, datafusion::common::ScalarValue>> {
    use datafusion::common::{DFSchema, ScalarValue};
    let mut out = std::collections::HashMap::new();
    if given.is_empty() {
        return Ok(out);
    }
    let empty = DFSchema::empty();
    let now = chrono::Utc::now();
    let one_row = arrow::array::RecordBatch::try_new_with_options(
        std::sync::Arc::new(arrow::datatypes::Schema::empty()),
        vec![],
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    for c in &def.columns {
        if given.contains(&c.name) {
            continue;
        }
        let Some(text) = def
            .storage
            .sql_columns
            .get(&c.name)
            .and_then(|s| s.default.as_deref())
        else {
            continue;
        };
        let parsed = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(text)
            .and_then(|mut p| p.parse_expr())
            .map_err(|e| QueryError::Syntax(e.to_string()))?;
        let expr = state.create_logical_expr_from_sql_expr(
            ast::ExprWithAlias {
                expr: parsed,
                alias: None,
            },
            &empty,
        )?;
        if expr.is_volatile() {
            continue;
        }
        // `now()` and friends take the statement's time, as simplification fills them in.
        let context = datafusion::logical_expr::simplify::SimplifyContext::builder()
            .with_schema(std::sync::Arc::new(empty.clone()))
            .with_config_options(std::sync::Arc::clone(state.config_options()))
            .with_query_execution_start_time(Some(now))
            .build();
        let expr = datafusion::optimizer::simplify_expressions::ExprSimplifier::new(context)
            .simplify(expr)?;
        let physical = state.create_physical_expr(expr, &empty)?;
        let value = physical.evaluate(&one_row)?.into_array(1)?;
        out.insert(c.name.clone(), ScalarValue::try_from_array(&value, 0)?);
    }
    Ok(out)
}
