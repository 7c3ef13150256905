//! Why a statement failed to plan, decided from the statement and the catalog.
//!
//! DataFusion reports most mistakes in a statement as a planning error whose only content is
//! its message. Rather than guess a SQLSTATE from that text, [`explain`] looks for the cause
//! the way PostgreSQL's analyzer would meet it, in PostgreSQL's order:
//! 1. a relation in `FROM` that is not in the catalog (42P01), or a function in `FROM` that
//!    is not a table function (42883);
//! 2. a function name no scalar, aggregate or window function has (42883);
//! 3. an `INSERT` row with more values than target columns (42601);
//! 4. in a `SELECT`, the innermost function or operator whose arguments plan but which does
//!    not take their types (42883, naming the types as PostgreSQL does);
//! 5. in a grouped `SELECT`, a column outside every aggregate and not grouped (42803).
//!
//! It runs only after DataFusion has refused the statement, so it never rejects what would
//! plan; a failure it cannot explain keeps the class of DataFusion's error kind (see
//! [`crate::error`]).

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::common::{DFSchema, ResolvedTableReference, TableReference};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::ExprSchemable;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, ObjectName, Query,
    Select, SelectItem, SetExpr, Spanned, Statement, TableFactor, TableObject, Visit, Visitor,
    WildcardAdditionalOptions,
};
use datafusion::sql::sqlparser::tokenizer::{Location, Span};

use crate::error::QueryError;
use crate::information_schema::PgColumnType;

/// The error a statement that DataFusion refused to plan gets.
pub(crate) async fn explain(
    state: &SessionState,
    statement: &Statement,
    error: DataFusionError,
) -> QueryError {
    let error = QueryError::from(error);
    if !unexplained(&error) {
        return error;
    }
    if let Some(e) = missing_relation(state, statement) {
        return e;
    }
    if let Some(e) = missing_function(state, statement) {
        return e;
    }
    match statement {
        Statement::Insert(insert) => insert_arity(state, insert).await.unwrap_or(error),
        Statement::Query(query) => select_failure(state, query).await.unwrap_or(error),
        _ => error,
    }
}

/// Errors that only say "this did not plan": DataFusion's own planning, internal and
/// execution errors. Everything else (ours, the storage engine's, DataFusion's typed
/// errors such as a missing column) already says what went wrong.
fn unexplained(e: &QueryError) -> bool {
    matches!(
        e.unplaced(),
        QueryError::DataFusion(d) if matches!(
            d.as_ref(),
            DataFusionError::Plan(_) | DataFusionError::Internal(_) | DataFusionError::Execution(_)
        )
    )
}

fn start(span: Span) -> Location {
    span.start
}

/// A relation the statement reads that the catalog does not have, or a function in `FROM`
/// that is not a table function.
fn missing_relation(state: &SessionState, statement: &Statement) -> Option<QueryError> {
    let references = state
        .resolve_table_references(&DfStatement::Statement(Box::new(statement.clone())))
        .ok()?;
    let from_functions = FromFunctions::of(statement);
    for reference in references {
        let name = from_functions
            .0
            .iter()
            .find(|n| same_relation(n, &reference));
        if let Some(name) = name {
            let function = name.to_string();
            if !state
                .table_functions()
                .contains_key(&function.to_lowercase())
            {
                let error = QueryError::UndefinedFunction(function);
                return Some(error.at(start(name.span())));
            }
            continue;
        }
        if !relation_exists(state, &resolved(state, &reference)) {
            let error = QueryError::UndefinedTable(reference.to_string());
            return Some(match relation_place(statement, &reference) {
                Some(location) => error.at(location),
                None => error,
            });
        }
    }
    None
}

fn resolved(state: &SessionState, r: &TableReference) -> ResolvedTableReference {
    let catalog = &state.config_options().catalog;
    r.clone()
        .resolve(&catalog.default_catalog, &catalog.default_schema)
}

/// The table (or view) `name` names, as DataFusion would resolve it; `None` if there is none.
pub(crate) async fn table_named(
    state: &SessionState,
    name: &ObjectName,
) -> datafusion::error::Result<Option<std::sync::Arc<dyn datafusion::catalog::TableProvider>>> {
    let r = resolved(state, &TableReference::from(name.to_string().as_str()));
    let full = TableReference::full(r.catalog.clone(), r.schema.clone(), r.table.clone());
    state.schema_for_ref(full)?.table(&r.table).await
}

