//! The SQL front door: [`QueryEngine`] (shared, one per server) and [`Session`] (one per
//! client connection).
//!
//! A statement goes through [`Session::parse`], [`Session::prepare`] (planning, parameter
//! and result types, which the extended protocol's Describe needs) and [`Session::execute`].
//! Queries and `INSERT` are planned and run by DataFusion; Strata's own statements (DDL,
//! `SET`/`SHOW`/`RESET`, transactions, `COPY`, `CALL` of [`crate::statements`]) are handled here; anything else fails with
//! 0A000 naming the statement.
//!
//! Transactions: see [`crate::transaction`]. `INSERT` and `COPY` rows of a transaction
//! block are written together at `COMMIT`; every statement that changes storage does so
//! past its commit point, after which it is no longer interrupted.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use datafusion::common::ParamValues;
use datafusion::execution::context::SessionContext;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{self, Expr, ObjectType, Set, Statement};
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use parking_lot::RwLock;
use strata_storage::Engine;

use crate::catalog::{StrataSchema, SystemSchema};
use crate::copy::{CopyIn, CopyOut};
use crate::ddl;
use crate::error::{QueryError, Result};
use crate::functions;
use crate::information_schema::PgInformationSchema;
use crate::settings::Settings;
use crate::statements::cursor::{Cursor, CursorOptions, Cursors, Direction, Fetched};
use crate::statements::{call, delete};
use crate::transaction::{Commit, TransactionStatus, Transactions};
use crate::views::{self, ViewPlanner};

/// Per-session switches read by table providers through the session config.
#[derive(Debug)]
pub struct SessionFlags {
    pushdown: std::sync::atomic::AtomicBool,
}

impl SessionFlags {
    pub fn pushdown(&self) -> bool {
        self.pushdown.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What a statement produced.
pub enum Output {
    /// Rows, with their schema.
    Rows(SendableRecordBatchStream),
    /// A command tag (`CREATE TABLE`, `INSERT 0 5`, ...).
    Command(CommandTag),
    /// `COPY ... FROM STDIN`: the caller feeds the data to this, then calls
    /// [`Session::finish_copy`].
    CopyIn(Box<CopyIn>),
    /// `COPY ... TO STDOUT`.
    CopyOut(Box<CopyOut>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Rows(s) => write!(f, "Rows({:?})", s.schema()),
            Output::Command(t) => write!(f, "Command({t:?})"),
            Output::CopyIn(_) => write!(f, "CopyIn"),
            Output::CopyOut(_) => write!(f, "CopyOut"),
        }
    }
}

/// A command completion tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTag {
    pub tag: String,
    pub rows: Option<u64>,
    /// A notice to send before completion (e.g. ROLLBACK in autocommit).
    pub notice: Option<String>,
}

impl CommandTag {
    fn new(tag: &str) -> Self {
        CommandTag {
            tag: tag.to_owned(),
            rows: None,
            notice: None,
        }
    }
}

/// A statement ready to run (the extended protocol's prepared statement).
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Planned by DataFusion: a query, `INSERT` or `EXPLAIN`.
    Plan {
        statement: Box<Statement>,
        plan: Box<LogicalPlan>,
        /// The result schema with Postgres' column names (see [`crate::names`]).
        output: Option<SchemaRef>,
    },
    /// Handled by Strata at execution.
    Utility(Box<Statement>),
    /// `FETCH` or `MOVE` of a cursor; a `FETCH` returns rows of the cursor's columns.
    Fetch {
        statement: Box<Statement>,
        schema: Option<SchemaRef>,
    },
}

impl Prepared {
    /// The statement as parsed.
    pub fn statement(&self) -> &Statement {
        match self {
            Prepared::Plan { statement, .. }
            | Prepared::Utility(statement)
            | Prepared::Fetch { statement, .. } => statement,
        }
    }

    /// Parameter types in `$1, $2, ...` order (`None` where nothing constrains one).
    pub fn param_types(&self) -> Result<Vec<Option<DataType>>> {
        let Prepared::Plan { plan, .. } = self else {
            return Ok(vec![]);
        };
        let mut types: Vec<Option<DataType>> = parameter_fields(plan)?
            .into_iter()
            .map(|f| f.map(|f| f.data_type().clone()))
            .collect();
        // `$1::bigint` leaves the placeholder itself untyped; the cast says what it is.
        if types.iter().any(Option::is_none) {
            for (id, t) in cast_placeholder_types(plan) {
                let slot = parameter_index(&id).and_then(|i| types.get_mut(i));
                if let Some(slot @ None) = slot {
                    *slot = Some(t);
                }
            }
        }
        Ok(types)
    }

    /// Per parameter (`$1` first), whether it stands for a `uuid` (compared with or stored
    /// into a `uuid` column), so clients are told its type.
    pub fn uuid_params(&self) -> Result<Vec<bool>> {
        let Prepared::Plan { plan, .. } = self else {
            return Ok(vec![]);
        };
        Ok(parameter_fields(plan)?
            .iter()
            .map(|f| f.as_deref().is_some_and(crate::types::is_uuid))
            .collect())
    }

    /// The schema of the rows it returns, or `None` for a command.
    pub fn result_schema(&self) -> Option<SchemaRef> {
        match self {
            Prepared::Plan {
                statement,
                plan,
                output,
            } => match statement.as_ref() {
                Statement::Insert(_) | Statement::Delete(_) | Statement::Declare { .. } => None,
                Statement::Call(_) => Some(call::erase_schema()),
                _ => Some(
                    output
                        .clone()
                        .unwrap_or_else(|| Arc::new(plan.schema().as_arrow().clone())),
                ),
            },
            Prepared::Utility(s) => match s.as_ref() {
                Statement::ShowVariable { variable } => Some(show_schema(&show_name(variable))),
                Statement::Call(_) => Some(call::schema()),
                _ => None,
            },
            Prepared::Fetch { schema, .. } => schema.clone(),
        }
    }
}

/// The 0-based index of placeholder `$n`.
fn parameter_index(id: &str) -> Option<usize> {
    id.trim_start_matches('$')
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
}

/// A plan's parameters in `$1, $2, ...` order, each with the field its use gives it (type
/// and metadata, such as a `uuid` column's), `None` where nothing constrains one.
fn parameter_fields(plan: &LogicalPlan) -> Result<Vec<Option<arrow::datatypes::FieldRef>>> {
    let mut out = Vec::new();
    for (id, field) in plan.get_parameter_fields()? {
        let Some(i) = parameter_index(&id) else {
            continue;
        };
        if out.len() <= i {
            out.resize(i + 1, None);
        }
        out[i] = field;
    }
    Ok(out)
}

