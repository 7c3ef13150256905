//! Catalog functions that look an object up by OID, as subqueries over the catalog tables
//! that hold what they return (Strata computes those tables, `pg_catalog/relations.rs`):
//!
//! - `obj_description(oid, 'catalog')`, `obj_description(oid)`, `col_description(oid,
//!   attnum)`: `pg_description`, as PostgreSQL defines them; `shobj_description(...)` is
//!   NULL (Strata has no comments on shared objects).
//! - `pg_table_size`, `pg_relation_size`, `pg_total_relation_size` (of a table: the bytes of
//!   its local segments and cold objects, `system.partitions`; 0 for a view or an index,
//!   which store nothing), `pg_indexes_size` (0) and `pg_database_size` (every table's).
//! - `pg_get_viewdef(oid | 'name' [, pretty])`: `pg_views.definition`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Ident, Query, SelectItem, SetExpr, VisitorMut};

use super::parse_expr;

pub(super) struct CatalogFunctions;

/// The functions rewritten here.
const FUNCTIONS: &[&str] = &[
    "obj_description",
    "col_description",
    "shobj_description",
    "pg_table_size",
    "pg_relation_size",
    "pg_total_relation_size",
    "pg_indexes_size",
    "pg_database_size",
    "pg_get_viewdef",
];

impl VisitorMut for CatalogFunctions {
    type Break = ();

    /// An unaliased call in a select list keeps its name as the column's, as PostgreSQL
    /// names it (the subquery it becomes would otherwise be named by its text).
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(Expr::Function(f)) = item {
                    let name = f
                        .name
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .map(|i| i.value.to_ascii_lowercase());
                    if let Some(name) = name.filter(|n| FUNCTIONS.contains(&n.as_str())) {
                        let expr = Expr::Function(f.clone());
                        *item = SelectItem::ExprWithAlias {
                            expr,
                            alias: Ident::new(name),
                        };
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(e) = rewritten(expr) {
            *expr = e;
        }
        ControlFlow::Continue(())
    }
}

/// The subquery a call of one of the functions above becomes, if `expr` is one with
/// arguments of the shape PostgreSQL takes.
fn rewritten(expr: &Expr) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::Value;
    let Expr::Function(f) = expr else {
        return None;
    };
    let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
    let args = super::positional_args(f)?;
    let catalog_oid = |e: &Expr| -> Option<i32> {
        let Expr::Value(v) = e else { return None };
        let Value::SingleQuotedString(name) = &v.value else {
            return None;
        };
        Some(match name.trim_start_matches("pg_catalog.") {
            "pg_class" => 1259,
            "pg_namespace" => 2615,
            "pg_proc" => 1255,
            "pg_type" => 1247,
            "pg_constraint" => 2606,
            "pg_am" => 2601,
            "pg_operator" => 2617,
            _ => return None,
        })
    };
    let query = |object: &Expr, classoid: Option<i32>, subid: &str| {
        let class = classoid.map_or(String::new(), |c| {
            format!(" AND strata_description.classoid = {c}")
        });
        parse_expr(&format!(
            "(SELECT max(strata_description.description) FROM pg_catalog.pg_description AS strata_description \
             WHERE strata_description.objoid = ({object}){class} AND strata_description.objsubid = ({subid}))"
        ))
    };
    match (name.as_str(), args.as_slice()) {
        ("obj_description", [object, catalog]) => query(object, Some(catalog_oid(catalog)?), "0"),
        ("obj_description", [object]) => query(object, None, "0"),
        ("col_description", [table, column]) => query(table, Some(1259), &column.to_string()),
        ("shobj_description", [_, _]) => parse_expr("CAST(NULL AS TEXT)"),
        (
            "pg_table_size" | "pg_relation_size" | "pg_total_relation_size",
            [relation, ..],
        ) => parse_expr(&format!(
            "(SELECT CAST(COALESCE(sum(strata_p.bytes), 0) AS BIGINT) \
             FROM pg_catalog.pg_class AS strata_c \
             JOIN pg_catalog.pg_namespace AS strata_n ON strata_n.oid = strata_c.relnamespace \
             JOIN system.partitions AS strata_p ON strata_p.table_name = strata_c.relname \
             WHERE strata_c.oid = ({relation}) AND strata_n.nspname = 'public' AND strata_c.relkind = 'r')"
        )),
        ("pg_indexes_size", [_]) => parse_expr("CAST(0 AS BIGINT)"),
        ("pg_database_size", [_]) => parse_expr(
            "(SELECT CAST(COALESCE(sum(strata_p.bytes), 0) AS BIGINT) FROM system.partitions AS strata_p)",
        ),
        // One level of subquery: DataFusion does not resolve an outer column two levels
        // down (SQLAlchemy's `pg_get_viewdef(pg_class.oid)`).
        ("pg_get_viewdef", [view, ..]) => match view {
            Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)) => parse_expr(&format!(
                "(SELECT max(strata_v.definition) FROM pg_catalog.pg_views AS strata_v WHERE strata_v.viewname = {view})"
            )),
            _ => parse_expr(&format!(
                "(SELECT max(strata_v.definition) FROM pg_catalog.pg_views AS strata_v \
                 JOIN pg_catalog.pg_class AS strata_c ON strata_c.relname = strata_v.viewname \
                 WHERE strata_c.oid = ({view}) AND strata_c.relkind = 'v')"
            )),
        },
        _ => None,

    }
}
