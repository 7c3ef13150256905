//! PostgreSQL's names for unaliased result columns: `count(*)` is `count`, `max(usage)` is
//! `max`, `v::int` is `v`, `1` is `?column?`. DataFusion names them after the whole
//! expression (`count(*)`, `max(cpu.usage)`, `Int64(1)`), which breaks clients that look
//! columns up by name and changes every `psql` header. Aliases are kept as written.

use datafusion::sql::sqlparser::ast::{Expr, Query, SelectItem, SetExpr, Statement};

use crate::ddl::ident_name;

/// The Postgres output names of a query's columns, given DataFusion's names (`current`)
/// for the columns a wildcard expands to; `None` if the statement is not a plain query or
/// the shapes do not line up.
pub fn output_names(statement: &Statement, current: &[String]) -> Option<Vec<String>> {
    let Statement::Query(q) = statement else {
        return None;
    };
    let items = select_items(q)?;
    let wildcards = items
        .iter()
        .filter(|i| {
            matches!(
                i,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        })
        .count();
    let named = items.len() - wildcards;
    if wildcards > 1 || (wildcards == 0 && named != current.len()) || named > current.len() {
        return None;
    }
    let expansion = current.len() - named;
    let mut out = Vec::with_capacity(current.len());
    for item in items {
        match item {
            SelectItem::UnnamedExpr(e) => out.push(expr_name(e)),
            SelectItem::ExprWithAlias { alias, .. } => out.push(ident_name(alias)),
            SelectItem::ExprWithAliases { aliases, .. } => out.push(
                aliases
                    .first()
                    .map(ident_name)
                    .unwrap_or_else(|| "?column?".into()),
            ),
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                let start = out.len();
                out.extend(current[start..start + expansion].iter().cloned());
            }
        }
    }
    Some(out)
}

/// `statement` with its result columns that PostgreSQL names alike (`SELECT a, a`, `SELECT
/// ts, ts::text`) aliased apart, or `None` when there are none. PostgreSQL returns columns
/// of one name; DataFusion refuses a projection whose names repeat, so the statement is
/// planned with the aliases and [`output_names`] of the original names the columns again.
pub fn distinct_names(statement: &Statement) -> Option<Statement> {
    let Statement::Query(q) = statement else {
        return None;
    };
    let SetExpr::Select(select) = q.body.as_ref() else {
        return None;
    };
    let names: Vec<Option<String>> = select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) => Some(expr_name(e)),
            SelectItem::ExprWithAlias { alias, .. } => Some(ident_name(alias)),
            _ => None,
        })
        .collect();
    let repeated = |i: usize| {
        names[i]
            .as_ref()
            .is_some_and(|n| names[..i].iter().flatten().any(|m| m == n))
    };
    let repeats: Vec<usize> = (0..names.len()).filter(|&i| repeated(i)).collect();
    if repeats.is_empty() {
        return None;
    }
    let mut out = statement.clone();
    let Statement::Query(q) = &mut out else {
        return None;
    };
    let SetExpr::Select(select) = q.body.as_mut() else {
        return None;
    };
    for i in repeats {
        let expr = match &select.projection[i] {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
            _ => continue,
        };
        select.projection[i] = SelectItem::ExprWithAlias {
            expr,
            alias: datafusion::sql::sqlparser::ast::Ident::new(format!("strata_column_{}", i + 1)),
        };
    }
    Some(out)
}

fn select_items(q: &Query) -> Option<&Vec<SelectItem>> {
    let mut body = q.body.as_ref();
    loop {
        match body {
            SetExpr::Select(s) => return Some(&s.projection),
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            SetExpr::Query(inner) => body = inner.body.as_ref(),
            _ => return None,
        }
    }
}

fn expr_name(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => ident_name(i),
        Expr::CompoundIdentifier(parts) => parts.last().map(ident_name).unwrap_or_default(),
        Expr::Function(f) => {
            let name = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase())
                .unwrap_or_else(|| "?column?".into());
            // `x::uuid`, rewritten to a call (`rewrite.rs`), is named as the cast.
            if name == "strata_uuid_in" {
                return match crate::rewrite::positional_args(f).as_deref() {
                    Some([e @ (Expr::Identifier(_) | Expr::CompoundIdentifier(_))]) => expr_name(e),
                    _ => "uuid".into(),
                };
            }
            name
        }
        Expr::Cast {
            expr, data_type, ..
        } => match expr.as_ref() {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Function(_) => {
                expr_name(expr)
            }
            _ => type_name(&data_type.to_string()),
        },
        Expr::Nested(inner) => expr_name(inner),
        Expr::Case { .. } => "case".into(),
        Expr::Extract { .. } => "extract".into(),
        Expr::Exists { .. } => "exists".into(),
        _ => "?column?".into(),
    }
}

/// Postgres names a cast of a non-column after the type's internal name.
fn type_name(sql: &str) -> String {
    let t = sql.to_ascii_lowercase();
    let base = t.split('(').next().unwrap_or(&t).trim();
    match base {
        "int" | "integer" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "double precision" | "float8" | "double" => "float8",
        "real" | "float4" => "float4",
        "text" => "text",
        "varchar" | "character varying" => "varchar",
        "boolean" | "bool" => "bool",
        "date" => "date",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "numeric" | "decimal" => "numeric",
        "time" | "time without time zone" => "time",
        "interval" => "interval",
        "bytea" => "bytea",
        "uuid" => "uuid",
        _ => "?column?",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn names(sql: &str, current: &[&str]) -> Option<Vec<String>> {
        let s = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        let current: Vec<String> = current.iter().map(|s| s.to_string()).collect();
        output_names(&s, &current)
    }

    #[test]
    fn unaliased_columns_get_postgres_names() {
        assert_eq!(
            names(
                "SELECT host, count(*), max(t.usage) AS peak, 1, v::int, '1'::bigint, (usage) FROM t",
                &["host", "count(*)", "peak", "Int64(1)", "v", "x", "usage"]
            )
            .unwrap(),
            vec!["host", "count", "peak", "?column?", "v", "int8", "usage"]
        );
        assert_eq!(
            names("SELECT *, now() FROM t", &["a", "b", "now()"]).unwrap(),
            vec!["a", "b", "now"]
        );
        assert_eq!(
            names(
                "SELECT count(*) FROM a UNION ALL SELECT sum(x) FROM b",
                &["count(*)"]
            )
            .unwrap(),
            vec!["count"]
        );
        assert!(names("SELECT a, b FROM t", &["a"]).is_none());
    }
}