/// `CAST($n AS t)` anywhere in a plan: placeholder id to `t`.
fn cast_placeholder_types(plan: &LogicalPlan) -> Vec<(String, DataType)> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::Expr as DfExpr;
    let mut out = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        for e in node.expressions() {
            let _ = e.apply(|e| {
                if let DfExpr::Cast(c) = e {
                    if let DfExpr::Placeholder(p) = c.expr.as_ref() {
                        out.push((p.id.clone(), c.field.data_type().clone()));
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// Everything sessions share: the engine and the planning state.
#[derive(Debug)]
pub struct QueryEngine {
    engine: Arc<Engine>,
    database: String,
    base: Arc<SessionState>,
    roles: crate::pg_catalog::roles::Roles,
}

impl QueryEngine {
    /// Sets up the catalog (`public`, `system`, `pg_catalog`, `information_schema`) and
    /// functions over `engine`, as database `database`.
    pub fn new(engine: Arc<Engine>, database: &str) -> Result<Arc<QueryEngine>> {
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(database, "public")
            .with_create_default_catalog_and_schema(false)
            // Our own `information_schema` (Postgres names and positions) replaces
            // DataFusion's; see `information_schema.rs`.
            .with_information_schema(false)
            // Columns keep their place in the text, for the `position` of errors.
            .set_bool("datafusion.sql_parser.collect_spans", true)
            // `1.5` is a numeric, as in PostgreSQL (exact: `12345678901234567890.5::numeric(30,1)`
            // keeps every digit), not a double.
            .set_bool("datafusion.sql_parser.parse_float_as_decimal", true)
            // `timestamptz` and `now()` are instants (Arrow timestamps with a zone), as
            // stored time columns are; without a zone DataFusion makes them `timestamp`.
            .set_str("datafusion.execution.time_zone", "UTC");
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .build();
        // After type coercion: integer `+ - *` fail on overflow (22003) instead of wrapping.
        state.add_analyzer_rule(Arc::new(crate::arithmetic::CheckedArithmetic));
        // `interval * number` and `interval / number`, which DataFusion does not plan.
        datafusion::execution::FunctionRegistry::register_expr_planner(
            &mut state,
            Arc::new(crate::pgvalue::arithmetic::IntervalArithmetic),
        )?;
        let ctx = SessionContext::new_with_state(state);
        let catalog = MemoryCatalogProvider::new();
        let views = Arc::new(ViewPlanner::default());
        catalog.register_schema(
            "public",
            Arc::new(StrataSchema::new(Arc::clone(&engine), Arc::clone(&views))),
        )?;
        catalog.register_schema("system", Arc::new(SystemSchema::new(Arc::clone(&engine))))?;
        catalog.register_schema(
            "information_schema",
            Arc::new(PgInformationSchema::new(Arc::clone(
                ctx.state().catalog_list(),
            ))),
        )?;
        ctx.register_catalog(database, Arc::new(catalog));
        let roles = crate::pg_catalog::roles::Roles::default();
        datafusion_pg_catalog::setup_pg_catalog(&ctx, database, EmptyContextProvider)
            .map_err(|e| QueryError::from(*e))?;
        if let Some(catalog) = ctx.catalog(database) {
            if let Some(pg) = catalog.schema("pg_catalog") {
                catalog.register_schema(
                    "pg_catalog",
                    Arc::new(crate::pg_catalog::PgCatalogOverlay::new(
                        pg,
                        Arc::clone(ctx.state().catalog_list()),
                        Arc::clone(&engine),
                        roles.clone(),
                    )),
                )?;
            }
        }
        ctx.register_udf(functions::version());
        ctx.register_udf(functions::pg_sleep());
        ctx.register_udf(functions::to_regtype());
        ctx.register_udf(functions::pg_get_serial_sequence());
        ctx.register_udf(functions::json_build_object());
        ctx.register_udf(functions::pg_collation_is_visible());
        ctx.register_udf(functions::subject_hash(Arc::clone(&engine)));
        ctx.register_udf(functions::pg_get_expr());
        ctx.register_udf(functions::like_pattern());
        ctx.register_udf(functions::in_list());
        ctx.register_udf(functions::pg_size_pretty());
        ctx.register_udf(functions::pg_typeof());
        ctx.register_udf(functions::pg_type_is_visible());
        ctx.register_udf(functions::pg_tablespace_location());
        ctx.register_udf(functions::pg_get_userbyid(roles.clone()));
        ctx.register_udf(crate::pgvalue::casts::UuidIn::udf());
        for f in functions::definitions(Arc::clone(&engine)) {
            ctx.register_udf(f);
        }
        let base = Arc::new(ctx.state());
        views.set(&base);
        Ok(Arc::new(QueryEngine {
            engine,
            database: database.to_owned(),
            base,
            roles,
        }))
    }

    /// The roles `pg_roles`, `pg_user`, `pg_authid` and `pg_get_userbyid` show: the users
    /// the server was configured with.
    pub fn set_roles(&self, roles: Vec<crate::pg_catalog::roles::RoleInfo>) {
        self.roles.set(roles);
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// A new session for `user`, a superuser (every configured user is one until roles
    /// exist, unless the configuration says otherwise: [`QueryEngine::session_as`]).
    pub fn session(self: &Arc<Self>, user: &str) -> Session {
        self.session_as(user, true)
    }

    /// A new session for `user`, a superuser or not.
    pub fn session_as(self: &Arc<Self>, user: &str, superuser: bool) -> Session {
        let settings = Arc::new(RwLock::new(Settings::default()));
        let flags = Arc::new(SessionFlags {
            pushdown: std::sync::atomic::AtomicBool::new(true),
        });
        let hidden = Arc::new(RwLock::new(HashSet::new()));
        let txn = Transactions::new(crate::transaction::DEFAULT_MAX_TRANSACTION_BYTES);
        let ctx = build_context(&self.base, user, &settings, &flags, &hidden, &txn, true);
        Session {
            shared: Arc::clone(self),
            ctx,
            settings,
            flags,
            hidden,
            user: user.to_owned(),
            superuser,
            parser: PostgresCompatibilityParser::new(),
            sql_prepared: Default::default(),
            txn,
            cursors: Cursors::default(),
        }
    }
}

fn build_context(
    base: &SessionState,
    user: &str,
    settings: &Arc<RwLock<Settings>>,
    flags: &Arc<SessionFlags>,
    hidden: &Arc<RwLock<HashSet<i32>>>,
    txn: &Arc<Transactions>,
    pushdown: bool,
) -> SessionContext {
    let config = base
        .config()
        .clone()
        .with_extension(Arc::clone(flags))
        .with_extension(Arc::clone(txn))
        // `pg_settings` reads the session's parameters from here.
        .with_extension(Arc::clone(settings));
    // Timestamp text is read under this session's `TimeZone` when a statement runs.
    let mut analyzer = base.analyzer().rules.clone();
    analyzer.insert(0, Arc::new(crate::pgvalue::casts::UntypedLiterals));
    analyzer.push(Arc::new(crate::pgtime::TextCasts::new(Arc::clone(
        settings,
    ))));
    let mut builder = SessionStateBuilder::new_from_existing(base.clone())
        .with_session_id(uuid_like())
        .with_config(config)
        .with_analyzer_rules(analyzer);
    if !pushdown {
        // Without these rules no filter or limit reaches a table scan: DataFusion
        // evaluates them all, and the engine reads everything (pruning is off too).
        let rules: Vec<_> = base
            .optimizers()
            .iter()
            .filter(|r| !matches!(r.name(), "push_down_filter" | "push_down_limit"))
            .cloned()
            .collect();
        builder = builder.with_optimizer_rules(rules);
    }
    let ctx = SessionContext::new_with_state(builder.build());
    ctx.register_udf(functions::current_setting(Arc::clone(settings)));
    ctx.register_udf(functions::current_schemas(Arc::clone(settings)));
    ctx.register_udf(functions::pg_table_is_visible(Arc::clone(hidden)));
    ctx.register_udf(functions::session_user(user));
    ctx
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("strata-session-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One client's session: parameters and planning context.
pub struct Session {
    shared: Arc<QueryEngine>,
    ctx: SessionContext,
    settings: Arc<RwLock<Settings>>,
    flags: Arc<SessionFlags>,
    /// Relations `pg_table_is_visible` reports invisible (schema not on the search path).
    hidden: Arc<RwLock<HashSet<i32>>>,
    user: String,
    /// May run what only a superuser may (`ERASE SUBJECT`), until roles exist.
    superuser: bool,
    parser: PostgresCompatibilityParser,
    /// Statements of SQL `PREPARE name AS ...`, with the parameter types it declared.
    sql_prepared: parking_lot::Mutex<std::collections::HashMap<String, SqlPrepared>>,
    /// The open transaction block and the running statement's commit gate.
    txn: Arc<Transactions>,
    /// Cursors of `DECLARE`.
    cursors: Cursors,
}

/// A statement of SQL `PREPARE`.
#[derive(Debug, Clone)]
struct SqlPrepared {
    prepared: Arc<Prepared>,
    /// Declared parameter types (`PREPARE p (int, text) AS ...`); may be fewer than used.
    declared: Vec<DataType>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("user", &self.user).finish()
    }
}

impl Session {
    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.shared.engine
    }

    /// Starts the session with `settings` (those of its startup message:
    /// [`Settings::at_startup`]).
    pub fn start_with(&self, settings: Settings) {
        let pushdown = settings.pushdown();
        *self.settings.write() = settings;
        self.flags
            .pushdown
            .store(pushdown, std::sync::atomic::Ordering::Relaxed);
    }

    /// A snapshot of the session parameters.
    pub fn settings(&self) -> Settings {
        self.settings.read().clone()
    }

    /// The transaction block and the running statement's commit gate.
    pub fn transactions(&self) -> &Arc<Transactions> {
        &self.txn
    }

    pub fn transaction_status(&self) -> TransactionStatus {
        self.txn.status()
    }

    pub fn statement_timeout(&self) -> Option<Duration> {
        self.settings.read().statement_timeout()
    }

    /// The columns of cursor `name`'s rows (a portal of that name to the protocol).
    pub fn cursor_schema(&self, name: &str) -> Result<SchemaRef> {
        self.cursors.schema(name)
    }

    /// Closes cursor `name` (the protocol's Close of a portal of that name).
    pub fn close_cursor(&self, name: &str) -> Result<()> {
        self.cursors.close(name)
    }

    /// Splits and parses a query string (Postgres dialect).
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        crate::limits::check_depth(sql)?;
        if let Some(fetch) = crate::statements::cursor::parse_fetch(sql) {
            return fetch.map(|statement| vec![statement]);
        }
        let reset = crate::rewrite::alter_table_reset(sql);
        let erase = crate::rewrite::erase_subject(sql);
        let ctas = crate::rewrite::ctas_column_list(sql);
        let sql = reset
            .as_deref()
            .or(erase.as_deref())
            .or(ctas.as_deref())
            .unwrap_or(sql);
        let statements = match self.parser.parse(sql) {
            Ok(statements) => with_spans(&self.parser, sql, statements),
            // The compatibility parser parses tokens without their places; sqlparser's own
            // parse of the same text tells where the error is.
            Err(e) => return Err(syntax_error(placed_parse_error(sql).unwrap_or(e))),
        };
        Ok(statements
            .into_iter()
            .map(crate::rewrite::rewrite)
            .collect())
    }

    /// Plans a statement. `param_hints` are the parameter types a client declared (Parse
    /// message); they are used where the statement itself does not decide a type.
    pub async fn prepare(&self, statement: Statement) -> Result<Prepared> {
        // A failed block refuses a statement before looking at it, as PostgreSQL does.
        if self.txn.status() == TransactionStatus::Failed && !ends_failed_block(&statement) {
            return Err(QueryError::InFailedTransaction);
        }
        match &statement {
            Statement::Query(_) | Statement::Insert(_) => self.plan(statement).await,
            Statement::Explain {
                statement: inner, ..
            } if matches!(inner.as_ref(), Statement::Query(_) | Statement::Insert(_)) => {
                self.plan(statement).await
            }
            Statement::Explain { .. } => {
                Err(QueryError::Unsupported("EXPLAIN of this statement".into()))
            }
            // The cursor's query is planned now (with its parameters); executing the
            // statement opens the cursor.
            Statement::Declare { stmts } => {
                let query = Box::new(declared_cursor(stmts)?.1.clone());
                match self.plan(Statement::Query(query)).await? {
                    Prepared::Plan { plan, output, .. } => Ok(Prepared::Plan {
                        statement: Box::new(statement),
                        plan,
                        output,
                    }),
                    other => Ok(other),
                }
            }
            Statement::Fetch { name, .. } => {
                let schema = if crate::statements::cursor::is_move(&statement) {
                    None
                } else {
                    Some(self.cursors.schema(&ddl::ident_name(name))?)
                };
                Ok(Prepared::Fetch {
                    statement: Box::new(statement),
                    schema,
                })
            }
            // The condition is planned as a query (parameters, casts, `now()`); executing
            // the statement turns it into a storage predicate.
            Statement::Delete(d) => {
                let table = delete::delete_target(d, &self.shared.database)?;
                let Some(query) = d
                    .selection
                    .as_ref()
                    .map(|selection| delete::condition_query(&table, selection))
                else {
                    return Ok(Prepared::Utility(Box::new(statement)));
                };
                let mut query = self.parse(&query)?;
                match self.plan(query.remove(0)).await? {
                    Prepared::Plan { plan, .. } => Ok(Prepared::Plan {
                        statement: Box::new(statement),
                        plan,
                        output: None,
                    }),
                    other => Ok(other),
                }
            }
            // Its subject may be a parameter: planned as `SELECT CAST(<value> AS TEXT)`.
            Statement::Call(f) if call::erase_subject_args(f).is_some() => {
                let (value, _) = call::erase_subject_args(f).expect("checked")?;
                let mut query = self.parse(&format!("SELECT CAST({value} AS TEXT)"))?;
                match self.plan(query.remove(0)).await? {
                    Prepared::Plan { plan, .. } => Ok(Prepared::Plan {
                        statement: Box::new(statement),
                        plan,
                        output: None,
                    }),
                    other => Ok(other),
                }
            }
            Statement::Copy {
                source,
                to: false,
                target: ast::CopyTarget::Stdin,
                options,
                legacy_options,
                ..
            } => {
                let format = crate::copy::CopyFormat::from_options(options, legacy_options)?;
                copy_in_target(
                    &self.shared.engine,
                    &self.shared.database,
                    &self.ctx.state(),
                    source,
                    format,
                )?;
                Ok(Prepared::Utility(Box::new(statement)))
            }
            _ => {
                check_utility(&statement)?;
                Ok(Prepared::Utility(Box::new(statement)))
            }
        }
    }

    async fn plan(&self, statement: Statement) -> Result<Prepared> {
        if calls_function(&statement, "pg_table_is_visible") {
            self.refresh_visibility().await?;
        }
        let state = self.ctx.state();
        let statement = match &statement {
            Statement::Insert(insert) => match crate::defaults::fill(&state, insert).await? {
                Some(filled) => Statement::Insert(filled),
                None => statement,
            },
            _ => statement,
        };
        let planned = crate::names::distinct_names(&statement).unwrap_or_else(|| statement.clone());
        let plan = match state
            .statement_to_plan(DfStatement::Statement(Box::new(planned)))
            .await
        {
            Ok(plan) => plan,
            Err(e) => return Err(crate::resolve::explain(&state, &statement, e).await),
        };
        // Before the schema is read: it is what RowDescription tells the client.
        let plan = datafusion::optimizer::AnalyzerRule::analyze(
            &crate::arithmetic::IntegerLiterals,
            plan,
            state.config_options(),
        )?;
        let plan = if matches!(statement, Statement::Insert(_)) {
            crate::provider::nullable_values(plan)?
        } else {
            plan
        };
        let arrow = plan.schema().as_arrow();
        let current: Vec<String> = arrow.fields().iter().map(|f| f.name().clone()).collect();
        let output = crate::names::output_names(&statement, &current)
            .filter(|names| names != &current)
            .map(|names| {
                Arc::new(Schema::new(
                    arrow
                        .fields()
                        .iter()
                        .zip(names)
                        .map(|(f, n)| f.as_ref().clone().with_name(n))
                        .collect::<Vec<_>>(),
                ))
            });
        Ok(Prepared::Plan {
            statement: Box::new(statement),
            plan: Box::new(plan),
            output,
        })
    }

    /// Recomputes which relations `pg_table_is_visible` hides: those of schemas not on the
    /// session's `search_path` (`pg_catalog` is always searched, as in Postgres). Run
    /// before planning a statement that calls the function; catalog OIDs are stable.
    async fn refresh_visibility(&self) -> Result<()> {
        let mut schemas = self.settings.read().search_path(&self.user);
        schemas.push("pg_catalog".into());
        let list: Vec<String> = schemas
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "''")))
            .collect();
        let sql = format!(
            "SELECT c.oid FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ({})",
            list.join(", ")
        );
        let batches = self.ctx.sql(&sql).await?.collect().await?;
        let mut hidden = HashSet::new();
        for b in &batches {
            let oids = arrow::compute::cast(b.column(0), &DataType::Int32)?;
            hidden.extend(
                oids.as_primitive::<arrow::datatypes::Int32Type>()
                    .iter()
                    .flatten(),
            );
        }
        *self.hidden.write() = hidden;
        Ok(())
    }

    /// Runs a prepared statement with parameter values (extended protocol) or none. In a
    /// failed transaction block only its end is accepted (25P02); an error fails the block.
    pub async fn execute(
        &self,
        prepared: &Prepared,
        params: Option<ParamValues>,
    ) -> Result<Output> {
        let statement = prepared.statement();
        if self.txn.status() == TransactionStatus::Failed && !ends_failed_block(statement) {
            return Err(QueryError::InFailedTransaction);
        }
        let result = self.run(prepared, params).await;
        match &result {
            Err(_) => self.txn.fail(),
            Ok(_) => {
                if let Some(what) = immediate_in_block(statement) {
                    self.txn.note_immediate(what);
                }
            }
        }
        result
    }

    async fn run(&self, prepared: &Prepared, params: Option<ParamValues>) -> Result<Output> {
        match prepared {
            Prepared::Plan {
                statement,
                plan,
                output,
            } => {
                let mut plan = (**plan).clone();
                if let Some(p) = params {
                    plan = plan.replace_params_with_values(&p)?;
                }
                match statement.as_ref() {
                    Statement::Delete(d) => return self.delete(d, Some(plan)).await,
                    Statement::Call(f) => return self.erase_subject(f, plan).await,
                    Statement::Declare { stmts } => {
                        return self.declare(stmts, plan, output.clone()).await
                    }
                    _ => {}
                }
                if matches!(statement.as_ref(), Statement::Insert(_)) {
                    self.check_writable("INSERT")?;
                }
                let df = self.ctx.execute_logical_plan(plan).await?;
                if matches!(statement.as_ref(), Statement::Insert(_)) {
                    let batches = df.collect().await?;
                    let rows = batches
                        .first()
                        .and_then(|b| b.column_by_name("count"))
                        .and_then(|c| c.as_any().downcast_ref::<arrow::array::UInt64Array>())
                        .map_or(0, |a| a.value(0));
                    return Ok(Output::Command(CommandTag {
                        tag: "INSERT".into(),
                        rows: Some(rows),
                        notice: None,
                    }));
                }
                let stream = df.execute_stream().await?;
                Ok(Output::Rows(match output {
                    None => stream,
                    Some(schema) => renamed(stream, Arc::clone(schema)),
                }))
            }
            Prepared::Utility(statement) => self.utility(statement).await,
            Prepared::Fetch { statement, .. } => self.fetch(statement).await,
        }
    }

    /// `DECLARE`: runs the planned query and keeps its stream as a cursor.
    async fn declare(
        &self,
        stmts: &[ast::Declare],
        plan: LogicalPlan,
        output: Option<SchemaRef>,
    ) -> Result<Output> {
        let (declare, _) = declared_cursor(stmts)?;
        let name = ddl::ident_name(&declare.names[0]);
        let options = CursorOptions {
            scroll: declare.scroll == Some(true),
            hold: declare.hold == Some(true),
        };
        let depth = self.txn.depth();
        if !options.hold && depth.is_none() {
            return Err(QueryError::NoActiveTransaction("DECLARE CURSOR".into()));
        }
        if self.cursors.exists(&name) {
            return Err(QueryError::DuplicateCursor(name));
        }
        let stream = self
            .ctx
            .execute_logical_plan(plan)
            .await?
            .execute_stream()
            .await?;
        let stream = match output {
            None => stream,
            Some(schema) => renamed(stream, schema),
        };
        self.cursors
            .declare(Cursor::new(&name, stream, options), depth)?;
        Ok(Output::Command(CommandTag::new("DECLARE CURSOR")))
    }

    /// `FETCH` (rows) or `MOVE` (tag `MOVE n`). A fetch that fails or is interrupted leaves
    /// its cursor unusable, as a failed portal is in PostgreSQL.
    async fn fetch(&self, statement: &Statement) -> Result<Output> {
        let Statement::Fetch {
            name, direction, ..
        } = statement
        else {
            return Err(unsupported_statement(statement));
        };
        let name = ddl::ident_name(name);
        let direction = Direction::of(direction)?;
        let moving = crate::statements::cursor::is_move(statement);
        let mut cursor = self.cursors.take(&name)?;
        let fetched = cursor.fetch(direction, !moving).await?;
        let schema = Arc::clone(cursor.schema());
        self.cursors.put_back(cursor);
        Ok(match fetched {
            Fetched::Stream(stream) => Output::Rows(stream),
            Fetched::Rows { count, .. } if moving => Output::Command(CommandTag {
                tag: "MOVE".into(),
                rows: Some(count),
                notice: None,
            }),
            Fetched::Rows { batches, .. } => Output::Rows(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::iter(batches.into_iter().map(Ok)),
            ))),
        })
    }

    /// The values of `EXECUTE name (args)`, evaluated and cast to the types the statement's
    /// parameters have (declared by `PREPARE`, or else inferred).
    fn execute_params(&self, stored: &SqlPrepared, args: &[Expr]) -> Result<Option<ParamValues>> {
        use datafusion::common::DFSchema;
        let inferred = stored.prepared.param_types()?;
        if args.len() != inferred.len().max(stored.declared.len()) {
            return Err(QueryError::Syntax(format!(
                "wrong number of parameters for prepared statement: expected {}, got {}",
                inferred.len().max(stored.declared.len()),
                args.len()
            )));
        }
        if args.is_empty() {
            return Ok(None);
        }
        let empty = DFSchema::empty();
        let one_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
        )
        .map_err(datafusion::error::DataFusionError::from)?;
        let mut values = Vec::with_capacity(args.len());
        for (i, arg) in args.iter().enumerate() {
            let e = self.ctx.parse_sql_expr(&arg.to_string(), &empty)?;
            let physical = self.ctx.create_physical_expr(e, &empty)?;
            let v = physical.evaluate(&one_row)?.into_array(1)?;
            let mut v = datafusion::common::ScalarValue::try_from_array(&v, 0)?;
            let target = stored
                .declared
                .get(i)
                .cloned()
                .or_else(|| inferred.get(i).cloned().flatten());
            if let Some(t) = target {
                if v.data_type() != t {
                    let (zone, order) = {
                        let settings = self.settings.read();
                        (settings.time_zone().to_owned(), settings.date_style().order)
                    };
                    v = match crate::pgtime::cast_text(&v, &t, &zone, order) {
                        Some(parsed) => parsed?,
                        None => v
                            .cast_to(&t)
                            .map_err(|e| QueryError::InvalidText(e.to_string()))?,
                    };
                }
            }
            values.push(v);
        }
        Ok(Some(ParamValues::from(values)))
    }

    async fn utility(&self, statement: &Statement) -> Result<Output> {
        let engine = Arc::clone(&self.shared.engine);
        let db = self.shared.database.clone();
        match statement {
            Statement::CreateTable(ct) if ct.query.is_some() => self.create_table_as(ct).await,
            Statement::CreateTable(ct) => {
                let ct = ct.clone();
                self.check_writable("CREATE TABLE")?;
                self.check_defaults(&ct)?;
                self.commit(move || ddl::create_table(&engine, &ct, &db))
                    .await?;
                Ok(Output::Command(CommandTag::new("CREATE TABLE")))
            }
            Statement::Drop {
                object_type: ObjectType::View,
                if_exists,
                names,
                ..
            } => {
                let (if_exists, names) = (*if_exists, names.clone());
                self.check_writable("DROP VIEW")?;
                self.commit(move || views::drop_views(&engine, if_exists, &names, &db))
                    .await?;
                Ok(Output::Command(CommandTag::new("DROP VIEW")))
            }
            Statement::CreateIndex(ci) => {
                let ci = ci.clone();
                self.check_writable("CREATE INDEX")?;
                let notice = self
                    .commit(move || crate::statements::index::create_index(&engine, &ci, &db))
                    .await?;
                Ok(Output::Command(CommandTag {
                    notice,
                    ..CommandTag::new("CREATE INDEX")
                }))
            }
            Statement::Drop {
                object_type: ObjectType::Index,
                if_exists,
                names,
                ..
            } => {
                let (if_exists, names) = (*if_exists, names.clone());
                self.check_writable("DROP INDEX")?;
                let notices = self
                    .commit(move || {
                        crate::statements::index::drop_indexes(&engine, if_exists, &names, &db)
                    })
                    .await?;
                Ok(Output::Command(CommandTag {
                    notice: (!notices.is_empty()).then(|| notices.join("\n")),
                    ..CommandTag::new("DROP INDEX")
                }))
            }
            Statement::Comment {
                object_type,
                object_name,
                comment,
                ..
            } => {
                let (object_type, object_name, comment) =
                    (*object_type, object_name.clone(), comment.clone());
                self.check_writable("COMMENT")?;
                self.commit(move || {
                    crate::statements::comment::comment_on(
                        &engine,
                        &object_type,
                        &object_name,
                        comment.as_deref(),
                        &db,
                    )
                })
                .await?;
                Ok(Output::Command(CommandTag::new("COMMENT")))
            }
            Statement::CreateView(cv) => {
                self.check_writable("CREATE VIEW")?;
                self.txn.gate().begin_commit()?;
                views::create_view(&engine, &self.ctx.state(), cv, &db).await?;
                Ok(Output::Command(CommandTag::new("CREATE VIEW")))
            }
            Statement::Drop {
                object_type,
                if_exists,
                names,
                ..
            } => {
                let (object_type, if_exists, names) = (*object_type, *if_exists, names.clone());
                self.check_writable("DROP TABLE")?;
                self.commit(move || ddl::drop_tables(&engine, object_type, if_exists, &names, &db))
                    .await?;
                Ok(Output::Command(CommandTag::new("DROP TABLE")))
            }
            Statement::AlterTable(alter) => {
                let alter = alter.clone();
                self.check_writable("ALTER TABLE")?;
                self.commit(move || ddl::alter_table(&engine, &alter, &db))
                    .await?;
                Ok(Output::Command(CommandTag::new("ALTER TABLE")))
            }
            Statement::Set(set) => self.set(set),
            Statement::Reset(r) => {
                match &r.reset {
                    ast::Reset::ALL => self.settings.write().reset_all(),
                    ast::Reset::ConfigurationParameter(name) => {
                        self.settings.write().reset(&name.to_string())?
                    }
                }
                self.sync_flags();
                Ok(Output::Command(CommandTag::new("RESET")))
            }
            Statement::Discard { .. } => {
                // DISCARD ALL: parameters, prepared statements and cursors.
                self.cursors.close_all();
                self.sql_prepared.lock().clear();
                self.settings.write().reset_all();
                self.sync_flags();
                Ok(Output::Command(CommandTag::new("DISCARD ALL")))
            }
            Statement::ShowVariable { variable } => self.show(&show_name(variable)),
            Statement::Delete(d) => self.delete(d, None).await,
            Statement::Truncate(t) => {
                let tables = t
                    .table_names
                    .iter()
                    .map(|t| ddl::table_name(&t.name, &db))
                    .collect::<Result<Vec<_>>>()?;
                self.check_writable("TRUNCATE TABLE")?;
                for t in &tables {
                    self.txn.check_unstaged(t, "TRUNCATE")?;
                }
                let user = self.user.clone();
                self.commit(move || {
                    delete::erase(
                        &engine,
                        strata_storage::ErasureKind::Delete,
                        &user,
                        None,
                        tables
                            .into_iter()
                            .map(|t| (t, strata_storage::Predicate::All, None))
                            .collect(),
                    )
                })
                .await?;
                Ok(Output::Command(CommandTag::new("TRUNCATE TABLE")))
            }
            Statement::Call(f) => {
                let procedure = call::resolve(f)?;
                let batch = self.commit(move || call::run(&engine, procedure)).await?;
                Ok(rows_output(batch))
            }
            Statement::StartTransaction { modes, .. } => {
                let read_only = self.transaction_modes(modes)?.unwrap_or_else(|| {
                    self.settings
                        .read()
                        .get("default_transaction_read_only")
                        .ok()
                        == Some("on")
                });
                let mut tag = CommandTag::new("BEGIN");
                if self.txn.begin(read_only) {
                    self.set_transaction_read_only(read_only);
                } else {
                    tag.notice = Some("there is already a transaction in progress".into());
                }
                Ok(Output::Command(tag))
            }
            Statement::Commit { .. } => {
                let commit = self.txn.commit();
                // The block has ended whatever the write below does (an interrupted or
                // failed COMMIT ends it too, as on PostgreSQL).
                self.end_transaction();
                let result = match commit {
                    Commit::NoBlock => Ok(CommandTag {
                        notice: Some("there is no transaction in progress".into()),
                        ..CommandTag::new("COMMIT")
                    }),
                    Commit::RolledBack => Ok(CommandTag::new("ROLLBACK")),
                    Commit::Write(batches) => self
                        .txn
                        .write_now(&engine, batches)
                        .await
                        .map(|()| CommandTag::new("COMMIT")),
                };
                // Holdable cursors outlive a block that committed.
                self.cursors
                    .end_block(result.as_ref().is_ok_and(|t| t.tag == "COMMIT"));
                result.map(Output::Command)
            }
            // SQL-level prepared statements (the protocol's live in the server crate).
            Statement::Deallocate { name, .. } if name.value.eq_ignore_ascii_case("all") => {
                self.sql_prepared.lock().clear();
                Ok(Output::Command(CommandTag::new("DEALLOCATE ALL")))
            }
            Statement::Deallocate { name, .. } => {
                let name = crate::ddl::ident_name(name);
                match self.sql_prepared.lock().remove(&name) {
                    Some(_) => Ok(Output::Command(CommandTag::new("DEALLOCATE"))),
                    None => Err(QueryError::UndefinedPreparedStatement(name)),
                }
            }
            Statement::Prepare {
                name,
                data_types,
                statement,
            } => {
                let name = crate::ddl::ident_name(name);
                if self.sql_prepared.lock().contains_key(&name) {
                    return Err(QueryError::DuplicatePreparedStatement(name));
                }
                let declared = data_types
                    .iter()
                    .map(|t| crate::types::SqlType::from_ast(t).map(|t| t.arrow_type()))
                    .collect::<Result<Vec<_>>>()?;
                let prepared = Box::pin(self.prepare((**statement).clone())).await?;
                self.sql_prepared.lock().insert(
                    name,
                    SqlPrepared {
                        prepared: Arc::new(prepared),
                        declared,
                    },
                );
                Ok(Output::Command(CommandTag::new("PREPARE")))
            }
            Statement::Execute {
                name: Some(name),
                parameters,
                immediate: false,
                ..
            } => {
                let name = crate::ddl::table_name(name, &self.shared.database)?;
                let stored = self
                    .sql_prepared
                    .lock()
                    .get(&name)
                    .cloned()
                    .ok_or(QueryError::UndefinedPreparedStatement(name))?;
                let params = self.execute_params(&stored, parameters)?;
                Box::pin(self.run(&stored.prepared, params)).await
            }
            Statement::Close { cursor } => {
                let tag = match cursor {
                    ast::CloseCursor::All => {
                        self.cursors.close_all();
                        "CLOSE CURSOR ALL"
                    }
                    ast::CloseCursor::Specific { name } => {
                        self.cursors.close(&ddl::ident_name(name))?;
                        "CLOSE CURSOR"
                    }
                };
                Ok(Output::Command(CommandTag::new(tag)))
            }
            Statement::Savepoint { name } => {
                self.txn.savepoint(&ddl::ident_name(name))?;
                Ok(Output::Command(CommandTag::new("SAVEPOINT")))
            }
            Statement::ReleaseSavepoint { name } => {
                self.txn.release(&ddl::ident_name(name))?;
                self.cursors.release(self.txn.depth().unwrap_or(0));
                Ok(Output::Command(CommandTag::new("RELEASE")))
            }
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => {
                let kept = self.txn.rollback_to(&ddl::ident_name(name))?;
                self.cursors.rollback_to(self.txn.depth().unwrap_or(0));
                Ok(Output::Command(CommandTag {
                    notice: not_undone(&kept),
                    ..CommandTag::new("ROLLBACK")
                }))
            }
            Statement::Rollback {
                savepoint: None, ..
            } => {
                let notice = match self.txn.rollback() {
                    None => Some("there is no transaction in progress".into()),
                    Some(kept) => not_undone(&kept),
                };
                self.cursors.end_block(false);
                self.end_transaction();
                Ok(Output::Command(CommandTag {
                    notice,
                    ..CommandTag::new("ROLLBACK")
                }))
            }
            Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                ..
            } => {
                let format = crate::copy::CopyFormat::from_options(options, legacy_options)?;
                match (to, target) {
                    (false, ast::CopyTarget::Stdin) => {
                        self.check_writable("COPY FROM")?;
                        let (zone, order) = {
                            let settings = self.settings.read();
                            (settings.time_zone().to_owned(), settings.date_style().order)
                        };
                        let copy = copy_in_target(&engine, &db, &self.ctx.state(), source, format)?
                            .in_session_style(&zone, order);
                        Ok(Output::CopyIn(Box::new(copy)))
                    }
                    (true, ast::CopyTarget::Stdout) => {
                        let query = match source {
                            ast::CopySource::Table {
                                table_name,
                                columns,
                            } => {
                                let cols = if columns.is_empty() {
                                    "*".to_owned()
                                } else {
                                    columns
                                        .iter()
                                        .map(|c| format!("\"{}\"", ddl::ident_name(c)))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                };
                                let name = ddl::table_name(table_name, &db)?;
                                format!("SELECT {cols} FROM \"{name}\"")
                            }
                            ast::CopySource::Query(q) => q.to_string(),
                        };
                        let mut statements = self.parse(&query)?;
                        let prepared = self.plan(statements.remove(0)).await?;
                        let Output::Rows(stream) = Box::pin(self.execute(&prepared, None)).await?
                        else {
                            return Err(QueryError::Syntax("COPY TO needs a query".into()));
                        };
                        let style = crate::pgtext::TextStyle::of(&self.settings.read());
                        Ok(Output::CopyOut(Box::new(CopyOut::new(
                            stream, format, style,
                        ))))
                    }
                    (false, _) => Err(QueryError::Unsupported(
                        "COPY FROM a file or program (use COPY ... FROM STDIN, or psql's \\copy)"
                            .into(),
                    )),
                    (true, _) => Err(QueryError::Unsupported(
                        "COPY TO a file or program (use COPY ... TO STDOUT, or psql's \\copy)"
                            .into(),
                    )),
                }
            }
            other => Err(unsupported_statement(other)),
        }
    }

    /// Completes a `COPY ... FROM STDIN`: writes every parsed row (nothing is written
    /// if the data had an error). Returns the row count.
    pub async fn finish_copy(&self, copy: CopyIn) -> Result<u64> {
        let result = async {
            let (batches, rows) = blocking(move || copy.finish()).await?;
            self.txn.write(&self.shared.engine, batches).await?;
            Ok(rows)
        }
        .await;
        if result.is_err() {
            self.txn.fail();
        }
        result
    }

    /// Runs a storage change on a blocking thread, past the statement's commit point.
    /// Each `DEFAULT` of a `CREATE TABLE` must plan alone, read no column and convert to
    /// its column's type, as PostgreSQL checks when the table is created.
    fn check_defaults(&self, ct: &ast::CreateTable) -> Result<()> {
        let state = self.ctx.state();
        let empty = datafusion::common::DFSchema::empty();
        for def in &ct.columns {
            let decl = ddl::column(def)?;
            let Some(default) = decl.default else {
                continue;
            };
            use datafusion::logical_expr::ExprSchemable;
            use std::ops::ControlFlow;
            let reads_column = ast::visit_expressions(&default, |e| match e {
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            })
            .is_break();
            if reads_column {
                return Err(QueryError::Unsupported(
                    "a column reference in a DEFAULT expression".into(),
                ));
            }
            let planned = state.create_logical_expr_from_sql_expr(
                ast::ExprWithAlias {
                    expr: default.clone(),
                    alias: None,
                },
                &empty,
            );
            let expr = match planned {
                Ok(expr) => expr,
                Err(e) => {
                    return Err(crate::resolve::missing_function(&state, &default)
                        .unwrap_or_else(|| QueryError::from(e)))
                }
            };
            let from = expr.get_type(&empty)?;
            if !assignable(&from, &decl.ty.arrow_type()) {
                return Err(QueryError::DatatypeMismatch(format!(
                    "column \"{}\" is of type {} but default expression is of type {}",
                    decl.name,
                    decl.ty,
                    crate::information_schema::PgColumnType::of(&from).data_type
                )));
            }
        }
        Ok(())
    }

    /// `CREATE TABLE ... AS query`: the query is planned first (a bad one creates nothing),
    /// the table is made with its columns, then its rows are inserted as by `INSERT INTO
    /// ... query`; if that fails the table is dropped again. The tag is `SELECT n`, as in
    /// PostgreSQL.
    async fn create_table_as(&self, ct: &ast::CreateTable) -> Result<Output> {
        self.check_writable("CREATE TABLE")?;
        let query = ct.query.clone().expect("checked by the caller");
        if !ct.columns.is_empty() {
            return Err(QueryError::Unsupported(
                "a column list in CREATE TABLE ... AS".into(),
            ));
        }
        let Prepared::Plan { plan, output, .. } =
            self.plan(Statement::Query(query.clone())).await?
        else {
            return Err(QueryError::Unsupported(
                "this query in CREATE TABLE ... AS".into(),
            ));
        };
        let schema = output.unwrap_or_else(|| Arc::new(plan.schema().as_arrow().clone()));
        let mut create = (*ct).clone();
        create.query = None;
        create.columns = ddl::columns_for(&schema)?;
        let (engine, db) = (
            Arc::clone(&self.shared.engine),
            self.shared.database.clone(),
        );
        let created = {
            let create = create.clone();
            self.commit(move || ddl::create_table(&engine, &create, &db))
                .await?
        };
        if !created {
            return Ok(Output::Command(CommandTag {
                tag: "CREATE TABLE AS".into(),
                rows: None,
                notice: Some(format!(
                    "relation \"{}\" already exists, skipping",
                    create.name
                )),
            }));
        }
        let insert = self
            .parse(&format!("INSERT INTO {} {query}", create.name))?
            .remove(0);
        let inserted = match self.prepare(insert).await {
            // `run` leads back here through `utility`: boxed, as async recursion must be.
            Ok(prepared) => Box::pin(self.run(&prepared, None)).await,
            Err(e) => Err(e),
        };
        match inserted {
            Ok(Output::Command(tag)) => Ok(Output::Command(CommandTag {
                tag: "SELECT".into(),
                rows: tag.rows,
                notice: None,
            })),
            Ok(_) => Err(QueryError::Unsupported(
                "this query in CREATE TABLE ... AS".into(),
            )),
            Err(e) => {
                let (engine, db) = (
                    Arc::clone(&self.shared.engine),
                    self.shared.database.clone(),
                );
                let names = vec![create.name.clone()];
                // The table is new and holds nothing another session relies on.
                let _ = blocking(move || {
                    ddl::drop_tables(&engine, ObjectType::Table, true, &names, &db)
                })
                .await;
                Err(e)
            }
        }
    }

    async fn commit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.txn.gate().begin_commit()?;
        blocking(f).await
    }

    /// Fails with 25006 in a `READ ONLY` block, or outside a block when
    /// `default_transaction_read_only` is on (each statement is its own transaction).
    fn check_writable(&self, what: &str) -> Result<()> {
        let read_only = self.txn.read_only().unwrap_or_else(|| {
            self.settings
                .read()
                .get("default_transaction_read_only")
                .ok()
                == Some("on")
        });
        if read_only {
            return Err(QueryError::ReadOnlyTransaction(what.to_owned()));
        }
        Ok(())
    }

    /// The access mode of `BEGIN ...` / `SET TRANSACTION ...` modes (`None`: not given).
    /// Isolation levels above READ COMMITTED fail with 0A000: Strata does not keep one
    /// snapshot across statements.
    fn transaction_modes(&self, modes: &[ast::TransactionMode]) -> Result<Option<bool>> {
        use ast::{TransactionAccessMode, TransactionIsolationLevel, TransactionMode};
        let mut read_only = None;
        for m in modes {
            match m {
                TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => {
                    read_only = Some(true)
                }
                TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => {
                    read_only = Some(false)
                }
                TransactionMode::IsolationLevel(
                    TransactionIsolationLevel::ReadCommitted
                    | TransactionIsolationLevel::ReadUncommitted,
                ) => {}
                TransactionMode::IsolationLevel(level) => {
                    return Err(QueryError::Unsupported(format!(
                        "transaction isolation level {level} (Strata's transactions are READ COMMITTED)"
                    )))
                }
            }
        }
        Ok(read_only)
    }

    fn set_transaction_read_only(&self, read_only: bool) {
        let value = if read_only { "on" } else { "off" };
        let _ = self.settings.write().set("transaction_read_only", value);
    }

    /// A block ended: `transaction_read_only` is the session default again.
    fn end_transaction(&self) {
        let default = self
            .settings
            .read()
            .get("default_transaction_read_only")
            .ok()
            == Some("on");
        self.set_transaction_read_only(default);
    }

    /// `DELETE`: `plan` is its condition query with parameters bound (`None`: no WHERE).
    async fn delete(&self, d: &ast::Delete, plan: Option<LogicalPlan>) -> Result<Output> {
        let engine = Arc::clone(&self.shared.engine);
        let table = delete::delete_target(d, &self.shared.database)?;
        let condition = match plan {
            None => delete::Condition {
                predicate: strata_storage::Predicate::All,
                residual: None,
            },
            Some(plan) => {
                let def = crate::table::TableDef::new(ddl::schema_of(&engine, &table)?)?;
                delete::condition_of(&self.ctx.state(), &def, plan)?
            }
        };
        self.check_writable("DELETE")?;
        self.txn.check_unstaged(&table, "DELETE")?;
        let user = self.user.clone();
        let erasure = self
            .commit(move || {
                delete::erase(
                    &engine,
                    strata_storage::ErasureKind::Delete,
                    &user,
                    None,
                    vec![(table, condition.predicate, condition.residual)],
                )
            })
            .await?;
        Ok(Output::Command(CommandTag {
            tag: "DELETE".into(),
            rows: Some(erasure.rows()),
            notice: None,
        }))
    }

    /// `ERASE SUBJECT` (as `CALL strata.erase_subject(...)`); `plan` computes the value.
    async fn erase_subject(&self, f: &ast::Function, plan: LogicalPlan) -> Result<Output> {
        if !self.superuser {
            return Err(QueryError::InsufficientPrivilege(
                "only a superuser may run ERASE SUBJECT".into(),
            ));
        }
        let (_, tables) = call::erase_subject_args(f)
            .ok_or_else(|| QueryError::UndefinedProcedure(f.name.to_string()))??;
        let batches = self.ctx.execute_logical_plan(plan).await?.collect().await?;
        let value: Option<String> = match batches.iter().find(|b| b.num_rows() > 0) {
            // Text may come as Utf8View; one cast reads every string type.
            Some(b) => {
                let text = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
                let s = text.as_string::<i32>();
                arrow::array::Array::is_valid(s, 0).then(|| s.value(0).to_owned())
            }
            None => None,
        };
        let value = value.ok_or_else(|| {
            QueryError::NullValueNotAllowed("ERASE SUBJECT needs a subject value, not NULL".into())
        })?;
        let engine = Arc::clone(&self.shared.engine);
        let user = self.user.clone();
        self.check_writable("ERASE SUBJECT")?;
        for t in self.txn.staged_tables() {
            self.txn.check_unstaged(&t, "ERASE SUBJECT")?;
        }
        let erasure = self
            .commit(move || {
                let targets = delete::subject_tables(&engine, &value, &tables)?;
                let hash = engine.subject_hash(&value);
                delete::erase(
                    &engine,
                    strata_storage::ErasureKind::Subject,
                    &user,
                    Some(hash),
                    targets.into_iter().map(|(t, p)| (t, p, None)).collect(),
                )
            })
            .await?;
        Ok(rows_output(call::erase_batch(&erasure)))
    }

    fn set(&self, set: &Set) -> Result<Output> {
        let assign = |name: &str, value: String| -> Result<()> {
            self.settings.write().set(name, &value)?;
            Ok(())
        };
        match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = variable.to_string();
                if values.len() == 1 && is_default(&values[0]) {
                    self.settings.write().reset(&name)?;
                } else {
                    let value = values.iter().map(set_value).collect::<Vec<_>>().join(", ");
                    assign(&name, value)?;
                    if name.eq_ignore_ascii_case("transaction_read_only") {
                        let on =
                            self.settings.read().get("transaction_read_only").ok() == Some("on");
                        self.txn.set_read_only(on);
                    }
                }
            }
            Set::SetTimeZone { value, .. } => assign("timezone", set_value(value))?,
            Set::SetNames { charset_name, .. } => {
                assign("client_encoding", charset_name.value.clone())?
            }
            Set::SetNamesDefault {} => self.settings.write().reset("client_encoding")?,
            Set::SetTransaction { modes, session, .. } => {
                let read_only = self.transaction_modes(modes)?;
                if let Some(ro) = read_only {
                    if *session {
                        assign(
                            "default_transaction_read_only",
                            if ro { "on" } else { "off" }.into(),
                        )?;
                    } else if self.txn.set_read_only(ro) {
                        self.set_transaction_read_only(ro);
                    } else {
                        return Ok(Output::Command(CommandTag {
                            notice: Some(
                                "SET TRANSACTION can only be used in transaction blocks".into(),
                            ),
                            ..CommandTag::new("SET")
                        }));
                    }
                }
            }
            Set::MultipleAssignments { assignments } => {
                for a in assignments {
                    assign(&a.name.to_string(), set_value(&a.value))?;
                }
            }
            other => return Err(QueryError::Unsupported(format!("{other}"))),
        }
        self.sync_flags();
        Ok(Output::Command(CommandTag::new("SET")))
    }

    fn sync_flags(&self) {
        let pushdown = self.settings.read().pushdown();
        if pushdown != self.flags.pushdown() {
            self.flags
                .pushdown
                .store(pushdown, std::sync::atomic::Ordering::Relaxed);
            // SessionContext is shared by reference inside; rebuild its state in place.
            let fresh = build_context(
                &self.shared.base,
                &self.user,
                &self.settings,
                &self.flags,
                &self.hidden,
                &self.txn,
                pushdown,
            );
            let state = fresh.state();
            *self.ctx.state_ref().write() = state;
        }
    }

    fn show(&self, name: &str) -> Result<Output> {
        let settings = self.settings.read();
        let batch = if name == "all" {
            let (names, values): (Vec<&str>, Vec<&str>) = settings.all().unzip();
            let schema = Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new("setting", DataType::Utf8, false),
            ]));
            RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from(names)),
                    Arc::new(StringArray::from(values)),
                ],
            )
        } else {
            let value = settings.get(name)?;
            RecordBatch::try_new(
                show_schema(name),
                vec![Arc::new(StringArray::from(vec![value]))],
            )
        }
        .map_err(|e| QueryError::DataFusion(Box::new(e.into())))?;
        Ok(rows_output(batch))
    }
}

