//! Rewrites of Postgres syntax DataFusion does not plan, applied after parsing (on top of
//! `datafusion-pg-catalog`'s own rules).
//!
//! - `ARRAY(SELECT x FROM ... WHERE ...)` (an array built from a subquery, as in psql's
//!   `\du`) becomes `(SELECT array_agg(x) FROM ... WHERE ...)`, a scalar aggregate
//!   subquery DataFusion decorrelates. The subquery's ORDER BY is dropped (element order is
//!   then unspecified); subqueries with GROUP BY, DISTINCT, LIMIT or several columns are
//!   left alone and fail as before.
//! - `ARRAY(SELECT e(x) FROM unnest(col) x)` over an outer column (psql's `\d+`) becomes
//!   `array_transform(col, x -> e(x))`: DataFusion cannot decorrelate a table function of
//!   an outer column.
//! - `x [NOT] IN (subquery)` in a select list or ORDER BY (Grafana's table list) becomes
//!   SQL's IN over the subquery's values gathered in an array ([`InSubqueriesOutsideWhere`]);
//!   DataFusion plans `IN (subquery)` only as a filter.
//! - A correlated scalar subquery over catalog tables only (`pg_catalog.*`,
//!   `information_schema.*`) that is not an aggregate, as SQLAlchemy's column reflection
//!   sends (`CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(...) FROM pg_attrdef WHERE
//!   a.atthasdef AND adrelid = a.attrelid ...) END`), is made one DataFusion can
//!   decorrelate: its single column is wrapped in `max(...)` (DataFusion requires an
//!   aggregate; catalog subqueries of this kind select by key, so at most one row matches
//!   and `max` returns it), and WHERE conjuncts that reference only outer relations move
//!   out into `CASE WHEN <conjuncts> THEN (subquery) END` (equivalent, since `max` over no
//!   rows is NULL). Subqueries over user tables keep Postgres semantics and are never
//!   rewritten. A non-aggregate scalar subquery over `pg_sequence` alone becomes `NULL`:
//!   Strata has no sequences, so it returns no row, and DataFusion cannot plan SQLAlchemy's
//!   identity-options subquery (an outer column inside the aggregated expression, under
//!   CASE).
//! - Catalog functions that look things up by OID become subqueries over the catalog
//!   ([`catalog_functions`]): comments, sizes, view definitions.
//! - A number in exponent form (`1e3`, `1.5e-3`) is written out (`1000`, `0.0015`): numeric
//!   literals are decimals, as in PostgreSQL, and a decimal of negative scale (what
//!   DataFusion makes of `1e3`) has no PostgreSQL form.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArguments, GroupByExpr, Ident, ObjectName, OrderByKind, Query,
    Select, SelectItem, SetExpr, Statement, TableFactor, Visit, VisitMut, Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

mod catalog_functions;

/// The rewrites that must run before `datafusion-pg-catalog`'s own rules: correlated
/// scalar subqueries over catalog tables (those rules replace such a subquery in a select
/// list by NULL), and names cast to `regclass` and `regproc` ([`RegCasts`]).
pub(crate) fn before_compatibility_rules(mut statement: Statement) -> Statement {
    let _ = VisitMut::visit(&mut statement, &mut CatalogSubquery);
    let _ = VisitMut::visit(&mut statement, &mut RegCasts);
    let _ = VisitMut::visit(&mut statement, &mut UserColumnNames);
    statement
}

/// `SELECT current_user, user, current_role` name their columns so, as PostgreSQL does:
/// `datafusion-pg-catalog`'s rules turn each into `session_user`, which would name them
/// all `session_user`.
struct UserColumnNames;

impl VisitorMut for UserColumnNames {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        for item in &mut select.projection {
            let SelectItem::UnnamedExpr(expr) = item else {
                continue;
            };
            let name = match expr {
                Expr::Function(f)
                    if matches!(f.args, FunctionArguments::None) && f.name.0.len() == 1 =>
                {
                    f.name.0[0].as_ident().filter(|i| i.quote_style.is_none())
                }
                Expr::Identifier(i) if i.quote_style.is_none() => Some(&*i),
                _ => None,
            }
            .map(|i| i.value.to_lowercase());
            if let Some(name) =
                name.filter(|n| matches!(n.as_str(), "current_user" | "user" | "current_role"))
            {
                *item = SelectItem::ExprWithAlias {
                    expr: expr.clone(),
                    alias: Ident::with_quote('"', name),
                };
            }
        }
        ControlFlow::Continue(())
    }
}

/// - `'pg_class'::regclass` as `'pg_catalog.pg_class'::regclass`: PostgreSQL looks in
///   `pg_catalog` before the search path, so a system catalog's bare name means it
///   (`datafusion-pg-catalog`'s rules look in the current schema only).
/// - `'pg_catalog.array_in'::regproc` as the text `'array_in'`: the `regproc` columns
///   clients compare such a cast with (`pg_type.typinput`, as pgJDBC's type cache does)
///   hold function names in `datafusion-pg-catalog`, not OIDs.
struct RegCasts;

