//! The PostgreSQL wire protocol front end (`pgwire`).
//!
//! Every accepted socket gets its own [`Connection`]: its authentication state, its
//! [`strata_query::Session`] (created once the password is verified), its cancel token
//! and any COPY in progress. Statements are parsed, planned and run by the session;
//! this module turns their outputs into protocol messages and errors into SQLSTATEs
//! (through [`strata_query::QueryError::sqlstate`], the one mapping).

mod auth;
mod cancel;
mod encode;
mod params;
mod portal;

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::sql::sqlparser::ast::Statement;
use futures::{Sink, SinkExt};
use parking_lot::Mutex;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::CopyHandler;
use pgwire::api::copy::{send_copy_both_response, send_copy_in_response, send_copy_out_response};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{
    send_execution_response, send_query_response, send_ready_for_query, ExtendedQueryHandler,
    SimpleQueryHandler,
};
use pgwire::api::results::{CopyResponse, FieldInfo, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::PgWireConnectionState;
use pgwire::api::{ClientInfo, ClientPortalStore, ErrorHandler, PgWireServerHandlers, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{
    Close as PgClose, CloseComplete, Describe, Execute, Sync as PgSync, TARGET_TYPE_BYTE_PORTAL,
    TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::response::{EmptyQueryResponse, ReadyForQuery};
use pgwire::messages::simplequery::Query;
use pgwire::messages::PgWireBackendMessage;
use strata_query::copy::CopyIn;
use strata_query::{Output, Prepared, QueryEngine, QueryError, Session};
use tokio::net::TcpListener;

use crate::config::Config;
use auth::Users;
use cancel::{guard_commit, CancelRegistry, CancelToken, Interrupt, Registration};
use encode::{error, notice, parameter_status, rows_response};

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    pub query: Arc<QueryEngine>,
    users: Arc<Users>,
    pub config: Arc<Config>,
    cancel: Arc<CancelRegistry>,
    connections: std::sync::atomic::AtomicUsize,
}

impl Shared {
    pub fn new(query: Arc<QueryEngine>, config: Arc<Config>) -> Arc<Shared> {
        Arc::new(Shared {
            users: Arc::new(Users::new(&config)),
            query,
            config,
            cancel: Arc::new(CancelRegistry::default()),
            connections: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

/// Accepts connections until the listener fails.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    use std::sync::atomic::Ordering;
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        tokio::spawn(async move {
            let n = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
            let _count = ConnectionCount(&shared.connections);
            if n > shared.config.max_connections {
                tracing::warn!(%peer, limit = shared.config.max_connections, "too many connections");
                encode::reject_too_many(socket).await;
                return;
            }
            let conn = Handlers(Arc::new(Connection::new(Arc::clone(&shared))));
            if let Err(e) = pgwire::tokio::process_socket(socket, tls, conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

struct ConnectionCount<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for ConnectionCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// One client connection.
pub struct Connection {
    shared: Arc<Shared>,
    session: Arc<OnceLock<Arc<Session>>>,
    token: Arc<CancelToken>,
    /// Keeps this connection's cancel key registered for as long as it lives.
    _registration: Arc<Mutex<Option<Registration>>>,
    startup: Arc<auth::Startup>,
    copy: Mutex<Option<CopyState>>,
    parser: Arc<Parser>,
}

impl Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("session", &self.session.get())
            .finish_non_exhaustive()
    }
}

/// A COPY FROM STDIN in progress; the first data error is kept and reported at CopyDone.
struct CopyState {
    copy: CopyIn,
    failed: Option<QueryError>,
}

impl Connection {
    fn new(shared: Arc<Shared>) -> Connection {
        let session: Arc<OnceLock<Arc<Session>>> = Arc::new(OnceLock::new());
        let token = Arc::new(CancelToken::default());
        let registration = Arc::new(Mutex::new(None));
        let startup = {
            let (shared, session, token, registration) = (
                Arc::clone(&shared),
                Arc::clone(&session),
                Arc::clone(&token),
                Arc::clone(&registration),
            );
            auth::Startup::new(
                Arc::clone(&shared.users),
                shared.config.database.clone(),
                move |user: &str, pid: i32, key: Bytes, settings| {
                    let superuser = shared.config.user(user).is_none_or(|u| u.superuser);
                    let started = shared.query.session_as(user, superuser);
                    started.start_with(settings);
                    let _ = session.set(Arc::new(started));
                    *registration.lock() =
                        Some(shared.cancel.register(pid, key, Arc::clone(&token)));
                },
            )
        };
        Connection {
            parser: Arc::new(Parser {
                session: Arc::clone(&session),
            }),
            shared,
            session,
            token,
            _registration: registration,
            startup: Arc::new(startup),
            copy: Mutex::new(None),
        }
    }

    fn session(&self) -> PgWireResult<Arc<Session>> {
        self.session
            .get()
            .cloned()
            .ok_or_else(|| error(&QueryError::Syntax("not authenticated".into())))
    }

    /// Runs one statement under the cancel token and statement_timeout, and turns its
    /// output into a response (sending COPY OUT data itself).
    async fn run<C>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        prepared: &Prepared,
        params: Option<datafusion::common::ParamValues>,
        format: &Format,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = prepared.statement();
        let timeout = session.statement_timeout();
        let before = session.settings();
        let gate = session.transactions().gate();
        gate.reset();
        let output = match guard_commit(
            &self.token,
            timeout,
            gate,
            session.execute(prepared, params),
        )
        .await
        {
            Ok(r) => r.map_err(|e| error(&e))?,
            Err(i) => {
                session.transactions().fail();
                return Err(interrupted(i));
            }
        };
        let after = session.settings();
        parameter_status(client, &before, &after).await?;
        match output {
            Output::Rows(stream) => {
                let tag = match statement {
                    Statement::ShowVariable { .. } => "SHOW",
                    Statement::Explain { .. } => "EXPLAIN",
                    Statement::Fetch { .. } => "FETCH",
                    _ => "SELECT",
                };
                let schema = stream.schema();
                let rows = encode::guarded(stream, Arc::clone(&self.token), timeout);
                rows_response(rows, &schema, format, &after, tag, client).map(Response::Query)
            }
            Output::Command(t) => {
                if let Some(n) = &t.notice {
                    client.send(notice(n)).await?;
                }
                let mut tag = Tag::new(&t.tag);
                if t.tag == "INSERT" {
                    tag = tag.with_oid(0);
                }
                if let Some(rows) = t.rows {
                    tag = tag.with_rows(rows as usize);
                }
                // The transaction status ReadyForQuery reports comes from the session
                // (`on_query`, `on_sync`), not from the response kind.
                Ok(Response::Execution(tag))
            }
            Output::CopyIn(copy) => {
                let format = copy.format().wire_format();
                let columns = copy.column_count();
                *self.copy.lock() = Some(CopyState {
                    copy: *copy,
                    failed: None,
                });
                Ok(Response::CopyIn(CopyResponse::new(
                    format,
                    columns,
                    futures::stream::empty(),
                )))
            }
            Output::CopyOut(copy) => {
                let rows = encode::send_copy_out(client, *copy, &self.token, timeout).await?;
                Ok(Response::Execution(
                    Tag::new("COPY").with_rows(rows as usize),
                ))
            }
        }
    }
}

impl Connection {
    /// The columns of the SQL cursor a Describe or Close of a portal names, if it names
    /// one: a portal of the protocol's own takes precedence.
    fn cursor_portal<C>(
        &self,
        client: &mut C,
        target_type: u8,
        name: &Option<String>,
    ) -> Option<datafusion::arrow::datatypes::SchemaRef>
    where
        C: ClientPortalStore,
        C::PortalStore: PortalStore<Statement = Stored>,
    {
        let name = name.as_deref().filter(|n| !n.is_empty())?;
        if target_type != TARGET_TYPE_BYTE_PORTAL
            || client.portal_store().get_portal(name).is_some()
        {
            return None;
        }
        self.session().ok()?.cursor_schema(name).ok()
    }
}

/// What ReadyForQuery reports: the session's transaction block.
fn transaction_status(session: &Session) -> TransactionStatus {
    match session.transaction_status() {
        strata_query::TransactionStatus::Idle => TransactionStatus::Idle,
        strata_query::TransactionStatus::InBlock => TransactionStatus::Transaction,
        strata_query::TransactionStatus::Failed => TransactionStatus::Error,
    }
}

fn interrupted(i: Interrupt) -> PgWireError {
    error(&match i {
        Interrupt::Cancelled => QueryError::Canceled,
        Interrupt::TimedOut => QueryError::StatementTimeout,
    })
}

/// The per-connection handler set handed to pgwire.
struct Handlers(Arc<Connection>);

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.0)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.0)
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::clone(&self.0.startup)
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        Arc::clone(&self.0)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(Canceller(Arc::clone(&self.0.shared.cancel)))
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(LogErrors(Arc::clone(&self.0.session)))
    }
}

struct Canceller(Arc<CancelRegistry>);

#[async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.0.cancel(request.pid, &request.secret_key.to_bytes());
    }
}