/// One batch as a statement's rows.
fn rows_output(batch: RecordBatch) -> Output {
    let schema = batch.schema();
    let stream = futures::stream::iter(vec![Ok(batch)]);
    Output::Rows(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
}

/// The same batches under another schema (same types, other names).
fn renamed(stream: SendableRecordBatchStream, schema: SchemaRef) -> SendableRecordBatchStream {
    use futures::StreamExt;
    let out = Arc::clone(&schema);
    let batches = stream.map(move |b| {
        b.and_then(|b| {
            // Types match the planned schema; only names and nullability come from `schema`.
            let fields: Vec<Field> = schema
                .fields()
                .iter()
                .zip(b.schema().fields())
                .map(|(want, got)| {
                    Field::new(want.name(), got.data_type().clone(), got.is_nullable())
                })
                .collect();
            RecordBatch::try_new(Arc::new(Schema::new(fields)), b.columns().to_vec())
                .map_err(Into::into)
        })
    });
    Box::pin(RecordBatchStreamAdapter::new(out, batches))
}

fn show_schema(name: &str) -> SchemaRef {
    if name == "all" {
        return Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("setting", DataType::Utf8, false),
        ]));
    }
    Arc::new(Schema::new(vec![Field::new(
        crate::settings::display_name(name),
        DataType::Utf8,
        false,
    )]))
}

