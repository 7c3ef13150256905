//! Storage errors. Every variant carries the data a caller needs to act on it; the server
//! maps each to one SQLSTATE.

use std::path::PathBuf;

use crate::schema::FieldType;

/// Errors of the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Wal(#[from] strata_wal::Error),
    #[error("io error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt file {file} at offset {offset}: {reason}")]
    Corruption {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{file} has format version {version}; this build reads {supported}")]
    UnsupportedVersion {
        file: PathBuf,
        version: u32,
        supported: u32,
    },
    #[error("corrupt wal record {lsn}: {reason}")]
    CorruptWalRecord { lsn: u64, reason: String },
    #[error("table {table:?} does not exist")]
    TableNotFound { table: String },
    #[error("table {table:?} already exists")]
    TableExists { table: String },
    #[error("relation {name:?} already exists")]
    RelationExists { name: String },
    #[error("view {view:?} does not exist")]
    ViewNotFound { view: String },
    #[error("index {index:?} does not exist")]
    IndexNotFound { index: String },
    /// Dropping an object another depends on, e.g. a key's index.
    #[error("cannot drop {name:?} because {dependent} requires it")]
    DependentObjects { name: String, dependent: String },
    #[error("{name:?} is not {expected}")]
    WrongObjectType {
        name: String,
        expected: &'static str,
    },
    #[error("table {table:?} has no column {column:?}")]
    ColumnNotFound { table: String, column: String },
    #[error("column {column:?} of table {table:?} already exists")]
    ColumnExists { table: String, column: String },
    #[error("column {column:?} of table {table:?} is {expected}, got {found}")]
    TypeMismatch {
        table: String,
        column: String,
        expected: FieldType,
        found: FieldType,
    },
    #[error(
        "time {ts} ns of a row for table {table:?} is out of range: the earliest time is {min} ns"
    )]
    TimeOutOfRange { table: String, ts: i64, min: i64 },
    #[error("row has {found} {what}, table {table:?} has {expected}")]
    ArityMismatch {
        table: String,
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("invalid schema for table {table:?}: {reason}")]
    InvalidSchema { table: String, reason: String },
    #[error("write buffer is full ({used} of {limit} bytes waiting to be flushed); retry shortly")]
    MemoryLimit { used: usize, limit: usize },
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("the engine is shut down")]
    Closed,
    #[error("cold store {url}: {reason}")]
    ColdStoreConfig { url: String, reason: String },
    #[error("cold store {url}: {op} of {key:?} failed: {source}")]
    ColdStore {
        op: &'static str,
        key: String,
        url: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("cold object {key:?}: {reason}")]
    ColdObject { key: String, reason: String },
    #[error("cannot delete from {table:?} by this condition: {reason}")]
    UnsupportedPredicate { table: String, reason: String },
    #[error("a DELETE from {table:?} by a condition on fields removes at most {limit} rows at once; narrow it by time or tags and repeat")]
    TooManyPoints { table: String, limit: usize },
    #[error("internal error: {reason}")]
    Internal { reason: String },
    #[error("parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True if retrying the same request later may succeed (back-pressure).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::MemoryLimit { .. })
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