impl VisitorMut for RegCasts {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::{DataType, Value};
        let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
        else {
            return ControlFlow::Continue(());
        };
        let type_name = match data_type {
            DataType::Regclass => Some("regclass".to_owned()),
            DataType::Custom(name, args) if args.is_empty() => name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase()),
            _ => None,
        };
        let Expr::Value(v) = inner.as_mut() else {
            return ControlFlow::Continue(());
        };
        let Value::SingleQuotedString(name) = &mut v.value else {
            return ControlFlow::Continue(());
        };
        match type_name.as_deref() {
            Some("regclass") if crate::pg_catalog::relations::system_oid(name).is_some() => {
                *name = format!("pg_catalog.{name}");
            }
            Some("regproc") => {
                let function = name.strip_prefix("pg_catalog.").unwrap_or(name).to_owned();
                *expr = Expr::Value(Value::SingleQuotedString(function).into());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Applies every rewrite to a statement.
pub fn rewrite(mut statement: Statement) -> Statement {
    let _ = VisitMut::visit(&mut statement, &mut ArraySubquery);
    let _ = VisitMut::visit(&mut statement, &mut CatalogSubquery);
    let _ = VisitMut::visit(&mut statement, &mut catalog_functions::CatalogFunctions);
    let _ = VisitMut::visit(&mut statement, &mut StrataCatalogTables);
    let _ = VisitMut::visit(&mut statement, &mut ExponentLiterals);
    let _ = VisitMut::visit(&mut statement, &mut UuidCasts);
    let _ = VisitMut::visit(&mut statement, &mut IntervalLiterals);
    let _ = VisitMut::visit(&mut statement, &mut LikeEscapes);
    let _ = VisitMut::visit(&mut statement, &mut RegtypeNames);
    let _ = VisitMut::visit(&mut statement, &mut FunctionsInFrom);
    let mut arrays = ArraySets::default();
    let _ = VisitMut::visit(&mut statement, &mut arrays);
    let _ = VisitMut::visit(&mut statement, &mut InSubqueriesOutsideWhere);
    statement
}

/// `x [NOT] IN (subquery)` in a select list or ORDER BY, as Grafana's table list sends
/// (`CASE WHEN quote_ident(table_schema) IN (SELECT ... search_path ...) THEN ...`).
/// DataFusion plans `IN (subquery)` only as a filter; elsewhere it becomes
/// `strata_in_list(x, (SELECT array_agg(v) FROM (subquery) AS s(v)))`, a scalar subquery
/// and SQL's IN with its NULL rules over the gathered values
/// ([`crate::functions::in_list`]). DataFusion plans scalar subqueries in a select list
/// but not in ORDER BY, so a query whose ORDER BY holds one is sorted outside: its ORDER BY
/// expressions (all but output positions) become hidden columns of the select
/// (`_strata_order_N`), and `SELECT * EXCLUDE (_strata_order_1, ...) FROM (<select>) ORDER
/// BY _strata_order_1, ... LIMIT ...` returns the original columns in that order.
struct InSubqueriesOutsideWhere;

impl VisitorMut for InSubqueriesOutsideWhere {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
                let _ = VisitMut::visit(e, &mut InListOfSubquery);
            }
        }
        let ordered_by_subquery = match query.order_by.as_ref().map(|o| &o.kind) {
            Some(OrderByKind::Expressions(list)) => list.iter().any(|o| has_in_subquery(&o.expr)),
            _ => false,
        };
        if ordered_by_subquery && select.distinct.is_none() {
            if let Some(sorted) = sorted_outside(query) {
                *query = sorted;
            }
        }
        ControlFlow::Continue(())
    }
}

/// Replaces each `x [NOT] IN (subquery)` with [`InSubqueriesOutsideWhere`]'s form.
struct InListOfSubquery;

impl VisitorMut for InListOfSubquery {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::InSubquery {
            expr: value,
            subquery,
            negated,
        } = expr
        {
            let not = if *negated { "NOT " } else { "" };
            if let Some(e) = parse_expr(&format!(
                "{not}strata_in_list({value}, (SELECT array_agg(_strata_in._v) FROM ({subquery}) AS _strata_in(_v)))"
            )) {
                *expr = e;
            }
        }
        ControlFlow::Continue(())
    }
}

fn has_in_subquery(e: &Expr) -> bool {
    struct Find;
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::InSubquery { .. } => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    Visit::visit(e, &mut Find).is_break()
}

/// `query` (a SELECT with an ORDER BY) sorted outside, as [`InSubqueriesOutsideWhere`]
/// describes; `None` if the outer query does not parse.
fn sorted_outside(query: &mut Query) -> Option<Query> {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let Some(OrderByKind::Expressions(list)) = query.order_by.as_mut().map(|o| &mut o.kind) else {
        return None;
    };
    let mut hidden = Vec::new();
    for (i, o) in list.iter_mut().enumerate() {
        let positional = matches!(&o.expr, Expr::Value(v) if matches!(v.value, datafusion::sql::sqlparser::ast::Value::Number(..)));
        if positional {
            continue;
        }
        let name = format!("_strata_order_{}", i + 1);
        let mut e = std::mem::replace(&mut o.expr, Expr::Identifier(Ident::new(&name)));
        let _ = VisitMut::visit(&mut e, &mut InListOfSubquery);
        select.projection.push(SelectItem::ExprWithAlias {
            expr: e,
            alias: Ident::new(&name),
        });
        hidden.push(name);
    }
    // `* EXCLUDE` is DuckDB's (and DataFusion's) syntax, not PostgreSQL's.
    let outer_sql = format!(
        "SELECT * EXCLUDE ({}) FROM (SELECT 1) AS _strata_sorted",
        hidden.join(", ")
    );
    let mut outer = match Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::DuckDbDialect {},
        &outer_sql,
    )
    .ok()?
    .pop()?
    {
        Statement::Query(q) => *q,
        _ => return None,
    };
    let SetExpr::Select(outer_select) = outer.body.as_mut() else {
        return None;
    };
    let TableFactor::Derived { subquery, .. } = &mut outer_select.from.first_mut()?.relation else {
        return None;
    };
    outer.order_by = query.order_by.take();
    outer.limit_clause = query.limit_clause.take();
    outer.fetch = query.fetch.take();
    **subquery = query.clone();
    Some(outer)
}

/// Functions in FROM as PostgreSQL reads them (Grafana's search-path query uses both):
/// - a function returning one value (an array: `string_to_array(...) s`) is a one-row
///   table whose column has the alias's name: `(SELECT string_to_array(...) AS s) AS s`;
/// - a set-returning function's column takes the alias's name (`generate_series(1, 3) AS
///   i` has a column `i`; DataFusion calls it `value`).
///
/// Also the bare keywords `user` and `current_role`, which are `current_user` in PostgreSQL.
struct FunctionsInFrom;

/// Functions that return one value, which PostgreSQL allows in FROM.
const SCALAR_FUNCTIONS_IN_FROM: &[&str] = &[
    "string_to_array",
    "regexp_split_to_array",
    "current_schemas",
    "parse_ident",
];