fn show_name(variable: &[ast::Ident]) -> String {
    let words: Vec<String> = variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    match words.join(" ").as_str() {
        "transaction isolation level" => "transaction_isolation".into(),
        "time zone" => "timezone".into(),
        _ => words.join("."),
    }
}

fn is_default(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.value.eq_ignore_ascii_case("default"))
}

fn set_value(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

/// `statements` as parsed by the compatibility parser, but with the places in `sql` of
/// their parts (for the `position` of errors). That parser drops token places; where
/// sqlparser's own parse, after the same rewrites, gives the same statements (spans take no
/// part in comparing them), that one is used. Where the compatibility parser replaced a
/// known client query, its statements stand, without places.
///
/// In the first case Strata's catalog-subquery rewrite ([`crate::rewrite::before_compatibility_rules`])
/// runs before the compatibility rules, which replace a correlated subquery in a select list
/// by NULL: made into a form DataFusion plans first, psql's `\d` reads column defaults.
fn with_spans(
    parser: &PostgresCompatibilityParser,
    sql: &str,
    statements: Vec<Statement>,
) -> Vec<Statement> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let Ok(spanned) = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
    else {
        return statements;
    };
    if spanned.len() != statements.len() {
        return statements;
    }
    let rewritten: Vec<Statement> = spanned.iter().cloned().map(|s| parser.rewrite(s)).collect();
    if rewritten != statements {
        return statements;
    }
    spanned
        .into_iter()
        .map(|s| parser.rewrite(crate::rewrite::before_compatibility_rules(s)))
        .collect()
}

