//! Strata's SQL layer: DataFusion over the storage engine.
//!
//! - [`session`]: [`QueryEngine`] (one per server: the catalog and planning state) and
//!   [`Session`] (one per connection: parameters, parse, prepare, execute).
//! - [`provider`] and [`exec`]: each table as a DataFusion `TableProvider` whose scan runs
//!   the storage scan with projection, limit, and time and tag filters pushed down
//!   ([`pushdown`]); `INSERT` writes through the engine.
//! - [`ddl`]: `CREATE TABLE` (with `DEFAULT`s, [`defaults`]; and `... AS`), `DROP TABLE`,
//!   `ALTER TABLE ... ADD COLUMN`; [`views`]:
//!   `CREATE VIEW`, `DROP VIEW`, stored views planned when queried.
//! - [`copy`]: `COPY` in text, CSV and binary formats.
//! - [`statements`]: statements DataFusion does not plan (`CALL strata.run_jobs()`,
//!   `DELETE` and erasure, cursors).
//! - [`catalog`]: the `public` and `system` schemas; `pg_catalog` comes from
//!   `datafusion-pg-catalog` (with tables [`pg_catalog`] replaces),
//!   [`information_schema`] wraps DataFusion's with Postgres
//!   type names; [`functions`] adds the Postgres functions clients call.
//! - [`arithmetic`]: integer `+ - *` that fail on overflow, as PostgreSQL's do;
//!   [`pgtime`]: timestamp text read as PostgreSQL reads it, in the session's `TimeZone`;
//!   [`pgvalue`]: PostgreSQL's text of `interval`, `time`, `bytea` and `uuid`, and the casts
//!   that use it; [`pgtext`]: the text results are sent in.
//! - [`rewrite`]: AST rewrites of Postgres syntax DataFusion does not plan.
//! - [`types`]: SQL types and how they are stored; [`table`]: the conversions.
//! - [`error`]: [`QueryError`] and the one mapping of every error to a SQLSTATE;
//!   [`resolve`]: why a statement failed to plan, told from the statement and the catalog.
//!
//! Invariants:
//! - A pushed-down predicate is evaluated exactly by the engine: results are the same with
//!   pushdown on or off (`SET strata.pushdown = off`), only the work differs.
//! - Every statement is durable when it completes (autocommit); nothing here buffers
//!   acknowledged rows.
//! - No blocking work on async threads: scans and writes run under `spawn_blocking`.

pub mod arithmetic;
pub mod catalog;
pub mod copy;
pub mod datestyle;
pub mod ddl;
pub mod defaults;
pub mod error;
pub mod exec;
pub mod functions;
pub mod information_schema;
pub mod keys;
pub mod limits;
pub mod names;
pub mod pg_catalog;
pub mod pgtext;
pub mod pgtime;
pub mod pgvalue;
pub mod provider;
pub mod pushdown;
pub mod resolve;
pub mod rewrite;
pub mod session;
pub mod settings;
pub mod statements;
pub mod table;
pub mod transaction;
pub mod types;
pub mod views;

pub use error::{QueryError, Result};
pub use session::{CommandTag, Output, Prepared, QueryEngine, Session};
pub use settings::Settings;
pub use table::TableDef;
pub use transaction::{CommitGate, TransactionStatus, Transactions};
pub use types::SqlType;
