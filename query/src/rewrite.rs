//! Rewrites of Postgres syntax DataFusion does not plan, applied after parsing (on top of
//! `datafusion-pg-catalog`'s own rules).
//!
//! - `ARRAY(SELECT x FROM ... WHERE ...)` (an array built from a subquery, as in psql's
//!   `\du`) becomes `(SELECT array_agg(x) FROM ... WHERE ...)`, a scalar aggregate
//!   subquery DataFusion decorrelates. The subquery's ORDER BY is dropped (element order is
//!   then unspecified); subqueries with GROUP BY, DISTINCT, LIMIT or several columns are
//!   left alone and fail as before.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, GroupByExpr, Query, SelectItem, SetExpr, Statement, VisitMut,
    VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Applies every rewrite to a statement.
pub fn rewrite(mut statement: Statement) -> Statement {
    let _ = statement.visit(&mut ArraySubquery);
    statement
}

struct ArraySubquery;

impl VisitorMut for ArraySubquery {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr {
            let is_array = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("array"));
            if let (true, FunctionArguments::Subquery(q)) = (is_array, &f.args) {
                if let Some(e) = array_agg_subquery(q) {
                    *expr = e;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

fn array_agg_subquery(q: &Query) -> Option<Expr> {
    let SetExpr::Select(select) = q.body.as_ref() else {
        return None;
    };
    let simple_group =
        matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
    if q.limit_clause.is_some()
        || select.distinct.is_some()
        || !simple_group
        || select.projection.len() != 1
    {
        return None;
    }
    let item = match &select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return None,
    };
    let agg = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("array_agg({item})"))
        .and_then(|mut p| p.parse_expr())
        .ok()?;
    let mut out = q.clone();
    out.order_by = None;
    let SetExpr::Select(sel) = out.body.as_mut() else {
        return None;
    };
    sel.projection = vec![SelectItem::UnnamedExpr(agg)];
    Some(Expr::Subquery(Box::new(out)))
}
