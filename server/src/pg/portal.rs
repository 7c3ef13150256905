//! `FETCH` and `MOVE` of a protocol portal by name. PostgreSQL keeps SQL cursors and the
//! extended protocol's named portals in one namespace, and drivers rely on it: asyncpg's
//! `Cursor.forward(n)` sends `MOVE FORWARD n <portal>` for a portal it bound itself. Such a
//! portal reads forward only (55000 otherwise), from where its last Execute stopped.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::Statement;
use futures::{Sink, StreamExt};
use pgwire::api::portal::{Portal, PortalExecutionState};
use pgwire::api::results::{Response, Tag};
use pgwire::api::store::{Entry, MemPortalStore, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use strata_query::statements::cursor::{is_move, Direction};
use strata_query::{QueryError, Session};

use super::{encode, Connection, Stored};

/// Runs `statement` if it is a `FETCH` or `MOVE` naming one of this connection's protocol
/// portals rather than a SQL cursor; `None` leaves it to the session.
pub(super) async fn fetch<C>(
    conn: &Connection,
    client: &mut C,
    session: &Arc<Session>,
    statement: &Statement,
) -> Option<PgWireResult<Response>>
where
    C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::PortalStore: PortalStore,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let Statement::Fetch {
        name, direction, ..
    } = statement
    else {
        return None;
    };
    let name = strata_query::ddl::ident_name(name);
    // In a failed block the session refuses it (25P02).
    if session.transaction_status() == strata_query::TransactionStatus::Failed
        || !matches!(
            session.cursor_schema(&name),
            Err(QueryError::UndefinedCursor(_))
        )
    {
        return None;
    }
    let store = client
        .portal_store()
        .as_any()
        .downcast_ref::<MemPortalStore<Stored>>()?;
    let Some(Entry::Value(portal)) = store.get_portal(&name) else {
        return None;
    };
    Some(
        run(
            conn,
            client,
            session,
            &portal,
            direction,
            is_move(statement),
        )
        .await,
    )
}

async fn run<C>(
    conn: &Connection,
    client: &mut C,
    session: &Arc<Session>,
    portal: &Portal<Stored>,
    direction: &datafusion::sql::sqlparser::ast::FetchDirection,
    moving: bool,
) -> PgWireResult<Response>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let direction = Direction::of(direction).map_err(|e| encode::error(&e))?;
    let max_rows = match direction {
        Direction::Forward(0) => return Err(encode::error(&QueryError::CursorForwardOnly)),
        Direction::Forward(n) => usize::try_from(n).unwrap_or(usize::MAX),
        Direction::ForwardAll => 0,
        _ => return Err(encode::error(&QueryError::CursorForwardOnly)),
    };
    let started = !matches!(*portal.state().lock().await, PortalExecutionState::Initial);
    if !started {
        match conn.execute_portal(client, session, portal).await? {
            Response::Query(rows) => portal.start(rows).await,
            _ => {
                return Err(encode::error_code(
                    "55000",
                    &format!("portal \"{}\" does not return rows", portal.name),
                ))
            }
        }
    }
    let mut fetched = portal.fetch(max_rows).await?.response;
    if moving {
        let mut count = 0;
        while let Some(row) = fetched.data_rows().next().await {
            row?;
            count += 1;
        }
        return Ok(Response::Execution(Tag::new("MOVE").with_rows(count)));
    }
    fetched.set_command_tag("FETCH");
    Ok(Response::Query(fetched))
}
