//! Views: `CREATE [OR REPLACE] VIEW`, `DROP VIEW [IF EXISTS]`, and a stored view resolved
//! to a DataFusion [`ViewTable`] when a query names it.
//!
//! A view is kept in the engine's catalog ([`strata_storage::ViewDef`]) as the SQL text of
//! its query after Strata's rewrites (so it plans with DataFusion's parser alone) and its
//! optional column names. It is planned when created, so a view over a missing table or
//! column fails at `CREATE VIEW` as in PostgreSQL, and planned again each time a query
//! names it, so it reads the tables as they are then. (PostgreSQL fixes a `SELECT *`
//! view's columns when it is created; here a column added to the table later shows up.)
//!
//! Invariants: tables and views share one namespace (the engine refuses a name that is
//! taken); a view never reaches itself through the views it reads (`CREATE OR REPLACE`
//! that would make a cycle fails with 42P17).

use std::sync::{Arc, OnceLock, Weak};

use datafusion::catalog::TableProvider;
use datafusion::config::Dialect;
use datafusion::datasource::ViewTable;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::{col, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{CreateView, ObjectName};
use strata_storage::{Engine, ViewDef};

use crate::ddl::{table_name, table_names};
use crate::error::{QueryError, Result};

/// Plans stored views (and columns' `DEFAULT` expressions) for the `public` schema provider,
/// with the server's shared planning state (held weakly: that state owns the schema
/// provider).
#[derive(Debug, Default)]
pub struct ViewPlanner {
    state: OnceLock<Weak<SessionState>>,
}

impl ViewPlanner {
    /// Gives the planner the state to plan with, once it exists.
    pub fn set(&self, state: &Arc<SessionState>) {
        let _ = self.state.set(Arc::downgrade(state));
    }

    /// A column's stored `DEFAULT` expression, planned with the server's functions.
    pub fn plan_default(&self, sql: &str) -> DfResult<Expr> {
        let state =
            self.state.get().and_then(Weak::upgrade).ok_or_else(|| {
                DataFusionError::Internal("view planner used after shutdown".into())
            })?;
        state.create_logical_expr(sql, &datafusion::common::DFSchema::empty())
    }

    /// The view as a table DataFusion can read.
    pub async fn resolve(&self, def: &ViewDef) -> DfResult<Arc<dyn TableProvider>> {
        let state =
            self.state.get().and_then(Weak::upgrade).ok_or_else(|| {
                DataFusionError::Internal("view planner used after shutdown".into())
            })?;
        let plan = plan_view(&state, def).await?;
        Ok(Arc::new(ViewTable::new(plan, Some(def.sql.clone()))))
    }
}

/// Plans a view's query, its columns renamed as `CREATE VIEW v (a, b)` asked.
pub async fn plan_view(state: &SessionState, def: &ViewDef) -> DfResult<LogicalPlan> {
    let statement = state.sql_to_statement(&def.sql, &Dialect::PostgreSQL)?;
    let plan = match state.statement_to_plan(statement.clone()).await {
        Ok(plan) => plan,
        Err(e) => {
            let DfStatement::Statement(s) = statement else {
                return Err(e);
            };
            // Places in the view's own text are not places in the statement at hand.
            let error = crate::resolve::explain(state, &s, e).await.into_unplaced();
            return Err(error.into());
        }
    };
    if def.columns.is_empty() {
        return Ok(plan);
    }
    let fields = plan.schema().columns();
    if def.columns.len() > fields.len() {
        return Err(QueryError::Syntax(format!(
            "CREATE VIEW specifies more column names ({}) than columns ({})",
            def.columns.len(),
            fields.len()
        ))
        .into());
    }
    // Columns without a given name keep theirs, as in PostgreSQL.
    let exprs: Vec<Expr> = fields
        .into_iter()
        .enumerate()
        .map(|(i, c)| match def.columns.get(i) {
            Some(n) => col(c).alias(n),
            None => col(c),
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

/// The relations of schema `public` that `sql` names (CTE names excluded).
fn reads(state: &SessionState, sql: &str, database: &str) -> DfResult<Vec<String>> {
    let statement = state.sql_to_statement(sql, &Dialect::PostgreSQL)?;
    Ok(state
        .resolve_table_references(&statement)?
        .into_iter()
        .filter(|r| {
            r.schema().is_none_or(|s| s == "public") && r.catalog().is_none_or(|c| c == database)
        })
        .map(|r| r.table().to_owned())
        .collect())
}

/// Whether a view `name` defined by `sql` would read itself, through the stored views.
fn makes_cycle(
    engine: &Engine,
    state: &SessionState,
    name: &str,
    sql: &str,
    database: &str,
) -> DfResult<bool> {
    let mut todo = reads(state, sql, database)?;
    let mut seen = std::collections::HashSet::new();
    while let Some(r) = todo.pop() {
        if r == name {
            return Ok(true);
        }
        if seen.insert(r.clone()) {
            if let Some(v) = engine.view(&r) {
                todo.extend(reads(state, &v.sql, database)?);
            }
        }
    }
    Ok(false)
}

/// `CREATE [OR REPLACE] VIEW`: checks the statement and plans the query with `state` (so
/// errors in it surface now), then stores the view.
pub async fn create_view(
    engine: &Arc<Engine>,
    state: &SessionState,
    cv: &CreateView,
    database: &str,
) -> Result<()> {
    if cv.materialized {
        return Err(QueryError::Unsupported("materialized views".into()));
    }
    if cv.temporary {
        return Err(QueryError::Unsupported("temporary views".into()));
    }
    let name = table_name(&cv.name, database)?;
    if cv.if_not_exists && (engine.view(&name).is_some() || engine.table_schema(&name).is_ok()) {
        return Ok(());
    }
    let def = ViewDef {
        comment: None,
        name: name.clone(),
        sql: cv.query.to_string(),
        columns: cv
            .columns
            .iter()
            .map(|c| crate::ddl::ident_name(&c.name))
            .collect(),
    };
    plan_view(state, &def).await?;
    if makes_cycle(engine, state, &name, &def.sql, database)? {
        return Err(QueryError::InvalidObjectDefinition(format!(
            "infinite recursion: view \"{name}\" would read itself"
        )));
    }
    let engine = Arc::clone(engine);
    let or_replace = cv.or_replace;
    crate::session::blocking(move || Ok(engine.create_view(def, or_replace)?)).await
}

/// `DROP VIEW [IF EXISTS] a, b`: every name must be a view (unless `IF EXISTS` and it
/// does not exist at all); checked before any is dropped.
pub fn drop_views(
    engine: &Engine,
    if_exists: bool,
    names: &[ObjectName],
    database: &str,
) -> Result<()> {
    let names = table_names(names, database)?;
    for n in &names {
        if engine.table_schema(n).is_ok() {
            return Err(strata_storage::Error::WrongObjectType {
                name: n.clone(),
                expected: "a view",
            }
            .into());
        }
        if !if_exists && engine.view(n).is_none() {
            return Err(strata_storage::Error::ViewNotFound { view: n.clone() }.into());
        }
    }
    for n in names {
        match engine.drop_view(&n) {
            Ok(()) => {}
            Err(strata_storage::Error::ViewNotFound { .. }) if if_exists => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