fn relation_exists(state: &SessionState, r: &ResolvedTableReference) -> bool {
    let full = TableReference::full(r.catalog.clone(), r.schema.clone(), r.table.clone());
    state
        .schema_for_ref(full)
        .is_ok_and(|schema| schema.table_exist(&r.table))
}

/// Whether `name` as written is the relation DataFusion resolved as `reference`.
fn same_relation(name: &ObjectName, reference: &TableReference) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(normalize)
        .collect();
    let wanted: Vec<&str> = match reference {
        TableReference::Bare { table } => vec![table],
        TableReference::Partial { schema, table } => vec![schema, table],
        TableReference::Full {
            catalog,
            schema,
            table,
        } => vec![catalog, schema, table],
    };
    parts.len() == wanted.len() && parts.iter().zip(wanted).all(|(a, b)| a == b)
}

/// An identifier as DataFusion compares it: unquoted names fold to lower case.
fn normalize(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn relation_place(statement: &Statement, reference: &TableReference) -> Option<Location> {
    let mut place = None;
    let _ = ast::visit_relations(statement, |name| {
        if same_relation(name, reference) {
            place = Some(start(name.span()));
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    place
}

/// The names in `FROM` called with arguments: table functions such as `generate_series`.
struct FromFunctions(Vec<ObjectName>);

impl FromFunctions {
    fn of(statement: &Statement) -> FromFunctions {
        let mut v = FromFunctions(Vec::new());
        let _ = statement.visit(&mut v);
        v
    }
}

impl Visitor for FromFunctions {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = factor
        {
            self.0.push(name.clone());
        }
        ControlFlow::Continue(())
    }
}

/// The name DataFusion looks a function up by.
fn function_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [one] => one.as_ident().map(normalize),
        _ => Some(name.to_string()),
    }
}

fn is_aggregate(state: &SessionState, f: &ast::Function) -> bool {
    f.over.is_none()
        && function_name(&f.name).is_some_and(|n| state.aggregate_functions().contains_key(&n))
}

/// A function called with parentheses that no function of the session has.
pub(crate) fn missing_function<V: Visit>(state: &SessionState, node: &V) -> Option<QueryError> {
    let mut missing = None;
    let _ = ast::visit_expressions(node, |e| {
        if let Expr::Function(f) = e {
            if !matches!(f.args, FunctionArguments::None) {
                if let Some(name) = function_name(&f.name) {
                    let known = state.scalar_functions().contains_key(&name)
                        || state.aggregate_functions().contains_key(&name)
                        || state.window_functions().contains_key(&name);
                    if !known {
                        missing =
                            Some(QueryError::UndefinedFunction(name).at(start(f.name.span())));
                        return ControlFlow::Break(());
                    }
                }
            }
        }
        ControlFlow::Continue(())
    });
    missing
}

/// `INSERT ... VALUES` rows longer than the target column list (42601, as PostgreSQL).
async fn insert_arity(state: &SessionState, insert: &ast::Insert) -> Option<QueryError> {
    let SetExpr::Values(values) = insert.source.as_ref()?.body.as_ref() else {
        return None;
    };
    let targets = if insert.columns.is_empty() {
        let TableObject::TableName(name) = &insert.table else {
            return None;
        };
        let table = table_named(state, name).await.ok()??;
        table.schema().fields().len()
    } else {
        insert.columns.len()
    };
    for row in &values.rows {
        if let Some(extra) = row.content.get(targets) {
            let error =
                QueryError::SyntaxRule("INSERT has more expressions than target columns".into());
            return Some(error.at(start(extra.span())));
        }
        if !insert.columns.is_empty() && row.content.len() < targets {
            let error =
                QueryError::SyntaxRule("INSERT has more target columns than expressions".into());
            return Some(error.at(start(insert.columns[row.content.len()].span())));
        }
    }
    None
}

/// A plain `SELECT` whose expressions do not type or whose grouping is wrong.
async fn select_failure(state: &SessionState, query: &Query) -> Option<QueryError> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let schema = from_schema(state, query, select).await?;
    let typer = Typer { state, schema };
    for e in select_expressions(select) {
        if let Typed::Failed(error) = typer.check(e) {
            return Some(error);
        }
    }
    grouping_failure(state, select)
}