/// Logs statement errors, and fails the session's transaction block on any error (those
/// pgwire itself raises, such as a bad Bind, included).
struct LogErrors(Arc<OnceLock<Arc<Session>>>);

impl ErrorHandler for LogErrors {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        tracing::debug!(peer = %client.socket_addr(), %error, "statement failed");
        if let Some(session) = self.0.get() {
            session.transactions().fail();
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    /// pgwire's `on_query`, except that ReadyForQuery reports the session's transaction
    /// status (pgwire derives it from response kinds, which cannot express `ROLLBACK TO
    /// SAVEPOINT` leaving a failed block).
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        if query.query.chars().all(|c| c == ';' || c.is_whitespace()) {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        } else {
            for r in SimpleQueryHandler::do_query(self, client, &query.query).await? {
                match r {
                    Response::EmptyQuery => {
                        client
                            .feed(PgWireBackendMessage::EmptyQueryResponse(
                                EmptyQueryResponse::new(),
                            ))
                            .await?;
                    }
                    Response::Query(results) => {
                        send_query_response(client, results, true).await?;
                    }
                    Response::Execution(tag)
                    | Response::TransactionStart(tag)
                    | Response::TransactionEnd(tag) => {
                        send_execution_response(client, tag).await?;
                    }
                    Response::Error(e) => {
                        client
                            .feed(PgWireBackendMessage::ErrorResponse((*e).into()))
                            .await?;
                    }
                    Response::CopyIn(result) => {
                        send_copy_in_response(client, result).await?;
                        client.set_state(PgWireConnectionState::CopyInProgress(false));
                    }
                    Response::CopyOut(result) => {
                        send_copy_out_response(client, result).await?;
                    }
                    Response::CopyBoth(result) => {
                        send_copy_both_response(client, result).await?;
                        client.set_state(PgWireConnectionState::CopyInProgress(false));
                    }
                }
            }
        }
        // During COPY FROM STDIN, ReadyForQuery comes after CopyDone.
        if !matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            client.set_state(PgWireConnectionState::ReadyForQuery);
            let status = self
                .session()
                .map_or(TransactionStatus::Idle, |s| transaction_status(&s));
            client.set_transaction_status(status);
            send_ready_for_query(client, status).await?;
        }
        Ok(())
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.session()?;
        self.token.reset();
        check_size(query, self.shared.config.max_query_bytes)?;
        let statements = session
            .parse(query)
            .map_err(|e| encode::error_in(&e, query))?;
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            if let Some(r) = portal::fetch(self, client, &session, &statement).await {
                match r {
                    Ok(r) => responses.push(r),
                    Err(PgWireError::UserError(info)) => {
                        session.transactions().fail();
                        responses.push(Response::Error(info));
                        break;
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }
            let prepared = match session.prepare(statement).await {
                Ok(p) => p,
                Err(e) => {
                    session.transactions().fail();
                    responses.push(Response::Error(Box::new(encode::error_info_in(&e, query))));
                    break;
                }
            };
            match self
                .run(client, &session, &prepared, None, &Format::UnifiedText)
                .await
            {
                Ok(r) => {
                    let copy_in = matches!(r, Response::CopyIn(_));
                    responses.push(r);
                    if copy_in {
                        break;
                    }
                }
                Err(PgWireError::UserError(info)) => {
                    session.transactions().fail();
                    responses.push(Response::Error(info));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(responses)
    }
}

fn check_size(query: &str, limit: usize) -> PgWireResult<()> {
    if query.len() > limit {
        return Err(encode::error_code(
            "54000",
            &format!(
                "query string of {} bytes exceeds max_query_bytes ({limit} bytes)",
                query.len()
            ),
        ));
    }
    Ok(())
}

/// A statement prepared through the extended protocol.
#[derive(Debug, Clone)]
pub struct Stored {
    prepared: Arc<Prepared>,
    param_types: Vec<Option<datafusion::arrow::datatypes::DataType>>,
    /// Per parameter: it stands for a `uuid` (text to Arrow, `uuid` to the client).
    param_uuid: Vec<bool>,
}

/// Parses and plans for the extended protocol.
#[derive(Debug)]
pub struct Parser {
    session: Arc<OnceLock<Arc<Session>>>,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Stored;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Stored>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = self
            .session
            .get()
            .cloned()
            .ok_or_else(|| error(&QueryError::Syntax("not authenticated".into())))?;
        let mut statements = session.parse(sql).map_err(|e| encode::error_in(&e, sql))?;
        if statements.len() > 1 {
            return Err(encode::error_code(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some(statement) = statements.pop() else {
            return Ok(None);
        };
        let prepared = session
            .prepare(statement)
            .await
            .map_err(|e| encode::error_in(&e, sql))?;
        let param_types = prepared.param_types().map_err(|e| error(&e))?;
        let param_uuid = prepared.uuid_params().map_err(|e| error(&e))?;
        Ok(Some(Stored {
            prepared: Arc::new(prepared),
            param_types,
            param_uuid,
        }))
    }

    fn get_parameter_types(&self, stmt: &Stored) -> PgWireResult<Vec<Type>> {
        stmt.param_types
            .iter()
            .enumerate()
            .map(|(i, t)| match t {
                _ if stmt.param_uuid.get(i).copied().unwrap_or(false) => Ok(Type::UUID),
                Some(t) => arrow_pg::datatypes::into_pg_type(t),
                None => Ok(Type::TEXT),
            })
            .collect()
    }

    fn get_result_schema(
        &self,
        stmt: &Stored,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match stmt.prepared.result_schema() {
            None => Ok(vec![]),
            Some(schema) => {
                encode::pg_fields(&schema, format.unwrap_or(&Format::UnifiedText), None)
            }
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for Connection {
    type Statement = Stored;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::clone(&self.parser)
    }

    /// pgwire's `on_execute`, with the statement clock restarted: an Execute that resumes
    /// a portal suspended by its row limit is a statement of its own for cancel requests
    /// and `statement_timeout`, as in PostgreSQL.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Stored>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.token.reset();
        self._on_execute(client, message).await
    }

    /// pgwire's `on_describe`, where a portal may also be a SQL cursor (`DECLARE`): as in
    /// PostgreSQL the two share one namespace, and psycopg describes its named cursors so.
    /// A statement that returns no rows (an INSERT with parameters, say) is described as
    /// ParameterDescription then NoData, as PostgreSQL does; pgwire sends an empty
    /// RowDescription instead whenever there are parameters, which pgJDBC takes for a
    /// query (its `executeBatch` then counts 0 rows per INSERT).
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Stored>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(schema) = self.cursor_portal(client, message.target_type, &message.name) {
            let fields = encode::pg_fields(&schema, &Format::UnifiedText, None)?;
            let response = pgwire::api::results::DescribePortalResponse::new(fields);
            pgwire::api::query::send_describe_response(client, &response).await?;
            return Ok(());
        }
        if message.target_type == TARGET_TYPE_BYTE_STATEMENT {
            let name = message.name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
            if let Some(Entry::Value(stmt)) = client.portal_store().get_statement(name) {
                if stmt.statement.prepared.result_schema().is_none() {
                    let described = self.do_describe_statement(client, &stmt).await?;
                    client
                        .send(PgWireBackendMessage::ParameterDescription(
                            ParameterDescription::new(
                                described.parameters.iter().map(Type::oid).collect(),
                            ),
                        ))
                        .await?;
                    client
                        .send(PgWireBackendMessage::NoData(NoData::new()))
                        .await?;
                    return Ok(());
                }
            }
        }
        self._on_describe(client, message).await
    }

    /// pgwire's `on_close`; closing a portal that is a SQL cursor closes the cursor.
    async fn on_close<C>(&self, client: &mut C, message: PgClose) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Stored>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let cursor = self
            .cursor_portal(client, message.target_type, &message.name)
            .is_some();
        let name = message.name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
        match message.target_type {
            _ if cursor => {
                if let Ok(session) = self.session() {
                    let _ = session.close_cursor(name);
                }
            }
            TARGET_TYPE_BYTE_PORTAL => client.portal_store().rm_portal(name),
            _ => client.portal_store().rm_statement(name),
        }
        client
            .send(PgWireBackendMessage::CloseComplete(CloseComplete::new()))
            .await?;
        Ok(())
    }

    /// pgwire's `on_sync`, reporting the session's transaction status.
    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Stored>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.portal_store().rm_portal(pgwire::api::DEFAULT_NAME);
        if let Ok(session) = self.session() {
            client.set_transaction_status(transaction_status(&session));
        }
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                client.transaction_status(),
            )))
            .await?;
        client.flush().await?;
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Stored>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Stored>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.session()?;
        self.token.reset();
        self.execute_portal(client, &session, portal).await
    }
}

