//! The `strata` server: configuration ([`config`]), TLS ([`tls`]), the PostgreSQL wire
//! protocol front end ([`pg`]), InfluxDB line-protocol writes over HTTP ([`http`]) and the
//! process lifecycle ([`run`]).
//!
//! Invariants:
//! - The server never acknowledges a statement before the engine has made it durable
//!   (the engine's WAL policy decides what durable means; `always` by default).
//! - One client's bad input ends at most that client's statement or connection: errors
//!   become ErrorResponses with a SQLSTATE, and no handler panics on input.
//! - No blocking IO on runtime threads: engine calls run under `spawn_blocking` (in
//!   `strata-query`) or before the runtime serves connections.
//! - With the default password the server only listens on loopback.

pub mod config;
pub mod http;
pub mod pg;
pub mod tls;

use std::sync::Arc;

use anyhow::{Context, Result};
use strata_storage::{Engine, EngineConfig};
use tokio::net::TcpListener;

use crate::config::Config;

/// The addresses the server listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    pub pg: std::net::SocketAddr,
    pub http: std::net::SocketAddr,
}

/// Opens the data directory, starts listening and serves until SIGINT or SIGTERM.
/// `ready` is called with the bound addresses once connections are accepted.
pub async fn run(config: Config, ready: impl FnOnce(Listening)) -> Result<()> {
    let config = Arc::new(config);
    let mut engine_config = EngineConfig::new(&config.data_dir);
    engine_config.fsync = config.fsync;
    if let Some(m) = config.memory_limit_bytes {
        engine_config.memory_limit_bytes = m;
    }
    if let Some(w) = config.backpressure_wait {
        engine_config.backpressure_wait = w;
    }
    if let Some(a) = config.max_unflushed_age {
        engine_config.max_unflushed_age = a;
    }
    if let Some(n) = config.max_concurrent_jobs {
        engine_config.max_concurrent_jobs = n.max(1);
    }
    if let Some(b) = config.cold_cache_bytes {
        engine_config.cold_cache_bytes = b;
    }
    engine_config.cold_store = strata_storage::ColdStoreConfig {
        url: config.cold_store.clone(),
        s3: strata_storage::S3Config {
            endpoint: config.s3.endpoint.clone(),
            region: config.s3.region.clone(),
            access_key_id: config.s3.access_key_id.clone(),
            secret_access_key: config.s3.secret_access_key.clone(),
            allow_http: config.s3.allow_http,
        },
    };
    let engine = {
        let c = engine_config.clone();
        tokio::task::spawn_blocking(move || Engine::open(c))
            .await?
            .with_context(|| format!("opening data directory {}", config.data_dir.display()))?
    };
    let engine = Arc::new(engine);
    let query = strata_query::QueryEngine::new(Arc::clone(&engine), &config.database)
        .context("setting up the SQL catalog")?;
    query.set_roles(
        config
            .users
            .iter()
            .map(|u| strata_query::pg_catalog::roles::RoleInfo {
                name: u.name.clone(),
                superuser: u.superuser,
            })
            .collect(),
    );
    let tls = if config.tls.enabled {
        let (cert, key) = tls::ensure_certificate(&config.tls, &config.data_dir)?;
        Some(tls::acceptor(&cert, &key)?)
    } else {
        None
    };
    let listener = TcpListener::bind(config.pg_listen)
        .await
        .with_context(|| format!("listening on {}", config.pg_listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, tls = tls.is_some(), data_dir = %config.data_dir.display(), "serving PostgreSQL wire protocol");
    let http_listener = TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("listening on {}", config.http_listen))?;
    let http_addr = http_listener.local_addr()?;
    tracing::info!(addr = %http_addr, "serving InfluxDB line protocol over HTTP");
    ready(Listening {
        pg: addr,
        http: http_addr,
    });
    let shared = pg::Shared::new(query, Arc::clone(&config));
    let server = pg::serve(listener, shared, tls);
    let http_state = Arc::new(http::HttpState {
        engine: Arc::clone(&engine),
        config: Arc::clone(&config),
    });
    let http_server = http::serve(http_listener, http_state);
    tokio::select! {
        r = server => r.context("accepting PostgreSQL connections")?,
        r = http_server => r.context("serving HTTP")?,
        _ = shutdown_signal() => tracing::info!("shutting down"),
    }
    let e = Arc::clone(&engine);
    tokio::task::spawn_blocking(move || e.close()).await?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