/// Set-returning functions of one column.
const ONE_COLUMN_TABLE_FUNCTIONS: &[&str] = &["generate_series", "unnest", "range"];

impl VisitorMut for FunctionsInFrom {
    type Break = ();

    fn pre_visit_table_factor(&mut self, table: &mut TableFactor) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::TableAliasColumnDef;
        let TableFactor::Table {
            name,
            args: Some(args),
            alias: Some(alias),
            ..
        } = table
        else {
            return ControlFlow::Continue(());
        };
        let Some(function) = name.0.last().and_then(|p| p.as_ident()) else {
            return ControlFlow::Continue(());
        };
        let function = function.value.to_lowercase();
        if ONE_COLUMN_TABLE_FUNCTIONS.contains(&function.as_str()) {
            if alias.columns.is_empty() {
                alias.columns = vec![TableAliasColumnDef::from_name(alias.name.value.clone())];
            }
            return ControlFlow::Continue(());
        }
        if !SCALAR_FUNCTIONS_IN_FROM.contains(&function.as_str()) || !alias.columns.is_empty() {
            return ControlFlow::Continue(());
        }
        let call = format!(
            "{name}({})",
            args.args
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let sql = format!("SELECT * FROM (SELECT {call} AS {0}) AS {0}", alias.name);
        let Ok(Statement::Query(q)) = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_statement())
        else {
            return ControlFlow::Continue(());
        };
        if let SetExpr::Select(select) = *q.body {
            if let Some(from) = select.from.into_iter().next() {
                *table = from.relation;
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // sqlparser reads the keyword as a call without arguments (or, in some places, as
        // an identifier).
        let keyword = |i: &Ident| {
            i.quote_style.is_none()
                && (i.value.eq_ignore_ascii_case("user")
                    || i.value.eq_ignore_ascii_case("current_role"))
        };
        let is_user = match expr {
            Expr::Identifier(i) => keyword(i),
            Expr::Function(f) => {
                matches!(f.args, FunctionArguments::None)
                    && f.name.0.len() == 1
                    && f.name.0[0].as_ident().is_some_and(keyword)
            }
            _ => false,
        };
        if is_user {
            if let Some(call) = parse_expr("session_user") {
                *expr = call;
            }
        }
        ControlFlow::Continue(())
    }
}

/// `oid::regtype::text` (pgcli's column types) as `format_type(oid, NULL)`: a `regtype`
/// prints as its type's name, and Strata's `regtype` is the OID itself.
struct RegtypeNames;

impl VisitorMut for RegtypeNames {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::DataType;
        let Expr::Cast {
            expr: inner,
            data_type: DataType::Text,
            ..
        } = expr
        else {
            return ControlFlow::Continue(());
        };
        let Expr::Cast {
            expr: oid,
            data_type: DataType::Custom(name, args),
            ..
        } = inner.as_ref()
        else {
            return ControlFlow::Continue(());
        };
        let regtype = args.is_empty()
            && name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("regtype"));
        // A quoted name (`'int4'::regtype`) is looked up by `datafusion-pg-catalog`'s rules.
        let name_literal = matches!(
            oid.as_ref(),
            Expr::Value(v) if matches!(v.value, datafusion::sql::sqlparser::ast::Value::SingleQuotedString(_))
        );
        if regtype && !name_literal {
            if let Some(call) = parse_expr(&format!("format_type({oid}, NULL)")) {
                *expr = call;
            }
        }
        ControlFlow::Continue(())
    }
}

/// `x [NOT] [I]LIKE p ESCAPE 'c'` with an escape other than backslash as
/// `x LIKE strata_like_pattern(p, 'c')`: DataFusion's LIKE takes backslash escapes only.
struct LikeEscapes;

impl VisitorMut for LikeEscapes {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::{Value, ValueWithSpan};
        let (Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        }) = expr
        else {
            return ControlFlow::Continue(());
        };
        let escape = match escape_char {
            Some(ValueWithSpan {
                value: Value::SingleQuotedString(e),
                ..
            }) if e != "\\" => e.clone(),
            _ => return ControlFlow::Continue(()),
        };
        let Some(rewritten) = parse_expr(&format!(
            "strata_like_pattern({pattern}, '{}')",
            escape.replace('\'', "''")
        )) else {
            return ControlFlow::Continue(());
        };
        **pattern = rewritten;
        *escape_char = None;
        ControlFlow::Continue(())
    }
}

/// PostgreSQL's set-returning functions over arrays that catalog queries use, as
/// DataFusion's `unnest` (several `unnest`s in one select list run in step, as
/// PostgreSQL's set-returning functions do):
/// - `generate_subscripts(a, 1)` (SQLAlchemy's key and index reflection) as
///   `unnest(range(1, cardinality(a) + 1))`;
/// - `(information_schema._pg_expandarray(a)).x` as `unnest(a)` and `.n` as the subscripts
///   (pgJDBC's keys and indexes); `information_schema._pg_expandarray(a) AS k` as
///   `unnest(a) AS k`, and then `(t.k).x` as `t.k` (the `n` of such a column is not kept).
#[derive(Default)]
struct ArraySets {
    /// Select-list aliases of bare `_pg_expandarray(...)` calls.
    expanded: Vec<String>,
}

impl ArraySets {
    fn subscripts(array: &Expr) -> Option<Expr> {
        parse_expr(&format!(
            "CAST(unnest(range(1, CAST(cardinality({array}) AS BIGINT) + 1)) AS INTEGER)"
        ))
    }

    /// The (first) argument of a call to `name` (its last part) with one or two arguments
    /// (the second of `generate_subscripts(a, dim)` is the dimension; catalog arrays have
    /// one).
    fn call_of<'a>(e: &'a Expr, name: &str) -> Option<&'a Expr> {
        let Expr::Function(f) = e else {
            return None;
        };
        let last = f.name.0.last()?.as_ident()?;
        if !last.value.eq_ignore_ascii_case(name) {
            return None;
        }
        match positional_args(f)?.as_slice() {
            [a] => Some(*a),
            [a, _dimension] => Some(*a),
            _ => None,
        }
    }
}

