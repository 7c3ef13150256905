//! The HTTP listener: InfluxDB line-protocol writes, `/ping` and `/health`.
//!
//! - `POST /write` (InfluxDB 1.x): `db`, `precision` (`ns`, `u`, `ms`, `s`, `m`, `h`),
//!   credentials as `u`/`p` parameters or `Authorization: Basic` (or `Token`).
//! - `POST /api/v2/write` (InfluxDB 2.x): `bucket`, `org` (ignored), `precision` (`ns`,
//!   `us`, `ms`, `s`), credentials as `Authorization: Token <password>` or
//!   `Token <user>:<password>` (or Basic).
//! - Bodies may be `Content-Encoding: gzip`; the decoded body is limited to
//!   `max_body_bytes` (413 beyond).
//!
//! Status codes and error bodies follow InfluxDB's, so its client libraries report errors
//! properly: 204 when every line was written; 400 with a JSON body naming the rejected
//! lines (the others are written: partial writes); 401 without valid credentials; 404 for
//! an unknown database; 413 for an oversized body; 503 with `Retry-After` while the engine
//! is over its memory bound. v1 bodies are `{"error": "..."}`, v2 bodies are
//! `{"code": "...", "message": "..."}`.
//!
//! `GET /metrics` reports, in the Prometheus text format, the engine's unflushed bytes
//! and their bound (`memory_limit_bytes`), and background job runs and failures per kind.
//!
//! A 204 is sent only after the rows are durable in the WAL (the engine's fsync policy).
//! Parsing and writing run on blocking threads, never on the runtime's.

pub mod auth;
pub mod ingest;

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use strata_storage::Engine;

use crate::config::Config;
use ingest::{IngestOptions, Precision};

/// What the handlers share.
#[derive(Debug)]
pub struct HttpState {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
}

/// The routes.
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/write", post(write_v1))
        .route("/api/v2/write", post(write_v2))
        .route("/ping", get(ping).head(ping))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        // Bodies are read with our own limit, so that a 413 has InfluxDB's JSON body.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Which API a request came through: it decides parameter names and error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V1,
    V2,
}

/// An error response in the API's shape.
#[derive(Debug)]
struct HttpError {
    api: Api,
    status: StatusCode,
    /// The v2 `code` (`invalid`, `unauthorized`, `not found`, ...).
    code: &'static str,
    message: String,
    retry_after: Option<u32>,
}

