//! Strata's own statements that DataFusion does not plan, one module per family.
//!
//! - [`call`]: `CALL strata.run_jobs()` and `CALL strata.run_job('kind')`.
//! - [`delete`]: `DELETE`, `TRUNCATE` and `ERASE SUBJECT`, each one storage erasure.
//! - [`cursor`]: `DECLARE ... CURSOR`, `FETCH`, `MOVE` and `CLOSE`.
//! - [`index`]: `CREATE INDEX` and `DROP INDEX`; [`comment`]: `COMMENT ON`.
//!
//! (DDL, COPY and SET/SHOW still live in `ddl`, `copy` and `session`; they move here as
//! their families grow.)

pub mod call;
pub mod comment;
pub mod cursor;
pub mod delete;
pub mod index;