impl VisitorMut for ArraySets {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_ref() {
            for item in &select.projection {
                if let SelectItem::ExprWithAlias { expr, alias } = item {
                    if Self::call_of(expr, "_pg_expandarray").is_some() {
                        self.expanded.push(alias.value.to_lowercase());
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::AccessExpr;
        let Expr::CompoundFieldAccess { root, access_chain } = expr else {
            return ControlFlow::Continue(());
        };
        let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() else {
            return ControlFlow::Continue(());
        };
        let field = field.value.to_lowercase();
        let inner = match root.as_ref() {
            Expr::Nested(inner) => inner.as_ref(),
            other => other,
        };
        let replacement = if let Some(array) = Self::call_of(inner, "_pg_expandarray") {
            match field.as_str() {
                "x" => parse_expr(&format!("unnest({array})")),
                "n" => Self::subscripts(array),
                _ => None,
            }
        } else {
            let alias = match inner {
                Expr::Identifier(i) => Some(&i.value),
                Expr::CompoundIdentifier(parts) => parts.last().map(|i| &i.value),
                _ => None,
            };
            alias
                .filter(|a| field == "x" && self.expanded.contains(&a.to_lowercase()))
                .map(|_| inner.clone())
        };
        if let Some(r) = replacement {
            *expr = r;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let replacement = if let Some(array) = Self::call_of(expr, "generate_subscripts") {
            Self::subscripts(array)
        } else {
            Self::call_of(expr, "_pg_expandarray").and_then(|a| parse_expr(&format!("unnest({a})")))
        };
        if let Some(r) = replacement {
            *expr = r;
        }
        ControlFlow::Continue(())
    }
}

/// `interval '...'` that DataFusion's interval parser refuses (PostgreSQL's `'1 day 02:00'`,
/// `'@ 2 hours ago'`, `'P1DT2H'`) as `CAST('...' AS interval)`, which `pgvalue` reads as
/// PostgreSQL does. Literals DataFusion reads stay literals.
struct IntervalLiterals;

impl VisitorMut for IntervalLiterals {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        use arrow::compute::kernels::cast_utils::IntervalParseConfig;
        use datafusion::sql::sqlparser::ast::{CastKind, DataType, Value};
        let Expr::Interval(iv) = expr else {
            return ControlFlow::Continue(());
        };
        if iv.leading_field.is_some() || iv.last_field.is_some() {
            return ControlFlow::Continue(());
        }
        let Expr::Value(v) = iv.value.as_ref() else {
            return ControlFlow::Continue(());
        };
        let Value::SingleQuotedString(text) = &v.value else {
            return ControlFlow::Continue(());
        };
        let config =
            IntervalParseConfig::new(arrow::compute::kernels::cast_utils::IntervalUnit::Second);
        let datafusion_reads =
            arrow::compute::kernels::cast_utils::parse_interval_month_day_nano_config(text, config)
                .is_ok();
        // Text neither reads fails in `pgvalue` with PostgreSQL's error (22007).
        if datafusion_reads {
            return ControlFlow::Continue(());
        }
        *expr = Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(Expr::Value(v.clone())),
            data_type: DataType::Interval {
                fields: None,
                precision: None,
            },
            array: false,
            format: None,
        };
        ControlFlow::Continue(())
    }
}

/// `x::uuid`, `CAST(x AS uuid)` and `uuid '...'` as `strata_uuid_in(x)`: DataFusion has no
/// `uuid` type; Strata's is checked text (see `types.rs`).
struct UuidCasts;

impl VisitorMut for UuidCasts {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::DataType;
        let inner = match expr {
            Expr::Cast {
                expr: inner,
                data_type: DataType::Uuid,
                ..
            } => inner.as_ref().clone(),
            Expr::TypedString(t) if t.data_type == DataType::Uuid => Expr::Value(t.value.clone()),
            _ => return ControlFlow::Continue(()),
        };
        if let Some(call) = parse_expr(&format!("strata_uuid_in({inner})")) {
            *expr = call;
        }
        ControlFlow::Continue(())
    }
}

/// Numbers in exponent form written out as plain decimals.
struct ExponentLiterals;

impl VisitorMut for ExponentLiterals {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::Value;
        if let Expr::Value(v) = expr {
            if let Value::Number(n, _) = &mut v.value {
                if let Some(plain) = plain_decimal(n) {
                    *n = plain;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// `1.5e-3` as `0.0015`, `1e3` as `1000`; `None` for a number without an exponent or one
/// too long to write out (more than 1000 digits).
fn plain_decimal(n: &str) -> Option<String> {
    let (mantissa, exp) = n.split_once(['e', 'E'])?;
    let exp: i64 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    if !digits.bytes().all(|b| b.is_ascii_digit()) || exp.abs() > 1000 {
        return None;
    }
    // The decimal point's place in `digits`.
    let point = int.len() as i64 + exp;
    let (whole, fraction) = if point <= 0 {
        (
            "0".to_owned(),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_owned(),
            digits[point as usize..].to_owned(),
        )
    };
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    Some(if fraction.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{fraction}")
    })
}

/// `pg_catalog` tables Strata adds, which `datafusion-pg-catalog` does not know to qualify:
/// `pg_indexes` means `pg_catalog.pg_indexes` (and `pg_user` `pg_catalog.pg_user`), as
/// `pg_catalog` is searched first.
struct StrataCatalogTables;

impl VisitorMut for StrataCatalogTables {
    type Break = ();

    fn pre_visit_table_factor(&mut self, table: &mut TableFactor) -> ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::ObjectNamePart;
        if let TableFactor::Table { name, .. } = table {
            let bare = matches!(name.0.as_slice(), [ObjectNamePart::Identifier(i)]
                if i.quote_style.is_none()
                    && ["pg_indexes", "pg_user"].iter().any(|t| i.value.eq_ignore_ascii_case(t)));
            if bare {
                name.0
                    .insert(0, ObjectNamePart::Identifier(Ident::new("pg_catalog")));
            }
        }
        ControlFlow::Continue(())
    }
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
                if let Some(e) = transform_of_unnest(q).or_else(|| array_agg_subquery(q)) {
                    *expr = e;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// `ARRAY(SELECT e(x) FROM unnest(a) [AS] x)` (or `AS t(x)`) of a column `a` (an outer
/// one: nothing else is in the subquery), as psql's `\d+` sends (`array(select 'toast.' || x
/// from pg_catalog.unnest(tc.reloptions) x)`): DataFusion cannot decorrelate a table
/// function of an outer column, so it becomes `array_transform(a, x -> e(x))`, an empty
/// array for an empty `a` and NULL for a NULL one (PostgreSQL gives an empty array there).
fn transform_of_unnest(q: &Query) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::{
        FunctionArg, FunctionArgExpr, LambdaFunction, LambdaFunctionParameter, LambdaSyntax,
        OneOrManyWithParens,
    };
    let (select, item, _) = single_column_select(q)?;
    if q.order_by.is_some()
        || select.selection.is_some()
        || select.having.is_some()
        || select.from.len() != 1
        || !select.from[0].joins.is_empty()
    {
        return None;
    }
    let unnest_name = |name: &ObjectName| {
        name.0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case("unnest"))
    };
    let (array, alias) = match &select.from[0].relation {
        TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_ordinality: false,
            ..
        } if array_exprs.len() == 1 => (&array_exprs[0], alias.as_ref()?),
        TableFactor::Table {
            name,
            args: Some(args),
            alias,
            with_ordinality: false,
            ..
        } if unnest_name(name) => match args.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] => (array, alias.as_ref()?),
            _ => return None,
        },
        _ => return None,
    };
    // Only an outer column: an array written in the subquery needs no decorrelation, and
    // the array_agg form keeps its literals' types.
    if !matches!(array, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
        return None;
    }
    let param = match alias.columns.as_slice() {
        [] => alias.name.clone(),
        [c] => c.name.clone(),
        _ => return None,
    };
    let mut call = parse_expr(&format!("array_transform({array}, NULL)"))?;
    let Expr::Function(f) = &mut call else {
        return None;
    };
    let FunctionArguments::List(list) = &mut f.args else {
        return None;
    };
    list.args[1] = FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Lambda(LambdaFunction {
        params: OneOrManyWithParens::One(LambdaFunctionParameter {
            name: param,
            data_type: None,
        }),
        body: Box::new(item.clone()),
        syntax: LambdaSyntax::Arrow,
    })));
    Some(call)
}

