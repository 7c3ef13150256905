//! From query outputs and errors to protocol messages.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use bytes::Bytes;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use futures::{Sink, SinkExt, Stream, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::QueryResponse;
use pgwire::api::ClientInfo;
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyOutResponse};
use pgwire::messages::response::NoticeResponse;
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::PgWireBackendMessage;
use pgwire::types::format::FormatOptions;
use strata_query::copy::CopyOut;
use strata_query::pgtext::TextStyle;
use strata_query::settings::{display_name, REPORTED};
use strata_query::{QueryError, Settings};
use tokio::io::AsyncWriteExt;

use super::cancel::{guard, CancelToken, Interrupt};

/// The ErrorResponse fields for an error: its SQLSTATE and message.
pub(crate) fn error_info(e: &QueryError) -> ErrorInfo {
    let code = e.sqlstate();
    let message = match e.unplaced() {
        QueryError::DataFusion(d) => strata_query::error::clean_message(&d.to_string()),
        other => other.to_string(),
    };
    ErrorInfo::new("ERROR".into(), code.into(), message)
}

/// [`error_info`] with PostgreSQL's `position` of the error in `sql`, the query text.
pub(crate) fn error_info_in(e: &QueryError, sql: &str) -> ErrorInfo {
    let mut info = error_info(e);
    info.position = e.position(sql).map(|p| p.to_string());
    info
}

pub(crate) fn error(e: &QueryError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(e)))
}

/// [`error`] with the error's `position` in `sql`.
pub(crate) fn error_in(e: &QueryError, sql: &str) -> PgWireError {
    PgWireError::UserError(Box::new(error_info_in(e, sql)))
}

pub(crate) fn error_code(code: &str, message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

pub(crate) fn notice(message: &str) -> PgWireBackendMessage {
    PgWireBackendMessage::NoticeResponse(NoticeResponse::from(ErrorInfo::new(
        "WARNING".into(),
        "01000".into(),
        message.into(),
    )))
}

/// Reports changed parameters (ParameterStatus), as Postgres does after `SET`.
pub(crate) async fn parameter_status<C>(
    client: &mut C,
    before: &Settings,
    after: &Settings,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for name in REPORTED {
        let (b, a) = (before.get(name).ok(), after.get(name).ok());
        if let (Some(b), Some(a)) = (b, a) {
            if a != b {
                client
                    .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                        display_name(name).to_owned(),
                        a.to_owned(),
                    )))
                    .await?;
            }
        }
    }
    Ok(())
}

/// How values are printed for this session.
pub(crate) fn format_options(settings: &Settings) -> Arc<FormatOptions> {
    let mut f = FormatOptions::default();
    if let Ok(v) = settings.get("datestyle") {
        f.date_style = v.to_owned();
    }
    if let Ok(v) = settings.get("intervalstyle") {
        f.interval_style = v.to_owned();
    }
    if let Ok(v) = settings.get("bytea_output") {
        f.bytea_output = v.to_owned();
    }
    if let Ok(v) = settings.get("timezone") {
        f.time_zone = v.to_owned();
    }
    if let Some(v) = settings
        .get("extra_float_digits")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        f.extra_float_digits = v;
    }
    Arc::new(f)
}

/// RowDescription fields of `schema` in `format`: `arrow-pg`'s, with `uuid` columns (text
/// in Arrow, marked by field metadata) typed `uuid`, likewise `varchar(n)`, `char(n)`,
/// `json` and `jsonb`, and `int2vector`/`oidvector` ones (lists in Arrow).
pub(crate) fn pg_fields(
    schema: &arrow::datatypes::Schema,
    format: &Format,
    options: Option<Arc<FormatOptions>>,
) -> PgWireResult<Vec<pgwire::api::results::FieldInfo>> {
    let fields = arrow_pg::datatypes::arrow_schema_to_pg_fields(schema, format, options)?;
    Ok(fields
        .into_iter()
        .zip(schema.fields())
        .map(|(info, field)| {
            let text_type = strata_query::types::text_type(field).map(|(oid, _)| oid);
            let pg_type = if let Some(t) = text_type.and_then(pgwire::api::Type::from_oid) {
                t
            } else if let Some(oid) = strata_query::types::vector_oid(field) {
                // A simple type with the vector's OID: pgwire quotes text it sends for
                // array kinds, and a vector's text (`1 2`) is not quoted.
                pgwire::api::Type::new(
                    format!("vector{oid}"),
                    oid,
                    postgres_types::Kind::Simple,
                    "pg_catalog".into(),
                )
            } else {
                return info;
            };
            let options = Arc::clone(info.format_options());
            pgwire::api::results::FieldInfo::new(
                info.name().to_owned(),
                info.table_id(),
                info.column_id(),
                pg_type,
                info.format(),
            )
            .with_format_options(options)
        })
        .collect())
}