fn select_expressions(select: &Select) -> impl Iterator<Item = &Expr> {
    let projection = select.projection.iter().filter_map(|item| match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
        _ => None,
    });
    let groups = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs.as_slice(),
        GroupByExpr::All(_) => &[],
    };
    projection
        .chain(select.selection.iter())
        .chain(groups.iter())
        .chain(select.having.iter())
}

/// The columns the `SELECT`'s `FROM` (and `WITH`) bring into scope, planned alone.
async fn from_schema(state: &SessionState, query: &Query, select: &Select) -> Option<DFSchema> {
    if select.from.is_empty() {
        return Some(DFSchema::empty());
    }
    let mut from = select.clone();
    from.projection = vec![SelectItem::Wildcard(WildcardAdditionalOptions::default())];
    from.selection = None;
    from.group_by = GroupByExpr::Expressions(vec![], vec![]);
    from.having = None;
    from.qualify = None;
    from.distinct = None;
    from.named_window.clear();
    from.sort_by.clear();
    let mut q = query.clone();
    q.body = Box::new(SetExpr::Select(Box::new(from)));
    q.order_by = None;
    q.limit_clause = None;
    q.fetch = None;
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(Statement::Query(
            Box::new(q),
        ))))
        .await
        .ok()?;
    Some(plan.schema().as_ref().clone())
}

/// What planning an expression alone over the `FROM` columns tells.
enum Typed {
    /// It plans, with this type (PostgreSQL's name).
    Ok(String),
    /// It, or an expression in it, fails for this reason.
    Failed(QueryError),
    /// It fails for a reason this module does not tell (a subquery, a placeholder...).
    Unknown,
}

struct Typer<'a> {
    state: &'a SessionState,
    schema: DFSchema,
}

impl Typer<'_> {
    /// Checks `e` bottom-up: the innermost function or operator that does not take its
    /// arguments' types is the error.
    fn check(&self, e: &Expr) -> Typed {
        let operands: Vec<&Expr> = match e {
            Expr::Function(f) => match &f.args {
                FunctionArguments::List(list) => {
                    let mut exprs = Vec::new();
                    for arg in &list.args {
                        match arg {
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(a)) => exprs.push(a),
                            _ => return self.leaf(e),
                        }
                    }
                    exprs
                }
                _ => return self.leaf(e),
            },
            Expr::BinaryOp { left, right, .. } => vec![left, right],
            Expr::UnaryOp { expr, .. } => vec![expr],
            Expr::Nested(inner) => return self.check(inner),
            Expr::Cast { expr, .. } => match self.check(expr) {
                Typed::Ok(_) => return self.leaf(e),
                other => return other,
            },
            _ => return self.leaf(e),
        };
        let mut types = Vec::with_capacity(operands.len());
        for operand in operands {
            match self.check(operand) {
                Typed::Ok(t) => types.push(t),
                other => return other,
            }
        }
        match self.type_of(e) {
            Some(t) => Typed::Ok(t),
            None => Typed::Failed(match e {
                Expr::Function(f) => QueryError::UndefinedFunction(format!(
                    "{}({})",
                    function_name(&f.name).unwrap_or_else(|| f.name.to_string()),
                    types.join(", ")
                ))
                .at(start(f.name.span())),
                Expr::BinaryOp { op, .. } => {
                    QueryError::UndefinedOperator(format!("{} {op} {}", types[0], types[1]))
                }
                Expr::UnaryOp { op, .. } => {
                    QueryError::UndefinedOperator(format!("{op} {}", types[0]))
                }
                _ => return Typed::Unknown,
            }),
        }
    }

    fn leaf(&self, e: &Expr) -> Typed {
        match self.type_of(e) {
            Some(t) => Typed::Ok(t),
            None => Typed::Unknown,
        }
    }

    /// The PostgreSQL type name of `e` planned alone, or `None` if it does not plan.
    fn type_of(&self, e: &Expr) -> Option<String> {
        // Planned with the session's functions and no tables: a subquery does not plan and
        // is `Typed::Unknown`.
        let alone = ast::ExprWithAlias {
            expr: e.clone(),
            alias: None,
        };
        let expr = self
            .state
            .create_logical_expr_from_sql_expr(alone, &self.schema)
            .ok()?;
        let t = expr.get_type(&self.schema).ok()?;
        if t.is_null() {
            // A placeholder or NULL: its type is decided by what it meets.
            return Some("unknown".into());
        }
        let pg = PgColumnType::of(&t);
        Some(if pg.data_type == "ARRAY" {
            format!("{}[]", pg.udt_name.trim_start_matches('_'))
        } else {
            pg.data_type.to_owned()
        })
    }
}