/// The SELECT of `q` and its one column (with its alias) if `q` is a plain one-column
/// SELECT: no GROUP BY, DISTINCT or LIMIT. Both rewrites apply only to those.
fn single_column_select(q: &Query) -> Option<(&Select, &Expr, Option<&Ident>)> {
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
    match &select.projection[0] {
        SelectItem::UnnamedExpr(e) => Some((select, e, None)),
        SelectItem::ExprWithAlias { expr, alias } => Some((select, expr, Some(alias))),
        _ => None,
    }
}

fn array_agg_subquery(q: &Query) -> Option<Expr> {
    let (_, item, _) = single_column_select(q)?;
    let agg = parse_expr(&format!("array_agg({item})"))?;
    let mut out = q.clone();
    out.order_by = None;
    let SetExpr::Select(sel) = out.body.as_mut() else {
        return None;
    };
    sel.projection = vec![SelectItem::UnnamedExpr(agg)];
    Some(Expr::Subquery(Box::new(out)))
}

struct CatalogSubquery;

impl VisitorMut for CatalogSubquery {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Subquery(q) = expr {
            if let Some(e) = aggregated_catalog_subquery(q) {
                *expr = e;
            }
        }
        ControlFlow::Continue(())
    }
}

/// Catalog tables that are always empty in Strata (it has no sequences).
const ALWAYS_EMPTY: &[&str] = &["pg_sequence"];

/// Aggregate functions: a subquery selecting one of these already returns one row.
const AGGREGATES: &[&str] = &[
    "max",
    "min",
    "count",
    "sum",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "json_agg",
    "first_value",
    "last_value",
];

fn aggregated_catalog_subquery(q: &Query) -> Option<Expr> {
    let (select, item, alias) = single_column_select(q)?;
    if select.having.is_some() {
        return None;
    }
    if is_aggregate(item) {
        return None;
    }
    let relations = catalog_relations(select)?;
    if relations.iter().all(|r| {
        r.name
            .last()
            .is_some_and(|n| ALWAYS_EMPTY.contains(&n.as_str()))
    }) {
        return Some(Expr::value(datafusion::sql::sqlparser::ast::Value::Null));
    }
    let mut inner = Vec::new();
    let mut outer = Vec::new();
    if let Some(w) = &select.selection {
        for c in conjuncts(w) {
            if references_only_outer(c, &relations) {
                outer.push(c.to_string());
            } else {
                inner.push(c.clone());
            }
        }
    }
    let mut out = q.clone();
    out.order_by = None;
    let SetExpr::Select(sel) = out.body.as_mut() else {
        return None;
    };
    let agg = parse_expr(&format!("max({item})"))?;
    sel.projection = vec![match alias {
        Some(a) => SelectItem::ExprWithAlias {
            expr: agg,
            alias: a.clone(),
        },
        None => SelectItem::UnnamedExpr(agg),
    }];
    sel.selection = inner.into_iter().reduce(|l, r| Expr::BinaryOp {
        left: Box::new(l),
        op: BinaryOperator::And,
        right: Box::new(r),
    });
    let sub = Expr::Subquery(Box::new(out));
    if outer.is_empty() {
        return Some(sub);
    }
    parse_expr(&format!("CASE WHEN {} THEN {sub} END", outer.join(" AND ")))
}

/// The arguments of a call that passes each by position, or `None` for any other call.
pub(crate) fn positional_args(f: &datafusion::sql::sqlparser::ast::Function) -> Option<Vec<&Expr>> {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr};
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .ok()
}

fn is_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Nested(e) | Expr::Cast { expr: e, .. } => is_aggregate(e),
        Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| AGGREGATES.iter().any(|a| i.value.eq_ignore_ascii_case(a))),
        _ => false,
    }
}

