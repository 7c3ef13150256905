//! Strata's SQL layer.
//!
//! This crate will hold the DataFusion session, one `TableProvider` per Strata table over
//! the storage scan, the time-series functions, Strata's own statements, the `system.*`
//! tables and the `pg_catalog` subset that Postgres clients need (see `shared/DESIGN.md`,
//! "Query path"). It is empty until the server issue builds it; nothing depends on it yet.