impl HttpError {
    fn new(api: Api, status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        HttpError {
            api,
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = match self.api {
            Api::V1 => serde_json::json!({ "error": self.message }),
            Api::V2 => serde_json::json!({ "code": self.code, "message": self.message }),
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

async fn write_v1(
    State(state): State<Arc<HttpState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    write(state, Api::V1, params, headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn write_v2(
    State(state): State<Arc<HttpState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    write(state, Api::V2, params, headers, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn write(
    state: Arc<HttpState>,
    api: Api,
    params: HashMap<String, String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let config = &state.config;
    auth::authenticate(&params, &headers, &config.users).map_err(|e| {
        HttpError::new(api, StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
    })?;
    check_database(api, &params, &config.database)?;
    let precision = params.get("precision").map_or("ns", String::as_str);
    let precision = Precision::parse(precision, api == Api::V1).ok_or_else(|| {
        HttpError::new(
            api,
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("invalid precision {precision:?}"),
        )
    })?;
    let limit = config.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(body_error(api, limit, BodyError::TooLarge));
    }
    let raw = read_body(body, declared, limit)
        .await
        .map_err(|e| body_error(api, limit, e))?;
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str()) {
        None => false,
        Some(Ok(v)) if v.eq_ignore_ascii_case("gzip") => true,
        Some(Ok(v)) if v.eq_ignore_ascii_case("identity") => false,
        Some(v) => {
            return Err(HttpError::new(
                api,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid",
                format!("unsupported Content-Encoding {:?}", v.unwrap_or("?")),
            ))
        }
    };
    let opts = IngestOptions {
        precision,
        now_ns: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX),
        max_line_bytes: config.max_line_bytes,
    };
    let engine = Arc::clone(&state.engine);
    let result = tokio::task::spawn_blocking(move || -> Result<_, BodyError> {
        let decoded;
        let body: &[u8] = if gzip {
            decoded = gunzip(&raw, limit)?;
            &decoded
        } else {
            &raw
        };
        Ok(ingest::ingest(&engine, body, &opts))
    })
    .await
    .map_err(|e| {
        HttpError::new(
            api,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            e.to_string(),
        )
    })?;
    let outcome = match result {
        Err(e) => return Err(body_error(api, limit, e)),
        Ok(Err(e)) if e.is_retryable() => {
            let mut err = HttpError::new(
                api,
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            );
            err.retry_after = Some(1);
            return Err(err);
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "line-protocol write failed");
            return Err(HttpError::new(
                api,
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                e.to_string(),
            ));
        }
        Ok(Ok(o)) => o,
    };
    if outcome.rejected.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let shown: Vec<String> = outcome
        .rejected
        .iter()
        .take(10)
        .map(|r| format!("line {}: {}", r.line, r.reason))
        .collect();
    let more = outcome.rejected.len().saturating_sub(shown.len());
    let mut message = format!(
        "partial write: {} lines written, {} rejected: {}",
        outcome.written,
        outcome.rejected.len(),
        shown.join("; ")
    );
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    let body = match api {
        Api::V1 => serde_json::json!({
            "error": message,
            "written": outcome.written,
            "rejected": outcome.rejected.len(),
        }),
        Api::V2 => serde_json::json!({
            "code": "invalid",
            "message": message,
            "line": outcome.rejected[0].line,
            "written": outcome.written,
            "rejected": outcome.rejected.len(),
        }),
    };
    Ok((StatusCode::BAD_REQUEST, axum::Json(body)).into_response())
}

/// `db` (v1) or `bucket` (v2) must name the server's database; absent means that one.
/// A retention-policy suffix (`db/rp`, `bucket/autogen`) is accepted and ignored.
fn check_database(
    api: Api,
    params: &HashMap<String, String>,
    database: &str,
) -> Result<(), HttpError> {
    let key = match api {
        Api::V1 => "db",
        Api::V2 => "bucket",
    };
    let Some(name) = params.get(key).filter(|n| !n.is_empty()) else {
        return Ok(());
    };
    let db = name.split('/').next().unwrap_or(name);
    if db == database {
        return Ok(());
    }
    let message = match api {
        Api::V1 => format!("database not found: {name:?}"),
        Api::V2 => format!("bucket {name:?} not found"),
    };
    Err(HttpError::new(
        api,
        StatusCode::NOT_FOUND,
        "not found",
        message,
    ))
}

/// The response for a body that could not be read, was too large or did not decompress.
fn body_error(api: Api, limit: usize, e: BodyError) -> HttpError {
    match e {
        BodyError::TooLarge => HttpError::new(
            api,
            StatusCode::PAYLOAD_TOO_LARGE,
            "request too large",
            format!("request body is larger than the limit of {limit} bytes"),
        ),
        BodyError::Read(e) => HttpError::new(
            api,
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("reading the request body: {e}"),
        ),
        BodyError::Gzip(e) => HttpError::new(
            api,
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("invalid gzip body: {e}"),
        ),
    }
}

/// Reads a body into one buffer sized by its `Content-Length` (no regrowth or copying of
/// a multi-megabyte batch), refusing more than `limit` bytes.
async fn read_body(
    body: Body,
    declared: Option<usize>,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(BodyError::Read)?.into_data() {
            if buf.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

#[derive(Debug)]
enum BodyError {
    TooLarge,
    /// The connection failed while the body was read.
    Read(axum::Error),
    Gzip(std::io::Error),
}

/// Decompresses a gzip body, refusing to produce more than `limit` bytes.
fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(raw).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(BodyError::Gzip)?;
    if out.len() > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(out)
}

/// The InfluxDB version clients are told (they use it to pick API features).
const INFLUX_VERSION: &str = "1.8.10";

async fn ping() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        "x-influxdb-version",
        HeaderValue::from_static(INFLUX_VERSION),
    );
    h.insert("x-influxdb-build", HeaderValue::from_static("OSS"));
    h.insert(
        "x-strata-version",
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    );
    r
}

async fn health() -> Response {
    axum::Json(serde_json::json!({
        "name": "strata",
        "message": "ready for queries and writes",
        "status": "pass",
        "checks": [],
        "version": env!("CARGO_PKG_VERSION"),
    }))
    .into_response()
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    use std::fmt::Write as _;
    let mut body = format!(
        "# HELP strata_unflushed_bytes Bytes held by memtables not yet flushed to segments.\n\
         # TYPE strata_unflushed_bytes gauge\n\
         strata_unflushed_bytes {}\n\
         # HELP strata_memory_limit_bytes Bound on unflushed bytes; past it writes get back-pressure.\n\
         # TYPE strata_memory_limit_bytes gauge\n\
         strata_memory_limit_bytes {}\n",
        state.engine.unflushed_bytes(),
        state.engine.memory_limit_bytes()
    );
    let counters = state.engine.job_counters();
    body.push_str(
        "# HELP strata_job_runs_total Background job runs finished, per job kind.\n\
         # TYPE strata_job_runs_total counter\n",
    );
    for (kind, runs, _) in &counters {
        let _ = writeln!(body, "strata_job_runs_total{{kind=\"{kind}\"}} {runs}");
    }
    body.push_str(
        "# HELP strata_job_failures_total Background job runs that failed, per job kind.\n\
         # TYPE strata_job_failures_total counter\n",
    );
    for (kind, _, failures) in &counters {
        let _ = writeln!(
            body,
            "strata_job_failures_total{{kind=\"{kind}\"}} {failures}"
        );
    }
    let cache = state.engine.cold_cache_stats();
    let _ = write!(
        body,
        "# HELP strata_cold_cache_hits_total Cold-read cache hits, in 1 MiB blocks.\n\
         # TYPE strata_cold_cache_hits_total counter\n\
         strata_cold_cache_hits_total {}\n\
         # HELP strata_cold_cache_misses_total Cold-read cache misses (blocks fetched from the store).\n\
         # TYPE strata_cold_cache_misses_total counter\n\
         strata_cold_cache_misses_total {}\n\
         # HELP strata_cold_cache_bytes Bytes the cold-read cache holds, of cold_cache_bytes.\n\
         # TYPE strata_cold_cache_bytes gauge\n\
         strata_cold_cache_bytes {}\n",
        cache.hits, cache.misses, cache.bytes
    );
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response()
}

/// Serves HTTP on `listener` until it fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<HttpState>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}