/// A relation of the subquery's FROM: its qualified name and alias, lower-cased.
struct Relation {
    name: Vec<String>,
    alias: Option<String>,
}

impl Relation {
    /// Whether `qualifier` (the parts of a column reference before the column) names it.
    fn named_by(&self, qualifier: &[String]) -> bool {
        match qualifier {
            [] => true,
            [one] => self.alias.as_deref() == Some(one) || self.name.last() == Some(one),
            q => {
                self.alias.is_none()
                    && (q.ends_with(self.name.as_slice()) || self.name.ends_with(q))
            }
        }
    }
}

/// The FROM relations if all are catalog tables, else `None`.
fn catalog_relations(select: &Select) -> Option<Vec<Relation>> {
    let mut out = Vec::new();
    for twj in &select.from {
        for factor in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
            let TableFactor::Table { name, alias, .. } = factor else {
                return None;
            };
            let name = lower_parts(name)?;
            let catalog = match name.as_slice() {
                [schema, _] => schema == "pg_catalog" || schema == "information_schema",
                [table] => table.starts_with("pg_"),
                _ => false,
            };
            if !catalog {
                return None;
            }
            out.push(Relation {
                name,
                alias: alias.as_ref().map(|a| a.name.value.to_lowercase()),
            });
        }
    }
    (!out.is_empty()).then_some(out)
}

fn lower_parts(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|p| p.as_ident().map(|i| i.value.to_lowercase()))
        .collect()
}

fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut v = conjuncts(left);
            v.extend(conjuncts(right));
            v
        }
        Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(inner)
        }
        other => vec![other],
    }
}

/// True if `e` references columns, all of them qualified by a relation that is not one of
/// the subquery's own, and holds no subquery (whose names would need their own scopes).
fn references_only_outer(e: &Expr, relations: &[Relation]) -> bool {
    struct Refs<'a> {
        relations: &'a [Relation],
        columns: usize,
        inner_or_unknown: bool,
    }
    impl Visitor for Refs<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Identifier(_) => {
                    self.columns += 1;
                    self.inner_or_unknown = true;
                }
                Expr::CompoundIdentifier(parts) => {
                    self.columns += 1;
                    let q: Vec<String> = parts[..parts.len() - 1]
                        .iter()
                        .map(|i: &Ident| i.value.to_lowercase())
                        .collect();
                    if self.relations.iter().any(|r| r.named_by(&q)) {
                        self.inner_or_unknown = true;
                    }
                }
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    self.inner_or_unknown = true;
                }
                _ => {}
            }
            if self.inner_or_unknown {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    let mut refs = Refs {
        relations,
        columns: 0,
        inner_or_unknown: false,
    };
    let _ = Visit::visit(e, &mut refs);
    refs.columns > 0 && !refs.inner_or_unknown
}