/// A result stream that stops with 57014 when the statement is cancelled or times out.
pub(crate) fn guarded(
    stream: SendableRecordBatchStream,
    token: Arc<CancelToken>,
    timeout: Option<Duration>,
) -> impl Stream<Item = Result<RecordBatch, QueryError>> + Send {
    futures::stream::unfold(Some(stream), move |state| {
        let token = Arc::clone(&token);
        async move {
            let mut stream = state?;
            // Counted from the running Execute: a portal suspended by a row limit gets a
            // fresh timeout each time the client asks for more rows.
            let left = timeout.map(|t| {
                token
                    .deadline(t)
                    .saturating_duration_since(tokio::time::Instant::now())
            });
            match guard(&token, left, stream.next()).await {
                Ok(Some(Ok(b))) => Some((Ok(b), Some(stream))),
                Ok(Some(Err(e))) => Some((Err(QueryError::from(e)), None)),
                Ok(None) => None,
                Err(Interrupt::Cancelled) => Some((Err(QueryError::Canceled), None)),
                Err(Interrupt::TimedOut) => Some((Err(QueryError::StatementTimeout), None)),
            }
        }
    })
}

/// Row description and data rows for a result, in the portal's formats.
pub(crate) fn rows_response<C: ClientInfo>(
    batches: impl Stream<Item = Result<RecordBatch, QueryError>> + Send + 'static,
    schema: &arrow::datatypes::Schema,
    format: &Format,
    settings: &Settings,
    tag: &str,
    _client: &C,
) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(pg_fields(schema, format, Some(format_options(settings)))?);
    let row_fields = Arc::clone(&fields);
    let text_columns: Vec<bool> = (0..schema.fields().len())
        .map(|i| format.format_for(i) == pgwire::api::results::FieldFormat::Text)
        .collect();
    let uuid_columns: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| strata_query::types::is_uuid(f))
        .collect();
    let vector_columns: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| strata_query::types::vector_oid(f).is_some())
        .collect();
    let style = TextStyle::of(settings);
    let rows = batches
        .map(move |b| {
            let rows: Box<
                dyn Iterator<Item = PgWireResult<pgwire::messages::data::DataRow>> + Send,
            > = match b
                .and_then(|b| pg_text(b, &text_columns, &uuid_columns, &vector_columns, &style))
            {
                Ok(b) => arrow_pg::datatypes::encode_recordbatch(Arc::clone(&row_fields), b),
                Err(e) => Box::new(std::iter::once(Err(error(&e)))),
            };
            futures::stream::iter(rows)
        })
        .flatten();
    let mut response = QueryResponse::new(fields, rows);
    response.command_tag = tag.to_owned();
    Ok(response)
}