impl Connection {
    /// Runs a bound portal's statement with its parameters and result formats.
    async fn execute_portal<C>(
        &self,
        client: &mut C,
        session: &Arc<Session>,
        portal: &Portal<Stored>,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let stored = &portal.statement.statement;
        let params = if stored.param_types.is_empty() && portal.parameters.is_empty() {
            None
        } else {
            Some(params::decode(portal)?)
        };
        self.run(
            client,
            session,
            &stored.prepared,
            params,
            &portal.result_column_format,
        )
        .await
    }
}

#[async_trait]
impl CopyHandler for Connection {
    async fn on_copy_data<C>(&self, _client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut guard = self.copy.lock();
        if let Some(state) = guard.as_mut() {
            if state.failed.is_none() {
                if let Err(e) = state.copy.push(&data.data) {
                    state.failed = Some(e);
                }
            }
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = self.copy.lock().take();
        let Some(state) = state else {
            return Err(encode::error_code(
                "08P01",
                "CopyDone without COPY in progress",
            ));
        };
        if let Some(e) = state.failed {
            return Err(error(&e));
        }
        let session = self.session()?;
        let timeout = session.statement_timeout();
        let gate = session.transactions().gate();
        gate.reset();
        let result =
            guard_commit(&self.token, timeout, gate, session.finish_copy(state.copy)).await;
        client.set_transaction_status(transaction_status(&session));
        let rows = match result {
            Ok(r) => r.map_err(|e| error(&e))?,
            Err(i) => {
                session.transactions().fail();
                return Err(interrupted(i));
            }
        };
        client
            .send(PgWireBackendMessage::CommandComplete(
                Tag::new("COPY").with_rows(rows as usize).into(),
            ))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, _client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.copy.lock().take();
        encode::error_code(
            "57014",
            &format!("COPY from stdin failed: {}", fail.message),
        )
    }
}