/// The tokens of a query string that starts with the word `first` (any case), with the
/// indices of those that are not whitespace; `None` for any other text (not tokenized).
/// The text rewrites below re-emit the tokens, so quoting is kept.
fn statement_tokens(
    sql: &str,
    first: &str,
) -> Option<(
    Vec<datafusion::sql::sqlparser::tokenizer::Token>,
    Vec<usize>,
)> {
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let starts = sql
        .trim_start()
        .get(..first.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(first));
    if !starts {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let solid = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    Some((tokens, solid))
}

/// `CREATE TABLE t (a, b) [WITH (...)] AS query`, whose column list the SQL parser does not
/// take, becomes `CREATE TABLE t [WITH (...)] AS SELECT * FROM (query) AS strata_ctas(a, b)`
/// before parsing: the query's columns renamed, as PostgreSQL does. Only a query string
/// that is that one statement is touched.
pub fn ctas_column_list(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::Token;
    let (tokens, solid) = statement_tokens(sql, "create")?;
    let is_kw = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    let at = |k: usize| solid.get(k).map(|&i| &tokens[i]);
    // CREATE [OR REPLACE] TABLE [IF NOT EXISTS] name[.name] (
    let mut k = 1;
    if at(k).is_some_and(|t| is_kw(t, Keyword::OR)) {
        k += 2;
    }
    if !at(k).is_some_and(|t| is_kw(t, Keyword::TABLE)) {
        return None;
    }
    k += 1;
    if at(k).is_some_and(|t| is_kw(t, Keyword::IF)) {
        k += 3;
    }
    if !matches!(at(k), Some(Token::Word(_))) {
        return None;
    }
    k += 1;
    while at(k) == Some(&Token::Period) && matches!(at(k + 1), Some(Token::Word(_))) {
        k += 2;
    }
    if at(k) != Some(&Token::LParen) {
        return None;
    }
    let open = k;
    let mut names = Vec::new();
    k += 1;
    loop {
        match at(k)? {
            Token::Word(w) => names.push(w.to_string()),
            _ => return None,
        }
        k += 1;
        match at(k)? {
            Token::Comma => k += 1,
            Token::RParen => break,
            _ => return None,
        }
    }
    let close = k;
    k += 1;
    // [WITH ( ... )] AS
    if at(k).is_some_and(|t| is_kw(t, Keyword::WITH)) && at(k + 1) == Some(&Token::LParen) {
        let mut depth = 0;
        k += 1;
        loop {
            match at(k)? {
                Token::LParen => depth += 1,
                Token::RParen => depth -= 1,
                _ => {}
            }
            k += 1;
            if depth == 0 {
                break;
            }
        }
    }
    if !at(k).is_some_and(|t| is_kw(t, Keyword::AS)) {
        return None;
    }
    let as_at = k;
    // One statement: a semicolon only at the end.
    let mut end = tokens.len();
    while end > 0 && matches!(tokens[end - 1], Token::Whitespace(_) | Token::SemiColon) {
        end -= 1;
    }
    if tokens[..end].contains(&Token::SemiColon) {
        return None;
    }
    let text = |range: std::ops::Range<usize>| -> String {
        tokens[range].iter().map(ToString::to_string).collect()
    };
    Some(format!(
        "{}{} SELECT * FROM ({}) AS strata_ctas({})",
        text(0..solid[open]),
        text(solid[close] + 1..solid[as_at] + 1),
        text(solid[as_at] + 1..end),
        names.join(", ")
    ))
}

/// `ALTER TABLE t RESET (a, b)`, PostgreSQL's way to reset storage parameters, which the SQL
/// parser does not know, becomes `ALTER TABLE t SET (a = DEFAULT, b = DEFAULT)` before
/// parsing (`crate::ddl` reads `DEFAULT` as "reset"). Only a query string that is a single
/// `ALTER TABLE` is touched; quoting is kept because the text is re-emitted token by token.
pub fn alter_table_reset(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::keywords::Keyword;
    use datafusion::sql::sqlparser::tokenizer::Token;
    let (tokens, solid) = statement_tokens(sql, "alter")?;
    let is_kw = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k);
    if solid.len() < 2
        || !is_kw(&tokens[solid[0]], Keyword::ALTER)
        || !is_kw(&tokens[solid[1]], Keyword::TABLE)
    {
        return None;
    }
    let reset = solid
        .windows(2)
        .find(|w| is_kw(&tokens[w[0]], Keyword::RESET) && tokens[w[1]] == Token::LParen)?;
    let (at, open) = (reset[0], reset[1]);
    let close = (open..tokens.len()).find(|&i| tokens[i] == Token::RParen)?;
    let mut names = Vec::new();
    for t in &tokens[open + 1..close] {
        match t {
            Token::Word(w) => names.push(w.to_string()),
            Token::Comma | Token::Whitespace(_) => {}
            _ => return None,
        }
    }
    if names.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(sql.len() + 16 * names.len());
    for t in &tokens[..at] {
        out.push_str(&t.to_string());
    }
    out.push_str("SET (");
    out.push_str(
        &names
            .iter()
            .map(|n| format!("{n} = DEFAULT"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push(')');
    for t in &tokens[close + 1..] {
        out.push_str(&t.to_string());
    }
    Some(out)
}

/// `ERASE SUBJECT <'value' | $n> [FROM t1, t2]` (Strata's statement, which the SQL parser
/// does not know) as `CALL strata.erase_subject(<value>[, 't1', 't2'])`; `None` for any
/// other text.
pub fn erase_subject(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::tokenizer::Token;
    let (tokens, solid) = statement_tokens(sql, "erase")?;
    let solid: Vec<&Token> = solid.iter().map(|&i| &tokens[i]).collect();
    let word = |t: &Token, w: &str| matches!(t, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    let [erase, subject, value, rest @ ..] = solid.as_slice() else {
        return None;
    };
    if !word(erase, "erase") || !word(subject, "subject") {
        return None;
    }
    let value = match value {
        Token::SingleQuotedString(v) => format!("'{}'", v.replace('\'', "''")),
        Token::Placeholder(p) => p.clone(),
        _ => return None,
    };
    let mut rest: &[&Token] = rest;
    if let [body @ .., Token::SemiColon] = rest {
        rest = body;
    }
    let mut args = vec![value];
    if let [from, tables @ ..] = rest {
        if !word(from, "from") || tables.is_empty() {
            return None;
        }
        for (i, t) in tables.iter().enumerate() {
            match (i % 2, t) {
                (0, Token::Word(w)) => {
                    let name = if w.quote_style.is_some() {
                        w.value.clone()
                    } else {
                        w.value.to_lowercase()
                    };
                    args.push(format!("'{}'", name.replace('\'', "''")));
                }
                (1, Token::Comma) => {}
                _ => return None,
            }
        }
        if tables.len() % 2 == 0 {
            return None; // a trailing comma
        }
    }
    Some(format!("CALL strata.erase_subject({})", args.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let stmt = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statement())
            .expect("parses");
        rewrite(stmt).to_string()
    }

    #[test]
    fn ctas_column_lists_rename_the_query_columns() {
        assert_eq!(
            ctas_column_list("CREATE TABLE t (a, \"B\") AS SELECT 1, 2;").as_deref(),
            Some("CREATE TABLE t  AS SELECT * FROM ( SELECT 1, 2) AS strata_ctas(a, \"B\")")
        );
        assert_eq!(
            ctas_column_list("create table if not exists s.t (x) with (tags = 'x') as select 'h'")
                .as_deref(),
            Some("create table if not exists s.t  with (tags = 'x') as SELECT * FROM ( select 'h') AS strata_ctas(x)")
        );
        for untouched in [
            "CREATE TABLE t (a int) AS SELECT 1",
            "CREATE TABLE t AS SELECT 1",
            "CREATE TABLE t (a int, b text)",
            "CREATE TABLE t (a) AS SELECT 1; SELECT 2",
            "SELECT 1",
        ] {
            assert_eq!(ctas_column_list(untouched), None, "{untouched}");
        }
    }

    #[test]
    fn functions_in_from_are_tables_postgresql_style() {
        assert_eq!(
            rewritten("SELECT s[i] FROM generate_series(1, 2) AS i, string_to_array('a,b', ',') s"),
            "SELECT s[i] FROM generate_series(1, 2) AS i (i), (SELECT string_to_array('a,b', ',') AS s) AS s"
        );
        assert_eq!(rewritten("SELECT user"), "SELECT session_user");
        assert_eq!(
            rewritten("SELECT current_role = user"),
            "SELECT session_user = session_user"
        );
        assert_eq!(
            rewritten("SELECT \"user\" FROM t"),
            "SELECT \"user\" FROM t"
        );
    }

    #[test]
    fn regtype_text_is_the_type_name() {
        assert_eq!(
            rewritten("SELECT att.atttypid::regtype::text FROM pg_attribute att"),
            "SELECT format_type(att.atttypid, NULL) FROM pg_attribute att"
        );
    }

    #[test]
    fn like_escapes_other_than_backslash_are_rewritten() {
        assert_eq!(
            rewritten("SELECT 1 WHERE n NOT LIKE 'pg/_' || '%' ESCAPE '/'"),
            "SELECT 1 WHERE n NOT LIKE strata_like_pattern('pg/_' || '%', '/')"
        );
        assert_eq!(
            rewritten("SELECT 1 WHERE n LIKE 'a\\_' ESCAPE '\\'"),
            "SELECT 1 WHERE n LIKE 'a\\_' ESCAPE '\\'"
        );
    }

    #[test]
    fn array_set_functions_become_unnest() {
        assert_eq!(
            rewritten("SELECT unnest(i.indkey) AS a, generate_subscripts(i.indkey, 1) AS o FROM pg_index i"),
            "SELECT unnest(i.indkey) AS a, CAST(unnest(range(1, CAST(cardinality(i.indkey) AS BIGINT) + 1)) AS INTEGER) AS o FROM pg_index i"
        );
        assert_eq!(
            rewritten(
                "SELECT r.c FROM (SELECT (information_schema._pg_expandarray(i.indkey)).n AS seq, \
                 information_schema._pg_expandarray(i.indkey) AS keys, a.attnum AS c FROM pg_index i, pg_attribute a) r \
                 WHERE r.c = (r.keys).x"
            ),
            "SELECT r.c FROM (SELECT CAST(unnest(range(1, CAST(cardinality(i.indkey) AS BIGINT) + 1)) AS INTEGER) AS seq, \
             unnest(i.indkey) AS keys, a.attnum AS c FROM pg_index i, pg_attribute a) r WHERE r.c = r.keys"
        );
        // Another column's field access is left alone.
        assert_eq!(rewritten("SELECT (t.s).x FROM t"), "SELECT (t.s).x FROM t");
    }

    #[test]
    fn exponent_numbers_are_written_out() {
        for (n, plain) in [
            ("1e3", "1000"),
            ("1.5e-3", "0.0015"),
            ("12.5E1", "125"),
            ("12.5e0", "12.5"),
            ("0.5e-1", "0.05"),
            ("1e-1", "0.1"),
        ] {
            assert_eq!(plain_decimal(n).as_deref(), Some(plain), "{n}");
        }
        assert_eq!(plain_decimal("1.5"), None);
        assert_eq!(rewritten("SELECT 1e3, 2"), "SELECT 1000, 2");
    }

    #[test]
    fn catalog_subquery_is_aggregated_and_outer_conjuncts_hoisted() {
        let out = rewritten(
            "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid) AS x \
             FROM pg_catalog.pg_attrdef d WHERE a.atthasdef AND d.adrelid = a.attrelid) END \
             FROM pg_catalog.pg_attribute a",
        );
        assert!(
            out.contains("max(pg_get_expr(d.adbin, d.adrelid)) AS x"),
            "{out}"
        );
        assert!(
            out.contains("CASE WHEN a.atthasdef THEN (SELECT max("),
            "{out}"
        );
        assert!(out.contains("WHERE d.adrelid = a.attrelid)"), "{out}");
    }

    #[test]
    fn erase_subject_becomes_a_call() {
        assert_eq!(
            erase_subject("erase subject 'u''1'").as_deref(),
            Some("CALL strata.erase_subject('u''1')")
        );
        assert_eq!(
            erase_subject(" ERASE SUBJECT $1 FROM Events, \"My T\";").as_deref(),
            Some("CALL strata.erase_subject($1, 'events', 'My T')")
        );
        assert_eq!(erase_subject("ERASE SUBJECT 'a' FROM"), None);
        assert_eq!(erase_subject("ERASE SUBJECT 'a' FROM t,"), None);
        assert_eq!(erase_subject("ERASE SUBJECT u1"), None);
        assert_eq!(erase_subject("SELECT 1"), None);
    }

    #[test]
    fn fully_qualified_inner_columns_stay_inner() {
        let out = rewritten(
            "SELECT (SELECT pg_catalog.pg_type.typname FROM pg_catalog.pg_type \
             WHERE pg_catalog.pg_type.oid = pg_catalog.pg_attribute.atttypid) \
             FROM pg_catalog.pg_attribute",
        );
        assert!(
            out.contains("SELECT max(pg_catalog.pg_type.typname)"),
            "{out}"
        );
        assert!(
            out.contains("WHERE pg_catalog.pg_type.oid = pg_catalog.pg_attribute.atttypid"),
            "{out}"
        );
        assert!(!out.contains("CASE"), "{out}");
    }

    #[test]
    fn subqueries_over_sequences_are_null() {
        let out = rewritten(
            "SELECT CASE WHEN a.attidentity != '' THEN (SELECT json_build_object('always', \
             a.attidentity = 'a') FROM pg_catalog.pg_sequence WHERE seqrelid = a.attrelid) END \
             FROM pg_catalog.pg_attribute a",
        );
        assert!(out.contains("THEN NULL END"), "{out}");
    }

    #[test]
    fn user_table_subqueries_and_aggregates_are_untouched() {
        for sql in [
            "SELECT (SELECT v FROM t WHERE t.k = o.k) FROM o",
            "SELECT (SELECT max(typname) FROM pg_catalog.pg_type) FROM o",
            "SELECT (SELECT typname FROM pg_catalog.pg_type JOIN t ON true) FROM o",
        ] {
            let before = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(sql)
                .and_then(|mut p| p.parse_statement())
                .expect("parses")
                .to_string();
            assert_eq!(rewritten(sql), before);
        }
    }

    #[test]
    fn alter_table_reset_becomes_set_default() {
        assert_eq!(
            super::alter_table_reset("ALTER TABLE \"My T\" RESET (cold_after, x)").as_deref(),
            Some("ALTER TABLE \"My T\" SET (cold_after = DEFAULT, x = DEFAULT)")
        );
        assert_eq!(
            super::alter_table_reset("alter table t reset (a);").as_deref(),
            Some("alter table t SET (a = DEFAULT);")
        );
        assert_eq!(
            super::alter_table_reset("ALTER TABLE t ADD COLUMN reset text"),
            None
        );
        assert_eq!(super::alter_table_reset("SELECT 1"), None);
        assert_eq!(super::alter_table_reset("ALTER TABLE t RESET ('a')"), None);
    }
}