/// In a grouped `SELECT`, the first column outside every aggregate that is not grouped.
fn grouping_failure(state: &SessionState, select: &Select) -> Option<QueryError> {
    let groups: Vec<&Expr> = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs.iter().collect(),
        GroupByExpr::All(_) => return None,
    };
    let items: Vec<&Expr> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        })
        .collect();
    let aggregates = items
        .iter()
        .chain(select.having.iter().collect::<Vec<_>>().iter())
        .any(|e| contains_aggregate(state, e));
    // `HAVING` alone makes a query grouped, as in PostgreSQL.
    if groups.is_empty() && !aggregates && select.having.is_none() {
        return None;
    }
    // `GROUP BY 1` names the first output column.
    let mut grouped: HashSet<String> = HashSet::new();
    for g in &groups {
        let g = match g {
            Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i.checked_sub(1)?).copied())
                    .unwrap_or(g),
                _ => g,
            },
            _ => g,
        };
        grouped.insert(g.to_string().to_lowercase());
        if let Some(name) = column_name(g) {
            grouped.insert(name);
        }
    }
    let single_table = match select.from.as_slice() {
        [t] if t.joins.is_empty() => match &t.relation {
            TableFactor::Table { name, alias, .. } => Some(match alias {
                Some(a) => a.name.value.clone(),
                None => name.0.last()?.as_ident()?.value.clone(),
            }),
            _ => None,
        },
        _ => None,
    };
    for e in items.into_iter().chain(select.having.iter()) {
        let mut finder = Ungrouped {
            state,
            grouped: &grouped,
            skipping: 0,
        };
        if let ControlFlow::Break((name, place)) = e.visit(&mut finder) {
            let name = match (&single_table, name.contains('.')) {
                (Some(t), false) => format!("{t}.{name}"),
                _ => name,
            };
            return Some(QueryError::Grouping(name).at(place));
        }
    }
    None
}

fn contains_aggregate(state: &SessionState, e: &Expr) -> bool {
    ast::visit_expressions(e, |e| match e {
        Expr::Function(f) if is_aggregate(state, f) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// The column an expression is, lower-cased and without its qualifier.
fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(normalize(i)),
        Expr::CompoundIdentifier(parts) => parts.last().map(normalize),
        _ => None,
    }
}

/// Finds a column reference outside aggregates, subqueries and grouped expressions.
struct Ungrouped<'a> {
    state: &'a SessionState,
    grouped: &'a HashSet<String>,
    /// Depth inside a subtree that needs no grouping; 0 outside one.
    skipping: usize,
}

impl Visitor for Ungrouped<'_> {
    type Break = (String, Location);

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<Self::Break> {
        if self.skipping > 0 {
            self.skipping += 1;
            return ControlFlow::Continue(());
        }
        let covered = self.grouped.contains(&e.to_string().to_lowercase())
            || matches!(e, Expr::Function(f) if is_aggregate(self.state, f) || f.over.is_some())
            || matches!(
                e,
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
            );
        if covered {
            self.skipping = 1;
            return ControlFlow::Continue(());
        }
        if let Some(name) = column_name(e) {
            if !self.grouped.contains(&name) {
                let written = match e {
                    Expr::CompoundIdentifier(parts) => parts
                        .iter()
                        .map(|p| p.value.as_str())
                        .collect::<Vec<_>>()
                        .join("."),
                    _ => name,
                };
                return ControlFlow::Break((written, start(e.span())));
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<Self::Break> {
        self.skipping = self.skipping.saturating_sub(1);
        ControlFlow::Continue(())
    }
}