/// Values in text format as PostgreSQL prints them (`20`, not `20.0`; `Infinity`;
/// `2024-01-01 00:00:00+00` in the session time zone; intervals in `IntervalStyle`; `bytea`
/// in `bytea_output`), by handing the encoder their text ([`strata_query::pgtext::column`]);
/// intervals and numerics in binary format as their PostgreSQL binary bytes; `int2vector`s
/// and `oidvector`s (lists) in text as `1 2`. The column keeps its type in RowDescription.
fn pg_text(
    batch: RecordBatch,
    text: &[bool],
    uuid: &[bool],
    vector: &[bool],
    style: &TextStyle,
) -> Result<RecordBatch, QueryError> {
    use arrow::datatypes::DataType;
    use strata_query::pgtext;
    let is_uuid = |i: usize| uuid.get(i).copied().unwrap_or(false);
    let is_vector = |i: usize| vector.get(i).copied().unwrap_or(false);
    let converts = |i: usize, c: &arrow::array::ArrayRef| {
        if text[i] {
            is_vector(i) || pgtext::differs(c.data_type())
        } else {
            is_uuid(i)
                || matches!(
                    c.data_type(),
                    DataType::Interval(_) | DataType::Decimal128(..)
                )
        }
    };
    if !batch
        .columns()
        .iter()
        .enumerate()
        .any(|(i, c)| converts(i, c))
    {
        return Ok(batch);
    }
    let arrow_error = |e| QueryError::from(DataFusionError::from(e));
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (i, (field, col)) in batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .enumerate()
    {
        let converted: Option<(DataType, arrow::array::ArrayRef)> = if !converts(i, col) {
            None
        } else if text[i] && is_vector(i) {
            let s = pgtext::vector(col).map_err(arrow_error)?;
            Some((DataType::Utf8, Arc::new(s)))
        } else if text[i] {
            let s = pgtext::column(col, style).map_err(arrow_error)?;
            Some((DataType::Utf8, Arc::new(s)))
        } else {
            strata_query::copy::binary_column(col, is_uuid(i))?
                .map(|b| (DataType::Binary, Arc::new(b) as arrow::array::ArrayRef))
        };
        match converted {
            Some((data_type, values)) => {
                fields.push(Arc::new(arrow::datatypes::Field::new(
                    field.name(),
                    data_type,
                    true,
                )));
                columns.push(values);
            }
            None => {
                fields.push(Arc::clone(field));
                columns.push(Arc::clone(col));
            }
        }
    }
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    RecordBatch::try_new(schema, columns).map_err(arrow_error)
}

/// Sends a COPY TO STDOUT: CopyOutResponse, the data, CopyDone. Returns the row count
/// (the caller sends CommandComplete).
pub(crate) async fn send_copy_out<C>(
    client: &mut C,
    copy: CopyOut,
    token: &CancelToken,
    timeout: Option<Duration>,
) -> PgWireResult<u64>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let format = copy.format().wire_format();
    let columns = copy.column_count();
    let formats = vec![format as i16; columns];
    client
        .send(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
            format,
            columns as i16,
            formats,
        )))
        .await?;
    let mut chunks = Box::pin(copy.into_chunks());
    let mut rows = 0u64;
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
        let next = match guard(token, left, chunks.next()).await {
            Ok(n) => n,
            Err(Interrupt::Cancelled) => return Err(error(&QueryError::Canceled)),
            Err(Interrupt::TimedOut) => return Err(error(&QueryError::StatementTimeout)),
        };
        match next {
            None => break,
            Some(Err(e)) => return Err(error(&e)),
            Some(Ok(chunk)) => {
                rows += chunk.rows;
                let messages = chunk.messages();
                let data = Bytes::from(chunk.data);
                for range in messages {
                    client
                        .feed(PgWireBackendMessage::CopyData(CopyData::new(
                            data.slice(range),
                        )))
                        .await?;
                }
            }
        }
    }
    client
        .send(PgWireBackendMessage::CopyDone(CopyDone::new()))
        .await?;
    Ok(rows)
}

/// Answers a connection over the limit with Postgres' error and closes it (before
/// startup, so no TLS or protocol state is involved).
pub(crate) async fn reject_too_many(mut socket: tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    // Read (and drop) the startup or SSL request so the client sees the error.
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.read(&mut buf)).await;
    let fields = [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "53300"),
        (b'M', "sorry, too many clients already"),
    ];
    let mut body = Vec::new();
    for (k, v) in fields {
        body.push(k);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let is_ssl_request = buf[..8] == [0, 0, 0, 8, 4, 210, 22, 47];
    let mut msg = Vec::new();
    if is_ssl_request {
        msg.push(b'N'); // no TLS for this one; then the error
    }
    msg.push(b'E');
    msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    msg.extend_from_slice(&body);
    let _ = socket.write_all(&msg).await;
    let _ = socket.shutdown().await;
}