/// sqlparser's own error for `sql`, which carries its place.
fn placed_parse_error(sql: &str) -> Option<datafusion::sql::sqlparser::parser::ParserError> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .err()
}

/// A parse error as 42601 at the place sqlparser reports. sqlparser's errors are text: its
/// place is the `Display` of a [`Location`](ast::Spanned) it appends, " at Line: L, Column: C".
fn syntax_error(e: datafusion::sql::sqlparser::parser::ParserError) -> QueryError {
    use datafusion::sql::sqlparser::parser::ParserError;
    use datafusion::sql::sqlparser::tokenizer::Location;
    let message = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => {
            return QueryError::TooComplex("statement nesting is too deep".into())
        }
    };
    let place = message.rsplit_once(" at Line: ").and_then(|(text, place)| {
        let (line, column) = place.split_once(", Column: ")?;
        Some((
            text,
            Location::new(line.parse().ok()?, column.parse().ok()?),
        ))
    });
    match place {
        Some((text, location)) => QueryError::Syntax(text.to_owned()).at(location),
        None => QueryError::Syntax(message),
    }
}

/// Whether `statement` calls the function `name` anywhere (a walk of the AST that stops at
/// the first call; no copy of the statement's text).
fn calls_function(statement: &Statement, name: &str) -> bool {
    use std::ops::ControlFlow;
    ast::visit_expressions(statement, |e| match e {
        Expr::Function(f)
            if f.name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case(name)) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// The `CopyIn` of `COPY table [(columns)] FROM STDIN`: the table and columns must exist and
/// be writable this way. Checked when the statement is prepared too, so that in the extended
/// protocol a bad COPY fails at Parse, before the client enters copy mode, as in PostgreSQL.
/// Columns it leaves out get their `DEFAULT`s, evaluated with `state`.
fn copy_in_target(
    engine: &Engine,
    db: &str,
    state: &SessionState,
    source: &ast::CopySource,
    format: crate::copy::CopyFormat,
) -> Result<CopyIn> {
    let ast::CopySource::Table {
        table_name,
        columns,
    } = source
    else {
        return Err(QueryError::Syntax("COPY FROM needs a table".into()));
    };
    let name = ddl::table_name(table_name, db)?;
    let schema = match engine.table_schema(&name) {
        Ok(s) => s,
        Err(strata_storage::Error::TableNotFound { .. }) => {
            return Err(QueryError::UndefinedTable(name))
        }
        Err(e) => return Err(e.into()),
    };
    let def = crate::table::TableDef::new(schema)?;
    let cols: Vec<String> = columns.iter().map(ddl::ident_name).collect();
    let defaults = crate::defaults::constant_defaults(state, &def, &cols)?;
    CopyIn::new(def, &cols, format, &defaults)
}

/// Whether a value of type `from` may be stored in a column of type `to` without a cast, as
/// PostgreSQL's assignment casts allow: within numbers, within dates and times, into text,
/// and from a text literal (PostgreSQL's `unknown`) or NULL, which are converted when stored.
fn assignable(from: &DataType, to: &DataType) -> bool {
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    from == to
        || from.is_null()
        || text(from)
        || text(to)
        || from.is_numeric() && to.is_numeric()
        || from.is_temporal() && to.is_temporal()
}

/// Statements a failed block still accepts: its end, or a way back to a savepoint.
fn ends_failed_block(s: &Statement) -> bool {
    matches!(s, Statement::Rollback { .. } | Statement::Commit { .. })
}

/// Statements that take effect when they run even inside a block (their tag, for the
/// warning of a `ROLLBACK` that cannot undo them).
fn immediate_in_block(s: &Statement) -> Option<String> {
    let what = match s {
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView(_) => "CREATE VIEW",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::Comment { .. } => "COMMENT",
        Statement::Drop {
            object_type: ObjectType::View,
            ..
        } => "DROP VIEW",
        Statement::Drop {
            object_type: ObjectType::Index,
            ..
        } => "DROP INDEX",
        Statement::Drop { .. } => "DROP TABLE",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::Delete(_) => "DELETE",
        Statement::Truncate(_) => "TRUNCATE",
        Statement::Call(_) => "CALL",
        _ => return None,
    };
    Some(what.to_owned())
}

/// The warning of a `ROLLBACK` (or `ROLLBACK TO SAVEPOINT`) past statements that took
/// effect when they ran.
fn not_undone(kept: &[String]) -> Option<String> {
    (!kept.is_empty()).then(|| {
        format!(
            "ROLLBACK does not undo {}: Strata applies DDL, DELETE, TRUNCATE and ERASE SUBJECT when they run, even in a transaction block",
            kept.join(", ")
        )
    })
}

/// Rejects, at prepare time, statements Strata will not run.
fn check_utility(s: &Statement) -> Result<()> {
    match s {
        Statement::CreateTable(_)
        | Statement::CreateView(_)
        | Statement::CreateIndex(_)
        | Statement::Comment { .. }
        | Statement::Drop { .. }
        | Statement::AlterTable(_)
        | Statement::Set(_)
        | Statement::Reset(_)
        | Statement::Discard { .. }
        | Statement::ShowVariable { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. }
        | Statement::Deallocate { .. }
        | Statement::Prepare { .. }
        | Statement::Execute { .. }
        | Statement::Close { .. }
        | Statement::Delete(_)
        | Statement::Truncate(_)
        | Statement::Copy { .. } => Ok(()),
        Statement::Call(f) => call::resolve(f).map(|_| ()),
        other => Err(unsupported_statement(other)),
    }
}

/// The one cursor of a `DECLARE` and its query. Only PostgreSQL's `DECLARE ... CURSOR FOR
/// query` reaches here (sqlparser's PostgreSQL grammar has no other); `BINARY` cursors are
/// not supported.
fn declared_cursor(stmts: &[ast::Declare]) -> Result<(&ast::Declare, &ast::Query)> {
    match stmts {
        [d] if d.names.len() == 1 => {
            if d.binary == Some(true) {
                return Err(QueryError::Unsupported("DECLARE ... BINARY CURSOR".into()));
            }
            match &d.for_query {
                Some(q) if d.declare_type == Some(ast::DeclareType::Cursor) => Ok((d, q)),
                _ => Err(QueryError::Unsupported("DECLARE of a variable".into())),
            }
        }
        _ => Err(QueryError::Unsupported("DECLARE of several names".into())),
    }
}

fn unsupported_statement(s: &Statement) -> QueryError {
    let text = s.to_string();
    let kind: String = text
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    QueryError::Unsupported(format!("the statement {kind}"))
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        QueryError::DataFusion(Box::new(datafusion::error::DataFusionError::External(
            Box::new(e),
        )))
    })?
}
